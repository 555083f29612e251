"""The key type, on its own so that both the checks and the samplers can use it."""

from typing import NamedTuple


class Key(NamedTuple):
    """An immutable random key: four 32-bit words of entropy (see :mod:`funcnet.random`)."""

    words: tuple
