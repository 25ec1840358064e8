"""Ingest: every format, full accounting, every rejection reason, clear errors."""

from __future__ import annotations

import gzip
import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import geodemand as gd
from geodemand.errors import GeodemandError, InputFormatError, InvalidParameterError
from geodemand.ingest.checks import default_date_range
from geodemand.ingest.incidents import (
    CANONICAL_COLUMNS,
    INCIDENT_COLUMNS,
    REASONS,
    crs_area_bounds,
)

STREET_HEADER = (
    "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,"
    "Crime type,Last outcome category,Context\n"
)
HEADER_2011 = "Month,Reported by,Falls within,Easting,Northing,Location,Crime type,Context\n"


def _street_row(cid, lon, lat, crime="Burglary", month="2020-01", where="On or near X"):
    return f"{cid},{month},F,F,{lon},{lat},{where},E01,N 001A,{crime},Under investigation,\n"


def _row_2011(e, n, month="2011-02", crime="Burglary"):
    return f"{month},WMP,WMP,{e},{n},On or near Y,{crime},\n"


def check_accounting(table) -> None:
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
        check_accounting(table)
        assert table.crs == "EPSG:27700"
        assert table.frame["incident_id"].is_unique
        assert list(table.frame.columns[: len(INCIDENT_COLUMNS)]) == list(INCIDENT_COLUMNS)


def test_leicestershire_two_years(test_data):
    table = gd.read_incidents(test_data / "police_uk" / "leicestershire")
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


def test_police_uk_street_matches_a_plain_pandas_reading(test_data):
    """Every accepted field equals what pandas reads from the file (the slow, obvious way)."""
    path = sorted((test_data / "police_uk" / "leicestershire").glob("*.csv.gz"))[0]
    table = gd.read_incidents(path)
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    rows = table.frame["source_row"].to_numpy() - 1
    ref = raw.iloc[rows].reset_index(drop=True)
    f = table.frame
    given = ref["Crime ID"] != ""
    assert (
        f["incident_id"][given.to_numpy()].to_numpy() == ref["Crime ID"][given].to_numpy()
    ).all()
    assert (f["location_label"].astype(str).to_numpy() == ref["Location"].to_numpy()).all()
    assert (f["raw_location"].astype(str).to_numpy() == ref["Location"].to_numpy()).all()
    assert (f["raw_lsoa_code"].astype(str).to_numpy() == ref["LSOA code"].to_numpy()).all()
    lon, lat = ref["Longitude"].astype(float).to_numpy(), ref["Latitude"].astype(float).to_numpy()
    from pyproj import Transformer

    x, y = Transformer.from_crs(4326, 27700, always_xy=True).transform(lon, lat)
    np.testing.assert_array_equal(f["x"].to_numpy(), x)
    np.testing.assert_array_equal(f["y"].to_numpy(), y)
    keys = [f"pt:{a:.6f},{b:.6f}" for a, b in zip(np.round(lon, 6), np.round(lat, 6), strict=True)]
    assert f["location_key"].tolist() == keys
    assert (f["occurred"] == pd.to_datetime(ref["Month"], format="%Y-%m")).all()
    assert str(f["occurred"].dtype) == "datetime64[ns]"
    assert f["x"].dtype == np.float64 and f["y"].dtype == np.float64


def test_memory_per_incident_on_real_police_uk_rows(data_dir):
    table = gd.read_incidents(data_dir / "incidents" / "leicestershire")
    per = table.frame.memory_usage(deep=True).sum() / len(table.frame)
    assert per <= 300, f"{per:.0f} bytes per incident"
    # low-cardinality text is categorical, sorted so that it sorts like the text
    for col in ("date_precision", "location_label", "source_file", "raw_lsoa_name"):
        cats = table.frame[col].cat.categories
        assert list(cats) == sorted(cats)
    # columns downstream code counts and maps as text stay text
    for col in ("incident_id", "crime_type", "location_key"):
        assert not isinstance(table.frame[col].dtype, pd.CategoricalDtype)


def test_west_midlands_2011_old_format(test_data):
    table = gd.read_incidents(
        test_data / "police_uk/west_midlands/2011-02-west-midlands-street.csv.gz"
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
    assert table.frame["location_label"].iloc[0].startswith("On or near")


def test_west_midlands_2011_per_district_counts(test_data):
    from geodemand.ingest.areas import assign_areas, read_areas

    table = gd.read_incidents(
        test_data / "police_uk/west_midlands/2011-02-west-midlands-street.csv.gz"
    )
    areas = read_areas(test_data / "boundaries/west_midlands/lad2013.geojson", lpu_field="LAD13NM")
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


def test_police_uk_api_csv(test_data):
    path = test_data / "police_uk/west_midlands_api/2018-06-west-midlands-api.csv.gz"
    table = gd.read_incidents(path)
    assert len(table.frame) == 25_094
    assert table.accounting["format"].iloc[0] == "police-uk-api"
    counts = table.frame["crime_type"].value_counts()
    assert counts["violence-and-sexual-offences"] == 6_783
    assert counts["anti-social-behaviour"] == 4_464
    assert table.frame["location_key"].nunique() == 11_432
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    label = raw["street_name"].iloc[table.frame["source_row"].to_numpy() - 1].to_numpy()
    assert (table.frame["location_label"].astype(str).to_numpy() == label).all()
    forced = gd.read_incidents(path, force_only=True)
    assert len(forced.frame) == 24_914
    assert (forced.rejects["reason"] == "not_force_record").sum() == 180


def test_police_uk_api_json_and_json_lines(tmp_path):
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
    lines = tmp_path / "api.jsonl"
    lines.write_text("\n".join(json.dumps(r) for r in records) + "\n[1, 2]\n")
    for p in (path, lines):
        table = gd.read_incidents(p)
        check_accounting(table)
        assert table.frame["crime_type"].tolist() == ["burglary", "violence-and-sexual-offences"]
        assert table.frame["incident_id"].tolist() == ["101", "102"]
        assert table.frame["location_label"].tolist() == ["On or near A", "On or near B"]
    # the JSON list: one record without a location; JSON lines: also a line that is a list
    assert table.rejects["reason"].tolist() == ["missing_coordinates", "malformed_record"]
    assert table.rejects["source_row"].tolist() == [3, 4]


def test_generic_csv_chicago_lonlat_goes_to_utm(test_data):
    table = gd.read_incidents(
        test_data / "incidents/chicago/chicago_aggravated_assaults.csv.gz",
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


def test_generic_headerless_projected_csv(test_data):
    table = gd.read_incidents(
        test_data / "incidents/chicago/steenbeek_chicago_arson.csv",
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
    first = pd.read_csv(test_data / "incidents/chicago/steenbeek_chicago_arson.csv", header=None)
    np.testing.assert_allclose(table.frame["x"].to_numpy(), first[0].to_numpy())


def test_memphis_types_alias_mapping_and_strictness(test_data, tmp_path):
    path = test_data / "incidents/memphis/memphis_robberies_2019.csv.gz"
    table = gd.read_incidents(path)  # "personal robbery" is a known CODE alias
    assert len(table.frame) == 2_245 and set(table.frame["crime_type"]) == {"robbery"}
    raw = pd.read_csv(path)
    raw.loc[:9, "offense_type"] = "alien abduction"
    raw.loc[10:11, "offense_type"] = "  "
    bad = tmp_path / "m.csv"
    raw.to_csv(bad, index=False)
    strict = gd.read_incidents(bad)  # strict by default
    assert (strict.rejects["reason"] == "unknown_crime_type").sum() == 12
    assert strict.rejects["detail"].str.contains("'alien abduction'").sum() == 10
    assert strict.rejects["detail"].str.contains("empty").sum() == 2
    assert not strict.unknown_crime_types
    loose = gd.read_incidents(bad, strict_types=False)
    assert loose.unknown_crime_types == {"alien abduction": 10}
    assert (loose.rejects["reason"] == "unknown_crime_type").sum() == 2  # empty: always
    mapped = gd.read_incidents(bad, crime_type_mapping={"alien abduction": "other-crime"})
    assert (mapped.frame["crime_type"] == "other-crime").sum() == 10
    with pytest.raises(InvalidParameterError, match="not a canonical type"):
        gd.read_incidents(bad, crime_type_mapping={"alien abduction": "ufo"})


def test_vector_formats_round_trip(tmp_path, test_data):
    table = gd.read_incidents(test_data / "incidents/memphis/memphis_robberies_2019.csv.gz")
    gdf = table.to_geodataframe()[["incident_id", "occurred", "crime_type", "geometry"]]
    for name in ("r.geojson", "r.gpkg", "r.parquet"):
        path = tmp_path / name
        if name.endswith(".parquet"):
            gdf.to_parquet(path)
        else:
            gdf.to_file(path)
        back = gd.read_incidents(path, crs=table.crs)
        check_accounting(back)
        assert len(back.frame) == 2_245
        np.testing.assert_allclose(back.frame["x"], table.frame["x"], atol=1e-3)
        assert (back.frame["crime_type"] == "robbery").all()
        assert (back.frame["incident_id"].to_numpy() == table.frame["incident_id"].to_numpy()).all()


def test_dataframes_and_geodataframes_are_read_directly(test_data):
    path = test_data / "incidents/memphis/memphis_robberies_2019.csv.gz"
    from_file = gd.read_incidents(path)
    frame = pd.read_csv(path)
    from_frame = gd.read_incidents(frame)
    np.testing.assert_array_equal(from_frame.frame["x"], from_file.frame["x"])
    assert from_frame.frame["incident_id"].tolist() == from_file.frame["incident_id"].tolist()
    assert from_frame.sources[0]["sha256"] is None
    gdf = from_file.to_geodataframe()
    back = gd.read_incidents(gdf)
    check_accounting(back)
    np.testing.assert_allclose(back.frame["x"], from_file.frame["x"], atol=1e-6)
    assert back.crs == from_file.crs
    # a GeoDataFrame in lon/lat is projected, as files are
    ll = gdf.to_crs(4326)
    assert gd.read_incidents(ll).crs == from_file.crs
    # both in one list
    both = gd.read_incidents([frame, gdf])
    assert len(both.frame) == 2_245 and (both.rejects["reason"] == "duplicate_id").sum() == 2_245


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


def test_files_that_are_not_incident_data_are_skipped_and_reported(tmp_path, data_dir):
    (tmp_path / "m1.csv").write_text(STREET_HEADER + _street_row("a", -1.9, 52.48))
    (tmp_path / "README.txt").write_text("Monthly crime files.\nSee data.police.uk.\n")
    (tmp_path / "metadata.json").write_text(json.dumps({"force": "WMP", "months": 2}))
    (tmp_path / "notes.md").write_text("# notes\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "junk.csv").write_bytes(b"\x00\x01\x02" * 50)
    (tmp_path / "bad.csv.gz").write_bytes(b"not gzip at all")
    gdf = gpd.read_file(data_dir / "boundaries/west-midlands/lpus.geojson")
    gdf.to_file(tmp_path / "lpus.gpkg")
    table = gd.read_incidents(tmp_path)
    check_accounting(table)
    assert len(table.frame) == 1
    skipped = {s["path"].split("/")[-1] for s in table.skipped}
    assert skipped == {
        "README.txt",
        "metadata.json",
        "notes.md",
        "empty.csv",
        "junk.csv",
        "bad.csv.gz",
        "lpus.gpkg",
    }
    acc = table.accounting.set_index("file")
    assert (acc.loc[[s["path"] for s in table.skipped], "format"] == "skipped").all()
    # named explicitly, a file that is not incident data is an error
    with pytest.raises(InputFormatError, match="README.txt"):
        gd.read_incidents(tmp_path / "README.txt")
    with pytest.raises(InputFormatError, match="holds no points"):
        gd.read_incidents(tmp_path / "lpus.gpkg")
    # a folder of nothing but such files: a clear error
    (tmp_path / "m1.csv").unlink()
    with pytest.raises(InputFormatError, match="no incident data found"):
        gd.read_incidents(tmp_path)


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
        _street_row("old", -1.9, 52.48, month="0001-01"),
        _street_row("null", 0, 0),
        "a,b,c\n",
        _street_row("ok2", -1.92, 52.47),
    ]
    path = tmp_path / "bad.csv"
    path.write_text(STREET_HEADER + "".join(rows))
    table = gd.read_incidents(path)
    check_accounting(table)
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
        11: "unknown_crime_type",
        12: "date_out_of_range",
        13: "coordinates_outside_crs_area",
        14: "malformed_record",
    }
    assert table.frame["incident_id"].tolist() == ["ok1", "ok2"]
    raw = json.loads(table.rejects.set_index("source_row").loc[3, "raw"])
    assert raw["Longitude"] == "abc" and raw["Crime ID"] == "text"
    assert json.loads(table.rejects.set_index("source_row").loc[14, "raw"]) == ["a", "b", "c"]
    detail = table.rejects.set_index("source_row")["detail"]
    assert "Alien abduction" in detail[11]
    assert "line 15" in detail[14] and "3 field(s), expected 12" in detail[14]
    loose = gd.read_incidents(path, strict_types=False)
    assert loose.unknown_crime_types == {"Alien abduction": 1}


@pytest.mark.parametrize("month", ["0001-01", "9999-12", "2262-04", "1899-12", "2262-05"])
def test_out_of_range_dates_are_rejected_never_wrapped(tmp_path, month):
    path = tmp_path / "d.csv"
    path.write_text(
        STREET_HEADER + _street_row("a", -1.9, 52.48, month=month) + _street_row("b", -1.9, 52.48)
    )
    table = gd.read_incidents(path)
    check_accounting(table)
    assert table.rejects["reason"].tolist() == ["date_out_of_range"]
    lo, hi = default_date_range()
    assert f"{lo:%Y-%m-%d} to {hi:%Y-%m-%d}" in table.rejects["detail"].iloc[0]
    assert table.frame["occurred"].tolist() == [pd.Timestamp("2020-01-01")]
    assert table.params["date_range"] == [f"{lo:%Y-%m-%d}", f"{hi:%Y-%m-%d}"]


def test_date_range_is_configurable_and_checked(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text(
        "id,date,type,lon,lat\n1,1850-03-01,burglary,-1.9,52.48\n2,2020-01-02 10:30,burglary,"
        "-1.9,52.48\n3,02/01/2020,burglary,-1.9,52.48\n4,2020-01-02T10:30:00+01:00,burglary,"
        "-1.9,52.48\n5,12,burglary,-1.9,52.48\n"
    )
    table = gd.read_incidents(path, date_range=("1800-01-01", "2030-01-01"))
    assert table.frame["occurred"].tolist() == [
        pd.Timestamp("1850-03-01"),
        pd.Timestamp("2020-01-02 10:30"),
        pd.Timestamp("2020-01-02"),
        pd.Timestamp("2020-01-02 09:30"),
    ]
    assert table.frame["date_precision"].astype(str).tolist() == ["day", "minute", "day", "minute"]
    # "12" is not a date (never "the 12th of this month")
    assert table.rejects["reason"].tolist() == ["unparseable_date"]
    default = gd.read_incidents(path)
    assert default.rejects["reason"].tolist() == ["date_out_of_range", "unparseable_date"]
    for bad in [("2020", "2010"), ("1500-01-01", "2000-01-01"), ("x", "2000")]:
        with pytest.raises(InvalidParameterError, match="date_range"):
            gd.read_incidents(path, date_range=bad)


def test_a_whole_file_with_lon_lat_swapped_is_refused(tmp_path):
    rows = [_street_row(f"s{i}", 52.4 + i / 1000, -1.9) for i in range(20)]
    path = tmp_path / "swapped.csv"
    path.write_text(STREET_HEADER + "".join(rows))
    with pytest.raises(InputFormatError, match="swapped") as info:
        gd.read_incidents(path)
    assert "swapped.csv" in str(info.value) and "Longitude/Latitude" in str(info.value)
    generic = tmp_path / "g.csv"
    generic.write_text(
        "id,date,type,lon,lat\n"
        + "".join(f"{i},2020-01-0{1 + i % 9},burglary,{52.4 + i / 100},{-1.9}\n" for i in range(10))
    )
    with pytest.raises(InputFormatError, match="swapped"):
        gd.read_incidents(generic)
    # a few swapped rows in a good file are rejected one by one, the file is read
    mixed = tmp_path / "mixed.csv"
    mixed.write_text(
        STREET_HEADER
        + "".join(rows[:3])
        + "".join(_street_row(f"g{i}", -1.9, 52.4 + i / 1000) for i in range(10))
    )
    table = gd.read_incidents(mixed)
    assert (table.rejects["reason"] == "likely_swapped_lon_lat").sum() == 3
    assert table.crs == "EPSG:27700"


def test_easting_northing_that_cannot_be_in_britain_are_rejected(tmp_path):
    path = tmp_path / "en.csv"
    rows = [
        _row_2011(408_811, 284_398),  # Birmingham
        _row_2011(0, 0),  # the placeholder
        _row_2011(-1.9, 52.48),  # lon/lat typed into E/N
        _row_2011(52.48, -1.9),
        _row_2011(1_000, 1_000),  # the sea off Scilly
        _row_2011(700_000, 300_000),  # the North Sea
        _row_2011(408_811, 1_300_000),
        _row_2011(80_717, 6_399),  # Bishop Rock, the southernmost of Britain's land
    ]
    path.write_text(HEADER_2011 + "".join(rows))
    table = gd.read_incidents(path)
    check_accounting(table)
    assert table.frame["source_row"].tolist() == [1, 8]
    assert set(table.rejects["reason"]) == {"coordinates_outside_crs_area"}
    detail = table.rejects.set_index("source_row")["detail"]
    assert "placeholder" in detail[2]
    assert "looks like longitude/latitude" in detail[3] and "Easting/Northing" in detail[3]
    assert "Great Britain's land" in detail[5]


def test_study_area_rejects_points_outside_it(tmp_path, data_dir):
    lpus = data_dir / "boundaries/west-midlands/lpus.geojson"
    rows = [
        _street_row("bham", -1.8904, 52.4862),
        _street_row("edge", -1.95, 52.40),
        _street_row("leeds", -1.5491, 53.8008),  # in Britain, far from the West Midlands
    ]
    path = tmp_path / "s.csv"
    path.write_text(STREET_HEADER + "".join(rows))
    plain = gd.read_incidents(path)
    assert len(plain.frame) == 3
    table = gd.read_incidents(path, study_area=lpus)
    check_accounting(table)
    assert table.rejects["reason"].tolist() == ["outside_study_area"]
    assert "2,000 m outside the study area" in table.rejects["detail"].iloc[0]
    areas = gd.read_areas(lpus)
    again = gd.read_incidents(path, study_area=areas, study_area_buffer_m=0)
    assert again.frame["incident_id"].tolist() == table.frame["incident_id"].tolist()
    box = gd.read_incidents(path, study_area=(-2.2, 52.3, -1.4, 52.7))
    assert len(box.frame) == 2
    # a file swapped relative to the study area is refused, wherever it is
    swapped = tmp_path / "sw.csv"
    swapped.write_text(
        STREET_HEADER + "".join(_street_row(f"s{i}", 52.45 + i / 1000, -1.9) for i in range(5))
    )
    with pytest.raises(InputFormatError, match="study area"):
        gd.read_incidents(swapped, study_area=lpus)
    with pytest.raises(InvalidParameterError, match="study_area"):
        gd.read_incidents(path, study_area=42)


def test_accepted_points_lie_in_the_crs_area(tmp_path):
    rng = np.random.default_rng(5)
    lon = rng.uniform(-180, 180, 400)
    lat = rng.uniform(-90, 90, 400)
    lon[:200], lat[:200] = rng.uniform(-3, 0, 200), rng.uniform(51, 54, 200)
    path = tmp_path / "g.csv"
    body = "".join(
        f"{i},2020-01-02,burglary,{a},{b}\n" for i, (a, b) in enumerate(zip(lon, lat, strict=True))
    )
    path.write_text("id,date,type,lon,lat\n" + body)
    table = gd.read_incidents(path)
    check_accounting(table)
    w, s, e, n = crs_area_bounds(table.crs)
    from pyproj import Transformer

    glon, glat = Transformer.from_crs(table.crs, 4326, always_xy=True).transform(
        table.frame["x"].to_numpy(), table.frame["y"].to_numpy()
    )
    assert ((glon >= w) & (glon <= e) & (glat >= s) & (glat <= n)).all()
    assert len(table.frame) >= 200


def test_semicolon_csv_with_decimal_commas(tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text(
        "Crime ID;Month;Reported by;Falls within;Longitude;Latitude;Location;LSOA code;LSOA name;"
        "Crime type;Last outcome category;Context\n"
        "a1;2020-01;F;F;-1,90;52,48;On or near X;E01;N;Burglary;"
        '"Investigation complete; no suspect identified";\n'
        "a2;2020-01;F;F;-1.91;52.49;On or near Y;E01;N;Robbery;;\n"
    )
    table = gd.read_incidents(path)
    check_accounting(table)
    assert table.accounting["format"].iloc[0] == "police-uk-street"
    assert table.frame["incident_id"].tolist() == ["a1", "a2"]
    assert table.frame["raw_last_outcome_category"].iloc[0] == (
        "Investigation complete; no suspect identified"
    )
    ref = gd.read_incidents(
        _write(tmp_path / "c.csv", STREET_HEADER + _street_row("a1", -1.9, 52.48))
    )
    assert table.frame["x"].iloc[0] == ref.frame["x"].iloc[0]
    tab = _write(
        tmp_path / "t.tsv", "id\tdate\ttype\tlon\tlat\n1\t2020-01-02\tburglary\t-1.9\t52.48\n"
    )
    assert len(gd.read_incidents(tab).frame) == 1


def _write(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"\x00\x01\x02binary\x00junk" * 10, "binary"),
        (b"Month,Foo\n2020-01,1\n", "no date column|no crime-type column|coordinate"),
        (b'{"a": 1}', "JSON object"),
        (b"[1, 2, 3]", "no objects"),
        (b"[]", "empty"),
        (b'[{"a": ', "invalid JSON"),
        (b'{"a": 1}\n{"b": ', "no date column|JSON"),
        (
            STREET_HEADER.encode()
            + b'x,2020-01,F,F,-1.9,"52.4,N,E,N,Burglary,,\n'
            + _street_row("y", -1.9, 52.4).encode(),
            "line 2: a quoted field opens here",
        ),
        (b'"Crime ID,Month,Longitude\n1,2,3\n', "line 1: a quoted field opens here"),
        (
            b"Crime ID,Month,Month ,Longitude,Latitude,Location,Crime type\n1,2020-01,2020-01,-1.9,"
            b"52.4,X,Burglary\n",
            "more than once",
        ),
    ],
)
def test_malformed_files_give_one_clear_error(tmp_path, content, message):
    path = tmp_path / "f.csv"
    path.write_bytes(content)
    with pytest.raises(InputFormatError, match=message) as info:
        gd.read_incidents(path)
    assert str(path) in str(info.value)


def test_header_names_that_repeat_outside_the_mapping_are_kept(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("id,date,type,lon,lat,note, note\n1,2020-01-02,burglary,-1.9,52.48,a,b\n")
    table = gd.read_incidents(path)
    assert table.frame[["raw_note", "raw_note_2"]].astype(str).iloc[0].tolist() == ["a", "b"]


def test_windows_1252_and_bom_and_crlf(tmp_path):
    text = STREET_HEADER + _street_row("a", -1.9, 52.48, where="On or near Café Row")
    path = tmp_path / "w.csv"
    path.write_bytes(text.replace("\n", "\r\n").encode("cp1252"))
    table = gd.read_incidents(path)
    assert table.frame["location_label"].iloc[0] == "On or near Café Row"
    bom = tmp_path / "b.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert gd.read_incidents(bom).frame["incident_id"].tolist() == ["a"]


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


def test_bad_parameters_fail_before_reading(tmp_path):
    path = tmp_path / "never-read.csv"
    for kwargs, message in [
        ({"crs": "EPSG:99999"}, "EPSG:99999"),
        ({"crs": "EPSG:4326"}, "not projected"),
        ({"format": "xls"}, "format"),
        ({"mapping": {"colour": "x"}}, "mapping"),
        ({"mapping": {"x": "a", "y": "b", "crs": "nonsense"}}, "nonsense"),
        ({"study_area_buffer_m": -1, "study_area": (0, 0, 1, 1)}, "study_area_buffer_m"),
    ]:
        with pytest.raises(GeodemandError, match=message):
            gd.read_incidents(path, **kwargs)


def test_lonlat_input_outside_britain_is_announced_utm(tmp_path, caplog):
    path = tmp_path / "x.csv"
    path.write_text("id,date,type,lon,lat\n1,2020-01-02 10:00,burglary,2.35,48.85\n")
    with caplog.at_level("INFO", logger="geodemand"):
        table = gd.read_incidents(path)
    assert table.crs == "EPSG:32631"
    assert any("UTM zone 31N" in r.message for r in caplog.records)


def test_generic_location_label_is_the_mapped_text(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text(
        "id,date,type,lon,lat,address_id,street\n"
        "1,2020-01-02,burglary,-1.9,52.48, A17 ,High St\n"
        "2,2020-01-03,burglary,-1.9,52.48,B2,Low St\n"
    )
    table = gd.read_incidents(path)
    assert table.frame["location_key"].tolist() == ["id:A17", "id:B2"]
    assert table.frame["location_label"].tolist() == ["A17", "B2"]
    mapped = gd.read_incidents(
        path,
        mapping={
            "id": "id",
            "date": "date",
            "crime_type": "type",
            "lon": "lon",
            "lat": "lat",
            "location": "address_id",
            "location_label": "street",
        },
    )
    assert mapped.frame["location_label"].tolist() == ["High St", "Low St"]
    assert mapped.frame["raw_street"].tolist() == ["High St", "Low St"]


def test_own_output_reads_back_verbatim(tmp_path, test_data):
    from geodemand.ingest.write import write_incidents

    table = gd.read_incidents(
        test_data / "police_uk/west_midlands_api/2018-06-west-midlands-api.csv.gz"
    )
    path = write_incidents(table, tmp_path / "out.parquet")
    back = gd.read_incidents(path, crs=table.crs)
    check_accounting(back)
    assert back.frame["location_key"].tolist() == table.frame["location_key"].tolist()
    assert back.frame["location_label"].astype(str).tolist() == (
        table.frame["location_label"].astype(str).tolist()
    )
    np.testing.assert_allclose(back.frame["x"], table.frame["x"], atol=1e-6)
    assert (back.frame["occurred"] == table.frame["occurred"]).all()


def test_input_is_not_mutated_and_output_is_deterministic(test_data):
    path = test_data / "police_uk/west_midlands_api/2018-06-west-midlands-api.csv.gz"
    a = gd.read_incidents(path).frame
    b = gd.read_incidents(path).frame
    pd.testing.assert_frame_equal(a, b)
    frame = pd.read_csv(path)
    before = frame.copy()
    gd.read_incidents(frame)
    pd.testing.assert_frame_equal(frame, before)


def test_canonical_columns_come_first():
    assert INCIDENT_COLUMNS[: len(CANONICAL_COLUMNS)] == CANONICAL_COLUMNS
    assert INCIDENT_COLUMNS[-1] == "location_label"


def test_point_and_other_geometries_in_one_layer(tmp_path):
    gdf = gpd.GeoDataFrame(
        {"id": ["p", "l", "e"], "date": ["2020-01-02"] * 3, "type": ["burglary"] * 3},
        geometry=[shapely.Point(-1.9, 52.48), shapely.LineString([(0, 0), (1, 1)]), None],
        crs=4326,
    )
    gdf.to_file(tmp_path / "v.geojson")
    table = gd.read_incidents(tmp_path / "v.geojson")
    check_accounting(table)
    assert table.frame["incident_id"].tolist() == ["p"]
    got = dict(zip(table.rejects["source_row"], table.rejects["reason"], strict=True))
    assert got == {2: "non_point_geometry", 3: "missing_coordinates"}


def test_utf16_excel_text_is_read(tmp_path):
    text = "id\tdate\ttype\tlon\tlat\n1\t2020-01-02\tburglary\t-1.9\t52.48\n"
    path = tmp_path / "u.txt"
    path.write_bytes(text.encode("utf-16"))
    assert gd.read_incidents(path).frame["incident_id"].tolist() == ["1"]


def test_degrees_mapped_as_x_y_and_contradicting_mappings(tmp_path):
    frame = pd.DataFrame(
        {
            "id": [1, 2],
            "date": ["2020-01-02"] * 2,
            "type": ["burglary", ["not", "hashable"]],
            "x": [-1.9, -1.8],
            "y": [52.48, 52.5],
        }
    )
    base = {"id": "id", "date": "date", "crime_type": "type"}
    table = gd.read_incidents(frame, mapping={**base, "x": "x", "y": "y", "crs": "EPSG:4326"})
    assert table.crs == "EPSG:27700" and table.frame["incident_id"].tolist() == ["1"]
    assert table.rejects["reason"].tolist() == ["unknown_crime_type"]
    with pytest.raises(InputFormatError, match="geographic CRS"):
        gd.read_incidents(frame, mapping={**base, "lon": "x", "lat": "y", "crs": "EPSG:27700"})


def test_files_without_any_usable_coordinate(tmp_path):
    police = tmp_path / "p.csv"
    police.write_text(STREET_HEADER + _street_row("a", "", "") + _street_row("b", "x", "y"))
    table = gd.read_incidents(police)  # police.uk data are British: every record rejected
    check_accounting(table)
    assert table.crs == "EPSG:27700" and len(table.frame) == 0
    assert table.rejects["reason"].tolist() == ["missing_coordinates", "non_numeric_coordinates"]
    generic = tmp_path / "g.csv"
    generic.write_text("id,date,type,lon,lat\n1,2020-01-02,burglary,,\n")
    with pytest.raises(InputFormatError, match="g.csv: no record has usable coordinates"):
        gd.read_incidents(generic)
    assert len(gd.read_incidents(generic, crs="EPSG:27700").rejects) == 1
    header_only = tmp_path / "h.csv"
    header_only.write_text(STREET_HEADER)
    empty = gd.read_incidents(header_only)
    assert len(empty.frame) == 0 and empty.accounting["read"].iloc[0] == 0
