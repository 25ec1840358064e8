"""Rolling-origin backtest: folds, units, method plumbing, outputs and the CLI (synthetic data)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner

from geodemand.errors import InvalidParameterError
from geodemand.evaluate.backtesting import backtest, build_units, make_folds
from geodemand.evaluate.metrics import capture_metrics
from geodemand.grid import Grid

X0, Y0, SIDE = 400_000.0, 300_000.0, 4_000.0
CRS = "EPSG:27700"
HOT = [(1500.0, 1500.0), (3200.0, 2600.0), (800.0, 3300.0)]


def synthetic(seed: int = 0, months: int = 8, per_month: int = 300, start="2021-01-01"):
    """Incidents in a 4 km square: 70 % around three fixed hot spots (sd 150 m), the rest
    uniform; dated uniformly within each month."""
    rng = np.random.default_rng(seed)
    rows = []
    for m in range(months):
        month = pd.Timestamp(start) + pd.DateOffset(months=m)
        days = (month + pd.DateOffset(months=1) - month).days
        n = per_month
        hot = rng.random(n) < 0.7
        centre = np.array(HOT)[rng.integers(0, len(HOT), n)]
        xy = np.where(
            hot[:, None], centre + rng.normal(0, 150, (n, 2)), rng.uniform(0, SIDE, (n, 2))
        )
        xy = np.clip(xy, 1, SIDE - 1)
        when = month + pd.to_timedelta(rng.uniform(0, days, n), unit="D")
        rows.append(pd.DataFrame({"x": X0 + xy[:, 0], "y": Y0 + xy[:, 1], "occurred": when}))
    f = pd.concat(rows, ignore_index=True)
    f["incident_id"] = [f"s{i}" for i in range(len(f))]
    f["date_precision"] = "day"
    f["crime_type"] = "burglary"
    f["location_key"] = (
        "xy:"
        + (f["x"] // 50 * 50).astype(int).astype(str)
        + ","
        + (f["y"] // 50 * 50).astype(int).astype(str)
    )
    f["occurred"] = f["occurred"].astype("datetime64[ns]")
    f.attrs["crs"] = CRS
    return f


SQUARE = shapely.box(X0, Y0, X0 + SIDE, Y0 + SIDE)
GRID = Grid(X0, Y0, 200.0, 20, 20, CRS)


@pytest.fixture(scope="module")
def frame():
    return synthetic()


@pytest.fixture(scope="module")
def result(frame):
    return backtest(
        frame,
        grid=GRID,
        n_folds=3,
        train_periods=4,
        bandwidths_m=[200, 400],
        methods=["naive", "random", "kde", "prospective_kde", "gistar", "repeats"],
        seed=7,
    )


# ---------------------------------------------------------------------------- folds
def test_monthly_folds():
    occ = pd.Series(pd.to_datetime(["2021-01-05", "2021-08-20"]))
    f = make_folds(occ, "month", 3, 4)
    assert list(f["test_start"]) == list(pd.to_datetime(["2021-06-01", "2021-07-01", "2021-08-01"]))
    assert f["train_start"].iloc[0] == pd.Timestamp("2021-02-01")
    assert f["last_start"].iloc[0] == pd.Timestamp("2021-05-01")
    assert f["test_end"].iloc[-1] == pd.Timestamp("2021-09-01")
    with pytest.raises(InvalidParameterError, match="need 10 months"):
        make_folds(occ, "month", 3, 7)


def test_weekly_folds_are_iso_weeks_ending_with_the_last_complete_week():
    # 2019-12-29 is a Sunday: the week of 2019-12-23 is the last complete ISO week
    occ = pd.Series(pd.to_datetime(["2019-01-01 10:00", "2019-12-31 23:54"]))
    f = make_folds(occ, "week", 2, 50)
    assert list(f["test_start"]) == list(pd.to_datetime(["2019-12-16", "2019-12-23"]))
    assert f["test_end"].iloc[-1] == pd.Timestamp("2019-12-30")
    assert f["train_start"].iloc[0] == pd.Timestamp("2019-12-16") - pd.Timedelta(weeks=50)
    with pytest.raises(InvalidParameterError, match="need 54 weeks"):
        make_folds(occ, "week", 2, 52)
    with pytest.raises(InvalidParameterError, match="first day of a month"):
        make_folds(occ, "month", 1, 1, end="2019-12-15")
    with pytest.raises(InvalidParameterError, match="a Monday"):
        make_folds(occ, "week", 1, 1, end="2019-12-15")


def test_expanding_training_history():
    """With min_train_periods below train_periods, early folds train on what there is."""
    occ = pd.Series(pd.to_datetime(["2021-01-05", "2021-08-20"]))
    f = make_folds(occ, "month", 3, 24, min_train_periods=5)
    assert list(f["train_start"]) == [pd.Timestamp("2021-01-01")] * 3
    assert list(f["test_start"]) == list(pd.to_datetime(["2021-06-01", "2021-07-01",
                                                          "2021-08-01"]))
    with pytest.raises(InvalidParameterError, match="at least 6 months"):
        make_folds(occ, "month", 3, 24, min_train_periods=6)


# ---------------------------------------------------------------------------- units
def test_cell_areas_are_clipped_to_the_study_area():
    circle = shapely.Point(X0 + 2000, Y0 + 2000).buffer(1500, quad_segs=32)
    units, _ = build_units(CRS, grid=GRID, study_area=circle)
    assert units.area_m2.sum() == pytest.approx(circle.area, rel=1e-9)
    assert units.area_m2.max() == pytest.approx(200.0 * 200.0)
    assert (units.area_m2 >= 0).all()
    # a cell whose centre is inside but which is cut by the circle has a partial area
    assert ((units.area_m2 > 0) & (units.area_m2 < 40_000 - 1e-6)).any()


def test_area_mode_counts_match_point_in_polygon(frame):
    quads = gpd.GeoDataFrame(
        {"neighbourhood": ["sw", "se", "nw", "ne"]},
        geometry=[
            shapely.box(X0 + i * 2000, Y0 + j * 2000, X0 + (i + 1) * 2000, Y0 + (j + 1) * 2000)
            for j in (0, 1)
            for i in (0, 1)
        ],
        crs=CRS,
    )
    res = backtest(frame, area_units=quads, grid=GRID, n_folds=2, train_periods=3,
                   methods=["naive"])
    assert res.params["units"] == "areas" and res.params["study_area_km2"] == pytest.approx(16)
    # reference twin: the naive metric of fold 1 computed by hand
    fold = res.folds[(res.folds["fold"] == 1)]
    test_start = fold["test_start"].iloc[0]
    occ = frame["occurred"]
    last = frame[(occ >= test_start - pd.DateOffset(months=1)) & (occ < test_start)]
    test = frame[(occ >= test_start) & (occ < test_start + pd.DateOffset(months=1))]

    def quad_counts(f):
        i = ((f["x"] - X0) >= 2000).astype(int)
        j = ((f["y"] - Y0) >= 2000).astype(int)
        return np.bincount(j * 2 + i, minlength=4).astype(float)

    ref = capture_metrics(
        quad_counts(last) / 4.0, quad_counts(test), area=4e6, coverages=res.params["coverages"]
    )
    np.testing.assert_allclose(fold["captured"], ref["captured"])
    np.testing.assert_allclose(fold["pai"], ref["pai"])


# ---------------------------------------------------------------------------- backtest
def test_fold_table_shape_and_windows(result, frame):
    f = result.folds
    methods = [
        "naive",
        "random",
        "kde_200m",
        "kde_400m",
        "prospective_kde_200m",
        "prospective_kde_400m",
        "gistar",
        "repeats",
    ]
    assert list(pd.unique(f["method"])) == methods
    assert len(f) == 3 * len(methods) * 3
    occ = frame["occurred"]
    for _, r in f.drop_duplicates("fold").iterrows():
        assert r["n_train"] == ((occ >= r["train_start"]) & (occ < r["test_start"])).sum()
        assert r["n_test"] == ((occ >= r["test_start"]) & (occ < r["test_end"])).sum()
        assert r["train_start"] == r["test_start"] - pd.DateOffset(months=4)
    assert f.loc[f["method"] == "gistar", "significant_share"].between(0, 1).all()
    assert f.loc[f["method"] != "gistar", "significant_share"].isna().all()
    assert (f.loc[f["method"] == "repeats", "repeat_places"] > 0).all()


def test_naive_fold_matches_reference_twin(result, frame):
    """Recompute naive's fold-2 metrics with plain loops over incidents and cells."""
    r = result.folds[(result.folds["fold"] == 2) & (result.folds["method"] == "naive")]
    t0 = r["test_start"].iloc[0]
    cs, n = GRID.cell_size, GRID.n_rows
    last = np.zeros((n, n))
    test = np.zeros((n, n))
    for x, y, when in zip(frame["x"], frame["y"], frame["occurred"], strict=True):
        col, row = int((x - X0) // cs), n - 1 - int((y - Y0) // cs)
        if t0 - pd.DateOffset(months=1) <= when < t0:
            last[row, col] += 1
        elif t0 <= when < t0 + pd.DateOffset(months=1):
            test[row, col] += 1
    ref = capture_metrics(last / 0.04, test, area=cs * cs, coverages=[0.01, 0.05, 0.10])
    for col in ("captured", "hit_rate", "pai", "pei_star"):
        np.testing.assert_allclose(r[col].to_numpy(), ref[col].to_numpy(), rtol=1e-12)


def test_repeats_fold_matches_reference_twin(result, frame):
    """Repeat places by hand: location keys with >= 2 training incidents, their incidents
    summed per cell of the place's mean position, per km²."""
    r = result.folds[(result.folds["fold"] == 1) & (result.folds["method"] == "repeats")]
    t0, t1 = r["train_start"].iloc[0], r["test_start"].iloc[0]
    occ = frame["occurred"]
    train = frame[(occ >= t0) & (occ < t1)]
    test = frame[(occ >= t1) & (occ < r["test_end"].iloc[0])]
    score = np.zeros(GRID.shape)
    n_places = 0
    for _, g in train.groupby("location_key"):
        if len(g) >= 2:
            n_places += 1
            row, col, _ = GRID.cell_index(np.array([g["x"].mean()]), np.array([g["y"].mean()]))
            score[row[0], col[0]] += len(g) / 0.04
    observed = GRID.bin_counts(test["x"], test["y"])
    ref = capture_metrics(score, observed, area=GRID.cell_area_m2, coverages=[0.01, 0.05, 0.1])
    assert r["repeat_places"].iloc[0] == n_places
    np.testing.assert_allclose(r["captured"].to_numpy(), ref["captured"].to_numpy())


def test_methods_beat_random_on_stable_hot_spots(result):
    s = result.summary
    mean = s.set_index(["method", "coverage", "metric"])["mean"]
    assert mean[("kde_200m", 0.05, "pai")] > 5
    assert mean[("prospective_kde_200m", 0.05, "pai")] > 5
    assert mean[("gistar", 0.05, "pai")] > 5
    assert 0.2 < mean[("random", 0.05, "pai")] < 2.5
    assert (s.loc[s["metric"] == "pei_star", "max"] <= 1 + 1e-12).all()
    # summary statistics agree with the fold table
    f = result.folds
    k = f[(f["method"] == "kde_400m") & (f["coverage"] == 0.1)]["hit_rate"]
    row = s[(s["method"] == "kde_400m") & (s["coverage"] == 0.1) & (s["metric"] == "hit_rate")]
    assert row["mean"].iloc[0] == pytest.approx(k.mean())
    assert row["sd"].iloc[0] == pytest.approx(k.std(ddof=1))
    assert row["n_folds"].iloc[0] == 3
    # the hindsight row: n*/N per fold, above every method
    best = s[(s["method"] == "hindsight (n*/N)") & (s["metric"] == "hit_rate")]
    kf = f[f["method"] == "kde_400m"]
    for cov, sub in kf.groupby("coverage"):
        b = best[best["coverage"] == cov]["mean"].iloc[0]
        assert b == pytest.approx((sub["captured_max"] / sub["total"]).mean())
        means = s[(s["coverage"] == cov) & (s["metric"] == "hit_rate")]["mean"]
        assert (means <= b + 1e-12).all()


def test_deterministic_and_input_not_mutated(frame):
    before = frame.copy()
    a = backtest(frame, grid=GRID, n_folds=2, train_periods=3, methods=["random", "naive"], seed=1)
    b = backtest(frame, grid=GRID, n_folds=2, train_periods=3, methods=["random", "naive"], seed=1)
    c = backtest(frame, grid=GRID, n_folds=2, train_periods=3, methods=["random"], seed=2)
    pd.testing.assert_frame_equal(a.folds, b.folds)
    pd.testing.assert_frame_equal(frame, before)
    ra = a.folds[a.folds["method"] == "random"]["captured"].to_numpy()
    assert not np.allclose(ra, c.folds["captured"].to_numpy())


def test_curve_and_outputs(result, tmp_path):
    curve = result.curve
    hind = curve[curve["method"] == "hindsight (n*/N)"]
    for method, sub in curve.groupby("method"):
        assert (np.diff(sub["hit_rate"].to_numpy()) >= -1e-12).all(), method
        assert (sub["hit_rate"].to_numpy() <= hind["hit_rate"].to_numpy() + 1e-12).all()
    paths = result.write(tmp_path / "out", "bt")
    assert set(paths) == {"summary_csv", "folds_csv", "lpu_csv", "places_csv", "markdown", "plot"}
    back = pd.read_csv(paths["summary_csv"])
    assert len(back) == len(result.summary)
    md = paths["markdown"].read_text()
    assert "**Coverage 5% of the study area**" in md and "| kde_200m |" in md
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list((tmp_path / "out").glob(".*tmp*"))  # atomic writes leave no temp file
    wide = result.table("pai")
    assert {"pai_mean", "pai_sd", "pai_min", "pai_max"} <= set(wide.columns)


def test_targets_method_runs_when_lpus_present(frame):
    f = frame.copy()
    f["lpu"] = np.where(f["x"] < X0 + 2000, "west", "east")
    f["neighbourhood"] = f["lpu"]
    f.attrs["crs"] = CRS
    res = backtest(f, grid=GRID, n_folds=1, train_periods=3, methods=["targets", "random"])
    pai5 = res.folds[(res.folds["method"] == "targets") & (res.folds["coverage"] == 0.05)]["pai"]
    assert pai5.iloc[0] > 3


def test_bad_inputs(frame):
    with pytest.raises(InvalidParameterError, match="unknown method"):
        backtest(frame, grid=GRID, n_folds=1, train_periods=2, methods=["magic"])
    monthly = frame.assign(date_precision="month")
    monthly.attrs["crs"] = CRS
    with pytest.raises(InvalidParameterError, match="dated incidents"):
        backtest(monthly, grid=GRID, period="week", n_folds=1, train_periods=2)
    with pytest.raises(InvalidParameterError, match="grid, areas or a study_area"):
        backtest(frame, n_folds=1, train_periods=2)
    with pytest.raises(InvalidParameterError, match="need"):
        backtest(frame, grid=GRID, n_folds=6, train_periods=6)


def test_cli_writes_the_bundle(tmp_path):
    from geodemand.cli.commands.evaluate import command

    f = synthetic(seed=3, months=5, per_month=150)
    csv = tmp_path / "incidents.csv"
    pd.DataFrame(
        {"when": f["occurred"].dt.strftime("%Y-%m-%d %H:%M"), "east": f["x"], "north": f["y"]}
    ).to_csv(csv, index=False)
    lpus = tmp_path / "lpus.geojson"
    gpd.GeoDataFrame(
        {"lpu": ["west", "east"]},
        geometry=[
            shapely.box(X0, Y0, X0 + 2000, Y0 + SIDE),
            shapely.box(X0 + 2000, Y0, X0 + SIDE, Y0 + SIDE),
        ],
        crs=CRS,
    ).to_crs(4326).to_file(lpus)
    out = tmp_path / "eval"
    res = CliRunner().invoke(
        command,
        [
            "--incidents",
            str(csv),
            "--lpu-boundaries",
            str(lpus),
            "--map",
            "date=when",
            "--map",
            "x=east",
            "--map",
            "y=north",
            "--map",
            "crs=EPSG:27700",
            "--map",
            "crime_type_value=burglary",
            "--folds",
            "2",
            "--train-periods",
            "2",
            "--cell-size-m",
            "250",
            "--kde-bandwidth-m",
            "300",
            "--method",
            "naive",
            "--method",
            "kde",
            "--out",
            str(out),
            "--stem",
            "x",
        ],
    )
    assert res.exit_code == 0, res.output + str(res.exception)
    assert "| kde_300m |" in res.output
    assert sorted(p.name for p in out.iterdir()) == [
        "x.md",
        "x_folds.csv",
        "x_hit_rate.png",
        "x_lpu.csv",
        "x_places.csv",
        "x_summary.csv",
    ]


@pytest.mark.slow
def test_real_leicestershire_burglary_two_folds():
    import geodemand

    root = Path(__file__).resolve().parents[1]
    table = geodemand.read_incidents(root / "data" / "incidents" / "leicestershire")
    lpus = root / "data" / "boundaries" / "leicestershire" / "lpus.geojson"
    frame = table.frame[table.frame["crime_type"] == "burglary"]
    res = backtest(
        frame, study_area=lpus, n_folds=2, methods=["naive", "random", "kde"],
        bandwidths_m=[250, 500],
    )
    mean = res.summary.set_index(["method", "coverage", "metric"])["mean"]
    assert res.params["study_area_km2"] == pytest.approx(2550.9, abs=1)
    assert mean[("kde_250m", 0.01, "pai")] > 5
    assert mean[("kde_250m", 0.05, "hit_rate")] > mean[("naive", 0.05, "hit_rate")] - 0.1
    assert 0.2 < mean[("random", 0.05, "pai")] < 2


def test_package_name_calls_the_function_after_submodule_import(frame):
    import geodemand
    import geodemand.evaluate.backtesting  # the module has its own name: no clash with the function

    res = geodemand.backtest(frame, grid=GRID, n_folds=1, train_periods=2, methods=["naive"])
    assert res.params["n_folds"] == 1 and set(res.folds["method"]) == {"naive"}
    assert geodemand.intervention_effect.__module__ == "geodemand.evaluate.intervention"
