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
