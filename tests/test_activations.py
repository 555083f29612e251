"""Activations: known values, derivatives against finite differences, stability, dtypes, purity."""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import LOGIT_BOUND, float_arrays

import funcnet as fn
from funcnet.activations import ACTIVATIONS, get_activation, log_softmax, softmax

NAMES = sorted(ACTIVATIONS)
DTYPES = [np.float32, np.float64]
Z = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])


def _bits(a):
    a = np.asarray(a)
    return a.dtype, a.shape, a.tobytes()


# --- known values ---


@pytest.mark.parametrize("name, expected", [
    ("relu", [0, 0, 0, 0.5, 2]),
    ("sigmoid", [0.119, 0.378, 0.5, 0.622, 0.881]),
    ("tanh", [-0.964, -0.462, 0, 0.462, 0.964]),
    ("leaky_relu", [-0.02, -0.005, 0, 0.5, 2]),
])
def test_known_values_from_the_issue(name, expected):
    np.testing.assert_array_equal(np.round(ACTIVATIONS[name].fn(Z), 3), expected)


def _math_reference(name, z):
    """Each closed form element by element with the math module, independent of numpy."""
    return {
        "identity": lambda: z,
        "relu": lambda: max(z, 0.0),
        "leaky_relu": lambda: z if z > 0 else 0.01 * z,
        "sigmoid": lambda: 1 / (1 + math.exp(-z)),
        "tanh": lambda: math.tanh(z),
        "gelu": lambda: 0.5 * z * (1 + math.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z**3))),
        "silu": lambda: z / (1 + math.exp(-z)),
        "softplus": lambda: math.log(1 + math.exp(z)),
    }[name]()


@pytest.mark.parametrize("name", NAMES)
def test_closed_forms_at_the_issue_points(name):
    got = ACTIVATIONS[name].fn(Z)
    np.testing.assert_allclose(got, [_math_reference(name, z) for z in Z], rtol=1e-13, atol=1e-16)


def test_gelu_silu_softplus_known_values():
    # Rounded values of the closed forms (GELU's tanh form as in PyTorch's approximate="tanh").
    np.testing.assert_allclose(ACTIVATIONS["gelu"].fn(Z), [-0.04540, -0.15429, 0, 0.34571, 1.95460], atol=1e-5)
    np.testing.assert_allclose(ACTIVATIONS["silu"].fn(Z), [-0.23841, -0.18877, 0, 0.31123, 1.76159], atol=1e-5)
    np.testing.assert_allclose(ACTIVATIONS["softplus"].fn(Z), [0.12693, 0.47408, math.log(2), 0.97408, 2.12693],
                               atol=1e-5)


def _dec_exp(x):
    return Decimal(x).exp()


def _decimal_reference(name, z):
    """The literal definitions at 400 significant digits: cancellation costs them nothing."""
    with localcontext() as ctx:
        ctx.prec = 400
        d = Decimal(z)
        if name == "sigmoid":
            r = 1 / (1 + _dec_exp(-d))
        elif name == "silu":
            r = d / (1 + _dec_exp(-d))
        elif name == "softplus":
            r = (1 + _dec_exp(d)).ln()
        elif name == "tanh":
            r = (_dec_exp(2 * d) - 1) / (_dec_exp(2 * d) + 1)
        elif name == "gelu":
            u = Decimal(math.sqrt(2 / math.pi)) * (d + Decimal("0.044715") * d**3)
            r = Decimal("0.5") * d * (1 + (_dec_exp(2 * u) - 1) / (_dec_exp(2 * u) + 1))
        return float(r)


@pytest.mark.parametrize("name", ["sigmoid", "silu", "softplus", "tanh", "gelu"])
def test_full_float64_precision_in_the_tails(name):
    # Down to where the value leaves float64's normal range: relative error of a few ulps, no
    # cancellation in 1 - s or 1 + tanh (which cost GELU all its digits below z = -8.5).
    z = np.concatenate([np.linspace(-20, 20, 161), [-35.0, -30.5, 30.5, 35.0]])
    if name == "gelu":
        z = z[z > -19.5]  # beyond, GELU's value is below 1e-250 and clipped to ~1e-301
    got = ACTIVATIONS[name].fn(z)
    ref = np.array([_decimal_reference(name, v) for v in z])
    np.testing.assert_allclose(got, ref, rtol=2e-13, atol=0)


def test_softmax_and_log_softmax_closed_forms():
    z = np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 5.0], [0.0, 0.0, 0.0], [-2.0, -0.5, 2.0]])
    for row, srow, lrow in zip(z, softmax(z), log_softmax(z)):
        total = sum(math.exp(v) for v in row)
        np.testing.assert_allclose(srow, [math.exp(v) / total for v in row], rtol=1e-14)
        np.testing.assert_allclose(lrow, [v - math.log(total) for v in row], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(softmax(z)[0], [0.09003057, 0.24472847, 0.66524096], rtol=1e-7)
    np.testing.assert_array_equal(softmax(z)[2], [1 / 3] * 3)
    np.testing.assert_allclose(softmax(z.T, axis=0), softmax(z).T, rtol=1e-15)
    np.testing.assert_allclose(log_softmax(z.T, axis=0), log_softmax(z).T, rtol=1e-15)
    np.testing.assert_allclose(softmax(Z), [math.exp(v) / sum(math.exp(w) for w in Z) for v in Z], rtol=1e-14)


# --- derivatives ---


def _rel_err(analytic, numeric, floor=1e-3):
    """|a - n| / max(|a|, |n|, floor): relative, and absolute below ``floor`` (a derivative of
    1e-9 is below the noise of any finite difference)."""
    return np.abs(analytic - numeric) / np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), floor)


# Away from the kinks of relu and leaky ReLU at 0 (by 1e-3, far more than the step below).
away_from_kinks = float_arrays(np.float64, bound=30.0, min_magnitude=1e-3)


@settings(max_examples=50, deadline=None)
@pytest.mark.parametrize("name", NAMES)
@given(z=away_from_kinks)
def test_derivative_matches_central_differences(name, z):
    act = ACTIVATIONS[name]
    h = 1e-5 * np.maximum(1.0, np.abs(z))
    zp, zm = z + h, z - h
    numeric = (act.fn(zp) - act.fn(zm)) / (zp - zm)  # the steps actually taken, after rounding
    analytic = act.deriv(z, act.fn(z))
    assert analytic.shape == z.shape and analytic.dtype == z.dtype
    assert np.max(_rel_err(analytic, numeric)) < 1e-6


@pytest.mark.parametrize("name", NAMES)
def test_derivative_worked_by_hand(name):
    z = np.array([-2.0, 0.5, 3.0])
    s = 1 / (1 + np.exp(-z))
    u = math.sqrt(2 / math.pi) * (z + 0.044715 * z**3)
    expected = {
        "identity": [1, 1, 1],
        "relu": [0, 1, 1],
        "leaky_relu": [0.01, 1, 1],
        "sigmoid": s * (1 - s),
        "tanh": 1 - np.tanh(z) ** 2,
        "gelu": 0.5 * (1 + np.tanh(u))
        + 0.5 * z * (1 - np.tanh(u) ** 2) * math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * z**2),
        "silu": s + z * s * (1 - s),
        "softplus": s,
    }[name]
    act = ACTIVATIONS[name]
    np.testing.assert_allclose(act.deriv(z, act.fn(z)), expected, rtol=1e-13)


@pytest.mark.parametrize("name", [n for n in NAMES if not ACTIVATIONS[n].needs_z])
def test_activations_that_say_so_need_only_the_output(name):
    # Training drops z for these; their derivative must come from the output alone.
    act = ACTIVATIONS[name]
    z = np.array([[-3.0, -0.1, 0.2, 4.0]])
    a = act.fn(z)
    np.testing.assert_array_equal(act.deriv(None, a), act.deriv(z, a))
    g = np.array([[1.0, -2.0, 3.0, -4.0]])
    np.testing.assert_array_equal(act.vjp(g.copy(), None, a), g * act.deriv(z, a))


# --- in-place fast paths against the pure functions; purity ---

fast_path_inputs = st.sampled_from(DTYPES).flatmap(
    lambda dt: st.tuples(float_arrays(dt, extremes=True), st.sampled_from(["C", "F"])))


@settings(max_examples=50, deadline=None)
@pytest.mark.parametrize("name", NAMES)
@given(zo=fast_path_inputs, data=st.data())
def test_in_place_fast_paths_give_the_same_bits_and_pure_paths_mutate_nothing(name, zo, data):
    # One function per activation: called in place on an array the training pass owns, it
    # gives the bits it gives out of place; the vector-Jacobian product is g times deriv.
    z, order = zo
    z = np.asarray(z, order=order)
    g = data.draw(float_arrays(z.dtype, z.shape, bound=10.0))
    act = ACTIVATIONS[name]
    z_before, g_before = _bits(z), _bits(g)
    a = act.fn(z)
    d = act.deriv(z, a)
    assert _bits(z) == z_before  # fn and deriv never touch their input
    a_before = _bits(a)
    assert _bits(act.fn(z.copy(), inplace=True)) == _bits(a)
    assert _bits(act.vjp(g.copy(), z, a)) == _bits(g * d)
    assert _bits(z) == z_before and _bits(a) == a_before and _bits(g) == g_before


@pytest.mark.parametrize("name", NAMES)
def test_scalars_and_integers_are_accepted_like_numpy(name):
    act = ACTIVATIONS[name]
    for v in (-1.5, 0.0, 2.0):
        assert float(act.fn(np.float64(v))) == float(act.fn(np.array([v]))[0])
        assert float(act.deriv(np.float64(v), act.fn(np.float64(v)))) == pytest.approx(
            float(act.deriv(np.array([v]), act.fn(np.array([v])))[0]), rel=1e-15)
    np.testing.assert_allclose(act.fn(np.array([-2, 0, 3])), act.fn(np.array([-2.0, 0.0, 3.0])), rtol=1e-15)


# --- stability at +-1e4, dtypes ---

EXTREMES = [-LOGIT_BOUND, -1e3, -100.0, -30.0, -1.0, 0.0, 1.0, 30.0, 100.0, 1e3, LOGIT_BOUND]

# Exact values at z = -1e4 and +1e4: (fn(-1e4), fn(1e4), deriv(-1e4), deriv(1e4)); None: only ~0.
AT_THE_EXTREMES = {
    "identity": (-1e4, 1e4, 1, 1),
    "relu": (0, 1e4, 0, 1),
    "leaky_relu": (-100, 1e4, 0.01, 1),
    "sigmoid": (0, 1, 0, 0),
    "tanh": (-1, 1, 0, 0),
    "gelu": (None, 1e4, None, 1),
    "silu": (0, 1e4, 0, 1),
    "softplus": (0, 1e4, 0, 1),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_extremes_stay_finite_exact_and_keep_dtype(name, dtype):
    act = ACTIVATIONS[name]
    z = np.array(EXTREMES, dtype)
    a = act.fn(z)
    d = act.deriv(z, a)
    assert a.dtype == dtype and d.dtype == dtype
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(d))
    got = (a[0], a[-1], d[0], d[-1])
    for value, want in zip(got, AT_THE_EXTREMES[name]):
        if want is None:
            assert abs(value) < 1e-30
        else:
            assert value == dtype(want)


@settings(max_examples=50, deadline=None)
@pytest.mark.parametrize("name", NAMES)
@given(z=st.sampled_from(DTYPES).flatmap(lambda dt: float_arrays(dt, extremes=True)))
def test_any_logit_up_to_1e4_gives_finite_values_of_its_own_dtype(name, z):
    act = ACTIVATIONS[name]
    a = act.fn(z)
    d = act.deriv(z, a)
    assert a.dtype == z.dtype and d.dtype == z.dtype and a.shape == z.shape
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(d))
    if name in ("sigmoid", "tanh"):
        assert np.all(np.abs(a) <= 1)
    if name in ("relu", "softplus", "sigmoid"):
        assert np.all(a >= 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_exact_at_extremes(dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4]], dtype)
    p, lp = softmax(z), log_softmax(z)
    assert p.dtype == dtype and lp.dtype == dtype
    np.testing.assert_array_equal(p[0], [1, 0, 0])
    np.testing.assert_allclose(p[1], [1 / 3] * 3, rtol=1e-6)
    np.testing.assert_allclose(p[2], [0.5, 0.5, 0], rtol=1e-6)
    np.testing.assert_array_equal(lp[0], np.array([0, -2e4, -1e4], dtype))
    np.testing.assert_allclose(lp[2], [-math.log(2), -math.log(2), -2e4 - math.log(2)], rtol=1e-6)


@settings(max_examples=50, deadline=None)
@given(z=st.sampled_from(DTYPES).flatmap(
    lambda dt: float_arrays(dt, st.tuples(st.integers(1, 6), st.integers(1, 6)), extremes=True)))
def test_softmax_rows_sum_to_one_for_any_logits_up_to_1e4(z):
    before = _bits(z)
    p, lp = softmax(z), log_softmax(z)
    tol = 1e-5 if z.dtype == np.float32 else 1e-12
    assert p.dtype == z.dtype and lp.dtype == z.dtype and p.shape == z.shape
    assert np.all(np.isfinite(p)) and np.all(np.isfinite(lp)) and np.all(lp <= 0)
    assert np.all((p >= 0) & (p <= 1))
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=tol)
    np.testing.assert_allclose(np.exp(lp), p, rtol=tol, atol=tol)
    assert np.all(p[np.arange(len(z)), z.argmax(axis=1)] >= 1 / z.shape[1] - tol)
    assert _bits(z) == before


@settings(max_examples=50, deadline=None)
@given(z=float_arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 5)), bound=50.0),
       shift=st.floats(-1e3, 1e3))
def test_softmax_ignores_a_shift_of_each_row(z, shift):
    np.testing.assert_allclose(softmax(z + shift), softmax(z), rtol=1e-9, atol=1e-300)
    np.testing.assert_allclose(log_softmax(z + shift) - log_softmax(z), 0, atol=1e-9 * (1 + abs(shift)))


# --- lookup ---


def test_table_is_consistent():
    assert NAMES == ["gelu", "identity", "leaky_relu", "relu", "sigmoid", "silu", "softplus", "tanh"]
    for name, act in ACTIVATIONS.items():
        assert act.name == name and get_activation(name) is act
        assert act.fn is getattr(fn.activations, name)


@pytest.mark.parametrize("bad", ["swish", "ReLU", "", None, 3, ("relu",)])
def test_unknown_activation_is_named(bad):
    # A name that is not in the table is a wrong value; anything but a string the wrong kind.
    with pytest.raises(ValueError if isinstance(bad, str) else TypeError,
                       match=r"^activation: expected one of \['gelu', .*'tanh'\], got "):
        get_activation(bad)


def test_unknown_activation_in_a_net_is_named():
    with pytest.raises(ValueError, match=r"^activation: expected one of .* got 'swish'"):
        fn.Net((2, 3, 2), activation="swish")
