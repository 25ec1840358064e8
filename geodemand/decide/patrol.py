"""Patrol areas: the top control-plan targets turned into small, walkable polygons.

:func:`patrol_areas` merges contiguous top-ranked hot cells and buffers top-ranked places,
clips everything to its LPU (an area never crosses an LPU edge), splits areas larger than
``max_area_km2`` into pieces on a square lattice, and attaches per area: a stable
``area_id``, rank, LPU, neighbourhood(s), incidents and harm by crime type in the window,
the share of the LPU's demand and harm captured, the area in km², a recommended dosage and a
review (expiry) date, plus the data window and parameters.

Dosage
------
After the Koper curve (Koper 1995: visits of about 10–15 minutes give the most residual
deterrence), every visit lasts ``minutes_per_visit`` (default 15). Each LPU has a budget of
``patrol_hours_per_day`` (default 8 officer-hours a day for directed patrol) shared between
its areas **in proportion to the harm captured**: ``minutes_per_day = budget × harm share``;
``visits_per_day = minutes_per_day / minutes_per_visit``, rounded to one decimal and at
least 1 (an area worth targeting is visited at least daily; the budget actually used is
reported). Visits should be short, repeated and unpredictable in time.

Writing them (RFC 7946 GeoJSON, GeoPackage, CSV) is an output's job:
:func:`geodemand.outputs.vector.write_patrol_areas`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodemand.errors import InvalidParameterError

#: Default maximum area of one patrol area: 0.25 km² (a 500 m square, walkable in one visit).
MAX_AREA_KM2 = 0.25
#: Default buffer around a target place, metres.
PLACE_BUFFER_M = 75.0


@dataclass(frozen=True)
class PatrolPlan:
    """Patrol areas and the per-LPU summary.

    Attributes
    ----------
    areas : GeoDataFrame
        One row per patrol area (columns documented in :func:`patrol_areas`), analysis CRS.
    lpu_summary : DataFrame
        Per LPU: ``lpu, n_areas, area_km2, lpu_area_km2, share_of_area, harm_captured,
        lpu_harm, share_of_harm, incidents_captured, lpu_incidents, share_of_incidents,
        patrol_minutes_per_day``.
    params : dict
        Parameters, data window, exclusions.
    """

    areas: gpd.GeoDataFrame
    lpu_summary: pd.DataFrame
    params: dict = field(default_factory=dict)


def _lattice_split(geom, max_area_m2: float):
    """Split a polygon into pieces of at most ``max_area_m2`` on an aligned square lattice.

    The lattice side is ``sqrt(max_area_m2)`` and is aligned to multiples of it, so the
    split is deterministic and independent of the input order.
    """
    if geom.area <= max_area_m2:
        return [geom]
    side = float(np.sqrt(max_area_m2))
    x0, y0, x1, y1 = geom.bounds
    xs = np.arange(np.floor(x0 / side) * side, x1, side)
    ys = np.arange(np.floor(y0 / side) * side, y1, side)
    gx, gy = np.meshgrid(xs, ys)
    boxes = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + side, gy.ravel() + side)
    pieces = shapely.intersection(boxes, geom)
    out = []
    for piece in pieces:
        for part in shapely.get_parts(piece):
            if part.geom_type == "Polygon" and part.area > 1.0:
                out.append(part)
    return out


def _stable_id(lpu: str, geom) -> str:
    """A stable id from the LPU and the geometry (rounded to 1 m): same input, same id."""
    rounded = shapely.set_precision(geom, 1.0)
    digest = hashlib.sha1(lpu.encode() + shapely.to_wkb(rounded, output_dimension=2)).hexdigest()
    slug = "".join(ch for ch in lpu.upper() if ch.isalnum())[:6] or "AREA"
    return f"{slug}-{digest[:8]}"


def patrol_areas(
    ranking,
    incidents,
    areas,
    *,
    top_n: int = 5,
    max_area_km2: float = MAX_AREA_KM2,
    place_buffer_m: float = PLACE_BUFFER_M,
    patrol_hours_per_day: float | dict[str, float] = 8.0,
    minutes_per_visit: float = 15.0,
    review_days: int = 28,
) -> PatrolPlan:
    """Turn the top targets of each LPU into patrol-area polygons with dosage.

    Parameters
    ----------
    ranking : TargetRanking
        From :func:`geodemand.rank_targets` (its ``cells``, ``places``, ``incidents`` used
        for the window, harm weights and exclusions).
    incidents : IncidentTable or DataFrame
        Not used for scoring (the ranking carries its own window); kept for API symmetry.
        Pass ``None`` to use ``ranking.incidents``.
    areas : Areas
        LPU (and neighbourhood) polygons in the analysis CRS.
    top_n : int
        Number of top cells and top places per LPU turned into patrol areas.
    max_area_km2 : float
        Largest area of one patrol area, km²; larger merged areas are split on a square
        lattice of side ``sqrt(max_area_km2)``.
    place_buffer_m : float
        Buffer around each target place, metres.
    patrol_hours_per_day : float or dict
        Directed-patrol budget per LPU, officer-hours per day (a dict gives it per LPU).
    minutes_per_visit : float
        Length of one visit, minutes (Koper curve: 10–15).
    review_days : int
        Days after the end of the data window when each area must be reviewed (it expires).

    Returns
    -------
    PatrolPlan
        ``areas`` columns: ``area_id`` (stable), ``rank`` (within LPU, 1 = first),
        ``force_rank``, ``lpu``, ``neighbourhoods`` (";"-joined), ``n_cells``, ``n_places``,
        ``score`` (sum of the target scores inside), ``score_*`` (their components),
        ``incidents``, ``harm``, ``incidents_<type>``/``harm_<type>`` per crime type,
        ``share_lpu_incidents``, ``share_lpu_harm``, ``area_km2``, ``minutes_per_day``,
        ``visits_per_day``, ``minutes_per_visit``, ``review_date``, ``window_start``,
        ``window_end``, ``synthetic``, ``geometry`` (analysis CRS).
    """
    if max_area_km2 <= 0 or place_buffer_m < 0 or minutes_per_visit <= 0 or top_n < 1:
        raise InvalidParameterError(
            "max_area_km2 and minutes_per_visit must be > 0, place_buffer_m >= 0, top_n >= 1"
        )
    if not 5 <= minutes_per_visit <= 30:
        raise InvalidParameterError(
            f"minutes_per_visit={minutes_per_visit}: expected 5-30 minutes (Koper: 10-15)"
        )
    frame = ranking.incidents
    crs = areas.crs
    lpu_geom = dict(zip(areas.lpus["lpu"], areas.lpus.geometry.values, strict=True))
    max_area_m2 = max_area_km2 * 1e6
    rows = []
    cells = ranking.cells
    places = ranking.places
    for lpu in sorted(lpu_geom):
        parts = []
        top_cells = cells[(cells["lpu"] == lpu) & (cells["rank"] <= top_n)]
        if len(top_cells):
            merged = shapely.union_all(top_cells.geometry.values)
            parts.extend(shapely.get_parts(merged))
        top_places = places[(places["lpu"] == lpu) & (places["rank"] <= top_n)]
        if len(top_places):
            pts = shapely.points(top_places["x"].to_numpy(), top_places["y"].to_numpy())
            parts.extend(shapely.get_parts(shapely.union_all(shapely.buffer(pts, place_buffer_m))))
        if not parts:
            continue
        merged = shapely.union_all(np.asarray(parts, dtype=object))
        clipped = shapely.intersection(merged, lpu_geom[lpu])
        for comp in shapely.get_parts(clipped):
            if comp.geom_type != "Polygon" or comp.area <= 1.0:
                continue
            for piece in _lattice_split(comp, max_area_m2):
                rows.append({"lpu": lpu, "geometry": piece})
    columns = ["area_id", "rank", "force_rank", "lpu", "geometry"]
    if not rows:
        empty = gpd.GeoDataFrame(columns=columns, geometry="geometry", crs=crs)
        return PatrolPlan(empty, pd.DataFrame(), dict(ranking.params))
    gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)
    gdf = _attach_demand(gdf, frame, ranking, areas)
    gdf = _attach_scores(gdf, ranking)
    gdf = _rank_and_dose(gdf, patrol_hours_per_day, minutes_per_visit)
    window_end = pd.Timestamp(ranking.params["window_end"])
    gdf["review_date"] = (window_end + pd.Timedelta(days=review_days)).strftime("%Y-%m-%d")
    gdf["window_start"] = str(ranking.params["window_start"])[:10]
    gdf["window_end"] = str(ranking.params["window_end"])[:10]
    gdf["synthetic"] = bool(ranking.params.get("synthetic", False))
    gdf["area_id"] = [_stable_id(name, g) for name, g in zip(gdf["lpu"], gdf.geometry, strict=True)]
    summary = _lpu_summary(gdf, frame, ranking, areas)
    params = dict(ranking.params)
    params.update(
        {
            "top_n": top_n,
            "max_area_km2": max_area_km2,
            "place_buffer_m": place_buffer_m,
            "patrol_hours_per_day": patrol_hours_per_day,
            "minutes_per_visit": minutes_per_visit,
            "review_days": review_days,
        }
    )
    lead = ["area_id", "rank", "force_rank", "lpu", "neighbourhoods"]
    gdf = gdf[lead + [c for c in gdf.columns if c not in lead]]
    gdf.attrs["params"] = params
    return PatrolPlan(gdf.reset_index(drop=True), summary, params)


def _attach_demand(gdf, frame, ranking, areas):
    """Incidents and harm by crime type inside each area (window, exclusions applied)."""
    x, y = frame["x"].to_numpy(), frame["y"].to_numpy()
    tree = shapely.STRtree(gdf.geometry.values)
    pt_idx, area_idx = tree.query(shapely.points(x, y), predicate="intersects")
    # an incident on the edge between two pieces counts once: the first piece in order
    order = np.lexsort((area_idx, pt_idx))
    pt_idx, area_idx = pt_idx[order], area_idx[order]
    first = np.unique(pt_idx, return_index=True)[1]
    pt_idx, area_idx = pt_idx[first], area_idx[first]
    sub = pd.DataFrame(
        {
            "area": area_idx,
            "crime_type": frame["crime_type"].to_numpy()[pt_idx],
            "harm": frame["harm"].to_numpy()[pt_idx],
        }
    )
    n = len(gdf)
    gdf["incidents"] = np.bincount(sub["area"], minlength=n).astype(np.int64)
    gdf["harm"] = np.bincount(sub["area"], weights=sub["harm"], minlength=n)
    for ctype, grp in sub.groupby("crime_type", sort=True):
        gdf[f"incidents_{ctype}"] = np.bincount(grp["area"], minlength=n).astype(np.int64)
        gdf[f"harm_{ctype}"] = np.bincount(grp["area"], weights=grp["harm"], minlength=n)
    lpu_inc = frame.groupby("lpu").size()
    lpu_harm = frame.groupby("lpu")["harm"].sum()
    gdf["share_lpu_incidents"] = gdf["incidents"] / gdf["lpu"].map(lpu_inc).fillna(0).clip(lower=1)
    gdf["share_lpu_harm"] = gdf["harm"] / gdf["lpu"].map(lpu_harm).fillna(0).clip(lower=1e-12)
    gdf["area_km2"] = gdf.geometry.area / 1e6
    if areas.neighbourhoods is not None:
        nb = areas.neighbourhoods
        a_i, n_i = shapely.STRtree(nb.geometry.values).query(
            gdf.geometry.values, predicate="intersects"
        )
        names = nb["neighbourhood"].to_numpy()
        # keep neighbourhoods that hold a real share of the area (not just touching an edge)
        inter = shapely.area(
            shapely.intersection(gdf.geometry.values[a_i], nb.geometry.values[n_i])
        )
        keep = inter > 1.0
        lists: dict[int, list[str]] = {}
        for a, nm in zip(a_i[keep], names[n_i[keep]], strict=True):
            lists.setdefault(int(a), []).append(str(nm))
        gdf["neighbourhoods"] = ["; ".join(sorted(set(lists.get(i, [])))) for i in range(n)]
    else:
        gdf["neighbourhoods"] = ""
    return gdf


def _attach_scores(gdf, ranking):
    """Sum of the target scores (and their components) of the cells and places inside."""
    comps = [c for c in ranking.cells.columns if c.startswith("score_")]
    n = len(gdf)
    totals = {c: np.zeros(n) for c in ["score", *comps]}
    n_cells = np.zeros(n, dtype=np.int64)
    n_places = np.zeros(n, dtype=np.int64)
    for kind, table in (("cells", ranking.cells), ("places", ranking.places)):
        if not len(table):
            continue
        pts = (
            shapely.centroid(table.geometry.values)
            if kind == "cells"
            else shapely.points(table["x"].to_numpy(), table["y"].to_numpy())
        )
        tree = shapely.STRtree(gdf.geometry.values)
        t_i, a_i = tree.query(pts, predicate="intersects")
        order = np.lexsort((a_i, t_i))
        t_i, a_i = t_i[order], a_i[order]
        first = np.unique(t_i, return_index=True)[1]
        t_i, a_i = t_i[first], a_i[first]
        same = table["lpu"].to_numpy()[t_i] == gdf["lpu"].to_numpy()[a_i]
        t_i, a_i = t_i[same], a_i[same]
        for c in totals:
            if c in table.columns:
                np.add.at(totals[c], a_i, table[c].to_numpy(dtype=float)[t_i])
        np.add.at(n_cells if kind == "cells" else n_places, a_i, 1)
    for c, v in totals.items():
        gdf[c] = v
    gdf["n_cells"] = n_cells
    gdf["n_places"] = n_places
    return gdf


def _rank_and_dose(gdf, budget_hours, minutes_per_visit):
    """Rank areas within LPU (score, then harm, then id-free geometry order) and dose them."""
    gdf["_x"] = gdf.geometry.centroid.x.round(1)
    gdf["_y"] = gdf.geometry.centroid.y.round(1)
    gdf = gdf.sort_values(
        ["lpu", "score", "harm", "incidents", "_x", "_y"],
        ascending=[True, False, False, False, True, True],
        kind="mergesort",
    ).reset_index(drop=True)
    gdf["rank"] = gdf.groupby("lpu").cumcount() + 1
    force_order = gdf.sort_values(
        ["score", "harm", "lpu", "rank"], ascending=[False, False, True, True], kind="mergesort"
    ).index
    gdf.loc[force_order, "force_rank"] = np.arange(1, len(gdf) + 1)
    gdf["force_rank"] = gdf["force_rank"].astype(np.int64)
    if isinstance(budget_hours, dict):
        budget = gdf["lpu"].map(budget_hours)
        if budget.isna().any():
            missing = sorted(set(gdf.loc[budget.isna(), "lpu"]))
            raise InvalidParameterError(f"patrol_hours_per_day has no budget for LPU(s) {missing}")
    else:
        budget = pd.Series(float(budget_hours), index=gdf.index)
    lpu_harm = gdf.groupby("lpu")["harm"].transform("sum")
    share = np.where(lpu_harm > 0, gdf["harm"] / lpu_harm.where(lpu_harm > 0, 1.0), 0.0)
    minutes = budget.to_numpy() * 60.0 * share
    visits = np.maximum(1.0, np.round(minutes / minutes_per_visit, 1))
    gdf["minutes_per_visit"] = float(minutes_per_visit)
    gdf["visits_per_day"] = visits
    gdf["minutes_per_day"] = visits * minutes_per_visit
    return gdf.drop(columns=["_x", "_y"])


def _lpu_summary(gdf, frame, ranking, areas):
    """Per LPU: share of area covered against share of harm (and incidents) captured."""
    lpu_area = areas.lpus.set_index("lpu").geometry.area / 1e6
    lpu_harm = frame.groupby("lpu")["harm"].sum()
    lpu_inc = frame.groupby("lpu").size()
    g = gdf.groupby("lpu").agg(
        n_areas=("area_id", "size"),
        area_km2=("area_km2", "sum"),
        harm_captured=("harm", "sum"),
        incidents_captured=("incidents", "sum"),
        patrol_minutes_per_day=("minutes_per_day", "sum"),
    )
    g["lpu_area_km2"] = lpu_area.reindex(g.index)
    g["share_of_area"] = g["area_km2"] / g["lpu_area_km2"]
    g["lpu_harm"] = lpu_harm.reindex(g.index).fillna(0)
    g["share_of_harm"] = g["harm_captured"] / g["lpu_harm"].where(g["lpu_harm"] > 0)
    g["lpu_incidents"] = lpu_inc.reindex(g.index).fillna(0).astype(np.int64)
    g["share_of_incidents"] = g["incidents_captured"] / g["lpu_incidents"].where(
        g["lpu_incidents"] > 0
    )
    return g.reset_index()[
        [
            "lpu",
            "n_areas",
            "area_km2",
            "lpu_area_km2",
            "share_of_area",
            "harm_captured",
            "lpu_harm",
            "share_of_harm",
            "incidents_captured",
            "lpu_incidents",
            "share_of_incidents",
            "patrol_minutes_per_day",
        ]
    ]
