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
    assert X.dtype == np.float64 and y.dtype == np.int64
    X32, _ = ds.xor(np.float32)
    assert X32.dtype == np.float32 and X32.tolist() == X.tolist()


@pytest.mark.parametrize("make, n, counts", [
    (ds.xor_clusters, 401, [201, 200]),  # corners (1, 1) and (-1, -1) take the remainder first
    (ds.moons, 101, [50, 51]),           # scikit-learn: n // 2 in the upper moon
    (ds.circles, 101, [50, 51]),
    (ds.spirals, 101, [101, 101]),       # n points per arm
])
def test_class_sizes_and_float32(make, n, counts):
    X, y = make(n, key=fn.random.key(3), dtype=np.float32)
    X64, y64 = make(n, key=fn.random.key(3))
    assert X.dtype == np.float32 and y.dtype == np.int64 and X.shape == (sum(counts), 2)
    assert np.bincount(y).tolist() == counts
    # float32 is the float64 data rounded once, not different data.
    np.testing.assert_array_equal(X, X64.astype(np.float32))
    np.testing.assert_array_equal(y, y64)


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

    for n in (100, 101):
        X, y = ds.moons(n, key=fn.random.key(0), noise=0.0)
        Xs, ys = make_moons(n, noise=0.0, shuffle=False)
        for c in (0, 1):
            np.testing.assert_allclose(np.sort(X[y == c], axis=0), np.sort(Xs[ys == c], axis=0), atol=1e-12)
        X, y = ds.circles(n, key=fn.random.key(0), noise=0.0, factor=0.3)
        Xs, ys = make_circles(n, noise=0.0, factor=0.3, shuffle=False)
        for c in (0, 1):
            np.testing.assert_allclose(np.sort(X[y == c], axis=0), np.sort(Xs[ys == c], axis=0), atol=1e-12)


def test_noise_is_gaussian_with_the_requested_std():
    # Same key with and without noise: the points and the shuffle agree, so the difference
    # is the noise itself (8000 draws: the std is within 0.005 of 0.15 at ~6 sigma).
    clean, yc = ds.moons(4000, key=fn.random.key(0), noise=0.0)
    noisy, yn = ds.moons(4000, key=fn.random.key(0), noise=0.15)
    assert np.array_equal(yc, yn)
    diff = noisy - clean
    assert abs(float(diff.std()) - 0.15) < 0.005 and abs(float(diff.mean())) < 0.005


def test_spirals_are_two_arms_turned_by_pi_then_standardised():
    raw, y = ds.spirals(200, key=fn.random.key(0), noise=0.0, standardize=False)
    assert raw.shape == (400, 2) and np.bincount(y).tolist() == [200, 200]
    # Without noise each point of arm 0 is r (-cos r, sin r) with r its own radius, arm 1 is
    # arm 0 turned by pi, and radii reach at most 2 pi * turns.
    r = np.hypot(raw[:, 0], raw[:, 1])
    sign = np.where(y == 0, 1.0, -1.0)[:, None]
    np.testing.assert_allclose(raw, sign * r[:, None] * np.column_stack([-np.cos(r), np.sin(r)]), atol=1e-9)
    assert r.max() <= 4 * np.pi and r.max() > 3.9 * np.pi
    assert sorted(map(tuple, -raw[y == 0])) == sorted(map(tuple, raw[y == 1]))
    X, yn = ds.spirals(200, key=fn.random.key(0), noise=0.25)
    noisy, yr = ds.spirals(200, key=fn.random.key(0), noise=0.25, standardize=False)
    assert np.array_equal(yn, yr)
    np.testing.assert_allclose(X.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(X.std(0), 1, atol=1e-12)
    np.testing.assert_allclose(X, (noisy - noisy.mean(0)) / noisy.std(0), atol=1e-12)


def test_embedded_digits_file_is_scikit_learns_data():
    from importlib import resources

    from sklearn.datasets import load_digits

    ref = load_digits()
    data = resources.files("funcnet").joinpath("data/digits.npz")
    with data.open("rb") as f, np.load(f) as d:
        assert d["images"].dtype == np.uint8 and d["labels"].dtype == np.uint8
        np.testing.assert_array_equal(d["images"], ref.data)
        np.testing.assert_array_equal(d["labels"], ref.target)
    assert len(data.read_bytes()) < 60_000


def test_digits_are_scaled_and_split_stratified():
    from sklearn.datasets import load_digits

    Xtr, Xte, ytr, yte = ds.digits()
    ref = load_digits()
    assert Xtr.shape == (1438, 64) and Xte.shape == (359, 64) and Xtr.dtype == np.float32
    assert ytr.dtype == np.int64 and ytr.shape == (1438,) and yte.shape == (359,)
    assert float(Xtr.min()) == 0.0 and float(Xtr.max()) == 1.0
    counts = np.bincount(ref.target)
    np.testing.assert_array_equal(np.bincount(yte, minlength=10), np.round(0.2 * counts).astype(int))
    np.testing.assert_array_equal(np.bincount(ytr, minlength=10), counts - np.round(0.2 * counts).astype(int))
    # Train and test together are exactly scikit-learn's images /16 with their labels.
    X64 = ds.digits(dtype=np.float64)
    rows = np.column_stack([np.vstack(X64[:2]) * 16, np.concatenate(X64[2:])])
    assert sorted(map(tuple, rows)) == sorted(map(tuple, np.column_stack([ref.data, ref.target])))
    np.testing.assert_array_equal(X64[0].astype(np.float32), Xtr)
    again = ds.digits()
    assert all(np.array_equal(a, b) for a, b in zip(again, (Xtr, Xte, ytr, yte)))
    other = ds.digits(key=fn.random.key(1))
    assert not np.array_equal(other[3], yte)
    assert np.bincount(ds.digits(test_size=0.5)[3]).tolist() == np.round(0.5 * counts).astype(int).tolist()


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
    # Gzip is recognised by its magic bytes, whatever the file is called.
    got = ds.load_idx(_write_idx(tmp_path / "renamed.idx", a, compress=True))
    np.testing.assert_array_equal(got, a)
    assert got.flags.writeable and got.flags.owndata


def test_idx_header_is_the_mnist_one(tmp_path):
    # The magic numbers MNIST documents: 2049 for labels, 2051 for images (big-endian).
    labels = _write_idx(tmp_path / "l.idx", np.array([5, 0, 4], np.uint8), compress=False).read_bytes()
    images = _write_idx(tmp_path / "i.idx", np.zeros((2, 28, 28), np.uint8), compress=False).read_bytes()
    assert struct.unpack(">iI", labels[:8]) == (2049, 3)
    assert struct.unpack(">iIII", images[:16]) == (2051, 2, 28, 28)
    assert ds.load_idx(tmp_path / "l.idx").tolist() == [5, 0, 4]


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
    raw = _write_idx(tmp_path / "t.idx", a, compress=False).read_bytes()
    cases = {
        "short.idx": (raw[:-1], r"short\.idx: truncated: expected 6 bytes of data for shape \(3, 2\), got 5"),
        "long.idx": (raw + b"\x00", r"long\.idx: more data than shape \(3, 2\) declares \(6 bytes\)"),
        "bad.idx": (b"\x01\x02\x08\x01" + b"\x00" * 8, r"bad\.idx: not an IDX file \(magic bytes 01020801"),
        "code.idx": (b"\x00\x00\x07\x01" + b"\x00" * 8, r"code\.idx: not an IDX file"),
        "tiny.idx": (b"\x00\x00", r"tiny\.idx: too short for an IDX header \(2 bytes\)"),
        "head.idx": (raw[:9], r"head\.idx: truncated header"),
        # A header claiming 2**32-1 x 2**32-1 x ... must not overflow into a small size.
        "huge.idx": (struct.pack(">HBB4I", 0, 8, 4, *[2**32 - 1] * 4), r"huge\.idx: declares shape .* \(\d{30,} bytes\), more than max_bytes"),
        "plain.gz": (b"plain", r"plain\.gz: not an IDX file"),
        "cut.gz": (gzip.compress(raw)[:-6], r"cut\.gz: cannot read as gzip IDX"),
        "junk.gz": (b"\x1f\x8b" + b"\xff" * 30, r"junk\.gz: cannot read as gzip IDX"),
        "short.gz": (gzip.compress(raw[:-1]), r"short\.gz: truncated: expected 6 bytes"),
    }
    for name, (content, match) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=match):
            ds.load_idx(tmp_path / name)
    with pytest.raises(FileNotFoundError, match="missing.idx"):
        ds.load_idx(tmp_path / "missing.idx")


def test_a_gzip_bomb_is_refused_without_inflating_it(tmp_path):
    # 1 MiB of zeros behind a header that declares 10 bytes: reading stops after the declared
    # bytes and one more, however much the stream would inflate to.
    body = struct.pack(">HBBI", 0, 8, 1, 10) + bytes(1 << 20)
    (tmp_path / "bomb.gz").write_bytes(gzip.compress(body))
    with pytest.raises(ValueError, match=r"bomb\.gz: more data than shape \(10,\) declares"):
        ds.load_idx(tmp_path / "bomb.gz")
    # A header that declares more than the caller allows is refused before any allocation.
    big = struct.pack(">HBBII", 0, 8, 2, 60000, 784)
    (tmp_path / "big.gz").write_bytes(gzip.compress(big))
    with pytest.raises(ValueError, match=r"big\.gz: declares shape \(60000, 784\) \(47040000 bytes\), more than max_bytes=1000000"):
        ds.load_idx(tmp_path / "big.gz", max_bytes=10**6)
    with pytest.raises(ValueError, match=r"big\.gz: truncated: expected 47040000 bytes"):
        ds.load_idx(tmp_path / "big.gz")  # allowed, but the data are not there


def test_mnist_refuses_files_that_do_not_fit_together(tmp_path):
    _fake_mnist(tmp_path, sums=False)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros((6, 1), np.uint8))
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte\.gz: expected uint8 with 1 dimension"):
        ds.mnist(tmp_path)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(5, np.uint8))
    with pytest.raises(ValueError, match="one label each"):
        ds.mnist(tmp_path)


def test_missing_files_and_checksum_mismatches_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz is missing"):
        ds.mnist(tmp_path)
    _fake_mnist(tmp_path)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz: SHA-256"):
        ds.mnist(tmp_path)
    assert ds.mnist(tmp_path, verify=False)[3].tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize("call, error, match", [
    (lambda: ds.moons(0, key=fn.random.key(0)), ValueError, "n: expected an integer >= 2, got 0"),
    (lambda: ds.moons(1, key=fn.random.key(0)), ValueError, "n: expected an integer >= 2, got 1"),
    (lambda: ds.xor_clusters(3, key=fn.random.key(0)), ValueError, "n: expected an integer >= 4, got 3"),
    (lambda: ds.spirals(2.5, key=fn.random.key(0)), TypeError, r"n: expected an integer >= 1, got 2.5 \(float\)"),
    (lambda: ds.spirals(True, key=fn.random.key(0)), TypeError, "n: expected an integer"),
    (lambda: ds.moons(10, key=0), TypeError, "key: expected a funcnet.random.Key"),
    (lambda: ds.circles(10, key=None), TypeError, "key: expected a funcnet.random.Key"),
    (lambda: ds.digits(key=7), TypeError, "key: expected a funcnet.random.Key"),
    (lambda: ds.spirals(10, key=fn.random.key(0), noise=-1), ValueError, "noise: expected a finite number >= 0, got -1"),
    (lambda: ds.moons(10, key=fn.random.key(0), noise=float("nan")), ValueError, "noise"),
    (lambda: ds.spirals(10, key=fn.random.key(0), turns=0), ValueError, "turns: expected a finite number > 0"),
    (lambda: ds.spirals(10, key=fn.random.key(0), turns=float("inf")), ValueError, "turns"),
    (lambda: ds.circles(10, key=fn.random.key(0), factor=1.5), ValueError, r"factor: expected a finite number in \(0, 1\)"),
    (lambda: ds.digits(test_size=1.0), ValueError, r"test_size: expected a finite number in \(0, 1\), got 1.0"),
    (lambda: ds.digits(test_size=0), ValueError, "test_size"),
    (lambda: ds.digits(test_size=0.001), ValueError, "test_size: 0.001 leaves a class with no image"),
    (lambda: ds.digits(test_size=0.999), ValueError, "test_size: 0.999 leaves a class with no image"),
    (lambda: ds.xor(np.int32), ValueError, "dtype: expected float32 or float64, got int32"),
    (lambda: ds.moons(10, key=fn.random.key(0), dtype="nonsense"), TypeError, "dtype"),
    (lambda: ds.digits(dtype=np.uint8), ValueError, "dtype"),
    (lambda: ds.mnist("/nonexistent", dtype=np.int64), ValueError, "dtype"),
])
def test_bad_arguments_are_named(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.skipif(not (SHARED / "fashion-mnist").is_dir(), reason="real data not beside the repo")
def test_real_fashion_mnist_files():
    Xtr, Xte, ytr, yte = ds.fashion_mnist(SHARED / "fashion-mnist")
    assert Xtr.shape == (60000, 784) and Xte.shape == (10000, 784) and Xtr.dtype == np.float32
    assert np.bincount(ytr).tolist() == [6000] * 10 and np.bincount(yte).tolist() == [1000] * 10
    assert float(Xtr.min()) == 0.0 and float(Xtr.max()) == 1.0
    assert abs(float(Xtr.mean()) - 0.2860) < 0.001


@pytest.mark.skipif(not (SHARED / "mnist").is_dir(), reason="real data not beside the repo")
def test_real_mnist_files():
    Xtr, Xte, ytr, yte = ds.mnist(SHARED / "mnist", flatten=False)
    assert Xtr.shape == (60000, 28, 28) and Xte.shape == (10000, 28, 28)
    assert np.bincount(ytr).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(yte).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert abs(float(Xtr.mean()) - 33.318 / 255) < 0.0005 and abs(float(Xte.mean()) - 33.791 / 255) < 0.0005


def test_save_idx_writes_what_load_idx_reads_for_every_idx_type(tmp_path):
    rng = np.random.default_rng(1)
    codes = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}
    for dtype, code in codes.items():
        a = (rng.normal(size=(3, 4, 2)) * 50).astype(dtype)
        for name in ("a.gz", "a.idx"):
            path = ds.save_idx(tmp_path / name, a)
            back = ds.load_idx(path)
            assert back.dtype == dtype and back.dtype.isnative
            np.testing.assert_array_equal(back, a)
        assert (tmp_path / "a.gz").read_bytes()[:2] == b"\x1f\x8b"
        assert (tmp_path / "a.idx").read_bytes()[:16] == bytes([0, 0, code, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 2])
    # MNIST's own magic numbers, and the same array gives the same bytes (no timestamp in the gzip).
    labels = np.arange(10, dtype=np.uint8)
    assert ds.save_idx(tmp_path / "l", labels).read_bytes()[:4] == (2049).to_bytes(4, "big")
    first = ds.save_idx(tmp_path / "l.gz", labels).read_bytes()
    assert ds.save_idx(tmp_path / "l.gz", labels).read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gz", "a.idx", "l", "l.gz"]
    with pytest.raises(TypeError, match="array: expected one of IDX's types .* got dtype int64"):
        ds.save_idx(tmp_path / "b", np.arange(3))
    with pytest.raises(ValueError, match=r"array: expected 1 to 255 dimensions .* got shape \(\)"):
        ds.save_idx(tmp_path / "b", np.uint8(3))
    with pytest.raises(TypeError, match="compress: expected True or False"):
        ds.save_idx(tmp_path / "b", labels, compress="yes")
    assert not (tmp_path / "b").exists()
