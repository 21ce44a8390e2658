"""One DNAS run: warm-up of the seed, mask search, export (and optional fine-tune).

:func:`warmup` trains the seed inside a :class:`~moo_nas.dnas.supernet.MaskedNet` with the masks
frozen (shallower exit heads learn on detached features).  :func:`search` trains weights and
masks together under the :class:`~moo_nas.dnas.loss.ComplexityLoss`; :func:`enforce_memory`
then prunes greedily (lowest mask values per byte saved) until the exact memory cost of the
binarised masks meets the target, so **every exported network respects its memory target**;
:func:`run_point` chains them and exports.  All randomness comes from the given seed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..cpu import torch_threads
from ..data import Task
from ..errors import UserError
from ..space import SearchSpace
from ..training import Recipe, TrainingDiverged, accuracy, make_optimizer
from .export import Exported, export
from .loss import ComplexityLoss, LossConfig, cost_function
from .masks import ChannelMask, DepthGates, KernelMask
from .optim import FlatAdam
from .supernet import MaskedNet


#: steps after which the mask step size has fallen to 1/sqrt(2) of ``mask_lr``
MASK_LR_T0 = 25.0


@dataclass(frozen=True)
class SearchConfig:
    """Epochs of each phase, the mask learning rate and the loss (see :class:`LossConfig`).

    ``finetune_epochs`` 0 leaves fine-tuning to the caller (the strategy lets the common
    evaluator fine-tune from the exported weights)."""

    warmup_epochs: int = 4
    search_epochs: int = 4
    finetune_epochs: int = 0
    mask_lr: float = 0.02
    aux_weight: float = 1.0
    loss: LossConfig = field(default_factory=LossConfig)


@dataclass
class PointResult:
    """Outcome of one search point (costs are exact values of the exported network)."""

    exported: Exported
    memory_target: float
    memory: float
    energy: float
    masked_val_accuracy: float
    exported_val_accuracy: float
    search_seconds: float
    finetune_seconds: float = 0.0
    pruned_by_projection: int = 0


class SearchTrainer:
    """One optimisation step at a time: weights with the recipe's optimiser and schedule over
    ``total_steps``, and, with ``train_masks``, the search parameters (Adam without momentum,
    so the push stops as soon as a constraint is met; binary masks: step
    ``mask_lr / sqrt(1 + t / T0)``, see :data:`MASK_LR_T0`, clipped to [0, 1])."""

    def __init__(self, net: MaskedNet, recipe: Recipe, total_steps: int, train_masks: bool,
                 aux_weight: float = 1.0, closs: ComplexityLoss | None = None,
                 mask_lr: float = 0.02):
        self.net, self.recipe, self.aux_weight, self.closs = net, recipe, aux_weight, closs
        self.train_masks = train_masks
        net.set_masks_trainable(train_masks)
        self.opt = make_optimizer(recipe, [p for p in net.weight_parameters() if p.requires_grad])
        masks = [p for p in net.mask_parameters() if p.requires_grad] if train_masks else []
        binary = net.precision is None
        # many tiny tensors: one flat Adam (torch's update to the bit), binary masks clipped
        # to [0, 1] after each step
        self.mopt = (FlatAdam(masks, lr=mask_lr, betas=(0.0, 0.999), bounds=(0.0, 1.0) if binary else None)
                     if masks else None)
        self.mask_lr = mask_lr
        # Adam's normalisation turns the zero-mean task-gradient noise on a mask into steps of
        # about ``mask_lr`` each, so over a long search (>~1000 steps) masks random-walk across
        # the threshold and the network drifts far below its memory target even with no cost
        # pressure; an inverse-square-root decay of the mask step keeps the first pushes
        # intact and bounds that drift (variance ~ lr^2 T0 ln(1 + steps / T0)).  The
        # mixed-precision logits (softmax, no threshold) keep the constant step.
        self.mask_decay = binary
        self.sched = (torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, max(1, total_steps))
                      if recipe.schedule == "cosine" else None)
        self.names: tuple[str, ...] = closs.names if closs is not None else ()
        self.steps = 0

    def step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """Forward, loss (task + auxiliary exit heads + complexity), backward, update."""
        net = self.net
        if not net.training:  # (a call per step walks every submodule)
            net.train()
        loss = F.cross_entropy(net(x), y, label_smoothing=self.recipe.label_smoothing)
        for aux in net.aux_logits:
            loss = loss + self.aux_weight * F.cross_entropy(aux, y)
        net.aux_logits = []
        if self.closs is not None and self.train_masks:
            c = net.costs(self.names)
            loss = self.closs(loss, c[self.names[0]], c[self.names[1]], self.steps)
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"loss became {float(loss)} at step {self.steps}")
        self.opt.zero_grad(set_to_none=True)
        if self.mopt is not None:
            self.mopt.zero_grad()
        loss.backward()
        self.opt.step()
        if self.mopt is not None:
            self.mopt.step()
            self.mopt.lr = self.mask_step_size(self.steps + 1)  # for the next step
        if self.sched is not None:
            self.sched.step()
        self.steps += 1
        return float(loss.detach())

    def mask_step_size(self, step: int) -> float:
        """The mask learning rate of step ``step`` (0 first)."""
        return self.mask_lr * ((1.0 + step / MASK_LR_T0) ** -0.5 if self.mask_decay else 1.0)

    def close(self) -> None:
        self.net.set_masks_trainable(True)


def _loop(net: MaskedNet, task: Task, recipe: Recipe, epochs: int, seed: int,
          train_masks: bool, aux_weight: float, closs: ComplexityLoss | None,
          mask_lr: float) -> None:
    """``epochs`` passes over the training split in seeded minibatch order."""
    if epochs <= 0:
        return
    n = len(task.y_train)
    total = epochs * max(1, math.ceil(n / recipe.batch_size))
    trainer = SearchTrainer(net, recipe, total, train_masks, aux_weight, closs, mask_lr)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, recipe.batch_size):
            idx = perm[i : i + recipe.batch_size]
            if len(idx) >= 2:
                trainer.step(task.x_train[idx], task.y_train[idx])
    trainer.close()


def warmup(space: SearchSpace, task: Task, recipe: Recipe, epochs: int, seed: int,
           aux_weight: float = 1.0) -> MaskedNet:
    """The masked seed network trained for ``epochs`` with the masks frozen, on the recipe's
    number of threads (as :func:`run_point` and the trainer)."""
    with torch_threads(recipe.threads):
        torch.manual_seed(seed)
        net = MaskedNet(space)
        _loop(net, task, recipe, epochs, seed, False, aux_weight, None, 0.0)
    return net


def seed_costs(net: MaskedNet, config: LossConfig) -> tuple[float, float]:
    """Memory and energy cost of the seed network (exact)."""
    arch = net.plan.arch
    return (float(cost_function(config.memory_cost)(arch)),
            float(cost_function(config.energy_cost)(arch)))


@torch.no_grad()
def init_from_importance(net: MaskedNet, low: float = 0.55) -> None:
    """Spread each group's channel mask parameters over ``[low, 1]`` by channel importance
    (BatchNorm ``|gamma|``, else the output weight norm, summed over the group's layers, each
    normalised by its maximum): under a uniform cost pressure the least important channels
    then cross the 0.5 threshold first instead of all at once."""
    for g in net.plan.groups:
        score = torch.zeros(g.size)
        for name in g.ops:
            if name in net.net.norms:
                s = net.net.norm(name).weight.detach().abs()
            else:
                s = net.net.weight_layer(name).weight.detach().flatten(1).norm(dim=1)
            score += s / s.max().clamp_min(1e-12)
        rank = torch.argsort(torch.argsort(score, stable=True), stable=True).float()
        net.channel_mask(g.variable).theta.copy_(low + (1 - low) * (rank + 1) / g.size)


def search(net: MaskedNet, task: Task, recipe: Recipe, config: SearchConfig, seed: int) -> None:
    """Train weights and masks together under the multi-complexity loss (channel masks
    initialised by importance, see :func:`init_from_importance`)."""
    if net.precision is None:
        init_from_importance(net)
    mem0, en0 = seed_costs(net, config.loss)
    closs = ComplexityLoss(config.loss, mem0, en0)
    _loop(net, task, recipe, config.search_epochs, seed + 1, True, config.aux_weight, closs,
          config.mask_lr)


@torch.no_grad()
def exact_cost(net: MaskedNet, name: str) -> float:
    """Cost ``name`` of the network the binarised masks describe."""
    return float(net.costs((name,))[name])


def _step_down(m: ChannelMask) -> torch.Tensor | None:
    """Mask parameters of ``m`` with the group lowered by one grid step (dropping the kept
    channels with the smallest parameters), or None at the smallest option."""
    kept = m.kept()
    lower = [g for g in m.grid if g < len(kept)]
    if not lower:
        return None
    order = kept[torch.argsort(m.theta[kept].detach(), stable=True)]
    drop, stay = order[: len(kept) - lower[-1]], order[len(kept) - lower[-1]:]
    theta = m.theta.detach().clone()
    theta[drop] = 0.0
    theta[stay] = theta[stay].clamp(min=0.5 + 1e-3)
    return theta


@torch.no_grad()
def enforce_memory(net: MaskedNet, config: LossConfig) -> int:
    """Lower channel groups one grid step at a time (the group losing the least mask mass
    per byte saved first) until the memory cost is at most the target; then kernels, then
    depth.  Returns the number of steps taken; raises :class:`UserError` if even the
    smallest network misses the target."""
    mem0, _ = seed_costs(net, config)
    target = config.memory_target * mem0
    steps = 0
    while exact_cost(net, config.memory_cost) > target + 1e-9:
        before = exact_cost(net, config.memory_cost)
        best: tuple[float, ChannelMask | None, torch.Tensor | None] | None = None
        for v in net.channel_masks:
            m = net.channel_mask(v)
            theta = _step_down(m)
            if theta is None:
                continue
            old = m.theta.detach().clone()
            m.theta.copy_(theta)
            saved = before - exact_cost(net, config.memory_cost)
            m.theta.copy_(old)
            score = float((old - theta).clamp(min=0).sum()) / max(saved, 1e-9)
            if saved > 0 and (best is None or score < best[0]):
                best = (score, m, theta)
        if best is None:
            gated: list[KernelMask | DepthGates] = [net.kernel_mask(v) for v in net.kernel_masks]
            if net.depth_gates is not None:
                gated.append(net.depth_gates)
            for gates in gated:
                alive = torch.nonzero(gates.theta > 0.5).flatten()
                if len(alive):
                    gates.theta[alive[-1]] = 0.0
                    best = (0.0, None, None)
                    break
            if best is None:
                raise UserError(f"memory target {config.memory_target:g} of the seed is below the "
                                "smallest network of the space; raise the target.")
        elif best[1] is not None and best[2] is not None:
            best[1].theta.copy_(best[2])
        steps += 1
    return steps


def finetune(exported: Exported, space: SearchSpace, task: Task, recipe: Recipe, epochs: int,
             seed: int) -> tuple[torch.nn.Module, float]:
    """Build the exported network, load its weights and train it for ``epochs`` more."""
    module = space.build(exported.genotype)
    module.load_state_dict(exported.state_dict)
    t0 = time.perf_counter()
    if epochs > 0:
        from ..training import train_epochs

        train_epochs(module, task, Recipe(**{**recipe.to_json(), "epochs": epochs}), seed)
    return module, time.perf_counter() - t0


def run_point(warm: MaskedNet, task: Task, recipe: Recipe, config: SearchConfig,
              seed: int) -> PointResult:
    """Search from a copy of the warmed-up network, enforce the memory target, export."""
    with torch_threads(recipe.threads):
        t0 = time.perf_counter()
        net = MaskedNet(warm.space, warm.plan)
        net.load_state_dict(warm.state_dict())
        torch.manual_seed(seed)
        search(net, task, recipe, config, seed)
        pruned = enforce_memory(net, config.loss)
        masked_acc = accuracy(net, task.x_val, task.y_val, recipe.eval_batch_size)
        ex = export(net)
        seconds = time.perf_counter() - t0
        module, ft = finetune(ex, net.space, task, recipe, config.finetune_epochs, seed)
        if config.finetune_epochs > 0:
            ex = Exported(ex.genotype, ex.arch, {k: v.detach().clone() for k, v in module.state_dict().items()})
        acc = accuracy(module, task.x_val, task.y_val, recipe.eval_batch_size)
    mem0, _ = seed_costs(net, config.loss)
    return PointResult(
        ex, config.loss.memory_target * mem0,
        float(cost_function(config.loss.memory_cost)(ex.arch)),
        float(cost_function(config.loss.energy_cost)(ex.arch)),
        masked_acc, acc, seconds, ft, pruned)
