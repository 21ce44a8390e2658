"""A cheap, real benchmark for the strategy tests: analytic costs of digits-cnn networks.

:class:`AnalyticEvaluator` evaluates a genotype by computing its analytic costs
(:class:`moo_nas.objectives.AnalyticProvider`, pure functions of the layer shapes) — no
training — so a whole search runs in a second.  The default problem maximises ``params`` (a
stand-in for capacity) while minimising ``macs``; the two conflict because the stride-2 block
makes later layers cheaper per parameter, so the space has a real Pareto front.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from moo_nas.evaluator import Evaluator, bound_violation
from moo_nas.records import Evaluation
from moo_nas.objectives import AnalyticProvider, Candidate, Objective
from moo_nas.space import Genotype, SearchSpace
from moo_nas.spaces import make_space
from moo_nas.strategy import Problem


class AnalyticEvaluator(Evaluator):
    """Evaluates genotypes by their analytic costs; ``fails`` marks genotypes whose
    evaluation raises (to exercise failed-evaluation handling)."""

    def __init__(self, space: SearchSpace, objectives: tuple[Objective, ...],
                 fails: Callable[[Genotype], bool] | None = None) -> None:
        self.space = space
        self.objectives = objectives
        self.fails = fails
        self.provider = AnalyticProvider()

    def config(self) -> dict[str, Any]:
        return {"type": "analytic", "space": self.space.config(),
                "fails": self.fails is not None}

    def evaluate(self, genotype: Genotype, seed: int, *, known: Any = None,
                 warm_start: Any = None) -> Evaluation:
        t0 = time.perf_counter()
        arch = self.space.arch(genotype)
        ev = Evaluation.of(genotype, "ok", device="cpu:analytic", arch_key=arch.fingerprint())
        if self.fails is not None and self.fails(genotype):
            ev.status, ev.error = "failed", "failure region of the test benchmark"
        else:
            ev.values = self.provider.compute(Candidate(self.space, genotype, arch))
            reason = bound_violation(self.objectives, ev.values)
            if reason:
                ev.status, ev.error = "infeasible", reason
        ev.measure_s = time.perf_counter() - t0
        ev.wall_s = ev.measure_s
        return ev


def digits_space() -> SearchSpace:
    return make_space("digits-cnn", (1, 8, 8), 10)


def make_problem(macs_bound: float | None = None, space: SearchSpace | None = None) -> Problem:
    """Maximise ``params``, minimise ``macs`` (optionally bounded) on ``space`` (digits-cnn by
    default)."""
    space = space or digits_space()
    objs = (Objective("params", "max"), Objective("macs", "min", macs_bound))
    return Problem(space, objs)
