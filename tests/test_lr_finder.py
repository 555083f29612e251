"""The learning-rate range test: hand-worked smoothing, sensible suggestions on digits and
moons, determinism, untouched arguments, named errors."""

import numpy as np
import pytest
from sklearn.datasets import load_digits, make_moons

import funcnet as fn
from funcnet import optim
from funcnet.lr_finder import LRFindResult, _suggest, lr_find


def _line():
    net = fn.Net((1, 1), output="identity", dtype="float64")
    params = ({"W": np.zeros((1, 1)), "b": np.zeros(1)},)
    return net, params, np.array([[1.0], [2.0]]), np.array([2.0, 4.0])


def test_three_steps_by_hand():
    # Full batch, W = b = 0, MSE = mean((z - y)^2), dL/dz = 2 (z - y) / n.
    # step 0, lr 0.01: L0 = (4 + 16)/2 = 10; dW = -10, db = -6 -> W = 0.1, b = 0.06
    # step 1, lr 0.1:  z = (0.16, 0.26), L1 = (3.3856 + 13.9876)/2 = 8.6866;
    #                  dW = -9.32, db = -5.58 -> W = 1.032, b = 0.618
    # step 2, lr 1:    z = (1.65, 2.682), L2 = (0.1225 + 1.737124)/2 = 0.929812
    # smoothed (0.5): 10; (0.25*10 + 0.5*L1)/0.75 = 9.1244; (0.125*10 + 0.25*L1 + 0.5*L2)/0.875
    net, params, X, y = _line()
    r = lr_find(net, params, X, y, key=fn.random.key(0), batch_size=2, start=0.01, stop=1.0, steps=3, smooth=0.5)
    assert isinstance(r, LRFindResult)
    np.testing.assert_allclose(r.lrs, [0.01, 0.1, 1.0], rtol=1e-14)
    np.testing.assert_allclose(r.losses, [10.0, 9.1244, (1.25 + 0.25 * 8.6866 + 0.5 * 0.929812) / 0.875], rtol=1e-12)


def test_rates_rise_geometrically_and_the_run_stops_when_the_loss_blows_up():
    net, params, X, y = _line()
    r = lr_find(net, params, X, y, key=fn.random.key(0), start=1e-3, stop=1e3, steps=61, smooth=0.0)
    n = len(r.lrs)
    np.testing.assert_allclose(r.lrs, 1e-3 * 10.0 ** (np.arange(n) / 10), rtol=1e-12)
    # Past lr = 1/lambda_max of this quadratic each step multiplies the error, so the run
    # stops well before lr = 1000, at the first loss above 4x the best so far.
    assert n < 61
    best_so_far = np.minimum.accumulate(r.losses)
    assert r.losses[-1] > 4 * best_so_far[-2]
    assert np.all(r.losses[:-1] <= 4 * best_so_far[:-1])


def test_a_run_that_blows_up_at_once_still_suggests_something_smaller():
    net, params, X, y = _line()
    r = lr_find(net, params, X, y, key=fn.random.key(0), start=3.0, stop=1e4, steps=100, smooth=0.0)
    assert 1 <= len(r.lrs) < 10  # stopped long before the tenth step that the search skips
    assert r.suggestion < r.lrs[-1] / 5


def test_suggestion_is_the_steepest_fall_before_the_minimum():
    lrs = 10.0 ** np.linspace(-4, 1, 51)  # a tenth of a decade apart
    x = np.log10(lrs)
    losses = 1 - np.tanh(2 * (x + 1)) + np.where(x > 0, 5 * x**2, 0.0)  # steepest at lr = 0.1
    assert _suggest(lrs, losses, 5) == pytest.approx(0.1, rel=1e-12)
    # A loss that only rises after the skipped start: a decade below the rate at the minimum.
    assert _suggest(lrs, lrs.copy(), 5) == pytest.approx(lrs[5] / 10, rel=1e-12)


def _digits():
    d = load_digits()
    return (d.data / 16.0).astype(np.float32), d.target


@pytest.mark.parametrize("factory, low, high", [
    (optim.sgd, 0.1, 3.0),
    (optim.adam, 5e-3, 0.3),
    (lambda lr: optim.momentum(lr, 0.9), 0.03, 1.0),
])
@pytest.mark.parametrize("seed", [0, 1])
def test_sensible_suggestion_on_digits(factory, low, high, seed):
    X, y = _digits()
    net = fn.Net((64, 32, 10), activation="relu", dtype="float32")
    r = lr_find(net, fn.init(fn.random.key(seed), net), X, y, key=fn.random.key(seed + 10), optimizer_factory=factory)
    assert low <= r.suggestion <= high


def test_suggested_rate_trains_digits_better_than_a_much_smaller_one():
    X, y = _digits()
    net = fn.Net((64, 32, 10), activation="relu", dtype="float32")
    params = fn.init(fn.random.key(0), net)
    r = lr_find(net, params, X, y, key=fn.random.key(10))
    losses = [
        fn.fit(net, params, X, y, key=fn.random.key(1), optimizer=optim.sgd(lr), epochs=3).history["loss"][-1]
        for lr in (r.suggestion, r.suggestion / 100)
    ]
    assert losses[0] < 0.5 < losses[1]


@pytest.mark.parametrize("seed", [0, 1])
def test_sensible_suggestion_on_moons(seed):
    X, y = make_moons(400, noise=0.2, random_state=0)
    net = fn.Net((2, 16, 2), activation="tanh", dtype="float64")
    r = lr_find(net, fn.init(fn.random.key(seed), net), X, y, key=fn.random.key(seed + 10), start=1e-4, stop=100.0)
    assert 0.05 <= r.suggestion <= 10.0


def test_deterministic_and_arguments_unchanged():
    X, y = make_moons(200, noise=0.2, random_state=1)
    net = fn.Net((2, 8, 2), activation="relu", dtype="float64", dropout=0.25)
    params = fn.init(fn.random.key(0), net)
    copies = (X.copy(), y.copy(), [a.copy() for a in fn.tree_leaves(params)])
    a = lr_find(net, params, X, y, key=fn.random.key(3), steps=50)
    b = lr_find(net, params, X, y, key=fn.random.key(3), steps=50)
    c = lr_find(net, params, X, y, key=fn.random.key(4), steps=50)
    np.testing.assert_array_equal(a.lrs, b.lrs)
    np.testing.assert_array_equal(a.losses, b.losses)
    assert a.suggestion == b.suggestion
    assert not np.array_equal(a.losses[:10], c.losses[:10])
    np.testing.assert_array_equal(X, copies[0])
    np.testing.assert_array_equal(y, copies[1])
    for p, q in zip(fn.tree_leaves(params), copies[2]):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(start=0.0), ValueError, r"start: expected a finite number > 0, got 0.0 \(float\)"),
    (dict(start=1.0, stop=0.5), ValueError, "stop: expected a rate greater than start=1.0, got 0.5"),
    (dict(steps=1), ValueError, "steps: expected an integer >= 2, got 1"),
    (dict(smooth=1.0), ValueError, r"smooth: expected a finite number in \[0, 1\), got 1.0"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(optimizer_factory=optim.sgd(0.1)), TypeError, "optimizer_factory"),
    (dict(optimizer_factory=lambda lr: lr), TypeError, r"optimizer_factory\(schedule\): expected an optimizer .*, got Exponential\(lr=1e-05"),
    (dict(key=0), TypeError, "key"),
])
def test_bad_arguments_are_named(kwargs, error, match):
    net, params, X, y = _line()
    with pytest.raises(error, match=match):
        lr_find(net, params, X, y, **{"key": fn.random.key(0), **kwargs})
