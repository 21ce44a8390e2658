"""``spea2`` and ``nsga3``: DEAP's multi-objective selections in a generational ask/tell loop.

Genotypes travel as their integer encoding (:meth:`moo_nas.space.SearchSpace.encode`: one
option index per variable, ``0..upper_bounds()``).  Variation uses DEAP's operators on that
encoding: uniform crossover (``tools.cxUniform``) with probability ``crossover``, then
uniform integer mutation (``tools.mutUniformInt`` between 0 and each variable's upper bound)
with per-variable probability ``1/n`` by default.  A child equal to one already proposed is
varied again (up to 20 times), then mutated with the space's neighbour-aware mutation
(:meth:`moo_nas.seen.Seen.first_unseen`; children are canonical genotypes, so two encodings of
one network count as one).

Environmental selection runs DEAP's ``selSPEA2`` (strength Pareto archive truncation) or
``selNSGA3`` (non-dominated sorting + niching on ``uniform_reference_points``) on the whole
pool of parents + offspring from the first generation on, so each strategy acts as itself even
before anything is feasible.  Constraints enter through a penalised fitness: objectives are
min-max normalised over the pool's evaluated members to ``z`` in [0, 1] (SPEA2's density
estimate then does not depend on units); a feasible member's fitness is ``z``; an infeasible
one's is ``1.5 + (z + v / v_max) / 2`` in every entry (``v``: its normalised constraint
violation, ``v_max`` the pool's largest), so every feasible member dominates every infeasible
one, while among infeasible members objectives and violation trade off and the two selections
still differ (a pure violation order would make them pick the same survivors); failed
evaluations get 3, worse than all of these.  Without constraints this is plain normalised
selection.  Mating: binary tournaments (feasible beats infeasible,
smaller violation, then Pareto dominance, else a coin flip).

DEAP draws from the global ``random`` and ``numpy.random`` generators; every DEAP call runs
with both re-seeded from the strategy's own generator and restored afterwards, so proposals
depend only on the seed and the observations (single-threaded use; the engine calls
strategies from one thread).
"""

from __future__ import annotations

from abc import abstractmethod

import random
from contextlib import contextmanager
from math import comb
from typing import Iterator, Sequence

import numpy as np
from deap import base, tools

from moo_nas.errors import UserError
from moo_nas.seen import Seen
from moo_nas.space import Genotype

from moo_nas.strategy import Observation, Problem, Strategy
from .scalarisation import total_violation

_TRIES = 20


@contextmanager
def seeded_globals(seed: int) -> Iterator[None]:
    """Run a block with ``random`` and ``numpy.random`` seeded by ``seed``, then restore them."""
    py_state, np_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


class _Individual(list):
    """A DEAP individual: option indices plus ``fitness`` and the observation it came from."""

    fitness: base.Fitness
    obs: Observation | None = None


class _DeapMOEA(Strategy):
    """Generational GA over the integer encoding; subclasses choose DEAP's selection."""

    def __init__(self, problem: Problem, seed: int = 0, *, population: int = 40,
                 offspring: int | None = None, crossover: float = 0.9,
                 mutation_rate: float | None = None) -> None:
        super().__init__(problem, seed)
        offspring = population if offspring is None else offspring
        for name, v in (("population", population), ("offspring", offspring)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 2:
                raise UserError(f"{self.name} option {name} must be an integer >= 2, got {v!r}.")
        if not 0 <= crossover <= 1:
            raise UserError(f"{self.name} option crossover must be a probability, got {crossover!r}.")
        n_var = len(self.space.variables)
        self.mutation_rate = 1.0 / n_var if mutation_rate is None else float(mutation_rate)
        if not 0 < self.mutation_rate <= 1:
            raise UserError(f"{self.name} option mutation_rate must be in (0, 1], got {mutation_rate!r}.")
        self.mu, self.lam, self.cxpb = population, offspring, float(crossover)
        self.upper = [int(u) for u in self.space.upper_bounds()]
        self.fitness_cls = type("Fitness", (base.Fitness,), {"weights": (-1.0,) * problem.n_obj})
        self.parents: list[Observation] = []
        self.offspring: list[Observation] = []
        self.queue: list[Genotype] = []
        self.proposed = Seen(self.space)
        self.n_proposed = 0
        self.generations = 0

    # ------------------------------------------------------------------ to implement
    @abstractmethod
    def select(self, inds: list[_Individual], k: int) -> list[_Individual]:
        """DEAP's environmental selection of ``k`` of ``inds`` (minimisation fitness)."""

    # ------------------------------------------------------------------ ask / tell
    def batch_size(self) -> int:
        return self.lam if self.parents else self.mu

    def ask(self, n: int) -> list[Genotype]:
        out = []
        for _ in range(n):
            if not self.parents:
                g = self.proposed.sample_unseen(self.rng, _TRIES)
            else:
                if not self.queue:
                    self.queue = self._vary()
                g = self.queue.pop(0)
            self.proposed.add(g)
            self.n_proposed += 1
            out.append(g)
        return out

    def tell(self, observations: Sequence[Observation]) -> None:
        self.offspring.extend(observations)
        need = self.lam if self.parents else self.mu
        if len(self.offspring) >= need:
            self.parents = self.environmental_selection(self.parents + self.offspring)
            self.offspring = []
            self.queue = []
            self.generations += 1

    # ------------------------------------------------------------------ selection
    def fitness(self, members: Sequence[Observation]) -> np.ndarray:
        """Penalised minimisation fitness of each member (see the module docstring)."""
        viol = np.array([total_violation(self.problem, m) for m in members])
        done = np.isfinite(viol)
        out = np.zeros((len(members), self.problem.n_obj))
        if done.any():
            f = np.array([m.f for m, d in zip(members, done) if d], dtype=float)
            lo, hi = f.min(axis=0), f.max(axis=0)
            z = (f - lo) / np.where(hi > lo, hi - lo, 1.0)
            v = viol[done]
            bad = v > 0
            if bad.any():
                z[bad] = 1.5 + (z[bad] + (v[bad] / v[bad].max())[:, None]) / 2
            out[done] = z
        out[~done] = 3.0
        return out

    def _individuals(self, members: Sequence[Observation]) -> list[_Individual]:
        inds = []
        for m, row in zip(members, self.fitness(members)):
            ind = _Individual(int(i) for i in self.space.encode(m.genotype))
            ind.fitness = self.fitness_cls(tuple(float(v) for v in row))
            ind.obs = m
            inds.append(ind)
        return inds

    def environmental_selection(self, pool: Sequence[Observation]) -> list[Observation]:
        """``population`` survivors of ``pool`` by :meth:`select` on the penalised fitness."""
        if len(pool) <= self.mu:
            return list(pool)
        with seeded_globals(int(self.rng.integers(2**31))):
            chosen = self.select(self._individuals(pool), self.mu)
        return [ind.obs for ind in chosen]

    def _better(self, a: Observation, b: Observation) -> bool | None:
        va, vb = total_violation(self.problem, a), total_violation(self.problem, b)
        if va != vb:
            return va < vb
        if va == 0:
            fa, fb = np.asarray(a.f), np.asarray(b.f)
            if np.all(fa <= fb) and np.any(fa < fb):
                return True
            if np.all(fb <= fa) and np.any(fb < fa):
                return False
        return None

    def _tournament(self) -> Observation:
        i, j = self.rng.choice(len(self.parents), size=2, replace=len(self.parents) < 2)
        a, b = self.parents[int(i)], self.parents[int(j)]
        verdict = self._better(a, b)
        if verdict is None:
            verdict = bool(self.rng.random() < 0.5)
        return a if verdict else b

    # ------------------------------------------------------------------ variation
    def _vary(self) -> list[Genotype]:
        """One batch of ``offspring`` children by DEAP crossover + integer mutation."""
        children: list[Genotype] = []
        while len(children) < self.lam:
            p1, p2 = self._tournament(), self._tournament()
            pair = None
            for _ in range(_TRIES):
                c1 = _Individual(int(i) for i in self.space.encode(p1.genotype))
                c2 = _Individual(int(i) for i in self.space.encode(p2.genotype))
                with seeded_globals(int(self.rng.integers(2**31))):
                    if random.random() < self.cxpb:
                        tools.cxUniform(c1, c2, 0.5)
                    tools.mutUniformInt(c1, 0, self.upper, self.mutation_rate)
                    tools.mutUniformInt(c2, 0, self.upper, self.mutation_rate)
                pair = [self.space.decode(np.array(c)) for c in (c1, c2)]
                if any(g not in self.proposed for g in pair):
                    break
            for g in pair:
                if len(children) < self.lam:
                    children.append(self._fresh(g))
        return children

    def _fresh(self, g: Genotype) -> Genotype:
        g, _ = self.proposed.first_unseen(g, lambda h: self.space.mutate(h, self.rng), _TRIES,
                                          also={c.key for c in self.queue})
        self.proposed.add(g)
        return g

    def stats(self) -> dict[str, float]:
        return {"generations": float(self.generations)}


class SPEA2(_DeapMOEA):
    """SPEA2 environmental selection (DEAP ``selSPEA2``)."""

    name = "spea2"
    description = "SPEA2 (DEAP selSPEA2), integer crossover/mutation, constraint-domination fitness"

    def select(self, inds: list[_Individual], k: int) -> list[_Individual]:
        return tools.selSPEA2(inds, k)


class NSGA3(_DeapMOEA):
    """NSGA-III environmental selection (DEAP ``selNSGA3`` on uniform reference points).

    ``divisions`` is the number of divisions per objective of the reference simplex; by
    default the largest whose point count does not exceed the population.
    """

    name = "nsga3"
    description = "NSGA-III (DEAP selNSGA3, uniform reference points), constraint-domination fitness"

    def __init__(self, problem: Problem, seed: int = 0, *, population: int = 40,
                 offspring: int | None = None, crossover: float = 0.9,
                 mutation_rate: float | None = None, divisions: int | None = None) -> None:
        super().__init__(problem, seed, population=population, offspring=offspring,
                         crossover=crossover, mutation_rate=mutation_rate)
        m = problem.n_obj
        if divisions is None:
            divisions = 1
            while m > 1 and comb(divisions + 1 + m - 1, m - 1) <= population:
                divisions += 1
        if isinstance(divisions, bool) or not isinstance(divisions, int) or divisions < 1:
            raise UserError(f"nsga3 option divisions must be a positive integer, got {divisions!r}.")
        self.ref_points = tools.uniform_reference_points(m, divisions)

    def select(self, inds: list[_Individual], k: int) -> list[_Individual]:
        return tools.selNSGA3(inds, k, self.ref_points)
