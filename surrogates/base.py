"""The :class:`Predictor` interface every surrogate model implements.

A predictor maps a feature matrix (one row per architecture, see :mod:`surrogates.features`)
to a predicted mean and standard deviation of one objective.  It is fitted on the objective
values observed so far and refitted whenever more arrive; the standard deviation is the
predictor's own uncertainty (GP posterior, spread of trees or ensemble members, spread of
neighbours), used by acquisition functions.

Must implement: ``name``, ``description``, :meth:`Predictor._fit`, :meth:`Predictor._predict`.
Optional hook: :meth:`Predictor.min_train` (fewest rows the model can be fitted on).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from moo_nas.errors import UserError


@dataclass(frozen=True)
class Prediction:
    """Predicted mean and standard deviation (same shape, one entry per queried row)."""

    mean: np.ndarray
    std: np.ndarray

    def __len__(self) -> int:
        return len(self.mean)


class Predictor(ABC):
    """Base class of surrogate models of one scalar objective.

    ``fit`` standardises the target (models see zero-mean, unit-variance values) and checks
    shapes; ``predict`` undoes the scaling.  Seeded: the same seed, data and options give the
    same predictions.
    """

    name: ClassVar[str]
    description: ClassVar[str]

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)
        self.n_train = 0
        self._y_mean = 0.0
        self._y_scale = 1.0
        self._n_features: int | None = None

    # ----------------------------------------------------------------- to implement
    @abstractmethod
    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        """Fit on ``X`` (n x d, float) and standardised ``y`` (n,)."""

    @abstractmethod
    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return standardised (mean, std) for the rows of ``X``."""

    # ----------------------------------------------------------------- optional hooks
    def min_train(self) -> int:
        """Fewest training rows the model accepts."""
        return 2

    # ----------------------------------------------------------------- provided
    def fit(self, X: np.ndarray, y: np.ndarray) -> "Predictor":
        """Fit on feature rows ``X`` and observed values ``y``; returns ``self``.

        Called again from scratch each time more observations arrive (refit)."""
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).ravel()
        if X.ndim != 2 or len(X) != len(y):
            raise ValueError(f"X must be (n, d) with n = len(y); got {X.shape} and {y.shape}")
        if len(y) < self.min_train():
            raise UserError(
                f"predictor {self.name!r} needs at least {self.min_train()} training "
                f"architectures, got {len(y)}; evaluate more before fitting it."
            )
        if not np.all(np.isfinite(y)) or not np.all(np.isfinite(X)):
            raise UserError("training data for a predictor contains NaN or infinite values; drop failed evaluations first.")
        self._y_mean = float(y.mean())
        self._y_scale = float(y.std()) or 1.0
        self._n_features = X.shape[1]
        self.n_train = len(y)
        self._fit(X, (y - self._y_mean) / self._y_scale)
        return self

    def predict(self, X: np.ndarray) -> Prediction:
        """Predicted mean and standard deviation for feature rows ``X`` (after :meth:`fit`)."""
        if self._n_features is None:
            raise RuntimeError(f"predictor {self.name!r} used before fit()")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self._n_features:
            raise ValueError(f"X must have {self._n_features} columns, got shape {X.shape}")
        mean, std = self._predict(X)
        mean = np.asarray(mean, dtype=np.float64) * self._y_scale + self._y_mean
        std = np.maximum(np.asarray(std, dtype=np.float64), 0.0) * self._y_scale
        return Prediction(mean, std)

    def source(self) -> str:
        """Provenance string for values this predictor produces."""
        return f"predicted: {self.name} surrogate fitted on {self.n_train} evaluated architectures"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(seed={self.seed}, n_train={self.n_train})"
