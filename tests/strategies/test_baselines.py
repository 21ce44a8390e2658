"""The black-box baselines (spea2, nsga3, aging-evolution, rl, mobo) through the real engine.

Every search runs :func:`moo_nas.engine.run_search` on a real SQLite store with the analytic
digits-cnn benchmark of ``conftest.py`` (no training), so the whole module takes seconds.
"""

from __future__ import annotations

import numpy as np
import pytest

from moo_nas.comparator import Normalisation, feasible_points, nondominated
from moo_nas.engine import Budget, run_search
from moo_nas.store import Store
from moo_nas.registry import STRATEGIES

from analytic_benchmark import AnalyticEvaluator, make_problem

# small settings so a run of a few dozen evaluations gets past its initial design
OPTIONS = {
    "spea2": dict(population=10),
    "nsga3": dict(population=10),
    "aging-evolution": dict(population=10, sample=3),
    "rl": dict(batch=5),
    "mobo": dict(initial=6, pool=200, local=50, restarts=0),
}
INITIAL = {"spea2": 10, "nsga3": 10, "aging-evolution": 10, "rl": 5, "mobo": 6}
NAMES = list(OPTIONS)


def search(tmp_path, name, seed, n, bound=None, store="s.db", fails=None, evaluations=None):
    problem = make_problem(bound)
    ev = AnalyticEvaluator(problem.space, problem.objectives, fails)
    with Store(tmp_path / store) as st:
        res = run_search(st, problem, ev, name, OPTIONS[name], seed,
                         Budget(evaluations=evaluations or n))
        return problem, res, st.evaluations(res.run_id)


def space_share(status: str, bound=None, fails=None, n=1500) -> float:
    """Share of uniformly sampled genotypes that end with ``status``."""
    problem = make_problem(bound)
    ev = AnalyticEvaluator(problem.space, problem.objectives, fails)
    rng = np.random.default_rng(12345)
    return float(np.mean([ev.evaluate(problem.space.sample(rng), 0).status == status
                          for _ in range(n)]))


def test_registered_with_descriptions():
    names = {n: STRATEGIES.get(n).description for n in STRATEGIES.names()}
    for name in NAMES:
        assert name in names and names[name]
        assert STRATEGIES.get(name).name == name


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_proposals_other_seed_others(tmp_path, name):
    _, _, a = search(tmp_path, name, 3, 20, store="a.db")
    _, _, b = search(tmp_path, name, 3, 20, store="b.db")
    _, _, c = search(tmp_path, name, 4, 20, store="c.db")
    keys = [e.genotype_key for e in a]
    assert len(keys) == 20
    assert keys == [e.genotype_key for e in b]
    assert keys != [e.genotype_key for e in c]


@pytest.mark.parametrize("name", NAMES)
def test_killed_and_resumed_run_equals_uninterrupted(tmp_path, name):
    # 13 stops in the middle of a batch/generation for every strategy's settings
    _, first, _ = search(tmp_path, name, 1, 13, store="resumed.db")
    assert len(first.evaluations) == 13
    _, resumed, evs = search(tmp_path, name, 1, 24, store="resumed.db")
    assert resumed.replayed == 13 and resumed.run_id == first.run_id
    _, _, straight = search(tmp_path, name, 1, 24, store="straight.db")
    assert [e.genotype_key for e in evs] == [e.genotype_key for e in straight]
    assert len(evs) == 24


@pytest.mark.parametrize("name", NAMES)
def test_proposals_move_into_the_feasible_region(tmp_path, name):
    bound = 5000.0  # macs <= 5000: about a fifth of the space is feasible
    share = space_share("ok", bound)
    assert 0.1 < share < 0.3
    late = []
    for seed in (0, 1):
        _, _, evs = search(tmp_path, name, seed, 40, bound, store=f"{seed}.db")
        late += [e.status == "ok" for e in evs[20:]]
        assert all(e.values["macs"].value <= bound for e in evs if e.status == "ok")
    assert np.mean(late) > 1.5 * share


@pytest.mark.parametrize("name", NAMES)
def test_failed_evaluations_are_survived_and_avoided(tmp_path, name):
    def fails(g):
        return g["k1"] == 5  # a third of the space fails

    share = space_share("failed", fails=fails)
    late = []
    for seed in (0, 1):
        _, res, evs = search(tmp_path, name, seed, 40, fails=fails, store=f"{seed}.db")
        assert len(evs) == 40
        late += [e.status == "failed" for e in evs[20:]]
    assert np.mean(late) < share


@pytest.mark.parametrize("name", NAMES)
def test_improves_hypervolume_over_initial_population(tmp_path, name):
    problem, _, evs = search(tmp_path, name, 0, 50)
    pts, _ = feasible_points(evs, problem.objectives)
    front = pts[nondominated(pts)]
    norm = Normalisation(front.min(axis=0), front.max(axis=0))
    init, _ = feasible_points(evs[: INITIAL[name]], problem.objectives)
    assert norm.hypervolume(pts) > norm.hypervolume(init) + 0.05
