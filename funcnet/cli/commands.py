"""The subcommands: each builds the run from its settings and calls the core.

The values the core takes (rates, widths, dropout, epochs...) are checked by the core: its
``TypeError``/``ValueError`` names the setting, and becomes a usage error (exit 2) here.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import shutil
import time
from pathlib import Path

import numpy as np

from .. import __version__, checks, io, optim
from .. import random as rnd
from ..network import Net, accuracy, init
from ..objective import evaluate, gradcheck_tree
from ..train import fit
from .config import SHAPES, UsageError, read_json, resolve_config
from .data import load_data, run_keys, split_validation
from .report import duration, importable, progress, write_plots
from .rundir import check_out, clear_stale, make_temporary, publish, write_json

__all__ = ["train", "evaluate_run", "gradcheck", "lr_find"]

EXIT_OK, EXIT_FAIL = 0, 1


@contextlib.contextmanager
def core_errors():
    """The core's argument errors, as usage errors that name the setting."""
    try:
        yield
    except (TypeError, ValueError) as e:
        raise UsageError(str(e)) from None


def _net(cfg) -> Net:
    n_in, n_classes = SHAPES[cfg["dataset"]]
    with core_errors():
        return Net((n_in, *cfg["hidden"], n_classes), activation=cfg["activation"], output="softmax",
                   dtype=cfg["dtype"], dropout=cfg["dropout"], batchnorm=cfg["batchnorm"])


def _optimizer(cfg, lr=None):
    with core_errors():
        return getattr(optim, cfg["optimizer"])(cfg["lr"] if lr is None else lr)


def _settings(args) -> dict:
    return resolve_config(vars(args), read_json(args.config, "config") if args.config else None)


def train(args) -> int:
    cfg = _settings(args)
    out = Path(args.out if args.out is not None else os.path.join("runs", cfg["dataset"]))
    with core_errors():
        checks.path(str(out), "out")
    try:
        check_out(out)
        clear_stale(out)
    except OSError as e:  # e.g. a name too long for the file system
        raise UsageError(f"out: cannot use {str(out)!r} ({e.strerror or e})") from None
    net, optimizer = _net(cfg), _optimizer(cfg)
    with core_errors():
        keys = run_keys(cfg["seed"])
    Xtr, Xte, ytr, yte = load_data(cfg)
    Xfit, yfit, validation = split_validation(cfg, Xtr, ytr)
    params = init(keys["init"], net)

    try:
        tmp = make_temporary(out)
    except OSError as e:  # the file system's refusal, reported as a usage error
        raise UsageError(f"out: cannot create {str(out)!r} ({e.strerror or e})") from None
    try:
        callback, close = progress(cfg["epochs"], args.quiet, args.verbose)
        start = time.perf_counter()
        try:
            with core_errors():
                result = fit(net, params, Xfit, yfit, key=keys["fit"], optimizer=optimizer,
                             epochs=cfg["epochs"], batch_size=cfg["batch_size"], l2=cfg["l2"],
                             validation=validation, patience=cfg["patience"], callback=callback)
        finally:
            close()
        seconds = time.perf_counter() - start
        test = evaluate(net, result.params, Xte, yte, stats=result.stats)

        io.save(tmp / "params.npz", net, result.params, stats=result.stats)
        write_json(tmp / "history.json", result.history)
        write_json(tmp / "config.json", {**cfg, "funcnet_version": __version__})
        write_json(tmp / "summary.json", {
            "dataset": cfg["dataset"], "sizes": list(net.sizes),
            "epochs_run": len(result.history["epoch"]), "best_epoch": result.best_epoch,
            "train_samples": len(Xfit), "test_samples": len(Xte),
            "test_accuracy": test["accuracy"], "test_loss": test["loss"], "train_seconds": seconds,
        })
        if args.no_plots:
            note = "plots: off (--no-plots)"
        elif not importable("matplotlib"):
            note = "plots: skipped, matplotlib is not installed (pip install 'funcnet[plot]')"
        else:
            written = write_plots(tmp, cfg, net, result, (Xtr, Xte, ytr, yte), keys["plot"])
            note = "plots: " + ", ".join(written)
        publish(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        if not args.quiet:
            print(note)
        print(f"{cfg['dataset']}: test accuracy {test['accuracy']:.4f} ({len(Xte)} samples), "
              f"{len(result.history['epoch'])} epochs in {duration(seconds)}; wrote {out}")
    except KeyboardInterrupt:
        raise Written(out) from None
    return EXIT_OK


class Written(KeyboardInterrupt):
    """An interrupt that came once the run was complete in ``out``."""

    def __init__(self, out):
        super().__init__(out)
        self.out = out


def evaluate_run(args) -> int:
    params_path = Path(args.params)
    if not params_path.is_file():
        raise UsageError(f"params: no such file: {args.params}")
    try:
        net, params, stats = io.load(params_path)
    except (ValueError, TypeError, OSError) as e:
        raise UsageError(f"params: {e}") from None
    beside = params_path.parent / "config.json"
    run = read_json(beside, "config") if beside.is_file() else {}
    if args.dataset is not None and args.dataset != run.get("dataset"):
        run = {"seed": run["seed"]} if "seed" in run else {}  # another dataset's sizes do not apply
    settings = {k: run[k] for k in ("dataset", "data_dir", "n_samples", "seed") if k in run}
    settings.update({k: v for k, v in {"dataset": args.dataset, "data_dir": args.data_dir,
                                       "n_samples": args.n_samples, "seed": args.seed}.items()
                     if v is not None})
    if "dataset" not in settings:
        raise UsageError("dataset: no config.json beside the params file; pass --dataset")
    settings["dtype"] = net.dtype
    cfg = resolve_config(settings)
    n_in, n_classes = SHAPES[cfg["dataset"]]
    if n_in != net.sizes[0] or n_classes > net.sizes[-1]:
        raise UsageError(f"dataset: the params are for a {'-'.join(map(str, net.sizes))} net, but "
                         f"{cfg['dataset']} has {n_in} inputs and {n_classes} classes")
    Xtr, Xte, ytr, yte = load_data(cfg)
    train_acc = accuracy(net, params, Xtr, ytr, stats=stats)
    test = evaluate(net, params, Xte, yte, stats=stats)
    print(f"{cfg['dataset']}: net {'-'.join(map(str, net.sizes))} {net.activation}")
    print(f"train accuracy {train_acc:.4f} ({len(Xtr)} samples)")
    print(f"test accuracy  {test['accuracy']:.4f} ({len(Xte)} samples), test loss {test['loss']:.4f}")
    return EXIT_OK


def gradcheck(args) -> int:
    sizes = (args.inputs, *args.hidden, args.outputs)
    with core_errors():
        net = Net(sizes, activation=args.activation, output=args.output, dtype="float64",
                  dropout=args.dropout, batchnorm=args.batchnorm)
    if not args.tol > 0:
        raise UsageError(f"tol: expected a positive number, got {args.tol}")
    with core_errors():  # the random batch: samples x inputs floats
        checks.size((args.samples, max(args.inputs, args.outputs)), "samples")
    k_init, k_x, k_y, k_drop = rnd.split(rnd.key(args.seed), 4)
    params = init(k_init, net)
    X = rnd.normal(k_x, (args.samples, args.inputs))
    if args.output == "softmax":
        y = rnd.generator(k_y).integers(0, args.outputs, args.samples)
    elif args.output == "sigmoid":
        y = rnd.bernoulli(k_y, 0.5, (args.samples, args.outputs)).astype(np.float64)
    else:
        y = rnd.normal(k_y, (args.samples, args.outputs))
    key = k_drop if args.dropout > 0 else None
    eps = inspect.signature(gradcheck_tree).parameters["eps"].default
    with core_errors():
        errors = gradcheck_tree(net, params, X, y, key=key, l2=args.l2)

    leaf_names = sorted({k for layer in errors for k in layer}, key=["W", "b", "gamma", "beta"].index)
    shapes = [f"{p['W'].shape[0]}x{p['W'].shape[1]}" for p in params]
    rows = [["layer", "shape", *leaf_names, "worst"]]
    for i, (layer, shape) in enumerate(zip(errors, shapes), start=1):
        cells = [f"{layer[k]:.1e}" if k in layer else "-" for k in leaf_names]
        rows.append([str(i), shape, *cells, f"{max(layer.values()):.1e}"])
    widths = [max(len(r[j]) for r in rows) for j in range(len(rows[0]))]
    extras = [s for s, on in (("batchnorm", args.batchnorm), (f"dropout {args.dropout:g}", args.dropout),
                              (f"l2 {args.l2:g}", args.l2)) if on]
    print(f"gradcheck {'-'.join(map(str, sizes))} {args.activation}/{args.output}"
          f"{', ' + ', '.join(extras) if extras else ''}, {args.samples} samples, "
          f"float64 central differences (eps {eps:g})")
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    worst = max(max(layer.values()) for layer in errors)
    ok = worst <= args.tol
    print(f"worst relative error {worst:.1e} {'<=' if ok else '>'} tol {args.tol:g}: "
          f"{'ok' if ok else 'FAILED'}")
    return EXIT_OK if ok else EXIT_FAIL


def _check_plot_path(text) -> None:
    """``--plot``: a path in an existing folder, not a folder, in a format matplotlib writes."""
    from matplotlib.figure import Figure

    with core_errors():
        path = Path(checks.path(text, "plot"))
    try:
        if not path.parent.is_dir():
            raise UsageError(f"plot: no such folder for {text!r}")
        if path.is_dir():
            raise UsageError(f"plot: {text!r} is a folder; name a file, e.g. lr.png")
    except OSError as e:  # e.g. a name too long for the file system
        raise UsageError(f"plot: cannot use {text!r} ({e.strerror or e})") from None
    formats = Figure().canvas.get_supported_filetypes()
    if path.suffix and path.suffix[1:].lower() not in formats:
        raise UsageError(f"plot: expected a file name ending in one of {sorted(formats)}, got {text!r}")


def lr_find(args) -> int:
    from ..lr_finder import lr_find as find

    cfg = _settings(args)
    if args.plot is not None:
        if not importable("matplotlib"):
            raise UsageError("plot: drawing needs matplotlib, which is not installed "
                             "(pip install 'funcnet[plot]')")
        _check_plot_path(args.plot)
    net = _net(cfg)
    Xtr, Xte, ytr, yte = load_data(cfg)
    Xfit, yfit, _ = split_validation(cfg, Xtr, ytr)
    keys = run_keys(cfg["seed"])
    with core_errors():
        result = find(net, init(keys["init"], net), Xfit, yfit, key=keys["fit"],
                      batch_size=cfg["batch_size"], start=args.start, stop=args.stop, steps=args.steps,
                      optimizer_factory=getattr(optim, cfg["optimizer"]), l2=cfg["l2"])
    lrs, losses = result.lrs, result.losses
    print(f"lr-find {cfg['dataset']}: net {'-'.join(map(str, net.sizes))} {net.activation}, "
          f"{cfg['optimizer']}, batch {cfg['batch_size']}, {len(lrs)} of {args.steps} steps"
          f"{' (stopped when the loss blew up)' if len(lrs) < args.steps else ''}")
    print("lr         smoothed loss")
    for i in np.unique(np.linspace(0, len(lrs) - 1, min(len(lrs), 12)).round().astype(int)):
        print(f"{lrs[i]:<10.3g} {losses[i]:.4f}")
    if args.plot is not None:
        from .. import plot

        fig = plot.lr_finder_curve(lrs, losses, result.suggestion,
                                   title=f"learning-rate finder: {cfg['dataset']}, {cfg['optimizer']}")
        try:
            fig.savefig(args.plot)
        except OSError as e:  # the file system's refusal, reported as a usage error
            raise UsageError(f"plot: cannot write {args.plot!r} ({e.strerror or e})") from None
        print(f"wrote {args.plot}")
    print(f"suggested learning rate: {result.suggestion:.3g} (the steepest fall; a few times "
          f"lower is the cautious choice)")
    return EXIT_OK
