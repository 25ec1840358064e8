"""Automatic plan reviews: before/after counts, harm and WDQ against a plain recomputation."""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geodemand.errors import InvalidParameterError
from geodemand.evaluate.intervention import displacement_measures, intervention_effect
from geodemand.evaluate.register import REVIEW_FIELDS, Register
from geodemand.evaluate.reviews import REVIEW_COLUMNS, review_plans, review_window

DATA = Path(__file__).resolve().parents[1] / "data"
CRS = "EPSG:27700"
X0, Y0 = 400_000.0, 300_000.0
AREA = shapely.box(X0, Y0, X0 + 200, Y0 + 200)
START = pd.Timestamp("2024-03-01")
REVIEW = pd.Timestamp("2024-03-28")  # after window 1-28 March (28 days), before 2 Feb-29 Feb


def reference(frame: pd.DataFrame, geom, lpu: str, b0, a0, a1, buffer_m: float) -> dict:
    """Plain pandas/shapely recomputation of the zones' counts and harm."""
    ring = geom.buffer(buffer_m).difference(geom)
    f = frame[(frame["occurred"] >= b0) & (frame["occurred"] < a1)].copy()
    in_r = shapely.covers(geom, shapely.points(f["x"], f["y"]))
    in_d = shapely.covers(ring, shapely.points(f["x"], f["y"])) & ~in_r
    in_c = (f["lpu"] == lpu).to_numpy() & ~in_r & ~in_d
    f["zone"] = np.select([in_r, in_d, in_c], ["area", "buffer", "control"], "none")
    f["when"] = np.where(f["occurred"] < a0, "before", "after")
    g = f.groupby(["zone", "when"]).agg(n=("harm", "size"), harm=("harm", "sum"))
    out = {}
    for z in ("area", "buffer", "control"):
        for w in ("before", "after"):
            out[f"{z}_{w}"] = int(g["n"].get((z, w), 0))
            out[f"{z}_harm_{w}"] = float(g["harm"].get((z, w), 0.0))
    return out


def hand_frame() -> pd.DataFrame:
    rows = []

    def add(n, x, y, when, harm, lpu="North"):
        rows.extend({"x": x, "y": y, "occurred": pd.Timestamp(when), "harm": harm, "lpu": lpu,
                     "crime_type": "burglary"} for _ in range(n))

    add(20, X0 + 100, Y0 + 100, "2024-02-10", 10.0)  # area, before
    add(12, X0 + 50, Y0 + 150, "2024-03-10", 5.0)  # area, after
    add(1, X0 + 200, Y0 + 100, "2024-03-20", 7.0)  # on the area's edge: area, after
    add(10, X0 + 300, Y0 + 100, "2024-02-20", 2.0)  # buffer, before
    add(6, X0 + 100, Y0 - 200, "2024-03-05", 2.0)  # buffer, after
    add(3, X0 + 100, Y0 + 400, "2024-03-05", 2.0, lpu="South")  # buffer in another LPU: after
    add(100, X0 + 2000, Y0 + 2000, "2024-02-05", 1.0)  # control, before
    add(96, X0 + 3000, Y0 + 1000, "2024-03-27", 1.5)  # control, after
    add(50, X0 + 4000, Y0, "2024-03-15", 1.0, lpu="South")  # another LPU: not control
    add(40, X0 + 100, Y0 + 100, "2024-01-15", 3.0)  # before the before window
    add(30, X0 + 100, Y0 + 100, "2024-03-29", 3.0)  # after the after window
    add(5, X0 + 2000, Y0, "2024-04-20", 1.0)  # data run to late April
    f = pd.DataFrame(rows)
    f["date_precision"] = "day"
    f.attrs["crs"] = CRS
    return f


def plan_frame(geom=AREA, start=START, review=REVIEW, **extra) -> gpd.GeoDataFrame:
    d = {"kind": "area", "item_id": "NORTH-1", "lpu": "North", "label": "Swan Street",
         "plan_start": start, "review_date": review}
    d.update(extra)
    return gpd.GeoDataFrame([d], geometry=[geom], crs=CRS)


def test_hand_built_case_matches_hand_counts_and_a_plain_recomputation():
    f = hand_frame()
    r = review_plans(f, plan_frame()).iloc[0]
    assert list(review_plans(f, plan_frame()).columns) == REVIEW_COLUMNS
    assert r["outcome"] == "reviewed"
    assert r["window_unit"] == "days" and r["window_length"] == 28
    assert r["before_start"] == pd.Timestamp("2024-02-02")
    assert r["after_end"] == pd.Timestamp("2024-03-29")
    hand = {"area_before": 20, "area_after": 13, "buffer_before": 10, "buffer_after": 9,
            "control_before": 100, "control_after": 96, "area_harm_before": 200.0,
            "area_harm_after": 67.0, "buffer_harm_before": 20.0, "buffer_harm_after": 18.0,
            "control_harm_before": 100.0, "control_harm_after": 144.0}
    ref = reference(f, AREA, "North", r["before_start"], START, r["after_end"], 250.0)
    assert ref == hand
    for k, v in hand.items():
        assert r[k] == pytest.approx(v), k
    # SM = 13/96 - 20/100, BDM = 9/96 - 10/100, WDQ = BDM / SM (Bowers & Johnson 2003)
    sm, bdm = 13 / 96 - 20 / 100, 9 / 96 - 10 / 100
    assert r["success_measure"] == pytest.approx(sm)
    assert r["wdq"] == pytest.approx(bdm / sm)
    smh, bdmh = 67 / 144 - 200 / 100, 18 / 144 - 20 / 100
    assert r["wdq_harm"] == pytest.approx(bdmh / smh)
    assert r["area_harm_change_pct"] == pytest.approx(100 * (67 - 200) / 200)
    assert r["control_harm_change_pct"] == pytest.approx(44.0)
    assert r["relative_change"] == pytest.approx((13 / 20) / (96 / 100))
    assert r["sentence"].startswith("Swan Street: harm -66 % vs LPU +44 % (incidents 20 -> 13")
    assert r["wdq"] > 0 and "diffusion of benefit" in r["sentence"]
    assert r["area_km2"] == pytest.approx(0.04)


def test_counts_equal_intervention_effect_with_the_lpu_as_control():
    """The review reuses intervention_effect's measures: with the LPU polygon as the control
    (and every control incident in the LPU column) the counts and WDQ agree."""
    f = hand_frame()
    f = f[f["lpu"] == "North"].copy()
    f.attrs["crs"] = CRS
    lpu = shapely.box(X0 - 5000, Y0 - 5000, X0 + 5000, Y0 + 5000)
    r = review_plans(f, plan_frame()).iloc[0]
    ie = intervention_effect(f, AREA, START, before="28 days", after="28 days",
                             control_areas=lpu, buffer_m=250.0)
    c = ie.counts.set_index("zone")
    assert [r["area_before"], r["area_after"]] == c.loc["treated", ["before", "after"]].tolist()
    assert [r["buffer_before"], r["buffer_after"]] == c.loc["buffer", ["before",
                                                                      "after"]].tolist()
    assert [r["control_before"], r["control_after"]] == c.loc["control", ["before",
                                                                         "after"]].tolist()
    assert r["wdq"] == pytest.approx(ie.wdq)
    assert r["p_value"] == pytest.approx(ie.treated_test["p_value"])


def test_windows_by_month_for_month_precision_data():
    data_start, data_end = pd.Timestamp("2020-01-01"), pd.Timestamp("2021-12-01")
    # plan from 1 June, review 15 August: after Jun-Aug (3 months), before Mar-May
    w = review_window("2021-06-01", "2021-08-15", data_start, data_end, True)
    assert w == (pd.Timestamp("2021-03-01"), pd.Timestamp("2021-06-01"),
                 pd.Timestamp("2021-09-01"), "months", 3, None)
    # a start inside a month moves to the next month start; the end is cut at the data end
    w = review_window("2021-09-10", "2022-03-01", data_start, data_end, True)
    assert w[1:5] == (pd.Timestamp("2021-10-01"), data_end, "months", 2)
    assert review_window("2021-11-10", "2021-12-20", data_start, data_end, True)[5].startswith(
        "no complete month")
    assert "before the data" in review_window("2020-03-01", "2020-07-01", data_start, data_end,
                                              True)[5]
    # days: after to the day after the review date
    w = review_window("2021-06-01", "2021-06-28", data_start, data_end, False)
    assert w[:5] == (pd.Timestamp("2021-05-04"), pd.Timestamp("2021-06-01"),
                     pd.Timestamp("2021-06-29"), "days", 28)


def test_points_plans_that_cannot_be_reviewed_and_errors():
    f = hand_frame()
    target = plan_frame(shapely.Point(X0 + 100, Y0 + 100), kind="target",
                        item_id="place:x", label=None)
    r = review_plans(f, target, target_radius_m=50).iloc[0]
    circle = shapely.Point(X0 + 100, Y0 + 100).buffer(50)
    ref = reference(f, circle, "North", r["before_start"], START, r["after_end"], 250.0)
    assert (r["area_before"], r["area_after"]) == (ref["area_before"], ref["area_after"]) == (
        20, 0)
    assert r["label"] == "place:x"
    early = review_plans(f, plan_frame(start="2024-01-10", review="2024-02-20")).iloc[0]
    assert early["outcome"] == "not reviewed"
    assert "before the data" in early["sentence"] and early["sentence"].startswith("Swan")
    assert review_plans(f, plan_frame().iloc[0:0]).empty
    with pytest.raises(InvalidParameterError, match="harm"):
        review_plans(f.drop(columns="harm"), plan_frame())
    with pytest.raises(InvalidParameterError, match="buffer_m"):
        review_plans(f, plan_frame(), buffer_m=-1)


def test_review_columns_fit_the_register(tmp_path):
    assert REVIEW_COLUMNS == [n for n, _ in REVIEW_FIELDS if n != "reviewed_period"]
    f = hand_frame()
    reviews = review_plans(f, plan_frame())
    info = {"period_start": "2024-03-25", "period_end": "2024-04-01", "lpus": ["North"],
            "crs": CRS}
    with Register.open(tmp_path / "r.gpkg") as reg:
        reg.record_run(info, reviews=reviews)
        got = reg.reviews().iloc[0]
    for c in ("area_before", "area_after", "wdq", "sentence", "p_value", "significant"):
        want = reviews.iloc[0][c]
        assert got[c] == pytest.approx(want) if isinstance(want, float) else got[c] == want


def test_real_leicestershire_months_match_a_plain_recomputation():
    """Six real police.uk months (2021-03..2021-08): a patrol square around Leicester's
    busiest map point and a place target, plan start 1 June, review 15 August."""
    from geodemand.demand.harm import harm_weights
    from geodemand.ingest.areas import assign_areas, read_areas
    from geodemand.ingest.incidents import read_incidents

    files = sorted((DATA / "incidents" / "leicestershire").glob("2021-0[3-8]-*.csv.gz"))
    assert len(files) == 6
    table = read_incidents(files)
    areas = read_areas(DATA / "boundaries" / "leicestershire" / "lpus.geojson", None,
                       crs=table.crs)
    frame = assign_areas(table, areas).frame
    frame = frame.assign(harm=harm_weights().weights(frame["crime_type"]))
    frame.attrs["crs"] = table.crs
    leic = frame[frame["lpu"] == "Leicester"]
    top = leic.groupby(["x", "y"]).size().idxmax()
    square = shapely.box(top[0] - 150, top[1] - 150, top[0] + 150, top[1] + 150)
    second = leic.groupby(["x", "y"]).size().sort_values().index[-40]
    plans = gpd.GeoDataFrame({
        "kind": ["area", "target"], "item_id": ["LEIC-1", "place:b"],
        "lpu": "Leicester", "plan_start": pd.Timestamp("2021-06-01"),
        "review_date": pd.Timestamp("2021-08-15")},
        geometry=[square, shapely.Point(second)], crs=CRS)
    out = review_plans(frame, plans)
    assert (out["outcome"] == "reviewed").all()
    assert out["window_unit"].tolist() == ["months"] * 2
    assert out["window_length"].tolist() == [3, 3]
    b0, a0, a1 = pd.Timestamp("2021-03-01"), pd.Timestamp("2021-06-01"), pd.Timestamp(
        "2021-09-01")
    for row, geom in zip(out.to_dict("records"), [square, shapely.Point(second).buffer(75)],
                         strict=True):
        ref = reference(frame, geom, "Leicester", b0, a0, a1, 250.0)
        for k, v in ref.items():
            assert row[k] == pytest.approx(v, rel=1e-12), k
        m = displacement_measures(ref["area_before"], ref["area_after"], ref["buffer_before"],
                                  ref["buffer_after"], ref["control_before"],
                                  ref["control_after"])
        assert row["wdq"] == pytest.approx(m["wdq"]) or (math.isnan(row["wdq"])
                                                         and math.isnan(m["wdq"]))
        assert ref["area_before"] > 10 and ref["buffer_before"] > 10
        assert ref["control_before"] > 10_000
    assert out["area_before"].iloc[0] > 50  # the busiest map point's square


@pytest.mark.slow
def test_two_consecutive_monthly_runs_on_real_data(tmp_path):
    """The weekly job's wiring on real Leicestershire months: rank targets and patrol areas for
    June and July 2021, statuses before recording, and the review of the June plans (review
    date 28 July) in the July run."""
    from geodemand.decide.patrol import patrol_areas
    from geodemand.decide.targets import rank_targets
    from geodemand.demand.demand import prepare_demand
    from geodemand.ingest.areas import assign_areas, read_areas
    from geodemand.ingest.incidents import read_incidents

    files = sorted((DATA / "incidents" / "leicestershire").glob("2021-0[3-9]-*.csv.gz"))
    table = read_incidents(files)
    areas = read_areas(DATA / "boundaries" / "leicestershire" / "lpus.geojson",
                       DATA / "boundaries" / "leicestershire" / "neighbourhoods.geojson",
                       crs=table.crs)
    table = assign_areas(table, areas)
    history = prepare_demand(table, window_days=400).incidents
    lpus = sorted(areas.lpus["lpu"])
    reg = Register.open(tmp_path / "register.gpkg")
    for month in ("2021-06", "2021-07"):
        start = pd.Timestamp(f"{month}-01")
        end = start + pd.DateOffset(months=1)
        demand = prepare_demand(table, window_end=end - pd.Timedelta(seconds=1),
                                window_days=120)
        ranking = rank_targets(demand, study_area=areas)
        plan = patrol_areas(ranking, areas, top_n=3)
        places = ranking.top(3, "places").assign(review_date=plan.areas["review_date"].iloc[0])
        info = {"period_start": start, "period_end": end, "lpus": lpus, "crs": table.crs,
                "period_label": month, "period_kind": "month"}
        st = reg.statuses(info, places, plan.areas)
        due = st[st["status"] == "expired"]
        reviews = review_plans(history, due, data_end=end)
        reg.record_run(info, places, plan.areas, reviews=reviews)
        if month == "2021-06":
            assert set(st["status"]) == {"new"} and reviews.empty
    # in July every June plan reached its review date (28 July < 1 August)
    assert len(due) == len(reg.history()[lambda h: h["period_start"] == "2021-06-01"])
    assert (reviews["outcome"] == "reviewed").all()
    assert (reviews["after_start"] == pd.Timestamp("2021-07-01")).all()
    assert (reviews["before_start"] == pd.Timestamp("2021-06-01")).all()
    row = reviews[reviews["kind"] == "area"].iloc[0]
    geom = due[(due["kind"] == "area") & (due["item_id"] == row["item_id"])].geometry.iloc[0]
    ref = reference(history, geom, row["lpu"], pd.Timestamp("2021-06-01"),
                    pd.Timestamp("2021-07-01"), pd.Timestamp("2021-08-01"), 250.0)
    assert (row["area_before"], row["area_after"], row["control_before"]) == (
        ref["area_before"], ref["area_after"], ref["control_before"])
    assert len(reg.reviews()) == len(reviews)
    assert reg.due_reviews("2021-08-01").empty
    reg.close()
