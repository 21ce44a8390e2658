"""``mobo``: multi-objective Bayesian optimisation by ParEGO (Knowles 2006).

TEA-DNN searches with Bayesian optimisation; ParEGO is the classic way to do it with one
surrogate.  After an initial design of ``initial`` uniformly sampled genotypes, every proposal:

1. draws weights uniformly from the simplex and scalarises each successful observation by the
   augmented Chebyshev function of its normalised objectives
   (:class:`strategies.scalarisation.Normaliser`, running ranges or bounds);
2. fits a scikit-learn ``GaussianProcessRegressor`` (constant x Matérn-5/2 with one length
   scale per variable, plus white noise; ``normalize_y``) to those values as a function of the
   space's feature vector (:meth:`moo_nas.space.SearchSpace.features`) scaled to ``[0, 1]``;
3. scores a candidate pool — ``pool`` uniform samples plus ``local`` mutations of the five best
   observations under the current weights, minus everything already proposed — by expected
   improvement over the best feasible scalarised value;
4. handles constraint bounds natively: one GP per bounded objective models ``g / |bound|``
   over every observation that reports it (rejected-before-training ones included) and EI is
   multiplied by the probability that every bound holds (constrained EI); while nothing
   feasible has been seen, that probability alone is maximised;
5. handles failed evaluations the same way: once some evaluation failed, a GP on the 0/1
   failure indicator gives the probability of success, ``P(indicator < 0.5)``, which also
   multiplies the acquisition.

A batch of ``n`` proposals uses ``n`` independent weight draws (one GP each) and never
repeats a genotype.  Long runs: ``max_train`` caps every GP's training set (the best half by
the scalarised value, or the half closest to a bound, plus a uniform rest) and ``refit_every``
re-optimises an outcome's kernel hyperparameters only on every k-th GP of that outcome (the
others reuse the last fitted kernel and only condition on the data); ``stats`` reports the
hyperparameter fits and the seconds spent in GP fitting.  The pool is kept as integer rows of the encoding and only the chosen
rows are decoded, so a pool of thousands costs milliseconds.  GP
restarts take their seed from the strategy's generator, so the strategy is deterministic given
the seed and the observations.
"""

from __future__ import annotations

import time
import warnings
from typing import Any, Sequence

import numpy as np
from scipy.stats import norm as gauss
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
from threadpoolctl import threadpool_limits

from moo_nas.errors import UserError
from moo_nas.seen import Seen
from moo_nas.space import Genotype

from moo_nas.strategy import Observation, Problem, Strategy

from .bo_inputs import capped
from .scalarisation import Normaliser, chebyshev, random_weights, total_violation


def expected_improvement(mu: np.ndarray, sigma: np.ndarray, best: float, xi: float = 0.0) -> np.ndarray:
    """Expected improvement below ``best`` of Gaussian predictions (minimisation)."""
    imp = best - mu - xi
    with np.errstate(divide="ignore", invalid="ignore"):
        z = imp / sigma
        ei = imp * gauss.cdf(z) + sigma * gauss.pdf(z)
    return np.where(sigma > 1e-12, ei, np.maximum(imp, 0.0))


class ParEGO(Strategy):
    """ParEGO with constrained expected improvement over a sampled candidate pool."""

    name = "mobo"
    device_clock = True  # GP fits: charged in CPU time
    description = "ParEGO Bayesian optimisation: random Chebyshev weights, GP, constrained EI"

    def __init__(self, problem: Problem, seed: int = 0, *, initial: int = 10, batch: int = 1,
                 pool: int = 2000, local: int = 500, restarts: int = 0, xi: float = 0.0,
                 max_train: int | None = None, refit_every: int = 1) -> None:
        super().__init__(problem, seed)
        for name, v, low in (("initial", initial, 2), ("batch", batch, 1), ("pool", pool, 1),
                             ("local", local, 0), ("restarts", restarts, 0),
                             ("max_train", 4 if max_train is None else max_train, 4),
                             ("refit_every", refit_every, 1)):
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise UserError(f"mobo option {name} must be an integer >= {low}, got {v!r}.")
        self.initial, self.batch, self.pool, self.local = initial, batch, pool, local
        self.restarts, self.xi = restarts, float(xi)
        self.max_train, self.refit_every = max_train, refit_every
        self.kernels: dict[str, Any] = {}  # fitted kernel per modelled outcome (warm starts)
        self.uses: dict[str, int] = {}  # GPs built per modelled outcome
        self.fit_seconds = 0.0
        # per variable: the scaled feature of each option index (pool rows stay integer arrays)
        self.tables = []
        for v in self.space.variables:
            f = np.array([v.feature(o) for o in v.options], dtype=float)
            self.tables.append((f - f.min()) / ((f.max() - f.min()) or 1.0))
        self.upper = self.space.upper_bounds()
        self.norm = Normaliser(problem)
        self.history: list[Observation] = []
        self.proposed: set[tuple[int, ...]] = set()
        self.seen = Seen(self.space)
        self.n_proposed = 0
        self.fits = 0

    # ------------------------------------------------------------------ ask / tell
    def batch_size(self) -> int:
        return self.batch

    def tell(self, observations: Sequence[Observation]) -> None:
        for obs in observations:
            if obs.status == "ok":
                self.norm.update(obs.f)
            self.history.append(obs)

    def ask(self, n: int) -> list[Genotype]:
        with threadpool_limits(1):  # tiny matrices: BLAS threads only add contention
            return self._ask(n)

    def _ask(self, n: int) -> list[Genotype]:
        if self.n_proposed < self.initial or not any(o.f is not None for o in self.history):
            out = [self._random() for _ in range(n)]
        else:
            out = self._propose(n)
        self.n_proposed += len(out)
        return out

    # ------------------------------------------------------------------ internals
    def x(self, idx: np.ndarray) -> np.ndarray:
        """Features (:meth:`SearchSpace.features`) scaled to [0, 1] per variable, for rows of
        the integer encoding."""
        idx = np.asarray(idx, dtype=np.int64).reshape(-1, len(self.tables))
        return np.stack([t[idx[:, i]] for i, t in enumerate(self.tables)], axis=1)

    def encode(self, genotypes: Sequence[Genotype]) -> np.ndarray:
        return np.array([self.space.encode(g) for g in genotypes], dtype=np.int64).reshape(
            -1, len(self.tables))

    def _gp(self, x: np.ndarray, y: np.ndarray, outcome: str,
            score: np.ndarray | None = None) -> GaussianProcessRegressor:
        """GP of ``outcome`` on at most ``max_train`` rows (:func:`strategies.bo_inputs.capped`
        by ``score``, lowest first); its hyperparameters start from the outcome's last fit and
        are re-optimised on every ``refit_every``-th GP of that outcome, otherwise kept."""
        keep = capped(np.zeros(len(y)) if score is None else score, self.max_train, self.rng)
        x, y = x[keep], y[keep]
        d = x.shape[1]
        kernel = self.kernels[outcome] if outcome in self.kernels else (
            ConstantKernel(1.0, (1e-3, 1e3))
            * Matern(length_scale=np.ones(d), length_scale_bounds=(1e-2, 1e2), nu=2.5)
            + WhiteKernel(1e-3, (1e-6, 1e-1)))
        use = self.uses.get(outcome, 0)
        self.uses[outcome] = use + 1
        refit = outcome not in self.kernels or use % self.refit_every == 0
        gp = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=self.restarts,
                                      optimizer="fmin_l_bfgs_b" if refit else None,
                                      random_state=int(self.rng.integers(2**31)))
        t0 = time.perf_counter()
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", UserWarning)
            gp.fit(x, y)
        self.fit_seconds += time.perf_counter() - t0
        self.kernels[outcome] = gp.kernel_
        self.fits += int(refit)
        return gp

    def _random(self) -> Genotype:
        g = self.seen.sample_unseen(self.rng, 20)
        self.seen.add(g)
        self.proposed.add(tuple(int(i) for i in self.space.encode(g)))
        return g

    def _mutants(self, seeds: np.ndarray, n: int) -> np.ndarray:
        """``n`` mutants of the encoded ``seeds`` (cycled), as in :meth:`SearchSpace.mutate`:
        each variable changes with probability 1/d (at least one), half of the changes to a
        neighbouring option, the others to a uniformly random other option."""
        k = self.upper + 1
        rows = seeds[np.arange(n) % len(seeds)].copy()
        d = rows.shape[1]
        flip = (self.rng.random((n, d)) < 1.0 / d) & (k > 1)
        none = ~flip.any(axis=1)
        mutable = np.flatnonzero(k > 1)
        if len(mutable) == 0:
            return rows
        flip[np.flatnonzero(none), mutable[self.rng.integers(len(mutable), size=int(none.sum()))]] = True
        step = np.where(self.rng.random((n, d)) < 0.5, 1, -1)
        near = rows + step
        near = np.where((near < 0) | (near >= k), rows - step, near)
        far = (rows + 1 + (self.rng.random((n, d)) * np.maximum(k - 1, 1)).astype(np.int64)) % k
        new = np.where(self.rng.random((n, d)) < 0.5, near, far)
        return np.where(flip, new, rows)

    def _candidates(self, seeds: np.ndarray) -> np.ndarray:
        """Encoded candidate pool: uniform rows plus mutants of ``seeds``, first occurrence of
        each row kept, rows already proposed removed."""
        d = len(self.tables)
        rand = np.floor(self.rng.random((self.pool, d)) * (self.upper + 1)).astype(np.int64)
        parts = [rand]
        if len(seeds) and self.local:
            parts.append(self._mutants(seeds, self.local))
        rows, seen = [], set(self.proposed)
        for r in self.space.canonical_encoding(np.concatenate(parts)):
            t = tuple(int(i) for i in r)
            if t not in seen:
                seen.add(t)
                rows.append(r)
        return np.array(rows, dtype=np.int64).reshape(-1, d)

    def _feasibility(self, x_pool: np.ndarray) -> np.ndarray:
        """Probability under the constraint GPs that every bound holds and, once something
        failed, that the evaluation succeeds (GP on the 0/1 failure indicator), per pool row."""
        prob = np.ones(len(x_pool))
        failed = np.array([o.status == "failed" for o in self.history], dtype=float)
        if 0 < failed.sum() < len(failed):
            gp = self._gp(self.x(self.encode([o.genotype for o in self.history])), failed, "failure")
            mu, sd = gp.predict(x_pool, return_std=True)
            prob *= gauss.cdf((0.5 - mu) / np.maximum(sd, 1e-9))
        for j, obj in enumerate(self.problem.constrained):
            rows = [(o.genotype, float(o.g[j])) for o in self.history
                    if o.status != "failed" and len(o.g) > j and np.isfinite(o.g[j])]
            if len(rows) < 2:
                continue
            scale = max(abs(obj.bound or 0.0), 1e-12)
            y = np.array([v for _, v in rows]) / scale
            if np.ptp(y) == 0:
                prob *= float(y[0] <= 0)
                continue
            gp = self._gp(self.x(self.encode([g for g, _ in rows])), y, f"bound{j}", np.abs(y))
            mu, sd = gp.predict(x_pool, return_std=True)
            prob *= gauss.cdf(-mu / np.maximum(sd, 1e-9))
        return prob

    def _propose(self, n: int) -> list[Genotype]:
        ok = [o for o in self.history if o.status == "ok" and o.f is not None]
        feasible = np.array([total_violation(self.problem, o) == 0 for o in ok], dtype=bool)
        z = self.norm(np.array([o.f for o in ok], dtype=float)) if ok else np.zeros((0, 0))
        w0 = random_weights(self.rng, self.problem.n_obj)
        order = np.argsort(chebyshev(z, w0), kind="stable") if ok else []
        seeds = self.encode([ok[int(i)].genotype for i in order[:5]])
        pool = self._candidates(seeds)
        if not len(pool):
            return [self._random() for _ in range(n)]
        x_pool = self.x(pool)
        p_feas = self._feasibility(x_pool)
        x_ok = self.x(self.encode([o.genotype for o in ok])) if ok else None
        out: list[Genotype] = []
        taken = np.zeros(len(pool), dtype=bool)
        for _ in range(n):
            if feasible.any() and len(ok) >= 2:
                y = chebyshev(z, random_weights(self.rng, self.problem.n_obj))
                gp = self._gp(x_ok, y, "objective", y)
                mu, sd = gp.predict(x_pool, return_std=True)
                acq = expected_improvement(mu, sd, float(y[feasible].min()), self.xi) * p_feas
            else:
                acq = p_feas.copy()
            acq = np.where(taken, -np.inf, acq)
            best = int(np.argmax(acq))
            if taken[best]:
                out.append(self._random())
                continue
            taken[best] = True
            self.proposed.add(tuple(int(i) for i in pool[best]))
            out.append(self.space.decode(pool[best]))
            self.seen.add(out[-1])
        return out

    def stats(self) -> dict[str, float]:
        return {"gp_fits": float(self.fits), "fit_seconds": self.fit_seconds}
