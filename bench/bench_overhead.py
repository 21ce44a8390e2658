"""Framework overhead per evaluation on digits.

overhead_i = (engine wall time of evaluation i - evaluator wall time_i) / engine wall time_i

where the engine wall time of an evaluation is the time between two consecutive stored
evaluations of a random-search run (it includes the strategy's ask/tell, building the layer
description and the module, constraint checks, the store commit and bookkeeping), and the
evaluator wall time is the evaluation's own ``wall_s`` (training and measurement; wall clock on
both sides, since the search cost ``train_s`` is process CPU time).  Prints the median over the
run (target < 2 %).

With ``--workers N`` (N > 1) the run is asynchronous on N spawned local processes (random search
keeps N evaluations in flight, asking for one more as each finishes).  Then, per evaluation,

overhead_i = 1 - wall_s_i / (round trip_i + driver gap_i)

where the round trip runs from the submit to the result's arrival in the engine (pickling, the
process hop, queueing) and the driver gap from that arrival to the next submit (recording, tell,
ask): the fraction of a worker's cycle not spent evaluating.  Worker start-up (spawning, importing
torch) happens once and is reported apart, as the first evaluations' round trips.

    python bench/bench_overhead.py --evaluations 60
    python bench/bench_overhead.py --evaluations 60 --workers 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from moo_nas.engine import Budget, run_search
from moo_nas.errors import main_or_exit
from moo_nas.evaluator import training_setup
from moo_nas.executors import LocalExecutor
from moo_nas.objectives import make_objective
from moo_nas.registry import STRATEGIES
from moo_nas.store import Store
from moo_nas.training import Recipe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--evaluations", type=int, default=60)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--strategy", default="random")
    ap.add_argument("--workers", type=int, default=1, help="asynchronous local processes")
    args = ap.parse_args()
    for name in ("evaluations", "epochs", "workers"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be at least 1")
    STRATEGIES.get(args.strategy)  # an unknown name: one sentence before anything is trained
    if args.workers > 1:
        asynchronous(args)
        return
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


class _Stamped(LocalExecutor):
    """The local executor, stamping when each ticket is submitted and when its result arrives."""

    in_process = False  # every evaluation through submit / wait_any, so each is stamped

    def __init__(self, workers: int) -> None:
        super().__init__(workers)
        self.sent: dict[int, float] = {}
        self.got: dict[int, float] = {}
        self.order: list[int] = []

    def submit(self, fn, item, at=None):  # type: ignore[no-untyped-def]
        ticket = super().submit(fn, item, at)
        self.sent[ticket] = time.perf_counter()
        return ticket

    def wait_any(self):  # type: ignore[no-untyped-def]
        ticket, ev = super().wait_any()
        self.got[ticket] = time.perf_counter()
        self.order.append(ticket)
        return ticket, ev


def asynchronous(args: argparse.Namespace) -> None:
    objs = tuple(make_objective(n) for n in ("val_accuracy", "model_bytes", "peak_act_bytes", "latency_ms"))
    problem, ev = training_setup("digits-cnn", "digits", Recipe(epochs=args.epochs), objs)
    ex = _Stamped(args.workers)
    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d) / "bench.sqlite")
        t0 = time.perf_counter()
        try:
            r = run_search(store, problem, ev, args.strategy, {}, 0, Budget(evaluations=args.evaluations),
                           executor=ex)
        finally:
            ex.close()
        total = time.perf_counter() - t0
        evals = {e.seq: e for e in store.evaluations(r.run_id)}
        store.close()
    # tickets are numbered in submit order, as the engine numbers evaluations (seq) here: one
    # genotype per ask, none reused (random search without repeats)
    tickets = sorted(ex.sent)
    seqs = sorted(s for s, e in evals.items() if not e.cached)
    assert len(tickets) == len(seqs), (len(tickets), len(seqs))
    fractions, warm = [], []
    for i, (t, s) in enumerate(zip(tickets, seqs)):
        rt = ex.got[t] - ex.sent[t]
        later = [ex.sent[u] for u in tickets if ex.sent[u] >= ex.got[t]]
        gap = (min(later) - ex.got[t]) if later else 0.0
        if i < args.workers:  # the first evaluation of each worker includes its start-up
            warm.append(rt - evals[s].wall_s)
            continue
        fractions.append(1 - evals[s].wall_s / (rt + gap))
    work = sum(e.wall_s for e in evals.values() if not e.cached)
    print(f"asynchronous: {len(evals)} evaluations on {args.workers} spawned local workers, strategy "
          f"{args.strategy}, recipe {args.epochs} epochs, total wall {total:.1f} s")
    print(f"worker start-up (first evaluation of each worker, round trip - evaluation): "
          f"{', '.join(f'{w:.1f} s' for w in warm)}")
    print(f"median framework overhead per evaluation after start-up: "
          f"{100 * statistics.median(fractions):.2f} % (p90 "
          f"{100 * sorted(fractions)[int(0.9 * len(fractions))]:.2f} %)")
    print(f"whole-run: workers busy evaluating {100 * work / (args.workers * total):.1f} % of "
          f"{args.workers} x wall time (start-up and the last evaluations' tail included)")


if __name__ == "__main__":
    main_or_exit(main, "bench_overhead.py")
