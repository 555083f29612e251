"""Plots of what the core computes: curves, decision boundaries, gradients, digits, hidden layers.

Every function here takes plain data (a history dict, params, arrays) and returns a
:class:`matplotlib.figure.Figure`; none of them trains anything. Figures are made without
``pyplot``, so nothing is registered in a global figure manager and no display is needed: it
works the same on a headless machine (matplotlib renders with Agg when saving) as in a
notebook, which shows a returned figure as it would any other. Save with ``fig.savefig(path)``.

matplotlib comes from the ``plot`` extra (``pip install 'funcnet[plot]'``) and is imported only
when a figure is made, so ``import funcnet.plot`` itself never fails. t-SNE needs scikit-learn.

>>> import funcnet as fn
>>> history = {"epoch": [1, 2, 3], "loss": [0.9, 0.5, 0.3], "accuracy": [0.6, 0.8, 0.9]}
>>> fig = loss_curves(history)
>>> [ax.get_ylabel() for ax in fig.axes]
['loss', 'accuracy']
>>> fig.axes[0].lines[0].get_ydata().tolist()
[0.9, 0.5, 0.3]

See Also:
    funcnet.fit: returns the history these curves are drawn from.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping

import numpy as np

from . import checks
from . import random as rnd
from .losses import HEADS
from .network import Net, check_net, check_params, check_X, forward, predict_proba

__all__ = [
    "loss_curves",
    "decision_boundary",
    "grad_norm_curves",
    "grad_norm_bars",
    "digit_grid",
    "lr_finder_curve",
    "hidden_activations",
    "hidden_projection",
    "pca_2d",
]

_PLOT_EXTRA = "pip install 'funcnet[plot]'"


def _drawing(draw):
    """A figure-making function whose drawing ignores floating-point overflow: matplotlib's
    limits and log scales of extreme but finite values (1e308) overflow on the way, and it
    copes with that; a warning (an error under a strict ``np.errstate``) would only get in the way."""

    @functools.wraps(draw)
    def drawn(*args, **kwargs):
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            return draw(*args, **kwargs)

    return drawn


def _figure(figsize, dpi=100):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(f"funcnet.plot needs matplotlib, which is not installed: {_PLOT_EXTRA}") from None
    return Figure(figsize=figsize, dpi=dpi, layout="constrained")


def _check_figsize(figsize, default):
    if figsize is None:
        return default
    checks.instance(figsize, "figsize", (tuple, list), "a pair of positive numbers (inches)")
    if len(figsize) != 2:
        raise ValueError(f"figsize: expected a pair of positive numbers (inches), got {checks.show(figsize)}")
    size = tuple(checks.real(v, "figsize", low=0, low_open=True) for v in figsize)
    # The figure's pixels (at 100 dpi, RGBA) must fit one array.
    checks.size([round(min(v, 1e15) * 100) for v in size] + [4], "figsize", 1)
    return size


def _numbers(values, name: str, want: str) -> np.ndarray:
    """Numbers (a list or an array of them) as a float array; anything else a TypeError naming ``name``."""
    a = checks.array(values, name, want)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected {want}, got dtype {a.dtype}")
    with np.errstate(over="ignore"):
        return a.astype(float)


def _title(title, default: str) -> str:
    if title is None:
        return default
    return checks.instance(title, "title", str, "a string") or default


def _check_history(history, needs=("epoch", "loss")):
    checks.instance(history, "history", Mapping, "a dict of lists (fit(...).history)")
    for k in needs:
        if k not in history:
            raise ValueError(f"history: expected a {k!r} entry, got keys {sorted(history, key=repr)}")
    epochs = _numbers(history["epoch"], "history['epoch']", "a list of epoch numbers")
    if epochs.ndim != 1 or len(epochs) == 0:
        raise ValueError(f"history: expected at least one epoch, got an 'epoch' entry of shape {epochs.shape}")
    checks.finite(epochs, "history['epoch']")
    return len(epochs)


def _series(history, key: str, n: int) -> np.ndarray:
    """``history[key]``: one finite number per epoch."""
    a = _numbers(history[key], f"history[{key!r}]", "a list of numbers, one per epoch")
    if a.shape != (n,):
        raise ValueError(f"history[{key!r}]: expected {n} numbers (one per epoch), got shape {a.shape}")
    return checks.finite(a, f"history[{key!r}]")


def _class_labels(y, name="y") -> np.ndarray:
    """Integer class labels from any of the core's label forms (ints, one-hot, 0/1)."""
    y = checks.array(y, name, "class labels")
    if y.dtype.kind == "f":
        checks.finite(y, name)
    if y.dtype.kind in "iu":
        if y.ndim != 1:
            raise ValueError(f"{name}: expected integer labels of shape (n,), got {y.shape}")
        return y.astype(np.int64, copy=False)
    if y.dtype.kind in "bf":
        if y.ndim == 2 and y.shape[1] > 1:
            return np.argmax(y, axis=1)
        if y.ndim == 2:
            y = y[:, 0]
        if y.ndim == 1:
            return (y > 0.5).astype(np.int64)
    raise ValueError(f"{name}: expected integer labels (n,), one-hot rows (n, k) or 0/1 values, got "
                     f"{y.dtype} array of shape {y.shape}")


def _marker_size(n):
    return float(np.clip(6000 / n, 8, 40))


def _class_colors(k, classes=None):
    """The colour of each class ``0..k-1`` (or of just ``classes``, a dict, for large ``k``)."""
    from matplotlib import colormaps

    cmap = colormaps["tab10" if k <= 10 else "tab20"]
    if classes is not None:
        return {c: cmap(c % cmap.N) for c in classes}
    return [cmap(i % cmap.N) for i in range(k)]


# --- training curves ---


@_drawing
def loss_curves(history, *, best_epoch: int | None = None, title: str | None = None,
                log_loss: bool = False, figsize=None):
    """Loss and accuracy per epoch, training and (when present) validation.

    Args:
        history: ``fit(...).history``: ``epoch`` and ``loss`` lists, optionally ``accuracy``,
            ``val_loss`` and ``val_accuracy``.
        best_epoch: ``fit(...).best_epoch``, marked by a dotted line (None: no mark).
        title: figure title.
        log_loss: draw the loss on a log scale.
        figsize: (width, height) in inches; default (9, 3.5) with accuracy, (5, 3.5) without.

    Returns:
        A Figure with a loss axis, and an accuracy axis when the history has accuracy. Lines
        are labelled ``"train"`` and ``"validation"``, in that order.

    >>> fig = loss_curves({"epoch": [1, 2], "loss": [1.0, 0.5], "val_loss": [1.1, 0.7]})
    >>> [(line.get_label(), line.get_ydata().tolist()) for line in fig.axes[0].lines]
    [('train', [1.0, 0.5]), ('validation', [1.1, 0.7])]
    """
    n = _check_history(history)
    if best_epoch is not None:  # an epoch of the history
        checks.integer(best_epoch, "best_epoch", low=1, high=max(n, int(max(history["epoch"]))))
    log_loss = checks.boolean(log_loss, "log_loss")
    title = _title(title, "")
    has_acc = "accuracy" in history or "val_accuracy" in history
    series = {k: _series(history, k, n) for k in ("loss", "val_loss", "accuracy", "val_accuracy") if k in history}
    fig = _figure(_check_figsize(figsize, (9, 3.5) if has_acc else (5, 3.5)))
    axes = fig.subplots(1, 2 if has_acc else 1, squeeze=False)[0]
    epochs = np.asarray(history["epoch"])
    panels = [("loss", "loss", "val_loss")] + ([("accuracy", "accuracy", "val_accuracy")] if has_acc else [])
    for ax, (label, train_key, val_key) in zip(axes, panels):
        for key, name, style in ((train_key, "train", "-"), (val_key, "validation", "--")):
            if key in history:
                ax.plot(epochs, series[key], style, label=name)
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", linestyle=":", label="best epoch")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        if label == "loss" and log_loss:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return fig


@_drawing
def grad_norm_curves(history, *, title: str | None = None, figsize=(5.5, 3.5)):
    """Per-layer gradient norms over training (log scale), one line per layer.

    Args:
        history: ``fit(...).history`` with ``epoch`` and ``grad_norm`` (a list per epoch of
            per-layer norms averaged over that epoch's batches).
        title: axis title.
        figsize: ``(width, height)`` in inches, two positive numbers; ``None`` for matplotlib's
            default.

    Returns:
        A Figure with one axis; line ``i`` (label ``"layer i+1"``) plots layer ``i``'s norms.

    >>> h = {"epoch": [1, 2], "loss": [1.0, 0.5], "grad_norm": [[0.5, 2.0], [0.25, 1.0]]}
    >>> [line.get_ydata().tolist() for line in grad_norm_curves(h).axes[0].lines]
    [[0.5, 0.25], [2.0, 1.0]]

    See Also:
        grad_norm_bars: the norms at one moment, layer by layer.
    """
    _check_history(history, needs=("epoch", "grad_norm"))
    norms = _numbers(history["grad_norm"], "history['grad_norm']", "one list of per-layer norms per epoch")
    if norms.ndim != 2 or len(norms) != len(history["epoch"]) or norms.shape[1] == 0:
        raise ValueError(f"history: expected 'grad_norm' as one list of per-layer norms per epoch, "
                         f"got an array of shape {norms.shape}")
    checks.finite(norms, "history['grad_norm']")
    title = _title(title, "gradient norm per layer")
    fig = _figure(_check_figsize(figsize, None))
    ax = fig.subplots()
    epochs = np.asarray(history["epoch"])
    for i in range(norms.shape[1]):
        ax.plot(epochs, norms[:, i], label=f"layer {i + 1}")
    if np.all(norms > 0):
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("gradient norm (mean over batches)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small", ncol=1 + norms.shape[1] // 6)
    ax.set_title(title)
    return fig


@_drawing
def grad_norm_bars(norms, *, title: str | None = None, figsize=(5.5, 3.5)):
    """Per-layer gradient norms at one moment as bars on a log scale.

    Args:
        norms: a sequence of per-layer norms (e.g. ``history["grad_norm"][-1]``), or a dict
            ``{label: norms}`` of equally long sequences to compare side by side (e.g. the
            norms at initialisation of a sigmoid and a ReLU net).
        title: axis title.
        figsize: ``(width, height)`` in inches, two positive numbers; ``None`` for matplotlib's
            default.

    Returns:
        A Figure with one axis: one group of bars per layer (layer 1 = input side).

    >>> fig = grad_norm_bars({"sigmoid": [1e-4, 1e-2], "relu": [0.5, 0.4]})
    >>> [float(p.get_height()) for p in fig.axes[0].patches]
    [0.0001, 0.01, 0.5, 0.4]
    """
    series = dict(norms) if isinstance(norms, Mapping) else {"": norms}
    title = _title(title, "gradient norm per layer")
    arrays = {}
    for label, values in series.items():
        if not isinstance(label, str):
            raise TypeError(f"norms: expected series labelled by strings, got the label {checks.show(label)}")
        a = _numbers(values, f"norms[{label!r}]" if label else "norms", "a sequence of norms")
        if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)) or np.any(a < 0):
            raise ValueError(f"norms: expected a non-empty sequence of finite norms >= 0 per series, "
                             f"got {values!r:.80}")
        arrays[label] = a
    lengths = {a.size for a in arrays.values()}
    if len(lengths) != 1:
        raise ValueError(f"norms: expected series of equal length (one norm per layer), got lengths {sorted(lengths)}")
    n_layers = lengths.pop()
    fig = _figure(_check_figsize(figsize, None))
    ax = fig.subplots()
    width = 0.8 / len(arrays)
    layers = np.arange(1, n_layers + 1)
    for j, (label, a) in enumerate(arrays.items()):
        ax.bar(layers - 0.4 + width * (j + 0.5), a, width, label=label or None)
    if all(np.all(a > 0) for a in arrays.values()):
        ax.set_yscale("log")
    ax.set_xticks(layers)
    ax.set_xlabel("layer (input side first)")
    ax.set_ylabel("gradient norm")
    ax.grid(alpha=0.3, axis="y", which="both")
    if len(arrays) > 1 or next(iter(arrays)):
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the axis: bars fill it
    ax.set_title(title)
    return fig


@_drawing
def lr_finder_curve(lrs, losses, suggestion=None, *, title: str | None = None, figsize=(5.5, 3.5)):
    """The learning-rate range test: loss against learning rate (log x), suggestion marked.

    Args:
        lrs: (m,) increasing positive learning rates tried.
        losses: (m,) loss observed at each rate (non-finite values are left out of the line).
        suggestion: the suggested rate, drawn as a vertical line, or ``None``.
        title: axis title.
        figsize: ``(width, height)`` in inches, two positive numbers; ``None`` for matplotlib's
            default.

    Returns:
        A Figure with one axis: the loss curve, and the suggestion as a labelled vertical line.

    >>> fig = lr_finder_curve([1e-3, 1e-2, 1e-1], [2.3, 1.9, 5.0], suggestion=1e-2)
    >>> fig.axes[0].lines[0].get_xdata().tolist(), fig.axes[0].get_xscale()
    ([0.001, 0.01, 0.1], 'log')
    """
    lrs = _numbers(lrs, "lrs", "a 1-D array of positive rates")
    losses = _numbers(losses, "losses", "one loss per rate")
    title = _title(title, "learning-rate finder")
    if lrs.ndim != 1 or lrs.size == 0 or not np.all(np.isfinite(lrs)) or np.any(lrs <= 0):
        raise ValueError(f"lrs: expected a non-empty 1-D array of positive rates, got shape {lrs.shape}")
    if losses.shape != lrs.shape:
        raise ValueError(f"losses: expected shape {lrs.shape} (one per rate), got {losses.shape}")
    if suggestion is not None:
        suggestion = checks.real(suggestion, "suggestion", low=0, low_open=True)
        # lr_find suggests a rate it tried, or a tenth of one when the loss only rose
        if not lrs.min() / 10 <= suggestion <= lrs.max():
            raise ValueError(f"suggestion: expected a rate between a tenth of the lowest rate tried "
                             f"({lrs.min() / 10:g}) and the highest ({lrs.max():g}), got {suggestion:g}")
    fig = _figure(_check_figsize(figsize, None))
    ax = fig.subplots()
    ok = np.isfinite(losses)
    ax.plot(lrs[ok], losses[ok], label="loss")
    ax.set_xscale("log")
    if ok.any():
        # The blow-up at the end would flatten everything else: show it only as far as
        # half the range the loss covered on its way down to its minimum.
        y = losses[ok]
        lo, hi = float(y.min()), float(y[: int(np.argmin(y)) + 1].max())
        top = hi + 0.5 * max(hi - lo, 0.05 * abs(hi) + 1e-12)
        if y.max() > top:
            ax.set_ylim(lo - 0.05 * (top - lo), top)
    if suggestion is not None:
        s = float(suggestion)
        ax.axvline(s, color="C3", linestyle="--", label=f"suggestion {s:.2g}")
        if ok.sum() >= 1 and lrs[ok][0] <= s <= lrs[ok][-1]:
            at = np.interp(np.log(s), np.log(lrs[ok]), losses[ok])
            ax.plot([s], [at], "o", color="C3")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    ax.set_title(title)
    return fig


# --- a trained classifier on its data ---


@_drawing
def decision_boundary(net: Net, params, X, y, *, stats=None, resolution: int = 200,
                      margin: float = 0.1, title: str | None = None, figsize=(5, 4.5)):
    """Decision regions of a classifier with 2 inputs, its data drawn on top.

    With two classes (a softmax with 2 outputs, or a sigmoid with 1), the background is
    P(class 1) shaded from blue (0) to red (1) with the 0.5 contour in black; with more
    classes, each region takes its class's colour, paler where the net is less sure.

    Args:
        net: a classifier with ``net.sizes[0] == 2``.
        params: its params.
        X: (n, 2) points to draw; they also set the plotted range.
        y: their labels: ints (n,), one-hot (n, k) or 0/1.
        stats: batch-norm running statistics (when ``net.batchnorm``).
        resolution: grid points per axis.
        margin: fraction of the data's range added on each side.
        title: axis title.
        figsize: ``(width, height)`` in inches, two positive numbers; ``None`` for matplotlib's
            default.

    Returns:
        A Figure with one axis (plus a colour bar with two classes).

    >>> import funcnet as fn
    >>> net = fn.Net((2, 4, 2), dtype="float64")
    >>> X, y = np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([0, 1])
    >>> fig = decision_boundary(net, fn.init(fn.random.key(0), net), X, y, resolution=20)
    >>> fig.axes[0].collections[-1].get_offsets().tolist()
    [[0.0, 0.0], [1.0, 1.0]]
    """
    head = HEADS[check_net(net).output]
    if net.sizes[0] != 2:
        raise ValueError(f"net: decision_boundary needs a net with 2 inputs, got sizes {net.sizes}")
    if not head.classifies:
        raise ValueError(f"net: decision_boundary needs a classifier, got output={net.output!r}")
    check_params(net, params)
    X = check_X(net, X)
    labels = _class_labels(y)
    if len(labels) != len(X):
        raise ValueError(f"y: expected {len(X)} labels (one per row of X), got {len(labels)}")
    k_out = max(net.sizes[-1], 2)
    if labels.min() < 0 or labels.max() >= k_out:
        raise ValueError(f"y: expected class labels in [0, {k_out - 1}], got values in [{labels.min()}, {labels.max()}]")
    resolution = checks.integer(resolution, "resolution", low=2)
    checks.size((resolution * resolution, max(2, net.sizes[-1])), "resolution")  # the grid's probabilities
    margin = checks.real(margin, "margin", low=0)
    title = _title(title, "decision boundary")

    lo, hi = X.min(axis=0).astype(float), X.max(axis=0).astype(float)
    # The least range and padding grow with the coordinates' size: a 1e-6 would vanish beside 1e20.
    scale = np.maximum(1.0, np.maximum(np.abs(lo), np.abs(hi)))
    pad = np.maximum(hi - lo, 1e-6 * scale) * margin + 1e-6 * scale
    gx = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    gy = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    if not (np.isfinite(gx).all() and np.isfinite(gy).all()):  # (drawn under a quiet np.errstate)
        raise ValueError(f"X, margin: expected points and a margin whose plotted range fits float64, got "
                         f"points in [{lo.min():g}, {hi.max():g}] and margin={margin!r}")
    xx, yy = np.meshgrid(gx, gy)
    grid = np.column_stack([xx.ravel(), yy.ravel()]).astype(net.dtype)
    proba = predict_proba(net, params, grid, stats=stats).astype(float)

    k = max(net.sizes[-1], 2)
    colors = _class_colors(k)
    fig = _figure(_check_figsize(figsize, None))
    ax = fig.subplots()
    if net.sizes[-1] <= 2:
        p1 = (proba[:, 0] if net.sizes[-1] == 1 else proba[:, 1]).reshape(xx.shape)
        cs = ax.contourf(xx, yy, p1, levels=np.linspace(0, 1, 21), cmap="RdBu_r", alpha=0.8)
        ax.contour(xx, yy, p1, levels=[0.5], colors="k", linewidths=1.5)
        fig.colorbar(cs, ax=ax, label="P(class 1)", ticks=[0, 0.25, 0.5, 0.75, 1])
        colors = ["#2166ac", "#b2182b"]
    else:
        pred = proba.argmax(axis=1)
        conf = proba.max(axis=1)
        rgba = np.array([colors[c] for c in range(k)])[pred]
        rgba[:, 3] = 0.15 + 0.55 * (conf - 1 / k) / (1 - 1 / k)
        ax.imshow(rgba.reshape(*xx.shape, 4), origin="lower", aspect="auto",
                  extent=(gx[0], gx[-1], gy[0], gy[-1]), interpolation="nearest")
        ax.contour(xx, yy, pred.reshape(xx.shape), levels=np.arange(k - 1) + 0.5, colors="k",
                   linewidths=0.8)
    point_colors = [colors[c] for c in labels]
    # White rims show points on the two-class shading; dark rims on the class-coloured regions.
    edge = "white" if net.sizes[-1] <= 2 else "black"
    ax.scatter(X[:, 0], X[:, 1], c=point_colors, s=_marker_size(len(X)), edgecolors=edge, linewidths=0.5)
    ax.set_xlim(gx[0], gx[-1])
    ax.set_ylim(gy[0], gy[-1])
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title)
    return fig


@_drawing
def digit_grid(images, y_true, y_pred, *, image_shape=None, cols: int = 10,
               title: str | None = None, figsize=None):
    """A grid of images with their predicted and true labels; mistakes framed and titled in red.

    Args:
        images: (n, h*w) rows (square images unless ``image_shape`` says otherwise) or (n, h, w).
        y_true: (n,) true labels (or one-hot rows).
        y_pred: (n,) predicted labels (e.g. ``funcnet.predict(net, params, images)``).
        image_shape: ``(h, w)`` of one image when the rows are flat and not square.
        cols: images per row.
        title: figure title; default says how many of the shown images are wrong.
        figsize: default 1 inch per image (plus room for the labels).

    Returns:
        A Figure with one axis per image; each axis title is ``"pred P / true T"``.

    >>> fig = digit_grid(np.zeros((3, 64)), [1, 2, 3], [1, 2, 0], cols=3)
    >>> [ax.get_title() for ax in fig.axes]
    ['pred 1 / true 1', 'pred 2 / true 2', 'pred 0 / true 3']
    """
    images = checks.array(images, "images", "a numeric array (n, h*w) or (n, h, w)")
    if images.dtype.kind not in "biuf" or images.ndim not in (2, 3) or 0 in images.shape:
        raise ValueError(f"images: expected a non-empty numeric array (n, h*w) or (n, h, w), got "
                         f"{images.dtype} array of shape {images.shape}")
    n = len(images)
    if images.ndim == 2:
        if image_shape is None:
            side = int(round(np.sqrt(images.shape[1])))
            if side * side != images.shape[1]:
                raise ValueError(f"image_shape: rows of {images.shape[1]} values are not square "
                                 f"images; pass image_shape=(h, w)")
            image_shape = (side, side)
        checks.instance(image_shape, "image_shape", (tuple, list), "a pair (h, w)")
        if len(image_shape) != 2 or math.prod(checks.integer(d, "image_shape", low=1) for d in image_shape) != images.shape[1]:
            raise ValueError(f"image_shape: expected (h, w) with h*w == {images.shape[1]}, got {image_shape!r}")
        image_shape = tuple(int(d) for d in image_shape)
        images = images.reshape(n, *image_shape)
    true = _class_labels(y_true, "y_true")
    pred = _class_labels(y_pred, "y_pred")
    for name, a in (("y_true", true), ("y_pred", pred)):
        if len(a) != n:
            raise ValueError(f"{name}: expected {n} labels (one per image), got {len(a)}")
    cols = min(checks.integer(cols, "cols", low=1), n)
    rows = -(-n // cols)
    if title is not None:
        checks.instance(title, "title", str, "a string")
    fig = _figure(_check_figsize(figsize, (1.0 * cols, 1.15 * rows + 0.4)))
    axes = fig.subplots(rows, cols, squeeze=False)
    wrong = pred != true
    for i, ax in enumerate(axes.ravel()):
        if i >= n:
            ax.remove()
            continue
        ax.imshow(images[i], cmap="gray_r", interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        color = "C3" if wrong[i] else "black"
        ax.set_title(f"pred {pred[i]} / true {true[i]}", fontsize=7, color=color)
        for spine in ax.spines.values():
            spine.set_color(color)
            spine.set_linewidth(2.5 if wrong[i] else 0.5)
    fig.suptitle(title or f"{int(wrong.sum())} of these {n} wrong (red)")
    return fig


# --- hidden representations ---


def hidden_activations(net: Net, params, X, *, layer: int, stats=None) -> np.ndarray:
    """The output of layer ``layer`` in evaluation mode (no dropout, running batch-norm stats).

    Layers count from 0 on the input side; a hidden layer's output is ``act(h W + b)`` (with
    batch norm in place of ``+ b`` where the net has it), and the last layer's is the logits.

    Args:
        net, params, X, stats: as for :func:`funcnet.forward`.
        layer: in ``[0, net.n_layers - 1]``; negative values count from the end.

    Returns:
        (n, net.sizes[layer + 1]) array, X's float dtype.

    >>> import funcnet as fn
    >>> net = fn.Net((2, 3, 2), activation="relu", dtype="float64")
    >>> params = ({"W": np.array([[1.0, -1.0, 0.0], [0.0, 1.0, 2.0]]), "b": np.zeros(3)},
    ...           {"W": np.ones((3, 2)), "b": np.zeros(2)})
    >>> hidden_activations(net, params, np.array([[1.0, 0.5]]), layer=0)
    array([[1., 0., 1.]])
    >>> hidden_activations(net, params, np.array([[1.0, 0.5]]), layer=-1)
    array([[2., 2.]])
    """
    return forward(net, params, X, stats=stats, layer=layer)


def pca_2d(H) -> np.ndarray:
    """Project rows onto their first two principal components (centred, by SVD).

    Each component's sign is chosen so that its largest-magnitude loading is positive (the
    convention of scikit-learn's PCA), so the result is deterministic. With a single feature
    the second coordinate is 0.

    Args:
        H: (n, d) array, n >= 1.

    Returns:
        (n, 2) float64 coordinates.

    >>> pca_2d(np.array([[0.0, 0.0], [2.0, 0.0], [4.0, 0.0]]))
    array([[-2.,  0.],
           [ 0.,  0.],
           [ 2.,  0.]])
    """
    H = checks.matrix(H, "H").astype(np.float64)  # finite, non-empty, 2-D
    with np.errstate(over="ignore", invalid="ignore"):
        C = H - H.mean(axis=0)
    if not checks.all_finite(C):
        raise ValueError(f"H: expected values whose mean and spread fit float64, got values up to {np.abs(H).max():g}")
    _, _, vt = np.linalg.svd(C, full_matrices=False)
    vt = vt[:2]
    signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])
    signs[signs == 0] = 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        Z = C @ (vt * signs[:, None]).T
    if not checks.all_finite(Z):
        raise ValueError(f"H: expected values whose projection fits float64, got values up to {np.abs(H).max():g}")
    if Z.shape[1] < 2:
        Z = np.column_stack([Z, np.zeros(len(Z))])
    return Z


def _tsne_2d(H, key, perplexity):
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        raise ImportError(
            "funcnet.plot.hidden_projection: t-SNE needs scikit-learn, which is not installed: "
            "pip install scikit-learn (or use methods=('pca',))"
        ) from None
    n = len(H)
    # scikit-learn requires perplexity < n_samples; ~n/3 keeps tiny sets meaningful.
    perplexity = min(float(perplexity), max(1.0, (n - 1) / 3))
    seed = int(rnd.generator(key).integers(2**31 - 1))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    # Affinities of far-apart points underflow to 0 inside t-SNE, by design (numpy ignores
    # underflow by default); a caller that made underflow raise should not break it.
    with np.errstate(under="ignore"):
        return tsne.fit_transform(np.asarray(H, dtype=np.float64))


@_drawing
def hidden_projection(net: Net, params, X, y, *, layer: int = -2, methods=("pca", "tsne"),
                      key: rnd.Key | None = None, stats=None, perplexity: float = 30.0,
                      title: str | None = None, figsize=None):
    """A layer's activations projected to 2-D (PCA, t-SNE), one point per sample, coloured by class.

    Args:
        net, params, X, stats: as for :func:`funcnet.forward`.
        y: the samples' labels: ints (n,), one-hot (n, k) or 0/1.
        layer: which layer's output (see :func:`hidden_activations`); default ``-2``, the
            last hidden layer (for a net without hidden layers, pass ``-1``: the logits).
        methods: any of ``"pca"`` (NumPy SVD) and ``"tsne"`` (scikit-learn), one panel each.
        key: a :class:`funcnet.random.Key` seeding scikit-learn's t-SNE (required with
            ``"tsne"``); the same key gives the same picture. t-SNE starts from a PCA
            layout, so the picture hardly depends on which key.
        perplexity: t-SNE's perplexity (lowered automatically for very small sets).
        title: figure title.
        figsize: default 4.5 x 4.2 inches per panel.

    Returns:
        A Figure with one axis per method; each axis holds one scatter per class, labelled
        with the class, whose points are the projected rows of that class.

    >>> import funcnet as fn
    >>> net = fn.Net((3, 4, 2), dtype="float64")
    >>> X = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 0.0], [2.0, 2.0, 1.0]])
    >>> fig = hidden_projection(net, fn.init(fn.random.key(0), net), X, [0, 1, 1], methods=("pca",))
    >>> [c.get_label() for c in fig.axes[0].collections]
    ['class 0', 'class 1']

    See Also:
        hidden_activations, pca_2d
    """
    if isinstance(methods, str):
        methods = (methods,)
    if not isinstance(methods, (tuple, list)) and not hasattr(methods, "__next__"):
        raise TypeError(f"methods: expected a selection of 'pca' and 'tsne', got {checks.show(methods)}")
    methods = tuple(methods)
    if not methods or any(m not in ("pca", "tsne") for m in methods):
        raise ValueError(f"methods: expected a non-empty selection of 'pca' and 'tsne', got {methods!r}")
    checks.key(key, required="tsne" in methods)
    perplexity = checks.real(perplexity, "perplexity", low=0, low_open=True)
    if title is not None:
        checks.instance(title, "title", str, "a string")
    H = hidden_activations(net, params, X, layer=layer, stats=stats)
    labels = _class_labels(y)
    if len(labels) != len(H):
        raise ValueError(f"y: expected {len(H)} labels (one per row of X), got {len(labels)}")
    n_layers = net.n_layers
    layer_index = int(layer) % n_layers
    what = "logits" if layer_index == n_layers - 1 else f"hidden layer {layer_index + 1}"

    fig = _figure(_check_figsize(figsize, (4.5 * len(methods), 4.2)))
    axes = fig.subplots(1, len(methods), squeeze=False)[0]
    classes = np.unique(labels)
    colors = _class_colors(int(classes.max()) + 1, [int(c) for c in classes])
    for ax, method in zip(axes, methods):
        Z = pca_2d(H) if method == "pca" else _tsne_2d(H, key, perplexity)
        for c in classes:
            sel = labels == c
            ax.scatter(Z[sel, 0], Z[sel, 1], s=_marker_size(len(Z)), color=colors[c], label=f"class {c}")
        ax.set_title("PCA" if method == "pca" else "t-SNE")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[-1].legend(fontsize="small", markerscale=2, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(title or f"{what} ({H.shape[1]} units) of {len(H)} samples")
    return fig
