"""GPU latency (CUDA events) and energy (NVML energy counter), measured.

* ``gpu-cuda`` → ``gpu_latency_ms``: each timed repeat is bracketed by CUDA events on the
  current stream; the statistic (median by default) of the repeats is reported.
* ``gpu-nvml`` → ``gpu_energy_mj`` (and the mean power in the source): the board's total
  energy counter (``nvmlDeviceGetTotalEnergyConsumption``, millijoules, Volta or newer) is read
  before and after a timed loop of at least ``repeats`` inferences lasting at least
  ``min_seconds`` (the counter updates a few times per second); energy per inference is the
  difference divided by the number of inferences.  It is whole-board energy, idle power
  included, and the source says so.

Both are registered as usable only when a CUDA device (and, for energy, a supporting NVML) is
present; otherwise their metric names are taken by a stand-in that raises a
:class:`~moo_nas.errors.UserError` when asked for (see :mod:`.availability`).  Importing this
module never needs a GPU.
"""

from __future__ import annotations

import time
from typing import Sequence

import torch

from ..errors import UserError
from ..objectives import Candidate, MetricDef, MetricProvider, Value, register_provider
from .availability import register_unavailable
from .host import EnergyMeasurement, TimingProtocol
from .onnx_runtime import summarise

LATENCY = MetricDef("gpu_latency_ms", "ms", "min", "model",
                    "measured GPU latency per batch (CUDA events, batch 1 by default)")
ENERGY = MetricDef("gpu_energy_mj", "mJ", "min", "model",
                   "measured GPU board energy per inference (NVML energy counter)")


def cuda_available() -> bool:
    """Whether torch sees a CUDA device."""
    return torch.cuda.is_available() and torch.cuda.device_count() > 0


def _nvml_handle(device: int = 0):
    """NVML handle of torch's CUDA device ``device`` (matched by PCI bus id when possible)."""
    import pynvml

    pynvml.nvmlInit()
    props = torch.cuda.get_device_properties(device)
    bus = getattr(props, "pci_bus_id", None)
    if bus is not None:
        pci = f"{getattr(props, 'pci_domain_id', 0):08x}:{bus:02x}:{getattr(props, 'pci_device_id', 0):02x}.0"
        try:
            return pynvml.nvmlDeviceGetHandleByPciBusId(pci)
        except pynvml.NVMLError:
            pass
    return pynvml.nvmlDeviceGetHandleByIndex(device)


def nvml_energy_reason() -> str | None:
    """None when NVML's energy counter can be read for device 0, else why not."""
    if not cuda_available():
        return "no CUDA GPU is visible; run on a machine with an NVIDIA GPU"
    try:
        import pynvml

        pynvml.nvmlDeviceGetTotalEnergyConsumption(_nvml_handle(0))
    except ImportError:
        return "the nvidia-ml-py package is missing; install it (pip install nvidia-ml-py)"
    except Exception as exc:  # NVMLError_NotSupported on pre-Volta boards, driver problems
        return f"NVML cannot read the GPU energy counter ({exc}); use a Volta or newer GPU"
    return None


def _batch(protocol: TimingProtocol, input_shape: Sequence[int], device: torch.device) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randn(protocol.batch, *input_shape, generator=g).to(device)


def time_cuda(module: torch.nn.Module, input_shape: Sequence[int],
              protocol: TimingProtocol) -> list[float]:
    """Seconds per forward pass on the GPU, one per timed repeat (CUDA events)."""
    if not cuda_available():
        raise UserError("GPU timing needs a CUDA GPU and none is visible; use latency_ort_ms.")
    dev = torch.device("cuda", torch.cuda.current_device())
    module = module.to(dev).eval()
    x = _batch(protocol, input_shape, dev)
    times = []
    with torch.inference_mode():
        for _ in range(protocol.warmup):
            module(x)
        torch.cuda.synchronize(dev)
        for _ in range(protocol.repeats):
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            module(x)
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
    return times


def measure_energy(module: torch.nn.Module, input_shape: Sequence[int],
                   protocol: TimingProtocol, min_seconds: float = 2.0) -> EnergyMeasurement:
    """Energy per inference from the NVML counter over >= ``protocol.repeats`` inferences and
    >= ``min_seconds`` of back-to-back execution."""
    reason = nvml_energy_reason()
    if reason:
        raise UserError(f"GPU energy cannot be measured: {reason}")
    import pynvml

    dev = torch.device("cuda", torch.cuda.current_device())
    handle = _nvml_handle(dev.index)
    module = module.to(dev).eval()
    x = _batch(protocol, input_shape, dev)
    with torch.inference_mode():
        for _ in range(protocol.warmup):
            module(x)
        torch.cuda.synchronize(dev)
        e0 = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        t0 = time.perf_counter()
        n = 0
        while True:
            for _ in range(protocol.repeats):
                module(x)
            n += protocol.repeats
            torch.cuda.synchronize(dev)
            if time.perf_counter() - t0 >= min_seconds:
                break
        elapsed = time.perf_counter() - t0
        e1 = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    joules = (e1 - e0) / 1e3
    return EnergyMeasurement.of_loop(joules, n * protocol.batch, elapsed)


class GpuLatency(MetricProvider):
    """``gpu_latency_ms`` with CUDA events (options: batch, warmup, repeats, statistic)."""

    name = "gpu-cuda"
    stage = "model"
    metrics = (LATENCY,)

    def __init__(self, batch: int = 1, warmup: int = 20, repeats: int = 100,
                 statistic: str = "median"):
        if not cuda_available():
            raise UserError("gpu_latency_ms needs a CUDA GPU and none is visible; "
                            "use latency_ort_ms or run on a GPU machine.")
        self.protocol = TimingProtocol(batch, warmup, repeats, statistic, 1)
        self.device = "cuda:" + torch.cuda.get_device_name(torch.cuda.current_device())

    def cache_key(self) -> str:
        return f"{self.name}|{self.device}|torch {torch.__version__}|{self.protocol.describe()}"

    def compute(self, candidate: Candidate) -> dict[str, Value]:
        assert candidate.module is not None  # a "model"-stage provider gets the built module
        times = time_cuda(candidate.module, candidate.space.input_shape, self.protocol)
        src = (f"measured: CUDA events on {self.device}, PyTorch eager, "
               f"{self.protocol.describe().replace(', 1 thread(s)', '')}")
        return {"gpu_latency_ms": Value(summarise(times, self.protocol.statistic) * 1e3,
                                        "measured", src)}


class GpuEnergy(MetricProvider):
    """``gpu_energy_mj`` from the NVML energy counter (options: batch, warmup, repeats,
    min_seconds)."""

    name = "gpu-nvml"
    stage = "model"
    metrics = (ENERGY,)

    def __init__(self, batch: int = 1, warmup: int = 20, repeats: int = 100,
                 min_seconds: float = 2.0):
        reason = nvml_energy_reason()
        if reason:
            raise UserError(f"gpu_energy_mj cannot be measured: {reason}")
        self.protocol = TimingProtocol(batch, warmup, repeats, "total", 1)
        self.min_seconds = float(min_seconds)
        self.device = "cuda:" + torch.cuda.get_device_name(torch.cuda.current_device())

    def cache_key(self) -> str:
        return (f"{self.name}|{self.device}|torch {torch.__version__}|batch {self.protocol.batch}"
                f"|>= {self.protocol.repeats} inferences and {self.min_seconds:g} s")

    def compute(self, candidate: Candidate) -> dict[str, Value]:
        assert candidate.module is not None  # a "model"-stage provider gets the built module
        m = measure_energy(candidate.module, candidate.space.input_shape, self.protocol,
                           self.min_seconds)
        src = (f"measured: NVML total-energy counter on {self.device} (whole board, idle "
               f"included), {m.inferences} inferences of batch {self.protocol.batch} "
               f"back-to-back in {m.seconds:.2f} s after {self.protocol.warmup} warm-up")
        return {"gpu_energy_mj": m.value(src)}


#: the providers registered as ``gpu-cuda`` / ``gpu-nvml``: the real ones where a GPU (and NVML
#: energy) is usable, otherwise stand-ins that refuse with the reason
LATENCY_PROVIDER: type[MetricProvider]
ENERGY_PROVIDER: type[MetricProvider]
if cuda_available():
    LATENCY_PROVIDER = register_provider(GpuLatency)
else:
    LATENCY_PROVIDER = register_unavailable(
        "gpu-cuda", (LATENCY,), "no CUDA GPU is visible; use latency_ort_ms or run on a GPU machine.")
_ENERGY_REASON = nvml_energy_reason()
if _ENERGY_REASON is None:
    ENERGY_PROVIDER = register_provider(GpuEnergy)
else:
    ENERGY_PROVIDER = register_unavailable("gpu-nvml", (ENERGY,), _ENERGY_REASON.rstrip(".") + ".")

__all__ = ["GpuLatency", "GpuEnergy", "time_cuda", "measure_energy", "cuda_available",
           "nvml_energy_reason", "EnergyMeasurement"]
