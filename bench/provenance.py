"""Header lines for the reports the bench scripts write: the command that regenerates the
report, the commit it was made with, the machine and its load (imported by bench scripts,
which Python runs with ``bench/`` on its path)."""

from __future__ import annotations

import os
import shlex
import sys
import time
from dataclasses import dataclass, field

from moo_nas.report import made_with
from moo_nas.training import cpu_name


def command_line() -> str:
    """The command this process was started with, as typed from the repository root."""
    script = os.path.relpath(sys.argv[0]) if os.path.isabs(sys.argv[0]) else sys.argv[0]
    return " ".join(["python", script, *map(shlex.quote, sys.argv[1:])])


def load_average() -> str:
    """The host's 1 / 5 / 15-minute load averages, e.g. ``1.02 / 0.85 / 0.70``."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


@dataclass
class RunClock:
    """Wall time and host load between the start of a bench command and its report."""

    start: float = field(default_factory=time.perf_counter)
    load_at_start: str = field(default_factory=load_average)

    def seconds(self) -> float:
        """Wall seconds since the clock was created."""
        return time.perf_counter() - self.start

    def header(self, command: str | None = None) -> list[str]:
        """Markdown lines: the command, the commit, the machine, its load and the wall time."""
        return [f"Command: `{command or command_line()}` ({made_with()}; run from the repository root "
                "of a fresh clone, it rewrites this file).",
                f"Machine: {os.cpu_count()} CPU cores ({cpu_name().removeprefix('cpu:')}), shared with "
                f"other jobs: load average {self.load_at_start} at the start, {load_average()} at the "
                f"end; wall time {self.seconds():.0f} s (inflated by that load; compare times only "
                "within one table)."]
