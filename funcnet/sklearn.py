"""scikit-learn estimators around funcnet's pure functions: ``MLPClassifier``, ``MLPRegressor``.

An edge: it imports the core and scikit-learn (a test dependency, not a run-time one); the
core never imports it. The estimators hold hyper-parameters in ``__init__`` and nothing else;
``fit`` validates with scikit-learn's helpers, builds a :class:`funcnet.Net`, calls
:func:`funcnet.fit` and keeps the plain results (``params_``, ``stats_``, ``history_``).

Parameters carry scikit-learn's names where the meaning is the same (``max_iter``,
``learning_rate_init``, ``alpha``, ``n_iter_no_change``, ``warm_start``...; README has the
table). ``random_state`` takes what :func:`sklearn.utils.check_random_state` takes; unlike
scikit-learn's own MLP, ``None`` means seed 0, so every fit is reproducible. The run's keys
are ``split(key(seed), 3)`` (init, shuffling and dropout, the validation split).
``partial_fit`` runs one epoch on the data it is given and keeps the optimizer state between
calls; ``warm_start`` starts ``fit`` from the last fit's params with a new optimizer.

>>> from funcnet.sklearn import MLPClassifier
>>> import numpy as np
>>> X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]] * 8, dtype=float)
>>> y = np.array([0, 1, 1, 0] * 8)
>>> clf = MLPClassifier(hidden_layer_sizes=(8,), activation="tanh", optimizer="adam",
...                     learning_rate_init=0.05, max_iter=200, batch_size=8).fit(X, y)
>>> clf.predict(X[:4]).tolist(), clf.score(X, y)
([0, 1, 1, 0], 1.0)
"""

from __future__ import annotations

import contextlib
import numbers

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.preprocessing import LabelEncoder
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets, unique_labels
    from sklearn.utils.validation import check_array, check_is_fitted, validate_data
except ImportError as e:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError(
        "funcnet.sklearn needs scikit-learn: pip install 'funcnet[test]' or pip install scikit-learn"
    ) from e

from . import checks, optim
from . import random as rnd
from .network import Net, forward, init, predict_proba
from .optim.base import check_lr
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


def _targets_checked(y) -> None:
    try:
        check_classification_targets(y)
    except ValueError as e:
        raise ValueError(f"y: {e}") from None


@contextlib.contextmanager
def _as_estimator_names():
    """A schedule checked later, inside fit, is the optimizer's ``lr``: here it is ours."""
    try:
        yield
    except (TypeError, ValueError) as e:
        if str(e).startswith("lr: "):
            raise type(e)(f"learning_rate_init: {str(e)[4:]}") from None
        raise


OPTIMIZERS = {
    "sgd": optim.sgd,
    "momentum": optim.momentum,
    "nesterov": optim.nesterov,
    "rmsprop": optim.rmsprop,
    "adam": optim.adam,
    "adamw": optim.adamw,
}


def _seed(random_state) -> int:
    """A seed from what ``check_random_state`` accepts; None is seed 0 (reproducible)."""
    if random_state is None:
        return 0
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, (bool, np.bool_)):
        return checks.integer(random_state, "random_state", low=0)
    try:
        rs = check_random_state(random_state)
    except ValueError:
        raise TypeError(f"random_state: expected None, an integer >= 0 or a numpy RandomState, "
                        f"got {checks.show(random_state)}") from None
    return int(rs.randint(np.iinfo(np.int32).max))  # as scikit-learn's estimators draw a seed


class _Base(BaseEstimator):
    _output = "softmax"

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", optimizer="adam",
                 learning_rate_init=1e-3, max_iter=200, batch_size=32, alpha=1e-4, dropout=0.0,
                 batchnorm=False, early_stopping=False, validation_fraction=0.1, n_iter_no_change=10,
                 random_state=None, warm_start=False, dtype=None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.alpha = alpha
        self.dropout = dropout
        self.batchnorm = batchnorm
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.warm_start = warm_start
        self.dtype = dtype

    def _settings(self):
        """The hyper-parameters checked under their own names: what fit passes to the core."""
        hidden = self.hidden_layer_sizes
        hidden = (hidden,) if isinstance(hidden, numbers.Integral) else hidden
        checks.instance(hidden, "hidden_layer_sizes", (tuple, list, np.ndarray), "a sequence of layer widths")
        if isinstance(hidden, np.ndarray) and hidden.ndim != 1:  # array-like, as scikit-learn's own MLP takes
            raise ValueError(f"hidden_layer_sizes: expected a 1-D sequence of layer widths, got {checks.show(hidden)}")
        return dict(
            hidden=tuple(checks.integer(h, "hidden_layer_sizes", low=1) for h in hidden),
            optimizer=OPTIMIZERS[checks.choice(self.optimizer, "optimizer", OPTIMIZERS)](
                check_lr(self.learning_rate_init, "learning_rate_init")),
            max_iter=checks.integer(self.max_iter, "max_iter", low=1),
            batch_size=_batch_size(self.batch_size),
            alpha=checks.real(self.alpha, "alpha", low=0),
            early_stopping=checks.boolean(self.early_stopping, "early_stopping"),
            validation_fraction=checks.real(self.validation_fraction, "validation_fraction", low=0,
                                            high=1, low_open=True, high_open=True),
            n_iter_no_change=checks.integer(self.n_iter_no_change, "n_iter_no_change", low=1),
            warm_start=checks.boolean(self.warm_start, "warm_start"),
            seed=_seed(self.random_state),
        )

    def _fit(self, X, Y, *, incremental: bool):
        s = self._settings()
        k_init, k_fit, k_split = rnd.split(rnd.key(s["seed"]), 3)
        going_on = hasattr(self, "params_") and (incremental or s["warm_start"])
        if not going_on:
            # dtype follows the data (float32 stays float32) unless the caller asks otherwise.
            self.dtype_ = (X.dtype if self.dtype is None else checks.float_dtype(self.dtype)).name
            # scikit-learn's name for the sigmoid; the other names are funcnet's own.
            activation = "sigmoid" if isinstance(self.activation, str) and self.activation == "logistic" \
                else self.activation
            self.net_ = Net((X.shape[1], *s["hidden"], Y.shape[1] if Y.ndim == 2 else self._n_out),
                            activation=activation, output=self._output, dtype=self.dtype_,
                            dropout=self.dropout, batchnorm=self.batchnorm)
            self._result = None
        X = X.astype(self.dtype_, copy=False)
        if Y.dtype.kind == "f":
            Y = Y.astype(self.dtype_, copy=False)
        # scikit-learn's alpha is the L2 penalty of the summed loss, alpha/2 ||W||^2 / n_samples
        # with the mean loss; funcnet's l2 applies to the mean loss directly.
        l2 = s["alpha"] / len(X)
        if s["batch_size"] == "auto":  # scikit-learn's rule
            s["batch_size"] = min(200, len(X))
        common = dict(key=k_fit, optimizer=s["optimizer"], batch_size=min(s["batch_size"], len(X)), l2=l2)
        with _as_estimator_names():
            result = self._run(X, Y, s, common, k_init, k_split, incremental, going_on)
        self._result = result
        self.params_, self.stats_, self.history_ = result.params, result.stats, result.history
        self.best_epoch_ = result.best_epoch
        self.loss_curve_ = list(result.history["loss"])
        self.n_iter_ = len(self.loss_curve_)
        return self

    def _run(self, X, Y, s, common, k_init, k_split, incremental, going_on):
        if incremental:  # one more epoch, the optimizer state and schedules going on
            start = self._result if self._result is not None else init(k_init, self.net_)
            done = self._result.state.epoch if self._result is not None else 0
            result = fit_net(self.net_, start, X, Y, epochs=done + 1, **common)
        else:
            start = self.params_ if going_on else init(k_init, self.net_)
            validation, patience = None, None
            if s["early_stopping"]:
                perm = rnd.permutation(k_split, len(X))
                n_val = max(1, int(round(s["validation_fraction"] * len(X))))
                if n_val >= len(X):
                    raise ValueError(f"validation_fraction: {s['validation_fraction']} of {len(X)} samples "
                                     f"leaves none to train on")
                X, Y, validation = X[perm[n_val:]], Y[perm[n_val:]], (X[perm[:n_val]], Y[perm[:n_val]])
                patience = s["n_iter_no_change"]
                common["batch_size"] = min(s["batch_size"], len(X))
            result = fit_net(self.net_, start, X, Y, epochs=s["max_iter"], validation=validation,
                             patience=patience, stats=self.stats_ if going_on else None, **common)
        return result

    def _logits(self, X):
        """Check fitted and validate ``X`` for prediction, in the net's dtype."""
        check_is_fitted(self, "params_")
        X = _validated(self, X)
        return X.astype(self.dtype_, copy=False)


def _batch_size(value):
    """An integer >= 1 or scikit-learn's ``"auto"``."""
    if isinstance(value, str):
        if value != "auto":
            raise ValueError(f"batch_size: expected 'auto' or an integer >= 1, got {checks.show(value)}")
        return value
    return checks.integer(value, "batch_size", low=1)


_DOC_ARGS = """
    Args:
        hidden_layer_sizes: widths of the hidden layers.
        activation: hidden activation, a key of ``funcnet.ACTIVATIONS`` or scikit-learn's
            ``"logistic"`` (the sigmoid).
        optimizer: ``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"rmsprop"``, ``"adam"``, ``"adamw"``.
        learning_rate_init: the optimizer's rate.
        max_iter: epochs (passes over the data) of ``fit``.
        batch_size: samples per step (clipped to the data), or scikit-learn's ``"auto"``:
            ``min(200, n_samples)``. The default is funcnet's 32, not ``"auto"``.
        alpha: L2 penalty, scikit-learn's meaning: ``alpha/2 ||W||^2`` added to the summed loss.
        dropout, batchnorm: as in :class:`funcnet.Net`.
        early_stopping: hold out ``validation_fraction`` and stop after ``n_iter_no_change``
            epochs without improvement of the validation loss, keeping the best params
            (``fit`` only; ``partial_fit`` trains on all it is given).
        random_state: None (seed 0), an integer seed, or a numpy ``RandomState``.
        warm_start: ``fit`` starts from the params of the last fit (with a new optimizer).
        dtype: ``"float32"`` or ``"float64"``; ``None`` follows the training data.
"""


class MLPClassifier(ClassifierMixin, _Base):
    __doc__ = """A funcnet MLP as a scikit-learn classifier (softmax output, cross-entropy).
    """ + _DOC_ARGS + """
    Attributes:
        classes_, params_, stats_, history_, best_epoch_ (with early stopping), loss_curve_,
        n_iter_, net_, n_features_in_.

    >>> from sklearn.datasets import load_iris
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.02, max_iter=100).fit(X, y)
    >>> clf.score(X, y) > 0.95, clf.predict_proba(X[:2]).shape
    (True, (2, 3))
    """

    def fit(self, X, y):
        """Train on ``X`` (n, d) and labels ``y`` (n,); returns ``self``."""
        going_on = self.warm_start is True and hasattr(self, "params_")
        X, y = _validated(self, X, y, reset=not going_on)
        _targets_checked(y)
        if not going_on:
            self._set_classes(unique_labels(y))
        return self._fit(X, self._codes(y), incremental=False)

    def partial_fit(self, X, y, classes=None):
        """One epoch on ``X`` and ``y``; the first call must name every class in ``classes``.

        The optimizer state (Adam's moments, a schedule's step count) goes on from call to
        call, as one ``fit`` over the same batches would.
        """
        first = not hasattr(self, "params_")
        X, y = _validated(self, X, y, reset=first)
        _targets_checked(y)
        if first:
            if classes is None:
                raise ValueError("classes: the first call to partial_fit needs every class, got None")
            self._set_classes(unique_labels(np.asarray(classes)))
        elif classes is not None and not np.array_equal(unique_labels(np.asarray(classes)), self.classes_):
            raise ValueError(f"classes: expected the classes of the first call, {self.classes_.tolist()}, "
                             f"got {np.asarray(classes).tolist()}")
        return self._fit(X, self._codes(y), incremental=True)

    def _set_classes(self, classes):
        self._encoder = LabelEncoder().fit(classes)
        self.classes_ = self._encoder.classes_
        # One class or two both train a 2-unit softmax: a single class still gets a valid net.
        self._n_out = max(2, len(self.classes_))

    def _codes(self, y):
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(f"y: expected labels among {self.classes_.tolist()}, got {unknown.tolist()}")
        return self._encoder.transform(y)

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
    __doc__ = """A funcnet MLP as a scikit-learn regressor (identity output, mean squared error).

    ``y`` of shape (n,) trains one output and predicts (n,); (n, k) trains k outputs.
    """ + _DOC_ARGS + """
    >>> X = np.linspace(-2, 2, 200)[:, None]
    >>> reg = MLPRegressor(hidden_layer_sizes=(32,), activation="tanh", learning_rate_init=0.01,
    ...                    max_iter=300, alpha=0.0).fit(X, np.sin(X[:, 0]))
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
        going_on = self.warm_start is True and hasattr(self, "params_")
        return self._fit(*self._targets(X, y, reset=not going_on), incremental=False)

    def partial_fit(self, X, y):
        """One epoch on ``X`` and ``y``, the optimizer state going on from call to call."""
        return self._fit(*self._targets(X, y, reset=not hasattr(self, "params_")), incremental=True)

    def _targets(self, X, y, reset: bool):
        X, y = _validated(self, X, y, multi_output=True, y_numeric=True, reset=reset)
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        if reset:
            self._y_1d, self._n_out = y.ndim == 1, Y.shape[1]
        elif Y.shape[1] != self._n_out:
            raise ValueError(f"y: expected {self._n_out} target columns, as before, got {Y.shape[1]}")
        return X, Y

    def predict(self, X):
        """Predicted values: (n,) for a 1-D target, else (n, k)."""
        X = self._logits(X)
        z = forward(self.net_, self.params_, X, stats=self.stats_)
        return z[:, 0] if self._y_1d else z
