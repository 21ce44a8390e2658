"""``random``: uniform random sampling of the space (the baseline every strategy must beat)."""

from __future__ import annotations

from typing import Sequence

from moo_nas.space import Genotype

from .base import Observation, Problem, Strategy


class RandomSearch(Strategy):
    """Samples genotypes uniformly; with ``unique=True`` (default) never repeats one."""

    name = "random"
    description = "uniform random sampling (baseline)"

    def __init__(self, problem: Problem, seed: int = 0, *, batch: int = 1, unique: bool = True,
                 max_tries: int = 1000):
        super().__init__(problem, seed)
        self._batch = int(batch)
        if self._batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch!r}")
        self.unique = bool(unique)
        self.max_tries = int(max_tries)
        self._seen: set[str] = set()

    def batch_size(self) -> int:
        return self._batch

    def ask(self, n: int) -> list[Genotype]:
        out = []
        for _ in range(n):
            g = self.space.sample(self.rng)
            tries = 0
            while self.unique and g.key in self._seen and tries < self.max_tries:
                g = self.space.sample(self.rng)
                tries += 1
            self._seen.add(g.key)
            out.append(g)
        return out

    def tell(self, observations: Sequence[Observation]) -> None:
        for o in observations:
            self._seen.add(o.genotype.key)
