"""Writing incident tables and rejects (atomically)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from geodemand._atomic import atomic_path
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
    with atomic_path(path) as tmp:
        if suffix == ".csv":
            table.frame.to_csv(tmp, index=False, date_format="%Y-%m-%dT%H:%M:%S")
        else:
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
    """Write a GeoDataFrame of points as GeoParquet 1.0 (WKB) with geodemand's metadata keys.

    The ``geo`` metadata follows the GeoParquet 1.0.0 specification (primary column, WKB
    encoding, geometry types, PROJJSON CRS, bbox); ``geodemand:synthetic`` is ``true`` or
    ``false``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    import shapely

    geom_name = gdf.geometry.name
    plain = pd.DataFrame(gdf.drop(columns=geom_name))
    tbl = pa.Table.from_pandas(plain, preserve_index=False)
    wkb = shapely.to_wkb(gdf.geometry.values, output_dimension=2)
    tbl = tbl.append_column(geom_name, pa.array(wkb, type=pa.binary()))
    types = sorted(set(gdf.geometry.geom_type.dropna().unique()))
    bbox = [float(v) for v in gdf.total_bounds] if len(gdf) else []
    geo = {
        "version": "1.0.0",
        "primary_column": geom_name,
        "columns": {
            geom_name: {
                "encoding": "WKB",
                "geometry_types": types,
                "crs": json.loads(gdf.crs.to_json()) if gdf.crs is not None else None,
                **({"bbox": bbox} if bbox else {}),
            }
        },
    }
    meta = dict(tbl.schema.metadata or {})
    meta[b"geo"] = json.dumps(geo).encode()
    meta[b"geodemand:synthetic"] = b"true" if synthetic else b"false"
    for k, v in (extra or {}).items():
        meta[k.encode()] = v.encode()
    pq.write_table(tbl.replace_schema_metadata(meta), path, compression="zstd")


def write_rejects(table, path: str | Path) -> Path:
    """Write the rejects table (``source_file, source_row, reason, detail, raw``) as CSV."""
    path = Path(path)
    rejects: pd.DataFrame = table.rejects
    with atomic_path(path) as tmp:
        rejects.to_csv(tmp, index=False)
    return path
