"""Metrics that exist only in tables, declared so that objectives may name them.

``train_time_s`` (recorded training time), the per-device metrics of HW-NAS-Bench
(``<device>_latency_ms``, ``<device>_energy_mj`` for its devices edgegpu, raspi4, edgetpu,
pixel3, eyeriss, fpga) and those of the shipped device tables (``help-nb201``: raspi4, pixel3,
1080ti_1, gold_6226) are declared on import; the columns of any other device table are declared
by :func:`declare_device_metrics` (called when an experiment names the table).  They cannot be computed for a network: asking the training
evaluator for them is a :class:`~moo_nas.errors.UserError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Sequence

from ..errors import UserError
from ..objectives import Candidate, MetricDef, MetricProvider, Value, register_provider

HW_NAS_BENCH_METRICS = (
    ("edgegpu", "latency"), ("edgegpu", "energy"), ("raspi4", "latency"),
    ("edgetpu", "latency"), ("pixel3", "latency"), ("eyeriss", "latency"),
    ("eyeriss", "energy"), ("fpga", "latency"), ("fpga", "energy"),
)
HW_UNITS = {"latency": ("latency_ms", "ms"), "energy": ("energy_mj", "mJ")}


class TableMetrics(MetricProvider):
    """Declares table-only metrics (see the module docstring)."""

    name = "table"
    stage = "arch"
    # a class variable that register_table_metric extends
    metrics: ClassVar[tuple[MetricDef, ...]] = (
        MetricDef("train_time_s", "s", "min", "trained",
                  "recorded training time of the architecture (table benchmarks)"),
    )

    def __init__(self, **options: Any) -> None:
        names = ", ".join(m.name for m in self.metrics)
        raise UserError(f"the metrics {names} are only recorded in tables; evaluate with "
                        "[evaluator] kind = \"table\" or choose other objectives.")

    def compute(self, candidate: Candidate) -> dict[str, Value]:  # pragma: no cover
        raise UserError("table metrics cannot be computed for a network.")


def hw_metric_name(device: str, kind: str) -> str:
    """Objective name of a device column: ``edgegpu`` + ``latency`` -> ``edgegpu_latency_ms``."""
    return f"{device}_{HW_UNITS[kind][0]}"


def register_table_metric(name: str, unit: str, description: str, stage: str = "arch",
                          direction: str = "min") -> None:
    """Declare a table-only metric; idempotent (existing names are kept)."""
    if any(m.name == name for m in TableMetrics.metrics):
        return
    TableMetrics.metrics = TableMetrics.metrics + (MetricDef(name, unit, direction, stage, description),)
    register_provider(TableMetrics)


def declare_device_metrics(tables: Sequence[str | Path]) -> list[str]:
    """Declare every column of the named device tables (files or shipped names) as an
    objective; returns their names.  Reads only the tables' descriptions."""
    from .devices import column_metadata

    names = []
    for t in tables:
        for c in column_metadata(t):
            direction = "max" if c["kind"] == "arithmetic_intensity" else "min"
            register_table_metric(c["metric"], c["unit"],
                                  f"{c['kind']} on {c['device']}, {c['origin']} ({c['source']}; lookup)",
                                  direction=direction)
            names.append(c["metric"])
    return names


register_provider(TableMetrics)
for _dev, _kind in HW_NAS_BENCH_METRICS:
    register_table_metric(hw_metric_name(_dev, _kind), HW_UNITS[_kind][1],
                          f"{_kind} on {_dev} from a HW-NAS-Bench-layout table (lookup)")
declare_device_metrics(["help-nb201"])
