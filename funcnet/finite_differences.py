"""Central differences of a scalar function of a tree, and the rule that compares them with a gradient.

One routine serves every gradient check in funcnet: :func:`funcnet.gradcheck_tree` (a net's
backprop) and :func:`funcnet.testing.assert_grads_match` (any function of any tree, a layer or
loss of your own). :func:`central_differences` moves each element of float64 copies of the
params by ``+-eps`` and ``+-eps/2`` and extrapolates the two central differences (Richardson):
``(4 D(eps/2) - D(eps)) / 3``, whose error shrinks like ``eps**4`` where a single central
difference's shrinks like ``eps**2``. That matters where the loss bends sharply: batch norm on
a small batch whose samples nearly agree, which property tests find. :func:`relative_errors`
scores each leaf of a gradient against the result:

    error = |g - g_num| / max(|g| + |g_num|, 1e-3 |G|)

in the Euclidean norm of the leaf, with ``G`` the whole gradient. The floor keeps a leaf whose
true gradient is exactly 0 (a bias cancelled by a following batch norm) from scoring rounding
noise divided by rounding noise; a wrong leaf still scores near 1.

>>> params = {"w": np.array([1.0, 2.0]), "c": np.array(3.0)}
>>> f = lambda p: float(np.sum(p["w"] ** 2) * p["c"])
>>> numeric = central_differences(f, params)
>>> numeric["w"].round(6), round(float(numeric["c"]), 6)
(array([ 6., 12.]), 5.0)
>>> grads = {"w": 2 * params["w"] * params["c"], "c": np.sum(params["w"] ** 2)}
>>> errors = relative_errors(grads, numeric)
>>> bool(errors["w"] < 1e-9 and errors["c"] < 1e-9)
True
"""

from __future__ import annotations

import math
import numbers
from typing import Callable

import numpy as np

from . import checks
from .tree import _map, global_norm, tree_check_same

__all__ = ["EPS", "central_differences", "relative_errors"]

# The default step: in float64, the truncation error (eps**2 times a third derivative) and the
# rounding error (1e-16 |f| / eps) of a central difference are both around 1e-10 here.
EPS = 1e-5

# A leaf's error is measured against at least this fraction of the whole gradient's norm.
FLOOR = 1e-3


def central_differences(f: Callable, params, *, eps: float = EPS):
    """The gradient of a scalar function of a tree, by central differences in float64.

    ``f`` is called ``4 * size`` times on one tree of C-ordered float64 copies of the params'
    leaves, each element in turn moved to ``p +- eps`` and ``p +- eps/2`` and put back in
    place (a reshape of a Fortran-ordered leaf would be a copy that the perturbation never
    reaches; the copies are this function's own, so the params are never touched). ``f`` must
    not keep the tree between calls. The two central differences ``D(eps)`` and ``D(eps/2)``
    are extrapolated to ``(4 D(eps/2) - D(eps)) / 3``, exact for polynomials up to degree 4.

    Args:
        f: ``params -> value``, a real number; it computes in the dtype of the leaves it gets.
        params: a tree (tuples, lists, dicts) of float arrays or numbers.
        eps: the step, a positive number.

    Returns:
        A tree like ``params`` of float64 arrays, element by element. An entry is NaN or inf
        where ``f`` overflowed.

    >>> central_differences(lambda p: float(p[0] @ p[0]), (np.array([3.0, -1.0]),))
    (array([ 6., -2.]),)
    >>> float(central_differences(lambda p: float(p ** 4), 1.0)[()])  # 4 p**3, exactly
    4.0

    See Also:
        relative_errors: compare the result with an analytic gradient.
    """
    checks.function(f, "f", "a function params -> number")
    eps = checks.real(eps, "eps", low=0, low_open=True)
    half = eps / 2
    p64 = _map(lambda a: np.array(a, dtype=np.float64, order="C"), params, ())

    def value() -> float:
        v = f(p64)
        if isinstance(v, np.ndarray) and v.shape == ():
            v = v[()]
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
            raise TypeError(f"f: expected a function params -> number, got a result {checks.show(v)}")
        return float(v)

    def leaf_differences(leaf):
        num = np.empty_like(leaf)
        flat, nflat = leaf.reshape(-1), num.reshape(-1)
        for j in range(flat.size):
            old = flat[j]
            flat[j] = old + eps
            up = value()
            flat[j] = old - eps
            down = value()
            flat[j] = old + half
            up_half = value()
            flat[j] = old - half
            down_half = value()
            flat[j] = old
            wide, narrow = (up - down) / (2 * eps), (up_half - down_half) / eps
            nflat[j] = (4 * narrow - wide) / 3
        return num

    return _map(leaf_differences, p64, ())


def relative_errors(grads, numeric):
    """The relative error of each leaf of ``grads`` against ``numeric``, the rule of this module.

    ``|g - g_num| / max(|g| + |g_num|, 1e-3 |G|)`` per leaf, norms taken in float64 whatever the
    dtype of ``grads``, with ``G`` all of ``grads`` (and a floor of 1e-12 for a gradient that
    is 0 everywhere). An error is 0 for a perfect match, about 1 for a leaf that is wrong
    altogether, and NaN or inf when either side is not finite.

    Args:
        grads: a tree of arrays (an analytic gradient).
        numeric: a tree of the same structure and shapes (from :func:`central_differences`).

    Returns:
        A tree like ``grads`` holding one Python float per leaf.

    >>> errors = relative_errors({"w": np.array([1.0, 2.0])}, {"w": np.array([1.0, 2.2])})
    >>> round(errors["w"], 4)  # 0.2 / (2.236 + 2.417)
    0.043
    """
    tree_check_same(numeric, grads, names=("numeric", "grads"))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        norm = global_norm(grads)
        floor = max(FLOOR * norm, 1e-12) if math.isfinite(norm) else math.inf

        def error(g, num) -> float:
            g = np.asarray(g, dtype=np.float64)
            if g.shape != np.shape(num):
                raise ValueError(f"grads: expected the shapes of numeric, got {g.shape} against {np.shape(num)}")
            diff = np.linalg.norm(g - num)
            scale = np.linalg.norm(g) + np.linalg.norm(num)
            return float(diff / max(scale, floor))

        return _map(error, grads, (numeric,))
