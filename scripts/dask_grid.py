"""A hyper-parameter search on a Dask cluster: GridSearchCV over funcnet's MLPClassifier.

Run: python scripts/dask_grid.py [--workers N]
     (seeded: the same output on every run; the wall times go to stderr)

scikit-learn's ``GridSearchCV`` runs its fits through joblib, and joblib's ``dask`` backend
sends them to a Dask cluster: here a local one of worker processes on the loopback interface,
but the same code runs on any cluster a ``Client`` connects to. The search runs twice, with
joblib's local process pool and on the cluster; every fit is seeded, so both give the same
scores to the last bit, and the script says so. When dask is not installed it says so and
exits 0.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import funcnet as fn

GRID = {"hidden_layer_sizes": [(32,), (64,)], "learning_rate_init": [0.003, 0.01], "alpha": [1e-4, 1e-1]}


def search(X, y, n_jobs):
    from sklearn.model_selection import GridSearchCV

    from funcnet.sklearn import MLPClassifier

    est = MLPClassifier(max_iter=8, batch_size=64, random_state=0)
    return GridSearchCV(est, GRID, cv=3, n_jobs=n_jobs).fit(X, y)


def _load():
    import funcnet.sklearn  # noqa: F401  (what a worker needs in memory before its first fit)


def warm(n_jobs) -> None:
    """Start the backend's workers and import the estimators there, so that the times below
    are the search's and not the workers' start-up (a few seconds on a small machine)."""
    import joblib

    joblib.Parallel(n_jobs=n_jobs)(joblib.delayed(_load)() for _ in range(4 * max(n_jobs, 1)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="GridSearchCV over funcnet estimators on a local Dask cluster.")
    p.add_argument("--workers", type=int, default=2, help="worker processes of the local cluster")
    args = p.parse_args(argv)
    try:
        import joblib
        from dask.distributed import Client, LocalCluster
    except ImportError as e:
        print(f"skipped: dask is not installed ({e}); pip install 'funcnet[dask]'")
        return 0

    Xtr, Xte, ytr, yte = fn.datasets.digits(dtype=np.float32)
    n_fits = 3 * np.prod([len(v) for v in GRID.values()])

    warm(args.workers)
    t = time.perf_counter()
    local = search(Xtr, ytr, n_jobs=args.workers)  # joblib's own process pool
    t_local = time.perf_counter() - t

    with LocalCluster(n_workers=args.workers, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster):
        with joblib.parallel_config(backend="dask"):
            warm(-1)
            t = time.perf_counter()
            remote = search(Xtr, ytr, n_jobs=-1)
            t_dask = time.perf_counter() - t

    print(f"{n_fits} fits ({len(local.cv_results_['params'])} candidates x 3 folds) on {len(Xtr)} digits")
    for params, score in zip(remote.cv_results_["params"], remote.cv_results_["mean_test_score"]):
        print(f"  {params}  mean accuracy {score:.4f}")
    print(f"best parameters: {remote.best_params_}")
    print(f"best cross-validated accuracy: {remote.best_score_:.4f}")
    print(f"test accuracy of the refitted best: {remote.score(Xte, yte):.4f}")
    same = all(np.array_equal(local.cv_results_[k], remote.cv_results_[k])
               for k in local.cv_results_ if k.startswith("split") or k == "mean_test_score")
    print(f"scores equal to the local backend's, bit for bit: {same}")
    print(f"wall time: local process pool {t_local:.2f} s, Dask cluster {t_dask:.2f} s "
          f"({args.workers} workers each)", file=sys.stderr)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
