"""Parameter and MAC counts measured on a user's module itself, independent of the trace.

Used to check the traced layer description: :func:`count_module` runs the module once with
forward hooks on every ``Conv1d`` / ``Conv2d`` / ``Linear`` and counts, under the conventions
of :mod:`moo_nas.costs`:

* parameters - ``weight.numel()`` plus one (folded) bias per output channel of each layer;
* MACs - per output element ``in_channels / groups x prod(kernel)`` for a convolution, and
  ``in_features`` per output feature for a linear layer, for one input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn as nn


@dataclass(frozen=True)
class ModuleCounts:
    """Counts of one module on one input shape (source: forward hooks on the user's module)."""

    params: int
    macs: int
    layers: int


@torch.no_grad()
def count_module(module: nn.Module, input_shape: Sequence[int]) -> ModuleCounts:
    """Parameters and MACs of ``module`` for one input of ``input_shape`` (see module doc)."""
    macs = [0]
    params = [0]
    layers = [0]

    def hook(mod: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        assert isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Linear))  # the only modules hooked
        per_sample = output[0]
        layers[0] += 1
        params[0] += mod.weight.numel() + mod.weight.shape[0]
        if isinstance(mod, nn.Linear):
            macs[0] += per_sample.numel() * mod.in_features
        else:
            macs[0] += per_sample.numel() * (mod.in_channels // mod.groups) * math.prod(mod.kernel_size)

    handles = [m.register_forward_hook(hook) for m in module.modules()
               if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))]
    was_training = module.training
    try:
        module.eval()
        module(torch.zeros(1, *input_shape))
    finally:
        for h in handles:
            h.remove()
        module.train(was_training)
    return ModuleCounts(params[0], macs[0], layers[0])
