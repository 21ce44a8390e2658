"""moo-nas tabulate: real training of a small stratified sample into a table, resumable."""

import numpy as np
import pytest

from moo_nas.cli import main
from moo_nas.objectives import make_objective
from moo_nas.spaces import make_space
from moo_nas.store import Store
from moo_nas.tabular import make_table_evaluator
from moo_nas.tabular.sampling import stratified_sample


def test_stratified_sample_balances_every_variable():
    space = make_space("digits-cnn", (1, 8, 8), 10)
    gs = stratified_sample(space, 60, seed=4)
    assert len({g.key for g in gs}) == 60
    x = np.array([space.encode(g) for g in gs])
    off = space.inactive_mask(x)  # canonical genotypes: a dropped block's variables are fixed
    for j, v in enumerate(space.variables):
        counts = np.bincount(x[~off[:, j], j], minlength=len(v))
        # every option near its share of the rows where the variable is active (depth 1 has
        # only 18 distinct networks, so duplicates replaced by fresh draws unbalance a little)
        share = counts.sum() / len(v)
        assert counts.min() >= 0.5 * share and counts.max() <= 1.6 * share, (v.name, counts)
    assert [g.key for g in stratified_sample(space, 60, seed=4)] == [g.key for g in gs]


def test_enumerate_small_space():
    from moo_nas.tabular.nb201 import make_space as nb_space

    gs = nb_space().all_genotypes()
    assert len(gs) == 15625 == len({g.key for g in gs})


def test_tabulate_trains_resumes_and_serves(tmp_path, capsys):
    store, out = tmp_path / "s.sqlite", tmp_path / "t.sqlite"
    args = ["tabulate", "--sample", "3", "--seeds", "0,1", "--recipe", "epochs=1",
            "--store", str(store), "--out", str(out)]
    assert main(args) == 0
    with Store(store) as st:
        runs = st.runs()
        assert len(runs) == 2
        first = {r.seed: st.evaluations(r.id) for r in runs}
    assert all(len(v) == 3 for v in first.values())
    assert main(args) == 0  # resume: nothing trained again
    err = capsys.readouterr().err
    assert "(3 already stored)" in err
    with Store(store) as st:
        assert sum(len(st.evaluations(r.id)) for r in st.runs()) == 6
    objs = (make_objective("val_accuracy"), make_objective("model_bytes"))
    space, ev = make_table_evaluator("digits-cnn", {}, objs, table=str(out), lookup="per-seed")
    assert len(ev.table) == 3 and ev.table.n_rows() == 6
    _, mean = make_table_evaluator("digits-cnn", {}, objs, table=str(out))  # default: seed mean
    assert len(mean.table) == mean.table.n_rows() == 3
    for seed, evals in first.items():
        for s in evals:
            e = ev.evaluate(space.make(s.genotype), seed)
            assert e.value("val_accuracy") == s.value("val_accuracy")
            assert e.train_s == s.train_s > 0 and e.device == s.device


def test_tabulate_bad_input(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["tabulate", "--seeds", "a,b", "--out", str(tmp_path / "x.sqlite")])
    assert exc.value.code == 2 and "comma-separated" in capsys.readouterr().err
    rc = main(["tabulate", "--space", "digits-cnn", "--sample", "0", "--store",
               str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "x.sqlite")])
    assert rc == 2 and "--sample must be a positive" in capsys.readouterr().err
