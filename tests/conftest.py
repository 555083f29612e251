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
    # A silent NaN or overflow is a bug here: make every floating-point error raise.
    with np.errstate(all="raise"):
        yield
