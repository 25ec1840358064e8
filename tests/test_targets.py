"""Control-plan targets on real data: named, harm-weighted, partnership sites apart."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import geodemand as gd
from geodemand.decide.targets import rank_targets
from geodemand.demand.demand import prepare_demand
from geodemand.errors import InvalidParameterError

INSTITUTION = re.compile(r"hospital|infirm|prison|\bhmp\b|police station|custody", re.I)
# the police.uk map points beside HMP Stocken (Rutland) and HMP Gartree (Harborough)
PRISON_POINTS = {"pt:-0.582866,52.746442", "pt:-0.960566,52.497569"}


@pytest.fixture(scope="module")
def wm(wm_areas, data_dir):
    table = gd.read_incidents(data_dir / "incidents/west-midlands/2018-06-west-midlands-api.csv.gz")
    demand = prepare_demand(gd.assign_areas(table, wm_areas))
    return demand, rank_targets(demand, study_area=wm_areas)


@pytest.fixture(scope="module")
def leics(data_dir):
    b = data_dir / "boundaries" / "leicestershire"
    areas = gd.read_areas(b / "lpus.geojson", b / "neighbourhoods.geojson")
    table = gd.assign_areas(gd.read_incidents(data_dir / "incidents" / "leicestershire"), areas)
    demand = prepare_demand(table)
    return demand, rank_targets(demand, study_area=areas), areas


@pytest.mark.parametrize("which", ["wm", "leics"])
def test_no_top_ten_patrol_target_is_an_institution_and_all_are_named(which, request):
    ranking = request.getfixturevalue(which)[1]
    for kind in ("places", "cells"):
        top = ranking.top(10, kind)
        assert len(top) >= 10
        assert not top["label"].str.contains(INSTITUTION).any(), top["label"].tolist()
        assert top["label"].str.len().gt(3).all()
        assert not top["label"].str.startswith(("pt:", "xy:", "id:")).any()
        if kind == "places":
            members = {k for m in top["members"] for k in m}
            assert not members & PRISON_POINTS
    if which == "leics":
        sites = ranking.partnership.set_index("target_id")
        for key in PRISON_POINTS:
            assert f"place:{key}" in sites.index  # flagged from the outcome cue
        labels = " ".join(ranking.partnership["label"])
        assert "Royal Infirmiry" in labels and "Glenfield Hospital" in labels


def test_place_harm_equals_incident_harm_on_a_real_month(wm):
    demand, ranking = wm
    total = ranking.places["harm"].sum() + ranking.partnership["harm"].sum()
    assert abs(total - demand.incidents["harm"].sum()) < 1e-9


def test_ranks_are_by_expected_harm_and_comparable_across_lpus(leics):
    _, ranking, _ = leics
    p = ranking.places
    for _, grp in p.groupby("lpu"):
        assert grp["rank"].tolist() == list(range(1, len(grp) + 1))
        assert grp["expected_harm"].is_monotonic_decreasing
    by_force = p.sort_values("force_rank")
    assert by_force["expected_harm"].is_monotonic_decreasing
    assert sorted(p["force_rank"]) == list(range(1, len(p) + 1))
    np.testing.assert_allclose(p["expected_harm"], p["expected_incidents"] * p["harm_per_incident"])
    # volume matters: a Rutland place with a handful of incidents never outranks one of its
    # places with many times more incidents and a similar harm mix
    rut = p[p["lpu"] == "Rutland"]
    big = rut.loc[rut["incidents"].idxmax()]
    assert big["rank"] <= 3


def test_targets_table_columns_for_planners(leics):
    _, ranking, _ = leics
    t = ranking.targets_table()
    assert {"place", "cell", "partnership site"} == set(t["target_type"])
    assert t["lat"].map(lambda v: len(str(v).split(".")[-1]) <= 6).all()
    assert (t["x"] == t["x"].round(0)).all()
    cells = t[t["target_type"] == "cell"]
    assert str(cells["row"].dtype) == "Int64" and cells["row"].notna().all()
    forbidden = {"name", "person", "offender", "victim", "suspect", "age", "gender"}
    assert not forbidden & {c.lower() for c in t.columns}
    # member lists are plain "a; b" text in the CSV, never a Python list's repr
    places = ranking.places.set_index("target_id")
    for col in ("members", "member_labels"):
        text = t[col]
        assert text.map(lambda v: isinstance(v, str) and not v.startswith("[")).all(), col
        placed = t[t["target_type"] == "place"].set_index("target_id")[col]
        expected = places[col].map("; ".join).reindex(placed.index)
        assert placed.equals(expected), col


def test_deterministic_under_row_order(wm, wm_areas, data_dir):
    demand, ranking = wm
    frame = demand.incidents.sample(frac=1.0, random_state=3)
    frame.attrs = dict(demand.incidents.attrs)
    table = gd.read_incidents(data_dir / "incidents/west-midlands/2018-06-west-midlands-api.csv.gz")
    shuffled = gd.assign_areas(table, wm_areas).frame.sample(frac=1.0, random_state=5)
    shuffled.attrs = dict(table.frame.attrs)
    again = rank_targets(prepare_demand(shuffled), study_area=wm_areas)
    pd.testing.assert_frame_equal(
        ranking.places[["lpu", "rank", "target_id", "expected_harm"]].reset_index(drop=True),
        again.places[["lpu", "rank", "target_id", "expected_harm"]].reset_index(drop=True),
    )


def test_partnership_sites_back_in_patrol_when_asked(wm, wm_areas):
    demand, ranking = wm
    both = rank_targets(demand, study_area=wm_areas, patrol_partnership_sites=True)
    assert len(both.places) == len(ranking.places) + len(ranking.partnership)
    with pytest.raises(InvalidParameterError, match="prepare_demand"):
        rank_targets(demand.incidents)
