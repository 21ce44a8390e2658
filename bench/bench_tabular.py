"""Table-backed search speed: evaluations per second through the engine (store writes included),
next to the bare table lookup, and the wall time of the NB201 experiment.

Every evaluation is written to SQLite; table lookups are committed in groups (at most 5000 rows
or 0.2 s, see ``moo_nas.run_writer.RunWriter``) because redoing a lost lookup costs nothing.
Each engine run uses its own, fresh evaluator (nothing looked up before) and store; the rate of
``--repeats`` runs (seeds 0, 1, ...) is given as median, best and worst per wall-clock second and
as median per CPU second of this process (a shared machine's speed drifts from run to run).

    python bench/bench_tabular.py                 # throughput (target >= 20,000 evaluations/s)
    python bench/bench_tabular.py --experiment    # + wall time of experiments/nb201.toml
                                                  #   (fresh temporary store and report)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from moo_nas.engine import Budget, run_search
from moo_nas.errors import main_or_exit
from moo_nas.objectives import make_objective
from moo_nas.store import Store
from moo_nas.strategy import Problem
from moo_nas.tabular import make_table_evaluator

ROOT = Path(__file__).resolve().parents[1]

TARGET = 20000.0  # issue 16


def throughput(n: int, strategy: str, repeats: int) -> None:
    objs = (make_objective("val_error"), make_objective("latency_ms"), make_objective("params"))
    t0 = time.perf_counter()
    space, ev = make_table_evaluator("nb201", {}, objs)
    print(f"NB201 CIFAR-10 table load: {time.perf_counter() - t0:.2f} s "
          f"({len(ev.table)} architectures, {ev.table.n_rows()} rows)")
    rng = np.random.default_rng(0)
    gs = [space.sample(rng) for _ in range(n)]
    t0 = time.perf_counter()
    for i, g in enumerate(gs):
        ev.evaluate(g, 0)
    lookup = n / (time.perf_counter() - t0)
    rates, cpu_rates = [], []
    for rep in range(repeats):
        space, ev = make_table_evaluator("nb201", {}, objs)  # fresh: no lookup done before
        with tempfile.TemporaryDirectory() as d:
            store = Store(Path(d) / "bench.sqlite")
            t0, c0 = time.perf_counter(), time.process_time()
            r = run_search(store, Problem(space, objs), ev, strategy, {}, rep, Budget(evaluations=n))
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            stored = len(store.evaluations(r.run_id))
            store.close()
        rates.append(stored / wall)
        cpu_rates.append(stored / cpu)
    rate = statistics.median(rates)
    print(f"bare TableEvaluator.evaluate: {lookup:,.0f} lookups/s")
    print(f"engine '{strategy}' + SQLite store, {stored} evaluations, {repeats} runs (seeds 0..{repeats - 1}, "
          f"fresh evaluator and store each): median {rate:,.0f} evaluations/s (target {TARGET:,.0f}/s, "
          f"ratio {rate / TARGET:.2f}), best {max(rates):,.0f}/s, worst {min(rates):,.0f}/s; per CPU "
          f"second of this process median {statistics.median(cpu_rates):,.0f}/s; "
          f"engine+store / bare lookup = {rate / lookup:.3f}")


def experiment_wall(path: Path) -> None:
    from moo_nas.experiment import load_experiment, run_experiment

    exp = load_experiment(path)
    with tempfile.TemporaryDirectory() as d:
        exp.store = Path(d) / "nb201.sqlite"
        exp.report = Path(d) / "report"
        t0 = time.perf_counter()
        run_experiment(exp, progress=False)
        wall = time.perf_counter() - t0
    runs = len(exp.strategies) * len(exp.seeds)
    print(f"{path.name}: {runs} runs x {exp.budget.evaluations} evaluations, jobs {exp.jobs}: "
          f"{wall:.1f} s wall (search + report)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--evaluations", type=int, nargs="+", default=[10000, 20000],
                   help="run lengths; NB201 has 15,625 cells, so 20,000 includes the slow tail "
                        "of sampling without repeats and then repeats")
    p.add_argument("--strategy", default="random")
    p.add_argument("--repeats", type=int, default=7,
                   help="engine runs per length (a shared machine's speed drifts and dips for "
                        "seconds at a time: median, best, worst)")
    p.add_argument("--experiment", action="store_true", help="also time experiments/nb201.toml")
    args = p.parse_args()
    if args.repeats < 1 or min(args.evaluations) < 1:
        p.error("--repeats and --evaluations must be at least 1")
    for n in args.evaluations:
        throughput(n, args.strategy, args.repeats)
    if args.experiment:
        experiment_wall(ROOT / "experiments" / "nb201.toml")


if __name__ == "__main__":
    main_or_exit(main, "bench_tabular.py")
