"""Patrol areas: the top control-plan targets turned into small, walkable polygons with a dosage
an LPU can deliver.

Areas
-----
:func:`patrol_areas` takes each LPU's top ``top_n`` place targets (buffered by
``place_buffer_m``) and top ``top_n`` cell targets, merges what touches, clips to the LPU (an
area never crosses an LPU edge) and splits areas larger than ``max_area_km2`` on a square
lattice. Partnership sites are not targets, so they never anchor an area; their incidents do
not count in an area's demand either (their plans are multi-agency).

Each area is scored by **its own** expected harm: the target score of
:mod:`geodemand.decide.score` (the model fitted for the ranking) applied to the incidents
inside the polygon, so a cell and a place inside it are never counted twice. Areas are ranked
by expected harm within the LPU (``rank``) and across the force (``force_rank``). An area's
id is ``area:<target id of its highest-ranked target>`` so the same place keeps the same area
id from week to week.

Dosage
------
After the Koper curve (Koper 1995: visits of about 10–15 minutes give the most residual
deterrence), a visit lasts ``minutes_per_visit`` (default 15). The directed-patrol budget is
**force-wide**: ``patrol_hours_per_day`` officer-hours a day (default :data:`FORCE_HOURS`).
Every LPU with a patrol area first gets the floor ``lpu_floor_hours`` (default 1 hour: four
visits), and the rest is shared between LPUs in proportion to their areas' expected harm.
Within an LPU the visits go to areas in proportion to expected harm, as **whole visits**
(largest-remainder rounding), at least one and at most ``max_visits_per_day`` (default 4) per
area (when the budget is shorter than one visit per area, the highest-ranked areas get one); visits
an LPU cannot place within the caps are reported as unspent. Visits should be short, repeated and
unpredictable in time.

When the incidents have times (``date_precision`` minute), each area gets its hot hours: the
:data:`HOT_WINDOWS` day-of-week × 2-hour windows holding the most harm; month-precision data
(police.uk) say so instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodemand.decide.score import period_ages, score_units
from geodemand.errors import InvalidParameterError

#: Default maximum area of one patrol area: 0.25 km² (a 500 m square, walkable in one visit).
MAX_AREA_KM2 = 0.25
#: Default buffer around a target place, metres.
PLACE_BUFFER_M = 75.0
#: Default force-wide directed-patrol budget, officer-hours a day.
FORCE_HOURS = 40.0
#: Default floor per LPU with patrol areas, officer-hours a day.
LPU_FLOOR_HOURS = 1.0
#: Default cap of visits per area per day.
MAX_VISITS_PER_DAY = 4
#: Number of hot-hour windows reported per area.
HOT_WINDOWS = 3
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class PatrolPlan:
    """Patrol areas, the per-LPU budget and summary.

    Attributes
    ----------
    areas : GeoDataFrame
        One row per patrol area (columns in :func:`patrol_areas`), analysis CRS.
    lpu_summary : DataFrame
        Per LPU: ``lpu, n_areas, area_km2, lpu_area_km2, share_of_area, expected_harm,
        harm_captured, lpu_harm, share_of_harm, incidents_captured, lpu_incidents,
        share_of_incidents, budget_hours, visits_per_day, minutes_per_day, unspent_minutes``.
    params : dict
        Parameters, the data window, the budget and what was unspent.
    """

    areas: gpd.GeoDataFrame
    lpu_summary: pd.DataFrame
    params: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        p = self.params
        n_lpus = self.areas["lpu"].nunique() if len(self.areas) else 0
        return (
            f"PatrolPlan({len(self.areas)} areas in {n_lpus} LPUs; "
            f"{p.get('visits_total', 0)} visits a day of {p.get('minutes_per_visit')} min; "
            f"budget {p.get('patrol_hours_per_day')} officer-hours, unspent "
            f"{p.get('unspent_minutes', 0):.0f} min)"
        )

    def _repr_html_(self) -> str:
        import html

        cols = [c for c in ("lpu", "area_id", "label", "area_km2", "visits_per_day",
                            "minutes_per_day", "expected_harm") if c in self.areas.columns]
        table = pd.DataFrame(self.areas[cols]).round(2).head(10)
        return (f"<div><p>{html.escape(repr(self))}</p>"
                + table.to_html(index=False, escape=True) + "</div>")

    def plot(self, ax: Any = None, *, column: str = "minutes_per_day") -> Any:
        """The patrol areas coloured by ``column`` (default minutes a day); returns the Axes."""
        from geodemand._figures import axes_for

        ax = axes_for(ax)
        if len(self.areas):
            self.areas.plot(column=column if column in self.areas.columns else None, ax=ax,
                            legend=column in self.areas.columns, cmap="OrRd",
                            edgecolor="black", linewidth=0.5)
        ax.set_title(f"patrol areas ({len(self.areas)})")
        ax.set_aspect("equal")
        return ax


def patrol_areas(
    ranking,
    areas,
    *,
    top_n: int = 5,
    max_area_km2: float = MAX_AREA_KM2,
    place_buffer_m: float = PLACE_BUFFER_M,
    patrol_hours_per_day: float = FORCE_HOURS,
    lpu_floor_hours: float = LPU_FLOOR_HOURS,
    minutes_per_visit: float = 15.0,
    max_visits_per_day: int = MAX_VISITS_PER_DAY,
    review_days: int = 28,
) -> PatrolPlan:
    """Turn each LPU's top targets into patrol areas with a whole-visit dosage.

    Parameters
    ----------
    ranking : TargetRanking
        From :func:`geodemand.rank_targets`.
    areas : Areas
        LPU (and neighbourhood) polygons in the analysis CRS.
    top_n : int
        Top place targets and top cell targets per LPU turned into areas.
    max_area_km2 : float
        Largest area of one patrol area, km².
    place_buffer_m : float
        Buffer around each target place, metres.
    patrol_hours_per_day : float
        Force-wide directed-patrol budget, officer-hours a day.
    lpu_floor_hours : float
        Hours a day every LPU with a patrol area gets before the rest is shared by harm.
    minutes_per_visit : float
        Length of one visit, minutes (Koper curve: 10–15; 5–30 allowed).
    max_visits_per_day : int
        Cap of visits per area per day.
    review_days : int
        Days after the end of the data window when each area's plan must be reviewed.

    Returns
    -------
    PatrolPlan
        ``areas`` columns: ``area_id``, ``rank``, ``force_rank``, ``lpu``, ``label``,
        ``neighbourhoods`` (";"-joined), ``targets`` (target ids inside), ``n_cells``,
        ``n_places``, ``expected_harm``, ``expected_incidents``, ``harm_per_incident``
        (the score of the incidents inside), ``incidents``, ``harm`` (window),
        ``incidents_<type>``, ``harm_<type>``, ``share_lpu_incidents``, ``share_lpu_harm``,
        ``area_km2``, ``visits_per_day`` (int), ``minutes_per_visit``, ``minutes_per_day``,
        ``hot_hours``, ``review_date``, ``window_start``, ``window_end``, ``synthetic``,
        ``geometry``.
    """
    _check(top_n, max_area_km2, place_buffer_m, patrol_hours_per_day, lpu_floor_hours,
           minutes_per_visit, max_visits_per_day, review_days)
    demand = ranking.demand
    crs = areas.crs
    lpu_geom = dict(zip(areas.lpus["lpu"], areas.lpus.geometry.values, strict=True))
    rows = []
    for lpu in sorted(lpu_geom):
        pieces = _lpu_pieces(ranking, lpu, lpu_geom[lpu], top_n, place_buffer_m,
                             max_area_km2 * 1e6)
        rows.extend({"lpu": lpu, "geometry": g} for g in pieces)
    params = {
        "window_start": demand.params["window_start"],
        "window_end": demand.params["window_end"],
        "top_n": top_n,
        "max_area_km2": max_area_km2,
        "place_buffer_m": place_buffer_m,
        "patrol_hours_per_day": float(patrol_hours_per_day),
        "lpu_floor_hours": float(lpu_floor_hours),
        "minutes_per_visit": float(minutes_per_visit),
        "max_visits_per_day": int(max_visits_per_day),
        "review_days": int(review_days),
        "dosage": "force-wide budget; LPU floor, rest by expected harm; whole visits by "
                  "largest remainder, capped per area (Koper 1995: 10-15 minute visits)",
    }
    if not rows:
        empty = gpd.GeoDataFrame(
            {"area_id": [], "rank": [], "force_rank": [], "lpu": []}, geometry=[], crs=crs
        )
        params.update(visits_total=0, unspent_minutes=float(patrol_hours_per_day) * 60)
        return PatrolPlan(empty, pd.DataFrame(), params)
    gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)
    patrol_frame = _patrol_incidents(ranking)
    area_of = _area_of_incidents(gdf, patrol_frame)  # once: the join is the costly part
    gdf = _attach_demand(gdf, patrol_frame, ranking, areas, area_of)
    gdf = _attach_score(gdf, patrol_frame, ranking, area_of)
    gdf = _attach_targets(gdf, ranking)
    gdf["_row"] = np.arange(len(gdf))
    gdf = _rank(gdf)
    gdf, lpu_budget = _dose(gdf, patrol_hours_per_day, lpu_floor_hours, minutes_per_visit,
                            max_visits_per_day)
    position = np.empty(len(gdf), dtype=np.int64)  # row before ranking -> row after
    position[gdf["_row"].to_numpy()] = np.arange(len(gdf))
    area_of = np.where(area_of >= 0, position[np.maximum(area_of, 0)], -1)
    gdf = gdf.drop(columns="_row")
    gdf["hot_hours"] = _hot_hours(gdf, patrol_frame, area_of)
    window_end = pd.Timestamp(demand.window_end)
    gdf["review_date"] = (window_end.normalize() + pd.Timedelta(days=review_days)).date()
    gdf["window_start"] = demand.window_start.date()
    gdf["window_end"] = window_end.date()
    gdf["synthetic"] = bool(demand.params.get("synthetic", False))
    summary = _lpu_summary(gdf, patrol_frame, areas, lpu_budget)
    spent = float(gdf["minutes_per_day"].sum())
    params.update(
        visits_total=int(gdf["visits_per_day"].sum()),
        minutes_spent=spent,
        unspent_minutes=float(patrol_hours_per_day) * 60 - spent,
        lpu_budget_hours=dict(lpu_budget),
    )
    lead = ["area_id", "rank", "force_rank", "lpu", "label", "neighbourhoods", "expected_harm",
            "expected_incidents", "harm_per_incident", "visits_per_day", "minutes_per_visit",
            "hot_hours", "review_date"]
    gdf = gdf[lead + [c for c in gdf.columns if c not in lead]]
    gdf.attrs["params"] = params
    return PatrolPlan(gdf.reset_index(drop=True), summary, params)


def _check(top_n, max_area_km2, place_buffer_m, hours, floor, minutes, cap, review) -> None:
    def bad(name, value, rule):
        raise InvalidParameterError(f"{name}={value!r}: expected {rule}")

    if isinstance(top_n, bool) or not isinstance(top_n, int | np.integer) or top_n < 1:
        bad("top_n", top_n, "a whole number >= 1")
    if not (np.isfinite(max_area_km2) and max_area_km2 > 0):
        bad("max_area_km2", max_area_km2, "km² > 0")
    if not (np.isfinite(place_buffer_m) and place_buffer_m >= 0):
        bad("place_buffer_m", place_buffer_m, "metres >= 0")
    if not (np.isfinite(hours) and hours > 0):
        bad("patrol_hours_per_day", hours, "officer-hours a day > 0")
    if not (np.isfinite(floor) and floor >= 0):
        bad("lpu_floor_hours", floor, "hours >= 0")
    if not (np.isfinite(minutes) and 5 <= minutes <= 30):
        bad("minutes_per_visit", minutes, "5-30 minutes (Koper: 10-15)")
    if isinstance(cap, bool) or not isinstance(cap, int | np.integer) or cap < 1:
        bad("max_visits_per_day", cap, "a whole number >= 1")
    if isinstance(review, bool) or not isinstance(review, int | np.integer) or review < 1:
        bad("review_days", review, "whole days >= 1")


def _lpu_pieces(ranking, lpu, lpu_geom, top_n, buffer_m, max_area_m2) -> list:
    parts = []
    cells = ranking.cells
    top_cells = cells[(cells["lpu"] == lpu) & (cells["rank"] <= top_n)]
    if len(top_cells):
        parts.extend(shapely.get_parts(shapely.union_all(top_cells.geometry.values)))
    places = ranking.places
    top_places = places[(places["lpu"] == lpu) & (places["rank"] <= top_n)]
    if len(top_places):
        pts = shapely.points(top_places["x"].to_numpy(), top_places["y"].to_numpy())
        parts.extend(shapely.get_parts(shapely.union_all(shapely.buffer(pts, buffer_m))))
    if not parts:
        return []
    merged = shapely.union_all(np.asarray(parts, dtype=object))
    clipped = shapely.intersection(merged, lpu_geom)
    out = []
    for comp in shapely.get_parts(clipped):
        if comp.geom_type != "Polygon" or comp.area <= 1.0:
            continue
        out.extend(_lattice_split(comp, max_area_m2))
    return out


def _lattice_split(geom, max_area_m2: float):
    """Split a polygon into pieces of at most ``max_area_m2`` on an aligned square lattice."""
    if geom.area <= max_area_m2:
        return [geom]
    side = float(np.sqrt(max_area_m2))
    x0, y0, x1, y1 = geom.bounds
    xs = np.arange(np.floor(x0 / side) * side, x1, side)
    ys = np.arange(np.floor(y0 / side) * side, y1, side)
    gx, gy = np.meshgrid(xs, ys)
    boxes = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + side, gy.ravel() + side)
    out = []
    for piece in shapely.intersection(boxes, geom):
        out.extend(p for p in shapely.get_parts(piece) if p.geom_type == "Polygon" and p.area > 1)
    return out


#: The incident columns the patrol areas read.
_PATROL_COLUMNS = ("x", "y", "lpu", "crime_type", "harm", "period", "occurred", "date_precision")


def _patrol_incidents(ranking) -> pd.DataFrame:
    """The demand's incidents that patrol may address (not at a partnership site, unless
    partnership sites are patrol targets)."""
    frame = ranking.demand.incidents
    used = [c for c in _PATROL_COLUMNS if c in frame.columns]  # not the whole frame
    if ranking.params.get("patrol_partnership_sites"):
        return frame[used]
    sites = set(ranking.partnership["target_id"]) if len(ranking.partnership) else set()
    return frame.loc[~frame["place_id"].isin(sites), used]


def _area_of_incidents(gdf, frame) -> np.ndarray:
    """Index of the area holding each incident (-1: none; the first area on shared edges)."""
    x, y = frame["x"].to_numpy(np.float64), frame["y"].to_numpy(np.float64)
    out = np.full(len(frame), -1, dtype=np.int64)
    if not len(gdf) or not len(frame):
        return out
    # only incidents inside some area's bounding box can be inside it (areas are small)
    bounds = shapely.bounds(gdf.geometry.values)
    near = np.zeros(len(frame), dtype=bool)
    for x0, y0, x1, y1 in bounds:
        near |= (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
    candidates = np.flatnonzero(near)
    tree = shapely.STRtree(gdf.geometry.values)
    pt_idx, area_idx = tree.query(shapely.points(x[candidates], y[candidates]),
                                  predicate="intersects")
    pt_idx = candidates[pt_idx]
    order = np.lexsort((area_idx, pt_idx))
    pt_idx, area_idx = pt_idx[order], area_idx[order]
    first = np.unique(pt_idx, return_index=True)[1]
    out[pt_idx[first]] = area_idx[first]
    return out


def _attach_demand(gdf, frame, ranking, areas, area):
    """Incidents and harm by crime type inside each area (window, exclusions applied);
    ``area``: each incident's area row (:func:`_area_of_incidents`)."""
    ok = area >= 0
    n = len(gdf)
    harm = frame["harm"].to_numpy(np.float64)
    gdf["incidents"] = np.bincount(area[ok], minlength=n).astype(np.int64)
    gdf["harm"] = np.bincount(area[ok], weights=harm[ok], minlength=n)
    types = frame["crime_type"].astype(str).to_numpy()
    for ctype in sorted(set(types[ok])):
        m = ok & (types == ctype)
        slug = ctype.replace("-", "_")
        gdf[f"incidents_{slug}"] = np.bincount(area[m], minlength=n).astype(np.int64)
        gdf[f"harm_{slug}"] = np.bincount(area[m], weights=harm[m], minlength=n)
    lpu_inc = frame.groupby("lpu").size()
    lpu_harm = frame.groupby("lpu")["harm"].sum()
    gdf["share_lpu_incidents"] = gdf["incidents"] / gdf["lpu"].map(lpu_inc).fillna(0).clip(lower=1)
    gdf["share_lpu_harm"] = gdf["harm"] / gdf["lpu"].map(lpu_harm).fillna(0).clip(lower=1e-12)
    gdf["area_km2"] = gdf.geometry.area / 1e6
    gdf["_area_of"] = [None] * n
    if areas.neighbourhoods is not None:
        nb = areas.neighbourhoods
        a_i, n_i = shapely.STRtree(nb.geometry.values).query(gdf.geometry.values,
                                                              predicate="intersects")
        inter = shapely.area(shapely.intersection(gdf.geometry.values[a_i],
                                                  nb.geometry.values[n_i]))
        keep = inter > 1.0
        names = nb["neighbourhood"].astype(str).to_numpy()
        lists: dict[int, set[str]] = {}
        for a, nm in zip(a_i[keep], names[n_i[keep]], strict=True):
            lists.setdefault(int(a), set()).add(nm)
        gdf["neighbourhoods"] = ["; ".join(sorted(lists.get(i, set()))) for i in range(n)]
    else:
        gdf["neighbourhoods"] = ""
    return gdf.drop(columns="_area_of")


def _attach_score(gdf, frame, ranking, area):
    """Each area's own expected harm: the ranking's score model on the incidents inside."""
    demand = ranking.demand
    last = pd.Timestamp(demand.incidents["period"].max())
    from geodemand.demand.periods import period_floor

    last = max(last, period_floor(demand.window_end, demand.period_kind))
    age = period_ages(frame["period"], demand.period_kind, last)
    scored = score_units(ranking.model, area, age, frame["harm"].to_numpy(np.float64))
    scored = scored.reindex(np.arange(len(gdf)))
    gdf["expected_harm"] = scored["expected_harm"].fillna(0.0).to_numpy()
    gdf["expected_incidents"] = scored["expected_incidents"].fillna(0.0).to_numpy()
    gdf["harm_per_incident"] = scored["harm_per_incident"].fillna(
        ranking.model.harm_mean).to_numpy()
    return gdf


def _attach_targets(gdf, ranking):
    """The targets inside each area, its label and its stable id (its best target)."""
    items = []
    for kind, table in (("cell", ranking.cells), ("place", ranking.places)):
        if not len(table):
            continue
        pts = (shapely.centroid(table.geometry.values) if kind == "cell"
               else shapely.points(table["x"].to_numpy(), table["y"].to_numpy()))
        t_i, a_i = shapely.STRtree(gdf.geometry.values).query(pts, predicate="intersects")
        same = table["lpu"].to_numpy()[t_i] == gdf["lpu"].to_numpy()[a_i]
        t_i, a_i = t_i[same], a_i[same]
        items.append(pd.DataFrame({
            "area": a_i, "kind": kind,
            "target_id": table["target_id"].to_numpy()[t_i],
            "label": table["label"].to_numpy()[t_i],
            "expected_harm": table["expected_harm"].to_numpy()[t_i],
        }))
    inside = pd.concat(items, ignore_index=True) if items else pd.DataFrame(
        columns=["area", "kind", "target_id", "label", "expected_harm"])
    inside = inside.sort_values(["area", "expected_harm", "kind", "target_id"],
                                ascending=[True, False, False, True], kind="mergesort")
    best = inside.drop_duplicates("area").set_index("area")
    best_place = inside[inside["kind"] == "place"].drop_duplicates("area").set_index("area")
    n = len(gdf)
    gdf["targets"] = [
        "; ".join(inside.loc[inside["area"] == i, "target_id"]) for i in range(n)
    ]
    gdf["n_cells"] = [int(((inside["area"] == i) & (inside["kind"] == "cell")).sum())
                      for i in range(n)]
    gdf["n_places"] = [int(((inside["area"] == i) & (inside["kind"] == "place")).sum())
                       for i in range(n)]
    labels, ids = [], []
    for i in range(n):
        if i in best_place.index:
            labels.append(str(best_place.loc[i, "label"]))
        elif i in best.index:
            labels.append(str(best.loc[i, "label"]))
        else:
            labels.append(f"patrol area in {gdf['lpu'].iloc[i]}")
        anchor = best.loc[i, "target_id"] if i in best.index else _geometry_id(gdf, i)
        ids.append(f"area:{anchor}")
    gdf["label"] = labels
    gdf["area_id"] = _unique(ids)
    return gdf


def _geometry_id(gdf, i: int) -> str:
    import hashlib

    wkb = shapely.to_wkb(shapely.set_precision(gdf.geometry.iloc[i], 1.0), output_dimension=2)
    return "geom-" + hashlib.sha1(wkb).hexdigest()[:10]


def _unique(ids: list[str]) -> list[str]:
    """Make ids unique by numbering repeats (a target split over two lattice pieces)."""
    seen: dict[str, int] = {}
    out = []
    for a in ids:
        k = seen.get(a, 0)
        seen[a] = k + 1
        out.append(a if k == 0 else f"{a}#{k + 1}")
    return out


def _rank(gdf):
    gdf["_x"] = gdf.geometry.centroid.x.round(1)
    gdf["_y"] = gdf.geometry.centroid.y.round(1)
    gdf = gdf.sort_values(
        ["lpu", "expected_harm", "harm", "incidents", "_x", "_y"],
        ascending=[True, False, False, False, True, True],
        kind="mergesort",
    ).reset_index(drop=True)
    gdf["rank"] = gdf.groupby("lpu").cumcount() + 1
    order = gdf.sort_values(
        ["expected_harm", "harm", "lpu", "rank"], ascending=[False, False, True, True],
        kind="mergesort",
    ).index
    gdf.loc[order, "force_rank"] = np.arange(1, len(gdf) + 1)
    gdf["force_rank"] = gdf["force_rank"].astype(np.int64)
    return gdf.drop(columns=["_x", "_y"])


def _dose(gdf, hours, floor, minutes_per_visit, cap):
    """Whole visits: force budget -> LPUs (floor + share of expected harm) -> areas."""
    lpus = sorted(gdf["lpu"].unique())
    harm_by_lpu = gdf.groupby("lpu")["expected_harm"].sum().reindex(lpus).fillna(0.0)
    total_minutes = hours * 60.0
    floor_total = min(floor * 60.0 * len(lpus), total_minutes)
    floor_each = floor_total / len(lpus)
    rest = total_minutes - floor_total
    share = (harm_by_lpu / harm_by_lpu.sum()) if harm_by_lpu.sum() > 0 else (
        pd.Series(1.0 / len(lpus), index=lpus)
    )
    lpu_minutes = floor_each + rest * share
    visits = np.zeros(len(gdf), dtype=np.int64)
    for lpu in lpus:
        idx = np.flatnonzero((gdf["lpu"] == lpu).to_numpy())
        budget_visits = int(np.floor(lpu_minutes[lpu] / minutes_per_visit + 1e-9))
        visits[idx] = _apportion(budget_visits, gdf["expected_harm"].to_numpy()[idx], cap)
    gdf["visits_per_day"] = visits
    gdf["minutes_per_visit"] = float(minutes_per_visit)
    gdf["minutes_per_day"] = visits * float(minutes_per_visit)
    return gdf, {k: float(v) / 60.0 for k, v in lpu_minutes.items()}


def _apportion(total: int, weights: np.ndarray, cap: int) -> np.ndarray:
    """Whole visits in proportion to ``weights`` (largest remainder), at least one and at most
    ``cap`` each; areas are in rank order, so ties and a budget shorter than one visit each
    favour the higher-ranked areas. The result sums to ``min(total, cap · n)``."""
    n = len(weights)
    out = np.zeros(n, dtype=np.int64)
    if total <= 0 or n == 0:
        return out
    if total <= n:
        out[:total] = 1
        return out
    total = min(total, cap * n)
    w = np.maximum(np.asarray(weights, dtype=np.float64), 0.0)
    target = total * (w / w.sum() if w.sum() > 0 else np.full(n, 1.0 / n))
    out = np.clip(np.floor(target).astype(np.int64), 1, cap)
    rank = np.arange(n)
    while out.sum() < total:  # give to the largest remainder with room
        gap = np.where(out < cap, target - out, -np.inf)
        out[np.lexsort((rank, -gap))[0]] += 1
    while out.sum() > total:  # the minimum of one pushed over: take from the largest excess
        excess = np.where(out > 1, out - target, -np.inf)
        out[np.lexsort((-rank, -excess))[0]] -= 1
    return out


def _hot_hours(gdf, frame, area_of: np.ndarray) -> list[str]:
    """The HOT_WINDOWS day × 2-hour windows with the most harm inside each area
    (``area_of``: each incident's row of ``gdf``, -1 outside every area)."""
    if "date_precision" not in frame.columns or not (frame["date_precision"] == "minute").any():
        return ["no times in the data (police.uk gives months): vary visit times"] * len(gdf)
    minute = (frame["date_precision"] == "minute").to_numpy()
    timed = frame.loc[minute, ["occurred", "harm"]]
    area = area_of[minute]
    ok = area >= 0
    t = timed["occurred"]
    slot = (t.dt.day_of_week * 12 + t.dt.hour // 2).to_numpy()
    harm = timed["harm"].to_numpy(np.float64)
    table = np.zeros((len(gdf), 84))
    np.add.at(table, (area[ok], slot[ok]), harm[ok])
    out = []
    for i in range(len(gdf)):
        row = table[i]
        if row.sum() <= 0:
            out.append("no timed incidents in the window")
            continue
        top = np.lexsort((np.arange(84), -row))[:HOT_WINDOWS]
        top = [s for s in top if row[s] > 0]
        out.append(", ".join(
            f"{_DAYS[s // 12]} {2 * (s % 12):02d}:00–{2 * (s % 12) + 2:02d}:00" for s in top
        ))
    return out


def _lpu_summary(gdf, frame, areas, lpu_budget) -> pd.DataFrame:
    lpu_area = areas.lpus.set_index("lpu").geometry.area / 1e6
    lpu_harm = frame.groupby("lpu")["harm"].sum()
    lpu_inc = frame.groupby("lpu").size()
    g = gdf.groupby("lpu").agg(
        n_areas=("area_id", "size"),
        area_km2=("area_km2", "sum"),
        expected_harm=("expected_harm", "sum"),
        harm_captured=("harm", "sum"),
        incidents_captured=("incidents", "sum"),
        visits_per_day=("visits_per_day", "sum"),
        minutes_per_day=("minutes_per_day", "sum"),
    )
    g["lpu_area_km2"] = lpu_area.reindex(g.index)
    g["share_of_area"] = g["area_km2"] / g["lpu_area_km2"]
    g["lpu_harm"] = lpu_harm.reindex(g.index).fillna(0)
    g["share_of_harm"] = g["harm_captured"] / g["lpu_harm"].where(g["lpu_harm"] > 0)
    g["lpu_incidents"] = lpu_inc.reindex(g.index).fillna(0).astype(np.int64)
    g["share_of_incidents"] = g["incidents_captured"] / g["lpu_incidents"].where(
        g["lpu_incidents"] > 0
    )
    g["budget_hours"] = pd.Series(lpu_budget).reindex(g.index)
    g["unspent_minutes"] = g["budget_hours"] * 60 - g["minutes_per_day"]
    return g.reset_index()
