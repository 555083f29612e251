"""Activation functions, each written once beside its derivative.

``ACTIVATIONS[name]`` is an :class:`Activation`: the function ``fn(z)`` and its vector-Jacobian
product ``vjp(g, z, a) = g * da/dz`` with ``a = fn(z)``, which is how backprop uses a
derivative (a new array; nothing is overwritten); ``deriv(z, a)`` is that product with ``g = 1``. Several derivatives are cheapest in
terms of the output, and for those (``needs_z`` false) the training pass may compute ``a`` in
place of ``z``. Every function keeps the input's float dtype and stays finite for inputs as
large as +-1e4 in float32 and float64.

>>> z = np.array([-2.0, 0.0, 2.0])
>>> ACTIVATIONS["relu"].fn(z)
array([0., 0., 2.])
>>> ACTIVATIONS["tanh"].deriv(z, np.tanh(z)).round(3)
array([0.071, 1.   , 0.071])
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import numpy as np

from . import checks

__all__ = [
    "Activation",
    "ACTIVATIONS",
    "get_activation",
    "identity",
    "relu",
    "leaky_relu",
    "sigmoid",
    "tanh",
    "gelu",
    "silu",
    "softplus",
    "softmax",
    "log_softmax",
]

LEAKY_SLOPE = 0.01
_GELU_C = 0.7978845608028654  # sqrt(2 / pi)
_GELU_K = 0.044715


class Activation(NamedTuple):
    """An activation, its vector-Jacobian product, and what that product reads.

    Attributes:
        name: the table key.
        fn: ``fn(z, *, inplace=False) -> a``. With ``inplace=True`` it may overwrite ``z``
            (the training pass does so only on an array it allocated and no longer needs).
        vjp: ``vjp(g, z, a) -> g * da/dz``, elementwise, as a new array.
        needs_z: whether ``vjp`` reads ``z``; if not, ``z`` may be dropped once ``a`` exists.

    >>> act = ACTIVATIONS["sigmoid"]
    >>> z = np.array([0.0, 2.0])
    >>> a = act.fn(z)
    >>> act.name, act.needs_z, a.round(4), act.vjp(np.array([1.0, 2.0]), z, a).round(4)
    ('sigmoid', False, array([0.5   , 0.8808]), array([0.25, 0.21]))
    """

    name: str
    fn: Callable
    vjp: Callable
    needs_z: bool

    def deriv(self, z, a):
        """``da/dz`` elementwise, as a new array: the product with ``g = 1``."""
        return self.vjp(np.ones_like(a), z, a)


@functools.lru_cache(maxsize=16)
def _zeros_row(n: int, dtype) -> np.ndarray:
    out = np.zeros(n, dtype)
    out.flags.writeable = False  # shared between calls
    return out


def identity(z, *, inplace=False):
    """Return ``z`` unchanged (the linear output of a regression net).

    >>> identity(np.array([1.5]))
    array([1.5])
    """
    return z


def relu(z, *, inplace=False):
    """Rectified linear unit ``max(z, 0)``.

    >>> relu(np.array([-2.0, -0.5, 0.0, 0.5, 2.0]))
    array([0. , 0. , 0. , 0.5, 2. ])
    """
    z = np.asarray(z)
    # Against a broadcast row of zeros np.maximum takes a vectorised loop; against the scalar 0
    # it does not, and is markedly slower on a float32 batch.
    zero = _zeros_row(z.shape[1], z.dtype) if z.ndim == 2 and z.dtype.kind == "f" else 0
    return np.maximum(z, zero, out=z if inplace else None)


def _relu_vjp(g, z, a):
    # a > 0 exactly where z > 0, so the mask comes from the output and z need not be kept.
    return np.multiply(g, a > 0)


def _leaky_slopes(x, dtype):
    # leaky ReLU keeps the sign of z, so input and output give the same slope mask.
    return np.where(x > 0, 1, LEAKY_SLOPE).astype(dtype, copy=False)


def leaky_relu(z, *, inplace=False):
    """Leaky ReLU: ``z`` for ``z > 0``, ``0.01 z`` otherwise.

    >>> leaky_relu(np.array([-2.0, 0.5]))
    array([-0.02,  0.5 ])
    """
    z = np.asarray(z)
    dtype = z.dtype if z.dtype.kind == "f" else np.float64
    return np.multiply(z, _leaky_slopes(z, dtype), out=z if inplace else None)


def _leaky_vjp(g, z, a):
    return np.multiply(g, _leaky_slopes(a, g.dtype))


def sigmoid(z, *, inplace=False):
    """Logistic sigmoid ``1 / (1 + exp(-z))``, stable in both tails.

    ``exp`` only ever sees ``-|z|``, so it cannot overflow; the two branches are the same
    function written for each sign.

    >>> sigmoid(np.array([-1e4, 0.0, 1e4]))
    array([0. , 0.5, 1. ])
    """
    z = np.asarray(z)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _sigmoid_vjp(g, z, a):
    return np.multiply(g, a * (1 - a))


def tanh(z, *, inplace=False):
    """Hyperbolic tangent.

    >>> tanh(np.array([0.0]))
    array([0.])
    """
    z = np.asarray(z)
    return np.tanh(z, out=z if inplace else None)


def _tanh_vjp(g, z, a):
    return np.multiply(g, 1 - a * a)


def _floating(z):
    # The steps below work in place on a float32 or float64 array of at least one dimension
    # (NumPy returns scalars from 0-d arithmetic). Integers compute in float64, as np.exp
    # would; float16 (or longdouble) in float32 (float64), and _like casts back.
    z = np.asarray(z)
    if z.dtype not in (np.float32, np.float64):
        z = z.astype(np.float32 if z.dtype == np.float16 else np.float64)
    return z.reshape(1) if z.ndim == 0 else z


def _like(out, z):
    # Undo _floating: a 0-d input gives a scalar, a float16 one float16, as elsewhere.
    z = np.asarray(z)
    if z.dtype.kind == "f" and out.dtype != z.dtype:
        out = out.astype(z.dtype)
    return out[0] if z.ndim == 0 else out


def _gelu_parts(z):
    # 0.5 (1 + tanh(u)) = 1 / (1 + exp(-2u)): the same function without the cancellation in
    # 1 + tanh(u) near -1, which cost float64 half its digits at z = -6 and all of them below
    # z = -8.5. exp(-2u) must stay finite, so z is clipped where 2u reaches -87 (float32) or
    # -694 (float64); beyond that the sigmoid is below 1e-37 (1e-301) and the output ~0.
    zc = np.clip(z, -21, 21) if z.dtype == np.float64 else np.clip(z, -10, 10)
    e = zc * zc
    e *= _GELU_K
    e += 1
    e *= zc
    e *= -2 * _GELU_C  # -2u
    np.exp(e, out=e)
    s = 1 + e
    np.divide(1, s, out=s)  # sigmoid(2u)
    return s, e, zc


def gelu(z, *, inplace=False):
    """Gaussian error linear unit, tanh approximation (as in GPT-2 and ``approximate='tanh'``).

    ``0.5 z (1 + tanh(u))`` with ``u = sqrt(2/pi) (z + 0.044715 z^3)``, computed as
    ``z / (1 + exp(-2u))`` (the same number, accurate in the negative tail too).

    >>> gelu(np.array([-3.0, 0.0, 1.0])).round(4)
    array([-0.0036,  0.    ,  0.8412])
    """
    z1 = _floating(z)
    s, _, _ = _gelu_parts(z1)
    return _like(np.multiply(z1, s, out=s), z)


def _gelu_vjp(g, z, a):
    # d/dz [z s] = s + z s (1 - s) 2u', and 1 - s = exp(-2u) s with no cancellation.
    z1 = _floating(z)
    s, e, zc = _gelu_parts(z1)
    e *= s
    e *= s
    e *= z1
    e *= (2 * _GELU_C) * (1 + (3 * _GELU_K) * zc * zc)
    e += s
    return np.multiply(g, _like(e, z))


def silu(z, *, inplace=False):
    """Sigmoid linear unit (swish) ``z * sigmoid(z)``.

    >>> silu(np.array([0.0, 1.0])).round(4)
    array([0.    , 0.7311])
    """
    return z * sigmoid(z)


def _silu_vjp(g, z, a):
    s = sigmoid(z)
    return np.multiply(g, s * (1 + z * (1 - s)))


def softplus(z, *, inplace=False):
    """Softplus ``log(1 + exp(z))``, computed as ``max(z, 0) + log1p(exp(-|z|))``.

    ``exp`` only sees ``-|z|``; the steps run in place on one new array.

    >>> softplus(np.array([-1e4, 0.0, 1e4]))
    array([0.00000000e+00, 6.93147181e-01, 1.00000000e+04])
    """
    z1 = _floating(z)
    sp = np.abs(z1)
    np.negative(sp, out=sp)
    np.exp(sp, out=sp)
    np.log1p(sp, out=sp)
    sp += np.maximum(z1, 0)
    return _like(sp, z)


def _softplus_vjp(g, z, a):
    return np.multiply(g, sigmoid(z))


def softmax(z, axis: int = -1):
    """Softmax along ``axis``, shifted by the maximum so ``exp`` never overflows.

    Args:
        z: logits, an array of any shape, e.g. (n, k) with the classes along ``axis``.
        axis: the axis to normalise along.

    Returns:
        A new float array of ``z``'s shape whose entries along ``axis`` are in [0, 1] and sum
        to 1; float32 and float64 keep their dtype, integers give float64.

    >>> softmax(np.array([[1e4, 0.0]]))
    array([[1., 0.]])
    """
    z = np.asarray(z)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(z, axis: int = -1):
    """Log of the softmax, as ``z - max - log(sum(exp(z - max)))``: finite for any finite ``z``.

    Args:
        z: logits, an array of any shape, e.g. (n, k) with the classes along ``axis``.
        axis: the axis to normalise along.

    Returns:
        A new float array of ``z``'s shape, entries <= 0 whose ``exp`` sums to 1 along
        ``axis``; float32 and float64 keep their dtype, integers give float64.

    >>> log_softmax(np.array([[1e4, 0.0]]))
    array([[     0., -10000.]])
    """
    z = np.asarray(z)
    s = z - z.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("identity", identity, lambda g, z, a: g, needs_z=False),
        Activation("relu", relu, _relu_vjp, needs_z=False),
        Activation("leaky_relu", leaky_relu, _leaky_vjp, needs_z=False),
        Activation("sigmoid", sigmoid, _sigmoid_vjp, needs_z=False),
        Activation("tanh", tanh, _tanh_vjp, needs_z=False),
        Activation("gelu", gelu, _gelu_vjp, needs_z=True),
        Activation("silu", silu, _silu_vjp, needs_z=True),
        Activation("softplus", softplus, _softplus_vjp, needs_z=True),
    )
}


def get_activation(name: str) -> Activation:
    """Look up an activation by name, with a clear error for an unknown one.

    >>> get_activation("relu").name
    'relu'
    >>> get_activation("rleu")
    Traceback (most recent call last):
    ValueError: activation: expected one of ['gelu', 'identity', 'leaky_relu', 'relu', 'sigmoid', 'silu', 'softplus', 'tanh'], got 'rleu'
    """
    return ACTIVATIONS[checks.choice(name, "activation", ACTIVATIONS)]
