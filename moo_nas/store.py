"""The results store: one SQLite file (stdlib ``sqlite3``, WAL journal) per study.

Tables:

``runs``          one row per (experiment, strategy, options, seed, space, task, recipe,
                  objectives); a run is found again by its signature, which is how the same
                  command resumes it.
``evaluations``   one row per evaluated genotype of a run, committed as soon as it finishes
                  (table lookups, which cost nothing to redo, are committed in groups):
                  genotype, status, every metric with its provenance, training / measurement /
                  strategy time, cost, device, error.  ``cache_key`` (architecture, task, recipe,
                  training seed) lets other runs reuse a result instead of training again.
``measurements``  measured values that depend only on the architecture (e.g. host latency),
                  shared by every run of the store so the same network is not timed twice.

Several processes may write to one store: WAL mode plus a busy timeout serialise writers.
Nothing is ever deleted; a corrupted file is reported as such.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UserError
from .objectives import Value

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    signature TEXT UNIQUE NOT NULL,
    experiment TEXT NOT NULL,
    strategy TEXT NOT NULL,
    options_json TEXT NOT NULL,
    seed INTEGER NOT NULL,
    space_json TEXT NOT NULL,
    task_json TEXT NOT NULL,
    recipe_json TEXT NOT NULL,
    objectives_json TEXT NOT NULL,
    status TEXT NOT NULL,
    stats_json TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS evaluations (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    seq INTEGER NOT NULL,
    genotype_key TEXT NOT NULL,
    genotype_json TEXT NOT NULL,
    arch_key TEXT NOT NULL,
    cache_key TEXT NOT NULL,
    status TEXT NOT NULL,
    values_json TEXT NOT NULL,
    train_s REAL NOT NULL,
    measure_s REAL NOT NULL,
    strategy_s REAL NOT NULL,
    cost_s REAL NOT NULL,
    wall_s REAL NOT NULL,
    cached INTEGER NOT NULL,
    device TEXT NOT NULL,
    error TEXT,
    finished REAL NOT NULL,
    UNIQUE (run_id, seq)
);
CREATE INDEX IF NOT EXISTS evaluations_cache ON evaluations (cache_key);
CREATE TABLE IF NOT EXISTS measurements (
    key TEXT PRIMARY KEY,
    values_json TEXT NOT NULL,
    created REAL NOT NULL
);
"""


@dataclass
class StoredRun:
    """A run as recorded in the store."""

    id: int
    experiment: str
    strategy: str
    options: dict[str, Any]
    seed: int
    space: dict[str, Any]
    task: dict[str, Any]
    recipe: dict[str, Any]
    objectives: list[dict[str, Any]]
    status: str
    stats: dict[str, Any]
    created: float
    updated: float

    @property
    def label(self) -> str:
        return f"{self.strategy}#{self.seed}"


@dataclass
class StoredEvaluation:
    """One evaluation as recorded in the store."""

    run_id: int
    seq: int
    genotype_key: str
    genotype: dict[str, Any]
    arch_key: str
    cache_key: str
    status: str
    values: dict[str, Value]
    train_s: float
    measure_s: float
    strategy_s: float
    cost_s: float
    wall_s: float
    cached: bool
    device: str
    error: str | None
    finished: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def value(self, name: str) -> float | None:
        v = self.values.get(name)
        return None if v is None else v.value


def _values_to_json(values: dict[str, Value]) -> str:
    return json.dumps({k: v.to_json() for k, v in values.items()}, sort_keys=True)


def _values_from_json(text: str) -> dict[str, Value]:
    return {k: Value.from_json(v) for k, v in json.loads(text).items()}


class Store:
    """A results store in one SQLite file; created on first use."""

    def __init__(self, path: str | Path, timeout: float = 60.0):
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA busy_timeout=%d" % int(timeout * 1000))
            self._init_schema()
        except sqlite3.DatabaseError as exc:
            raise UserError(
                f"store {self.path} is not a readable moo_nas SQLite store ({exc}); "
                "point --store at another file or restore it from a backup."
            ) from None

    def _init_schema(self) -> None:
        cur = self.conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='meta'")
        if cur.fetchone() is None:
            self.conn.executescript(_SCHEMA)  # idempotent (IF NOT EXISTS)
            self.conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        row = self.conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None or int(row[0]) != SCHEMA_VERSION:
            raise UserError(f"store {self.path} has schema {row and row[0]}, this moo_nas reads {SCHEMA_VERSION}.")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ runs
    def get_or_create_run(self, signature: str, experiment: str, strategy: str,
                          options: dict[str, Any], seed: int, space: dict[str, Any],
                          task: dict[str, Any], recipe: dict[str, Any],
                          objectives: list[dict[str, Any]]) -> tuple[int, bool]:
        """Return (run id, created?) for a run signature, creating the run if new."""
        row = self.conn.execute("SELECT id FROM runs WHERE signature=?", (signature,)).fetchone()
        if row:
            return int(row[0]), False
        now = time.time()
        try:
            cur = self.conn.execute(
                "INSERT INTO runs (signature, experiment, strategy, options_json, seed, space_json,"
                " task_json, recipe_json, objectives_json, status, created, updated)"
                " VALUES (?,?,?,?,?,?,?,?,?, 'running', ?, ?)",
                (signature, experiment, strategy, json.dumps(options, sort_keys=True), seed,
                 json.dumps(space, sort_keys=True), json.dumps(task, sort_keys=True),
                 json.dumps(recipe, sort_keys=True), json.dumps(objectives), now, now),
            )
        except sqlite3.IntegrityError:  # another process created it meanwhile
            row = self.conn.execute("SELECT id FROM runs WHERE signature=?", (signature,)).fetchone()
            return int(row[0]), False
        return int(cur.lastrowid), True

    def set_run_status(self, run_id: int, status: str, stats: dict[str, Any] | None = None) -> None:
        if stats is None:
            self.conn.execute("UPDATE runs SET status=?, updated=? WHERE id=?",
                              (status, time.time(), run_id))
        else:
            self.conn.execute("UPDATE runs SET status=?, stats_json=?, updated=? WHERE id=?",
                              (status, json.dumps(stats, sort_keys=True), time.time(), run_id))

    def runs(self, experiment: str | None = None) -> list[StoredRun]:
        q = "SELECT id, experiment, strategy, options_json, seed, space_json, task_json, recipe_json," \
            " objectives_json, status, stats_json, created, updated FROM runs"
        args: tuple = ()
        if experiment is not None:
            q += " WHERE experiment=?"
            args = (experiment,)
        rows = self.conn.execute(q + " ORDER BY id", args).fetchall()
        return [
            StoredRun(r[0], r[1], r[2], json.loads(r[3]), r[4], json.loads(r[5]), json.loads(r[6]),
                      json.loads(r[7]), json.loads(r[8]), r[9], json.loads(r[10]), r[11], r[12])
            for r in rows
        ]

    def run(self, run_id: int) -> StoredRun:
        for r in self.runs():
            if r.id == run_id:
                return r
        raise UserError(f"store {self.path} has no run {run_id}; `moo-nas show {self.path}` lists its runs.")

    # ------------------------------------------------------------------ evaluations
    def add_evaluation(self, ev: StoredEvaluation) -> None:
        """Insert one evaluation and commit it (autocommit: durable when this returns), unless a
        transaction opened by :meth:`begin` is pending; then it is durable at :meth:`commit`."""
        self.conn.execute(
            "INSERT OR IGNORE INTO evaluations (run_id, seq, genotype_key, genotype_json, arch_key,"
            " cache_key, status, values_json, train_s, measure_s, strategy_s, cost_s, wall_s, cached,"
            " device, error, finished) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (ev.run_id, ev.seq, ev.genotype_key, json.dumps(ev.genotype, sort_keys=True),
             ev.arch_key, ev.cache_key, ev.status, _values_to_json(ev.values), ev.train_s,
             ev.measure_s, ev.strategy_s, ev.cost_s, ev.wall_s, int(ev.cached), ev.device,
             ev.error, ev.finished or time.time()),
        )

    def begin(self) -> None:
        """Open a write transaction (no-op if one is open): later writes wait for :meth:`commit`."""
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        """Commit the transaction opened by :meth:`begin` (no-op if none is open)."""
        if self.conn.in_transaction:
            self.conn.execute("COMMIT")

    def _rows_to_evals(self, rows) -> list[StoredEvaluation]:
        return [
            StoredEvaluation(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6],
                             _values_from_json(r[7]), r[8], r[9], r[10], r[11], r[12], bool(r[13]),
                             r[14], r[15], r[16])
            for r in rows
        ]

    _COLS = ("run_id, seq, genotype_key, genotype_json, arch_key, cache_key, status, values_json,"
             " train_s, measure_s, strategy_s, cost_s, wall_s, cached, device, error, finished")

    def evaluations(self, run_id: int) -> list[StoredEvaluation]:
        rows = self.conn.execute(
            f"SELECT {self._COLS} FROM evaluations WHERE run_id=? ORDER BY seq", (run_id,)
        ).fetchall()
        return self._rows_to_evals(rows)

    def cached(self, cache_key: str) -> StoredEvaluation | None:
        """An earlier finished evaluation (ok or failed) with the same cache key, if any;
        failures of the infrastructure (a lost worker) are not reused."""
        rows = self.conn.execute(
            f"SELECT {self._COLS} FROM evaluations WHERE cache_key=? AND cached=0"
            " AND status IN ('ok','failed') AND (error IS NULL OR error NOT LIKE 'worker lost%')"
            " ORDER BY id LIMIT 1", (cache_key,)
        ).fetchall()
        evs = self._rows_to_evals(rows)
        return evs[0] if evs else None

    # ------------------------------------------------------------------ measurements
    def measurement(self, key: str) -> dict[str, Value] | None:
        row = self.conn.execute("SELECT values_json FROM measurements WHERE key=?", (key,)).fetchone()
        return _values_from_json(row[0]) if row else None

    def put_measurement(self, key: str, values: dict[str, Value]) -> None:
        self.conn.execute("INSERT OR IGNORE INTO measurements VALUES (?,?,?)",
                          (key, _values_to_json(values), time.time()))

    # ------------------------------------------------------------------ export
    def export_csv(self, run_id: int, path: str | Path) -> Path:
        """Write a run's evaluations to CSV: one row each, a column per metric (+ provenance)."""
        evs = self.evaluations(run_id)
        names = sorted({k for e in evs for k in e.values if k != "traceback"})
        gnames = sorted({k for e in evs for k in e.genotype})
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["run_id", "seq", "status", *gnames, *names, "train_s", "measure_s",
                        "strategy_s", "cost_s", "cached", "device", "error",
                        *[f"{n}__source" for n in names]])
            for e in evs:
                w.writerow([e.run_id, e.seq, e.status, *[e.genotype.get(g) for g in gnames],
                            *[e.value(n) for n in names], e.train_s, e.measure_s, e.strategy_s,
                            e.cost_s, int(e.cached), e.device, e.error or "",
                            *[f"{e.values[n].origin}: {e.values[n].source}" if n in e.values else ""
                              for n in names]])
        return path
