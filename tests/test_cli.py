import argparse
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import moo_nas.evaluator as evaluator_module
from moo_nas.cli import main

from digits_search import child_env
from experiment_toml import experiment_toml

ROOT = Path(__file__).resolve().parents[1]

def _evaluation_rows(path):
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT * FROM evaluations ORDER BY run_id, seq").fetchall()
    finally:
        con.close()


def test_compare_end_to_end_and_show(tmp_path, capsys, monkeypatch):
    exp = tmp_path / "tiny.toml"
    exp.write_text(experiment_toml(
        name="tiny", seeds=[0, 1], store=tmp_path / "s.sqlite", report=tmp_path / "rep",
        task={"name": "digits"}, space={"name": "digits-cnn"}, recipe={"epochs": 1},
        budget={"evaluations": 4}, objectives=["val_accuracy", "model_bytes", "latency_ms"],
        strategies=["random", {"name": "nsga2", "pop_size": 2}]))
    assert main(["compare", str(exp), "--quiet"]) == 0
    text = (tmp_path / "rep" / "README.md").read_text()
    assert "| random | 2 |" in text and "| nsga2 | 2 |" in text
    assert "latency_ms`: measured" in text
    assert "## Statistics over seeds" in text and "best known front" in text
    assert "Pairwise two-sided Mann-Whitney U" in text
    assert (tmp_path / "rep" / "hv_bands.png").exists()
    assert main(["show", str(tmp_path / "s.sqlite")]) == 0
    assert main(["show", str(tmp_path / "s.sqlite"), "--run", "1"]) == 0
    out = capsys.readouterr().out
    assert "Pareto front of run 1" in out
    assert main(["export", str(tmp_path / "s.sqlite"), "--run", "1", "--out", str(tmp_path / "r.csv")]) == 0
    assert len((tmp_path / "r.csv").read_text().splitlines()) == 5
    # running again resumes: nothing new is evaluated, nothing is trained, every row is the same
    before = _evaluation_rows(tmp_path / "s.sqlite")
    assert len(before) == 2 * 2 * 4  # strategies x seeds x evaluations

    def no_training(*args, **kwargs):
        raise AssertionError("a resumed, finished experiment trained a network")

    monkeypatch.setattr(evaluator_module, "train", no_training)
    assert main(["compare", str(exp), "--quiet"]) == 0
    assert _evaluation_rows(tmp_path / "s.sqlite") == before


@pytest.mark.parametrize("args,needle", [
    (["search", "--strategy", "nsgaII"], "unknown strategy 'nsgaII'"),
    (["search", "--space", "resnet9"], "unknown space"),
    (["search", "--objective", "accuracy"], "unknown objective"),
    (["search", "--objective", "model_bytes>=3"], "written with <="),
    (["search", "--objective", "model_bytes<=10"], "impossible"),
    (["search", "--recipe", "epoch=3"], "unknown recipe key"),
    (["search", "--option", "pop=3"], "has no option"),
])
def test_bad_input_is_one_sentence_exit_2(args, needle, capsys, tmp_path):
    assert main(args + ["--store", str(tmp_path / "s.sqlite"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "s.sqlite").exists()


def _parse(extra):
    from moo_nas.experiment import parse_experiment

    data = {"name": "t", "recipe": {"epochs": 1}, "budget": {"evaluations": 1},
            "objectives": [{"name": "val_accuracy"}, {"name": "model_bytes"}],
            "strategies": [{"name": "random"}], "store": "s.sqlite", "report": "rep", **extra}
    return parse_experiment(data, "test")


def test_options_are_converted_to_their_declared_types(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exp = _parse({"strategies": [{"name": "dnas", "targets": 0.5, "energy_strengths": "0,1e-8"},
                                 {"name": "nsga2", "pop_size": "6"},
                                 {"name": "random", "unique": "false"}],
                  "space": {"name": "digits-cnn", "formats": "fp16"}})
    assert [s.options for s in exp.strategies] == [
        {"targets": [0.5], "energy_strengths": [0.0, 1e-8]}, {"pop_size": 6}, {"unique": False}]
    from moo_nas.spaces import make_space

    space = make_space("digits-cnn", (1, 8, 8), 10, **exp.space_options)
    assert space.fmt.formats == ("fp16",)  # one format, not the letters f, p, 1, 6
    assert make_space("digits-cnn", (1, 8, 8), 10, formats="fp32,int8").fmt.formats == ("int8", "fp32")
    assert not list(tmp_path.iterdir())  # parsing creates nothing


def test_bounds_with_percent_and_the_metric_unit():
    from moo_nas.objectives import parse_objective

    assert parse_objective("val_accuracy>=90%").bound == pytest.approx(0.9)
    assert parse_objective("latency_ms <= 5ms").bound == 5.0
    assert parse_objective("model_bytes<=64KiB").bound == 65536.0
    assert parse_objective("val_accuracy>=1").bound == 1.0  # the edge of the range is allowed


def _walk(parser, path):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, path + [name])
        else:
            yield path, action


def test_every_flag_has_help_and_defaults_are_shown():
    from moo_nas.cli import build_parser

    missing = [f"{' '.join(p)} {a.option_strings or a.dest}" for p, a in _walk(build_parser(), ["moo-nas"])
               if not a.help]
    assert not missing
    out = subprocess.run([sys.executable, "-m", "moo_nas", "search", "--help"], capture_output=True,
                         text=True, cwd=ROOT, env={**os.environ, "COLUMNS": "1000"})  # no wrapping
    assert out.returncode == 0
    text = " ".join(out.stdout.split())
    for shown in ("(default: nsga2)", "(default: digits-cnn)", "(default: runs/search.sqlite)",
                  "(default: 0)", "epochs=8"):
        assert shown in text, shown


def test_listings_name_every_registered_plugin(capsys):
    from moo_nas.objectives import all_metrics
    from moo_nas.registry import SPACES, STRATEGIES, TASKS

    for cmd, names in ((["spaces"], SPACES.names()), (["strategies"], STRATEGIES.names()),
                       (["tasks"], TASKS.names()), (["objectives"], all_metrics())):
        assert main(cmd) == 0
        listed = {line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()}
        assert set(names) <= listed, (cmd, sorted(set(names) - listed))
    out = subprocess.run([sys.executable, "-m", "moo_nas", "compare", "--help"], capture_output=True,
                         text=True, cwd=ROOT)
    assert out.returncode == 0 and "experiment" in out.stdout


def test_a_fresh_process_lists_every_builtin_space():
    out = subprocess.run([sys.executable, "-m", "moo_nas", "spaces"], capture_output=True, text=True,
                         cwd=ROOT, env=child_env())
    assert out.returncode == 0
    listed = {line.split()[0] for line in out.stdout.splitlines() if line.strip()}
    assert {"digits-cnn", "dscnn", "resnet8", "nb201"} <= listed


def test_experiment_keys_reach_the_experiment(tmp_path):
    from moo_nas.experiment import load_experiment

    f = tmp_path / "e.toml"
    f.write_text('name = "e"\nworkers = 3\ntargets = [0.5, 0.75]\n[budget]\nevaluations = 2\n'
                 '[[objectives]]\nname = "val_accuracy"\n[[strategies]]\nname = "random"\n')
    exp = load_experiment(f)
    assert exp.workers == 3 and exp.targets == (0.5, 0.75) and exp.source == str(f)
