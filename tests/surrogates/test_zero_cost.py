"""Zero-cost proxies on real digits-cnn modules and one real minibatch."""

import numpy as np
import pytest
import torch

from moo_nas.data import load_task
from moo_nas.errors import UserError
from moo_nas.spaces import make_space
from surrogates import zero_cost as Z


@pytest.fixture(scope="module")
def setup():
    task = load_task("digits")
    space = make_space("digits-cnn", task.input_shape, task.num_classes)
    return space, Z.minibatch(task, 32, seed=0)


def test_all_proxies_finite_and_grow_with_the_network(setup):
    space, mb = setup
    small = space.make({"depth": 1, "c1": 4, "k1": 1, "c2": 8, "k2": 1, "c3": 8, "k3": 1})
    big = space.seed_genotype()
    s, b = Z.compute(space, small, mb), Z.compute(space, big, mb)
    assert set(s) == set(Z.PROXIES)
    assert all(np.isfinite(v) for v in s.values()) and all(np.isfinite(v) for v in b.values())
    for p in ("params", "macs", "synflow", "naswot"):
        assert b[p] > s[p], p


def test_proxies_are_seeded_and_leave_the_module_alone(setup):
    space, mb = setup
    g = space.seed_genotype()
    assert Z.compute(space, g, mb, ("snip", "synflow"), seed=1) == \
        Z.compute(space, g, mb, ("snip", "synflow"), seed=1)
    torch.manual_seed(0)
    m = space.build(g)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    Z.synflow(m, mb)
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())


def test_naswot_sees_functional_relus(setup):
    space, mb = setup
    torch.manual_seed(0)
    m = space.build(space.seed_genotype())
    mode = Z._ReluCodes()
    with torch.no_grad(), mode:
        m(mb.x)
    assert len(mode.codes) == 3  # three conv blocks with ReLU


def test_unknown_proxy(setup):
    space, mb = setup
    with pytest.raises(UserError, match="zero-cost proxy"):
        Z.compute(space, space.seed_genotype(), mb, ("fisher-magic",))
