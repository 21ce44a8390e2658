"""The store's value encoding: provenance written once per store, values read back exactly,
stores of the previous schema read and extended, failed transactions leave nothing dangling."""

import json
import math
import sqlite3

import pytest

from moo_nas.objectives import Value
from moo_nas.records import Evaluation
from moo_nas.store import Event, Store

LONG = "measured: a long provenance sentence that every row of a table benchmark repeats " * 3


def _ev(seq: int, values: dict[str, Value], run_id: int = 1) -> Evaluation:
    return Evaluation(genotype_key=f"k{seq}", genotype={"a": seq}, status="ok", values=values,
                      arch_key=f"k{seq}", run_id=run_id, seq=seq, cache_key="")


def _run(store: Store) -> int:
    rid, _ = store.get_or_create_run("sig", "exp", "random", {}, 0, {}, {}, {}, [])
    return rid


def test_values_round_trip_and_provenance_is_stored_once(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    rid = _run(store)
    rows = [{"acc": Value(0.1 * i, "measured", LONG), "lat": Value(2.5, "modelled", "model x"),
             "odd": Value(v, "predicted", "surrogate y")}
            for i, v in enumerate([1.0, math.inf, -math.inf, 3, 1e-300])]
    store.append([_ev(i, r, rid) for i, r in enumerate(rows)])
    store.append([_ev(10, {"nan": Value(math.nan, "measured", LONG)}, rid)])
    got = store.evaluations(rid)
    for ev, want in zip(got, rows):
        assert ev.values == {k: Value(float(v.value), v.origin, v.source) for k, v in want.items()}
    assert math.isnan(got[-1].values["nan"].value) and got[-1].values["nan"].source == LONG
    con = sqlite3.connect(tmp_path / "s.sqlite")
    assert con.execute("SELECT COUNT(*) FROM provenance").fetchone()[0] == 3
    text = con.execute("SELECT values_json FROM evaluations WHERE seq=0").fetchone()[0]
    assert LONG not in text and json.loads(text)["acc"][0] == 0.0  # the number, and an id
    # a second handle on the file (another process) reads them and reuses the same ids
    other = Store(tmp_path / "s.sqlite")
    assert [e.values for e in other.evaluations(rid)] == [e.values for e in got]
    other.append([_ev(11, {"acc": Value(0.5, "measured", LONG)}, rid)])
    assert con.execute("SELECT COUNT(*) FROM provenance").fetchone()[0] == 3
    assert store.evaluations(rid)[-1].values["acc"] == Value(0.5, "measured", LONG)


def test_provenance_of_a_rolled_back_transaction_is_not_reused(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    rid = _run(store)
    bad = Event("ask", (0,), ({"a": object()},), 1, 0.0)  # not JSON: the transaction fails
    with pytest.raises(TypeError):
        store.append([_ev(0, {"acc": Value(0.25, "measured", "new source")}, rid)], [(rid, 0, bad)])
    assert store.evaluations(rid) == []
    # the id inserted by the failed transaction was rolled back with it; another writer now
    # gets the first id for a different provenance
    other = Store(tmp_path / "s.sqlite")
    other.append([_ev(1, {"x": Value(1.0, "modelled", "something else")}, rid)])
    store.append([_ev(0, {"acc": Value(0.25, "measured", "new source")}, rid)])
    values = {e.seq: e.values for e in Store(tmp_path / "s.sqlite").evaluations(rid)}
    assert values == {0: {"acc": Value(0.25, "measured", "new source")},
                      1: {"x": Value(1.0, "modelled", "something else")}}


def test_a_schema_2_store_is_read_and_extended(tmp_path):
    path = tmp_path / "old.sqlite"
    store = Store(path)
    rid = _run(store)
    store.close()
    con = sqlite3.connect(path)  # what schema 2 wrote: every value in full, no provenance table
    con.execute("DROP TABLE provenance")
    con.execute("UPDATE meta SET value='2' WHERE key='schema'")
    full = json.dumps({"acc": {"value": 0.75, "origin": "measured", "source": LONG}})
    con.execute("INSERT INTO evaluations (run_id, seq, genotype_key, genotype_json, arch_key, cache_key,"
                " status, values_json, train_s, measure_s, strategy_s, cost_s, wall_s, cached, device,"
                " finished) VALUES (?, 0, 'k0', '{\"a\": 0}', 'k0', '', 'ok', ?, 1, 0, 0, 1, 1, 0, 'cpu', 1)",
                (rid, full))
    con.commit()
    con.close()
    store = Store(path)
    assert store.conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0] == "3"
    store.append([_ev(1, {"acc": Value(0.5, "measured", LONG)}, rid)])
    assert [e.values for e in store.evaluations(rid)] == [
        {"acc": Value(0.75, "measured", LONG)}, {"acc": Value(0.5, "measured", LONG)}]
