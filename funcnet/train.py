"""Training as a fold: a toolz-composed train step, reduced over shuffled mini-batches.

This is the one module that composes the core with toolz. A train step is the pipeline

    gradients (forward + loss + backward)  ->  optimizer update, applied to the params

built with :func:`toolz.compose_left` into ``step(state, batch) -> (state, metrics)``; the
stages hand each other named tuples. The gradient stage is
:func:`funcnet.objective._value_and_grad`, and the second the optimizer's update followed by
:func:`funcnet.optim.apply_updates`'s arithmetic (for a scalar transform such as ``sgd``, the
two leaf by leaf in one pass), the same functions the public ``value_and_grad``, ``update``
and ``apply_updates`` run, so a hand-written loop of those gives ``fit``'s params bit for bit;
``fit(..., gradient=fn)`` puts a function of your own (gradients from other machines, say) in
the first stage's place. An epoch is a fold of the step over the batches of one shuffle, and
:func:`fit` is ``toolz.accumulate`` of epochs (cut short by early stopping or a callback), so
the whole run is a value computed from its inputs: the same key gives the same params and
history, bit for bit.

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
import warnings
from typing import Any, Callable, NamedTuple

import numpy as np
import toolz

from . import _threads, checks
from . import random as rnd
from .augment import _applied
from .losses import HEADS, smooth_labels
from .network import Net, _products, _update_stats, check_net, check_params, check_stats, check_X, init_stats
from .objective import _evaluate, _targets, _value_and_grad
from .optim import Transform, sgd
from .optim.base import _apply_updates, check_optimizer, foreign_update, plain_counts, schedules_of
from .tree import global_norm, sum_squares, tree_paths

__all__ = ["TrainState", "Batch", "StepMetrics", "BatchGradients", "Best", "FitState", "FitResult",
           "ScheduleWarning", "make_train_step", "train_step", "fit", "steps_per_epoch"]


class ScheduleWarning(UserWarning):
    """A learning-rate schedule that stops training long before the run ends.

    :func:`fit` warns with it when a schedule of the optimizer gives a rate of 0 before the
    middle of the run: schedules count optimizer steps, and one sized in epochs ends early.

    >>> import warnings
    >>> import funcnet as fn
    >>> X, y = fn.datasets.xor()
    >>> net = fn.Net((2, 2), dtype="float64")
    >>> opt = fn.optim.sgd(fn.schedules.linear(0.1, 0.0, steps=2))
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = fn.fit(net, fn.init(fn.random.key(0), net), X, y, key=fn.random.key(1),
    ...                optimizer=opt, epochs=10, batch_size=4)
    >>> [w.category.__name__ for w in caught]
    ['ScheduleWarning']
    """


def steps_per_epoch(n_samples: int, batch_size: int) -> int:
    """Optimizer steps in one epoch of ``n_samples`` in batches of ``batch_size``.

    The last batch may be smaller. A schedule counts steps, so a run of ``epochs`` epochs
    takes ``epochs * steps_per_epoch(n, b)`` of them.

    Args:
        n_samples: training samples, an integer >= 1.
        batch_size: samples per step, an integer >= 1; clipped to ``n_samples``, as
            :func:`fit` clips it.

    Returns:
        ``ceil(n_samples / min(batch_size, n_samples))``, a Python int.

    >>> steps_per_epoch(60000, 128)
    469
    >>> steps_per_epoch(10, 32)
    1
    """
    n = checks.integer(n_samples, "n_samples", low=1)
    return -(-n // min(checks.integer(batch_size, "batch_size", low=1), n))


class TrainState(NamedTuple):
    """Everything a train step carries forward: plain data.

    Attributes:
        params: the params, a tuple with one dict per ``Dense`` layer.
        opt_state: the optimizer's state (what its ``init`` and ``update`` give).
        stats: the batch-norm running statistics, one dict per layer (``{}`` for layers
            without batch norm), as :func:`funcnet.init_stats` makes them.

    >>> import funcnet as fn
    >>> net = fn.Net((2, 3, 2), dtype="float64")
    >>> params, opt = fn.init(fn.random.key(0), net), fn.optim.sgd(0.1)
    >>> state = TrainState(params, opt.init(params), fn.init_stats(net))
    >>> state.stats, state.opt_state.count
    (({}, {}), 0)
    """

    params: tuple
    opt_state: Any
    stats: tuple  # batch-norm running statistics ({} for layers without batch norm)


class Batch(NamedTuple):
    """One mini-batch: inputs, targets and the dropout key (None without dropout).

    Attributes:
        X: inputs, (n, n_in).
        y: targets, one per row of ``X``: class indices (n,), or (n, n_out) for one-hot,
            multi-label and regression targets (see :mod:`funcnet.losses`).
        key: the batch's key, from which the dropout masks are drawn; ``None`` without
            dropout.

    >>> b = Batch(np.zeros((4, 2)), np.array([0, 1, 1, 0]))
    >>> b.X.shape, b.y.shape, b.key
    ((4, 2), (4,), None)
    """

    X: np.ndarray
    y: np.ndarray
    key: Any = None


class StepMetrics(NamedTuple):
    """What one step measured on its batch.

    Attributes:
        loss: the batch's mean training loss, L2 term included.
        correct: the samples the head classified right (0 for regression).
        count: the samples in the batch.
        grad_norms: the Euclidean norm of each layer's gradient, one float per ``Dense``
            layer (``()`` when not tracked).

    >>> import funcnet as fn
    >>> net = fn.Net((1, 1), output="identity", dtype="float64")
    >>> params = ({"W": np.array([[1.0]]), "b": np.array([0.0])},)
    >>> opt = fn.optim.sgd(0.25)
    >>> state = TrainState(params, opt.init(params), fn.init_stats(net))
    >>> _, m = train_step(net, opt, state, (np.array([[1.0]]), np.array([3.0]), None))
    >>> m
    StepMetrics(loss=4.0, correct=0, count=1, grad_norms=(5.656854249492381,))
    """

    loss: float
    correct: int  # correctly classified samples (0 for regression)
    count: int
    grad_norms: tuple  # per-layer Euclidean norm of the gradient (() when not tracked)


class BatchGradients(NamedTuple):
    """What a gradient function of your own gives :func:`fit` for one batch (``gradient=``).

    Attributes:
        value: the batch's mean loss, L2 term included (what :func:`funcnet.value_and_grad`
            gives).
        grads: its gradient, a tree like the params.
        correct: the samples the head classified right (0 for regression).
        stats: the batch-norm running statistics after the batch (:func:`funcnet.update_stats`;
            the ones it was given for a net without batch norm).

    A gradient function that gives what :func:`fit` computes itself, and the same history:

    >>> import funcnet as fn
    >>> net = fn.Net((2, 2), dtype="float64")
    >>> X, y = fn.datasets.xor()
    >>> def gradient(params, stats, batch):
    ...     value, grads = fn.value_and_grad(net, params, batch.X, batch.y)
    ...     correct = int((fn.predict(net, params, batch.X) == batch.y).sum())
    ...     return BatchGradients(value, grads, correct, stats)
    >>> params = fn.init(fn.random.key(0), net)
    >>> own = fn.fit(net, params, X, y, key=fn.random.key(1), gradient=gradient, epochs=2)
    >>> own.history == fn.fit(net, params, X, y, key=fn.random.key(1), epochs=2).history
    True
    """

    value: float
    grads: tuple
    correct: int
    stats: tuple


class Best(NamedTuple):
    """Early stopping's bookkeeping: the best epoch so far and what it left.

    Attributes:
        value: the monitored validation value of that epoch.
        epoch: the epoch, 1-based.
        params: the params after it.
        stats: the batch-norm running statistics after it.
        monitor: what ``value`` is: ``"val_loss"`` (lower is better) or ``"val_accuracy"``.

    :func:`fit` keeps one in its :class:`FitState` when it is given ``patience``:

    >>> import funcnet as fn
    >>> X, y = fn.datasets.xor()
    >>> net = fn.Net((2, 2), dtype="float64")
    >>> r = fn.fit(net, fn.init(fn.random.key(0), net), X, y, key=fn.random.key(1),
    ...            validation=(X, y), patience=2, epochs=3)
    >>> r.state.best.epoch, r.state.best.monitor, r.state.best.value == r.history["val_loss"][-1]
    (3, 'val_loss', True)
    """

    value: float  # the monitored validation value
    epoch: int  # 1-based
    params: tuple
    stats: tuple
    monitor: str = "val_loss"  # what value is: "val_loss" (lower is better) or "val_accuracy"


class FitState(NamedTuple):
    """Everything :func:`fit` needs to go on where a run ended, bit for bit.

    Attributes:
        train: the :class:`TrainState` (params, optimizer state, running statistics) after
            the last epoch.
        epoch: the epochs run.
        best: the :class:`Best` epoch with early stopping, else ``None``.
        waited: the epochs since the best one.
        stopped: whether the run ended itself (early stopping, or a callback that said so).

    >>> import funcnet as fn
    >>> X, y = fn.datasets.xor()
    >>> net = fn.Net((2, 2), dtype="float64")
    >>> s = fn.fit(net, fn.init(fn.random.key(0), net), X, y, key=fn.random.key(1), epochs=2).state
    >>> s.epoch, s.best, s.waited, s.stopped, s.train.opt_state.count
    (2, None, 0, False, 2)
    """

    train: TrainState  # params, optimizer state and running statistics after the last epoch
    epoch: int  # epochs run
    best: Best | None  # with early stopping
    waited: int  # epochs since the best one
    stopped: bool  # the run ended itself (early stopping, or a callback that said so)


class FitResult(NamedTuple):
    """The outcome of :func:`fit`.

    Attributes:
        params: the final params, or the best ones with early stopping.
        history: a dict of lists, one entry per epoch run (see :func:`fit`).
        stats: the batch-norm running statistics that go with ``params``.
        opt_state: the optimizer state at the end of the last epoch run.
        best_epoch: with early stopping, the epoch ``params`` come from (1-based); else None.
        state: a :class:`FitState`: pass the result back to :func:`fit` as ``params`` to train
            on from where this run ended.

    >>> import funcnet as fn
    >>> X, y = fn.datasets.xor()
    >>> net = fn.Net((2, 2), dtype="float64")
    >>> r = fn.fit(net, fn.init(fn.random.key(0), net), X, y, key=fn.random.key(1), epochs=2)
    >>> r.history["epoch"], r.params[0]["W"].shape, r.best_epoch
    ([1, 2], (2, 2), None)
    >>> fn.fit(net, r, X, y, key=fn.random.key(1), epochs=3).history["epoch"]
    [1, 2, 3]
    """

    params: tuple
    history: dict
    stats: tuple
    opt_state: Any
    best_epoch: int | None
    state: FitState


# --- the stages of a train step ---


class _Gradients(NamedTuple):
    state: TrainState
    grads: tuple
    stats: tuple  # the running statistics after the batch
    metrics: StepMetrics


def _layer_norms(grads) -> tuple:
    # grads are like the params (checked so when they come from a gradient function): flat
    # dicts of arrays, whose leaves are their values in sorted key order.
    return tuple([_norm([layer[k] for k in sorted(layer)]) for layer in grads])


def _norm(leaves) -> float:
    # float32 squares above ~1.8e19 overflow the BLAS sum: take those norms by rescaling
    norm = math.sqrt(sum_squares(leaves)[0])
    return norm if norm != math.inf else global_norm(leaves)


def _gradient_stage(net: Net, l2: float, grad_norms: bool, gradient=None):
    if gradient is not None:
        return _own_gradient_stage(net, grad_norms, gradient)

    def gradients(state: TrainState, batch) -> _Gradients:
        X, y, key = batch
        r = _value_and_grad(net, state.params, X, y, key, l2)
        norms = _layer_norms(r.grads) if grad_norms else ()
        # The statistics are taken here so that the caches (activations) go before the update.
        stats = _update_stats(net, state.stats, r.caches)
        return _Gradients(state, r.grads, stats, StepMetrics(r.value, r.correct, len(X), norms))

    return gradients


def _own_gradient_stage(net: Net, grad_norms: bool, gradient):
    """The gradient stage from a function of the user's: what it returns is checked every step
    before anything uses it, as a user's own optimizer's updates are."""
    def gradients(state: TrainState, batch) -> _Gradients:
        r = gradient(state.params, state.stats, batch)
        if not isinstance(r, tuple) or len(r) != 4:
            raise TypeError(f"gradient: expected a function returning BatchGradients(value, grads, correct, "
                            f"stats), got {checks.show(r)}")
        value, grads, correct, stats = r
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"gradient's value: expected a number, got {checks.show(value)}")
        checks.arrays_like(grads, state.params, "gradient's grads", "params", dtype=net.dtype, check_finite=False)
        correct = checks.integer(correct, "gradient's correct", low=0, high=len(batch.X))
        stats = check_stats(net, stats, "gradient's stats")
        norms = _layer_norms(grads) if grad_norms else ()
        return _Gradients(state, grads, stats, StepMetrics(float(value), correct, len(batch.X), norms))

    return gradients


def _step_fn(optimizer) -> Callable:
    """The optimizer's trusted step, ``(grads, state, params) -> (new params, new state)``,
    for ``fit``'s own grads and state: its update, then the updates applied. A user's own
    optimizer is called through its ``update`` and what it returns is checked."""
    if isinstance(optimizer, Transform):
        return optimizer._step

    def step(grads, state, params):
        updates, state = foreign_update(optimizer, grads, state, params, "the optimizer")
        return _apply_updates(params, updates), state

    return step


def _update_stage(optimizer):
    step = _step_fn(optimizer)

    def updated(g: _Gradients):
        params, opt_state = step(g.grads, g.state.opt_state, g.state.params)
        return TrainState(params, opt_state, g.stats), g.metrics

    return updated


def make_train_step(net: Net, optimizer, *, l2: float = 0.0, grad_norms: bool = True,
                    gradient: Callable | None = None) -> Callable:
    """Compose gradients, optimizer update and apply into one train step (inputs trusted).

    Args:
        net: the architecture.
        optimizer: a funcnet optimizer, or any object with ``init`` and ``update``.
        l2: L2 penalty strength on the weight matrices.
        grad_norms: measure each layer's gradient norm.
        gradient: another source of gradients (see :func:`fit`); ``l2`` must then be 0.

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
    _check_gradient(gradient, l2)
    return toolz.compose_left(_gradient_stage(net, l2, grad_norms, gradient), _update_stage(optimizer))


def _check_gradient(gradient, l2: float) -> None:
    if gradient is None:
        return
    checks.function(gradient, "gradient", "a function (params, stats, batch) -> BatchGradients")
    if l2:
        raise ValueError(f"l2: a gradient function computes the whole objective, its penalty included "
                         f"(give it the l2); expected 0 with gradient=, got {l2}")


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


def _warn_if_the_schedule_ends_early(optimizer, epochs: int, per_epoch: int) -> None:
    # Schedules count optimizer steps; given epochs instead, one ends after a handful of steps
    # and the rest of the run trains at its final rate, 0 for most: silently frozen.
    total = epochs * per_epoch
    for schedule in schedules_of(optimizer):
        if schedule(0) > 0 and schedule(total // 2) == 0:
            warnings.warn(f"optimizer: its schedule {schedule!r} gives a rate of 0 from before the middle of "
                          f"this run (step {total // 2} of {total}: {epochs} epochs of {per_epoch} steps); "
                          f"schedules count optimizer steps, not epochs", ScheduleWarning, stacklevel=3)


def _check_opt_state(optimizer, opt_state, params, name: str = "state.opt_state") -> None:
    # The grads of a step have the params' structure and shapes, so the params stand in for
    # them: the state is checked as its update would check it.
    try:
        optimizer.check(params, opt_state, params)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{name}: {e}") from None


# --- epochs and fit ---


class _Run(NamedTuple):
    state: TrainState
    records: tuple  # (newest record, (older..., ())): a cons list, O(1) to extend
    best: Best | None  # for early stopping
    waited: int
    stop: bool
    by_step: bool = False  # on_step stopped it (a non-finite step then ends the run, no error)


def _batches(X, y, batch_size: int, perm):
    """:class:`Batch` es without keys: gathered through the shuffled indices, or views in order."""
    n = len(X)
    if perm is None:  # fixed order: slices are views, nothing is copied
        return [Batch(X[i:i + batch_size], y[i:i + batch_size]) for i in range(0, n, batch_size)]
    # ndarray.take along axis 0 is the same gather as X[idx] with much less call overhead,
    # which counts on small batches.
    return (Batch(X.take(idx, 0), y[idx]) for idx in (perm[i:i + batch_size] for i in range(0, n, batch_size)))


def _epoch_batches(X, y, batch_size: int, shuffle: bool, dropout: bool, key, epoch: int, fixed,
                   augment=None):
    """The epoch's :class:`Batch` es; ``fixed`` holds the in-order ones, made once.

    Batch ``i`` of epoch ``e`` has the key ``fold_in(fold_in(key, e), i + 1)``: its dropout
    masks come from it, and an ``augment`` function gets ``fold_in(that key, 0)``.
    """
    if not (shuffle or dropout or augment):
        return fixed
    # fold_in costs a SeedSequence hash: derive the epoch key only when something draws from it.
    ekey = rnd.fold_in(key, epoch)
    batches = _batches(X, y, batch_size, rnd.permutation(ekey, len(X))) if shuffle else fixed
    if not (dropout or augment):
        return batches
    return (_keyed(b, rnd.fold_in(ekey, i + 1), dropout, augment) for i, b in enumerate(batches))


def _keyed(batch, key, dropout: bool, augment):
    if augment is not None:
        batch = batch._replace(X=_applied(augment, rnd.fold_in(key, 0), batch.X, "augment"))
    return batch._replace(key=key) if dropout else batch


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
    if len(metrics) == 1:  # one batch (full-batch descent): that step's numbers, exactly
        m = metrics[0]
        record = {"epoch": epoch + 1, "loss": m.loss}
        if classifies:
            record["accuracy"] = m.correct / m.count
        if grad_norms:
            record["grad_norm"] = list(m.grad_norms)
        return record
    count = sum([m.count for m in metrics])
    record = {"epoch": epoch + 1, "loss": _mean([m.loss * m.count for m in metrics], count)}
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
    monitor: str = "val_loss",
    label_smoothing: float = 0.0,
    augment: Callable | None = None,
    gradient: Callable | None = None,
    threads: int | str | None = "auto",
) -> FitResult:
    """Train ``params`` by folding the train step over shuffled mini-batches, epoch by epoch.

    Args:
        net: the architecture.
        params: initial params (unchanged by this call), or the :class:`FitResult` of an
            earlier ``fit`` to continue it: with the same ``key``, data and settings, ``fit``
            for 4 epochs equals ``fit`` for 2 and then ``fit(net, that_result, ...,
            epochs=4)``, bit for bit (optimizer state, schedules, dropout, batch norm and
            early stopping go on where they were; the history continues). ``epochs`` counts
            all epochs, those run before included; a run that ended itself (early stopping,
            a callback) is returned as it is.
        X: (n, sizes[0]) training inputs; cast once to ``net.dtype`` if of another dtype.
        y: training targets (see :mod:`funcnet.losses`), one per row of ``X``.
        key: the run's key; epoch ``e`` (from 0) shuffles with ``fold_in(key, e)``, and the
            dropout masks of its batch ``i`` come from ``fold_in(fold_in(key, e), i + 1)``.
        optimizer: a funcnet optimizer or any object with ``init`` and ``update``; default
            ``sgd(0.1)``.
        epochs: passes over the data, in all.
        batch_size: samples per step; the last batch of an epoch may be smaller. Clipped to n.
        l2: L2 penalty ``l2/2 * sum(W**2)`` on the weight matrices.
        validation: optional ``(X_val, y_val)``, evaluated after every epoch.
        patience: early stopping: stop after this many epochs without ``monitor`` improving
            by more than ``min_delta``, and return the params (and statistics) of the best
            epoch (``best_epoch``), not the last one.
        min_delta: the improvement that counts for early stopping.
        stats: initial batch-norm running statistics (default ``init_stats(net)``).
        shuffle: reshuffle every epoch (``False``: fixed order, e.g. full-batch descent).
        callback: called with each epoch's record (a dict, a copy) after the epoch; returning
            ``True`` stops training there. It cannot change the training otherwise.
        on_step: called as ``on_step(step, metrics)`` after every step (``step`` counts from 0
            over the whole run); returning ``True`` stops training at once, and a step whose
            loss is not finite then ends the run instead of raising.
        grad_norms: record per-layer gradient norms in the history.
        monitor: what early stopping watches: ``"val_loss"`` (lower is better) or
            ``"val_accuracy"`` (higher is better; classification heads).
        label_smoothing: softmax and sigmoid heads: train on targets moved this far towards
            the uniform distribution (see :func:`funcnet.losses.smooth_labels`), in [0, 1).
        augment: a function ``(key, X) -> X`` applied to every training batch with that
            batch's key (see :mod:`funcnet.augment`); validation data are left as they are.
        gradient: another source of gradients, for everything else of ``fit`` (epochs,
            shuffling, history, early stopping, callbacks, continuing a run) around it:
            ``gradient(params, stats, batch) -> BatchGradients(value, grads, correct, stats)``,
            called once per batch with the :class:`Batch` (``X``, ``y`` as ``fit`` made them,
            smoothed and augmented, and ``key``) and the running statistics; what it returns
            is checked every step. It computes the whole objective, so ``l2`` must be 0.
            :func:`funcnet.distributed.fit` is ``fit`` with one that sums shard gradients on
            a Dask cluster. The default is the training pass of :func:`funcnet.value_and_grad`
            (with ``l2``) and :func:`funcnet.update_stats`.
        threads: NumPy's BLAS threads while ``fit`` runs (put back when it returns):
            ``"auto"`` runs matrix products of at least ``funcnet._threads.THRESHOLD``
            multiply-adds on every thread the BLAS has, smaller ones on one (a rule of the
            shapes: the same bits on every run on one machine); a number pins that many
            threads (``1`` gives the same bits on every machine with the same BLAS); ``None``
            leaves the BLAS as it is.

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
    resume = params if isinstance(params, FitResult) else None
    params = resume.state.train.params if resume is not None else params
    check_params(net, params, "params.state.train.params" if resume is not None else "params")
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
    monitor = checks.choice(monitor, "monitor", ["val_loss", "val_accuracy"])
    if monitor == "val_accuracy" and not HEADS[net.output].classifies:
        raise ValueError(f"monitor: a net with output={net.output!r} has no accuracy to watch; use 'val_loss'")
    label_smoothing = checks.real(label_smoothing, "label_smoothing", low=0, high=1, high_open=True)
    if label_smoothing:
        y = smooth_labels(y, net.sizes[-1], label_smoothing, head=net.output, dtype=net.dtype)
    if augment is not None:
        checks.function(augment, "augment", "a function (key, X) -> X")
    stats = init_stats(net) if stats is None else check_stats(net, stats)
    shuffle = checks.boolean(shuffle, "shuffle")
    grad_norms = checks.boolean(grad_norms, "grad_norms")
    if callback is not None:
        checks.function(callback, "callback", "a function record -> stop?")
    if on_step is not None:
        checks.function(on_step, "on_step", "a function (step, metrics) -> stop?")
    _check_gradient(gradient, l2)
    if isinstance(threads, str) and threads != "auto":
        raise ValueError(f"threads: expected 'auto', a number of threads >= 1 or None, got {threads!r}")
    if threads is not None and threads != "auto":
        threads = checks.integer(threads, "threads", low=1, high=1 << 16)

    classifies = HEADS[net.output].classifies
    if resume is not None:
        start = _resumed(net, resume, epochs, classifies, grad_norms, validation is not None, monitor)
        if start.epoch == epochs or start.stopped:
            return resume
    step = make_train_step(net, optimizer, l2=l2, grad_norms=grad_norms, gradient=gradient)
    _warn_if_the_schedule_ends_early(optimizer, epochs, steps_per_epoch(len(X), batch_size))
    dropout = net.needs_key
    # The in-order batches are views, made once, and only when some epoch walks in order.
    fixed = _batches(X, y, batch_size, None) if not shuffle else None
    per_epoch = steps_per_epoch(len(X), batch_size)

    def run_epoch(run: _Run, epoch: int) -> _Run:
        batches = _epoch_batches(X, y, batch_size, shuffle, dropout, key, epoch, fixed, augment)
        state, metrics, stopped = _run_epoch(step, batches, run.state, epoch, on_step, epoch * per_epoch)
        record = _record(epoch, metrics, classifies, grad_norms)
        best, waited, stop = run.best, run.waited, stopped
        if validation is not None and not stopped:
            record.update(_validate(net, state.params, state.stats, Xv, yv, classifies, epoch))
            if patience is not None:
                value = record[monitor]
                better = (value < best.value - min_delta if monitor == "val_loss"
                          else value > best.value + min_delta) if best is not None else True
                if better:
                    best, waited = Best(value, epoch + 1, state.params, state.stats, monitor), 0
                else:
                    waited += 1
                    stop = waited >= patience
        if callback is not None and callback({k: list(v) if isinstance(v, list) else v
                                              for k, v in record.items()}) is True:
            stop = True
        return _Run(state, (record, run.records), best, waited, stop, stopped)

    # Overflow shows up as a non-finite loss, which the epoch loop reports with its epoch and
    # batch; NumPy's own warnings from deep inside would only say less, later.
    products = _products(net, batch_size, True) + (_products(net, len(Xv), False) if validation is not None else [])
    with _threads.applied(threads, products), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        # The first run is made by the sequence itself, not passed as accumulate's `initial`:
        # that would hold the initial optimizer state (Adam's zero moments, as large as the
        # params) through every epoch.
        if resume is None:
            first = _start_then(params, optimizer, stats, range(epochs))
        else:
            _check_opt_state(optimizer, start.train.opt_state, params, "params.state.train.opt_state")
            first = _resume_then(resume, start, range(start.epoch, epochs))
        last = toolz.last(_through_stop(toolz.accumulate(run_epoch, first)))
    records = _unroll(last.records)
    history = {k: [r.get(k) for r in records] for k in records[0]}
    # Each step's loss is checked, but the last update is seen by no loss after it (unless
    # on_step ended the run: then a step that blew up ends it without an error).
    if not last.by_step:
        _diverged(last.state.params, last.state.stats, " at the last step")
    state = FitState(last.state, len(records), last.best, last.waited, last.stop)
    if last.best is not None:
        return FitResult(last.best.params, history, last.best.stats, last.state.opt_state, last.best.epoch, state)
    return FitResult(last.state.params, history, last.state.stats, last.state.opt_state, None, state)


def _start_then(params, optimizer, stats, epochs):
    """The initial run, then the epochs: a generator, so nothing keeps the run once used."""
    # No local name holds the initial state: this frame lives as long as the run.
    yield _Run(TrainState(params, _initial_state(optimizer, params), stats), (), None, 0, False)
    yield from epochs


def _resume_then(resume, start: FitState, epochs):
    records = ()
    for i in range(start.epoch):
        records = ({k: v[i] for k, v in resume.history.items()}, records)
    yield _Run(start.train, records, start.best, start.waited, False)
    yield from epochs


def _history_keys(classifies: bool, grad_norms: bool, validation: bool) -> set:
    return {"epoch", "loss"} | ({"accuracy"} if classifies else set()) | ({"grad_norm"} if grad_norms else set()) \
        | ({"val_loss", "val_accuracy"} if validation and classifies else {"val_loss"} if validation else set())


def _resumed(net, resume, epochs: int, classifies: bool, grad_norms: bool, validation: bool,
             monitor: str) -> FitState:
    """The state of the run that ``params`` (a FitResult) continues, checked."""
    state = checks.instance(resume.state, "params.state", FitState, "a FitState (from fit)")
    checks.instance(state.train, "params.state.train", TrainState, "a TrainState")
    check_stats(net, state.train.stats, "params.state.train.stats")
    done = checks.integer(state.epoch, "params.state.epoch", low=1)
    if epochs < done:
        raise ValueError(f"epochs: expected at least the {done} epochs the run being continued has run, got {epochs}")
    history = checks.instance(resume.history, "params.history", dict, "a dict of lists")
    want = _history_keys(classifies, grad_norms, validation)
    if set(history) != want:
        which = "validation" if ("val_loss" in history) != validation else "grad_norms"
        raise ValueError(f"{which}: the run being continued recorded {sorted(history)}, this one would record "
                         f"{sorted(want)}; continue it with the settings it had")
    if any(not isinstance(v, list) or len(v) != done for v in history.values()):
        raise ValueError(f"params.history: expected lists of {done} entries (one per epoch run)")
    checks.integer(state.waited, "params.state.waited", low=0, high=done)
    checks.boolean(state.stopped, "params.state.stopped")
    if state.best is not None:
        best = checks.instance(state.best, "params.state.best", Best, "a Best or None")
        checks.integer(best.epoch, "params.state.best.epoch", low=1, high=done)
        checks.real(best.value, "params.state.best.value")
        if best.monitor != monitor:
            raise ValueError(f"monitor: the run being continued watched {best.monitor!r}, got {monitor!r}")
        check_params(net, best.params, "params.state.best.params")
        check_stats(net, best.stats, "params.state.best.stats")
    return state


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
