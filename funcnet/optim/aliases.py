"""The optimizers people name: each is a chain of transforms from :mod:`funcnet.optim.transforms`.

Conventions are PyTorch's, so results can be compared with it: momentum is the heavy ball
``v = mu*v + g; update = -lr*v`` (Nesterov: ``-lr*(g + mu*v)`` with the new ``v``); RMSprop
is ``v = a*v + (1-a)*g**2; update = -lr*g/(sqrt(v) + eps)`` without bias correction; Adam has
bias-corrected moments with ``eps`` outside the square root; AdamW decays the weight matrices
by ``lr * weight_decay`` a step, decoupled from the gradient.
"""

from __future__ import annotations

import numpy as np

from .. import checks
from ..tree import tree_paths
from .base import Chain, CountState, _apply_updates, _check_params, chain, check_lr
from .transforms import (
    ScaleByLearningRate,
    add_decayed_weights,
    scale_by_adam,
    scale_by_learning_rate,
    scale_by_rms,
    trace,
)

__all__ = ["sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw", "sgd_step"]


def sgd(lr) -> ScaleByLearningRate:
    """Plain stochastic gradient descent: ``update = -lr * grad``.

    Args:
        lr: a positive number, or a schedule ``step -> rate``.

    Returns:
        A transform with state :class:`~funcnet.optim.CountState`; ``params`` may be ``None``.

    >>> opt = sgd(0.1)
    >>> u, s = opt.update(({"b": np.array([1.0])},), opt.init(None), None)
    >>> u[0]["b"], s.count
    (array([-0.1]), 1)

    See Also:
        momentum, nesterov: SGD with a velocity.
    """
    return scale_by_learning_rate(lr)


def momentum(lr, mu: float = 0.9, *, nesterov: bool = False) -> Chain:
    """SGD with heavy-ball momentum, PyTorch's form: ``v = mu*v + g; update = -lr*v``.

    ``chain(trace(mu), scale_by_learning_rate(lr))``. (Sutskever et al.'s form
    ``v = mu*v - lr*g`` gives the same steps for a constant ``lr``; with a schedule this one
    rescales the whole velocity by the current rate.)

    Args:
        lr: a positive number or a schedule.
        mu: the momentum coefficient, in [0, 1).
        nesterov: use :func:`nesterov`'s update instead.

    Returns:
        A :class:`~funcnet.optim.Chain`; its state's ``states[0]`` is the
        :class:`~funcnet.optim.TraceState` holding the velocity.

    >>> p = ({"b": np.zeros(1)},)
    >>> opt = momentum(0.1, mu=0.9)
    >>> u, s = opt.update(({"b": np.array([1.0])},), opt.init(p), p)
    >>> u, s = opt.update(({"b": np.array([1.0])},), s, p)
    >>> u[0]["b"], s.states[0].velocity[0]["b"]
    (array([-0.19]), array([1.9]))
    """
    return chain(trace(_mu(mu), nesterov=nesterov), scale_by_learning_rate(lr))


def _mu(mu):
    return checks.real(mu, "mu", low=0, high=1, high_open=True)


def nesterov(lr, mu: float = 0.9) -> Chain:
    """SGD with Nesterov momentum, PyTorch's form: ``v = mu*v + g; update = -lr*(g + mu*v)``.

    Args:
        lr: a positive number or a schedule.
        mu: the momentum coefficient, in [0, 1).

    Returns:
        A :class:`~funcnet.optim.Chain`; its state's ``states[0]`` is the
        :class:`~funcnet.optim.TraceState` holding the velocity.

    >>> p = ({"b": np.zeros(1)},)
    >>> opt = nesterov(0.1, mu=0.9)
    >>> u, s = opt.update(({"b": np.array([1.0])},), opt.init(p), p)
    >>> u[0]["b"]
    array([-0.19])
    """
    return momentum(lr, mu, nesterov=True)


def rmsprop(lr=0.01, decay: float = 0.99, eps: float = 1e-8) -> Chain:
    """RMSprop as in PyTorch: ``v = a*v + (1-a)*g**2; update = -lr * g / (sqrt(v) + eps)``.

    ``chain(scale_by_rms(decay, eps), scale_by_learning_rate(lr))``. No bias correction, so
    early steps are large (``v`` starts at 0): the first is ``-lr * g / (sqrt(1-a) * |g| +
    eps)``, ten times ``lr`` for the default ``a = 0.99``.

    Args:
        lr: a positive number or a schedule (PyTorch's default 0.01).
        decay: PyTorch's ``alpha``, in [0, 1).
        eps: added to ``sqrt(v)``, positive.

    Returns:
        A :class:`~funcnet.optim.Chain`; its state's ``states[0]`` is the
        :class:`~funcnet.optim.RMSState` holding the running mean of ``g**2``.

    >>> p = ({"b": np.zeros(1)},)
    >>> opt = rmsprop(0.01, decay=0.75)
    >>> opt.update(({"b": np.array([-3.0])},), opt.init(p), p)[0][0]["b"]
    array([0.02])
    """
    return chain(scale_by_rms(decay, eps), scale_by_learning_rate(lr))


def adam(lr=1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> Chain:
    """Adam (Kingma & Ba, 2015), with ``eps`` outside the square root as in PyTorch and optax.

    ``chain(scale_by_adam(b1, b2, eps), scale_by_learning_rate(lr))``:
    ``m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g**2;``
    ``update = -lr * mhat / (sqrt(vhat) + eps)`` with ``mhat = m/(1-b1**t)``,
    ``vhat = v/(1-b2**t)`` at step ``t = count + 1``. The first step is ``-lr * sign(g)`` up
    to ``eps``.

    Args:
        lr: a positive number or a schedule.
        b1: first-moment coefficient, in [0, 1).
        b2: second-moment coefficient, in [0, 1).
        eps: added to ``sqrt(vhat)``, positive.

    Returns:
        A :class:`~funcnet.optim.Chain`; its state's ``states[0]`` is the
        :class:`~funcnet.optim.AdamState` with both moments.

    >>> p = ({"b": np.zeros(2, dtype=np.float32)},)
    >>> opt = adam(0.1)
    >>> u, s = opt.update(({"b": np.array([0.5, -2.0], dtype=np.float32)},), opt.init(p), p)
    >>> u[0]["b"], s.count
    (array([-0.1,  0.1], dtype=float32), 1)

    See Also:
        adamw: with decoupled weight decay.
    """
    return chain(scale_by_adam(b1, b2, eps), scale_by_learning_rate(lr))


def adamw(lr=1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
          weight_decay: float = 0.01, mask=None) -> Chain:
    """AdamW (Loshchilov & Hutter, 2019): Adam plus decoupled weight decay.

    ``chain(scale_by_adam(b1, b2, eps), add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(lr))``: ``update = adam_update - lr * weight_decay * p`` for the
    leaves ``mask`` selects, by default the weight matrices (PyTorch's ``AdamW``, whose default
    ``weight_decay`` is 0.01, with biases and batch-norm parameters in a no-decay group).
    ``params`` must be passed to ``update``.

    Args:
        lr: a positive number or a schedule.
        b1, b2, eps: as in :func:`adam`.
        weight_decay: a finite number >= 0.
        mask: which leaves decay (see :func:`~funcnet.optim.add_decayed_weights`).

    Returns:
        A :class:`~funcnet.optim.Chain` of three transforms; its state's ``states[0]`` is the
        :class:`~funcnet.optim.AdamState` with both moments. ``init`` and ``update`` need the
        params.

    >>> p = ({"W": np.array([[2.0]]), "b": np.array([2.0])},)
    >>> g = ({"W": np.array([[1.0]]), "b": np.array([1.0])},)
    >>> opt = adamw(0.1, weight_decay=0.5)
    >>> opt.update(g, opt.init(p), p)[0]
    ({'W': array([[-0.2]]), 'b': array([-0.1])},)
    """
    return chain(scale_by_adam(b1, b2, eps), add_decayed_weights(weight_decay, mask),
                 scale_by_learning_rate(lr))


def sgd_step(lr: float, params, grads):
    """One plain gradient-descent step: ``params - lr * grads``, as new arrays.

    The same arithmetic as ``apply_updates(params, sgd(lr).update(grads, ...)[0])``.

    Args:
        lr: learning rate, a positive number.
        params: tree of float arrays.
        grads: tree of float arrays with the structure and shapes of ``params``.

    Returns:
        New params of the same structure and dtypes.

    Raises:
        FloatingPointError: the new params overflowed their dtype, as in
            :func:`~funcnet.optim.apply_updates`.

    >>> sgd_step(0.5, ({"W": np.array([1.0, 2.0])},), ({"W": np.array([2.0, 2.0])},))
    ({'W': array([0., 1.])},)
    """
    lr = check_lr(lr)
    if callable(lr):
        raise TypeError("lr: sgd_step takes a number; use sgd(schedule) for a schedule")
    _check_params(params, "sgd_step")
    checks.arrays_like(grads, params, "grads", "params")  # finite, as apply_updates wants its updates
    with np.errstate(over="ignore", invalid="ignore"):
        new = _apply_updates(params, sgd(lr)._apply(grads, CountState(0), params)[0])
    for path, a in tree_paths(new):
        checks.overflow(a, f"sgd_step: params{path} - lr * grads{path}", a.dtype)
    return new
