"""Initializers: the variance each scheme promises, bounds, dtypes, determinism."""

from __future__ import annotations

import numpy as np
import pytest

import funcnet as fn
from funcnet.initializers import INITIALIZERS, default_init, get_initializer

N_IN, N_OUT = 400, 300
EXPECTED_STD = {
    "he_normal": np.sqrt(2 / N_IN),
    "he_uniform": np.sqrt(6 / N_IN) / np.sqrt(3),
    "xavier_normal": np.sqrt(2 / (N_IN + N_OUT)),
    "xavier_uniform": np.sqrt(6 / (N_IN + N_OUT)) / np.sqrt(3),
    "lecun_normal": np.sqrt(1 / N_IN),
    "lecun_uniform": np.sqrt(3 / N_IN) / np.sqrt(3),
}


@pytest.mark.parametrize("name", sorted(EXPECTED_STD))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scale_bounds_dtype_and_determinism(name, dtype):
    W = INITIALIZERS[name](fn.random.key(0), N_IN, N_OUT, dtype)
    assert W.shape == (N_IN, N_OUT) and W.dtype == dtype
    assert abs(W.std() / EXPECTED_STD[name] - 1) < 0.02
    assert abs(W.mean()) < 0.01 * EXPECTED_STD[name] * 10
    if name.endswith("uniform"):
        assert np.abs(W).max() <= EXPECTED_STD[name] * np.sqrt(3)
    np.testing.assert_array_equal(W, INITIALIZERS[name](fn.random.key(0), N_IN, N_OUT, dtype))


def test_glorot_is_xavier_and_auto_picks_by_activation():
    assert INITIALIZERS["glorot_normal"] is INITIALIZERS["xavier_normal"]
    assert default_init("relu") == "he_normal" and default_init("tanh") == "xavier_uniform"
    assert fn.Net((3, 4, 2), activation="sigmoid").init_scheme == "xavier_uniform"
    assert fn.Net((3, 4, 2), init="lecun_uniform").init_scheme == "lecun_uniform"
    with pytest.raises(ValueError, match="init: expected 'auto' or one of"):
        get_initializer("kaiming")
