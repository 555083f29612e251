"""Gradient transforms: the building blocks that :mod:`funcnet.optim.aliases` chains into optimizers.

Each is a frozen dataclass of its hyper-parameters, built by a lowercase function that checks
them (``scale_by_adam(b1=0.9)``). The stateful ones (:func:`trace`, :func:`scale_by_rms`,
:func:`scale_by_adam`) share one skeleton, :class:`_Moments`: flatten the grads and each state
tree once, run the leaf kernel of :mod:`funcnet.optim._kernels`, flush what decays towards the
subnormals, rebuild.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, ClassVar, NamedTuple

import numpy as np

from .. import checks
from .._ops import add_scaled
from ..tree import _map, _unflatten, _walkable, is_weight, rescaled, sum_squares, tree_check_same, tree_leaves, tree_paths
from . import _kernels as K
from .base import CountState, Transform, _Scalar, _each, check_lr, rate_at, scheduled

__all__ = [
    "TraceState",
    "RMSState",
    "AdamState",
    "scale",
    "scale_by_learning_rate",
    "scale_by_schedule",
    "clip_by_global_norm",
    "clip_by_value",
    "add_decayed_weights",
    "add_weight_decay",
    "trace",
    "scale_by_rms",
    "scale_by_adam",
]


class TraceState(NamedTuple):
    """State of :func:`trace`: the step count and the velocity (a tree like the params).

    Attributes:
        count: the updates made so far (0 before the first).
        velocity: ``v = decay*v + g``, a tree of arrays like the params (zeros at ``init``).

    >>> p = ({"b": np.zeros(1)},)
    >>> opt = trace(0.5)
    >>> s = opt.update(({"b": np.array([2.0])},), opt.init(p), p)[1]
    >>> s.count, s.velocity
    (1, ({'b': array([2.])},))
    """

    count: int
    velocity: Any


class RMSState(NamedTuple):
    """State of :func:`scale_by_rms`: the step count and the running mean of ``g**2``.

    Attributes:
        count: the updates made so far (0 before the first).
        nu: ``v = decay*v + (1-decay)*g**2``, a tree of arrays like the params (zeros at
            ``init``).

    >>> p = ({"b": np.zeros(1)},)
    >>> opt = scale_by_rms(decay=0.75)
    >>> s = opt.update(({"b": np.array([2.0])},), opt.init(p), p)[1]
    >>> s.count, s.nu
    (1, ({'b': array([1.])},))
    """

    count: int
    nu: Any


class AdamState(NamedTuple):
    """State of :func:`scale_by_adam`: the step count and both moments (trees like the params).

    Attributes:
        count: the updates made so far (0 before the first).
        mu: the first moment ``m = b1*m + (1-b1)*g``, without bias correction, a tree of
            arrays like the params (zeros at ``init``).
        nu: the second moment ``v = b2*v + (1-b2)*g**2``, likewise.

    >>> p = ({"b": np.zeros(1)},)
    >>> opt = scale_by_adam(b1=0.5, b2=0.75)
    >>> s = opt.update(({"b": np.array([2.0])},), opt.init(p), p)[1]
    >>> s.count, s.mu, s.nu
    (1, ({'b': array([1.])},), ({'b': array([1.])},))
    """

    count: int
    mu: Any
    nu: Any


# --- stateless transforms ---


@dataclasses.dataclass(frozen=True)
class Scale(_Scalar):
    """``update = factor * g``; see :func:`scale`."""

    by: float

    def factor(self, count):
        return self.by


@dataclasses.dataclass(frozen=True)
class ScaleByLearningRate(_Scalar):
    """``update = -lr(count) * g``; see :func:`scale_by_learning_rate`."""

    lr: Any

    def factor(self, count):
        return -rate_at(self.lr, count)


@dataclasses.dataclass(frozen=True)
class ScaleBySchedule(_Scalar):
    """``update = schedule(count) * g``; see :func:`scale_by_schedule`."""

    schedule: Callable

    def factor(self, count):
        return scheduled(self.schedule(count), "schedule", count)


def scale(factor: float) -> Scale:
    """Multiply the updates by a fixed number: ``update = factor * g``.

    Args:
        factor: a finite number (negative to turn a gradient into a descent step).

    Returns:
        A transform with state :class:`~funcnet.optim.CountState`; ``params`` may be ``None``.

    >>> scale(-2.0).update(({"b": np.array([1.0, -0.5])},), CountState(0), None)[0]
    ({'b': array([-2.,  1.])},)

    See Also:
        scale_by_learning_rate: ``-lr * g`` with a number or a schedule.
    """
    return Scale(checks.real(factor, "factor"))


def scale_by_learning_rate(lr) -> ScaleByLearningRate:
    """Turn directions into descent steps: ``update = -lr * g``, ``lr`` a number or schedule.

    The last link of a chain built from the ``scale_by_*`` blocks; ``chain(scale_by_adam(),
    scale_by_learning_rate(lr))`` is :func:`funcnet.optim.adam`.

    Args:
        lr: a positive number, or a schedule ``step -> rate`` called with the state's
            ``count`` (see :mod:`funcnet.schedules`).

    Returns:
        A transform with state :class:`~funcnet.optim.CountState`; ``params`` may be ``None``.

    >>> scale_by_learning_rate(0.5).update(({"b": np.array([2.0])},), CountState(0), None)[0]
    ({'b': array([-1.])},)
    """
    return ScaleByLearningRate(check_lr(lr))


def scale_by_schedule(schedule: Callable) -> ScaleBySchedule:
    """Multiply the updates by ``schedule(count)``.

    Args:
        schedule: a function ``step -> factor`` (see :mod:`funcnet.schedules`).

    Returns:
        A transform with state :class:`~funcnet.optim.CountState`, whose ``count`` the
        schedule is called with; ``params`` may be ``None``.

    >>> opt = scale_by_schedule(lambda t: 0.5 ** t)
    >>> g = ({"b": np.array([4.0])},)
    >>> u1, s = opt.update(g, opt.init(None), None)
    >>> u2, s = opt.update(g, s, None)
    >>> u1[0]["b"], u2[0]["b"]
    (array([4.]), array([2.]))
    """
    checks.function(schedule, "schedule", "a function step -> factor")
    return ScaleBySchedule(schedule)


@dataclasses.dataclass(frozen=True)
class ClipByValue(Transform):
    """Each element clipped into ``[-limit, limit]``; see :func:`clip_by_value`."""

    limit: float

    def _apply(self, grads, state, params, factor=None):
        lim = self.limit
        out = _each(lambda g: np.clip(g, -lim, lim), grads)
        if factor is not None:
            out = _each(lambda u: np.multiply(u, factor, out=u), out)
        return out, CountState(state.count + 1)


def clip_by_value(limit: float) -> ClipByValue:
    """Clip every update element into ``[-limit, limit]``.

    Args:
        limit: a positive finite number.

    Returns:
        A transform with state :class:`~funcnet.optim.CountState`; ``params`` may be ``None``.

    >>> clip_by_value(1.0).update(({"b": np.array([-3.0, 0.5, 2.0])},), CountState(0), None)[0]
    ({'b': array([-1. ,  0.5,  1. ])},)
    """
    return ClipByValue(checks.real(limit, "limit", low=0, low_open=True))


# A clip factor below the smallest normal float32 would lose bits before the multiply.
_TINY = 2.0**-126


def _clip_rescaled(leaves, max_norm):
    """:func:`clip_by_global_norm` for the rare trees the direct formula cannot handle.

    Those whose squares overflow (float32 elements above about 1.8e19), whose clip factor
    would be subnormal, that hold NaN or inf, or that have leaves of other dtypes (float16's
    smallest normal number, 6e-5, is larger than many clip factors). The norm is taken from the
    leaves divided by a power of two (:func:`funcnet.tree.rescaled`), which are then scaled by
    the clip factor; non-finite grads are passed on unchanged.
    """
    scaled = rescaled(leaves)
    if scaled is None:
        return leaves
    e, small = scaled
    r = math.sqrt(sum_squares(small)[0])  # the norm divided by 2**e
    if not r > math.ldexp(max_norm, -e):
        return leaves
    factor = max_norm / r
    out = []
    for s in small:
        wide = np.promote_types(s.dtype, np.float64)
        if wide == s.dtype:
            out.append(np.multiply(s, factor))
        else:  # rounded once, from the float64 product, not at the factor and again after
            out.append(np.multiply(s, factor, dtype=wide).astype(s.dtype))
    return out


@dataclasses.dataclass(frozen=True)
class ClipByGlobalNorm(Transform):
    """All updates rescaled together to a joint norm of at most ``max_norm``; see
    :func:`clip_by_global_norm`."""

    max_norm: float

    def _apply(self, grads, state, params, factor=None):
        leaves = tree_leaves(grads)
        with np.errstate(over="ignore", invalid="ignore"):
            out = self._clip(leaves)
        if factor is not None:
            out = [np.multiply(u, factor) for u in out]
        return _unflatten(grads, out), CountState(state.count + 1)

    def _clip(self, leaves):
        total, plain = sum_squares(leaves)
        norm = math.sqrt(total)
        if norm < math.inf:  # false for inf and NaN
            if not norm > self.max_norm:
                return leaves
            factor = self.max_norm / norm
            if factor >= _TINY and plain:
                return [np.multiply(g, factor) for g in leaves]
        return _clip_rescaled(leaves, self.max_norm)


def clip_by_global_norm(max_norm: float) -> ClipByGlobalNorm:
    """Rescale all updates together so that their joint Euclidean norm is at most ``max_norm``.

    ``g * max_norm / ||g||`` when ``||g|| > max_norm`` (the norm over every leaf at once);
    otherwise the updates pass through unchanged (the same arrays).

    Any tree of finite values is clipped to ``max_norm`` up to rounding, even when the
    squares overflow their dtype (float32 values above about 1.8e19): the tree is then
    rescaled by a power of two before the norm is taken. Grads holding NaN or inf pass
    through unchanged (the same arrays), neither scaled to 0 nor made finite, so they reach
    the params and :func:`funcnet.fit` stops with its divergence error.

    Args:
        max_norm: a positive finite number.

    Returns:
        A transform with state :class:`~funcnet.optim.CountState`; ``params`` may be ``None``.

    >>> u, _ = clip_by_global_norm(1.0).update(({"b": np.array([3.0, 4.0])},), CountState(0), None)
    >>> u[0]["b"]
    array([0.6, 0.8])
    >>> big = ({"b": np.array([3e20, 4e20], dtype=np.float32)},)
    >>> clip_by_global_norm(1.0).update(big, CountState(0), None)[0][0]["b"]
    array([0.6, 0.8], dtype=float32)

    See Also:
        clip_by_value: clip each element on its own.
        funcnet.tree.global_norm: the norm alone.
    """
    return ClipByGlobalNorm(checks.real(max_norm, "max_norm", low=0, low_open=True))


@dataclasses.dataclass(frozen=True)
class AddDecayedWeights(Transform):
    """``update = g + weight_decay * p`` on the leaves ``mask`` selects; see
    :func:`add_decayed_weights`."""

    weight_decay: float
    mask: Any = None
    needs_params: ClassVar[bool] = True
    fuses: ClassVar[str] = "linear"

    def _masked(self, params):
        if self.mask is None:
            return _map(is_weight, params, ())  # weights_mask, on params already checked
        return self.mask(params) if callable(self.mask) else self.mask

    def _check_state(self, state, grads, params):
        super()._check_state(state, grads, params)
        mask = self._masked(params)
        tree_check_same(params, mask, names=("params", "mask" + ("(params)" if callable(self.mask) else "")))
        for path, on in tree_paths(mask):
            checks.boolean(on, f"mask{path}")

    def _apply(self, grads, state, params, factor=None):
        wd = self.weight_decay
        if factor is not None:  # f * (g + wd p), from the scaled g the fold never makes here
            return self._apply_scaled(_each(lambda g: np.multiply(g, factor), grads), state, params, factor)

        def one(g, p, on):
            return add_scaled(g, p, wd) if on and wd else g

        return _map(one, grads, (params, self._masked(params))), CountState(state.count + 1)

    def _apply_scaled(self, updates, state, params, factor):
        """``updates + factor * weight_decay * p``, with ``updates`` already scaled by ``factor``
        and fresh (this is where :func:`~funcnet.optim.chain` folds a learning rate)."""
        f = factor * self.weight_decay

        def one(u, p, on):
            return add_scaled(u, p, f, out=u) if on and f else u

        return _map(one, updates, (params, self._masked(params))), CountState(state.count + 1)


def add_decayed_weights(weight_decay: float, mask=None) -> AddDecayedWeights:
    """Add ``weight_decay * p`` to the updates of the leaves ``mask`` selects.

    Before an adaptive optimizer this is the classic coupled L2 penalty
    (``chain(add_decayed_weights(wd), adam(lr))`` is PyTorch's ``Adam(weight_decay=wd)``);
    after a ``scale_by_*`` block and before :func:`scale_by_learning_rate` it is decoupled
    decay as in :func:`funcnet.optim.adamw`.

    Args:
        weight_decay: a finite number >= 0.
        mask: which leaves decay: ``None`` (the default) for the weight matrices (leaves of
            two or more dimensions, :func:`funcnet.tree.weights_mask`), never biases or
            batch-norm scales; or a tree of bools like the params; or a function
            ``params -> tree of bools``.

    Returns:
        A transform with state :class:`~funcnet.optim.CountState`; it reads the params, so
        ``init`` and ``update`` need them.

    >>> p = ({"W": np.array([[2.0]]), "b": np.array([2.0])},)
    >>> g = ({"W": np.array([[1.0]]), "b": np.array([1.0])},)
    >>> add_decayed_weights(0.1).update(g, CountState(0), p)[0]
    ({'W': array([[1.2]]), 'b': array([1.])},)
    >>> add_decayed_weights(0.1, mask=({"W": False, "b": True},)).update(g, CountState(0), p)[0]
    ({'W': array([[1.]]), 'b': array([1.2])},)
    """
    wd = checks.real(weight_decay, "weight_decay", low=0)
    if mask is not None and not callable(mask):
        _walkable(mask, "mask")
        for path, on in tree_paths(mask):
            checks.boolean(on, f"mask{path}")
    return AddDecayedWeights(wd, mask)


add_weight_decay = add_decayed_weights  # the name of funcnet 0.1


# --- stateful transforms: one skeleton ---


@dataclasses.dataclass(frozen=True)
class _Moments(Transform):
    """A transform with running averages of the gradient (trees like the params).

    Subclasses name their state fields (``moments``), their decay rates (``_decays``), the
    leaf kernel and its per-step scalars (``_kernel``, ``_scalars``).
    """

    moments: ClassVar[tuple] = ()
    fuses: ClassVar[str] = "head"
    init_needs_params: ClassVar[bool] = True

    def _init(self, params):
        return self.State(0, *[_map(np.zeros_like, params, ()) for _ in self.moments])

    def _check_state(self, state, grads, params):
        super()._check_state(state, grads, params)
        for name in self.moments:
            checks.arrays_like(getattr(state, name), grads, f"state.{name}", "grads", check_finite=True)

    def _decays(self) -> tuple:
        raise NotImplementedError

    def _apply(self, grads, state, params, factor=None):
        count = state.count
        leaves = tree_leaves(grads)
        trees = [getattr(state, name) for name in self.moments]
        kernel, scalars = self._kernel(), self._scalars(count, factor)
        out = [kernel(g, *ms, *scalars) for g, *ms in zip(leaves, *map(tree_leaves, trees))]
        new_trees = []
        for j, (tree, decay) in enumerate(zip(trees, self._decays())):
            new = [o[j + 1] for o in out]
            K.flush_tiny_(new, decay, count + 1)
            new_trees.append(_unflatten(tree, new))
        return _unflatten(grads, [o[0] for o in out]), self.State(count + 1, *new_trees)


@dataclasses.dataclass(frozen=True)
class Trace(_Moments):
    """Momentum's velocity ``v = decay*v + g`` as the update (or Nesterov's ``g + decay*v``)."""

    decay: float = 0.9
    nesterov: bool = False
    State: ClassVar[type] = TraceState
    moments: ClassVar[tuple] = ("velocity",)

    def _decays(self):
        return (self.decay,)

    def _kernel(self):
        return K.trace

    def _scalars(self, count, factor):
        return self.decay, self.nesterov, factor


def trace(decay: float = 0.9, *, nesterov: bool = False) -> Trace:
    """Momentum as a building block: the velocity (or Nesterov's ``g + decay*v``), unscaled.

    ``chain(trace(mu), scale_by_learning_rate(lr))`` is :func:`funcnet.optim.momentum`.

    Args:
        decay: the momentum coefficient ``mu``, in [0, 1).
        nesterov: use the Nesterov direction.

    Returns:
        A transform with state :class:`~funcnet.optim.TraceState`; ``init`` needs the params
        (the velocity starts as zeros like them).

    >>> p = ({"b": np.zeros(1)},)
    >>> opt = trace(0.5)
    >>> u, s = opt.update(({"b": np.array([2.0])},), opt.init(p), p)
    >>> u, s = opt.update(({"b": np.array([2.0])},), s, p)
    >>> u[0]["b"]
    array([3.])
    """
    return Trace(checks.real(decay, "decay", low=0, high=1, high_open=True), checks.boolean(nesterov, "nesterov"))


@dataclasses.dataclass(frozen=True)
class ScaleByRms(_Moments):
    """RMSprop's direction ``g / (sqrt(v) + eps)`` with ``v = decay*v + (1-decay)*g**2``."""

    decay: float = 0.99
    eps: float = 1e-8
    State: ClassVar[type] = RMSState
    moments: ClassVar[tuple] = ("nu",)

    def _check_state(self, state, grads, params):
        super()._check_state(state, grads, params)
        _nonnegative(state.nu, "state.nu")

    def _decays(self):
        return (self.decay,)

    def _kernel(self):
        return K.rms

    def _scalars(self, count, factor):
        return self.decay, self.eps, factor


def _nonnegative(tree, name):
    for path, a in tree_paths(tree):
        if a.size and a.min() < 0:
            raise ValueError(f"{name}{path}: expected a running mean of squares (>= 0), got a value of {a.min():g}")


def scale_by_rms(decay: float = 0.99, eps: float = 1e-8) -> ScaleByRms:
    """RMSprop's direction as a building block: ``g / (sqrt(v) + eps)``, unscaled.

    Args:
        decay: the running average's coefficient ``a`` in ``v = a*v + (1-a)*g**2``, in [0, 1).
        eps: added to ``sqrt(v)``, positive.

    Returns:
        A transform with state :class:`~funcnet.optim.RMSState`; ``init`` needs the params
        (the running mean starts as zeros like them).

    >>> p = ({"b": np.zeros(1)},)
    >>> opt = scale_by_rms(decay=0.75)
    >>> opt.update(({"b": np.array([2.0])},), opt.init(p), p)[0][0]["b"]
    array([2.])
    """
    return ScaleByRms(checks.real(decay, "decay", low=0, high=1, high_open=True),
                      checks.real(eps, "eps", low=0, low_open=True))


@dataclasses.dataclass(frozen=True)
class ScaleByAdam(_Moments):
    """Adam's direction ``mhat / (sqrt(vhat) + eps)`` (Kingma & Ba, 2015)."""

    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    State: ClassVar[type] = AdamState
    moments: ClassVar[tuple] = ("mu", "nu")

    def _check_state(self, state, grads, params):
        super()._check_state(state, grads, params)
        _nonnegative(state.nu, "state.nu")

    def _decays(self):
        return (self.b1, self.b2)

    def _kernel(self):
        return K.adam

    def _scalars(self, count, factor):
        eps_t, c = K.adam_constants(count, self.b1, self.b2, self.eps)
        return self.b1, self.b2, eps_t, c if factor is None else factor * c


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> ScaleByAdam:
    """Adam's direction as a building block: ``mhat / (sqrt(vhat) + eps)``, unscaled.

    Args:
        b1: first-moment coefficient, in [0, 1).
        b2: second-moment coefficient, in [0, 1).
        eps: added to ``sqrt(vhat)``, positive.

    Returns:
        A transform with state :class:`~funcnet.optim.AdamState`; ``init`` needs the params
        (both moments start as zeros like them).

    >>> p = ({"b": np.zeros(2)},)
    >>> opt = scale_by_adam()
    >>> opt.update(({"b": np.array([0.5, -2.0])},), opt.init(p), p)[0][0]["b"]
    array([ 1., -1.])
    """
    return ScaleByAdam(checks.real(b1, "b1", low=0, high=1, high_open=True),
                       checks.real(b2, "b2", low=0, high=1, high_open=True),
                       checks.real(eps, "eps", low=0, low_open=True))
