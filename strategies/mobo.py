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
   feasible has been seen, that probability alone is maximised.

A batch of ``n`` proposals uses ``n`` independent weight draws (one GP fit each) and never
repeats a genotype.  Failed evaluations only remove their genotype from the pool.  GP
restarts take their seed from the strategy's generator, so the strategy is deterministic given
the seed and the observations.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
from scipy.stats import norm as gauss
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
from threadpoolctl import threadpool_limits

from moo_nas.errors import UserError
from moo_nas.space import Genotype

from .base import Observation, Problem, Strategy
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
    description = "ParEGO Bayesian optimisation: random Chebyshev weights, GP, constrained EI"

    def __init__(self, problem: Problem, seed: int = 0, *, initial: int = 10, batch: int = 1,
                 pool: int = 2000, local: int = 500, restarts: int = 1, xi: float = 0.0) -> None:
        super().__init__(problem, seed)
        for name, v, low in (("initial", initial, 2), ("batch", batch, 1), ("pool", pool, 1),
                             ("local", local, 0), ("restarts", restarts, 0)):
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise UserError(f"mobo option {name} must be an integer >= {low}, got {v!r}.")
        self.initial, self.batch, self.pool, self.local = initial, batch, pool, local
        self.restarts, self.xi = restarts, float(xi)
        feats = [[v.feature(o) for o in v.options] for v in self.space.variables]
        self.f_lo = np.array([min(f) for f in feats])
        self.f_span = np.array([max(f) - min(f) or 1.0 for f in feats])
        self.norm = Normaliser(problem)
        self.history: list[Observation] = []
        self.proposed: set[str] = set()
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
    def x(self, genotypes: Sequence[Genotype]) -> np.ndarray:
        """Features of genotypes scaled to [0, 1] per variable."""
        f = np.array([self.space.features(g) for g in genotypes], dtype=float)
        return (f - self.f_lo) / self.f_span

    def _gp(self, x: np.ndarray, y: np.ndarray) -> GaussianProcessRegressor:
        d = x.shape[1]
        kernel = (ConstantKernel(1.0, (1e-3, 1e3))
                  * Matern(length_scale=np.ones(d), length_scale_bounds=(1e-2, 1e2), nu=2.5)
                  + WhiteKernel(1e-3, (1e-6, 1e-1)))
        gp = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=self.restarts,
                                      random_state=int(self.rng.integers(2**31)))
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", UserWarning)
            gp.fit(x, y)
        self.fits += 1
        return gp

    def _random(self) -> Genotype:
        g = self.space.sample(self.rng)
        for _ in range(20):
            if g.key not in self.proposed:
                break
            g = self.space.sample(self.rng)
        self.proposed.add(g.key)
        return g

    def _candidates(self, seeds: Sequence[Genotype]) -> list[Genotype]:
        cands: dict[str, Genotype] = {}
        for _ in range(self.pool):
            g = self.space.sample(self.rng)
            cands.setdefault(g.key, g)
        for i in range(self.local if seeds else 0):
            g = self.space.mutate(seeds[i % len(seeds)], self.rng)
            cands.setdefault(g.key, g)
        return [g for k, g in cands.items() if k not in self.proposed]

    def _feasibility(self, x_pool: np.ndarray) -> np.ndarray:
        """Probability under the constraint GPs that every bound holds, per pool row."""
        prob = np.ones(len(x_pool))
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
            gp = self._gp(self.x([g for g, _ in rows]), y)
            mu, sd = gp.predict(x_pool, return_std=True)
            prob *= gauss.cdf(-mu / np.maximum(sd, 1e-9))
        return prob

    def _propose(self, n: int) -> list[Genotype]:
        ok = [o for o in self.history if o.status == "ok" and o.f is not None]
        feasible = np.array([total_violation(self.problem, o) == 0 for o in ok], dtype=bool)
        z = self.norm(np.array([o.f for o in ok], dtype=float)) if ok else np.zeros((0, 0))
        w0 = random_weights(self.rng, self.problem.n_obj)
        order = np.argsort(chebyshev(z, w0), kind="stable") if ok else []
        seeds = [ok[int(i)].genotype for i in order[:5]]
        pool = self._candidates(seeds)
        if not pool:
            return [self._random() for _ in range(n)]
        x_pool = self.x(pool)
        p_feas = self._feasibility(x_pool) if self.problem.constrained else np.ones(len(pool))
        x_ok = self.x([o.genotype for o in ok]) if ok else None
        out: list[Genotype] = []
        taken = np.zeros(len(pool), dtype=bool)
        for _ in range(n):
            if feasible.any() and len(ok) >= 2:
                y = chebyshev(z, random_weights(self.rng, self.problem.n_obj))
                gp = self._gp(x_ok, y)
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
            self.proposed.add(pool[best].key)
            out.append(pool[best])
        return out

    def stats(self) -> dict[str, float]:
        return {"gp_fits": float(self.fits)}
