"""Latency and energy measured on an external device by a user-given command (TEA-DNN style).

For each candidate the network is exported to ONNX (float32 graph, batch 1) and the command
is run as an argument list (never through a shell) with the ONNX path substituted for the
argument ``{onnx}`` (appended at the end when no argument contains it).  The command deploys
and measures the network however the board needs, and prints one JSON object on stdout::

    {"latency_ms": 12.3, "energy_mj": 4.5, "device": "NUCLEO-H743ZI2", ...}

``latency_ms`` is required, ``energy_mj`` optional (absent = no meter: no energy is
reported), other keys are kept in the value's source.  A timeout, a non-zero exit status or
output that is not such an object raises :class:`MeasurementFailed` with the command's own
message, which the evaluator records as a failed evaluation.  Results are cached per network
structure in memory and, with ``cache_file``, in a JSON file shared across runs.
"""

from __future__ import annotations

import json
import math
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..arch import ArchSpec
from ..errors import UserError
from ..objectives import Candidate, MetricDef, MetricProvider, Value, register_provider
from .onnx_runtime import export_onnx, float_module

PLACEHOLDER = "{onnx}"


class MeasurementFailed(RuntimeError):
    """The external command did not produce a measurement; the message says why."""


@dataclass(frozen=True)
class ExternalResult:
    """What the command reported for one network."""

    latency_ms: float
    energy_mj: float | None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = dict(self.extra)
        d["latency_ms"] = self.latency_ms
        if self.energy_mj is not None:
            d["energy_mj"] = self.energy_mj
        return d


def _tail(text: str, n: int = 400) -> str:
    text = (text or "").strip()
    return text if len(text) <= n else "..." + text[-n:]


def parse_output(stdout: str) -> ExternalResult:
    """Read the JSON object from a command's stdout (the whole output, else its last
    non-empty line); raises :class:`MeasurementFailed` when it is not a valid measurement."""
    text = stdout.strip()
    data: Any = None
    for candidate in (text, text.splitlines()[-1] if text else ""):
        try:
            data = json.loads(candidate)
            break
        except json.JSONDecodeError:
            continue
    if not isinstance(data, dict):
        raise MeasurementFailed(f"command output is not a JSON object: {_tail(stdout, 200)!r}")

    def number(key: str) -> float | None:
        if key not in data:
            return None
        v = data[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise MeasurementFailed(f"command reported {key}={v!r}; it must be a finite number >= 0")
        return float(v)

    latency = number("latency_ms")
    if latency is None:
        raise MeasurementFailed(f"command output has no 'latency_ms': {_tail(text, 200)!r}")
    extra = {k: v for k, v in data.items() if k not in ("latency_ms", "energy_mj")}
    return ExternalResult(latency, number("energy_mj"), extra)


def run_command(command: Sequence[str], onnx_path: str | Path, timeout_s: float) -> ExternalResult:
    """Run the measuring command on one ONNX file and parse what it prints."""
    path = str(onnx_path)
    args = [a.replace(PLACEHOLDER, path) for a in command]
    if not any(PLACEHOLDER in a for a in command):
        args.append(path)
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s,
                              check=False, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr
        raise MeasurementFailed(f"command {args[0]!r} timed out after {timeout_s:g} s"
                                + (f": {_tail(err or '')}" if err else "")) from None
    except OSError as exc:
        raise MeasurementFailed(f"command {args[0]!r} could not start: {exc}") from None
    if proc.returncode != 0:
        msg = _tail(proc.stderr) or _tail(proc.stdout) or "(no output)"
        raise MeasurementFailed(f"command {args[0]!r} exited with status {proc.returncode}: {msg}")
    return parse_output(proc.stdout)


@register_provider
class ExternalDevice(MetricProvider):
    """``ext_latency_ms`` / ``ext_energy_mj`` measured by an external command.

    Options: ``command`` (list of arguments, required), ``device`` (a label for provenance),
    ``timeout_s`` (120), ``cache_file`` (JSON file of results by network structure),
    ``expect_energy`` (False; True makes output without ``energy_mj`` a failed measurement).
    """

    name = "external"
    stage = "model"
    metrics = (
        MetricDef("ext_latency_ms", "ms", "min", "model",
                  "latency measured on an external device by a user command"),
        MetricDef("ext_energy_mj", "mJ", "min", "model",
                  "energy measured on an external device by a user command (if it has a meter)"),
    )

    def __init__(self, command: Sequence[str] | None = None, device: str = "external device",
                 timeout_s: float = 120.0, cache_file: str | None = None, input_batch: int = 1,
                 expect_energy: bool = False):
        if (not command or isinstance(command, str)
                or not all(isinstance(a, str) for a in command)):
            raise UserError("the external provider needs option command as a list of arguments, "
                            "e.g. command = ['python', 'measure_on_board.py', '{onnx}'].")
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or timeout_s <= 0:
            raise UserError(f"external option timeout_s must be a positive number, got {timeout_s!r}.")
        self.command = list(command)
        self.device = str(device)
        self.timeout_s = float(timeout_s)
        self.batch = int(input_batch)
        self.expect_energy = bool(expect_energy)
        self.cache_file = Path(cache_file) if cache_file else None
        self._cache: dict[str, ExternalResult] = {}
        if self.cache_file and self.cache_file.is_file():
            try:
                stored = json.loads(self.cache_file.read_text())
                self._cache = {k: parse_output(json.dumps(v)) for k, v in stored.items()}
            except (json.JSONDecodeError, AttributeError, MeasurementFailed) as exc:
                raise UserError(f"external cache file {str(self.cache_file)!r} is unreadable "
                                f"({exc}); delete it to measure again.") from None

    def cache_key(self) -> str:
        return f"{self.name}|{self.device}|{json.dumps(self.command)}|batch {self.batch}"

    def measure_arch(self, arch: ArchSpec, input_shape: Sequence[int]) -> ExternalResult:
        """Measure one network (cached by its structure fingerprint)."""
        key = arch.fingerprint()
        if key in self._cache:
            return self._cache[key]
        with tempfile.TemporaryDirectory(prefix="moo_nas_ext_") as tmp:
            path = export_onnx(float_module(arch), input_shape, Path(tmp) / "model.onnx", self.batch)
            result = run_command(self.command, path, self.timeout_s)
        if self.expect_energy and result.energy_mj is None:
            raise MeasurementFailed(f"command {self.command[0]!r} reported no 'energy_mj' "
                                    "although expect_energy is set")
        self._cache[key] = result
        if self.cache_file is not None:
            data = {k: v.to_json() for k, v in self._cache.items()}
            tmp_path = self.cache_file.with_suffix(self.cache_file.suffix + ".tmp")
            tmp_path.write_text(json.dumps(data, indent=1, sort_keys=True))
            tmp_path.replace(self.cache_file)
        return result

    def compute(self, candidate: Candidate) -> dict[str, Value]:
        r = self.measure_arch(candidate.arch, candidate.space.input_shape)
        extra = f", reported {json.dumps(r.extra, sort_keys=True)}" if r.extra else ""
        src = (f"measured: external command {self.command[0]!r} on {self.device}, "
               f"batch {self.batch}, ONNX float32 graph{extra}")
        out = {"ext_latency_ms": Value(r.latency_ms, "measured", src)}
        if r.energy_mj is not None:
            out["ext_energy_mj"] = Value(r.energy_mj, "measured", src)
        return out
