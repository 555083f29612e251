"""Optimizers as pairs of pure functions, in the style of optax.

An :class:`Optimizer` is ``(init, update)``:

- ``init(params) -> state``: plain data, one NamedTuple per optimizer holding the step
  ``count`` (steps taken so far) and trees of arrays mirroring ``params``.
- ``update(grads, state, params) -> (updates, new_state)``: never changes its arguments. The
  new state is made of fresh arrays; ``updates`` may share arrays with ``grads`` where a
  transform passes a leaf through untouched (nothing in funcnet writes into either).

``apply_updates(params, updates)`` adds the updates to the params and returns new params, and
``step`` does both at once. Gradient transforms (clipping, weight decay, scaling, the Adam and
RMS statistics) have the same ``(init, update)`` shape and compose with :func:`chain`, so
``chain(clip_by_global_norm(1.0), adam(1e-3))`` is itself an optimizer.

Conventions (those of PyTorch, so results can be compared with it):

- A learning rate is a positive number or a schedule ``step -> rate`` (see
  :mod:`funcnet.schedules`), called with ``state.count``: 0 for the first update.
- Momentum is the heavy ball ``v = mu*v + g; update = -lr*v``; Nesterov uses
  ``update = -lr*(g + mu*v)`` with the new ``v``. Velocities start at 0.
- RMSprop: ``v = a*v + (1-a)*g**2; update = -lr*g/(sqrt(v) + eps)``.
- Adam: bias-corrected moments with ``eps`` outside the square root.
- Weight decay (:func:`add_weight_decay`, :func:`adamw`) applies to the leaves stored under the
  key ``"W"``, the weight matrices, and never to biases ``"b"`` or batch-norm
  ``"gamma"``/``"beta"``: what PyTorch users get with a no-decay parameter group for biases.
- dtype follows the params: float32 params get float32 state and updates.

Speed: each update allocates its new state arrays once and fills them with in-place NumPy
operations on those fresh arrays, in as few passes over memory as the rule allows. State that
decays while its gradient is zero (velocities, moments) is flushed every few steps: entries
below ``128 * finfo(dtype).tiny`` that pure decay would carry into the subnormal floats are
set to 0, as hardware flush-to-zero would, because x86 handles many operations on subnormals
in slow microcode (an Adam epoch on Fashion-MNIST went from 0.8 s to 1.3 s at the third epoch
without it). No update can show the difference: it is below 2e-36 in float32. Only float32
and float64 state is flushed; NumPy computes float16 in float32, where it costs nothing.

>>> params = ({"W": np.array([[1.0]]), "b": np.array([0.5])},)
>>> grads = ({"W": np.array([[2.0]]), "b": np.array([1.0])},)
>>> opt = sgd(0.1)
>>> updates, state = opt.update(grads, opt.init(params), params)
>>> apply_updates(params, updates)[0]["W"]
array([[0.8]])
>>> opt = chain(clip_by_global_norm(1.0), adam(1e-3))
>>> new_params, state = step(opt, grads, opt.init(params), params)
>>> state.count, new_params[0]["b"]
(1, array([0.499]))

See Also:
    funcnet.schedules: learning-rate schedules.
    funcnet.train.fit: runs an optimizer over mini-batches.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable, NamedTuple

import numpy as np

from .tree import _sum_squares, tree_check_same, tree_map

__all__ = [
    "Optimizer",
    "CountState",
    "ScaleState",
    "TraceState",
    "RMSState",
    "AdamState",
    "ChainState",
    "apply_updates",
    "step",
    "sgd_step",
    "sgd",
    "momentum",
    "nesterov",
    "rmsprop",
    "adam",
    "adamw",
    "chain",
    "scale",
    "scale_by_learning_rate",
    "scale_by_schedule",
    "clip_by_global_norm",
    "clip_by_value",
    "add_weight_decay",
    "trace",
    "scale_by_rms",
    "scale_by_adam",
]

DECAYED = "W"  # the dict key of the leaves that weight decay applies to


class Optimizer(NamedTuple):
    """A pure optimizer: ``init(params) -> state``, ``update(grads, state, params)``."""

    init: Callable
    update: Callable


# --- states: plain data; every state counts the steps taken ---


class CountState(NamedTuple):
    """State of the stateless transforms (:func:`sgd`, scaling, clipping, weight decay)."""

    count: int


ScaleState = CountState  # the name the first version of this module used


class TraceState(NamedTuple):
    """State of :func:`momentum`, :func:`nesterov` and :func:`trace`: the velocity."""

    count: int
    velocity: Any  # tree like params


class RMSState(NamedTuple):
    """State of :func:`rmsprop` and :func:`scale_by_rms`: the running mean of ``g**2``."""

    count: int
    nu: Any  # tree like params


class AdamState(NamedTuple):
    """State of :func:`adam`, :func:`adamw` and :func:`scale_by_adam`: both moments."""

    count: int
    mu: Any  # first moment, tree like params
    nu: Any  # second moment, tree like params


class ChainState(NamedTuple):
    """State of :func:`chain`: the states of its transforms, in order."""

    count: int
    states: tuple


# --- checks at the public boundary ---


def _optimizer(init, update) -> "Optimizer":
    """Wrap ``update(grads, state, params, check)`` as a checked ``update`` of three arguments.

    The checked function carries ``.unchecked``, the same update without the input checks.
    ``fit`` calls that one in its inner loop: it checks params once per run and builds the
    grads and the state itself, so checking them again at every step would only cost time.
    """

    def checked(grads, state, params):
        return update(grads, state, params, True)

    def fast(grads, state, params):
        return update(grads, state, params, False)

    checked.unchecked = fast
    return Optimizer(init, checked)


def unchecked(optimizer: "Optimizer"):
    """The optimizer's update without input checks, if it has one, else its update.

    >>> u, s = unchecked(sgd(0.5))(({"b": np.array([2.0])},), CountState(0), None)
    >>> u[0]["b"], s.count
    (array([-1.]), 1)
    """
    return getattr(optimizer.update, "unchecked", optimizer.update)


def _check_lr(lr, name="lr"):
    if callable(lr):
        first = lr(0)
        if isinstance(first, bool) or not isinstance(first, numbers.Real) or not math.isfinite(first) or first < 0:
            raise ValueError(f"{name}: expected a schedule returning finite rates >= 0, got {first!r} at step 0")
        return lr
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not np.isfinite(lr) or lr <= 0:
        raise ValueError(f"{name}: expected a positive finite number or a schedule, got {lr!r}")
    return float(lr)


def _check_real(value, name, want, ok):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or not ok(value):
        raise ValueError(f"{name}: expected {want}, got {value!r}")
    return float(value)


def _check_decay_rate(value, name):
    return _check_real(value, name, "a number in [0, 1)", lambda v: 0 <= v < 1)


def _check_eps(value, name="eps"):
    return _check_real(value, name, "a positive finite number", lambda v: v > 0)


def _check_nonneg(value, name):
    return _check_real(value, name, "a finite number >= 0", lambda v: v >= 0)


def _check_state(state, cls, name="state"):
    if not isinstance(state, cls):
        raise TypeError(f"{name}: expected a {cls.__name__} (from this optimizer's init), got {type(state).__name__}")


def _flat(tree):
    """The leaves in :func:`funcnet.tree.tree_leaves` order, and the dict key each sits under."""
    return _flat_sig(tree)[:2]


def _flat_sig(tree):
    """``(leaves, names, signature)``; the signature pins the structure of a layer tuple.

    funcnet's params are a tuple of flat layer dicts. Walked directly, such a tree costs a
    fraction of the general recursion, which matters at several trees per step; the
    signature (the sorted keys of each layer) then compares two of them in one ``==``.
    Other trees get the general walk and ``None``.
    """
    if type(tree) is tuple and all(type(d) is dict for d in tree):
        keys = tuple(tuple(sorted(d)) for d in tree)
        leaves = [d[k] for d, ks in zip(tree, keys) for k in ks]
        if not any(isinstance(a, (dict, tuple, list)) for a in leaves):
            return leaves, [k for ks in keys for k in ks], keys
    leaves, names = [], []
    _walk(tree, None, leaves, names)
    return leaves, names, None


def _flat_fast(tree, like=None):
    """:func:`_flat` for trusted trees, with the keys of ``like`` (default: ``tree``).

    For funcnet's tuple of flat layer dicts this is one pass without the container scan;
    keys go in sorted order, as in :func:`_flat`, so that order-sensitive sums (the global
    norm) come out bitwise the same on the checked and the unchecked path.
    """
    if type(tree) is tuple and tree and type(tree[0]) is dict:
        keys = [sorted(d) for d in (like or tree)]
        return [d[k] for d, ks in zip(tree, keys) for k in ks], [k for ks in keys for k in ks]
    return _flat(tree)


def _walk(tree, name, leaves, names):
    if isinstance(tree, dict):
        for k in sorted(tree):
            _walk(tree[k], k, leaves, names)
    elif isinstance(tree, (tuple, list)):
        for t in tree:
            _walk(t, name, leaves, names)
    else:
        leaves.append(tree)
        names.append(name)


def _rebuild(like, leaves):
    """A tree shaped like ``like`` holding ``leaves`` (in :func:`_flat` order)."""
    if (
        type(like) is tuple
        and all(type(d) is dict for d in like)
        and not any(isinstance(a, (dict, tuple, list)) for d in like for a in d.values())
    ):
        it = iter(leaves)
        return tuple({k: next(it) for k in sorted(d)} for d in like)
    return _rebuild_walk(like, iter(leaves))


def _rebuild_fast(like, leaves):
    """Inverse of :func:`_flat_fast`: a tree shaped like ``like``."""
    if type(like) is tuple and like and type(like[0]) is dict:
        it = iter(leaves)
        return tuple([{k: next(it) for k in sorted(d)} for d in like])
    return _rebuild(like, leaves)


def _rebuild_walk(like, it):
    if isinstance(like, dict):
        return {k: _rebuild_walk(like[k], it) for k in sorted(like)}
    if isinstance(like, (tuple, list)):
        out = [_rebuild_walk(t, it) for t in like]
        return tuple(out) if isinstance(like, tuple) else out
    return next(it)


def _check_leaves(leaves, names, ref, ref_name, name="grads"):
    """``leaves`` must be arrays with the shapes of the arrays in ``ref``, one by one."""
    if len(leaves) != len(ref):
        raise ValueError(f"{name}: expected the {len(ref)} arrays of {ref_name}, got {len(leaves)}")
    for a, r, k in zip(leaves, ref, names):
        if type(a) is not np.ndarray or a.shape != r.shape:
            if not isinstance(a, np.ndarray):
                raise TypeError(f"{name}: expected numpy arrays as leaves, got {type(a).__name__} under {k!r}")
            raise ValueError(
                f"{name}: expected the shapes of {ref_name}, got {a.shape} where {ref_name} has "
                f"{r.shape} (under {k!r})"
            )


def _grads(grads, ref, ref_name):
    """Check ``grads`` against ``ref`` (params or a state tree).

    Returns:
        ``(grads leaves, their names, ref leaves)``.
    """
    leaves, names, sig = _flat_sig(grads)
    ref_leaves, _, ref_sig = _flat_sig(ref)
    if sig is None or sig != ref_sig:
        tree_check_same(ref, grads, names=(ref_name, "grads"))
    _check_leaves(leaves, names, ref_leaves, ref_name)
    return leaves, names, ref_leaves


def _inputs(who, grads, params, trees=(), tree_names=(), *, needs_params=False, check=True):
    """Check one update's inputs against each other, flattening every tree once.

    ``grads`` is checked against ``params`` when given (else against the first state tree),
    and each state tree's arrays against the grads' shapes.

    Returns:
        ``(grads leaves, names, params leaves or None, [leaves of each state tree])``.
    """
    if not check:  # inputs made by fit itself: flatten only, and params only if used
        leaves, names = _flat_fast(grads)
        return (leaves, names, _flat_fast(params, grads)[0] if needs_params else None,
                [_flat_fast(t, grads)[0] for t in trees])
    if params is None:
        if needs_params:
            raise ValueError(f"params: {who} needs the params in update, got None")
        ref, ref_name = (trees[0], tree_names[0]) if trees else (grads, "grads")
    else:
        ref, ref_name = params, "params"
    leaves, names, ref_leaves = _grads(grads, ref, ref_name)
    state_leaves = []
    for t, n in zip(trees, tree_names):
        if t is ref:
            state_leaves.append(ref_leaves)
            continue
        tl = _flat(t)[0]
        _check_leaves(tl, names, leaves, "grads", n)
        state_leaves.append(tl)
    return leaves, names, (None if params is None else ref_leaves), state_leaves


def _params_tree(params, who):
    if params is None:
        raise ValueError(f"params: {who} needs the params in init and update, got None")
    leaves, names = _flat(params)
    for a, k in zip(leaves, names):
        if not isinstance(a, np.ndarray) or a.dtype.kind != "f" or a.ndim == 0:
            raise TypeError(
                f"params: expected a tree of float numpy arrays of at least one dimension, got "
                f"{type(a).__name__} {getattr(a, 'dtype', '')} {np.shape(a)} under {k!r}"
            )
    return leaves, names


def _zeros_like(params, who):
    leaves, _ = _params_tree(params, who)
    return _rebuild(params, [np.zeros_like(a) for a in leaves])


def _rate_at(lr, count):
    return lr(count) if callable(lr) else lr


# --- keeping subnormal numbers out of decaying state ---

# A state entry whose gradient stays exactly zero (a weight on an input pixel that is always
# 0, a dead unit) decays geometrically, by ``decay`` a step, into the subnormal floats below
# finfo.tiny, and x86 handles many operations on subnormals in microcode: multiplying a
# 784x256 float32 moment with 5 % subnormal entries by 0.9 takes 380 us against 40 us.
# Measured on a quiet machine, Adam on Fashion-MNIST (784-256-10, batch 128): 0.8 s an epoch
# for two epochs, then 1.3 s from the third with 4.5 % of the first moment subnormal; 0.8 s
# throughout with the flush, and the same losses to the last digit.
# Hardware flush-to-zero (which XLA turns on) cannot be set from NumPy, so every few steps the
# state entries that pure decay would carry below tiny before the next flush are set to 0.
_FLUSH_EVERY = 16
_FLUSHED = (np.dtype(np.float32), np.dtype(np.float64))


def _flush_period(decay: float) -> int:
    """Steps between flushes of a state that decays by ``decay`` a step (0: never)."""
    if decay < 1 / 64:  # such a state falls through the subnormals in a few steps (4 in
        return 0  # float32, 9 in float64)
    # The threshold 2 * tiny / decay**k (twice for rounding) is kept under 128 * tiny (2e-36
    # in float32, 3e-306 in float64), a change no update can show: k = 16 for decays >= 0.7712.
    return max(1, min(_FLUSH_EVERY, int(math.log(64.0) / -math.log(decay))))


def _flush_tiny_(leaves, decay: float, count: int) -> None:
    """At every ``_flush_period(decay)``-th step, zero the entries of fresh state ``leaves``
    (ours to change) that are too small to stay normal until the next flush."""
    k = _flush_period(decay)
    if not k or count % k:
        return
    for a in leaves:
        # float32 and float64 only: NumPy computes float16 in float32, where its subnormals
        # are normal and cost nothing, while float16's tiny (6e-5) is among real values.
        # (A hand-built 0-d state comes back from the kernels as a NumPy scalar: left alone.)
        if isinstance(a, np.ndarray) and a.ndim and a.dtype in _FLUSHED:
            limit = 2.0 * float(np.finfo(a.dtype).tiny) / decay**k
            np.copyto(a, 0, where=np.abs(a) < limit)


# --- kernels: one leaf each; every array written to is allocated right here ---


def _trace_leaf(g, v, mu, nesterov, scale):
    """New velocity ``mu*v + g`` and the update ``scale * (v or g + mu*v)``."""
    nv = np.multiply(v, mu, dtype=v.dtype)
    nv += g
    if nesterov:
        u = np.multiply(nv, mu)
        u += g
        u *= scale
    else:
        u = np.multiply(nv, scale)
    return u, nv


def _second_moment(g, v, decay):
    # decay*v + (1-decay)*g**2 rearranged as (g*g - v)*(1-decay) + v: four passes over one
    # fresh array and no temporary.
    nv = np.multiply(g, g, dtype=v.dtype)
    nv -= v
    nv *= 1.0 - decay
    nv += v
    return nv


def _rms_leaf(g, v, decay, eps, scale):
    """New ``v`` and the update ``scale * g / (sqrt(v) + eps)``."""
    nv = _second_moment(g, v, decay)
    u = np.sqrt(nv)
    u += eps
    np.divide(g, u, out=u)
    u *= scale
    return u, nv


def _adam_leaf(g, m, v, b1, b2, eps, scale):
    """New moments and the update ``scale * m / (sqrt(v) + eps)`` (corrections folded in)."""
    nm = np.subtract(m, g, dtype=m.dtype)
    nm *= b1
    nm += g  # b1*m + (1-b1)*g in three passes and no temporary
    nv = _second_moment(g, v, b2)
    u = np.sqrt(nv)
    u += eps
    np.divide(nm, u, out=u)
    u *= scale
    return u, nm, nv


def _adam_constants(count, b1, b2, eps):
    """``(eps', c)`` with ``mhat/(sqrt(vhat)+eps) == c * m/(sqrt(v)+eps')`` at step ``count+1``.

    Multiplying numerator and denominator by ``sqrt(1-b2**t)`` moves both bias corrections
    into one scalar, which saves two passes over every array; the result is the same
    Kingma & Ba update (this is not their "eps-hat" variant, which changes eps).
    """
    t = count + 1
    root = math.sqrt(1.0 - b2**t)
    return eps * root, root / (1.0 - b1**t)


def _decay_leaves(updates, leaves, names, factor):
    """Add ``factor * p`` to the updates of the ``"W"`` leaves (updates are ours to change)."""
    for u, p, k in zip(updates, leaves, names):
        if k == DECAYED:
            u += np.multiply(p, factor, dtype=u.dtype)


# --- applying updates ---


def apply_updates(params, updates):
    """Return ``params + updates``, leaf by leaf, keeping each param's dtype.

    Args:
        params: tree of arrays.
        updates: tree of arrays with the structure and shapes of ``params``.

    Returns:
        New params; neither argument is changed.

    >>> apply_updates(({"b": np.array([1.0])},), ({"b": np.array([-0.5])},))
    ({'b': array([0.5])},)
    """
    tree_check_same(params, updates, names=("params", "updates"))
    return tree_map(lambda p, u: np.add(p, u, dtype=p.dtype), params, updates)


def step(optimizer: Optimizer, grads, state, params):
    """One optimizer step: ``update`` then :func:`apply_updates`.

    Args:
        optimizer: an :class:`Optimizer`.
        grads: tree of arrays like ``params``.
        state: the optimizer's state (from ``optimizer.init`` or a previous step).
        params: tree of arrays.

    Returns:
        ``(new_params, new_state)``; no argument is changed.

    >>> p = ({"b": np.array([1.0])},)
    >>> opt = momentum(0.5, mu=0.9)
    >>> p1, s = step(opt, ({"b": np.array([1.0])},), opt.init(p), p)
    >>> p2, s = step(opt, ({"b": np.array([1.0])},), s, p1)
    >>> p1[0]["b"], p2[0]["b"], s.count
    (array([0.5]), array([-0.45]), 2)
    """
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer: expected a funcnet.optim.Optimizer, got {type(optimizer).__name__}")
    updates, new_state = optimizer.update(grads, state, params)
    return apply_updates(params, updates), new_state


def sgd_step(lr: float, params, grads):
    """One plain gradient-descent step: ``params - lr * grads``, as new arrays.

    Args:
        lr: learning rate, a positive number.
        params: tree of arrays.
        grads: tree of arrays with the structure and shapes of ``params``.

    Returns:
        New params of the same structure and dtypes.

    >>> sgd_step(0.5, ({"W": np.array([1.0, 2.0])},), ({"W": np.array([2.0, 2.0])},))
    ({'W': array([0., 1.])},)
    """
    lr = _check_lr(lr)
    if callable(lr):
        raise ValueError("lr: sgd_step takes a number; use sgd(schedule) for a schedule")
    tree_check_same(params, grads, names=("params", "grads"))

    def one(p, g):
        out = np.multiply(g, -lr, dtype=p.dtype)
        out += p
        return out

    return tree_map(one, params, grads)


# --- stateless transforms ---


def _stateless(name: str, leaf_fn: Callable, *, needs_params: bool = False,
               leafwise: Callable | None = None) -> Optimizer:
    """An optimizer with only a count: ``leaf_fn(grads, params, names, count) -> updates``.

    All four are lists in leaf order (``params`` is ``None`` unless ``needs_params``).
    ``leafwise(count)``, when given, returns the same rule as a function of one leaf; the
    unchecked path then maps it over funcnet's layer dicts directly (no flatten and rebuild:
    2 us of a 5 us SGD update on a small net). The numbers are the same either way.
    """

    def init(params):
        if needs_params:
            _params_tree(params, name)
        return CountState(0)

    def update(grads, state, params, check=True):
        if not check and leafwise is not None and type(grads) is tuple and grads and type(grads[0]) is dict:
            f = leafwise(state.count)
            return tuple([{k: f(g) for k, g in d.items()} for d in grads]), CountState(state.count + 1)
        # Unchecked, every tree was flattened in the key order of grads: rebuild in it too.
        rebuild = _rebuild if check else (lambda like, leaves: _rebuild_fast(grads, leaves))
        if check:
            _check_state(state, CountState)
        leaves, names, pleaves, _ = _inputs(name, grads, params, needs_params=needs_params, check=check)
        out = leaf_fn(leaves, pleaves, names, state.count)
        return rebuild(grads, out), CountState(state.count + 1)

    return _optimizer(init, update)


def _each(rule: Callable) -> Callable:
    """The list form of a per-leaf rule ``rule(count) -> (g -> update)``, for :func:`_stateless`."""

    def leaves_fn(leaves, _, __, count):
        f = rule(count)
        return [f(g) for g in leaves]

    return leaves_fn


def _descent(lr) -> Callable:
    """The rule ``g -> -lr(count) * g`` of :func:`sgd` and :func:`scale_by_learning_rate`."""

    def rule(count):
        rate = -_rate_at(lr, count)
        return lambda g: np.multiply(g, rate)

    return rule


def _leafwise(name: str, rule: Callable) -> Optimizer:
    return _stateless(name, _each(rule), leafwise=rule)


def sgd(lr) -> Optimizer:
    """Plain stochastic gradient descent: ``update = -lr * grad``.

    Args:
        lr: a positive number, or a schedule ``step -> rate``.

    Returns:
        An :class:`Optimizer` with state :class:`CountState`; ``params`` may be ``None``.

    >>> opt = sgd(0.1)
    >>> u, s = opt.update(({"b": np.array([1.0])},), opt.init(None), None)
    >>> u[0]["b"], s.count
    (array([-0.1]), 1)

    See Also:
        momentum, nesterov: SGD with a velocity.
    """
    lr = _check_lr(lr)

    return _leafwise("sgd", _descent(lr))


def scale(factor: float) -> Optimizer:
    """Multiply the updates by a fixed number: ``update = factor * g``.

    Args:
        factor: a finite number (negative to turn a gradient into a descent step).

    >>> scale(-2.0).update(({"b": np.array([1.0, -0.5])},), CountState(0), None)[0]
    ({'b': array([-2.,  1.])},)

    See Also:
        scale_by_learning_rate: ``-lr * g`` with a number or a schedule.
    """
    factor = _check_real(factor, "factor", "a finite number", lambda v: True)
    return _leafwise("scale", lambda count: lambda g: np.multiply(g, factor))


def scale_by_schedule(schedule: Callable) -> Optimizer:
    """Multiply the updates by ``schedule(count)``.

    Args:
        schedule: a function ``step -> factor`` (see :mod:`funcnet.schedules`).

    >>> opt = scale_by_schedule(lambda t: 0.5 ** t)
    >>> g = ({"b": np.array([4.0])},)
    >>> u1, s = opt.update(g, opt.init(None), None)
    >>> u2, s = opt.update(g, s, None)
    >>> u1[0]["b"], u2[0]["b"]
    (array([4.]), array([2.]))
    """
    if not callable(schedule):
        raise TypeError(f"schedule: expected a function step -> factor, got {schedule!r}")

    def rule(count):
        factor = schedule(count)
        return lambda g: np.multiply(g, factor)

    return _leafwise("scale_by_schedule", rule)


def scale_by_learning_rate(lr) -> Optimizer:
    """Turn directions into descent steps: ``update = -lr * g``, ``lr`` a number or schedule.

    The last link of a chain built from the ``scale_by_*`` blocks; ``chain(scale_by_adam(),
    scale_by_learning_rate(lr))`` is :func:`adam`.

    >>> scale_by_learning_rate(0.5).update(({"b": np.array([2.0])},), CountState(0), None)[0]
    ({'b': array([-1.])},)
    """
    lr = _check_lr(lr)

    return _leafwise("scale_by_learning_rate", _descent(lr))


# A clip factor below the smallest normal float32 would lose bits before the multiply.
_TINY = 2.0**-126


def _clip_rescaled(leaves, max_norm):
    """:func:`clip_by_global_norm` for the rare trees the direct formula cannot handle.

    Those whose squares overflow (float32 elements above about 1.8e19), whose clip factor
    would be subnormal, that hold NaN or inf, or that have leaves of other dtypes (float16's
    smallest normal number, 6e-5, is larger than many clip factors). Non-finite grads are
    passed on unchanged.
    """
    tops = [np.max(np.abs(g)) for g in leaves if g.size]
    if not all(np.isfinite(t) for t in tops):
        return leaves
    # Scaling by a power of two is exact, and with every magnitude below 1 the squares
    # cannot overflow. Elements 2**-126 times smaller than the largest may underflow, which
    # changes the norm by less than rounding does.
    e = max(int(np.frexp(t)[1]) for t in tops)
    with np.errstate(under="ignore"):
        scaled = [np.ldexp(g, -e) for g in leaves]
    r = math.sqrt(_sum_squares(scaled)[0])  # the norm divided by 2**e
    if not r > math.ldexp(max_norm, -e):
        return leaves
    factor = max_norm / r
    out = []
    for s in scaled:
        wide = np.promote_types(s.dtype, np.float64)
        if wide == s.dtype:
            out.append(np.multiply(s, factor))
        else:  # rounded once, from the float64 product, not at the factor and again after
            out.append(np.multiply(s, factor, dtype=wide).astype(s.dtype))
    return out


def clip_by_global_norm(max_norm: float) -> Optimizer:
    """Rescale all updates together so that their joint Euclidean norm is at most ``max_norm``.

    ``g * max_norm / ||g||`` when ``||g|| > max_norm`` (the norm over every leaf at once);
    otherwise the updates pass through unchanged (the same arrays).

    Any tree of finite values is clipped to ``max_norm`` up to rounding, even when the
    squares overflow their dtype (float32 values above about 1.8e19): the tree is then
    rescaled by a power of two before the norm is taken. Grads holding NaN or inf pass
    through unchanged (the same arrays), neither scaled to 0 nor made finite, so they reach
    the params and :func:`funcnet.train.fit` stops with its divergence error.

    Args:
        max_norm: a positive finite number.

    Returns:
        An :class:`Optimizer` with state :class:`CountState`; ``params`` may be ``None``.

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
    max_norm = _check_eps(max_norm, "max_norm")

    def leaves_fn(leaves, _, __, count):
        total, plain = _sum_squares(leaves)
        norm = math.sqrt(total)
        if norm < math.inf:  # false for inf and NaN
            if not norm > max_norm:
                return leaves
            factor = max_norm / norm
            if factor >= _TINY and plain:
                return [np.multiply(g, factor) for g in leaves]
        return _clip_rescaled(leaves, max_norm)

    return _stateless("clip_by_global_norm", leaves_fn)


def clip_by_value(limit: float) -> Optimizer:
    """Clip every update element into ``[-limit, limit]``.

    Args:
        limit: a positive finite number.

    >>> clip_by_value(1.0).update(({"b": np.array([-3.0, 0.5, 2.0])},), CountState(0), None)[0]
    ({'b': array([-1. ,  0.5,  1. ])},)
    """
    limit = _check_eps(limit, "limit")
    return _leafwise("clip_by_value", lambda count: lambda g: np.clip(g, -limit, limit))


def add_weight_decay(weight_decay: float) -> Optimizer:
    """Add ``weight_decay * W`` to the updates of the weight leaves (those under ``"W"``).

    Before an adaptive optimizer this is the classic coupled L2 penalty
    (``chain(add_weight_decay(wd), adam(lr))`` is PyTorch's ``Adam(weight_decay=wd)``); after a
    ``scale_by_*`` block and before :func:`scale_by_learning_rate` it is decoupled decay as in
    :func:`adamw`. Biases and batch-norm ``gamma``/``beta`` pass through unchanged.

    Args:
        weight_decay: a finite number >= 0.

    >>> p = ({"W": np.array([[2.0]]), "b": np.array([2.0])},)
    >>> g = ({"W": np.array([[1.0]]), "b": np.array([1.0])},)
    >>> add_weight_decay(0.1).update(g, CountState(0), p)[0]
    ({'W': array([[1.2]]), 'b': array([1.])},)
    """
    wd = _check_nonneg(weight_decay, "weight_decay")

    def leaves_fn(leaves, pleaves, names, count):
        out = []
        for g, p, k in zip(leaves, pleaves, names):
            if k == DECAYED and wd:
                u = np.multiply(p, wd, dtype=g.dtype)
                u += g
                out.append(u)
            else:
                out.append(g)
        return out

    return _stateless("add_weight_decay", leaves_fn, needs_params=True)


# --- stateful building blocks and optimizers ---


def _momentum(name, lr, mu, nesterov) -> Optimizer:
    """Heavy-ball or Nesterov momentum; ``lr=None`` gives the bare direction (:func:`trace`)."""

    def init(params):
        return TraceState(0, _zeros_like(params, name))

    def update(grads, state, params, check=True):
        # Unchecked, every tree was flattened in the key order of grads: rebuild in it too.
        rebuild = _rebuild if check else (lambda like, leaves: _rebuild_fast(grads, leaves))
        if check:
            _check_state(state, TraceState)
        leaves, _, _, (vel,) = _inputs(name, grads, params, (state.velocity,), ("state.velocity",),
                                       check=check)
        factor = 1.0 if lr is None else -_rate_at(lr, state.count)
        out = [_trace_leaf(g, v, mu, nesterov, factor) for g, v in zip(leaves, vel)]
        new_vel = [o[1] for o in out]
        _flush_tiny_(new_vel, mu, state.count + 1)
        return (
            rebuild(grads, [o[0] for o in out]),
            TraceState(state.count + 1, rebuild(state.velocity, new_vel)),
        )

    return _optimizer(init, update)


def trace(decay: float = 0.9, *, nesterov: bool = False) -> Optimizer:
    """Momentum as a building block: the velocity (or Nesterov's ``g + decay*v``), unscaled.

    ``chain(trace(mu), scale_by_learning_rate(lr))`` is :func:`momentum`.

    Args:
        decay: the momentum coefficient ``mu``, in [0, 1).
        nesterov: use the Nesterov direction.

    >>> p = ({"b": np.zeros(1)},)
    >>> opt = trace(0.5)
    >>> u, s = opt.update(({"b": np.array([2.0])},), opt.init(p), p)
    >>> u, s = opt.update(({"b": np.array([2.0])},), s, p)
    >>> u[0]["b"]
    array([3.])
    """
    mu = _check_decay_rate(decay, "decay")
    if not isinstance(nesterov, bool):
        raise TypeError(f"nesterov: expected True or False, got {nesterov!r}")
    return _momentum("trace", None, mu, nesterov)


def momentum(lr, mu: float = 0.9, *, nesterov: bool = False) -> Optimizer:
    """SGD with heavy-ball momentum, PyTorch's form: ``v = mu*v + g; update = -lr*v``.

    (Sutskever et al.'s form ``v = mu*v - lr*g`` gives the same steps for a constant ``lr``;
    with a schedule this one rescales the whole velocity by the current rate.)

    Args:
        lr: a positive number or a schedule.
        mu: the momentum coefficient, in [0, 1).
        nesterov: use :func:`nesterov`'s update instead.

    Returns:
        An :class:`Optimizer` with state :class:`TraceState`.

    >>> p = ({"b": np.zeros(1)},)
    >>> opt = momentum(0.1, mu=0.9)
    >>> u, s = opt.update(({"b": np.array([1.0])},), opt.init(p), p)
    >>> u, s = opt.update(({"b": np.array([1.0])},), s, p)
    >>> u[0]["b"], s.velocity[0]["b"]
    (array([-0.19]), array([1.9]))
    """
    lr = _check_lr(lr)
    mu = _check_decay_rate(mu, "mu")
    if not isinstance(nesterov, bool):
        raise TypeError(f"nesterov: expected True or False, got {nesterov!r}")
    return _momentum("nesterov" if nesterov else "momentum", lr, mu, nesterov)


def nesterov(lr, mu: float = 0.9) -> Optimizer:
    """SGD with Nesterov momentum, PyTorch's form: ``v = mu*v + g; update = -lr*(g + mu*v)``.

    Args:
        lr: a positive number or a schedule.
        mu: the momentum coefficient, in [0, 1).

    Returns:
        An :class:`Optimizer` with state :class:`TraceState`.

    >>> p = ({"b": np.zeros(1)},)
    >>> opt = nesterov(0.1, mu=0.9)
    >>> u, s = opt.update(({"b": np.array([1.0])},), opt.init(p), p)
    >>> u[0]["b"]
    array([-0.19])
    """
    return momentum(lr, mu, nesterov=True)


def _rms(name, lr, decay, eps) -> Optimizer:
    def init(params):
        return RMSState(0, _zeros_like(params, name))

    def update(grads, state, params, check=True):
        # Unchecked, every tree was flattened in the key order of grads: rebuild in it too.
        rebuild = _rebuild if check else (lambda like, leaves: _rebuild_fast(grads, leaves))
        if check:
            _check_state(state, RMSState)
        leaves, _, _, (nu,) = _inputs(name, grads, params, (state.nu,), ("state.nu",), check=check)
        factor = 1.0 if lr is None else -_rate_at(lr, state.count)
        out = [_rms_leaf(g, v, decay, eps, factor) for g, v in zip(leaves, nu)]
        new_nu = [o[1] for o in out]
        _flush_tiny_(new_nu, decay, state.count + 1)
        return (
            rebuild(grads, [o[0] for o in out]),
            RMSState(state.count + 1, rebuild(state.nu, new_nu)),
        )

    return _optimizer(init, update)


def scale_by_rms(decay: float = 0.99, eps: float = 1e-8) -> Optimizer:
    """RMSprop's direction as a building block: ``g / (sqrt(v) + eps)``, unscaled.

    Args:
        decay: the running average's coefficient ``a`` in ``v = a*v + (1-a)*g**2``, in [0, 1).
        eps: added to ``sqrt(v)``, positive.

    >>> p = ({"b": np.zeros(1)},)
    >>> opt = scale_by_rms(decay=0.75)
    >>> opt.update(({"b": np.array([2.0])},), opt.init(p), p)[0][0]["b"]
    array([2.])
    """
    return _rms("scale_by_rms", None, _check_decay_rate(decay, "decay"), _check_eps(eps))


def rmsprop(lr=0.01, decay: float = 0.99, eps: float = 1e-8) -> Optimizer:
    """RMSprop as in PyTorch: ``v = a*v + (1-a)*g**2; update = -lr * g / (sqrt(v) + eps)``.

    No bias correction, so early steps are large (``v`` starts at 0): the first is
    ``-lr * g / (sqrt(1-a) * |g| + eps)``, ten times ``lr`` for the default ``a = 0.99``.

    Args:
        lr: a positive number or a schedule (PyTorch's default 0.01).
        decay: PyTorch's ``alpha``, in [0, 1).
        eps: added to ``sqrt(v)``, positive.

    Returns:
        An :class:`Optimizer` with state :class:`RMSState`.

    >>> p = ({"b": np.zeros(1)},)
    >>> opt = rmsprop(0.01, decay=0.75)
    >>> opt.update(({"b": np.array([-3.0])},), opt.init(p), p)[0][0]["b"]
    array([0.02])
    """
    return _rms("rmsprop", _check_lr(lr), _check_decay_rate(decay, "decay"), _check_eps(eps))


def _adam(name, lr, b1, b2, eps, weight_decay) -> Optimizer:
    def init(params):
        return AdamState(0, _zeros_like(params, name), _zeros_like(params, name))

    def update(grads, state, params, check=True):
        # Unchecked, every tree was flattened in the key order of grads: rebuild in it too.
        rebuild = _rebuild if check else (lambda like, leaves: _rebuild_fast(grads, leaves))
        if check:
            _check_state(state, AdamState)
        leaves, names, pleaves, (mu, nu) = _inputs(
            name, grads, params, (state.mu, state.nu), ("state.mu", "state.nu"),
            needs_params=bool(weight_decay), check=check,
        )
        eps_t, c = _adam_constants(state.count, b1, b2, eps)
        rate = 1.0 if lr is None else -_rate_at(lr, state.count)
        out = [_adam_leaf(g, m, v, b1, b2, eps_t, rate * c) for g, m, v in zip(leaves, mu, nu)]
        updates = [o[0] for o in out]
        if weight_decay:
            # Decoupled (Loshchilov & Hutter), as PyTorch's AdamW: p -= lr*wd*p with the same
            # schedule value as the gradient step, from the params before this step.
            _decay_leaves(updates, pleaves, names, rate * weight_decay)
        new_mu, new_nu = [o[1] for o in out], [o[2] for o in out]
        _flush_tiny_(new_mu, b1, state.count + 1)
        _flush_tiny_(new_nu, b2, state.count + 1)
        return (
            rebuild(grads, updates),
            AdamState(state.count + 1, rebuild(state.mu, new_mu), rebuild(state.nu, new_nu)),
        )

    return _optimizer(init, update)


def _check_adam(b1, b2, eps):
    return _check_decay_rate(b1, "b1"), _check_decay_rate(b2, "b2"), _check_eps(eps)


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> Optimizer:
    """Adam's direction as a building block: ``mhat / (sqrt(vhat) + eps)``, unscaled.

    Args:
        b1: first-moment coefficient, in [0, 1).
        b2: second-moment coefficient, in [0, 1).
        eps: added to ``sqrt(vhat)``, positive.

    >>> p = ({"b": np.zeros(2)},)
    >>> opt = scale_by_adam()
    >>> opt.update(({"b": np.array([0.5, -2.0])},), opt.init(p), p)[0][0]["b"]
    array([ 1., -1.])
    """
    return _adam("scale_by_adam", None, *_check_adam(b1, b2, eps), 0.0)


def adam(lr=1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> Optimizer:
    """Adam (Kingma & Ba, 2015), with ``eps`` outside the square root as in PyTorch and optax.

    ``m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g**2;``
    ``update = -lr * mhat / (sqrt(vhat) + eps)`` with ``mhat = m/(1-b1**t)``,
    ``vhat = v/(1-b2**t)`` at step ``t = count + 1``. The first step is ``-lr * sign(g)`` up
    to ``eps``.

    Args:
        lr: a positive number or a schedule.
        b1: first-moment coefficient, in [0, 1).
        b2: second-moment coefficient, in [0, 1).
        eps: added to ``sqrt(vhat)``, positive.

    Returns:
        An :class:`Optimizer` with state :class:`AdamState`.

    >>> p = ({"b": np.zeros(2, dtype=np.float32)},)
    >>> opt = adam(0.1)
    >>> u, s = opt.update(({"b": np.array([0.5, -2.0], dtype=np.float32)},), opt.init(p), p)
    >>> u[0]["b"], s.count
    (array([-0.1,  0.1], dtype=float32), 1)

    See Also:
        adamw: with decoupled weight decay.
    """
    return _adam("adam", _check_lr(lr), *_check_adam(b1, b2, eps), 0.0)


def adamw(lr=1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
          weight_decay: float = 0.01) -> Optimizer:
    """AdamW (Loshchilov & Hutter, 2019): Adam plus decoupled weight decay on the ``"W"`` leaves.

    ``update = adam_update - lr * weight_decay * W`` for weights (PyTorch's ``AdamW``, whose
    default ``weight_decay`` is 0.01); biases and batch-norm parameters are not decayed.
    ``params`` must be passed to ``update``.

    Args:
        lr: a positive number or a schedule.
        b1, b2, eps: as in :func:`adam`.
        weight_decay: a finite number >= 0.

    Returns:
        An :class:`Optimizer` with state :class:`AdamState`.

    >>> p = ({"W": np.array([[2.0]]), "b": np.array([2.0])},)
    >>> g = ({"W": np.array([[1.0]]), "b": np.array([1.0])},)
    >>> opt = adamw(0.1, weight_decay=0.5)
    >>> opt.update(g, opt.init(p), p)[0]
    ({'W': array([[-0.2]]), 'b': array([-0.1])},)
    """
    return _adam("adamw", _check_lr(lr), *_check_adam(b1, b2, eps),
                 _check_nonneg(weight_decay, "weight_decay"))


# --- composition ---


def chain(*transforms: Optimizer) -> Optimizer:
    """Apply transforms one after the other: each one's updates are the next one's grads.

    Args:
        *transforms: :class:`Optimizer` s (gradient transforms), applied left to right; all
            of them see the same ``params``.

    Returns:
        An :class:`Optimizer` with state :class:`ChainState` (the inner states in order).

    >>> opt = chain(clip_by_value(1.0), sgd(0.1))
    >>> u, s = opt.update(({"b": np.array([5.0, -0.5])},), opt.init(None), None)
    >>> u[0]["b"], s.count, [t.count for t in s.states]
    (array([-0.1 ,  0.05]), 1, [1, 1])
    """
    if not transforms:
        raise ValueError("transforms: expected at least one Optimizer, got none")
    for i, t in enumerate(transforms):
        if not isinstance(t, Optimizer):
            raise TypeError(f"transforms[{i}]: expected a funcnet.optim.Optimizer, got {type(t).__name__}")

    fast = [unchecked(t) for t in transforms]

    def init(params):
        return ChainState(0, tuple(t.init(params) for t in transforms))

    def update(grads, state, params, check=True):
        if check:
            _check_state(state, ChainState)
            if len(state.states) != len(transforms):
                raise ValueError(
                    f"state: expected the states of {len(transforms)} transforms, got {len(state.states)}"
                )
        states = []
        for t, u, s in zip(transforms, fast, state.states):
            grads, s = (t.update if check else u)(grads, s, params)
            states.append(s)
        return grads, ChainState(state.count + 1, tuple(states))

    return _optimizer(init, update)
