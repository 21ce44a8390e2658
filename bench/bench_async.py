"""What each strategy loses, and gains, from asynchronous parallel workers on a table benchmark.

Runs (or resumes) a table-backed experiment with 1 worker and with N simulated workers (each
lookup lasts its recorded training time, results arrive in simulated finishing order; the N-worker
runs are filed as experiment NAME-wN in the same store), then writes, per strategy, the GPU-hours
and the simulated wall-clock hours to reach 95 % / 99 % of the true front's hypervolume, the
speed-up in wall-clock and the GPU-hours lost to asynchrony, with a Mann-Whitney U test of N
workers against 1 per strategy.

    python bench/bench_async.py --experiment experiments/nb201.toml --workers 4 --out reports/async
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

import numpy as np
from scipy.stats import mannwhitneyu

from moo_nas.errors import main_or_exit
from moo_nas.experiment import compare_experiment, load_experiment, run_experiment
from moo_nas.statistics import time_to_target
from moo_nas.store import Store

FRACTIONS = (0.95, 0.99)


def _times(cmp, strategy: str, axis: str, fraction: float) -> np.ndarray:
    out = []
    for r in cmp.by_strategy(strategy):
        x = r.curve_cost_hours if axis == "cost" else r.curve_clock_hours
        out.append(time_to_target(x, r.curve_fraction, fraction))
    return np.array(out, dtype=float)


def _paired(c1, cn, strategy: str, fraction: float) -> str:
    """Median over seeds of (wall-clock to target, 1 worker) / (the same, N workers) on the
    seeds whose runs reach the target with both, as ``ratio (seeds)``."""
    one = {r.run.seed: r for r in c1.by_strategy(strategy)}
    ratios = []
    for r in cn.by_strategy(strategy):
        if r.run.seed not in one:
            continue
        a = time_to_target(one[r.run.seed].curve_clock_hours, one[r.run.seed].curve_fraction, fraction)
        b = time_to_target(r.curve_clock_hours, r.curve_fraction, fraction)
        if np.isfinite(a) and np.isfinite(b) and b > 0:
            ratios.append(a / b)
    return f"{float(np.median(ratios)):.2f}x ({len(ratios)})" if ratios else "- (0)"


def _med(t: np.ndarray) -> str:
    reached = np.isfinite(t).sum()
    if reached * 2 < t.size:
        return f"never ({reached}/{t.size})"
    return f"{float(np.median(np.where(np.isfinite(t), t, np.inf))):.1f} ({reached}/{t.size})"


def _p(a: np.ndarray, b: np.ndarray) -> float:
    big = 1e300  # unreached = worst rank
    return float(mannwhitneyu(np.where(np.isfinite(a), a, big), np.where(np.isfinite(b), b, big),
                              alternative="two-sided").pvalue)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--experiment", default="experiments/nb201.toml")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--out", default="reports/async")
    ap.add_argument("--strategies", nargs="+", metavar="NAME",
                    help="only these strategies of the experiment (default: all); runs already in "
                         "the store are read, so the full command later computes only the rest")
    ap.add_argument("--no-run", action="store_true",
                    help="compute nothing: write the report from the runs the store holds (e.g. a copy "
                         "of the store without its unfinished runs; strategies with fewer runs than "
                         "seeds are named at the top)")
    ap.add_argument("--store", help="read (and run into) this store instead of the experiment's")
    args = ap.parse_args()
    t0 = time.perf_counter()
    one = load_experiment(args.experiment)
    many = load_experiment(args.experiment, {"workers": args.workers})
    many = many.renamed(f"{one.name}-w{args.workers}")
    if args.store:
        one.store = many.store = Path(args.store)
    if args.no_run and not Path(one.store).is_file():
        ap.error(f"--no-run reads a store, and {one.store} does not exist")
    if args.strategies:
        unknown = sorted(set(args.strategies) - {s.name for s in one.strategies})
        if unknown:
            ap.error(f"{unknown} not in {args.experiment}")
        one.strategies = [s for s in one.strategies if s.name in args.strategies]
        many.strategies = [s for s in many.strategies if s.name in args.strategies]
    if not args.no_run:
        run_experiment(one, progress=False, write=False)
        run_experiment(many, progress=False, write=False)
    wall = time.perf_counter() - t0
    with Store(one.store) as store:
        c1, cn = compare_experiment(one, store), compare_experiment(many, store)
    n = args.workers
    short = [f"{s} ({len(c1.by_strategy(s))} runs with 1 worker, {len(cn.by_strategy(s))} with {n})"
             for s in c1.strategies()
             if min(len(c1.by_strategy(s)), len(cn.by_strategy(s))) < len(one.seeds)]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    lines = [f"# Asynchronous workers on `{one.name}`: 1 against {n} simulated workers", "",
             f"Command: `python bench/bench_async.py --experiment {args.experiment} --workers {n} "
             f"--out {args.out}"
             + (f" --strategies {' '.join(args.strategies)}" if args.strategies else "")
             + f"` (commit {commit}; {wall:.0f} s wall on this machine, most of it "
             "resuming nothing when the store already holds the runs).", ""]
    if args.no_run:
        lines += [f"**Written with `--no-run` from the runs the store held** (store `{one.store}`): "
                  + ("fewer runs than seeds for " + "; ".join(short) + ". The command above computes "
                     "the missing ones." if short else "every strategy has all its seeds."), ""]
    lines += [
             f"Every run looks its cells up in the table; search cost is the recorded GPU training time "
             f"(GPU-hours); **wall-clock is simulated**: {n} workers, each evaluation occupying one for its "
             "recorded training time, results told to the strategy in simulated finishing order "
             "(asynchronous strategies: random, aging evolution and the model-based ones that condition "
             "on pending points; generational strategies run each generation's batch on the workers). "
             f"Targets: fractions of the true front's hypervolume ({c1.reference_label}). Medians over "
             f"{len(one.seeds)} seeds (runs reaching / runs); p: two-sided Mann-Whitney U, {n} workers "
             "against 1, per strategy (no correction: one test per strategy and target).  Paired "
             "speed-up: median over the seeds whose runs reach the target with 1 and with "
             f"{n} workers of the ratio of their wall-clock times (number of such seeds), so it "
             "exists also where fewer than half the runs reach the target.", ""]
    for f in FRACTIONS:
        pct = f"{100 * f:g} %"
        lines += [f"## To {pct} of the reference hypervolume", "",
                  f"| strategy | GPU-h, 1 worker | GPU-h, {n} workers | p (GPU-h) | wall-clock h, 1 worker | "
                  f"wall-clock h, {n} workers | wall-clock speed-up | paired speed-up | p (wall-clock) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for s in c1.strategies():
            if not cn.by_strategy(s):
                continue
            g1, gn = _times(c1, s, "cost", f), _times(cn, s, "cost", f)
            w1, wn = _times(c1, s, "clock", f), _times(cn, s, "clock", f)
            m1, mn = np.median(w1), np.median(wn)
            speed = f"{m1 / mn:.2f}x" if np.isfinite(m1) and np.isfinite(mn) and mn > 0 else "-"
            lines.append(f"| {s} | {_med(g1)} | {_med(gn)} | {_p(g1, gn):.3g} | {_med(w1)} | {_med(wn)} | "
                         f"{speed} | {_paired(c1, cn, s, f)} | {_p(w1, wn):.3g} |")
        lines.append("")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "README.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main_or_exit(main, "bench_async.py")
