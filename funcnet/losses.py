"""Losses on a network's raw outputs (logits), each one kernel for value and gradient, and the heads.

Every loss takes the *pre-activation* outputs ``z`` of the last layer, never probabilities,
so that the output non-linearity and the loss can be fused into one stable expression:

- softmax + cross-entropy: ``L = logsumexp(z) - z[y]``; ``dL/dz = softmax(z) - onehot(y)``.
- sigmoid + binary cross-entropy: ``L = max(z, 0) - z y + log1p(exp(-|z|))``;
  ``dL/dz = sigmoid(z) - y``.
- identity + mean squared error: ``L = (z - y)^2``; ``dL/dz = 2 (z - y)``.

The gradient of a matched pair is simply "prediction minus target" because the derivative of
the canonical link cancels against the derivative of the loss (the exponential-family
identity). That cancellation is exactly why a net's last layer has no separate activation
derivative in backprop: the backward pass starts from these ``dL/dz`` directly.

Reductions: cross-entropy is summed over classes and averaged over the batch; binary
cross-entropy and MSE are averaged over all elements (batch x outputs), as in PyTorch.

Each loss is one kernel, ``kernel(z, y, grad, owned, mean=True) -> (value, dL/dz or None,
correct)``: the value, the gradient when asked, and the number of samples the head classifies
right, from one pass over the logits. With ``mean=False`` the kernel sums over the samples
instead of averaging (a sample's loss is its cross-entropy, or for binary cross-entropy and MSE
the mean over its outputs): the same arithmetic without the division by the batch size, so that
sums over shards of a batch add up to the sum over the batch. The public functions below,
:mod:`funcnet.objective` and the train step all call these kernels, so a loss has one formula
and gives the same bits wherever it is used.
The public functions check their inputs (a NaN or inf logit is a ``ValueError`` naming the
argument, never a NaN loss); the kernels trust theirs.

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

from . import checks
from ._ops import rowsum
from .activations import sigmoid, softmax, softplus

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
    "smooth_labels",
]


# --- checks of logits and targets (the public boundary) ---


def _logits(z, name="logits"):
    return checks.matrix(z, name, numeric=False)


def _numeric(y, name, what):
    y = checks.array(y, name, what)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected {what}, got dtype {y.dtype}")
    return y


def class_targets(z, y, name="labels"):
    """Integer labels (n,) in [0, k), or (n, k) rows of class probabilities (as ``z``'s dtype).

    ``z`` may be a shape-only stand-in for the logits (only its shape and dtype are read).
    """
    y = _numeric(y, name, "integer labels or float one-hot rows")
    n, k = z.shape
    if y.dtype.kind in "iu":
        if y.shape != (n,):
            raise ValueError(f"{name}: expected integer labels of shape ({n},), got {y.shape}")
        if y.min() < 0 or y.max() >= k:
            raise ValueError(
                f"{name}: expected class labels in [0, {k - 1}], got values in [{y.min()}, {y.max()}]"
            )
        # The kernels index with them: uint64 plus an int64 offset would be a float index.
        return y.astype(np.int64, copy=False)
    if y.dtype.kind != "f":
        raise TypeError(f"{name}: expected integer labels or float one-hot rows, got dtype {y.dtype}")
    if y.shape != (n, k):
        raise ValueError(
            f"{name}: expected integer labels of shape ({n},) or one-hot/probability rows "
            f"of shape ({n}, {k}), got float array of shape {y.shape}"
        )
    checks.finite(y, name)
    sums = y.sum(1)
    if y.min() < 0 or not np.allclose(sums, 1, atol=1e-4):
        raise ValueError(
            f"{name}: expected rows of non-negative probabilities summing to 1, got values "
            f"down to {y.min()} and row sums in [{sums.min()}, {sums.max()}]"
        )
    return y.astype(z.dtype, copy=False)


def _shaped_like(z, y, name, what):
    """Numeric targets with the logits' shape ((n,) accepted for one output)."""
    y = _numeric(y, name, what)
    shape = y.shape  # as given, for the message
    if y.ndim == 1 and z.shape[1] == 1:
        y = y.reshape(-1, 1)
    if y.shape != z.shape:
        ok = f"{z.shape} (or ({z.shape[0]},))" if z.shape[1] == 1 else f"{z.shape}"
        raise ValueError(f"{name}: expected shape {ok}, got {shape}")
    if y.dtype.kind == "f":
        checks.finite(y, name)
    return y


def binary_targets(z, y, name="targets"):
    """0/1 targets (or probabilities) of the logits' shape, as the logits' dtype."""
    y = _shaped_like(z, y, name, "0/1 numbers")
    if y.min() < 0 or y.max() > 1:
        raise ValueError(f"{name}: expected values in [0, 1], got values in [{y.min()}, {y.max()}]")
    return y.astype(z.dtype, copy=False)


def regression_targets(z, y, name="targets"):
    """Finite targets of the logits' shape, as the logits' dtype."""
    y = _shaped_like(z, y, name, "numbers")
    with np.errstate(over="ignore"):
        out = y.astype(z.dtype, copy=False)
    return checks.finite(out, f"{name} (as {z.dtype})")


# --- the kernels: trusted inputs; they write only into arrays they allocate, or into ``z``
# when the caller says it owns ``z`` (the train step does: its logits come fresh from a matmul).


@functools.lru_cache(maxsize=16)
def _row_starts(n: int, k: int) -> np.ndarray:
    """``arange(n) * k``, read-only: row i's first index in a flat (n, k) array."""
    out = np.arange(n) * k
    out.flags.writeable = False
    return out


def _class_hits(pred, y) -> int:
    return int(np.count_nonzero(pred == (y if y.ndim == 1 else y.argmax(axis=1))))


def _softmax_correct(z, y) -> int:
    return _class_hits(z.argmax(axis=1), y)


def _softmax_cross_entropy(z, y, grad: bool, owned: bool, mean: bool = True):
    n, k = z.shape
    d = n if mean else 1  # what the summed loss is divided by
    pred = z.argmax(axis=1)
    correct = _class_hits(pred, y)
    # Shift each row by its maximum, read through argmax: a gather is far cheaper than a
    # max-reduction along rows of ten elements. Flat take/put on a C-ordered array are
    # cheaper than fancy indexing z[rows, cols].
    starts = _row_starts(n, k)
    top = z.reshape(-1).take(starts + pred) if z.flags.c_contiguous else z[np.arange(n), pred]
    owned = owned and z.flags.c_contiguous
    e = np.subtract(z, top[:, None], out=z if owned else None, order="C")
    flat = e.reshape(-1)
    if y.ndim == 1:
        at_y = starts + y
        picked = flat.take(at_y)  # the shifted logit of the true class, before exp overwrites it
    else:  # sum_j y_j (lse - s_j) = lse * sum_j y_j - sum_j y_j s_j
        picked = np.einsum("ij,ij->i", y, e)
        weight = rowsum(y)
    np.exp(e, out=e)
    s = rowsum(e)  # >= 1 after the shift
    lse = np.log(s)
    if y.ndim != 1:
        lse *= weight
    value = float(np.add.reduce(lse - picked)) / d
    if not grad:
        return value, None, correct
    s *= d
    e /= s[:, None]  # softmax / d
    if y.ndim == 1:
        flat[at_y] -= 1 / d
    else:
        e -= y * (1 / d)
    return value, e, correct


def _binary_correct(z, y) -> int:
    # A sample counts only if every one of its outputs is on the right side of 0.5.
    hits = _positive(z) == (y > 0.5)
    return int(np.count_nonzero(hits if hits.shape[1] == 1 else hits.all(axis=1)))


def _positive(z):
    """The sigmoid head's decision: sigmoid(z) > 0.5 exactly when z > 0."""
    return z > 0


def _no_correct(z, y) -> int:
    return 0


def _binary_cross_entropy(z, y, grad: bool, owned: bool, mean: bool = True):
    # softplus(z) = max(z, 0) + log1p(exp(-|z|)) gives both pieces without overflow:
    # the loss is softplus(z) - z y, and sigmoid(z) = exp(z - softplus(z)) with z - softplus <= 0.
    correct = _binary_correct(z, y)
    sp = softplus(z)
    # softplus(z) - z y element by element: for large logits both terms are huge and their
    # sums overflow, while each difference is small.
    terms = np.multiply(z, y)
    np.subtract(sp, terms, out=terms)
    d = z.size if mean else z.shape[1]  # the mean over outputs, and over samples too with mean
    value = float(np.add.reduce(terms, axis=None)) / d
    if not grad:
        return value, None, correct
    g = np.subtract(z, sp, out=z if owned else sp)
    np.exp(g, out=g)
    g -= y
    g *= 1 / d
    return value, g, correct


def _mean_squared_error(z, y, grad: bool, owned: bool, mean: bool = True):
    n = z.size if mean else z.shape[1]  # as for binary cross-entropy
    d = np.subtract(z, y, out=z if owned else None)
    value = float(np.vdot(d, d)) / n
    if not grad:
        return value, None, 0
    d *= 2 / n
    return value, d, 0


# --- public losses: check, then call the kernel ---


def _public(kernel, z, y, which: int, what: str):
    """The kernel's value (``which`` 0) or gradient (1) on checked logits and targets; an
    overflow (finite but huge inputs) is a FloatingPointError, never a silent inf."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = kernel(z, y, bool(which), False)[which]
    checks.overflow(out, what, z.dtype)
    return out


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
    ValueError: logits: expected finite values, got 1 NaN among 2 values (first at [0, 1])

    See Also:
        softmax_cross_entropy_grad
    """
    z = _logits(logits)
    return _public(_softmax_cross_entropy, z, class_targets(z, labels), 0, "softmax_cross_entropy")


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
    z = _logits(logits)
    return _public(_softmax_cross_entropy, z, class_targets(z, labels), 1, "softmax_cross_entropy_grad")


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
    z = _logits(logits)
    return _public(_binary_cross_entropy, z, binary_targets(z, targets), 0, "binary_cross_entropy")


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
    z = _logits(logits)
    return _public(_binary_cross_entropy, z, binary_targets(z, targets), 1, "binary_cross_entropy_grad")


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
    ValueError: predictions: expected finite values, got 1 inf and 1 -inf among 2 values (first at [0, 0])

    See Also:
        mean_squared_error_grad
    """
    z = _logits(predictions, "predictions")
    return _public(_mean_squared_error, z, regression_targets(z, targets), 0, "mean_squared_error")


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
    z = _logits(predictions, "predictions")
    return _public(_mean_squared_error, z, regression_targets(z, targets), 1, "mean_squared_error_grad")


def smooth_labels(y, classes: int, amount: float, *, head: str = "softmax", dtype="float32") -> np.ndarray:
    """Targets moved ``amount`` of the way towards the uniform distribution (label smoothing).

    For a softmax head, integer labels or probability rows become rows ``(1 - amount) *
    onehot + amount / classes``; for a sigmoid head, 0/1 targets become ``y (1 - amount) +
    amount / 2``. Training on them keeps the logits from growing without bound on easy
    samples (Szegedy et al., 2016); accuracy still counts the argmax (or the side of 0.5).

    Args:
        y: (n,) integer labels or (n, classes) rows (softmax), or 0/1 targets (sigmoid).
        classes: the number of outputs.
        amount: in [0, 1).
        head: ``"softmax"`` or ``"sigmoid"``.
        dtype: the targets' float dtype (the net's).

    Returns:
        A new (n, classes) float array.

    >>> smooth_labels(np.array([0, 2]), 3, 0.3, dtype="float64")
    array([[0.8, 0.1, 0.1],
           [0.1, 0.1, 0.8]])
    """
    classes = checks.integer(classes, "classes", low=1)
    amount = checks.real(amount, "amount", low=0, high=1, high_open=True)
    head = checks.choice(head, "head", ["softmax", "sigmoid"])
    dt = checks.float_dtype(dtype)
    stand_in = np.empty((len(np.asarray(y)) if np.ndim(y) else 0, classes), dt)
    if head == "softmax":
        y = class_targets(stand_in, y, "y")
        rows = np.eye(classes, dtype=dt)[y] if y.ndim == 1 else y.astype(dt)
        return rows * dt.type(1 - amount) + dt.type(amount / classes)
    y = binary_targets(stand_in, y, "y")
    return y * dt.type(1 - amount) + dt.type(amount / 2)


# --- output heads: the output non-linearity paired with its matching loss ---


def _argmax(z):
    return np.argmax(z, axis=1)


def _threshold(z):
    # A single output gives (n,) labels.
    out = _positive(z).astype(np.int64)
    return out[:, 0] if out.shape[1] == 1 else out


def _identity(z):
    return z


def _softmax_rows(z):
    return softmax(z, axis=1)


class Head(NamedTuple):
    """An output non-linearity and the loss it is paired with.

    Attributes:
        name: ``"softmax"``, ``"sigmoid"`` or ``"identity"``.
        loss_name: the loss's name, e.g. ``"softmax_cross_entropy"``.
        link: logits -> predictions (probabilities or values).
        kernel: ``(z, y, grad, owned, mean=True) -> (value, dL/dz or None, correct)`` on
            checked targets; with ``owned`` it may overwrite ``z``; ``mean=False`` sums over
            the samples instead of averaging.
        predict: logits -> labels (classification) or values (regression).
        correct: ``(z, y) -> int``, the samples classified right (0 for regression); the
            kernel counts the same way.
        targets: checks ``y`` against (a stand-in for) the logits: ``(z, y, name) -> y``.
        classifies: whether accuracy is defined.
    """

    name: str
    loss_name: str
    link: Callable
    kernel: Callable
    predict: Callable
    correct: Callable
    targets: Callable
    classifies: bool


HEADS: dict[str, Head] = {
    "softmax": Head("softmax", "softmax_cross_entropy", _softmax_rows, _softmax_cross_entropy,
                    _argmax, _softmax_correct, class_targets, True),
    "sigmoid": Head("sigmoid", "binary_cross_entropy", sigmoid, _binary_cross_entropy,
                    _threshold, _binary_correct, binary_targets, True),
    "identity": Head("identity", "mean_squared_error", _identity, _mean_squared_error,
                     _identity, _no_correct, regression_targets, False),
}


def get_head(name: str) -> Head:
    """Look up an output head by name.

    >>> get_head("sigmoid").loss_name
    'binary_cross_entropy'
    """
    return HEADS[checks.choice(name, "output", HEADS)]
