"""Optimizers: first steps worked by hand, convergence on a quadratic and on Rosenbrock,
purity and structure for generated param trees, and named errors for bad input."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcnet as fn
from funcnet import optim, schedules
from funcnet.testing import assert_pure, trees_like
from funcnet.tree import global_norm, tree_leaves, tree_map, tree_structure

from strategies import param_trees

G1 = np.array([0.5, -2.0])
G2 = np.array([0.5, 1.0])


def _tree(x, key="W"):
    return ({key: np.array(x, dtype=float)},)


def _run(opt, grads_seq, params):
    """Apply ``opt`` to the given gradients in turn; return every update and the last state."""
    state = opt.init(params)
    updates = []
    for g in grads_seq:
        u, state = opt.update(g, state, params)
        updates.append(u)
    return updates, state


def _u(updates, key="W"):
    return [u[0][key] for u in updates]


# --- first steps, worked by hand from each published rule ---


def test_sgd_step_by_hand():
    (u,), s = _run(optim.sgd(0.1), [_tree(G1)], _tree([0.0, 0.0]))
    np.testing.assert_allclose(u[0]["W"], [-0.05, 0.2], rtol=1e-15)
    assert s.count == 1


def test_momentum_two_steps_by_hand():
    # v1 = g1 = [1, -2], u1 = -0.1*v1; v2 = 0.9*v1 + g2 = [1.4, -0.8], u2 = -0.1*v2.
    ups, s = _run(optim.momentum(0.1, mu=0.9), [_tree([1.0, -2.0]), _tree([0.5, 1.0])], _tree([0.0, 0.0]))
    u1, u2 = _u(ups)
    np.testing.assert_allclose(u1, [-0.1, 0.2], rtol=1e-14)
    np.testing.assert_allclose(s.states[0].velocity[0]["W"], [1.4, -0.8], rtol=1e-14)
    np.testing.assert_allclose(u2, [-0.14, 0.08], rtol=1e-14)
    assert s.count == 2


def test_nesterov_two_steps_by_hand():
    # PyTorch: v = mu*v + g; u = -lr*(g + mu*v).
    # u1 = -0.1*([1, -2] + 0.9*[1, -2]) = [-0.19, 0.38]
    # v2 = [1.4, -0.8]; u2 = -0.1*([0.5, 1] + 0.9*[1.4, -0.8]) = -0.1*[1.76, 0.28]
    ups, s = _run(optim.nesterov(0.1, mu=0.9), [_tree([1.0, -2.0]), _tree([0.5, 1.0])], _tree([0.0, 0.0]))
    u1, u2 = _u(ups)
    np.testing.assert_allclose(u1, [-0.19, 0.38], rtol=1e-14)
    np.testing.assert_allclose(u2, [-0.176, -0.028], rtol=1e-13)
    np.testing.assert_allclose(s.states[0].velocity[0]["W"], [1.4, -0.8], rtol=1e-14)


def test_rmsprop_two_steps_by_hand():
    # v1 = 0.01*g**2 = [0.0025, 0.04]; sqrt = [0.05, 0.2]; u1 = -0.01*[0.5/0.05, -2/0.2].
    # v2 = 0.99*v1 + 0.01*g**2 = [0.004975, 0.0796]; u2 = -0.01*g/sqrt(v2).
    ups, s = _run(optim.rmsprop(0.01, decay=0.99, eps=1e-8), [_tree(G1), _tree(G1)], _tree([0.0, 0.0]))
    u1, u2 = _u(ups)
    np.testing.assert_allclose(u1, [-0.1, 0.1], rtol=1e-6)  # eps/sqrt(v) ~ 2e-7
    np.testing.assert_allclose(s.states[0].nu[0]["W"], [0.004975, 0.0796], rtol=1e-14)
    np.testing.assert_allclose(u2, [-0.0708881, 0.0708881], rtol=1e-6)


def test_adam_first_step_is_lr_times_sign():
    (u,), s = _run(optim.adam(0.1), [_tree(G1)], _tree([0.0, 0.0]))
    np.testing.assert_allclose(u[0]["W"], [-0.1, 0.1], atol=1e-7)
    np.testing.assert_allclose(s.states[0].mu[0]["W"], [0.05, -0.2], rtol=1e-15)  # (1-b1)*g
    np.testing.assert_allclose(s.states[0].nu[0]["W"], [0.00025, 0.004], rtol=1e-12)  # (1-b2)*g**2


def test_adam_second_step_by_hand():
    # m2 = 0.9*[0.05, -0.2] + 0.1*[0.5, 1] = [0.095, -0.08]
    # v2 = 0.999*[0.00025, 0.004] + 0.001*[0.25, 1] = [0.00049975, 0.004996]
    # mhat = m2/0.19 = [0.5, -0.42105263]; vhat = v2/0.001999 = [0.25, 2.49924962]
    # u2 = -0.1*mhat/sqrt(vhat) = [-0.1, 0.02663370]
    ups, s = _run(optim.adam(0.1), [_tree(G1), _tree(G2)], _tree([0.0, 0.0]))
    np.testing.assert_allclose(s.states[0].mu[0]["W"], [0.095, -0.08], rtol=1e-14)
    np.testing.assert_allclose(s.states[0].nu[0]["W"], [0.00049975, 0.004996], rtol=1e-12)
    np.testing.assert_allclose(_u(ups)[1], [-0.1, 0.0266337], rtol=1e-6)
    assert s.count == 2


def test_adam_keeps_float32():
    p = ({"W": np.zeros((2, 2), np.float32), "b": np.zeros(2, np.float32)},)
    g = ({"W": np.full((2, 2), 0.5, np.float32), "b": np.array([-2.0, 3.0], np.float32)},)
    (u,), s = _run(optim.adam(0.1), [g], p)
    inner = s.states[0]
    assert u[0]["W"].dtype == u[0]["b"].dtype == inner.mu[0]["W"].dtype == inner.nu[0]["b"].dtype == np.float32
    np.testing.assert_allclose(u[0]["b"], [0.1, -0.1], atol=1e-6)
    np.testing.assert_allclose(u[0]["W"], np.full((2, 2), -0.1), atol=1e-6)


def test_adamw_decays_weights_not_biases():
    # u_W = adam step (-0.1) - lr*wd*W = -0.1 - 0.1*0.5*2 = -0.2; the bias gets the adam step only.
    p = ({"W": np.array([[2.0]]), "b": np.array([2.0])},)
    g = ({"W": np.array([[1.0]]), "b": np.array([1.0])},)
    (u,), _ = _run(optim.adamw(0.1, weight_decay=0.5), [g], p)
    np.testing.assert_allclose(u[0]["W"], [[-0.2]], rtol=1e-7)
    np.testing.assert_allclose(u[0]["b"], [-0.1], rtol=1e-7)


def test_adamw_uses_the_scheduled_rate_for_the_decay():
    # step 0 at rate 0.1, step 1 at rate 0.05: the second decay term is -0.05*0.5*2 = -0.05.
    p = ({"W": np.array([[2.0]]), "b": np.array([2.0])},)
    g = ({"W": np.array([[1.0]]), "b": np.array([1.0])},)
    ups, _ = _run(optim.adamw(lambda t: 0.1 / (t + 1), weight_decay=0.5), [g, g], p)
    np.testing.assert_allclose(ups[1][0]["W"], [[-0.05 - 0.05]], rtol=1e-7)


def test_adamw_without_decay_is_adam():
    p, g = _tree([1.0, 2.0]), _tree(G1)
    a, _ = _run(optim.adam(0.1), [g, g, g], p)
    b, _ = _run(optim.adamw(0.1, weight_decay=0.0), [g, g, g], p)
    for x, y in zip(_u(a), _u(b)):
        np.testing.assert_array_equal(x, y)


def test_clip_by_global_norm_by_hand():
    # The norm spans all leaves: ||(3, 4)|| = 5, scaled to norm 1 -> (0.6, 0.8).
    g = ({"W": np.array([[3.0]]), "b": np.array([4.0])},)
    u, s = optim.clip_by_global_norm(1.0).update(g, optim.CountState(0), None)
    np.testing.assert_allclose(u[0]["W"], [[0.6]], rtol=1e-15)
    np.testing.assert_allclose(u[0]["b"], [0.8], rtol=1e-15)
    assert s.count == 1
    u, _ = optim.clip_by_global_norm(5.0).update(g, optim.CountState(0), None)
    np.testing.assert_array_equal(u[0]["b"], [4.0])  # at the bound: unchanged


def test_clip_by_global_norm_float32_by_hand():
    # ||(3, 4, 12)|| = 13: the factor 2/13 is taken in float64, rounded to float32 once, and
    # each leaf multiplied by it once -- bit for bit what the library always returned.
    g = ({"W": np.array([[3.0, -4.0]], np.float32), "b": np.array([12.0], np.float32)},)
    u, _ = optim.clip_by_global_norm(2.0).update(g, optim.CountState(0), None)
    factor = np.float32(2.0 / 13.0)
    assert u[0]["W"].dtype == u[0]["b"].dtype == np.float32
    np.testing.assert_array_equal(u[0]["W"], np.array([[3.0, -4.0]], np.float32) * factor)
    np.testing.assert_array_equal(u[0]["b"], np.array([12.0], np.float32) * factor)
    np.testing.assert_allclose(u[0]["W"], [[6 / 13, -8 / 13]], rtol=1e-7)
    # (2, -4, 4) has norm 6 and 3/6 = 0.5 is exact: so is the result.
    g = ({"W": np.array([[2.0, -4.0]], np.float32), "b": np.array([4.0], np.float32)},)
    u, _ = optim.clip_by_global_norm(3.0).update(g, optim.CountState(0), None)
    np.testing.assert_array_equal(u[0]["W"], np.array([[1.0, -2.0]], np.float32))
    np.testing.assert_array_equal(u[0]["b"], np.array([2.0], np.float32))


def test_clip_by_value_by_hand():
    u, _ = optim.clip_by_value(0.5).update(_tree([-2.0, 0.25, 0.7]), optim.CountState(0), None)
    np.testing.assert_array_equal(u[0]["W"], [-0.5, 0.25, 0.5])


def test_add_weight_decay_is_l2_on_weights_only():
    p = ({"W": np.array([[2.0]]), "gamma": np.array([2.0]), "beta": np.array([2.0])},)
    g = ({"W": np.array([[1.0]]), "gamma": np.array([1.0]), "beta": np.array([1.0])},)
    u, _ = optim.add_weight_decay(0.1).update(g, optim.CountState(0), p)
    np.testing.assert_allclose(u[0]["W"], [[1.2]], rtol=1e-15)
    np.testing.assert_array_equal(u[0]["gamma"], [1.0])
    np.testing.assert_array_equal(u[0]["beta"], [1.0])


def test_l2_then_sgd_by_hand():
    # -lr * (g + wd*W) = -0.5 * (1 + 0.1*2) = -0.6
    opt = optim.chain(optim.add_weight_decay(0.1), optim.sgd(0.5))
    p = ({"W": np.array([[2.0]]), "b": np.array([2.0])},)
    g = ({"W": np.array([[1.0]]), "b": np.array([1.0])},)
    (u,), s = _run(opt, [g], p)
    np.testing.assert_allclose(u[0]["W"], [[-0.6]], rtol=1e-15)
    np.testing.assert_allclose(u[0]["b"], [-0.5], rtol=1e-15)
    assert s.count == 1 and [t.count for t in s.states] == [1, 1]


def test_scales_by_hand():
    g = _tree([2.0, -4.0])
    st0 = optim.CountState(0)
    np.testing.assert_array_equal(optim.scale(0.25).update(g, st0, None)[0][0]["W"], [0.5, -1.0])
    np.testing.assert_array_equal(optim.scale_by_learning_rate(0.25).update(g, st0, None)[0][0]["W"], [-0.5, 1.0])
    sched = optim.scale_by_schedule(lambda t: 10.0**-t)
    ups, _ = _run(sched, [g, g, g], None)
    np.testing.assert_allclose(_u(ups), [[2.0, -4.0], [0.2, -0.4], [0.02, -0.04]], rtol=1e-15)


def test_learning_rate_schedule_is_read_at_the_step_count():
    opt = optim.sgd(schedules.step_decay(1.0, step_size=2, gamma=0.5))
    ups, s = _run(opt, [_tree([1.0])] * 5, None)
    np.testing.assert_array_equal(np.concatenate(_u(ups)), [-1.0, -1.0, -0.5, -0.5, -0.25])
    assert s.count == 5


def test_building_blocks_compose_into_the_optimizers():
    rng = np.random.default_rng(0)
    p = _tree(rng.normal(size=3))
    grads = [_tree(rng.normal(size=3)) for _ in range(4)]
    pairs = [
        (optim.chain(optim.scale_by_adam(), optim.scale_by_learning_rate(0.01)), optim.adam(0.01)),
        (optim.chain(optim.trace(0.9), optim.scale_by_learning_rate(0.01)), optim.momentum(0.01, 0.9)),
        (optim.chain(optim.trace(0.9, nesterov=True), optim.scale_by_learning_rate(0.01)), optim.nesterov(0.01, 0.9)),
        (optim.chain(optim.scale_by_rms(0.9), optim.scale_by_learning_rate(0.01)), optim.rmsprop(0.01, 0.9)),
        (
            optim.chain(optim.scale_by_adam(), optim.add_weight_decay(0.1), optim.scale_by_learning_rate(0.01)),
            optim.adamw(0.01, weight_decay=0.1),
        ),
    ]
    for built, fused in pairs:
        a, _ = _run(built, grads, p)
        b, _ = _run(fused, grads, p)
        np.testing.assert_allclose(_u(a), _u(b), rtol=1e-12, atol=0)


def test_clip_then_adam_chains():
    opt = optim.chain(optim.clip_by_global_norm(1.0), optim.adam(0.1))
    (u,), s = _run(opt, [_tree([30.0, -40.0])], _tree([0.0, 0.0]))
    np.testing.assert_allclose(u[0]["W"], [-0.1, 0.1], atol=1e-7)
    np.testing.assert_allclose(s.states[1].states[0].mu[0]["W"], [0.06, -0.08], rtol=1e-14)  # 0.1 * clipped g


def test_step_is_update_then_apply():
    p, g = _tree([1.0, 2.0]), _tree(G1)
    opt = optim.momentum(0.1)
    new_p, s = optim.step(opt, g, opt.init(p), p)
    u, s2 = opt.update(g, opt.init(p), p)
    np.testing.assert_array_equal(new_p[0]["W"], optim.apply_updates(p, u)[0]["W"])
    np.testing.assert_array_equal(new_p[0]["W"], [0.95, 2.2])
    assert s.count == s2.count == 1


# --- convergence ---

A = np.diag([1.0, 10.0])
B = np.array([1.0, 1.0])
X_QUAD = np.array([1.0, 0.1])  # A^-1 b


def _quadratic_grad(x):
    return A @ x - B  # f = x'Ax/2 - b'x


def _rosenbrock_grad(z):
    # f = (1-x)^2 + 100 (y - x^2)^2
    x, y = z
    return np.array([-2.0 * (1.0 - x) - 400.0 * x * (y - x * x), 200.0 * (y - x * x)])


def _descend(opt, grad, x0, steps):
    # The point is a (2, 1) weight matrix, so that weight decay's default mask takes it.
    p = ({"W": np.array(x0, dtype=float)[:, None]},)
    s = opt.init(p)
    for _ in range(steps):
        u, s = opt.update(({"W": grad(p[0]["W"][:, 0])[:, None]},), s, p)
        p = optim.apply_updates(p, u)
    assert s.count == steps
    return p[0]["W"][:, 0]


QUADRATIC = [  # (name, optimizer, steps, tolerance on max |x - x*|)
    ("sgd", optim.sgd(0.15), 200, 1e-8),
    ("momentum", optim.momentum(0.05, 0.9), 300, 1e-6),
    ("nesterov", optim.nesterov(0.05, 0.9), 300, 1e-6),
    ("rmsprop", optim.rmsprop(schedules.cosine(0.01, 2000)), 2000, 1e-6),
    ("adam", optim.adam(schedules.cosine(0.1, 1000)), 1000, 1e-6),
    # Decoupled decay pulls W towards 0, so AdamW settles slightly off the minimum.
    ("adamw", optim.adamw(schedules.cosine(0.1, 1000), weight_decay=1e-3), 1000, 1e-3),
]


@pytest.mark.parametrize("name, opt, steps, tol", QUADRATIC, ids=[q[0] for q in QUADRATIC])
def test_minimises_a_convex_quadratic(name, opt, steps, tol):
    x = _descend(opt, _quadratic_grad, [0.0, 0.0], steps)
    assert np.abs(x - X_QUAD).max() < tol


ROSENBROCK = [  # start (-1.5, 2); optimum (1, 1); tolerance 1e-2 on max |x - x*|
    ("sgd", optim.sgd(1e-3), 20000),
    ("momentum", optim.momentum(2e-4, 0.9), 10000),
    ("nesterov", optim.nesterov(2e-4, 0.9), 10000),
    ("rmsprop", optim.rmsprop(schedules.cosine(1e-2, 5000)), 5000),
    ("adam", optim.adam(schedules.cosine(0.05, 3000)), 3000),
    ("adamw", optim.adamw(schedules.cosine(0.05, 3000), weight_decay=1e-3), 3000),
]


@pytest.mark.parametrize("name, opt, steps", ROSENBROCK, ids=[r[0] for r in ROSENBROCK])
def test_finds_the_rosenbrock_minimum(name, opt, steps):
    x = _descend(opt, _rosenbrock_grad, [-1.5, 2.0], steps)
    assert np.abs(x - 1.0).max() < 1e-2


def test_adamw_ends_closer_to_zero_than_adam():
    x_adam = _descend(optim.adam(schedules.cosine(0.1, 1000)), _quadratic_grad, [0.0, 0.0], 1000)
    x_adamw = _descend(optim.adamw(schedules.cosine(0.1, 1000), weight_decay=0.05), _quadratic_grad, [0.0, 0.0], 1000)
    np.testing.assert_allclose(x_adam, X_QUAD, atol=1e-6)
    assert np.all(np.abs(x_adamw) < np.abs(x_adam))


# --- purity and structure, for generated trees ---

FACTORIES = {
    "sgd": lambda: optim.sgd(0.1),
    "momentum": lambda: optim.momentum(0.1, 0.9),
    "nesterov": lambda: optim.nesterov(0.1, 0.9),
    "rmsprop": lambda: optim.rmsprop(0.01),
    "adam": lambda: optim.adam(schedules.cosine(1e-2, 10)),
    "adamw": lambda: optim.adamw(1e-2, weight_decay=0.1),
    "chain": lambda: optim.chain(
        optim.clip_by_global_norm(1.0), optim.clip_by_value(0.3), optim.add_weight_decay(0.01),
        optim.scale_by_adam(), optim.scale(0.5), optim.scale_by_schedule(lambda t: 1.0 / (t + 1)),
        optim.trace(0.5), optim.scale_by_rms(), optim.scale_by_learning_rate(0.1),
    ),
}


def _bits(tree):
    return [(np.asarray(a).dtype, np.shape(a), np.asarray(a).tobytes()) for a in tree_leaves(tree)]


def _state_trees(state):
    """Every params-like tree inside an optimizer state (chains included)."""
    if isinstance(state, optim.ChainState):
        return [t for s in state.states for t in _state_trees(s)]
    return [getattr(state, f) for f in state._fields if f not in ("count",)]


def _counts(state):
    if isinstance(state, optim.ChainState):
        return [state.count] + [c for s in state.states for c in _counts(s)]
    return [state.count]


@settings(max_examples=15)
@given(st.sampled_from(sorted(FACTORIES)), param_trees().flatmap(lambda p: st.tuples(st.just(p), trees_like(p), trees_like(p))))
def test_update_is_pure_and_keeps_structure(name, data):
    params, g1, g2 = data
    opt = FACTORIES[name]()
    state = opt.init(params)
    for g in (g1, g2):
        # Leaves g, state and params bitwise alone, and gives the same bits again.
        updates, new_state = assert_pure(opt.update, g, state, params)
        assert tree_structure(updates) == tree_structure(params)
        assert [a.dtype for a in tree_leaves(updates)] == [a.dtype for a in tree_leaves(params)]
        for t in _state_trees(new_state):
            assert tree_structure(t) == tree_structure(params)
            assert [a.dtype for a in tree_leaves(t)] == [a.dtype for a in tree_leaves(params)]
        assert _counts(new_state) == [c + 1 for c in _counts(state)]
        assert all(np.isfinite(a).all() for a in tree_leaves(updates))
        state = new_state


@settings(max_examples=10)
@given(param_trees().flatmap(lambda p: st.tuples(st.just(p), trees_like(p))))
def test_apply_updates_and_step_leave_arguments_alone(data):
    params, g = data
    opt = optim.adam(1e-2)
    state = opt.init(params)
    new_params, _ = assert_pure(optim.step, opt, g, state, params)
    assert [a.dtype for a in tree_leaves(new_params)] == [a.dtype for a in tree_leaves(params)]


@settings(max_examples=10)
@given(param_trees(), st.integers(0, 2**16))
def test_sgd_is_minus_lr_times_grad(params, seed):
    g = _like(params, seed)
    updates, _ = optim.sgd(0.25).update(g, optim.CountState(0), params)
    for u, gg in zip(tree_leaves(updates), tree_leaves(g)):
        np.testing.assert_array_equal(u, gg * np.asarray(-0.25, gg.dtype))


def _like(tree, seed):
    rng = np.random.default_rng(seed)
    return tuple({k: rng.normal(size=a.shape).astype(a.dtype) for k, a in layer.items()} for layer in tree)


def test_general_trees_work_too():
    # Nested lists and dicts, not just funcnet's tuple of layer dicts.
    params = {"enc": [{"W": np.ones((2, 2))}, {"b": np.ones(2)}], "dec": ({"W": np.ones(3)},)}
    grads = {"enc": [{"W": np.full((2, 2), 2.0)}, {"b": np.full(2, 2.0)}], "dec": ({"W": np.full(3, 2.0)},)}
    # The weights here are vectors: a mask says which leaves decay.
    mask = {"enc": [{"W": True}, {"b": False}], "dec": ({"W": True},)}
    opt = optim.chain(optim.add_decayed_weights(0.5, mask=mask), optim.sgd(0.1))
    u, s = opt.update(grads, opt.init(params), params)
    assert tree_structure(u) == tree_structure(params)
    np.testing.assert_allclose(u["enc"][0]["W"], -0.25)  # -0.1 * (2 + 0.5*1)
    np.testing.assert_allclose(u["enc"][1]["b"], -0.2)
    np.testing.assert_allclose(u["dec"][0]["W"], -0.25)
    u, s = optim.adam(0.1).update(grads, optim.adam(0.1).init(params), params)
    assert tree_structure(s.states[0].nu) == tree_structure(params)
    np.testing.assert_allclose(u["dec"][0]["W"], -0.1, atol=1e-7)


# --- bad input is named ---


@pytest.mark.parametrize("make, match", [
    (lambda: optim.adam(0.0), "lr: expected a finite number > 0, got 0.0"),
    (lambda: optim.adam(float("inf")), "lr"),
    (lambda: optim.momentum(-1.0), "lr"),
    (lambda: optim.sgd(lambda t: -1.0), "lr: expected the schedule to return a finite rate >= 0, got -1.0 .* at step 0"),
    (lambda: optim.adam(1e-3, b1=1.0), r"b1: expected a finite number in \[0, 1\), got 1.0"),
    (lambda: optim.adam(1e-3, b2=-0.1), "b2"),
    (lambda: optim.adam(1e-3, eps=0.0), "eps: expected a finite number > 0, got 0.0"),
    (lambda: optim.rmsprop(1e-3, eps=-1e-8), "eps"),
    (lambda: optim.rmsprop(1e-3, decay=1.5), "decay"),
    (lambda: optim.momentum(0.1, mu=1.0), "mu"),
    (lambda: optim.adamw(1e-3, weight_decay=-0.1), "weight_decay: expected a finite number >= 0, got -0.1"),
    (lambda: optim.add_weight_decay(float("nan")), "weight_decay"),
    (lambda: optim.clip_by_global_norm(0.0), "max_norm"),
    (lambda: optim.clip_by_value(-1.0), "limit"),
    (lambda: optim.scale(float("nan")), "factor"),
])
def test_bad_settings_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("make, match", [
    (lambda: optim.scale_by_schedule(0.1), "schedule"),
    (lambda: optim.trace(0.9, nesterov=1), "nesterov"),
    (lambda: optim.chain(optim.sgd(0.1), "adam"), r"transforms\[1\]"),
])
def test_bad_setting_types_are_named(make, match):
    with pytest.raises(TypeError, match=match):
        make()


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_grads_that_do_not_match_params_are_named(name):
    opt = FACTORIES[name]()
    p = ({"W": np.ones((2, 3)), "b": np.ones(3)},)
    state = opt.init(p)
    with pytest.raises(TypeError, match=r"^grads: expected the structure of params, .*, got \(\{'W': \*\},\)"):
        opt.update(({"W": np.ones((2, 3))},), state, p)
    with pytest.raises(ValueError, match=r"^grads\[0\]\['W'\]: expected shape \(2, 3\), got \(3, 2\)"):
        opt.update(({"W": np.ones((3, 2)), "b": np.ones(3)},), state, p)
    with pytest.raises(TypeError, match=r"^grads\[0\]\['b'\]: expected a float array of shape \(3,\), got 1.0 \(float\)"):
        opt.update(({"W": np.ones((2, 3)), "b": 1.0},), state, p)


def test_grads_that_do_not_match_the_state_are_named():
    p = ({"W": np.ones((2, 3)), "b": np.ones(3)},)
    opt = optim.adam(0.1)
    with pytest.raises(TypeError, match=r"^state.mu: expected the structure of grads, \(\{'W': \*\},\), got "):
        opt.update(({"W": np.ones((2, 3))},), opt.init(p), None)
    other = opt.init(({"W": np.ones((3, 3)), "b": np.ones(3)},))
    with pytest.raises(ValueError, match=r"^state.mu\[0\]\['W'\]: expected shape \(2, 3\), got \(3, 3\)"):
        opt.update(p, other, p)


def test_wrong_state_and_missing_params_are_named():
    p = ({"W": np.ones((2, 3)), "b": np.ones(3)},)
    with pytest.raises(TypeError, match="state: expected a AdamState .* got TraceState"):
        optim.adam(0.1).update(p, optim.momentum(0.1).init(p), p)
    with pytest.raises(ValueError, match="params: AddDecayedWeights needs the params in update, got None"):
        optim.adamw(0.1).update(p, optim.adamw(0.1).init(p), None)
    with pytest.raises(ValueError, match="params: AddDecayedWeights needs the params"):
        optim.add_weight_decay(0.1).update(p, optim.CountState(0), None)
    with pytest.raises(ValueError, match="params: ScaleByAdam needs the params in init and update, got None"):
        optim.adam(0.1).init(None)
    with pytest.raises(TypeError, match=r"^params\[0\]\['W'\]: expected a float array of at least one dimension, got an array of shape \(2,\) and dtype int64"):
        optim.adam(0.1).init(({"W": np.ones(2, dtype=np.int64)},))
    with pytest.raises(TypeError, match=r"optimizer: expected an optimizer \(funcnet.optim.sgd\(0.1\), or an Optimizer\(init, update\)\), got <function sgd"):
        optim.step(optim.sgd, p, optim.CountState(0), p)


# --- clip_by_global_norm at the edges of the float range ---


def _clip_both_paths(max_norm, g):
    """The clipped tree, after checking that the unchecked update gives the same bits."""
    opt = optim.clip_by_global_norm(max_norm)
    u, _ = opt.update(g, optim.CountState(0), None)
    fast, _ = opt._apply(g, optim.CountState(0), None)  # what fit runs: no checks
    assert _bits(fast) == _bits(u)
    assert [a.dtype for a in tree_leaves(u)] == [a.dtype for a in tree_leaves(g)]
    return u


@pytest.mark.parametrize("g, max_norm, want", [
    # float32 squares overflow above 1.8e19: each element is 1e20, the norm sqrt(6) * 1e20.
    (({"W": np.full((2, 2), 1e20, np.float32), "b": np.full(2, -1e20, np.float32)},), 1.0,
     ({"W": np.full((2, 2), 1 / math.sqrt(6)), "b": np.full(2, -1 / math.sqrt(6))},)),
    # Each square fits in float32 but their float32 sum (1e39) does not.
    (({"W": np.full((10, 100), 1e18, np.float32)},), 1.0, ({"W": np.full((10, 100), 1 / math.sqrt(1000))},)),
    # Near float32's largest value: the norm 3e38 * sqrt(2) is beyond float32 itself, and the
    # factor 1e-3 / 4.2e38 would be subnormal in float32.
    (({"b": np.array([3e38, -3e38], np.float32)},), 1e-3, ({"b": np.array([1e-3, -1e-3]) / math.sqrt(2)},)),
    (({"W": np.array([[3e200]]), "b": np.array([4e200])},), 1.0, ({"W": np.array([[0.6]]), "b": np.array([0.8])},)),
    (({"b": np.array([1e308, -1e308, 1e308])},), 2.0, ({"b": np.array([2.0, -2.0, 2.0]) / math.sqrt(3)},)),
    # float16 squares overflow at 256, and the factor 2e-5 is below float16's normal range.
    (({"b": np.array([3e4, 4e4], np.float16)},), 1.0, ({"b": np.array([0.6, 0.8])},)),
    # Mixed dtypes: the float32 leaf is 1e-300 of the norm and underflows quietly to 0.
    (({"W": np.array([[1e300]]), "b": np.array([1.0], np.float32)},), 1.0,
     ({"W": np.array([[1.0]]), "b": np.array([0.0])},)),
], ids=["float32-squares", "float32-sum", "float32-max", "float64", "float64-max", "float16", "mixed"])
def test_clip_by_global_norm_handles_norms_that_overflow(g, max_norm, want):
    u = _clip_both_paths(max_norm, g)
    rtol = {2: 1e-3, 4: 2e-7, 8: 1e-15}  # by itemsize: a rounded factor, a rounded product
    for a, w in zip(tree_leaves(u), tree_leaves(want)):
        np.testing.assert_allclose(a.astype(np.float64), w, rtol=rtol[a.dtype.itemsize], atol=0)
    # Each element within rtol puts the norm within rtol too.
    loosest = max(rtol[a.dtype.itemsize] for a in tree_leaves(u))
    assert global_norm(u) == pytest.approx(max_norm, rel=2 * loosest)


def test_clip_by_global_norm_rescaled_path_rounds_once():
    # Past the overflow the scaled leaves are multiplied in float64 and rounded to float32
    # once: 3e20 and 4e20 become 0.6 and 0.8 exactly as float32 would write them.
    g = ({"b": np.array([3e20, 4e20], np.float32)},)
    np.testing.assert_array_equal(_clip_both_paths(1.0, g)[0]["b"], np.array([0.6, 0.8], np.float32))
    # A max_norm above a norm that overflowed its squares: nothing to clip.
    assert _clip_both_paths(1e21, g)[0]["b"] is g[0]["b"]


def test_clip_by_global_norm_sums_large_float32_leaves_precisely():
    # float32 dot products sum in float32: over 3e6 elements that made the norm 3e-6 too small,
    # so the clipped norm came out 3e-6 above max_norm. Summed in pieces, it stays within 1e-6.
    g = ({"W": np.random.default_rng(0).normal(size=(3000, 1000)).astype(np.float32)},)
    u = _clip_both_paths(1.0, g)
    assert global_norm(u) == pytest.approx(1.0, rel=1e-6)
    np.testing.assert_allclose(u[0]["W"], g[0]["W"] / global_norm(g), rtol=1e-6)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clip_by_global_norm_passes_non_finite_grads_on(bad, dtype):
    # NaN or inf is not scaled to 0 or NaN, nor made finite: every leaf passes through as the
    # same array, and no floating-point error is raised (the strict errstate of conftest).
    g = ({"W": np.array([[bad, 1e20]], dtype), "b": np.array([3.0, 4.0], dtype)},)
    u = _clip_both_paths(1.0, g)
    assert u[0]["W"] is g[0]["W"] and u[0]["b"] is g[0]["b"]
    np.testing.assert_array_equal(u[0]["W"], np.array([[bad, 1e20]], dtype))


def test_non_finite_grads_through_the_clip_stop_fit():
    # Passed on by the clip, a NaN gradient reaches the params and fit reports divergence.
    def poison(grads, state, params):
        return tree_map(lambda a: np.full_like(a, np.nan), grads), optim.CountState(state.count + 1)

    opt = optim.chain(optim.Optimizer(lambda params: optim.CountState(0), poison),
                      optim.clip_by_global_norm(1.0), optim.sgd(0.1))
    net = fn.Net((3, 4, 1), output="identity", dtype="float64")
    X = np.random.default_rng(0).normal(size=(16, 3))
    with pytest.raises(FloatingPointError, match="diverged"):
        fn.fit(net, fn.init(fn.random.key(0), net), X, X[:, :1], key=fn.random.key(1),
               optimizer=opt, epochs=2, batch_size=8)


# Scales up to near each dtype's largest value, so that the squares overflow often.
_SCALES = {np.dtype("float32"): (-10, 36), np.dtype("float64"): (-100, 300)}


@settings(max_examples=50)
@given(param_trees().flatmap(lambda p: st.tuples(
    st.just(p),
    st.integers(*_SCALES[tree_leaves(p)[0].dtype]).flatmap(lambda k: trees_like(p, scale=10.0**k)),
)), st.floats(1e-3, 1e3))
def test_clip_by_global_norm_property(data, max_norm):
    _, g = data
    norm = global_norm(g)  # float64 and overflow-safe: an independent reference
    u = _clip_both_paths(max_norm, g)
    if not norm > max_norm:
        assert all(a is b for a, b in zip(tree_leaves(u), tree_leaves(g)))
        return
    rtol = 1e-6 if tree_leaves(g)[0].dtype == np.float32 else 1e-12
    assert global_norm(u) <= max_norm * (1 + rtol)
    assert global_norm(u) == pytest.approx(max_norm, rel=rtol)
    # Direction kept: every element is scaled by the same positive factor.
    for a, b in zip(tree_leaves(u), tree_leaves(g)):
        np.testing.assert_allclose(a, b.astype(np.float64) * (max_norm / norm), rtol=rtol, atol=0)


# --- plain data: optimizers and their states pickle, and go on after a round trip ---

PICKLED = {
    "sgd": lambda: optim.sgd(0.1),
    "momentum": lambda: optim.momentum(0.1, 0.9),
    "nesterov": lambda: optim.nesterov(0.1, 0.9),
    "rmsprop": lambda: optim.rmsprop(0.01),
    "adam": lambda: optim.adam(1e-2),
    "adamw+cosine": lambda: optim.adamw(schedules.cosine(1e-2, 10), weight_decay=0.1),
    "clip+adam": lambda: optim.chain(optim.clip_by_global_norm(1.0), optim.clip_by_value(0.5), optim.adam(1e-2)),
    "decay+schedule": lambda: optim.chain(optim.add_decayed_weights(0.01), optim.scale_by_schedule(
        schedules.linear_warmup(schedules.constant(0.1), 3))),
}


@pytest.mark.parametrize("name", sorted(PICKLED))
def test_optimizers_and_their_states_pickle_and_go_on_bit_for_bit(name):
    # Plain pickle: what a process pool or a Dask cluster does with them.
    import pickle

    opt = PICKLED[name]()
    params = ({"W": np.array([[1.0, -2.0], [0.5, 3.0]]), "b": np.array([0.1, -0.2])},)
    grads = [tree_map(lambda a, k=k: np.sin(a * (k + 1)), params) for k in range(4)]
    state = opt.init(params)
    for g in grads[:2]:
        _, state = opt.update(g, state, params)
    again, state_again = pickle.loads(pickle.dumps((opt, state)))
    assert again == opt and repr(again) == repr(opt)
    def bits(tree):
        return [(a.dtype, a.tobytes()) if isinstance(a, np.ndarray) else a for a in tree_leaves(tree)]

    for g in grads[2:]:
        u, state = opt.update(g, state, params)
        u_again, state_again = again.update(g, state_again, params)
        assert bits((u, state)) == bits((u_again, state_again))
    assert type(state_again) is type(state) and state_again.count == state.count == 4
