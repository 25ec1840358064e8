"""The one random-number generator of the numba kernels: SplitMix64 streams.

Each independent stream (a tested unit of the Gi* permutation test, a permutation of the
Knox test) starts at ``stream_start(seed, stream) = mix64(mix64(seed) + stream)`` and
advances by the golden gamma; each draw is ``mix64(state)``. Results therefore depend only on
the seed and the stream number, never on the thread count or on which streams run together.
The plain-numpy twins in the tests follow the same definitions.
"""

from __future__ import annotations

import numpy as np
from numba import njit

GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_TWO_M53 = 1.0 / 9007199254740992.0  # 2**-53


@njit(cache=True, inline="always")
def mix64(z):
    """SplitMix64 finaliser of a uint64 (a bijection with good avalanche)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True, inline="always")
def stream_start(seed, stream):
    """Initial state of stream ``stream`` for ``seed`` (both non-negative integers)."""
    return mix64(mix64(np.uint64(seed)) + np.uint64(stream))


@njit(cache=True, inline="always")
def next_draw(state):
    """Advance ``state``; return ``(64-bit draw, new state)``."""
    state = state + GOLDEN_GAMMA
    return mix64(state), state


@njit(cache=True, inline="always")
def scaled_index(draw, size):
    """``floor(u * size)`` with ``u = (draw >> 11) * 2**-53`` in [0, 1): an index below ``size``."""
    return np.int64(float(draw >> _S11) * _TWO_M53 * float(size))


@njit(cache=True)
def bounded(state, bound):
    """Unbiased integer in ``[0, bound)`` by rejection; returns ``(value, new state)``."""
    b = np.uint64(bound)
    threshold = (np.uint64(0) - b) % b  # 2**64 mod bound
    while True:
        z, state = next_draw(state)
        if z >= threshold:
            return np.int64(z % b), state
