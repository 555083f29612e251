"""Explicit random keys: every random number in funcnet comes from a key you pass in.

A key is an immutable value (a tuple of 32-bit words). Equal keys give equal numbers, on
every call, in every process: no function here touches numpy's global random state or
keeps a generator between calls. Child keys are derived with numpy's ``SeedSequence``
(hash-based entropy mixing), never by advancing a shared stream.

>>> k = key(0)
>>> a, b = split(k)
>>> bool(np.array_equal(normal(a, (3,)), normal(a, (3,))))
True
>>> bool(np.array_equal(normal(a, (3,)), normal(b, (3,))))
False
"""

from __future__ import annotations

import numpy as np

from . import checks
from ._key import Key

__all__ = [
    "Key",
    "key",
    "split",
    "fold_in",
    "generator",
    "normal",
    "uniform",
    "permutation",
    "bernoulli",
]


def key(seed: int) -> Key:
    """Make a key from a non-negative integer seed.

    Args:
        seed: any non-negative Python or numpy integer.

    Returns:
        A :class:`Key`.

    >>> key(42) == key(42)
    True
    """
    seed = checks.integer(seed, "seed", low=0)
    words = np.random.SeedSequence(seed).generate_state(4, dtype=np.uint32)
    return Key(tuple(int(w) for w in words))


def split(k: Key, n: int = 2) -> tuple[Key, ...]:
    """Derive ``n`` independent child keys from ``k``; ``k`` itself is unchanged.

    Args:
        k: the parent key.
        n: how many children (>= 1).

    Returns:
        A tuple of ``n`` keys.

    >>> a, b = split(key(0))
    >>> a == b
    False
    >>> split(key(0)) == split(key(0))
    True
    """
    checks.key(k, "k")
    n = checks.integer(n, "n", low=1)
    # spawn_key names the child uniquely; SeedSequence hashes (entropy, spawn_key).
    return tuple(
        Key(tuple(int(w) for w in np.random.SeedSequence(k.words, spawn_key=(1, i))
                  .generate_state(4, dtype=np.uint32)))
        for i in range(n)
    )


def fold_in(k: Key, data: int) -> Key:
    """Derive a key from ``k`` and an integer (an epoch or step number).

    >>> fold_in(key(0), 3) == fold_in(key(0), 3) != fold_in(key(0), 4)
    True
    """
    checks.key(k, "k")
    data = checks.integer(data, "data", low=0)
    words = np.random.SeedSequence(k.words, spawn_key=(2, data)).generate_state(
        4, dtype=np.uint32
    )
    return Key(tuple(int(w) for w in words))


def generator(k: Key) -> np.random.Generator:
    """A fresh numpy ``Generator`` seeded from ``k`` (for one-off use; never stored).

    >>> int(generator(key(1)).integers(10)) == int(generator(key(1)).integers(10))
    True
    """
    checks.key(k, "k")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(k.words)))


def _shape(shape) -> tuple[int, ...]:
    if isinstance(shape, (tuple, list)):
        dims = tuple(checks.integer(s, "shape", low=0) for s in shape)
    else:
        dims = (checks.integer(shape, "shape", low=0),)
    return checks.size(dims, "shape")  # samples are drawn as 8-byte floats


def normal(k: Key, shape, dtype=np.float64, *, std: float = 1.0) -> np.ndarray:
    """Standard normal samples times ``std``.

    Args:
        k: the key.
        shape: output shape.
        dtype: float32 or float64 (sampled natively in that precision).
        std: standard deviation, a finite number >= 0.

    Returns:
        An array of ``shape`` and ``dtype``.

    >>> normal(key(0), (2, 3), np.float32).dtype
    dtype('float32')
    """
    dt = checks.float_dtype(dtype)
    std = checks.real(std, "std", low=0)
    out = generator(k).standard_normal(_shape(shape), dtype=dt)
    if std != 1.0:
        with np.errstate(over="ignore"):
            out *= dt.type(std)
        if not checks.all_finite(out):
            raise ValueError(f"std: expected a standard deviation whose samples fit {dt}, got {std!r}")
    return out


def uniform(k: Key, shape, dtype=np.float64, *, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """Uniform samples on ``[low, high)``, in ``dtype``'s own precision.

    Args:
        k: the key.
        shape: output shape.
        dtype: float32 or float64.
        low, high: finite bounds, ``high > low``, within ``dtype``'s range.

    Returns:
        An array of ``shape`` and ``dtype``; every value ``v`` has ``low <= v < high``.

    >>> x = uniform(key(0), 1000, low=-2.0, high=2.0)
    >>> bool(x.min() >= -2.0 and x.max() < 2.0)
    True
    """
    dt = checks.float_dtype(dtype)
    low, high = checks.real(low, "low"), checks.real(high, "high")
    if not high > low:
        raise ValueError(f"high: expected high > low, got low={low!r}, high={high!r}")
    big = float(np.finfo(dt).max)
    if max(abs(low), abs(high), high - low) > big:
        raise ValueError(
            f"high: expected low, high and high - low within {dt}'s range (+-{big:.3g}), "
            f"got low={low!r}, high={high!r}"
        )
    # low + (high - low) * u can round onto high (or, in float32, just below low): clamp to
    # the dtype's values inside [low, high) so that the bounds hold for every sample.
    lo, hi = dt.type(low), dt.type(high)
    if lo < low:
        lo = np.nextafter(lo, dt.type(np.inf))
    if hi >= high:
        hi = np.nextafter(hi, dt.type(-np.inf))
    if lo > hi:
        raise ValueError(
            f"high: expected [low, high) to hold at least one {dt} value, "
            f"got low={low!r}, high={high!r}"
        )
    out = generator(k).random(_shape(shape), dtype=dt)
    out *= dt.type(high - low)
    out += dt.type(low)
    return np.clip(out, lo, hi, out=out)


def permutation(k: Key, n: int) -> np.ndarray:
    """A random permutation of ``range(n)`` as an int64 array.

    >>> sorted(permutation(key(0), 5).tolist())
    [0, 1, 2, 3, 4]
    """
    n = checks.integer(n, "n", low=0)
    checks.size((n,), "n")
    return generator(k).permutation(n)


def bernoulli(k: Key, p: float, shape) -> np.ndarray:
    """Boolean samples that are True with probability ``p``.

    Args:
        k: the key.
        p: a probability in [0, 1].
        shape: output shape.

    Returns:
        A bool array of ``shape``.

    >>> bernoulli(key(0), 1.0, 3).tolist()
    [True, True, True]
    """
    p = checks.real(p, "p", low=0, high=1)
    return generator(k).random(_shape(shape)) < p
