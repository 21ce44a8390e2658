"""What the BoTorch strategies (:mod:`strategies.botorch_mobo`) feed their models.

- :class:`Encoder` maps rows of the integer encoding (:meth:`SearchSpace.encode`) to model
  inputs in ``[0, 1]``: a numeric variable becomes its feature (:meth:`Variable.feature`)
  min-max scaled, a variable of labels one column per option (one-hot), or its scaled option
  index when ``onehot`` is off.
- :class:`Bookkeeping` records what was asked and what was told, so ``tell`` accepts any subset
  of the asked genotypes in any order (matched by :attr:`Genotype.key`) and the asked-but-not-
  yet-told ones can be passed to the acquisition as pending points.
- :func:`candidate_rows` is the discrete set the acquisition is maximised over: every
  unevaluated, non-pending genotype when the space has at most ``pool`` of them, otherwise
  ``pool`` uniform draws plus ``local`` mutants of the current front.
- :func:`capped` picks a bounded training set: the most informative half by a score, the
  rest uniformly at random, so GP fits stay cheap on long runs.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from moo_nas.space import Genotype, SearchSpace

from moo_nas.strategy import Observation


class Encoder:
    """Integer-encoding rows to ``[0, 1]`` model inputs (see the module docstring)."""

    def __init__(self, space: SearchSpace, onehot: bool = True) -> None:
        self.tables: list[np.ndarray] = []
        for v in space.variables:
            labels = not all(isinstance(o, (int, float)) and not isinstance(o, bool)
                             for o in v.options)
            if labels and onehot and len(v) > 2:
                self.tables.append(np.eye(len(v)))
                continue
            f = np.array([v.feature(o) for o in v.options], dtype=float)
            span = f.max() - f.min()
            self.tables.append(((f - f.min()) / (span or 1.0)).reshape(-1, 1))
        self.width = int(sum(t.shape[1] for t in self.tables))

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64).reshape(-1, len(self.tables))
        return np.concatenate([t[rows[:, i]] for i, t in enumerate(self.tables)], axis=1)


@dataclass
class Bookkeeping:
    """Asked, pending and told genotypes of one strategy (keys are :attr:`Genotype.key`)."""

    space: SearchSpace
    asked: set[tuple[int, ...]] = field(default_factory=set)
    pending: dict[str, Genotype] = field(default_factory=dict)
    history: list[Observation] = field(default_factory=list)
    n_asked: int = 0

    def ask(self, genotypes: Sequence[Genotype]) -> None:
        """Mark ``genotypes`` as asked and pending."""
        for g in genotypes:
            self.asked.add(tuple(int(i) for i in self.space.encode(g)))
            self.pending[g.key] = g
        self.n_asked += len(genotypes)

    def tell(self, observations: Sequence[Observation]) -> None:
        """Record observations in the order given; each ends its genotype's pending state."""
        for obs in observations:
            self.pending.pop(obs.genotype.key, None)
            self.asked.add(tuple(int(i) for i in self.space.encode(obs.genotype)))
            self.history.append(obs)

    def pending_rows(self) -> np.ndarray:
        """Integer rows of the asked genotypes not told yet, in ask order."""
        rows = [self.space.encode(g) for g in self.pending.values()]
        return np.array(rows, dtype=np.int64).reshape(-1, len(self.space.variables))

    def rows(self, observations: Sequence[Observation]) -> np.ndarray:
        return np.array([self.space.encode(o.genotype) for o in observations],
                        dtype=np.int64).reshape(-1, len(self.space.variables))


def all_rows(space: SearchSpace) -> np.ndarray:
    """Every row of the integer encoding, in odometer order (for small spaces)."""
    ranges = [range(len(v)) for v in space.variables]
    return np.array(list(itertools.product(*ranges)), dtype=np.int64).reshape(-1, len(ranges))


def unseen_uniform(space: SearchSpace, rng: np.random.Generator,
                   excluded: set[tuple[int, ...]], tries: int = 50) -> Genotype:
    """A uniform genotype not in ``excluded`` (after ``tries`` draws, the last one)."""
    g = space.sample(rng)
    for _ in range(tries):
        if tuple(int(i) for i in space.encode(g)) not in excluded:
            break
        g = space.sample(rng)
    return g


def candidate_rows(space: SearchSpace, rng: np.random.Generator, excluded: set[tuple[int, ...]],
                   pool: int, local: int, seeds: Sequence[Genotype],
                   everything: np.ndarray | None = None) -> np.ndarray:
    """Integer rows the acquisition is maximised over, none in ``excluded``, no duplicates.

    ``everything`` (from :func:`all_rows`) is used when given and the space's size is at most
    ``pool``; otherwise ``pool`` uniform rows plus ``local`` mutants of ``seeds`` (cycled).
    """
    d = len(space.variables)
    if everything is not None and len(everything) <= pool:
        keep = [i for i, r in enumerate(map(tuple, everything.tolist())) if r not in excluded]
        return everything[keep]
    sizes = space.upper_bounds() + 1
    parts = [np.floor(rng.random((pool, d)) * sizes).astype(np.int64)]
    if seeds and local:
        parts.append(np.array([space.encode(space.mutate(seeds[i % len(seeds)], rng))
                               for i in range(local)], dtype=np.int64).reshape(-1, d))
    out, seen = [], set(excluded)
    # canonical rows: rows that differ only in inactive variables are one network
    for r in space.canonical_encoding(np.concatenate(parts)).reshape(-1, d):
        t = tuple(int(i) for i in r)
        if t not in seen:
            seen.add(t)
            out.append(r)
    return np.array(out, dtype=np.int64).reshape(-1, d)


def domination_count(f: np.ndarray) -> np.ndarray:
    """Per row of ``f`` (minimisation), how many other rows dominate it (0 = non-dominated)."""
    le = np.all(f[:, None, :] <= f[None, :, :], axis=2)
    lt = np.any(f[:, None, :] < f[None, :, :], axis=2)
    return (le & lt).sum(axis=0)


def capped(scores: np.ndarray, cap: int | None, rng: np.random.Generator) -> np.ndarray:
    """Indices of a training set of at most ``cap`` rows: the ``cap // 2`` lowest ``scores``
    (stable order) plus uniformly drawn others; all rows when ``cap`` is None or not reached."""
    n = len(scores)
    if cap is None or n <= cap:
        return np.arange(n)
    order = np.argsort(scores, kind="stable")
    best = order[: cap // 2]
    rest = rng.choice(order[cap // 2:], size=cap - len(best), replace=False)
    return np.sort(np.concatenate([best, rest]))
