"""How many BLAS threads each matrix product gets while :func:`funcnet.fit` runs.

A rule of the product's shape, fixed in advance, so that the same fit on the same machine
gives the same bits every time (OpenBLAS splits a large product differently on one thread and
on two, which changes its rounding): products of at least :data:`THRESHOLD` multiply-adds run
on every thread NumPy's BLAS had when ``fit`` started, smaller ones on one. Small products
gain nothing from a second thread, and its workers, left spinning after a product, slow the
elementwise work between products (most of all on a machine with other work on its cores).
``scripts/bench.py`` measures the rule against one and two threads; README states what it
means for bit-for-bit reproducibility.

The thread count is a setting of the process: :func:`applied` sets it for the duration of a
fit and puts back what it found. The BLAS is found and set through threadpoolctl; where it
cannot find NumPy's BLAS (or is not installed) nothing is changed.
"""

from __future__ import annotations

import contextlib
import os
import threading

import numpy as np

__all__ = ["THRESHOLD", "dot", "applied", "blas_threads"]

#: Multiply-adds (m * k * n) from which a product runs on more than one thread: between the
#: products of Fashion-MNIST's 784-256 layer in batches of 32 (6.4e6), which gain nothing from
#: a second thread, and of 128 (25.7e6), which do. ``python scripts/bench.py --threads``
#: measures the rule.
THRESHOLD = 16_000_000

_lock = threading.Lock()
_active = False  # a fit in some thread holds the BLAS setting
_switch = None  # while a fit runs products on both sides of THRESHOLD


class _Switch:
    """Sets the thread count before each product, calling the BLAS only when it changes."""

    __slots__ = ("lib", "high", "current")

    def __init__(self, lib, high: int, current: int):
        self.lib, self.high, self.current = lib, high, current

    def before(self, mnk: int) -> None:
        want = self.high if mnk >= THRESHOLD else 1
        if want != self.current:
            self.lib.set_num_threads(want)
            self.current = want


def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.dot(a, b)`` of 2-D arrays, on the thread count the running fit gives its shape.

    np.dot rather than @: for 2-D arrays both are the matrix product, but np.dot reaches BLAS
    with less call overhead, which counts on small products (an outer product, one output
    unit); ``python scripts/bench.py`` shows it.

    >>> dot(np.ones((2, 3)), np.ones((3, 1))).tolist()
    [[3.0], [3.0]]
    """
    s = _switch
    if s is not None:
        s.before(a.shape[0] * a.shape[1] * b.shape[1])
    return np.dot(a, b)


def _numpy_blas():
    """threadpoolctl's controller of the BLAS NumPy itself calls, or None."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    libs = [c for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]
    # NumPy's wheels carry their BLAS in numpy.libs (SciPy's in scipy.libs); a NumPy built on
    # a system BLAS is found when that is the only BLAS loaded.
    mine = [c for c in libs if c.filepath and os.path.basename(os.path.dirname(c.filepath)).startswith("numpy")]
    return mine[0] if mine else libs[0] if len(libs) == 1 else None


_blas_cache: list = []


def _blas():
    if not _blas_cache:
        _blas_cache.append(_numpy_blas())
    return _blas_cache[0]


def blas_threads() -> int | None:
    """The thread count of NumPy's BLAS now, or None when it cannot be found.

    >>> n = blas_threads()
    >>> n is None or n >= 1
    True
    """
    lib = _blas()
    return None if lib is None else lib.get_num_threads()


@contextlib.contextmanager
def applied(threads, products):
    """Within: NumPy's BLAS runs ``products`` (``(m, k, n)`` shapes) as ``threads`` says.

    ``threads`` is ``"auto"`` (the rule above), a thread count, or None (leave the BLAS as
    it is). The count found on entry is put back on exit. A fit inside another (or running
    while one runs in another thread) leaves the setting to the outer one.
    """
    global _active, _switch
    lib = _blas() if threads is not None else None
    with _lock:
        mine = lib is not None and not _active
        if mine:
            _active = True
    if not mine:
        yield
        return
    found = lib.get_num_threads()
    try:
        if threads == "auto":
            sides = {mnk >= THRESHOLD for mnk in (m * k * n for m, k, n in products)}
            first = found if sides == {True} else 1
            lib.set_num_threads(first)
            if len(sides) == 2 and found > 1:
                _switch = _Switch(lib, found, first)
        else:
            lib.set_num_threads(threads)
        yield
    finally:
        _switch = None
        lib.set_num_threads(found)
        with _lock:
            _active = False
