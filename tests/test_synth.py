"""Synthetic incident generator: realism against the real files, determinism, files, speed.

Figures checked here were measured on the bundled real data: in the West Midlands 2018-06
police.uk month the top 5 % of map points hold 22.2 % of incidents; over the 24 Leicestershire
months (2019-12 .. 2021-11), 31.5 %.
"""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from scipy.spatial import cKDTree
from scipy.stats import chisquare

import geodemand as gd
from geodemand.errors import InputFormatError, InvalidParameterError
from geodemand.ingest import synth
from geodemand.ingest.incidents import CANONICAL_COLUMNS

WM_MONTH = "incidents/west-midlands/2018-06-west-midlands-api.csv.gz"


# ---------------------------------------------------------------------------- references
def top_share(keys, share: float = 0.05) -> float:
    """Share of incidents at the top ``share`` of places (places with >= 1 incident)."""
    counts = np.sort(pd.Series(np.asarray(keys)).value_counts().to_numpy())[::-1]
    k = int(np.ceil(share * counts.size))
    return float(counts[:k].sum() / counts.sum())


def days_of(occurred) -> np.ndarray:
    t = pd.to_datetime(pd.Series(occurred)).to_numpy("datetime64[s]").astype(np.int64)
    return (t - t.min()) / 86_400.0


def close_pairs_brute(x, y, d: float, block: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """All pairs i < j with distance < d metres, by brute force over all pairs."""
    out_i, out_j = [], []
    n = x.size
    for a in range(0, n, block):
        b = min(n, a + block)
        dist2 = (x[a:b, None] - x[None, :]) ** 2 + (y[a:b, None] - y[None, :]) ** 2
        ii, jj = np.nonzero(dist2 < d * d)
        ii = ii + a
        keep = ii < jj
        out_i.append(ii[keep])
        out_j.append(jj[keep])
    return np.concatenate(out_i), np.concatenate(out_j)


def close_pairs_tree(x, y, d: float) -> tuple[np.ndarray, np.ndarray]:
    """All pairs i < j with distance < d metres (k-d tree, exact)."""
    pairs = cKDTree(np.column_stack([x, y])).query_pairs(d, output_type="ndarray")
    i, j = pairs[:, 0], pairs[:, 1]
    keep = np.hypot(x[i] - x[j], y[i] - y[j]) < d
    return i[keep], j[keep]


def knox_ratio(i, j, t, days: float = 7.0, permutations: int = 20, seed: int = 0):
    """(observed, mean over date permutations) of close pairs with |dt| < days."""
    obs = int((np.abs(t[i] - t[j]) < days).sum())
    rng = np.random.default_rng(seed)
    sims = []
    for _ in range(permutations):
        tp = rng.permutation(t)
        sims.append(int((np.abs(tp[i] - tp[j]) < days).sum()))
    return obs, float(np.mean(sims))


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def real_wm(data_dir):
    return gd.read_incidents(data_dir / WM_MONTH).frame


@pytest.fixture(scope="module")
def wm_month(real_wm):
    """One month of synthetic incidents, as many as the real month."""
    return synth.synthetic_incidents(len(real_wm), seed=1, start="2018-06-01", end="2018-06-30")


@pytest.fixture(scope="module")
def two_years():
    """The demo history, generated in memory: 602,064 incidents over two years, seed 0."""
    return synth.demo_history()


@pytest.fixture(scope="module")
def real_le(data_dir):
    return gd.read_incidents(data_dir / "incidents" / "leicestershire")


# ---------------------------------------------------------------------------- places
def test_wm_month_concentration_and_mix_match_the_real_month(real_wm, wm_month):
    real_share = top_share(real_wm["location_key"])
    assert real_share == pytest.approx(0.2224, abs=0.0005)
    synth_share = top_share(wm_month.frame["location_key"])
    assert abs(synth_share - real_share) <= 0.05
    # what a plain resample of the real month's places gives (the reference twin of the draw):
    # the same sampling noise, about one point below the real share at this size
    rng = np.random.default_rng(11)
    keys = real_wm["location_key"].to_numpy()
    boot = top_share(keys[rng.integers(0, keys.size, keys.size)])
    assert abs(synth_share - boot) <= 0.01
    assert 0.200 <= synth_share < real_share
    mix_real = real_wm["crime_type"].value_counts(normalize=True)
    mix_synth = wm_month.frame["crime_type"].value_counts(normalize=True)
    assert set(mix_synth.index) == set(mix_real.index)
    assert (mix_synth - mix_real).abs().max() <= 0.02


def test_leicestershire_two_years_concentration_and_mix(real_le):
    real = real_le.frame
    real_share = top_share(real["location_key"])
    assert real_share == pytest.approx(0.3147, abs=0.0005)
    table = synth.synthetic_incidents(
        len(real), seed=2, calibration=real_le, start="2019-12-01", end="2021-11-30"
    )
    f = table.frame
    assert table.params["boundaries"] == "none"  # non-default calibration: no WM layers
    assert "lpu" not in f.columns
    assert abs(top_share(f["location_key"]) - real_share) <= 0.05
    mix = f["crime_type"].value_counts(normalize=True) - real["crime_type"].value_counts(
        normalize=True
    )
    assert mix.abs().max() <= 0.02
    assert f["occurred"].min() >= pd.Timestamp("2019-12-01")
    assert f["occurred"].max() < pd.Timestamp("2021-12-01")


def test_places_are_real_map_points_with_their_coordinates(real_wm, wm_month):
    f = wm_month.frame
    ref = real_wm.drop_duplicates("location_key").set_index("location_key")[["x", "y"]]
    assert f["location_key"].isin(ref.index).all()
    looked_up = ref.loc[f["location_key"].to_numpy()]
    assert np.array_equal(looked_up["x"].to_numpy(), f["x"].to_numpy())
    assert np.array_equal(looked_up["y"].to_numpy(), f["y"].to_numpy())


def test_types_without_contagion_only_occur_where_the_real_data_had_them(real_wm, two_years):
    f = two_years.frame
    contagious = set(synth.DEFAULT_BRANCHING)
    plain = f[~f["crime_type"].isin(contagious)]
    pairs = plain[["crime_type", "location_key"]].drop_duplicates()
    real_pairs = real_wm[["crime_type", "location_key"]].drop_duplicates()
    merged = pairs.merge(real_pairs, how="left", indicator=True)
    assert (merged["_merge"] == "both").all()
    assert len(pairs) > 0.8 * len(real_pairs[~real_pairs["crime_type"].isin(contagious)])
    # and the per-type place frequencies are the real ones: counts correlate strongly
    shop = f[f["crime_type"] == "shoplifting"]["location_key"].value_counts()
    real_shop = real_wm[real_wm["crime_type"] == "shoplifting"]["location_key"].value_counts()
    joined = pd.concat([shop, real_shop], axis=1, keys=["s", "r"]).fillna(0)
    assert np.corrcoef(joined["s"], joined["r"])[0, 1] > 0.95


def test_outside_calibration_points_are_clipped_and_areas_labelled(two_years):
    cal = synth.load_calibration()
    assert cal.n_clipped == 8  # 8 records of the real month lie outside the bundled LPUs
    assert cal.n_incidents == 25_094 - 8
    f = two_years.frame
    assert (f["lpu"] != "outside").all()
    assert not f["outside"].any()
    assert f["lpu"].nunique() == 10
    # labels agree with an independent point-in-polygon join of the synthetic points
    sample = f.sample(3000, random_state=0)
    b = synth.DEFAULT_BOUNDARIES
    areas = gd.read_areas(b / "lpus.geojson", b / "neighbourhoods.geojson")
    again = gd.assign_areas(sample[["x", "y"]].assign(), areas)
    assert (again["lpu"].to_numpy() == sample["lpu"].to_numpy()).all()
    assert (again["neighbourhood"].to_numpy() == sample["neighbourhood"].to_numpy()).all()


# ---------------------------------------------------------------------------- times
def test_hour_and_weekday_follow_the_documented_profiles(two_years):
    f = two_years.frame
    p = two_years.params
    weekdays = synth._weekday_counts(pd.Timestamp(p["start"]).weekday(), p["days"])
    for crime_type, g in f.groupby("crime_type"):
        n = len(g)
        hours = np.bincount(g["occurred"].dt.hour, minlength=24)
        exp_h = synth.hour_profile(crime_type) * n
        assert chisquare(hours, exp_h).pvalue > 1e-3, crime_type
        assert np.abs(hours - exp_h).max() / n < 0.01, crime_type
        days = np.bincount(g["occurred"].dt.day_of_week, minlength=7)
        w = synth.weekday_profile(crime_type) * weekdays
        exp_d = w / w.sum() * n
        assert chisquare(days, exp_d).pvalue > 1e-3, crime_type
        assert np.abs(days - exp_d).max() / n < 0.02, crime_type
    # the shapes are the documented ones
    shop = f[f["crime_type"] == "shoplifting"]["occurred"]
    assert (shop.dt.hour < 7).mean() < 0.02
    burg = f[f["crime_type"] == "burglary"]["occurred"].dt.hour.value_counts()
    assert burg.idxmax() in (17, 18, 19, 20)
    viol = f[f["crime_type"] == "violence-and-sexual-offences"]["occurred"]
    assert (viol.dt.day_of_week >= 4).mean() > 3 / 7 + 0.05  # Friday to Sunday
    assert viol.dt.hour.isin([22, 23, 0, 1]).mean() > 4 / 24 + 0.05


def test_timestamps_to_the_minute_ids_and_order(two_years):
    f = two_years.frame
    assert tuple(f.columns[: len(CANONICAL_COLUMNS)]) == CANONICAL_COLUMNS
    assert (f["date_precision"] == "minute").all()
    assert two_years.date_precision == "minute"
    assert (f["occurred"].dt.second == 0).all()
    assert (f["occurred"].dt.microsecond == 0).all()
    assert f["occurred"].min() >= pd.Timestamp("2024-11-01")
    assert f["occurred"].max() < pd.Timestamp("2026-11-01")
    assert f["occurred"].is_monotonic_increasing
    assert f["incident_id"].is_unique
    assert f["incident_id"].iloc[0] == "SYN-0-000001"
    assert f["incident_id"].iloc[-1] == f"SYN-0-{len(f):06d}"
    assert (f["source_row"].to_numpy() == np.arange(1, len(f) + 1)).all()
    assert f["synthetic"].all() and two_years.synthetic
    assert f.attrs["crs"] == two_years.crs == "EPSG:27700"
    # an hour or two of minutes: many distinct minutes, not a coarse grid
    assert f["occurred"].dt.minute.nunique() == 60


# ---------------------------------------------------------------------------- near repeats
def test_near_repeat_knox_ratio(two_years):
    f = two_years.frame
    burg = f[f["crime_type"] == "burglary"]
    x, y = burg["x"].to_numpy(), burg["y"].to_numpy()
    t = days_of(burg["occurred"])
    i, j = close_pairs_tree(x, y, 200.0)
    obs, sim = knox_ratio(i, j, t)
    assert obs / sim >= 1.2
    # the same places with shuffled dates: no space-time interaction left
    shuffled = np.random.default_rng(3).permutation(t)
    obs_s, sim_s = knox_ratio(i, j, shuffled)
    assert 0.9 <= obs_s / sim_s <= 1.1
    # a type without contagion shows none either
    shop = f[f["crime_type"] == "shoplifting"]
    si, sj = close_pairs_tree(shop["x"].to_numpy(), shop["y"].to_numpy(), 200.0)
    o, s = knox_ratio(si, sj, days_of(shop["occurred"]))
    assert 0.9 <= o / s <= 1.1


def test_without_near_repeat_the_knox_ratio_is_one():
    f = synth.synthetic_incidents(250_000, seed=0, near_repeat=False).frame
    burg = f[f["crime_type"] == "burglary"]
    i, j = close_pairs_tree(burg["x"].to_numpy(), burg["y"].to_numpy(), 200.0)
    obs, sim = knox_ratio(i, j, days_of(burg["occurred"]))
    assert 0.9 <= obs / sim <= 1.1


def test_knox_pairs_brute_force_in_a_bounded_region(two_years):
    """The pair search used above equals brute force over all pairs in central Birmingham."""
    f = two_years.frame
    burg = f[f["crime_type"] == "burglary"]
    box = (burg["x"].between(404_000, 410_000)) & (burg["y"].between(283_500, 289_500))
    sub = burg[box]
    assert len(sub) > 2000
    x, y = sub["x"].to_numpy(), sub["y"].to_numpy()
    bi, bj = close_pairs_brute(x, y, 200.0)
    ti, tj = close_pairs_tree(x, y, 200.0)
    assert sorted(zip(bi, bj, strict=True)) == sorted(zip(ti, tj, strict=True))
    t = days_of(sub["occurred"])
    obs, sim = knox_ratio(bi, bj, t)
    assert obs / sim >= 1.2


def test_knox_engine_agrees_with_the_brute_force_count(two_years):
    """geodemand.knox's observed count at [0, 200) m x [0, 7) days equals brute force."""
    import geodemand.engines.nearrepeat as knox
    f = two_years.frame
    burg = f[f["crime_type"] == "burglary"]
    box = (burg["x"].between(404_000, 410_000)) & (burg["y"].between(283_500, 289_500))
    sub = burg[box]
    x, y = sub["x"].to_numpy(), sub["y"].to_numpy()
    t = days_of(sub["occurred"])
    bi, bj = close_pairs_brute(x, y, 200.0)
    obs = int((np.abs(t[bi] - t[bj]) < 7.0).sum())
    res = knox.knox(
        (x, y, t),
        space_bands=(0.0, 200.0),
        time_bands=(0.0, 7.0),
        same_location_band=False,
        permutations=19,
    )
    assert int(res.table("observed").loc["[0, 200) m", "[0, 7) days"]) == obs
    assert res.table("ratio").loc["[0, 200) m", "[0, 7) days"] >= 1.2


def test_cascade_offspring_are_near_their_parent_in_space_and_time():
    cal = synth.load_calibration()
    rng = np.random.default_rng(5)
    n = 40_000
    place = rng.integers(0, cal.place_key.size, n).astype(np.int32)
    day = rng.integers(0, 700, n)
    start_wd = 4
    lags = np.arange(7)
    delay = synth._cdf_rows(np.exp(-lags / 2.0)[None, :] * np.ones((7, 1)))
    nbr = synth.neighbour_table(cal.place_x, cal.place_y, cal.place_counts, 200.0)
    idx = np.arange(n)
    place0, day0 = place.copy(), day.copy()
    parent = synth._cascade(rng, idx, day, place, 0.3, delay, start_wd, 730, nbr)
    kids = np.flatnonzero(parent >= 0)
    # the share of offspring is the branching ratio; the count is unchanged
    assert 0.28 <= kids.size / n <= 0.32
    assert parent.size == n
    # background incidents keep their draws; offspring come after their parent ...
    bg = parent < 0
    assert (day[bg] == day0[bg]).all() and (place[bg] == place0[bg]).all()
    assert (parent[kids] < kids).all()
    lag = day[kids] - day[parent[kids]]
    assert lag.min() >= 0 and lag.max() <= 6
    assert (day < 730).all()
    # ... with lags following the truncated exponential ...
    expected = np.diff(np.concatenate([[0.0], delay[0]])) * kids.size
    assert chisquare(np.bincount(lag, minlength=7), expected).pvalue > 1e-3
    # ... at a map point within 200 m of the parent's
    dist = np.hypot(
        cal.place_x[place[kids]] - cal.place_x[place[parent[kids]]],
        cal.place_y[place[kids]] - cal.place_y[place[parent[kids]]],
    )
    assert dist.max() <= 200.0
    # multi-generation cascades exist (offspring of offspring)
    assert (parent[parent[kids]] >= 0).any()


def test_offspring_counts_recorded_in_params(two_years):
    p = two_years.params
    per_type = two_years.frame["crime_type"].value_counts()
    for crime_type, eta in synth.DEFAULT_BRANCHING.items():
        share = p["offspring"][crime_type] / per_type[crime_type]
        assert share == pytest.approx(eta, abs=0.02), crime_type
        assert p["background"][crime_type] + p["offspring"][crime_type] == per_type[crime_type]


# ---------------------------------------------------------------------------- fast paths
def test_neighbour_table_matches_brute_force():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 3000, 600)
    y = rng.uniform(0, 3000, 600)
    x[:20] = x[20:40]  # coincident points
    y[:20] = y[20:40]
    w = rng.integers(1, 5, 600)
    nbr = synth.neighbour_table(x, y, w, 200.0)
    d = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    for i in range(600):
        got = nbr.idx[nbr.ptr[i] : nbr.ptr[i + 1]]
        assert list(got) == list(np.flatnonzero(d[i] <= 200.0))
    assert nbr.cum[-1] == w[nbr.idx].sum()


def test_pick_neighbours_follows_the_weights():
    x = np.array([0.0, 50.0, 100.0, 5000.0])
    y = np.zeros(4)
    w = np.array([1, 2, 5, 3])
    nbr = synth.neighbour_table(x, y, w, 200.0)
    rng = np.random.default_rng(1)
    picks = synth.pick_neighbours(rng, nbr, np.zeros(80_000, dtype=np.int64))
    counts = np.bincount(picks, minlength=4)
    assert counts[3] == 0  # 5 km away: never
    assert chisquare(counts[:3], np.array([1, 2, 5]) / 8 * 80_000).pvalue > 1e-3
    alone = synth.pick_neighbours(rng, nbr, np.full(100, 3))
    assert (alone == 3).all()


def test_grouped_categorical_matches_a_python_loop():
    rng = np.random.default_rng(2)
    weights = rng.integers(0, 4, (5, 9)).astype(float)
    weights[:, 0] = 0.0  # a zero-weight category is never drawn
    cdf = synth._cdf_rows(weights)
    u = rng.random(3000)
    u[:3] = [0.0, 1 - 1e-16, 0.5]
    group = rng.integers(0, 5, 3000)
    got = synth.grouped_categorical(u, group, cdf)
    pairs = zip(u, group, strict=True)
    ref = np.array([next(k for k in range(9) if cdf[g][k] > ui) for ui, g in pairs])
    assert (got == ref).all()
    assert (got != 0).all()


def test_ids_and_wkb_match_plain_python_and_shapely():
    import shapely

    ids = synth.numbered_ids("SYN-42-", 1234).to_pylist()
    assert ids == [f"SYN-42-{i:04d}" for i in range(1, 1235)]
    x = np.array([412195.023657, -1.5, 0.0, 1e7])
    y = np.array([299059.0181, 52.25, -3.0, 5.5])
    wkb = synth.point_wkb(x, y).to_pylist()
    assert wkb == list(shapely.to_wkb(shapely.points(x, y), byte_order=1, output_dimension=2))


# ---------------------------------------------------------------------------- files
def test_same_seed_gives_byte_identical_files(tmp_path):
    a = synth.synthetic_incidents(30_000, seed=7)
    b = synth.synthetic_incidents(30_000, seed=7)
    c = synth.synthetic_incidents(30_000, seed=8)
    for suffix in ("parquet", "csv"):
        pa_, pb, pc = (tmp_path / f"{k}.{suffix}" for k in "abc")
        synth.write_synthetic(a, pa_)
        synth.write_synthetic(b, pb)
        synth.write_synthetic(c, pc)
        assert pa_.read_bytes() == pb.read_bytes()
        assert pa_.read_bytes() != pc.read_bytes()
    assert not list(tmp_path.glob(".*tmp*"))  # atomic writes leave no temporary files


def test_geoparquet_round_trip(tmp_path, wm_month):
    import geopandas as gpd
    import pyarrow.parquet as pq
    import shapely

    from geodemand.ingest.readers import _parquet_synthetic_flag

    path = synth.write_synthetic(wm_month, tmp_path / "synthetic.parquet")
    meta = pq.read_schema(path).metadata
    assert meta[b"geodemand:synthetic"] == b"true"
    assert _parquet_synthetic_flag(path)
    params = json.loads(meta[b"geodemand:params"])
    assert params["seed"] == 1 and params["n"] == len(wm_month.frame)
    geo = json.loads(meta[b"geo"])
    assert geo["primary_column"] == "geometry"
    assert geo["columns"]["geometry"]["encoding"] == "WKB"

    gdf = gpd.read_parquet(path)
    assert gdf.crs.to_epsg() == 27700
    f = wm_month.frame
    assert np.array_equal(shapely.get_x(gdf.geometry.values), f["x"].to_numpy())
    assert np.array_equal(shapely.get_y(gdf.geometry.values), f["y"].to_numpy())
    assert list(gdf.total_bounds) == geo["columns"]["geometry"]["bbox"]

    back = gd.read_incidents(path)
    assert back.synthetic and back.frame["synthetic"].all()
    assert back.crs == "EPSG:27700"
    assert len(back.rejects) == 0
    g = back.frame
    for col in ("incident_id", "crime_type", "date_precision", "location_key"):
        assert (g[col].to_numpy() == f[col].to_numpy()).all(), col
    assert np.array_equal(g["x"].to_numpy(), f["x"].to_numpy())
    assert np.array_equal(g["y"].to_numpy(), f["y"].to_numpy())
    assert (g["occurred"].to_numpy() == f["occurred"].to_numpy()).all()


def test_csv_round_trip(tmp_path, wm_month):
    path = synth.write_synthetic(wm_month, tmp_path / "synthetic.csv")
    head = path.read_text().splitlines()[0]
    assert "synthetic" in head and "longitude" in head
    back = gd.read_incidents(path)
    assert back.synthetic and back.frame["synthetic"].all()
    f, g = wm_month.frame, back.frame
    for col in ("incident_id", "crime_type", "date_precision", "location_key"):
        assert (g[col].to_numpy() == f[col].to_numpy()).all(), col
    # lon/lat are the map points' own values, so x/y come back bit for bit
    assert np.array_equal(g["x"].to_numpy(), f["x"].to_numpy())
    assert (g["occurred"].to_numpy() == f["occurred"].to_numpy()).all()


def test_write_refuses_real_incidents_and_bad_formats(tmp_path, data_dir, wm_month):
    real = gd.read_incidents(data_dir / WM_MONTH)
    with pytest.raises(InvalidParameterError, match="synthetic = False"):
        synth.write_synthetic(real, tmp_path / "x.parquet")
    with pytest.raises(InvalidParameterError, match="suffix"):
        synth.write_synthetic(wm_month, tmp_path / "x.txt")
    with pytest.raises(InvalidParameterError, match="format"):
        synth.write_synthetic(wm_month, tmp_path / "x.parquet", format="xlsx")
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------- arguments
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 0}, "n: expected"),
        ({"n": 2.5}, "n: expected"),
        ({"n": True}, "n: expected"),
        ({"n": 10, "seed": -1}, "seed"),
        ({"n": 10, "start": "2026-01-02", "end": "2026-01-01"}, "after end"),
        ({"n": 10, "end": "2026-02-30"}, "not a date"),
        ({"n": 10, "end": "2026-02-01 13:00"}, "time of day"),
        ({"n": 10, "years": 0}, "years"),
        ({"n": 10, "branching": {"burglary": 1.0}}, r"outside \[0, 1\)"),
        ({"n": 10, "branching": {"burglary": "x"}}, "not a number"),
        ({"n": 10, "radius_m": -5}, "radius_m"),
        ({"n": 10, "delay_days": 0}, "delay_days"),
        ({"n": 10, "max_delay_days": 0}, "max_delay_days"),
        ({"n": 10, "boundaries": 3}, "boundaries"),
        ({"n": 10, "calibration": 3}, "calibration"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, match):
    with pytest.raises(InvalidParameterError, match=match):
        synth.synthetic_incidents(**kwargs)


def test_calibration_outside_the_boundaries_is_refused(data_dir):
    le = data_dir / "incidents" / "leicestershire" / "2021-06-leicestershire-street.csv.gz"
    with pytest.raises(InvalidParameterError, match="inside the boundaries"):
        synth.synthetic_incidents(100, calibration=le, boundaries=synth.DEFAULT_BOUNDARIES)
    with pytest.raises(InputFormatError, match="no such file"):
        synth.synthetic_incidents(100, boundaries=data_dir / "missing-folder")


def test_period_defaults_and_custom_periods():
    t = synth.synthetic_incidents(5000, seed=4)
    assert (t.params["start"], t.params["end"], t.params["days"]) == (
        "2024-11-01",
        synth.DEFAULT_END_DATE,
        730,
    )
    one = synth.synthetic_incidents(3000, seed=4, years=1, end="2020-02-29")
    assert one.params["start"] == "2019-03-01" and one.params["days"] == 366
    day = synth.synthetic_incidents(2000, seed=4, start="2021-05-05", end="2021-05-05").frame
    assert (day["occurred"].dt.normalize() == pd.Timestamp("2021-05-05")).all()


def test_memory_is_proportional_to_n():
    import pyarrow as pa

    synth.synthetic_incidents(1000)  # calibration cached, imports done
    per_incident = []
    for n in (100_000, 400_000):
        tracemalloc.start()
        arrow0 = pa.total_allocated_bytes()
        table = synth.synthetic_incidents(n)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        held = pa.total_allocated_bytes() - arrow0
        per_incident.append((peak + held) / n)
        del table
    # ~250 bytes per incident (numpy working arrays + the arrow-backed string columns)
    assert per_incident[1] < 400
    assert per_incident[1] == pytest.approx(per_incident[0], rel=0.15)


# ---------------------------------------------------------------------------- CLI
def test_cli_writes_and_summarises(tmp_path):
    from click.testing import CliRunner

    from geodemand.cli.commands.synth import command

    out = tmp_path / "s.parquet"
    res = CliRunner().invoke(command, ["20k", "--seed", "3", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "synthetic incidents: 20,000 (seed 3)" in res.output
    assert "top 5 % of places hold" in res.output
    assert "burglary" in res.output and "Birmingham East" in res.output
    assert gd.read_incidents(out).synthetic
    again = tmp_path / "t.parquet"
    CliRunner().invoke(command, ["20000", "--seed", "3", "--out", str(again)])
    assert out.read_bytes() == again.read_bytes()

    csv = tmp_path / "s.csv"
    res = CliRunner().invoke(
        command, ["1e3", "--start", "2020-01-01", "--end-date", "2020-01-31", "--out", str(csv)]
    )
    assert res.exit_code == 0, res.output
    assert len(pd.read_csv(csv)) == 1000
    res = CliRunner().invoke(command, ["2.5"])
    assert res.exit_code == 2 and "whole number" in res.output
    res = CliRunner().invoke(command, ["100", "--start", "2020-01-01", "--years", "3"])
    assert isinstance(res.exception, InvalidParameterError)


# ---------------------------------------------------------------------------- demo history
def test_bundled_demo_history_is_current_and_reproducible(two_years, tmp_path):
    import pyarrow.parquet as pq

    path = synth.demo_history_path()
    assert path == synth.DEMO_DIR / synth.DEMO_NAME
    assert path.stat().st_size < 20e6
    assert synth._demo_is_current(path)
    stored = pq.read_table(path)
    assert stored.num_rows == 24 * 25_086 == len(two_years.frame)
    f = two_years.frame
    for col in ("incident_id", "crime_type", "location_key", "lpu"):
        assert stored.column(col).to_pylist() == f[col].tolist(), col
    for col in ("x", "y"):
        assert np.array_equal(stored.column(col).to_numpy(), f[col].to_numpy())
    assert np.array_equal(
        stored.column("occurred").to_numpy().astype("datetime64[us]"),
        f["occurred"].to_numpy().astype("datetime64[us]"),
    )
    assert abs(top_share(f["location_key"]) - 0.2224) <= 0.05
    # written again by this environment's pyarrow (and PROJ), the bytes are the bundled ones
    again = synth.write_synthetic(two_years, tmp_path / "again.parquet")
    bundled_meta, again_meta = pq.ParquetFile(path).metadata, pq.ParquetFile(again).metadata
    same_writer = bundled_meta.created_by == again_meta.created_by
    same_geo = bundled_meta.metadata[b"geo"] == again_meta.metadata[b"geo"]
    if same_writer and same_geo:
        assert again.read_bytes() == path.read_bytes()
    readme = (synth.DEMO_DIR / "README.md").read_text()
    assert "synthetic" in readme and "2018-06" in readme and "seed 0" in readme


def test_demo_history_path_generates_caches_and_falls_back(tmp_path, monkeypatch):
    import os

    monkeypatch.setattr(synth, "DEMO_DIR", tmp_path / "bundled")
    monkeypatch.setattr(synth, "DEMO_MONTHS", 1)  # a one-month "history" keeps the test fast
    first = synth.demo_history_path()
    assert first == tmp_path / "bundled" / synth.DEMO_NAME
    stamp = first.stat().st_mtime_ns
    assert synth.demo_history_path() == first and first.stat().st_mtime_ns == stamp
    # a stale file (another generator version) is rebuilt
    import pyarrow.parquet as pq

    table = pq.read_table(first)
    meta = dict(table.schema.metadata)
    params = json.loads(meta[b"geodemand:params"])
    params["generator_version"] = "0"
    meta[b"geodemand:params"] = json.dumps(params).encode()
    pq.write_table(table.replace_schema_metadata(meta), first)
    assert not synth._demo_is_current(first)
    assert synth.demo_history_path() == first and synth._demo_is_current(first)
    # a read-only bundled folder: the cache folder is used
    monkeypatch.setattr(synth, "DEMO_DIR", tmp_path / "readonly")
    real_access = os.access
    monkeypatch.setattr(
        synth.os, "access", lambda p, m: False if "readonly" in str(p) else real_access(p, m)
    )
    cached = synth.demo_history_path(cache_dir=tmp_path / "cache")
    assert cached == tmp_path / "cache" / synth.DEMO_NAME
    assert gd.read_incidents(cached).synthetic
