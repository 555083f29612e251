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

FAST = dict(hidden_layer_sizes=(8,), epochs=5, batch_size=16, learning_rate=0.01)


@parametrize_with_checks([MLPClassifier(**FAST), MLPRegressor(**FAST)])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_classifier_learns_digits_and_repeats_bit_for_bit():
    Xtr, Xte, ytr, yte = fn.datasets.digits()
    clf = MLPClassifier(hidden_layer_sizes=(128,), optimizer="sgd", learning_rate=0.1, epochs=30,
                        alpha=0.0, random_state=3).fit(Xtr, ytr)
    assert clf.score(Xte, yte) >= 0.95
    again = MLPClassifier(hidden_layer_sizes=(128,), optimizer="sgd", learning_rate=0.1, epochs=30,
                          alpha=0.0, random_state=3).fit(Xtr, ytr)
    assert all(np.array_equal(a, b) for a, b in zip(fn.tree_leaves(clf.params_), fn.tree_leaves(again.params_)))
    np.testing.assert_array_equal(clf.predict_proba(Xte), again.predict_proba(Xte))
    assert len(clf.loss_curve_) == clf.n_iter_ == 30 and clf.history_["loss"] == clf.loss_curve_


def test_works_in_pipelines_cross_validation_and_grid_search():
    Xtr, _, ytr, _ = fn.datasets.digits()
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(32,), epochs=10, learning_rate=0.01))
    scores = cross_val_score(pipe, Xtr[:600], ytr[:600], cv=3)
    assert scores.mean() > 0.85
    grid = GridSearchCV(MLPClassifier(epochs=5, hidden_layer_sizes=(16,)), {"learning_rate": [1e-3, 1e-2]}, cv=2)
    grid.fit(Xtr[:400], ytr[:400])
    assert grid.best_params_["learning_rate"] in (1e-3, 1e-2)


def test_string_labels_early_stopping_and_regression():
    X, y = fn.datasets.moons(300, key=fn.random.key(0))
    labels = np.array(["left", "right"])[y]
    clf = MLPClassifier(hidden_layer_sizes=(32, 32), learning_rate=0.01, epochs=300, early_stopping=True,
                        patience=20).fit(X, labels)
    assert set(clf.predict(X)) <= {"left", "right"} and clf.score(X, labels) > 0.95
    assert clf.n_iter_ < 300 and 1 <= clf.best_epoch_ < clf.n_iter_
    Xr = np.linspace(-2, 2, 200)[:, None]
    reg = MLPRegressor(hidden_layer_sizes=(32,), activation="tanh", learning_rate=0.01, epochs=300, alpha=0.0)
    reg.fit(Xr, np.sin(Xr[:, 0]))
    assert reg.predict(Xr).shape == (200,) and reg.score(Xr, np.sin(Xr[:, 0])) > 0.95
    reg2 = MLPRegressor(hidden_layer_sizes=(16,), epochs=5).fit(Xr, np.column_stack([Xr[:, 0], -Xr[:, 0]]))
    assert reg2.predict(Xr).shape == (200, 2)


@pytest.mark.parametrize("kwargs, match", [
    (dict(hidden_layer_sizes=(0,)), "hidden_layer_sizes"),
    (dict(optimizer="lbfgs"), "optimizer"),
    (dict(epochs=0), "epochs"),
    (dict(random_state=-1), "random_state"),
    (dict(activation="swish"), "activation"),
    (dict(learning_rate=-1.0), "lr"),
])
def test_bad_hyper_parameters_are_named_at_fit(kwargs, match):
    clf = MLPClassifier(**kwargs)  # scikit-learn convention: __init__ only stores
    with pytest.raises(ValueError, match=match):
        clf.fit(np.zeros((4, 2)), np.array([0, 1, 0, 1]))
