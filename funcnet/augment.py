"""Data augmentation as pure, keyed functions of a batch: ``augment(key, X) -> new X``.

:func:`funcnet.fit` takes one as ``augment=`` and calls it on every training batch with a key
of that batch (derived from the run's key, the epoch and the batch), so the same key gives the
same augmented batch and a run repeats bit for bit. Each augmenter is a small frozen dataclass
(it prints, compares and pickles); :func:`chain` applies several in turn. The input is never
changed; the output is a new array of its shape and dtype.

>>> from funcnet.random import key
>>> X = np.arange(2 * 9, dtype=np.float32).reshape(2, 9)   # two 3x3 images, one per row
>>> shifted = Shift((3, 3), max_shift=1)(key(0), X)
>>> shifted.shape, shifted.dtype, Shift((3, 3), 1)(key(0), X).tobytes() == shifted.tobytes()
((2, 9), dtype('float32'), True)
"""

from __future__ import annotations

import dataclasses

import numpy as np

from . import checks
from . import random as rnd

__all__ = ["Shift", "FlipHorizontal", "Chain", "shifts", "flips", "chain"]


def _images(X, shape):
    n = len(X)
    return X.reshape(n, *shape)


def _batch(key, X, shape=None) -> np.ndarray:
    """The checks of an augmenter's public call (:func:`funcnet.fit` checks its data once and
    calls the trusted ``_apply``)."""
    checks.key(key)
    if isinstance(X, np.ndarray):
        X = np.asarray(X)  # a subclass (a masked array) as the plain array it holds
    if not isinstance(X, np.ndarray) or X.dtype.kind != "f" or X.ndim != 2:
        raise TypeError(f"X: expected a 2-D float array of images as rows, got {checks.show(X)}")
    if shape is not None and X.shape[1] != shape[0] * shape[1]:
        raise ValueError(f"X: expected rows of {shape[0]} x {shape[1]} = {shape[0] * shape[1]} pixels, "
                         f"got shape {X.shape}")
    checks.finite(X, "X")
    return X


def _applied(augmenter, key, X, name: str):
    """``augmenter`` on a trusted batch: funcnet's own through ``_apply``, a user's own function
    called and its result checked (an array of X's shape and dtype)."""
    apply = getattr(augmenter, "_apply", None)
    if apply is not None:
        return apply(key, X)
    out = augmenter(key, X)
    if not (isinstance(out, np.ndarray) and out.shape == X.shape and out.dtype == X.dtype):
        raise TypeError(f"{name}: expected a function (key, X) -> an array of X's shape {X.shape} "
                        f"and dtype {X.dtype}, got {checks.show(out)}")
    return out


@dataclasses.dataclass(frozen=True)
class Shift:
    """Move each image by a random whole number of pixels; see :func:`shifts`.

    Each image moves by up to ``max_shift`` pixels in each direction, independently per image
    and axis; the pixels shifted in are ``fill``.

    Attributes:
        image_shape: ``(height, width)`` of one image; a row of the batch holds
            ``height * width`` values.
        max_shift: the largest move in pixels along each axis, an integer in
            ``[1, min(height, width)]``.
        fill: the value of the pixels shifted in.

    Called as ``shift(key, X)`` on a batch ``X`` (n, height * width) of finite floats, it
    returns a new array of ``X``'s shape and dtype; the same key gives the same moves.

    >>> from funcnet.random import key
    >>> X = np.ones((2, 4))   # two 2x2 images
    >>> s = Shift((2, 2), max_shift=1, fill=0.0)
    >>> moved = s(key(0), X)
    >>> s.max_shift, moved.shape, moved.dtype, bool(np.array_equal(moved, s(key(0), X)))
    (1, (2, 4), dtype('float64'), True)
    """

    image_shape: tuple
    max_shift: int = 2
    fill: float = 0.0

    def __post_init__(self):
        shape = _shape(self.image_shape)
        object.__setattr__(self, "image_shape", shape)
        object.__setattr__(self, "max_shift", checks.integer(self.max_shift, "max_shift", low=1, high=min(shape)))
        object.__setattr__(self, "fill", checks.real(self.fill, "fill"))

    def __call__(self, key, X):
        """The batch ``X`` (n, height * width) with each image moved; a new array."""
        return self._apply(key, _batch(key, X, self.image_shape))

    def _apply(self, key, X):
        with np.errstate(over="ignore"):
            fill = X.dtype.type(self.fill)
        if not np.isfinite(fill):  # e.g. 1e300 for float32 images
            raise ValueError(f"fill: expected a value that {X.dtype} holds, got {self.fill}")
        h, w = self.image_shape
        s = self.max_shift
        n = len(X)
        offsets = rnd.generator(key).integers(-s, s + 1, size=(n, 2))
        padded = np.full((n, h + 2 * s, w + 2 * s), fill, dtype=X.dtype)
        padded[:, s:s + h, s:s + w] = _images(X, self.image_shape)
        # Image i reads rows s - dy .. s - dy + h and columns s - dx .. s - dx + w of its padding.
        rows = (s - offsets[:, 0])[:, None] + np.arange(h)[None, :]
        cols = (s - offsets[:, 1])[:, None] + np.arange(w)[None, :]
        out = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
        return out.reshape(X.shape)


def shifts(image_shape, max_shift: int = 2, fill: float = 0.0) -> Shift:
    """Random shifts of images stored as rows (e.g. MNIST's 784 = 28 x 28 pixels).

    Args:
        image_shape: ``(height, width)`` of one image; a row holds ``height * width`` values.
        max_shift: the largest move in pixels along each axis, an integer >= 1.
        fill: the value of the pixels shifted in.

    Returns:
        A :class:`Shift`, the function ``(key, X) -> new X``.

    >>> from funcnet.random import key
    >>> X = np.zeros((1, 9), np.float32); X[0, 4] = 1.0   # a dot in the middle of 3x3
    >>> moved = shifts((3, 3), max_shift=1)(key(3), X).reshape(3, 3)
    >>> float(moved.sum()), moved.shape
    (1.0, (3, 3))
    """
    return Shift(image_shape, max_shift, fill)


@dataclasses.dataclass(frozen=True)
class FlipHorizontal:
    """Mirror each image left to right with probability ``p``; see :func:`flips`.

    Attributes:
        image_shape: ``(height, width)`` of one image; a row of the batch holds
            ``height * width`` values.
        p: the probability that an image is mirrored, in [0, 1], drawn per image.

    Called as ``flip(key, X)`` on a batch ``X`` (n, height * width) of finite floats, it
    returns a new array of ``X``'s shape and dtype.

    >>> from funcnet.random import key
    >>> FlipHorizontal((1, 3), p=1.0)(key(0), np.array([[1.0, 2.0, 3.0]]))
    array([[3., 2., 1.]])
    """

    image_shape: tuple
    p: float = 0.5

    def __post_init__(self):
        object.__setattr__(self, "image_shape", _shape(self.image_shape))
        object.__setattr__(self, "p", checks.real(self.p, "p", low=0, high=1))

    def __call__(self, key, X):
        """The batch ``X`` (n, height * width) with some images mirrored; a new array."""
        return self._apply(key, _batch(key, X, self.image_shape))

    def _apply(self, key, X):
        flip = rnd.generator(key).random(len(X)) < self.p
        images = _images(X, self.image_shape)
        out = np.where(flip[:, None, None], images[:, :, ::-1], images)
        return out.reshape(X.shape)


def flips(image_shape, p: float = 0.5) -> FlipHorizontal:
    """Random left-right mirror images (for datasets where that keeps the class, e.g. clothes).

    Args:
        image_shape: ``(height, width)`` of one image; a row holds ``height * width`` values.
        p: the probability that an image is mirrored, in [0, 1].

    Returns:
        A :class:`FlipHorizontal`, the function ``(key, X) -> new X``.

    >>> from funcnet.random import key
    >>> X = np.array([[1.0, 2.0, 3.0, 4.0]])
    >>> flips((2, 2), p=1.0)(key(0), X)
    array([[2., 1., 4., 3.]])
    """
    return FlipHorizontal(image_shape, p)


@dataclasses.dataclass(frozen=True)
class Chain:
    """Augmenters applied in turn, each with its own key; see :func:`chain`.

    Attributes:
        augmenters: a non-empty tuple of functions ``(key, X) -> X``; the ``i``-th gets the
            ``i``-th key of ``split(key, len(augmenters))``.

    Two certain flips give the batch back:

    >>> from funcnet.random import key
    >>> X = np.array([[1.0, 2.0]])
    >>> Chain((flips((1, 2), p=1.0), flips((1, 2), p=1.0)))(key(0), X)
    array([[1., 2.]])
    """

    augmenters: tuple

    def __post_init__(self):
        checks.instance(self.augmenters, "augmenters", tuple, "a tuple of functions (key, X) -> X")
        if not self.augmenters:
            raise ValueError("augmenters: expected at least one, got none")
        for i, a in enumerate(self.augmenters):
            checks.function(a, f"augmenters[{i}]", "a function (key, X) -> X")

    def __call__(self, key, X):
        """Each augmenter in turn on the batch ``X``; a new array."""
        return self._apply(key, _batch(key, X))

    def _apply(self, key, X):
        for i, (k, a) in enumerate(zip(rnd.split(key, len(self.augmenters)), self.augmenters)):
            X = _applied(a, k, X, f"augmenters[{i}]")
        return X


def chain(*augmenters) -> Chain:
    """Apply augmenters one after another (each drawing from its own child key).

    Args:
        *augmenters: one or more functions ``(key, X) -> X``: funcnet's augmenters or your
            own (whose result must be an array of ``X``'s shape and dtype).

    Returns:
        A :class:`Chain`, the function ``(key, X) -> new X``.

    >>> a = chain(shifts((28, 28), 2), flips((28, 28)))
    >>> len(a.augmenters)
    2
    """
    return Chain(tuple(augmenters))


def _shape(image_shape) -> tuple:
    checks.instance(image_shape, "image_shape", (tuple, list), "a pair (height, width)")
    if len(image_shape) != 2:
        raise ValueError(f"image_shape: expected a pair (height, width), got {checks.show(image_shape)}")
    return tuple(checks.integer(v, "image_shape", low=1) for v in image_shape)
