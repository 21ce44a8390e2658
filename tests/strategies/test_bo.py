"""The model-based baselines qnehvi, qnparego (BoTorch), optuna-tpe and optuna-gp (Optuna).

Searches run the real engine on the analytic digits-cnn benchmark (no training); the
asynchronous contract (tell any subset in any order, pending points) is exercised on the
strategies directly.  Settings are small (few MC samples, small pools, short fits) so each test
takes seconds.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("botorch")

import test_baselines as tb  # noqa: E402  (same directory, on sys.path under pytest)
from analytic_benchmark import AnalyticEvaluator, make_problem  # noqa: E402

from moo_nas.comparator import Normalisation, feasible_points, nondominated  # noqa: E402
from moo_nas.engine import observation  # noqa: E402
from moo_nas.registry import STRATEGIES  # noqa: E402

SMALL_BO = dict(initial=6, pool=150, local=50, screen=48, samples=16, fit_iterations=30)
OPTIONS = {
    "qnehvi": SMALL_BO,
    "qnparego": SMALL_BO,
    "optuna-tpe": dict(startup=6),
    "optuna-gp": dict(startup=6),
}
NAMES = list(OPTIONS)


@pytest.fixture(autouse=True)
def bo_options(monkeypatch):
    for name, opts in {**OPTIONS, "random": {}}.items():
        monkeypatch.setitem(tb.OPTIONS, name, opts)


def observe(problem, ev, genotypes):
    return [observation(problem, g, e)
            for g, e in ((g, ev.evaluate(g, 0)) for g in genotypes)]


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_proposals(tmp_path, name):
    _, _, a = tb.search(tmp_path, name, 3, 14, store="a.db")
    _, _, b = tb.search(tmp_path, name, 3, 14, store="b.db")
    _, _, c = tb.search(tmp_path, name, 4, 14, store="c.db")
    keys = [e.genotype_key for e in a]
    assert len(set(keys)) == 14  # the budget counts distinct networks (a repeat is answered free)
    assert keys == [e.genotype_key for e in b]
    assert keys != [e.genotype_key for e in c]


def test_qnehvi_learns_the_bound(tmp_path):
    bound = 5000.0  # macs <= 5000: about a fifth of the space is feasible
    share = tb.space_share("ok", bound)
    late = []
    for seed in (0, 1):
        _, res, evs = tb.search(tmp_path, "qnehvi", seed, 26, bound, store=f"{seed}.db")
        late += [e.status == "ok" for e in evs[12:]]
        assert res.stats["modelled_asks"] == 20 and res.stats["gp_fits"] > 0
    assert np.mean(late) > 2 * share


@pytest.mark.parametrize("name", ["qnehvi", "qnparego"])
def test_tell_accepts_subsets_in_any_order_and_pending_points_matter(name):
    problem = make_problem()
    ev = AnalyticEvaluator(problem.space, problem.objectives)
    differs = 0
    for seed in range(6):
        with_pending = STRATEGIES.get(name).create(problem, seed, SMALL_BO)
        blind = STRATEGIES.get(name).create(problem, seed, SMALL_BO)
        blind.book.pending_rows = lambda: np.zeros((0, len(problem.space.variables)), dtype=int)
        for s in (with_pending, blind):
            first = s.ask(6)
            obs = observe(problem, ev, first)
            s.tell(obs[3:][::-1])  # a subset, reversed
            assert set(s.book.pending) == {g.key for g in first[:3]}
            s.tell([obs[1], obs[0], obs[2]])
            assert not s.book.pending and len(s.book.history) == 6
        a1, b1 = with_pending.ask(1), blind.ask(1)
        assert a1 == b1  # nothing pending yet: the same model, the same choice
        a2, b2 = with_pending.ask(1), blind.ask(1)  # a1 / b1 still being evaluated
        assert set(with_pending.book.pending) == {a1[0].key, a2[0].key}
        differs += a2 != b2
    assert differs >= 2  # the second choice, with the first pending, differs for some seeds


@pytest.mark.parametrize("name", ["optuna-tpe", "optuna-gp"])
def test_optuna_strategies_keep_pending_trials_running(name):
    import optuna

    problem = make_problem()
    ev = AnalyticEvaluator(problem.space, problem.objectives)
    s = STRATEGIES.get(name).create(problem, 0, OPTIONS[name])
    asked = s.ask(8)
    obs = observe(problem, ev, asked)
    s.tell([obs[5], obs[2], obs[7]])
    states = [t.state for t in s.study.trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 3
    assert states.count(optuna.trial.TrialState.RUNNING) == 5
    s.tell(obs[:2] + obs[3:5] + [obs[6]])
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in s.study.trials)
    assert s.stats()["sampler_seconds"] >= 0


@pytest.mark.parametrize("name", NAMES)
def test_beats_random_search(tmp_path, name):
    """Mean hypervolume after 24 evaluations over three seeds above random search's on the same
    seeds (normalised on the union of both strategies' fronts)."""
    runs = {}
    for strategy in (name, "random"):
        for seed in (0, 1, 2):
            problem, _, evs = tb.search(tmp_path, strategy, seed, 24, store=f"{strategy}{seed}.db")
            runs[strategy, seed], _ = feasible_points(evs, problem.objectives)
    union = np.concatenate(list(runs.values()))
    front = union[nondominated(union)]
    norm = Normalisation(front.min(axis=0), front.max(axis=0))
    hv = {k: np.mean([norm.hypervolume(runs[k, s]) for s in (0, 1, 2)]) for k in (name, "random")}
    assert hv[name] > hv["random"] + 0.02, hv


@pytest.mark.parametrize("option", ["initial", "pool", "samples", "prune_samples", "max_train",
                                    "refit_every", "screen"])
def test_bad_option_values_are_one_sentence(option):
    from moo_nas.errors import UserError

    for bad in (-1, 1.5, True):
        with pytest.raises(UserError, match=f"option {option} must be an integer"):
            STRATEGIES.get("qnehvi").create(make_problem(), 0, {option: bad})


def test_optuna_gp_max_train_caps_what_the_gp_is_fitted_on(tmp_path, monkeypatch):
    """With ``max_train = 8`` every model fit after the 8th completed trial sees exactly 8
    trials (all of them before), and the capped sampler still gives the same proposals for the
    same seed."""
    import optuna

    from moo_nas.errors import UserError

    fitted: list[int] = []
    original = optuna.samplers.GPSampler._sample_relative_impl

    def spy(self, study, completed, running, space):
        fitted.append(len(completed))
        return original(self, study, completed, running, space)

    monkeypatch.setattr(optuna.samplers.GPSampler, "_sample_relative_impl", spy)
    monkeypatch.setitem(tb.OPTIONS, "optuna-gp", dict(startup=4, max_train=8))
    _, _, a = tb.search(tmp_path, "optuna-gp", 3, 16, store="a.db")
    # one fit per ask from the 4th completed trial on (a repeated proposal is answered free
    # and asks again, so there may be more asks than evaluations)
    assert fitted[:5] == [4, 5, 6, 7, 8] and len(fitted) >= 12
    assert all(n == 8 for n in fitted[4:])
    _, _, b = tb.search(tmp_path, "optuna-gp", 3, 16, store="b.db")
    assert [e.genotype_key for e in a] == [e.genotype_key for e in b]
    for bad in (3, 1.5, True):
        with pytest.raises(UserError, match="option max_train must be an integer >= 4"):
            STRATEGIES.get("optuna-gp").create(make_problem(), 0, {"max_train": bad})


def test_optuna_gp_runs_its_sampler_without_torch_function_modes_and_proposes_the_same(tmp_path, monkeypatch):
    """Optuna wraps the GP sampler in ``torch.device("cpu")``, a mode that costs a Python call
    per tensor operation; the adapter turns torch function handling off around the sampler's
    work.  The proposals equal those of Optuna's sampler run as Optuna runs it."""
    import optuna
    import torch

    from strategies.optuna_adapter import _CappedGP

    modes: list[bool] = []
    original = optuna.samplers.GPSampler._sample_relative_impl

    def spy(self, study, completed, running, space):
        modes.append(torch._C._is_torch_function_enabled())
        return original(self, study, completed, running, space)

    monkeypatch.setattr(optuna.samplers.GPSampler, "_sample_relative_impl", spy)
    monkeypatch.setitem(tb.OPTIONS, "optuna-gp", dict(startup=4))
    _, _, fast = tb.search(tmp_path, "optuna-gp", 3, 12, store="fast.db")
    assert modes and not any(modes)
    # Optuna's own path: the device mode on around every fit and acquisition optimisation
    modes.clear()
    monkeypatch.setattr(_CappedGP, "_sample_relative_impl", optuna.samplers.GPSampler._sample_relative_impl)
    _, _, plain = tb.search(tmp_path, "optuna-gp", 3, 12, store="plain.db")
    assert modes and all(modes)
    assert [e.genotype_key for e in fast] == [e.genotype_key for e in plain]
