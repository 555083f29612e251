"""Activations: known values, derivatives against finite differences, stability, dtypes, purity."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import funcnet as fn
from funcnet.activations import ACTIVATIONS, get_activation, log_softmax, softmax

Z = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])


@pytest.mark.parametrize("name, expected", [
    ("relu", [0, 0, 0, 0.5, 2]),
    ("sigmoid", [0.119, 0.378, 0.5, 0.622, 0.881]),
    ("tanh", [-0.964, -0.462, 0, 0.462, 0.964]),
    ("leaky_relu", [-0.02, -0.005, 0, 0.5, 2]),
])
def test_known_values_from_the_issue(name, expected):
    np.testing.assert_array_equal(np.round(ACTIVATIONS[name].fn(Z), 3), expected)


def _reference(name, z):
    """Closed forms element by element with the math module: independent of numpy's paths."""
    if name == "gelu":
        return 0.5 * z * (1 + math.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z**3)))
    if name == "silu":
        return z / (1 + math.exp(-z))
    if name == "softplus":
        return math.log(1 + math.exp(z))
    if name == "identity":
        return z
    raise KeyError(name)


@pytest.mark.parametrize("name", ["gelu", "silu", "softplus", "identity"])
def test_closed_forms(name):
    got = ACTIVATIONS[name].fn(Z)
    np.testing.assert_allclose(got, [_reference(name, z) for z in Z], rtol=1e-12, atol=1e-15)


def test_softmax_and_log_softmax_closed_forms():
    z = np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 5.0]])
    for row, srow, lrow in zip(z, softmax(z), log_softmax(z)):
        total = sum(math.exp(v) for v in row)
        np.testing.assert_allclose(srow, [math.exp(v) / total for v in row], rtol=1e-12)
        np.testing.assert_allclose(lrow, [v - math.log(total) for v in row], rtol=1e-12)


away_from_kinks = hnp.arrays(np.float64, st.integers(1, 20),
                             elements=st.floats(-6, 6).filter(lambda v: abs(v) > 1e-3))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@given(z=away_from_kinks)
def test_derivative_matches_central_differences(name, z):
    act = ACTIVATIONS[name]
    h = 1e-6
    numeric = (act.fn(z + h) - act.fn(z - h)) / (2 * h)
    analytic = act.deriv(z, act.fn(z))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@given(z=hnp.arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 5)), elements=st.floats(-30, 30)),
       g=st.floats(-3, 3))
def test_in_place_fast_paths_equal_the_pure_functions(name, z, g):
    act = ACTIVATIONS[name]
    before = z.copy()
    a = act.fn(z)
    d = act.deriv(z, a)
    np.testing.assert_array_equal(z, before)  # fn and deriv never touch their input
    np.testing.assert_array_equal(act.fn_(z.copy()), a)
    grad = np.full_like(z, g)
    np.testing.assert_array_equal(act.vjp_(grad.copy(), z, a), grad * d)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_extremes_stay_finite_and_keep_dtype(name, dtype):
    act = ACTIVATIONS[name]
    z = np.array([-1e4, -100.0, -1.0, 0.0, 1.0, 100.0, 1e4], dtype)
    a = act.fn(z)
    d = act.deriv(z, a)
    assert a.dtype == dtype and d.dtype == dtype
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(d))
    if name in ("relu", "softplus", "silu", "gelu", "identity", "leaky_relu"):
        assert a[-1] == pytest.approx(1e4)  # these are ~z for large z
    if name in ("sigmoid", "tanh"):
        assert a[-1] == 1 and a[0] == (0 if name == "sigmoid" else -1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_stable_at_extremes(dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], dtype)
    p, lp = softmax(z), log_softmax(z)
    assert p.dtype == dtype and lp.dtype == dtype
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_array_equal(p[0], [1, 0, 0])
    np.testing.assert_allclose(p[1], [1 / 3] * 3, rtol=1e-6)
    assert np.all(np.isfinite(lp)) and lp[0, 1] == -2e4


def test_unknown_activation_is_named():
    with pytest.raises(ValueError, match=r"activation: expected one of .* got 'swish'"):
        get_activation("swish")
    with pytest.raises(ValueError, match="activation"):
        fn.Net((2, 3, 2), activation="swish")
