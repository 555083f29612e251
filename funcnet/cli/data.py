"""The data of a run: read or generated from its settings, split, and keys from its seed."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import datasets as ds
from .. import random as rnd
from .config import GENERATED_DATASETS, SHAPES, UsageError

__all__ = ["run_keys", "load_data", "Data"]


def run_keys(seed: int) -> dict:
    """The run's keys, derived from its seed: data, split, init, fit, plots."""
    return dict(zip(("data", "split", "init", "fit", "plot"), rnd.split(rnd.key(seed), 5)))


class Data(NamedTuple):
    """A run's data: what it trains on, what it validates on (or None), and the test set."""

    X: np.ndarray
    y: np.ndarray
    validation: tuple | None
    X_test: np.ndarray
    y_test: np.ndarray


def load_data(cfg: dict) -> Data:
    """The dataset of a run, split, in the run's dtype.

    Generated datasets are drawn from the run's seed and split 80/20 by a seeded permutation;
    ``xor`` (four points) is its own test set; digits and the IDX datasets come split. Then
    ``val_fraction`` of the training data is held out for validation (seeded). The IDX images
    are split as bytes and scaled to [0, 1] afterwards, so no more than one float copy of the
    training images is ever held.

    Raises:
        UsageError: when the data cannot be read (e.g. a wrong ``data_dir``).

    >>> from funcnet.cli.config import resolve_config
    >>> d = load_data(resolve_config({"dataset": "xor"}))
    >>> d.X.shape, d.X_test.shape, d.X.dtype, d.validation
    ((4, 2), (4, 2), dtype('float32'), None)
    """
    name = cfg["dataset"]
    keys = run_keys(cfg["seed"])
    dt = np.dtype(cfg["dtype"])
    scale = None
    if name == "xor":
        X, y = ds.xor()
        Xtr, Xte, ytr, yte = X, X, y, y
    elif name in GENERATED_DATASETS:
        make = getattr(ds, name.replace("-", "_"))
        # n_samples counts all points; spirals() takes points per arm.
        n = cfg["n_samples"] // 2 if name == "spirals" else cfg["n_samples"]
        try:
            X, y = make(n, key=keys["data"])
        except (TypeError, ValueError) as e:  # e.g. more points than an array can hold
            raise UsageError(f"n_samples: {e}") from None
        perm = rnd.permutation(keys["split"], len(X))
        n_test = max(1, round(0.2 * len(X)))
        test, train = perm[:n_test], perm[n_test:]
        Xtr, Xte, ytr, yte = X[train], X[test], y[train], y[test]
    elif name == "digits":
        Xtr, Xte, ytr, yte = ds.digits()
    else:
        loader = ds.mnist if name == "mnist" else ds.fashion_mnist
        try:
            Xtr, Xte, ytr, yte = loader(cfg["data_dir"], dtype=np.uint8)
        except FileNotFoundError as e:
            raise UsageError(str(e)) from None  # already names data_dir and the files expected
        except (OSError, ValueError) as e:
            raise UsageError(f"data_dir: cannot read {name} from {cfg['data_dir']!r} ({e})") from None
        classes = SHAPES[name][1]
        if max(ytr.max(), yte.max()) >= classes:
            raise UsageError(f"data_dir: {cfg['data_dir']!r} holds labels up to {max(ytr.max(), yte.max())}; "
                             f"{name} has {classes} classes (0 to {classes - 1})")
        scale = ds.scale_images
    fit_part, validation = _split(cfg, Xtr, ytr)
    del Xtr  # the parts are copies: let the whole go before the floats are made

    def floats(X):
        return scale(X, dt) if scale is not None else X.astype(dt, copy=False)

    X, y = fit_part
    if validation is not None:
        validation = (floats(validation[0]), validation[1])
    return Data(floats(X), y, validation, floats(Xte), yte)


def _split(cfg: dict, Xtr, ytr):
    """Hold out ``val_fraction`` of the training data (seeded), or none: ``((X, y), validation)``."""
    frac = cfg["val_fraction"]
    n_val = int(round(frac * len(Xtr)))
    if frac == 0 or n_val < 1 or n_val >= len(Xtr):
        return (Xtr, ytr), None
    perm = rnd.permutation(rnd.fold_in(run_keys(cfg["seed"])["split"], 1), len(Xtr))
    val, train = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    return (Xtr[train], ytr[train]), (Xtr[val], ytr[val])
