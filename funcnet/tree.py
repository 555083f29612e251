"""Helpers for the nested tuples and dicts that hold params, grads and optimizer state.

A tree is a tuple, list or dict whose leaves are arrays or numbers. Dict keys are visited in
sorted order so that two trees built in different orders still line up. Named tuples (optimizer
states) are tuples whose type is kept: a map over one returns the same named tuple type.

>>> t = ({"W": np.ones((2, 3)), "b": np.zeros(3)},)
>>> tree_map(lambda a: a * 2, t)[0]["W"].sum()
np.float64(12.0)
>>> [a.shape for a in tree_leaves(t)]
[(2, 3), (3,)]
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

__all__ = ["tree_map", "tree_leaves", "tree_structure", "tree_zip", "tree_check_same", "global_norm"]


def _is_node(x) -> bool:
    return isinstance(x, (tuple, list, dict))


def tree_map(fn: Callable, tree, *rest) -> Any:
    """Apply ``fn`` leaf by leaf to one or more trees of the same structure.

    Args:
        fn: called as ``fn(leaf, *other_leaves)``.
        tree: the tree whose structure the result has.
        *rest: further trees of exactly that structure.

    Returns:
        A new tree; no input is changed.

    >>> tree_map(lambda a, b: a + b, ({"x": 1},), ({"x": 2},))
    ({'x': 3},)
    """
    if rest:
        tree_check_same(tree, *rest)
    return _map(fn, tree, rest)


def _map(fn, tree, rest):
    if isinstance(tree, dict):
        return {k: _map(fn, tree[k], [r[k] for r in rest]) for k in sorted(tree)}
    if isinstance(tree, (tuple, list)):
        out = [_map(fn, t, [r[i] for r in rest]) for i, t in enumerate(tree)]
        if isinstance(tree, list):
            return out
        # A named tuple is rebuilt as its own type, so a map keeps the structure it was given.
        return type(tree)(*out) if hasattr(tree, "_fields") else tuple(out)
    return fn(tree, *rest)


def tree_leaves(tree) -> list:
    """The leaves of a tree in a fixed order (dict keys sorted).

    >>> tree_leaves(({"b": 2, "a": 1}, {"c": 3}))
    [1, 2, 3]
    """
    out: list = []
    _leaves(tree, out)
    return out


def _leaves(tree, out):
    if isinstance(tree, dict):
        for k in sorted(tree):
            _leaves(tree[k], out)
    elif isinstance(tree, (tuple, list)):
        for t in tree:
            _leaves(t, out)
    else:
        out.append(tree)


def tree_structure(tree) -> Any:
    """The tree with every leaf replaced by its shape (or ``None`` for a scalar).

    >>> tree_structure(({"W": np.zeros((2, 3)), "b": np.zeros(3)},))
    ({'W': (2, 3), 'b': (3,)},)
    """
    return _map(lambda a: tuple(np.shape(a)) if np.ndim(a) else None, tree, [])


def _skeleton(tree):
    if isinstance(tree, dict):
        return ("dict", tuple((k, _skeleton(tree[k])) for k in sorted(tree)))
    if isinstance(tree, (tuple, list)):
        return (type(tree).__name__, tuple(_skeleton(t) for t in tree))
    return "*"


def tree_check_same(tree, *others, names: tuple[str, ...] | None = None) -> None:
    """Raise ``TypeError`` naming both structures unless all trees have one structure.

    >>> tree_check_same(({"W": 1},), ({"W": 2},))
    >>> tree_check_same(({"W": 1},), ({"V": 2},))
    Traceback (most recent call last):
    TypeError: tree structures differ: arg0 has ({'W': *},) but arg1 has ({'V': *},)
    """
    names = names or tuple(f"arg{i}" for i in range(1 + len(others)))
    if len(names) != 1 + len(others):
        raise ValueError(
            f"names: expected {1 + len(others)} names, one per tree, got {len(names)}: {names!r}"
        )
    ref = _skeleton(tree)
    for i, o in enumerate(others, start=1):
        if _skeleton(o) != ref:
            raise TypeError(
                f"tree structures differ: {names[0]} has {_show(tree)} "
                f"but {names[i]} has {_show(o)}"
            )


def _show(tree) -> str:
    return repr(_map(lambda a: _Star(), tree, []))


class _Star:
    def __repr__(self):
        return "*"


def tree_zip(*trees) -> Any:
    """Zip trees of one structure into a tree of tuples of leaves.

    >>> tree_zip(({"W": 1},), ({"W": 2},))
    ({'W': (1, 2)},)
    """
    if not trees:
        raise ValueError("tree_zip: expected at least one tree, got none")
    return tree_map(lambda *xs: xs, *trees)


def global_norm(tree) -> float:
    """The Euclidean norm of all leaves taken together, as a Python float.

    Summed in float64 whatever the leaves' dtype (float32, integer or bool leaves cannot
    overflow or wrap), and rescaled when the squares themselves overflow, so any tree of
    finite leaves has a finite norm.

    >>> global_norm(({"W": np.array([3.0]), "b": np.array([4.0])},))
    5.0
    >>> global_norm([np.array([3e200, 4e200])])
    5e+200
    """
    leaves = [np.asarray(leaf, dtype=np.float64).ravel() for leaf in tree_leaves(tree)]
    with np.errstate(over="ignore", under="ignore"):
        total = sum(float(np.dot(a, a)) for a in leaves)
        if total == math.inf:
            # Squares above 1.8e308 overflowed: divide by the largest magnitude first.
            scale = max(float(np.max(np.abs(a))) for a in leaves if a.size)
            if math.isfinite(scale):
                return scale * math.sqrt(sum(float(np.dot(a / scale, a / scale)) for a in leaves))
    return math.sqrt(total)


# float32 dot products sum in float32 (BLAS sdot): relative error about 1e-8 at 1e5 normal
# values, 1e-6 at 2**20 and 3e-5 at 1e7. Larger leaves are summed in pieces of this many
# elements, the pieces added in float64, which bounds the error at the 2**20 level.
_CHUNK = 1 << 20


def _sum_squares(leaves, _f32=np.dtype(np.float32), _f64=np.dtype(np.float64), _vdot=np.vdot):
    """The sum of the squares of every element of ``leaves``, and whether all are float32/64.

    One BLAS dot product per float32 or float64 leaf of at most ``_CHUNK`` elements, the
    leaves added in float64, in leaf order: what clipping by global norm and the L2 penalty
    take every step, without the float64 copies :func:`global_norm` makes. The sum is inf when it
    overflows, NaN when a leaf holds NaN.

    The keyword defaults are constants bound as locals: this loop runs for every leaf at
    every step, and the global lookups were most of what it added to the plain sum.

    Returns:
        ``(sum as a Python float, True if every leaf is float32 or float64)``.
    """
    total = 0.0
    plain = True
    for g in leaves:
        d = g.dtype
        # `is` matches numpy's shared dtype objects; any other float32 (say a byte-swapped
        # one) takes the slower branch and gets the same sum.
        if (d is _f32 or d is _f64) and g.size <= _CHUNK:
            # vdot of an array with itself: one pass, no temporary the size of the array.
            total += float(_vdot(g, g))
        else:
            total += _sum_squares_chunked(g)
            plain = plain and d.char in "fd"
    return total, plain


def _sum_squares_chunked(g) -> float:
    """The sum of squares of one large or unusual leaf, ``_CHUNK`` elements at a time.

    Other dtypes are widened to at least float64 first: float16 squares overflow at 256 and
    sum in float16, integers wrap.
    """
    flat = g.reshape(-1)
    wide = None if flat.dtype.char in "fd" else np.promote_types(flat.dtype, np.float64)
    total = 0.0
    for start in range(0, flat.size, _CHUNK):
        c = flat[start:start + _CHUNK]
        if wide is not None:
            c = c.astype(wide)
        total += float(np.vdot(c, c))
    return total
