"""Host latency measured with onnxruntime on the candidate exported to ONNX.

The candidate's :class:`~moo_nas.arch.SpecNet` is exported with the TorchScript-based
exporter (``torch.onnx.export(..., dynamo=False)``: the torch.export-based one needs the
``onnxscript`` package) and timed in an onnxruntime CPU session with a recorded protocol
(batch, warm-up runs, timed repeats, intra-op threads, statistic).

By default the graph is exported in float32 whatever the layer formats are: onnxruntime on the
host executes float graphs, and exporting the fake-quantisation ops that emulate a format
during training would time the emulation, not the network.  ``emulate_formats=True`` exports
the module as it is (formats emulated), and says so in the value's source.
"""

from __future__ import annotations

import platform
import statistics
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..arch import ArchSpec, build_module
from ..objectives import Candidate, MetricDef, MetricProvider, Value, register_provider
from ..training import cpu_name
from .host import TimingProtocol


def float_module(arch: ArchSpec) -> torch.nn.Module:
    """A float32 build of ``arch`` (every layer format replaced by fp32), in eval mode."""
    return build_module(arch.with_formats("fp32", "fp32")).eval()


def export_onnx(module: torch.nn.Module, input_shape: Sequence[int], path: str | Path,
                batch: int = 1) -> Path:
    """Export ``module`` (eval mode, fixed batch) to an ONNX file; returns the path.

    Input name ``input``, output name ``output``; constants folded (BatchNorm into conv).
    """
    path = Path(path)
    module = module.eval()
    x = torch.zeros(batch, *input_shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter warns that it is legacy
        with torch.no_grad():
            torch.onnx.export(module, (x,), str(path), dynamo=False, input_names=["input"],
                              output_names=["output"], do_constant_folding=True,
                              opset_version=17)
    return path


def make_session(path: str | Path, threads: int = 1):
    """An onnxruntime CPU inference session with ``threads`` intra-op threads, sequential
    execution and all graph optimisations."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads)
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def time_session(session, input_shape: Sequence[int], protocol: TimingProtocol) -> list[float]:
    """Seconds per ``session.run`` (one batch), one entry per timed repeat, after warm-up."""
    x = np.random.default_rng(0).standard_normal((protocol.batch, *input_shape)).astype(np.float32)
    feed = {session.get_inputs()[0].name: x}
    for _ in range(protocol.warmup):
        session.run(None, feed)
    times = []
    for _ in range(protocol.repeats):
        t0 = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - t0)
    return times


def summarise(times: Sequence[float], statistic: str) -> float:
    """Reduce repeat times with the protocol's statistic (``median``, ``mean`` or ``min``)."""
    if statistic == "median":
        return statistics.median(times)
    if statistic == "mean":
        return statistics.fmean(times)
    if statistic == "min":
        return min(times)
    raise ValueError(f"unknown statistic {statistic!r}")


@dataclass(frozen=True)
class OrtMeasurement:
    """One onnxruntime timing: the statistic in seconds, every repeat, and the protocol."""

    seconds: float
    times: tuple[float, ...]
    protocol: TimingProtocol
    device: str
    emulate_formats: bool

    def source(self) -> str:
        import onnxruntime as ort

        fmt = "layer formats emulated" if self.emulate_formats else "float32 graph"
        return (f"measured: onnxruntime {ort.__version__} CPU on {self.device}, "
                f"{self.protocol.describe()}, {fmt}")


def measure_onnx(arch: ArchSpec, input_shape: Sequence[int], protocol: TimingProtocol,
                 module: torch.nn.Module | None = None,
                 emulate_formats: bool = False) -> OrtMeasurement:
    """Export ``arch`` (or ``module`` when formats are emulated) and time it with onnxruntime."""
    if emulate_formats:
        module = module if module is not None else build_module(arch)
    else:
        module = float_module(arch)
    with tempfile.TemporaryDirectory(prefix="moo_nas_onnx_") as tmp:
        path = export_onnx(module, input_shape, Path(tmp) / "model.onnx", protocol.batch)
        session = make_session(path, protocol.threads)
        times = time_session(session, input_shape, protocol)
    return OrtMeasurement(summarise(times, protocol.statistic), tuple(times), protocol,
                          cpu_name(), emulate_formats)


@register_provider
class OnnxRuntimeLatency(MetricProvider):
    """``latency_ort_ms``: onnxruntime CPU latency of one batch on this host (measured).

    Options: ``batch`` (1), ``warmup`` (10), ``repeats`` (50), ``threads`` (1), ``statistic``
    (``median``), ``emulate_formats`` (False).  Results are shared per architecture through
    :meth:`cache_key` (the key names the runtime, the host and the protocol).
    """

    name = "onnxruntime"
    stage = "model"
    metrics = (MetricDef("latency_ort_ms", "ms", "min", "model",
                         "measured host latency, onnxruntime CPU, batch 1 by default"),)

    def __init__(self, batch: int = 1, warmup: int = 10, repeats: int = 50, threads: int = 1,
                 statistic: str = "median", emulate_formats: bool = False):
        from ..errors import UserError

        if statistic not in ("median", "mean", "min"):
            raise UserError(f"onnxruntime statistic {statistic!r} is unknown; use median, mean or min.")
        for key, value in (("batch", batch), ("repeats", repeats), ("threads", threads)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserError(f"onnxruntime option {key} must be a positive integer, got {value!r}.")
        if not isinstance(warmup, int) or warmup < 0:
            raise UserError(f"onnxruntime option warmup must be a non-negative integer, got {warmup!r}.")
        self.protocol = TimingProtocol(batch, warmup, repeats, statistic, threads)
        self.emulate_formats = bool(emulate_formats)
        self.device = cpu_name()

    def cache_key(self) -> str:
        import onnxruntime as ort

        return (f"{self.name}|ort {ort.__version__}|{self.device}|{self.protocol.describe()}"
                f"|emulate_formats={self.emulate_formats}")

    def measure(self, candidate: Candidate) -> OrtMeasurement:
        """Time the candidate (its built module is used only when formats are emulated)."""
        return measure_onnx(candidate.arch, candidate.space.input_shape, self.protocol,
                            candidate.module, self.emulate_formats)

    def compute(self, candidate: Candidate) -> dict[str, Value]:
        m = self.measure(candidate)
        return {"latency_ort_ms": Value(m.seconds * 1e3, "measured", m.source())}
