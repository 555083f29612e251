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

>>> from funcnet.random import key
>>> W = INITIALIZERS["he_normal"](key(0), 1000, 500, np.float64)
>>> round(float(W.std()), 2), round(float(np.sqrt(2 / 1000)), 2)
(0.04, 0.04)
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from . import random as rnd

__all__ = ["INITIALIZERS", "get_initializer", "default_init"]


def _normal(scale: Callable[[int, int], float]):
    def init(k, n_in, n_out, dtype):
        return rnd.normal(k, (n_in, n_out), dtype, std=scale(n_in, n_out))

    return init


def _uniform(scale: Callable[[int, int], float]):
    def init(k, n_in, n_out, dtype):
        lim = scale(n_in, n_out)
        return rnd.uniform(k, (n_in, n_out), dtype, low=-lim, high=lim)

    return init


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
    try:
        return _DEFAULTS[activation]
    except (KeyError, TypeError):
        raise ValueError(
            f"activation: expected one of {sorted(_DEFAULTS)}, got {activation!r}"
        ) from None


def get_initializer(name: str) -> Callable:
    """Look up an initializer by name.

    >>> get_initializer("lecun_uniform").__name__
    'init'
    """
    try:
        return INITIALIZERS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"init: expected 'auto' or one of {sorted(INITIALIZERS)}, got {name!r}"
        ) from None
