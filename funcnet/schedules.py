"""Learning-rate schedules: pure functions of the step number.

A schedule is called as ``schedule(step) -> rate``: ``step`` is the number of optimizer steps
already taken (0 for the first update; a Python or NumPy integer), and ``rate`` is a Python
float. Nothing is stored between calls, so the same step always gives the same rate, and a
schedule can be passed anywhere a learning rate is accepted
(``funcnet.optim.adam(cosine(1e-3, 1000))``). Each schedule is a small frozen dataclass of
its settings with a ``__call__``: it prints, compares and pickles as plain data.

The dataclasses check their settings once, when made (through the lowercase functions or
directly, ``Cosine(lr=0.1, total_steps=100)``); the schedules check the step. Schedules
compose: :func:`linear_warmup` hands over to any schedule, and :func:`join` runs several one
after the other, each starting again from its own step 0; what the schedules inside return is
checked to be a finite number.

>>> s = linear_warmup(cosine(0.1, total_steps=100), warmup_steps=10)
>>> [round(s(t), 4) for t in (0, 5, 10, 60, 110)]
[0.0, 0.05, 0.1, 0.05, 0.0]
>>> cosine(0.1, total_steps=100)
Cosine(lr=0.1, total_steps=100, final=0.0)

See Also:
    funcnet.optim: the optimizers that take a number or a schedule as their learning rate.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

from . import checks

__all__ = [
    "constant",
    "step_decay",
    "multistep",
    "exponential",
    "cosine",
    "linear",
    "linear_warmup",
    "join",
]

Schedule = Callable[[int], float]


def _step(step) -> int:
    # Floats are refused: they would silently give rates between steps.
    return checks.integer(step, "step", low=0)


def _rate(value, name: str, *, allow_zero: bool = False) -> float:
    return checks.real(value, name, low=0, low_open=not allow_zero)


def _count(value, name: str, *, minimum: int = 1) -> int:
    return checks.integer(value, name, low=minimum)


def _schedule(value, name: str) -> Schedule:
    return checks.function(value, name, "a schedule (a function step -> rate)")


def _returned(value, name: str, step: int) -> float:
    """What a schedule inside another returned at ``step``: a finite number (a rate, or the
    factor of :func:`funcnet.optim.scale_by_schedule`, which may be negative)."""
    try:
        return checks.real(value, name)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{name}: expected the schedule to return a finite number, got "
                      f"{checks.show(value)} at step {step}") from None


def _set(obj, **fields) -> None:
    """Store checked values in a frozen dataclass."""
    for k, v in fields.items():
        object.__setattr__(obj, k, v)


def _marks(value, name: str) -> tuple:
    """Strictly increasing positive steps (milestones, boundaries)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{name}: expected a sequence of integers, got {checks.show(value)}")
    marks = tuple(_count(m, name) for m in value)
    if any(a >= b for a, b in zip(marks, marks[1:])):
        raise ValueError(f"{name}: expected strictly increasing steps, got {marks}")
    return marks


@dataclasses.dataclass(frozen=True)
class Constant:
    """The same rate at every step; see :func:`constant`."""

    lr: float

    def __post_init__(self):
        _set(self, lr=_rate(self.lr, "lr"))

    def __call__(self, step) -> float:
        _step(step)
        return self.lr


def constant(lr: float) -> Constant:
    """The same rate at every step.

    Args:
        lr: the rate, a positive finite number.

    Returns:
        A :class:`Constant`, a schedule ``step -> lr``.

    >>> constant(0.1)(0), constant(0.1)(10**6)
    (0.1, 0.1)
    """
    return Constant(lr)


@dataclasses.dataclass(frozen=True)
class StepDecay:
    """``lr * gamma ** (step // step_size)``; see :func:`step_decay`."""

    lr: float
    step_size: int
    gamma: float

    def __post_init__(self):
        _set(self, lr=_rate(self.lr, "lr"), step_size=_count(self.step_size, "step_size"),
             gamma=checks.real(self.gamma, "gamma", low=0, high=1, low_open=True))

    def __call__(self, step) -> float:
        # gamma <= 1: past 2**1000 decays the rate is what it is at 2**1000 (0, or lr when
        # gamma is 1), and a float power of a huge int would overflow converting it
        return self.lr * self.gamma ** min(_step(step) // self.step_size, 2**1000)


def step_decay(lr: float, step_size: int, gamma: float = 0.1) -> StepDecay:
    """Multiply the rate by ``gamma`` every ``step_size`` steps (PyTorch's ``StepLR``).

    Args:
        lr: the initial rate, positive.
        step_size: steps between decays, a positive integer.
        gamma: the factor applied at each decay, in (0, 1].

    Returns:
        A :class:`StepDecay`, a schedule ``step -> lr * gamma ** (step // step_size)``.

    >>> s = step_decay(1.0, step_size=10, gamma=0.5)
    >>> [s(t) for t in (0, 9, 10, 25)]
    [1.0, 1.0, 0.5, 0.25]

    See Also:
        multistep: decays at chosen steps instead of regularly.
    """
    return StepDecay(lr, step_size, gamma)


@dataclasses.dataclass(frozen=True)
class MultiStep:
    """``lr * gamma ** (milestones passed)``; see :func:`multistep`."""

    lr: float
    milestones: tuple
    gamma: float

    def __post_init__(self):
        marks = _marks(self.milestones, "milestones")
        _set(self, lr=_rate(self.lr, "lr"), milestones=marks,
             gamma=checks.real(self.gamma, "gamma", low=0, high=1, low_open=True))

    def __call__(self, step) -> float:
        t = _step(step)
        return self.lr * self.gamma ** sum(1 for m in self.milestones if m <= t)


def multistep(lr: float, milestones: Sequence[int], gamma: float = 0.1) -> MultiStep:
    """Multiply the rate by ``gamma`` at each milestone step (PyTorch's ``MultiStepLR``).

    Args:
        lr: the initial rate, positive.
        milestones: strictly increasing positive step numbers.
        gamma: the factor applied at each milestone, in (0, 1].

    Returns:
        A :class:`MultiStep`, a schedule ``step -> lr * gamma ** k`` with ``k`` the milestones
        at or before ``step``.

    >>> s = multistep(1.0, milestones=(3, 5), gamma=0.1)
    >>> [s(t) for t in range(7)]
    [1.0, 1.0, 1.0, 0.1, 0.1, 0.01, 0.01]
    """
    return MultiStep(lr, milestones, gamma)


@dataclasses.dataclass(frozen=True)
class Exponential:
    """``lr * decay_rate ** (step / decay_steps)``; see :func:`exponential`."""

    lr: float
    decay_rate: float
    decay_steps: int = 1
    staircase: bool = False

    def __post_init__(self):
        _set(self, lr=_rate(self.lr, "lr"), decay_rate=_rate(self.decay_rate, "decay_rate"),
             decay_steps=_count(self.decay_steps, "decay_steps"), staircase=checks.boolean(self.staircase, "staircase"))

    def __call__(self, step) -> float:
        t = _step(step)
        # In Python floats a huge power underflows quietly to 0.0; growth beyond the float
        # range is an error naming the step rather than a silent inf.
        try:
            power = t // self.decay_steps if self.staircase else t / self.decay_steps
            rate = self.lr * self.decay_rate**power
        except OverflowError:  # the power itself, or the growth, beyond the float range
            rate = math.inf if self.decay_rate > 1 else (0.0 if self.decay_rate < 1 else self.lr)
        if not math.isfinite(rate):
            raise ValueError(f"step: the rate of {self!r} overflows at step {t}")
        return rate


def exponential(lr: float, decay_rate: float, decay_steps: int = 1, *, staircase: bool = False) -> Exponential:
    """Exponential decay (or growth): ``rate(t) = lr * decay_rate ** (t / decay_steps)``.

    With ``decay_steps=1`` this is PyTorch's ``ExponentialLR(gamma=decay_rate)``; a
    ``decay_rate`` above 1 makes the rate grow, as a learning-rate finder needs.

    Args:
        lr: the rate at step 0, positive.
        decay_rate: the factor per ``decay_steps`` steps, positive.
        decay_steps: steps over which the rate is multiplied by ``decay_rate``.
        staircase: use ``t // decay_steps`` (decay in jumps) instead of ``t / decay_steps``.

    Returns:
        An :class:`Exponential`, a schedule ``step -> rate``; calling it raises ValueError at
        a step whose rate overflows.

    >>> s = exponential(1.0, decay_rate=0.5, decay_steps=2)
    >>> [s(t) for t in (0, 1, 2, 4)]
    [1.0, 0.7071067811865476, 0.5, 0.25]
    >>> exponential(1.0, 0.5, 2, staircase=True)(3)
    0.5
    """
    return Exponential(lr, decay_rate, decay_steps, staircase)


@dataclasses.dataclass(frozen=True)
class Cosine:
    """Cosine annealing from ``lr`` to ``final`` over ``total_steps``; see :func:`cosine`."""

    lr: float
    total_steps: int
    final: float = 0.0

    def __post_init__(self):
        _set(self, lr=_rate(self.lr, "lr"), total_steps=_count(self.total_steps, "total_steps"),
             final=_rate(self.final, "final", allow_zero=True))

    def __call__(self, step) -> float:
        t = min(_step(step), self.total_steps)
        try:
            angle = math.pi * t / self.total_steps
        except OverflowError:  # total_steps beyond the float range: t / total_steps is 0 or 1
            angle = math.pi if t == self.total_steps else 0.0
        return self.final + (self.lr - self.final) * 0.5 * (1.0 + math.cos(angle))


def cosine(lr: float, total_steps: int, final: float = 0.0) -> Cosine:
    """Cosine annealing from ``lr`` to ``final`` over ``total_steps``, then ``final``.

    ``rate(t) = final + (lr - final) * (1 + cos(pi * min(t, total_steps) / total_steps)) / 2``
    (Loshchilov & Hutter's SGDR without restarts; PyTorch's ``CosineAnnealingLR``).

    Args:
        lr: the rate at step 0, positive.
        total_steps: steps to reach ``final``, a positive integer (optimizer steps: epochs
            times batches per epoch).
        final: the rate from ``total_steps`` on, ``>= 0``.

    Returns:
        A :class:`Cosine`, a schedule ``step -> rate``.

    >>> s = cosine(1.0, total_steps=4, final=0.2)
    >>> [round(s(t), 6) for t in (0, 2, 4, 100)]
    [1.0, 0.6, 0.2, 0.2]
    """
    return Cosine(lr, total_steps, final)


@dataclasses.dataclass(frozen=True)
class Linear:
    """A straight line from ``start`` to ``end`` over ``steps``; see :func:`linear`."""

    start: float
    end: float
    steps: int

    def __post_init__(self):
        _set(self, start=_rate(self.start, "start", allow_zero=True), end=_rate(self.end, "end", allow_zero=True),
             steps=_count(self.steps, "steps"))

    def __call__(self, step) -> float:
        t = min(_step(step), self.steps)
        return self.start + (self.end - self.start) * (t / self.steps)


def linear(start: float, end: float, steps: int) -> Linear:
    """A straight line from ``start`` at step 0 to ``end`` at ``steps``, then ``end``.

    Args:
        start: the rate at step 0, ``>= 0``.
        end: the rate from step ``steps`` on, ``>= 0``.
        steps: length of the ramp, a positive integer.

    Returns:
        A :class:`Linear`, a schedule ``step -> rate``.

    >>> s = linear(1.0, 0.0, steps=4)
    >>> [s(t) for t in (0, 1, 4, 9)]
    [1.0, 0.75, 0.0, 0.0]
    """
    return Linear(start, end, steps)


@dataclasses.dataclass(frozen=True)
class LinearWarmup:
    """A linear ramp up to ``after(0)``, then ``after``; see :func:`linear_warmup`."""

    after: Callable
    warmup_steps: int
    start: float = 0.0

    def __post_init__(self):
        after = _schedule(self.after, "lr")
        _rate(after(0), "lr(0)", allow_zero=True)  # the peak the ramp climbs to
        _set(self, warmup_steps=_count(self.warmup_steps, "warmup_steps"), start=_rate(self.start, "start", allow_zero=True))

    def __call__(self, step) -> float:
        t = _step(step)
        if t < self.warmup_steps:
            peak = _returned(self.after(0), "lr", 0)
            return self.start + (peak - self.start) * (t / self.warmup_steps)
        return _returned(self.after(t - self.warmup_steps), "lr", t - self.warmup_steps)


def linear_warmup(lr, warmup_steps: int, *, start: float = 0.0) -> LinearWarmup:
    """Ramp linearly from ``start`` up to the rate ``lr`` begins with, then hand over to it.

    For ``t < warmup_steps``: ``rate(t) = start + (lr(0) - start) * t / warmup_steps``; from
    then on ``rate(t) = lr(t - warmup_steps)``, so the schedule after the warm-up starts from
    its own step 0 (as in optax's ``warmup_*`` schedules and the BERT recipe).

    Args:
        lr: a positive number (kept constant after the warm-up) or a schedule.
        warmup_steps: length of the warm-up, a positive integer.
        start: the rate at step 0, ``>= 0``. The default 0 makes the very first update zero.

    Returns:
        A :class:`LinearWarmup`, a schedule ``step -> rate``; a number ``lr`` is held in it as
        ``constant(lr)``.

    >>> s = linear_warmup(step_decay(1.0, step_size=2, gamma=0.5), warmup_steps=4)
    >>> [s(t) for t in range(8)]
    [0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 0.5, 0.5]
    """
    return LinearWarmup(lr if callable(lr) else constant(lr), warmup_steps, start)


@dataclasses.dataclass(frozen=True)
class Join:
    """Schedules run one after another; see :func:`join`."""

    schedules: tuple
    boundaries: tuple

    def __post_init__(self):
        schedules = self.schedules
        if isinstance(schedules, (str, bytes)) or not isinstance(schedules, Sequence) or not schedules:
            raise TypeError(f"schedules: expected a non-empty sequence of schedules, got {checks.show(schedules)}")
        parts = tuple(_schedule(s, f"schedules[{i}]") for i, s in enumerate(schedules))
        marks = _marks(self.boundaries, "boundaries")
        if len(marks) != len(parts) - 1:
            raise ValueError(
                f"boundaries: expected {len(parts) - 1} steps for {len(parts)} schedules, got {len(marks)}"
            )
        _set(self, schedules=parts, boundaries=marks)

    def __call__(self, step) -> float:
        t = _step(step)
        i = sum(1 for m in self.boundaries if m <= t)
        at = t - ((0,) + self.boundaries)[i]
        return _returned(self.schedules[i](at), f"schedules[{i}]", at)


def join(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Join:
    """Run ``schedules`` one after another, switching at the ``boundaries`` steps.

    Schedule ``i`` runs from ``boundaries[i-1]`` (0 for the first) and sees the step counted
    from there: ``rate(t) = schedules[i](t - boundaries[i-1])`` (optax's ``join_schedules``).

    Args:
        schedules: ``k`` schedules.
        boundaries: ``k - 1`` strictly increasing positive steps.

    Returns:
        A :class:`Join` of the checked schedules (a tuple) and boundaries, a schedule
        ``step -> rate``.

    >>> s = join([linear(0.0, 1.0, 2), cosine(1.0, 2)], boundaries=[2])
    >>> [round(s(t), 6) for t in range(5)]
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    return Join(schedules, boundaries)
