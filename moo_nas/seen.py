"""One "draw a genotype not proposed yet" helper for every search strategy."""

from __future__ import annotations

from typing import Any, Callable, Collection

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

    In a space without conditions (every assignment is canonical) the list of those left holds
    integer codes (the mixed-radix number of the option indices, i.e. the position in
    :meth:`SearchSpace.all_genotypes` order), so building it creates no genotype objects; the
    draws are the same as from the list of genotypes.
    """

    def __init__(self, space: SearchSpace, *, enumerate_up_to: int = 1_000_000) -> None:
        self.space = space
        self.keys: set[str] = set()
        self.enumerate_up_to = int(enumerate_up_to)
        self._size: int | None = None
        self._left: list[Genotype] | list[int] | None = None
        self._left_pos: dict = {}  # key (or integer code) -> position in ``_left``
        self._codec = _Codec(space) if not space.conditions else None
        self._codes: set[int] = set()  # integer codes of the keys (spaces without conditions)

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
        return self._add(genotype, None)

    def _add(self, genotype: Genotype, code: int | None) -> bool:
        """:meth:`add`, given the genotype's integer code when the caller knows it."""
        key = genotype.key
        if key in self.keys:
            return False
        self.keys.add(key)
        if self._codec is None:
            ident: Any = key
        else:
            ident = self._codec.code(genotype) if code is None else code
            self._codes.add(ident)
        if self._left is None:
            return True
        i = self._left_pos.pop(ident, None)
        if i is not None:  # swap-remove from the list of those left
            left: list = self._left
            last = left.pop()
            if i < len(left):
                left[i] = last
                self._left_pos[last.key if self._codec is None else last] = i
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

    def draw_unseen(self, rng: np.random.Generator, n: int, tries: int = 20) -> list[Genotype]:
        """``n`` genotypes, each drawn by :meth:`sample_unseen` and recorded (:meth:`add`)
        before the next: the same genotypes in the same order, and the same numbers drawn from
        ``rng``, as ``n`` such pairs of calls.  In a space without conditions the space's
        samples are drawn ahead in blocks (one vectorised draw gives the numbers of many single
        draws) and rejected as integer codes, without building genotypes for them."""
        codec = self._codec
        if codec is None or self.size >= 2 ** 62:  # int64 codes
            out = []
            for _ in range(n):
                g = self.sample_unseen(rng, tries)
                self.add(g)
                out.append(g)
            return out
        small = self.size <= self.enumerate_up_to
        ahead = _DrawsAhead(rng, self.space, codec)
        out = []
        try:
            while len(out) < n:
                if self._left is None and small and 2 * len(self.keys) >= self.size:
                    self._enumerate()
                code: int | None = None
                if self._left:
                    ahead.settle()
                    # no ``also``: one draw from the list, whose code is known
                    drawn = self._left[int(rng.integers(len(self._left)))]
                    assert isinstance(drawn, int)  # a space without conditions lists codes
                    g, code = codec.genotype(drawn), drawn
                else:
                    code, idx = ahead.next(n - len(out))
                    if not self.exhausted:
                        k = 0
                        while k < tries and code in self._codes:
                            code, idx = ahead.next(n - len(out))
                            k += 1
                    g = self.space._genotype(idx)
                    if code in self._codes and not self.exhausted and small and self._left is None:
                        self._enumerate()  # every retry failed: as in sample_unseen
                        if self._left:
                            ahead.settle()
                            g, code = self._from_left(rng, tries, ()), None
                self._add(g, code)
                out.append(g)
        finally:
            ahead.settle()
        return out

    def _enumerate(self) -> None:
        if self._codec is None:
            self._left = [g for g in self.space.all_genotypes() if g.key not in self.keys]
            self._left_pos = {g.key: i for i, g in enumerate(self._left)}
            return
        taken = np.zeros(self.size, dtype=bool)
        taken[list(self._codes)] = True
        codes: list[int] = np.flatnonzero(~taken).tolist()
        self._left = codes
        self._left_pos = dict(zip(codes, range(len(codes))))

    def _from_left(self, rng: np.random.Generator, tries: int, also: Collection[str]) -> Genotype:
        left: list[Any] | None = self._left
        assert left
        codec = self._codec

        def pick(i: int) -> Genotype:
            return left[i] if codec is None else codec.genotype(left[i])

        g = pick(int(rng.integers(len(left))))
        if also:
            g, _ = self.first_unseen(g, lambda _: pick(int(rng.integers(len(left)))), tries, also)
        return g


class _Codec:
    """Genotype <-> integer code of a space without conditions: the option indices read as a
    mixed-radix number, the first variable most significant (the order of
    :meth:`SearchSpace.all_genotypes`)."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.variables = space.variables
        self.sizes = [len(v) for v in self.variables]
        self.strides = [int(np.prod(self.sizes[i + 1:], dtype=np.int64)) for i in range(len(self.sizes))]
        self.index: list[dict] = []
        for v in self.variables:
            try:
                self.index.append({o: i for i, o in enumerate(v.options)})
            except TypeError:  # unhashable options: Variable.index
                self.index.append({})

    def code(self, genotype: Genotype) -> int:
        c = 0
        for (_, value), v, pos, stride in zip(genotype.values, self.variables, self.index, self.strides):
            i = pos.get(value) if pos else None
            c += (v.index(value) if i is None else i) * stride
        return c

    def genotype(self, code: int) -> Genotype:
        idx = []
        for stride in self.strides:
            i, code = divmod(code, stride)
            idx.append(i)
        return self.space._genotype(idx)


class _DrawsAhead:
    """Samples of a space without conditions drawn ahead from ``rng`` as (integer code, option
    indices): one ``rng.integers(sizes, size=(k, n))`` gives the numbers of ``k`` calls of
    :meth:`SearchSpace.sample`, in order.  :meth:`settle` rewinds ``rng`` to just after the
    samples used, so whatever draws next from it sees the stream it would have seen."""

    def __init__(self, rng: np.random.Generator, space: SearchSpace, codec: "_Codec") -> None:
        self.rng = rng
        self.sizes = space._sizes
        self.strides = np.array(codec.strides, dtype=np.int64)
        self.codes: list[int] = []
        self.rows: list[list[int]] = []
        self.pos = 0
        self.state: Any = None  # the generator's state before the block

    def next(self, want: int) -> tuple[int, list[int]]:
        """The next sample; a new block holds ``want`` samples (what the caller still needs
        if nothing is rejected)."""
        if self.pos == len(self.codes):
            self.state = self.rng.bit_generator.state
            block = self.rng.integers(self.sizes, size=(max(1, want), len(self.sizes)))
            self.codes, self.rows, self.pos = (block @ self.strides).tolist(), block.tolist(), 0
        i = self.pos
        self.pos += 1
        return self.codes[i], self.rows[i]

    def settle(self) -> None:
        if self.pos < len(self.codes):  # drawn but not used: draw only those used, again
            self.rng.bit_generator.state = self.state
            if self.pos:
                self.rng.integers(self.sizes, size=(self.pos, len(self.sizes)))
        self.codes, self.rows, self.pos = [], [], 0
