"""Surrogate models behind the :class:`~surrogates.base.Predictor` interface (scikit-learn).

Each model gives a mean and an uncertainty:

``gp``        Gaussian process (Matern-5/2, optional ARD length scales, + white noise); posterior std.
``rf``        random forest; std of the per-tree predictions.
``et``        extra trees; std of the per-tree predictions.
``gbdt``      gradient boosting; ensemble of members fitted on different subsamples, member std.
``mlp``       multilayer perceptron; ensemble of differently seeded members, member std.
``knn``       k nearest neighbours (distance-weighted); weighted std of the neighbours' values.
``bayes-ridge`` Bayesian linear regression; posterior predictive std (additive costs).
``bootstrap`` bootstrap ensemble of any other model (``base`` option); member std.
``combo``     mean of the standardised predictions of several models (``members`` option).

The same models serve accuracy and hardware objectives (latency, energy): a predictor only
sees a feature matrix and one column of values.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from sklearn.preprocessing import StandardScaler

from moo_nas.errors import UserError, unknown_name

from .base import Predictor


def _scaler(X: np.ndarray) -> StandardScaler:
    sc = StandardScaler().fit(X)
    sc.scale_ = np.where(sc.scale_ > 0, sc.scale_, 1.0)
    return sc


class GPPredictor(Predictor):
    """Gaussian process regression on standardised features."""

    name = "gp"
    description = "Gaussian process, Matern-5/2 kernel + white noise (posterior std)"

    def __init__(self, seed: int = 0, *, restarts: int = 1, ard: bool = False) -> None:
        super().__init__(seed)
        self.restarts = int(restarts)
        self.ard = bool(ard)

    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        self._sc = _scaler(X)
        d = X.shape[1]
        kernel = (ConstantKernel(1.0, (1e-2, 1e2))
                  * Matern(length_scale=np.full(d, 2.0) if self.ard else 2.0, length_scale_bounds=(1e-1, 1e3), nu=2.5)
                  + WhiteKernel(0.1, (1e-5, 1.0)))
        self._gp = GaussianProcessRegressor(kernel, normalize_y=False,
                                            n_restarts_optimizer=self.restarts,
                                            random_state=self.seed)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._gp.fit(self._sc.transform(X), y)

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, std = self._gp.predict(self._sc.transform(X), return_std=True)
        return mean, std


class _ForestPredictor(Predictor):
    """Shared code of the tree ensembles: std is the spread of the per-tree predictions."""

    def __init__(self, seed: int = 0, *, n_estimators: int = 200, min_samples_leaf: int = 1,
                 max_features: float = 1.0) -> None:
        super().__init__(seed)
        self.n_estimators = int(n_estimators)
        self.min_samples_leaf = int(min_samples_leaf)
        self.max_features = max_features

    def _model(self):  # pragma: no cover - overridden
        raise NotImplementedError

    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        self._m = self._model().fit(X, y)

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        per_tree = np.stack([t.predict(X) for t in self._m.estimators_])
        return per_tree.mean(0), per_tree.std(0)


class RFPredictor(_ForestPredictor):
    name = "rf"
    description = "random forest (std of per-tree predictions)"

    def _model(self):
        from sklearn.ensemble import RandomForestRegressor

        return RandomForestRegressor(self.n_estimators, min_samples_leaf=self.min_samples_leaf,
                                     max_features=self.max_features, random_state=self.seed,
                                     n_jobs=1)


class ETPredictor(_ForestPredictor):
    name = "et"
    description = "extra trees (std of per-tree predictions)"

    def _model(self):
        from sklearn.ensemble import ExtraTreesRegressor

        return ExtraTreesRegressor(self.n_estimators, min_samples_leaf=self.min_samples_leaf,
                                   max_features=self.max_features, random_state=self.seed,
                                   n_jobs=1)


class GBDTPredictor(Predictor):
    """Gradient-boosted trees; uncertainty from members fitted on different 80 % subsamples."""

    name = "gbdt"
    description = "gradient boosting, ensemble of 5 subsampled members (member std)"

    def __init__(self, seed: int = 0, *, members: int = 5, n_estimators: int = 200,
                 learning_rate: float = 0.05, max_depth: int = 3) -> None:
        super().__init__(seed)
        self.members, self.n_estimators = int(members), int(n_estimators)
        self.learning_rate, self.max_depth = float(learning_rate), int(max_depth)

    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        from sklearn.ensemble import GradientBoostingRegressor

        self._ms = [GradientBoostingRegressor(n_estimators=self.n_estimators,
                                              learning_rate=self.learning_rate,
                                              max_depth=self.max_depth, subsample=0.8,
                                              min_samples_leaf=1, random_state=self.seed + i).fit(X, y)
                    for i in range(self.members)]

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = np.stack([m.predict(X) for m in self._ms])
        return p.mean(0), p.std(0)


class MLPPredictor(Predictor):
    """Small MLP ensemble on standardised features."""

    name = "mlp"
    description = "MLP (2 x 64 ReLU, L2 1e-3), ensemble of 5 seeds (member std)"

    def __init__(self, seed: int = 0, *, members: int = 5, hidden: Sequence[int] = (64, 64),
                 alpha: float = 1e-3, max_iter: int = 1000) -> None:
        super().__init__(seed)
        self.members, self.hidden = int(members), tuple(int(h) for h in hidden)
        self.alpha, self.max_iter = float(alpha), int(max_iter)

    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        import warnings

        from sklearn.neural_network import MLPRegressor

        self._sc = _scaler(X)
        Xs = self._sc.transform(X)
        self._ms = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i in range(self.members):
                self._ms.append(MLPRegressor(hidden_layer_sizes=self.hidden, alpha=self.alpha, max_iter=self.max_iter,
                                             learning_rate_init=3e-3,
                                             random_state=self.seed + i).fit(Xs, y))

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        Xs = self._sc.transform(X)
        p = np.stack([m.predict(Xs) for m in self._ms])
        return p.mean(0), p.std(0)


class KNNPredictor(Predictor):
    """Distance-weighted k nearest neighbours on standardised features."""

    name = "knn"
    description = "k nearest neighbours, k=5, distance-weighted (neighbour std)"

    def __init__(self, seed: int = 0, *, k: int = 5) -> None:
        super().__init__(seed)
        self.k = int(k)

    def min_train(self) -> int:
        return 1

    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        from sklearn.neighbors import NearestNeighbors

        self._sc = _scaler(X)
        self._y = y
        self._nn = NearestNeighbors(n_neighbors=min(self.k, len(y))).fit(self._sc.transform(X))

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dist, idx = self._nn.kneighbors(self._sc.transform(X))
        w = 1.0 / (dist + 1e-6)
        w /= w.sum(1, keepdims=True)
        vals = self._y[idx]
        mean = (w * vals).sum(1)
        std = np.sqrt((w * (vals - mean[:, None]) ** 2).sum(1))
        return mean, std


class BayesRidgePredictor(Predictor):
    """Bayesian linear regression on standardised features (exact for additive costs)."""

    name = "bayes-ridge"
    description = "Bayesian ridge regression (posterior predictive std)"

    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        from sklearn.linear_model import BayesianRidge

        self._sc = _scaler(X)
        self._m = BayesianRidge().fit(self._sc.transform(X), y)

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, std = self._m.predict(self._sc.transform(X), return_std=True)
        return mean, std


class BootstrapPredictor(Predictor):
    """Bootstrap ensemble of another predictor: members fitted on resamples with replacement."""

    name = "bootstrap"
    description = "bootstrap ensemble (10 resamples) of a base predictor (member std)"

    def __init__(self, seed: int = 0, *, base: str = "gbdt", members: int = 10,
                 base_options: dict[str, Any] | None = None) -> None:
        super().__init__(seed)
        if base in ("bootstrap", "combo"):
            raise UserError("bootstrap base must be a single model such as 'gbdt' or 'mlp'.")
        self.base, self.members = base, int(members)
        if base_options is None and base in ("gbdt", "mlp"):
            base_options = {"members": 1}  # the bootstrap itself is the ensemble
        self.base_options = dict(base_options or {})
        make_predictor(base, seed, **self.base_options)  # validates the name early

    def min_train(self) -> int:
        return 3

    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        rng = np.random.default_rng(self.seed)
        self._ms = []
        for i in range(self.members):
            while True:
                idx = rng.integers(len(y), size=len(y))
                if len(np.unique(idx)) >= 2:
                    break
            m = make_predictor(self.base, self.seed + i, **self.base_options)
            self._ms.append(m.fit(X[idx], y[idx]))

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        preds = [m.predict(X) for m in self._ms]
        means = np.stack([p.mean for p in preds])
        var = np.stack([p.std ** 2 for p in preds]).mean(0) + means.var(0)
        return means.mean(0), np.sqrt(var)


class ComboPredictor(Predictor):
    """Average of several models' standardised predictions (std: root-mean member variance)."""

    name = "combo"
    description = "mean of gp + rf + gbdt predictions"

    def __init__(self, seed: int = 0, *, members: Sequence[str] = ("gp", "rf", "gbdt")) -> None:
        super().__init__(seed)
        if not members or any(m in ("combo",) for m in members):
            raise UserError("combo members must be a non-empty list of single models, e.g. ['gp', 'rf'].")
        self.member_names = tuple(members)
        for m in self.member_names:
            make_predictor(m, seed)

    def min_train(self) -> int:
        return 3

    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        self._ms = [make_predictor(m, self.seed).fit(X, y) for m in self.member_names]

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        preds = [m.predict(X) for m in self._ms]
        means = np.stack([p.mean for p in preds])
        var = np.stack([p.std ** 2 for p in preds]).mean(0) + means.var(0)
        return means.mean(0), np.sqrt(var)


def make_predictor(name: str, seed: int = 0, **options: Any) -> Predictor:
    """Build the predictor registered as ``name`` with keyword ``options``."""
    from moo_nas.registry import PREDICTORS

    cls = PREDICTORS.get(name)
    try:
        return cls(seed, **options)
    except TypeError as exc:
        raise UserError(f"bad options for predictor {name!r}: {exc}.") from None
