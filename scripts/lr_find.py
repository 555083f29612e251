"""Learning-rate finder on digits: one rising-rate pass, then train with the suggested rate.

The finder trains a fresh 64-128-10 ReLU net for one pass while the SGD learning rate rises
exponentially from 1e-5 to 10, records the smoothed loss, and suggests the rate at the
steepest fall of the loss before it blows up. That rate then trains the same initial params.

Run: python scripts/lr_find.py   (seeded: the same output on every run)
"""

import numpy as np

import funcnet as fn

Xtr, Xte, ytr, yte = fn.datasets.digits(dtype=np.float32)
net = fn.Net((64, 128, 10), activation="relu")
params = fn.init(fn.random.key(0), net)

found = fn.lr_find(net, params, Xtr, ytr, key=fn.random.key(1), batch_size=32)
print(f"{'lr':>10} {'smoothed loss':>14}")
for i in range(0, len(found.lrs), max(1, len(found.lrs) // 10)):
    print(f"{found.lrs[i]:>10.2e} {found.losses[i]:>14.4f}")
print(f"suggested learning rate: {found.suggestion:.4f} ({len(found.lrs)} steps run)")

result = fn.fit(net, params, Xtr, ytr, key=fn.random.key(2), optimizer=fn.optim.sgd(found.suggestion),
                epochs=30, batch_size=32)
acc = fn.accuracy(net, result.params, Xte, yte)
print(f"trained 30 epochs at the suggested rate: final loss {result.history['loss'][-1]:.4f}, "
      f"test accuracy {acc:.4f}")
assert acc >= 0.96, acc
