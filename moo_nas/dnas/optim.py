"""Adam for the search parameters, run on one flat vector.

A search step updates a dozen or more tiny tensors (one per channel group, kernel ring set and
depth variable, or the precision logits).  ``torch.optim.Adam`` on CPU loops over them in every
multi-tensor operation, about half a millisecond per step on a ResNet-8's 14 masks;
:class:`FlatAdam` joins their gradients into one vector and does the same arithmetic in a dozen
operations whatever their number.  The update is ``torch.optim.Adam``'s to the bit (the same
operations with the same scalar bias corrections; ``tests/dnas/test_dnas_optim.py``); a
parameter without a gradient in a step is not updated, its moments and step count stay, as
torch's Adam does (the clipping to ``bounds`` applies to every parameter).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch


class FlatAdam:
    """Adam over ``params`` (no weight decay, no AMSGrad) with learning rate ``lr`` (an
    attribute: set it before :meth:`step` to schedule it) and, when ``bounds`` is given, the
    parameters clipped to ``[low, high]`` after each update."""

    def __init__(self, params: Sequence[torch.Tensor], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, bounds: tuple[float, float] | None = None) -> None:
        self.params = list(params)
        self.lr = float(lr)
        self.beta1, self.beta2 = (float(b) for b in betas)
        self.eps = float(eps)
        self.bounds = bounds
        self.sizes = [p.numel() for p in self.params]
        n = sum(self.sizes)
        dtype = self.params[0].dtype if self.params else torch.float32
        self.exp_avg = torch.zeros(n, dtype=dtype)
        self.exp_avg_sq = torch.zeros(n, dtype=dtype)
        self.steps = [0] * len(self.params)  # per parameter, as torch keeps them
        self._one_d = all(p.dim() == 1 for p in self.params)  # joined without reshaping

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        if not self.params:
            return
        grads = [p.grad for p in self.params]
        if None not in grads and len(set(self.steps)) == 1:  # every parameter, one step count
            self._step_all(grads)  # type: ignore[arg-type]
            return
        missing = [g is None for g in grads]
        if all(missing):
            return
        g = torch.cat([p.new_zeros(p.numel()) if gr is None else gr.reshape(-1)
                       for p, gr in zip(self.params, grads)])
        for i, m in enumerate(missing):
            if not m:
                self.steps[i] += 1
        keep = torch.cat([torch.full((n,), m) for n, m in zip(self.sizes, missing)])
        m_old, v_old = self.exp_avg.clone(), self.exp_avg_sq.clone()
        self.exp_avg.lerp_(g, 1 - self.beta1)
        self.exp_avg_sq.mul_(self.beta2).addcmul_(g, g, value=1 - self.beta2)
        # moments of what had no gradient stay as they were
        self.exp_avg = torch.where(keep, m_old, self.exp_avg)
        self.exp_avg_sq = torch.where(keep, v_old, self.exp_avg_sq)
        flat = torch.cat([p.detach().reshape(-1) for p in self.params])
        # per parameter with its own step count (torch's scalar bias corrections); the
        # parameters without a gradient are not touched
        offset = 0
        for n, t, m in zip(self.sizes, self.steps, missing):
            if not m:
                part = slice(offset, offset + n)
                denom = (self.exp_avg_sq[part].sqrt() / math.sqrt(1 - self.beta2 ** t)).add_(self.eps)
                flat[part].addcdiv_(self.exp_avg[part], denom, value=-self.lr / (1 - self.beta1 ** t))
            offset += n
        if self.bounds is not None:  # every parameter, as clipping after any optimiser does
            flat.clamp_(*self.bounds)
        # in place (their version counters move: the masks' caches see the update)
        views = [v.view_as(p) for v, p in zip(flat.split(self.sizes), self.params)]
        torch._foreach_copy_(self.params, views)

    def _step_all(self, grads: list[torch.Tensor]) -> None:
        """:meth:`step` when every parameter has a gradient and all share one step count
        (the same operations in fewer calls)."""
        params = self.params
        g = torch.cat(grads if self._one_d else [x.reshape(-1) for x in grads])
        t = self.steps[0] + 1
        self.steps = [t] * len(params)
        self.exp_avg.lerp_(g, 1 - self.beta1)
        self.exp_avg_sq.mul_(self.beta2).addcmul_(g, g, value=1 - self.beta2)
        flat = torch.cat(params if self._one_d else [p.reshape(-1) for p in params])
        denom = (self.exp_avg_sq.sqrt() / math.sqrt(1 - self.beta2 ** t)).add_(self.eps)
        flat.addcdiv_(self.exp_avg, denom, value=-self.lr / (1 - self.beta1 ** t))
        if self.bounds is not None:
            flat.clamp_(*self.bounds)
        parts = flat.split(self.sizes)
        torch._foreach_copy_(params, parts if self._one_d else [v.view_as(p) for v, p in zip(parts, params)])
