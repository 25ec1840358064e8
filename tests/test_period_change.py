"""Tests of geodemand.engines.period_change: the exact conditional binomial test against scipy."""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from geodemand.engines.period_change import binomial_change_pvalues, period_change
from geodemand.errors import InvalidParameterError
from geodemand.grid import Grid

DATA = Path(__file__).resolve().parent / "data"


@pytest.mark.parametrize("k", [1, 3, 4, 12, 12.5, 52])
def test_pvalues_equal_scipy_binomtest_on_every_outcome(k):
    pi = 1 / (1 + k)
    for n in (1, 2, 3, 5, 8, 13, 40, 101, 400):
        ks = np.arange(n + 1)
        ours = binomial_change_pvalues(ks, np.full(n + 1, n), pi)
        ref = np.array([stats.binomtest(int(c), n, pi).pvalue for c in ks])
        np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=0)


def test_exact_mode_gives_one():
    # with k = 3 baseline periods and n = 8, an observed 2 is the expectation n/(1+k)
    assert binomial_change_pvalues(np.array([2]), np.array([8]), 0.25)[0] == 1.0


@pytest.fixture(scope="module")
def leicestershire_lsoa_burglary():
    """Burglaries per LSOA: current = 2021-11, baseline = the 12 months before."""
    files = sorted(glob.glob(str(DATA / "police_uk" / "leicestershire" / "*.csv.gz")))
    raw = pd.concat([pd.read_csv(f, usecols=["Month", "LSOA code", "Crime type"])
                     for f in files])
    raw = raw[(raw["Crime type"] == "Burglary") & raw["LSOA code"].notna()]
    current = raw[raw["Month"] == "2021-11"].groupby("LSOA code").size()
    base_months = [f"2020-{m:02d}" for m in (11, 12)] + [f"2021-{m:02d}" for m in range(1, 11)]
    baseline = raw[raw["Month"].isin(base_months)].groupby("LSOA code").size()
    return current, baseline


def test_lsoa_change_matches_scipy_and_bh(leicestershire_lsoa_burglary):
    current, baseline = leicestershire_lsoa_burglary
    res = period_change(current, baseline, baseline_periods=12)
    frame = res.to_frame()
    assert set(frame.index) == set(current.index) | set(baseline.index)
    assert frame["current"].sum() == current.sum() and frame["baseline"].sum() == baseline.sum()
    tested = frame["current"] + frame["baseline"] > 0
    assert tested.all()
    ref = [stats.binomtest(int(c), int(c + b), 1 / 13).pvalue
           for c, b in zip(frame["current"], frame["baseline"], strict=True)]
    np.testing.assert_allclose(frame["p"], ref, rtol=1e-12)
    np.testing.assert_array_equal(frame["q"], stats.false_discovery_control(frame["p"]))
    np.testing.assert_allclose(frame["baseline_mean"], frame["baseline"] / 12)
    np.testing.assert_allclose(frame["change"], frame["current"] - frame["baseline"] / 12)
    sig = frame["q"] <= 0.05
    up = frame["current"] > frame["expected"]
    assert (frame.loc[sig & up, "direction"] == "increase").all()
    assert (frame.loc[sig & ~up, "direction"] == "decrease").all()
    assert (frame.loc[~sig, "direction"] == "no significant change").all()
    assert res.params["correction"] == "fdr_bh" and res.params["baseline_periods"] == 12


def test_area_geodataframe(leicestershire_lsoa_burglary):
    import geopandas as gpd

    current, baseline = leicestershire_lsoa_burglary
    lsoa = gpd.read_file(DATA / "boundaries" / "leicestershire" / "lsoa2011.geojson")
    lsoa = lsoa.set_index("LSOA11CD")
    current = current[current.index.isin(lsoa.index)]
    baseline = baseline[baseline.index.isin(lsoa.index)]
    res = period_change(current, baseline, baseline_periods=12)
    gdf = res.to_geodataframe(lsoa)
    assert len(gdf) == len(res.to_frame())
    assert {"current", "baseline", "p", "q", "direction", "geometry"} <= set(gdf.columns)
    assert gdf.attrs["params"]["n_units"] == len(gdf)


def test_grid_input_with_empty_cells_and_a_planted_increase():
    rng = np.random.default_rng(3)
    baseline = rng.poisson(2.0, size=(30, 40)) * 4  # 4 baseline weeks
    current = rng.poisson(2.0, size=(30, 40))
    baseline[:5, :5] = 0
    current[:5, :5] = 0
    current[20, 20] = 40  # against a baseline mean of about 2 a week
    grid = Grid(0.0, 0.0, 250.0, 40, 30, "EPSG:27700")
    res = period_change(current, baseline, baseline_periods=4, grid=grid)
    assert np.isnan(res.p[:5, :5]).all() and (res.direction[:5, :5] == "no incidents").all()
    assert res.direction[20, 20] == "increase"
    tested = ~np.isnan(res.p)
    np.testing.assert_array_equal(res.q[tested], stats.false_discovery_control(res.p[tested]))
    np.testing.assert_array_equal(tested, current + baseline > 0)
    assert res.params["n_tested"] == tested.sum() <= 30 * 40 - 25
    gdf = res.to_geodataframe()
    assert len(gdf) == tested.sum()
    row = gdf[(gdf["row"] == 20) & (gdf["col"] == 20)].iloc[0]
    assert row["current"] == 40 and row["direction"] == "increase"
    assert row.geometry.bounds == (5000.0, 30 * 250 - 21 * 250, 5250.0, 30 * 250 - 20 * 250)


def test_bonferroni_and_none():
    current = np.array([0, 5, 9, 2, 30])
    baseline = np.array([10, 10, 10, 10, 10])
    p = period_change(current, baseline, baseline_periods=2, correction="none")
    b = period_change(current, baseline, baseline_periods=2, correction="bonferroni")
    np.testing.assert_array_equal(p.q, p.p)
    np.testing.assert_array_equal(b.q, np.minimum(p.p * 5, 1))
    assert np.isinf(p.rate_ratio).sum() == 0 and p.rate_ratio[4] == 30 / 5


@pytest.mark.parametrize(
    "current,baseline,kwargs,match",
    [
        (np.array([1, 2]), np.array([1, 2, 3]), {}, "shape"),
        (np.array([1, -2]), np.array([1, 2]), {}, "non-negative whole"),
        (np.array([1.5, 2]), np.array([1, 2]), {}, "non-negative whole"),
        (np.array([1, 2]), np.array([1, 2]), {"baseline_periods": 0}, "baseline_periods"),
        (np.array([1, 2]), np.array([1, 2]), {"correction": "holm"}, "correction"),
        (np.array([1, 2]), pd.Series([1, 2]), {}, "both"),
    ],
)
def test_bad_input_raises(current, baseline, kwargs, match):
    kwargs = {"baseline_periods": 3, **kwargs}
    with pytest.raises(InvalidParameterError, match=match):
        period_change(current, baseline, **kwargs)
