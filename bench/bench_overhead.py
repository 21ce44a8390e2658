"""Framework overhead per evaluation on digits.

overhead_i = (engine wall time of evaluation i - evaluator wall time_i) / engine wall time_i

where the engine wall time of an evaluation is the time between two consecutive stored
evaluations of a random-search run (it includes the strategy's ask/tell, building the layer
description and the module, constraint checks, the store commit and bookkeeping), and the
evaluator wall time is the evaluation's own ``wall_s`` (training and measurement; wall clock on
both sides, since the search cost ``train_s`` is process CPU time).  Prints the median over the
run (target < 2 %).

    python bench/bench_overhead.py --evaluations 60
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from moo_nas.engine import Budget, run_search
from moo_nas.evaluator import training_setup
from moo_nas.objectives import make_objective
from moo_nas.store import Store
from moo_nas.training import Recipe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--evaluations", type=int, default=60)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--strategy", default="random")
    args = ap.parse_args()
    objs = tuple(make_objective(n) for n in ("val_accuracy", "model_bytes", "peak_act_bytes", "latency_ms"))
    problem, ev = training_setup("digits-cnn", "digits", Recipe(epochs=args.epochs), objs)
    ev.evaluate(ev.space.seed_genotype(), 0)  # warm caches (data, first torch calls) outside the timing
    stamps: list[float] = []
    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d) / "bench.sqlite")
        t0 = time.perf_counter()
        stamps.append(t0)
        r = run_search(store, problem, ev, args.strategy, {}, 0, Budget(evaluations=args.evaluations),
                       progress=lambda k: stamps.append(time.perf_counter()))
        total = time.perf_counter() - t0
        evals = store.evaluations(r.run_id)
        store.close()
    fractions = []
    for i, e in enumerate(evals):
        wall = stamps[i + 1] - stamps[i]
        if e.cached:
            continue
        fractions.append((wall - e.wall_s) / wall)
    work = sum(e.wall_s for e in evals if not e.cached)
    print(f"evaluations: {len(evals)} ({len(fractions)} not cached), strategy {args.strategy}, "
          f"recipe {args.epochs} epochs, total wall {total:.1f} s")
    print(f"median framework overhead per evaluation: {100 * statistics.median(fractions):.2f} % "
          f"(p90 {100 * sorted(fractions)[int(0.9 * len(fractions))]:.2f} %)")
    print(f"whole-run overhead: {100 * (total - work) / total:.2f} % of wall time")


if __name__ == "__main__":
    main()
