"""Number formats a layer's weights and activations can be stored and computed in.

A :class:`NumberFormat` knows its storage bit-width (used by the cost formulas) and how to
emulate itself on a float32 tensor (fake quantisation with a straight-through gradient), so a
candidate's accuracy is measured in that format.

Names: ``fp32``, ``fp16``, ``bf16``, ``int8``, ``int4``, ``int2`` and custom IEEE-754-style
floats ``eXmY`` (X exponent bits, Y mantissa bits, e.g. ``e5m2``, ``e4m3``, ``e5m6``).

Float emulation is exact, not approximate: values are rounded to nearest, ties to even, with
IEEE subnormals, overflow to +-inf (a value at or beyond the largest finite number plus half
a unit in the last place becomes inf, as an IEEE cast does), NaN kept and the sign of zero
kept.  The top exponent code is reserved for inf/NaN as in IEEE 754, so ``e4m3`` here has a
largest finite value of 240 (the OCP "E4M3FN" 8-bit format, which reuses that code, is a
different format), while ``e5m2`` equals ``torch.float8_e5m2`` bit for bit.

Integer formats are symmetric fake quantisation with ``2**(bits-1) - 1`` levels each side of
zero and a scale ``max|x| / levels``: per output channel (dimension 0) for weights, per tensor
for activations; the bias of a deployed layer is int32 (see :attr:`NumberFormat.bias_bits`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import torch

from .errors import UserError


class _StraightThrough(torch.autograd.Function):
    """Returns the rounded tensor exactly; the backward pass is the identity."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        return q

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad, None


@dataclass(frozen=True)
class NumberFormat:
    """A storage/compute number format.

    ``kind`` is ``"float"`` (sign + ``exponent`` + ``mantissa`` bits, IEEE-style bias,
    subnormals, round to nearest even) or ``"int"`` (symmetric fake quantisation; per output
    channel for weights, per tensor for activations).
    """

    name: str
    kind: str
    bits: int
    exponent: int = 0
    mantissa: int = 0

    @property
    def is_identity(self) -> bool:
        """True for fp32, which every computation here already uses."""
        return self.kind == "float" and self.exponent == 8 and self.mantissa == 23

    @property
    def bias_bits(self) -> int:
        """Bits of a bias in a deployed layer: int32 for integer formats, else the float width."""
        return 32 if self.kind == "int" else self.bits

    @property
    def max_finite(self) -> float:
        """Largest finite value (float formats) or largest integer code (int formats)."""
        if self.kind == "int":
            return float(2 ** (self.bits - 1) - 1)
        emax = 2**self.exponent - 2 - (2 ** (self.exponent - 1) - 1)
        return (2.0 - 2.0 ** (-self.mantissa)) * 2.0**emax

    def quantize(self, x: torch.Tensor, per_channel: bool = False) -> torch.Tensor:
        """Round ``x`` to this format (the result stays float32).

        The forward value is exactly the rounded tensor; the gradient passes straight through
        (identity).  ``per_channel`` only matters for integer formats: one scale per index of
        dimension 0 (output channel of a weight) instead of one per tensor.
        """
        if self.is_identity:
            return x
        with torch.no_grad():
            q = self.round(x.detach(), per_channel)
        if x.requires_grad:
            return _StraightThrough.apply(x, q)
        return q

    def round(self, x: torch.Tensor, per_channel: bool = False) -> torch.Tensor:
        """Round without autograd bookkeeping (see :meth:`quantize`)."""
        if self.kind == "int":
            return round_to_int(x, self.bits, per_channel)
        if self.is_identity:
            return x.to(torch.float32)
        if self.name == "fp16":  # the native casts are exact and fastest
            return x.to(torch.float16).to(torch.float32)
        if self.name == "bf16":
            return x.to(torch.bfloat16).to(torch.float32)
        return round_to_float(x, self.exponent, self.mantissa)


def round_to_float(x: torch.Tensor, exponent: int, mantissa: int) -> torch.Tensor:
    """Round float32 ``x`` to the IEEE-style float with ``exponent`` / ``mantissa`` bits.

    Round to nearest, ties to even; subnormals; overflow to +-inf; NaN and signed zeros kept.
    Needs ``2 <= exponent <= 8`` and ``0 <= mantissa <= 23`` (so the format fits in float32).

    Two exact algorithms, chosen by format:

    * exponent <= 7 and mantissa <= 22 (:func:`_round_magic`): add and subtract, per element,
      a power of two ``c`` whose float32 ulp is the target's spacing at that magnitude
      (``2**(max(e, emin) - mantissa)``), so the float32 adder itself rounds to nearest even;
      the exponent of ``c`` is clamped to ``[emin, emax + 1]``, which also gives subnormals;
      overflow is a multiply by ``2**(127 - emax)`` and back (exact below the overflow
      threshold, inf above it); NaN propagates.  About ten cheap elementwise passes.
    * otherwise (:func:`_round_bits`): round on the float32 bit pattern (add half an ulp minus
      one plus the lowest kept bit, clear the dropped bits; a carry into the exponent is the
      correct round-up), with the add/subtract trick for the target's subnormals.

    Either way the result is exact; the two are cross-checked in the tests.  While a model
    is traced or exported to ONNX, :func:`_round_arith` (log2 / pow / round, no bit
    reinterpretation) is used instead: same values, except that zeros are unsigned.
    """
    x = x.to(torch.float32)
    if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
        return _round_arith(x, exponent, mantissa)  # exporters cannot reinterpret bits
    if exponent <= 7 and mantissa <= 22:
        return _round_magic(x, exponent, mantissa)
    return _round_bits(x, exponent, mantissa)


def _limits(exponent: int, mantissa: int) -> tuple[int, int, float]:
    bias = 2 ** (exponent - 1) - 1
    emin, emax = 1 - bias, 2**exponent - 2 - bias
    return emin, emax, (2.0 - 2.0 ** (-mantissa)) * 2.0**emax


def _round_magic(x: torch.Tensor, exponent: int, mantissa: int) -> torch.Tensor:
    emin, emax, _ = _limits(exponent, mantissa)
    xb = x.contiguous().view(torch.int32)
    sign = torch.bitwise_and(xb, -(2**31))
    cb = torch.bitwise_and(xb, 0x7F800000)
    cb.clamp_(min=(emin + 127) << 23, max=(emax + 1 + 127) << 23)
    cb.add_((23 - mantissa) << 23).bitwise_or_(sign)  # c carries x's sign: RNE is symmetric
    c = cb.view(torch.float32)
    q = torch.add(x, c).sub_(c)
    # overflow: magnitudes >= 2**(emax+1) scale past float32's range to inf; others exactly back
    q.mul_(2.0 ** (127 - emax)).mul_(2.0 ** (emax - 127))
    return q.view(torch.int32).bitwise_or_(sign).view(torch.float32)  # -0 for negative ties to 0


def _round_arith(x: torch.Tensor, exponent: int, mantissa: int) -> torch.Tensor:
    emin, _, max_finite = _limits(exponent, mantissa)
    ax = torch.abs(x)
    safe = torch.where(ax > 0, ax, torch.ones_like(ax))
    e = torch.floor(torch.log2(safe))
    # log2 may round across a power of two: correct the exponent so 2**e <= ax < 2**(e+1)
    e = torch.where(torch.pow(2.0, e) > safe, e - 1, e)
    e = torch.where(torch.pow(2.0, e + 1) <= safe, e + 1, e)
    quantum = torch.pow(2.0, torch.clamp(e, min=emin) - mantissa)
    q = torch.round(ax / quantum) * quantum  # round half to even
    q = torch.where(q > max_finite, torch.full_like(q, float("inf")), q)
    q = torch.where(x < 0, -q, q)
    return torch.where(torch.isnan(x), x, q)


def _round_bits(x: torch.Tensor, exponent: int, mantissa: int) -> torch.Tensor:
    emin, emax, max_finite = _limits(exponent, mantissa)
    drop = 23 - mantissa
    ax = x.abs()
    q = ax.clone()
    if drop > 0:
        bits = torch.clamp_max(q.view(torch.int32), 0x7F800000)  # NaN payloads -> inf code
        keep_lsb = torch.bitwise_and(torch.bitwise_right_shift(bits, drop), 1)
        bits.add_(keep_lsb).add_((1 << (drop - 1)) - 1).bitwise_and_(~((1 << drop) - 1))
        q = bits.view(torch.float32)
    if emin > -126:  # the target's subnormals are float32 normals: round them separately
        c = 2.0 ** (emin - mantissa + 23)
        q = torch.where(ax < 2.0**emin, (ax + c) - c, q)
    q = torch.where(q > max_finite, torch.full_like(q, float("inf")), q)
    return torch.where(torch.isnan(x), x, torch.copysign(q, x))


def round_to_int(x: torch.Tensor, bits: int, per_channel: bool = False) -> torch.Tensor:
    """Symmetric integer fake quantisation: ``clamp(round(x / s), -L, L) * s``.

    ``L = 2**(bits-1) - 1`` and ``s = max|x| / L`` over the whole tensor, or over each index of
    dimension 0 when ``per_channel`` (an all-zero channel stays zero).  Rounding is to nearest,
    ties to even.
    """
    x = x.to(torch.float32)
    levels = 2 ** (bits - 1) - 1
    if per_channel and x.dim() > 1:
        amax = x.abs().flatten(1).amax(dim=1).view(-1, *([1] * (x.dim() - 1)))
    else:
        amax = x.abs().amax()
    scale = torch.clamp(amax, min=torch.finfo(torch.float32).tiny) / levels
    return torch.clamp(torch.round(x / scale), -levels, levels) * scale


_BUILTIN = {
    "fp32": NumberFormat("fp32", "float", 32, 8, 23),
    "fp16": NumberFormat("fp16", "float", 16, 5, 10),
    "bf16": NumberFormat("bf16", "float", 16, 8, 7),
    "int8": NumberFormat("int8", "int", 8),
    "int4": NumberFormat("int4", "int", 4),
    "int2": NumberFormat("int2", "int", 2),
}

_CUSTOM = re.compile(r"^e(\d+)m(\d+)$")


@lru_cache(maxsize=None)
def get_format(name: str) -> NumberFormat:
    """Look a format up by name (``fp32``, ``fp16``, ``bf16``, ``int8``, ``int4``, ``int2``,
    ``eXmY``); an unknown or impossible name raises :class:`UserError`."""
    if not isinstance(name, str):
        raise UserError(f"number format must be a name such as 'fp16', got {name!r}.")
    if name in _BUILTIN:
        return _BUILTIN[name]
    m = _CUSTOM.match(name)
    if m:
        e, mant = int(m.group(1)), int(m.group(2))
        if not (2 <= e <= 8 and 0 <= mant <= 23):
            raise UserError(
                f"custom float {name!r} needs 2..8 exponent bits and 0..23 mantissa bits."
            )
        return NumberFormat(name, "float", 1 + e + mant, e, mant)
    raise UserError(
        f"unknown number format {name!r}; use fp32, fp16, bf16, int8, int4, int2 or eXmY "
        "(e.g. e5m2)."
    )


def format_bits(name: str) -> int:
    """Storage bits of a format name."""
    return get_format(name).bits
