"""One regression test per root cause of an escape at the public boundary, named by what it guards.

Each of these once let a bad argument through to a raw exception, a silent NaN or inf, or a
change to the caller's data (found by review and by tests/test_fuzz.py).
"""

from __future__ import annotations

import copy
import dataclasses
import pickle

import numpy as np
import pytest

import funcnet as fn
from funcnet import checks, optim
from funcnet.cli.config import UsageError, resolve_config


def _small():
    net = fn.Net((2, 3, 2), dtype="float64")
    params = fn.init(fn.random.key(0), net)
    X = np.random.default_rng(0).normal(size=(4, 2))
    return net, params, X, np.array([0, 1, 1, 0])


def test_train_step_checks_the_optimizer_state_like_update_does():
    net, params, X, y = _small()
    opt = optim.adam(0.1)
    other = opt.init(fn.init(fn.random.key(0), fn.Net((1, 3, 2), dtype="float64")))
    with pytest.raises(ValueError, match=r"^state.opt_state: state.mu\[0\]\['W'\]: expected shape \(2, 3\), got \(1, 3\)"):
        fn.train_step(net, opt, fn.TrainState(params, other, fn.init_stats(net)), (X, y, None))
    with pytest.raises(TypeError, match=r"^state.opt_state: state.states\[0\]|^state.opt_state: state: expected a ChainState"):
        fn.train_step(net, opt, fn.TrainState(params, optim.sgd(0.1).init(params), fn.init_stats(net)), (X, y, None))
    state = opt.init(params)
    nan_mu = tuple({k: np.full_like(v, np.nan) for k, v in layer.items()} for layer in state.states[0].mu)
    bad = state._replace(states=(state.states[0]._replace(mu=nan_mu), state.states[1]))
    with pytest.raises(ValueError, match=r"state.mu\[0\]\['W'\]: expected finite values"):
        fn.train_step(net, opt, fn.TrainState(params, bad, fn.init_stats(net)), (X, y, None))


def test_a_weight_decay_mask_is_checked_before_any_work_on_every_path():
    net, params, X, y = _small()
    g = fn.grad(net, params, X, y)
    wrong = ({"W": True},)  # one layer dict for a two-layer net
    for opt in (optim.add_decayed_weights(0.1, mask=wrong), optim.adamw(0.1, mask=wrong)):
        with pytest.raises(TypeError, match=r"^mask: expected the structure of params"):
            opt.update(g, opt.init(params), params)
        with pytest.raises(TypeError, match=r"^state.opt_state: mask: expected the structure of params"):
            fn.fit(net, params, X, y, key=fn.random.key(0), optimizer=opt, epochs=1)
    ints = optim.adamw(0.1, mask=lambda p: tuple({k: 1 for k in d} for d in p))
    with pytest.raises(TypeError, match=r"^mask\[0\]\['W'\]: expected True or False, got 1"):
        ints.update(g, ints.init(params), params)


def test_public_vjps_and_layer_backward_passes_leave_their_inputs_alone():
    z = np.array([[-1.0, 2.0]])
    for act in fn.ACTIVATIONS.values():
        g = np.array([[5.0, 5.0]])
        act.vjp(g, z, act.fn(z))
        assert g.tolist() == [[5.0, 5.0]], act.name
    for layer, cache in ((fn.layers.Dropout(0.5), np.array([[0.0, 2.0]])),
                         (fn.layers.Act("tanh"), (None, np.tanh(z)))):
        g = np.array([[5.0, 5.0]])
        layer.backward({}, cache, g, True)
        assert g.tolist() == [[5.0, 5.0]], layer


def test_a_net_pickles_as_its_fields_not_its_shape_stand_ins():
    net = fn.Net((784, 2048, 2048, 10), batchnorm=True)
    data = pickle.dumps(net)
    assert len(data) < 2000 and pickle.loads(data) == net and copy.deepcopy(net) == net
    custom = fn.Net.from_layers(3, [fn.layers.Dense(4), fn.layers.Act("gelu"), fn.layers.Dense(2)])
    assert pickle.loads(pickle.dumps(custom)) == custom


def test_the_command_line_checks_the_seed_it_makes_keys_from():
    with pytest.raises(UsageError, match=r"^seed: expected an integer >= 0, got 'abc'$"):
        resolve_config({}, {"seed": "abc"})


def test_make_train_step_checks_what_it_is_built_with():
    net, _, _, _ = _small()
    with pytest.raises(ValueError, match=r"^l2: expected a finite number >= 0, got -1.0"):
        fn.make_train_step(net, optim.sgd(0.1), l2=-1.0)
    with pytest.raises(TypeError, match="^grad_norms: expected True or False, got 1"):
        fn.make_train_step(net, optim.sgd(0.1), grad_norms=1)
    with pytest.raises(TypeError, match="^optimizer: expected an optimizer"):
        fn.make_train_step(net, "adam")


def test_updates_never_share_an_array_with_the_new_state():
    p = ({"b": np.zeros(2)},)
    g = ({"b": np.ones(2)},)
    for opt in (optim.trace(0.9), optim.chain(optim.trace(0.9), optim.add_decayed_weights(0.1))):
        u, s = opt.update(g, opt.init(p), p)
        state_arrays = [a for a in fn.tree_leaves(s) if isinstance(a, np.ndarray)]
        assert not any(np.shares_memory(a, b) for a in fn.tree_leaves(u) for b in state_arrays)


def test_wrong_kinds_are_type_errors_and_names_are_the_arguments():
    net, params, X, y = _small()
    with pytest.raises(ValueError, match="^params: sgd_step needs the params"):
        fn.sgd_step(0.1, None, params)
    _, caches = fn.forward_train(net, params, X)
    with pytest.raises(TypeError, match="^dlogits: expected a 2-D numeric array, got 'a'"):
        fn.backward(net, params, caches, "a")
    with pytest.raises(ValueError, match=r"^dlogits: expected 4 rows \(the batch of the caches\)"):
        fn.backward(net, params, caches, np.zeros((3, 2)))
    one = optim.Optimizer(lambda p: 0, lambda g, s, p: [g])  # forgets to return the state
    with pytest.raises(TypeError, match=r"^transforms\[1\]: expected update to return \(updates, new_state\)"):
        optim.chain(optim.clip_by_value(1.0), one).update(params, optim.chain(optim.clip_by_value(1.0), one).init(params), params)
    with pytest.raises(TypeError, match=r"^the optimizer: expected update to return \(updates, new_state\)"):
        fn.fit(net, params, X, y, key=fn.random.key(0), optimizer=one, epochs=1)
    with pytest.raises(ValueError, match="^initializer: expected one of"):
        fn.layers.Dense(2, initializer="auto")
    with pytest.raises(ValueError, match=r"^rate: expected a finite number in \[0, 1\)"):
        fn.layers.Dropout(1.0)
    opt = optim.adam(0.1)
    with pytest.raises(TypeError, match="^state.states: expected a tuple"):
        opt.update(params, optim.ChainState(0, [1, 2]), params)


def test_overflow_is_an_error_not_a_silent_inf():
    p32 = ({"b": np.array([3e38], np.float32)},)
    with pytest.raises(FloatingPointError, match=r"^apply_updates: params\[0\]\['b'\] \+ updates\[0\]\['b'\]: overflowed in float32"):
        optim.apply_updates(p32, ({"b": np.array([3e38], np.float32)},))
    with pytest.raises(FloatingPointError, match="^mean_squared_error: overflowed in float32"):
        fn.mean_squared_error(np.array([[3e38]], np.float32), np.array([-3e38]))
    with pytest.raises(FloatingPointError, match="^mean_squared_error_grad: overflowed in float32"):
        fn.mean_squared_error_grad(np.array([[3e38]], np.float32), np.array([-3e38]))
    net = fn.Net((1, 1), output="identity")
    huge = ({"W": np.array([[3e38]], np.float32), "b": np.zeros(1, np.float32)},)
    with pytest.raises(FloatingPointError, match="^forward: overflowed in float32"):
        fn.predict_proba(net, huge, np.array([[10.0]], np.float32))


def test_a_callback_cannot_edit_the_history():
    net, params, X, y = _small()
    r = fn.fit(net, params, X, y, key=fn.random.key(0), epochs=2,
               callback=lambda record: record["grad_norm"].clear())
    assert [len(norms) for norms in r.history["grad_norm"]] == [2, 2]


def test_forward_of_a_pass_through_net_hands_back_a_copy_never_the_input():
    net = fn.Net.from_layers(3, [fn.layers.Act("identity"), fn.layers.Dense(2)], output="identity")
    params = fn.init(fn.random.key(0), net)
    X = np.ones((2, 3), np.float32)
    h = fn.forward(net, params, X, layer=0)
    assert np.array_equal(h, X) and not np.shares_memory(h, X)


@dataclasses.dataclass(frozen=True)
class _Twice(fn.layers.Layer):
    def forward(self, params, x, ctx):
        return 2 * x, None

    def backward(self, params, cache, dy, need_dx):
        return 2 * dy, {}


def test_a_layer_without_params_still_trains_in_a_net():
    L = fn.layers
    net = fn.Net.from_layers(2, [L.Dense(3), _Twice(), L.Act("tanh"), L.Dense(2)], dtype="float64")
    params = fn.init(fn.random.key(0), net)
    X, y = fn.datasets.xor()
    assert fn.gradcheck(net, params, X, y) < 1e-7


def test_raw_uint8_pixels_are_refused_with_the_way_to_scale_them():
    # uint8 is what every image file holds; 0..255 inputs would train silently and badly.
    net = fn.Net((4, 3, 2))
    params = fn.init(fn.random.key(0), net)
    pixels = np.array([[0, 51, 255, 7], [1, 2, 3, 4]], np.uint8)
    y = np.array([0, 1])
    for call in (lambda: fn.forward(net, params, pixels),
                 lambda: fn.loss(net, params, pixels, y),
                 lambda: fn.fit(net, params, pixels, y, key=fn.random.key(1), epochs=1),
                 lambda: fn.fit(net, params, pixels.astype(np.float32), y, key=fn.random.key(1), epochs=1,
                                validation=(pixels, y))):
        with pytest.raises(TypeError, match=r"got uint8 values \(raw pixels\?\); expected floats, "
                                            r"e\.g\. funcnet\.datasets\.scale_images\("):
            call()
    # The documented scaling is exact, and other integer inputs remain numbers.
    scaled = fn.datasets.scale_images(pixels)
    assert scaled.dtype == np.float32 and scaled[0].tolist() == (pixels[0].astype(np.float32) / np.float32(255)).tolist()
    assert scaled[0, 2] == 1.0 and scaled[0, 0] == 0.0
    np.testing.assert_array_equal(fn.forward(net, params, pixels.astype(np.int64)),
                                  fn.forward(net, params, pixels.astype(np.float32)))


# --- found by tests/test_fuzz.py: the vocabulary of checks ---


def test_numpy_time_spans_are_not_numbers():
    # NumPy registers timedelta64 as an integer: int() of one then failed deep inside.
    with pytest.raises(TypeError, match=r"^seed: expected an integer >= 0, got np.timedelta64"):
        fn.random.key(np.timedelta64(3, "s"))
    with pytest.raises(TypeError, match=r"^lr: expected a finite number > 0"):
        optim.sgd(np.timedelta64(1, "s"))


def test_dtype_spellings_numpy_deprecates_or_cannot_read_are_named():
    key = fn.random.key(0)
    with pytest.raises(TypeError, match=r"^dtype: expected float32 or float64, got np.str_\('a'\)"):
        fn.random.normal(key, 3, np.str_("a"))  # NumPy 2 warns about 'a' (an error in this suite)
    deep = [1.0]
    for _ in range(3000):
        deep = [deep]
    with pytest.raises(TypeError, match="^dtype: expected float32 or float64"):
        fn.datasets.xor(deep)  # NumPy's dtype parser recursed through it


def test_leaves_in_another_byte_order_are_named_not_left_to_numpy():
    p = ({"W": np.ones((2, 2)), "b": np.zeros(2)},)
    big = ({"W": np.ones((2, 2)), "b": np.zeros(2).astype(">f8")},)
    with pytest.raises(ValueError, match=r"^grads\[0\]\['b'\]: expected an array in native byte order, got dtype >f8"):
        optim.add_decayed_weights(0.1).update(big, optim.CountState(0), p)
    with pytest.raises(ValueError, match=r"^params\[0\]\['b'\]: expected an array in native byte order"):
        optim.apply_updates(big, p)


# --- trees ---


def _holding_itself():
    a = [np.ones(1)]
    a.append(a)
    return a


def test_trees_that_hold_themselves_or_nest_too_deeply_are_named():
    with pytest.raises(ValueError, match="^tree: expected a tree of tuples, lists and dicts, got one nested too deeply"):
        fn.tree_leaves(_holding_itself())
    net = fn.Net((2, 2), dtype="float64")
    deep = fn.init(fn.random.key(0), net)
    for _ in range(3000):
        deep = (deep,)
    with pytest.raises(ValueError, match="^params: expected a tree"):
        fn.forward(net, deep, np.ones((1, 2)))
    with pytest.raises(ValueError, match="^grads: expected a tree"):
        optim.sgd(0.1).update(_holding_itself(), optim.CountState(0), None)


def test_dict_keys_that_do_not_sort_together_are_named():
    with pytest.raises(TypeError, match="^tree: expected dicts whose keys sort together"):
        fn.tree_leaves({1: np.ones(1), "a": np.ones(1)})
    net = fn.Net((2, 2), dtype="float64")
    params = fn.init(fn.random.key(0), net)
    odd = ({**params[0], 1: np.zeros(2)},)
    with pytest.raises(TypeError, match="^params: expected dicts whose keys sort together"):
        fn.loss(net, odd, np.ones((1, 2)), np.array([0]))


def test_tree_helpers_check_their_other_arguments():
    t = ({"b": np.ones(1), "a": np.ones(2)},)
    with pytest.raises(TypeError, match="^fn: expected a function of the leaves, got 3"):
        fn.tree_map(3, t)
    with pytest.raises(ValueError, match=r"^leaves: expected 2 leaves \(one per leaf of like\), got 1"):
        fn.tree_unflatten(t, [1])  # a StopIteration from deep inside
    with pytest.raises(TypeError, match="^leaves: expected a sequence of 2 leaves, got 5"):
        fn.tree_unflatten(t, 5)
    with pytest.raises(TypeError, match="^names: expected a sequence of strings"):
        fn.tree.tree_check_same(t, t, names=np.array(["a", "b"]))
    with pytest.raises(TypeError, match=r"^tree\[0\]\['a'\]: expected numbers or arrays of numbers, got 'x'"):
        fn.tree.global_norm(({"a": "x"},))
    # a norm beyond the float range is inf, not an OverflowError from math.ldexp
    assert fn.tree.global_norm([np.array([1.5e308, 1.5e308])]) == np.inf
    with pytest.raises(TypeError, match="^tree: expected leaves that are arrays, numbers or other objects"):
        fn.tree_structure([np])  # a leaf whose .shape is a function


# --- the net, its layers and losses ---


def test_net_fields_are_kept_as_checked_plain_values(tmp_path):
    net = fn.Net((2, 3, 2), activation=np.str_("tanh"), init=np.str_("auto"), batchnorm=np.True_, dtype="float64")
    assert net == fn.Net((2, 3, 2), activation="tanh", batchnorm=True, dtype="float64")
    assert type(net.activation) is str and type(net.batchnorm) is bool
    assert type(fn.layers.Dense(2, bias=np.False_).bias) is bool
    # a np.bool_ field once made the saved file's JSON fail
    fn.io.save(tmp_path / "p.npz", net, fn.init(fn.random.key(0), net), stats=fn.init_stats(net))


def test_predict_names_a_net_that_is_not_one():
    net = fn.Net((2, 2))
    params = fn.init(fn.random.key(0), net)
    for f in (fn.predict, fn.predict_proba):  # read net.output before checking net
        with pytest.raises(TypeError, match="^net: expected a funcnet.Net"):
            f(params, params, np.ones((1, 2)))


def test_probabilities_of_logits_spanning_more_than_the_float_range_are_exact():
    net = fn.Net((1, 2), output="softmax")
    params = ({"W": np.array([[3e38, -3e38]], np.float32), "b": np.zeros(2, np.float32)},)
    assert fn.predict_proba(net, params, np.ones((1, 1), np.float32)).tolist() == [[1.0, 0.0]]


def test_forward_train_and_backward_never_hand_back_inf_and_refuse_caches_of_another_net():
    net = fn.Net((1, 1), output="identity")
    huge = ({"W": np.array([[3e38]], np.float32), "b": np.zeros(1, np.float32)},)
    with pytest.raises(FloatingPointError, match="^forward_train: overflowed in float32"):
        fn.forward_train(net, huge, np.array([[10.0]], np.float32))
    bn = fn.Net((1, 2, 2), batchnorm=True)  # finite logits, a batch variance beyond float32
    p = fn.init(fn.random.key(0), bn)
    p = ({**p[0], "W": np.ones((1, 2), np.float32)}, p[1])
    with pytest.raises(FloatingPointError, match=r"^forward_train: caches\[1\]\[3\]: overflowed in float32"):
        fn.forward_train(bn, p, np.array([[1e38], [-1e38]], np.float32))
    params = fn.init(fn.random.key(0), net)
    _, caches = fn.forward_train(net, params, np.ones((2, 1), np.float32))
    with pytest.raises(FloatingPointError, match=r"^backward: grads\[0\]\['W'\]: overflowed in float32"):
        fn.backward(net, params, caches, np.full((2, 1), 3e38, np.float32))
    other = fn.Net((1, 3, 1), output="identity")
    _, theirs = fn.forward_train(other, fn.init(fn.random.key(0), other), np.ones((2, 1), np.float32))
    with pytest.raises(TypeError, match="^caches: expected the tuple of"):
        fn.backward(net, params, (None,), np.ones((2, 1)))  # an AttributeError deep inside
    with pytest.raises(TypeError, match="^caches: expected the tuple of"):
        fn.backward(net, params, theirs, np.ones((2, 1)))
    deeper = fn.Net((1, 1), output="identity", init="lecun_normal")  # same plan, another net
    with pytest.raises(ValueError, match="^caches: expected the caches forward_train made for this net"):
        fn.backward(deeper, params, caches, np.ones((2, 1)))
    assert copy.deepcopy(caches).rows == 2 and pickle.loads(pickle.dumps(caches)).net == net


def test_sizes_beyond_what_numpy_can_hold_are_named():
    holds = r"expected an array NumPy can hold \(at most 64 dimensions and 2\*\*63 - 1 bytes\)"
    for make, name in [
        (lambda: fn.Net((3, 10**400, 2)), "sizes"),
        (lambda: fn.Net((2**62, 4)), "sizes"),
        (lambda: fn.Net.from_layers(2**62, [fn.layers.Dense(2)]), "n_in"),
        (lambda: fn.layers.Dense(10**400), "n_out"),
        (lambda: fn.INITIALIZERS["he_normal"](fn.random.key(0), 10**400, 2, np.float32), "n_in"),
        (lambda: fn.random.normal(fn.random.key(0), (2**31, 2**31)), "shape"),
        (lambda: fn.random.uniform(fn.random.key(0), (1,) * 65), "shape"),
        (lambda: fn.random.permutation(fn.random.key(0), 2**62), "n"),
        (lambda: fn.datasets.moons(10**400, key=fn.random.key(0)), "n"),
    ]:
        with pytest.raises(ValueError, match=f"^{name}: {holds}"):
            make()


def test_integer_labels_of_any_width_index_the_logits():
    z = np.array([[1.0, 2.0], [0.5, -1.0]])
    y = np.array([1, 0])
    for dtype in (np.uint64, np.uint8, np.int8):  # uint64 + an int64 offset was a float index
        np.testing.assert_array_equal(fn.softmax_cross_entropy_grad(z, y.astype(dtype)),
                                      fn.softmax_cross_entropy_grad(z, y))


def test_ragged_label_lists_are_named():
    net = fn.Net((2, 2), dtype="float64")
    with pytest.raises(TypeError, match="^y: expected integer labels or float one-hot rows, got list"):
        fn.loss(net, fn.init(fn.random.key(0), net), np.ones((2, 2)), [[0], [1, 0]])


# --- schedules ---


def test_schedules_made_directly_check_their_settings():
    sch = fn.schedules
    with pytest.raises(ValueError, match="^lr: expected a finite number > 0, got nan"):
        sch.Cosine(lr=float("nan"), total_steps=10)  # once a NaN rate at every step
    with pytest.raises(TypeError, match="^gamma: expected a finite number"):
        sch.StepDecay(0.1, 2, gamma="x")
    with pytest.raises(TypeError, match="^boundaries: expected a sequence of integers"):
        sch.Join((sch.constant(0.1), sch.constant(0.2)), "")
    made = sch.StepDecay(0.1, np.uint16(2), 0.5)
    assert made == sch.step_decay(0.1, 2, 0.5) and type(made(3)) is float


def test_schedules_give_a_rate_at_any_step():
    sch = fn.schedules
    assert sch.step_decay(0.1, 2, 0.5)(10**400) == 0.0  # a float power of a huge int overflowed
    assert sch.exponential(0.1, 0.5)(10**400) == 0.0
    assert sch.cosine(0.1, 10**400)(3) == 0.1


def test_composed_schedules_check_what_the_inner_ones_return():
    sch = fn.schedules
    warm = sch.linear_warmup(lambda t: 0.1 if t == 0 else float("nan"), 2)
    with pytest.raises(ValueError, match=r"^lr: expected the schedule to return a finite number, got nan \(float\) at step 3"):
        warm(5)
    joined = sch.join([sch.constant(0.1), lambda t: "fast"], [1])
    with pytest.raises(TypeError, match=r"^schedules\[1\]: expected the schedule to return a finite number, got 'fast' at step 1"):
        joined(2)


# --- optimizers ---


def _p():
    return ({"W": np.ones((2, 2)), "b": np.zeros(2)},)


def test_chain_checks_its_transforms_are_a_sequence():
    with pytest.raises(TypeError, match="^transforms: expected a sequence of optimizers, got 5"):
        optim.Chain(5)


def test_numpy_integer_counts_do_not_overflow():
    p = _p()
    for opt in (optim.adam(0.1), optim.sgd(fn.schedules.cosine(0.1, 10))):
        state = opt.init(p)
        state = state._replace(count=np.int64(2**63 - 1))
        if hasattr(state, "states"):
            state = state._replace(states=tuple(s._replace(count=np.int64(2**63 - 1)) for s in state.states))
        _, new = opt.update(p, state, p)  # count + 1 overflowed int64
        assert new.count == 2**63 and type(new.count) is int
    # Adam's bias corrections at a count beyond the float range
    opt = optim.adam(0.1)
    state = opt.init(p)
    huge = state._replace(count=10**400, states=tuple(s._replace(count=10**400) for s in state.states))
    assert np.isfinite(opt.update(p, huge, p)[0][0]["W"]).all()


def test_an_update_that_overflows_is_an_error_not_a_silent_inf():
    p = _p()
    g = ({"W": np.full((2, 2), 1e200), "b": np.zeros(2)},)
    opt = optim.rmsprop(0.1)
    with pytest.raises(FloatingPointError, match=r"^update: the new state.*overflowed in float64"):
        opt.update(g, opt.init(p), p)  # g**2 overflowed into the second moment
    nan = ({"W": np.full((2, 2), np.nan), "b": np.zeros(2)},)
    assert np.isnan(opt.update(nan, opt.init(p), p)[0][0]["W"]).all()  # NaN grads still pass through


def test_sgd_step_and_step_check_grads_as_apply_updates_checks_updates():
    p = _p()
    nan = ({"W": np.full((2, 2), np.nan), "b": np.zeros(2)},)
    with pytest.raises(ValueError, match=r"^grads\[0\]\['W'\]: expected finite values"):
        optim.sgd_step(0.1, p, nan)  # once returned NaN params
    opt = optim.sgd(0.1)
    with pytest.raises(ValueError, match=r"^grads\[0\]\['W'\]: expected finite values"):
        optim.step(opt, nan, opt.init(p), p)  # once named "updates", which step has no argument of
    huge = ({"W": np.full((2, 2), 1e308), "b": np.zeros(2)},)
    with pytest.raises(FloatingPointError, match=r"^sgd_step: params\[0\]\['W'\] - lr \* grads\[0\]\['W'\]: overflowed"):
        optim.sgd_step(1e10, p, huge)


# --- training ---


_nan_updates = optim.Optimizer(lambda p: 0, lambda g, s, p=None: (fn.tree_map(lambda a: a * np.nan, g), s))


def test_train_step_reports_divergence_like_fit():
    net, params, X, y = _small()
    state = fn.TrainState(params, 0, fn.init_stats(net))
    with pytest.raises(FloatingPointError, match=r"^training diverged: params\[0\]\['W'\] became NaN or inf"):
        fn.train_step(net, _nan_updates, state, (X, y, None))


def test_fit_never_returns_params_its_last_update_made_non_finite():
    net, params, X, y = _small()
    with pytest.raises(FloatingPointError, match=r"^training diverged: params\[0\]\['W'\] became NaN or inf at the last step"):
        fn.fit(net, params, X, y, key=fn.random.key(0), optimizer=_nan_updates, epochs=1, batch_size=4, shuffle=False)


def test_gradient_norms_and_epoch_means_of_huge_finite_values_stay_finite():
    net = fn.Net((1, 1), output="identity")  # float32: squares of the gradient overflow the BLAS sum
    params = ({"W": np.array([[1e19]], np.float32), "b": np.zeros(1, np.float32)},)
    r = fn.fit(net, params, np.ones((2, 1), np.float32), np.zeros(2, np.float32), key=fn.random.key(0),
               optimizer=optim.sgd(1e-30), epochs=1, batch_size=2, shuffle=False)
    assert np.isfinite(r.history["grad_norm"][0]).all() and r.history["grad_norm"][0][0] > 1e19
    net = fn.Net((1, 1), output="identity", dtype="float64")  # losses of 1e308: their sum overflowed fsum
    params = ({"W": np.array([[1e154]]), "b": np.zeros(1)},)
    r = fn.fit(net, params, np.ones((2, 1)), np.zeros(2), key=fn.random.key(0), optimizer=optim.sgd(1e-300),
               epochs=1, batch_size=1, shuffle=False)
    assert r.history["loss"][0] == pytest.approx(1e308)


def test_value_and_grad_raises_when_a_gradient_overflows_under_a_finite_loss():
    net = fn.Net((2, 2), output="identity")
    params = fn.init(fn.random.key(0), net)
    with pytest.raises(FloatingPointError, match=r"^grad: grads\[0\]\['W'\]: overflowed in float32"):
        fn.value_and_grad(net, params, np.ones((2, 2), np.float32), np.zeros((2, 2), np.float32),
                          l2=float(np.finfo(np.float32).max))


def test_lr_find_names_stop_when_stop_over_start_overflows():
    net, params, X, y = _small()
    with pytest.raises(ValueError, match="^stop: expected stop / start within the float range"):
        fn.lr_find(net, params, X, y, key=fn.random.key(0), start=1e-300, stop=1e300)  # named decay_rate


# --- random numbers and datasets ---


def test_normal_samples_that_overflow_name_std():
    with pytest.raises(ValueError, match="^std: expected a standard deviation whose samples fit float32"):
        fn.random.normal(fn.random.key(0), 10, np.float32, std=3e38)  # once a silent inf


def test_dataset_noise_and_turns_that_overflow_are_named():
    key = fn.random.key(0)
    with pytest.raises(ValueError, match="^noise: expected a value that keeps the points within float64's range"):
        fn.datasets.moons(20, key=key, noise=1e308)
    with pytest.raises(ValueError, match="^noise: expected a value that keeps the points within float32's range"):
        fn.datasets.xor_clusters(8, key=key, noise=1e300, dtype=np.float32)  # cast to inf
    with pytest.raises(ValueError, match="^turns: expected a value that keeps the points within float64's range"):
        fn.datasets.spirals(10, key=key, turns=1e300)  # standardising squared them to inf


# --- files ---


def test_paths_that_are_not_paths_are_named(tmp_path):
    net = fn.Net((2, 2))
    with pytest.raises(TypeError, match=r"^path: expected a path \(a str or os.PathLike\), got 3"):
        fn.io.load(3)
    with pytest.raises(ValueError, match="^path: expected a path, not empty and without NUL characters"):
        fn.io.save(str(tmp_path / "a\x00b.npz"), net, fn.init(fn.random.key(0), net))
    with pytest.raises(TypeError, match="^path: expected a path"):
        fn.datasets.load_idx(None)
    with pytest.raises(TypeError, match="^data_dir: expected a path"):
        fn.datasets.mnist(5)


def _archive(tmp_path, name, change):
    import io
    import zipfile

    net = fn.Net((2, 2))
    path = tmp_path / "p.npz"
    fn.io.save(path, net, fn.init(fn.random.key(0), net))
    out = tmp_path / name
    out.write_bytes(change(path.read_bytes()))
    return out


def test_hostile_params_archives_are_refused_naming_the_file(tmp_path):
    import io
    import zipfile

    def encrypted(data):  # the "encrypted" flag bit of every entry: a RuntimeError in zipfile
        b = bytearray(data)
        for sig, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            i = b.find(sig)
            while i >= 0:
                b[i + at] |= 1
                i = b.find(sig, i + 4)
        return bytes(b)

    def rezip(data, compression, member=None):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = {n: zf.read(n) for n in zf.namelist()}
        if member:
            members.update(member)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression) as zf:
            for n, d in members.items():
                zf.writestr(n, d)
        return buf.getvalue()

    def corrupt_lzma(data):
        b = bytearray(rezip(data, zipfile.ZIP_LZMA))
        i = b.find(b"0/W.npy") + 7 + 20  # inside the first entry's compressed data
        b[i:i + 8] = b"\xff" * 8
        return bytes(b)

    header = b"\x93NUMPY\x01\x00\x10\x00{'descr': (((((\n"  # NumPy's header parser: a TokenError
    for name, change in [("enc.npz", encrypted), ("lzma.npz", corrupt_lzma),
                         ("hdr.npz", lambda d: rezip(d, zipfile.ZIP_STORED, {"0/W.npy": header}))]:
        path = _archive(tmp_path, name, change)
        with pytest.raises(ValueError, match=f"^{path}: "):
            fn.io.load(path)
    with pytest.raises(TypeError, match=r"^net: expected a dict of Net fields \(string keys\)"):
        fn.io.net_from_dict({1: 2, "sizes": [2, 2]})


def test_idx_files_holding_nan_or_too_many_dimensions_are_refused_by_name(tmp_path):
    import struct

    nan = tmp_path / "nan.idx"
    nan.write_bytes(struct.pack(">HBBI", 0, 0x0D, 1, 2) + struct.pack(">ff", 1.0, float("nan")))
    with pytest.raises(ValueError, match=f"^{nan}: expected finite values"):
        fn.datasets.load_idx(nan)
    deep = tmp_path / "deep.idx"
    deep.write_bytes(struct.pack(">HBB", 0, 8, 65) + struct.pack(">65I", *([1] * 65)) + b"\x05")
    with pytest.raises(ValueError, match=f"^{deep}: expected an array NumPy can hold"):
        fn.datasets.load_idx(deep)
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz"):
        (folder / name).write_bytes(b"")
    (folder / "SHA256SUMS").write_bytes(b"\xcc\xff garbage")  # once a UnicodeDecodeError
    with pytest.raises(ValueError, match=f"^{folder / 'SHA256SUMS'}: not a text file of SHA-256 sums"):
        fn.datasets.mnist(folder)
    with pytest.raises(TypeError, match="^flatten: expected True or False"):
        fn.datasets.mnist(folder, flatten=np.array([1, 2]))


# --- plots ---


def test_plot_inputs_are_checked_by_name():
    plot = pytest.importorskip("funcnet.plot")
    pytest.importorskip("matplotlib")
    history = {"epoch": [1, 2], "loss": [1.0, 0.5]}
    for call, error, match in [
        (lambda: plot.lr_finder_curve(["a", "b"], [1.0, 2.0]), TypeError, "^lrs: expected a 1-D array of positive rates"),
        (lambda: plot.grad_norm_bars({"a": ["x"]}), TypeError, r"^norms\['a'\]: expected a sequence of norms"),
        (lambda: plot.loss_curves({"epoch": [1, 2], "loss": ["a", "b"]}), TypeError, r"^history\['loss'\]"),
        (lambda: plot.loss_curves(history, title=np.ones(2)), TypeError, "^title: expected a string"),
        (lambda: plot.loss_curves(history, figsize=(1e308, 3)), ValueError, "^figsize: expected an array NumPy can hold"),
        (lambda: plot.loss_curves(history, best_epoch=10**400), ValueError, r"^best_epoch: expected an integer in \[1, 2\]"),
        (lambda: plot.grad_norm_curves({1: [0], "epoch": [1]}), ValueError, "^history: expected a 'grad_norm' entry"),
        (lambda: plot.lr_finder_curve([1e-3, 1e-2], [1.0, 0.5], suggestion=1e300), ValueError, "^suggestion: expected a rate between"),
        (lambda: plot.digit_grid(np.zeros((2, 6)), [0, 1], [0, 1], image_shape=(2, None)), TypeError, "^image_shape: expected an integer"),
        (lambda: plot.digit_grid(np.zeros((2, 0)), [0, 1], [0, 1]), ValueError, "^images: expected a non-empty"),
        (lambda: plot.pca_2d([[np.nan, 1.0], [0.0, 1.0]]), ValueError, "^H: expected finite values"),  # a LinAlgError
        (lambda: plot.pca_2d([[1.7e308, 1.0], [1.7e308, 2.0]]), ValueError, "^H: expected values whose mean and spread fit float64"),
    ]:
        with pytest.raises(error, match=match):
            call()


def test_class_colours_and_decision_boundaries_take_only_the_classes_drawn():
    plot = pytest.importorskip("funcnet.plot")
    pytest.importorskip("matplotlib")
    net, params, X, y = _small()
    X2 = X[:, :2]
    # a label of 2**62 once built a list of 2**62 colours (a hang)
    plot.hidden_projection(net, params, X, np.array([0, 1, 2**62, 0]), methods=("pca",))
    net2 = fn.Net((2, 3, 2), dtype="float64")
    p2 = fn.init(fn.random.key(0), net2)
    with pytest.raises(ValueError, match=r"^y: expected class labels in \[0, 1\], got values in \[0, 5\]"):
        plot.decision_boundary(net2, p2, X2, np.array([0, 1, 5, 0]), resolution=4)  # an IndexError
    plot.decision_boundary(net2, p2, np.full((4, 2), 1e300), y, resolution=4)  # a 1e-6 pad vanished beside 1e300
    with pytest.raises(ValueError, match="^X, margin: expected points and a margin whose plotted range fits float64"):
        plot.decision_boundary(net2, p2, X2, y, resolution=4, margin=1e308)
    plot.grad_norm_bars([1e308, 1e-308])  # matplotlib's log scale overflows on the way, and copes


# --- scikit-learn ---


def test_estimators_name_x_or_y_in_scikit_learns_validation_errors():
    sk = pytest.importorskip("funcnet.sklearn")
    X, y = np.ones((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="^X: could not convert string to float"):
        sk.MLPClassifier(max_iter=1).fit([["a", "b"]] * 4, y)
    with pytest.raises(ValueError, match="^X, y: Found input variables with inconsistent numbers of samples"):
        sk.MLPClassifier(max_iter=1).fit(X, y[:3])
    clf = sk.MLPClassifier(hidden_layer_sizes=np.array([3]), max_iter=1).fit(X, y)  # array-like, as scikit-learn's MLP
    with pytest.raises(ValueError, match="^X: int too large to convert to float"):
        clf.predict([[10**400, 1]])
    with pytest.raises(TypeError, match="^dtype: expected float32 or float64, got -1"):
        sk.MLPClassifier(max_iter=1, dtype=-1).fit(X, y)
    with pytest.raises(TypeError, match="^early_stopping: expected True or False"):
        sk.MLPClassifier(max_iter=1, early_stopping=np.array(["a", "b"])).fit(X, y)


# --- the command line ---


def _usage_error(capsys, *argv):
    from funcnet.cli import main

    with pytest.raises(SystemExit) as exit:
        main(list(map(str, argv)))
    assert exit.value.code == 2
    return capsys.readouterr().err.split("error: ", 1)[1]


def test_command_line_paths_sizes_and_data_are_usage_errors(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    tiny = ["--dataset", "moons", "--n-samples", 20, "--hidden", 3]
    assert _usage_error(capsys, "lr-find", *tiny, "--plot", tmp_path / "lr.xyz").startswith("plot: expected a file name ending in one of")
    assert _usage_error(capsys, "lr-find", *tiny, "--plot", tmp_path).startswith("plot: ")
    assert _usage_error(capsys, "train", *tiny, "--out", "run\x00x").startswith("out: expected a path")
    assert _usage_error(capsys, "train", *tiny, "--out", tmp_path / ("x" * 300)).startswith("out: cannot use")
    assert _usage_error(capsys, "train", "--dataset", "moons", "--n-samples", "9" * 400, "--out", tmp_path / "r").startswith(
        "n_samples: n: expected an array NumPy can hold")
    assert _usage_error(capsys, "gradcheck", "--samples", 2**62).startswith("samples: expected an array NumPy can hold")
    # an MNIST-layout folder whose labels do not fit the ten classes (once a traceback at evaluation)
    import gzip
    import struct

    folder = tmp_path / "mnist"
    folder.mkdir()
    for part, n in (("train", 4), ("t10k", 2)):
        (folder / f"{part}-images-idx3-ubyte.gz").write_bytes(gzip.compress(struct.pack(">HBBIII", 0, 8, 3, n, 28, 28) + bytes(n * 784)))
        (folder / f"{part}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(struct.pack(">HBBI", 0, 8, 1, n) + bytes([12] * n)))
    assert _usage_error(capsys, "train", "--dataset", "mnist", "--data-dir", folder, "--epochs", 1, "--no-plots",
                        "--out", tmp_path / "m").startswith(f"data_dir: {str(folder)!r} holds labels up to 12")


# --- found by tests/test_fuzz.py after the training features and checkpoints landed ---


def test_augmenters_check_their_batch_and_a_chain_names_the_augmenter_that_returned_junk():
    X = np.random.default_rng(0).random((2, 4), dtype=np.float32)
    masked = np.ma.masked_array(X.copy(), mask=np.zeros_like(X, bool))
    masked.data[0, 0] = np.nan  # NaN under the mask: the plain array holds it
    with pytest.raises(ValueError, match=r"^X: expected finite values, got 1 NaN"):
        fn.augment.flips((2, 2))(fn.random.key(0), masked)
    junk = fn.augment.chain(lambda k, x: np.ones(3), fn.augment.flips((2, 2)))
    with pytest.raises(TypeError, match=r"^augmenters\[0\]: expected a function \(key, X\) -> an array of X's shape"):
        junk(fn.random.key(0), X)
    with pytest.raises(ValueError, match=r"^fill: expected a value that float32 holds, got 1e\+300"):
        fn.augment.shifts((2, 2), 1, fill=1e300)(fn.random.key(0), X)
    with pytest.raises(ValueError, match=r"^max_shift: expected an integer in \[1, 2\], got 3"):
        fn.augment.Shift((2, 2), 3)  # built directly, checked all the same


def test_save_checkpoint_checks_the_net_and_scale_images_takes_integer_pixels(tmp_path):
    net = fn.Net((2, 3, 2), dtype="float64")
    X, y = np.ones((4, 2)), np.array([0, 1, 0, 1])
    r = fn.fit(net, fn.init(fn.random.key(0), net), X, y, key=fn.random.key(1), epochs=1)
    with pytest.raises(TypeError, match="^net: expected a funcnet.Net, got 'net'"):
        fn.io.save_checkpoint(tmp_path / "c.npz", "net", r)
    assert fn.datasets.scale_images([[0, 51, 255]], np.float64).tolist() == [[0.0, 0.2, 1.0]]
    with pytest.raises(ValueError, match="^images: expected pixels in 0..255, got values from -1 to 3"):
        fn.datasets.scale_images([[-1, 3]])
    with pytest.raises(ValueError, match="^array: expected finite values, got NaN or inf"):
        fn.datasets.save_idx(tmp_path / "x.idx", np.array([1.0, np.nan]))


def test_a_schedule_failing_inside_an_estimators_fit_is_named_as_its_parameter():
    sk = pytest.importorskip("funcnet.sklearn")
    later_none = lambda step: 0.1 if step == 0 else None  # noqa: E731
    with pytest.raises(TypeError, match=r"^learning_rate_init: expected the schedule to return a finite rate"):
        sk.MLPRegressor(learning_rate_init=later_none, max_iter=1, batch_size=1).fit(np.ones((4, 2)), np.ones(4))


def test_an_empty_out_is_a_usage_error_not_the_current_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        fn.cli.main(["train", "--dataset", "xor", "--epochs", "1", "--no-plots", "--out", ""])
    assert e.value.code == 2 and "out: expected a path, not empty" in capsys.readouterr().err
