"""Data-parallel full-batch training on a Dask cluster, against the same training in one process.

Run: python scripts/dask_fit.py [--workers N] [--epochs E]
     python scripts/dask_fit.py --timing [--workers N] [--rows N ...]
     (seeded: the same output on every run; the wall times go to stderr)

The first form trains a 64-128-10 ReLU net on the 8x8 digits with full-batch Adam twice with
:func:`funcnet.distributed.fit` on a local cluster of worker processes (loopback interface
only) and once with :func:`funcnet.fit` in this process, and prints the loss curves side by
side: equal to float rounding, and the two cluster runs equal bit for bit.

``--timing`` measures when that pays: the round trip of a task that does nothing, and for
growing numbers of rows of a 784-256-10 net (Fashion-MNIST's shape, random data) the median
time of one full-batch step in this process and on the cluster, with the gradient of one
shard alone for comparison. Every process, this one included, computes on one BLAS thread,
so that N workers stand for N machines and this process for one; a step on the cluster
costs its slowest shard plus the round trip and the transfer of the params and gradients.
When dask is not installed the script says so and exits 0.
"""

from __future__ import annotations

import os

# One BLAS thread in every process (the workers' nannies set the same): see the docstring.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import funcnet as fn  # noqa: E402


def _step_times(run) -> list:
    """Seconds between consecutive steps of ``run(on_step)``: the first step (which scatters
    the data) is left out."""
    stamps = []
    run(lambda step, metrics: stamps.append(time.perf_counter()))
    return [b - a for a, b in zip(stamps[:-1], stamps[1:])]


def compare(client, args) -> None:
    import funcnet.distributed as fd

    Xtr, Xte, ytr, yte = fn.datasets.digits(dtype=np.float64)
    net = fn.Net((64, 128, 10), dtype="float64")
    params = fn.init(fn.random.key(0), net)
    kw = dict(key=fn.random.key(1), optimizer=fn.optim.adam(0.01), epochs=args.epochs)
    t = time.perf_counter()
    one = fn.fit(net, params, Xtr, ytr, batch_size=len(Xtr), shuffle=False, **kw)
    t_one = time.perf_counter() - t
    t = time.perf_counter()
    a = fd.fit(net, params, Xtr, ytr, client=client, **kw)
    t_dask = time.perf_counter() - t
    b = fd.fit(net, params, Xtr, ytr, client=client, **kw)
    print(f"digits: {len(Xtr)} rows in {args.workers} shards, 64-128-10 ReLU, full-batch Adam 0.01, float64")
    print("epoch   one process loss   cluster loss")
    for e in sorted({1, 2, 5, 10, 20, args.epochs} & set(range(1, args.epochs + 1))):
        print(f"{e:5d}   {one.history['loss'][e - 1]:.15f}  {a.history['loss'][e - 1]:.15f}")
    diff = max(abs(x - y) / y for x, y in zip(a.history["loss"], one.history["loss"]))
    print(f"largest relative difference of the losses: {diff:.1e}")
    same = a.history == b.history and all(
        x.tobytes() == y.tobytes() for x, y in zip(fn.tree_leaves(a.params), fn.tree_leaves(b.params)))
    print(f"two cluster runs equal bit for bit: {same}")
    print(f"test accuracy: one process {fn.accuracy(net, one.params, Xte, yte):.4f}, "
          f"cluster {fn.accuracy(net, a.params, Xte, yte):.4f}")
    print(f"wall time of {args.epochs} epochs: one process {t_one:.2f} s, cluster {t_dask:.2f} s "
          f"(with the first scatter)", file=sys.stderr)


def timing(client, args) -> None:
    import funcnet.distributed as fd

    round_trips = []
    for i in range(51):
        t = time.perf_counter()
        client.submit(int, i, pure=False).result()
        round_trips.append(time.perf_counter() - t)
    rt = statistics.median(round_trips[1:]) * 1e3
    print(f"round trip of a task that does nothing: median {rt:.1f} ms over 50")
    net = fn.Net((784, 256, 10), dtype="float32")
    params = fn.init(fn.random.key(0), net)
    print(f"784-256-10 on random float32 rows, one full-batch step, median of {args.steps} steps; "
          f"{args.workers} workers:")
    print("   rows   one process   one shard alone   cluster   cluster - shard   speed-up")
    rng = np.random.default_rng(0)
    rows = []
    for n in args.rows:
        X = rng.normal(size=(n, 784)).astype(np.float32)
        y = rng.integers(0, 10, n)
        kw = dict(key=fn.random.key(1), optimizer=fn.optim.sgd(0.01), epochs=args.steps + 2, grad_norms=False)
        one = statistics.median(_step_times(lambda cb: fn.fit(net, params, X, y, batch_size=n, shuffle=False,
                                                              on_step=cb, **kw)))
        shard = X[: -(-n // args.workers)]
        alone = statistics.median(_step_times(lambda cb: fn.fit(net, params, shard, y[: len(shard)],
                                                                batch_size=len(shard), shuffle=False, on_step=cb,
                                                                **kw)))
        dist = statistics.median(_step_times(lambda cb: fd.fit(net, params, X, y, client=client, on_step=cb, **kw)))
        print(f"{n:7d}   {one * 1e3:8.1f} ms   {alone * 1e3:10.1f} ms   {dist * 1e3:6.1f} ms   "
              f"{(dist - alone) * 1e3:10.1f} ms   {one / dist:6.2f}x")
        rows.append((n, one, alone, dist))
    paid = [n for n, one, _, dist in rows if dist < one]
    print(f"here it paid at: {', '.join(map(str, paid)) + ' rows' if paid else 'none of these sizes'}")
    # A cluster step costs one shard's gradient plus a fixed cost (round trip, params out and
    # gradients back): measured where the shards are smallest. On k machines of their own,
    # t_shard + fixed < k * t_shard once t_shard > fixed / (k - 1).
    n, one, alone, dist = rows[0]
    fixed = dist - alone
    per_row = rows[-1][1] / rows[-1][0]
    k = args.workers
    if k > 1:
        print(f"fixed cost of a cluster step: {fixed * 1e3:.0f} ms (at {n} rows); on {k} machines of their own a "
              f"step pays once one shard's gradient takes over {fixed / (k - 1) * 1e3:.0f} ms: about "
              f"{fixed / (k - 1) / per_row:.0f} rows a shard of this net, {k * fixed / (k - 1) / per_row:.0f} in all, "
              f"at this process's {per_row * 1e6:.1f} ms per 1000 rows")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="funcnet.distributed.fit on a local Dask cluster.")
    p.add_argument("--workers", type=int, default=2, help="worker processes of the local cluster")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--timing", action="store_true", help="measure when data parallelism pays")
    p.add_argument("--rows", type=int, nargs="+", default=[1000, 4000, 16000, 64000])
    p.add_argument("--steps", type=int, default=5, help="timed steps per size (--timing)")
    args = p.parse_args(argv)
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as e:
        print(f"skipped: dask is not installed ({e}); pip install 'funcnet[dask]'")
        return 0
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        (timing if args.timing else compare)(client, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
