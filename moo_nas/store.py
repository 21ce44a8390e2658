"""The results store: one SQLite file (stdlib ``sqlite3``, WAL journal) per study.

Tables:

``runs``          one row per (experiment, strategy, options, seed, space, task, recipe,
                  objectives); a run is found again by its signature, which is how the same
                  command resumes it.
``evaluations``   one row per evaluated genotype of a run, committed as soon as it finishes
                  (table lookups, which cost nothing to redo, are committed in groups):
                  genotype, status, every metric with its provenance, training / measurement /
                  strategy time, cost, device, error.  ``cache_key`` (architecture, task,
                  recipe, training seed; empty for evaluators whose results are not shared,
                  such as table lookups) lets other runs reuse a result instead of training
                  again.  Metrics are stored as ``{"name": [value, provenance id], ...}`` (rows
                  written by schema 2 hold ``{"name": {"value": …, "origin": …, "source": …}}``;
                  both are read).
``events``        the run's history as the strategy saw it: every ask (sequence numbers and
                  genotypes proposed) and every tell (sequence numbers whose results were
                  given to the strategy), in order.  Resuming replays this log through a
                  fresh strategy, so a run continues exactly as it would have.
``provenance``    each distinct (origin, source) of a metric value once: a table benchmark's
                  provenance sentences are long and the same for every row.
``measurements``  measured values that depend only on the architecture (e.g. host latency),
                  shared by every run of the store so the same network is not timed twice.

A run being executed is *claimed* by its process (``owner``, refreshed ``heartbeat``): a
second process refuses to run it while the owner lives; the claim of a process that died is
taken over (at once on the same host, after a grace period elsewhere).

Several processes may write to one store: WAL mode plus a busy timeout serialise writers, and
every write transaction is short (a strategy never computes while holding the write lock).
Nothing is ever deleted; a corrupted file is reported as such.
"""

from __future__ import annotations

import csv
import json
import math
import os
import socket
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from .errors import UserError
from .objectives import Value
from .records import Evaluation
from .space import values_json

SCHEMA_VERSION = 3

_EVENTS = """
CREATE TABLE IF NOT EXISTS events (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    idx INTEGER NOT NULL,
    kind TEXT NOT NULL,
    asked INTEGER NOT NULL,
    clock REAL NOT NULL,
    seqs_json TEXT NOT NULL,
    genotypes_json TEXT NOT NULL,
    PRIMARY KEY (run_id, idx)
)
"""

_PROVENANCE = """
CREATE TABLE IF NOT EXISTS provenance (
    id INTEGER PRIMARY KEY,
    origin TEXT NOT NULL,
    source TEXT NOT NULL,
    UNIQUE (origin, source)
)
"""

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
    updated REAL NOT NULL,
    owner TEXT,
    heartbeat REAL
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
    clock_s REAL NOT NULL DEFAULT 0,
    UNIQUE (run_id, seq)
);
CREATE INDEX IF NOT EXISTS evaluations_cache ON evaluations (cache_key);
CREATE TABLE IF NOT EXISTS measurements (
    key TEXT PRIMARY KEY,
    values_json TEXT NOT NULL,
    created REAL NOT NULL
);
""" + _EVENTS + ";" + _PROVENANCE + ";"


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


@dataclass(frozen=True)
class Event:
    """One entry of a run's history: ``kind`` ``ask`` (the strategy was asked for ``asked``
    genotypes and proposed ``seqs``, with their genotypes as dicts) or ``tell`` (results of
    ``seqs`` given to the strategy, in that order); ``clock``: the run's clock then (seconds
    of its executor's workers, simulated for table lookups)."""

    kind: str
    seqs: tuple[int, ...]
    genotypes: tuple[dict[str, Any], ...] = ()
    asked: int = 0
    clock: float = 0.0
    #: genotype keys of ``genotypes`` when the writer knows them (not stored: they let the
    #: store reuse each genotype's JSON)
    keys: tuple[str, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class Claim:
    """Who is executing a run: ``owner`` is ``host:pid:token``."""

    owner: str
    heartbeat: float

    @property
    def host(self) -> str:
        return self.owner.split(":")[0]

    @property
    def pid(self) -> int:
        return int(self.owner.split(":")[1])

    def alive(self, grace: float, now: float | None = None) -> bool:
        """False when the owner is known dead: same host and no such process, or no heartbeat
        for ``grace`` seconds."""
        now = time.time() if now is None else now
        if self.host == socket.gethostname():
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                pass
        return now - self.heartbeat < grace


def new_owner() -> str:
    """An owner string for this process: ``host:pid:token``."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"


_SORTED_JSON = json.JSONEncoder(sort_keys=True)


def _genotypes_json(e: Event) -> str:
    """The genotypes of an event as a JSON list (each by its key when the event has them)."""
    if len(e.keys) != len(e.genotypes):
        return _SORTED_JSON.encode(list(e.genotypes))
    return "[" + ", ".join(values_json(k, g) for k, g in zip(e.keys, e.genotypes)) + "]"


def _values_from_json(text: str) -> dict[str, Value]:
    """Values written in full (``{"name": {"value", "origin", "source"}}``: measurements, and
    evaluations of schema 2)."""
    return {k: Value.from_json(v) for k, v in json.loads(text).items()}


class Store:
    """A results store in one SQLite file; created on first use."""

    def __init__(self, path: str | Path, timeout: float = 60.0):
        self.path = Path(path)
        self.timeout = timeout
        if self.path.is_dir():
            raise UserError(f"store {self.path} is a directory; point --store at a file such as runs/NAME.sqlite.")
        try:
            if self.path.parent and not self.path.parent.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = self._connect()
            self._init_schema()
            # provenance id <-> (origin, source), as committed; and the JSON around each
            # (metric, origin, source) of an evaluation row
            self._prov: dict[int, tuple[str, str]] = {}
            self._prov_ids: dict[tuple[str, str], int] = {}
            self._items: dict[tuple[str, str, str], tuple[str, str]] = {}
            self._load_provenance()
        except sqlite3.DatabaseError as exc:
            raise UserError(
                f"store {self.path} is not a readable moo_nas SQLite store ({exc}); "
                "point --store at another file or restore it from a backup."
            ) from None
        except OSError as exc:
            raise UserError(f"cannot create the store {self.path} ({exc.strerror}); "
                            "point --store at a writable place.") from None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.path), timeout=self.timeout, isolation_level=None,
                               check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=%d" % int(self.timeout * 1000))
        # a new file gets 16 KiB pages (fewer pages and WAL frames per row: table-backed runs
        # append thousands of rows a second); without effect on an existing file
        conn.execute("PRAGMA page_size=16384")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _init_schema(self) -> None:
        cur = self.conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='meta'")
        if cur.fetchone() is None:
            self.conn.executescript(_SCHEMA)  # idempotent (IF NOT EXISTS)
            self.conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        row = self.conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is not None and int(row[0]) == 1:
            self._migrate_from_1()
            row = ("2",)
        if row is not None and int(row[0]) == 2:
            self._migrate_from_2()
            row = (str(SCHEMA_VERSION),)
        if row is None or int(row[0]) != SCHEMA_VERSION:
            raise UserError(f"store {self.path} has schema {row and row[0]}, this moo_nas reads {SCHEMA_VERSION}.")

    def _migrate_from_1(self) -> None:
        """Schema 1 -> 2: run claims and the event log.  Runs recorded before have no events:
        they can be reported and compared but not resumed."""
        with self.transaction():
            cols = {r[1] for r in self.conn.execute("PRAGMA table_info(runs)")}
            for col, typ in (("owner", "TEXT"), ("heartbeat", "REAL")):
                if col not in cols:
                    self.conn.execute(f"ALTER TABLE runs ADD COLUMN {col} {typ}")
            self.conn.execute("ALTER TABLE evaluations ADD COLUMN clock_s REAL NOT NULL DEFAULT 0")
            self.conn.execute(_EVENTS)
            self.conn.execute("UPDATE meta SET value='2' WHERE key='schema'")

    def _migrate_from_2(self) -> None:
        """Schema 2 -> 3: the provenance table.  Rows already written keep their values in
        full and are read as they are; new rows refer to the provenance table."""
        with self.transaction():
            self.conn.execute(_PROVENANCE)
            self.conn.execute("UPDATE meta SET value='3' WHERE key='schema'")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ transactions
    def transaction(self) -> "_Transaction":
        """``with store.transaction(): ...`` — one short write transaction (BEGIN IMMEDIATE),
        committed at the end, rolled back on an exception."""
        return _Transaction(self.conn)

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
                " VALUES (?,?,?,?,?,?,?,?,?, 'created', ?, ?)",
                (signature, experiment, strategy, json.dumps(options, sort_keys=True), seed,
                 json.dumps(space, sort_keys=True), json.dumps(task, sort_keys=True),
                 json.dumps(recipe, sort_keys=True), json.dumps(objectives), now, now),
            )
        except sqlite3.IntegrityError:  # another process created it meanwhile
            row = self.conn.execute("SELECT id FROM runs WHERE signature=?", (signature,)).fetchone()
            return int(row[0]), False
        assert cur.lastrowid is not None  # set by the INSERT above
        return int(cur.lastrowid), True

    def find_run(self, signature: str) -> int | None:
        """The id of the run with ``signature``, or None (reads only)."""
        row = self.conn.execute("SELECT id FROM runs WHERE signature=?", (signature,)).fetchone()
        return None if row is None else int(row[0])

    def set_run_status(self, run_id: int, status: str, stats: dict[str, Any] | None = None) -> None:
        if stats is None:
            self.conn.execute("UPDATE runs SET status=?, updated=? WHERE id=?",
                              (status, time.time(), run_id))
        else:
            self.conn.execute("UPDATE runs SET status=?, stats_json=?, updated=? WHERE id=?",
                              (status, json.dumps(stats, sort_keys=True), time.time(), run_id))

    def claim_run(self, run_id: int, owner: str, grace: float = 30.0) -> None:
        """Make ``owner`` the process executing ``run_id`` (status ``running``).  A live other
        owner is a :class:`UserError`; a dead one's claim is taken over."""
        with self.transaction():
            row = self.conn.execute("SELECT owner, heartbeat FROM runs WHERE id=?", (run_id,)).fetchone()
            if row is None:
                raise UserError(f"store {self.path} has no run {run_id}.")
            if row[0] and row[0] != owner:
                other = Claim(row[0], float(row[1] or 0.0))
                if other.alive(grace):
                    age = time.time() - other.heartbeat
                    raise UserError(
                        f"run {run_id} of store {self.path} is being executed by process {other.pid} "
                        f"on {other.host} (last heartbeat {age:.0f} s ago); wait for it to finish "
                        "or stop it, then run the same command again to resume.")
            self.conn.execute("UPDATE runs SET owner=?, heartbeat=?, status='running', updated=?"
                              " WHERE id=?", (owner, time.time(), time.time(), run_id))

    def heartbeat(self, run_id: int, owner: str) -> bool:
        """Refresh ``owner``'s claim; False when the claim was taken over by another process."""
        cur = self.conn.execute("UPDATE runs SET heartbeat=? WHERE id=? AND owner=?",
                                (time.time(), run_id, owner))
        return cur.rowcount == 1

    def release_run(self, run_id: int, owner: str, status: str,
                    stats: dict[str, Any] | None = None) -> None:
        """End ``owner``'s claim with a final ``status`` (``finished``, ``interrupted`` …)."""
        with self.transaction():
            row = self.conn.execute("SELECT owner FROM runs WHERE id=?", (run_id,)).fetchone()
            if row is None or row[0] != owner:
                return  # taken over meanwhile: the new owner decides the status
            self.set_run_status(run_id, status, stats)
            self.conn.execute("UPDATE runs SET owner=NULL WHERE id=?", (run_id,))

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

    # ------------------------------------------------------------------ writing
    def append(self, evaluations: Iterable[Evaluation] = (), events: Iterable[tuple[int, int, Event]] = (),
               measurements: Iterable[tuple[str, dict[str, Value]]] = ()) -> None:
        """Write evaluations, events ``(run_id, idx, event)`` and shared measurements in one
        short transaction: all of them are durable when this returns, or none."""
        evaluations, events, measurements = list(evaluations), list(events), list(measurements)
        if not (evaluations or events or measurements):
            return
        now = time.time()
        new: dict[tuple[str, str], int] = {}  # provenance first written by this transaction
        try:
            self._append(evaluations, events, measurements, new, now)
        except BaseException:
            if new:  # rolled back: those provenance ids do not exist
                self._items = {k: v for k, v in self._items.items() if (k[1], k[2]) not in new}
            raise
        for pair, pid in new.items():  # committed: known from now on
            self._prov_ids[pair] = pid
            self._prov[pid] = pair

    def _append(self, evaluations: list[Evaluation], events: list[tuple[int, int, Event]],
                measurements: list[tuple[str, dict[str, Value]]], new: dict[tuple[str, str], int],
                now: float) -> None:
        with self.transaction():
            if evaluations:
                self.conn.executemany(
                    f"INSERT OR IGNORE INTO evaluations ({self._COLS}) VALUES ({','.join('?' * 18)})",
                    [(ev.run_id, ev.seq, ev.genotype_key, values_json(ev.genotype_key, ev.genotype),
                      ev.arch_key, ev.cache_key, ev.status, self._encode_values(ev.values, new), ev.train_s,
                      ev.measure_s, ev.strategy_s, ev.cost_s, ev.wall_s, int(ev.cached), ev.device,
                      ev.error, ev.finished or now, ev.clock_s) for ev in evaluations])
            if events:
                self.conn.executemany(
                    "INSERT OR IGNORE INTO events (run_id, idx, kind, asked, clock, seqs_json, genotypes_json)"
                    " VALUES (?,?,?,?,?,?,?)",
                    [(rid, idx, e.kind, e.asked, e.clock, json.dumps(list(e.seqs)),
                      _genotypes_json(e)) for rid, idx, e in events])
            if measurements:
                self.conn.executemany("INSERT OR IGNORE INTO measurements VALUES (?,?,?)",
                                      [(k, _SORTED_JSON.encode({n: x.to_json() for n, x in v.items()}), now)
                                       for k, v in measurements])

    def _encode_values(self, values: dict[str, Value], new: dict[tuple[str, str], int]) -> str:
        """An evaluation's values as stored: ``{"name": [value, provenance id]}`` with sorted
        names; provenance not in the store yet is inserted (inside the caller's transaction)
        and collected in ``new``."""
        parts = []
        items = self._items
        for k in sorted(values):
            v = values[k]
            item = items.get((k, v.origin, v.source))
            if item is None:
                item = self._item(k, v.origin, v.source, new)
            x = v.value
            if type(x) is float and x - x == 0.0:  # finite: repr is its JSON
                parts.append(item[0] + float.__repr__(x) + item[1])
            else:  # int, NaN, +-inf
                parts.append(item[0] + _SORTED_JSON.encode(x) + item[1])
        return "{" + ", ".join(parts) + "}"

    def _item(self, name: str, origin: str, source: str,
              new: dict[tuple[str, str], int]) -> tuple[str, str]:
        """The JSON before and after the number of one stored value (remembered; an item whose
        provenance this transaction inserts is forgotten again if it rolls back)."""
        pair = (origin, source)
        pid = self._prov_ids.get(pair) or new.get(pair)
        if pid is None:
            self.conn.execute("INSERT OR IGNORE INTO provenance (origin, source) VALUES (?, ?)", pair)
            pid = int(self.conn.execute("SELECT id FROM provenance WHERE origin=? AND source=?",
                                        pair).fetchone()[0])
            new[pair] = pid
        item = self._items[(name, origin, source)] = (f"{_SORTED_JSON.encode(name)}: [", f", {pid}]")
        return item

    def _load_provenance(self) -> None:
        for pid, origin, source in self.conn.execute("SELECT id, origin, source FROM provenance"):
            self._prov[int(pid)] = (origin, source)
            self._prov_ids[(origin, source)] = int(pid)

    def _decode_values(self, text: str) -> dict[str, Value]:
        """Values of an evaluation row, in either stored form (see the module docstring)."""
        out = {}
        for k, v in json.loads(text).items():
            if type(v) is list:
                pair = self._prov.get(v[1])
                if pair is None:  # written by another process since this one loaded them
                    self._load_provenance()
                    pair = self._prov.get(v[1])
                    if pair is None:
                        raise UserError(f"store {self.path} is inconsistent: a value refers to "
                                        f"provenance {v[1]}, which it does not hold.")
                out[k] = Value(float(v[0]), *pair)
            else:
                out[k] = Value.from_json(v)
        return out

    def add_evaluation(self, ev: Evaluation) -> None:
        """Insert one evaluation, durable when this returns."""
        self.append(evaluations=[ev])

    # ------------------------------------------------------------------ reading
    def _rows_to_evals(self, rows: Sequence[Sequence[Any]]) -> list[Evaluation]:
        return [
            Evaluation(run_id=r[0], seq=r[1], genotype_key=r[2], genotype=json.loads(r[3]),
                       arch_key=r[4], cache_key=r[5], status=r[6], values=self._decode_values(r[7]),
                       train_s=r[8], measure_s=r[9], strategy_s=r[10], cost_s=r[11], wall_s=r[12],
                       cached=bool(r[13]), device=r[14], error=r[15], finished=r[16], clock_s=r[17])
            for r in rows
        ]

    _COLS = ("run_id, seq, genotype_key, genotype_json, arch_key, cache_key, status, values_json,"
             " train_s, measure_s, strategy_s, cost_s, wall_s, cached, device, error, finished, clock_s")

    def evaluations(self, run_id: int) -> list[Evaluation]:
        """The run's evaluations in sequence order (sequence numbers may have gaps while a
        run is incomplete: results are stored in the order they finish)."""
        rows = self.conn.execute(
            f"SELECT {self._COLS} FROM evaluations WHERE run_id=? ORDER BY seq", (run_id,)
        ).fetchall()
        return self._rows_to_evals(rows)

    def events(self, run_id: int) -> list[Event]:
        """The run's ask/tell history in order."""
        rows = self.conn.execute(
            "SELECT kind, asked, clock, seqs_json, genotypes_json FROM events WHERE run_id=? ORDER BY idx",
            (run_id,)).fetchall()
        return [Event(k, tuple(json.loads(s)), tuple(json.loads(g)), int(n), float(c))
                for k, n, c, s, g in rows]

    def count_evaluations(self, experiment: str) -> int:
        """Distinct genotypes evaluated over the runs of ``experiment`` (progress bars)."""
        return int(self.conn.execute(
            "SELECT COUNT(*) FROM (SELECT DISTINCT e.run_id, e.genotype_key FROM evaluations e"
            " JOIN runs r ON e.run_id = r.id WHERE r.experiment=?)", (experiment,)).fetchone()[0])

    def cached(self, cache_key: str) -> Evaluation | None:
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
        self.append(measurements=[(key, values)])

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
                            *[e.values[n].describe() if n in e.values else "" for n in names]])
        return path


class _Transaction:
    """Context manager of :meth:`Store.transaction`."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.outer = False

    def __enter__(self) -> None:
        self.outer = self.conn.in_transaction  # nested: the outer transaction commits
        if not self.outer:
            self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        if self.outer:
            return
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
