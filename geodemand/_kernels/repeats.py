"""Numba kernels of the repeat-location engine (:mod:`geodemand.engines.repeats`): njit only.

All are O(n) passes over integer place codes (0 .. n_places-1), so they scale to tens of
millions of incidents without Python loops.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def group_order(codes, n_groups, within):
    """Stable counting sort of ``within`` (row indices) by ``codes[row]``.

    Parameters
    ----------
    codes : int64[n]
        Group code of each row, 0 .. n_groups-1.
    n_groups : int
        Number of groups.
    within : int64[m]
        Rows in the order to keep inside each group (e.g. sorted by time).

    Returns
    -------
    order : int64[m]
        ``within`` regrouped: group 0's rows first, each group's rows in ``within`` order.
    start : int64[n_groups + 1]
        Group ``g`` occupies ``order[start[g] : start[g + 1]]``.
    """
    start = np.zeros(n_groups + 1, dtype=np.int64)
    for i in range(within.shape[0]):
        start[codes[within[i]] + 1] += 1
    for g in range(n_groups):
        start[g + 1] += start[g]
    cursor = start[:n_groups].copy()
    order = np.empty(within.shape[0], dtype=np.int64)
    for i in range(within.shape[0]):
        row = within[i]
        g = codes[row]
        order[cursor[g]] = row
        cursor[g] += 1
    return order, start


@njit(cache=True)
def segment_min_max(codes, values, n_groups):
    """Per group the minimum and maximum of ``values`` (int64, e.g. nanoseconds)."""
    lo = np.full(n_groups, np.iinfo(np.int64).max, dtype=np.int64)
    hi = np.full(n_groups, np.iinfo(np.int64).min, dtype=np.int64)
    for i in range(codes.shape[0]):
        g = codes[i]
        v = values[i]
        if v < lo[g]:
            lo[g] = v
        if v > hi[g]:
            hi[g] = v
    return lo, hi


@njit(cache=True)
def segment_median_gap(times, order, start):
    """Median gap between consecutive times within each group (NaN if < 2 times).

    ``order[start[g] : start[g + 1]]`` are the rows of group ``g`` in ascending time order;
    gaps are ``times[next] - times[prev]`` in the units of ``times`` (float64).
    """
    n_groups = start.shape[0] - 1
    out = np.full(n_groups, np.nan)
    longest = 0
    for g in range(n_groups):
        longest = max(longest, start[g + 1] - start[g])
    gaps = np.empty(max(longest - 1, 1), dtype=np.float64)
    for g in range(n_groups):
        a = start[g]
        m = start[g + 1] - a
        if m < 2:
            continue
        for i in range(m - 1):
            gaps[i] = times[order[a + i + 1]] - times[order[a + i]]
        out[g] = np.median(gaps[: m - 1])
    return out


@njit(cache=True)
def segment_mode(labels, order, start, n_labels):
    """Most frequent label code per group (ties: the smallest code; -1 for empty groups).

    ``order[start[g] : start[g + 1]]`` are the rows of group ``g``; ``labels[row]`` is a code
    in 0 .. n_labels-1 (or -1 for missing, ignored).
    """
    n_groups = start.shape[0] - 1
    out = np.full(n_groups, -1, dtype=np.int64)
    tally = np.zeros(n_labels, dtype=np.int64)
    for g in range(n_groups):
        best = -1
        best_n = 0
        for i in range(start[g], start[g + 1]):
            lab = labels[order[i]]
            if lab < 0:
                continue
            tally[lab] += 1
            t = tally[lab]
            if t > best_n or (t == best_n and lab < best):
                best = lab
                best_n = t
        for i in range(start[g], start[g + 1]):
            lab = labels[order[i]]
            if lab >= 0:
                tally[lab] = 0
        out[g] = best
    return out


@njit(cache=True)
def segment_sum_int(codes, values, n_groups):
    """Exact int64 sum of ``values`` per group (order-independent, unlike float sums)."""
    out = np.zeros(n_groups, dtype=np.int64)
    for i in range(codes.shape[0]):
        out[codes[i]] += values[i]
    return out
