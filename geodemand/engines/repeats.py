"""Repeat places and the concentration of demand on places.

:func:`repeat_locations` summarises incidents per **place** (the same map point, address or
location id again and again); :func:`concentration` measures how unevenly demand falls on
places (or grid cells): Lorenz curve, Gini coefficient, the share of places that hold 50 % /
80 % of demand, and the share held by the top 5 % of places.

Places
------
``key="location_key"`` (default) or any column name: one place per distinct value (the
police.uk map point, an address id, ...). ``key=None``: one place per distinct exact (x, y).
With ``tolerance_m``: places whose coordinates lie within ``tolerance_m`` metres of each
other (Euclidean, ``<=``) are merged, transitively (single linkage: a chain of places each
within the tolerance of the next becomes one place). The merged place's key is the smallest
member key in string order. A place's coordinates (``x``, ``y``) are the mean of its
incidents' coordinates, computed in exact integer millimetres, so the result does not depend
on the order of the input rows; the tolerance is applied to these coordinates.

Output columns of :func:`repeat_locations` (a GeoDataFrame of points in the incidents' CRS)
----------------------------------------------------------------------------------------------
``location_key``
    The place key (see above).
``count``
    Incidents at the place.
``harm``
    Harm-weighted demand: sum of the incidents' harm weights (``HarmTable``), computed as
    ``sum over types of n_type * weight_type`` (exact and order-independent).
``repeats``
    ``count - 1``: incidents after the first.
``n_<type>``
    Incidents per canonical crime type (slug with ``-`` written ``_``), one column per type
    present in the input, in sorted order.
``first_date``, ``last_date``
    Earliest and latest ``occurred`` (for month-precision data the month start).
``median_days_between``
    Median gap in days between consecutive incidents at the place, using only incidents whose
    ``date_precision`` is finer than a month (``day``/``minute``); NaN where fewer than two
    such incidents exist (always NaN for police.uk street data, whose dates are months).
``n_dated``
    Incidents used for ``median_days_between``.
``x``, ``y``
    Place coordinates (metres, mean of its incidents).
``lpu``, ``neighbourhood``
    When present in the input: the most frequent value among the place's incidents (ties: the
    smallest in string order).
``group_share_count``, ``group_share_harm``
    The place's share of its group's total count / harm, where the group is the place's
    ``by`` value (``by="lpu"`` by default; force-wide if ``by=None``). NaN if the group's
    total harm is 0.
``rank``, ``rank_in_group``
    1-based rank force-wide and within the group, by ``rank_by`` (``"harm"``: harm, then
    count; ``"count"``: count, then harm), ties broken by ``location_key``.

Rows are sorted by ``rank``. ``attrs["params"]`` records the arguments, the harm table and
row counts; ``attrs["crs"]`` the CRS.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from geodemand._announce import announce
from geodemand._display import html_summary, text_summary
from geodemand._kernels import repeats as _k
from geodemand.errors import InvalidParameterError

__all__ = [
    "Concentration",
    "ConcentrationResult",
    "concentration",
    "plot_concentration",
    "repeat_locations",
    "top_places",
]

_NS_PER_DAY = 86_400 * 10**9
_MM = 1000.0  # coordinate sums in whole millimetres


# --------------------------------------------------------------------------- helpers


def _frame_of(data: Any, what: str) -> pd.DataFrame:
    if hasattr(data, "frame") and isinstance(data.frame, pd.DataFrame):
        return data.frame
    if isinstance(data, pd.DataFrame):
        return data
    raise InvalidParameterError(
        f"{what}: expected an incident table (DataFrame or IncidentTable), got "
        f"{type(data).__name__}"
    )


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidParameterError(
            f"{what}: incidents lack column(s) {missing}; expected the canonical incident "
            "schema (see geodemand.ingest.incidents)"
        )


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _coords(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    x = pd.to_numeric(frame["x"], errors="coerce").to_numpy(dtype=np.float64)
    y = pd.to_numeric(frame["y"], errors="coerce").to_numpy(dtype=np.float64)
    for name, arr in (("x", x), ("y", y)):
        bad = ~np.isfinite(arr)
        if bad.any():
            i = _first_bad(bad)
            raise InvalidParameterError(
                f"repeat_locations: field {name}, row {i}: {frame[name].iloc[i]!r} is not a "
                "finite coordinate in metres"
            )
    return x, y


def _float_text(v: float) -> str:
    return np.format_float_positional(v, trim="-")


def _unit_codes(frame: pd.DataFrame, key: str | None, x: np.ndarray, y: np.ndarray):
    """Place codes before any tolerance merge, and each unit's key text."""
    if key is not None:
        if key not in frame.columns:
            raise InvalidParameterError(
                f"repeat_locations: key column {key!r} not found; columns are "
                f"{list(frame.columns)[:20]}"
            )
        codes, uniques = pd.factorize(frame[key], sort=False)
        keys = np.asarray(uniques, dtype=object).astype(str)
        empty = np.char.str_len(np.char.strip(keys.astype(str))) == 0 if keys.size else keys
        missing = codes < 0
        if empty.any():
            missing |= empty[np.maximum(codes, 0)] & (codes >= 0)
        if missing.any():
            i = _first_bad(missing)
            raise InvalidParameterError(
                f"repeat_locations: field {key}, row {i}: empty place key; every incident "
                "needs one (or use key=None to key places by exact coordinates)"
            )
        return codes.astype(np.int64), keys
    cx, ux = pd.factorize(x, sort=False)
    cy, uy = pd.factorize(y, sort=False)
    codes, pairs = pd.factorize(cx.astype(np.int64) * len(uy) + cy, sort=False)
    px = np.asarray(ux)[np.asarray(pairs) // len(uy)]
    py = np.asarray(uy)[np.asarray(pairs) % len(uy)]
    keys = np.array(
        [f"xy:{_float_text(a)},{_float_text(b)}" for a, b in zip(px, py, strict=True)],
        dtype=object,
    )
    return codes.astype(np.int64), keys


def _mean_coords(codes, x, y, counts):
    """Mean coordinates per code in exact integer millimetres (row-order independent)."""
    n = counts.size
    x0 = float(x.min())
    y0 = float(y.min())
    sx = _k.segment_sum_int(codes, np.rint((x - x0) * _MM).astype(np.int64), n)
    sy = _k.segment_sum_int(codes, np.rint((y - y0) * _MM).astype(np.int64), n)
    return x0 + sx / counts / _MM, y0 + sy / counts / _MM


def _merge_within(codes, keys, x, y, tolerance_m):
    """Single-linkage merge of places within ``tolerance_m``; returns new codes and keys."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    counts = np.bincount(codes, minlength=keys.size)
    ux, uy = _mean_coords(codes, x, y, counts)
    pairs = cKDTree(np.column_stack([ux, uy])).query_pairs(tolerance_m, output_type="ndarray")
    n = keys.size
    graph = coo_matrix(
        (np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n)
    )
    n_comp, comp = connected_components(graph, directed=False)
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(keys, kind="stable")] = np.arange(n)
    smallest = np.full(n_comp, n, dtype=np.int64)
    np.minimum.at(smallest, comp, rank)
    by_rank = np.sort(keys)
    announce(
        f"repeat_locations: {n:,} places within {tolerance_m:g} m of each other merged "
        f"(single linkage) into {n_comp:,}"
    )
    return comp[codes].astype(np.int64), by_rank[smallest]


def _modal(frame: pd.DataFrame, column: str, order: np.ndarray, start: np.ndarray):
    labels = frame[column]
    lab_codes, lab_uniques = pd.factorize(labels, sort=True)
    mode = _k.segment_mode(lab_codes.astype(np.int64), order, start, max(len(lab_uniques), 1))
    out = np.asarray(lab_uniques, dtype=object)[np.maximum(mode, 0)] if len(lab_uniques) else (
        np.full(mode.size, None, dtype=object)
    )
    out = out.astype(object)
    out[mode < 0] = None
    return out


def _rank_order(table: pd.DataFrame, rank_by: str) -> np.ndarray:
    primary, secondary = ("harm", "count") if rank_by == "harm" else ("count", "harm")
    return np.lexsort(
        (
            table["location_key"].to_numpy(dtype=object).astype(str),
            -table[secondary].to_numpy(dtype=np.float64),
            -table[primary].to_numpy(dtype=np.float64),
        )
    )


# --------------------------------------------------------------------------- repeat places


def repeat_locations(
    incidents: Any,
    *,
    key: str | None = "location_key",
    tolerance_m: float | None = None,
    harm: Any = None,
    top_n: int | None = None,
    by: str | None = "lpu",
    rank_by: Literal["harm", "count"] = "harm",
    unknown_harm: float | None = None,
):
    """Per-place summary of repeat demand: counts, harm, types, dates, shares, ranks.

    Parameters
    ----------
    incidents : DataFrame or IncidentTable
        Canonical incidents: ``x``, ``y`` (metres), ``occurred``, ``crime_type``, the key
        column, optionally ``date_precision``, ``lpu``, ``neighbourhood``.
    key : str or None
        Place key column (default ``"location_key"``); None keys places by exact (x, y).
    tolerance_m : float, optional
        Merge places whose coordinates are within this many metres (single linkage).
    harm : HarmTable, optional
        Harm weights by crime type. Default: the incidents' own ``harm`` column (the demand
        stage's weights, :func:`geodemand.prepare_demand`: harm is applied once, there), else
        the default CCHI table (announced).
    top_n : int, optional
        Keep only the top ``top_n`` places of each ``by`` group (see :func:`top_places`).
    by : str or None
        Grouping column for shares and ``rank_in_group`` (default ``"lpu"``; if the column is
        absent the grouping is force-wide and this is announced).
    rank_by : {"harm", "count"}
        Ranking criterion; ties go to the other criterion, then to ``location_key``.
    unknown_harm : float, optional
        Weight for crime types missing from the harm table (default: raise an error).

    Returns
    -------
    GeoDataFrame
        One row per place, columns as in the module docstring, sorted by ``rank``.
    """
    import geopandas as gpd

    from geodemand.demand.harm import HarmTable, harm_weights

    frame = _frame_of(incidents, "repeat_locations")
    _require(frame, ["x", "y", "occurred", "crime_type"] + ([key] if key else []),
             "repeat_locations")
    if not len(frame):
        raise InvalidParameterError("repeat_locations: no incidents given")
    if rank_by not in ("harm", "count"):
        raise InvalidParameterError(f"rank_by: {rank_by!r}; expected 'harm' or 'count'")
    if tolerance_m is not None and not (math.isfinite(tolerance_m) and tolerance_m >= 0):
        raise InvalidParameterError(
            f"tolerance_m: expected a finite number of metres >= 0, got {tolerance_m!r}"
        )
    if top_n is not None and (isinstance(top_n, bool) or int(top_n) != top_n or top_n < 1):
        raise InvalidParameterError(f"top_n: expected an integer >= 1, got {top_n!r}")
    harm_given = harm is None and "harm" in frame.columns
    if harm is None and not harm_given:
        harm = harm_weights()
        announce("repeat_locations: no 'harm' column and no harm table: the default CCHI "
                 "weights are used")
    if not harm_given and not isinstance(harm, HarmTable):
        raise InvalidParameterError(
            f"harm: expected a HarmTable (geodemand.harm_weights()), got {type(harm).__name__}"
        )
    group_col = by
    if by is not None and by not in frame.columns:
        announce(f"repeat_locations: no {by!r} column, so shares and ranks are force-wide")
        group_col = None

    x, y = _coords(frame)
    codes, keys = _unit_codes(frame, key, x, y)
    if tolerance_m:
        codes, keys = _merge_within(codes, keys, x, y, float(tolerance_m))
    n_places = keys.size
    counts = np.bincount(codes, minlength=n_places).astype(np.int64)
    px, py = _mean_coords(codes, x, y, counts)

    type_codes, types = pd.factorize(frame["crime_type"], sort=True)
    if (type_codes < 0).any():
        i = _first_bad(type_codes < 0)
        raise InvalidParameterError(f"repeat_locations: field crime_type, row {i}: missing")
    types = [str(t) for t in types]
    by_type = np.bincount(
        codes * len(types) + type_codes, minlength=n_places * len(types)
    ).reshape(n_places, len(types))
    if harm_given:  # the demand stage's harm per incident: applied there, summed here
        harm_sum = np.bincount(codes, weights=frame["harm"].to_numpy(np.float64),
                               minlength=n_places)
    else:
        weights = harm.weights(pd.Series(types), unknown_weight=unknown_harm)
        harm_sum = by_type.astype(np.float64) @ weights

    occurred = pd.to_datetime(frame["occurred"])
    if occurred.isna().any():
        i = _first_bad(occurred.isna().to_numpy())
        raise InvalidParameterError(f"repeat_locations: field occurred, row {i}: no date")
    ns = occurred.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    first, last = _k.segment_min_max(codes, ns, n_places)

    if "date_precision" in frame.columns:
        dated = ~frame["date_precision"].eq("month").to_numpy(dtype=bool, na_value=False)
    else:
        dated = np.ones(len(frame), dtype=bool)
    dated_rows = np.flatnonzero(dated)
    dated_rows = dated_rows[np.argsort(ns[dated_rows], kind="stable")]
    order_dated, start_dated = _k.group_order(codes, n_places, dated_rows.astype(np.int64))
    # days since the first dated incident (small numbers keep the float gaps exact enough)
    rel_days = (ns - (ns[dated].min() if dated.any() else 0)).astype(np.float64) / _NS_PER_DAY
    median_gap = _k.segment_median_gap(rel_days, order_dated, start_dated)

    table: dict[str, Any] = {
        "location_key": keys,
        "count": counts,
        "harm": harm_sum,
        "repeats": counts - 1,
    }
    for j, t in enumerate(types):
        table[f"n_{t.replace('-', '_')}"] = by_type[:, j]
    table.update(
        {
            "first_date": first.view("datetime64[ns]"),
            "last_date": last.view("datetime64[ns]"),
            "median_days_between": median_gap,
            "n_dated": np.diff(start_dated),
            "x": px,
            "y": py,
        }
    )
    label_cols = [c for c in ("lpu", "neighbourhood") if c in frame.columns]
    if group_col is not None and group_col not in label_cols:
        label_cols.append(group_col)
    if label_cols:
        order_all, start_all = _k.group_order(
            codes, n_places, np.arange(len(frame), dtype=np.int64)
        )
        for col in label_cols:
            table[col] = _modal(frame, col, order_all, start_all)
    out = pd.DataFrame(table)

    if group_col is None:
        group_key = np.zeros(n_places, dtype=np.int64)
    else:
        group_key = out[group_col].astype(object).where(out[group_col].notna(), "<none>")
        group_key = group_key.to_numpy()
    total_count = out.groupby(group_key, sort=False)["count"].transform("sum")
    total_harm = out.groupby(group_key, sort=False)["harm"].transform("sum")
    out["group_share_count"] = out["count"] / total_count
    with np.errstate(divide="ignore", invalid="ignore"):
        out["group_share_harm"] = np.where(total_harm > 0, out["harm"] / total_harm, np.nan)

    ranked = _rank_order(out, rank_by)
    out = out.iloc[ranked].reset_index(drop=True)
    out["rank"] = np.arange(1, n_places + 1)
    out["rank_in_group"] = out.groupby(group_key[ranked], sort=False).cumcount() + 1
    if top_n is not None:
        out = out[out["rank_in_group"] <= int(top_n)].reset_index(drop=True)

    crs = frame.attrs.get("crs") or getattr(incidents, "crs", None)
    result = gpd.GeoDataFrame(out, geometry=gpd.points_from_xy(out["x"], out["y"]), crs=crs)
    result.attrs["crs"] = crs
    result.attrs["params"] = {
        "key": key,
        "tolerance_m": None if tolerance_m is None else float(tolerance_m),
        "by": group_col,
        "rank_by": rank_by,
        "top_n": top_n,
        "harm_table": "the incidents' harm column" if harm_given else harm.to_record(),
        "unknown_harm": unknown_harm,
        "n_incidents": int(len(frame)),
        "n_places": int(n_places),
        "n_incidents_dated": int(dated.sum()),
        "median_days_between": "consecutive incidents with date_precision finer than month",
        "coordinates": "mean of the place's incidents (exact millimetre sums)",
    }
    return result


def top_places(places: pd.DataFrame, n: int, *, by: str | None = "lpu") -> pd.DataFrame:
    """The ``n`` best-ranked places of each ``by`` group (force-wide if ``by`` is None).

    Parameters
    ----------
    places : DataFrame
        A :func:`repeat_locations` result (sorted by ``rank``).
    n : int
        Places per group (>= 1).
    by : str or None
        Group column.
    """
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise InvalidParameterError(f"top_places: n must be an integer >= 1, got {n!r}")
    if "rank" not in places.columns:
        raise InvalidParameterError("top_places: expected a repeat_locations result (no 'rank')")
    ordered = places.sort_values("rank", kind="mergesort")
    if by is None:
        return ordered.head(int(n))
    if by not in places.columns:
        raise InvalidParameterError(f"top_places: no column {by!r} in the places table")
    keys = ordered[by].astype(object).where(ordered[by].notna(), "<none>")
    return ordered[ordered.groupby(keys.to_numpy(), sort=False).cumcount() < int(n)]


# --------------------------------------------------------------------------- concentration


@dataclass(frozen=True, eq=False)
class Concentration:
    """Concentration of demand over the units (places or cells) of one group.

    The units' demand sorted in **descending** order, ``v_1 >= ... >= v_n`` with total ``V``,
    gives the concentration curve through ``(k / n, (v_1 + ... + v_k) / V)``, k = 0 .. n,
    joined by straight lines (the Lorenz curve seen from the top). All shares are read off
    this piecewise-linear curve.

    Attributes
    ----------
    group : str
        Group name (``"all"`` for force-wide).
    values : float64 array
        Demand per unit, sorted descending.
    gini : float
        ``G = 2 * sum_i i * x_(i) / (n * sum_i x_(i)) - (n + 1) / n`` over the values sorted
        **ascending** ``x_(1) <= ... <= x_(n)`` (i = 1 .. n). This is ``1 - 2 B`` with ``B``
        the area under the (trapezoidal) Lorenz curve; it is 0 for equal units and
        ``(n - 1) / n`` when one unit holds everything (e.g. [0, 0, 0, 10] -> 0.75). NaN when
        the total is 0. Zero-demand units count as given: pass every grid cell (zeros
        included) for cells; places built from incidents all have demand >= 1.
    """

    group: str
    values: np.ndarray

    @property
    def n_units(self) -> int:
        """Number of units."""
        return int(self.values.size)

    @property
    def n_nonzero(self) -> int:
        """Units with demand > 0."""
        return int(np.count_nonzero(self.values))

    @property
    def total(self) -> float:
        """Total demand."""
        return float(self.values.sum())

    @property
    def gini(self) -> float:
        """Gini coefficient (see the class docstring)."""
        n = self.values.size
        total = self.values.sum()
        if n == 0 or total <= 0:
            return float("nan")
        asc = self.values[::-1]
        i = np.arange(1, n + 1, dtype=np.float64)
        return float(2.0 * np.dot(i, asc) / (n * total) - (n + 1.0) / n)

    def curve(self) -> tuple[np.ndarray, np.ndarray]:
        """``(unit_share, demand_share)``, both starting at 0 and ending at 1."""
        n = self.values.size
        cum = np.concatenate([[0.0], np.cumsum(self.values)])
        total = cum[-1]
        share = cum / total if total > 0 else np.full(n + 1, np.nan)
        return np.arange(n + 1) / max(n, 1), share

    def share_units_for(self, q: float) -> float:
        """Smallest share of units (best first) holding a share ``q`` of demand, interpolated.

        The inverse of the concentration curve at ``q`` (linear within a unit). E.g.
        ``share_units_for(0.5) = 0.04`` reads "4 % of places hold 50 % of demand".
        """
        _check_share(q, "q")
        f, c = self.curve()
        if not np.isfinite(c[-1]):
            return float("nan")
        if q <= 0:
            return 0.0
        k = int(np.searchsorted(c, q - 1e-12 * max(q, 1e-300), side="left"))
        k = min(max(k, 1), c.size - 1)
        lo, hi = c[k - 1], c[k]
        frac = 1.0 if hi <= lo else min(max((q - lo) / (hi - lo), 0.0), 1.0)
        return float((k - 1 + frac) / (c.size - 1))

    def units_for(self, q: float) -> int:
        """Smallest number of units (best first) holding at least a share ``q`` of demand."""
        _check_share(q, "q")
        if q <= 0:
            return 0
        cum = np.cumsum(self.values)
        total = cum[-1] if cum.size else 0.0
        if total <= 0:
            return 0
        return int(np.searchsorted(cum, q * total * (1 - 1e-12), side="left") + 1)

    def share_of_top(self, p: float) -> float:
        """Share of demand held by the top share ``p`` of units (curve value at ``p``)."""
        _check_share(p, "p")
        f, c = self.curve()
        return float(np.interp(p, f, c))

    def summary(self) -> dict[str, Any]:
        """The headline numbers as a dict (one row of :attr:`ConcentrationResult.summary`)."""
        return {
            "group": self.group,
            "n_units": self.n_units,
            "n_nonzero": self.n_nonzero,
            "total": self.total,
            "gini": self.gini,
            "share_units_50": self.share_units_for(0.5),
            "share_units_80": self.share_units_for(0.8),
            "n_units_50": self.units_for(0.5),
            "n_units_80": self.units_for(0.8),
            "top5_share": self.share_of_top(0.05),
        }


def _check_share(q: float, name: str) -> None:
    if not (isinstance(q, int | float) and 0 <= q <= 1):
        raise InvalidParameterError(f"{name}: expected a share in [0, 1], got {q!r}")


@dataclass(frozen=True, eq=False)
class ConcentrationResult:
    """Concentration force-wide (group ``"all"``) and per group.

    Attributes
    ----------
    groups : dict of str -> Concentration
        ``"all"`` first, then the groups in sorted order.
    summary : DataFrame
        One row per group: ``group, n_units, n_nonzero, total, gini, share_units_50,
        share_units_80, n_units_50, n_units_80, top5_share`` (shares of units interpolated on
        the curve; ``n_units_*`` the smallest whole number of units).
    params : dict
        Input kind, weight, grouping, key.

    The force-wide group's numbers are also available directly: :attr:`gini`,
    :meth:`share_units_for`, :meth:`units_for`, :meth:`share_of_top`, :meth:`curve`.
    """

    groups: dict[str, Concentration]
    summary: pd.DataFrame
    params: dict = field(default_factory=dict)

    @property
    def overall(self) -> Concentration:
        """The force-wide concentration."""
        return self.groups["all"]

    @property
    def gini(self) -> float:
        """Force-wide Gini coefficient."""
        return self.overall.gini

    def share_units_for(self, q: float) -> float:
        """Force-wide :meth:`Concentration.share_units_for`."""
        return self.overall.share_units_for(q)

    def units_for(self, q: float) -> int:
        """Force-wide :meth:`Concentration.units_for`."""
        return self.overall.units_for(q)

    def share_of_top(self, p: float) -> float:
        """Force-wide :meth:`Concentration.share_of_top`."""
        return self.overall.share_of_top(p)

    def curve(self) -> tuple[np.ndarray, np.ndarray]:
        """Force-wide concentration curve."""
        return self.overall.curve()

    def _facts(self) -> dict[str, Any]:
        c = self.overall
        return {
            "units": c.n_units,
            "with demand": c.n_nonzero,
            "total": f"{c.total:.6g}",
            "Gini": f"{c.gini:.3f}",
            "share of units holding 50 %": f"{c.share_units_for(0.5):.2%}",
            "groups": len(self.groups) - 1,
        }

    def __repr__(self) -> str:
        return text_summary("ConcentrationResult", self._facts(), self.params)

    def _repr_html_(self) -> str:
        return html_summary("ConcentrationResult (demand concentration)", self._facts(),
                            self.params, table=self.summary.round(3))

    def plot(self, ax: Any = None, *, groups: Sequence[str] | None = None) -> Any:
        """Concentration curves (:func:`plot_concentration`) in ``ax`` or a new pyplot figure;
        returns the matplotlib Axes."""
        from geodemand._figures import axes_for

        ax = axes_for(ax)
        plot_concentration(self, ax=ax, groups=groups)
        return ax


def _values_array(values: Any) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    arr = arr[~np.isnan(arr)]  # NaN = cells outside the study area
    if np.isinf(arr).any() or (arr < 0).any():
        bad = np.flatnonzero(np.isinf(arr) | (arr < 0))[0]
        raise InvalidParameterError(
            f"concentration: value {arr[bad]!r} at position {int(bad)}; demand values must be "
            "finite and >= 0"
        )
    return arr


def concentration(
    values_or_incidents: Any,
    *,
    by: str | None = None,
    weight: str = "count",
    key: str | None = "location_key",
    harm: Any = None,
) -> ConcentrationResult:
    """Concentration (Lorenz) curve, Gini and "x % of units hold 50 % / 80 %" of demand.

    Parameters
    ----------
    values_or_incidents : array, Series, places table or incidents
        * an array of demand per unit (e.g. grid-cell counts, any shape; zeros count as
          units, NaN cells are dropped as outside the study area);
        * a :func:`repeat_locations` result (has ``count`` and ``harm``);
        * incidents (DataFrame / IncidentTable), summarised per place with
          :func:`repeat_locations` (``key``, ``harm``).
    by : str, optional
        Group column of the places (e.g. ``"lpu"``): one concentration per group plus
        force-wide (``"all"``). Not allowed for arrays.
    weight : str
        ``"count"`` (incidents per place) or ``"harm"`` (harm-weighted demand), or another
        numeric column of the places table. Ignored for arrays.
    key : str or None
        Place key for incidents (see :func:`repeat_locations`).
    harm : HarmTable, optional
        Harm weights for incidents.

    Returns
    -------
    ConcentrationResult
    """
    if isinstance(values_or_incidents, pd.DataFrame | pd.Series) or hasattr(
        values_or_incidents, "frame"
    ):
        if isinstance(values_or_incidents, pd.Series):
            if by is not None:
                raise InvalidParameterError("concentration: by= needs a table, not a Series")
            groups = {"all": _values_array(values_or_incidents.to_numpy(dtype=np.float64))}
            kind = "series"
        else:
            places = _frame_of(values_or_incidents, "concentration")
            kind = "places"
            if "count" not in places.columns or "harm" not in places.columns:
                places = repeat_locations(places, key=key, harm=harm, by=by)
                kind = "incidents"
            if weight not in places.columns:
                raise InvalidParameterError(
                    f"concentration: weight={weight!r} is not a column of the places table; "
                    "expected 'count', 'harm' or another numeric column"
                )
            vals = _values_array(places[weight].to_numpy(dtype=np.float64))
            groups = {"all": vals}
            if by is not None:
                if by not in places.columns:
                    raise InvalidParameterError(
                        f"concentration: by={by!r} is not a column of the places table"
                    )
                labels = places[by].astype(object).where(places[by].notna(), "<none>")
                labels = labels.astype(str).to_numpy()
                for g in sorted(set(labels)):
                    groups[g] = vals[labels == g]
    else:
        if by is not None:
            raise InvalidParameterError(
                "concentration: by= needs a places or incidents table, not an array"
            )
        groups = {"all": _values_array(values_or_incidents)}
        kind = "array"
    result = {
        g: Concentration(group=g, values=np.sort(v)[::-1].copy()) for g, v in groups.items()
    }
    summary = pd.DataFrame([c.summary() for c in result.values()])
    params = {
        "input": kind,
        "weight": weight if kind in ("places", "incidents") else "values",
        "by": by,
        "key": key if kind == "incidents" else None,
        "gini": "2 sum(i x_(i)) / (n sum x) - (n + 1) / n, x ascending",
        "share_units": "inverse of the piecewise-linear concentration curve (interpolated)",
        "n_units": "smallest number of best units reaching the share",
    }
    return ConcentrationResult(groups=result, summary=summary, params=params)


#: Steps per axis below which :func:`curve_for_drawing` drops the points of a curve.
DRAWING_STEPS = 4096


def curve_for_drawing(
    unit_share: np.ndarray, demand_share: np.ndarray, steps: int = DRAWING_STEPS
) -> tuple[np.ndarray, np.ndarray]:
    """The points of a concentration curve a drawing needs: the first and last, and each
    point where either share enters a new step of ``1 / steps``.

    A dropped point is in the same step of both shares as the kept point before it, so it
    lies within ``1 / steps`` of each axis (a tenth of a pixel on a 500-pixel plot) of the
    drawn line; a force-wide curve of 100,000 places is drawn from at most ``2 * steps + 2``
    points instead.

    Parameters
    ----------
    unit_share, demand_share : ndarray
        The curve (:meth:`Concentration.curve`), both non-decreasing from 0 to 1.
    steps : int
        Steps per axis (default :data:`DRAWING_STEPS`).
    """
    f = np.asarray(unit_share, dtype=np.float64)
    c = np.asarray(demand_share, dtype=np.float64)
    if f.size <= 2 or not np.isfinite(c).all():
        return f, c
    fs = np.floor(f * steps)
    cs = np.floor(c * steps)
    keep = np.zeros(f.size, dtype=bool)
    keep[0] = keep[-1] = True
    keep[1:] |= (fs[1:] != fs[:-1]) | (cs[1:] != cs[:-1])
    return f[keep], c[keep]


#: Size (inches) and margins (figure fractions) of a concentration plot on its own figure:
#: the margins ``tight_layout`` finds for its fixed tick labels, axis labels and title line
#: (tested to hold every text inside the picture), set without a layout pass per plot.
CONCENTRATION_FIGSIZE = (6.0, 5.0)
CONCENTRATION_MARGINS = {"left": 0.12, "right": 0.952, "bottom": 0.116, "top": 0.932}


def plot_concentration(
    result: ConcentrationResult,
    path: str | os.PathLike[str] | None = None,
    *,
    ax: Any = None,
    title: str | None = None,
    groups: Sequence[str] | None = None,
) -> Any:
    """Concentration curves (share of demand against share of units).

    Parameters
    ----------
    result : ConcentrationResult
    path : path, optional
        Also write the figure as a PNG here (atomically).
    ax : matplotlib Axes, optional
        Draw into this Axes (default: a new figure).
    title : str, optional
        Figure title.
    groups : list of str, optional
        Groups to draw (default: all, force-wide in black).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from geodemand._figures import new_figure, save_png, tight_layout

    names = list(groups) if groups is not None else list(result.groups)
    _check_groups(result, names)
    own = ax is None
    if own:
        fig = new_figure(CONCENTRATION_FIGSIZE)
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    curves, colour = [], 0
    for name in names:  # the other groups take the colour cycle in turn
        curves.append(_curve_line(ax, result, name, colour))
        colour += name != "all"
    reference = _concentration_frame(ax)
    ax.set_title(title or "Concentration of demand", fontsize=10)
    ax.legend(handles=[*curves, reference], fontsize=7, loc="lower right")
    if own:  # the axes' texts are fixed (the title is centred above): fixed margins fit
        fig.subplots_adjust(**CONCENTRATION_MARGINS)
    else:
        tight_layout(fig)
    if path is not None:
        save_png(fig, path)
    return fig


def save_concentration_plots(
    result: ConcentrationResult,
    plots: Sequence[tuple[str, str | os.PathLike[str], str]],
) -> list[Any]:
    """Each ``(group, path, title)`` as the PNG of ``plot_concentration(result, path,
    title=title, groups=["all", group])``, drawn on one figure.

    The axes, labels, reference lines and the force-wide curve are made once; each plot adds
    its group's curve, title and legend, is saved and takes them off again. The files are
    the same bytes as one ``plot_concentration`` each (tested).

    Returns
    -------
    list of Path
        The files written.
    """
    from geodemand._figures import new_figure, save_png

    _check_groups(result, ["all", *(group for group, _, _ in plots)])
    fig = new_figure(CONCENTRATION_FIGSIZE)
    ax = fig.add_subplot()
    force = _curve_line(ax, result, "all", 0)
    reference = _concentration_frame(ax)
    fig.subplots_adjust(**CONCENTRATION_MARGINS)
    written = []
    for group, path, title in plots:
        curve = _curve_line(ax, result, group, 0)
        ax.set_title(title or "Concentration of demand", fontsize=10)
        legend = ax.legend(handles=[force, curve, reference], fontsize=7, loc="lower right")
        written.append(save_png(fig, path))
        curve.remove()
        legend.remove()
    return written


def _check_groups(result: ConcentrationResult, names: Sequence[str]) -> None:
    unknown = [g for g in names if g not in result.groups]
    if unknown:
        raise InvalidParameterError(
            f"plot_concentration: unknown group(s) {unknown}; have {list(result.groups)}"
        )


def _curve_line(ax: Any, result: ConcentrationResult, name: str, index: int) -> Any:
    """One group's curve: force-wide ("all") thick black, the ``index``-th other group in
    the ``index``-th colour of matplotlib's cycle."""
    conc = result.groups[name]
    f, c = curve_for_drawing(*conc.curve())
    style = {"color": "black", "lw": 2.0} if name == "all" else {"color": f"C{index % 10}",
                                                                  "lw": 1.2}
    label = "force-wide" if name == "all" else name
    (line,) = ax.plot(100 * f, 100 * c, label=f"{label} (Gini {conc.gini:.2f}, "
                      f"{100 * conc.share_units_for(0.5):.1f} % hold 50 %)", **style)
    return line


def _concentration_frame(ax: Any) -> Any:
    """The equal-demand diagonal (returned, for the legend), the 50 % and 80 % lines (drawn
    over the curves), the limits and the axis labels."""
    (diagonal,) = ax.plot([0, 100], [0, 100], color="0.6", lw=1, ls="--",
                          label="equal demand", zorder=2.5)
    ax.axhline(50, color="0.85", lw=0.8, zorder=2.5)
    ax.axhline(80, color="0.85", lw=0.8, zorder=2.5)
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.set_xlabel("% of units (highest demand first)")
    ax.set_ylabel("% of demand")
    return diagonal
