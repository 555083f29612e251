"""The network: an architecture as plain data, ``init``, ``forward`` and hand-derived ``backward``.

A :class:`Net` is frozen, hashable data. Params are a tuple with one dict per layer,
``{"W": (n_in, n_out), "b": (n_out,)}``; a hidden layer with batch norm holds
``{"W", "gamma", "beta"}`` instead (its bias would be cancelled by the mean subtraction).

Per hidden layer the forward pass is ``u = h W (+ b)``, optional batch norm
``z = gamma (u - mean) / sqrt(var + eps) + beta``, ``a = act(z)``, optional inverted dropout
``h' = a * mask / (1 - p)``. The last layer is linear: its outputs are *logits*, and the
output non-linearity lives with the loss (see :mod:`funcnet.losses`).

>>> from funcnet.random import key
>>> net = Net((2, 3, 1), activation="tanh", output="sigmoid", dtype="float64")
>>> params = init(key(0), net)
>>> [sorted(p) for p in params], params[0]["W"].shape
([['W', 'b'], ['W', 'b']], (2, 3))
>>> forward(net, params, np.zeros((5, 2))).shape
(5, 1)
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import NamedTuple

import numpy as np

from . import random as rnd
from .activations import ACTIVATIONS, get_activation
from .checks import (
    check_key,
    check_nonneg_float,
    check_params,
    check_stats,
    check_X,
    expected_shapes,
)
from .initializers import INITIALIZERS, default_init, get_initializer
from .losses import HEADS, _ones, get_head

__all__ = [
    "Net",
    "init",
    "init_stats",
    "forward",
    "forward_train",
    "backward",
    "predict_proba",
    "predict",
    "accuracy",
    "Cache",
]

BN_EPS = 1e-5
BN_MOMENTUM = 0.1


@dataclasses.dataclass(frozen=True)
class Net:
    """An MLP architecture: plain, hashable, validated on construction.

    Attributes:
        sizes: layer widths, input first and output last, e.g. ``(64, 128, 10)``.
        activation: hidden activation, a key of ``funcnet.ACTIVATIONS``.
        output: ``"softmax"`` (+ cross-entropy, classes), ``"sigmoid"`` (+ binary
            cross-entropy, binary/multi-label) or ``"identity"`` (+ mean squared error).
        init: weight scheme, a key of ``funcnet.INITIALIZERS``, or ``"auto"`` (He for the
            ReLU family, Xavier for tanh/sigmoid).
        dtype: ``"float32"`` or ``"float64"``, the dtype of the params.
        dropout: probability of dropping a hidden unit in training, in ``[0, 1)``.
        batchnorm: batch normalisation after every hidden linear layer.

    >>> Net((64, 128, 10)).init_scheme
    'he_normal'
    >>> Net((64, 0, 10))
    Traceback (most recent call last):
    ValueError: sizes: expected positive integers, got (64, 0, 10)
    """

    sizes: tuple
    activation: str = "relu"
    output: str = "softmax"
    init: str = "auto"
    dtype: str = "float32"
    dropout: float = 0.0
    batchnorm: bool = False

    def __post_init__(self):
        sizes = self.sizes
        if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
            raise TypeError(f"sizes: expected a sequence of layer widths, got {sizes!r}")
        sizes = tuple(sizes)
        if len(sizes) < 2:
            raise ValueError(f"sizes: expected at least an input and an output size, got {sizes}")
        if not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0 for s in sizes):
            raise ValueError(f"sizes: expected positive integers, got {sizes}")
        object.__setattr__(self, "sizes", tuple(int(s) for s in sizes))
        get_activation(self.activation)
        head = get_head(self.output)
        if head.name == "softmax" and sizes[-1] < 2:
            raise ValueError(f"sizes: a softmax output needs at least 2 units, got {sizes[-1]}")
        if self.init != "auto":
            get_initializer(self.init)
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype: expected 'float32' or 'float64', got {self.dtype!r}")
        d = self.dropout
        if isinstance(d, bool) or not isinstance(d, numbers.Real) or not 0.0 <= d < 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {d!r}")
        object.__setattr__(self, "dropout", float(d))
        if not isinstance(self.batchnorm, bool):
            raise TypeError(f"batchnorm: expected True or False, got {self.batchnorm!r}")

    @property
    def init_scheme(self) -> str:
        """The initializer actually used (resolving ``"auto"``)."""
        return default_init(self.activation) if self.init == "auto" else self.init

    @property
    def n_layers(self) -> int:
        """Number of weight layers (``len(sizes) - 1``)."""
        return len(self.sizes) - 1

    def shapes(self):
        """The params' tree with shapes for leaves, without making any arrays.

        >>> Net((2, 3, 1), output="sigmoid").shapes()
        ({'W': (2, 3), 'b': (3,)}, {'W': (3, 1), 'b': (1,)})
        """
        return tuple(
            expected_shapes(self, i, n_in, n_out)
            for i, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:]))
        )


def _check_net(net) -> Net:
    if not isinstance(net, Net):
        raise TypeError(f"net: expected a funcnet.Net, got {type(net).__name__}")
    return net


def init(key: rnd.Key, net: Net):
    """Initial params for ``net``: weights from its scheme, zero biases, unit batch-norm scale.

    Args:
        key: a :class:`funcnet.random.Key`; the same key gives the same params.
        net: the architecture.

    Returns:
        A tuple of ``len(net.sizes) - 1`` dicts: ``W`` (n_in, n_out) and ``b`` (n_out,), or
        ``W``, ``gamma``, ``beta`` for batch-normalised hidden layers; dtype ``net.dtype``.

    >>> from funcnet.random import key
    >>> p = init(key(0), Net((4, 8, 3)))
    >>> p[0]["W"].dtype, p[1]["b"].tolist()
    (dtype('float32'), [0.0, 0.0, 0.0])

    See Also:
        funcnet.INITIALIZERS
    """
    check_key(key)
    _check_net(net)
    dt = np.dtype(net.dtype)
    scheme = INITIALIZERS[net.init_scheme]
    keys = rnd.split(key, net.n_layers)
    params = []
    for i, (k, shapes) in enumerate(zip(keys, net.shapes())):
        n_in, n_out = shapes["W"]
        layer = {"W": scheme(k, n_in, n_out, dt)}
        if "b" in shapes:
            layer["b"] = np.zeros(n_out, dt)
        else:
            layer["gamma"] = np.ones(n_out, dt)
            layer["beta"] = np.zeros(n_out, dt)
        params.append(layer)
    return tuple(params)


def init_stats(net: Net):
    """Initial batch-norm running statistics: a dict per layer, empty without batch norm.

    >>> init_stats(Net((2, 3, 2), batchnorm=True))
    ({'mean': array([0., 0., 0.], dtype=float32), 'var': array([1., 1., 1.], dtype=float32)}, {})
    """
    _check_net(net)
    dt = np.dtype(net.dtype)
    return tuple(
        {"mean": np.zeros(s["W"][1], dt), "var": np.ones(s["W"][1], dt)} if "gamma" in s else {}
        for s in net.shapes()
    )


# --- kernels: unchecked, allocate everything they write to, never touch their arguments ---
#
# np.dot rather than @: for 2-D arrays both are the matrix product, but np.dot reaches BLAS
# with less overhead, and an outer product (one output unit) costs 0.9 us against 5 us.


def _colsum(a: np.ndarray) -> np.ndarray:
    """Column sums as a product with a ones vector: 1 us for (400, 8), against 6 us for
    ``a.sum(axis=0)``, whose reduction along the long axis is slow for narrow arrays."""
    return np.dot(_ones(a.shape[0], a.dtype), a)


class Cache(NamedTuple):
    """What backward needs from one layer of the training forward pass."""

    h: np.ndarray  # the layer's input
    z: np.ndarray | None  # pre-activation (kept only when the derivative needs it)
    a: np.ndarray | None  # activation output (before dropout)
    mask: np.ndarray | None  # dropout mask already scaled by 1 / (1 - p)
    bn: tuple | None  # (xhat, inv_std, batch mean, batch var)


def _forward_eval(net, params, X, stats):
    act = ACTIVATIONS[net.activation]
    h = X
    last = len(params) - 1
    for i, p in enumerate(params):
        u = np.dot(h, p["W"])
        if "b" in p:
            u += p["b"]
        else:
            s = stats[i]
            u -= s["mean"]
            u *= (p["gamma"] / np.sqrt(s["var"] + BN_EPS)).astype(u.dtype, copy=False)
            u += p["beta"]
        h = u if i == last else act.fn_(u)
    return h


def _dropout_mask(k, p, shape, dtype):
    keep = rnd.generator(k).random(shape, dtype=dtype) >= p
    return np.multiply(keep, 1.0 / (1.0 - p), dtype=dtype)


def _forward_train(net, params, X, key):
    act = ACTIVATIONS[net.activation]
    last = len(params) - 1
    keys = rnd.split(key, last) if (net.dropout > 0 and last > 0) else None
    caches = []
    h = X
    for i, p in enumerate(params):
        u = np.dot(h, p["W"])
        if i == last:
            u += p["b"]
            caches.append(Cache(h, None, None, None, None))
            return u, tuple(caches)
        bn = None
        if "b" in p:
            u += p["b"]
        else:
            mean = u.mean(axis=0)
            var = u.var(axis=0)
            inv = (1.0 / np.sqrt(var + BN_EPS)).astype(u.dtype, copy=False)
            u -= mean
            u *= inv
            xhat = u
            u = xhat * p["gamma"]
            u += p["beta"]
            bn = (xhat, inv, mean, var)
        if act.needs_z:
            z, a = u, act.fn(u)
        else:
            z, a = None, act.fn_(u)
        mask = None
        h_next = a
        if keys is not None:
            mask = _dropout_mask(keys[i], net.dropout, a.shape, a.dtype)
            h_next = a * mask
        caches.append(Cache(h, z, a, mask, bn))
        h = h_next
    raise AssertionError("unreachable: the last layer returns")


def _backward(net, params, caches, delta, l2=0.0):
    """Backprop from ``delta = dL/dlogits`` (owned by the caller, overwritten here)."""
    act = ACTIVATIONS[net.activation]
    grads = [None] * len(params)
    for i in range(len(params) - 1, -1, -1):
        p, c = params[i], caches[i]
        if c.a is not None:  # a hidden layer: delta is dL/dh' for its output h'
            if c.mask is not None:
                delta *= c.mask
            delta = act.vjp_(delta, c.z, c.a)  # now dL/dz
        if c.bn is not None:
            xhat, inv, _, _ = c.bn
            g = {"gamma": np.einsum("ij,ij->j", delta, xhat), "beta": _colsum(delta)}
            # dL/du for z = gamma * xhat + beta, xhat = (u - mean) * inv, with mean and var of
            # the batch depending on u:  inv / n * (n dxhat - sum(dxhat) - xhat sum(dxhat xhat)).
            dxhat = delta * p["gamma"]
            n = dxhat.shape[0]
            du = dxhat * n
            du -= dxhat.sum(axis=0)
            du -= xhat * np.einsum("ij,ij->j", dxhat, xhat)
            du *= inv / n
            delta = du
        else:
            g = {"b": _colsum(delta)}
        gW = np.dot(c.h.T, delta)
        if l2:
            gW += l2 * p["W"]
        grads[i] = {"W": gW, **g}
        if i > 0:
            delta = np.dot(delta, p["W"].T)
    return tuple(grads)


# --- public functions: check once, then call the kernels ---


def forward(net: Net, params, X, *, stats=None) -> np.ndarray:
    """The network's raw outputs (logits) in evaluation mode: no dropout, running BN stats.

    Args:
        net: the architecture.
        params: params matching ``net``.
        X: (n, sizes[0]) array; float32 stays float32.
        stats: batch-norm running statistics (needed only when ``net.batchnorm``).

    Returns:
        (n, sizes[-1]) logits, before the output non-linearity.

    >>> from funcnet.random import key
    >>> net = Net((2, 4, 3))
    >>> forward(net, init(key(0), net), np.ones((5, 2), np.float32)).dtype
    dtype('float32')

    See Also:
        predict_proba, forward_train
    """
    _check_net(net)
    check_params(net, params)
    X = check_X(net, X)
    return _forward_eval(net, params, X, check_stats(net, stats))


def forward_train(net: Net, params, X, *, key=None):
    """The training-mode forward pass, returning what :func:`backward` needs.

    Dropout masks come from ``key`` (required when ``net.dropout > 0``); batch norm uses the
    batch's own statistics.

    Args:
        net, params, X: as in :func:`forward`.
        key: a :class:`funcnet.random.Key` for the dropout masks.

    Returns:
        ``(logits, caches)``: (n, sizes[-1]) logits and a tuple of :class:`Cache`, one per layer.

    >>> from funcnet.random import key
    >>> net = Net((2, 4, 3), dtype="float64")
    >>> logits, caches = forward_train(net, init(key(0), net), np.ones((5, 2)))
    >>> logits.shape, len(caches), caches[0].a.shape
    ((5, 3), 2, (5, 4))
    """
    _check_net(net)
    check_params(net, params)
    X = check_X(net, X)
    key = check_key(key, required=net.dropout > 0)
    return _forward_train(net, params, X, key)


def backward(net: Net, params, caches, dlogits, *, l2: float = 0.0):
    """Backpropagate ``dL/dlogits`` through the layers: the gradient of every param.

    Args:
        net, params: as passed to :func:`forward_train`.
        caches: the second output of :func:`forward_train`.
        dlogits: (n, sizes[-1]) gradient of the loss with respect to the logits.
        l2: adds ``l2 * W`` to every weight gradient (the gradient of ``l2/2 * sum W**2``).

    Returns:
        A tree with exactly the params' structure and shapes.

    >>> from funcnet.random import key
    >>> net = Net((2, 4, 3), dtype="float64")
    >>> params = init(key(0), net)
    >>> logits, caches = forward_train(net, params, np.ones((5, 2)))
    >>> g = backward(net, params, caches, np.ones((5, 3)))
    >>> g[0]["W"].shape, g[1]["b"].tolist()
    ((2, 4), [5.0, 5.0, 5.0])
    """
    _check_net(net)
    check_params(net, params)
    if not isinstance(caches, tuple) or len(caches) != net.n_layers:
        raise TypeError(f"caches: expected the tuple of {net.n_layers} caches from forward_train")
    dlogits = np.asarray(dlogits)
    n = caches[0].h.shape[0]
    if dlogits.shape != (n, net.sizes[-1]):
        raise ValueError(f"dlogits: expected shape {(n, net.sizes[-1])}, got {dlogits.shape}")
    return _backward(net, params, caches, dlogits, check_nonneg_float(l2, "l2"))


def predict_proba(net: Net, params, X, *, stats=None) -> np.ndarray:
    """Output-layer predictions: class probabilities (softmax, sigmoid) or values (identity).

    >>> from funcnet.random import key
    >>> net = Net((2, 4, 3))
    >>> predict_proba(net, init(key(0), net), np.ones((2, 2), np.float32)).sum(axis=1).round(5)
    array([1., 1.], dtype=float32)
    """
    return HEADS[net.output].link(forward(net, params, X, stats=stats))


def predict(net: Net, params, X, *, stats=None) -> np.ndarray:
    """Predicted labels (argmax for softmax, threshold 0.5 for sigmoid) or regression values.

    >>> from funcnet.random import key
    >>> net = Net((2, 4, 3))
    >>> predict(net, init(key(0), net), np.ones((2, 2))).shape
    (2,)
    """
    return HEADS[net.output].predict(forward(net, params, X, stats=stats))


def accuracy(net: Net, params, X, y, *, stats=None) -> float:
    """Fraction of samples whose predicted label equals ``y`` (classification heads only).

    Args:
        y: (n,) integer labels, (n, k) one-hot rows, or for a sigmoid head (n,)/(n, k) 0/1.

    >>> from funcnet.random import key
    >>> net = Net((2, 4, 2))
    >>> 0.0 <= accuracy(net, init(key(0), net), np.ones((4, 2)), np.array([0, 1, 0, 1])) <= 1.0
    True
    """
    head = HEADS[net.output]
    if not head.classifies:
        raise ValueError(f"net: accuracy needs a classification output, got output={net.output!r}")
    z = forward(net, params, X, stats=stats)
    y = head.targets(z, y, "y")
    return _accuracy(head, z, y)


def _accuracy(head, z, y) -> float:
    pred = head.predict(z)
    if head.name == "softmax":
        truth = y if y.ndim == 1 else np.argmax(y, axis=1)
    else:
        truth = (y > 0.5).astype(np.int64)
        truth = truth[:, 0] if truth.shape[1] == 1 else truth
    hit = pred == truth
    # Several sigmoid outputs (multi-label): a sample counts only if all its labels are right.
    return float(np.mean(hit if hit.ndim == 1 else hit.all(axis=1)))
