"""8x8 digits: a 64-128-10 ReLU/softmax net, mini-batch SGD, train and test accuracy.

Run: python scripts/digits.py   (seeded: the same output on every run)
"""

import numpy as np

import funcnet as fn

Xtr, Xte, ytr, yte = fn.datasets.digits(dtype=np.float32)
net = fn.Net((64, 128, 10), activation="relu", output="softmax", dtype="float32")
params = fn.init(fn.random.key(0), net)
result = fn.fit(net, params, Xtr, ytr, key=fn.random.key(1), optimizer=fn.optim.sgd(0.1),
                epochs=30, batch_size=32)

h = result.history
for epoch in (1, 5, 10, 20, 30):
    print(f"epoch {epoch:2d}  loss {h['loss'][epoch - 1]:.4f}  batch accuracy {h['accuracy'][epoch - 1]:.3f}")
train_acc = fn.accuracy(net, result.params, Xtr, ytr)
test_acc = fn.accuracy(net, result.params, Xte, yte)
print(f"train accuracy: {train_acc:.4f}")
print(f"test accuracy:  {test_acc:.4f}")
print(f"({len(Xtr)} train / {len(Xte)} test samples)")
assert test_acc >= 0.96, test_acc
