"""Benchmark: funcnet against scikit-learn, PyTorch, JAX and a hand-written NumPy step.

Three workloads, each run by every framework on the same data, architecture, batch size and
optimizer, in this one process, with medians over repeats:

  A  8x8 digits (1438 training images), 64-128-10 ReLU/softmax, SGD 0.1, batch 32, one epoch
  B  60000x784 (Fashion-MNIST), 784-256-10 ReLU/softmax, Adam 1e-3, batch 128, one epoch
  C  400 points (XOR clusters), 2-8-1 tanh/sigmoid, full-batch gradient descent, one step

funcnet is timed through its public ``fit`` (input checks, optimizer init and the toolz-
composed step included). PyTorch and JAX are optional: a missing one is reported, not fatal.
The machine's float32 GEMM rate is measured in the same run, as is the time of workload B's
five GEMMs per step (its floor), and funcnet's peak traced memory over one and three epochs.

Usage:
  python scripts/bench.py [--data-dir ../shared/data/fashion-mnist] [--repeats 5] [--only A,B,C]

OpenBLAS: this machine's image sets OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE for old OpenBLAS
builds; they slow a current NumPy's GEMMs. Unless --keep-env is given, the script re-runs
itself once with both unset (in its own process only) and prints the kernel threadpoolctl
reports. funcnet's malloc tuning (funcnet/_malloc.py) is applied before any framework runs,
so every framework in the run has the same allocator settings.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import tracemalloc
import warnings

import numpy as np

OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def reexec_without_openblas_overrides(argv):
    if any(v in os.environ for v in OPENBLAS_VARS):
        env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_VARS}
        env["FUNCNET_BENCH_REEXEC"] = ",".join(f"{v}={os.environ.get(v, '')}" for v in OPENBLAS_VARS)
        os.execve(sys.executable, [sys.executable, *argv], env)


def median_time(fn, repeats, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times


# --------------------------------------------------------------------------------------------
# data


def load_data(args):
    import funcnet as fn

    Xd, _, yd, _ = fn.datasets.digits(dtype=np.float32)
    Xc, yc = fn.datasets.xor_clusters(400, key=fn.random.key(0))
    if args.data_dir:
        Xb, _, yb, _ = fn.datasets.fashion_mnist(args.data_dir, dtype=np.float32)
        source = f"Fashion-MNIST from {args.data_dir}"
    else:
        rng = np.random.default_rng(0)
        Xb = rng.random((60000, 784), dtype=np.float32)
        yb = rng.integers(0, 10, 60000)
        source = "random data of Fashion-MNIST's shape (no --data-dir)"
    return {
        "A": (Xd, yd),
        "B": (Xb, yb),
        "C": (Xc.astype(np.float32), yc),
    }, source


SPEC = {
    # sizes, hidden activation, output, optimizer, lr, batch size
    "A": ((64, 128, 10), "relu", "softmax", "sgd", 0.1, 32),
    "B": ((784, 256, 10), "relu", "softmax", "adam", 1e-3, 128),
    "C": ((2, 8, 1), "tanh", "sigmoid", "sgd", 0.5, 400),
}
# C is one full-batch step; each timed call runs this many, and the time is divided by it.
C_STEPS = 200


def he_init(sizes, activation, seed=0):
    """The same initial weights for every framework (He for ReLU, Xavier for tanh)."""
    rng = np.random.default_rng(seed)
    out = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        if activation == "relu":
            W = rng.standard_normal((n_in, n_out)) * np.sqrt(2 / n_in)
        else:
            lim = np.sqrt(6 / (n_in + n_out))
            W = rng.uniform(-lim, lim, (n_in, n_out))
        out.append((W.astype(np.float32), np.zeros(n_out, np.float32)))
    return out


# --------------------------------------------------------------------------------------------
# funcnet


def funcnet_runner(w, X, y, *, grad_norms=True):
    import funcnet as fn

    sizes, act, out, opt, lr, bs = SPEC[w]
    net = fn.Net(sizes, activation=act, output=out, dtype="float32")
    params = tuple({"W": W, "b": b} for W, b in he_init(sizes, act))
    optimizer = fn.optim.adam(lr) if opt == "adam" else fn.optim.sgd(lr)
    epochs = C_STEPS if w == "C" else 1
    shuffle = w != "C"

    def run():
        return fn.fit(net, params, X, y, key=fn.random.key(1), optimizer=optimizer, epochs=epochs,
                      batch_size=bs, shuffle=shuffle, grad_norms=grad_norms)

    return run


# --------------------------------------------------------------------------------------------
# scikit-learn


def sklearn_runner(w, X, y):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    sizes, act, out, opt, lr, bs = SPEC[w]
    kw = dict(hidden_layer_sizes=sizes[1:-1], activation=act, alpha=0.0, batch_size=bs,
              learning_rate_init=lr, max_iter=C_STEPS if w == "C" else 1, shuffle=w != "C",
              tol=0.0, n_iter_no_change=10**9, random_state=0)
    if opt == "sgd":
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


def numpy_runner(w, X, y):
    sizes, act, out, opt, lr, bs = SPEC[w]
    init = he_init(sizes, act)
    n = len(X)
    rng = np.random.default_rng(0)

    if w == "C":
        yy = y.reshape(-1, 1).astype(np.float32)

        ones = np.ones(n, np.float32)
        yb = yy > 0.5

        # The same arithmetic as a fit step: loss, correct count and per-layer gradient norms
        # are computed too (fit records them), so the ratio measures composition and checks.
        def run():
            (W1, b1), (W2, b2) = init
            for _ in range(C_STEPS):
                h = np.tanh(np.dot(X, W1) + b1)
                z = np.dot(h, W2) + b2
                sp = np.logaddexp(0, z)
                loss = float(np.mean(sp - z * yy))  # noqa: F841
                correct = int(np.count_nonzero((z > 0) == yb))  # noqa: F841
                dz = (np.exp(z - sp) - yy) / n
                gW2, gb2 = np.dot(h.T, dz), np.dot(ones, dz)
                dh = np.dot(dz, W2.T) * (1 - h * h)
                gW1, gb1 = np.dot(X.T, dh), np.dot(ones, dh)
                norms = (np.sqrt(np.vdot(gW1, gW1) + np.vdot(gb1, gb1)),  # noqa: F841
                         np.sqrt(np.vdot(gW2, gW2) + np.vdot(gb2, gb2)))
                W1, b1, W2, b2 = W1 - lr * gW1, b1 - lr * gb1, W2 - lr * gW2, b2 - lr * gb2
            return W1

        return run

    def run():
        (W1, b1), (W2, b2) = [(W.copy(), b.copy()) for W, b in init]
        params = [W1, b1, W2, b2]
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
            h += b1
            np.maximum(h, 0, out=h)
            z = np.dot(h, W2)
            z += b2
            z -= z.max(axis=1, keepdims=True)
            np.exp(z, out=z)
            z /= z.sum(axis=1, keepdims=True)
            z[np.arange(k), yb] -= 1
            z /= k
            gW2, gb2 = np.dot(h.T, z), z.sum(0)
            dh = np.dot(z, W2.T)
            dh *= h > 0
            gW1, gb1 = np.dot(xb.T, dh), dh.sum(0)
            grads = [gW1, gb1, gW2, gb2]
            t += 1
            if opt == "sgd":
                for p, g in zip(params, grads):
                    g *= lr
                    p -= g
            else:  # Adam, in place
                c1, c2 = 1 - 0.9**t, 1 - 0.999**t
                for p, g, mm, vv, tt in zip(params, grads, m, v, tmp):
                    mm *= 0.9
                    mm += 0.1 * g
                    vv *= 0.999
                    np.multiply(g, g, out=tt)
                    tt *= 0.001
                    vv += tt
                    np.sqrt(vv, out=tt)
                    tt *= 1 / np.sqrt(c2)
                    tt += 1e-8
                    np.divide(mm, tt, out=tt)
                    tt *= lr / c1
                    p -= tt
        return params

    return run


# --------------------------------------------------------------------------------------------
# PyTorch (eager)


def torch_runner(w, X, y):
    import torch

    torch.set_num_threads(2)
    sizes, act, out, opt, lr, bs = SPEC[w]
    init = he_init(sizes, act)
    Xt = torch.from_numpy(X)
    yt = torch.from_numpy(y.astype(np.int64)) if out == "softmax" else torch.from_numpy(
        y.astype(np.float32).reshape(-1, 1))
    n = len(X)

    def model():
        layers = []
        for i, (W, b) in enumerate(init):
            lin = torch.nn.Linear(W.shape[0], W.shape[1])
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(W.T.copy()))
                lin.bias.copy_(torch.from_numpy(b))
            layers.append(lin)
            if i < len(init) - 1:
                layers.append(torch.nn.ReLU() if act == "relu" else torch.nn.Tanh())
        return torch.nn.Sequential(*layers)

    loss_fn = torch.nn.CrossEntropyLoss() if out == "softmax" else torch.nn.BCEWithLogitsLoss()
    gen = torch.Generator().manual_seed(0)

    def run():
        net = model()
        o = torch.optim.Adam(net.parameters(), lr=lr) if opt == "adam" else torch.optim.SGD(net.parameters(), lr=lr)
        steps = C_STEPS if w == "C" else 1
        for _ in range(steps):
            perm = torch.randperm(n, generator=gen) if w != "C" else torch.arange(n)
            for i in range(0, n, bs):
                idx = perm[i:i + bs]
                o.zero_grad(set_to_none=True)
                loss = loss_fn(net(Xt[idx]), yt[idx])
                loss.backward()
                o.step()
        return net

    return run


# --------------------------------------------------------------------------------------------
# JAX (jit)


def jax_runner(w, X, y):
    import jax
    import jax.numpy as jnp

    sizes, act, out, opt, lr, bs = SPEC[w]
    init = [(jnp.asarray(W), jnp.asarray(b)) for W, b in he_init(sizes, act)]
    Xj = jnp.asarray(X)
    yj = jnp.asarray(y.astype(np.int32) if out == "softmax" else y.astype(np.float32))
    n = len(X)
    f = jax.nn.relu if act == "relu" else jnp.tanh

    def loss_fn(params, xb, yb):
        h = xb
        for W, b in params[:-1]:
            h = f(h @ W + b)
        W, b = params[-1]
        z = h @ W + b
        if out == "softmax":
            return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(z), yb[:, None], axis=1))
        z = z[:, 0]
        return jnp.mean(jnp.logaddexp(0.0, z) - z * yb)

    grad_fn = jax.value_and_grad(loss_fn)

    @jax.jit
    def sgd_step(params, idx):
        loss, g = grad_fn(params, Xj[idx], yj[idx])
        return jax.tree_util.tree_map(lambda p, gg: p - lr * gg, params, g), loss

    @jax.jit
    def adam_step(params, m, v, t, idx):
        loss, g = grad_fn(params, Xj[idx], yj[idx])
        m = jax.tree_util.tree_map(lambda a, b: 0.9 * a + 0.1 * b, m, g)
        v = jax.tree_util.tree_map(lambda a, b: 0.999 * a + 0.001 * b * b, v, g)
        c1, c2 = 1 - 0.9**t, 1 - 0.999**t
        params = jax.tree_util.tree_map(lambda p, a, b: p - lr * (a / c1) / (jnp.sqrt(b / c2) + 1e-8), params, m, v)
        return params, m, v, loss

    rng = np.random.default_rng(0)

    def run():
        params = init
        m = jax.tree_util.tree_map(jnp.zeros_like, params)
        v = jax.tree_util.tree_map(jnp.zeros_like, params)
        steps = C_STEPS if w == "C" else 1
        t = 0
        for _ in range(steps):
            perm = rng.permutation(n) if w != "C" else np.arange(n)
            for i in range(0, n, bs):
                idx = perm[i:i + bs]
                if len(idx) < bs:  # a differently shaped last batch would compile a second step
                    idx = np.concatenate([idx, perm[: bs - len(idx)]])
                t += 1
                if opt == "adam":
                    params, m, v, loss = adam_step(params, m, v, float(t), idx)
                else:
                    params, loss = sgd_step(params, idx)
        jax.block_until_ready(params)
        return params

    return run


# --------------------------------------------------------------------------------------------
# GEMM rate and floor


def gemm_rate(repeats):
    a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
    t, _ = median_time(lambda: a @ a, repeats)
    return 2 * 2048**3 / t / 1e9


def gemm_floor_B(X, repeats):
    """Seconds per epoch of B's five GEMMs alone (forward 2, backward 3; no dX)."""
    rng = np.random.default_rng(0)
    W1 = rng.standard_normal((784, 256), dtype=np.float32) * 0.05
    W2 = rng.standard_normal((256, 10), dtype=np.float32) * 0.1
    perm = rng.permutation(len(X))
    batches = [X[perm[i:i + 128]] for i in range(0, len(X), 128)]
    D = rng.standard_normal((128, 10), dtype=np.float32)

    def run():
        for xb in batches:
            h = np.dot(xb, W1)
            np.dot(h, W2)
            d = D[: len(xb)]
            np.dot(h.T, d)
            dh = np.dot(d, W2.T)
            np.dot(xb.T, dh)

    t, _ = median_time(run, repeats)
    return t


def peak_memory(X, y):
    import funcnet as fn

    peaks = []
    for epochs in (1, 3):
        sizes, act, out, opt, lr, bs = SPEC["B"]
        net = fn.Net(sizes, activation=act, output=out)
        params = fn.init(fn.random.key(0), net)
        tracemalloc.start()
        fn.fit(net, params, X, y, key=fn.random.key(1), optimizer=fn.optim.adam(lr), epochs=epochs, batch_size=bs)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return peaks


# --------------------------------------------------------------------------------------------


def fmt_time(t):
    return f"{t * 1e6:8.1f} us" if t < 1e-3 else (f"{t * 1e3:8.2f} ms" if t < 1 else f"{t:8.3f} s ")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", help="directory with the Fashion-MNIST IDX files for B")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--only", default="A,B,C", help="comma-separated workloads")
    p.add_argument("--keep-env", action="store_true", help="keep OPENBLAS_CORETYPE/L2_SIZE as set")
    args = p.parse_args(argv)
    if not args.keep_env:
        reexec_without_openblas_overrides(sys.argv)

    import funcnet as fn
    from funcnet import _malloc

    _malloc.tune()
    print(f"funcnet {fn.__version__}, numpy {np.__version__}, python {platform.python_version()}, "
          f"{os.cpu_count()} cores")
    if os.environ.get("FUNCNET_BENCH_REEXEC"):
        print(f"re-ran without {os.environ['FUNCNET_BENCH_REEXEC']} (pass --keep-env to keep them)")
    try:
        from threadpoolctl import threadpool_info

        for info in threadpool_info():
            if info.get("user_api") == "blas":
                print(f"BLAS: {info.get('internal_api')} {info.get('version')}, kernel "
                      f"{info.get('architecture')}, {info.get('num_threads')} threads")
    except ImportError:
        pass

    data, source = load_data(args)
    print(f"B data: {source}")
    rate = gemm_rate(args.repeats)
    print(f"float32 GEMM 2048^3: {rate:.0f} GFLOP/s (median of {args.repeats})")

    peers = [("scikit-learn", sklearn_runner), ("numpy ref", numpy_runner)]
    for name, mod, runner in (("PyTorch", "torch", torch_runner), ("JAX jit", "jax", jax_runner)):
        try:
            m = __import__(mod)
            peers.append((f"{name} {m.__version__}", runner))
        except ImportError:
            print(f"{name}: not installed, skipped")

    only = [w.strip().upper() for w in args.only.split(",") if w.strip()]
    results = {}
    for w in only:
        X, y = data[w]
        per = C_STEPS if w == "C" else 1
        runners = {"funcnet": funcnet_runner(w, X, y),
                   "funcnet -norms": funcnet_runner(w, X, y, grad_norms=False)}
        for name, make in peers:
            try:
                runners[name] = make(w, X, y)
                runners[name]()  # warm up (JAX compiles here)
            except Exception as e:  # a peer failing must not hide the others
                print(f"{name} on {w} failed: {type(e).__name__}: {e}")
                runners.pop(name, None)
        # Rounds of warm blocks: each round runs every framework once untimed (its caches and
        # threads warm, the previous framework's threads gone quiet) and then a few timed
        # repeats back to back, as epochs run; a burst of load on this shared machine then
        # hits one block of every framework rather than one framework's whole series.
        times = {name: [] for name in runners}
        rounds = max(1, min(3, args.repeats))
        per_round = max(1, -(-args.repeats // rounds))
        for _ in range(rounds):
            for name, run in runners.items():
                run()
                for _ in range(per_round):
                    t = time.perf_counter()
                    run()
                    times[name].append(time.perf_counter() - t)
        results[w] = {name: statistics.median(ts) / per for name, ts in times.items()}

    print()
    unit = {"A": "epoch", "B": "epoch", "C": "step"}
    names = ["funcnet", "funcnet -norms"] + [n for n, _ in peers]
    print(f"{'workload':<10}" + "".join(f"{n[:17]:>18}" for n in names))
    for w, row in results.items():
        print(f"{w + ' /' + unit[w]:<10}" + "".join(f"{fmt_time(row[n]) if n in row else 'n/a':>18}" for n in names))
    print()
    print("funcnet time / peer time (lower is better for funcnet):")
    for w, row in results.items():
        print(f"  {w}: " + ", ".join(f"{n} {row['funcnet'] / row[n]:.2f}x" for n in names[2:] if n in row))

    print()
    print("targets (issue #5), for funcnet's defaults (per-layer gradient norms recorded every step;")
    print("'funcnet -norms' is fit(..., grad_norms=False)):")
    checks = []

    def peer(row, prefix):
        return next((row[n] for n in row if n.startswith(prefix)), None)

    if "A" in results:
        r = results["A"]
        checks.append(("A <= 0.33 x scikit-learn", r["funcnet"] / r["scikit-learn"], 0.33))
        j = peer(r, "JAX")
        if j:
            checks.append(("A <= 1.0 x JAX jit", r["funcnet"] / j, 1.0))
    if "B" in results:
        r = results["B"]
        floor = gemm_floor_B(data["B"][0], args.repeats)
        checks.append(("B <= 0.5 x scikit-learn", r["funcnet"] / r["scikit-learn"], 0.5))
        j = peer(r, "JAX")
        if j:
            checks.append(("B <= 1.0 x JAX jit", r["funcnet"] / j, 1.0))
        print(f"  B GEMM floor (five GEMMs x {int(np.ceil(len(data['B'][0]) / 128))} steps): {floor:.3f} s "
              f"= {floor / r['funcnet']:.0%} of funcnet's epoch (target >= 60%)")
        checks.append(("B GEMMs >= 60% of the epoch", r["funcnet"] / floor, 1 / 0.6))
    if "C" in results:
        r = results["C"]
        checks.append(("C <= 1.25 x the hand-written NumPy step", r["funcnet"] / r["numpy ref"], 1.25))
        if "A" in results:
            a = results["A"]
            j = peer(a, "JAX")
            checks.append(("A without grad norms <= 0.33 x scikit-learn", a["funcnet -norms"] / a["scikit-learn"], 0.33))
            if j:
                checks.append(("A without grad norms <= 1.0 x JAX jit", a["funcnet -norms"] / j, 1.0))
    for name, ratio, limit in checks:
        print(f"  {name:<42} {ratio:6.2f}  {'met' if ratio <= limit else 'NOT met'}")

    if "B" in results:
        peaks = peak_memory(*data["B"])
        X = data["B"][0]
        print(f"  peak traced memory of fit on B: 1 epoch {peaks[0] / 2**20:.1f} MiB, 3 epochs "
              f"{peaks[1] / 2**20:.1f} MiB (the data itself: {X.nbytes / 2**20:.0f} MiB, never copied)")


if __name__ == "__main__":
    main()
