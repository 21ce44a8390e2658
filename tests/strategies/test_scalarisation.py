"""Normalisation, Chebyshev scalarisation, feasibility ranking, option checks and RNG hygiene."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from moo_nas.errors import UserError
from moo_nas.objectives import Objective
from moo_nas.registry import STRATEGIES
from moo_nas.strategy import Observation, Problem
from strategies.scalarisation import Normaliser, chebyshev, feasibility_order, total_violation

from analytic_benchmark import digits_space, make_problem


def obs(problem, f, g=(), status="ok"):
    g0 = problem.space.sample(np.random.default_rng(0))
    return Observation(g0, None if f is None else np.array(f, float), np.array(g, float), status)


def test_normaliser_uses_bounds_then_running_ranges():
    p = Problem(digits_space(), (Objective("val_accuracy", "max"),
                                 Objective("model_bytes", "min", 1000.0)))
    n = Normaliser(p)
    n.update(np.array([-0.9, 500.0]))
    n.update(np.array([-0.5, 3000.0]))
    n.update(np.array([-0.1, 1e12]))  # a "worst value" placeholder must not widen the range
    z = n(np.array([-0.7, 2000.0]))
    assert z[0] == pytest.approx((-0.7 + 0.9) / 0.8)
    assert z[1] == pytest.approx(2.0)  # divided by the bound (μNAS)
    assert n(np.array([-0.9, 1e9]))[1] == 10.0  # clipped


def test_chebyshev_and_feasibility_order():
    z = np.array([[0.2, 0.8], [0.5, 0.5]])
    w = np.array([0.5, 0.5])
    assert chebyshev(z, w, rho=0.0) == pytest.approx([0.4, 0.25])
    assert chebyshev(z, w) == pytest.approx([0.4 + 0.025, 0.25 + 0.025])
    order = feasibility_order([0.0, 2.0, 0.0, 0.5, float("inf")], [3.0, 0.0, 1.0, 0.0, 0.0])
    assert list(order) == [2, 0, 3, 1, 4]


def test_total_violation_is_normalised_and_failed_is_worst():
    p = make_problem(1000.0)
    assert total_violation(p, obs(p, [-5, 500], [-500])) == 0.0
    assert total_violation(p, obs(p, [-5, 3000], [2000], "infeasible")) == pytest.approx(2.0)
    assert total_violation(p, obs(p, None, [0.0], "failed")) == float("inf")


@pytest.mark.parametrize("name,options", [
    ("aging-evolution", {"sample": 30, "population": 10}),
    ("aging-evolution", {"population": 0}),
    ("spea2", {"population": 1}),
    ("nsga3", {"crossover": 1.5}),
    ("rl", {"controller": "transformer"}),
    ("rl", {"reward": "sum"}),
    ("mobo", {"initial": 1}),
    ("mobo", {"colour": "red"}),
])
def test_bad_options_are_user_errors(name, options):
    with pytest.raises(UserError):
        STRATEGIES.get(name).create(make_problem(), 0, options)


@pytest.mark.parametrize("name", ["spea2", "nsga3", "rl"])
def test_global_random_generators_are_left_alone(name):
    """DEAP and torch draw from global generators; the strategies must neither depend on
    nor disturb them (so two strategies in one process do not influence each other)."""
    p = make_problem()
    states = (random.getstate(), np.random.get_state()[1].copy(), torch.random.get_rng_state())
    s = STRATEGIES.get(name).create(p, 0, {"population": 4} if name != "rl" else {"batch": 4})
    for _ in range(3):
        batch = s.ask(4)
        s.tell([obs(p, [-float(i), float(i * i)]) for i in range(len(batch))])
    assert random.getstate() == states[0]
    assert np.array_equal(np.random.get_state()[1], states[1])
    assert torch.equal(torch.random.get_rng_state(), states[2])


def test_rl_lstm_controller_and_soft_constraint_reward_learn_feasibility():
    p = make_problem(5000.0)
    from analytic_benchmark import AnalyticEvaluator
    from moo_nas.engine import observation

    ev = AnalyticEvaluator(p.space, p.objectives)
    s = STRATEGIES.get("rl").create(p, 0, {"controller": "lstm", "reward": "soft-constraint",
                                        "batch": 8, "alpha": 0.0, "beta": -3.0})
    ok = []
    for _ in range(10):
        batch = s.ask(8)
        out = []
        for g in batch:
            e = ev.evaluate(g, 0)
            out.append(observation(p, g, e))
            ok.append(e.status == "ok")
        s.tell(out)
    assert np.mean(ok[40:]) > np.mean(ok[:16]) + 0.2
