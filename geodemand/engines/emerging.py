"""Emerging hot spots: a space-time cube, Gi* per period, Mann–Kendall trends, patterns.

The steps (:func:`emerging_hotspots`):

1. **Cube.** Incidents are counted per grid cell and period (:func:`space_time_cube`):
   ``period="week"`` (Monday 00:00 to the next Monday, ISO weeks) or ``"month"`` (calendar
   months). Periods run from ``start`` (default: the period holding the earliest incident)
   to ``end`` (exclusive; default: the end of the period holding the latest incident).
2. **Gi* per period.** :func:`geodemand.engines.hotspots.gistar` on each time slice separately, with
   the same spatial neighbourhood, mask and multiple-testing correction (BH q-values within
   each slice). The neighbourhood is **spatial only**: unlike ArcGIS, which can add the same
   cells in earlier time steps ("neighborhood time step"), no time neighbours are used. A
   slice in which every cell has the same count (e.g. a week with no incidents) has no
   variation, so Gi* is undefined there: its cells get ``z = 0`` and are neither hot nor
   cold; such periods are announced and listed in ``params["constant_periods"]``.
   A cell is a **hot spot** in a period when ``q <= alpha`` and it is high (``z > 0``, or the
   upper tail with permutations), a **cold spot** when ``q <= alpha`` and low. The default
   ``alpha = 0.10`` counts every non-zero ArcGIS bin (90 % confidence or more).
3. **Trend.** The Mann–Kendall test on each cell's series of Gi* z-scores (as ArcGIS does):
   ``S = Σ_{i<j} sgn(z_j − z_i)``, ``Var(S) = [T(T−1)(2T+5) − Σ_g t_g(t_g−1)(2t_g+5)] / 18``
   (``t_g`` the sizes of groups of tied values), continuity-corrected
   ``Z = (S − sgn S) / sqrt(Var S)`` (0 when S = 0) and a two-sided normal p-value. The trend
   is significant up (down) when ``p <= trend_alpha`` and ``Z > 0`` (``< 0``).
4. **Patterns** (:func:`classify_patterns`), after ArcGIS Pro's "How Emerging Hot Spot
   Analysis works". With ``T`` periods, ``H`` hot periods, ``C`` cold periods, "90 %"
   meaning ``H >= 0.9 T`` (``10 H >= 9 T`` in integers) and "final" the last period:

   ==  ======================  ==========================================================
   1   new hot spot            hot in the final period and in no other period
   2   consecutive hot spot    a single run of >= 2 hot periods ending with the final one,
                               never hot before the run, and ``H < 0.9 T``
   3   intensifying hot spot   ``H >= 0.9 T``, hot in the final period, significant upward
                               trend
   4   persistent hot spot     ``H >= 0.9 T``, no significant trend either way
   5   diminishing hot spot    ``H >= 0.9 T``, hot in the final period, significant
                               downward trend
   6   sporadic hot spot       hot in the final period, ``H < 0.9 T``, never cold (an
                               on-and-off hot spot: new and consecutive are caught first)
   7   oscillating hot spot    hot in the final period, ``H < 0.9 T``, cold in at least one
                               earlier period
   8   historical hot spot     not hot in the final period, ``H >= 0.9 T`` (with a
                               significant trend; without one it is persistent)
   0   no pattern detected     none of the sixteen rules
   ==  ======================  ==========================================================

   Cold patterns ``-1 .. -8`` mirror these with cold for hot and the trend directions
   swapped (an intensifying cold spot has a significant *downward* trend in z). The rules are
   evaluated in a fixed order and the first match wins: new hot, new cold, consecutive hot,
   consecutive cold, intensifying hot, intensifying cold, persistent hot, persistent cold,
   diminishing hot, diminishing cold, sporadic hot, sporadic cold, oscillating hot,
   oscillating cold, historical hot, historical cold. (So a cell cold only in the final
   period is a new cold spot even if it was hot before, and a cell hot in >= 90 % of periods
   without trend but not in the final one is persistent rather than historical.)

Simpler classes (:func:`classify_simple`), after sfhotspot's ``hotspot_classify``: with
``r = max(1, floor(recent_prop T))`` recent periods and the ``T − r`` earlier ones, and
shares of hot periods overall / recent / earlier: **persistent** if the overall share
``>= persistent_prop``; else **emerging** if the earlier share ``< hotspot_prop`` and the
recent share ``>= recent_prop``; else **former** if the earlier share ``>= hotspot_prop``
and the recent share ``< hotspot_prop``; else **intermittent** if the overall share
``>= hotspot_prop``; else none. The same for cold spots; a cell with both a hot and a cold
class is "mixed hot/cold spot". (sfhotspot's code counts ``r + 1`` periods as recent while
dividing by ``r``; here exactly the last ``r`` periods are recent.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

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
from geodemand._kernels import trend as _trend
from geodemand.engines.hotspots import (
    CORRECTIONS,
    DEFAULT_LEVELS,
    _check_choice,
    _check_levels,
    _check_permutations,
    _check_seed,
    _incident_weights,
    gistar,
)
from geodemand.errors import InvalidParameterError
from geodemand.grid import Grid

#: Pattern codes (ArcGIS's CATEGORY numbering) and names.
PATTERNS = {
    1: "new hot spot",
    2: "consecutive hot spot",
    3: "intensifying hot spot",
    4: "persistent hot spot",
    5: "diminishing hot spot",
    6: "sporadic hot spot",
    7: "oscillating hot spot",
    8: "historical hot spot",
    -1: "new cold spot",
    -2: "consecutive cold spot",
    -3: "intensifying cold spot",
    -4: "persistent cold spot",
    -5: "diminishing cold spot",
    -6: "sporadic cold spot",
    -7: "oscillating cold spot",
    -8: "historical cold spot",
    0: "no pattern detected",
}
#: Simple (sfhotspot-style) class names.
SIMPLE_PATTERNS = (
    "persistent hot spot", "emerging hot spot", "former hot spot", "intermittent hot spot",
    "persistent cold spot", "emerging cold spot", "former cold spot", "intermittent cold spot",
    "mixed hot/cold spot", "no pattern",
)
#: Quick-look colours (code, label, colour): the hot patterns, and all cold patterns as -1.
PATTERN_COLOURS = (
    (1, "new", "#fee391"), (2, "consecutive", "#fec44f"), (3, "intensifying", "#d7301f"),
    (4, "persistent", "#993404"), (5, "diminishing", "#fdae6b"), (6, "sporadic", "#f768a1"),
    (7, "oscillating", "#ae017e"), (8, "historical", "#bdbdbd"), (-1, "cold spot", "#6baed6"),
)
PERIODS = ("week", "month")
#: Minimum number of periods (ArcGIS asks for at least ten; fewer are allowed but announced).
MIN_PERIODS = 3
RECOMMENDED_PERIODS = 10


# ---------------------------------------------------------------------------- cube
@dataclass(frozen=True)
class SpaceTimeCube:
    """Counts per period and cell.

    Attributes
    ----------
    counts : ndarray of float64, shape (T, n_rows, n_cols)
        Incidents (or summed weights) per period and cell; period 0 is the earliest.
    period_starts : DatetimeIndex
        Start of each period (inclusive).
    period_end : Timestamp
        End of the last period (exclusive).
    period : str
        ``"week"`` or ``"month"``.
    grid : Grid
    params : dict
    """

    counts: np.ndarray
    period_starts: pd.DatetimeIndex
    period_end: pd.Timestamp
    period: str
    grid: Grid
    params: dict[str, Any] = field(default_factory=dict)


def space_time_cube(
    incidents: Any,
    *,
    grid: Grid,
    period: str = "week",
    start: Any = None,
    end: Any = None,
    weights: Any = None,
) -> SpaceTimeCube:
    """Count incidents per grid cell and period (week or calendar month).

    Parameters
    ----------
    incidents : IncidentTable or DataFrame
        Needs ``x``, ``y`` (metres, grid CRS) and ``occurred`` (datetime). With
        ``period="week"`` no incident may have ``date_precision == "month"``.
    grid : Grid
    period : {"week", "month"}
    start, end : date-like, optional
        First period start (snapped back to a Monday / the 1st of the month) and exclusive end
        (snapped forward to a period boundary). Defaults: the periods holding the earliest
        and the latest incident. Incidents outside ``[start, end)`` or off the grid are not
        counted (announced).
    weights : str or array, optional
        Column name or per-incident weights (weighted counts).
    """
    period = _check_choice(period, PERIODS, "period")
    frame = getattr(incidents, "frame", incidents)
    if not isinstance(frame, pd.DataFrame):
        raise InvalidParameterError("incidents must be an IncidentTable or a DataFrame")
    missing = [c for c in ("x", "y", "occurred") if c not in frame.columns]
    if missing:
        raise InvalidParameterError(
            f"incident table lacks column(s) {missing}; needs x, y (metres) and occurred"
        )
    if period == "week" and "date_precision" in frame.columns:
        monthly = int((frame["date_precision"] == "month").sum())
        if monthly:
            raise InvalidParameterError(
                f"period='week' needs day-precise dates, but {monthly:,} incident(s) have "
                "date_precision 'month' (e.g. police.uk street data); use period='month'"
            )
    occurred = pd.to_datetime(frame["occurred"])
    if getattr(occurred.dt, "tz", None) is not None:  # local wall-clock time, as recorded
        occurred = occurred.dt.tz_localize(None)
    if occurred.isna().any():
        raise InvalidParameterError(
            f"{int(occurred.isna().sum())} incident(s) have no 'occurred' date; drop them first"
        )
    if len(frame) == 0:
        raise InvalidParameterError("no incidents to build a space-time cube from")
    first = _period_floor(pd.Timestamp(start) if start is not None else occurred.min(), period)
    if end is not None:
        end_ts = pd.Timestamp(end)
        last_start = _period_floor(end_ts, period)
        stop = last_start if last_start == end_ts else _next(last_start, period)
    else:
        stop = _next(_period_floor(occurred.max(), period), period)
    starts = _period_starts(first, stop, period)
    if len(starts) == 0:
        raise InvalidParameterError(f"empty time window: start {first} is not before end {stop}")
    edges = np.append(starts.values, np.datetime64(stop, "ns"))
    t = np.searchsorted(edges, occurred.to_numpy(dtype="datetime64[ns]"), side="right") - 1
    in_time = (t >= 0) & (t < len(starts))
    x = frame["x"].to_numpy(dtype=np.float64)
    y = frame["y"].to_numpy(dtype=np.float64)
    rows, cols, inside = grid.cell_index(x, y)
    keep = in_time & inside
    w = _incident_weights(frame, weights)
    dropped_time = int((~in_time).sum())
    dropped_space = int((in_time & ~inside).sum())
    if dropped_time:
        announce(f"{dropped_time:,} incident(s) fall outside {first:%Y-%m-%d} .. {stop:%Y-%m-%d} "
                 "and are not counted")
    if dropped_space:
        announce(f"{dropped_space:,} incident(s) fall off the grid and are not counted")
    n_cells = grid.n_rows * grid.n_cols
    flat = t[keep] * n_cells + rows[keep] * grid.n_cols + cols[keep]
    counts = np.bincount(flat, weights=None if w is None else w[keep],
                         minlength=len(starts) * n_cells).astype(np.float64)
    counts = counts.reshape(len(starts), grid.n_rows, grid.n_cols)
    announce(f"space-time cube: {len(starts)} {period}ly periods from {first:%Y-%m-%d} to "
             f"{stop:%Y-%m-%d} (end exclusive), {grid.n_rows} x {grid.n_cols} cells of "
             f"{grid.cell_size:g} m")
    params = {
        "period": period,
        "n_periods": int(len(starts)),
        "start": str(first),
        "end_exclusive": str(stop),
        "n_incidents_counted": int(keep.sum()),
        "n_outside_window": dropped_time,
        "n_off_grid": dropped_space,
        "weights": None if weights is None else (weights if isinstance(weights, str)
                                                 else "array"),
    }
    return SpaceTimeCube(counts, starts, stop, period, grid, params)


def _period_floor(ts: pd.Timestamp, period: str) -> pd.Timestamp:
    ts = pd.Timestamp(ts)
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    day = ts.normalize()
    if period == "week":
        return day - pd.Timedelta(days=day.weekday())
    return day.replace(day=1)


def _next(ts: pd.Timestamp, period: str) -> pd.Timestamp:
    return ts + (pd.Timedelta(days=7) if period == "week" else pd.DateOffset(months=1))


def _period_starts(first: pd.Timestamp, stop: pd.Timestamp, period: str) -> pd.DatetimeIndex:
    freq = "7D" if period == "week" else "MS"
    starts = pd.date_range(first, stop, freq=freq, inclusive="left")
    return pd.DatetimeIndex(starts)


# ---------------------------------------------------------------------------- trend test
def mann_kendall(series: np.ndarray, axis: int = 0) -> dict[str, np.ndarray]:
    """Mann–Kendall trend test along ``axis``, vectorised over the other axes.

    Parameters
    ----------
    series : ndarray
        Values in time order along ``axis`` (at least 2 of them); no NaN.

    Returns
    -------
    dict of ndarrays
        ``s`` (the statistic ``Σ_{i<j} sgn(x_j − x_i)``), ``var_s`` (with the tie
        correction), ``z`` (continuity corrected; 0 where ``S = 0`` or ``Var S = 0``) and
        ``p`` (two-sided normal p-value).
    """
    x = np.moveaxis(np.asarray(series, dtype=np.float64), axis, 0)
    t_len = x.shape[0]
    if t_len < 2:
        raise InvalidParameterError(f"Mann-Kendall needs at least 2 periods, got {t_len}")
    if np.isnan(x).any():
        raise InvalidParameterError("Mann-Kendall series contain NaN")
    flat = np.ascontiguousarray(x.reshape(t_len, math.prod(x.shape[1:])))
    s, ties = _trend.mann_kendall_s_ties(flat)
    s = s.reshape(x.shape[1:])
    ties = ties.reshape(x.shape[1:])
    var_s = (t_len * (t_len - 1) * (2 * t_len + 5) - ties) / 18.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(s > 0, (s - 1) / np.sqrt(var_s), np.where(s < 0, (s + 1) / np.sqrt(var_s),
                                                               0.0))
    z = np.where(var_s > 0, z, 0.0)
    p = 2.0 * special.ndtr(-np.abs(z))
    return {"s": s, "var_s": var_s, "z": z, "p": p}


# ---------------------------------------------------------------------------- patterns
def classify_patterns(
    hot: np.ndarray,
    cold: np.ndarray,
    trend_z: np.ndarray,
    trend_p: np.ndarray,
    trend_alpha: float = 0.05,
) -> np.ndarray:
    """ArcGIS-style emerging hot-spot pattern code per location (see the module docstring).

    Parameters
    ----------
    hot, cold : ndarray of bool, shape (T, ...)
        Significant hot / cold spot in each period (never both).
    trend_z, trend_p : ndarray, shape (...)
        Mann–Kendall Z and two-sided p of each location's Gi* series.
    trend_alpha : float
        Significance level of the trend.

    Returns
    -------
    ndarray of int8, shape (...)
        Codes of :data:`PATTERNS` (1..8 hot, −1..−8 cold, 0 none).
    """
    hot = np.asarray(hot, dtype=bool)
    cold = np.asarray(cold, dtype=bool)
    if hot.shape != cold.shape or hot.ndim < 1:
        raise InvalidParameterError("hot and cold must have the same shape (T, ...)")
    if (hot & cold).any():
        raise InvalidParameterError("a period cannot be both a hot and a cold spot")
    trend_z = np.asarray(trend_z, dtype=np.float64)
    trend_p = np.asarray(trend_p, dtype=np.float64)
    if trend_z.shape != hot.shape[1:] or trend_p.shape != hot.shape[1:]:
        raise InvalidParameterError("trend_z and trend_p must have the shape of one period")
    if not 0 < trend_alpha < 1:
        raise InvalidParameterError(f"trend_alpha must be in (0, 1), got {trend_alpha!r}")
    significant = trend_p <= trend_alpha
    up = significant & (trend_z > 0)
    down = significant & (trend_z < 0)
    no_trend = ~significant
    rules: list[tuple[int, np.ndarray]] = []
    hot_rules = _rules(hot, cold, rising=up, falling=down, no_trend=no_trend)
    cold_rules = _rules(cold, hot, rising=down, falling=up, no_trend=no_trend)
    for rank in range(8):
        rules.append((rank + 1, hot_rules[rank]))
        rules.append((-(rank + 1), cold_rules[rank]))
    code = np.zeros(hot.shape[1:], dtype=np.int8)
    done = np.zeros(hot.shape[1:], dtype=bool)
    for value, match in rules:
        take = match & ~done
        code[take] = value
        done |= take
    return code


def _rules(spot, other, *, rising, falling, no_trend) -> list[np.ndarray]:
    """The eight rules (new .. historical) for one kind of spot, in evaluation order."""
    t_len = spot.shape[0]
    n_spot = spot.sum(axis=0)
    n_other = other.sum(axis=0)
    final = spot[-1]
    mostly = 10 * n_spot >= 9 * t_len
    run = _final_run(spot)
    return [
        final & (n_spot == 1),                                   # new
        final & (run >= 2) & (n_spot == run) & ~mostly,          # consecutive
        mostly & final & rising,                                 # intensifying
        mostly & no_trend,                                       # persistent
        mostly & final & falling,                                # diminishing
        final & ~mostly & (n_other == 0),                        # sporadic
        final & ~mostly & (n_other > 0),                         # oscillating
        mostly & ~final,                                         # historical
    ]


def _final_run(flags: np.ndarray) -> np.ndarray:
    """Length of the run of True values that ends with the last period."""
    alive = np.ones(flags.shape[1:], dtype=bool)
    run = np.zeros(flags.shape[1:], dtype=np.int64)
    for k in range(flags.shape[0] - 1, -1, -1):
        alive &= flags[k]
        run += alive
    return run


def classify_simple(
    hot: np.ndarray,
    cold: np.ndarray,
    *,
    hotspot_prop: float = 0.1,
    persistent_prop: float = 0.8,
    recent_prop: float = 0.2,
) -> np.ndarray:
    """sfhotspot-style classes (persistent / emerging / former / intermittent / none).

    See the module docstring for the rules. Returns an object array of names from
    :data:`SIMPLE_PATTERNS` with the shape of one period.
    """
    hot = np.asarray(hot, dtype=bool)
    cold = np.asarray(cold, dtype=bool)
    if hot.shape != cold.shape or hot.ndim < 1:
        raise InvalidParameterError("hot and cold must have the same shape (T, ...)")
    for name, value in (("hotspot_prop", hotspot_prop), ("persistent_prop", persistent_prop),
                        ("recent_prop", recent_prop)):
        if not 0 < value <= 1:
            raise InvalidParameterError(f"{name} must be in (0, 1], got {value!r}")
    t_len = hot.shape[0]
    recent = max(1, int(np.floor(recent_prop * t_len + 1e-9)))
    if t_len - recent < 1:
        raise InvalidParameterError(
            f"{t_len} period(s) leave no earlier period before the {recent} recent one(s)"
        )
    hot_class = _simple_one(hot, recent, hotspot_prop, persistent_prop, recent_prop, "hot")
    cold_class = _simple_one(cold, recent, hotspot_prop, persistent_prop, recent_prop, "cold")
    out = np.where(hot_class != "", hot_class, cold_class)
    out = np.where((hot_class != "") & (cold_class != ""), "mixed hot/cold spot", out)
    out = np.where(out == "", "no pattern", out)
    return out.astype(object)


def _simple_one(spot, recent, hotspot_prop, persistent_prop, recent_prop, kind):
    t_len = spot.shape[0]
    tol = 1e-9
    share_all = spot.sum(axis=0) / t_len
    share_recent = spot[t_len - recent:].sum(axis=0) / recent
    share_early = spot[: t_len - recent].sum(axis=0) / (t_len - recent)
    persistent = share_all >= persistent_prop - tol
    emerging = (share_early < hotspot_prop - tol) & (share_recent >= recent_prop - tol)
    former = (share_early >= hotspot_prop - tol) & (share_recent < hotspot_prop - tol)
    intermittent = share_all >= hotspot_prop - tol
    return np.select(
        [persistent, emerging, former, intermittent],
        [f"persistent {kind} spot", f"emerging {kind} spot", f"former {kind} spot",
         f"intermittent {kind} spot"],
        default="",
    )


# ---------------------------------------------------------------------------- result
@dataclass(frozen=True)
class EmergingResult:
    """Emerging hot-spot analysis of a space-time cube.

    Per-period arrays have shape ``(T, n_rows, n_cols)``, per-cell arrays ``(n_rows,
    n_cols)``; cells outside ``mask`` are NaN / 0 / ``""``.

    Attributes
    ----------
    counts : ndarray (T, n_rows, n_cols)
        The cube.
    period_starts : DatetimeIndex
        Start of each period.
    z, q : ndarray (T, n_rows, n_cols)
        Gi* z-score and corrected p-value per period.
    bin : ndarray of int8 (T, n_rows, n_cols)
        ArcGIS-style bins per period.
    hot, cold : ndarray of bool (T, n_rows, n_cols)
        Significant hot / cold spot per period (``q <= alpha``).
    trend_s, trend_z, trend_p : ndarray (n_rows, n_cols)
        Mann–Kendall statistic, continuity-corrected Z and two-sided p of the Gi* series.
    pattern_code : ndarray of int8 (n_rows, n_cols)
        ArcGIS pattern code (:data:`PATTERNS`).
    pattern : ndarray of object (n_rows, n_cols)
        Pattern name.
    simple_pattern : ndarray of object (n_rows, n_cols)
        sfhotspot-style class.
    mask : ndarray of bool
    grid : Grid or None
    params : dict
    """

    counts: np.ndarray
    period_starts: pd.DatetimeIndex | None
    z: np.ndarray
    q: np.ndarray
    bin: np.ndarray
    hot: np.ndarray
    cold: np.ndarray
    trend_s: np.ndarray
    trend_z: np.ndarray
    trend_p: np.ndarray
    pattern_code: np.ndarray
    pattern: np.ndarray
    simple_pattern: np.ndarray
    mask: np.ndarray
    grid: Grid | None
    params: dict[str, Any] = field(default_factory=dict)

    def to_geodataframe(self, include_no_pattern: bool = True):
        """Analysed cells with documented columns.

        Columns: ``row``, ``col``; ``total_count`` (incidents over all periods);
        ``final_count`` (last period); ``n_hot``, ``n_cold`` (periods as a significant hot
        / cold spot); ``final_bin`` (bin of the last period); ``trend_s``, ``trend_z``,
        ``trend_p`` (Mann–Kendall on the Gi* series); ``pattern_code``, ``pattern`` (ArcGIS
        categories); ``simple_pattern`` (sfhotspot-style); geometry (cell squares).
        ``attrs["params"]`` holds the parameters.
        """
        if self.grid is None:
            raise InvalidParameterError("this result has no grid; pass grid= to get polygons")
        keep = self.mask.copy()
        if not include_no_pattern:
            keep &= self.pattern_code != 0
        gdf = self.grid.to_geodataframe(mask=keep)
        gdf["total_count"] = self.counts.sum(axis=0)[keep]
        gdf["final_count"] = self.counts[-1][keep]
        gdf["n_hot"] = self.hot.sum(axis=0)[keep]
        gdf["n_cold"] = self.cold.sum(axis=0)[keep]
        gdf["final_bin"] = self.bin[-1][keep]
        gdf["trend_s"] = self.trend_s[keep]
        gdf["trend_z"] = self.trend_z[keep]
        gdf["trend_p"] = self.trend_p[keep]
        gdf["pattern_code"] = self.pattern_code[keep]
        gdf["pattern"] = self.pattern[keep]
        gdf["simple_pattern"] = self.simple_pattern[keep]
        gdf = gdf[[c for c in gdf.columns if c != "geometry"] + ["geometry"]]
        gdf.attrs["params"] = dict(self.params)
        return gdf

    def raster_layer(self, layer: str = "pattern_code") -> tuple[np.ndarray, str, dict]:
        """The pattern codes (−8..8, float32, NaN outside the mask) for a raster writer.

        Returns ``(array, description, tags)``.
        """
        if self.grid is None:
            raise InvalidParameterError("this result has no grid; cannot make a raster")
        if layer != "pattern_code":
            raise InvalidParameterError(f"layer must be 'pattern_code', got {layer!r}")
        array = self.pattern_code.astype(np.float32)
        array[~self.mask] = np.nan
        tags = {"pattern_codes": {str(k): v for k, v in PATTERNS.items()}, **self.params}
        return array, "emerging hot-spot pattern code", tags

    def _facts(self) -> dict[str, Any]:
        codes = self.pattern_code[self.mask]
        facts: dict[str, Any] = {
            "periods": f"{self.counts.shape[0]} "
            + (f"{self.params['period']}s" if self.params.get("period") in PERIODS
               else "periods"),
            "cells analysed": int(self.mask.sum()),
        }
        for code in (1, 2, 3, 4, 5, 6, 7, 8):
            n = int((codes == code).sum())
            if n:
                facts[PATTERNS[code]] = n
        facts["cold-spot patterns"] = int((codes < 0).sum())
        return facts

    def __repr__(self) -> str:
        return text_summary("EmergingResult", self._facts(), self.params)

    def _repr_html_(self) -> str:
        return html_summary("EmergingResult (emerging hot spots)", self._facts(), self.params)

    def plot(self, ax: Any = None) -> Any:
        """Quick look at the hot-spot pattern of each cell (cold patterns grouped); returns
        the matplotlib Axes."""
        grid = require_grid(self.grid, "EmergingResult.plot")
        codes = np.where(self.mask, self.pattern_code, np.nan).astype(np.float64)
        codes[codes < 0] = -1
        return plot_raster(codes, grid, ax, title="emerging hot spots",
                           categories=PATTERN_COLOURS)

    def to_xarray(self):
        """``counts`` (period, y, x) and ``pattern_code``, ``trend_z``, ``trend_p`` (y, x) as an
        :class:`xarray.Dataset` (``period`` = period start dates; ``attrs``: crs WKT,
        cell_size_m, transform, parameters)."""
        xr = require_xarray()
        grid = require_grid(self.grid, "EmergingResult.to_xarray")
        coords = dict(grid_coords(grid))
        if self.period_starts is not None:
            coords["period"] = np.asarray(self.period_starts)
        else:
            coords["period"] = np.arange(self.counts.shape[0])

        def masked(a: np.ndarray) -> np.ndarray:
            return np.where(self.mask, a.astype(np.float64), np.nan)

        data = {
            "counts": (("period", "y", "x"), np.where(self.mask[None], self.counts, np.nan)),
            "pattern_code": (("y", "x"), masked(self.pattern_code)),
            "trend_z": (("y", "x"), masked(self.trend_z)),
            "trend_p": (("y", "x"), masked(self.trend_p)),
        }
        return xr.Dataset(data, coords=coords, attrs=raster_attrs(grid, self.params))


# ---------------------------------------------------------------------------- analysis
def emerging_hotspots(
    data: Any,
    *,
    grid: Grid | None = None,
    period: str = "week",
    start: Any = None,
    end: Any = None,
    weights: Any = None,
    mask: np.ndarray | None = None,
    distance_cells: int | None = 1,
    distance_m: float | None = None,
    shape: str = "square",
    permutations: int = 0,
    seed: int | None = None,
    correction: str = "fdr_bh",
    levels: tuple[float, float, float] = DEFAULT_LEVELS,
    alpha: float = 0.10,
    trend_alpha: float = 0.05,
    hotspot_prop: float = 0.1,
    persistent_prop: float = 0.8,
    recent_prop: float = 0.2,
) -> EmergingResult:
    """Emerging hot-spot analysis (see the module docstring for every rule).

    Parameters
    ----------
    data : IncidentTable, DataFrame, SpaceTimeCube or ndarray (T, n_rows, n_cols)
        Incidents (counted with :func:`space_time_cube`) or a ready cube of counts.
    grid : Grid
        Required for incidents; optional with an array cube (needed for GeoDataFrames).
    period, start, end, weights
        Passed to :func:`space_time_cube` (incidents only).
    mask, distance_cells, distance_m, shape, permutations, seed, correction, levels
        Passed to :func:`geodemand.engines.hotspots.gistar` for every period (permutation seeds per
        period are derived from ``seed``).
    alpha : float
        A cell is a hot / cold spot in a period when its q-value is ``<= alpha``.
    trend_alpha : float
        Significance level of the Mann–Kendall trend.
    hotspot_prop, persistent_prop, recent_prop : float
        Thresholds of :func:`classify_simple`.

    Returns
    -------
    EmergingResult
    """
    correction = _check_choice(correction, CORRECTIONS, "correction")
    levels = _check_levels(levels)
    permutations = _check_permutations(permutations)
    if not 0 < alpha < 1:
        raise InvalidParameterError(f"alpha must be in (0, 1), got {alpha!r}")
    cube, starts, grid, cube_params = _cube(data, grid, period, start, end, weights)
    t_len = cube.shape[0]
    if t_len < MIN_PERIODS:
        raise InvalidParameterError(
            f"emerging hot spots need at least {MIN_PERIODS} periods, got {t_len}"
        )
    if t_len < RECOMMENDED_PERIODS:
        announce(f"only {t_len} periods: ArcGIS asks for at least {RECOMMENDED_PERIODS}; the "
                 "90 % rules then mean every period")
    slice_seeds = _slice_seeds(seed, permutations, t_len)
    valid = np.ones(cube.shape[1:], dtype=bool) if mask is None else np.asarray(mask, bool)
    if valid.shape != cube.shape[1:]:
        raise InvalidParameterError(
            f"mask shape {valid.shape} does not match the cube's cells {cube.shape[1:]}"
        )
    z = np.full(cube.shape, np.nan)
    q = np.full(cube.shape, np.nan)
    bins = np.zeros(cube.shape, dtype=np.int8)
    hot = np.zeros(cube.shape, dtype=bool)
    cold = np.zeros(cube.shape, dtype=bool)
    constant: list[int] = []
    for t in range(t_len):
        values = cube[t]
        inside = values[valid]
        if inside.size and np.all(inside == inside[0]):
            constant.append(t)
            z[t][valid] = 0.0
            q[t][valid] = 1.0
            continue
        res = gistar(values, grid=grid, mask=valid, distance_cells=distance_cells,
                     distance_m=distance_m, shape=shape, permutations=permutations,
                     seed=slice_seeds[t], correction=correction, levels=levels)
        z[t] = res.z
        q[t] = res.q
        bins[t] = res.bin
        if permutations == 0:
            direction = np.sign(np.nan_to_num(res.z))
        else:
            direction = np.sign(np.nan_to_num(res.p_low - res.p_high))
        significant = np.nan_to_num(res.q, nan=np.inf) <= alpha
        hot[t] = significant & (direction > 0)
        cold[t] = significant & (direction < 0)
    if constant:
        labels = [str(starts[t].date()) if starts is not None else str(t) for t in constant]
        announce(f"{len(constant)} period(s) have the same count in every cell (Gi* undefined; "
                 f"treated as z = 0, neither hot nor cold): {', '.join(labels[:10])}"
                 + (" ..." if len(labels) > 10 else ""))
    series = np.nan_to_num(z[:, valid], nan=0.0)
    mk = mann_kendall(series, axis=0)
    trend_s = np.full(valid.shape, np.nan)
    trend_z = np.full(valid.shape, np.nan)
    trend_p = np.full(valid.shape, np.nan)
    trend_s[valid] = mk["s"]
    trend_z[valid] = mk["z"]
    trend_p[valid] = mk["p"]
    codes = np.zeros(valid.shape, dtype=np.int8)
    codes[valid] = classify_patterns(hot[:, valid], cold[:, valid], mk["z"], mk["p"],
                                     trend_alpha)
    names = np.full(valid.shape, "", dtype=object)
    names[valid] = np.array([PATTERNS[int(c)] for c in range(-8, 9)], dtype=object)[
        codes[valid].astype(np.int64) + 8]
    simple = np.full(valid.shape, "", dtype=object)
    simple[valid] = classify_simple(hot[:, valid], cold[:, valid], hotspot_prop=hotspot_prop,
                                    persistent_prop=persistent_prop, recent_prop=recent_prop)
    params = {
        **cube_params,
        "n_periods": int(t_len),
        "neighbourhood": "spatial only (no time neighbours); Gi* per period",
        "distance_cells": None if distance_m is not None else distance_cells,
        "distance_m": distance_m,
        "shape": shape,
        "permutations": permutations,
        "seed": seed,
        "correction": correction + " within each period",
        "levels": list(levels),
        "alpha": alpha,
        "trend_test": "Mann-Kendall on Gi* z, tie-corrected, continuity-corrected",
        "trend_alpha": trend_alpha,
        "constant_periods": [int(t) for t in constant],
        "n_cells": int(valid.sum()),
        "pattern_counts": {PATTERNS[c]: int((codes[valid] == c).sum()) for c in PATTERNS},
        "simple": {"hotspot_prop": hotspot_prop, "persistent_prop": persistent_prop,
                   "recent_prop": recent_prop},
    }
    return EmergingResult(
        counts=cube, period_starts=starts, z=z, q=q, bin=bins, hot=hot, cold=cold,
        trend_s=trend_s, trend_z=trend_z, trend_p=trend_p, pattern_code=codes, pattern=names,
        simple_pattern=simple, mask=valid, grid=grid, params=params,
    )


def _cube(data, grid, period, start, end, weights):
    if isinstance(data, SpaceTimeCube):
        return data.counts, data.period_starts, data.grid, {"period": data.period,
                                                            **data.params}
    frame = getattr(data, "frame", data)
    if isinstance(frame, pd.DataFrame):
        if grid is None:
            raise InvalidParameterError("emerging_hotspots on incidents needs grid=Grid(...)")
        cube = space_time_cube(data, grid=grid, period=period, start=start, end=end,
                               weights=weights)
        return cube.counts, cube.period_starts, grid, dict(cube.params)
    try:
        counts = np.array(data, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            "data must be incidents, a SpaceTimeCube or a (T, n_rows, n_cols) array of counts"
        ) from exc
    if counts.ndim != 3:
        raise InvalidParameterError(
            f"a cube must have shape (T, n_rows, n_cols), got shape {counts.shape}"
        )
    if grid is not None and counts.shape[1:] != grid.shape:
        raise InvalidParameterError(
            f"cube cells {counts.shape[1:]} do not match the grid shape {grid.shape}"
        )
    return counts, None, grid, {"period": "given", "n_periods": int(counts.shape[0])}


def _slice_seeds(seed: int | None, permutations: int, t_len: int) -> list[int | None]:
    if permutations == 0:
        return [None] * t_len
    if seed is None:
        raise InvalidParameterError("emerging_hotspots with permutations needs seed=<int>")
    base = _check_seed(seed)
    states = np.random.SeedSequence(base).generate_state(t_len, dtype=np.uint64)
    return [int(s) >> 1 for s in states]
