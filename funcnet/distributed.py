"""Data-parallel training on a Dask cluster: full-batch gradients summed over shards of the data.

An edge: it imports the core, ``dask`` and ``distributed`` (the ``dask`` extra); the core
never imports it. :func:`fit` cuts the training data into contiguous shards and scatters them
to the workers once. Every step, each worker computes its shard's loss and gradient *sums*
(the objective with ``reduction="sum"``, :func:`funcnet.value_and_grad`'s, L2 term counted
once per sample) and the driver gathers them in shard order, adds them in that order and
divides by the number of samples: the full-batch mean objective and its gradient, equal to
one process's to float rounding. The optimizer steps on the driver inside
:func:`funcnet.fit` itself (its ``gradient=`` hook), so epochs, history, validation, early
stopping, callbacks and continuing a run are ``fit``'s own.

The same data, key and ``n_shards`` give the same bits on every run and any cluster: a
shard's sums depend on its rows alone, and the reduction order is fixed. Batch norm
normalises each shard by the shard's own statistics (as data-parallel frameworks do without
synchronised batch norm), so a net with batch norm trains as it would on batches of the
shard size; the running statistics are the shards' ones averaged, weighted by their sizes.
Dropout masks come from ``fold_in(batch key, shard)``: reproducible, but not one process's.

When it pays: a step costs the slowest shard's gradient plus a fixed cost, the round trip
to the workers and sending the params out and the gradients back, while one process pays the
whole gradient. On k machines it pays once one shard's gradient takes longer than the fixed
cost / (k - 1): full batches of thousands of rows and more (README's "Scaling out" has the
figures, ``python scripts/dask_fit.py --timing`` measures them). Mini-batch training, whose
steps are far shorter than the round trip, stays in one process; a hyper-parameter search spreads
whole fits over the cluster instead (scikit-learn's ``GridSearchCV`` with joblib's Dask
backend, ``scripts/dask_grid.py``).

>>> from dask.distributed import Client, LocalCluster
>>> import funcnet as fn
>>> X, y = fn.datasets.moons(400, key=fn.random.key(0))
>>> net = fn.Net((2, 16, 2), activation="tanh", dtype="float64")
>>> with LocalCluster(n_workers=2, processes=False, dashboard_address=None) as cluster, \\
...         Client(cluster) as client:
...     r = fit(net, fn.init(fn.random.key(0), net), X, y, client=client, key=fn.random.key(1),
...             optimizer=fn.optim.adam(0.05), epochs=10)
>>> len(r.history["loss"]), r.history["loss"][-1] < r.history["loss"][0]
(10, True)
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

try:
    from distributed import Client
except ImportError as e:  # pragma: no cover - exercised only without dask
    raise ImportError(
        "funcnet.distributed needs dask and distributed: pip install 'funcnet[dask]'"
    ) from e

from . import checks
from . import random as rnd
from .losses import smooth_labels
from .network import Net, _update_stats, check_net, check_X
from .objective import _targets, _value_and_grad
from .train import BatchGradients, FitResult
from .train import fit as fit_in_one_process
from .tree import _add, _scale, _weighted_mean

__all__ = ["fit"]


class _Sums(NamedTuple):
    """One shard's part of a step: sums over its rows, and the statistics it kept."""

    value: float  # the summed objective, L2 term counted once per row
    grads: tuple  # its gradient
    correct: int
    count: int  # rows
    stats: tuple | None  # the running statistics after the shard (batch norm), else None


def _shard_sums(net: Net, params, stats, key, l2: float, shard) -> _Sums:
    """A shard's sums; runs on a worker, on data the driver checked."""
    X, y = shard
    # As in fit: an overflow shows up as a non-finite loss, which fit reports with its epoch.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        r = _value_and_grad(net, params, X, y, key, l2, mean=False)
    kept = _update_stats(net, stats, r.caches) if net.has_state else None
    return _Sums(r.value, r.grads, r.correct, len(X), kept)


def _combined(net: Net, parts: list, stats) -> BatchGradients:
    """The mean objective of all shards from their sums, added in shard order."""
    n = sum([p.count for p in parts])
    # Everything is added in shard order (sum goes left to right; math.fsum would raise on an
    # overflow that fit must see as an infinite loss).
    value = sum([p.value for p in parts]) / n
    grads = _add([p.grads for p in parts]) if len(parts) > 1 else parts[0].grads
    if net.has_state:
        stats = _weighted_mean([p.stats for p in parts], [float(p.count) for p in parts])
    return BatchGradients(value, _scale(1.0 / n, grads), sum([p.correct for p in parts]), stats)


def _check_client(client):
    if not isinstance(client, Client):
        raise TypeError(f"client: expected a dask.distributed.Client, got {checks.show(client)}")
    if client.status != "running":
        raise ValueError(f"client: expected a running Client, got one whose status is {client.status!r}")
    workers = sorted(client.nthreads())  # every worker's address (scheduler_info may list only some)
    if not workers:
        raise ValueError("client: expected a cluster with at least one worker, got none")
    return workers


def _cuts(n: int, k: int) -> list:
    """``k + 1`` row boundaries of ``k`` contiguous shards whose sizes differ by one at most."""
    return [i * n // k for i in range(k + 1)]


class _ShardedGradient:
    """``fit``'s gradient hook: the shards go to the workers at the first step, once."""

    def __init__(self, client, workers, net: Net, X, y, n_shards: int, l2: float):
        self.client, self.workers, self.net, self.l2 = client, workers, net, l2
        self.X, self.y, self.cuts = X, y, _cuts(len(X), n_shards)
        self.shards: list = []

    def _scatter(self):
        # One shard per call, placed round-robin, so that each worker holds its own; hash=False
        # keeps them apart from equal data that someone else scattered (and from its release).
        # A shard is an (X, y) pair inside a list: scatter would spread a bare tuple's items.
        for i, (a, b) in enumerate(zip(self.cuts[:-1], self.cuts[1:])):
            self.shards += self.client.scatter([(self.X[a:b], self.y[a:b])], hash=False, workers=[self._holder(i)])

    def __call__(self, params, stats, batch) -> BatchGradients:
        if not self.shards:
            self._scatter()
        keys = ([None] * len(self.shards) if batch.key is None
                else [rnd.fold_in(batch.key, i) for i in range(len(self.shards))])
        # pure=False: every step is new work (and dask need not hash the params to name it).
        # Each task goes to the worker holding its shard (elsewhere only if that one is lost),
        # and the sums come straight from the workers: each hop through the scheduler would add
        # to every step's fixed cost.
        futures = [self.client.submit(_shard_sums, self.net, params, stats, k, self.l2, shard, pure=False,
                                      workers=[self._holder(i)], allow_other_workers=True)
                   for i, (k, shard) in enumerate(zip(keys, self.shards))]
        return _combined(self.net, self.client.gather(futures, direct=True), stats)

    def _holder(self, i: int) -> str:
        return self.workers[i % len(self.workers)]

    def release(self):
        for f in self.shards:
            f.release()
        self.shards = []


def fit(
    net: Net,
    params,
    X,
    y,
    *,
    client,
    key: rnd.Key,
    n_shards: int | None = None,
    optimizer=None,
    epochs: int = 10,
    l2: float = 0.0,
    validation: tuple | None = None,
    patience: int | None = None,
    min_delta: float = 0.0,
    stats=None,
    callback: Callable[[dict], Any] | None = None,
    on_step: Callable | None = None,
    grad_norms: bool = True,
    monitor: str = "val_loss",
    label_smoothing: float = 0.0,
) -> FitResult:
    """Full-batch training with the gradient summed over shards on a Dask cluster.

    One step per epoch: the workers compute their shards' sums, the driver combines them in
    shard order into the full-batch gradient and the optimizer steps on the driver. Equal to
    ``funcnet.fit(..., batch_size=len(X), shuffle=False)`` to float rounding (nets without
    batch norm or dropout, see the module's text), and bit for bit to itself.

    Args:
        net: the architecture.
        params: initial params, or the :class:`funcnet.FitResult` of an earlier run (of this
            function, with the same data and settings) to continue it, as for
            :func:`funcnet.fit`.
        X: (n, sizes[0]) training inputs (cast once to ``net.dtype``).
        y: training targets, one per row of ``X``.
        client: a running ``dask.distributed.Client``; its cluster computes the shards.
        key: the run's key (dropout masks: shard ``i`` of epoch ``e`` draws from
            ``fold_in(fold_in(fold_in(key, e), 1), i)``).
        n_shards: how many contiguous shards to cut the rows into (sizes differing by one at
            most), 1 to n; default one per worker. The bits of a run depend on it, not on the
            cluster: pass it to get the same run on clusters of other sizes.
        optimizer, epochs, l2, validation, patience, min_delta, stats, callback, on_step,
        grad_norms, monitor, label_smoothing: as for :func:`funcnet.fit` (the L2 term is
            computed on the workers, once per row, and combines to once in all).

    Returns:
        A :class:`funcnet.FitResult`, as :func:`funcnet.fit` gives; ``history["loss"]`` holds
        each epoch's full-batch loss.

    Raises:
        TypeError, ValueError: a bad argument, named; the shards are scattered only after
            every argument passed its checks.
        FloatingPointError: training diverged, naming the epoch.

    >>> from dask.distributed import Client, LocalCluster
    >>> import funcnet as fn
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(101, 3)); y = X @ np.array([1.0, -2.0, 0.5])
    >>> net = fn.Net((3, 1), output="identity", dtype="float64")
    >>> params = fn.init(fn.random.key(0), net)
    >>> with LocalCluster(n_workers=2, processes=False, dashboard_address=None) as cluster, \\
    ...         Client(cluster) as client:
    ...     r = fit(net, params, X, y, client=client, key=fn.random.key(1), n_shards=3, epochs=5)
    >>> one = fn.fit(net, params, X, y, key=fn.random.key(1), epochs=5, batch_size=101, shuffle=False)
    >>> bool(np.allclose(r.history["loss"], one.history["loss"], rtol=1e-12, atol=0))
    True
    """
    workers = _check_client(client)
    check_net(net)
    X = check_X(net, X)
    y = _targets(net, X, y, "y")
    label_smoothing = checks.real(label_smoothing, "label_smoothing", low=0, high=1, high_open=True)
    if label_smoothing:
        y = smooth_labels(y, net.sizes[-1], label_smoothing, head=net.output, dtype=net.dtype)
    if n_shards is None:
        n_shards = min(len(workers), len(X))
    n_shards = checks.integer(n_shards, "n_shards", low=1, high=len(X))
    l2 = checks.real(l2, "l2", low=0)
    gradient = _ShardedGradient(client, workers, net, X, y, n_shards, l2)
    try:
        # fit checks the rest; the shards are scattered at its first step, after every check.
        return fit_in_one_process(
            net, params, X, y, key=key, optimizer=optimizer, epochs=epochs, batch_size=len(X),
            validation=validation, patience=patience, min_delta=min_delta, stats=stats, shuffle=False,
            callback=callback, on_step=on_step, grad_norms=grad_norms, monitor=monitor, gradient=gradient)
    finally:
        gradient.release()
