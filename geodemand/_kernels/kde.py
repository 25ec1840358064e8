"""Numba kernels of the kernel density engine (:mod:`geodemand.engines.density`).

Only compiled code lives here; the public function, validation and documentation are in
:mod:`geodemand.engines.density`. Kernel codes (``KERNEL_CODES``) and profiles:

======  ==============  ==========================  ==================================
code    kernel          profile k(u2), u2 = d²/h²    analytic constant c (K = c/h² · k)
======  ==============  ==========================  ==================================
0       quartic         (1 - u2)²                   3/π
1       epanechnikov    1 - u2                      2/π
2       triangular      1 - sqrt(u2)                3/π
3       uniform         1                           1/π
4       gaussian        exp(-4.5 u2) (sd = h/3)     4.5 / (π (1 - e^-4.5))
======  ==============  ==========================  ==================================

Every profile is zero for ``d >= h`` (the support is the open disc of radius h).

Coordinates follow :class:`geodemand.grid.Grid`: the centre of column ``c`` is
``x_min + (c + 0.5) * cell_size`` and the centre of row ``r`` is ``y_max - (r + 0.5) *
cell_size`` (row 0 = north). The "virtual lattice" extends these formulas to any integer
``c`` and ``r``, including cells off the grid; discrete normalisation sums a point's kernel
over the virtual lattice so that the value of a cell never depends on where the grid ends.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

KERNEL_CODES = {
    "quartic": 0,
    "epanechnikov": 1,
    "triangular": 2,
    "uniform": 3,
    "gaussian": 4,
}

#: sd of the truncated gaussian as a fraction of the bandwidth (truncation radius).
GAUSSIAN_SD_FRACTION = 1.0 / 3.0
_GAUSS_A = 0.5 / (GAUSSIAN_SD_FRACTION * GAUSSIAN_SD_FRACTION)  # 4.5

#: Analytic 2-D normalising constants c (density = c / h² · profile, integrates to 1).
ANALYTIC_CONSTANTS = {
    "quartic": 3.0 / math.pi,
    "epanechnikov": 2.0 / math.pi,
    "triangular": 3.0 / math.pi,
    "uniform": 1.0 / math.pi,
    "gaussian": _GAUSS_A / (math.pi * (1.0 - math.exp(-_GAUSS_A))),
}


@njit(cache=True)
def _virtual_row_col(x, y, x_min, y_max, inv_cs):
    return math.floor((y_max - y) * inv_cs), math.floor((x - x_min) * inv_cs)


#: Blocks of the parallel counting sort (fixed, so the order never depends on threads).
SORT_BLOCKS = 8


@njit(cache=True, parallel=True)
def sort_by_row(px, py, pw, x_min, y_max, cs, n_rows, n_cols, reach):
    """The points whose kernel can reach the grid, sorted by row (stable counting sort).

    A point's row is ``floor((y_max - y) / cs)`` on the virtual lattice (may be off the
    grid); points more than ``reach`` cells off the grid in either direction are dropped.
    The points are split into :data:`SORT_BLOCKS` fixed blocks that are counted and
    scattered in parallel; the result is the same with any number of threads.

    Returns
    -------
    xs, ys, ws : float64 arrays
        Coordinates and weights of the kept points, sorted by row, ties in input order.
    row_start : int64 array, length ``n_rows + 2 * reach + 1``
        Sorted points of row ``r`` are ``row_start[r + reach] .. row_start[r + reach + 1] - 1``.
    """
    inv_cs = 1.0 / cs
    n = px.size
    n_keys = n_rows + 2 * reach
    nb = SORT_BLOCKS
    counts = np.zeros((nb, n_keys), dtype=np.int64)
    for blk in prange(nb):
        for i in range(blk * n // nb, (blk + 1) * n // nb):
            fr, fc = _virtual_row_col(px[i], py[i], x_min, y_max, inv_cs)
            if -reach <= fr < n_rows + reach and -reach <= fc < n_cols + reach:
                counts[blk, int(fr) + reach] += 1
    row_start = np.zeros(n_keys + 1, dtype=np.int64)
    running = 0
    for k in range(n_keys):
        row_start[k] = running
        for blk in range(nb):
            c = counts[blk, k]
            counts[blk, k] = running
            running += c
    row_start[n_keys] = running
    xs = np.empty(running)
    ys = np.empty(running)
    ws = np.empty(running)
    for blk in prange(nb):
        for i in range(blk * n // nb, (blk + 1) * n // nb):
            fr, fc = _virtual_row_col(px[i], py[i], x_min, y_max, inv_cs)
            if -reach <= fr < n_rows + reach and -reach <= fc < n_cols + reach:
                k = int(fr) + reach
                j = counts[blk, k]
                xs[j] = px[i]
                ys[j] = py[i]
                ws[j] = pw[i]
                counts[blk, k] = j + 1
    return xs, ys, ws, row_start


@njit(cache=True)
def _window(
    x: float, y: float, x_min: float, y_max: float, cs: float, h: float
) -> tuple[int, int, int, int]:
    """Virtual-lattice columns ``c_lo..c_hi`` and rows ``r_lo..r_hi`` that may lie within h."""
    c_lo = int(math.floor((x - x_min - h) / cs - 0.5))
    c_hi = int(math.ceil((x - x_min + h) / cs - 0.5))
    r_lo = int(math.floor((y_max - y - h) / cs - 0.5))
    r_hi = int(math.ceil((y_max - y + h) / cs - 0.5))
    return c_lo, c_hi, r_lo, r_hi


# Index arithmetic in the hot loops below is done in uint64 on flat arrays: numba then
# skips its negative-index wraparound, and LLVM can vectorise the loops (3x faster).


# The hot loops below avoid two numba costs: (1) signed array indices (numba's wraparound
# check stops LLVM from vectorising; uint64 indices do not need it), and (2) calling
# functions with array arguments per row (each call increments and decrements reference
# counts atomically), so everything per row is written out in ``_chunk_exact``.
#
# Per point: the squared column offsets ``dx2`` of its window; per window row, a run of
# columns ``a0 .. a1 - 1`` from the half-width of the disc that contains every cell with
# ``dx2[a] + dy2 < h2`` (for the discrete normaliser trimmed to exactly those cells: the
# disc is convex, so the run is contiguous); the normaliser as a sum over the runs; then
# one fused loop per row that evaluates the profile (zero where d >= h) and adds it to the
# buffer. For the polynomial and
# gaussian kernels the sum over a run is O(1) from prefix sums over the columns:
#   quartic       sum (q - A_a)^2 = m q^2 - 2 q S1 + S2   (A_a = dx2/h2, q = 1 - dy2/h2)
#   epanechnikov  sum (q - A_a)   = m q - S1
#   uniform       m
#   gaussian      sum e^{-4.5 A_a} e^{-4.5 B} = e^{-4.5 B} SE
# The triangular kernel (a square root) is summed cell by cell.


@njit(cache=True, fastmath={"reassoc"})
def _sum(vals, n):
    """Sum of ``vals[:n]`` (reassociation allowed so the reduction vectorises)."""
    s = 0.0
    for k in range(np.uint64(n)):
        s += vals[k]
    return s


@njit(cache=True)
def _chunk_exact(
    px, py, pw, start, stop, x_min, y_max, cs, n_rows, n_cols, h, kernel,
    discrete, scale_const, home_row, home_col, buf, buf_row0, max_win,
):
    """Add the kernels of points ``start:stop`` into the flat row-major ``buf``
    (``n_cols`` wide, first row = grid row ``buf_row0``)."""
    h2 = h * h
    inv_h2 = 1.0 / h2
    inv_cs = 1.0 / cs
    area = cs * cs
    ncols_u = np.uint64(n_cols)
    dx2 = np.empty(max_win)
    dy2 = np.empty(max_win)
    ex = np.empty(max_win)
    p1 = np.zeros(max_win + 1)
    p2 = np.zeros(max_win + 1)
    a0s = np.empty(max_win, dtype=np.int64)
    a1s = np.empty(max_win, dtype=np.int64)
    vals = np.empty(max_win * max_win)
    for i in range(start, stop):
        x = px[i]
        y = py[i]
        w = pw[i]
        c_lo, c_hi, r_lo, r_hi = _window(x, y, x_min, y_max, cs, h)
        nc = c_hi - c_lo + 1
        nr = r_hi - r_lo + 1
        nc_u = np.uint64(nc)
        for a in range(nc_u):
            d = (x_min + (c_lo + a + 0.5) * cs) - x
            dx2[a] = d * d
        if kernel == 4:
            for a in range(nc_u):
                ex[a] = math.exp(-4.5 * (dx2[a] * inv_h2))
        if discrete:
            if kernel == 0:
                for a in range(nc_u):
                    v = dx2[a] * inv_h2
                    p1[a + 1] = p1[a] + v
                    p2[a + 1] = p2[a] + v * v
            elif kernel == 1:
                for a in range(nc_u):
                    p1[a + 1] = p1[a] + dx2[a] * inv_h2
            elif kernel == 4:
                for a in range(nc_u):
                    p1[a + 1] = p1[a] + ex[a]
        # per row, a superset run of columns from the half-width of the disc (independent
        # iterations, so the square roots overlap) ...
        for b in range(nr):
            d = (y_max - (r_lo + b + 0.5) * cs) - y
            dyb = d * d
            dy2[b] = dyb
            hw = math.sqrt(max(h2 - dyb, 0.0))
            a0 = int(math.floor((x - hw - x_min) * inv_cs - 0.5 - 1e-7)) - c_lo
            a1 = int(math.ceil((x + hw - x_min) * inv_cs - 0.5 + 1e-7)) - c_lo + 1
            a0s[b] = min(max(a0, 0), nc)
            a1s[b] = min(max(a1, 0), nc)
        # ... trimmed, for the normaliser, to the exact run d2 < h2 (the test the reference
        # uses), and summed. (The adding loops below also test membership cell by cell, so
        # analytic mode can skip the trimming.)
        total = 0.0
        n_vals = np.uint64(0)
        for b in range(nr if discrete else 0):
            dyb = dy2[b]
            a0 = a0s[b]
            a1 = a1s[b]
            while a0 < a1 and not (dx2[a0] + dyb < h2):
                a0 += 1
            while a1 > a0 and not (dx2[a1 - 1] + dyb < h2):
                a1 -= 1
            a0s[b] = a0
            a1s[b] = a1
            if a1 <= a0:
                continue
            m = a1 - a0
            if kernel == 0:
                q = 1.0 - dyb * inv_h2
                total += m * q * q - 2.0 * q * (p1[a1] - p1[a0]) + (p2[a1] - p2[a0])
            elif kernel == 1:
                total += m * (1.0 - dyb * inv_h2) - (p1[a1] - p1[a0])
            elif kernel == 3:
                total += m
            elif kernel == 4:
                total += math.exp(-4.5 * (dyb * inv_h2)) * (p1[a1] - p1[a0])
            else:
                # triangular: values packed into ``vals`` (vectorised), summed once below
                lo = np.uint64(a0)
                for k in range(np.uint64(m)):
                    vals[n_vals + k] = max(1.0 - math.sqrt((dx2[lo + k] + dyb) * inv_h2), 0.0)
                n_vals += np.uint64(m)
        if discrete and kernel == 2:
            total = _sum(vals, n_vals)
        if discrete:
            if total <= 0.0:
                # no cell centre within the radius: the whole weight goes to the point's cell
                # (home_row/home_col: Grid.cell_index, -1 when off the grid)
                if home_row.size > 0 and home_row[i] >= 0:
                    buf[(home_row[i] - buf_row0) * n_cols + home_col[i]] += w / area
                continue
            scale = w / (total * area)
        else:
            scale = w * scale_const
        if scale == 0.0:
            continue
        for r in range(max(r_lo, 0), min(r_hi, n_rows - 1) + 1):
            b = r - r_lo
            a0 = max(a0s[b], -c_lo)
            a1 = min(a1s[b], n_cols - c_lo)
            if a1 <= a0:
                continue
            ob = np.uint64(r - buf_row0) * ncols_u + np.uint64(c_lo + a0)
            lo = np.uint64(a0)
            m = np.uint64(a1 - a0)
            dyb = dy2[b]
            if kernel == 0:
                for k in range(m):
                    t = max(1.0 - (dx2[lo + k] + dyb) * inv_h2, 0.0)
                    buf[ob + k] += scale * (t * t)
            elif kernel == 1:
                for k in range(m):
                    buf[ob + k] += scale * max(1.0 - (dx2[lo + k] + dyb) * inv_h2, 0.0)
            elif kernel == 2:
                for k in range(m):
                    v = max(1.0 - math.sqrt((dx2[lo + k] + dyb) * inv_h2), 0.0)
                    buf[ob + k] += scale * v
            elif kernel == 3:
                for k in range(m):
                    buf[ob + k] += scale if dx2[lo + k] + dyb < h2 else 0.0
            else:
                sy = scale * math.exp(-4.5 * (dyb * inv_h2))
                for k in range(m):
                    buf[ob + k] += sy * ex[lo + k] if dx2[lo + k] + dyb < h2 else 0.0


@njit(cache=True, parallel=True)
def kde_exact(
    px, py, pw, chunk_bounds, chunk_row_lo, chunk_row_hi, buf_offsets,
    x_min, y_max, cs, n_rows, n_cols, h, kernel, discrete, scale_const, home_row, home_col,
):
    """Exact kernel density on a grid, density per square metre.

    The points (and ``home_row``, ``home_col`` if given) must be sorted by row (see
    :func:`sort_by_row`); points ``chunk_bounds[k]:chunk_bounds[k+1]`` form chunk ``k``, which
    only writes rows ``chunk_row_lo[k] .. chunk_row_hi[k] - 1``. Each chunk writes into its
    own private buffer (no write races), then every output row sums the buffers that cover
    it in chunk order. The chunking does not depend on the number of threads, so the result
    is bit-for-bit the same with any thread count.
    """
    n_chunks = chunk_bounds.size - 1
    flat = np.zeros(buf_offsets[n_chunks])
    max_win = int(math.ceil(2.0 * h / cs)) + 4
    for k in prange(n_chunks):
        rows_k = chunk_row_hi[k] - chunk_row_lo[k]
        if rows_k <= 0:
            continue
        buf = flat[buf_offsets[k]:buf_offsets[k + 1]]
        _chunk_exact(
            px, py, pw, chunk_bounds[k], chunk_bounds[k + 1], x_min, y_max, cs,
            n_rows, n_cols, h, kernel, discrete, scale_const, home_row, home_col, buf,
            chunk_row_lo[k], max_win,
        )
    out = np.zeros(n_rows * n_cols)
    ncols_u = np.uint64(n_cols)
    for r in prange(n_rows):
        out_base = np.uint64(r) * ncols_u
        for k in range(n_chunks):
            lo = chunk_row_lo[k]
            if lo <= r < chunk_row_hi[k]:
                base = np.uint64(buf_offsets[k] + (r - lo) * n_cols)
                for c in range(ncols_u):
                    out[out_base + c] += flat[base + c]
    return out.reshape((n_rows, n_cols))


@njit(cache=True, parallel=True)
def linear_bin(px, py, pw, x_min, y_max, cs, pad, n_rows_ext, n_cols_ext, shape_r, shape_c,
               n_blocks):
    """Linear (bilinear) binning of weighted points onto cell centres of a padded grid.

    The padded grid has ``pad`` extra cells on every side: ``(n_rows_ext, n_cols_ext)``
    cells, stored at the top-left of a zero array of shape ``(shape_r, shape_c)`` (the FFT
    size, so no further padding copy is needed). Each point's weight is shared between the
    four cell centres around it in proportion to the areas of the opposite sub-rectangles,
    so the total weight and the weighted mean position are preserved. Points whose four
    centres are not all on the padded grid are skipped (they cannot reach the grid).

    The points are split into ``n_blocks`` fixed blocks binned in parallel into private
    arrays and summed in block order, so the result does not depend on the thread count.

    Returns the binned weights and the number of points skipped.
    """
    n = px.size
    parts = np.zeros((n_blocks, shape_r, shape_c))
    skipped = np.zeros(n_blocks, dtype=np.int64)
    inv_cs = 1.0 / cs
    for blk in prange(n_blocks):
        out = parts[blk]
        for i in range(blk * n // n_blocks, (blk + 1) * n // n_blocks):
            fx = (px[i] - x_min) * inv_cs - 0.5 + pad
            fy = (y_max - py[i]) * inv_cs - 0.5 + pad
            c0 = math.floor(fx)
            r0 = math.floor(fy)
            if not (0 <= c0 and 0 <= r0 and c0 + 1 < n_cols_ext and r0 + 1 < n_rows_ext):
                skipped[blk] += 1
                continue
            tx = fx - c0
            ty = fy - r0
            w = pw[i]
            c = int(c0)
            r = int(r0)
            out[r, c] += w * (1.0 - tx) * (1.0 - ty)
            out[r, c + 1] += w * tx * (1.0 - ty)
            out[r + 1, c] += w * (1.0 - tx) * ty
            out[r + 1, c + 1] += w * tx * ty
    total = parts[0]
    for blk in range(1, n_blocks):
        other = parts[blk]
        for r in prange(n_rows_ext):
            for c in range(n_cols_ext):
                total[r, c] += other[r, c]
    return total, skipped.sum()
