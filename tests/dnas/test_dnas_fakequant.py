"""The fake-quantisation mixtures of the mixed-precision search against straightforward autograd
references: same values and same gradients (w.r.t. the input and the mixing probabilities), on
the eager path and on the fused (compiled) path."""

import shutil
import warnings

import pytest
import torch

from moo_nas.dnas import fakequant
from moo_nas.dnas.fakequant import MixQuant, MixQuantChannels, levels


def _close(a: torch.Tensor, b: torch.Tensor, scale: torch.Tensor, rel: float = 1e-6) -> bool:
    """``|a - b| <= rel · scale`` elementwise (``scale``: magnitudes of the summed terms)."""
    return bool(torch.all((a - b).abs() <= rel * scale + 1e-30))


def _act_reference(y: torch.Tensor, probs: torch.Tensor, bits: tuple[int, ...]) -> torch.Tensor:
    amax = y.detach().abs().max().clamp_min(1e-12)
    out = 0
    for p, b in zip(probs, bits):
        n = levels(b)
        q = torch.round(y.detach() * (n / amax)) * (amax / n)
        out = out + p * (y + (q - y).detach())  # straight-through rounding
    return out


def _check_act(y0: torch.Tensor, bits: tuple[int, ...]) -> None:
    gen = torch.Generator().manual_seed(y0.numel())
    probs0 = torch.softmax(torch.randn(len(bits), generator=gen, dtype=torch.float64), 0)
    grad = torch.randn(y0.shape, generator=gen, dtype=torch.float64).to(y0.dtype)
    y = y0.clone().requires_grad_(True)
    p = probs0.to(y0.dtype).requires_grad_(True)
    out = MixQuant.apply(y, p, tuple(levels(b) for b in bits))
    out.backward(grad)
    # reference in float64, so the tolerance measures the kernel, not the reference's sums
    y64 = y0.double().requires_grad_(True)
    p64 = p.detach().double().requires_grad_(True)
    ref = _act_reference(y64, p64, bits)
    ref.backward(grad.double())
    assert _close(out.double(), ref, ref.detach().abs())
    assert _close(y.grad.double(), y64.grad, grad.double().abs())
    # d/dp_a sums grad · Q_a(y) over every element: compare relative to the sum of |terms|
    terms = (grad.double().abs() * y0.double().abs().max()).sum()
    assert _close(p.grad.double(), p64.grad, terms.expand(len(bits)))


SHAPES = [(4, 5, 6), (3, 16, 9, 9), (2, 7)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("bits", [(2, 4, 8), (4, 8), (8,)])
def test_activation_mixture_matches_autograd_reference(shape, bits):
    torch.manual_seed(len(shape))
    _check_act(torch.randn(shape) * 3, bits)
    _check_act(torch.randn(shape).relu(), bits)  # non-negative, as after a ReLU


def test_activation_mixture_on_float64_and_non_contiguous_input():
    torch.manual_seed(0)
    _check_act(torch.randn(6, 8, dtype=torch.float64), (2, 4, 8))
    _check_act(torch.randn(8, 6, 5).transpose(0, 2), (2, 4, 8))


def test_eager_chunks_cover_every_element(monkeypatch):
    monkeypatch.setattr(fakequant, "CHUNK", 7)  # several chunks and a ragged last one
    torch.manual_seed(1)
    _check_act(torch.randn(5, 11), (2, 4, 8))


def test_fused_path_matches_reference(monkeypatch):
    """The compiled kernels (or, without a C++ compiler, the eager fallback after one
    warning) give the reference's values and gradients."""
    monkeypatch.setattr(fakequant, "FUSE_MIN_NUMEL", 1)
    monkeypatch.setattr(fakequant._Fused, "disabled", False)
    torch.manual_seed(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no C++ compiler: eager fallback
        _check_act(torch.randn(4, 3, 10, 10), (2, 4, 8))
        _check_act(torch.randn(2, 5, 7).relu(), (2, 4, 8))  # a second shape, same kernels
    if shutil.which("g++") or shutil.which("c++"):
        assert not fakequant._Fused.disabled  # the compiled kernels really ran


def _weight_reference(w: torch.Tensor, probs: torch.Tensor, bits: tuple[int, ...]) -> torch.Tensor:
    """The mixture as the search composed it before: one fake_quantize_per_channel_affine per
    bit-width, mixed with autograd."""
    amax = w.detach().abs().flatten(1).amax(dim=1).clamp_min(1e-12)
    zero = torch.zeros(w.shape[0], dtype=torch.int32)
    shape = (-1,) + (1,) * (w.dim() - 1)
    out = 0
    for i, b in enumerate(bits):
        if b == 0:
            continue
        n = levels(b)
        q = torch.fake_quantize_per_channel_affine(w, amax / n, zero, 0, -n, n)
        out = out + probs[:, i].view(shape) * q
    return out


@pytest.mark.parametrize("shape", [(8, 3, 3, 3), (5, 7), (4, 1, 5)])
@pytest.mark.parametrize("bits", [(0, 2, 4, 8), (2, 4, 8), (0, 8), (2, 4, 8, 0), (4, 0, 8)])
def test_weight_mixture_matches_fake_quantize_composition(shape, bits):
    torch.manual_seed(sum(shape))
    w0 = torch.randn(shape)
    logits = torch.randn(shape[0], len(bits))
    grad = torch.randn(shape)
    outs, grads = [], []
    for fn in ("new", "ref"):
        w = w0.clone().requires_grad_(True)
        p = torch.softmax(logits, 1).requires_grad_(True)
        if fn == "new":
            out = MixQuantChannels.apply(w, p, tuple(levels(b) if b else 0 for b in bits))
        else:
            out = _weight_reference(w, p, bits)
        out.backward(grad)
        outs.append(out.detach())
        grads.append((w.grad, p.grad if p.grad is not None else torch.zeros_like(p)))
    scale = w0.abs().amax(dim=tuple(range(1, w0.dim())), keepdim=True).expand_as(w0)
    assert _close(outs[0], outs[1], scale)
    assert _close(grads[0][0], grads[1][0], grad.abs())
    gscale = (grad.abs() * scale).flatten(1).sum(1, keepdim=True).expand_as(grads[1][1])
    assert _close(grads[0][1], grads[1][1], gscale)
