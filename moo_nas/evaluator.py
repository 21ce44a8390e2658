"""Evaluators: genotype in, :class:`~moo_nas.records.Evaluation` (every metric with provenance) out.

:class:`Evaluator` is the interface the engine calls (one required method, optional hooks);
:class:`TrainingEvaluator` trains and measures networks; the table evaluator
(:class:`moo_nas.tabular.TableEvaluator`) looks results up.  :func:`bound_violation` is the one
bound test, shared by both and by the strategies that screen candidates before training.

The training evaluator's order of work, so cheap checks spare expensive ones:

1. ``arch``-stage providers (analytic costs, modelled hardware) on the layer description;
   a violated bound on one of them ends the evaluation as ``infeasible`` before training;
2. the module is built under the seed and ``model``-stage providers run (measured latency);
   a violated bound ends it as ``infeasible``, again before training;
3. training with the recipe (a NaN loss makes the evaluation ``failed``);
4. ``trained``-stage providers.

A :class:`TrainingEvaluator` is a small picklable object; the task and space are rebuilt (and
memoised) in whichever process evaluates, so it can be shipped to worker processes or Ray.
"""

from __future__ import annotations

import hashlib
import json
import time
import traceback
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Sequence

import torch

from .data import Task, load_task
from .objectives import (Candidate, MetricProvider, Objective, Value, make_provider,
                         metric, provider_for)
from .records import Evaluation
from .space import Genotype, SearchSpace
from .spaces import make_space
from .strategy import Problem
from .training import Recipe, TrainingDiverged, device_seconds, host_device, train

def bound_violation(objectives: Sequence[Objective], values: Mapping[str, "Value | float"]) -> str | None:
    """The first bound of ``objectives`` that ``values`` violate, as a sentence, or None.

    The one bound test of the project: the evaluators (before and after training) and the
    strategies that screen candidates before proposing them all call it.  Metrics missing from
    ``values`` are not checked."""
    for o in objectives:
        if o.bound is None or o.name not in values:
            continue
        v = values[o.name]
        x = v.value if isinstance(v, Value) else float(v)
        if o.violation(x) > 0:
            return f"{o.name} = {x:g} violates the bound {o.describe()}"
    return None


class Evaluator(ABC):
    """What the engine calls to turn a genotype into an :class:`Evaluation`.

    Must implement :meth:`evaluate`.  The optional hooks refine reuse and storage; their
    defaults suit any evaluator.  An evaluator is shipped to worker processes (local pool, Ray),
    so it must pickle cheaply: build heavy state lazily.
    """

    #: results can be recomputed for free (a table lookup): the engine commits them in groups
    #: and a killed run simply recomputes the uncommitted ones
    recomputable: ClassVar[bool] = False
    #: look a genotype up in other runs of the store before evaluating it (off where the lookup
    #: costs more than evaluating, e.g. tables: the engine then stores no cache key)
    cacheable: ClassVar[bool] = True

    @abstractmethod
    def evaluate(self, genotype: Genotype, seed: int, *,
                 known: dict[str, dict[str, Value]] | None = None,
                 warm_start: dict[str, Any] | None = None) -> Evaluation:
        """Evaluate one genotype with training seed ``seed``.  ``known``: measurements shared
        by architecture (keyed as :meth:`shared_measurement_keys`), to reuse instead of
        measuring again; ``warm_start``: initial weights from the strategy.  Never raises for
        a bad candidate: returns a ``failed`` or ``infeasible`` record instead."""

    def config(self) -> dict[str, Any]:
        """What identifies this evaluator's results (recorded with runs, part of cache keys)."""
        return {"type": type(self).__name__}

    def arch_key(self, genotype: Genotype) -> str:
        """Identity of the network a genotype builds (genotypes of one network share it)."""
        return genotype.key

    def cache_key(self, genotype: Genotype, seed: int) -> str:
        """Same key -> same results: another run's evaluation with this key may be reused."""
        data = [self.config(), self.arch_key(genotype), seed]
        return hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()

    def shared_measurement_keys(self) -> list[str]:
        """Keys of measurements that depend only on the architecture (shared across runs)."""
        return []

    def check(self) -> None:
        """Raise :class:`UserError` now if evaluating is impossible here (an objective that
        cannot be measured on this machine); called before the store is touched."""


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


class TrainingEvaluator(Evaluator):
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
        """Same architecture, task, recipe, providers and training seed -> same results
        (the space is left out: equal networks from two spaces share results)."""
        data = [self.arch_key(genotype), self.task.config(), self.spec.recipe.to_json(),
                self.spec.providers, seed]
        return hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()

    def shared_measurement_keys(self) -> list[str]:
        """Cache keys of providers whose values depend only on the architecture."""
        return [k for k in (p.cache_key() for p in self.providers) if k is not None]

    def __getstate__(self) -> dict[str, Any]:
        return {"spec": self.spec}

    def __setstate__(self, state: dict[str, Any]) -> None:
        TrainingEvaluator.__init__(self, state["spec"])

    def check(self) -> None:
        self.providers  # noqa: B018 - building them refuses metrics this machine cannot measure

    def evaluate(self, genotype: Genotype, seed: int, *,
                 known: dict[str, dict[str, Value]] | None = None,
                 warm_start: dict[str, Any] | None = None) -> Evaluation:
        t_start = time.perf_counter()
        known = known or {}
        space = self.space
        g = space.validate(genotype)
        arch = space.arch(g)
        ev = Evaluation.of(g, "ok", device=host_device(), arch_key=arch.fingerprint())
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
                    t0 = device_seconds()
                    vals = p.compute(cand)
                    measure += device_seconds() - t0
                    ev.values.update(vals)
                    if key is not None:
                        ev.fresh_measurements[key] = vals
                reason = bound_violation(self.spec.objectives, ev.values)
                if reason:
                    ev.status, ev.error = "infeasible", reason
                    return ev
            assert cand.module is not None  # built in the "model" stage above
            try:
                res = train(cand.module, self.task, self.spec.recipe, seed)
            except TrainingDiverged as exc:
                ev.status, ev.error = "failed", f"training diverged: {exc}"
                return ev
            ev.train_s = res.train_seconds
            ev.device = res.device
            src = (f"trained on {res.device}, recipe {self.spec.recipe.epochs} epochs, "
                   f"seed {seed}")
            ev.values["val_accuracy"] = Value(res.val_accuracy, "measured", src + ", validation split")
            ev.values["val_error"] = Value(1 - res.val_accuracy, "measured", src + ", validation split")
            ev.values["test_accuracy"] = Value(res.test_accuracy, "measured", src + ", test split")
            ev.values["test_error"] = Value(1 - res.test_accuracy, "measured", src + ", test split")
            cand.trained = True
            for p in self.providers:
                if p.stage == "trained":
                    t0 = device_seconds()
                    ev.values.update(p.compute(cand))
                    measure += device_seconds() - t0
            reason = bound_violation(self.spec.objectives, ev.values)
            if reason:
                ev.status, ev.error = "infeasible", reason
        except Exception as exc:  # a broken candidate must not stop the search
            ev.status = "failed"
            ev.error = f"{type(exc).__name__}: {exc}"
            ev.values.setdefault("traceback", Value(0.0, "measured", traceback.format_exc()[-2000:]))
        finally:
            ev.measure_s = measure
            ev.wall_s = time.perf_counter() - t_start
        return ev


def training_setup(space: str, task: str, recipe: Recipe, objectives: Sequence[Objective], *,
                   space_options: Mapping[str, Any] | None = None,
                   task_options: Mapping[str, Any] | None = None,
                   extra_metrics: Sequence[str] = (),
                   provider_options: dict[str, dict[str, Any]] | None = None,
                   ) -> tuple[Problem, TrainingEvaluator]:
    """The problem and training evaluator for searching ``space`` on ``task`` with ``recipe``:
    the providers are those the objectives and ``extra_metrics`` need (with
    ``provider_options``), and the problem carries the task and recipe (strategies that train,
    such as DNAS, need them).  What a benchmark or a one-off search builds by hand otherwise."""
    objectives = tuple(objectives)
    extra = tuple(extra_metrics)
    spec = EvaluatorSpec(space, dict(space_options or {}), task, dict(task_options or {}), recipe,
                         objectives, needed_providers(objectives, extra, provider_options), extra)
    evaluator = TrainingEvaluator(spec)
    return Problem(evaluator.space, objectives, evaluator.task, recipe), evaluator
