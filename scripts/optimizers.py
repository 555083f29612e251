"""Optimizers side by side: SGD, momentum, Nesterov, RMSprop and Adam on spirals and digits.

Every optimizer trains the same initial params on the same batches (same key); the table
shows the first epoch whose mean training loss fell below a target, and the final accuracy.
Rates are each optimizer's usual default scale (adaptive methods take smaller ones).

Run: python scripts/optimizers.py   (seeded: the same output on every run)
"""

import numpy as np

import funcnet as fn

OPTIMIZERS = [
    ("sgd", lambda: fn.optim.sgd(0.05)),
    ("momentum", lambda: fn.optim.momentum(0.05, mu=0.9)),
    ("nesterov", lambda: fn.optim.nesterov(0.05, mu=0.9)),
    ("rmsprop", lambda: fn.optim.rmsprop(0.003)),
    ("adam", lambda: fn.optim.adam(0.003)),
]


def compare(title, net, X, y, Xte, yte, *, epochs, batch_size, target):
    params = fn.init(fn.random.key(0), net)
    print(f"{title}: {'-'.join(map(str, net.sizes))} {net.activation}, {epochs} epochs, "
          f"batch {batch_size}, target loss {target}")
    print(f"  {'optimizer':<10} {'epochs to target':>16} {'final loss':>11} {'accuracy':>9}")
    for name, make in OPTIMIZERS:
        r = fn.fit(net, params, X, y, key=fn.random.key(1), optimizer=make(), epochs=epochs,
                   batch_size=batch_size)
        losses = np.array(r.history["loss"])
        hit = np.flatnonzero(losses < target)
        reached = str(hit[0] + 1) if hit.size else f">{epochs}"
        acc = fn.accuracy(net, r.params, Xte, yte)
        print(f"  {name:<10} {reached:>16} {losses[-1]:>11.4f} {acc:>9.4f}")
    print()


X, y = fn.datasets.spirals(200, key=fn.random.key(0), noise=0.25)
compare("spirals (train accuracy)", fn.Net((2, 64, 32, 16, 1), output="sigmoid", dtype="float64"),
        X, y, X, y, epochs=200, batch_size=32, target=0.1)

Xtr, Xte, ytr, yte = fn.datasets.digits(dtype=np.float32)
compare("digits (test accuracy)", fn.Net((64, 128, 10)), Xtr, ytr, Xte, yte,
        epochs=30, batch_size=32, target=0.05)
