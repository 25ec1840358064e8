"""Intervention effect (WDQ, conditional test) and the year-to-date milestone table."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.stats import hypergeom

from geodemand.errors import InvalidParameterError
from geodemand.evaluate.intervention import (
    conditional_test,
    displacement_measures,
    intervention_effect,
    ytd_markdown,
    ytd_vs_milestones,
)

X0, Y0, SIDE = 400_000.0, 300_000.0, 6_000.0
CRS = "EPSG:27700"
TREATED = gpd.GeoDataFrame(
    {"patrol_area": ["a", "b"]},
    geometry=[
        shapely.box(X0 + 2000, Y0 + 2000, X0 + 2400, Y0 + 2400),
        shapely.box(X0 + 4000, Y0 + 3500, X0 + 4400, Y0 + 3900),
    ],
    crs=CRS,
)
# untreated hot squares with the treated squares' rate: the comparable places (on the 400 m
# lattice from X0, Y0, like the automatic control cells)
HOT_UNTREATED = [
    shapely.box(X0 + i, Y0 + j, X0 + i + 400, Y0 + j + 400)
    for i, j in ((800, 800), (800, 4800), (4800, 800), (4800, 4800))
]
BUFFER_M = 200.0
START = pd.Timestamp("2021-07-01")


def _uniform_in(geom, n, rng):
    """n uniform points in a polygon (rejection sampling in its bounding box)."""
    x0, y0, x1, y1 = geom.bounds
    out = np.empty((0, 2))
    shapely.prepare(geom)
    while len(out) < n:
        xy = rng.uniform((x0, y0), (x1, y1), (2 * n + 10, 2))
        out = np.vstack([out, xy[shapely.contains_xy(geom, xy[:, 0], xy[:, 1])]])
    return out[:n]


def simulate(effect: float, displaced: float, seed: int) -> pd.DataFrame:
    """Six months before and after START. Background 600 incidents/km² per half year over a
    6 km square; the treated squares and four untreated hot squares have 3x that; after START
    the treated rate is multiplied by ``effect`` and ``displaced`` x the crimes prevented
    appear in the buffer."""
    rng = np.random.default_rng(seed)
    square = shapely.box(X0, Y0, X0 + SIDE, Y0 + SIDE)
    treated = shapely.union_all(TREATED.geometry.values)
    hot = shapely.union_all(HOT_UNTREATED)
    ring = treated.buffer(BUFFER_M).difference(treated)
    parts = []
    for start, end, after in (
        (START - pd.DateOffset(months=6), START, False),
        (START, START + pd.DateOffset(months=6), True),
    ):
        factor = effect if after else 1.0
        base = _uniform_in(square, rng.poisson(600 * 36), rng)
        extra_rate = 2 * 600 * treated.area / 1e6
        hot_mean = 3 * 600 * treated.area / 1e6
        # the treated squares' total rate is 3x background; thin the background there after
        in_t = shapely.contains_xy(treated, base[:, 0], base[:, 1])
        keep = ~in_t | (rng.random(len(base)) < factor)
        pts = [
            base[keep],
            _uniform_in(treated, rng.poisson(extra_rate * factor), rng),
            _uniform_in(hot, rng.poisson(2 * 600 * hot.area / 1e6), rng),
        ]
        if after and displaced:
            prevented = hot_mean * (1 - effect)
            pts.append(_uniform_in(ring, rng.poisson(displaced * prevented), rng))
        xy = np.vstack(pts)
        days = (end - start).days
        when = start + pd.to_timedelta(rng.uniform(0, days, len(xy)), unit="D")
        parts.append(pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "occurred": when}))
    f = pd.concat(parts, ignore_index=True)
    f["occurred"] = f["occurred"].astype("datetime64[ns]")
    f["crime_type"] = "burglary"
    f["date_precision"] = "day"
    f.attrs["crs"] = CRS
    return f


# ---------------------------------------------------------------------------- formulas
def test_displacement_measures_hand_case():
    # Rb=100, Ra=70, Db=50, Da=60, Cb=Ca=200:
    # SM = 70/200 - 100/200 = -0.15 (success); BDM = 60/200 - 50/200 = +0.05 (buffer worse);
    # WDQ = 0.05 / -0.15 = -1/3 (displacement, smaller than the benefit);
    # TNE = (100*1 - 70) + (50*1 - 60) = 30 - 10 = 20 crimes prevented overall.
    m = displacement_measures(100, 70, 50, 60, 200, 200)
    assert m["success_measure"] == pytest.approx(-0.15)
    assert m["buffer_displacement"] == pytest.approx(0.05)
    assert m["wdq"] == pytest.approx(-1 / 3)
    assert m["total_net_effect"] == pytest.approx(20)
    # control doubles: Ra/Ca = 70/400; TNE uses the control trend 2: (200-70)+(100-60) = 170
    m2 = displacement_measures(100, 70, 50, 60, 200, 400)
    assert m2["total_net_effect"] == pytest.approx(170)
    assert math.isnan(displacement_measures(1, 1, 1, 1, 0, 5)["wdq"])


def reference_fisher(a, b, c, d):
    """Two-sided Fisher p from hypergeometric probabilities (sum of tables no likelier)."""
    M, n_row, n_col = a + b + c + d, a + b, a + c
    k = np.arange(max(0, n_row + n_col - M), min(n_row, n_col) + 1)
    p = hypergeom.pmf(k, M, n_col, n_row)
    p_obs = hypergeom.pmf(a, M, n_col, n_row)
    return float(p[p <= p_obs * (1 + 1e-7)].sum())


@pytest.mark.parametrize(
    "counts", [(70, 100, 200, 200), (12, 9, 40, 41), (0, 5, 10, 12), (300, 310, 1000, 1020)]
)
def test_conditional_test_matches_hypergeometric_twin(counts):
    xa, xb, ca, cb = counts
    t = conditional_test(xa, xb, ca, cb)
    assert t["p_value"] == pytest.approx(reference_fisher(xa, xb, ca, cb), rel=1e-6)
    if xb * ca:
        assert t["relative_change"] == pytest.approx((xa / xb) / (ca / cb))
    assert t["ci_low"] <= max(t["relative_change"], 0) + 1e-12 or xa == 0


def test_conditional_test_size_and_power():
    rng = np.random.default_rng(11)
    n_sim = 400
    # power: relative change 0.7 with SE(log) = sqrt(1/210 + 1/300 + 2/600) = 0.107, so
    # z = 0.357 / 0.107 = 3.3 and a 5 % two-sided test rejects about 92 % of the time
    null = [
        conditional_test(*rng.poisson([150, 150, 300, 300]), interval=False)["p_value"]
        for _ in range(n_sim)
    ]
    power = [
        conditional_test(*rng.poisson([210, 300, 600, 600]), interval=False)["p_value"]
        for _ in range(n_sim)
    ]
    assert np.mean(np.array(null) < 0.05) <= 0.07  # exact conditional test: size <= level
    assert np.mean(np.array(power) < 0.05) >= 0.85


# ---------------------------------------------------------------------------- effect
def test_injected_reduction_with_displacement():
    f = simulate(effect=0.7, displaced=0.5, seed=1)
    r = intervention_effect(
        f,
        TREATED,
        START,
        before="6 months",
        after="6 months",
        buffer_m=BUFFER_M,
        control_cell_m=400,
    )
    t = r.treated_test
    assert t["ci_low"] < 0.7 < t["ci_high"] < 1
    assert t["relative_change"] == pytest.approx(0.7, abs=0.1)
    assert t["p_value"] < 1e-4
    assert r.measures["success_measure"] < 0
    # half of the prevented crimes moved into the buffer: expected WDQ = -0.5
    assert -1 < r.wdq < 0
    assert r.measures["total_net_effect"] > 0
    assert r.buffer_test["relative_change"] > 1
    assert "displacement" in r.interpretation
    counts = r.counts.set_index("zone")
    assert counts.loc["treated", "change_pct"] == pytest.approx(-30, abs=10)
    assert counts.loc["treated", "area_km2"] == pytest.approx(0.32)
    # in a notebook: the summary as text and escaped HTML, and a bar plot of the counts
    assert repr(r).startswith("InterventionResult") and "WDQ" in repr(r)
    assert "<pre>" in r._repr_html_()
    ax = r.plot()
    heights = sorted(round(b.get_height()) for b in ax.patches)
    assert heights == sorted(r.counts["before"].tolist() + r.counts["after"].tolist())


def test_no_effect_is_not_significant():
    f = simulate(effect=1.0, displaced=0.0, seed=2)
    r = intervention_effect(
        f,
        TREATED,
        START,
        before="6 months",
        after="6 months",
        buffer_m=BUFFER_M,
        control_cell_m=400,
    )
    t = r.treated_test
    assert t["ci_low"] < 1 < t["ci_high"]
    assert t["p_value"] > 0.05
    assert abs(math.log(t["relative_change"])) < 0.15
    assert r.buffer_test["p_value"] > 0.05


def test_automatic_controls_are_outside_and_matched():
    f = simulate(effect=1.0, displaced=0.0, seed=3)
    study = shapely.box(X0, Y0, X0 + SIDE, Y0 + SIDE)
    r = intervention_effect(
        f,
        TREATED,
        START,
        before="6 months",
        after="6 months",
        buffer_m=BUFFER_M,
        control_cell_m=400,
        control_area_ratio=2,
        study_area=study,
    )
    cells = r.controls
    treated = shapely.union_all(TREATED.geometry.values)
    assert not shapely.intersects(treated.buffer(2 * BUFFER_M), cells.geometry.values).any()
    assert shapely.contains(study, cells.geometry.values).all()
    assert cells.geometry.area.sum() == pytest.approx(2 * treated.area)
    # matched: the four comparable hot squares are found, none of the background cells
    chosen = shapely.union_all(cells.geometry.values)
    assert chosen.equals(shapely.union_all(HOT_UNTREATED))
    assert r.params["controls"] == "matched cells"


def test_given_controls_overlap_removed_and_counted():
    f = simulate(effect=1.0, displaced=0.0, seed=4)
    ctrl = gpd.GeoDataFrame(
        geometry=[shapely.box(X0 + 1800, Y0 + 500, X0 + 3000, Y0 + 2200)], crs=CRS
    )  # overlaps treated square a and its buffer
    r = intervention_effect(
        f,
        TREATED,
        START,
        before="6 months",
        after="6 months",
        control_areas=ctrl,
        buffer_m=BUFFER_M,
    )
    treated = shapely.union_all(TREATED.geometry.values)
    zone = ctrl.geometry.iloc[0].difference(treated.buffer(BUFFER_M))
    before = f[(f["occurred"] >= START - pd.DateOffset(months=6)) & (f["occurred"] < START)]
    assert (
        r.counts.set_index("zone").loc["control", "before"]
        == shapely.contains_xy(zone, before["x"], before["y"]).sum()
    )
    assert r.counts.set_index("zone").loc["control", "area_km2"] == pytest.approx(zone.area / 1e6)
    assert r.controls is None


def test_windows_and_errors():
    f = simulate(effect=1.0, displaced=0.0, seed=5)
    with pytest.raises(InvalidParameterError, match="'6 months'"):
        intervention_effect(f, TREATED, START, before="half a year")
    with pytest.raises(InvalidParameterError, match="after the data end"):
        intervention_effect(f, TREATED, START, before="6 months", after="12 months")
    with pytest.raises(InvalidParameterError, match="before the data"):
        intervention_effect(f, TREATED, START, before=400)
    monthly = f.assign(
        occurred=f["occurred"].dt.to_period("M").dt.to_timestamp(), date_precision="month"
    )
    monthly.attrs["crs"] = CRS
    with pytest.raises(InvalidParameterError, match="month start"):
        intervention_effect(monthly, TREATED, "2021-07-15", before="3 months", after="3 months")
    # default windows: after to the data end, before the same length (6 months each)
    r = intervention_effect(monthly, TREATED, START, control_cell_m=500)
    assert r.params["before_window"] == ["2021-01-01", "2021-07-01"]
    assert r.params["after_window"] == ["2021-07-01", "2022-01-01"]


# ---------------------------------------------------------------------------- YTD
def _ytd_frame():
    rows = []

    def add(lpu, ctype, when, n):
        rows.extend(
            {"lpu": lpu, "crime_type": ctype, "occurred": pd.Timestamp(when)} for _ in range(n)
        )

    add("North", "burglary", "2020-03-10", 100)  # last year's YTD (to 30 June)
    add("North", "burglary", "2021-02-10", 90)  # -10 %
    add("North", "burglary", "2020-09-10", 50)  # after last year's YTD end: not counted
    add("North", "robbery", "2020-05-01", 20)
    add("North", "robbery", "2021-05-01", 20)  # 0 % against -5 %: not met
    add("South", "burglary", "2021-01-05", 7)  # nothing last year: n/a
    add("South", "theft-from-the-person", "2021-06-30", 4)  # group theft, no milestone
    add("South", "burglary", "2020-06-30", 3)
    add("South", "burglary", "2021-07-01", 9)  # after as_of: not counted
    add("North", "burglary", "2019-12-01", 1)  # the data start before last year's period
    f = pd.DataFrame(rows)
    f["date_precision"] = "day"
    return f


def test_ytd_against_milestones_hand_counts():
    f = _ytd_frame()
    t = ytd_vs_milestones(f, {"burglary": -0.02, "robbery": -0.05}, as_of="2021-06-30")
    t = t.set_index(["lpu", "group"])
    assert t.loc[("North", "burglary"), ["ytd_this_year", "ytd_last_year"]].tolist() == [90, 100]
    assert t.loc[("North", "burglary"), "change_pct"] == pytest.approx(-10)
    assert t.loc[("North", "burglary"), "status"] == "met"
    assert t.loc[("North", "robbery"), "status"] == "not met"
    assert t.loc[("South", "burglary"), ["ytd_this_year", "ytd_last_year"]].tolist() == [7, 3]
    assert t.loc[("South", "robbery"), "status"] == "n/a (none last year)"
    assert t.loc[("Force", "burglary"), ["ytd_this_year", "ytd_last_year"]].tolist() == [97, 103]
    assert t.loc[("Force", "burglary"), "change_pct"] == pytest.approx(100 * (97 - 103) / 103)
    assert t.loc[("Force", "burglary"), "milestone_pct"] == pytest.approx(-2)
    md = ytd_markdown(ytd_vs_milestones(f, {"burglary": -0.02}, as_of="2021-06-30"))
    assert "2021-01-01 to 2021-06-30 against 2020-01-01 to 2020-06-30" in md
    assert "| North | burglary | 90 | 100 | -10.0 | -2.0 | met |" in md
    all_groups = ytd_vs_milestones(f, as_of="2021-06-30").set_index(["lpu", "group"])
    assert all_groups.loc[("South", "theft"), "ytd_this_year"] == 4
    assert all_groups.loc[("South", "theft"), "status"] == "no milestone"


def test_ytd_financial_year_and_errors():
    f = _ytd_frame()
    # year from 1 April: this year 2021-04-01..2021-06-30, last year 2020-04-01..2020-06-30
    t = ytd_vs_milestones(f, {"burglary": -0.02}, as_of="2021-06-30", year_start="04-01")
    t = t.set_index(["lpu", "group"])
    assert t.loc[("South", "burglary"), ["ytd_this_year", "ytd_last_year"]].tolist() == [0, 3]
    assert t.loc[("North", "burglary"), ["ytd_this_year", "ytd_last_year"]].tolist() == [0, 0]
    with pytest.raises(InvalidParameterError, match="not crime groups"):
        ytd_vs_milestones(f, {"public-place violence": -0.05}, as_of="2021-06-30")
    with pytest.raises(InvalidParameterError, match="MM-DD"):
        ytd_vs_milestones(f, {"burglary": -0.02}, year_start="April")
    with pytest.raises(InvalidParameterError, match="before the data"):
        ytd_vs_milestones(f, {"burglary": -0.02}, as_of="2019-12-31")


def test_treated_areas_from_a_patrol_geojson_path(tmp_path):
    f = simulate(effect=0.7, displaced=0.0, seed=6)
    path = tmp_path / "patrol_areas.geojson"
    TREATED.to_crs(4326).to_file(path)  # GeoJSON is WGS84; reprojected back on reading
    kw = dict(before="6 months", after="6 months", buffer_m=BUFFER_M, control_cell_m=400)
    from_path = intervention_effect(f, str(path), START, **kw)
    from_frame = intervention_effect(f, TREATED, START, **kw)
    assert from_path.counts.loc[0, "area_km2"] == pytest.approx(0.32, rel=1e-6)
    diff = (from_path.counts[["before", "after"]] - from_frame.counts[["before", "after"]]).abs()
    assert int(diff.to_numpy().max()) <= 1  # round trip through lon/lat moves edges < 1 mm


# ---------------------------------------------------------------------------- helpers
def test_points_in_counts_the_boundary_and_wdq_meaning_words():
    from geodemand.evaluate.intervention import points_in, wdq_meaning

    square = shapely.box(0, 0, 10, 10)
    x = np.array([5.0, 10.0, 10.5, -0.0, 0.0])
    y = np.array([5.0, 5.0, 5.0, 10.0, 10.000001])
    assert points_in(x, y, square, CRS).tolist() == [True, True, False, True, False]
    assert points_in(x, y, shapely.Polygon(), CRS).tolist() == [False] * 5
    # diffusion: area -30 % and buffer -10 % against a flat control
    assert wdq_meaning(displacement_measures(100, 70, 100, 90, 200, 200)) == (
        "diffusion of benefit")
    assert "smaller than the benefit" in wdq_meaning(displacement_measures(100, 70, 100, 110,
                                                                           200, 200))
    assert "larger than the benefit" in wdq_meaning(displacement_measures(100, 90, 100, 150,
                                                                          200, 200))
    assert "not meaningful" in wdq_meaning(displacement_measures(100, 110, 100, 90, 200, 200))
    assert "undefined" in wdq_meaning(displacement_measures(100, 110, 100, 90, 0, 200))
