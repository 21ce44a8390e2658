"""Which genotypes a table holds: the whole space, or a stratified sample of it.

:func:`sweep_genotypes` lists them; :class:`TableSweep` is the engine strategy that proposes
them in that fixed order, so ``moo-nas tabulate`` runs through the ordinary engine and store
(one run per training seed) and resumes like any search.  :func:`table_from_store` turns the
finished runs into a :class:`~moo_nas.tabular.table.Table`.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from moo_nas.strategy import Observation, Problem, Strategy

from ..errors import UserError
from ..space import Genotype, SearchSpace
from ..store import Store
from .table import Table, TableInfo, TableRow




def stratified_sample(space: SearchSpace, n: int, seed: int = 0) -> list[Genotype]:
    """``n`` distinct genotypes whose variables each take every option equally often.

    Latin-hypercube style over discrete options: for each variable a column of ``n`` option
    indices, every option repeated ``n / k`` times (+-1), independently shuffled; duplicate rows
    are replaced by uniform draws not yet present.  Deterministic in ``seed``.
    """
    if n >= space.size():
        return space.all_genotypes()
    rng = np.random.default_rng(seed)
    cols = []
    for v in space.variables:
        k = len(v)
        col = np.resize(np.arange(k), n)
        cols.append(rng.permutation(col))
    x = np.stack(cols, axis=1) if cols else np.zeros((n, 0), dtype=int)
    out: list[Genotype] = []
    seen: set[str] = set()
    for row in x:
        g = space.decode(row)
        if g.key not in seen:
            seen.add(g.key)
            out.append(g)
    while len(out) < n:
        g = space.sample(rng)
        if g.key not in seen:
            seen.add(g.key)
            out.append(g)
    return out


def sweep_genotypes(space: SearchSpace, sample: int | None, sample_seed: int = 0) -> list[Genotype]:
    """The whole space (``sample`` None or >= its size) or a stratified sample of it."""
    if sample is None:
        if space.size() > 100_000:
            raise UserError(f"space {space.name!r} has {space.size()} genotypes; tabulate a "
                            "stratified sample of it with --sample N.")
        return space.all_genotypes()
    if sample < 1:
        raise UserError("--sample must be a positive number of genotypes.")
    return stratified_sample(space, sample, sample_seed)


class TableSweep(Strategy):
    """Proposes a fixed list of genotypes (whole space or stratified sample), then stops.

    The list depends on the space, ``sample`` and ``sample_seed`` only — not on the run's seed,
    which is the training seed — so every seed of a table evaluates the same genotypes.
    """

    name = "table-sweep"
    description = "evaluate every genotype of a list once (moo-nas tabulate)"

    def __init__(self, problem: Problem, seed: int = 0, *, sample: int | None = None,
                 sample_seed: int = 0, batch: int = 1) -> None:
        super().__init__(problem, seed)
        self._list = sweep_genotypes(problem.space, sample, sample_seed)
        self._next = 0
        self._batch = max(1, int(batch))

    def __len__(self) -> int:
        return len(self._list)

    def batch_size(self) -> int:
        return self._batch

    def ask(self, n: int) -> list[Genotype]:
        out = self._list[self._next: self._next + n]
        self._next += len(out)
        return out

    def tell(self, observations: Sequence[Observation]) -> None:
        pass

    def finished(self) -> bool:
        return self._next >= len(self._list)


def table_from_store(store: Store, experiment: str, name: str, source: str) -> Table:
    """Build a table from every run of ``experiment`` in ``store`` (one run per seed): each
    evaluation becomes a row with its metrics, training seconds and device."""
    runs = store.runs(experiment)
    if not runs:
        raise UserError(f"store {store.path} has no runs of {experiment!r}; run "
                        "'moo-nas tabulate' first.")
    first = runs[0]
    rows = []
    for r in runs:
        for e in store.evaluations(r.id):
            vals = {k: v for k, v in e.values.items() if k != "traceback"}
            rows.append(TableRow(tuple(e.genotype.items()), int(r.seed), e.status, vals,
                                 float(e.train_s), e.device, e.error))
    info = TableInfo(name, first.space.get("name", ""), source, first.space, first.task,
                     first.recipe)
    return Table(info, rows)


def sweep_options(sample: int | None, sample_seed: int, batch: int) -> dict[str, Any]:
    """Strategy options of :class:`TableSweep` as the engine records them."""
    return {"sample": sample, "sample_seed": sample_seed, "batch": batch}
