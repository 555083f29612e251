"""The training objective of a net: its loss, its gradient, evaluation, and a finite-difference check.

``loss`` is the mean loss of the output head on a batch (in training mode: dropout masks from
``key``, batch-norm batch statistics) plus an optional L2 penalty ``l2/2 * sum(W**2)`` over the
weight matrices (leaves of two or more dimensions, never biases). ``grad`` is its exact
gradient by hand-derived backprop, and ``gradcheck`` compares the two numerically.

``reduction="sum"`` gives ``n = len(X)`` times that objective instead: the per-sample losses
summed, and the L2 term counted ``n`` times, ``n * l2/2 * sum(W**2)``. The penalty belongs to
the params, not to any sample; counting it once per sample is what makes sums combine: for a
batch cut into shards of any sizes ``n_i``, ``sum_i sum_objective(shard_i) / sum_i n_i`` is the
mean objective of the whole batch, penalty included once, and likewise for the gradients (up to
float rounding; without batch norm, whose statistics are each shard's own).

:func:`_value_and_grad` and :func:`_evaluate` are what :func:`funcnet.fit` runs as well, so a
loop of the public ``value_and_grad``, an optimizer's ``update`` and ``apply_updates`` gives
``fit``'s params bit for bit.

>>> from funcnet.random import key
>>> from funcnet.network import Net, init
>>> net = Net((2, 5, 2), activation="tanh", dtype="float64")
>>> params = init(key(0), net)
>>> X, y = np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([1, 0])
>>> value, grads = value_and_grad(net, params, X, y)
>>> value == loss(net, params, X, y), grads[0]["W"].shape
(True, (2, 5))
>>> gradcheck(net, params, X, y) < 1e-6
True
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import numpy as np

from . import checks
from .losses import HEADS
from .network import (
    Net,
    _backward,
    _forward,
    check_net,
    check_params,
    check_stats,
    check_X,
)
from ._ops import add_scaled
from .finite_differences import EPS, central_differences, relative_errors
from .tree import _map, global_norm, is_weight, sum_squares, tree_leaves, tree_paths

__all__ = ["loss", "grad", "value_and_grad", "evaluate", "gradcheck", "gradcheck_tree"]


class Gradients(NamedTuple):
    """What one training pass over a batch gives: the loss, the gradients and what backprop kept."""

    value: float  # the mean loss plus the L2 penalty
    grads: tuple | None  # like params (None when only the value was asked for)
    correct: int  # samples the head classified right (0 for regression)
    caches: list  # per layer, what the training pass kept (batch statistics among it)


def _l2_penalty(params, l2: float) -> float:
    if not l2:
        return 0.0
    weights = [a for a in tree_leaves(params) if is_weight(a)]
    squares = sum_squares(weights)[0]  # float32 weights: BLAS sums in float32
    if not math.isfinite(squares):  # weights above ~1.8e19 overflowed it: take it in float64
        norm = global_norm(weights)
        squares = norm * norm  # inf only if the penalty itself is beyond float64
    return 0.5 * l2 * squares


def _add_l2(grads, params, l2: float):
    """``grads + l2 * W`` for the weight matrices, in place on grads (fresh from backprop)."""
    for g, p in zip(grads, params):
        for k, w in p.items():
            if is_weight(w):
                add_scaled(g[k], w, l2, out=g[k])
    return grads


def _value_and_grad(net: Net, params, X, y, key, l2: float, grad: bool = True, mean: bool = True) -> Gradients:
    """The training objective on a trusted batch: loss, gradients (if ``grad``), correct count.

    ``mean=False`` gives ``len(X)`` times the mean objective, L2 term included (see
    :func:`value_and_grad`'s ``reduction``).
    """
    z, caches, owned = _forward(net, params, X, train=True, key=key)
    value, delta, correct = HEADS[net.output].kernel(z, y, grad, owned, mean)
    if not mean:
        l2 *= len(X)
    value += _l2_penalty(params, l2) if l2 else 0.0
    if not grad:
        return Gradients(value, None, correct, caches)
    grads = _backward(net, params, caches, delta)
    return Gradients(value, _add_l2(grads, params, l2) if l2 else grads, correct, caches)


def _evaluate(net: Net, params, X, y, stats) -> tuple[float, int]:
    """Evaluation-mode loss (without the L2 term) and correct count on a trusted batch."""
    z, _, owned = _forward(net, params, X, train=False, stats=stats)
    value, _, correct = HEADS[net.output].kernel(z, y, False, owned)
    return value, correct


def _finite(value: float, net, what: str = "loss") -> float:
    # Finite params and X (both checked) give a non-finite loss only by overflow: say so here
    # rather than hand back a NaN or inf, or leave numpy's warning from deep inside.
    checks.overflow(value, what, net.dtype)
    return value


def _checked(net, params, X, y, key, l2):
    """The arguments of loss, grad, value_and_grad and gradcheck, checked once."""
    check_net(net)
    check_params(net, params)
    X = check_X(net, X)
    key = checks.key(key, required=net.needs_key)
    l2 = checks.real(l2, "l2", low=0)
    y = _targets(net, X, y, "y")
    return X, y, key, l2


def _mean(reduction) -> bool:
    """``reduction`` checked: True for ``"mean"``, False for ``"sum"``."""
    return checks.choice(reduction, "reduction", ["mean", "sum"]) == "mean"


def _targets(net: Net, X, y, name: str):
    # Targets are checked against a shape-only stand-in for the logits.
    return HEADS[net.output].targets(np.empty((len(X), net.sizes[-1]), X.dtype), y, name)


def loss(net: Net, params, X, y, *, key=None, l2: float = 0.0, reduction: str = "mean") -> float:
    """Mean loss of ``net`` on a batch (training mode), plus ``l2/2 * sum(W**2)``.

    Args:
        net: the architecture; its ``output`` decides the loss.
        params: params matching ``net``.
        X: (n, sizes[0]) inputs.
        y: targets (see :mod:`funcnet.losses` for the accepted forms).
        key: dropout key (required when ``net.dropout > 0``).
        l2: L2 penalty strength (>= 0).
        reduction: ``"mean"``, or ``"sum"`` for ``n`` times the mean, the L2 term included
            (sums over shards of a batch add up to the batch's sum; see the module's text).

    Returns:
        A Python float.

    Raises:
        FloatingPointError: the loss overflowed in ``net.dtype`` (it is never NaN or inf).

    >>> from funcnet.random import key
    >>> from funcnet.network import Net, init
    >>> net = Net((2, 3), output="identity", dtype="float64")
    >>> loss(net, init(key(0), net), np.zeros((1, 2)), np.ones((1, 3)))
    1.0
    """
    X, y, key, l2 = _checked(net, params, X, y, key, l2)
    mean = _mean(reduction)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _finite(_value_and_grad(net, params, X, y, key, l2, grad=False, mean=mean).value, net)


def grad(net: Net, params, X, y, *, key=None, l2: float = 0.0, reduction: str = "mean"):
    """Gradient of :func:`loss` with respect to every param, by backprop.

    Args:
        net, params, X, y, key, l2, reduction: as for :func:`loss`.

    Returns:
        A tree with exactly the params' structure, shapes and dtypes.

    Raises:
        FloatingPointError: the loss or a gradient overflowed in ``net.dtype``, as for
            :func:`value_and_grad`.

    >>> from funcnet.random import key
    >>> from funcnet.network import Net, init
    >>> net = Net((2, 3), output="identity", dtype="float64")
    >>> grad(net, init(key(0), net), np.zeros((1, 2)), np.ones((1, 3)))[0]["b"].round(3)
    array([-0.667, -0.667, -0.667])
    """
    return value_and_grad(net, params, X, y, key=key, l2=l2, reduction=reduction)[1]


def value_and_grad(net: Net, params, X, y, *, key=None, l2: float = 0.0, reduction: str = "mean"):
    """:func:`loss` and :func:`grad` from one forward pass: ``(float, grads)``.

    Args:
        net, params, X, y, key, l2: as for :func:`loss`.
        reduction: ``"mean"`` (the default), or ``"sum"``: ``len(X)`` times the mean objective,
            L2 term included, so that the sums of shards of any sizes, divided by the number
            of samples in all, give the mean objective of the whole batch and its gradient.

    Returns:
        ``(value, grads)``: a Python float and a tree like the params.

    Raises:
        FloatingPointError: the loss or a gradient overflowed in ``net.dtype`` (as for
            :func:`loss`): finite but huge params, inputs or ``l2``.

    >>> from funcnet.random import key
    >>> from funcnet.network import Net, init
    >>> net = Net((2, 3), output="identity", dtype="float64")
    >>> v, g = value_and_grad(net, init(key(0), net), np.zeros((1, 2)), np.ones((1, 3)))
    >>> v, sorted(g[0])
    (1.0, ['W', 'b'])

    Two shards of 1 and 3 samples give the mean over all 4, penalty included once:

    >>> net = Net((2, 4, 3), dtype="float64")
    >>> params = init(key(0), net)
    >>> X, y = np.arange(8.0).reshape(4, 2) / 8, np.array([0, 2, 1, 2])
    >>> (v1, g1), (v2, g2) = [value_and_grad(net, params, X[s], y[s], l2=0.1, reduction="sum")
    ...                       for s in (slice(0, 1), slice(1, 4))]
    >>> v, g = value_and_grad(net, params, X, y, l2=0.1)
    >>> abs((v1 + v2) / 4 - v) < 1e-15, np.allclose((g1[0]["W"] + g2[0]["W"]) / 4, g[0]["W"], rtol=1e-14)
    (True, True)
    """
    X, y, key, l2 = _checked(net, params, X, y, key, l2)
    mean = _mean(reduction)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        r = _value_and_grad(net, params, X, y, key, l2, mean=mean)
    value = _finite(r.value, net)
    for path, g in tree_paths(r.grads):
        checks.overflow(g, f"grad: grads{path}", net.dtype)
    return value, r.grads


def evaluate(net: Net, params, X, y, *, stats=None) -> dict:
    """Loss and accuracy in evaluation mode: no dropout, batch norm on running statistics.

    Args:
        net, params, X, y: as for :func:`loss`.
        stats: batch-norm running statistics (needed only when ``net.batchnorm``).

    Returns:
        ``{"loss": float}``, plus ``"accuracy"`` for classification heads. The loss is the
        head's loss without the L2 term: what a validation curve shows.

    Raises:
        FloatingPointError: the loss overflowed in ``net.dtype``, as for :func:`loss`.

    >>> from funcnet.random import key
    >>> from funcnet.network import Net, init
    >>> net = Net((2, 3, 2), dropout=0.5, dtype="float64")
    >>> r = evaluate(net, init(key(0), net), np.ones((4, 2)), np.array([0, 1, 1, 0]))
    >>> sorted(r), r["accuracy"]
    (['accuracy', 'loss'], 0.5)
    """
    check_net(net)
    check_params(net, params)
    X = check_X(net, X)
    stats = check_stats(net, stats)
    y = _targets(net, X, y, "y")
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        value, correct = _evaluate(net, params, X, y, stats)
    out = {"loss": _finite(value, net)}
    if HEADS[net.output].classifies:
        out["accuracy"] = correct / len(X)
    return out


def gradcheck_tree(net: Net, params, X, y, *, key=None, l2: float = 0.0, eps: float = EPS):
    """Relative error of :func:`grad` against central differences, per leaf.

    Every element of every leaf is perturbed by ``+-eps`` and ``+-eps/2`` (in float64,
    whatever the net's dtype), the two central differences are extrapolated to
    ``(4 D(eps/2) - D(eps)) / 3`` and compared with backprop. The error of
    a leaf is ``|g - g_num| / max(|g| + |g_num|, 1e-3 |G|)`` in the Euclidean norm, with ``G``
    the whole analytic gradient: the floor keeps a leaf whose true gradient is exactly 0 (a
    bias cancelled by a following batch norm) from scoring rounding noise divided by rounding
    noise. Dropout uses the same ``key`` (hence the same masks) in every evaluation. The
    differences and the rule are :mod:`funcnet.finite_differences`', the routine behind
    :func:`funcnet.testing.assert_grads_match` as well.

    Args:
        net, params, X, y, key, l2: as for :func:`loss`.
        eps: the finite-difference step, a positive number.

    Returns:
        A tree with the params' structure holding one float per leaf.

    Raises:
        FloatingPointError: the loss overflowed (in float64) at a perturbed point: the params,
            inputs or ``eps`` are too large for central differences.

    >>> from funcnet.random import key
    >>> from funcnet.network import Net, init
    >>> net = Net((3, 4, 2), activation="gelu")
    >>> errs = gradcheck_tree(net, init(key(1), net), np.ones((2, 3)), np.array([0, 1]))
    >>> max(tree_leaves(errs)) < 1e-6
    True
    """
    X, y, key, l2 = _checked(net, params, X, y, key, l2)
    eps = checks.real(eps, "eps", low=0, low_open=True)
    net64 = dataclasses.replace(net, dtype="float64")
    X64 = X.astype(np.float64)
    y64 = y.astype(np.float64) if y.dtype.kind == "f" else y

    def value(p):
        return _value_and_grad(net64, p, X64, y64, key, l2, grad=False).value

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        p64 = _map(lambda a: a.astype(np.float64, copy=False), params, ())
        analytic = _value_and_grad(net64, p64, X64, y64, key, l2).grads
        errors = relative_errors(analytic, central_differences(value, params, eps=eps))
    for path, e in tree_paths(errors):
        if not math.isfinite(e):
            raise FloatingPointError(f"gradcheck: the loss overflowed in float64 at params{path}")
    return errors


def gradcheck(net: Net, params, X, y, *, key=None, l2: float = 0.0, eps: float = EPS) -> float:
    """The worst per-leaf relative error of backprop against central differences.

    Args:
        net, params, X, y, key, l2: as for :func:`loss`.
        eps: finite-difference step.

    Returns:
        ``max`` over leaves of :func:`gradcheck_tree`; below ~1e-7 means backprop is right.

    Raises:
        FloatingPointError: as :func:`gradcheck_tree`.

    >>> from funcnet.random import key
    >>> from funcnet.network import Net, init
    >>> net = Net((3, 4, 1), activation="tanh", output="sigmoid")
    >>> gradcheck(net, init(key(0), net), np.ones((2, 3)), np.array([0, 1])) < 1e-6
    True
    """
    return max(tree_leaves(gradcheck_tree(net, params, X, y, key=key, l2=l2, eps=eps)))
