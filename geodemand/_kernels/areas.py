"""Numba kernel of the area join: raster lookup of point labels (see geodemand.areas)."""

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
    ``Grid.cell_index``. Each point writes only its own output slot (no races).
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
