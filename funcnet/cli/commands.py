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

from .. import __version__, augment, checks, io, optim, schedules
from .. import random as rnd
from ..network import Net, accuracy, init
from ..objective import evaluate, gradcheck_tree
from ..train import fit, steps_per_epoch
from .config import CONFIG_KEYS, IMAGE_SHAPES, SHAPES, UsageError, read_json, resolve_config
from .data import load_data, run_keys
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


def _optimizer(cfg, per_epoch: int = 1):
    """The run's optimizer; its learning-rate schedule counts epochs of ``per_epoch`` steps."""
    steps, warmup = cfg["epochs"] * per_epoch, cfg["warmup_epochs"] * per_epoch
    with core_errors():
        lr = {"constant": lambda: cfg["lr"],
              "cosine": lambda: schedules.cosine(cfg["lr"], max(1, steps - warmup)),
              "linear": lambda: schedules.linear(cfg["lr"], 0.0, max(1, steps - warmup))}[cfg["schedule"]]()
        if warmup:
            lr = schedules.linear_warmup(lr, warmup)
        make = getattr(optim, cfg["optimizer"])
        if cfg["optimizer"] == "adamw" and cfg["weight_decay"] is not None:
            return make(lr, weight_decay=cfg["weight_decay"])
        return make(lr)


def _augment(cfg):
    shape = IMAGE_SHAPES.get(cfg["dataset"])
    parts = ([augment.shifts(shape, cfg["shift"])] if cfg["shift"] else []) + \
            ([augment.flips(shape)] if cfg["flip"] else [])
    with core_errors():
        return None if not parts else parts[0] if len(parts) == 1 else augment.chain(*parts)


def _usable(out: Path, step) -> None:
    """``step(out)``, with the file system's refusal (e.g. a name too long) as a usage error."""
    try:
        step(out)
    except OSError as e:
        raise UsageError(f"out: cannot use {str(out)!r} ({e.strerror or e})") from None


def _settings(args) -> dict:
    return resolve_config(vars(args), read_json(args.config, "config") if args.config else None)


def train(args) -> int:
    if args.resume is not None:
        cfg, out, previous = _resumed(args)
    else:
        cfg = _settings(args)
        with core_errors():
            out = Path(checks.path(args.out, "out") if args.out is not None else os.path.join("runs", cfg["dataset"]))
        _usable(out, check_out)
        previous = None
    _usable(out, clear_stale)
    net, _ = _net(cfg), _optimizer(cfg)  # the settings the core checks fail here, before any data
    if previous is not None and previous.net != net:
        raise UsageError(f"resume: the checkpoint's net {previous.net} is not the net of its config.json")
    keys = run_keys(cfg["seed"])
    data = load_data(cfg)
    Xfit, yfit, validation = data.X, data.y, data.validation
    with core_errors():
        optimizer = _optimizer(cfg, steps_per_epoch(len(Xfit), cfg["batch_size"]))
    result = previous.result if previous is not None else None
    every = cfg["checkpoint_every"] or cfg["epochs"]
    stored = {**cfg, "funcnet_version": __version__}

    callback, close = progress(cfg["epochs"], args.quiet, args.verbose, done=result.state.epoch if result else 0)
    start = time.perf_counter()
    saved = result.state.epoch if result is not None else None
    try:
        # fit in pieces of `every` epochs, each continuing the last bit for bit; a checkpoint
        # after each piece is published into --out as a complete, resumable directory.
        while result is None or not (result.state.epoch >= cfg["epochs"] or result.state.stopped):
            done = result.state.epoch if result is not None else 0
            with core_errors():
                result = fit(net, result if result is not None else init(keys["init"], net), Xfit, yfit,
                             key=keys["fit"], optimizer=optimizer, epochs=min(done + every, cfg["epochs"]),
                             batch_size=cfg["batch_size"], l2=cfg["l2"], validation=validation,
                             patience=cfg["patience"], monitor=cfg["monitor"], min_delta=cfg["min_delta"],
                             label_smoothing=cfg["label_smoothing"], augment=_augment(cfg),
                             threads=cfg["threads"], callback=callback)
            if cfg["checkpoint_every"] and not (result.state.epoch >= cfg["epochs"] or result.state.stopped):
                _publish_run(out, stored, net, result)
                saved = result.state.epoch
    except KeyboardInterrupt:
        if saved is not None:
            raise Checkpointed(out, saved) from None
        raise
    finally:
        close()
    seconds = time.perf_counter() - start
    Xte, yte = data.X_test, data.y_test
    test = evaluate(net, result.params, Xte, yte, stats=result.stats)
    summary = {
        "dataset": cfg["dataset"], "sizes": list(net.sizes),
        "epochs_run": len(result.history["epoch"]), "best_epoch": result.best_epoch,
        "train_samples": len(Xfit), "test_samples": len(Xte),
        "test_accuracy": test["accuracy"], "test_loss": test["loss"],
    }

    def finish(tmp):
        if args.no_plots:
            return "plots: off (--no-plots)"
        if not importable("matplotlib"):
            return "plots: skipped, matplotlib is not installed (pip install 'funcnet[plot]')"
        return "plots: " + ", ".join(write_plots(tmp, cfg, net, result, data, keys["plot"], tsne=args.tsne))

    note = _publish_run(out, stored, net, result, summary=summary, finish=finish)
    try:
        if not args.quiet:
            print(note)
        print(f"{cfg['dataset']}: test accuracy {test['accuracy']:.4f} ({len(Xte)} samples), "
              f"{len(result.history['epoch'])} epochs in {duration(seconds)}; wrote {out}")
    except KeyboardInterrupt:
        raise Written(out) from None
    return EXIT_OK


def _publish_run(out: Path, config: dict, net, result, *, summary=None, finish=None):
    """Write a run directory into a temporary folder and publish it as ``out`` in one step.

    Without ``summary`` it is a checkpoint of a run under way (config, history, checkpoint);
    with it, the finished run (params, summary, and what ``finish(folder)`` adds: plots).
    Returns what ``finish`` returned.
    """
    try:
        tmp = make_temporary(out)
    except OSError as e:  # the file system's refusal, reported as a usage error
        raise UsageError(f"out: cannot create {str(out)!r} ({e.strerror or e})") from None
    try:
        write_json(tmp / "config.json", config)
        write_json(tmp / "history.json", result.history)
        if config["checkpoint_every"]:
            io.save_checkpoint(tmp / "checkpoint.npz", net, result, config=config)
        note = None
        if summary is not None:
            io.save(tmp / "params.npz", net, result.params, stats=result.stats)
            write_json(tmp / "summary.json", summary)
            note = finish(tmp) if finish is not None else None
        publish(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return note


def _resumed(args):
    """The settings, directory and checkpoint of ``--resume DIR``; only ``--epochs`` may change."""
    given = [k for k, v in vars(args).items()
             if v is not None and k in CONFIG_KEYS and k != "epochs"] + (["config"] if args.config else [])
    if given:
        raise UsageError(f"resume: a resumed run keeps the settings in its config.json; only --epochs may be "
                         f"given, got {sorted(given)}")
    run = Path(args.resume)
    if not (run / "checkpoint.npz").is_file():
        raise UsageError(f"resume: {str(run)!r} holds no checkpoint.npz (train with --checkpoint-every N)")
    cfg = resolve_config({"epochs": args.epochs}, read_json(run / "config.json", "config"))
    try:
        previous = io.load_checkpoint(run / "checkpoint.npz")
    except (ValueError, TypeError, OSError) as e:
        raise UsageError(f"resume: {e}") from None
    done = previous.result.state.epoch
    if cfg["epochs"] < done:
        raise UsageError(f"epochs: expected at least the {done} epochs the run has done, got {cfg['epochs']}")
    out = Path(args.out) if args.out is not None else run
    if args.out is not None:
        with core_errors():
            checks.path(args.out, "out")
    _usable(out, check_out)
    return cfg, out, previous


class Checkpointed(KeyboardInterrupt):
    """An interrupt during a run whose checkpoint after ``epoch`` is in ``out``."""

    def __init__(self, out, epoch):
        super().__init__(out, epoch)
        self.out, self.epoch = out, epoch


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
    settings = {k: run[k] for k in ("dataset", "data_dir", "n_samples", "seed", "val_fraction") if k in run}
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
    data = load_data(cfg)
    print(f"{cfg['dataset']}: net {'-'.join(map(str, net.sizes))} {net.activation}")
    print(f"train accuracy      {accuracy(net, params, data.X, data.y, stats=stats):.4f} "
          f"({len(data.X)} samples the run trained on)")
    if data.validation is not None:
        Xv, yv = data.validation
        print(f"validation accuracy {accuracy(net, params, Xv, yv, stats=stats):.4f} "
              f"({len(Xv)} samples of the training set the run held out)")
    test = evaluate(net, params, data.X_test, data.y_test, stats=stats)
    print(f"test accuracy       {test['accuracy']:.4f} ({len(data.X_test)} samples), test loss {test['loss']:.4f}")
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
    data = load_data(cfg)
    Xfit, yfit = data.X, data.y
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
