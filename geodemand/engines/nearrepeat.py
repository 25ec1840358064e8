"""Near-repeat Knox test with Monte Carlo permutation of dates.

For every pair of events the Knox test finds a **space band** (distance between the two
places) and a **time band** (days between the two dates); the observed table counts pairs per
(space band, time band). Under the null hypothesis that when and where are independent, the
dates are permuted over the fixed locations ``R`` times (seeded); each cell gets

* ``sim_mean`` and ``sim_median``: mean and median of the ``R`` permuted counts;
* ``ratio = observed / sim_mean`` (the Knox ratio; NaN where both are 0, inf where only the
  mean is 0);
* ``p_value = (#{sim >= observed} + 1) / (R + 1)`` (one-sided, ties counted against).

Bands
-----
``space_bands`` (metres) and ``time_bands`` (days) are lists of band **edges**, strictly
increasing, >= 0; only the last may be ``inf``. With ``closure="left"`` (default) bands are
``[e0, e1), [e1, e2), ...``; with ``closure="right"`` they are ``[e0, e1], (e1, e2], ...``.
Pairs below the first edge or beyond a finite last edge fall outside the table (their number
is reported). With ``same_location_band=True`` a separate first row holds the pairs at
distance exactly 0 m, and the regular bands no longer include distance 0.

The Near Repeat Calculator (Ratcliffe, NRC 1.3) labels a band "a to b" but counts ``[a-1, b)``
(documented by wsteenbeek/NearRepeat and tobydavies/NearRepeat): its tables are reproduced
with ``closure="left"``, edges ``0, bw, 2bw, ...`` and the same-location band. The NRC also
reads coordinates in single precision, so pairs within a few centimetres of an edge can
land in a neighbouring band unless the coordinates are rounded to float32 first.

Distances are Euclidean ``sqrt(dx² + dy²)`` or Manhattan ``|dx| + |dy|`` (metres); time gaps
are ``|t_i - t_j|`` in days.

Times
-----
Datetimes (``occurred`` or a datetime64 array) are compared **exactly**: they are counted in
whole steps of the coarsest unit that divides them all (day, hour, minute, ...), and a band
edge of ``e`` days becomes the exact integer threshold in that unit. Float days given by the
caller are used as given (whole numbers are again exact). police.uk street data have only
month dates and are refused unless ``allow_month_precision=True`` (a Knox test needs days);
a mix is warned about.

Algorithm (never an n x n matrix)
---------------------------------
Only pairs closer than the largest **finite space edge** ``D`` need visiting, and that set does
not depend on the dates, so it serves every permutation. Events are grouped into **sites**
(exact coordinates) and sites into square grid cells of side >= ``D``; each cell is paired
with itself and its four forward neighbours (numba, parallel over strided chunks of cells,
each chunk with its own counters). The space band is computed once per pair of sites. The
time gaps of all event pairs between two sites are then counted for a block of W date
columns at once (observed + permutations): directly (a SIMD loop over the W columns) for
light sites, or, between two sites with >= ``HEAVY_SITE_EVENTS`` events, over windows of
their dates sorted per column, which costs O(m_u + m_v + close pairs) instead of O(m_u m_v).
Both ways count exactly the same pairs. Work is O(pairs within D x (R + 1)) at worst, memory
O(n x W) (blocks of permutations are sized to ``max_memory_mb``).

Cells beyond the finite edges are filled by exact subtraction from totals that permutations
cannot change: a space row's total over all time gaps depends only on the fixed locations,
and a time column's total over all pairs depends only on the multiset of dates (counted by an
O(n) sweep over sorted dates).

Measured on this project's 2-core machine (shared): 1,000,000 synthetic events (two-year
West Midlands force, minute times), 5 x 5 bands to 200 m / 28 days, 99 permutations: 24 s,
+0.8 GB peak; the same with bands to 500 m (1.26e9 pairs): about 65 CPU-seconds.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from geodemand._announce import announce
from geodemand._display import html_summary, text_summary
from geodemand._kernels import knox as _k
from geodemand.errors import InternalConsistencyError, InvalidParameterError

__all__ = ["KnoxResult", "knox", "knox_permutation", "plot_knox", "event_days"]

DEFAULT_SPACE_BANDS = (0.0, 100.0, 200.0, 300.0, 400.0, math.inf)
DEFAULT_TIME_BANDS = (0.0, 7.0, 14.0, 21.0, 28.0, math.inf)
_NS_PER_DAY = 86_400 * 10**9
#: Sites with at least this many events count their mutual pairs over sorted date windows.
HEAVY_SITE_EVENTS = 32
#: Above this expected window length (events), heavy pairs use one pointer per threshold.
POINTER_WINDOW_EVENTS = 64.0


@dataclass(frozen=True, eq=False)
class KnoxResult:
    """Result of :func:`knox`. Tables have shape (space bands, time bands).

    Attributes
    ----------
    observed : int64 array
        Observed pair counts.
    simulated : int64 array, shape (R, S, T)
        Pair counts of each permutation ``r = 1 .. R`` (index ``r - 1``).
    sim_mean, sim_median : float64 arrays
        Mean and median of ``simulated`` over permutations.
    ratio : float64 array
        Knox ratio ``observed / sim_mean`` (NaN where 0/0, inf where x/0 with x > 0).
    p_value : float64 array
        ``(#{sim >= observed} + 1) / (R + 1)``.
    space_labels, time_labels : tuple of str
        Band labels with their closure, e.g. ``"[0, 100) m"``, ``"same location (0 m)"``.
    space_edges : tuple of float
        Space band edges in metres (as given).
    time_edges : tuple of float
        Time band edges in days (as given).
    closure : str
        ``"left"`` ([a, b)) or ``"right"`` ((a, b]).
    n_events : int
        Events analysed.
    n_pairs : int
        All pairs, n (n - 1) / 2.
    n_pairs_in_table : int
        Pairs falling in a band (the rest lie below the first or beyond a finite last edge).
    n_candidate_pairs : int
        Pairs whose distance falls below the largest finite space edge (``<`` for closure
        left, ``<=`` for right): the pairs whose time gaps are re-binned per permutation.
    params : dict
        Everything needed to reproduce the result.
    """

    observed: np.ndarray
    simulated: np.ndarray
    sim_mean: np.ndarray
    sim_median: np.ndarray
    ratio: np.ndarray
    p_value: np.ndarray
    space_labels: tuple[str, ...]
    time_labels: tuple[str, ...]
    space_edges: tuple[float, ...]
    time_edges: tuple[float, ...]
    closure: str
    n_events: int
    n_pairs: int
    n_pairs_in_table: int
    n_candidate_pairs: int
    params: dict = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """Long table: one row per (space band, time band).

        Columns ``space_band, time_band, observed, sim_mean, sim_median, ratio, p_value``.
        """
        s_idx, t_idx = np.indices(self.observed.shape)
        return pd.DataFrame(
            {
                "space_band": np.asarray(self.space_labels, dtype=object)[s_idx.ravel()],
                "time_band": np.asarray(self.time_labels, dtype=object)[t_idx.ravel()],
                "observed": self.observed.ravel(),
                "sim_mean": self.sim_mean.ravel(),
                "sim_median": self.sim_median.ravel(),
                "ratio": self.ratio.ravel(),
                "p_value": self.p_value.ravel(),
            }
        )

    def table(self, what: str = "ratio") -> pd.DataFrame:
        """One of the tables as a labelled wide frame (rows space, columns time)."""
        if what not in ("observed", "sim_mean", "sim_median", "ratio", "p_value"):
            raise InvalidParameterError(
                f"table: what={what!r}; expected observed, sim_mean, sim_median, ratio or p_value"
            )
        return pd.DataFrame(
            getattr(self, what), index=list(self.space_labels), columns=list(self.time_labels)
        )

    def _facts(self) -> dict[str, Any]:
        sig = int((self.p_value <= 0.05).sum())
        return {
            "events": self.n_events,
            "pairs in the table": self.n_pairs_in_table,
            "bands": f"{len(self.space_labels)} space x {len(self.time_labels)} time",
            "closure": self.closure,
            "cells with p <= 0.05": sig,
            "largest ratio": f"{np.nanmax(self.ratio):.2f}" if np.isfinite(self.ratio).any()
            else "–",
        }

    def __repr__(self) -> str:
        return text_summary("KnoxResult", self._facts(), self.params)

    def _repr_html_(self) -> str:
        table = self.table("ratio").round(2).astype(str) + " (p " + \
            self.table("p_value").round(3).astype(str) + ")"
        return html_summary("KnoxResult (near-repeat Knox test): ratio (p)", self._facts(),
                            self.params, table=table.reset_index(names="distance"))

    def plot(self, ax: Any = None, *, alpha: float = 0.05) -> Any:
        """The Knox ratio heat map (:func:`plot_knox`) in ``ax`` or a new pyplot figure;
        returns the matplotlib Axes."""
        from geodemand._figures import axes_for

        ax = axes_for(ax, figsize=(1.6 + 1.5 * len(self.time_labels),
                                   1.2 + 0.7 * len(self.space_labels)))
        plot_knox(self, ax=ax, alpha=alpha)
        return ax


# --------------------------------------------------------------------------- inputs


def _edges(values: Sequence[float], name: str) -> np.ndarray:
    try:
        edges = np.asarray([float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"{name}: expected a list of numbers, got {values!r}") from exc
    if edges.ndim != 1 or edges.size < 2:
        raise InvalidParameterError(f"{name}: expected at least two band edges, got {values!r}")
    if np.isnan(edges).any() or (edges < 0).any():
        raise InvalidParameterError(f"{name}: edges must be numbers >= 0, got {values!r}")
    if np.isinf(edges[:-1]).any():
        raise InvalidParameterError(f"{name}: only the last edge may be inf, got {values!r}")
    if (np.diff(edges) <= 0).any():
        raise InvalidParameterError(f"{name}: edges must be strictly increasing, got {values!r}")
    return edges


def event_days(occurred: pd.Series | np.ndarray) -> np.ndarray:
    """Dates as float days since the earliest one (whole days stay exact integers).

    Parameters
    ----------
    occurred : datetime64 values
        Event dates/times.
    """
    ns = _nanoseconds(occurred)
    ns = ns - ns.min()
    whole = ns // _NS_PER_DAY
    rest = ns - whole * _NS_PER_DAY
    return whole.astype(np.float64) + rest.astype(np.float64) / _NS_PER_DAY


def _nanoseconds(occurred: Any) -> np.ndarray:
    values = pd.to_datetime(pd.Series(occurred, copy=False))
    if values.isna().any():
        i = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise InvalidParameterError(f"occurred: row {i} has no date; every event needs a date")
    return values.to_numpy(dtype="datetime64[ns]").astype(np.int64)


@dataclass(frozen=True)
class _Times:
    """Event times as the kernels see them.

    ``exact``: ``values`` are integers (stored in float64, < 2**53) counting ``unit`` steps
    since the first event, ``per_day`` steps a day, so gaps and band comparisons are exact.
    Otherwise ``values`` are the caller's float days, used as given.
    """

    values: np.ndarray
    exact: bool
    unit: str
    per_day: float

    @property
    def span(self) -> float:
        """Largest minus smallest value."""
        return float(self.values.max() - self.values.min())


_UNITS = (
    ("day", _NS_PER_DAY),
    ("hour", 3_600 * 10**9),
    ("minute", 60 * 10**9),
    ("second", 10**9),
    ("millisecond", 10**6),
    ("microsecond", 10**3),
    ("nanosecond", 1),
)


def _times_from_ns(ns: np.ndarray) -> _Times:
    """Exact integer steps of the coarsest unit dividing every time (float days if too long)."""
    rel = ns - ns.min()
    span = int(rel.max())
    for unit, size in _UNITS:
        if np.all(rel % size == 0) and span // size < 2**31 - 1:
            return _Times((rel // size).astype(np.float64), True, unit, _NS_PER_DAY / size)
    return _Times(event_days(ns.view("datetime64[ns]")), False, "day", 1.0)


def _times_from_days(t: np.ndarray) -> _Times:
    if np.all(t == np.floor(t)) and float(t.max() - t.min()) < 2**31 - 1:
        return _Times(t - t.min(), True, "day", 1.0)
    return _Times(t, False, "day", 1.0)


def _check_month_precision(frame: pd.DataFrame, allow_month: bool) -> None:
    if "date_precision" not in frame.columns or not len(frame):
        return
    monthly = frame["date_precision"].astype(str).eq("month").to_numpy()
    if monthly.all() and not allow_month:
        raise InvalidParameterError(
            "knox: every incident has date_precision 'month' (police.uk street data); the "
            "Knox test needs dates to the day. Use day-precise data, or pass "
            "allow_month_precision=True to run it on month-start dates anyway"
        )
    if monthly.any():
        msg = (
            f"knox: {int(monthly.sum())} of {len(frame)} incidents have only a month date "
            "(the month start is used); time gaps involving them are not real gaps"
        )
        announce(msg)
        if not monthly.all():  # all-month data were explicitly allowed: announced only
            warnings.warn(msg, UserWarning, stacklevel=4)


def _as_arrays(data: Any, allow_month: bool) -> tuple[np.ndarray, np.ndarray, _Times, str]:
    if hasattr(data, "frame") and isinstance(data.frame, pd.DataFrame):
        data = data.frame
    if isinstance(data, pd.DataFrame):
        missing = [c for c in ("x", "y", "occurred") if c not in data.columns]
        if missing:
            raise InvalidParameterError(
                f"knox: incidents lack column(s) {missing}; expected x, y (metres) and occurred"
            )
        _check_month_precision(data, allow_month)
        x, y, raw_t, kind = data["x"], data["y"], data["occurred"], "incidents"
    elif isinstance(data, tuple | list) and len(data) == 3:
        x, y, raw_t = data
        kind = "arrays"
    else:
        raise InvalidParameterError(
            "knox: expected an incident table (DataFrame with x, y, occurred) or a tuple "
            f"(x metres, y metres, t days or datetime64), got {type(data).__name__}"
        )
    try:
        x = np.ascontiguousarray(x, dtype=np.float64)
        y = np.ascontiguousarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"knox: x and y must be numbers (metres): {exc}") from exc
    raw = np.asarray(raw_t)
    if x.size < 2 or not (x.ndim == y.ndim == raw.ndim == 1 and x.size == y.size == raw.size):
        raise InvalidParameterError(
            f"knox: x, y, t must be 1-d, equally long and hold >= 2 events; got shapes "
            f"{x.shape}, {y.shape}, {raw.shape}"
        )
    for name, arr in (("x", x), ("y", y)):
        bad = ~np.isfinite(arr)
        if bad.any():
            raise InvalidParameterError(
                f"knox: field {name}, row {int(np.flatnonzero(bad)[0])}: not a finite number"
            )
    if np.issubdtype(raw.dtype, np.datetime64) or isinstance(raw_t, pd.Series) and (
        pd.api.types.is_datetime64_any_dtype(raw_t)
    ):
        times = _times_from_ns(_nanoseconds(raw_t))
    else:
        try:
            t = np.ascontiguousarray(raw, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidParameterError(
                f"knox: t must be days (numbers) or datetime64: {exc}"
            ) from exc
        bad = ~np.isfinite(t)
        if bad.any():
            raise InvalidParameterError(
                f"knox: field t, row {int(np.flatnonzero(bad)[0])}: not a finite number of days"
            )
        times = _times_from_days(t)
    return x, y, times, kind


# --------------------------------------------------------------------------- labels


def _fmt(v: float) -> str:
    if math.isinf(v):
        return "inf"
    return f"{v:g}"


def band_labels(edges: np.ndarray, closure: str, unit: str, zero_excluded: bool) -> list[str]:
    """Labels of the bands between ``edges``, stating the closure (e.g. ``"[0, 100) m"``)."""
    labels = []
    for k in range(edges.size - 1):
        a, b = edges[k], edges[k + 1]
        if closure == "left":
            lo = "(" if (k == 0 and zero_excluded and a == 0) else "["
            hi = ")"
        else:
            lo = "[" if k == 0 and not (zero_excluded and a == 0) else "("
            hi = ")" if math.isinf(b) else "]"
        labels.append(f"{lo}{_fmt(a)}, {_fmt(b)}{hi} {unit}")
    return labels


# --------------------------------------------------------------------------- kernel driver


@dataclass(frozen=True)
class _Sites:
    """Events grouped by site (exact coordinates), sites grouped by grid cell."""

    order: np.ndarray  # event rows in site order
    site_x: np.ndarray
    site_y: np.ndarray
    site_start: np.ndarray  # n_sites + 1
    cell_start: np.ndarray  # n_cells + 1, indices into sites
    neighbours: np.ndarray  # (n_cells, 4) forward neighbour cells or -1


def _sites(x: np.ndarray, y: np.ndarray, cell: float) -> _Sites:
    """Sort events by (grid cell, x, y); sites are runs of equal coordinates.

    Grid cells are squares of side ``cell`` (>= the largest finite space edge), so every pair
    of sites within that distance lies in one cell or in a cell and one of its four forward
    neighbours: (+0, +1), (+1, -1), (+1, 0), (+1, +1).
    """
    cx = np.floor((x - x.min()) / cell).astype(np.int64)
    cy = np.floor((y - y.min()) / cell).astype(np.int64)
    n_cy = int(cy.max()) + 3
    if (int(cx.max()) + 3) * n_cy >= 2**62:
        raise InvalidParameterError(
            f"knox: the data extent is too large for a grid of {cell:g} m cells"
        )
    key = cx * n_cy + cy
    order = np.lexsort((y, x, key))
    ks, xs, ys = key[order], x[order], y[order]
    new_site = np.ones(x.size, dtype=bool)
    new_site[1:] = (xs[1:] != xs[:-1]) | (ys[1:] != ys[:-1])
    first = np.flatnonzero(new_site)
    site_start = np.append(first, x.size).astype(np.int64)
    site_key = ks[first]
    cells, cell_first = np.unique(site_key, return_index=True)
    cell_start = np.append(cell_first, first.size).astype(np.int64)
    ccx = cells // n_cy
    ccy = cells - ccx * n_cy
    nbr = np.full((cells.size, 4), -1, dtype=np.int64)
    for q, (dx, dy) in enumerate(((0, 1), (1, -1), (1, 0), (1, 1))):
        want = (ccx + dx) * n_cy + (ccy + dy)
        pos = np.minimum(np.searchsorted(cells, want), cells.size - 1)
        hit = cells[pos] == want
        nbr[hit, q] = pos[hit]
    return _Sites(
        order=order.astype(np.int64),
        site_x=np.ascontiguousarray(xs[first]),
        site_y=np.ascontiguousarray(ys[first]),
        site_start=site_start,
        cell_start=cell_start,
        neighbours=nbr,
    )


def _thresholds(t_fin: np.ndarray, closed_left: bool, times: _Times) -> np.ndarray:
    """Strict gap thresholds of the kernel's cumulative counts (``gap < threshold``).

    Threshold 0 is the first edge (``gap < e0`` lies below the table); it is skipped when
    ``e0 == 0`` because no gap is negative. The others are the finite upper edges: ``gap < e``
    (closed-left) or ``gap <= e`` (closed-right), the latter written as ``gap < e'``. With
    exact integer times (``c = e x steps per day``): ``g < c`` iff ``g < ceil(c)`` and
    ``g <= c`` iff ``g < floor(c) + 1``; with float days, ``g <= e`` iff
    ``g < nextafter(e, inf)``. Thresholds above the time span are capped (same results).
    """
    edges = [float(e) for e in t_fin[1:]]
    strict = [closed_left] * len(edges)
    if t_fin[0] > 0:
        edges.insert(0, float(t_fin[0]))
        strict.insert(0, True)
    out = []
    for e, f in zip(edges, strict, strict=True):
        if times.exact:
            c = e * times.per_day
            out.append(min(float(math.ceil(c) if f else math.floor(c) + 1), times.span + 1.0))
        else:
            out.append(e if f else float(np.nextafter(e, np.inf)))
    return np.asarray(out, dtype=np.float64)


def _kernel_dtype(times: _Times) -> np.dtype:
    """int16 / int32 for exact integer times (wider SIMD), float64 otherwise."""
    if not times.exact:
        return np.dtype(np.float64)
    return np.dtype(np.int16) if times.span < 2**15 - 2 else np.dtype(np.int32)


def _time_column_totals(values: np.ndarray, thresholds: np.ndarray, has_below: bool):
    """All-pairs counts per internal time column: the kernel's columns, over every pair.

    Uses the same thresholds and comparisons as the kernel (an O(n) sweep per threshold over
    sorted times); permutations cannot change these totals.
    """
    ts = np.sort(values)
    cum = [_k.pairs_below(ts, float(e)) for e in thresholds]
    if not has_below:
        cum.insert(0, 0)
    cum_arr = np.asarray(cum, dtype=np.int64)
    out = np.empty(cum_arr.size, dtype=np.int64)
    out[0] = cum_arr[0]
    out[1:] = np.diff(cum_arr)
    return out


def _columns_from_cumulative(cum: np.ndarray, has_below: bool) -> np.ndarray:
    """Internal time columns (W, rows, 1 + bands) from cumulative counts (rows, K, W)."""
    cum = np.moveaxis(cum, 2, 0)  # (W, rows, K)
    if not has_below:
        cum = np.concatenate([np.zeros(cum.shape[:2] + (1,), dtype=np.int64), cum], axis=2)
    out = np.empty_like(cum)
    out[:, :, 0] = cum[:, :, 0]
    out[:, :, 1:] = np.diff(cum, axis=2)
    return out


def _assemble(counts, rowtot, coltot, n_pairs, rows_map, cols_map):
    """Full tables (W, S, T) from the kernel's internal counts; see the module docstring."""
    w, n_r, n_c = counts.shape
    full = np.zeros((w, n_r + 1, n_c + 1), dtype=np.int64)
    full[:, :n_r, :n_c] = counts
    full[:, :n_r, n_c] = rowtot[None, :] - counts.sum(axis=2)
    full[:, n_r, :n_c] = coltot[None, :] - counts.sum(axis=1)
    full[:, n_r, n_c] = n_pairs - full[:, :n_r + 1, :n_c + 1].sum(axis=(1, 2))
    if (full < 0).any():  # pragma: no cover - an invariant
        raise InternalConsistencyError("knox: negative derived pair count")
    return full[:, rows_map][:, :, cols_map]


def knox_permutation(n: int, seed: int, r: int) -> np.ndarray:
    """Permutation ``r`` (1-based) that :func:`knox` applies to the dates of ``n`` events.

    Permuted date of event ``i`` is ``t[perm[i]]``. Exposed so tests and users can reproduce
    any simulated table exactly.
    """
    if r < 1:
        raise InvalidParameterError(f"knox_permutation: r must be >= 1, got {r}")
    return _k.permutation(int(n), int(seed), int(r))


def knox(
    incidents_or_arrays: Any,
    *,
    space_bands: Sequence[float] = DEFAULT_SPACE_BANDS,
    time_bands: Sequence[float] = DEFAULT_TIME_BANDS,
    closure: Literal["left", "right"] = "left",
    same_location_band: bool = True,
    metric: Literal["euclidean", "manhattan"] = "euclidean",
    permutations: int = 99,
    seed: int = 0,
    allow_month_precision: bool = False,
    max_memory_mb: float = 1024.0,
) -> KnoxResult:
    """Knox space-time test with Monte Carlo permutation of dates over fixed locations.

    Parameters
    ----------
    incidents_or_arrays : DataFrame, IncidentTable or tuple
        Incidents with ``x``, ``y`` (metres, projected CRS) and ``occurred`` (and optionally
        ``date_precision``), or a tuple ``(x, y, t)`` with ``t`` in days (float) or datetime64.
    space_bands : list of float
        Space band edges in metres, strictly increasing, >= 0; the last may be ``inf``.
    time_bands : list of float
        Time band edges in days, same rules.
    closure : {"left", "right"}
        ``"left"``: ``[a, b)`` (default, NRC-compatible); ``"right"``: ``[e0, e1], (e1, e2]``.
    same_location_band : bool
        Add a first space row for pairs at distance exactly 0 m.
    metric : {"euclidean", "manhattan"}
        Distance between the two places of a pair.
    permutations : int
        Number R of random permutations of the dates (>= 1).
    seed : int
        Seed (>= 0) of the permutations; permutation ``r`` depends only on (seed, r).
    allow_month_precision : bool
        Run even if every incident has only a month date (normally refused).
    max_memory_mb : float
        Budget for the matrix of permuted dates (8 bytes x events x permutations per block);
        larger R is processed in blocks.

    Returns
    -------
    KnoxResult
    """
    x, y, times, kind = _as_arrays(incidents_or_arrays, allow_month_precision)
    s_edges = _edges(space_bands, "space_bands")
    t_edges = _edges(time_bands, "time_bands")
    if closure not in ("left", "right"):
        raise InvalidParameterError(f"closure: {closure!r}; expected 'left' or 'right'")
    if metric not in ("euclidean", "manhattan"):
        raise InvalidParameterError(f"metric: {metric!r}; expected 'euclidean' or 'manhattan'")
    if isinstance(permutations, bool) or int(permutations) != permutations or permutations < 1:
        raise InvalidParameterError(f"permutations: expected an integer >= 1, got {permutations!r}")
    if isinstance(seed, bool) or int(seed) != seed or not 0 <= seed < 2**63:
        raise InvalidParameterError(f"seed: expected an integer in [0, 2**63), got {seed!r}")
    if not max_memory_mb > 0:
        raise InvalidParameterError(f"max_memory_mb: expected > 0, got {max_memory_mb!r}")
    R = int(permutations)
    n = x.size
    closed_left = closure == "left"
    s_fin = s_edges[np.isfinite(s_edges)]
    t_fin = t_edges[np.isfinite(t_edges)]
    d_cut = float(s_fin[-1])
    n_rows = 2 + s_fin.size - 1  # below the table, same location, finite-bounded bands
    n_cols = 1 + t_fin.size - 1  # below the table, finite-bounded bands
    # user rows/cols -> internal full-table index (the internal "beyond" is n_rows / n_cols)
    rows_map = ([1] if same_location_band else []) + [
        2 + k if k < s_fin.size - 1 else n_rows for k in range(s_edges.size - 1)
    ]
    cols_map = [1 + k if k < t_fin.size - 1 else n_cols for k in range(t_edges.size - 1)]

    sites = _sites(x, y, d_cut * (1.0 + 1e-6) if d_cut > 0 else 1.0)
    thresholds = _thresholds(t_fin, closed_left, times)
    has_below = bool(t_fin[0] > 0)
    coltot = _time_column_totals(times.values, thresholds, has_below)
    n_pairs = n * (n - 1) // 2
    dtype = _kernel_dtype(times)
    t_kernel = times.values.astype(dtype)
    t_cmp = thresholds.astype(dtype)
    sizes = np.diff(sites.site_start)
    # sites with many events count their mutual pairs over windows of sorted dates; each
    # heavy site's block in the sorted-dates matrix has one spare slot (a sentinel)
    heavy_sites = np.flatnonzero(sizes >= HEAVY_SITE_EVENTS).astype(np.int64)
    heavy_of = np.full(sizes.size, -1, dtype=np.int64)
    heavy_of[heavy_sites] = np.arange(heavy_sites.size)
    heavy_start = np.zeros(heavy_sites.size + 1, dtype=np.int64)
    np.cumsum(sizes[heavy_sites] + 1, out=heavy_start[1:])
    sentinel = np.iinfo(dtype).max if times.exact else np.inf
    by_date = np.argsort(t_kernel, kind="stable").astype(np.int64)
    row_of = np.empty(n, dtype=np.int64)
    row_of[sites.order] = np.arange(n)
    heavy_row = np.repeat(heavy_of, sizes)
    span = float(times.values.max() - times.values.min())
    t_max = float(thresholds.max()) if thresholds.size else 0.0
    window_share = min(1.0, 2.0 * t_max / span) if span > 0 else 1.0
    per_column = dtype.itemsize * (n + int(heavy_start[-1]))
    width = max(1, min(R + 1, int(max_memory_mb * 2**20 // per_column)))
    n_cells = sites.cell_start.size - 1
    n_chunks = max(1, min(n_cells, 16 * (os.cpu_count() or 1)))
    tables = np.empty((R + 1, len(rows_map), len(cols_map)), dtype=np.int64)
    rowtot = None
    for r0 in range(0, R + 1, width):
        r1 = min(R + 1, r0 + width)
        dates, sorted_dates = _k.permuted_dates(
            t_kernel, by_date, row_of, heavy_row, heavy_start, int(seed), r0, r1,
            dtype.type(sentinel),
        )
        cum, rowtot = _k.pair_counts(
            sites.site_x, sites.site_y, sites.site_start, sites.cell_start, sites.neighbours,
            dates, sorted_dates, heavy_of, heavy_start, d_cut, s_fin, t_cmp, closed_left,
            bool(same_location_band), metric == "manhattan", n_rows, n_chunks,
            window_share, float(POINTER_WINDOW_EVENTS),
        )
        del dates, sorted_dates
        counts = _columns_from_cumulative(cum, has_below)
        tables[r0:r1] = _assemble(counts, rowtot, coltot, n_pairs, rows_map, cols_map)
    assert rowtot is not None
    observed = tables[0]
    sims = tables[1:]
    sim_mean = sims.mean(axis=0)
    sim_median = np.median(sims, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = observed / sim_mean
    p_value = ((sims >= observed[None]).sum(axis=0) + 1) / (R + 1)

    s_labels = (["same location (0 m)"] if same_location_band else []) + band_labels(
        s_edges, closure, "m", zero_excluded=bool(same_location_band)
    )
    t_labels = band_labels(t_edges, closure, "days", zero_excluded=False)
    n_candidates = int(rowtot.sum())
    announce(
        f"knox: {n:,} events, {n_pairs:,} pairs, {n_candidates:,} within {d_cut:g} m "
        f"({metric}) at {sites.site_x.size:,} distinct places; {R} permutations (seed {seed}), "
        f"blocks of {width} date columns; times compared "
        + (f"exactly in whole {times.unit}s" if times.exact else "as float days")
    )
    params = {
        "space_bands_m": [float(v) for v in s_edges],
        "time_bands_days": [float(v) for v in t_edges],
        "closure": closure,
        "same_location_band": bool(same_location_band),
        "metric": metric,
        "permutations": R,
        "seed": int(seed),
        "allow_month_precision": bool(allow_month_precision),
        "input": kind,
        "n_events": n,
        "max_memory_mb": float(max_memory_mb),
        "block_width": width,
        "time_unit": times.unit if times.exact else "day (float)",
        "n_sites": int(sites.site_x.size),
        "p_value": "(#{sim >= obs} + 1) / (R + 1)",
        "permutation": "dates permuted over fixed locations; SplitMix64 Fisher-Yates per (seed, r)",
    }
    return KnoxResult(
        observed=observed,
        simulated=sims,
        sim_mean=sim_mean,
        sim_median=sim_median,
        ratio=ratio,
        p_value=p_value,
        space_labels=tuple(s_labels),
        time_labels=tuple(t_labels),
        space_edges=tuple(float(v) for v in s_edges),
        time_edges=tuple(float(v) for v in t_edges),
        closure=closure,
        n_events=n,
        n_pairs=n_pairs,
        n_pairs_in_table=int(observed.sum()),
        n_candidate_pairs=n_candidates,
        params=params,
    )


# --------------------------------------------------------------------------- plot


def plot_knox(
    result: KnoxResult,
    path: str | os.PathLike[str] | None = None,
    *,
    ax: Any = None,
    alpha: float = 0.05,
) -> Any:
    """Heat map of Knox ratios (cells annotated with ratio and p-value).

    Cells with ``p_value <= alpha`` are outlined, in the spirit of the NRC's summary table.

    Parameters
    ----------
    result : KnoxResult
    path : path, optional
        Also write the figure as a PNG here (atomically).
    ax : matplotlib Axes, optional
        Draw into this Axes (default: a new figure).
    alpha : float
        Significance level for outlining cells.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.patches import Rectangle

    from geodemand._figures import new_figure, save_png, tight_layout

    ratio = np.where(np.isfinite(result.ratio), result.ratio, np.nan)
    s, t = ratio.shape
    if ax is None:
        fig = new_figure((1.6 + 1.5 * t, 1.2 + 0.7 * s))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    finite = ratio[np.isfinite(ratio)]
    top = min(max(2.0, float(finite.max())), 10.0) if finite.size else 2.0
    image = ax.imshow(
        ratio, cmap="RdBu_r", norm=TwoSlopeNorm(vmin=0.0, vcenter=1.0, vmax=top),
        aspect="auto", interpolation="nearest",
    )
    for i in range(s):
        for j in range(t):
            r = result.ratio[i, j]
            txt = "n/a" if not np.isfinite(r) else f"{r:.2f}"
            ax.text(j, i, f"{txt}\np={result.p_value[i, j]:.2f}", ha="center", va="center",
                    fontsize=7)
            if result.p_value[i, j] <= alpha:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=2, ec="black"))
    ax.set_xticks(range(t), result.time_labels, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(s), result.space_labels, fontsize=8)
    ax.set_xlabel("time between events")
    ax.set_ylabel("distance between events")
    R = result.params.get("permutations")
    ax.set_title(
        f"Knox ratio observed / mean of {R} permutations "
        f"(outlined: p <= {alpha:g}; closure {result.closure})", fontsize=9,
    )
    fig.colorbar(image, ax=ax, label="Knox ratio")
    tight_layout(fig)
    if path is not None:
        save_png(fig, path)
    return fig
