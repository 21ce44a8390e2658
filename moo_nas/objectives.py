"""Objective declarations, reported values with provenance, and metric providers.

* A :class:`MetricDef` says what a metric is (unit, direction, when it can be computed).
* An :class:`Objective` is a user's choice of a metric to optimise, optionally with a
  constraint bound (``model_bytes <= 64 KiB``).
* A :class:`Value` is one reported number with where it came from: ``measured`` (device and
  protocol), ``modelled`` (which model and constants) or ``predicted`` (which surrogate).
* A :class:`MetricProvider` computes some metrics for a :class:`Candidate`; hardware backends
  plug in by registering providers with :func:`register_provider`.

Stages tell the evaluator when a provider can run: ``arch`` needs only the layer description
(cheap, checked before training), ``model`` needs a built module but no training (e.g. measured
latency), ``trained`` needs the trained network.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

import numpy as np

from . import costs
from .errors import UserError, unknown_name

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

    from .arch import ArchSpec
    from .data import Task
    from .space import Genotype, SearchSpace

ORIGINS = ("measured", "modelled", "predicted")
STAGES = ("arch", "model", "trained")


@dataclass(frozen=True)
class Value:
    """One reported number and its provenance."""

    value: float
    origin: str
    source: str

    def __post_init__(self) -> None:
        if self.origin not in ORIGINS:
            raise ValueError(f"origin must be one of {ORIGINS}")

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "origin": self.origin, "source": self.source}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Value":
        return cls(float(d["value"]), d["origin"], d["source"])

    def describe(self) -> str:
        """``origin: source`` — where the number came from, for exports and reports."""
        if self.source.startswith(self.origin + ":"):  # sources written before origin was split out
            return self.source
        return f"{self.origin}: {self.source}"


#: Value range of metrics by unit, for metrics that do not declare ``low`` / ``high``.
UNIT_RANGES: dict[str, tuple[float, float]] = {
    "fraction": (0.0, 1.0), "B": (0.0, math.inf), "count": (0.0, math.inf),
    "MAC": (0.0, math.inf), "ms": (0.0, math.inf), "s": (0.0, math.inf), "mJ": (0.0, math.inf),
}


@dataclass(frozen=True)
class MetricDef:
    """What a metric is: name, unit, direction (``min``/``max``), stage, one-line description,
    and optionally the range its values lie in (``low``/``high``; by default the range of its
    unit in :data:`UNIT_RANGES`, unbounded for other units)."""

    name: str
    unit: str
    direction: str
    stage: str
    description: str
    low: float | None = None
    high: float | None = None

    @property
    def value_range(self) -> tuple[float, float]:
        """(lowest, highest) value the metric can take."""
        lo, hi = UNIT_RANGES.get(self.unit, (-math.inf, math.inf))
        return (lo if self.low is None else self.low, hi if self.high is None else self.high)


@dataclass(frozen=True)
class Objective:
    """A metric chosen for optimisation, with an optional constraint bound.

    The bound is an upper bound for ``min`` metrics and a lower bound for ``max`` metrics.
    """

    name: str
    direction: str
    bound: float | None = None
    unit: str = ""

    def violation(self, value: float) -> float:
        """Constraint value in pymoo's convention: <= 0 is feasible (0 without a bound)."""
        if self.bound is None:
            return 0.0
        return value - self.bound if self.direction == "min" else self.bound - value

    def to_min(self, value: float) -> float:
        """The value in minimisation form (maximised metrics are negated)."""
        return value if self.direction == "min" else -value

    def describe(self) -> str:
        op = "<=" if self.direction == "min" else ">="
        b = f" {op} {self.bound:g}" if self.bound is not None else ""
        return f"{self.direction} {self.name}{b}"


@dataclass
class Candidate:
    """What providers may look at: the genotype, its network description and, by stage, the
    built module and the trained module."""

    space: "SearchSpace"
    genotype: "Genotype"
    arch: "ArchSpec"
    task: "Task | None" = None
    module: "nn.Module | None" = None
    trained: bool = False
    extras: dict[str, Any] = field(default_factory=dict)


class MetricProvider(ABC):
    """Computes one or more metrics.  Subclasses set ``name``, ``stage`` and ``metrics``."""

    name: ClassVar[str]
    stage: ClassVar[str]
    metrics: ClassVar[tuple[MetricDef, ...]]

    @abstractmethod
    def compute(self, candidate: Candidate) -> dict[str, Value]:
        """Return a value for each metric in :attr:`metrics` (called once per evaluation)."""

    def cache_key(self) -> str | None:
        """Key under which results may be shared across runs for the same architecture
        (measured values that do not depend on trained weights); None disables sharing."""
        return None


# ----------------------------------------------------------------------------- analytic
class AnalyticProvider(MetricProvider):
    """The costs of :data:`moo_nas.costs.ANALYTIC_COSTS` (params, model bytes, MACs, bitops,
    peak activation memory) from the layer shapes; each value carries its formula's source."""

    name = "analytic"
    stage = "arch"
    metrics = tuple(MetricDef(c.name, c.unit, "min", "arch", c.description)
                    for c in costs.ANALYTIC_COSTS.values())

    def compute(self, candidate: Candidate) -> dict[str, Value]:
        a = candidate.arch
        return {c.name: Value(float(c(a)), "modelled", c.source)
                for c in costs.ANALYTIC_COSTS.values()}


ACCURACY_METRICS = (
    MetricDef("val_accuracy", "fraction", "max", "trained", "accuracy on the validation split"),
    MetricDef("val_error", "fraction", "min", "trained", "1 - validation accuracy"),
    MetricDef("test_accuracy", "fraction", "max", "trained", "accuracy on the test split (report only)"),
    MetricDef("test_error", "fraction", "min", "trained", "1 - test accuracy (report only)"),
)

# ----------------------------------------------------------------------------- registry
def register_provider(cls: type[MetricProvider]) -> type[MetricProvider]:
    """Register a provider class under ``cls.name`` in :data:`moo_nas.registry.PROVIDERS`; its
    metrics become valid objective names.  Returns ``cls`` (usable as a decorator)."""
    from .registry import PROVIDERS

    PROVIDERS.register(cls.name, cls)
    return cls


def _metric_index() -> dict[str, tuple[MetricDef, str | None]]:
    """Every metric with the name of its provider (None: computed by training)."""
    from .registry import PROVIDERS

    index: dict[str, tuple[MetricDef, str | None]] = {m.name: (m, None) for m in ACCURACY_METRICS}
    for pname, cls in PROVIDERS.items():
        for m in cls.metrics:
            index.setdefault(m.name, (m, pname))
    return index


def metric(name: str) -> MetricDef:
    """The definition of metric ``name`` (a :class:`UserError` with suggestions if unknown)."""
    index = _metric_index()
    if name not in index:
        raise unknown_name("objective", name, index)
    return index[name][0]


def all_metrics() -> dict[str, MetricDef]:
    """Every metric any registered provider (or training) computes."""
    return {n: m for n, (m, _) in _metric_index().items()}


def provider_for(name: str) -> str | None:
    """Name of the provider computing metric ``name`` (None for training metrics)."""
    metric(name)
    return _metric_index()[name][1]


def make_provider(name: str, **options: Any) -> MetricProvider:
    """An instance of the provider registered as ``name``, built with ``options``."""
    from .registry import PROVIDERS

    return PROVIDERS.get(name)(**options)


def provider_classes() -> dict[str, type[MetricProvider]]:
    """Every registered provider class by name."""
    from .registry import PROVIDERS

    return dict(PROVIDERS.items())


# ----------------------------------------------------------------------------- parsing
_UNITS = {"": 1.0, "b": 1.0, "k": 1e3, "kb": 1e3, "kib": 1024.0, "m": 1e6, "mb": 1e6,
          "mib": 1024.0**2, "g": 1e9, "gb": 1e9, "gib": 1024.0**3}
_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z%]*)\s*$")
_NAME = re.compile(r"^\s*([A-Za-z_]\w*)\s*$")
_OPERATOR = re.compile(r"^\s*([A-Za-z_]\w*)\s*(<=|>=|=<|=>|==|!=|<|>|=)\s*(.*?)\s*$")
_HOW = "write a number with an optional unit, e.g. model_bytes<=64KiB, latency_ms<=5 or val_accuracy>=0.9"


def parse_quantity(text: str, unit: str = "") -> float:
    """Parse ``64KiB``, ``1.5M``, ``0.9`` (or ``90%`` and the metric's own ``unit``, e.g.
    ``5ms`` for a metric in ms) into a float."""
    m = _QUANTITY.match(str(text))
    suffix = m.group(2) if m else ""
    if suffix == "%":
        factor = 0.01
    elif unit and suffix.lower() == unit.lower():
        factor = 1.0
    elif suffix.lower() in _UNITS:
        factor = _UNITS[suffix.lower()]
    else:
        m = None
    if not m:
        raise UserError(f"cannot read the quantity {text!r}; {_HOW}.")
    return float(m.group(1)) * factor


def check_bound(m: MetricDef, bound: float) -> None:
    """Refuse a bound no value of metric ``m`` can meet (outside the metric's range)."""
    lo, hi = m.value_range
    if (m.direction == "max" and bound > hi) or (m.direction == "min" and bound < lo):
        op = ">=" if m.direction == "max" else "<="
        span = f"[{lo:g}, {hi:g}]" if math.isfinite(hi) else f">= {lo:g}"
        raise UserError(f"constraint {m.name} {op} {bound:g} is impossible: {m.name} "
                        f"({m.unit}) lies in {span}; write a bound inside that range.")


def make_objective(name: str, bound: float | str | None = None) -> Objective:
    """Declare an objective for a registered metric, with an optional bound."""
    m = metric(name)
    if isinstance(bound, str):
        bound = parse_quantity(bound, m.unit)
    if bound is not None:
        if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not math.isfinite(bound):
            raise UserError(f"bound of objective {name!r} must be a finite number, got {bound!r}.")
        bound = float(bound)
        check_bound(m, bound)
    return Objective(m.name, m.direction, bound, m.unit)


def parse_objective(text: str) -> Objective:
    """Parse ``val_accuracy`` or ``model_bytes<=64KiB`` (CLI syntax).

    The metric name is checked first (unknown names get a suggestion), then the operator
    (``<=`` for minimised metrics, ``>=`` for maximised ones), then the number and unit.
    """
    if _NAME.match(text):
        return make_objective(text.strip())
    m = _OPERATOR.match(text)
    if not m:
        raise UserError(f"cannot read the objective {text!r}; give a metric name (see `moo-nas "
                        "objectives`), optionally bounded, e.g. model_bytes<=64KiB.")
    name, op, rest = m.groups()
    md = metric(name)
    expected = "<=" if md.direction == "min" else ">="
    if op != expected:
        kind = "minimised" if md.direction == "min" else "maximised"
        raise UserError(f"objective {name!r} is {kind}, so its bound is written with {expected} "
                        f"(bounds are inclusive): write {name}{expected}{rest or 'VALUE'}.")
    if not rest:
        raise UserError(f"the bound of {text!r} has no value; {_HOW}.")
    try:
        bound = parse_quantity(rest, md.unit)
    except UserError:
        raise UserError(f"cannot read the bound {rest!r} of objective {name!r}; {_HOW}.") from None
    return make_objective(name, bound)


def objective_matrix(objectives: Sequence[Objective], rows: Sequence[dict[str, float]]) -> np.ndarray:
    """Minimisation-form matrix (n x m) of objective values for rows of metric values."""
    return np.array([[o.to_min(r[o.name]) for o in objectives] for r in rows], dtype=float).reshape(len(rows), len(objectives))
