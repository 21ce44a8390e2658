"""Search strategies on digits at equal budget: hypervolume vs search cost, and overhead.

Each strategy runs ``--evaluations`` evaluations for each of ``--seeds`` seeds on the
digits-cnn space with real training (``--epochs`` epochs, one thread), objectives
``val_accuracy``, ``model_bytes <= 64 KiB`` and ``macs``, through the engine
(:func:`moo_nas.engine.run_search`) into one store (re-running the command resumes and
reuses it).  Every registered strategy that trains networks runs by default except
:data:`SLOW` (BoTorch qNEHVI / qNParEGO and Optuna's GP sampler, added with ``--strategies``).
The comparator normalises all runs together; this script adds two tables to the
standard report (:func:`moo_nas.report.write_report`, the writer of ``moo-nas compare``, with
its statistics over seeds):

* hypervolume at equal search cost: each run's HV-vs-cost curve read at 25 / 50 / 100 % of
  ``C``, the smallest median total cost of any strategy (so every strategy is judged on the
  same spend), mean ± std over seeds;
* strategy overhead: seconds inside ``ask``/``tell`` per proposal (the engine's ``strategy_s``)
  and their sum as a fraction of the evaluation time (training + measurement) of the same runs.

    python bench/bench_strategies.py --evaluations 30 --seeds 5 --epochs 3
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from moo_nas.comparator import compare
from moo_nas.engine import Budget, run_search
from moo_nas.errors import main_or_exit
from moo_nas.evaluator import training_setup
from moo_nas.objectives import make_objective
from moo_nas.report import strategy_curves, write_report
from moo_nas.statistics import summarize
from moo_nas.store import Store
from moo_nas.training import Recipe
from provenance import RunClock

#: settings sized for a budget of a few dozen evaluations (populations of 10)
STRATEGIES = {
    "random": {},
    "nsga2": {"pop_size": 10},
    "spea2": {"population": 10},
    "nsga3": {"population": 10},
    "aging-evolution": {"population": 10, "sample": 3},
    "rl": {"batch": 5},
    "mobo": {"initial": 10},
    "optuna-tpe": {"startup": 10},
    "qnehvi": {"initial": 10},  # BoTorch: only when the `bo` extra is installed
    "qnparego": {"initial": 10},
    "optuna-gp": {"startup": 10},
}
#: left out unless named with --strategies: their ask/tell takes seconds per proposal on a
#: 2-core host, longer than training the 3-epoch digits network it proposes
SLOW = ("qnehvi", "qnparego", "optuna-gp")
DEFAULT = [n for n in STRATEGIES if n not in SLOW]
EXPERIMENT = "bench-strategies"


def mean_std(xs) -> str:
    """``mean ± sample std`` (ddof 1; 0 for one value)."""
    s = summarize({"x": xs})["x"]
    return f"{s.mean:.4f} ± {s.std:.4f}"


def equal_cost_table(cmp, names: list[str]) -> tuple[list[str], float]:
    ends = {n: float(np.median([r.curve_cost_hours[-1] for r in cmp.by_strategy(n)])) for n in names}
    c = min(ends.values())
    grid = np.array([0.25, 0.5, 1.0]) * c
    lines = ["| strategy | HV @ 0.25 C | HV @ 0.5 C | HV @ C | median total cost [s] |",
             "|---|---|---|---|---|"]
    for n in names:
        curves = strategy_curves(cmp.by_strategy(n), grid)
        cells = " | ".join(mean_std(curves[:, j]) for j in range(len(grid)))
        lines.append(f"| {n} | {cells} | {ends[n] * 3600:.1f} |")
    return lines, c


def overhead_table(cmp, names: list[str]) -> list[str]:
    lines = ["| strategy | ask+tell per proposal [ms] (mean) | max [ms] | evaluation CPU time per proposal [s] | overhead / evaluation time |",
             "|---|---|---|---|---|"]
    for n in names:
        evs = [e for r in cmp.by_strategy(n) for e in r.evaluations]
        s = np.array([e.strategy_s for e in evs])
        work = np.array([e.train_s + e.measure_s for e in evs])
        lines.append(f"| {n} | {1e3 * s.mean():.2f} | {1e3 * s.max():.1f} | {work.mean():.3f} | "
                     f"{100 * s.sum() / max(work.sum(), 1e-12):.3f} % |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--evaluations", type=int, default=30)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--store", default="runs/bench_strategies.sqlite")
    ap.add_argument("--report", default="reports/strategies")
    ap.add_argument("--strategies", nargs="*", default=DEFAULT, choices=list(STRATEGIES),
                    help=f"default: all but {', '.join(SLOW)} (slow ask/tell; BoTorch ones need "
                         "the `bo` extra)")
    args = ap.parse_args()
    objs = (make_objective("val_accuracy"), make_objective("model_bytes", "64KiB"),
            make_objective("macs"))
    recipe = Recipe(epochs=args.epochs, threads=1)
    problem, evaluator = training_setup("digits-cnn", "digits", recipe, objs)
    budget = Budget(evaluations=args.evaluations)
    clock = RunClock()
    t0 = time.perf_counter()
    with Store(args.store) as store:
        run_ids = []
        for name in args.strategies:
            for seed in range(args.seeds):
                t = time.perf_counter()
                r = run_search(store, problem, evaluator, name, STRATEGIES[name], seed, budget,
                               experiment=EXPERIMENT)
                run_ids.append(r.run_id)
                fresh = sum(not e.cached for e in r.evaluations[r.replayed:])
                print(f"{name:16s} seed {seed}: {len(r.evaluations)} evaluations "
                      f"({fresh} trained now), {time.perf_counter() - t:.1f} s", file=sys.stderr)
        wall = time.perf_counter() - t0
        runs = [r for r in store.runs(EXPERIMENT) if r.id in run_ids]
        cmp = compare(store, runs)
    fresh_s = sum(e.train_s + e.measure_s for r in cmp.runs for e in r.evaluations if not e.cached)
    names = list(args.strategies)
    hv_lines, c = equal_cost_table(cmp, names)
    extra = ["", "## Hypervolume at equal search cost", "",
             f"C = {c * 3600:.1f} s of {cmp.cost_label} (smallest median total cost of any "
             "strategy); each run's HV-vs-cost curve read at the given cost, mean ± std over "
             f"{args.seeds} seeds.", "", *hv_lines,
             "", "## Strategy overhead", "",
             "Time inside ask/tell per proposal (engine-measured `strategy_s`, wall clock on this "
             "loaded host), and its sum over the runs as a fraction of their evaluation time "
             "(training + measurement in process CPU seconds, the search cost's unit; results "
             "reused from another run are charged their original time).  Wall clock on one side "
             "and CPU time on the other overstate the overhead when other jobs share the cores.", "",
             *overhead_table(cmp, names),
             "", "## Setup", "",
             f"Budget: {args.evaluations} evaluations x {args.seeds} seeds per strategy, recipe "
             f"{recipe.to_json()}; strategy options: "
             + "; ".join(f"{n} {STRATEGIES[n] or '{}'}" for n in names)
             + ("" if any(n in SLOW for n in names) else
                f". Not run here: {', '.join(SLOW)} (their ask/tell takes seconds per proposal on "
                "this host, longer than training the network they propose; name them with "
                "`--strategies` to add them)")
             + f". Compute actually spent on evaluations (not reused from another run): "
             f"{fresh_s / 60:.1f} min; wall time of the last invocation {wall:.0f} s (runs "
             "resumed from the store are not re-trained)."]
    header = clock.header() + [
        f"Runs already in the store `{args.store}` are read, not redone: from a fresh clone the "
        "command trains them all."]
    folder = write_report(cmp, args.report, "Search strategies on digits at equal budget", extra,
                          header=header)
    print((folder / "README.md").read_text())


if __name__ == "__main__":
    main_or_exit(main, "bench_strategies.py")
