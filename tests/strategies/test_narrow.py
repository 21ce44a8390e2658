"""The ``narrow`` strategy: sampling laws, checks before training, counters."""

from __future__ import annotations

import numpy as np
import pytest

from moo_nas import costs
from moo_nas.engine import Budget, run_search
from moo_nas.errors import UserError
from moo_nas.evaluator import TrainingEvaluator, EvaluatorSpec, needed_providers
from moo_nas.hardware import mcu
from moo_nas.objectives import make_objective
from moo_nas.spaces import make_space
from moo_nas.store import Store
from moo_nas.training import Recipe
from moo_nas.registry import STRATEGIES
from moo_nas.strategy import Problem
from strategies.narrow import NarrowSearch

FORMATS = ["fp32", "fp16", "e5m6", "e4m3"]


def resnet_problem(formats=None, objectives=None) -> Problem:
    opts = {"formats": formats} if formats else {}
    space = make_space("resnet8", (1, 28, 28), 10, **opts)
    return Problem(space, tuple(objectives or (make_objective("val_accuracy"),)))


def narrow(problem: Problem, seed: int = 0, **options) -> NarrowSearch:
    return STRATEGIES.get("narrow").create(problem, seed, options)


def test_registered_and_deterministic_per_seed():
    pb = resnet_problem(FORMATS)
    opts = {"max_model_bytes": 60e3, "max_ram_bytes": 80e3, "max_latency_ms": 50.0}
    a, b, c = narrow(pb, 3, **opts), narrow(pb, 3, **opts), narrow(pb, 4, **opts)
    ga, gb, gc = a.ask(6) + a.ask(4), b.ask(6) + b.ask(4), c.ask(6) + c.ask(4)
    assert [g.key for g in ga] == [g.key for g in gb]
    assert a.stats() == b.stats()
    assert [g.key for g in ga] != [g.key for g in gc]
    assert len({pb.space.arch(g).fingerprint() for g in ga}) == 10  # no architecture twice


def test_every_asked_candidate_meets_the_bounds_and_rejections_are_counted():
    pb = resnet_problem(FORMATS)
    flash, ram, lat = 40e3, 60e3, 30.0
    s = narrow(pb, 0, max_model_bytes=flash, max_ram_bytes=ram, max_latency_ms=lat)
    asked = s.ask(15)
    assert len(asked) == 15
    for g in asked:
        arch = pb.space.arch(g)
        assert costs.model_bytes(arch) <= flash
        assert costs.peak_activation_bytes(arch) <= ram
        assert mcu.latency_seconds(arch) * 1e3 <= lat
    st = s.stats()
    assert st["asked"] == 15 and st["sampled"] == st["asked"] + st["rejected"]
    assert st["rejected"] > 0
    assert st["rejected"] == st["rejected_flash"] + st["rejected_ram"] + st["rejected_latency"]
    assert st["rejected_fraction"] == pytest.approx(st["rejected"] / st["sampled"])
    # the rejected ones really violate a bound: re-draw the same sequence and check them
    replay = narrow(pb, 0, max_model_bytes=flash, max_ram_bytes=ram, max_latency_ms=lat)
    seen, violating = set(), 0
    while len(seen) < st["sampled"]:
        g = replay.sample()
        arch = pb.space.arch(g)
        if arch.fingerprint() in seen:
            continue
        seen.add(arch.fingerprint())
        violating += (costs.model_bytes(arch) > flash or costs.peak_activation_bytes(arch) > ram
                      or mcu.latency_seconds(arch) * 1e3 > lat)
    assert violating == st["rejected"]


def test_bounds_come_from_the_problem_objectives():
    objs = (make_objective("val_accuracy"), make_objective("model_bytes", 30e3),
            make_objective("ram_bytes", 70e3))
    pb = resnet_problem(FORMATS, objs)
    s = narrow(pb, 1)
    assert [c.name for c in s.checks] == ["model_bytes", "ram_bytes"]
    for g in s.ask(8):
        arch = pb.space.arch(g)
        assert costs.model_bytes(arch) <= 30e3 and mcu.ram_bytes(arch) <= 70e3
    assert s.stats()["rejected"] > 0


def test_sampling_is_concentrated_around_the_reference():
    pb = resnet_problem(FORMATS)
    space = pb.space
    ref = space.seed_genotype().to_dict()
    ref.update(c2=20, m2=16, c3=32, fmt_s2a="fp16")
    s = narrow(pb, 0, reference=ref)
    rng = np.random.default_rng(0)
    narrow_draws = [s.sample() for _ in range(400)]
    uniform_draws = [space.sample(rng) for _ in range(400)]
    ref_idx = space.encode(space.make(ref))

    def mean_distance(draws):
        return np.mean([np.abs(space.encode(g) - ref_idx).sum() for g in draws])

    assert mean_distance(narrow_draws) < 0.5 * mean_distance(uniform_draws)
    c2 = np.array([g["c2"] for g in narrow_draws])
    assert abs(np.median(c2) - 20) <= 2
    assert np.mean((c2 >= 16) & (c2 <= 24)) > 0.6  # uniform: 3/7
    fmt = [g["fmt_s2a"] for g in narrow_draws]
    assert fmt.count("fp16") > 0.35 * len(fmt) > fmt.count("e4m3")
    # the law spreads: not every draw is the reference
    assert len({g.key for g in narrow_draws}) > 300


def test_impossible_bound_is_a_user_error_and_bad_options_are_rejected():
    pb = resnet_problem()
    with pytest.raises(UserError, match="no candidate"):
        narrow(pb, 0, max_model_bytes=10.0, max_draws=200).ask(1)
    with pytest.raises(UserError):
        narrow(pb, 0, width_sigma=-1)
    with pytest.raises(UserError):
        narrow(pb, 0, latency_model="psychic")
    with pytest.raises(UserError):
        narrow(pb, 0, reference={"c1": 5})


def test_latency_models():
    """Latency before training comes from the MCU model of moo_nas.hardware.mcu (the target
    named by mcu_target); there is no second set of MCU constants in the strategy."""
    from moo_nas.hardware import mcu

    pb = resnet_problem()
    assert narrow(pb, latency_model="mcu").latency_source.startswith("modelled")
    with pytest.raises(UserError, match="latency_model"):
        narrow(pb, latency_model="analytic")
    s = narrow(pb, latency_model="mcu", mcu_target="stm32h7a3", max_latency_ms=10.0)
    assert "fitted to MLPerf Tiny v1.2 H7A3" in s.latency_source
    target = mcu.get_target("stm32h7a3")
    for g in s.ask(3):
        assert float(mcu.latency_seconds(pb.space.arch(g), target)) * 1e3 <= 10.0
    # the check uses the same function: the seed breaks 10 ms on the H7A3 model
    seed_ms = float(mcu.latency_seconds(pb.space.arch(pb.space.seed_genotype()), target)) * 1e3
    assert seed_ms > 10.0 and s.check(pb.space.seed_genotype()) == "rejected_latency"


def test_through_the_engine_only_feasible_candidates_are_trained(tmp_path):
    objs = (make_objective("val_accuracy"), make_objective("model_bytes", 2500.0))
    spec = EvaluatorSpec("digits-cnn", {"formats": ["fp32", "fp16", "e4m3"]}, "digits", {},
                         Recipe(epochs=1), objs, needed_providers(objs, []))
    ev = TrainingEvaluator(spec)
    pb = Problem(ev.space, objs, ev.task, spec.recipe)
    with Store(tmp_path / "s.sqlite") as store:
        full = run_search(store, pb, ev, "narrow", {}, 5, Budget(evaluations=4))
    assert [e.status for e in full.evaluations] == ["ok"] * 4
    for e in full.evaluations:
        assert e.value("model_bytes") <= 2500.0 and e.train_s > 0
    st = full.stats
    assert st["trained"] == 4 and st["rejected"] > 0
    assert st["train_seconds"] == pytest.approx(sum(e.train_s for e in full.evaluations))
    assert st["est_train_seconds_saved"] > 0
    # resume by replay proposes the same candidates and rebuilds the same counters
    with Store(tmp_path / "r.sqlite") as store:
        run_search(store, pb, ev, "narrow", {}, 5, Budget(evaluations=2))
        resumed = run_search(store, pb, ev, "narrow", {}, 5, Budget(evaluations=4))
    assert [e.genotype_key for e in resumed.evaluations] == [e.genotype_key for e in full.evaluations]
    assert resumed.stats["sampled"] == st["sampled"] and resumed.stats["trained"] == 4


def test_memory_scaling_widens_lower_precision_candidates_only():
    ref = {"c1": 8, "m1": 8, "c2": 16, "m2": 16, "c3": 32, "m3": 32}
    pb = resnet_problem(FORMATS)
    plain, scaled = narrow(pb, 2, reference=ref), narrow(pb, 2, reference=ref, memory_scaling=True)
    widths = ("c1", "m1", "c2", "m2", "c3", "m3")
    wider = 0
    for _ in range(200):
        a, b = plain.sample(), scaled.sample()
        fmts = [k for k in a.to_dict() if k.startswith("fmt_")]
        assert [a[k] for k in fmts] == [b[k] for k in fmts]  # same draws, only widths move
        if all(a[k] == "fp32" for k in fmts):
            assert all(a[w] == b[w] for w in widths)
        else:
            assert all(b[w] >= a[w] for w in widths)
            wider += any(b[w] > a[w] for w in widths)
    assert wider > 50
    fp32_only = resnet_problem()
    a = narrow(fp32_only, 1, reference=ref)
    b = narrow(fp32_only, 1, reference=ref, memory_scaling=True)
    assert [a.sample().key for _ in range(20)] == [b.sample().key for _ in range(20)]
