"""Test configuration: numpy floating-point problems fail loudly instead of warning."""

import os

import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("default", deadline=None, max_examples=25)
settings.register_profile("ci", deadline=None, max_examples=25, derandomize=True)
# CI runs the same examples every time, so a red build is reproducible.
settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture(autouse=True)
def _strict_numpy():
    # A silent NaN, inf or overflow is a bug here: make those floating-point errors raise.
    # Underflow to 0 is how exp(-1e4) is meant to end, so it stays quiet.
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        yield
