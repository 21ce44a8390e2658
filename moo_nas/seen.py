"""One "draw a genotype not proposed yet" helper for every search strategy."""

from __future__ import annotations

from typing import Callable, Collection

import numpy as np

from .space import Genotype, SearchSpace


class Seen:
    """The genotypes one search has proposed or been told about, and draws of unseen ones.

    The single "sample a genotype not seen yet" helper of every strategy.  Genotypes are
    compared by :attr:`Genotype.key`, i.e. as canonical genotypes (one per network).
    :meth:`sample_unseen` draws with :meth:`SearchSpace.sample` and rejects seen genotypes
    (at most ``tries`` redraws); in a small space (at most ``enumerate_up_to`` genotypes), past
    half of it or once every retry failed, it draws uniformly from the explicit list of those
    left instead, whose retries would otherwise grow without bound; once every genotype was
    seen, a plain draw (repeats are then unavoidable).
    """

    def __init__(self, space: SearchSpace, *, enumerate_up_to: int = 1_000_000) -> None:
        self.space = space
        self.keys: set[str] = set()
        self.enumerate_up_to = int(enumerate_up_to)
        self._size: int | None = None
        self._left: list[Genotype] | None = None
        self._left_pos: dict[str, int] = {}

    def __contains__(self, item: Genotype | str) -> bool:
        return (item.key if isinstance(item, Genotype) else item) in self.keys

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def size(self) -> int:
        """Number of distinct genotypes of the space (computed once)."""
        if self._size is None:
            self._size = self.space.size()
        return self._size

    @property
    def exhausted(self) -> bool:
        return len(self.keys) >= self.size

    def add(self, genotype: Genotype) -> bool:
        """Record a genotype; returns False when it was seen before."""
        key = genotype.key
        if key in self.keys:
            return False
        self.keys.add(key)
        i = self._left_pos.pop(key, None)
        if i is not None and self._left is not None:  # swap-remove from the list of those left
            last = self._left.pop()
            if i < len(self._left):
                self._left[i] = last
                self._left_pos[last.key] = i
        return True

    def first_unseen(self, genotype: Genotype, again: Callable[[Genotype], Genotype],
                     tries: int = 20, also: Collection[str] = ()) -> tuple[Genotype, int]:
        """Replace ``genotype`` by ``again(previous)`` while it was seen (or its key is in
        ``also``), at most ``tries`` times; returns the last genotype (unseen unless every try
        failed) and the number of redraws.  Does not record it (see :meth:`add`)."""
        n = 0
        while n < tries and (genotype.key in self.keys or genotype.key in also):
            genotype = again(genotype)
            n += 1
        return genotype, n

    def sample_unseen(self, rng: np.random.Generator, tries: int = 20,
                      also: Collection[str] = ()) -> Genotype:
        """A uniformly random genotype not seen (nor in ``also``), drawn as the class docstring
        says; does not record it (see :meth:`add`)."""
        small = self.size <= self.enumerate_up_to
        if self._left is None and small and 2 * len(self.keys) >= self.size:
            self._enumerate()
        if self._left:
            return self._from_left(rng, tries, also)
        g = self.space.sample(rng)
        if self.exhausted:
            return g
        g, _ = self.first_unseen(g, lambda _: self.space.sample(rng), tries, also)
        if (g.key in self.keys or g.key in also) and small and self._left is None:
            # every retry failed: the seen genotypes hold most of the sampling mass (canonical
            # genotypes are not equally likely), so draw from the list of those left
            self._enumerate()
            if self._left:
                return self._from_left(rng, tries, also)
        return g

    def _enumerate(self) -> None:
        self._left = [g for g in self.space.all_genotypes() if g.key not in self.keys]
        self._left_pos = {g.key: i for i, g in enumerate(self._left)}

    def _from_left(self, rng: np.random.Generator, tries: int, also: Collection[str]) -> Genotype:
        left = self._left
        assert left
        g = left[int(rng.integers(len(left)))]
        if also:
            g, _ = self.first_unseen(g, lambda _: left[int(rng.integers(len(left)))], tries, also)
        return g
