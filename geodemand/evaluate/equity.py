"""Equity audit: does patrol go where the harm is, across deprivation deciles and neighbourhoods?

Per LPU, :func:`equity_audit` compares three shares for every group of small areas (LSOAs):

dosage
    the patrol minutes a day of the LPU's patrol areas, each area's minutes apportioned to the
    small areas it overlaps in proportion to the overlap's area (the share of an area outside
    every small area goes to the group ``none``);
harm
    the harm (CCHI days, the incidents' ``harm`` column) of the LPU's incidents, each incident
    in the small area holding it (point in polygon; ``none`` when in none);
residents
    the mid-2015 resident population (excluding prisoners) of the small areas whose largest
    overlap is with the LPU.

Groups: the IMD 2019 decile of the small area (1 = the most deprived 10 % of English LSOAs,
national ranking) and, when neighbourhoods are given, the neighbourhood holding most of the
small area. Each share is a percentage of its LPU's total, so every measure sums to 100 % per
LPU and breakdown (NaN when the LPU's total is 0, e.g. no patrol area).

The flag (documented margin)
----------------------------
A group is **flagged** when its dosage share exceeds its harm share by more than
``margin_pp`` percentage points (default 10) **and** by a factor of more than
``margin_ratio`` (default 1.5; any excess counts when the harm share is 0). Both conditions
keep small groups from being flagged for a few minutes and large groups for a few points.
A flag asks for a look, not a conclusion: dosage follows the harm of the *targeting window*
while this audit uses the incidents given.

Risk rates per small area: incidents and harm per 1,000 residents over the incidents given
(:attr:`EquityAudit.small_areas`, a map layer and the neighbourhood table's columns).

Deprivation data: the English Indices of Deprivation 2019 (MHCLG, OGL v3) and their mid-2015
population denominators, bundled in ``data/deprivation/``; the bundled LSOA boundaries are the
West Midlands' (``boundaries/west-midlands/lsoa.geojson``) and Leicestershire's
(``boundaries/leicestershire/neighbourhoods.geojson``). Outside England (or for other small
areas) give your own layer with ``code``, ``decile`` (1 = most deprived) and ``population``:
without one the audit raises :class:`EquityUnavailableError` saying why it cannot run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodemand._paths import DATA_DIR
from geodemand.errors import InputFormatError, InvalidParameterError

__all__ = [
    "EquityAudit", "EquityUnavailableError", "equity_audit", "deprivation_layer", "read_imd",
    "read_population", "read_small_areas", "bundled_small_areas", "small_area_layer",
    "MARGIN_PP", "MARGIN_RATIO",
]

MARGIN_PP = 10.0
MARGIN_RATIO = 1.5
NONE_GROUP = "none"
DEPRIVATION_DIR = DATA_DIR / "deprivation"
IMD_FILE = DEPRIVATION_DIR / "File_1_-_IMD2019_Index_of_Multiple_Deprivation.csv.gz"
POPULATION_FILE = DEPRIVATION_DIR / "File_6_-_IoD2019_Population_Denominators.csv.gz"
BUNDLED_SMALL_AREAS = (
    (DATA_DIR / "boundaries" / "west-midlands" / "lsoa.geojson", "LSOA11CD", "LSOA11NM"),
    (DATA_DIR / "boundaries" / "leicestershire" / "neighbourhoods.geojson", "lsoa_code",
     "neighbourhood"),
)
_CODE_COLUMNS = ("code", "LSOA11CD", "lsoa_code", "lsoa11cd", "LSOA code", "LSOA code (2011)")
_NAME_COLUMNS = ("name", "LSOA11NM", "lsoa_name", "neighbourhood", "LSOA name (2011)")
TABLE_COLUMNS = [
    "lpu", "breakdown", "group", "small_areas", "residents", "residents_pct", "incidents",
    "incidents_pct", "harm", "harm_pct", "dosage_minutes", "dosage_pct",
    "dosage_minus_harm_pp", "dosage_to_harm", "flagged", "incidents_per_1000",
    "harm_per_1000",
]


class EquityUnavailableError(InvalidParameterError):
    """The audit cannot run on these areas (no deprivation deciles for them)."""


# ---------------------------------------------------------------------------- inputs
def _read_csv(path: Path, what: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    except FileNotFoundError:
        raise InputFormatError(f"{path}: {what} file not found") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputFormatError(f"{path}: cannot read the {what} file ({exc})") from exc


def _number(series: pd.Series, path: Path, field: str) -> np.ndarray:
    values = pd.to_numeric(series.str.replace(",", "", regex=False).str.strip(), errors="coerce")
    bad = values.isna()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputFormatError(f"{path}: row {i + 2}, field {field!r}: {series.iloc[i]!r} is "
                               "not a number")
    return values.to_numpy()


def read_imd(path: str | Path | None = None) -> pd.DataFrame:
    """IMD 2019 File 1: ``code``, ``name``, ``imd_rank``, ``decile`` (1 = most deprived)."""
    path = Path(path) if path else IMD_FILE
    raw = _read_csv(path, "IMD")
    cols = {"LSOA code (2011)": "code", "LSOA name (2011)": "name",
            "Index of Multiple Deprivation (IMD) Rank": "imd_rank",
            "Index of Multiple Deprivation (IMD) Decile": "decile"}
    missing = [c for c in cols if c not in raw.columns]
    if missing:
        raise InputFormatError(f"{path}: missing column(s) {missing} (expected the IMD 2019 "
                               "File 1 layout)")
    out = raw[list(cols)].rename(columns=cols)
    out["imd_rank"] = _number(out["imd_rank"], path, "imd_rank").astype(np.int64)
    out["decile"] = _number(out["decile"], path, "decile").astype(np.int64)
    return out


def read_population(path: str | Path | None = None) -> pd.DataFrame:
    """IoD 2019 File 6: ``code``, ``population`` (total, mid-2015, excluding prisoners)."""
    path = Path(path) if path else POPULATION_FILE
    raw = _read_csv(path, "population")
    total = "Total population: mid 2015 (excluding prisoners)"
    missing = [c for c in ("LSOA code (2011)", total) if c not in raw.columns]
    if missing:
        raise InputFormatError(f"{path}: missing column(s) {missing} (expected the IoD 2019 "
                               "File 6 layout)")
    return pd.DataFrame({"code": raw["LSOA code (2011)"],
                         "population": _number(raw[total], path, "population").astype(float)})


def read_small_areas(path: str | Path, code_column: str | None = None,
                     name_column: str | None = None) -> gpd.GeoDataFrame:
    """A small-area polygon layer as ``code``, ``name``, ``geometry`` (plus ``decile`` and
    ``population`` when the layer has them: a user deprivation layer)."""
    path = Path(path)
    try:
        layer = gpd.read_file(path)
    except Exception as exc:  # drivers raise many types
        raise InputFormatError(f"{path}: cannot read the small-area layer ({exc})") from exc
    code = code_column or next((c for c in _CODE_COLUMNS if c in layer.columns), None)
    if code is None or code not in layer.columns:
        raise InputFormatError(f"{path}: no small-area code column (looked for "
                               f"{code_column or list(_CODE_COLUMNS)})")
    name = name_column or next((c for c in _NAME_COLUMNS if c in layer.columns), code)
    out = gpd.GeoDataFrame({"code": layer[code].astype(str), "name": layer[name].astype(str)},
                           geometry=layer.geometry.values, crs=layer.crs)
    for extra in ("decile", "population"):
        if extra in layer.columns:
            out[extra] = layer[extra].to_numpy()
    return out


def bundled_small_areas() -> gpd.GeoDataFrame:
    """The bundled LSOAs: West Midlands (1,680) and Leicestershire (611), EPSG:4326."""
    parts = [read_small_areas(p, c, n).to_crs(4326) for p, c, n in BUNDLED_SMALL_AREAS]
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=4326)


def deprivation_layer(small_areas: gpd.GeoDataFrame, imd: pd.DataFrame | None = None,
                      population: pd.DataFrame | None = None) -> gpd.GeoDataFrame:
    """Small areas with their IMD 2019 ``decile`` and ``population`` joined by code.

    Raises
    ------
    EquityUnavailableError
        When any small-area code is not in the IMD file (outside England, or not 2011 LSOA
        codes): the message says how many and what to give instead.
    """
    imd = read_imd() if imd is None else imd
    population = read_population() if population is None else population
    codes = small_areas["code"].astype(str)
    # object-dtype lookup: hashed once (pandas checks Arrow text value by value)
    missing = codes[~codes.astype(object).isin(imd["code"].astype(str).to_numpy(dtype=object))]
    if len(missing):
        raise EquityUnavailableError(
            f"equity audit cannot run: {len(missing):,} of {len(codes):,} small areas have no "
            f"IMD 2019 decile (e.g. {', '.join(missing.head(3))}); the IMD covers English LSOAs "
            "(2011 codes) only. Give a deprivation layer with columns code, decile (1 = most "
            "deprived) and population"
        )
    out = small_areas.drop(columns=[c for c in ("decile", "population")
                                    if c in small_areas.columns])
    dec = imd.drop_duplicates("code", keep="last").set_index("code")["decile"]
    pop = population.drop_duplicates("code", keep="last").set_index("code")["population"]
    out["decile"] = codes.map(dec).astype(np.int64).to_numpy()
    out["population"] = codes.map(pop).to_numpy(dtype=float)
    if np.isnan(out["population"]).any():
        raise EquityUnavailableError("equity audit cannot run: some small areas have no population "
                                "denominator")
    return out


def small_area_layer(path: str | Path | None = None) -> gpd.GeoDataFrame:
    """The small areas the audit uses, ready for :func:`equity_audit`.

    ``None``: the bundled English LSOAs (West Midlands and Leicestershire) with IMD 2019
    deciles and mid-2015 population. A path: that polygon layer, used as it is when it has
    ``decile`` and ``population`` (a user deprivation layer, e.g. outside England), else joined
    to the IMD by its code (:func:`deprivation_layer`; raises :class:`EquityUnavailableError`
    for codes the IMD does not cover).
    """
    if path is None:
        return deprivation_layer(bundled_small_areas())
    layer = read_small_areas(path)
    if {"decile", "population"} <= set(layer.columns):
        return layer
    return deprivation_layer(layer)


def _check_layer(sa: gpd.GeoDataFrame) -> None:
    need = [c for c in ("code", "decile", "population", "geometry") if c not in sa.columns]
    if need:
        raise EquityUnavailableError(
            f"equity audit cannot run: the small-area layer lacks {need}; give code, decile "
            "(1-10, 1 = most deprived) and population (e.g. deprivation_layer(...))")
    dec = pd.to_numeric(sa["decile"], errors="coerce")
    bad = dec.isna() | ~dec.isin(range(1, 11))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidParameterError(f"small areas row {i} ({sa['code'].iloc[i]}), field decile: "
                                    f"{sa['decile'].iloc[i]!r}; expected an integer 1-10")
    pop = pd.to_numeric(sa["population"], errors="coerce")
    bad = pop.isna() | (pop < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidParameterError(f"small areas row {i} ({sa['code'].iloc[i]}), field "
                                    f"population: {sa['population'].iloc[i]!r}; expected >= 0")


# ---------------------------------------------------------------------------- overlays
def _largest_overlap(geoms: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each geometry, the index of the target polygon it overlaps most (-1: none); and for
    each target, the area (m²) the geometries cover of it."""
    tree = shapely.STRtree(targets)
    i, j = tree.query(geoms, predicate="intersects")
    best = np.full(len(geoms), -1, dtype=np.int64)
    covered = np.zeros(len(targets))
    if i.size:
        area = shapely.area(shapely.intersection(geoms[i], targets[j]))
        covered = np.bincount(j, weights=area, minlength=len(targets))
        order = np.lexsort((j, -area, i))  # per geometry: largest overlap, then lowest index
        i, j, area = i[order], j[order], area[order]
        first = np.r_[True, i[1:] != i[:-1]]
        keep = first & (area > 0)
        best[i[keep]] = j[keep]
    return best, covered


def _apportion(areas: np.ndarray, minutes: np.ndarray, sa: np.ndarray):
    """(area index, small-area index or -1, minutes) pieces: each area's minutes split by the
    share of its area in each small area; the rest goes to -1."""
    tree = shapely.STRtree(sa)
    i, j = tree.query(areas, predicate="intersects")
    total = shapely.area(areas)
    piece = shapely.area(shapely.intersection(areas[i], sa[j])) if i.size else np.zeros(0)
    frac = piece / np.maximum(total[i], 1e-12)
    covered = np.bincount(i, weights=frac, minlength=len(areas)) if i.size else np.zeros(
        len(areas))
    rest = np.clip(1.0 - covered, 0.0, None)
    rest[rest < 1e-9] = 0.0
    a_idx = np.r_[i, np.arange(len(areas))]
    s_idx = np.r_[j, np.full(len(areas), -1)]
    mins = np.r_[minutes[i] * frac, minutes * rest]
    keep = mins > 0
    return a_idx[keep], s_idx[keep], mins[keep]


# ---------------------------------------------------------------------------- the audit
@dataclass(frozen=True)
class EquityAudit:
    """Result of :func:`equity_audit`.

    Attributes
    ----------
    table : DataFrame
        ``equity.csv``: :data:`TABLE_COLUMNS`, one row per LPU, breakdown (``imd_decile`` or
        ``neighbourhood``) and group (``"1"``..``"10"``, a neighbourhood name, or ``none``
        for dosage or harm outside every small area). ``*_pct`` are shares of the LPU's total
        (%), ``dosage_minus_harm_pp`` percentage points, ``dosage_to_harm`` the ratio of the
        shares, ``flagged`` the documented margin, ``*_per_1000`` per 1,000 residents.
    small_areas : GeoDataFrame
        One row per small area in the LPUs: ``code``, ``name``, ``lpu``, ``neighbourhood``,
        ``decile``, ``population``, ``incidents``, ``harm``, ``dosage_minutes``,
        ``incidents_per_1000``, ``harm_per_1000``, ``geometry`` (the risk-rate map layer).
    lines : dict
        ``{lpu: [plain-words lines]}`` for the summary.
    params : dict
        Margins and counts.
    """

    table: pd.DataFrame
    small_areas: gpd.GeoDataFrame
    lines: dict[str, list[str]]
    params: dict = field(default_factory=dict)

    @property
    def flags(self) -> pd.DataFrame:
        """The flagged rows of :attr:`table`."""
        return self.table[self.table["flagged"]].reset_index(drop=True)


def equity_audit(
    incidents: Any,
    patrol_areas: gpd.GeoDataFrame,
    lpus: gpd.GeoDataFrame,
    small_areas: gpd.GeoDataFrame,
    *,
    neighbourhoods: gpd.GeoDataFrame | None = None,
    margin_pp: float = MARGIN_PP,
    margin_ratio: float = MARGIN_RATIO,
    min_coverage: float = 0.9,
) -> EquityAudit:
    """Shares of patrol dosage, harm and residents by deprivation decile and neighbourhood.

    Parameters
    ----------
    incidents : IncidentTable or DataFrame
        ``x``, ``y`` (metres in the LPUs' CRS), ``lpu``, ``harm`` (CCHI days): e.g. the
        incidents the targets were scored on. Incidents whose ``lpu`` is not an LPU of
        ``lpus`` (``outside``) are left out.
    patrol_areas : GeoDataFrame
        ``lpu``, ``minutes_per_day`` and polygon ``geometry`` (e.g. ``PatrolPlan.areas``).
    lpus : GeoDataFrame
        ``lpu`` and polygons, in the analysis CRS (e.g. ``Areas.lpus``).
    small_areas : GeoDataFrame
        ``code``, ``decile`` (1-10, 1 = most deprived), ``population``, polygons (any CRS):
        :func:`deprivation_layer` of the bundled LSOAs, or a user deprivation layer.
    neighbourhoods : GeoDataFrame, optional
        ``neighbourhood`` polygons: adds the per-neighbourhood breakdown.
    margin_pp, margin_ratio : float
        The flag's margins (module documentation).
    min_coverage : float
        The small areas must cover at least this share of every LPU's area, else
        :class:`EquityUnavailableError` (e.g. a force outside the bundled LSOAs).

    Returns
    -------
    EquityAudit
    """
    frame = incidents.frame if hasattr(incidents, "frame") else incidents
    for name, cols in (("incidents", ("x", "y", "lpu", "harm")),
                       ("patrol_areas", ("lpu", "minutes_per_day", "geometry")),
                       ("lpus", ("lpu", "geometry"))):
        have = frame if name == "incidents" else (patrol_areas if name == "patrol_areas"
                                                  else lpus)
        missing = [c for c in cols if c not in have.columns]
        if missing:
            raise InvalidParameterError(f"{name}: missing column(s) {missing}")
    if not (math.isfinite(margin_pp) and margin_pp >= 0 and math.isfinite(margin_ratio)
            and margin_ratio >= 1):
        raise InvalidParameterError("margin_pp must be >= 0 and margin_ratio >= 1, got "
                                    f"{margin_pp!r}, {margin_ratio!r}")
    _check_layer(small_areas)
    crs = lpus.crs
    if crs is None:
        raise InvalidParameterError("lpus: no CRS")
    sa = small_areas.to_crs(crs).reset_index(drop=True)
    sa_geom = shapely.make_valid(np.asarray(sa.geometry.values, dtype=object))
    lpu_geom = shapely.make_valid(np.asarray(lpus.geometry.values, dtype=object))
    lpu_names = lpus["lpu"].astype(str).to_numpy()
    best, covered = _largest_overlap(sa_geom, lpu_geom)
    share = covered / np.maximum(shapely.area(lpu_geom), 1e-12)
    if (share < min_coverage).any():
        k = int(np.argmin(share))
        raise EquityUnavailableError(
            f"equity audit cannot run: the small areas cover {100 * share[k]:.0f} % of LPU "
            f"{lpu_names[k]!r} (at least {100 * min_coverage:.0f} % needed); give a small-area "
            "deprivation layer for this force (code, decile, population)")
    inside = best >= 0
    sa, sa_geom, best = sa[inside].reset_index(drop=True), sa_geom[inside], best[inside]
    if not len(sa):
        raise EquityUnavailableError("equity audit cannot run: no small area overlaps the LPUs")
    sa["lpu"] = lpu_names[best]
    sa["decile"] = pd.to_numeric(sa["decile"]).astype(np.int64)
    sa["population"] = pd.to_numeric(sa["population"]).astype(float)
    if neighbourhoods is not None:
        nb = neighbourhoods.to_crs(crs)
        nb_geom = shapely.make_valid(np.asarray(nb.geometry.values, dtype=object))
        nbest, _ = _largest_overlap(sa_geom, nb_geom)
        names = nb["neighbourhood"].astype(str).to_numpy()
        sa["neighbourhood"] = np.where(nbest >= 0, names[np.maximum(nbest, 0)], NONE_GROUP)
    else:
        sa["neighbourhood"] = None

    # harm: incidents in small areas (point in polygon)
    from geodemand.ingest.areas import label_points

    known = set(lpu_names)
    inc = frame[frame["lpu"].astype(str).isin(known)]
    x, y = inc["x"].to_numpy(np.float64), inc["y"].to_numpy(np.float64)
    sa_layer = gpd.GeoDataFrame(geometry=sa_geom, crs=crs)
    where = label_points(x, y, sa_layer) if len(inc) else np.zeros(0, dtype=np.int64)
    harm = pd.to_numeric(inc["harm"], errors="coerce").to_numpy(np.float64)
    if not np.isfinite(harm).all():
        raise InvalidParameterError("incidents: the harm column has missing values")
    harm_rows = pd.DataFrame({"lpu": inc["lpu"].astype(str).to_numpy(), "sa": where,
                              "incidents": 1, "harm": harm})

    # dosage: patrol minutes apportioned to small areas by overlap area
    pa = patrol_areas.to_crs(crs) if patrol_areas.crs is not None else patrol_areas
    pa = pa[pa["lpu"].astype(str).isin(known)]
    minutes = pd.to_numeric(pa["minutes_per_day"], errors="coerce").to_numpy(np.float64)
    if not (np.isfinite(minutes).all() and (minutes >= 0).all()):
        raise InvalidParameterError("patrol_areas: minutes_per_day must be >= 0 minutes")
    a_idx, s_idx, mins = _apportion(
        shapely.make_valid(np.asarray(pa.geometry.values, dtype=object)), minutes, sa_geom)
    dose_rows = pd.DataFrame({"lpu": pa["lpu"].astype(str).to_numpy()[a_idx], "sa": s_idx,
                              "dosage_minutes": mins})
    pop_rows = pd.DataFrame({"lpu": sa["lpu"], "sa": np.arange(len(sa)), "small_areas": 1,
                             "residents": sa["population"]})

    # per small area (all LPUs together): the risk rates
    per_sa = (harm_rows[harm_rows["sa"] >= 0].groupby("sa")[["incidents", "harm"]].sum()
              .reindex(range(len(sa)), fill_value=0))
    dose_sa = (dose_rows[dose_rows["sa"] >= 0].groupby("sa")["dosage_minutes"].sum()
               .reindex(range(len(sa)), fill_value=0.0))
    layer = gpd.GeoDataFrame({
        "code": sa["code"].astype(str), "name": sa.get("name", sa["code"]).astype(str),
        "lpu": sa["lpu"], "neighbourhood": sa["neighbourhood"], "decile": sa["decile"],
        "population": sa["population"], "incidents": per_sa["incidents"].astype(np.int64).values,
        "harm": per_sa["harm"].astype(float).values, "dosage_minutes": dose_sa.values,
    }, geometry=sa_geom, crs=crs)
    per_1000 = layer["population"].where(layer["population"] > 0) / 1000.0
    layer["incidents_per_1000"] = layer["incidents"] / per_1000
    layer["harm_per_1000"] = layer["harm"] / per_1000

    # group of each small area, and NONE_GROUP last (index -1: outside every small area)
    group_of = {"imd_decile": np.append(sa["decile"].astype(str).to_numpy(dtype=object),
                                        NONE_GROUP)}
    if neighbourhoods is not None:
        group_of["neighbourhood"] = np.append(
            sa["neighbourhood"].astype(str).to_numpy(dtype=object), NONE_GROUP)
    parts = []
    for breakdown, groups in group_of.items():
        def grouped(rows: pd.DataFrame, cols: list[str], groups=groups) -> pd.DataFrame:
            g = rows.assign(group=groups[rows["sa"].to_numpy()])  # -1 -> the last: none
            return g.groupby(["lpu", "group"])[cols].sum()

        t = pd.concat([grouped(pop_rows, ["small_areas", "residents"]),
                       grouped(harm_rows, ["incidents", "harm"]),
                       grouped(dose_rows, ["dosage_minutes"])], axis=1).fillna(0.0)
        if breakdown == "imd_decile":  # every decile of every LPU, even when empty
            full = pd.MultiIndex.from_product([sorted(known), [str(d) for d in range(1, 11)]],
                                              names=["lpu", "group"])
            t = t.reindex(full.union(t.index), fill_value=0.0)
        parts.append(t.reset_index().assign(breakdown=breakdown))
    table = pd.concat(parts, ignore_index=True)
    table = _shares(table, margin_pp, margin_ratio)
    lines = _lines(table, margin_pp, margin_ratio)
    params = {
        "margin_pp": margin_pp, "margin_ratio": margin_ratio,
        "small_areas": len(sa), "incidents": int(len(inc)),
        "incidents_outside_small_areas": int((where < 0).sum()),
        "dosage_minutes_outside_small_areas": float(mins[s_idx < 0].sum()),
    }
    return EquityAudit(table, layer, lines, params)


def _sort_key(breakdown: pd.Series, group: pd.Series) -> pd.Series:
    """Deciles in numeric order, neighbourhoods alphabetically, ``none`` last."""
    num = pd.to_numeric(group, errors="coerce")
    return pd.Series(np.where(group == NONE_GROUP, "~", np.where(
        breakdown == "imd_decile", num.fillna(0).astype(int).astype(str).str.zfill(3), group)),
        index=group.index)


def _shares(table: pd.DataFrame, margin_pp: float, margin_ratio: float) -> pd.DataFrame:
    t = table.copy()
    t["small_areas"] = t["small_areas"].astype(np.int64)
    t["incidents"] = t["incidents"].astype(np.int64)
    for col in ("residents", "incidents", "harm", "dosage_minutes"):
        total = t.groupby(["lpu", "breakdown"])[col].transform("sum")
        pct = col.replace("dosage_minutes", "dosage") + "_pct"
        t[pct] = 100.0 * t[col] / total.where(total > 0)
    t["dosage_minus_harm_pp"] = t["dosage_pct"] - t["harm_pct"]
    t["dosage_to_harm"] = np.where(t["harm_pct"] > 0, t["dosage_pct"] / t["harm_pct"].where(
        t["harm_pct"] > 0), np.where(t["dosage_pct"] > 0, np.inf, np.nan))
    t["flagged"] = ((t["dosage_minus_harm_pp"] > margin_pp)
                    & ((t["harm_pct"] <= 0) | (t["dosage_to_harm"] > margin_ratio))).fillna(
        False).astype(bool)
    per_1000 = t["residents"].where(t["residents"] > 0) / 1000.0
    t["incidents_per_1000"] = t["incidents"] / per_1000
    t["harm_per_1000"] = t["harm"] / per_1000
    t = t.assign(_k=_sort_key(t["breakdown"], t["group"].astype(str)))
    t = t.sort_values(["lpu", "breakdown", "_k"], kind="mergesort").drop(columns="_k")
    return t[TABLE_COLUMNS].reset_index(drop=True)


def _lines(table: pd.DataFrame, margin_pp: float, margin_ratio: float) -> dict[str, list[str]]:
    out = {}
    for lpu, g in table.groupby("lpu", sort=True):
        dec = g[g["breakdown"] == "imd_decile"]
        low = dec[dec["group"].isin(["1", "2"])]
        lines = []
        if dec["residents"].sum() > 0:
            def share(col: str, low=low) -> str:
                v = low[col].sum(min_count=1)
                return "n/a" if pd.isna(v) else f"{v:.0f} %"

            lines.append(
                f"{lpu}: in the most deprived 20 % of English LSOAs (IMD 2019 deciles 1-2) live "
                f"{share('residents_pct')} of residents; they hold {share('harm_pct')} of the "
                f"harm and get {share('dosage_pct')} of patrol dosage.")
        if g["dosage_minutes"].sum() <= 0:
            lines.append(f"{lpu}: no patrol dosage to audit.")
        flagged = g[g["flagged"]].sort_values("dosage_minus_harm_pp", ascending=False)
        for r in flagged.head(5).to_dict("records"):
            what = (f"IMD decile {r['group']}" if r["breakdown"] == "imd_decile"
                    else f"neighbourhood {r['group']}" if r["group"] != NONE_GROUP
                    else "outside every small area")
            ratio = ("no harm" if not np.isfinite(r["dosage_to_harm"])
                     else f"{r['dosage_to_harm']:.1f}x")
            lines.append(
                f"Flag: {what} gets {r['dosage_pct']:.0f} % of {lpu}'s patrol dosage against "
                f"{r['harm_pct']:.0f} % of its harm (+{r['dosage_minus_harm_pp']:.0f} pp, "
                f"{ratio}).")
        if not len(flagged) and g["dosage_minutes"].sum() > 0:
            lines.append(f"No group gets more than {margin_pp:g} pp (and {margin_ratio:g}x) "
                         "more of the patrol dosage than of the harm.")
        out[str(lpu)] = lines
    return out
