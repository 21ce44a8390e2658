"""``optuna``: Optuna's multi-objective samplers through its ask-and-tell API (optional).

Needs ``pip install optuna``.  Each variable of the space becomes one Optuna distribution over
its option indices: an ``IntDistribution`` when the options are numbers (so TPE and NSGA-II
can use their order), a ``CategoricalDistribution`` for labels.  Every observation is told
back as a completed trial with the minimisation-form objectives (``failed`` ones as failed
trials); the constraint values ``g`` go to Optuna's native constraint handling (feasible
trials dominate infeasible ones): ``Trial.set_constraint`` on Optuna >= 5, the user attribute
``constraints`` read by ``constraints_func`` on older versions.

``sampler``: ``tpe`` (multivariate TPE, default), ``nsga2``, ``nsga3`` or ``random``; all
seeded with the strategy's seed, so the proposals depend only on the seed and the
observations and the engine resumes by replay.  The study lives in memory: the engine's
store is the record, not Optuna's storage.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

from moo_nas.errors import UserError
from moo_nas.space import Genotype

from moo_nas.strategy import Observation, Problem, Strategy

SAMPLERS = ("tpe", "nsga2", "nsga3", "random")


def _constraints(trial: Any) -> Sequence[float]:
    return trial.user_attrs.get("constraints", [1.0])


class OptunaSampler(Strategy):
    """Adapter from the ask/tell :class:`Strategy` interface to an Optuna study."""

    name = "optuna"
    description = "Optuna multi-objective samplers (tpe, nsga2, nsga3, random) via ask-and-tell"

    def __init__(self, problem: Problem, seed: int = 0, *, sampler: str = "tpe",
                 population: int = 10, startup: int = 10, batch: int = 1) -> None:
        super().__init__(problem, seed)
        try:
            import optuna
        except ImportError:
            raise UserError("strategy 'optuna' needs Optuna; install it with `pip install optuna`.") from None
        if sampler not in SAMPLERS:
            raise UserError(f"optuna sampler {sampler!r} is unknown; use one of {', '.join(SAMPLERS)}.")
        for name, v, low in (("population", population, 2), ("startup", startup, 0), ("batch", batch, 1)):
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise UserError(f"optuna option {name} must be an integer >= {low}, got {v!r}.")
        self.optuna = optuna
        self.batch = int(batch)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        # Optuna >= 5 reads constraints set on the trial; older versions need constraints_func
        self.native = hasattr(optuna.trial.Trial, "set_constraint")
        cons = _constraints if problem.constrained and not self.native else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            if sampler == "tpe":
                s = optuna.samplers.TPESampler(seed=self.seed, multivariate=True,
                                               n_startup_trials=int(startup), constraints_func=cons)
            elif sampler == "nsga2":
                s = optuna.samplers.NSGAIISampler(population_size=int(population), seed=self.seed,
                                                  constraints_func=cons)
            elif sampler == "nsga3":
                s = optuna.samplers.NSGAIIISampler(population_size=int(population), seed=self.seed,
                                                   constraints_func=cons)
            else:
                s = optuna.samplers.RandomSampler(seed=self.seed)
        self.study = optuna.create_study(directions=["minimize"] * problem.n_obj, sampler=s)
        dist = optuna.distributions
        self.distributions: dict[str, Any] = {}
        for v in self.space.variables:
            numeric = all(isinstance(o, (int, float)) and not isinstance(o, bool) for o in v.options)
            self.distributions[v.name] = (dist.IntDistribution(0, len(v) - 1) if numeric
                                          else dist.CategoricalDistribution(list(range(len(v)))))
        self._trials: list[tuple[Any, str]] = []

    def batch_size(self) -> int:
        return self.batch

    def ask(self, n: int) -> list[Genotype]:
        out = []
        for _ in range(n):
            trial = self.study.ask(self.distributions)
            g = self.space.decode([trial.params[v.name] for v in self.space.variables])
            self._trials.append((trial, g.key))
            out.append(g)
        return out

    def tell(self, observations: Sequence[Observation]) -> None:
        state = self.optuna.trial.TrialState
        for obs in observations:
            i = next((j for j, (_, k) in enumerate(self._trials) if k == obs.genotype.key), None)
            if i is None:
                continue  # not asked by this study (nothing to tell)
            trial, _ = self._trials.pop(i)
            if self.native:
                for o, gi in zip(self.problem.constrained, obs.g):
                    trial.set_constraint(o.name, float(gi))
            else:
                trial.set_user_attr("constraints", [float(x) for x in obs.g])
            if obs.f is None or obs.status == "failed":
                self.study.tell(trial, state=state.FAIL)
            else:
                self.study.tell(trial, [float(x) for x in obs.f])
