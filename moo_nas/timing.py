"""Training time of a network estimated from a few timed minibatches, and a file that keeps it.

A search that rejects a candidate before training never learns what training it would have
cost.  :func:`time_training_steps` measures it cheaply: it builds the network and runs the
first ``warmup + steps`` optimiser steps of the recipe with the trainer's own loop
(:func:`moo_nas.training.train_epochs`: same batches, optimiser, schedule and thread count),
times the last ``steps`` of them, and times one evaluation batch.  The estimate of the full
recipe (:attr:`StepTiming.train_seconds`) is

    per-step seconds x the recipe's optimiser steps + one evaluation batch's seconds scaled to
    the validation and test splits,

which is *measured* (on :attr:`StepTiming.device`, with the clock the trainer charges,
:func:`moo_nas.training.device_seconds`: process CPU time on a CPU, so an estimate is
comparable with a trained network's ``train_s`` and does not grow with the machine's load), not
modelled, but extrapolated: it assumes every step costs what the timed ones did and leaves out
per-epoch overheads.

:class:`TimingCache` keeps step timings and full trainings done outside the engine in one JSON
file, so a benchmark run again replays them instead of measuring again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from .cpu import torch_threads
from .data import Task
from .evaluator import TrainingEvaluator
from .space import Genotype, SearchSpace
from .training import Recipe, accuracy, device_seconds, host_device, train_until

#: warm-up steps run before the timed ones (first calls allocate and pick kernels)
WARMUP_STEPS = 3
#: the clock of the seconds a :class:`TimingCache` keeps; entries without it were timed with
#: wall time (inflated on a loaded machine) and are measured again
CLOCK = "device_seconds"


@dataclass(frozen=True)
class StepTiming:
    """Training time of one network estimated from a few timed minibatches (measured)."""

    per_step_s: float  #: mean seconds of one optimiser step over the timed steps
    total_steps: int  #: optimiser steps of the full recipe
    eval_s: float  #: seconds of the validation + test pass, scaled from one timed batch
    timed_steps: int
    device: str

    @property
    def train_seconds(self) -> float:
        """Estimated seconds of the full recipe (training steps + evaluation pass)."""
        return self.per_step_s * self.total_steps + self.eval_s

    def to_json(self) -> dict[str, Any]:
        """Fields and the estimate, as kept in a :class:`TimingCache` file."""
        return dict(asdict(self), train_seconds=self.train_seconds, clock=CLOCK)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "StepTiming":
        return cls(float(data["per_step_s"]), int(data["total_steps"]), float(data["eval_s"]),
                   int(data["timed_steps"]), str(data["device"]))


@dataclass(frozen=True)
class FullTraining:
    """Accuracy and seconds of one network trained in full by the training evaluator
    (measured, on ``device``)."""

    val: float
    test: float
    train_s: float
    device: str


def time_training_steps(space: SearchSpace, genotype: Genotype, task: Task, recipe: Recipe,
                        seed: int, steps: int = 20, warmup: int = WARMUP_STEPS) -> StepTiming:
    """Build ``genotype`` under ``seed`` and run the first ``warmup + steps`` optimiser steps
    of ``recipe`` with the recipe's thread count (restored afterwards); return the mean time
    of the last ``steps`` and the time of one evaluation batch scaled to the validation and
    test splits.  At least one warm-up step is run (the first allocates and picks kernels).
    Raises ``ValueError`` when the recipe has fewer than ``warmup + steps`` steps (nothing to
    extrapolate from)."""
    if steps < 1 or warmup < 1:
        raise ValueError(f"need steps >= 1 and warmup >= 1, got {steps} and {warmup}")
    with torch_threads(recipe.threads):
        torch.manual_seed(seed)
        module = space.build(genotype)
        marks: list[float] = []
        total = [0]

        def stop(step: int, n_total: int) -> bool:
            total[0] = n_total
            if step in (warmup, warmup + steps):
                marks.append(device_seconds())
            return step == warmup + steps

        train_until(module, task, recipe, seed, stop)
        if len(marks) < 2:
            raise ValueError(f"recipe has {total[0]} steps, fewer than warmup + steps = "
                             f"{warmup + steps}")
        per_step = (marks[1] - marks[0]) / steps
        b = min(recipe.eval_batch_size, len(task.y_val))
        t0 = device_seconds()
        accuracy(module, task.x_val[:b], task.y_val[:b], b)
        eval_s = (device_seconds() - t0) * (len(task.y_val) + len(task.y_test)) / b
    return StepTiming(per_step, total[0], eval_s, steps, host_device())


def step_timing_key(evaluator: TrainingEvaluator, genotype: Genotype, steps: int,
                    warmup: int = WARMUP_STEPS) -> str:
    """What a step timing depends on: the network, the timed steps, the training-set size and
    the recipe (the warm-up joins the key only when it is not :data:`WARMUP_STEPS`, so files
    written before it was a parameter still replay).  The training seed is left out: it
    changes the batches, not their cost."""
    key = (f"{evaluator.arch_key(genotype)}|{steps}|{len(evaluator.task.y_train)}|"
           f"{evaluator.spec.recipe.to_json()}")
    return key if warmup == WARMUP_STEPS else f"{key}|warmup={warmup}"


class TimingCache:
    """Step timings and full trainings done outside the engine, kept in one JSON file
    (``{"steps": {key: StepTiming}, "full": {cache key: FullTraining}}``), written after
    every new entry so an interrupted benchmark keeps what it measured."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._data: dict[str, dict[str, dict[str, Any]]] = (
            json.loads(self.path.read_text()) if self.path.exists() else {})
        self._data.setdefault("steps", {})
        self._data.setdefault("full", {})

    def _put(self, kind: str, key: str, value: dict[str, Any]) -> None:
        """Add one entry; the file is re-read and merged under an exclusive lock, and replaced
        atomically, so several processes (one per seed) may share one cache."""
        import fcntl
        import os

        self._data[kind][key] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            on_disk = json.loads(self.path.read_text()) if self.path.exists() else {}
            for k in ("steps", "full"):
                on_disk.setdefault(k, {}).update(self._data[k])
            self._data = on_disk
            tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(on_disk, indent=1, sort_keys=True))
            os.replace(tmp, self.path)

    def step_timing(self, evaluator: TrainingEvaluator, genotype: Genotype, seed: int,
                    steps: int = 20, warmup: int = WARMUP_STEPS) -> tuple[StepTiming, bool]:
        """The step timing of ``genotype`` with the evaluator's space, task and recipe: from
        the file, or measured now by :func:`time_training_steps` and added to it.  The flag
        says whether it was measured now."""
        key = step_timing_key(evaluator, genotype, steps, warmup)
        hit = _current(self._data["steps"].get(key))
        if hit is not None:
            return StepTiming.from_json(hit), False
        st = time_training_steps(evaluator.space, genotype, evaluator.task,
                                 evaluator.spec.recipe, seed, steps, warmup)
        self._put("steps", key, st.to_json())
        return st, True

    def cached_step_timing(self, evaluator: TrainingEvaluator, genotype: Genotype, steps: int = 20,
                           warmup: int = WARMUP_STEPS) -> StepTiming | None:
        """The step timing kept in the file, or None (nothing is measured)."""
        hit = _current(self._data["steps"].get(step_timing_key(evaluator, genotype, steps, warmup)))
        return None if hit is None else StepTiming.from_json(hit)

    def full_training(self, evaluator: TrainingEvaluator, genotype: Genotype,
                      seed: int) -> FullTraining:
        """``genotype`` trained in full by ``evaluator`` with ``seed`` (outside any search),
        or the kept result.  Raises ``RuntimeError`` when the evaluation is not ``ok`` (it is
        not kept)."""
        key = evaluator.cache_key(genotype, seed)
        hit = _current(self._data["full"].get(key))
        if hit is None:
            e = evaluator.evaluate(genotype, seed)
            if e.status != "ok":
                raise RuntimeError(f"training {genotype} in full ended {e.status}: {e.error}")
            hit = {"val": e.value("val_accuracy"), "test": e.value("test_accuracy"),
                   "train_s": e.train_s, "device": e.device, "clock": CLOCK}
            self._put("full", key, hit)
        return FullTraining(float(hit["val"]), float(hit["test"]), float(hit["train_s"]),
                            str(hit["device"]))


def _current(entry: dict[str, Any] | None) -> dict[str, Any] | None:
    """``entry`` when it was timed with :data:`CLOCK`, else None (to be measured again)."""
    return entry if entry is not None and entry.get("clock") == CLOCK else None
