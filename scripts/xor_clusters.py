"""XOR clusters: 400 noisy points around (+-1, +-1), opposite corners share a class.

A 2-8-1 net, tanh hidden / sigmoid output, binary cross-entropy, full-batch gradient descent.
Run: python scripts/xor_clusters.py   (seeded: the same output on every run)
"""

import numpy as np

import funcnet as fn

X, y = fn.datasets.xor_clusters(400, key=fn.random.key(0))
net = fn.Net((2, 8, 1), activation="tanh", output="sigmoid", dtype="float64")
params = fn.init(fn.random.key(1), net)
result = fn.fit(net, params, X, y, key=fn.random.key(2), optimizer=fn.optim.sgd(1.0),
                epochs=500, batch_size=len(X), shuffle=False)

h = result.history
for epoch in (1, 50, 100, 200, 300, 400, 500):
    print(f"epoch {epoch:3d}  loss {h['loss'][epoch - 1]:.4f}  accuracy {h['accuracy'][epoch - 1]:.3f}")
centres = np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])
p = fn.predict_proba(net, result.params, centres)[:, 0]
for c, pc in zip(centres, p):
    print(f"P(class 1 | centre ({c[0]:+.0f}, {c[1]:+.0f})) = {pc:.3f}")
acc = fn.accuracy(net, result.params, X, y)
print(f"train accuracy: {acc:.4f}")
assert acc >= 0.99, acc
