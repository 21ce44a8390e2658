"""Tables of pre-evaluated architectures and the evaluator that looks them up.

A :class:`Table` maps a genotype key (:attr:`moo_nas.space.Genotype.key`) to one
:class:`TableRow` per recorded seed: every metric as a :class:`moo_nas.objectives.Value` (with
its provenance), the seconds of training the row cost and the device they were spent on.
Tables come from a benchmark (:mod:`moo_nas.tabular.nb201`) or from ``moo-nas tabulate``, and
are saved as one SQLite file (schema in :meth:`Table.save`).

:class:`TableEvaluator` has the signature of :class:`moo_nas.evaluator.Evaluator`, so any
strategy runs against a table instead of training: it returns the recorded metrics and sets
``train_s`` to the recorded training time, so the engine charges the real cost.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Iterable, Iterator, Sequence

import numpy as np

from ..errors import UserError
from ..evaluator import Evaluator, bound_violation
from ..objectives import Objective, Value, metric
from ..records import Evaluation
from ..space import Genotype, OptionValue, SearchSpace

#: most lookups a table evaluator keeps ready (the evaluation of each (genotype, seed))
MEMO_MAX = 200_000


@dataclass(frozen=True)
class TableInfo:
    """What a table is: its name, the space and task it was evaluated for, and where it came
    from (``source``: benchmark or run, training protocol)."""

    name: str
    space: str
    source: str
    space_config: dict[str, Any] = field(default_factory=dict)
    task: dict[str, Any] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "space": self.space, "source": self.source,
                "space_config": self.space_config, "task": self.task, "recipe": self.recipe}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "TableInfo":
        return cls(d["name"], d["space"], d["source"], d.get("space_config", {}),
                   d.get("task", {}), d.get("recipe", {}))


@dataclass(frozen=True)
class TableRow:
    """One recorded evaluation of one architecture under one training seed."""

    genotype: tuple[tuple[str, OptionValue], ...]
    seed: int
    status: str
    values: dict[str, Value]
    train_seconds: float
    device: str
    error: str | None = None


def genotype_key(space: str, values: Iterable[tuple[str, OptionValue]]) -> str:
    """The :attr:`Genotype.key` of a genotype given by its space name and (name, value) pairs."""
    return Genotype(space, tuple(values)).key


class Table:
    """Rows of pre-evaluated architectures, keyed by genotype key, several seeds per key."""

    def __init__(self, info: TableInfo, rows: Iterable[TableRow]) -> None:
        self.info = info
        by_key: dict[str, list[TableRow]] = {}
        for r in rows:
            by_key.setdefault(genotype_key(info.space, r.genotype), []).append(r)
        self._rows = {k: tuple(sorted(v, key=lambda r: r.seed)) for k, v in by_key.items()}

    # ------------------------------------------------------------------ queries
    def __len__(self) -> int:
        """Number of distinct architectures."""
        return len(self._rows)

    def __contains__(self, key: str) -> bool:
        return key in self._rows

    def n_rows(self) -> int:
        """Number of (architecture, seed) rows."""
        return sum(len(v) for v in self._rows.values())

    def keys(self) -> list[str]:
        return list(self._rows)

    def rows(self, key: str) -> tuple[TableRow, ...]:
        """All rows of one architecture, sorted by seed (empty if it was never evaluated)."""
        return self._rows.get(key, ())

    def all_rows(self) -> Iterator[TableRow]:
        for rows in self._rows.values():
            yield from rows

    def pick(self, key: str, seed: int) -> TableRow | None:
        """The row an evaluation with ``seed`` sees: the row recorded with that training seed
        if there is one, otherwise one chosen deterministically from (key, seed) so choices
        spread over the recorded seeds.  None when the key is not in the table."""
        rows = self._rows.get(key)
        if not rows:
            return None
        for r in rows:
            if r.seed == seed:
                return r
        return rows[(int(key[:8], 16) + int(seed)) % len(rows)]

    def metric_names(self) -> list[str]:
        """Metrics present in every ``ok`` row."""
        names: set[str] | None = None
        for r in self.all_rows():
            if r.status == "ok":
                names = set(r.values) if names is None else names & set(r.values)
        return sorted(names or ())

    def points(self, objectives: Sequence[Objective], feasible_only: bool = True) -> np.ndarray:
        """Minimisation-form objective vectors of every ``ok`` row (all seeds of all
        architectures), so the non-dominated set of the result is the best front any run on
        this table can reach.  With ``feasible_only``, rows violating a bound are left out."""
        out = []
        for r in self.all_rows():
            if r.status != "ok" or any(o.name not in r.values for o in objectives):
                continue
            vals = [r.values[o.name].value for o in objectives]
            if feasible_only and any(o.violation(v) > 0 for o, v in zip(objectives, vals)):
                continue
            out.append([o.to_min(v) for o, v in zip(objectives, vals)])
        return np.array(out, dtype=float).reshape(len(out), len(objectives))

    def matrix(self, objectives: Sequence[Objective]) -> tuple[list[str], np.ndarray]:
        """Keys and minimisation-form objective vectors of every architecture that has exactly
        one ``ok`` row holding all ``objectives`` (e.g. a :meth:`mean_over_seeds` table),
        bounds ignored; rows of other architectures are left out."""
        keys, out = [], []
        for k, rows in self._rows.items():
            if len(rows) != 1 or rows[0].status != "ok":
                continue
            r = rows[0]
            if all(o.name in r.values for o in objectives):
                keys.append(k)
                out.append([o.to_min(r.values[o.name].value) for o in objectives])
        return keys, np.array(out, dtype=float).reshape(len(out), len(objectives))

    def mean_over_seeds(self) -> "Table":
        """One row per architecture: every metric averaged over the ``ok`` rows of its recorded
        seeds (training seconds too), so a run and the true front see the same values.  The row's
        seed is -1; a metric equal over seeds keeps its provenance, an averaged one says so."""
        rows = []
        for key, rs in self._rows.items():
            ok = [r for r in rs if r.status == "ok"]
            if len(ok) <= 1:
                rows.append(replace(ok[0] if ok else rs[0], seed=-1))
                continue
            names = set.intersection(*(set(r.values) for r in ok))
            vals = {}
            for n in ok[0].values:
                if n not in names:
                    continue
                vs = [r.values[n] for r in ok]
                xs = [v.value for v in vs]
                if all(x == xs[0] for x in xs) and all(v.source == vs[0].source for v in vs):
                    vals[n] = vs[0]
                else:
                    vals[n] = Value(float(np.mean(xs)), vs[0].origin,
                                    _mean_source([v.source for v in vs], [r.seed for r in ok]))
            rows.append(TableRow(ok[0].genotype, -1, "ok", vals,
                                 float(np.mean([r.train_seconds for r in ok])), ok[0].device))
        return Table(self.info, rows)

    def seed_view(self, seed: int) -> "Table":
        """The table a run with ``seed`` sees through :meth:`pick`: one row per architecture."""
        return Table(self.info, [r for k in self._rows if (r := self.pick(k, seed)) is not None])

    def total_train_seconds(self) -> float:
        """Training time recorded over all rows: the cost of building the table."""
        return float(sum(r.train_seconds for r in self.all_rows()))

    # ------------------------------------------------------------------ persistence
    SCHEMA: ClassVar[str] = """
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS rows (
            arch_key TEXT NOT NULL, seed INTEGER NOT NULL, genotype TEXT NOT NULL,
            status TEXT NOT NULL, metrics TEXT NOT NULL, train_s REAL NOT NULL,
            device TEXT NOT NULL, error TEXT, PRIMARY KEY (arch_key, seed));
    """

    def save(self, path: str | Path) -> Path:
        """Write the table to a SQLite file (replacing its rows).

        Schema: ``meta(key, value)`` holds ``info`` (JSON of :class:`TableInfo`);
        ``rows(arch_key, seed, genotype, status, metrics, train_s, device, error)`` one row per
        recorded evaluation, ``genotype`` a JSON object and ``metrics`` a JSON object of
        ``{"value", "origin", "source"}`` per metric.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(path)
        try:
            with con:
                con.executescript(self.SCHEMA)
                con.execute("DELETE FROM rows")
                con.execute("INSERT OR REPLACE INTO meta VALUES ('info', ?)",
                            (json.dumps(self.info.to_json(), sort_keys=True),))
                con.executemany(
                    "INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    ((k, r.seed, json.dumps(dict(r.genotype)), r.status,
                      json.dumps({n: v.to_json() for n, v in r.values.items()}),
                      r.train_seconds, r.device, r.error)
                     for k, rows in self._rows.items() for r in rows))
        finally:
            con.close()
        return path

    @classmethod
    def load(cls, path: str | Path, space: SearchSpace | None = None) -> "Table":
        """Read a table written by :meth:`save`.  With ``space``, genotypes keep that space's
        variable order (needed when the JSON order of a file differs)."""
        path = Path(path)
        if not path.is_file():
            raise UserError(f"table file {path} not found; create it with 'moo-nas tabulate' "
                            "or give the path of an existing table.")
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            info_row = con.execute("SELECT value FROM meta WHERE key = 'info'").fetchone()
            data = con.execute("SELECT seed, genotype, status, metrics, train_s, device, error "
                               "FROM rows").fetchall()
        except sqlite3.DatabaseError as exc:
            raise UserError(f"{path} is not a moo-nas table file ({exc}); "
                            "create one with 'moo-nas tabulate'.") from None
        finally:
            con.close()
        if info_row is None:
            raise UserError(f"{path} has no table description; create it with 'moo-nas tabulate'.")
        info = TableInfo.from_json(json.loads(info_row[0]))
        rows = []
        for seed, g, status, metrics, train_s, device, error in data:
            gd = json.loads(g)
            if space is not None:
                items = tuple(space.make(gd).values)
            else:
                items = tuple(gd.items())
            vals = {n: Value.from_json(v) for n, v in json.loads(metrics).items()}
            rows.append(TableRow(items, int(seed), status, vals, float(train_s), device, error))
        return cls(info, rows)


def _mean_source(sources: Sequence[str], seeds: Sequence[int]) -> str:
    """Provenance of a mean over seeds: the per-seed source with its seed number replaced."""
    label = f"mean over seeds {', '.join(str(s) for s in seeds)}"
    merged = {re.sub(r"\bseed \d+\b", label, s) for s in sources}
    if len(merged) == 1:
        return merged.pop()
    return f"{label} of: " + " | ".join(dict.fromkeys(sources))


# ---------------------------------------------------------------------------- evaluator
class TableEvaluator(Evaluator):
    """Looks genotypes up in a :class:`Table` instead of training them.

    The result is an :class:`moo_nas.records.Evaluation` like the training evaluator's: the
    recorded metrics (provenance kept from the table), ``train_s`` = recorded training
    time (charged by the engine as search cost), ``device`` = where it was spent.  Bounds are
    checked as the training evaluator does: a violated bound on a metric known before training
    (stage ``arch``/``model``) makes the evaluation ``infeasible`` with no training charged.
    A genotype missing from the table is ``failed`` (its error says so).
    """

    cacheable = False  # a lookup is cheaper than the engine's cross-run cache query
    recomputable = True  # redoing a lookup costs nothing: the engine may commit in groups

    def __init__(self, table: Table, space: SearchSpace,
                 objectives: Sequence[Objective] = ()) -> None:
        if table.info.space != space.name:
            raise UserError(f"table {table.info.name!r} holds space {table.info.space!r}, not "
                            f"{space.name!r}; use the space the table was built for.")
        self.table = table
        self.space = space
        self.objectives = tuple(objectives)
        # the bounded objectives, and those of them known before training
        self._bounded = tuple(o for o in self.objectives if o.bound is not None)
        self._pre = tuple(o for o in self._bounded if metric(o.name).stage != "trained")
        bounds = ",".join(o.describe() for o in self._bounded)
        self._ck = f"table:{table.info.name}:{bounds}:"
        # (genotype key, seed) -> its evaluation
        self._memo: dict[tuple[str, int], Evaluation] = {}

    def config(self) -> dict[str, Any]:
        """What identifies this evaluator's results (the engine's run signature; ``task`` and
        ``recipe`` are recorded with the run)."""
        info = self.table.info
        return {"type": "table", "table": info.name, "source": info.source,
                "rows": self.table.n_rows(), "task": info.task,
                "recipe": {"table": info.name, **info.recipe},
                "bounds": [o.describe() for o in self.objectives if o.bound is not None]}

    def cache_key(self, genotype: Genotype, seed: int) -> str:
        """Key under which another run's copy of this lookup may be reused."""
        return f"{self._ck}{genotype.key}:{int(seed)}"

    def evaluate(self, genotype: Genotype, seed: int, *,
                 known: dict[str, dict[str, Value]] | None = None,
                 warm_start: Any = None) -> Evaluation:
        """Return the recorded evaluation of ``genotype`` (``known`` and ``warm_start`` are
        accepted for interface compatibility and ignored: nothing is measured or trained)."""
        t0 = time.perf_counter()
        g = genotype if genotype.space == self.space.name else self.space.validate(genotype)
        seed = int(seed)
        memo = self._memo.get((g.key, seed))
        if memo is None:
            memo = self._lookup(g, seed)
            if len(self._memo) >= MEMO_MAX:
                self._memo.clear()
            self._memo[(g.key, seed)] = memo
        # a copy sharing ``values`` with the memo (nothing changes them)
        return memo.placed(wall_s=time.perf_counter() - t0)

    def _lookup(self, g: Genotype, seed: int) -> Evaluation:
        """The evaluation of ``g`` under ``seed`` from its table row, bounds applied."""
        key = g.key
        row = self.table.pick(key, seed)
        if row is None:
            return Evaluation.of(g, "failed",
                                 error=f"architecture {g} is not in table {self.table.info.name!r}",
                                 arch_key=key)
        ev = Evaluation.of(g, row.status, values=dict(row.values), train_s=row.train_seconds,
                           device=row.device, error=row.error, arch_key=key)
        if self._bounded and row.status == "ok":
            reason = bound_violation(self._pre, row.values)
            if reason:  # rejected before training: nothing trained, nothing charged
                ev.values = {n: v for n, v in row.values.items()
                             if _stage(n) != "trained"}
                ev.status, ev.error, ev.train_s = "infeasible", reason, 0.0
            else:
                reason = bound_violation(self._bounded, row.values)
                if reason:
                    ev.status, ev.error = "infeasible", reason
        return ev


def _stage(name: str) -> str:
    try:
        return metric(name).stage
    except UserError:
        return "trained"
