"""Per-layer hardware features of a network, aggregated per network.

Hardware cost models in this package (the MCU model, calibrated regressions) are linear in a
few per-layer quantities summed over the network: multiply-accumulates split by layer class
and number format, bytes moved, number of layers, channels and im2col size.  This module
defines the layer classes and computes those sums from an :class:`~moo_nas.arch.ArchSpec`
alone (no module is built, nothing is timed).

Layer classes: ``conv`` (k x k convolution, k > 1), ``pointwise`` (1 x 1 convolution),
``depthwise``, ``linear``, ``add`` (residual join), ``gap`` (global average pooling).
"""

from __future__ import annotations

import math

from .. import costs
from ..arch import ArchSpec, Number, OpSpec

LAYER_CLASSES = ("conv", "pointwise", "depthwise", "linear", "add", "gap")
MAC_CLASSES = ("conv", "pointwise", "depthwise", "linear")


def layer_class(op: OpSpec) -> str:
    """Class of an operation as cost models see it (one of :data:`LAYER_CLASSES`)."""
    if op.kind == "conv":
        if op.depthwise:
            return "depthwise"
        return "pointwise" if math.prod(op.kernel) == 1 else "conv"
    return op.kind


def op_traffic_bytes(op: OpSpec, sizes: dict[str, Number]) -> Number:
    """Bytes an operation reads and writes: its input tensors, its output tensor, its weights.

    ``sizes`` is :func:`moo_nas.costs.tensor_bytes` of the network (tensor name -> bytes).
    Works with torch scalars in the channel counts.
    """
    return sum(sizes[t] for t in op.inputs) + sizes[op.output] + costs.op_weight_bytes(op)


def network_features(arch: ArchSpec, channel_block: int = 16) -> dict[str, float]:
    """Per-layer features summed over a network, by name.

    Keys (only those that are non-zero for this network appear):

    ``ops:<class>``       number of layers of each class;
    ``macs:<class>:<fmt>`` MACs of each MAC-carrying class at the layer's weight format;
    ``im2col:<fmt>``      input elements gathered by k x k convolutions (C_in k^2 H_out W_out);
    ``channels``          output channels of conv / linear layers (per-channel work: bias, BN);
    ``act_bytes``         activation bytes read and written by all layers;
    ``weight_bytes``      weight and bias bytes read;
    ``unaligned_macs:<class>``, ``unaligned_out`` MACs and output elements of layers whose
                          output channels are not a multiple of ``channel_block`` (SIMD
                          runtimes block channels; onnxruntime's x86 kernels slow down markedly
                          off the block — measured here with a block of 16).
    """
    sizes = costs.tensor_bytes(arch)
    feats: dict[str, float] = {}

    def add(key: str, value: Number) -> None:
        v = float(value)
        if v:
            feats[key] = feats.get(key, 0.0) + v

    for op in arch.ops:
        cls = layer_class(op)
        add(f"ops:{cls}", 1.0)
        if cls in MAC_CLASSES:
            add(f"macs:{cls}:{op.weight_format}", costs.op_macs(op))
            add("channels", op.out_channels)
        if cls in MAC_CLASSES and channel_block > 1 and op.out_channels % channel_block:
            add(f"unaligned_macs:{cls}", costs.op_macs(op))
            add("unaligned_out", op.out_channels * math.prod(op.out_spatial))
        if cls == "conv":
            add(f"im2col:{op.weight_format}",
                op.in_channels * math.prod(op.kernel) * math.prod(op.out_spatial))
        weights = costs.op_weight_bytes(op)
        add("act_bytes", op_traffic_bytes(op, sizes) - weights)
        add("weight_bytes", weights)
    return feats
