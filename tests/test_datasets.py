"""Datasets: seeded, pure, the right geometry, and an IDX loader that refuses bad files."""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funcnet as fn
from funcnet import datasets as ds

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_xor_is_the_truth_table():
    X, y = ds.xor()
    assert X.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]] and y.tolist() == [0, 1, 1, 0]


@pytest.mark.parametrize("make", [ds.xor_clusters, ds.moons, ds.circles, ds.spirals])
@given(seed=st.integers(0, 2**20), n=st.integers(8, 120))
def test_generators_are_pure_functions_of_the_key(make, seed, n):
    a = make(n, key=fn.random.key(seed))
    b = make(n, key=fn.random.key(seed))
    c = make(n, key=fn.random.key(seed + 1))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    X, y = a
    assert X.dtype == np.float64 and y.dtype == np.int64 and set(np.unique(y)) == {0, 1}


def test_xor_clusters_put_classes_on_opposite_corners():
    X, y = ds.xor_clusters(400, key=fn.random.key(0), noise=0.25)
    assert X.shape == (400, 2) and np.bincount(y).tolist() == [200, 200]
    for corner, label in [((1, 1), 0), ((-1, -1), 0), ((1, -1), 1), ((-1, 1), 1)]:
        near = np.linalg.norm(X - np.array(corner), axis=1) < 0.9
        assert near.sum() > 90 and np.all(y[near] == label)


def test_moons_and_circles_match_scikit_learn_geometry_without_noise():
    from sklearn.datasets import make_circles, make_moons

    X, y = ds.moons(101, key=fn.random.key(0), noise=0.0)
    Xs, ys = make_moons(101, noise=0.0, shuffle=False)
    for c in (0, 1):
        np.testing.assert_allclose(np.sort(X[y == c], axis=0), np.sort(Xs[ys == c], axis=0), atol=1e-12)
    X, y = ds.circles(100, key=fn.random.key(0), noise=0.0, factor=0.3)
    Xs, ys = make_circles(100, noise=0.0, factor=0.3, shuffle=False)
    for c in (0, 1):
        np.testing.assert_allclose(np.sort(X[y == c], axis=0), np.sort(Xs[ys == c], axis=0), atol=1e-12)


def test_spirals_are_two_standardised_arms():
    X, y = ds.spirals(200, key=fn.random.key(0), noise=0.25)
    assert X.shape == (400, 2) and np.bincount(y).tolist() == [200, 200]
    np.testing.assert_allclose(X.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(X.std(0), 1, atol=1e-12)
    raw, _ = ds.spirals(200, key=fn.random.key(0), noise=0.0, standardize=False)
    assert np.abs(np.hypot(raw[:, 0], raw[:, 1])).max() <= 4 * np.pi + 1e-9  # r = 2 pi * turns


def test_digits_are_scikit_learns_scaled_and_split_stratified():
    from sklearn.datasets import load_digits

    Xtr, Xte, ytr, yte = ds.digits()
    ref = load_digits()
    assert Xtr.shape == (1438, 64) and Xte.shape == (359, 64) and Xtr.dtype == np.float32
    assert float(Xtr.min()) == 0.0 and float(Xtr.max()) == 1.0
    # Every image of the embedded file is scikit-learn's, with its label.
    images, labels = ds._digits_raw()
    np.testing.assert_array_equal(images, ref.data.astype(np.uint8))
    np.testing.assert_array_equal(labels, ref.target)
    counts = np.bincount(ref.target)
    np.testing.assert_array_equal(np.bincount(yte), np.round(0.2 * counts).astype(int))
    assert sorted(np.concatenate([Xtr, Xte]).tolist()) == sorted((ref.data / 16).astype(np.float32).tolist())
    again = ds.digits()
    assert all(np.array_equal(a, b) for a, b in zip(again, (Xtr, Xte, ytr, yte)))
    other = ds.digits(key=fn.random.key(1))
    assert not np.array_equal(other[3], yte)


def _write_idx(path: Path, array: np.ndarray, code=0x08, compress=True):
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def _fake_mnist(tmp_path: Path, n_train=6, n_test=4, sums=True):
    rng = np.random.default_rng(0)
    parts = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, a in parts.items():
        _write_idx(tmp_path / name, a)
    if sums:
        lines = [f"{hashlib.sha256((tmp_path / n).read_bytes()).hexdigest()}  {n}" for n in parts]
        (tmp_path / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    return parts


def test_idx_round_trip_gzip_and_raw(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(ds.load_idx(_write_idx(tmp_path / "a.gz", a)), a)
    np.testing.assert_array_equal(ds.load_idx(_write_idx(tmp_path / "a.idx", a, compress=False)), a)
    f = np.linspace(-1, 1, 6, dtype=np.float32)
    np.testing.assert_array_equal(ds.load_idx(_write_idx(tmp_path / "f.idx", f, code=0x0D, compress=False)), f)


def test_mnist_reads_the_four_files_scaled(tmp_path):
    parts = _fake_mnist(tmp_path)
    Xtr, Xte, ytr, yte = ds.mnist(tmp_path)
    assert Xtr.shape == (6, 784) and Xte.shape == (4, 784) and Xtr.dtype == np.float32
    np.testing.assert_array_equal(Xtr, parts["train-images-idx3-ubyte.gz"].reshape(6, -1) / np.float32(255))
    np.testing.assert_array_equal(yte, parts["t10k-labels-idx1-ubyte.gz"])
    X3 = ds.fashion_mnist(tmp_path, flatten=False)[0]
    assert X3.shape == (6, 28, 28)


def test_bad_idx_files_are_refused_by_name(tmp_path):
    a = np.zeros((3, 2), np.uint8)
    p = _write_idx(tmp_path / "t.idx", a, compress=False)
    p.write_bytes(p.read_bytes()[:-1])
    with pytest.raises(ValueError, match=r"t\.idx: expected 18 bytes for shape \(3, 2\), got 17"):
        ds.load_idx(p)
    bad = tmp_path / "bad.idx"
    bad.write_bytes(b"\x01\x02\x08\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="bad.idx: not an IDX file"):
        ds.load_idx(bad)
    notgz = tmp_path / "x.gz"
    notgz.write_bytes(b"plain")
    with pytest.raises(ValueError, match="x.gz: cannot read"):
        ds.load_idx(notgz)
    with pytest.raises(FileNotFoundError, match="missing.idx"):
        ds.load_idx(tmp_path / "missing.idx")


def test_missing_files_and_checksum_mismatches_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz is missing"):
        ds.mnist(tmp_path)
    _fake_mnist(tmp_path)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz: SHA-256"):
        ds.mnist(tmp_path)
    assert ds.mnist(tmp_path, verify=False)[3].tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize("call, match", [
    (lambda: ds.moons(0, key=fn.random.key(0)), "n: expected an integer"),
    (lambda: ds.moons(10, key=0), "key"),
    (lambda: ds.spirals(10, key=fn.random.key(0), noise=-1), "noise"),
    (lambda: ds.circles(10, key=fn.random.key(0), factor=1.5), "factor"),
    (lambda: ds.digits(test_size=1.0), "test_size"),
    (lambda: ds.xor(np.int32), "dtype"),
])
def test_bad_arguments_are_named(call, match):
    with pytest.raises((TypeError, ValueError), match=match):
        call()


@pytest.mark.skipif(not (SHARED / "fashion-mnist").is_dir(), reason="real data not beside the repo")
def test_real_fashion_mnist_files():
    Xtr, Xte, ytr, yte = ds.fashion_mnist(SHARED / "fashion-mnist")
    assert Xtr.shape == (60000, 784) and Xte.shape == (10000, 784)
    assert np.bincount(ytr).tolist() == [6000] * 10 and np.bincount(yte).tolist() == [1000] * 10
    assert abs(float(Xtr.mean()) - 0.2860) < 0.001


@pytest.mark.skipif(not (SHARED / "mnist").is_dir(), reason="real data not beside the repo")
def test_real_mnist_files():
    Xtr, Xte, ytr, yte = ds.mnist(SHARED / "mnist")
    assert Xtr.shape == (60000, 784) and Xte.shape == (10000, 784)
    assert sorted(set(ytr.tolist())) == list(range(10))
