"""``narrow``: narrow-space sampling around a reference model, bounds checked before training.

The workflow of constrained narrow-space search (Scheidegger et al., NeurIPS 2019): sampling
laws derived from a reference model generate a *narrow* family of candidates; each candidate's
memory and predicted latency are checked against the device's bounds **before** it is trained;
only the survivors are asked (so trained).  Number formats are part of the space when the
space has format variables (space option ``formats``).

Sampling laws (all centred on the reference genotype ``r``: the space's seed, with the values of
the ``reference`` option where it names variables):

* **width**: one log-normal multiplier per candidate, ``w = width_median * exp(N(0,
  width_sigma))``, times a per-variable jitter ``exp(N(0, layer_sigma))``; each width variable
  takes the option nearest ``r[v] * w * jitter``;
* **depth** (``stacks``, ``blocks``, ``depth``, ``layers`` or the ``depth_variables`` option):
  the reference option index plus ``round(N(0, depth_sigma))``;
* **formats** (``fmt`` / ``fmt_<layer>`` variables, options ordered by bits): one shift ``s`` of
  the option index per candidate, ``P(s) ~ exp(-|s| / format_decay)`` (over the shifts that
  move some layer within its options), applied to every layer's reference format; then each
  layer moves one more step up or down with probability ``format_jitter``;
* with ``memory_scaling``, every width target is further multiplied by
  ``sqrt(bits_ref / bits_candidate)`` (mean weight bits, weighted by the reference's layer
  weights): weights grow about quadratically with width, so a lower-precision candidate is
  centred on the reference's *memory* instead of its widths (the "narrower number format buys
  a wider network" trade the source paper exploits); it changes no other draw;
* **other** ordered choices (kernel sizes): the reference value, or with probability
  ``other_rate`` a neighbouring option.

Checks before training, in this order (a candidate failing any is rejected and never asked):
flash = ``model_bytes`` <= ``max_model_bytes``; RAM = ``peak_act_bytes`` <= ``max_ram_bytes``;
predicted latency <= ``max_latency_ms``; and every bound of the problem's objectives whose
metric is computable from the layer description (analytic costs, the MCU model, calibrated
predictors).  Flash and RAM values are the formulas of :data:`moo_nas.costs.ANALYTIC_COSTS`
(the same table the ``analytic`` metric provider reads).  The latency predictor is chosen by
``latency_model``: ``mcu`` (the model of :mod:`moo_nas.hardware.mcu` for the target named by
``mcu_target``, default ``stm32h743``), ``calibrated`` (a calibration file, option
``calibration``) or ``auto`` (calibrated if a file is given, else mcu).

Rejected candidates cost no training.  :meth:`NarrowSearch.stats` reports how many candidates
were sampled, rejected (by reason) and trained, and the training time the rejections saved,
*modelled* by a least-squares line of measured training seconds against MACs over the trained
candidates, applied to the rejected ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from moo_nas import costs
from moo_nas.arch import ArchSpec
from moo_nas.errors import UserError
from moo_nas.formats import get_format
from moo_nas.objectives import Candidate, make_provider, metric, provider_for
from moo_nas.space import Genotype, IntRange, Variable

from moo_nas.strategy import Observation, Problem, Strategy

DEPTH_NAMES = ("stacks", "blocks", "depth", "layers")
LATENCY_MODELS = ("auto", "mcu", "calibrated")


@dataclass(frozen=True)
class Check:
    """One bound checked before training: metric name, bound, how the value is obtained."""

    name: str
    bound: float
    source: str
    compute: Callable[[Genotype, ArchSpec], float]
    reason: str  # counter the rejection is filed under


class NarrowSearch(Strategy):
    """Samples a narrow family around a reference; asks only candidates that meet the bounds."""

    name = "narrow"
    description = "narrow-space sampling around a reference; memory/latency checked before training"

    def __init__(self, problem: Problem, seed: int = 0, *, reference: dict[str, Any] | None = None,
                 width_median: float = 1.0, width_sigma: float = 0.25, layer_sigma: float = 0.15,
                 depth_sigma: float = 0.7, format_decay: float = 1.5, format_jitter: float = 0.2,
                 other_rate: float = 0.15, depth_variables: Sequence[str] | None = None,
                 max_model_bytes: float | None = None, max_ram_bytes: float | None = None,
                 max_latency_ms: float | None = None, latency_model: str = "auto",
                 mcu_target: str = "stm32h743", calibration: str | None = None,
                 provider_options: dict[str, dict[str, Any]] | None = None,
                 memory_scaling: bool = False, max_draws: int = 20000, batch: int = 1):
        super().__init__(problem, seed)
        for key, v in (("width_median", width_median), ("width_sigma", width_sigma),
                       ("layer_sigma", layer_sigma), ("depth_sigma", depth_sigma),
                       ("format_decay", format_decay)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0 or not math.isfinite(v):
                raise UserError(f"narrow option {key} must be a non-negative number, got {v!r}.")
        for key, v in (("format_jitter", format_jitter), ("other_rate", other_rate)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                raise UserError(f"narrow option {key} must be a probability in [0, 1], got {v!r}.")
        if width_median <= 0:
            raise UserError("narrow option width_median must be positive (1.0 = the reference's widths).")
        if reference is not None and not isinstance(reference, dict):
            raise UserError("narrow option reference must be a mapping of variable names to values.")
        # a partial reference keeps the seed's value for the variables it does not name
        self.reference = self.space.make({**self.space.seed_genotype().to_dict(),
                                          **dict(reference or {})})
        self.width_median, self.width_sigma = float(width_median), float(width_sigma)
        self.layer_sigma, self.depth_sigma = float(layer_sigma), float(depth_sigma)
        self.format_decay, self.format_jitter = float(format_decay), float(format_jitter)
        self.other_rate = float(other_rate)
        self.max_draws, self._batch = int(max_draws), int(batch)
        depth_names = set(depth_variables) if depth_variables is not None else set(DEPTH_NAMES)
        self.roles = {v.name: self._role(v, depth_names) for v in self.space.variables}
        fmt_vars = [v for v in self.space.variables if self.roles[v.name] == "format"]
        self._fmt_ref = [v.index(self.reference[v.name]) for v in fmt_vars]
        self._fmt_k = len(fmt_vars[0]) if fmt_vars else 1
        self.memory_scaling = bool(memory_scaling)
        ref_arch = self.space.arch(self.reference)
        op_weights = {op.name: float(costs.op_weights(op)) for op in ref_arch.ops}
        # weight of each format variable: the reference's weights of the layer it formats
        self._fmt_weights = {v.name: op_weights.get(v.name[4:], 0.0) or 1.0 for v in fmt_vars}
        self.latency_source = ""
        self.checks = self._make_checks(max_model_bytes, max_ram_bytes, max_latency_ms,
                                        latency_model, mcu_target, calibration,
                                        dict(provider_options or {}))
        self._seen_arch: set[str] = set()
        self._finished = False
        self.counts = {"sampled": 0, "duplicates": 0, "rejected": 0, "rejected_flash": 0,
                       "rejected_ram": 0, "rejected_latency": 0, "rejected_other": 0,
                       "asked": 0, "trained": 0, "infeasible_by_evaluator": 0, "failed": 0}
        self.rejected: list[tuple[Genotype, str, float]] = []  # genotype, reason, MACs
        self._trained: list[tuple[float, float]] = []  # (MACs, measured training seconds)
        self._asked_macs: dict[str, float] = {}

    # ------------------------------------------------------------------ configuration
    @staticmethod
    def _role(v: Variable, depth_names: set[str]) -> str:
        if v.name == "fmt" or v.name.startswith("fmt_"):
            return "format"
        if isinstance(v, IntRange):
            return "depth" if v.name in depth_names else "width"
        numeric = all(isinstance(o, (int, float)) and not isinstance(o, bool) for o in v.options)
        return "ordinal" if numeric else "label"

    def _latency(self, model: str, mcu_target: str, calibration: str | None
                 ) -> tuple[Callable[[Genotype, ArchSpec], float], str]:
        if model not in LATENCY_MODELS:
            raise UserError(f"narrow option latency_model {model!r} is unknown; use "
                            f"{', '.join(LATENCY_MODELS[:-1])} or {LATENCY_MODELS[-1]}.")
        if model == "calibrated" and not calibration:
            raise UserError("latency_model 'calibrated' needs the option calibration=<file> "
                            "written by 'moo-nas calibrate'.")
        if model == "calibrated" or (model == "auto" and calibration):
            prov = make_provider("calibrated", latency=calibration)
            src = f"predicted: calibrated latency model {calibration}"
            return (lambda g, a: prov.compute(Candidate(self.space, g, a))["cal_latency_ms"].value,
                    src)
        from moo_nas.hardware import mcu

        target = mcu.get_target(mcu_target)
        return (lambda g, a: float(mcu.latency_seconds(a, target)) * 1e3,
                f"{target.provenance}: MCU model {target.describe()}")

    def _make_checks(self, max_model_bytes, max_ram_bytes, max_latency_ms, latency_model,
                     mcu_target, calibration, provider_options) -> list[Check]:
        checks: list[Check] = []
        for key, v in (("max_model_bytes", max_model_bytes), ("max_ram_bytes", max_ram_bytes),
                       ("max_latency_ms", max_latency_ms)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0):
                raise UserError(f"narrow option {key} must be a positive number, got {v!r}.")
        table = costs.ANALYTIC_COSTS
        for bound, cost, reason in ((max_model_bytes, table["model_bytes"], "rejected_flash"),
                                    (max_ram_bytes, table["peak_act_bytes"], "rejected_ram")):
            if bound is not None:
                checks.append(Check(cost.name, float(bound), cost.source,
                                    lambda g, a, cost=cost: float(cost(a)), reason))
        lat, self.latency_source = self._latency(latency_model, mcu_target, calibration)
        if max_latency_ms is not None:
            checks.append(Check("latency_ms", float(max_latency_ms), self.latency_source, lat,
                                "rejected_latency"))
        for obj in self.problem.constrained:
            pname = provider_for(obj.name)
            if pname is None or metric(obj.name).stage != "arch":
                continue  # known only after building or training: the evaluator checks it
            sign = 1.0 if obj.direction == "min" else -1.0
            reason = {"model_bytes": "rejected_flash", "flash_bytes": "rejected_flash",
                      "peak_act_bytes": "rejected_ram", "ram_bytes": "rejected_ram"}.get(
                obj.name, "rejected_latency" if "latency" in obj.name else "rejected_other")
            if obj.name in table:  # an analytic cost: its formula, not the whole provider
                cost = table[obj.name]
                checks.append(Check(obj.name, sign * float(obj.bound), cost.source,
                                    lambda g, a, cost=cost, sign=sign: sign * float(cost(a)),
                                    reason))
                continue
            opts = dict(provider_options.get(pname, {}))
            if pname == "mcu":
                opts.setdefault("target", mcu_target)
            if pname == "calibrated" and calibration:
                opts.setdefault("latency", calibration)
            prov = make_provider(pname, **opts)

            def compute(g, a, prov=prov, name=obj.name, sign=sign):
                return sign * prov.compute(Candidate(self.space, g, a))[name].value

            checks.append(Check(obj.name, sign * float(obj.bound), f"objective bound via {pname}",
                                compute, reason))
        return checks

    # ------------------------------------------------------------------ sampling laws
    def _nearest(self, v: Variable, target: float) -> int:
        opts = np.asarray(v.options, dtype=float)
        return int(np.argmin(np.abs(opts - target)))

    def sample(self) -> Genotype:
        """Draw one genotype from the narrow distribution (no bound check)."""
        rng, ref = self.rng, self.reference
        log_w = math.log(self.width_median) + self.width_sigma * rng.standard_normal()
        fmt_shift: int | None = None
        values: dict[str, Any] = {}
        widths: dict[str, float] = {}  # target widths, snapped once the formats are known
        for v in self.space.variables:
            role, r = self.roles[v.name], v.index(ref[v.name])
            k = len(v)
            if role == "width":
                jitter = self.layer_sigma * rng.standard_normal()
                widths[v.name] = float(ref[v.name]) * math.exp(log_w + jitter)
                continue
            elif role == "depth":
                i = r + int(round(self.depth_sigma * rng.standard_normal()))
            elif role == "format":
                if fmt_shift is None:
                    fmt_shift = self._format_shift()
                i = r + fmt_shift
                if rng.random() < self.format_jitter:
                    i += 1 if rng.random() < 0.5 else -1
            elif role == "ordinal":
                i = r
                if k > 1 and rng.random() < self.other_rate:
                    i = r + (1 if rng.random() < 0.5 else -1)
                    if not 0 <= i < k:
                        i = 2 * r - i
            else:
                i = r
                if k > 1 and rng.random() < self.other_rate:
                    i = (r + 1 + int(rng.integers(k - 1))) % k
            values[v.name] = v.options[min(max(i, 0), k - 1)]
        scale = 1.0
        if self.memory_scaling and self._fmt_weights:
            scale = math.sqrt(self._weight_bits(ref) / self._weight_bits(values))
        for name, target in widths.items():
            v = self.space.variable(name)
            values[name] = v.options[self._nearest(v, target * scale)]
        return self.space.make(values)

    def _weight_bits(self, values: Any) -> float:
        """Mean weight bits of an assignment, weighted by the reference's layer weights."""
        total = sum(self._fmt_weights.values())
        return sum(w * get_format(str(values[n])).bits for n, w in self._fmt_weights.items()) / total

    def _format_shift(self) -> int:
        """One shift of every layer's format index per candidate, ``P(s) ~ exp(-|s| / decay)``
        over the shifts that move at least one layer inside its options."""
        lo = -max(self._fmt_ref) if self._fmt_ref else 0
        hi = max(self._fmt_k - 1 - r for r in self._fmt_ref) if self._fmt_ref else 0
        shifts = np.arange(lo, hi + 1)
        weights = np.exp(-np.abs(shifts) / max(self.format_decay, 1e-9))
        return int(self.rng.choice(shifts, p=weights / weights.sum()))

    def check(self, genotype: Genotype, arch: ArchSpec | None = None) -> str | None:
        """Name of the counter of the first violated bound, or None when all bounds hold."""
        arch = arch if arch is not None else self.space.arch(genotype)
        for c in self.checks:
            if c.compute(genotype, arch) > c.bound:
                return c.reason
        return None

    # ------------------------------------------------------------------ ask / tell
    def batch_size(self) -> int:
        return self._batch

    def finished(self) -> bool:
        return self._finished

    def ask(self, n: int) -> list[Genotype]:
        out: list[Genotype] = []
        draws = 0
        while len(out) < n:
            if draws >= self.max_draws:
                if self.counts["asked"] + len(out) == 0:
                    raise UserError(self._impossible_message())
                self._finished = True
                break
            draws += 1
            g = self.sample()
            arch = self.space.arch(g)
            key = arch.fingerprint()
            if key in self._seen_arch:
                self.counts["duplicates"] += 1
                continue
            self._seen_arch.add(key)
            self.counts["sampled"] += 1
            reason = self.check(g, arch)
            if reason is not None:
                self.counts["rejected"] += 1
                self.counts[reason] += 1
                self.rejected.append((g, reason, float(costs.macs(arch))))
                continue
            self._asked_macs[g.key] = float(costs.macs(arch))
            out.append(g)
        self.counts["asked"] += len(out)
        return out

    def _impossible_message(self) -> str:
        bounds = ", ".join(f"{c.name} <= {c.bound:g}" for c in self.checks)
        return (f"narrow search found no candidate meeting the bounds ({bounds}) in "
                f"{self.max_draws} draws around the reference; loosen the bounds, lower "
                "width_median or give a smaller reference genotype.")

    def tell(self, observations: Sequence[Observation]) -> None:
        for o in observations:
            self._seen_arch.add(self.space.arch(o.genotype).fingerprint())
            if o.status == "failed":
                self.counts["failed"] += 1
            seconds = _train_seconds(o.evaluation)
            if seconds > 0:
                self.counts["trained"] += 1
                macs = self._asked_macs.get(o.genotype.key)
                if macs is None:
                    macs = float(costs.macs(self.space.arch(o.genotype)))
                self._trained.append((macs, seconds))
            elif o.status == "infeasible":
                self.counts["infeasible_by_evaluator"] += 1

    # ------------------------------------------------------------------ report
    def train_time_model(self) -> tuple[float, float] | None:
        """``(a, b)`` of the fitted ``train_seconds ~ a + b * MACs`` over trained candidates
        (through the origin when fewer than two distinct MAC counts), or None before any."""
        if not self._trained:
            return None
        x = np.array([m for m, _ in self._trained])
        y = np.array([s for _, s in self._trained])
        if len(np.unique(x)) >= 2:
            b, a = np.polyfit(x, y, 1)
            if b > 0 and a >= 0:
                return float(a), float(b)
        return 0.0, float(y.sum() / max(x.sum(), 1.0))

    def estimate_train_seconds(self, macs: float) -> float | None:
        """Modelled training seconds of a candidate with ``macs`` (None before any training)."""
        fit = self.train_time_model()
        return None if fit is None else fit[0] + fit[1] * float(macs)

    def stats(self) -> dict[str, float]:
        """Counters: sampled (distinct architectures drawn), rejected (and by reason), asked,
        trained, duplicates; ``rejected_fraction``; ``train_seconds`` measured on the trained
        candidates and ``est_train_seconds_saved`` (modelled, see the module docstring)."""
        out = {k: float(v) for k, v in self.counts.items()}
        out["rejected_fraction"] = self.counts["rejected"] / max(1, self.counts["sampled"])
        out["train_seconds"] = float(sum(s for _, s in self._trained))
        if self._trained:
            out["est_train_seconds_saved"] = float(
                sum(self.estimate_train_seconds(m) for _, _, m in self.rejected))
        return out


def _train_seconds(evaluation: Any) -> float:
    """Measured training seconds of an engine's stored evaluation or an evaluator's result."""
    if evaluation is None:
        return 0.0
    for attr in ("train_s", "train_seconds"):
        v = getattr(evaluation, attr, None)
        if v is not None:
            return float(v)
    return 0.0
