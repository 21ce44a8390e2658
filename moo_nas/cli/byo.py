"""Bring-your-own-network commands: ``export-model`` and the ``--seed-model`` arguments.

:func:`add_seed_model_args` adds ``--seed-model`` / ``--input-shape`` to a parser and
:func:`seed_model_space` turns them into the ``traced`` space and its options (for ``search``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import UserError

SEED_MODEL_HELP = (
    "search a space derived from your own torch module: path/to/file.py:Name or "
    "package.module:Name (a class or a factory called with no arguments). IMPORTING IT RUNS "
    "YOUR CODE - that is the point; nothing else is imported from a path you did not name.")


def add_seed_model_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--seed-model`` and ``--input-shape`` to ``parser``."""
    parser.add_argument("--seed-model", metavar="FILE.py:NAME", help=SEED_MODEL_HELP)
    parser.add_argument("--input-shape", metavar="C,H,W",
                        help="input shape the seed model is written for: C,H,W for images, C,L "
                             "for time series (must match the task's inputs)")


def seed_model_space(args: argparse.Namespace) -> tuple[str | None, dict[str, Any]]:
    """``("traced", {"seed_model": ..., "input_shape": ...})`` from ``--seed-model`` /
    ``--input-shape``, or ``(None, {})`` when no seed model is given."""
    model = getattr(args, "seed_model", None)
    shape = getattr(args, "input_shape", None)
    if model is None:
        if shape is not None:
            raise UserError("--input-shape describes a --seed-model; give --seed-model too.")
        return None, {}
    from ..byo.load import parse_ref, parse_shape

    parse_ref(model)
    options: dict[str, Any] = {"seed_model": model}
    if shape is not None:
        options["input_shape"] = list(parse_shape(shape))
    return "traced", options


def cmd_export_model(args: argparse.Namespace) -> int:
    from ..byo.export import check_int8, export_float_onnx, plain_module
    from ..byo.retrain import retrain_point
    from ..formats import get_format
    from ..store import Store

    if not Path(args.store).exists():
        raise UserError(f"store {args.store} does not exist.")
    # the evaluator's training, same seed: same weights as the evaluation (for a strategy that
    # warm-started it, such as dnas, from the searched weights the strategy recomputes)
    point = retrain_point(Store(args.store), args.run, args.genotype)
    arch, state, task = point.arch, point.state_dict, point.task
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    ints = any(get_format(op.weight_format).kind == "int" for op in arch.ops)
    start = "from the strategy's searched weights, " if point.warm_started else ""
    print(f"genotype {point.genotype}; retrained {start}{point.epochs} epochs, seed {point.run.seed}: "
          f"val accuracy {point.val_accuracy:.4f} (measured, torch, formats emulated)")
    if ints and not args.float:
        chk = check_int8(arch, state, out, task.x_train[: args.calibration], task.x_test,
                         task.y_test)
        print(f"wrote {out} ({chk.qdq_nodes} Q/DQ nodes); test accuracy: fake-quantised "
              f"{chk.fake_quant_accuracy:.4f} (torch), ONNX {chk.onnx_accuracy:.4f} "
              f"(onnxruntime), gap {chk.gap_points:.2f} points on {chk.samples} images")
    else:
        export_float_onnx(arch, state, out)
        print(f"wrote {out} (float32)")
    if args.plain:
        plain = plain_module(arch, state)
        plain.to_folder(args.plain, "ExportedNet")
        print(f"wrote plain module to {args.plain}/ (module.py + state dict)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export-model", help="retrain one point of a run and export it as ONNX (int8 Q/DQ "
                             "when its formats are integer) and as a plain torch module",
        description="Pick any evaluation of a run (seq from `moo-nas show STORE --run R`, or a "
                    "genotype as JSON), retrain it with the run's recipe and seed (from the "
                    "strategy's searched weights, recomputed, when it warm-started the point, "
                    "as dnas does), and write "
                    "an ONNX file; integer formats become QuantizeLinear/DequantizeLinear "
                    "nodes and the onnxruntime accuracy is printed beside the fake-quantised "
                    "accuracy.")
    p.add_argument("store", help="SQLite store of the run")
    p.add_argument("--run", type=int, required=True, help="run id (see `moo-nas show STORE`)")
    p.add_argument("--genotype", required=True,
                   help="evaluation seq number of the run, or a genotype as JSON")
    p.add_argument("--out", required=True, help="ONNX file to write, e.g. model.onnx")
    p.add_argument("--plain", metavar="DIR", help="also write a plain torch module to DIR")
    p.add_argument("--float", action="store_true", help="float32 ONNX even for integer formats")
    p.add_argument("--calibration", type=int, default=512,
                   help="training inputs used to calibrate activation scales (default 512)")
    p.set_defaults(func=cmd_export_model)
