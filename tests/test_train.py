"""fit and the train step: a step worked by hand, learning, reproducibility, purity, memory."""

from __future__ import annotations

import copy
import json
import tracemalloc

import numpy as np
import pytest

import funcnet as fn
from test_network import _same

# A 2-2-1 ReLU net with an identity output, worked by hand for x = [1, 2], y = 1:
#   u = x W1 + b1 = [0.1 + 0.6, -0.2 + 0.8 + 0.1] = [0.7, 0.7];  a = relu(u) = [0.7, 0.7]
#   z = a W2 + b2 = 0.35 - 0.42 + 0.2 = 0.13;  L = (z - 1)^2 = 0.7569;  dL/dz = -1.74
#   dW2 = a^T dz = [[-1.218], [-1.218]];  db2 = [-1.74]
#   da = dz W2^T = [-0.87, 1.044] (both units active);  dW1 = x^T da;  db1 = da
HAND_NET = fn.Net((2, 2, 1), activation="relu", output="identity", dtype="float64")
HAND_PARAMS = (
    {"W": np.array([[0.1, -0.2], [0.3, 0.4]]), "b": np.array([0.0, 0.1])},
    {"W": np.array([[0.5], [-0.6]]), "b": np.array([0.2])},
)
HAND_X, HAND_Y = np.array([[1.0, 2.0]]), np.array([1.0])
HAND_GRADS = (
    {"W": np.array([[-0.87, 1.044], [-1.74, 2.088]]), "b": np.array([-0.87, 1.044])},
    {"W": np.array([[-1.218], [-1.218]]), "b": np.array([-1.74])},
)
# One SGD step with lr = 0.1: params - 0.1 * grads.
HAND_AFTER = (
    {"W": np.array([[0.187, -0.3044], [0.474, 0.1912]]), "b": np.array([0.087, -0.0044])},
    {"W": np.array([[0.6218], [-0.4782]]), "b": np.array([0.374])},
)


def _close(a, b):
    for x, y in zip(fn.tree_leaves(a), fn.tree_leaves(b)):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-12)


def test_one_sgd_step_worked_by_hand():
    value, grads = fn.value_and_grad(HAND_NET, HAND_PARAMS, HAND_X, HAND_Y)
    assert value == pytest.approx(0.7569, abs=1e-12)
    _close(grads, HAND_GRADS)
    _close(fn.sgd_step(0.1, HAND_PARAMS, grads), HAND_AFTER)
    # The composed train step and a one-batch fit take exactly the same step.
    opt = fn.optim.sgd(0.1)
    state = fn.TrainState(HAND_PARAMS, opt.init(HAND_PARAMS), fn.init_stats(HAND_NET))
    new, metrics = fn.train_step(HAND_NET, opt, state, (HAND_X, HAND_Y, None))
    _close(new.params, HAND_AFTER)
    assert metrics.loss == pytest.approx(0.7569) and metrics.count == 1
    assert metrics.grad_norms[1] == pytest.approx(np.sqrt(2 * 1.218**2 + 1.74**2))
    result = fn.fit(HAND_NET, HAND_PARAMS, HAND_X, HAND_Y, key=fn.random.key(0), optimizer=opt,
                    epochs=1, batch_size=1)
    _close(result.params, HAND_AFTER)
    assert result.history["loss"] == [pytest.approx(0.7569)]


def test_xor_reaches_accuracy_one():
    X, y = fn.datasets.xor()
    net = fn.Net((2, 8, 2), activation="tanh", dtype="float64")
    r = fn.fit(net, fn.init(fn.random.key(0), net), X, y, key=fn.random.key(1),
               optimizer=fn.optim.sgd(0.5), epochs=300, batch_size=4)
    assert fn.accuracy(net, r.params, X, y) == 1.0
    assert r.history["loss"][-1] < 0.05 < r.history["loss"][0]


def test_digits_test_accuracy_at_least_096():
    Xtr, Xte, ytr, yte = fn.datasets.digits(dtype=np.float32)
    net = fn.Net((64, 128, 10))
    r = fn.fit(net, fn.init(fn.random.key(0), net), Xtr, ytr, key=fn.random.key(1),
               optimizer=fn.optim.sgd(0.1), epochs=30, batch_size=32)
    assert fn.accuracy(net, r.params, Xte, yte) >= 0.96
    assert r.params[0]["W"].dtype == np.float32


def _toy(n=64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(np.int64)


@pytest.mark.parametrize("net", [
    fn.Net((3, 8, 2), dtype="float64"),
    fn.Net((3, 8, 8, 1), activation="gelu", output="sigmoid", dropout=0.2, batchnorm=True, dtype="float64"),
])
def test_fit_is_a_pure_function_of_its_inputs(net):
    X, y = _toy()
    params = fn.init(fn.random.key(0), net)
    before = copy.deepcopy((params, X, y))
    kw = dict(key=fn.random.key(5), epochs=3, batch_size=10, validation=(X[:16], y[:16]))
    a = fn.fit(net, params, X, y, **kw)
    b = fn.fit(net, params, X, y, **kw)
    assert _same((a.params, a.stats), (b.params, b.stats)) and a.history == b.history
    assert _same(before, (params, X, y))
    c = fn.fit(net, params, X, y, **dict(kw, key=fn.random.key(6)))
    assert not _same(a.params, c.params)


def test_history_is_plain_data_and_matches_the_callback():
    X, y = _toy()
    net = fn.Net((3, 8, 5, 2), dtype="float64")
    seen = []
    r = fn.fit(net, fn.init(fn.random.key(0), net), X, y, key=fn.random.key(1), epochs=4, batch_size=20,
               validation=(X, y), callback=seen.append)
    h = r.history
    assert h["epoch"] == [1, 2, 3, 4]
    assert [s["loss"] for s in seen] == h["loss"]
    assert all(len(g) == 3 and all(v > 0 for v in g) for g in h["grad_norm"])
    assert all(0 <= a <= 1 for a in h["accuracy"] + h["val_accuracy"])
    # val_* are measured with the params after each epoch; the last one is the final params'.
    assert h["val_accuracy"][-1] == fn.accuracy(net, r.params, X, y)
    assert h["val_loss"][-1] == pytest.approx(fn.loss(net, r.params, X, y))
    assert fn.evaluate(net, r.params, X, y) == {"loss": h["val_loss"][-1], "accuracy": h["val_accuracy"][-1]}
    assert json.loads(json.dumps(h)) == h


def test_evaluate_is_evaluation_mode():
    X, y = _toy()
    net = fn.Net((3, 16, 2), dropout=0.5, batchnorm=True, dtype="float64")
    params, stats = fn.init(fn.random.key(0), net), fn.init_stats(net)
    z = fn.forward(net, params, X, stats=stats)
    r = fn.evaluate(net, params, X, y, stats=stats)
    assert r["loss"] == fn.softmax_cross_entropy(z, y)
    assert r["accuracy"] == np.mean(z.argmax(1) == y)
    # The training objective uses dropout masks and batch statistics, so it differs.
    assert fn.loss(net, params, X, y, key=fn.random.key(1)) != r["loss"]


def test_grad_norms_can_be_left_out_without_changing_the_training():
    X, y = _toy()
    net = fn.Net((3, 8, 2), dtype="float64")
    params = fn.init(fn.random.key(0), net)
    a = fn.fit(net, params, X, y, key=fn.random.key(1), epochs=2)
    b = fn.fit(net, params, X, y, key=fn.random.key(1), epochs=2, grad_norms=False)
    assert _same(a.params, b.params) and "grad_norm" not in b.history
    assert {k: v for k, v in a.history.items() if k != "grad_norm"} == b.history


def test_epoch_loss_is_the_sample_weighted_mean_of_batch_losses():
    # 10 samples in batches of 4: 4 + 4 + 2, the last batch is kept and weighted by its size.
    X, y = _toy(10)
    net = fn.Net((3, 4, 2), dtype="float64")
    params = fn.init(fn.random.key(0), net)
    opt = fn.optim.sgd(0.1)
    r = fn.fit(net, params, X, y, key=fn.random.key(0), optimizer=opt, epochs=1, batch_size=4, shuffle=False)
    p, losses = params, []
    for s in (slice(0, 4), slice(4, 8), slice(8, 10)):
        v, g = fn.value_and_grad(net, p, X[s], y[s])
        losses.append(v * (s.stop - s.start))
        p = fn.sgd_step(0.1, p, g)
    assert r.history["loss"][0] == pytest.approx(sum(losses) / 10, rel=1e-12)
    _close(r.params, p)


def test_early_stopping_returns_the_best_params_seen():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5))
    y = rng.integers(0, 2, 40)  # pure noise: training overfits and validation loss rises
    Xv, yv = rng.normal(size=(40, 5)), rng.integers(0, 2, 40)
    net = fn.Net((5, 64, 2), dtype="float64")
    r = fn.fit(net, fn.init(fn.random.key(0), net), X, y, key=fn.random.key(1),
               optimizer=fn.optim.sgd(0.5), epochs=200, batch_size=8, validation=(Xv, yv), patience=5)
    h = r.history
    best = int(np.argmin(h["val_loss"]))
    assert r.best_epoch == best + 1 and "best_epoch" not in h  # the history holds lists only
    assert len(h["epoch"]) == best + 1 + 5 < 200  # stopped after 5 epochs without improvement
    assert fn.loss(net, r.params, Xv, yv) == pytest.approx(h["val_loss"][best])


def test_batchnorm_running_stats_are_threaded_through_training():
    X, y = _toy(200)
    X = X * 5 + 3  # off-centre inputs, so the running mean moves away from 0
    net = fn.Net((3, 16, 2), batchnorm=True, dtype="float64")
    params = fn.init(fn.random.key(0), net)
    r = fn.fit(net, params, X, y, key=fn.random.key(1), optimizer=fn.optim.sgd(0.1), epochs=20, batch_size=20)
    u = X @ r.params[0]["W"]
    np.testing.assert_allclose(r.stats[0]["mean"], u.mean(0), rtol=0.1, atol=0.5)
    assert fn.accuracy(net, r.params, X, y, stats=r.stats) > 0.85


def test_float32_end_to_end():
    X, y = _toy(100)
    X32 = X.astype(np.float32)
    net = fn.Net((3, 16, 2), batchnorm=True, dropout=0.1)
    r = fn.fit(net, fn.init(fn.random.key(0), net), X32, y, key=fn.random.key(1), epochs=2,
               optimizer=fn.optim.sgd(0.1), batch_size=16)
    leaves = fn.tree_leaves((r.params, r.stats))
    assert leaves and {a.dtype for a in leaves} == {np.dtype(np.float32)}
    assert fn.forward(net, r.params, X32, stats=r.stats).dtype == np.float32


def test_an_epoch_never_copies_the_dataset_and_memory_stays_flat():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20000, 100)).astype(np.float32)  # 8 MB
    y = rng.integers(0, 10, 20000)
    net = fn.Net((100, 32, 10))
    params = fn.init(fn.random.key(0), net)
    peaks = []
    for epochs in (1, 3):
        tracemalloc.start()
        fn.fit(net, params, X, y, key=fn.random.key(1), epochs=epochs, batch_size=128)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[0] < X.nbytes / 4, peaks  # a gathered copy of X would be X.nbytes
    assert peaks[1] < peaks[0] * 1.5 + 100_000, peaks  # three epochs peak like one


def test_divergence_is_reported_not_returned_as_nan():
    X, y = _toy()
    net = fn.Net((3, 8, 1), output="identity", dtype="float64")
    with pytest.raises(FloatingPointError, match="diverged.*learning rate"):
        fn.fit(net, fn.init(fn.random.key(0), net), X * 1e3, y.astype(float), key=fn.random.key(1),
               optimizer=fn.optim.sgd(10.0), epochs=50)


@pytest.mark.parametrize("kwargs, match", [
    (dict(epochs=0), "epochs"),
    (dict(batch_size=0), "batch_size"),
    (dict(batch_size=2.5), "batch_size"),
    (dict(optimizer="adam"), "optimizer"),
    (dict(key=3), "key"),
    (dict(l2=-0.1), "l2"),
    (dict(validation=np.ones((3, 3))), "validation"),
    (dict(patience=3), "patience: early stopping needs validation"),
    (dict(shuffle="yes"), "shuffle"),
    (dict(grad_norms=1), "grad_norms"),
])
def test_bad_fit_arguments_are_named(kwargs, match):
    X, y = _toy()
    net = fn.Net((3, 4, 2))
    base = dict(key=fn.random.key(0))
    with pytest.raises((TypeError, ValueError), match=match):
        fn.fit(net, fn.init(fn.random.key(0), net), X, y, **{**base, **kwargs})


def test_bad_learning_rates_are_named():
    for lr in (0, -0.1, float("nan"), float("inf"), "0.1"):
        error = TypeError if isinstance(lr, str) else ValueError
        with pytest.raises(error, match="^lr: expected a finite number > 0, got "):
            fn.optim.sgd(lr)
        with pytest.raises(error, match="^lr: expected a finite number > 0, got "):
            fn.sgd_step(lr, HAND_PARAMS, HAND_GRADS)


@pytest.mark.parametrize("make", [
    lambda: fn.optim.adam(0.01), lambda: fn.optim.adamw(0.01, weight_decay=0.1),
    lambda: fn.optim.momentum(0.05), lambda: fn.optim.rmsprop(0.01),
    lambda: fn.optim.chain(fn.optim.clip_by_global_norm(0.5), fn.optim.nesterov(0.05)),
])
def test_fit_takes_exactly_the_steps_of_the_checked_public_pieces(make):
    # fit uses the optimizers' unchecked update on trees it built itself (batch-norm layers
    # order their keys differently from optimizer state); a loop of the checked public
    # functions must give bitwise the same params.
    X, y = _toy(24)
    net = fn.Net((3, 5, 4, 2), batchnorm=True, dtype="float64")
    params = fn.init(fn.random.key(0), net)
    opt = make()
    r = fn.fit(net, params, X, y, key=fn.random.key(1), optimizer=opt, epochs=2, batch_size=8, shuffle=False)
    p, s, state = params, fn.init_stats(net), opt.init(params)
    for _ in range(2):
        for i in range(0, 24, 8):
            ts, _ = fn.train_step(net, opt, fn.TrainState(p, state, s), (X[i:i + 8], y[i:i + 8], None))
            g = fn.grad(net, p, X[i:i + 8], y[i:i + 8])
            updates, state = opt.update(g, state, p)
            p = fn.apply_updates(p, updates)
            s = ts.stats
            assert _same(p, ts.params)
    assert _same(r.params, p) and _same(r.stats, s)


@pytest.mark.parametrize("make", [lambda: fn.optim.sgd(0.1), lambda: fn.optim.adamw(1e-3, weight_decay=0.01)])
def test_a_hand_loop_of_the_public_functions_gives_fits_bits_in_float32(make):
    # The documented key scheme (epoch e shuffles with fold_in(key, e), batch i draws its
    # dropout masks from fold_in(that, i + 1)) and the public value_and_grad, update and
    # apply_updates: the same computation as fit, so the same bits, not just close ones.
    Xtr, _, ytr, _ = fn.datasets.digits()
    X, y = Xtr[:300], ytr[:300]
    net = fn.Net((64, 128, 10), dropout=0.2)
    params, key, opt = fn.init(fn.random.key(0), net), fn.random.key(1), make()
    r = fn.fit(net, params, X, y, key=key, optimizer=opt, epochs=2, batch_size=32, l2=1e-3)
    p, state = params, opt.init(params)
    for epoch in range(2):
        ekey = fn.random.fold_in(key, epoch)
        perm = fn.random.permutation(ekey, len(X))
        for i, start in enumerate(range(0, len(X), 32)):
            idx = perm[start:start + 32]
            _, g = fn.value_and_grad(net, p, X[idx], y[idx], key=fn.random.fold_in(ekey, i + 1), l2=1e-3)
            updates, state = opt.update(g, state, p)
            p = fn.apply_updates(p, updates)
    assert _same(r.params, p)
    assert fn.tree_leaves(r.params)[0].dtype == np.float32


class _DtypeSpy:
    """Stands in for numpy inside a module: records the dtypes of the arrays its calls return."""

    def __init__(self):
        self.seen = set()

    def _record(self, out):
        for a in out if isinstance(out, tuple) else (out,):
            if isinstance(a, np.ndarray) and a.dtype.kind == "f":
                self.seen.add(a.dtype)
        return out

    def __getattr__(self, name):
        real = getattr(np, name)
        if isinstance(real, np.ufunc):
            return _UfuncSpy(real, self)
        if not callable(real) or isinstance(real, type) or name in ("errstate",):
            return real

        def spy(*args, **kwargs):
            return self._record(real(*args, **kwargs))

        return spy


class _UfuncSpy:
    def __init__(self, ufunc, spy):
        self._ufunc, self._spy = ufunc, spy

    def __call__(self, *args, **kwargs):
        return self._spy._record(self._ufunc(*args, **kwargs))

    def __getattr__(self, name):  # reduce, accumulate, ...
        attr = getattr(self._ufunc, name)
        return (lambda *a, **k: self._spy._record(attr(*a, **k))) if callable(attr) else attr


@pytest.mark.parametrize("optimizer", [fn.optim.sgd(0.1), fn.optim.adam(1e-3)])
def test_no_float64_array_appears_anywhere_in_a_float32_fit(monkeypatch, optimizer):
    import importlib

    spy = _DtypeSpy()
    for name in ("_ops", "activations", "layers", "network", "losses", "objective", "optim.base",
                 "optim.transforms", "optim._kernels", "train", "tree"):
        monkeypatch.setattr(importlib.import_module(f"funcnet.{name}"), "np", spy)
    Xtr, _, ytr, _ = fn.datasets.digits()
    net = fn.Net((64, 32, 10), dropout=0.1, batchnorm=True)
    r = fn.fit(net, fn.init(fn.random.key(0), net), Xtr[:200], ytr[:200], key=fn.random.key(1),
               optimizer=optimizer, epochs=2, batch_size=32, validation=(Xtr[200:300], ytr[200:300]))
    assert spy.seen == {np.dtype(np.float32)}
    assert {a.dtype for a in fn.tree_leaves((r.params, r.stats, r.opt_state)) if isinstance(a, np.ndarray)} == {
        np.dtype(np.float32)}


def test_fit_accepts_a_users_own_optimizer_pair():
    # A plain (init, update) pair without funcnet's fast paths goes through apply_updates.
    def init(params):
        return 0

    def update(grads, count, params):
        return fn.tree_map(lambda g: -0.1 * g, grads), count + 1

    X, y = _toy(32)
    net = fn.Net((3, 4, 2), dtype="float64")
    params = fn.init(fn.random.key(0), net)
    r = fn.fit(net, params, X, y, key=fn.random.key(1), optimizer=fn.optim.Optimizer(init, update),
               epochs=2, batch_size=8, shuffle=False)
    s = fn.fit(net, params, X, y, key=fn.random.key(1), optimizer=fn.optim.sgd(0.1),
               epochs=2, batch_size=8, shuffle=False)
    assert r.opt_state == 8
    for a, b in zip(fn.tree_leaves(r.params), fn.tree_leaves(s.params)):
        np.testing.assert_allclose(a, b, rtol=1e-15)
    broken = fn.optim.Optimizer(init, lambda g, c, p: (g[:1], c + 1))
    with pytest.raises(TypeError, match=r"^the optimizer's updates: expected the structure of the grads, .*, got \(\{'W': \*, 'b': \*\},\)$"):
        fn.fit(net, params, X, y, key=fn.random.key(1), optimizer=broken)


def test_fit_lets_go_of_the_initial_optimizer_state_after_the_first_epoch():
    # Adam's initial moments are as large as the params: a fold that kept them would hold one
    # more copy of the model for the whole run.
    import gc
    import weakref

    net = fn.Net((4, 8, 2))
    params = fn.init(fn.random.key(0), net)
    base, refs = fn.optim.adam(1e-3), []

    def init(p):
        s = base.init(p)
        refs.append(weakref.ref(s.states[0].mu[0]["W"]))
        return s

    opt = fn.optim.Optimizer(init, base.update)
    X = np.random.default_rng(0).random((64, 4)).astype(np.float32)
    alive = []

    def callback(record):
        gc.collect()
        alive.append(refs[0]() is not None)

    fn.fit(net, params, X, np.arange(64) % 2, key=fn.random.key(1), optimizer=opt, epochs=3,
           callback=callback)
    # During epoch 1 the fold still holds the state that epoch started from; after it, nothing.
    assert alive == [True, False, False]


# --- stop and go on: fit for 4 epochs is fit for 2 and 2 more, bit for bit ---

RESUMABLE = {
    "sgd": lambda: fn.optim.sgd(0.1),
    "momentum": lambda: fn.optim.momentum(0.05, 0.9),
    "nesterov": lambda: fn.optim.nesterov(0.05, 0.9),
    "rmsprop": lambda: fn.optim.rmsprop(1e-3),
    "adam+cosine": lambda: fn.optim.adam(fn.schedules.cosine(1e-2, 40)),
    "adamw+warmup": lambda: fn.optim.adamw(fn.schedules.linear_warmup(1e-2, 10), weight_decay=0.05),
    "clip+adam": lambda: fn.optim.chain(fn.optim.clip_by_global_norm(0.5), fn.optim.adam(1e-2)),
}


def _same_result(a, b):
    assert _same(a.params, b.params) and _same(a.stats, b.stats) and _same((a.opt_state,), (b.opt_state,))
    assert a.history == b.history and a.best_epoch == b.best_epoch
    assert _same(a.state.train, b.state.train) and a.state.epoch == b.state.epoch
    assert a.state.waited == b.state.waited and a.state.stopped == b.state.stopped


@pytest.mark.parametrize("name", sorted(RESUMABLE))
@pytest.mark.parametrize("dropout, batchnorm", [(0.0, False), (0.2, True)])
def test_fit_resumed_from_its_result_equals_one_uninterrupted_fit(name, dropout, batchnorm):
    X, y = _toy(80)
    Xv, yv = _toy(40, seed=1)
    net = fn.Net((3, 8, 2), dropout=dropout, batchnorm=batchnorm)
    params = fn.init(fn.random.key(0), net)
    kw = dict(key=fn.random.key(1), batch_size=16, validation=(Xv, yv), l2=1e-3)
    whole = fn.fit(net, params, X, y, optimizer=RESUMABLE[name](), epochs=4, **kw)
    half = fn.fit(net, params, X, y, optimizer=RESUMABLE[name](), epochs=2, **kw)
    assert half.state.epoch == 2 and len(half.history["epoch"]) == 2
    again = fn.fit(net, half, X, y, optimizer=RESUMABLE[name](), epochs=4, **kw)
    _same_result(again, whole)
    assert again.history["epoch"] == [1, 2, 3, 4]
    # In three pieces too, and the result given back is left as it was.
    third = fn.fit(net, fn.fit(net, half, X, y, optimizer=RESUMABLE[name](), epochs=3, **kw), X, y,
                   optimizer=RESUMABLE[name](), epochs=4, **kw)
    _same_result(third, whole)
    assert half.state.epoch == 2 and len(half.history["loss"]) == 2


def test_early_stopping_goes_on_where_it_was():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 5)), rng.integers(0, 2, 40)  # noise: validation loss rises soon
    Xv, yv = rng.normal(size=(40, 5)), rng.integers(0, 2, 40)
    net = fn.Net((5, 32, 2), dtype="float64")
    params = fn.init(fn.random.key(0), net)
    kw = dict(key=fn.random.key(1), optimizer=fn.optim.sgd(0.5), batch_size=8, validation=(Xv, yv), patience=4)
    whole = fn.fit(net, params, X, y, epochs=100, **kw)
    assert whole.state.stopped and whole.state.epoch < 100
    cut = whole.best_epoch + 1  # after the best epoch, while early stopping is waiting
    first = fn.fit(net, params, X, y, epochs=cut, **kw)
    assert not first.state.stopped and first.state.waited == 1
    _same_result(fn.fit(net, first, X, y, epochs=100, **kw), whole)
    # A run that ended itself stays ended; one asked for fewer epochs than it has is refused.
    assert fn.fit(net, whole, X, y, epochs=200, **kw) is whole
    with pytest.raises(ValueError, match=r"^epochs: expected at least the \d+ epochs the run being continued has run, got 1$"):
        fn.fit(net, whole, X, y, epochs=1, **kw)


def test_continuing_a_run_with_other_settings_is_named():
    X, y = _toy(32)
    net = fn.Net((3, 4, 2), dtype="float64")
    r = fn.fit(net, fn.init(fn.random.key(0), net), X, y, key=fn.random.key(1), epochs=1)
    with pytest.raises(ValueError, match=r"^validation: the run being continued recorded"):
        fn.fit(net, r, X, y, key=fn.random.key(1), epochs=2, validation=(X, y))
    with pytest.raises(TypeError, match=r"^params.state.train.opt_state: state: expected a ChainState"):
        fn.fit(net, r, X, y, key=fn.random.key(1), epochs=2, optimizer=fn.optim.adam(1e-3))
    broken = r._replace(state=r.state._replace(epoch=3))
    with pytest.raises(ValueError, match=r"^params.history: expected lists of 3 entries"):
        fn.fit(net, broken, X, y, key=fn.random.key(1), epochs=4)


# --- another source of gradients: fit(..., gradient=...) ---


def _public_gradient(net, l2):
    """The default gradient stage rebuilt from public functions (two passes, the same numbers)."""
    head = fn.HEADS[net.output]

    def gradient(params, stats, batch):
        value, grads = fn.value_and_grad(net, params, batch.X, batch.y, key=batch.key, l2=l2)
        z, caches = fn.forward_train(net, params, batch.X, key=batch.key)
        return fn.BatchGradients(value, grads, head.correct(z, batch.y), fn.update_stats(net, stats, caches))

    return gradient


@pytest.mark.parametrize("dropout, batchnorm, smoothing", [(0.0, False, 0.0), (0.2, True, 0.1)])
def test_a_gradient_function_equal_to_the_default_gives_fits_bits(dropout, batchnorm, smoothing):
    X, y = _toy(80)
    Xv, yv = _toy(40, seed=1)
    net = fn.Net((3, 8, 2), dropout=dropout, batchnorm=batchnorm, dtype="float64")
    params = fn.init(fn.random.key(0), net)
    kw = dict(key=fn.random.key(1), optimizer=fn.optim.adam(1e-2), epochs=3, batch_size=16,
              validation=(Xv, yv), patience=2, label_smoothing=smoothing)
    default = fn.fit(net, params, X, y, l2=1e-3, **kw)
    hooked = fn.fit(net, params, X, y, gradient=_public_gradient(net, 1e-3), **kw)
    _same_result(hooked, default)
    # A run with a gradient function goes on from its result like any other.
    half = fn.fit(net, params, X, y, gradient=_public_gradient(net, 1e-3), **dict(kw, epochs=2))
    _same_result(fn.fit(net, half, X, y, gradient=_public_gradient(net, 1e-3), **kw), default)


def test_a_gradient_function_is_called_once_per_batch_and_fit_uses_what_it_returns():
    X, y = _toy(10)
    net = fn.Net((3, 4, 2), dtype="float64")
    params = fn.init(fn.random.key(0), net)
    seen = []

    def gradient(p, stats, batch):
        seen.append((len(batch.X), batch.key))
        # No gradient at all, a loss of 1.5 and half the batch (rounded down) right.
        return fn.BatchGradients(1.5, fn.tree_map(np.zeros_like, p), len(batch.X) // 2, stats)

    r = fn.fit(net, params, X, y, key=fn.random.key(1), epochs=3, batch_size=4, gradient=gradient)
    assert [n for n, _ in seen] == [4, 4, 2] * 3 and all(k is None for _, k in seen)
    assert _same(r.params, params)  # sgd of zero gradients
    assert r.history["loss"] == [1.5] * 3 and r.history["accuracy"] == [(2 + 2 + 1) / 10] * 3
    assert r.history["grad_norm"] == [[0.0, 0.0]] * 3


@pytest.mark.parametrize("returned, error, match", [
    (lambda p, s: (1.0, p), TypeError, r"^gradient: expected a function returning BatchGradients"),
    (lambda p, s: fn.BatchGradients("1.0", p, 0, s), TypeError, r"^gradient's value: expected a number, got '1.0'"),
    (lambda p, s: fn.BatchGradients(1.0, p[:1], 0, s), TypeError, r"^gradient's grads: expected the structure of params"),
    (lambda p, s: fn.BatchGradients(1.0, fn.tree_map(lambda a: a[:1], p), 0, s), ValueError,
     r"^gradient's grads\[0\]\['W'\]: expected shape \(3, 4\), got \(1, 4\)$"),
    (lambda p, s: fn.BatchGradients(1.0, fn.tree_map(lambda a: a.astype(np.float32), p), 0, s), ValueError,
     r"^gradient's grads\[0\]\['W'\]: expected dtype float64, got float32$"),
    (lambda p, s: fn.BatchGradients(1.0, p, 11, s), ValueError, r"^gradient's correct: expected an integer in \[0, 10\], got 11$"),
])
def test_what_a_gradient_function_returns_is_checked(returned, error, match):
    X, y = _toy(10)
    net = fn.Net((3, 4, 2), dtype="float64")
    params = fn.init(fn.random.key(0), net)
    with pytest.raises(error, match=match):
        fn.fit(net, params, X, y, key=fn.random.key(1), epochs=1, batch_size=10,
               gradient=lambda p, s, b: returned(p, s))


def test_bad_gradient_arguments_are_named():
    X, y = _toy(10)
    net = fn.Net((3, 4, 2), dtype="float64")
    params = fn.init(fn.random.key(0), net)
    with pytest.raises(TypeError, match=r"^gradient: expected a function \(params, stats, batch\) -> BatchGradients, got 3$"):
        fn.fit(net, params, X, y, key=fn.random.key(1), gradient=3)
    with pytest.raises(ValueError, match=r"^l2: a gradient function computes the whole objective"):
        fn.fit(net, params, X, y, key=fn.random.key(1), l2=0.1, gradient=_public_gradient(net, 0.1))
    with pytest.raises(ValueError, match=r"^l2: "):
        fn.make_train_step(net, fn.optim.sgd(0.1), l2=0.1, gradient=_public_gradient(net, 0.1))
