"""Ingest: every format, full accounting, every rejection reason, clear errors."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest

import geodemand as gd
from geodemand.errors import InputFormatError
from geodemand.ingest.incidents import CANONICAL_COLUMNS, REASONS

STREET_HEADER = (
    "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,"
    "Crime type,Last outcome category,Context\n"
)


def _street_row(cid, lon, lat, crime="Burglary", month="2020-01"):
    return f"{cid},{month},F,F,{lon},{lat},On or near X,E01,N 001A,{crime},Under investigation,\n"


def _check_accounting(table) -> None:
    acc = table.accounting
    files = acc[acc["file"] != "TOTAL"]
    assert (files["accepted"] + files["rejected"] == files["read"]).all()
    total = acc[acc["file"] == "TOTAL"].iloc[0]
    assert total["accepted"] == len(table.frame)
    assert total["rejected"] == len(table.rejects)
    reason_cols = [c for c in acc.columns if c in REASONS]
    assert (files[reason_cols].sum(axis=1) == files["rejected"]).all()


# ---------------------------------------------------------------------------- real data
def test_every_bundled_incident_file_is_fully_accounted(data_dir):
    files = sorted((data_dir / "incidents").rglob("*.csv.gz"))
    assert len(files) >= 26
    for path in files:
        table = gd.read_incidents(path)
        _check_accounting(table)
        assert table.crs == "EPSG:27700"
        assert table.frame["incident_id"].is_unique
        assert list(table.frame.columns[: len(CANONICAL_COLUMNS)]) == list(CANONICAL_COLUMNS)


def test_leicestershire_two_years(shared):
    table = gd.read_incidents(shared / "police_uk" / "leicestershire")
    acc = table.accounting.set_index("file").loc["TOTAL"]
    assert acc["read"] == 196_893
    assert acc["missing_coordinates"] == 4_404
    # seven Crime IDs are republished in a later month: the first occurrence is kept
    assert acc["duplicate_id"] == 7
    assert acc["accepted"] + acc["rejected"] == 196_893
    assert table.date_precision == "month"
    assert table.frame["occurred"].min() == pd.Timestamp("2019-12-01")
    assert table.frame["occurred"].max() == pd.Timestamp("2021-11-01")
    # ASB rows have no Crime ID: they get generated ids, still unique
    asb = table.frame[table.frame["crime_type"] == "anti-social-behaviour"]
    assert asb["incident_id"].str.contains("#").all()
    assert set(table.rejects["reason"]) == {"missing_coordinates", "duplicate_id"}
    # coordinates are British National Grid metres around Leicester
    # (a few records of the force lie elsewhere in England)
    assert table.frame["x"].between(430_000, 500_000).mean() > 0.99
    assert table.frame["y"].between(280_000, 340_000).mean() > 0.99


def test_west_midlands_2011_old_format(shared):
    table = gd.read_incidents(
        shared / "police_uk/west_midlands/2011-02-west-midlands-street.csv.gz"
    )
    assert len(table.frame) == 25_558 and len(table.rejects) == 0
    counts = table.frame["crime_type"].value_counts().to_dict()
    assert counts == {
        "anti-social-behaviour": 8_728,
        "other-crime-2011": 8_184,
        "violent-crime-2011": 3_037,
        "burglary": 2_444,
        "vehicle-crime": 2_358,
        "robbery": 807,
    }
    # Easting/Northing are taken as they are (already EPSG:27700)
    assert table.frame["x"].iloc[0] == 408_811.0 and table.frame["y"].iloc[0] == 284_398.0
    assert table.accounting["format"].iloc[0] == "police-uk-2011"


def test_west_midlands_2011_per_district_counts(shared):
    from geodemand.ingest.areas import assign_areas, read_areas

    table = gd.read_incidents(
        shared / "police_uk/west_midlands/2011-02-west-midlands-street.csv.gz"
    )
    areas = read_areas(shared / "boundaries/west_midlands/lad2013.geojson", lpu_field="LAD13NM")
    joined = assign_areas(table, areas)
    counts = joined.frame["lpu"].value_counts().to_dict()
    assert counts == {
        "Birmingham": 10_842,
        "Coventry": 3_316,
        "Sandwell": 2_756,
        "Walsall": 2_433,
        "Dudley": 2_364,
        "Wolverhampton": 2_072,
        "Solihull": 1_753,
        "outside": 22,
    }
    assert joined.frame["outside"].sum() == 22


def test_police_uk_api_csv(shared):
    table = gd.read_incidents(
        shared / "police_uk/west_midlands_api/2018-06-west-midlands-api.csv.gz"
    )
    assert len(table.frame) == 25_094
    assert table.accounting["format"].iloc[0] == "police-uk-api"
    counts = table.frame["crime_type"].value_counts()
    assert counts["violence-and-sexual-offences"] == 6_783
    assert counts["anti-social-behaviour"] == 4_464
    assert table.frame["location_key"].nunique() == 11_432
    forced = gd.read_incidents(
        shared / "police_uk/west_midlands_api/2018-06-west-midlands-api.csv.gz", force_only=True
    )
    assert len(forced.frame) == 24_914
    assert (forced.rejects["reason"] == "not_force_record").sum() == 180


def test_police_uk_api_json(tmp_path):
    records = [
        {
            "category": "burglary",
            "location_type": "Force",
            "location": {
                "latitude": "52.4862",
                "street": {"id": 1, "name": "On or near A"},
                "longitude": "-1.8904",
            },
            "context": "",
            "outcome_status": None,
            "persistent_id": "abc",
            "id": 101,
            "location_subtype": "",
            "month": "2018-06",
        },
        {
            "category": "violent-crime",
            "location_type": "Force",
            "location": {
                "latitude": "52.50",
                "street": {"id": 2, "name": "On or near B"},
                "longitude": "-1.90",
            },
            "context": "",
            "outcome_status": {"category": "Under investigation", "date": "2018-06"},
            "persistent_id": "def",
            "id": 102,
            "location_subtype": "",
            "month": "2018-06",
        },
        {
            "category": "robbery",
            "location_type": "Force",
            "location": None,
            "context": "",
            "outcome_status": None,
            "persistent_id": "",
            "id": 103,
            "location_subtype": "",
            "month": "2018-06",
        },
    ]
    path = tmp_path / "api.json"
    path.write_text(json.dumps(records))
    table = gd.read_incidents(path)
    _check_accounting(table)
    assert table.frame["crime_type"].tolist() == ["burglary", "violence-and-sexual-offences"]
    assert table.frame["incident_id"].tolist() == ["101", "102"]
    assert table.rejects["reason"].tolist() == ["missing_coordinates"]
    assert table.rejects["source_row"].tolist() == [3]


def test_generic_csv_chicago_lonlat_goes_to_utm(shared):
    table = gd.read_incidents(
        shared / "incidents/chicago/chicago_aggravated_assaults.csv.gz",
        mapping={
            "date": "date",
            "lon": "longitude",
            "lat": "latitude",
            "crime_type_value": "violence-and-sexual-offences",
        },
    )
    assert len(table.frame) == 148_636
    assert table.crs == "EPSG:32616"
    assert table.date_precision == "minute"
    assert table.frame["occurred"].min() == pd.Timestamp("2010-01-01 00:05")


def test_generic_headerless_projected_csv(shared):
    table = gd.read_incidents(
        shared / "incidents/chicago/steenbeek_chicago_arson.csv",
        format="csv",
        mapping={
            "columns": ("x", "y", "date"),
            "x": "x",
            "y": "y",
            "date": "date",
            "crs": "EPSG:26971",
            "crime_type_value": "criminal-damage-arson",
        },
        crs="EPSG:26971",
    )
    assert len(table.frame) == 522
    assert table.date_precision == "day"
    first = pd.read_csv(shared / "incidents/chicago/steenbeek_chicago_arson.csv", header=None)
    np.testing.assert_allclose(table.frame["x"].to_numpy(), first[0].to_numpy())


def test_memphis_with_type_mapping_and_unknown_types(shared):
    path = shared / "incidents/memphis/memphis_robberies_2019.csv"
    loose = gd.read_incidents(path)
    assert loose.unknown_crime_types == {"personal robbery": 2_245}
    strict = gd.read_incidents(path, strict_types=True)
    assert len(strict.frame) == 0
    assert (strict.rejects["reason"] == "unknown_crime_type").sum() == 2_245
    mapped = gd.read_incidents(path, crime_type_mapping={"personal robbery": "robbery"})
    assert set(mapped.frame["crime_type"]) == {"robbery"} and not mapped.unknown_crime_types


def test_vector_formats_round_trip(tmp_path, shared):
    table = gd.read_incidents(
        shared / "incidents/memphis/memphis_robberies_2019.csv",
        crime_type_mapping={"personal robbery": "robbery"},
    )
    gdf = table.to_geodataframe()[["incident_id", "occurred", "crime_type", "geometry"]]
    for name in ("r.geojson", "r.gpkg", "r.parquet"):
        path = tmp_path / name
        if name.endswith(".parquet"):
            gdf.to_parquet(path)
        else:
            gdf.to_file(path)
        back = gd.read_incidents(path, crs=table.crs)
        _check_accounting(back)
        assert len(back.frame) == 2_245
        np.testing.assert_allclose(back.frame["x"], table.frame["x"], atol=1e-3)
        assert (back.frame["crime_type"] == "robbery").all()
        assert (back.frame["incident_id"].to_numpy() == table.frame["incident_id"].to_numpy()).all()


def test_paths_folder_glob_list_and_gzip(tmp_path):
    body = STREET_HEADER + _street_row("a", -1.9, 52.48) + _street_row("b", -1.8, 52.5)
    (tmp_path / "m1.csv").write_text(body)
    with gzip.open(tmp_path / "m2.csv.gz", "wt") as fh:
        fh.write(STREET_HEADER + _street_row("c", -1.9, 52.48))
    assert len(gd.read_incidents(tmp_path).frame) == 3
    assert len(gd.read_incidents(str(tmp_path / "m*.csv*")).frame) == 3
    assert len(gd.read_incidents([tmp_path / "m1.csv", tmp_path / "m2.csv.gz"]).frame) == 3
    # a duplicate id across files is rejected, first occurrence kept
    (tmp_path / "m3.csv").write_text(STREET_HEADER + _street_row("a", -1.7, 52.4))
    table = gd.read_incidents(tmp_path)
    assert table.rejects["reason"].tolist() == ["duplicate_id"]
    assert table.rejects["source_file"].iloc[0].endswith("m3.csv")


# ---------------------------------------------------------------------------- bad input
def test_every_bad_row_gets_its_reason(tmp_path):
    rows = [
        _street_row("ok1", -1.90, 52.48),
        _street_row("miss", "", ""),
        _street_row("text", "abc", 52.48),
        _street_row("range", -1.9, 95.0),
        _street_row("swap", 52.48, -1.90),
        _street_row("far", 10.0, 40.0),
        _street_row("date", -1.9, 52.48, month="2020-13"),
        _street_row("nodate", -1.9, 52.48, month=""),
        _street_row("ok1", -1.91, 52.49),
        ",,,,,,,,,,,\n",
        _street_row("weird", -1.9, 52.48, crime="Alien abduction"),
    ]
    path = tmp_path / "bad.csv"
    path.write_text(STREET_HEADER + "".join(rows))
    table = gd.read_incidents(path)
    _check_accounting(table)
    got = dict(zip(table.rejects["source_row"], table.rejects["reason"], strict=True))
    assert got == {
        2: "missing_coordinates",
        3: "non_numeric_coordinates",
        4: "coordinates_out_of_range",
        5: "likely_swapped_lon_lat",
        6: "coordinates_outside_crs_area",
        7: "unparseable_date",
        8: "missing_date",
        9: "duplicate_id",
        10: "empty_record",
    }
    assert table.frame["incident_id"].tolist() == ["ok1", "weird"]
    assert table.unknown_crime_types == {"Alien abduction": 1}
    raw = json.loads(table.rejects.set_index("source_row").loc[3, "raw"])
    assert raw["a"] == "abc"
    strict = gd.read_incidents(path, strict_types=True)
    assert "unknown_crime_type" in set(strict.rejects["reason"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\x00\x01\x02binary\x00junk" * 10, "binary"),
        (b"Month,Foo\n2020-01,1\n", "no date column|no crime-type column|coordinate"),
    ],
)
def test_malformed_files_give_one_clear_error(tmp_path, content, message):
    path = tmp_path / "f.csv"
    path.write_bytes(content)
    with pytest.raises(InputFormatError, match=message) as info:
        gd.read_incidents(path)
    assert str(path) in str(info.value)


def test_missing_columns_in_police_format(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("Crime ID,Month,Longitude\nx,2020-01,-1.9\n")
    with pytest.raises(InputFormatError, match="date|crime-type|coordinate"):
        gd.read_incidents(path)
    with pytest.raises(InputFormatError, match=r"missing column\(s\)"):
        gd.read_incidents(path, format="police-uk-street")


def test_missing_path_and_empty_folder(tmp_path):
    with pytest.raises(InputFormatError, match="no such file"):
        gd.read_incidents(tmp_path / "nope.csv")
    with pytest.raises(InputFormatError, match="no incident files"):
        gd.read_incidents(tmp_path)


def test_lonlat_input_outside_britain_is_announced_utm(tmp_path, caplog):
    path = tmp_path / "x.csv"
    path.write_text("id,date,type,lon,lat\n1,2020-01-02 10:00,burglary,2.35,48.85\n")
    with caplog.at_level("INFO", logger="geodemand"):
        table = gd.read_incidents(path)
    assert table.crs == "EPSG:32631"
    assert any("UTM zone 31N" in r.message for r in caplog.records)


def test_input_is_not_mutated_and_output_is_deterministic(shared):
    path = shared / "police_uk/west_midlands_api/2018-06-west-midlands-api.csv.gz"
    a = gd.read_incidents(path).frame
    b = gd.read_incidents(path).frame
    pd.testing.assert_frame_equal(a, b)
