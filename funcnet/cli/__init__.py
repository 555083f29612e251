"""The ``funcnet`` command line: train, evaluate, gradcheck, lr-find.

``funcnet train`` (also plain ``funcnet`` or ``python -m funcnet``) trains an MLP on a
built-in dataset and writes the run into ``--out``:

- ``params.npz``: architecture, params, batch-norm statistics (:mod:`funcnet.io`);
- ``history.json``: ``fit(...).history``;
- ``config.json``: every setting the run used: ``funcnet train --config DIR/config.json``
  repeats it, giving byte-identical ``params.npz`` and ``history.json``;
- ``summary.json``: test accuracy and loss, wall time (the one file that changes between
  repeats);
- PNG plots that fit the dataset, when matplotlib is installed.

``funcnet evaluate --params FILE`` reports a saved net's accuracy on its dataset (read from the
``config.json`` beside the file unless ``--dataset`` is given). ``funcnet gradcheck`` checks
backprop against finite differences for an architecture, layer by layer. ``funcnet lr-find``
runs the learning-rate range test (:func:`funcnet.lr_finder.lr_find`) on a dataset's net and
prints the suggested rate (``--plot FILE`` draws the curve).

The package holds one job per module: :mod:`~funcnet.cli.config` (settings),
:mod:`~funcnet.cli.data` (datasets, splits, keys), :mod:`~funcnet.cli.rundir` (the run
directory), :mod:`~funcnet.cli.report` (progress and plots), :mod:`~funcnet.cli.commands`
(the subcommands); this module holds the parser and :func:`main`.

>>> main(["gradcheck", "--inputs", "3", "--hidden", "4", "--outputs", "2"])  # doctest: +ELLIPSIS
gradcheck 3-4-2 tanh/softmax, 8 samples, float64 central differences (eps 1e-05)
layer  shape  W        b        worst
1      3x4    ...
2      4x2    ...
worst relative error ...e-... <= tol 1e-06: ok
0
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading

from .. import __version__
from ..activations import ACTIVATIONS
from ..losses import HEADS
from . import commands
from .config import DATASETS, OPTIMIZERS, UsageError, defaults_table, resolve_config
from .data import load_data

__all__ = ["main", "build_parser", "DATASETS", "resolve_config", "load_data", "UsageError"]

EXIT_FAIL, EXIT_INTERRUPTED = 1, 130  # usage errors: 2, from argparse


# --- argument types: argparse turns their ArgumentTypeError into "argument --x: message" ---


def _int_at_least(minimum, expected):
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return v

    return parse


_positive_int = _int_at_least(1, "a positive integer")
_nonneg_int = _int_at_least(0, "an integer >= 0")


def _threads(text):
    return text if text == "auto" else _int_at_least(1, "'auto' or a positive integer")(text)


def _float(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return v


def build_parser() -> argparse.ArgumentParser:
    """The ``funcnet`` argument parser with its subcommands."""
    parser = argparse.ArgumentParser(
        prog="funcnet",
        description="Train, evaluate and check MLPs written as pure NumPy functions. "
                    "Without a subcommand, runs 'train'.",
    )
    parser.add_argument("--version", action="version", version=f"funcnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{train,evaluate,gradcheck,lr-find}")

    t = sub.add_parser("train", help="train a net on a dataset and write the run into --out",
                       description="Train an MLP on a dataset; write params, history, config and "
                                   "plots into --out. Defaults depend on the dataset.",
                       epilog=defaults_table(), formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("--config", metavar="FILE", help="settings from a config.json of an earlier run")
    _add_data_args(t)
    _add_model_args(t)
    t.add_argument("--lr", type=_float, help="learning rate")
    t.add_argument("--epochs", type=_positive_int, help="passes over the training data")
    t.add_argument("--val-fraction", type=_float,
                   help="fraction of the training data held out for validation (0: none); the test "
                        "set is used once, for the final figure")
    t.add_argument("--patience", type=_positive_int,
                   help="early stopping: stop after this many epochs without --monitor improving by "
                        "--min-delta, and keep the params of the best epoch (not the last)")
    t.add_argument("--monitor", choices=["val_loss", "val_accuracy"],
                   help="what early stopping watches on the validation split (default val_loss)")
    t.add_argument("--min-delta", type=_float, help="the improvement that counts for early stopping")
    t.add_argument("--schedule", choices=["constant", "cosine", "linear"],
                   help="learning rate over the run: constant, or cosine/linear decay to 0 at the last "
                        "epoch (counted in epochs; the steps follow from the data)")
    t.add_argument("--warmup-epochs", type=_nonneg_int, metavar="N",
                   help="rise linearly from 0 to --lr over the first N epochs, then --schedule")
    t.add_argument("--weight-decay", type=_float, help="adamw's decoupled weight decay (default 0.01)")
    t.add_argument("--label-smoothing", type=_float, metavar="A",
                   help="train on labels moved A of the way towards uniform (e.g. 0.1)")
    t.add_argument("--shift", type=_nonneg_int, metavar="PIXELS",
                   help="image datasets: move each training image by up to this many pixels, at random")
    t.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                   help="image datasets: mirror half the training images left to right")
    t.add_argument("--seed", type=_nonneg_int, help="seed of every random choice of the run")
    t.add_argument("--threads", type=_threads, metavar="auto|N",
                   help="BLAS threads while training: auto (default: large matrix products on all, "
                        "small ones on one) or N; with 1 the run gives the same bits on any machine")
    t.add_argument("--out", metavar="DIR", default=None,
                   help="directory for the run (default: runs/DATASET)")
    t.add_argument("--checkpoint-every", type=_positive_int, metavar="N",
                   help="write checkpoint.npz into --out every N epochs and at the end; a killed run "
                        "goes on with --resume")
    t.add_argument("--resume", metavar="DIR",
                   help="continue the run in DIR (killed or finished) from its checkpoint, to --epochs "
                        "in all; its other settings come from DIR/config.json")
    t.add_argument("--no-plots", action="store_true", help="do not draw plots")
    t.add_argument("--tsne", action="store_true",
                   help="also draw the hidden layer by t-SNE (slow: up to a minute); PCA is always drawn")
    loud = t.add_mutually_exclusive_group()
    loud.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    loud.add_argument("-v", "--verbose", action="store_true", help="one summary line per epoch")
    t.set_defaults(handler=commands.train, parser=t)

    e = sub.add_parser("evaluate", help="accuracy of saved params on a dataset",
                       description="Evaluate saved params. Dataset, seed and sample count default "
                                   "to those in the config.json beside --params.")
    e.add_argument("--params", required=True, metavar="FILE", help="a params.npz written by train")
    _add_data_args(e)
    e.add_argument("--seed", type=_nonneg_int, help="seed of the data split (default: the run's)")
    e.set_defaults(handler=commands.evaluate_run, parser=e)

    g = sub.add_parser("gradcheck", help="backprop against finite differences, per layer",
                       description="Check the hand-derived gradient of a random net on random "
                                   "data against central differences, layer by layer.")
    g.add_argument("--inputs", type=_positive_int, default=3, help="input width (default 3)")
    g.add_argument("--hidden", type=_positive_int, nargs="*", default=[8], metavar="N",
                   help="hidden widths (default 8)")
    g.add_argument("--outputs", type=_positive_int, default=2, help="output width (default 2)")
    g.add_argument("--activation", choices=sorted(ACTIVATIONS), default="tanh")
    g.add_argument("--output", choices=sorted(HEADS), default="softmax", help="output head")
    g.add_argument("--batchnorm", action="store_true")
    g.add_argument("--dropout", type=_float, default=0.0)
    g.add_argument("--l2", type=_float, default=0.0)
    g.add_argument("--samples", type=_positive_int, default=8, help="batch size (default 8)")
    g.add_argument("--seed", type=_nonneg_int, default=0)
    g.add_argument("--tol", type=_float, default=1e-6, help="largest acceptable error (default 1e-6)")
    g.set_defaults(handler=commands.gradcheck, parser=g)

    f = sub.add_parser("lr-find", help="learning-rate range test: suggest a learning rate",
                       description="Train briefly while the learning rate grows exponentially "
                                   "from --start to --stop, and suggest the rate where the loss "
                                   "falls fastest (funcnet.lr_finder.lr_find). Net and data as "
                                   "for train, from the same flags or --config.")
    f.add_argument("--config", metavar="FILE", help="net and data from a config.json of a run")
    _add_data_args(f)
    _add_model_args(f)
    f.add_argument("--seed", type=_nonneg_int, help="seed of the data, init and shuffling")
    f.add_argument("--start", type=_float, default=1e-5, help="first rate (default 1e-5)")
    f.add_argument("--stop", type=_float, default=10.0, help="last rate (default 10)")
    f.add_argument("--steps", type=_positive_int, default=100, help="steps, one rate each (default 100)")
    f.add_argument("--plot", metavar="FILE", help="also draw the loss-vs-rate curve into this PNG")
    f.set_defaults(handler=commands.lr_find, parser=f)
    return parser


def _add_model_args(p):
    p.add_argument("--hidden", type=_positive_int, nargs="*", metavar="N",
                   help="hidden layer widths, e.g. --hidden 128 64 (none: a linear model)")
    p.add_argument("--activation", choices=sorted(ACTIVATIONS), help="hidden activation")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help="optimizer")
    p.add_argument("--batch-size", type=_positive_int, help="samples per step")
    p.add_argument("--l2", type=_float, help="L2 penalty on the weights")
    p.add_argument("--dropout", type=_float, help="dropout probability of hidden units")
    p.add_argument("--batchnorm", action=argparse.BooleanOptionalAction, default=None,
                   help="batch normalisation after every hidden layer")
    p.add_argument("--dtype", choices=["float32", "float64"], help="compute dtype")


def _add_data_args(p):
    p.add_argument("--dataset", choices=sorted(DATASETS), help="dataset (train default: digits)")
    p.add_argument("--data-dir", metavar="DIR",
                   help="folder with the IDX .gz files (mnist, fashion-mnist)")
    p.add_argument("--n-samples", type=_positive_int, metavar="N",
                   help="points to generate, in all (xor-clusters, moons, circles, spirals)")


def main(argv=None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status.

    Without a subcommand (``funcnet``, ``funcnet --epochs 5``), runs ``train``. Bad arguments
    exit with status 2 and an argparse-style message; a failed run (e.g. diverged training)
    returns 1; Ctrl-C returns 130. Nothing half-written is left in ``--out``.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    names = {"train", "evaluate", "gradcheck", "lr-find"}
    if not argv or (argv[0] not in names and argv[0] not in ("-h", "--help", "--version")):
        argv = ["train", *argv]
    args = parser.parse_args(argv)
    # SIGTERM (a scheduler's or `kill`'s) ends a run the way Ctrl-C does: cleanly, nothing
    # half-written left behind.
    previous = _on_sigterm(_interrupt)
    try:
        return args.handler(args)
    except UsageError as e:
        args.parser.error(str(e))  # exits with status 2
    except FloatingPointError as e:
        print(f"funcnet {args.command}: error: {e}", file=sys.stderr)
        return EXIT_FAIL
    except commands.Written as e:
        print(f"funcnet {args.command}: interrupted; the run in {e.out} is complete", file=sys.stderr)
        return EXIT_INTERRUPTED
    except commands.Checkpointed as e:
        print(f"funcnet {args.command}: interrupted; {e.out} holds the checkpoint after epoch {e.epoch}: "
              f"go on with funcnet train --resume {e.out}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print(f"funcnet {args.command}: interrupted; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_FAIL
    finally:
        _on_sigterm(previous)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _on_sigterm(handler):
    """Install ``handler`` for SIGTERM (main thread only); return the one it replaces."""
    if handler is None or threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, handler)
