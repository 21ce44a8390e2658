"""Microcontroller latency / energy / memory model (STM32H7-class Cortex-M7 targets).

A pure, linear model of an :class:`~moo_nas.arch.ArchSpec`'s layer shapes, so the same
functions give the modelled cost of a fixed network and a differentiable cost when channel
counts are torch scalars (mask-based DNAS):

    cycles  = sum_layers [ MACs x cycles_per_mac[layer class, format class]
                           + bytes moved x cycles_per_byte + cycles_per_layer ]
              + cycles_per_inference
    latency = cycles / clock_hz
    energy  = latency x active_power_w
    flash   = model bytes (weights + biases at each layer's format)
    RAM     = peak live activations + the largest int-convolution im2col scratch buffer

Layer classes come from :func:`moo_nas.hardware.features.layer_class`; format classes are
``fp32``, ``half`` (fp16, bf16 and reduced floats of at most 16 bits: stored narrow, computed in
fp32 after conversion — the Cortex-M7 FPU has no half-precision arithmetic), ``int8`` and
``int4`` (int4 and int2: unpacked to int8 before the SIMD MAC).

API for search code (all accept torch scalars in channel counts)::

    from moo_nas.hardware import mcu
    mcu.latency_seconds(arch)            # default target mcu.STM32H743
    mcu.energy_joules(arch, target)
    mcu.flash_bytes(arch), mcu.ram_bytes(arch)
    mcu.cycles(arch, target), mcu.cycle_terms(arch)   # the linear terms, for fitting

Built-in targets are data files in ``moo_nas/hardware/targets/`` (one JSON object per target,
the format of :meth:`McuTarget.to_json`); each names its ``provenance`` and, per group of
constants, its ``sources``:

* ``stm32h743`` (the default; NUCLEO-H743ZI2, Cortex-M7 at 480 MHz): clock and memories from
  ST DS12110 / UM2407; int8 convolution 1.75 cycles/MAC derived from CMSIS-NN (arXiv
  1801.06601: a CIFAR-10 CNN of ~12.3 M MACs in 99.1 ms at 216 MHz); 0.25 cycles per byte
  derived from the 64-bit AXI bus at half the core clock; the other cycles/MAC, the per-layer
  (3000) and per-inference (10000) cycles and the 0.45 W active power are assumed (for
  comparison, the fitted H7A3 below: 0.95 int8 cycles/MAC under X-CUBE-AI, 0.127 W at
  280 MHz; the H743 constants stand for CMSIS-NN and are kept as they were).
* ``stm32h7a3`` (NUCLEO-H7A3ZI-Q, Cortex-M7 at 280 MHz, X-CUBE-AI 9.0.0): int8 cycles per MAC,
  cycles per byte and active power fitted by :mod:`moo_nas.hardware.mcu_fit` to the MLPerf
  Tiny v1.2 closed-division latency and energy of its four reference networks (the file
  carries the fit's per-network and leave-one-out errors).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .. import costs
from ..arch import ArchSpec, OpSpec
from ..errors import UserError, unknown_name
from ..formats import get_format
from ..objectives import (Candidate, MetricDef, MetricProvider, Objective, Value,
                          make_objective, register_provider)
from .features import MAC_CLASSES, layer_class, op_traffic_bytes

Number = Any  # float | int | torch.Tensor
FORMAT_CLASSES = ("fp32", "half", "int8", "int4")


def format_class(name: str) -> str:
    """Compute class of a number format: ``fp32``, ``half``, ``int8`` or ``int4``."""
    f = get_format(name)
    if f.kind == "int":
        return "int8" if f.bits >= 8 else "int4"
    return "fp32" if f.bits > 16 else "half"


@dataclass(frozen=True)
class McuTarget:
    """Constants of one microcontroller target.  ``cycles_per_mac`` maps
    ``"<layer class>:<format class>"`` to cycles; ``sources`` says where each group came from."""

    name: str
    clock_hz: float
    cycles_per_mac: dict[str, float]
    cycles_per_byte: float
    cycles_per_layer: float
    cycles_per_inference: float
    active_power_w: float
    flash_limit_bytes: float
    ram_limit_bytes: float
    sources: dict[str, str] = field(default_factory=dict)
    provenance: str = "modelled"
    runtime: str = ""

    def constants(self) -> dict[str, float]:
        """The cycle constants by term name (the keys of :func:`cycle_terms`)."""
        out = {f"mac:{k}": float(v) for k, v in self.cycles_per_mac.items()}
        out["bytes"] = float(self.cycles_per_byte)
        out["layers"] = float(self.cycles_per_layer)
        out["inference"] = float(self.cycles_per_inference)
        return out

    def with_constants(self, constants: dict[str, float], name: str | None = None,
                       source: str | None = None) -> "McuTarget":
        """Copy with some cycle constants replaced (keys as in :meth:`constants`)."""
        cpm = dict(self.cycles_per_mac)
        kw: dict[str, Any] = {}
        for key, value in constants.items():
            if key.startswith("mac:"):
                cpm[key[4:]] = float(value)
            elif key in ("bytes", "layers", "inference"):
                kw[{"bytes": "cycles_per_byte", "layers": "cycles_per_layer",
                    "inference": "cycles_per_inference"}[key]] = float(value)
            else:
                raise KeyError(key)
        sources = dict(self.sources)
        if source:
            sources["fitted"] = source
        return replace(self, name=name or self.name, cycles_per_mac=cpm, sources=sources, **kw)

    def describe(self) -> str:
        runtime = f", {self.runtime}" if self.runtime else ""
        return (f"{self.name} @ {self.clock_hz / 1e6:g} MHz{runtime}, "
                f"{self.active_power_w:g} W active, "
                f"flash {self.flash_limit_bytes:g} B, RAM {self.ram_limit_bytes:g} B")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "clock_hz": self.clock_hz,
                "cycles_per_mac": dict(self.cycles_per_mac),
                "cycles_per_byte": self.cycles_per_byte, "cycles_per_layer": self.cycles_per_layer,
                "cycles_per_inference": self.cycles_per_inference,
                "active_power_w": self.active_power_w,
                "flash_limit_bytes": self.flash_limit_bytes,
                "ram_limit_bytes": self.ram_limit_bytes, "sources": dict(self.sources),
                "provenance": self.provenance, "runtime": self.runtime}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "McuTarget":
        try:
            return cls(str(data["name"]), float(data["clock_hz"]),
                       {str(k): float(v) for k, v in data["cycles_per_mac"].items()},
                       float(data["cycles_per_byte"]), float(data["cycles_per_layer"]),
                       float(data["cycles_per_inference"]), float(data["active_power_w"]),
                       float(data["flash_limit_bytes"]), float(data["ram_limit_bytes"]),
                       {str(k): str(v) for k, v in data.get("sources", {}).items()},
                       str(data.get("provenance", "modelled")), str(data.get("runtime", "")))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UserError(f"MCU target description is incomplete or malformed ({exc}); "
                            "write it with McuTarget.to_json.") from None


TARGET_DIR = Path(__file__).with_name("targets")


def _builtin_targets() -> dict[str, McuTarget]:
    out = {}
    for path in sorted(TARGET_DIR.glob("*.json")):
        target = McuTarget.from_json(json.loads(path.read_text()))
        out[target.name] = target
    return out


#: built-in targets by name, read from the data files in :data:`TARGET_DIR`
TARGETS: dict[str, McuTarget] = _builtin_targets()
STM32H743 = TARGETS["stm32h743"]


def get_target(target: "str | McuTarget | None") -> McuTarget:
    """A built-in target by name (a key of :data:`TARGETS`), a path to a JSON file written by
    :meth:`McuTarget.to_json` (e.g. fitted constants), or a target passed through."""
    if target is None:
        return STM32H743
    if isinstance(target, McuTarget):
        return target
    if target in TARGETS:
        return TARGETS[target]
    path = Path(target)
    if path.suffix == ".json":
        if not path.is_file():
            raise UserError(f"MCU target file {target!r} does not exist; give an existing JSON file.")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise UserError(f"MCU target file {target!r} is not valid JSON ({exc.msg}).") from None
        if isinstance(data, dict) and "mcu_target" in data:
            data = data["mcu_target"]
        return McuTarget.from_json(data)
    raise unknown_name("MCU target", str(target), TARGETS)


# ----------------------------------------------------------------------------- pure model
def op_cycle_terms(op: OpSpec, sizes: dict[str, Number]) -> dict[str, Number]:
    """Linear terms of one operation: MACs under ``mac:<class>:<fmt class>``, ``bytes``
    moved and one ``layers``.  ``sizes`` is :func:`moo_nas.costs.tensor_bytes` of the network."""
    terms: dict[str, Number] = {"bytes": op_traffic_bytes(op, sizes), "layers": 1}
    cls = layer_class(op)
    if cls in MAC_CLASSES:
        terms[f"mac:{cls}:{format_class(op.weight_format)}"] = costs.op_macs(op)
    return terms


def cycle_terms(arch: ArchSpec) -> dict[str, Number]:
    """The model's linear terms summed over a network (keys as in :meth:`McuTarget.constants`);
    ``cycles = sum(terms[k] * target.constants()[k])``."""
    sizes = costs.tensor_bytes(arch)
    total: dict[str, Number] = {"inference": 1}
    for op in arch.ops:
        for k, v in op_cycle_terms(op, sizes).items():
            total[k] = total[k] + v if k in total else v
    return total


def _dot(terms: dict[str, Number], target: McuTarget) -> Number:
    consts = target.constants()
    missing = [k for k in terms if k not in consts]
    if missing:
        raise UserError(f"MCU target {target.name!r} has no constant for {missing}; "
                        "add it to cycles_per_mac or fit it with calibration.")
    return sum(terms[k] * consts[k] for k in sorted(terms))


def op_cycles(op: OpSpec, sizes: dict[str, Number], target: McuTarget = STM32H743) -> Number:
    """Cycles of one operation (no per-inference overhead)."""
    return _dot(op_cycle_terms(op, sizes), target)


def cycles(arch: ArchSpec, target: McuTarget = STM32H743) -> Number:
    """Cycles of one inference of ``arch`` on ``target``."""
    return _dot(cycle_terms(arch), target)


def latency_seconds(arch: ArchSpec, target: McuTarget = STM32H743) -> Number:
    """Modelled latency of one inference in seconds (differentiable in channel counts)."""
    return cycles(arch, target) / target.clock_hz


def energy_joules(arch: ArchSpec, target: McuTarget = STM32H743) -> Number:
    """Modelled energy of one inference in joules: latency x active power."""
    return latency_seconds(arch, target) * target.active_power_w


def flash_bytes(arch: ArchSpec, target: McuTarget = STM32H743) -> Number:
    """Flash taken by the model: weights and biases at each layer's format."""
    return costs.model_bytes(arch)


def scratch_bytes(op: OpSpec) -> Number:
    """im2col scratch of an integer k x k convolution: two columns of C_in k^2 int16 values
    (CMSIS-NN's buffer); 0 for other layers."""
    if layer_class(op) == "conv" and get_format(op.weight_format).kind == "int":
        return 2 * op.in_channels * math.prod(op.kernel) * 2
    return 0


def ram_bytes(arch: ArchSpec, target: McuTarget = STM32H743) -> Number:
    """RAM for inference: peak live activations plus the largest scratch buffer."""
    best: Number = 0
    for op in arch.ops:
        best = _larger(best, scratch_bytes(op))
    return costs.peak_activation_bytes(arch) + best


def _larger(a: Number, b: Number) -> Number:
    """max(a, b) that keeps autograd when either is a torch tensor."""
    if hasattr(a, "requires_grad") or hasattr(b, "requires_grad"):
        import torch

        return torch.maximum(torch.as_tensor(a, dtype=torch.float32),
                             torch.as_tensor(b, dtype=torch.float32))
    return max(a, b)


def constraint_objectives(target: McuTarget = STM32H743) -> tuple[Objective, Objective]:
    """``flash_bytes <= flash limit`` and ``ram_bytes <= RAM limit`` of a target."""
    return (make_objective("flash_bytes", target.flash_limit_bytes),
            make_objective("ram_bytes", target.ram_limit_bytes))


# ----------------------------------------------------------------------------- provider
@register_provider
class McuProvider(MetricProvider):
    """Modelled MCU latency, energy, flash and RAM (options: ``target`` name or JSON path)."""

    name = "mcu"
    stage = "arch"
    metrics = (
        MetricDef("mcu_latency_ms", "ms", "min", "arch",
                  "modelled MCU latency per inference (default STM32H743 @ 480 MHz)"),
        MetricDef("mcu_energy_mj", "mJ", "min", "arch",
                  "modelled MCU energy per inference: latency x active power"),
        MetricDef("flash_bytes", "B", "min", "arch",
                  "MCU flash for the weights (bound it with the target's flash)"),
        MetricDef("ram_bytes", "B", "min", "arch",
                  "MCU RAM: peak activations + im2col scratch (bound it with the target's RAM)"),
    )

    def __init__(self, target: str = "stm32h743"):
        self.target = get_target(target)

    def compute(self, candidate: Candidate) -> dict[str, Value]:
        a, t = candidate.arch, self.target
        src = f"{t.provenance}: MCU model {t.describe()} (moo_nas.hardware.mcu)"
        lat = float(latency_seconds(a, t))
        return {
            "mcu_latency_ms": Value(lat * 1e3, "modelled", src),
            "mcu_energy_mj": Value(lat * t.active_power_w * 1e3, "modelled", src),
            "flash_bytes": Value(float(flash_bytes(a, t)), "modelled", src),
            "ram_bytes": Value(float(ram_bytes(a, t)), "modelled", src),
        }
