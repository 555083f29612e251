"""Hypothesis strategies shared by the test modules (one place, as STYLE.md asks)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import funcnet as fn

HIDDEN = sorted(fn.ACTIVATIONS)
OUTPUTS = ("softmax", "sigmoid", "identity")


@st.composite
def nets(draw, depths=(1, 5), widths=(1, 9), activations=HIDDEN, outputs=OUTPUTS,
         dtype="float64", batchnorm=False, dropout=False):
    """A random ``fn.Net``: depth = number of weight layers."""
    depth = draw(st.integers(*depths))
    output = draw(st.sampled_from(outputs))
    sizes = [draw(st.integers(*widths)) for _ in range(depth + 1)]
    if output == "softmax":
        sizes[-1] = max(sizes[-1], 2)
    return fn.Net(
        tuple(sizes),
        activation=draw(st.sampled_from(activations)),
        output=output,
        dtype=dtype,
        batchnorm=draw(st.booleans()) if batchnorm else False,
        dropout=draw(st.sampled_from([0.0, 0.25])) if dropout else 0.0,
    )


def targets_for(net, n, rng):
    """Valid targets for ``net``'s output head, n samples."""
    k = net.sizes[-1]
    if net.output == "softmax":
        return rng.integers(0, k, size=n)
    if net.output == "sigmoid":
        y = rng.integers(0, 2, size=(n, k))
        return y[:, 0] if k == 1 else y
    return rng.normal(size=(n, k)).astype(net.dtype)


@st.composite
def problems(draw, batch=(1, 64), **net_kwargs):
    """(net, params, X, y, key) for a random net and a random batch."""
    net = draw(nets(**net_kwargs))
    seed = draw(st.integers(0, 2**16))
    n = draw(st.integers(*batch))
    rng = np.random.default_rng(seed)
    params = fn.init(fn.random.key(seed), net)
    # Non-zero biases: with zero biases a dead ReLU layer feeds exactly 0 to the next one,
    # which sits on the kink where finite differences are one-sided.
    params = tuple(
        {k: (rng.normal(scale=0.5, size=v.shape).astype(v.dtype) if k != "W" else v) for k, v in p.items()}
        for p in params
    )
    X = rng.normal(size=(n, net.sizes[0])).astype(net.dtype)
    return net, params, X, targets_for(net, n, rng), fn.random.key(seed + 1)


# --- optimizer trees (tests/test_optim.py) ---

FLOATS = ("float32", "float64")


@st.composite
def param_trees(draw, dtype=None, layers=(1, 3), widths=(1, 6), batchnorm=None):
    """A params-like tree: a tuple of ``{"W": (n_in, n_out), "b": (n_out,)}`` dicts.

    ``dtype=None`` draws float32 or float64. With ``batchnorm`` (default: drawn), hidden
    layers may carry ``{"W", "gamma", "beta"}`` instead, as batch-norm layers do. Values are
    standard normal from a drawn seed, far from float32's underflow.
    """
    dtype = np.dtype(draw(st.sampled_from(FLOATS)) if dtype is None else dtype)
    sizes = [draw(st.integers(*widths)) for _ in range(draw(st.integers(*layers)) + 1)]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    bn = draw(st.booleans()) if batchnorm is None else batchnorm
    tree = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes = {"W": (n_in, n_out)}
        if bn and i < len(sizes) - 2:
            shapes.update(gamma=(n_out,), beta=(n_out,))
        else:
            shapes["b"] = (n_out,)
        tree.append({k: rng.normal(size=s).astype(dtype) for k, s in shapes.items()})
    return tuple(tree)


@st.composite
def trees_like(draw, tree, scale=1.0):
    """A tree with the structure, shapes and dtypes of ``tree`` and fresh normal values."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return fn.tree_map(lambda a: (scale * rng.normal(size=a.shape)).astype(a.dtype), tree)


# --- arrays, logits and targets (tests/test_activations.py, tests/test_losses.py) ---

# The largest logit magnitude the stability tests promise to handle, in float32 and float64.
LOGIT_BOUND = 1e4


def finite_floats(dtype="float64", bound=LOGIT_BOUND, min_magnitude=0.0):
    """Finite numbers of ``dtype`` in ``[-bound, bound]``, optionally kept ``min_magnitude``
    away from 0 (the kinks of relu and leaky ReLU); -0.0 and exact zeros are drawn too when
    ``min_magnitude`` is 0."""
    width = np.dtype(dtype).itemsize * 8
    elems = st.floats(-bound, bound, width=width, allow_nan=False, allow_infinity=False,
                      allow_subnormal=False)
    if min_magnitude > 0:
        elems = elems.filter(lambda v: abs(v) >= min_magnitude)
    return elems


def float_arrays(dtype="float64", shape=None, *, bound=LOGIT_BOUND, min_magnitude=0.0,
                 extremes=False):
    """Arrays of finite ``dtype`` numbers; ``shape`` is a tuple, a strategy, or ``None`` for
    a small 1-D or 2-D shape. ``extremes`` mixes in exactly ``+-bound``, ``+-bound/10`` and 0 so
    that the stability tests see the very largest logits often, not by chance."""
    if shape is None:
        shape = hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=6)
    elems = finite_floats(dtype, bound, min_magnitude)
    if extremes:
        special = [v for v in (bound, -bound, bound / 10, -bound / 10, 0.0) if abs(v) >= min_magnitude]
        elems = st.one_of(st.sampled_from(special), elems)
    return hnp.arrays(np.dtype(dtype), shape, elements=elems)


def batch_shapes(n=(1, 6), k=(1, 5)):
    """(n, k): a batch of n rows with k outputs."""
    return st.tuples(st.integers(*n), st.integers(*k))


@st.composite
def logits_with_labels(draw, dtype="float64", n=(1, 6), k=(2, 5), bound=8.0, extremes=False):
    """``(z, labels, onehot)``: (n, k) logits, (n,) int64 labels in [0, k), and the same labels
    as (n, k) rows of exact 0.0 and 1.0 in ``z``'s dtype."""
    shape = draw(batch_shapes(n, k))
    z = draw(float_arrays(dtype, shape, bound=bound, extremes=extremes))
    labels = np.array(draw(st.lists(st.integers(0, shape[1] - 1), min_size=shape[0],
                                    max_size=shape[0])), dtype=np.int64)
    return z, labels, np.eye(shape[1], dtype=dtype)[labels]


@st.composite
def probability_rows(draw, shape, dtype="float64"):
    """(n, k) rows of non-negative probabilities summing to 1, with exact zeros drawn often."""
    n, k = shape
    raw = draw(hnp.arrays(np.float64, shape, elements=st.one_of(
        st.just(0.0), st.floats(0.0, 1.0, allow_subnormal=False))))
    raw[np.arange(n), draw(st.integers(0, k - 1))] += 1.0  # no all-zero row
    return (raw / raw.sum(axis=1, keepdims=True)).astype(dtype)


@st.composite
def binary_targets(draw, shape, dtype="float64", soft=True):
    """0/1 targets of ``shape`` (exact 0.0 and 1.0), or probabilities in [0, 1] when ``soft``."""
    elems = st.sampled_from([0.0, 1.0])
    if soft:
        elems = st.one_of(elems, st.floats(0.0, 1.0, allow_subnormal=False))
    return draw(hnp.arrays(np.dtype(dtype), shape, elements=elems))
