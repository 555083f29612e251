"""What a run shows and draws: progress while it trains, plots of the finished run."""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

import numpy as np

from .. import network
from .config import IMAGE_SHAPES

__all__ = ["duration", "progress", "importable", "write_plots"]


def duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _epoch_line(record, epochs, seconds):
    parts = [f"epoch {record['epoch']:>{len(str(epochs))}}/{epochs}", f"loss {record['loss']:.4f}"]
    for key, label in (("accuracy", "acc"), ("val_loss", "val_loss"), ("val_accuracy", "val_acc")):
        if key in record:
            parts.append(f"{label} {record[key]:.4f}")
    parts.append(f"({duration(seconds)})")
    return "  ".join(parts)


def progress(epochs: int, quiet: bool, verbose: bool, done: int = 0):
    """A ``fit`` callback that reports progress, and a function that closes it.

    A tqdm bar on stderr when it is a terminal (and tqdm is installed); one line per epoch
    on stdout with ``--verbose``, or as the fallback on a terminal without tqdm; nothing with
    ``--quiet`` or when nobody is watching.
    """
    if quiet:
        return None, lambda: None
    bar = None
    if sys.stderr.isatty():
        try:
            from tqdm import tqdm
        except ImportError:
            verbose = True
        else:
            bar = tqdm(total=epochs, initial=done, unit="epoch", file=sys.stderr, dynamic_ncols=True, leave=True)
    if bar is None and not verbose:
        return None, lambda: None
    last = [time.perf_counter()]

    def callback(record):
        now = time.perf_counter()
        seconds, last[0] = now - last[0], now
        if verbose:
            line = _epoch_line(record, epochs, seconds)
            if bar is not None:
                bar.write(line, file=sys.stdout)
            else:
                print(line, flush=True)
        if bar is not None:
            post = {"loss": f"{record['loss']:.4f}"}
            if "accuracy" in record:
                post["acc"] = f"{record['accuracy']:.3f}"
            if "val_accuracy" in record:
                post["val_acc"] = f"{record['val_accuracy']:.3f}"
            bar.set_postfix(post, refresh=False)
            bar.update(1)

    return callback, (bar.close if bar is not None else (lambda: None))


def importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def write_plots(folder: Path, cfg, net, result, data, key, *, tsne: bool = False) -> list:
    """Draw the plots that fit the run's dataset into ``folder``; return the file names.

    The hidden layer is drawn by PCA, which is quick; t-SNE, far slower on a thousand points,
    only when asked for.
    """
    from .. import plot

    Xtr, Xte, ytr, yte = data.X, data.X_test, data.y, data.y_test
    params, stats, history = result.params, result.stats, result.history
    written = []

    def save(fig, name):
        fig.savefig(folder / name)
        written.append(name)

    name = cfg["dataset"]
    save(plot.loss_curves(history, best_epoch=result.best_epoch,
                          title=f"{name}: {'-'.join(map(str, net.sizes))} {net.activation}"),
         "loss.png")
    save(plot.grad_norm_curves(history), "grad_norms.png")
    save(plot.grad_norm_bars(history["grad_norm"][-1],
                             title=f"gradient norm per layer, epoch {history['epoch'][-1]}"),
         "grad_norm_bars.png")
    if net.sizes[0] == 2:
        X = np.concatenate([Xtr, Xte]) if name != "xor" else Xte
        y = np.concatenate([ytr, yte]) if name != "xor" else yte
        save(plot.decision_boundary(net, params, X, y, stats=stats, title=f"{name}: decision boundary"),
             "decision_boundary.png")
    if name in IMAGE_SHAPES:
        pred = network.predict(net, params, Xte, stats=stats)
        idx = _grid_indices(pred, yte)
        n_wrong = int(np.count_nonzero(pred[idx] != yte[idx]))
        save(plot.digit_grid(Xte[idx], yte[idx], pred[idx], image_shape=IMAGE_SHAPES[name],
                             title=f"{len(idx)} test images, {n_wrong} of them wrong (red): "
                                   f"test accuracy {np.mean(pred == yte):.3f}"),
             "digits.png")
    if net.n_layers > 1:
        m = min(len(Xte), 1000)
        # t-SNE needs scikit-learn, and says nothing about a handful of points.
        methods = ("pca", "tsne") if tsne and m >= 20 and importable("sklearn.manifold") else ("pca",)
        save(plot.hidden_projection(net, params, Xte[:m], yte[:m], layer=-2, methods=methods,
                                    key=key, stats=stats),
             "hidden.png")
    return written


def _grid_indices(pred, y, n=40, max_wrong=10):
    """Up to ``n`` test samples in order, including the first ``max_wrong`` mistakes."""
    wrong = np.flatnonzero(pred != y)[:max_wrong]
    right = np.flatnonzero(pred == y)[: n - len(wrong)]
    return np.sort(np.concatenate([wrong, right]))
