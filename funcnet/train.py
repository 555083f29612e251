"""Training as a fold: a toolz-composed train step, reduced over shuffled mini-batches.

This is the one module that composes the core with toolz. A train step is the pipeline

    gradients (forward + loss + backward)  ->  optimizer update  ->  apply updates

built with :func:`toolz.compose_left` into ``step(state, batch) -> (state, metrics)``; the
stages hand each other named tuples. The gradient stage is
:func:`funcnet.objective._value_and_grad` and the last stage :func:`funcnet.optim.apply_updates`'s
arithmetic, the same functions the public ``value_and_grad`` and ``apply_updates`` run, so a
hand-written loop of those gives ``fit``'s params bit for bit. An epoch is a fold of the step
over the batches of one shuffle, and :func:`fit` is ``toolz.accumulate`` of epochs (cut short
by early stopping or a callback), so the whole run is a value computed from its inputs: the
same key gives the same params and history, bit for bit.

Data are checked once per ``fit``; an epoch shuffles *indices* and gathers one batch at a time
(no copy of the dataset); every array a step writes to is one it allocated itself.

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

from . import checks
from . import random as rnd
from .losses import HEADS
from .network import Net, _update_stats, check_net, check_params, check_stats, check_X, init_stats
from .objective import _evaluate, _targets, _value_and_grad
from .optim import Transform, sgd
from .optim.base import _apply_updates, check_optimizer, foreign_update, plain_counts
from .tree import global_norm, sum_squares, tree_leaves, tree_paths

__all__ = ["TrainState", "Batch", "StepMetrics", "FitResult", "make_train_step", "train_step", "fit"]


class TrainState(NamedTuple):
    """Everything a train step carries forward: plain data."""

    params: tuple
    opt_state: Any
    stats: tuple  # batch-norm running statistics ({} for layers without batch norm)


class Batch(NamedTuple):
    """One mini-batch: inputs, targets and the dropout key (None without dropout)."""

    X: np.ndarray
    y: np.ndarray
    key: Any = None


class StepMetrics(NamedTuple):
    """What one step measured on its batch."""

    loss: float
    correct: int  # correctly classified samples (0 for regression)
    count: int
    grad_norms: tuple  # per-layer Euclidean norm of the gradient (() when not tracked)


class FitResult(NamedTuple):
    """The outcome of :func:`fit`.

    Attributes:
        params: the final params, or the best ones with early stopping.
        history: a dict of lists, one entry per epoch run (see :func:`fit`).
        stats: the batch-norm running statistics that go with ``params``.
        opt_state: the optimizer state at the end of the last epoch run.
        best_epoch: with early stopping, the epoch ``params`` come from (1-based); else None.
    """

    params: tuple
    history: dict
    stats: tuple
    opt_state: Any
    best_epoch: int | None = None


# --- the stages of a train step ---


class _Gradients(NamedTuple):
    state: TrainState
    grads: tuple
    caches: list
    metrics: StepMetrics


class _Updated(NamedTuple):
    state: TrainState
    updates: tuple
    opt_state: Any
    caches: list
    metrics: StepMetrics


def _layer_norms(grads) -> tuple:
    return tuple([_norm(tree_leaves(layer)) for layer in grads])


def _norm(leaves) -> float:
    # float32 squares above ~1.8e19 overflow the BLAS sum: take those norms by rescaling
    norm = math.sqrt(sum_squares(leaves)[0])
    return norm if norm != math.inf else global_norm(leaves)


def _gradient_stage(net: Net, l2: float, grad_norms: bool):
    def gradients(state: TrainState, batch) -> _Gradients:
        X, y, key = batch
        r = _value_and_grad(net, state.params, X, y, key, l2)
        norms = _layer_norms(r.grads) if grad_norms else ()
        return _Gradients(state, r.grads, r.caches, StepMetrics(r.value, r.correct, len(X), norms))

    return gradients


def _update_fn(optimizer) -> Callable:
    """The optimizer's trusted update for ``fit``'s own grads and state; a user's own
    optimizer is called through its ``update`` and what it returns is checked."""
    if isinstance(optimizer, Transform):
        return optimizer._apply
    return lambda grads, state, params: foreign_update(optimizer, grads, state, params, "the optimizer")


def _update_stage(optimizer):
    update = _update_fn(optimizer)

    def updated(g: _Gradients) -> _Updated:
        updates, opt_state = update(g.grads, g.state.opt_state, g.state.params)
        return _Updated(g.state, updates, opt_state, g.caches, g.metrics)

    return updated


def _apply_stage(net: Net):
    def applied(u: _Updated):
        stats = _update_stats(net, u.state.stats, u.caches)
        return TrainState(_apply_updates(u.state.params, u.updates), u.opt_state, stats), u.metrics

    return applied


def make_train_step(net: Net, optimizer, *, l2: float = 0.0, grad_norms: bool = True) -> Callable:
    """Compose gradients, optimizer update and apply into one train step (inputs trusted).

    Args:
        net: the architecture.
        optimizer: a funcnet optimizer, or any object with ``init`` and ``update``.
        l2: L2 penalty strength on the weight matrices.
        grad_norms: measure each layer's gradient norm.

    Returns:
        ``step(state, batch) -> (state, metrics)`` with ``state`` a :class:`TrainState` and
        ``batch`` a :class:`Batch` ``(X, y, key)``; inputs are trusted (:func:`fit` checks
        them once; :func:`train_step` is the checked single step).

    >>> import funcnet as fn
    >>> net = fn.Net((2, 3, 2), dtype="float64")
    >>> opt = fn.optim.sgd(0.1)
    >>> params = fn.init(fn.random.key(0), net)
    >>> step = make_train_step(net, opt)
    >>> state = TrainState(params, opt.init(params), fn.init_stats(net))
    >>> state, m = step(state, Batch(np.ones((4, 2)), np.array([0, 1, 0, 1])))
    >>> m.count, len(m.grad_norms)
    (4, 2)
    """
    check_net(net)
    check_optimizer(optimizer)
    l2 = checks.real(l2, "l2", low=0)
    grad_norms = checks.boolean(grad_norms, "grad_norms")
    return toolz.compose_left(_gradient_stage(net, l2, grad_norms), _update_stage(optimizer), _apply_stage(net))


def train_step(net: Net, optimizer, state: TrainState, batch, *, l2: float = 0.0):
    """One checked train step: ``(state, (X, y, key)) -> (new_state, metrics)``.

    Args:
        net: the architecture.
        optimizer: an optimizer.
        state: a :class:`TrainState` (params, optimizer state, batch-norm stats).
        batch: ``(X, y, key)``; ``key`` may be ``None`` unless the net uses dropout.
        l2: L2 penalty strength on the weight matrices.

    Returns:
        The new :class:`TrainState` and the batch's :class:`StepMetrics`.

    Raises:
        FloatingPointError: the batch's loss, or the new params or statistics, are NaN or inf
            (training diverged, as :func:`fit` reports it).

    >>> import funcnet as fn
    >>> net = fn.Net((1, 1), output="identity", dtype="float64")
    >>> params = ({"W": np.array([[1.0]]), "b": np.array([0.0])},)
    >>> opt = fn.optim.sgd(0.25)
    >>> state = TrainState(params, opt.init(params), fn.init_stats(net))
    >>> new, m = train_step(net, opt, state, (np.array([[1.0]]), np.array([3.0]), None))
    >>> m.loss, new.params[0]["W"].item(), new.params[0]["b"].item()
    (4.0, 2.0, 1.0)
    """
    check_net(net)
    check_optimizer(optimizer)
    checks.instance(state, "state", TrainState, "a funcnet.TrainState")
    check_params(net, state.params, "state.params")
    stats = check_stats(net, state.stats, "state.stats")
    if isinstance(optimizer, Transform):  # a user's own optimizer checks its state itself
        _check_opt_state(optimizer, state.opt_state, state.params)
        state = state._replace(opt_state=plain_counts(state.opt_state))
    if not isinstance(batch, tuple) or len(batch) != 3:
        raise TypeError(f"batch: expected a tuple (X, y, key), got {checks.show(batch)}")
    X = check_X(net, batch[0], "batch[0]")
    y = _targets(net, X, batch[1], "batch[1]")
    key = checks.key(batch[2], "batch[2]", required=net.needs_key)
    l2 = checks.real(l2, "l2", low=0)
    step = make_train_step(net, optimizer, l2=l2)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        new, metrics = step(state._replace(stats=stats), Batch(X, y, key))
    if not math.isfinite(metrics.loss):
        raise FloatingPointError(f"training diverged: the loss became {metrics.loss}; try a smaller learning rate")
    _diverged(new.params, new.stats, "")
    return new, metrics


def _diverged(params, stats, when: str) -> None:
    """A FloatingPointError naming the first leaf of params or statistics that is NaN or inf."""
    for name, tree in (("params", params), ("stats", stats)):
        for path, a in tree_paths(tree):
            if not checks.all_finite(a):
                raise FloatingPointError(f"training diverged: {name}{path} became NaN or inf{when}; "
                                         f"try a smaller learning rate")


def _check_opt_state(optimizer, opt_state, params) -> None:
    # The grads of a step have the params' structure and shapes, so the params stand in for
    # them: the state is checked as its update would check it.
    try:
        optimizer.check(params, opt_state, params)
    except (TypeError, ValueError) as e:
        raise type(e)(f"state.opt_state: {e}") from None


# --- epochs and fit ---


class _Run(NamedTuple):
    state: TrainState
    records: tuple  # (newest record, (older..., ())): a cons list, O(1) to extend
    best: tuple | None  # (val_loss, epoch, params, stats) for early stopping
    waited: int
    stop: bool
    by_step: bool = False  # on_step stopped it (a non-finite step then ends the run, no error)


def _batches(X, y, batch_size: int, perm):
    """:class:`Batch` es without keys: gathered through the shuffled indices, or views in order."""
    n = len(X)
    if perm is None:  # fixed order: slices are views, nothing is copied
        return [Batch(X[i:i + batch_size], y[i:i + batch_size]) for i in range(0, n, batch_size)]
    # ndarray.take along axis 0 is the same gather as X[idx] at a fifth of the call overhead
    # on small batches.
    return (Batch(X.take(idx, 0), y[idx]) for idx in (perm[i:i + batch_size] for i in range(0, n, batch_size)))


def _epoch_batches(X, y, batch_size: int, shuffle: bool, dropout: bool, key, epoch: int, fixed):
    """The epoch's :class:`Batch` es; ``fixed`` holds the in-order ones, made once."""
    if not (shuffle or dropout):
        return fixed
    # fold_in costs a SeedSequence hash: derive the epoch key only when something draws from it.
    ekey = rnd.fold_in(key, epoch)
    batches = _batches(X, y, batch_size, rnd.permutation(ekey, len(X))) if shuffle else fixed
    if not dropout:
        return batches
    return (b._replace(key=rnd.fold_in(ekey, i + 1)) for i, b in enumerate(batches))


class _EpochCarry(NamedTuple):
    state: TrainState
    metrics: tuple  # cons list of the steps' metrics, newest first
    steps: int
    stop: bool


def _run_epoch(step, batches, state, epoch: int, on_step, first_step: int):
    """Fold the step over one epoch's batches: ``(new state, metrics in order, stopped)``."""

    def body(carry: _EpochCarry, batch) -> _EpochCarry:
        st, m = step(carry.state, batch)
        stop = on_step is not None and on_step(first_step + carry.steps, m) is True
        if not stop and not math.isfinite(m.loss):
            raise FloatingPointError(
                f"training diverged: the loss became {m.loss} at epoch {epoch + 1}, batch "
                f"{carry.steps + 1}; try a smaller learning rate"
            )
        return _EpochCarry(st, (m, carry.metrics), carry.steps + 1, stop)

    carries = toolz.accumulate(body, batches, _EpochCarry(state, (), 0, False))
    last = toolz.last(_through_stop(carries))
    return last.state, _unroll(last.metrics), last.stop


def _record(epoch: int, metrics: list, classifies: bool, grad_norms: bool) -> dict:
    """The history entry of an epoch from its steps' metrics."""
    count = sum([m.count for m in metrics])
    record = {"epoch": epoch + 1, "loss": _mean([m.loss * m.count for m in metrics], count)}
    if len(metrics) == 1:  # one batch (full-batch descent): that step's loss, exactly
        record["loss"] = metrics[0].loss
    if classifies:
        record["accuracy"] = sum([m.correct for m in metrics]) / count
    if grad_norms:
        record["grad_norm"] = [_mean(col, len(metrics)) for col in zip(*[m.grad_norms for m in metrics])]
    return record


def _mean(terms, count) -> float:
    """``fsum(terms) / count`` for terms >= 0 (losses, norms); when finite terms sum beyond the
    float range, the sum of ``term / count`` instead (rounded otherwise, so only then)."""
    try:
        mean = math.fsum(terms) / count
    except OverflowError:  # fsum's partial sums of finite terms overflowed
        mean = math.inf
    if mean == math.inf and all(math.isfinite(t) for t in terms):
        mean = math.fsum([t / count for t in terms])
    return mean


def _validate(net, params, stats, Xv, yv, classifies: bool, epoch: int) -> dict:
    value, correct = _evaluate(net, params, Xv, yv, stats)
    if not math.isfinite(value):
        raise FloatingPointError(
            f"training diverged: the validation loss became {value} after epoch {epoch + 1}; "
            f"try a smaller learning rate"
        )
    out = {"val_loss": value}
    if classifies:
        out["val_accuracy"] = correct / len(Xv)
    return out


def fit(
    net: Net,
    params,
    X,
    y,
    *,
    key: rnd.Key,
    optimizer=None,
    epochs: int = 10,
    batch_size: int = 32,
    l2: float = 0.0,
    validation: tuple | None = None,
    patience: int | None = None,
    min_delta: float = 0.0,
    stats=None,
    shuffle: bool = True,
    callback: Callable[[dict], Any] | None = None,
    on_step: Callable[[int, StepMetrics], Any] | None = None,
    grad_norms: bool = True,
) -> FitResult:
    """Train ``params`` by folding the train step over shuffled mini-batches, epoch by epoch.

    Args:
        net: the architecture.
        params: initial params (unchanged by this call).
        X: (n, sizes[0]) training inputs; cast once to ``net.dtype`` if of another dtype.
        y: training targets (see :mod:`funcnet.losses`), one per row of ``X``.
        key: the run's key; epoch ``e`` (from 0) shuffles with ``fold_in(key, e)``, and the
            dropout masks of its batch ``i`` come from ``fold_in(fold_in(key, e), i + 1)``.
        optimizer: a funcnet optimizer or any object with ``init`` and ``update``; default
            ``sgd(0.1)``.
        epochs: passes over the data.
        batch_size: samples per step; the last batch of an epoch may be smaller. Clipped to n.
        l2: L2 penalty ``l2/2 * sum(W**2)`` on the weight matrices.
        validation: optional ``(X_val, y_val)``, evaluated after every epoch.
        patience: early stopping: stop after this many epochs without the validation loss
            improving by more than ``min_delta``, and return the best params seen.
        min_delta: the improvement that counts for early stopping.
        stats: initial batch-norm running statistics (default ``init_stats(net)``).
        shuffle: reshuffle every epoch (``False``: fixed order, e.g. full-batch descent).
        callback: called with each epoch's record (a dict, a copy) after the epoch; returning
            ``True`` stops training there. It cannot change the training otherwise.
        on_step: called as ``on_step(step, metrics)`` after every step (``step`` counts from 0
            over the whole run); returning ``True`` stops training at once, and a step whose
            loss is not finite then ends the run instead of raising.
        grad_norms: record per-layer gradient norms in the history.

    Returns:
        A :class:`FitResult`. ``history`` holds one entry per epoch run in each list:
        ``epoch``, ``loss`` (mean training loss over the epoch's batches, including the L2
        term), ``accuracy`` (training accuracy of the batches as they were seen;
        classification only), ``grad_norm`` (per-layer gradient norms averaged over the
        epoch's batches), and ``val_loss``/``val_accuracy`` with ``validation``.

    Raises:
        FloatingPointError: the loss became NaN or inf (training diverged), naming the epoch.

    >>> import funcnet as fn
    >>> X, y = fn.datasets.xor()
    >>> net = fn.Net((2, 8, 2), activation="tanh", dtype="float64")
    >>> r = fn.fit(net, fn.init(fn.random.key(0), net), X, y, key=fn.random.key(1),
    ...            optimizer=fn.optim.sgd(0.5), epochs=3, batch_size=2)
    >>> sorted(r.history), len(r.history["loss"]), len(r.history["grad_norm"][0]), r.best_epoch
    (['accuracy', 'epoch', 'grad_norm', 'loss'], 3, 2, None)
    """
    check_net(net)
    check_params(net, params)
    key = checks.key(key)
    X = check_X(net, X)
    y = _targets(net, X, y, "y")
    optimizer = sgd(0.1) if optimizer is None else check_optimizer(optimizer)
    epochs = checks.integer(epochs, "epochs", low=1)
    batch_size = min(checks.integer(batch_size, "batch_size", low=1), len(X))
    l2 = checks.real(l2, "l2", low=0)
    if validation is not None:
        if not isinstance(validation, (tuple, list)) or len(validation) != 2:
            raise TypeError(f"validation: expected a pair (X_val, y_val), got {checks.show(validation)}")
        Xv = check_X(net, validation[0], "validation[0]")
        yv = _targets(net, Xv, validation[1], "validation[1]")
    if patience is not None:
        patience = checks.integer(patience, "patience", low=1)
        if validation is None:
            raise ValueError("patience: early stopping needs validation=(X_val, y_val), got None")
    min_delta = checks.real(min_delta, "min_delta", low=0)
    stats = init_stats(net) if stats is None else check_stats(net, stats)
    shuffle = checks.boolean(shuffle, "shuffle")
    grad_norms = checks.boolean(grad_norms, "grad_norms")
    if callback is not None:
        checks.function(callback, "callback", "a function record -> stop?")
    if on_step is not None:
        checks.function(on_step, "on_step", "a function (step, metrics) -> stop?")

    step = make_train_step(net, optimizer, l2=l2, grad_norms=grad_norms)
    classifies = HEADS[net.output].classifies
    dropout = net.needs_key
    # The in-order batches are views, made once, and only when some epoch walks in order.
    fixed = _batches(X, y, batch_size, None) if not shuffle else None
    steps_per_epoch = -(-len(X) // batch_size)

    def run_epoch(run: _Run, epoch: int) -> _Run:
        batches = _epoch_batches(X, y, batch_size, shuffle, dropout, key, epoch, fixed)
        state, metrics, stopped = _run_epoch(step, batches, run.state, epoch, on_step, epoch * steps_per_epoch)
        record = _record(epoch, metrics, classifies, grad_norms)
        best, waited, stop = run.best, run.waited, stopped
        if validation is not None and not stopped:
            record.update(_validate(net, state.params, state.stats, Xv, yv, classifies, epoch))
            if patience is not None:
                if best is None or record["val_loss"] < best[0] - min_delta:
                    best, waited = (record["val_loss"], epoch + 1, state.params, state.stats), 0
                else:
                    waited += 1
                    stop = waited >= patience
        if callback is not None and callback({k: list(v) if isinstance(v, list) else v
                                              for k, v in record.items()}) is True:
            stop = True
        return _Run(state, (record, run.records), best, waited, stop, stopped)

    # Overflow shows up as a non-finite loss, which the epoch loop reports with its epoch and
    # batch; NumPy's own warnings from deep inside would only say less, later.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        # The first run is made by the sequence itself, not passed as accumulate's `initial`:
        # that would hold the initial optimizer state (Adam's zero moments, as large as the
        # params) through every epoch.
        runs = toolz.accumulate(run_epoch, _start_then(params, optimizer, stats, range(epochs)))
        last = toolz.last(_through_stop(runs))
    records = _unroll(last.records)
    history = {k: [r.get(k) for r in records] for k in records[0]}
    # Each step's loss is checked, but the last update is seen by no loss after it (unless
    # on_step ended the run: then a step that blew up ends it without an error).
    if not last.by_step:
        _diverged(last.state.params, last.state.stats, " at the last step")
    if patience is not None and last.best is not None:
        return FitResult(last.best[2], history, last.best[3], last.state.opt_state, last.best[1])
    return FitResult(last.state.params, history, last.state.stats, last.state.opt_state, None)


def _start_then(params, optimizer, stats, epochs):
    """The initial run, then the epochs: a generator, so nothing keeps the run once used."""
    # No local name holds the initial state: this frame lives as long as the run.
    yield _Run(TrainState(params, _initial_state(optimizer, params), stats), (), None, 0, False)
    yield from epochs


def _initial_state(optimizer, params):
    opt_state = optimizer.init(params)
    if isinstance(optimizer, Transform):  # once: e.g. what a weight-decay mask function returns
        _check_opt_state(optimizer, opt_state, params)
    return opt_state


def _unroll(cons) -> list:
    out = []
    while cons:
        out.append(cons[0])
        cons = cons[1]
    return out[::-1]


def _through_stop(items):
    """The items up to and including the first whose ``stop`` is set."""
    for item in items:
        yield item
        if item.stop:
            return
