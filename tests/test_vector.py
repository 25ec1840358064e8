"""Vector outputs (geodemand.outputs.vector): typed, reproducible GeoPackage, GeoJSON, CSV."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sqlite3
import subprocess
import time
import xml.etree.ElementTree as ET

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from geodemand.errors import InvalidParameterError
from geodemand.outputs.vector import (
    clean_field_names,
    data_timestamp,
    date_columns,
    field_name,
    write_geopackage,
    write_patrol_areas,
)


@pytest.fixture
def areas():
    """Patrol areas with the columns patrol_areas() gives (dates as ISO text, per-type counts
    named by crime-type slugs) and a timestamp column."""
    return gpd.GeoDataFrame(
        {
            "area_id": ["COV-1", "COV-2"],
            "rank": [1, 2],
            "lpu": ["Coventry", "Coventry"],
            "neighbourhoods": ["St Michael's; Foleshill", "Earlsdon"],
            "incidents": [40, 12],
            "incidents_anti-social-behaviour": [30, 2],
            "incidents_violence-and-sexual-offences": [10, 10],
            "harm_Violence and sexual offences": [123.5, 99.0],
            "visits_per_day": [3.0, 1.0],
            "review_date": ["2025-12-08", "2025-12-08"],
            "window_start": ["2023-11-24", "2023-11-24"],
            "window_end": ["2025-11-10", "2025-11-10"],
            "last_incident": pd.to_datetime(["2025-11-09 22:15", "2025-11-10 08:00"]),
            "synthetic": [False, False],
        },
        geometry=[shapely.box(430000, 278000, 430400, 278300), shapely.box(431000, 279000,
                                                                          431200, 279500)],
        crs="EPSG:27700",
    )


def _ogrinfo(path, layer) -> str:
    if shutil.which("ogrinfo") is None:
        if os.environ.get("CI"):
            pytest.fail("ogrinfo is missing in CI: .ci/run installs Debian's gdal-bin")
        pytest.skip("ogrinfo not installed (Debian: apt-get install gdal-bin)")
    return subprocess.run(
        ["ogrinfo", "-so", str(path), layer], check=True, capture_output=True, text=True
    ).stdout


def test_field_names_are_safe_everywhere():
    assert field_name("incidents_anti-social-behaviour") == "incidents_anti_social_behaviour"
    assert field_name("harm_Violence and sexual offences") == "harm_violence_and_sexual_offences"
    assert field_name("Café crème") == "cafe_creme"
    assert field_name("2020 count") == "f_2020_count"
    assert field_name("---") == "field"
    frame = pd.DataFrame(columns=["a-b", "a b", "A_B", "ok"])
    assert list(clean_field_names(frame).columns) == ["a_b", "a_b_2", "a_b_3", "ok"]


def test_date_columns_rule(areas):
    dates, datetimes = date_columns(areas)
    assert dates == ["review_date", "window_start", "window_end"]
    assert datetimes == ["last_incident"]
    plain = pd.DataFrame({"when": [dt.date(2025, 1, 2)], "note_date": ["not a date"],
                          "created_end": pd.to_datetime(["2025-01-01 10:00"])})
    assert date_columns(plain) == (["when"], ["created_end"])
    assert data_timestamp(areas) == pd.Timestamp("2025-12-08", tz="UTC")
    assert data_timestamp(areas[["rank", "geometry"]]) == pd.Timestamp("1970-01-01", tz="UTC")


def test_geopackage_has_date_fields_clean_names_and_a_default_style(areas, tmp_path):
    path = write_patrol_areas(areas, tmp_path / "patrol_areas.gpkg")
    info = _ogrinfo(path, "patrol_areas")
    for field in ("review_date: Date", "window_start: Date", "window_end: Date"):
        assert field in info, field
    assert "last_incident: DateTime" in info
    assert "incidents_anti_social_behaviour: Integer64" in info
    assert "harm_violence_and_sexual_offences: Real" in info
    assert "-" not in "".join(line.split(":")[0] for line in info.splitlines() if ": " in line
                              and line[0].islower())
    back = gpd.read_file(path, layer="patrol_areas")
    assert back.crs.to_epsg() == 27700 and len(back) == 2
    assert pd.api.types.is_datetime64_any_dtype(back["last_incident"])
    assert str(pd.Timestamp(back["review_date"].iloc[0]).date()) == "2025-12-08"
    assert back["neighbourhoods"].iloc[0] == "St Michael's; Foleshill"
    info = pyogrio.read_info(path, layer="patrol_areas")
    assert dict(zip(info["fields"], info["dtypes"], strict=True))["rank"] == "int64"
    # QGIS's layer_styles table holds the default style; the same .qml is beside the file
    con = sqlite3.connect(path)
    try:
        (row,) = con.execute(
            "SELECT f_table_name, f_geometry_column, useAsDefault, styleQML FROM layer_styles"
        ).fetchall()
        contents = con.execute("SELECT table_name, last_change FROM gpkg_contents").fetchall()
    finally:
        con.close()
    assert row[:3] == ("patrol_areas", "geom", 1)
    qml = ET.fromstring(row[3].split("\n", 1)[1])
    assert qml.find(".//text-style").get("fieldName") == "rank"
    assert qml.get("labelsEnabled") == "1"
    assert (tmp_path / "patrol_areas.qml").read_text() == row[3]
    # last_change is the data's latest date (the review date), not the clock
    assert set(contents) == {("patrol_areas", "2025-12-08T00:00:00.000Z"),
                             ("layer_styles", "2025-12-08T00:00:00.000Z")}


def test_geopackage_is_byte_identical_between_runs(areas, tmp_path):
    first = write_patrol_areas(areas, tmp_path / "a" / "patrol_areas.gpkg")
    time.sleep(1.1)  # a clock-based time stamp would differ now
    second = write_patrol_areas(areas, tmp_path / "b" / "patrol_areas.gpkg")
    assert first.read_bytes() == second.read_bytes()
    other = write_patrol_areas(areas, tmp_path / "c" / "patrol_areas.gpkg",
                               timestamp="2026-01-05T06:00:00Z")
    assert other.read_bytes() != first.read_bytes()
    con = sqlite3.connect(other)
    try:
        stamps = {r[0] for r in con.execute("SELECT last_change FROM gpkg_contents")}
    finally:
        con.close()
    assert stamps == {"2026-01-05T06:00:00.000Z"}
    assert pyogrio.get_gdal_config_option("OGR_CURRENT_DATE") is None  # not left set
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "patrol_areas.gpkg", "patrol_areas.qml"
    ]


def test_geojson_and_csv_use_the_same_names_and_iso_dates(areas, tmp_path):
    path = write_patrol_areas(areas, tmp_path / "patrol_areas.geojson")
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert "crs" not in doc
    props = doc["features"][0]["properties"]
    assert props["incidents_anti_social_behaviour"] == 30
    assert props["review_date"] == "2025-12-08"
    assert props["last_incident"] == "2025-11-09T22:15:00"
    assert props["neighbourhoods"] == "St Michael's; Foleshill"
    ring = np.asarray(doc["features"][0]["geometry"]["coordinates"][0])
    assert shapely.LinearRing(ring).is_ccw  # RFC 7946 right-hand rule
    assert (tmp_path / "patrol_areas.qml").exists()
    csv = write_patrol_areas(areas, tmp_path / "patrol_areas.csv")
    frame = pd.read_csv(csv)
    assert list(frame.columns) == list(props)
    assert frame["review_date"].iloc[0] == "2025-12-08"


def test_write_geopackage_several_layers_and_errors(areas, tmp_path):
    cells = gpd.GeoDataFrame({"pattern": ["new hot spot"]},
                             geometry=[shapely.box(0, 0, 100, 100)], crs="EPSG:27700")
    path = write_geopackage({"patrol_areas": areas, "emerging": cells}, tmp_path / "all.gpkg")
    assert [name for name, _ in pyogrio.list_layers(path)] == ["patrol_areas", "emerging"]
    with pytest.raises(InvalidParameterError, match=".gpkg"):
        write_geopackage({"a": areas}, tmp_path / "a.sqlite")
    with pytest.raises(InvalidParameterError, match="not written"):
        write_geopackage({"a": areas}, tmp_path / "a.gpkg", styles={"b": "<qgis/>"})
    with pytest.raises(InvalidParameterError, match="geojson"):
        write_patrol_areas(areas, tmp_path / "a.shp")
    with pytest.raises(InvalidParameterError, match="GeoDataFrame"):
        write_patrol_areas(pd.DataFrame(areas), tmp_path / "a.gpkg")
