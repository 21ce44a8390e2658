"""Fit MCU-model constants to published latency and energy measurements.

The MCU model (:mod:`moo_nas.hardware.mcu`) is linear in per-network terms (MACs by layer class
and format, bytes moved, layers, one inference), so ``cycles = terms . constants``.  Given a few
published points (a reference network, its median latency and energy per inference on one
board), :func:`fit` finds

* the cycle constants, by non-negative least squares on the **relative** latency error
  ``sum_i ((cycles_i / clock - t_i) / t_i)^2`` (scipy's NNLS on rows divided by ``t_i``);
  constants are tied in groups (a :class:`Parameterisation`), because four points cannot
  identify one constant per layer class;
* the active power, by least squares on the relative energy error of ``P x modelled
  latency``: ``P = sum(r_i) / sum(r_i^2)`` with ``r_i = modelled t_i / E_i``.

:func:`leave_one_out` refits on all points but one and predicts the one left out, for every
point: the error to expect on a network that was not fitted.

:data:`MLPERF_TINY_V12_H7A3` holds the four MLPerf Tiny v1.2 closed-division results of the
NUCLEO-H7A3ZI-Q (Cortex-M7 at 280 MHz, X-CUBE-AI 9.0.0, int8 networks); the reference networks
are the seeds of the built-in spaces ``resnet8``, ``dscnn``, ``mobilenetv1`` and
``fc-autoencoder`` at int8.  Where a seed's MAC count differs from the published reference
count by more than 1 % (our ``dscnn`` seed while its stem pads to 25x6 instead of 25x5: 3.19 M
vs 2.66 M MACs), its MAC and byte terms are scaled by reference / modelled MACs, so the fit
sees the reference network's work; :attr:`PublishedPoint.scale` reports the factor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy.optimize import nnls

from .. import costs
from ..arch import ArchSpec
from ..errors import UserError
from .features import MAC_CLASSES
from .mcu import STM32H743, TARGET_DIR, McuTarget, cycle_terms

MLPERF_SOURCE = "MLPerf Tiny v1.2 closed division, NUCLEO-H7A3ZI-Q, X-CUBE-AI 9.0.0, median"
H7A3_PROVENANCE = "modelled, fitted to MLPerf Tiny v1.2 H7A3 results"


@dataclass(frozen=True)
class PublishedPoint:
    """One published measurement: a reference network (a built-in space's seed at int8), its
    reference MAC count, and its median latency (s) and energy (J) per inference."""

    task: str
    space: str
    input_shape: tuple[int, ...]
    num_classes: int
    reference_macs: float
    latency_s: float
    energy_j: float
    source: str = MLPERF_SOURCE

    def arch(self) -> ArchSpec:
        """The reference network: the space's seed with every layer at int8."""
        from ..spaces import make_space

        space = make_space(self.space, self.input_shape, self.num_classes, formats=["int8"])
        return space.arch(space.seed_genotype())

    @property
    def scale(self) -> float:
        """Reference / modelled MACs when they differ by more than 1 %, else 1."""
        ratio = self.reference_macs / float(costs.macs(self.arch()))
        return ratio if abs(ratio - 1.0) > 0.01 else 1.0

    def terms(self) -> dict[str, float]:
        """The MCU model's linear terms of the reference network (MAC and byte terms scaled
        by :attr:`scale`)."""
        s = self.scale
        return {k: float(v) * (s if k.startswith("mac:") or k == "bytes" else 1.0)
                for k, v in cycle_terms(self.arch()).items()}


MLPERF_TINY_V12_H7A3: tuple[PublishedPoint, ...] = (
    PublishedPoint("IC", "resnet8", (3, 32, 32), 10, 12.5e6, 40.8e-3, 5090e-6),
    PublishedPoint("KWS", "dscnn", (1, 49, 10), 12, 2.66e6, 11.3e-3, 1376e-6),
    PublishedPoint("VWW", "mobilenetv1", (3, 96, 96), 2, 7.49e6, 23.8e-3, 2965e-6),
    # 640*128 + 3*128^2 + 128*8 + 8*128 + 3*128^2 + 128*640 (anchors round it to 0.26 M)
    PublishedPoint("AD", "fc-autoencoder", (640,), 640, 264192, 1.23e-3, 166e-6),
)
#: the same board in MLPerf Tiny v1.0 (an older X-CUBE-AI): not fitted, compared against
MLPERF_TINY_V10_H7A3_IC = PublishedPoint(
    "IC (v1.0)", "resnet8", (3, 32, 32), 10, 12.5e6, 54.3e-3, 8707e-6,
    "MLPerf Tiny v1.0 closed division, NUCLEO-H7A3ZI-Q, median")


@dataclass(frozen=True)
class Parameterisation:
    """Which model constants are fitted and how they are tied: ``groups`` maps a fitted
    parameter's name to the term-key prefixes it multiplies (``"mac:"`` = every MAC term)."""

    name: str
    groups: tuple[tuple[str, tuple[str, ...]], ...]

    def features(self, terms: dict[str, float]) -> list[float]:
        return [sum(v for k, v in terms.items() if k.startswith(prefixes))
                for _, prefixes in self.groups]


#: one int8 cycles/MAC for every layer class plus cycles per byte moved (the default: the
#: best leave-one-out error of :data:`ALTERNATIVES` on the H7A3 points)
MAC_AND_BYTES = Parameterisation("cycles/MAC + cycles/byte", (("mac", ("mac:",)),
                                                               ("bytes", ("bytes",))))
ALTERNATIVES: tuple[Parameterisation, ...] = (
    MAC_AND_BYTES,
    Parameterisation("cycles/MAC + cycles/layer", (("mac", ("mac:",)), ("layers", ("layers",)))),
    Parameterisation("cycles/MAC (conv+pointwise, depthwise+linear)",
                     (("mac:conv", ("mac:conv", "mac:pointwise")),
                      ("mac:depthwise", ("mac:depthwise", "mac:linear")))),
    Parameterisation("cycles/MAC (conv+pointwise, depthwise, linear)",
                     (("mac:conv", ("mac:conv", "mac:pointwise")),
                      ("mac:depthwise", ("mac:depthwise",)), ("mac:linear", ("mac:linear",)))),
)


@dataclass(frozen=True)
class FitResult:
    """Fitted constants (by parameter name), active power, and the points they reproduce."""

    parameterisation: Parameterisation
    constants: dict[str, float]
    active_power_w: float
    clock_hz: float
    points: tuple[PublishedPoint, ...]

    def latency_s(self, point: PublishedPoint) -> float:
        """Modelled latency of a point's network with the fitted constants."""
        x = self.parameterisation.features(point.terms())
        return float(np.dot(x, [self.constants[n] for n, _ in self.parameterisation.groups])
                     / self.clock_hz)

    def energy_j(self, point: PublishedPoint) -> float:
        return self.latency_s(point) * self.active_power_w

    def errors_pct(self) -> list[tuple[float, float]]:
        """(latency, energy) relative error in percent of every fitted point."""
        return [relative_errors(self, p) for p in self.points]


def relative_errors(result: FitResult, point: PublishedPoint) -> tuple[float, float]:
    """(latency, energy) error of ``result`` on ``point``, percent of the published value."""
    return (100.0 * (result.latency_s(point) / point.latency_s - 1.0),
            100.0 * (result.energy_j(point) / point.energy_j - 1.0))


def fit(points: Sequence[PublishedPoint] = MLPERF_TINY_V12_H7A3,
        parameterisation: Parameterisation = MAC_AND_BYTES, clock_hz: float = 280e6) -> FitResult:
    """Least-squares constants (non-negative, relative latency error) and active power
    (relative energy error) for ``points``; see the module docstring."""
    points = tuple(points)
    if len(points) < len(parameterisation.groups):
        raise UserError(f"fitting {len(parameterisation.groups)} MCU constants needs at least "
                        f"as many published points, got {len(points)}.")
    x = np.array([parameterisation.features(p.terms()) for p in points])
    t = np.array([p.latency_s for p in points])
    rows = x / (t * clock_hz)[:, None]  # row i: relative latency per unit constant
    scale = np.sqrt(np.mean(rows**2, axis=0))
    scale[scale == 0] = 1.0
    coef, _ = nnls(rows / scale, np.ones(len(points)))
    constants = {n: float(c) for (n, _), c in zip(parameterisation.groups, coef / scale)}
    r = (x @ (coef / scale) / clock_hz) / np.array([p.energy_j for p in points])
    power = float(r.sum() / (r**2).sum())
    return FitResult(parameterisation, constants, power, clock_hz, points)


def leave_one_out(points: Sequence[PublishedPoint] = MLPERF_TINY_V12_H7A3,
                  parameterisation: Parameterisation = MAC_AND_BYTES,
                  clock_hz: float = 280e6) -> list[tuple[float, float]]:
    """For each point, the (latency, energy) error in percent of a fit on all the others."""
    points = tuple(points)
    out = []
    for i, held in enumerate(points):
        rest = points[:i] + points[i + 1:]
        out.append(relative_errors(fit(rest, parameterisation, clock_hz), held))
    return out


def to_target(result: FitResult, name: str = "stm32h7a3",
              ratios_from: McuTarget = STM32H743) -> McuTarget:
    """An :class:`McuTarget` with the fitted constants (NUCLEO-H7A3ZI-Q memories).

    Fitted parameters set every int8 constant they tie; int4, half and fp32 cycles/MAC are the
    fitted int8 value times ``ratios_from``'s ratio of that format to int8 (no published
    non-int8 point exists); constants that are not fitted are 0."""
    fitted = {"bytes": 0.0, "layers": 0.0, "inference": 0.0}
    for pname, prefixes in result.parameterisation.groups:
        for prefix in prefixes:
            if prefix == "mac:" or prefix.startswith("mac:"):
                for cls in MAC_CLASSES:
                    if f"mac:{cls}".startswith(prefix):
                        fitted[f"mac:{cls}:int8"] = result.constants[pname]
            else:
                fitted[prefix] = result.constants[pname]
    cpm = {}
    for cls in MAC_CLASSES:
        base = fitted.get(f"mac:{cls}:int8", 0.0)
        for fmt in ("int8", "int4", "half", "fp32"):
            ratio = ratios_from.cycles_per_mac[f"{cls}:{fmt}"] / ratios_from.cycles_per_mac[f"{cls}:int8"]
            cpm[f"{cls}:{fmt}"] = round(base * ratio, 6)
    fit_names = ", ".join(n for n, _ in result.parameterisation.groups)
    return McuTarget(
        name=name, clock_hz=result.clock_hz, cycles_per_mac=cpm,
        cycles_per_byte=round(fitted["bytes"], 6), cycles_per_layer=round(fitted["layers"], 3),
        cycles_per_inference=round(fitted["inference"], 3),
        active_power_w=round(result.active_power_w, 6),
        flash_limit_bytes=2 * 1024**2, ram_limit_bytes=1024 * 1024,
        sources={
            "clock, memories": "NUCLEO-H7A3ZI-Q: 280 MHz, 2 MiB flash, 1 MiB AXI SRAM "
                               "(ST DS13195, STM32H7A3xI datasheet)",
            "fitted": f"{fit_names} and active power: least squares on the relative latency "
                      f"and energy errors of {len(result.points)} points ({MLPERF_SOURCE}), "
                      "moo_nas.hardware.mcu_fit",
            "int4, half, fp32 cycles/MAC": f"assumed: fitted int8 value x {ratios_from.name}'s "
                                           "format / int8 ratio (no published non-int8 point)",
            "not fitted": "constants outside the parameterisation are 0",
        },
        provenance=H7A3_PROVENANCE, runtime="X-CUBE-AI 9.0.0")


def write_target(result: FitResult, path: str | Path | None = None) -> Path:
    """Write the fitted target as a data file (default: the built-in ``stm32h7a3.json``),
    with the fit's per-point and leave-one-out errors under ``"fit"`` (ignored on load)."""
    target = to_target(result)
    loo = leave_one_out(result.points, result.parameterisation, result.clock_hz)
    data = target.to_json()
    data["fit"] = {
        "parameterisation": result.parameterisation.name,
        "points": [
            {"task": p.task, "space": p.space, "mac_scale": round(p.scale, 6),
             "latency_ms": round(p.latency_s * 1e3, 6), "energy_uj": round(p.energy_j * 1e6, 6),
             "modelled_latency_ms": round(result.latency_s(p) * 1e3, 6),
             "modelled_energy_uj": round(result.energy_j(p) * 1e6, 6),
             "error_pct": [round(e, 3) for e in err],
             "leave_one_out_error_pct": [round(e, 3) for e in lo], "source": p.source}
            for p, err, lo in zip(result.points, result.errors_pct(), loo)],
    }
    path = Path(path) if path is not None else TARGET_DIR / f"{target.name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path
