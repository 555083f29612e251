"""Tree helpers: hand-worked results, structure errors naming both trees, nothing mutated."""

from __future__ import annotations

import copy
import math
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings
from strategies import param_trees

from funcnet.tree import (
    global_norm,
    tree_add,
    tree_check_same,
    tree_leaves,
    tree_map,
    tree_scale,
    tree_structure,
    tree_weighted_mean,
    tree_zip,
)


def _params():
    # Dict keys inserted out of order on purpose: every helper visits them sorted.
    return (
        {"b": np.array([3.0]), "W": np.array([[1.0, 2.0]])},
        {"W": np.array([[4.0]]), "b": np.array([0.0])},
    )


class State(NamedTuple):
    count: int
    mu: tuple


def _same_tree(a, b, ordered=True) -> bool:
    """Structure, container types, leaf bits and (if ``ordered``) dict key order all equal."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        keys_match = list(a) == list(b) if ordered else sorted(a) == sorted(b)
        return keys_match and all(_same_tree(a[k], b[k], ordered) for k in a)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same_tree(x, y, ordered) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    return a == b


# --- hand-worked values ---


def test_map_worked_by_hand():
    doubled = tree_map(lambda a: 2 * a, _params())
    assert isinstance(doubled, tuple) and len(doubled) == 2
    assert list(doubled[0]) == ["W", "b"]  # rebuilt with sorted keys
    assert doubled[0]["W"].tolist() == [[2.0, 4.0]] and doubled[0]["b"].tolist() == [6.0]
    assert doubled[1]["W"].tolist() == [[8.0]] and doubled[1]["b"].tolist() == [0.0]
    summed = tree_map(lambda a, b, c: a + b * c, _params(), doubled, _params())
    assert summed[0]["W"].tolist() == [[3.0, 10.0]] and summed[0]["b"].tolist() == [21.0]


def test_map_lines_up_dicts_built_in_different_orders():
    out = tree_map(lambda a, b: a - b, {"a": 1, "b": 2}, {"b": 20, "a": 10})
    assert out == {"a": -9, "b": -18}


def test_map_keeps_container_types():
    assert tree_map(lambda x: x + 1, [1, (2, 3), {"k": [4]}]) == [2, (3, 4), {"k": [5]}]
    assert type(tree_map(lambda x: x, [1])) is list and type(tree_map(lambda x: x, (1,))) is tuple
    state = State(count=3, mu=({"W": 1.0},))
    mapped = tree_map(lambda x: x * 2, state)
    # A named tuple (an optimizer state) stays one: the map returns the structure it was given.
    assert type(mapped) is State and mapped == State(count=6, mu=({"W": 2.0},))
    tree_check_same(state, mapped)
    assert tree_map(lambda x: x, ()) == () and tree_map(lambda x: x, ({}, [])) == ({}, [])


def test_leaves_in_sorted_key_order():
    assert [a.tolist() for a in tree_leaves(_params())] == [[[1.0, 2.0]], [3.0], [[4.0]], [0.0]]
    assert tree_leaves({"b": 2, "a": 1, "c": [3, (4,)]}) == [1, 2, 3, 4]
    assert tree_leaves(State(7, (8, 9))) == [7, 8, 9]
    assert tree_leaves(5) == [5] and tree_leaves(()) == [] and tree_leaves({"a": None}) == [None]
    p = _params()
    assert tree_leaves(p)[1] is p[0]["b"]  # the leaves themselves, not copies


def test_structure_worked_by_hand():
    assert tree_structure(_params()) == ({"W": (1, 2), "b": (1,)}, {"W": (1, 1), "b": (1,)})
    assert tree_structure([3.0, np.float32(1), np.array(2.0), np.zeros((0, 4))]) == [None, None, None, (0, 4)]


def test_zip_worked_by_hand():
    zipped = tree_zip(({"W": 1, "b": 2},), ({"b": 20, "W": 10},), ({"W": 100, "b": 200},))
    assert zipped == ({"W": (1, 10, 100), "b": (2, 20, 200)},)
    assert tree_zip([1, 2]) == [(1,), (2,)]


def test_global_norm_worked_by_hand():
    assert global_norm(_params()) == pytest.approx(math.sqrt(1 + 4 + 9 + 16))
    assert global_norm({"a": np.array([3.0]), "b": [np.array([[4.0, 12.0]])]}) == 13.0
    assert global_norm({"a": 3, "b": 4.0}) == 5.0  # scalar leaves count too
    assert global_norm(()) == 0.0 and global_norm([np.zeros((0, 3))]) == 0.0
    assert type(global_norm(_params())) is float


def test_global_norm_cannot_overflow_or_wrap():
    # float32 squares of 1e20 overflow float32; 1e200 squared overflows float64;
    # int8 and bool dot products wrap or saturate in their own dtype.
    assert global_norm([np.full(4, 1e20, np.float32)]) == pytest.approx(2e20, rel=1e-7)
    assert global_norm([np.array([3e200]), np.array([4e200])]) == pytest.approx(5e200, rel=1e-15)
    assert global_norm([np.array([3e-200, 4e-200])]) == pytest.approx(5e-200, rel=1e-15)
    assert global_norm([np.full(100, 100, np.int8)]) == pytest.approx(1000.0)
    assert global_norm([np.ones(9, bool)]) == 3.0
    assert global_norm([np.array([1.0, np.inf])]) == math.inf
    assert math.isnan(global_norm([np.array([np.nan, 1e300, 1e300])]))


@settings(max_examples=50, deadline=None)
@given(tree=param_trees())
def test_properties_on_generated_param_trees(tree):
    before = copy.deepcopy(tree)
    leaves = tree_leaves(tree)
    assert len(leaves) == sum(len(layer) for layer in tree)
    flat = np.concatenate([a.astype(np.float64).ravel() for a in leaves])
    assert global_norm(tree) == pytest.approx(float(np.linalg.norm(flat)), rel=1e-12)
    same = tree_map(lambda a: a, tree)
    assert _same_tree(same, tree, ordered=False) and same is not tree and same[0] is not tree[0]
    assert tree_structure(tree_map(lambda a: a[..., None], tree)) == tree_map(
        lambda a: a.shape + (1,), tree)
    doubled = tree_map(lambda a: 2 * a, tree)
    tree_check_same(tree, same, doubled)  # only the structure counts, not the leaves' values
    # tree_zip pairs leaf with leaf; its pairs are tuples, so their leaves interleave.
    zipped_leaves = tree_leaves(tree_zip(tree, doubled))
    assert all(x is y for x, y in zip(zipped_leaves[0::2], leaves))
    assert all(x is y for x, y in zip(zipped_leaves[1::2], tree_leaves(doubled)))
    assert _same_tree(tree, before)


# --- mismatched structures name both trees ---


def test_mismatched_structures_name_both():
    with pytest.raises(
        TypeError,
        match=r"^grads: expected the structure of params, \(\{'W': \*, 'b': \*\}, \{'W': \*, 'b': \*\}\)"
        r", got \(\{'W': \*\}, \{'W': \*\}\)$",
    ):
        tree_check_same(_params(), ({"W": 1}, {"W": 2}), names=("params", "grads"))


@pytest.mark.parametrize("a, b", [
    (({"W": 1},), ({"V": 1},)),          # different keys
    ((1, 2), (1, 2, 3)),                 # different lengths
    ((1, 2), [1, 2]),                    # tuple against list
    ((1, (2,)), (1, 2)),                 # node against leaf
    (State(1, (2,)), (1, (2,))),         # named tuple against plain tuple
    ({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}}),
])
def test_every_kind_of_mismatch_is_caught_by_every_entry_point(a, b):
    for call in (
        lambda: tree_check_same(a, b),
        lambda: tree_map(lambda x, y: x, a, b),
        lambda: tree_zip(a, b),
    ):
        with pytest.raises(TypeError, match=r"^arg1: expected the structure of arg0, .*, got "):
            call()
    tree_check_same(a, copy.deepcopy(a))


def test_third_tree_mismatch_names_the_third():
    with pytest.raises(TypeError, match=r"^arg2: expected the structure of arg0, \(\*,\), got \(\*, \*\)"):
        tree_map(lambda *xs: 0, (1,), (2,), (3, 4))
    with pytest.raises(TypeError, match=r"mu: expected the structure of params, \(\*,\), got \[\*\]"):
        tree_check_same((1,), (2,), [3], names=("params", "grads", "mu"))


def test_bad_helper_arguments_are_named():
    with pytest.raises(ValueError, match="^trees: expected at least one tree"):
        tree_zip()
    with pytest.raises(ValueError, match=r"^names: expected 2 names, one per tree, got 1"):
        tree_check_same((1,), (2,), names=("params",))


def test_add_scale_and_weighted_mean_worked_by_hand():
    p = _params()
    q = tree_map(lambda a: 10 * a, p)
    total = tree_add(p, q, p)
    assert total[0]["W"].tolist() == [[12.0, 24.0]] and total[1]["b"].tolist() == [0.0]
    assert list(total[0]) == ["W", "b"]  # a tuple of dicts comes back with sorted keys, like tree_map
    assert tree_scale(0.5, p)[0]["b"].tolist() == [1.5]
    # (1 * p + 3 * q) / 4 = 7.75 p
    mean = tree_weighted_mean([p, q], [1, 3])
    assert mean[0]["W"].tolist() == [[7.75, 15.5]] and mean[1]["W"].tolist() == [[31.0]]
    assert tree_weighted_mean([p, q], [0.0, 2.0])[0]["b"].tolist() == [30.0]
    twice = tree_add(State(0.5, (np.array([1.0, 2.0]),)), State(0.25, (np.array([3.0, 4.0]),)))
    assert type(twice) is State and twice.count == 0.75 and twice.mu[0].tolist() == [4.0, 6.0]


def test_add_is_left_to_right_and_keeps_the_first_trees_dtype():
    # 1 + 2**-53 + 2**-53 rounds to 1 left to right, but not when the small ones go first.
    big, small = ({"x": np.array([1.0])},), ({"x": np.array([2.0**-53])},)
    assert tree_add(big, small, small)[0]["x"][0] == 1.0
    assert tree_add(small, small, big)[0]["x"][0] == 1.0 + 2.0**-52
    f32 = ({"x": np.array([1.5], np.float32)},)
    assert tree_add(f32, big)[0]["x"].dtype == np.float32
    assert tree_scale(2, f32)[0]["x"].dtype == np.float32
    assert tree_weighted_mean([f32, f32], [1, 2])[0]["x"].dtype == np.float32


@pytest.mark.parametrize("call, error, match", [
    (lambda: tree_add(({"x": np.ones(3)},)), ValueError, r"^others: expected at least one tree"),
    (lambda: tree_add(({"x": np.ones(3)},), ({"x": np.ones((2, 3))},)), ValueError,
     r"^others\[0\]\[0\]\['x'\]: expected shape \(3,\) \(as tree\[0\]\['x'\]\), got \(2, 3\)$"),
    (lambda: tree_add(({"x": np.ones(3)},), ({"y": np.ones(3)},)), TypeError,
     r"^others\[0\]: expected the structure of tree"),
    (lambda: tree_add(({"x": np.ones(3, int)},), ({"x": np.ones(3, int)},)), TypeError,
     r"^tree\[0\]\['x'\]: expected a float array or a float, got an array of dtype int64$"),
    (lambda: tree_scale(float("nan"), (1.0,)), ValueError, r"^c: expected a finite number, got nan$"),
    (lambda: tree_scale("2", (1.0,)), TypeError, r"^c: expected a finite number, got '2'$"),
    (lambda: tree_weighted_mean([], []), ValueError, r"^trees: expected a non-empty list of trees"),
    (lambda: tree_weighted_mean([(1.0,)], [1, 2]), ValueError, r"^weights: expected one number per tree \(1\), got 2$"),
    (lambda: tree_weighted_mean([(1.0,)], [-1]), ValueError, r"^weights\[0\]: expected a finite number >= 0, got -1$"),
    (lambda: tree_weighted_mean([(1.0,)], [True]), TypeError, r"^weights\[0\]: expected a finite number >= 0"),
    (lambda: tree_weighted_mean([(1.0,), (2.0,)], [0, 0]), ValueError, r"^weights: expected at least one weight > 0"),
])
def test_bad_arithmetic_arguments_are_named(call, error, match):
    with pytest.raises(error, match=match):
        call()


# --- nothing is mutated ---


def test_no_helper_changes_its_arguments():
    tree = (State(2, ({"b": np.array([1.0, -2.0]), "W": np.eye(2)},)), [np.float32(3.0)])
    other = copy.deepcopy(tree)
    before = copy.deepcopy(tree)
    tree_map(lambda a, b: a * b, tree, other)
    tree_leaves(tree)
    tree_structure(tree)
    tree_zip(tree, other)
    tree_check_same(tree, other)
    global_norm(tree)
    floats = ({"b": np.array([1.0, -2.0]), "W": np.eye(2)}, [np.float32(3.0)])
    floats_before = copy.deepcopy(floats)
    tree_add(floats, floats, floats)
    tree_scale(3.0, floats)
    tree_weighted_mean([floats, floats], [1, 2])
    assert _same_tree(tree, before) and _same_tree(other, before) and _same_tree(floats, floats_before)
