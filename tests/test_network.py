"""Shapes, gradients (against finite differences), purity and bad input for the network core."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcnet as fn
from funcnet.testing import assert_pure, nets, problems, random_batch
from strategies import HIDDEN, OUTPUTS


def _copy(tree):
    return copy.deepcopy(tree)


def _same(a, b):
    """Same structure, and every leaf bitwise equal (NaN equal to NaN, dtypes equal)."""
    la, lb = fn.tree_leaves(a), fn.tree_leaves(b)
    if fn.tree_structure(a) != fn.tree_structure(b):
        return False
    for x, y in zip(la, lb):
        x, y = np.asarray(x), np.asarray(y)
        if x.dtype != y.dtype or x.tobytes() != y.tobytes():
            return False
    return True


# --- shapes ---


@given(problems(nets(depths=(1, 5), widths=(1, 9), dtypes=["float64"]), sizes=(1, 64)))
def test_every_output_and_gradient_has_its_shape(problem):
    net, params, X, y, key = problem
    assert fn.tree_structure(params) == net.shapes()
    logits = fn.forward(net, params, X)
    assert logits.shape == (len(X), net.sizes[-1])
    z, caches = fn.forward_train(net, params, X)
    assert z.shape == logits.shape and len(caches) == len(net.stack)
    for layer, width in enumerate(net.sizes[1:]):
        assert fn.forward(net, params, X, layer=layer).shape == (len(X), width)
    g = fn.grad(net, params, X, y)
    # grad mirrors the params' tree: same structure, shapes and dtypes.
    assert fn.tree_structure(g) == fn.tree_structure(params)
    assert [a.dtype for a in fn.tree_leaves(g)] == [a.dtype for a in fn.tree_leaves(params)]
    assert fn.predict_proba(net, params, X).shape == logits.shape


def test_init_shapes_and_schemes_for_a_deep_net():
    net = fn.Net((5, 7, 6, 4, 3, 2), activation="tanh")
    params = fn.init(fn.random.key(3), net)
    assert [p["W"].shape for p in params] == [(5, 7), (7, 6), (6, 4), (4, 3), (3, 2)]
    assert all(np.all(p["b"] == 0) for p in params)
    assert net.init_scheme == "xavier_uniform"
    for p in params:
        n_in, n_out = p["W"].shape
        assert np.abs(p["W"]).max() <= np.sqrt(6 / (n_in + n_out))


def test_init_is_a_function_of_the_key():
    net = fn.Net((4, 8, 3))
    assert _same(fn.init(fn.random.key(7), net), fn.init(fn.random.key(7), net))
    assert not _same(fn.init(fn.random.key(7), net), fn.init(fn.random.key(8), net))


# --- gradients against central differences ---


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("activation", HIDDEN)
@settings(max_examples=6)
@given(data=st.data())
def test_grad_matches_finite_differences(activation, output, data):
    net, params, X, y, key = data.draw(
        problems(nets(depths=(1, 4), widths=(1, 6), activations=[activation], outputs=[output], dtypes=["float64"]),
                 sizes=(1, 12))
    )
    assert fn.gradcheck(net, params, X, y) < 1e-6


@settings(max_examples=15)
@given(problems(nets(depths=(2, 4), widths=(2, 6), activations=["tanh", "gelu", "sigmoid", "softplus"],
                     batchnorm=None, dropout=(0.0, 0.25), dtypes=["float64"]), sizes=(3, 12)))
def test_grad_matches_finite_differences_with_batchnorm_dropout_and_l2(problem):
    net, params, X, y, key = problem
    # A fixed key fixes the dropout masks, so the loss is a smooth function of the params.
    assert fn.gradcheck(net, params, X, y, key=key, l2=0.3) < 1e-6


def test_gradcheck_catches_a_wrong_gradient(monkeypatch):
    net = fn.Net((3, 4, 2), activation="tanh", dtype="float64")
    params = fn.init(fn.random.key(0), net)
    X, y = np.random.default_rng(0).normal(size=(5, 3)), np.array([0, 1, 1, 0, 1])
    assert fn.gradcheck(net, params, X, y) < 1e-8
    act = fn.ACTIVATIONS["tanh"]
    broken = act._replace(vjp=lambda g, z, a: g * (1 - a))  # wrong derivative
    monkeypatch.setitem(fn.ACTIVATIONS, "tanh", broken)
    assert fn.gradcheck(net, params, X, y) > 1e-2


def test_l2_adds_its_gradient_exactly():
    net = fn.Net((3, 4, 2), dtype="float64")
    params = fn.init(fn.random.key(0), net)
    X, y = np.ones((2, 3)), np.array([0, 1])
    g0, g1 = fn.grad(net, params, X, y), fn.grad(net, params, X, y, l2=0.5)
    for a, b, p in zip(g0, g1, params):
        np.testing.assert_allclose(b["W"], a["W"] + 0.5 * p["W"], rtol=1e-12)
        np.testing.assert_array_equal(b["b"], a["b"])
    penalty = 0.25 * sum(float((p["W"] ** 2).sum()) for p in params)
    assert fn.loss(net, params, X, y, l2=0.5) == pytest.approx(fn.loss(net, params, X, y) + penalty)


# --- dropout and batch norm behaviour ---


def test_dropout_is_inverted_and_off_at_prediction():
    net = fn.Net((50, 400, 2), activation="relu", dropout=0.5, dtype="float64")
    params = fn.init(fn.random.key(0), net)
    X = np.abs(np.random.default_rng(0).normal(size=(200, 50)))
    _, caches = fn.forward_train(net, params, X, key=fn.random.key(1))
    where = [type(layer).__name__ for layer in net.stack].index("Dropout")
    mask = caches[where]  # what the dropout layer keeps for its backward pass
    assert set(np.unique(mask)) == {0.0, 2.0}  # kept units scaled by 1 / (1 - p)
    assert abs((mask == 0).mean() - 0.5) < 0.02
    # Same key, same mask; prediction is deterministic and uses no mask.
    _, again = fn.forward_train(net, params, X, key=fn.random.key(1))
    np.testing.assert_array_equal(again[where], mask)
    np.testing.assert_array_equal(fn.forward(net, params, X), fn.forward(net, params, X))
    with pytest.raises(TypeError, match="key"):
        fn.forward_train(net, params, X)


def test_batchnorm_normalises_in_training_and_uses_running_stats_in_evaluation():
    net = fn.Net((3, 6, 2), batchnorm=True, activation="identity", dtype="float64")
    params = fn.init(fn.random.key(0), net)
    assert sorted(params[0]) == ["W", "beta", "gamma"] and sorted(params[1]) == ["W", "b"]
    X = np.random.default_rng(1).normal(3.0, 2.0, size=(100, 3))
    _, caches = fn.forward_train(net, params, X)
    assert [type(layer).__name__ for layer in net.stack] == ["Dense", "BatchNorm", "Act", "Dense"]
    h = caches[3]  # the last Dense keeps its input: the batch-normalised first layer (gamma 1, beta 0)
    np.testing.assert_allclose(h.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(h.var(0), 1, atol=1e-3)
    stats = fn.init_stats(net)
    # Evaluation with the initial running stats (mean 0, var 1) is just the affine map.
    u = X @ params[0]["W"] / np.sqrt(1 + 1e-5)
    np.testing.assert_allclose(fn.forward(net, params, X, stats=stats), u @ params[1]["W"] + params[1]["b"])
    with pytest.raises(ValueError, match="stats"):
        fn.forward(net, params, X)


def test_update_stats_moves_the_running_statistics_by_the_momentum():
    net = fn.Net((3, 6, 2), batchnorm=True, dtype="float64")
    params = fn.init(fn.random.key(0), net)
    X = np.random.default_rng(1).normal(3.0, 2.0, size=(50, 3))
    stats = fn.init_stats(net)
    before = _copy(stats)
    _, caches = fn.forward_train(net, params, X)
    new = fn.update_stats(net, stats, caches)
    u = X @ params[0]["W"]  # what batch norm sees (no bias before it)
    # momentum 0.1 from mean 0 and variance 1; the variance taken unbiased, as PyTorch does
    np.testing.assert_allclose(new[0]["mean"], 0.1 * u.mean(0), rtol=1e-12)
    np.testing.assert_allclose(new[0]["var"], 0.9 + 0.1 * u.var(0, ddof=1), rtol=1e-12)
    assert new[1] == {} and _same(stats, before)
    # What a train step keeps.
    opt = fn.optim.sgd(0.1)
    state, _ = fn.train_step(net, opt, fn.TrainState(params, opt.init(params), stats), (X, np.zeros(50, int), None))
    assert _same(state.stats, new)
    # A net without batch norm keeps its empty statistics.
    plain = fn.Net((3, 4, 2))
    _, caches = fn.forward_train(plain, fn.init(fn.random.key(0), plain), X)
    assert fn.update_stats(plain, fn.init_stats(plain), caches) == ({}, {})


def test_update_stats_checks_its_arguments():
    net = fn.Net((3, 6, 2), batchnorm=True, dtype="float64")
    params = fn.init(fn.random.key(0), net)
    _, caches = fn.forward_train(net, params, np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"^stats: this net uses batch norm"):
        fn.update_stats(net, None, caches)
    with pytest.raises(TypeError, match=r"^caches: expected the tuple of 4 caches from forward_train, got"):
        fn.update_stats(net, fn.init_stats(net), list(caches))
    with pytest.raises(TypeError, match=r"^net: expected a funcnet.Net"):
        fn.update_stats(params, fn.init_stats(net), caches)


# --- purity ---


@settings(max_examples=15)
@given(problems(nets(depths=(1, 3), widths=(1, 9), batchnorm=None, dropout=(0.0, 0.25), dtypes=["float64"]),
                sizes=(1, 16)))
def test_public_calls_leave_arguments_bitwise_unchanged_and_repeat_exactly(problem):
    net, params, X, y, key = problem
    stats = fn.init_stats(net)
    grads = assert_pure(fn.grad, net, params, X, y, key=key, l2=0.1)
    assert_pure(fn.forward, net, params, X, stats=stats)
    assert_pure(fn.predict_proba, net, params, X, stats=stats)
    assert_pure(fn.forward_train, net, params, X, key=key)
    assert_pure(fn.loss, net, params, X, y, key=key, l2=0.1)
    assert_pure(fn.value_and_grad, net, params, X, y, key=key)
    assert_pure(fn.sgd_step, 0.1, params, grads)


def test_backward_leaves_dlogits_and_caches_unchanged():
    net = fn.Net((3, 5, 4, 2), activation="gelu", dropout=0.3, dtype="float64")
    params = fn.init(fn.random.key(0), net)
    X = np.random.default_rng(0).normal(size=(6, 3))
    _, caches = fn.forward_train(net, params, X, key=fn.random.key(2))
    d = np.random.default_rng(1).normal(size=(6, 2))
    leaves = lambda cs: [a for c in cs for a in (c if isinstance(c, tuple) else (c,)) if isinstance(a, np.ndarray)]
    before = _copy((d, leaves(caches)))
    g1 = fn.backward(net, params, caches, d)
    g2 = fn.backward(net, params, caches, d)
    assert _same(g1, g2)
    assert _same(before, (d, leaves(caches)))


# --- dtypes ---


@pytest.mark.parametrize("activation", HIDDEN)
@pytest.mark.parametrize("output", OUTPUTS)
def test_float32_stays_float32(activation, output):
    net = fn.Net((4, 6, 3), activation=activation, output=output, dtype="float32", batchnorm=True, dropout=0.2)
    params = fn.init(fn.random.key(0), net)
    X, y = random_batch(fn.random.key(1), net, 8)
    assert X.dtype == np.float32
    stats = fn.init_stats(net)
    assert fn.forward(net, params, X, stats=stats).dtype == np.float32
    assert fn.predict_proba(net, params, X, stats=stats).dtype == np.float32
    z, caches = fn.forward_train(net, params, X, key=fn.random.key(1))
    assert z.dtype == np.float32
    kept = [a for c in caches for a in (c if isinstance(c, tuple) else (c,)) if isinstance(a, np.ndarray)]
    assert kept and all(a.dtype == np.float32 for a in kept)
    g = fn.grad(net, params, X, y, key=fn.random.key(1), l2=0.01)
    assert {a.dtype for a in fn.tree_leaves(g)} == {np.dtype(np.float32)}


def test_extreme_inputs_stay_finite():
    for dtype in ("float32", "float64"):
        net = fn.Net((2, 4, 3), activation="tanh", dtype=dtype)
        params = fn.init(fn.random.key(0), net)
        X = np.array([[1e4, -1e4], [-1e4, 1e4]], dtype)
        g = fn.grad(net, params, X, np.array([0, 2]))
        assert all(np.isfinite(a).all() for a in fn.tree_leaves(g))
        assert np.isfinite(fn.loss(net, params, X, np.array([0, 2])))


# --- bad input ---


def _net_params_data():
    net = fn.Net((3, 4, 2))
    return net, fn.init(fn.random.key(0), net), np.ones((5, 3), np.float32), np.array([0, 1, 0, 1, 1])


@pytest.mark.parametrize(
    "kwargs, sizes_err",
    [
        (dict(sizes=(3, 0, 2)), "sizes"),
        (dict(sizes=(3,)), "sizes"),
        (dict(sizes="3,4"), "sizes"),
        (dict(sizes=(3, 4, 2), activation="relux"), "activation"),
        (dict(sizes=(3, 4, 2), output="softmx"), "output"),
        (dict(sizes=(3, 4, 1), output="softmax"), "sizes"),
        (dict(sizes=(3, 4, 2), init="kaiming"), "init"),
        (dict(sizes=(3, 4, 2), dtype="float16"), "dtype"),
        (dict(sizes=(3, 4, 2), dropout=1.0), "dropout"),
        (dict(sizes=(3, 4, 2), batchnorm="yes"), "batchnorm"),
    ],
)
def test_bad_architectures_are_named(kwargs, sizes_err):
    with pytest.raises((ValueError, TypeError), match=sizes_err):
        fn.Net(**kwargs)


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda X, y: (X[:, :2], y), r"X: expected 3 columns, got shape \(5, 2\)"),
        (lambda X, y: (X[:0], y[:0]), r"X: expected at least one row"),
        (lambda X, y: (X[0], y), r"X: expected a 2-D array"),
        (lambda X, y: (np.where(X > 0, np.nan, X), y), r"X: expected finite"),
        (lambda X, y: (np.full_like(X, np.inf), y), r"X: expected finite"),
        (lambda X, y: (X.astype(str), y), r"X: expected a numeric array"),
        (lambda X, y: (X, y + 5), r"y: expected class labels in \[0, 1\]"),
        (lambda X, y: (X, y - 1), r"y: expected class labels"),
        (lambda X, y: (X, y.astype(float)), r"y: expected integer labels"),
        (lambda X, y: (X, y[:3]), r"y: expected integer labels of shape \(5,\)"),
        (lambda X, y: (X, y.astype(str)), r"y: expected integer labels or float one-hot"),
    ],
)
def test_bad_data_raise_naming_the_argument_and_leave_it_unchanged(mutate, match):
    net, params, X, y = _net_params_data()
    Xb, yb = mutate(X, y)
    before = _copy((params, Xb, yb))
    with pytest.raises((ValueError, TypeError), match=match):
        fn.grad(net, params, Xb, yb)
    assert _same(before, (params, Xb, yb)) or Xb.dtype.kind == "U"


def test_bad_params_and_keys_are_named():
    net, params, X, y = _net_params_data()
    # The wrong structure (a layer dict too few, a key missing) is the wrong kind of params;
    # a wrong shape or dtype in the right structure is a wrong value.
    with pytest.raises(TypeError, match=r"^params: expected the structure of net.shapes\(\), .*, got \(\{'W': \*, 'b': \*\},\)$"):
        fn.forward(net, params[:1], X)
    bad = (dict(params[0], W=params[0]["W"].T), params[1])
    with pytest.raises(ValueError, match=r"params\[0\]\['W'\]: expected shape \(3, 4\)"):
        fn.forward(net, bad, X)
    with pytest.raises(TypeError, match=r"params: expected the structure of net.shapes\(\), .*, got \(.*, \{'W': \*\}\)"):
        fn.forward(net, (params[0], {"W": params[1]["W"]}), X)
    with pytest.raises(TypeError, match="params"):
        fn.forward(net, "params", X)
    mixed = (dict(params[0], b=params[0]["b"].astype(np.float64)), params[1])
    with pytest.raises(ValueError, match=r"params\[0\]\['b'\]: expected dtype float32, got float64"):
        fn.fit(net, mixed, X, y, key=fn.random.key(0))
    with pytest.raises(TypeError, match="key"):
        fn.init(0, net)
    with pytest.raises(TypeError, match="net"):
        fn.forward((3, 4, 2), params, X)
    with pytest.raises(ValueError, match="l2"):
        fn.grad(net, params, X, y, l2=-1.0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [(0, "W"), (1, "b")])
def test_non_finite_params_are_an_error_not_a_nan(bad, where):
    net, params, X, y = _net_params_data()
    i, k = where
    leaf = params[i][k].copy()
    leaf.flat[-1] = bad
    broken = tuple(dict(p, **({k: leaf} if j == i else {})) for j, p in enumerate(params))
    before = _copy(broken)
    what = {"nan": "NaN", "inf": "inf", "-inf": "-inf"}[str(bad)]
    msg = rf"params\[{i}\]\['{k}'\]: expected finite values, got 1 {what} among"
    for call in (lambda: fn.forward(net, broken, X), lambda: fn.loss(net, broken, X, y),
                 lambda: fn.grad(net, broken, X, y), lambda: fn.evaluate(net, broken, X, y),
                 lambda: fn.fit(net, broken, X, y, key=fn.random.key(0), epochs=1)):
        with pytest.raises(ValueError, match=msg):
            call()
    assert _same(before, broken)


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(["float32", "float64"]), st.sampled_from([np.nan, np.inf, -np.inf]),
       st.integers(0, 2047), st.integers(0, 63))
def test_a_non_finite_value_anywhere_in_a_large_X_is_found(dtype, bad, row, col):
    # Large inputs are checked through a BLAS product with ones, small ones through np.sum.
    net = fn.Net((64, 8, 2), dtype=dtype)
    params = fn.init(fn.random.key(0), net)
    X = np.random.default_rng(0).standard_normal((2048, 64)).astype(dtype)
    assert fn.forward(net, params, X).shape == (2048, 2)
    X[row, col] = bad
    with pytest.raises(ValueError, match="X: expected finite values"):
        fn.forward(net, params, X)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_finite_values_whose_sum_overflows_pass_the_finiteness_check(dtype):
    from funcnet.checks import all_finite

    big = np.full((512, 256), np.finfo(dtype).max / 4, dtype)
    assert all_finite(big) and all_finite(big[:, :100]) and all_finite(big[::3])
    big[300, 7] = np.nan
    assert not all_finite(big) and not all_finite(big[::3]) and all_finite(big[:, 8:])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_an_overflowing_forward_pass_is_an_error_not_a_nan(dtype):
    # Finite but huge weights: the logits overflow to inf, the loss would be NaN or inf.
    net = fn.Net((3, 4, 2), dtype=dtype)
    params = fn.init(fn.random.key(0), net)
    big = np.finfo(dtype).max / 4
    huge = ({"W": np.full((3, 4), big, dtype), "b": params[0]["b"]}, params[1])
    X, y = np.ones((5, 3), dtype), np.array([0, 1, 0, 1, 1])
    before = _copy((huge, X, y))
    for call in (lambda: fn.loss(net, huge, X, y), lambda: fn.value_and_grad(net, huge, X, y),
                 lambda: fn.grad(net, huge, X, y), lambda: fn.evaluate(net, huge, X, y)):
        with pytest.raises(FloatingPointError, match=rf"^loss: overflowed in {dtype} \(came out (nan|inf)\)"):
            call()
    assert _same(before, (huge, X, y))


def test_a_diverging_validation_loss_stops_fit_with_its_epoch():
    net = fn.Net((2, 4, 2), dtype="float64")
    params = fn.init(fn.random.key(0), net)
    params = (dict(params[0], W=np.ones((2, 4))), params[1])
    X, y = np.ones((8, 2)), np.array([0, 1] * 4)
    Xv = np.full((4, 2), 0.9 * np.finfo(np.float64).max)  # finite; 0.9 max + 0.9 max is not
    with pytest.raises(FloatingPointError, match=r"validation loss became .* after epoch 1"):
        fn.fit(net, params, X, y, key=fn.random.key(1), epochs=2, validation=(Xv, y[:4]))


def test_the_l2_penalty_of_huge_float32_weights_is_summed_without_overflow():
    # 2e19 squared overflows float32 (BLAS sdot sums in float32); the penalty itself is a
    # finite Python float, 0.5 * 1e-3 * 6 * 4e38.
    net = fn.Net((3, 2), output="identity")
    params = ({"W": np.full((3, 2), 2e19, np.float32), "b": np.zeros(2, np.float32)},)
    X, y = np.zeros((4, 3), np.float32), np.zeros((4, 2), np.float32)
    assert fn.loss(net, params, X, y) == 0.0
    assert fn.loss(net, params, X, y, l2=1e-3) == pytest.approx(0.5e-3 * 6 * float(np.float32(2e19)) ** 2)


# --- one place is enough for a new layer type ---


@dataclasses.dataclass(frozen=True)
class Scale(fn.layers.Layer):
    """A learned per-feature scale ``y = x * s``, defined here and nowhere in funcnet."""

    def shapes(self, n_in):
        return n_in, {"s": (n_in,)}

    def init(self, key, n_in, dtype):
        return {"s": np.ones(n_in, dtype)}

    def forward(self, params, x, ctx):
        return x * params["s"], x

    def backward(self, params, x, dy, need_dx):
        return dy * params["s"], {"s": np.einsum("ij,ij->j", dy, x)}


def _scaled_net(dtype="float64"):
    L = fn.layers
    return fn.Net.from_layers(2, [L.Dense(16), Scale(), L.Act("tanh"), L.Dense(2)], dtype=dtype)


def test_a_layer_defined_in_a_test_file_gradchecks_and_trains_through_fit():
    net = _scaled_net()
    params = fn.init(fn.random.key(0), net)
    # The scale sits beside W and b of the Dense before it: params stay one dict per Dense.
    assert fn.tree_structure(params) == ({"W": (2, 16), "b": (16,), "s": (16,)}, {"W": (16, 2), "b": (2,)})
    assert net.sizes == (2, 16, 2) and net.stack[1] == Scale()
    X, y = fn.datasets.moons(200, key=fn.random.key(1))
    rng = np.random.default_rng(0)
    bumped = (dict(params[0], s=rng.normal(1.0, 0.3, 16)), params[1])  # not all ones
    assert fn.gradcheck(net, bumped, X[:16], y[:16], l2=0.1) < 1e-7
    r = fn.fit(net, params, X, y, key=fn.random.key(2), optimizer=fn.optim.adam(0.02), epochs=60)
    assert fn.accuracy(net, r.params, X, y) > 0.97
    assert not np.array_equal(r.params[0]["s"], params[0]["s"])  # the scale itself learned
    # Every other path runs it too: evaluation, hidden representations, the checks.
    assert fn.forward(net, r.params, X, layer=0).shape == (200, 16)
    with pytest.raises(TypeError, match=r"params: expected the structure of net.shapes\(\)"):
        fn.forward(net, (params[0], params[1], params[1]), X)


def test_layers_of_one_dict_may_not_share_a_name():
    L = fn.layers
    with pytest.raises(ValueError, match=r"layers\[2\]: Scale names its param 's', which layers\[1\]"):
        fn.Net.from_layers(2, [L.Dense(3), Scale(), Scale(), L.Dense(2)])
