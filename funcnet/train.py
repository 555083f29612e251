"""Training as a fold: a toolz-composed train step, reduced over shuffled mini-batches.

This is the one module that composes the core with toolz. A train step is the pipeline

    gradients (forward + loss + backward)  ->  optimizer update  ->  apply updates

built with :func:`toolz.compose_left` into ``step(state, batch) -> (state, metrics)``. An epoch
is ``toolz.reduce`` of that step over the batches of one shuffle, and :func:`fit` is
``toolz.accumulate`` of epochs (cut short by early stopping), so the whole run is a value
computed from its inputs: the same key gives the same params and history, bit for bit.

Speed without impurity: data are checked once per ``fit``; an epoch shuffles *indices* and
gathers one batch at a time (no copy of the dataset); every array a step writes to is one it
allocated itself, so the caller's params, data and optimizer state are never touched.

>>> import funcnet as fn
>>> X, y = fn.datasets.xor()
>>> net = fn.Net((2, 8, 2), activation="tanh", dtype="float64")
>>> result = fn.fit(net, fn.init(fn.random.key(0), net), X, y, key=fn.random.key(1),
...                 optimizer=fn.optim.sgd(0.5), epochs=300, batch_size=4)
>>> fn.predict(net, result.params, X).tolist()
[0, 1, 1, 0]
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import numpy as np
import toolz

from . import _malloc
from . import random as rnd
from .checks import (
    check_key,
    check_nonneg_float,
    check_params,
    check_positive_int,
    check_stats,
    check_X,
)
from .losses import HEADS
from .network import (
    BN_MOMENTUM,
    Net,
    _accuracy,
    _backward,
    _check_net,
    _forward_eval,
    _forward_train,
    init_stats,
)
from .objective import _l2_penalty
from .optim import Optimizer, sgd, unchecked
from .tree import tree_check_same

__all__ = ["TrainState", "StepMetrics", "FitResult", "make_train_step", "train_step", "fit"]


class TrainState(NamedTuple):
    """Everything a train step carries forward: plain data."""

    params: tuple
    opt_state: Any
    stats: tuple  # batch-norm running statistics ({} for layers without batch norm)


class StepMetrics(NamedTuple):
    """What one step measured on its batch."""

    loss: float
    correct: int  # correctly classified samples (0 for regression)
    count: int
    grad_norms: tuple  # per-layer Euclidean norm of the gradient (() when not tracked)


class FitResult(NamedTuple):
    """The outcome of :func:`fit`: final (or best, with early stopping) params and history."""

    params: tuple
    history: dict
    stats: tuple
    opt_state: Any


# --- the stages of a train step; each takes and returns a plain tuple ---


def _grad_stage(net: Net, head, l2: float, grad_norms: bool):
    fused = head.loss.fused_

    def grads(state, batch):
        Xb, yb, k = batch
        z, caches = _forward_train(net, state.params, Xb, k)
        loss, delta, correct = fused(z, yb)
        if l2:
            loss += _l2_penalty(state.params, l2)
        grads = _backward(net, state.params, caches, delta, l2)
        norms = _layer_norms(grads) if grad_norms else ()
        return state, grads, caches, StepMetrics(loss, correct, len(Xb), norms)

    return grads


def _update_stage(optimizer: Optimizer):
    # fit checked the params once and built grads and optimizer state itself.
    fast_update = unchecked(optimizer)
    ours = fast_update is not optimizer.update

    def update(carry):
        state, grads, caches, metrics = carry
        updates, opt_state = fast_update(grads, state.opt_state, state.params)
        if not ours:  # a user's own optimizer: check what it returned before using it
            tree_check_same(state.params, updates, names=("params", "the optimizer's updates"))
        return state, updates, opt_state, caches, metrics

    return update


def _apply_stage(net: Net):
    batchnorm = net.batchnorm

    def apply(carry):
        state, updates, opt_state, caches, metrics = carry
        add = np.add
        params = tuple([
            {k: add(v, u[k], dtype=v.dtype) for k, v in p.items()} for p, u in zip(state.params, updates)
        ])
        stats = _new_stats(state.stats, caches) if batchnorm else state.stats
        return TrainState(params, opt_state, stats), metrics

    return apply


def _new_stats(stats, caches):
    out = []
    for s, c in zip(stats, caches):
        if not s or c.bn is None:
            out.append(s)
            continue
        _, _, mean, var = c.bn
        n = c.h.shape[0]
        # Running variance uses the unbiased batch variance, as PyTorch does.
        unbiased = var * (n / (n - 1)) if n > 1 else var
        out.append({
            "mean": (1 - BN_MOMENTUM) * s["mean"] + BN_MOMENTUM * mean,
            "var": (1 - BN_MOMENTUM) * s["var"] + BN_MOMENTUM * unbiased,
        })
    return tuple(out)


def _layer_norms(grads) -> tuple:
    # vdot of a contiguous array with itself is one BLAS pass and allocates nothing.
    vdot, sqrt = np.vdot, math.sqrt
    return tuple([sqrt(sum([float(vdot(g, g)) for g in layer.values()])) for layer in grads])


def make_train_step(net: Net, optimizer: Optimizer, *, l2: float = 0.0, grad_norms: bool = True) -> Callable:
    """Compose gradients, optimizer update and apply into one unchecked train step.

    Args:
        net: the architecture.
        optimizer: an :class:`funcnet.optim.Optimizer`.
        l2: L2 penalty strength on the weights.
        grad_norms: measure each layer's gradient norm (about 5 us a step on a 64-128-10 net).

    Returns:
        ``step(state, batch) -> (state, metrics)`` with ``state`` a :class:`TrainState` and
        ``batch = (Xb, yb, key)``; inputs are trusted (checked once by :func:`fit`).

    >>> import funcnet as fn
    >>> net = fn.Net((2, 3, 2), dtype="float64")
    >>> opt = fn.optim.sgd(0.1)
    >>> params = fn.init(fn.random.key(0), net)
    >>> step = make_train_step(net, opt)
    >>> state = TrainState(params, opt.init(params), fn.init_stats(net))
    >>> state, m = step(state, (np.ones((4, 2)), np.array([0, 1, 0, 1]), None))
    >>> m.count, len(m.grad_norms)
    (4, 2)
    """
    head = HEADS[net.output]
    return toolz.compose_left(
        _grad_stage(net, head, l2, grad_norms), _update_stage(optimizer), _apply_stage(net)
    )


def train_step(net: Net, optimizer: Optimizer, state: TrainState, batch, *, l2: float = 0.0):
    """One checked train step: ``(state, (Xb, yb, key)) -> (new_state, metrics)``.

    Args:
        net: the architecture.
        optimizer: an :class:`funcnet.optim.Optimizer`.
        state: a :class:`TrainState` (params, optimizer state, batch-norm stats).
        batch: ``(Xb, yb, key)``; ``key`` may be ``None`` unless the net uses dropout.
        l2: L2 penalty strength on the weights.

    Returns:
        The new :class:`TrainState` and the batch's :class:`StepMetrics`.

    >>> import funcnet as fn
    >>> net = fn.Net((1, 1), output="identity", dtype="float64")
    >>> params = ({"W": np.array([[1.0]]), "b": np.array([0.0])},)
    >>> opt = fn.optim.sgd(0.25)
    >>> state = TrainState(params, opt.init(params), fn.init_stats(net))
    >>> new, m = train_step(net, opt, state, (np.array([[1.0]]), np.array([3.0]), None))
    >>> m.loss, new.params[0]["W"].item(), new.params[0]["b"].item()
    (4.0, 2.0, 1.0)
    """
    _check_net(net)
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer: expected a funcnet.optim.Optimizer, got {type(optimizer).__name__}")
    if not isinstance(state, TrainState):
        raise TypeError(f"state: expected a TrainState, got {type(state).__name__}")
    check_params(net, state.params, "state.params")
    Xb, yb, k = batch
    Xb = _as_dtype(check_X(net, Xb, "batch[0]"), net)
    yb = HEADS[net.output].targets(np.empty((len(Xb), net.sizes[-1]), Xb.dtype), yb, "batch[1]")
    k = check_key(k, "batch[2]", required=net.dropout > 0)
    l2 = check_nonneg_float(l2, "l2")
    stats = state.stats if net.batchnorm else tuple({} for _ in range(net.n_layers))
    return make_train_step(net, optimizer, l2=l2)(state._replace(stats=stats), (Xb, yb, k))


def _checked_data(net, params, key, X, y):
    """The checks every training entry point makes once: ``(key, X, y, head)``."""
    _check_net(net)
    check_params(net, params)
    key = check_key(key)
    X = _as_dtype(check_X(net, X), net)
    head = HEADS[net.output]
    y = head.targets(np.empty((len(X), net.sizes[-1]), X.dtype), y, "y")
    return key, X, y, head


def _as_dtype(X, net):
    # The params' dtype is the compute dtype; casting once here keeps every step in it.
    return X if X.dtype == net.dtype else X.astype(net.dtype)


# --- epochs and fit ---


class _Run(NamedTuple):
    state: TrainState
    records: tuple  # (newest record, (older..., ())): a cons list, O(1) to extend
    best: tuple | None  # (val_loss, epoch, params, stats) for early stopping
    waited: int
    stop: bool


def _batches(X, y, batch_size: int, perm):
    """``(Xb, yb, None)`` batches: gathered through the shuffled indices, or views in order."""
    n = len(X)
    if perm is None:  # fixed order: slices are views, nothing is copied
        return [(X[i:i + batch_size], y[i:i + batch_size], None) for i in range(0, n, batch_size)]
    # ndarray.take along axis 0 is the same gather as X[idx] at a fifth of the call overhead
    # on small batches (0.5 against 2.4 us for 32 rows of 64).
    return ((X.take(idx, 0), y[idx], None) for idx in (perm[i:i + batch_size] for i in range(0, n, batch_size)))


def _epoch_batches(X, y, batch_size: int, shuffle: bool, dropout: bool, key, epoch, fixed):
    """The epoch's ``(Xb, yb, key)`` batches; ``fixed`` holds the in-order batches, made once."""
    if not (shuffle or dropout):
        return fixed
    # fold_in costs a SeedSequence hash: derive the epoch key only when something draws from it.
    ekey = rnd.fold_in(key, epoch)
    pairs = _batches(X, y, batch_size, rnd.permutation(ekey, len(X))) if shuffle else fixed
    if not dropout:
        return pairs
    return [(Xb, yb, rnd.fold_in(ekey, i + 1)) for i, (Xb, yb, *_) in enumerate(pairs)]


def _run_epoch(step, batches, state, epoch: int, classifies: bool, grad_norms: bool):
    """Fold the step over one epoch's batches: ``(new state, the epoch's record)``."""

    # The fold carries (state, metrics so far as a cons list): O(1) per step; the epoch's
    # sums are taken once, at its end.
    def body(carry, batch):
        st, m = step(carry[0], batch)
        if not math.isfinite(m.loss):
            raise FloatingPointError(
                f"training diverged: the loss became {m.loss} at epoch {epoch + 1}, batch "
                f"{_length(carry[1]) + 1}; try a smaller learning rate"
            )
        return st, (m, carry[1])

    state, cons = toolz.reduce(body, batches, (state, ()))
    if not cons[1]:  # one batch (full-batch descent): the record is that step's metrics
        m = cons[0]
        record = {"epoch": epoch + 1, "loss": m.loss}
        if classifies:
            record["accuracy"] = m.correct / m.count
        if grad_norms:
            record["grad_norm"] = list(m.grad_norms)
        return state, record
    metrics = _unroll(cons)
    count = sum([m.count for m in metrics])
    record = {"epoch": epoch + 1, "loss": math.fsum([m.loss * m.count for m in metrics]) / count}
    if classifies:
        record["accuracy"] = sum([m.correct for m in metrics]) / count
    if grad_norms:
        record["grad_norm"] = [math.fsum(col) / len(metrics) for col in zip(*[m.grad_norms for m in metrics])]
    return state, record


def _length(cons) -> int:
    n = 0
    while cons:
        n, cons = n + 1, cons[1]
    return n


def _evaluate(net, head, params, stats, X, y, epoch):
    z = _forward_eval(net, params, X, stats)
    out = {"val_loss": head.loss.value(z, y)}
    if not math.isfinite(out["val_loss"]):
        raise FloatingPointError(
            f"training diverged: the validation loss became {out['val_loss']} after epoch "
            f"{epoch + 1}; try a smaller learning rate"
        )
    if head.classifies:
        out["val_accuracy"] = _accuracy(head, z, y)
    return out


def fit(
    net: Net,
    params,
    X,
    y,
    *,
    key: rnd.Key,
    optimizer: Optimizer | None = None,
    epochs: int = 10,
    batch_size: int = 32,
    l2: float = 0.0,
    validation: tuple | None = None,
    patience: int | None = None,
    min_delta: float = 0.0,
    stats=None,
    shuffle: bool = True,
    callback: Callable[[dict], Any] | None = None,
    grad_norms: bool = True,
) -> FitResult:
    """Train ``params`` by folding the train step over shuffled mini-batches, epoch by epoch.

    Args:
        net: the architecture.
        params: initial params (unchanged by this call).
        X: (n, sizes[0]) training inputs; cast once to ``net.dtype`` if of another dtype.
        y: training targets (see :mod:`funcnet.losses`).
        key: the run's key; epoch ``e`` shuffles with ``fold_in(key, e)``, and dropout masks
            come from keys folded in from that.
        optimizer: an :class:`funcnet.optim.Optimizer`; default ``sgd(0.1)``.
        epochs: passes over the data.
        batch_size: samples per step; the last batch of an epoch may be smaller. Clipped to n.
        l2: L2 penalty ``l2/2 * sum(W**2)`` on the weights.
        validation: optional ``(X_val, y_val)``, evaluated after every epoch.
        patience: early stopping: stop after this many epochs without the validation loss
            improving by more than ``min_delta``, and return the best params seen.
        min_delta: the improvement that counts for early stopping.
        stats: initial batch-norm running statistics (default ``init_stats(net)``).
        shuffle: reshuffle every epoch (``False``: fixed order, e.g. full-batch descent).
        callback: called with each epoch's record (a dict) for progress display; its return
            value is ignored and it cannot change the training.
        grad_norms: record per-layer gradient norms in the history (``False`` saves a few
            microseconds a step on tiny nets and drops the ``grad_norm`` entry).

    Returns:
        A :class:`FitResult` ``(params, history, stats, opt_state)``. ``history`` is a dict of
        lists, one entry per epoch: ``epoch``, ``loss`` (mean training loss over the epoch's
        batches, including the L2 term), ``accuracy`` (training accuracy of the batches as
        they were seen; classification only), ``grad_norm`` (per-layer gradient norms averaged
        over the epoch's batches), and ``val_loss``/``val_accuracy`` with ``validation``; with
        early stopping also ``best_epoch``, an int.

    >>> import funcnet as fn
    >>> X, y = fn.datasets.xor()
    >>> net = fn.Net((2, 8, 2), activation="tanh", dtype="float64")
    >>> r = fn.fit(net, fn.init(fn.random.key(0), net), X, y, key=fn.random.key(1),
    ...            optimizer=fn.optim.sgd(0.5), epochs=3, batch_size=2)
    >>> sorted(r.history), len(r.history["loss"]), len(r.history["grad_norm"][0])
    (['accuracy', 'epoch', 'grad_norm', 'loss'], 3, 2)
    """
    key, X, y, head = _checked_data(net, params, key, X, y)
    optimizer = sgd(0.1) if optimizer is None else optimizer
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer: expected a funcnet.optim.Optimizer, got {type(optimizer).__name__}")
    epochs = check_positive_int(epochs, "epochs")
    batch_size = min(check_positive_int(batch_size, "batch_size"), len(X))
    l2 = check_nonneg_float(l2, "l2")
    if validation is not None:
        if not isinstance(validation, (tuple, list)) or len(validation) != 2:
            raise TypeError("validation: expected a pair (X_val, y_val)")
        Xv = _as_dtype(check_X(net, validation[0], "validation[0]"), net)
        yv = head.targets(np.empty((len(Xv), net.sizes[-1]), Xv.dtype), validation[1], "validation[1]")
    if patience is not None:
        patience = check_positive_int(patience, "patience")
        if validation is None:
            raise ValueError("patience: early stopping needs validation=(X_val, y_val), got None")
    min_delta = check_nonneg_float(min_delta, "min_delta")
    if stats is None:
        stats = init_stats(net)
    else:
        check_stats(net, stats)
        tree_check_same(stats, init_stats(net), names=("stats", "init_stats(net)"))
    if not isinstance(shuffle, bool):
        raise TypeError(f"shuffle: expected True or False, got {shuffle!r}")
    if not isinstance(grad_norms, bool):
        raise TypeError(f"grad_norms: expected True or False, got {grad_norms!r}")

    _malloc.tune()
    step = make_train_step(net, optimizer, l2=l2, grad_norms=grad_norms)

    dropout = net.dropout > 0
    # The in-order batches are views, made once, and only when some epoch walks in order.
    fixed = _batches(X, y, batch_size, None) if not shuffle else None

    def run_epoch(run: _Run, epoch: int) -> _Run:
        batches = _epoch_batches(X, y, batch_size, shuffle, dropout, key, epoch, fixed)
        state, record = _run_epoch(step, batches, run.state, epoch, head.classifies, grad_norms)
        best, waited, stop = run.best, run.waited, False
        if validation is not None:
            record.update(_evaluate(net, head, state.params, state.stats, Xv, yv, epoch))
            if patience is not None:
                if best is None or record["val_loss"] < best[0] - min_delta:
                    best, waited = (record["val_loss"], epoch + 1, state.params, state.stats), 0
                else:
                    waited += 1
                    stop = waited >= patience
        if callback is not None:
            callback(dict(record))
        return _Run(state, (record, run.records), best, waited, stop)

    # Overflow shows up as a non-finite loss, which the epoch loop reports with its epoch and
    # batch; numpy's own warnings from deep inside would only say less, later.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        # The first run is made by the sequence itself, not passed as accumulate's `initial`
        # (or through toolz.cons, whose itertools.chain keeps its arguments): either would
        # hold the initial optimizer state (Adam's zero moments, as large as the params)
        # through every epoch.
        runs = toolz.accumulate(run_epoch, _start_then(params, optimizer, stats, range(epochs)))
        # Keep epochs up to and including the one that decided to stop.
        last = toolz.last(_until_stop(runs))
    records = _unroll(last.records)
    history = {k: [r[k] for r in records] for k in records[0]}
    if patience is not None:
        history["best_epoch"] = last.best[1]
        return FitResult(last.best[2], history, last.best[3], last.state.opt_state)
    return FitResult(last.state.params, history, last.state.stats, last.state.opt_state)


def _start_then(params, optimizer, stats, epochs):
    """The initial run, then the epochs: a generator, so nothing keeps the run once used."""
    yield _Run(TrainState(params, optimizer.init(params), stats), (), None, 0, False)
    yield from epochs


def _unroll(cons) -> list:
    out = []
    while cons:
        out.append(cons[0])
        cons = cons[1]
    return out[::-1]


def _until_stop(runs):
    for run in runs:
        yield run
        if run.stop:
            return
