"""The map inputs: one validated, copied :class:`MapLayers` that both renderers draw.

Maps never compute statistics: they only **render** results handed to them. The input
contract, shared by the interactive page (:mod:`.web`) and the static PNG (:mod:`.png`), is:

``lpus``
    GeoDataFrame of LPU polygons with a ``lpu`` (name) column and a CRS
    (e.g. ``Areas.lpus`` from :func:`geodemand.read_areas`).
``neighbourhoods``
    GeoDataFrame of neighbourhood polygons with a ``neighbourhood`` column (``lpu`` optional).
``density``
    A KDE surface: an object with ``.density`` (float array ``(n_rows, n_cols)``, row 0 north,
    NaN = nodata), ``.grid`` (:class:`~geodemand.grid.Grid`) and ``.units`` (e.g.
    ``"incidents per km²"``) such as :class:`~geodemand.engines.density.KDEResult`; or a plain array
    together with ``density_grid`` and ``density_units``. Cells with a density of 0 or NaN are
    transparent. The colour scale runs linearly from 0 to ``density_vmax`` (default: the
    surface's maximum, announced).
``hotspot_cells``
    GeoDataFrame of Gi* cell polygons with a confidence-bin column ``bin`` (or ``gistar_bin``)
    holding integers −3..3 (ArcGIS style: ±3 = 99 %, ±2 = 95 %, ±1 = 90 % confidence), e.g.
    ``GiStarResult.to_geodataframe(only_significant=True)``; an object with a
    ``to_geodataframe(only_significant=...)`` method is accepted too. Bin 0 cells are not drawn;
    touching cells of the same bin are drawn as one polygon.
``patrol_areas``
    GeoDataFrame of (multi)polygons with a unique positive integer ``rank`` column (1 = top).
    Rendered in the popup when present: ``area_id``, ``lpu``, ``neighbourhoods`` (str or a list
    of str), ``score``, every ``score_*`` column (the score breakdown), ``visits_per_day``,
    ``minutes_per_visit``, ``review_date``, then every other column.
``repeat_places``
    DataFrame with ``x``, ``y`` (coordinates in ``crs``, or ``attrs["crs"]``) or a GeoDataFrame
    of points; optional ``label`` (the place's name), ``count`` and ``harm`` columns, and any
    other columns, all shown in the popup. Every row is drawn: pass only the top places.

Every GeoJSON made here is WGS84 longitude/latitude (6 decimals, ~0.1 m).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Mapping
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

    GeoDataFrames keep their own CRS; ``repeat_places`` is a GeoDataFrame of points;
    ``hotspot_cells`` has an integer ``bin`` column (bin 0 removed); ``patrol_areas`` is
    sorted by ``rank``.
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
    patrol_areas: Any = None
    repeat_places: Any = None
    view_bounds_wgs84: tuple[float, float, float, float] | None = None
    params: dict[str, Any] = field(default_factory=dict)


def prepare_layers(
    *,
    title: str,
    period: str,
    window: str,
    data_source: str,
    synthetic: bool,
    lpus=None,
    neighbourhoods=None,
    density=None,
    density_grid: Grid | None = None,
    density_units: str | None = None,
    density_vmax: float | None = None,
    hotspot_cells=None,
    patrol_areas=None,
    repeat_places=None,
    crs: str | None = None,
    view_bounds: tuple[float, float, float, float] | None = None,
) -> MapLayers:
    """Validate and copy the map inputs (the contract in the module docstring).

    Parameters
    ----------
    title, period, window, data_source : str
        Texts of the title box (escaped when rendered).
    synthetic : bool
        True shows a conspicuous "SYNTHETIC DATA" banner.
    crs : str, optional
        CRS of ``repeat_places`` ``x``/``y`` columns (default ``repeat_places.attrs["crs"]``)
        and of ``view_bounds``.
    view_bounds : (x_min, y_min, x_max, y_max), optional
        Initial view in ``crs`` units; default: the union of every layer's bounds.

    Raises
    ------
    InvalidParameterError
        Naming the argument and column at fault.
    """
    texts = {"title": title, "period": period, "window": window, "data_source": data_source}
    for name, value in texts.items():
        if not isinstance(value, str) or not value.strip():
            raise InvalidParameterError(f"{name} must be a non-empty string, got {value!r}")
    if not isinstance(synthetic, (bool, np.bool_)):
        raise InvalidParameterError(f"synthetic must be True or False, got {synthetic!r}")
    layers = dict(
        lpus=_polygons(lpus, "lpus", ("lpu",)),
        neighbourhoods=_polygons(neighbourhoods, "neighbourhoods", ("neighbourhood",)),
        density=_density(density, density_grid, density_units, density_vmax),
        hotspot_cells=_hotspot_cells(hotspot_cells),
        patrol_areas=_patrol_areas(patrol_areas),
        repeat_places=_repeat_places(repeat_places, crs),
    )
    if all(v is None for v in layers.values()):
        raise InvalidParameterError(
            "a map needs at least one layer: lpus, neighbourhoods, density, hotspot_cells, "
            "patrol_areas or repeat_places"
        )
    bounds = _view_bounds(layers, view_bounds, crs)
    params = {
        "title": title,
        "period": period,
        "window": window,
        "data_source": data_source,
        "synthetic": bool(synthetic),
        "layers": [k for k, v in layers.items() if v is not None],
        "density_vmax": None if layers["density"] is None else layers["density"].vmax,
        "density_units": None if layers["density"] is None else layers["density"].units,
    }
    return MapLayers(
        title=title,
        period=period,
        window=window,
        data_source=data_source,
        synthetic=bool(synthetic),
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


def _density(density, grid: Grid | None, units: str | None, vmax: float | None):
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
    if len(np.unique(rank)) != len(rank):
        dup = pd.Series(rank).duplicated()
        raise InvalidParameterError(
            f"patrol_areas column 'rank' repeats {int(rank[dup.to_numpy()][0])}; "
            "ranks must be unique"
        )
    gdf["rank"] = rank.astype(np.int64)
    return gdf.sort_values("rank", kind="stable").reset_index(drop=True)


def _repeat_places(places, crs: str | None):
    if places is None:
        return None
    import geopandas as gpd

    if isinstance(places, gpd.GeoDataFrame):
        gdf = _require_gdf(places, "repeat_places")
        _check_geom_types(gdf, "repeat_places", ("Point",))
        return gdf.reset_index(drop=True)
    if not isinstance(places, pd.DataFrame):
        raise InvalidParameterError(
            f"repeat_places must be a DataFrame with x, y columns or a GeoDataFrame of points, "
            f"got {type(places).__name__}"
        )
    _check_columns(places, "repeat_places", ("x", "y"))
    place_crs = crs if crs is not None else places.attrs.get("crs")
    if place_crs is None:
        raise InvalidParameterError(
            "repeat_places has x, y columns but no CRS: pass crs='EPSG:27700' (or set "
            "repeat_places.attrs['crs'])"
        )
    x = pd.to_numeric(places["x"], errors="coerce").to_numpy(dtype=np.float64)
    y = pd.to_numeric(places["y"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidParameterError(
            f"repeat_places row {row} has x={places['x'].iloc[row]!r}, "
            f"y={places['y'].iloc[row]!r}; expected finite numbers"
        )
    frame = pd.DataFrame(places.drop(columns=["x", "y"])).reset_index(drop=True)
    return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(x, y), crs=place_crs)


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


def _view_bounds(layers: dict, view_bounds, crs) -> tuple[float, float, float, float]:
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
    import shapely

    geoms = gdf.geometry.to_crs(WGS84).to_numpy()
    geoms = shapely.transform(geoms, lambda c: np.round(c, COORD_DECIMALS))
    props = {k: list(v) for k, v in (properties or {}).items()}
    features = []
    for i, text in enumerate(shapely.to_geojson(geoms)):
        features.append(
            {
                "type": "Feature",
                "properties": {k: v[i] for k, v in props.items()},
                "geometry": json.loads(text),
            }
        )
    return {"type": "FeatureCollection", "features": features}


#: Largest lattice (cells) the grid path of :func:`dissolve_bins` rasterises.
_MAX_LATTICE_CELLS = 50_000_000


def dissolve_bins(cells) -> Any:
    """Merge touching Gi* cells of the same bin: one polygon per connected patch.

    Cells that share an edge merge; cells that touch only at a corner do not (they form
    separate patches). When every cell is an axis-aligned square of one size on one lattice
    (the cells of a :class:`Grid`), the bins are rasterised on that lattice and polygonised
    (exact and fast); otherwise the polygons are unioned with GEOS. Both give the same
    patches (tested).

    Parameters
    ----------
    cells : GeoDataFrame
        Polygons with an integer ``bin`` column (non-zero).

    Returns
    -------
    GeoDataFrame
        Columns ``bin``, ``n_cells`` and geometry (input CRS), sorted by bin (hot first),
        then west to east and south to north by each patch's representative point.
    """
    import geopandas as gpd

    lattice = _cell_lattice(cells.geometry.to_numpy())
    if lattice is None:
        rows = _dissolve_by_union(cells)
    else:
        rows = _dissolve_on_lattice(cells["bin"].to_numpy(), *lattice)
    frame = pd.DataFrame(rows, columns=["bin", "n_cells", "geometry"])
    out = gpd.GeoDataFrame(frame, geometry="geometry", crs=cells.crs)
    if len(out):
        c = out.geometry.representative_point()
        out = out.assign(_x=c.x, _y=c.y).sort_values(
            ["bin", "_x", "_y"], ascending=[False, True, True], kind="stable"
        )
        out = out.drop(columns=["_x", "_y"]).reset_index(drop=True)
    return out


def _dissolve_by_union(cells) -> list[tuple[int, int, Any]]:
    import shapely

    rows = []
    for b in sorted(cells["bin"].unique(), reverse=True):
        part = cells.geometry[cells["bin"] == b].to_numpy()
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
    out = []
    for geom, value in shapes(raster, mask=raster != 0, connectivity=4, transform=transform):
        poly = shapely.geometry.shape(geom)
        out.append((int(value), int(round(poly.area / (size * size))), poly))
    return out


