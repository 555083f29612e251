"""Keys are values: the same key gives the same numbers, whatever the global random state."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from funcnet import random as rnd


@given(seed=st.integers(0, 2**40))
def test_keys_are_values(seed):
    assert rnd.key(seed) == rnd.key(seed)
    assert rnd.key(seed) != rnd.key(seed + 1)
    assert hash(rnd.key(seed)) == hash(rnd.key(seed))
    children = rnd.split(rnd.key(seed), 3)
    assert children == rnd.split(rnd.key(seed), 3) and len(set(children)) == 3
    assert rnd.key(seed) not in children
    assert rnd.fold_in(rnd.key(seed), 2) == rnd.fold_in(rnd.key(seed), 2) != rnd.fold_in(rnd.key(seed), 3)


SAMPLERS = [
    lambda k: rnd.normal(k, (4, 3)),
    lambda k: rnd.normal(k, 5, np.float32, std=2.0),
    lambda k: rnd.uniform(k, (2, 2), low=-1.0, high=3.0),
    lambda k: rnd.permutation(k, 10),
    lambda k: rnd.bernoulli(k, 0.3, 8),
]


@pytest.mark.parametrize("sample", SAMPLERS)
def test_samplers_ignore_global_state(sample):
    k = rnd.key(7)
    np.random.seed(1)
    a = sample(k)
    np.random.random(100)
    np.random.seed(2)
    b = sample(k)
    assert a.dtype == b.dtype and np.array_equal(a, b)
    assert not np.array_equal(sample(rnd.key(8)), a)


def test_dtypes_and_statistics():
    x = rnd.normal(rnd.key(0), 100_000, np.float32, std=2.0)
    assert x.dtype == np.float32 and abs(x.mean()) < 0.03 and abs(x.std() - 2.0) < 0.03
    u = rnd.uniform(rnd.key(1), 100_000, low=-1.0, high=3.0)
    assert u.min() >= -1.0 and u.max() < 3.0 and abs(u.mean() - 1.0) < 0.02
    b = rnd.bernoulli(rnd.key(2), 0.3, 100_000)
    assert b.dtype == bool and abs(b.mean() - 0.3) < 0.01
    p = rnd.permutation(rnd.key(3), 1000)
    assert sorted(p.tolist()) == list(range(1000))


@pytest.mark.parametrize("call, match", [
    (lambda: rnd.key(-1), "seed"),
    (lambda: rnd.key(True), "seed"),
    (lambda: rnd.key(1.5), "seed"),
    (lambda: rnd.split(0), "key"),
    (lambda: rnd.split(rnd.key(0), 0), "n: expected a positive integer"),
    (lambda: rnd.fold_in(rnd.key(0), -1), "data"),
    (lambda: rnd.normal(rnd.key(0), (2,), np.int32), "dtype"),
    (lambda: rnd.normal(rnd.key(0), (-1,)), "shape"),
    (lambda: rnd.uniform(rnd.key(0), 3, low=1.0, high=1.0), "high"),
    (lambda: rnd.bernoulli(rnd.key(0), 1.5, 3), "p: expected a probability"),
    (lambda: rnd.permutation(rnd.key(0), -2), "n"),
])
def test_bad_arguments_are_named(call, match):
    with pytest.raises((TypeError, ValueError), match=match):
        call()
