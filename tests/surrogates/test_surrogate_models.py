"""Predictors: fit / predict contract, ranking quality on a smooth target, determinism."""

import numpy as np
import pytest
from scipy.stats import spearmanr

from moo_nas.errors import UserError
from moo_nas.registry import PREDICTORS
from surrogates.models import make_predictor


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 4))
    y = 2 * X[:, 0] + np.sin(2 * X[:, 1]) + 0.5 * X[:, 2] ** 2 + 0.05 * rng.normal(size=n)
    return X, y


FAST = {"gbdt": {"members": 2, "n_estimators": 60}, "mlp": {"members": 2, "max_iter": 400},
        "bootstrap": {"base": "rf", "members": 3, "base_options": {"n_estimators": 30}},
        "combo": {"members": ["rf", "bayes-ridge"]}, "rf": {"n_estimators": 60},
        "et": {"n_estimators": 60}}


@pytest.mark.parametrize("name", PREDICTORS.names())
def test_predictor_ranks_held_out_points(name):
    X, y = _data(120)
    Xt, yt = _data(200, seed=1)
    p = make_predictor(name, 0, **FAST.get(name, {})).fit(X, y)
    pred = p.predict(Xt)
    assert pred.mean.shape == pred.std.shape == (200,)
    assert np.all(pred.std >= 0)
    assert spearmanr(pred.mean, yt)[0] > 0.75
    assert "predicted: " + name in p.source()


def test_same_seed_same_predictions_and_inputs_untouched():
    X, y = _data(40)
    X0, y0 = X.copy(), y.copy()
    a = make_predictor("rf", 3, n_estimators=20).fit(X, y).predict(X[:5])
    b = make_predictor("rf", 3, n_estimators=20).fit(X, y).predict(X[:5])
    assert np.array_equal(a.mean, b.mean)
    assert np.array_equal(X, X0) and np.array_equal(y, y0)


def test_gp_std_is_larger_far_from_data():
    X, y = _data(80)
    p = make_predictor("gp", 0).fit(X, y)
    near = p.predict(X[:10]).std.mean()
    far = p.predict(X[:10] + 5.0).std.mean()
    assert far > near


def test_errors():
    with pytest.raises(UserError, match="unknown predictor"):
        make_predictor("xgboost-magic")
    with pytest.raises(UserError, match="bad options"):
        make_predictor("rf", 0, depth=3)
    with pytest.raises(UserError, match="at least"):
        make_predictor("gp").fit(np.zeros((1, 2)), np.zeros(1))
    with pytest.raises(RuntimeError):
        make_predictor("knn").predict(np.zeros((1, 2)))
    X, y = _data(10)
    y[0] = np.nan
    with pytest.raises(UserError, match="NaN"):
        make_predictor("rf").fit(X, y)
