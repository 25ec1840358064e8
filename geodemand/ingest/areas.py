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
A lookup raster is laid over the polygons (see :class:`PolygonIndex`). Cells whose closed
square touches no polygon boundary lie wholly inside one polygon or outside all, so their
points are labelled from the raster with no geometry test. Points in cells near a boundary
are labelled by ray parity against the locally registered edges (numba); points within
1e-6 m of an edge (e.g. exactly on a shared edge) are tested with GEOS ``intersects``, the
first polygon in layer order winning, exactly as ``sjoin`` + first match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodemand._announce import announce
from geodemand._kernels.areas import (
    exact_labels,
    raster_labels,
    scanline_labels,
    segment_cell_pairs,
)
from geodemand.errors import BoundaryError, InvalidParameterError
from geodemand.grid import Grid

OUTSIDE = "outside"
#: Cells are "boundary" cells when their square grown by this margin (metres) meets an edge;
#: far above floating-point error at national-grid coordinates (~1e-10 m), far below a cell.
EDGE_MARGIN_M = 1e-3
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
    collections = shapely.get_type_id(geom) == 7
    if collections.any():  # e.g. a dissolve that left stray lines: keep the polygonal part
        geom = geom.copy()
        geom[collections] = np.array([_polygonal(g) for g in geom[collections]], dtype=object)
        announce(
            f"{where}: kept the polygonal part of {int(collections.sum())} geometry "
            f"collection(s) in the {role} layer"
        )
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

    Every ring segment of every polygon is registered in the lookup cells whose closed square,
    grown by :data:`EDGE_MARGIN_M`, it meets (``seg_ptr``/``seg_ids``, CSR by flat cell
    index); such cells are *boundary* cells.
    Any other cell's closed square touches no polygon boundary, so it lies wholly inside one
    polygon or outside all, and ``cell_label`` (an even-odd scanline fill at cell centres, the
    first polygon in layer order winning overlaps) labels all its points.
    Points in boundary cells are resolved by :func:`geodemand._kernels.areas.exact_labels`
    (parity along an eastward ray to the nearest non-boundary cell), and the few within
    ``tol`` metres of an edge, or all of them when polygons overlap, by GEOS.
    """

    grid: Grid
    cell_label: np.ndarray
    boundary: np.ndarray
    seg_ptr: np.ndarray
    seg_ids: np.ndarray
    segments: np.ndarray  # (n, 4): ax, ay, bx, by
    seg_poly: np.ndarray
    overlapping: bool
    geoms: np.ndarray
    shown: np.ndarray  # cell_label with -2 on boundary cells

    @classmethod
    def build(cls, geoms: np.ndarray, crs: str, target_cells: int = 2_000_000) -> PolygonIndex:
        """Index projected polygons ``geoms`` on a lookup raster of about ``target_cells``."""
        geoms = np.asarray(geoms, dtype=object)
        x0, y0, x1, y1 = shapely.total_bounds(geoms)
        w, h = max(x1 - x0, 1e-9), max(y1 - y0, 1e-9)
        cell = float(np.sqrt(w * h / target_cells))
        grid = Grid.from_bounds((x0, y0, x1, y1), cell, crs, snap=False, announce_choice=False)
        n = len(geoms)
        segments, seg_poly = _segments(geoms)
        label, count = scanline_labels(
            segments[:, 0].copy(),
            segments[:, 1].copy(),
            segments[:, 2].copy(),
            segments[:, 3].copy(),
            seg_poly,
            n,
            grid.x_min,
            grid.y_max,
            grid.cell_size,
            grid.n_rows,
            grid.n_cols,
        )
        cells, segs = segment_cell_pairs(
            segments[:, 0],
            segments[:, 1],
            segments[:, 2],
            segments[:, 3],
            grid.x_min,
            grid.y_max,
            grid.cell_size,
            grid.n_rows,
            grid.n_cols,
            EDGE_MARGIN_M,
        )
        n_seg = max(len(segments), 1)
        keys = np.sort(cells * n_seg + segs)  # by cell, then segment; drop repeats
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
        pair_cell, pair_seg = keys // n_seg, keys % n_seg
        n_cells = grid.n_rows * grid.n_cols
        seg_ptr = np.zeros(n_cells + 1, dtype=np.int64)
        seg_ptr[1:] = np.cumsum(np.bincount(pair_cell, minlength=n_cells))
        boundary = np.zeros(n_cells, dtype=np.bool_)
        boundary[pair_cell] = True
        overlapping = bool((count.ravel()[~boundary] >= 2).any())
        label = label.astype(np.int32)
        shown = np.where(boundary.reshape(grid.shape), np.int32(-2), label)
        return cls(
            grid,
            label,
            boundary,
            seg_ptr,
            pair_seg.astype(np.int64),
            segments,
            seg_poly,
            overlapping,
            geoms,
            shown,
        )

    def lookup(self, x: np.ndarray, y: np.ndarray, tol: float = 1e-6) -> np.ndarray:
        """Polygon position of each point (-1 where it lies in no polygon)."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        y = np.ascontiguousarray(y, dtype=np.float64)
        g = self.grid
        out = raster_labels(x, y, self.shown, g.x_min, g.y_min, g.cell_size)
        todo = np.flatnonzero(out == -2)
        if len(todo) and not self.overlapping:
            s = self.segments
            res = exact_labels(
                x[todo],
                y[todo],
                self.cell_label,
                self.boundary,
                g.x_min,
                g.y_max,
                g.cell_size,
                self.seg_ptr,
                self.seg_ids,
                s[:, 0].copy(),
                s[:, 1].copy(),
                s[:, 2].copy(),
                s[:, 3].copy(),
                self.seg_poly,
                len(self.geoms),
                tol,
            )
            out[todo] = res
            todo = todo[res == -3]
        if len(todo):
            out[todo] = self._geos_labels(x[todo], y[todo])
        return out

    def _geos_labels(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Exact GEOS labels: bounding-box candidates, prepared intersects, first wins."""
        out = np.full(len(x), -1, dtype=np.int64)
        shapely.prepare(self.geoms)
        pt_i, poly_i = shapely.STRtree(self.geoms).query(shapely.points(x, y))
        order = np.lexsort((pt_i, poly_i))
        pt_i, poly_i = pt_i[order], poly_i[order]
        hit = np.zeros(len(pt_i), dtype=bool)
        polys, starts = np.unique(poly_i, return_index=True)
        ends = np.append(starts[1:], len(poly_i))
        for p, a, b in zip(polys, starts, ends, strict=True):
            sel = pt_i[a:b]
            hit[a:b] = shapely.intersects_xy(self.geoms[p], x[sel], y[sel])
        pt_i, poly_i = pt_i[hit], poly_i[hit]
        if len(pt_i):
            order = np.lexsort((poly_i, pt_i))
            pt_i, poly_i = pt_i[order], poly_i[order]
            first = np.unique(pt_i, return_index=True)[1]
            out[pt_i[first]] = poly_i[first]
        return out


def _segments(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All ring segments of all polygons as ``(n, 4)`` ax, ay, bx, by and their polygon."""
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    same = coord_ring[1:] == coord_ring[:-1]
    seg = np.concatenate([coords[:-1][same], coords[1:][same]], axis=1)
    poly = part_of[ring_of[coord_ring[:-1][same]]]
    return np.ascontiguousarray(seg, dtype=np.float64), poly.astype(np.int64)


def label_points(x: np.ndarray, y: np.ndarray, polygons: gpd.GeoDataFrame) -> np.ndarray:
    """Position of the polygon each point falls in (-1: none), by the documented tie rule."""
    if len(polygons) == 0:
        raise BoundaryError("cannot join points to an empty polygon layer")
    # lookup cells: ~2 M for large inputs (build ~0.1 s); fewer for small inputs, where the
    # build would dominate (measured on the bundled layers, see benchmarks/bench_join.py)
    target = int(np.clip(len(x) * 20, 65_536, 2_000_000))
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
