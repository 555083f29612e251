"""Hypothesis strategies shared by the test modules (one place, as STYLE.md asks)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

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
