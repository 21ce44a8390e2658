"""FlatAdam: torch.optim.Adam's update on one flat vector."""

import pytest
import torch

from moo_nas.dnas.optim import FlatAdam


@pytest.mark.parametrize("betas", [(0.0, 0.999), (0.9, 0.99)])
def test_flat_adam_equals_torch_adam_to_the_bit(betas):
    """Same values as torch's Adam followed by clipping, over 1-D and 2-D parameters, a
    scheduled learning rate and steps where one parameter has no gradient (skipped, its
    moments and step count kept)."""
    torch.manual_seed(0)
    shapes = [(16,), (3, 4), (1,), (2,), (64,)]
    ref = [torch.nn.Parameter(torch.rand(s)) for s in shapes]
    got = [torch.nn.Parameter(p.detach().clone()) for p in ref]
    opt = torch.optim.Adam(ref, lr=0.02, betas=betas)
    flat = FlatAdam(got, lr=0.02, betas=betas, bounds=(0.0, 1.0))
    for step in range(60):
        lr = 0.02 * (1 + step / 25) ** -0.5
        opt.param_groups[0]["lr"] = flat.lr = lr
        grads = [torch.randn(s) for s in shapes]
        for i, (a, b, g) in enumerate(zip(ref, got, grads)):
            skipped = step % 7 == 3 and i == 2
            a.grad = None if skipped else g.clone()
            b.grad = None if skipped else g.clone()
        opt.step()
        with torch.no_grad():
            for a in ref:
                a.clamp_(0.0, 1.0)
        versions = [p._version for p in got]
        flat.step()
        assert all(p._version > v for p, v in zip(got, versions))  # in place: caches see it
        for a, b in zip(ref, got):
            assert torch.equal(a.detach(), b.detach()), step
    flat.zero_grad()
    assert all(p.grad is None for p in got)
