"""Objective normalisation, Chebyshev scalarisation and feasibility ranking.

Shared by the black-box strategies that turn a vector of objectives into one number
(``aging-evolution``, ``rl``, ``mobo``) or that rank candidates feasibility-first
(``spea2``, ``nsga3``).  Everything here works on minimisation-form objective vectors
(:attr:`moo_nas.strategy.Observation.f`) and constraint values (``g <= 0`` feasible).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from moo_nas.strategy import Observation, Problem

#: normalised objective values are clipped here (μNAS caps ``f / bound`` at 10)
CLIP = 10.0


def total_violation(problem: Problem, obs: Observation) -> float:
    """Sum of constraint violations, each divided by its bound's magnitude.

    0 for a feasible observation, ``inf`` for a failed one (nothing is known about it).
    An ``infeasible`` observation without a positive constraint value (a bound violated
    by a metric the strategy does not optimise) counts as violating by 1.
    """
    if obs.status == "failed" or obs.f is None:
        return float("inf")
    total = 0.0
    for obj, gi in zip(problem.constrained, np.asarray(obs.g, dtype=float)):
        if not np.isfinite(gi):
            return float("inf")
        if gi > 0:
            total += gi / max(abs(obj.bound or 0.0), 1e-12)
    if obs.status != "ok" and total == 0.0:
        total = 1.0
    return float(total)


class Normaliser:
    """Maps minimisation-form objective vectors to roughly ``[0, 1]`` per objective.

    A minimised objective with a positive bound is divided by its bound (μNAS: the bound
    is where the constraint starts to bite, so 1 means "at the limit").  Every other
    objective is scaled by the running range (min..max) of the finite values seen so far.
    Values are clipped to ``[-CLIP, CLIP]``.
    """

    def __init__(self, problem: Problem) -> None:
        m = problem.n_obj
        self.by_bound = np.array(
            [o.direction == "min" and o.bound is not None and o.bound > 0
             for o in problem.objectives], dtype=bool)
        self.bounds = np.array(
            [o.bound if b else 1.0 for o, b in zip(problem.objectives, self.by_bound)],
            dtype=float)
        self.lo = np.full(m, np.inf)
        self.hi = np.full(m, -np.inf)

    def update(self, f: np.ndarray | None) -> None:
        """Widen the running ranges with one objective vector (ignores None and non-finite)."""
        if f is None:
            return
        f = np.asarray(f, dtype=float)
        ok = np.isfinite(f) & (np.abs(f) < 1e11)
        self.lo[ok] = np.minimum(self.lo[ok], f[ok])
        self.hi[ok] = np.maximum(self.hi[ok], f[ok])

    def __call__(self, f: np.ndarray) -> np.ndarray:
        """Normalised copy of ``f`` (shape ``(m,)`` or ``(n, m)``); unknown ranges give 0."""
        f = np.asarray(f, dtype=float)
        lo = np.where(np.isfinite(self.lo), self.lo, 0.0)
        span = np.where(self.hi > self.lo, self.hi - self.lo, 1.0)
        z = np.where(self.by_bound, f / self.bounds, (f - lo) / span)
        z = np.where(np.isfinite(z), z, CLIP)
        return np.clip(z, -CLIP, CLIP)


def random_weights(rng: np.random.Generator, m: int) -> np.ndarray:
    """Weights drawn uniformly from the unit simplex (ParEGO-style, continuous)."""
    return rng.dirichlet(np.ones(m))


def chebyshev(z: np.ndarray, weights: np.ndarray, rho: float = 0.05) -> np.ndarray:
    """Augmented Chebyshev scalarisation ``max_i(w_i z_i) + rho * sum_i(w_i z_i)``.

    ``z`` has shape ``(m,)`` or ``(n, m)``; smaller is better.
    """
    wz = np.asarray(z, dtype=float) * weights
    return wz.max(axis=-1) + rho * wz.sum(axis=-1)


def feasibility_order(violations: Sequence[float], scores: Sequence[float]) -> np.ndarray:
    """Indices sorted feasibility-first: feasible ones by score, then the rest by violation.

    Ties keep the input order (stable sort), so the result is deterministic.
    """
    v = np.asarray(violations, dtype=float)
    s = np.asarray(scores, dtype=float)
    key_primary = np.where(v > 0, 1, 0)
    key_secondary = np.where(v > 0, v, s)
    key_secondary = np.where(np.isfinite(key_secondary), key_secondary, np.finfo(float).max)
    return np.lexsort((key_secondary, key_primary))
