"""Control-plan targets: places and hot-spot cells ranked within each LPU, every score explained.

:func:`rank_targets` scores two kinds of unit in each LPU over a data window (default: the
two years up to the latest incident):

* **places**: repeat locations (the police.uk map point or another ``location_key``);
* **cells**: grid cells (default 100 m) holding incidents.

Ethics by default
-----------------
Places, never people (no person field is read or written). Harm-weighted (the harm table,
:func:`geodemand.demand.harm.harm_weights`). Police-generated types (drugs, possession of weapons:
found by police activity, not reported by victims) are **excluded** unless
``include_police_generated=True``; the result records what was excluded and how many
incidents that was. Targets expire: patrol areas carry a review date.

The score
---------
Each incident ``i`` in the window has harm ``h_i`` (its type's weight) and a recency weight
``r_i = 0.5 ** (age_i / half_life_days)`` (age in days to the window end; default half-life
365 days, so demand of the last year counts about twice that of the year before). For each
unit in an LPU five components are computed, each scaled to [0, 1]:

``harm``
    ``Σ h_i r_i`` (recency-weighted harm demand) divided by the LPU's largest.
``density``
    the kernel density of ``h_i r_i`` (quartic, ``bandwidth_m``) at the unit (a place's cell,
    or the cell itself) divided by the LPU's largest.
``gistar``
    Gi* significance of the unit's cell on harm-weighted counts (queen ring, FDR-corrected
    bins): ``max(bin, 0) / 3`` (0 not a significant hot spot, 1 = 99 % confidence).
``repeat``
    repeat-ness: ``log(1 + repeats) / log(1 + LPU's largest)``, repeats = incidents at the
    place beyond the first (for a cell: summed over its places).
``recency``
    ``Σ h_i r_i / Σ h_i``: the share of the unit's harm that survives the recency decay (1 if
    everything happened at the window end).

``score = Σ_k w_k · component_k`` with default weights harm 0.40, density 0.20, gistar 0.15,
repeat 0.15, recency 0.10 (they sum to 1, so the score lies in [0, 1]). Every component is
reported as ``score_<k> = w_k · component_k`` next to its raw value, so an analyst can see
why a unit ranks where it does. Ties are broken by raw recency-weighted harm, then incident
count, then the unit's key (location key / cell row, col), so the order is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from geodemand._announce import announce
from geodemand.demand.harm import HarmTable, harm_weights
from geodemand.errors import InvalidParameterError
from geodemand.grid import Grid
from geodemand.ingest.vocabulary import police_generated_types

DEFAULT_WEIGHTS = {"harm": 0.40, "density": 0.20, "gistar": 0.15, "repeat": 0.15, "recency": 0.10}
COMPONENTS = tuple(DEFAULT_WEIGHTS)


@dataclass(frozen=True)
class TargetRanking:
    """Ranked control-plan targets.

    Attributes
    ----------
    places : DataFrame
        One row per (place, LPU): ``target_type="place"``, ``target_id``, ``rank`` (within
        LPU), ``force_rank``, ``lpu``, ``neighbourhood``, ``location_key``, ``x``, ``y``,
        ``incidents``, ``harm``, ``harm_recent``, ``repeats``, ``first_date``, ``last_date``,
        ``density``, ``gistar_z``, ``gistar_bin``, ``recency_share``, ``score``,
        ``score_<component>``, ``n_<crime type>``.
    cells : GeoDataFrame
        One row per (cell, LPU) with incidents: the same columns with ``row``, ``col``
        instead of ``location_key`` and the cell square as geometry.
    incidents : DataFrame
        The incidents scored: in the window, exclusions applied, inside an LPU, with
        ``harm``, ``recency``, ``cell_row``, ``cell_col`` added.
    grid : Grid
    density : KDEResult
    hotspots : GiStarResult
    excluded : dict
        ``{crime type: incidents excluded}`` (police-generated types unless included).
    params : dict
        Window, weights, half-life, bandwidth, cell size, harm table, exclusions, counts.
    """

    places: pd.DataFrame
    cells: gpd.GeoDataFrame
    incidents: pd.DataFrame
    grid: Grid
    density: object
    hotspots: object
    excluded: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    def top(self, k: int = 10, kind: str = "places", lpu: str | None = None) -> pd.DataFrame:
        """The top ``k`` targets per LPU (or of one LPU), in rank order."""
        table = self.places if kind == "places" else self.cells
        if lpu is not None:
            table = table[table["lpu"] == lpu]
        return table[table["rank"] <= k].sort_values(["lpu", "rank"], kind="mergesort")

    def targets_table(self) -> pd.DataFrame:
        """Places and cells in one table (no geometry), for ``targets.csv``."""
        cells = pd.DataFrame(self.cells.drop(columns="geometry"))
        both = pd.concat([self.places, cells], ignore_index=True, sort=False)
        lead = ["target_type", "target_id", "lpu", "rank", "force_rank", "neighbourhood", "score"]
        comps = [f"score_{c}" for c in COMPONENTS]
        rest = [c for c in both.columns if c not in lead + comps]
        return (
            both[lead + comps + rest]
            .sort_values(["target_type", "lpu", "rank"], kind="mergesort")
            .reset_index(drop=True)
        )


def _window(frame: pd.DataFrame, window_end, window_days: int):
    if not len(frame):
        raise InvalidParameterError("no incidents to rank")
    end = pd.Timestamp(window_end) if window_end is not None else frame["occurred"].max()
    start = end - pd.Timedelta(days=window_days)
    return start, end


def rank_targets(
    incidents,
    *,
    window_end=None,
    window_days: int = 730,
    half_life_days: float = 365.0,
    harm: HarmTable | None = None,
    include_police_generated: bool = False,
    crime_types: list[str] | None = None,
    cell_size_m: float = 100.0,
    bandwidth_m: float = 250.0,
    weights: dict[str, float] | None = None,
    grid: Grid | None = None,
) -> TargetRanking:
    """Rank places and hot-spot cells within each LPU into control-plan targets.

    Parameters
    ----------
    incidents : IncidentTable or DataFrame
        Canonical incidents after :func:`geodemand.assign_areas` (``lpu`` and
        ``neighbourhood`` present). Incidents outside every LPU are not ranked.
    window_end : date-like, optional
        End of the data window (default: the latest ``occurred``).
    window_days : int
        Window length in days (default 730, two years).
    half_life_days : float
        Half-life of the recency weight, days.
    harm : HarmTable, optional
        Harm weights (default: the shipped table, announced when it holds placeholders).
    include_police_generated : bool
        Keep police-generated types (default False: they are excluded and counted).
    crime_types : list of str, optional
        Only these canonical types (after the exclusion rule).
    cell_size_m, bandwidth_m : float
        Cell size of the target grid and KDE search radius, metres.
    weights : dict, optional
        Component weights (keys ``harm, density, gistar, repeat, recency``), >= 0, summing
        to 1.
    grid : Grid, optional
        Raster frame (default: covering the incidents with ``cell_size_m`` cells).
    """
    from geodemand.engines.density import kde
    from geodemand.engines.hotspots import gistar

    w = dict(DEFAULT_WEIGHTS if weights is None else weights)
    if (
        set(w) != set(COMPONENTS)
        or any(v < 0 for v in w.values())
        or abs(sum(w.values()) - 1) > 1e-9
    ):
        raise InvalidParameterError(
            f"weights must give every component of {list(COMPONENTS)} a value >= 0, summing "
            f"to 1; got {weights}"
        )
    if half_life_days <= 0 or window_days <= 0:
        raise InvalidParameterError("half_life_days and window_days must be > 0")
    frame = incidents.frame if hasattr(incidents, "frame") else incidents
    crs = frame.attrs.get("crs") or getattr(incidents, "crs", None)
    if "lpu" not in frame.columns:
        raise InvalidParameterError(
            "incidents have no 'lpu' column: run geodemand.assign_areas first"
        )
    harm = harm if harm is not None else harm_weights()
    start, end = _window(frame, window_end, window_days)
    in_window = (frame["occurred"] > start) & (frame["occurred"] <= end)
    sel = frame.loc[in_window & (frame["lpu"] != "outside")]
    excluded: dict[str, int] = {}
    if not include_police_generated:
        pg = sel["crime_type"].isin(police_generated_types())
        excluded = {
            k: int(v) for k, v in sel.loc[pg, "crime_type"].value_counts().sort_index().items()
        }
        sel = sel.loc[~pg]
        if excluded:
            announce(
                f"excluded police-generated incidents from targeting: "
                f"{', '.join(f'{k} {v:,}' for k, v in excluded.items())}"
            )
    if crime_types is not None:
        sel = sel.loc[sel["crime_type"].isin(crime_types)]
    if not len(sel):
        raise InvalidParameterError(
            f"no incidents left to rank in the window {start:%Y-%m-%d} to {end:%Y-%m-%d}"
        )
    sel = sel.copy()
    sel["harm"] = harm.weights(sel["crime_type"])
    age = (end - sel["occurred"]).dt.total_seconds().to_numpy() / 86_400.0
    sel["recency"] = 0.5 ** (np.maximum(age, 0.0) / half_life_days)
    sel["harm_recent"] = sel["harm"] * sel["recency"]
    if grid is None:
        grid = Grid.for_points(sel["x"], sel["y"], crs, cell_size=cell_size_m, padding=bandwidth_m)
    rows, cols, inside = grid.cell_index(sel["x"].to_numpy(), sel["y"].to_numpy())
    if not inside.all():
        raise InvalidParameterError(f"{int((~inside).sum())} incidents lie off the target grid")
    sel["cell_row"], sel["cell_col"] = rows, cols
    dens = kde(
        sel,
        grid,
        bandwidth_m=bandwidth_m,
        weights=sel["harm_recent"].to_numpy(),
        crs=crs,
        units="per_km2",
    )
    counts = grid.bin_counts(sel["x"], sel["y"], weights=sel["harm"].to_numpy())
    hot = gistar(counts, grid=grid)
    places = _score_units(sel, ["location_key"], dens, hot, w, kind="place")
    cells = _score_units(sel, ["cell_row", "cell_col"], dens, hot, w, kind="cell")
    cells = cells.rename(columns={"cell_row": "row", "cell_col": "col"})
    squares = grid.to_geodataframe()
    flat = cells["row"].to_numpy() * grid.n_cols + cells["col"].to_numpy()
    cells = gpd.GeoDataFrame(cells, geometry=squares.geometry.values[flat], crs=crs)
    params = {
        "window_start": f"{start:%Y-%m-%d}",
        "window_end": f"{end:%Y-%m-%d}",
        "window_days": window_days,
        "half_life_days": half_life_days,
        "weights": w,
        "cell_size_m": grid.cell_size,
        "bandwidth_m": bandwidth_m,
        "harm_table": harm.to_record(),
        "include_police_generated": include_police_generated,
        "excluded": excluded,
        "crime_types": crime_types,
        "incidents_scored": int(len(sel)),
        "synthetic": bool(sel["synthetic"].any()) if "synthetic" in sel.columns else False,
        "date_precision": ",".join(sorted(set(sel["date_precision"]))),
    }
    return TargetRanking(places, cells, sel, grid, dens, hot, excluded, params)


def _score_units(sel: pd.DataFrame, keys: list[str], dens, hot, w: dict, kind: str) -> pd.DataFrame:
    """Aggregate incidents per (unit, LPU), compute the five components and rank."""
    group_cols = ["lpu", *keys]
    g = sel.groupby(group_cols, sort=True, observed=True)
    aggs = dict(
        incidents=("incident_id", "size"),
        harm=("harm", "sum"),
        harm_recent=("harm_recent", "sum"),
        x=("x", "mean"),
        y=("y", "mean"),
        first_date=("occurred", "min"),
        last_date=("occurred", "max"),
    )
    if kind == "place":  # a place's cell: where its (mean) position falls, first seen
        aggs.update(cell_row=("cell_row", "first"), cell_col=("cell_col", "first"))
    out = g.agg(**aggs).reset_index()
    if "neighbourhood" in sel.columns:
        out = out.merge(_modal(sel, group_cols, "neighbourhood"), on=group_cols, how="left")
    else:
        out["neighbourhood"] = ""
    by_type = g["crime_type"].value_counts().unstack(fill_value=0)
    by_type.columns = [f"n_{c}" for c in by_type.columns]
    out = out.merge(by_type.reset_index(), on=group_cols, how="left")
    # repeats: incidents beyond the first at each place; a cell sums over its places
    place_counts = sel.groupby(
        ["lpu", "location_key", "cell_row", "cell_col"], observed=True
    ).size()
    rep = (place_counts - 1).clip(lower=0).rename("repeats").reset_index()
    out = out.merge(
        rep.groupby(group_cols)["repeats"].sum().reset_index(), on=group_cols, how="left"
    )
    r, c = out["cell_row"].to_numpy(), out["cell_col"].to_numpy()
    out["density"] = np.nan_to_num(dens.density[r, c], nan=0.0)
    out["gistar_z"] = hot.z[r, c]
    out["gistar_q"] = hot.q[r, c]
    out["gistar_bin"] = hot.bin[r, c].astype(np.int64)
    out["recency_share"] = np.where(out["harm"] > 0, out["harm_recent"] / out["harm"], 0.0)
    comp = {
        "harm": _scaled(out, "harm_recent"),
        "density": _scaled(out, "density"),
        "gistar": np.clip(out["gistar_bin"].to_numpy(), 0, 3) / 3.0,
        "repeat": _scaled(out.assign(_lr=np.log1p(out["repeats"])), "_lr"),
        "recency": out["recency_share"].to_numpy(),
    }
    out["score"] = 0.0
    for name in COMPONENTS:
        out[f"score_{name}"] = w[name] * comp[name]
        out["score"] += out[f"score_{name}"]
    sort_keys = ["lpu", "score", "harm_recent", "incidents", *keys]
    out = out.sort_values(
        sort_keys, ascending=[True, False, False, False, *([True] * len(keys))], kind="mergesort"
    ).reset_index(drop=True)
    out["rank"] = out.groupby("lpu").cumcount() + 1
    force = out.sort_values(
        ["score", "harm_recent", "incidents", "lpu", "rank"],
        ascending=[False, False, False, True, True],
        kind="mergesort",
    ).index
    out.loc[force, "force_rank"] = np.arange(1, len(out) + 1)
    out["force_rank"] = out["force_rank"].astype(np.int64)
    out["target_type"] = kind
    if kind == "place":
        out["target_id"] = "place:" + out["location_key"].astype(str)
        out = out.drop(columns=["cell_row", "cell_col"])
    else:
        out["target_id"] = "cell:" + out["cell_row"].astype(str) + "," + out["cell_col"].astype(str)
    return out


def _modal(sel: pd.DataFrame, group_cols: list[str], column: str) -> pd.DataFrame:
    """The most frequent ``column`` value per group (ties: alphabetically first)."""
    sizes = sel.groupby([*group_cols, column], observed=True).size().rename("_n").reset_index()
    sizes = sizes.sort_values(
        [*group_cols, "_n", column],
        ascending=[*([True] * len(group_cols)), False, True],
        kind="mergesort",
    )
    return sizes.drop_duplicates(group_cols)[[*group_cols, column]]


def _scaled(frame: pd.DataFrame, column: str) -> np.ndarray:
    """``column`` divided by its LPU maximum (0 where that maximum is 0)."""
    top = frame.groupby("lpu")[column].transform("max").to_numpy(dtype=float)
    vals = frame[column].to_numpy(dtype=float)
    return np.divide(vals, top, out=np.zeros_like(vals), where=top > 0)
