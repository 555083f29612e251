"""The per-leaf kernels of the optimizers, and the flush that keeps decaying state out of subnormals.

Every kernel takes one leaf of the gradients (and of each state tree) and returns new arrays,
allocated once here and then filled in place, in as few passes over memory as its rule allows.
Scalars that do not depend on the leaf (learning rate, bias corrections) come in precomputed.
"""

from __future__ import annotations

import math

import numpy as np


def trace(g, v, mu, nesterov, scale):
    """New velocity ``mu*v + g`` and the update ``scale * (v or g + mu*v)`` (a copy of the new
    velocity when unscaled: updates and state never share an array)."""
    nv = np.multiply(v, mu, dtype=v.dtype)
    nv += g
    if nesterov:
        u = np.multiply(nv, mu)
        u += g
        if scale is not None:
            u *= scale
    else:
        u = nv.copy() if scale is None else np.multiply(nv, scale)
    return u, nv


def second_moment(g, v, decay):
    """``decay*v + (1-decay)*g**2`` as ``(g*g - v)*(1-decay) + v``: four passes, no temporary."""
    nv = np.multiply(g, g, dtype=v.dtype)
    nv -= v
    nv *= 1.0 - decay
    nv += v
    return nv


def rms(g, v, decay, eps, scale):
    """New ``v`` and the update ``scale * g / (sqrt(v) + eps)``."""
    nv = second_moment(g, v, decay)
    u = np.sqrt(nv)
    u += eps
    np.divide(g, u, out=u)
    if scale is not None:
        u *= scale
    return u, nv


def adam(g, m, v, b1, b2, eps, scale):
    """New moments and the update ``scale * m / (sqrt(v) + eps)`` (corrections folded into
    ``eps`` and ``scale`` by :func:`adam_constants`)."""
    nm = np.subtract(m, g, dtype=m.dtype)
    nm *= b1
    nm += g  # b1*m + (1-b1)*g in three passes and no temporary
    nv = second_moment(g, v, b2)
    u = np.sqrt(nv)
    u += eps
    np.divide(nm, u, out=u)
    u *= scale
    return u, nm, nv


def adam_constants(count, b1, b2, eps):
    """``(eps', c)`` with ``mhat/(sqrt(vhat)+eps) == c * m/(sqrt(v)+eps')`` at step ``count+1``.

    Multiplying numerator and denominator by ``sqrt(1-b2**t)`` moves both bias corrections
    into one scalar, which saves two passes over every array; the result is the same
    Kingma & Ba update (this is not their "eps-hat" variant, which changes eps).
    """
    # b1, b2 < 1: their powers are 0 long before 2**1000 steps, where a float power of a
    # larger int would overflow converting it
    t = min(count + 1, 1 << 1000)
    root = math.sqrt(1.0 - b2**t)
    return eps * root, root / (1.0 - b1**t)


# --- keeping subnormal numbers out of decaying state ---

# A state entry whose gradient stays exactly zero (a weight on an input pixel that is always
# 0, a dead unit) decays geometrically, by ``decay`` a step, into the subnormal floats below
# finfo.tiny, and x86 runs many operations on subnormals in microcode, many times slower
# (scripts/bench.py shows the effect on Adam epochs over Fashion-MNIST). Hardware
# flush-to-zero cannot be set from NumPy, so every few steps the state entries that pure decay
# would carry below tiny before the next flush are set to 0. No update can show the change.
_FLUSH_EVERY = 16
_FLUSHED = (np.dtype(np.float32), np.dtype(np.float64))


def flush_period(decay: float) -> int:
    """Steps between flushes of a state that decays by ``decay`` a step (0: never)."""
    if decay < 1 / 64:  # such a state falls through the subnormals in a few steps (4 in
        return 0  # float32, 9 in float64)
    # The threshold 2 * tiny / decay**k (twice for rounding) is kept under 128 * tiny (2e-36
    # in float32, 3e-306 in float64), a change no update can show: k = 16 for decays >= 0.7712.
    return max(1, min(_FLUSH_EVERY, int(math.log(64.0) / -math.log(decay))))


def flush_tiny_(leaves, decay: float, count: int) -> None:
    """At every ``flush_period(decay)``-th step, zero the entries of fresh state ``leaves``
    (the caller's own new arrays) that are too small to stay normal until the next flush."""
    k = flush_period(decay)
    if not k or count % k:
        return
    for a in leaves:
        # float32 and float64 only: NumPy computes float16 in float32, where its subnormals
        # are normal and cost nothing, while float16's tiny (6e-5) is among real values.
        if isinstance(a, np.ndarray) and a.ndim and a.dtype in _FLUSHED:
            limit = 2.0 * float(np.finfo(a.dtype).tiny) / decay**k
            np.copyto(a, 0, where=np.abs(a) < limit)
