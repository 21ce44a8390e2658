"""Layer-level network descriptions and the generic module builder.

An :class:`ArchSpec` is the single source of truth about a candidate network: the built
``torch.nn.Module`` is made from it (:func:`build_module`) and the analytic costs in
:mod:`moo_nas.costs` are pure functions of it.  Channel counts are plain numbers so the same
description, with continuous *effective* channel counts, serves a mask-based DNAS as a
differentiable cost (the builder needs integers).

Operations run in list order on named tensors; ``"input"`` is the network's input.

Kinds:

``conv``    1-D or 2-D convolution (dimension = ``len(kernel)``), 'same' padding (see
            :func:`conv_padding`), optional BatchNorm and activation; ``groups ==
            in_channels`` makes it depthwise.
``linear``  fully connected layer on a flat tensor, optional activation.
``add``     element-wise sum of its inputs (residual join), optional activation.
``gap``     global average pooling to a flat tensor.

Kinds used by networks traced from user code (:mod:`moo_nas.byo`); their channel count
follows their input (``concat``: the sum of its inputs, ``flatten``: channels x positions):

``pool``    max (``mode="max"``) or average (``mode="avg"``) pooling over windows ``kernel``
            with ``stride`` and ``padding`` (average counts padded zeros, as torch does).
``act``     element-wise activation alone (when it cannot join the op before it).
``flatten`` all positions into channels: ``(C, *S) -> (C * prod(S),)``.
``concat``  concatenation of its inputs along channels.

``padding`` of a ``conv`` or ``pool`` is per spatial dimension; ``None`` (the default) means
``kernel // 2``.  A ``linear`` layer may carry a BatchNorm (``batchnorm=True``).

Activations: ``relu``, ``relu6``, ``sigmoid``, ``tanh``, ``silu``, ``gelu``, ``hardswish``,
``hardsigmoid``, ``elu`` and ``leaky_relu:<slope>``.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Sequence, TypeAlias, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .formats import get_format

#: a channel count or kernel size: a Python number for a fixed network, a torch scalar in the
#: effective description a mask-based DNAS builds (:meth:`moo_nas.dnas.supernet.MaskedNet.
#: effective_arch`), so the cost formulas stay differentiable
Number: TypeAlias = Union[float, torch.Tensor]

KINDS = ("conv", "linear", "add", "gap", "pool", "act", "flatten", "concat")


def conv_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """Zero padding ``(before, after)`` of one dimension of a convolution: TensorFlow 'same'.

    The output length is ``ceil(size / stride)``.  An even kernel is padded exactly as
    TensorFlow does: total ``max((ceil(size/stride) - 1) * stride + kernel - size, 0)``, the
    odd one at the end (bottom/right).  An odd kernel is centred: ``kernel // 2`` on both sides
    (PyTorch's usual padding), which gives the same output length; it differs from TensorFlow
    only in where TensorFlow puts one padding row at stride 2 on an even input (its sampling
    grid is shifted by one, shapes and costs are equal).  Centring keeps a kernel's centre tap
    on the same input sample for every kernel size, so a kernel-masked DNAS computes what the
    exported smaller kernel computes.
    """
    if kernel % 2:
        return kernel // 2, kernel // 2
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv_out(size: int, kernel: int, stride: int) -> int:
    """Output length of a convolution padded by :func:`conv_padding`."""
    before, after = conv_padding(size, kernel, stride)
    return (size + before + after - kernel) // stride + 1


def window_out(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a convolution or pooling window with explicit ``padding``."""
    return (size + 2 * padding - kernel) // stride + 1


@dataclass(frozen=True)
class OpSpec:
    """One operation of a network, with the shapes the cost formulas need."""

    name: str
    kind: str
    inputs: tuple[str, ...]
    output: str
    in_channels: Number
    out_channels: Number
    in_spatial: tuple[int, ...]
    out_spatial: tuple[int, ...]
    kernel: tuple[Number, ...] = ()
    stride: int = 1
    groups: Number = 1
    batchnorm: bool = False
    activation: str | None = None
    weight_format: str = "fp32"
    act_format: str = "fp32"
    padding: tuple[int, ...] | None = None
    mode: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown op kind {self.kind!r}")

    @property
    def depthwise(self) -> bool:
        return bool(self.kind == "conv" and self.groups == self.in_channels and self.groups != 1)

    @property
    def kernel_ints(self) -> tuple[int, ...]:
        """The kernel size per spatial dimension as integers (for building and running the
        layer; only a DNAS's effective description holds tensors)."""
        return tuple(int(k) for k in self.kernel)

    @property
    def pads(self) -> tuple[int, ...]:
        """Symmetric padding per spatial dimension of a pooling window (``kernel // 2`` unless
        given)."""
        if self.padding is not None:
            return tuple(self.padding)
        return tuple(k // 2 for k in self.kernel_ints)

    @property
    def pad_pairs(self) -> tuple[tuple[int, int], ...]:
        """``(before, after)`` zero padding per spatial dimension of a convolution: the explicit
        ``padding`` of a traced network, else :func:`conv_padding` (TensorFlow 'same' sizes)."""
        if self.padding is not None:
            return tuple((p, p) for p in self.padding)
        return tuple(conv_padding(s, k, self.stride)
                     for s, k in zip(self.in_spatial, self.kernel_ints))


#: fields added for traced networks, left out of fingerprints while at their defaults so the
#: fingerprints of every earlier network stay as they were
_OPTIONAL_FIELDS = {"padding": None, "mode": ""}


def _op_record(op: OpSpec) -> dict:
    d = asdict(op)
    for key, default in _OPTIONAL_FIELDS.items():
        if d.get(key) == default:
            d.pop(key)
    return d


@dataclass(frozen=True)
class ArchSpec:
    """A whole network: input description, operations in execution order, output tensor."""

    in_channels: float
    in_spatial: tuple[int, ...]
    ops: tuple[OpSpec, ...]
    output: str
    input_format: str = "fp32"
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    def fingerprint(self) -> str:
        """Stable hash of the network structure (two genotypes with equal specs share it)."""
        data = {
            "in": [self.in_channels, list(self.in_spatial), self.input_format],
            "ops": [_op_record(op) for op in self.ops],
            "out": self.output,
        }
        return hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()

    def op(self, name: str) -> OpSpec:
        for op in self.ops:
            if op.name == name:
                return op
        raise KeyError(name)

    def with_formats(self, weight: str | None = None, act: str | None = None) -> "ArchSpec":
        """Copy with every layer's weight and/or activation format replaced."""
        ops = tuple(
            replace(
                op,
                weight_format=weight or op.weight_format,
                act_format=act or op.act_format,
            )
            for op in self.ops
        )
        return replace(self, ops=ops)


class ArchBuilder:
    """Helper the spaces use to append operations while tracking tensor shapes."""

    def __init__(self, in_channels: float, in_spatial: Sequence[int], input_format: str = "fp32"):
        self.in_channels = in_channels
        self.in_spatial = tuple(in_spatial)
        self.input_format = input_format
        self.ops: list[OpSpec] = []
        self.shapes: dict[str, tuple[Number, tuple[int, ...]]] = {
            "input": (in_channels, self.in_spatial)
        }

    def conv(
        self,
        name: str,
        src: str,
        out_channels: Number,
        kernel: int | Sequence[int],
        stride: int = 1,
        depthwise: bool = False,
        batchnorm: bool = True,
        activation: str | None = "relu",
        weight_format: str = "fp32",
        act_format: str = "fp32",
    ) -> str:
        cin, spatial = self.shapes[src]
        if isinstance(kernel, int):
            kernel = (kernel,) * len(spatial)
        kernel = tuple(int(k) for k in kernel)
        out_sp = tuple(conv_out(s, k, stride) for s, k in zip(spatial, kernel))
        if depthwise:
            out_channels = cin
        self.ops.append(
            OpSpec(
                name, "conv", (src,), name, cin, out_channels, spatial, out_sp, kernel, stride,
                cin if depthwise else 1, batchnorm, activation, weight_format, act_format,
            )
        )
        self.shapes[name] = (out_channels, out_sp)
        return name

    def add(self, name: str, srcs: Sequence[str], activation: str | None = "relu",
            act_format: str = "fp32") -> str:
        c, sp = self.shapes[srcs[0]]
        for s in srcs[1:]:
            if self.shapes[s][1] != sp:
                raise ValueError(f"add {name}: spatial mismatch")
        self.ops.append(OpSpec(name, "add", tuple(srcs), name, c, c, sp, sp,
                               activation=activation, act_format=act_format))
        self.shapes[name] = (c, sp)
        return name

    def gap(self, name: str, src: str, act_format: str = "fp32") -> str:
        c, sp = self.shapes[src]
        self.ops.append(OpSpec(name, "gap", (src,), name, c, c, sp, (), act_format=act_format))
        self.shapes[name] = (c, ())
        return name

    def linear(self, name: str, src: str, out_features: int, activation: str | None = None,
               weight_format: str = "fp32", act_format: str = "fp32") -> str:
        c, sp = self.shapes[src]
        if sp:
            raise ValueError(f"linear {name}: input must be flat")
        self.ops.append(OpSpec(name, "linear", (src,), name, c, out_features, (), (),
                               activation=activation, weight_format=weight_format,
                               act_format=act_format))
        self.shapes[name] = (out_features, ())
        return name

    def conv_padded(self, name: str, src: str, out_channels: Number, kernel: Sequence[int],
                    stride: int, padding: Sequence[int] | None, groups: Number = 1,
                    batchnorm: bool = True, activation: str | None = None,
                    weight_format: str = "fp32", act_format: str = "fp32") -> str:
        """Convolution with explicit padding (``None``: ``kernel // 2``) and ``groups``
        (``groups == in_channels == out_channels`` for depthwise)."""
        cin, spatial = self.shapes[src]
        kernel = tuple(int(k) for k in kernel)
        pads = tuple(k // 2 for k in kernel) if padding is None else tuple(int(p) for p in padding)
        out_sp = tuple(window_out(s, k, stride, p) for s, k, p in zip(spatial, kernel, pads))
        if min(out_sp, default=1) < 1:
            raise ValueError(f"conv {name}: output would be empty")
        self.ops.append(OpSpec(name, "conv", (src,), name, cin, out_channels, spatial, out_sp,
                               kernel, stride, groups, batchnorm, activation, weight_format,
                               act_format, None if padding is None else pads))
        self.shapes[name] = (out_channels, out_sp)
        return name

    def linear_bn(self, name: str, src: str, out_features: float, batchnorm: bool,
                  activation: str | None = None, weight_format: str = "fp32",
                  act_format: str = "fp32") -> str:
        """Fully connected layer with an optional BatchNorm after it."""
        c, sp = self.shapes[src]
        if sp:
            raise ValueError(f"linear {name}: input must be flat")
        self.ops.append(OpSpec(name, "linear", (src,), name, c, out_features, (), (),
                               batchnorm=batchnorm, activation=activation,
                               weight_format=weight_format, act_format=act_format))
        self.shapes[name] = (out_features, ())
        return name

    def pool(self, name: str, src: str, mode: str, kernel: Sequence[int], stride: int,
             padding: Sequence[int], activation: str | None = None,
             act_format: str = "fp32") -> str:
        """Max or average pooling (``mode`` ``"max"`` / ``"avg"``)."""
        c, sp = self.shapes[src]
        kernel, pads = tuple(int(k) for k in kernel), tuple(int(p) for p in padding)
        out_sp = tuple(window_out(s, k, stride, p) for s, k, p in zip(sp, kernel, pads))
        if min(out_sp, default=1) < 1:
            raise ValueError(f"pool {name}: output would be empty")
        self.ops.append(OpSpec(name, "pool", (src,), name, c, c, sp, out_sp, kernel, stride,
                               activation=activation, act_format=act_format, padding=pads,
                               mode=mode))
        self.shapes[name] = (c, out_sp)
        return name

    def act(self, name: str, src: str, activation: str, act_format: str = "fp32") -> str:
        c, sp = self.shapes[src]
        self.ops.append(OpSpec(name, "act", (src,), name, c, c, sp, sp, activation=activation,
                               act_format=act_format))
        self.shapes[name] = (c, sp)
        return name

    def flatten(self, name: str, src: str, activation: str | None = None,
                act_format: str = "fp32") -> str:
        c, sp = self.shapes[src]
        n = c * math.prod(sp)
        self.ops.append(OpSpec(name, "flatten", (src,), name, c, n, sp, (),
                               activation=activation, act_format=act_format))
        self.shapes[name] = (n, ())
        return name

    def concat(self, name: str, srcs: Sequence[str], activation: str | None = None,
               act_format: str = "fp32") -> str:
        c0, sp = self.shapes[srcs[0]]
        if any(self.shapes[s][1] != sp for s in srcs[1:]):
            raise ValueError(f"concat {name}: spatial mismatch")
        c = sum(self.shapes[s][0] for s in srcs)
        self.ops.append(OpSpec(name, "concat", tuple(srcs), name, c, c, sp, sp,
                               activation=activation, act_format=act_format))
        self.shapes[name] = (c, sp)
        return name

    def finish(self, output: str, **meta) -> ArchSpec:
        return ArchSpec(self.in_channels, self.in_spatial, tuple(self.ops), output,
                        self.input_format, dict(meta))


_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": F.relu, "relu6": F.relu6, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
    "silu": F.silu, "gelu": F.gelu, "hardswish": F.hardswish, "hardsigmoid": F.hardsigmoid,
    "elu": F.elu,
}
#: activations with f(0) != 0: a masked (zeroed) channel does not stay zero through them
NONZERO_AT_ZERO = ("sigmoid", "hardsigmoid")


def conv_forward(op: OpSpec, layer: nn.Conv1d | nn.Conv2d, x: torch.Tensor, weight: torch.Tensor,
                 bias: torch.Tensor | None) -> torch.Tensor:
    """Convolution ``op`` of ``x`` with ``layer``'s stride and groups and the given weight and
    bias, padded as :attr:`OpSpec.pad_pairs` says (the layer holds symmetric padding; an
    asymmetric one is applied with ``F.pad`` first)."""
    pads = op.pad_pairs
    if any(b != a for b, a in pads):
        x = F.pad(x, [p for pair in reversed(pads) for p in pair])
    if len(op.kernel) == 2:
        return F.conv2d(x, weight, bias, layer.stride, layer.padding, 1, layer.groups)
    return F.conv1d(x, weight, bias, layer.stride, layer.padding, 1, layer.groups)


def _activation(name: str | None, x: torch.Tensor) -> torch.Tensor:
    if name is None:
        return x
    if name == "relu":
        return F.relu(x)
    fn = _ACTIVATIONS.get(name)
    if fn is not None:
        return fn(x)
    if name.startswith("leaky_relu:"):
        return F.leaky_relu(x, float(name.split(":", 1)[1]))
    raise ValueError(f"unknown activation {name!r}")


def shape_op(op: OpSpec, xs: Sequence[torch.Tensor]) -> torch.Tensor:
    """Forward of the weight-free kinds ``add``, ``gap``, ``pool``, ``act``, ``flatten``,
    ``concat`` (before the op's activation); ``xs`` are the op's inputs in order."""
    x = xs[0]
    if op.kind == "add":
        for t in xs[1:]:
            x = x + t
        return x
    if op.kind == "gap":
        return x.flatten(2).mean(dim=2)
    if op.kind == "pool":
        kernel, pads = op.kernel_ints, op.pads
        if op.mode == "max":
            if len(kernel) == 2:
                return F.max_pool2d(x, kernel, op.stride, pads)
            return F.max_pool1d(x, kernel, op.stride, pads)
        if len(kernel) == 2:
            return F.avg_pool2d(x, kernel, op.stride, pads)
        return F.avg_pool1d(x, kernel, op.stride, pads)
    if op.kind == "flatten":
        return x.flatten(1)
    if op.kind == "concat":
        return torch.cat(list(xs), dim=1)
    if op.kind == "act":
        return x
    raise ValueError(f"op {op.name}: {op.kind} has weights or is not a shape op")


def _conv_layer(op: OpSpec) -> nn.Conv1d | nn.Conv2d:
    """The torch convolution of a ``conv`` op (its symmetric padding; an asymmetric one is
    applied by :func:`conv_forward`), with a bias unless a BatchNorm follows."""
    cin, cout, groups = int(op.in_channels), int(op.out_channels), int(op.groups)
    k = op.kernel_ints
    symmetric = all(b == a for b, a in op.pad_pairs)
    pads = tuple(b if symmetric else 0 for b, _ in op.pad_pairs)
    if len(k) == 1:
        return nn.Conv1d(cin, cout, k[0], stride=op.stride, padding=pads[0], groups=groups,
                         bias=not op.batchnorm)
    if len(k) == 2:
        return nn.Conv2d(cin, cout, (k[0], k[1]), stride=op.stride, padding=(pads[0], pads[1]),
                         groups=groups, bias=not op.batchnorm)
    raise ValueError(f"op {op.name}: only 1-D and 2-D convolutions are supported")


class SpecNet(nn.Module):
    """A ``torch.nn.Module`` that executes an :class:`ArchSpec`.

    Convolutions carry BatchNorm when the spec says so (no conv bias then); non-fp32 formats
    are emulated by fake quantisation of weights (per output channel) and of each op's output.
    """

    def __init__(self, spec: ArchSpec):
        super().__init__()
        self.spec = spec
        self.layers = nn.ModuleDict()
        self.norms = nn.ModuleDict()
        for op in spec.ops:
            if op.kind == "conv":
                cout = int(op.out_channels)
                self.layers[op.name] = _conv_layer(op)
                if op.batchnorm:
                    bn_cls = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}[len(op.kernel)]
                    self.norms[op.name] = bn_cls(cout)
            elif op.kind == "linear":
                self.layers[op.name] = nn.Linear(int(op.in_channels), int(op.out_channels))
                if op.batchnorm:
                    self.norms[op.name] = nn.BatchNorm1d(int(op.out_channels))
        self._plan = [
            (op, get_format(op.weight_format), get_format(op.act_format)) for op in spec.ops
        ]
        self._in_fmt = get_format(spec.input_format)
        # last use of each tensor, so intermediate tensors are released early
        last: dict[str, int] = {}
        for i, op in enumerate(spec.ops):
            for t in op.inputs:
                last[t] = i
        self._release = [
            tuple(t for t in op.inputs if last.get(t) == i and t != spec.output)
            for i, op in enumerate(spec.ops)
        ]

    def conv(self, name: str) -> nn.Conv1d | nn.Conv2d:
        """The convolution layer of ``conv`` op ``name``."""
        layer = self.layers[name]
        assert isinstance(layer, (nn.Conv1d, nn.Conv2d)), name
        return layer

    def linear(self, name: str) -> nn.Linear:
        """The fully connected layer of ``linear`` op ``name``."""
        layer = self.layers[name]
        assert isinstance(layer, nn.Linear), name
        return layer

    def weight_layer(self, name: str) -> nn.Conv1d | nn.Conv2d | nn.Linear:
        """The layer holding the weights of ``conv`` or ``linear`` op ``name``."""
        layer = self.layers[name]
        assert isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Linear)), name
        return layer

    def norm(self, name: str) -> nn.BatchNorm1d | nn.BatchNorm2d:
        """The BatchNorm after op ``name`` (only ops with ``batchnorm`` have one)."""
        bn = self.norms[name]
        assert isinstance(bn, (nn.BatchNorm1d, nn.BatchNorm2d)), name
        return bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tensors = {"input": self._in_fmt.quantize(x)}
        for (op, wfmt, afmt), release in zip(self._plan, self._release):
            if op.kind == "conv":
                conv = self.conv(op.name)
                w = wfmt.quantize(conv.weight, per_channel=True)
                y = conv_forward(op, conv, tensors[op.inputs[0]], w, conv.bias)
                if op.batchnorm:
                    y = self.norms[op.name](y)
            elif op.kind == "linear":
                lin = self.linear(op.name)
                y = F.linear(tensors[op.inputs[0]], wfmt.quantize(lin.weight, True), lin.bias)
                if op.batchnorm:
                    y = self.norms[op.name](y)
            else:
                y = shape_op(op, [tensors[t] for t in op.inputs])
            y = afmt.quantize(_activation(op.activation, y))
            for t in release:
                del tensors[t]
            tensors[op.output] = y
        return tensors[self.spec.output]


def build_module(spec: ArchSpec) -> SpecNet:
    """Build a freshly initialised module for a spec (channel counts must be integers)."""
    for op in spec.ops:
        if op.kind in ("conv", "linear"):
            for c in (op.in_channels, op.out_channels):
                if int(c) != c or c < 1:
                    raise ValueError(f"op {op.name}: channel count {c} is not a positive integer")
    return SpecNet(spec)
