"""Optuna's multi-objective samplers through its ask-and-tell API.

Strategies: ``optuna-tpe`` (multivariate TPE with the constant liar), ``optuna-gp`` (Optuna's
Gaussian-process sampler: log-EHVI for several objectives, constraint models, running trials
in the acquisition) and ``optuna`` (any of ``tpe``, ``gp``, ``nsga2``, ``nsga3``, ``random``
by its ``sampler`` option).

Each variable of the space becomes one Optuna distribution over its option indices: an
``IntDistribution`` when the options are numbers (so TPE, GP and NSGA-II can use their order),
a ``CategoricalDistribution`` for labels.  Every observation is told back as a completed trial
with the minimisation-form objectives (``failed`` ones as failed trials); the constraint values
``g`` go to Optuna's native constraint handling (feasible trials dominate infeasible ones,
the GP sampler models each constraint): ``Trial.set_constraint`` on Optuna >= 5, the user
attribute ``constraints`` read by ``constraints_func`` on older versions.

``optuna-gp`` with ``max_train = N`` fits its GPs on at most N completed trials (the least
dominated half plus a seeded draw of the rest, as the BoTorch strategies cap theirs), so a long
run's asks stop growing in cost; without it the sampler fits on every trial, as Optuna's does
(its work runs with torch function handling off, see :class:`_CappedGP`).  A capped GP
re-proposes architectures that have dropped out of its training set (the engine answers those
free, the ask is still charged): on NAS-Bench-201 with N = 128, 500 distinct architectures took
909-1475 asks (``experiments/nb201.toml`` says more).

Asynchronous use: an asked trial stays ``RUNNING`` in the study until its observation is told,
so TPE's constant liar and the GP sampler's pending-point handling see it; ``tell`` accepts any
subset of the asked genotypes in any order (matched by genotype key).

All samplers are seeded with the strategy's seed, so the proposals depend only on the seed and
the observations and the engine resumes by replay.  The study lives in memory: the engine's
store is the record, not Optuna's storage.  The sampler's work (model fits, acquisition
optimisation) happens inside ``study.ask`` and is reported by :meth:`stats` as
``sampler_seconds``.
"""

from __future__ import annotations

import time
import warnings
from typing import Any, Sequence

import numpy as np
import optuna
import torch

from moo_nas.cpu import torch_threads
from moo_nas.errors import UserError
from moo_nas.space import Genotype

from moo_nas.strategy import Observation, Problem, Strategy
from strategies.bo_inputs import capped, domination_count

SAMPLERS = ("tpe", "gp", "nsga2", "nsga3", "random")


def _constraints(trial: Any) -> Sequence[float]:
    return trial.user_attrs.get("constraints", [1.0])


def _positive(name: str, strategy: str, value: Any, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise UserError(f"{strategy} option {name} must be an integer >= {low}, got {value!r}.")
    return value


class _CappedGP(optuna.samplers.GPSampler):
    """Optuna's GP sampler, with ``max_train`` fitting its models on at most that many
    completed trials: the ``max_train // 2`` with the fewest trials dominating them plus others
    drawn with the sampler's own seeded generator (:func:`strategies.bo_inputs.capped`, as
    ``mobo``, ``qnehvi`` and ``qnparego`` cap theirs).  Every GP fit and acquisition
    optimisation then costs what it costs at ``max_train`` trials instead of growing with the
    run.  Running trials are all kept (they are the pending points).

    Optuna runs the sampler inside ``torch.device("cpu")`` (so that a default device set
    elsewhere does not move its tensors), a torch function mode whose Python hook sees every
    tensor call: about a fifth of an ask's CPU time.  The sampler's own work runs with torch
    function handling off instead, which keeps its tensors on the CPU just as well (a default
    device is such a mode too) at no cost per call: the same operations, the same proposals
    (``tests/strategies/test_bo.py``)."""

    def __init__(self, *, max_train: int | None, seed: int, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self._max_train = max_train
        self._cap_rng = np.random.default_rng(seed)

    def _sample_relative_impl(self, study: Any, completed_trials: list[Any],
                              running_trials: list[Any], search_space: dict[str, Any]) -> Any:
        if self._max_train is not None and len(completed_trials) > self._max_train:
            f = np.array([t.values for t in completed_trials], dtype=float)
            keep = capped(domination_count(f), self._max_train, self._cap_rng)
            completed_trials = [completed_trials[i] for i in keep]
        with torch._C.DisableTorchFunction():
            return super()._sample_relative_impl(study, completed_trials, running_trials, search_space)


def make_sampler(kind: str, problem: Problem, seed: int, *, population: int = 10,
                 startup: int = 10, candidates: int = 24, constant_liar: bool = True,
                 deterministic: bool = False, max_train: int | None = None) -> Any:
    """The seeded Optuna sampler ``kind`` (one of :data:`SAMPLERS`); ``max_train`` caps the GP
    sampler's training set (:class:`_CappedGP`)."""
    if kind not in SAMPLERS:
        raise UserError(f"optuna sampler {kind!r} is unknown; use one of {', '.join(SAMPLERS)}.")
    # Optuna >= 5 reads constraints set on the trial; older versions need constraints_func
    native = hasattr(optuna.trial.Trial, "set_constraint")
    cons = _constraints if problem.constrained and not native else None
    s = optuna.samplers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if kind == "tpe":
            return s.TPESampler(seed=seed, multivariate=True, n_startup_trials=startup,
                                n_ei_candidates=candidates, constant_liar=constant_liar,
                                constraints_func=cons)
        if kind == "gp":
            gp_options = dict(n_startup_trials=startup, constraints_func=cons,
                              deterministic_objective=deterministic,
                              warn_independent_sampling=False)
            if not hasattr(s.GPSampler, "_sample_relative_impl"):
                if max_train is None:
                    return s.GPSampler(seed=seed, **gp_options)
                raise UserError(f"optuna-gp option max_train needs a GP sampler that fits on a "
                                f"given list of trials, which Optuna {optuna.__version__} does "
                                f"not have; leave max_train out or install Optuna 5.")
            return _CappedGP(max_train=max_train, seed=seed, **gp_options)
        if kind == "nsga2":
            return s.NSGAIISampler(population_size=population, seed=seed, constraints_func=cons)
        if kind == "nsga3":
            return s.NSGAIIISampler(population_size=population, seed=seed, constraints_func=cons)
        return s.RandomSampler(seed=seed)


class OptunaSampler(Strategy):
    """Adapter from the ask/tell :class:`Strategy` interface to an Optuna study."""

    name = "optuna"
    device_clock = True  # the sampler's model fits: charged in CPU time
    description = "Optuna multi-objective samplers (tpe, gp, nsga2, nsga3, random) via ask-and-tell"

    def __init__(self, problem: Problem, seed: int = 0, *, sampler: str = "tpe",
                 population: int = 10, startup: int = 10, batch: int = 1) -> None:
        super().__init__(problem, seed)
        self._start(make_sampler(sampler, problem, self.seed,
                                 population=_positive("population", self.name, population, 2),
                                 startup=_positive("startup", self.name, startup, 0)), batch)

    def _start(self, sampler: Any, batch: int) -> None:
        """Create the in-memory study on ``sampler``; called once by every constructor."""
        self.batch = _positive("batch", self.name, batch)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.native = hasattr(optuna.trial.Trial, "set_constraint")
        self.study = optuna.create_study(directions=["minimize"] * self.problem.n_obj,
                                         sampler=sampler)
        dist = optuna.distributions
        self.distributions: dict[str, Any] = {}
        for v in self.space.variables:
            numeric = all(isinstance(o, (int, float)) and not isinstance(o, bool) for o in v.options)
            self.distributions[v.name] = (dist.IntDistribution(0, len(v) - 1) if numeric
                                          else dist.CategoricalDistribution(list(range(len(v)))))
        self._running: dict[str, list[Any]] = {}  # genotype key -> its running trials, ask order
        self.sampler_seconds = 0.0

    def batch_size(self) -> int:
        return self.batch

    def ask(self, n: int) -> list[Genotype]:
        out = []
        t0 = time.perf_counter()
        # one torch thread, as the BoTorch strategies fit theirs: the GP sampler's small
        # matrices gain nothing from more, and parallel runs of a benchmark would oversubscribe
        with warnings.catch_warnings(), torch_threads(1):
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            for _ in range(n):
                trial = self.study.ask(self.distributions)
                g = self.space.decode([trial.params[v.name] for v in self.space.variables])
                self._running.setdefault(g.key, []).append(trial)
                out.append(g)
        self.sampler_seconds += time.perf_counter() - t0
        return out

    def tell(self, observations: Sequence[Observation]) -> None:
        state = optuna.trial.TrialState
        for obs in observations:
            trials = self._running.get(obs.genotype.key)
            if not trials:
                continue  # not asked by this study (nothing to tell)
            trial = trials.pop(0)
            if not trials:
                del self._running[obs.genotype.key]
            if self.native:
                for o, gi in zip(self.problem.constrained, obs.g):
                    trial.set_constraint(o.name, float(gi))
            else:
                trial.set_user_attr("constraints", [float(x) for x in obs.g])
            if obs.f is None or obs.status == "failed":
                self.study.tell(trial, state=state.FAIL)
            else:
                self.study.tell(trial, [float(x) for x in obs.f])

    def stats(self) -> dict[str, float]:
        return {"sampler_seconds": self.sampler_seconds}


class OptunaTPE(OptunaSampler):
    """Optuna's multivariate multi-objective TPE; running trials handled by the constant liar."""

    name = "optuna-tpe"
    asynchronous = True  # running trials are known to the study (constant liar)
    description = "Optuna multi-objective TPE (multivariate, constant liar for pending trials)"

    def __init__(self, problem: Problem, seed: int = 0, *, startup: int = 10,
                 candidates: int = 24, constant_liar: bool = True, batch: int = 1) -> None:
        Strategy.__init__(self, problem, seed)
        if not isinstance(constant_liar, bool):
            raise UserError(f"optuna-tpe option constant_liar must be true or false, got {constant_liar!r}.")
        self._start(make_sampler("tpe", problem, self.seed,
                                 startup=_positive("startup", self.name, startup, 0),
                                 candidates=_positive("candidates", self.name, candidates),
                                 constant_liar=constant_liar), batch)


class OptunaGP(OptunaSampler):
    """Optuna's GP sampler: log-EHVI over several objectives, constraint GPs, running trials."""

    name = "optuna-gp"
    asynchronous = True  # running trials are known to the study (pending points)
    description = "Optuna GP sampler (log-EHVI, constraint models, pending trials)"

    def __init__(self, problem: Problem, seed: int = 0, *, startup: int = 10,
                 deterministic: bool = False, max_train: int | None = None,
                 batch: int = 1) -> None:
        Strategy.__init__(self, problem, seed)
        if not isinstance(deterministic, bool):
            raise UserError(f"optuna-gp option deterministic must be true or false, got {deterministic!r}.")
        cap = None if max_train is None else _positive("max_train", self.name, max_train, 4)
        self._start(make_sampler("gp", problem, self.seed,
                                 startup=_positive("startup", self.name, startup, 0),
                                 deterministic=deterministic, max_train=cap), batch)
