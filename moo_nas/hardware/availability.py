"""Registering metrics whose meter is missing on this machine.

A backend that needs hardware this machine lacks (a CUDA GPU, NVML's energy counter, a
readable RAPL counter) registers its metric names with a stand-in provider whose construction
raises :class:`~moo_nas.errors.UserError` saying what is missing — so asking for
``gpu_energy_mj`` on a laptop fails at once with that sentence, not with an unknown-name error,
and no value is ever invented.
"""

from __future__ import annotations

from typing import Any

from ..errors import UserError
from ..objectives import Candidate, MetricDef, MetricProvider, Value, register_provider


def register_unavailable(name: str, metrics: tuple[MetricDef, ...], reason: str) -> type[MetricProvider]:
    """Register provider ``name`` for ``metrics`` that refuses to be built, citing ``reason``
    (one sentence naming the fix)."""
    marked = tuple(MetricDef(m.name, m.unit, m.direction, m.stage,
                             f"{m.description} [unavailable here: {reason}]") for m in metrics)

    def __init__(self, **options: Any) -> None:
        names = ", ".join(m.name for m in metrics)
        raise UserError(f"{names} cannot be measured on this machine: {reason}")

    def compute(self, candidate: Candidate) -> dict[str, Value]:  # pragma: no cover
        raise AssertionError("unreachable: construction always fails")

    cls = type(f"Unavailable_{name.replace('-', '_')}", (MetricProvider,),
               {"name": name, "stage": metrics[0].stage, "metrics": marked,
                "__init__": __init__, "compute": compute,
                "__doc__": f"Stand-in for {name}: {reason}"})
    return register_provider(cls)
