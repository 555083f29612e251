"""Weight initialisation schemes: He, Xavier/Glorot and LeCun, normal and uniform.

Each initializer is ``(key, n_in, n_out, dtype) -> W`` with ``W.shape == (n_in, n_out)``; the
variance is chosen so that activations (He: ReLU family; Xavier: tanh/sigmoid; LeCun: SELU-like
and GELU/SiLU) keep their scale from layer to layer.

=============  ======================  ==========================
scheme         normal std              uniform limit
=============  ======================  ==========================
he             sqrt(2 / n_in)          sqrt(6 / n_in)
xavier         sqrt(2 / (n_in+n_out))  sqrt(6 / (n_in+n_out))
lecun          sqrt(1 / n_in)          sqrt(3 / n_in)
=============  ======================  ==========================

Sizes must be positive integers (Python or numpy; not bools, not floats such as ``2.0``):
anything else is a ``TypeError`` (the wrong kind) or ``ValueError`` (not positive) naming
``n_in`` or ``n_out``.

>>> from funcnet.random import key
>>> W = INITIALIZERS["he_normal"](key(0), 1000, 500, np.float64)
>>> round(float(W.std()), 2), round(float(np.sqrt(2 / 1000)), 2)
(0.04, 0.04)
>>> INITIALIZERS["he_normal"](key(0), 0, 500, np.float64)
Traceback (most recent call last):
ValueError: n_in: expected an integer >= 1, got 0
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from . import checks
from . import random as rnd
from .activations import get_activation

__all__ = ["INITIALIZERS", "get_initializer", "default_init"]


def _scheme(draw: Callable, what: str):
    """An initializer ``init(k, n_in, n_out, dtype)``: ``draw(k, shape, dtype, scale)`` with
    the scale ``scale(n_in, n_out)`` of the module's table."""

    def make(scale: Callable[[int, int], float]):
        def init(k, n_in, n_out, dtype):
            n_in, n_out = checks.integer(n_in, "n_in", low=1), checks.integer(n_out, "n_out", low=1)
            checks.size((n_in, n_out), "n_in" if n_in >= n_out else "n_out", checks.float_dtype(dtype).itemsize)
            return draw(k, (n_in, n_out), dtype, scale(n_in, n_out))

        init.__doc__ = f"""{what} (see the module's table).

        Args:
            k: a :class:`funcnet.random.Key`; the same key gives the same weights.
            n_in, n_out: fan-in and fan-out, positive integers.
            dtype: float32 or float64.

        Returns:
            A new (n_in, n_out) array of ``dtype``.
        """
        return init

    return make


_normal = _scheme(lambda k, shape, dtype, std: rnd.normal(k, shape, dtype, std=std),
                  "Normal weights, mean 0, std ``scale(n_in, n_out)``")
_uniform = _scheme(lambda k, shape, dtype, lim: rnd.uniform(k, shape, dtype, low=-lim, high=lim),
                   "Uniform weights on ``[-limit, limit)``, limit ``scale(n_in, n_out)``")


INITIALIZERS: dict[str, Callable] = {
    "he_normal": _normal(lambda i, o: np.sqrt(2.0 / i)),
    "he_uniform": _uniform(lambda i, o: np.sqrt(6.0 / i)),
    "xavier_normal": _normal(lambda i, o: np.sqrt(2.0 / (i + o))),
    "xavier_uniform": _uniform(lambda i, o: np.sqrt(6.0 / (i + o))),
    "lecun_normal": _normal(lambda i, o: np.sqrt(1.0 / i)),
    "lecun_uniform": _uniform(lambda i, o: np.sqrt(3.0 / i)),
}
# Glorot is Xavier's surname; both names are in common use.
INITIALIZERS["glorot_normal"] = INITIALIZERS["xavier_normal"]
INITIALIZERS["glorot_uniform"] = INITIALIZERS["xavier_uniform"]

_DEFAULTS = {
    "relu": "he_normal",
    "leaky_relu": "he_normal",
    "gelu": "he_normal",
    "silu": "he_normal",
    "softplus": "he_normal",
    "tanh": "xavier_uniform",
    "sigmoid": "xavier_uniform",
    "identity": "lecun_normal",
}


def default_init(activation: str) -> str:
    """The scheme ``init="auto"`` picks for a hidden activation.

    >>> default_init("relu"), default_init("tanh")
    ('he_normal', 'xavier_uniform')
    >>> default_init("swish")
    Traceback (most recent call last):
    ValueError: activation: expected one of ['gelu', 'identity', 'leaky_relu', 'relu', 'sigmoid', 'silu', 'softplus', 'tanh'], got 'swish'
    """
    return _DEFAULTS[get_activation(activation).name]


def get_initializer(name: str) -> Callable:
    """Look up an initializer by name.

    >>> get_initializer("lecun_uniform").__name__
    'init'
    """
    return INITIALIZERS[checks.choice(name, "init", INITIALIZERS)]
