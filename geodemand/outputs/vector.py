"""Vector outputs: patrol areas (and other layers) as GeoJSON, GeoPackage or CSV, atomically.

* **GeoJSON** follows RFC 7946 (WGS84 lon/lat, counter-clockwise exterior rings, clockwise
  holes, no ``crs`` member, 6 decimal places ≈ 0.1 m); dates are ISO strings.
* **GeoPackage** keeps the analysis CRS; date columns are GeoPackage ``DATE`` fields and
  timestamps ``DATETIME`` fields (not strings). The file is reproducible: its
  ``gpkg_contents.last_change`` time stamps are the ``timestamp`` given, or one derived from
  the data (the latest date in the layer), never the clock, so two runs on the same inputs
  write byte-identical files. With ``style`` the QGIS default style of each layer is stored
  in the GeoPackage's ``layer_styles`` table (QGIS opens the patrol areas styled like the web
  map) and written beside the file as ``<stem>.qml``.
* **Field names** are made safe for every format and tool (:func:`field_name`): lower case
  ASCII letters, digits and underscores, e.g. ``incidents_anti_social_behaviour`` for
  ``incidents_anti-social-behaviour``; the same names are used in all three formats.

Date columns (:func:`date_columns`): a column holding ``datetime.date`` values, or one named
``date`` or ending in ``_date``, ``_start`` or ``_end`` whose values are all ISO dates
(``YYYY-MM-DD`` text) or midnight timestamps, is a Date; any other datetime column is a
DateTime.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodemand._atomic import atomic_path, write_text_atomic
from geodemand._spreadsheet import write_csv
from geodemand.errors import InvalidParameterError

#: GeoPackage version written (1.3 reads without warnings in GDAL 3.6 and later).
GPKG_VERSION = "1.3"
#: Time stamp used when a layer holds no date at all.
EPOCH = pd.Timestamp("1970-01-01T00:00:00Z")

_DATE_NAME = re.compile(r"(^date$|_date$|_start$|_end$)")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def field_name(name: Any) -> str:
    """A safe field name: lower-case ASCII letters, digits and ``_``; never empty or leading
    with a digit (``"Anti-social behaviour"`` -> ``"anti_social_behaviour"``)."""
    import unicodedata

    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    if not text:
        text = "field"
    if text[0].isdigit():
        text = "f_" + text
    return text


def clean_field_names(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with :func:`field_name` names; clashes get ``_2``, ``_3``… in column order.

    The geometry column keeps its name.
    """
    geometry = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
    taken: set[str] = {geometry} if geometry else set()
    mapping = {}
    for col in frame.columns:
        if col == geometry:
            continue
        base = field_name(col)
        name, k = base, 2
        while name in taken:
            name, k = f"{base}_{k}", k + 1
        taken.add(name)
        mapping[col] = name
    return frame.rename(columns=mapping)


def _texty(series: pd.Series) -> bool:
    """Object or string dtype (pandas 3 infers ``str`` for text columns)."""
    return pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)


def _is_date_values(series: pd.Series) -> bool:
    values = series.dropna()
    if values.empty:
        return False
    if pd.api.types.is_datetime64_any_dtype(series):
        ts = pd.DatetimeIndex(values)
        return bool((ts == ts.normalize()).all())
    if _texty(series):
        if all(isinstance(v, dt.date) and not isinstance(v, dt.datetime) for v in values):
            return True
        if all(isinstance(v, str) and _ISO_DATE.match(v) for v in values):
            return True
        if all(isinstance(v, (pd.Timestamp, dt.datetime)) for v in values):
            ts = pd.DatetimeIndex(pd.to_datetime(values))
            return bool((ts == ts.normalize()).all())
    return False


def date_columns(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """``(date columns, datetime columns)`` of ``frame`` by the rule in the module docstring."""
    dates, datetimes = [], []
    for col in frame.columns:
        s = frame[col]
        if isinstance(frame, gpd.GeoDataFrame) and col == frame.geometry.name:
            continue
        named = bool(_DATE_NAME.search(str(col).lower()))
        objects = _texty(s) and len(s.dropna()) > 0
        plain_dates = objects and all(
            isinstance(v, dt.date) and not isinstance(v, dt.datetime) for v in s.dropna()
        )
        if plain_dates or (named and _is_date_values(s)):
            dates.append(col)
        elif pd.api.types.is_datetime64_any_dtype(s):
            datetimes.append(col)
    return dates, datetimes


def _as_dates(series: pd.Series, name: str) -> pd.Series:
    """Python ``datetime.date`` values (None where missing)."""
    try:
        ts = pd.to_datetime(series, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise InvalidParameterError(f"column {name!r}: not ISO dates ({exc})") from exc
    return pd.Series(
        [None if pd.isna(v) else v.date() for v in ts], index=series.index, dtype=object
    )


def typed_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with clean field names, Date columns as ``datetime.date`` and DateTime columns
    as timezone-naive ``datetime64`` (ms); lists become ``"; "``-joined text."""
    out = clean_field_names(frame.copy())
    dates, datetimes = date_columns(out)
    for col in dates:
        out[col] = _as_dates(out[col], col)
    for col in datetimes:
        s = pd.to_datetime(out[col])
        if s.dt.tz is not None:
            s = s.dt.tz_convert("UTC").dt.tz_localize(None)
        out[col] = s.astype("datetime64[ms]")
    for col in out.columns:
        if _texty(out[col]) and out[col].map(lambda v: isinstance(v, (list, tuple))).any():
            out[col] = out[col].map(
                lambda v: "; ".join(map(str, v)) if isinstance(v, (list, tuple)) else v
            )
    return out


def data_timestamp(frames: Mapping[str, pd.DataFrame] | pd.DataFrame) -> pd.Timestamp:
    """The latest date or timestamp in the frames' date columns (UTC), else 1970-01-01."""
    if isinstance(frames, pd.DataFrame):
        frames = {"": frames}
    latest = None
    for frame in frames.values():
        typed = typed_frame(frame)
        dates, datetimes = date_columns(typed)
        for col in dates + datetimes:
            values = pd.to_datetime(typed[col].dropna())
            if len(values):
                top = pd.Timestamp(values.max())
                latest = top if latest is None or top > latest else latest
    if latest is None:
        return EPOCH
    return latest.tz_localize("UTC") if latest.tzinfo is None else latest.tz_convert("UTC")


# ---------------------------------------------------------------------------- GeoJSON
def to_rfc7946(areas: gpd.GeoDataFrame, precision: int = 6) -> dict:
    """The areas as an RFC 7946 FeatureCollection (dict).

    WGS84 lon/lat; exterior rings counter-clockwise and holes clockwise (right-hand rule,
    RFC 7946 §3.1.6); no ``crs`` member; coordinates rounded to ``precision`` decimals
    (6 ≈ 0.1 m). Properties are JSON-safe (numbers, strings, booleans, null), with clean
    field names; dates are ``YYYY-MM-DD`` and timestamps ISO 8601 text.
    """
    wgs = typed_frame(areas.to_crs("EPSG:4326"))
    geoms = shapely.orient_polygons(
        shapely.set_precision(wgs.geometry.values, 10.0**-precision), exterior_cw=False
    )
    props = pd.DataFrame(wgs.drop(columns=wgs.geometry.name))
    features = []
    for i, geom in enumerate(geoms):
        record = {k: _json_value(v) for k, v in props.iloc[i].items()}
        features.append(
            {
                "type": "Feature",
                "properties": record,
                "geometry": json.loads(shapely.to_geojson(geom)),
            }
        )
    bbox = [round(float(v), precision) for v in shapely.total_bounds(geoms)] if len(geoms) else None
    out = {"type": "FeatureCollection", "features": features}
    if bbox:
        out["bbox"] = bbox
    return out


def _json_value(v):
    if v is None:
        return None
    if isinstance(v, np.integer | int) and not isinstance(v, bool):
        return int(v)
    if isinstance(v, np.bool_ | bool):
        return bool(v)
    if isinstance(v, np.floating | float):
        return None if not np.isfinite(v) else round(float(v), 6)
    if isinstance(v, pd.Timestamp | dt.datetime):
        return None if pd.isna(v) else v.isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if v is pd.NaT or v is pd.NA:
        return None
    return str(v)


# ---------------------------------------------------------------------------- GeoPackage
def _gpkg_time(ts: pd.Timestamp) -> str:
    return ts.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.000Z")


def write_geopackage(
    layers: Mapping[str, gpd.GeoDataFrame],
    path: str | Path,
    *,
    timestamp: Any = None,
    styles: Mapping[str, str] | None = None,
) -> Path:
    """Write one or more layers to a reproducible GeoPackage, atomically.

    Parameters
    ----------
    layers : mapping of layer name -> GeoDataFrame
        Written in this order (clean field names, Date/DateTime fields; see
        :func:`typed_frame`), each in its own CRS.
    path : path
        ``.gpkg`` file.
    timestamp : str, datetime or Timestamp, optional
        The ``last_change`` time of every table (UTC). Default: :func:`data_timestamp` of the
        layers, so the file depends only on its data.
    styles : mapping of layer name -> QML text, optional
        QGIS default styles, stored in the ``layer_styles`` table (QGIS's own schema).

    Returns
    -------
    Path
    """
    import pyogrio

    path = Path(path)
    if path.suffix.lower() != ".gpkg":
        raise InvalidParameterError(f"{path}: a GeoPackage must end in .gpkg")
    if not layers:
        raise InvalidParameterError("write_geopackage: no layers to write")
    unknown = sorted(set(styles or {}) - set(layers))
    if unknown:
        raise InvalidParameterError(f"styles given for layers that are not written: {unknown}")
    ts = data_timestamp(layers) if timestamp is None else pd.Timestamp(timestamp)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    stamp = _gpkg_time(ts)
    previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    with atomic_path(path) as tmp:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": stamp})
        try:
            for i, (name, gdf) in enumerate(layers.items()):
                frame = typed_frame(gdf)
                pyogrio.write_dataframe(
                    frame,
                    tmp,
                    layer=name,
                    driver="GPKG",
                    append=i > 0,
                    use_arrow=True,
                    dataset_options={"VERSION": GPKG_VERSION} if i == 0 else None,
                )
            if styles:
                pyogrio.write_dataframe(
                    _layer_styles(layers, styles, ts), tmp, layer="layer_styles",
                    driver="GPKG", append=True, layer_options={"FID": "id"},
                )
        finally:
            pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": previous})
    return path


def _layer_styles(layers, styles: Mapping[str, str], ts: pd.Timestamp) -> pd.DataFrame:
    """Rows of QGIS's ``layer_styles`` table (one default style per layer)."""
    rows = []
    for name, qml in styles.items():
        rows.append(
            {
                "f_table_catalog": "",
                "f_table_schema": "",
                "f_table_name": name,
                "f_geometry_column": "geom",
                "styleName": name,
                "styleQML": qml,
                "styleSLD": "",
                "useAsDefault": True,
                "description": "geodemand default style",
                "owner": "",
                "ui": "",
                "update_time": ts.tz_localize(None),
            }
        )
    frame = pd.DataFrame(rows)
    frame["update_time"] = frame["update_time"].astype("datetime64[ms]")
    return frame


# ---------------------------------------------------------------------------- patrol areas
def write_patrol_areas(
    areas,
    path: str | Path,
    *,
    precision: int = 6,
    timestamp: Any = None,
    style: bool = True,
    layer: str = "patrol_areas",
) -> Path:
    """Write patrol areas as RFC 7946 GeoJSON (``.geojson``/``.json``), GeoPackage
    (``.gpkg``, analysis CRS) or a CSV of the attributes (``.csv``), atomically.

    Parameters
    ----------
    areas : PatrolPlan or GeoDataFrame
    path : path
    precision : int
        Decimal places of GeoJSON coordinates (6 ≈ 0.1 m).
    timestamp : optional
        GeoPackage ``last_change`` (default derived from the data, see
        :func:`write_geopackage`).
    style : bool
        Write the QGIS style (black outlines labelled by rank) as ``<stem>.qml`` beside a
        GeoJSON or GeoPackage, and into the GeoPackage's ``layer_styles`` table.
    layer : str
        GeoPackage layer name.

    Returns
    -------
    Path
    """
    from geodemand.outputs.qgis import patrol_areas_qml, write_qml

    gdf = getattr(areas, "areas", areas)  # a PatrolPlan or its GeoDataFrame
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InvalidParameterError(
            f"patrol areas must be a PatrolPlan or a GeoDataFrame, got {type(gdf).__name__}"
        )
    path = Path(path)
    suffix = path.suffix.lower()
    qml = patrol_areas_qml("rank") if style else None
    if suffix in (".geojson", ".json"):
        text = json.dumps(to_rfc7946(gdf, precision), ensure_ascii=False, separators=(",", ":"))
        write_text_atomic(path, text)
    elif suffix == ".gpkg":
        write_geopackage({layer: gdf}, path, timestamp=timestamp,
                         styles={layer: qml} if qml else None)
    elif suffix == ".csv":
        write_csv(typed_frame(pd.DataFrame(gdf.drop(columns=gdf.geometry.name))), path)
        return path
    else:
        raise InvalidParameterError(
            f"{path}: patrol areas are written as .geojson, .gpkg or .csv"
        )
    if qml is not None:
        write_qml(path, qml)
    return path
