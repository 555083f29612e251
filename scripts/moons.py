"""Two moons: 400 points, noise 0.15, 80/20 split, a 2-32-32-2 ReLU net with mini-batch SGD.

Run: python scripts/moons.py   (seeded: the same output on every run)
"""


import funcnet as fn

X, y = fn.datasets.moons(400, key=fn.random.key(0), noise=0.15)
perm = fn.random.permutation(fn.random.key(1), len(X))
train, test = perm[:320], perm[320:]
net = fn.Net((2, 32, 32, 2), activation="relu", dtype="float64")
params = fn.init(fn.random.key(2), net)
result = fn.fit(net, params, X[train], y[train], key=fn.random.key(3), optimizer=fn.optim.sgd(0.1),
                epochs=200, batch_size=16, validation=(X[test], y[test]))

h = result.history
for epoch in (1, 10, 50, 100, 200):
    i = epoch - 1
    print(f"epoch {epoch:3d}  loss {h['loss'][i]:.4f}  train {h['accuracy'][i]:.3f}  test {h['val_accuracy'][i]:.3f}")
acc = fn.accuracy(net, result.params, X[test], y[test])
print(f"test accuracy: {acc:.4f}")
assert acc >= 0.95, acc
