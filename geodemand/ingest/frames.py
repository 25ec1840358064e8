"""Incidents given as tables with geometry or without: pandas DataFrames and GeoDataFrames
passed directly, and vector layers (GeoJSON, GeoPackage, GeoParquet, any OGR point layer).

Attributes go through the column mapping (:func:`geodemand.ingest.batch.generic_batch`);
point geometries give the coordinates, other geometries make ``non_point_geometry``
records, and a layer holding no points at all is not incident data.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from geodemand.errors import InputFormatError
from geodemand.ingest._coded import Coded, arrow_text
from geodemand.ingest.batch import (
    Column,
    ColumnMapping,
    NotIncidentDataError,
    RawBatch,
    generic_batch,
)

VECTOR_SUFFIXES = (".geojson", ".gpkg", ".parquet", ".geoparquet", ".shp", ".fgb", ".gml", ".kml")


def stem_name(path: Path) -> str:
    """The file name in lower case without a ``.gz`` suffix."""
    return path.name.lower().removesuffix(".gz")


def is_vector_name(path: Path) -> bool:
    """True for the suffixes of vector layers (``.geojson``, ``.gpkg``, ``.parquet``, ...)."""
    return stem_name(path).endswith(VECTOR_SUFFIXES)


def read_frame(label: str, frame: pd.DataFrame, mapping: ColumnMapping | None) -> RawBatch:
    """A pandas DataFrame or GeoDataFrame given directly (not from a file)."""
    if not isinstance(frame, pd.DataFrame):
        raise InputFormatError(f"{label}: expected a DataFrame, got {type(frame).__name__}")
    geom_name = _geometry_name(frame)
    if geom_name is not None:
        return _vector_batch(label, frame, mapping, synthetic=False)
    frame = _unique_columns(frame)
    return _frame_batch(label, frame, mapping, "csv", geometry=None)


def _geometry_name(frame: pd.DataFrame) -> str | None:
    try:
        import geopandas as gpd
    except ImportError:  # pragma: no cover - geopandas is a core dependency
        return None
    if isinstance(frame, gpd.GeoDataFrame):
        try:
            return frame.geometry.name
        except AttributeError:  # a GeoDataFrame without an active geometry column
            return None
    return None


def _unique_columns(frame: pd.DataFrame) -> pd.DataFrame:
    names = [str(c) for c in frame.columns]
    if len(set(names)) == len(names):
        if list(frame.columns) != names:
            frame = frame.set_axis(names, axis=1)
        return frame
    seen: dict[str, int] = {}
    out = []
    for c in names:
        k = seen.get(c, 0) + 1
        seen[c] = k
        out.append(c if k == 1 else f"{c} ({k})")
    return frame.set_axis(out, axis=1)


def _frame_batch(
    label,
    frame: pd.DataFrame,
    mapping,
    fmt,
    *,
    geometry,
    problem=None,
    detail=None,
    synthetic=False,
) -> RawBatch:
    frame = frame.reset_index(drop=True)
    columns: dict[str, Column] = {str(c): frame[c] for c in frame.columns}
    n = len(frame)
    blank = np.ones(n, dtype=bool)
    for col in columns.values():
        blank &= _series_blank(col)
        if not blank.any():
            break
    if geometry is not None:
        blank &= np.isnan(geometry["x"]) & (geometry["problem"] == "")

    def record(rows: np.ndarray) -> list[str]:
        part = frame.iloc[np.asarray(rows, dtype=np.int64)]
        dicts = part.astype(object).where(part.notna(), None).to_dict(orient="records")
        return [json.dumps(d, ensure_ascii=False, default=str) for d in dicts]

    return generic_batch(
        label,
        columns,
        list(columns),
        set(),
        n,
        blank,
        record,
        mapping,
        fmt,
        geometry=geometry,
        problem=problem,
        detail=detail,
        synthetic=synthetic,
    )


def _series_blank(s: pd.Series) -> np.ndarray:
    missing = s.isna().to_numpy()
    if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_datetime64_any_dtype(s.dtype):
        return missing
    text = arrow_text(s)
    if text is not None:
        trimmed = pc.utf8_trim_whitespace(text.fill_null(""))
        return pc.equal(trimmed, "").to_numpy(zero_copy_only=False) | missing
    return Coded.from_series(s).blank() | missing


def read_vector(path: Path, mapping: ColumnMapping | None, data: bytes | None = None) -> RawBatch:
    """GeoJSON / GeoPackage / GeoParquet / OGR point layer."""
    import geopandas as gpd

    name = stem_name(path)
    if name.endswith((".parquet", ".geoparquet")) and data is None:
        fast = _point_parquet_batch(path, mapping)
        if fast is not None:
            return fast
    try:
        if name.endswith((".parquet", ".geoparquet")):
            gdf = gpd.read_parquet(path)
        elif data is not None:
            import io

            gdf = gpd.read_file(io.BytesIO(data))
        else:
            gdf = gpd.read_file(path)
    except Exception as exc:  # the drivers raise many types; the message is what matters
        raise NotIncidentDataError(
            f"{path}: cannot read as a vector layer ({type(exc).__name__}: {exc}); expected "
            "GeoJSON, GeoPackage or GeoParquet with point geometries"
        ) from exc
    synthetic = name.endswith((".parquet", ".geoparquet")) and _parquet_synthetic_flag(path)
    return _vector_batch(str(path), gdf, mapping, synthetic=synthetic)


def _vector_batch(label: str, gdf, mapping, *, synthetic: bool) -> RawBatch:
    import shapely

    if _geometry_name(gdf) is None:
        raise NotIncidentDataError(f"{label}: the layer has no geometry column; expected points")
    if gdf.crs is None:
        raise InputFormatError(f"{label}: the layer has no CRS; expected one (e.g. EPSG:4326)")
    if len(gdf) == 0:
        raise NotIncidentDataError(f"{label}: the layer has no features; expected incident points")
    geom = np.asarray(gdf.geometry.values, dtype=object)
    missing = shapely.is_missing(geom)
    empty = missing | shapely.is_empty(geom)
    kinds = shapely.get_type_id(geom)
    point = kinds == 0
    if not (point & ~empty).any() and (~empty).any():
        found = sorted(set(gdf.geometry.geom_type.dropna()))
        raise NotIncidentDataError(
            f"{label}: the layer holds no points (found {', '.join(found)}); not incident data"
        )
    x = np.full(len(gdf), np.nan)
    y = np.full(len(gdf), np.nan)
    ok = point & ~empty
    x[ok] = shapely.get_x(geom[ok])
    y[ok] = shapely.get_y(geom[ok])
    types = np.asarray(gdf.geometry.geom_type.fillna("").to_numpy(), dtype=object)
    problem = np.where(~empty & ~point, "non_point_geometry", "").astype(object)
    detail = np.where(
        ~empty & ~point, "geometry is " + types.astype(str) + ", expected a point", ""
    ).astype(object)
    frame = _unique_columns(pd.DataFrame(gdf.drop(columns=gdf.geometry.name)))
    geometry = {
        "x": x,
        "y": y,
        "crs": gdf.crs.to_string(),
        "geographic": bool(gdf.crs.is_geographic),
        "problem": problem,
    }
    return _frame_batch(
        label,
        frame,
        mapping,
        "vector",
        geometry=geometry,
        problem=problem if (problem != "").any() else None,
        detail=detail,
        synthetic=synthetic,
    )


#: Size of a 2-D WKB point: byte order (1), geometry type (4), x and y (8 each).
_WKB_POINT_BYTES = 21


def _point_parquet_batch(path: Path, mapping) -> RawBatch | None:
    """A GeoParquet file whose geometry is 2-D WKB points, read without building shapely
    geometries: x, y are taken straight from the WKB bytes (the same numbers shapely reads).
    None when the file is anything else (other types, Z, nulls, big-endian, no "geo"
    metadata): the general reader handles it."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyproj import CRS

    try:
        schema = pq.read_schema(path)
        meta = json.loads((schema.metadata or {}).get(b"geo", b"null"))
    except Exception:  # unreadable or not GeoParquet: the general reader reports it
        return None
    if not isinstance(meta, dict):
        return None
    column = meta.get("primary_column")
    info = (meta.get("columns") or {}).get(column) or {}
    if str(info.get("encoding", "WKB")).upper() != "WKB" or info.get("geometry_types") != \
            ["Point"] or column not in schema.names:
        return None
    table = pq.read_table(path)
    geom = table.column(column).combine_chunks()
    n = len(geom)
    if n == 0 or geom.null_count or not (pa.types.is_binary(geom.type)
                                         or pa.types.is_large_binary(geom.type)):
        return None
    buffers = geom.buffers()
    width = np.int64 if pa.types.is_large_binary(geom.type) else np.int32
    offsets = np.frombuffer(buffers[1], dtype=width)[geom.offset:geom.offset + n + 1]
    if not (np.diff(offsets) == _WKB_POINT_BYTES).all():
        return None
    raw = np.frombuffer(buffers[2], dtype=np.uint8)
    records = raw[offsets[:-1].astype(np.int64)[:, None] + np.arange(_WKB_POINT_BYTES)]
    if not (records[:, 0] == 1).all():  # little-endian only
        return None
    kind = np.ascontiguousarray(records[:, 1:5]).view("<u4").ravel()
    if not (kind == 1).all():
        return None
    x = np.ascontiguousarray(records[:, 5:13]).view("<f8").ravel().astype(np.float64)
    y = np.ascontiguousarray(records[:, 13:21]).view("<f8").ravel().astype(np.float64)
    crs_json = info.get("crs", "OGC:CRS84")
    crs = CRS.from_user_input(crs_json) if crs_json is not None else None
    if crs is None:
        raise InputFormatError(f"{path}: the layer has no CRS; expected one (e.g. EPSG:4326)")
    frame = _unique_columns(table.drop_columns([column]).to_pandas())
    problem = np.full(n, "", dtype=object)
    geometry = {"x": x, "y": y, "crs": crs.to_string(), "geographic": bool(crs.is_geographic),
                "problem": problem}
    return _frame_batch(str(path), frame, mapping, "vector", geometry=geometry, problem=None,
                        detail=np.full(n, "", dtype=object),
                        synthetic=_parquet_synthetic_flag(path))


def _parquet_synthetic_flag(path: Path) -> bool:
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    return meta.get(b"geodemand:synthetic", b"").lower() == b"true"
