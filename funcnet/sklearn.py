"""scikit-learn estimators around funcnet's pure functions: ``MLPClassifier``, ``MLPRegressor``.

An edge: it imports the core and scikit-learn (a test dependency, not a run-time one); the
core never imports it. The estimators hold hyper-parameters in ``__init__`` and nothing else;
``fit`` validates with scikit-learn's helpers, builds a :class:`funcnet.Net`, calls
:func:`funcnet.fit` with ``key(random_state)``, and keeps the plain results (``params_``,
``stats_``, ``history_``). Unlike scikit-learn's own MLP, ``random_state=None`` means seed 0:
funcnet never draws from global randomness, so every fit is reproducible.

>>> from funcnet.sklearn import MLPClassifier
>>> import numpy as np
>>> X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]] * 8, dtype=float)
>>> y = np.array([0, 1, 1, 0] * 8)
>>> clf = MLPClassifier(hidden_layer_sizes=(8,), activation="tanh", optimizer="adam",
...                     learning_rate=0.05, epochs=200, batch_size=8).fit(X, y)
>>> clf.predict(X[:4]).tolist(), clf.score(X, y)
([0, 1, 1, 0], 1.0)
"""

from __future__ import annotations

import numbers

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.preprocessing import LabelEncoder
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_array, check_is_fitted, validate_data
except ImportError as e:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError(
        "funcnet.sklearn needs scikit-learn: pip install 'funcnet[test]' or pip install scikit-learn"
    ) from e

from . import checks, optim
from .network import Net, forward, init, predict_proba
from .random import key as make_key
from .random import permutation
from .train import fit as fit_net

__all__ = ["MLPClassifier", "MLPRegressor"]

_FLOATS = [np.float64, np.float32]


_NO_Y = object()


def _validated(estimator, X, y=_NO_Y, **kw):
    """scikit-learn's ``validate_data`` (of ``X`` for prediction, or ``X`` and ``y`` to fit),
    its errors naming the argument they are about."""
    try:
        if y is _NO_Y:
            return validate_data(estimator, X, reset=False, dtype=_FLOATS)
        return validate_data(estimator, X, y, dtype=_FLOATS, **kw)
    except (TypeError, ValueError, OverflowError) as e:  # OverflowError: an int beyond float
        name = "X"
        if y is not _NO_Y:
            try:
                check_array(X, dtype=_FLOATS)
                name = "y"  # X alone passes: the targets, or how they fit X
                check_array(y, ensure_2d=False, dtype=None)
                name = "X, y"  # each passes alone: they do not fit together
            except (TypeError, ValueError, OverflowError):
                pass
        raise (ValueError if isinstance(e, OverflowError) else type(e))(f"{name}: {e}") from None

OPTIMIZERS = {
    "sgd": optim.sgd,
    "momentum": optim.momentum,
    "nesterov": optim.nesterov,
    "rmsprop": optim.rmsprop,
    "adam": optim.adam,
    "adamw": optim.adamw,
}


class _Base(BaseEstimator):
    _output = "softmax"

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", optimizer="adam",
                 learning_rate=1e-3, epochs=200, batch_size=32, alpha=1e-4, dropout=0.0,
                 batchnorm=False, early_stopping=False, validation_fraction=0.1, patience=10,
                 random_state=None, dtype=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.alpha = alpha
        self.dropout = dropout
        self.batchnorm = batchnorm
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.dtype = dtype

    def _check_params(self):
        hidden = self.hidden_layer_sizes
        hidden = (hidden,) if isinstance(hidden, numbers.Integral) else hidden
        checks.instance(hidden, "hidden_layer_sizes", (tuple, list, np.ndarray), "a sequence of layer widths")
        if isinstance(hidden, np.ndarray) and hidden.ndim != 1:  # array-like, as scikit-learn's own MLP takes
            raise ValueError(f"hidden_layer_sizes: expected a 1-D sequence of layer widths, got {checks.show(hidden)}")
        hidden = tuple(checks.integer(h, "hidden_layer_sizes", low=1) for h in hidden)
        checks.choice(self.optimizer, "optimizer", OPTIMIZERS)
        checks.integer(self.epochs, "epochs", low=1)
        checks.integer(self.batch_size, "batch_size", low=1)
        checks.real(self.validation_fraction, "validation_fraction", low=0, high=1, low_open=True, high_open=True)
        checks.boolean(self.early_stopping, "early_stopping")
        seed = checks.integer(0 if self.random_state is None else self.random_state, "random_state", low=0)
        return hidden, seed

    def _fit(self, X, Y):
        hidden, seed = self._check_params()
        # dtype follows the data (float32 stays float32) unless the caller asks otherwise.
        self.dtype_ = (X.dtype if self.dtype is None else checks.float_dtype(self.dtype)).name
        X = X.astype(self.dtype_, copy=False)
        if Y.dtype.kind == "f":
            Y = Y.astype(self.dtype_, copy=False)
        self.net_ = Net((X.shape[1], *hidden, Y.shape[1] if Y.ndim == 2 else self._n_out),
                        activation=self.activation, output=self._output, dtype=self.dtype_,
                        dropout=self.dropout, batchnorm=self.batchnorm)
        k_init, k_fit, k_split = make_key(seed), make_key(seed + 1), make_key(seed + 2)
        params = init(k_init, self.net_)
        validation, Xt, Yt = None, X, Y
        if self.early_stopping:
            perm = permutation(k_split, len(X))
            n_val = max(1, int(round(self.validation_fraction * len(X))))
            Xt, Yt = X[perm[n_val:]], Y[perm[n_val:]]
            validation = (X[perm[:n_val]], Y[perm[:n_val]])
        result = fit_net(self.net_, params, Xt, Yt, key=k_fit,
                         optimizer=OPTIMIZERS[self.optimizer](self.learning_rate),
                         epochs=self.epochs, batch_size=min(self.batch_size, len(Xt)), l2=self.alpha,
                         validation=validation, patience=self.patience if self.early_stopping else None)
        self.params_, self.stats_, self.history_ = result.params, result.stats, result.history
        self.best_epoch_ = result.best_epoch
        self.loss_curve_ = list(result.history["loss"])
        self.n_iter_ = len(self.loss_curve_)
        return self

    def _logits(self, X):
        """Check fitted and validate ``X`` for prediction, in the net's dtype."""
        check_is_fitted(self, "params_")
        X = _validated(self, X)
        return X.astype(self.dtype_, copy=False)


class MLPClassifier(ClassifierMixin, _Base):
    """A funcnet MLP as a scikit-learn classifier (softmax output, cross-entropy).

    Args:
        hidden_layer_sizes: widths of the hidden layers.
        activation: hidden activation (a key of ``funcnet.ACTIVATIONS``).
        optimizer: ``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"rmsprop"``, ``"adam"``, ``"adamw"``.
        learning_rate: the optimizer's rate.
        epochs: passes over the data.
        batch_size: samples per step (clipped to the data).
        alpha: L2 penalty on the weights.
        dropout, batchnorm: as in :class:`funcnet.Net`.
        early_stopping: hold out ``validation_fraction`` and stop after ``patience`` epochs
            without improvement, keeping the best params.
        random_state: seed of the key (``None`` means 0).
        dtype: ``"float32"`` or ``"float64"``; ``None`` follows the training data.

    Attributes:
        classes_, params_, stats_, history_, best_epoch_ (with early stopping), loss_curve_,
        n_iter_, net_, n_features_in_.

    >>> from sklearn.datasets import load_iris
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(16,), learning_rate=0.02, epochs=100).fit(X, y)
    >>> clf.score(X, y) > 0.95, clf.predict_proba(X[:2]).shape
    (True, (2, 3))
    """

    def fit(self, X, y):
        """Train on ``X`` (n, d) and labels ``y`` (n,); returns ``self``."""
        X, y = _validated(self, X, y)
        try:
            check_classification_targets(y)
        except ValueError as e:
            raise ValueError(f"y: {e}") from None
        self._encoder = LabelEncoder().fit(y)
        self.classes_ = self._encoder.classes_
        codes = self._encoder.transform(y)
        # One class or two both train a 2-unit softmax: a single class still gets a valid net.
        self._n_out = max(2, len(self.classes_))
        return self._fit(X, codes)

    def predict_proba(self, X):
        """Class probabilities, (n, n_classes)."""
        X = self._logits(X)
        p = predict_proba(self.net_, self.params_, X, stats=self.stats_)
        return p[:, : len(self.classes_)] if len(self.classes_) > 1 else np.ones((len(p), 1), p.dtype)

    def predict(self, X):
        """Predicted labels, (n,), in the classes' own values."""
        X = self._logits(X)
        z = forward(self.net_, self.params_, X, stats=self.stats_)
        return self.classes_[np.argmax(z[:, : len(self.classes_)], axis=1)]


class MLPRegressor(RegressorMixin, _Base):
    """A funcnet MLP as a scikit-learn regressor (identity output, mean squared error).

    ``y`` of shape (n,) trains one output and predicts (n,); (n, k) trains k outputs.

    >>> X = np.linspace(-2, 2, 200)[:, None]
    >>> reg = MLPRegressor(hidden_layer_sizes=(32,), activation="tanh", learning_rate=0.01,
    ...                    epochs=300, alpha=0.0).fit(X, np.sin(X[:, 0]))
    >>> reg.score(X, np.sin(X[:, 0])) > 0.95
    True
    """

    _output = "identity"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # (n, k) targets train k outputs
        return tags

    def fit(self, X, y):
        """Train on ``X`` (n, d) and targets ``y`` (n,) or (n, k); returns ``self``."""
        X, y = _validated(self, X, y, multi_output=True, y_numeric=True)
        self._y_1d = y.ndim == 1
        Y = y.reshape(-1, 1) if self._y_1d else y
        self._n_out = Y.shape[1]
        return self._fit(X, Y)

    def predict(self, X):
        """Predicted values: (n,) for a 1-D target, else (n, k)."""
        X = self._logits(X)
        z = forward(self.net_, self.params_, X, stats=self.stats_)
        return z[:, 0] if self._y_1d else z
