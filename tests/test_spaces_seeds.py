"""Every built-in seed against reference counts, and analytic costs against the built module.

Reference counts (MLPerf Tiny, counted from the reference Keras definitions, padding 'same'):
ResNet-8 on 32x32x3 with 10 classes has 77.4 k conv/FC weights and 12.5 M MACs; DS-CNN on
49x10 MFCCs with 12 classes has 22.0 k and 2.66 M.  The built module is counted independently
of :mod:`moo_nas.costs`: parameters with ``numel``, MACs from the convolution / linear calls
seen while it runs (``SpecNet`` calls ``F.conv*d`` / ``F.linear`` itself, so the calls are
intercepted with a ``TorchFunctionMode`` rather than module hooks) and again with torch's own
``FlopCounterMode``.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils.flop_counter import FlopCounterMode

from moo_nas import costs
from moo_nas.arch import conv_out, conv_padding
from moo_nas.registry import SPACES
from moo_nas.spaces import make_space

EXAMPLE = str(__import__("pathlib").Path(__file__).resolve().parents[1] / "examples" / "byo_model.py")

# (space, input shape, classes, options)
SEEDS = [
    ("digits-cnn", (1, 8, 8), 10, {}),
    ("digits-cnn", (3, 40), 4, {}),  # 1-D convolutions
    ("resnet8", (3, 32, 32), 10, {}),
    ("dscnn", (1, 49, 10), 12, {}),
    ("dscnn", (1, 49, 10), 12, {"formats": ["int8", "fp32"]}),
    ("mobilenetv1", (3, 96, 96), 2, {}),
    ("fc-autoencoder", (640,), 2, {}),
    ("traced", (1, 8, 8), 10, {"seed_model": EXAMPLE + ":SmallNet", "input_shape": [1, 8, 8]}),
]
# (space, input shape, classes) -> (conv/FC weights, MACs)
REFERENCE = {
    ("resnet8", (3, 32, 32), 10): (77.4e3, 12.5e6),
    ("dscnn", (1, 49, 10), 12): (22.0e3, 2.66e6),
}


class _CallRecorder(TorchFunctionMode):
    """Records every convolution / linear call: (kind, output shape, weight shape)."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func in (F.conv1d, F.conv2d):
            self.calls.append(("conv", tuple(out.shape), tuple(args[1].shape)))
        elif func is F.linear:
            self.calls.append(("linear", tuple(out.shape), tuple(args[1].shape)))
        return out


def _macs_of_calls(calls, batch):
    total = 0
    for kind, out, w in calls:
        if kind == "conv":  # each output element: in_channels/groups * kernel taps
            total += math.prod(out) // batch * math.prod(w[1:])
        else:
            total += out[-1] * w[1]
    return total


def test_every_builtin_space_has_a_seed_case():
    # table spaces have no network to count
    assert {name for name, *_ in SEEDS} == {n for n, c in SPACES.items() if not c.table_only}


@pytest.mark.parametrize("name,shape,classes", list(REFERENCE))
def test_mlperf_tiny_seed_matches_reference_counts(name, shape, classes):
    space = make_space(name, shape, classes)
    arch = space.arch(space.seed_genotype())
    ref_weights, ref_macs = REFERENCE[(name, shape, classes)]
    weights = sum(costs.op_weights(op) for op in arch.ops)
    assert abs(weights - ref_weights) / ref_weights < 0.01
    assert abs(costs.macs(arch) - ref_macs) / ref_macs < 0.01


def test_dscnn_stem_is_padded_as_tensorflow_same():
    space = make_space("dscnn", (1, 49, 10), 12)
    stem = space.arch(space.seed_genotype()).op("stem")
    # 10x4 kernel, stride 2: TF 'same' gives ceil(49/2) x ceil(10/2) = 25 x 5 (a symmetric
    # k//2 padding would give 25 x 6 and 3.19 M MACs)
    assert stem.out_spatial == (25, 5)
    assert stem.pad_pairs == ((4, 5), (1, 1))


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("kernel", [1, 2, 3, 4, 5, 10])
def test_output_length_is_tensorflow_same(kernel, stride):
    for size in range(max(kernel, 1), 50):
        before, after = conv_padding(size, kernel, stride)
        assert conv_out(size, kernel, stride) == -(-size // stride)
        if kernel % 2 == 0:  # TF's own split: total = max((out-1)*s + k - in, 0), extra after
            total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
            assert (before, after) == (total // 2, total - total // 2)
        else:  # odd kernels are centred
            assert before == after == kernel // 2


@pytest.mark.parametrize("name,shape,classes,options", SEEDS)
def test_built_seed_matches_analytic_costs_and_shapes(name, shape, classes, options):
    space = make_space(name, shape, classes, **options)
    arch = space.arch(space.seed_genotype())
    module = space.build(space.seed_genotype()).eval()

    weights = biases = 0
    for mod in module.modules():
        if isinstance(mod, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Linear)):
            weights += mod.weight.numel()
            # one bias per output channel once BatchNorm is folded (conv bias or BN shift)
            biases += mod.weight.shape[0]
    assert weights == sum(costs.op_weights(op) for op in arch.ops)
    assert weights + biases == costs.params(arch)

    batch = 2
    recorder = _CallRecorder()
    with torch.no_grad(), recorder:
        y = module(torch.randn(batch, *shape))
    assert y.shape == (batch, arch.ops[-1].out_channels)  # classes; an auto-encoder's input size
    assert _macs_of_calls(recorder.calls, batch) == costs.macs(arch)
    layers = [op for op in arch.ops if op.kind in ("conv", "linear")]
    assert len(recorder.calls) == len(layers)
    for op, (kind, out, _) in zip(layers, recorder.calls):
        assert kind == op.kind
        assert out == (batch, int(op.out_channels)) + tuple(op.out_spatial), op.name

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        module(torch.randn(batch, *shape))
    assert counter.get_total_flops() == 2 * batch * costs.macs(arch)
