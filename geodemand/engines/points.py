"""Point inputs of the engines: whatever a geopandas user has, as x, y in projected metres.

Every engine that takes incidents (:func:`geodemand.kde`, :func:`geodemand.gistar`, ...)
reads them through :func:`points_xy`, so they all accept the same things:

* an :class:`~geodemand.ingest.incidents.IncidentTable` or a :class:`~geodemand.Demand`
  (their ``x``, ``y`` columns, already projected);
* a GeoDataFrame of Point geometries in any CRS;
* a DataFrame with ``x``, ``y`` (CRS from ``crs=`` or ``frame.attrs["crs"]``) or with
  ``lon``, ``lat`` (WGS 84 degrees);
* an ``(n, 2)`` array of ``x, y`` with ``crs=``.

Geographic coordinates (degrees) are projected: into ``target_crs`` when the caller has one
(the grid's CRS), else into EPSG:27700 for data in Great Britain or the data's UTM zone
(:func:`geodemand.ingest.incidents.choose_crs`); the choice is announced. Points in a
projected CRS other than ``target_crs`` are an error (reproject deliberately, not silently).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from geodemand._announce import announce
from geodemand.errors import InvalidParameterError


@dataclass(frozen=True)
class Points:
    """Point coordinates in metres and where they came from.

    Attributes
    ----------
    x, y : ndarray of float64
        Coordinates in metres of ``crs`` (same order as the input rows).
    frame : DataFrame or None
        The input's table (for weight, date and crime-type columns), or None for arrays.
    crs : str or None
        The projected CRS of ``x``, ``y`` (None: unknown, only for arrays without ``crs``).
    projected_from : str or None
        The input's geographic CRS when the points were projected here.
    """

    x: np.ndarray
    y: np.ndarray
    frame: pd.DataFrame | None
    crs: str | None
    projected_from: str | None = None


def _parse(crs: Any, what: str):
    from pyproj import CRS

    try:
        return CRS.from_user_input(crs)
    except Exception as exc:  # pyproj raises CRSError and others
        raise InvalidParameterError(f"{what}: crs {crs!r} is not a valid CRS ({exc})") from exc


def _numeric(frame: pd.DataFrame, a: str, b: str, what: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        return (frame[a].to_numpy(dtype=np.float64), frame[b].to_numpy(dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"{what}: columns {a!r} and {b!r} must be numbers ({exc})"
                                    ) from exc


def _project(lon: np.ndarray, lat: np.ndarray, source: Any, target_crs: str | None,
             what: str) -> tuple[np.ndarray, np.ndarray, str]:
    from pyproj import Transformer

    from geodemand.ingest.incidents import choose_crs

    ok = np.isfinite(lon) & np.isfinite(lat)
    if target_crs is None:
        target_crs = choose_crs(lon[ok], lat[ok], None)
    else:
        announce(f"{what}: lon/lat projected into the grid's CRS {target_crs}")
    transformer = Transformer.from_crs(source, target_crs, always_xy=True)
    x, y = transformer.transform(lon, lat)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), str(target_crs)


def points_xy(points: Any, crs: str | None = None, *, target_crs: str | None = None,
              what: str = "points") -> Points:
    """Coordinates in projected metres from any supported point input (module docstring).

    Parameters
    ----------
    points : IncidentTable, Demand, GeoDataFrame, DataFrame or (n, 2) array
    crs : str, optional
        CRS of ``points`` when they do not carry one.
    target_crs : str, optional
        The CRS the caller works in (e.g. its grid's); geographic input is projected into it.
    what : str
        Name used in error messages and announcements (e.g. ``"kde"``).

    Returns
    -------
    Points
    """
    incidents = getattr(points, "incidents", None)  # a Demand
    if isinstance(incidents, pd.DataFrame) and not isinstance(points, pd.DataFrame):
        crs = crs or getattr(points, "crs", None)
        points = incidents
    frame = getattr(points, "frame", None)  # an IncidentTable
    if isinstance(frame, pd.DataFrame) and not isinstance(points, pd.DataFrame):
        table_crs = getattr(points, "crs", None)
        crs = crs or (str(table_crs) if table_crs is not None else None)
        points = frame
    if isinstance(points, pd.DataFrame):
        return _frame_xy(points, crs, target_crs, what)
    try:
        arr = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"{what}: points must be a GeoDataFrame, a DataFrame with x, y (or lon, lat) "
            "columns, incidents, or an (n, 2) array of x, y"
        ) from exc
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise InvalidParameterError(
            f"{what}: a points array must have shape (n, 2) (x, y), got {arr.shape}"
        )
    x, y = np.ascontiguousarray(arr[:, 0]), np.ascontiguousarray(arr[:, 1])
    return _finish(x, y, None, crs, target_crs, what)


def _frame_xy(frame: pd.DataFrame, crs: str | None, target_crs: str | None,
              what: str) -> Points:
    import geopandas as gpd

    if isinstance(frame, gpd.GeoDataFrame) and frame._geometry_column_name in frame.columns:
        geom = frame.geometry
        kinds = geom.geom_type.to_numpy()
        bad = np.flatnonzero(kinds != "Point")
        if bad.size:
            raise InvalidParameterError(
                f"{what}: the GeoDataFrame must hold Point geometries; row {int(bad[0])} is "
                f"{'empty' if kinds[bad[0]] is None else 'a ' + str(kinds[bad[0]])}"
            )
        if frame.crs is not None:
            crs = frame.crs.to_string()
        x = geom.x.to_numpy(dtype=np.float64)
        y = geom.y.to_numpy(dtype=np.float64)
        return _finish(x, y, frame, crs, target_crs, what)
    if crs is None:
        crs = frame.attrs.get("crs")
    if "x" in frame.columns and "y" in frame.columns:
        x, y = _numeric(frame, "x", "y", what)
        return _finish(x, y, frame, crs, target_crs, what)
    if "lon" in frame.columns and "lat" in frame.columns:
        lon, lat = _numeric(frame, "lon", "lat", what)
        return _finish(lon, lat, frame, "EPSG:4326", target_crs, what)
    raise InvalidParameterError(
        f"{what}: the table needs columns 'x' and 'y' (metres), 'lon' and 'lat' (degrees), or "
        f"Point geometries; found {list(frame.columns)}"
    )


def _finish(x: np.ndarray, y: np.ndarray, frame: pd.DataFrame | None, crs: Any,
            target_crs: str | None, what: str) -> Points:
    if crs is None:
        return Points(x, y, frame, target_crs)
    parsed = _parse(crs, what)
    if parsed.is_geographic:
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.any() and (np.abs(x[ok]).max() > 180 or np.abs(y[ok]).max() > 90):
            raise InvalidParameterError(
                f"{what}: the points are labelled {crs} (degrees) but hold values up to "
                f"{np.abs(x[ok]).max():,.0f}, {np.abs(y[ok]).max():,.0f}: they look like "
                "projected metres; give their real CRS (e.g. EPSG:27700)"
            )
        px, py, out_crs = _project(x, y, parsed, target_crs, what)
        return Points(px, py, frame, out_crs, projected_from=parsed.to_string())
    if not parsed.is_projected:
        raise InvalidParameterError(f"{what}: crs {crs!r} is neither projected nor geographic")
    return Points(x, y, frame, str(crs))
