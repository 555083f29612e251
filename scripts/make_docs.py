"""Regenerate the README's pictures in docs/ from seeded runs.

Pictures: digits loss curves, per-layer gradient norms (during training, and at
initialisation of a deep sigmoid against a deep ReLU net), a grid of test digits, the hidden
layer of the digits net in 2-D, decision boundaries on moons and spirals, and the
learning-rate finder on digits.

Run: python scripts/make_docs.py [DIR]   (default DIR: docs/ beside scripts/; needs matplotlib
and scikit-learn; seeded: the same pictures on every run)
"""

import math
import sys
from pathlib import Path

import numpy as np

import funcnet as fn
from funcnet import plot

OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "docs"
OUT.mkdir(parents=True, exist_ok=True)
key = fn.random.key


def save(fig, name):
    fig.savefig(OUT / name, dpi=100)
    print(f"wrote {OUT / name}")


# --- digits: 64-128-10 ReLU, SGD 0.1, batch 32, 30 epochs, 10% of the training set held out ---

Xtr, Xte, ytr, yte = fn.datasets.digits()
Xtr, Xte = Xtr.astype(np.float32), Xte.astype(np.float32)
perm = fn.random.permutation(key(2), len(Xtr))
val, train = np.sort(perm[: len(Xtr) // 10]), np.sort(perm[len(Xtr) // 10:])
net = fn.Net((64, 128, 10), activation="relu")
result = fn.fit(net, fn.init(key(0), net), Xtr[train], ytr[train], key=key(1),
                optimizer=fn.optim.sgd(0.1), epochs=30, batch_size=32,
                validation=(Xtr[val], ytr[val]))
test_acc = fn.accuracy(net, result.params, Xte, yte)
print(f"digits: test accuracy {test_acc:.4f}")
save(plot.loss_curves(result.history, title="digits: 64-128-10 ReLU, SGD 0.1, batch 32"),
     "digits_loss.png")
save(plot.grad_norm_curves(result.history, title="digits: gradient norm per layer while training"),
     "digits_grad_norms.png")

pred = fn.predict(net, result.params, Xte)
wrong = np.flatnonzero(pred != yte)[:8]
shown = np.sort(np.concatenate([wrong, np.flatnonzero(pred == yte)[: 40 - len(wrong)]]))
save(plot.digit_grid(Xte[shown], yte[shown], pred[shown],
                     title=f"40 test digits including {len(wrong)} mistakes (red); "
                           f"test accuracy {test_acc:.3f}"),
     "digits_grid.png")
save(plot.hidden_projection(net, result.params, Xte, yte, layer=0, key=key(3),
                            title=f"digits: the 128 hidden units of {len(Xte)} test images, in 2-D"),
     "digits_hidden.png")

# --- depth: gradient norms per layer at initialisation, 64-(64 x 8)-10, sigmoid vs ReLU ---

norms = {}
for act in ("sigmoid", "relu"):
    deep = fn.Net((64,) + (64,) * 8 + (10,), activation=act, dtype="float64")
    g = fn.grad(deep, fn.init(key(0), deep), Xtr[:256].astype(np.float64), ytr[:256])
    norms[act] = [math.sqrt(sum(float(np.vdot(a, a)) for a in layer.values())) for layer in g]
save(plot.grad_norm_bars(norms, title="gradient norm per layer at initialisation, 8 hidden layers"),
     "depth_grad_norms.png")

# --- moons: 400 points, 2-32-32-2 ReLU, SGD (as scripts/moons.py) ---

X, y = fn.datasets.moons(400, key=key(0), noise=0.15)
perm = fn.random.permutation(key(1), len(X))
moons_net = fn.Net((2, 32, 32, 2), activation="relu", dtype="float64")
r = fn.fit(moons_net, fn.init(key(2), moons_net), X[perm[:320]], y[perm[:320]], key=key(3),
           optimizer=fn.optim.sgd(0.1), epochs=200, batch_size=16)
acc = fn.accuracy(moons_net, r.params, X[perm[320:]], y[perm[320:]])
save(plot.decision_boundary(moons_net, r.params, X, y,
                            title=f"moons: 2-32-32-2 ReLU, test accuracy {acc:.3f}"),
     "moons_boundary.png")

# --- spirals: [2, 64, 32, 16, 1] ReLU, sigmoid output, Adam (as scripts/spirals.py) ---

X, y = fn.datasets.spirals(200, key=key(0), noise=0.25)
spiral_net = fn.Net((2, 64, 32, 16, 1), activation="relu", output="sigmoid", dtype="float64")
r = fn.fit(spiral_net, fn.init(key(1), spiral_net), X, y, key=key(2),
           optimizer=fn.optim.adam(0.01), epochs=300, batch_size=32)
acc = fn.accuracy(spiral_net, r.params, X, y)
save(plot.decision_boundary(spiral_net, r.params, X, y,
                            title=f"spirals: 2-64-32-16-1 ReLU, Adam\ntrain accuracy {acc:.3f}"),
     "spirals_boundary.png")

# --- learning-rate finder on digits (the same net, SGD, batch 32) ---

from funcnet.lr_finder import lr_find  # noqa: E402

found = lr_find(net, fn.init(key(0), net), Xtr[train], ytr[train], key=key(1), batch_size=32)
print(f"lr_find: suggestion {found.suggestion:.3g}")
save(plot.lr_finder_curve(found.lrs, found.losses, found.suggestion,
                          title="learning-rate finder: digits, SGD, batch 32"),
     "lr_finder.png")
