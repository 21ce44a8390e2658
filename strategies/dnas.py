"""``dnas``: mask-based differentiable NAS with the multi-complexity loss, as a strategy.

Each :meth:`DNAS.ask` runs the next point of a sweep over (memory target, energy strength)
pairs: the seed of the space is warmed up once (first ask), then for every point a copy is
searched under ``task + λ_E·energy + λ_M·hinge(memory - target)``, the masks are exported as a
genotype of the same space and its trained weights are handed to the engine's evaluator through
:meth:`DNAS.warm_start`, so the evaluator's recipe fine-tunes it and measures its objectives like
any other strategy's.  Search time (warm-up and searches) is spent inside ``ask``, which the
engine charges to the strategy, i.e. to the run's search cost, on the device clock training is
charged on (``device_clock = True``).  Deterministic for a seed.

The mask search leaves number formats at the seed's (the widest offered); ``export_format``
(e.g. ``"int8"``) writes one format into every format variable of the exported genotypes
instead, so the evaluator's fine-tuning is quantisation-aware training of the searched weights.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

import torch

from moo_nas.dnas.loss import LossConfig
from moo_nas.dnas.plan import make_plan
from moo_nas.dnas.search import PointResult, SearchConfig, run_point, warmup
from moo_nas.dnas.supernet import MaskedNet
from moo_nas.errors import UserError
from moo_nas.space import Genotype

from moo_nas.strategy import Observation, Problem, Strategy

DEFAULT_TARGETS = (0.75, 0.5, 0.25, 0.125, 0.0625)
DEFAULT_STRENGTHS = (0.0, 0.5)


class DNAS(Strategy):
    """Sweep of mask-based searches; one exported genotype per (target, strength) pair."""

    name = "dnas"
    description = "mask-based DNAS with multi-complexity loss (sweep of memory targets x energy strengths)"
    device_clock = True

    def __init__(self, problem: Problem, seed: int = 0, *,
                 targets: Sequence[float] = DEFAULT_TARGETS,
                 energy_strengths: Sequence[float] = DEFAULT_STRENGTHS,
                 memory_cost: str = "model_bytes", energy_cost: str = "macs",
                 memory_strength: float = 10.0, warmup_epochs: int = 4, search_epochs: int = 4,
                 mask_lr: float = 0.02, export_format: str | None = None):
        super().__init__(problem, seed)
        if problem.task is None or problem.recipe is None:
            raise UserError("strategy 'dnas' trains networks itself and needs the problem's task "
                            "and recipe; run it through the engine or give Problem(task=, recipe=).")
        if not targets or not energy_strengths:
            raise UserError("strategy 'dnas' needs at least one target and one energy strength.")
        for key, v, low in (("warmup_epochs", warmup_epochs, 0), ("search_epochs", search_epochs, 1)):
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise UserError(f"dnas option {key} must be an integer >= {low}, got {v!r}.")
        if not mask_lr > 0:
            raise UserError(f"dnas option mask_lr must be a positive number, got {mask_lr!r}.")
        self.format_variables = self._format_variables(export_format)
        self.export_format = export_format
        self.points = [LossConfig(memory_cost, float(t), float(memory_strength), energy_cost,
                                  float(s)) for t in targets for s in energy_strengths]
        self.config = SearchConfig(int(warmup_epochs), int(search_epochs), 0, float(mask_lr))
        self.index = 0
        self._warm: MaskedNet | None = None
        self._weights: dict[str, dict[str, torch.Tensor]] = {}
        self.results: list[PointResult] = []

    def _format_variables(self, fmt: str | None) -> tuple[str, ...]:
        """The format variables ``export_format`` is written into (none without it)."""
        if fmt is None:
            return ()
        choices = make_plan(self.space).formats
        offered = sorted({o for c in choices for o in c.options})
        if fmt not in offered:
            raise UserError(f"dnas option export_format={fmt!r} is not a format of space "
                            f"{self.space.name!r}; its format variables offer: "
                            f"{', '.join(offered) or 'none (give the space a formats option)'}.")
        return tuple(c.variable for c in choices if fmt in c.options)

    def _warmed(self) -> MaskedNet:
        if self._warm is None:
            self._warm = warmup(self.space, self.problem.task, self.problem.recipe,
                                self.config.warmup_epochs, self.seed,
                                self.config.aux_weight)
        return self._warm

    def ask(self, n: int) -> list[Genotype]:
        if self.finished():
            return []
        loss = self.points[self.index]
        config = replace(self.config, loss=loss)
        result = run_point(self._warmed(), self.problem.task, self.problem.recipe, config,
                           self.seed + 1000 * self.index)
        self.index += 1
        self.results.append(result)
        g = result.exported.genotype
        if self.format_variables:
            g = self.space.make({**g.to_dict(),
                                 **{v: self.export_format for v in self.format_variables}})
        self._weights[g.key] = result.exported.state_dict
        return [g]

    def replay_ask(self, n: int, stored: Sequence[Genotype]) -> list[Genotype]:
        """On resume the stored points are not searched again."""
        self.index += len(stored)
        return list(stored)

    def tell(self, observations: Sequence[Observation]) -> None:
        return None

    def finished(self) -> bool:
        return self.index >= len(self.points)

    def planned_evaluations(self) -> int:
        return len(self.points)

    def warm_start(self, genotype: Genotype) -> dict[str, Any] | None:
        return self._weights.get(genotype.key)

    def stats(self) -> dict[str, float]:
        if not self.results:
            return {}
        return {
            "dnas_points": float(len(self.results)),
            "dnas_targets_met": float(sum(r.memory <= r.memory_target + 1e-9 for r in self.results)),
            "dnas_search_seconds": float(sum(r.search_seconds for r in self.results)),
            "dnas_projection_steps": float(sum(r.pruned_by_projection for r in self.results)),
        }
