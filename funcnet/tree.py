"""Trees: the nested tuples, named tuples, lists and dicts that hold params, grads and state.

A tree's leaves are visited in one fixed order, dict keys sorted and sequences in order, so two
trees built in different orders still line up. Every walk over a tree in funcnet goes through
this module: flattening (:func:`tree_leaves`), rebuilding (:func:`tree_unflatten`), mapping
(:func:`tree_map`), comparing structures (:func:`tree_check_same`), the arithmetic that combines
gradients from several places (:func:`tree_add`, :func:`tree_scale`, :func:`tree_weighted_mean`)
and the sums of squares behind norms, clipping and the L2 penalty. funcnet's own trees, a tuple of flat per-layer
dicts, take a short path through each of them.

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

from ._ops import add_scaled

__all__ = [
    "tree_map",
    "tree_leaves",
    "tree_paths",
    "tree_unflatten",
    "tree_structure",
    "tree_check_same",
    "tree_zip",
    "tree_add",
    "tree_scale",
    "tree_weighted_mean",
    "global_norm",
    "sum_squares",
    "weights_mask",
    "is_weight",
    "rescaled",
]


def _is_layers(tree) -> bool:
    """Whether ``tree`` is a tuple of dicts of arrays (funcnet's params), walked without recursion."""
    if type(tree) is not tuple:
        return False
    ndarray = np.ndarray
    for d in tree:
        if type(d) is not dict:
            return False
        for v in d.values():
            if type(v) is not ndarray:
                return False
    return True


def _walk_error(e: Exception, name: str) -> Exception:
    """What a walk over the tree ``name`` met, as the error to raise: a tree nested beyond
    Python's recursion limit (or holding itself), or a dict whose keys do not sort together."""
    if isinstance(e, RecursionError):
        return ValueError(f"{name}: expected a tree of tuples, lists and dicts, got one nested too deeply "
                          f"or holding itself")
    return TypeError(f"{name}: expected dicts whose keys sort together (strings), got keys that do not ({e})")


def tree_leaves(tree) -> list:
    """The leaves of a tree in the fixed order (dict keys sorted).

    Args:
        tree: nested tuples (named tuples too), lists and dicts; anything else, ``None``
            included, is a leaf. Dict keys must sort together (strings).

    Returns:
        A new list of the leaves themselves (not copies): dict entries in sorted key order,
        sequence items in order, depth first.

    Raises:
        TypeError: a dict whose keys do not sort together.
        ValueError: a tree nested beyond Python's recursion limit, or holding itself.

    >>> tree_leaves(({"b": 2, "a": 1}, {"c": 3}))
    [1, 2, 3]
    >>> tree_leaves({1: "a", "b": 2})
    Traceback (most recent call last):
    TypeError: tree: expected dicts whose keys sort together (strings), got keys that do not ('<' not supported between instances of 'str' and 'int')
    """
    try:
        if _is_layers(tree):
            return [d[k] for d in tree for k in sorted(d)]
        out: list = []
        _leaves(tree, out)
        return out
    except (RecursionError, TypeError) as e:  # the walk itself: sorted() and recursion only
        raise _walk_error(e, "tree") from None


def _leaves(tree, out):
    if isinstance(tree, dict):
        for k in sorted(tree):
            _leaves(tree[k], out)
    elif isinstance(tree, (tuple, list)):
        for t in tree:
            _leaves(t, out)
    else:
        out.append(tree)


def tree_paths(tree, prefix: str = "") -> list:
    """``(path, leaf)`` pairs in leaf order; a path reads like an index, ``[0]['W']``.

    >>> tree_paths(({"W": 1, "b": 2},))
    [("[0]['W']", 1), ("[0]['b']", 2)]
    """
    out: list = []
    try:
        _paths(tree, prefix, out)
    except (RecursionError, TypeError) as e:
        raise _walk_error(e, "tree") from None
    return out


def _paths(tree, prefix, out):
    if isinstance(tree, dict):
        for k in sorted(tree):
            _paths(tree[k], f"{prefix}[{k!r}]", out)
    elif isinstance(tree, (tuple, list)):
        for i, t in enumerate(tree):
            _paths(t, f"{prefix}[{i}]", out)
    else:
        out.append((prefix, tree))


def tree_unflatten(like, leaves):
    """A tree shaped like ``like`` holding ``leaves`` (given in :func:`tree_leaves` order).

    Named tuples come back as their own type, lists as lists, dicts with sorted keys.

    Args:
        like: a tree of the structure wanted (its leaves are not looked at).
        leaves: a sequence with one leaf per leaf of ``like``, in :func:`tree_leaves` order.

    Returns:
        A new tree of ``like``'s structure holding ``leaves`` (the objects themselves).

    Raises:
        ValueError: not as many leaves as ``like`` has.

    >>> tree_unflatten(({"b": 0, "a": 0},), [1, 2])
    ({'a': 1, 'b': 2},)
    >>> tree_unflatten(({"b": 0, "a": 0},), [1])
    Traceback (most recent call last):
    ValueError: leaves: expected 2 leaves (one per leaf of like), got 1
    """
    from .checks import show

    count = len(_walkable_leaves(like, "like"))
    if isinstance(leaves, (str, bytes)) or not hasattr(leaves, "__iter__"):
        raise TypeError(f"leaves: expected a sequence of {count} leaves, got {show(leaves)}")
    try:
        leaves = list(leaves)
    except TypeError as e:  # 0-d arrays and other iterables that are not
        raise TypeError(f"leaves: expected a sequence of {count} leaves, got {show(leaves)} ({e})") from None
    if len(leaves) != count:
        raise ValueError(f"leaves: expected {count} leaves (one per leaf of like), got {len(leaves)}")
    return _unflatten(like, leaves)


def _unflatten(like, leaves):
    """:func:`tree_unflatten` for a trusted tree and the right number of leaves."""
    it = iter(leaves)
    if _is_layers(like):
        return tuple([{k: next(it) for k in sorted(d)} for d in like])
    return _rebuild(like, it)


def _rebuild(like, it):
    if isinstance(like, dict):
        return {k: _rebuild(like[k], it) for k in sorted(like)}
    if isinstance(like, (tuple, list)):
        out = [_rebuild(t, it) for t in like]
        if isinstance(like, list):
            return out
        return type(like)(*out) if hasattr(like, "_fields") else tuple(out)
    return next(it)


def _map(fn: Callable, tree, rest):
    """:func:`tree_map` for trees already known to share one structure."""
    if _is_layers(tree):
        return tuple([
            {k: fn(d[k], *[r[i][k] for r in rest]) for k in sorted(d)} for i, d in enumerate(tree)
        ])
    if not rest:
        return _unflatten(tree, [fn(a) for a in tree_leaves(tree)])
    return _unflatten(tree, [fn(*xs) for xs in zip(tree_leaves(tree), *map(tree_leaves, rest))])


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
    from .checks import function

    function(fn, "fn", "a function of the leaves")
    if rest:
        tree_check_same(tree, *rest)  # names the trees arg0, arg1, ... in order
    else:
        _walkable(tree, "arg0")
    return _map(fn, tree, rest)


def tree_structure(tree) -> Any:
    """The tree with every leaf replaced by its shape (or ``None`` for a scalar).

    Args:
        tree: a tree of arrays, numbers or other objects.

    Returns:
        A new tree of ``tree``'s structure (named tuples and lists kept, dicts with sorted
        keys) whose leaves are shape tuples, ``None`` for a leaf of shape ``()`` (a number, a
        0-d array or another object).

    >>> tree_structure(({"W": np.zeros((2, 3)), "b": np.zeros(3)},))
    ({'W': (2, 3), 'b': (3,)},)
    """
    _walkable(tree, "tree")
    return _map(lambda a: tuple(s) if (s := _leaf_shape(a)) else None, tree, ())


def _leaf_shape(a) -> tuple:
    """A leaf's shape (``()`` for a number or an object); a leaf whose ``shape`` is something else
    (a module with a function of that name) is a TypeError naming the tree."""
    s = np.shape(a)
    if not (isinstance(s, tuple) and all(isinstance(d, int) for d in s)):
        from .checks import show

        raise TypeError(f"tree: expected leaves that are arrays, numbers or other objects, got {show(a)} "
                        f"whose shape is {show(s)}")
    return s


def _keys(layers) -> tuple:
    """:func:`_skeleton` of a tuple of flat dicts, without the recursion."""
    return ("tuple", tuple([("dict", tuple([(k, "*") for k in sorted(d)])) for d in layers]))


def _skeleton(tree):
    if isinstance(tree, dict):
        return ("dict", tuple((k, _skeleton(tree[k])) for k in sorted(tree)))
    if isinstance(tree, (tuple, list)):
        return (type(tree).__name__, tuple(_skeleton(t) for t in tree))
    return "*"


class _Star:
    def __repr__(self):
        return "*"


def _outline(tree) -> str:
    return repr(_unflatten(tree, [_Star()] * len(tree_leaves(tree))))


def _walkable(tree, name: str):
    """The skeleton of ``tree`` (containers and dict keys), or the error of walking it, naming it."""
    try:
        return _keys(tree) if _is_layers(tree) else _skeleton(tree)
    except (RecursionError, TypeError) as e:
        raise _walk_error(e, name) from None


def _walkable_leaves(tree, name: str) -> list:
    """:func:`tree_leaves`, the errors of the walk naming ``name``."""
    _walkable(tree, name)
    return tree_leaves(tree)


def tree_check_same(tree, *others, names: tuple | None = None) -> None:
    """A ``TypeError`` naming both structures unless every tree is built like the first.

    Containers (tuples, named tuples, lists, dicts) and dict keys must match; leaves are not
    looked at. ``names`` (one per tree, the reference first) go into the message.

    >>> tree_check_same(({"W": 1},), ({"W": 2},))
    >>> tree_check_same(({"W": 1},), ({"V": 2},), names=("params", "updates"))
    Traceback (most recent call last):
    TypeError: updates: expected the structure of params, ({'W': *},), got ({'V': *},)
    """
    if names is not None:
        if not isinstance(names, (tuple, list)) or not all(isinstance(n, str) for n in names):
            from .checks import show

            raise TypeError(f"names: expected a sequence of strings, one per tree, got {show(names)}")
        if len(names) != 1 + len(others):
            raise ValueError(f"names: expected {1 + len(others)} names, one per tree, got {len(names)}")
    names = names or tuple(f"arg{i}" for i in range(1 + len(others)))
    ref = _walkable(tree, names[0])
    for name, other in zip(names[1:], others):
        if _walkable(other, name) != ref:
            raise TypeError(
                f"{name}: expected the structure of {names[0]}, {_outline(tree):.300}, "
                f"got {_outline(other):.300}"
            )


def tree_zip(*trees) -> Any:
    """Zip trees of one structure into a tree of tuples of leaves.

    Args:
        *trees: one or more trees of exactly one structure (containers and dict keys).

    Returns:
        A new tree of that structure whose leaves are tuples, one leaf from each tree in the
        order the trees were given.

    Raises:
        ValueError: no trees.
        TypeError: trees of different structures.

    >>> tree_zip(({"W": 1},), ({"W": 2},))
    ({'W': (1, 2)},)
    """
    if not trees:
        raise ValueError("trees: expected at least one tree, got none")
    tree_check_same(*trees)  # names the trees arg0, arg1, ... in order
    return _map(lambda *xs: xs, trees[0], trees[1:])


# --- arithmetic on trees: sums of gradients from several shards, scaled, weighted ---


def _check_arrays(trees, names) -> None:
    """Trees of one structure whose leaves are float arrays (or floats) of matching shapes
    (NumPy would broadcast a (3,) leaf against a (2, 3) one without a word)."""
    tree_check_same(*trees, names=names)
    leaves = [tree_leaves(t) for t in trees]
    paths = tree_paths(trees[0])
    for j, (path, ref) in enumerate(paths):
        for name, ls in zip(names, leaves):
            a = ls[j]
            if not (isinstance(a, (np.ndarray, np.floating, float)) and np.asarray(a).dtype.kind == "f"):
                shown = (f"an array of dtype {a.dtype}" if isinstance(a, np.ndarray)
                         else f"{a!r:.60} ({type(a).__name__})")
                raise TypeError(f"{name}{path}: expected a float array or a float, got {shown}")
            if np.shape(a) != np.shape(ref):
                raise ValueError(f"{name}{path}: expected shape {np.shape(ref)} (as {names[0]}{path}), "
                                 f"got {np.shape(a)}")


def _add(trees):
    """The leaf-by-leaf sum of trusted trees, added left to right (a fixed order, so the same
    trees give the same bits), in the first tree's dtypes; no argument is written to."""
    def add(a, *rest):
        out = np.add(a, rest[0], dtype=np.result_type(a))
        for b in rest[1:]:
            out = np.add(out, b, out=out if isinstance(out, np.ndarray) else None, dtype=out.dtype)
        return out
    return _map(add, trees[0], trees[1:])


def tree_add(tree, *others):
    """The leaf-by-leaf sum of trees of one structure and shapes, added left to right.

    The order is fixed (``((tree + others[0]) + others[1]) + ...``), so the same trees give the
    same bits whatever produced them: how gradient sums from shards are combined.

    Args:
        tree: a tree of float arrays (or floats); the result keeps its leaves' dtypes.
        *others: at least one more tree of exactly its structure and shapes.

    Returns:
        A new tree; no input is changed.

    >>> tree_add(({"b": np.array([1.0, 2.0])},), ({"b": np.array([10.0, 20.0])},))
    ({'b': array([11., 22.])},)
    """
    if not others:
        raise ValueError("others: expected at least one tree to add to tree, got none")
    trees = (tree, *others)
    _check_arrays(trees, ("tree", *[f"others[{i}]" for i in range(len(others))]))
    return _add(trees)


def _scale(c: float, tree):
    """``c * leaf`` for a trusted tree, in each leaf's dtype."""
    return _map(lambda a: np.multiply(a, c, dtype=np.result_type(a)), tree, ())


def tree_scale(c: float, tree):
    """Every leaf times the number ``c``, in the leaf's dtype (settings first, data last).

    Args:
        c: a finite real number.
        tree: a tree of float arrays (or floats).

    Returns:
        A new tree; ``tree`` is unchanged.

    >>> tree_scale(0.5, ({"W": np.array([[2.0, 4.0]])},))
    ({'W': array([[1., 2.]])},)
    """
    if isinstance(c, (bool, np.bool_)) or not isinstance(c, (int, float, np.integer, np.floating)) \
            or not math.isfinite(c):
        raise (ValueError if isinstance(c, (float, np.floating)) else TypeError)(
            f"c: expected a finite number, got {c!r:.60}")
    _check_arrays((tree,), ("tree",))
    return _scale(float(c), tree)


def _weighted_mean(trees, weights):
    """``sum_i w_i t_i / sum_i w_i`` for trusted trees and weights, added in order."""
    total = math.fsum(weights)
    out = _scale(weights[0] / total, trees[0])
    for t, w in zip(trees[1:], weights[1:]):
        # out is ours (fresh from _scale): accumulate into it
        out = _map(lambda a, b: add_scaled(a, b, w / total, out=a if isinstance(a, np.ndarray) else None),
                   out, (t,))
    return out


def tree_weighted_mean(trees, weights):
    """``sum_i weights[i] * trees[i] / sum(weights)``, leaf by leaf, added in order.

    What combines the running statistics that shards of different sizes kept: each weighs by
    its number of samples.

    Args:
        trees: a non-empty sequence of trees of one structure and shapes.
        weights: one finite number >= 0 per tree, not all 0.

    Returns:
        A new tree in the first tree's dtypes; no input is changed.

    >>> tree_weighted_mean([{"m": np.array([1.0])}, {"m": np.array([4.0])}], [2, 1])
    {'m': array([2.])}
    """
    if not isinstance(trees, (list, tuple)) or not trees:
        raise (ValueError if isinstance(trees, (list, tuple)) else TypeError)(
            f"trees: expected a non-empty list of trees, got {trees!r:.60}")
    if not isinstance(weights, (list, tuple, np.ndarray)):
        raise TypeError(f"weights: expected a list of numbers, one per tree, got {weights!r:.60}")
    if len(weights) != len(trees):
        raise ValueError(f"weights: expected one number per tree ({len(trees)}), got {len(weights)}")
    ws = []
    for i, w in enumerate(weights):
        if isinstance(w, (bool, np.bool_)) or not isinstance(w, (int, float, np.integer, np.floating)):
            raise TypeError(f"weights[{i}]: expected a finite number >= 0, got {w!r:.60}")
        if not (math.isfinite(w) and w >= 0):
            raise ValueError(f"weights[{i}]: expected a finite number >= 0, got {w!r:.60}")
        ws.append(float(w))
    if not math.fsum(ws) > 0:
        raise ValueError(f"weights: expected at least one weight > 0, got {ws!r:.60}")
    _check_arrays(tuple(trees), tuple(f"trees[{i}]" for i in range(len(trees))))
    return _weighted_mean(trees, ws)


# float32 dot products sum in float32 (BLAS sdot), with an error that grows with the length.
# Longer leaves are summed in pieces of this many elements, the pieces added in float64: the
# relative error of a long sum of squares no longer grows with the whole length, at no cost
# in speed.
_CHUNK = 1 << 16


def sum_squares(leaves, wide: bool = False) -> tuple[float, bool]:
    """The sum of the squares of every element of ``leaves``, and whether all are float32/64.

    One BLAS dot product per piece of at most ``_CHUNK`` elements, the pieces added in float64
    in leaf order: what clipping by global norm, the L2 penalty and the gradient norms take
    every step. float32 pieces are summed in float32 unless ``wide`` (then each piece is
    widened to float64 first: exact to float64 rounding, at the cost of a copy of the piece).
    Other dtypes are always widened (float16 squares overflow at 256, integers wrap). The sum
    is inf when it overflows, NaN when a leaf holds NaN.

    Returns:
        ``(sum as a Python float, True if every leaf is float32 or float64)``.

    >>> sum_squares([np.array([3.0]), np.array([4.0], np.float32)])
    (25.0, True)
    """
    total = 0.0
    plain = True
    for g in leaves:
        flat = g.reshape(-1)
        cast = None
        if g.dtype.char == "f":
            cast = np.float64 if wide else None
        elif g.dtype.char != "d":
            plain = False
            cast = np.promote_types(g.dtype, np.float64)
        if cast is None and flat.size <= _CHUNK:
            # vdot of an array with itself: one pass, no temporary the size of the array.
            total += float(np.vdot(flat, flat))
            continue
        for start in range(0, flat.size, _CHUNK):
            c = flat[start:start + _CHUNK]
            if cast is not None:
                c = c.astype(cast)
            total += float(np.vdot(c, c))
    return total, plain


def rescaled(leaves) -> tuple[int, list] | None:
    """Leaves divided by a power of two, ``2**e``, that puts every magnitude below 1, and ``e``.

    Dividing by a power of two is exact, and the squares of numbers below 1 cannot overflow:
    how a norm is taken when the plain sum of squares would overflow. Elements 2**-126 times
    smaller than the largest may underflow, which changes a norm by less than rounding does.
    ``None`` when a leaf holds NaN or inf.
    """
    tops = [np.max(np.abs(a)) for a in leaves if a.size]
    if not all(np.isfinite(t) for t in tops):
        return None
    e = max((int(np.frexp(t)[1]) for t in tops), default=0)
    with np.errstate(under="ignore"):
        return e, [np.ldexp(a, -e) for a in leaves]


def global_norm(tree) -> float:
    """The Euclidean norm of all leaves taken together, as a Python float.

    Summed in float64 whatever the leaves' dtype (:func:`sum_squares` with ``wide``), and
    taken from :func:`rescaled` leaves when the squares overflow, so any tree of finite leaves
    has a finite norm unless the norm itself is beyond the float range (then inf).

    >>> global_norm(({"W": np.array([3.0]), "b": np.array([4.0])},))
    5.0
    >>> global_norm([np.array([3e200, 4e200])])
    5e+200
    """
    leaves = [np.asarray(a) for a in tree_leaves(tree)]
    for i, a in enumerate(leaves):  # (numbers only: strings, objects, complex refused)
        if a.dtype.kind not in "biuf":
            from .checks import show

            raise TypeError(f"tree{tree_paths(tree)[i][0]}: expected numbers or arrays of numbers, "
                            f"got {show(tree_leaves(tree)[i])}")
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        total, _ = sum_squares(leaves, wide=True)
        if total == math.inf and (scaled := rescaled(leaves)) is not None:
            e, small = scaled
            try:
                return math.ldexp(math.sqrt(sum_squares(small, wide=True)[0]), e)
            except OverflowError:  # the norm itself is beyond the float range
                return math.inf
    return math.sqrt(total)


def is_weight(a) -> bool:
    """Whether a leaf is a weight matrix (two or more dimensions), as opposed to a bias, a
    batch-norm scale or another vector: what the L2 penalty and weight decay act on unless
    told otherwise."""
    return np.ndim(a) >= 2


def weights_mask(tree):
    """:func:`is_weight` of every leaf: ``True`` for the weight matrices of a tree.

    >>> weights_mask(({"W": np.zeros((2, 3)), "b": np.zeros(3)},))
    ({'W': True, 'b': False},)
    """
    _walkable(tree, "tree")
    return _map(lambda a: len(_leaf_shape(a)) >= 2, tree, ())  # is_weight, for any leaf
