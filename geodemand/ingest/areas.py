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

from geodemand._announce import announce, warn
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


OPTION = {
    "lpu": "lpu_field=... (CLI --lpu-name-field)",
    "neighbourhood": "neighbourhood_field=... (CLI --neighbourhood-name-field)",
}
ROLE = {"lpu": "LPU", "neighbourhood": "neighbourhood"}
#: overlaps between LPUs smaller than this (m²) are floating-point slivers, not reported
MIN_OVERLAP_M2 = 1.0


@dataclass(frozen=True)
class Areas:
    """LPU and neighbourhood layers in the analysis CRS.

    Attributes
    ----------
    lpus : GeoDataFrame
        Columns ``lpu`` (name, unique) and ``geometry`` (2-D polygons), in layer order.
    neighbourhoods : GeoDataFrame or None
        Columns ``neighbourhood`` (unique), ``lpu`` (the LPU holding most of its area) and
        ``geometry``.
    crs : str
        Analysis CRS.
    repaired : dict
        Number of polygons repaired per layer.
    straddling : DataFrame
        Neighbourhoods not nested in one LPU: ``neighbourhood, lpu, share_in_lpu``.
    params : dict
        Sources and options.
    lpu_overlaps : GeoDataFrame
        Pairs of LPUs whose polygons overlap (more than :data:`MIN_OVERLAP_M2`):
        ``lpu_first, lpu_second, area_km2, geometry``. Points there go to ``lpu_first``
        (the first in layer order); :func:`assign_areas` warns how many incidents that is.
    """

    lpus: gpd.GeoDataFrame
    neighbourhoods: gpd.GeoDataFrame | None
    crs: str
    repaired: dict = field(default_factory=dict)
    straddling: pd.DataFrame = field(default_factory=pd.DataFrame)
    params: dict = field(default_factory=dict)
    lpu_overlaps: gpd.GeoDataFrame | None = None


def _read_layer(layer, role: str) -> tuple[gpd.GeoDataFrame, str]:
    if isinstance(layer, str | Path):
        try:
            gdf = gpd.read_file(layer)
        except Exception as exc:  # drivers raise many types; the message matters
            raise BoundaryError(
                f"{layer}: cannot read the {ROLE[role]} layer ({type(exc).__name__}: {exc}); "
                "expected a polygon layer (GeoJSON, GeoPackage, Shapefile, ...)"
            ) from exc
        where = str(layer)
    elif isinstance(layer, gpd.GeoDataFrame):
        gdf = layer.copy()
        where = f"<{ROLE[role]} GeoDataFrame>"
    elif isinstance(layer, gpd.GeoSeries):
        gdf = gpd.GeoDataFrame(geometry=layer.copy())
        where = f"<{ROLE[role]} GeoSeries>"
    else:
        raise BoundaryError(
            f"the {ROLE[role]} layer is a {type(layer).__name__}; expected a path or a "
            "GeoDataFrame of polygons"
        )
    try:
        gdf.geometry  # noqa: B018 - raises without an active geometry column
    except AttributeError:
        raise BoundaryError(f"{where}: the {ROLE[role]} layer has no geometry column") from None
    return gdf.reset_index(drop=True), where


def _names(values: pd.Series) -> np.ndarray:
    """Name text per feature ('' where missing); integral numbers without '.0'."""
    out = np.full(len(values), "", dtype=object)
    for i, v in enumerate(values.to_numpy(dtype=object)):
        if v is None or (isinstance(v, float) and not np.isfinite(v)) or v is pd.NA:
            continue
        if isinstance(v, float | np.floating) and float(v).is_integer():
            v = int(v)
        out[i] = str(v).strip()
    return out


def _features(positions) -> str:
    pos = [int(p) + 1 for p in positions]
    head = ", ".join(str(p) for p in pos[:8])
    return f"feature{'s' if len(pos) > 1 else ''} {head}" + (" ..." if len(pos) > 8 else "")


def _load_layer(layer, crs: str, name_field: str | None, role: str) -> tuple[gpd.GeoDataFrame, int]:
    """One boundary layer: named, 2-D, valid polygons in ``crs``, one feature per name."""
    gdf, where = _read_layer(layer, role)
    label = ROLE[role]
    if len(gdf) == 0:
        raise BoundaryError(f"{where}: the {label} layer has no features")
    if gdf.crs is None:
        raise BoundaryError(f"{where}: the {label} layer has no CRS; expected one (e.g. EPSG:4326)")
    columns = [c for c in gdf.columns if c != gdf.geometry.name]
    if name_field is None:
        name_field = next((c for c in NAME_CANDIDATES[role] if c in gdf.columns), None)
        if name_field is None:
            raise BoundaryError(
                f"{where}: cannot tell which column names the {label}s; pass {OPTION[role]} "
                f"naming one of the columns {columns}"
            )
        announce(f"{label} names taken from column {name_field!r} of {where}")
    if name_field not in gdf.columns or name_field == gdf.geometry.name:
        raise BoundaryError(
            f"{where}: no column {name_field!r} for the {label} names; pass {OPTION[role]} "
            f"naming one of the columns {columns}"
        )
    geom = np.asarray(gdf.geometry.values, dtype=object)
    names = _names(gdf[name_field])
    keep = np.arange(len(gdf))

    gone = shapely.is_missing(geom) | shapely.is_empty(geom)
    if gone.all():
        raise BoundaryError(f"{where}: every feature of the {label} layer has no geometry")
    if gone.any():
        warn(
            f"{where}: {int(gone.sum())} {label} feature(s) without geometry ignored "
            f"({_features(np.flatnonzero(gone))})"
        )
    keep, geom, names = keep[~gone], geom[~gone], names[~gone]

    kinds = shapely.get_type_id(geom)
    wrong = ~np.isin(kinds, [3, 6, 7])
    if wrong.any():
        first = int(np.flatnonzero(wrong)[0])
        raise BoundaryError(
            f"{where}: {label} layer, {_features(keep[wrong])}: found "
            f"{geom[first].geom_type} geometry; the {label} layer must hold polygons"
        )
    blank = names == ""
    if blank.any():
        raise BoundaryError(
            f"{where}: {label} layer, {_features(keep[blank])}: no name in field "
            f"{name_field!r}; every {label} needs one"
        )
    coords = shapely.get_coordinates(geom, include_z=False)
    if not np.isfinite(coords).all():
        bad = ~np.array([np.isfinite(shapely.get_coordinates(g)).all() for g in geom])
        raise BoundaryError(
            f"{where}: {label} layer, {_features(keep[bad])}: coordinates that are not finite "
            "numbers"
        )
    if shapely.has_z(geom).any():
        n_z = int(shapely.has_z(geom).sum())
        geom = shapely.force_2d(geom)
        announce(f"{where}: dropped the Z coordinate of {n_z} {label} polygon(s)")
    invalid = ~shapely.is_valid(geom)
    repaired = int(invalid.sum())
    if repaired:
        geom = geom.copy()
        geom[invalid] = np.array(
            [_polygonal(g) for g in shapely.make_valid(geom[invalid])], dtype=object
        )
        announce(f"{where}: repaired {repaired} invalid {label} polygon(s) with make_valid")
    collections = shapely.get_type_id(geom) == 7
    if collections.any():  # e.g. a dissolve that left stray lines: keep the polygonal part
        geom = geom.copy()
        geom[collections] = np.array([_polygonal(g) for g in geom[collections]], dtype=object)
        announce(
            f"{where}: kept the polygonal part of {int(collections.sum())} geometry "
            f"collection(s) in the {label} layer"
        )
    empty = shapely.is_empty(geom) | (shapely.area(geom) <= 0)
    if empty.all():
        raise BoundaryError(f"{where}: no {label} feature has a polygon with an area")
    if empty.any():
        warn(
            f"{where}: {int(empty.sum())} {label} feature(s) have no polygon with an area and "
            f"are ignored ({_features(keep[empty])})"
        )
        keep, geom, names = keep[~empty], geom[~empty], names[~empty]
    out = gpd.GeoDataFrame({role: names}, geometry=list(geom), crs=gdf.crs)
    try:
        out = out.to_crs(crs)
    except Exception as exc:  # pyproj raises several types
        raise BoundaryError(
            f"{where}: cannot reproject the {label} layer from {gdf.crs} to {crs} ({exc})"
        ) from exc
    projected = shapely.get_coordinates(np.asarray(out.geometry.values, dtype=object))
    if not np.isfinite(projected).all():
        raise BoundaryError(
            f"{where}: the {label} polygons do not lie where their CRS ({gdf.crs}) allows: "
            f"they cannot be projected to {crs} (are the coordinates in another CRS?)"
        )
    out["_feature"] = keep
    if role == "lpu":
        out = _merge_same_name(out, role, where, name_field)
    return out.drop(columns="_feature").reset_index(drop=True), repaired


def _merge_same_name(gdf: gpd.GeoDataFrame, role: str, where: str, field_name: str):
    """Features sharing a name become one (multi)polygon at the first one's position."""
    dup = gdf[role].duplicated(keep=False)
    if not dup.any():
        return gdf
    groups = gdf[dup].groupby(role, sort=False)["_feature"].apply(list)
    listed = "; ".join(f"{name!r}: {_features(feats)}" for name, feats in groups.head(5).items())
    warn(
        f"{where}: {len(groups)} {ROLE[role]} name(s) in field {field_name!r} are shared by "
        f"several features, merged into one {ROLE[role]} each ({listed})"
    )
    first = ~gdf[role].duplicated(keep="first")
    merged = gdf.groupby(role, sort=False).geometry.apply(
        lambda g: shapely.union_all(np.asarray(g.values, dtype=object))
    )
    out = gdf[first].copy()
    out["geometry"] = merged.reindex(out[role]).to_numpy()
    return out


def _polygonal(geom):
    if geom is None:
        return shapely.Polygon()
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [
        g for g in getattr(geom, "geoms", [geom]) if g.geom_type in ("Polygon", "MultiPolygon")
    ]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def lpu_overlaps(lpus: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Pairs of LPUs whose polygons overlap by more than :data:`MIN_OVERLAP_M2`.

    Columns ``lpu_first`` (earlier in layer order, which wins the overlap), ``lpu_second``,
    ``area_km2`` and the overlap ``geometry``.
    """
    geoms = np.asarray(lpus.geometry.values, dtype=object)
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pair = left < right
    left, right = left[pair], right[pair]
    rows = []
    for i, j in zip(left, right, strict=True):
        inter = shapely.intersection(geoms[i], geoms[j])
        area = float(shapely.area(inter))
        if area > MIN_OVERLAP_M2:
            rows.append((lpus["lpu"].iat[i], lpus["lpu"].iat[j], area / 1e6, _polygonal(inter)))
    return gpd.GeoDataFrame(
        {
            "lpu_first": [r[0] for r in rows],
            "lpu_second": [r[1] for r in rows],
            "area_km2": [r[2] for r in rows],
        },
        geometry=[r[3] for r in rows],
        crs=lpus.crs,
    )


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

    Notes
    -----
    Features without geometry, or whose polygons have no area, are ignored (warned); Z
    coordinates are dropped; invalid polygons are repaired with ``make_valid`` and geometry
    collections reduced to their polygons. LPU features sharing a name are merged into one
    LPU (warned); neighbourhoods sharing a name are merged when they lie in the same LPU and
    otherwise named ``"<name> (<LPU>)"`` (warned). A feature without a name, a layer of
    points or lines, or coordinates that are not finite in the layer's CRS raise
    :class:`~geodemand.errors.BoundaryError` naming the file, the feature(s) and the field.
    Overlapping LPUs are warned with the overlap's area (km²): a point there goes to the
    first LPU in layer order (see the module docstring), and :func:`assign_areas` says how
    many incidents that is. An LPU holding no neighbourhood is warned.
    """
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        projected = CRS.from_user_input(crs).is_projected
    except (CRSError, TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"analysis CRS {crs!r}: not a CRS pyproj knows ({exc})"
        ) from None
    if not projected:
        raise InvalidParameterError(f"analysis CRS {crs!r} must be projected (metres)")
    if not 0 < nesting_tolerance <= 1:
        raise InvalidParameterError(
            f"nesting_tolerance={nesting_tolerance!r}: expected a share in (0, 1]"
        )
    lpu_gdf, lpu_fixed = _load_layer(lpus, crs, lpu_field, "lpu")
    repaired = {"lpu": lpu_fixed}
    overlaps = lpu_overlaps(lpu_gdf)
    if len(overlaps):
        listed = ", ".join(
            f"{a!r}/{b!r} {k:.3g} km²"
            for a, b, k in overlaps[["lpu_first", "lpu_second", "area_km2"]]
            .head(5)
            .itertuples(index=False)
        )
        warn(
            f"{len(overlaps)} pair(s) of LPUs overlap ({overlaps['area_km2'].sum():.3g} km² in "
            f"all: {listed}); an incident there is given the first LPU in layer order"
        )
    nb_gdf = None
    straddling = pd.DataFrame(columns=["neighbourhood", "lpu", "share_in_lpu"])
    if neighbourhoods is not None:
        nb_gdf, nb_fixed = _load_layer(neighbourhoods, crs, neighbourhood_field, "neighbourhood")
        repaired["neighbourhood"] = nb_fixed
        nb_gdf, straddling = _nest(nb_gdf, lpu_gdf, nesting_tolerance)
        nb_gdf = _unique_neighbourhoods(nb_gdf)
        if len(straddling):
            announce(
                f"{len(straddling)} neighbourhood(s) straddle LPU boundaries (less than "
                f"{nesting_tolerance:.0%} of their area in one LPU): "
                f"{', '.join(straddling['neighbourhood'].head(5))}"
            )
        empty = sorted(set(lpu_gdf["lpu"]) - set(nb_gdf["lpu"]))
        if empty:
            warn(
                f"{len(empty)} LPU(s) hold no neighbourhood: {', '.join(map(repr, empty[:10]))}"
                "; their incidents get neighbourhood 'outside'"
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
        lpu_overlaps=overlaps,
    )


def _unique_neighbourhoods(nb: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Merge same-name neighbourhoods of one LPU; name the others ``"<name> (<LPU>)"``."""
    key = nb["neighbourhood"] + "\x00" + nb["lpu"]
    if key.duplicated().any():
        n = int(key.duplicated().sum())
        warn(f"{n} neighbourhood feature(s) share a name with another in the same LPU: merged")
        merged = nb.groupby(key, sort=False).geometry.apply(
            lambda g: shapely.union_all(np.asarray(g.values, dtype=object))
        )
        nb = nb[~key.duplicated()].copy()
        nb["geometry"] = merged.reindex(key[~key.duplicated()]).to_numpy()
    clash = nb["neighbourhood"].duplicated(keep=False)
    if clash.any():
        names = sorted(set(nb.loc[clash, "neighbourhood"]))
        warn(
            f"{len(names)} neighbourhood name(s) occur in several LPUs and are named "
            f"'<name> (<LPU>)': {', '.join(map(repr, names[:5]))}"
        )
        nb = nb.copy()
        nb.loc[clash, "neighbourhood"] = (
            nb.loc[clash, "neighbourhood"] + " (" + nb.loc[clash, "lpu"] + ")"
        )
    return nb.reset_index(drop=True)


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
    overlaps = getattr(areas, "lpu_overlaps", None)
    if overlaps is not None and len(overlaps) and len(x):
        in_overlap = int((label_points(x, y, overlaps) >= 0).sum())
        if in_overlap:
            warn(
                f"{in_overlap:,} incident(s) lie where LPUs overlap "
                f"({overlaps['area_km2'].sum():.3g} km²); each was given the first LPU in "
                "layer order"
            )
    n_out = int((lpu_pos < 0).sum())
    if n_out:
        announce(
            f"{n_out:,} of {len(out):,} incidents lie outside every LPU (kept, labelled 'outside')"
        )
    if hasattr(incidents, "frame"):
        return replace(incidents, frame=out)
    return out
