"""The map inputs: one validated, copied :class:`MapLayers` that both renderers draw.

Maps never compute statistics: they only **render** results handed to them. The input
contract, shared by the interactive page (:mod:`.web`) and the static PNG (:mod:`.png`), is
(every layer optional, at least one given):

``lpus``
    GeoDataFrame of LPU polygons with a ``lpu`` (name) column and a CRS
    (e.g. ``Areas.lpus`` from :func:`geodemand.read_areas`). Names are drawn on the PNG.
``neighbourhoods``
    GeoDataFrame of neighbourhood polygons with a ``neighbourhood`` column (``lpu`` optional).
``force_area``
    The force's polygon(s) (GeoDataFrame/GeoSeries with a CRS, or a shapely geometry in
    ``crs``): density cells it does not touch are transparent (and the surface is cut to the
    window of cells it touches, so an LPU's map carries an image of its own area), and it is
    the default view.
``density``
    A KDE surface: an object with ``.density`` (float array ``(n_rows, n_cols)``, row 0 north,
    NaN = nodata), ``.grid`` (:class:`~geodemand.grid.Grid`) and ``.units`` (e.g.
    ``"CCHI days per km²"``) such as :class:`~geodemand.engines.density.KDEResult`; or a plain
    array together with ``density_grid`` and ``density_units``. Cells with a density of 0 or
    NaN are transparent. The colour scale (a sequential yellow-green-blue ramp) runs linearly
    from 0 to ``density_vmax`` (default: the surface's maximum, announced).
``hotspot_cells``
    GeoDataFrame of Gi* cell polygons with a confidence-bin column ``bin`` (or ``gistar_bin``)
    holding integers −3..3 (ArcGIS style: ±3 = 99 %, ±2 = 95 %, ±1 = 90 % confidence), e.g.
    ``GiStarResult.to_geodataframe(only_significant=True)``; an object with a
    ``to_geodataframe(only_significant=...)`` method is accepted too. Bin 0 cells are not drawn;
    touching cells of the same bin are drawn as one polygon. The layer and legend say "hot
    spots" when no cold spot is significant, and list only the classes present.
``emerging``
    Emerging hot-spot cells: an ``EmergingResult`` (its ``to_geodataframe()`` is used) or a
    GeoDataFrame of cell polygons with an integer ``pattern_code`` column (ArcGIS CATEGORY
    numbering −8..8, :data:`geodemand.engines.emerging.PATTERNS`). Code 0 ("no pattern") is
    not drawn; touching cells of one pattern are drawn as one polygon. Off by default in the
    layer control.
``risk``
    A choropleth of risk rates: GeoDataFrame of polygons (neighbourhoods, LSOAs) with a
    ``value`` column (the rate, ≥ 0; NaN = no data) and optional ``label`` (area name),
    ``count`` (the numerator) and ``population``; ``risk_units`` names the rate, e.g.
    ``"incidents per 1,000 residents"``. Drawn in five quantile classes; off by default.
``patrol_areas``
    GeoDataFrame of (multi)polygons with a unique positive integer ``rank`` column (the number
    drawn on the map; 1 = top). The popup card reads only these optional columns (others are
    left out of the map; they stay in the CSV and GeoPackage):

    ============================  ==========================================================
    ``label``                     place or area name (the card's title)
    ``rank``, ``force_rank``      rank within the LPU (drawn) and force-wide
    ``lpu``                       LPU name
    ``status``                    e.g. ``"new"``, ``"continuing (3 weeks)"``, ``"expired"``
    ``expected_harm``             expected harm next period, in ``harm_units``
    ``harm``                      harm in the data window, in ``harm_units``
    ``incidents``                 incidents in the data window
    ``incidents_<crime-type>``    per-type counts; the top 5 non-zero are shown with their
                                  share of ``incidents`` ("38 %")
    ``visits_per_day``            integer; shown with ``minutes_per_visit`` as the dosage
    ``minutes_per_visit``         minutes per visit
    ``hot_hours``                 text, e.g. ``"Fri 22–24, Sat 00–02"``
    ``review_date``               date (shown as "Mon 8 Dec 2025")
    ``partnership``               bool; with ``partnership_reason`` (text)
    ``neighbourhoods``            text or a list of names
    ``area_id``                   stable id (to find the row in the CSV)
    ============================  ==========================================================
``repeat_places``
    DataFrame with ``x``, ``y`` (coordinates in ``crs``, or ``attrs["crs"]``) or a GeoDataFrame
    of points; the card reads the same columns as a patrol area, with ``count`` accepted for
    ``incidents``, ``neighbourhood`` for ``neighbourhoods`` and per-type counts as
    ``n_<crime_type>`` (only names in the crime-type vocabulary). Every row is drawn (pass only
    the top places), as clustered markers.
``incidents``
    This period's incidents: DataFrame with ``x``, ``y`` (in ``crs`` or ``attrs["crs"]``) or a
    GeoDataFrame of points, with ``crime_type`` (slug or label) and ``occurred`` (datetime);
    optional ``label`` (place, e.g. police.uk "On or near …") and ``date_precision``
    (``"month"`` shows "Nov 2025"; also read from ``attrs["date_precision"]``). Drawn as
    clustered points with a short card (type, date or month, place).

``harm_units`` names the harm numbers on the cards (default ``"CCHI days"``).

Every GeoJSON made here is WGS84 longitude/latitude (6 decimals, ~0.1 m).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from geodemand._announce import announce
from geodemand.errors import InvalidParameterError
from geodemand.grid import Grid
from geodemand.outputs.maps.style import BIN_COLUMNS, COORD_DECIMALS, WGS84, format_value


# ---------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class DensityLayer:
    """A density surface to render: ``values`` on ``grid`` in ``units`` (0 .. ``vmax``)."""

    values: np.ndarray
    grid: Grid
    units: str
    vmax: float


@dataclass(frozen=True)
class MapLayers:
    """Validated, copied map inputs (see the module docstring for the contract).

    GeoDataFrames keep their own CRS; ``repeat_places`` and ``incidents`` are GeoDataFrames
    of points; ``hotspot_cells`` has an integer ``bin`` column (bin 0 removed);
    ``emerging`` an integer ``pattern_code`` column (code 0 removed); ``patrol_areas`` is
    sorted by ``rank``; the density is NaN outside ``force_area`` and cut to the window of
    the cells it touches (its ``grid`` is then that window).
    """

    title: str
    period: str
    window: str
    data_source: str
    synthetic: bool
    lpus: Any = None
    neighbourhoods: Any = None
    density: DensityLayer | None = None
    hotspot_cells: Any = None
    emerging: Any = None
    risk: Any = None
    risk_units: str | None = None
    patrol_areas: Any = None
    repeat_places: Any = None
    incidents: Any = None
    force_area: Any = None
    harm_units: str = "CCHI days"
    view_bounds_wgs84: tuple[float, float, float, float] | None = None
    params: dict[str, Any] = field(default_factory=dict)


def prepare_layers(
    *,
    title: str = "Hot spots",
    period: str = "period not stated",
    window: str = "data window not stated",
    data_source: str = "data source not stated",
    synthetic: bool = False,
    lpus=None,
    neighbourhoods=None,
    density=None,
    density_grid: Grid | None = None,
    density_units: str | None = None,
    density_vmax: float | None = None,
    hotspot_cells=None,
    patrol_areas=None,
    repeat_places=None,
    incidents=None,
    emerging=None,
    risk=None,
    risk_units: str | None = None,
    force_area=None,
    harm_units: str = "CCHI days",
    crs: str | None = None,
    view_bounds: tuple[float, float, float, float] | None = None,
) -> MapLayers:
    """Validate and copy the map inputs (the contract in the module docstring).

    Parameters
    ----------
    title, period, window, data_source : str
        Texts of the title box (shown as plain text; line breaks become spaces). The data
        source is one line, e.g. "police.uk street data, 24 files, 2019-12 to 2021-11" (the
        file list belongs in the manifest).
    synthetic : bool
        True shows a conspicuous "SYNTHETIC DATA" banner.
    risk_units : str, optional
        Units of ``risk`` values (required with ``risk``).
    harm_units : str
        Units of harm numbers on the cards.
    crs : str, optional
        CRS of ``repeat_places``/``incidents`` ``x``/``y`` columns (default their
        ``attrs["crs"]``), of a shapely ``force_area`` and of ``view_bounds``.
    view_bounds : (x_min, y_min, x_max, y_max), optional
        Initial view in ``crs`` units; default: the force area, else the union of every
        layer's bounds.

    Raises
    ------
    InvalidParameterError
        Naming the argument and column at fault.
    """
    texts = {"title": title, "period": period, "window": window, "data_source": data_source,
             "harm_units": harm_units}
    for name, value in texts.items():
        if not isinstance(value, str) or not value.strip():
            raise InvalidParameterError(f"{name} must be a non-empty string, got {value!r}")
    texts = {k: " ".join(v.split()) for k, v in texts.items()}
    if not isinstance(synthetic, (bool, np.bool_)):
        raise InvalidParameterError(f"synthetic must be True or False, got {synthetic!r}")
    if risk is not None and (not isinstance(risk_units, str) or not risk_units.strip()):
        raise InvalidParameterError(
            "risk needs risk_units naming its rate, e.g. 'incidents per 1,000 residents'"
        )
    area = _force_area(force_area, crs)
    layers = dict(
        lpus=_polygons(lpus, "lpus", ("lpu",)),
        neighbourhoods=_polygons(neighbourhoods, "neighbourhoods", ("neighbourhood",)),
        density=_density(density, density_grid, density_units, density_vmax, area),
        hotspot_cells=_hotspot_cells(hotspot_cells),
        emerging=_emerging(emerging),
        risk=_risk(risk),
        patrol_areas=_patrol_areas(patrol_areas),
        repeat_places=_points(repeat_places, crs, "repeat_places", ()),
        incidents=_incidents(incidents, crs),
    )
    if all(v is None for v in layers.values()):
        raise InvalidParameterError(
            "a map needs at least one layer: lpus, neighbourhoods, density, hotspot_cells, "
            "emerging, risk, patrol_areas, repeat_places or incidents"
        )
    bounds = _view_bounds(layers, view_bounds, crs, area)
    params = {
        "title": texts["title"],
        "period": texts["period"],
        "window": texts["window"],
        "data_source": texts["data_source"],
        "synthetic": bool(synthetic),
        "layers": [k for k, v in layers.items() if v is not None],
        "density_vmax": None if layers["density"] is None else layers["density"].vmax,
        "density_units": None if layers["density"] is None else layers["density"].units,
        "risk_units": risk_units if risk is not None else None,
        "harm_units": texts["harm_units"],
    }
    return MapLayers(
        title=texts["title"],
        period=texts["period"],
        window=texts["window"],
        data_source=texts["data_source"],
        synthetic=bool(synthetic),
        risk_units=" ".join(risk_units.split()) if risk is not None else None,
        force_area=area,
        harm_units=texts["harm_units"],
        view_bounds_wgs84=bounds,
        params=params,
        **layers,
    )


def _require_gdf(obj, name: str):
    import geopandas as gpd

    if not isinstance(obj, gpd.GeoDataFrame):
        raise InvalidParameterError(f"{name} must be a GeoDataFrame, got {type(obj).__name__}")
    if obj.crs is None:
        raise InvalidParameterError(f"{name} has no CRS; set one (e.g. EPSG:27700) first")
    missing = obj.geometry.isna() | obj.geometry.is_empty
    if missing.any():
        row = int(np.flatnonzero(missing.to_numpy())[0])
        raise InvalidParameterError(f"{name}: row {row} has no geometry")
    return obj.copy()


def _check_geom_types(gdf, name: str, allowed: tuple[str, ...]) -> None:
    bad = ~gdf.geometry.geom_type.isin(allowed)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        found = gdf.geometry.geom_type.iloc[row]
        raise InvalidParameterError(
            f"{name}: row {row} is a {found}; expected {' or '.join(allowed)}"
        )


def _check_columns(frame, name: str, columns: Iterable[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidParameterError(
            f"{name} is missing column(s) {missing}; it has {list(frame.columns)}"
        )


def _polygons(gdf, name: str, columns: tuple[str, ...]):
    if gdf is None:
        return None
    gdf = _require_gdf(gdf, name)
    _check_columns(gdf, name, columns)
    _check_geom_types(gdf, name, ("Polygon", "MultiPolygon"))
    return gdf


def _density(density, grid: Grid | None, units: str | None, vmax: float | None, area=None):
    if density is None:
        if grid is not None:
            raise InvalidParameterError("density_grid was given without a density array")
        return None
    if hasattr(density, "density") and hasattr(density, "grid"):
        values, grid = density.density, density.grid
        units = units if units is not None else getattr(density, "units", None)
    else:
        values = density
    if not isinstance(grid, Grid):
        raise InvalidParameterError(
            "density needs its Grid: pass a KDEResult (with .grid) or density_grid=Grid(...)"
        )
    values = np.array(values, dtype=np.float64)  # a copy
    if values.shape != grid.shape:
        raise InvalidParameterError(
            f"density array has shape {values.shape}; its grid expects {grid.shape} "
            "(n_rows, n_cols)"
        )
    if not isinstance(units, str) or not units.strip():
        raise InvalidParameterError(
            "density units are needed for the legend, e.g. density_units='incidents per km²'"
        )
    if np.any(np.isfinite(values) & (values < 0)):
        raise InvalidParameterError("density has negative values; a density is never negative")
    if area is not None:
        from geodemand.outputs.raster import grid_mask

        values[~grid_mask(grid, area)] = np.nan
        values, grid = _crop_to_data(values, grid)
    if vmax is None:
        finite = values[np.isfinite(values)]
        peak = float(finite.max()) if finite.size else 0.0
        vmax = peak if peak > 0 else 1.0
        announce(f"density colour scale 0 to {format_value(vmax)} {units} (the surface's maximum)")
    vmax = float(vmax)
    if not (math.isfinite(vmax) and vmax > 0):
        raise InvalidParameterError(f"density_vmax must be a positive number, got {vmax!r}")
    values.setflags(write=False)
    return DensityLayer(values=values, grid=grid, units=units, vmax=vmax)


def _crop_to_data(values: np.ndarray, grid: Grid) -> tuple[np.ndarray, Grid]:
    """``values`` and ``grid`` cut to the smallest window holding every non-NaN cell.

    The map shows NaN cells as transparent, so the cut changes nothing drawn; an LPU's map
    then carries an image of its own area instead of the whole force grid. A surface with
    no data cell is kept whole.
    """
    missing = np.isnan(values)
    rows = np.flatnonzero(~missing.all(axis=1))
    cols = np.flatnonzero(~missing.all(axis=0))
    if rows.size == 0:
        return values, grid
    window = slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)
    return np.ascontiguousarray(values[window]), grid.window(*window)


def _hotspot_cells(cells):
    if cells is None:
        return None
    if hasattr(cells, "to_geodataframe") and not hasattr(cells, "geometry"):
        cells = cells.to_geodataframe(only_significant=True)
    gdf = _require_gdf(cells, "hotspot_cells")
    column = next((c for c in BIN_COLUMNS if c in gdf.columns), None)
    if column is None:
        raise InvalidParameterError(
            f"hotspot_cells needs a confidence-bin column ({' or '.join(BIN_COLUMNS)}) "
            f"with integers -3..3; it has {list(gdf.columns)}"
        )
    _check_geom_types(gdf, "hotspot_cells", ("Polygon", "MultiPolygon"))
    raw = pd.to_numeric(gdf[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(raw) | (raw != np.round(raw)) | (np.abs(raw) > 3)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidParameterError(
            f"hotspot_cells column {column!r} row {row} is {gdf[column].iloc[row]!r}; "
            "expected an integer -3..3"
        )
    out = gdf[[gdf.geometry.name]].copy()
    out["bin"] = raw.astype(np.int64)
    return out[out["bin"] != 0]


def _patrol_areas(areas):
    if areas is None:
        return None
    if not isinstance(areas, pd.DataFrame) and isinstance(getattr(areas, "areas", None),
                                                          pd.DataFrame):
        areas = areas.areas  # a PatrolPlan
    gdf = _require_gdf(areas, "patrol_areas")
    _check_columns(gdf, "patrol_areas", ("rank",))
    _check_geom_types(gdf, "patrol_areas", ("Polygon", "MultiPolygon"))
    rank = pd.to_numeric(gdf["rank"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(rank) | (rank != np.round(rank)) | (rank < 1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidParameterError(
            f"patrol_areas column 'rank' row {row} is {gdf['rank'].iloc[row]!r}; "
            "expected a positive integer"
        )
    # ranks are unique force-wide, or within each LPU (patrol_areas() output: the number
    # drawn is the rank within the LPU; areas are then ordered by force_rank, else LPU, rank)
    gdf["rank"] = rank.astype(np.int64)
    if len(np.unique(rank)) != len(rank):
        keys = ["lpu", "rank"] if "lpu" in gdf.columns else ["rank"]
        dup = gdf.duplicated(subset=keys).to_numpy()
        if dup.any():
            row = int(np.flatnonzero(dup)[0])
            per_lpu = len(keys) == 2
            where = f" in LPU {gdf['lpu'].iloc[row]!r}" if per_lpu else ""
            raise InvalidParameterError(
                f"patrol_areas column 'rank' repeats {int(rank[row])}{where} (row {row}); "
                "ranks must be unique" + (" within each LPU" if per_lpu else
                                          " (or within each LPU, with an 'lpu' column)")
            )
        if "force_rank" in gdf.columns:
            return gdf.sort_values("force_rank", kind="stable").reset_index(drop=True)
        gdf = gdf.assign(_lpu=gdf["lpu"].astype(str)).sort_values(["_lpu", "rank"],
                                                                  kind="stable")
        return gdf.drop(columns="_lpu").reset_index(drop=True)
    return gdf.sort_values("rank", kind="stable").reset_index(drop=True)


def _points(places, crs: str | None, name: str, columns: tuple[str, ...]):
    """A GeoDataFrame of points from a GeoDataFrame or a DataFrame with x, y columns."""
    if places is None:
        return None
    import geopandas as gpd

    if isinstance(places, gpd.GeoDataFrame):
        gdf = _require_gdf(places, name)
        _check_geom_types(gdf, name, ("Point",))
        _check_columns(gdf, name, columns)
        return gdf.reset_index(drop=True)
    if not isinstance(places, pd.DataFrame):
        raise InvalidParameterError(
            f"{name} must be a DataFrame with x, y columns or a GeoDataFrame of points, "
            f"got {type(places).__name__}"
        )
    _check_columns(places, name, ("x", "y", *columns))
    place_crs = crs if crs is not None else places.attrs.get("crs")
    if place_crs is None:
        raise InvalidParameterError(
            f"{name} has x, y columns but no CRS: pass crs='EPSG:27700' (or set "
            f"{name}.attrs['crs'])"
        )
    x = pd.to_numeric(places["x"], errors="coerce").to_numpy(dtype=np.float64)
    y = pd.to_numeric(places["y"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidParameterError(
            f"{name} row {row} has x={places['x'].iloc[row]!r}, "
            f"y={places['y'].iloc[row]!r}; expected finite numbers"
        )
    frame = pd.DataFrame(places.drop(columns=["x", "y"])).reset_index(drop=True)
    gdf = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(x, y), crs=place_crs)
    gdf.attrs = dict(places.attrs)
    return gdf


def _incidents(incidents, crs: str | None):
    """This period's incidents: points with ``crime_type`` and ``occurred`` (datetime)."""
    gdf = _points(incidents, crs, "incidents", ("crime_type", "occurred"))
    if gdf is None:
        return None
    raw = gdf["occurred"]
    occurred = (
        raw if pd.api.types.is_datetime64_any_dtype(raw)
        else pd.to_datetime(raw, errors="coerce", format="ISO8601")
    )
    bad = occurred.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidParameterError(
            f"incidents row {row} has occurred={gdf['occurred'].iloc[row]!r}; expected a date"
        )
    if getattr(occurred.dt, "tz", None) is not None:
        occurred = occurred.dt.tz_localize(None)
    out = gdf[[gdf.geometry.name]].copy()
    out["crime_type"] = gdf["crime_type"].astype(str).to_numpy()
    out["occurred"] = occurred.to_numpy()
    default = str(incidents.attrs.get("date_precision", "day"))
    precision = gdf["date_precision"] if "date_precision" in gdf.columns else default
    out["date_precision"] = precision
    out["label"] = gdf["label"].to_numpy() if "label" in gdf.columns else None
    return out


def _force_area(area, crs: str | None):
    """The force area as a GeoDataFrame of polygons (or None)."""
    if area is None:
        return None
    import geopandas as gpd
    import shapely

    if isinstance(area, shapely.Geometry):
        if crs is None:
            raise InvalidParameterError(
                "a shapely force_area needs crs= (the CRS of its coordinates)"
            )
        area = gpd.GeoDataFrame(geometry=[area], crs=crs)
    elif isinstance(area, gpd.GeoSeries):
        area = gpd.GeoDataFrame(geometry=area)
    gdf = _require_gdf(area, "force_area")
    _check_geom_types(gdf, "force_area", ("Polygon", "MultiPolygon"))
    return gdf[[gdf.geometry.name]].reset_index(drop=True)


def _emerging(emerging):
    """Emerging hot-spot cells with an integer ``pattern_code`` (code 0 removed)."""
    if emerging is None:
        return None
    if hasattr(emerging, "to_geodataframe") and not hasattr(emerging, "geometry"):
        emerging = emerging.to_geodataframe(include_no_pattern=False)
    gdf = _require_gdf(emerging, "emerging")
    _check_columns(gdf, "emerging", ("pattern_code",))
    _check_geom_types(gdf, "emerging", ("Polygon", "MultiPolygon"))
    raw = pd.to_numeric(gdf["pattern_code"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(raw) | (raw != np.round(raw)) | (np.abs(raw) > 8)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidParameterError(
            f"emerging column 'pattern_code' row {row} is {gdf['pattern_code'].iloc[row]!r}; "
            "expected an integer -8..8"
        )
    out = gdf[[gdf.geometry.name]].copy()
    out["pattern_code"] = raw.astype(np.int64)
    return out[out["pattern_code"] != 0]


def _risk(risk):
    """Risk-rate polygons with a numeric, non-negative ``value`` (NaN = no data)."""
    if risk is None:
        return None
    gdf = _require_gdf(risk, "risk")
    _check_columns(gdf, "risk", ("value",))
    _check_geom_types(gdf, "risk", ("Polygon", "MultiPolygon"))
    raw = gdf["value"]
    value = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
    bad = (np.isnan(value) & raw.notna().to_numpy()) | np.isinf(value) | (value < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidParameterError(
            f"risk column 'value' row {row} is {raw.iloc[row]!r}; expected a rate >= 0 "
            "(or empty for no data)"
        )
    keep = [c for c in ("label", "count", "population") if c in gdf.columns]
    out = gdf[[*keep, gdf.geometry.name]].copy()
    out["value"] = value
    return out.reset_index(drop=True)


def transformer(src, dst):
    """A cached always-x/y :class:`pyproj.Transformer` from ``src`` to ``dst``."""
    from pyproj import CRS

    return _cached_transformer(CRS.from_user_input(src), CRS.from_user_input(dst))


@functools.lru_cache(maxsize=32)
def _cached_transformer(src, dst):
    from pyproj import Transformer

    return Transformer.from_crs(src, dst, always_xy=True)


def _to_wgs84_bounds(bounds, crs) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = bounds
    tr = transformer(crs, WGS84)
    # sample the edges: a projected rectangle is not a lon/lat rectangle
    t = np.linspace(0.0, 1.0, 21)
    xs = np.concatenate([x0 + (x1 - x0) * t, np.full(21, x1), x1 - (x1 - x0) * t, np.full(21, x0)])
    ys = np.concatenate([np.full(21, y0), y0 + (y1 - y0) * t, np.full(21, y1), y1 - (y1 - y0) * t])
    lon, lat = tr.transform(xs, ys)
    return (float(np.min(lon)), float(np.min(lat)), float(np.max(lon)), float(np.max(lat)))


def _view_bounds(layers: dict, view_bounds, crs, area=None) -> tuple[float, float, float, float]:
    if view_bounds is not None:
        if crs is None:
            raise InvalidParameterError("view_bounds needs crs= (the CRS of its coordinates)")
        vb = tuple(float(v) for v in view_bounds)
        if len(vb) != 4 or not all(map(math.isfinite, vb)) or vb[2] <= vb[0] or vb[3] <= vb[1]:
            raise InvalidParameterError(
                f"view_bounds must be (x_min, y_min, x_max, y_max) with max > min, got "
                f"{view_bounds!r}"
            )
        return _to_wgs84_bounds(vb, crs)
    if area is not None and len(area):
        return _to_wgs84_bounds(area.total_bounds, area.crs)
    boxes = []
    for key, value in layers.items():
        if value is None:
            continue
        if key == "density":
            boxes.append(_to_wgs84_bounds(value.grid.bounds, value.grid.crs))
        elif len(value):
            boxes.append(_to_wgs84_bounds(value.total_bounds, value.crs))
    if not boxes:
        raise InvalidParameterError("every map layer is empty; nothing to show")
    arr = np.array(boxes)
    return (arr[:, 0].min(), arr[:, 1].min(), arr[:, 2].max(), arr[:, 3].max())


# ---------------------------------------------------------------------------- geometry out
def to_geojson(gdf, properties: Mapping[str, Iterable[Any]] | None = None) -> dict:
    """A GeoJSON FeatureCollection (WGS84 lon/lat, :data:`COORD_DECIMALS` decimals).

    Parameters
    ----------
    gdf : GeoDataFrame
        Geometries in any CRS (reprojected here).
    properties : mapping of name -> sequence, optional
        Feature properties, one value per row (used as given: escape text beforehand).
    """
    props = {k: list(v) for k, v in (properties or {}).items()}
    features = []
    for i, geometry in enumerate(_wgs84_geometries(gdf)):
        features.append(
            {
                "type": "Feature",
                "properties": {k: v[i] for k, v in props.items()},
                "geometry": geometry,
            }
        )
    return {"type": "FeatureCollection", "features": features}


_shared_geometries: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "geodemand_shared_geojson_geometries", default=None
)


@contextlib.contextmanager
def shared_geojson() -> Iterator[None]:
    """Within this block map GeoJSON is made once and shared between pages.

    A weekly bundle draws the same boundaries, small areas and patrol areas on the force map
    and again on each LPU map; inside the block a geometry met before (same CRS, same exact
    WKB) reuses its GeoJSON object instead of being reprojected and rewritten. Coordinates
    are reprojected point by point, so the GeoJSON is the same either way (tested). The
    force-wide hot-spot and emerging layers are likewise built once (keyed by their content,
    see :func:`shared_store`). The shared objects are only read (serialised), never
    modified. The memory goes with the block.
    """
    token = _shared_geometries.set({})
    try:
        yield
    finally:
        _shared_geometries.reset(token)


def shared_store() -> dict | None:
    """The open :func:`shared_geojson` block's store (None outside one). Geometries are
    kept under ``(crs, wkb)`` keys; other users key their entries by a leading name."""
    return _shared_geometries.get()


def _wgs84_geometries(gdf) -> list[dict | None]:
    """GeoJSON geometry objects of ``gdf`` in WGS84, :data:`COORD_DECIMALS` decimals
    (through the :func:`shared_geojson` store when one is open)."""
    import shapely

    store = _shared_geometries.get()
    if store is None:
        return _convert_geometries(gdf)
    crs = str(gdf.crs)
    keys = [(crs, wkb) for wkb in shapely.to_wkb(gdf.geometry.to_numpy())]
    new = [i for i, key in enumerate(keys) if key not in store]
    if new:
        for i, geometry in zip(new, _convert_geometries(gdf.iloc[new]), strict=True):
            store[keys[i]] = geometry
    return [store[key] for key in keys]


def _convert_geometries(gdf) -> list[dict | None]:
    import shapely

    geoms = gdf.geometry.to_crs(WGS84).to_numpy()
    geoms = shapely.transform(geoms, lambda c: np.round(c, COORD_DECIMALS))
    return geojson_geometries(geoms)


#: GEOS type id -> GeoJSON type of the geometries :func:`geojson_geometries` nests itself.
_GEOJSON_TYPES = {
    0: "Point",
    1: "LineString",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
}


def geojson_geometries(geoms: np.ndarray) -> list[dict | None]:
    """GeoJSON geometry objects (dicts) of shapely geometries, in input order.

    The same objects as ``json.loads(shapely.to_geojson(g))`` for each geometry (tested), built
    from one coordinate array per geometry type instead of a JSON text per geometry. Missing
    geometries give None; geometry collections go through the JSON text.

    Parameters
    ----------
    geoms : numpy.ndarray of shapely geometries
        Any coordinates (already rounded and in the output CRS).
    """
    import shapely

    out: list[dict | None] = [None] * len(geoms)
    type_ids = shapely.get_type_id(geoms)
    for tid in np.unique(type_ids).tolist():
        idx = np.flatnonzero(type_ids == tid)
        part = geoms[idx]
        if tid == -1:  # missing geometry
            continue
        if tid not in _GEOJSON_TYPES:
            for i, text in zip(idx.tolist(), shapely.to_geojson(part), strict=True):
                out[i] = json.loads(text)
        elif tid == 0:
            coords = iter(shapely.get_coordinates(part).tolist())
            for i, empty in zip(idx.tolist(), shapely.is_empty(part).tolist(), strict=True):
                out[i] = {"type": "Point", "coordinates": [] if empty else next(coords)}
        else:
            _, coords, offsets = shapely.to_ragged_array(part, include_z=False)
            nested = coords.tolist()
            for level in offsets:  # innermost level first: coordinates -> rings -> polygons
                bounds = level.tolist()
                nested = [nested[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
            for i, coordinates in zip(idx.tolist(), nested, strict=True):
                out[i] = {"type": _GEOJSON_TYPES[tid], "coordinates": coordinates}
    return out


#: Largest lattice (cells) the grid path of :func:`dissolve_bins` rasterises.
_MAX_LATTICE_CELLS = 50_000_000


def dissolve_bins(cells, column: str = "bin") -> Any:
    """Merge touching cells of the same class (Gi* bin, emerging pattern code): one polygon
    per connected patch.

    Cells that share an edge merge; cells that touch only at a corner do not (they form
    separate patches). When every cell is an axis-aligned square of one size on one lattice
    (the cells of a :class:`Grid`), the bins are rasterised on that lattice and polygonised
    (exact and fast); otherwise the polygons are unioned with GEOS. Both give the same
    patches (tested).

    Parameters
    ----------
    cells : GeoDataFrame
        Polygons with an integer class ``column`` (non-zero).
    column : str
        The class column (default ``"bin"``).

    Returns
    -------
    GeoDataFrame
        Columns ``column``, ``n_cells`` and geometry (input CRS), sorted by class (highest
        first), then west to east and south to north by each patch's representative point.
    """
    import geopandas as gpd

    lattice = _cell_lattice(cells.geometry.to_numpy())
    if lattice is None:
        rows = _dissolve_by_union(cells, column)
    else:
        rows = _dissolve_on_lattice(cells[column].to_numpy(), *lattice)
    frame = pd.DataFrame(rows, columns=[column, "n_cells", "geometry"])
    out = gpd.GeoDataFrame(frame, geometry="geometry", crs=cells.crs)
    if len(out):
        c = out.geometry.representative_point()
        out = out.assign(_x=c.x, _y=c.y).sort_values(
            [column, "_x", "_y"], ascending=[False, True, True], kind="stable"
        )
        out = out.drop(columns=["_x", "_y"]).reset_index(drop=True)
    return out


def _dissolve_by_union(cells, column: str = "bin") -> list[tuple[int, int, Any]]:
    import shapely

    rows = []
    for b in sorted(cells[column].unique(), reverse=True):
        part = cells.geometry[cells[column] == b].to_numpy()
        merged = shapely.get_parts(shapely.union_all(part))
        # each cell lies in exactly one merged patch: count cells per patch
        _, hit = shapely.STRtree(merged).query(
            shapely.point_on_surface(part), predicate="intersects"
        )
        counts = np.bincount(hit, minlength=len(merged))
        rows.extend((int(b), int(n), poly) for n, poly in zip(counts, merged, strict=True))
    return rows


def _cell_lattice(geoms: np.ndarray):
    """``(rows, cols, size, x_west, y_north)`` if ``geoms`` are distinct cells of one lattice."""
    import shapely

    if len(geoms) == 0 or not np.all(shapely.get_type_id(geoms) == 3):  # 3 = Polygon
        return None
    if not np.all(shapely.get_num_coordinates(geoms) == 5):
        return None
    b = shapely.bounds(geoms)
    size = float(b[0, 2] - b[0, 0])
    tol = 1e-9 * max(size, 1.0)
    if not (
        size > 0
        and np.allclose(b[:, 2] - b[:, 0], size, rtol=0, atol=tol)
        and np.allclose(b[:, 3] - b[:, 1], size, rtol=0, atol=tol)
        and np.allclose(shapely.area(geoms), size * size, rtol=1e-9, atol=0)  # not rotated
    ):
        return None
    x_west, y_north = float(b[:, 0].min()), float(b[:, 3].max())
    fc = (b[:, 0] - x_west) / size
    fr = (y_north - b[:, 3]) / size
    cols, rows = np.round(fc), np.round(fr)
    if np.abs(fc - cols).max() > 1e-6 or np.abs(fr - rows).max() > 1e-6:
        return None
    cols, rows = cols.astype(np.int64), rows.astype(np.int64)
    if (rows.max() + 1) * (cols.max() + 1) > _MAX_LATTICE_CELLS:
        return None
    if len(np.unique(rows * (cols.max() + 1) + cols)) != len(geoms):  # overlapping cells
        return None
    return rows, cols, size, x_west, y_north


def _dissolve_on_lattice(bins, rows, cols, size, x_west, y_north) -> list[tuple[int, int, Any]]:
    import shapely
    from affine import Affine
    from rasterio.features import shapes

    raster = np.zeros((rows.max() + 1, cols.max() + 1), dtype=np.int16)
    raster[rows, cols] = bins
    transform = Affine.translation(x_west, y_north) @ Affine.scale(size, -size)
    values, rings, ring_polygon = [], [], []
    for k, (geom, value) in enumerate(
        shapes(raster, mask=raster != 0, connectivity=4, transform=transform)
    ):
        values.append(int(value))
        rings.extend(geom["coordinates"])  # exterior ring first, then the holes
        ring_polygon.extend([k] * len(geom["coordinates"]))
    if not values:
        return []
    # every polygon in one call: the rings' vertices, then rings, then polygons (the same
    # polygons as shapely.geometry.shape of each record)
    lengths = [len(ring) for ring in rings]
    coords = np.array([xy for ring in rings for xy in ring], dtype=np.float64)
    ring_geoms = shapely.linearrings(coords, indices=np.repeat(np.arange(len(rings)), lengths))
    polys = shapely.polygons(ring_geoms, indices=np.asarray(ring_polygon))
    cells = np.rint(shapely.area(polys) / (size * size)).astype(np.int64)
    return list(zip(values, cells.tolist(), polys.tolist(), strict=True))


