"""The network: an architecture as plain data, and the one loop that runs its layers.

A :class:`Net` is frozen, hashable data that builds its list of layers (:mod:`funcnet.layers`).
Per hidden layer that list is ``Dense`` (``u = h W + b``), optional ``BatchNorm`` (which
replaces the bias), the activation, and optional ``Dropout``; the last layer is a ``Dense``
whose outputs are *logits*: the output non-linearity lives with the loss (see
:mod:`funcnet.losses`). Params are a tuple with one dict per ``Dense``, ``{"W": (n_in, n_out),
"b": (n_out,)}``, or ``{"W", "gamma", "beta"}`` where batch norm follows.

One forward loop (:func:`_forward`) serves training, evaluation, hidden representations and
the public functions; one backward loop (:func:`_backward`) gives every gradient; one loop moves
the running statistics (:func:`_update_stats`); shapes come from the layers, so adding a layer
type touches :mod:`funcnet.layers` alone.

>>> from funcnet.random import key
>>> net = Net((2, 3, 1), activation="tanh", output="sigmoid", dtype="float64")
>>> params = init(key(0), net)
>>> [sorted(p) for p in params], params[0]["W"].shape
([['W', 'b'], ['W', 'b']], (2, 3))
>>> forward(net, params, np.zeros((5, 2))).shape
(5, 1)
"""

from __future__ import annotations

import dataclasses

import numpy as np

from . import checks
from . import random as rnd
from .activations import ACTIVATIONS
from .initializers import INITIALIZERS, default_init
from .layers import Act, BatchNorm, Ctx, Dense, Dropout, Layer
from .losses import HEADS
from .tree import tree_paths

__all__ = [
    "Net",
    "init",
    "init_stats",
    "forward",
    "forward_train",
    "backward",
    "update_stats",
    "predict_proba",
    "predict",
    "accuracy",
    "check_params",
    "check_stats",
]


@dataclasses.dataclass(frozen=True, repr=False)
class Net:
    """An MLP architecture: plain, hashable, validated on construction.

    Attributes:
        sizes: layer widths, input first and output last, e.g. ``(64, 128, 10)``.
        activation: hidden activation, a key of ``funcnet.ACTIVATIONS``.
        output: ``"softmax"`` (+ cross-entropy, classes), ``"sigmoid"`` (+ binary
            cross-entropy, binary/multi-label) or ``"identity"`` (+ mean squared error).
        init: weight scheme, a key of ``funcnet.INITIALIZERS``, or ``"auto"`` (He for the
            ReLU family, Xavier for tanh/sigmoid).
        dtype: ``"float32"`` or ``"float64"``, the dtype of the params and of every computation.
        dropout: probability of dropping a hidden unit in training, in ``[0, 1)``.
        batchnorm: batch normalisation after every hidden linear layer.
        layers: ``None`` (the layers follow from the fields above), or a net of your own
            layers, made with :meth:`from_layers`.

    >>> Net((64, 128, 10)).init_scheme
    'he_normal'
    >>> Net((64, 0, 10))
    Traceback (most recent call last):
    ValueError: sizes: expected an integer >= 1, got 0
    """

    sizes: tuple
    activation: str | None = "relu"
    output: str = "softmax"
    init: str | None = "auto"
    dtype: str = "float32"
    dropout: float = 0.0
    batchnorm: bool = False
    layers: tuple | None = None

    def __post_init__(self):
        sizes = self.sizes
        if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
            raise TypeError(f"sizes: expected a sequence of layer widths, got {checks.show(sizes)}")
        try:
            sizes = tuple(sizes)
        except TypeError:  # iterable in name only (a 0-d array)
            raise TypeError(f"sizes: expected a sequence of layer widths, got {checks.show(sizes)}") from None
        sizes = tuple(checks.integer(s, "sizes", low=1) for s in sizes)
        for s in sizes:  # named here, before a layer is built of it
            checks.size((s,), "sizes")
        # The fields are kept as checked (plain str, bool, float): a net equals, prints and
        # saves the same however its values were spelled (np.str_, np.bool_...).
        object.__setattr__(self, "output", checks.choice(self.output, "output", HEADS))
        object.__setattr__(self, "dtype", checks.float_dtype(self.dtype).name)
        if self.layers is None:
            if len(sizes) < 2:
                raise ValueError(f"sizes: expected at least an input and an output size, got {sizes}")
            object.__setattr__(self, "activation", checks.choice(self.activation, "activation", ACTIVATIONS))
            object.__setattr__(self, "init", checks.choice(self.init, "init", [*INITIALIZERS, "auto"]))
            object.__setattr__(self, "dropout", checks.real(self.dropout, "dropout", low=0, high=1, high_open=True))
            object.__setattr__(self, "batchnorm", checks.boolean(self.batchnorm, "batchnorm"))
            stack = _standard_layers(sizes, self.activation, self.init_scheme, self.dropout, self.batchnorm)
        else:
            if not isinstance(self.layers, (tuple, list)) or not self.layers:
                raise TypeError(f"layers: expected a non-empty sequence of funcnet.layers.Layer, got {checks.show(self.layers)}")
            for i, layer in enumerate(self.layers):
                checks.instance(layer, f"layers[{i}]", Layer, "a funcnet.layers.Layer")
            if (self.activation, self.init, self.dropout, self.batchnorm) != (None, None, 0.0, False):
                raise ValueError("layers: a net of given layers takes no activation, init, dropout or "
                                 "batchnorm (they are layers of it); use Net.from_layers")
            object.__setattr__(self, "layers", tuple(self.layers))
            stack = self.layers
        plan, widths = _plan(sizes[0], stack)
        if self.layers is not None:
            if len(sizes) > 1 and sizes != widths:
                raise ValueError(f"sizes: the layers give widths {widths}, got {sizes}")
            sizes = widths
        object.__setattr__(self, "sizes", sizes)
        if self.output == "softmax" and sizes[-1] < 2:
            raise ValueError(f"{'sizes' if self.layers is None else 'layers'}: a softmax output needs at least "
                             f"2 units, got {sizes[-1]}")
        # Widths so large that no array could hold a layer's params are a mistake to name here,
        # before the shape stand-ins below (NumPy would refuse them naming nothing).
        itemsize = np.dtype(self.dtype).itemsize
        for step in plan:
            for shape in (*step.params.values(), *step.state.values()):
                checks.size(shape, "sizes" if self.layers is None else "layers", itemsize)
        # The run plan, derived from the fields (not a field: equality and hashing use those),
        # and memory-free arrays of the params' and statistics' shapes to check against.
        object.__setattr__(self, "_plan", plan)
        object.__setattr__(self, "_params_like", _shaped(self.shapes()))
        object.__setattr__(self, "_stats_like", _shaped(self.stats_shapes()))
        # What every pass would otherwise work out again from the plan: the number of random
        # layers, whether any keeps state, the forward runs of each mode and the backward run
        # (see _runs).
        object.__setattr__(self, "_n_random", sum(1 for step in plan if step.layer.random))
        object.__setattr__(self, "_has_state", any(step.state for step in plan))
        object.__setattr__(self, "_runs", _runs(plan))
        object.__setattr__(self, "_back", tuple((i, plan[i].layer, plan[i].group, i > 0)
                                                for i in range(len(plan) - 1, -1, -1)))

    def __reduce__(self):
        # Rebuilt from its fields: the run plan and the shape stand-ins are derived data.
        return (type(self), tuple(getattr(self, f.name) for f in dataclasses.fields(self)))

    @classmethod
    def from_layers(cls, n_in: int, layers, *, output: str = "softmax", dtype: str = "float32") -> "Net":
        """A net of your own layers (see :mod:`funcnet.layers`), input width ``n_in``.

        Every :class:`~funcnet.layers.Dense` starts a new dict in params; the layers after it
        keep their params in that dict.

        >>> from funcnet.layers import Act, Dense
        >>> net = Net.from_layers(3, [Dense(4), Act("tanh"), Dense(2)])
        >>> net.sizes, net == Net((3, 4, 2), activation="tanh", init="he_normal")
        ((3, 4, 2), False)
        """
        n_in = checks.integer(n_in, "n_in", low=1)
        checks.size((n_in,), "n_in")
        return cls((n_in,), None, output, None, dtype, 0.0, False,
                   tuple(layers) if isinstance(layers, (list, tuple)) else layers)

    def __repr__(self):
        if self.layers is not None:
            return f"Net(sizes={self.sizes}, output={self.output!r}, dtype={self.dtype!r}, layers={self.layers})"
        return (f"Net(sizes={self.sizes}, activation={self.activation!r}, output={self.output!r}, "
                f"init={self.init!r}, dtype={self.dtype!r}, dropout={self.dropout!r}, "
                f"batchnorm={self.batchnorm!r})")

    @property
    def init_scheme(self) -> str | None:
        """The initializer actually used (resolving ``"auto"``); None for a net of given layers."""
        if self.layers is not None:
            return None
        return default_init(self.activation) if self.init == "auto" else self.init

    @property
    def n_layers(self) -> int:
        """Number of layer dicts in params (``len(sizes) - 1``)."""
        return len(self.sizes) - 1

    @property
    def stack(self) -> tuple:
        """The layers this net runs, in order."""
        return tuple(step.layer for step in self._plan)

    @property
    def needs_key(self) -> bool:
        """Whether training draws random numbers (dropout): ``loss``/``grad`` then need a key."""
        return self._n_random > 0

    @property
    def has_state(self) -> bool:
        """Whether some layer keeps running state (batch norm): evaluation then needs ``stats``."""
        return self._has_state

    def shapes(self):
        """The params' tree with shapes for leaves, without making any arrays.

        >>> Net((2, 3, 1), output="sigmoid").shapes()
        ({'W': (2, 3), 'b': (3,)}, {'W': (3, 1), 'b': (1,)})
        """
        return _grouped(self, lambda step: step.params)

    def stats_shapes(self):
        """The running statistics' tree with shapes for leaves.

        >>> Net((2, 3, 2), batchnorm=True).stats_shapes()
        ({'mean': (3,), 'var': (3,)}, {})
        """
        return _grouped(self, lambda step: step.state)


@dataclasses.dataclass(frozen=True)
class Step:
    """One layer of a net's run plan: the layer, its params dict, its input width, its shapes."""

    layer: Layer
    group: int  # index of the dict in params that holds this layer's params (and stats)
    rank: int  # how many layers of this group come before it
    n_in: int
    params: dict  # {name: shape}
    state: dict  # {name: shape}


def _standard_layers(sizes, activation, scheme, dropout, batchnorm) -> tuple:
    layers = []
    for i, n_out in enumerate(sizes[1:]):
        hidden = i < len(sizes) - 2
        layers.append(Dense(n_out, bias=not (batchnorm and hidden), initializer=scheme))
        if hidden:
            if batchnorm:
                layers.append(BatchNorm())
            layers.append(Act(activation))
            if dropout:
                layers.append(Dropout(dropout))
    return tuple(layers)


def _plan(n_in: int, layers) -> tuple[tuple, tuple]:
    """The run plan of ``layers`` on inputs of width ``n_in``, and the widths (sizes) it gives."""
    plan, widths = [], [n_in]
    group, rank, names = -1, 0, {}
    n = n_in
    for i, layer in enumerate(layers):
        if layer.starts_group or group < 0:
            group, rank = group + 1, 0
            names = {}
            widths.append(n)
        n_out, params = layer.shapes(n)
        state = layer.state_shapes(n)
        for name in (*params, *state):
            if name in names:
                raise ValueError(f"layers[{i}]: {type(layer).__name__} names its param {name!r}, "
                                 f"which layers[{names[name]}] in the same layer dict already uses")
            names[name] = i
        plan.append(Step(layer, group, rank, n, dict(params), dict(state)))
        rank += 1
        n = n_out
        widths[group + 1] = n
    return tuple(plan), tuple(widths)


_NO_STATE: dict = {}  # the state of a layer without one (layers only read their context)


def _runs(plan) -> dict:
    """Per mode (``train`` False, True): the forward run of ``plan`` and whether each output
    is owned.

    A run is one ``(layer, group, ctx, step)`` per layer, ``ctx`` made once for a layer that
    neither draws random numbers nor keeps state (its context depends on the mode and on
    whether its input is owned alone), ``None`` for the others, whose context holds this
    pass's key or statistics. ``owned[i]`` is whether the input of layer ``i`` (the output
    of layer ``i - 1``) is an array the engine allocated: ``Layer.output_owned`` is a
    function of the layer, the mode and its input's ownership, so it is read once here.
    """
    out = {}
    for train in (False, True):
        owned, run = [False], []
        for step in plan:
            layer = step.layer
            special = layer.random or step.state
            run.append((layer, step.group, None if special else Ctx(train, None, _NO_STATE, owned[-1]), step))
            owned.append(layer.output_owned(owned[-1], train))
        out[train] = (tuple(run), tuple(owned))
    return out


def _shaped(shapes) -> tuple:
    zero = np.zeros((), bool)  # shapes only: broadcast views of one element
    return tuple({k: np.broadcast_to(zero, s) for k, s in d.items()} for d in shapes)


def _grouped(net: Net, part) -> tuple:
    out = [{} for _ in range(net.n_layers)]
    for step in net._plan:
        out[step.group].update(part(step))
    return tuple(out)


# --- boundary checks of the arguments every public function of the core takes ---


class Caches(tuple):
    """What :func:`forward_train` keeps for :func:`backward`: one opaque cache per layer of
    ``net.stack`` (a tuple), and the net and the batch size they were made for."""

    def __new__(cls, caches, net: Net, rows: int):
        self = super().__new__(cls, caches)
        self.net, self.rows = net, rows
        return self

    def __reduce__(self):
        return (Caches, (tuple(self), self.net, self.rows))


def check_caches(net: Net, caches, name: str = "caches") -> Caches:
    """The :class:`Caches` that :func:`forward_train` made for ``net``."""
    if not isinstance(caches, Caches) or len(caches) != len(net._plan):
        raise TypeError(f"{name}: expected the tuple of {len(net._plan)} caches from forward_train, "
                        f"got {checks.show(caches)}")
    if caches.net != net:
        raise ValueError(f"{name}: expected the caches forward_train made for this net, got those of "
                         f"{caches.net!r:.200}")
    return caches


def check_net(net, name: str = "net") -> Net:
    """A :class:`Net` (the argument people swap with params most often)."""
    return checks.instance(net, name, Net, "a funcnet.Net")


def check_params(net: Net, params, name: str = "params"):
    """``params`` must have the structure, shapes and dtype ``net`` implies, all finite."""
    checks.arrays_like(params, net._params_like, name, "net.shapes()", dtype=net.dtype)
    return params


def check_stats(net: Net, stats, name: str = "stats"):
    """Running statistics for ``net`` (``init_stats(net)`` or ``fit(...).stats``); for a net
    without batch norm any value, ``None`` included, stands for "none needed"."""
    if not net.has_state:
        return init_stats(net)
    if stats is None:
        raise ValueError(
            f"{name}: this net uses batch norm, so evaluation needs the running statistics "
            f"(funcnet.init_stats(net), or fit(...).stats); got None"
        )
    checks.arrays_like(stats, net._stats_like, name, "init_stats(net)", dtype=net.dtype)
    for (path, v) in _variances(stats):
        if v.min() < 0:
            raise ValueError(f"{name}{path}: expected variances >= 0, got a value of {v.min():g}")
    return stats


def _variances(stats):
    return [(f"[{i}]['var']", s["var"]) for i, s in enumerate(stats) if "var" in s]


def check_X(net: Net, X, name: str = "X") -> np.ndarray:
    """Inputs for ``net``, as ``net.dtype``."""
    return checks.matrix(X, name, columns=net.sizes[0], dtype=net.dtype)


# --- the engine: unchecked, allocates everything it writes to, never touches its arguments ---


def _forward(net: Net, params, X, *, train: bool, key=None, stats=(), stop: int | None = None):
    """Run the layers on ``X``: ``(output, caches, owned)``.

    In training, dropout layers draw from ``split(key, number of random layers)`` in order;
    ``stats`` feed evaluation-mode batch norm. ``stop`` ends the run after that many layers.
    ``owned`` says whether the output is an array the engine allocated and nobody keeps.
    """
    run, owned = net._runs[True if train else False]
    if stop is not None:
        run = run[:stop]
    keys = None
    if train and key is not None and net._n_random:
        keys = iter(rnd.split(key, net._n_random))
    h = X
    caches = []
    for layer, group, ctx, step in run:
        if ctx is None:  # a random layer or one with state: this pass's key or statistics
            ctx = Ctx(train, next(keys) if (keys is not None and layer.random) else None,
                      stats[group] if (step.state and stats) else _NO_STATE, owned[len(caches)])
        h, cache = layer.forward(params[group], h, ctx)
        caches.append(cache)
    return h, caches, owned[len(caches)]


def _backward(net: Net, params, caches, delta):
    """Backprop ``delta = dL/d(output)`` to every param (nothing passed in is written to)."""
    grads = [None] * len(params)
    for i, layer, group, need_dx in net._back:
        delta, g = layer.backward(params[group], caches[i], delta, need_dx)
        if g:
            have = grads[group]
            grads[group] = g if have is None else {**have, **g}
    # The keys in the params' order, so that grads print like params. None: no layer of that
    # dict gave grads, which is right only for a dict without params.
    return tuple([{k: (g or {})[k] for k in p} for g, p in zip(grads, params)])


def _update_stats(net: Net, stats, caches):
    """The running statistics after a training pass that left ``caches``."""
    if not net.has_state:
        return stats
    out = [dict(s) for s in stats]
    for step, cache in zip(net._plan, caches):
        if step.state:
            out[step.group].update(step.layer.update_state(stats[step.group], cache))
    return tuple(out)


def _products(net: Net, rows: int, train: bool) -> list:
    """The ``(m, k, n)`` matrix products of one pass of ``net`` over ``rows`` rows."""
    return [p for i, step in enumerate(net._plan) for p in step.layer.products(step.n_in, rows, train, i > 0)]


def _group_end(net: Net, layer: int) -> int:
    """How many layers run up to and including layer dict ``layer``'s last layer."""
    return max(i for i, step in enumerate(net._plan) if step.group == layer) + 1


# --- public functions: check once, then call the engine ---


def init(key: rnd.Key, net: Net):
    """Initial params for ``net``: weights from its scheme, zero biases, unit batch-norm scale.

    Layer dict ``i`` draws from ``split(key, n_layers)[i]`` (a layer after the first of its
    dict from ``fold_in`` of that key by its rank).

    Args:
        key: a :class:`funcnet.random.Key`; the same key gives the same params.
        net: the architecture.

    Returns:
        A tuple of ``len(net.sizes) - 1`` dicts: ``W`` (n_in, n_out) and ``b`` (n_out,), or
        ``W``, ``gamma``, ``beta`` for batch-normalised hidden layers; dtype ``net.dtype``.

    >>> from funcnet.random import key
    >>> p = init(key(0), Net((4, 8, 3)))
    >>> p[0]["W"].dtype, p[1]["b"].tolist()
    (dtype('float32'), [0.0, 0.0, 0.0])

    See Also:
        funcnet.INITIALIZERS
    """
    checks.key(key)
    check_net(net)
    dt = np.dtype(net.dtype)
    keys = rnd.split(key, net.n_layers)
    params = [{} for _ in range(net.n_layers)]
    for step in net._plan:
        if step.params:
            k = keys[step.group] if step.rank == 0 else rnd.fold_in(keys[step.group], step.rank)
            params[step.group].update(step.layer.init(k, step.n_in, dt))
    return tuple(params)


def init_stats(net: Net):
    """Initial running statistics: a dict per layer, empty where there is no batch norm.

    Args:
        net: the architecture.

    Returns:
        A tuple of ``net.n_layers`` dicts, one per layer dict of the params: ``{"mean":
        (n_out,) zeros, "var": (n_out,) ones}`` in ``net.dtype`` where the layer's linear
        part feeds a batch norm, ``{}`` elsewhere.

    >>> init_stats(Net((2, 3, 2), batchnorm=True))
    ({'mean': array([0., 0., 0.], dtype=float32), 'var': array([1., 1., 1.], dtype=float32)}, {})
    """
    check_net(net)
    dt = np.dtype(net.dtype)
    out = [{} for _ in range(net.n_layers)]
    for step in net._plan:
        if step.state:
            out[step.group].update(step.layer.init_state(step.n_in, dt))
    return tuple(out)


def _layer_index(net: Net, layer) -> int:
    n = net.n_layers
    layer = checks.integer(layer, "layer", low=-n, high=n - 1)
    return layer % n


def forward(net: Net, params, X, *, stats=None, layer: int | None = None) -> np.ndarray:
    """The network's raw outputs (logits) in evaluation mode: no dropout, running BN stats.

    Args:
        net: the architecture.
        params: params matching ``net``.
        X: (n, sizes[0]) array; computed in ``net.dtype``.
        stats: batch-norm running statistics (needed only when ``net.batchnorm``).
        layer: the output of layer dict ``layer`` instead of the logits (a hidden
            representation: after its activation); negative values count from the end.

    Returns:
        (n, sizes[-1]) logits before the output non-linearity, or (n, sizes[layer + 1]).

    Raises:
        FloatingPointError: the outputs overflowed ``net.dtype`` (finite but huge weights or
            inputs); never NaN or inf.

    >>> from funcnet.random import key
    >>> net = Net((2, 4, 3))
    >>> forward(net, init(key(0), net), np.ones((5, 2), np.float32)).dtype
    dtype('float32')
    >>> forward(net, init(key(0), net), np.ones((5, 2)), layer=0).shape
    (5, 4)

    See Also:
        predict_proba, forward_train
    """
    check_net(net)
    check_params(net, params)
    X = check_X(net, X)
    stats = check_stats(net, stats)
    stop = None if layer is None else _group_end(net, _layer_index(net, layer))
    with np.errstate(over="ignore", invalid="ignore"):
        out, _, owned = _forward(net, params, X, train=False, stats=stats, stop=stop)
    # Finite params and inputs give a non-finite output only by overflow: say so rather than
    # hand back NaN or inf.
    checks.overflow(out, "forward", net.dtype)
    # An output the engine does not own may be the caller's X itself (a net of one's own
    # layers can pass its input through): hand back a copy, never an alias.
    return out if owned else out.copy()


def forward_train(net: Net, params, X, *, key=None):
    """The training-mode forward pass, returning what :func:`backward` needs.

    Dropout masks come from ``key`` (required when ``net.dropout > 0``); batch norm uses the
    batch's own statistics.

    Args:
        net, params, X: as in :func:`forward`.
        key: a :class:`funcnet.random.Key` for the dropout masks.

    Returns:
        ``(logits, caches)``: (n, sizes[-1]) logits and a tuple with one entry per layer of
        ``net.stack``, opaque, for :func:`backward`.

    Raises:
        FloatingPointError: the logits overflowed ``net.dtype``, as for :func:`forward`.

    >>> from funcnet.random import key
    >>> net = Net((2, 4, 3), dtype="float64")
    >>> logits, caches = forward_train(net, init(key(0), net), np.ones((5, 2)))
    >>> logits.shape, len(caches) == len(net.stack)
    ((5, 3), True)
    """
    check_net(net)
    check_params(net, params)
    X = check_X(net, X)
    key = checks.key(key, required=net.needs_key)
    with np.errstate(over="ignore", invalid="ignore"):
        z, caches, _ = _forward(net, params, X, train=True, key=key)
    checks.overflow(z, "forward_train", net.dtype)
    for path, a in tree_paths(caches):  # a batch's variance may overflow under finite logits
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            checks.overflow(a, f"forward_train: caches{path}", net.dtype)
    return z, Caches(caches, net, len(X))


def backward(net: Net, params, caches, dlogits):
    """Backpropagate ``dL/dlogits`` through the layers: the gradient of every param.

    Args:
        net, params: as passed to :func:`forward_train`.
        caches: the second output of :func:`forward_train`.
        dlogits: (n, sizes[-1]) gradient of the loss with respect to the logits.

    Returns:
        A tree with exactly the params' structure and shapes.

    Raises:
        FloatingPointError: a gradient overflowed ``net.dtype`` (finite but huge ``dlogits``
            or params); never NaN or inf.

    >>> from funcnet.random import key
    >>> net = Net((2, 4, 3), dtype="float64")
    >>> params = init(key(0), net)
    >>> logits, caches = forward_train(net, params, np.ones((5, 2)))
    >>> g = backward(net, params, caches, np.ones((5, 3)))
    >>> g[0]["W"].shape, g[1]["b"].tolist()
    ((2, 4), [5.0, 5.0, 5.0])
    """
    check_net(net)
    check_params(net, params)
    caches = check_caches(net, caches)
    delta = checks.matrix(dlogits, "dlogits", columns=net.sizes[-1], dtype=net.dtype)
    if caches.rows != len(delta):
        raise ValueError(f"dlogits: expected {caches.rows} rows (the batch of the caches), got shape {delta.shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        grads = _backward(net, params, caches, delta)
    for path, g in tree_paths(grads):
        checks.overflow(g, f"backward: grads{path}", net.dtype)
    return grads


def update_stats(net: Net, stats, caches):
    """The batch-norm running statistics after a training pass: what a train step keeps.

    Each batch-norm layer moves its running mean and variance towards the batch's by its
    ``momentum`` (:meth:`funcnet.layers.BatchNorm.update_state`); a net without batch norm
    keeps its (empty) statistics. A step of your own, e.g. one that computes gradients on
    several machines, keeps the statistics with this, as :func:`funcnet.fit` does.

    Args:
        net: the architecture.
        stats: the running statistics before the pass (``init_stats(net)`` or a fit's).
        caches: the second output of :func:`forward_train` on the batch.

    Returns:
        New statistics shaped like ``stats``; ``stats`` and ``caches`` are unchanged.

    >>> from funcnet.random import key
    >>> net = Net((2, 3, 2), batchnorm=True, dtype="float64")
    >>> params = init(key(0), net)
    >>> _, caches = forward_train(net, params, np.array([[0.0, 1.0], [2.0, 3.0]]))
    >>> new = update_stats(net, init_stats(net), caches)
    >>> new[0]["mean"].shape, bool((new[0]["var"] != 1).any()), new[1]
    ((3,), True, {})
    """
    check_net(net)
    stats = check_stats(net, stats)
    return _update_stats(net, stats, check_caches(net, caches))


def predict_proba(net: Net, params, X, *, stats=None) -> np.ndarray:
    """Output-layer predictions: class probabilities (softmax, sigmoid) or values (identity).

    Args:
        net: the architecture.
        params: params matching ``net``.
        X: inputs, (n, sizes[0]); computed in ``net.dtype``.
        stats: batch-norm running statistics (needed only when ``net.batchnorm``).

    Returns:
        A new (n, sizes[-1]) array in ``net.dtype``: softmax rows that sum to 1, sigmoid
        probabilities of each output, or the identity head's values (the logits).

    Raises:
        FloatingPointError: the logits overflowed ``net.dtype``, as for :func:`forward`.

    >>> from funcnet.random import key
    >>> net = Net((2, 4, 3))
    >>> predict_proba(net, init(key(0), net), np.ones((2, 2), np.float32)).sum(axis=1).round(5)
    array([1., 1.], dtype=float32)
    """
    z = forward(net, params, X, stats=stats)
    # Softmax shifts by each row's largest logit: logits spanning more than the float range
    # overflow to -inf there, whose exp is exactly the 0 it should be.
    with np.errstate(over="ignore"):
        return HEADS[net.output].link(z)


def predict(net: Net, params, X, *, stats=None) -> np.ndarray:
    """Predicted labels (argmax for softmax, threshold 0.5 for sigmoid) or regression values.

    Args:
        net: the architecture.
        params: params matching ``net``.
        X: inputs, (n, sizes[0]); computed in ``net.dtype``.
        stats: batch-norm running statistics (needed only when ``net.batchnorm``).

    Returns:
        softmax: (n,) integer class labels. sigmoid: int64 0/1 labels, (n,) for one output,
        else (n, sizes[-1]). identity: the (n, sizes[-1]) values in ``net.dtype``.

    Raises:
        FloatingPointError: the logits overflowed ``net.dtype``, as for :func:`forward`.

    >>> from funcnet.random import key
    >>> net = Net((2, 4, 3))
    >>> predict(net, init(key(0), net), np.ones((2, 2))).shape
    (2,)
    """
    z = forward(net, params, X, stats=stats)
    return HEADS[net.output].predict(z)


def accuracy(net: Net, params, X, y, *, stats=None) -> float:
    """Fraction of samples whose predicted label equals ``y`` (classification heads only).

    Args:
        net: the architecture; its output must be ``"softmax"`` or ``"sigmoid"``.
        params: params matching ``net``.
        X: inputs, (n, sizes[0]); computed in ``net.dtype``.
        y: (n,) integer labels, (n, k) one-hot rows, or for a sigmoid head (n,)/(n, k) 0/1.
        stats: batch-norm running statistics (needed only when ``net.batchnorm``).

    Returns:
        A Python float in [0, 1]: correct samples / n. A sigmoid head's sample is correct
        only if every one of its outputs is on the right side of 0.5; a one-hot row counts
        by its argmax.

    Raises:
        ValueError: ``net`` has the identity (regression) output.

    >>> from funcnet.random import key
    >>> net = Net((2, 4, 2))
    >>> 0.0 <= accuracy(net, init(key(0), net), np.ones((4, 2)), np.array([0, 1, 0, 1])) <= 1.0
    True
    """
    head = HEADS[check_net(net).output]
    if not head.classifies:
        raise ValueError(f"net: accuracy needs a classification output, got output={net.output!r}")
    z = forward(net, params, X, stats=stats)
    return head.correct(z, head.targets(z, y, "y")) / len(z)
