"""nsga2 and dnas end-to-end on a user's model file; int8 Q/DQ ONNX export within 1 point of the
fake-quantised network; the plain module equals the searched network."""

import torch

from moo_nas.engine import Budget, run_search
from moo_nas.evaluator import TrainingEvaluator, EvaluatorSpec, needed_providers
from moo_nas.objectives import make_objective
from moo_nas.training import Recipe, train
from moo_nas.strategy import Problem

MODEL = "examples/byo_model.py:SmallNet"


def _problem(formats=None):
    objectives = (make_objective("val_accuracy"), make_objective("model_bytes"),
                  make_objective("macs"))
    recipe = Recipe(epochs=1, batch_size=64, lr=3e-3)
    options = {"seed_model": MODEL, "input_shape": [1, 8, 8]}
    if formats:
        options["formats"] = formats
    spec = EvaluatorSpec("traced", options, "digits", {}, recipe, objectives,
                         needed_providers(objectives, ()))
    ev = TrainingEvaluator(spec)
    return ev, Problem(ev.space, objectives, ev.task, recipe)


def test_nsga2_on_user_model_file(tmp_store):
    ev, problem = _problem()
    res = run_search(tmp_store, problem, ev, "nsga2", {"pop_size": 4}, 0, Budget(evaluations=6))
    assert len(res.evaluations) == 6 and all(e.status == "ok" for e in res.evaluations)
    assert len({e.genotype_key for e in res.evaluations}) > 1
    assert all("c_stem_0" in e.genotype for e in res.evaluations)


def test_dnas_on_user_model_file_meets_memory_targets(tmp_store):
    from moo_nas import costs

    ev, problem = _problem()
    options = {"targets": [0.5, 0.2], "energy_strengths": [0.0], "warmup_epochs": 1,
               "search_epochs": 1}
    res = run_search(tmp_store, problem, ev, "dnas", options, 0, Budget(evaluations=2))
    seed = costs.model_bytes(ev.space.seed_arch)
    assert [e.status for e in res.evaluations] == ["ok", "ok"]
    for e, target in zip(res.evaluations, (0.5, 0.2)):
        assert e.values["model_bytes"].value <= target * seed
        assert e.values["val_accuracy"].value > 0.3  # fine-tuned from searched weights


def test_int8_onnx_within_one_point_and_plain_module(tmp_path):
    from moo_nas.byo.export import check_int8, plain_module

    ev, problem = _problem(["int8"])
    space, task = ev.space, ev.task
    g = space.seed_genotype()
    torch.manual_seed(0)
    module = space.build(g)
    train(module, task, Recipe(epochs=2, batch_size=64, lr=3e-3), 0)
    arch, state = space.arch(g), module.state_dict()
    chk = check_int8(arch, state, tmp_path / "m.onnx", task.x_train[:512], task.x_val,
                     task.y_val)
    assert chk.qdq_nodes > 0
    assert chk.fake_quant_accuracy > 0.5
    assert chk.gap_points <= 1.0
    plain = plain_module(arch, state)
    assert not any(type(m).__module__.startswith("moo_nas") for m in plain.modules()
                   if m is not plain)
    from moo_nas.arch import SpecNet
    from dataclasses import replace

    ref = SpecNet(replace(arch.with_formats("fp32", "fp32"), input_format="fp32")).eval()
    ref.load_state_dict(state)
    x = task.x_val[:16]
    with torch.no_grad():
        assert torch.allclose(plain(x), ref(x), atol=1e-6)


def test_one_d_seed_on_basic_motions(tmp_store):
    import pytest

    pytest.importorskip("aeon", reason="basic-motions reads the aeon wheel's data files")
    objectives = (make_objective("val_accuracy"), make_objective("macs"))
    recipe = Recipe(epochs=3, batch_size=8, lr=3e-3)
    spec = EvaluatorSpec("traced", {"seed_model": "examples/byo_model.py:TemporalNet",
                                    "input_shape": [6, 100]}, "basic-motions", {}, recipe,
                         objectives, needed_providers(objectives, ()))
    ev = TrainingEvaluator(spec)
    assert any(len(op.kernel) == 1 for op in ev.space.seed_arch.ops if op.kind == "conv")
    problem = Problem(ev.space, objectives, ev.task, recipe)
    res = run_search(tmp_store, problem, ev, "nsga2", {"pop_size": 2}, 0, Budget(evaluations=2))
    assert all(e.status == "ok" for e in res.evaluations)


def test_seed_model_in_toml_and_on_the_command_line_name_the_traced_space(tmp_path):
    from moo_nas.cli import main
    from moo_nas.experiment import parse_experiment

    exp = parse_experiment({"name": "byo", "space": {"seed_model": MODEL, "input_shape": [1, 8, 8]},
                            "store": str(tmp_path / "s.sqlite"), "report": str(tmp_path / "r"),
                            "budget": {"evaluations": 2}, "objectives": [{"name": "val_accuracy"}],
                            "strategies": [{"name": "random"}]})
    assert exp.space == "traced" and exp.space_options["seed_model"] == MODEL
    rc = main(["search", "--seed-model", MODEL, "--input-shape", "1,8,8", "--strategy", "random",
               "--evaluations", "2", "--recipe", "epochs=1", "--objective", "val_accuracy",
               "--objective", "model_bytes", "--store", str(tmp_path / "c.sqlite"), "--name", "byo",
               "--report", str(tmp_path / "rep"), "--quiet"])
    assert rc == 0
    from moo_nas.store import Store

    with Store(tmp_path / "c.sqlite") as s:
        run = s.runs()[0]
        assert run.space["name"] == "traced" and len(s.evaluations(run.id)) == 2


def test_dnas_export_format_on_user_model_file(tmp_store):
    """``export_format = "int8"``: searched in the seed's fp32, exported and fine-tuned in int8."""
    import pytest

    from moo_nas.errors import UserError
    from moo_nas.registry import STRATEGIES

    ev, problem = _problem(["int8", "fp32"])
    options = {"targets": [0.3], "energy_strengths": [0.0], "warmup_epochs": 1,
               "search_epochs": 1, "export_format": "int8"}
    res = run_search(tmp_store, problem, ev, "dnas", options, 0, Budget(evaluations=1))
    (e,) = res.evaluations
    fmts = {k: v for k, v in e.genotype.items() if k.startswith("fmt_")}
    assert e.status == "ok" and fmts and set(fmts.values()) == {"int8"}
    assert e.values["val_accuracy"].value > 0.3  # the searched weights loaded and fine-tuned
    assert e.strategy_s > 0
    with pytest.raises(UserError, match="export_format='fp16'"):
        STRATEGIES.get("dnas").create(problem, 0, {"export_format": "fp16"})
