"""``surrogate-nsga2`` through the real engine: on the NAS-Bench-201 table (predicted
objectives) and on digits-cnn with the real trainer (exact analytic objectives, bounds)."""

import numpy as np
import pytest

from moo_nas.engine import Budget, run_search
from moo_nas.errors import UserError
from moo_nas.evaluator import TrainingEvaluator, EvaluatorSpec, needed_providers
from moo_nas.objectives import make_objective
from moo_nas.store import Store
from moo_nas.tabular import make_table_evaluator
from moo_nas.training import Recipe
from moo_nas.registry import STRATEGIES
from moo_nas.strategy import Problem

FAST = {"pop_size": 6, "inner_generations": 3, "inner_options": {"pop_size": 12},
        "predictor": "rf", "predictor_options": {"n_estimators": 30}}


@pytest.fixture(scope="module")
def nb201():
    objs = (make_objective("val_error"), make_objective("params"))
    space, ev = make_table_evaluator("nb201", {}, objs)
    return Problem(space, objs), ev


def test_nb201_run_is_unique_deterministic_and_counts(nb201, tmp_path):
    problem, ev = nb201
    keys = []
    for i in range(2):
        with Store(tmp_path / f"s{i}.sqlite") as st:
            r = run_search(st, problem, ev, "surrogate-nsga2", FAST, 3, Budget(evaluations=24))
        keys.append([e.genotype_key for e in r.evaluations])
        assert r.stats["generations"] == 3 and r.stats["candidates_screened"] > 0
    assert keys[0] == keys[1]
    assert len(set(keys[0])) == 24  # nothing asked twice


def test_acquisitions_pick_front_improving_candidates(nb201):
    problem, _ = nb201
    from moo_nas.strategy import Observation
    from strategies.surrogate_nsga2 import _rank_crowding

    g = problem.space.seed_genotype()
    ok = [Observation(g, np.array(f, float), np.zeros(0), "ok")
          for f in ([0.2, 0.8], [0.5, 0.5], [0.8, 0.2])]
    mean = np.array([[0.9, 0.9], [0.1, 0.95], [0.3, 0.3], [0.6, 0.6], [0.85, 0.05]])
    std = np.zeros_like(mean)
    assert sorted(_rank_crowding(mean, 3)) == [1, 2, 4]
    rank = STRATEGIES.get("surrogate-nsga2").create(problem, 0, {})
    assert sorted(rank._select(mean, std, ok, 2)) == [1, 4]  # default: rank, then crowding
    hvi = STRATEGIES.get("surrogate-nsga2").create(problem, 0, {"acquisition": "hvi", "kappa": 0.0})
    picks = hvi._select(mean, std, ok, 2)
    assert picks[0] == 2  # the largest hypervolume gain over the observed front
    assert 0 not in picks and 3 not in picks  # dominated by the observed front
    # with uncertainty, a dominated mean with a large std becomes worth training
    std[3] = 0.5
    hvi = STRATEGIES.get("surrogate-nsga2").create(problem, 0, {"acquisition": "hvi", "kappa": 1.0})
    assert 3 in hvi._select(mean, std, ok, 2)


def test_exact_objectives_and_bounds_on_digits(tmp_path):
    objs = (make_objective("val_accuracy"), make_objective("params", 2000.0))
    spec = EvaluatorSpec("digits-cnn", {}, "digits", {}, Recipe(epochs=1), objs,
                         needed_providers(objs, ()), ())
    ev = TrainingEvaluator(spec)
    problem = Problem(ev.space, objs, ev.task, spec.recipe)
    strat = STRATEGIES.get("surrogate-nsga2").create(problem, 0, FAST)
    assert strat._exact_idx == [1]  # params is computed, not predicted
    with Store(tmp_path / "d.sqlite") as st:
        r = run_search(st, problem, ev, "surrogate-nsga2", FAST, 0, Budget(evaluations=18))
    later = r.evaluations[6:]
    assert all(e.value("params") <= 2000.0 for e in later)


def test_bad_options(nb201):
    problem, _ = nb201
    cls = STRATEGIES.get("surrogate-nsga2")
    with pytest.raises(UserError, match="acquisition"):
        cls.create(problem, 0, {"acquisition": "ei"})
    with pytest.raises(UserError, match="unknown predictor"):
        cls.create(problem, 0, {"predictor": "svm9"})
    with pytest.raises(UserError, match="wrap itself"):
        cls.create(problem, 0, {"inner": "surrogate-nsga2"})
