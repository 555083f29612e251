"""Optimizers as pairs of pure functions, in the style of optax.

An :class:`Optimizer` is ``(init, update)``:

- ``init(params) -> state``: plain data (NamedTuples of trees mirroring ``params``).
- ``update(grads, state, params) -> (updates, new_state)``: never changes its arguments.

``apply_updates(params, updates)`` adds the updates to the params and returns new params.

>>> params = ({"W": np.array([[1.0]]), "b": np.array([0.5])},)
>>> grads = ({"W": np.array([[2.0]]), "b": np.array([1.0])},)
>>> opt = sgd(0.1)
>>> updates, state = opt.update(grads, opt.init(params), params)
>>> apply_updates(params, updates)[0]["W"]
array([[0.8]])
"""

from __future__ import annotations

import numbers
from typing import Callable, NamedTuple

import numpy as np

from .tree import tree_check_same, tree_map

__all__ = ["Optimizer", "apply_updates", "sgd", "sgd_step"]


class Optimizer(NamedTuple):
    """A pure optimizer: ``init(params) -> state``, ``update(grads, state, params)``."""

    init: Callable
    update: Callable


def _check_lr(lr, name="lr"):
    if callable(lr):
        return lr
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not np.isfinite(lr) or lr <= 0:
        raise ValueError(f"{name}: expected a positive finite number or a schedule, got {lr!r}")
    return float(lr)


def apply_updates(params, updates):
    """Return ``params + updates``, leaf by leaf, keeping each param's dtype.

    >>> apply_updates(({"b": np.array([1.0])},), ({"b": np.array([-0.5])},))
    ({'b': array([0.5])},)
    """
    tree_check_same(params, updates, names=("params", "updates"))
    return tree_map(lambda p, u: np.add(p, u, dtype=p.dtype), params, updates)


def sgd_step(lr: float, params, grads):
    """One plain gradient-descent step: ``params - lr * grads``, as new arrays.

    Args:
        lr: learning rate, a positive number.
        params: tree of arrays.
        grads: tree of arrays with the structure and shapes of ``params``.

    Returns:
        New params of the same structure and dtypes.

    >>> sgd_step(0.5, ({"W": np.array([1.0, 2.0])},), ({"W": np.array([2.0, 2.0])},))
    ({'W': array([0., 1.])},)
    """
    lr = _check_lr(lr)
    if callable(lr):
        raise ValueError("lr: sgd_step takes a number; use sgd(schedule) for a schedule")
    tree_check_same(params, grads, names=("params", "grads"))

    def step(p, g):
        out = np.multiply(g, -lr, dtype=p.dtype)
        out += p
        return out

    return tree_map(step, params, grads)


class ScaleState(NamedTuple):
    """State of :func:`sgd`: just the number of steps taken."""

    count: int


def _lr_at(lr, count):
    return lr(count) if callable(lr) else lr


def sgd(lr) -> Optimizer:
    """Plain stochastic gradient descent: ``update = -lr * grad``.

    Args:
        lr: a positive number, or a schedule ``step -> rate``.

    >>> opt = sgd(0.1)
    >>> u, s = opt.update(({"b": np.array([1.0])},), opt.init(None), None)
    >>> u, s.count
    ({'b': array([-0.1])}, 1)
    """
    lr = _check_lr(lr)

    def init(params):
        return ScaleState(0)

    def update(grads, state, params=None):
        rate = _lr_at(lr, state.count)
        return tree_map(lambda g: np.multiply(g, -rate, dtype=g.dtype), grads), ScaleState(
            state.count + 1
        )

    return Optimizer(init, update)
