import subprocess
import sys
from pathlib import Path

import pytest

from moo_nas.cli import main

ROOT = Path(__file__).resolve().parents[1]

TINY = """
name = "tiny"
seeds = [0, 1]
store = "{store}"
report = "{report}"
[task]
name = "digits"
[space]
name = "digits-cnn"
[recipe]
epochs = 1
[budget]
evaluations = 4
[[objectives]]
name = "val_accuracy"
[[objectives]]
name = "model_bytes"
[[objectives]]
name = "latency_ms"
[[strategies]]
name = "random"
[[strategies]]
name = "nsga2"
pop_size = 2
"""


def test_compare_end_to_end_and_show(tmp_path, capsys):
    exp = tmp_path / "tiny.toml"
    exp.write_text(TINY.format(store=tmp_path / "s.sqlite", report=tmp_path / "rep"))
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
    # running again resumes: nothing new is evaluated
    mtime = (tmp_path / "s.sqlite").stat().st_size
    assert main(["compare", str(exp), "--quiet"]) == 0


@pytest.mark.parametrize("args,needle", [
    (["search", "--strategy", "nsgaII"], "unknown strategy 'nsgaII'"),
    (["search", "--space", "resnet9"], "unknown space"),
    (["search", "--objective", "accuracy"], "unknown objective"),
    (["search", "--objective", "model_bytes>=3"], "write its bound with <="),
    (["search", "--objective", "model_bytes<=10"], "impossible"),
    (["search", "--recipe", "epoch=3"], "unknown recipe key"),
    (["search", "--option", "pop=3"], "has no option"),
])
def test_bad_input_is_one_sentence_exit_2(args, needle, capsys, tmp_path):
    assert main(args + ["--store", str(tmp_path / "s.sqlite"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_listings_and_help():
    for cmd in (["spaces"], ["strategies"], ["tasks"], ["objectives"]):
        assert main(cmd) == 0
    out = subprocess.run([sys.executable, "-m", "moo_nas", "compare", "--help"], capture_output=True,
                         text=True, cwd=ROOT)
    assert out.returncode == 0 and "experiment" in out.stdout
