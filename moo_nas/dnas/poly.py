"""Cost formulas traced once into polynomials, then evaluated per step by a few tensor ops.

The mixed-precision search evaluates the analytic cost formulas (:mod:`moo_nas.costs`) on
expected channel counts and expected activation bit-widths at every step.  Those formulas
are sums of products of the counts, bit-widths and constants, so running them once on
:class:`Poly` variables records each cost as a polynomial; :class:`CompiledPoly` then gives
its value - a differentiable function of the variable vector - by one gather, product and
sum per degree, instead of hundreds of scalar autograd nodes per step.  The polynomial is the
formula (same terms, same coefficients); only the order of the floating-point sums changes,
and the sums run in float64.

A formula that leaves polynomials (division by a variable, ``max``, rounding, comparisons, an
equality test on a strict variable: a formula that branches on it is piecewise)
raises :class:`NotPolynomial` while being traced, so callers can fall back to evaluating it
on tensors.
"""

from __future__ import annotations

from typing import Union

import numpy as np
import torch

Scalar = Union[int, float]


class NotPolynomial(TypeError):
    """A traced cost formula did something a polynomial cannot (see module docstring)."""


class Poly:
    """A polynomial in variables ``0..n-1``: monomial (sorted tuple of variable indices, one
    entry per power) -> coefficient.

    ``strict``: built from a variable that formulas may branch on (a kernel size: a layer
    whose kernel is 1 x 1 counts as pointwise), so testing it for equality raises
    :class:`NotPolynomial`.  Other polynomials compare by identity, as objects do (a
    depthwise layer is recognised by its groups being its input width, the same object)."""

    __slots__ = ("terms", "strict")

    def __init__(self, terms: dict[tuple[int, ...], float], strict: bool = False):
        self.terms = terms
        self.strict = strict

    @staticmethod
    def var(i: int, strict: bool = False) -> "Poly":
        return Poly({(i,): 1.0}, strict)

    @staticmethod
    def lift(x: "Poly | Scalar") -> "Poly":
        if isinstance(x, Poly):
            return x
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise NotPolynomial(f"cannot combine a polynomial with {type(x).__name__}")
        return Poly({(): float(x)} if x else {})

    def __add__(self, other: "Poly | Scalar") -> "Poly":
        o = Poly.lift(other)
        out = dict(self.terms)
        for m, c in o.terms.items():
            out[m] = out.get(m, 0.0) + c
        return Poly(out, self.strict or o.strict)

    __radd__ = __add__

    def __neg__(self) -> "Poly":
        return Poly({m: -c for m, c in self.terms.items()}, self.strict)

    def __sub__(self, other: "Poly | Scalar") -> "Poly":
        return self + (-Poly.lift(other))

    def __rsub__(self, other: "Poly | Scalar") -> "Poly":
        return Poly.lift(other) + (-self)

    def __mul__(self, other: "Poly | Scalar") -> "Poly":
        o = Poly.lift(other)
        out: dict[tuple[int, ...], float] = {}
        for m1, c1 in self.terms.items():
            for m2, c2 in o.terms.items():
                m = tuple(sorted(m1 + m2))
                out[m] = out.get(m, 0.0) + c1 * c2
        return Poly(out, self.strict or o.strict)

    __rmul__ = __mul__

    def __truediv__(self, other: "Poly | Scalar") -> "Poly":
        if isinstance(other, Poly):
            if set(other.terms) - {()}:
                raise NotPolynomial("division by a variable")
            other = other.terms.get((), 0.0)
        if isinstance(other, bool) or not isinstance(other, (int, float)):
            raise NotPolynomial(f"cannot divide a polynomial by {type(other).__name__}")
        return self * (1.0 / other)

    def _refuse(self, *_: object) -> bool:
        raise NotPolynomial("a polynomial has no order or truth value")

    __lt__ = __le__ = __gt__ = __ge__ = __bool__ = _refuse

    def __eq__(self, other: object) -> bool:
        if self.strict or (isinstance(other, Poly) and other.strict):
            raise NotPolynomial("a formula tests a strict variable (it is piecewise in it)")
        return self is other

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = object.__hash__

    def __float__(self) -> float:
        raise NotPolynomial("a polynomial is not a number")

    __int__ = __index__ = __round__ = __float__


class CompiledPoly:
    """A :class:`Poly` (or constant) as index tensors; ``compiled(x)`` is its value at the
    variable vector ``x`` (float64, differentiable in ``x``)."""

    def __init__(self, p: "Poly | Scalar"):
        terms = Poly.lift(p).terms
        self.constant = float(terms.get((), 0.0))
        by_degree: dict[int, list[tuple[tuple[int, ...], float]]] = {}
        for m, c in terms.items():
            if m and c != 0.0:
                by_degree.setdefault(len(m), []).append((m, c))
        self.parts = [(torch.tensor([m for m, _ in items], dtype=torch.long),
                       torch.tensor([c for _, c in items], dtype=torch.float64))
                      for _, items in sorted(by_degree.items())]

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Value and gradient at the variable vector ``x`` in float64 NumPy (no autograd: for
        evaluations at a few points, where building a graph costs more than the sums)."""
        x = np.asarray(x, dtype=np.float64)
        value = self.constant
        grad = np.zeros(len(x), dtype=np.float64)
        for idx, coef in self.parts:
            ii, cc = idx.numpy(), coef.numpy()
            vals = x[ii]  # (terms, degree)
            value += float((vals.prod(axis=1) * cc).sum())
            for j in range(ii.shape[1]):  # d monomial / d its j-th factor
                others = np.delete(vals, j, axis=1).prod(axis=1)
                np.add.at(grad, ii[:, j], cc * others)
        return value, grad

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        total = torch.tensor(self.constant, dtype=torch.float64)
        for idx, coef in self.parts:
            term = x[idx[:, 0]]
            for j in range(1, idx.shape[1]):
                term = term * x[idx[:, j]]
            total = total + (term * coef).sum()
        return total
