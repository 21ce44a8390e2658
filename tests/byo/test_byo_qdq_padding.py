"""The Q/DQ export network computes what the searched network computes, including the
asymmetric ('same', TensorFlow) padding of even kernels such as the DS-CNN stem's (10, 4)."""

import torch

from moo_nas.arch import SpecNet
from moo_nas.byo.export import QDQNet
from moo_nas.spaces import make_space


def test_qdq_net_applies_asymmetric_same_padding():
    space = make_space("dscnn", (1, 49, 10), 12)
    arch = space.arch(space.seed_genotype())
    stem = arch.op("stem")
    assert any(b != a for b, a in stem.pad_pairs)  # the case under test
    torch.manual_seed(0)
    net = SpecNet(arch).eval()
    x = torch.randn(3, 1, 49, 10)
    with torch.no_grad():
        # fp32 everywhere: the QDQ network quantises nothing, so it must equal the network
        assert torch.equal(QDQNet(net)(x), net(x))
