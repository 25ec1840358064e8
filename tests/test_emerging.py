"""Tests of emerging hot-spot analysis: the cube, Mann–Kendall, the ArcGIS and simple classes.

Every one of the 17 ArcGIS categories is produced from a constructed series; the trend test
is checked against a plain double loop and against scipy.stats.kendalltau (which computes
the same S and tie-corrected variance, without the continuity correction).
"""

from __future__ import annotations

import glob
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

import geodemand
from geodemand._kernels import trend as _trend
from geodemand.engines.emerging import (
    PATTERNS,
    SIMPLE_PATTERNS,
    classify_patterns,
    classify_simple,
    emerging_hotspots,
    mann_kendall,
    space_time_cube,
)
from geodemand.engines.hotspots import gistar
from geodemand.errors import InvalidParameterError
from geodemand.grid import Grid

DATA = Path(__file__).resolve().parent / "data"


# ---------------------------------------------------------------------------- helpers
def series(text: str):
    """'H' hot, 'C' cold, '.' neither -> (hot, cold) arrays of shape (T, 1)."""
    hot = np.array([[c == "H"] for c in text])
    cold = np.array([[c == "C"] for c in text])
    return hot, cold


TRENDS = {"up": (3.0, 0.001), "down": (-3.0, 0.001), "none": (0.4, 0.6)}


def code_of(text: str, trend: str = "none", trend_alpha: float = 0.05) -> int:
    hot, cold = series(text)
    z, p = TRENDS[trend]
    return int(classify_patterns(hot, cold, np.array([z]), np.array([p]), trend_alpha)[0])


# ---------------------------------------------------------------------------- every category
CASES = [
    # (periods, trend, expected code, why)
    (".........H", "none", 1, "hot only in the final period"),
    (".........C", "none", -1, "cold only in the final period"),
    (".......HHH", "none", 2, "one final run of 3 hot periods, never hot before"),
    ("C.....HHHH", "up", 2, "earlier cold periods do not stop a consecutive hot spot"),
    ("......CCCC", "none", -2, "one final run of 4 cold periods"),
    ("HHHHHHHHHH", "up", 3, "always hot, significant upward trend"),
    (".HHHHHHHHH", "up", 3, "hot in exactly 90 % incl. the final period, upward trend"),
    ("CCCCCCCCCC", "down", -3, "always cold, significant downward trend (colder)"),
    ("HHHHHHHHHH", "none", 4, "always hot, no trend"),
    ("HHHHHHHHH.", "none", 4, ">= 90 % hot, no trend, final not hot: persistent first"),
    ("CCCCCCCCCC", "none", -4, "always cold, no trend"),
    ("HHHHHHHHHH", "down", 5, "always hot, significant downward trend"),
    ("CCCCCCCCCC", "up", -5, "always cold, trend towards warmer"),
    ("H..H...H.H", "none", 6, "on and off hot, hot at the end, never cold"),
    ("C.C...C..C", "none", -6, "on and off cold, cold at the end, never hot"),
    ("C..H..C..H", "none", 7, "hot at the end, cold before"),
    ("H..C..H..C", "none", -7, "cold at the end, hot before"),
    ("HHHHHHHHH.", "down", 8, ">= 90 % hot, not hot at the end, with a trend"),
    ("CCCCCCCCC.", "up", -8, ">= 90 % cold, not cold at the end, with a trend"),
    ("..........", "none", 0, "never significant"),
    ("HHHHHHHH..", "down", 0, "80 % hot, not hot at the end"),
    (".HH.H.....", "up", 0, "hot earlier but not at the end"),
    # fixed evaluation order decides overlaps
    ("HHHHHHHHHC", "none", -1, "new cold (rank 1) before persistent hot (rank 4)"),
    ("C........H", "none", 1, "new hot before oscillating hot"),
    ("H.HH.HHHHH", "none", 6, "80 % hot ending hot without cold periods: sporadic"),
]


@pytest.mark.parametrize("text,trend,expected,why", CASES)
def test_every_pattern_from_a_constructed_series(text, trend, expected, why):
    assert code_of(text, trend) == expected, why


def test_all_seventeen_categories_are_covered():
    assert {code for _, _, code, _ in CASES} == set(PATTERNS)


def test_trend_alpha_changes_intensifying_to_persistent():
    hot, cold = series("HHHHHHHHHH")
    codes = classify_patterns(hot, cold, np.array([2.0]), np.array([0.03]), trend_alpha=0.05)
    assert codes[0] == 3
    codes = classify_patterns(hot, cold, np.array([2.0]), np.array([0.03]), trend_alpha=0.01)
    assert codes[0] == 4


def test_classify_patterns_is_vectorised():
    texts = [c[0] for c in CASES]
    hot = np.array([[ch == "H" for ch in t] for t in texts]).T
    cold = np.array([[ch == "C" for ch in t] for t in texts]).T
    z = np.array([TRENDS[c[1]][0] for c in CASES])
    p = np.array([TRENDS[c[1]][1] for c in CASES])
    codes = classify_patterns(hot, cold, z, p)
    np.testing.assert_array_equal(codes, [c[2] for c in CASES])


def test_classify_patterns_rejects_bad_input():
    hot, cold = series("HH.")
    with pytest.raises(InvalidParameterError, match="both a hot and a cold"):
        classify_patterns(hot, hot, np.zeros(1), np.ones(1))
    with pytest.raises(InvalidParameterError, match="shape of one period"):
        classify_patterns(hot, cold, np.zeros(2), np.ones(2))


# ---------------------------------------------------------------------------- simple classes
SIMPLE_CASES = [
    ("HHHH.HHHH.", "persistent hot spot"),
    ("........HH", "emerging hot spot"),
    ("H.H.H.....", "former hot spot"),
    ("H.......H.", "intermittent hot spot"),
    ("CCCCCCCC..", "persistent cold spot"),
    ("........C.", "emerging cold spot"),
    ("CC........", "former cold spot"),
    ("C.......C.", "intermittent cold spot"),
    ("CCHHHHHHHH", "mixed hot/cold spot"),
    ("..........", "no pattern"),
]


@pytest.mark.parametrize("text,expected", SIMPLE_CASES)
def test_simple_classes(text, expected):
    hot, cold = series(text)
    assert classify_simple(hot, cold)[0] == expected


def test_simple_classes_cover_every_name_and_check_recent_periods():
    assert {c[1] for c in SIMPLE_CASES} == set(SIMPLE_PATTERNS)
    # recent = floor(0.2 * 10) = 2 periods exactly: a hot period 3rd from the end is earlier
    hot, cold = series(".......H..")
    assert classify_simple(hot, cold)[0] == "former hot spot"
    with pytest.raises(InvalidParameterError, match="no earlier period"):
        classify_simple(*series("H"), recent_prop=1.0)


# ---------------------------------------------------------------------------- Mann-Kendall
def mk_reference(x):
    n = len(x)
    s = sum(np.sign(x[j] - x[i]) for i in range(n) for j in range(i + 1, n))
    _, counts = np.unique(x, return_counts=True)
    var = (n * (n - 1) * (2 * n + 5) - sum(t * (t - 1) * (2 * t + 5) for t in counts)) / 18
    z = 0.0 if s == 0 or var == 0 else (s - np.sign(s)) / np.sqrt(var)
    return s, var, z


def test_mann_kendall_matches_double_loop_and_scipy():
    rng = np.random.default_rng(4)
    x = np.round(rng.normal(size=(24, 60)) + np.linspace(0, 1.5, 24)[:, None], 1)  # ties
    mk = mann_kendall(x)
    for j in range(x.shape[1]):
        s, var, z = mk_reference(x[:, j])
        assert mk["s"][j] == s
        assert mk["var_s"][j] == pytest.approx(var, rel=1e-12)
        assert mk["z"][j] == pytest.approx(z, rel=1e-12, abs=1e-15)
        tau = stats.kendalltau(np.arange(24), x[:, j])
        z_plain = s / np.sqrt(var)  # scipy: same S and variance, no continuity correction
        assert 2 * stats.norm.sf(abs(z_plain)) == pytest.approx(tau.pvalue, rel=1e-9)
    np.testing.assert_allclose(mk["p"], 2 * stats.norm.sf(np.abs(mk["z"])), rtol=1e-12)


def test_mann_kendall_known_values():
    mk = mann_kendall(np.array([1.0, 2, 3, 4, 5]))
    assert mk["s"] == 10
    assert mk["var_s"] == pytest.approx(5 * 4 * 15 / 18)
    assert mk["z"] == pytest.approx(9 / np.sqrt(5 * 4 * 15 / 18))
    flat = mann_kendall(np.zeros((6, 3)))
    np.testing.assert_array_equal(flat["z"], 0)
    np.testing.assert_array_equal(flat["p"], 1)
    with pytest.raises(InvalidParameterError, match="NaN"):
        mann_kendall(np.array([1.0, np.nan, 2.0]))


def _mann_kendall_numpy_reference(series, axis=0):
    """The former vectorised numpy implementation (loop over lags, sort + run lengths)."""
    x = np.moveaxis(np.asarray(series, dtype=np.float64), axis, 0)
    t_len = x.shape[0]
    s = np.zeros(x.shape[1:], dtype=np.int64)
    for lag in range(1, t_len):
        s += np.sign(x[lag:] - x[:-lag]).sum(axis=0).astype(np.int64)
    ties = _tie_term_reference(np.sort(x, axis=0))
    var_s = (t_len * (t_len - 1) * (2 * t_len + 5) - ties) / 18.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(s > 0, (s - 1) / np.sqrt(var_s), np.where(s < 0, (s + 1) / np.sqrt(var_s),
                                                               0.0))
    z = np.where(var_s > 0, z, 0.0)
    p = 2.0 * special.ndtr(-np.abs(z))
    return {"s": s, "var_s": var_s, "z": z, "p": p}


def _tie_term_reference(sorted_x):
    """``Σ_g t_g (t_g − 1)(2 t_g + 5)`` over groups of equal values (sorted along axis 0)."""
    run = np.ones(sorted_x.shape[1:], dtype=np.int64)
    total = np.zeros(sorted_x.shape[1:], dtype=np.int64)
    for k in range(1, sorted_x.shape[0]):
        same = sorted_x[k] == sorted_x[k - 1]
        total += np.where(~same, run * (run - 1) * (2 * run + 5), 0)
        run = np.where(same, run + 1, 1)
    total += run * (run - 1) * (2 * run + 5)
    return total


def assert_same_mann_kendall(new, ref):
    assert new["s"].dtype == np.int64 and new["s"].shape == ref["s"].shape
    for key in ("s", "var_s", "z", "p"):
        np.testing.assert_array_equal(new[key], ref[key], err_msg=key, strict=True)


def _twin_inputs():
    rng = np.random.default_rng(12)
    counts = rng.poisson(0.3, size=(104, 500)).astype(float)  # mostly 0 and 1: many ties
    counts[:, 7] = 0.0  # a cell without incidents: one group of 104 ties, S = 0, Var S = 0
    counts[:, 8] = np.arange(104)  # strictly increasing: no ties, S = T(T-1)/2
    counts[:, 9] = np.arange(104)[::-1]
    trend = rng.poisson(np.linspace(0.2, 2.0, 104)[:, None], size=(104, 300)).astype(float)
    floats = rng.normal(size=(37, 700)) + np.linspace(0, 1, 37)[:, None]
    floats[::5, :40] = 0.25  # some tied floats among distinct ones
    return {"counts": counts, "trend": trend, "floats": floats,
            "short": rng.poisson(1.0, size=(5, 333)).astype(float)}


@pytest.mark.parametrize("name", ["counts", "trend", "floats", "short"])
def test_mann_kendall_kernel_equals_numpy_reference(name):
    x = _twin_inputs()[name]
    new = mann_kendall(x)
    ref = _mann_kendall_numpy_reference(x)
    assert_same_mann_kendall(new, ref)
    assert (new["var_s"] < x.shape[0] * (x.shape[0] - 1) * (2 * x.shape[0] + 5) / 18).any()
    if name == "counts":
        assert new["s"][7] == 0 and new["var_s"][7] == 0 and new["p"][7] == 1
        assert new["s"][8] == 104 * 103 // 2 and new["s"][9] == -(104 * 103 // 2)
    if name == "trend":
        assert (new["s"] > 0).mean() > 0.9  # a real upward trend is seen


def test_mann_kendall_kernel_equals_reference_on_other_axes_and_shapes():
    rng = np.random.default_rng(13)
    cube = rng.poisson(0.8, size=(52, 9, 11)).astype(float)  # (T, rows, cols)
    new = mann_kendall(cube)
    assert new["s"].shape == (9, 11)
    assert_same_mann_kendall(new, _mann_kendall_numpy_reference(cube))
    # time along axis 1 and a non-contiguous view
    rows = np.ascontiguousarray(cube.reshape(52, -1).T)  # (99, 52)
    new_rows = mann_kendall(rows, axis=1)
    assert_same_mann_kendall(new_rows, _mann_kendall_numpy_reference(rows, axis=1))
    np.testing.assert_array_equal(new_rows["s"], new["s"].ravel())
    view = cube[::2, 1:, ::3]
    assert not view.flags.c_contiguous
    assert_same_mann_kendall(mann_kendall(view), _mann_kendall_numpy_reference(view))
    # one series: 0-d results, as before
    one = mann_kendall(cube[:, 2, 3])
    assert one["s"].shape == () and one["s"] == new["s"][2, 3]
    # integer input
    ints = rng.integers(0, 3, size=(20, 50))
    assert_same_mann_kendall(mann_kendall(ints), _mann_kendall_numpy_reference(ints))


def test_mann_kendall_kernel_edge_cases():
    flat = np.full((30, 4), 2.5)
    assert_same_mann_kendall(mann_kendall(flat), _mann_kendall_numpy_reference(flat))
    np.testing.assert_array_equal(mann_kendall(flat)["var_s"], 0)
    two = np.array([[1.0, 2.0, 3.0, -0.0], [2.0, 1.0, 3.0, 0.0]])  # T = 2: up, down, tie, ±0
    mk = mann_kendall(two)
    assert_same_mann_kendall(mk, _mann_kendall_numpy_reference(two))
    np.testing.assert_array_equal(mk["s"], [1, -1, 0, 0])
    np.testing.assert_array_equal(mk["var_s"], [1, 1, 0, 0])
    # every T from 2 to 12 (the kernel takes later periods four at a time, plus a remainder)
    # and column counts around the kernel's block of columns
    rng = np.random.default_rng(14)
    for t_len in range(2, 13):
        x = rng.integers(0, 3, size=(t_len, 3)).astype(float)
        assert_same_mann_kendall(mann_kendall(x), _mann_kendall_numpy_reference(x))
    for n in (1, _trend.BLOCK - 1, _trend.BLOCK, _trend.BLOCK + 1, 2 * _trend.BLOCK + 3):
        x = rng.integers(0, 4, size=(9, n)).astype(float)
        assert_same_mann_kendall(mann_kendall(x), _mann_kendall_numpy_reference(x))
    empty = mann_kendall(np.zeros((6, 0)))
    assert empty["s"].shape == (0,) and empty["s"].dtype == np.int64
    with pytest.raises(InvalidParameterError, match="at least 2"):
        mann_kendall(np.ones((1, 3)))


def test_mann_kendall_kernel_compares_infinities():
    # the kernel compares values (the former lag differences gave inf - inf = NaN)
    x = np.array([1.0, np.inf, 2.0, np.inf, -np.inf])
    big = np.array([1.0, 1e300, 2.0, 1e300, -1e300])
    assert_same_mann_kendall(mann_kendall(x), mann_kendall(big))
    assert mann_kendall(x)["s"] == -1  # 4 pairs up, 5 down, 1 tied (inf, inf)



# ---------------------------------------------------------------------------- pipeline
def constructed_cube(t_len=12, seed=0):
    """Background Poisson(1) counts plus a growing block and a block new in the last period."""
    rng = np.random.default_rng(seed)
    cube = rng.poisson(1.0, size=(t_len, 25, 25)).astype(float)
    for t in range(t_len):
        cube[t, 3:6, 3:6] += 8 + 3 * t       # hot all along, growing: intensifying
    cube[-1, 17:20, 17:20] += 25               # hot only in the last period: new
    return cube


def test_pipeline_on_constructed_cube():
    cube = constructed_cube()
    res = emerging_hotspots(cube)
    assert res.pattern_code[4, 4] == 3 and res.pattern[4, 4] == "intensifying hot spot"
    assert res.pattern_code[18, 18] == 1 and res.pattern[18, 18] == "new hot spot"
    # per-period Gi* equals gistar on the slice; the trend is MK on that series
    for t in (0, 5, 11):
        np.testing.assert_array_equal(res.z[t], gistar(cube[t]).z)
    mk = mann_kendall(res.z[:, 4, 4])
    assert res.trend_s[4, 4] == mk["s"] and res.trend_p[4, 4] == mk["p"]
    assert not (res.hot & res.cold).any()
    np.testing.assert_array_equal(res.hot, (res.q <= 0.10) & (res.z > 0))
    assert sum(res.params["pattern_counts"].values()) == 625
    assert res.simple_pattern[4, 4] == "persistent hot spot"
    assert res.simple_pattern[18, 18] == "emerging hot spot"


def test_pipeline_with_permutations_is_seeded():
    cube = constructed_cube(t_len=10)
    # 49 permutations cannot give p below 0.04: test without the FDR correction
    a = emerging_hotspots(cube, permutations=49, seed=3, correction="none")
    b = emerging_hotspots(cube, permutations=49, seed=3, correction="none")
    np.testing.assert_array_equal(a.q, b.q)
    np.testing.assert_array_equal(a.pattern_code, b.pattern_code)
    assert a.pattern_code[4, 4] in (3, 4)  # hot in every period
    with pytest.raises(InvalidParameterError, match="seed"):
        emerging_hotspots(cube, permutations=9)


def test_constant_period_is_neither_hot_nor_cold():
    cube = constructed_cube(t_len=10)
    cube[4] = 0.0
    res = emerging_hotspots(cube)
    assert res.params["constant_periods"] == [4]
    assert (res.z[4] == 0).all() and not res.hot[4].any() and not res.cold[4].any()
    # the always-hot block is now hot in 9 of 10 periods: still >= 90 %
    assert res.pattern_code[4, 4] in (3, 4)


def test_mask_excludes_cells():
    cube = constructed_cube(t_len=10)
    mask = np.ones(cube.shape[1:], dtype=bool)
    mask[:, :2] = False
    res = emerging_hotspots(cube, mask=mask)
    assert np.isnan(res.trend_z[:, :2]).all() and (res.pattern[:, :2] == "").all()
    assert res.params["n_cells"] == mask.sum()


# ---------------------------------------------------------------------------- real data
@lru_cache(maxsize=1)
def chicago_2018_2019() -> pd.DataFrame:
    from pyproj import Transformer

    raw = pd.read_csv(DATA / "incidents" / "chicago" / "chicago_aggravated_assaults.csv.gz")
    raw = raw[raw["date"].str.startswith(("2018", "2019"))]
    tr = Transformer.from_crs("EPSG:4326", "EPSG:26916", always_xy=True)
    x, y = tr.transform(raw["longitude"].to_numpy(), raw["latitude"].to_numpy())
    return pd.DataFrame({"x": x, "y": y, "occurred": pd.to_datetime(raw["date"].to_numpy())})


def test_weekly_cube_on_chicago_counts_every_incident():
    frame = chicago_2018_2019()
    grid = Grid.for_points(frame["x"], frame["y"], "EPSG:26916", cell_size=1000)
    cube = space_time_cube(frame, grid=grid, period="week")
    assert cube.period_starts[0] == pd.Timestamp("2018-01-01")  # a Monday
    assert (cube.period_starts.day_of_week == 0).all()
    assert cube.counts.sum() == len(frame)
    week = (frame["occurred"] >= "2019-03-04") & (frame["occurred"] < "2019-03-11")
    t = list(cube.period_starts).index(pd.Timestamp("2019-03-04"))
    np.testing.assert_array_equal(cube.counts[t],
                                  grid.bin_counts(frame["x"][week], frame["y"][week]))
    window = space_time_cube(frame, grid=grid, period="month", start="2019-01-15",
                             end="2019-07-01")
    assert list(window.period_starts.month) == [1, 2, 3, 4, 5, 6]
    assert window.counts.sum() == ((frame["occurred"] >= "2019-01-01")
                                   & (frame["occurred"] < "2019-07-01")).sum()


def test_emerging_on_chicago_weekly_outputs():
    frame = chicago_2018_2019()
    grid = Grid.for_points(frame["x"], frame["y"], "EPSG:26916", cell_size=1000)
    res = emerging_hotspots(frame, grid=grid, period="week")
    assert res.counts.shape[0] == 105
    gdf = res.to_geodataframe()
    assert list(gdf.columns) == ["row", "col", "total_count", "final_count", "n_hot", "n_cold",
                                 "final_bin", "trend_s", "trend_z", "trend_p", "pattern_code",
                                 "pattern", "simple_pattern", "geometry"]
    assert gdf["total_count"].sum() == len(frame)
    assert set(gdf["pattern"]) <= set(PATTERNS.values())
    assert (gdf["pattern"] == "persistent hot spot").sum() > 5
    assert gdf.attrs["params"]["period"] == "week"
    only = res.to_geodataframe(include_no_pattern=False)
    assert (only["pattern_code"] != 0).all() and len(only) < len(gdf)


def test_monthly_police_uk_data_cannot_be_weekly():
    from pyproj import Transformer

    files = sorted(glob.glob(str(DATA / "police_uk" / "leicestershire" / "*.csv.gz")))[:12]
    raw = pd.concat([pd.read_csv(f, usecols=["Month", "Longitude", "Latitude", "Crime type"])
                     for f in files])
    raw = raw[(raw["Crime type"] == "Burglary") & raw["Longitude"].notna()]
    tr = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    x, y = tr.transform(raw["Longitude"].to_numpy(), raw["Latitude"].to_numpy())
    frame = pd.DataFrame({"x": x, "y": y, "occurred": pd.to_datetime(raw["Month"].to_numpy()),
                          "date_precision": "month"})
    grid = Grid.from_bounds((430000, 280000, 500000, 340000), 1000, "EPSG:27700")
    with pytest.raises(InvalidParameterError, match="date_precision 'month'"):
        emerging_hotspots(frame, grid=grid, period="week")
    res = emerging_hotspots(frame, grid=grid, period="month")
    assert res.counts.shape[0] == 12
    assert res.period_starts[0] == pd.Timestamp("2019-12-01")


def test_too_few_periods_and_bad_cube():
    with pytest.raises(InvalidParameterError, match="at least 3"):
        emerging_hotspots(np.random.default_rng(0).poisson(1, (2, 5, 5)))
    with pytest.raises(InvalidParameterError, match="shape"):
        emerging_hotspots(np.zeros((5, 5)))


def test_write_pattern_raster(tmp_path):
    import rasterio

    cube = constructed_cube()
    grid = Grid(0.0, 0.0, 100.0, 25, 25, "EPSG:27700")
    mask = np.ones(cube.shape[1:], dtype=bool)
    mask[0, 0] = False
    res = emerging_hotspots(cube, grid=grid, mask=mask)
    path = geodemand.write_raster(res, tmp_path / "patterns.tif")
    with rasterio.open(path) as src:
        band = src.read(1)
        assert np.isnan(band[0, 0])
        np.testing.assert_array_equal(band[mask], res.pattern_code[mask])
        assert src.transform == grid.transform
