"""The objective's reductions: sums of shards of any sizes combine to the whole batch's mean."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcnet as fn
from funcnet.testing import assert_pure


def _problem(output: str, targets: str = "labels", n: int = 11, l2: float = 0.03):
    net = fn.Net((3, 5, 4, 3), activation="tanh", output=output, dtype="float64")
    params = fn.init(fn.random.key(0), net)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, 3))
    if output == "softmax":
        y = rng.integers(0, 3, n) if targets == "labels" else rng.dirichlet(np.ones(3), n)
    elif output == "sigmoid":
        y = (rng.random((n, 3)) > 0.5).astype(float)
    else:
        y = rng.normal(size=(n, 3))
    return net, params, X, y, l2


def _combined(net, params, X, y, l2, cuts):
    """The sums of the shards between ``cuts``, added and divided by the count."""
    parts = [fn.value_and_grad(net, params, X[a:b], y[a:b], l2=l2, reduction="sum")
             for a, b in zip((0, *cuts), (*cuts, len(X)))]
    value = sum(v for v, _ in parts) / len(X)
    grads = fn.tree.tree_scale(1 / len(X), fn.tree.tree_add(*[g for _, g in parts]))
    return value, grads


@pytest.mark.parametrize("output, targets", [("softmax", "labels"), ("softmax", "probabilities"),
                                             ("sigmoid", "labels"), ("identity", "values")])
@pytest.mark.parametrize("cuts", [(1,), (1, 4), (3, 4, 10)])
def test_shard_sums_of_unequal_sizes_combine_to_the_full_batch_mean(output, targets, cuts):
    net, params, X, y, l2 = _problem(output, targets)
    value, grads = fn.value_and_grad(net, params, X, y, l2=l2)
    got_value, got_grads = _combined(net, params, X, y, l2, cuts)
    assert abs(got_value - value) <= 1e-12 * abs(value)
    for g, want in zip(fn.tree_leaves(got_grads), fn.tree_leaves(grads)):
        assert np.max(np.abs(g - want)) <= 1e-12 * np.max(np.abs(want))


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(["softmax", "sigmoid", "identity"]), st.integers(2, 40), st.data())
def test_any_cut_of_any_batch_combines_to_its_mean(output, n, data):
    net, params, X, y, l2 = _problem(output, n=n)
    cuts = sorted(data.draw(st.sets(st.integers(1, n - 1), min_size=1, max_size=min(5, n - 1))))
    value, grads = fn.value_and_grad(net, params, X, y, l2=l2)
    got_value, got_grads = _combined(net, params, X, y, l2, tuple(cuts))
    assert abs(got_value - value) <= 1e-12 * abs(value)
    for g, want in zip(fn.tree_leaves(got_grads), fn.tree_leaves(grads)):
        assert np.max(np.abs(g - want)) <= 1e-12 * np.max(np.abs(want))


def test_the_sum_counts_the_l2_term_once_per_sample_worked_by_hand():
    # test_train's hand-worked 2-2-1 net: one sample has loss 0.7569; its squared weights sum to
    # 0.01 + 0.04 + 0.09 + 0.16 + 0.25 + 0.36 = 0.91, so l2 = 0.1 adds 0.05 * 0.91 = 0.0455.
    from test_train import HAND_GRADS, HAND_NET, HAND_PARAMS, HAND_X, HAND_Y

    X, y = np.repeat(HAND_X, 2, axis=0), np.repeat(HAND_Y, 2)
    assert fn.loss(HAND_NET, HAND_PARAMS, X, y, reduction="sum") == pytest.approx(2 * 0.7569, abs=1e-12)
    value, grads = fn.value_and_grad(HAND_NET, HAND_PARAMS, X, y, l2=0.1, reduction="sum")
    assert value == pytest.approx(2 * 0.7569 + 2 * 0.0455, abs=1e-12)
    # dL/dW: twice the one sample's gradient, plus n * l2 * W = 0.2 W.
    want = fn.tree_map(lambda g, w: 2 * g + (0.2 * w if w.ndim == 2 else 0), HAND_GRADS, HAND_PARAMS)
    for g, w in zip(fn.tree_leaves(grads), fn.tree_leaves(want)):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-12)
    assert fn.grad(HAND_NET, HAND_PARAMS, X, y, l2=0.1, reduction="sum")[0]["W"].tolist() == grads[0]["W"].tolist()


@pytest.mark.parametrize("output", ["softmax", "sigmoid", "identity"])
def test_one_sample_gives_the_same_bits_summed_or_averaged(output):
    net, params, X, y, l2 = _problem(output, n=1)
    v_mean, g_mean = fn.value_and_grad(net, params, X, y, l2=l2)
    v_sum, g_sum = fn.value_and_grad(net, params, X, y, l2=l2, reduction="sum")
    assert v_sum == v_mean
    assert all(a.tobytes() == b.tobytes() for a, b in zip(fn.tree_leaves(g_sum), fn.tree_leaves(g_mean)))


def test_float32_sums_stay_float32_and_the_mean_path_is_unchanged():
    net = fn.Net((3, 4, 2), dtype="float32")
    params = fn.init(fn.random.key(0), net)
    X, y = np.ones((6, 3), np.float32), np.array([0, 1, 1, 0, 1, 0])
    _, g = fn.value_and_grad(net, params, X, y, reduction="sum")
    assert {a.dtype for a in fn.tree_leaves(g)} == {np.dtype(np.float32)}
    # "mean" is the default, argument or not.
    v1, g1 = fn.value_and_grad(net, params, X, y)
    v2, g2 = fn.value_and_grad(net, params, X, y, reduction="mean")
    assert v1 == v2 and all(a.tobytes() == b.tobytes() for a, b in zip(fn.tree_leaves(g1), fn.tree_leaves(g2)))


def test_the_sum_reduction_is_pure():
    net, params, X, y, l2 = _problem("softmax")
    assert_pure(fn.value_and_grad, net, params, X, y, l2=l2, reduction="sum")


def test_a_bad_reduction_is_named():
    net, params, X, y, _ = _problem("identity")
    with pytest.raises(ValueError, match=r"^reduction: expected one of \['mean', 'sum'\], got 'total'$"):
        fn.value_and_grad(net, params, X, y, reduction="total")
    with pytest.raises(TypeError, match=r"^reduction: expected one of \['mean', 'sum'\], got None$"):
        fn.loss(net, params, X, y, reduction=None)
    with pytest.raises(ValueError, match=r"^reduction: "):
        fn.grad(net, params, X, y, reduction="Sum")
