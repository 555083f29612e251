"""Data augmentation: pure, keyed functions of a batch, and what fit does with them."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import funcnet as fn
from funcnet import augment as aug


def test_a_shift_moves_each_image_by_its_own_offset_and_fills_with_zeros():
    X = np.zeros((50, 25), np.float32)
    X[:, 12] = 1.0  # a dot in the middle of each 5x5 image
    before = X.copy()
    out = aug.shifts((5, 5), max_shift=2)(fn.random.key(0), X)
    assert np.array_equal(X, before)  # the batch is not touched
    images = out.reshape(50, 5, 5)
    assert np.all(images.sum(axis=(1, 2)) == 1.0)  # a dot at most 2 from the centre never leaves
    where = np.argwhere(images == 1.0)[:, 1:] - 2
    assert np.abs(where).max() == 2 and len({tuple(w) for w in where}) > 10  # offsets vary, within bounds
    # A line on the border is cut, never wrapped round: shifting it out leaves zeros.
    edge = np.zeros((200, 25), np.float32)
    edge.reshape(200, 5, 5)[:, :, 0] = 1.0
    moved = aug.shifts((5, 5), max_shift=1)(fn.random.key(1), edge).reshape(200, 5, 5)
    assert set(moved.sum(axis=(1, 2)).tolist()) <= {0.0, 4.0, 5.0}


def test_augmenters_are_pure_functions_of_the_key_and_plain_data():
    X = np.random.default_rng(0).random((8, 16)).astype(np.float32)
    a = aug.chain(aug.shifts((4, 4), 1), aug.flips((4, 4), p=0.5))
    k = fn.random.key(3)
    assert a(k, X).tobytes() == a(k, X).tobytes()
    assert a(k, X).tobytes() != a(fn.random.key(4), X).tobytes()
    assert pickle.loads(pickle.dumps(a)) == a and a(k, X).dtype == np.float32
    np.testing.assert_array_equal(aug.flips((2, 2), p=1.0)(k, np.array([[1.0, 2, 3, 4]])), [[2.0, 1, 4, 3]])


@pytest.mark.parametrize("call, error, match", [
    (lambda: aug.shifts((28,), 2), ValueError, r"^image_shape: expected a pair \(height, width\)"),
    (lambda: aug.shifts((3, 3), 4), ValueError, r"^max_shift: expected an integer in \[1, 3\], got 4"),
    (lambda: aug.shifts((3, 3), 1.5), TypeError, r"^max_shift: expected an integer"),
    (lambda: aug.flips((3, 3), p=2), ValueError, r"^p: expected a finite number in \[0, 1\]"),
    (lambda: aug.chain(), ValueError, r"^augmenters: expected at least one"),
    (lambda: aug.chain(3), TypeError, r"^augmenters\[0\]: expected a function"),
])
def test_bad_settings_are_named(call, error, match):
    with pytest.raises(error, match=match):
        call()


def _digits():
    Xtr, Xte, ytr, yte = fn.datasets.digits()
    return Xtr[:400], ytr[:400], Xte, yte


def test_fit_augments_every_batch_reproducibly_and_only_the_training_data():
    X, y, Xv, yv = _digits()
    net = fn.Net((64, 32, 10))
    params = fn.init(fn.random.key(0), net)
    kw = dict(key=fn.random.key(1), optimizer=fn.optim.adam(1e-2), epochs=6, validation=(Xv, yv))
    plain = fn.fit(net, params, X, y, **kw)
    a = fn.fit(net, params, X, y, augment=aug.shifts((8, 8), 1), **kw)
    b = fn.fit(net, params, X, y, augment=aug.shifts((8, 8), 1), **kw)
    assert fn.tree_leaves(a.params)[0].tobytes() == fn.tree_leaves(b.params)[0].tobytes()
    assert a.history["loss"] != plain.history["loss"]  # the batches differ
    # One pixel of an 8x8 digit is a big move: it learns, more slowly (0.74 after 6 epochs).
    assert a.history["val_accuracy"][-1] > 0.7
    seen = []
    fn.fit(net, params, X, y, key=fn.random.key(1), epochs=1,
           augment=lambda k, Xb: seen.append(Xb.shape) or Xb)
    assert sum(s[0] for s in seen) == len(X)  # each training sample once an epoch, nothing else
    with pytest.raises(TypeError, match=r"^augment: expected a function \(key, X\) -> an array of X's shape"):
        fn.fit(net, params, X, y, key=fn.random.key(1), epochs=1, augment=lambda k, Xb: Xb[:, :10])


def test_label_smoothing_trains_on_smoothed_targets_and_still_counts_the_argmax():
    X, y, Xv, yv = _digits()
    net = fn.Net((64, 32, 10))
    params = fn.init(fn.random.key(0), net)
    r = fn.fit(net, params, X, y, key=fn.random.key(1), optimizer=fn.optim.adam(1e-2), epochs=5,
               label_smoothing=0.1, validation=(Xv, yv))
    assert r.history["accuracy"][-1] > 0.9 and r.history["val_accuracy"][-1] > 0.85
    # Smoothed targets never let the loss reach 0: its floor is the targets' own entropy.
    rows = fn.losses.smooth_labels(y, 10, 0.1)
    floor = float(-(rows * np.log(rows)).sum(1).mean())
    assert r.history["loss"][-1] > floor
    with pytest.raises(ValueError, match=r"^head: expected one of \['sigmoid', 'softmax'\], got 'identity'"):
        reg = fn.Net((2, 1), output="identity")
        fn.fit(reg, fn.init(fn.random.key(0), reg), np.ones((4, 2)), np.ones(4), key=fn.random.key(0),
               label_smoothing=0.1)


def test_early_stopping_can_watch_validation_accuracy():
    X, y, Xv, yv = _digits()
    net = fn.Net((64, 32, 10))
    params = fn.init(fn.random.key(0), net)
    r = fn.fit(net, params, X, y, key=fn.random.key(1), optimizer=fn.optim.adam(1e-2), epochs=40,
               validation=(Xv, yv), patience=3, monitor="val_accuracy")
    acc = r.history["val_accuracy"]
    best = int(np.argmax(acc))  # the first epoch with the highest accuracy
    assert r.best_epoch == best + 1 and len(acc) == best + 1 + 3
    assert fn.accuracy(net, r.params, Xv, yv) == acc[best]
    reg = fn.Net((2, 1), output="identity")
    with pytest.raises(ValueError, match="^monitor: a net with output='identity' has no accuracy to watch"):
        fn.fit(reg, fn.init(fn.random.key(0), reg), np.ones((4, 2)), np.ones(4), key=fn.random.key(0),
               validation=(np.ones((2, 2)), np.ones(2)), patience=2, monitor="val_accuracy")


def test_a_schedule_that_ends_long_before_the_run_is_a_warning():
    X, y, _, _ = _digits()  # 400 samples, batch 32: 13 steps an epoch
    net = fn.Net((64, 16, 10))
    params = fn.init(fn.random.key(0), net)
    with pytest.warns(fn.ScheduleWarning, match=r"gives a rate of 0 from before the middle of this run "
                                                  r"\(step 65 of 130: 10 epochs of 13 steps\)"):
        fn.fit(net, params, X, y, key=fn.random.key(1), epochs=10, optimizer=fn.optim.sgd(fn.schedules.cosine(0.1, 10)))
    steps = 10 * fn.steps_per_epoch(len(X), 32)
    r = fn.fit(net, params, X, y, key=fn.random.key(1), epochs=10, optimizer=fn.optim.sgd(fn.schedules.cosine(0.1, steps)))
    assert r.state.epoch == 10  # counted in steps: no warning (warnings are errors in this suite)


def test_io_and_plot_come_with_import_funcnet_without_matplotlib():
    import subprocess
    import sys

    code = "import sys, funcnet as fn; fn.io.save; fn.plot.loss_curves; fn.augment.shifts; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
