"""MNIST to 99 % test accuracy with a plain MLP: 784-512-256-10 ReLU with batch norm and dropout,
AdamW warming up for an epoch then on a cosine schedule, random shifts of up to 2 pixels, 30 epochs.

Run: python scripts/mnist.py [--data-dir DIR] [--epochs N] [--seed S]
     (seeded: the same output on every run; the time goes to stderr)

The recipe is picked on a validation split carved from the training set (10 %, 6000 images);
the test set is scored once, at the end. The script makes the same keys, split and fit as

    funcnet train --dataset mnist --data-dir DIR <the RECIPE below as flags>

and so prints what that command's run directory holds. When the data files are absent it says
so and exits 0. ``scripts/fashion_mnist.py`` runs its own recipe through :func:`main`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import funcnet as fn

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

RECIPE = {"hidden": (512, 256), "dropout": 0.2, "batchnorm": True, "lr": 3e-3, "warmup_epochs": 1,
          "weight_decay": 0.01, "batch_size": 128, "epochs": 30, "shift": 2, "flip": False,
          "label_smoothing": 0.0, "val_fraction": 0.1}


def command(name: str, recipe: dict, data_dir) -> str:
    """The ``funcnet train`` command that runs ``recipe``."""
    flags = {"--hidden": " ".join(map(str, recipe["hidden"])), "--dropout": recipe["dropout"],
             "--optimizer": "adamw", "--lr": recipe["lr"], "--weight-decay": recipe["weight_decay"],
             "--schedule": "cosine", "--batch-size": recipe["batch_size"], "--epochs": recipe["epochs"],
             "--val-fraction": recipe["val_fraction"]}
    if recipe["warmup_epochs"]:
        flags["--warmup-epochs"] = recipe["warmup_epochs"]
    if recipe["shift"]:
        flags["--shift"] = recipe["shift"]
    if recipe["label_smoothing"]:
        flags["--label-smoothing"] = recipe["label_smoothing"]
    extra = (["--batchnorm"] if recipe["batchnorm"] else []) + (["--flip"] if recipe["flip"] else [])
    return " ".join([f"funcnet train --dataset {name} --data-dir {data_dir}",
                     *(f"{k} {v}" for k, v in flags.items()), *extra])


def main(name: str, loader, recipe: dict, argv=None) -> int:
    p = argparse.ArgumentParser(description=f"Train the {name} recipe (seeded).")
    p.add_argument("--data-dir", default=str(SHARED / name), help="folder of the four IDX files")
    p.add_argument("--epochs", type=int, default=recipe["epochs"])
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.epochs < 1:
        p.error(f"--epochs: expected an integer >= 1, got {args.epochs}")
    if args.seed < 0:
        p.error(f"--seed: expected an integer >= 0, got {args.seed}")
    recipe = {**recipe, "epochs": args.epochs}
    try:
        # Raw uint8 pixels: split first, then scale, so one float copy of the images is held.
        Xtr, Xte, ytr, yte = loader(args.data_dir, dtype=np.uint8)
    except FileNotFoundError as e:
        print(f"skipped: {name} data not found ({e})")
        return 0

    # funcnet train's keys for --seed: data, split, init, fit, plots.
    _, k_split, k_init, k_fit, _ = fn.random.split(fn.random.key(args.seed), 5)
    n_val = round(recipe["val_fraction"] * len(Xtr))
    perm = fn.random.permutation(fn.random.fold_in(k_split, 1), len(Xtr))
    val, train = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    X, y = fn.datasets.scale_images(Xtr[train]), ytr[train]
    validation = (fn.datasets.scale_images(Xtr[val]), ytr[val])
    Xte = fn.datasets.scale_images(Xte)
    del Xtr

    net = fn.Net((784, *recipe["hidden"], 10), activation="relu", dropout=recipe["dropout"],
                 batchnorm=recipe["batchnorm"])
    # The schedule counts optimizer steps: epochs of steps_per_epoch batches; a linear warm-up
    # over the first epochs, then a cosine decay to 0 over the rest.
    per_epoch = fn.steps_per_epoch(len(X), recipe["batch_size"])
    warmup = min(recipe["warmup_epochs"], args.epochs) * per_epoch
    lr = fn.schedules.cosine(recipe["lr"], max(1, recipe["epochs"] * per_epoch - warmup))
    if warmup:
        lr = fn.schedules.linear_warmup(lr, warmup)
    optimizer = fn.optim.adamw(lr, weight_decay=recipe["weight_decay"])
    parts = ([fn.augment.shifts((28, 28), recipe["shift"])] if recipe["shift"] else []) + \
            ([fn.augment.flips((28, 28))] if recipe["flip"] else [])
    augment = fn.augment.chain(*parts) if len(parts) > 1 else parts[0] if parts else None

    print(f"{name}: {len(X)} training images, {len(validation[0])} for validation, {len(Xte)} for the test")
    print("same run: " + command(name, recipe, args.data_dir))
    start = time.perf_counter()
    result = fn.fit(net, fn.init(k_init, net), X, y, key=k_fit, optimizer=optimizer,
                    epochs=recipe["epochs"], batch_size=recipe["batch_size"], validation=validation,
                    label_smoothing=recipe["label_smoothing"], augment=augment)
    seconds = time.perf_counter() - start
    h = result.history
    for i in sorted({0, len(h["epoch"]) // 2, len(h["epoch"]) - 1}):
        print(f"epoch {h['epoch'][i]:2d}  loss {h['loss'][i]:.4f}  validation accuracy {h['val_accuracy'][i]:.4f}")
    test = fn.evaluate(net, result.params, Xte, yte, stats=result.stats)
    print(f"{name}: test accuracy {test['accuracy']:.4f} ({len(Xte)} samples), test loss {test['loss']:.4f}")
    print(f"{len(h['epoch'])} epochs in {seconds:.0f} s ({seconds / len(h['epoch']):.1f} s per epoch)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main("mnist", fn.datasets.mnist, RECIPE))
