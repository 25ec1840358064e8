"""Kernel density estimation (KDE) of incidents on a :class:`~geodemand.grid.Grid`.

The one public entry point is :func:`kde`; it returns a :class:`KDEResult`.

Kernels
-------
The bandwidth ``h`` is always the **search radius in metres**: every kernel is zero at
distance ``d >= h`` from its point. With ``u = d / h`` the kernels are (2-D densities that
integrate to one over the plane):

* ``quartic`` (default; "biweight"): ``K(d) = 3 / (π h²) · (1 − u²)²``
* ``epanechnikov``: ``K(d) = 2 / (π h²) · (1 − u²)``
* ``triangular``: ``K(d) = 3 / (π h²) · (1 − u)``
* ``uniform``: ``K(d) = 1 / (π h²)``
* ``gaussian`` (truncated): ``K(d) = c / h² · exp(−d² / (2 σ²))`` with standard deviation
  ``σ = h / 3``, cut at ``d = h`` (three standard deviations, where the density has fallen to
  1.1 % of its peak) and renormalised so that the truncated kernel still integrates to one:
  ``c = 4.5 / (π (1 − e^−4.5))``.

Normalisation
-------------
A density on cells is the kernel evaluated at **cell centres**. On a coarse grid the sum of
those values times the cell area is not exactly the point's weight (the discretisation error
is several percent when ``h`` is only a few cells). Two normalisations are offered:

* ``normalise="discrete"`` (default): each point's footprint (the kernel profile at every
  cell centre of the infinite lattice of the grid's cells with ``d < h``) is rescaled so
  that it sums to the point's weight divided by the cell area. Mass is then conserved
  exactly: with the grid covering every footprint, ``sum(density) × cell area`` equals the
  total weight (to rounding). Cells off the grid still count in the rescaling, so a cell's
  value never depends on where the grid ends; mass beyond the grid edge is simply lost. If
  no cell centre lies within ``h`` of a point (only possible when ``h < cell_size / √2``),
  the point's whole weight goes to the cell that contains it (the rule of
  :meth:`Grid.cell_index`).
* ``normalise="analytic"``: the plain formula ``weight · K(d)`` at each cell centre. This is
  what KDE libraries (scikit-learn, KDEpy) compute, so comparisons with them use this mode.
  Mass is conserved only up to the discretisation error.

Methods
-------
* ``exact``: every point adds its kernel to the cells within ``h`` (numba, parallel; points
  are sorted by row and split into chunks whose private buffers are summed afterwards, so
  there are no write races and the result does not depend on the number of threads).
* ``binned``: linear binning of the weights onto cell centres (two fixed blocks binned in
  parallel into private arrays, then summed), then one FFT convolution with the kernel
  sampled on the grid (and, in ``"discrete"`` mode, rescaled to sum to one). It
  approximates ``exact`` to well within 1 % of the peak when ``h`` spans several cells and
  is much faster for very many points.
* ``auto``: ``exact`` when ``h`` is under :data:`AUTO_MIN_BINNED_CELLS` cells (binning
  error would be large), when its estimated run time (a cost model in the number of
  points, kernel footprint and grid cells, :data:`AUTO_COST_NS`) is at most
  :data:`AUTO_EXACT_PREFERENCE` times that of ``binned``, or when the binned mode's
  worst-case error for this kernel and ``h / cell size`` (:func:`binning_error_bound`)
  exceeds :data:`AUTO_MAX_BINNED_ERROR` of the peak; otherwise ``binned``. The choice and
  the estimates are announced and recorded in ``params["method_rule"]``.

Binning error on real police.uk data
------------------------------------
police.uk positions are anonymised map points: many incidents share one point, so binning
errors do not average out over jittered positions as they do for spread points. A stack of
incidents at one place is binned like one point, so the worst case is the error of a single
point at its worst position within a cell. :func:`binning_error_bound` measures it (binned
against exact for one point at 5 x 5 positions in a cell). Measured at 25 m cells, 200 m
radius (8 cells): quartic 1.6 %, triangular 3.0 %, epanechnikov 5.4 %, gaussian 2.9 %,
uniform 87 % of the peak; the quartic falls to 0.39 % at 16 cells and 0.1 % at 32, while the
kernels with a kink or a jump at the radius (epanechnikov, triangular, uniform, the
truncated gaussian) stay above 0.5 % at any practical size. So ``auto`` uses binning only
for the quartic from about 14 cells per radius; ``method="binned"`` still does what it is
told.

Partitions
----------
:func:`kde_partitioned` sums the surfaces of point partitions (each computed where it lives,
e.g. on a Dask worker): every point adds its own kernel, so the sum equals one call over all
points up to floating-point rounding (well within 1e-9 of the peak, mass equal).

Weights and time decay
----------------------
Each incident has weight 1, or ``weights`` (a column name, an array, ``"harm"`` for the
shipped harm table, or a :class:`~geodemand.demand.harm.HarmTable`). For prospective hot-spotting
(Bowers, Johnson & Pease 2004) the weights are multiplied by a decay in the incident's age
``t`` (days before ``reference_date``):

* ``decay="inverse"``: ``1 / (1 + t / 7)`` (age in weeks, as in Bowers et al.);
* ``decay="exponential"``: ``0.5 ** (t / half_life_days)``.

Ages come from ``age_days`` or from the ``occurred`` column and ``reference_date`` (default
the latest ``occurred``, announced). Incidents after the reference date are an error.
police.uk dates are month starts (``date_precision == "month"``), so their ages are measured
from the first of the month; pass ``age_days`` to use another convention.

Points whose kernel cannot reach the grid add nothing; they are counted in
``params["n_points_off_grid"]`` (still included in ``params["total_weight"]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from geodemand._announce import announce
from geodemand._display import (
    grid_coords,
    html_summary,
    plot_raster,
    raster_attrs,
    require_xarray,
    text_summary,
)
from geodemand._kernels import kde as _k
from geodemand.engines.points import points_xy
from geodemand.errors import InvalidParameterError
from geodemand.grid import Grid

#: Kernel names accepted by :func:`kde`.
KERNELS = tuple(_k.KERNEL_CODES)
#: Analytic normalising constants ``c`` (``K(d) = c / h² · profile(d / h)``).
ANALYTIC_CONSTANTS = dict(_k.ANALYTIC_CONSTANTS)
#: Standard deviation of the truncated gaussian as a fraction of the bandwidth.
GAUSSIAN_SD_FRACTION = _k.GAUSSIAN_SD_FRACTION
METHODS = ("auto", "exact", "binned")
NORMALISATIONS = ("discrete", "analytic")
DECAYS = ("inverse", "exponential")
#: Output units: name -> (label, square metres per unit area).
UNITS = {"per_km2": ("km²", 1e6), "per_ha": ("ha", 1e4), "per_m2": ("m²", 1.0)}

#: Cost model of ``method="auto"`` (nanoseconds, single thread, measured on the development
#: machine): exact = N × footprint cells × ``exact_per_update`` + grid cells ×
#: ``exact_per_cell``; binned = N × ``binned_per_point`` + padded grid cells ×
#: ``binned_per_cell`` (binning, FFT convolution).
AUTO_COST_NS = {
    "exact_per_update": 1.5,
    "exact_per_cell": 5.0,
    "binned_per_point": 20.0,
    "binned_per_cell": 25.0,
}
#: ``method="auto"`` keeps the exact mode while it is estimated at most this many times
#: slower than the binned mode (exact has no binning error).
AUTO_EXACT_PREFERENCE = 2.0
#: ``method="auto"`` always uses exact mode when the bandwidth is under this many cells.
AUTO_MIN_BINNED_CELLS = 4.0
#: ``method="auto"`` uses binned mode only where :func:`binning_error_bound` is at most this
#: share of the peak (0.5 %).
AUTO_MAX_BINNED_ERROR = 0.005
#: :func:`binning_error_bound` measures at most this many cells per bandwidth (the error
#: does not grow with the bandwidth, so larger ones reuse this bound: a conservative value).
_BOUND_MAX_CELLS = 64.0
#: Target number of points per chunk of the exact mode (the chunking is thread-independent).
_POINTS_PER_CHUNK = 65_536
_MAX_CHUNKS = 64
#: Binned mode: points are binned in this many fixed blocks in parallel (private arrays)
#: when the FFT array has at most ``_BIN_BLOCK_MAX_CELLS`` cells, else in one block.
_BIN_BLOCKS = 2
_BIN_BLOCK_MAX_CELLS = 25_000_000


# ---------------------------------------------------------------------------- result
@dataclass(frozen=True, eq=False)
class KDEResult:
    """A kernel density surface.

    Attributes
    ----------
    density : ndarray of float64, shape (n_rows, n_cols)
        Density in ``units`` (row 0 = north, as :class:`Grid`); NaN = nodata (clipped).
        The array is read-only.
    grid : Grid
        The raster frame.
    units : str
        E.g. ``"incidents per km²"`` or ``"harm per km²"``.
    params : dict
        Everything that made the surface (kernel, bandwidth_m, method, normalise,
        cell_size_m, n_points, total_weight, decay, reference_date, clip, ...).
        JSON-safe values only.
    """

    density: np.ndarray
    grid: Grid
    units: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def unit_area_m2(self) -> float:
        """Square metres in the area unit of ``units`` (1e6 for "per km²")."""
        return float(self.params.get("unit_area_m2", 1e6))

    def mass(self) -> float:
        """Total mass on the grid: ``nansum(density) × cell area`` (in the weight's units).

        With no clipping and the grid covering every kernel this equals the total weight.
        """
        cell_area = self.grid.cell_area_m2 / self.unit_area_m2
        return float(np.nansum(self.density) * cell_area)

    def peak(self) -> tuple[float, float, float]:
        """``(x, y, density)`` of the highest cell (its centre, metres); first in row order."""
        if np.all(np.isnan(self.density)):
            raise InvalidParameterError("the density surface is all nodata; it has no peak")
        flat = int(np.nanargmax(self.density))
        row, col = divmod(flat, self.grid.n_cols)
        x = self.grid.x_min + (col + 0.5) * self.grid.cell_size
        y = self.grid.y_max - (row + 0.5) * self.grid.cell_size
        return float(x), float(y), float(self.density[row, col])

    def to_geodataframe(self, min_density: float = 0.0):
        """Cells with ``density > min_density`` as square polygons.

        Columns ``row``, ``col``, ``density`` (in ``units``); ``attrs["params"]`` and
        ``attrs["units"]`` hold the parameters and units. NaN (clipped) cells are left out.
        """
        keep = np.nan_to_num(self.density, nan=-np.inf) > min_density
        gdf = self.grid.to_geodataframe(mask=keep)
        gdf["density"] = self.density[keep]
        gdf.attrs["params"] = dict(self.params)
        gdf.attrs["units"] = self.units
        return gdf

    def _facts(self) -> dict[str, Any]:
        n_rows, n_cols = self.grid.shape
        facts = {
            "grid": f"{n_rows} x {n_cols} cells of {self.grid.cell_size:g} m ({self.grid.crs})",
            "units": self.units,
            "bandwidth_m": self.params.get("bandwidth_m"),
            "kernel": self.params.get("kernel"),
            "points": self.params.get("n_points"),
        }
        if not np.all(np.isnan(self.density)):
            facts["peak"] = f"{self.peak()[2]:.4g} {self.units}"
        return {k: v for k, v in facts.items() if v is not None}

    def __repr__(self) -> str:
        return text_summary("KDEResult", self._facts(), self.params)

    def _repr_html_(self) -> str:
        return html_summary("KDEResult (kernel density)", self._facts(), self.params)

    def plot(self, ax: Any = None, *, cmap: str = "viridis") -> Any:
        """Quick look at the surface (metres of the grid CRS); returns the matplotlib Axes."""
        return plot_raster(self.density, self.grid, ax, cmap=cmap, label=self.units,
                           title=f"KDE, bandwidth {self.params.get('bandwidth_m', '?')} m")

    def to_xarray(self):
        """The surface as an :class:`xarray.DataArray` (``y``, ``x`` cell centres in metres,
        north first; ``attrs``: crs WKT, cell_size_m, transform, units, parameters)."""
        xr = require_xarray()
        attrs = raster_attrs(self.grid, self.params)
        attrs["units"] = self.units
        return xr.DataArray(self.density, dims=("y", "x"), coords=grid_coords(self.grid),
                            name="density", attrs=attrs)


# ---------------------------------------------------------------------------- inputs
def _check_coordinates(x: np.ndarray, y: np.ndarray) -> None:
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        idx = np.flatnonzero(bad)
        raise InvalidParameterError(
            f"points x/y must be finite metres; {idx.size} point(s) have NaN or infinite "
            f"coordinates (first at position {int(idx[0])}); drop or geocode them first"
        )


def _check_crs(crs: str | None, grid: Grid | None) -> str:
    if grid is not None:
        if crs is not None and not _same_crs(crs, grid.crs):
            raise InvalidParameterError(
                f"points CRS {crs!r} differs from the grid CRS {grid.crs!r}; reproject first"
            )
        return grid.crs
    if crs is None:
        raise InvalidParameterError(
            "crs is unknown: pass crs='EPSG:27700' (or the projected CRS of x, y), a grid, or a "
            "frame with attrs['crs']"
        )
    from pyproj import CRS

    try:
        parsed = CRS.from_user_input(crs)
    except Exception as exc:  # pyproj raises CRSError and others
        raise InvalidParameterError(f"crs {crs!r} is not a valid CRS ({exc})") from exc
    if not parsed.is_projected:
        raise InvalidParameterError(
            f"crs {crs!r} is not a projected metric CRS; KDE needs x, y in metres "
            "(reproject, e.g. to EPSG:27700)"
        )
    return str(crs)


def _same_crs(a: str, b: str) -> bool:
    if a == b:
        return True
    from pyproj import CRS

    try:
        return CRS.from_user_input(a) == CRS.from_user_input(b)
    except Exception:
        return False


def _weights(
    weights: Any, frame: pd.DataFrame | None, n: int
) -> tuple[np.ndarray, str, str]:
    """Per-point weights, a description for params, and the quantity name for units."""
    if weights is None:
        return np.ones(n), "none (1 per incident)", "incidents"
    from geodemand.demand.harm import HarmTable, harm_weights

    if isinstance(weights, str) and weights == "harm":
        weights = harm_weights()
    if isinstance(weights, HarmTable):
        if frame is None or "crime_type" not in frame.columns:
            raise InvalidParameterError(
                "weights='harm' needs points with a 'crime_type' column (canonical slugs)"
            )
        w = weights.weights(frame["crime_type"])
        return _valid_weights(w, n), f"harm table {weights.path} (version {weights.version})", \
            "harm"
    if isinstance(weights, str):
        if frame is None or weights not in frame.columns:
            raise InvalidParameterError(
                f"weights column {weights!r} not found in the points table"
            )
        try:
            w = frame[weights].to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidParameterError(
                f"weights column {weights!r} must be numeric ({exc})"
            ) from exc
        return _valid_weights(w, n), f"column {weights}", "weighted incidents"
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"weights must be numbers ({exc})") from exc
    return _valid_weights(w, n), "array", "weighted incidents"


def _valid_weights(w: np.ndarray, n: int) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64).ravel()
    if w.size != n:
        raise InvalidParameterError(
            f"weights has {w.size} value(s) but there are {n} point(s); give one weight per point"
        )
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidParameterError(
            f"weights must be finite and >= 0; {int(bad.sum())} are not (first at position {i}: "
            f"{w[i]!r})"
        )
    return w


def _ages(
    age_days: Any, frame: pd.DataFrame | None, n: int, reference_date: Any
) -> tuple[np.ndarray, str | None]:
    """Age of each point in days and the reference date (ISO string, or None)."""
    if age_days is not None:
        if reference_date is not None:
            raise InvalidParameterError("give either age_days or reference_date, not both")
        if isinstance(age_days, str):
            if frame is None or age_days not in frame.columns:
                raise InvalidParameterError(f"age_days column {age_days!r} not found")
            age = frame[age_days].to_numpy(dtype=np.float64)
        else:
            age = np.asarray(age_days, dtype=np.float64).ravel()
        if age.size != n:
            raise InvalidParameterError(
                f"age_days has {age.size} value(s) but there are {n} point(s)"
            )
        ref = None
    else:
        if frame is None or "occurred" not in frame.columns:
            raise InvalidParameterError(
                "time decay needs ages: pass age_days (days) or points with an 'occurred' column"
            )
        occurred = pd.to_datetime(frame["occurred"])
        if occurred.isna().any():
            raise InvalidParameterError(
                f"time decay: {int(occurred.isna().sum())} point(s) have no 'occurred' date"
            )
        if reference_date is None:
            ref_ts = occurred.max()
            announce(f"time decay reference date {ref_ts.isoformat()} (latest incident)")
        else:
            ref_ts = pd.Timestamp(reference_date)
        age = ((ref_ts - occurred) / pd.Timedelta(days=1)).to_numpy(dtype=np.float64)
        ref = ref_ts.isoformat()
    bad = ~np.isfinite(age) | (age < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidParameterError(
            f"ages must be finite and >= 0 days; {int(bad.sum())} are not (first at position "
            f"{i}: {age[i]!r}); incidents after the reference date cannot be decayed"
        )
    return age, ref


def decay_factors(age_days: np.ndarray, decay: str, half_life_days: float | None = None):
    """Time-decay multipliers for ages in days.

    ``"inverse"``: ``1 / (1 + age_days / 7)``; ``"exponential"``: ``0.5 ** (age_days /
    half_life_days)``.
    """
    age = np.asarray(age_days, dtype=np.float64)
    if decay == "inverse":
        return 1.0 / (1.0 + age / 7.0)
    if decay == "exponential":
        if half_life_days is None or not (half_life_days > 0 and math.isfinite(half_life_days)):
            raise InvalidParameterError(
                f"decay='exponential' needs half_life_days > 0 (days), got {half_life_days!r}"
            )
        return np.exp2(-age / float(half_life_days))
    raise InvalidParameterError(f"decay must be one of {DECAYS} or None, got {decay!r}")


# ---------------------------------------------------------------------------- bandwidth
def rule_of_thumb_bandwidth(x: np.ndarray, y: np.ndarray) -> tuple[float, str]:
    """Automatic search radius in metres (ArcGIS Kernel Density's rule of thumb).

    ``h = 0.9 × min(SD, sqrt(1 / ln 2) × Dm) × n^(-0.2)``, where SD is the standard distance
    of the points (root mean squared distance to the mean centre, metres), Dm the median
    distance to the mean centre and n the number of points; rounded to the nearest metre
    (at least 1 m). Weights do not enter the rule: the radius depends on locations only.

    Returns
    -------
    bandwidth_m : float
    description : str
        The rule with its inputs, for the announcement and ``params``.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = x.size
    if n < 2:
        raise InvalidParameterError(
            "automatic bandwidth needs at least 2 points; pass bandwidth_m (metres)"
        )
    dx = x - x.mean()
    dy = y - y.mean()
    dist = np.hypot(dx, dy)
    sd = float(np.sqrt(np.mean(dx * dx + dy * dy)))
    dm = float(np.median(dist))
    spread = min(sd, math.sqrt(1.0 / math.log(2.0)) * dm)
    if not spread > 0:
        raise InvalidParameterError(
            "automatic bandwidth is zero (the points share one location); pass bandwidth_m"
        )
    h = max(1.0, float(round(0.9 * spread * n ** -0.2)))
    text = (
        f"0.9 x min(SD, sqrt(1/ln 2) x Dm) x n^-0.2 with standard distance SD = {sd:,.0f} m, "
        f"median distance Dm = {dm:,.0f} m, n = {n:,}"
    )
    return h, text


# ---------------------------------------------------------------------------- engine
def kde(
    points: Any,
    grid: Grid | None = None,
    *,
    bandwidth_m: float | None = None,
    kernel: str = "quartic",
    weights: Any = None,
    decay: str | None = None,
    half_life_days: float | None = None,
    age_days: Any = None,
    reference_date: Any = None,
    method: str = "auto",
    normalise: str = "discrete",
    clip_to: Any = None,
    cell_size_m: float | None = None,
    crs: str | None = None,
    units: str = "per_km2",
) -> KDEResult:
    """Kernel density of incidents on a grid.

    Parameters
    ----------
    points : GeoDataFrame, DataFrame, IncidentTable, Demand or (n, 2) array
        Incident locations (:mod:`geodemand.engines.points`): Point geometries in any CRS,
        columns ``x``, ``y`` (CRS from ``crs``, ``.crs`` or ``frame.attrs["crs"]``) or
        ``lon``, ``lat``. Lon/lat input is projected (into the grid's CRS, else EPSG:27700 in
        Great Britain or the data's UTM zone; announced). Not modified.
    grid : Grid, optional
        The raster frame. Default: :meth:`Grid.for_points` padded by ``bandwidth_m +
        cell_size_m`` so that every kernel fits (also in binned mode), with ``cell_size_m``
        (metres) or the grid's automatic cell size (announced).
    bandwidth_m : float, optional
        Search radius ``h`` in metres (the support radius of every kernel; for the gaussian
        the truncation radius, ``sd = h / 3``). Default: :func:`rule_of_thumb_bandwidth`
        (announced).
    kernel : {"quartic", "epanechnikov", "triangular", "uniform", "gaussian"}
    weights : None, str, array-like, "harm" or HarmTable
        Weight per incident (>= 0): a column name, an array of length n, ``"harm"`` (the
        shipped harm-weight table applied to ``crime_type``) or a HarmTable. Default 1 each.
    decay : {None, "inverse", "exponential"}
        Time decay for prospective hot-spotting: ``1 / (1 + age_days / 7)`` or
        ``0.5 ** (age_days / half_life_days)``; multiplies the weights.
    half_life_days : float, optional
        Half-life in days for ``decay="exponential"``.
    age_days : str or array-like, optional
        Age of each incident in days (or a column holding it). Default: from ``occurred``
        and ``reference_date``.
    reference_date : date-like, optional
        Date ages are measured to; default the latest ``occurred`` (announced).
    method : {"auto", "exact", "binned"}
        See the module documentation; ``"auto"`` announces its choice.
    normalise : {"discrete", "analytic"}
        ``"discrete"`` (default) conserves mass exactly; ``"analytic"`` evaluates the kernel
        formula (as scikit-learn and KDEpy do). See the module documentation.
    clip_to : shapely geometry, GeoSeries or GeoDataFrame, optional
        Study area in the grid's CRS (GeoSeries/GeoDataFrame in another CRS are
        reprojected, announced). Cells whose centre lies outside become NaN (nodata).
    cell_size_m : float, optional
        Cell side in metres when ``grid`` is None.
    crs : str, optional
        CRS of ``points`` when they do not carry one.
    units : {"per_km2", "per_ha", "per_m2"}
        Area unit of the density.

    Returns
    -------
    KDEResult

    Raises
    ------
    InvalidParameterError
        For a non-positive bandwidth, unknown kernel/method/normalise/units/decay, NaN
        coordinates, weights of the wrong length or negative, points in a projected CRS other
        than the grid's, ...
    """
    if kernel not in _k.KERNEL_CODES:
        raise InvalidParameterError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if method not in METHODS:
        raise InvalidParameterError(f"method must be one of {METHODS}, got {method!r}")
    if normalise not in NORMALISATIONS:
        raise InvalidParameterError(
            f"normalise must be one of {NORMALISATIONS}, got {normalise!r}"
        )
    if units not in UNITS:
        raise InvalidParameterError(f"units must be one of {tuple(UNITS)}, got {units!r}")
    if decay is not None and decay not in DECAYS:
        raise InvalidParameterError(f"decay must be one of {DECAYS} or None, got {decay!r}")
    if half_life_days is not None and decay != "exponential":
        raise InvalidParameterError("half_life_days is only used with decay='exponential'")
    if grid is not None and not isinstance(grid, Grid):
        raise InvalidParameterError(f"grid must be a geodemand.Grid, got {type(grid).__name__}")
    if grid is not None and cell_size_m is not None:
        raise InvalidParameterError("give either grid or cell_size_m, not both")

    pts = points_xy(points, crs, target_crs=grid.crs if grid is not None else None, what="kde")
    x, y, frame, crs = pts.x, pts.y, pts.frame, pts.crs
    _check_coordinates(x, y)
    n = x.size
    crs = _check_crs(crs, grid)
    w, weight_desc, quantity = _weights(weights, frame, n)

    params: dict[str, Any] = {"kernel": kernel}
    if bandwidth_m is None:
        h, rule = rule_of_thumb_bandwidth(x, y)
        announce(f"bandwidth (search radius) {h:g} m chosen automatically: {rule}")
        params["bandwidth_rule"] = rule
    else:
        h = _positive_float(bandwidth_m, "bandwidth_m", "metres (the search radius)")
        params["bandwidth_rule"] = "given"
    params["bandwidth_m"] = h
    if kernel == "gaussian":
        params["gaussian_sd_m"] = h * GAUSSIAN_SD_FRACTION
        params["gaussian_truncation"] = "at the bandwidth = 3 sd, renormalised"

    ref = None
    if decay is not None:
        age, ref = _ages(age_days, frame, n, reference_date)
        w = w * decay_factors(age, decay, half_life_days)
        quantity = f"time-decayed {quantity}"
    elif age_days is not None or reference_date is not None:
        raise InvalidParameterError("age_days/reference_date are only used with decay")

    if grid is None:
        if n == 0:
            raise InvalidParameterError("no points: pass a grid to get an empty surface")
        if cell_size_m is not None:
            cell_size = _positive_float(cell_size_m, "cell_size_m", "metres")
        else:
            cell_size = Grid.for_points(x, y, crs, None, padding=h).cell_size
        grid = Grid.for_points(x, y, crs, cell_size, padding=h + cell_size)
    cs = grid.cell_size

    chosen, why = _choose_method(method, n, h, grid, kernel=kernel, normalise=normalise)
    if method == "auto":
        announce(f"KDE method '{chosen}' chosen automatically: {why}")

    clip_desc = None
    inside = None
    if clip_to is not None:  # before the density, so a bad study area fails fast
        inside, clip_desc = clip_mask(grid, clip_to)

    density_m2, n_off = _density_per_m2(x, y, w, grid, h, kernel, chosen, normalise)
    label, unit_m2 = UNITS[units]
    density = density_m2
    if unit_m2 != 1.0:
        density *= unit_m2
    n_clipped = 0
    if inside is not None:
        density[~inside] = np.nan
        n_clipped = int((~inside).sum())
    density.setflags(write=False)

    params.update(
        {
            "method": chosen,
            "method_rule": why if method == "auto" else "given",
            "normalise": normalise,
            "cell_size_m": cs,
            "grid_bounds": list(grid.bounds),
            "grid_shape": list(grid.shape),
            "crs": crs,
            "n_points": int(n),
            "n_points_off_grid": int(n_off),
            "weights": weight_desc,
            "total_weight": float(w.sum()),
            "decay": decay,
            "half_life_days": None if half_life_days is None else float(half_life_days),
            "reference_date": ref,
            "clip": clip_desc,
            "n_cells_clipped": n_clipped,
            "units": f"{quantity} per {label}",
            "unit_area_m2": unit_m2,
        }
    )
    return KDEResult(density=density, grid=grid, units=f"{quantity} per {label}", params=params)


def _positive_float(value: Any, name: str, unit: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"{name} must be a number of {unit}, got {value!r}") from exc
    if not (math.isfinite(v) and v > 0):
        raise InvalidParameterError(f"{name} must be a positive number of {unit}, got {value!r}")
    return v


def _footprint_cells(h: float, cs: float) -> float:
    return math.pi * (h / cs) ** 2 + 4.0 * (h / cs) + 1.0


def _choose_method(
    method: str, n: int, h: float, grid: Grid, *, kernel: str = "quartic",
    normalise: str = "discrete",
) -> tuple[str, str]:
    """The method to run and, for "auto", why (see :data:`AUTO_COST_NS` and
    :data:`AUTO_MAX_BINNED_ERROR`)."""
    if method != "auto":
        return method, "given"
    cells_per_h = h / grid.cell_size
    if cells_per_h < AUTO_MIN_BINNED_CELLS:
        return "exact", (
            f"bandwidth {h:g} m is only {cells_per_h:.1f} cells of {grid.cell_size:g} m "
            f"(< {AUTO_MIN_BINNED_CELLS:g}), binning would be too coarse"
        )
    t_exact, t_binned = estimated_seconds(n, h, grid)
    chosen = "exact" if t_exact <= AUTO_EXACT_PREFERENCE * t_binned else "binned"
    why = (
        f"{n:,} points, ~{_footprint_cells(h, grid.cell_size):,.0f} cells per kernel, "
        f"{grid.n_rows:,} x {grid.n_cols:,} grid: estimated exact {t_exact:.2g} s vs binned "
        f"{t_binned:.2g} s (exact preferred up to {AUTO_EXACT_PREFERENCE:g}x slower)"
    )
    if chosen == "binned":
        bound = binning_error_bound(kernel, cells_per_h, normalise)
        if bound > AUTO_MAX_BINNED_ERROR:
            return "exact", why + (
                f"; but binning a point (or a stack of incidents at one map point) can be off "
                f"by {bound:.2%} of the peak with the {kernel} kernel at {cells_per_h:.1f} cells "
                f"per bandwidth (> {AUTO_MAX_BINNED_ERROR:.1%}), so exact"
            )
        why += (
            f"; binning error at most {bound:.2%} of the peak (<= {AUTO_MAX_BINNED_ERROR:.1%})"
        )
    return chosen, why


def binning_error_bound(kernel: str, cells_per_bandwidth: float,
                        normalise: str = "discrete") -> float:
    """Worst-case error of the binned mode as a share of the peak, for one point.

    Measured, not modelled: one point at each of 5 x 5 positions in ``[0, 0.5]²`` of a cell
    (the kernels are symmetric, so these cover every position), binned and exact on the
    same grid; the largest ``max |binned - exact| / max(exact)``. A stack of incidents at one
    map point is binned exactly like one point, so this is the error to expect where many
    incidents share a place (police.uk map points); spread points average their errors out
    and do better. Bandwidths over 64 cells are measured at 64 cells (the error does not grow
    with the bandwidth, so the bound stays conservative). Cached.

    Parameters
    ----------
    kernel : str
        One of :data:`KERNELS`.
    cells_per_bandwidth : float
        Bandwidth divided by the cell size (> 0).
    normalise : {"discrete", "analytic"}
    """
    if kernel not in _k.KERNEL_CODES:
        raise InvalidParameterError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if normalise not in NORMALISATIONS:
        raise InvalidParameterError(
            f"normalise must be one of {NORMALISATIONS}, got {normalise!r}"
        )
    r = _positive_float(cells_per_bandwidth, "cells_per_bandwidth", "cells")
    return _binning_error_bound(kernel, round(min(r, _BOUND_MAX_CELLS), 6), normalise)


@lru_cache(maxsize=128)
def _binning_error_bound(kernel: str, r: float, normalise: str) -> float:
    k = 5
    reach = int(math.ceil(r)) + 3
    block = 2 * reach
    grid = Grid(0.0, 0.0, 1.0, k * block, k * block, "EPSG:27700")
    offsets = np.linspace(0.0, 0.5, k)
    # block (i, j) holds one point, offset (offsets[i], offsets[j]) cells from a cell centre
    ii, jj = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    px = (ii * block + reach + 0.5 + offsets[ii]).ravel().astype(np.float64)
    py = (grid.y_max - (jj * block + reach + 0.5 + offsets[jj])).ravel().astype(np.float64)
    w = np.ones(px.size)
    exact, _ = exact_density(px, py, w, grid, r, kernel, normalise)
    binned, _ = binned_density(px, py, w, grid, r, kernel, normalise)
    worst = 0.0
    for i in range(k):
        for j in range(k):
            sl = (slice(j * block, (j + 1) * block), slice(i * block, (i + 1) * block))
            peak = float(exact[sl].max())
            if peak > 0:
                worst = max(worst, float(np.abs(binned[sl] - exact[sl]).max()) / peak)
    return worst


def estimated_seconds(n: int, h: float, grid: Grid) -> tuple[float, float]:
    """Rough single-thread run times (seconds) of the exact and binned modes."""
    c = AUTO_COST_NS
    cells = grid.n_rows * grid.n_cols
    pad = 2 * (int(h / grid.cell_size) + 1)
    ext_cells = (grid.n_rows + 2 * pad) * (grid.n_cols + 2 * pad)
    t_exact = (n * _footprint_cells(h, grid.cell_size) * c["exact_per_update"]
               + cells * c["exact_per_cell"]) * 1e-9
    t_binned = (n * c["binned_per_point"] + ext_cells * c["binned_per_cell"]) * 1e-9
    return t_exact, t_binned


def _density_per_m2(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, grid: Grid, h: float, kernel: str,
    method: str, normalise: str,
) -> tuple[np.ndarray, int]:
    if method == "exact":
        return exact_density(x, y, w, grid, h, kernel, normalise)
    return binned_density(x, y, w, grid, h, kernel, normalise)


def exact_density(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, grid: Grid, h: float, kernel: str,
    normalise: str = "discrete",
) -> tuple[np.ndarray, int]:
    """Exact KDE per square metre on ``grid`` (see the module doc) and the number of points
    whose kernel cannot reach the grid."""
    cs = grid.cell_size
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    w = np.ascontiguousarray(w, dtype=np.float64)
    reach = int(math.ceil(h / cs)) + 1
    xs, ys, ws, row_start = _k.sort_by_row(
        x, y, w, grid.x_min, grid.y_max, cs, grid.n_rows, grid.n_cols, reach
    )
    n_use = xs.size
    n_off = int(x.size - n_use)
    if n_use == 0:
        return np.zeros(grid.shape), n_off
    n_chunks = max(1, min(_MAX_CHUNKS, -(-n_use // _POINTS_PER_CHUNK)))
    bounds = np.linspace(0, n_use, n_chunks + 1).round().astype(np.int64)
    # row of the first and last point of each chunk (row_start is indexed by row + reach)
    first = np.searchsorted(row_start, bounds[:-1], side="right") - 1 - reach
    last = np.searchsorted(row_start, np.maximum(bounds[1:] - 1, bounds[:-1]), side="right")
    last = last - 1 - reach
    # a point in row r writes rows r - reach .. r + reach; one more row each side guards
    # against rounding differences between the row used for sorting and the window
    row_lo = np.clip(first - reach - 1, 0, grid.n_rows).astype(np.int64)
    row_hi = np.clip(last + reach + 2, 0, grid.n_rows).astype(np.int64)
    empty = bounds[1:] == bounds[:-1]
    row_hi[empty] = row_lo[empty]
    sizes = (row_hi - row_lo) * grid.n_cols
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    scale_const = ANALYTIC_CONSTANTS[kernel] / (h * h)
    if h <= cs:  # a point may have no cell centre within h: it needs its own cell
        home_row, home_col, on_grid = grid.cell_index(xs, ys)
        home_row = np.where(on_grid, home_row, -1).astype(np.int64)
        home_col = home_col.astype(np.int64)
    else:
        home_row = home_col = np.empty(0, dtype=np.int64)
    out = _k.kde_exact(
        xs, ys, ws, bounds, row_lo, row_hi, offsets, grid.x_min, grid.y_max, cs,
        grid.n_rows, grid.n_cols, float(h), _k.KERNEL_CODES[kernel], normalise == "discrete",
        scale_const, home_row, home_col,
    )
    return out, n_off


def kernel_stencil(h: float, cs: float, kernel: str, normalise: str) -> np.ndarray:
    """The kernel sampled at cell-centre offsets within ``h`` (per m² per unit weight).

    Shape ``(2R + 1, 2R + 1)`` with ``R = floor(h / cs)``; ``"discrete"`` rescales it to sum
    to ``1 / cell area``.
    """
    r = int(math.floor(h / cs))
    off = np.arange(-r, r + 1) * cs
    d2 = off[:, None] ** 2 + off[None, :] ** 2
    u2 = d2 / (h * h)
    inside = d2 < h * h
    u2 = np.where(inside, u2, 0.0)
    prof = {
        "quartic": lambda u: (1.0 - u) ** 2,
        "epanechnikov": lambda u: 1.0 - u,
        "triangular": lambda u: 1.0 - np.sqrt(u),
        "uniform": lambda u: np.ones_like(u),
        "gaussian": lambda u: np.exp(-0.5 / GAUSSIAN_SD_FRACTION**2 * u),
    }[kernel](u2)
    stencil = np.where(inside, prof, 0.0)
    if normalise == "discrete":
        return stencil / (stencil.sum() * cs * cs)
    return stencil * (ANALYTIC_CONSTANTS[kernel] / (h * h))


@lru_cache(maxsize=4)
def _stencil_spectrum(
    h: float, cs: float, kernel: str, normalise: str, shape: tuple[int, int]
) -> np.ndarray:
    """Real FFT of the stencil zero-padded to ``shape`` (cached: repeated runs reuse it)."""
    from scipy import fft

    spec = fft.rfft2(kernel_stencil(h, cs, kernel, normalise), shape, workers=-1)
    spec.setflags(write=False)
    return spec


def binned_density(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, grid: Grid, h: float, kernel: str,
    normalise: str = "discrete",
) -> tuple[np.ndarray, int]:
    """Binned KDE per square metre: linear binning + FFT convolution (see the module doc)."""
    from scipy import fft

    cs = grid.cell_size
    stencil = kernel_stencil(h, cs, kernel, normalise)
    r = stencil.shape[0] // 2
    pad = r + 1
    n_rows_ext = grid.n_rows + 2 * pad
    n_cols_ext = grid.n_cols + 2 * pad
    # FFT size: the padded grid plus the stencil radius (linear, not circular, convolution)
    shape = (fft.next_fast_len(n_rows_ext + 2 * r, real=True),
             fft.next_fast_len(n_cols_ext + 2 * r, real=True))
    n_blocks = _BIN_BLOCKS if shape[0] * shape[1] <= _BIN_BLOCK_MAX_CELLS else 1
    binned, skipped = _k.linear_bin(
        np.ascontiguousarray(x, dtype=np.float64), np.ascontiguousarray(y, dtype=np.float64),
        np.ascontiguousarray(w, dtype=np.float64), grid.x_min, grid.y_max, cs, pad,
        n_rows_ext, n_cols_ext, shape[0], shape[1], n_blocks,
    )
    if r == 0:
        full = binned * stencil[0, 0]
    else:
        spec = fft.rfft2(binned, workers=-1)
        spec *= _stencil_spectrum(h, cs, kernel, normalise, shape)
        conv = fft.irfft2(spec, shape, workers=-1)
        full = conv[r:r + n_rows_ext, r:r + n_cols_ext]
    out = np.ascontiguousarray(full[pad:pad + grid.n_rows, pad:pad + grid.n_cols])
    # FFT round-off leaves tiny values (also negative ones) where the density is zero
    out[out <= 1e-12 * float(out.max(initial=0.0))] = 0.0
    return out, int(skipped)


# ---------------------------------------------------------------------------- partitions
def kde_partitioned(
    parts: Any,
    grid: Grid,
    *,
    bandwidth_m: float,
    kernel: str = "quartic",
    weights: Any = None,
    decay: str | None = None,
    half_life_days: float | None = None,
    reference_date: Any = None,
    method: str = "exact",
    normalise: str = "discrete",
    clip_to: Any = None,
    units: str = "per_km2",
    map_fn: Any = map,
) -> KDEResult:
    """Kernel density as the sum of the surfaces of point partitions.

    Each partition's surface is :func:`kde` of its points on the shared ``grid``; every
    point adds its own kernel, so the sum equals one :func:`kde` call over all points up to
    floating-point rounding (checked in the tests to 1e-9 of the peak, and in mass). The
    partitions can be computed anywhere: ``map_fn`` runs the per-partition function (the
    built-in ``map`` in this process; on Dask ``lambda f, xs:
    client.gather(client.map(f, xs))``), and the surfaces are added in partition order.

    Parameters
    ----------
    parts : sequence
        Point partitions, each anything :func:`kde` takes (a DataFrame with ``x``, ``y``
        in metres and the weight columns, an IncidentTable, an (n, 2) array). With
        ``decay``, each needs ``occurred`` (or give the ages through ``weights``).
    grid : Grid
        The shared raster frame (required: partitions must agree on it).
    bandwidth_m : float
        Search radius in metres (required: an automatic bandwidth would differ per
        partition).
    kernel, weights, decay, half_life_days, normalise, clip_to, units
        As :func:`kde`.
    reference_date : date-like
        Required with ``decay`` (a common reference for every partition).
    method : {"exact", "binned", "auto"}
        ``"auto"`` is decided once from the total number of points, so every partition uses
        the same method.
    map_fn : callable(function, iterable) -> iterable
        Runs the per-partition function over ``parts``.

    Returns
    -------
    KDEResult
        As :func:`kde` over all points; ``params["partitions"]`` is the number of
        partitions.
    """
    from functools import partial

    if not isinstance(grid, Grid):
        raise InvalidParameterError(
            f"grid: kde_partitioned needs the shared Grid, got {type(grid).__name__}"
        )
    if bandwidth_m is None:
        raise InvalidParameterError("bandwidth_m: kde_partitioned needs the search radius")
    if decay is not None and reference_date is None:
        raise InvalidParameterError(
            "reference_date: with decay, give the common reference date of all partitions"
        )
    parts = list(parts)
    if not parts:
        raise InvalidParameterError("parts: no partitions given")
    if method not in METHODS:
        raise InvalidParameterError(f"method must be one of {METHODS}, got {method!r}")
    if units not in UNITS:
        raise InvalidParameterError(f"units must be one of {tuple(UNITS)}, got {units!r}")
    h = _positive_float(bandwidth_m, "bandwidth_m", "metres (the search radius)")
    n_total = int(sum(_n_points(p) for p in parts))
    chosen, why = _choose_method(method, n_total, h, grid, kernel=kernel, normalise=normalise)
    if method == "auto":
        announce(f"KDE method '{chosen}' chosen automatically: {why}")
    one = partial(
        _partition_density, grid=grid, bandwidth_m=h, kernel=kernel, weights=weights,
        decay=decay, half_life_days=half_life_days, reference_date=reference_date,
        method=chosen, normalise=normalise,
    )
    results = list(map_fn(one, parts))
    total = np.zeros(grid.shape)
    for r in results:
        total += r.density
    first = results[0].params
    label, unit_m2 = UNITS[units]
    if unit_m2 != 1.0:
        total *= unit_m2
    clip_desc, n_clipped = None, 0
    if clip_to is not None:
        inside, clip_desc = clip_mask(grid, clip_to)
        total[~inside] = np.nan
        n_clipped = int((~inside).sum())
    total.setflags(write=False)
    quantity = first["units"].rsplit(" per ", 1)[0]
    params = dict(first)
    params.update(
        {
            "method": chosen,
            "method_rule": why if method == "auto" else "given",
            "n_points": int(sum(r.params["n_points"] for r in results)),
            "n_points_off_grid": int(sum(r.params["n_points_off_grid"] for r in results)),
            "total_weight": float(sum(r.params["total_weight"] for r in results)),
            "clip": clip_desc,
            "n_cells_clipped": n_clipped,
            "units": f"{quantity} per {label}",
            "unit_area_m2": unit_m2,
            "partitions": len(results),
        }
    )
    return KDEResult(density=total, grid=grid, units=params["units"], params=params)


def _n_points(part: Any) -> int:
    frame = getattr(part, "frame", part)
    return int(len(frame) if hasattr(frame, "__len__") else np.asarray(frame).shape[0])


def _partition_density(part: Any, **kwargs) -> KDEResult:
    """One partition's surface per square metre (the grid and parameters are shared)."""
    return kde(part, kwargs.pop("grid"), units="per_m2", **kwargs)


# ---------------------------------------------------------------------------- clipping
def clip_mask(grid: Grid, clip_to: Any) -> tuple[np.ndarray, str]:
    """Cells whose centre lies inside ``clip_to`` (True) and a description for params.

    Uses GDAL's rasterisation rule (a cell is inside when its centre is inside the
    polygon).
    """
    import shapely
    from rasterio.features import geometry_mask

    geoms = _clip_geometries(grid, clip_to)
    if not geoms:
        raise InvalidParameterError("clip_to holds no (non-empty) polygon")
    for g in geoms:
        if g.geom_type not in ("Polygon", "MultiPolygon", "GeometryCollection"):
            raise InvalidParameterError(
                f"clip_to must hold polygons, found a {g.geom_type}"
            )
    inside = geometry_mask(geoms, out_shape=grid.shape, transform=grid.transform, invert=True)
    area_km2 = sum(shapely.area(g) for g in geoms) / 1e6
    return inside, f"{len(geoms)} polygon(s), {area_km2:,.1f} km², cell centre inside"


def _clip_geometries(grid: Grid, clip_to: Any) -> list:
    import shapely

    if hasattr(clip_to, "geometry") and hasattr(clip_to, "crs"):  # GeoDataFrame / GeoSeries
        series = clip_to.geometry
        if series.crs is not None and not _same_crs(series.crs.to_string(), grid.crs):
            announce(f"clip_to reprojected from {series.crs.to_string()} to {grid.crs}")
            series = series.to_crs(grid.crs)
        geoms = list(series)
    elif isinstance(clip_to, shapely.Geometry):
        geoms = [clip_to]
    elif isinstance(clip_to, list | tuple):
        geoms = list(clip_to)
    else:
        raise InvalidParameterError(
            "clip_to must be a shapely geometry, a GeoSeries or a GeoDataFrame"
        )
    return [g for g in geoms if g is not None and not g.is_empty]
