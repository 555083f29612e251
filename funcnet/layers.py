"""Layers: each one small named unit with its init, its forward pass and its backward pass side by side.

A layer is a frozen (hashable) dataclass, in the spirit of stax's ``(init, apply)`` pairs:

- ``shapes(n_in) -> (n_out, {name: shape})``: its output width and the params it owns;
- ``init(key, n_in, dtype) -> {name: array}``: those params, new;
- ``forward(params, x, ctx) -> (y, cache)``: ``params`` is the layer dict the layer belongs
  to (it reads its own keys); ``cache`` is whatever its backward needs;
- ``backward(params, cache, dy, need_dx) -> (dx, {name: grad})``: new arrays for the grads,
  and ``dx`` (``dy`` itself for a layer that passes it on; ``None`` is fine when ``need_dx``
  is false: the first layer's input gradient is never used). Nothing is written into
  ``dy``, the params or the cache;
- optionally running state (batch norm's statistics): ``state_shapes(n_in)``,
  ``init_state(n_in, dtype)``, ``update_state(state, cache)``.

A :class:`funcnet.Net` is a list of layers; one loop in :mod:`funcnet.network` runs it for
training, evaluation, hidden representations and shape checks. Params stay what users know:
a tuple with one dict per :class:`Dense` layer, in which the layers after that Dense (batch
norm, or a layer of your own) keep their params beside ``W`` and ``b``.

>>> Dense(3).shapes(4), Act("tanh").shapes(3), BatchNorm().shapes(3)
((3, {'W': (4, 3), 'b': (3,)}), (3, {}), (3, {'gamma': (3,), 'beta': (3,)}))

A layer of your own needs only what it does differently from :class:`Layer`'s defaults (no
params, no state, not random); ``tests/test_network.py`` trains a learned per-feature scale.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, NamedTuple

import numpy as np

from . import checks
from . import random as rnd
from ._ops import colsum
from ._threads import dot
from .activations import ACTIVATIONS
from .initializers import INITIALIZERS

__all__ = ["Ctx", "Layer", "Dense", "BatchNorm", "Act", "Dropout"]


class Ctx(NamedTuple):
    """What a layer's forward pass is told besides its params and input.

    Attributes:
        train: training mode (batch statistics, dropout) or evaluation mode.
        key: this layer's :class:`funcnet.random.Key` in training if the layer is random, else None.
        state: this layer's running state (a dict; ``{}`` for layers without one).
        owned: the input is an array the engine allocated and nobody keeps: the layer may
            overwrite it.
    """

    train: bool
    key: Any
    state: dict
    owned: bool


@dataclasses.dataclass(frozen=True)
class Layer:
    """The defaults of a layer: no params, no state, not random; subclasses override."""

    starts_group: ClassVar[bool] = False  # begins a new dict in params (Dense does)
    random: ClassVar[bool] = False  # needs a key in training (Dropout does)

    def shapes(self, n_in: int):
        """``(n_out, {param name: shape})``."""
        return n_in, {}

    def init(self, key, n_in: int, dtype) -> dict:
        """New params for an input of width ``n_in``."""
        return {}

    def state_shapes(self, n_in: int) -> dict:
        """``{state name: shape}`` of the running state, ``{}`` for none."""
        return {}

    def init_state(self, n_in: int, dtype) -> dict:
        """The running state before training."""
        return {}

    def update_state(self, state: dict, cache) -> dict:
        """The running state after a training step whose forward pass left ``cache``."""
        return state

    def output_owned(self, owned_in: bool, train: bool) -> bool:
        """Whether the output is an array the next layer may overwrite (new and not cached)."""
        return False

    def products(self, n_in: int, rows: int, train: bool, need_dx: bool) -> list:
        """The ``(m, k, n)`` matrix products of a pass over ``rows`` rows (forward, and in
        training backward, with ``dx`` if ``need_dx``): what fit's BLAS thread rule reads."""
        return []

    def forward(self, params: dict, x: np.ndarray, ctx: Ctx):
        raise NotImplementedError

    def backward(self, params: dict, cache, dy: np.ndarray, need_dx: bool):
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class Dense(Layer):
    """``u = x W + b``: weights ``W`` (n_in, n_out) from an initializer, bias ``b`` (n_out,) zero.

    ``bias=False`` leaves ``b`` out (batch norm right after it would cancel it).

    >>> p = Dense(2).init(rnd.key(0), 3, np.float64)
    >>> u, x = Dense(2).forward(p, np.ones((4, 3)), Ctx(True, None, {}, False))
    >>> u.shape, Dense(2).backward(p, x, np.ones((4, 2)), True)[1]["b"].tolist()
    ((4, 2), [4.0, 4.0])
    """

    n_out: int
    bias: bool = True
    initializer: str = "he_normal"
    starts_group: ClassVar[bool] = True

    def __post_init__(self):
        object.__setattr__(self, "n_out", checks.integer(self.n_out, "n_out", low=1))
        checks.size((self.n_out,), "n_out")
        object.__setattr__(self, "bias", checks.boolean(self.bias, "bias"))
        object.__setattr__(self, "initializer", checks.choice(self.initializer, "initializer", INITIALIZERS))

    def shapes(self, n_in):
        shapes = {"W": (n_in, self.n_out)}
        if self.bias:
            shapes["b"] = (self.n_out,)
        return self.n_out, shapes

    def init(self, key, n_in, dtype):
        params = {"W": INITIALIZERS[self.initializer](key, n_in, self.n_out, dtype)}
        if self.bias:
            params["b"] = np.zeros(self.n_out, dtype)
        return params

    def output_owned(self, owned_in, train):
        return True

    def products(self, n_in, rows, train, need_dx):
        out = [(rows, n_in, self.n_out)]
        if train:
            out.append((n_in, rows, self.n_out))
            if need_dx:
                out.append((rows, self.n_out, n_in))
        return out

    def forward(self, params, x, ctx):
        u = dot(x, params["W"])
        if self.bias:
            u += params["b"]
        return u, (x if ctx.train else None)

    def backward(self, params, x, du, need_dx):
        grads = {"W": dot(x.T, du)}
        if self.bias:
            grads["b"] = colsum(du)
        return (dot(du, params["W"].T) if need_dx else None), grads


@dataclasses.dataclass(frozen=True)
class BatchNorm(Layer):
    """``z = gamma (u - mean) / sqrt(var + eps) + beta`` per feature.

    Training uses the batch's mean and (biased) variance and moves the running statistics
    towards them by ``momentum``, with the unbiased variance as PyTorch does; evaluation
    uses the running statistics. ``gamma`` starts at 1, ``beta`` at 0.

    >>> bn = BatchNorm()
    >>> z, cache = bn.forward(bn.init(None, 2, np.float64), np.array([[0.0, 1.0], [2.0, 3.0]]),
    ...                       Ctx(True, None, {}, False))
    >>> z.round(3).tolist()
    [[-1.0, -1.0], [1.0, 1.0]]
    """

    eps: float = 1e-5
    momentum: float = 0.1

    def __post_init__(self):
        object.__setattr__(self, "eps", checks.real(self.eps, "eps", low=0, low_open=True))
        object.__setattr__(self, "momentum", checks.real(self.momentum, "momentum", low=0, high=1))

    def shapes(self, n_in):
        return n_in, {"gamma": (n_in,), "beta": (n_in,)}

    def init(self, key, n_in, dtype):
        return {"gamma": np.ones(n_in, dtype), "beta": np.zeros(n_in, dtype)}

    def state_shapes(self, n_in):
        return {"mean": (n_in,), "var": (n_in,)}

    def init_state(self, n_in, dtype):
        return {"mean": np.zeros(n_in, dtype), "var": np.ones(n_in, dtype)}

    def output_owned(self, owned_in, train):
        return True

    def forward(self, params, u, ctx):
        if ctx.train:
            mean, var = u.mean(axis=0), u.var(axis=0)
        else:
            mean, var = ctx.state["mean"], ctx.state["var"]
        inv = (1.0 / np.sqrt(var + self.eps)).astype(u.dtype, copy=False)
        xhat = np.subtract(u, mean, out=u if ctx.owned else None)
        xhat *= inv
        z = xhat * params["gamma"]
        z += params["beta"]
        return z, ((xhat, inv, mean, var) if ctx.train else None)

    def backward(self, params, cache, dz, need_dx):
        xhat, inv, _, _ = cache
        grads = {"gamma": np.einsum("ij,ij->j", dz, xhat), "beta": colsum(dz)}
        # dL/du for z = gamma * xhat + beta, xhat = (u - mean) * inv, with the batch's mean and
        # variance depending on u:  inv / n * (n dxhat - sum(dxhat) - xhat sum(dxhat xhat)).
        dxhat = dz * params["gamma"]
        n = dxhat.shape[0]
        du = dxhat * n
        du -= dxhat.sum(axis=0)
        du -= xhat * np.einsum("ij,ij->j", dxhat, xhat)
        du *= inv / n
        return du, grads

    def update_state(self, state, cache):
        xhat, _, mean, var = cache
        n = xhat.shape[0]
        # The running variance uses the unbiased batch variance, as PyTorch does.
        unbiased = var * (n / (n - 1)) if n > 1 else var
        m = self.momentum
        return {"mean": (1 - m) * state["mean"] + m * mean, "var": (1 - m) * state["var"] + m * unbiased}


@dataclasses.dataclass(frozen=True)
class Act(Layer):
    """An activation from :data:`funcnet.ACTIVATIONS`, applied elementwise.

    >>> a, cache = Act("relu").forward({}, np.array([[-1.0, 2.0]]), Ctx(True, None, {}, False))
    >>> a.tolist(), Act("relu").backward({}, cache, np.array([[5.0, 5.0]]), True)[0].tolist()
    ([[0.0, 2.0]], [[0.0, 5.0]])
    """

    activation: str = "relu"

    def __post_init__(self):
        object.__setattr__(self, "activation", checks.choice(self.activation, "activation", ACTIVATIONS))

    def output_owned(self, owned_in, train):
        if self.activation == "identity":
            return owned_in
        # In training, an activation whose derivative reads its output keeps that output.
        return not (train and not ACTIVATIONS[self.activation].needs_z)

    def forward(self, params, z, ctx):
        act = ACTIVATIONS[self.activation]
        if not ctx.train:
            return act.fn(z, inplace=ctx.owned), None
        if act.needs_z:
            a = act.fn(z)
            return a, (z, a)
        a = act.fn(z, inplace=ctx.owned)
        return a, (None, a)

    def backward(self, params, cache, g, need_dx):
        z, a = cache
        return ACTIVATIONS[self.activation].vjp(g, z, a), {}


@dataclasses.dataclass(frozen=True)
class Dropout(Layer):
    """Inverted dropout: in training each unit is zeroed with probability ``rate`` and the
    rest are scaled by ``1 / (1 - rate)``; in evaluation the layer passes its input on.

    >>> y, mask = Dropout(0.5).forward({}, np.ones((2, 4)), Ctx(True, rnd.key(0), {}, False))
    >>> sorted(set(y.ravel().tolist()))
    [0.0, 2.0]
    """

    rate: float = 0.5
    random: ClassVar[bool] = True

    def __post_init__(self):
        object.__setattr__(self, "rate", checks.real(self.rate, "rate", low=0, high=1, high_open=True))

    def output_owned(self, owned_in, train):
        return True if train else owned_in

    def forward(self, params, a, ctx):
        if not ctx.train:
            return a, None
        keep = rnd.generator(ctx.key).random(a.shape, dtype=a.dtype) >= self.rate
        mask = np.multiply(keep, 1.0 / (1.0 - self.rate), dtype=a.dtype)
        return a * mask, mask

    def backward(self, params, mask, g, need_dx):
        return np.multiply(g, mask), {}
