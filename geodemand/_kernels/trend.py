"""Numba kernel of the Mann–Kendall trend test (:func:`geodemand.engines.emerging.mann_kendall`).

Nothing here validates input: the caller in ``geodemand.engines.emerging`` does (no NaN, at
least 2 periods) and turns the two integer sums into ``Var(S)``, ``Z`` and ``p``.

Method
------
For each column (one location's series ``x_0 .. x_{T-1}``) and each earlier period ``i``,
the kernel counts the later values above and below ``x_i``::

    g_i = #{j > i : x_j > x_i}      l_i = #{j > i : x_j < x_i}

and the later values tied with it, ``a_i = (T − 1 − i) − g_i − l_i``. Then

* ``S = Σ_i (g_i − l_i) = Σ_{i<j} sgn(x_j − x_i)``;
* the tie term ``Σ_g t_g (t_g − 1)(2 t_g + 5) = 6 Σ_i a_i (a_i + 2)``: within a group of
  ``t`` equal values the ``a_i`` of its members are ``t − 1, t − 2, .., 0``, and
  ``Σ_{k<t} 6 k (k + 2) = t (t − 1)(2t − 1) + 6 t (t − 1) = t (t − 1)(2t + 5)``.

Both are sums of integers, so they equal the sort-and-run-length results exactly (same
groups: without NaN, exactly one of ``>``, ``<``, ``==`` holds for each pair, and ``==`` is
the equality that groups sorted runs). No sort is needed: sorting each column would cost
more than all the comparisons.

Layout: ``x`` is ``(T, n)`` C-contiguous (time down the rows), so the work is vectorised
across columns. Columns are taken in blocks of :data:`BLOCK` (the block's ``T x BLOCK``
values, 208 KiB for ``T = 104``, stay in cache), and each earlier row is compared with four
later rows per pass so that the per-column counters are loaded and stored once per four
comparisons. Single-threaded on purpose (no ``parallel=True``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Columns per block (see the module docstring).
BLOCK = 256


@njit(cache=True)
def mann_kendall_s_ties(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mann–Kendall ``S`` and tie term of every column of ``x``.

    Parameters
    ----------
    x : float64 (T, n), C-contiguous
        Values in time order down each column; ``T >= 1``, no NaN (not checked).

    Returns
    -------
    s : int64 (n,)
        ``Σ_{i<j} sgn(x[j, c] − x[i, c])`` per column ``c``.
    ties : int64 (n,)
        ``Σ_g t_g (t_g − 1)(2 t_g + 5)`` over the groups of equal values of each column
        (``t_g`` the group sizes; 0 when all values differ).
    """
    t_len, n = x.shape
    s = np.zeros(n, dtype=np.int64)
    ties = np.zeros(n, dtype=np.int64)
    above = np.empty(BLOCK, dtype=np.int32)  # g_i per column of the block (<= T - 1)
    below = np.empty(BLOCK, dtype=np.int32)  # l_i
    for c0 in range(0, n, BLOCK):
        c1 = min(c0 + BLOCK, n)
        m = c1 - c0
        s_b = s[c0:c1]
        ties_b = ties[c0:c1]
        for i in range(t_len - 1):
            xi = x[i, c0:c1]
            above[:m] = 0
            below[:m] = 0
            j = i + 1
            while j + 4 <= t_len:
                xa = x[j, c0:c1]
                xb = x[j + 1, c0:c1]
                xc = x[j + 2, c0:c1]
                xd = x[j + 3, c0:c1]
                for c in range(m):
                    v = xi[c]
                    above[c] += (np.int32(xa[c] > v) + np.int32(xb[c] > v)
                                 + np.int32(xc[c] > v) + np.int32(xd[c] > v))
                    below[c] += (np.int32(xa[c] < v) + np.int32(xb[c] < v)
                                 + np.int32(xc[c] < v) + np.int32(xd[c] < v))
                j += 4
            while j < t_len:
                xa = x[j, c0:c1]
                for c in range(m):
                    v = xi[c]
                    above[c] += np.int32(xa[c] > v)
                    below[c] += np.int32(xa[c] < v)
                j += 1
            for c in range(m):
                g = np.int64(above[c])
                lo = np.int64(below[c])
                tied = (t_len - 1 - i) - g - lo
                s_b[c] += g - lo
                ties_b[c] += tied * (tied + 2)
    for c in range(n):
        ties[c] *= 6
    return s, ties
