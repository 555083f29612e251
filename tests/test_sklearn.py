"""The scikit-learn adapter: scikit-learn's own estimator checks, and real learning."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import funcnet as fn
from funcnet.sklearn import MLPClassifier, MLPRegressor

FAST = dict(hidden_layer_sizes=(8,), max_iter=5, batch_size=16, learning_rate_init=0.01)


# Ten epochs: with five, seed 0 happened to leave the regressor below the checks' R^2 > 0.5.
@parametrize_with_checks([MLPClassifier(**{**FAST, "max_iter": 10}), MLPRegressor(**{**FAST, "max_iter": 10})])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_classifier_learns_digits_and_repeats_bit_for_bit():
    Xtr, Xte, ytr, yte = fn.datasets.digits()
    clf = MLPClassifier(hidden_layer_sizes=(128,), optimizer="sgd", learning_rate_init=0.1, max_iter=30,
                        alpha=0.0, random_state=3).fit(Xtr, ytr)
    assert clf.score(Xte, yte) >= 0.95
    again = MLPClassifier(hidden_layer_sizes=(128,), optimizer="sgd", learning_rate_init=0.1, max_iter=30,
                          alpha=0.0, random_state=3).fit(Xtr, ytr)
    assert all(np.array_equal(a, b) for a, b in zip(fn.tree_leaves(clf.params_), fn.tree_leaves(again.params_)))
    np.testing.assert_array_equal(clf.predict_proba(Xte), again.predict_proba(Xte))
    assert len(clf.loss_curve_) == clf.n_iter_ == 30 and clf.history_["loss"] == clf.loss_curve_


def test_works_in_pipelines_cross_validation_and_grid_search():
    Xtr, _, ytr, _ = fn.datasets.digits()
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(32,), max_iter=10, learning_rate_init=0.01))
    scores = cross_val_score(pipe, Xtr[:600], ytr[:600], cv=3)
    assert scores.mean() > 0.85
    grid = GridSearchCV(MLPClassifier(max_iter=5, hidden_layer_sizes=(16,)), {"learning_rate_init": [1e-3, 1e-2]}, cv=2)
    grid.fit(Xtr[:400], ytr[:400])
    assert grid.best_params_["learning_rate_init"] in (1e-3, 1e-2)


def test_string_labels_early_stopping_and_regression():
    X, y = fn.datasets.moons(300, key=fn.random.key(0))
    labels = np.array(["left", "right"])[y]
    clf = MLPClassifier(hidden_layer_sizes=(32, 32), learning_rate_init=0.01, max_iter=300, early_stopping=True,
                        n_iter_no_change=20).fit(X, labels)
    assert set(clf.predict(X)) <= {"left", "right"} and clf.score(X, labels) > 0.95
    assert clf.n_iter_ < 300 and 1 <= clf.best_epoch_ < clf.n_iter_
    Xr = np.linspace(-2, 2, 200)[:, None]
    reg = MLPRegressor(hidden_layer_sizes=(32,), activation="tanh", learning_rate_init=0.01, max_iter=300, alpha=0.0)
    reg.fit(Xr, np.sin(Xr[:, 0]))
    assert reg.predict(Xr).shape == (200,) and reg.score(Xr, np.sin(Xr[:, 0])) > 0.95
    reg2 = MLPRegressor(hidden_layer_sizes=(16,), max_iter=5).fit(Xr, np.column_stack([Xr[:, 0], -Xr[:, 0]]))
    assert reg2.predict(Xr).shape == (200, 2)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(hidden_layer_sizes=(0,)), ValueError, r"^hidden_layer_sizes: expected an integer >= 1, got 0"),
    (dict(optimizer="lbfgs"), ValueError, r"^optimizer: expected one of"),
    (dict(max_iter=0), ValueError, r"^max_iter: expected an integer >= 1, got 0"),
    (dict(max_iter=2.0), TypeError, r"^max_iter: expected an integer >= 1, got 2.0"),
    (dict(random_state=-1), ValueError, r"^random_state: expected an integer >= 0, got -1"),
    (dict(random_state="x"), TypeError, r"^random_state: expected None, an integer >= 0 or a numpy RandomState"),
    (dict(activation="swish"), ValueError, r"^activation: expected one of"),
    (dict(batch_size="big"), ValueError, r"^batch_size: expected 'auto' or an integer >= 1, got 'big'"),
    # scikit-learn's names in the messages, not funcnet's (lr, l2, patience):
    (dict(learning_rate_init=-1.0), ValueError, r"^learning_rate_init: expected a finite number > 0, got -1.0"),
    (dict(alpha=-1.0), ValueError, r"^alpha: expected a finite number >= 0, got -1.0"),
    (dict(n_iter_no_change=0), ValueError, r"^n_iter_no_change: expected an integer >= 1, got 0"),
    (dict(warm_start="yes"), TypeError, r"^warm_start: expected True or False"),
])
def test_bad_hyper_parameters_are_named_at_fit(kwargs, error, match):
    clf = MLPClassifier(**kwargs)  # scikit-learn convention: __init__ only stores
    with pytest.raises(error, match=match):
        clf.fit(np.zeros((4, 2)), np.array([0, 1, 0, 1]))


def test_scikit_learns_logistic_and_auto_batch_size_mean_what_they_mean_there():
    X, y = fn.datasets.moons(300, key=fn.random.key(0))
    a = MLPClassifier(**{**FAST, "activation": "logistic", "batch_size": "auto"}).fit(X, y)
    b = MLPClassifier(**{**FAST, "activation": "sigmoid", "batch_size": 200}).fit(X, y)
    assert a.net_.activation == "sigmoid"
    assert all(np.array_equal(p, q) for p, q in zip(fn.tree_leaves(a.params_), fn.tree_leaves(b.params_)))
    # "auto" is min(200, n_samples): on 50 samples one full batch a step, as batch_size=50.
    c = MLPClassifier(**{**FAST, "batch_size": "auto"}).fit(X[:50], y[:50])
    d = MLPClassifier(**{**FAST, "batch_size": 50}).fit(X[:50], y[:50])
    assert all(np.array_equal(p, q) for p, q in zip(fn.tree_leaves(c.params_), fn.tree_leaves(d.params_)))


def test_random_state_takes_what_check_random_state_takes_and_none_repeats():
    X, y = fn.datasets.moons(60, key=fn.random.key(0))
    a = MLPClassifier(**FAST).fit(X, y)
    b = MLPClassifier(**FAST).fit(X, y)
    assert all(np.array_equal(p, q) for p, q in zip(fn.tree_leaves(a.params_), fn.tree_leaves(b.params_)))
    c = MLPClassifier(**FAST, random_state=np.random.RandomState(5)).fit(X, y)
    d = MLPClassifier(**FAST, random_state=np.random.RandomState(5)).fit(X, y)
    assert all(np.array_equal(p, q) for p, q in zip(fn.tree_leaves(c.params_), fn.tree_leaves(d.params_)))
    # Seeds 1 and 2 use unrelated keys: no seed's shuffling key is another's init key.
    k1, k2 = fn.random.split(fn.random.key(1), 3), fn.random.split(fn.random.key(2), 3)
    assert not set(k1) & set(k2)


def test_partial_fit_is_fit_epoch_by_epoch_with_the_optimizer_state_going_on():
    X, y = fn.datasets.moons(120, key=fn.random.key(0))
    whole = MLPClassifier(**{**FAST, "max_iter": 4}, optimizer="adam").fit(X, y)
    parts = MLPClassifier(**{**FAST, "max_iter": 4}, optimizer="adam")
    for i in range(4):
        parts.partial_fit(X, y, classes=[0, 1] if i == 0 else None)
    assert parts.n_iter_ == 4 and parts.history_ == whole.history_
    assert all(np.array_equal(p, q) for p, q in zip(fn.tree_leaves(parts.params_), fn.tree_leaves(whole.params_)))
    with pytest.raises(ValueError, match="^classes: the first call to partial_fit needs every class"):
        MLPClassifier(**FAST).partial_fit(X, y)
    with pytest.raises(ValueError, match=r"^y: expected labels among \[0, 1\], got \[2\]"):
        parts.partial_fit(X[:3], np.array([0, 1, 2]))
    reg = MLPRegressor(**FAST)
    for _ in range(3):
        reg.partial_fit(X, X[:, 0])
    assert reg.n_iter_ == 3 and reg.predict(X).shape == (120,)


def test_warm_start_starts_fit_from_the_last_params():
    X, y = fn.datasets.moons(120, key=fn.random.key(0))
    clf = MLPClassifier(**FAST, warm_start=True).fit(X, y)
    first = clf.params_
    clf.fit(X, y)
    cold = MLPClassifier(**FAST).fit(X, y)
    assert clf.n_iter_ == 5 and not np.array_equal(clf.params_[0]["W"], first[0]["W"])
    assert not np.array_equal(clf.params_[0]["W"], cold.params_[0]["W"])  # went on from `first`
    assert clf.score(X, y) >= cold.score(X, y) - 0.05
