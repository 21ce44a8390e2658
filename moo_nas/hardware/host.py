"""Host latency measured by running the built PyTorch model (eager mode, CPU or CUDA)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import numpy as np
import torch

from ..cpu import torch_threads
from ..objectives import Candidate, MetricDef, MetricProvider, Value, register_provider
from ..training import host_device


#: statistics a protocol may summarise its timed repeats with: the median, or a low
#: percentile (``p10``, ``min``), which other jobs on the machine disturb much less (their
#: interference only ever adds time); ``total`` (the sum) is what energy meters integrate over
STATISTICS = {"median": 50.0, "p25": 25.0, "p10": 10.0, "min": 0.0, "total": None}


@dataclass(frozen=True)
class TimingProtocol:
    """How a latency is measured: batch size, warm-up runs, timed repeats, statistic, threads."""

    batch: int = 1
    warmup: int = 10
    repeats: int = 50
    statistic: str = "median"
    threads: int = 1

    def __post_init__(self) -> None:
        from ..errors import UserError

        if self.statistic not in STATISTICS:
            raise UserError(f"unknown latency statistic {self.statistic!r}; choose one of "
                            f"{', '.join(STATISTICS)}.")
        for name in ("batch", "repeats", "threads"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise UserError(f"latency protocol {name} must be a positive integer, got {v!r}.")

    def describe(self) -> str:
        return (f"batch {self.batch}, {self.warmup} warm-up, {self.repeats} repeats, "
                f"{self.statistic}, {self.threads} thread(s)")

    def summarise(self, times: list[float]) -> float:
        """The protocol's statistic of the timed repeats (seconds)."""
        q = STATISTICS[self.statistic]
        return float(np.sum(times)) if q is None else float(np.percentile(times, q))


_E = TypeVar("_E", bound="EnergyMeasurement")


@dataclass(frozen=True)
class EnergyMeasurement:
    """Energy read around a timed loop of inferences (the GPU and RAPL meters): per inference,
    mean power, loop length."""

    joules_per_inference: float
    mean_power_w: float
    inferences: int
    seconds: float

    @classmethod
    def of_loop(cls: type[_E], joules: float, inferences: int, seconds: float, **extra: Any) -> _E:
        """From the energy ``joules`` that ``inferences`` took in ``seconds`` (``extra``: the
        fields a subclass adds)."""
        return cls(joules / inferences, joules / seconds, inferences, seconds, **extra)

    def value(self, source: str) -> Value:
        """The measured energy per inference in millijoules; its source is ``source`` (how it
        was measured) followed by the mean power."""
        return Value(self.joules_per_inference * 1e3, "measured",
                     f"{source}, mean power {self.mean_power_w:.1f} W")


def time_call(fn: Callable[[], object], warmup: int, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` timed calls of ``fn()`` after ``warmup`` untimed ones
    (CPU wall clock, ``time.perf_counter``)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def time_module(module: torch.nn.Module, input_shape: tuple[int, ...],
                protocol: TimingProtocol) -> list[float]:
    """Seconds per forward pass, one entry per timed repeat (CPU wall clock)."""
    with torch_threads(protocol.threads):
        module.eval()
        x = torch.randn(protocol.batch, *input_shape)
        with torch.inference_mode():
            times = time_call(lambda: module(x), protocol.warmup, protocol.repeats)
    return times


@register_provider
class HostTorchLatency(MetricProvider):
    """``latency_ms``: median eager-PyTorch latency of one inference on this host."""

    name = "host-torch"
    stage = "model"
    metrics = (MetricDef("latency_ms", "ms", "min", "model",
                         "measured host latency, PyTorch eager, batch 1"),)

    def __init__(self, batch: int = 1, warmup: int = 10, repeats: int = 50, threads: int = 1,
                 statistic: str = "median"):
        self.protocol = TimingProtocol(batch, warmup, repeats, statistic, threads)
        self.device = host_device()

    def cache_key(self) -> str:
        return f"{self.name}|{self.device}|{self.protocol.describe()}"

    def compute(self, candidate: Candidate) -> dict[str, Value]:
        assert candidate.module is not None  # a "model"-stage provider gets the built module
        times = time_module(candidate.module, candidate.space.input_shape, self.protocol)
        source = f"host-torch on {self.device}: {self.protocol.describe()}"
        return {"latency_ms": Value(self.protocol.summarise(times) * 1e3, "measured", source)}


@dataclass(frozen=True)
class Spread:
    """Run-to-run spread of a latency protocol: each architecture measured ``sessions`` times
    afresh; ``cv`` per architecture = sample std / mean of its measurements."""

    protocol: str
    sessions: int
    values_ms: tuple[tuple[float, ...], ...]

    @property
    def cvs(self) -> list[float]:
        return [float(np.std(v, ddof=1) / np.mean(v)) for v in self.values_ms]

    def describe(self) -> str:
        cvs = self.cvs
        return (f"{len(cvs)} architectures each measured in {self.sessions} separate sessions "
                f"({self.protocol}): coefficient of variation median {100 * float(np.median(cvs)):.1f} %, "
                f"max {100 * max(cvs):.1f} %")


def measure_spread(modules: list[torch.nn.Module], input_shape: tuple[int, ...],
                   protocol: TimingProtocol, sessions: int = 5) -> Spread:
    """Measure each module ``sessions`` times with ``protocol``, interleaved (module 1, 2, …,
    then again), so a burst of load hits every architecture alike."""
    values: list[list[float]] = [[] for _ in modules]
    for _ in range(sessions):
        for i, m in enumerate(modules):
            values[i].append(protocol.summarise(time_module(m, input_shape, protocol)) * 1e3)
    return Spread(protocol.describe(), sessions, tuple(tuple(v) for v in values))
