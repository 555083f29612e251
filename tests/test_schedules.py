"""Schedules: hand-worked values, closed forms for generated steps, purity, named errors."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funcnet import schedules as sch

steps = st.integers(0, 10**6)


def test_hand_values():
    assert [sch.constant(0.3)(t) for t in (0, 7)] == [0.3, 0.3]
    assert [sch.step_decay(0.8, 3, 0.5)(t) for t in (0, 2, 3, 5, 6, 9)] == [0.8, 0.8, 0.4, 0.4, 0.2, 0.1]
    assert [sch.multistep(2.0, (1, 4), 0.5)(t) for t in (0, 1, 3, 4, 100)] == [2.0, 1.0, 1.0, 0.5, 0.5]
    assert [sch.exponential(1.0, 0.25)(t) for t in (0, 1, 2)] == [1.0, 0.25, 0.0625]
    assert sch.exponential(1.0, 0.25, decay_steps=2)(1) == 0.5
    assert sch.exponential(1.0, 0.25, decay_steps=2, staircase=True)(1) == 1.0
    assert sch.exponential(1e-5, 10.0, decay_steps=5)(15) == pytest.approx(1e-2, rel=1e-12)  # growth
    # cosine(1, 6): t=2 -> (1 + cos(pi/3))/2 = 0.75; t=3 -> 0.5; t=4 -> 0.25
    assert [round(sch.cosine(1.0, 6)(t), 12) for t in (0, 2, 3, 4, 6, 7)] == [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    assert [sch.linear(0.0, 1.0, 4)(t) for t in (0, 1, 2, 4, 5)] == [0.0, 0.25, 0.5, 1.0, 1.0]
    warm = sch.linear_warmup(0.4, warmup_steps=4, start=0.2)
    assert [round(warm(t), 12) for t in (0, 1, 2, 3, 4, 50)] == [0.2, 0.25, 0.3, 0.35, 0.4, 0.4]


def test_warmup_hands_over_to_the_schedule_at_its_step_zero():
    after = sch.step_decay(1.0, step_size=3, gamma=0.1)
    s = sch.linear_warmup(after, warmup_steps=5)
    assert [s(t) for t in range(5)] == [0.0, 0.2, 0.4, 0.6, 0.8]
    assert [s(5 + t) for t in range(8)] == [after(t) for t in range(8)]


def test_join_restarts_each_piece():
    a, b, c = sch.constant(1.0), sch.linear(0.5, 0.0, 2), sch.constant(0.01)
    s = sch.join([a, b, c], boundaries=[2, 5])
    assert [s(t) for t in range(7)] == [1.0, 1.0, 0.5, 0.25, 0.0, 0.01, 0.01]


ALL = {
    "constant": sch.constant(0.1),
    "step_decay": sch.step_decay(0.1, 7, 0.5),
    "multistep": sch.multistep(0.1, (10, 100, 1000)),
    "exponential": sch.exponential(0.1, 0.99, 3),
    "cosine": sch.cosine(0.1, 5000, final=1e-3),
    "linear": sch.linear(0.1, 0.0, 5000),
    "linear_warmup": sch.linear_warmup(sch.cosine(0.1, 5000), 100),
    "join": sch.join([sch.constant(0.1), sch.exponential(0.1, 0.9)], [50]),
}


@settings(max_examples=50)
@given(steps, st.sampled_from(sorted(ALL)))
def test_pure_and_plain_float_for_python_and_numpy_ints(t, name):
    s = ALL[name]
    first = s(t)
    s(t + 1)  # nothing carried between calls
    assert type(first) is float
    assert s(t) == first == s(np.int64(t)) == s(np.int32(min(t, 2**31 - 1))) == s(np.uint32(t))
    assert math.isfinite(first) and first >= 0


@settings(max_examples=50)
@given(steps)
def test_closed_forms(t):
    assert sch.step_decay(0.1, 7, 0.5)(t) == 0.1 * 0.5 ** (t // 7)
    assert sch.multistep(0.1, (10, 100, 1000))(t) == 0.1 * 0.1 ** ((t >= 10) + (t >= 100) + (t >= 1000))
    assert sch.exponential(0.1, 0.99, 3)(t) == pytest.approx(0.1 * 0.99 ** (t / 3), rel=1e-12, abs=1e-300)
    tc = min(t, 5000)
    assert sch.cosine(0.1, 5000, 1e-3)(t) == pytest.approx(1e-3 + (0.1 - 1e-3) * (1 + math.cos(math.pi * tc / 5000)) / 2, rel=1e-12)
    assert sch.linear(0.1, 0.0, 5000)(t) == pytest.approx(0.1 * (1 - tc / 5000), abs=1e-15)
    w = sch.linear_warmup(sch.cosine(0.1, 5000), 100)(t)
    if t < 100:
        assert w == pytest.approx(0.1 * t / 100, abs=1e-15)
    else:
        assert w == sch.cosine(0.1, 5000)(t - 100)


@settings(max_examples=30)
@given(steps)
def test_decaying_schedules_never_increase(t):
    for s in (sch.step_decay(1.0, 5, 0.9), sch.multistep(1.0, (3, 30)), sch.exponential(1.0, 0.999),
              sch.cosine(1.0, 10**5), sch.linear(1.0, 0.1, 10**5)):
        assert s(t + 1) <= s(t)


@pytest.mark.parametrize("make, match", [
    (lambda: sch.constant(0), "lr: expected a finite number > 0, got 0"),
    (lambda: sch.constant(float("nan")), "lr"),
    (lambda: sch.step_decay(0.1, 0), "step_size: expected an integer >= 1, got 0"),
    (lambda: sch.step_decay(0.1, 2, gamma=-1), "gamma"),
    (lambda: sch.step_decay(0.1, 2, gamma=1.5), r"gamma: expected a finite number in \(0, 1\]"),
    (lambda: sch.multistep(0.1, (5, 3)), "milestones: expected strictly increasing"),
    (lambda: sch.exponential(0.1, 0.0), "decay_rate"),
    (lambda: sch.exponential(0.1, 0.5, decay_steps=0), "decay_steps"),
    (lambda: sch.cosine(0.1, 0), "total_steps"),
    (lambda: sch.cosine(0.1, 10, final=-0.1), "final: expected a finite number >= 0"),
    (lambda: sch.linear(0.1, -1.0, 10), "end"),
    (lambda: sch.linear_warmup(0.1, 0), "warmup_steps"),
    (lambda: sch.linear_warmup(-0.1, 10), "lr"),
    (lambda: sch.join([sch.constant(0.1), sch.constant(0.2)], []), "boundaries: expected 1 steps for 2 schedules"),
    (lambda: sch.join([sch.constant(0.1)] * 3, [5, 5]), "boundaries: expected strictly increasing"),
])
def test_bad_settings_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("make, match", [
    (lambda: sch.join([], []), "schedules"),
    (lambda: sch.join([0.1, 0.2], [3]), r"schedules\[0\]"),
    (lambda: sch.multistep(0.1, 5), "milestones"),
    (lambda: sch.exponential(0.1, 0.5, staircase="yes"), "staircase"),
    (lambda: sch.constant(True), "lr"),
    (lambda: sch.step_decay(0.1, 2.5), "step_size"),
])
def test_bad_setting_types_are_named(make, match):
    with pytest.raises(TypeError, match=match):
        make()


def test_bad_steps_are_named():
    s = sch.cosine(0.1, 10)
    with pytest.raises(ValueError, match="step: expected an integer >= 0, got -1"):
        s(-1)
    with pytest.raises(TypeError, match=r"step: expected an integer >= 0, got 1.5 \(float\)"):
        s(1.5)


def test_repr_names_the_settings():
    assert repr(sch.cosine(0.1, 10)) == "Cosine(lr=0.1, total_steps=10, final=0.0)"


def test_schedules_are_plain_data_that_pickle():
    import pickle

    s = sch.linear_warmup(sch.join([sch.cosine(0.1, 50), sch.constant(0.01)], [50]), 10)
    again = pickle.loads(pickle.dumps(s))
    assert again == s and [again(t) for t in range(0, 120, 7)] == [s(t) for t in range(0, 120, 7)]


def test_exponential_growth_beyond_the_float_range_names_the_step():
    s = sch.exponential(1.0, 10.0)
    assert s(300) == 1e300
    with pytest.raises(ValueError, match=r"^step: the rate of Exponential\(.*\) overflows at step 400$"):
        s(400)
