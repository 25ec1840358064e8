"""Repeat places: a pandas reference twin, order independence, tolerance merging, kernels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geodemand._kernels import repeats as kern
from geodemand.demand.harm import HarmTable, harm_weights
from geodemand.engines.repeats import repeat_locations, top_places
from geodemand.errors import InvalidParameterError

TYPES = ["burglary", "robbery", "shoplifting", "violence-and-sexual-offences", "drugs"]


def _incidents(seed: int = 0, n: int = 3000, n_places: int = 300, precision="day"):
    rng = np.random.default_rng(seed)
    place = rng.integers(0, n_places, n) ** 2 % n_places  # uneven popularity, ties
    px = np.round(rng.uniform(400_000, 410_000, n_places), 1)
    py = np.round(rng.uniform(280_000, 290_000, n_places), 1)
    lpu_of = np.array(["North", "South", "East"])[rng.integers(0, 3, n_places)]
    lpu = lpu_of[place].copy()
    flip = rng.random(n) < 0.1  # a place's incidents need not share one LPU
    lpu[flip] = "West"
    frame = pd.DataFrame({
        "incident_id": [f"i{k}" for k in range(n)],
        "occurred": pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 700, n), "D")
        + pd.to_timedelta(rng.integers(0, 1440, n), "min"),
        "date_precision": precision,
        "crime_type": np.array(TYPES)[rng.integers(0, len(TYPES), n)],
        "x": px[place],
        "y": py[place],
        "location_key": [f"pt:{p:04d}" for p in place],
        "lpu": lpu,
        "neighbourhood": np.array(["n1", "n2"])[rng.integers(0, 2, n)],
    })
    frame.attrs["crs"] = "EPSG:27700"
    return frame


def reference_places(frame: pd.DataFrame, harm: HarmTable) -> pd.DataFrame:
    """Plain pandas twin of repeat_locations (key = location_key, by = lpu, rank by harm)."""
    w = frame["crime_type"].map(harm.weight_of())
    f = frame.assign(w=w)
    g = f.groupby("location_key")
    out = pd.DataFrame({
        "count": g.size(),
        "harm": g["w"].sum(),
        "first_date": g["occurred"].min(),
        "last_date": g["occurred"].max(),
    })
    out["repeats"] = out["count"] - 1
    counts = pd.crosstab(f["location_key"], f["crime_type"])
    for t in counts.columns:
        out[f"n_{t.replace('-', '_')}"] = counts[t]
    dated = f[f["date_precision"] != "month"].sort_values(["location_key", "occurred"])
    gaps = dated.groupby("location_key")["occurred"].diff().dt.total_seconds() / 86400
    out["median_days_between"] = gaps.groupby(dated["location_key"]).median()
    out["n_dated"] = dated.groupby("location_key").size()
    out["n_dated"] = out["n_dated"].fillna(0).astype(int)
    for col in ("lpu", "neighbourhood"):
        tally = f.groupby(["location_key", col]).size().rename("k").reset_index()
        tally = tally.sort_values(["location_key", "k", col], ascending=[True, False, True])
        out[col] = tally.drop_duplicates("location_key").set_index("location_key")[col]
    out["x"] = g["x"].mean()
    out["y"] = g["y"].mean()
    out["group_share_count"] = out["count"] / out.groupby("lpu")["count"].transform("sum")
    out["group_share_harm"] = out["harm"] / out.groupby("lpu")["harm"].transform("sum")
    out = out.reset_index().sort_values(
        ["harm", "count", "location_key"], ascending=[False, False, True]
    ).reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    out["rank_in_group"] = out.groupby("lpu").cumcount() + 1
    return out


def test_repeat_locations_equal_the_pandas_reference():
    frame = _incidents()
    harm = harm_weights()
    before = frame.copy()
    ours = repeat_locations(frame, harm=harm)
    pd.testing.assert_frame_equal(frame, before)  # input not mutated
    ref = reference_places(frame, harm)
    assert list(ours["location_key"]) == list(ref["location_key"])
    for col in ["count", "repeats", "rank", "rank_in_group", "n_dated", "lpu", "neighbourhood"]:
        np.testing.assert_array_equal(ours[col].to_numpy(), ref[col].to_numpy(), err_msg=col)
    for t in TYPES:
        col = f"n_{t.replace('-', '_')}"
        np.testing.assert_array_equal(ours[col].to_numpy(), ref[col].to_numpy(), err_msg=col)
    for col in ["harm", "median_days_between", "group_share_count", "group_share_harm"]:
        np.testing.assert_allclose(ours[col], ref[col], rtol=1e-12, err_msg=col)
    np.testing.assert_allclose(ours["x"], ref["x"], atol=5e-4)  # exact millimetre sums
    np.testing.assert_allclose(ours["y"], ref["y"], atol=5e-4)
    assert (ours["first_date"].to_numpy() == ref["first_date"].to_numpy()).all()
    assert (ours["last_date"].to_numpy() == ref["last_date"].to_numpy()).all()
    np.testing.assert_allclose(ours.groupby("lpu")["group_share_count"].sum(), 1.0)
    assert ours.crs.to_string() == "EPSG:27700"
    assert ours.attrs["params"]["n_places"] == len(ours) and ours.attrs["params"]["by"] == "lpu"
    assert (ours.geometry.x == ours["x"]).all()


def test_result_does_not_depend_on_row_order():
    frame = _incidents(seed=3)
    shuffled = frame.sample(frac=1.0, random_state=7)
    a = repeat_locations(frame)
    b = repeat_locations(shuffled)
    pd.testing.assert_frame_equal(pd.DataFrame(a.drop(columns="geometry")),
                                  pd.DataFrame(b.drop(columns="geometry")))
    c = repeat_locations(frame, tolerance_m=400.0)
    d = repeat_locations(shuffled, tolerance_m=400.0)
    pd.testing.assert_frame_equal(pd.DataFrame(c.drop(columns="geometry")),
                                  pd.DataFrame(d.drop(columns="geometry")))
    assert len(c) < len(a)


def test_tolerance_merges_chains_and_names_them_by_the_smallest_key():
    frame = pd.DataFrame({
        "location_key": ["c", "a", "b", "z", "a", "d"],
        "x": [6.0, 0.0, 3.0, 100.0, 0.0, 200.0],
        "y": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        "occurred": pd.to_datetime([f"2021-01-0{d}" for d in range(1, 7)]),
        "date_precision": "day",
        "crime_type": "burglary",
    })
    merged = repeat_locations(frame, tolerance_m=3.5, by=None)
    assert merged.set_index("location_key")["count"].to_dict() == {"a": 4, "d": 1, "z": 1}
    row = merged.set_index("location_key").loc["a"]
    assert row["x"] == pytest.approx((6 + 0 + 3 + 0) / 4) and row["repeats"] == 3
    exact = repeat_locations(frame, tolerance_m=0.0, by=None)
    assert len(exact) == 5
    just_short = repeat_locations(frame, tolerance_m=2.99, by=None)  # 'a' and 'b' are 3 m apart
    assert len(just_short) == 5
    by_xy = repeat_locations(frame.drop(columns="location_key"), key=None, by=None)
    assert sorted(by_xy["location_key"]) == ["xy:0,0", "xy:100,0", "xy:200,0", "xy:3,0",
                                             "xy:6,0"]
    assert by_xy.set_index("location_key").loc["xy:0,0", "count"] == 2


def test_median_days_between_uses_only_dates_finer_than_a_month():
    frame = pd.DataFrame({
        "location_key": ["p"] * 4 + ["q"] * 2 + ["r"],
        "x": [0.0] * 7, "y": [0.0] * 7,
        "occurred": pd.to_datetime(["2021-01-11", "2021-01-01", "2021-01-03", "2021-01-01",
                                    "2021-01-01", "2021-03-01", "2021-02-01"]),
        "date_precision": ["day", "day", "day", "month", "month", "month", "day"],
        "crime_type": "robbery",
    })
    res = repeat_locations(frame, by=None).set_index("location_key")
    assert res.loc["p", "median_days_between"] == 5.0  # gaps 2 and 8 days
    assert res.loc["p", "n_dated"] == 3 and res.loc["p", "count"] == 4
    assert np.isnan(res.loc["q", "median_days_between"])  # month dates only
    assert np.isnan(res.loc["r", "median_days_between"])  # a single incident
    assert res.loc["q", "first_date"] == pd.Timestamp("2021-01-01")
    assert res.loc["q", "last_date"] == pd.Timestamp("2021-03-01")


def test_ranking_ties_harm_table_and_top_n():
    frame = pd.DataFrame({
        "location_key": ["b", "a", "c", "c", "d"],
        "x": [0.0, 1.0, 2.0, 2.0, 3.0], "y": [0.0] * 5,
        "occurred": pd.Timestamp("2021-01-01"),
        "date_precision": "day",
        "crime_type": ["burglary", "burglary", "shoplifting", "shoplifting", "robbery"],
        "lpu": ["L1", "L1", "L2", "L2", "L1"],
    })
    table = HarmTable(
        frame=pd.DataFrame({"crime_type": ["burglary", "shoplifting", "robbery"],
                            "harm_weight": [10.0, 1.0, 10.0], "status": "user",
                            "source": "test"}),
        scheme="file", force=None, path="test",
    )
    by_harm = repeat_locations(frame, harm=table)
    assert list(by_harm["location_key"]) == ["a", "b", "d", "c"]  # 10, 10, 10 tie -> key
    assert list(by_harm["rank_in_group"]) == [1, 2, 3, 1]
    by_count = repeat_locations(frame, harm=table, rank_by="count")
    assert list(by_count["location_key"]) == ["c", "a", "b", "d"]
    top = repeat_locations(frame, harm=table, top_n=1)
    assert list(top["location_key"]) == ["a", "c"]
    assert list(top_places(by_harm, 2)["location_key"]) == ["a", "b", "c"]
    assert list(top_places(by_harm, 2, by=None)["location_key"]) == ["a", "b"]
    assert by_harm.attrs["params"]["harm_table"]["path"] == "test"


def test_missing_group_column_is_force_wide_and_announced(caplog):
    frame = _incidents().drop(columns=["lpu"])
    with caplog.at_level("INFO", logger="geodemand"):
        res = repeat_locations(frame)
    assert "force-wide" in caplog.text and res.attrs["params"]["by"] is None
    assert res["group_share_count"].sum() == pytest.approx(1.0)
    assert (res["rank_in_group"] == res["rank"]).all()
    by_nb = repeat_locations(frame, by="neighbourhood")
    np.testing.assert_allclose(by_nb.groupby("neighbourhood")["group_share_harm"].sum(), 1.0)


def test_bad_input_is_refused_with_the_field_named():
    frame = _incidents(n=20, n_places=5)
    with pytest.raises(InvalidParameterError, match="lack column"):
        repeat_locations(frame.drop(columns="crime_type"))
    bad = frame.copy()
    bad.loc[3, "location_key"] = ""
    with pytest.raises(InvalidParameterError, match="field location_key, row 3"):
        repeat_locations(bad)
    bad = frame.copy()
    bad.loc[2, "x"] = np.nan
    with pytest.raises(InvalidParameterError, match="field x, row 2"):
        repeat_locations(bad)
    unknown = frame.assign(crime_type="made-up-type")
    with pytest.raises(InvalidParameterError, match="no weight for crime type"):
        repeat_locations(unknown)
    assert repeat_locations(unknown, unknown_harm=2.0)["harm"].sum() == 40.0
    with pytest.raises(InvalidParameterError, match="tolerance_m"):
        repeat_locations(frame, tolerance_m=-1)
    with pytest.raises(InvalidParameterError, match="top_n"):
        repeat_locations(frame, top_n=0)
    with pytest.raises(InvalidParameterError, match="address_id"):
        repeat_locations(frame, key="address_id")


# --------------------------------------------------------------------------- kernel twins


def test_kernels_equal_their_numpy_twins():
    rng = np.random.default_rng(9)
    codes = rng.integers(0, 50, 2000).astype(np.int64)
    within = rng.permutation(2000).astype(np.int64)
    order, start = kern.group_order(codes, 50, within)
    twin = within[np.argsort(codes[within], kind="stable")]
    np.testing.assert_array_equal(order, twin)
    np.testing.assert_array_equal(start, np.r_[0, np.cumsum(np.bincount(codes, minlength=50))])

    values = rng.integers(-10**12, 10**12, 2000).astype(np.int64)
    lo, hi = kern.segment_min_max(codes, values, 50)
    s = pd.Series(values).groupby(codes)
    np.testing.assert_array_equal(lo, s.min().to_numpy())
    np.testing.assert_array_equal(hi, s.max().to_numpy())
    np.testing.assert_array_equal(kern.segment_sum_int(codes, values, 50), s.sum().to_numpy())

    times = rng.uniform(0, 100, 2000)
    by_time = np.argsort(times, kind="stable").astype(np.int64)
    order_t, start_t = kern.group_order(codes, 50, by_time)
    med = kern.segment_median_gap(times, order_t, start_t)
    twin_med = [np.median(np.diff(np.sort(times[codes == g]))) for g in range(50)]
    np.testing.assert_allclose(med, twin_med)

    labels = rng.integers(-1, 4, 2000).astype(np.int64)  # -1 = missing
    order_a, start_a = kern.group_order(codes, 50, np.arange(2000, dtype=np.int64))
    mode = kern.segment_mode(labels, order_a, start_a, 4)
    for g in range(50):
        lab = labels[codes == g]
        lab = lab[lab >= 0]
        counts = np.bincount(lab, minlength=4)
        assert mode[g] == int(np.argmax(counts))  # argmax: first (smallest) of the ties
