"""Control-plan targets: places and grid cells ranked by the harm they are expected to generate.

:func:`rank_targets` takes the demand stage's output (:class:`geodemand.demand.demand.Demand`:
the window, the exclusions, the harm weights and the named, merged places are decided there
and only there) and scores every unit with the target score of :mod:`geodemand.decide.score`:

    expected_harm = expected_incidents × harm_per_incident      (CCHI days next period)

Two kinds of unit:

* **places**: named, merged police.uk map points (or other ``location_key`` places);
* **cells**: squares of a grid (default 100 m) over the LPUs, scored on the incidents that are
  not at a partnership site.

Partnership sites (hospitals, prisons, police stations, ...; :mod:`geodemand.demand.places`)
are not directed-patrol targets unless ``patrol_partnership_sites``: they are scored the same
way and listed in :attr:`TargetRanking.partnership`, for multi-agency problem solving.

Ethics by default: places, never people (no person field is read or written); harm-weighted;
police-generated types out (decided in the demand stage); targets expire (patrol areas carry
a review date). Ranks: ``rank`` within the LPU and ``force_rank`` across the force, both by
``expected_harm`` (absolute CCHI days, so they are comparable), ties broken by the window's
harm, incidents, then the id, so the order is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geodemand.decide.score import ScoreModel, fit_score_model, period_ages, score_units
from geodemand.demand.demand import Demand
from geodemand.errors import InvalidParameterError
from geodemand.grid import Grid

#: Default side of the target grid's cells, metres.
CELL_SIZE_M = 100.0
LEAD_COLUMNS = (
    "target_type", "target_id", "label", "lpu", "rank", "force_rank", "neighbourhood",
    "expected_harm", "expected_incidents", "harm_per_incident", "incidents", "harm",
)


@dataclass(frozen=True)
class TargetRanking:
    """Ranked control-plan targets.

    Attributes
    ----------
    places : DataFrame
        Directed-patrol place targets, one row per place: ``target_type="place"``,
        ``target_id`` (``place:<key>``), ``label``, ``lpu``, ``rank``, ``force_rank``,
        ``neighbourhood``, the score's components (:func:`geodemand.decide.score.score_units`:
        ``expected_harm``, ``expected_incidents``, ``harm_per_incident``, ``rate_*``,
        ``own_harm_per_incident``, ``prior_weight``), ``incidents`` and ``harm`` in the
        window, ``first_date``, ``last_date``, ``n_<crime type>`` counts, ``members``,
        ``x``, ``y`` (analysis CRS, metres), ``lat``, ``lon``, ``other_org_share``,
        ``default_geocode``.
    cells : GeoDataFrame
        Cell targets: the same columns with ``row``, ``col`` and the cell square.
    partnership : DataFrame
        Partnership sites (same columns as ``places`` plus ``partnership_reason``,
        ``site_category``), ranked within LPU by expected harm (``rank``).
    demand : Demand
    grid : Grid
    model : ScoreModel
    params : dict
    """

    places: pd.DataFrame
    cells: gpd.GeoDataFrame
    partnership: pd.DataFrame
    demand: Demand
    grid: Grid
    model: ScoreModel
    params: dict = field(default_factory=dict)

    @property
    def incidents(self) -> pd.DataFrame:
        """The demand's incidents (window, exclusions, harm) that were scored."""
        return self.demand.incidents

    def top(self, n: int = 10, kind: str = "places", lpu: str | None = None) -> pd.DataFrame:
        """The top ``n`` targets of each LPU (or of one LPU), in rank order.

        ``kind`` is ``"places"``, ``"cells"`` or ``"partnership"``.
        """
        if kind not in ("places", "cells", "partnership"):
            raise InvalidParameterError(f"kind must be places, cells or partnership, got {kind!r}")
        table = getattr(self, kind)
        if lpu is not None:
            table = table[table["lpu"] == lpu]
        return table[table["rank"] <= n].sort_values(["lpu", "rank"], kind="mergesort")

    def targets_table(self) -> pd.DataFrame:
        """Places, cells and partnership sites in one table (no geometry), for targets.csv.

        Coordinates: ``lat``/``lon`` to 6 decimals, ``x``/``y`` (analysis CRS) to 1 m, integer
        ``row``/``col`` for cells.
        """
        cells = pd.DataFrame(self.cells.drop(columns="geometry"))
        part = self.partnership.assign(target_type="partnership site")
        both = pd.concat([self.places, cells, part], ignore_index=True, sort=False)
        both["x"] = both["x"].round(0)
        both["y"] = both["y"].round(0)
        both["lat"] = both["lat"].round(6)
        both["lon"] = both["lon"].round(6)
        for col in ("row", "col", "rank", "force_rank"):
            if col in both.columns:
                both[col] = both[col].astype("Int64")
        for col in ("members", "member_labels"):  # lists as "a; b" text, not Python lists
            if col in both.columns:
                both[col] = both[col].map(lambda v: "; ".join(v) if isinstance(v, list) else "")
        lead = [c for c in LEAD_COLUMNS if c in both.columns]
        rest = [c for c in both.columns if c not in lead]
        order = {"place": 0, "cell": 1, "partnership site": 2}
        return (
            both[lead + rest]
            .assign(_k=both["target_type"].map(order))
            .sort_values(["_k", "lpu", "rank"], kind="mergesort")
            .drop(columns="_k")
            .reset_index(drop=True)
        )

    def __repr__(self) -> str:
        return (
            f"TargetRanking({len(self.places):,} places, {len(self.cells):,} cells, "
            f"{len(self.partnership):,} partnership sites; {self.model.describe()})"
        )

    def _repr_html_(self) -> str:
        import html

        top = self.top(3, "places")[["lpu", "rank", "label", "expected_harm",
                                     "expected_incidents", "incidents"]]
        return f"<p>{html.escape(repr(self))}</p>" + top.round(2).to_html(index=False)

    def plot(self, ax: Any = None, *, top_n: int = 10) -> Any:
        """The top ``top_n`` places of each LPU sized by expected harm, over the cell scores;
        returns the matplotlib Axes."""
        from geodemand._figures import axes_for

        ax = axes_for(ax)
        if len(self.cells):
            self.cells.plot(column="expected_harm", ax=ax, cmap="Greys", alpha=0.6,
                            linewidth=0)
        top = self.top(top_n, "places")
        if len(top):
            size = 20 + 180 * top["expected_harm"] / max(float(top["expected_harm"].max()),
                                                         1e-12)
            ax.scatter(top["x"], top["y"], s=size, c="#d7301f", edgecolors="black",
                       linewidths=0.5, label=f"top {top_n} places per LPU")
            ax.legend(loc="best", fontsize="small")
        ax.set_title("targets by expected harm")
        ax.set_aspect("equal")
        return ax


def rank_targets(
    demand: Demand,
    *,
    cell_size_m: float = CELL_SIZE_M,
    grid: Grid | None = None,
    study_area=None,
    patrol_partnership_sites: bool = False,
) -> TargetRanking:
    """Rank places and grid cells within each LPU by expected harm (module documentation).

    Parameters
    ----------
    demand : Demand
        From :func:`geodemand.demand.demand.prepare_demand` (the one place where the window,
        exclusions and weights are decided).
    cell_size_m : float
        Side of the target grid's cells, metres (when ``grid`` is None).
    grid : Grid, optional
        Raster frame of the cell targets (default: covering the incidents).
    study_area : Areas, GeoDataFrame or shapely geometry, optional
        The force area (e.g. the LPUs): the score compares captures over the grid cells whose
        centre lies in it (default: every grid cell).
    patrol_partnership_sites : bool
        Keep partnership sites among the directed-patrol targets (default False).

    Returns
    -------
    TargetRanking
    """
    if not isinstance(demand, Demand):
        raise InvalidParameterError(
            "rank_targets needs a Demand: call geodemand.prepare_demand(incidents) first "
            f"(got {type(demand).__name__})"
        )
    frame = demand.incidents
    if not len(frame):
        raise InvalidParameterError("rank_targets: the demand has no incidents")
    crs = demand.crs
    if grid is None:
        grid = Grid.for_points(frame["x"], frame["y"], crs, cell_size=cell_size_m, padding=0.0)
    rows, cols, on = grid.cell_index(frame["x"].to_numpy(), frame["y"].to_numpy())
    if not on.all():
        raise InvalidParameterError(f"{int((~on).sum())} incidents lie off the target grid")
    kind = demand.period_kind
    last = pd.Timestamp(frame["period"].max())
    last = max(last, _period_of(demand.window_end, kind))
    age = period_ages(frame["period"], kind, last)
    n_periods = int(age.max()) + 1
    harm = frame["harm"].to_numpy(np.float64)
    places_all = demand.places.set_index("place_id")
    partnership_ids = set(places_all.index[places_all["partnership"]])
    at_site = frame["place_id"].isin(partnership_ids).to_numpy()
    patrol_mask = np.ones(len(frame), bool) if patrol_partnership_sites else ~at_site
    flat = rows * grid.n_cols + cols
    n_cells = grid.n_rows * grid.n_cols
    model = fit_score_model(
        np.where(patrol_mask, flat, -1), age, harm, n_cells, n_periods, kind,
        n_study_units=study_cells(grid, study_area),
    )
    # places
    place_codes, place_ids = pd.factorize(frame["place_id"], sort=True)
    scored = score_units(model, place_codes, age, harm)
    scored.index = np.asarray(place_ids)[scored.index.to_numpy()]
    info = places_all.reindex(scored.index)
    places = pd.concat([info, scored.drop(columns=["incidents", "harm"])], axis=1)
    places["incidents"] = scored["incidents"].to_numpy()
    places["harm"] = scored["harm"].to_numpy()
    places = places.reset_index().rename(columns={"index": "target_id", "place_id": "target_id"})
    places = _add_dates_and_types(places, frame, "place_id", "target_id")
    places["target_type"] = "place"
    r, c, _ = grid.cell_index(places["x"].to_numpy(), places["y"].to_numpy())
    places["row"], places["col"] = r, c
    is_site = places["partnership"].to_numpy(bool)
    if patrol_partnership_sites:
        target_places = places
        partnership = places[is_site].copy()
    else:
        target_places = places[~is_site].copy()
        partnership = places[is_site].copy()
    target_places = _rank(target_places)
    partnership = _rank(partnership)
    # cells (incidents not at a partnership site, unless those are patrol targets too)
    cells = score_units(model, np.where(patrol_mask, flat, -1), age, harm)
    keep = cells.index.to_numpy()
    cells["row"], cells["col"] = keep // grid.n_cols, keep % grid.n_cols
    # only the columns the cells' modes, dates and type counts read
    used = [c for c in ("lpu", "neighbourhood", "place_id", "occurred", "crime_type")
            if c in frame.columns]
    sel = frame.loc[patrol_mask, used].assign(_cell=flat[patrol_mask])
    lpu_mode = _modal(sel, "_cell", "lpu")
    nb_mode = _modal(sel, "_cell", "neighbourhood") if "neighbourhood" in sel.columns else None
    place_mode = _modal(sel, "_cell", "place_id")
    cells["lpu"] = lpu_mode.reindex(keep).to_numpy()
    cells["neighbourhood"] = nb_mode.reindex(keep).to_numpy() if nb_mode is not None else ""
    label_of = dict(zip(places["target_id"], places["label"], strict=True))  # ids are unique
    cells["label"] = [
        f"cell around {label_of.get(p, '')}" if isinstance(p, str) and p else "cell"
        for p in place_mode.reindex(keep).to_numpy()
    ]
    cells["x"] = grid.col_centres()[cells["col"].to_numpy()]
    cells["y"] = grid.row_centres()[cells["row"].to_numpy()]
    lon, lat = _lonlat(cells["x"].to_numpy(), cells["y"].to_numpy(), crs)
    cells["lon"], cells["lat"] = lon, lat
    cells["target_id"] = [f"cell:{r},{c}" for r, c in zip(cells["row"], cells["col"], strict=True)]
    cells["target_type"] = "cell"
    cells = _add_dates_and_types(cells, sel, "_cell", None, keys=keep)
    cells = _rank(cells.reset_index(drop=True))
    squares = grid.cell_boxes(cells["row"].to_numpy(), cells["col"].to_numpy())
    cells = gpd.GeoDataFrame(cells, geometry=squares, crs=crs)
    params = {
        **demand.params,
        "score": model.to_record(),
        "score_formula": model.describe(),
        "cell_size_m": grid.cell_size,
        "patrol_partnership_sites": bool(patrol_partnership_sites),
        "n_place_targets": int(len(target_places)),
        "n_cell_targets": int(len(cells)),
        "n_partnership_sites": int(len(partnership)),
        "partnership_reasons": partnership.groupby("site_category").size().astype(int).to_dict()
        if len(partnership) else {},
    }
    return TargetRanking(target_places, cells, partnership, demand, grid, model, params)


def _period_of(when: pd.Timestamp, kind: str) -> pd.Timestamp:
    from geodemand.demand.periods import period_floor

    return period_floor(when, kind)


def study_cells(grid: Grid, study_area) -> int:
    """Number of grid cells whose centre lies in ``study_area`` (all cells when None)."""
    if study_area is None:
        return grid.n_rows * grid.n_cols
    return int(cell_mask(grid, study_area).sum())


def cell_mask(grid: Grid, study_area) -> np.ndarray:
    """``(n_rows, n_cols)`` bool: cells whose centre lies in ``study_area`` (Areas, a
    GeoDataFrame/GeoSeries in the grid's CRS, or a shapely geometry)."""
    import shapely

    if hasattr(study_area, "lpus"):
        study_area = study_area.lpus
    if hasattr(study_area, "geometry") and hasattr(study_area, "crs"):
        geoms = study_area.to_crs(grid.crs).geometry.values
        geom = shapely.union_all(np.asarray(geoms, dtype=object))
    else:
        geom = study_area
    gx, gy = grid.cell_centres()
    shapely.prepare(geom)
    return shapely.contains_xy(geom, gx, gy)


def _rank(table: pd.DataFrame) -> pd.DataFrame:
    if not len(table):
        return table.assign(rank=pd.Series(dtype="Int64"), force_rank=pd.Series(dtype="Int64"))
    table = table.sort_values(
        ["lpu", "expected_harm", "harm", "incidents", "target_id"],
        ascending=[True, False, False, False, True],
        kind="mergesort",
    ).reset_index(drop=True)
    table["rank"] = table.groupby("lpu").cumcount() + 1
    order = table.sort_values(
        ["expected_harm", "harm", "incidents", "target_id"],
        ascending=[False, False, False, True],
        kind="mergesort",
    ).index
    table.loc[order, "force_rank"] = np.arange(1, len(table) + 1)
    table["force_rank"] = table["force_rank"].astype(np.int64)
    return table


def _modal(frame: pd.DataFrame, key: str, column: str) -> pd.Series:
    """The most frequent non-empty ``column`` text per ``key`` value (ties: the smallest; ""
    if none), indexed by the key values in order of appearance (as
    :func:`~geodemand.demand.places.group_mode`)."""
    from geodemand.demand.places import modal_text

    group, keys = pd.factorize(frame[key])
    return pd.Series(modal_text(group, len(keys), frame[column]), index=pd.Index(keys, name=key))


def _lonlat(x: np.ndarray, y: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    from pyproj import Transformer

    if not len(x):
        return np.zeros(0), np.zeros(0)
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)
    return np.round(lon, 6), np.round(lat, 6)


def _add_dates_and_types(table, frame, key, table_key, keys=None) -> pd.DataFrame:
    """First/last date and counts by crime type per unit."""
    g = frame.groupby(key, sort=True)
    dates = g["occurred"].agg(["min", "max"]).rename(columns={"min": "first_date",
                                                              "max": "last_date"})
    types = frame.groupby([key, "crime_type"], observed=True).size().unstack(fill_value=0)
    types.columns = [f"n_{str(c).replace('-', '_')}" for c in types.columns]
    extra = dates.join(types)
    index = table[table_key] if table_key is not None else pd.Index(keys)
    extra = extra.reindex(np.asarray(index))
    for col in extra.columns:
        values = extra[col].to_numpy()
        table[col] = values if not col.startswith("n_") else np.nan_to_num(values).astype(np.int64)
    return table
