"""Binarised search masks with straight-through gradients.

Every mask is a real parameter binarised at 0.5 in the forward pass; the backward pass treats
the binarisation as the identity (straight-through estimator), so the task loss and the cost
terms both reach the parameters.  Three kinds:

* :class:`ChannelMask` – one parameter per output channel of a channel group.  The forward
  mask keeps the ``n`` channels with the largest parameters, ``n`` being the number above 0.5
  rounded **up** to the space's option grid (at least its smallest option), so the masked
  network is exactly the network the export produces, and its costs are exact.
* :class:`KernelMask` – cumulative mask over the rings of kernel taps of one convolution
  (option ``k`` keeps the central ``k`` taps per dimension); ring ``j`` is kept only when every
  ring inside it is, so taps vanish from the outside in.
* :class:`DepthGates` – cumulative keep gates of the removable blocks; gives one weight per
  depth option, exactly one of which is 1.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn as nn

THRESHOLD = 0.5


def ste(hard: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
    """``hard`` in the forward pass, gradient of ``soft`` in the backward pass (``hard`` must
    not require a gradient and has ``soft``'s shape)."""
    if not soft.requires_grad:
        return hard
    # (a torch.autograd.Function doing the same in one node measured slower: its Python
    # forward and backward cost more than these native operations)
    return soft + (hard - soft).detach()


def binarise(theta: torch.Tensor) -> torch.Tensor:
    """Threshold at 0.5 with a straight-through gradient."""
    return ste((theta.detach() > THRESHOLD).to(theta.dtype), theta)


def grid_ceil(n: int, grid: Sequence[int]) -> int:
    """Smallest option of ``grid`` (ascending) that is >= ``n`` (the largest if none)."""
    for g in grid:
        if g >= n:
            return int(g)
    return int(grid[-1])


class ChannelMask(nn.Module):
    """Channel mask of one group, snapped up to an option grid (see module docstring)."""

    def __init__(self, grid: Sequence[int]):
        super().__init__()
        self.grid = tuple(int(g) for g in grid)
        self.theta = nn.Parameter(torch.ones(self.grid[-1]))
        self._hard: tuple[torch.Tensor, int, torch.Tensor] | None = None

    def hard(self) -> torch.Tensor:
        """The binary mask of the channels kept (no gradient).

        Recomputed only when ``theta`` changed (another tensor, or its in-place version
        counter moved), so the forward pass and the cost terms of one step share one top-n
        selection."""
        theta = self.theta
        c = self._hard
        if c is None or c[0] is not theta or c[1] != theta._version:
            c = self._hard = (theta, theta._version, self._select())
        return c[2]

    def _select(self) -> torch.Tensor:
        # in NumPy: a few microseconds for a vector of a few hundred entries, where the same
        # torch calls cost ten times that in dispatch (this runs every search step)
        theta = self.theta.detach().cpu().numpy()
        n = grid_ceil(int(np.count_nonzero(theta > THRESHOLD)), self.grid)
        mask = np.zeros(len(theta), dtype=theta.dtype)
        if n >= len(theta):
            mask[:] = 1.0
        else:
            # stable order: ties broken towards lower channel indices
            mask[np.argsort(-theta, kind="stable")[:n]] = 1.0
        return torch.from_numpy(mask).to(self.theta.device)

    def forward(self) -> torch.Tensor:
        return ste(self.hard(), self.theta)

    def kept(self) -> torch.Tensor:
        """Indices of the kept channels, ascending."""
        return torch.nonzero(self.hard(), as_tuple=False).flatten()


class KernelMask(nn.Module):
    """Cumulative ring mask over the taps of a centred odd kernel of ``dims`` dimensions."""

    base: torch.Tensor   # buffer: taps of the smallest option
    steps: torch.Tensor  # buffer: kernel size added by each ring
    rings: torch.Tensor  # buffer: taps added by each larger option, one ring per row

    def __init__(self, options: Sequence[int], dims: int):
        super().__init__()
        self.options = tuple(int(k) for k in options)
        self.dims = dims
        kmax = self.options[-1]
        centre = kmax // 2
        idx = torch.arange(kmax)
        # Chebyshev distance of each tap from the centre
        dist = (idx - centre).abs()
        for _ in range(dims - 1):
            dist = torch.maximum(dist.unsqueeze(-1), (idx - centre).abs().view(*([1] * dist.dim()), -1))
        rings = [(dist <= k // 2).float() for k in self.options]
        self.register_buffer("base", rings[0], persistent=False)
        self.register_buffer("rings", torch.stack([b - a for a, b in zip(rings, rings[1:])])
                             if len(rings) > 1 else torch.zeros(0, *rings[0].shape),
                             persistent=False)
        # kernel size added by each ring
        self.register_buffer("steps", torch.tensor(
            [b - a for a, b in zip(self.options, self.options[1:])], dtype=torch.float32),
            persistent=False)
        self.theta = nn.Parameter(torch.ones(len(self.options) - 1))

    def keeps(self) -> torch.Tensor:
        """Cumulative keep value of each ring beyond the smallest option (STE)."""
        b = binarise(self.theta)
        return b if len(b) == 1 else torch.cumprod(b, dim=0)  # (one ring: nothing to chain)

    def forward(self) -> torch.Tensor:
        """Tap mask of shape ``(k,)*dims``."""
        return self.taps(self.keeps())

    def taps(self, keeps: torch.Tensor) -> torch.Tensor:
        """Tap mask of shape ``(k,)*dims`` for the ring keeps ``keeps`` (see :meth:`keeps`)."""
        if len(keeps) == 1:  # two options: one ring (same value, two operations fewer)
            return self.base + keeps * self.rings[0]
        return self.base + (keeps.view(-1, *([1] * self.dims)) * self.rings).sum(0)

    def effective(self, keeps: torch.Tensor | None = None) -> torch.Tensor:
        """Kernel size per dimension as a differentiable scalar."""
        keeps = self.keeps() if keeps is None else keeps
        return self.options[0] + (keeps * self.steps.to(keeps.dtype)).sum()

    def chosen(self) -> int:
        with torch.no_grad():
            return int(round(float(self.effective())))


class DepthGates(nn.Module):
    """Keep gates of the blocks beyond the smallest depth option."""

    def __init__(self, options: Sequence[int]):
        super().__init__()
        self.options = tuple(int(o) for o in options)
        self.theta = nn.Parameter(torch.ones(len(self.options) - 1))

    def forward(self) -> torch.Tensor:
        """One weight per depth option (binary in the forward pass, exactly one is 1)."""
        keeps = torch.cumprod(binarise(self.theta), dim=0)
        one = torch.ones(1, dtype=keeps.dtype)
        upper = torch.cat([one, keeps])
        lower = torch.cat([keeps, torch.zeros(1, dtype=keeps.dtype)])
        return upper - lower

    def chosen(self) -> int:
        with torch.no_grad():
            return self.options[int(torch.argmax(self.forward()))]
