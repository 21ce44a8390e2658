"""The cross-device study: one experiment, one search per device, one report.

An NB201 table experiment whose ``[evaluator]`` lists ``devices`` (with ``device_tables`` that
hold them) is a study.  Its objectives are the shared ones (e.g. ``val_error``) plus the metrics
of the *first* device (its latency, and energy where a table has it); every other device D is
searched as the sub-experiment ``NAME-D`` with D's metrics in their place, same strategies, seeds
and budget, in the same store.  ``moo-nas compare`` runs the first device's searches as the
experiment itself; writing its report (:func:`run_device_study`) runs or resumes the others, then
writes ``REPORT/<device>/`` (the usual experiment report per device) and ``REPORT/README.md``
with the true fronts, their Jaccard overlap, the transfer matrix next to its noise floor
(:mod:`.transfer`) and HV / ref per strategy and device with significance.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..errors import UserError
from ..objectives import Objective, make_objective
from .devices import KINDS
from .table import Table, TableEvaluator

if TYPE_CHECKING:
    from ..experiment import Experiment
    from ..store import Store

NOISE_SEEDS = (0, 1)  # recorded for every NB201 architecture (a third only for some)


def device_metrics(table: Table, device: str) -> list[str]:
    """The device's objective metrics present in ``table`` (latency, then energy)."""
    have = set(table.metric_names())
    return [f"{device}_{KINDS[k][1]}" for k in ("latency", "energy")
            if f"{device}_{KINDS[k][1]}" in have]


def check_study_objectives(table: Table, devices: Any, objectives: Sequence[Objective]) -> None:
    """Refuse a study whose devices are not in the table or whose objectives are not the
    shared ones plus exactly the first device's metrics."""
    if not isinstance(devices, list) or len(devices) < 2 or not all(isinstance(d, str) for d in devices):
        raise UserError("devices must list at least two device names, e.g. [\"raspi4\", \"pixel3\"].")
    missing = [d for d in devices if not device_metrics(table, d)]
    if missing:
        raise UserError(f"no device table holds {missing}; add the table to device_tables "
                        "(see 'moo-nas devices list TABLE').")
    all_dev = {m for d in devices for m in device_metrics(table, d)}
    given = [o.name for o in objectives if o.name in all_dev]
    if given != device_metrics(table, devices[0]):
        raise UserError(f"a device study's objectives are the shared ones plus the first device's "
                        f"metrics {device_metrics(table, devices[0])}; the others are swapped in "
                        f"per device, so list exactly those (found {given}).")


def device_experiment(exp: "Experiment", table: Table, device: str) -> "Experiment":
    """The sub-experiment of one device (the experiment itself for the first device)."""
    devices = exp.evaluator["devices"]
    all_dev = {m for d in devices for m in device_metrics(table, d)}
    shared = [o for o in exp.objectives if o.name not in all_dev]
    objs = tuple(shared) + tuple(make_objective(m) for m in device_metrics(table, device))
    evaluator = {k: v for k, v in exp.evaluator.items() if k != "devices"}
    name = exp.name if device == devices[0] else f"{exp.name}-{device}"
    return replace(exp, name=name, objectives=objs, evaluator=evaluator,
                   report=Path(exp.report) / device)


def run_device_study(exp: "Experiment", store: "Store", wall_seconds: float | None = None,
                     write: bool = True, progress: bool = True) -> Path:
    """Run (or resume) every device's searches after the first's (called by
    :func:`moo_nas.experiment.run_experiment` once the first device's are done), then write the
    study report (unless ``write`` is False)."""
    from ..experiment import compare_experiment, run_experiment, write_experiment_report
    from . import nb201
    from .study_report import write_study_report
    from .transfer import analyse

    t0 = time.perf_counter()
    evaluator = exp.built()[1]
    if not isinstance(evaluator, TableEvaluator):
        raise UserError("a device study needs [evaluator] kind = \"table\".")
    table = evaluator.table
    subs = {d: device_experiment(exp, table, d) for d in exp.evaluator["devices"]}
    for d, sub in list(subs.items())[1:]:
        run_experiment(sub, progress=progress, write=False)
    if not write:
        return Path(exp.report)
    search_s = (wall_seconds or 0.0) + time.perf_counter() - t0
    comparisons = {}
    for d, sub in subs.items():
        write_experiment_report(sub, store)
        comparisons[d] = compare_experiment(sub, store)
    ev = exp.evaluator
    seeded = nb201.load_table(ev.get("dataset", "cifar10"), None, _tables(exp), "per-seed",
                              bool(ev.get("drop_disconnected", False)))
    mean = seeded.mean_over_seeds()
    study = analyse(mean, {s: seeded.seed_view(s) for s in NOISE_SEEDS},
                    {d: sub.objectives for d, sub in subs.items()})
    excluded = sum(1 for k in seeded.keys() if seeded.rows(k)[0].status != "ok")
    return write_study_report(exp, study, comparisons, excluded, search_s,
                              time.perf_counter() - t0 + (wall_seconds or 0.0))


def _tables(exp: "Experiment") -> list[str]:
    from .devices import SHIPPED

    t = exp.evaluator.get("device_tables", [])
    t = [t] if isinstance(t, str) else list(t)
    return [x if x in SHIPPED else str(Path(x).resolve()) for x in t]
