"""Boundary layers (LPUs and neighbourhoods) and the exact, fast point-in-area join.

:func:`read_areas` loads an LPU layer and a neighbourhood layer, repairs invalid polygons
(``shapely.make_valid``, counted and announced), reprojects to the analysis CRS and checks
that neighbourhoods nest in LPUs. :func:`assign_areas` adds ``lpu`` and ``neighbourhood`` to
every incident; incidents in no area get the label ``"outside"`` and ``outside = True``: they
are kept and counted, never dropped.

Tie rule
--------
A point that intersects several polygons (on a shared edge or vertex, or where polygons
overlap) goes to the polygon that comes **first in the layer's order** (lowest row position).
This is the same as ``geopandas.sjoin(points, polygons, predicate="intersects")`` followed by
keeping, for each point, the match with the smallest polygon position.

How the join is fast and exact
------------------------------
A lookup raster is laid over the polygons (see :class:`PolygonIndex`). Cells at least one
cell away from every polygon boundary lie wholly inside or outside each polygon, so their
points are labelled from the raster with no geometry test. Points in cells near a boundary
are tested exactly (GEOS ``intersects`` through an STRtree), the first polygon in layer order
winning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodemand._announce import announce
from geodemand._kernels.areas import raster_labels
from geodemand.errors import BoundaryError, InvalidParameterError
from geodemand.grid import Grid

OUTSIDE = "outside"
NAME_CANDIDATES = {
    "lpu": ("lpu", "lpu_name", "name", "NAME", "Name", "LAD13NM", "precinct", "district"),
    "neighbourhood": (
        "neighbourhood",
        "neighborhood",
        "name",
        "NAME",
        "Name",
        "WD13NM",
        "LSOA11NM",
        "MSOA11NM",
        "beat",
    ),
}


@dataclass(frozen=True)
class Areas:
    """LPU and neighbourhood layers in the analysis CRS.

    Attributes
    ----------
    lpus : GeoDataFrame
        Columns ``lpu`` (name) and ``geometry``.
    neighbourhoods : GeoDataFrame or None
        Columns ``neighbourhood``, ``lpu`` (the LPU holding most of its area) and ``geometry``.
    crs : str
        Analysis CRS.
    repaired : dict
        Number of polygons repaired per layer.
    straddling : DataFrame
        Neighbourhoods not nested in one LPU: ``neighbourhood, lpu, share_in_lpu``.
    params : dict
        Sources and options.
    """

    lpus: gpd.GeoDataFrame
    neighbourhoods: gpd.GeoDataFrame | None
    crs: str
    repaired: dict = field(default_factory=dict)
    straddling: pd.DataFrame = field(default_factory=pd.DataFrame)
    params: dict = field(default_factory=dict)


def _load_layer(layer, crs: str, name_field: str | None, role: str) -> tuple[gpd.GeoDataFrame, int]:
    if isinstance(layer, str | Path):
        try:
            gdf = gpd.read_file(layer)
        except Exception as exc:  # drivers raise many types; the message matters
            raise BoundaryError(
                f"{layer}: cannot read the {role} layer ({type(exc).__name__}: {exc}); expected a "
                "polygon layer (GeoJSON, GeoPackage, Shapefile, ...)"
            ) from exc
        where = str(layer)
    else:
        gdf = gpd.GeoDataFrame(layer).copy()
        where = f"<{role} GeoDataFrame>"
    if len(gdf) == 0:
        raise BoundaryError(f"{where}: the {role} layer has no features")
    if gdf.crs is None:
        raise BoundaryError(f"{where}: the {role} layer has no CRS")
    if name_field is None:
        name_field = next((c for c in NAME_CANDIDATES[role] if c in gdf.columns), None)
        if name_field is None:
            raise BoundaryError(
                f"{where}: cannot tell which column names the {role}s; pass its name_field "
                f"(columns: {[c for c in gdf.columns if c != gdf.geometry.name]})"
            )
        announce(f"{role} names taken from column {name_field!r} of {where}")
    if name_field not in gdf.columns:
        raise BoundaryError(f"{where}: no column {name_field!r} for the {role} names")
    geom = gdf.geometry.values
    types = set(shapely.get_type_id(geom[~shapely.is_missing(geom)]).tolist())
    if not types <= {3, 6, 7}:
        raise BoundaryError(
            f"{where}: the {role} layer must hold polygons (found geometry types {types})"
        )
    invalid = ~shapely.is_valid(geom)
    repaired = int(invalid.sum())
    if repaired:
        fixed = shapely.make_valid(geom[invalid])
        # keep only the polygonal part of a repaired geometry
        fixed = np.array([_polygonal(g) for g in fixed], dtype=object)
        geom = geom.copy()
        geom[invalid] = fixed
        announce(f"{where}: repaired {repaired} invalid {role} polygon(s) with make_valid")
    names = gdf[name_field].astype(str).str.strip()
    out = gpd.GeoDataFrame({role: names.to_numpy()}, geometry=geom, crs=gdf.crs).to_crs(crs)
    return out.reset_index(drop=True), repaired


def _polygonal(geom):
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [
        g for g in getattr(geom, "geoms", [geom]) if g.geom_type in ("Polygon", "MultiPolygon")
    ]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def read_areas(
    lpus,
    neighbourhoods=None,
    *,
    crs: str = "EPSG:27700",
    lpu_field: str | None = None,
    neighbourhood_field: str | None = None,
    nesting_tolerance: float = 0.99,
) -> Areas:
    """Load, repair and reproject the LPU and neighbourhood layers.

    Parameters
    ----------
    lpus, neighbourhoods : path or GeoDataFrame
        Polygon layers in any vector format and CRS.
    crs : str
        Projected analysis CRS (metres).
    lpu_field, neighbourhood_field : str, optional
        Columns holding the names (detected from common names if absent, announced).
    nesting_tolerance : float
        A neighbourhood nests when at least this share of its area lies in one LPU.
    """
    from pyproj import CRS

    if not CRS.from_user_input(crs).is_projected:
        raise InvalidParameterError(f"analysis CRS {crs!r} must be projected (metres)")
    lpu_gdf, lpu_fixed = _load_layer(lpus, crs, lpu_field, "lpu")
    repaired = {"lpu": lpu_fixed}
    nb_gdf = None
    straddling = pd.DataFrame(columns=["neighbourhood", "lpu", "share_in_lpu"])
    if neighbourhoods is not None:
        nb_gdf, nb_fixed = _load_layer(neighbourhoods, crs, neighbourhood_field, "neighbourhood")
        repaired["neighbourhood"] = nb_fixed
        nb_gdf, straddling = _nest(nb_gdf, lpu_gdf, nesting_tolerance)
        if len(straddling):
            announce(
                f"{len(straddling)} neighbourhood(s) straddle LPU boundaries (less than "
                f"{nesting_tolerance:.0%} of their area in one LPU): "
                f"{', '.join(straddling['neighbourhood'].head(5))}"
            )
    return Areas(
        lpus=lpu_gdf,
        neighbourhoods=nb_gdf,
        crs=crs,
        repaired=repaired,
        straddling=straddling,
        params={
            "lpus": str(lpus) if isinstance(lpus, str | Path) else "<GeoDataFrame>",
            "neighbourhoods": str(neighbourhoods)
            if isinstance(neighbourhoods, str | Path)
            else ("<GeoDataFrame>" if neighbourhoods is not None else None),
            "crs": crs,
            "nesting_tolerance": nesting_tolerance,
        },
    )


def _nest(nb: gpd.GeoDataFrame, lpus: gpd.GeoDataFrame, tol: float):
    """Give each neighbourhood the LPU holding most of its area; list those that straddle."""
    pairs = gpd.overlay(
        nb.assign(_nb=np.arange(len(nb))),
        lpus.assign(_lpu=np.arange(len(lpus))),
        how="intersection",
        keep_geom_type=True,
    )
    pairs["_area"] = pairs.geometry.area
    pairs = pairs.sort_values(["_nb", "_area", "_lpu"], ascending=[True, False, True])
    best = pairs.drop_duplicates("_nb")
    total = nb.geometry.area.to_numpy()
    lpu_of = np.full(len(nb), OUTSIDE, dtype=object)
    share = np.zeros(len(nb))
    lpu_of[best["_nb"].to_numpy()] = lpus["lpu"].to_numpy()[best["_lpu"].to_numpy()]
    share[best["_nb"].to_numpy()] = best["_area"].to_numpy() / np.maximum(
        total[best["_nb"].to_numpy()], 1e-12
    )
    nb = nb.assign(lpu=lpu_of)[["neighbourhood", "lpu", "geometry"]]
    bad = share < tol
    straddling = pd.DataFrame(
        {
            "neighbourhood": nb["neighbourhood"].to_numpy()[bad],
            "lpu": lpu_of[bad],
            "share_in_lpu": share[bad],
        }
    )
    return nb, straddling


# ---------------------------------------------------------------------------- the join
@dataclass(frozen=True)
class PolygonIndex:
    """A raster lookup over a polygon layer for exact point-in-polygon labelling.

    ``cell_label[r, c]`` is the position of the polygon whose interior holds the whole closed
    cell, -1 for a cell in no polygon, or -2 for a cell near a polygon boundary, whose points
    are tested exactly. Boundary cells are found by rasterising every polygon boundary with
    GDAL's "all touched" rule and dilating the result by one cell, so that any cell not
    marked is at least one cell away from every boundary and lies wholly inside or outside
    each polygon; its label then comes from rasterising the polygons at cell centres, burned
    in reverse layer order so the first polygon wins where polygons overlap (the tie rule).
    """

    grid: Grid
    cell_label: np.ndarray
    geoms: np.ndarray
    tree: shapely.STRtree

    @classmethod
    def build(cls, geoms: np.ndarray, crs: str, target_cells: int = 2_000_000) -> PolygonIndex:
        """Index projected polygons ``geoms`` on a lookup raster of about ``target_cells``."""
        from rasterio import features

        geoms = np.asarray(geoms, dtype=object)
        x0, y0, x1, y1 = shapely.total_bounds(geoms)
        w, h = max(x1 - x0, 1e-9), max(y1 - y0, 1e-9)
        cell = float(np.sqrt(w * h / target_cells))
        grid = Grid.from_bounds((x0, y0, x1, y1), cell, crs, snap=False, announce_choice=False)
        n = len(geoms)
        label = np.full(grid.shape, -1, dtype=np.int32)
        # burn in reverse order: the first polygon in layer order is written last and wins
        shapes = [
            (geoms[i], i)
            for i in range(n - 1, -1, -1)
            if geoms[i] is not None and not shapely.is_empty(geoms[i])
        ]
        if shapes:
            label = features.rasterize(
                shapes,
                out_shape=grid.shape,
                transform=grid.transform,
                fill=-1,
                all_touched=False,
                dtype="int32",
            )
        edges = shapely.boundary(geoms)
        edge_shapes = [(g, 1) for g in edges if g is not None and not shapely.is_empty(g)]
        near = np.zeros(grid.shape, dtype=np.uint8)
        if edge_shapes:
            near = features.rasterize(
                edge_shapes,
                out_shape=grid.shape,
                transform=grid.transform,
                fill=0,
                all_touched=True,
                dtype="uint8",
            )
        near = _dilate(near.astype(bool))
        label = label.astype(np.int32)
        label[near] = -2
        shapely.prepare(geoms)
        tree = shapely.STRtree(geoms)
        return cls(grid, label, geoms, tree)

    def lookup(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Polygon position of each point (-1 where it lies in no polygon)."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        g = self.grid
        out = raster_labels(x, y, self.cell_label, g.x_min, g.y_min, g.cell_size)
        todo = np.flatnonzero(out == -2)
        out[todo] = -1
        if len(todo):
            # candidate pairs by bounding box, then exact prepared tests polygon by polygon
            pt_i, poly_i = self.tree.query(shapely.points(x[todo], y[todo]))
            order = np.lexsort((pt_i, poly_i))
            pt_i, poly_i = pt_i[order], poly_i[order]
            hit = np.zeros(len(pt_i), dtype=bool)
            polys, starts = np.unique(poly_i, return_index=True)
            ends = np.append(starts[1:], len(poly_i))
            for p, a, b in zip(polys, starts, ends, strict=True):
                sel = todo[pt_i[a:b]]
                hit[a:b] = shapely.intersects_xy(self.geoms[p], x[sel], y[sel])
            pt_i, poly_i = pt_i[hit], poly_i[hit]
            if len(pt_i):
                order = np.lexsort((poly_i, pt_i))
                pt_i, poly_i = pt_i[order], poly_i[order]
                first = np.unique(pt_i, return_index=True)[1]
                out[todo[pt_i[first]]] = poly_i[first]
        return out


def _dilate(mask: np.ndarray) -> np.ndarray:
    """Dilate a boolean raster by one cell in all eight directions."""
    out = mask.copy()
    out[1:, :] |= mask[:-1, :]
    out[:-1, :] |= mask[1:, :]
    grown = out.copy()
    grown[:, 1:] |= out[:, :-1]
    grown[:, :-1] |= out[:, 1:]
    return grown


def label_points(x: np.ndarray, y: np.ndarray, polygons: gpd.GeoDataFrame) -> np.ndarray:
    """Position of the polygon each point falls in (-1: none), by the documented tie rule."""
    if len(polygons) == 0:
        raise BoundaryError("cannot join points to an empty polygon layer")
    target = int(np.clip(len(x) * 4, 65_536, 4_000_000))
    index = PolygonIndex.build(polygons.geometry.values, str(polygons.crs), target_cells=target)
    return index.lookup(x, y)


def assign_areas(incidents, areas: Areas):
    """Add ``lpu``, ``neighbourhood`` and ``outside`` to incidents (a new object).

    Parameters
    ----------
    incidents : IncidentTable or DataFrame
        Incidents in the canonical schema, in ``areas.crs``.
    areas : Areas
        From :func:`read_areas`.

    Returns
    -------
    IncidentTable or DataFrame
        The same kind as given, with ``lpu`` and ``neighbourhood`` (``"outside"`` where the
        point lies in no area) and ``outside`` (True where it lies in no LPU).
    """
    from dataclasses import replace

    frame = incidents.frame if hasattr(incidents, "frame") else incidents
    crs = frame.attrs.get("crs") or getattr(incidents, "crs", None)
    if crs is not None and str(crs) != str(areas.crs):
        from pyproj import CRS

        if not CRS.from_user_input(crs).equals(CRS.from_user_input(areas.crs)):
            raise InvalidParameterError(
                f"incidents are in {crs} but areas in {areas.crs}; read both in the same CRS"
            )
    x = frame["x"].to_numpy(dtype=np.float64)
    y = frame["y"].to_numpy(dtype=np.float64)
    out = frame.copy()
    lpu_pos = label_points(x, y, areas.lpus)
    names = areas.lpus["lpu"].to_numpy(dtype=object)
    out["lpu"] = np.where(lpu_pos >= 0, names[np.maximum(lpu_pos, 0)], OUTSIDE)
    if areas.neighbourhoods is not None:
        nb_pos = label_points(x, y, areas.neighbourhoods)
        nb_names = areas.neighbourhoods["neighbourhood"].to_numpy(dtype=object)
        out["neighbourhood"] = np.where(nb_pos >= 0, nb_names[np.maximum(nb_pos, 0)], OUTSIDE)
    else:
        out["neighbourhood"] = OUTSIDE
    out["outside"] = lpu_pos < 0
    out.attrs = dict(frame.attrs)
    n_out = int((lpu_pos < 0).sum())
    if n_out:
        announce(
            f"{n_out:,} of {len(out):,} incidents lie outside every LPU (kept, labelled 'outside')"
        )
    if hasattr(incidents, "frame"):
        return replace(incidents, frame=out)
    return out
