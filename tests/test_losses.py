"""Losses on logits: hand-worked values, gradients against finite differences, extremes, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import (
    LOGIT_BOUND,
    batch_shapes,
    binary_targets,
    float_arrays,
    logits_with_labels,
    probability_rows,
)

import funcnet as fn
from funcnet.losses import (
    HEADS,
    binary_cross_entropy,
    binary_cross_entropy_grad,
    get_head,
    mean_squared_error,
    mean_squared_error_grad,
    softmax_cross_entropy,
    softmax_cross_entropy_grad,
)

DTYPES = [np.float32, np.float64]
# name -> (value, gradient)
PAIRS = {
    "softmax_cross_entropy": (softmax_cross_entropy, softmax_cross_entropy_grad),
    "binary_cross_entropy": (binary_cross_entropy, binary_cross_entropy_grad),
    "mean_squared_error": (mean_squared_error, mean_squared_error_grad),
}


def _bits(a):
    a = np.asarray(a)
    return a.dtype, a.shape, a.tobytes()


# --- independent references, row by row with the math module ---


def _ce_reference(z, y):
    """Mean over rows of sum_j t_j (logsumexp(z) - z_j), t the target row (one-hot for an int)."""
    total = 0.0
    for row, t in zip(z.astype(float).tolist(), y.tolist()):
        m = max(row)
        lse = m + math.log(sum(math.exp(v - m) for v in row))
        t = [float(j == t) for j in range(len(row))] if isinstance(t, int) else t
        total += sum(tj * (lse - v) for tj, v in zip(t, row) if tj)
    return total / len(z)


def _bce_reference(z, y):
    """Mean of -t log s(z) - (1 - t) log(1 - s(z)), written as softplus(z) - t z."""
    z, y = z.astype(float).ravel().tolist(), np.asarray(y, float).ravel().tolist()
    return sum(max(v, 0.0) + math.log1p(math.exp(-abs(v))) - t * v for v, t in zip(z, y)) / len(z)


# --- hand-worked values ---


def test_cross_entropy_worked_by_hand():
    z = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    y = np.array([0, 2])
    lse0 = math.log(math.exp(2) + 1 + math.exp(-1))
    expected = ((lse0 - 2) + math.log(3)) / 2
    assert softmax_cross_entropy(z, y) == pytest.approx(expected, rel=1e-14)
    p0 = [math.exp(2 - lse0), math.exp(-lse0), math.exp(-1 - lse0)]
    grad = softmax_cross_entropy_grad(z, y)
    np.testing.assert_allclose(grad, [[(p0[0] - 1) / 2, p0[1] / 2, p0[2] / 2], [1 / 6, 1 / 6, (1 / 3 - 1) / 2]],
                               rtol=1e-14)
    onehot = np.eye(3)[y]
    assert softmax_cross_entropy(z, onehot) == pytest.approx(expected, rel=1e-14)
    np.testing.assert_allclose(softmax_cross_entropy_grad(z, onehot), grad, rtol=1e-14)
    soft = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    expected_soft = (0.5 * (lse0 - 2) + 0.5 * lse0 + math.log(3)) / 2
    assert softmax_cross_entropy(z, soft) == pytest.approx(expected_soft, rel=1e-14)
    np.testing.assert_allclose(softmax_cross_entropy_grad(z, soft)[1], [(1 / 3 - t) / 2 for t in soft[1]],
                               rtol=1e-14)


def test_bce_and_mse_worked_by_hand():
    z = np.array([[0.0], [2.0]])
    y = np.array([1, 0])
    expected = (math.log(2) + math.log(1 + math.exp(2))) / 2
    assert binary_cross_entropy(z, y) == pytest.approx(expected, rel=1e-14)
    s = 1 / (1 + math.exp(-2))
    np.testing.assert_allclose(binary_cross_entropy_grad(z, y), [[(0.5 - 1) / 2], [s / 2]], rtol=1e-14)
    # Two outputs: the mean runs over all 4 elements.
    z2, y2 = np.array([[0.0, 1.0], [-1.0, 3.0]]), np.array([[1.0, 0.0], [0.25, 1.0]])
    assert binary_cross_entropy(z2, y2) == pytest.approx(_bce_reference(z2, y2), rel=1e-14)
    np.testing.assert_allclose(binary_cross_entropy_grad(z2, y2), (1 / (1 + np.exp(-z2)) - y2) / 4, rtol=1e-14)
    p, t = np.array([[1.0, 2.0], [3.0, 5.0]]), np.array([[0.0, 2.0], [1.0, 1.0]])
    assert mean_squared_error(p, t) == (1 + 0 + 4 + 16) / 4
    np.testing.assert_array_equal(mean_squared_error_grad(p, t), [[0.5, 0.0], [1.0, 2.0]])


def test_losses_return_python_floats():
    z = np.array([[0.5, -0.5]], np.float32)
    assert type(softmax_cross_entropy(z, np.array([1]))) is float
    assert type(binary_cross_entropy(z, np.array([[1, 0]]))) is float
    assert type(mean_squared_error(z, np.zeros((1, 2)))) is float


# --- gradients against central differences (float64) ---


def _numeric_grad(f, z, h=1e-5):
    g = np.zeros_like(z)
    for i in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[i] += h
        zm[i] -= h
        g[i] = (f(zp) - f(zm)) / (zp[i] - zm[i])
    return g


def _assert_grad_matches(value, grad, z, y, h=1e-5):
    analytic = grad(z, y)
    numeric = _numeric_grad(lambda v: value(v, y), z, h)
    assert analytic.shape == z.shape and analytic.dtype == z.dtype
    # Relative error, absolute below 1e-3: a difference quotient of a loss L carries a rounding
    # error near 2e-16 L / h, ~4e-10 for the losses of logits within +-8 drawn here.
    err = np.abs(analytic - numeric) / np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), 1e-3)
    assert err.max() < 1e-6, (analytic, numeric)


@settings(max_examples=50, deadline=None)
@given(zy=logits_with_labels(k=(1, 5)), data=st.data())
def test_cross_entropy_gradient_matches_central_differences(zy, data):
    z, labels, onehot = zy
    soft = data.draw(probability_rows(z.shape))
    for y in (labels, onehot, soft):
        _assert_grad_matches(softmax_cross_entropy, softmax_cross_entropy_grad, z, y)


@settings(max_examples=50, deadline=None)
@given(shape=batch_shapes(), data=st.data())
def test_bce_gradient_matches_central_differences(shape, data):
    z = data.draw(float_arrays(np.float64, shape, bound=8.0))
    for soft in (False, True):
        y = data.draw(binary_targets(shape, soft=soft))
        _assert_grad_matches(binary_cross_entropy, binary_cross_entropy_grad, z, y)
        if shape[1] == 1:  # (n,) targets for one output
            _assert_grad_matches(binary_cross_entropy, binary_cross_entropy_grad, z, y[:, 0])
    ints = data.draw(binary_targets(shape, soft=False)).astype(np.int64)
    _assert_grad_matches(binary_cross_entropy, binary_cross_entropy_grad, z, ints)


@settings(max_examples=50, deadline=None)
@given(shape=batch_shapes(), data=st.data())
def test_mse_gradient_matches_central_differences(shape, data):
    z = data.draw(float_arrays(np.float64, shape, bound=10.0))
    y = data.draw(float_arrays(np.float64, shape, bound=10.0))
    # A quadratic has no truncation error: a large step keeps the rounding error small.
    _assert_grad_matches(mean_squared_error, mean_squared_error_grad, z, y, h=1e-2)
    if shape[1] == 1:
        _assert_grad_matches(mean_squared_error, mean_squared_error_grad, z, y[:, 0], h=1e-2)


@settings(max_examples=50, deadline=None)
@given(zy=st.sampled_from(DTYPES).flatmap(lambda dt: logits_with_labels(dt, k=(1, 6), bound=LOGIT_BOUND,
                                                                       extremes=True)))
def test_cross_entropy_with_one_hot_rows_equals_integer_labels(zy):
    z, labels, onehot = zy
    # A one-hot row picks z[label] with 1 * x + 0 * rest: the very same numbers.
    assert softmax_cross_entropy(z, onehot) == softmax_cross_entropy(z, labels)
    assert _bits(softmax_cross_entropy_grad(z, onehot)) == _bits(softmax_cross_entropy_grad(z, labels))
    # float64 one-hot rows with float32 logits: still float32 out.
    assert softmax_cross_entropy_grad(z, onehot.astype(np.float64)).dtype == z.dtype


@given(zy=logits_with_labels(k=(1, 1)))
def test_bce_targets_of_shape_n_and_n_by_1_agree(zy):
    z, labels, _ = zy
    y = (z[:, 0] > 0).astype(np.int64)
    assert binary_cross_entropy(z, y) == binary_cross_entropy(z, y[:, None])
    assert _bits(binary_cross_entropy_grad(z, y)) == _bits(binary_cross_entropy_grad(z, y[:, None]))


# --- stability at +-1e4, exact zero and one targets, dtypes ---


@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_logits_give_exact_values(dtype):
    def z(*rows):
        return np.array(rows, dtype)

    assert softmax_cross_entropy(z([1e4, -1e4]), np.array([1])) == 2e4
    assert softmax_cross_entropy(z([1e4, -1e4]), np.array([0])) == 0.0
    assert softmax_cross_entropy(z([1e4, -1e4]), np.array([[0.0, 1.0]])) == 2e4  # 0 * (big) is 0, not NaN
    assert softmax_cross_entropy(z([1e4, -1e4]), np.array([[1.0, 0.0]])) == 0.0
    assert softmax_cross_entropy(z([1e4, -1e4]), np.array([[0.5, 0.5]])) == 1e4
    assert softmax_cross_entropy(z([1e4, -1e4], [-1e4, 1e4]), np.array([1, 1])) == 1e4
    assert softmax_cross_entropy(z([-1e4, -1e4, -1e4]), np.array([2])) == pytest.approx(math.log(3), rel=1e-6)
    assert binary_cross_entropy(z([-1e4]), np.array([1])) == 1e4
    assert binary_cross_entropy(z([1e4]), np.array([0])) == 1e4
    assert binary_cross_entropy(z([1e4]), np.array([1])) == 0.0
    assert binary_cross_entropy(z([-1e4]), np.array([0.0])) == 0.0
    assert binary_cross_entropy(z([1e4, -1e4]), np.array([[1.0, 0.0]])) == 0.0
    assert binary_cross_entropy(z([1e4], [-1e4], [0.0]), np.array([0.0, 1.0, 1.0])) == pytest.approx(
        (2e4 + math.log(2)) / 3, rel=1e-6)
    assert mean_squared_error(z([1e4], [-1e4]), np.array([-1e4, 1e4])) == 4e8


@pytest.mark.parametrize("dtype", DTYPES)
def test_extreme_logits_give_exact_gradients_of_their_dtype(dtype):
    z = np.array([[1e4, -1e4], [-1e4, 1e4]], dtype)
    g = softmax_cross_entropy_grad(z, np.array([1, 1]))
    assert g.dtype == dtype
    np.testing.assert_array_equal(g, np.array([[0.5, -0.5], [0, 0]], dtype))
    g1 = softmax_cross_entropy_grad(z, np.array([[0.0, 1.0], [0.0, 1.0]]))
    assert g1.dtype == dtype and _bits(g1) == _bits(g)
    zb = np.array([[1e4], [-1e4], [0.0]], dtype)
    gb = binary_cross_entropy_grad(zb, np.array([0.0, 1.0, 1.0]))
    assert gb.dtype == dtype
    np.testing.assert_allclose(gb, np.array([[1 / 3], [-1 / 3], [-1 / 6]], dtype), rtol=1e-6)
    gm = mean_squared_error_grad(zb, np.zeros(3))
    assert gm.dtype == dtype
    np.testing.assert_allclose(gm, np.array([[2e4 / 3], [-2e4 / 3], [0.0]], dtype), rtol=1e-6)


@settings(max_examples=50, deadline=None)
@given(dtype=st.sampled_from(DTYPES), data=st.data())
def test_any_logits_up_to_1e4_give_finite_correct_losses_of_their_dtype(dtype, data):
    z, labels, onehot = data.draw(logits_with_labels(dtype, k=(1, 5), bound=LOGIT_BOUND, extremes=True))
    t = data.draw(binary_targets(z.shape, dtype))
    r = data.draw(float_arrays(dtype, z.shape, bound=100.0))
    before = [_bits(a) for a in (z, labels, onehot, t, r)]
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    ce = softmax_cross_entropy(z, labels)
    # An absolute slack of a few float32 steps of the largest logit: the loss is a difference of
    # numbers as large as 1e4.
    atol = 1e-12 + rtol * float(np.abs(z).max())
    assert math.isfinite(ce) and ce == pytest.approx(_ce_reference(z, labels), rel=rtol, abs=atol)
    assert softmax_cross_entropy(z, onehot) == pytest.approx(ce, rel=rtol, abs=atol)
    bce = binary_cross_entropy(z, t)
    assert math.isfinite(bce) and bce == pytest.approx(_bce_reference(z, t), rel=rtol, abs=atol)
    assert math.isfinite(mean_squared_error(z, r))
    for name, y in (("softmax_cross_entropy", labels), ("softmax_cross_entropy", onehot),
                    ("binary_cross_entropy", t), ("mean_squared_error", r)):
        g = PAIRS[name][1](z, y)
        assert g.dtype == dtype and g.shape == z.shape and np.all(np.isfinite(g))
    gce = softmax_cross_entropy_grad(z, labels)
    np.testing.assert_allclose(gce.sum(axis=1), 0, atol=10 * rtol)  # softmax - onehot sums to 0
    assert np.all(np.abs(binary_cross_entropy_grad(z, t)) <= 1 / z.size * (1 + rtol))
    assert [_bits(a) for a in (z, labels, onehot, t, r)] == before


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernels_at_extremes(dtype):
    z = np.array([[1e4, -1e4], [-1e4, 1e4]], dtype)
    for name, y in (("softmax", np.array([0, 1])), ("sigmoid", np.array([[1, 0], [0, 1]])),
                    ("identity", np.zeros((2, 2)))):
        head = HEADS[name]
        y = head.targets(z, y, "y")
        value, grad, correct = head.kernel(z.copy(), y, True, True)
        assert math.isfinite(value) and grad.dtype == dtype and np.all(np.isfinite(grad))
        if head.classifies:
            assert correct == 2 == head.correct(z, y)


@settings(max_examples=50, deadline=None)
@pytest.mark.parametrize("name", sorted(HEADS))
@given(dtype=st.sampled_from(DTYPES), data=st.data())
def test_one_kernel_gives_the_same_bits_in_place_or_not(name, dtype, data):
    # The train step lets a kernel overwrite the logits it owns; the public functions do not.
    # Both must give the same value, gradient and count, and value-only calls the same value.
    head = HEADS[name]
    z, labels, onehot = data.draw(logits_with_labels(dtype, k=(2, 5)))
    y = {"softmax": data.draw(st.sampled_from([labels, onehot])),
         "sigmoid": data.draw(binary_targets(z.shape, dtype, soft=False)),
         "identity": data.draw(float_arrays(dtype, z.shape, bound=10.0))}[name]
    y = head.targets(z, y, "y")
    before = _bits(z), _bits(y)
    value, grad, correct = head.kernel(z, y, True, False)
    assert (_bits(z), _bits(y)) == before and not np.shares_memory(grad, z)
    owned = z.copy()
    value2, grad2, correct2 = head.kernel(owned, y, True, True)
    assert (value2, _bits(grad2), correct2) == (value, _bits(grad), correct)
    assert head.kernel(z, y, False, False) == (value, None, correct)
    assert grad.dtype == dtype
    assert correct == head.correct(z, y)
    if head.classifies:
        truth = (y if y.ndim == 1 else y.argmax(axis=1)) if name == "softmax" else y > 0.5
        hits = head.predict(z).reshape(len(z), -1) == np.reshape(truth, (len(z), -1))
        assert correct == int(np.count_nonzero(hits.all(axis=1)))


# --- bad input is named, and the caller's arrays survive it ---

Z23 = np.zeros((2, 3))
Z21 = np.zeros((2, 1))
BAD = {
    # name: (function, logits, targets, error, message start)
    "label too large": ("softmax_cross_entropy", Z23, np.array([0, 3]), ValueError,
                        r"labels: expected class labels in \[0, 2\], got values in \[0, 3\]"),
    "negative label": ("softmax_cross_entropy_grad", Z23, np.array([-1, 0]), ValueError,
                       r"labels: expected class labels in \[0, 2\]"),
    "float labels of shape (n,)": ("softmax_cross_entropy", Z23, np.array([0.0, 1.0]), ValueError,
                                   r"labels: expected integer labels of shape \(2,\) or one-hot"),
    "too many labels": ("softmax_cross_entropy", Z23, np.array([0, 1, 2]), ValueError,
                        r"labels: expected integer labels of shape \(2,\), got \(3,\)"),
    "labels of shape (n, 1)": ("softmax_cross_entropy_grad", Z23, np.array([[0], [1]]), ValueError,
                               r"labels: expected integer labels of shape \(2,\)"),
    "one-hot of the wrong width": ("softmax_cross_entropy", Z23, np.eye(4)[:2], ValueError,
                                   r"labels: expected .* of shape \(2, 3\), got float array of shape \(2, 4\)"),
    "NaN in one-hot": ("softmax_cross_entropy", Z23, np.array([[1.0, 0, 0], [np.nan, 0, 1]]), ValueError,
                       "labels: expected finite values, got 1 NaN among 6 values"),
    "rows not summing to 1": ("softmax_cross_entropy_grad", Z23, np.ones((2, 3)), ValueError,
                              r"labels: expected rows of non-negative probabilities summing to 1, .* \[3.0, 3.0\]"),
    "negative probability": ("softmax_cross_entropy", Z23, np.array([[1.5, -0.5, 0], [1, 0, 0]]), ValueError,
                             "labels: expected rows of non-negative probabilities .* down to -0.5"),
    "bool labels": ("softmax_cross_entropy", Z23, np.array([True, False]), TypeError,
                    "labels: expected integer labels or float one-hot rows, got dtype bool"),
    "string labels": ("softmax_cross_entropy", Z23, np.array(["a", "b"]), TypeError, "labels: expected integer"),
    "1-D logits": ("softmax_cross_entropy", np.zeros(3), np.array([0]), ValueError,
                   r"logits: expected a 2-D array \(rows, columns\), got shape \(3,\)"),
    "3-D logits": ("softmax_cross_entropy_grad", np.zeros((2, 3, 1)), np.array([0, 1]), ValueError,
                   "logits: expected a 2-D array"),
    "empty batch": ("softmax_cross_entropy", np.zeros((0, 3)), np.array([], int), ValueError,
                    r"logits: expected at least one row, got shape \(0, 3\)"),
    "no outputs": ("softmax_cross_entropy", np.zeros((2, 0)), np.array([0, 0]), ValueError,
                   r"logits: expected at least one column, got shape \(2, 0\)"),
    "integer logits": ("softmax_cross_entropy", np.zeros((2, 3), int), np.array([0, 1]), TypeError,
                       "logits: expected a float array, got dtype int64"),
    "NaN BCE target": ("binary_cross_entropy", Z21, np.array([0.0, np.nan]), ValueError,
                       r"targets: expected finite values, got 1 NaN among 2 values"),
    "BCE target 2": ("binary_cross_entropy_grad", Z21, np.array([0, 2]), ValueError,
                     r"targets: expected values in \[0, 1\], got values in \[0, 2\]"),
    "negative BCE target": ("binary_cross_entropy", Z21, np.array([-0.5, 1.0]), ValueError,
                            r"targets: expected values in \[0, 1\]"),
    "BCE targets of shape (n,) for 2 outputs": ("binary_cross_entropy", np.zeros((2, 2)), np.array([0, 1]),
                                                ValueError, r"targets: expected shape \(2, 2\)"),
    "BCE targets of the wrong length": ("binary_cross_entropy", Z21, np.array([0, 1, 1]), ValueError,
                                        r"targets: expected shape \(2, 1\) \(or \(2,\)\), got \(3,\)"),
    "string BCE targets": ("binary_cross_entropy", Z21, np.array(["0", "1"]), TypeError,
                           "targets: expected 0/1 numbers"),
    "1-D BCE logits": ("binary_cross_entropy", np.zeros(2), np.array([0, 1]), ValueError, "logits: expected a 2-D"),
    "NaN MSE target": ("mean_squared_error", Z21, np.array([np.nan, 0.0]), ValueError,
                       "targets: expected finite values, got 1 NaN"),
    "inf MSE target": ("mean_squared_error_grad", Z21, np.array([np.inf, 0.0]), ValueError,
                       "targets: expected finite values"),
    "MSE targets of the wrong shape": ("mean_squared_error", np.zeros((2, 2)), np.zeros(2), ValueError,
                                       r"targets: expected shape \(2, 2\)"),
    "1-D predictions": ("mean_squared_error", np.zeros(2), np.zeros(2), ValueError,
                        "predictions: expected a 2-D array"),
    "empty predictions": ("mean_squared_error_grad", np.zeros((0, 1)), np.zeros(0), ValueError,
                          "predictions: expected at least one row"),
    "integer predictions": ("mean_squared_error", np.zeros((2, 1), int), np.zeros(2), TypeError,
                            "predictions: expected a float array"),
    "NaN logits": ("softmax_cross_entropy", np.array([[0.0, np.nan, 1.0], [2.0, 0.0, np.nan]]),
                   np.array([0, 1]), ValueError,
                   r"logits: expected finite values, got 2 NaN among 6 values \(first at \[0, 1\]\)"),
    "inf logits, one-hot labels": ("softmax_cross_entropy_grad", np.array([[0.0, 0.0, 0.0], [0.0, np.inf, 0.0]]),
                                   np.eye(3)[[0, 1]], ValueError,
                                   r"logits: expected finite values, got 1 inf among 6 values \(first at \[1"),
    "-inf BCE logits": ("binary_cross_entropy", np.array([[-np.inf], [0.0]]), np.array([0, 1]), ValueError,
                        r"logits: expected finite values, got 1 -inf among 2 values \(first at \[0, 0\]\)"),
    "NaN BCE logits": ("binary_cross_entropy_grad", np.array([[0.0, np.nan]]), np.array([[0, 1]]), ValueError,
                       r"logits: expected finite values, got 1 NaN among 2 values"),
    "NaN and inf predictions": ("mean_squared_error", np.array([[np.nan], [np.inf], [-np.inf], [np.nan]]),
                                np.zeros(4), ValueError,
                                r"predictions: expected finite values, got 2 NaN, 1 inf and 1 -inf among 4"),
    "inf predictions": ("mean_squared_error_grad", np.array([[1.0, np.inf]]), np.zeros((1, 2)), ValueError,
                        r"predictions: expected finite values, got 1 inf among 2 values \(first at \[0, 1\]\)"),
    # The logits are looked at before the targets: the first error names the first argument.
    "NaN logits and bad labels": ("softmax_cross_entropy", np.full((2, 3), np.nan), np.array([5, 5]), ValueError,
                                  "logits: expected finite values, got 6 NaN"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_named_and_leaves_the_arrays_alone(case):
    name, z, y, error, message = BAD[case]
    z, y = z.copy(), y.copy()
    before = _bits(z), _bits(y)
    func = getattr(fn.losses, name)
    with pytest.raises(error, match="^" + message):
        func(z, y)
    assert (_bits(z), _bits(y)) == before


LOGITS_NAME = {"softmax_cross_entropy": "logits", "binary_cross_entropy": "logits",
               "mean_squared_error": "predictions"}


def _valid_targets(name, z):
    n, k = z.shape
    return {"softmax_cross_entropy": np.arange(n) % k, "binary_cross_entropy": np.ones((n, k)),
            "mean_squared_error": np.zeros((n, k))}[name]


@settings(max_examples=50, deadline=None)
@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("name", sorted(PAIRS))
@given(dtype=st.sampled_from(DTYPES), shape=batch_shapes(), data=st.data())
def test_non_finite_logits_are_counted_and_located(name, grad, dtype, shape, data):
    z = data.draw(float_arrays(dtype, shape, bound=LOGIT_BOUND))
    if name == "softmax_cross_entropy" and shape[1] < 2:
        z = np.concatenate([z, z], axis=1)
    cells = data.draw(st.lists(st.tuples(st.integers(0, z.shape[0] - 1), st.integers(0, z.shape[1] - 1)),
                               min_size=1, max_size=4, unique=True))
    bad = data.draw(st.lists(st.sampled_from([np.nan, np.inf, -np.inf]), min_size=len(cells),
                             max_size=len(cells)))
    for cell, v in zip(cells, bad):
        z[cell] = v
    y = _valid_targets(name, z)
    before = _bits(z), _bits(y)
    counts = [(sum(math.isnan(v) for v in bad), "NaN"), (bad.count(math.inf), "inf"),
              (bad.count(-math.inf), "-inf")]
    counts = [f"{c} {word}" for c, word in counts if c]
    listed = counts[0] if len(counts) == 1 else ", ".join(counts[:-1]) + " and " + counts[-1]
    row, col = min(cells)
    message = (f"^{LOGITS_NAME[name]}: expected finite values, got {listed} among {z.size} "
               f"values? \\(first at \\[{row}, {col}\\]\\)$")
    with pytest.raises(ValueError, match=message):
        PAIRS[name][1 if grad else 0](z, y)
    assert (_bits(z), _bits(y)) == before


@pytest.mark.parametrize("dtype", DTYPES)
def test_finite_logits_whose_sum_overflows_pass_the_check(dtype):
    # Logits near the dtype's largest value are finite, and so is every loss of them: the
    # finiteness check must not take them, or their overflowing sum, for an inf.
    big = np.finfo(dtype).max / 2
    z = np.array([[big, big, big]], dtype)
    assert softmax_cross_entropy(z, np.array([1])) == pytest.approx(math.log(3), rel=1e-6)
    np.testing.assert_allclose(softmax_cross_entropy_grad(z, np.array([1])), [[1 / 3, -2 / 3, 1 / 3]], rtol=1e-6)
    assert binary_cross_entropy(z, np.ones((1, 3))) == 0.0
    assert binary_cross_entropy(-z, np.zeros((1, 3))) == 0.0


@pytest.mark.parametrize("bad", ["softmx", "Softmax", "", None, 1])
def test_unknown_head_is_named(bad):
    with pytest.raises(ValueError if isinstance(bad, str) else TypeError, match=r"^output: expected one of \['identity', 'sigmoid', 'softmax'\], got "):
        get_head(bad)


def test_unknown_output_in_a_net_is_named():
    with pytest.raises(ValueError, match="^output: expected one of"):
        fn.Net((2, 3, 2), output="relu")


# --- purity on the success path; the tables ---


@pytest.mark.parametrize("dtype", DTYPES)
def test_callers_arrays_are_unchanged(dtype):
    z = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]], dtype)
    cases = {
        "softmax_cross_entropy": [np.array([2, 0]), np.eye(3, dtype=dtype)[[2, 0]]],
        "binary_cross_entropy": [np.array([[1, 0, 1], [0, 0, 1]]), np.full((2, 3), 0.25, dtype)],
        "mean_squared_error": [np.ones((2, 3), dtype), np.ones((2, 3), np.float64)],
    }
    for name, targets in cases.items():
        for y in targets:
            before = _bits(z), _bits(y)
            value, grad = PAIRS[name]
            value(z, y)
            g = grad(z, y)
            assert (_bits(z), _bits(y)) == before
            assert not np.shares_memory(g, z) and not np.shares_memory(g, y)


def test_heads_pair_each_link_with_its_loss():
    assert set(HEADS) == {"softmax", "sigmoid", "identity"}
    assert {h.loss_name for h in HEADS.values()} == set(PAIRS)
    z = np.array([[2.0, -1.0], [0.0, 3.0]])
    for name, head in HEADS.items():
        assert head.name == name and get_head(name) is head
        value, grad = PAIRS[head.loss_name]
        y = head.targets(z, np.array([[1.0, 0.0], [0.0, 1.0]]) if name != "softmax" else np.array([0, 1]), "y")
        assert head.kernel(z, y, False, False)[0] == value(z, y)
    np.testing.assert_allclose(HEADS["softmax"].link(z), fn.activations.softmax(z), rtol=1e-15)
    np.testing.assert_array_equal(HEADS["softmax"].predict(z), [0, 1])
    np.testing.assert_allclose(HEADS["sigmoid"].link(z), 1 / (1 + np.exp(-z)), rtol=1e-15)
    np.testing.assert_array_equal(HEADS["sigmoid"].predict(z), [[1, 0], [0, 1]])
    np.testing.assert_array_equal(HEADS["sigmoid"].predict(z[:, :1]), [1, 0])  # one output: (n,) labels
    assert HEADS["identity"].link(z) is z and not HEADS["identity"].classifies
    # Each matched pair's gradient is "prediction minus target", over the loss's normaliser.
    y = np.array([[1.0, 0.0], [0.0, 1.0]])
    for name, norm in (("softmax", 2), ("sigmoid", 4)):
        head = HEADS[name]
        np.testing.assert_allclose(head.kernel(z, y, True, False)[1], (head.link(z) - y) / norm, rtol=1e-14)
    np.testing.assert_allclose(HEADS["identity"].kernel(z, y, True, False)[1], 2 * (z - y) / 4, rtol=1e-15)
