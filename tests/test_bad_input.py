"""Bad input, case by case, through the real ``moo-nas`` command.

Every case must end with one sentence on stderr (no traceback), exit status 2, and leave a store
that already held results exactly as it was (same rows; a corrupted file byte-for-byte
untouched).  ``moo_nas.cli.main`` is called in-process (what the ``moo-nas`` entry point runs);
one case also goes through ``python -m moo_nas`` in a subprocess.
"""

import hashlib
import json
import os
import pickle
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from moo_nas.cli import main
from moo_nas.engine import Budget, run_search
from moo_nas.evaluator import TrainingEvaluator, EvaluatorSpec, needed_providers
from moo_nas.objectives import make_objective
from moo_nas.store import Store
from moo_nas.training import Recipe
from moo_nas.strategy import Problem

ROOT = Path(__file__).resolve().parents[1]

GOOD_TOML = """
name = "bad-input"
seeds = [0]
store = "STORE"
report = "rep"
[task]
name = "digits"
[space]
name = "digits-cnn"
[recipe]
epochs = 0
[budget]
evaluations = 1
[[objectives]]
name = "val_accuracy"
[[objectives]]
name = "model_bytes"
[[strategies]]
name = "random"
"""


def _search(*extra: str) -> list[str]:
    return ["search", "--evaluations", "1", "--recipe", "epochs=0", "--objective", "val_accuracy",
            "--store", "STORE", "--report", "rep", "--quiet", *extra]


def _toml(old: str, new: str) -> str:
    assert old in GOOD_TOML
    return GOOD_TOML.replace(old, new)


class _Exec:  # unpickling this runs a shell command: a data file must never do that
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def _evil_cifar(tmp: Path) -> None:
    d = tmp / "cifar-10-batches-py"
    d.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (d / name).write_bytes(pickle.dumps({b"data": _Exec(), b"labels": [0]}))


GENO_OTHER_SPACE = json.dumps({"space": "resnet8", "values": {"stage1_channels": 16}})

# id -> (argv, files to write {name: text}, which store "STORE" means: good | corrupt | truncated | new)
CASES = {
    "unknown-space": (_search("--space", "no-such-space"), {}, "good"),
    "unknown-strategy": (_search("--strategy", "no-such-strategy"), {}, "good"),
    "unknown-task": (_search("--task", "no-such-task"), {}, "good"),
    "unknown-objective": (_search("--objective", "no_such_metric"), {}, "good"),
    "unknown-executor": (["compare", "e.toml", "--quiet"],
                         {"e.toml": GOOD_TOML + '[executor]\nname = "dask"\n'}, "good"),
    "malformed-toml": (["compare", "e.toml"], {"e.toml": 'name = "unterminated\n'}, "good"),
    "missing-experiment-file": (["compare", "nowhere.toml"], {}, "good"),
    "wrong-type-seeds": (["compare", "e.toml"], {"e.toml": _toml("seeds = [0]", 'seeds = "zero"')}, "good"),
    "wrong-type-budget": (["compare", "e.toml"],
                          {"e.toml": _toml("evaluations = 1", 'evaluations = "ten"')}, "good"),
    "wrong-type-recipe": (_search("--recipe", "batch_size=big"), {}, "good"),
    "wrong-type-cli-int": (_search("--seed", "zero"), {}, "good"),
    "wrong-type-strategy-option": (_search("--strategy", "nsga2", "--option", "pop_size=many"), {}, "good"),
    "wrong-type-objectives": (["compare", "e.toml"],
                              {"e.toml": 'objectives = "val_accuracy"\n' + GOOD_TOML.replace(
                                  '[[objectives]]\nname = "val_accuracy"\n[[objectives]]\nname = "model_bytes"\n', "")},
                              "good"),
    "out-of-range-budget": (_search("--evaluations", "-3"), {}, "good"),
    "out-of-range-recipe": (_search("--recipe", "lr=-0.1"), {}, "good"),
    "out-of-range-bound": (_search("--objective", "model_bytes<=-5"), {}, "good"),
    "out-of-range-strategy-option": (_search("--strategy", "nsga2", "--option", "pop_size=0"), {}, "good"),
    "out-of-range-batch": (_search("--option", "batch=0"), {}, "good"),
    "out-of-range-ray-option": (["compare", "e.toml", "--quiet"],
                                {"e.toml": GOOD_TOML + '[executor]\nname = "ray"\nnum_cpus = -1\n'}, "good"),
    "impossible-constraint": (_search("--objective", "model_bytes<=10"), {}, "good"),
    "impossible-constraint-toml": (["compare", "e.toml"],
                                   {"e.toml": _toml('name = "model_bytes"', 'name = "model_bytes"\nbound = 10')},
                                   "good"),
    "missing-dataset-fashion": (_search("--task", "fashion-mnist", "--task-option", "path=no/such/dir"), {}, "good"),
    "missing-dataset-cifar": (_search("--task", "cifar10", "--task-option", "path=no/such/dir",
                                      "--space", "resnet8"), {}, "good"),
    "dataset-pickle-runs-code": (_search("--task", "cifar10", "--task-option", "path=cifar-10-batches-py",
                                         "--space", "resnet8"), {"evil_cifar": ""}, "good"),
    "corrupted-store-search": (_search(), {}, "corrupt"),
    "corrupted-store-show": (["show", "STORE"], {}, "corrupt"),
    "truncated-store-show": (["show", "STORE"], {}, "truncated"),
    "truncated-store-search": (_search(), {}, "truncated"),
    "missing-store": (["show", "STORE"], {}, "new"),
    "unknown-run": (["show", "STORE", "--run", "99"], {}, "good"),
    "genotype-other-space": (["measure", "--space", "digits-cnn", "--provider", "analytic",
                              "--genotype", GENO_OTHER_SPACE], {}, "good"),
    "genotype-unknown-variable": (["measure", "--space", "digits-cnn", "--provider", "analytic",
                                   "--genotype", '{"no_such_variable": 3}'], {}, "good"),
    "unknown-top-level-key": (["compare", "e.toml"], {"e.toml": "colour = 3\n" + GOOD_TOML}, "good"),
    "unknown-recipe-key": (["compare", "e.toml"], {"e.toml": _toml("epochs = 0", "epochs = 0\nepoch = 3")}, "good"),
    "unknown-budget-key": (["compare", "e.toml"], {"e.toml": _toml("evaluations = 1", "evaluations = 1\nevals = 3")}, "good"),
    "unknown-task-option": (_search("--task-option", "colour=3"), {}, "good"),
    "unknown-space-option": (_search("--space-option", "colour=3"), {}, "good"),
    "unknown-strategy-option": (_search("--strategy", "nsga2", "--option", "popsize=4"), {}, "good"),
    "unknown-ray-option": (["compare", "e.toml", "--quiet"],
                           {"e.toml": GOOD_TOML + '[executor]\nname = "ray"\nnum_cpu = 1\n'}, "good"),
}


# what the sentence must mention, per case
EXPECT = {
    "unknown-space": "unknown space", "unknown-strategy": "unknown strategy", "unknown-task": "unknown task",
    "unknown-objective": "unknown objective", "unknown-executor": "unknown executor",
    "malformed-toml": "not valid TOML", "missing-experiment-file": "does not exist",
    "wrong-type-seeds": "seeds", "wrong-type-budget": "budget evaluations", "wrong-type-recipe": "batch_size",
    "wrong-type-cli-int": "--seed", "wrong-type-strategy-option": "nsga2", "wrong-type-objectives": "objectives",
    "out-of-range-budget": "budget evaluations", "out-of-range-recipe": "lr", "out-of-range-bound": "impossible",
    "out-of-range-strategy-option": "pop_size", "out-of-range-batch": "batch",
    "out-of-range-ray-option": "num_cpus", "impossible-constraint": "impossible",
    "impossible-constraint-toml": "impossible", "missing-dataset-fashion": "not found",
    "missing-dataset-cifar": "not found", "dataset-pickle-runs-code": "refusing",
    "corrupted-store-search": "not a readable", "corrupted-store-show": "not a readable",
    "truncated-store-show": "not a readable", "truncated-store-search": "not a readable",
    "missing-store": "does not exist", "unknown-run": "no run 99",
    "genotype-other-space": "belongs to space 'resnet8'", "genotype-unknown-variable": "no_such_variable",
    "unknown-top-level-key": "colour", "unknown-recipe-key": "epoch", "unknown-budget-key": "evals",
    "unknown-task-option": "colour", "unknown-space-option": "colour", "unknown-strategy-option": "popsize",
    "unknown-ray-option": "num_cpu",
}


@pytest.fixture(scope="module")
def good_store(tmp_path_factory):
    """A store holding one finished two-evaluation run (real training, 1 short epoch)."""
    path = tmp_path_factory.mktemp("good") / "good.sqlite"
    objs = (make_objective("val_accuracy"), make_objective("model_bytes"))
    recipe = Recipe(epochs=1, batch_size=64)
    e = TrainingEvaluator(EvaluatorSpec("digits-cnn", {}, "digits", {}, recipe, objs, needed_providers(objs, [])))
    with Store(path) as s:
        run_search(s, Problem(e.space, objs, e.task, recipe), e, "random", {}, 0, Budget(evaluations=2))
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rows(path: Path) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return (con.execute("SELECT * FROM runs ORDER BY id").fetchall()
                + con.execute("SELECT * FROM evaluations ORDER BY id").fetchall())
    finally:
        con.close()


def _prepare_store(kind: str, tmp: Path, good: Path) -> Path:
    path = tmp / "store.sqlite"
    if kind in ("good", "truncated"):
        shutil.copy(good, path)
        if kind == "truncated":
            data = path.read_bytes()
            path.write_bytes(data[: len(data) // 3])
    elif kind == "corrupt":
        path.write_bytes(b"these bytes are not an SQLite database\n" * 200)
    return path


def _assert_one_sentence(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert lines, "no error message on stderr"
    last = lines[-1]
    assert last.startswith("moo-nas"), err  # "moo-nas: error: ..." or argparse's "moo-nas search: error: ..."
    assert ": error: " in last, err
    if len(lines) > 1:  # argparse prints its usage block before the sentence
        assert lines[0].startswith("usage: moo-nas") and not any(": error: " in ln for ln in lines[:-1]), err
    return last


def test_every_case_says_what_it_must_mention():
    assert set(EXPECT) == set(CASES)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_sentence_exit_2_nothing_lost(case, tmp_path, monkeypatch, capsys, good_store):
    argv, files, store_kind = CASES[case]
    monkeypatch.chdir(tmp_path)
    store = _prepare_store(store_kind, tmp_path, good_store)
    for name, text in files.items():
        if name == "evil_cifar":
            _evil_cifar(tmp_path)
        else:
            (tmp_path / name).write_text(text.replace("STORE", str(store)))
    argv = [a.replace("STORE", str(store)) for a in argv]
    before_sha = _sha(store) if store.exists() else None
    before_rows = _rows(store) if store_kind == "good" else None
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse rejects bad flag values itself
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2, f"exit status {rc}, stderr: {err!r}"
    msg = _assert_one_sentence(err)
    assert len(msg) < 600 and EXPECT[case] in msg, msg
    if store_kind == "good":
        assert _rows(store) == before_rows  # every stored row still there, unchanged
    elif store_kind in ("corrupt", "truncated"):
        assert _sha(store) == before_sha  # a damaged file is reported, never rewritten
    else:
        assert not store.exists()
    assert not (tmp_path / "PWNED").exists(), "a data file executed code"


def test_entry_point_prints_one_sentence_and_exits_2(tmp_path):
    bad = tmp_path / "corrupt.sqlite"
    bad.write_bytes(b"\x00garbage" * 500)
    before = _sha(bad)
    out = subprocess.run([sys.executable, "-m", "moo_nas", "show", str(bad)], cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2
    assert _assert_one_sentence(out.stderr).startswith("moo-nas: error: store ")
    assert _sha(bad) == before
