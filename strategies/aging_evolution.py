"""``aging-evolution``: regularised (aging) evolution, multi-objective as in μNAS.

The population is a queue: every evaluated child joins at the back and the oldest member
leaves, so a genotype survives only as long as its descendants keep being good.  Until the
population is full, genotypes are sampled uniformly.  Afterwards each child is a mutation
(:meth:`moo_nas.space.SearchSpace.mutate`) of a parent chosen as follows:

1. draw a tournament sample of ``sample`` members without replacement;
2. draw fresh weights ``λ_i ~ U(0, 1)`` (redrawn at *every* selection, so successive parents
   favour different trade-offs and the population spreads along the front);
3. score each member by the randomised Chebyshev scalarisation
   ``max_i(min(z_i, 10) / λ_i)``, where ``z_i`` is objective ``i`` divided by its bound
   when it has one (μNAS) or scaled by the running range of observed values otherwise;
4. choose feasibility-first: the best-scoring feasible member, or, when the sample holds
   none, the one with the smallest normalised constraint violation (failed evaluations last).

Defaults are μNAS's (population 100, sample 25); for short budgets use smaller values.
Deterministic given the seed and the observations, so the engine resumes it by replay.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Sequence

import numpy as np

from moo_nas.errors import UserError
from moo_nas.seen import Seen
from moo_nas.space import Genotype

from moo_nas.strategy import Observation, Problem, Strategy
from .scalarisation import CLIP, Normaliser, feasibility_order, total_violation

_TRIES = 20  # attempts to find a genotype not proposed before


class AgingEvolution(Strategy):
    """Aging evolution with randomised-Chebyshev tournament selection (μNAS variant)."""

    name = "aging-evolution"
    #: asynchronous as in Real et al.: a child is bred from the population as it is when a
    #: worker is free, and joins it (the oldest member leaving) when its result arrives
    asynchronous = True
    description = "aging evolution, μNAS-style randomised Chebyshev tournament (population/sample)"

    def __init__(self, problem: Problem, seed: int = 0, *, population: int = 100,
                 sample: int = 25, batch: int = 1, mutation_rate: float | None = None) -> None:
        super().__init__(problem, seed)
        for name, v in (("population", population), ("sample", sample), ("batch", batch)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise UserError(f"aging-evolution option {name} must be a positive integer, got {v!r}.")
        if sample > population:
            raise UserError(f"aging-evolution sample ({sample}) must not exceed population "
                            f"({population}); lower sample or raise population.")
        if mutation_rate is not None and not 0 < mutation_rate <= 1:
            raise UserError(f"aging-evolution mutation_rate must be in (0, 1], got {mutation_rate!r}.")
        self.population_size = population
        self.sample_size = sample
        self.batch = batch
        self.mutation_rate = mutation_rate
        self.population: deque[Observation] = deque()
        self.norm = Normaliser(problem)
        self.proposed = Seen(self.space)
        self.n_proposed = 0
        self.n_duplicates = 0

    # ------------------------------------------------------------------ ask / tell
    def batch_size(self) -> int:
        return self.batch

    def ask(self, n: int) -> list[Genotype]:
        out = []
        for _ in range(n):
            if self.n_proposed < self.population_size or not self.population:
                g = self._unseen(lambda: self.space.sample(self.rng))
            else:
                parent = self.select()
                g = self._unseen(lambda: self.space.mutate(parent, self.rng, self.mutation_rate))
            self.n_proposed += 1
            out.append(g)
        return out

    def tell(self, observations: Sequence[Observation]) -> None:
        for obs in observations:
            if obs.status == "ok":
                self.norm.update(obs.f)
            self.population.append(obs)
            if len(self.population) > self.population_size:
                self.population.popleft()

    # ------------------------------------------------------------------ selection
    def scores(self, members: Sequence[Observation], lam: np.ndarray) -> np.ndarray:
        """Randomised Chebyshev score ``max_i(min(z_i, 10) / λ_i)`` of each member (lower
        is better); members without objective values score ``inf``."""
        out = np.full(len(members), np.inf)
        for j, obs in enumerate(members):
            if obs.f is not None:
                z = np.minimum(self.norm(obs.f), CLIP)
                out[j] = float(np.max(z / lam))
        return out

    def select(self) -> Genotype:
        """Tournament: sample members, redraw λ, return the feasibility-first best genotype."""
        pop = list(self.population)
        k = min(self.sample_size, len(pop))
        idx = self.rng.choice(len(pop), size=k, replace=False)
        members = [pop[int(i)] for i in idx]
        lam = np.maximum(self.rng.uniform(0.0, 1.0, self.problem.n_obj), 1e-6)
        scores = self.scores(members, lam)
        viol = [total_violation(self.problem, m) for m in members]
        best = int(feasibility_order(viol, scores)[0])
        return members[best].genotype

    def _unseen(self, make: Callable[[], Genotype]) -> Genotype:
        g, redraws = self.proposed.first_unseen(make(), lambda _: make(), _TRIES)
        self.n_duplicates += redraws
        self.proposed.add(g)
        return g

    def stats(self) -> dict[str, float]:
        return {"duplicate_draws_redrawn": float(self.n_duplicates)}
