"""DNAS sweep on one task: memory targets x energy strengths, through the engine.

Runs the ``dnas`` strategy with :func:`moo_nas.engine.run_search` (the common evaluator
fine-tunes every exported network from its searched weights and measures its objectives), and
trains the seed with the same total number of epochs as one sweep point (warm-up + search +
fine-tune) as the reference.  Writes a markdown report with: every point (target, exported model
bytes, whether the target is met, MACs, modelled MCU energy/latency, validation and test
accuracy, search and fine-tune seconds), the accuracy, energy and latency ranges at each memory
target, and the largest reduction vs the seed at <= 0.5 points of accuracy drop, judged on the
validation split and separately on the test split (or the closest point when none qualifies).

With ``--store`` the sweep resumes from the SQLite store (stored points are replayed, not
retrained) and the seed reference is kept in ``<store>.seed.json``, so running the same command
again after an interruption, or to rewrite the report, costs only what is missing.

Example (what reports/dnas/README.md was made with)::

    python bench/dnas_sweep.py --task digits --threads 1 --store runs/dnas/digits.sqlite \
        --out reports/dnas/digits-resnet8.md
    python bench/dnas_sweep.py --task fashion-mnist --train-size 15000 \
        --val-size 5000 --test-size 5000 --targets 0.75 0.5 0.25 --strengths 0 0.5 \
        --warmup-epochs 8 --search-epochs 6 --finetune-epochs 6 --threads 1 \
        --store runs/dnas/fm2.sqlite --out reports/dnas/fashion-mnist-resnet8.md
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from moo_nas import costs
from moo_nas.engine import Budget, run_search
from moo_nas.errors import main_or_exit
from moo_nas.evaluator import TrainingEvaluator, training_setup
from moo_nas.objectives import make_objective
from moo_nas.report import made_with
from moo_nas.store import Store
from moo_nas.training import Recipe, host_device

METRICS = ("val_accuracy", "test_accuracy", "model_bytes", "macs", "mcu_energy_mj", "mcu_latency_ms")


@dataclass(frozen=True)
class Point:
    """One sweep point as reported: its (target, λ_E), exported genotype, measured/modelled
    metrics, the search seconds charged to it and its fine-tune + measurement seconds."""

    target: float
    strength: float
    genotype: str
    values: dict[str, float]
    search_s: float
    finetune_s: float
    reused: bool = False


def _reduction(seed: dict[str, float], p: Point) -> str:
    v = p.values
    return (f"{seed['mcu_energy_mj'] / v['mcu_energy_mj']:.2f}x less MCU energy, "
            f"{seed['mcu_latency_ms'] / v['mcu_latency_ms']:.2f}x lower MCU latency, "
            f"{seed['macs'] / v['macs']:.2f}x fewer MACs, "
            f"{seed['model_bytes'] / v['model_bytes']:.2f}x fewer model bytes")


def _drops(seed: dict[str, float], p: Point) -> str:
    d = lambda s: 100 * (seed[f"{s}_accuracy"] - p.values[f"{s}_accuracy"])  # noqa: E731
    return (f"val {p.values['val_accuracy']:.4f} (drop {d('val'):.2f} pt), "
            f"test {p.values['test_accuracy']:.4f} (drop {d('test'):.2f} pt)")


def report_lines(rows: list[Point], seed: dict[str, float], seed_bytes: float,
                 targets: list[float], max_drop: float = 0.005) -> list[str]:
    """Markdown of a sweep: every point with its memory-target check, the ranges at each
    memory target, and the best reduction vs the seed within ``max_drop`` accuracy drop,
    judged on the validation split and, separately, on the test split."""
    lines = ["| target | λ_E | model bytes (limit) | ok | MACs | MCU energy mJ | MCU latency ms "
             "| val acc | test acc | search s | fine-tune s | genotype |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|",
             f"| seed | - | {seed['model_bytes']:.0f} | - | {seed['macs']:.0f} | "
             f"{seed['mcu_energy_mj']:.4f} | {seed['mcu_latency_ms']:.3f} | "
             f"{seed['val_accuracy']:.4f} | {seed['test_accuracy']:.4f} | - | - | seed |"]
    met = 0
    for p in rows:
        v, limit = p.values, p.target * seed_bytes
        ok = v["model_bytes"] <= limit + 1e-6
        met += ok
        lines.append(f"| {p.target:g} | {p.strength:g} | {v['model_bytes']:.0f} ({limit:.0f}) | "
                     f"{'yes' if ok else 'NO'} | {v['macs']:.0f} | {v['mcu_energy_mj']:.4f} | "
                     f"{v['mcu_latency_ms']:.3f} | {v['val_accuracy']:.4f} | "
                     f"{v['test_accuracy']:.4f} | {p.search_s:.0f} | "
                     f"{'reused' if p.reused else f'{p.finetune_s:.0f}'} | "
                     f"`{p.genotype}` |")
    lines += ["", "(fine-tune `reused`: the point exported a genotype already evaluated in this "
              "run, so the engine answered it from that evaluation.)", "",
              f"Memory target (exported model bytes <= target x seed bytes) respected in "
              f"{met} of {len(rows)} sweep points.", "",
              "Range at each memory target (over λ_E):", "",
              "| target | val acc min-max | test acc min-max | MCU energy mJ min-max | energy span "
              "| MCU latency ms min-max |", "|---|---|---|---|---|---|"]
    for target in targets:
        sel = [p.values for p in rows if p.target == target]
        rng = lambda k, f: f"{min(v[k] for v in sel):{f}}-{max(v[k] for v in sel):{f}}"  # noqa: E731
        ens = [v["mcu_energy_mj"] for v in sel]
        lines.append(f"| {target:g} | {rng('val_accuracy', '.4f')} | {rng('test_accuracy', '.4f')}"
                     f" | {rng('mcu_energy_mj', '.4f')} | {max(ens) / min(ens):.2f}x | "
                     f"{rng('mcu_latency_ms', '.3f')} |")
    lines.append("")
    for split in ("val", "test"):
        key = f"{split}_accuracy"
        good = [p for p in rows if p.values[key] >= seed[key] - max_drop - 1e-12]
        if good:
            best = min(good, key=lambda p: p.values["mcu_energy_mj"])
            lines.append(
                f"- At <= {100 * max_drop:g} points {split}-accuracy drop vs the seed "
                f"({len(good)} of {len(rows)} points qualify), the lowest-energy point "
                f"(target {best.target:g}, λ_E {best.strength:g}: {_drops(seed, best)}) has "
                f"{_reduction(seed, best)}.")
        else:
            near = max(rows, key=lambda p: p.values[key])
            lines.append(
                f"- No point is within {100 * max_drop:g} points of the seed's {split} accuracy; "
                f"closest: target {near.target:g}, λ_E {near.strength:g} ({_drops(seed, near)}), "
                f"with {_reduction(seed, near)}.")
    return lines


def _seed_reference(ev: TrainingEvaluator, args: argparse.Namespace, task_options: dict,
                    recipe: Recipe, store_path: str | None) -> tuple[dict[str, float], float]:
    """Metrics of the seed trained from scratch with ``recipe`` and the seconds it took.

    With a persistent ``--store`` the result is kept in ``<store>.seed.json`` under a key of
    everything it depends on, so a resumed sweep does not train the seed again."""
    key = json.dumps([args.space, args.task, task_options, recipe.to_json(), args.seed],
                     sort_keys=True)
    cache = Path(store_path + ".seed.json") if store_path else None
    known = json.loads(cache.read_text()) if cache is not None and cache.exists() else {}
    if key in known:
        return known[key]["metrics"], known[key]["seconds"]
    t0 = time.perf_counter()
    e = ev.evaluate(ev.space.seed_genotype(), args.seed)
    seconds = time.perf_counter() - t0
    metrics = {m: float(e.values[m].value) for m in METRICS}
    if cache is not None:
        known[key] = {"metrics": metrics, "seconds": seconds}
        cache.write_text(json.dumps(known, indent=1))
    return metrics, seconds


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

    def setup(recipe: Recipe):
        return training_setup(args.space, args.task, recipe, objectives,
                              task_options=task_options, extra_metrics=extra)

    problem, ev = setup(ft_recipe)
    space, task = ev.space, ev.task
    options = {"targets": args.targets, "energy_strengths": args.strengths,
               "energy_cost": args.energy_cost, "warmup_epochs": args.warmup_epochs,
               "search_epochs": args.search_epochs}
    store_path = args.store or str(Path(tempfile.mkdtemp()) / "dnas.sqlite")
    seed, seed_s = _seed_reference(setup(seed_recipe)[1], args, task_options, seed_recipe,
                                   store_path if args.store else None)
    with Store(store_path) as store:
        t0 = time.perf_counter()
        result = run_search(store, problem, ev, "dnas", options, args.seed,
                            Budget(evaluations=len(args.targets) * len(args.strengths)),
                            experiment=f"dnas-sweep-{args.task}")
        sweep_s = time.perf_counter() - t0
    seed_bytes = float(costs.model_bytes(space.arch(space.seed_genotype())))
    points = [(t, s) for t in args.targets for s in args.strengths]
    rows = [Point(t, s, str(space.make(e.genotype)), {m: e.values[m].value for m in METRICS},
                  e.strategy_s, e.train_s + e.measure_s, e.cached)
            for (t, s), e in zip(points, result.evaluations)]
    cost_s = sum(e.cost_s for e in result.evaluations)
    header = [f"## {args.task} ({len(task.y_train)} train / {len(task.y_val)} val / "
              f"{len(task.y_test)} test), seed `{args.space}`", "",
              f"Command: `python bench/dnas_sweep.py {' '.join(sys.argv[1:])}` ({made_with()}; "
              "from a fresh clone it trains the whole sweep, with `--store` a rerun replays the "
              "stored points)", "",
              f"Measured on {host_device()}, {args.threads} thread(s), torch {torch.__version__}. "
              f"Search cost recorded in the store for the whole sweep: {cost_s:.0f} s (warm-up "
              f"{args.warmup_epochs} epochs once, then per point search {args.search_epochs} epochs "
              f"inside the strategy and fine-tune {args.finetune_epochs} epochs by the common "
              f"evaluator); this session's wall time {sweep_s:.0f} s ({result.replayed} of "
              f"{len(rows)} points replayed from the store). Seed reference trained {seed_epochs} "
              f"epochs from scratch (= warm-up + search + fine-tune) in {seed_s:.0f} s.", "",
              "Provenance: accuracy measured (validation / test split, training seed "
              f"{args.seed}); model bytes and MACs modelled (moo_nas.costs, fp32); MCU energy and "
              "latency modelled (moo_nas.hardware.mcu, STM32H743 constants). Search energy "
              f"term: `{args.energy_cost}`; memory term: `model_bytes` hinge.", ""]
    lines = header + report_lines(rows, seed, seed_bytes, args.targets)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main_or_exit(main, "dnas_sweep.py")
