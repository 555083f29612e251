"""Benchmark: funcnet against scikit-learn, PyTorch, JAX and a hand-written NumPy reference.

Three workloads, each run by every framework on the same data, architecture, initial weights,
batch size and optimizer, in this one process, reported as medians over repeats:

  A  8x8 digits (1438 training images), 64-128-10 ReLU/softmax, SGD 0.1, batch 32, one epoch
  B  60000x784 (Fashion-MNIST), 784-256-10 ReLU/softmax, Adam 1e-3, batch 128, one epoch
  C  400 points (XOR clusters), 2-8-1 tanh/sigmoid, full-batch gradient descent, one step

funcnet is timed through its public ``fit`` (input checks, optimizer init and the toolz-composed
step included; C runs ``fit(..., epochs=E)`` and divides by E), and once more as a bare loop
of its composed step (``make_train_step``) over batches gathered beforehand, which shows what
the epoch machinery around the step costs. PyTorch and JAX are optional: a missing one is
reported, never fatal, and so is a missing piece of funcnet.

The same run measures the machine's float32 GEMM rate (2048^3) and workload B's "GEMM floor"
(the five GEMMs of a step, X@W1, H@W2, H.T@D, D@W2.T, X.T@dH, times the epoch's 469 steps),
and, in a fresh subprocess, funcnet's memory over four epochs of B (tracemalloc peak of each
epoch and the process's resident set), to check an epoch copies no dataset and stays flat.

Usage:
  python scripts/bench.py [--data-dir ../shared/data/fashion-mnist] [--repeats 5]
                          [--only A,B,C] [--quick] [--profile] [--threads] [--keep-env]

OpenBLAS: this machine's image sets OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE for old OpenBLAS
builds; they slow a current NumPy's GEMMs. Unless --keep-env is given, the script re-runs
itself once with both unset (in its own process only), prints the kernel threadpoolctl
reports, and measures the GEMM rate with the variables as they were in a subprocess, so the
difference is on record.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
import statistics
import struct
import subprocess
import sys
import time
import tracemalloc
import warnings
from typing import NamedTuple

import numpy as np

OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
REEXEC_MARK = "FUNCNET_BENCH_REEXEC"  # holds the variables' original values after the re-run


class Workload(NamedTuple):
    sizes: tuple
    activation: str
    output: str
    optimizer: str  # "sgd" or "adam"
    lr: float
    batch_size: int
    shuffle: bool
    unit: str  # what one reported time covers


SPEC = {
    "A": Workload((64, 128, 10), "relu", "softmax", "sgd", 0.1, 32, True, "epoch"),
    "B": Workload((784, 256, 10), "relu", "softmax", "adam", 1e-3, 128, True, "epoch"),
    "C": Workload((2, 8, 1), "tanh", "sigmoid", "sgd", 0.5, 400, False, "step"),
}
# C is one full-batch step: each timed call runs this many and the time is divided by it.
C_STEPS = 200
C_STEPS_QUICK = 50

# FLOPs of B's five GEMMs for one full batch of 128 (forward 2, backward 3; no dX for layer 1).
B_STEP_GEMM_FLOP = 2 * (128 * 784 * 256 + 128 * 256 * 10 + 256 * 128 * 10 + 128 * 10 * 256 + 784 * 128 * 256)


class Unavailable(Exception):
    """A framework or a piece of funcnet this row needs is not there; the row says n/a."""


# --------------------------------------------------------------------------------------------
# environment


def reexec_without_openblas_overrides(argv):
    if REEXEC_MARK in os.environ or not any(v in os.environ for v in OPENBLAS_VARS):
        return
    env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_VARS}
    env[REEXEC_MARK] = " ".join(f"{v}={os.environ[v]}" for v in OPENBLAS_VARS if v in os.environ)
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, *argv], env)


def blas_description():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed: BLAS kernel unknown"
    infos = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    if not infos:
        return "no BLAS found by threadpoolctl"
    return "; ".join(f"{i.get('internal_api')} {i.get('version')}, kernel {i.get('architecture')}, "
                     f"{i.get('num_threads')} threads" for i in infos)


def the_other_env():
    """``(label, env)``: the environment with the OpenBLAS variables as this process does not have them."""
    if REEXEC_MARK in os.environ:
        env = {k: v for k, v in os.environ.items() if k != REEXEC_MARK}
        for pair in os.environ[REEXEC_MARK].split():
            k, _, v = pair.partition("=")
            env[k] = v
        return "with " + os.environ[REEXEC_MARK], env
    if any(v in os.environ for v in OPENBLAS_VARS):
        return "without " + " ".join(v for v in OPENBLAS_VARS if v in os.environ), {
            k: v for k, v in os.environ.items() if k not in OPENBLAS_VARS}
    return None, None


def run_child(kind, args, env=None, timeout=300):
    """Run this script as a child (``--child kind``) and return the JSON it prints."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child", kind, "--repeats", str(args.repeats)]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    env = dict(os.environ if env is None else env)
    env[REEXEC_MARK] = env.get(REEXEC_MARK, "child")  # a child never re-runs itself
    out = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def rss_now():
    """Resident set size of this process in bytes (Linux), or None."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def peak_rss(reset=False):
    """This process's peak resident set in bytes since the last reset (Linux VmHWM), or None.

    Not ru_maxrss: Linux carries that over from the parent through fork and exec, so a child
    started from a process that held PyTorch, JAX and the data would report the parent's peak.
    ``reset`` starts a new peak (writing 5 to /proc/self/clear_refs).
    """
    try:
        with open("/proc/self/status") as f:
            kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
        if reset:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        return kib * 1024
    except (OSError, StopIteration, ValueError):
        return None


# --------------------------------------------------------------------------------------------
# data


def read_idx(path):
    """A tiny IDX reader (gzip or raw), used only when funcnet.datasets has no loader."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_fashion_mnist(data_dir):
    try:
        import funcnet as fn

        Xb, _, yb, _ = fn.datasets.fashion_mnist(data_dir, dtype=np.float32)
        return Xb, yb, "funcnet.datasets.fashion_mnist"
    except (ImportError, AttributeError):
        pass
    X = read_idx(os.path.join(data_dir, "train-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(data_dir, "train-labels-idx1-ubyte.gz"))
    X = X.reshape(len(X), -1).astype(np.float32)
    X *= np.float32(1 / 255)
    return X, y.astype(np.int64), "the bench's own IDX reader"


def load_B(data_dir):
    if data_dir:
        X, y, how = load_fashion_mnist(data_dir)
        return X, y, f"Fashion-MNIST from {data_dir} ({how})"
    rng = np.random.default_rng(0)
    X = rng.random((60000, 784), dtype=np.float32)
    y = rng.integers(0, 10, 60000)
    return X, y, "random data of Fashion-MNIST's shape (no --data-dir)"


def load_A():
    try:
        import funcnet as fn

        X, _, y, _ = fn.datasets.digits(dtype=np.float32)
        return X, y
    except (ImportError, AttributeError):
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        idx = np.random.default_rng(0).permutation(len(X))[:1438]
        return (X[idx] / 16).astype(np.float32), y[idx]


def load_C():
    try:
        import funcnet as fn

        X, y = fn.datasets.xor_clusters(400, key=fn.random.key(0))
    except (ImportError, AttributeError):
        rng = np.random.default_rng(0)
        corners = np.array([[1, 1], [-1, -1], [1, -1], [-1, 1]], float)
        c = rng.integers(0, 4, 400)
        X, y = corners[c] + 0.25 * rng.standard_normal((400, 2)), (c >= 2).astype(np.int64)
    return X.astype(np.float32), y


def load_data(args, only):
    data, source = {}, None
    if "A" in only:
        data["A"] = load_A()
    if "B" in only:
        *data["B"], source = load_B(args.data_dir)
    if "C" in only:
        data["C"] = load_C()
    return data, source


def shared_init(w: Workload, seed=0):
    """The same initial weights for every framework that lets us set them (He for ReLU,
    Glorot uniform for tanh), float32; scikit-learn draws its own (Glorot) weights."""
    rng = np.random.default_rng(seed)
    out = []
    for n_in, n_out in zip(w.sizes[:-1], w.sizes[1:]):
        if w.activation == "relu":
            W = rng.standard_normal((n_in, n_out)) * np.sqrt(2 / n_in)
        else:
            lim = np.sqrt(6 / (n_in + n_out))
            W = rng.uniform(-lim, lim, (n_in, n_out))
        out.append((W.astype(np.float32), np.zeros(n_out, np.float32)))
    return out


def steps_per_epoch(n, batch_size):
    return -(-n // batch_size)


# --------------------------------------------------------------------------------------------
# funcnet


def _funcnet():
    try:
        import funcnet as fn
    except Exception as e:  # a half-written core must not stop the peers' figures
        raise Unavailable(f"import funcnet failed: {type(e).__name__}: {e}") from None
    return fn


def _fn_parts(w: Workload):
    fn = _funcnet()
    for name in ("Net", "init", "fit", "optim"):
        if not hasattr(fn, name):
            raise Unavailable(f"funcnet.{name} missing")
    opt_fn = getattr(fn.optim, w.optimizer, None)
    if opt_fn is None:
        raise Unavailable(f"funcnet.optim.{w.optimizer} missing")
    net = fn.Net(w.sizes, activation=w.activation, output=w.output, dtype="float32")
    params = tuple({"W": W, "b": b} for W, b in shared_init(w))
    return fn, net, params, opt_fn(w.lr)


def funcnet_fit_runner(w: Workload, X, y, c_steps, *, grad_norms=True):
    fn, net, params, optimizer = _fn_parts(w)
    kw = dict(key=fn.random.key(1), optimizer=optimizer, epochs=c_steps if w.unit == "step" else 1,
              batch_size=w.batch_size, shuffle=w.shuffle)
    if not grad_norms:
        import inspect

        if "grad_norms" not in inspect.signature(fn.fit).parameters:
            raise Unavailable("fit has no grad_norms switch")
        kw["grad_norms"] = False

    def run():
        return fn.fit(net, params, X, y, **kw)

    return run


def funcnet_step_runner(w: Workload, X, y, c_steps):
    """A bare Python loop of the composed step over batches gathered beforehand."""
    fn, net, params, optimizer = _fn_parts(w)
    if not (hasattr(fn, "make_train_step") and hasattr(fn, "TrainState")):
        raise Unavailable("funcnet.make_train_step/TrainState missing")
    step = fn.make_train_step(net, optimizer)
    from funcnet.losses import get_head

    # fit converts the targets once; the step takes them as fit hands them over.
    targets = get_head(w.output).targets(np.empty((len(X), w.sizes[-1]), X.dtype), y, "y")
    n, bs = len(X), w.batch_size
    if w.unit == "step":
        seq = [(X, targets, None)] * c_steps
    else:
        # A pool of gathered batches, cycled: a whole epoch gathered up front would copy B.
        perm = np.random.default_rng(1).permutation(n)
        pool = [(X[idx], targets[idx], None) for idx in (perm[i:i + bs] for i in range(0, min(n, 16 * bs), bs))]
        seq = [pool[i % len(pool)] for i in range(steps_per_epoch(n, bs))]
    stats = fn.init_stats(net)

    def run():
        state = fn.TrainState(params, optimizer.init(params), stats)
        for batch in seq:
            state, _ = step(state, batch)
        return state

    return run


# --------------------------------------------------------------------------------------------
# scikit-learn


def sklearn_runner(w: Workload, X, y, c_steps):
    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        raise Unavailable("scikit-learn not installed") from None

    kw = dict(hidden_layer_sizes=w.sizes[1:-1], activation=w.activation, alpha=0.0,
              batch_size=w.batch_size, learning_rate_init=w.lr,
              max_iter=c_steps if w.unit == "step" else 1, shuffle=w.shuffle, tol=0.0,
              n_iter_no_change=10**9, early_stopping=False, random_state=0)
    if w.optimizer == "sgd":
        kw.update(solver="sgd", momentum=0.0, nesterovs_momentum=False, learning_rate="constant")
    else:
        kw.update(solver="adam")

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return MLPClassifier(**kw).fit(X, y)

    return run


# --------------------------------------------------------------------------------------------
# a hand-written NumPy float32 reference: the same arithmetic, written as tightly as we can


def numpy_c_runner(w: Workload, X, y, c_steps, *, metrics=True):
    """Full-batch GD on 2-8-1 tanh/sigmoid + BCE. With ``metrics`` it also computes what a
    fit step records (loss, correct count, per-layer gradient norms): the same arithmetic."""
    init = shared_init(w)
    lr = np.float32(w.lr)
    n = len(X)
    yy = y.reshape(-1, 1).astype(np.float32)
    yb = yy > 0.5
    ones = np.ones(n, np.float32)

    def run():
        (W1, b1), (W2, b2) = init
        for _ in range(c_steps):
            h = np.tanh(np.dot(X, W1) + b1)
            z = np.dot(h, W2) + b2
            sp = np.logaddexp(0, z)  # softplus(z) = -log(1 - sigmoid(z))
            dz = (np.exp(z - sp) - yy) / n
            gW2, gb2 = np.dot(h.T, dz), np.dot(ones, dz)
            dh = np.dot(dz, W2.T) * (1 - h * h)
            gW1, gb1 = np.dot(X.T, dh), np.dot(ones, dh)
            if metrics:
                loss = float(np.mean(sp - z * yy))  # noqa: F841
                correct = int(np.count_nonzero((z > 0) == yb))  # noqa: F841
                norms = (math.sqrt(np.vdot(gW1, gW1) + np.vdot(gb1, gb1)),  # noqa: F841
                         math.sqrt(np.vdot(gW2, gW2) + np.vdot(gb2, gb2)))
            W1, b1, W2, b2 = W1 - lr * gW1, b1 - lr * gb1, W2 - lr * gW2, b2 - lr * gb2
        return W1

    return run


def numpy_runner(w: Workload, X, y, c_steps):
    if w.unit == "step":
        return numpy_c_runner(w, X, y, c_steps)
    init = shared_init(w)
    n, bs = len(X), w.batch_size
    lr = w.lr
    rng = np.random.default_rng(0)
    b1, b2, eps = 0.9, 0.999, 1e-8

    def run():
        (W1, c1_), (W2, c2_) = [(W.copy(), b.copy()) for W, b in init]
        params = [W1, c1_, W2, c2_]
        m = [np.zeros_like(p) for p in params]
        v = [np.zeros_like(p) for p in params]
        tmp = [np.empty_like(p) for p in params]
        perm = rng.permutation(n)
        t = 0
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            xb, yb = X[idx], y[idx]
            k = len(idx)
            h = np.dot(xb, W1)
            h += c1_
            np.maximum(h, 0, out=h)
            z = np.dot(h, W2)
            z += c2_
            z -= z.max(axis=1, keepdims=True)
            np.exp(z, out=z)
            z /= z.sum(axis=1, keepdims=True)
            rows = np.arange(k)
            loss = -float(np.log(z[rows, yb]).mean())  # noqa: F841  (every peer computes it)
            z[rows, yb] -= 1
            z /= k
            gW2, gb2 = np.dot(h.T, z), z.sum(0)
            dh = np.dot(z, W2.T)
            dh *= h > 0
            gW1, gb1 = np.dot(xb.T, dh), dh.sum(0)
            grads = [gW1, gb1, gW2, gb2]
            t += 1
            if w.optimizer == "sgd":
                for p, g in zip(params, grads):
                    g *= lr
                    p -= g
            else:  # Adam, in place on buffers allocated once
                c1, c2 = 1 - b1**t, 1 - b2**t
                for p, g, mm, vv, tt in zip(params, grads, m, v, tmp):
                    mm *= b1
                    mm += (1 - b1) * g
                    vv *= b2
                    np.multiply(g, g, out=tt)
                    tt *= 1 - b2
                    vv += tt
                    np.sqrt(vv, out=tt)
                    tt *= 1 / math.sqrt(c2)
                    tt += eps
                    np.divide(mm, tt, out=tt)
                    tt *= lr / c1
                    p -= tt
        return params

    return run


# --------------------------------------------------------------------------------------------
# PyTorch (eager)


def torch_runner(w: Workload, X, y, c_steps):
    try:
        import torch
    except ImportError:
        raise Unavailable("PyTorch not installed") from None

    torch.set_num_threads(2)
    init = shared_init(w)
    Xt = torch.from_numpy(X)
    if w.output == "softmax":
        yt = torch.from_numpy(y.astype(np.int64))
        loss_fn = torch.nn.CrossEntropyLoss()
    else:
        yt = torch.from_numpy(y.astype(np.float32).reshape(-1, 1))
        loss_fn = torch.nn.BCEWithLogitsLoss()
    n, bs = len(X), w.batch_size
    gen = torch.Generator().manual_seed(0)

    def model():
        layers = []
        for i, (W, b) in enumerate(init):
            lin = torch.nn.Linear(W.shape[0], W.shape[1])
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(W.T.copy()))
                lin.bias.copy_(torch.from_numpy(b))
            layers.append(lin)
            if i < len(init) - 1:
                layers.append(torch.nn.ReLU() if w.activation == "relu" else torch.nn.Tanh())
        return torch.nn.Sequential(*layers)

    def run():
        net = model()
        make = torch.optim.Adam if w.optimizer == "adam" else torch.optim.SGD
        opt = make(net.parameters(), lr=w.lr)
        if w.unit == "step":  # full batch: no indexing, as anyone would write it
            for _ in range(c_steps):
                opt.zero_grad(set_to_none=True)
                loss_fn(net(Xt), yt).backward()
                opt.step()
            return net
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            opt.zero_grad(set_to_none=True)
            loss_fn(net(Xt[idx]), yt[idx]).backward()
            opt.step()
        return net

    return run


# --------------------------------------------------------------------------------------------
# JAX (jit)


def jax_runner(w: Workload, X, y, c_steps):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        raise Unavailable("JAX not installed") from None
    try:
        import optax
    except ImportError:
        optax = None

    init = [(jnp.asarray(W), jnp.asarray(b)) for W, b in shared_init(w)]
    Xj = jnp.asarray(X)
    yj = jnp.asarray(y.astype(np.int32) if w.output == "softmax" else y.astype(np.float32))
    n, bs, lr = len(X), w.batch_size, w.lr
    f = jax.nn.relu if w.activation == "relu" else jnp.tanh

    def loss_fn(params, xb, yb):
        h = xb
        for W, b in params[:-1]:
            h = f(h @ W + b)
        W, b = params[-1]
        z = h @ W + b
        if w.output == "softmax":
            return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(z), yb[:, None], axis=1))
        z = z[:, 0]
        return jnp.mean(jnp.logaddexp(0.0, z) - z * yb)

    grad_fn = jax.value_and_grad(loss_fn)
    tmap = jax.tree_util.tree_map

    if optax is not None:
        tx = optax.adam(lr) if w.optimizer == "adam" else optax.sgd(lr)
        opt_init = tx.init

        def opt_update(g, s, p):
            u, s = tx.update(g, s, p)
            return optax.apply_updates(p, u), s
    elif w.optimizer == "sgd":
        def opt_init(p):
            return ()

        def opt_update(g, s, p):
            return tmap(lambda a, b: a - lr * b, p, g), s
    else:  # Adam by hand: (count, m, v)
        def opt_init(p):
            return (jnp.zeros((), jnp.float32), tmap(jnp.zeros_like, p), tmap(jnp.zeros_like, p))

        def opt_update(g, s, p):
            t, m, v = s
            t = t + 1
            m = tmap(lambda a, b: 0.9 * a + 0.1 * b, m, g)
            v = tmap(lambda a, b: 0.999 * a + 0.001 * b * b, v, g)
            c1, c2 = 1 - 0.9**t, 1 - 0.999**t
            p = tmap(lambda q, a, b: q - lr * (a / c1) / (jnp.sqrt(b / c2) + 1e-8), p, m, v)
            return p, (t, m, v)

    @jax.jit
    def batch_step(params, s, X, y, idx):
        loss, g = grad_fn(params, jnp.take(X, idx, axis=0), jnp.take(y, idx, axis=0))
        params, s = opt_update(g, s, params)
        return params, s, loss

    @jax.jit
    def full_step(params, s, X, y):
        loss, g = grad_fn(params, X, y)
        params, s = opt_update(g, s, params)
        return params, s, loss

    rng = np.random.default_rng(0)

    def run():
        params = init
        s = opt_init(params)
        if w.unit == "step":
            for _ in range(c_steps):
                params, s, _ = full_step(params, s, Xj, yj)
        else:
            # The last, smaller batch compiles its own step once (in the warm-up run).
            perm = rng.permutation(n).astype(np.int32)
            for i in range(0, n, bs):
                params, s, _ = batch_step(params, s, Xj, yj, perm[i:i + bs])
        jax.block_until_ready(params)
        return params

    run.note = "optax" if optax is not None else "hand-rolled optimizer"
    return run


# --------------------------------------------------------------------------------------------
# GEMM rate and floor


def median_time(fn, repeats, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def gemm_rate(repeats):
    a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
    b = np.random.default_rng(1).random((2048, 2048), dtype=np.float32)
    return 2 * 2048**3 / median_time(lambda: a @ b, max(3, repeats)) / 1e9


def gemm_floor_B(pool, n, repeats):
    """Seconds per epoch of B's five GEMMs alone, over a pool of gathered (128, 784) batches.

    The batches are cycled for ``ceil(n / 128)`` steps; a real step gathers its batch just
    before these GEMMs, so it is in cache then too.
    """
    rng = np.random.default_rng(0)
    W1 = (rng.standard_normal((784, 256)) * 0.05).astype(np.float32)
    W2 = (rng.standard_normal((256, 10)) * 0.1).astype(np.float32)
    D = rng.standard_normal((128, 10)).astype(np.float32)
    seq = [pool[i % len(pool)] for i in range(steps_per_epoch(n, 128))]

    def run():
        for xb in seq:
            h = np.dot(xb, W1)
            np.dot(h, W2)
            np.dot(h.T, D)
            dh = np.dot(D, W2.T)
            np.dot(xb.T, dh)

    return median_time(run, max(3, repeats))


def batch_pool(X, k=4, bs=128):
    idx = np.random.default_rng(2).permutation(len(X))[: k * bs]
    return [X[idx[i * bs:(i + 1) * bs]] for i in range(k)]


def child_gemm(args):
    """In a subprocess with another environment: the 2048^3 rate, the B floor, the kernel."""
    pool = [np.random.default_rng(i).random((128, 784), dtype=np.float32) for i in range(4)]
    return {"blas": blas_description(), "rate": gemm_rate(args.repeats),
            "floor": gemm_floor_B(pool, 60000, args.repeats)}


def child_memory(args):
    """Four epochs of B through fit in a fresh process: per-epoch traced peak and RSS.

    Tracing starts after the data are loaded and before the params are made, so every epoch
    counts the state it starts from (fit's fold holds it until the epoch ends).
    """
    X, y, _ = load_B(args.data_dir)
    _funcnet()  # imported before tracing: module objects are no epoch's memory
    tracemalloc.start()
    fn, net, params, optimizer = _fn_parts(SPEC["B"])
    out = {"data_bytes": X.nbytes, "rss_loaded": rss_now(), "hwm_loaded": peak_rss(reset=True),
           "peaks": [], "rss": [], "hwm": [], "times": []}
    last = [time.perf_counter()]

    def callback(record):
        now = time.perf_counter()
        out["times"].append(now - last[0])
        out["peaks"].append(tracemalloc.get_traced_memory()[1])
        tracemalloc.reset_peak()
        out["rss"].append(rss_now())
        out["hwm"].append(peak_rss(reset=True))
        last[0] = time.perf_counter()  # the bookkeeping above is no epoch's time

    fn.fit(net, params, X, y, key=fn.random.key(1), optimizer=optimizer, epochs=4,
           batch_size=SPEC["B"].batch_size, callback=callback)
    tracemalloc.stop()
    return out


# --------------------------------------------------------------------------------------------
# timing


def time_runners(runners, repeats, divisor):
    """``(medians, spreads)``: median seconds per unit for each runner (or the reason it has
    none) and the spread of its timed runs, (max - min) / median.

    Rounds of warm blocks: each round runs every framework once untimed (caches and threads
    warm, the previous framework's threads quiet) and then timed repeats back to back, as
    epochs run; a burst of load on this shared machine then hits one block of every
    framework rather than one framework's whole series.
    """
    times = {name: [] for name in runners}
    failed = {}
    rounds = max(1, min(3, repeats))
    per_round = max(1, -(-repeats // rounds))
    for _ in range(rounds):
        for name, run in runners.items():
            if name in failed:
                continue
            try:
                run()
                for _ in range(per_round):
                    t = time.perf_counter()
                    run()
                    times[name].append(time.perf_counter() - t)
            except Unavailable as e:
                failed[name] = str(e)
            except Exception as e:  # one framework failing must not hide the others
                failed[name] = f"failed: {type(e).__name__}: {e}"
    medians = {name: failed.get(name) or statistics.median(ts) / divisor for name, ts in times.items()}
    spreads = {name: (max(ts) - min(ts)) / statistics.median(ts) for name, ts in times.items()
               if name not in failed and ts}
    return medians, spreads


def profile_funcnet(w: Workload, X, y, c_steps, top=16):
    """cProfile one warm funcnet fit: the functions with the most own time, per call in us."""
    import cProfile
    import pstats

    run = funcnet_fit_runner(w, X, y, c_steps)
    run()
    pr = cProfile.Profile()
    t = time.perf_counter()
    pr.runcall(run)
    wall = time.perf_counter() - t
    stats = pstats.Stats(pr).stats  # {(file, line, name): (prim calls, calls, own, cum, callers)}
    total = sum(v[2] for v in stats.values())
    lines = [(f"  {len(stats)} functions, {wall * 1e3:.1f} ms under the profiler "
              "(unprofiled median above); own time per function:"),
             f"  {'calls':>7} {'own ms':>8} {'own %':>6} {'us/call':>8} {'cum ms':>8}  function"]
    for (file, line, name), (_, calls, own, cum, _) in sorted(stats.items(), key=lambda kv: -kv[1][2])[:top]:
        where = f"{os.path.basename(file)}:{line}({name})" if line else name
        lines.append(f"  {calls:>7} {own * 1e3:>8.2f} {own / total:>6.1%} {own / calls * 1e6:>8.1f} "
                     f"{cum * 1e3:>8.2f}  {where}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# BLAS threads


def busy_core():
    """A process that keeps one core busy (pure Python, no BLAS) until it is killed."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def cores_busy(seconds=1.0):
    """The share of all cores that were busy over the next ``seconds`` (Linux /proc/stat), or
    the 1-minute load average over the core count where that file is absent."""
    def sample():
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        return sum(fields), fields[3] + fields[4]  # all jiffies, idle + iowait
    try:
        t0, idle0 = sample()
        time.sleep(seconds)
        t1, idle1 = sample()
        return 1.0 - (idle1 - idle0) / max(1, t1 - t0)
    except OSError:
        return os.getloadavg()[0] / (os.cpu_count() or 1)


def threads_table(X, y, repeats, epochs_of=20000):
    """fit on B's data (its first ``epochs_of`` rows) with batch 32 and 128, on one thread,
    two threads and fit's rule ("auto"), with the machine otherwise quiet and with one core
    kept busy by another process: ``{(load, batch, threads): median seconds}``."""
    fn = _funcnet()
    X, y = X[:epochs_of], y[:epochs_of]
    net = fn.Net((784, 256, 10), dtype="float32")
    params = tuple({"W": W, "b": b} for W, b in shared_init(SPEC["B"]))
    out = {}
    for load in ("quiet", "one core busy"):
        hog = busy_core() if load != "quiet" else None
        if hog is None:  # let other work (and this benchmark's own earlier threads) die down
            deadline = time.monotonic() + 60
            while cores_busy() > 0.15 and time.monotonic() < deadline:
                pass
        out[(load, "busy")] = cores_busy()  # what "quiet" meant: other work on the machine
        try:
            for bs in (32, 128):
                runs = {t: (lambda t=t: fn.fit(net, params, X, y, key=fn.random.key(1), optimizer=fn.optim.adam(1e-3),
                                               epochs=1, batch_size=bs, threads=t)) for t in (1, 2, "auto")}
                medians, _ = time_runners(runs, repeats, 1)
                for t, m in medians.items():
                    out[(load, bs, t)] = m
        finally:
            if hog is not None:
                hog.kill()
                hog.wait()
    return out


def print_threads(table, n):
    print(f"BLAS threads: fit on {n} rows of B (784-256-10, Adam), one epoch, medians; fit(threads=...):")
    print(f"  {'':<16}{'batch':>6}{'1 thread':>11}{'2 threads':>11}{'auto':>11}   auto / best of 1 and 2")
    for load in ("quiet", "one core busy"):
        print(f"  {load}: {table[(load, 'busy')]:.0%} of the machine's cores were busy in the second before it started")
        for bs in (32, 128):
            row = [table.get((load, bs, t)) for t in (1, 2, "auto")]
            if not all(isinstance(v, float) for v in row):
                print(f"  {load:<16}{bs:>6}  n/a ({next(v for v in row if not isinstance(v, float))})")
                continue
            print(f"  {load:<16}{bs:>6}" + "".join(f"{fmt_time(v):>11}" for v in row)
                  + f"   {row[2] / min(row[:2]):.2f}")


# --------------------------------------------------------------------------------------------
# report


def fmt_time(t):
    if isinstance(t, str):
        return "n/a"
    return f"{t * 1e6:.1f} us" if t < 1e-3 else (f"{t * 1e3:.2f} ms" if t < 1 else f"{t:.3f} s")


def fmt_mib(b):
    return "n/a" if b is None else f"{b / 2**20:.1f} MiB"


COLUMNS = ("funcnet", "funcnet -norms", "fn step loop", "scikit-learn", "numpy ref", "PyTorch", "JAX jit")
PEERS = ("scikit-learn", "numpy ref", "PyTorch", "JAX jit")
RUNNERS = {
    "funcnet": funcnet_fit_runner,
    "funcnet -norms": lambda w, X, y, c: funcnet_fit_runner(w, X, y, c, grad_norms=False),
    "fn step loop": funcnet_step_runner,
    "scikit-learn": sklearn_runner,
    "numpy ref": numpy_runner,
    "PyTorch": torch_runner,
    "JAX jit": jax_runner,
}


def versions():
    out = [f"numpy {np.__version__}", f"python {platform.python_version()}", f"{os.cpu_count()} cores"]
    for name, mod in (("funcnet", "funcnet"), ("scikit-learn", "sklearn"), ("PyTorch", "torch"),
                      ("JAX", "jax"), ("optax", "optax")):
        try:
            m = __import__(mod)
            out.append(f"{name} {getattr(m, '__version__', '?')}")
        except Exception:
            out.append(f"{name} not importable")
    return ", ".join(out)


def ratio(a, b):
    return a / b if isinstance(a, float) and isinstance(b, float) else None


def print_targets(results, floor):
    print("targets (issue #15; the GEMM-floor share from #5), medians of this run; 'funcnet' is fit's default (per-layer gradient")
    print("norms recorded every step), 'funcnet -norms' is fit(..., grad_norms=False):")
    rows = []
    if "A" in results:
        r = results["A"]
        rows += [("A  <= 0.33 x scikit-learn", r, "scikit-learn", 0.33),
                 ("A  <= 1.0 x JAX jit", r, "JAX jit", 1.0)]
    if "B" in results:
        r = results["B"]
        rows += [("B  <= 0.5 x scikit-learn", r, "scikit-learn", 0.5),
                 ("B  <= 1.0 x JAX jit", r, "JAX jit", 1.0)]
    if "C" in results:
        rows += [("C  <= 1.0 x JAX jit", results["C"], "JAX jit", 1.0),
                 ("C  <= 1.25 x hand-written NumPy step", results["C"], "numpy ref", 1.25)]
    print(f"  {'target':<38}{'funcnet':>10}{'-norms':>10}")
    for label, r, peer, limit in rows:
        cells = []
        for col in ("funcnet", "funcnet -norms"):
            q = ratio(r.get(col), r.get(peer))
            cells.append("n/a" if q is None else f"{q:.2f} {'ok' if q <= limit else 'NO'}")
        print(f"  {label:<38}{cells[0]:>10}{cells[1]:>10}")
    # What any NumPy library is up against: the hand-written NumPy step itself, against XLA.
    refs = [(w, ratio(results[w].get("numpy ref"), results[w].get("JAX jit"))) for w in ("A", "B", "C")
            if w in results]
    if any(q is not None for _, q in refs):
        print("  hand-written NumPy reference / JAX jit (the floor of a NumPy library without a compiler): "
              + ", ".join(f"{w} {q:.2f}x" for w, q in refs if q is not None))
    if "B" in results and floor is not None:
        for col in ("funcnet", "funcnet -norms"):
            t = results["B"].get(col)
            if isinstance(t, float):
                share = floor / t
                print(f"  {'B  GEMM floor >= 60% of the epoch':<38}{col:>10}: {share:.0%} "
                      f"{'ok' if share >= 0.6 else 'NO'}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", help="directory with the Fashion-MNIST IDX .gz files for B")
    p.add_argument("--repeats", type=int, default=None, help="timed runs per framework (default 5; median)")
    p.add_argument("--only", default="A,B,C", help="comma-separated workloads, e.g. A,C")
    p.add_argument("--quick", action="store_true", help="fewer repeats and C steps (a rough look)")
    p.add_argument("--profile", action="store_true", help="also cProfile one funcnet fit per workload")
    p.add_argument("--threads", action="store_true",
                   help="also time fit's BLAS thread rule against one and two threads, quiet and with a core busy")
    p.add_argument("--keep-env", action="store_true", help="keep OPENBLAS_CORETYPE/L2_SIZE as set")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.repeats is None:
        args.repeats = 2 if args.quick else 5
    if args.repeats < 1:
        p.error(f"--repeats: expected a positive integer, got {args.repeats}")

    if args.child:
        print(json.dumps({"gemm": child_gemm, "memory": child_memory}[args.child](args)))
        return
    if not args.keep_env:
        reexec_without_openblas_overrides(sys.argv)

    only = [w.strip().upper() for w in args.only.split(",") if w.strip()]
    bad = [w for w in only if w not in SPEC]
    if bad:
        p.error(f"--only: expected workloads among A,B,C, got {','.join(bad)}")
    c_steps = C_STEPS_QUICK if args.quick else C_STEPS

    print(versions())
    marker = os.environ.get(REEXEC_MARK)
    if marker:
        print(f"re-ran without {marker} (in this process only; --keep-env keeps them)")
    elif any(v in os.environ for v in OPENBLAS_VARS):
        print("kept " + " ".join(f"{v}={os.environ[v]}" for v in OPENBLAS_VARS if v in os.environ))
    print(f"BLAS: {blas_description()}")

    data, source = load_data(args, only)
    if source:
        print(f"B data: {source}")
    rate = gemm_rate(args.repeats)
    floor = gemm_floor_B(batch_pool(data["B"][0]), len(data["B"][0]), args.repeats) if "B" in data else None
    print(f"float32 GEMM 2048^3: {rate:.0f} GFLOP/s" + (
        f"; B's five GEMMs x {steps_per_epoch(len(data['B'][0]), 128)} steps (GEMM floor): {floor:.3f} s "
        f"= {B_STEP_GEMM_FLOP * steps_per_epoch(len(data['B'][0]), 128) / floor / 1e9:.0f} GFLOP/s" if floor else ""))
    label, other = the_other_env()
    if label:
        try:
            o = run_child("gemm", args, env=other)
            print(f"  {label} (a subprocess): 2048^3 {o['rate']:.0f} GFLOP/s, GEMM floor {o['floor']:.3f} s; "
                  f"BLAS {o['blas']}")
        except Exception as e:
            print(f"  {label}: measurement failed ({e})")

    results, notes, spreads = {}, {}, {}
    for w in only:
        spec = SPEC[w]
        X, y = data[w]
        runners = {}
        for name in COLUMNS:
            try:
                runners[name] = RUNNERS[name](spec, X, y, c_steps)
                if getattr(runners[name], "note", None):
                    notes[name] = runners[name].note
            except Unavailable as e:
                runners[name] = None
                results.setdefault(w, {})[name] = str(e)
            except Exception as e:
                runners[name] = None
                results.setdefault(w, {})[name] = f"failed: {type(e).__name__}: {e}"
        if w == "C":  # timed with the rest, shown as a note: what the metrics cost by hand
            runners["numpy bare"] = numpy_c_runner(spec, X, y, c_steps, metrics=False)
        divisor = c_steps if spec.unit == "step" else 1
        timed, spreads[w] = time_runners({k: v for k, v in runners.items() if v is not None},
                                         args.repeats, divisor)
        results.setdefault(w, {}).update(timed)

    print()
    cw = 15
    print(f"{'median':<10}" + "".join(f"{c:>{cw}}" for c in COLUMNS))
    for w, row in results.items():
        print(f"{w + ' /' + SPEC[w].unit:<10}" + "".join(f"{fmt_time(row.get(c, 'n/a')):>{cw}}" for c in COLUMNS))
        print((f"{'  spread':<10}" + "".join(f"{(f'{spreads[w][c]:.0%}' if c in spreads[w] else ''):>{cw}}"
                                           for c in COLUMNS)).rstrip())
    reasons = sorted({(c, v) for row in results.values() for c, v in row.items() if isinstance(v, str)})
    for c, why in reasons:
        print(f"  n/a {c}: {why}")
    print("  spread: (slowest - fastest) / median of the timed runs")
    print("  'fn step loop': make_train_step called in a plain loop on batches gathered beforehand")
    if "C" in results:
        print(f"  C: fit(..., batch_size=400, shuffle=False, epochs={c_steps}) / {c_steps}; every peer runs "
              f"{c_steps} full-batch steps and divides the same way")
    if "JAX jit" in notes:
        print(f"  JAX: jitted step with {notes['JAX jit']}")

    print()
    print("ratios: funcnet (fit, default) time / peer time, lower is better for funcnet:")
    for w, row in results.items():
        parts = [f"{peer} {q:.2f}x" for peer in PEERS if (q := ratio(row.get("funcnet"), row.get(peer))) is not None]
        print(f"  {w}: " + (", ".join(parts) or "n/a"))
        fit_t, loop_t = row.get("funcnet"), row.get("fn step loop")
        if isinstance(fit_t, float) and isinstance(loop_t, float):
            rest = (f"fit's checks, shuffles, gathers and epoch fold: {fmt_time(fit_t - loop_t)}" if fit_t > loop_t
                    else "the loop took longer than fit itself: noise larger than fit's own work in this run")
            print(f"     composed steps alone {loop_t / fit_t:.0%} of fit's time ({rest})")
    if "C" in results and isinstance(results["C"].get("numpy bare"), float):
        r = results["C"]
        bare = r["numpy bare"]
        q = ratio(r.get("funcnet"), bare)
        print(f"  C: a bare NumPy step (no loss, count or norms) takes {fmt_time(bare)}"
              + (f"; funcnet {q:.2f}x that" if q else ""))
    if "B" in results and floor:
        shares = [f"{c} {floor / t:.0%}" for c in COLUMNS if isinstance(t := results["B"].get(c), float)
                  and c not in ("scikit-learn", "PyTorch", "JAX jit")]
        print(f"  B: GEMM floor {floor:.3f} s as a share of each NumPy epoch: " + ", ".join(shares))

    print()
    print_targets(results, floor)

    if "B" in only:
        try:
            mem = run_child("memory", args)
            peaks, rss = mem["peaks"], mem["rss"]
            data_b = mem["data_bytes"]
            no_copy = max(peaks) < data_b / 2
            growth = peaks[-1] - peaks[1]
            print(f"  memory, fit on B for {len(peaks)} epochs in a fresh process (data {fmt_mib(data_b)}):")
            print("    tracemalloc peak per epoch: " + ", ".join(fmt_mib(b) for b in peaks)
                  + f" -> no dataset copy {'ok' if no_copy else 'NO'}; last epoch - epoch 2: "
                  f"{growth / 2**20:+.2f} MiB -> flat {'ok' if abs(growth) <= 2**18 else 'NO'}")
            print("    (while an epoch runs, the fold also holds the state the epoch started from; for epoch 1 "
                  "that is the initial state, whose params are the caller's: epoch 1 is lower by about "
                  f"{(peaks[1] - peaks[0]) / 2**20:.1f} MiB)")
            print("    peak RSS of each epoch (VmHWM, reset at each epoch's start): "
                  + ", ".join(fmt_mib(b) for b in mem["hwm"])
                  + "; RSS at each epoch's end: " + ", ".join(fmt_mib(b) for b in rss)
                  + f" (data loaded: RSS {fmt_mib(mem['rss_loaded'])}, loading peak {fmt_mib(mem['hwm_loaded'])})")
            # Later epochs are where subnormal numbers would show: an optimizer state that
            # decays towards zero makes the float ops that touch it up to ten times slower.
            times = mem["times"]
            print("    time of each epoch (same run, tracing on): " + ", ".join(fmt_time(t) for t in times)
                  + f" -> last / first {times[-1] / times[0]:.2f}")
        except Exception as e:
            print(f"  memory check: n/a ({e})")

    if args.threads:
        print()
        X, y = data["B"] if "B" in data else load_B(args.data_dir)[:2]
        print_threads(threads_table(X, y, args.repeats), min(len(X), 20000))

    if args.profile:
        for w in only:
            print(f"\ncProfile of one funcnet fit on {w} (sorted by own time):")
            try:
                print(profile_funcnet(SPEC[w], *data[w], c_steps))
            except Exception as e:
                print(f"  n/a ({type(e).__name__}: {e})")


if __name__ == "__main__":
    main()
