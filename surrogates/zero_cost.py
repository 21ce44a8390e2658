"""Zero-cost proxies: scores of an untrained network from one minibatch at initialisation.

Every proxy is computed on a freshly built module (``space.build(genotype)`` under a seed) and
one minibatch of the task's training split; higher means "predicted better" for all of them.

``synflow``   sum |theta * dR/dtheta| with all weights made positive and an all-ones input,
              R = sum of the outputs, in float64, BatchNorm in eval mode (Tanaka et al. 2020).
``snip``      sum |w * dL/dw| of convolution / linear weights, L = cross-entropy (Lee et al. 2019).
``grad_norm`` sum over layers of the L2 norm of dL/dw.
``jacob_cov`` -sum(log(l + k) + 1 / (l + k)) over eigenvalues l of the correlation matrix of
              the per-sample input Jacobians, k = 1e-5 (Mellor et al. 2020, v1).
``naswot``    log |det K| with K the Hamming-similarity kernel of the ReLU on/off codes of the
              minibatch (Mellor et al. 2021).  ReLUs are found by intercepting ``F.relu``.
``params``    analytic parameter count (:func:`moo_nas.costs.params`).
``macs``      analytic multiply-accumulates (:func:`moo_nas.costs.macs`).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from moo_nas import costs
from moo_nas.errors import UserError, unknown_name
from moo_nas.space import Genotype, SearchSpace

PROXIES = ("synflow", "snip", "grad_norm", "jacob_cov", "naswot", "params", "macs")


@dataclass(frozen=True)
class Minibatch:
    """The one minibatch every proxy sees (inputs and integer labels)."""

    x: torch.Tensor
    y: torch.Tensor


def minibatch(task, size: int = 64, seed: int = 0) -> Minibatch:
    """A seeded random minibatch of a task's training split."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(task.y_train), generator=g)[:size]
    return Minibatch(task.x_train[idx], task.y_train[idx])


def _weights(module: nn.Module) -> list[torch.Tensor]:
    return [m.weight for m in module.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))]


def _loss_grads(module: nn.Module, mb: Minibatch) -> list[torch.Tensor]:
    module.train()
    module.zero_grad(set_to_none=True)
    F.cross_entropy(module(mb.x), mb.y).backward()
    return [w.grad if w.grad is not None else torch.zeros_like(w) for w in _weights(module)]


def snip(module: nn.Module, mb: Minibatch) -> float:
    grads = _loss_grads(module, mb)
    return float(sum((w.detach() * g).abs().sum() for w, g in zip(_weights(module), grads)))


def grad_norm(module: nn.Module, mb: Minibatch) -> float:
    return float(sum(float(g.norm()) for g in _loss_grads(module, mb)))


def synflow(module: nn.Module, mb: Minibatch) -> float:
    net = copy.deepcopy(module).double().eval()
    with torch.no_grad():
        for p in net.state_dict().values():
            if p.is_floating_point():
                p.abs_()
    net.zero_grad(set_to_none=True)
    out = net(torch.ones((1,) + tuple(mb.x.shape[1:]), dtype=torch.float64))
    out.sum().backward()
    total = 0.0
    for w in _weights(net):
        if w.grad is not None:
            total += float((w.detach() * w.grad).abs().sum())
    return total


def jacob_cov(module: nn.Module, mb: Minibatch) -> float:
    module.train()
    x = mb.x.clone().requires_grad_(True)
    module.zero_grad(set_to_none=True)
    out = module(x)
    out.backward(torch.ones_like(out))
    jac = x.grad.reshape(len(x), -1).double().numpy()
    corr = np.corrcoef(jac)
    if not np.all(np.isfinite(corr)):
        return -1e9
    eig = np.linalg.eigvalsh(corr)
    k = 1e-5
    return float(-np.sum(np.log(eig + k) + 1.0 / (eig + k)))


class _ReluCodes(TorchFunctionMode):
    """Records the on/off pattern of every ReLU evaluated under this mode."""

    def __init__(self) -> None:
        super().__init__()
        self.codes: list[torch.Tensor] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func in (F.relu, torch.relu, torch.relu_, torch.Tensor.relu):
            self.codes.append((out.detach() > 0).reshape(out.shape[0], -1).double())
        return out


def naswot(module: nn.Module, mb: Minibatch) -> float:
    module.train()
    mode = _ReluCodes()
    with torch.no_grad(), mode:
        module(mb.x)
    if not mode.codes:
        return 0.0
    c = torch.cat(mode.codes, dim=1)
    k = c @ c.T + (1 - c) @ (1 - c).T
    sign, logdet = torch.linalg.slogdet(k)
    return float(logdet) if float(sign) > 0 else -1e9


_MODULE_PROXIES: dict[str, Callable[[nn.Module, Minibatch], float]] = {
    "synflow": synflow, "snip": snip, "grad_norm": grad_norm, "jacob_cov": jacob_cov,
    "naswot": naswot,
}


def compute(space: SearchSpace, genotype: Genotype, mb: Minibatch,
            proxies: Sequence[str] = PROXIES, seed: int = 0) -> dict[str, float]:
    """Proxy name -> score for one genotype (module initialised under ``seed``)."""
    for p in proxies:
        if p not in PROXIES:
            raise unknown_name("zero-cost proxy", p, PROXIES)
    out: dict[str, float] = {}
    arch = space.arch(genotype)
    if "params" in proxies:
        out["params"] = float(costs.params(arch))
    if "macs" in proxies:
        out["macs"] = float(costs.macs(arch))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for p in proxies:
            if p in _MODULE_PROXIES:
                torch.manual_seed(seed)
                module = space.build(genotype)
                value = _MODULE_PROXIES[p](module, mb)
                out[p] = value if math.isfinite(value) else -1e9
    finally:
        torch.set_num_threads(threads)
    return out


def score_matrix(space: SearchSpace, genotypes: Sequence[Genotype], mb: Minibatch,
                 proxies: Sequence[str] = PROXIES, seed: int = 0) -> np.ndarray:
    """Scores of many genotypes (rows) for ``proxies`` (columns, in the order given)."""
    if not genotypes:
        raise UserError("no genotypes to score; give at least one.")
    rows = [compute(space, g, mb, proxies, seed) for g in genotypes]
    return np.array([[r[p] for p in proxies] for r in rows], dtype=np.float64)
