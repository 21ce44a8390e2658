"""Hardware commands: ``measure`` (one genotype, or a stored run's Pareto set, on a backend)
and ``calibrate`` (fit a fast latency / energy predictor from measured networks)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ..errors import UserError
from ..paths import check_output_file, check_store_path
from .args import key_values as _pairs, positive_int


def _space(args: argparse.Namespace):
    """The space from --space with --task, or with --input-shape / --classes (no data needed)."""
    from ..spaces import make_space

    options = _pairs(args.space_option, "--space-option")
    if args.input_shape:
        try:
            shape = tuple(int(s) for s in args.input_shape.split(","))
        except ValueError:
            raise UserError(f"--input-shape {args.input_shape!r} must be integers separated by commas, e.g. 3,32,32.") from None
        return make_space(args.space, shape, args.classes, **options)
    from ..data import load_task

    task = load_task(args.task, **_pairs(args.task_option, "--task-option"))
    return make_space(args.space, task.input_shape, task.num_classes, **options)


def _providers(args: argparse.Namespace) -> list:
    """The providers named by ``--provider`` (repeatable; default onnxruntime), each built once;
    ``--provider-option`` applies to a single provider."""
    from ..objectives import make_provider

    names = list(dict.fromkeys(args.provider or ["onnxruntime"]))
    if args.provider_option and len(names) > 1:
        raise UserError(f"--provider-option applies to one provider, but {len(names)} were given "
                        f"({', '.join(names)}); measure them one at a time.")
    return [make_provider(n, **_pairs(args.provider_option, "--provider-option")) for n in names]


def _provider(args: argparse.Namespace):
    providers = _providers(args)
    if len(providers) > 1:
        raise UserError("calibrate fits one provider's metric: give a single --provider.")
    return providers[0]


def _add_space_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--space", default="digits-cnn", help="search space (see `moo-nas spaces`)")
    p.add_argument("--space-option", action="append", metavar="KEY=VALUE",
                   help="space option (repeatable), e.g. formats=fp32,int8")
    p.add_argument("--task", default="digits", help="task giving the input shape and classes")
    p.add_argument("--task-option", action="append", metavar="KEY=VALUE",
                   help="task option (repeatable), e.g. path=/data/fmnist")
    p.add_argument("--input-shape", help="input shape instead of a task, e.g. 3,32,32")
    p.add_argument("--classes", type=int, default=10, help="number of classes with --input-shape")
    p.add_argument("--provider", action="append",
                   help="metric provider (repeatable with measure; default onnxruntime): onnxruntime, "
                        "host-torch, external, gpu-cuda, gpu-nvml, rapl, mcu, calibrated, analytic")
    p.add_argument("--provider-option", action="append", metavar="KEY=VALUE",
                   help="provider option, value as JSON, e.g. command='[\"python\",\"m.py\"]'")


def _candidates_from_store(args: argparse.Namespace):
    from ..comparator import feasible_points, nondominated, objectives_of
    from ..spaces import make_space
    from ..store import Store

    check_store_path(args.store, write=False)
    store = Store(args.store)
    try:
        run = store.run(args.run)
    except Exception:
        raise UserError(f"store {args.store} has no run {args.run}; list runs with `moo-nas show`.") from None
    cfg = run.space
    space = make_space(cfg["name"], cfg["input_shape"], cfg["num_classes"], **cfg.get("options", {}))
    points, evals = feasible_points(store.evaluations(run.id), objectives_of(run))
    mask = nondominated(points)  # empty for no points
    chosen = [e for e, keep in zip(evals, mask) if keep]
    if not chosen:
        raise UserError(f"run {args.run} has no feasible finished evaluation to measure.")
    return space, [space.make(e.genotype) for e in chosen]


def cmd_measure(args: argparse.Namespace) -> int:
    from ..objectives import Candidate

    if (args.genotype is None) == (args.store is None):
        raise UserError("give either --genotype JSON or --store PATH --run ID.")
    if args.store is not None:
        if args.run is None:
            raise UserError("--store needs --run ID (the run whose Pareto set to measure).")
        space, genotypes = _candidates_from_store(args)
    else:
        space = _space(args)
        text = args.genotype
        if text != "seed" and Path(text).is_file():
            text = Path(text).read_text()
        genotypes = [space.seed_genotype() if text == "seed" else space.from_json(text)]
    providers = _providers(args)
    rows = []
    for g in genotypes:
        arch = space.arch(g)
        cand = Candidate(space, g, arch)
        if any(p.stage != "arch" for p in providers):
            torch.manual_seed(0)
            cand.module = space.build(g)
        values = {}
        for provider in providers:
            values.update(provider.compute(cand))
        rows.append({"genotype": g.to_dict(), "arch_key": arch.fingerprint(),
                     "values": {k: v.to_json() for k, v in values.items()}})
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    sources = []
    for r in rows:
        print(" ".join(f"{k}={v}" for k, v in r["genotype"].items()))
        for name, v in r["values"].items():
            if v["source"] not in sources:
                sources.append(v["source"])
            print(f"  {name:>16} = {v['value']:.6g}  [{v['origin']}, source {sources.index(v['source']) + 1}]")
    for i, s in enumerate(sources, 1):
        print(f"source {i}: {s}")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from ..hardware.calibration import calibrate

    check_output_file(args.out, "--out", "calibration.json")  # before measuring anything
    space = _space(args)
    provider = _provider(args)
    metric = args.metric or provider.metrics[0].name
    res = calibrate(space, provider, metric, args.k, args.seed, args.test_fraction)
    res.model.save(args.out)
    print(f"{metric} on {space.name}: {len(res.train)} train / {len(res.test)} held-out networks")
    print(f"held-out MAPE {res.mape:.2f} %, R2 {res.r2:.3f}")
    print(f"measure {res.measure_seconds_per_net * 1e3:.1f} ms/net, predict "
          f"{res.predict_seconds_per_net * 1e3:.3f} ms/net, speed-up {res.speedup:.0f}x")
    print(f"measured by: {res.model.measured_by}")
    print(f"calibration written to {args.out} (use it with the calibrated provider: "
          f"latency={args.out} or energy={args.out})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``measure`` and ``calibrate`` to the ``moo-nas`` command."""
    p = subparsers.add_parser("measure", help="measure one genotype or a run's Pareto set on a hardware backend")
    _add_space_args(p)
    p.add_argument("--genotype", help="genotype JSON (or a file holding it, or 'seed')")
    p.add_argument("--store", help="results store (with --run: measure that run's Pareto set)")
    p.add_argument("--run", type=int, help="run id in the store")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_measure)

    p = subparsers.add_parser("calibrate", help="fit a fast latency/energy predictor from measured networks")
    _add_space_args(p)
    p.add_argument("--metric", help="metric of the provider to calibrate (default its first)")
    p.add_argument("-k", type=positive_int, default=40, help="networks to measure")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampled networks and split")
    p.add_argument("--test-fraction", type=float, default=0.25, help="share of networks held out")
    p.add_argument("--out", required=True, help="JSON file to write the calibration to")
    p.set_defaults(func=cmd_calibrate)
