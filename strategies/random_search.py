"""``random``: uniform random sampling of the space (the baseline every strategy must beat)."""

from __future__ import annotations

from typing import Sequence

from moo_nas.space import Genotype

from .base import Observation, Problem, Strategy


class RandomSearch(Strategy):
    """Samples genotypes uniformly; with ``unique=True`` (default) never repeats one.

    Once half of a small space (up to ``ENUMERATE_UP_TO`` genotypes) has been proposed, the rest
    is drawn from an explicit list; once every genotype has been proposed, repeats are allowed
    (uniformly): retrying would only spin.
    """

    name = "random"
    ENUMERATE_UP_TO = 1_000_000
    description = "uniform random sampling (baseline)"

    def __init__(self, problem: Problem, seed: int = 0, *, batch: int = 1, unique: bool = True,
                 max_tries: int = 1000):
        super().__init__(problem, seed)
        self._batch = int(batch)
        if self._batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch!r}")
        self.unique = bool(unique)
        self.max_tries = int(max_tries)
        if self.max_tries < 1:
            raise ValueError(f"max_tries must be at least 1, got {max_tries!r}")
        self._seen: set[tuple] = set()
        self._size = self.space.size()
        self._unseen: list[Genotype] | None = None
        self._unseen_pos: dict[tuple, int] = {}

    def batch_size(self) -> int:
        return self._batch

    def ask(self, n: int) -> list[Genotype]:
        out = []
        for _ in range(n):
            if self.unique and self._unseen is None and self._size <= self.ENUMERATE_UP_TO \
                    and 2 * len(self._seen) >= self._size:
                self._enumerate_unseen()
            if self.unique and self._unseen:
                g = self._unseen[int(self.rng.integers(len(self._unseen)))]
            else:
                g = self.space.sample(self.rng)
                tries = 0
                exhausted = len(self._seen) >= self._size
                while self.unique and not exhausted and g.values in self._seen and tries < self.max_tries:
                    g = self.space.sample(self.rng)
                    tries += 1
            self._mark(g)
            out.append(g)
        return out

    def tell(self, observations: Sequence[Observation]) -> None:
        for o in observations:
            self._mark(o.genotype)

    def _mark(self, g: Genotype) -> None:
        if g.values in self._seen:
            return
        self._seen.add(g.values)
        i = self._unseen_pos.pop(g.values, None)
        if i is not None:  # swap-remove from the list of unproposed genotypes
            last = self._unseen.pop()
            if i < len(self._unseen):
                self._unseen[i] = last
                self._unseen_pos[last.values] = i

    def _enumerate_unseen(self) -> None:
        """Past half of a small space, draw from the list of the genotypes not yet proposed
        (in the space's enumeration order) instead of rejection sampling, whose retries grow
        without bound as the space runs out."""
        self._unseen = [g for g in self.space.all_genotypes() if g.values not in self._seen]
        self._unseen_pos = {g.values: i for i, g in enumerate(self._unseen)}
