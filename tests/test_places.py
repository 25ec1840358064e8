"""Named places: labels, merging, partnership sites, premises, default geocodes."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geodemand.demand.places import place_table, read_premises, site_keywords
from geodemand.errors import BoundaryError, InputFormatError


def incidents(rows):
    f = pd.DataFrame(rows, columns=["location_key", "raw_location", "x", "y", "lpu",
                                    "neighbourhood", "crime_type"])
    f["harm"] = 10.0
    f["occurred"] = pd.Timestamp("2021-01-01")
    f.attrs["crs"] = "EPSG:27700"
    return f


def test_labels_from_police_uk_locations_and_fallback():
    f = incidents([
        ("k1", "On or near Swan Street", 400000.0, 290000.0, "L", "Westcotes", "burglary"),
        ("k2", "", 400500.0, 290000.0, "L", "Westcotes", "burglary"),
    ])
    places, place_of = place_table(f)
    by = places.set_index("place_id")
    assert by.loc["place:k1", "label"] == "Swan Street (Westcotes)"
    assert by.loc["place:k2", "label"].startswith("near Westcotes, 52.")
    assert by.loc["place:k2", "label"].endswith(" W")
    assert list(place_of) == ["place:k1", "place:k2"]
    assert by.loc["place:k1", "lat"] == pytest.approx(52.5, abs=0.5)


def test_same_label_points_within_the_tolerance_merge_complete_linkage():
    # five points along one street, 60 m apart: complete linkage at 150 m keeps groups
    # within 150 m across; a far point with the same label and a near one with another
    # label stay apart
    rows = [(f"s{i}", "On or near High Street", 400000.0 + 60 * i, 290000.0, "L", "N",
             "burglary") for i in range(5)]
    rows += [("far", "On or near High Street", 402000.0, 290000.0, "L", "N", "burglary"),
             ("other", "On or near Low Street", 400030.0, 290000.0, "L", "N", "burglary")]
    places, place_of = place_table(incidents(rows))
    groups = places.set_index("place_id")["members"]
    merged = [m for m in groups if len(m) > 1]
    assert sorted(map(len, merged)) == [2, 3]
    for members in merged:
        xs = [400000.0 + 60 * int(k[1:]) for k in members]
        assert max(xs) - min(xs) <= 150
    assert groups["place:far"] == ["far"] and groups["place:other"] == ["other"]
    assert abs(places["harm"].sum() - 70.0) < 1e-12
    off, _ = place_table(incidents(rows), merge_m=0)
    assert len(off) == 7


def test_partnership_sites_from_labels_streets_excluded():
    rows = [
        ("h", "On or near Leicester Royal Infirmiry", 0.0, 0.0, "L", "N", "violence"),
        ("g", "On or near Glenfield Hospital", 500.0, 0.0, "L", "N", "violence"),
        ("w", "On or near Hospital Way", 1000.0, 0.0, "L", "N", "violence"),
        ("p", "On or near Prison", 1500.0, 0.0, "L", "N", "violence"),
        ("s", "On or near Police Station", 2000.0, 0.0, "L", "N", "violence"),
        ("b", "On or near Haymarket Bus Station", 2500.0, 0.0, "L", "N", "violence"),
        ("l", "On or near School Lane", 3000.0, 0.0, "L", "N", "violence"),
    ]
    f = incidents(rows)
    f["x"] += 400000
    f["y"] += 290000
    places, _ = place_table(f)
    by = places.set_index("place_id")
    assert by.loc[["place:h", "place:g", "place:p", "place:s"], "partnership"].all()
    assert by.loc["place:h", "site_category"] == "hospital"
    assert by.loc["place:p", "site_category"] == "prison"
    assert by.loc["place:s", "site_category"] == "police"
    assert not by.loc["place:w", "partnership"] and not by.loc["place:l", "partnership"]
    assert by.loc["place:b", "site_category"] == "transport hub"
    assert not by.loc["place:b", "partnership"]  # patrol can help at a bus station
    assert "NHS trust" in by.loc["place:h", "partnership_reason"]


def test_outcome_cue_flags_an_institution():
    rows = [("x", "On or near Parking Area", 400000.0, 290000.0, "L", "N", "violence")] * 30
    f = incidents(rows)
    f["raw_last_outcome_category"] = ["Action to be taken by another organisation"] * 12 + [
        "Investigation complete; no suspect identified"] * 18
    places, _ = place_table(f)
    row = places.iloc[0]
    assert row["partnership"] and row["other_org_share"] == pytest.approx(0.4)
    assert "40% of 30 incidents" in row["partnership_reason"]


def test_premises_layer_flags_and_bad_premises(tmp_path):
    f = incidents([("k", "On or near Euston Street", 400000.0, 290000.0, "L", "N", "violence")])
    prem = gpd.GeoDataFrame({"name": ["Euston Street custody"], "type": ["police"]},
                            geometry=[shapely.Point(400050, 290000)], crs="EPSG:27700")
    places, _ = place_table(f, premises=read_premises(prem, "EPSG:27700"))
    assert places.iloc[0]["partnership"] and places.iloc[0]["site_category"] == "police"
    nameless = prem.drop(columns="name")
    with pytest.raises(InputFormatError, match="no 'name' field"):
        read_premises(nameless, "EPSG:27700")
    line = prem.set_geometry([shapely.LineString([(0, 0), (1, 1)])])
    with pytest.raises(BoundaryError, match="feature 1 is a LineString"):
        read_premises(line, "EPSG:27700")
    empty = prem.assign(name=[""])
    with pytest.raises(InputFormatError, match="feature 1, field name: empty"):
        read_premises(empty, "EPSG:27700")
    path = tmp_path / "p.geojson"
    prem.to_file(path)
    assert len(read_premises(path, "EPSG:27700")) == 1
    with pytest.raises(InputFormatError, match="cannot read the premises layer"):
        read_premises(tmp_path / "missing.geojson", "EPSG:27700")


def test_user_keywords_extend_the_list(tmp_path):
    extra = tmp_path / "k.csv"
    extra.write_text("pattern,category,partnership,reason\n\\beuston street\\b,custody,true,"
                     "custody suite\n")
    kw = site_keywords(extra)
    assert kw.match("Euston Street")[0] == "custody"
    bad = tmp_path / "bad.csv"
    bad.write_text("pattern,category\n([,x\n")
    with pytest.raises(InputFormatError, match="row 2, field pattern"):
        site_keywords(bad)


def test_default_geocode_detection():
    months = pd.date_range("2020-01-01", periods=12, freq="MS")
    rows = []
    for m in months:  # one point takes 5 of ~100 incidents every month
        rows += [("dg", "On or near Park/Open Space", 400000.0, 290000.0, m)] * 5
        rows += [(f"p{m.month}_{i}", "On or near Some Road", 401000.0 + 10 * i,
                  290000.0 + m.month, m) for i in range(95)]
    f = pd.DataFrame(rows, columns=["location_key", "raw_location", "x", "y", "occurred"])
    f["lpu"] = "L"
    f["harm"] = 1.0
    f.attrs["crs"] = "EPSG:27700"
    places, _ = place_table(f, merge_m=0, periods=f["occurred"])
    by = places.set_index("place_id")
    assert by.loc["place:dg", "default_geocode"]
    assert by.loc["place:dg", "default_geocode_share"] == 1.0
    assert not by.drop(index="place:dg")["default_geocode"].any()
    assert np.isfinite(by["default_geocode_share"]).all()
