"""The one vocabulary of argument checks that every public function uses.

One rule: ``TypeError`` when an argument is the wrong kind of thing (a float where a count is
needed, a list where a key is, a tree of another structure), ``ValueError`` when it is the
right kind with a wrong value (a negative count, a NaN rate, a shape that does not fit). Every
message reads ``name: expected WHAT, got WHAT CAME``. Each check returns the value in the form
the internals use (a Python ``int``/``float``/``bool``, an ndarray), so a public function
checks its arguments once, here, and the functions behind it trust them.

>>> integer(3, "epochs", low=1)
3
>>> integer(2.0, "epochs", low=1)
Traceback (most recent call last):
TypeError: epochs: expected an integer >= 1, got 2.0 (float)
>>> real(0.5, "dropout", low=0, high=1, high_open=True)
0.5
>>> real(10**400, "lr", low=0, low_open=True)
Traceback (most recent call last):
ValueError: lr: expected a finite number > 0, got an integer too large for a float
"""

from __future__ import annotations

import math
import numbers
import os
import warnings
from collections.abc import Mapping

import numpy as np

from ._key import Key
from ._ops import rowsum
from .tree import _walkable_leaves, tree_check_same, tree_leaves, tree_paths

__all__ = [
    "integer",
    "real",
    "boolean",
    "choice",
    "function",
    "instance",
    "key",
    "float_dtype",
    "matrix",
    "array",
    "size",
    "path",
    "finite",
    "all_finite",
    "describe_non_finite",
    "arrays_like",
    "float_arrays",
    "overflow",
    "show",
]


def show(value, limit: int = 60) -> str:
    """A short description of ``value`` for an error message: its repr (cut at ``limit``
    characters) and, unless it is a plain int, str, bool or None, its type; arrays by shape
    and dtype."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    try:
        text = repr(value)
    except Exception:  # a repr that raises is still a value to name
        text = "<unprintable>"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    if type(value) in (int, str, bool, type(None)):
        return text
    return f"{text} ({type(value).__name__})"


def _range_text(kind: str, low, high, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"{kind} in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{kind} {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{kind} {'<' if high_open else '<='} {high:g}"
    return kind


# Flags are not counts, and NumPy registers its time spans as integers: neither is a number here.
_NOT_NUMBERS = (bool, np.bool_, np.timedelta64)


def integer(value, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """A Python or NumPy integer (not a bool, not a whole float) within ``[low, high]``.

    A float is refused even when whole: ``2.0`` is most likely a computed size (``n / 2``)
    that happens to be exact this time, and ``int()`` would hide the next one that is not.

    >>> integer(np.int64(5), "n", low=0)
    5
    >>> integer(-1, "n", low=0)
    Traceback (most recent call last):
    ValueError: n: expected an integer >= 0, got -1
    """
    if type(value) is int and (low is None or value >= low) and (high is None or value <= high):
        return value  # the common case, without the general checks
    want = _range_text("an integer", low, high, False, False)
    if isinstance(value, _NOT_NUMBERS) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected {want}, got {show(value)}")
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        raise ValueError(f"{name}: expected {want}, got {show(value)}")
    return v


def real(value, name: str, *, low: float | None = None, high: float | None = None,
         low_open: bool = False, high_open: bool = False) -> float:
    """A finite real number (int, float, NumPy scalar, Fraction; not a bool) within bounds.

    Returns:
        The value as a Python float.

    >>> real(1, "lr", low=0, low_open=True)
    1.0
    >>> real(float("nan"), "lr", low=0, low_open=True)
    Traceback (most recent call last):
    ValueError: lr: expected a finite number > 0, got nan
    >>> real("0.1", "lr")
    Traceback (most recent call last):
    TypeError: lr: expected a finite number, got '0.1'
    """
    want = _range_text("a finite number", low, high, low_open, high_open)
    if isinstance(value, _NOT_NUMBERS) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected {want}, got {show(value)}")
    try:
        v = float(value)
    except OverflowError:  # an int (or Fraction) beyond the float range
        raise ValueError(f"{name}: expected {want}, got an integer too large for a float") from None
    if not math.isfinite(v):
        raise ValueError(f"{name}: expected {want}, got {v}")
    if (low is not None and (v <= low if low_open else v < low)) or \
            (high is not None and (v >= high if high_open else v > high)):
        raise ValueError(f"{name}: expected {want}, got {show(value)}")
    return v


def boolean(value, name: str) -> bool:
    """``True`` or ``False`` (NumPy bools too); ``0`` and ``1`` are not flags.

    >>> boolean(np.True_, "shuffle")
    True
    >>> boolean(1, "shuffle")
    Traceback (most recent call last):
    TypeError: shuffle: expected True or False, got 1
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {show(value)}")
    return bool(value)


def choice(value, name: str, options) -> str:
    """One of the names in ``options`` (strings).

    >>> choice("relu", "activation", ["relu", "tanh"])
    'relu'
    >>> choice("rleu", "activation", ["relu", "tanh"])
    Traceback (most recent call last):
    ValueError: activation: expected one of ['relu', 'tanh'], got 'rleu'
    """
    options = sorted(options)
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected one of {options}, got {show(value)}")
    if value not in options:
        raise ValueError(f"{name}: expected one of {options}, got {show(value)}")
    return str(value)  # a plain str, also for NumPy's str_


def function(value, name: str, want: str = "a function"):
    """Something callable.

    >>> function(None, "callback", "a function record -> bool")
    Traceback (most recent call last):
    TypeError: callback: expected a function record -> bool, got None
    """
    if not callable(value):
        raise TypeError(f"{name}: expected {want}, got {show(value)}")
    return value


def instance(value, name: str, cls, want: str):
    """An instance of ``cls``; the message says ``want`` (e.g. "a funcnet.Net").

    >>> instance([], "net", dict, "a dict")
    Traceback (most recent call last):
    TypeError: net: expected a dict, got [] (list)
    """
    if not isinstance(value, cls):
        raise TypeError(f"{name}: expected {want}, got {show(value)}")
    return value


def key(value, name: str = "key", *, required: bool = True):
    """A :class:`funcnet.random.Key` made by ``funcnet.random.key`` or derived from one.

    A key is four 32-bit words; one built by hand with anything else (``Key(None)`` would
    make NumPy draw fresh OS entropy, so equal keys gave different numbers) is refused.

    >>> from funcnet.random import Key
    >>> key(Key(None))
    Traceback (most recent call last):
    ValueError: key: expected four integers in [0, 2**32) (a key from funcnet.random.key(seed)), got Key(words=None)
    """
    if value is None and not required:
        return None
    if not isinstance(value, Key):
        raise TypeError(
            f"{name}: expected a funcnet.random.Key (from funcnet.random.key(seed)), got {show(value)}"
        )
    w = value.words
    if not (
        type(w) is tuple
        and len(w) == 4
        and all(type(x) is int and 0 <= x < 1 << 32 for x in w)
    ):
        raise ValueError(
            f"{name}: expected four integers in [0, 2**32) (a key from funcnet.random.key(seed)), "
            f"got {value!r:.100}"
        )
    return value


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_all_true = np.logical_and.reduce


def float_dtype(value, name: str = "dtype") -> np.dtype:
    """``float32`` or ``float64``, given as a name, a NumPy type or a dtype.

    >>> float_dtype("float32")
    dtype('float32')
    >>> float_dtype("float16")
    Traceback (most recent call last):
    ValueError: dtype: expected float32 or float64, got float16
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a deprecated spelling ('a') is not a float dtype either
            dt = np.dtype(value)
    except (TypeError, ValueError, Warning, RecursionError):  # (a deeply nested list)
        raise TypeError(f"{name}: expected float32 or float64, got {show(value)}") from None
    if dt not in _FLOATS:
        raise ValueError(f"{name}: expected float32 or float64, got {dt}")
    return dt


def all_finite(a: np.ndarray) -> bool:
    """Whether every element of a float array is finite, without a mask the size of a large ``a``."""
    if a.size < 1 << 16:
        return bool(_all_true(np.isfinite(a), axis=None))
    # A large array: NaN and inf make its sum non-finite, and only a finite sum that overflowed
    # needs the element-wise look. Row sums as a product with ones go through BLAS, quicker
    # than np.sum on a large float32 matrix; NaN and inf propagate the same way.
    with np.errstate(over="ignore", invalid="ignore"):
        if a.ndim == 2 and a.dtype in _FLOATS:
            total = rowsum(a).sum()
        else:
            total = np.sum(a)
    if np.isfinite(total):
        return True
    return bool(np.isfinite(a).all())


def describe_non_finite(a: np.ndarray) -> str:
    """What is wrong with a non-finite array: counts and the first position.

    >>> describe_non_finite(np.array([[0.0, np.nan], [np.inf, 1.0]]))
    '1 NaN and 1 inf among 4 values (first at [0, 1])'
    """
    nan = int(np.count_nonzero(np.isnan(a)))
    pos = int(np.count_nonzero(np.isposinf(a)))
    neg = int(np.count_nonzero(np.isneginf(a)))
    parts = [f"{c} {what}" for c, what in ((nan, "NaN"), (pos, "inf"), (neg, "-inf")) if c]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    where = ", ".join(str(int(i)) for i in np.argwhere(~np.isfinite(a))[0]) if a.ndim else ""
    values = "value" if a.size == 1 else "values"
    return f"{listed} among {a.size} {values} (first at [{where}])"


def finite(a: np.ndarray, name: str) -> np.ndarray:
    """``a`` itself if every element is finite; else a ValueError with counts and a position."""
    if not all_finite(a):
        raise ValueError(f"{name}: expected finite values, got {describe_non_finite(a)}")
    return a


def array(value, name: str, want: str = "an array of numbers") -> np.ndarray:
    """``value`` as an ndarray (the caller checks its dtype and shape).

    Strings, bytes, mappings, and what NumPy cannot make one array of (ragged lists, objects
    that refuse) are a TypeError naming ``name``.

    >>> array([1, 2], "y").tolist()
    [1, 2]
    >>> array("ab", "y", "integer labels")
    Traceback (most recent call last):
    TypeError: y: expected integer labels, got 'ab'
    """
    if isinstance(value, (str, bytes, Mapping)):
        raise TypeError(f"{name}: expected {want}, got {show(value)}")
    try:
        return np.asarray(value)
    except Exception as e:  # ragged lists and the like
        raise TypeError(f"{name}: expected {want}, got {type(value).__name__} ({e})") from None


#: The most bytes one NumPy array can hold (its sizes are C ``intp``s). NumPy refuses more with
#: errors that name nothing ("Maximum allowed dimension exceeded"), hence :func:`size`.
MAX_ARRAY_BYTES = int(np.iinfo(np.intp).max)
MAX_DIMS = 64  # NumPy 2's limit on dimensions


def size(shape, name: str, itemsize: int = 8) -> tuple:
    """Dimensions (integers >= 0, already checked) of an array NumPy can hold: at most 64 of
    them and :data:`MAX_ARRAY_BYTES` bytes of ``itemsize``-byte items.

    A size beyond that is a mistake, a ValueError naming ``name``; one NumPy could hold but the
    machine cannot is NumPy's MemoryError, a matter of the machine.

    >>> size((2, 3), "shape")
    (2, 3)
    >>> size((2**40, 2**40), "shape")
    Traceback (most recent call last):
    ValueError: shape: expected an array NumPy can hold (at most 64 dimensions and 2**63 - 1 bytes), got shape (1099511627776, 1099511627776) of 8-byte items
    """
    shape = tuple(int(d) for d in shape)
    if len(shape) > MAX_DIMS or math.prod(shape) * itemsize > MAX_ARRAY_BYTES:
        dims = [str(d) if d < 10**20 else f"{str(d)[0]}.{str(d)[1:3]}e{len(str(d)) - 1}" for d in shape]
        text = (f"shape ({', '.join(dims)}{',' if len(dims) == 1 else ''})" if len(dims) <= 8
                else f"a shape of {len(dims)} dimensions")
        raise ValueError(f"{name}: expected an array NumPy can hold (at most {MAX_DIMS} dimensions and "
                         f"2**63 - 1 bytes), got {text} of {itemsize}-byte items")
    return shape


def path(value, name: str = "path") -> str:
    """A file system path: a str, bytes or ``os.PathLike``, not empty, without NUL characters.

    Returns:
        The path as a str.

    >>> path(b"runs/a.npz")
    'runs/a.npz'
    >>> path(3)
    Traceback (most recent call last):
    TypeError: path: expected a path (a str or os.PathLike), got 3
    """
    if not isinstance(value, (str, bytes, os.PathLike)):
        raise TypeError(f"{name}: expected a path (a str or os.PathLike), got {show(value)}")
    try:
        p = os.fsdecode(os.fspath(value))
    except TypeError as e:  # a PathLike whose __fspath__ returns something else
        raise TypeError(f"{name}: expected a path (a str or os.PathLike), got {show(value)} ({e})") from None
    if not p or "\x00" in p:
        raise ValueError(f"{name}: expected a path, not empty and without NUL characters, got {p!r:.100}")
    return p


def matrix(a, name: str, *, columns: int | None = None, dtype=None, numeric: bool = True) -> np.ndarray:
    """A finite, non-empty 2-D array (rows, columns): inputs, logits, gradients of logits.

    With ``numeric`` (the default) booleans and integers are accepted as numbers; otherwise
    only float arrays are. ``uint8`` is refused either way: it is what image files hold, and
    raw pixels 0..255 would train silently and badly (scale them first). With ``dtype``, the array becomes that dtype (the params' dtype, so
    every computation runs in it); it is checked finite before and after the cast (a float64
    too large for float32 would become inf). The caller's array is returned as it is when
    nothing needs converting.

    >>> matrix([[1, 2]], "X", columns=2, dtype=np.float32)
    array([[1., 2.]], dtype=float32)
    >>> matrix(np.ones((3, 4)), "X", columns=2)
    Traceback (most recent call last):
    ValueError: X: expected 2 columns, got shape (3, 4)
    """
    a = array(a, name, "a 2-D numeric array")
    if a.dtype.kind not in ("biuf" if numeric else "f"):
        raise TypeError(f"{name}: expected a {'numeric' if numeric else 'float'} array, got dtype {a.dtype}")
    if a.dtype == np.uint8:
        # Raw pixels 0..255 train, but badly and silently; every image loader here yields uint8.
        raise TypeError(
            f"{name}: got uint8 values (raw pixels?); expected floats, e.g. "
            f"funcnet.datasets.scale_images({name}) for [0, 1] or {name}.astype(np.float32)"
        )
    if a.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array (rows, columns), got shape {a.shape}")
    if a.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one row, got shape {a.shape}")
    if a.shape[1] == 0 or (columns is not None and a.shape[1] != columns):
        want = "at least one column" if columns is None else f"{columns} columns"
        raise ValueError(f"{name}: expected {want}, got shape {a.shape}")
    if a.dtype.kind == "f":
        finite(a, name)
    if dtype is not None and a.dtype != dtype:
        with np.errstate(over="ignore"):
            a = a.astype(dtype)
        finite(a, f"{name} (as {np.dtype(dtype)})")
    return a


def arrays_like(tree, ref, name: str, ref_name: str, *, dtype=None, check_finite: bool = True) -> None:
    """``tree`` must have ``ref``'s structure and hold float arrays of ``ref``'s shapes.

    ``ref``'s leaves are arrays (``np.broadcast_to`` views cost no memory). Leaves are in native
    byte order (NumPy computes in it). With ``dtype``, every leaf must have that
    dtype (a stray float64 leaf would silently upcast everything it touches); with
    ``check_finite``, no leaf may hold NaN or inf. Errors name the leaf by its path.

    >>> ref = ({"W": np.zeros((2, 3))},)
    >>> arrays_like(({"W": np.zeros((3, 2))},), ref, "params", "the net")
    Traceback (most recent call last):
    ValueError: params[0]['W']: expected shape (2, 3), got (3, 2)
    """
    tree_check_same(ref, tree, names=(ref_name, name))
    for i, (a, r) in enumerate(zip(tree_leaves(tree), tree_leaves(ref))):
        if (type(a) is np.ndarray and a.dtype.kind == "f" and a.shape == r.shape and a.dtype.isnative
                and (dtype is None or a.dtype == dtype) and (not check_finite or all_finite(a))):
            continue
        where = name + tree_paths(tree)[i][0]
        shape = np.shape(r)
        if not isinstance(a, np.ndarray) or a.dtype.kind != "f":
            raise TypeError(f"{where}: expected a float array of shape {shape}, got {show(a)}")
        if a.shape != shape:
            raise ValueError(f"{where}: expected shape {shape}, got {a.shape}")
        if dtype is not None and a.dtype != dtype:
            raise ValueError(f"{where}: expected dtype {np.dtype(dtype)}, got {a.dtype}")
        if not a.dtype.isnative:
            raise ValueError(f"{where}: expected an array in native byte order, got dtype {a.dtype.str}")
        finite(a, where)


def float_arrays(tree, name: str, *, finite_values: bool = True) -> None:
    """Every leaf of ``tree`` a float array of at least one dimension in native byte order
    (NumPy computes in it), finite with ``finite_values``.

    >>> float_arrays(({"W": np.zeros(2, int)},), "params")
    Traceback (most recent call last):
    TypeError: params[0]['W']: expected a float array of at least one dimension, got an array of shape (2,) and dtype int64
    """
    for i, a in enumerate(_walkable_leaves(tree, name)):
        if (type(a) is np.ndarray and a.dtype.kind == "f" and a.ndim and a.dtype.isnative
                and (not finite_values or all_finite(a))):
            continue
        path = name + tree_paths(tree)[i][0]
        if not isinstance(a, np.ndarray) or a.dtype.kind != "f" or a.ndim == 0:
            raise TypeError(f"{path}: expected a float array of at least one dimension, got {show(a)}")
        if not a.dtype.isnative:
            raise ValueError(f"{path}: expected an array in native byte order, got dtype {a.dtype.str}")
        finite(a, path)


def overflow(result, what: str, dtype) -> None:
    """A ``FloatingPointError`` when a result computed from finite inputs is not finite: the
    computation overflowed ``dtype`` (never handed back as a silent NaN or inf).

    >>> overflow(np.array([1.0, np.inf]), "forward", np.float32)
    Traceback (most recent call last):
    FloatingPointError: forward: overflowed in float32 (1 inf among 2 values (first at [1])): the values are too large for it
    """
    if isinstance(result, np.ndarray):
        if all_finite(result):
            return
        detail = describe_non_finite(result)
    else:
        if math.isfinite(result):
            return
        detail = f"came out {result}"
    raise FloatingPointError(f"{what}: overflowed in {np.dtype(dtype)} ({detail}): the values are too large for it")
