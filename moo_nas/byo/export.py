"""Deployable results: plain modules, float and int8 QDQ ONNX files, the onnxruntime check.

* :func:`plain_module` - a ``torch.fx.GraphModule`` (standard ``nn.Conv*`` / ``nn.Linear`` /
  ``nn.BatchNorm*`` layers and functional calls, no moo_nas code needed to run it) with the
  trained weights and BatchNorm statistics of a network, float32;
* :func:`export_qdq_onnx` - the network as the search evaluated it (its layer formats), with
  integer formats as ``QuantizeLinear`` / ``DequantizeLinear`` pairs: weights per output
  channel with the same scale as the fake quantisation (``max|w| / L``, ``L = 2**(bits-1) - 1``,
  so int4 weights hold 15 levels inside int8 storage), activations per tensor with a **static**
  scale calibrated on training inputs (the search's fake quantisation scales each batch
  dynamically, which a deployed network cannot);
* :func:`onnx_accuracy` / :func:`check_int8` - top-1 accuracy of an ONNX file in onnxruntime
  next to the fake-quantised module's accuracy on the same inputs.

Float formats other than fp32 are exported as fp32 (onnxruntime's CPU kernels compute in fp32).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from ..arch import ArchSpec, SpecNet, _activation, conv_forward, shape_op
from ..formats import get_format


def plain_module(arch: ArchSpec, state_dict: dict[str, torch.Tensor]) -> fx.GraphModule:
    """Float32 plain module of ``arch`` with ``state_dict`` (as trained in its formats)."""
    net = SpecNet(replace(arch.with_formats("fp32", "fp32"), input_format="fp32"))
    net.load_state_dict(state_dict)
    graph = fx.symbolic_trace(net.eval()).graph
    # flat attribute names (``layers.conv1.weight`` -> ``conv1_weight``): the module then has
    # only standard layers and tensors as attributes, and ``to_folder`` writes plain code
    root: dict[str, object] = {}
    for node in graph.nodes:
        node.type = None  # no annotations in the generated code
        if node.op in ("get_attr", "call_module"):
            obj: object = net
            for part in str(node.target).split("."):
                obj = getattr(obj, part)
            parts = str(node.target).split(".")
            flat = "_".join(parts[1:]) if parts[0] in ("layers", "norms") else "_".join(parts)
            if parts[0] == "norms":
                flat += "_bn"
            root[flat] = obj
            node.target = flat
    module = fx.GraphModule(root, graph, class_name=type(net).__name__)
    return module.eval()


class QDQNet(nn.Module):
    """An :class:`SpecNet`'s layers executed with export-friendly fake quantisation.

    ``calibrate(x)`` runs the network as the search evaluated it (dynamic per-batch
    activation scales) and records the largest magnitude of every integer-format tensor; the
    forward pass then quantises with those fixed scales through
    ``torch.fake_quantize_per_*_affine``, which the ONNX exporter writes as Q/DQ pairs."""

    def __init__(self, net: SpecNet):
        super().__init__()
        self.net = net.eval()
        self.spec = net.spec
        self.amax: dict[str, float] = {}
        self._calibrating = False

    def _levels(self, fmt: str) -> int | None:
        f = get_format(fmt)
        return 2 ** (f.bits - 1) - 1 if f.kind == "int" else None

    def _act(self, name: str, fmt: str, x: torch.Tensor) -> torch.Tensor:
        levels = self._levels(fmt)
        if levels is None:
            return x
        if self._calibrating:
            self.amax[name] = max(self.amax.get(name, 0.0), float(x.abs().max()))
            return get_format(fmt).quantize(x)  # the search's dynamic fake quantisation
        scale = max(self.amax.get(name, 0.0), 1e-12) / levels
        return torch.fake_quantize_per_tensor_affine(x, scale, 0, -128, 127)

    def _weight(self, fmt: str, w: torch.Tensor) -> torch.Tensor:
        levels = self._levels(fmt)
        if levels is None:
            return w
        amax = w.detach().abs().flatten(1).amax(dim=1).clamp(min=torch.finfo(torch.float32).tiny)
        scale = (amax / levels).to(torch.float32)
        zero = torch.zeros(len(scale), dtype=torch.int32)
        return torch.fake_quantize_per_channel_affine(w, scale, zero, 0, -128, 127)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec, norms = self.spec, self.net.norms
        tensors = {"input": self._act("input", spec.input_format, x)}
        for op in spec.ops:
            src = tensors[op.inputs[0]]
            if op.kind == "conv":
                conv = self.net.conv(op.name)
                y = conv_forward(op, conv, src, self._weight(op.weight_format, conv.weight),
                                 conv.bias)
                if op.batchnorm:
                    y = norms[op.name](y)
            elif op.kind == "linear":
                lin = self.net.linear(op.name)
                y = F.linear(src, self._weight(op.weight_format, lin.weight), lin.bias)
                if op.batchnorm:
                    y = norms[op.name](y)
            else:
                y = shape_op(op, [tensors[t] for t in op.inputs])
            tensors[op.output] = self._act(op.name, op.act_format, _activation(op.activation, y))
        return tensors[spec.output]

    @torch.no_grad()
    def calibrate(self, x: torch.Tensor, batch_size: int = 256) -> None:
        """Record activation ranges of the search's network on inputs ``x``."""
        self._calibrating = True
        try:
            for i in range(0, len(x), batch_size):
                self(x[i:i + batch_size])
        finally:
            self._calibrating = False


def _export(module: nn.Module, input_shape: Sequence[int], path: Path) -> Path:
    x = torch.zeros(1, *input_shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad():
            torch.onnx.export(module.eval(), (x,), str(path), dynamo=False,
                              input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
                              do_constant_folding=True, opset_version=17)
    return path


def export_float_onnx(arch: ArchSpec, state_dict: dict[str, torch.Tensor],
                      path: str | Path) -> Path:
    """Float32 ONNX file of the network (BatchNorm folded by the exporter)."""
    return _export(plain_module(arch, state_dict), (int(arch.in_channels), *arch.in_spatial),
                   Path(path))


def export_qdq_onnx(arch: ArchSpec, state_dict: dict[str, torch.Tensor], path: str | Path,
                    calibration: torch.Tensor) -> QDQNet:
    """ONNX file with Q/DQ nodes for integer formats (see module docstring); returns the
    calibrated :class:`QDQNet` it was exported from."""
    net = SpecNet(arch)
    net.load_state_dict(state_dict)
    qdq = QDQNet(net)
    qdq.calibrate(calibration)
    _export(qdq, (int(arch.in_channels), *arch.in_spatial), Path(path))
    return qdq


def onnx_accuracy(path: str | Path, x: torch.Tensor, y: torch.Tensor,
                  batch_size: int = 256) -> float:
    """Top-1 accuracy of an ONNX file run by onnxruntime (CPU) on ``x``."""
    from ..hardware.onnx_runtime import make_session

    session = make_session(path)
    name = session.get_inputs()[0].name
    correct = 0
    for i in range(0, len(y), batch_size):
        out = session.run(None, {name: x[i:i + batch_size].numpy().astype(np.float32)})[0]
        correct += int((out.argmax(1) == y[i:i + batch_size].numpy()).sum())
    return correct / max(1, len(y))


def count_qdq(path: str | Path) -> dict[str, int]:
    """Number of QuantizeLinear / DequantizeLinear nodes in an ONNX file."""
    import onnx

    model = onnx.load(str(path))
    ops = [n.op_type for n in model.graph.node]
    return {"QuantizeLinear": ops.count("QuantizeLinear"),
            "DequantizeLinear": ops.count("DequantizeLinear")}


@dataclass(frozen=True)
class Int8Check:
    """Accuracy of one network as the search evaluated it (fake quantisation, dynamic
    activation scales, torch) and as exported (Q/DQ ONNX, static scales, onnxruntime)."""

    fake_quant_accuracy: float
    onnx_accuracy: float
    qdq_nodes: int
    samples: int

    @property
    def gap_points(self) -> float:
        return 100.0 * abs(self.fake_quant_accuracy - self.onnx_accuracy)


def check_int8(arch: ArchSpec, state_dict: dict[str, torch.Tensor], path: str | Path,
               calibration: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> Int8Check:
    """Export ``arch`` as Q/DQ ONNX to ``path`` and compare accuracies on ``(x, y)``."""
    from ..training import accuracy

    export_qdq_onnx(arch, state_dict, path, calibration)
    net = SpecNet(arch)
    net.load_state_dict(state_dict)
    fq = accuracy(net, x, y)
    counts = count_qdq(path)
    return Int8Check(fq, onnx_accuracy(path, x, y), sum(counts.values()), len(y))
