"""``random``: uniform sampling without repeats, also when a small space runs out."""

from __future__ import annotations

import numpy as np

from moo_nas.space import Choice, Genotype, SearchSpace
from moo_nas.strategy import Observation, Problem
from strategies.random_search import RandomSearch


class _Tiny(SearchSpace):
    """3 x 4 x 5 = 60 genotypes, enough to exhaust in a test."""

    name = "tiny-test"
    table_only = True

    def _variables(self):
        return [Choice("a", (0, 1, 2)), Choice("b", ("p", "q", "r", "s")), Choice("c", (1, 2, 3, 4, 5))]

    def arch(self, genotype: Genotype):
        raise NotImplementedError


def _problem() -> Problem:
    from moo_nas.objectives import make_objective

    return Problem(_Tiny((1,), 2), (make_objective("val_error"),))


def _run(seed: int, n: int, batch: int = 7) -> list[Genotype]:
    strat = RandomSearch(_problem(), seed)
    out: list[Genotype] = []
    while len(out) < n:
        gs = strat.ask(min(batch, n - len(out)))
        strat.tell([Observation(g, np.array([0.5]), np.zeros(0), "ok") for g in gs])
        out += gs
    return out


def test_proposes_every_genotype_once_before_repeating():
    gs = _run(0, 75)
    assert len({g.key for g in gs[:60]}) == 60  # the whole space, no repeat
    assert all(g.key in {h.key for h in gs[:60]} for g in gs[60:])  # then repeats are allowed


def test_same_seed_same_proposals_through_exhaustion():
    a, b = _run(3, 70), _run(3, 70)
    assert [g.key for g in a] == [g.key for g in b]
    assert [g.key for g in a] != [g.key for g in _run(4, 70)]


def test_genotypes_told_from_elsewhere_are_not_proposed():
    strat = RandomSearch(_problem(), 1)
    told = _run(9, 40)  # another run's 40 distinct genotypes
    strat.tell([Observation(g, np.array([0.5]), np.zeros(0), "ok") for g in told])
    fresh = strat.ask(20)
    assert {g.key for g in fresh}.isdisjoint({g.key for g in told})
    assert len({g.key for g in fresh}) == 20
