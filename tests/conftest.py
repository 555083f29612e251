"""Test configuration: numpy floating-point problems fail loudly instead of warning."""

import os

# One BLAS (and OpenMP, for scikit-learn's t-SNE) thread for the suite and the scripts and CLI
# runs it starts. The nets here are tiny, so a second thread gains nothing, and on a busy
# machine spinning worker threads turned a 5 s script into minutes. Results are the same bit
# for bit with one thread or two (the seeded scripts print identical output); the benchmark,
# not the suite, measures speed.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402  (after the variable, which OpenBLAS reads when it loads)
import pytest

from funcnet.testing import load_profile  # noqa: E402

# funcnet.testing's profiles (its module docstring states the policy): "ci" when $CI is set,
# derandomized so that a red build is red again on every run; "dev" otherwise, random and
# with more examples; $HYPOTHESIS_PROFILE picks one by name.
load_profile()


@pytest.fixture(autouse=True)
def _strict_numpy():
    # A silent NaN, inf or overflow is a bug here: make those floating-point errors raise.
    # Underflow to 0 is how exp(-1e4) is meant to end, so it stays quiet.
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        yield


def write_fake_mnist(folder, n_train: int = 300, n_test: int = 100, seed: int = 0):
    """Small, learnable stand-ins for the four MNIST IDX files (the real ones are not needed).

    Class ``c`` is a bright 5x5 square at one of ten places, on noise; the files are gzipped
    IDX, as published. Returns ``folder``.
    """
    from funcnet.datasets import save_idx

    rng = np.random.default_rng(seed)
    for part, n in (("train", n_train), ("t10k", n_test)):
        y = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 150, (n, 28, 28)).astype(np.uint8)
        for i, c in enumerate(y):
            r, col = 3 + 8 * (c // 4), 2 + 6 * (c % 4)
            images[i, r:r + 5, col:col + 5] = rng.integers(100, 256, (5, 5))
        save_idx(folder / f"{part}-images-idx3-ubyte.gz", images)
        save_idx(folder / f"{part}-labels-idx1-ubyte.gz", y)
    return folder


@pytest.fixture
def fake_mnist(tmp_path):
    """A folder holding small generated MNIST-format files (see :func:`write_fake_mnist`)."""
    folder = tmp_path / "mnist-like"
    folder.mkdir()
    return write_fake_mnist(folder)
