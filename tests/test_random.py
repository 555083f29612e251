"""Keys are values: the same key gives the same numbers, whatever the global random state."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funcnet import random as rnd

seeds = st.integers(0, 2**64)


def _same_bits(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# --- keys ---


@settings(max_examples=50, deadline=None)
@given(seed=seeds)
def test_equal_seeds_give_equal_keys_and_different_seeds_different_ones(seed):
    k = rnd.key(seed)
    assert isinstance(k, rnd.Key) and k == rnd.key(seed) and hash(k) == hash(rnd.key(seed))
    if seed < 2**64:
        assert k == rnd.key(np.uint64(seed))  # numpy integers are seeds too
    assert len(k.words) == 4 and all(isinstance(w, int) and 0 <= w < 2**32 for w in k.words)
    assert k != rnd.key(seed + 1)


def test_a_thousand_seeds_give_a_thousand_keys():
    assert len({rnd.key(s) for s in range(1000)}) == 1000


@settings(max_examples=50, deadline=None)
@given(seed=seeds, n=st.integers(1, 8))
def test_split_is_deterministic_and_its_children_distinct(seed, n):
    k = rnd.key(seed)
    children = rnd.split(k, n)
    assert isinstance(children, tuple) and len(children) == n
    assert all(isinstance(c, rnd.Key) for c in children)
    assert children == rnd.split(rnd.key(seed), n)  # a fresh, equal key: the same children
    assert len(set(children)) == n and k not in children
    assert k == rnd.key(seed)  # the parent is a value: unchanged
    assert rnd.split(k) == rnd.split(k, 2)


@settings(max_examples=50, deadline=None)
@given(seed=seeds, data=st.integers(0, 2**40))
def test_fold_in_is_deterministic_and_distinct(seed, data):
    k = rnd.key(seed)
    f = rnd.fold_in(k, data)
    assert isinstance(f, rnd.Key) and f == rnd.fold_in(rnd.key(seed), data)
    assert f == rnd.fold_in(k, np.int64(data))
    assert f != rnd.fold_in(k, data + 1) and f != k
    assert f not in rnd.split(k, 4)  # folding in and splitting never hand out the same key


def test_fold_in_over_many_steps_never_repeats():
    k = rnd.key(0)
    assert len({rnd.fold_in(k, i) for i in range(1000)}) == 1000
    assert len({rnd.fold_in(c, 0) for c in rnd.split(k, 100)}) == 100


def test_child_keys_give_uncorrelated_streams():
    a, b = rnd.split(rnd.key(3))
    x, y = rnd.normal(a, 100_000), rnd.normal(b, 100_000)
    # The correlation of independent samples has standard error 1/sqrt(n) = 0.003.
    assert abs(np.corrcoef(x, y)[0, 1]) < 0.015
    x2 = rnd.normal(rnd.fold_in(a, 1), 100_000)
    assert abs(np.corrcoef(x, x2)[0, 1]) < 0.015


# --- samplers are pure functions of the key ---

SAMPLERS = {
    "normal64": lambda k: rnd.normal(k, (4, 3)),
    "normal32": lambda k: rnd.normal(k, 5, np.float32, std=2.0),
    "uniform64": lambda k: rnd.uniform(k, (2, 2), low=-1.0, high=3.0),
    "uniform32": lambda k: rnd.uniform(k, 7, "float32", low=0.5, high=0.75),
    "permutation": lambda k: rnd.permutation(k, 10),
    "bernoulli": lambda k: rnd.bernoulli(k, 0.3, (3, 8)),
    "generator": lambda k: rnd.generator(k).integers(0, 2**62, 4),
}


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_samplers_are_pure_and_ignore_numpy_global_state(name):
    sample = SAMPLERS[name]
    k = rnd.key(7)
    np.random.seed(1)
    first = sample(k)
    np.random.seed(12345)
    np.random.random(1000)  # move the global stream along: nothing here may notice
    second = sample(k)
    third = sample(rnd.key(7))
    assert _same_bits(first, second) and _same_bits(first, third)
    assert not np.array_equal(sample(rnd.key(8)), first)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_samplers_leave_numpy_global_state_alone(name):
    np.random.seed(99)
    before = np.random.get_state()
    SAMPLERS[name](rnd.key(0))
    after = np.random.get_state()
    assert before[0] == after[0] and np.array_equal(before[1], after[1]) and before[2:] == after[2:]


def test_generator_is_fresh_every_call():
    k = rnd.key(5)
    g = rnd.generator(k)
    first = g.random(3)
    g.random(100)  # advancing one generator does not advance the next one made from k
    assert _same_bits(rnd.generator(k).random(3), first)
    assert rnd.generator(k) is not rnd.generator(k)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, "float32", "float64", np.dtype("float32")])
def test_dtypes_and_shapes_are_honoured(dtype):
    k = rnd.key(0)
    for x in (rnd.normal(k, (3, 4), dtype), rnd.uniform(k, (3, 4), dtype), rnd.normal(k, (3, 4), dtype, std=0.5)):
        assert x.dtype == np.dtype(dtype) and x.shape == (3, 4)
    assert rnd.normal(k, 5, dtype).shape == (5,)
    assert rnd.normal(k, (), dtype).shape == ()
    assert rnd.uniform(k, (0, 3), dtype).shape == (0, 3)
    assert rnd.normal(k, [np.int64(2), 3], dtype).shape == (2, 3)


def test_other_samplers_return_ints_and_bools():
    k = rnd.key(0)
    p = rnd.permutation(k, 6)
    assert p.dtype == np.int64 and p.shape == (6,)
    assert rnd.permutation(k, 0).shape == (0,)
    b = rnd.bernoulli(k, 0.5, (2, 3))
    assert b.dtype == bool and b.shape == (2, 3)


def test_float32_is_sampled_natively_not_rounded_from_float64():
    k = rnd.key(4)
    x32 = rnd.normal(k, 1000, np.float32)
    x64 = rnd.normal(k, 1000, np.float64)
    # A float32 stream of its own, not float64 draws cast down.
    assert not np.array_equal(x32, x64.astype(np.float32))


@given(seed=st.integers(0, 2**32), std=st.floats(0.0, 1e3, allow_subnormal=False))
def test_std_scales_the_standard_draws_exactly(seed, std):
    k = rnd.key(seed)
    assert _same_bits(rnd.normal(k, 50, std=std), rnd.normal(k, 50) * std)


@given(seed=st.integers(0, 2**32), low=st.floats(-100, 100), width=st.floats(1e-3, 100))
def test_uniform_is_an_affine_map_of_the_unit_draws(seed, low, width):
    k = rnd.key(seed)
    unit = rnd.uniform(k, 50)
    x = rnd.uniform(k, 50, low=low, high=low + width)
    np.testing.assert_allclose(x, low + width * unit, rtol=1e-12, atol=1e-12 * (abs(low) + width))


# --- bounds hold for every sample, including when rounding would land on high ---


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32), dtype=st.sampled_from(["float32", "float64"]),
       low=st.floats(-1e6, 1e6), ulps=st.floats(1.01, 50))
def test_uniform_respects_bounds_even_for_intervals_a_few_ulps_wide(seed, dtype, low, ulps):
    # low + (high - low) * u rounds onto high (or, in float32, just below low) for a real
    # fraction of draws when the interval is only a few float steps wide.
    dt = np.dtype(dtype)
    step = abs(float(np.spacing(dt.type(low))))
    # At least one float step wide (the larger step, should the interval cross a power of 2),
    # so there is a value of dtype in [low, high).
    high = low + ulps * max(step, abs(float(np.spacing(dt.type(low + ulps * step)))))
    x = rnd.uniform(rnd.key(seed), 2000, dt, low=low, high=high)
    assert x.dtype == dt
    assert x.min() >= low and x.max() < high


def test_uniform_bounds_where_rounding_used_to_reach_high():
    # float32(1 + 8.6 ulp) is 1 + 9 ulp > high: ~1% of the unclamped draws landed there.
    high = 1 + 8.6 * 2.0**-23
    x = rnd.uniform(rnd.key(0), 10_000, np.float32, low=1.0, high=high)
    assert x.max() < high and x.min() >= 1.0
    assert np.count_nonzero(x == np.nextafter(np.float32(high), np.float32(0))) > 100
    y = rnd.uniform(rnd.key(0), 10_000, np.float64, low=1.0, high=1 + 8.6 * 2.0**-52)
    assert y.max() < 1 + 8.6 * 2.0**-52 and y.min() >= 1.0


# --- statistics ---


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normal_statistics(dtype):
    n = 100_000
    x = rnd.normal(rnd.key(0), n, dtype, std=2.0).astype(np.float64)
    # Standard errors: mean 2/sqrt(n) = 0.0063, std 2/sqrt(2n) = 0.0045; bounds are ~5 of them.
    assert abs(x.mean()) < 0.03 and abs(x.std() - 2.0) < 0.025
    assert abs(np.mean(np.abs(x) < 2.0) - 0.6827) < 0.01  # the share within one std
    assert abs(np.mean(x**4) / np.mean(x**2) ** 2 - 3.0) < 0.1  # kurtosis of a normal


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_uniform_statistics(dtype):
    x = rnd.uniform(rnd.key(1), 100_000, dtype, low=-1.0, high=3.0).astype(np.float64)
    assert x.min() >= -1.0 and x.max() < 3.0
    assert x.min() < -0.999 and x.max() > 2.999  # the whole interval is reached
    assert abs(x.mean() - 1.0) < 0.02 and abs(x.var() - 16 / 12) < 0.02
    counts = np.histogram(x, bins=8, range=(-1, 3))[0]
    assert counts.min() > 12_500 * 0.95 and counts.max() < 12_500 * 1.05


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_bernoulli_frequency(p):
    b = rnd.bernoulli(rnd.key(2), p, 100_000)
    if p in (0.0, 1.0):
        assert b.all() if p == 1.0 else not b.any()  # exactly, not approximately
    else:
        assert abs(b.mean() - p) < 5 * math.sqrt(p * (1 - p) / 100_000)


def test_permutation_is_a_permutation_and_uniform():
    p = rnd.permutation(rnd.key(3), 1000)
    assert sorted(p.tolist()) == list(range(1000)) and not np.array_equal(p, np.arange(1000))
    counts = {}
    for i in range(600):
        perm = tuple(rnd.permutation(rnd.fold_in(rnd.key(3), i), 3).tolist())
        counts[perm] = counts.get(perm, 0) + 1
    # All 6 orders of 3 items, each about 100 times (standard deviation ~9).
    assert len(counts) == 6 and min(counts.values()) > 60 and max(counts.values()) < 140


# --- bad arguments name themselves ---

K = rnd.key(0)
BAD = {
    "negative seed": (lambda: rnd.key(-1), ValueError, "seed"),
    "bool seed": (lambda: rnd.key(True), TypeError, "seed"),
    "numpy bool seed": (lambda: rnd.key(np.bool_(True)), TypeError, "seed"),
    "float seed": (lambda: rnd.key(1.5), TypeError, "seed"),
    "string seed": (lambda: rnd.key("3"), TypeError, "seed"),
    "None seed": (lambda: rnd.key(None), TypeError, "seed"),
    "split of an int": (lambda: rnd.split(0), TypeError, "k"),
    "split of bare words": (lambda: rnd.split(tuple(K.words)), TypeError, "k"),
    "split into 0": (lambda: rnd.split(K, 0), ValueError, "n"),
    "split into 2.0": (lambda: rnd.split(K, 2.0), TypeError, "n"),
    "split into True": (lambda: rnd.split(K, True), TypeError, "n"),
    "fold in -1": (lambda: rnd.fold_in(K, -1), ValueError, "data"),
    "fold in 1.5": (lambda: rnd.fold_in(K, 1.5), TypeError, "data"),
    "fold into None": (lambda: rnd.fold_in(None, 1), TypeError, "k"),
    "generator of an int": (lambda: rnd.generator(42), TypeError, "k"),
    "normal of an int": (lambda: rnd.normal(42, 3), TypeError, "k"),
    "int32 dtype": (lambda: rnd.normal(K, (2,), np.int32), ValueError, "dtype"),
    "float16 dtype": (lambda: rnd.normal(K, (2,), np.float16), ValueError, "dtype"),
    "unknown dtype": (lambda: rnd.normal(K, 3, "foo"), TypeError, "dtype"),
    "negative size": (lambda: rnd.normal(K, (-1,)), ValueError, "shape"),
    "float size": (lambda: rnd.normal(K, (2.5, 3)), TypeError, "shape"),
    "bool size": (lambda: rnd.normal(K, (True, 3)), TypeError, "shape"),
    "string shape": (lambda: rnd.normal(K, "ab"), TypeError, "shape"),
    "negative std": (lambda: rnd.normal(K, 3, std=-1.0), ValueError, "std"),
    "nan std": (lambda: rnd.normal(K, 3, std=math.nan), ValueError, "std"),
    "string std": (lambda: rnd.normal(K, 3, std="1"), TypeError, "std"),
    "empty interval": (lambda: rnd.uniform(K, 3, low=1.0, high=1.0), ValueError, "high"),
    "reversed interval": (lambda: rnd.uniform(K, 3, low=2.0, high=1.0), ValueError, "high"),
    "infinite high": (lambda: rnd.uniform(K, 3, low=0.0, high=math.inf), ValueError, "high"),
    "nan low": (lambda: rnd.uniform(K, 3, low=math.nan, high=1.0), ValueError, "low"),
    "None low": (lambda: rnd.uniform(K, 3, low=None, high=1.0), TypeError, "low"),
    "beyond float32 range": (lambda: rnd.uniform(K, 3, np.float32, low=-3e38, high=3e38), ValueError, "high"),
    "no float32 inside": (lambda: rnd.uniform(K, 3, np.float32, low=1.0, high=1.0 + 1e-9), ValueError, "high"),
    "uniform of an int": (lambda: rnd.uniform(7, 3), TypeError, "k"),
    "p above 1": (lambda: rnd.bernoulli(K, 1.5, 3), ValueError, "p"),
    "p below 0": (lambda: rnd.bernoulli(K, -0.1, 3), ValueError, "p"),
    "nan p": (lambda: rnd.bernoulli(K, math.nan, 3), ValueError, "p"),
    "string p": (lambda: rnd.bernoulli(K, "0.5", 3), TypeError, "p"),
    "bool p": (lambda: rnd.bernoulli(K, True, 3), TypeError, "p"),
    "bernoulli of a string": (lambda: rnd.bernoulli("k", 0.5, 3), TypeError, "k"),
    "negative n": (lambda: rnd.permutation(K, -2), ValueError, "n"),
    "float n": (lambda: rnd.permutation(K, 2.5), TypeError, "n"),
    "permutation of a list": (lambda: rnd.permutation([1, 2], 3), TypeError, "k"),
    # A Key built by hand around anything but four 32-bit words: Key(None) made NumPy draw
    # OS entropy, so one "key" gave different numbers on every call.
    "hand-made Key(None)": (lambda: rnd.normal(rnd.Key(None), 3), ValueError, "k"),
    "hand-made short key": (lambda: rnd.split(rnd.Key((1, 2))), ValueError, "k"),
    "hand-made huge word": (lambda: rnd.fold_in(rnd.Key((1, 2, 3, 2**40)), 1), ValueError, "k"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_arguments_raise_naming_the_argument(case):
    call, error, name = BAD[case]
    with pytest.raises(error, match=rf"^{name}: expected"):
        call()
