"""``torch.fx`` trace of a user's module into the project's layer description (:class:`ArchSpec`).

Supported (anything else stops the trace with one sentence naming the op and its module path):

* ``nn.Conv1d`` / ``nn.Conv2d`` (any padding, stride equal in every dimension, groups -
  depthwise included; no dilation, zero padding mode), ``nn.Linear`` on flat tensors;
* ``nn.BatchNorm1d`` / ``nn.BatchNorm2d`` directly after a convolution or linear layer (joined
  to it, as a deployed network folds it);
* element-wise activations (modules, ``torch.*``, ``F.*`` or tensor methods): ReLU, ReLU6,
  Sigmoid, Tanh, SiLU, GELU, Hardswish, Hardsigmoid, ELU, LeakyReLU - joined to the op before
  them when they are its only reader, otherwise a separate ``act`` op;
* max / average pooling (``nn.MaxPool*``, ``nn.AvgPool*``, ``F.max_pool*``, ``F.avg_pool*``;
  no ceil mode, no dilation), adaptive pooling to a size that divides the input, mean over all
  spatial dimensions (global average pooling);
* flatten (``nn.Flatten``, ``torch.flatten``, ``x.flatten(1)``, ``x.view(n, -1)``), residual
  additions of two tensors, concatenation along channels, ``Dropout`` / ``Identity`` (no-ops
  in inference).

The layer description is checked against ``torch.fx``'s shape propagation: every op's output
shape must equal the shape the user's module produced.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from ..arch import ArchBuilder, ArchSpec
from ..errors import UserError

_ACT_MODULES = {nn.ReLU: "relu", nn.ReLU6: "relu6", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh",
                nn.SiLU: "silu", nn.Hardswish: "hardswish", nn.Hardsigmoid: "hardsigmoid"}
_ACT_FUNCTIONS = {F.relu: "relu", torch.relu: "relu", F.relu6: "relu6", torch.sigmoid: "sigmoid",
                  F.sigmoid: "sigmoid", torch.tanh: "tanh", F.tanh: "tanh", F.silu: "silu",
                  F.hardswish: "hardswish", F.hardsigmoid: "hardsigmoid"}
_ACT_METHODS = {"relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "relu_": "relu"}
_NO_OPS = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout)
SUPPORTED = ("Conv1d, Conv2d, Linear, BatchNorm1d/2d after a conv or linear layer, ReLU, ReLU6, "
             "Sigmoid, Tanh, SiLU, GELU, Hardswish, Hardsigmoid, ELU, LeakyReLU, max/avg/"
             "adaptive pooling, flatten, residual addition, concatenation, Dropout, Identity")


@dataclass
class _Rec:
    """One operation being collected (joined BatchNorm / activation are set later)."""

    kind: str
    name: str
    inputs: list[str]
    path: str
    out_channels: int = 0
    kernel: tuple[int, ...] = ()
    stride: int = 1
    padding: tuple[int, ...] | None = None
    groups: int = 1
    batchnorm: bool = False
    activation: str | None = None
    mode: str = ""
    users: int = 0
    shape: tuple[int, ...] = ()
    extra: dict = field(default_factory=dict)


def _where(node: fx.Node) -> str:
    if node.op == "call_module":
        return str(node.target)
    stack = node.meta.get("nn_module_stack") or {}
    return list(stack)[-1] if stack else "the top-level forward"


def _what(node: fx.Node, gm: fx.GraphModule) -> str:
    if node.op == "call_module":
        return type(gm.get_submodule(str(node.target))).__name__
    if node.op == "call_method":
        return f"Tensor.{node.target}"
    target = node.target
    mod = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", str(target))
    return f"{mod}.{name}" if mod and mod != "_operator" else f"operator.{name}"


def _fail(node: fx.Node, gm: fx.GraphModule, why: str = "") -> UserError:
    detail = f" ({why})" if why else ""
    return UserError(f"op {_what(node, gm)} at `{_where(node)}` is not supported{detail}; "
                     f"supported: {SUPPORTED}.")


def _tuple(v: Any, n: int) -> tuple[int, ...]:
    return tuple(int(x) for x in v) if isinstance(v, (tuple, list)) else (int(v),) * n


def _uniform(values: tuple[int, ...], what: str, node: fx.Node, gm: fx.GraphModule) -> int:
    if len(set(values)) != 1:
        raise _fail(node, gm, f"{what} must be the same in every dimension, got {values}")
    return values[0]


def _leaky(slope: float) -> str:
    return f"leaky_relu:{float(slope):g}"


class _Tracer:
    """Walks a traced graph once and collects :class:`_Rec` ops; see :func:`trace_model`."""

    def __init__(self, gm: fx.GraphModule, input_shape: tuple[int, ...]):
        self.gm = gm
        self.input_shape = input_shape
        self.recs: list[_Rec] = []
        self.tensor: dict[fx.Node, str] = {}  # node -> tensor name
        self.by_name: dict[str, _Rec] = {}
        self.names: set[str] = {"input"}

    # ------------------------------------------------------------------ helpers
    def shape(self, node: fx.node.Argument) -> tuple[int, ...] | None:
        """Shape of the tensor ``node`` computes (None when ``node`` is no traced tensor)."""
        if not isinstance(node, fx.Node):
            return None
        meta = node.meta.get("tensor_meta")
        return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None

    def src(self, arg: Any, node: fx.Node) -> str:
        if not isinstance(arg, fx.Node) or arg not in self.tensor:
            raise _fail(node, self.gm, "its input is not a tensor the trace follows")
        return self.tensor[arg]

    def unique(self, base: str) -> str:
        name = base.replace(".", "_") or "op"
        out, i = name, 1
        while out in self.names:
            i += 1
            out = f"{name}_{i}"
        self.names.add(out)
        return out

    def emit(self, node: fx.Node, kind: str, inputs: list[str], **kw) -> None:
        base = str(node.target) if node.op == "call_module" else node.name
        rec = _Rec(kind, self.unique(base), inputs, _where(node), **kw)
        rec.users = len(node.users)
        rec.shape = self.shape(node) or ()
        self.recs.append(rec)
        self.by_name[rec.name] = rec
        self.tensor[node] = rec.name

    def joinable(self, name: str) -> _Rec | None:
        rec = self.by_name.get(name)
        return rec if rec is not None and rec.users == 1 else None

    def activation(self, node: fx.Node, act: str) -> None:
        x = self.src(node.args[0], node)
        rec = self.joinable(x)
        if rec is not None and rec.activation is None and rec.kind in (
                "conv", "linear", "add", "pool", "concat", "flatten", "gap"):
            rec.activation = act
            rec.users = len(node.users)
            self.tensor[node] = rec.name
            self.by_name[rec.name] = rec
        else:
            self.emit(node, "act", [x], activation=act)

    def alias(self, node: fx.Node) -> None:
        self.tensor[node] = self.src(node.args[0], node)

    def pool(self, node: fx.Node, mode: str, kernel, stride, padding, ceil: bool = False,
             dilation: Any = 1, include_pad: bool = True) -> None:
        x = self.src(node.args[0], node)
        dims = len(self.input_shape) - 1
        if ceil:
            raise _fail(node, self.gm, "ceil_mode is not supported")
        if any(d != 1 for d in _tuple(dilation, dims)):
            raise _fail(node, self.gm, "dilation is not supported")
        kernel = _tuple(kernel, dims)
        stride = _uniform(_tuple(kernel if stride in (None, []) else stride, dims), "stride",
                          node, self.gm)
        padding = _tuple(padding, dims)
        if mode == "avg" and any(padding) and not include_pad:
            raise _fail(node, self.gm, "average pooling with count_include_pad=False")
        self.emit(node, "pool", [x], kernel=kernel, stride=stride, padding=padding, mode=mode)

    def adaptive(self, node: fx.Node, mode: str, size) -> None:
        x = self.src(node.args[0], node)
        shape_in = self.shape(node.args[0])
        if shape_in is None:
            raise _fail(node, self.gm, "the shape of its input is unknown")
        in_sp = shape_in[2:]
        size = tuple(s if o is None else o for s, o in zip(in_sp, _tuple(size, len(in_sp))))
        if any(s % o for s, o in zip(in_sp, size)):
            raise _fail(node, self.gm, f"adaptive output size {size} must divide the input "
                                       f"size {tuple(in_sp)}")
        kernel = tuple(s // o for s, o in zip(in_sp, size))
        stride = _uniform(kernel, "pooling ratio", node, self.gm)
        self.emit(node, "pool", [x], kernel=kernel, stride=stride,
                  padding=(0,) * len(kernel), mode=mode)
        if mode == "avg" and all(o == 1 for o in size):
            self.recs[-1].extra["global"] = True

    def flatten(self, node: fx.Node) -> None:
        x = self.src(node.args[0], node)
        rec = self.joinable(x)
        if rec is not None and rec.extra.get("global") and rec.activation is None:
            rec.kind, rec.kernel, rec.padding, rec.mode = "gap", (), None, ""
            rec.users = len(node.users)
            rec.shape = self.shape(node) or ()
            self.tensor[node] = rec.name
            return
        self.emit(node, "flatten", [x])

    # ------------------------------------------------------------------ dispatch
    def module(self, node: fx.Node) -> None:
        mod = self.gm.get_submodule(str(node.target))
        shape_in = self.shape(node.args[0]) if node.args and isinstance(node.args[0], fx.Node) else None
        if isinstance(mod, (nn.Conv1d, nn.Conv2d)):
            dims = 1 if isinstance(mod, nn.Conv1d) else 2
            if mod.padding_mode != "zeros":
                raise _fail(node, self.gm, f"padding_mode {mod.padding_mode!r}")
            if any(d != 1 for d in mod.dilation):
                raise _fail(node, self.gm, "dilation is not supported")
            stride = _uniform(tuple(mod.stride), "stride", node, self.gm)
            kernel = tuple(mod.kernel_size)
            if mod.padding == "same":
                if any(k % 2 == 0 for k in kernel):
                    raise _fail(node, self.gm, "padding='same' with an even kernel")
                padding: tuple[int, ...] | None = None
            elif mod.padding == "valid":
                padding = (0,) * dims
            else:
                padding = _tuple(mod.padding, dims)
                if padding == tuple(k // 2 for k in kernel):
                    padding = None
            g = mod.groups
            groups = g if g == 1 or not (g == mod.in_channels == mod.out_channels) else mod.in_channels
            self.emit(node, "conv", [self.src(node.args[0], node)], out_channels=mod.out_channels,
                      kernel=kernel, stride=stride, padding=padding, groups=groups)
        elif isinstance(mod, nn.Linear):
            if shape_in is None or len(shape_in) != 2:
                raise _fail(node, self.gm, f"Linear is applied to a tensor of shape {shape_in}; "
                                           "only flat (batch, features) inputs are supported")
            self.emit(node, "linear", [self.src(node.args[0], node)],
                      out_channels=mod.out_features)
        elif isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            rec = self.joinable(self.src(node.args[0], node))
            if (rec is None or rec.kind not in ("conv", "linear") or rec.batchnorm
                    or rec.activation is not None):
                raise _fail(node, self.gm, "a BatchNorm must directly follow a convolution or "
                                           "linear layer that nothing else reads")
            if not (mod.affine and mod.track_running_stats):
                raise _fail(node, self.gm, "BatchNorm needs affine=True and running statistics")
            rec.batchnorm = True
            rec.users = len(node.users)
            self.tensor[node] = rec.name
        elif type(mod) in _ACT_MODULES:
            self.activation(node, _ACT_MODULES[type(mod)])
        elif isinstance(mod, nn.GELU) and mod.approximate == "none":
            self.activation(node, "gelu")
        elif isinstance(mod, nn.ELU) and mod.alpha == 1.0:
            self.activation(node, "elu")
        elif isinstance(mod, nn.LeakyReLU):
            self.activation(node, _leaky(mod.negative_slope))
        elif isinstance(mod, (nn.MaxPool1d, nn.MaxPool2d)):
            self.pool(node, "max", mod.kernel_size, mod.stride, mod.padding, mod.ceil_mode,
                      mod.dilation)
        elif isinstance(mod, (nn.AvgPool1d, nn.AvgPool2d)):
            self.pool(node, "avg", mod.kernel_size, mod.stride, mod.padding, mod.ceil_mode,
                      1, mod.count_include_pad)
        elif isinstance(mod, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)):
            self.adaptive(node, "avg", mod.output_size)
        elif isinstance(mod, (nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d)):
            self.adaptive(node, "max", mod.output_size)
        elif isinstance(mod, nn.Flatten):
            if mod.start_dim != 1 or mod.end_dim != -1:
                raise _fail(node, self.gm, "Flatten must flatten dimensions 1..-1")
            self.flatten(node)
        elif isinstance(mod, _NO_OPS):
            self.alias(node)
        else:
            raise _fail(node, self.gm)

    def function(self, node: fx.Node) -> None:
        t, args, kw = node.target, node.args, node.kwargs
        if t in (operator.add, operator.iadd, torch.add):
            if len(args) != 2 or not all(isinstance(a, fx.Node) for a in args) or kw:
                raise _fail(node, self.gm, "only the sum of two tensors is supported")
            self.emit(node, "add", [self.src(a, node) for a in args])
        elif t is torch.cat:
            dim = kw.get("dim", args[1] if len(args) > 1 else 0)
            ndim = len(self.input_shape) + 1
            if dim not in (1, 1 - ndim):
                raise _fail(node, self.gm, f"concatenation along dimension {dim}; only channels "
                                           "(dimension 1) are supported")
            if not isinstance(args[0], (list, tuple)):
                raise _fail(node, self.gm, "only a list or tuple of tensors can be concatenated")
            self.emit(node, "concat", [self.src(a, node) for a in args[0]])
        elif t is torch.flatten:
            start = kw.get("start_dim", args[1] if len(args) > 1 else 0)
            end = kw.get("end_dim", args[2] if len(args) > 2 else -1)
            if start != 1 or end != -1:
                raise _fail(node, self.gm, "flatten must flatten dimensions 1..-1")
            self.flatten(node)
        elif t in _ACT_FUNCTIONS:
            self.activation(node, _ACT_FUNCTIONS[t])
        elif t is F.gelu and kw.get("approximate", "none") == "none":
            self.activation(node, "gelu")
        elif t is F.leaky_relu:
            slope = kw.get("negative_slope", args[1] if len(args) > 1 else 0.01)
            if not isinstance(slope, (int, float)):
                raise _fail(node, self.gm, "negative_slope must be a number")
            self.activation(node, _leaky(slope))
        elif t in (F.max_pool1d, F.max_pool2d, F.avg_pool1d, F.avg_pool2d):
            mode = "max" if t in (F.max_pool1d, F.max_pool2d) else "avg"
            names = ["input", "kernel_size", "stride", "padding"]
            a = dict(zip(names, args))
            a.update({k: v for k, v in kw.items() if k in names})
            if set(kw) - set(names):
                raise _fail(node, self.gm, f"options {sorted(set(kw) - set(names))}")
            self.pool(node, mode, a["kernel_size"], a.get("stride"), a.get("padding", 0))
        elif t in (F.adaptive_avg_pool1d, F.adaptive_avg_pool2d):
            self.adaptive(node, "avg", kw.get("output_size", args[1] if len(args) > 1 else 1))
        elif t in (F.dropout, F.dropout1d, F.dropout2d):
            self.alias(node)
        else:
            raise _fail(node, self.gm)

    def method(self, node: fx.Node) -> None:
        name, args = node.target, node.args
        if name in ("size", "dim"):
            return  # integers, read by view / reshape
        if name in _ACT_METHODS:
            self.activation(node, _ACT_METHODS[name])
        elif name in ("contiguous",):
            self.alias(node)
        elif name in ("view", "reshape", "flatten"):
            shape_in, shape_out = self.shape(args[0]), self.shape(node)
            if (shape_in is None or shape_out is None or len(shape_out) != 2
                    or shape_out[0] != shape_in[0]):
                raise _fail(node, self.gm, f"only a flatten to (batch, features) is supported, "
                                           f"got shape {shape_out}")
            if name == "flatten" and (args[1:2] or [node.kwargs.get("start_dim", 0)])[0] != 1:
                raise _fail(node, self.gm, "flatten must start at dimension 1")
            self.flatten(node)
        elif name == "mean":
            dims = node.kwargs.get("dim", args[1] if len(args) > 1 else None)
            dims = sorted(d % (len(self.input_shape) + 1) for d in _tuple(dims, 1)) if dims is not None else None
            keep = node.kwargs.get("keepdim", args[2] if len(args) > 2 else False)
            if dims != list(range(2, len(self.input_shape) + 1)) or keep:
                raise _fail(node, self.gm, "only a mean over every spatial dimension (global "
                                           "average pooling, keepdim=False) is supported")
            self.emit(node, "gap", [self.src(args[0], node)])
        else:
            raise _fail(node, self.gm)

    def run(self) -> str:
        output = None
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                if "input" in self.tensor.values():
                    raise UserError(f"the seed model's forward takes more than one input "
                                    f"({node.name}); moo_nas searches single-input networks.")
                self.tensor[node] = "input"
            elif node.op == "call_module":
                self.module(node)
            elif node.op == "call_function":
                if node.target is getattr:
                    continue
                self.function(node)
            elif node.op == "call_method":
                self.method(node)
            elif node.op == "output":
                out = node.args[0]
                if not isinstance(out, fx.Node) or out not in self.tensor:
                    raise UserError("the seed model must return one tensor (not a tuple or "
                                    "dict) to be searched.")
                output = self.tensor[out]
            else:  # get_attr: a parameter or buffer used directly in forward
                raise UserError(f"the seed model reads tensor `{node.target}` directly in its "
                                "forward; only its layers' own weights are supported.")
        if output is None or output == "input":
            raise UserError("the seed model's output does not depend on any supported layer.")
        return output


def _build(recs: Sequence[_Rec], input_shape: tuple[int, ...], output: str) -> ArchSpec:
    b = ArchBuilder(input_shape[0], input_shape[1:])
    for r in recs:
        if r.kind == "conv":
            b.conv_padded(r.name, r.inputs[0], r.out_channels, r.kernel, r.stride, r.padding,
                          r.groups, r.batchnorm, r.activation)
        elif r.kind == "linear":
            b.linear_bn(r.name, r.inputs[0], r.out_channels, r.batchnorm, r.activation)
        elif r.kind == "add":
            b.add(r.name, r.inputs, r.activation)
        elif r.kind == "gap":
            b.gap(r.name, r.inputs[0])
            if r.activation:  # an activation after global pooling
                b.ops[-1] = replace(b.ops[-1], activation=r.activation)
        elif r.kind == "pool":
            assert r.padding is not None  # pool() and adaptive() always set it
            b.pool(r.name, r.inputs[0], r.mode, r.kernel, r.stride, r.padding, r.activation)
        elif r.kind == "act":
            b.act(r.name, r.inputs[0], str(r.activation))
        elif r.kind == "flatten":
            b.flatten(r.name, r.inputs[0], r.activation)
        elif r.kind == "concat":
            b.concat(r.name, r.inputs, r.activation)
        c, sp = b.shapes[r.name]
        if r.shape and (int(c),) + tuple(sp) != tuple(r.shape[1:]):
            raise UserError(f"traced op `{r.path}` gives shape {(int(c),) + tuple(sp)} but the "
                            f"module computed {tuple(r.shape[1:])}; this layer configuration is "
                            "not supported.")
    return b.finish(output, modules={r.name: r.path for r in recs})


def trace_model(module: nn.Module, input_shape: Sequence[int]) -> ArchSpec:
    """The layer description of ``module`` for one input of ``input_shape`` (no batch).

    Raises :class:`UserError` for a module ``torch.fx`` cannot trace, one that does not run on
    the input shape, or an unsupported op (naming the op and its module path)."""
    from torch.fx.passes.shape_prop import ShapeProp

    input_shape = tuple(int(s) for s in input_shape)
    name = type(module).__name__
    try:
        gm = fx.symbolic_trace(module)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"torch.fx cannot trace seed model {name} ({first}); remove "
                        "data-dependent control flow from its forward.") from None
    gm.eval()
    try:
        with torch.no_grad():
            gm(torch.zeros(2, *input_shape))  # fails quietly where ShapeProp would print
            ShapeProp(gm).propagate(torch.zeros(2, *input_shape))
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"seed model {name} does not run on inputs of shape "
                        f"{','.join(map(str, input_shape))} ({first[:200]}); give the shape it "
                        "was written for with --input-shape.") from None
    tracer = _Tracer(gm, input_shape)
    output = tracer.run()
    if math.prod(input_shape) == 0:
        raise UserError("input shape must not contain zeros.")
    return _build(tracer.recs, input_shape, output)
