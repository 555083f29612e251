"""The learning-rate range test: train briefly while the rate grows, and watch the loss.

One run of mini-batch training in which the learning rate rises exponentially from ``start``
to ``stop``, one step per batch (Smith, 2017, "Cyclical Learning Rates"; the fastai
``lr_find``). The loss first barely moves, then falls fast, then blows up; a good learning
rate lies where it falls fastest. It is :func:`funcnet.fit` with a rising schedule and a
per-step callback that records the loss and stops the run once it blows up, so the same key
gives the same curve, and the params are never changed.

>>> import funcnet as fn
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(512, 2)); y = (X[:, 0] + X[:, 1] > 0).astype(int)
>>> net = fn.Net((2, 16, 2), activation="tanh", dtype="float64")
>>> r = lr_find(net, fn.init(fn.random.key(0), net), X, y, key=fn.random.key(1), steps=100)
>>> len(r.lrs) == len(r.losses) <= 100, 0.01 <= r.suggestion <= 3.0
(True, True)

See Also:
    funcnet.schedules.exponential: the rising schedule used here.
    funcnet.fit: train with the rate found.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np

from . import checks
from .network import Net
from .optim import check_optimizer, sgd
from .schedules import exponential
from .train import fit

__all__ = ["LRFindResult", "lr_find"]

DIVERGED = 4.0  # stop once the smoothed loss exceeds this many times its best value


class LRFindResult(NamedTuple):
    """The curve of a learning-rate range test and the rate it suggests.

    Attributes:
        lrs: (steps_run,) float64, the rate of each step run.
        losses: (steps_run,) float64, the smoothed, bias-corrected training loss after each.
        suggestion: a Python float, the rate where the smoothed loss fell fastest (per
            log-rate) before its minimum; see :func:`lr_find`.

    >>> import funcnet as fn
    >>> net = fn.Net((1, 1), output="identity", dtype="float64")
    >>> X = np.linspace(-1, 1, 16)[:, None]
    >>> p = ({"W": np.zeros((1, 1)), "b": np.zeros(1)},)
    >>> r = lr_find(net, p, X, 3 * X[:, 0], key=fn.random.key(0), start=0.01, stop=1.0, steps=5)
    >>> r.lrs.round(3).tolist(), r.losses.shape, type(r.suggestion)
    ([0.01, 0.032, 0.1, 0.316, 1.0], (5,), <class 'float'>)
    """

    lrs: np.ndarray  # (steps_run,) the rate of each step
    losses: np.ndarray  # (steps_run,) the smoothed, bias-corrected training loss after it
    suggestion: float  # the rate where the smoothed loss fell fastest (per log-rate)


def _suggest(lrs: np.ndarray, losses: np.ndarray, skip: int) -> float:
    """The rate at the steepest fall of ``losses`` against ``log(lrs)``, up to their minimum.

    The first ``skip`` points are left out of both searches: there the moving average rests on
    a handful of batches, and their noise over a tiny change of rate makes the steepest
    "falls" (fastai skips the first 10 points for the same reason).
    """
    skip = min(skip, len(losses) - 1)  # a run that stopped early may be shorter than that
    best = skip + int(np.argmin(losses[skip:]))
    if best == skip:
        # The loss never fell after the first steps: one decade below the best rate is the
        # usual safe choice.
        return float(lrs[best] / 10.0)
    slope = np.gradient(losses[: best + 1], np.log(lrs[: best + 1]))
    return float(lrs[skip + int(np.argmin(slope[skip:]))])


def lr_find(
    net: Net,
    params,
    X,
    y,
    *,
    key,
    batch_size: int = 32,
    start: float = 1e-5,
    stop: float = 10.0,
    steps: int = 100,
    optimizer_factory: Callable = sgd,
    smooth: float = 0.98,
    l2: float = 0.0,
) -> LRFindResult:
    """Run a learning-rate range test and suggest a learning rate.

    Step ``t`` (of ``steps``) trains one mini-batch at rate
    ``start * (stop/start) ** (t / (steps-1))``, using ``optimizer_factory(schedule)`` as the
    optimizer. The batch losses are smoothed by an exponential moving average with bias
    correction (``avg = smooth*avg + (1-smooth)*loss``, divided by ``1 - smooth**(t+1)``); the
    run stops early once the smoothed loss exceeds 4 times its best or a loss is not finite.
    More steps than batches in an epoch simply go on into reshuffled epochs.

    The suggestion is the rate where the smoothed loss falls fastest against ``log(rate)``,
    searched from the end of the first tenth of the steps (too few batches averaged there) up
    to the loss's minimum after it; if the loss only rises after that first tenth, it is a
    tenth of the rate where the first tenth ends. This is fastai's "steepest" rule. Being a
    running average, the smoothed loss falls fastest where the raw loss is furthest below its
    recent past, which is close to the raw loss's minimum: the suggestion leans towards the
    high end of the useful rates (on digits with plain SGD it lands at 0.5-1.4, where 0.1-0.5
    train most steadily), so a rate a few times lower is the cautious choice, especially
    without a warm-up.

    Args:
        net: the architecture.
        params: initial params (unchanged by this call).
        X: (n, sizes[0]) training inputs.
        y: training targets (see :mod:`funcnet.losses`).
        key: shuffling and dropout keys derive from it, as in :func:`funcnet.fit`.
        batch_size: samples per step; clipped to n.
        start: the first rate, positive.
        stop: the last rate, greater than ``start``.
        steps: the number of steps (and rates), at least 2.
        optimizer_factory: ``schedule -> optimizer``, e.g. ``funcnet.optim.adam`` or
            ``lambda lr: funcnet.optim.momentum(lr, 0.9)``.
        smooth: the moving average's coefficient, in [0, 1).
        l2: L2 penalty strength, as in :func:`funcnet.fit`.

    Returns:
        An :class:`LRFindResult` ``(lrs, losses, suggestion)``: float64 arrays of the steps
        run and the rate at the steepest fall of the smoothed loss before its minimum.

    Raises:
        FloatingPointError: the loss was not finite already at the first rate.

    >>> import funcnet as fn
    >>> net = fn.Net((1, 1), output="identity", dtype="float64")
    >>> X = np.linspace(-1, 1, 64)[:, None]; y = 3 * X[:, 0]
    >>> p = ({"W": np.zeros((1, 1)), "b": np.zeros(1)},)
    >>> r = lr_find(net, p, X, y, key=fn.random.key(0), start=1e-3, stop=10.0, steps=40)
    >>> bool(r.lrs[0] == 1e-3), bool(np.all(np.diff(r.lrs) > 0)), 1e-2 < r.suggestion < 3.0
    (True, True, True)
    """
    start = checks.real(start, "start", low=0, low_open=True)
    stop = checks.real(stop, "stop", low=0, low_open=True)
    if not stop > start:
        raise ValueError(f"stop: expected a rate greater than start={start}, got {stop}")
    if not math.isfinite(stop / start):
        raise ValueError(f"stop: expected stop / start within the float range, got {stop} / {start}")
    steps = checks.integer(steps, "steps", low=2)
    smooth = checks.real(smooth, "smooth", low=0, high=1, high_open=True)
    checks.function(optimizer_factory, "optimizer_factory", "a function schedule -> optimizer")
    schedule = exponential(start, stop / start, decay_steps=steps - 1)
    optimizer = check_optimizer(optimizer_factory(schedule), "optimizer_factory(schedule)")

    lrs, losses = [], []
    avg, best = [0.0], [math.inf]

    def record(t, metrics):
        # Blowing up is the point of the test: a loss that is not finite ends the run.
        if not math.isfinite(metrics.loss):
            return True
        avg[0] = smooth * avg[0] + (1.0 - smooth) * metrics.loss
        smoothed = avg[0] / (1.0 - smooth ** (t + 1))
        lrs.append(schedule(t))
        losses.append(smoothed)
        best[0] = min(best[0], smoothed)
        return smoothed > DIVERGED * best[0] or t + 1 == steps

    # Every epoch has at least one step, so `steps` epochs are enough; the callback ends the
    # run at the last step.
    with np.errstate(under="ignore"):
        fit(net, params, X, y, key=key, optimizer=optimizer, epochs=steps, batch_size=batch_size,
            l2=l2, on_step=record, grad_norms=False)
    if not lrs:
        raise FloatingPointError(f"lr_find: the loss was not finite at the first rate, start={start}")
    lrs_a, losses_a = np.array(lrs), np.array(losses)
    return LRFindResult(lrs_a, losses_a, _suggest(lrs_a, losses_a, steps // 10))
