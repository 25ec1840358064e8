"""Numba kernels of the area join (see geodemand.ingest.areas for the method and its proof).

All functions are sequential or write only their own output slot, so there are no races.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, parallel=True)
def raster_labels(
    x: np.ndarray,
    y: np.ndarray,
    label: np.ndarray,
    x_min: float,
    y_min: float,
    cell_size: float,
) -> np.ndarray:
    """Label of the lookup cell of each point (-1 off the raster).

    Cells are west/south-closed; the raster's own east/north edges join the edge cells, as in
    ``Grid.cell_index``.
    """
    n_rows, n_cols = label.shape
    x_max = x_min + n_cols * cell_size
    y_max = y_min + n_rows * cell_size
    inv = 1.0 / cell_size
    out = np.empty(x.shape[0], dtype=np.int64)
    for i in nb.prange(x.shape[0]):
        xi = x[i]
        yi = y[i]
        fc = np.floor((xi - x_min) * inv)
        fs = np.floor((yi - y_min) * inv)
        if xi == x_max:
            fc = n_cols - 1
        if yi == y_max:
            fs = n_rows - 1
        if fc >= 0 and fc < n_cols and fs >= 0 and fs < n_rows:
            out[i] = label[n_rows - 1 - np.int64(fs), np.int64(fc)]
        else:
            out[i] = -1
    return out


@nb.njit(cache=True)
def _clips(ax, ay, bx, by, x0, y0, x1, y1):
    """True if segment a-b meets the closed box [x0, x1] x [y0, y1] (Liang-Barsky)."""
    t0 = 0.0
    t1 = 1.0
    dx = bx - ax
    dy = by - ay
    for p, q in ((-dx, ax - x0), (dx, x1 - ax), (-dy, ay - y0), (dy, y1 - ay)):
        if p == 0.0:
            if q < 0.0:
                return False
        else:
            t = q / p
            if p < 0.0:
                if t > t1:
                    return False
                if t > t0:
                    t0 = t
            else:
                if t < t0:
                    return False
                if t < t1:
                    t1 = t
    return t0 <= t1


@nb.njit(cache=True)
def _segment_cells(ax, ay, bx, by, x_min, y_max, cell, n_rows, n_cols, eps, emit, buf, k):
    """Cells whose closed square, grown by ``eps`` metres, meets segment a-b."""
    c0 = max(0, int(np.floor((min(ax, bx) - eps - x_min) / cell)))
    c1 = min(n_cols - 1, int(np.floor((max(ax, bx) + eps - x_min) / cell)))
    r0 = max(0, int(np.floor((y_max - max(ay, by) - eps) / cell)))
    r1 = min(n_rows - 1, int(np.floor((y_max - min(ay, by) + eps) / cell)))
    for r in range(r0, r1 + 1):
        top = y_max - r * cell
        for c in range(c0, c1 + 1):
            left = x_min + c * cell
            if _clips(ax, ay, bx, by, left - eps, top - cell - eps, left + cell + eps, top + eps):
                if emit:
                    buf[k] = r * n_cols + c
                k += 1
    return k


@nb.njit(cache=True)
def segment_cell_pairs(ax, ay, bx, by, x_min, y_max, cell, n_rows, n_cols, eps):
    """(cell, segment) pairs: every cell whose closed square grown by ``eps`` metres meets the
    segment (each pair once)."""
    n = ax.shape[0]
    total = 0
    dummy = np.empty(0, dtype=np.int64)
    for i in range(n):
        total = _segment_cells(
            ax[i], ay[i], bx[i], by[i], x_min, y_max, cell, n_rows, n_cols, eps, False, dummy, total
        )
    cells = np.empty(total, dtype=np.int64)
    segs = np.empty(total, dtype=np.int64)
    k = 0
    for i in range(n):
        k2 = _segment_cells(
            ax[i], ay[i], bx[i], by[i], x_min, y_max, cell, n_rows, n_cols, eps, True, cells, k
        )
        for j in range(k, k2):
            segs[j] = i
        k = k2
    return cells, segs


@nb.njit(cache=True)
def _exact_chunk(
    px,
    py,
    label,
    boundary,
    x_min,
    y_max,
    cell,
    seg_ptr,
    seg_ids,
    ax,
    ay,
    bx,
    by,
    seg_poly,
    n_polys,
    tol,
    out,
):
    """Polygon of each boundary point by parity along a horizontal ray to a known cell.

    For a point in a boundary cell, walk east or west (whichever is shorter) along its raster
    row to the first cell that is not a boundary cell (or off the raster). That cell lies wholly
    inside polygon ``label[cell]`` (or in none), so the status of a point ``r`` in it, on the
    point's horizontal line, is known for every polygon. A polygon holds the point iff its
    status at ``r`` differs from the parity of its edges crossing the open segment point-r;
    every such edge passes through a walked cell, where it is registered. Returns the polygon
    position, -1 for none, or -3 where the point lies within ``tol`` metres of an edge (the
    caller
    tests those exactly with GEOS).
    """
    n_rows, n_cols = label.shape
    n_seg = ax.shape[0]
    seen = np.full(n_seg, -1, dtype=np.int64)
    parity = np.zeros(n_polys, dtype=np.int64)
    cross_x = np.empty(n_seg, dtype=np.float64)
    cross_p = np.empty(n_seg, dtype=np.int64)
    touched = np.empty(n_seg + 1, dtype=np.int64)
    for i in range(px.shape[0]):
        x = px[i]
        y = py[i]
        r = min(int(np.floor((y_max - y) / cell)), n_rows - 1)
        c = min(int(np.floor((x - x_min) / cell)), n_cols - 1)
        n_cross = 0
        ambiguous = False
        end_label = -1
        step = _shorter_walk(boundary, r, c, n_cols)
        end_x = np.inf * step
        while True:
            if c >= n_cols or c < 0:
                break
            cell_id = r * n_cols + c
            if not boundary[cell_id]:
                end_label = label[r, c]
                end_x = x_min + (c + 0.5) * cell
                break
            for k in range(seg_ptr[cell_id], seg_ptr[cell_id + 1]):
                s = seg_ids[k]
                if seen[s] == i:
                    continue
                seen[s] = i
                x1 = ax[s]
                y1 = ay[s]
                dx = bx[s] - x1
                dy = by[s] - y1
                ll = dx * dx + dy * dy
                t = 0.0 if ll == 0.0 else ((x - x1) * dx + (y - y1) * dy) / ll
                t = min(1.0, max(0.0, t))
                qx = x1 + t * dx - x
                qy = y1 + t * dy - y
                if qx * qx + qy * qy <= tol * tol:
                    ambiguous = True
                    break
                if (y1 > y) != (by[s] > y):
                    xi = x1 + (y - y1) * dx / dy
                    if (xi - x) * step > 0:
                        cross_x[n_cross] = xi
                        cross_p[n_cross] = seg_poly[s]
                        n_cross += 1
            if ambiguous:
                break
            c += step
        if ambiguous:
            out[i] = -3
            continue
        n_touched = 0
        for j in range(n_cross):
            if (end_x - cross_x[j]) * step > 0:
                p = cross_p[j]
                if parity[p] == 0 and not _in(touched, n_touched, p):
                    touched[n_touched] = p
                    n_touched += 1
                parity[p] ^= 1
        best = -1
        for j in range(n_touched):
            p = touched[j]
            if (end_label == p) != (parity[p] == 1) and (best == -1 or p < best):
                best = p
        if end_label >= 0 and parity[end_label] == 0 and (best == -1 or end_label < best):
            best = end_label
        for j in range(n_touched):
            parity[touched[j]] = 0
        out[i] = best


@nb.njit(cache=True, parallel=True)
def exact_labels(
    px,
    py,
    label,
    boundary,
    x_min,
    y_max,
    cell,
    seg_ptr,
    seg_ids,
    ax,
    ay,
    bx,
    by,
    seg_poly,
    n_polys,
    tol,
):
    """Polygon of each boundary point (see ``_exact_chunk``), chunks of points in parallel.

    Each chunk has its own scratch arrays and writes only its own output slice (no races).
    """
    n = px.shape[0]
    out = np.empty(n, dtype=np.int64)
    n_chunks = max(1, min(64, n // 2048))
    for k in nb.prange(n_chunks):
        a = k * n // n_chunks
        b = (k + 1) * n // n_chunks
        _exact_chunk(
            px[a:b],
            py[a:b],
            label,
            boundary,
            x_min,
            y_max,
            cell,
            seg_ptr,
            seg_ids,
            ax,
            ay,
            bx,
            by,
            seg_poly,
            n_polys,
            tol,
            out[a:b],
        )
    return out


@nb.njit(cache=True)
def _in(arr, n, v):
    for j in range(n):
        if arr[j] == v:
            return True
    return False


@nb.njit(cache=True)
def _shorter_walk(boundary, r, c, n_cols):
    """+1 (east) or -1 (west): the direction that reaches a non-boundary cell (or the raster's
    edge) in fewer cells; east on a tie."""
    base = r * n_cols
    k = 0
    while True:
        ce = c + k
        if ce >= n_cols or not boundary[base + ce]:
            return 1
        cw = c - k
        if cw < 0 or not boundary[base + cw]:
            return -1
        k += 1


@nb.njit(cache=True, parallel=True)
def scanline_labels(ax, ay, bx, by, seg_poly, n_polys, x_min, y_max, cell, n_rows, n_cols):
    """Polygon at each cell centre (first in layer order) and how many polygons hold it.

    Even-odd scanline fill along each row's centre line (half-open crossing rule). Each row
    is filled by one thread (no races).
    """
    n = ax.shape[0]
    # crossings per row: count, then fill (CSR by row)
    counts = np.zeros(n_rows + 1, dtype=np.int64)
    for i in range(n):
        lo = min(ay[i], by[i])
        hi = max(ay[i], by[i])
        r0 = max(0, int(np.ceil((y_max - hi) / cell - 0.5)))
        r1 = min(n_rows - 1, int(np.floor((y_max - lo) / cell - 0.5)))
        for r in range(r0, r1 + 1):
            yc = y_max - (r + 0.5) * cell
            if (ay[i] > yc) != (by[i] > yc):
                counts[r + 1] += 1
    ptr = np.cumsum(counts)
    xs = np.empty(ptr[-1], dtype=np.float64)
    ps = np.empty(ptr[-1], dtype=np.int64)
    fill = ptr[:-1].copy()
    for i in range(n):
        lo = min(ay[i], by[i])
        hi = max(ay[i], by[i])
        r0 = max(0, int(np.ceil((y_max - hi) / cell - 0.5)))
        r1 = min(n_rows - 1, int(np.floor((y_max - lo) / cell - 0.5)))
        for r in range(r0, r1 + 1):
            yc = y_max - (r + 0.5) * cell
            if (ay[i] > yc) != (by[i] > yc):
                k = fill[r]
                xs[k] = ax[i] + (yc - ay[i]) * (bx[i] - ax[i]) / (by[i] - ay[i])
                ps[k] = seg_poly[i]
                fill[r] = k + 1
    label = np.full((n_rows, n_cols), -1, dtype=np.int32)
    count = np.zeros((n_rows, n_cols), dtype=np.int32)
    for r in nb.prange(n_rows):
        a = ptr[r]
        b = ptr[r + 1]
        if b == a:
            continue
        order = np.argsort(xs[a:b])
        parity = np.zeros(n_polys, dtype=np.int8)
        active = 0
        for j in range(b - a):
            k = a + order[j]
            p = ps[k]
            parity[p] ^= 1
            active += 1 if parity[p] == 1 else -1
            x_from = xs[k]
            x_to = xs[a + order[j + 1]] if j + 1 < b - a else x_from
            if active <= 0 or x_to <= x_from:
                continue
            first = -1
            for q in range(n_polys):
                if parity[q] == 1:
                    first = q
                    break
            c0 = max(0, int(np.ceil((x_from - x_min) / cell - 0.5)))
            c1 = min(n_cols - 1, int(np.ceil((x_to - x_min) / cell - 0.5)) - 1)
            for c in range(c0, c1 + 1):
                label[r, c] = first
                count[r, c] = active
    return label, count
