"""``surrogate-nsga2``: a population strategy whose offspring are screened by predictors.

Each generation:

1. the predictors (one per objective that needs training or measuring) are refitted on every
   evaluation received so far;
2. the wrapped population strategy (``inner``, default ``nsga2``) is run from scratch for
   ``inner_generations`` generations on the *predicted* problem — its offspring are never
   trained, they are told the predicted objective vectors — and every genotype it proposes,
   plus the one-variable neighbours (``neighbours``) and ``mutants`` random mutants of every
   member of the front found so far, joins a candidate pool;
3. ``pop_size`` candidates of the pool are chosen for real evaluation by the acquisition:
   ``rank`` (default) — predicted non-domination rank, ties by crowding distance; ``hvi`` —
   greedy hypervolume improvement of the optimistic prediction (mean - ``kappa`` x std) over
   the front found so far, each pick added to the front before the next ("kriging
   believer").  On NAS-Bench-201 ``rank`` reached higher hypervolume than ``hvi`` (see
   reports/surrogates/README.md).

Objectives whose metric is known before training (stage ``arch``: params, model_bytes, macs,
peak_act_bytes and modelled hardware metrics) are computed exactly with their provider on
``space.arch(genotype)``, never predicted; candidates violating their bounds are dropped
before they cost anything.  Spaces that are table-only (no ``arch``) fall back to predicting
them with ``cost_predictor``.  The first generation is a uniform random sample.

All randomness comes from the strategy's seed, so a run resumes by replay.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import moocore
import numpy as np

from moo_nas.errors import UserError
from moo_nas.objectives import Candidate, make_provider, metric, provider_for
from moo_nas.seen import Seen
from moo_nas.space import Genotype

from moo_nas.strategy import Observation, Problem, Strategy, worst_fill

ACQUISITIONS = ("hvi", "rank")


class SurrogateNSGA2(Strategy):
    """Surrogate-assisted population search (see the module docstring)."""

    name = "surrogate-nsga2"
    description = "NSGA-II offspring screened by surrogate predictors; only the best are trained"

    def __init__(self, problem: Problem, seed: int = 0, *, pop_size: int = 10,
                 initial: int | None = None, inner: str = "nsga2",
                 inner_options: dict[str, Any] | None = None, inner_generations: int = 15,
                 predictor: str = "gbdt", predictor_options: dict[str, Any] | None = None,
                 cost_predictor: str = "bayes-ridge", acquisition: str = "rank",
                 kappa: float = 0.25, mutants: int = 4, neighbours: bool = True) -> None:
        super().__init__(problem, seed)
        from surrogates.features import make_encoder
        from surrogates.models import make_predictor

        if acquisition not in ACQUISITIONS:
            raise UserError(f"acquisition {acquisition!r} is unknown; use {' or '.join(ACQUISITIONS)}.")
        if inner == self.name:
            raise UserError("surrogate-nsga2 cannot wrap itself; set inner = \"nsga2\".")
        if int(pop_size) < 1 or int(inner_generations) < 1:
            raise UserError("pop_size and inner_generations must be positive integers.")
        if (initial is not None and int(initial) < 1) or int(mutants) < 0 or not kappa >= 0:
            raise UserError("surrogate-nsga2 needs initial >= 1, mutants >= 0 and kappa >= 0.")
        self.pop_size = int(pop_size)
        self.initial = int(initial) if initial is not None else self.pop_size
        self.inner = inner
        self.inner_options = dict(inner_options or {"pop_size": 40})
        self.inner_generations = int(inner_generations)
        self.acquisition = acquisition
        self.kappa = float(kappa)
        self.mutants = int(mutants)
        self.neighbours = bool(neighbours)
        self._make_predictor = make_predictor
        self.predictor_name = predictor
        self.predictor_options = dict(predictor_options or {})
        self.cost_predictor = cost_predictor
        make_predictor(predictor, 0, **self.predictor_options)  # validate names early
        make_predictor(cost_predictor, 0)
        from moo_nas.registry import STRATEGIES

        STRATEGIES.get(inner).create(problem, self.seed, self.inner_options)  # options checked now
        self.encoder = make_encoder(self.space)
        self._exact_idx, self._providers = self._exact_objectives()
        self._archive: list[Observation] = []
        self._seen = Seen(self.space)
        self._exact_cache: dict[str, dict[str, float]] = {}
        self._counters = {"generations": 0, "candidates_screened": 0, "rejected_by_bounds": 0,
                          "surrogate_seconds": 0.0}

    # ------------------------------------------------------------------ exact objectives
    def _exact_objectives(self) -> tuple[list[int], dict[str, Any]]:
        """Indices of objectives computable before training, and their providers."""
        idx, providers = [], {}
        if self.space.table_only:
            return [], {}
        probe = self.space.seed_genotype()
        arch = self.space.arch(probe)
        for i, o in enumerate(self.problem.objectives):
            if metric(o.name).stage != "arch":
                continue
            pname = provider_for(o.name)
            if pname is None:
                continue
            try:
                prov = providers.get(pname) or make_provider(pname)
                prov.compute(Candidate(self.space, probe, arch))
            except Exception:  # a provider that needs more than the layer description
                continue
            providers[pname] = prov
            idx.append(i)
        return idx, providers

    def _exact_values(self, g: Genotype) -> dict[str, float]:
        vals = self._exact_cache.get(g.key)
        if vals is None:
            cand = Candidate(self.space, g, self.space.arch(g))
            vals = {}
            for prov in self._providers.values():
                vals.update({k: v.value for k, v in prov.compute(cand).items()})
            self._exact_cache[g.key] = vals
        return vals

    # ------------------------------------------------------------------ ask / tell
    def batch_size(self) -> int:
        return self.pop_size

    def ask(self, n: int) -> list[Genotype]:
        ok = [o for o in self._archive if o.f is not None]
        if len(ok) < max(self.initial, 3):
            return self._random(n)
        t0 = time.perf_counter()
        models = self._fit(ok)
        pool = self._pool(models, ok)
        self._counters["candidates_screened"] += len(pool)
        if not pool:
            return self._random(n)
        mean, std, _, viol = self._predict(models, pool)
        keep = viol <= 0
        self._counters["rejected_by_bounds"] += int((~keep).sum())
        if keep.any():
            pool = [g for g, k in zip(pool, keep) if k]
            mean, std = mean[keep], std[keep]
        picks = self._select(mean, std, ok, n)
        self._counters["generations"] += 1
        self._counters["surrogate_seconds"] += time.perf_counter() - t0
        out = [pool[i] for i in picks]
        if len(out) < n:
            out += self._random(n - len(out), exclude={g.key for g in out})
        return out

    def tell(self, observations: Sequence[Observation]) -> None:
        for o in observations:
            self._seen.add(o.genotype)
            self._archive.append(o)

    def stats(self) -> dict[str, float]:
        return dict(self._counters)

    # ------------------------------------------------------------------ pieces
    def _random(self, n: int, exclude: set[str] | None = None) -> list[Genotype]:
        out: list[Genotype] = []
        taken = set(exclude or ())
        for _ in range(n):
            g = self._seen.sample_unseen(self.rng, tries=1000, also=taken)
            taken.add(g.key)
            out.append(g)
        return out

    def _fit(self, ok: list[Observation]) -> dict[int, Any]:
        X = self.encoder.encode([o.genotype for o in ok])
        F = np.array([worst_fill(self.problem, o.f) for o in ok])
        models = {}
        for i, obj in enumerate(self.problem.objectives):
            if i in self._exact_idx:
                continue
            y = F[:, i]
            trained = metric(obj.name).stage == "trained"
            name = self.predictor_name if trained else self.cost_predictor
            opts = self.predictor_options if trained else {}
            seed = int(self.rng.integers(2**31))
            models[i] = self._make_predictor(name, seed, **opts).fit(X, y)
        return models

    def _predict(self, models: dict[int, Any], gs: Sequence[Genotype]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Minimisation-form means and stds, constraint values from the means (g <= 0
        feasible, one column per bounded objective), and the largest violation of a bound on
        an exactly known objective (> 0: certainly infeasible)."""
        m = self.problem.n_obj
        mean = np.zeros((len(gs), m))
        std = np.zeros((len(gs), m))
        X = self.encoder.encode(gs)
        for i, model in models.items():
            p = model.predict(X)
            mean[:, i], std[:, i] = p.mean, p.std
        exact_viol = np.zeros(len(gs))
        for i in self._exact_idx:
            o = self.problem.objectives[i]
            vals = np.array([self._exact_values(g)[o.name] for g in gs])
            mean[:, i] = [o.to_min(v) for v in vals]
            if o.bound is not None:
                exact_viol = np.maximum(exact_viol, [o.violation(v) for v in vals])
        cols = []
        for i, o in enumerate(self.problem.objectives):
            if o.bound is not None:
                values = mean[:, i] if o.direction == "min" else -mean[:, i]
                cols.append([o.violation(v) for v in values])
        G = np.array(cols, dtype=float).T.reshape(len(gs), len(cols))
        return mean, std, G, exact_viol

    def _pool(self, models: dict[int, Any], ok: list[Observation]) -> list[Genotype]:
        """Every unseen genotype the inner strategy visits on the predicted problem, plus
        mutants of the current front."""
        from moo_nas.registry import STRATEGIES

        cls = STRATEGIES.get(self.inner)
        inner = cls.create(self.problem, int(self.rng.integers(2**31)), self.inner_options)
        pool: dict[str, Genotype] = {}
        for _ in range(self.inner_generations):
            batch = inner.ask(inner.batch_size())
            if not batch:
                break
            mean, _, G, _ = self._predict(models, batch)
            obs = []
            for g, f, gv in zip(batch, mean, G):
                obs.append(Observation(g, f, gv, "ok"))
                if g not in self._seen:
                    pool.setdefault(g.key, g)
            inner.tell(obs)
        F = np.array([worst_fill(self.problem, o.f) for o in ok])
        front = moocore.is_nondominated(np.array(F, copy=True))
        for o, on_front in zip(ok, front):
            if on_front:
                extra = self._neighbours(o.genotype) if self.neighbours else []
                extra += [self.space.mutate(o.genotype, self.rng) for _ in range(self.mutants)]
                for g in extra:
                    if g not in self._seen:
                        pool.setdefault(g.key, g)
        return list(pool.values())

    def _neighbours(self, genotype: Genotype) -> list[Genotype]:
        """Every genotype that differs from ``genotype`` in exactly one variable."""
        x = self.space.encode(genotype)
        out = []
        for i, v in enumerate(self.space.variables):
            for k in range(len(v)):
                if k != x[i]:
                    y = x.copy()
                    y[i] = k
                    out.append(self.space.decode(y))
        return out

    def _select(self, mean: np.ndarray, std: np.ndarray, ok: list[Observation], n: int) -> list[int]:
        n = min(n, len(mean))
        if self.acquisition == "rank":
            return _rank_crowding(mean, n)
        F = np.array([worst_fill(self.problem, o.f) for o in ok if o.feasible] or
                     [worst_fill(self.problem, o.f) for o in ok])
        lo = np.minimum(F.min(0), mean.min(0))
        hi = F.max(0)
        span = np.where(hi > lo, hi - lo, 1.0)
        ref = np.full(F.shape[1], 1.1)
        front = (F[moocore.is_nondominated(np.array(F, copy=True))] - lo) / span
        opt = (mean - self.kappa * std - lo) / span
        bel = (mean - lo) / span
        picks: list[int] = []
        base = _hv(front, ref)
        avail = np.ones(len(mean), dtype=bool)
        for _ in range(n):
            gains = np.full(len(mean), -np.inf)
            # only points inside the box and not weakly dominated by the front can gain
            dominated = np.all(front[None, :, :] <= opt[:, None, :], axis=2).any(axis=1)
            for j in np.flatnonzero(avail & ~dominated & np.all(opt < ref, axis=1)):
                gains[j] = _hv(np.vstack([front, opt[j]]), ref) - base
            j = int(np.argmax(gains))
            if not np.isfinite(gains[j]) or gains[j] <= 1e-12:
                rest = _rank_crowding(np.where(avail[:, None], mean, np.inf), n - len(picks))
                picks += [i for i in rest if avail[i]][: n - len(picks)]
                break
            picks.append(j)
            avail[j] = False
            front = np.vstack([front, bel[j]])
            base = _hv(front, ref)
        return picks


def _hv(points: np.ndarray, ref: np.ndarray) -> float:
    pts = points[np.all(points < ref, axis=1)]
    if len(pts) == 0:
        return 0.0
    return float(moocore.hypervolume(np.array(pts, copy=True), ref=ref))


def _rank_crowding(F: np.ndarray, n: int) -> list[int]:
    """Indices of the ``n`` best rows by non-domination rank, then crowding distance."""
    from pymoo.operators.survival.rank_and_crowding.metrics import calc_crowding_distance
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    finite = np.all(np.isfinite(F), axis=1)
    idx = np.flatnonzero(finite)
    if len(idx) == 0:
        return []
    fronts = NonDominatedSorting().do(F[idx])
    out: list[int] = []
    for fr in fronts:
        members = idx[fr]
        if len(out) + len(members) <= n:
            out += [int(i) for i in members]
        else:
            cd = calc_crowding_distance(F[members])
            order = np.argsort(-cd, kind="stable")
            out += [int(members[i]) for i in order[: n - len(out)]]
        if len(out) >= n:
            break
    return out
