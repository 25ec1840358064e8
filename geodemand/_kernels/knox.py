"""Numba kernels of the Knox test (:mod:`geodemand.engines.nearrepeat`); ``@njit`` code only.

Pair enumeration never builds an n x n matrix. Events are grouped by **site** (exact
coordinates) and sites are sorted by a square grid whose cell side is at least the largest
finite space edge, so every pair of sites within that distance lies in one cell or in a cell
and one of its four forward neighbours. The distance, hence the space band, is computed once
per pair of sites; all event pairs between the two sites share it.

Time gaps are counted for a whole block of W date columns at once (column 0 = the observed
dates, the others = permuted dates), as cumulative counts ``#{gap < threshold_k}`` per
column, two ways that give identical integers:

* **direct** (light site pairs): for each event pair, ``gap_r = |t_a,r - t_b,r|`` for every
  column r (a contiguous row of the (n, W) date matrix) and ``+= gap_r < threshold_k``
  (SIMD-friendly; int16 counters flushed to int64);
* **windowed** (pairs of heavy sites, both with >= ``HEAVY_SITE_EVENTS`` events): each heavy
  site's dates are sorted per column once; for each event of one site only the events of
  the other within the largest threshold (a forward-moving window of the sorted list) are
  compared, so a pair of sites costs O(m_u + m_v + pairs in the window) instead of
  O(m_u m_v); when the window is long (very busy sites) one moving pointer per threshold
  replaces the scan, O(K (m_u + m_v)). Gaps are the same ``abs(t_a - t_b)`` expression as
  in the direct path (``later - earlier``), so all paths count exactly the same pairs.

All comparisons are strict ``<``: the driver turns ``gap <= e`` into ``gap < e'`` with
``e' = floor(e) + 1`` for integer times or ``e' = nextafter(e, inf)`` for float times.

Randomness: permutation ``r`` is a Fisher-Yates shuffle driven by stream ``r`` of
:mod:`geodemand._kernels.rng` (SplitMix64, seeded from ``(seed, r)`` only), so it does not
depend on the block layout or the thread count.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from geodemand._kernels.rng import bounded, stream_start


@njit(cache=True)
def _fill_permutation(perm, seed, r):
    """Write permutation ``r`` of ``range(len(perm))`` into ``perm`` (Fisher-Yates)."""
    n = perm.shape[0]
    for i in range(n):
        perm[i] = i
    state = stream_start(seed, r)
    for k in range(n - 1, 0, -1):
        j, state = bounded(state, k + 1)
        tmp = perm[k]
        perm[k] = perm[j]
        perm[j] = tmp


@njit(cache=True)
def permutation(n, seed, r):
    """Permutation ``r`` (>= 1) of ``range(n)`` for ``seed``, as :func:`permuted_dates` uses it."""
    perm = np.empty(n, dtype=np.int64)
    _fill_permutation(perm, seed, r)
    return perm


@njit(cache=True, parallel=True)
def permuted_dates(t, by_date, row_of, heavy_row, heavy_start, seed, r0, r1, sentinel):
    """Dates under permutations ``r0 .. r1-1``, in two layouts, in one pass per column.

    Parameters
    ----------
    t : int16[n], int32[n] or float64[n]
        Times in input order (the outputs have the same dtype).
    by_date : int64[n]
        Input indices in ascending order of ``t`` (a stable argsort).
    row_of : int64[n]
        Row of each input event in the site-sorted order.
    heavy_row : int64[n]
        For each row, the index ``h`` of its heavy site, or -1 for a light site.
    heavy_start : int64[n_heavy + 1]
        Block offsets of heavy sites (each block = the site's events + one sentinel slot).
    seed : int
        Seed (>= 0).
    r0, r1 : int
        Permutation range; ``r = 0`` is the identity (the observed dates).
    sentinel : scalar
        Value larger than any time, written after each heavy site's sorted dates.

    Returns
    -------
    dates : array[n, r1 - r0]
        ``dates[row_of[i], c] = t[perm_{r0+c}[i]]``: the permuted dates stay on fixed places.
    sorted_dates : array[r1 - r0, heavy_start[-1]]
        For each column, each heavy site's dates in ascending order, then ``sentinel``.

    Notes
    -----
    Walking the dates in ascending order and handing each to the event that receives it
    fills every heavy site's block already sorted, so no per-site sort is needed.
    """
    n = t.shape[0]
    w = r1 - r0
    n_heavy = heavy_start.shape[0] - 1
    dates = np.empty((n, w), dtype=t.dtype)
    sorted_dates = np.empty((w, heavy_start[-1]), dtype=t.dtype)
    for c in prange(w):
        r = r0 + c
        receiver = np.empty(n, dtype=np.int64)  # receiver[j]: event that gets date j
        if r == 0:
            for j in range(n):
                receiver[j] = j
        else:
            perm = np.empty(n, dtype=np.int64)
            _fill_permutation(perm, seed, r)
            for i in range(n):
                receiver[perm[i]] = i
        cursor = heavy_start[:n_heavy].copy()
        for q in range(n):
            j = by_date[q]
            v = t[j]
            row = row_of[receiver[j]]
            dates[row, c] = v
            h = heavy_row[row]
            if h >= 0:
                sorted_dates[c, cursor[h]] = v
                cursor[h] += 1
        for h in range(n_heavy):
            sorted_dates[c, heavy_start[h + 1] - 1] = sentinel
    return dates, sorted_dates


@njit(cache=True)
def _bin(v, edges, closed_left):
    """Band of ``v`` among finite ``edges``: -1 below edges[0], -2 beyond edges[-1], else k.

    Closed-left bands are [e0, e1), [e1, e2), ...; closed-right bands are [e0, e1], (e1, e2], ...
    """
    m = edges.shape[0] - 1
    if v < edges[0]:
        return -1
    if closed_left:
        if v >= edges[m]:
            return -2
        k = 0
        while v >= edges[k + 1]:
            k += 1
        return k
    if v > edges[m]:
        return -2
    k = 0
    while v > edges[k + 1]:
        k += 1
    return k


@njit(cache=True)
def _space_bin(d, s_edges, closed_left, same_location):
    """Internal space row of distance ``d``: 0 below the first edge, 1 same location,
    2 + k for band k; -1 when ``d`` is beyond the last finite edge."""
    if same_location and d == 0.0:
        return 1
    if s_edges.shape[0] < 2:
        return 0 if d < s_edges[0] else -1
    k = _bin(d, s_edges, closed_left)
    if k == -1:
        return 0
    if k == -2:
        return -1
    return 2 + k


_FLUSH_EVERY = 32767  # int16 counters gain at most 1 per pair: flush before they can overflow


@njit(cache=True, inline="always")
def _direct(lo, hi, lo2, hi2, same_site, dates, s, acc, total, t_cmp, gaps, pending):
    """Direct counts of all event pairs between two sites (space row ``s``).

    Rows ``lo..hi-1`` and ``lo2..hi2-1`` of ``dates``; with ``same_site`` the pairs ``a < b``
    of one site. Returns the updated number of pairs pending in the int16 counters.
    """
    w = dates.shape[1]
    n_k = t_cmp.shape[0]
    for a in range(lo, hi):
        start = a + 1 if same_site else lo2
        for b in range(start, hi2):
            for r in range(w):
                gaps[r] = abs(dates[a, r] - dates[b, r])
            for k in range(n_k):
                e = t_cmp[k]
                for r in range(w):
                    acc[s, k, r] += gaps[r] < e
            pending += 1
            if pending == _FLUSH_EVERY:
                _flush(acc, total)
                pending = 0
    return pending


@njit(cache=True)
def _flush(acc, total):
    n_s, n_k, w = acc.shape
    for s in range(n_s):
        for k in range(n_k):
            for r in range(w):
                total[s, k, r] += acc[s, k, r]
                acc[s, k, r] = 0


_FLUSH_EVERY = 32767  # an int16 counter gains at most 1 per pair: flush before overflow


@njit(cache=True)
def _window_one(A, m, t_cmp, out):
    """``out[k] += #{i < j : A[j] - A[i] < t_cmp[k]}`` for ascending ``A[:m]``.

    For each ``j`` only the window of earlier elements within the largest threshold is
    visited (a forward-moving pointer), and counted per threshold.
    """
    n_k = t_cmp.shape[0]
    t_max = t_cmp[n_k - 1]
    lo = 0
    for j in range(m):
        z = A[j]
        while lo < j and z - A[lo] >= t_max:
            lo += 1
        for k in range(n_k):
            e = t_cmp[k]
            c = 0
            for i in range(lo, j):
                c += z - A[i] < e
            out[k] += c


@njit(cache=True)
def _window_two(A, ma, B, mb, t_cmp, out):
    """``out[k] += #{(a, b) : |a - b| < t_cmp[k]}`` for ascending ``A[:ma]``, ``B[:mb]``.

    For each ``a`` (ascending) the elements of ``B`` within the largest threshold form a
    window ``[lo, hi)`` that only moves forward; gaps are ``abs(a - b)`` exactly as in the
    direct path, so both paths count the same pairs.
    """
    n_k = t_cmp.shape[0]
    t_max = t_cmp[n_k - 1]
    lo = 0
    hi = 0
    for i in range(ma):
        a = A[i]
        while lo < mb and a - B[lo] >= t_max:
            lo += 1
        if hi < lo:
            hi = lo
        while hi < mb and B[hi] - a < t_max:
            hi += 1
        for k in range(n_k):
            e = t_cmp[k]
            c = 0
            for j in range(lo, hi):
                c += abs(a - B[j]) < e
            out[k] += c


@njit(cache=True)
def _pointers_one(A, m, t_cmp, out):
    """As :func:`_window_one` with one moving pointer per threshold: O(K m), for long lists."""
    for k in range(t_cmp.shape[0]):
        e = t_cmp[k]
        lo = 0
        c = 0
        for j in range(m):
            while lo < j and A[j] - A[lo] >= e:
                lo += 1
            c += j - lo
        out[k] += c


@njit(cache=True)
def _pointers_two(A, ma, B, mb, t_cmp, out):
    """As :func:`_window_two` with two moving pointers per threshold: O(K (m_a + m_b)).

    For each ascending ``a``: ``lo`` = first ``b`` with ``a - b < e``, ``hi`` = first ``b``
    with ``b - a >= e``; the ``b`` in between are exactly those with ``|a - b| < e``.
    """
    for k in range(t_cmp.shape[0]):
        e = t_cmp[k]
        lo = 0
        hi = 0
        c = 0
        for i in range(ma):
            a = A[i]
            while lo < mb and a - B[lo] >= e:
                lo += 1
            if hi < lo:
                hi = lo
            while hi < mb and B[hi] - a < e:
                hi += 1
            c += hi - lo
        out[k] += c


@njit(cache=True, parallel=True)
def pair_counts(site_x, site_y, site_start, cell_start, neighbours, dates, sorted_dates,
                heavy_of, heavy_start, d_cut, s_edges, t_cmp, closed_left, same_location,
                manhattan, n_rows, n_chunks, window_share, pointer_window):
    """Cumulative time-gap counts of candidate pairs per internal space row and date column.

    Parameters
    ----------
    site_x, site_y : float64[n_sites]
        Site coordinates in metres, sites sorted by grid cell.
    site_start : int64[n_sites + 1]
        Events of site ``u`` are rows ``site_start[u] .. site_start[u+1]-1`` of ``dates``.
    cell_start : int64[n_cells + 1]
        Sites of cell ``c`` are ``cell_start[c] .. cell_start[c+1]-1``.
    neighbours : int64[n_cells, 4]
        The four forward neighbour cells of each cell (-1 where empty).
    dates : int16[n, W], int32[n, W] or float64[n, W]
        Event times (rows grouped by site), one column per date permutation.
    sorted_dates : array (W, n_heavy_events + n_heavy)
        From :func:`permuted_dates` (only read for pairs of heavy sites).
    heavy_of : int64[n_sites]
        Index of each site among the heavy sites, -1 for light sites.
    heavy_start : int64[n_heavy + 1]
        Offsets of the heavy sites in ``sorted_dates``.
    d_cut : float
        Largest distance that can fall in a finite band (metres).
    s_edges : float64[]
        Finite space edges (metres).
    t_cmp : array of the dates' dtype
        Strict gap thresholds: ``gap < t_cmp[k]`` counts.
    closed_left, same_location, manhattan : bool
        Interval closure, separate distance-0 band, distance metric.
    n_rows : int
        Internal space rows (see :func:`_space_bin`).
    n_chunks : int
        Work units; chunk ``c`` handles cells ``c, c + n_chunks, ...`` and owns its own slice
        of the output, so parallel writes never race.
    window_share : float
        Expected share of a site's events within the largest threshold of a given time
        (about ``2 t_max / span``).
    pointer_window : float
        Pairs of heavy sites whose expected window exceeds this many events are counted with
        one pointer per threshold (cost independent of the window) instead of by scanning.

    Returns
    -------
    cum : int64[n_rows, K, W]
        ``cum[s, k, r]``: candidate pairs in space row ``s`` whose gap under date column ``r``
        is below threshold ``k``.
    rowtot : int64[n_rows]
        Candidate pairs per internal space row, whatever their time gap.
    """
    w = dates.shape[1]
    n_k = t_cmp.shape[0]
    n_cells = cell_start.shape[0] - 1
    part = np.zeros((n_chunks, n_rows, n_k, w), dtype=np.int64)
    part_rows = np.zeros((n_chunks, n_rows), dtype=np.int64)
    s_zero = _space_bin(0.0, s_edges, closed_left, same_location)
    for ch in prange(n_chunks):
        total = part[ch]
        rowtot = part_rows[ch]
        acc = np.zeros((n_rows, n_k, w), dtype=np.int16)
        gaps = np.empty(w, dtype=dates.dtype)
        counts = np.zeros(n_k, dtype=np.int64)
        pending = 0
        for c in range(ch, n_cells, n_chunks):
            for u in range(cell_start[c], cell_start[c + 1]):
                lo = site_start[u]
                hi = site_start[u + 1]
                hu = heavy_of[u]
                for q in range(6):
                    if q == 0:
                        v0 = u
                        v1 = u + 1
                    elif q == 1:
                        v0 = u + 1
                        v1 = cell_start[c + 1]
                    else:
                        nb = neighbours[c, q - 2]
                        if nb < 0:
                            continue
                        v0 = cell_start[nb]
                        v1 = cell_start[nb + 1]
                    for v in range(v0, v1):
                        if q == 0:
                            s = s_zero
                            if hi - lo < 2:
                                continue
                        else:
                            dx = site_x[u] - site_x[v]
                            dy = site_y[u] - site_y[v]
                            d = abs(dx) + abs(dy) if manhattan else np.sqrt(dx * dx + dy * dy)
                            if d > d_cut:
                                continue
                            s = _space_bin(d, s_edges, closed_left, same_location)
                        if s < 0:
                            continue
                        lo2 = site_start[v]
                        hi2 = site_start[v + 1]
                        hv = heavy_of[v]
                        if q == 0:
                            rowtot[s] += (hi - lo) * (hi - lo - 1) // 2
                        else:
                            rowtot[s] += (hi - lo) * (hi2 - lo2)
                        if n_k == 0:
                            continue
                        if hu >= 0 and hv >= 0:
                            a0 = heavy_start[hu]
                            a1 = heavy_start[hu + 1]
                            b0 = heavy_start[hv]
                            b1 = heavy_start[hv + 1]
                            wide = (hi2 - lo2) * window_share > pointer_window
                            for r in range(w):
                                counts[:] = 0
                                A = sorted_dates[r, a0:a1]
                                B = sorted_dates[r, b0:b1]
                                if q == 0 and wide:
                                    _pointers_one(A, hi - lo, t_cmp, counts)
                                elif q == 0:
                                    _window_one(A, hi - lo, t_cmp, counts)
                                elif wide:
                                    _pointers_two(A, hi - lo, B, hi2 - lo2, t_cmp, counts)
                                else:
                                    _window_two(A, hi - lo, B, hi2 - lo2, t_cmp, counts)
                                for k in range(n_k):
                                    total[s, k, r] += counts[k]
                        else:
                            pending = _direct(lo, hi, lo2, hi2, q == 0, dates, s, acc, total,
                                              t_cmp, gaps, pending)
        _flush(acc, total)
    return part.sum(axis=0), part_rows.sum(axis=0)


@njit(cache=True)
def pairs_below(t_sorted, threshold):
    """Number of pairs i < j with ``t_sorted[j] - t_sorted[i] < threshold``.

    ``t_sorted`` is ascending; a two-pointer sweep, O(n). The gap is computed exactly as the
    pair kernels compute it.
    """
    n = t_sorted.shape[0]
    total = np.int64(0)
    lo = 0
    for j in range(n):
        while lo < j and t_sorted[j] - t_sorted[lo] >= threshold:
            lo += 1
        total += j - lo
    return total
