"""Learning-curve extrapolation: predict final accuracy from the first epochs.

A candidate is trained with the full recipe's schedule but stopped after ``k`` epochs; the
validation accuracies observed after each epoch are fitted by a saturating curve and the
curve is read at the recipe's last epoch.  This is a low fidelity: it costs ``k / epochs`` of a
full training and ranks candidates better than the raw accuracy at epoch ``k``.

Curve models (t = epoch, 1-based):

``pow``   a - b * t ** (-c)        (power law, b, c >= 0)
``exp``   a - b * exp(-c * t)      (exponential saturation, b, c >= 0)
``last``  the last observed value  (no extrapolation; the baseline)

``auto`` fits ``pow`` and ``exp`` and keeps the one with the smaller squared residual.
Predictions are clipped to ``[0, 1]`` for accuracies.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from moo_nas.errors import UserError

MODELS = ("pow", "exp", "last", "auto")


@dataclass(frozen=True)
class CurveFit:
    """A fitted learning curve."""

    model: str
    params: tuple[float, ...]
    residual: float

    def __call__(self, t: float | np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        if self.model == "pow":
            a, b, c = self.params
            return a - b * t ** (-c)
        if self.model == "exp":
            a, b, c = self.params
            return a - b * np.exp(-c * t)
        return np.full_like(t, self.params[0])


def _curve(model: str):
    if model == "pow":
        return lambda t, a, b, c: a - b * t ** (-c)
    return lambda t, a, b, c: a - b * np.exp(-c * t)


def fit_curve(values: Sequence[float], model: str = "auto") -> CurveFit:
    """Fit the validation accuracies after epochs 1..k (``values``) with ``model``."""
    if model not in MODELS:
        raise UserError(f"unknown curve model {model!r}; choose one of: {', '.join(MODELS)}.")
    y = np.asarray(values, dtype=float)
    if y.ndim != 1 or len(y) == 0 or not np.all(np.isfinite(y)):
        raise UserError("a learning curve needs at least one finite value per epoch.")
    last = CurveFit("last", (float(y[-1]),), 0.0)
    if model == "last" or len(y) < 3:
        return last
    if model == "auto":
        fits = [fit_curve(y, m) for m in ("pow", "exp")]
        fits = [f for f in fits if f.model != "last"]
        return min(fits, key=lambda f: f.residual) if fits else last
    from scipy.optimize import curve_fit

    t = np.arange(1, len(y) + 1, dtype=float)
    lo, hi = float(y.min()), float(y.max())
    p0 = (min(1.0, hi + 0.05), max(hi - lo, 1e-3) * 2, 0.5)
    bounds = ([hi, 0.0, 1e-3], [max(1.0, hi) + 1e-9, 10.0, 5.0])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p, _ = curve_fit(_curve(model), t, y, p0=np.clip(p0, bounds[0], bounds[1]),
                             bounds=bounds, maxfev=2000)
    except (RuntimeError, ValueError):
        return last
    res = float(np.sum((_curve(model)(t, *p) - y) ** 2))
    return CurveFit(model, tuple(float(v) for v in p), res)


def extrapolate(values: Sequence[float], final_epoch: int, model: str = "auto") -> float:
    """Predicted accuracy at ``final_epoch`` from the accuracies after epochs 1..k."""
    if final_epoch < len(values):
        raise UserError(f"final epoch {final_epoch} is before the last observed epoch "
                        f"{len(values)}; give the recipe's number of epochs.")
    value = float(fit_curve(values, model)(float(final_epoch)))
    return min(1.0, max(0.0, value)) if math.isfinite(value) else float(values[-1])


def record_curve(module, task, recipe, seed: int, epochs: int | None = None) -> list[float]:
    """Train ``module`` with ``recipe`` (its full schedule) and return the validation accuracy
    after each epoch, stopping after ``epochs`` epochs (default: all of the recipe's)."""
    from moo_nas.training import accuracy, train_until

    stop = recipe.epochs if epochs is None else int(epochs)
    if not 1 <= stop <= recipe.epochs:
        raise UserError(f"can stop after 1..{recipe.epochs} epochs of this recipe, not {epochs}.")
    n = len(task.y_train)
    per_epoch = max(1, math.ceil(n / recipe.batch_size))
    # steps skipped for a last minibatch of one sample still count as an epoch boundary
    if n % recipe.batch_size == 1:
        per_epoch -= 1
    curve: list[float] = []

    def on_step(step: int, total: int) -> bool:
        if step % per_epoch == 0:
            curve.append(accuracy(module, task.x_val, task.y_val, recipe.eval_batch_size))
        return len(curve) >= stop

    train_until(module, task, recipe, seed, on_step)
    return curve
