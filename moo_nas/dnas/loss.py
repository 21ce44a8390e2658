"""The multi-complexity loss of the DNAS and the cost functions it may use.

``loss = task + ramp · (λ_E · E / E_seed + λ_M · max(0, M / M_seed - target))``

``E`` (energy or latency, a regulariser) and ``M`` (memory, a constraint: a hinge above a
target given as a fraction of the seed's value) are cost functions of an
:class:`~moo_nas.arch.ArchSpec` taken from the same modules as the hardware objectives
(:mod:`moo_nas.costs`, :mod:`moo_nas.hardware.mcu`), evaluated on the masked network's
effective layer sizes; each is divided by its value for the seed, so the strengths do not
depend on the units.  ``ramp`` grows linearly from 1 % to 100 % over ``ramp_steps`` steps
(the schedule of the reference formulation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .. import costs
from ..arch import ArchSpec, Number
from ..errors import UserError

#: a cost of an architecture, differentiable in its (possibly tensor) channel counts
CostFn = Callable[[ArchSpec], Number]


def _mcu(kind: str) -> CostFn:
    def fn(arch: ArchSpec) -> Number:
        from ..hardware import mcu

        if kind == "latency":
            return mcu.latency_seconds(arch) * 1e3
        if kind == "energy":
            return mcu.energy_joules(arch) * 1e3
        if kind == "flash":
            return mcu.flash_bytes(arch)
        return mcu.ram_bytes(arch)

    fn.__name__ = f"mcu_{kind}"
    return fn


_MCU = {"mcu_latency_ms": ("latency", "moo_nas.hardware.mcu.latency_seconds (STM32H743)"),
        "mcu_energy_mj": ("energy", "moo_nas.hardware.mcu.energy_joules (STM32H743)"),
        "flash_bytes": ("flash", "moo_nas.hardware.mcu.flash_bytes"),
        "ram_bytes": ("ram", "moo_nas.hardware.mcu.ram_bytes")}

#: the MCU model's costs as DNAS cost functions (registered in :data:`moo_nas.registry.DNAS_COSTS`)
mcu_latency_ms, mcu_energy_mj = _mcu("latency"), _mcu("energy")
flash_bytes, ram_bytes = _mcu("flash"), _mcu("ram")

SOURCES = {**{name: c.source for name, c in costs.ANALYTIC_COSTS.items()},
           **{name: src for name, (_, src) in _MCU.items()}}


def cost_function(name: str) -> CostFn:
    """The cost function registered as ``name`` in :data:`moo_nas.registry.DNAS_COSTS` (cost
    names equal the metric names of the same quantities)."""
    from ..registry import DNAS_COSTS

    return DNAS_COSTS.get(name)


@dataclass(frozen=True)
class LossConfig:
    """Which costs feed the two complexity terms and how strongly.

    ``memory_target`` is a fraction of the seed's memory cost; ``energy_strength`` 0 turns
    the regulariser off.
    """

    memory_cost: str = "model_bytes"
    memory_target: float = 0.5
    memory_strength: float = 10.0
    energy_cost: str = "macs"
    energy_strength: float = 0.0
    ramp_steps: int = 0

    def __post_init__(self) -> None:
        cost_function(self.memory_cost)
        cost_function(self.energy_cost)
        if not 0 < self.memory_target <= 1:
            raise UserError(f"memory_target must be a fraction in (0, 1], got {self.memory_target!r}.")
        if self.memory_strength < 0 or self.energy_strength < 0:
            raise UserError("DNAS cost strengths must be non-negative.")


@dataclass
class LossTerms:
    """The last evaluated terms (normalised costs are fractions of the seed's)."""

    task: float
    memory: float
    energy: float
    penalty: float


class ComplexityLoss:
    """Adds the two complexity terms of :class:`LossConfig` to a task loss.

    ``seed_costs`` are the seed network's values of the memory and energy costs (the
    normalisers).  Call with the task loss, the current costs (torch scalars) and the step.
    """

    def __init__(self, config: LossConfig, seed_memory: float, seed_energy: float):
        self.config = config
        self.seed_memory = max(float(seed_memory), 1e-12)
        self.seed_energy = max(float(seed_energy), 1e-12)
        self.last: LossTerms | None = None

    @property
    def names(self) -> tuple[str, str]:
        return self.config.memory_cost, self.config.energy_cost

    def ramp(self, step: int) -> float:
        n = self.config.ramp_steps
        return 1.0 if n <= 0 else min(1.0, 0.01 + 0.99 * step / n)

    def __call__(self, task: torch.Tensor, memory: torch.Tensor, energy: torch.Tensor,
                 step: int) -> torch.Tensor:
        c = self.config
        mem = memory / self.seed_memory
        en = energy / self.seed_energy
        penalty = (c.memory_strength * torch.relu(mem - c.memory_target)
                   + c.energy_strength * en) * self.ramp(step)
        self.last = LossTerms(float(task.detach()), float(mem.detach()), float(en.detach()),
                              float(penalty.detach()))
        return task + penalty
