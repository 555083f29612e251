"""Learning-rate schedules: pure functions of the step number.

A schedule is a plain function ``schedule(step) -> rate``: ``step`` is the number of optimizer
steps already taken (0 for the first update; a Python or NumPy integer), and ``rate`` is a
Python float. Nothing is stored between calls, so the same step always gives the same rate,
and a schedule can be passed anywhere a learning rate is accepted
(``funcnet.optim.adam(cosine(1e-3, 1000))``).

The constructors check their settings once and return the function; the functions check the
step. Schedules compose: :func:`linear_warmup` hands over to any schedule, and :func:`join`
runs several one after the other, each starting again from its own step 0.

>>> s = linear_warmup(cosine(0.1, total_steps=100), warmup_steps=10)
>>> [round(s(t), 4) for t in (0, 5, 10, 60, 110)]
[0.0, 0.05, 0.1, 0.05, 0.0]

See Also:
    funcnet.optim: the optimizers that take a number or a schedule as their learning rate.
"""

from __future__ import annotations

import math
import numbers
import operator
from typing import Callable, Sequence

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


# --- checks (settings once, at construction; the step at every call) ---


def _rate(value, name: str, *, allow_zero: bool = False) -> float:
    ok = (
        not isinstance(value, bool)
        and isinstance(value, numbers.Real)
        and math.isfinite(value)
        and (value >= 0 if allow_zero else value > 0)
    )
    if not ok:
        want = "a finite number >= 0" if allow_zero else "a positive finite number"
        raise ValueError(f"{name}: expected {want}, got {value!r}")
    return float(value)


def _count(value, name: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def _schedule(value, name: str) -> Schedule:
    if not callable(value):
        raise TypeError(f"{name}: expected a schedule (a function step -> rate), got {value!r}")
    return value


def _step(step) -> int:
    # operator.index takes Python and NumPy integers and refuses floats, which would
    # silently give rates between steps.
    try:
        t = operator.index(step)
    except TypeError:
        raise TypeError(f"step: expected an integer, got {step!r}") from None
    if t < 0:
        raise ValueError(f"step: expected an integer >= 0, got {t}")
    return t


def _named(fn: Schedule, text: str) -> Schedule:
    # A readable repr, e.g. <function cosine(lr=0.1, total_steps=100, final=0.0) at 0x...>.
    fn.__name__ = fn.__qualname__ = text
    return fn


# --- schedules ---


def constant(lr: float) -> Schedule:
    """The same rate at every step.

    Args:
        lr: the rate, a positive finite number.

    Returns:
        ``schedule(step) -> lr``.

    >>> constant(0.1)(0), constant(0.1)(10**6)
    (0.1, 0.1)
    """
    lr = _rate(lr, "lr")

    def schedule(step) -> float:
        _step(step)
        return lr

    return _named(schedule, f"constant(lr={lr})")


def step_decay(lr: float, step_size: int, gamma: float = 0.1) -> Schedule:
    """Multiply the rate by ``gamma`` every ``step_size`` steps (PyTorch's ``StepLR``).

    ``rate(t) = lr * gamma ** (t // step_size)``.

    Args:
        lr: the initial rate, positive.
        step_size: steps between decays, a positive integer.
        gamma: the factor applied at each decay, positive (below 1 to decay).

    >>> s = step_decay(1.0, step_size=10, gamma=0.5)
    >>> [s(t) for t in (0, 9, 10, 25)]
    [1.0, 1.0, 0.5, 0.25]

    See Also:
        multistep: decays at chosen steps instead of regularly.
    """
    lr = _rate(lr, "lr")
    step_size = _count(step_size, "step_size")
    gamma = _rate(gamma, "gamma")

    def schedule(step) -> float:
        return lr * gamma ** (_step(step) // step_size)

    return _named(schedule, f"step_decay(lr={lr}, step_size={step_size}, gamma={gamma})")


def multistep(lr: float, milestones: Sequence[int], gamma: float = 0.1) -> Schedule:
    """Multiply the rate by ``gamma`` at each milestone step (PyTorch's ``MultiStepLR``).

    ``rate(t) = lr * gamma ** (number of milestones <= t)``.

    Args:
        lr: the initial rate, positive.
        milestones: strictly increasing positive step numbers.
        gamma: the factor applied at each milestone, positive.

    >>> s = multistep(1.0, milestones=(3, 5), gamma=0.1)
    >>> [s(t) for t in range(7)]
    [1.0, 1.0, 1.0, 0.1, 0.1, 0.01, 0.01]
    """
    lr = _rate(lr, "lr")
    gamma = _rate(gamma, "gamma")
    try:
        marks = tuple(_count(m, "milestones") for m in milestones)
    except TypeError:
        raise TypeError(f"milestones: expected a sequence of integers, got {milestones!r}") from None
    if any(a >= b for a, b in zip(marks, marks[1:])):
        raise ValueError(f"milestones: expected strictly increasing steps, got {marks}")

    def schedule(step) -> float:
        t = _step(step)
        return lr * gamma ** sum(1 for m in marks if m <= t)

    return _named(schedule, f"multistep(lr={lr}, milestones={marks}, gamma={gamma})")


def exponential(lr: float, decay_rate: float, decay_steps: int = 1, *, staircase: bool = False) -> Schedule:
    """Exponential decay (or growth): ``rate(t) = lr * decay_rate ** (t / decay_steps)``.

    With ``decay_steps=1`` this is PyTorch's ``ExponentialLR(gamma=decay_rate)``; a
    ``decay_rate`` above 1 makes the rate grow, as a learning-rate finder needs.

    Args:
        lr: the rate at step 0, positive.
        decay_rate: the factor per ``decay_steps`` steps, positive.
        decay_steps: steps over which the rate is multiplied by ``decay_rate``.
        staircase: use ``t // decay_steps`` (decay in jumps) instead of ``t / decay_steps``.

    >>> s = exponential(1.0, decay_rate=0.5, decay_steps=2)
    >>> [s(t) for t in (0, 1, 2, 4)]
    [1.0, 0.7071067811865476, 0.5, 0.25]
    >>> exponential(1.0, 0.5, 2, staircase=True)(3)
    0.5
    """
    lr = _rate(lr, "lr")
    decay_rate = _rate(decay_rate, "decay_rate")
    decay_steps = _count(decay_steps, "decay_steps")
    if not isinstance(staircase, bool):
        raise TypeError(f"staircase: expected True or False, got {staircase!r}")

    def schedule(step) -> float:
        t = _step(step)
        power = t // decay_steps if staircase else t / decay_steps
        # Python floats: a huge power underflows quietly to 0.0 or overflows to an error
        # naming the step, rather than to a silent inf.
        try:
            return lr * decay_rate**power
        except OverflowError:
            raise OverflowError(f"exponential: the rate overflows at step {t}") from None

    return _named(
        schedule,
        f"exponential(lr={lr}, decay_rate={decay_rate}, decay_steps={decay_steps}, staircase={staircase})",
    )


def cosine(lr: float, total_steps: int, final: float = 0.0) -> Schedule:
    """Cosine annealing from ``lr`` to ``final`` over ``total_steps``, then ``final``.

    ``rate(t) = final + (lr - final) * (1 + cos(pi * min(t, total_steps) / total_steps)) / 2``
    (Loshchilov & Hutter's SGDR without restarts; PyTorch's ``CosineAnnealingLR``).

    Args:
        lr: the rate at step 0, positive.
        total_steps: steps to reach ``final``, a positive integer.
        final: the rate from ``total_steps`` on, ``>= 0``.

    >>> s = cosine(1.0, total_steps=4, final=0.2)
    >>> [round(s(t), 6) for t in (0, 2, 4, 100)]
    [1.0, 0.6, 0.2, 0.2]
    """
    lr = _rate(lr, "lr")
    total_steps = _count(total_steps, "total_steps")
    final = _rate(final, "final", allow_zero=True)

    def schedule(step) -> float:
        t = min(_step(step), total_steps)
        return final + (lr - final) * 0.5 * (1.0 + math.cos(math.pi * t / total_steps))

    return _named(schedule, f"cosine(lr={lr}, total_steps={total_steps}, final={final})")


def linear(start: float, end: float, steps: int) -> Schedule:
    """A straight line from ``start`` at step 0 to ``end`` at ``steps``, then ``end``.

    Args:
        start: the rate at step 0, ``>= 0``.
        end: the rate from step ``steps`` on, ``>= 0``.
        steps: length of the ramp, a positive integer.

    >>> s = linear(1.0, 0.0, steps=4)
    >>> [s(t) for t in (0, 1, 4, 9)]
    [1.0, 0.75, 0.0, 0.0]
    """
    start = _rate(start, "start", allow_zero=True)
    end = _rate(end, "end", allow_zero=True)
    steps = _count(steps, "steps")

    def schedule(step) -> float:
        t = min(_step(step), steps)
        return start + (end - start) * (t / steps)

    return _named(schedule, f"linear(start={start}, end={end}, steps={steps})")


def linear_warmup(lr, warmup_steps: int, *, start: float = 0.0) -> Schedule:
    """Ramp linearly from ``start`` up to the rate ``lr`` begins with, then hand over to it.

    For ``t < warmup_steps``: ``rate(t) = start + (lr(0) - start) * t / warmup_steps``; from
    then on ``rate(t) = lr(t - warmup_steps)``, so the schedule after the warm-up starts from
    its own step 0 (as in optax's ``warmup_*`` schedules and the BERT recipe).

    Args:
        lr: a positive number (kept constant after the warm-up) or a schedule.
        warmup_steps: length of the warm-up, a positive integer.
        start: the rate at step 0, ``>= 0``. The default 0 makes the very first update zero.

    >>> s = linear_warmup(step_decay(1.0, step_size=2, gamma=0.5), warmup_steps=4)
    >>> [s(t) for t in range(8)]
    [0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 0.5, 0.5]
    """
    after = _schedule(lr, "lr") if callable(lr) else constant(lr)
    warmup_steps = _count(warmup_steps, "warmup_steps")
    start = _rate(start, "start", allow_zero=True)
    peak = after(0)

    def schedule(step) -> float:
        t = _step(step)
        if t < warmup_steps:
            return start + (peak - start) * (t / warmup_steps)
        return after(t - warmup_steps)

    return _named(schedule, f"linear_warmup({after.__name__}, warmup_steps={warmup_steps}, start={start})")


def join(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    """Run ``schedules`` one after another, switching at the ``boundaries`` steps.

    Schedule ``i`` runs from ``boundaries[i-1]`` (0 for the first) and sees the step counted
    from there: ``rate(t) = schedules[i](t - boundaries[i-1])`` (optax's ``join_schedules``).

    Args:
        schedules: ``k`` schedules.
        boundaries: ``k - 1`` strictly increasing positive steps.

    >>> s = join([linear(0.0, 1.0, 2), cosine(1.0, 2)], boundaries=[2])
    >>> [round(s(t), 6) for t in range(5)]
    [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    if isinstance(schedules, (str, bytes)) or not isinstance(schedules, Sequence) or not schedules:
        raise TypeError(f"schedules: expected a non-empty sequence of schedules, got {schedules!r}")
    parts = tuple(_schedule(s, f"schedules[{i}]") for i, s in enumerate(schedules))
    if isinstance(boundaries, (str, bytes)) or not isinstance(boundaries, Sequence):
        raise TypeError(f"boundaries: expected a sequence of integers, got {boundaries!r}")
    marks = tuple(_count(b, "boundaries") for b in boundaries)
    if len(marks) != len(parts) - 1:
        raise ValueError(
            f"boundaries: expected {len(parts) - 1} steps for {len(parts)} schedules, got {len(marks)}"
        )
    if any(a >= b for a, b in zip(marks, marks[1:])):
        raise ValueError(f"boundaries: expected strictly increasing steps, got {marks}")
    starts = (0,) + marks

    def schedule(step) -> float:
        t = _step(step)
        i = sum(1 for m in marks if m <= t)
        return parts[i](t - starts[i])

    names = ", ".join(p.__name__ for p in parts)
    return _named(schedule, f"join([{names}], boundaries={marks})")
