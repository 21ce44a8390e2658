"""Bad input, case by case, through the real ``moo-nas`` command.

Every case must end with exit status 2 and one line on stderr (``moo-nas...: error: ...``, no
traceback) that says what is wrong, and must leave everything as it was: a store that already
held results ("the victim", made once per module by a real two-evaluation search) is
byte-for-byte unchanged, a damaged store file too, and no file or folder appears in the working
folder (no new store, no report, no output file).  ``moo_nas.cli.main`` runs in-process (what
the ``moo-nas`` entry point runs); a few cases also go through ``python -m moo_nas``.
"""

import gc
import hashlib
import os
import pickle
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from moo_nas.cli import main

from digits_search import child_env
from experiment_toml import experiment_toml

# the victim run: the same settings as every search / compare case below, so a case that is
# wrongly accepted resumes this finished run instead of training
VICTIM = ["--name", "victim", "--strategy", "random", "--seed", "0", "--recipe", "epochs=1",
          "--recipe", "batch_size=64"]
VICTIM_OBJECTIVES = ["--objective", "val_accuracy", "--objective", "model_bytes"]

GOOD_TOML = experiment_toml(
    name="victim", seeds=[0], store="STORE", report="rep", task={"name": "digits"},
    space={"name": "digits-cnn"}, recipe={"epochs": 1, "batch_size": 64}, budget={"evaluations": 2},
    objectives=["val_accuracy", "model_bytes"], strategies=["random"])


def _search(*extra: str) -> list[str]:
    objectives = [] if "--objective" in extra else VICTIM_OBJECTIVES
    return ["search", *VICTIM, "--evaluations", "2", *objectives, "--store", "STORE",
            "--report", "rep", "--quiet", *extra]


def _toml(old: str, new: str) -> str:
    assert old in GOOD_TOML
    return GOOD_TOML.replace(old, new)


def _compare(toml: str, *extra: str) -> tuple[list[str], dict]:
    return ["compare", "e.toml", "--quiet", *extra], {"e.toml": toml}


class _Exec:  # unpickling this runs a shell command: a data file must never do that
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def _evil_cifar(tmp: Path) -> None:
    d = tmp / "cifar-10-batches-py"
    d.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (d / name).write_bytes(pickle.dumps({b"data": _Exec(), b"labels": [0]}))


@dataclass
class Case:
    """argv (``STORE`` stands for the store path), the text the one-line message must contain,
    which store exists beforehand, files to write first (str: text, bytes, None: a folder,
    "evil_cifar": a poisoned CIFAR-10 folder), and an xfail reason for work still pending."""

    argv: list[str]
    expect: str
    store: str = "victim"  # victim | none | corrupt | truncated | dir
    files: dict = field(default_factory=dict)
    pending: str | None = None


def C(argv, expect, store="victim", files=None, pending=None) -> Case:
    if isinstance(argv, tuple):  # (argv, files) from _compare
        argv, files = argv[0], {**argv[1], **(files or {})}
    return Case(argv, expect, store, files or {}, pending)


LONG = "n" * 300
OTHER_SPACE = '{"space": "resnet8", "values": {"stage1_channels": 16}}'

CASES = {
    # ---- unknown names (with a suggestion)
    "unknown-space": C(_search("--space", "digits-cn"), "did you mean 'digits-cnn'"),
    "unknown-strategy": C(_search("--strategy", "nsgaII"), "unknown strategy 'nsgaII'"),
    "unknown-task": C(_search("--task", "digit"), "did you mean 'digits'"),
    "unknown-objective": C(_search("--objective", "val_acc"), "unknown objective"),
    "unknown-objective-in-bound": C(_search("--objective", "modelbytes<=5"), "did you mean 'model_bytes'"),
    "unknown-executor-toml": C(_compare(GOOD_TOML + '[executor]\nname = "dask"\n'), "unknown executor 'dask'"),
    "unknown-executor-cli": C(_search("--executor", "dask"), "invalid choice: 'dask'"),
    "unknown-strategy-toml": C(_compare(_toml('name = "random"', 'name = "randomm"')), "did you mean 'random'"),
    "unknown-objective-toml": C(_compare(_toml('name = "model_bytes"', 'name = "model_byte"')),
                                "did you mean 'model_bytes'"),
    "unknown-extra-metric": C(_compare('extra_metrics = ["latency"]\n' + GOOD_TOML), "unknown objective 'latency'"),
    "unknown-provider-table": C(_compare(GOOD_TOML + "[providers.host-torh]\nrepeats = 5\n"),
                                "unknown metric provider 'host-torh'"),
    "unknown-evaluator-kind": C(_compare(GOOD_TOML + '[evaluator]\nkind = "lookup"\n'), "kind"),
    "unknown-command": C(["serch"], "invalid choice: 'serch'"),
    # ---- experiment files
    "malformed-toml": C(_compare('name = "unterminated\n'), "not valid TOML"),
    "missing-experiment-file": C(["compare", "nowhere.toml"], "does not exist"),
    "experiment-is-folder": C(["compare", "adir"], "is a folder", files={"adir": None}),
    "experiment-is-binary": C(["compare", "blob.toml"], "not a text file",
                              files={"blob.toml": bytes(range(256)) * 8}),
    "experiment-is-a-store": C(["compare", "STORE"], "not a text file"),
    "unknown-top-level-key": C(_compare("colour = 3\n" + GOOD_TOML), "colour"),
    "unknown-recipe-key": C(_compare(_toml("epochs = 1", "epochs = 1\nepoch = 3")), "epoch"),
    "unknown-budget-key": C(_compare(_toml("evaluations = 2", "evaluations = 2\nevals = 3")), "evals"),
    "unknown-objective-key": C(_compare(_toml('name = "model_bytes"', 'name = "model_bytes"\nbond = 3')), "bond"),
    "wrong-type-seeds": C(_compare(_toml("seeds = [0]", 'seeds = "zero"')), "seeds"),
    "wrong-type-budget": C(_compare(_toml("evaluations = 2", 'evaluations = "ten"')), "budget evaluations"),
    "fractional-budget": C(_compare(_toml("evaluations = 2", "evaluations = 2.5")), "whole number"),
    "wrong-type-objectives": C(_compare('objectives = "val_accuracy"\n' + GOOD_TOML.split("[[objectives]]")[0]
                                        + '[[strategies]]\nname = "random"\n'), "objectives"),
    "wrong-type-task": C(_compare(_toml('[task]\nname = "digits"', 'task = "digits"')), "[task]"),
    "wrong-type-name": C(_compare(_toml('name = "victim"', "name = 3")), "non-empty string"),
    "jobs-zero-toml": C(_compare("jobs = 0\n" + GOOD_TOML), "jobs"),
    "duplicate-objective": C(_compare(GOOD_TOML + '[[objectives]]\nname = "model_bytes"\n'), "listed twice"),
    "no-strategies": C(_compare(GOOD_TOML.split("[[strategies]]")[0]), "[[strategies]]"),
    # ---- command-line values
    "wrong-type-cli-int": C(_search("--seed", "zero"), "--seed"),
    "option-not-key-value": C(_search("--option", "batch"), "must look like key=value"),
    "compare-jobs-zero": C(_compare(GOOD_TOML, "--jobs", "0"), "--jobs"),
    "compare-jobs-negative": C(_compare(GOOD_TOML, "--jobs", "-2"), "--jobs"),
    "workers-zero-toml": C(_compare("workers = 0\n" + GOOD_TOML), "workers"),
    "compare-workers-zero": C(_compare(GOOD_TOML, "--workers", "0"), "--workers"),
    "targets-above-one": C(_compare("targets = [1.5]\n" + GOOD_TOML), "targets"),
    "targets-not-a-list": C(_compare("targets = 0.9\n" + GOOD_TOML), "targets"),
    "budget-evaluations-negative": C(_search("--evaluations", "-3"), "--evaluations"),
    "budget-seconds-zero": C(_search("--seconds", "0"), "budget seconds"),
    # ---- training recipe
    "recipe-epochs-zero": C(_search("--recipe", "epochs=0"), "recipe epochs"),
    "recipe-epochs-zero-toml": C(_compare(_toml("epochs = 1", "epochs = 0")), "recipe epochs"),
    "recipe-epochs-negative": C(_search("--recipe", "epochs=-1"), "recipe epochs"),
    "recipe-wrong-type": C(_search("--recipe", "batch_size=big"), "batch_size"),
    "recipe-negative-lr": C(_search("--recipe", "lr=-0.1"), "lr"),
    "recipe-unknown-optimizer": C(_search("--recipe", "optimizer=lion"), "use adam, adamw or sgd"),
    "recipe-unknown-key": C(_search("--recipe", "epoch=3"), "unknown recipe key"),
    # ---- objectives and bounds
    "bound-not-a-number": C(_search("--objective", "model_bytes<=abc"), "cannot read the bound 'abc'"),
    "bound-strict-operator": C(_search("--objective", "model_bytes<16KiB"), "write model_bytes<=16KiB"),
    "bound-wrong-direction": C(_search("--objective", "model_bytes>=3"), "written with <="),
    "bound-unknown-unit": C(_search("--objective", "model_bytes<=64XB"), "cannot read the bound"),
    "bound-missing-value": C(_search("--objective", "model_bytes<="), "has no value"),
    "bound-above-accuracy-range": C(_search("--objective", "val_accuracy>=2"), "lies in [0, 1]"),
    "bound-negative-size": C(_search("--objective", "val_accuracy", "--objective", "model_bytes<=-5"),
                             "impossible"),
    "bound-toml-not-a-number": C(_compare(_toml('name = "model_bytes"', 'name = "model_bytes"\nbound = "lots"')),
                                 "cannot read the quantity"),
    "bound-toml-unreachable": C(_compare(_toml('name = "val_accuracy"', 'name = "val_accuracy"\nbound = 1.5')),
                                "impossible"),
    "impossible-constraint": C(_search("--objective", "val_accuracy", "--objective", "model_bytes<=10"),
                               "impossible"),
    "objective-unreadable": C(_search("--objective", "model_bytes 64KiB"), "cannot read the objective"),
    # ---- strategy options
    "unknown-strategy-option": C(_search("--option", "batchsize=4"), "batchsize"),
    "option-wrong-type-int": C(_search("--strategy", "nsga2", "--option", "pop_size=abc"),
                               "option pop_size must be an integer"),
    "option-wrong-type-bool": C(_search("--option", "unique=maybe"), "option unique must be true or false"),
    "option-wrong-type-list": C(_search("--strategy", "dnas", "--option", "targets=abc"),
                                "option targets must be a list of numbers"),
    "option-wrong-type-toml": C(_compare(_toml('name = "random"', 'name = "random"\nbatch = "two"')),
                                "option batch must be an integer"),
    "option-out-of-range": C(_search("--strategy", "nsga2", "--option", "pop_size=0"), "pop_size"),
    "option-out-of-range-batch": C(_search("--option", "batch=0"), "batch"),
    "option-bad-sampler": C(_search("--strategy", "optuna", "--option", "sampler=cmaes"), "sampler 'cmaes'"),
    "option-dnas-target-range": C(_search("--strategy", "dnas", "--option", "targets=2"), "(0, 1]"),
    "option-late-aging-evolution": C(_compare(GOOD_TOML + '[[strategies]]\nname = "aging-evolution"\n'
                                              "population = 8\n"), "must not exceed population"),
    "option-late-surrogate-inner": C(_search("--strategy", "surrogate-nsga2", "--option",
                                             'inner_options={"pop_size": 0}'), "pop_size"),
    # ---- space and task options
    "space-option-unknown": C(_search("--space-option", "colour=3"), "colour"),
    "space-option-bad-format": C(_search("--space-option", "formats=fp7"), "unknown number format 'fp7'"),
    "space-option-wrong-type": C(_search("--space-option", "per_layer_formats=sometimes"),
                                 "per_layer_formats must be true or false"),
    "task-option-unknown": C(_search("--task-option", "colour=3"), "colour"),
    "missing-dataset-fashion": C(_search("--task", "fashion-mnist", "--task-option", "path=no/such/dir"),
                                 "not found"),
    "missing-dataset-cifar": C(_search("--task", "cifar10", "--task-option", "path=no/such/dir",
                                       "--space", "resnet8"), "not found"),
    "dataset-pickle-runs-code": C(_search("--task", "cifar10", "--task-option", "path=cifar-10-batches-py",
                                          "--space", "resnet8"), "refusing", files={"evil_cifar": ""}),
    # ---- names and output paths
    "name-path-traversal": C(_search("--name", "../../../somewhere"), "not a plain name"),
    "name-dot-dot": C(_search("--name", ".."), "not a plain name"),
    "name-with-slash": C(_search("--name", "a/b"), "not a plain name"),
    "name-too-long": C(_search("--name", LONG), "characters long"),
    "name-traversal-toml": C(_compare(_toml('name = "victim"', 'name = "../victim"')), "not a plain name"),
    "report-is-a-file": C(_search("--report", "notes.txt"), "is a file, not a folder",
                          files={"notes.txt": "keep me\n"}),
    "report-under-a-file": C(_search("--report", "notes.txt/rep"), "cannot be created",
                             files={"notes.txt": "keep me\n"}),
    "report-component-too-long": C(_search("--report", "reports/" + LONG), "shorter name"),
    "report-toml-under-a-file": C(_compare(_toml('report = "rep"', 'report = "notes.txt/rep"')),
                                  "cannot be created", files={"notes.txt": "keep me\n"}),
    "compare-report-override-file": C(_compare(GOOD_TOML, "--report", "notes.txt"), "is a file",
                                      files={"notes.txt": "keep me\n"}),
    "store-is-a-folder": C(_search(), "is a folder", store="dir"),
    "store-under-a-file": C(_search("--store", "notes.txt/s.sqlite"), "cannot be created",
                            files={"notes.txt": "keep me\n"}),
    "compare-store-under-a-file": C(_compare(GOOD_TOML, "--store", "notes.txt/s.sqlite"), "cannot be created",
                                    files={"notes.txt": "keep me\n"}),
    "export-out-is-a-folder": C(["export", "STORE", "--run", "1", "--out", "adir"], "is a folder",
                                files={"adir": None}),
    "export-out-under-a-file": C(["export", "STORE", "--run", "1", "--out", "notes.txt/r.csv"],
                                 "cannot be created", files={"notes.txt": "keep me\n"}),
    "report-out-under-a-file": C(["report", "STORE", "--out", "notes.txt/rep"], "cannot be created",
                                 files={"notes.txt": "keep me\n"}),
    "tabulate-out-under-a-file": C(["tabulate", "--store", "STORE", "--out", "notes.txt/t.sqlite"],
                                   "cannot be created", files={"notes.txt": "keep me\n"}),
    "calibrate-out-is-a-folder": C(["calibrate", "--provider", "analytic", "-k", "4", "--out", "adir"],
                                   "is a folder", files={"adir": None}),
    # ---- stores
    "corrupted-store-search": C(_search(), "not a readable", store="corrupt"),
    "corrupted-store-show": C(["show", "STORE"], "not a readable", store="corrupt"),
    "truncated-store-show": C(["show", "STORE"], "not a readable", store="truncated"),
    "truncated-store-search": C(_search(), "not a readable", store="truncated"),
    "missing-store-show": C(["show", "STORE"], "does not exist", store="none"),
    "missing-store-export": C(["export", "STORE", "--run", "1", "--out", "r.csv"], "does not exist", store="none"),
    "missing-store-report": C(["report", "STORE", "--out", "rep"], "does not exist", store="none"),
    "store-folder-show": C(["show", "STORE"], "is a folder", store="dir"),
    "unknown-run-show": C(["show", "STORE", "--run", "99"], "no run 99"),
    "unknown-run-export": C(["export", "STORE", "--run", "99", "--out", "r.csv"], "no run 99"),
    "report-unknown-experiment": C(["report", "STORE", "--experiment", "nope", "--out", "rep"], "no runs"),
    # ---- executors and hardware commands
    "ray-option-unknown": C(_compare(GOOD_TOML + '[executor]\nname = "ray"\nnum_cpu = 1\n'), "num_cpu"),
    "ray-option-wrong-type": C(_compare(GOOD_TOML + '[executor]\nname = "ray"\nnum_cpus = "many"\n'), "num_cpus"),
    "local-executor-options": C(_compare(GOOD_TOML + '[executor]\nname = "local"\nworkers = 2\n'),
                                "takes no options"),
    "genotype-other-space": C(["measure", "--space", "digits-cnn", "--provider", "analytic",
                               "--genotype", OTHER_SPACE], "belongs to space 'resnet8'"),
    "genotype-unknown-variable": C(["measure", "--space", "digits-cnn", "--provider", "analytic",
                                    "--genotype", '{"no_such_variable": 3}'], "no_such_variable"),
    "measure-two-sources": C(["measure", "--genotype", "seed", "--store", "STORE", "--run", "1"],
                             "either --genotype"),
    # ---- refused by the engine before the store is touched
    "changed-config-same-name": C(_search("--recipe", "epochs=2", "--evaluations", "1"), "victim"),
    "unmeasurable-objective-new-store": C(_search("--objective", "val_accuracy", "--objective",
                                                  "ext_latency_ms"), "external provider", store="none"),
    "unmeasurable-objective-victim": C(_search("--objective", "val_accuracy", "--objective",
                                               "ext_latency_ms"), "external provider"),
}


@pytest.fixture(scope="module")
def victim(tmp_path_factory):
    """A store holding one finished run of two real evaluations (1 epoch on digits), made by
    the same ``moo-nas search`` command the cases start from."""
    d = tmp_path_factory.mktemp("victim")
    path = d / "victim.sqlite"
    argv = _search()
    argv[argv.index("STORE")] = str(path)
    argv[argv.index("rep")] = str(d / "rep")
    assert main(argv) == 0
    gc.collect()  # run_experiment's store connection is in a reference cycle: close it
    con = sqlite3.connect(path)  # fold the WAL into the file, so a copy of the file is whole
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    assert len(_rows(path)) == 3  # one run, two evaluations
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rows(path: Path) -> list[tuple]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return (con.execute("SELECT * FROM runs ORDER BY id").fetchall()
                + con.execute("SELECT * FROM evaluations ORDER BY id").fetchall())
    finally:
        con.close()


def _tree(root: Path) -> set[str]:
    """Every file and folder under ``root`` (SQLite's transient -wal/-shm files left out)."""
    return {str(p.relative_to(root)) for p in root.rglob("*")
            if not p.name.endswith(("-wal", "-shm", "-journal"))}


def _prepare(case: Case, tmp: Path, victim_path: Path) -> Path:
    store = tmp / "store.sqlite"
    if case.store in ("victim", "truncated"):
        shutil.copy(victim_path, store)
        if case.store == "truncated":
            data = store.read_bytes()
            store.write_bytes(data[: len(data) // 3])
    elif case.store == "corrupt":
        store.write_bytes(b"these bytes are not an SQLite database\n" * 200)
    elif case.store == "dir":
        store.mkdir()
    for name, content in case.files.items():
        if name == "evil_cifar":
            _evil_cifar(tmp)
        elif content is None:
            (tmp / name).mkdir()
        elif isinstance(content, bytes):
            (tmp / name).write_bytes(content)
        else:
            (tmp / name).write_text(content.replace("STORE", str(store)))
    return store


def _one_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}: {err!r}"
    assert lines[0].startswith("moo-nas") and ": error: " in lines[0], err
    return lines[0]


def test_there_are_enough_cases():
    assert len(CASES) >= 60


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=c.pending)) if c.pending else n
    for n, c in CASES.items()])
def test_bad_input_is_one_line_exit_2_nothing_changed(name, tmp_path, monkeypatch, capsys, victim):
    case = CASES[name]
    monkeypatch.chdir(tmp_path)
    store = _prepare(case, tmp_path, victim)
    argv = [a.replace("STORE", str(store)) for a in case.argv]
    before_tree = _tree(tmp_path)
    before_sha = _sha(store) if store.is_file() else None
    before_rows = _rows(store) if case.store == "victim" else None
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse rejects bad flag values itself
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2, f"exit status {rc}, stderr: {err!r}"
    msg = _one_line(err)
    assert len(msg) < 700 and case.expect in msg, msg
    if before_rows is not None:
        assert _rows(store) == before_rows  # every stored row still there, unchanged
    if before_sha is not None:
        assert _sha(store) == before_sha  # and the file byte for byte
    assert _tree(tmp_path) == before_tree  # no new store, report or output file
    assert not (tmp_path / "PWNED").exists(), "a data file executed code"


@pytest.mark.parametrize("argv,expect", [
    (["show", "STORE"], "moo-nas: error: store "),
    (["search", "--name", "../../x", "--store", "STORE", "--quiet"], "not a plain name"),
    (["search", "--objective", "val_accuracy>=2", "--store", "STORE", "--quiet"], "lies in [0, 1]"),
    (["search", "--evaluations", "0"], "moo-nas search: error: argument --evaluations"),
])
def test_entry_point_prints_one_line_and_exits_2(argv, expect, tmp_path):
    bad = tmp_path / "corrupt.sqlite"
    bad.write_bytes(b"\x00garbage" * 500)
    before = _sha(bad)
    out = subprocess.run([sys.executable, "-m", "moo_nas",
                          *[a.replace("STORE", str(bad)) for a in argv]], cwd=tmp_path,
                         env=child_env(), capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert expect in _one_line(out.stderr)
    assert _sha(bad) == before
    assert _tree(tmp_path) == {"corrupt.sqlite"}


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root may write into read-only folders")
@pytest.mark.parametrize("argv", [
    ["export", "STORE", "--run", "1", "--out", "ro/r.csv"],
    ["report", "STORE", "--out", "ro/rep"],
    _search("--report", "ro/rep"),
])
def test_unwritable_folder_is_refused_up_front(argv, tmp_path, monkeypatch, capsys, victim):
    monkeypatch.chdir(tmp_path)
    store = _prepare(Case([], ""), tmp_path, victim)
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o555)
    before_sha, before_tree = _sha(store), _tree(tmp_path)
    try:
        assert main([a.replace("STORE", str(store)) for a in argv]) == 2
        assert "not writable" in _one_line(capsys.readouterr().err)
        assert _sha(store) == before_sha and _tree(tmp_path) == before_tree
    finally:
        (tmp_path / "ro").chmod(0o755)


BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.parametrize("script,args,expect", [
    ("bench_allocator.py", ["--spaces", "nosuch"], "unknown space 'nosuch'"),
    ("bench_allocator.py", ["--rounds", "0"], "--rounds and --threads must be at least 1"),
    ("bench_dnas.py", ["--spaces", "nosuch", "--seed-models"], "unknown space 'nosuch'"),
    ("bench_overhead.py", ["--strategy", "nosuch"], "unknown strategy 'nosuch'"),
    ("bench_overhead.py", ["--workers", "0"], "--workers must be at least 1"),
    ("bench_ray.py", ["--evaluations", "0"], "--evaluations must be at least 1"),
    ("dnas_sweep.py", ["--space", "nosuch", "--out", "x"], "unknown space 'nosuch'"),
    ("narrow_precision.py", ["--flash", "abc", "--out", "x"], "cannot read the quantity 'abc'"),
    ("byo_onnx.py", ["--experiment", "missing.toml"], "missing.toml does not exist"),
])
def test_bench_scripts_answer_bad_input_in_one_line_with_exit_2(script, args, expect, tmp_path):
    """The benchmark scripts a user runs first (the issues' figures) refuse bad arguments like
    the command does, before measuring anything."""
    out = subprocess.run([sys.executable, str(BENCH / script), *args], cwd=tmp_path,
                         capture_output=True, text=True, env=child_env())
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert expect in lines[-1] and "Traceback" not in out.stderr, out.stderr
    assert list(tmp_path.iterdir()) == []
