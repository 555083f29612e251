"""Tree helpers: hand-worked results, structure errors naming both trees, nothing mutated."""

from __future__ import annotations

import numpy as np
import pytest

from funcnet.tree import global_norm, tree_check_same, tree_leaves, tree_map, tree_structure, tree_zip


def _params():
    return ({"W": np.array([[1.0, 2.0]]), "b": np.array([3.0])}, {"W": np.array([[4.0]]), "b": np.array([0.0])})


def test_map_leaves_structure_zip_and_norm():
    p = _params()
    doubled = tree_map(lambda a: 2 * a, p)
    assert doubled[0]["W"].tolist() == [[2.0, 4.0]] and doubled[1]["b"].tolist() == [0.0]
    assert [a.tolist() for a in tree_leaves(p)] == [[[1.0, 2.0]], [3.0], [[4.0]], [0.0]]
    assert tree_structure(p) == ({"W": (1, 2), "b": (1,)}, {"W": (1, 1), "b": (1,)})
    summed = tree_map(lambda a, b: a + b, p, doubled)
    assert summed[0]["b"].tolist() == [9.0]
    assert tree_zip(p, doubled)[1]["W"][1].tolist() == [[8.0]]
    assert global_norm(p) == pytest.approx(np.sqrt(1 + 4 + 9 + 16))
    assert p[0]["W"].tolist() == [[1.0, 2.0]]  # unchanged


def test_dict_keys_are_visited_sorted():
    assert tree_leaves({"b": 2, "a": 1, "c": [3, (4,)]}) == [1, 2, 3, 4]
    assert tree_map(lambda x: x, [1, (2, 3)]) == [1, (2, 3)]


def test_mismatched_structures_name_both():
    with pytest.raises(TypeError, match=r"params has \(\{'W': \*, 'b': \*\}.* but grads has \(\{'W': \*\}"):
        tree_check_same(_params(), ({"W": 1}, {"W": 2}), names=("params", "grads"))
    with pytest.raises(TypeError, match="tree structures differ"):
        tree_map(lambda a, b: a, _params(), _params()[:1])
    with pytest.raises(ValueError, match="at least one tree"):
        tree_zip()
