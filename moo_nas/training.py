"""Training recipes and the trainer.

:func:`train` trains a module on a task's training split with a declared :class:`Recipe` and
returns validation and test accuracy, wall time and the device.  It is deterministic for a
given seed: parameters are initialised by the caller under the same seed, minibatch order comes
from a seeded generator, and the number of intra-op threads is fixed by the recipe.
"""

from __future__ import annotations

import math
import platform
import time
from dataclasses import asdict, dataclass, fields
from typing import Any, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .cpu import torch_threads
from .data import Task
from .errors import UserError


@dataclass(frozen=True)
class Recipe:
    """How a candidate is trained.  ``schedule``: ``cosine`` or ``constant``;
    ``optimizer``: ``adam``, ``adamw`` or ``sgd`` (momentum 0.9, nesterov)."""

    epochs: int = 8
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 3e-3
    weight_decay: float = 0.0
    schedule: str = "cosine"
    label_smoothing: float = 0.0
    threads: int = 1
    eval_batch_size: int = 512

    def __post_init__(self) -> None:
        if self.optimizer not in ("adam", "adamw", "sgd"):
            raise UserError(f"recipe optimizer {self.optimizer!r} is unknown; use adam, adamw or sgd.")
        if self.schedule not in ("cosine", "constant"):
            raise UserError(f"recipe schedule {self.schedule!r} is unknown; use cosine or constant.")
        for name in ("epochs", "batch_size", "threads", "eval_batch_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:  # epochs=0 trains nothing
                raise UserError(f"recipe {name} must be a positive integer (1 or more), got {v!r}.")
        for name in ("lr", "weight_decay", "label_smoothing"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or not math.isfinite(v):
                raise UserError(f"recipe {name} must be a non-negative number, got {v!r}.")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> "Recipe":
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise UserError(f"unknown recipe key(s) {unknown}; allowed: {', '.join(sorted(names))}.")
        return cls(**data)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class TrainResult:
    """Outcome of training one candidate."""

    val_accuracy: float
    test_accuracy: float
    train_seconds: float  # device seconds (CPU time of the process on a CPU, see device_seconds)
    epochs: int
    final_loss: float
    device: str
    wall_seconds: float = 0.0


def device_seconds() -> float:
    """A clock of what the device spent: on a CPU, this process's CPU time (all its threads,
    so search cost does not grow when other jobs load the machine); on a GPU, wall time."""
    if torch.cuda.is_available():
        return time.perf_counter()
    return time.process_time()


def host_device() -> str:
    """Human-readable name of the CPU (or GPU) this process computes on."""
    if torch.cuda.is_available():
        return "cuda:" + torch.cuda.get_device_name(0)
    return cpu_name()


def cpu_name() -> str:
    """``cpu:<model name>`` of this host's processor."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"cpu:{name}"


def make_optimizer(recipe: Recipe, params) -> torch.optim.Optimizer:
    """The recipe's optimiser over ``params`` (``adam``, ``adamw``, or ``sgd`` with Nesterov
    momentum 0.9; the recipe's learning rate and weight decay); used by :func:`train` and by
    the DNAS search for the network weights."""
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    return torch.optim.SGD(params, lr=recipe.lr, momentum=0.9, nesterov=True,
                           weight_decay=recipe.weight_decay)


def recipe_steps(recipe: Recipe, n_train: int) -> int:
    """Optimiser steps :func:`train_epochs` counts for ``recipe`` on ``n_train`` training
    samples (a last minibatch of one sample is skipped but still counted)."""
    return recipe.epochs * max(1, math.ceil(n_train / recipe.batch_size))


def make_schedule(recipe: Recipe, opt: torch.optim.Optimizer,
                  total_steps: int) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The recipe's learning-rate schedule over ``total_steps`` steps (cosine annealing to 0),
    or None for a constant rate."""
    if recipe.schedule != "cosine":
        return None
    return torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, total_steps))


def optimiser_step(module: nn.Module, x: torch.Tensor, y: torch.Tensor, recipe: Recipe,
                   opt: torch.optim.Optimizer, sched: torch.optim.lr_scheduler.LRScheduler | None,
                   extra_loss=None, step: int = 0) -> float:
    """One step of the trainer on the minibatch ``(x, y)``: forward, cross-entropy with the
    recipe's label smoothing (plus ``extra_loss(module)``), backward, optimiser and schedule
    update; returns the loss.  Raises :class:`TrainingDiverged` (naming ``step``) on a NaN or
    infinite loss, before any update."""
    loss = F.cross_entropy(module(x), y, label_smoothing=recipe.label_smoothing)
    if extra_loss is not None:
        loss = loss + extra_loss(module)
    if not torch.isfinite(loss):
        raise TrainingDiverged(f"loss became {loss.item()} at step {step}")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if sched is not None:
        sched.step()
    return loss.item()


@torch.no_grad()
def accuracy(module: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> float:
    """Top-1 accuracy of ``module`` in eval mode."""
    was_training = module.training
    module.eval()
    correct = 0
    for i in range(0, len(y), batch_size):
        correct += int((module(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size]).sum())
    module.train(was_training)
    return correct / max(1, len(y))


def train_epochs(module: nn.Module, task: Task, recipe: Recipe, seed: int,
                 extra_loss=None, on_step=None) -> float:
    """Run the recipe's optimisation loop; returns the last minibatch loss.

    ``extra_loss(module)`` adds a term to the task loss (used by DNAS); ``on_step(step, total)``
    is called after every optimiser step.  Raises :class:`TrainingDiverged` on a NaN loss.
    """
    gen = torch.Generator().manual_seed(seed)
    opt = make_optimizer(recipe, [p for p in module.parameters() if p.requires_grad])
    n = len(task.y_train)
    total = recipe_steps(recipe, n)
    sched = make_schedule(recipe, opt, total)
    module.train()
    loss_value = float("nan")
    step = 0
    for _ in range(recipe.epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, recipe.batch_size):
            idx = perm[i : i + recipe.batch_size]
            if len(idx) < 2:  # BatchNorm cannot train on one sample
                continue
            loss_value = optimiser_step(module, task.x_train[idx], task.y_train[idx], recipe,
                                        opt, sched, extra_loss, step)
            step += 1
            if on_step is not None:
                on_step(step, total)
    return loss_value


class _Stop(Exception):
    """Raised from the step callback of :func:`train_until` to end the loop."""


def train_until(module: nn.Module, task: Task, recipe: Recipe, seed: int,
                stop: Callable[[int, int], bool]) -> int:
    """Run the recipe's loop (:func:`train_epochs`: same batches, optimiser, schedule) with the
    recipe's thread count (restored afterwards), calling ``stop(step, total)`` after every
    optimiser step and ending as soon as it returns True; returns the steps done.  For callers
    that need only the start of a recipe (step timing, early learning-curve points)."""
    done = [0]

    def on_step(step: int, total: int) -> None:
        done[0] = step
        if stop(step, total):
            raise _Stop

    with torch_threads(recipe.threads):
        try:
            train_epochs(module, task, recipe, seed, on_step=on_step)
        except _Stop:
            pass
    return done[0]


def train(module: nn.Module, task: Task, recipe: Recipe, seed: int) -> TrainResult:
    """Train ``module`` with ``recipe`` and report validation / test accuracy."""
    with torch_threads(recipe.threads):
        t0, w0 = device_seconds(), time.perf_counter()
        loss = train_epochs(module, task, recipe, seed)
        val = accuracy(module, task.x_val, task.y_val, recipe.eval_batch_size)
        test = accuracy(module, task.x_test, task.y_test, recipe.eval_batch_size)
        seconds, wall = device_seconds() - t0, time.perf_counter() - w0
    return TrainResult(val, test, seconds, recipe.epochs, loss, host_device(), wall)
