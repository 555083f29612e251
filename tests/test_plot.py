"""funcnet.plot: every figure renders to a real PNG of the expected size and plots the data given.

Figures are checked for the numbers they draw (line data, bar heights, scatter offsets, the
0.5 contour), never for pixels.
"""

from __future__ import annotations

import copy
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funcnet as fn
from funcnet import plot
from funcnet.testing import nets

matplotlib = pytest.importorskip("matplotlib")
from matplotlib.image import imread  # noqa: E402

DPI = 40


def _blobs(n=120, k=2, seed=0, dtype=np.float64):
    """k Gaussian blobs in 2-D around the corners of a square, labels 0..k-1."""
    a, b = fn.random.split(fn.random.key(seed))
    y = fn.random.generator(a).integers(0, k, n)
    centres = np.array([[-1.0, -1.0], [1.0, 1.0], [-1.0, 1.0], [1.0, -1.0]])[:k]
    X = centres[y] + 0.35 * fn.random.normal(b, (n, 2))
    return X.astype(dtype), y


def _fit(net, X, y, epochs=30, **kw):
    return fn.fit(net, fn.init(fn.random.key(1), net), X, y, key=fn.random.key(2),
                  optimizer=fn.optim.sgd(0.3), epochs=epochs, batch_size=16, **kw)


@pytest.fixture(scope="module")
def trained():
    X, y = _blobs()
    Xv, yv = _blobs(40, seed=5)
    net = fn.Net((2, 8, 8, 2), activation="tanh", dtype="float64")
    r = _fit(net, X, y, validation=(Xv, yv), patience=50)
    return net, r, X, y


def _png_size(path):
    """(width, height) from the PNG header, after checking the file decodes as an image."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    pixels = imread(path)
    assert pixels.shape[:2] == (h, w) and pixels.std() > 0  # decodes, and is not blank
    return w, h


def _assert_png(fig, tmp_path, name="fig.png"):
    path = tmp_path / name
    fig.savefig(path, dpi=DPI)
    w, h = fig.get_size_inches()
    assert _png_size(path) == (round(w * DPI), round(h * DPI))


# --- training curves ---


def test_loss_curves_plot_the_history(trained, tmp_path):
    _, r, _, _ = trained
    h = r.history
    before = copy.deepcopy(h)
    fig = plot.loss_curves(h, best_epoch=r.best_epoch, title="blobs", figsize=(8, 3))
    _assert_png(fig, tmp_path)
    loss_ax, acc_ax = fig.axes
    lines = {line.get_label(): line for line in loss_ax.lines}
    np.testing.assert_array_equal(lines["train"].get_xdata(), h["epoch"])
    np.testing.assert_array_equal(lines["train"].get_ydata(), h["loss"])
    np.testing.assert_array_equal(lines["validation"].get_ydata(), h["val_loss"])
    np.testing.assert_array_equal(lines["best epoch"].get_xdata(), [r.best_epoch] * 2)
    acc = {line.get_label(): line.get_ydata() for line in acc_ax.lines}
    np.testing.assert_array_equal(acc["train"], h["accuracy"])
    np.testing.assert_array_equal(acc["validation"], h["val_accuracy"])
    assert h == before  # the history is not touched


def test_loss_curves_regression_history_has_one_axis(tmp_path):
    h = {"epoch": [1, 2, 3], "loss": [3.0, 2.0, 1.5]}
    fig = plot.loss_curves(h, log_loss=True)
    _assert_png(fig, tmp_path)
    assert len(fig.axes) == 1 and fig.axes[0].get_yscale() == "log"
    assert fig.get_size_inches().tolist() == [5.0, 3.5]


def test_grad_norm_curves_one_line_per_layer(trained, tmp_path):
    _, r, _, _ = trained
    fig = plot.grad_norm_curves(r.history)
    _assert_png(fig, tmp_path)
    ax = fig.axes[0]
    norms = np.array(r.history["grad_norm"])
    assert [line.get_label() for line in ax.lines] == ["layer 1", "layer 2", "layer 3"]
    for i, line in enumerate(ax.lines):
        np.testing.assert_array_equal(line.get_ydata(), norms[:, i])
    assert ax.get_yscale() == "log"


def test_grad_norm_bars_heights_and_groups(tmp_path):
    fig = plot.grad_norm_bars([0.5, 0.05, 0.005], title="epoch 3")
    _assert_png(fig, tmp_path)
    ax = fig.axes[0]
    assert [float(p.get_height()) for p in ax.patches] == [0.5, 0.05, 0.005]
    assert ax.get_yscale() == "log" and ax.get_title() == "epoch 3"
    fig = plot.grad_norm_bars({"sigmoid": [1e-5, 1e-3], "relu": [0.3, 0.4]})
    heights = [float(p.get_height()) for p in fig.axes[0].patches]
    centres = [p.get_x() + p.get_width() / 2 for p in fig.axes[0].patches]
    assert heights == [1e-5, 1e-3, 0.3, 0.4]
    # Bars of one layer sit side by side around its tick: layer 1 at x = 1, layer 2 at x = 2.
    np.testing.assert_allclose(centres, [0.8, 1.8, 1.2, 2.2])
    with pytest.raises(ValueError, match="norms: expected series of equal length"):
        plot.grad_norm_bars({"a": [1.0], "b": [1.0, 2.0]})
    with pytest.raises(ValueError, match="norms: expected a non-empty sequence"):
        plot.grad_norm_bars([1.0, -2.0])


def test_lr_finder_curve_drops_non_finite_and_marks_the_suggestion(tmp_path):
    lrs = np.logspace(-4, 0, 9)
    losses = np.array([2.3, 2.2, 2.0, 1.6, 1.0, 0.7, 0.9, 4.0, np.inf])
    fig = plot.lr_finder_curve(lrs, losses, suggestion=1e-2)
    _assert_png(fig, tmp_path)
    curve, vline, dot = fig.axes[0].lines
    np.testing.assert_array_equal(curve.get_xdata(), lrs[:8])
    np.testing.assert_array_equal(curve.get_ydata(), losses[:8])
    assert vline.get_xdata()[0] == 1e-2 and vline.get_label() == "suggestion 0.01"
    # 1e-2 is lrs[4] exactly: the dot sits on the curve at loss 1.0.
    assert dot.get_ydata()[0] == pytest.approx(1.0)
    assert fig.axes[0].get_xscale() == "log"
    # The blow-up to 4.0 is cut off: the axis shows the fall from 2.3 to 0.7 with half its
    # range as headroom, top = 2.3 + 0.5 * (2.3 - 0.7) = 3.1.
    assert fig.axes[0].get_ylim()[1] == pytest.approx(3.1)
    assert len(plot.lr_finder_curve(lrs, losses).axes[0].lines) == 1
    with pytest.raises(ValueError, match="losses: expected shape"):
        plot.lr_finder_curve(lrs, losses[:3])
    with pytest.raises(ValueError, match=r"suggestion: expected a finite number > 0, got -1.0 \(float\)"):
        plot.lr_finder_curve(lrs, losses, suggestion=-1.0)


# --- decision boundaries ---


def _contour_vertices(ax):
    """Vertices of the single-level 0.5 contour (the line drawn on top of the shading)."""
    lines = [c for c in ax.collections if type(c).__name__ == "QuadContourSet" and len(c.levels) == 1]
    assert len(lines) == 1 and lines[0].levels[0] == 0.5
    return np.concatenate([p.vertices for p in lines[0].get_paths() if len(p.vertices)])


@pytest.mark.parametrize("output,k", [("softmax", 2), ("sigmoid", 1)])
def test_decision_boundary_two_classes(output, k, tmp_path):
    X, y = _blobs()
    net = fn.Net((2, 8, k), activation="tanh", output=output, dtype="float64")
    r = _fit(net, X, y)
    Xc = X.copy()
    fig = plot.decision_boundary(net, r.params, X, y, resolution=60)
    _assert_png(fig, tmp_path)
    ax = fig.axes[0]
    points = ax.collections[-1]
    np.testing.assert_array_equal(points.get_offsets(), X)
    # Points are coloured by their class: two colours, split exactly as the labels are.
    colors = points.get_facecolors()
    assert len(np.unique(colors, axis=0)) == 2
    assert np.array_equal(colors[y == 0][0], colors[y == 0][-1])
    # The black contour is where the net says 0.5: check it with the net itself.
    verts = _contour_vertices(ax)
    p = fn.predict_proba(net, r.params, verts)
    p1 = p[:, 0] if k == 1 else p[:, 1]
    np.testing.assert_allclose(p1, 0.5, atol=0.08)
    assert np.array_equal(X, Xc)
    assert fig.axes[1].get_ylabel() == "P(class 1)"


def test_decision_boundary_many_classes_colours_regions_by_prediction(tmp_path):
    X, y = _blobs(200, k=4)
    net = fn.Net((2, 16, 4), activation="relu", dtype="float64")
    r = _fit(net, X, y, epochs=40)
    res = 30
    fig = plot.decision_boundary(net, r.params, X, y, resolution=res, margin=0.0)
    _assert_png(fig, tmp_path)
    ax = fig.axes[0]
    rgba = ax.images[0].get_array()
    assert rgba.shape == (res, res, 4)
    # Pixel (i, j) is grid point (x_j, y_i); its colour is the predicted class's colour.
    gx = np.linspace(X[:, 0].min(), X[:, 0].max(), res)
    gy = np.linspace(X[:, 1].min(), X[:, 1].max(), res)
    xx, yy = np.meshgrid(gx, gy)
    pred = fn.predict(net, r.params, np.column_stack([xx.ravel(), yy.ravel()])).reshape(res, res)
    palette = plot._class_colors(4)
    expected_rgb = np.array([palette[c][:3] for c in pred.ravel()]).reshape(res, res, 3)
    np.testing.assert_allclose(rgba[..., :3], expected_rgb, atol=2e-3)
    assert np.all((rgba[..., 3] >= 0.15 - 1e-9) & (rgba[..., 3] <= 0.7 + 1e-9))


def test_decision_boundary_named_errors():
    X, y = _blobs(10)
    with pytest.raises(ValueError, match=r"net: decision_boundary needs a net with 2 inputs"):
        net = fn.Net((3, 2))
        plot.decision_boundary(net, fn.init(fn.random.key(0), net), np.ones((2, 3)), [0, 1])
    with pytest.raises(ValueError, match="net: decision_boundary needs a classifier"):
        net = fn.Net((2, 1), output="identity")
        plot.decision_boundary(net, fn.init(fn.random.key(0), net), X, y)
    net = fn.Net((2, 2))
    with pytest.raises(ValueError, match="y: expected 10 labels"):
        plot.decision_boundary(net, fn.init(fn.random.key(0), net), X, y[:5])
    with pytest.raises(ValueError, match="resolution: expected an integer >= 2"):
        plot.decision_boundary(net, fn.init(fn.random.key(0), net), X, y, resolution=1)
    with pytest.raises(ValueError, match="figsize: expected a finite number > 0, got 0"):
        plot.decision_boundary(net, fn.init(fn.random.key(0), net), X, y, figsize=(0, 3))


# --- digits ---


def test_digit_grid_labels_images_and_marks_mistakes(tmp_path):
    images = fn.random.uniform(fn.random.key(3), (13, 64))
    true = np.arange(13) % 10
    pred = true.copy()
    pred[[2, 7]] = [5, 1]
    fig = plot.digit_grid(images, true, pred, cols=5)
    _assert_png(fig, tmp_path)
    assert len(fig.axes) == 13  # 3 rows of 5, the two spare axes removed
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[2] == "pred 5 / true 2" and titles[3] == "pred 3 / true 3"
    red = [i for i, ax in enumerate(fig.axes) if ax.title.get_color() == "C3"]
    assert red == [2, 7]
    assert fig.axes[7].spines["left"].get_linewidth() == 2.5
    np.testing.assert_array_equal(fig.axes[4].images[0].get_array(), images[4].reshape(8, 8))
    assert fig.get_suptitle() == "2 of these 13 wrong (red)"


def test_digit_grid_shapes_and_errors():
    fig = plot.digit_grid(np.zeros((2, 6)), [0, 1], [0, 1], image_shape=(2, 3))
    assert fig.axes[0].images[0].get_array().shape == (2, 3)
    fig = plot.digit_grid(np.zeros((2, 4, 4)), np.eye(2), [0, 1])  # one-hot truth
    assert [ax.get_title() for ax in fig.axes] == ["pred 0 / true 0", "pred 1 / true 1"]
    with pytest.raises(ValueError, match="image_shape: rows of 6 values are not square"):
        plot.digit_grid(np.zeros((2, 6)), [0, 1], [0, 1])
    with pytest.raises(ValueError, match="y_pred: expected 2 labels"):
        plot.digit_grid(np.zeros((2, 4)), [0, 1], [0])


# --- hidden representations ---


def test_hidden_activations_by_hand():
    net = fn.Net((2, 3, 2, 2), activation="relu", dtype="float64")
    params = (
        {"W": np.array([[1.0, -1.0, 0.5], [2.0, 0.0, -1.0]]), "b": np.array([0.0, 0.5, 0.0])},
        {"W": np.array([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]]), "b": np.array([-1.0, 0.0])},
        {"W": np.eye(2), "b": np.array([0.25, 0.0])},
    )
    X = np.array([[1.0, 1.0], [-1.0, 0.5]])
    # Layer 0: X W + b = [[3, -0.5, -0.5], [0, 1.5, -1]] -> relu [[3, 0, 0], [0, 1.5, 0]].
    h0 = plot.hidden_activations(net, params, X, layer=0)
    np.testing.assert_array_equal(h0, [[3.0, 0.0, 0.0], [0.0, 1.5, 0.0]])
    # Layer 1: h0 W + b = [[2, 0], [-1, 1.5]] -> relu [[2, 0], [0, 1.5]].
    np.testing.assert_array_equal(plot.hidden_activations(net, params, X, layer=1), [[2.0, 0.0], [0.0, 1.5]])
    # The last layer is linear: the logits [[2.25, 0], [0.25, 1.5]], as forward says.
    last = plot.hidden_activations(net, params, X, layer=-1)
    np.testing.assert_array_equal(last, [[2.25, 0.0], [0.25, 1.5]])
    np.testing.assert_array_equal(last, fn.forward(net, params, X))
    with pytest.raises(ValueError, match=r"^layer: expected an integer in \[-3, 2\], got 3$"):
        plot.hidden_activations(net, params, X, layer=3)


@given(net=nets(depths=(1, 4), widths=(1, 9), batchnorm=None, dtypes=["float64"]), seed=st.integers(0, 2**16))
def test_hidden_activations_of_the_last_layer_are_the_logits(net, seed):
    k1, k2, k3 = fn.random.split(fn.random.key(seed), 3)
    params = fn.init(k1, net)
    # Running statistics away from (0, 1), so that batch norm really acts.
    stats = tuple({"mean": fn.random.normal(k2, s["mean"].shape), "var": 0.5 + fn.random.uniform(k2, s["var"].shape)}
                  if s else {} for s in fn.init_stats(net))
    X = fn.random.normal(k3, (5, net.sizes[0]))
    before = copy.deepcopy(params)
    out = plot.hidden_activations(net, params, X, layer=net.n_layers - 1, stats=stats)
    np.testing.assert_allclose(out, fn.forward(net, params, X, stats=stats), rtol=1e-12, atol=1e-12)
    assert all(np.array_equal(a, b) for a, b in zip(fn.tree_leaves(params), fn.tree_leaves(before)))


def test_pca_2d_matches_scikit_learn():
    decomposition = pytest.importorskip("sklearn.decomposition")
    H = fn.random.normal(fn.random.key(4), (50, 6)) @ np.diag([5.0, 3.0, 1.0, 0.5, 0.2, 0.1])
    ours = plot.pca_2d(H)
    ref = decomposition.PCA(n_components=2, svd_solver="full").fit_transform(H)
    # Each component is defined up to its sign; align signs, then compare the numbers.
    signs = np.sign(np.sum(ours * ref, axis=0))
    np.testing.assert_allclose(ours * signs, ref, rtol=1e-9, atol=1e-9)
    assert ours.shape == (50, 2) and ours.mean(axis=0) == pytest.approx([0, 0], abs=1e-12)
    # One feature: the second coordinate is zero.
    np.testing.assert_array_equal(plot.pca_2d(np.array([[1.0], [3.0]])), [[-1.0, 0.0], [1.0, 0.0]])


def test_hidden_projection_pca_and_tsne(trained, tmp_path):
    pytest.importorskip("sklearn.manifold")
    net, r, X, y = trained
    fig = plot.hidden_projection(net, r.params, X, y, layer=1, key=fn.random.key(7))
    _assert_png(fig, tmp_path)
    pca_ax, tsne_ax = fig.axes
    assert (pca_ax.get_title(), tsne_ax.get_title()) == ("PCA", "t-SNE")
    assert fig.get_suptitle() == "hidden layer 2 (8 units) of 120 samples"
    Z = plot.pca_2d(plot.hidden_activations(net, r.params, X, layer=1))
    for c, points in enumerate(pca_ax.collections):
        assert points.get_label() == f"class {c}"
        np.testing.assert_allclose(points.get_offsets(), Z[y == c])
    # t-SNE is seeded by the key: the same key draws the same picture.
    again = plot.hidden_projection(net, r.params, X, y, layer=1, key=fn.random.key(7), methods="tsne")
    for c in (0, 1):
        np.testing.assert_array_equal(again.axes[0].collections[c].get_offsets(),
                                      tsne_ax.collections[c].get_offsets())
    # The embedding keeps the classes apart: each point's nearest neighbour shares its class.
    E = np.concatenate([pts.get_offsets() for pts in tsne_ax.collections])
    labels = np.concatenate([np.full(len(pts.get_offsets()), c) for c, pts in enumerate(tsne_ax.collections)])
    d = ((E[:, None, :] - E[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    assert np.mean(labels[d.argmin(axis=1)] == labels) >= 0.9


def test_hidden_projection_errors(trained, monkeypatch):
    net, r, X, y = trained
    with pytest.raises(TypeError, match=r"key: expected a funcnet.random.Key \(from funcnet.random.key\(seed\)\), got None"):
        plot.hidden_projection(net, r.params, X, y)
    with pytest.raises(ValueError, match="methods: expected a non-empty selection"):
        plot.hidden_projection(net, r.params, X, y, methods=("umap",))
    monkeypatch.setitem(sys.modules, "sklearn.manifold", None)
    with pytest.raises(ImportError, match="t-SNE needs scikit-learn"):
        plot.hidden_projection(net, r.params, X, y, key=fn.random.key(0))


def test_history_errors_name_the_argument():
    with pytest.raises(TypeError, match="history: expected a dict of lists"):
        plot.loss_curves([1, 2])
    with pytest.raises(ValueError, match="history: expected a 'loss' entry"):
        plot.loss_curves({"epoch": [1]})
    with pytest.raises(ValueError, match="history: expected a 'grad_norm' entry"):
        plot.grad_norm_curves({"epoch": [1], "loss": [1.0]})


def test_matplotlib_is_imported_lazily_and_missing_it_is_explained():
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "import funcnet.plot as p\n"
        "try:\n"
        "    p.loss_curves({'epoch': [1], 'loss': [1.0]})\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "pip install 'funcnet[plot]'" in out.stdout
    code = "import sys, funcnet.plot; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False"
