"""The optional Optuna adapter (skipped when Optuna is not installed)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("optuna")

import test_baselines as tb  # noqa: E402  (same directory, on sys.path under pytest)


@pytest.fixture(autouse=True)
def optuna_options(monkeypatch):
    monkeypatch.setitem(tb.OPTIONS, "optuna", {"sampler": "tpe", "startup": 10})


def test_optuna_tpe_is_deterministic_and_resumes(tmp_path):
    _, first, _ = tb.search(tmp_path, "optuna", 1, 13, store="resumed.db")
    _, resumed, evs = tb.search(tmp_path, "optuna", 1, 24, store="resumed.db")
    _, _, straight = tb.search(tmp_path, "optuna", 1, 24, store="straight.db")
    assert resumed.replayed == 13
    assert [e.genotype_key for e in evs] == [e.genotype_key for e in straight]


def test_optuna_tpe_learns_the_constraint(tmp_path):
    share = tb.space_share("ok", 5000.0)
    late = []
    for seed in (0, 1):
        _, _, evs = tb.search(tmp_path, "optuna", seed, 40, 5000.0, store=f"{seed}.db")
        late += [e.status == "ok" for e in evs[20:]]
    assert np.mean(late) > 1.5 * share
