"""XOR: the four points, a 2-8-2 tanh/softmax net, full-batch gradient descent.

Run: python scripts/xor.py   (seeded: prints the same numbers on every run)
"""

import numpy as np

import funcnet as fn

X, y = fn.datasets.xor()
net = fn.Net((2, 8, 2), activation="tanh", output="softmax", dtype="float64")
params = fn.init(fn.random.key(0), net)
result = fn.fit(net, params, X, y, key=fn.random.key(1), optimizer=fn.optim.sgd(0.5),
                epochs=300, batch_size=4, shuffle=False)

for epoch in (1, 10, 100, 300):
    print(f"epoch {epoch:3d}  loss {result.history['loss'][epoch - 1]:.4f}")
proba = fn.predict_proba(net, result.params, X)
print("P(class 1):", np.round(proba[:, 1], 3))
print("predictions:", fn.predict(net, result.params, X))
print(f"accuracy: {fn.accuracy(net, result.params, X, y):.2f}")
