"""Numba kernels of the Getis-Ord Gi* engine (:mod:`geodemand.engines.hotspots`).

Nothing here validates input: the callers in ``geodemand.engines.hotspots`` do.

Window sums
-----------
* :func:`window_sums_square` sums a ``(2k+1) x (2k+1)`` window (queen ring of order ``k``)
  around every cell with two running-sum passes (rows, then columns): O(n) whatever ``k``.
* :func:`window_sums_profile` sums any window that is symmetric about its centre row, given
  as a half-width per row offset (rook/diamond, disc): O(n x rows of the window).

Both only count cells where ``valid`` is True (values elsewhere are ignored).

Permutation inference
---------------------
:func:`permutation_tail_counts` runs conditional randomisation with **independent draws per
tested unit**: unit ``i`` keeps its own value and, in each of ``R`` permutations, draws its
``k_i`` neighbours' values without replacement from the ``n - 1`` other units (Floyd's
algorithm, exactly ``k_i`` random numbers per permutation, no rejection loop). The random
stream of unit ``i`` is SplitMix64 started at ``mix64(mix64(seed) + i)``, so results do not
depend on the number of threads or on which units are tested together. The uniform integer
in ``[0, j]`` is ``floor(u * (j + 1))`` with ``u = (draw >> 11) * 2**-53``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from geodemand._kernels.rng import next_draw, scaled_index, stream_start


@njit(cache=True)
def window_sums_square(values, valid, k):
    """Sum of ``values`` and number of valid cells in the ``(2k+1)^2`` window of each cell.

    Two running-sum passes (along rows, then down columns): O(n) whatever ``k``. The column
    pass works in place with a ring buffer of ``k + 1`` rows, so no full-size temporary is
    allocated. Exact for integer values; for other values the running sums carry rounding
    of the order of ``ε x`` (row or column total).

    Parameters
    ----------
    values : float64 (n_rows, n_cols)
    valid : bool (n_rows, n_cols)
    k : int >= 0

    Returns
    -------
    sums : float64 (n_rows, n_cols)
    counts : int64 (n_rows, n_cols)
    """
    n_rows, n_cols = values.shape
    sums = np.empty((n_rows, n_cols))
    counts = np.empty((n_rows, n_cols), dtype=np.int64)
    for r in range(n_rows):
        s = 0.0
        c = 0
        for j in range(min(k, n_cols)):
            if valid[r, j]:
                s += values[r, j]
                c += 1
        for j in range(n_cols):
            enter = j + k
            if enter < n_cols and valid[r, enter]:
                s += values[r, enter]
                c += 1
            leave = j - k - 1
            if leave >= 0 and valid[r, leave]:
                s -= values[r, leave]
                c -= 1
            sums[r, j] = s
            counts[r, j] = c
    ring = k + 1
    ring_s = np.empty((ring, n_cols))
    ring_c = np.empty((ring, n_cols), dtype=np.int64)
    acc_s = np.zeros(n_cols)
    acc_c = np.zeros(n_cols, dtype=np.int64)
    for r in range(min(k, n_rows)):
        for j in range(n_cols):
            acc_s[j] += sums[r, j]
            acc_c[j] += counts[r, j]
    for r in range(n_rows):
        slot = r % ring
        if r - k - 1 >= 0:  # the row leaving the window was saved in this slot
            for j in range(n_cols):
                acc_s[j] -= ring_s[slot, j]
                acc_c[j] -= ring_c[slot, j]
        enter = r + k
        if enter < n_rows:
            for j in range(n_cols):
                acc_s[j] += sums[enter, j]
                acc_c[j] += counts[enter, j]
        for j in range(n_cols):
            ring_s[slot, j] = sums[r, j]
            ring_c[slot, j] = counts[r, j]
            sums[r, j] = acc_s[j]
            counts[r, j] = acc_c[j]
    return sums, counts


@njit(cache=True, parallel=True)
def window_sums_profile(values, valid, halfwidths):
    """Window sums for a window given by ``halfwidths[dy + K]`` columns each side of row ``dy``.

    ``halfwidths`` has length ``2K + 1`` (row offsets ``-K..K``); a negative half-width means
    the row offset is not part of the window. Sums are direct (no running differences), so
    they are exact for integer counts and carry only the rounding of adding the window's
    values in row-major order.
    """
    n_rows, n_cols = values.shape
    big_k = (halfwidths.shape[0] - 1) // 2
    sums = np.zeros((n_rows, n_cols))
    counts = np.zeros((n_rows, n_cols), dtype=np.int64)
    for r in prange(n_rows):
        for j in range(n_cols):
            s = 0.0
            c = 0
            for dy in range(-big_k, big_k + 1):
                rr = r + dy
                h = halfwidths[dy + big_k]
                if rr < 0 or rr >= n_rows or h < 0:
                    continue
                for cc in range(max(0, j - h), min(n_cols, j + h + 1)):
                    if valid[rr, cc]:
                        s += values[rr, cc]
                        c += 1
            sums[r, j] = s
            counts[r, j] = c
    return sums, counts


@njit(cache=True, parallel=True)
def permutation_tail_counts(pool, positions, n_draw, observed, tolerance, permutations, seed):
    """Conditional-randomisation tail counts with independent draws per tested unit.

    Parameters
    ----------
    pool : float64 (n,)
        Values of all ``n`` units (the population the neighbours are drawn from).
    positions : int64 (m,)
        Index in ``pool`` of each tested unit (it is never drawn for itself).
    n_draw : int64 (m,)
        Number of neighbours ``k_i`` to draw for each tested unit (``<= n - 1``).
    observed : float64 (m,)
        Observed sum of the ``k_i`` neighbours' values (the unit itself excluded).
    tolerance : float64 (m,)
        Simulated sums within ``tolerance`` of ``observed`` count as ties (in both tails).
    permutations : int
        Number of permutations ``R``.
    seed : int
        Non-negative seed; unit ``j`` of ``positions`` uses the stream of ``positions[j]``.

    Returns
    -------
    n_ge, n_le : int64 (m,)
        ``#{sim >= obs}`` and ``#{sim <= obs}`` (ties counted in both).
    """
    m_units = positions.shape[0]
    n_other = pool.shape[0] - 1
    n_ge = np.zeros(m_units, dtype=np.int64)
    n_le = np.zeros(m_units, dtype=np.int64)
    max_k = 0
    for u in range(m_units):
        max_k = max(max_k, n_draw[u])
    for u in prange(m_units):
        pos = positions[u]
        k = n_draw[u]
        obs = observed[u]
        tol = tolerance[u]
        chosen = np.empty(max(max_k, 1), dtype=np.int64)
        state = stream_start(seed, pos)
        ge = 0
        le = 0
        for _ in range(permutations):
            sim = 0.0
            for step in range(k):
                j = n_other - k + step
                draw, state = next_draw(state)
                t = scaled_index(draw, j + 1)
                for prev in range(step):
                    if chosen[prev] == t:
                        t = j
                        break
                chosen[step] = t
                idx = t if t < pos else t + 1
                sim += pool[idx]
            if sim >= obs - tol:
                ge += 1
            if sim <= obs + tol:
                le += 1
        n_ge[u] = ge
        n_le[u] = le
    return n_ge, n_le


@njit(cache=True)
def grid_summary(values, valid):
    """Count, total, sum of squared deviations, integer flag, max |x| and non-finite count.

    Over the cells where ``valid`` is True (two passes: mean, then squared deviations).
    """
    n_rows, n_cols = values.shape
    n = 0
    total = 0.0
    absmax = 0.0
    integer = True
    n_bad = 0
    for r in range(n_rows):
        for c in range(n_cols):
            if valid[r, c]:
                v = values[r, c]
                if not np.isfinite(v):
                    n_bad += 1
                    continue
                n += 1
                total += v
                a = abs(v)
                if a > absmax:
                    absmax = a
                if integer and np.floor(v) != v:
                    integer = False
    m2 = 0.0
    if n > 0 and n_bad == 0:
        mean = total / n
        for r in range(n_rows):
            for c in range(n_cols):
                if valid[r, c]:
                    d = values[r, c] - mean
                    m2 += d * d
    return n, total, m2, integer, absmax, n_bad


@njit(cache=True)
def group_cells(sums, counts, valid, s_min, w_span, key_size):
    """Group valid cells by the key ``(sum - s_min) * w_span + count`` (integer sums).

    Returns
    -------
    table : int64 (key_size,)
        Group of each key (``-1`` for keys no cell has); groups are numbered in key order.
    keys : int64 (n_groups,)
        The key of each group.
    sizes : int64 (n_groups,)
        Number of cells in each group.
    """
    n_rows, n_cols = sums.shape
    table = np.zeros(key_size, dtype=np.int64)
    for r in range(n_rows):
        for c in range(n_cols):
            if valid[r, c]:
                table[(np.int64(sums[r, c]) - s_min) * w_span + counts[r, c]] += 1
    n_groups = 0
    for key in range(key_size):
        if table[key]:
            n_groups += 1
    keys = np.empty(n_groups, dtype=np.int64)
    sizes = np.empty(n_groups, dtype=np.int64)
    g = 0
    for key in range(key_size):
        if table[key]:
            keys[g] = key
            sizes[g] = table[key]
            table[key] = g
            g += 1
        else:
            table[key] = -1
    return table, keys, sizes


@njit(cache=True)
def scatter_groups(sums, counts, valid, table, s_min, w_span, z_g, p_g, q_g, bin_g):
    """Per-cell ``z, p, q, bin`` from per-group values (NaN / 0 outside ``valid``)."""
    n_rows, n_cols = sums.shape
    z = np.empty((n_rows, n_cols))
    p = np.empty((n_rows, n_cols))
    q = np.empty((n_rows, n_cols))
    b = np.zeros((n_rows, n_cols), dtype=np.int8)
    for r in range(n_rows):
        for c in range(n_cols):
            if valid[r, c]:
                g = table[(np.int64(sums[r, c]) - s_min) * w_span + counts[r, c]]
                z[r, c] = z_g[g]
                p[r, c] = p_g[g]
                q[r, c] = q_g[g]
                b[r, c] = bin_g[g]
            else:
                z[r, c] = np.nan
                p[r, c] = np.nan
                q[r, c] = np.nan
    return z, p, q, b
