"""Depth: a 1-hidden-layer against a 2-hidden-layer net on digits, and vanishing gradients.

Part 1 trains 64-128-10 and 64-128-64-10 with the same optimizer and epochs.
Part 2 looks at per-layer gradient norms at initialisation of a deep (8 hidden layers of 64)
sigmoid net and the same net with ReLU: with sigmoid, every layer multiplies the backward
signal by sigmoid' <= 0.25 (and Xavier-scaled weights), so the gradient reaching the first
layers is orders of magnitude smaller than at the top; ReLU with He init keeps it level.

Run: python scripts/depth.py   (seeded: the same output on every run)
"""

import numpy as np

import funcnet as fn

Xtr, Xte, ytr, yte = fn.datasets.digits(dtype=np.float32)

print("Part 1: depth on digits (SGD 0.1, batch 32, 30 epochs)")
print(f"{'architecture':<16} {'train acc':>9} {'test acc':>9} {'final loss':>10}")
for sizes in [(64, 128, 10), (64, 128, 64, 10)]:
    net = fn.Net(sizes, activation="relu")
    r = fn.fit(net, fn.init(fn.random.key(0), net), Xtr, ytr, key=fn.random.key(1),
               optimizer=fn.optim.sgd(0.1), epochs=30, batch_size=32)
    name = "-".join(map(str, sizes))
    print(f"{name:<16} {fn.accuracy(net, r.params, Xtr, ytr):>9.4f} "
          f"{fn.accuracy(net, r.params, Xte, yte):>9.4f} {r.history['loss'][-1]:>10.4f}")

print()
print("Part 2: per-layer gradient norm at initialisation, 64-(64 x 8)-10, first 256 training samples")
sizes = (64,) + (64,) * 8 + (10,)
rows = {}
for act in ("sigmoid", "relu"):
    net = fn.Net(sizes, activation=act, dtype="float64")
    params = fn.init(fn.random.key(0), net)
    g = fn.grad(net, params, Xtr[:256].astype(np.float64), ytr[:256])
    rows[act] = [float(np.sqrt(sum(np.sum(a * a) for a in layer.values()))) for layer in g]
print(f"{'layer':>5} {'sigmoid':>10} {'relu':>10}")
for i, (s, r) in enumerate(zip(rows["sigmoid"], rows["relu"]), start=1):
    print(f"{i:>5} {s:>10.2e} {r:>10.2e}")
for act in ("sigmoid", "relu"):
    ratio = rows[act][0] / rows[act][-1]
    print(f"{act}: first-layer / last-layer gradient norm = {ratio:.1e}")
