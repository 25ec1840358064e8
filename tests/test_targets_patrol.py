"""Targets and patrol areas: scores explained, ethics defaults, RFC 7946 export, CLI."""

from __future__ import annotations

import json

import geopandas as gpd
import jsonschema
import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner

import geodemand as gd
from geodemand.cli import main
from geodemand.decide.patrol import patrol_areas
from geodemand.decide.targets import COMPONENTS, DEFAULT_WEIGHTS
from geodemand.errors import InvalidParameterError
from geodemand.outputs.control_plans import control_plan_sheet
from geodemand.outputs.vector import to_rfc7946, write_patrol_areas


@pytest.fixture(scope="module")
def wm_month(wm_areas, data_dir):
    table = gd.read_incidents(data_dir / "incidents/west-midlands/2018-06-west-midlands-api.csv.gz")
    return gd.assign_areas(table, wm_areas)


@pytest.fixture(scope="module")
def ranking(wm_month):
    return gd.rank_targets(wm_month)


@pytest.fixture(scope="module")
def plan(ranking, wm_areas):
    return patrol_areas(ranking, None, wm_areas)


def test_score_is_the_documented_sum_of_reported_components(ranking):
    for table in (ranking.places, ranking.cells):
        comps = np.column_stack([table[f"score_{c}"] for c in COMPONENTS])
        np.testing.assert_allclose(comps.sum(axis=1), table["score"], rtol=0, atol=1e-12)
        assert table["score"].between(0, 1 + 1e-12).all()
        # each component is its weight times a value in [0, 1]
        for c in COMPONENTS:
            assert table[f"score_{c}"].between(0, DEFAULT_WEIGHTS[c] + 1e-12).all()
    p = ranking.places
    # the harm component is the recency-weighted harm over the LPU's largest
    top = p.groupby("lpu")["harm_recent"].transform("max")
    np.testing.assert_allclose(p["score_harm"], 0.4 * p["harm_recent"] / top)
    np.testing.assert_allclose(p["score_recency"], 0.1 * p["harm_recent"] / p["harm"])
    assert (p["repeats"] == p["incidents"] - 1).all()


def test_ranks_are_deterministic_and_ordered(ranking, wm_month):
    again = gd.rank_targets(wm_month)
    pd.testing.assert_frame_equal(ranking.places, again.places)
    for _, grp in ranking.places.groupby("lpu"):
        assert grp["rank"].tolist() == list(range(1, len(grp) + 1))
        assert grp["score"].is_monotonic_decreasing
    assert sorted(ranking.places["force_rank"]) == list(range(1, len(ranking.places) + 1))
    # shuffling the input rows does not change the ranking
    shuffled = wm_month.frame.sample(frac=1.0, random_state=3)
    shuffled.attrs = dict(wm_month.frame.attrs)
    again = gd.rank_targets(shuffled)
    pd.testing.assert_frame_equal(
        ranking.places[["lpu", "rank", "location_key"]],
        again.places[["lpu", "rank", "location_key"]],
    )


def test_police_generated_excluded_by_default_and_reported(ranking, wm_month):
    assert ranking.excluded == {"drugs": 388, "possession-of-weapons": 207}
    assert not ranking.incidents["crime_type"].isin(["drugs", "possession-of-weapons"]).any()
    assert "n_drugs" not in ranking.places.columns
    included = gd.rank_targets(wm_month, include_police_generated=True)
    assert included.excluded == {}
    assert included.params["incidents_scored"] == ranking.params["incidents_scored"] + 595


def test_places_not_people(ranking):
    forbidden = {"name", "person", "offender", "victim", "suspect", "age", "gender", "ethnicity"}
    for table in (ranking.places, ranking.cells, ranking.targets_table()):
        assert not forbidden & {c.lower() for c in table.columns}


def test_more_recent_demand_ranks_higher():
    rows = []
    for i in range(4):  # place A: 4 burglaries two years ago; place B: 4 burglaries last month
        rows.append(("A", "2023-01-15", 400_000.0, 290_000.0, i))
        rows.append(("B", "2024-12-15", 402_000.0, 290_000.0, i))
    rows.append(("C", "2024-12-31", 404_000.0, 290_000.0, 0))
    frame = pd.DataFrame(rows, columns=["location_key", "occurred", "x", "y", "i"])
    frame["occurred"] = pd.to_datetime(frame["occurred"])
    frame["incident_id"] = [f"id{i}" for i in range(len(frame))]
    frame["crime_type"] = "burglary"
    frame["lpu"] = "L"
    frame["neighbourhood"] = "N"
    frame["date_precision"] = "day"
    frame.attrs["crs"] = "EPSG:27700"
    r = gd.rank_targets(frame, window_end="2024-12-31")
    order = r.places.sort_values("rank")["location_key"].tolist()
    assert order[0] == "B" and order.index("A") > 0
    a, b = (r.places.set_index("location_key").loc[k] for k in ("A", "B"))
    assert b["harm_recent"] > 1.9 * a["harm_recent"]  # half-life 365 days, ~2 years apart
    with pytest.raises(InvalidParameterError, match="weights"):
        gd.rank_targets(frame, weights={"harm": 1.0})


def test_patrol_areas_attributes_and_lpu_edges(plan, wm_areas):
    a = plan.areas
    assert len(a) > 0 and a["area_id"].is_unique
    lpu_geom = wm_areas.lpus.set_index("lpu").geometry
    for _, row in a.iterrows():
        # never crosses an LPU edge (up to floating-point slivers)
        outside = row.geometry.difference(lpu_geom[row["lpu"]]).area
        assert outside < 1e-3
        assert row["area_km2"] <= 0.25 + 1e-9
    assert (a["minutes_per_visit"] == 15.0).all()
    assert (a["visits_per_day"] >= 1).all()
    assert set(a["review_date"]) == {"2018-06-29"}
    assert {
        "incidents_burglary",
        "harm_burglary",
        "share_lpu_harm",
        "neighbourhoods",
        "window_start",
        "window_end",
    } <= set(a.columns)
    for _, grp in a.groupby("lpu"):
        assert grp["rank"].tolist() == list(range(1, len(grp) + 1))
    s = plan.lpu_summary
    assert (s["share_of_harm"] > s["share_of_area"]).all()  # targeting concentrates harm


def test_large_areas_are_split(ranking, wm_areas):
    small = patrol_areas(ranking, None, wm_areas, max_area_km2=0.005, top_n=3)
    assert (small.areas["area_km2"] <= 0.005 + 1e-9).all()
    assert len(small.areas) > len(patrol_areas(ranking, None, wm_areas, top_n=3).areas)


def test_dosage_follows_harm_share_and_budget(plan):
    a = plan.areas
    for _, grp in a.groupby("lpu"):
        share = grp["harm"] / grp["harm"].sum()
        expected = np.maximum(1.0, np.round(8 * 60 * share / 15, 1))
        np.testing.assert_allclose(grp["visits_per_day"], expected)


RFC7946_SCHEMA = {
    "type": "object",
    "required": ["type", "features"],
    "not": {"required": ["crs"]},
    "properties": {
        "type": {"const": "FeatureCollection"},
        "bbox": {"type": "array", "minItems": 4, "maxItems": 4},
        "features": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "properties", "geometry"],
                "properties": {
                    "type": {"const": "Feature"},
                    "properties": {"type": "object"},
                    "geometry": {
                        "type": "object",
                        "required": ["type", "coordinates"],
                        "properties": {
                            "type": {"enum": ["Polygon", "MultiPolygon"]},
                            "coordinates": {"type": "array", "minItems": 1},
                        },
                    },
                },
            },
        },
    },
}


def test_geojson_follows_rfc7946_and_round_trips(plan, tmp_path):
    path = write_patrol_areas(plan, tmp_path / "patrol_areas.geojson")
    doc = json.loads(path.read_text())
    jsonschema.validate(doc, RFC7946_SCHEMA)
    assert "crs" not in doc
    for feature in doc["features"]:
        geom = shapely.geometry.shape(feature["geometry"])
        assert geom.is_valid
        for poly in shapely.get_parts(geom):
            assert poly.exterior.is_ccw  # right-hand rule: exterior counter-clockwise
            assert all(not ring.is_ccw for ring in poly.interiors)
        coords = shapely.get_coordinates(geom)
        assert (np.abs(coords[:, 0]) <= 180).all() and (np.abs(coords[:, 1]) <= 90).all()
        assert coords[:, 0].mean() < 0 and 52 < coords[:, 1].mean() < 53  # lon/lat order
        assert np.allclose(coords, np.round(coords, 6))
    back = gpd.read_file(path)
    assert len(back) == len(plan.areas)
    assert back["area_id"].tolist() == plan.areas["area_id"].tolist()
    original = plan.areas.to_crs("EPSG:4326").geometry.values
    assert (shapely.hausdorff_distance(back.geometry.values, original) < 1e-5).all()
    gpkg = write_patrol_areas(plan, tmp_path / "patrol_areas.gpkg")
    assert len(gpd.read_file(gpkg)) == len(plan.areas)
    assert (
        to_rfc7946(plan.areas)["features"][0]["properties"]["area_id"] == plan.areas["area_id"][0]
    )


def test_area_ids_are_stable(ranking, wm_areas, plan):
    again = patrol_areas(ranking, None, wm_areas)
    assert again.areas["area_id"].tolist() == plan.areas["area_id"].tolist()


def test_control_plan_sheet_escapes_and_explains(ranking, plan):
    sheet = control_plan_sheet(ranking, plan, "Coventry")
    assert sheet.startswith("# Control plan: Coventry")
    assert "score_harm" in sheet and "visits_per_day" in sheet and "review_date" in sheet
    assert "drugs (388)" in sheet and "Places, never people" in sheet
    assert "&#x27;" not in sheet and "&amp;" not in sheet  # Markdown escapes, no HTML entities


def test_targets_and_patrol_cli(tmp_path, data_dir):
    inc = str(data_dir / "incidents/west-midlands/2018-06-west-midlands-api.csv.gz")
    runner = CliRunner()
    res = runner.invoke(
        main, ["-q", "targets", "--incidents", inc, "--top", "2", "--out", str(tmp_path / "t")]
    )
    assert res.exit_code == 0, res.output
    assert "score_harm" in res.output and (tmp_path / "t/targets.csv").exists()
    res = runner.invoke(main, ["-q", "patrol", "--incidents", inc, "--out", str(tmp_path / "p")])
    assert res.exit_code == 0, res.output
    names = {p.name for p in (tmp_path / "p").iterdir()}
    assert {
        "patrol_areas.geojson",
        "patrol_areas.gpkg",
        "targets.csv",
        "control_plan_coventry.md",
    } <= names
    assert not any(n.startswith(".") for n in names)  # no temporary files left behind
