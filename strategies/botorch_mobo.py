"""``qnehvi`` and ``qnparego``: BoTorch's multi-objective Bayesian optimisation over a
discrete space (needs the ``bo`` extra: ``pip install moo-nas[bo]``, i.e. BoTorch).

After ``initial`` uniformly drawn genotypes, every ask

1. fits one ``SingleTaskGP`` (BoTorch's defaults: RBF kernel with one length scale per input
   and dimension-scaled priors, inferred noise, standardised outputs) per objective on the
   observations with every objective known, objectives min-max normalised to ``[0, 1]`` and negated (BoTorch
   maximises; a bounded objective scaled to its bound, see :func:`normalised_objectives`);
   one per bounded objective on its margin (:func:`bound_margin`) over every observation that
   reports it (rejected-before-training ones included); and, once some evaluation failed, one
   on the 0/1 failure indicator.  Inputs are :class:`strategies.bo_inputs.Encoder` rows
   (labels one-hot).  Hyperparameters start from the previous fit; they are re-optimised
   every ``refit_every``-th modelled ask (at most ``fit_iterations`` L-BFGS steps: on one-hot
   NAS-Bench-201 inputs an unbounded fit takes thousands of steps for little likelihood) and
   otherwise only conditioned on the new data.
   ``max_train`` caps each training set (:func:`strategies.bo_inputs.capped`: the
   least-dominated / closest-to-the-bound half plus a uniform rest);
2. builds the acquisition — ``qnehvi``: qLogNEHVI (Daulton et al. 2021; Ament et al. 2023)
   with reference point 10 % beyond the worst observed value of each objective (beyond the
   bound for a bounded one); ``qnparego``:
   qLogNParEGO, a fresh weight vector from the simplex per proposed point — with the bounds
   and the failure model as outcome constraints (``g <= 0``, failure indicator < 0.5), and
   every asked-but-not-told genotype as ``X_pending``;
3. maximises it over a candidate set (:func:`strategies.bo_inputs.candidate_rows`): every
   unevaluated genotype when the space has at most ``pool`` of them (NAS-Bench-201's 15 625
   with ``pool >= 15625``), otherwise ``pool`` uniform rows plus ``local`` mutants of the
   current feasible front.  The baseline is first pruned to the points with a positive
   probability of being on the feasible front (``prune_samples`` posterior draws; BoTorch's
   default 2048).  With ``screen > 0`` only the ``screen`` most promising of them by
   the models' marginal predictions (:meth:`_BoTorchMOBO._screen`) are scored by the Monte-Carlo
   acquisition, whose cost per candidate grows with the baseline and pending points.  A batch of
   ``n`` is chosen greedily, each choice added to the pending points before the next.

``tell`` takes any subset of the asked genotypes in any order (matched by genotype key).
All randomness (weights, MC base samples, fit restarts, the pool) is seeded from the
strategy's generator; torch runs on one thread inside ask, so runs in parallel processes do not
oversubscribe the cores.  :meth:`stats` reports fit and acquisition seconds separately.
"""

from __future__ import annotations

from abc import abstractmethod

import time
import warnings
from contextlib import contextmanager
from typing import Any, Callable, ClassVar, Iterator, Sequence

import numpy as np

from moo_nas.errors import UserError
from moo_nas.objectives import Objective
from moo_nas.space import Genotype

from moo_nas.strategy import Observation, Problem, Strategy
from .bo_inputs import (Bookkeeping, Encoder, all_rows, candidate_rows, capped, domination_count,
                        unseen_uniform)

CHUNK = 512  # candidates per acquisition call (bounds memory on big pools)
FAILED_FLAG = 0.5  # failure-indicator GP: predicted below this counts as success
REFERENCE = 1.1  # normalised objectives: 10 % beyond the worst value (or the bound)
BEYOND = 1.5  # normalised values of a bounded objective are clipped here


def _import_botorch() -> Any:
    try:
        import botorch  # noqa: F401
        import torch
    except ImportError:
        raise UserError("strategies 'qnehvi' and 'qnparego' need BoTorch; install the `bo` extra "
                        "with `pip install moo-nas[bo]` (or `pip install botorch`).") from None
    return torch


def normalised_objectives(problem: Problem, f: np.ndarray) -> np.ndarray:
    """Minimisation-form objectives ``f`` (rows) scaled so the best value seen is 0 and the
    worst 1 — for a bounded objective the bound is 1 instead, and values beyond it are clipped
    at :data:`BEYOND` (the bound model says they are infeasible; the objective model need not
    fit them).  The hypervolume reference point is :data:`REFERENCE` everywhere."""
    lo, hi = f.min(axis=0), f.max(axis=0)
    clip = np.full(f.shape[1], np.inf)
    for j, o in enumerate(problem.objectives):
        if o.bound is not None and o.to_min(o.bound) > lo[j]:
            hi[j], clip[j] = min(hi[j], o.to_min(o.bound)), BEYOND
    z = (f - lo) / np.where(hi > lo, hi - lo, 1.0)
    return np.minimum(z, clip)


def bound_margin(objective: Objective, g: np.ndarray) -> np.ndarray:
    """Constraint values ``g`` (``<= 0`` feasible) on the scale the GP models, same sign.

    For a positive metric with a positive bound, the log-ratio of value and bound (costs such
    as MACs or latency span orders of magnitude, which a GP on ``g`` itself fits poorly);
    otherwise ``g / |bound|``.
    """
    b = float(objective.bound or 0.0)
    value = g + b if objective.direction == "min" else b - g
    if b > 0 and np.all(value > 0):
        ratio = np.log(value / b)
        return ratio if objective.direction == "min" else -ratio
    return g / max(abs(b), 1e-12)


def _outcome_constraint(output: int, threshold: float) -> Callable[[Any], Any]:
    """BoTorch constraint callable: model output ``output`` minus ``threshold`` (<= 0 holds)."""
    return lambda samples: samples[..., output] - threshold


def _copy_hyperparameters(source: Any, target: Any) -> None:
    """Kernel, likelihood and mean parameters of GP ``source`` (if any) into ``target``."""
    if source is not None:
        for part in ("covar_module", "likelihood", "mean_module"):
            getattr(target, part).load_state_dict(getattr(source, part).state_dict())


class _BoTorchMOBO(Strategy):
    """Shared machinery of the BoTorch strategies; subclasses build the acquisition."""

    device_clock = True  # GP fits and acquisition optimisation: charged in CPU time
    acquisition: ClassVar[str]

    def __init__(self, problem: Problem, seed: int = 0, *, initial: int = 10, batch: int = 1,
                 pool: int = 2000, local: int = 500, max_train: int | None = None,
                 screen: int = 256, refit_every: int = 1, fit_iterations: int = 100,
                 samples: int = 128, prune_samples: int = 2048, onehot: bool = True) -> None:
        super().__init__(problem, seed)
        for name, v, low in (("initial", initial, 2), ("batch", batch, 1), ("pool", pool, 1),
                             ("local", local, 0), ("refit_every", refit_every, 1),
                             ("samples", samples, 1), ("max_train", max_train, 4),
                             ("fit_iterations", fit_iterations, 1), ("screen", screen, 0),
                             ("prune_samples", prune_samples, 1)):
            if name == "max_train" and v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise UserError(f"{self.name} option {name} must be an integer >= {low}, got {v!r}.")
        if not isinstance(onehot, bool):
            raise UserError(f"{self.name} option onehot must be true or false, got {onehot!r}.")
        self.torch = _import_botorch()
        self.initial, self.batch, self.pool, self.local = initial, batch, pool, local
        self.max_train, self.refit_every, self.samples = max_train, refit_every, samples
        self.fit_iterations, self.screen = fit_iterations, screen
        self.prune_samples = prune_samples
        self.encoder = Encoder(self.space, onehot)
        self.book = Bookkeeping(self.space)
        self.everything = all_rows(self.space) if self.space.size() <= pool else None
        self.gps: dict[str, Any] = {}  # last GP per outcome: warm start of the next fit
        self.modelled = 0
        self.counters = {"gp_fits": 0.0, "fit_seconds": 0.0, "acquisition_seconds": 0.0,
                         "candidates_scored": 0.0, "modelled_asks": 0.0}

    # ------------------------------------------------------------------ ask / tell
    def batch_size(self) -> int:
        return self.batch

    def tell(self, observations: Sequence[Observation]) -> None:
        self.book.tell(observations)

    def ask(self, n: int) -> list[Genotype]:
        with self._torch_scope():
            ok = self._successes()
            if self.book.n_asked < self.initial or len(ok) < 2:
                out = []
                for _ in range(n):
                    g = unseen_uniform(self.space, self.rng, self.book.asked)
                    self.book.ask([g])
                    out.append(g)
                return out
            out = self._propose(n, ok)
            self.book.ask(out)
            return out

    def stats(self) -> dict[str, float]:
        return dict(self.counters)

    # ------------------------------------------------------------------ internals
    @contextmanager
    def _torch_scope(self) -> Iterator[None]:
        """One torch thread and a torch RNG seeded from ``self.rng`` for the duration."""
        torch = self.torch
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.random.fork_rng(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.manual_seed(int(self.rng.integers(2**31)))
                yield
        finally:
            torch.set_num_threads(threads)

    def _successes(self) -> list[Observation]:
        """Observations with every objective known (``ok`` ones, and rejected-by-a-bound ones
        whose metrics were all measured before the rejection)."""
        return [o for o in self.book.history if o.status != "failed" and o.f is not None
                and np.all(np.isfinite(o.f)) and np.all(np.abs(o.f) < 1e11)]

    def _tensor(self, rows: np.ndarray) -> Any:
        return self.torch.as_tensor(self.encoder(rows), dtype=self.torch.float64)

    def _gp(self, name: str, x: Any, y: np.ndarray, refit: bool) -> Any:
        """GP on ``(x, y)`` starting from the last hyperparameters of outcome ``name``."""
        from botorch.exceptions.errors import ModelFittingError
        from botorch.fit import fit_gpytorch_mll
        from botorch.models import SingleTaskGP
        from botorch.models.transforms import Standardize
        from gpytorch.mlls import ExactMarginalLogLikelihood

        torch = self.torch
        gp = SingleTaskGP(x, torch.as_tensor(y, dtype=torch.float64).reshape(-1, 1),
                          outcome_transform=Standardize(m=1))
        prev = self.gps.get(name)
        _copy_hyperparameters(prev, gp)
        if refit or prev is None:
            t0 = time.perf_counter()
            try:
                fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp),
                                 optimizer_kwargs={"options": {"maxiter": self.fit_iterations}})
            except ModelFittingError:  # every attempt failed: back to the start values
                _copy_hyperparameters(prev, gp)
            self.counters["gp_fits"] += 1
            self.counters["fit_seconds"] += time.perf_counter() - t0
        gp.eval()
        self.gps[name] = gp
        return gp

    def _model(self, ok: list[Observation]) -> tuple[Any, Any, list[tuple[int, float]]]:
        """The model list (objectives first), the baseline inputs and the constraints as
        (model output, threshold) pairs: feasible when the output is at most the threshold."""
        from botorch.models import ModelListGP

        refit = self.modelled % self.refit_every == 0
        m = self.problem.n_obj
        f = np.array([o.f for o in ok], dtype=float)
        keep = capped(domination_count(f), self.max_train, self.rng)
        z = normalised_objectives(self.problem, f)[keep]
        x_base = self._tensor(self.book.rows([ok[i] for i in keep]))
        models = [self._gp(f"objective{j}", x_base, -z[:, j], refit) for j in range(m)]
        constraints: list[tuple[int, float]] = []
        for j, obj in enumerate(self.problem.constrained):
            rows = [o for o in self.book.history if o.status != "failed" and len(o.g) > j
                    and np.isfinite(o.g[j])]
            if len(rows) < 2:
                continue
            y = bound_margin(obj, np.array([o.g[j] for o in rows], dtype=float))
            sub = capped(np.abs(y), self.max_train, self.rng)
            x = self._tensor(self.book.rows([rows[i] for i in sub]))
            models.append(self._gp(f"bound{j}", x, y[sub], refit))
            constraints.append((len(models) - 1, 0.0))
        failed = np.array([o.status == "failed" for o in self.book.history], dtype=float)
        if 0 < failed.sum() < len(failed):
            sub = capped(np.zeros(len(failed)), self.max_train, self.rng)
            x = self._tensor(self.book.rows([self.book.history[i] for i in sub]))
            models.append(self._gp("failure", x, failed[sub], refit))
            constraints.append((len(models) - 1, FAILED_FLAG))
        self.modelled += 1
        return ModelListGP(*models), x_base, constraints

    def _front(self, ok: list[Observation]) -> list[Genotype]:
        """Genotypes of the non-dominated feasible successes (seeds of the local candidates)."""
        feas = [o for o in ok if o.feasible] or ok
        dom = domination_count(np.array([o.f for o in feas], dtype=float))
        return [o.genotype for o, d in zip(feas, dom) if d == 0]

    def _propose(self, n: int, ok: list[Observation]) -> list[Genotype]:
        torch = self.torch
        model, x_base, cons = self._model(ok)
        constraints = [_outcome_constraint(k, t) for k, t in cons]
        t0 = time.perf_counter()
        rows = candidate_rows(self.space, self.rng, self.book.asked, self.pool, self.local,
                              self._front(ok), self.everything)
        if not len(rows):
            return [unseen_uniform(self.space, self.rng, self.book.asked) for _ in range(n)]
        x_base = self._prune(model, x_base, constraints)
        x_pool = self._tensor(rows)
        if self.screen and len(rows) > self.screen:
            keep = self._screen(model, x_pool, cons)
            rows, x_pool = rows[keep], x_pool[keep]
        pend = self.book.pending_rows()
        x_pend = self._tensor(pend) if len(pend) else None
        taken = torch.zeros(len(rows), dtype=torch.bool)
        out: list[Genotype] = []
        for _ in range(min(n, len(rows))):
            acq = self._acquisition(model, x_base, constraints, x_pend)
            with torch.no_grad():
                vals = torch.cat([acq(x_pool[i:i + CHUNK].unsqueeze(1))
                                  for i in range(0, len(x_pool), CHUNK)])
            self.counters["candidates_scored"] += len(x_pool)
            vals = torch.nan_to_num(vals, nan=-torch.inf).masked_fill(taken, -torch.inf)
            best = int(torch.argmax(vals))
            taken[best] = True
            out.append(self.space.decode(rows[best]))
            chosen = x_pool[best:best + 1]
            x_pend = chosen if x_pend is None else torch.cat([x_pend, chosen])
        self.counters["acquisition_seconds"] += time.perf_counter() - t0
        self.counters["modelled_asks"] += 1
        while len(out) < n:  # the pool ran out: the rest uniformly
            g = unseen_uniform(self.space, self.rng, self.book.asked | {
                tuple(int(i) for i in self.space.encode(h)) for h in out})
            out.append(g)
        return out

    def _prune(self, model: Any, x_base: Any, constraints: list[Callable[[Any], Any]]) -> Any:
        """The baseline points with a positive probability of being on the feasible Pareto front
        (BoTorch's multi-objective pruning, once per ask: such points are also the only ones
        that can be best under some Chebyshev weights)."""
        from botorch.acquisition.multi_objective.utils import prune_inferior_points_multi_objective

        m = self.problem.n_obj
        return prune_inferior_points_multi_objective(
            model, x_base, ref_point=self.torch.full((m,), -REFERENCE, dtype=self.torch.float64),
            objective=self._objective(), constraints=constraints or None,
            num_samples=self.prune_samples)

    def _objective(self) -> Any:
        from botorch.acquisition.multi_objective.objective import IdentityMCMultiOutputObjective

        return IdentityMCMultiOutputObjective(outcomes=list(range(self.problem.n_obj)))

    def _screen(self, model: Any, x_pool: Any, cons: list[tuple[int, float]]) -> np.ndarray:
        """Indices of the ``screen`` most promising pool rows by the marginal posteriors: Pareto
        rank of the optimistic objectives (mean + 2 sd, maximised) and the probability that
        every constraint holds (maximised), best ranks first, ties by pool order."""
        import moocore
        from scipy.stats import norm

        with self.torch.no_grad():
            post = model.posterior(x_pool)
            mean, sd = post.mean.numpy(), post.variance.clamp_min(1e-12).sqrt().numpy()
        m = self.problem.n_obj
        crit = [mean[:, :m] + 2.0 * sd[:, :m]]
        p = np.ones(len(mean))
        for k, t in cons:
            p *= norm.cdf((t - mean[:, k]) / sd[:, k])
        crit.append(p[:, None])
        rank = moocore.pareto_rank(-np.concatenate(crit, axis=1))  # moocore minimises
        return np.sort(np.argsort(rank, kind="stable")[: self.screen])

    def _sampler(self) -> Any:
        from botorch.sampling import SobolQMCNormalSampler

        return SobolQMCNormalSampler(self.torch.Size([self.samples]),
                                     seed=int(self.rng.integers(2**31)))

    def _acquisition(self, model: Any, x_base: Any, constraints: list[Callable[[Any], Any]],
                     x_pending: Any) -> Any:
        """The BoTorch acquisition function of this strategy over the fitted ``model``: the
        class and own settings of :meth:`_acquisition_kind`, with the settings every strategy
        here shares (fresh QMC samples, the identity objective, the constraints, the pending
        points, a baseline already pruned by :meth:`_prune`)."""
        cls, own = self._acquisition_kind()  # before _sampler: the order of the rng draws
        return cls(model=model, X_baseline=x_base, sampler=self._sampler(),
                   objective=self._objective(), constraints=constraints or None,
                   X_pending=x_pending, prune_baseline=False, cache_root=None, **own)

    @abstractmethod
    def _acquisition_kind(self) -> tuple[Any, dict[str, Any]]:
        """The BoTorch acquisition class of this strategy and its own keyword arguments (called
        once per proposal)."""


class QNEHVI(_BoTorchMOBO):
    """qLogNEHVI over a discrete candidate set, with outcome constraints and pending points."""

    name = "qnehvi"
    asynchronous = True  # conditions the acquisition on pending points (X_pending)
    description = "BoTorch qLogNEHVI: GP per objective/bound, hypervolume improvement, pending-aware"

    def _acquisition_kind(self) -> tuple[Any, dict[str, Any]]:
        from botorch.acquisition.multi_objective.logei import (
            qLogNoisyExpectedHypervolumeImprovement)

        ref = [-REFERENCE] * self.problem.n_obj  # the models' outputs are -z (BoTorch maximises)
        return qLogNoisyExpectedHypervolumeImprovement, {"ref_point": ref}


class QNParEGO(_BoTorchMOBO):
    """qLogNParEGO over a discrete candidate set: a random Chebyshev weight per proposal."""

    name = "qnparego"
    asynchronous = True  # conditions the acquisition on pending points (X_pending)
    description = "BoTorch qLogNParEGO: random Chebyshev weights, noisy log-EI, pending-aware"

    def _acquisition_kind(self) -> tuple[Any, dict[str, Any]]:
        from botorch.acquisition.multi_objective.parego import qLogNParEGO

        w = self.rng.dirichlet(np.ones(self.problem.n_obj))
        return qLogNParEGO, {"scalarization_weights": self.torch.as_tensor(w, dtype=self.torch.float64)}
