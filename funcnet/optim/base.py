"""The base of the optimizers: the (init, update) protocol, transforms, chain, applying updates.

An optimizer is anything with ``init(params) -> state`` and ``update(grads, state, params) ->
(updates, new_state)``: :class:`Optimizer`, a named pair of your own functions, or one of
funcnet's transforms, which are frozen dataclasses (:class:`Transform`) holding their
hyper-parameters: plain, comparable and picklable data. A transform's public ``update`` checks
its arguments and calls ``_apply``, the trusted function that :func:`funcnet.fit` runs too
(through ``_step``, ``_apply`` and then the updates applied; a scalar transform such as
``sgd`` does both leaf by leaf in one pass); :func:`chain` composes transforms, and folds a final learning-rate scale into the
kernel of the transform before it, so that ``adam`` (a chain) still makes one pass over each
leaf for its update.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, ClassVar, NamedTuple

import numpy as np

from .. import checks
from ..tree import _is_layers, _map, tree_leaves, tree_paths

__all__ = [
    "Optimizer",
    "Transform",
    "CountState",
    "ChainState",
    "Chain",
    "chain",
    "apply_updates",
    "step",
    "check_optimizer",
]


class Optimizer(NamedTuple):
    """A pure optimizer made of two functions of your own, ``init`` and ``update``.

    Use it to bring your own rule to :func:`funcnet.fit` or :func:`chain`; funcnet's own
    optimizers are :class:`Transform` objects with the same two methods. What ``update``
    returns is checked where funcnet calls it (its updates must be a tree like the grads).

    Attributes:
        init: ``init(params) -> state``, the state before the first update.
        update: ``update(grads, state, params) -> (updates, new_state)``; the updates, a
            tree like the grads, are added to the params (:func:`apply_updates`).

    Sign descent, a step of ``-0.1 * sign(g)``:

    >>> from funcnet.tree import tree_map
    >>> sign = Optimizer(init=lambda params: (),
    ...                  update=lambda g, s, p: (tree_map(lambda a: -0.1 * np.sign(a), g), s))
    >>> p = ({"b": np.array([1.0, 1.0])},)
    >>> step(sign, ({"b": np.array([3.0, -0.5])},), sign.init(p), p)[0]
    ({'b': array([0.9, 1.1])},)
    """

    init: Callable
    update: Callable


class CountState(NamedTuple):
    """State of the stateless transforms (scaling, clipping, weight decay): the step count.

    Attributes:
        count: the updates made so far (0 before the first), a Python int; a learning-rate
            schedule is called with it.

    >>> from funcnet.optim import sgd
    >>> opt = sgd(0.1)
    >>> s = opt.update(({"b": np.array([1.0])},), opt.init(None), None)[1]
    >>> opt.init(None), s.count
    (CountState(count=0), 1)
    """

    count: int


class ChainState(NamedTuple):
    """State of :func:`chain`: the step count and the states of its transforms, in order.

    Attributes:
        count: the updates made so far (0 before the first).
        states: a tuple with the state of each transform of the chain, in the chain's order.

    >>> from funcnet.optim import momentum
    >>> p = ({"b": np.zeros(1)},)
    >>> momentum(0.1).init(p)
    ChainState(count=0, states=(TraceState(count=0, velocity=({'b': array([0.])},)), CountState(count=0)))
    """

    count: int
    states: tuple


def check_optimizer(optimizer, name: str = "optimizer"):
    """Check that ``optimizer`` has callable ``init`` and ``update`` (a Transform or an Optimizer).

    Args:
        optimizer: the object to check.
        name: what the error message calls it.

    Returns:
        ``optimizer`` itself, unchanged.

    Raises:
        TypeError: ``optimizer`` lacks a callable ``init`` or ``update``.

    >>> from funcnet.optim import sgd
    >>> check_optimizer(sgd(0.1))
    ScaleByLearningRate(lr=0.1)
    >>> check_optimizer("adam")
    Traceback (most recent call last):
    TypeError: optimizer: expected an optimizer (funcnet.optim.sgd(0.1), or an Optimizer(init, update)), got 'adam'
    """
    if not (callable(getattr(optimizer, "init", None)) and callable(getattr(optimizer, "update", None))):
        raise TypeError(
            f"{name}: expected an optimizer (funcnet.optim.sgd(0.1), or an Optimizer(init, update)), "
            f"got {checks.show(optimizer)}"
        )
    return optimizer


def check_grads(grads, ref, ref_name: str, name: str = "grads"):
    """``grads`` must be a tree of float arrays shaped like ``ref`` (finite or not: clipping
    and fit's divergence check see what non-finite grads do)."""
    checks.arrays_like(grads, ref, name, ref_name, check_finite=False)


@dataclasses.dataclass(frozen=True)
class Transform:
    """Base of funcnet's optimizers and gradient transforms.

    Subclasses define ``_init(params) -> state`` and ``_apply(grads, state, params, factor)
    -> (updates, new_state)``, trusted: ``factor``, when not None, multiplies the updates (the
    learning rate that :func:`chain` folds in). Class attributes say what checking needs:
    ``State`` (the state's type), ``needs_params`` (``update`` reads the params) and
    ``fuses`` (how :func:`chain` may fold a following scale in: ``"head"``, the transform
    scales its own output; ``"linear"``, it maps already scaled updates to scaled updates).

    Attributes:
        State: the type of the state ``init`` makes (:class:`CountState` unless overridden).
        needs_params: ``update`` (and so ``init``) needs the params.
        init_needs_params: ``init`` shapes its state like the params.
        fuses: ``""``, ``"head"`` or ``"linear"``, as above.

    A transform of your own, which halves the grads:

    >>> import dataclasses
    >>> from funcnet.tree import tree_map
    >>> @dataclasses.dataclass(frozen=True)
    ... class Halve(Transform):
    ...     def _apply(self, grads, state, params, factor=None):
    ...         f = 0.5 if factor is None else 0.5 * factor
    ...         return tree_map(lambda g: f * g, grads), CountState(state.count + 1)
    >>> opt = Halve()
    >>> opt.update(({"b": np.array([3.0])},), opt.init(None), None)
    (({'b': array([1.5])},), CountState(count=1))
    """

    State: ClassVar[type] = CountState
    needs_params: ClassVar[bool] = False  # update reads the params
    init_needs_params: ClassVar[bool] = False  # init shapes its state like the params
    fuses: ClassVar[str] = ""

    def init(self, params):
        """The state before the first update."""
        if self.needs_params or self.init_needs_params or params is not None:
            _check_params(params, type(self).__name__)
        return self._init(params)

    def update(self, grads, state, params=None):
        """``(updates, new_state)`` for ``grads``; no argument is changed.

        Checks the arguments (:meth:`check`), then runs ``_apply``: what :func:`funcnet.fit`
        runs. NaN or inf in the grads pass through to the updates (fit's divergence check
        sees them).

        Raises:
            FloatingPointError: from finite grads, state and params, the updates or the new
                state overflowed their dtype (never a silent inf or NaN).
        """
        self.check(grads, state, params)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            updates, new_state = self._apply(grads, plain_counts(state), params)
        if all(checks.all_finite(g) for g in tree_leaves(grads)):
            for what, tree in (("updates", updates), ("the new state", new_state)):
                for path, a in tree_paths(tree):
                    if isinstance(a, np.ndarray) and a.dtype.kind == "f":
                        checks.overflow(a, f"update: {what}{path}", a.dtype)
        return updates, new_state

    def check(self, grads, state, params=None) -> None:
        """Raise a TypeError or ValueError naming what is wrong with ``update``'s arguments."""
        who = type(self).__name__
        if params is None:
            if self.needs_params:
                who = next((type(t).__name__ for t in getattr(self, "transforms", ())
                            if getattr(t, "needs_params", False)), who)
                raise ValueError(f"params: {who} needs the params in update, got None")
            _check_params(grads, who, "grads", finite=False)
        else:
            _check_params(params, who)
            check_grads(grads, params, "params")
        self._check_state(state, grads, params)

    def _check_state(self, state, grads, params) -> None:
        """``state`` must be this transform's state for ``grads``; subclasses holding trees
        of arrays (or reading the params) check those too."""
        checks.instance(state, "state", self.State,
                        f"a {self.State.__name__} (from this optimizer's init)")
        checks.integer(state.count, "state.count", low=0)

    def _init(self, params):
        return CountState(0)

    def _apply(self, grads, state, params, factor=None):
        raise NotImplementedError

    def _step(self, grads, state, params):
        """``(params + updates, new_state)`` for trusted arguments: ``_apply``, then
        :func:`_apply_updates`; what :func:`funcnet.fit` runs after the gradients. A transform
        may do both in one pass over the leaves, with the same leaf functions."""
        updates, state = self._apply(grads, state, params)
        return _apply_updates(params, updates), state


def plain_counts(state):
    """``state`` with Python ``int`` step counts (its own and, for a chain, its transforms'):
    a NumPy integer count, accepted by the checks, would overflow at 2**63 - 1."""
    if isinstance(state, ChainState):
        inner = tuple(plain_counts(s) for s in state.states)
        if type(state.count) is not int or any(a is not b for a, b in zip(inner, state.states)):
            return ChainState(int(state.count), inner)
        return state
    count = getattr(state, "count", None)
    if isinstance(state, tuple) and hasattr(state, "_replace") and count is not None and type(count) is not int:
        return state._replace(count=int(count))
    return state


def _check_params(params, who: str, name: str = "params", finite: bool = True) -> None:
    if params is None:
        raise ValueError(f"{name}: {who} needs the params in init and update, got None")
    checks.float_arrays(params, name, finite_values=finite)


def _each(fn: Callable, grads):
    """``fn`` leaf by leaf over a trusted tree of grads."""
    return _map(fn, grads, ())


# --- a learning rate is a positive number or a schedule ---


def check_lr(lr, name: str = "lr"):
    """A positive finite number, or a schedule ``step -> rate`` returning a rate >= 0 at step 0."""
    if callable(lr):
        rate_at(lr, 0, name)
        return lr
    return checks.real(lr, name, low=0, low_open=True)


def rate_at(lr, count: int, name: str = "lr") -> float:
    """The rate at step ``count``: a number, or the schedule's value, checked to be finite and >= 0."""
    return scheduled(lr(count), name, count, low=0) if callable(lr) else lr


def scheduled(value, name: str, count: int, low: float | None = None) -> float:
    """A schedule's value at step ``count``: a finite number (``>= low``), else an error naming
    the schedule's argument and the step."""
    try:
        return checks.real(value, name, low=low)
    except (TypeError, ValueError) as e:
        want = "a finite rate >= 0" if low == 0 else "a finite number"
        raise type(e)(f"{name}: expected the schedule to return {want}, got {checks.show(value)} "
                      f"at step {count}") from None


@dataclasses.dataclass(frozen=True)
class _Scalar(Transform):
    """A transform that multiplies every update by one number a step (``factor(count)``)."""

    fuses: ClassVar[str] = "head"

    def factor(self, count: int) -> float:
        raise NotImplementedError

    def _apply(self, grads, state, params, factor=None):
        f = self.factor(state.count)
        if factor is not None:
            f = f * factor
        return _each(lambda g: _scaled(g, f), grads), CountState(state.count + 1)

    def _step(self, grads, state, params):
        if type(self)._apply is not _Scalar._apply or not _is_layers(params):
            return super()._step(grads, state, params)
        # The params' own layout (grads are like them): each leaf scaled and added in one walk
        # rather than a tree of updates first, with the leaf functions of _apply and
        # _apply_updates.
        f = self.factor(state.count)
        return (tuple([{k: _added(v, _scaled(g[k], f)) for k, v in p.items()} for p, g in zip(params, grads)]),
                CountState(state.count + 1))


def _scaled(g, f):
    """A leaf of a scalar transform's updates: ``f * g``, in the grad's dtype for a Python ``f``."""
    return np.multiply(g, f)


# --- composition ---


@dataclasses.dataclass(frozen=True)
class Chain(Transform):
    """Transforms applied one after another; see :func:`chain`.

    Attributes:
        transforms: the optimizers and transforms, a tuple, applied left to right.

    >>> from funcnet.optim import adam
    >>> opt = adam(0.1)
    >>> isinstance(opt, Chain), [type(t).__name__ for t in opt.transforms]
    (True, ['ScaleByAdam', 'ScaleByLearningRate'])
    """

    transforms: tuple
    State: ClassVar[type] = ChainState

    def __post_init__(self):
        if not isinstance(self.transforms, (tuple, list)):
            raise TypeError(f"transforms: expected a sequence of optimizers, got {checks.show(self.transforms)}")
        object.__setattr__(self, "transforms", tuple(self.transforms))
        if not self.transforms:
            raise ValueError("transforms: expected at least one optimizer, got none")
        for i, t in enumerate(self.transforms):
            check_optimizer(t, f"transforms[{i}]")
        object.__setattr__(self, "_fold", _fold_plan(self.transforms))

    @property
    def needs_params(self):
        return any(getattr(t, "needs_params", False) for t in self.transforms)

    def _init(self, params):
        return ChainState(0, tuple(t.init(params) for t in self.transforms))

    def _check_state(self, state, grads, params) -> None:
        super()._check_state(state, grads, params)
        checks.instance(state.states, "state.states", tuple, "a tuple of the transforms' states")
        if len(state.states) != len(self.transforms):
            raise ValueError(f"state.states: expected the states of {len(self.transforms)} transforms, "
                             f"got {len(state.states)}")
        # Every transform keeps the structure and shapes of the grads, so each inner state is
        # checked against them; a user's own optimizer checks its state in its own update.
        for t, s in zip(self.transforms, state.states):
            if isinstance(t, Transform):
                t._check_state(s, grads, params)

    def _apply(self, grads, state, params, factor=None):
        transforms, states = self.transforms, list(state.states)
        fold = self._fold
        i = 0
        while i < len(transforms):
            t = transforms[i]
            if fold is not None and i == fold[0]:
                # transforms[head .. tail-1] run with the tail's scale folded in; the tail
                # (a scalar transform) only counts its step.
                head, tail = fold
                f = transforms[tail].factor(states[tail].count)
                if factor is not None:
                    f *= factor
                grads, states[head] = transforms[head]._apply(grads, states[head], params, f)
                for j in range(head + 1, tail):
                    grads, states[j] = transforms[j]._apply_scaled(grads, states[j], params, f)
                states[tail] = CountState(states[tail].count + 1)
                i = tail + 1
                continue
            last = factor is not None and i == len(transforms) - 1
            if isinstance(t, Transform):
                grads, states[i] = t._apply(grads, states[i], params, factor if last else None)
            else:  # a user's own rule: its result is checked before anything uses it
                grads, states[i] = foreign_update(t, grads, states[i], params, f"transforms[{i}]")
                if last:
                    grads = _each(lambda g: np.multiply(g, factor), grads)
            i += 1
        return grads, ChainState(state.count + 1, tuple(states))


def _fold_plan(transforms) -> tuple[int, int] | None:
    """``(head, tail)`` when the last transform is a scalar one that can be folded into the
    transforms from ``head`` on (a "head" transform followed by "linear" ones), else None."""
    tail = len(transforms) - 1
    if tail < 1 or not isinstance(transforms[tail], _Scalar):
        return None
    i = tail - 1
    while i >= 0 and getattr(transforms[i], "fuses", "") == "linear":
        i -= 1
    if i < 0 or getattr(transforms[i], "fuses", "") != "head":
        return None
    return i, tail


def schedules_of(optimizer) -> list:
    """The schedules inside a funcnet optimizer (learning rates and scale factors that are
    functions of the step), in order."""
    if isinstance(optimizer, Chain):
        return [s for t in optimizer.transforms for s in schedules_of(t)]
    if isinstance(optimizer, Transform):
        return [v for f in dataclasses.fields(optimizer) if callable(v := getattr(optimizer, f.name))
                and f.name in ("lr", "schedule")]
    return []


def foreign_update(optimizer, grads, state, params, name: str):
    """A user's own optimizer's update, and a check of what it returns before anything uses it."""
    out = optimizer.update(grads, state, params)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError(f"{name}: expected update to return (updates, new_state), got {checks.show(out)}")
    check_grads(out[0], grads, "the grads", f"{name}'s updates")
    return out


def chain(*transforms) -> Chain:
    """Apply transforms one after the other: each one's updates are the next one's grads.

    When the last transform multiplies by a learning rate (or any scalar), that factor is
    folded into the kernel of the transform before it (through any weight decay in between),
    which saves a pass over every leaf; the numbers differ from a step-by-step application by
    rounding only.

    Args:
        *transforms: optimizers or gradient transforms, applied left to right; all of them
            see the same ``params``.

    Returns:
        A :class:`Chain` with state :class:`ChainState` (the inner states in order).

    >>> from funcnet.optim import clip_by_value, sgd
    >>> opt = chain(clip_by_value(1.0), sgd(0.1))
    >>> u, s = opt.update(({"b": np.array([5.0, -0.5])},), opt.init(None), None)
    >>> u[0]["b"], s.count, [t.count for t in s.states]
    (array([-0.1 ,  0.05]), 1, [1, 1])
    """
    return Chain(tuple(transforms))


# --- applying updates ---


def _apply_updates(params, updates):
    """``params + updates`` leaf by leaf in the params' dtype, for trusted trees."""
    if _is_layers(params):
        return tuple([{k: _added(v, u[k]) for k, v in p.items()} for p, u in zip(params, updates)])
    return _map(_added, params, (updates,))


def _added(p, u):
    """A leaf of applied updates: ``p + u`` in the param's dtype."""
    return np.add(p, u, dtype=p.dtype)


def apply_updates(params, updates):
    """Return ``params + updates``, leaf by leaf, keeping each param's dtype.

    Args:
        params: tree of float arrays.
        updates: tree of float arrays with the structure and exactly the shapes of ``params``.

    Returns:
        New params; neither argument is changed.

    >>> apply_updates(({"b": np.array([1.0])},), ({"b": np.array([-0.5])},))
    ({'b': array([0.5])},)
    """
    _check_params(params, "apply_updates")
    checks.arrays_like(updates, params, "updates", "params")
    with np.errstate(over="ignore", invalid="ignore"):
        new = _apply_updates(params, updates)
    for path, a in tree_paths(new):
        checks.overflow(a, f"apply_updates: params{path} + updates{path}", a.dtype)
    return new


def step(optimizer, grads, state, params):
    """One optimizer step: ``update`` then :func:`apply_updates`.

    Args:
        optimizer: an optimizer.
        grads: tree of arrays like ``params``.
        state: the optimizer's state (from ``optimizer.init`` or a previous step).
        params: tree of arrays.

    Returns:
        ``(new_params, new_state)``; no argument is changed.

    Raises:
        FloatingPointError: the update or the new params overflowed, as in ``update`` and
            :func:`apply_updates`.

    >>> from funcnet.optim import momentum
    >>> p = ({"b": np.array([1.0])},)
    >>> opt = momentum(0.5, mu=0.9)
    >>> p1, s = step(opt, ({"b": np.array([1.0])},), opt.init(p), p)
    >>> p2, s = step(opt, ({"b": np.array([1.0])},), s, p1)
    >>> p1[0]["b"], p2[0]["b"], s.count
    (array([0.5]), array([-0.45]), 2)
    """
    check_optimizer(optimizer)
    _check_params(params, "step")
    checks.arrays_like(grads, params, "grads", "params")  # finite: apply_updates wants finite updates
    updates, new_state = optimizer.update(grads, state, params)
    try:
        return apply_updates(params, updates), new_state
    except (TypeError, ValueError) as e:  # params and grads were fine: the optimizer's updates are not
        raise type(e)(f"optimizer: its update returned {e}") from None

