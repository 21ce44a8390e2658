"""``random``: uniform random sampling of the space (the baseline every strategy must beat)."""

from __future__ import annotations

from typing import Sequence

from moo_nas.seen import Seen
from moo_nas.space import Genotype

from moo_nas.strategy import Observation, Problem, Strategy


class RandomSearch(Strategy):
    """Samples genotypes uniformly; with ``unique=True`` (default) never repeats one.

    Draws go through :meth:`moo_nas.seen.Seen.draw_unseen` (the draws of
    :meth:`~moo_nas.seen.Seen.sample_unseen`, made in blocks): once half of a small space (up to
    ``ENUMERATE_UP_TO`` genotypes) has been proposed, the rest is drawn from an explicit list;
    once every genotype has been proposed, repeats are allowed (uniformly): retrying would
    only spin.
    """

    name = "random"
    #: asynchronous: each ask is independent of results (pending genotypes are never re-proposed:
    #: they count as seen the moment they are asked)
    asynchronous = True
    #: proposals never depend on results, so table-backed runs are asked for many at once
    ask_ahead = True
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
        self._seen = Seen(self.space, enumerate_up_to=self.ENUMERATE_UP_TO)

    def batch_size(self) -> int:
        return self._batch

    def ask(self, n: int) -> list[Genotype]:
        if self.unique:
            return self._seen.draw_unseen(self.rng, n, tries=self.max_tries)
        out = [self.space.sample(self.rng) for _ in range(n)]
        for g in out:
            self._seen.add(g)
        return out

    def tell(self, observations: Sequence[Observation]) -> None:
        for o in observations:
            self._seen.add(o.genotype)
