"""Strategies only funcnet's own tests need; everything else comes from :mod:`funcnet.testing`.

Nets, params, batches, problems, keys, optimizers, schedules and trees like a tree are the
toolkit's (``from funcnet.testing import ...``), the same that users test their code with.
What stays here serves funcnet's internals: logits, targets and arrays at the extremes the
stability tests promise to handle, and params-like trees of standard normal values.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import funcnet as fn
from funcnet.testing import nets, trees_like

HIDDEN = sorted(fn.ACTIVATIONS)
OUTPUTS = ("softmax", "sigmoid", "identity")


def param_trees():
    """A params-like tree of standard normal values (far from float32's underflow): the
    params of a net of 1 to 3 layers, widths 1 to 6, float32 or float64, with or without
    batch norm (hidden layers then hold ``{"W", "gamma", "beta"}``)."""
    return nets(depths=(1, 3), widths=(1, 6), outputs=["identity"], batchnorm=None).flatmap(
        lambda net: trees_like(fn.init(fn.random.key(0), net)))


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
