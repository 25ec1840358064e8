"""Patrol areas: own expected harm, force budget, whole visits, caps, hot hours, export."""

from __future__ import annotations

import json

import geopandas as gpd
import jsonschema
import numpy as np
import pandas as pd
import pytest
import shapely

import geodemand as gd
from geodemand.decide.patrol import _apportion, patrol_areas
from geodemand.decide.targets import rank_targets
from geodemand.demand.demand import prepare_demand
from geodemand.errors import InvalidParameterError
from geodemand.outputs.vector import to_rfc7946, write_patrol_areas


@pytest.fixture(scope="module")
def ranking(wm_areas, data_dir):
    table = gd.read_incidents(data_dir / "incidents/west-midlands/2018-06-west-midlands-api.csv.gz")
    return rank_targets(prepare_demand(gd.assign_areas(table, wm_areas)), study_area=wm_areas)


@pytest.fixture(scope="module")
def plan(ranking, wm_areas):
    return patrol_areas(ranking, wm_areas)


def test_visits_are_whole_capped_and_budgets_sum(plan):
    a = plan.areas
    assert (a["visits_per_day"] == a["visits_per_day"].round()).all()
    assert a["visits_per_day"].between(1, 4).all()
    assert (a["minutes_per_day"] == a["visits_per_day"] * 15).all()
    budgets = plan.params["lpu_budget_hours"]
    assert sum(budgets.values()) == pytest.approx(40.0)
    assert min(budgets.values()) >= 1.0
    s = plan.lpu_summary.set_index("lpu")
    spent = a.groupby("lpu")["minutes_per_day"].sum()
    np.testing.assert_allclose(s["budget_hours"] * 60 - spent.reindex(s.index),
                               s["unspent_minutes"])
    assert plan.params["unspent_minutes"] == pytest.approx(40 * 60 - a["minutes_per_day"].sum())
    # shared by expected harm: an LPU with more expected harm gets at least as many hours
    eh = a.groupby("lpu")["expected_harm"].sum()
    order = eh.sort_values().index
    assert pd.Series(budgets).reindex(order).is_monotonic_increasing


def test_rank_is_monotone_in_the_areas_own_expected_harm(plan, ranking):
    a = plan.areas
    for _, grp in a.groupby("lpu"):
        assert grp.sort_values("rank")["expected_harm"].is_monotonic_decreasing
    assert a.sort_values("force_rank")["expected_harm"].is_monotonic_decreasing
    # an area's expected harm is the score of the incidents inside it (no double counting)
    assert (a["expected_harm"] <= ranking.places["expected_harm"].sum()).all()
    assert a["area_id"].is_unique and a["area_id"].str.startswith("area:").all()


def test_areas_stay_inside_their_lpu_and_are_small(plan, wm_areas):
    lpu_geom = wm_areas.lpus.set_index("lpu").geometry
    for _, row in plan.areas.iterrows():
        assert row.geometry.difference(lpu_geom[row["lpu"]]).area < 1e-3
        assert row["area_km2"] <= 0.25 + 1e-9
    assert set(plan.areas["review_date"].astype(str)) == {"2018-07-28"}
    assert plan.areas["hot_hours"].str.contains("police.uk gives months").all()


def test_apportion_whole_visits_largest_remainder():
    assert _apportion(10, np.array([5.0, 3.0, 2.0]), 4).tolist() == [4, 4, 2]
    assert _apportion(12, np.array([10.0, 1.0, 1.0]), 10).tolist() == [10, 1, 1]
    assert _apportion(7, np.array([1.0, 1.0, 1.0]), 4).tolist() == [3, 2, 2]
    assert _apportion(2, np.array([5.0, 3.0, 2.0]), 4).tolist() == [1, 1, 0]
    assert _apportion(30, np.array([1.0, 1.0]), 4).tolist() == [4, 4]
    assert _apportion(0, np.array([1.0]), 4).tolist() == [0]


def test_hot_hours_from_timed_incidents(wm_areas):
    rng = np.random.default_rng(0)
    n = 600
    hours = np.where(rng.random(n) < 0.7, 23, rng.integers(0, 24, n))
    day = pd.Timestamp("2024-01-05")  # a Friday
    occurred = day + pd.to_timedelta(rng.integers(0, 52, n) * 7, unit="D") + pd.to_timedelta(
        hours, unit="h")
    frame = pd.DataFrame({
        "incident_id": [f"i{i}" for i in range(n)], "occurred": occurred,
        "date_precision": "minute", "crime_type": "violence-and-sexual-offences",
        "x": 407500.0 + rng.normal(0, 20, n), "y": 287000.0 + rng.normal(0, 20, n),
        "location_key": "k", "lpu": "Birmingham West and Central", "neighbourhood": "Ladywood",
        "synthetic": True,
    })
    frame.attrs["crs"] = "EPSG:27700"
    ranking = rank_targets(prepare_demand(frame), study_area=wm_areas)
    plan = patrol_areas(ranking, wm_areas, top_n=1)
    assert plan.areas["hot_hours"].iloc[0].startswith("Fri 22:00–24:00")


def test_bad_parameters(ranking, wm_areas):
    for kwargs, match in ((dict(top_n=0), "top_n"), (dict(minutes_per_visit=60), "5-30"),
                          (dict(max_visits_per_day=0), "max_visits_per_day"),
                          (dict(patrol_hours_per_day=-1), "patrol_hours_per_day")):
        with pytest.raises(InvalidParameterError, match=match):
            patrol_areas(ranking, wm_areas, **kwargs)


RFC7946_SCHEMA = {
    "type": "object",
    "required": ["type", "features"],
    "not": {"required": ["crs"]},
    "properties": {
        "type": {"const": "FeatureCollection"},
        "features": {"type": "array", "items": {
            "type": "object", "required": ["type", "properties", "geometry"],
            "properties": {"geometry": {"type": "object", "required": ["type", "coordinates"],
                                        "properties": {"type": {"enum": ["Polygon",
                                                                         "MultiPolygon"]}}}}}},
    },
}


def test_geojson_follows_rfc7946_and_round_trips(plan, tmp_path):
    path = write_patrol_areas(plan, tmp_path / "patrol_areas.geojson")
    doc = json.loads(path.read_text())
    jsonschema.validate(doc, RFC7946_SCHEMA)
    for feature in doc["features"]:
        geom = shapely.geometry.shape(feature["geometry"])
        for poly in shapely.get_parts(geom):
            assert poly.exterior.is_ccw
        coords = shapely.get_coordinates(geom)
        assert coords[:, 0].mean() < 0 and 52 < coords[:, 1].mean() < 53
    back = gpd.read_file(path)
    assert back["area_id"].tolist() == plan.areas["area_id"].tolist()
    assert to_rfc7946(plan.areas)["features"][0]["properties"]["area_id"] == (
        plan.areas["area_id"].iloc[0])


def test_area_ids_are_stable(ranking, wm_areas, plan):
    again = patrol_areas(ranking, wm_areas)
    assert again.areas["area_id"].tolist() == plan.areas["area_id"].tolist()


def test_plan_goes_straight_into_the_map_and_notebook(plan, ranking):
    """patrol_areas() output (ranks repeat across LPUs) is accepted by hotspot_map as is."""
    from geodemand.outputs.maps.layers import prepare_layers

    assert plan.areas["rank"].duplicated().any()  # rank 1 in every LPU
    layers = prepare_layers(patrol_areas=plan)  # a PatrolPlan itself is accepted
    drawn = layers.patrol_areas
    assert len(drawn) == len(plan.areas)
    assert drawn["force_rank"].tolist() == sorted(plan.areas["force_rank"])
    gd.hotspot_map(patrol_areas=plan.areas, tiles=None)  # no "rank repeats" error
    hostile = plan.areas.copy()
    hostile.loc[hostile.index[1], ["lpu", "rank"]] = hostile.loc[hostile.index[0], ["lpu",
                                                                                    "rank"]]
    with pytest.raises(InvalidParameterError, match="within each LPU"):
        prepare_layers(patrol_areas=hostile)
    # in a notebook
    assert "<table" in plan._repr_html_()
    ax = plan.plot()
    assert len(ax.collections) >= 1
    ax = ranking.plot(top_n=3)
    assert ax.collections  # the top places are drawn
