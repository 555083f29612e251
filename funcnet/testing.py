"""Property-testing tools for code built on funcnet: hypothesis strategies, assertions, profiles.

A layer, loss, optimizer or training loop of your own is tested the way funcnet tests itself:

- **strategies** (hypothesis) that draw funcnet objects, each restrictable by argument:
  :func:`keys`, :func:`nets`, :func:`params`, :func:`batches`, :func:`problems` (the four
  at once), :func:`trees_like`, :func:`optimizers`, :func:`schedules`; and what ``params``
  and ``batches`` draw as plain functions of a key, :func:`random_params` and
  :func:`random_batch`, for tests without hypothesis;
- **assertions** whose messages name what is wrong: :func:`assert_grads_match` (a gradient
  against central differences, float32 or float64, for any tree of params),
  :func:`assert_pure` (arguments bitwise unchanged, two calls bitwise equal),
  :func:`assert_trees_close`; :func:`net_objective` makes a net's loss on a batch the
  function the first one checks;
- **settings profiles**: :func:`register_profiles` and :func:`load_profile`.

Profiles policy. ``"ci"`` is derandomized: every run draws the same examples (a fixed
``max_examples``, no example database, no deadline, no slowness health check), so a red build
is red again on the next run and on any machine, and a green one stays green. ``"dev"`` is
random, draws more examples and keeps hypothesis' local example database, so each run
explores new cases and replays the last failures first. :func:`load_profile` picks
``$HYPOTHESIS_PROFILE`` if set, else ``"ci"`` when the ``CI`` environment variable is set (CI
services set it), else ``"dev"``; call it from your ``conftest.py``.

This module is an edge: it imports the core and the core never imports it. hypothesis, the
``testing`` extra (``pip install 'funcnet[testing]'``), is imported here and nowhere else.

>>> import funcnet as fn
>>> from hypothesis import given, settings
>>> @settings(max_examples=5, derandomize=True, database=None, deadline=None)
... @given(problems(nets(dtypes=["float32"])))
... def test_backprop(problem):
...     net, params, X, y, key = problem
...     assert_grads_match(net_objective(net, X, y, key=key), params)
...     assert_pure(fn.value_and_grad, net, params, X, y, key=key)
>>> test_backprop()
"""

from __future__ import annotations

try:
    import hypothesis
    from hypothesis import strategies as st
except ImportError as e:
    raise ImportError(
        "funcnet.testing needs hypothesis, the 'testing' extra: pip install 'funcnet[testing]'"
    ) from e

import copy
import dataclasses
import math
import numbers
import os
import random as _random
import struct
from typing import NamedTuple

import numpy as np

from . import checks
from . import optim
from . import random as rnd
from . import schedules as sched
from .activations import ACTIVATIONS
from .finite_differences import EPS, central_differences, relative_errors
from .losses import HEADS
from .network import Net, check_net, init
from .objective import value_and_grad
from .tree import tree_check_same, tree_leaves, tree_paths, tree_unflatten

__all__ = [
    "Problem",
    "keys",
    "nets",
    "params",
    "batches",
    "problems",
    "random_params",
    "random_batch",
    "trees_like",
    "optimizers",
    "schedules",
    "net_objective",
    "assert_grads_match",
    "assert_pure",
    "assert_trees_close",
    "default_rtol",
    "register_profiles",
    "load_profile",
]

DTYPES = ("float32", "float64")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adamw")
SCHEDULES = ("constant", "step_decay", "multistep", "exponential", "cosine", "linear",
             "linear_warmup", "join")


# --- argument checks of the strategies (in checks' vocabulary) ---


def _span(value, name: str, low: int) -> tuple[int, int]:
    """A pair ``(lo, hi)`` of integers with ``low <= lo <= hi``."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name}: expected a pair (low, high) of integers >= {low}, got {checks.show(value)}")
    lo = checks.integer(value[0], name, low=low)
    return lo, checks.integer(value[1], name, low=lo)


def _real_span(value, name: str) -> tuple[float, float]:
    """A pair ``(lo, hi)`` of numbers with ``0 < lo <= hi``."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name}: expected a pair (low, high) of numbers > 0, got {checks.show(value)}")
    lo = checks.real(value[0], name, low=0, low_open=True)
    return lo, checks.real(value[1], name, low=lo)


def _names(value, name: str, options) -> tuple:
    """A non-empty sequence of names from ``options`` (one name alone is accepted too)."""
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, (tuple, list)) or not value:
        raise TypeError(f"{name}: expected a non-empty sequence of names from {sorted(options)}, "
                        f"got {checks.show(value)}")
    return tuple(checks.choice(v, name, options) for v in value)


def _strategy(value, name: str):
    return checks.instance(value, name, st.SearchStrategy, "a hypothesis strategy")


# --- strategies ---


def keys():
    """Random keys (:class:`funcnet.random.Key`), from seeds that shrink towards ``key(0)``.

    Returns:
        A strategy of keys ``funcnet.random.key(seed)``, ``seed`` in [0, 2**32).

    >>> from hypothesis import given, settings
    >>> @settings(max_examples=5, derandomize=True, database=None, deadline=None)
    ... @given(keys())
    ... def test_a_key_is_a_value(key):
    ...     assert np.array_equal(rnd.normal(key, 3), rnd.normal(key, 3))
    >>> test_a_key_is_a_value()

    See Also:
        funcnet.random.key: a key from a seed.
    """
    return st.integers(0, 2**32 - 1).map(rnd.key)


def nets(*, depths=(1, 4), widths=(1, 8), activations=None, outputs=None,
         batchnorm=False, dropout=0.0, dtypes=DTYPES):
    """Random architectures (:class:`funcnet.Net`), each feature restrictable by argument.

    Args:
        depths: ``(low, high)``, the number of weight layers (``len(sizes) - 1``).
        widths: ``(low, high)``, the width of every layer, input and output included (a softmax
            output has at least 2 units).
        activations: hidden activations to draw from (default: all of ``funcnet.ACTIVATIONS``).
        outputs: output heads to draw from (default: ``softmax``, ``sigmoid``, ``identity``).
        batchnorm: ``False`` (never), ``True`` (always) or ``None`` (drawn).
        dropout: a rate, a sequence of rates to draw from, or ``None`` for ``(0.0, 0.25, 0.5)``.
        dtypes: dtypes to draw from.

    Returns:
        A strategy of nets; the smallest (what failures shrink to) has one layer of the
        smallest widths, and the first activation, head and dtype named.

    >>> from hypothesis import given, settings
    >>> from funcnet.tree import tree_structure
    >>> @settings(max_examples=5, derandomize=True, database=None, deadline=None)
    ... @given(nets(depths=(2, 3), outputs=["softmax"], batchnorm=True, dtypes=["float64"]))
    ... def test_init_has_the_shapes_of_the_net(net):
    ...     assert net.n_layers in (2, 3) and net.sizes[-1] >= 2 and net.batchnorm
    ...     assert tree_structure(init(rnd.key(0), net)) == net.shapes()
    >>> test_init_has_the_shapes_of_the_net()
    >>> nets(depths=(0, 3))
    Traceback (most recent call last):
    ValueError: depths: expected an integer >= 1, got 0
    """
    depths = _span(depths, "depths", 1)
    widths = _span(widths, "widths", 1)
    activations = _names(sorted(ACTIVATIONS) if activations is None else activations, "activations", ACTIVATIONS)
    outputs = _names(tuple(HEADS) if outputs is None else outputs, "outputs", HEADS)
    if widths[1] < 2:
        if outputs == ("softmax",):
            raise ValueError(f"widths: expected room for the 2 units of a softmax output, got {widths}")
        outputs = tuple(o for o in outputs if o != "softmax")
    if batchnorm is not None:
        batchnorm = checks.boolean(batchnorm, "batchnorm")
    if dropout is None:
        dropout = (0.0, 0.25, 0.5)
    rates = dropout if isinstance(dropout, (tuple, list)) else (dropout,)
    if not rates:
        raise TypeError(f"dropout: expected a rate or a non-empty sequence of rates, got {checks.show(dropout)}")
    rates = tuple(checks.real(r, "dropout", low=0, high=1, high_open=True) for r in rates)
    if isinstance(dtypes, str):
        dtypes = (dtypes,)
    if not isinstance(dtypes, (tuple, list)) or not dtypes:
        raise TypeError(f"dtypes: expected a non-empty sequence of float dtypes, got {checks.show(dtypes)}")
    dtypes = tuple(checks.float_dtype(d, "dtypes").name for d in dtypes)

    @st.composite
    def draw_net(draw):
        depth = draw(st.integers(*depths))
        output = draw(st.sampled_from(outputs))
        sizes = [draw(st.integers(*widths)) for _ in range(depth)]
        sizes.append(draw(st.integers(max(widths[0], 2) if output == "softmax" else widths[0], widths[1])))
        return Net(
            tuple(sizes),
            activation=draw(st.sampled_from(activations)),
            output=output,
            dtype=draw(st.sampled_from(dtypes)),
            batchnorm=draw(st.booleans()) if batchnorm is None else batchnorm,
            dropout=draw(st.sampled_from(rates)),
        )

    return draw_net()


def random_params(key, net, *, jitter: bool = True):
    """The params :func:`params` draws, as a pure function of a key: for tests without hypothesis.

    :func:`funcnet.init` with a child of ``key``; with ``jitter``, every leaf of fewer than two
    dimensions then gets normal noise of standard deviation 0.5 from another child (see
    :func:`params` for why).

    Args:
        key: a :class:`funcnet.random.Key`; the same key gives the same params.
        net: a :class:`funcnet.Net`.
        jitter: move the vectors (``False``: ``init``'s params exactly).

    Returns:
        New params for ``net``, a tuple of layer dicts with the shapes of ``net.shapes()`` in
        ``net.dtype``.

    >>> net = Net((2, 3, 1), output="sigmoid")
    >>> p = random_params(rnd.key(0), net)
    >>> p[1]["b"].dtype, bool(np.all(p[0]["b"] != 0)), bool(np.all(random_params(rnd.key(0), net)[0]["b"] == p[0]["b"]))
    (dtype('float32'), True, True)
    """
    checks.key(key)
    net = check_net(net)
    jitter = checks.boolean(jitter, "jitter")
    k_init, k_jitter = rnd.split(key)
    p = init(k_init, net)
    if not jitter:
        return p
    leaves = tree_leaves(p)
    moved = [a if a.ndim >= 2 else a + rnd.normal(k, a.shape, a.dtype, std=0.5)
             for a, k in zip(leaves, rnd.split(k_jitter, len(leaves)))]
    return tree_unflatten(p, moved)


def params(net, *, jitter: bool = True):
    """Params for ``net``: :func:`funcnet.init` with a drawn key, vectors moved off their init.

    With ``jitter`` every leaf of fewer than two dimensions (biases, batch-norm scales and
    shifts, the vectors of a layer of your own) gets normal noise of standard deviation 0.5
    added: with all-zero biases a dead ReLU layer feeds exactly 0 to the next one, which sits
    on a kink where central differences are one-sided. Weight matrices keep init's values.

    Args:
        net: a :class:`funcnet.Net` (one of :func:`nets`, or your own).
        jitter: move the vectors (``False``: init's params exactly).

    Returns:
        A strategy of params for ``net`` (a tuple of layer dicts in ``net.dtype``), each
        :func:`random_params` of a drawn key.

    >>> from hypothesis import given, settings
    >>> from funcnet.network import check_params
    >>> net = Net((2, 3, 1), output="sigmoid", dtype="float64")
    >>> @settings(max_examples=5, derandomize=True, database=None, deadline=None)
    ... @given(params(net))
    ... def test_params_fit_the_net(p):
    ...     check_params(net, p)  # structure, shapes, dtype, finite
    ...     assert np.all(p[0]["b"] != 0)
    >>> test_params_fit_the_net()

    See Also:
        problems: a net, its params and a batch at once.
    """
    net = check_net(net)
    jitter = checks.boolean(jitter, "jitter")
    return st.builds(random_params, keys(), st.just(net), jitter=st.just(jitter))


def random_batch(key, net, n: int):
    """The batch :func:`batches` draws, as a pure function of a key: for tests without hypothesis.

    Args:
        key: a :class:`funcnet.random.Key`.
        net: a :class:`funcnet.Net`.
        n: the number of samples, at least 1.

    Returns:
        ``(X, y)`` as described in :func:`batches`.

    >>> X, y = random_batch(rnd.key(0), Net((3, 2), output="sigmoid", dtype="float64"), 4)
    >>> X.shape, y.shape, y.dtype, sorted(set(y.ravel().tolist())) <= [0.0, 1.0]
    ((4, 3), (4, 2), dtype('float64'), True)
    """
    checks.key(key)
    net = check_net(net)
    n = checks.integer(n, "n", low=1)
    k_x, k_y = rnd.split(key)
    X = rnd.normal(k_x, (n, net.sizes[0]), net.dtype)
    k = net.sizes[-1]
    if net.output == "softmax":
        y = rnd.generator(k_y).integers(0, k, n)
    elif net.output == "sigmoid":
        y = rnd.bernoulli(k_y, 0.5, (n, k)).astype(net.dtype)
    else:
        y = rnd.normal(k_y, (n, k), net.dtype)
    return X, y


def batches(net, *, sizes=(1, 32)):
    """``(X, y)``, a batch of inputs and targets that fit ``net``'s input width and output head.

    ``X`` is standard normal, ``(n, sizes[0])`` in the net's dtype; ``y`` is ``(n,)`` int64
    class labels for a softmax head, ``(n, k)`` 0.0/1.0 for a sigmoid head and ``(n, k)``
    standard normal values for an identity head, in the net's dtype.

    Args:
        net: a :class:`funcnet.Net`.
        sizes: ``(low, high)``, the number of samples ``n``.

    Returns:
        A strategy of ``(X, y)`` pairs, each :func:`random_batch` of a drawn key and size.

    >>> from hypothesis import given, settings
    >>> net = Net((3, 4, 5))
    >>> @settings(max_examples=5, derandomize=True, database=None, deadline=None)
    ... @given(batches(net, sizes=(6, 10)))
    ... def test_labels_fit_the_head(batch):
    ...     X, y = batch
    ...     assert X.dtype == np.float32 and X.shape[1] == 3 and 6 <= len(X) == len(y) <= 10
    ...     assert y.dtype == np.int64 and 0 <= y.min() and y.max() < 5
    >>> test_labels_fit_the_head()
    """
    net = check_net(net)
    sizes = _span(sizes, "sizes", 1)
    return st.builds(random_batch, keys(), st.just(net), st.integers(*sizes))


class Problem(NamedTuple):
    """What :func:`problems` draws: a net, its params, a batch, and a key for its dropout.

    Attributes:
        net: the :class:`funcnet.Net`.
        params: params for it (:func:`random_params`).
        X: inputs, (n, sizes[0]) in ``net.dtype``.
        y: targets for the head, one per row of ``X``: (n,) int64 labels (softmax), or
            (n, sizes[-1]) in ``net.dtype`` (sigmoid 0.0/1.0, identity values); see
            :func:`batches`.
        key: a :class:`funcnet.random.Key` for the dropout masks.

    >>> net = Net((2, 3, 2), dtype="float64")
    >>> X, y = random_batch(rnd.key(1), net, 4)
    >>> problem = Problem(net, random_params(rnd.key(0), net), X, y, rnd.key(2))
    >>> problem.X.shape, problem.y.shape, problem.y.dtype
    ((4, 2), (4,), dtype('int64'))
    """

    net: Net
    params: tuple
    X: np.ndarray
    y: np.ndarray
    key: rnd.Key


def problems(net=None, *, sizes=(1, 32), jitter: bool = True):
    """A :class:`Problem` ``(net, params, X, y, key)``: what a gradient or purity test needs.

    Args:
        net: a :class:`funcnet.Net`, a strategy of nets (e.g. ``nets(...)``), or ``None`` for
            ``nets()``.
        sizes: ``(low, high)``, the batch size, as for :func:`batches`.
        jitter: as for :func:`params`.

    Returns:
        A strategy of :class:`Problem` values: a drawn (or the given) net, params of
        :func:`params`, a batch of :func:`batches` and a drawn key.

    >>> from hypothesis import given, settings
    >>> from funcnet import loss
    >>> @settings(max_examples=5, derandomize=True, database=None, deadline=None)
    ... @given(problems(Net((2, 3, 2), dropout=0.5)))
    ... def test_the_loss_is_positive(problem):
    ...     net, p, X, y, key = problem
    ...     assert loss(net, p, X, y, key=key) > 0
    >>> test_the_loss_is_positive()
    """
    if net is None:
        net = nets()
    nets_ = st.just(check_net(net)) if not isinstance(net, st.SearchStrategy) else net
    sizes = _span(sizes, "sizes", 1)
    jitter = checks.boolean(jitter, "jitter")
    return nets_.flatmap(lambda n: st.builds(_problem, st.just(n), params(n, jitter=jitter),
                                             batches(n, sizes=sizes), keys()))


def _problem(net, params, batch, key) -> Problem:
    return Problem(net, params, batch[0], batch[1], key)


def trees_like(tree, *, scale: float = 1.0):
    """Trees with the structure, shapes and dtypes of ``tree`` and fresh normal values.

    Gradients for an optimizer, or a second point for a property of two trees.

    Args:
        tree: a tree of float arrays (params, say).
        scale: the standard deviation of the values, a finite number >= 0 (they are drawn in
            float64 and cast, so a scale near the dtype's range stays finite).

    Returns:
        A strategy of new trees of ``tree``'s structure, shapes and dtypes, their values
        ``scale`` times standard normal numbers.

    >>> from hypothesis import given, settings
    >>> from funcnet.tree import tree_structure
    >>> tree = ({"W": np.zeros((2, 3), np.float32)}, [np.zeros(2)])
    >>> @settings(max_examples=5, derandomize=True, database=None, deadline=None)
    ... @given(trees_like(tree, scale=10.0))
    ... def test_like_the_tree(g):
    ...     assert tree_structure(g) == tree_structure(tree) and g[0]["W"].dtype == np.float32
    >>> test_like_the_tree()
    """
    for path, a in tree_paths(tree):
        if not isinstance(a, np.ndarray) or a.dtype.kind != "f":
            raise TypeError(f"tree{path}: expected a float array, got {checks.show(a)}")
    scale = checks.real(scale, "scale", low=0)

    def draw(key):
        leaves = tree_leaves(tree)
        return tree_unflatten(tree, [(rnd.normal(k, a.shape) * scale).astype(a.dtype)
                                     for a, k in zip(leaves, rnd.split(key, max(len(leaves), 1)))])

    return keys().map(draw)


def optimizers(names=OPTIMIZERS, *, lrs=None):
    """funcnet optimizers with valid hyper-parameters, in the ranges people use.

    ``mu`` in [0, 0.99] (momentum, Nesterov); RMSprop's ``decay`` in [0, 0.999]; Adam's and
    AdamW's ``b1`` in [0, 0.99] and ``b2`` in [0.9, 0.9999]; ``eps`` in [1e-10, 1e-6]; AdamW's
    ``weight_decay`` in [0, 0.1].

    Args:
        names: optimizers to draw from, among ``sgd``, ``momentum``, ``nesterov``,
            ``rmsprop``, ``adam``, ``adamw``.
        lrs: a strategy of learning rates (numbers or schedules); default numbers in
            [1e-4, 1]. ``st.one_of(st.floats(1e-4, 1.0), schedules())`` draws schedules too.

    Returns:
        A strategy of funcnet optimizers (:class:`~funcnet.optim.Transform` objects: ``sgd``
        is a ``ScaleByLearningRate``, the others are :class:`~funcnet.optim.Chain` objects).

    >>> from hypothesis import given, settings
    >>> p = ({"W": np.ones((2, 3)), "b": np.zeros(3)},)
    >>> @settings(max_examples=20, derandomize=True, database=None, deadline=None)
    ... @given(optimizers())
    ... def test_a_first_step_goes_downhill(opt):
    ...     updates, state = opt.update(p, opt.init(p), p)  # the gradient of sum(W**2)/2 is W
    ...     assert (updates[0]["W"] < 0).all() and state.count == 1
    >>> test_a_first_step_goes_downhill()
    """
    names = _names(names, "names", OPTIMIZERS)
    lr = st.floats(1e-4, 1.0) if lrs is None else _strategy(lrs, "lrs")
    eps = st.floats(1e-10, 1e-6)
    mu = st.floats(0.0, 0.99)
    b1, b2 = st.floats(0.0, 0.99), st.floats(0.9, 0.9999)
    table = {
        "sgd": lambda: st.builds(optim.sgd, lr),
        "momentum": lambda: st.builds(optim.momentum, lr, mu),
        "nesterov": lambda: st.builds(optim.nesterov, lr, mu),
        "rmsprop": lambda: st.builds(optim.rmsprop, lr, decay=st.floats(0.0, 0.999), eps=eps),
        "adam": lambda: st.builds(optim.adam, lr, b1=b1, b2=b2, eps=eps),
        "adamw": lambda: st.builds(optim.adamw, lr, b1=b1, b2=b2, eps=eps, weight_decay=st.floats(0.0, 0.1)),
    }
    return st.one_of(*[table[n]() for n in names])


def schedules(names=SCHEDULES, *, lr=(1e-4, 1.0), steps=(1, 1000)):
    """funcnet learning-rate schedules (:mod:`funcnet.schedules`) with valid settings.

    Every rate is finite and ``>= 0`` at every step (exponential schedules decay, they never
    grow). ``linear_warmup`` and ``join`` wrap the simpler kinds named (all of them if
    ``names`` holds none).

    Args:
        names: kinds to draw from: ``constant``, ``step_decay``, ``multistep``,
            ``exponential``, ``cosine``, ``linear``, ``linear_warmup``, ``join``.
        lr: ``(low, high)``, the range of the starting (or peak) rate, positive.
        steps: ``(low, high)``, the range of step counts (decay periods, lengths, milestones).

    Returns:
        A strategy of schedules: the dataclasses of :mod:`funcnet.schedules` (``Constant``,
        ``StepDecay``, ...), each a function ``step -> rate``.

    >>> from hypothesis import given, settings
    >>> @settings(max_examples=20, derandomize=True, database=None, deadline=None)
    ... @given(schedules(), st.integers(0, 10**6))
    ... def test_every_rate_is_finite_and_not_negative(schedule, step):
    ...     assert 0.0 <= schedule(step) < math.inf
    >>> test_every_rate_is_finite_and_not_negative()
    """
    names = _names(names, "names", SCHEDULES)
    lo, hi = _real_span(lr, "lr")
    steps = _span(steps, "steps", 1)
    rate, count = st.floats(lo, hi), st.integers(*steps)
    gamma = st.floats(0.01, 1.0)
    simple = {
        "constant": st.builds(sched.constant, rate),
        "step_decay": st.builds(sched.step_decay, rate, count, gamma),
        "multistep": st.builds(sched.multistep, rate,
                               st.lists(count, min_size=1, max_size=4, unique=True).map(sorted), gamma),
        "exponential": st.builds(sched.exponential, rate, st.floats(0.5, 1.0), count, staircase=st.booleans()),
        "cosine": rate.flatmap(lambda r: st.builds(sched.cosine, st.just(r), count, st.floats(0.0, r))),
        "linear": st.builds(sched.linear, rate, st.one_of(st.just(0.0), rate), count),
    }
    inner = [simple[n] for n in names if n in simple] or list(simple.values())
    base = st.one_of(*inner)
    wrapped = {
        "linear_warmup": st.builds(sched.linear_warmup, base, count, start=st.floats(0.0, lo)),
        "join": st.builds(lambda a, b, t: sched.join([a, b], [t]), base, base, count),
    }
    return st.one_of(*[simple[n] if n in simple else wrapped[n] for n in names])


# --- a net's objective as a function of params ---


def net_objective(net, X, y, *, key=None, l2: float = 0.0):
    """``params -> (loss, grads)`` of ``net`` on one batch, in the dtype of the params given.

    What :func:`assert_grads_match` checks for a net: called on float32 params it runs the
    float32 net (the gradient your training sees), called on the float64 copies of the
    central differences it runs the same net in float64. ``X`` and float ``y`` are rounded to
    the net's dtype once, here, so both see the very same batch.

    Args:
        net: a :class:`funcnet.Net`, your own layers included.
        X, y, key, l2: as for :func:`funcnet.loss` (``key`` fixes the dropout masks).

    Returns:
        A function ``params -> (value, grads)``: :func:`funcnet.value_and_grad` of the net,
        or of its twin in float32 or float64 when the params' leaves have that dtype; a
        Python float and a tree like the params, in their dtype.

    Raises:
        ValueError: (when called) a net with dropout in float32 given float64 params, or
            the reverse: dropout masks are drawn in the net's dtype, so the twin would drop
            other units. Check ``dataclasses.replace(net, dtype="float64")`` instead.

    >>> net = Net((3, 4, 2), activation="tanh")
    >>> f = net_objective(net, np.ones((2, 3)), np.array([0, 1]))
    >>> p = init(rnd.key(0), net)
    >>> value, grads = f(p)
    >>> grads[0]["W"].dtype, f(tuple({k: a.astype(np.float64) for k, a in d.items()} for d in p))[1][0]["W"].dtype
    (dtype('float32'), dtype('float64'))
    """
    net = check_net(net)
    X = checks.matrix(X, "X", columns=net.sizes[0], dtype=net.dtype)
    y = np.asarray(y)
    if y.dtype.kind == "f":
        y = y.astype(net.dtype)
    key = checks.key(key, required=net.needs_key)
    l2 = checks.real(l2, "l2", low=0)
    twins = {d: net if d == net.dtype else dataclasses.replace(net, dtype=d) for d in DTYPES}

    def objective(p):
        leaves = tree_leaves(p)
        dtype = leaves[0].dtype.name if leaves and isinstance(leaves[0], np.ndarray) else net.dtype
        if dtype != net.dtype and net.needs_key:
            raise ValueError(
                f"net: a {net.dtype} net with dropout draws its masks in {net.dtype}, so in {dtype} "
                f"it would drop other units; check dataclasses.replace(net, dtype={dtype!r}) instead"
            )
        return value_and_grad(twins.get(dtype, net), p, X, y, key=key, l2=l2)

    return objective


# --- assertions ---


def default_rtol(dtype) -> float:
    """The tolerance :func:`assert_grads_match` gives a gradient computed in ``dtype``.

    A thousand times the dtype's resolution and at least ``1e-6``: 1e-3 for float32, 1e-6
    for float64. A right float32 gradient scores 1e-7 to 1e-4 (rounding in the forward and
    backward passes, growing with depth); a wrong one scores around 1.

    Args:
        dtype: a NumPy dtype, or anything ``np.dtype`` takes (``"float32"``, ``np.float64``).

    Returns:
        A Python float: ``max(1e-6, 1000 * np.finfo(dtype).resolution)`` for a float dtype,
        ``1e-6`` for any other kind.

    Raises:
        TypeError: ``dtype`` is not a dtype.

    >>> default_rtol("float32"), default_rtol(np.float64)
    (0.001, 1e-06)
    """
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError):
        raise TypeError(f"dtype: expected a NumPy dtype, got {checks.show(dtype)}") from None
    if dt.kind != "f":
        return 1e-6
    return max(1e-6, 1e3 * float(np.finfo(dt).resolution))


def _float_tree(tree, name: str):
    """Every leaf a finite float array or a finite real number."""
    leaves = tree_paths(tree)
    if not leaves:
        raise ValueError(f"{name}: expected a tree with at least one leaf, got {checks.show(tree)}")
    for path, a in leaves:
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            checks.finite(a, name + path)
        else:
            checks.real(a, name + path)


def _element(a: np.ndarray, flat: int) -> str:
    """Element ``flat`` of ``a`` for a message: numbers as their dtype prints them (a float32
    with float32's digits), anything else by its repr."""
    x = a.reshape(-1)[flat]
    if isinstance(x, np.generic):
        return str(x) if x.dtype.kind in "biufc" else repr(x.item())
    return repr(x)


def _index(shape, flat: int) -> str:
    return "[" + ", ".join(str(int(i)) for i in np.unravel_index(flat, shape)) + "]" if shape else "[]"


def assert_grads_match(fn, params, *, eps: float = EPS, rtol: float | None = None):
    """Assert that ``fn``'s gradient matches central differences of its value, leaf by leaf.

    ``fn(params)`` is called once as given (the gradient under test, in the params' dtype),
    then ``4 * size`` times on float64 copies of the params, one element moved by ``+-eps``
    and ``+-eps/2`` at a time (:func:`funcnet.finite_differences.central_differences`, the
    routine behind :func:`funcnet.gradcheck_tree`). Each leaf's error is
    ``|g - g_num| / max(|g| + |g_num|, 1e-3 |G|)`` (``G``: the whole gradient), and must be
    at most ``rtol``: by default :func:`default_rtol` of the lower precision of the leaf and
    its gradient (1e-3 for float32, 1e-6 for float64).

    Args:
        fn: ``params -> (value, grads)``: a real number and a tree like ``params``. It must
            compute in the dtype of the params it is given (:func:`net_objective` does, for
            a net). For separate functions: ``lambda p: (loss(p), grad(p))``.
        params: any tree (tuples, lists, dicts) of finite float arrays: a net's params or
            your own layer's.
        eps: the finite-difference step, positive.
        rtol: one tolerance for every leaf instead of the per-dtype default.

    Returns:
        The tree of per-leaf errors.

    Raises:
        AssertionError: naming the worst leaf by its path (``params[0]['W']``), its error
            and tolerance, its worst element with both values, and every failing leaf; or a
            gradient of another structure or shape, or not finite.
        FloatingPointError: ``fn``'s value came out non-finite at a perturbed point.

    >>> def square(p):  # sum(w ** 2) and its gradient
    ...     return float(np.sum(p["w"] ** 2)), {"w": 2 * p["w"]}
    >>> errors = assert_grads_match(square, {"w": np.array([1.0, -2.0])})
    >>> errors["w"] < 1e-9
    True
    >>> def wrong(p):
    ...     return float(np.sum(p["w"] ** 2)), {"w": 3 * p["w"]}
    >>> assert_grads_match(wrong, {"w": np.array([1.0, -2.0])})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    AssertionError: params['w']: the gradient does not match central differences: relative error 2.0e-01 > rtol 1e-06 (float64)
      worst element [1]: fn gives -6.0, central differences ... (eps 1e-05)
    """
    checks.function(fn, "fn", "a function params -> (value, grads)")
    _float_tree(params, "params")
    eps = checks.real(eps, "eps", low=0, low_open=True)
    if rtol is not None:
        rtol = checks.real(rtol, "rtol", low=0, low_open=True)
    out = fn(params)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError(f"fn: expected a function params -> (value, grads), got a result {checks.show(out)}")
    value, grads = out
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"fn: expected a function params -> (value, grads) with a real value, "
                        f"got a value {checks.show(value)}")
    if not math.isfinite(value):
        raise AssertionError(f"fn: expected a finite value at params, got {value}")
    try:
        tree_check_same(params, grads, names=("params", "grads"))
    except TypeError as e:
        raise AssertionError(f"fn: the gradient has another structure than the params: {e}") from None
    for (path, p), (_, g) in zip(tree_paths(params), tree_paths(grads)):
        g = np.asarray(g)
        if g.shape != np.shape(p) or g.dtype.kind not in "iuf":
            raise AssertionError(f"grads{path}: expected a number array of shape {np.shape(p)} "
                                 f"(params{path}'s), got {checks.show(g)}")
        if not checks.all_finite(g.astype(np.float64)):
            raise AssertionError(f"grads{path}: expected finite values, got {checks.describe_non_finite(g)}")

    numeric = central_differences(lambda p: fn(p)[0], params, eps=eps)
    for path, n in tree_paths(numeric):
        if not checks.all_finite(n):
            raise FloatingPointError(f"fn: its value came out non-finite in float64 with params{path} "
                                     f"moved by +-{eps:g} ({checks.describe_non_finite(n)})")
    errors = relative_errors(grads, numeric)

    rows = []  # (error / tolerance, path, error, tolerance, dtype name, grad, numeric)
    for (path, p), (_, g), (_, n), (_, e) in zip(tree_paths(params), tree_paths(grads),
                                                 tree_paths(numeric), tree_paths(errors)):
        g = np.asarray(g)
        kinds = [np.dtype(d) for d in (np.asarray(p).dtype, g.dtype) if np.dtype(d).kind == "f"]
        dt = max(kinds, key=lambda d: np.finfo(d).resolution) if kinds else np.dtype(np.float64)
        tol = default_rtol(dt) if rtol is None else rtol
        rows.append((e / tol if e == e else math.inf, path, e, tol, dt.name, g, n))
    failing = sorted((r for r in rows if r[0] > 1), key=lambda r: -r[0])
    if failing:
        _, path, e, tol, dname, g, n = failing[0]
        diff = np.abs(g.astype(np.float64) - n)
        j = int(np.argmax(diff)) if diff.size else 0
        lines = [
            f"params{path}: the gradient does not match central differences: relative error "
            f"{e:.1e} > rtol {tol:g} ({dname})",
            f"  worst element {_index(g.shape, j)}: fn gives {_element(g, j)}, "
            f"central differences {_element(n, j)} (eps {eps:g})",
        ]
        if len(failing) > 1 or len(rows) > 1:
            listed = ", ".join(f"params{r[1]} {r[2]:.1e}" for r in failing[:6])
            more = ", ..." if len(failing) > 6 else ""
            lines.append(f"  failing leaves ({len(failing)} of {len(rows)}): {listed}{more}")
        raise AssertionError("\n".join(lines))
    return errors


# Bitwise comparison of two values, for assert_pure: the description of the first difference.


def _describe_arrays(a: np.ndarray, b: np.ndarray, then: str) -> str | None:
    if a.dtype != b.dtype:
        return f"dtype {a.dtype} {then} {b.dtype}"
    if a.shape != b.shape:
        return f"shape {a.shape} {then} {b.shape}"
    if a.dtype.hasobject:
        found = _difference(a.tolist(), b.tolist(), "", then)
        return None if found is None else f"at {found[0] or '[]'}: {found[1]}"
    ab, bb = np.ascontiguousarray(a), np.ascontiguousarray(b)
    if ab.tobytes() == bb.tobytes():
        return None
    n = a.size
    if a.dtype.itemsize == 0 or n == 0:
        return "the bytes differ"
    rows = lambda x: x.reshape(-1).view(np.uint8).reshape(n, -1)
    differ = np.any(rows(ab) != rows(bb), axis=1)
    j = int(np.argmax(differ))
    return (f"{int(differ.sum())} of {n} elements differ, first at {_index(a.shape, j)}: "
            f"{_element(ab, j)} {then} {_element(bb, j)}")


def _difference(a, b, path: str, then: str):
    """``(path, what)`` of the first bitwise difference between ``a`` and ``b``, or None."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return path, f"{checks.show(a)} {then} {checks.show(b)}"
        what = _describe_arrays(a, b, then)
        return None if what is None else (path, what)
    if type(a) is not type(b):
        return path, f"{checks.show(a)} {then} {checks.show(b)}"
    if isinstance(a, np.generic):
        if a.dtype == b.dtype and a.tobytes() == b.tobytes():
            return None
        return path, f"{a!r} {then} {b!r}"
    if isinstance(a, dict):
        if list(a) != list(b):
            return path, f"keys {list(a)!r} {then} {list(b)!r}"
        for k in a:
            found = _difference(a[k], b[k], f"{path}[{k!r}]", then)
            if found:
                return found
        return None
    if isinstance(a, (tuple, list)):
        if len(a) != len(b):
            return path, f"length {len(a)} {then} {len(b)}"
        fields = getattr(a, "_fields", None)
        for i, (x, y) in enumerate(zip(a, b)):
            found = _difference(x, y, f"{path}.{fields[i]}" if fields else f"{path}[{i}]", then)
            if found:
                return found
        return None
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        for f in dataclasses.fields(a):
            found = _difference(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}", then)
            if found:
                return found
        return None
    if isinstance(a, float):  # bitwise: -0.0 is not 0.0, NaN is NaN
        return None if struct.pack("<d", a) == struct.pack("<d", b) else (path, f"{a!r} {then} {b!r}")
    if isinstance(a, complex):
        same = struct.pack("<dd", a.real, a.imag) == struct.pack("<dd", b.real, b.imag)
        return None if same else (path, f"{a!r} {then} {b!r}")
    if type(a).__eq__ is object.__eq__:  # equal only to itself: compare what it holds
        if isinstance(a, np.random.Generator):
            return _difference(a.bit_generator.state, b.bit_generator.state, f"{path}.bit_generator.state", then)
        if isinstance(a, _random.Random):
            return _difference(a.getstate(), b.getstate(), f"{path}.getstate()", then)
        if hasattr(a, "__dict__"):
            return _difference(vars(a), vars(b), f"{path}.__dict__", then)
        return None
    try:
        same = a == b
        same = same is True or (isinstance(same, np.bool_) and bool(same))
    except Exception:
        same = False
    return None if same else (path, f"{checks.show(a)} {then} {checks.show(b)}")


def _name(fn) -> str:
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    return name.rsplit("<locals>.", 1)[-1]


def assert_pure(fn, /, *args, **kwargs):
    """Call ``fn(*args, **kwargs)`` twice; assert it changed no argument and gave equal results.

    Bitwise: arrays compare by dtype, shape and bytes (NaN equals NaN, -0.0 is not 0.0),
    through tuples, lists, dicts, named tuples and dataclasses; NumPy and Python random
    generators by their state. The arguments are compared with deep copies taken before the
    first call, after each call; the first result is deep-copied as soon as it returns, so a
    function that hands out a buffer and overwrites it on the next call is caught too.

    Args:
        fn: the function under test.
        *args, **kwargs: its arguments (each must survive ``copy.deepcopy``).

    Returns:
        The first call's result.

    Raises:
        AssertionError: naming the argument that changed (``args[1]`` or ``kwargs['stats']``,
            then the path inside it, ``[0]['W']``) and how, or the path where the two
            results differ.

    >>> assert_pure(np.sort, np.array([3, 1, 2]))
    array([1, 2, 3])
    >>> def sort_in_place(a):
    ...     a.sort()
    ...     return a
    >>> assert_pure(sort_in_place, np.array([3, 1, 2]))
    Traceback (most recent call last):
    AssertionError: sort_in_place changed its argument args[0] in the first call: 3 of 3 elements differ, first at [0]: 3 became 1
    >>> counter = iter(range(10))
    >>> assert_pure(lambda d: {"n": next(counter)}, {})
    Traceback (most recent call last):
    AssertionError: <lambda> gave different results for equal arguments: result['n']: 0 then 1
    """
    checks.function(fn, "fn")
    try:
        before = copy.deepcopy((args, kwargs))
    except Exception as e:
        raise TypeError(f"args: assert_pure deep-copies the arguments, which failed: {e}") from None
    name = _name(fn)

    def check_arguments(which: str):
        for i, (a, b) in enumerate(zip(before[0], args)):
            found = _difference(a, b, f"args[{i}]", "became")
            if found:
                break
        else:
            found = next(filter(None, (_difference(before[1][k], kwargs[k], f"kwargs[{k!r}]", "became")
                                       for k in before[1])), None)
        if found:
            path, what = found
            raise AssertionError(f"{name} changed its argument {path} in the {which} call: {what}")

    first = fn(*args, **kwargs)
    check_arguments("first")
    try:
        kept = copy.deepcopy(first)
    except Exception as e:
        raise TypeError(f"fn: assert_pure deep-copies the result, which failed: {e}") from None
    second = fn(*args, **kwargs)
    check_arguments("second")
    found = _difference(kept, second, "result", "then")
    if found:
        path, what = found
        raise AssertionError(f"{name} gave different results for equal arguments: {path}: {what}")
    return first


def assert_trees_close(a, b, *, rtol: float = 1e-7, atol: float = 0.0):
    """Assert that two trees have one structure and close leaves, naming the leaf that is not.

    The structure first (containers, named tuples, dict keys), then each leaf's shape, then
    its values with NumPy's ``allclose`` rule ``|a - b| <= atol + rtol * |b|`` (NaN equal to
    NaN, infinities equal to themselves; the defaults are ``numpy.testing.assert_allclose``'s).
    Leaves that are not numbers (strings, None) must be equal.

    Args:
        a, b: trees (tuples, lists, dicts) of arrays or numbers.
        rtol, atol: the tolerances, finite numbers >= 0.

    Raises:
        AssertionError: naming both structures, or the first leaf that differs by its path,
            how many elements differ and the largest difference, with both values.

    >>> t = ({"W": np.array([1.0, 2.0]), "b": np.array(0.5)},)
    >>> assert_trees_close(t, ({"W": np.array([1.0, 2.0 + 1e-9]), "b": np.array(0.5)},))
    >>> assert_trees_close(t, ({"W": np.array([1.0, 2.5]), "b": np.array(0.5)},))
    Traceback (most recent call last):
    AssertionError: trees differ at [0]['W'] (1 of 2 leaves): 1 of 2 elements not close (rtol 1e-07, atol 0); largest difference at [1]: 2.0 against 2.5, |a - b| 0.5 (relative 0.2)
    >>> assert_trees_close(t, [t[0]])
    Traceback (most recent call last):
    AssertionError: tree structures differ: b: expected the structure of a, ({'W': *, 'b': *},), got [{'W': *, 'b': *}]
    """
    rtol = checks.real(rtol, "rtol", low=0)
    atol = checks.real(atol, "atol", low=0)
    try:
        tree_check_same(a, b, names=("a", "b"))
    except TypeError as e:
        raise AssertionError(f"tree structures differ: {e}") from None
    pairs = list(zip(tree_paths(a), tree_leaves(b)))
    failing = []
    for (path, x), y in pairs:
        what = _not_close(x, y, rtol, atol)
        if what:
            failing.append((path, what))
    if failing:
        path, what = failing[0]
        others = ""
        if len(failing) > 1:
            listed = ", ".join(p for p, _ in failing[1:4])
            others = f"; also at {listed}{', ...' if len(failing) > 4 else ''}"
        raise AssertionError(f"trees differ at {path} ({len(failing)} of {len(pairs)} leaves): {what}{others}")


def _not_close(x, y, rtol: float, atol: float) -> str | None:
    xa, ya = np.asarray(x), np.asarray(y)
    if xa.dtype.kind not in "biufc" or ya.dtype.kind not in "biufc":
        try:
            same = bool(x == y)
        except Exception:
            same = False
        return None if same else f"{checks.show(x)} against {checks.show(y)}"
    if xa.shape != ya.shape:
        return f"shapes {xa.shape} and {ya.shape}"
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        close = np.isclose(xa, ya, rtol=rtol, atol=atol, equal_nan=True)
        if close.all():
            return None
        diff = np.abs(xa.astype(np.complex128 if xa.dtype.kind == "c" else np.float64) - ya)
        diff = np.where(close, 0, np.where(np.isnan(diff), np.inf, diff))
        j = int(np.argmax(diff))
        yj, dj = ya.reshape(-1)[j].item(), float(diff.reshape(-1)[j])
        rel = dj / abs(yj) if yj != 0 else math.inf
    return (f"{int((~close).sum())} of {close.size} elements not close (rtol {rtol:g}, atol {atol:g}); "
            f"largest difference at {_index(xa.shape, j)}: {_element(xa, j)} against {_element(ya, j)}, "
            f"|a - b| {dj:g} (relative {rel:g})")


# --- settings profiles ---

CI_EXAMPLES = 25
DEV_EXAMPLES = 50


def register_profiles(*, ci_examples: int = CI_EXAMPLES, dev_examples: int = DEV_EXAMPLES) -> None:
    """Register the hypothesis settings profiles ``"ci"`` and ``"dev"`` (see the module's policy).

    ``"ci"``: ``derandomize=True``, ``max_examples=ci_examples``, no database, no deadline, no
    ``too_slow`` health check, the reproduction blob printed on failure. ``"dev"``:
    ``max_examples=dev_examples``, random, hypothesis' default database, no deadline.

    Args:
        ci_examples: ``max_examples`` of ``"ci"``, an integer >= 1.
        dev_examples: ``max_examples`` of ``"dev"``, an integer >= 1.

    Returns:
        None; the profiles are registered with hypothesis (replacing earlier ones of those
        names), not loaded.

    >>> register_profiles()
    >>> from hypothesis import settings
    >>> settings.get_profile("ci").derandomize, settings.get_profile("dev").max_examples
    (True, 50)
    """
    ci_examples = checks.integer(ci_examples, "ci_examples", low=1)
    dev_examples = checks.integer(dev_examples, "dev_examples", low=1)
    base = hypothesis.settings.get_profile("default")  # not whatever profile is loaded now
    hypothesis.settings.register_profile(
        "ci", base, max_examples=ci_examples, derandomize=True, database=None, deadline=None,
        print_blob=True, suppress_health_check=[hypothesis.HealthCheck.too_slow])
    hypothesis.settings.register_profile("dev", base, max_examples=dev_examples, deadline=None)


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def load_profile(name: str | None = None) -> str:
    """Register the profiles and load one: the one named, or the one the environment chooses.

    The profiles are :func:`register_profiles`'s. The one loaded is ``name``, else
    ``$HYPOTHESIS_PROFILE``, else ``"ci"`` when ``$CI`` is set (and not ``0``/``false``), else
    ``"dev"``.

    Args:
        name: a registered profile's name, or ``None`` to choose as above.

    Returns:
        The name of the profile loaded.

    Raises:
        TypeError: ``name`` is not a string.
        hypothesis.errors.InvalidArgument: no profile of that name is registered.

    >>> from hypothesis import settings
    >>> settings.register_profile("before", settings())  # to put back what was in force
    >>> load_profile("ci"), settings().derandomize
    ('ci', True)
    >>> settings.load_profile("before")
    """
    register_profiles()
    if name is None:
        name = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if _on_ci() else "dev")
    if not isinstance(name, str):
        raise TypeError(f"name: expected a profile name, got {checks.show(name)}")
    hypothesis.settings.load_profile(name)
    return name
