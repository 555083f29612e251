"""Dropout: a wide net on a small subset of digits, with and without dropout.

200 training samples and a 64-512-512-10 net: without dropout the net memorises the training
set and the gap to test accuracy is wide; dropout (p = 0.5 on hidden units, inverted, off at
prediction) narrows it.

Run: python scripts/dropout.py   (seeded: the same output on every run)
"""

import numpy as np

import funcnet as fn

Xtr, Xte, ytr, yte = fn.datasets.digits(dtype=np.float32)
Xs, ys = Xtr[:200], ytr[:200]

print(f"{'dropout':>7} {'train acc':>9} {'test acc':>9} {'gap':>7}")
gaps = {}
for p in (0.0, 0.5):
    net = fn.Net((64, 512, 512, 10), activation="relu", dropout=p)
    r = fn.fit(net, fn.init(fn.random.key(0), net), Xs, ys, key=fn.random.key(1),
               optimizer=fn.optim.sgd(0.05), epochs=150, batch_size=20)
    tr, te = fn.accuracy(net, r.params, Xs, ys), fn.accuracy(net, r.params, Xte, yte)
    gaps[p] = tr - te
    print(f"{p:>7.1f} {tr:>9.4f} {te:>9.4f} {tr - te:>7.4f}")
print(f"dropout closes the train-test gap by {gaps[0.0] - gaps[0.5]:.4f}")
