"""Initializers: the variance each scheme promises, bounds, dtypes, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcnet as fn
from funcnet.activations import ACTIVATIONS
from funcnet.initializers import INITIALIZERS, default_init, get_initializer

N_IN, N_OUT = 400, 300
DTYPES = [np.float32, np.float64]

# The formulas, written out again: normal schemes by their std, uniform ones by their limit.
NORMAL_STD = {
    "he_normal": lambda i, o: math.sqrt(2 / i),
    "xavier_normal": lambda i, o: math.sqrt(2 / (i + o)),
    "lecun_normal": lambda i, o: math.sqrt(1 / i),
}
UNIFORM_LIMIT = {
    "he_uniform": lambda i, o: math.sqrt(6 / i),
    "xavier_uniform": lambda i, o: math.sqrt(6 / (i + o)),
    "lecun_uniform": lambda i, o: math.sqrt(3 / i),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(NORMAL_STD))
def test_normal_schemes_have_the_promised_std(name, dtype):
    W = INITIALIZERS[name](fn.random.key(0), N_IN, N_OUT, dtype)
    assert W.shape == (N_IN, N_OUT) and W.dtype == dtype
    std = NORMAL_STD[name](N_IN, N_OUT)
    w = W.astype(np.float64)
    # 120 000 draws: the std is known to 0.2 %, the mean to 0.3 % of the std.
    assert abs(w.std() / std - 1) < 0.01
    assert abs(w.mean()) < 0.015 * std
    assert abs(np.mean(np.abs(w) < std) - 0.6827) < 0.01  # normal, not uniform, within one std


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(UNIFORM_LIMIT))
def test_uniform_schemes_respect_and_reach_their_limit(name, dtype):
    W = INITIALIZERS[name](fn.random.key(0), N_IN, N_OUT, dtype)
    assert W.shape == (N_IN, N_OUT) and W.dtype == dtype
    limit = UNIFORM_LIMIT[name](N_IN, N_OUT)
    w = W.astype(np.float64)
    assert np.all(np.abs(w) <= limit)
    assert w.max() > 0.999 * limit and w.min() < -0.999 * limit
    assert abs(w.std() / (limit / math.sqrt(3)) - 1) < 0.01
    assert abs(w.mean()) < 0.015 * limit
    assert abs(np.mean(np.abs(w) < limit / 2) - 0.5) < 0.01  # flat, not bell-shaped


@settings(max_examples=50, deadline=None)
@given(name=st.sampled_from(sorted(INITIALIZERS)), dtype=st.sampled_from(DTYPES),
       n_in=st.integers(1, 9), n_out=st.integers(1, 9), seed=st.integers(0, 2**32))
def test_any_size_gives_the_shape_dtype_and_bounds(name, dtype, n_in, n_out, seed):
    W = INITIALIZERS[name](fn.random.key(seed), n_in, n_out, dtype)
    assert W.shape == (n_in, n_out) and W.dtype == dtype and np.all(np.isfinite(W))
    base = name.replace("glorot", "xavier")
    if base in UNIFORM_LIMIT:
        assert np.all(np.abs(W.astype(np.float64)) <= UNIFORM_LIMIT[base](n_in, n_out))
    again = INITIALIZERS[name](fn.random.key(seed), n_in, n_out, dtype)
    assert again.tobytes() == W.tobytes()  # same key, same W


@pytest.mark.parametrize("name", sorted(INITIALIZERS))
def test_same_key_same_weights_other_key_other_weights(name):
    init = INITIALIZERS[name]
    np.random.seed(0)
    W = init(fn.random.key(1), 20, 10, np.float32)
    np.random.seed(1)  # the global state plays no part
    np.random.random(10)
    assert init(fn.random.key(1), 20, 10, np.float32).tobytes() == W.tobytes()
    assert not np.array_equal(init(fn.random.key(2), 20, 10, np.float32), W)


def test_the_scale_depends_on_fan_in_and_fan_out_as_written():
    k = fn.random.key(3)
    # He and LeCun look at fan-in only; Xavier at both: a scheme's draws for one key differ
    # from another size's only through that scale.
    a = INITIALIZERS["he_normal"](k, 200, 50, np.float64)
    b = INITIALIZERS["lecun_normal"](k, 200, 50, np.float64)
    np.testing.assert_allclose(a, b * math.sqrt(2), rtol=1e-15)
    c = INITIALIZERS["xavier_normal"](k, 200, 50, np.float64)
    np.testing.assert_allclose(c, b * math.sqrt(200 * 2 / 250), rtol=1e-15)
    u = INITIALIZERS["he_uniform"](k, 200, 50, np.float64)
    v = INITIALIZERS["lecun_uniform"](k, 200, 50, np.float64)
    np.testing.assert_allclose(u, v * math.sqrt(2), rtol=1e-12)


def test_glorot_is_xavier():
    assert INITIALIZERS["glorot_normal"] is INITIALIZERS["xavier_normal"]
    assert INITIALIZERS["glorot_uniform"] is INITIALIZERS["xavier_uniform"]
    assert set(INITIALIZERS) == set(NORMAL_STD) | set(UNIFORM_LIMIT) | {"glorot_normal", "glorot_uniform"}


def test_auto_picks_a_scheme_for_every_activation():
    for act in ACTIVATIONS:
        assert default_init(act) in INITIALIZERS
    assert [default_init(a) for a in ("relu", "leaky_relu", "gelu", "tanh", "sigmoid", "identity")] == [
        "he_normal", "he_normal", "he_normal", "xavier_uniform", "xavier_uniform", "lecun_normal"]
    assert fn.Net((3, 4, 2), activation="sigmoid").init_scheme == "xavier_uniform"
    assert fn.Net((3, 4, 2), init="lecun_uniform").init_scheme == "lecun_uniform"
    assert get_initializer("he_uniform") is INITIALIZERS["he_uniform"]


@pytest.mark.parametrize("bad", ["kaiming", "auto", "He_normal", "", None, 3])
def test_unknown_initializer_is_named(bad):
    with pytest.raises(ValueError if isinstance(bad, str) else TypeError, match=r"^init: expected one of \['glorot_normal', .*\], got "):
        get_initializer(bad)


@pytest.mark.parametrize("bad", ["swish", "", None])
def test_unknown_activation_for_auto_is_named(bad):
    with pytest.raises(TypeError if bad is None else ValueError,
                       match=r"^activation: expected one of \[.*'relu'.*\], got "):
        default_init(bad)


def test_unknown_init_in_a_net_is_named():
    with pytest.raises(ValueError, match=r"^init: expected one of \[.*'auto'"):
        fn.Net((3, 4, 2), init="kaiming")


# --- bad sizes are named; numpy integers are sizes too ---

BAD_SIZES = [
    # (value, error, what the message shows of it)
    (0, ValueError, "0"),
    (-3, ValueError, "-3"),
    (np.int64(0), ValueError, r"np.int64\(0\) \(int64\)"),
    (np.int32(-1), ValueError, r"np.int32\(-1\) \(int32\)"),
    (2.0, TypeError, r"2.0 \(float\)"),
    (2.5, TypeError, r"2.5 \(float\)"),
    (np.float64(3.0), TypeError, r"np.float64\(3.0\) \(float64\)"),
    (True, TypeError, "True"),
    (False, TypeError, "False"),
    (np.bool_(True), TypeError, r"np.True_ \(bool\)"),
    ("3", TypeError, "'3'"),
    (None, TypeError, "None"),
    ((3,), TypeError, r"\(3,\) \(tuple\)"),
]


@pytest.mark.parametrize("which", ["n_in", "n_out"])
@pytest.mark.parametrize("bad, error, shown", BAD_SIZES, ids=[repr(b[0]) for b in BAD_SIZES])
@pytest.mark.parametrize("name", sorted(INITIALIZERS))
def test_bad_sizes_are_named(name, bad, error, shown, which):
    k = fn.random.key(0)
    sizes = {"n_in": 4, "n_out": 3, which: bad}
    state = np.random.get_state()[1].tobytes()
    with pytest.raises(error, match=f"^{which}: expected an integer >= 1, got {shown}$"):
        INITIALIZERS[name](k, sizes["n_in"], sizes["n_out"], np.float32)
    # No arrays come in, so nothing of the caller's can change but the key, a value, and the
    # global random state, which an initializer never touches.
    assert k == fn.random.key(0) and np.random.get_state()[1].tobytes() == state


@pytest.mark.parametrize("name", sorted(INITIALIZERS))
def test_n_in_is_checked_before_n_out(name):
    with pytest.raises(ValueError, match="^n_in: "):
        INITIALIZERS[name](fn.random.key(0), 0, 0, np.float64)


@pytest.mark.parametrize("name", sorted(INITIALIZERS))
@pytest.mark.parametrize("int_type", [np.int8, np.int64, np.uint16, np.uint64])
def test_numpy_integer_sizes_give_the_same_weights_as_python_ints(name, int_type):
    k = fn.random.key(5)
    W = INITIALIZERS[name](k, int_type(7), int_type(3), np.float64)
    assert W.shape == (7, 3) and type(W.shape[0]) is int
    assert W.tobytes() == INITIALIZERS[name](k, 7, 3, np.float64).tobytes()
