"""Hot-spot statistics: Getis-Ord Gi* with per-cell FDR q-values (and the public facade).

Public names
------------
* :func:`gistar` — Gi* z-scores, p-values, q-values and confidence bins on a grid of counts.
* :func:`gistar_areas` — the same on a polygon layer with queen or rook contiguity.
* :func:`adjust_pvalues`, :func:`confidence_bins`, :func:`contiguity_matrix` — the parts.
* :func:`emerging_hotspots`, :func:`classify_patterns`, :func:`classify_simple`,
  :func:`mann_kendall`, :func:`space_time_cube` (from :mod:`geodemand.engines.emerging`) and
  :func:`period_change` (from :mod:`geodemand.engines.period_change`) are re-exported here.

The statistic
-------------
For cell ``i`` with binary weights ``w_ij`` (1 for the cells of its neighbourhood, which
includes the cell itself by default), ``x̄`` and ``S`` the mean and the **population**
standard deviation of all ``n`` cells analysed::

    Gi* = (Σ_j w_ij x_j − x̄ Σ_j w_ij) / (S · sqrt((n Σ_j w_ij² − (Σ_j w_ij)²) / (n − 1)))

The value is a z-score. With binary weights ``Σ w² = Σ w = W_i``, the number of cells in the
neighbourhood that exist. **Edge cells** (and cells next to masked-out cells) simply have a
smaller ``W_i``; nothing is padded or reflected. This is exactly what ``esda.G_Local(y, w,
star=True, transform="B")`` does: esda takes each row's cardinality (row sum of the binary
weights matrix, self-weight included) as ``W_i`` and uses the same global mean and
population variance, so the z-scores agree to rounding (tested to 1e-9).

With ``include_self=False`` the statistic is Getis-Ord Gi (not star), again as esda computes
it: the cell's own value is left out of its neighbourhood *and* out of the mean and variance
(``n − 1`` other cells).

Inference
---------
* **Analytic** (always computed): two-sided ``p = 2 Φ(−|z|)`` (``p_norm``).
* **Conditional permutation** (``permutations=R > 0``, numba): each cell keeps its own value
  and, in each permutation, its ``W_i − 1`` neighbours are drawn without replacement from the
  ``n − 1`` other cells. Draws are **independent per cell** (esda reuses one set of draws for
  every cell), from a stream seeded by ``seed`` and the cell's position, so results do not
  depend on threads. Sparse counts make ties between the simulated and the observed
  neighbourhood sum common, so ties are counted in both tails::

      p_high = (#{sim >= obs} + 1) / (R + 1),   p_low = (#{sim <= obs} + 1) / (R + 1)
      p_sim  = min(1, 2 · min(p_high, p_low))          (folded two-sided p-value)

  Sums within ``64 · ε · W_i · max|x|`` of each other count as ties (ε = 2.2e-16), which only
  matters for non-integer values. The direction of a permutation result is the tail with the
  smaller p (``p_high < p_low``: hot).
* **Multiple testing** (on by default): ``correction="fdr_bh"`` gives each cell the
  Benjamini–Hochberg q-value (identical to ``scipy.stats.false_discovery_control``) over all
  cells analysed; ``"bonferroni"`` gives ``min(1, n p)``; ``"none"`` leaves ``q = p``. The
  result's ``params["correction"]`` records which.
* **Bins** (ArcGIS style), from the *corrected* values: ``±3`` if ``q <= 0.01`` (99 %
  confidence), ``±2`` if ``q <= 0.05``, ``±1`` if ``q <= 0.10``, else 0; the sign is that of
  ``z`` (analytic) or of the smaller tail (permutation). ``q <= α`` is the same decision as
  the Benjamini–Hochberg step-up procedure at level ``α``.

Cells with an undefined statistic (a neighbourhood that covers every cell, or — for Gi — no
neighbour or no variance among the other cells) get NaN ``z``, ``p`` and ``q`` and bin 0;
they are left out of the multiple-testing family, and their number is announced and recorded
in ``params["n_undefined"]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse, special

from geodemand._announce import announce
from geodemand._display import (
    grid_coords,
    html_summary,
    plot_raster,
    raster_attrs,
    require_grid,
    require_xarray,
    text_summary,
)
from geodemand._kernels import gistar as _k
from geodemand.engines.points import points_xy
from geodemand.errors import InvalidParameterError
from geodemand.grid import Grid

#: Multiple-testing corrections accepted by :func:`gistar` and :func:`adjust_pvalues`.
CORRECTIONS = ("fdr_bh", "bonferroni", "none")
#: Default (corrected) p-value cut-offs of bins 3, 2 and 1 (99, 95 and 90 % confidence).
DEFAULT_LEVELS = (0.01, 0.05, 0.10)
#: Neighbourhood shapes on a grid.
SHAPES = ("square", "diamond", "disc")
#: Quick-look colours of the confidence bins (code, label, colour), ArcGIS order.
BIN_COLOURS = (
    (-3, "cold spot, 99%", "#4575b4"), (-2, "cold spot, 95%", "#91bfdb"),
    (-1, "cold spot, 90%", "#e0f3f8"), (1, "hot spot, 90%", "#fee090"),
    (2, "hot spot, 95%", "#fc8d59"), (3, "hot spot, 99%", "#d73027"),
)
#: Contiguity rules for polygon layers.
CONTIGUITIES = ("queen", "rook")

_EPS = np.finfo(np.float64).eps
#: Largest dense key table used to group cells with equal statistics (entries).
_MAX_KEY_TABLE = 50_000_000

# ---------------------------------------------------------------------------- result
@dataclass(frozen=True)
class GiStarResult:
    """Gi* on a grid. Every array has the grid's shape ``(n_rows, n_cols)``, row 0 north,
    and is read-only.

    Attributes
    ----------
    z : ndarray of float64
        Gi* z-score (Gi if ``include_self=False``); NaN outside the mask or where undefined.
    p : ndarray of float64
        The two-sided p-value used: ``p_sim`` with permutations, else ``p_norm``.
    q : ndarray of float64
        ``p`` corrected for multiple testing (``params["correction"]``).
    bin : ndarray of int8
        ArcGIS-style confidence bin −3..3 from ``q`` (0 outside the mask).
    p_norm : ndarray of float64
        Analytic two-sided p-value ``2 Φ(−|z|)``.
    p_sim : ndarray of float64 or None
        Folded two-sided permutation p-value (None without permutations).
    p_high, p_low : ndarray of float64 or None
        One-sided permutation p-values ``(#{sim >= obs} + 1) / (R + 1)`` and
        ``(#{sim <= obs} + 1) / (R + 1)`` (None without permutations).
    local_sum : ndarray of float64
        ``Σ_j w_ij x_j``: the neighbourhood's total (incidents, or weight units).
    n_neighbours : ndarray of int64
        ``W_i``: number of cells in the neighbourhood (the cell itself included for Gi*).
    values : ndarray of float64
        The analysed values (counts per cell); NaN outside the mask.
    mask : ndarray of bool
        Cells analysed.
    grid : Grid or None
        The raster frame (needed for :meth:`to_geodataframe` and :meth:`write_raster`).
    params : dict
        Parameters and summary numbers (JSON-safe).
    """

    z: np.ndarray
    p: np.ndarray
    q: np.ndarray
    bin: np.ndarray
    p_norm: np.ndarray
    p_sim: np.ndarray | None
    p_high: np.ndarray | None
    p_low: np.ndarray | None
    local_sum: np.ndarray
    n_neighbours: np.ndarray
    values: np.ndarray
    mask: np.ndarray
    grid: Grid | None
    params: dict[str, Any] = field(default_factory=dict)

    def to_geodataframe(self, only_significant: bool = False):
        """Analysed cells as square polygons with documented columns.

        Columns: ``row``, ``col`` (cell indices), ``value`` (count or weighted count of the
        cell), ``local_sum`` (neighbourhood total), ``n_neighbours`` (cells in the
        neighbourhood, self included for Gi*), ``z`` (Gi* z-score), ``p`` (two-sided p used),
        ``q`` (corrected p), ``bin`` (−3..3), ``p_norm`` (analytic two-sided p) and, with
        permutations, ``p_sim``, ``p_high``, ``p_low``. ``attrs["params"]`` holds the parameters.

        Parameters
        ----------
        only_significant : bool
            Keep only cells with ``bin != 0``.
        """
        if self.grid is None:
            raise InvalidParameterError(
                "this Gi* result has no grid; pass grid=Grid(...) to gistar() to get polygons"
            )
        keep = self.mask & (self.bin != 0) if only_significant else self.mask
        gdf = self.grid.to_geodataframe(mask=keep)
        gdf["value"] = self.values[keep]
        gdf["local_sum"] = self.local_sum[keep]
        gdf["n_neighbours"] = self.n_neighbours[keep]
        gdf["z"] = self.z[keep]
        gdf["p"] = self.p[keep]
        gdf["q"] = self.q[keep]
        gdf["bin"] = self.bin[keep]
        gdf["p_norm"] = self.p_norm[keep]
        if self.p_sim is not None:
            gdf["p_sim"] = self.p_sim[keep]
            gdf["p_high"] = self.p_high[keep]
            gdf["p_low"] = self.p_low[keep]
        gdf = gdf[[c for c in gdf.columns if c != "geometry"] + ["geometry"]]
        gdf.attrs["params"] = dict(self.params)
        return gdf

    def raster_layer(self, layer: str = "bin") -> tuple[np.ndarray, str, dict[str, Any]]:
        """One layer (``"bin"``, ``"z"``, ``"q"``, ``"p"``) for a raster writer.

        Returns ``(array, description, tags)``: float32, NaN outside the mask.
        """
        if self.grid is None:
            raise InvalidParameterError("this Gi* result has no grid; cannot make a raster")
        if layer not in ("bin", "z", "q", "p"):
            raise InvalidParameterError(f"layer must be 'bin', 'z', 'q' or 'p', got {layer!r}")
        array = getattr(self, layer).astype(np.float32)
        array[~self.mask] = np.nan
        description = f"{self.params.get('statistic', 'Gi*')} {layer}"
        return array, description, {"layer": layer, **self.params}

    def _facts(self) -> dict[str, Any]:
        facts: dict[str, Any] = {
            "statistic": self.params.get("statistic", "Gi*"),
            "units analysed": int(self.mask.sum()),
            "hot spots (bin > 0)": int((self.bin > 0).sum()),
            "cold spots (bin < 0)": int((self.bin < 0).sum()),
            "correction": self.params.get("correction"),
        }
        if self.grid is not None:
            n_rows, n_cols = self.grid.shape
            facts["grid"] = (f"{n_rows} x {n_cols} cells of {self.grid.cell_size:g} m "
                             f"({self.grid.crs})")
        return {k: v for k, v in facts.items() if v is not None}

    def __repr__(self) -> str:
        return text_summary("GiStarResult", self._facts(), self.params)

    def _repr_html_(self) -> str:
        return html_summary("GiStarResult (Getis-Ord hot spots)", self._facts(), self.params)

    def plot(self, ax: Any = None, *, layer: str = "bin") -> Any:
        """Quick look at the confidence bins (``layer="bin"``) or z-scores (``"z"``) on the
        grid; returns the matplotlib Axes."""
        grid = require_grid(self.grid, "GiStarResult.plot")
        array, description, _ = self.raster_layer(layer)
        if layer == "bin":
            return plot_raster(array, grid, ax, title=description, categories=BIN_COLOURS)
        return plot_raster(array, grid, ax, title=description, label=layer,
                           diverging=layer == "z", cmap="viridis" if layer == "z" else "magma")

    def to_xarray(self):
        """``z``, ``p``, ``q``, ``bin``, ``value`` and ``local_sum`` as an
        :class:`xarray.Dataset` on the grid (``y``, ``x`` cell centres in metres; NaN
        outside the mask; ``attrs``: crs WKT, cell_size_m, transform, parameters)."""
        xr = require_xarray()
        grid = require_grid(self.grid, "GiStarResult.to_xarray")
        coords = grid_coords(grid)
        out = {}
        for name in ("z", "p", "q", "bin", "values", "local_sum"):
            array = getattr(self, name).astype(np.float64)
            array = np.where(self.mask, array, np.nan)
            out["value" if name == "values" else name] = (("y", "x"), array)
        return xr.Dataset(out, coords=coords, attrs=raster_attrs(grid, self.params))


# ---------------------------------------------------------------------------- public API
def gistar(
    values: Any,
    *,
    grid: Grid | None = None,
    mask: np.ndarray | None = None,
    distance_cells: int | None = 1,
    distance_m: float | None = None,
    shape: str = "square",
    include_self: bool = True,
    permutations: int = 0,
    seed: int | None = None,
    correction: str = "fdr_bh",
    levels: tuple[float, float, float] = DEFAULT_LEVELS,
    weights: Any = None,
    cell_size_m: float | None = None,
    crs: str | None = None,
) -> GiStarResult:
    """Getis-Ord Gi* hot spots on a grid of counts, with per-cell q-values and bins.

    Parameters
    ----------
    values : ndarray (n_rows, n_cols) or points
        Counts (or weighted counts) per cell, row 0 north; or incidents in any form
        :mod:`geodemand.engines.points` reads (a GeoDataFrame of points in any CRS, an
        ``IncidentTable``, a ``Demand``, a DataFrame with ``x``, ``y`` or ``lon``, ``lat``),
        which are counted per cell (points off ``grid`` are ignored and their number
        announced; lon/lat are projected, announced).
    grid : Grid, optional
        The raster frame (for :meth:`GiStarResult.to_geodataframe` and ``distance_m``).
        For points without a grid, one covering them is made with ``cell_size_m``.
    mask : ndarray of bool, optional
        Cells to analyse (e.g. inside the force boundary). Cells outside are not part of the
        population: they count neither in ``n`` nor in any neighbourhood.
    distance_cells : int, default 1
        Neighbourhood radius in cells: 1 is the queen ring (3 x 3 window).
    distance_m : float, optional
        Neighbourhood radius in metres instead (needs ``grid``): cells whose centres lie
        within ``distance_m`` of the cell's centre (a fixed distance band); ``shape`` must
        then be ``"disc"`` (the default becomes ``"disc"``).
    shape : {"square", "diamond", "disc"}
        ``square``: Chebyshev distance <= ``distance_cells`` (queen contiguity of that
        order); ``diamond``: Manhattan distance <= ``distance_cells`` (rook of that order);
        ``disc``: Euclidean centre distance <= the radius.
    include_self : bool, default True
        Gi* (True) or Gi (False).
    permutations : int, default 0
        Conditional permutations per cell (0 = analytic inference only); 99 or 999 usual.
    seed : int, optional
        Seed of the permutations. None draws one from the operating system; it is
        announced and recorded in ``params["seed"]`` so the run can be repeated.
    correction : {"fdr_bh", "bonferroni", "none"}
        Multiple-testing correction behind ``q`` and ``bin``.
    levels : tuple of three floats
        Cut-offs on ``q`` for bins 3, 2, 1 (default 0.01, 0.05, 0.10).
    weights : str or array, optional
        With incidents: a column name or array of per-incident weights (weighted counts).

    cell_size_m : float, optional
        Cell side in metres of the grid made for points when ``grid`` is None (default: the
        automatic size, shorter side / 150, announced).
    crs : str, optional
        CRS of points that do not carry one.
    Returns
    -------
    GiStarResult
    """
    correction = _check_choice(correction, CORRECTIONS, "correction")
    levels = _check_levels(levels)
    permutations = _check_permutations(permutations)
    x_grid, grid, n_off = _values_grid(values, grid, weights, cell_size_m, crs)
    valid = _valid_mask(x_grid, mask)
    shape, halfwidths, radius_desc = _neighbourhood(distance_cells, distance_m, shape, grid)
    seed = _resolve_seed(seed, permutations)

    n, total, m2, integer, absmax, n_bad = _k.grid_summary(x_grid, valid)
    if n_bad:
        _raise_non_finite(x_grid, valid)
    if n < 3:
        raise InvalidParameterError(f"Gi* needs at least 3 cells to analyse, got {n}")
    sd = math.sqrt(m2 / n)
    _check_variation(sd, n)
    integer = bool(integer) and absmax < 2**52
    # running sums are exact for integers; permutation ties on non-integers need direct sums
    if shape == "square" and (integer or permutations == 0):
        sums, counts = _k.window_sums_square(x_grid, valid, int(distance_cells))
    else:
        sums, counts = _k.window_sums_profile(x_grid, valid, halfwidths)

    out = None
    if include_self and integer and permutations == 0:
        out = _star_grid(sums, counts, valid, n, total / n, sd, correction, levels)
    if out is None:
        x = x_grid[valid]
        local_sum = sums[valid]
        n_nb = counts[valid]
        if not include_self:
            local_sum = local_sum - x
            n_nb = n_nb - 1
        units = _inference_units(x, local_sum, n_nb, include_self, permutations, seed,
                                 correction, levels, integer)
        out = {key: (None if v is None else _scatter(v, valid, x_grid.shape, 0 if key == "bin"
                                                     else np.nan))
               for key, v in units.items() if key not in ("n_undefined", "n_significant")}
        out["local_sum"] = _scatter(local_sum, valid, x_grid.shape, np.nan)
        out["n_neighbours"] = _scatter(n_nb, valid, x_grid.shape, 0)
        out["n_undefined"] = units["n_undefined"]
        out["n_significant"] = units["n_significant"]
    params = {
        "statistic": "Gi*" if include_self else "Gi",
        "include_self": bool(include_self),
        "shape": shape,
        "neighbourhood": radius_desc,
        "distance_cells": None if distance_m is not None else int(distance_cells),
        "distance_m": None if distance_m is None else float(distance_m),
        "weights": "binary",
        "n_cells": int(n),
        "n_masked_out": int(valid.size - n),
        "n_points_off_grid": n_off,
        "total": float(total),
        "mean": float(total / n),
        "sd_population": float(sd),
        "inference": "permutation" if permutations else "analytic",
        "permutations": permutations,
        "seed": seed,
        "p_value": "two-sided" + (" folded, ties in both tails" if permutations else ""),
        "correction": correction,
        "levels": list(levels),
        "n_undefined": out["n_undefined"],
        "n_significant": out["n_significant"],
        "edge_rule": "edge cells use their own number of neighbours (as esda)",
    }
    if grid is not None:
        params["cell_size_m"] = float(grid.cell_size)
        params["crs"] = grid.crs
    values_out = x_grid if n == valid.size else np.where(valid, x_grid, np.nan)
    out["bin"] = out["bin"].astype(np.int8, copy=False)
    out["n_neighbours"] = out["n_neighbours"].astype(np.int64, copy=False)
    for key in ("z", "p", "q", "bin", "p_norm", "p_sim", "p_high", "p_low", "local_sum",
                "n_neighbours"):
        if out.get(key) is not None:
            out[key] = _read_only(out[key])
    return GiStarResult(
        z=out["z"],
        p=out["p"],
        q=out["q"],
        bin=out["bin"],
        p_norm=out["p_norm"],
        p_sim=out["p_sim"],
        p_high=out.get("p_high"),
        p_low=out.get("p_low"),
        local_sum=out["local_sum"],
        n_neighbours=out["n_neighbours"],
        values=_read_only(values_out),
        mask=_read_only(valid),
        grid=grid,
        params=params,
    )


def gistar_areas(
    areas,
    column: str,
    *,
    contiguity: str = "queen",
    include_self: bool = True,
    permutations: int = 0,
    seed: int | None = None,
    correction: str = "fdr_bh",
    levels: tuple[float, float, float] = DEFAULT_LEVELS,
):
    """Gi* on a polygon layer (e.g. counts per ward) with contiguity weights.

    Parameters
    ----------
    areas : GeoDataFrame
        Polygons with a numeric ``column`` (counts or weighted counts). Not modified.
    column : str
        The value column.
    contiguity : {"queen", "rook"}
        Queen: polygons sharing at least one boundary point; rook: sharing a boundary
        segment of positive length (see :func:`contiguity_matrix`).
    include_self, permutations, seed, correction, levels
        As in :func:`gistar`.

    Returns
    -------
    GeoDataFrame
        A copy of ``areas`` with columns ``gi_local_sum``, ``gi_n_neighbours`` (self
        included for Gi*), ``gi_z``, ``gi_p`` (two-sided p used), ``gi_q`` (corrected),
        ``gi_bin`` (−3..3), ``gi_p_norm`` and, with permutations, ``gi_p_sim``,
        ``gi_p_high`` and ``gi_p_low`` (one-sided);
        ``attrs["params"]`` holds the parameters.
    """
    correction = _check_choice(correction, CORRECTIONS, "correction")
    levels = _check_levels(levels)
    permutations = _check_permutations(permutations)
    if not hasattr(areas, "geometry"):
        raise InvalidParameterError("gistar_areas needs a GeoDataFrame of polygons")
    if column not in areas.columns:
        raise InvalidParameterError(
            f"column {column!r} not in the areas layer; columns are {list(areas.columns)}"
        )
    try:
        x = areas[column].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"column {column!r} must be numeric ({exc})") from exc
    if not np.all(np.isfinite(x)):
        bad = int(np.flatnonzero(~np.isfinite(x))[0])
        raise InvalidParameterError(
            f"column {column!r} has NaN or infinite values (first at row {bad}); fill or drop"
        )
    n = x.size
    if n < 3:
        raise InvalidParameterError(f"Gi* needs at least 3 areas, got {n}")
    seed = _resolve_seed(seed, permutations)
    adjacency = contiguity_matrix(areas, contiguity)
    degree = np.diff(adjacency.indptr).astype(np.int64)
    local_sum = adjacency @ x
    n_nb = degree.copy()
    if include_self:
        local_sum = local_sum + x
        n_nb = n_nb + 1
    _check_variation(float(x.std()), n)
    integer = bool(np.all(np.floor(x) == x)) and float(np.abs(x).max(initial=0.0)) < 2**52
    out = _inference_units(x, local_sum, n_nb, include_self, permutations, seed, correction,
                           levels, integer)
    result = areas.copy()
    result["gi_local_sum"] = local_sum
    result["gi_n_neighbours"] = n_nb
    result["gi_z"] = out["z"]
    result["gi_p"] = out["p"]
    result["gi_q"] = out["q"]
    result["gi_bin"] = out["bin"].astype(np.int8)
    result["gi_p_norm"] = out["p_norm"]
    if out["p_sim"] is not None:
        result["gi_p_sim"] = out["p_sim"]
        result["gi_p_high"] = out["p_high"]
        result["gi_p_low"] = out["p_low"]
    islands = int((degree == 0).sum())
    if islands:
        announce(f"{islands} area(s) have no {contiguity} neighbour (islands)")
    result.attrs["params"] = {
        "statistic": "Gi*" if include_self else "Gi",
        "column": column,
        "contiguity": contiguity,
        "weights": "binary",
        "n_areas": int(n),
        "n_islands": islands,
        "inference": "permutation" if permutations else "analytic",
        "permutations": permutations,
        "seed": seed,
        "correction": correction,
        "levels": list(levels),
        "n_undefined": out["n_undefined"],
    }
    return result


def contiguity_matrix(areas, contiguity: str = "queen") -> sparse.csr_matrix:
    """Binary contiguity of polygons (zero diagonal), computed with shapely.

    ``queen``: two polygons are neighbours when their geometries intersect (they share at
    least one point: an edge, a vertex, or an overlap). ``rook``: their boundaries share a
    segment of positive length. Both are symmetric.

    Parameters
    ----------
    areas : GeoDataFrame or GeoSeries or array of geometries
    contiguity : {"queen", "rook"}

    Returns
    -------
    scipy.sparse.csr_matrix of float64, shape (n, n)
    """
    import shapely

    contiguity = _check_choice(contiguity, CONTIGUITIES, "contiguity")
    geoms = np.asarray(getattr(areas, "geometry", areas))
    if geoms.size and not np.all(shapely.get_type_id(geoms) >= 3):
        raise InvalidParameterError("contiguity needs polygon geometries (got points or lines)")
    n = geoms.size
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    if contiguity == "rook" and left.size:
        shared = shapely.intersection(shapely.boundary(geoms[left]), shapely.boundary(geoms[right]))
        touch = shapely.length(shared) > 0
        left, right = left[touch], right[touch]
    rows = np.concatenate([left, right])
    cols = np.concatenate([right, left])
    data = np.ones(rows.size)
    return sparse.csr_matrix((data, (rows, cols)), shape=(n, n))


def adjust_pvalues(p: np.ndarray, method: str = "fdr_bh") -> np.ndarray:
    """Correct p-values for multiple testing; NaN entries are not tests and stay NaN.

    ``fdr_bh``: Benjamini–Hochberg q-values by ``scipy.stats.false_discovery_control(p,
    method="bh")``; ``bonferroni``: ``min(1, m p)``; ``none``: ``p`` unchanged. ``m`` is the
    number of finite p-values. (Gi* on very large grids corrects its groups of cells with equal
    p once each, :func:`_correct_groups`, with the same arithmetic; tests check both against
    scipy.)
    """
    from scipy.stats import false_discovery_control

    method = _check_choice(method, CORRECTIONS, "correction")
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    finite = np.isfinite(p)
    if not finite.any():
        return out
    if method == "fdr_bh":
        out[finite] = false_discovery_control(p[finite], method="bh")
    elif method == "bonferroni":
        out[finite] = np.minimum(p[finite] * int(finite.sum()), 1.0)
    else:
        out[finite] = p[finite]
    return out


def confidence_bins(
    q: np.ndarray, direction: np.ndarray, levels: tuple[float, float, float] = DEFAULT_LEVELS
) -> np.ndarray:
    """ArcGIS-style bins: ``sign(direction) x (3, 2, 1)`` for ``q <= levels[0], [1], [2]``.

    NaN ``q`` gives 0.
    """
    levels = _check_levels(levels)
    q = np.asarray(q, dtype=np.float64)
    strength = np.zeros(q.shape, dtype=np.int8)
    qq = np.nan_to_num(q, nan=np.inf)
    strength[qq <= levels[2]] = 1
    strength[qq <= levels[1]] = 2
    strength[qq <= levels[0]] = 3
    return (strength * np.sign(direction).astype(np.int8)).astype(np.int8)


def neighbourhood_halfwidths(shape: str, radius_cells: float) -> np.ndarray:
    """Half-width (cells each side) of the window at each row offset ``-K..K``.

    ``square``: ``K``; ``diamond``: ``K - |dy|``; ``disc``: ``floor(sqrt(r² - dy²))`` (centre
    distances up to ``r`` cells, with a 1e-9 cell tolerance for rounding).
    """
    shape = _check_choice(shape, SHAPES, "shape")
    big_k = int(math.floor(radius_cells + 1e-9))
    dy = np.arange(-big_k, big_k + 1)
    if shape == "square":
        h = np.full(dy.size, big_k)
    elif shape == "diamond":
        h = big_k - np.abs(dy)
    else:
        h = np.floor(np.sqrt(np.maximum(radius_cells**2 - dy**2, 0.0)) + 1e-9)
    return h.astype(np.int64)


# ---------------------------------------------------------------------------- engine
def _star_grid(sums, counts, valid, n, mean, sd, correction, levels) -> dict | None:
    """Analytic Gi* on integer counts, grouping cells with equal (sum, size).

    Gi* depends only on the neighbourhood sum and size, so z, p, q and the bin are computed
    once per group (a few hundred groups on a count grid) and the BH ordering sorts groups,
    not cells. Returns None when the key table would be too large (the caller then takes
    the general path, with identical results).
    """
    s_min = int(sums.min())
    s_max = int(sums.max())
    w_span = int(counts.max()) + 1
    key_size = (s_max - s_min + 1) * w_span
    if key_size > min(_MAX_KEY_TABLE, 8 * n + 4096):
        return None
    table, keys, sizes = _k.group_cells(sums, counts, valid, s_min, w_span, key_size)
    s_g = (keys // w_span + s_min).astype(np.float64)
    w_g = (keys % w_span).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = sd * np.sqrt(w_g * (n - w_g) / (n - 1))
        z_g = (s_g - w_g * mean) / denom
    z_g[~np.isfinite(denom) | (denom == 0)] = np.nan
    p_g, q_g, bin_g, n_undefined = _group_inference(z_g, sizes, correction, levels)
    z, p, q, bins = _k.scatter_groups(sums, counts, valid, table, s_min, w_span, z_g, p_g,
                                      q_g, bin_g)
    all_valid = n == valid.size
    return {
        "z": z, "p": p, "q": q, "bin": bins, "p_norm": p, "p_sim": None,
        "local_sum": sums if all_valid else np.where(valid, sums, np.nan),
        "n_neighbours": counts if all_valid else np.where(valid, counts, 0),
        "n_undefined": n_undefined,
        "n_significant": _count_bins(bin_g, sizes),
    }


def _group_inference(z_g, sizes, correction, levels):
    """p, q and bins of groups of cells with equal z (NaN z: undefined, not tested)."""
    finite = np.isfinite(z_g)
    p_g = np.full(z_g.shape, np.nan)
    q_g = np.full(z_g.shape, np.nan)
    p_g[finite] = 2.0 * special.ndtr(-np.abs(z_g[finite]))
    if finite.any():
        q_g[finite] = _correct_groups_unsorted(p_g[finite], sizes[finite], correction)
    bin_g = confidence_bins(q_g, np.nan_to_num(z_g), levels)
    n_undefined = int(sizes[~finite].sum())
    if n_undefined:
        _announce_undefined(n_undefined)
    return p_g, q_g, bin_g, n_undefined


def _inference_units(x, local_sum, n_nb, include_self, permutations, seed, correction, levels,
                     integer) -> dict[str, Any]:
    """z, p, q and bins for units (cells or areas) given as flat arrays."""
    n = x.size
    z = _z_scores(x, local_sum, n_nb, include_self, float(x.sum()), float(x.std()))
    finite = np.isfinite(z)
    if permutations == 0:
        z_fin = z[finite]
        z_g, inverse, sizes = np.unique(z_fin, return_inverse=True, return_counts=True)
        p_g, q_g, bin_g, _ = _group_inference(z_g, sizes, correction, levels)
        p = np.full(n, np.nan)
        q = np.full(n, np.nan)
        bins = np.zeros(n, dtype=np.int8)
        p[finite] = p_g[inverse]
        q[finite] = q_g[inverse]
        bins[finite] = bin_g[inverse]
        n_undefined = int(n - finite.sum())
        if n_undefined:
            _announce_undefined(n_undefined)
        return {"z": z, "p_norm": p, "p_sim": None, "p": p, "q": q, "bin": bins,
                "n_undefined": n_undefined, "n_significant": _count_bins(bins)}
    p_norm = np.full(n, np.nan)
    p_norm[finite] = 2.0 * special.ndtr(-np.abs(z[finite]))
    p_sim, p_high, p_low = _permutation_p(x, local_sum, n_nb, include_self, permutations, seed,
                                          integer)
    direction = np.sign(p_low - p_high)
    p_sim[~finite] = np.nan
    p_high[~finite] = np.nan
    p_low[~finite] = np.nan
    q = adjust_pvalues(p_sim, correction)
    bins = confidence_bins(q, direction, levels)
    n_undefined = int(n - finite.sum())
    if n_undefined:
        _announce_undefined(n_undefined)
    return {"z": z, "p_norm": p_norm, "p_sim": p_sim, "p": p_sim, "q": q, "bin": bins,
            "p_high": p_high, "p_low": p_low,
            "n_undefined": n_undefined, "n_significant": _count_bins(bins)}


def _count_bins(bins: np.ndarray, sizes: np.ndarray | None = None) -> dict[str, int]:
    weights = np.ones(bins.size, dtype=np.int64) if sizes is None else sizes
    return {str(b): int(weights[bins == b].sum()) for b in (3, 2, 1, -1, -2, -3)}


def _announce_undefined(count: int) -> None:
    announce(f"Gi* is undefined for {count} cell(s) (a neighbourhood covering every cell, or "
             "for Gi no neighbour or no variance among the others); left out of the tests")


def _check_variation(sd: float, n: int) -> None:
    if not sd > 0:
        raise InvalidParameterError(
            f"all {n} values analysed are equal; Gi* is undefined without variation"
        )


def _z_scores(x, local_sum, n_nb, include_self, total, sd):
    """Per-unit z-scores (the esda formulas, rearranged to sums); NaN where undefined."""
    w = n_nb.astype(np.float64)
    n = x.size
    with np.errstate(divide="ignore", invalid="ignore"):
        if include_self:
            mean = total / n
            denom = sd * np.sqrt(w * (n - w) / (n - 1))
            z = (local_sum - w * mean) / denom
        else:
            big_n = n - 1
            mean_i = (total - x) / big_n
            sq = float(np.dot(x, x))
            var_i = (sq - x * x) / big_n - mean_i**2
            sd_i = np.sqrt(np.maximum(var_i, 0.0))
            denom = sd_i * np.sqrt(w * (big_n - w) / (big_n - 1))
            z = (local_sum - w * mean_i) / denom
            z[~(var_i > 0)] = np.nan
    z[~np.isfinite(denom) | (denom == 0)] = np.nan
    return z


def _correct_groups_unsorted(p_g, counts, method):
    order = np.argsort(p_g, kind="stable")
    q_sorted = _correct_groups(p_g[order], counts[order], method)
    q_g = np.empty_like(q_sorted)
    q_g[order] = q_sorted
    return q_g


def _correct_groups(p_sorted, counts, method):
    """Corrected p for groups of tied p-values given in ascending order with multiplicities.

    For BH the value of a group is ``p · (m / j)`` with ``j`` the rank of its last member,
    then the running minimum from the largest p down — the same arithmetic as scipy, so the
    q-values are identical.
    """
    m = int(counts.sum())
    if method == "none":
        return p_sorted.copy()
    if method == "bonferroni":
        return np.minimum(p_sorted * m, 1.0)
    rank_last = np.cumsum(counts).astype(np.float64)
    q = p_sorted * (m / rank_last)
    q = np.minimum.accumulate(q[::-1])[::-1]
    return np.clip(q, 0.0, 1.0)


def _permutation_p(x, local_sum, n_nb, include_self, permutations, seed, integer):
    """Folded two-sided, upper-tail and lower-tail permutation p-values."""
    self_w = 1.0 if include_self else 0.0
    observed = np.ascontiguousarray(local_sum - self_w * x, dtype=np.float64)
    n_draw = np.ascontiguousarray(n_nb - (1 if include_self else 0), dtype=np.int64)
    n_draw = np.maximum(n_draw, 0)
    if integer:  # integer sums are exact: no tolerance needed
        tolerance = np.zeros(x.size)
    else:
        scale = float(np.abs(x).max(initial=0.0))
        tolerance = 64.0 * _EPS * np.maximum(n_draw, 1) * scale
    positions = np.arange(x.size, dtype=np.int64)
    n_ge, n_le = _k.permutation_tail_counts(
        np.ascontiguousarray(x, dtype=np.float64), positions, n_draw, observed,
        tolerance, int(permutations), int(seed),
    )
    p_high = (n_ge + 1) / (permutations + 1)
    p_low = (n_le + 1) / (permutations + 1)
    p_sim = np.minimum(1.0, 2.0 * np.minimum(p_high, p_low))
    return p_sim, p_high, p_low


# ---------------------------------------------------------------------------- inputs
def _values_grid(
    values: Any, grid: Grid | None, weights: Any, cell_size_m: float | None = None,
    crs: str | None = None,
) -> tuple[np.ndarray, Grid | None, int]:
    """The value grid (float64, C order), the grid, and the number of points off the grid."""
    is_points = isinstance(values, pd.DataFrame) or isinstance(
        getattr(values, "frame", getattr(values, "incidents", None)), pd.DataFrame)
    if is_points:
        pts = points_xy(values, crs, target_crs=grid.crs if grid is not None else None,
                        what="gistar")
        x, y = pts.x, pts.y
        bad = ~(np.isfinite(x) & np.isfinite(y))
        if bad.any():
            raise InvalidParameterError(
                f"gistar: {int(bad.sum())} point(s) have NaN or infinite coordinates (first at "
                f"position {int(np.flatnonzero(bad)[0])}); drop or geocode them first"
            )
        if grid is None:
            if pts.crs is None:
                raise InvalidParameterError(
                    "gistar: the points' CRS is unknown; pass crs='EPSG:27700' (or theirs) "
                    "or a grid"
                )
            if cell_size_m is not None and not (np.isfinite(cell_size_m) and cell_size_m > 0):
                raise InvalidParameterError(
                    f"gistar: cell_size_m must be a positive number of metres, got "
                    f"{cell_size_m!r}"
                )
            grid = Grid.for_points(x, y, pts.crs, cell_size_m)
        elif cell_size_m is not None:
            raise InvalidParameterError("gistar: give either grid or cell_size_m, not both")
        w = _incident_weights(pts.frame, weights) if pts.frame is not None else None
        _, _, inside = grid.cell_index(x, y)
        off = int((~inside).sum())
        if off:
            announce(f"{off:,} incident(s) fall off the grid and are not counted")
        return grid.bin_counts(x, y, w), grid, off
    if cell_size_m is not None:
        raise InvalidParameterError("cell_size_m applies only to points (counted on a grid)")
    if weights is not None:
        raise InvalidParameterError("weights= applies only when values is an incident table")
    try:
        arr = np.array(values, dtype=np.float64, order="C")
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            "values must be a 2-D array of counts per cell or an incident table"
        ) from exc
    if arr.ndim != 2:
        raise InvalidParameterError(
            f"values must be a 2-D array (n_rows, n_cols), got {arr.ndim}-D shape {arr.shape}"
        )
    if grid is not None and arr.shape != grid.shape:
        raise InvalidParameterError(
            f"values shape {arr.shape} does not match the grid shape {grid.shape}"
        )
    return arr, grid, 0


def _incident_weights(frame: pd.DataFrame, weights: Any) -> np.ndarray | None:
    if weights is None:
        return None
    if isinstance(weights, str):
        if weights not in frame.columns:
            raise InvalidParameterError(f"weights column {weights!r} not in the incident table")
        w = frame[weights].to_numpy(dtype=np.float64)
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (len(frame),):
            raise InvalidParameterError(
                f"weights must have one value per incident ({len(frame)}), got shape {w.shape}"
            )
    if not np.all(np.isfinite(w)):
        raise InvalidParameterError("weights must be finite numbers")
    return w


def _valid_mask(x_grid: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    if mask is None:
        return np.ones(x_grid.shape, dtype=bool)
    valid = np.array(mask, dtype=bool, order="C")
    if valid.shape != x_grid.shape:
        raise InvalidParameterError(
            f"mask shape {valid.shape} does not match the values shape {x_grid.shape}"
        )
    return valid


def _raise_non_finite(x_grid: np.ndarray, valid: np.ndarray) -> None:
    bad = valid & ~np.isfinite(x_grid)
    r, c = np.argwhere(bad)[0]
    raise InvalidParameterError(
        f"values has {int(bad.sum())} NaN or infinite cell(s) inside the mask (first at "
        f"row {r}, col {c}); fill them or exclude them with mask="
    )


def _neighbourhood(distance_cells, distance_m, shape, grid):
    """Shape, row half-widths and a description of the neighbourhood."""
    if distance_m is not None:
        if grid is None:
            raise InvalidParameterError("distance_m needs grid=Grid(...) to convert metres")
        d = float(distance_m)
        if not (math.isfinite(d) and d > 0):
            raise InvalidParameterError(f"distance_m must be positive metres, got {distance_m!r}")
        if shape not in ("square", "disc"):
            raise InvalidParameterError("distance_m gives a disc neighbourhood; leave shape out")
        radius = d / grid.cell_size
        if radius < 1 - 1e-9:
            raise InvalidParameterError(
                f"distance_m={d:g} m is under one cell ({grid.cell_size:g} m): no neighbours"
            )
        return "disc", neighbourhood_halfwidths("disc", radius), f"disc of {d:g} m"
    shape = _check_choice(shape, SHAPES, "shape")
    if distance_cells is None or isinstance(distance_cells, bool) or int(distance_cells) != \
            distance_cells or distance_cells < 1:
        raise InvalidParameterError(
            f"distance_cells must be a whole number of cells >= 1, got {distance_cells!r}"
        )
    k = int(distance_cells)
    desc = {"square": f"queen ring of order {k} ({2 * k + 1} x {2 * k + 1} cells)",
            "diamond": f"rook (Manhattan) distance <= {k} cells",
            "disc": f"disc of radius {k} cells"}[shape]
    return shape, neighbourhood_halfwidths(shape, k), desc


def _resolve_seed(seed: int | None, permutations: int) -> int | None:
    if permutations == 0:
        return None if seed is None else _check_seed(seed)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**63))
        announce(f"permutation seed {seed} drawn from the operating system (pass seed= to fix)")
        return seed
    return _check_seed(seed)


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidParameterError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed) % (2**64)


def _check_permutations(permutations: Any) -> int:
    if isinstance(permutations, bool) or not isinstance(permutations, (int, np.integer)) \
            or permutations < 0:
        raise InvalidParameterError(
            f"permutations must be a non-negative integer (e.g. 99 or 999), got {permutations!r}"
        )
    return int(permutations)


def _check_levels(levels: Any) -> tuple[float, float, float]:
    try:
        lv = tuple(float(v) for v in levels)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"levels must be three numbers, got {levels!r}") from exc
    if len(lv) != 3 or not (0 < lv[0] < lv[1] < lv[2] < 1):
        raise InvalidParameterError(
            f"levels must be three increasing probabilities in (0, 1) for bins 3, 2, 1, "
            f"got {levels!r}"
        )
    return lv  # type: ignore[return-value]


def _check_choice(value: Any, choices: tuple[str, ...], name: str) -> str:
    if value not in choices:
        raise InvalidParameterError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return str(value)


def _read_only(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    array.flags.writeable = False
    return array


def _scatter(values: np.ndarray, valid: np.ndarray, shape: tuple[int, int], fill) -> np.ndarray:
    dtype = np.result_type(np.asarray(values).dtype, np.asarray(fill).dtype)
    if valid.all():
        return np.asarray(values, dtype=dtype).reshape(shape)
    out = np.full(shape, fill, dtype=dtype)
    out[valid] = values
    return out
