"""Where incidents are: the analysis CRS, its area, the study area, and projection.

All checks work on each file's distinct coordinate pairs (:class:`~geodemand.ingest.checks.
Pairs`) and add reason codes to them:

* the analysis CRS is the one given, else EPSG:27700 for British National Grid input or
  when the median lon/lat lies in Great Britain, else the UTM zone of the median (announced);
* a file whose points lie in the expected area (the study area, the given CRS's area, or
  Great Britain) mostly only with longitude and latitude swapped is refused
  (:func:`detect_swapped_file`): its columns are swapped, and guessing a far-away CRS would
  silently lose every record;
* points outside the analysis CRS's area of use (padded, :func:`crs_area_bounds`) are
  ``coordinates_outside_crs_area`` (``likely_swapped_lon_lat`` when swapping fixes them);
  projected input that looks like degrees, British National Grid input outside Great
  Britain's land box (:data:`BNG_LAND`), and ``0, 0`` anywhere are rejected the same way;
* with a study area, points more than its buffer outside are ``outside_study_area``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from geodemand._announce import announce
from geodemand.errors import BoundaryError, InputFormatError, InvalidParameterError
from geodemand.ingest.checks import CODE, Pairs, worse

BRITISH_CRS = "EPSG:27700"


GB_AREA = (-9.01, 49.75, 2.01, 61.01)


GB_BOUNDS = (-10.0, 48.75, 3.0, 62.0)


BNG_LAND = (5_000.0, 5_000.0, 660_000.0, 1_225_000.0)


def valid_crs(text, what: str) -> CRS:
    try:
        return CRS.from_user_input(text)
    except (CRSError, TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"{what} {text!r}: not a coordinate reference system pyproj knows ({exc}); "
            "expected e.g. 'EPSG:27700'"
        ) from None


def choose_crs(lon: np.ndarray, lat: np.ndarray, requested: str | None) -> str:
    """The analysis CRS: ``requested``, else EPSG:27700 for British data, else UTM.

    The choice is announced. British = the median lon/lat lies in Great Britain's box.
    """
    if requested is not None:
        crs = valid_crs(requested, "analysis CRS")
        if not crs.is_projected:
            raise InvalidParameterError(
                f"analysis CRS {requested!r} is not projected; give a metric CRS (e.g. EPSG:27700)"
            )
        return crs.to_string()
    if len(lon) == 0:
        raise InvalidParameterError("no valid coordinates to choose an analysis CRS from")
    mlon, mlat = float(np.median(lon)), float(np.median(lat))
    return _crs_for(mlon, mlat)


def _crs_for(mlon: float, mlat: float) -> str:
    if _inside_box(mlon, mlat, GB_AREA):
        announce(
            "analysis CRS EPSG:27700 (British National Grid, metres): the data lie in Great Britain"
        )
        return BRITISH_CRS
    zone = int(np.floor((mlon + 180.0) / 6.0)) % 60 + 1
    code = (32600 if mlat >= 0 else 32700) + zone
    announce(
        f"analysis CRS EPSG:{code} (WGS 84 / UTM zone {zone}{'N' if mlat >= 0 else 'S'}, metres), "
        f"from the data's median position ({mlon:.3f}, {mlat:.3f})"
    )
    return f"EPSG:{code}"


def _inside_box(lon, lat, box) -> np.ndarray:
    w, s, e, n = box
    with np.errstate(invalid="ignore"):
        return (lon >= w) & (lon <= e) & (lat >= s) & (lat <= n)


@lru_cache(maxsize=32)
def _transformer(src: str, dst: str) -> Transformer:
    """A cached lon/lat-ordered transformer between two CRSs."""
    return Transformer.from_crs(src, dst, always_xy=True)


def crs_area_bounds(crs: str) -> tuple[float, float, float, float]:
    """The lon/lat box (west, south, east, north) in which accepted points may lie for
    ``crs``: its area of use, padded (1 degree for British National Grid, 3 for others)."""
    if crs == BRITISH_CRS:
        return GB_BOUNDS
    c = valid_crs(crs, "analysis CRS")
    area = c.area_of_use
    if area is None:
        return (-180.0, -90.0, 180.0, 90.0)
    pad = 3.0  # UTM zones are 6 degrees wide; data near a zone edge is still fine
    return (area.west - pad, area.south - pad, area.east + pad, area.north + pad)


@dataclass
class _StudyArea:
    """Polygons the incidents must lie in (or near): from a path, GeoDataFrame/GeoSeries,
    :class:`~geodemand.ingest.areas.Areas`, shapely geometry (lon/lat) or lon/lat box."""

    series: object  # GeoSeries in its own CRS
    buffer_m: float
    lonlat_box: tuple[float, float, float, float]

    def in_crs(self, crs: str):
        import shapely

        geom = shapely.union_all(self.series.to_crs(crs).values)
        if self.buffer_m > 0:
            geom = shapely.buffer(geom, self.buffer_m)
        shapely.prepare(geom)
        return geom


def study_area_of(study_area, buffer_m: float) -> _StudyArea | None:
    if study_area is None:
        return None
    import geopandas as gpd
    import shapely

    if not np.isfinite(buffer_m) or buffer_m < 0:
        raise InvalidParameterError(
            f"study_area_buffer_m={buffer_m!r}: expected a distance in metres >= 0"
        )
    series = None
    if isinstance(study_area, str | Path):
        try:
            layer = gpd.read_file(study_area)
        except Exception as exc:  # drivers raise many types; the message matters
            raise BoundaryError(
                f"study_area {study_area}: cannot read it as a polygon layer "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        series = layer.geometry
    elif hasattr(study_area, "lpus") and hasattr(study_area, "crs"):  # Areas
        series = study_area.lpus.geometry
    elif isinstance(study_area, gpd.GeoDataFrame):
        series = study_area.geometry
    elif isinstance(study_area, gpd.GeoSeries):
        series = study_area
    elif isinstance(study_area, shapely.Geometry):
        series = gpd.GeoSeries([study_area], crs="EPSG:4326")
    elif isinstance(study_area, Sequence) and len(study_area) == 4:
        try:
            box = tuple(float(v) for v in study_area)
        except (TypeError, ValueError):
            box = None
        if box is None or not (box[0] < box[2] and box[1] < box[3]):
            raise InvalidParameterError(
                f"study_area {study_area!r}: expected a lon/lat box (west, south, east, north)"
            )
        series = gpd.GeoSeries([shapely.box(*box)], crs="EPSG:4326")
    if series is None:
        raise InvalidParameterError(
            f"study_area: expected a polygon file, a GeoDataFrame/GeoSeries, Areas, a shapely "
            f"geometry (lon/lat) or a lon/lat box; got {type(study_area).__name__}"
        )
    if series.crs is None:
        raise InvalidParameterError("study_area: the layer has no CRS")
    geoms = np.asarray(series.values, dtype=object)
    usable = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    usable &= np.isin(shapely.get_type_id(geoms), [3, 6, 7])
    if not usable.any():
        raise InvalidParameterError("study_area: holds no polygons")
    series = series[usable]
    lonlat = series.to_crs("EPSG:4326").total_bounds
    if not np.all(np.isfinite(lonlat)):
        raise InvalidParameterError("study_area: its coordinates are not valid in its CRS")
    pad = 0.05 + buffer_m / 111_000.0
    box = (lonlat[0] - pad, lonlat[1] - pad, lonlat[2] + pad, lonlat[3] + pad)
    return _StudyArea(series, float(buffer_m), box)


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The median of ``values`` repeated ``weights`` times (as ``np.median`` would give)."""
    order = np.argsort(values, kind="stable")
    v, cum = values[order], np.cumsum(weights[order])
    total = int(cum[-1])
    lo = v[np.searchsorted(cum, (total - 1) // 2, side="right")]
    hi = v[np.searchsorted(cum, total // 2, side="right")]
    return float((lo + hi) / 2.0)


# ---------------------------------------------------------------------------- per file
@dataclass
class Points:
    """One file's distinct coordinate pairs and where they are.

    ``lon``/``lat`` (geographic) and, after :func:`project`, ``x``/``y`` (analysis CRS) are
    per pair, NaN where unknown; ``names`` are the coordinate columns (for messages).
    """

    path: str
    lonlat: bool
    source_crs: str
    names: tuple[str, str]
    pairs: Pairs
    lon: np.ndarray
    lat: np.ndarray
    x: np.ndarray | None = None
    y: np.ndarray | None = None


def locate(path: str, pairs: Pairs, *, lonlat: bool, source_crs: str, names) -> Points:
    """Geographic position of each pair (projected input is checked for plausibility and
    transformed to lon/lat)."""
    n = len(pairs.a)
    if lonlat:
        return Points(path, True, source_crs, tuple(names), pairs, pairs.a.copy(), pairs.b.copy())
    lon, lat = np.full(n, np.nan), np.full(n, np.nan)
    _plausible_xy(pairs, source_crs, names)
    ok = pairs.reason == 0
    if ok.any():
        glon, glat = _transformer(source_crs, "EPSG:4326").transform(pairs.a[ok], pairs.b[ok])
        lon[ok], lat[ok] = glon, glat
        bad = ok.copy()
        bad[ok] = ~(np.isfinite(glon) & np.isfinite(glat))
        if bad.any():
            worse(pairs.reason, CODE["coordinates_outside_crs_area"], bad)
            pairs.detail[bad] = f"cannot be placed on the earth in {source_crs}"
            lon[bad] = lat[bad] = np.nan
    return Points(path, False, source_crs, tuple(names), pairs, lon, lat)


def _plausible_xy(pairs: Pairs, source_crs: str, names) -> None:
    """Projected input: values that look like degrees, and British National Grid values
    outside Great Britain's land box, are ``coordinates_outside_crs_area``."""
    name_a, name_b = names
    ok = pairs.reason == 0
    with np.errstate(invalid="ignore"):
        degrees = ok & (np.abs(pairs.a) <= 180) & (np.abs(pairs.b) <= 90)
    if degrees.any():
        worse(pairs.reason, CODE["coordinates_outside_crs_area"], degrees)
        pairs.detail[degrees] = (
            f"looks like longitude/latitude typed into {name_a}/{name_b} (metres in "
            f"{source_crs} expected)"
        )
    if valid_crs(source_crs, "source CRS").equals(CRS.from_user_input(BRITISH_CRS)):
        ok = pairs.reason == 0
        e0, n0, e1, n1 = BNG_LAND
        with np.errstate(invalid="ignore"):
            inside = (pairs.a >= e0) & (pairs.a <= e1) & (pairs.b >= n0) & (pairs.b <= n1)
        out = ok & ~inside
        if out.any():
            worse(pairs.reason, CODE["coordinates_outside_crs_area"], out)
            pairs.detail[out] = (
                f"outside Great Britain's land ({name_a} {e0:,.0f}..{e1:,.0f}, "
                f"{name_b} {n0:,.0f}..{n1:,.0f} m in EPSG:27700)"
            )


# ---------------------------------------------------------------------------- across files
def detect_swapped_file(points: Points, weight: np.ndarray, box, where: str) -> None:
    """Refuse a lon/lat file whose records lie in ``box`` mostly only with longitude and
    latitude swapped (``weight`` = records per pair that count)."""
    if not points.lonlat:
        return
    ok = points.pairs.reason == 0
    w = np.where(ok, weight, 0)
    total = int(w.sum())
    if total == 0:
        return
    straight = int(w[_inside_box(points.lon, points.lat, box)].sum())
    swapped = int(w[_inside_box(points.lat, points.lon, box)].sum())
    if swapped > 0.5 * total and swapped > straight:
        na, nb = points.names
        raise InputFormatError(
            f"{points.path}: {swapped:,} of {total:,} records lie in {where} only with "
            f"longitude and latitude swapped: the {na}/{nb} columns look swapped; fix the "
            "file or the column mapping (lon=..., lat=...)"
        )


def expected_area(crs: str | None, study: _StudyArea | None) -> tuple[tuple, str]:
    """The lon/lat box incidents are expected in, and its name (for the swap check)."""
    if study is not None:
        return study.lonlat_box, "the study area"
    if crs is not None:
        return crs_area_bounds(valid_crs(crs, "crs").to_string()), f"the area of {crs}"
    return GB_AREA, "Great Britain"


def analysis_crs(
    points: list[Points], weights: list[np.ndarray], crs: str | None, british: bool = False
) -> str:
    """The analysis CRS (see the module docstring); ``weights`` = records per pair;
    ``british``: the input is police.uk data (EPSG:27700 when no record has coordinates)."""
    if crs is not None:
        return choose_crs(np.zeros(0), np.zeros(0), crs)
    bng = CRS.from_user_input(BRITISH_CRS)
    if any(not p.lonlat and valid_crs(p.source_crs, "source CRS").equals(bng) for p in points):
        announce("analysis CRS EPSG:27700 (British National Grid, metres): British input")
        return BRITISH_CRS
    values, counts = [], []
    for p, w in zip(points, weights, strict=True):
        ok = (p.pairs.reason == 0) & np.isfinite(p.lon) & np.isfinite(p.lat) & (w > 0)
        if ok.any():
            values.append(np.stack([p.lon[ok], p.lat[ok]]))
            counts.append(w[ok])
    if not values:
        if british:
            announce(
                "analysis CRS EPSG:27700 (British National Grid, metres): police.uk input, "
                "though no record has usable coordinates"
            )
            return BRITISH_CRS
        names = ", ".join(Path(p.path).name for p in points[:3]) + (
            " ..." if len(points) > 3 else ""
        )
        raise InputFormatError(
            f"{names}: no record has usable coordinates, so no analysis CRS can be chosen "
            "from the data; check the coordinate columns (or pass crs=... to see every record "
            "rejected with its reason)"
        )
    allv, allw = np.concatenate(values, axis=1), np.concatenate(counts)
    return _crs_for(_weighted_median(allv[0], allw), _weighted_median(allv[1], allw))


def area_check(points: Points, crs: str) -> None:
    """Pairs outside the analysis CRS's area (lon/lat swaps flagged as such)."""
    box = crs_area_bounds(crs)
    p = points.pairs
    inside = _inside_box(points.lon, points.lat, box)
    if points.lonlat:
        swapped = (p.reason == 0) & ~inside & _inside_box(points.lat, points.lon, box)
        worse(p.reason, CODE["likely_swapped_lon_lat"], swapped)
    out = (p.reason == 0) & ~inside
    if out.any():
        worse(p.reason, CODE["coordinates_outside_crs_area"], out)
        w, s, e, n = box
        p.detail[out] = f"outside the area of {crs} (lon {w:g}..{e:g}, lat {s:g}..{n:g})"


def project(points: Points, crs: str) -> None:
    """x, y of the pairs still accepted, in the analysis CRS (others NaN)."""
    p = points.pairs
    ok = p.reason == 0
    x, y = np.full(len(p.a), np.nan), np.full(len(p.a), np.nan)
    if ok.any():
        if points.lonlat:
            src, sa, sb = points.source_crs or "EPSG:4326", points.lon[ok], points.lat[ok]
        else:
            src, sa, sb = points.source_crs, p.a[ok], p.b[ok]
        if valid_crs(src, "source CRS").equals(valid_crs(crs, "analysis CRS")):
            px, py = sa.astype(np.float64), sb.astype(np.float64)
        else:
            px, py = _transformer(src, crs).transform(sa, sb)
        x[ok], y[ok] = px, py
        bad = ok & ~(np.isfinite(x) & np.isfinite(y))
        if bad.any():
            worse(p.reason, CODE["coordinates_outside_crs_area"], bad)
            p.detail[bad] = f"cannot be projected to {crs}"
            x[bad] = y[bad] = np.nan
    points.x, points.y = x, y


def study_check(points: Points, geom, buffer_m: float) -> None:
    """Pairs outside the (buffered, projected) study area are ``outside_study_area``."""
    import shapely

    p = points.pairs
    ok = p.reason == 0
    if not ok.any():
        return
    inside = np.zeros(len(p.a), dtype=bool)
    inside[ok] = shapely.intersects_xy(geom, points.x[ok], points.y[ok])
    out = ok & ~inside
    if out.any():
        worse(p.reason, CODE["outside_study_area"], out)
        p.detail[out] = f"more than {buffer_m:,.0f} m outside the study area"
