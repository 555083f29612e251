"""Optimizer state that decays towards zero is kept out of the subnormal floats.

Subnormal numbers make every x86 float operation that touches them about a hundred times
slower; an Adam moment whose gradient stays exactly 0 decays into them within a few hundred
steps. The optimizers zero such entries every few steps (funcnet.optim._kernels.flush_tiny_).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funcnet import optim
from funcnet.optim import _kernels

STATEFUL = {
    "momentum": lambda: optim.momentum(0.1, mu=0.9),
    "nesterov": lambda: optim.nesterov(0.1, mu=0.5),
    "trace": lambda: optim.trace(0.3),
    "rmsprop": lambda: optim.rmsprop(0.01, decay=0.9),
    "adam": lambda: optim.adam(1e-3),
    "adamw": lambda: optim.adamw(1e-3, b1=0.8, b2=0.95),
    "scale_by_adam": lambda: optim.scale_by_adam(),
}


def state_arrays(state):
    """Every float array in an optimizer state, however nested."""
    if isinstance(state, np.ndarray):
        return [state]
    if isinstance(state, dict):
        return [a for v in state.values() for a in state_arrays(v)]
    if isinstance(state, (tuple, list)):
        return [a for v in state for a in state_arrays(v)]
    return []


def subnormal_count(state) -> int:
    return sum(int(np.count_nonzero((a != 0) & (np.abs(a) < np.finfo(a.dtype).tiny)))
               for a in state_arrays(state))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(STATEFUL))
def test_pure_decay_never_leaves_a_subnormal_in_the_state(name, dtype):
    opt = STATEFUL[name]()
    tiny = np.finfo(dtype).tiny
    # Entries from far above the subnormal range down to just above it, and some that the
    # first steps push below it; then the gradient stays exactly zero.
    start = np.array([1e-30, 3e-35, 1e-36, 17 * tiny, 2 * tiny, tiny, 1.0, -5e-37], dtype)
    start = np.where(np.abs(start) < tiny, tiny, start).astype(dtype)
    params = ({"W": np.zeros((2, 4), dtype), "b": np.zeros(4, dtype)},)
    g = ({"W": start.reshape(2, 4), "b": start[:4].copy()},)
    zero = ({"W": np.zeros((2, 4), dtype), "b": np.zeros(4, dtype)},)
    _, state = opt.update(g, opt.init(params), params)
    seen = {}
    for _ in range(400):
        _, state = opt.update(zero, state, params)
        seen[state.count] = subnormal_count(state)
    # Entries made small by a gradient can be subnormal until the first flush (step 16 for
    # these decays); from then on pure decay never carries one below tiny.
    late = {t: c for t, c in seen.items() if t >= 16 and c}
    assert not late, f"subnormal entries at steps {late}"
    assert all(a.dtype == dtype for a in state_arrays(state))


def test_adam_state_is_the_plain_arithmetic_while_values_are_normal():
    """Thirty-two steps of ordinary gradients: the flushes (at steps 16 and 32) change nothing."""
    rng = np.random.default_rng(0)
    params = ({"W": rng.standard_normal((5, 3)).astype(np.float32), "b": np.zeros(3, np.float32)},)
    opt = optim.adam(1e-2)
    state = opt.init(params)
    m = {k: np.zeros_like(v) for k, v in params[0].items()}
    v = {k: np.zeros_like(v) for k, v in params[0].items()}
    for t in range(32):
        g = {k: rng.standard_normal(a.shape).astype(np.float32) for k, a in params[0].items()}
        updates, state = opt.update((g,), state, params)
        eps_t, c = _kernels.adam_constants(t, 0.9, 0.999, 1e-8)
        for k in g:
            u, m[k], v[k] = _kernels.adam(g[k], m[k], v[k], 0.9, 0.999, eps_t, -1e-2 * c)
            np.testing.assert_array_equal(updates[0][k], u)
            np.testing.assert_array_equal(state.states[0].mu[0][k], m[k])
            np.testing.assert_array_equal(state.states[0].nu[0][k], v[k])


def test_flush_leaves_the_callers_state_alone():
    params = ({"b": np.zeros(3, np.float32)},)
    opt = optim.trace(0.9)
    state = optim.TraceState(15, ({"b": np.array([1e-37, 2e-38, 0.5], np.float32)},))
    before = state.velocity[0]["b"].copy()
    _, new = opt.update(({"b": np.zeros(3, np.float32)},), state, params)  # step 16 flushes
    np.testing.assert_array_equal(state.velocity[0]["b"], before)
    assert new.velocity[0]["b"].tolist() == [0.0, 0.0, np.float32(0.5) * np.float32(0.9)]


@settings(max_examples=50, deadline=None)
@given(st.floats(0.0, 0.9999))
def test_flush_threshold_stays_within_128_tiny(decay):
    k = _kernels.flush_period(decay)
    if decay < 1 / 64:
        assert k == 0
    else:
        assert k in range(1, 17)
        assert 2.0 / decay**k <= 128.0 * (1 + 1e-12)
        # ...and no rarer flush would do: one step more would cross the bound (or pass 16).
        assert k == 16 or 2.0 / decay ** (k + 1) > 128.0 * (1 - 1e-12)


@pytest.mark.parametrize("name", ["momentum", "adam"])
def test_without_the_flush_the_same_decay_does_reach_subnormals(name, monkeypatch):
    """The premise of the tests above: switch the flush off and subnormals appear."""
    monkeypatch.setattr(_kernels, "flush_tiny_", lambda leaves, decay, count: None)
    opt = STATEFUL[name]()
    params = ({"b": np.zeros(2, np.float32)},)
    _, state = opt.update(({"b": np.array([1e-30, 1.0], np.float32)},), opt.init(params), params)
    counts = []
    for _ in range(400):
        _, state = opt.update(({"b": np.zeros(2, np.float32)},), state, params)
        counts.append(subnormal_count(state))
    assert max(counts) > 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_flush_zeroes_below_its_limit_and_keeps_everything_above(dtype):
    # momentum 0.9: a flush every 16 steps with limit 2 * tiny / 0.9**16 (about 10.8 tiny).
    tiny = float(np.finfo(dtype).tiny)
    limit = 2 * tiny / 0.9**16
    # The flush looks at the new velocity, 0.9 v: these make it 0.5, 0.99, 1.05 limits, ...
    v = np.array([0.5 * limit, 0.99 * limit, 1.05 * limit, 200 * tiny, -200 * tiny, 1.0], dtype) / dtype(0.9)
    params = ({"b": np.zeros(6, dtype)},)
    state = optim.TraceState(15, ({"b": v},))
    _, new = optim.trace(0.9).update(({"b": np.zeros(6, dtype)},), state, params)
    plain = v * dtype(0.9)  # what the step computes before the flush
    got = new.velocity[0]["b"]
    assert got[0] == 0 and got[1] == 0  # below the limit: flushed
    assert np.all(plain[2:5] != 0)
    np.testing.assert_array_equal(got[2:], plain[2:])  # above the limit: the plain arithmetic


def test_float16_state_is_never_flushed():
    # NumPy computes float16 in float32, so its subnormals are not slow, and float16's tiny
    # (6e-5) lies among real moments: flushing there would change updates.
    params = ({"b": np.zeros(1, np.float16)},)
    opt = optim.adam(1e-3)
    state = opt.init(params)
    g = ({"b": np.array([0.05], np.float16)},)
    for _ in range(20):
        _, state = opt.update(g, state, params)
        assert state.states[0].nu[0]["b"][0] > 0  # 0.05**2 * (1 - 0.999**t) stays below float16's tiny


@pytest.mark.parametrize("make", [
    lambda: optim.chain(optim.clip_by_global_norm(1.0), optim.trace(0.9, nesterov=True),
                        optim.scale_by_learning_rate(0.1)),
    lambda: optim.chain(optim.scale_by_adam(b1=0.5, b2=0.9), optim.scale(-0.01)),
])
def test_chained_states_are_flushed_too(make):
    opt = make()
    params = ({"W": np.zeros((2, 2), np.float32)},)
    _, state = opt.update(({"W": np.full((2, 2), 1e-30, np.float32)},), opt.init(params), params)
    zero = ({"W": np.zeros((2, 2), np.float32)},)
    late = []
    for _ in range(300):
        _, state = opt.update(zero, state, params)
        if state.count >= 16:
            late.append(subnormal_count(state))
    assert max(late) == 0
