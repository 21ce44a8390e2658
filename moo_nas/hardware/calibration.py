"""Hardware calibration: measure sampled networks, fit a fast predictor, save it as JSON.

Workflow (the "hardware calibration" of narrow-space search, and how a user moves the cost
model to their own board):

1. :func:`collect` measures ``k`` distinct random networks of a space with any measuring
   provider (``onnxruntime``, ``external``, ``gpu-cuda``, ...);
2. :func:`calibrate` splits them into train / held-out, fits a linear model on the per-layer
   features of :func:`moo_nas.hardware.features.network_features` (non-negative coefficients,
   weighted by 1/y^2 so it minimises relative error), and reports held-out MAPE and R^2;
3. :meth:`CalibrationModel.save` writes plain JSON (feature names, coefficients, intercept,
   fit statistics, where the measurements came from) — no pickle, nothing executes on load;
4. the ``calibrated`` provider loads such files and predicts ``cal_latency_ms`` /
   ``cal_energy_mj`` from the layer description, before anything is built or trained.

:func:`fit_mcu_target` fits the MCU model's cycle constants from measured latencies the same
way (the model is linear in :func:`moo_nas.hardware.mcu.cycle_terms`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from numpy.typing import ArrayLike

from ..arch import ArchSpec
from ..errors import UserError
from ..objectives import Candidate, MetricDef, MetricProvider, Value, register_provider
from ..space import Genotype, SearchSpace
from . import mcu
from .features import network_features

FILE_FORMAT = "moo_nas-calibration/1"
PREDICT_TIMING_ROUNDS = 20


@dataclass
class Sample:
    """One measured network: genotype, structure hash, features, measured value, time spent."""

    genotype: Genotype
    arch_key: str
    features: dict[str, float]
    value: float
    measure_seconds: float
    source: str


def collect(space: SearchSpace, provider: MetricProvider, metric: str, k: int,
            seed: int = 0, genotypes: Sequence[Genotype] | None = None) -> list[Sample]:
    """Measure ``metric`` with ``provider`` on ``k`` random networks of ``space`` with distinct
    structures (or on the given ``genotypes``)."""
    if metric not in {m.name for m in provider.metrics}:
        raise UserError(f"provider {provider.name!r} does not report {metric!r}; it reports "
                        f"{', '.join(m.name for m in provider.metrics)}.")
    rng = np.random.default_rng(seed)
    chosen: list[tuple[Genotype, ArchSpec]] = []
    if genotypes is not None:
        chosen = [(g, space.arch(space.validate(g))) for g in genotypes]
    else:
        seen: set[str] = set()
        for _ in range(50 * k):
            g = space.sample(rng)
            arch = space.arch(g)
            if arch.fingerprint() not in seen:
                seen.add(arch.fingerprint())
                chosen.append((g, arch))
            if len(chosen) == k:
                break
    samples = []
    for i, (g, arch) in enumerate(chosen):
        t0 = time.perf_counter()
        cand = Candidate(space, g, arch)
        if provider.stage != "arch":
            torch.manual_seed(seed + i)
            cand.module = space.build(g)
        value = provider.compute(cand)[metric]
        samples.append(Sample(g, arch.fingerprint(), network_features(arch), float(value.value),
                              time.perf_counter() - t0, value.source))
    return samples


# ----------------------------------------------------------------------------- fitting
def fit_nonnegative(x: np.ndarray, y: np.ndarray, intercept: bool = True) -> tuple[np.ndarray, float]:
    """Least squares with non-negative coefficients, weighted by 1/y^2 (relative error).

    Columns are scaled to unit RMS before fitting (for conditioning) and the coefficients
    scaled back, so they are in the units of the raw features.
    """
    scale = np.sqrt(np.mean(x**2, axis=0))
    scale[scale == 0] = 1.0
    from sklearn.linear_model import LinearRegression

    reg = LinearRegression(positive=True, fit_intercept=intercept)
    reg.fit(x / scale, y, sample_weight=1.0 / np.maximum(np.abs(y), 1e-30) ** 2)
    return reg.coef_ / scale, float(reg.intercept_) if intercept else 0.0


def mape(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute percentage error, in percent."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    return float(np.mean(np.abs(y_pred - y_true) / np.abs(y_true)) * 100.0)


def r2(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Coefficient of determination of predictions."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    ss = float(np.sum((y_true - y_true.mean()) ** 2))
    return 1.0 - float(np.sum((y_true - y_pred) ** 2)) / ss if ss > 0 else float("nan")


@dataclass(frozen=True)
class CalibrationModel:
    """A fitted linear cost model: ``value = intercept + sum(coef[i] * feature[i])``."""

    space: str
    space_config: dict[str, Any]
    metric: str
    unit: str
    measured_by: str
    features: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float
    stats: dict[str, Any] = field(default_factory=dict)
    channel_block: int = 16

    def predict_features(self, feats: dict[str, float]) -> float:
        unseen = sorted(k for k, v in feats.items() if v and k not in self.features)
        if unseen:
            raise UserError(f"the network has features {unseen} that calibration "
                            f"{self.describe()!r} never saw; recalibrate on a space that has them.")
        return self.intercept + sum(c * feats.get(f, 0.0) for f, c in zip(self.features, self.coef))

    def predict(self, arch: ArchSpec) -> float:
        """Predicted value for one network description."""
        return self.predict_features(network_features(arch, self.channel_block))

    def describe(self) -> str:
        s = self.stats
        fit = f", held-out MAPE {s['mape']:.2f}% R2 {s['r2']:.3f}" if "mape" in s else ""
        return f"linear calibration of {self.metric} on {self.space}{fit}"

    def to_json(self) -> dict[str, Any]:
        return {"format": FILE_FORMAT, "space": self.space, "space_config": self.space_config,
                "metric": self.metric, "unit": self.unit, "measured_by": self.measured_by,
                "features": list(self.features), "coef": list(self.coef),
                "intercept": self.intercept, "stats": self.stats,
                "channel_block": self.channel_block}

    def save(self, path: str | Path) -> Path:
        """Write the model as JSON (plain numbers and strings)."""
        path = Path(path)
        path.write_text(json.dumps(self.to_json(), indent=1, sort_keys=True))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "CalibrationModel":
        """Read a model written by :meth:`save` (JSON only; nothing is executed)."""
        path = Path(path)
        if not path.is_file():
            raise UserError(f"calibration file {str(path)!r} does not exist; run `moo-nas calibrate` first.")
        try:
            d = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise UserError(f"calibration file {str(path)!r} is not valid JSON ({exc.msg}).") from None
        if not isinstance(d, dict) or d.get("format") != FILE_FORMAT:
            raise UserError(f"{str(path)!r} is not a moo_nas calibration file ({FILE_FORMAT}).")
        try:
            feats = tuple(str(f) for f in d["features"])
            coef = tuple(float(c) for c in d["coef"])
            if len(feats) != len(coef):
                raise ValueError("features and coefficients differ in length")
            return cls(str(d["space"]), dict(d["space_config"]), str(d["metric"]),
                       str(d["unit"]), str(d["measured_by"]), feats, coef,
                       float(d["intercept"]), dict(d.get("stats", {})),
                       int(d.get("channel_block", 16)))
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"calibration file {str(path)!r} is malformed ({exc}).") from None


def fit_model(space: SearchSpace, samples: Sequence[Sample], metric: str, unit: str,
              measured_by: str) -> CalibrationModel:
    """Fit a :class:`CalibrationModel` on samples; features constant over them get a zero
    coefficient (the intercept carries them) but stay known to the model."""
    names = sorted({k for s in samples for k in s.features})
    x = np.array([[s.features.get(n, 0.0) for n in names] for s in samples])
    y = np.array([s.value for s in samples])
    keep = [j for j in range(len(names)) if np.ptp(x[:, j]) > 0]
    coef = np.zeros(len(names))
    coef[keep], b = fit_nonnegative(x[:, keep], y)
    return CalibrationModel(space.name, space.config(), metric, unit, measured_by,
                            tuple(names), tuple(float(c) for c in coef), b)


@dataclass
class CalibrationResult:
    """A fitted model with its held-out quality and the cost of measuring vs predicting."""

    model: CalibrationModel
    train: list[Sample]
    test: list[Sample]
    mape: float
    r2: float
    measure_seconds_per_net: float
    predict_seconds_per_net: float

    @property
    def speedup(self) -> float:
        return self.measure_seconds_per_net / self.predict_seconds_per_net


def calibrate(space: SearchSpace, provider: MetricProvider, metric: str, k: int = 40,
              seed: int = 0, test_fraction: float = 0.25) -> CalibrationResult:
    """Measure ``k`` networks, fit on a random ``1 - test_fraction`` of them, evaluate on the
    rest (MAPE, R^2), and time the predictor against the measurement per network."""
    if k < 8:
        raise UserError(f"calibration needs at least 8 networks, got k={k}; measure more.")
    if not 0 < test_fraction < 1:
        raise UserError(f"test_fraction must be between 0 and 1, got {test_fraction}.")
    samples = collect(space, provider, metric, k, seed)
    if len(samples) < 8:
        raise UserError(f"space {space.name!r} has only {len(samples)} distinct networks; "
                        "calibration needs at least 8.")
    order = np.random.default_rng(seed + 1).permutation(len(samples))
    n_test = max(2, int(round(test_fraction * len(samples))))
    test = [samples[i] for i in order[:n_test]]
    train = [samples[i] for i in order[n_test:]]
    mdef = {m.name: m for m in provider.metrics}[metric]
    model = fit_model(space, train, metric, mdef.unit, samples[0].source)
    pred = [model.predict(space.arch(s.genotype)) for s in test]
    t0 = time.perf_counter()  # predictor cost from the genotype, as a search would pay it
    for _ in range(PREDICT_TIMING_ROUNDS):
        for s in test:
            model.predict(space.arch(s.genotype))
    predict_s = (time.perf_counter() - t0) / (PREDICT_TIMING_ROUNDS * len(test))
    y = [s.value for s in test]
    res = CalibrationResult(model, train, test, mape(y, pred), r2(y, pred),
                            float(np.mean([s.measure_seconds for s in samples])), predict_s)
    stats = {"k": len(samples), "n_train": len(train), "n_test": len(test), "seed": seed,
             "mape": res.mape, "r2": res.r2, "measure_seconds_per_net": res.measure_seconds_per_net,
             "predict_seconds_per_net": predict_s}
    res.model = replace(model, stats=stats)
    return res


# ----------------------------------------------------------------------------- MCU constants
@dataclass
class McuFit:
    """Fitted MCU target, which constants were fitted, and the in-sample MAPE (percent)."""

    target: mcu.McuTarget
    fitted: dict[str, float]
    mape: float


def fit_mcu_target(archs: Sequence[ArchSpec], seconds: Sequence[float],
                   base: mcu.McuTarget = mcu.STM32H743, name: str | None = None) -> McuFit:
    """Fit the cycle constants of ``base`` to measured latencies (seconds per inference).

    ``cycles = seconds * clock`` is regressed on :func:`moo_nas.hardware.mcu.cycle_terms`
    (non-negative, relative error); constants whose term never varies or never occurs keep the
    ``base`` value (the per-inference term is the intercept).
    """
    if len(archs) != len(seconds) or len(archs) < 3:
        raise UserError("fitting MCU constants needs at least 3 networks with one latency each.")
    terms = [{k: float(v) for k, v in mcu.cycle_terms(a).items()} for a in archs]
    names = sorted({k for t in terms for k in t} - {"inference"})
    x = np.array([[t.get(n, 0.0) for n in names] for t in terms])
    y = np.asarray(seconds, float) * base.clock_hz
    keep = [j for j in range(len(names)) if np.ptp(x[:, j]) > 0]
    coef, intercept = fit_nonnegative(x[:, keep], y)
    fitted = {names[j]: float(c) for j, c in zip(keep, coef)}
    fitted["inference"] = intercept
    target = base.with_constants(fitted, name=name or f"{base.name}-fitted",
                                 source=f"fitted to {len(archs)} measured networks")
    pred = np.array([float(mcu.cycles(a, target)) for a in archs])
    return McuFit(target, fitted, mape(y, pred))


# ----------------------------------------------------------------------------- provider
@register_provider
class CalibratedPredictor(MetricProvider):
    """Predicted latency / energy from calibration files (options ``latency``, ``energy``:
    paths written by ``moo-nas calibrate``; at least one)."""

    name = "calibrated"
    stage = "arch"
    metrics = (
        MetricDef("cal_latency_ms", "ms", "min", "arch",
                  "latency predicted by a calibrated model (option latency=<file>)"),
        MetricDef("cal_energy_mj", "mJ", "min", "arch",
                  "energy predicted by a calibrated model (option energy=<file>)"),
    )
    UNITS = {"cal_latency_ms": "ms", "cal_energy_mj": "mJ"}

    def __init__(self, latency: str | None = None, energy: str | None = None):
        self.files = {m: p for m, p in (("cal_latency_ms", latency), ("cal_energy_mj", energy)) if p}
        if not self.files:
            raise UserError("the calibrated provider needs a calibration file: set its option "
                            "latency=<file> and/or energy=<file>.")
        self.models = {m: CalibrationModel.load(p) for m, p in self.files.items()}
        for m, model in self.models.items():
            if model.unit != self.UNITS[m]:
                raise UserError(f"calibration file {self.files[m]!r} predicts {model.metric} in "
                                f"{model.unit!r}; {m} needs a model in {self.UNITS[m]!r}.")

    def compute(self, candidate: Candidate) -> dict[str, Value]:
        out = {}
        for m, model in self.models.items():
            if model.space != candidate.space.name:
                raise UserError(f"calibration file {self.files[m]!r} was fitted on space "
                                f"{model.space!r}, not {candidate.space.name!r}; calibrate this space.")
            shape = model.space_config.get("input_shape")
            if shape is not None and tuple(shape) != tuple(candidate.space.input_shape):
                raise UserError(f"calibration file {self.files[m]!r} was fitted for inputs "
                                f"{tuple(shape)}, not {tuple(candidate.space.input_shape)}; "
                                "calibrate for this task's input shape.")
            src = f"predicted: {model.describe()} ({self.files[m]}), measured by {model.measured_by}"
            out[m] = Value(model.predict(candidate.arch), "predicted", src)
        return out
