"""Interrupt the README's worked example the ways a user does, then run the same command again.

Cases (each in a fresh store, real training on digits): ``kill -9`` after 12 s and after 15 s,
Ctrl-C (SIGINT to the process group, as a terminal sends it) after 10 s, and two identical
processes started together.  For each, prints the rows stored before the interruption, the
rows at the end, whether every row stored before is unchanged afterwards (same genotype,
values and finishing time: nothing retrained), and what the second process said.  Last, Ctrl-C
on ``moo-nas compare experiments/quickstart.toml`` after 20 s: seconds until it exits, its
message, and whether any run started after the interrupt.

    python bench/resume_demo.py            # about 5 minutes on 2 cores
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from moo_nas.errors import main_or_exit

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ["search", "--strategy", "nsga2", "--option", "pop_size=10", "--seed", "0", "--evaluations", "40",
           "--objective", "val_accuracy", "--objective", "model_bytes<=16KiB", "--objective", "latency_ms",
           "--recipe", "epochs=6", "--name", "demo", "--quiet"]


def _cmd(store: Path, report: Path) -> list[str]:
    return [sys.executable, "-m", "moo_nas", *EXAMPLE, "--store", str(store), "--report", str(report)]


def _foreground() -> None:
    """In the child: SIGINT handled as in a terminal's foreground job (a shell's background
    job starts with it ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _rows(store: Path) -> list[tuple]:
    if not store.exists():
        return []
    con = sqlite3.connect(store)
    try:
        return con.execute("SELECT seq, genotype_key, values_json, finished, cached FROM evaluations"
                           " ORDER BY seq").fetchall()
    except sqlite3.Error:
        return []
    finally:
        con.close()


def _status(store: Path) -> list[str]:
    con = sqlite3.connect(store)
    try:
        return [r[0] for r in con.execute("SELECT status FROM runs")]
    finally:
        con.close()


def _interrupt(tmp: Path, name: str, after: float, sig: int) -> None:
    store, report = tmp / f"{name}.sqlite", tmp / f"{name}-report"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen(_cmd(store, report), cwd=tmp, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True, start_new_session=True,
                         preexec_fn=_foreground)
    time.sleep(after)
    os.killpg(p.pid, sig)
    _, err = p.communicate()
    before = _rows(store)
    again = subprocess.run(_cmd(store, report), cwd=tmp, env=env, capture_output=True, text=True)
    after_rows = _rows(store)
    kept = {r[0]: r for r in after_rows}
    unchanged = all(kept.get(r[0]) == r for r in before)
    distinct = len({r[1] for r in after_rows})
    print(f"{name}: interrupted with {signal.Signals(sig).name} after {after:.0f} s (exit {p.returncode}"
          f"{'; said: ' + err.strip().splitlines()[-1] if err.strip() else ''}); {len(before)} rows stored; "
          f"same command again: exit {again.returncode}, {len(after_rows)} rows ({distinct} distinct "
          f"networks), runs {_status(store)}; rows stored before unchanged (nothing retrained): {unchanged}")


def _concurrent(tmp: Path) -> None:
    store, report = tmp / "twice.sqlite", tmp / "twice-report"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen(_cmd(store, report), cwd=tmp, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    time.sleep(8)
    second = subprocess.run(_cmd(store, report), cwd=tmp, env=env, capture_output=True, text=True)
    _, err = first.communicate()
    rows = _rows(store)
    print(f"two processes on one run: the second exited {second.returncode} saying "
          f"{second.stderr.strip()!r}; the first exited {first.returncode}; {len(rows)} rows, "
          f"runs {_status(store)}")


def _ctrl_c_compare(tmp: Path) -> None:
    store, report = tmp / "qs.sqlite", tmp / "qs-report"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen([sys.executable, "-m", "moo_nas", "compare", str(ROOT / "experiments" / "quickstart.toml"),
                          "--store", str(store), "--report", str(report), "--quiet"], cwd=tmp, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
                         preexec_fn=_foreground)
    time.sleep(20)
    con = sqlite3.connect(store)
    started = con.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    con.close()
    t0 = time.perf_counter()
    os.killpg(p.pid, signal.SIGINT)
    _, err = p.communicate()
    seconds = time.perf_counter() - t0
    con = sqlite3.connect(store)
    runs = con.execute("SELECT status, COUNT(*) FROM runs GROUP BY status").fetchall()
    total = sum(n for _, n in runs)
    con.close()
    print(f"Ctrl-C on compare experiments/quickstart.toml after 20 s: exited {p.returncode} after "
          f"{seconds:.1f} s saying {err.strip().splitlines()[-1]!r}; runs {started} when interrupted, "
          f"{total} after ({dict(runs)}): {'no' if total == started else total - started} run(s) started after Ctrl-C")


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        _interrupt(tmp, "kill9-12s", 12, signal.SIGKILL)
        _interrupt(tmp, "kill9-15s", 15, signal.SIGKILL)
        _interrupt(tmp, "ctrl-c-10s", 10, signal.SIGINT)
        _concurrent(tmp)
        _ctrl_c_compare(tmp)


if __name__ == "__main__":
    main_or_exit(main, "resume_demo.py")
