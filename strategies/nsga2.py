"""``nsga2``: pymoo's NSGA-II through its ask-and-tell interface on the integer encoding.

Variables are option indices (``space.encode``); offspring come from SBX crossover and
polynomial mutation with rounding repair (pymoo's recipe for integer variables); every
vector is then made canonical (inactive variables at index 0, see
:meth:`moo_nas.space.SearchSpace.canonical_encoding`), so duplicate elimination compares
networks, not encodings.  Bounded objectives become pymoo inequality constraints ``G <= 0``.
Offspring that duplicate the population, each other, or *any genotype evaluated before in the
run* are eliminated.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2 as PymooNSGA2
from pymoo.core.duplicate import DefaultDuplicateElimination
from pymoo.core.evaluator import Evaluator as PymooEvaluator
from pymoo.core.population import Population
from pymoo.core.problem import Problem as PymooProblem
from pymoo.core.repair import Repair
from pymoo.core.termination import NoTermination
from pymoo.operators.crossover.sbx import SBX
from pymoo.operators.mutation.pm import PM
from pymoo.operators.repair.rounding import RoundingRepair
from pymoo.operators.sampling.rnd import IntegerRandomSampling
from pymoo.problems.static import StaticProblem

from moo_nas.seen import Seen
from moo_nas.space import Genotype, SearchSpace

from moo_nas.strategy import Observation, Problem, Strategy, worst_fill


class _HistoryDuplicates(DefaultDuplicateElimination):
    """pymoo duplicate elimination that also rejects previously evaluated vectors."""

    def __init__(self, history: set[tuple[int, ...]]):
        super().__init__()
        self.history = history

    def _do(self, pop, other, is_duplicate):
        is_duplicate = super()._do(pop, other, is_duplicate)
        if other is None and self.history:
            X = np.rint(pop.get("X")).astype(int)
            for i, x in enumerate(X):
                if tuple(x) in self.history:
                    is_duplicate[i] = True
        return is_duplicate


class _Canonical(Repair):
    """pymoo repair: option-index vectors made canonical (used for spaces with conditions)."""

    def __init__(self, space: SearchSpace):
        super().__init__()
        self.space = space

    def _do(self, problem, X, **kwargs):
        return self.space.canonical_encoding(np.rint(X).astype(np.int64)).astype(X.dtype)


class NSGA2(Strategy):
    """NSGA-II (Deb et al. 2002) via pymoo; ``pop_size`` individuals, as many offspring."""

    name = "nsga2"
    description = "NSGA-II (pymoo ask/tell), integer encoding, constraints as G<=0"

    def __init__(self, problem: Problem, seed: int = 0, *, pop_size: int = 10,
                 crossover_prob: float = 0.9, crossover_eta: float = 15.0,
                 mutation_eta: float = 20.0):
        super().__init__(problem, seed)
        self.pop_size = int(pop_size)
        if self.pop_size < 1:
            raise ValueError(f"pop_size must be at least 1, got {pop_size!r}")
        if not 0 <= crossover_prob <= 1:
            raise ValueError(f"crossover_prob must be a probability in [0, 1], got {crossover_prob!r}")
        if not (crossover_eta > 0 and mutation_eta > 0):
            raise ValueError("crossover_eta and mutation_eta must be positive numbers")
        space = problem.space
        self._history: set[tuple[int, ...]] = set()
        self._seen = Seen(space)
        self._pproblem = PymooProblem(
            n_var=len(space.variables), n_obj=problem.n_obj,
            n_ieq_constr=len(problem.constrained), xl=np.zeros(len(space.variables)),
            xu=space.upper_bounds().astype(float), vtype=int)
        self._algo = PymooNSGA2(
            pop_size=self.pop_size,
            sampling=IntegerRandomSampling(),
            crossover=SBX(prob=crossover_prob, eta=crossover_eta, vtype=float, repair=RoundingRepair()),
            mutation=PM(eta=mutation_eta, vtype=float, repair=RoundingRepair()),
            eliminate_duplicates=_HistoryDuplicates(self._history),
            repair=_Canonical(space) if space.conditions else None,
        )
        self._algo.setup(self._pproblem, termination=NoTermination(), seed=self.seed, verbose=False)
        self._pop: Population | None = None
        self._queue: list[int] = []
        self._results: dict[int, Observation] = {}

    def batch_size(self) -> int:
        return self.pop_size

    def _new_generation(self) -> None:
        pop = self._algo.ask()
        X = np.rint(pop.get("X")).astype(int)
        if len(X) == 0:  # pymoo found no new offspring: fall back to a random unseen sample
            X = np.array([self.space.encode(self._seen.sample_unseen(self.rng))])
            pop = Population.new("X", X)
        pop.set("X", X)
        self._pop = pop
        self._queue = list(range(len(pop)))
        self._results = {}

    def ask(self, n: int) -> list[Genotype]:
        out: list[Genotype] = []
        while len(out) < n:
            if self._pop is None or (not self._queue and len(self._results) == len(self._pop)):
                if self._pop is not None:
                    break  # current generation fully asked but not yet told
                self._new_generation()
            if not self._queue:
                break
            i = self._queue.pop(0)
            out.append(self.space.decode(self._pop.get("X")[i]))
        self._asked = out
        return out

    def tell(self, observations: Sequence[Observation]) -> None:
        assert self._pop is not None
        X = np.rint(self._pop.get("X")).astype(int)
        index = {tuple(x): i for i, x in enumerate(X)}
        for o in observations:
            x = tuple(int(v) for v in self.space.encode(o.genotype))
            self._history.add(x)
            self._seen.add(o.genotype)
            if x in index:
                self._results[index[x]] = o
        if len(self._results) < len(self._pop):
            return
        F = np.array([worst_fill(self.problem, self._results[i].f) for i in range(len(self._pop))])
        kw = {"F": F}
        if self.problem.constrained:
            G = np.array([
                self._results[i].g if self._results[i].f is not None
                else np.full(len(self.problem.constrained), 1e12)
                for i in range(len(self._pop))
            ])
            kw["G"] = G
        PymooEvaluator().eval(StaticProblem(self._pproblem, **kw), self._pop)
        self._algo.tell(infills=self._pop)
        self._pop = None
