"""Data-parallel fit on a loopback Dask cluster: one process's full-batch training, to rounding."""

from __future__ import annotations

import time

import numpy as np
import pytest

import funcnet as fn

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
fd = pytest.importorskip("funcnet.distributed")


@pytest.fixture(scope="module")
def client():
    # Two workers talking TCP on the loopback interface, no dashboard; started and stopped
    # here. Threads rather than processes: every message is still serialised, and the cluster
    # starts in a tenth of a second instead of four (scripts/dask_fit.py runs processes).
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as c:
        yield c


def _data(output="softmax", n=101, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    if output == "softmax":
        y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int) + (X[:, 3] > 1)
    elif output == "sigmoid":
        y = np.stack([X[:, 0] > 0, X[:, 1] * X[:, 2] > 0], axis=1).astype(float)
    else:
        y = np.stack([np.sin(X[:, 0]), X[:, 1] * X[:, 2]], axis=1)
    return X, y


def _net(output="softmax", **kw):
    return fn.Net((4, 8, 3 if output == "softmax" else 2), activation="tanh", output=output, dtype="float64", **kw)


def _leaves_close(a, b, rtol):
    for x, y in zip(fn.tree_leaves(a), fn.tree_leaves(b)):
        assert np.max(np.abs(x - y)) <= rtol * max(1.0, np.max(np.abs(y)))


def _bits(result):
    leaves = fn.tree_leaves((result.params, result.stats, result.opt_state))
    return [a.tobytes() if isinstance(a, np.ndarray) else a for a in leaves]


def _no_data_left(client):
    # Releasing is a message to the scheduler: give it a moment (bounded) to act on it.
    deadline = time.monotonic() + 5
    while any(client.has_what().values()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not any(client.has_what().values())


def test_equals_single_process_full_batch_training_and_itself_bit_for_bit(client):
    X, y = _data()
    Xv, yv = _data(n=40, seed=1)
    net = _net()
    params = fn.init(fn.random.key(0), net)
    kw = dict(key=fn.random.key(1), optimizer=fn.optim.adam(0.05), epochs=12, l2=1e-3, validation=(Xv, yv))
    one = fn.fit(net, params, X, y, batch_size=len(X), shuffle=False, **kw)
    # 101 rows in 3 shards of 33, 34 and 34 rows, on two workers.
    a = fd.fit(net, params, X, y, client=client, n_shards=3, **kw)
    b = fd.fit(net, params, X, y, client=client, n_shards=3, **kw)
    assert _bits(a) == _bits(b) and a.history == b.history
    for k in ("loss", "val_loss"):
        np.testing.assert_allclose(a.history[k], one.history[k], rtol=1e-12, atol=0)
    assert a.history["accuracy"] == one.history["accuracy"]
    np.testing.assert_allclose(a.history["grad_norm"], one.history["grad_norm"], rtol=1e-10, atol=0)
    _leaves_close(a.params, one.params, 1e-12)
    assert a.history["loss"][-1] < 0.6 * a.history["loss"][0]  # it trains
    assert _no_data_left(client)  # the shards are released


@pytest.mark.parametrize("output", ["sigmoid", "identity"])
def test_every_head_and_label_smoothing_match_one_process(client, output):
    X, y = _data(output)
    net = _net(output)
    params = fn.init(fn.random.key(0), net)
    kw = dict(key=fn.random.key(1), optimizer=fn.optim.momentum(0.1, 0.9), epochs=5,
              label_smoothing=0.1 if output == "sigmoid" else 0.0)
    one = fn.fit(net, params, X, y, batch_size=len(X), shuffle=False, **kw)
    r = fd.fit(net, params, X, y, client=client, **kw)  # one shard per worker
    np.testing.assert_allclose(r.history["loss"], one.history["loss"], rtol=1e-12, atol=0)
    _leaves_close(r.params, one.params, 1e-12)


def test_batch_norm_statistics_are_the_shards_weighted_by_their_rows(client):
    X, y = _data(n=30)
    X = X * 3 + 1  # off-centre, so that the statistics move
    net = _net(batchnorm=True)
    params = fn.init(fn.random.key(0), net)
    stats = fn.init_stats(net)
    r = fd.fit(net, params, X, y, client=client, key=fn.random.key(1), n_shards=2, epochs=1,
               optimizer=fn.optim.sgd(0.1))
    # Shards of 15 and 15 rows: each normalised by its own statistics, which it moves the
    # running ones towards; the driver keeps their mean weighted by rows.
    kept = [fn.update_stats(net, stats, fn.forward_train(net, params, X[s])[1]) for s in (slice(0, 15), slice(15, 30))]
    _leaves_close(r.stats, fn.tree.tree_weighted_mean(kept, [15, 15]), 1e-14)
    grads = [fn.grad(net, params, X[s], y[s], reduction="sum") for s in (slice(0, 15), slice(15, 30))]
    want = fn.optim.apply_updates(params, fn.tree.tree_scale(-0.1 / 30, fn.tree.tree_add(*grads)))
    _leaves_close(r.params, want, 1e-14)
    # One shard is one process's full batch.
    one = fn.fit(net, params, X, y, key=fn.random.key(1), epochs=2, batch_size=30, shuffle=False)
    r1 = fd.fit(net, params, X, y, client=client, key=fn.random.key(1), n_shards=1, epochs=2)
    _leaves_close((r1.params, r1.stats), (one.params, one.stats), 1e-12)


def test_dropout_runs_repeat_bit_for_bit_and_continue_like_one_run(client):
    X, y = _data(n=40)
    net = _net(dropout=0.3)
    params = fn.init(fn.random.key(0), net)
    kw = dict(client=client, key=fn.random.key(1), optimizer=fn.optim.adam(0.01), n_shards=2)
    whole = fd.fit(net, params, X, y, epochs=4, **kw)
    half = fd.fit(net, params, X, y, epochs=2, **kw)
    again = fd.fit(net, half, X, y, epochs=4, **kw)
    assert _bits(again) == _bits(whole) and again.history == whole.history
    # The masks are the shards' own (fold_in of the batch key by shard): not one process's.
    one = fn.fit(net, params, X, y, key=fn.random.key(1), optimizer=fn.optim.adam(0.01), epochs=4,
                 batch_size=40, shuffle=False)
    assert whole.history["loss"] != one.history["loss"]


def test_bad_arguments_are_named_before_anything_is_scattered(client):
    X, y = _data(n=10)
    net = _net()
    params = fn.init(fn.random.key(0), net)
    kw = dict(key=fn.random.key(1))
    with pytest.raises(TypeError, match=r"^client: expected a dask.distributed.Client, got None$"):
        fd.fit(net, params, X, y, client=None, **kw)
    with pytest.raises(ValueError, match=r"^n_shards: expected an integer in \[1, 10\], got 11$"):
        fd.fit(net, params, X, y, client=client, n_shards=11, **kw)
    with pytest.raises(TypeError, match=r"^n_shards: expected an integer in \[1, 10\], got 2.0 \(float\)$"):
        fd.fit(net, params, X, y, client=client, n_shards=2.0, **kw)
    with pytest.raises(ValueError, match=r"^X: expected 4 columns, got shape \(10, 3\)$"):
        fd.fit(net, params, X[:, :3], y, client=client, **kw)
    with pytest.raises(ValueError, match=r"^y: expected class labels in \[0, 2\]"):
        fd.fit(net, params, X, y + 5, client=client, **kw)
    with pytest.raises(ValueError, match=r"^epochs: expected an integer >= 1, got 0$"):
        fd.fit(net, params, X, y, client=client, epochs=0, **kw)
    with pytest.raises(TypeError, match=r"^key: expected a funcnet.random.Key"):
        fd.fit(net, params, X, y, client=client, key=1)
    assert _no_data_left(client)


def test_divergence_is_named_and_the_shards_are_released(client):
    X, y = _data("identity", n=20)
    net = fn.Net((4, 2), output="identity", dtype="float64")  # linear: a rate of 1 on inputs of 1e3 blows up
    with pytest.raises(FloatingPointError, match=r"^training diverged: the loss became (inf|nan) at epoch \d+, batch 1"):
        fd.fit(net, fn.init(fn.random.key(0), net), X * 1e3, y, client=client, key=fn.random.key(1),
               optimizer=fn.optim.sgd(1.0), epochs=100)
    assert _no_data_left(client)


def test_a_closed_client_is_refused(client):
    X, y = _data(n=10)
    net = _net()
    with distributed.Client(client.scheduler.address) as other:
        pass
    with pytest.raises(ValueError, match=r"^client: expected a running Client, got one whose status is 'closed'$"):
        fd.fit(net, fn.init(fn.random.key(0), net), X, y, client=other, key=fn.random.key(1))
