"""funcnet.testing: its strategies draw valid funcnet objects, its assertions pass on right code
and fail, naming what is wrong, on wrong code; the profiles; the README's example."""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import pathlib
import re
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcnet as fn
from funcnet import optim
from funcnet.network import check_params
from funcnet.testing import (
    assert_grads_match,
    assert_pure,
    assert_trees_close,
    batches,
    default_rtol,
    keys,
    load_profile,
    net_objective,
    nets,
    optimizers,
    params,
    problems,
    random_batch,
    random_params,
    register_profiles,
    schedules,
    trees_like,
)

from test_network import Scale  # a layer of the user's own, defined there and nowhere in funcnet

ROOT = pathlib.Path(__file__).resolve().parents[1]


# --- strategies draw valid funcnet objects ---


@settings(max_examples=15)
@given(nets(depths=(2, 3), widths=(2, 5), activations=["tanh", "relu"], outputs=["sigmoid"],
            batchnorm=True, dropout=0.25, dtypes="float32"))
def test_nets_keep_to_their_arguments(net):
    assert isinstance(net, fn.Net) and net.n_layers in (2, 3)
    assert all(2 <= s <= 5 for s in net.sizes)
    assert (net.activation in ("tanh", "relu") and net.output == "sigmoid" and net.batchnorm
            and net.dropout == 0.25 and net.dtype == "float32")


@settings(max_examples=20)
@given(problems(nets(widths=(1, 6), batchnorm=None, dropout=None), sizes=(1, 9)))
def test_problems_fit_their_net_and_head(problem):
    net, p, X, y, key = problem
    check_params(net, p)  # structure, shapes, dtype and finiteness, as the core checks them
    assert X.dtype == net.dtype and X.shape[1] == net.sizes[0] and 1 <= len(X) <= 9
    k = net.sizes[-1]
    if net.output == "softmax":
        assert y.dtype == np.int64 and y.shape == (len(X),) and 0 <= y.min() and y.max() < k
    elif net.output == "sigmoid":
        assert y.dtype == net.dtype and y.shape == (len(X), k) and set(np.unique(y)) <= {0.0, 1.0}
    else:
        assert y.dtype == net.dtype and y.shape == (len(X), k)
    value, grads = fn.value_and_grad(net, p, X, y, key=key)
    assert math.isfinite(value) and fn.tree_structure(grads) == net.shapes()


def test_random_params_and_batches_are_functions_of_the_key():
    net = fn.Net((3, 5, 2), batchnorm=True)
    p = assert_pure(random_params, fn.random.key(0), net)
    assert_trees_close(random_params(fn.random.key(0), net), p, rtol=0)
    assert np.all(p[0]["gamma"] != 1) and np.all(p[1]["b"] != 0)  # vectors moved off init
    plain = random_params(fn.random.key(0), net, jitter=False)  # init's own values
    assert np.all(plain[0]["gamma"] == 1) and np.all(plain[1]["b"] == 0)
    X, y = assert_pure(random_batch, fn.random.key(1), net, 4)
    assert not np.array_equal(random_batch(fn.random.key(2), net, 4)[0], X)


@settings(max_examples=20)
@given(optimizers(lrs=st.one_of(st.floats(1e-4, 1.0), schedules())),
       nets(outputs=["identity"], batchnorm=None).flatmap(lambda net: st.tuples(params(net), params(net))))
def test_optimizers_update_without_error(opt, trees):
    p, g = trees
    state = opt.init(p)
    for _ in range(3):
        updates, state = opt.update(g, state, p)
        assert fn.tree_structure(updates) == fn.tree_structure(p)
        assert all(u.dtype == a.dtype and np.isfinite(u).all() for u, a in zip(fn.tree_leaves(updates), fn.tree_leaves(p)))
        p = optim.apply_updates(p, updates)
    assert state.count == 3


@settings(max_examples=30)
@given(schedules(lr=(1e-3, 0.5), steps=(1, 50)), st.integers(0, 10**6))
def test_schedules_give_rates_an_optimizer_takes(schedule, step):
    rate = schedule(step)
    assert isinstance(rate, float) and 0.0 <= rate <= 0.5
    optim.sgd(schedule)  # accepted as a learning rate


@settings(max_examples=10)
@given(keys(), st.data())
def test_trees_like_keep_structure_shapes_and_dtypes(key, data):
    tree = {"enc": [np.zeros((2, 3), np.float32)], "dec": (np.zeros(4), np.zeros((), np.float64))}
    like = data.draw(trees_like(tree, scale=1e30))
    assert fn.tree_structure(like) == fn.tree_structure(tree)
    assert [a.dtype for a in fn.tree_leaves(like)] == [a.dtype for a in fn.tree_leaves(tree)]
    assert all(np.isfinite(a).all() for a in fn.tree_leaves(like))
    assert isinstance(key, fn.random.Key)


@pytest.mark.parametrize("make, error, match", [
    (lambda: nets(depths=(0, 2)), ValueError, r"^depths: expected an integer >= 1, got 0$"),
    (lambda: nets(widths=(4, 2)), ValueError, r"^widths: expected an integer >= 4, got 2$"),
    (lambda: nets(widths=3), TypeError, r"^widths: expected a pair \(low, high\) of integers >= 1, got 3$"),
    (lambda: nets(activations=["rleu"]), ValueError, r"^activations: expected one of \[.*\], got 'rleu'$"),
    (lambda: nets(outputs=["softmax"], widths=(1, 1)), ValueError, r"^widths: expected room for the 2 units"),
    (lambda: nets(dropout=1.0), ValueError, r"^dropout: expected a finite number in \[0, 1\), got 1.0 \(float\)$"),
    (lambda: nets(batchnorm="yes"), TypeError, r"^batchnorm: expected True or False, got 'yes'$"),
    (lambda: nets(dtypes=["float16"]), ValueError, r"^dtypes: expected float32 or float64, got float16$"),
    (lambda: params((3, 4, 2)), TypeError, r"^net: expected a funcnet.Net, got \(3, 4, 2\) \(tuple\)$"),
    (lambda: batches(fn.Net((2, 2)), sizes=(0, 3)), ValueError, r"^sizes: expected an integer >= 1, got 0$"),
    (lambda: optimizers(["adagrad"]), ValueError, r"^names: expected one of \[.*\], got 'adagrad'$"),
    (lambda: optimizers(lrs=0.1), TypeError, r"^lrs: expected a hypothesis strategy, got 0.1 \(float\)$"),
    (lambda: schedules(lr=(0.0, 1.0)), ValueError, r"^lr: expected a finite number > 0, got 0.0 \(float\)$"),
    (lambda: trees_like(({"W": 1.0},)), TypeError, r"^tree\[0\]\['W'\]: expected a float array, got 1.0 \(float\)$"),
    (lambda: random_batch(fn.random.key(0), fn.Net((2, 2)), 0), ValueError, r"^n: expected an integer >= 1, got 0$"),
    (lambda: assert_grads_match("f", {"w": np.ones(2)}), TypeError, r"^fn: expected a function params -> \(value, grads\)"),
    (lambda: assert_grads_match(lambda p: (0.0, p), {"w": "x"}), TypeError, r"^params\['w'\]: expected a finite number, got 'x'$"),
    (lambda: assert_grads_match(lambda p: (0.0, p), {"w": np.ones(2)}, eps=0), ValueError, r"^eps: expected a finite number > 0"),
    (lambda: assert_grads_match(lambda p: p, {"w": np.ones(2)}), TypeError, r"^fn: expected a function params -> \(value, grads\), got a result"),
    (lambda: assert_trees_close(1.0, 1.0, rtol=-1), ValueError, r"^rtol: expected a finite number >= 0, got -1$"),
    (lambda: load_profile(3), TypeError, r"^name: expected a profile name, got 3$"),
])
def test_bad_arguments_are_named_in_the_checks_vocabulary(make, error, match):
    with pytest.raises(error, match=match):
        make()


# --- assert_grads_match: passes on right gradients, in float32 and float64, for any tree ---


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@settings(max_examples=10)
@given(data=st.data())
def test_grads_match_for_funcnet_nets(dtype, data):
    net, p, X, y, key = data.draw(problems(nets(depths=(1, 3), widths=(1, 5), batchnorm=None, dtypes=[dtype]),
                                           sizes=(1, 8)))
    errors = assert_grads_match(net_objective(net, X, y, l2=0.1), p)
    assert max(fn.tree_leaves(errors)) <= default_rtol(dtype)


@settings(max_examples=5)
@given(problems(nets(depths=(2, 3), widths=(2, 5), dropout=0.5, dtypes=["float64"]), sizes=(2, 8)))
def test_grads_match_with_dropout_masks_fixed_by_the_key(problem):
    net, p, X, y, key = problem
    assert_grads_match(net_objective(net, X, y, key=key), p)


def test_float32_dropout_nets_are_refused_in_float64_rather_than_checked_wrongly():
    net = fn.Net((3, 4, 2), dropout=0.5)
    p = random_params(fn.random.key(0), net)
    X, y = random_batch(fn.random.key(1), net, 5)
    with pytest.raises(ValueError, match=r"^net: a float32 net with dropout draws its masks in float32"):
        assert_grads_match(net_objective(net, X, y, key=fn.random.key(2)), p)


def test_grads_match_uses_the_routine_of_gradcheck_tree():
    # One implementation: for a float64 net the errors are gradcheck_tree's, bit for bit.
    net = fn.Net((3, 4, 3), activation="gelu", batchnorm=True, dtype="float64")
    p = random_params(fn.random.key(0), net)
    X, y = random_batch(fn.random.key(1), net, 6)
    ours = assert_grads_match(net_objective(net, X, y, l2=0.2), p)
    assert_trees_close(ours, fn.gradcheck_tree(net, p, X, y, l2=0.2), rtol=0)


@dataclasses.dataclass(frozen=True)
class WrongScale(Scale):
    """The same layer with a backward pass that forgets the input in the scale's gradient."""

    def backward(self, params, x, dy, need_dx):
        return dy * params["s"], {"s": dy.sum(axis=0)}


def _scaled(layer, dtype):
    L = fn.layers
    return fn.Net.from_layers(3, [L.Dense(6), layer, L.Act("tanh"), L.Dense(2)], dtype=dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_user_defined_layer_passes_and_a_wrong_one_fails_naming_its_leaf(dtype):
    X, y = random_batch(fn.random.key(1), _scaled(Scale(), dtype), 7)
    p = random_params(fn.random.key(0), _scaled(Scale(), dtype))
    assert_grads_match(net_objective(_scaled(Scale(), dtype), X, y), p)
    tol = default_rtol(dtype)
    with pytest.raises(AssertionError) as e:
        assert_grads_match(net_objective(_scaled(WrongScale(), dtype), X, y), p)
    first, worst, leaves = str(e.value).splitlines()
    error = re.fullmatch(rf"params\[0\]\['s'\]: the gradient does not match central differences: "
                         rf"relative error (\S+) > rtol {tol:g} \({dtype}\)", first).group(1)
    assert float(error) > 0.1  # wrong, not rounding
    assert re.fullmatch(r"  worst element \[\d\]: fn gives \S+, central differences \S+ \(eps 1e-05\)", worst)
    assert leaves == f"  failing leaves (1 of 5): params[0]['s'] {error}"


def test_a_wrong_gradient_of_any_tree_is_caught():
    A = np.arange(12.0).reshape(3, 4) / 10
    p = {"layer": [{"W": np.asfortranarray(A + 1.0)}, np.float64(0.5)]}  # Fortran order, a scalar leaf

    def f(p):
        W, c = p["layer"][0]["W"], p["layer"][1]
        return float(np.sum(A * W) * c + c**2), {"layer": [{"W": A * c}, np.sum(A * W) + 2 * c]}

    assert_grads_match(f, p)  # a perturbation that missed a Fortran-ordered leaf would fail here

    def wrong(p):
        value, g = f(p)
        return value, {"layer": [{"W": g["layer"][0]["W"] * 1.01}, g["layer"][1]]}

    with pytest.raises(AssertionError, match=r"^params\['layer'\]\[0\]\['W'\]: .* relative error 5.0e-03 > rtol 1e-06"):
        assert_grads_match(wrong, p)
    assert_grads_match(wrong, p, rtol=1e-2)  # a tolerance of one's own


def test_gradients_of_another_structure_shape_or_with_nan_are_caught():
    p = ({"W": np.ones((2, 2)), "b": np.zeros(2)},)
    value = lambda q: float(np.sum(q[0]["W"] ** 2))
    with pytest.raises(AssertionError, match=r"^fn: the gradient has another structure than the params: "
                                             r"grads: expected the structure of params"):
        assert_grads_match(lambda q: (value(q), ({"W": 2 * q[0]["W"]},)), p)
    with pytest.raises(AssertionError, match=r"^grads\[0\]\['b'\]: expected a number array of shape \(2,\)"):
        assert_grads_match(lambda q: (value(q), ({"W": 2 * q[0]["W"], "b": np.zeros(3)},)), p)
    with pytest.raises(AssertionError, match=r"^grads\[0\]\['W'\]: expected finite values, got 4 NaN"):
        assert_grads_match(lambda q: (value(q), ({"W": np.full((2, 2), np.nan), "b": np.zeros(2)},)), p)
    with pytest.raises(FloatingPointError, match=r"^fn: its value came out non-finite in float64 with params\[0\]\['b'\]"):
        assert_grads_match(lambda q: (value(q) + (np.inf if q[0]["b"][1] > 0 else 0.0),
                                      ({"W": 2 * q[0]["W"], "b": np.zeros(2)},)), p)


# --- assert_pure ---


def sgd_in_place(lr, params, grads):
    """The bug funcnet's style rules out: an update written into the params."""
    for p, g in zip(params, grads):
        for k in p:
            p[k] -= lr * g[k]
    return params


def test_assert_pure_passes_on_funcnet_and_fails_naming_the_changed_argument_and_path():
    net = fn.Net((3, 4, 2), batchnorm=True, dtype="float64")
    p = random_params(fn.random.key(0), net)
    X, y = random_batch(fn.random.key(1), net, 5)
    g = assert_pure(fn.grad, net, p, X, y)
    assert_pure(fn.forward, net, p, X, stats=fn.init_stats(net))
    assert_pure(fn.sgd_step, 0.1, p, g)
    with pytest.raises(AssertionError, match=r"^sgd_in_place changed its argument args\[1\]\[0\]\['W'\] in the first "
                                             r"call: \d+ of 12 elements differ, first at \[0, 0\]: \S+ became \S+$"):
        assert_pure(sgd_in_place, 0.1, p, g)

    def normalise_stats(net, params, X, *, stats):
        stats[0]["var"] /= 2  # a keyword argument changed in place
        return fn.forward(net, params, X, stats=stats)

    with pytest.raises(AssertionError, match=r"^normalise_stats changed its argument kwargs\['stats'\]\[0\]\['var'\] "
                                             r"in the first call: 4 of 4 elements differ"):
        assert_pure(normalise_stats, net, random_params(fn.random.key(0), net), X, stats=fn.init_stats(net))


def test_assert_pure_fails_on_a_non_deterministic_function_naming_where_results_differ():
    def noisy(params):
        return ({"W": params[0]["W"] + np.random.default_rng().normal()},)  # fresh OS entropy each call

    with pytest.raises(AssertionError, match=r"^noisy gave different results for equal arguments: "
                                             r"result\[0\]\['W'\]: 4 of 4 elements differ"):
        assert_pure(noisy, ({"W": np.zeros((2, 2))},))


def test_assert_pure_is_bitwise_and_sees_generators_named_tuples_and_reused_buffers():
    assert_pure(lambda a: a * 1.0, np.array([np.nan, 0.0]))  # NaN equals NaN, bit for bit

    def sign_flip(a):
        a[1] = -a[1]
        return None

    with pytest.raises(AssertionError, match=r"args\[0\] in the first call: 1 of 2 elements differ, first at \[1\]: 0.0 became -0.0"):
        assert_pure(sign_flip, np.array([1.0, 0.0]))
    with pytest.raises(AssertionError, match=r"changed its argument args\[0\]\.bit_generator\.state\['state'\]"):
        assert_pure(lambda rng: rng.normal(), np.random.default_rng(0))
    state = optim.TraceState(0, ({"W": np.ones(2)},))

    def bump(s):
        s.velocity[0]["W"][0] += 1
        return s.count

    with pytest.raises(AssertionError, match=r"args\[0\]\.velocity\[0\]\['W'\] in the first call"):
        assert_pure(bump, state)
    buffer = np.zeros(2)

    def accumulate(x):  # hands out its own buffer, overwritten on the next call
        buffer[:] += x
        return buffer

    with pytest.raises(AssertionError, match=r"^accumulate gave different results for equal arguments: result: "):
        assert_pure(accumulate, np.ones(2))


# --- assert_trees_close ---


def test_assert_trees_close_passes_within_tolerance_and_names_the_leaf_that_is_not():
    a = ({"W": np.array([[1.0, 2.0], [3.0, 4.0]]), "b": np.array([0.0, np.nan])}, [np.inf, "relu"])
    b = ({"W": np.array([[1.0, 2.0], [3.0, 4.0 + 1e-9]]), "b": np.array([0.0, np.nan])}, [np.inf, "relu"])
    assert_trees_close(a, b)  # NaN equals NaN, inf equals inf, strings compare equal
    c = ({"W": np.array([[1.0, 2.0], [3.5, 4.0]]), "b": np.array([0.0, 1.0])}, [np.inf, "relu"])
    with pytest.raises(AssertionError) as e:
        assert_trees_close(a, c, rtol=1e-3)
    assert str(e.value) == (
        "trees differ at [0]['W'] (2 of 4 leaves): 1 of 4 elements not close (rtol 0.001, atol 0); "
        "largest difference at [1, 0]: 3.0 against 3.5, |a - b| 0.5 (relative 0.142857); also at [0]['b']")
    with pytest.raises(AssertionError, match=r"^trees differ at \[1\]\[1\] \(1 of 4 leaves\): 'relu' against 'tanh'$"):
        assert_trees_close(a, (a[0], [np.inf, "tanh"]))
    with pytest.raises(AssertionError, match=r"^trees differ at \[0\]\['b'\] \(1 of 4 leaves\): shapes \(2,\) and \(3,\)$"):
        assert_trees_close(a, ({"W": a[0]["W"], "b": np.zeros(3)}, a[1]))
    with pytest.raises(AssertionError, match=r"^tree structures differ: b: expected the structure of a, "
                                             r"\(\{'W': \*, 'b': \*\}, \[\*, \*\]\), got \(\{'W': \*\}, \[\*, \*\]\)$"):
        assert_trees_close(a, ({"W": a[0]["W"]}, a[1]))
    assert_trees_close(np.float32(1.0), 1.0 + 1e-9)  # leaves may be scalars of any dtype


# --- the core never imports the toolkit, and the toolkit says what to install ---


def test_the_core_never_imports_funcnet_testing_or_hypothesis():
    imports = re.compile(r"^\s*(from\s+\S*(testing|hypothesis)\S*\s+import|import\s+\S*(testing|hypothesis)"
                         r"|from\s+\.+\s+import\s+.*\btesting\b)", re.M)
    for path in (ROOT / "funcnet").rglob("*.py"):
        if path.name != "testing.py":
            assert not imports.search(path.read_text()), f"{path.relative_to(ROOT)} imports the toolkit"


def test_without_hypothesis_the_import_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "hypothesis", None)  # import hypothesis now raises ImportError
    spec = importlib.util.spec_from_file_location("funcnet._testing_without_hypothesis", ROOT / "funcnet" / "testing.py")
    with pytest.raises(ImportError, match=r"^funcnet.testing needs hypothesis, the 'testing' extra: "
                                          r"pip install 'funcnet\[testing\]'$"):
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


def test_every_public_function_has_a_doctest():
    import funcnet.finite_differences
    import funcnet.testing

    for module in (funcnet.testing, funcnet.finite_differences):
        for name in module.__all__:
            obj = getattr(module, name)
            if callable(obj) and not isinstance(obj, type):
                assert ">>>" in (obj.__doc__ or ""), f"{module.__name__}.{name} has no doctest"


# --- settings profiles ---


def test_profiles_ci_is_derandomized_and_dev_draws_more(monkeypatch):
    register_profiles()
    ci, dev = settings.get_profile("ci"), settings.get_profile("dev")
    assert ci.derandomize and ci.database is None and ci.deadline is None and ci.max_examples == 25
    assert not dev.derandomize and dev.deadline is None and dev.max_examples == 50
    settings.register_profile("_before_this_test", settings())
    try:
        for env, expected in [({"CI": "true"}, "ci"), ({"CI": "false"}, "dev"), ({}, "dev"),
                              ({"CI": "1", "HYPOTHESIS_PROFILE": "dev"}, "dev")]:
            for var in ("CI", "HYPOTHESIS_PROFILE"):
                monkeypatch.delenv(var, raising=False)
            for var, value in env.items():
                monkeypatch.setenv(var, value)
            assert load_profile() == expected
            assert settings().derandomize == (expected == "ci")
    finally:
        settings.load_profile("_before_this_test")


# --- the README's example runs ---


def _readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    assert "<!-- testing-example -->" in text, "no <!-- testing-example --> block in README.md"
    block = text.split("<!-- testing-example -->", 1)[1]
    return re.search(r"```python\n(.*?)```", block, re.S).group(1)


def test_readme_example():
    code = _readme_example()
    assert 12 <= len(code.strip().splitlines()) <= 22  # about fifteen lines
    namespace = {"__name__": "readme_example"}
    exec(compile(code, "README: Property-testing your own code", "exec"), namespace)
    settings(max_examples=10)(namespace["test_scale"])()  # the example runs; the suite stays fast
