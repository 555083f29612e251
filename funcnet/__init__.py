"""funcnet: multilayer perceptrons as pure functions, in NumPy, with backprop derived by hand.

Params are plain data (a tuple of ``{"W", "b"}`` dicts), randomness comes from explicit keys,
and every public function returns new values without touching its arguments.

>>> import funcnet as fn
>>> net = fn.Net((2, 8, 2), activation="tanh", dtype="float64")
>>> params = fn.init(fn.random.key(0), net)
>>> X, y = fn.datasets.xor()
>>> result = fn.fit(net, params, X, y, key=fn.random.key(1), optimizer=fn.optim.sgd(0.5),
...                 epochs=300, batch_size=4)
>>> fn.accuracy(net, result.params, X, y)
1.0
"""

from . import checks
from . import random
from . import tree
from . import layers
from .activations import ACTIVATIONS, Activation, log_softmax, softmax
from .initializers import INITIALIZERS
from .losses import (
    HEADS,
    binary_cross_entropy,
    binary_cross_entropy_grad,
    mean_squared_error,
    mean_squared_error_grad,
    softmax_cross_entropy,
    softmax_cross_entropy_grad,
)
from .network import (
    Net,
    accuracy,
    backward,
    forward,
    forward_train,
    init,
    init_stats,
    predict,
    predict_proba,
    update_stats,
)
from .objective import evaluate, grad, gradcheck, gradcheck_tree, loss, value_and_grad
from . import optim
from .optim import apply_updates, sgd_step
from . import schedules
from .train import (
    Batch,
    BatchGradients,
    Best,
    FitResult,
    FitState,
    ScheduleWarning,
    StepMetrics,
    TrainState,
    fit,
    make_train_step,
    steps_per_epoch,
    train_step,
)
from .lr_finder import LRFindResult, lr_find
from .tree import tree_leaves, tree_map, tree_structure, tree_unflatten, tree_zip
from . import augment
from . import datasets
from . import io
from . import plot

__version__ = "0.2.0"

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "Batch",
    "BatchGradients",
    "Best",
    "FitResult",
    "FitState",
    "HEADS",
    "INITIALIZERS",
    "LRFindResult",
    "Net",
    "ScheduleWarning",
    "StepMetrics",
    "TrainState",
    "accuracy",
    "apply_updates",
    "backward",
    "binary_cross_entropy",
    "binary_cross_entropy_grad",
    "checks",
    "augment",
    "datasets",
    "io",
    "plot",
    "evaluate",
    "fit",
    "forward",
    "forward_train",
    "grad",
    "gradcheck",
    "gradcheck_tree",
    "init",
    "init_stats",
    "layers",
    "log_softmax",
    "loss",
    "lr_find",
    "make_train_step",
    "mean_squared_error",
    "mean_squared_error_grad",
    "optim",
    "predict",
    "predict_proba",
    "random",
    "schedules",
    "sgd_step",
    "steps_per_epoch",
    "softmax",
    "softmax_cross_entropy",
    "softmax_cross_entropy_grad",
    "train_step",
    "tree",
    "tree_leaves",
    "tree_map",
    "tree_structure",
    "tree_unflatten",
    "tree_zip",
    "update_stats",
    "value_and_grad",
]
