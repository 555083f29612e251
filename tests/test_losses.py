"""Losses on logits: hand-worked values, gradients against finite differences, extremes, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

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


def test_cross_entropy_worked_by_hand():
    z = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    y = np.array([0, 2])
    lse0 = math.log(math.exp(2) + 1 + math.exp(-1))
    expected = ((lse0 - 2) + math.log(3)) / 2
    assert softmax_cross_entropy(z, y) == pytest.approx(expected, rel=1e-14)
    p0 = [math.exp(2) / math.exp(lse0), 1 / math.exp(lse0), math.exp(-1) / math.exp(lse0)]
    grad = softmax_cross_entropy_grad(z, y)
    np.testing.assert_allclose(grad, [[(p0[0] - 1) / 2, p0[1] / 2, p0[2] / 2], [1 / 6, 1 / 6, (1 / 3 - 1) / 2]])
    onehot = np.eye(3)[y]
    assert softmax_cross_entropy(z, onehot) == pytest.approx(expected, rel=1e-14)
    np.testing.assert_allclose(softmax_cross_entropy_grad(z, onehot), grad, rtol=1e-14)


def test_bce_and_mse_worked_by_hand():
    z = np.array([[0.0], [2.0]])
    y = np.array([1, 0])
    expected = (math.log(2) + math.log(1 + math.exp(2))) / 2
    assert binary_cross_entropy(z, y) == pytest.approx(expected, rel=1e-14)
    s = 1 / (1 + math.exp(-2))
    np.testing.assert_allclose(binary_cross_entropy_grad(z, y), [[(0.5 - 1) / 2], [s / 2]], rtol=1e-14)
    p, t = np.array([[1.0, 2.0], [3.0, 5.0]]), np.array([[0.0, 2.0], [1.0, 1.0]])
    assert mean_squared_error(p, t) == (1 + 0 + 4 + 16) / 4
    np.testing.assert_array_equal(mean_squared_error_grad(p, t), [[0.5, 0.0], [1.0, 2.0]])


logits = hnp.arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(2, 5)), elements=st.floats(-8, 8))


def _numeric(f, z, h=1e-6):
    g = np.zeros_like(z)
    for i in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[i] += h
        zm[i] -= h
        g[i] = (f(zp) - f(zm)) / (2 * h)
    return g


@given(z=logits, seed=st.integers(0, 1000))
def test_gradients_match_central_differences(z, seed):
    rng = np.random.default_rng(seed)
    n, k = z.shape
    y = rng.integers(0, k, n)
    np.testing.assert_allclose(softmax_cross_entropy_grad(z, y),
                               _numeric(lambda v: softmax_cross_entropy(v, y), z), rtol=1e-6, atol=1e-8)
    soft = rng.dirichlet(np.ones(k), n)
    np.testing.assert_allclose(softmax_cross_entropy_grad(z, soft),
                               _numeric(lambda v: softmax_cross_entropy(v, soft), z), rtol=1e-6, atol=1e-8)
    t = rng.integers(0, 2, z.shape)
    np.testing.assert_allclose(binary_cross_entropy_grad(z, t),
                               _numeric(lambda v: binary_cross_entropy(v, t), z), rtol=1e-6, atol=1e-8)
    r = rng.normal(size=z.shape)
    np.testing.assert_allclose(mean_squared_error_grad(z, r),
                               _numeric(lambda v: mean_squared_error(v, r), z), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", sorted(HEADS))
@given(z=logits, seed=st.integers(0, 1000))
def test_fused_training_kernels_equal_the_separate_ones(name, z, seed):
    head = HEADS[name]
    rng = np.random.default_rng(seed)
    y = {"softmax": rng.integers(0, z.shape[1], len(z)),
         "sigmoid": rng.integers(0, 2, z.shape).astype(float),
         "identity": rng.normal(size=z.shape)}[name]
    y = head.targets(z, y, "y")
    before = y.copy()
    value, grad, correct = head.loss.fused_(z.copy(), y)
    assert value == pytest.approx(head.loss.value(z, y), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(grad, head.loss.grad(z, y), rtol=1e-10, atol=1e-14)
    if head.classifies:
        pred = head.predict(z)
        truth = y if name == "softmax" else (y > 0.5).astype(int).reshape(pred.shape if pred.ndim > 1 else (-1,))
        hits = pred == truth
        assert correct == int(np.count_nonzero(hits if hits.ndim == 1 else hits.all(axis=1)))
    np.testing.assert_array_equal(y, before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extremes_stay_finite_exact_and_keep_dtype(dtype):
    z = np.array([[1e4, -1e4], [-1e4, 1e4]], dtype)
    assert softmax_cross_entropy(z, np.array([1, 1])) == pytest.approx(1e4)  # (2e4 + 0) / 2
    assert softmax_cross_entropy(z, np.array([0, 1])) == 0.0
    g = softmax_cross_entropy_grad(z, np.array([1, 1]))
    assert g.dtype == dtype and np.all(np.isfinite(g))
    np.testing.assert_array_equal(g, np.array([[0.5, -0.5], [0, 0]], dtype))
    zb = np.array([[1e4], [-1e4], [0.0]], dtype)
    tb = np.array([0.0, 1.0, 1.0])  # targets of exactly 0 and 1
    assert binary_cross_entropy(zb, tb) == pytest.approx((1e4 + 1e4 + math.log(2)) / 3, rel=1e-6)
    gb = binary_cross_entropy_grad(zb, tb)
    assert gb.dtype == dtype
    np.testing.assert_allclose(gb, np.array([[1 / 3], [-1 / 3], [-1 / 6]], dtype), rtol=1e-6)
    assert mean_squared_error_grad(zb, tb).dtype == dtype
    for name in HEADS:
        y = {"softmax": np.array([0, 1]), "sigmoid": np.array([[1, 0], [0, 1]]), "identity": np.zeros((2, 2))}[name]
        head = HEADS[name]
        v, gr, _ = head.loss.fused_(z.copy(), head.targets(z, y, "y"))
        assert math.isfinite(v) and gr.dtype == dtype and np.all(np.isfinite(gr))


@pytest.mark.parametrize("call, match", [
    (lambda: softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 3])), r"labels: expected class labels in \[0, 2\]"),
    (lambda: softmax_cross_entropy(np.zeros((2, 3)), np.array([0.0, 1.0])), r"labels: expected integer labels of shape \(2,\)"),
    (lambda: softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 1, 2])), r"labels: expected integer labels of shape \(2,\)"),
    (lambda: softmax_cross_entropy(np.zeros(3), np.array([0])), "logits: expected a 2-D array"),
    (lambda: softmax_cross_entropy(np.zeros((0, 3)), np.array([], int)), "logits: expected a non-empty batch"),
    (lambda: softmax_cross_entropy(np.zeros((2, 3), int), np.array([0, 1])), "logits: expected a float array"),
    (lambda: binary_cross_entropy(np.zeros((2, 1)), np.array([0.0, np.nan])), r"targets: expected values in \[0, 1\]"),
    (lambda: binary_cross_entropy(np.zeros((2, 1)), np.array([0, 2])), r"targets: expected values in \[0, 1\]"),
    (lambda: mean_squared_error(np.zeros((2, 2)), np.zeros(2)), r"targets: expected shape \(2, 2\)"),
    (lambda: mean_squared_error(np.zeros((2, 1)), np.array([np.inf, 0])), "targets: expected finite"),
    (lambda: get_head("softmx"), "output: expected one of"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_callers_arrays_are_unchanged():
    z = np.array([[1.0, -2.0, 0.5]])
    y = np.array([2])
    zc, yc = z.copy(), y.copy()
    softmax_cross_entropy(z, y)
    softmax_cross_entropy_grad(z, y)
    binary_cross_entropy(z, np.ones((1, 3)))
    mean_squared_error_grad(z, np.ones((1, 3)))
    np.testing.assert_array_equal(z, zc)
    np.testing.assert_array_equal(y, yc)
    assert fn.LOSSES.keys() == {"softmax_cross_entropy", "binary_cross_entropy", "mean_squared_error"}
