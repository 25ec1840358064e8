"""Writing incident tables and rejects (atomically)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from geodemand._atomic import atomic_path
from geodemand._spreadsheet import write_csv
from geodemand.errors import InvalidParameterError


def write_incidents(table, path: str | Path) -> Path:
    """Write accepted incidents as GeoParquet (``.parquet``) or CSV (``.csv``), atomically.

    GeoParquet files carry the key ``geodemand:synthetic`` in their schema metadata and the
    ingest parameters under ``geodemand:params``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".geoparquet", ".csv"):
        raise InvalidParameterError(f"{path}: output must end in .parquet or .csv")
    if suffix == ".csv":  # text cells that would run as spreadsheet formulas are guarded
        return write_csv(table.frame, path, date_format="%Y-%m-%dT%H:%M:%S")
    with atomic_path(path) as tmp:
        write_geoparquet(
            table.to_geodataframe(),
            tmp,
            synthetic=table.synthetic,
            extra={"geodemand:params": json.dumps(table.params, default=str)},
        )
    return path


def write_geoparquet(
    gdf, path: Path, *, synthetic: bool, extra: dict[str, str] | None = None
) -> None:
    """Write a GeoDataFrame as GeoParquet 1.0 with geodemand's metadata keys.

    The table, the WKB geometry and the ``geo`` metadata (primary column, encoding, geometry
    types, PROJJSON CRS, bbox) come from :meth:`geopandas.GeoDataFrame.to_parquet`;
    geodemand adds ``geodemand:synthetic`` (``true`` or ``false``) and the ``extra`` keys to
    the schema metadata, and the file is zstd-compressed.
    """
    import io

    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    gdf.to_parquet(buffer, index=False, compression=None, schema_version="1.0.0")
    buffer.seek(0)
    table = pq.read_table(buffer)
    meta = dict(table.schema.metadata or {})
    meta[b"geodemand:synthetic"] = b"true" if synthetic else b"false"
    for k, v in (extra or {}).items():
        meta[k.encode()] = v.encode()
    pq.write_table(table.replace_schema_metadata(meta), path, compression="zstd")


def write_rejects(table, path: str | Path) -> Path:
    """Write the rejects table (``source_file, source_row, reason, detail, raw``) as CSV.

    The raw rows are untrusted text: a cell a spreadsheet would run as a formula gets an
    apostrophe in front (:func:`geodemand._spreadsheet.spreadsheet_safe`).
    """
    rejects: pd.DataFrame = table.rejects
    return write_csv(rejects, path)
