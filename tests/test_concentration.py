"""Concentration of demand: Gini, concentration curve, shares, on constructed and real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

from geodemand.engines.repeats import concentration, plot_concentration, repeat_locations
from geodemand.errors import InvalidParameterError
from geodemand.ingest.vocabulary import normalise_crime_type

DATA = Path(__file__).resolve().parent / "data"


# --------------------------------------------------------------------------- reference twins


def gini_mean_difference(x):
    """G = sum_ij |x_i - x_j| / (2 n^2 mean): the n-normalised Gini, another route."""
    x = np.asarray(x, dtype=float)
    return np.abs(x[:, None] - x[None, :]).sum() / (2 * x.size**2 * x.mean())


def gini_lorenz_area(x):
    """G = 1 - 2 B, B the trapezoidal area under the (ascending) Lorenz curve."""
    x = np.sort(np.asarray(x, dtype=float))
    lorenz = np.r_[0.0, np.cumsum(x) / x.sum()]
    b = np.sum((lorenz[1:] + lorenz[:-1]) / 2) / x.size
    return 1 - 2 * b


def top_share_twin(counts, share):
    """Share of demand in the best ``share`` of units, interpolating within a unit."""
    c = np.sort(np.asarray(counts, dtype=float))[::-1]
    k = share * c.size
    whole = int(np.floor(k))
    part = c[whole] * (k - whole) if whole < c.size else 0.0
    return (c[:whole].sum() + part) / c.sum()


# --------------------------------------------------------------------------- constructed


def test_known_answers():
    c = concentration(np.array([0, 0, 0, 10]))
    assert c.gini == pytest.approx(0.75)  # (n - 1) / n with one unit holding everything
    assert c.units_for(0.5) == 1 and c.share_units_for(0.5) == pytest.approx(0.125)
    assert c.share_of_top(0.25) == pytest.approx(1.0)
    assert concentration(np.full(7, 3.0)).gini == pytest.approx(0.0, abs=1e-15)
    equal = concentration(np.ones(10))
    assert equal.share_units_for(0.5) == pytest.approx(0.5)
    assert equal.share_units_for(0.8) == pytest.approx(0.8)
    assert equal.share_of_top(0.05) == pytest.approx(0.05)
    three = concentration([3, 2, 1])
    assert three.gini == pytest.approx(4 / 18)
    assert three.share_units_for(0.5) == pytest.approx(1 / 3)
    assert three.share_units_for(0.8) == pytest.approx((1 + 0.9) / 3)  # within the 2nd unit
    assert three.units_for(0.8) == 2 and three.units_for(5 / 6) == 2
    f, s = three.curve()
    np.testing.assert_allclose(f, [0, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(s, [0, 0.5, 5 / 6, 1])
    assert np.isnan(concentration(np.zeros(5)).gini)


def test_gini_and_shares_equal_the_twins_on_random_data():
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = rng.pareto(1.3, int(rng.integers(1, 400))).round(1)
        if x.sum() == 0:
            continue
        c = concentration(x)
        assert c.gini == pytest.approx(gini_mean_difference(x), rel=1e-10, abs=1e-12)
        assert c.gini == pytest.approx(gini_lorenz_area(x), rel=1e-10, abs=1e-12)
        for p in (0.01, 0.05, 0.2, 0.5):
            assert c.share_of_top(p) == pytest.approx(top_share_twin(x, p), rel=1e-12)
        for q in (0.5, 0.8):
            k = c.units_for(q)
            top = np.sort(x)[::-1]
            assert top[:k].sum() >= q * x.sum() * (1 - 1e-12)
            assert k == 1 or top[: k - 1].sum() < q * x.sum()
            # the interpolated inverse lands inside that unit and reproduces q
            assert (k - 1) / x.size <= c.share_units_for(q) <= k / x.size
            assert c.share_of_top(c.share_units_for(q)) == pytest.approx(q)


def test_grid_cells_count_zeros_and_drop_nan():
    grid = np.zeros((10, 10))
    grid[0, 0] = 50
    grid[5, 5] = 50
    grid[9, :] = np.nan  # outside the study area
    c = concentration(grid)
    assert c.overall.n_units == 90 and c.overall.n_nonzero == 2
    assert c.gini == pytest.approx(gini_mean_difference(np.r_[50, 50, np.zeros(88)]))
    assert c.gini == pytest.approx(88 / 90)
    assert c.share_units_for(0.5) == pytest.approx(1 / 90)
    with pytest.raises(InvalidParameterError, match=">= 0"):
        concentration(np.array([1.0, -2.0]))
    with pytest.raises(InvalidParameterError, match="by="):
        concentration(grid, by="lpu")


def test_per_group_and_weights_from_places():
    frame = pd.DataFrame({
        "location_key": list("aaaabbcdee"),
        "x": [0.0] * 4 + [10.0] * 2 + [20.0, 30.0, 40.0, 40.0],
        "y": 0.0,
        "occurred": pd.Timestamp("2021-05-01"),
        "date_precision": "day",
        "crime_type": ["burglary"] * 4 + ["robbery"] * 2 + ["shoplifting"] * 4,
        "lpu": list("NNNNNNSSSS"),
    })
    places = repeat_locations(frame)
    res = concentration(places, by="lpu")
    assert list(res.groups) == ["all", "N", "S"]
    assert res.groups["N"].values.tolist() == [4.0, 2.0]
    assert res.groups["S"].values.tolist() == [2.0, 1.0, 1.0]
    assert res.gini == pytest.approx(gini_mean_difference([4, 2, 1, 1, 2]))
    summary = res.summary.set_index("group")
    assert summary.loc["N", "n_units_50"] == 1 and summary.loc["S", "total"] == 4
    harm = concentration(places, by="lpu", weight="harm")
    assert harm.groups["N"].total == pytest.approx(places.loc[places.lpu == "N", "harm"].sum())
    direct = concentration(frame, by="lpu")  # incidents are summarised per place first
    pd.testing.assert_frame_equal(direct.summary, res.summary)
    assert direct.params["input"] == "incidents"
    with pytest.raises(InvalidParameterError, match="weight"):
        concentration(places, weight="cost")


@pytest.mark.parametrize("n", [0, 1, 2, 50, 20_000])
def test_curve_for_drawing_keeps_every_point_within_a_step_of_the_line(n):
    """Reference: each original point against the drawn polyline (distance to the nearest
    drawn segment, per axis), by brute force."""
    from geodemand.engines.repeats import curve_for_drawing

    rng = np.random.default_rng(n)
    values = rng.pareto(1.2, n) * (rng.random(n) < 0.7)
    if n:
        values[0] = 50 * values.max() + 1  # one place with a large share: a long segment
    conc = concentration(values)
    f, c = conc.curve()
    steps = 64
    df, dc = curve_for_drawing(f, c, steps=steps)
    if n == 0 or not np.isfinite(c).all():
        assert df is f or (df.size == f.size)
        return
    assert df[0] == f[0] and dc[0] == c[0] and df[-1] == f[-1] and dc[-1] == c[-1]
    assert df.size <= 2 * steps + 2 and set(df.tolist()) <= set(f.tolist())
    kept = np.flatnonzero(np.isin(f, df))
    for i in range(f.size):
        j = np.searchsorted(kept, i, side="right") - 1  # the kept point at or before i
        a = kept[j]
        b = kept[min(j + 1, kept.size - 1)]
        # the point lies within one step (each axis) of the segment's start
        assert abs(f[i] - f[a]) <= 1 / steps and abs(c[i] - c[a]) <= 1 / steps
        assert f[a] <= f[i] <= f[b] and c[a] <= c[i] <= c[b]


def test_plot_draws_the_curve_from_its_drawing_points(tmp_path):
    from geodemand.engines.repeats import curve_for_drawing

    values = np.random.default_rng(3).pareto(1.5, 30_000)
    res = concentration(values)
    fig = plot_concentration(res)
    line = fig.axes[0].get_lines()[0]
    f, c = curve_for_drawing(*res.groups["all"].curve())
    assert f.size < 10_000
    np.testing.assert_array_equal(line.get_xdata(), 100 * f)
    np.testing.assert_array_equal(line.get_ydata(), 100 * c)


def test_plot_returns_a_figure_and_is_written_atomically(tmp_path):
    import matplotlib.pyplot as plt

    res = concentration(pd.Series([5, 3, 1, 1, 0]))
    fig = plot_concentration(res, tmp_path / "c.png", title="test")
    assert fig.axes[0].get_title() == "test" and plt.get_fignums() == []  # no pyplot state
    path = tmp_path / "c.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_concentration(res).axes  # a path is optional
    assert [p.name for p in tmp_path.iterdir()] == ["c.png"]
    with pytest.raises(InvalidParameterError, match="unknown group"):
        plot_concentration(res, tmp_path / "d.png", groups=["nowhere"])


# --------------------------------------------------------------------------- real data


def _police_uk_places(frames: list[pd.DataFrame], lon="Longitude", lat="Latitude",
                      crime="Crime type") -> pd.DataFrame:
    """Canonical-looking incidents keyed by the rounded lon/lat map point."""
    d = pd.concat(frames, ignore_index=True).dropna(subset=[lon, lat])
    x, y = Transformer.from_crs(4326, 27700, always_xy=True).transform(
        d[lon].to_numpy(), d[lat].to_numpy()
    )
    types, _ = normalise_crime_type(d[crime])
    key = "pt:" + d[lon].round(6).map("{:.6f}".format) + "," + d[lat].round(6).map(
        "{:.6f}".format
    )
    return pd.DataFrame({
        "location_key": key.to_numpy(), "x": x, "y": y,
        "occurred": pd.Timestamp("2020-01-01"), "date_precision": "month",
        "crime_type": types.to_numpy(),
    })


def test_leicestershire_two_years_top_5_percent_of_map_points_hold_about_31_percent():
    files = sorted((DATA / "police_uk" / "leicestershire").glob("*.csv.gz"))
    assert len(files) == 24
    frame = _police_uk_places([pd.read_csv(f) for f in files])
    places = repeat_locations(frame, by=None, unknown_harm=1.0)
    assert len(places) == 12_641  # distinct map points (data README)
    res = concentration(places)
    assert res.share_of_top(0.05) == pytest.approx(0.31, abs=0.015)
    assert res.summary.loc[0, "top5_share"] == res.share_of_top(0.05)
    assert 0.0 < res.share_units_for(0.5) < 0.2 and 0.4 < res.gini < 0.8


def test_west_midlands_month_top_5_percent_of_map_points_hold_about_22_percent():
    api = pd.read_csv(DATA / "police_uk" / "west_midlands_api" / "2018-06-west-midlands-api.csv.gz")
    frame = _police_uk_places([api], lon="longitude", lat="latitude", crime="category")
    res = concentration(frame, key="location_key")
    assert res.overall.n_units == 11_432  # distinct map points (data README)
    assert res.share_of_top(0.05) == pytest.approx(0.22, abs=0.015)


def test_concentration_plots_on_one_figure_equal_one_plot_each(tmp_path):
    """The job's batch writer (one figure, a curve swapped per group) against
    plot_concentration per group: the same PNG bytes, colours and legend."""
    from geodemand.engines.repeats import save_concentration_plots

    rng = np.random.default_rng(12)
    frame = pd.DataFrame({
        "harm": rng.pareto(1.4, 6_000),
        "lpu": rng.choice(["North", "South", "East & <West>"], 6_000),
    })
    from geodemand.engines.repeats import ConcentrationResult

    groups = {"all": concentration(frame["harm"]).groups["all"]}
    for lpu, part in frame.groupby("lpu"):
        groups[lpu] = concentration(part["harm"]).groups["all"]
    res = ConcentrationResult(groups=groups, summary=pd.DataFrame(), params={})
    plots = [(g, tmp_path / f"batch_{i}.png", f"Concentration: {g}")
             for i, g in enumerate(["South", "North", "East & <West>"])]
    written = save_concentration_plots(res, plots)
    assert [p.name for p in written] == [p.name for _, p, _ in plots]
    for group, path, title in plots:
        single = plot_concentration(res, tmp_path / f"single_{path.name}", title=title,
                                    groups=["all", group])
        assert path.read_bytes() == (tmp_path / f"single_{path.name}").read_bytes(), group
        labels = [t.get_text() for t in single.axes[0].get_legend().get_texts()]
        assert labels[0].startswith("force-wide") and labels[1].startswith(group)
    with pytest.raises(InvalidParameterError, match="unknown group"):
        save_concentration_plots(res, [("nowhere", tmp_path / "x.png", "x")])
    assert not (tmp_path / "x.png").exists()
