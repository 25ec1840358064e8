"""Writing incidents: GeoParquet through geopandas equals the former hand-written writer."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import shapely

import geodemand as gd
from geodemand.ingest.write import write_geoparquet, write_incidents, write_rejects


def hand_written_geoparquet(gdf, path, *, synthetic, extra=None):
    """The writer geodemand used before (pyarrow table + WKB column + hand-made ``geo``)."""
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


def test_geoparquet_through_geopandas_is_identical(tmp_path, test_data):
    table = gd.read_incidents(
        test_data / "police_uk/west_midlands_api/2018-06-west-midlands-api.csv.gz"
    )
    gdf = table.to_geodataframe()
    extra = {"geodemand:params": json.dumps(table.params, default=str)}
    ours, ref = tmp_path / "ours.parquet", tmp_path / "ref.parquet"
    write_geoparquet(gdf, ours, synthetic=False, extra=extra)
    hand_written_geoparquet(gdf, ref, synthetic=False, extra=extra)
    a, b = gpd.read_parquet(ours), gpd.read_parquet(ref)
    pd.testing.assert_frame_equal(
        pd.DataFrame(a.drop(columns="geometry")), pd.DataFrame(b.drop(columns="geometry"))
    )
    assert shapely.equals_exact(a.geometry.values, b.geometry.values, tolerance=0).all()
    assert a.crs == b.crs
    ma, mb = pq.read_schema(ours).metadata, pq.read_schema(ref).metadata
    for key in (b"geodemand:synthetic", b"geodemand:params"):
        assert ma[key] == mb[key]
    ga, gb = json.loads(ma[b"geo"]), json.loads(mb[b"geo"])
    assert ga["version"] == gb["version"] == "1.0.0"
    assert ga["primary_column"] == gb["primary_column"]
    ca, cb = ga["columns"]["geometry"], gb["columns"]["geometry"]
    for key in ("encoding", "geometry_types", "bbox"):
        assert ca[key] == cb[key], key
    assert gpd.GeoSeries([], crs=ca["crs"]).crs == gpd.GeoSeries([], crs=cb["crs"]).crs
    assert pq.ParquetFile(ours).metadata.row_group(0).column(0).compression == "ZSTD"


def test_write_incidents_round_trip_and_rejects(tmp_path, test_data):
    table = gd.read_incidents(
        test_data / "police_uk/leicestershire/2020-01-leicestershire-street.csv.gz"
    )
    path = write_incidents(table, tmp_path / "i.parquet")
    meta = pq.read_schema(path).metadata
    assert meta[b"geodemand:synthetic"] == b"false"
    back = gd.read_incidents(path, crs=table.crs)
    assert len(back.frame) == len(table.frame) and not len(back.rejects)
    csv = write_incidents(table, tmp_path / "i.csv")
    assert pd.read_csv(csv).shape[0] == len(table.frame)
    rej = write_rejects(table, tmp_path / "rejects.csv")
    assert pd.read_csv(rej)["reason"].eq("missing_coordinates").all()
