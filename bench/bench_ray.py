"""Ray executor: speed-up of a 2-worker local Ray run over the local executor, and overhead.

Two measurements, side by side in one process, on this machine:

1. **Speed-up.**  The same search (strategy, seed, budget, recipe) on the embedded digits data,
   once with the local executor (one evaluation at a time, in this process) and once with a
   local Ray cluster of ``--workers`` CPUs (one CPU per evaluation).  Wall time of
   :func:`moo_nas.engine.run_search` each; the Ray cluster's start-up is timed separately and
   not included (it is paid once per session, not per search), worker warm-up (importing torch,
   loading the data in each worker) is reported apart: the Ray search runs twice, the first
   time with cold workers.  Every run must propose the same genotypes and store the same values
   (checked).  Local and warm-Ray runs alternate (``--repeats`` pairs); medians are reported.
2. **Overhead per evaluation.**  A table evaluator over a few real NAS-Bench-201 cells
   (recorded results, no training; needs the ``nb201`` extra), cycled through, called directly
   N times vs the same N evaluations through ``RayExecutor.map_unordered`` (one batch of N,
   and N batches of 1 as a batch-1 strategy would submit them), by
   :func:`moo_nas.executor_probe.executor_overhead`; the difference per evaluation is the
   executor's overhead.

Usage::

    python bench/bench_ray.py                      # prints the table; --write updates reports/ray/README.md
    python bench/bench_ray.py --evaluations 16 --epochs 2 --workers 2 --repeats 3 --write
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from moo_nas.engine import Budget, run_search
from moo_nas.errors import main_or_exit
from moo_nas.evaluator import training_setup
from moo_nas.executor_probe import executor_overhead, nb201_lookup
from moo_nas.executors import LocalExecutor
from moo_nas.objectives import make_objective
from moo_nas.registry import STRATEGIES
from moo_nas.store import Store
from moo_nas.training import Recipe

ROOT = Path(__file__).resolve().parents[1]
OBJS = (make_objective("val_accuracy"), make_objective("model_bytes"))


def _search(executor, strategy: str, options: dict, seed: int, n: int, recipe: Recipe, tmp: Path, tag: str):
    problem, ev = training_setup("digits-cnn", "digits", recipe, OBJS)
    with Store(tmp / f"{tag}.sqlite") as s:
        t0 = time.perf_counter()
        r = run_search(s, problem, ev, strategy, options, seed, Budget(evaluations=n), executor=executor)
        wall = time.perf_counter() - t0
    return wall, r.evaluations


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--strategy", default="random")
    ap.add_argument("--batch", type=int, default=2, help="random: batch option; nsga2: pop_size")
    ap.add_argument("--evaluations", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3, help="interleaved local/Ray pairs")
    ap.add_argument("--overhead-n", type=int, default=200)
    ap.add_argument("--overhead-cells", type=int, default=4,
                    help="NAS-Bench-201 cells the overhead probe cycles through")
    ap.add_argument("--write", action="store_true", help="write reports/ray/README.md")
    args = ap.parse_args(argv)
    for name in ("batch", "evaluations", "epochs", "workers", "repeats", "overhead_n", "overhead_cells"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    STRATEGIES.get(args.strategy)  # an unknown name: one sentence before Ray starts

    import ray

    from moo_nas.ray_executor import RayExecutor

    options = {"batch": args.batch} if args.strategy == "random" else {"pop_size": args.batch}
    recipe = Recipe(epochs=args.epochs)
    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="bench_ray_"))

    t0 = time.perf_counter()
    ex = RayExecutor(local_cpus=args.workers)
    t_start = time.perf_counter() - t0
    locals_, rays, tables = [], [], []
    try:
        t_cold, ev = _search(ex, args.strategy, options, args.seed, args.evaluations, recipe, tmp, "ray-cold")
        tables.append(ev)
        for r in range(args.repeats):  # interleaved pairs: both sides see the same background load
            t, ev = _search(LocalExecutor(), args.strategy, options, args.seed, args.evaluations, recipe,
                            tmp, f"local{r}")
            locals_.append(t)
            tables.append(ev)
            t, ev = _search(ex, args.strategy, options, args.seed, args.evaluations, recipe, tmp, f"ray{r}")
            rays.append(t)
            tables.append(ev)
        # few cells, cycled: the evaluator shipped with every batch stays small, as a training
        # evaluator is, so the probe times the executor rather than pickling a large table
        lookup, cells = nb201_lookup(args.overhead_cells, seed=args.seed)
        ov = executor_overhead(ex, lookup, [cells[i % len(cells)] for i in range(args.overhead_n)])
    finally:
        ex.close()
    assert not ray.is_initialized()
    rows = [[(x.genotype_key, x.values) for x in t] for t in tables]
    same = all(r == rows[0] for r in rows)
    ev_local = tables[1]
    t_local, t_ray = statistics.median(locals_), statistics.median(rays)
    ratios = [a / b for a, b in zip(locals_, rays)]
    load_after = os.getloadavg()
    train_local = sum(e.train_s for e in ev_local)

    cmd = "python bench/bench_ray.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [
        "# Ray executor: speed-up and overhead",
        "",
        f"Command: `{cmd.strip()}` (run from the repository root).",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
        f"Ray {ray.__version__}.  **The machine was shared with other developers' jobs during this run** "
        f"(load average {load_before[0]:.1f} before, {load_after[0]:.1f} after, on {os.cpu_count()} cores), so "
        "absolute times are inflated and vary with the other jobs; local and Ray runs alternate in one "
        "process so both sides see the same background, and the ratios are the numbers to read.",
        "",
        "## Speed-up of a 2-worker local Ray run (measured: wall time of run_search)",
        "",
        f"Search: strategy `{args.strategy}` {options}, seed {args.seed}, {args.evaluations} evaluations, "
        f"space digits-cnn, task digits (embedded), recipe {args.epochs} epochs (batch 32, 1 thread).",
        "",
        "| executor | wall s | s / evaluation |",
        "|---|---:|---:|",
        f"| local (in-process, sequential), median of {args.repeats} | {t_local:.1f} | "
        f"{t_local / args.evaluations:.2f} |",
        f"| ray, local cluster, {args.workers} CPUs, 1 CPU/evaluation, cold workers | {t_cold:.1f} | "
        f"{t_cold / args.evaluations:.2f} |",
        f"| ray, same cluster, warm workers, median of {args.repeats} | {t_ray:.1f} | "
        f"{t_ray / args.evaluations:.2f} |",
        "",
        f"**Speed-up: {statistics.median(ratios):.2f}x with warm workers** (median of the {args.repeats} "
        f"interleaved local/Ray pairs; per pair: {', '.join(f'{x:.2f}' for x in ratios)}); "
        f"**{t_local / t_cold:.2f}x for the first Ray run, including worker start-up** (local wall / "
        f"Ray wall; cold workers import torch and load the data first, the local run does so in a "
        f"process that already has them).  Ray cluster start-up "
        f"{t_start:.1f} s, not included.  Local runs (s): {', '.join(f'{x:.1f}' for x in locals_)}; "
        f"warm Ray runs (s): {', '.join(f'{x:.1f}' for x in rays)}.  Training time summed over one "
        f"local run: {train_local:.1f} s.  "
        f"Same genotypes and stored values in every run, local and Ray: {same}.",
        "",
        "## Executor overhead per evaluation (measured: NAS-Bench-201 table lookups)",
        "",
        f"{ov.n} evaluations cycling through {args.overhead_cells} NAS-Bench-201 CIFAR-10 cells "
        f"(drawn with seed {args.seed}) of a table evaluator holding their recorded rows (no "
        f"training; the evaluator shipped with each batch pickles to {ov.shipped_bytes / 1e3:.1f} "
        "kB), workers warm (`moo_nas.executor_probe.executor_overhead`).",
        "",
        "| how | ms / evaluation |",
        "|---|---:|",
        f"| direct call in the driver | {ov.direct_s * 1e3:.3f} |",
        f"| RayExecutor, one batch of {ov.n} | {ov.batch_s * 1e3:.2f} |",
        f"| RayExecutor, batches of 1 | {ov.single_s * 1e3:.2f} |",
        "",
        f"Overhead: {ov.batch_overhead_s * 1e3:.2f} ms per evaluation in a batch, "
        f"{ov.single_overhead_s * 1e3:.2f} ms for a lone one (ratio to the direct call: "
        f"{ov.batch_s / ov.direct_s:.0f}x and {ov.single_s / ov.direct_s:.0f}x).  "
        f"Against a training evaluation here ({t_local / args.evaluations:.2f} s each) that is "
        f"{100 * ov.single_overhead_s / (t_local / args.evaluations):.2f} %.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        out = ROOT / "reports" / "ray" / "README.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(f"wrote {out}")
    return 0 if same else 1


if __name__ == "__main__":
    main_or_exit(main, "bench_ray.py")
