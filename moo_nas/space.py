"""Decision variables, genotypes and the :class:`SearchSpace` base class.

A search space is a list of named discrete decision variables plus a rule that turns an
assignment of those variables (a :class:`Genotype`) into a network description
(:class:`moo_nas.arch.ArchSpec`).  Every built-in space is defined *by subtraction from a seed
network*: each variable's options are ordered from the smallest choice to the seed's own value,
so the seed is the largest genotype and a mask-based DNAS can search the very same space.

The base class gives every space, for free: sampling, an integer-vector encoding (the index of
each variable's option, for pymoo, DEAP and RL controllers), validation with clear errors, a
stable hash, mutation and a numeric feature vector for surrogates.

**Canonical genotypes.**  A variable can be *inactive*: it does not change the network given the
values of the others (the channels of a block that ``depth`` drops).  A space declares this with
:class:`Condition` records; every inactive variable is then set to its first option.  Every
genotype a space hands out (:meth:`SearchSpace.make`, ``validate``, ``decode``, ``sample``,
``mutate``, ``all_genotypes``) is in this canonical form, so genotypes that build the same network
have one identity (:attr:`Genotype.key`), strategies never propose a network twice under two
names, and :meth:`SearchSpace.size` counts distinct networks.  :class:`moo_nas.seen.Seen` is
the one "draw a genotype not proposed yet" helper every strategy uses.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Mapping, Sequence, Union

import numpy as np

from .errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

    from .arch import ArchSpec

OptionValue = Union[int, float, str]

#: one encoder with sorted keys, shared (``json.dumps(..., sort_keys=True)`` builds one per call)
_SORTED_JSON = json.JSONEncoder(sort_keys=True)
#: genotype keys by (space, values, value types): types too, since ``1 == 1.0 == True`` hash
#: alike but encode differently
_KEYS: dict[tuple, str] = {}
_KEYS_MAX = 1 << 18
#: JSON of each genotype's values (:func:`values_json`) by its key, kept with the key
_VALUES_JSON: dict[str, str] = {}


def _genotype_json(space: str, values: str) -> str:
    """``{"space": space, "values": ...}`` as JSON with sorted keys, from the values' JSON."""
    return f'{{"space": {json.dumps(space)}, "values": {values}}}'


def values_json(key: str, values: dict[str, OptionValue]) -> str:
    """``values`` (the dict of the genotype with key ``key``) as JSON with sorted keys; encoded
    once per process with the key (the store writes it with every evaluation and ask)."""
    text = _VALUES_JSON.get(key)
    if text is None:
        if len(_VALUES_JSON) >= _KEYS_MAX:
            _VALUES_JSON.clear()
        text = _VALUES_JSON[key] = _SORTED_JSON.encode(values)
    return text


class Variable:
    """A named discrete decision variable with an ordered tuple of options."""

    name: str

    @property
    def options(self) -> tuple[OptionValue, ...]:  # pragma: no cover - overridden
        raise NotImplementedError

    def index(self, value: OptionValue) -> int:
        """Position of ``value`` among the options; raises :class:`UserError` if absent."""
        try:
            return self.options.index(value)
        except ValueError:
            raise UserError(
                f"value {value!r} is not allowed for variable {self.name!r}; "
                f"allowed: {', '.join(map(str, self.options))}."
            ) from None

    def feature(self, value: OptionValue) -> float:
        """Numeric feature of a value: the number itself, or the option index for labels."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        return float(self.index(value))

    def __len__(self) -> int:
        return len(self.options)


@dataclass(frozen=True)
class IntRange(Variable):
    """Integers ``low, low+step, ..., high`` (``high`` included, ``high - low`` divisible by step)."""

    name: str
    low: int
    high: int
    step: int = 1

    def __post_init__(self) -> None:
        if self.step < 1 or self.high < self.low or (self.high - self.low) % self.step:
            raise ValueError(f"bad IntRange {self}")

    @cached_property
    def options(self) -> tuple[int, ...]:
        return tuple(range(self.low, self.high + 1, self.step))


@dataclass(frozen=True)
class Choice(Variable):
    """One of an explicit ordered tuple of options (numbers or labels)."""

    name: str
    choices: tuple[OptionValue, ...]

    def __post_init__(self) -> None:
        if not self.choices or len(set(self.choices)) != len(self.choices):
            raise ValueError(f"bad Choice {self}")

    @property
    def options(self) -> tuple[OptionValue, ...]:
        return self.choices


@dataclass(frozen=True)
class Condition:
    """``variable`` is active only while ``controller`` takes one of the values in ``when``.

    ``controller`` must itself be unconditional.  Example: ``Condition("c3", "depth", (3,))`` -
    the third block's channels matter only in a three-block network.
    """

    variable: str
    controller: str
    when: tuple[OptionValue, ...]


@dataclass(frozen=True)
class Genotype:
    """An assignment of every variable of one space; immutable and hashable.

    ``values`` keeps the space's variable order.  Use :meth:`SearchSpace.make` to build one from
    a mapping with validation.
    """

    space: str
    values: tuple[tuple[str, OptionValue], ...]

    def __getitem__(self, name: str) -> OptionValue:
        for key, value in self.values:
            if key == name:
                return value
        raise KeyError(name)

    def get(self, name: str, default: OptionValue | None = None) -> OptionValue | None:
        for key, value in self.values:
            if key == name:
                return value
        return default

    def to_dict(self) -> dict[str, OptionValue]:
        return dict(self.values)

    def to_json(self) -> str:
        return _genotype_json(self.space, _SORTED_JSON.encode(self.to_dict()))

    @cached_property
    def key(self) -> str:
        """Stable hash (hex SHA-1 of the canonical JSON), equal across processes and runs.

        Computed once per distinct assignment in a process (:data:`_KEYS`): table-backed runs
        build the same genotypes many times."""
        memo = (self.space, self.values, tuple([type(v) for _, v in self.values]))
        key = _KEYS.get(memo)
        if key is None:
            values = _SORTED_JSON.encode(self.to_dict())
            key = hashlib.sha1(_genotype_json(self.space, values).encode()).hexdigest()
            if len(_KEYS) >= _KEYS_MAX:
                _KEYS.clear()
                _VALUES_JSON.clear()
            _KEYS[memo] = key
            _VALUES_JSON[key] = values
        return key

    def __str__(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.values)


class SearchSpace(ABC):
    """Base class of search spaces.

    Subclasses must set ``name`` and ``description`` and implement :meth:`_variables` and
    :meth:`arch`.  They are constructed for one task's input shape and number of classes, plus
    space-specific options (for example ``formats`` — the number formats a layer may use).
    """

    name: ClassVar[str]
    description: ClassVar[str]
    #: True for spaces known only through a table of results: :meth:`arch` raises and
    #: analytic costs, module building and cache-by-architecture do not apply.
    table_only: ClassVar[bool] = False

    def __init__(self, input_shape: Sequence[int], num_classes: int, /, **options: Any) -> None:
        self.input_shape = tuple(int(s) for s in input_shape)
        self.num_classes = int(num_classes)
        self.options = dict(options)
        self._vars: tuple[Variable, ...] = tuple(self._variables())
        names = [v.name for v in self._vars]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate variable names in space {self.name}")
        self._by_name = {v.name: v for v in self._vars}
        self._sizes = np.array([len(v) for v in self._vars], dtype=np.int64)
        self._conds: tuple[Condition, ...] = tuple(self._conditions())
        self._check_conditions()

    # ----------------------------------------------------------------- to implement
    @abstractmethod
    def _variables(self) -> Iterable[Variable]:
        """Return the decision variables, options ordered from smallest to the seed's value."""

    @abstractmethod
    def arch(self, genotype: Genotype) -> "ArchSpec":
        """Return the layer-level description of the network a genotype encodes."""

    # ----------------------------------------------------------------- optional hooks
    def _conditions(self) -> Iterable[Condition]:
        """When variables are inactive (see :class:`Condition`); called once, after
        :meth:`_variables`.  Default: every variable is always active."""
        return ()

    def seed_genotype(self) -> Genotype:
        """The seed network the space subtracts from: the last (largest) option everywhere."""
        return self.make({v.name: v.options[-1] for v in self._vars})

    def config(self) -> dict[str, Any]:
        """Everything that, with a genotype, determines the network (recorded in the store)."""
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "options": self.options,
        }

    # ----------------------------------------------------------------- provided
    @property
    def variables(self) -> tuple[Variable, ...]:
        return self._vars

    def variable(self, name: str) -> Variable:
        return self._by_name[name]

    @property
    def conditions(self) -> tuple[Condition, ...]:
        return self._conds

    def size(self) -> int:
        """Number of distinct canonical genotypes (= distinct networks the space describes)."""
        if not self._conds:
            return int(np.prod(self._sizes, dtype=object))
        return sum(int(np.prod([len(r) for r in ranges], dtype=object))
                   for ranges in self._index_ranges())

    def all_genotypes(self) -> list[Genotype]:
        """Every canonical genotype of the space, in integer-encoding (odometer) order; for
        small spaces (see :meth:`size`)."""
        import itertools

        names = [v.name for v in self._vars]
        if not self._conds:
            return [Genotype(self.name, tuple(zip(names, combo)))
                    for combo in itertools.product(*(v.options for v in self._vars))]
        rows = sorted(idx for ranges in self._index_ranges() for idx in itertools.product(*ranges))
        return [self._genotype(idx) for idx in rows]

    def _index_ranges(self) -> list[list[range]]:
        """For each assignment of the controllers, the option indices every variable may take
        in a canonical genotype (a controller: its one index; inactive: 0 only)."""
        import itertools

        ctrl = sorted({c.controller for c in self._conds}, key=self._position)
        out = []
        for combo in itertools.product(*(range(len(self._by_name[n])) for n in ctrl)):
            x = np.zeros(len(self._vars), dtype=np.int64)
            for n, i in zip(ctrl, combo):
                x[self._position(n)] = i
            off = self.inactive_mask(x[None, :])[0]
            ranges = []
            for j, v in enumerate(self._vars):
                if v.name in ctrl:
                    ranges.append(range(int(x[j]), int(x[j]) + 1))
                else:
                    ranges.append(range(1) if off[j] else range(len(v)))
            out.append(ranges)
        return out

    def _position(self, name: str) -> int:
        return [v.name for v in self._vars].index(name)

    def _check_conditions(self) -> None:
        conditioned = {c.variable for c in self._conds}
        for c in self._conds:
            for n in (c.variable, c.controller):
                if n not in self._by_name:
                    raise ValueError(f"condition {c} of space {self.name} names unknown variable {n!r}")
            if c.controller in conditioned:
                raise ValueError(f"condition {c} of space {self.name}: a controller must be unconditional")
            for value in c.when:
                self._by_name[c.controller].index(value)

    def inactive_mask(self, X: np.ndarray) -> np.ndarray:
        """Boolean array shaped like the option-index rows ``X`` (n, d): True where a
        variable is inactive in that row."""
        off = np.zeros(X.shape, dtype=bool)
        for c in self._conds:
            j, k = self._position(c.variable), self._position(c.controller)
            allowed = [self._by_name[c.controller].index(w) for w in c.when]
            off[:, j] |= ~np.isin(X[:, k], allowed)
        return off

    def canonical_encoding(self, X: np.ndarray) -> np.ndarray:
        """Option-index rows (one row, shape (d,), or (n, d)) with every inactive entry set
        to 0: the encoding of the canonical genotype.  Returns a new integer array."""
        X = np.array(X, dtype=np.int64)
        if not self._conds:
            return X
        rows = X.reshape(-1, len(self._vars))
        rows[self.inactive_mask(rows)] = 0
        return rows.reshape(X.shape)

    def inactive(self, genotype: Genotype) -> frozenset[str]:
        """Names of the variables that do not affect ``genotype``'s network."""
        if not self._conds:
            return frozenset()
        off = self.inactive_mask(self.encode(genotype)[None, :])[0]
        return frozenset(v.name for v, o in zip(self._vars, off) if o)

    def canonical(self, genotype: Genotype) -> Genotype:
        """The canonical form of a genotype of this space (inactive variables at their first
        option); validates it like :meth:`validate`."""
        return self.validate(genotype)

    def make(self, values: Mapping[str, OptionValue]) -> Genotype:
        """Validate a mapping of every variable to one of its options and build a genotype."""
        unknown = set(values) - set(self._by_name)
        if unknown:
            raise UserError(
                f"genotype has variables {sorted(unknown)} that space {self.name!r} does not "
                f"define; its variables are: {', '.join(self._by_name)}."
            )
        missing = [n for n in self._by_name if n not in values]
        if missing:
            raise UserError(f"genotype for space {self.name!r} lacks variables {missing}.")
        idx = []
        for v in self._vars:
            value = values[v.name]
            if isinstance(value, float) and value.is_integer() and isinstance(v, IntRange):
                value = int(value)
            idx.append(v.index(value))
        return self._from_indices(idx)

    def validate(self, genotype: Genotype) -> Genotype:
        """Check a genotype belongs to this space; returns its canonical form or raises
        :class:`UserError`."""
        if genotype.space != self.name:
            raise UserError(
                f"genotype belongs to space {genotype.space!r}, not {self.name!r}; "
                "evaluate it in the space it was made for."
            )
        return self.make(genotype.to_dict())

    def from_json(self, text: str) -> Genotype:
        """Parse :meth:`Genotype.to_json` output (or a bare mapping) back into a genotype."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"genotype is not valid JSON ({exc.msg}).") from None
        if isinstance(data, dict) and "values" in data and "space" in data:
            if data["space"] != self.name:
                raise UserError(
                    f"genotype belongs to space {data['space']!r}, not {self.name!r}; "
                    "evaluate it in the space it was made for."
                )
            data = data["values"]
        if not isinstance(data, dict):
            raise UserError("genotype JSON must be an object mapping variable names to values.")
        return self.make(data)

    def upper_bounds(self) -> np.ndarray:
        """Largest index of each variable in the integer encoding (lower bounds are 0)."""
        return np.array([len(v) - 1 for v in self._vars], dtype=np.int64)

    def encode(self, genotype: Genotype) -> np.ndarray:
        """Integer vector of option indices, in variable order."""
        return np.array([v.index(genotype[v.name]) for v in self._vars], dtype=np.int64)

    def decode(self, x: Sequence[float] | np.ndarray) -> Genotype:
        """Inverse of :meth:`encode`; real entries are rounded, out-of-range ones rejected."""
        x = np.asarray(x)
        if x.shape != (len(self._vars),):
            raise UserError(
                f"encoded genotype has shape {x.shape}, space {self.name!r} needs "
                f"({len(self._vars)},)."
            )
        return self._from_indices([int(i) for i in np.rint(x).astype(np.int64)])

    def _from_indices(self, idx: Sequence[int]) -> Genotype:
        """Canonical genotype from option indices (checked against each variable's range)."""
        for v, i in zip(self._vars, idx):
            if not 0 <= i < len(v):
                raise UserError(
                    f"index {int(i)} is out of range for variable {v.name!r} "
                    f"(0..{len(v) - 1})."
                )
        if self._conds:
            idx = self.canonical_encoding(np.asarray(idx)).tolist()
        return self._genotype(idx)

    def _genotype(self, idx: Sequence[int]) -> Genotype:
        return Genotype(self.name, tuple([(v.name, v.options[i]) for v, i in zip(self._vars, idx)]))

    def sample(self, rng: np.random.Generator) -> Genotype:
        """Uniformly random genotype."""
        # one vectorised draw: the same stream as one ``rng.integers(len(v))`` per variable;
        # in range by construction, so only the canonical form is applied
        idx = rng.integers(self._sizes).tolist()
        if self._conds:
            idx = self.canonical_encoding(np.asarray(idx)).tolist()
        return self._genotype(idx)

    def mutate(
        self, genotype: Genotype, rng: np.random.Generator, rate: float | None = None
    ) -> Genotype:
        """Change each active variable with probability ``rate`` (default 1/n, n active
        variables), at least one; the result is canonical.

        A changed variable moves to a neighbouring option with probability 1/2 (a small step
        in ordered options), otherwise to a uniformly random other option.  Inactive variables
        are never drawn, so every mutation changes the network.
        """
        x = self.encode(genotype)
        off = self.inactive(genotype)
        n = len(self._vars) - len(off)
        rate = 1.0 / n if rate is None else rate
        mutable = [i for i, v in enumerate(self._vars) if len(v) > 1 and v.name not in off]
        if not mutable:
            return genotype
        flip = [i for i in mutable if rng.random() < rate]
        if not flip:
            flip = [mutable[int(rng.integers(len(mutable)))]]
        for i in flip:
            k = len(self._vars[i])
            if rng.random() < 0.5:
                step = 1 if rng.random() < 0.5 else -1
                new = x[i] + step
                if not 0 <= new < k:
                    new = x[i] - step
            else:
                new = (x[i] + 1 + int(rng.integers(k - 1))) % k
            x[i] = new
        return self.decode(x)

    def feature_names(self) -> list[str]:
        return [v.name for v in self._vars]

    def features(self, genotype: Genotype) -> np.ndarray:
        """Numeric feature vector (option values, labels by index) for surrogate models."""
        return np.array([v.feature(genotype[v.name]) for v in self._vars], dtype=np.float64)

    def build(self, genotype: Genotype) -> "nn.Module":
        """Build the ``torch.nn.Module`` for a genotype (weights freshly initialised)."""
        from .arch import build_module

        return build_module(self.arch(self.validate(genotype)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(input_shape={self.input_shape}, classes={self.num_classes})"

