"""Optimizers as pure ``(init, update)`` pairs, in the shape of optax: a base, transforms, aliases.

- ``init(params) -> state``: plain data, a NamedTuple per transform holding the step
  ``count`` (steps taken so far) and trees of arrays mirroring ``params``.
- ``update(grads, state, params) -> (updates, new_state)``: never changes its arguments.
  The new state is made of fresh arrays; ``updates`` may share arrays with ``grads`` where a
  transform passes a leaf through untouched (nothing in funcnet writes into either).

:func:`apply_updates` adds the updates to the params, :func:`step` does both at once.
Transforms (clipping, weight decay, scaling, the momentum, RMS and Adam statistics) compose
with :func:`chain`, and the optimizers people name are such chains: ``adam(lr)`` *is*
``chain(scale_by_adam(), scale_by_learning_rate(lr))``. Every optimizer here is a frozen
dataclass of its hyper-parameters, so it compares, prints and pickles as plain data; any
object with the same two methods (an :class:`Optimizer` of your own functions) works wherever
one does.

A learning rate is a positive number or a schedule ``step -> rate`` (:mod:`funcnet.schedules`),
called with ``state.count``: 0 for the first update. dtype follows the params: float32 params
get float32 state and updates. State that decays while its gradient is zero (velocities,
moments) is flushed of values about to turn subnormal every few steps (see
:mod:`funcnet.optim._kernels`), which no update can show.

>>> params = ({"W": np.array([[1.0]]), "b": np.array([0.5])},)
>>> grads = ({"W": np.array([[2.0]]), "b": np.array([1.0])},)
>>> opt = sgd(0.1)
>>> updates, state = opt.update(grads, opt.init(params), params)
>>> apply_updates(params, updates)[0]["W"]
array([[0.8]])
>>> opt = chain(clip_by_global_norm(1.0), adam(1e-3))
>>> new_params, state = step(opt, grads, opt.init(params), params)
>>> state.count, new_params[0]["b"]
(1, array([0.499]))

See Also:
    funcnet.schedules: learning-rate schedules.
    funcnet.fit: runs an optimizer over mini-batches.
"""

import numpy as np  # noqa: F401  (the doctests use it)

from .aliases import adam, adamw, momentum, nesterov, rmsprop, sgd, sgd_step
from .base import (
    Chain,
    ChainState,
    CountState,
    Optimizer,
    Transform,
    apply_updates,
    chain,
    check_optimizer,
    step,
)
from .transforms import (
    AdamState,
    RMSState,
    TraceState,
    add_decayed_weights,
    add_weight_decay,
    clip_by_global_norm,
    clip_by_value,
    scale,
    scale_by_adam,
    scale_by_learning_rate,
    scale_by_rms,
    scale_by_schedule,
    trace,
)

__all__ = [
    "Optimizer",
    "Transform",
    "Chain",
    "CountState",
    "ChainState",
    "TraceState",
    "RMSState",
    "AdamState",
    "apply_updates",
    "step",
    "sgd_step",
    "check_optimizer",
    "chain",
    "sgd",
    "momentum",
    "nesterov",
    "rmsprop",
    "adam",
    "adamw",
    "scale",
    "scale_by_learning_rate",
    "scale_by_schedule",
    "clip_by_global_norm",
    "clip_by_value",
    "add_decayed_weights",
    "add_weight_decay",
    "trace",
    "scale_by_rms",
    "scale_by_adam",
]
