"""Analytic cost formulas: pure functions of an :class:`~moo_nas.arch.ArchSpec`'s layer shapes.

Every function accepts channel counts that are Python numbers *or* torch scalars, so a
mask-based DNAS can pass continuous effective channel counts and get a differentiable cost,
while a fixed network gets its exact cost.  No function looks at weights or runs a model.

Conventions (stated once, used everywhere a number is reported as "modelled: analytic"):

* **params** – deployable parameters after folding BatchNorm into the preceding layer:
  convolution / linear weights plus one bias per output channel.
* **model bytes** – weights at their layer's weight format's bit-width plus biases at the
  format's bias width (int32 for integer formats); fractional bytes are kept (no padding).
* **MACs** – multiply-accumulates of convolution and linear layers for one input; additions,
  pooling and activations are not counted.
* **bitops** – MACs weighted by ``weight bits x input activation bits / 64`` (one per MAC at
  int8 x int8): the operation cost of a mixed-precision network.
* **peak activation bytes** – sequential execution in list order; at each operation the live
  set is its inputs, its output and every tensor produced earlier that a later operation still
  reads (e.g. a residual branch); the peak is the largest live-set size in bytes, each tensor at
  its producer's activation format (the input at the input format).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

from .arch import ArchSpec, Number, OpSpec
from .errors import unknown_name
from .formats import get_format


def _prod(xs: Sequence[Number]) -> Number:
    return math.prod(xs) if xs else 1


def _max(values: list[Number]) -> Number:
    """max() that keeps torch autograd when any value is a tensor."""
    if any(hasattr(v, "requires_grad") for v in values):
        import torch

        return torch.stack([torch.as_tensor(v, dtype=torch.float32) for v in values]).max()
    return max(values)


def op_weights(op: OpSpec) -> Number:
    """Weight count of one operation (0 for add / pooling)."""
    if op.kind == "conv":
        per_group_in = 1 if op.depthwise else op.in_channels / op.groups
        return op.out_channels * per_group_in * _prod(op.kernel)
    if op.kind == "linear":
        return op.out_channels * op.in_channels
    return 0


def op_biases(op: OpSpec) -> Number:
    """Bias count after BatchNorm folding: one per output channel of conv / linear layers."""
    return op.out_channels if op.kind in ("conv", "linear") else 0


def op_macs(op: OpSpec) -> Number:
    """Multiply-accumulates of one operation for a single input sample."""
    if op.kind == "conv":
        return op_weights(op) * _prod(op.out_spatial)
    if op.kind == "linear":
        return op_weights(op)
    return 0


def op_weight_bytes(op: OpSpec) -> Number:
    fmt = get_format(op.weight_format)
    return op_weights(op) * fmt.bits / 8 + op_biases(op) * fmt.bias_bits / 8


def params(arch: ArchSpec) -> Number:
    """Deployable parameter count (weights + folded biases)."""
    return sum(op_weights(op) + op_biases(op) for op in arch.ops)


def model_bytes(arch: ArchSpec) -> Number:
    """Bytes of the stored model at each layer's number format."""
    return sum(op_weight_bytes(op) for op in arch.ops)


def macs(arch: ArchSpec) -> Number:
    """Multiply-accumulates for one inference."""
    return sum(op_macs(op) for op in arch.ops)


def tensor_bytes(arch: ArchSpec) -> dict[str, Number]:
    """Size in bytes of every named tensor (the input and each op's output)."""
    sizes: dict[str, Number] = {
        "input": arch.in_channels * _prod(arch.in_spatial)
        * get_format(arch.input_format).bits / 8
    }
    for op in arch.ops:
        sizes[op.output] = op.out_channels * _prod(op.out_spatial) * get_format(op.act_format).bits / 8
    return sizes


def live_bytes_per_op(arch: ArchSpec) -> list[Number]:
    """Live activation bytes while each operation runs (see module docstring)."""
    sizes = tensor_bytes(arch)
    produced_at = {"input": -1}
    last_use: dict[str, int] = {}
    for i, op in enumerate(arch.ops):
        produced_at[op.output] = i
        for t in op.inputs:
            last_use[t] = i
    last_use[arch.output] = len(arch.ops)
    live = []
    for i, op in enumerate(arch.ops):
        names = {t for t, p in produced_at.items() if p < i and last_use.get(t, -2) >= i}
        names |= set(op.inputs) | {op.output}
        live.append(sum(sizes[t] for t in sorted(names)))
    return live


def peak_activation_bytes(arch: ArchSpec) -> Number:
    """Largest live activation memory over sequential execution."""
    return _max(live_bytes_per_op(arch))


# ----------------------------------------------------------------------------- bitops
def op_bitops(op: OpSpec, input_bits: Number) -> Number:
    """MACs of one operation weighted by ``weight bits x input_bits / 64``.

    ``input_bits`` is the bit-width of the operation's input activations (a torch scalar when
    a precision search passes an expected bit-width); the weight bits are those of the
    operation's weight format."""
    return op_macs(op) * get_format(op.weight_format).bits * input_bits / 64


def bitops(arch: ArchSpec) -> Number:
    """Bit-weighted MACs of a network (see the module docstring); each operation's input bits
    are its first input's activation format (the input format for the network input)."""
    bits = {"input": get_format(arch.input_format).bits}
    total: Number = 0
    for op in arch.ops:
        total = total + op_bitops(op, bits[op.inputs[0]])
        bits[op.output] = get_format(op.act_format).bits
    return total


# ----------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class AnalyticCost:
    """One analytic cost: its metric name, the function of an :class:`ArchSpec` computing it
    (differentiable in channel counts), its unit, a one-line description and the provenance
    string reported with its values."""

    name: str
    function: Callable[[ArchSpec], Number]
    unit: str
    description: str
    source: str

    def __call__(self, arch: ArchSpec) -> Number:
        return self.function(arch)


_SRC = "modelled: analytic cost formulas (moo_nas.costs"
#: every analytic cost by metric name; read by the analytic metric provider, the DNAS losses
#: and the checks strategies make before training
ANALYTIC_COSTS: dict[str, AnalyticCost] = {c.name: c for c in (
    AnalyticCost("params", params, "count", "deployable parameters (BN folded)",
                 f"{_SRC}.params: weights + one bias per output channel, BN folded)"),
    AnalyticCost("model_bytes", model_bytes, "B", "weights+biases at each layer's format",
                 f"{_SRC}.model_bytes: weights at their format's bits, int32 biases for ints)"),
    AnalyticCost("macs", macs, "MAC", "multiply-accumulates per inference",
                 f"{_SRC}.macs: conv and linear multiply-accumulates, one input)"),
    AnalyticCost("bitops", bitops, "MAC@8x8", "MACs x weight bits x input bits / 64",
                 f"{_SRC}.bitops: MACs x weight bits x input activation bits / 64)"),
    AnalyticCost("peak_act_bytes", peak_activation_bytes, "B",
                 "peak live activation memory, sequential execution",
                 f"{_SRC}.peak_activation_bytes: largest live set, sequential execution)"),
)}


def analytic_cost(name: str) -> AnalyticCost:
    """The entry of :data:`ANALYTIC_COSTS` called ``name`` (``UserError`` when unknown)."""
    if name not in ANALYTIC_COSTS:
        raise unknown_name("analytic cost", name, ANALYTIC_COSTS)
    return ANALYTIC_COSTS[name]
