"""The evaluator: genotype in, :class:`Evaluation` (every metric with provenance) out.

Order of work, so cheap checks spare expensive ones:

1. ``arch``-stage providers (analytic costs, modelled hardware) on the layer description;
   a violated bound on one of them ends the evaluation as ``infeasible`` before training;
2. the module is built under the seed and ``model``-stage providers run (measured latency);
   a violated bound ends it as ``infeasible``, again before training;
3. training with the recipe (a NaN loss makes the evaluation ``failed``);
4. ``trained``-stage providers.

An :class:`Evaluator` is a small picklable object; the task and space are rebuilt (and
memoised) in whichever process evaluates, so it can be shipped to worker processes or Ray.
"""

from __future__ import annotations

import hashlib
import json
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from .data import Task, load_task
from .objectives import (Candidate, MetricProvider, Objective, Value, make_provider,
                         metric, provider_for)
from .space import Genotype, SearchSpace
from .spaces import make_space
from .training import Recipe, TrainingDiverged, host_device, train

STATUSES = ("ok", "infeasible", "failed")


@dataclass
class Evaluation:
    """Everything known about one evaluated genotype."""

    genotype: Genotype
    status: str
    values: dict[str, Value]
    train_seconds: float = 0.0
    measure_seconds: float = 0.0
    wall_seconds: float = 0.0
    device: str = ""
    error: str | None = None
    arch_key: str = ""
    fresh_measurements: dict[str, dict[str, Value]] = field(default_factory=dict)

    def value(self, name: str) -> float | None:
        v = self.values.get(name)
        return None if v is None else v.value

    @property
    def cost_seconds(self) -> float:
        """Search cost of producing this evaluation (training + measurement)."""
        return self.train_seconds + self.measure_seconds


@dataclass(frozen=True)
class EvaluatorSpec:
    """Picklable description of an evaluator (what the store records about it)."""

    space: str
    space_options: dict[str, Any]
    task: str
    task_options: dict[str, Any]
    recipe: Recipe
    objectives: tuple[Objective, ...]
    providers: dict[str, dict[str, Any]]
    extra_metrics: tuple[str, ...] = ()


def needed_providers(objectives: Sequence[Objective], extra: Sequence[str],
                     options: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """Providers whose metrics are asked for (analytic always), with their options."""
    options = dict(options or {})
    names = {"analytic"}
    for m in [o.name for o in objectives] + list(extra):
        p = provider_for(m)
        if p is not None:
            names.add(p)
    return {n: dict(options.get(n, {})) for n in sorted(names)}


class Evaluator:
    """Trains and measures genotypes of one space on one task with one recipe."""

    def __init__(self, spec: EvaluatorSpec):
        self.spec = spec
        for m in spec.extra_metrics:
            metric(m)
        self._task: Task | None = None
        self._space: SearchSpace | None = None
        self._providers: list[MetricProvider] | None = None

    # lazily built so the object pickles cheaply
    @property
    def task(self) -> Task:
        if self._task is None:
            self._task = load_task(self.spec.task, **self.spec.task_options)
        return self._task

    @property
    def space(self) -> SearchSpace:
        if self._space is None:
            t = self.task
            self._space = make_space(self.spec.space, t.input_shape, t.num_classes,
                                     **self.spec.space_options)
        return self._space

    @property
    def providers(self) -> list[MetricProvider]:
        if self._providers is None:
            self._providers = [make_provider(n, **o) for n, o in self.spec.providers.items()]
        return self._providers

    def config(self) -> dict[str, Any]:
        """Identity of what this evaluator computes (recorded with runs)."""
        return {
            "kind": "train",
            "space": self.space.config(),
            "task": self.task.config(),
            "recipe": self.spec.recipe.to_json(),
            "providers": self.spec.providers,
        }

    def arch_key(self, genotype: Genotype) -> str:
        return self.space.arch(genotype).fingerprint()

    def cache_key(self, genotype: Genotype, seed: int) -> str:
        """Same architecture, task, recipe, providers and training seed -> same results."""
        data = [self.arch_key(genotype), self.task.config(), self.spec.recipe.to_json(),
                self.spec.providers, seed]
        return hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()

    def shared_measurement_keys(self) -> list[str]:
        """Cache keys of providers whose values depend only on the architecture."""
        return [k for k in (p.cache_key() for p in self.providers) if k is not None]

    def __getstate__(self) -> dict[str, Any]:
        return {"spec": self.spec}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["spec"])

    def _check(self, values: dict[str, Value]) -> str | None:
        for o in self.spec.objectives:
            if o.bound is not None and o.name in values and o.violation(values[o.name].value) > 0:
                return f"{o.name} = {values[o.name].value:g} violates the bound {o.describe()}"
        return None

    def evaluate(self, genotype: Genotype, seed: int,
                 known: dict[str, dict[str, Value]] | None = None,
                 warm_start: dict[str, torch.Tensor] | None = None) -> Evaluation:
        """Evaluate one genotype.  ``known`` holds shared measurements by provider cache key
        (reused instead of measuring again); ``warm_start`` initial weights."""
        t_start = time.perf_counter()
        known = known or {}
        space = self.space
        g = space.validate(genotype)
        arch = space.arch(g)
        ev = Evaluation(g, "ok", {}, device=host_device(), arch_key=arch.fingerprint())
        cand = Candidate(space, g, arch, self.task)
        measure = 0.0
        try:
            for stage in ("arch", "model"):
                if stage == "model":
                    torch.manual_seed(seed)
                    cand.module = space.build(g)
                    if warm_start is not None:
                        cand.module.load_state_dict(warm_start)
                for p in self.providers:
                    if p.stage != stage:
                        continue
                    key = p.cache_key()
                    if key is not None and key in known:
                        ev.values.update(known[key])
                        continue
                    t0 = time.perf_counter()
                    vals = p.compute(cand)
                    measure += time.perf_counter() - t0
                    ev.values.update(vals)
                    if key is not None:
                        ev.fresh_measurements[key] = vals
                reason = self._check(ev.values)
                if reason:
                    ev.status, ev.error = "infeasible", reason
                    return ev
            try:
                res = train(cand.module, self.task, self.spec.recipe, seed)
            except TrainingDiverged as exc:
                ev.status, ev.error = "failed", f"training diverged: {exc}"
                return ev
            ev.train_seconds = res.train_seconds
            ev.device = res.device
            src = (f"measured: trained on {res.device}, recipe {self.spec.recipe.epochs} epochs, "
                   f"seed {seed}")
            ev.values["val_accuracy"] = Value(res.val_accuracy, "measured", src + ", validation split")
            ev.values["val_error"] = Value(1 - res.val_accuracy, "measured", src + ", validation split")
            ev.values["test_accuracy"] = Value(res.test_accuracy, "measured", src + ", test split")
            ev.values["test_error"] = Value(1 - res.test_accuracy, "measured", src + ", test split")
            cand.trained = True
            for p in self.providers:
                if p.stage == "trained":
                    t0 = time.perf_counter()
                    ev.values.update(p.compute(cand))
                    measure += time.perf_counter() - t0
            reason = self._check(ev.values)
            if reason:
                ev.status, ev.error = "infeasible", reason
        except Exception as exc:  # a broken candidate must not stop the search
            ev.status = "failed"
            ev.error = f"{type(exc).__name__}: {exc}"
            ev.values.setdefault("traceback", Value(0.0, "measured", traceback.format_exc()[-2000:]))
        finally:
            ev.measure_seconds = measure
            ev.wall_seconds = time.perf_counter() - t_start
        return ev
