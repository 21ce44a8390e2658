"""Host latency measured by running the built PyTorch model (eager mode, CPU or CUDA)."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable

import torch

from ..objectives import Candidate, MetricDef, MetricProvider, Value, register_provider
from ..training import host_device


@dataclass(frozen=True)
class TimingProtocol:
    """How a latency is measured: batch size, warm-up runs, timed repeats, statistic, threads."""

    batch: int = 1
    warmup: int = 10
    repeats: int = 50
    statistic: str = "median"
    threads: int = 1

    def describe(self) -> str:
        return (f"batch {self.batch}, {self.warmup} warm-up, {self.repeats} repeats, "
                f"{self.statistic}, {self.threads} thread(s)")


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
    threads = torch.get_num_threads()
    torch.set_num_threads(protocol.threads)
    try:
        module.eval()
        x = torch.randn(protocol.batch, *input_shape)
        with torch.inference_mode():
            times = time_call(lambda: module(x), protocol.warmup, protocol.repeats)
    finally:
        torch.set_num_threads(threads)
    return times


@register_provider
class HostTorchLatency(MetricProvider):
    """``latency_ms``: median eager-PyTorch latency of one inference on this host."""

    name = "host-torch"
    stage = "model"
    metrics = (MetricDef("latency_ms", "ms", "min", "model",
                         "measured host latency, PyTorch eager, batch 1"),)

    def __init__(self, batch: int = 1, warmup: int = 10, repeats: int = 50, threads: int = 1):
        self.protocol = TimingProtocol(batch, warmup, repeats, "median", threads)
        self.device = host_device()

    def cache_key(self) -> str:
        return f"{self.name}|{self.device}|{self.protocol.describe()}"

    def compute(self, candidate: Candidate) -> dict[str, Value]:
        times = time_module(candidate.module, candidate.space.input_shape, self.protocol)
        source = f"host-torch on {self.device}: {self.protocol.describe()}"
        return {"latency_ms": Value(statistics.median(times) * 1e3, "measured", source)}
