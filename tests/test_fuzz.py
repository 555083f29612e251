"""Fuzzing the public boundary: generated bad inputs for every public function, four oracles.

A catalogue (``CATALOGUE``) lists each public function with a builder of valid arguments
(tiny nets and data: a valid call costs about a millisecond) and the names of its arguments.
Hypothesis draws ``(function, argument, bad value)`` triples: the bad value comes from a pool
shared by every argument (``POOL``: None, bools, huge integers, NaN, strings, generators,
NumPy scalars, 0-d and empty arrays, hand-made keys...) or from a mutation of the argument's
own valid value chosen by its kind (``kind_mutations``: a NaN or huge entry, another dtype, shape
or order, a params tree with a key missing, another optimizer's state, a schedule that goes
bad after step 0, a hostile file...). Each call is checked by four oracles:

1. it raises only ``ValueError``/``TypeError`` (``FloatingPointError`` only where a docstring
   promises it, ``OSError`` only from the file system and naming the path, ``SystemExit(2)``
   with ``error:`` and the option for the command line), and the message's leading name,
   before the first ``:``, names the corrupted argument (or the file);
2. a normal return holds no NaN or inf anywhere;
3. every argument is bitwise what it was before the call (deep copies compared);
4. it ends within ``HANG_SECONDS``.

Variants that are valid (Fortran-ordered or strided arrays, read-only arrays, NumPy scalars of
the same value, lists for arrays) must give the valid call's result. Nothing fails at the
first escape: every group runs all its examples, then fails listing each distinct escape
with where it came from. The counts per module and outcome are printed (``-s``) and written
to ``fuzz_counts.txt`` in the session's temporary directory. ``FUZZ_SCALE=10`` fuzzes ten
times as long; under ``CI`` the examples are the same on every run (tests/conftest.py's
"ci" profile, derandomized).

Left out of the oracles, each where it is decided, with its reason:

- the activation kernels (``ACTIVATIONS[...].fn``/``.vjp``, ``softmax``): NumPy semantics, no
  oracle 1 or 2 (``Entry.kernel``); the tree utilities hand back the NaN leaves they were given
  (``Entry.passes_leaves``); NaN grads pass through an optimizer, as documented (tag ``"nan"``);
- huge valid amounts of work (``epochs``, ``steps``: ``Entry.work``) and sizes NumPy could
  hold but the machine cannot (``Entry.sizes``, ``BIG``: NumPy's MemoryError) are not drawn;
- callables that cannot take the documented arguments (``NOT_CALLABLE_AS_DOCUMENTED``) fail
  as Python says when called; a user's own exception passes through (``UserError``);
- scikit-learn's inherited ``score`` and scikit-learn's own warnings are scikit-learn's;
- ``funcnet.checks`` itself (every entry exercises it), ``tree.sum_squares``/``rescaled``
  and the layers' ``init``/``forward``/``backward`` methods (the engine's trusted kernels,
  reached through the functions that check their arguments) have no entries;
- a message may name another argument when the two do not fit together and the corrupted
  value is valid on its own (tag ``"rel"``, ``_numeric_alone``), or an alias the
  catalogue documents (``Entry.aliases``).
"""

from __future__ import annotations

import collections
import contextlib
import copy
import dataclasses
import decimal
import fractions
import gzip
import io as _io
import json
import math
import os
import random
import re
import resource
import shutil
import signal
import struct
import time
import traceback
import types
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import funcnet as fn
from funcnet import activations, augment, datasets, io as fio, layers as L, losses as LS, optim, plot, schedules
from funcnet import random as rnd
from funcnet import tree as T
from funcnet.cli import main as cli_main
from funcnet.cli.config import CONFIG_KEYS
from funcnet.lr_finder import lr_find
from funcnet.sklearn import MLPClassifier, MLPRegressor

HANG_SECONDS = 5.0
BATCH = 5  # bad inputs per Hypothesis example
#: A run-away allocation fails instead of taking the machine's memory (restored after each group).
ADDRESS_SPACE = 8 << 30


# --- outcomes and their bookkeeping ---


class Hang(BaseException):
    """Raised by the timer inside a call that ran longer than HANG_SECONDS."""


class UserError(Exception):
    """Raised by the callables the fuzz passes in: a user's own exception must pass through."""


def _raise_user(*args, **kwargs):
    raise UserError("raised by the user's function")


COUNTS: dict = collections.defaultdict(collections.Counter)  # module -> outcome -> count
ESCAPES: dict = {}  # signature -> (count, example text)
RAN_GROUPS: set = set()
TIMES: collections.Counter = collections.Counter()  # entry -> seconds in calls
CALLS: collections.Counter = collections.Counter()


@dataclasses.dataclass
class Entry:
    """A public function, how to call it on valid arguments, and what each argument is."""

    module: str  # the row of the counts table
    name: str
    valid: Callable[[], dict]  # builds the valid arguments
    call: Callable[[dict], Any]
    kinds: dict  # argument name -> kind of its mutations (see kind_mutations)
    fpe: bool = False  # a docstring promises FloatingPointError (overflow, divergence)
    compare: bool = True  # valid variants must give the valid call's result
    aliases: dict = dataclasses.field(default_factory=dict)  # argument -> other acceptable names
    work: frozenset = frozenset()  # arguments that are amounts of work: no huge valid values
    sizes: frozenset = frozenset()  # arguments that are sizes: no sizes NumPy could hold (BIG)
    group: str = ""  # which test function runs it
    # A kernel with NumPy's semantics (the activations: NaN in gives NaN out, NumPy's own errors
    # for things that are not numbers, as np.tanh does; the functions that call them check):
    # oracles 1 and 2 do not apply, 3 and 4 and the valid variants do.
    kernel: bool = False
    # Structure-only functions (the tree utilities) hand the leaves they were given back: a NaN
    # leaf that came in may come out.
    passes_leaves: bool = False


CATALOGUE: list[Entry] = []


def add(module, name, valid, call, kinds, *, group, **kw):
    CATALOGUE.append(Entry(module, name, valid, call, kinds, group=group, **kw))


# --- snapshots: deep copies compared bit for bit ---


_UNCOPYABLE = object()
_SHARED = (int, float, complex, str, bytes, type(None), fractions.Fraction, decimal.Decimal, range, type,
           types.FunctionType, types.BuiltinFunctionType, np.generic, np.dtype)


def fast_copy(x):
    """A deep copy for the values the fuzz passes: arrays and containers copied, immutable
    values (numbers, strings, frozen dataclasses such as a Net or an optimizer) shared."""
    t = type(x)
    if t is np.ndarray and not x.dtype.hasobject:
        return x.copy()
    if t in (tuple, list):
        return t([fast_copy(v) for v in x])
    if t is dict:
        return {k: fast_copy(v) for k, v in x.items()}
    if isinstance(x, _SHARED):
        return x
    if dataclasses.is_dataclass(x) and not isinstance(x, type) and x.__dataclass_params__.frozen:
        return x
    if isinstance(x, tuple) and hasattr(x, "_fields"):  # named tuples: keys, states
        return t(*[fast_copy(v) for v in x])
    return copy.deepcopy(x)


def snapshot(value):
    try:
        return fast_copy(value)
    except RecursionError:  # a list holding itself: deepcopy keeps track
        try:
            return copy.deepcopy(value)
        except Exception:
            return _UNCOPYABLE
    except Exception:  # generators and the like: consumed by design, nothing to compare
        return _UNCOPYABLE


def same(a, b, depth=0, exact=True) -> bool:
    """Bitwise equality of two values (arrays by dtype, shape and bytes; floats by bits).

    ``exact=False`` (results of valid variants) compares arrays in native byte order.
    """
    if depth > 50 or a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        if not exact:
            a, b = (x.astype(x.dtype.newbyteorder("=")) if x.dtype.byteorder not in "=|" else x for x in (a, b))
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype.hasobject:
            return all(same(x, y, depth + 1, exact) for x, y in zip(a.ravel().tolist(), b.ravel().tolist()))
        return np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
    if isinstance(a, np.ma.MaskedArray):
        return same(a.data, b.data, depth + 1, exact) and same(np.ma.getmaskarray(a), np.ma.getmaskarray(b), depth + 1, exact)
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, np.generic):
        return a.dtype == b.dtype and a.tobytes() == b.tobytes()
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(same(x, y, depth + 1, exact) for x, y in zip(a, b))
    if isinstance(a, dict):
        keys = (list(a) == list(b)) if exact else (sorted(map(repr, a)) == sorted(map(repr, b)))
        return keys and all(same(a[k], b[k], depth + 1, exact) for k in a)
    if isinstance(a, bytes):
        return a == b
    if dataclasses.is_dataclass(a):
        return all(same(getattr(a, f.name), getattr(b, f.name), depth + 1, exact) for f in dataclasses.fields(a))
    try:
        eq = a == b
        if isinstance(eq, bool):
            return eq or type(a).__eq__ is object.__eq__  # plain objects: a copy is not equal
    except Exception:
        pass
    return True


def non_finite(value, depth=0, seen=None) -> str | None:
    """Where a NaN or inf sits in a result, or None."""
    seen = set() if seen is None else seen
    if depth > 40 or id(value) in seen:
        return None
    if isinstance(value, (float, np.floating, complex, np.complexfloating)):
        return None if np.isfinite(value) else f"{value!r}"
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "fc":
            return None if np.isfinite(value).all() else f"array {value.shape} holds {value!r:.80}"
        if value.dtype.hasobject:
            seen.add(id(value))
            for x in value.ravel().tolist():
                r = non_finite(x, depth + 1, seen)
                if r:
                    return r
        return None
    if isinstance(value, (tuple, list)):
        seen.add(id(value))
        for i, x in enumerate(value):
            r = non_finite(x, depth + 1, seen)
            if r:
                return f"[{i}]{r}"
        return None
    if isinstance(value, dict):
        seen.add(id(value))
        for k, x in value.items():
            r = non_finite(x, depth + 1, seen)
            if r:
                return f"[{k!r}]{r}"
        return None
    if isinstance(value, (MLPClassifier, MLPRegressor)):
        return non_finite({k: v for k, v in vars(value).items() if k.endswith("_")}, depth + 1, seen)
    return None


# --- bad values: a shared pool, and mutations of an argument's own valid value ---


@dataclasses.dataclass
class Bad:
    """A substitute for one argument.

    ``tag``: ``"bad"`` goes through the four oracles; ``"same"`` is a valid variant and must give
    the valid call's result; ``"rel"`` is valid on its own but not with the other arguments (a
    message may then lead with any argument's name); ``"nan"`` is a NaN or inf the function
    documents passing on (its result may hold NaN); ``"user"`` raises the user's own exception.
    ``files``: files the value names; their path may lead a message, their bytes must not change.
    """

    label: str
    value: Any
    tag: str = "bad"
    files: tuple = ()
    watch: bool = True  # the files are the caller's (not an output path the function may write)


def _gen():
    yield 1
    yield 2


def _cyclic():
    a: list = [1]
    a.append(a)
    return a


def _deep(depth=3000, leaf=1.0):
    x: Any = leaf
    for _ in range(depth):
        x = [x]
    return x


def _nested(value, depth=3000):
    for _ in range(depth):
        value = (value,)
    return value


# Huge integers. Where an argument is an amount of work (epochs, steps: Entry.work), a huge
# valid value asks for endless work and is not drawn. Where it is a size (Entry.sizes), sizes
# beyond what NumPy can hold (HUGE) must be a ValueError, while sizes NumPy could hold but this
# machine cannot (BIG) are NumPy's MemoryError: the machine's limit, not a bad value.
HUGE = {"10**400", "2**63", "2**62", "-2**63", "np.uint64 max", "np.int64 max", "400 nines", "2**62"}
BIG = {"big count", "1e9", "a width 2**40", "sizes 2**40"}

POOL: dict[str, Callable[[], Any]] = {
    "None": lambda: None,
    "True": lambda: True,
    "False": lambda: False,
    "0": lambda: 0,
    "-1": lambda: -1,
    "2.5": lambda: 2.5,
    "10**400": lambda: 10**400,
    "2**63": lambda: 2**63,
    "2**62": lambda: 2**62,
    "-2**63": lambda: -(2**63),
    "Fraction(1, 3)": lambda: fractions.Fraction(1, 3),
    "Decimal('0.1')": lambda: decimal.Decimal("0.1"),
    "Decimal('NaN')": lambda: decimal.Decimal("NaN"),
    "nan": lambda: math.nan,
    "inf": lambda: math.inf,
    "-inf": lambda: -math.inf,
    "-0.0": lambda: -0.0,
    "1e308": lambda: 1e308,
    "5e-324": lambda: 5e-324,
    "1j": lambda: 1j,
    "''": lambda: "",
    "'abc'": lambda: "abc",
    "'1'": lambda: "1",
    "'nan'": lambda: "nan",
    "b'x'": lambda: b"x",
    "bytearray": lambda: bytearray(b"xy"),
    "[]": lambda: [],
    "{}": lambda: {},
    "()": lambda: (),
    "set": lambda: {1, 2},
    "ragged list": lambda: [[1.0, 2.0], [3.0]],
    "nested empty list": lambda: [[[]]],
    "(1,)": lambda: (1,),
    "(1, 2, 3)": lambda: (1, 2, 3),
    "{'a': 1}": lambda: {"a": 1},
    "{1: 'a', 'b': 2}": lambda: {1: "a", "b": 2},
    "object()": lambda: object(),
    "lambda: None": lambda: (lambda *a, **k: None),
    "lambda raising": lambda: _raise_user,
    "generator": lambda: _gen(),
    "range(3)": lambda: range(3),
    "Ellipsis": lambda: ...,
    "slice": lambda: slice(1, 2),
    "the type int": lambda: int,
    "the numpy module": lambda: np,
    "cyclic list": _cyclic,
    "3000-deep list": _deep,
    "np.int64(-1)": lambda: np.int64(-1),
    "np.int8(3)": lambda: np.int8(3),
    "np.uint64 max": lambda: np.uint64(2**64 - 1),
    "np.float16(nan)": lambda: np.float16("nan"),
    "np.float32(3e38)": lambda: np.float32(3e38),
    "np.float64(nan)": lambda: np.float64("nan"),
    "np.longdouble(1)": lambda: np.longdouble(1),
    "np.complex128(1)": lambda: np.complex128(1),
    "np.bool_(True)": lambda: np.bool_(True),
    "np.str_('a')": lambda: np.str_("a"),
    "np.bytes_(b'a')": lambda: np.bytes_(b"a"),
    "np.datetime64": lambda: np.datetime64("2020-01-01"),
    "np.timedelta64": lambda: np.timedelta64(1, "s"),
    "np.void": lambda: np.void(b"ab"),
    "0-d float array": lambda: np.array(1.5),
    "0-d int array": lambda: np.array(3),
    "0-d nan array": lambda: np.array(np.nan),
    "empty float array": lambda: np.zeros(0),
    "empty (0, 0)": lambda: np.zeros((0, 0)),
    "empty (0, 3)": lambda: np.zeros((0, 3)),
    # numeric (2, 3) arrays are valid inputs of a 3-input net on their own: with two rows, a
    # message may then name the argument they no longer agree with
    "int array": lambda: Bad("int array", np.arange(6).reshape(2, 3), "rel"),
    "bool array": lambda: Bad("bool array", np.ones((2, 3), bool), "rel"),
    "float16 array": lambda: Bad("float16 array", np.ones((2, 3), np.float16), "rel"),
    "complex array": lambda: np.ones((2, 3), complex),
    "object array": lambda: np.array([[1, None, "a"]], dtype=object),
    "str array": lambda: np.array([["a", "b"]]),
    "structured array": lambda: np.zeros(2, dtype=[("a", "f8"), ("b", "i4")]),
    "float32 3e38 array": lambda: Bad("float32 3e38 array", np.full((2, 3), 3e38, np.float32), "rel"),
    "nan array": lambda: np.full((2, 3), np.nan),
    "masked array": lambda: Bad("masked array", np.ma.masked_array(np.ones((2, 3)), mask=[[1, 0, 0], [0, 0, 1]]), "rel"),
    "np.matrix": lambda: np.asmatrix(np.ones((2, 3))),
    "Key(None)": lambda: rnd.Key(None),
    "Key((1, 2))": lambda: rnd.Key((1, 2)),
    "Key((2**32, 0, 0, 0))": lambda: rnd.Key((2**32, 0, 0, 0)),
    "Key((-1, 0, 0, 0))": lambda: rnd.Key((-1, 0, 0, 0)),
    "Key((1.0, 2, 3, 4))": lambda: rnd.Key((1.0, 2, 3, 4)),
    "Key([1, 2, 3, 4])": lambda: rnd.Key([1, 2, 3, 4]),
    "Key(words=np.uint32s)": lambda: rnd.Key(tuple(np.uint32([1, 2, 3, 4]))),
    "bare key words": lambda: (1, 2, 3, 4),
    "a numpy Generator": lambda: np.random.default_rng(0),
    "a Net": lambda: fn.Net((2, 2)),
    "an optimizer": lambda: optim.sgd(0.1),
    "a schedule": lambda: schedules.constant(0.1),
    "a Path": lambda: Path("."),
    "params-like dict": lambda: {"W": np.ones((2, 2))},
    "np.ma.masked": lambda: np.ma.masked,
}
POOL_LABELS = sorted(POOL)


class Ctx:
    """What a mutation may use: a seeded RNG, a scratch folder, the fixtures."""

    def __init__(self, seed: int, scratch: Path):
        self.seed = seed
        self.scratch = scratch
        self._rng = None

    @property
    def rng(self):
        if self._rng is None:
            self._rng = np.random.default_rng(self.seed)
        return self._rng

    def path(self, suffix=""):
        self.scratch.mkdir(parents=True, exist_ok=True)
        return self.scratch / f"f{self.seed}_{self.rng.integers(1 << 30)}{suffix}"


def _set(a, value, where=(0,)):
    """A copy of array ``a`` (as a float array of its dtype if float) with one entry set."""
    b = np.array(a, dtype=a.dtype if a.dtype.kind == "f" else np.float64)
    idx = tuple(where[: b.ndim]) + (0,) * max(0, b.ndim - len(where))
    with np.errstate(over="ignore"):
        b[idx] = value
    return b


def _huge(a):
    return 3e38 if a.dtype == np.float32 else 1e308


def _strided(a):
    """A non-contiguous view holding ``a``'s values."""
    a = np.asarray(a)
    if a.ndim == 0:
        return a
    big = np.repeat(a, 2, axis=-1)
    return big[..., ::2]


def _reversed_view(a):
    return np.ascontiguousarray(a[::-1])[::-1]


def _readonly(a):
    b = np.array(a)
    b.flags.writeable = False
    return b


def _bigendian(a):
    return a.astype(a.dtype.newbyteorder(">"))


def array_mutations(shape_ops=True):
    """Mutations of a float (or numeric) array argument."""
    m = {
        "NaN entry": lambda a, c: _set(a, np.nan),
        "inf entry": lambda a, c: _set(a, np.inf),
        "-inf entry": lambda a, c: _set(a, -np.inf),
        "huge finite entry": lambda a, c: _set(a, _huge(a)),
        "all huge finite": lambda a, c: np.full_like(a, _huge(a), dtype=a.dtype if a.dtype.kind == "f" else float),
        "float64 1e308 entry": lambda a, c: _set(a.astype(np.float64), 1e308),
        "subnormal values": lambda a, c: np.asarray(a, np.float64) * 1e-310,
        "as int64": lambda a, c: np.asarray(a).astype(np.int64),
        "as bool": lambda a, c: np.asarray(a) > 0,
        "as float16": lambda a, c: np.asarray(a).astype(np.float16),
        "as complex": lambda a, c: np.asarray(a) + 0j,
        "as object": lambda a, c: np.asarray(a).astype(object),
        "as str": lambda a, c: np.asarray(a).astype(str),
        "as uint8": lambda a, c: np.abs(np.asarray(a)).astype(np.uint8),
        "as datetime64": lambda a, c: np.zeros(np.shape(a), "datetime64[s]"),
        "0-d": lambda a, c: np.asarray(np.asarray(a).flat[0]),
        "np.matrix": lambda a, c: np.asmatrix(a) if np.ndim(a) == 2 else np.asmatrix(np.atleast_2d(a)),
        "masked array, nothing masked": lambda a, c: np.ma.masked_array(a),
        "masked array with a masked NaN": lambda a, c: np.ma.masked_array(_set(a, np.nan), mask=_set(np.zeros(np.shape(a)), 1) > 0),
        "Fortran order": lambda a, c: Bad("Fortran order", np.asfortranarray(a), "same"),
        "strided view": lambda a, c: Bad("strided view", _strided(a), "same"),
        "negative strides": lambda a, c: Bad("negative strides", _reversed_view(a), "same"),
        "read-only": lambda a, c: Bad("read-only", _readonly(a), "same"),
        "big-endian": lambda a, c: Bad("big-endian", _bigendian(np.asarray(a)), "same"),
        "nested lists": lambda a, c: Bad("nested lists", np.asarray(a).tolist(), "same"),
    }
    if shape_ops:
        m.update({
            "1-d (raveled)": lambda a, c: np.ravel(a),
            "3-d": lambda a, c: np.asarray(a)[None],
            "no rows": lambda a, c: np.asarray(a)[:0],
            "no columns": lambda a, c: np.asarray(a)[..., :0],
            "one more column": lambda a, c: Bad("one more column", np.concatenate([a, np.asarray(a)[..., :1]], axis=-1), "rel"),
            "one row fewer": lambda a, c: Bad("one row fewer", np.asarray(a)[:-1], "rel"),
            "one row more": lambda a, c: Bad("one row more", np.concatenate([a, np.asarray(a)[:1]]), "rel"),
            "transposed": lambda a, c: Bad("transposed", np.asarray(a).T, "rel"),
            "ragged nested lists": lambda a, c: [row[: max(0, len(row) - (i % 2))] for i, row in enumerate(np.asarray(a).tolist())] if np.ndim(a) == 2 else [[1.0], [1.0, 2.0]],
        })
    return m


def label_mutations():
    m = {
        "label out of range": lambda y, c: _labels(y, 10**6),
        "negative label": lambda y, c: _labels(y, -1),
        "label 2**62": lambda y, c: _labels(y, 2**62),
        "as float": lambda y, c: np.asarray(y).astype(np.float64),
        "as float with a fraction": lambda y, c: np.asarray(y) + 0.5,
        "as bool": lambda y, c: np.asarray(y) > 0,
        "as str": lambda y, c: np.asarray(y).astype(str),
        "as object": lambda y, c: np.asarray(y).astype(object),
        "as complex": lambda y, c: np.asarray(y) + 0j,
        "as uint8": lambda y, c: Bad("as uint8", np.asarray(y).astype(np.uint8), "same"),
        "as int8": lambda y, c: Bad("as int8", np.asarray(y).astype(np.int8), "same"),
        "as uint64": lambda y, c: Bad("as uint64", np.asarray(y).astype(np.uint64), "same"),
        "one fewer": lambda y, c: Bad("one fewer", np.asarray(y)[:-1], "rel"),
        "one more": lambda y, c: Bad("one more", np.concatenate([y, np.asarray(y)[:1]]), "rel"),
        "as a column": lambda y, c: np.asarray(y)[:, None],
        "empty": lambda y, c: np.asarray(y)[:0],
        "0-d": lambda y, c: np.asarray(np.asarray(y).flat[0]),
        "list": lambda y, c: Bad("list", np.asarray(y).tolist(), "same"),
        "strided view": lambda y, c: Bad("strided view", _strided(y), "same"),
        "read-only": lambda y, c: Bad("read-only", _readonly(y), "same"),
        "one-hot rows": lambda y, c: _onehot(y),
        "one-hot rows with a NaN": lambda y, c: _set(_onehot(y), np.nan),
        "one-hot rows with inf": lambda y, c: _set(_onehot(y), np.inf),
        "rows summing to 2": lambda y, c: 2 * _onehot(y),
        "negative probabilities": lambda y, c: _onehot(y) * 2 - np.roll(_onehot(y), 1, axis=1),
        "np.matrix": lambda y, c: np.asmatrix(y),
        "masked labels": lambda y, c: np.ma.masked_array(y, mask=np.arange(len(y)) == 0),
    }
    return m


def _labels(y, value):
    y = np.array(y, dtype=np.int64)
    y[0] = value
    return y


def _onehot(y):
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        return np.asarray(y, float)
    return np.eye(max(int(y.max()) + 1, 2))[y]


def target_mutations():
    m = array_mutations()
    m.update({
        "value 2 (outside [0, 1])": lambda a, c: _set(a, 2.0),
        "value -0.5": lambda a, c: _set(a, -0.5),
        "1-d for several outputs": lambda a, c: np.ravel(a)[: len(a)],
    })
    return m


def _tree_set(tree, i, k, value):
    out = [dict(d) for d in tree]
    out[i][k] = value
    return tuple(out)


def _first_key(tree, i=0):
    return sorted(tree[i])[0]


def tree_mutations(kind="params"):
    """Mutations of a params-like tree (a tuple of dicts of arrays)."""
    def leaf(fn_):
        return lambda t, c: _tree_set(t, 0, _first_key(t), fn_(t[0][_first_key(t)]))

    m = {
        "a key missing": lambda t, c: tuple({k: v for k, v in d.items() if k != _first_key(t, i)} if i == 0 else dict(d) for i, d in enumerate(t)),
        "an extra key": lambda t, c: _tree_set(t, 0, "extra", np.zeros(2)),
        "a non-string key": lambda t, c: _tree_set(t, 0, 1, np.zeros(2)),
        "a list instead of the tuple": lambda t, c: list(t),
        "a dict instead of the tuple": lambda t, c: {i: d for i, d in enumerate(t)},
        "layer dicts reversed": lambda t, c: tuple(t[::-1]),
        "a layer dict missing": lambda t, c: tuple(t[:-1]),
        "an extra layer dict": lambda t, c: tuple(t) + (t[-1],),
        "an empty tuple": lambda t, c: (),
        "a leaf transposed": leaf(lambda a: a.T),
        "a leaf with an extra row": leaf(lambda a: np.concatenate([a, a[:1]])),
        "a NaN leaf entry": leaf(lambda a: _set(a, np.nan)),
        "an inf leaf entry": leaf(lambda a: _set(a, np.inf)),
        "a huge finite leaf": leaf(lambda a: np.full_like(a, _huge(a))),
        "an int leaf": leaf(lambda a: a.astype(np.int64)),
        "a bool leaf": leaf(lambda a: a > 0),
        "a float16 leaf": leaf(lambda a: a.astype(np.float16)),
        "a complex leaf": leaf(lambda a: a + 0j),
        "the other float dtype": leaf(lambda a: a.astype(np.float32 if a.dtype == np.float64 else np.float64)),
        "a 0-d leaf": leaf(lambda a: np.asarray(a.flat[0])),
        "a list leaf": leaf(lambda a: a.tolist()),
        "a None leaf": leaf(lambda a: None),
        "a float leaf": leaf(lambda a: 1.0),
        "an np.matrix leaf": leaf(lambda a: np.asmatrix(a) if a.ndim == 2 else np.asmatrix(a)),
        "a masked leaf": leaf(lambda a: np.ma.masked_array(a, mask=np.zeros(a.shape, bool))),
        "a big-endian leaf": leaf(_bigendian),
        "a Fortran leaf": lambda t, c: Bad("a Fortran leaf", leaf(np.asfortranarray)(t, c), "same"),
        "a strided leaf": lambda t, c: Bad("a strided leaf", leaf(_strided)(t, c), "same"),
        "a read-only leaf": lambda t, c: Bad("a read-only leaf", leaf(_readonly)(t, c), "same"),
        "keys in reverse order": lambda t, c: Bad("keys in reverse order", tuple({k: d[k] for k in reversed(list(d))} for d in t), "same"),
        "OrderedDict layers": lambda t, c: Bad("OrderedDict layers", tuple(collections.OrderedDict(d) for d in t), "same"),
        "tuples instead of dicts": lambda t, c: tuple(tuple(d.values()) for d in t),
        "nested 3000 deep": lambda t, c: _nested(t),
        "a cyclic list": lambda t, c: _cyclic(),
    }
    if kind == "stats":
        m["a negative variance"] = lambda t, c: _negative(t, "var")
        m["a NaN variance"] = lambda t, c: _set_where(t, "var", np.nan)
    if kind == "grads":
        # NaN and inf grads are documented to pass through the optimizers unchanged (so that
        # fit's divergence check sees them): results holding NaN are expected then.
        for label in ("a NaN leaf entry", "an inf leaf entry"):
            m[label] = (lambda f, lab: lambda t, c: Bad(lab, f(t, c), "nan"))(m[label], label)
    return m


def _negative(t, name):
    out = [dict(d) for d in t]
    for d in out:
        if name in d:
            d[name] = -np.ones_like(d[name])
            break
    return tuple(out)


def _set_where(t, name, value):
    out = [dict(d) for d in t]
    for d in out:
        if name in d:
            d[name] = _set(d[name], value)
            break
    return tuple(out)


def key_mutations():
    return {
        "Key(None)": lambda k, c: rnd.Key(None),
        "Key((1, 2))": lambda k, c: rnd.Key((1, 2)),
        "Key of five words": lambda k, c: rnd.Key((1, 2, 3, 4, 5)),
        "Key with 2**32": lambda k, c: rnd.Key((2**32, 0, 0, 0)),
        "Key with -1": lambda k, c: rnd.Key((-1, 0, 0, 0)),
        "Key with floats": lambda k, c: rnd.Key(tuple(float(w) for w in k.words)),
        "Key with bools": lambda k, c: rnd.Key((True, False, True, False)),
        "Key with a list": lambda k, c: rnd.Key(list(k.words)),
        "Key with numpy words": lambda k, c: rnd.Key(tuple(np.uint32(w) for w in k.words)),
        "Key with an array": lambda k, c: rnd.Key(np.array(k.words)),
        "Key of a str": lambda k, c: rnd.Key("abcd"),
        "the bare words": lambda k, c: tuple(k.words),
        "a seed instead": lambda k, c: 0,
        "a split pair": lambda k, c: rnd.split(rnd.key(0)),
        "a Generator": lambda k, c: np.random.default_rng(0),
        "another key": lambda k, c: Bad("another key", rnd.key(12345), "rel"),
    }


def int_mutations():
    return {
        "zero": lambda v, c: 0,
        "minus one": lambda v, c: -1,
        "as float": lambda v, c: float(v),
        "plus a half": lambda v, c: v + 0.5,
        "as np.int64": lambda v, c: Bad("as np.int64", np.int64(v), "same"),
        "as np.uint16": lambda v, c: Bad("as np.uint16", np.uint16(v), "same") if 0 <= v < 2**16 else np.uint16(1),
        "as np.float64": lambda v, c: np.float64(v),
        "as True": lambda v, c: True,
        "as str": lambda v, c: str(v),
        "as Fraction": lambda v, c: fractions.Fraction(v),
        "as Decimal": lambda v, c: decimal.Decimal(v),
        "as 0-d array": lambda v, c: np.asarray(v),
        "as 1-element list": lambda v, c: [v],
        "big count": lambda v, c: 10**12,
        "10**400": lambda v, c: 10**400,
        "-10**400": lambda v, c: -(10**400),
        "np.int64 max": lambda v, c: np.int64(2**63 - 1),
        "np.int64 min": lambda v, c: np.int64(-(2**63)),
    }


def real_mutations():
    return {
        "nan": lambda v, c: math.nan,
        "inf": lambda v, c: math.inf,
        "-inf": lambda v, c: -math.inf,
        "negated": lambda v, c: -v - 1.0,
        "zero": lambda v, c: 0.0,
        "10**400": lambda v, c: 10**400,
        "1e308": lambda v, c: 1e308,
        "5e-324": lambda v, c: 5e-324,
        "as Fraction": lambda v, c: Bad("as Fraction", fractions.Fraction(v), "same"),
        "as Decimal": lambda v, c: decimal.Decimal(v),
        "as np.float64": lambda v, c: Bad("as np.float64", np.float64(v), "same"),
        "as np.float32": lambda v, c: np.float32(v),
        "as np.float16": lambda v, c: np.float16(v),
        "as np.longdouble": lambda v, c: np.longdouble(v),
        "as str": lambda v, c: str(v),
        "as True": lambda v, c: True,
        "as complex": lambda v, c: complex(v),
        "as 0-d array": lambda v, c: np.asarray(v),
        "as np.float32 nan": lambda v, c: np.float32("nan"),
        "np.float64 max": lambda v, c: np.finfo(np.float64).max,
        "float32 max": lambda v, c: float(np.finfo(np.float32).max),
    }


def bool_mutations():
    return {
        "0": lambda v, c: 0,
        "1": lambda v, c: 1,
        "'True'": lambda v, c: "True",
        "np.bool_": lambda v, c: Bad("np.bool_", np.bool_(v), "same"),
        "0-d bool array": lambda v, c: np.asarray(v),
        "[True]": lambda v, c: [v],
    }


def str_mutations():
    return {
        "upper case": lambda v, c: v.upper() if isinstance(v, str) else "X",
        "with a space": lambda v, c: f"{v} ",
        "empty": lambda v, c: "",
        "bytes": lambda v, c: str(v).encode(),
        "in a list": lambda v, c: [v],
        "np.str_": lambda v, c: Bad("np.str_", np.str_(v), "same") if isinstance(v, str) else np.str_("x"),
        "a near miss": lambda v, c: f"{v}x",
        "a NUL byte": lambda v, c: f"{v}\x00",
        "very long": lambda v, c: "x" * 100_000,
    }


# A callable that cannot be called with the documented arguments (a class, int, a function
# of no arguments, a schedule given a record) fails the way Python (or it) says when it is
# called: not drawn for callables.
NOT_CALLABLE_AS_DOCUMENTED = {"the type int", "a schedule"}


def callable_mutations():
    return {
        "an int": lambda v, c: 1,
        "a string": lambda v, c: "print",
        "raises the user's error": lambda v, c: Bad("raises the user's error", _raise_user, "user"),
        "returns None": lambda v, c: (lambda *a, **k: None),
        "returns NaN": lambda v, c: (lambda *a, **k: math.nan),
        "returns a string": lambda v, c: (lambda *a, **k: "stop"),
        "returns an array": lambda v, c: (lambda *a, **k: np.ones(3)),
    }


def schedule_mutations():
    """Learning rates: numbers and schedules that go bad after step 0."""
    def after0(value):
        return lambda t: 0.1 if t == 0 else value

    m = {label: f for label, f in real_mutations().items()}
    m.update({
        "a schedule returning NaN after step 0": lambda v, c: after0(math.nan),
        "a schedule returning inf after step 0": lambda v, c: after0(math.inf),
        "a schedule returning -1 after step 0": lambda v, c: after0(-1.0),
        "a schedule returning a string after step 0": lambda v, c: after0("0.1"),
        "a schedule returning None after step 0": lambda v, c: after0(None),
        "a schedule returning np.float32 nan after step 0": lambda v, c: after0(np.float32("nan")),
        "a schedule returning an array after step 0": lambda v, c: after0(np.ones(2)),
        "a schedule returning 1e308 after step 0": lambda v, c: after0(1e308),
        "a schedule raising after step 0": lambda v, c: Bad("a schedule raising after step 0", lambda t: 0.1 if t == 0 else _raise_user(), "user"),
        "a schedule returning NaN": lambda v, c: (lambda t: math.nan),
        "exponential growth": lambda v, c: schedules.exponential(0.1, 1e300),
    })
    return m


def net_mutations():
    return {
        "another net": lambda n, c: Bad("another net", fn.Net((5, 3)), "rel"),
        "the other dtype": lambda n, c: Bad("the other dtype", dataclasses.replace(n, dtype="float64" if n.dtype == "float32" else "float32"), "rel"),
        "with batch norm": lambda n, c: Bad("with batch norm", fn.Net(n.sizes, batchnorm=True, dtype=n.dtype) if n.layers is None else fn.Net((2, 3)), "rel"),
        "with dropout": lambda n, c: Bad("with dropout", fn.Net(n.sizes, dropout=0.5, dtype=n.dtype) if n.layers is None else fn.Net((2, 3)), "rel"),
        "a regression net": lambda n, c: Bad("a regression net", fn.Net(n.sizes, output="identity", dtype=n.dtype) if n.layers is None else fn.Net((2, 3)), "rel"),
        "a sigmoid net": lambda n, c: Bad("a sigmoid net", fn.Net(n.sizes, output="sigmoid", dtype=n.dtype) if n.layers is None else fn.Net((2, 3)), "rel"),
        "the Net class": lambda n, c: fn.Net,
        "its fields as a dict": lambda n, c: {"sizes": n.sizes},
        "its sizes": lambda n, c: n.sizes,
        "a string": lambda n, c: "net",
    }


def optimizer_mutations():
    return {
        "a name": lambda o, c: "adam",
        "a factory": lambda o, c: optim.adam,
        "the Optimizer class": lambda o, c: optim.Optimizer,
        "Optimizer(None, None)": lambda o, c: optim.Optimizer(None, None),
        "update returning the grads alone": lambda o, c: optim.Optimizer(lambda p: 0, lambda g, s, p=None: g),
        "update returning NaN updates": lambda o, c: optim.Optimizer(lambda p: 0, lambda g, s, p=None: (fn.tree_map(lambda a: a * np.nan, g), s)),
        "update returning other shapes": lambda o, c: optim.Optimizer(lambda p: 0, lambda g, s, p=None: (fn.tree_map(lambda a: a[..., :1], g), s)),
        "update returning a list": lambda o, c: optim.Optimizer(lambda p: 0, lambda g, s, p=None: (list(g), s)),
        "update raising": lambda o, c: Bad("update raising", optim.Optimizer(lambda p: 0, _raise_user), "user"),
        "init raising": lambda o, c: Bad("init raising", optim.Optimizer(_raise_user, lambda g, s, p=None: (g, s)), "user"),
        "a chain of nothing usable": lambda o, c: optim.chain(optim.Optimizer(lambda p: 0, lambda g, s, p=None: None)),
        "a chain of one transform": lambda o, c: Bad("a chain of one transform", optim.chain(optim.sgd(0.1)), "rel"),
        "another optimizer": lambda o, c: Bad("another optimizer", optim.adamw(0.01), "rel"),
        "a schedule": lambda o, c: schedules.constant(0.1),
    }


def opt_state_mutations():
    def count(state, value):
        return state._replace(count=value)

    def first_tree(state, f):
        # the first tree of arrays inside the state (a ChainState's inner state's moments)
        if hasattr(state, "states"):
            inner = list(state.states)
            for i, s in enumerate(inner):
                fields = [n for n in s._fields if n != "count"]
                if fields:
                    inner[i] = s._replace(**{fields[-1]: f(getattr(s, fields[-1]))})
                    return state._replace(states=tuple(inner))
        return state

    return {
        "another optimizer's state": lambda s, c: Bad("another optimizer's state", optim.rmsprop(0.1).init(c.params_for_state), "rel"),
        "the state of other params": lambda s, c: Bad("the state of other params", optim.adam(0.1).init(fn.init(rnd.key(3), fn.Net((2, 2)))), "rel"),
        "count -1": lambda s, c: count(s, -1),
        "count 2.0": lambda s, c: count(s, 2.0),
        "count True": lambda s, c: count(s, True),
        "count None": lambda s, c: count(s, None),
        "count np.int64 max": lambda s, c: count(s, np.int64(2**63 - 1)),
        "count 10**400": lambda s, c: count(s, 10**400),
        "count as np.int64": lambda s, c: Bad("count as np.int64", count(s, np.int64(s.count)), "same"),
        "a NaN moment": lambda s, c: first_tree(s, lambda t: _tree_set(t, 0, _first_key(t), _set(t[0][_first_key(t)], np.nan))),
        "a negative second moment": lambda s, c: first_tree(s, lambda t: _tree_set(t, 0, _first_key(t), -np.abs(t[0][_first_key(t)]) - 1)),
        "a moment of another shape": lambda s, c: first_tree(s, lambda t: _tree_set(t, 0, _first_key(t), t[0][_first_key(t)][..., :1])),
        "a moment as a list": lambda s, c: first_tree(s, lambda t: list(t)),
        "a moment of ints": lambda s, c: first_tree(s, lambda t: _tree_set(t, 0, _first_key(t), t[0][_first_key(t)].astype(int))),
        "a plain tuple": lambda s, c: tuple(s),
        "states as a list": lambda s, c: s._replace(states=list(s.states)) if hasattr(s, "states") else [s],
        "a state missing": lambda s, c: s._replace(states=s.states[:-1]) if hasattr(s, "states") else (),
        "None states": lambda s, c: s._replace(states=None) if hasattr(s, "states") else None,
        "the initial state of another chain": lambda s, c: Bad("the initial state of another chain", optim.chain(optim.clip_by_value(1.0), optim.sgd(0.1)).init(c.params_for_state), "rel"),
    }


def shape_mutations():
    return {
        "(-1,)": lambda s, c: (-1,),
        "(2.0,)": lambda s, c: (2.0,),
        "(10**400,)": lambda s, c: (10**400,),
        "(2**31, 2**31)": lambda s, c: (2**31, 2**31),
        "(2**62,)": lambda s, c: (2**62,),
        "'3'": lambda s, c: "3",
        "a list": lambda s, c: Bad("a list", list(s), "same") if isinstance(s, tuple) else [s],
        "an array": lambda s, c: np.array(s),
        "(2, None)": lambda s, c: (2, None),
        "nested": lambda s, c: ((2,),),
        "() (a scalar)": lambda s, c: Bad("() (a scalar)", (), "rel"),
        "(0,)": lambda s, c: Bad("(0,)", (0,), "rel"),
        "np.int64 dims": lambda s, c: Bad("np.int64 dims", tuple(np.int64(x) for x in (s if isinstance(s, tuple) else (s,))), "same" if isinstance(s, tuple) else "rel"),
        "33 dimensions": lambda s, c: (1,) * 33,
        "65 dimensions": lambda s, c: (1,) * 65,
    }


def dtype_mutations():
    return {
        "float16": lambda d, c: "float16",
        "int32": lambda d, c: "int32",
        "'f4'": lambda d, c: Bad("'f4'", "f4", "rel"),
        "np.float64": lambda d, c: Bad("np.float64", np.float64, "rel"),
        "complex": lambda d, c: "complex",
        "object": lambda d, c: object,
        "big-endian float64": lambda d, c: np.dtype(">f8"),
        "structured": lambda d, c: [("a", "f8")],
        "an unknown name": lambda d, c: "float99",
        "a float": lambda d, c: 1.0,
    }


def sizes_mutations():
    return {
        "a zero width": lambda s, c: (s[0], 0, *s[2:]),
        "a negative width": lambda s, c: (s[0], -1, *s[2:]),
        "a float width": lambda s, c: (s[0], 2.0, *s[2:]),
        "a bool width": lambda s, c: (s[0], True, *s[2:]),
        "a huge width 10**400": lambda s, c: (s[0], 10**400, *s[2:]),
        "a width 2**62": lambda s, c: (s[0], 2**62, *s[2:]),
        "two widths 2**31": lambda s, c: (2**31, 2**31),
        "a width 2**40": lambda s, c: (s[0], 2**40, *s[2:]),
        "one size": lambda s, c: (s[0],),
        "no sizes": lambda s, c: (),
        "a string": lambda s, c: "342",
        "a generator": lambda s, c: Bad("a generator", (x for x in s), "same"),
        "a list": lambda s, c: Bad("a list", list(s), "same"),
        "an int array": lambda s, c: Bad("an int array", np.array(s), "same"),
        "a float array": lambda s, c: np.array(s, float),
        "a nested tuple": lambda s, c: ((s[0],), *s[1:]),
        "one output for softmax": lambda s, c: (*s[:-1], 1),
        "a dict": lambda s, c: {x: x for x in s},
        "an int": lambda s, c: s[0],
    }


def layers_mutations():
    return {
        "empty": lambda v, c: [],
        "a string among them": lambda v, c: [L.Dense(3), "relu", L.Dense(2)],
        "a layer class": lambda v, c: [L.Dense, L.Dense(2)],
        "two batch norms in a dict": lambda v, c: [L.Dense(3), L.BatchNorm(), L.BatchNorm(), L.Dense(2)],
        "no Dense": lambda v, c: [L.Act("tanh")],
        "dropout first": lambda v, c: [L.Dropout(0.5), L.Dense(2)],
        "the base Layer": lambda v, c: [L.Layer(), L.Dense(2)],
        "a generator": lambda v, c: (x for x in v),
        "a tuple": lambda v, c: Bad("a tuple", tuple(v), "same"),
        "one output for softmax": lambda v, c: [L.Dense(3), L.Act("tanh"), L.Dense(1)],
        "a set": lambda v, c: {L.Dense(2)},
        "nested list": lambda v, c: [v],
    }


def tree_kind_mutations():
    """A generic tree argument (tree_map, tree_leaves...)."""
    return {
        "a cyclic list": lambda t, c: _cyclic(),
        "nested 3000 deep": lambda t, c: _nested(t),
        "a dict with mixed keys": lambda t, c: {1: np.ones(1), "a": np.ones(1)},
        "a set": lambda t, c: {1, 2},
        "a generator": lambda t, c: _gen(),
        "a string": lambda t, c: "tree",
        "a 0-d array": lambda t, c: np.array(1.0),
        "layers with a list leaf": lambda t, c: _tree_set(t, 0, _first_key(t), [1, 2]) if isinstance(t, tuple) and t and isinstance(t[0], dict) else [[1, 2]],
        "a NaN leaf": lambda t, c: _tree_set(t, 0, _first_key(t), np.array([np.nan])) if isinstance(t, tuple) and t and isinstance(t[0], dict) else [np.nan],
        "another structure": lambda t, c: Bad("another structure", ({"Z": np.ones(1)},), "rel"),
        "a NamedTuple": lambda t, c: optim.CountState(np.ones(2)),
    }


def history_mutations():
    def h(**kw):
        base = {"epoch": [1, 2], "loss": [1.0, 0.5], "accuracy": [0.5, 0.75], "grad_norm": [[0.5, 0.25], [0.4, 0.2]]}
        base.update(kw)
        return {k: v for k, v in base.items() if v is not None}

    return {
        "no loss": lambda v, c: h(loss=None),
        "no epoch": lambda v, c: h(epoch=None),
        "empty lists": lambda v, c: h(epoch=[], loss=[], accuracy=[], grad_norm=[]),
        "a NaN loss": lambda v, c: h(loss=[math.nan, 0.5]),
        "an inf loss": lambda v, c: h(loss=[math.inf, 0.5]),
        "string losses": lambda v, c: h(loss=["a", "b"]),
        "a None loss": lambda v, c: h(loss=[None, 0.5]),
        "a huge int loss": lambda v, c: h(loss=[10**400, 0.5]),
        "loss shorter than epoch": lambda v, c: h(loss=[1.0]),
        "loss longer than epoch": lambda v, c: h(loss=[1.0, 0.5, 0.25]),
        "accuracy shorter": lambda v, c: h(accuracy=[0.5]),
        "val_loss shorter": lambda v, c: h(val_loss=[0.5]),
        "nested losses": lambda v, c: h(loss=[[1.0], [0.5]]),
        "loss a scalar": lambda v, c: h(loss=1.0),
        "epoch a scalar": lambda v, c: h(epoch=2),
        "epoch strings": lambda v, c: h(epoch=["a", "b"]),
        "epoch None entries": lambda v, c: h(epoch=[None, None]),
        "ragged grad norms": lambda v, c: h(grad_norm=[[0.5, 0.25], [0.4]]),
        "NaN grad norms": lambda v, c: h(grad_norm=[[math.nan, 0.25], [0.4, 0.2]]),
        "negative grad norms": lambda v, c: h(grad_norm=[[-1.0, 0.25], [0.4, 0.2]]),
        "string grad norms": lambda v, c: h(grad_norm=[["a", "b"], ["c", "d"]]),
        "empty grad norms": lambda v, c: h(grad_norm=[[], []]),
        "3-d grad norms": lambda v, c: h(grad_norm=[[[0.5]], [[0.4]]]),
        "a list of records": lambda v, c: [{"epoch": 1, "loss": 1.0}],
        "keys not strings": lambda v, c: {1: [1], "epoch": [1], "loss": [1.0]},
        "a record": lambda v, c: {"epoch": 1, "loss": 1.0},
    }


def figsize_mutations():
    return {
        "(0, 3)": lambda v, c: (0, 3),
        "(-1, 3)": lambda v, c: (-1, 3),
        "(nan, 3)": lambda v, c: (math.nan, 3),
        "(1e308, 3)": lambda v, c: (1e308, 3),
        "(1e6, 1e6)": lambda v, c: (1e6, 1e6),
        "(3,)": lambda v, c: (3,),
        "(3, 3, 3)": lambda v, c: (3, 3, 3),
        "('3', 3)": lambda v, c: ("3", 3),
        "an array": lambda v, c: np.array([3.0, 3.0]),
        "(5e-324, 3)": lambda v, c: (5e-324, 3),
    }


def seq_int_mutations():
    return {
        "decreasing": lambda v, c: list(v)[::-1] if len(v) > 1 else [3, 1],
        "repeated": lambda v, c: [v[0], v[0]] if v else [1, 1],
        "a zero": lambda v, c: [0, *v],
        "a negative": lambda v, c: [-1, *v],
        "a float": lambda v, c: [1.5, *v],
        "a string": lambda v, c: "12",
        "a set": lambda v, c: set(v),
        "a generator": lambda v, c: (x for x in v),
        "an array": lambda v, c: np.array(v),
        "huge": lambda v, c: [*v, 10**400],
        "nested": lambda v, c: [list(v)],
        "a dict": lambda v, c: {x: x for x in v},
    }


def norms_mutations():
    return {
        "empty": lambda v, c: [],
        "a NaN": lambda v, c: [math.nan, 1.0],
        "negative": lambda v, c: [-1.0, 1.0],
        "strings": lambda v, c: ["a", "b"],
        "2-d": lambda v, c: [[1.0, 2.0]],
        "a dict of unequal series": lambda v, c: {"a": [1.0], "b": [1.0, 2.0]},
        "a dict of strings": lambda v, c: {"a": "xy"},
        "a dict with an empty series": lambda v, c: {"a": []},
        "huge ints": lambda v, c: [10**400, 1],
        "a dict with non-string labels": lambda v, c: {1: [1.0, 2.0], None: [1.0, 2.0]},
        "1e308": lambda v, c: [1e308, 1e-308],
        "complex": lambda v, c: [1j, 2.0],
    }


def images_mutations():
    m = array_mutations()
    m.update({
        "4-d": lambda a, c: np.asarray(a)[None, None],
        "not square rows": lambda a, c: np.asarray(a)[:, :-1],
        "one image": lambda a, c: Bad("one image", np.asarray(a)[:1], "rel"),
    })
    return m


# --- hostile files ---


def _npy(a, *, version=None) -> bytes:
    buf = _io.BytesIO()
    a = np.asanyarray(a)
    if version is None:
        np.lib.format.write_array(buf, a, allow_pickle=True)
    else:
        np.lib.format.write_array(buf, a, version=version, allow_pickle=True)
    return buf.getvalue()


def _npy_with_header(header: dict, data: bytes, version=(1, 0)) -> bytes:
    h = repr(header).encode("latin1")
    pad = 64 - (10 + len(h) + 1) % 64
    h = h + b" " * pad + b"\n"
    size = struct.pack("<H", len(h)) if version == (1, 0) else struct.pack("<I", len(h))
    return b"\x93NUMPY" + bytes(version) + size + h + data


def _zip(members: dict, *, compression=zipfile.ZIP_STORED, duplicate=None) -> bytes:
    buf = _io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if duplicate is not None:
            with _quiet_warnings():
                zf.writestr(*duplicate)
    return buf.getvalue()


@contextlib.contextmanager
def _quiet_warnings():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


class Files:
    """The valid files every file argument starts from (written once per session)."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.net = fn.Net((3, 4, 2), activation="tanh", batchnorm=True, dtype="float32")
        self.params = fn.init(rnd.key(7), self.net)
        self.stats = tuple({k: (v + 0.5).astype(np.float32) for k, v in d.items()} for d in fn.init_stats(self.net))
        self.npz = folder / "params.npz"
        fio.save(self.npz, self.net, self.params, stats=self.stats)
        with zipfile.ZipFile(self.npz) as zf:
            self.members = {name: zf.read(name) for name in zf.namelist()}
        self.meta = json.loads(str(np.load(self.npz)["net"]))
        # an IDX file (uint8, 3 x 2 x 2) raw and gzipped
        self.idx = folder / "a.idx"
        self.idx_bytes = struct.pack(">HBBIII", 0, 8, 3, 3, 2, 2) + bytes(range(12))
        self.idx.write_bytes(self.idx_bytes)
        # a tiny MNIST folder
        self.mnist = folder / "mnist"
        self.mnist.mkdir(exist_ok=True)
        rng = np.random.default_rng(0)
        for name, n in (("train", 12), ("t10k", 4)):
            images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
            labels = (np.arange(n) % 10).astype(np.uint8)
            (self.mnist / f"{name}-images-idx3-ubyte.gz").write_bytes(
                gzip.compress(struct.pack(">HBBIII", 0, 8, 3, n, 28, 28) + images.tobytes(), mtime=0))
            (self.mnist / f"{name}-labels-idx1-ubyte.gz").write_bytes(
                gzip.compress(struct.pack(">HBBI", 0, 8, 1, n) + labels.tobytes(), mtime=0))
        # a run folder for `funcnet evaluate`: params of a 2-3-2 moons net and its config
        self.run = folder / "run"
        self.run.mkdir(exist_ok=True)
        net = fn.Net((2, 3, 2), dtype="float32")
        fio.save(self.run / "params.npz", net, fn.init(rnd.key(0), net))
        self.config = {"dataset": "moons", "n_samples": 20, "seed": 0, "hidden": [3], "epochs": 2,
                       "batch_size": 4, "val_fraction": 0.0}
        (self.run / "config.json").write_text(json.dumps(self.config))
        # a checkpoint of one epoch of Adam on the batch-norm net
        X = np.random.default_rng(1).normal(size=(6, 3)).astype(np.float32)
        self.result = fn.fit(self.net, self.params, X, np.arange(6) % 2, key=rnd.key(2), optimizer=optim.adam(0.01),
                             epochs=1, batch_size=3, stats=self.stats)
        self.ckpt = folder / "checkpoint.npz"
        fio.save_checkpoint(self.ckpt, self.net, self.result, config={"note": "fuzz"})
        self.ckpt_bytes = self.ckpt.read_bytes()


def _write(c: Ctx, data: bytes, suffix="") -> Path:
    p = c.path(suffix)
    p.write_bytes(data)
    return p


def _file(label, path, tag="bad"):
    return Bad(label, str(path), tag, files=(str(path),))


def _meta_file(c, files, meta_text=None, meta_array=None, **changes):
    meta = copy.deepcopy(files.meta)
    for k, v in changes.items():
        if k == "format":
            meta["format"] = v
        elif v is _DROP:
            meta["net"].pop(k, None)
        else:
            meta["net"][k] = v
    if meta_array is None:
        meta_array = np.array(meta_text if meta_text is not None else json.dumps(meta))
    members = dict(files.members)
    members["net.npy"] = _npy(meta_array)
    return _write(c, _zip(members), ".npz")


_DROP = object()


def _member_file(c, files, name, data=None, *, drop=False, compression=zipfile.ZIP_STORED):
    members = dict(files.members)
    if drop:
        members.pop(name)
    else:
        members[name] = data
    return _write(c, _zip(members, compression=compression), ".npz")


def _raw_zip_flag(data: bytes, flag: int = 0, method: int | None = None) -> bytes:
    """Set a general-purpose flag bit (or the method) of every entry, in local and central headers."""
    b = bytearray(data)
    for sig, off_flag in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = b.find(sig)
        while i >= 0:
            if flag:
                b[i + off_flag] |= flag
            if method is not None:
                struct.pack_into("<H", b, i + off_flag + 2, method)
            i = b.find(sig, i + 4)
    return bytes(b)


def npz_mutations(files: Files):
    W = files.params[0]["W"]

    def z(label, f, tag="bad"):
        return lambda v, c: _file(label, f(c), tag)

    raw = files.npz.read_bytes()
    m = {
        "truncated": z("truncated", lambda c: _write(c, raw[: int(c.rng.integers(1, len(raw)))], ".npz")),
        "empty": z("empty", lambda c: _write(c, b"", ".npz")),
        "random bytes": z("random bytes", lambda c: _write(c, c.rng.bytes(500), ".npz")),
        "flipped bytes": z("flipped bytes", lambda c: _write(c, _flip(raw, c), ".npz")),
        "a gzip file": z("a gzip file", lambda c: _write(c, gzip.compress(raw), ".npz")),
        "a directory": z("a directory", lambda c: _mkdir(c)),
        "a missing file": z("a missing file", lambda c: c.path(".npz")),
        "an IDX file": z("an IDX file", lambda c: _write(c, files.idx_bytes, ".npz")),
        "format wrong": z("format wrong", lambda c: _meta_file(c, files, format="funcnet-params/9")),
        "meta a JSON list": z("meta a JSON list", lambda c: _meta_file(c, files, meta_text="[1, 2]")),
        "meta not JSON": z("meta not JSON", lambda c: _meta_file(c, files, meta_text="{net")),
        "meta 100000 deep": z("meta 100000 deep", lambda c: _meta_file(c, files, meta_text="[" * 100000)),
        "meta huge": z("meta huge", lambda c: _meta_file(c, files, meta_text="x" * 200_000)),
        "meta bytes": z("meta bytes", lambda c: _meta_file(c, files, meta_array=np.array(b"{}"))),
        "meta an int": z("meta an int", lambda c: _meta_file(c, files, meta_array=np.array(3))),
        "meta two strings": z("meta two strings", lambda c: _meta_file(c, files, meta_array=np.array(["{}", "{}"]))),
        "meta object array": z("meta object array", lambda c: _meta_file(c, files, meta_array=np.array([{"a": 1}], dtype=object))),
        "no net field": z("no net field", lambda c: _meta_file(c, files, meta_text=json.dumps({"format": fio.FORMAT}))),
        "net a list": z("net a list", lambda c: _meta_file(c, files, meta_text=json.dumps({"format": fio.FORMAT, "net": [1]}))),
        "sizes a string": z("sizes a string", lambda c: _meta_file(c, files, sizes="342")),
        "sizes huge": z("sizes huge", lambda c: _meta_file(c, files, sizes=[3, 10**400, 2])),
        "sizes 2**62": z("sizes 2**62", lambda c: _meta_file(c, files, sizes=[3, 2**62, 2])),
        "sizes 2**40": z("sizes 2**40", lambda c: _meta_file(c, files, sizes=[3, 2**40, 2])),
        "sizes inf": z("sizes inf", lambda c: _meta_file(c, files, meta_text=json.dumps(files.meta).replace("[3, 4, 2]", "[3, 1e400, 2]"))),
        "sizes negative": z("sizes negative", lambda c: _meta_file(c, files, sizes=[3, -4, 2])),
        "sizes missing": z("sizes missing", lambda c: _meta_file(c, files, sizes=_DROP)),
        "sizes a dict": z("sizes a dict", lambda c: _meta_file(c, files, sizes={"a": 1})),
        "dtype float16": z("dtype float16", lambda c: _meta_file(c, files, dtype="float16")),
        "dtype a list": z("dtype a list", lambda c: _meta_file(c, files, dtype=["float32"])),
        "dtype float64": z("dtype float64", lambda c: _meta_file(c, files, dtype="float64")),
        "dropout NaN": z("dropout NaN", lambda c: _meta_file(c, files, meta_text=json.dumps(files.meta).replace('"dropout": 0.0', '"dropout": NaN'))),
        "activation 5": z("activation 5", lambda c: _meta_file(c, files, activation=5)),
        "batchnorm 'yes'": z("batchnorm 'yes'", lambda c: _meta_file(c, files, batchnorm="yes")),
        "batchnorm off": z("batchnorm off", lambda c: _meta_file(c, files, batchnorm=False)),
        "an unknown field": z("an unknown field", lambda c: _meta_file(c, files, colour="red")),
        "layers field": z("layers field", lambda c: _meta_file(c, files, layers=[1])),
        "softmax of one": z("softmax of one", lambda c: _meta_file(c, files, sizes=[3, 4, 1])),
        "a NaN weight": z("a NaN weight", lambda c: _member_file(c, files, "0/W.npy", _npy(_set(W, np.nan)))),
        "an inf weight": z("an inf weight", lambda c: _member_file(c, files, "0/W.npy", _npy(_set(W, np.inf)))),
        "a weight of another shape": z("a weight of another shape", lambda c: _member_file(c, files, "0/W.npy", _npy(W.T))),
        "a float64 weight": z("a float64 weight", lambda c: _member_file(c, files, "0/W.npy", _npy(W.astype(np.float64)))),
        "an int weight": z("an int weight", lambda c: _member_file(c, files, "0/W.npy", _npy(W.astype(np.int32)))),
        "a pickled weight": z("a pickled weight", lambda c: _member_file(c, files, "0/W.npy", _npy(W.astype(object)))),
        "a big-endian weight": z("a big-endian weight", lambda c: _member_file(c, files, "0/W.npy", _npy(_bigendian(W)))),
        "a Fortran weight": z("a Fortran weight", lambda c: _member_file(c, files, "0/W.npy", _npy(np.asfortranarray(W))), "same"),
        "a version 2 header": z("a version 2 header", lambda c: _member_file(c, files, "0/W.npy", _npy(W, version=(2, 0))), "same"),
        "a version 3 header": z("a version 3 header", lambda c: _member_file(c, files, "0/W.npy", _npy(W, version=(3, 0)))),
        "a huge declared shape": z("a huge declared shape", lambda c: _member_file(c, files, "0/W.npy", _npy_with_header({"descr": "<f4", "fortran_order": False, "shape": (2**40, 4)}, W.tobytes()))),
        "a negative declared shape": z("a negative declared shape", lambda c: _member_file(c, files, "0/W.npy", _npy_with_header({"descr": "<f4", "fortran_order": False, "shape": (-3, 4)}, W.tobytes()))),
        "a garbage header": z("a garbage header", lambda c: _member_file(c, files, "0/W.npy", _npy_with_header({"descr": 5}, W.tobytes()))),
        "an unparsable header": z("an unparsable header", lambda c: _member_file(c, files, "0/W.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': (((((\n" + W.tobytes())),
        "a header of 2**32 version": z("a header of 2**32 version", lambda c: _member_file(c, files, "0/W.npy", b"\x93NUMPY\x09\x00" + W.tobytes())),
        "a truncated weight": z("a truncated weight", lambda c: _member_file(c, files, "0/W.npy", _npy(W)[:-5])),
        "trailing data": z("trailing data", lambda c: _member_file(c, files, "0/W.npy", _npy(W) + b"xx")),
        "a missing weight": z("a missing weight", lambda c: _member_file(c, files, "0/W.npy", drop=True)),
        "missing statistics": z("missing statistics", lambda c: _member_file(c, files, "stats/0/var.npy", drop=True)),
        "a negative variance": z("a negative variance", lambda c: _member_file(c, files, "stats/0/var.npy", _npy(-np.ones(4, np.float32)))),
        "an extra entry": z("an extra entry", lambda c: _member_file(c, files, "extra.npy", _npy(np.ones(2)))),
        "an entry outside": z("an entry outside", lambda c: _member_file(c, files, "../evil.npy", _npy(np.ones(2)))),
        "a text entry": z("a text entry", lambda c: _member_file(c, files, "readme.txt", b"hello")),
        "a duplicate entry": z("a duplicate entry", lambda c: _write(c, _zip(files.members, duplicate=("0/W.npy", _npy(W.T))), ".npz")),
        "deflated entries": z("deflated entries", lambda c: _write(c, _zip(files.members, compression=zipfile.ZIP_DEFLATED), ".npz"), "same"),
        "bzip2 entries": z("bzip2 entries", lambda c: _write(c, _zip(files.members, compression=zipfile.ZIP_BZIP2), ".npz"), "same"),
        "lzma entries": z("lzma entries", lambda c: _write(c, _zip(files.members, compression=zipfile.ZIP_LZMA), ".npz"), "same"),
        "corrupt deflate data": z("corrupt deflate data", lambda c: _write(c, _flip_after(_zip(files.members, compression=zipfile.ZIP_DEFLATED), c, 40), ".npz")),
        "corrupt bzip2 data": z("corrupt bzip2 data", lambda c: _write(c, _flip_after(_zip(files.members, compression=zipfile.ZIP_BZIP2), c, 40), ".npz")),
        "corrupt lzma data": z("corrupt lzma data", lambda c: _write(c, _flip_after(_zip(files.members, compression=zipfile.ZIP_LZMA), c, 40), ".npz")),
        "encrypted flag": z("encrypted flag", lambda c: _write(c, _raw_zip_flag(raw, flag=1), ".npz")),
        "unknown compression method": z("unknown compression method", lambda c: _write(c, _raw_zip_flag(raw, method=99), ".npz")),
        "deflate method on stored data": z("deflate method on stored data", lambda c: _write(c, _raw_zip_flag(raw, method=8), ".npz")),
        "a deflate bomb": z("a deflate bomb", lambda c: _bomb(c, files)),
    }
    return m


def _flip(data: bytes, c: Ctx) -> bytes:
    b = bytearray(data)
    for _ in range(int(c.rng.integers(1, 9))):
        i = int(c.rng.integers(len(b)))
        b[i] ^= 1 << int(c.rng.integers(8))
    return bytes(b)


def _flip_after(data: bytes, c: Ctx, start: int) -> bytes:
    b = bytearray(data)
    for _ in range(4):
        i = int(c.rng.integers(start, len(b) // 2))
        b[i] ^= 0xFF
    return bytes(b)


def _mkdir(c: Ctx) -> Path:
    p = c.path()
    p.mkdir()
    (p / "x").write_text("x")
    return p


_BOMB: dict = {}


def _bomb(c: Ctx, files: Files) -> Path:
    # A 0/W entry declaring a (3, 4) float32 array, followed by 20 MB of zeros, deflated.
    if "data" not in _BOMB:
        W = files.params[0]["W"]
        members = dict(files.members)
        members["0/W.npy"] = _npy(W) + bytes(20 << 20)
        _BOMB["data"] = _zip(members, compression=zipfile.ZIP_DEFLATED)
    return _write(c, _BOMB["data"], ".npz")


def idx_mutations(files: Files):
    good = files.idx_bytes

    def z(label, data_fn, tag="bad", suffix=".idx"):
        return lambda v, c: _file(label, _write(c, data_fn(c), suffix), tag)

    return {
        "gzipped": z("gzipped", lambda c: gzip.compress(good, mtime=0), "same"),
        "a wrong magic": z("a wrong magic", lambda c: b"\x01\x02" + good[2:]),
        "an unknown type code": z("an unknown type code", lambda c: good[:2] + b"\x07" + good[3:]),
        "0 dimensions": z("0 dimensions", lambda c: good[:3] + b"\x00" + good[4:]),
        "255 dimensions": z("255 dimensions", lambda c: good[:3] + b"\xff" + good[4:]),
        "255 dimensions of 1": z("255 dimensions of 1", lambda c: good[:3] + b"\xff" + struct.pack(">255I", *([1] * 255)) + b"\x05"),
        "a huge declared size": z("a huge declared size", lambda c: struct.pack(">HBBIII", 0, 8, 3, 2**32 - 1, 2**32 - 1, 2**32 - 1) + bytes(12)),
        "a zero dimension": z("a zero dimension", lambda c: struct.pack(">HBBIII", 0, 8, 3, 0, 2, 2)),
        "truncated data": z("truncated data", lambda c: good[:-3]),
        "a truncated header": z("a truncated header", lambda c: good[:9]),
        "trailing data": z("trailing data", lambda c: good + b"\x00"),
        "empty": z("empty", lambda c: b""),
        "three bytes": z("three bytes", lambda c: b"\x00\x00\x08"),
        "random bytes": z("random bytes", lambda c: c.rng.bytes(64)),
        "flipped bytes": z("flipped bytes", lambda c: _flip(good, c)),
        "gzip truncated": z("gzip truncated", lambda c: gzip.compress(good, mtime=0)[:-6]),
        "gzip corrupt": z("gzip corrupt", lambda c: _flip_after(gzip.compress(good, mtime=0), c, 12)),
        "gzip with garbage after": z("gzip with garbage after", lambda c: gzip.compress(good, mtime=0) + b"garbage"),
        "gzip of garbage": z("gzip of garbage", lambda c: gzip.compress(c.rng.bytes(40), mtime=0)),
        "gzip with more data than declared": z("gzip with more data than declared", lambda c: gzip.compress(good + bytes(1 << 20), mtime=0)),
        "float32 with a NaN": z("float32 with a NaN", lambda c: struct.pack(">HBBI", 0, 0x0D, 1, 2) + struct.pack(">ff", 1.0, math.nan)),
        "float64 with inf": z("float64 with inf", lambda c: struct.pack(">HBBI", 0, 0x0E, 1, 2) + struct.pack(">dd", 1.0, math.inf)),
        "int16 data": z("int16 data", lambda c: struct.pack(">HBBI", 0, 0x0B, 1, 2) + struct.pack(">hh", -1, 300), "rel"),
        "a directory": lambda v, c: _file("a directory", _mkdir(c)),
        "a missing file": lambda v, c: _file("a missing file", c.path(".idx")),
    }


def checkpoint_mutations(files: Files):
    raw = files.ckpt_bytes

    def z(label, f, tag="bad"):
        return lambda v, c: _file(label, f(c), tag)

    return {
        "truncated": z("truncated", lambda c: _write(c, raw[: int(c.rng.integers(1, len(raw)))], ".npz")),
        "empty": z("empty", lambda c: _write(c, b"", ".npz")),
        "random bytes": z("random bytes", lambda c: _write(c, c.rng.bytes(500), ".npz")),
        "flipped bytes": z("flipped bytes", lambda c: _write(c, _flip(raw, c), ".npz")),
        "a params file": z("a params file", lambda c: _write(c, files.npz.read_bytes(), ".npz")),
        "an IDX file": z("an IDX file", lambda c: _write(c, files.idx_bytes, ".npz")),
        "a directory": z("a directory", lambda c: _mkdir(c)),
        "a missing file": z("a missing file", lambda c: c.path(".npz")),
    }


def result_mutations():
    return {
        "None": lambda v, c: None,
        "its params": lambda v, c: v.params,
        "a tuple": lambda v, c: tuple(v),
        "state None": lambda v, c: v._replace(state=None),
        "history not JSON": lambda v, c: v._replace(history={"loss": [math.nan]}),
        "another net's": lambda v, c: v._replace(state=v.state._replace(train=v.state.train._replace(
            params=fn.init(rnd.key(0), fn.Net((3, 5, 2), batchnorm=True))))),
    }


def config_dict_mutations():
    return {
        "a list": lambda v, c: [1, 2],
        "a set inside": lambda v, c: {"a": {1, 2}},
        "a NaN inside": lambda v, c: {"a": math.nan},
        "a string": lambda v, c: "config",
        "keys not strings": lambda v, c: {(1, 2): 3},
    }


def mnist_dir_mutations(files: Files):
    names = ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

    def folder(c, label, change):
        p = c.path()
        shutil.copytree(files.mnist, p)
        change(p, c)
        return Bad(label, str(p), "bad", files=(str(p),))

    def replace(name, data_fn):
        return lambda p, c: (p / name).write_bytes(data_fn(c, (p / name).read_bytes()))

    def gz(header, n, data=None):
        return lambda c, old: gzip.compress(struct.pack(header[0], *header[1:]) + (data if data is not None else bytes(n)), mtime=0)

    m = {
        "a file missing": lambda v, c: folder(c, "a file missing", lambda p, c: (p / names[2]).unlink()),
        "a file a directory": lambda v, c: folder(c, "a file a directory", lambda p, c: ((p / names[1]).unlink(), (p / names[1]).mkdir())),
        "a corrupt image file": lambda v, c: folder(c, "a corrupt image file", replace(names[0], lambda c, old: _flip_after(old, c, 12))),
        "a truncated label file": lambda v, c: folder(c, "a truncated label file", replace(names[2], lambda c, old: old[:-8])),
        "labels of another count": lambda v, c: folder(c, "labels of another count", replace(names[2], gz((">HBBI", 0, 8, 1, 5), 5))),
        "2-d images": lambda v, c: folder(c, "2-d images", replace(names[0], gz((">HBBII", 0, 8, 2, 12, 784), 12 * 784))),
        "float images": lambda v, c: folder(c, "float images", replace(names[1], gz((">HBBIII", 0, 0x0D, 3, 4, 28, 28), 4 * 784 * 4))),
        "test images of another size": lambda v, c: folder(c, "test images of another size", replace(names[1], gz((">HBBIII", 0, 8, 3, 4, 27, 27), 4 * 27 * 27))),
        "labels 2-d": lambda v, c: folder(c, "labels 2-d", replace(names[3], gz((">HBBII", 0, 8, 2, 4, 1), 4))),
        "labels out of range": lambda v, c: folder(c, "labels out of range", replace(names[3], gz((">HBBI", 0, 8, 1, 4), 4, bytes([255] * 4)))),
        "a wrong checksum": lambda v, c: folder(c, "a wrong checksum", lambda p, c: (p / "SHA256SUMS").write_text("0" * 64 + "  " + names[0] + "\n")),
        "a garbage checksum file": lambda v, c: folder(c, "a garbage checksum file", lambda p, c: (p / "SHA256SUMS").write_bytes(c.rng.bytes(300))),
        "a checksum file that is a directory": lambda v, c: folder(c, "a checksum file that is a directory", lambda p, c: (p / "SHA256SUMS").mkdir()),
        "a missing folder": lambda v, c: Bad("a missing folder", str(c.path()), "bad"),
        "a file instead of a folder": lambda v, c: _file("a file instead of a folder", _write(c, b"x")),
    }
    return m


def json_config_mutations():
    """Hostile config.json files for the command line."""
    def conf(label, text):
        return lambda v, c: _file(label, _write(c, text.encode() if isinstance(text, str) else text, ".json"))

    def d(**kw):
        return json.dumps({"dataset": "moons", "n_samples": 20, "epochs": 2, "hidden": [3], "batch_size": 4, **kw})

    return {
        "not JSON": conf("not JSON", "{not json"),
        "a JSON list": conf("a JSON list", "[1, 2]"),
        "100000 deep": conf("100000 deep", "[" * 100000 + "]" * 100000),
        "unknown settings": conf("unknown settings", d(colour="red")),
        "hidden a string": conf("hidden a string", d(hidden="wide")),
        "hidden inf": conf("hidden inf", d().replace('"hidden": [3]', '"hidden": [1e400]')),
        "hidden huge": conf("hidden huge", d(hidden=[10**400])),
        "hidden 2**62": conf("hidden 2**62", d(hidden=[2**62])),
        "epochs inf": conf("epochs inf", d().replace('"epochs": 2', '"epochs": 1e400')),
        "epochs a string": conf("epochs a string", d(epochs="ten")),
        "lr NaN": conf("lr NaN", d().replace('"epochs": 2', '"epochs": 2, "lr": NaN')),
        "lr a list": conf("lr a list", d(lr=[0.1])),
        "seed -1": conf("seed -1", d(seed=-1)),
        "seed huge": conf("seed huge", d(seed=10**400)),
        "seed a float": conf("seed a float", d(seed=1.5)),
        "n_samples huge": conf("n_samples huge", d(n_samples=10**400)),
        "n_samples 2**62": conf("n_samples 2**62", d(n_samples=2**62)),
        "n_samples 5": conf("n_samples 5", d(n_samples=5)),
        "n_samples a string": conf("n_samples a string", d(n_samples="20")),
        "dataset a list": conf("dataset a list", d(dataset=["moons"])),
        "dataset unknown": conf("dataset unknown", d(dataset="cifar")),
        "mnist without data_dir": conf("mnist without data_dir", d(dataset="mnist", n_samples=None)),
        "data_dir a number": conf("data_dir a number", d(dataset="mnist", n_samples=None, data_dir=5)),
        "dtype float16": conf("dtype float16", d(dtype="float16")),
        "batchnorm 'yes'": conf("batchnorm 'yes'", d(batchnorm="yes")),
        "val_fraction 1": conf("val_fraction 1", d(val_fraction=1)),
        "val_fraction a string": conf("val_fraction a string", d(val_fraction="0.1")),
        "patience 0": conf("patience 0", d(patience=0)),
        "patience without validation": conf("patience without validation", d(patience=2, val_fraction=0)),
        "optimizer unknown": conf("optimizer unknown", d(optimizer="lbfgs")),
        "activation null": conf("activation null", d(activation=None)),
        "dropout 1": conf("dropout 1", d(dropout=1)),
        "l2 -1": conf("l2 -1", d(l2=-1)),
        "batch_size 0": conf("batch_size 0", d(batch_size=0)),
        "batch_size 2.5": conf("batch_size 2.5", d(batch_size=2.5)),
        "latin-1 bytes": conf("latin-1 bytes", b'{"dataset": "moons\xe9"}'),
        "a BOM": conf("a BOM", b"\xef\xbb\xbf" + d().encode()),
        "empty": conf("empty", ""),
        "funcnet_version only": conf("funcnet_version only", json.dumps({"funcnet_version": "9"})),
        "a directory": lambda v, c: _file("a directory", _mkdir(c)),
        "a missing file": lambda v, c: _file("a missing file", c.path(".json")),
    }


def cli_value_mutations():
    """Strings for a command-line option's value."""
    values = {
        "empty": "", "-1": "-1", "0": "0", "1.5": "1.5", "abc": "abc", "nan": "nan", "inf": "inf",
        "-inf": "-inf", "1e400": "1e400", "1e-400": "1e-400", "400 nines": "9" * 400, "0x10": "0x10",
        "' 1'": " 1", "1_000": "1_000", "Arabic-Indic one": "\u0661", "'--'": "--", "NUL": "a\x00b",
        "é": "é", "-0": "-0", "2**62": str(2**62), "1e9": "1000000000", "a dash value": "-x",
    }
    m = {label: (lambda v, c, s=s: s) for label, s in values.items()}
    m["no value"] = lambda v, c: _NO_VALUE
    m["given twice"] = lambda v, c: _TWICE
    m["left out"] = lambda v, c: Bad("left out", _LEFT_OUT, "rel")
    return m


_NO_VALUE, _TWICE, _LEFT_OUT = object(), object(), object()


def cli_extra_mutations():
    return {
        "an unknown option": lambda v, c: ["--bogus"],
        "a positional": lambda v, c: ["extra"],
        "a lone --": lambda v, c: ["--"],
        "--help": lambda v, c: ["--help"],
        "--version": lambda v, c: ["--version"],
        "an unknown subcommand": lambda v, c: ["frobnicate"],
        "a very long option": lambda v, c: ["--" + "x" * 10000],
        "an option of another subcommand": lambda v, c: ["--tol", "1"],
    }


def out_mutations():
    def p(label, f, tag="bad"):  # an output path: the function may replace what is there
        return lambda v, c: dataclasses.replace(_file(label, f(c), tag), watch=False)

    return {
        "empty": lambda v, c: "",
        "the current folder": lambda v, c: ".",
        "the root": lambda v, c: "/",
        "an unwritable place": lambda v, c: "/proc/funcnet-fuzz/run",
        "an existing file": p("an existing file", lambda c: _write(c, b"x")),
        "a folder of other files": p("a folder of other files", _mkdir),
        "a name too long": lambda v, c: str(c.path()) + "x" * 300,
        "a NUL byte": lambda v, c: "run\x00x",
        "inside a file": p("inside a file", lambda c: _write(c, b"x") / "run"),
    }


def plot_path_mutations():
    return {
        "an unknown format": lambda v, c: str(c.path(".xyz")),
        "no suffix": lambda v, c: str(c.path("")),
        "a folder": lambda v, c: _file("a folder", _mkdir(c)),
        "a missing folder": lambda v, c: str(c.path() / "x.png"),
        "empty": lambda v, c: "",
        "a NUL byte": lambda v, c: str(c.path(".png")) + "\x00",
        "a name too long": lambda v, c: str(c.path("x" * 300 + ".png")),
        "/dev/null as png": lambda v, c: Bad("/dev/null as png", "/dev/null.png", "bad"),
    }


def path_mutations():
    """A path argument given as something else."""
    return {
        "an int": lambda v, c: 3,
        "None": lambda v, c: None,
        "bytes": lambda v, c: Bad("bytes", os.fsencode(v), "same"),
        "a Path": lambda v, c: Bad("a Path", Path(v), "same"),
        "a NUL byte": lambda v, c: str(v) + "\x00",
        "a list": lambda v, c: [v],
        "an open file": lambda v, c: open(os.devnull, "rb"),
        "a name too long": lambda v, c: str(v) + "x" * 5000,
        "empty": lambda v, c: "",
    }


def kind_mutations(kind: str, files: Files) -> dict:
    table = {
        "X": array_mutations, "labels": label_mutations, "targets": target_mutations,
        "params": lambda: tree_mutations("params"), "stats": lambda: tree_mutations("stats"),
        "grads": lambda: tree_mutations("grads"), "key": key_mutations, "net": net_mutations,
        "int": int_mutations, "real": real_mutations, "bool": bool_mutations, "str": str_mutations,
        "callable": callable_mutations, "schedule": schedule_mutations, "optimizer": optimizer_mutations,
        "opt_state": opt_state_mutations, "shape": shape_mutations, "dtype": dtype_mutations,
        "sizes": sizes_mutations, "layers": layers_mutations, "tree": tree_kind_mutations,
        "history": history_mutations, "figsize": figsize_mutations, "seq_int": seq_int_mutations,
        "norms": norms_mutations, "images": images_mutations, "cli": cli_value_mutations,
        "cli_extra": cli_extra_mutations, "out": out_mutations, "plot_path": plot_path_mutations,
        "path": path_mutations, "npz": lambda: {**npz_mutations(files), **path_mutations()},
        "idx": lambda: {**idx_mutations(files), **path_mutations()},
        "mnist_dir": lambda: {**mnist_dir_mutations(files), **path_mutations()},
        "config": json_config_mutations, "cli_npz": lambda: npz_mutations(files),
        "cli_mnist": lambda: mnist_dir_mutations(files),
        "caches": caches_mutations, "any": dict, "validation": validation_mutations,
        "train_state": train_state_mutations, "batch": batch_mutations, "mask": mask_mutations,
        "schedules": schedules_mutations, "netdict": netdict_mutations, "methods": methods_mutations,
        "ckpt": lambda: {**checkpoint_mutations(files), **path_mutations()}, "result": result_mutations,
        "config_dict": config_dict_mutations,
    }
    return table[kind]()


def caches_mutations():
    return {
        "a list": lambda v, c: list(v),
        "one fewer": lambda v, c: tuple(v[:-1]),
        "all None": lambda v, c: tuple(None for _ in v),
        "of another batch": lambda v, c: Bad("of another batch", c.other_caches, "rel"),
        "of another net": lambda v, c: Bad("of another net", c.foreign_caches, "rel"),
        "with a NaN": lambda v, c: tuple(_set(x, np.nan) if isinstance(x, np.ndarray) and x.dtype.kind == "f" else x for x in v),
        "with arrays of ints": lambda v, c: tuple(x.astype(int) if isinstance(x, np.ndarray) else x for x in v),
    }


# --- one call and its verdict ---


def _alarm(signum, frame):
    raise Hang()


def _lead(message: str) -> str:
    return message.split(":", 1)[0].strip()


def _is_name(lead: str, name: str) -> bool:
    if lead == name:
        return True
    return any(lead.startswith(name + sep) for sep in ("[", ".", " (", "(", " ", ","))


def _norm_option(text: str) -> str:
    return text.split("/")[-1].lstrip("-").replace("-", "_")


@dataclasses.dataclass
class Verdict:
    outcome: str
    escape: str | None = None


def judge(e: Entry, arg: str, bad: Bad, result, exc, stderr: str) -> Verdict:
    names = {arg, *e.aliases.get(arg, ())}
    if bad.tag == "rel":
        names |= set(e.kinds) | {a for v in e.aliases.values() for a in v}
    paths = [p for p in bad.files]
    if isinstance(bad.value, (str, os.PathLike)) and e.kinds.get(arg) in ("npz", "idx", "mnist_dir", "out", "path"):
        paths.append(os.fspath(bad.value))
    if e.module == "cli":
        return _judge_cli(e, arg, bad, result, exc, stderr, names, paths)
    if exc is None:
        return Verdict("returned")
    if e.kernel and not isinstance(exc, (Hang, UserError)):
        return Verdict("kernel: NumPy's own error")
    if isinstance(exc, Hang):
        return Verdict("escape", f"hang (over {HANG_SECONDS:g} s)")
    if isinstance(exc, UserError):
        if bad.tag == "user" or bad.label == "lambda raising":
            return Verdict("the user's own exception")
        return Verdict("escape", "UserError from a value that does not raise it")
    message = str(exc)
    if isinstance(exc, FloatingPointError):
        if "encountered in" in message:
            return Verdict("escape", "NumPy's FloatingPointError (a silent NaN/inf or warning outside the tests)")
        if e.fpe:
            return Verdict("FloatingPointError (promised)")
        return Verdict("escape", "FloatingPointError where no docstring promises it")
    if isinstance(exc, OSError) and type(exc) is not zipfile.BadZipFile:
        if _os_error_names(exc, bad.value, paths) or any(_is_name(_lead(message), n) for n in names):
            return Verdict("OSError (file system)")
        return Verdict("escape", f"{type(exc).__name__} not naming a file the caller gave")
    if isinstance(exc, Warning) and "/sklearn/" in _where(exc, inside_funcnet=False):
        # scikit-learn's own warnings (a column-vector y...) are its convention, warnings
        # outside a test run; the suite makes every warning an error
        return Verdict("scikit-learn's own warning")
    if not isinstance(exc, (ValueError, TypeError)) or isinstance(exc, Warning):
        return Verdict("escape", f"raw {type(exc).__name__}")
    lead = _lead(message)
    if any(_is_name(lead, n) for n in names) or any(lead.startswith(p) for p in paths):
        return Verdict(type(exc).__name__)
    if any(_is_name(lead, n) for n in e.kinds) and _numeric_alone(bad.value):
        # The value is a valid array of numbers on its own (a (2, 3) int array for X): the
        # message names the argument it no longer fits ("y: expected integer labels of shape (2,)")
        return Verdict(f"{type(exc).__name__} (naming the argument it no longer fits)")
    if any(re.search(rf"(?<![\w]){re.escape(n)}(?![\w])", message) for n in names) or any(p in message for p in paths):
        return Verdict(f"{type(exc).__name__} (argument named later in the message)")
    return Verdict("escape", f"{type(exc).__name__} not naming {arg}")


def _judge_cli(e, arg, bad, result, exc, stderr, names, paths) -> Verdict:
    if exc is None:
        if result == 0:
            return Verdict("returned")
        if result == 1 and ("error: training diverged" in stderr or "FAILED" in stderr):
            return Verdict("exit 1 (diverged or failed check)")
        return Verdict("escape", f"exit status {result}")
    if isinstance(exc, Hang):
        return Verdict("escape", f"hang (over {HANG_SECONDS:g} s)")
    if isinstance(exc, SystemExit):
        if exc.code == 0 and bad.label in ("--help", "--version"):
            return Verdict("help or version")
        if exc.code != 2 or "error:" not in stderr:
            return Verdict("escape", f"SystemExit({exc.code!r})")
        message = stderr.split("error:", 1)[1].strip().splitlines()[0]
        if arg == "extra":  # what was added must be what the message names
            if any(str(tok)[:40] in message for tok in bad.value):
                return Verdict("usage error (exit 2)")
            return Verdict("escape", f"usage error not naming {bad.value}: {message[:100]}")
        if message.startswith("argument "):
            lead = message[len("argument "):].split(":")[0]
        else:
            lead = _lead(message)
        wanted = {_norm_option(n) for n in names}
        if _norm_option(lead) in wanted or any(_is_name(lead, n) for n in wanted) \
                or any(lead.startswith(p) or lead.startswith(os.path.basename(p)) for p in paths):
            return Verdict("usage error (exit 2)")
        if any(re.search(rf"(?<![\w]){re.escape(w.replace('_', '-'))}(?![\w-])", message.replace("_", "-")) for w in wanted) \
                or any(p in message for p in paths):
            return Verdict("usage error (exit 2, option named later)")
        if isinstance(bad.value, str) and bad.value.startswith("-") and f"unrecognized arguments: {bad.value}" in message:
            # argparse reads a value that starts with '-' (and is no plain number) as an option
            return Verdict("usage error (exit 2, the value named)")
        return Verdict("escape", f"usage error not naming {arg}: {message[:100]}")
    return Verdict("escape", f"raw {type(exc).__name__} from the command line")


def _os_error_names(exc, value, paths) -> bool:
    """Whether the file system's error names the path given (or the folder it is in)."""
    given = list(paths)
    if isinstance(value, (str, bytes, os.PathLike)):
        given.append(os.fsdecode(value))
    named = [os.fsdecode(f) for f in (exc.filename, getattr(exc, "filename2", None)) if f is not None]
    return any(g and (g in n or os.path.dirname(os.path.abspath(n)) == os.path.dirname(os.path.abspath(g)))
               for g in given for n in named) or (bool(named) and "" in given)


def _numeric_alone(value) -> bool:
    """Whether ``value`` is an array of finite numbers of one or two dimensions on its own."""
    try:
        with _quiet_warnings():
            a = np.asarray(value)
        return a.dtype.kind in "biuf" and a.ndim in (1, 2) and a.size > 0 and bool(np.isfinite(a).all())
    except Exception:
        return False


def _where(exc, inside_funcnet=True) -> str:
    """The innermost frame inside funcnet (or else the innermost one): the root cause's place."""
    tb = traceback.extract_tb(exc.__traceback__)
    if not inside_funcnet:
        return tb[-1].filename if tb else "?"
    inside = [f for f in tb if "/funcnet/" in f.filename and "/tests/" not in f.filename]
    f = (inside or tb or [None])[-1]
    if f is None:
        return "?"
    return f"{f.filename.split('/funcnet/')[-1] if '/funcnet/' in f.filename else os.path.basename(f.filename)}:{f.lineno}"


def record_escape(e: Entry, arg: str, bad: Bad, reason: str, exc=None, detail=""):
    where = _where(exc) if exc is not None else ""
    sig = (e.group, reason.split(" not naming ")[0] if exc is not None else reason, where or e.name)
    text = (f"{e.name}({arg}={bad.label}) -> {reason}"
            + (f" at {where}: {type(exc).__name__}: {str(exc)[:200]}" if exc is not None else "")
            + (f" [{detail[:200]}]" if detail else ""))
    count, example = ESCAPES.get(sig, (0, text))
    ESCAPES[sig] = (count + 1, example)
    COUNTS[e.module]["ESCAPE"] += 1


class Runner:
    def __init__(self, files: Files, scratch: Path):
        self.files = files
        self.scratch = scratch
        self.valid: dict = {}
        self.baseline: dict = {}
        self.mutations: dict = {}
        self.cache: dict = {}
        self.cwd = scratch / "cwd"  # where the calls run
        self.cwd.mkdir(parents=True, exist_ok=True)

    def split_labels(self, e: Entry, arg: str) -> tuple:
        """The pool's labels and the mutations' labels that apply to ``e``'s ``arg`` (cached)."""
        key = (e.name, arg)
        if key not in self.cache:
            labels = self.labels(e, arg)
            self.cache[key] = ([lab for lab in labels if lab.startswith("pool: ")],
                               [lab for lab in labels if not lab.startswith("pool: ")])
        return self.cache[key]

    def labels(self, e: Entry, arg: str) -> list:
        kind = e.kinds[arg]
        if kind not in self.mutations:
            self.mutations[kind] = kind_mutations(kind, self.files)
        labels = [f"mutation: {k}" for k in self.mutations[kind]]
        if e.module != "cli":  # the command line takes strings: its pool is cli_value_mutations
            labels += [f"pool: {k}" for k in POOL_LABELS]
        name = lambda lab: lab.split(": ", 1)[1]  # noqa: E731
        if arg in e.work:
            labels = [lab for lab in labels if name(lab) not in HUGE | BIG]
        if arg in e.sizes:
            labels = [lab for lab in labels if name(lab) not in BIG]
        if kind in ("callable", "mask"):
            labels = [lab for lab in labels if name(lab) not in NOT_CALLABLE_AS_DOCUMENTED]
        if kind == "schedule":
            labels = [lab for lab in labels if name(lab) != "the type int"]
        return labels

    def valid_args(self, e: Entry) -> dict:
        if e.name not in self.valid:
            self.valid[e.name] = e.valid()
        return {k: fast_copy(v) for k, v in self.valid[e.name].items()}

    def baseline_result(self, e: Entry):
        if e.name not in self.baseline:
            self.baseline[e.name] = e.call(self.valid_args(e))
        return self.baseline[e.name]

    def make_bad(self, e, arg, label, value, c) -> Bad:
        source, name = label.split(": ", 1)
        if source == "pool":
            made = POOL[name]()
            return made if isinstance(made, Bad) else Bad(name, made)
        made = self.mutations[e.kinds[arg]][name](value, c)
        return made if isinstance(made, Bad) else Bad(name, made)

    def run(self, e: Entry, arg: str, label: str, seed: int) -> None:
        args = self.valid_args(e)
        c = Ctx(seed, self.scratch / "m")
        c.args = args
        c.params_for_state = args.get("params", args.get("grads"))
        c.other_caches = fx().other_caches
        c.foreign_caches = fx().foreign_caches
        try:
            bad = self.make_bad(e, arg, label, args[arg], c)
        except Exception as ex:  # a mutation that does not apply to this argument's value
            COUNTS[e.module]["(mutation not applicable)"] += 1
            return
        args[arg] = bad.value
        # The other arguments are fresh copies of the cached valid values: compared with those.
        before = {k: (snapshot(v) if k == arg else self.valid[e.name][k]) for k, v in args.items()}
        files_before = {p: _file_state(p) for p in bad.files if bad.watch}
        out, err = _io.StringIO(), _io.StringIO()
        result = exc = None
        t0 = time.perf_counter()
        here = os.getcwd()
        os.chdir(self.cwd)  # relative paths (io.save("abc"), a default runs/DATASET) land in scratch
        signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                result = e.call(args)
        except BaseException as ex:  # every outcome is judged below
            exc = ex
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            os.chdir(here)
        TIMES[e.name] += time.perf_counter() - t0
        CALLS[e.name] += 1
        if isinstance(bad.value, _io.IOBase):
            bad.value.close()
        verdict = judge(e, arg, bad, result, exc, err.getvalue())
        bad_input = bad.tag != "same"
        if not bad_input and exc is not None and not verdict.escape and e.compare and not e.kernel:
            verdict = Verdict("escape", "a valid variant was refused")
        if verdict.escape:
            record_escape(e, arg, bad, verdict.escape, exc, err.getvalue() if e.module == "cli" else "")
        else:
            COUNTS[e.module][verdict.outcome + ("" if bad_input else " [valid variant]")] += 1
        COUNTS[e.module]["bad inputs" if bad_input else "valid variants"] += 1
        # (3) no argument changed
        for k, v in args.items():
            if before[k] is not _UNCOPYABLE and not same(before[k], v):
                record_escape(e, arg, bad, f"changed its argument {k}")
        for p, state in files_before.items():
            if _file_state(p) != state:
                record_escape(e, arg, bad, f"changed the file {p}")
        if exc is None and not verdict.escape:
            # (2) no NaN/inf in a normal return; valid variants give the valid result
            if bad.tag == "same" and e.compare:
                want = self.baseline_result(e)
                if not _same_result(result, want, e.kernel):
                    record_escape(e, arg, bad, "a valid variant gave another result")
            elif bad.tag != "nan" and not e.kernel and not e.passes_leaves:
                where = non_finite(result)
                if where:
                    record_escape(e, arg, bad, "a NaN or inf in the result", detail=where)
        if e.module == "cli":
            _clean_cli_outputs(args)


def _file_state(p):
    p = Path(p)
    try:
        if p.is_file():
            return ("file", p.read_bytes())
        if p.is_dir():
            return ("dir", sorted((x.name, x.is_dir() or x.read_bytes()) for x in p.iterdir()))
    except (OSError, ValueError):
        return ("unreadable",)
    return ("missing",)


def _same_result(a, b, kernel=False) -> bool:
    if kernel:  # identity hands back what it was given: compare the values
        return same(np.asarray(a), np.asarray(b), exact=False)
    if isinstance(a, (MLPClassifier, MLPRegressor)):
        return same(a.params_, b.params_, exact=False)
    if type(a).__module__.startswith("matplotlib"):
        return True
    return same(a, b, exact=False)


def _clean_cli_outputs(args):
    while _CLI_RUNS:
        out = _CLI_RUNS.pop()
        if out:
            shutil.rmtree(out, ignore_errors=True)
    for p in CLI_OUT.iterdir():  # hidden temporaries of runs that failed
        shutil.rmtree(p, ignore_errors=True)


CLI_OUT = Path("/nonexistent")  # set per session: where the command line's runs go


def counts_table(group=None) -> str:
    modules = sorted(COUNTS)
    outcomes = sorted({o for m in modules for o in COUNTS[m]} - {"bad inputs", "valid variants"})
    lines = [f"{'module':<12} {'bad inputs':>10} {'valid variants':>14}  outcomes"]
    total_bad = total_valid = 0
    for m in modules:
        c = COUNTS[m]
        total_bad += c["bad inputs"]
        total_valid += c["valid variants"]
        parts = ", ".join(f"{o}: {c[o]}" for o in outcomes if c[o])
        lines.append(f"{m:<12} {c['bad inputs']:>10} {c['valid variants']:>14}  {parts}")
    lines.append(f"{'total':<12} {total_bad:>10} {total_valid:>14}")
    escapes = {k: v for k, v in ESCAPES.items() if group is None or k[0] == group}
    if escapes:
        lines.append("escapes (distinct root causes):")
        for (grp, reason, where), (n, example) in sorted(escapes.items(), key=lambda kv: -kv[1][0]):
            lines.append(f"  {n:>5} x [{grp}] {reason} @ {where}\n          e.g. {example}")
    return "\n".join(lines)


def run_group(group: str, n_examples: int, runner: Runner, pool_share: float = 0.3) -> None:
    entries = [e for e in CATALOGUE if e.group == group]
    assert entries, group
    escapes_before = sum(n for n, _ in ESCAPES.values())
    old_handler = signal.signal(signal.SIGALRM, _alarm)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (min(_vm_size() + ADDRESS_SPACE, hard if hard > 0 else 1 << 62), hard))

    # Each example draws BATCH triples: Hypothesis's own work per example (2-5 ms here) would
    # otherwise cost more than the calls. A triple is drawn as a function and a number; the
    # number picks the argument, the pool or the argument's mutations, the bad value and the
    # mutation's seed (through random.Random, so that numbers Hypothesis draws close together
    # still pick values far apart). sampled_from draws evenly; bounded integers come out at
    # their lower bound a third of the time.
    triple = st.tuples(st.sampled_from(entries), st.sampled_from(range(2**40)))

    @settings(max_examples=-(-n_examples // BATCH), suppress_health_check=list(HealthCheck))
    @given(st.lists(triple, min_size=BATCH, max_size=BATCH))
    def some(drawn):
        for e, number in drawn:
            pick = random.Random(number)
            names = sorted(e.kinds)
            arg = names[pick.randrange(len(names))]
            pool, muts = runner.split_labels(e, arg)
            use_pool = pool and (not muts or pick.random() < pool_share)
            chosen = pool if use_pool else muts
            runner.run(e, arg, chosen[pick.randrange(len(chosen))], pick.randrange(2**16))

    try:
        some()
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        signal.signal(signal.SIGALRM, old_handler)
    RAN_GROUPS.add(group)


def _vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


# --- the catalogue ---


class NS:
    pass


_FX: dict = {}


def fx() -> NS:
    """Tiny nets and data, made once: a valid call costs about a millisecond."""
    if "ns" in _FX:
        return _FX["ns"]
    ns = NS()
    rng = np.random.default_rng(0)
    ns.net = fn.Net((3, 4, 2), activation="tanh", dtype="float64")
    ns.params = fn.init(rnd.key(0), ns.net)
    ns.X = rng.normal(size=(5, 3))
    ns.y = np.array([0, 1, 1, 0, 1])
    ns.key = rnd.key(5)
    # float32, batch norm and dropout: stats and keys matter
    ns.rich = fn.Net((3, 4, 2), batchnorm=True, dropout=0.25)
    ns.X32 = ns.X.astype(np.float32)
    p = fn.init(rnd.key(1), ns.rich)
    opt = optim.sgd(0.1)
    state, _ = fn.train_step(ns.rich, opt, fn.TrainState(p, opt.init(p), fn.init_stats(ns.rich)), (ns.X32, ns.y, rnd.key(2)))
    ns.rparams, ns.rstats = state.params, state.stats
    ns.sig = fn.Net((3, 4, 1), output="sigmoid", dtype="float64")
    ns.sparams = fn.init(rnd.key(3), ns.sig)
    ns.yb = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    ns.reg = fn.Net((3, 4, 2), activation="gelu", output="identity", dtype="float32")
    ns.regparams = fn.init(rnd.key(4), ns.reg)
    ns.yr = rng.normal(size=(5, 2)).astype(np.float32)
    ns.logits = rng.normal(size=(5, 2))
    _, ns.caches = fn.forward_train(ns.rich, ns.rparams, ns.X32, key=ns.key)
    _, ns.other_caches = fn.forward_train(ns.rich, ns.rparams, ns.X32[:3], key=ns.key)
    other = fn.Net((3, 5, 2), batchnorm=True, dropout=0.25)
    _, ns.foreign_caches = fn.forward_train(other, fn.init(rnd.key(1), other), ns.X32, key=ns.key)
    ns.grads = fn.grad(ns.net, ns.params, ns.X, ns.y)
    _FX["ns"] = ns
    return ns


# tree_map and tree_zip name their trees by position, arg0, arg1, ... (tests/test_tree.py pins it)
POSITIONAL = {"tree": ("arg0",), "rest[0]": ("arg1", "arg0"), "trees[0]": ("arg0",), "trees[1]": ("arg1", "arg0")}


def core_catalogue():
    # Not here: funcnet.checks (the vocabulary every entry runs), tree.sum_squares and
    # tree.rescaled (per-step kernels on trusted leaves), and the layers' init/forward/
    # backward methods (the engine's kernels, reached through forward, grad, fit...).
    g = "core"
    f = fx
    add("network", "Net", lambda: dict(sizes=(3, 4, 2), activation="relu", output="softmax", init="auto",
                                       dtype="float32", dropout=0.1, batchnorm=True),
        lambda a: fn.Net(a["sizes"], a["activation"], a["output"], a["init"], a["dtype"], a["dropout"], a["batchnorm"]),
        dict(sizes="sizes", activation="str", output="str", init="str", dtype="dtype", dropout="real", batchnorm="bool"), group=g,
        sizes=frozenset({"sizes"}))
    add("network", "Net.from_layers", lambda: dict(n_in=3, layers=[L.Dense(4), L.BatchNorm(), L.Act("tanh"), L.Dropout(0.5), L.Dense(2)],
                                                   output="softmax", dtype="float64"),
        lambda a: fn.Net.from_layers(a["n_in"], a["layers"], output=a["output"], dtype=a["dtype"]),
        dict(n_in="int", layers="layers", output="str", dtype="dtype"), group=g, sizes=frozenset({"n_in"}),
        aliases={"n_in": ("sizes",)})  # from_layers makes the Net of sizes (n_in,)
    add("layers", "layers.Dense", lambda: dict(n_out=3, bias=True, initializer="he_uniform"),
        lambda a: L.Dense(a["n_out"], a["bias"], a["initializer"]), dict(n_out="int", bias="bool", initializer="str"), group=g,
        sizes=frozenset({"n_out"}))
    add("layers", "layers.BatchNorm", lambda: dict(eps=1e-5, momentum=0.1),
        lambda a: L.BatchNorm(a["eps"], a["momentum"]), dict(eps="real", momentum="real"), group=g)
    add("layers", "layers.Act", lambda: dict(activation="gelu"), lambda a: L.Act(a["activation"]), dict(activation="str"), group=g)
    add("layers", "layers.Dropout", lambda: dict(rate=0.5), lambda a: L.Dropout(a["rate"]), dict(rate="real"), group=g)
    add("network", "init", lambda: dict(key=f().key, net=f().rich), lambda a: fn.init(a["key"], a["net"]),
        dict(key="key", net="net"), group=g)
    add("network", "init_stats", lambda: dict(net=f().rich), lambda a: fn.init_stats(a["net"]), dict(net="net"), group=g)
    rich = lambda: dict(net=f().rich, params=f().rparams, X=f().X32, stats=f().rstats)  # noqa: E731
    add("network", "forward", lambda: {**rich(), "layer": 0},
        lambda a: fn.forward(a["net"], a["params"], a["X"], stats=a["stats"], layer=a["layer"]),
        dict(net="net", params="params", X="X", stats="stats", layer="int"), group=g, fpe=True)
    add("network", "forward_train", lambda: dict(net=f().rich, params=f().rparams, X=f().X32, key=f().key),
        lambda a: fn.forward_train(a["net"], a["params"], a["X"], key=a["key"]),
        dict(net="net", params="params", X="X", key="key"), group=g, fpe=True)
    e = Entry("network", "backward", lambda: dict(net=f().rich, params=f().rparams, caches=f().caches, dlogits=f().X32[:, :2]),
              lambda a: fn.backward(a["net"], a["params"], a["caches"], a["dlogits"]),
              dict(net="net", params="params", caches="caches", dlogits="X"), group=g, fpe=True)
    CATALOGUE.append(e)
    add("network", "update_stats", lambda: dict(net=f().rich, stats=f().rstats, caches=f().caches),
        lambda a: fn.update_stats(a["net"], a["stats"], a["caches"]), dict(net="net", stats="stats", caches="caches"),
        group=g)
    for name, fun in (("predict", fn.predict), ("predict_proba", fn.predict_proba)):
        add("network", name, rich, lambda a, fun=fun: fun(a["net"], a["params"], a["X"], stats=a["stats"]),
            dict(net="net", params="params", X="X", stats="stats"), group=g, fpe=True)
    add("network", "accuracy", lambda: {**rich(), "y": f().y},
        lambda a: fn.accuracy(a["net"], a["params"], a["X"], a["y"], stats=a["stats"]),
        dict(net="net", params="params", X="X", y="labels", stats="stats"), group=g, fpe=True)
    train_args = lambda: dict(net=f().rich, params=f().rparams, X=f().X32, y=f().y, key=f().key, l2=0.01)  # noqa: E731
    train_kinds = dict(net="net", params="params", X="X", y="labels", key="key", l2="real")
    for name, fun in (("loss", fn.loss), ("grad", fn.grad), ("value_and_grad", fn.value_and_grad)):
        add("objective", name, lambda: {**train_args(), "reduction": "sum"},
            lambda a, fun=fun: fun(a["net"], a["params"], a["X"], a["y"], key=a["key"], l2=a["l2"], reduction=a["reduction"]),
            {**train_kinds, "reduction": "str"}, group=g, fpe=True)
    add("objective", "loss[sigmoid]", lambda: dict(net=f().sig, params=f().sparams, X=f().X, y=f().yb, key=None, l2=0.0),
        lambda a: fn.loss(a["net"], a["params"], a["X"], a["y"], key=a["key"], l2=a["l2"]),
        {**train_kinds, "y": "targets"}, group=g, fpe=True)
    add("objective", "value_and_grad[identity]", lambda: dict(net=f().reg, params=f().regparams, X=f().X32, y=f().yr, key=None, l2=0.0),
        lambda a: fn.value_and_grad(a["net"], a["params"], a["X"], a["y"], key=a["key"], l2=a["l2"]),
        {**train_kinds, "y": "targets"}, group=g, fpe=True)
    add("objective", "evaluate", lambda: {**rich(), "y": f().y},
        lambda a: fn.evaluate(a["net"], a["params"], a["X"], a["y"], stats=a["stats"]),
        dict(net="net", params="params", X="X", y="labels", stats="stats"), group=g, fpe=True)
    for name, fun in (("gradcheck", fn.gradcheck), ("gradcheck_tree", fn.gradcheck_tree)):
        add("objective", name, lambda: dict(net=f().net, params=f().params, X=f().X[:3], y=f().y[:3], key=None, l2=0.01, eps=1e-5),
            lambda a, fun=fun: fun(a["net"], a["params"], a["X"], a["y"], key=a["key"], l2=a["l2"], eps=a["eps"]),
            {**train_kinds, "eps": "real"}, group=g, fpe=True)
    for name, fun, y, ykind in (("softmax_cross_entropy", fn.softmax_cross_entropy, "y", "labels"),
                                ("softmax_cross_entropy_grad", fn.softmax_cross_entropy_grad, "y", "labels"),
                                ("binary_cross_entropy", fn.binary_cross_entropy, "yb2", "targets"),
                                ("binary_cross_entropy_grad", fn.binary_cross_entropy_grad, "yb2", "targets"),
                                ("mean_squared_error", fn.mean_squared_error, "yr", "targets"),
                                ("mean_squared_error_grad", fn.mean_squared_error_grad, "yr", "targets")):
        first = "predictions" if "squared" in name else "logits"
        second = "labels" if ykind == "labels" else "targets"

        def valid(y=y, first=first, second=second):
            ys = {"y": f().y, "yb2": (f().logits > 0).astype(float), "yr": f().logits[::-1].copy()}
            return {first: f().logits, second: ys[y]}

        add("losses", name, valid, lambda a, fun=fun, first=first, second=second: fun(a[first], a[second]),
            {first: "X", second: ykind}, group=g, fpe=True)
    for name, fun in (("softmax", fn.softmax), ("log_softmax", fn.log_softmax)):
        add("activations", name, lambda: dict(z=f().logits, axis=-1), lambda a, fun=fun: fun(a["z"], axis=a["axis"]),
            dict(z="X", axis="int"), group=g, kernel=True)
    for name, act in sorted(fn.ACTIVATIONS.items()):
        add("activations", f"ACTIVATIONS[{name!r}].fn", lambda: dict(z=f().logits), lambda a, act=act: act.fn(a["z"]),
            dict(z="X"), group=g, kernel=True)
        add("activations", f"ACTIVATIONS[{name!r}].vjp",
            lambda act=act: dict(g=np.ones_like(f().logits), z=f().logits, a=act.fn(f().logits)),
            lambda a, act=act: act.vjp(a["g"], a["z"], a["a"]), dict(g="X", z="X", a="X"), group=g, kernel=True)
    # A look-up by name names the setting the name is for (as Net(activation=...) does).
    add("activations", "get_activation", lambda: dict(name="relu"), lambda a: activations.get_activation(a["name"]), dict(name="str"), group=g,
        aliases={"name": ("activation",)})
    from funcnet import initializers, losses
    add("losses", "get_head", lambda: dict(name="sigmoid"), lambda a: losses.get_head(a["name"]), dict(name="str"), group=g,
        aliases={"name": ("output",)})
    add("initializers", "get_initializer", lambda: dict(name="he_normal"), lambda a: initializers.get_initializer(a["name"]), dict(name="str"), group=g,
        aliases={"name": ("init",)})
    add("initializers", "default_init", lambda: dict(activation="tanh"), lambda a: initializers.default_init(a["activation"]), dict(activation="str"), group=g)
    for name in ("he_normal", "xavier_uniform"):
        add("initializers", f"INITIALIZERS[{name!r}]", lambda: dict(k=f().key, n_in=3, n_out=2, dtype=np.float32),
            lambda a, name=name: fn.INITIALIZERS[name](a["k"], a["n_in"], a["n_out"], a["dtype"]),
            dict(k="key", n_in="int", n_out="int", dtype="dtype"), group=g, sizes=frozenset({"n_in", "n_out"}))
    tree = lambda: f().params  # noqa: E731
    add("tree", "tree_leaves", lambda: dict(tree=tree()), lambda a: fn.tree_leaves(a["tree"]), dict(tree="tree"), group=g, passes_leaves=True)
    add("tree", "tree_paths", lambda: dict(tree=tree()), lambda a: T.tree_paths(a["tree"]), dict(tree="tree"), group=g, passes_leaves=True)
    add("tree", "tree_structure", lambda: dict(tree=tree()), lambda a: fn.tree_structure(a["tree"]), dict(tree="tree"), group=g, passes_leaves=True)
    add("tree", "tree_map", lambda: {"fn": np.add, "tree": tree(), "rest[0]": f().grads},
        lambda a: fn.tree_map(a["fn"], a["tree"], a["rest[0]"]), {"fn": "callable", "tree": "tree", "rest[0]": "tree"}, group=g,
        passes_leaves=True, aliases=POSITIONAL)
    add("tree", "tree_unflatten", lambda: dict(like=tree(), leaves=list(fn.tree_leaves(f().grads))),
        lambda a: fn.tree_unflatten(a["like"], a["leaves"]), dict(like="tree", leaves="tree"), group=g, passes_leaves=True)
    add("tree", "tree_zip", lambda: {"trees[0]": tree(), "trees[1]": f().grads}, lambda a: fn.tree_zip(a["trees[0]"], a["trees[1]"]),
        {"trees[0]": "tree", "trees[1]": "tree"}, group=g, passes_leaves=True, aliases=POSITIONAL)
    # tree_check_same names its trees as `names` says; a mismatch is named on either side
    add("tree", "tree_check_same", lambda: dict(tree=tree(), other=f().grads, names=("params", "grads")),
        lambda a: T.tree_check_same(a["tree"], a["other"], names=a["names"]), dict(tree="tree", other="tree", names="any"), group=g,
        passes_leaves=True, aliases={"tree": ("params", "grads"), "other": ("grads", "params")})
    add("tree", "tree_add", lambda: {"tree": tree(), "others[0]": f().grads},
        lambda a: T.tree_add(a["tree"], a["others[0]"]), {"tree": "tree", "others[0]": "tree"}, group=g, passes_leaves=True,
        aliases={"tree": ("others[0]",), "others[0]": ("tree",)})
    add("tree", "tree_scale", lambda: dict(c=0.5, tree=tree()), lambda a: T.tree_scale(a["c"], a["tree"]),
        dict(c="real", tree="tree"), group=g, passes_leaves=True)
    add("tree", "tree_weighted_mean", lambda: {"trees[0]": tree(), "trees[1]": f().grads, "weights": [2, 1]},
        lambda a: T.tree_weighted_mean([a["trees[0]"], a["trees[1]"]], a["weights"]),
        {"trees[0]": "tree", "trees[1]": "tree", "weights": "seq_int"}, group=g, passes_leaves=True,
        aliases={"trees[0]": ("trees[1]", "trees"), "trees[1]": ("trees[0]", "trees")})
    add("tree", "global_norm", lambda: dict(tree=tree()), lambda a: T.global_norm(a["tree"]), dict(tree="tree"), group=g, passes_leaves=True)
    add("tree", "weights_mask", lambda: dict(tree=tree()), lambda a: T.weights_mask(a["tree"]), dict(tree="tree"), group=g, passes_leaves=True)


def validation_mutations():
    def pair(f):
        return lambda v, c: f(v)

    return {
        "a list": lambda v, c: Bad("a list", list(v), "same"),
        "one item": pair(lambda v: (v[0],)),
        "three items": pair(lambda v: (*v, None)),
        "X with a NaN": pair(lambda v: (_set(v[0], np.nan), v[1])),
        "X with a huge value": pair(lambda v: (_set(v[0], _huge(v[0])), v[1])),
        "X of another width": pair(lambda v: (v[0][:, :-1], v[1])),
        "y one short": pair(lambda v: (v[0], v[1][:-1])),
        "y out of range": pair(lambda v: (v[0], _labels(v[1], 10**6))),
        "y as str": pair(lambda v: (v[0], np.asarray(v[1]).astype(str))),
        "no rows": pair(lambda v: (v[0][:0], v[1][:0])),
        "a dict": pair(lambda v: {"X": v[0], "y": v[1]}),
        "swapped": pair(lambda v: (v[1], v[0])),
        "a generator": pair(lambda v: (x for x in v)),
    }


def train_state_mutations():
    def nan_params(s):
        return s._replace(params=_tree_set(s.params, 0, "W", _set(s.params[0]["W"], np.nan)))

    return {
        "NaN params": lambda s, c: nan_params(s),
        "huge params": lambda s, c: s._replace(params=_tree_set(s.params, 0, "W", np.full_like(s.params[0]["W"], 3e38))),
        "params as a list": lambda s, c: s._replace(params=list(s.params)),
        "another optimizer's state": lambda s, c: Bad("another optimizer's state", s._replace(opt_state=optim.adam(0.1).init(s.params)), "rel"),
        "opt_state None": lambda s, c: s._replace(opt_state=None),
        "a negative count": lambda s, c: s._replace(opt_state=s.opt_state._replace(count=-1)),
        "stats with a negative variance": lambda s, c: s._replace(stats=_negative(s.stats, "var")),
        "stats None": lambda s, c: s._replace(stats=None),
        "stats of ints": lambda s, c: s._replace(stats=tuple({k: v.astype(int) for k, v in d.items()} for d in s.stats)),
        "a plain tuple": lambda s, c: tuple(s),
        "a dict": lambda s, c: s._asdict(),
    }


def batch_mutations():
    return {
        "a list": lambda b, c: list(b),
        "a Batch": lambda b, c: Bad("a Batch", fn.Batch(*b), "rel"),
        "two items": lambda b, c: b[:2],
        "X with a NaN": lambda b, c: (_set(b[0], np.nan), *b[1:]),
        "X huge": lambda b, c: (np.full_like(b[0], _huge(b[0])), *b[1:]),
        "X of ints": lambda b, c: Bad("X of ints", (b[0].astype(int), *b[1:]), "rel"),
        "y one short": lambda b, c: (b[0], b[1][:-1], b[2]),
        "y out of range": lambda b, c: (b[0], _labels(b[1], 10**6), b[2]),
        "key None": lambda b, c: (b[0], b[1], None),
        "key made by hand": lambda b, c: (b[0], b[1], rnd.Key(None)),
        "a generator": lambda b, c: (x for x in b),
    }


FIT_EXTRAS = ("monitor", "label_smoothing", "augment", "gradient", "threads")


def training_catalogue():
    g = "training"
    f = fx

    def fit_args():
        return dict(net=f().rich, params=f().rparams, X=f().X32, y=f().y, key=f().key, optimizer=optim.adam(0.01),
                    epochs=2, batch_size=2, l2=0.001, validation=(f().X32[:3], f().y[:3]), patience=2, min_delta=0.0,
                    stats=f().rstats, shuffle=True, callback=lambda r: None, on_step=lambda s, m: None, grad_norms=True,
                    monitor="val_accuracy", label_smoothing=0.1, augment=None, threads=1)

    def fit_call(a):
        return fn.fit(a["net"], a["params"], a["X"], a["y"], key=a["key"], optimizer=a["optimizer"], epochs=a["epochs"],
                      batch_size=a["batch_size"], l2=a["l2"], validation=a["validation"], patience=a["patience"],
                      min_delta=a["min_delta"], stats=a["stats"], shuffle=a["shuffle"], callback=a["callback"],
                      on_step=a["on_step"], grad_norms=a["grad_norms"], **{k: a[k] for k in FIT_EXTRAS if k in a})

    fit_kinds = dict(net="net", params="params", X="X", y="labels", key="key", optimizer="optimizer", epochs="int",
                     batch_size="int", l2="real", validation="validation", patience="int", min_delta="real",
                     stats="stats", shuffle="bool", callback="callable", on_step="callable", grad_norms="bool",
                     monitor="str", label_smoothing="real", augment="callable", threads="int")
    # `the optimizer` is how fit names a user's own optimizer whose update returned the wrong thing.
    add("train", "fit", fit_args, fit_call, fit_kinds, group=g, fpe=True, work=frozenset({"epochs"}),
        aliases={"optimizer": ("the optimizer", "transforms")})
    add("train", "fit[plain]", lambda: dict(net=f().net, params=f().params, X=f().X, y=f().y, key=f().key, optimizer=optim.sgd(0.1),
                                           epochs=1, batch_size=5, l2=0.0, validation=None, patience=None, min_delta=0.0,
                                           stats=None, shuffle=False, callback=None, on_step=None, grad_norms=False),
        fit_call, fit_kinds, group=g, fpe=True, work=frozenset({"epochs"}), aliases={"optimizer": ("the optimizer", "transforms")})
    def own_gradient(params, stats, batch):
        value, grads = fn.value_and_grad(f().net, params, batch.X, batch.y)
        return fn.BatchGradients(value, grads, 0, stats)

    add("train", "fit[gradient]", lambda: dict(net=f().net, params=f().params, X=f().X, y=f().y, key=f().key,
                                              optimizer=optim.sgd(0.1), epochs=1, batch_size=2, l2=0.0, validation=None,
                                              patience=None, min_delta=0.0, stats=None, shuffle=True, callback=None,
                                              on_step=None, grad_norms=True, gradient=own_gradient),
        fit_call, {**fit_kinds, "gradient": "callable"}, group=g, fpe=True, work=frozenset({"epochs"}),
        aliases={"optimizer": ("the optimizer", "transforms"), "gradient": ("gradient's",)})
    add("train", "steps_per_epoch", lambda: dict(n_samples=60000, batch_size=128),
        lambda a: fn.steps_per_epoch(a["n_samples"], a["batch_size"]), dict(n_samples="int", batch_size="int"), group=g)
    add("losses", "losses.smooth_labels", lambda: dict(y=f().y, classes=2, amount=0.1, head="softmax", dtype="float32"),
        lambda a: LS.smooth_labels(a["y"], a["classes"], a["amount"], head=a["head"], dtype=a["dtype"]),
        dict(y="labels", classes="int", amount="real", head="str", dtype="dtype"), group=g, sizes=frozenset({"classes"}))
    images = lambda: np.random.default_rng(1).random((3, 12), dtype=np.float32)  # noqa: E731  three 3x4 images
    add("augment", "augment.shifts", lambda: dict(image_shape=(3, 4), max_shift=1, fill=0.0, key=f().key, X=images()),
        lambda a: augment.shifts(a["image_shape"], a["max_shift"], a["fill"])(a["key"], a["X"]),
        dict(image_shape="shape", max_shift="int", fill="real", key="key", X="X"), group=g, sizes=frozenset({"image_shape"}))
    add("augment", "augment.flips", lambda: dict(image_shape=(3, 4), p=0.5, key=f().key, X=images()),
        lambda a: augment.flips(a["image_shape"], a["p"])(a["key"], a["X"]),
        dict(image_shape="shape", p="real", key="key", X="X"), group=g, sizes=frozenset({"image_shape"}))
    add("augment", "augment.chain", lambda: dict(first=augment.flips((3, 4)), second=augment.shifts((3, 4), 1),
                                                 key=f().key, X=images()),
        lambda a: augment.chain(a["first"], a["second"])(a["key"], a["X"]),
        dict(first="callable", second="callable", key="key", X="X"), group=g,
        aliases={"first": ("augmenters[0]",), "second": ("augmenters[1]",)})
    add("train", "make_train_step", lambda: dict(net=f().rich, optimizer=optim.sgd(0.1), l2=0.0, grad_norms=True),
        lambda a: fn.make_train_step(a["net"], a["optimizer"], l2=a["l2"], grad_norms=a["grad_norms"]),
        dict(net="net", optimizer="optimizer", l2="real", grad_norms="bool"), group=g, compare=False)

    def ts_args():
        opt = optim.momentum(0.1)
        p = f().rparams
        state = fn.TrainState(p, opt.update(fn.grad(f().rich, p, f().X32, f().y, key=f().key), opt.init(p), p)[1], f().rstats)
        return dict(net=f().rich, optimizer=opt, state=state, batch=(f().X32, f().y, f().key), l2=0.0)

    add("train", "train_step", ts_args, lambda a: fn.train_step(a["net"], a["optimizer"], a["state"], a["batch"], l2=a["l2"]),
        dict(net="net", optimizer="optimizer", state="train_state", batch="batch", l2="real"), group=g, fpe=True,
        aliases={"optimizer": ("the optimizer", "transforms", "state")})
    add("lr_finder", "lr_find", lambda: dict(net=f().net, params=f().params, X=f().X, y=f().y, key=f().key, batch_size=2,
                                              start=1e-3, stop=1.0, steps=4, optimizer_factory=optim.sgd, smooth=0.9, l2=0.0),
        lambda a: lr_find(a["net"], a["params"], a["X"], a["y"], key=a["key"], batch_size=a["batch_size"], start=a["start"],
                          stop=a["stop"], steps=a["steps"], optimizer_factory=a["optimizer_factory"], smooth=a["smooth"], l2=a["l2"]),
        dict(net="net", params="params", X="X", y="labels", key="key", batch_size="int", start="real", stop="real",
             steps="int", optimizer_factory="callable", smooth="real", l2="real"), group=g, work=frozenset({"steps"}), fpe=True)


# An optimizer's grads, updates, state and params must agree in structure and shapes: a
# mismatch is named on either side ("grads[0]['W']: expected shape (3, 4)" when params changed).
PEERS = {"params": ("grads", "updates", "state"), "grads": ("params", "state"), "updates": ("params",),
         "state": ("grads", "params")}


def optim_catalogue():
    g = "optim"
    f = fx
    R = "real"
    ctors = [
        ("sgd", optim.sgd, dict(lr=0.1), dict(lr="schedule")),
        ("momentum", optim.momentum, dict(lr=0.1, mu=0.9, nesterov=True), dict(lr="schedule", mu=R, nesterov="bool")),
        ("nesterov", optim.nesterov, dict(lr=0.1, mu=0.5), dict(lr="schedule", mu=R)),
        ("rmsprop", optim.rmsprop, dict(lr=0.01, decay=0.9, eps=1e-8), dict(lr="schedule", decay=R, eps=R)),
        ("adam", optim.adam, dict(lr=1e-3, b1=0.9, b2=0.999, eps=1e-8), dict(lr="schedule", b1=R, b2=R, eps=R)),
        ("adamw", optim.adamw, dict(lr=1e-3, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.01, mask=None),
         dict(lr="schedule", b1=R, b2=R, eps=R, weight_decay=R, mask="mask")),
        ("scale", optim.scale, dict(factor=-0.5), dict(factor=R)),
        ("scale_by_learning_rate", optim.scale_by_learning_rate, dict(lr=0.1), dict(lr="schedule")),
        ("scale_by_schedule", optim.scale_by_schedule, dict(schedule=schedules.constant(0.1)), dict(schedule="schedule")),
        ("clip_by_global_norm", optim.clip_by_global_norm, dict(max_norm=1.0), dict(max_norm=R)),
        ("clip_by_value", optim.clip_by_value, dict(limit=1.0), dict(limit=R)),
        ("add_decayed_weights", optim.add_decayed_weights, dict(weight_decay=0.1, mask=None), dict(weight_decay=R, mask="mask")),
        ("trace", optim.trace, dict(decay=0.9, nesterov=False), dict(decay=R, nesterov="bool")),
        ("scale_by_rms", optim.scale_by_rms, dict(decay=0.9, eps=1e-8), dict(decay=R, eps=R)),
        ("scale_by_adam", optim.scale_by_adam, dict(b1=0.9, b2=0.999, eps=1e-8), dict(b1=R, b2=R, eps=R)),
    ]
    for name, ctor, valid, kinds in ctors:
        add("optim", f"optim.{name}", lambda valid=valid: dict(valid), lambda a, ctor=ctor: ctor(**a), kinds, group=g)
    add("optim", "optim.chain", lambda: {"transforms[0]": optim.clip_by_value(1.0), "transforms[1]": optim.sgd(0.1)},
        lambda a: optim.chain(a["transforms[0]"], a["transforms[1]"]),
        {"transforms[0]": "optimizer", "transforms[1]": "optimizer"}, group=g)
    add("optim", "optim.Chain", lambda: {"transforms": (optim.clip_by_value(1.0), optim.sgd(0.1))},
        lambda a: optim.Chain(a["transforms"]), {"transforms": "any"}, group=g)

    updaters = [
        ("adam", lambda: optim.adam(0.01)),
        ("sgd(schedule)", lambda: optim.sgd(schedules.cosine(0.1, 10))),
        ("momentum", lambda: optim.momentum(0.1, 0.9)),
        ("rmsprop", lambda: optim.rmsprop(0.01)),
        ("adamw(mask function)", lambda: optim.adamw(0.01, mask=T.weights_mask)),
        ("chain(clip_by_global_norm, nesterov)", lambda: optim.chain(optim.clip_by_global_norm(1.0), optim.nesterov(0.1))),
        ("add_decayed_weights(mask tree)", lambda: optim.add_decayed_weights(0.1, mask=({"W": True, "b": False}, {"W": True, "b": False}))),
        ("clip_by_value", lambda: optim.clip_by_value(0.5)),
        ("scale_by_schedule", lambda: optim.scale_by_schedule(schedules.linear(1.0, 0.0, 10))),
    ]
    for name, make in updaters:
        def valid(make=make):
            opt = make()
            p, gr = f().params, f().grads
            return dict(opt=opt, grads=gr, state=opt.update(gr, opt.init(p), p)[1], params=p)

        add("optim", f"{name}.update", valid, lambda a: a["opt"].update(a["grads"], a["state"], a["params"]),
            dict(grads="grads", state="opt_state", params="params"), group=g, aliases=PEERS, fpe=True)
        add("optim", f"{name}.init", lambda make=make: dict(opt=make(), params=f().params), lambda a: a["opt"].init(a["params"]),
            dict(params="params"), group=g)
    # a schedule that goes bad after step 0 is met by update at step 1
    add("optim", "sgd(lr).update at step 1", lambda: dict(lr=schedules.constant(0.1), grads=f().grads, params=f().params),
        lambda a: (lambda o: o.update(a["grads"], optim.CountState(1), a["params"]))(optim.sgd(a["lr"])),
        dict(lr="schedule", grads="grads", params="params"), group=g, aliases=PEERS, fpe=True)
    add("optim", "adam(lr).update at step 1", lambda: dict(lr=0.01, grads=f().grads, params=f().params),
        lambda a: (lambda o: o.update(a["grads"], o.update(a["grads"], o.init(a["params"]), a["params"])[1], a["params"]))(optim.adam(a["lr"])),
        dict(lr="schedule", grads="grads", params="params"), group=g, aliases=PEERS, fpe=True)
    add("optim", "apply_updates", lambda: dict(params=f().params, updates=f().grads),
        lambda a: optim.apply_updates(a["params"], a["updates"]), dict(params="params", updates="params"), group=g, fpe=True,
        aliases=PEERS)
    add("optim", "sgd_step", lambda: dict(lr=0.1, params=f().params, grads=f().grads),
        lambda a: optim.sgd_step(a["lr"], a["params"], a["grads"]), dict(lr="schedule", params="params", grads="params"), group=g, fpe=True,
        aliases=PEERS)

    def step_args():
        opt = optim.rmsprop(0.01)
        return dict(optimizer=opt, grads=f().grads, state=opt.init(f().params), params=f().params)

    # step is update then apply_updates: apply_updates' overflow promise holds for it
    add("optim", "optim.step", step_args, lambda a: optim.step(a["optimizer"], a["grads"], a["state"], a["params"]),
        dict(optimizer="optimizer", grads="grads", state="opt_state", params="params"), group=g, fpe=True,
        aliases={**PEERS, "optimizer": ("transforms", "state")})
    add("optim", "check_optimizer", lambda: dict(optimizer=optim.sgd(0.1)), lambda a: optim.check_optimizer(a["optimizer"]),
        dict(optimizer="optimizer"), group=g)


def mask_mutations():
    return {
        "a tree of ints": lambda v, c: ({"W": 1, "b": 0}, {"W": 1, "b": 0}),
        "one layer dict short": lambda v, c: ({"W": True, "b": False},),
        "a function returning None": lambda v, c: (lambda p: None),
        "a function returning ints": lambda v, c: (lambda p: fn.tree_map(lambda a: 1, p)),
        "a function raising": lambda v, c: Bad("a function raising", _raise_user, "user"),
        "a list of bools": lambda v, c: [True, False],
        "a bool": lambda v, c: True,
        "a tree of bool arrays": lambda v, c: ({"W": np.ones(1, bool), "b": np.zeros(1, bool)}, {"W": np.ones(1, bool), "b": np.zeros(1, bool)}),
    }


def schedules_catalogue():
    g = "schedules"
    R, I = "real", "int"
    ctors = [
        ("constant", schedules.constant, dict(lr=0.1), dict(lr=R)),
        ("step_decay", schedules.step_decay, dict(lr=0.1, step_size=2, gamma=0.5), dict(lr=R, step_size=I, gamma=R)),
        ("multistep", schedules.multistep, dict(lr=0.1, milestones=[2, 5], gamma=0.5), dict(lr=R, milestones="seq_int", gamma=R)),
        ("exponential", schedules.exponential, dict(lr=0.1, decay_rate=2.0, decay_steps=3, staircase=False),
         dict(lr=R, decay_rate=R, decay_steps=I, staircase="bool")),
        ("cosine", schedules.cosine, dict(lr=0.1, total_steps=10, final=0.01), dict(lr=R, total_steps=I, final=R)),
        ("linear", schedules.linear, dict(start=0.0, end=1.0, steps=4), dict(start=R, end=R, steps=I)),
        ("linear_warmup", schedules.linear_warmup, dict(lr=schedules.cosine(0.1, 10), warmup_steps=3, start=0.0),
         dict(lr="schedule", warmup_steps=I, start=R)),
        ("join", schedules.join, dict(schedules=[schedules.constant(0.1), schedules.linear(0.1, 0.0, 3)], boundaries=[2]),
         dict(schedules="schedules", boundaries="seq_int")),
    ]
    for name, ctor, valid, kinds in ctors:
        add("schedules", f"schedules.{name}", lambda valid=valid: copy.deepcopy(valid), lambda a, ctor=ctor: ctor(**a), kinds, group=g)
        add("schedules", f"schedules.{name}(...)(step)", lambda valid=valid, ctor=ctor: dict(schedule=ctor(**copy.deepcopy(valid)), step=3),
            lambda a: a["schedule"](a["step"]), dict(step=I), group=g)
    # Schedules are frozen dataclasses that the CHANGELOG shows built directly: Cosine(lr=0.1, ...)
    classes = [
        ("Constant", schedules.Constant, dict(lr=0.1), dict(lr=R)),
        ("StepDecay", schedules.StepDecay, dict(lr=0.1, step_size=2, gamma=0.5), dict(lr=R, step_size=I, gamma=R)),
        ("MultiStep", schedules.MultiStep, dict(lr=0.1, milestones=(2, 5), gamma=0.5), dict(lr=R, milestones="seq_int", gamma=R)),
        ("Exponential", schedules.Exponential, dict(lr=0.1, decay_rate=2.0, decay_steps=3, staircase=False),
         dict(lr=R, decay_rate=R, decay_steps=I, staircase="bool")),
        ("Cosine", schedules.Cosine, dict(lr=0.1, total_steps=10, final=0.01), dict(lr=R, total_steps=I, final=R)),
        ("Linear", schedules.Linear, dict(start=0.0, end=1.0, steps=4), dict(start=R, end=R, steps=I)),
        ("LinearWarmup", schedules.LinearWarmup, dict(after=schedules.cosine(0.1, 10), warmup_steps=3, start=0.0),
         dict(after="schedule", warmup_steps=I, start=R)),
        ("Join", schedules.Join, dict(schedules=(schedules.constant(0.1), schedules.linear(0.1, 0.0, 3)), boundaries=(2,)),
         dict(schedules="schedules", boundaries="seq_int")),
    ]
    # LinearWarmup(after=...) is linear_warmup(lr=...): its messages name lr
    for name, cls, valid, kinds in classes:
        add("schedules", f"schedules.{name}(...)(3)", lambda valid=valid: copy.deepcopy(valid), lambda a, cls=cls: cls(**a)(3), kinds, group=g,
            aliases={"after": ("lr",)})


def schedules_mutations():
    return {
        "empty": lambda v, c: [],
        "a string": lambda v, c: "cosine",
        "a number among them": lambda v, c: [*v[:-1], 0.1],
        "a schedule returning NaN": lambda v, c: [lambda t: math.nan, *v[1:]],
        "a generator": lambda v, c: (x for x in v),
        "a dict": lambda v, c: {i: s for i, s in enumerate(v)},
        "one more": lambda v, c: Bad("one more", [*v, v[-1]], "rel"),
    }


def random_datasets_catalogue():
    g = "random"
    f = fx
    K, I, R = "key", "int", "real"
    add("random", "random.key", lambda: dict(seed=3), lambda a: rnd.key(a["seed"]), dict(seed=I), group=g)
    add("random", "random.split", lambda: dict(k=f().key, n=3), lambda a: rnd.split(a["k"], a["n"]), dict(k=K, n=I), group=g,
        work=frozenset({"n"}))  # n keys: a loop of n hashes, its cost asked for
    add("random", "random.fold_in", lambda: dict(k=f().key, data=7), lambda a: rnd.fold_in(a["k"], a["data"]), dict(k=K, data=I), group=g)
    add("random", "random.generator", lambda: dict(k=f().key), lambda a: rnd.generator(a["k"]).random(), dict(k=K), group=g)
    add("random", "random.normal", lambda: dict(k=f().key, shape=(2, 3), dtype=np.float32, std=2.0),
        lambda a: rnd.normal(a["k"], a["shape"], a["dtype"], std=a["std"]), dict(k=K, shape="shape", dtype="dtype", std=R), group=g,
        sizes=frozenset({"shape"}))
    add("random", "random.uniform", lambda: dict(k=f().key, shape=(3,), dtype=np.float64, low=-1.0, high=2.0),
        lambda a: rnd.uniform(a["k"], a["shape"], a["dtype"], low=a["low"], high=a["high"]),
        dict(k=K, shape="shape", dtype="dtype", low=R, high=R), group=g, sizes=frozenset({"shape"}))
    add("random", "random.permutation", lambda: dict(k=f().key, n=5), lambda a: rnd.permutation(a["k"], a["n"]), dict(k=K, n=I), group=g,
        sizes=frozenset({"n"}))
    add("random", "random.bernoulli", lambda: dict(k=f().key, p=0.3, shape=4), lambda a: rnd.bernoulli(a["k"], a["p"], a["shape"]),
        dict(k=K, p=R, shape="shape"), group=g, sizes=frozenset({"shape"}))

    g = "datasets"
    add("datasets", "datasets.xor", lambda: dict(dtype=np.float32), lambda a: datasets.xor(a["dtype"]), dict(dtype="dtype"), group=g)
    add("datasets", "datasets.xor_clusters", lambda: dict(n=8, key=f().key, noise=0.2, dtype=np.float64),
        lambda a: datasets.xor_clusters(a["n"], key=a["key"], noise=a["noise"], dtype=a["dtype"]),
        dict(n=I, key=K, noise=R, dtype="dtype"), group=g, sizes=frozenset({"n"}))
    add("datasets", "datasets.moons", lambda: dict(n=6, key=f().key, noise=0.1, dtype=np.float64),
        lambda a: datasets.moons(a["n"], key=a["key"], noise=a["noise"], dtype=a["dtype"]),
        dict(n=I, key=K, noise=R, dtype="dtype"), group=g, sizes=frozenset({"n"}))
    add("datasets", "datasets.circles", lambda: dict(n=6, key=f().key, noise=0.1, factor=0.5, dtype=np.float64),
        lambda a: datasets.circles(a["n"], key=a["key"], noise=a["noise"], factor=a["factor"], dtype=a["dtype"]),
        dict(n=I, key=K, noise=R, factor=R, dtype="dtype"), group=g, sizes=frozenset({"n"}))
    add("datasets", "datasets.spirals", lambda: dict(n=5, key=f().key, noise=0.1, turns=1.5, standardize=True, dtype=np.float32),
        lambda a: datasets.spirals(a["n"], key=a["key"], noise=a["noise"], turns=a["turns"], standardize=a["standardize"], dtype=a["dtype"]),
        dict(n=I, key=K, noise=R, turns=R, standardize="bool", dtype="dtype"), group=g, sizes=frozenset({"n"}))
    add("datasets", "datasets.digits", lambda: dict(key=f().key, test_size=0.25, dtype=np.float32),
        lambda a: datasets.digits(key=a["key"], test_size=a["test_size"], dtype=a["dtype"]), dict(key=K, test_size=R, dtype="dtype"), group=g)


def files_catalogue(files: Files):
    g = "io"
    f = fx
    add("io", "io.load", lambda: dict(path=str(files.npz), max_bytes=1 << 20),
        lambda a: fio.load(a["path"], max_bytes=a["max_bytes"]), dict(path="npz", max_bytes="int"), group=g)
    add("io", "io.save", lambda: dict(path=str(files.folder / "saved.npz"), net=files.net, params=files.params, stats=files.stats),
        lambda a: fio.save(a["path"], a["net"], a["params"], stats=a["stats"]),
        dict(path="out", net="net", params="params", stats="stats"), group=g)
    add("io", "io.net_to_dict", lambda: dict(net=files.net), lambda a: fio.net_to_dict(a["net"]), dict(net="net"), group=g)
    add("io", "io.net_from_dict", lambda: dict(d=fio.net_to_dict(files.net)), lambda a: fio.net_from_dict(a["d"]),
        dict(d="netdict"), group=g, aliases={"d": ("net", "sizes", "activation", "output", "init", "dtype", "dropout", "batchnorm")})
    add("io", "io.load_checkpoint", lambda: dict(path=str(files.ckpt), max_bytes=1 << 20),
        lambda a: fio.load_checkpoint(a["path"], max_bytes=a["max_bytes"]), dict(path="ckpt", max_bytes="int"), group=g)
    add("io", "io.save_checkpoint", lambda: dict(path=str(files.folder / "saved-ckpt.npz"), net=files.net, result=files.result,
                                                 config={"a": 1}),
        lambda a: fio.save_checkpoint(a["path"], a["net"], a["result"], config=a["config"]),
        dict(path="out", net="net", result="result", config="config_dict"), group=g)
    add("datasets", "datasets.save_idx", lambda: dict(path=str(files.folder / "saved.idx.gz"),
                                                      array=np.arange(12, dtype=np.uint8).reshape(3, 4), compress=True),
        lambda a: datasets.save_idx(a["path"], a["array"], compress=a["compress"]),
        dict(path="out", array="X", compress="bool"), group=g)
    add("datasets", "datasets.scale_images", lambda: dict(images=np.arange(12, dtype=np.uint8).reshape(3, 4), dtype=np.float32),
        lambda a: datasets.scale_images(a["images"], a["dtype"]), dict(images="X", dtype="dtype"), group=g)
    add("datasets", "datasets.load_idx", lambda: dict(path=str(files.idx), max_bytes=1 << 20),
        lambda a: datasets.load_idx(a["path"], max_bytes=a["max_bytes"]), dict(path="idx", max_bytes="int"), group=g)
    for name, fun in (("datasets.mnist", datasets.mnist), ("datasets.fashion_mnist", datasets.fashion_mnist)):
        add("datasets", name, lambda: dict(data_dir=str(files.mnist), dtype=np.float32, flatten=True, verify=True, max_bytes=1 << 20),
            lambda a, fun=fun: fun(a["data_dir"], dtype=a["dtype"], flatten=a["flatten"], verify=a["verify"], max_bytes=a["max_bytes"]),
            dict(data_dir="mnist_dir", dtype="dtype", flatten="bool", verify="bool", max_bytes="int"), group=g)


def netdict_mutations():
    def d(v, **kw):
        out = dict(v)
        out.update(kw)
        return out

    return {
        "sizes a string": lambda v, c: d(v, sizes="342"),
        "sizes huge": lambda v, c: d(v, sizes=[3, 10**400, 2]),
        "sizes missing": lambda v, c: {k: x for k, x in v.items() if k != "sizes"},
        "an unknown field": lambda v, c: d(v, colour="red"),
        "layers given": lambda v, c: d(v, layers=[1]),
        "dtype float16": lambda v, c: d(v, dtype="float16"),
        "dropout a string": lambda v, c: d(v, dropout="0.5"),
        "a list": lambda v, c: list(v.items()),
        "keys not strings": lambda v, c: {1: 2, **v},
        "an OrderedDict": lambda v, c: Bad("an OrderedDict", collections.OrderedDict(v), "same"),
    }


def plot_catalogue():
    g = "plot"
    f = fx
    hist = {"epoch": [1, 2], "loss": [1.0, 0.5], "accuracy": [0.5, 0.75], "val_loss": [1.1, 0.6], "grad_norm": [[0.5, 0.25], [0.4, 0.2]]}
    add("plot", "plot.loss_curves", lambda: dict(history=copy.deepcopy(hist), best_epoch=1, title="t", log_loss=True, figsize=(3, 2)),
        lambda a: plot.loss_curves(a["history"], best_epoch=a["best_epoch"], title=a["title"], log_loss=a["log_loss"], figsize=a["figsize"]),
        dict(history="history", best_epoch="int", title="str", log_loss="bool", figsize="figsize"), group=g)
    add("plot", "plot.grad_norm_curves", lambda: dict(history=copy.deepcopy(hist), title="t", figsize=(3, 2)),
        lambda a: plot.grad_norm_curves(a["history"], title=a["title"], figsize=a["figsize"]),
        dict(history="history", title="str", figsize="figsize"), group=g)
    add("plot", "plot.grad_norm_bars", lambda: dict(norms=[0.5, 0.25], title="t", figsize=(3, 2)),
        lambda a: plot.grad_norm_bars(a["norms"], title=a["title"], figsize=a["figsize"]),
        dict(norms="norms", title="str", figsize="figsize"), group=g)
    add("plot", "plot.lr_finder_curve", lambda: dict(lrs=[1e-3, 1e-2, 1e-1], losses=[2.0, 1.5, 3.0], suggestion=1e-2, title="t", figsize=(3, 2)),
        lambda a: plot.lr_finder_curve(a["lrs"], a["losses"], a["suggestion"], title=a["title"], figsize=a["figsize"]),
        dict(lrs="norms", losses="norms", suggestion="real", title="str", figsize="figsize"), group=g)
    two = lambda: fn.Net((2, 3, 2), dtype="float64")  # noqa: E731
    add("plot", "plot.decision_boundary",
        lambda: dict(net=two(), params=fn.init(rnd.key(0), two()), X=f().X[:, :2], y=f().y, stats=None, resolution=4, margin=0.1,
                     title="t", figsize=(3, 2)),
        lambda a: plot.decision_boundary(a["net"], a["params"], a["X"], a["y"], stats=a["stats"], resolution=a["resolution"],
                                         margin=a["margin"], title=a["title"], figsize=a["figsize"]),
        dict(net="net", params="params", X="X", y="labels", stats="stats", resolution="int", margin="real", title="str", figsize="figsize"),
        group=g, fpe=True, sizes=frozenset({"resolution"}))
    add("plot", "plot.digit_grid", lambda: dict(images=np.arange(8.0).reshape(2, 4), y_true=[1, 2], y_pred=[1, 0], image_shape=None,
                                                 cols=2, title="t", figsize=(3, 2)),
        lambda a: plot.digit_grid(a["images"], a["y_true"], a["y_pred"], image_shape=a["image_shape"], cols=a["cols"],
                                  title=a["title"], figsize=a["figsize"]),
        dict(images="images", y_true="labels", y_pred="labels", image_shape="shape", cols="int", title="str", figsize="figsize"), group=g)
    add("plot", "plot.hidden_activations", lambda: dict(net=f().rich, params=f().rparams, X=f().X32, layer=0, stats=f().rstats),
        lambda a: plot.hidden_activations(a["net"], a["params"], a["X"], layer=a["layer"], stats=a["stats"]),
        dict(net="net", params="params", X="X", layer="int", stats="stats"), group=g, fpe=True)
    add("plot", "plot.hidden_projection",
        lambda: dict(net=f().net, params=f().params, X=f().X, y=f().y, layer=-2, methods=("pca",), key=None, stats=None,
                     perplexity=30.0, title="t", figsize=(3, 2)),
        lambda a: plot.hidden_projection(a["net"], a["params"], a["X"], a["y"], layer=a["layer"], methods=a["methods"], key=a["key"],
                                         stats=a["stats"], perplexity=a["perplexity"], title=a["title"], figsize=a["figsize"]),
        dict(net="net", params="params", X="X", y="labels", layer="int", methods="methods", key="key", stats="stats",
             perplexity="real", title="str", figsize="figsize"), group=g, fpe=True)
    add("plot", "plot.pca_2d", lambda: dict(H=f().X), lambda a: plot.pca_2d(a["H"]), dict(H="X"), group=g)


def methods_mutations():
    return {
        "tsne without a key": lambda v, c: Bad("tsne without a key", ("pca", "tsne"), "rel"),
        "unknown": lambda v, c: ("pca", "umap"),
        "upper case": lambda v, c: ("PCA",),
        "empty": lambda v, c: (),
        "a generator": lambda v, c: (m for m in v),
        "a string": lambda v, c: Bad("a string", "pca", "same"),
        "a list": lambda v, c: Bad("a list", list(v), "same"),
        "nested": lambda v, c: [["pca"]],
    }


def sklearn_catalogue():
    g = "sklearn"
    f = fx
    hp = dict(hidden_layer_sizes=(3,), activation="tanh", optimizer="adam", learning_rate_init=0.01, max_iter=2,
              batch_size=4, alpha=1e-4, dropout=0.1, batchnorm=True, early_stopping=True, validation_fraction=0.25,
              n_iter_no_change=2, warm_start=False, random_state=0, dtype=None)
    hk = dict(hidden_layer_sizes="sizes", activation="str", optimizer="str", learning_rate_init="schedule",
              max_iter="int", batch_size="int", alpha="real", dropout="real", batchnorm="bool", early_stopping="bool",
              validation_fraction="real", n_iter_no_change="int", warm_start="bool", random_state="int",
              dtype="dtype", X="X", y="labels")
    X8 = lambda: np.vstack([f().X, f().X[:3]])  # noqa: E731
    y8 = lambda: np.array([0, 1, 1, 0, 1, 0, 1, 1])  # noqa: E731
    for name, cls, y, ykind in (("MLPClassifier", MLPClassifier, y8, "labels"),
                                ("MLPRegressor", MLPRegressor, lambda: X8()[:, 0] * 2, "targets")):
        def call(a, cls=cls):
            kw = {k: v for k, v in a.items() if k not in ("X", "y")}
            return cls(**kw).fit(a["X"], a["y"])

        # The estimators hand hidden_layer_sizes to Net as sizes, which names a size NumPy
        # cannot hold so.
        add("sklearn", f"{name}.fit", lambda y=y: {**hp, "X": X8(), "y": y()}, call, {**hk, "y": ykind}, group=g, fpe=True,
            work=frozenset({"max_iter"}), sizes=frozenset({"hidden_layer_sizes", "batch_size"}),
            aliases={"hidden_layer_sizes": ("sizes",)})

        def partial(a, cls=cls):
            kw = {k: v for k, v in a.items() if k not in ("X", "y", "classes")}
            est = cls(**kw)
            extra = {"classes": a["classes"]} if cls is MLPClassifier else {}
            return est.partial_fit(a["X"], a["y"], **extra).partial_fit(a["X"], a["y"])

        add("sklearn", f"{name}.partial_fit",
            lambda y=y, cls=cls: {**hp, "X": X8(), "y": y(), **({"classes": [0, 1]} if cls is MLPClassifier else {})},
            partial, {**hk, "y": ykind, "classes": "labels"}, group=g, fpe=True,
            work=frozenset({"max_iter"}), sizes=frozenset({"hidden_layer_sizes", "batch_size"}),
            aliases={"hidden_layer_sizes": ("sizes",)})

        def fitted(cls=cls, y=y):
            return dict(est=cls(hidden_layer_sizes=(3,), max_iter=1).fit(X8(), y()), X=X8())

        # score is scikit-learn's own (ClassifierMixin/RegressorMixin): its errors are scikit-learn's
        for method in ("predict",) + (("predict_proba",) if cls is MLPClassifier else ()):
            add("sklearn", f"{name}.{method}", fitted, lambda a, method=method: getattr(a["est"], method)(a["X"]),
                dict(X="X"), group=g, fpe=True)


def cli_catalogue(files: Files):
    g = "cli"
    common = {"--dataset": "moons", "--n-samples": "20", "--hidden": "3", "--activation": "tanh", "--optimizer": "sgd",
              "--batch-size": "4", "--l2": "0.0", "--dropout": "0.0", "--dtype": "float32", "--seed": "0"}
    subcommands = {
        "train": {**common, "--lr": "0.5", "--epochs": "2", "--val-fraction": "0.2", "--patience": "1", "--out": "{OUT}",
                  "--monitor": "val_accuracy", "--min-delta": "0.0", "--schedule": "cosine", "--warmup-epochs": "1",
                  "--label-smoothing": "0.1", "--threads": "1"},
        "lr-find": {**common, "--start": "1e-3", "--stop": "1", "--steps": "3"},
        "gradcheck": {"--inputs": "2", "--hidden": "3", "--outputs": "2", "--activation": "tanh", "--output": "softmax",
                      "--dropout": "0", "--l2": "0", "--samples": "3", "--seed": "0", "--tol": "1e-6"},
        "evaluate": {"--params": str(files.run / "params.npz"), "--seed": "0"},
    }
    kinds = {"--config": "config", "--params": "cli_npz", "--data-dir": "cli_mnist", "--out": "out", "--plot": "plot_path"}
    for sub, options in subcommands.items():
        extra = {"--config": None} if sub in ("train", "lr-find") else {}
        if sub == "lr-find":
            extra["--plot"] = None
        if sub == "train":
            extra["--data-dir"] = None
        valid = {**options, **extra, "extra": None}

        def call(a, sub=sub):
            return cli_main(_argv(sub, a))

        k = {opt: kinds.get(opt, "cli") for opt in valid}
        k["extra"] = "cli_extra"
        add("cli", f"funcnet {sub}", lambda valid=valid: dict(valid), call, k, group=g, compare=False,
            work=frozenset({"--epochs", "--steps"}), sizes=frozenset({"--n-samples", "--samples", "--hidden", "--inputs", "--outputs"}),
            # a config file's errors name the setting in it (tests/test_cli.py pins "epochs: ...")
            aliases={"--hidden": ("sizes",), "--inputs": ("sizes",), "--outputs": ("sizes",),
                     "--config": ("config", *CONFIG_KEYS),
                     "--data-dir": ("data_dir",), "--params": ("params",)})


def _argv(sub, a):
    argv = [sub]
    out = None
    mnist = a.get("--data-dir") not in (None, _LEFT_OUT)
    for opt, value in a.items():
        if opt == "extra" or (mnist and opt == "--n-samples"):
            continue
        if value is None or value is _LEFT_OUT:
            continue
        if value == "{OUT}":
            out = value = str(CLI_OUT / f"run{os.getpid()}_{time.perf_counter_ns()}")
        if value is _NO_VALUE:
            argv.append(opt)
        elif value is _TWICE:
            argv += [opt, "1", opt, "2"]
        elif opt == "--data-dir":
            argv += ["--dataset", "mnist", opt, str(value)]
        else:
            argv += [opt, str(value)]
    if sub in ("train",):
        argv += ["--no-plots", "-q"]
    if a.get("extra"):
        argv += list(a["extra"])
    _CLI_RUNS.append(out)
    return argv


_CLI_RUNS: list = []


# --- the tests: one per group of modules, each within its share of the minute ---


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    global CLI_OUT
    folder = tmp_path_factory.mktemp("fuzz")
    CLI_OUT = folder / "cli"
    CLI_OUT.mkdir()
    files = Files(folder / "files")
    CATALOGUE.clear()
    core_catalogue()
    training_catalogue()
    optim_catalogue()
    schedules_catalogue()
    random_datasets_catalogue()
    files_catalogue(files)
    plot_catalogue()
    sklearn_catalogue()
    cli_catalogue(files)
    return Runner(files, folder / "scratch")


def _check(group):
    mine = {sig: v for sig, v in ESCAPES.items() if sig[0] == group}
    assert not mine, "escapes:\n" + counts_table(group)


# group -> bad inputs and valid variants drawn: over 10,000 bad inputs in all. The command line
# (its parser alone takes ~5 ms a call) and plots (a matplotlib figure ~15 ms) are the dear ones.
GROUPS = {
    "core": 3600, "training": 1200, "optim": 2000, "schedules": 1500, "random": 900, "datasets": 700,
    "io": 1200, "plot": 350, "sklearn": 450, "cli": 350,
}


def _examples(group):
    # FUZZ_SCALE=10 fuzzes ten times as long (the counts test then wants 10,000 at least)
    scale = float(os.environ.get("FUZZ_SCALE", "1"))
    return max(1, int(GROUPS[group] * scale))


@pytest.mark.parametrize("group", list(GROUPS))
def test_fuzz(runner, group):
    """Every bad input of the group meets the four oracles (the message lists each escape)."""
    run_group(group, _examples(group), runner)
    _check(group)


def test_fuzz_counts(tmp_path_factory):
    """The counts of the groups run above: at least 10,000 bad inputs, per module and outcome.

    Printed (``-s``) and written to ``fuzz_counts.txt`` in the session's temporary directory.
    Skipped when a selection ran only some of the groups.
    """
    if RAN_GROUPS != set(GROUPS):
        pytest.skip(f"only the groups {sorted(RAN_GROUPS)} ran")
    slow = sorted(TIMES, key=lambda k: -TIMES[k])[:12]
    text = (counts_table() + "\n\nslowest functions (s in calls, calls, ms a call):\n"
            + "\n".join(f"  {k:<44} {TIMES[k]:6.2f} {CALLS[k]:6d} {1000 * TIMES[k] / CALLS[k]:7.1f}" for k in slow))
    out = tmp_path_factory.getbasetemp() / "fuzz_counts.txt"
    out.write_text(text + "\n")
    print(f"\n{text}\n(written to {out})")
    total = sum(c["bad inputs"] for c in COUNTS.values())
    assert total >= 10_000 * min(1.0, float(os.environ.get("FUZZ_SCALE", "1"))), counts_table()
