"""fit's BLAS thread rule: what it sets, when, and that it always puts the setting back."""

from __future__ import annotations

import re

import numpy as np
import pytest

import funcnet as fn
from funcnet import _threads


class FakeBLAS:
    """Stands in for threadpoolctl's controller of NumPy's BLAS: records every setting."""

    def __init__(self, threads):
        self.threads, self.calls = threads, []

    def get_num_threads(self):
        return self.threads

    def set_num_threads(self, n):
        self.calls.append(n)
        self.threads = n


@pytest.fixture
def fake_blas(monkeypatch):
    blas = FakeBLAS(2)
    monkeypatch.setattr(_threads, "_blas_cache", [blas])
    return blas


def _fit(net, rows=600, **kw):
    X = np.random.default_rng(0).random((rows, net.sizes[0]), dtype=np.float32)
    y = np.arange(rows) % net.sizes[-1]
    return fn.fit(net, fn.init(fn.random.key(0), net), X, y, key=fn.random.key(1), epochs=1, **kw)


def test_auto_gives_each_product_its_threads_by_shape_and_puts_the_count_back(fake_blas):
    # 784-256 in batches of 128: the two large products (784 x 128 x 256 = 25.7e6 multiply-adds)
    # run on both threads, the small ones (128 x 256 x 10 = 0.33e6) on one.
    seen = []
    real = _threads._Switch.before

    def spy(self, mnk):
        real(self, mnk)
        seen.append((mnk, self.current))

    _threads._Switch.before = spy
    try:
        _fit(fn.Net((784, 256, 10)), rows=256, batch_size=128)
    finally:
        _threads._Switch.before = real
    assert {mnk: t for mnk, t in seen} == {128 * 784 * 256: 2, 128 * 256 * 10: 1}
    assert len(seen) == 2 * 5  # two steps of five products each (no input gradient for layer 1)
    # One thread to start with; then a call only where the count changes: the forward pass
    # goes big (2) then small (1), the backward pass small then big (2), and so on; 2 put back.
    assert fake_blas.calls == [1] + [2, 1, 2] + [1, 2] + [2] and fake_blas.threads == 2


def test_auto_sets_the_count_once_when_every_product_is_on_one_side(fake_blas):
    _fit(fn.Net((64, 32, 10)), batch_size=32)  # all small: one thread throughout
    assert fake_blas.calls == [1, 2]  # set at the start, put back at the end
    fake_blas.calls.clear()
    _fit(fn.Net((784, 1024, 784)), rows=64, batch_size=64)  # 64 x 784 x 1024 = 51e6: all large
    assert fake_blas.calls == [2, 2] and _threads._switch is None


def test_a_number_pins_the_threads_and_none_leaves_them_alone(fake_blas):
    during = []
    _fit(fn.Net((4, 3, 2)), callback=lambda r: during.append(fake_blas.threads), threads=1)
    assert during == [1] and fake_blas.calls == [1, 2]
    fake_blas.calls.clear()
    _fit(fn.Net((4, 3, 2)), callback=lambda r: during.append(fake_blas.threads), threads=None)
    assert during == [1, 2] and fake_blas.calls == []


def test_the_count_is_put_back_when_fit_raises_and_nested_fits_leave_it_to_the_outer(fake_blas):
    net = fn.Net((4, 3, 2))

    def boom(record):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _fit(net, callback=boom, threads=1)
    assert fake_blas.threads == 2 and not _threads._active
    inner = []
    _fit(net, threads=1, callback=lambda r: inner.append(_fit(net, threads=3).history["epoch"]))
    assert inner == [[1]] and fake_blas.calls[-2:] == [1, 2]  # the inner fit set nothing
    assert 3 not in fake_blas.calls


def test_threads_are_checked(fake_blas):
    net = fn.Net((4, 3, 2))
    for bad, kind, message in [("fast", ValueError, "threads: expected 'auto', a number of threads >= 1 or None, got 'fast'"),
                               (0, ValueError, "threads: expected an integer in [1, 65536], got 0"),
                               (1.0, TypeError, "threads: expected an integer in [1, 65536], got 1.0 (float)")]:
        with pytest.raises(kind, match=re.escape(message)):
            _fit(net, threads=bad)
    assert fake_blas.calls == []


def test_the_real_blas_is_set_and_put_back():
    if _threads.blas_threads() is None:
        pytest.skip("threadpoolctl cannot find NumPy's BLAS here")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(2, user_api="blas"):
        before = _threads.blas_threads()
        during = []
        _fit(fn.Net((4, 3, 2)), threads=1, callback=lambda r: during.append(_threads.blas_threads()))
        assert during == [1] and _threads.blas_threads() == before


def test_results_do_not_depend_on_the_threads_for_small_products(fake_blas):
    # Below the threshold every product runs on one thread whatever is asked: same bits.
    net = fn.Net((8, 16, 3), dtype="float64")
    a, b = _fit(net, threads="auto"), _fit(net, threads=None)
    fn.testing.assert_trees_close(a.params, b.params, rtol=0)
