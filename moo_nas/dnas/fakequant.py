"""Mixtures of symmetric fake quantisers with straight-through gradients - the numerical kernels
of the mixed-precision search (:mod:`moo_nas.dnas.mixed_precision`).

:class:`MixQuant` (activations, per tensor): ``sum_a p_a · Q_a(y)`` with
``Q_a(y) = round(y · n_a / m) · m / n_a``, ``m = max|y|`` (nothing is clipped, so the
straight-through gradient with respect to ``y`` is the identity; ``m`` is a constant for
autograd), and ``d/dp_a = <grad, Q_a(y)>``.

Cost: the activation quantisers run on every searchable layer's output of every step, so they
are written for few passes over activation-sized memory and no activation-sized temporaries:
``m`` from one ``aminmax`` pass; the mixture and, in the backward pass, the three dot products
are one fused loop each - a ``torch.compile``'d kernel where that works (large tensors only,
see :data:`FUSE_MIN_NUMEL`), else eager torch over cache-sized chunks.  The backward pass
recomputes the rounded values from ``y`` (which the preceding activation keeps alive anyway)
instead of storing them.  :class:`MixQuantChannels` (weights, per output channel) does the same
for the small weight tensors in one autograd node instead of one per bit-width.
"""

from __future__ import annotations

import os
import warnings
from typing import Callable, Sequence

import torch

#: activations with fewer elements use the eager chunked path: the one-off compile (about ten
#: seconds on a cold cache) pays only where activations are large, and small networks (the test
#: suite's) never wait for it
FUSE_MIN_NUMEL = 2**18
#: elements per chunk of the eager path (its ``(levels, CHUNK)`` scratch stays in L2)
CHUNK = 2**15
#: set to ``1`` to never compile (the eager path computes the same values)
NO_COMPILE_ENV = "MOO_NAS_NO_COMPILE"


def levels(bits: int) -> int:
    """Largest integer level of a symmetric ``bits``-bit quantiser (``2^(b-1) - 1``)."""
    return 2 ** (bits - 1) - 1


# ---------------------------------------------------------------------------- kernels
def _mix_fused(flat: torch.Tensor, k: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``sum_a c_a · round(flat · k_a)`` written for one fused loop."""
    out = torch.round(flat * k[0]) * c[0]
    for a in range(1, k.shape[0]):
        out = out + torch.round(flat * k[a]) * c[a]
    return out


def _dots_fused(flat: torch.Tensor, grad: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """``[<grad, round(flat · k_a)>]_a`` written for one fused reduction loop."""
    return torch.stack([(torch.round(flat * k[a]) * grad).sum() for a in range(k.shape[0])])


def _mix_eager(flat: torch.Tensor, k: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(flat)
    size = min(flat.numel(), CHUNK)
    scratch = torch.empty(k.shape[0], size, dtype=flat.dtype, device=flat.device)
    kc = k.view(-1, 1)
    for i in range(0, flat.numel(), size):
        j = min(flat.numel(), i + size)
        s = scratch[:, : j - i]
        torch.mul(flat[i:j].view(1, -1), kc, out=s)
        s.round_()
        torch.mv(s.t(), c, out=out[i:j])
    return out


def _dots_eager(flat: torch.Tensor, grad: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    size = min(flat.numel(), CHUNK)
    scratch = torch.empty(k.shape[0], size, dtype=flat.dtype, device=flat.device)
    kc = k.view(-1, 1)
    out = torch.zeros(k.shape[0], dtype=flat.dtype, device=flat.device)
    for i in range(0, flat.numel(), size):
        j = min(flat.numel(), i + size)
        s = scratch[:, : j - i]
        torch.mul(flat[i:j].view(1, -1), kc, out=s)
        s.round_()
        out.addmv_(s, grad[i:j])
    return out


class _Fused:
    """A kernel compiled on first use; after any failure of compilation or of a compiled call
    (no C++ compiler, an unsupported device) every call takes the eager version, with one
    warning."""

    compiled: dict[str, Callable[..., torch.Tensor]] = {}
    disabled = os.environ.get(NO_COMPILE_ENV, "") not in ("", "0")

    @classmethod
    def call(cls, name: str, fused: Callable[..., torch.Tensor],
             eager: Callable[..., torch.Tensor], *args: torch.Tensor) -> torch.Tensor:
        if cls.disabled or args[0].numel() < FUSE_MIN_NUMEL:
            return eager(*args)
        try:
            fn = cls.compiled.get(name)
            if fn is None:
                fn = cls.compiled[name] = torch.compile(fused, dynamic=True)
            return fn(*args)
        except Exception as e:  # the kernels are pure, so the eager version can redo the call
            cls.disabled = True
            warnings.warn(f"moo_nas: fused fake-quantisation kernels unavailable ({type(e).__name__});"
                          f" using the eager version", RuntimeWarning, stacklevel=2)
            return eager(*args)


# ---------------------------------------------------------------------------- autograd
class MixQuant(torch.autograd.Function):
    """``MixQuant.apply(y, probs, levels)``: the per-tensor activation mixture (module
    docstring); ``levels`` are the ``n_a`` (:func:`levels` of each bit-width), ``probs`` the
    mixing weights (a softmax)."""

    @staticmethod
    def forward(ctx, y: torch.Tensor, probs: torch.Tensor,
                levels: Sequence[int]) -> torch.Tensor:
        yd = y.detach()
        lo, hi = torch.aminmax(yd)
        amax = max(float(hi), -float(lo), 1e-12)
        step = torch.tensor([amax / n for n in levels], dtype=y.dtype, device=y.device)
        k = torch.tensor([n / amax for n in levels], dtype=y.dtype, device=y.device)
        c = probs.detach().to(y.dtype) * step
        flat = yd.reshape(-1)
        out = _Fused.call("mix", _mix_fused, _mix_eager, flat, k, c)
        ctx.save_for_backward(yd, k, step)
        return out.view(y.shape)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        y, k, step = ctx.saved_tensors
        g = grad.reshape(-1)
        dots = _Fused.call("dots", _dots_fused, _dots_eager, y.reshape(-1), g, k)
        return grad, dots * step, None


class MixQuantChannels(torch.autograd.Function):
    """``MixQuantChannels.apply(w, probs, levels)``: per output channel ``c`` of a weight ``w``,
    ``sum_a probs[c, a] · Q_a(w[c])`` with ``Q_a`` symmetric over ``[-max|w[c]|, max|w[c]|]``
    at ``levels[a]`` levels; a level of 0 is the pruning choice (contributes 0).

    The same values as ``torch.fake_quantize_per_channel_affine`` at scale ``max|w[c]| / n``
    (its arithmetic: ``round(w · (1 / scale)) · scale``) mixed by ``probs``, and the same
    straight-through gradients (nothing is clipped): ``d/dw = grad · sum_{a: n_a > 0} p[c, a]``,
    ``d/dp[c, a] = <grad[c], Q_a(w[c])>``; one autograd node instead of one per bit-width."""

    @staticmethod
    def forward(ctx, w: torch.Tensor, probs: torch.Tensor,
                levels: Sequence[int]) -> torch.Tensor:
        cols, inv_levels = _channel_constants(tuple(levels), w.dtype, w.device)
        flat = w.detach().reshape(w.shape[0], -1)
        amax = flat.abs().amax(dim=1).clamp_min(1e-12)
        scale = amax.unsqueeze(0) / inv_levels  # (A, C)
        q = torch.mul(flat.unsqueeze(0), (1.0 / scale).unsqueeze(2)).round_().mul_(scale.unsqueeze(2))
        p = probs.detach()[:, cols].t().to(w.dtype)  # (A, C)
        out = torch.mul(q[0], p[0].unsqueeze(1))
        for a in range(1, p.shape[0]):
            out.addcmul_(q[a], p[a].unsqueeze(1))
        ctx.save_for_backward(q, p)
        ctx.cols, ctx.n_levels = cols, len(levels)
        return out.view(w.shape)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        q, p = ctx.saved_tensors
        g = grad.reshape(grad.shape[0], -1)
        grad_w = g * p.sum(dim=0).unsqueeze(1)
        dots = (q * g.unsqueeze(0)).sum(dim=2)  # (A, C)
        cols = ctx.cols
        if isinstance(cols, slice):  # zero columns for the pruning choices around the others
            grad_p = torch.nn.functional.pad(dots.t(), (cols.start, ctx.n_levels - cols.stop))
        else:
            grad_p = torch.zeros(g.shape[0], ctx.n_levels, dtype=grad.dtype, device=grad.device)
            grad_p[:, cols] = dots.t()
        return grad_w.view(grad.shape), grad_p, None


_CHANNEL_CONSTANTS: dict[tuple, tuple[slice | list[int], torch.Tensor]] = {}


def _channel_constants(levels: tuple[int, ...], dtype: torch.dtype,
                       device: torch.device) -> tuple[slice | list[int], torch.Tensor]:
    """For :class:`MixQuantChannels`: the columns of the non-zero levels (a slice when they
    are contiguous, as with the pruning level 0 first) and those levels as an ``(A, 1)``
    tensor; made once per levels, dtype and device."""
    key = (levels, dtype, device)
    c = _CHANNEL_CONSTANTS.get(key)
    if c is None:
        cols = [a for a, n in enumerate(levels) if n]
        span = slice(cols[0], cols[-1] + 1) if cols == list(range(cols[0], cols[-1] + 1)) else cols
        c = _CHANNEL_CONSTANTS[key] = (span, torch.tensor(
            [levels[a] for a in cols], dtype=dtype, device=device).view(-1, 1))
    return c
