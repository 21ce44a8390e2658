"""Bad seed models end in one sentence and exit status 2, before any training."""

import pytest

from moo_nas.cli import main

GOOD = '''
import torch, torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.fc = nn.Linear(8, 10)
    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean([2, 3]))
class Branchy(Net):
    def forward(self, x):
        if x.sum() > 0:
            x = -x
        return super().forward(x)
class Scaled(Net):
    def forward(self, x):
        return self.fc(torch.mul(self.conv(x), 2.0).mean([2, 3]))
class Flat(Net):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8 * 28 * 28, 10)
    def forward(self, x):
        return self.fc(self.conv(x).flatten(1))
'''


def _search(tmp_path, model, *extra):
    return main(["search", "--space", "traced", "--space-option", f"seed_model={model}",
                 "--evaluations", "1", "--store", str(tmp_path / "s.sqlite"),
                 "--report", str(tmp_path / "r"), "--quiet", *extra])


@pytest.mark.parametrize("model,shape,words", [
    ("{d}/missing.py:Net", None, "does not exist"),
    ("{d}/nets.py:Nope", None, "has no attribute 'Nope'"),
    ("{d}/nets.py:Branchy", None, "torch.fx cannot trace"),
    ("{d}/nets.py:Scaled", None, "op torch.mul at `the top-level forward` is not supported"),
    ("{d}/nets.py:Flat", None, "does not run on inputs of shape 1,8,8"),
    ("{d}/nets.py:Net", "[1,28,28]", "does not fit the task's inputs"),
])
def test_bad_seed_models_exit_2_with_one_sentence(tmp_path, capsys, model, shape, words):
    (tmp_path / "nets.py").write_text(GOOD)
    extra = ["--space-option", f"input_shape={shape}"] if shape else []
    assert _search(tmp_path, model.format(d=tmp_path), *extra) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and err.count("\n") == 0, err
    assert not (tmp_path / "r").exists()  # nothing ran


def test_good_model_file_searches(tmp_path, capsys):
    (tmp_path / "nets.py").write_text(GOOD)
    assert _search(tmp_path, f"{tmp_path}/nets.py:Net", "--recipe", "epochs=1",
                   "--objective", "val_accuracy", "--objective", "macs") == 0


def test_seed_model_arguments_become_space_options():
    import argparse

    from moo_nas.cli.byo import add_seed_model_args, seed_model_space
    from moo_nas.errors import UserError

    p = argparse.ArgumentParser()
    add_seed_model_args(p)
    assert "RUNS YOUR CODE" in p.format_help().replace("\n", " ").replace("  ", " ") or \
        "RUNS" in p.format_help()
    args = p.parse_args(["--seed-model", "examples/byo_model.py:SmallNet", "--input-shape", "1,8,8"])
    assert seed_model_space(args) == ("traced", {"seed_model": "examples/byo_model.py:SmallNet",
                                                 "input_shape": [1, 8, 8]})
    assert seed_model_space(p.parse_args([])) == (None, {})
    with pytest.raises(UserError):
        seed_model_space(p.parse_args(["--input-shape", "1,8,8"]))
    with pytest.raises(UserError):
        seed_model_space(p.parse_args(["--seed-model", "nocolon"]))
