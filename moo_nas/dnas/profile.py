"""Cost of a DNAS search step next to a plain training step, timed on the same minibatches.

A *stepper* does one optimisation step on a minibatch ``(x, y)`` and returns its loss.  Three
are built around one space's seed network:

* ``plain`` - :func:`plain_stepper`, a step of :func:`moo_nas.training.train_epochs` on
  ``space.build(seed)`` (same optimiser, loss, schedule: :func:`moo_nas.training.optimiser_step`);
* ``mask`` - a mask-search step (:class:`~moo_nas.dnas.search.SearchTrainer`: weights +
  channel/kernel/depth masks, multi-complexity loss; default: model_bytes hinge + MACs
  regulariser), masks initialised from channel importance;
* ``mps`` - a channel-wise mixed-precision search step ({0,2,4,8}-bit weights per channel,
  {2,4,8}-bit activations per layer; default: model_bytes hinge + bitops regulariser).

:func:`interleaved_epochs` runs several steppers batch by batch on the same minibatches, in a
rotating order, and sums each one's step times per epoch: on a shared machine the steppers
then see the same background load, so their ratios are what to read.  Times are measured
(wall clock, ``time.perf_counter``) on this host.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable, Mapping

import torch
import torch.nn.functional as F

from ..cpu import tune_allocator
from ..data import Task
from ..space import SearchSpace
from ..training import Recipe, make_optimizer, make_schedule, optimiser_step
from .loss import ComplexityLoss, LossConfig
from .mixed_precision import attach
from .search import SearchTrainer, init_from_importance, seed_costs
from .supernet import MaskedNet

#: one optimisation step on a minibatch; returns the loss
Stepper = Callable[[torch.Tensor, torch.Tensor], float]

#: search losses of the reference measurement (memory target half the seed's model bytes)
MASK_LOSS = LossConfig("model_bytes", 0.5, 10.0, "macs", 0.5)
MPS_LOSS = LossConfig("model_bytes", 0.5, 10.0, "bitops", 0.5)


def plain_stepper(module: torch.nn.Module, recipe: Recipe, total_steps: int) -> Stepper:
    """One step of the trainer on ``module`` with ``recipe``'s optimiser and schedule (the
    schedule spans ``total_steps``)."""
    opt = make_optimizer(recipe, [p for p in module.parameters() if p.requires_grad])
    sched = make_schedule(recipe, opt, total_steps)

    def step(x: torch.Tensor, y: torch.Tensor) -> float:
        module.train()
        return optimiser_step(module, x, y, recipe, opt, sched)

    return step


def search_stepper(net: MaskedNet, recipe: Recipe, total_steps: int, loss: LossConfig,
                   mask_lr: float = 0.02, aux_weight: float = 1.0) -> Stepper:
    """One search step on ``net`` (weights and search parameters) under ``loss``, whose costs
    are normalised by the seed network's exact costs."""
    closs = ComplexityLoss(loss, *seed_costs(net, loss))
    return SearchTrainer(net, recipe, total_steps, True, aux_weight, closs, mask_lr).step


def dnas_steppers(space: SearchSpace, recipe: Recipe, total_steps: int, seed: int = 0,
                  mask_loss: LossConfig = MASK_LOSS,
                  mps_loss: LossConfig = MPS_LOSS) -> dict[str, Stepper]:
    """The ``plain``, ``mask`` and ``mps`` steppers of ``space``'s seed network, built under
    ``seed`` (each on its own copy of the network)."""
    tune_allocator()  # as every training of moo_nas (moo_nas.cpu.torch_threads)
    torch.manual_seed(seed)
    plain = space.build(space.seed_genotype())
    masked = MaskedNet(space)
    init_from_importance(masked)
    mps = MaskedNet(space)
    attach(mps)
    return {"plain": plain_stepper(plain, recipe, total_steps),
            "mask": search_stepper(masked, recipe, total_steps, mask_loss),
            "mps": search_stepper(mps, recipe, total_steps, mps_loss)}


def interleaved_epochs(steppers: Mapping[str, Stepper], task: Task, batch_size: int,
                       epochs: int, train_size: int | None = None,
                       seed: int = 0) -> dict[str, list[float]]:
    """Seconds of each of ``epochs`` epochs per stepper.  Every epoch draws a seeded
    permutation of the training split (its first ``train_size`` samples when given) and feeds
    each minibatch to every stepper, the order rotating by one per minibatch; a stepper's
    epoch time is the sum of its step times (data selection is not counted)."""
    names = list(steppers)
    n = len(task.y_train) if train_size is None else min(int(train_size), len(task.y_train))
    if n < 1 or epochs < 1:
        raise ValueError(f"need at least one sample and one epoch, got {n} and {epochs}")
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, list[float]] = {m: [] for m in names}
    for _ in range(epochs):
        acc = dict.fromkeys(names, 0.0)
        perm = torch.randperm(len(task.y_train), generator=gen)[:n]
        for b, i in enumerate(range(0, n, batch_size)):
            idx = perm[i : i + batch_size]
            x, y = task.x_train[idx], task.y_train[idx]
            for k in range(len(names)):
                m = names[(b + k) % len(names)]
                t0 = time.perf_counter()
                steppers[m](x, y)
                acc[m] += time.perf_counter() - t0
        for m in names:
            out[m].append(acc[m])
    return out


def upsampled(task: Task, size: int) -> Task:
    """``task`` with every image resized to ``size`` x ``size`` (bilinear), e.g. the 8x8
    digits at 32x32 as in the reference measurement of DNAS epoch time."""
    def up(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)

    return replace(task, name=f"{task.name}{size}", input_shape=(task.input_shape[0], size, size),
                   x_train=up(task.x_train), x_val=up(task.x_val), x_test=up(task.x_test),
                   options={**task.options, "upsampled": size})
