"""int8 ONNX check of the networks the ``byo`` experiment found (``reports/byo/onnx.md``).

For each strategy of the experiment, the nondominated set of its runs' final fronts (all seeds
together) gives two networks: its most accurate point and its smallest point (model bytes) of
at least ``--min-accuracy`` validation accuracy.  Each is retrained with its run's recipe and
seed (:func:`moo_nas.byo.retrain.retrain_point`, what ``moo-nas export-model`` does: the
evaluated weights come back, for ``dnas`` from its recomputed searched weights) and exported as
Q/DQ ONNX (:func:`moo_nas.byo.export.check_int8`): the table gives the fake-quantised accuracy
(torch, the search's dynamic activation scales) beside the onnxruntime accuracy (static scales
calibrated on 512 training images) on the test split, their gap and the file size.

    moo-nas compare experiments/byo.toml && python bench/byo_onnx.py
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from moo_nas.byo.export import Int8Check, check_int8
from moo_nas.byo.retrain import RetrainedPoint, retrain_point
from moo_nas.comparator import Comparison, feasible_points, nondominated
from moo_nas.errors import main_or_exit
from moo_nas.experiment import compare_experiment, load_experiment
from moo_nas.records import Evaluation
from moo_nas.report import made_with
from moo_nas.store import Store
from moo_nas.training import cpu_name

CALIBRATION = 512  # training images, as `moo-nas export-model --calibration` defaults to


@dataclass
class Picked:
    """A network chosen from a strategy's front, and why."""

    strategy: str
    why: str
    evaluation: Evaluation


def pick(cmp: Comparison, min_accuracy: float) -> list[Picked]:
    """Most accurate point and smallest point (model bytes) of at least ``min_accuracy`` of
    each strategy's nondominated set (seeds together)."""
    out: list[Picked] = []
    for strategy in cmp.strategies():
        runs = cmp.by_strategy(strategy)
        evals = [e for r in runs for e in r.front_evals]
        points, kept = feasible_points(evals, cmp.objectives)
        mask = nondominated(points)
        points, kept = points[mask], [e for e, m in zip(kept, mask) if m]
        names = [o.name for o in cmp.objectives]
        acc, size = names.index("val_accuracy"), names.index("model_bytes")
        chosen = [("most accurate", int(np.argmin(points[:, acc])))]
        good = np.flatnonzero(-points[:, acc] >= min_accuracy)
        if len(good):
            smallest = good[np.lexsort((points[good, acc], points[good, size]))[0]]
            chosen.append((f"smallest >= {min_accuracy:g}", int(smallest)))
        seen: set[str] = set()
        for why, i in chosen:
            if kept[i].genotype_key not in seen:
                seen.add(kept[i].genotype_key)
                out.append(Picked(strategy, why, kept[i]))
    return out


def formats(point: RetrainedPoint) -> str:
    """``int8 x5, fp32 x1``: formats of the weight layers."""
    n = Counter(op.weight_format for op in point.arch.ops if op.kind in ("conv", "linear"))
    return ", ".join(f"{f} x{c}" for f, c in sorted(n.items()))


def run_of(cmp: Comparison, run_id: int) -> str:
    r = next(r for r in cmp.runs if r.run.id == run_id)
    return f"seed {r.run.seed}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--experiment", default="experiments/byo.toml")
    ap.add_argument("--onnx-dir", default="runs/byo_onnx", help="where the ONNX files go")
    ap.add_argument("--out", default=None, help="report file (default: REPORT/onnx.md)")
    ap.add_argument("--min-accuracy", type=float, default=0.95,
                    help="validation accuracy of the second network picked per strategy")
    args = ap.parse_args()
    t0 = time.perf_counter()
    exp = load_experiment(args.experiment)
    store = Store(exp.store)
    cmp = compare_experiment(exp, store)
    picked = pick(cmp, args.min_accuracy)
    onnx_dir = Path(args.onnx_dir)
    onnx_dir.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[Picked, RetrainedPoint, Int8Check, int]] = []
    for p in picked:
        e = p.evaluation
        point = retrain_point(store, e.run_id, str(e.seq))
        task = point.task
        path = onnx_dir / f"{p.strategy}_run{e.run_id}_seq{e.seq}.onnx"
        chk = check_int8(point.arch, point.state_dict, path, task.x_train[:CALIBRATION],
                         task.x_test, task.y_test)
        rows.append((p, point, chk, path.stat().st_size))
        print(f"{p.strategy:7s} {p.why:16s} run {e.run_id} seq {e.seq}: {formats(point)}; "
              f"fake-quant {chk.fake_quant_accuracy:.4f}, ONNX {chk.onnx_accuracy:.4f}, "
              f"gap {chk.gap_points:.2f} pt, {path.stat().st_size} B", flush=True)
    wall = time.perf_counter() - t0
    out = Path(args.out) if args.out else Path(exp.report) / "onnx.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(args, exp.name, exp.store, cmp, rows, wall))
    print(f"wrote {out} ({wall:.0f} s)")


def render(args: argparse.Namespace, name: str, store: str, cmp: Comparison,
           rows: list[tuple[Picked, RetrainedPoint, Int8Check, int]], wall: float) -> str:
    cmd = "python bench/byo_onnx.py"
    if args.experiment != "experiments/byo.toml":
        cmd += f" --experiment {args.experiment}"
    if args.min_accuracy != 0.95:
        cmd += f" --min-accuracy {args.min_accuracy:g}"
    gaps = [c.gap_points for _, _, c, _ in rows]
    lines = [
        f"# int8 ONNX check of the `{name}` experiment's networks",
        "",
        f"Command: `{cmd}` ({made_with()}), after `moo-nas compare {args.experiment}`, which "
        f"fills the store `{store}`. Wall time {wall:.0f} s on {cpu_name().removeprefix('cpu:')} "
        "(2 shared cores, loaded by other jobs while this ran). `README.md` beside this file "
        "was written by that command on the same loaded machine: its search costs are process "
        "CPU time, which other jobs do not inflate; its wall time is.",
        "",
        "Per strategy, the nondominated set of its runs' final fronts (all seeds together) gives "
        "its most accurate network and its smallest network (model bytes) of at least "
        f"{args.min_accuracy:g} validation accuracy. Each is **retrained** with its run's recipe "
        "and seed (`moo_nas.byo.retrain.retrain_point`, as `moo-nas export-model` does: the "
        "evaluator's training again, so the evaluated weights come back; for a `dnas` point the "
        "strategy is replayed from the store and its ask repeated, which recomputes the searched "
        "weights the evaluator fine-tuned) and exported as ONNX with "
        "QuantizeLinear/DequantizeLinear pairs for its int8 layers "
        "(`moo_nas.byo.export.check_int8`, activation scales calibrated on "
        f"{CALIBRATION} training images).",
        "",
        "All accuracies are **measured** on digits: *searched* = the stored validation accuracy "
        "of the evaluation (torch, int8 emulated by dynamic fake quantisation); *retrained* = "
        "validation accuracy after the retraining here (equal to *searched* when the evaluated "
        "weights came back); *fake-quant* = test-split accuracy of the retrained network as the "
        "search evaluates it (torch); *ONNX* = test-split accuracy of the exported file in "
        "onnxruntime (CPU); gap = "
        "|fake-quant - ONNX| in points. model bytes: **analytic** (weights + biases at each "
        "layer's format). The ONNX file holds the weights as float32 initialisers and computes "
        "their per-channel scales in the graph (Abs, ReduceMax, Div before each weight's "
        "QuantizeLinear), so its size is not the int8 model's.",
        "",
        "| # | strategy | point | run | formats (weight layers) | model bytes | searched val acc "
        "| retrained val acc | fake-quant test acc | ONNX test acc | gap (points) | Q/DQ nodes "
        "| ONNX file (B) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, (p, point, chk, size) in enumerate(rows, 1):
        e = p.evaluation
        lines.append(
            f"| {i} | {p.strategy} | {p.why} | {run_of(cmp, e.run_id)}, seq {e.seq} | "
            f"{formats(point)} | {e.value('model_bytes'):.0f} | {e.value('val_accuracy'):.4f} | "
            f"{point.val_accuracy:.4f} | {chk.fake_quant_accuracy:.4f} | {chk.onnx_accuracy:.4f} "
            f"| {chk.gap_points:.2f} | {chk.qdq_nodes} | {size} |")
    if gaps:
        within = sum(g <= 1.0 for g in gaps)
        lines += ["", f"Gap within 1 point for {within} of {len(gaps)} networks; largest "
                      f"{max(gaps):.2f} points ({rows[0][2].samples} test images: one image is "
                      f"{100 / rows[0][2].samples:.2f} points)."]
    lines += ["", "Genotypes:", ""]
    for i, (p, point, _, _) in enumerate(rows, 1):
        lines.append(f"{i}. `{point.genotype}`")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main_or_exit(main, "byo_onnx.py")
