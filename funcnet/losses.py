"""Losses on a network's raw outputs (logits), each with its gradient, and the output heads.

Every loss takes the *pre-activation* outputs ``z`` of the last layer, never probabilities,
so that the output non-linearity and the loss can be fused into one stable expression:

- softmax + cross-entropy: ``L = logsumexp(z) - z[y]``; ``dL/dz = softmax(z) - onehot(y)``.
- sigmoid + binary cross-entropy: ``L = max(z, 0) - z y + log1p(exp(-|z|))``;
  ``dL/dz = sigmoid(z) - y``.
- identity + mean squared error: ``L = (z - y)^2``; ``dL/dz = 2 (z - y)``.

The gradient of a matched pair is simply "prediction minus target" because the derivative of
the canonical link cancels against the derivative of the loss (the exponential-family
identity). That cancellation is exactly why a net's last layer has no separate activation
derivative in backprop: ``backward`` starts from these ``dL/dz`` directly.

Reductions: cross-entropy is summed over classes and averaged over the batch; binary
cross-entropy and MSE are averaged over all elements (batch x outputs), as in PyTorch.

The public functions check their inputs, logits included: a NaN or inf is a ``ValueError``
naming the argument, never a NaN loss. The kernels in ``LOSSES`` and ``HEADS`` trust their
input: they serve :mod:`funcnet.objective` and the train step, which check ``X`` once.

>>> z = np.array([[2.0, 0.0, -1.0]]); y = np.array([0])
>>> round(softmax_cross_entropy(z, y), 4)
0.1698
>>> softmax_cross_entropy_grad(z, y).round(3)
array([[-0.156,  0.114,  0.042]])
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import numpy as np

from .activations import sigmoid, softmax

__all__ = [
    "softmax_cross_entropy",
    "softmax_cross_entropy_grad",
    "binary_cross_entropy",
    "binary_cross_entropy_grad",
    "mean_squared_error",
    "mean_squared_error_grad",
    "Head",
    "HEADS",
    "get_head",
    "LOSSES",
]


def _as_float(z, name="logits"):
    z = np.asarray(z)
    if z.dtype.kind != "f":
        raise TypeError(f"{name}: expected a float array, got dtype {z.dtype}")
    if z.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array (batch, outputs), got shape {z.shape}")
    if z.shape[0] == 0:
        raise ValueError(f"{name}: expected a non-empty batch, got shape {z.shape}")
    if z.shape[1] == 0:
        raise ValueError(f"{name}: expected at least one output column, got shape {z.shape}")
    # The one finiteness pass, for the public functions only. The kernels in LOSSES and HEADS
    # skip it: objective and the train step call them on logits they computed from an X
    # checked once, where a NaN or inf can only come from overflow, and that shows up as the
    # non-finite loss the training loop already reports; a second pass per step would buy nothing.
    # isfinite().all() rather than checks.all_finite: its mask is small next to the arrays the
    # losses allocate anyway, and it is 2-3x faster than a float32 sum on logits this size.
    if not np.isfinite(z).all():
        raise ValueError(f"{name}: expected finite values, got {_non_finite(z)}")
    return z


def _non_finite(z) -> str:
    """What is wrong with a non-finite array, for the error message: counts and first place."""
    nan = int(np.count_nonzero(np.isnan(z)))
    pos = int(np.count_nonzero(np.isposinf(z)))
    neg = int(np.count_nonzero(np.isneginf(z)))
    parts = [f"{c} {what}" for c, what in ((nan, "NaN"), (pos, "inf"), (neg, "-inf")) if c]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    row, col = (int(i) for i in np.argwhere(~np.isfinite(z))[0])
    values = "value" if z.size == 1 else "values"
    return f"{listed} among {z.size} {values} (first at row {row}, column {col})"


def _class_targets(z, y, name="labels"):
    """Integer labels (n,) in [0, k), or a (n, k) float array of class probabilities."""
    y = np.asarray(y)
    n, k = z.shape
    if y.dtype.kind in "iu":
        if y.shape != (n,):
            raise ValueError(f"{name}: expected integer labels of shape ({n},), got {y.shape}")
        if y.size and (y.min() < 0 or y.max() >= k):
            raise ValueError(
                f"{name}: expected class labels in [0, {k - 1}], got values in "
                f"[{y.min()}, {y.max()}]"
            )
        return y
    if y.dtype.kind == "f":
        if y.shape != (n, k):
            raise ValueError(
                f"{name}: expected integer labels of shape ({n},) or one-hot/probability rows "
                f"of shape ({n}, {k}), got float array of shape {y.shape}"
            )
        if not np.all(np.isfinite(y)):
            raise ValueError(f"{name}: expected finite probabilities, got NaN or inf")
        sums = y.sum(1)
        if y.min() < 0 or not np.allclose(sums, 1, atol=1e-4):
            raise ValueError(
                f"{name}: expected rows of non-negative probabilities summing to 1, got values "
                f"down to {y.min()} and row sums in [{sums.min()}, {sums.max()}]"
            )
        return y
    raise TypeError(f"{name}: expected integer labels or float one-hot rows, got dtype {y.dtype}")


def _shaped_like(z, y, name, what):
    """Numeric targets with the logits' shape ((n,) accepted for one output)."""
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected {what}, got dtype {y.dtype}")
    shape = y.shape  # as given, for the message
    if y.ndim == 1 and z.shape[1] == 1:
        y = y.reshape(-1, 1)
    if y.shape != z.shape:
        ok = f"{z.shape} (or ({z.shape[0]},))" if z.shape[1] == 1 else f"{z.shape}"
        raise ValueError(f"{name}: expected shape {ok}, got {shape}")
    return y


def _binary_targets(z, y, name="targets"):
    y = _shaped_like(z, y, name, "0/1 numbers")
    if y.size and not np.all(np.isfinite(y)):
        raise ValueError(f"{name}: expected values in [0, 1], got NaN or inf")
    if y.size and (y.min() < 0 or y.max() > 1):
        raise ValueError(f"{name}: expected values in [0, 1], got values in [{y.min()}, {y.max()}]")
    return y.astype(z.dtype, copy=False)


def _regression_targets(z, y, name="targets"):
    y = _shaped_like(z, y, name, "numbers")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"{name}: expected finite values, got NaN or inf")
    return y.astype(z.dtype, copy=False)


# --- the unchecked kernels: the public functions below check, then call these ---


def _ce_value(z, y):
    s = z - z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(s).sum(axis=1))
    if y.ndim == 1:
        return float(np.mean(lse - s[np.arange(len(y)), y]))
    # (lse - s) is finite, and a zero target times it is exactly 0: no 0 * -inf.
    return float(np.mean(np.sum(y * (lse[:, None] - s), axis=1)))


def _ce_grad(z, y):
    p = softmax(z, axis=1)
    if y.ndim == 1:
        p[np.arange(len(y)), y] -= 1
    else:
        p -= y
    p /= len(z)
    return p


def _bce_value(z, y):
    return float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))))


def _bce_grad(z, y):
    g = sigmoid(z) - y
    g /= z.size
    return g


def _mse_value(z, y):
    d = z - y
    return float(np.mean(d * d))


def _mse_grad(z, y):
    g = z - y
    g *= 2 / z.size
    return g


# --- public losses ---


def softmax_cross_entropy(logits, labels) -> float:
    """Mean softmax cross-entropy of ``logits`` against integer labels or one-hot rows.

    Args:
        logits: (n, k) finite float array.
        labels: (n,) integers in [0, k), or (n, k) rows of probabilities.

    Returns:
        The mean over the batch of ``-log softmax(logits)[label]``, a Python float.

    Raises:
        ValueError: a NaN or inf in ``logits``, or labels that do not fit them.

    >>> softmax_cross_entropy(np.array([[1e4, -1e4]]), np.array([1]))
    20000.0
    >>> softmax_cross_entropy(np.array([[0.0, np.nan]]), np.array([1]))
    Traceback (most recent call last):
    ValueError: logits: expected finite values, got 1 NaN among 2 values (first at row 0, column 1)

    See Also:
        softmax_cross_entropy_grad
    """
    z = _as_float(logits)
    return _ce_value(z, _class_targets(z, labels))


def softmax_cross_entropy_grad(logits, labels) -> np.ndarray:
    """Gradient of :func:`softmax_cross_entropy` with respect to ``logits``.

    Args:
        logits: (n, k) finite float array.
        labels: (n,) integers in [0, k), or (n, k) rows of probabilities.

    Returns:
        ``(softmax(logits) - onehot(labels)) / n``: a new (n, k) array of the logits' dtype.

    >>> softmax_cross_entropy_grad(np.array([[0.0, 0.0]]), np.array([1]))
    array([[ 0.5, -0.5]])
    """
    z = _as_float(logits)
    return _ce_grad(z, _class_targets(z, labels))


def binary_cross_entropy(logits, targets) -> float:
    """Mean binary cross-entropy of sigmoid(``logits``) against 0/1 ``targets``, from logits.

    Args:
        logits: (n, k) finite float array.
        targets: (n, k), or (n,) when k == 1, values in [0, 1].

    Returns:
        The mean over all n * k elements, a Python float.

    Raises:
        ValueError: a NaN or inf in ``logits``, or targets that do not fit them.

    >>> round(binary_cross_entropy(np.array([[0.0]]), np.array([1])), 4)
    0.6931
    >>> binary_cross_entropy(np.array([[-1e4]]), np.array([1]))
    10000.0

    See Also:
        binary_cross_entropy_grad
    """
    z = _as_float(logits)
    return _bce_value(z, _binary_targets(z, targets))


def binary_cross_entropy_grad(logits, targets) -> np.ndarray:
    """Gradient of :func:`binary_cross_entropy` with respect to ``logits``.

    Args:
        logits: (n, k) finite float array.
        targets: (n, k), or (n,) when k == 1, values in [0, 1].

    Returns:
        ``(sigmoid(logits) - targets) / (n k)``: a new (n, k) array of the logits' dtype.

    >>> binary_cross_entropy_grad(np.array([[0.0], [0.0]]), np.array([1, 0]))
    array([[-0.25],
           [ 0.25]])
    """
    z = _as_float(logits)
    return _bce_grad(z, _binary_targets(z, targets))


def mean_squared_error(predictions, targets) -> float:
    """Mean over all elements of ``(predictions - targets)^2``.

    Args:
        predictions: (n, k) finite float array.
        targets: (n, k), or (n,) when k == 1, finite numbers.

    Returns:
        A Python float.

    Raises:
        ValueError: a NaN or inf in ``predictions`` or ``targets``, or mismatched shapes.

    >>> mean_squared_error(np.array([[1.0], [3.0]]), np.array([0.0, 1.0]))
    2.5
    >>> mean_squared_error(np.array([[np.inf], [-np.inf]]), np.array([0.0, 1.0]))
    Traceback (most recent call last):
    ValueError: predictions: expected finite values, got 1 inf and 1 -inf among 2 values (first at row 0, column 0)

    See Also:
        mean_squared_error_grad
    """
    z = _as_float(predictions, "predictions")
    return _mse_value(z, _regression_targets(z, targets))


def mean_squared_error_grad(predictions, targets) -> np.ndarray:
    """Gradient of :func:`mean_squared_error` with respect to ``predictions``.

    Args:
        predictions: (n, k) finite float array.
        targets: (n, k), or (n,) when k == 1, finite numbers.

    Returns:
        ``2 (predictions - targets) / (n k)``: a new (n, k) array of the predictions' dtype.

    >>> mean_squared_error_grad(np.array([[1.0], [3.0]]), np.array([0.0, 1.0]))
    array([[1.],
           [2.]])
    """
    z = _as_float(predictions, "predictions")
    return _mse_grad(z, _regression_targets(z, targets))


@functools.lru_cache(maxsize=16)
def _ones(n: int, dtype) -> np.ndarray:
    """A read-only vector of ones, cached: row and column sums as BLAS products use it."""
    out = np.ones(n, dtype)
    out.flags.writeable = False  # shared between calls: nobody may write into it
    return out


# --- fused kernels for training: value, gradient and correct count from one pass over the
# logits, which they overwrite (the train step owns them: they come fresh from a matmul) ---


@functools.lru_cache(maxsize=16)
def _row_starts(n: int, k: int) -> np.ndarray:
    """``arange(n) * k``, read-only: row i's first index in a flat (n, k) array."""
    out = np.arange(n) * k
    out.flags.writeable = False
    return out


def _ce_fused_(z, y):
    n, k = z.shape
    if y.ndim == 1 and z.flags.c_contiguous:
        # Index the flat view: take/put on flat positions cost a third of z[rows, cols].
        flat = z.reshape(-1)
        starts = _row_starts(n, k)
        pred = z.argmax(axis=1)
        correct = int(np.count_nonzero(pred == y))
        at_y = starts + y
        # Shift each row by its maximum, read through argmax: a gather is far cheaper than a
        # max-reduction along rows of 10 elements.
        z -= flat.take(starts + pred)[:, None]
        picked = flat.take(at_y)  # shifted logit of the true class, before exp overwrites it
        np.exp(z, out=z)
        s = np.dot(z, _ones(k, z.dtype))  # row sums, >= 1 after the shift
        value = float(np.add.reduce(np.log(s) - picked)) / n
        s *= n
        z /= s[:, None]
        flat[at_y] -= 1 / n
        return value, z, correct
    correct = int(np.count_nonzero(z.argmax(axis=1) == (y if y.ndim == 1 else y.argmax(axis=1))))
    return _ce_value(z, y), _ce_grad(z, y), correct


def _bce_fused_(z, y):
    # softplus(z) = max(z, 0) + log1p(exp(-|z|)) gives both pieces without overflow:
    # the loss is softplus(z) - z y, and sigmoid(z) = exp(z - softplus(z)) with z - softplus <= 0.
    pred = z > 0
    hits = pred == (y > 0.5)
    correct = int(np.count_nonzero(hits if hits.shape[1] == 1 else hits.all(axis=1)))
    sp = np.abs(z)
    np.negative(sp, out=sp)
    np.exp(sp, out=sp)
    np.log1p(sp, out=sp)
    sp += np.maximum(z, 0)
    value = (float(np.add.reduce(sp, axis=None)) - float(np.vdot(z, y))) / z.size
    np.subtract(z, sp, out=z)
    np.exp(z, out=z)
    z -= y
    z *= 1 / z.size
    return value, z, correct


def _mse_fused_(z, y):
    d = np.subtract(z, y, out=z)
    value = float(np.vdot(d, d)) / d.size
    d *= 2 / d.size
    return value, d, 0


class Loss(NamedTuple):
    """A loss on logits and its gradient, on checked targets.

    Attributes:
        value: ``(z, y) -> float``.
        grad: ``(z, y) -> dL/dz``.
        fused_: ``(z, y) -> (value, dL/dz, correct)`` in one pass, overwriting ``z``; used by
            the train step on logits it allocated. ``correct`` counts samples whose every
            output is on the right side of the decision (0 for regression).
    """

    value: Callable
    grad: Callable
    fused_: Callable


LOSSES: dict[str, Loss] = {
    "softmax_cross_entropy": Loss(_ce_value, _ce_grad, _ce_fused_),
    "binary_cross_entropy": Loss(_bce_value, _bce_grad, _bce_fused_),
    "mean_squared_error": Loss(_mse_value, _mse_grad, _mse_fused_),
}


# --- output heads: the output non-linearity paired with its matching loss ---


def _argmax(z):
    return np.argmax(z, axis=1)


def _threshold(z):
    # sigmoid(z) > 0.5 exactly when z > 0; a single output gives (n,) labels.
    out = (z > 0).astype(np.int64)
    return out[:, 0] if out.shape[1] == 1 else out


class Head(NamedTuple):
    """An output non-linearity and the loss it is paired with.

    Attributes:
        name: ``"softmax"``, ``"sigmoid"`` or ``"identity"``.
        loss_name: key into ``LOSSES``.
        link: logits -> predictions (probabilities or values).
        loss: the :class:`Loss` on logits.
        predict: logits -> labels (classification) or values (regression).
        targets: checks and normalises ``y`` for logits ``z``: ``(z, y, name) -> y``.
        classifies: whether accuracy is defined.
    """

    name: str
    loss_name: str
    link: Callable
    loss: Loss
    predict: Callable
    targets: Callable
    classifies: bool


HEADS: dict[str, Head] = {
    "softmax": Head("softmax", "softmax_cross_entropy", lambda z: softmax(z, axis=1),
                    LOSSES["softmax_cross_entropy"], _argmax, _class_targets, True),
    "sigmoid": Head("sigmoid", "binary_cross_entropy", sigmoid,
                    LOSSES["binary_cross_entropy"], _threshold, _binary_targets, True),
    "identity": Head("identity", "mean_squared_error", lambda z: z,
                     LOSSES["mean_squared_error"], lambda z: z, _regression_targets, False),
}


def get_head(name: str) -> Head:
    """Look up an output head by name.

    >>> get_head("sigmoid").loss_name
    'binary_cross_entropy'
    """
    try:
        return HEADS[name]
    except (KeyError, TypeError):
        raise ValueError(f"output: expected one of {sorted(HEADS)}, got {name!r}") from None


__all__ += ["Loss"]
