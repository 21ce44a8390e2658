"""DNAS sweep on one task: memory targets x energy strengths, through the engine.

Runs the ``dnas`` strategy with :func:`moo_nas.engine.run_search` (the common evaluator
fine-tunes every exported network from its searched weights and measures its objectives), and
trains the seed with the same total number of epochs as one sweep point (warm-up + search +
fine-tune) as the reference.  Writes a markdown report with: every point (target, exported model
bytes, whether the target is met, MACs, modelled MCU energy/latency, accuracy), the accuracy and
energy range at each memory target, and the largest reduction vs the seed at <= 0.5 points of
validation-accuracy drop.

Example (what reports/dnas/README.md was made with)::

    python bench/dnas_sweep.py --task digits --threads 1 --out reports/dnas/digits-resnet8.md
    python bench/dnas_sweep.py --task fashion-mnist --train-size 2500 --val-size 1000 \
        --test-size 1000 --targets 0.5 0.25 --strengths 0 0.5 --warmup-epochs 4 \
        --search-epochs 3 --finetune-epochs 3 --threads 1 \
        --out reports/dnas/fashion-mnist-resnet8.md
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moo_nas import costs  # noqa: E402
from moo_nas.engine import Budget, run_search  # noqa: E402
from moo_nas.evaluator import Evaluator, EvaluatorSpec, needed_providers  # noqa: E402
from moo_nas.objectives import make_objective  # noqa: E402
from moo_nas.store import Store  # noqa: E402
from moo_nas.training import Recipe, host_device  # noqa: E402
from strategies.base import Problem  # noqa: E402

METRICS = ("val_accuracy", "test_accuracy", "model_bytes", "macs", "mcu_energy_mj", "mcu_latency_ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default="digits")
    ap.add_argument("--train-size", type=int)
    ap.add_argument("--val-size", type=int)
    ap.add_argument("--test-size", type=int)
    ap.add_argument("--space", default="resnet8")
    ap.add_argument("--targets", type=float, nargs="+", default=[0.75, 0.5, 0.25, 0.125, 0.0625])
    ap.add_argument("--strengths", type=float, nargs="+", default=[0.0, 0.5, 2.0])
    ap.add_argument("--energy-cost", default="mcu_energy_mj")
    ap.add_argument("--warmup-epochs", type=int, default=6)
    ap.add_argument("--search-epochs", type=int, default=6)
    ap.add_argument("--finetune-epochs", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--store", help="SQLite store (default: a temporary file)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    task_options = {k: v for k, v in (("train_size", args.train_size), ("val_size", args.val_size),
                                                    ("test_size", args.test_size))
                    if v is not None}
    objectives = tuple(make_objective(m) for m in ("val_accuracy", "model_bytes", "mcu_energy_mj"))
    extra = ("test_accuracy", "macs", "mcu_latency_ms")
    base = dict(batch_size=args.batch_size, lr=args.lr, threads=args.threads)
    ft_recipe = Recipe(epochs=args.finetune_epochs, **base)
    seed_epochs = args.warmup_epochs + args.search_epochs + args.finetune_epochs
    seed_recipe = Recipe(epochs=seed_epochs, **base)

    def evaluator(recipe: Recipe) -> Evaluator:
        return Evaluator(EvaluatorSpec(args.space, {}, args.task, task_options, recipe, objectives,
                                       needed_providers(objectives, extra), extra))

    ev = evaluator(ft_recipe)
    space, task = ev.space, ev.task
    problem = Problem(space, objectives, task, ft_recipe)
    options = {"targets": args.targets, "energy_strengths": args.strengths,
               "energy_cost": args.energy_cost, "warmup_epochs": args.warmup_epochs,
               "search_epochs": args.search_epochs}
    store_path = args.store or str(Path(tempfile.mkdtemp()) / "dnas.sqlite")
    t0 = time.perf_counter()
    seed_eval = evaluator(seed_recipe).evaluate(space.seed_genotype(), args.seed)
    seed_s = time.perf_counter() - t0
    with Store(store_path) as store:
        t0 = time.perf_counter()
        result = run_search(store, problem, ev, "dnas", options, args.seed,
                            Budget(evaluations=len(args.targets) * len(args.strengths)),
                            experiment=f"dnas-sweep-{args.task}")
        sweep_s = time.perf_counter() - t0
    seed = {m: seed_eval.values[m].value for m in METRICS}
    seed_bytes = float(costs.model_bytes(space.arch(space.seed_genotype())))
    points = [(t, s) for t in args.targets for s in args.strengths]
    rows = []
    for (target, strength), e in zip(points, result.evaluations):
        v = {m: e.values[m].value for m in METRICS}
        rows.append((target, strength, str(space.make(e.genotype)), v))

    lines = [f"## {args.task} ({len(task.y_train)} train / {len(task.y_val)} val / "
             f"{len(task.y_test)} test), seed `{args.space}`", "",
             f"Command: `python bench/dnas_sweep.py {' '.join(sys.argv[1:])}`", "",
             f"Measured on {host_device()}, {args.threads} thread(s), torch {torch.__version__}. "
             f"Sweep wall time {sweep_s:.0f} s (warm-up {args.warmup_epochs} + search "
             f"{args.search_epochs} epochs per point inside the strategy, fine-tune "
             f"{args.finetune_epochs} epochs by the evaluator); seed reference trained "
             f"{seed_epochs} epochs from scratch in {seed_s:.0f} s.", "",
             "Provenance: accuracy measured (validation / test split, seed "
             f"{args.seed}); model bytes and MACs modelled (moo_nas.costs, fp32); MCU energy and "
             "latency modelled (moo_nas.hardware.mcu, STM32H743 constants). Search energy "
             f"term: `{args.energy_cost}`; memory term: `model_bytes` hinge.", "",
             "| target | λ_E | model bytes (target) | ok | MACs | MCU energy mJ | MCU latency ms "
             "| val acc | test acc | genotype |",
             "|---|---|---|---|---|---|---|---|---|---|",
             f"| seed | - | {seed['model_bytes']:.0f} | - | {seed['macs']:.0f} | "
             f"{seed['mcu_energy_mj']:.4f} | {seed['mcu_latency_ms']:.3f} | {seed['val_accuracy']:.4f} "
             f"| {seed['test_accuracy']:.4f} | seed |"]
    met = 0
    for target, strength, g, v in rows:
        limit = target * seed_bytes
        ok = v["model_bytes"] <= limit + 1e-6
        met += ok
        lines.append(f"| {target:g} | {strength:g} | {v['model_bytes']:.0f} ({limit:.0f}) | "
                     f"{'yes' if ok else 'NO'} | {v['macs']:.0f} | {v['mcu_energy_mj']:.4f} | "
                     f"{v['mcu_latency_ms']:.3f} | {v['val_accuracy']:.4f} | "
                     f"{v['test_accuracy']:.4f} | `{g}` |")
    lines += ["", f"Memory target respected in {met} of {len(rows)} sweep points.", "",
              "Range at each memory target (over λ_E):", "",
              "| target | val acc min-max | MCU energy mJ min-max | energy span |", "|---|---|---|---|"]
    for target in args.targets:
        sel = [v for t, _, _, v in rows if t == target]
        accs = [v["val_accuracy"] for v in sel]
        ens = [v["mcu_energy_mj"] for v in sel]
        lines.append(f"| {target:g} | {min(accs):.4f}-{max(accs):.4f} | {min(ens):.4f}-{max(ens):.4f}"
                     f" | {max(ens) / min(ens):.2f}x |")
    good = [v for _, _, _, v in rows if v["val_accuracy"] >= seed["val_accuracy"] - 0.005]
    lines.append("")
    if good:
        best_e = min(good, key=lambda v: v["mcu_energy_mj"])
        best_m = min(good, key=lambda v: v["model_bytes"])
        lines.append(
            f"At <= 0.5 points validation-accuracy drop vs the seed ({len(good)} points): up to "
            f"{seed['mcu_energy_mj'] / best_e['mcu_energy_mj']:.2f}x less MCU energy "
            f"({seed['macs'] / best_e['macs']:.2f}x fewer MACs, val acc {best_e['val_accuracy']:.4f})"
            f" and up to {seed['model_bytes'] / best_m['model_bytes']:.2f}x fewer model bytes "
            f"(val acc {best_m['val_accuracy']:.4f}).")
    else:
        lines.append("No sweep point is within 0.5 points of the seed's validation accuracy.")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
