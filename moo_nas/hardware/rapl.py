"""CPU energy from Intel RAPL counters (``/sys/class/powercap``), measured.

``rapl`` → ``cpu_energy_mj``: the package-domain counters (``intel-rapl:<n>/energy_uj``,
microjoules, wrapping at ``max_energy_range_uj``) are read before and after a loop of
onnxruntime inferences lasting at least ``min_seconds``; energy per inference is the summed
difference over packages divided by the number of inferences.  Package energy includes
everything else the socket runs meanwhile, and the source says so.

The provider is usable only when at least one package counter is readable (often root-only
since Linux 5.10); otherwise ``cpu_energy_mj`` is taken by a stand-in that raises a
:class:`~moo_nas.errors.UserError` when asked for.  Energy is never estimated here.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..objectives import Candidate, MetricDef, MetricProvider, Value, register_provider
from .availability import register_unavailable
from .host import EnergyMeasurement, TimingProtocol
from .onnx_runtime import cpu_name, export_onnx, float_module, make_session

POWERCAP = Path("/sys/class/powercap")
ENERGY = MetricDef("cpu_energy_mj", "mJ", "min", "model",
                   "measured CPU package energy per inference (Intel RAPL), onnxruntime")


@dataclass(frozen=True)
class RaplDomain:
    """One package counter: its directory, name and wrap-around range (microjoules)."""

    path: Path
    name: str
    max_range_uj: int

    def read_uj(self) -> int:
        return int((self.path / "energy_uj").read_text().strip())


def package_domains(root: Path = POWERCAP) -> list[RaplDomain]:
    """Readable top-level RAPL package domains under ``root`` (``intel-rapl:<n>``)."""
    out: list[RaplDomain] = []
    if not root.is_dir():
        return out
    for d in sorted(root.glob("intel-rapl:*")):
        if d.name.count(":") != 1:  # sub-domains (core, uncore, dram) are inside packages
            continue
        try:
            name = (d / "name").read_text().strip() if (d / "name").exists() else d.name
            max_range = int((d / "max_energy_range_uj").read_text().strip())
            RaplDomain(d, name, max_range).read_uj()
        except (OSError, ValueError):
            continue
        out.append(RaplDomain(d, name, max_range))
    return out


def energy_delta_uj(before: int, after: int, max_range_uj: int) -> int:
    """Counter difference, allowing for one wrap-around."""
    return after - before if after >= before else after + max_range_uj - before


def unavailable_reason(root: Path = POWERCAP) -> str | None:
    """None when a package counter is readable under ``root``, else why not."""
    if not root.is_dir():
        return f"{root} does not exist (no Intel RAPL on this machine); measure energy on a board with the external provider."
    if not package_domains(root):
        return f"no readable RAPL package counter under {root}; run with read access to energy_uj (often root)."
    return None


@dataclass(frozen=True)
class RaplMeasurement(EnergyMeasurement):
    """Package energy over a loop: per inference, mean power, loop length, domains read."""

    domains: tuple[str, ...] = ()


def measure_session_energy(session, input_shape, protocol: TimingProtocol,
                           min_seconds: float, root: Path = POWERCAP) -> RaplMeasurement:
    """Run an onnxruntime session back to back for >= ``min_seconds`` and >= repeats
    inferences and read the package counters around the loop."""
    import numpy as np

    domains = package_domains(root)
    if not domains:
        raise UserError(f"cpu_energy_mj cannot be measured: {unavailable_reason(root)}")
    x = np.random.default_rng(0).standard_normal((protocol.batch, *input_shape)).astype(np.float32)
    feed = {session.get_inputs()[0].name: x}
    for _ in range(protocol.warmup):
        session.run(None, feed)
    before = [d.read_uj() for d in domains]
    t0 = time.perf_counter()
    n = 0
    while n < protocol.repeats or time.perf_counter() - t0 < min_seconds:
        session.run(None, feed)
        n += 1
    elapsed = time.perf_counter() - t0
    after = [d.read_uj() for d in domains]
    joules = sum(energy_delta_uj(b, a, d.max_range_uj)
                 for b, a, d in zip(before, after, domains)) / 1e6
    return RaplMeasurement.of_loop(joules, n * protocol.batch, elapsed,
                                   domains=tuple(d.name for d in domains))


class RaplEnergy(MetricProvider):
    """``cpu_energy_mj``: RAPL package energy per onnxruntime inference (options: batch,
    warmup, repeats, threads, min_seconds)."""

    name = "rapl"
    stage = "model"
    metrics = (ENERGY,)

    def __init__(self, batch: int = 1, warmup: int = 10, repeats: int = 100, threads: int = 1,
                 min_seconds: float = 2.0):
        reason = unavailable_reason()
        if reason:
            raise UserError(f"cpu_energy_mj cannot be measured: {reason}")
        self.protocol = TimingProtocol(batch, warmup, repeats, "total", threads)
        self.min_seconds = float(min_seconds)
        self.device = cpu_name()

    def cache_key(self) -> str:
        return (f"{self.name}|{self.device}|batch {self.protocol.batch}|{self.protocol.threads} "
                f"thread(s)|>= {self.protocol.repeats} inferences and {self.min_seconds:g} s")

    def compute(self, candidate: Candidate) -> dict[str, Value]:
        with tempfile.TemporaryDirectory(prefix="moo_nas_rapl_") as tmp:
            path = export_onnx(float_module(candidate.arch), candidate.space.input_shape,
                               Path(tmp) / "model.onnx", self.protocol.batch)
            session = make_session(path, self.protocol.threads)
            m = measure_session_energy(session, candidate.space.input_shape, self.protocol,
                                       self.min_seconds)
        src = (f"measured: Intel RAPL package counters {', '.join(m.domains)} on {self.device} "
               f"(whole package, other load included), onnxruntime {self.protocol.threads} "
               f"thread(s), {m.inferences} inferences of batch {self.protocol.batch} in "
               f"{m.seconds:.2f} s")
        return {"cpu_energy_mj": m.value(src)}


_REASON = unavailable_reason()
#: the provider registered as ``rapl``: the real one where the counters are readable, otherwise
#: a stand-in that refuses with the reason
ENERGY_PROVIDER: type[MetricProvider] = (register_provider(RaplEnergy) if _REASON is None
                                         else register_unavailable("rapl", (ENERGY,), _REASON))
