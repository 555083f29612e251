"""Two spirals: 200 points per arm (noise 0.25, standardised), a [2, 64, 32, 16, 1] ReLU net.

The same net, data, batches and epochs are trained twice. Plain SGD barely leaves the
linear-looking solution: the spirals need sharp, curved boundaries, and with one global step
size the small gradients of the deeper layers move far too slowly. Adam rescales every
parameter's step by a running estimate of its gradient's magnitude, so all layers learn at
a useful pace, and the net wraps its boundary around both arms.

Run: python scripts/spirals.py   (seeded: the same output on every run)
"""

import funcnet as fn

X, y = fn.datasets.spirals(200, key=fn.random.key(0), noise=0.25)
net = fn.Net((2, 64, 32, 16, 1), activation="relu", output="sigmoid", dtype="float64")
params = fn.init(fn.random.key(1), net)

results = {}
for name, opt in [("sgd 0.01", fn.optim.sgd(0.01)), ("adam 0.01", fn.optim.adam(0.01))]:
    r = fn.fit(net, params, X, y, key=fn.random.key(2), optimizer=opt, epochs=300, batch_size=32)
    results[name] = r
    h = r.history
    print(f"{name}:")
    for epoch in (1, 50, 100, 200, 300):
        print(f"  epoch {epoch:3d}  loss {h['loss'][epoch - 1]:.4f}  accuracy {h['accuracy'][epoch - 1]:.3f}")

for name, r in results.items():
    print(f"{name:>10}: train accuracy {fn.accuracy(net, r.params, X, y):.4f}")
acc = fn.accuracy(net, results["adam 0.01"].params, X, y)
assert acc >= 0.97, acc
