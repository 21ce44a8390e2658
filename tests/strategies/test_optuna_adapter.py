"""The Optuna strategies (optuna, optuna-tpe, optuna-gp) through the real engine."""

from __future__ import annotations

import numpy as np
import pytest

import test_baselines as tb  # (same directory, on sys.path under pytest)

OPTIONS = {"optuna": {"sampler": "tpe", "startup": 10}, "optuna-tpe": {"startup": 6},
           "optuna-gp": {"startup": 6}}


@pytest.fixture(autouse=True)
def optuna_options(monkeypatch):
    for name, opts in OPTIONS.items():
        monkeypatch.setitem(tb.OPTIONS, name, opts)


@pytest.mark.parametrize("name", ["optuna", "optuna-tpe"])  # optuna-gp: test_bo (slower)
def test_deterministic_and_resumes(tmp_path, name):
    _, first, _ = tb.search(tmp_path, name, 1, 13, store="resumed.db")
    _, resumed, evs = tb.search(tmp_path, name, 1, 24, store="resumed.db")
    _, _, straight = tb.search(tmp_path, name, 1, 24, store="straight.db")
    assert resumed.replayed == len(first.evaluations)  # 13 distinct, with repeats answered from the run
    assert [e.genotype_key for e in evs] == [e.genotype_key for e in straight]


def test_optuna_tpe_learns_the_constraint(tmp_path):
    share = tb.space_share("ok", 5000.0)
    late = []
    for seed in (0, 1):
        _, _, evs = tb.search(tmp_path, "optuna", seed, 40, 5000.0, store=f"{seed}.db")
        late += [e.status == "ok" for e in evs[20:]]
    assert np.mean(late) > 1.5 * share


def test_unknown_sampler_is_one_sentence(tmp_path):
    from moo_nas.errors import UserError
    from moo_nas.registry import STRATEGIES

    from analytic_benchmark import make_problem

    with pytest.raises(UserError, match="unknown; use one of tpe, gp"):
        STRATEGIES.get("optuna").create(make_problem(), 0, {"sampler": "cmaes"})
