"""Tests of geodemand.gistar / gistar_areas (Getis-Ord Gi*, q-values, bins, permutations).

Peers: esda.G_Local (z-scores to 1e-9 on real data), scipy.stats.false_discovery_control
(q-values), libpysal contiguity (polygon neighbours), scipy.stats.hypergeom (the exact null
distribution of the permutation test on 0/1 data). Reference twins written here: a brute
force Gi* (plain loops, the DOMAIN.md formula) and a plain-numpy copy of the numba
permutation kernel that uses the same random stream, so results must be identical.
"""

from __future__ import annotations

import glob
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import geodemand
from geodemand.engines.hotspots import (
    adjust_pvalues,
    confidence_bins,
    contiguity_matrix,
    gistar,
    gistar_areas,
    neighbourhood_halfwidths,
)
from geodemand.errors import InvalidParameterError
from geodemand.grid import Grid

DATA = Path(__file__).resolve().parent / "data"

esda = pytest.importorskip("esda")
libpysal = pytest.importorskip("libpysal")


# ---------------------------------------------------------------------------- data
@lru_cache(maxsize=1)
def leicestershire_burglary() -> pd.DataFrame:
    """Burglaries 2019-12 .. 2021-11 (police.uk), x/y in EPSG:27700, inside the force's LADs."""
    from pyproj import Transformer

    files = sorted(glob.glob(str(DATA / "police_uk" / "leicestershire" / "*.csv.gz")))
    assert len(files) == 24
    raw = pd.concat(
        [pd.read_csv(f, usecols=["Month", "Longitude", "Latitude", "Crime type"]) for f in files]
    )
    raw = raw[(raw["Crime type"] == "Burglary") & raw["Longitude"].notna()]
    tr = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    x, y = tr.transform(raw["Longitude"].to_numpy(), raw["Latitude"].to_numpy())
    frame = pd.DataFrame({"x": x, "y": y, "occurred": pd.to_datetime(raw["Month"].to_numpy()),
                          "date_precision": "month"})
    return frame


def leicestershire_grid(cell_size: float = 250.0) -> Grid:
    import geopandas as gpd

    lad = gpd.read_file(DATA / "boundaries" / "leicestershire" / "lad2013.geojson").to_crs(27700)
    return Grid.for_areas(lad, cell_size=cell_size)


@lru_cache(maxsize=1)
def chicago_assaults() -> pd.DataFrame:
    """Chicago aggravated assaults 2019, x/y in EPSG:26916 (UTM 16N)."""
    from pyproj import Transformer

    raw = pd.read_csv(DATA / "incidents" / "chicago" / "chicago_aggravated_assaults.csv.gz")
    raw = raw[raw["date"].str.startswith("2019")]
    tr = Transformer.from_crs("EPSG:4326", "EPSG:26916", always_xy=True)
    x, y = tr.transform(raw["longitude"].to_numpy(), raw["latitude"].to_numpy())
    return pd.DataFrame({"x": x, "y": y, "occurred": pd.to_datetime(raw["date"].to_numpy())})


def esda_g(y, w, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return esda.G_Local(np.asarray(y, dtype=float), w, transform="B", **kwargs)


# ---------------------------------------------------------------------------- references
def brute_gistar(values, valid, halfwidths, include_self=True):
    """Plain-loop Gi / Gi* (DOMAIN.md formula; Gi leaves the cell out of mean and variance)."""
    n_rows, n_cols = values.shape
    big_k = (len(halfwidths) - 1) // 2
    cells = [(r, c) for r in range(n_rows) for c in range(n_cols) if valid[r, c]]
    xs = np.array([values[r, c] for r, c in cells])
    n = len(cells)
    z = np.full(values.shape, np.nan)
    for r, c in cells:
        s = 0.0
        w = 0
        for dy in range(-big_k, big_k + 1):
            h = halfwidths[dy + big_k]
            for dx in range(-h, h + 1):
                rr, cc = r + dy, c + dx
                if 0 <= rr < n_rows and 0 <= cc < n_cols and valid[rr, cc]:
                    if not include_self and (rr, cc) == (r, c):
                        continue
                    s += values[rr, cc]
                    w += 1
        if include_self:
            pop, m = xs, n
        else:
            pop = np.array([values[a, b] for a, b in cells if (a, b) != (r, c)])
            m = n - 1
        mean = pop.mean()
        sd = pop.std()
        denom = sd * np.sqrt((m * w - w * w) / (m - 1))
        z[r, c] = (s - mean * w) / denom if denom > 0 else np.nan
    return z


_MASK64 = (1 << 64) - 1


def _mix(z):
    z = np.asarray(z, dtype=np.uint64)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def reference_tail_counts(pool, n_draw, observed, permutations, seed, tolerance=None):
    """Plain-numpy twin of the numba permutation kernel (same SplitMix64 stream per unit).

    Unit ``i`` (position ``i`` in ``pool``) draws ``n_draw[i]`` of the other units with
    Floyd's algorithm in each permutation; vectorised over the units with equal ``n_draw``.
    """
    n = pool.size
    m = n - 1
    tol = np.zeros(n) if tolerance is None else tolerance
    seed_mix = _mix(np.array([seed], dtype=np.uint64))[0]
    states = _mix(np.full(n, seed_mix, dtype=np.uint64) + np.arange(n, dtype=np.uint64))
    gamma = np.uint64(0x9E3779B97F4A7C15)
    ge = np.zeros(n, dtype=np.int64)
    le = np.zeros(n, dtype=np.int64)
    for k in np.unique(n_draw):
        units = np.flatnonzero(n_draw == k)
        st = states[units].copy()
        for _ in range(permutations):
            chosen = np.zeros((units.size, max(k, 1)), dtype=np.int64)
            sim = np.zeros(units.size)
            for step in range(k):
                j = m - k + step
                st = st + gamma
                draw = _mix(st)
                u = (draw >> np.uint64(11)).astype(np.float64) * (2.0**-53) * float(j + 1)
                t = u.astype(np.int64)
                dup = (chosen[:, :step] == t[:, None]).any(axis=1)
                t = np.where(dup, j, t)
                chosen[:, step] = t
                idx = np.where(t < units, t, t + 1)
                sim = sim + pool[idx]
            ge[units] += sim >= observed[units] - tol[units]
            le[units] += sim <= observed[units] + tol[units]
    return ge, le


def clustered(shape, seed=0, base=0.05, bumps=6):
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    lam = np.full(shape, base)
    for _ in range(bumps):
        r0, c0 = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        lam += rng.uniform(0.5, 3) * np.exp(-((rows - r0) ** 2 + (cols - c0) ** 2) / 8.0)
    return rng.poisson(lam).astype(float)


# ---------------------------------------------------------------------------- esda, real data
def test_leicestershire_burglary_250m_matches_esda():
    frame = leicestershire_burglary()
    grid = leicestershire_grid(250.0)
    res = gistar(frame, grid=grid)
    counts = res.values
    assert counts.shape == grid.shape and grid.shape[0] * grid.shape[1] > 50_000
    assert counts.sum() == res.params["total"] > 8000
    from libpysal.graph import Graph

    # queen lattice (lat2SW equals lat2W(rook=False), checked on a small lattice below)
    small = libpysal.weights.lat2SW(6, 7, criterion="queen")
    assert (small != libpysal.weights.lat2W(6, 7, rook=False).sparse).nnz == 0
    w = Graph.from_sparse(libpysal.weights.lat2SW(grid.n_rows, grid.n_cols, "queen").tocsr())
    ref = esda_g(counts.ravel(), w, star=True, permutations=0)
    np.testing.assert_allclose(res.z.ravel(), ref.Zs, rtol=0, atol=1e-9)
    np.testing.assert_allclose(res.p_norm.ravel(), 2 * ref.p_norm, rtol=0, atol=1e-12)
    # q-values: exactly scipy's BH; bins: from q
    np.testing.assert_array_equal(res.q.ravel(), stats.false_discovery_control(res.p.ravel()))
    expect = np.select([res.q <= 0.01, res.q <= 0.05, res.q <= 0.10], [3, 2, 1], 0)
    np.testing.assert_array_equal(res.bin, expect * np.sign(res.z))
    assert (res.bin == 3).sum() > 100
    assert res.params["correction"] == "fdr_bh" and res.params["statistic"] == "Gi*"


def test_chicago_assaults_matches_esda_graph_with_self_weights():
    from libpysal.graph import Graph

    frame = chicago_assaults()
    grid = Grid.for_points(frame["x"], frame["y"], "EPSG:26916", cell_size=400)
    res = gistar(frame, grid=grid)
    counts = res.values.ravel()
    assert counts.sum() == len(frame)
    g = Graph.from_W(libpysal.weights.lat2W(grid.n_rows, grid.n_cols, rook=False))
    g = g.assign_self_weight(1)  # esda then sees a non-zero diagonal and computes Gi*
    ref = esda_g(counts, g, star=None, permutations=0)
    assert ref.star
    np.testing.assert_allclose(res.z.ravel(), ref.Zs, rtol=0, atol=1e-9)
    assert np.nanmax(res.z) > 10


def test_chicago_masked_matches_esda_on_subset():
    import geopandas as gpd
    import shapely

    frame = chicago_assaults()
    districts = gpd.read_file(DATA / "incidents" / "chicago" / "chicago_police_districts.geojson")
    districts = districts.to_crs(26916)
    grid = Grid.for_areas(districts, cell_size=600)
    xs, ys = grid.cell_centres()
    mask = shapely.contains_xy(districts.union_all(), xs, ys)
    assert 0.3 < mask.mean() < 0.9
    res = gistar(frame, grid=grid, mask=mask)
    assert np.isnan(res.z[~mask]).all() and (res.bin[~mask] == 0).all()
    w = libpysal.weights.lat2W(grid.n_rows, grid.n_cols, rook=False)
    ids = np.flatnonzero(mask.ravel())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sub = libpysal.weights.w_subset(w, list(ids))
    counts = grid.bin_counts(frame["x"], frame["y"]).ravel()[ids]
    ref = esda_g(counts, sub, star=True, permutations=0)
    np.testing.assert_allclose(res.z[mask], ref.Zs, rtol=0, atol=1e-9)
    # the BH family is the analysed cells only
    np.testing.assert_array_equal(res.q[mask], stats.false_discovery_control(res.p[mask]))


def test_gi_without_self_matches_esda_star_false():
    frame = chicago_assaults()
    grid = Grid.for_points(frame["x"], frame["y"], "EPSG:26916", cell_size=1000)
    res = gistar(frame, grid=grid, include_self=False)
    w = libpysal.weights.lat2W(grid.n_rows, grid.n_cols, rook=False)
    ref = esda_g(res.values.ravel(), w, star=False, permutations=0)
    np.testing.assert_allclose(res.z.ravel(), ref.Zs, rtol=0, atol=1e-9)
    assert res.params["statistic"] == "Gi"
    np.testing.assert_array_equal(res.n_neighbours.ravel(),
                                  [w.cardinalities[i] for i in w.id_order])


def test_weighted_counts_match_esda():
    frame = chicago_assaults().copy()
    rng = np.random.default_rng(5)
    frame["harm"] = rng.choice([0.5, 1.0, 7.3, 30.25], size=len(frame))
    grid = Grid.for_points(frame["x"], frame["y"], "EPSG:26916", cell_size=800)
    res = gistar(frame, grid=grid, weights="harm")
    expected = grid.bin_counts(frame["x"], frame["y"], frame["harm"])
    np.testing.assert_allclose(res.values, expected, rtol=1e-12)
    w = libpysal.weights.lat2W(grid.n_rows, grid.n_cols, rook=False)
    ref = esda_g(expected.ravel(), w, star=True, permutations=0)
    np.testing.assert_allclose(res.z.ravel(), ref.Zs, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(res.q.ravel(), stats.false_discovery_control(res.p.ravel()))


def test_distance_band_in_metres_matches_esda_distance_band():
    values = clustered((23, 31), seed=3)
    grid = Grid(0.0, 0.0, 100.0, 31, 23, "EPSG:27700")
    res = gistar(values, grid=grid, distance_m=250.0)
    xs, ys = grid.cell_centres()
    pts = np.column_stack([xs.ravel(), ys.ravel()])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = libpysal.weights.DistanceBand(pts, threshold=250.0, binary=True, silence_warnings=True)
    ref = esda_g(values.ravel(), w, star=True, permutations=0)
    np.testing.assert_allclose(res.z.ravel(), ref.Zs, rtol=0, atol=1e-9)
    # 2.5 cells: offsets with dx² + dy² <= 6.25 -> 21 cells in the interior
    assert res.n_neighbours[10, 15] == 21
    assert res.params["shape"] == "disc"


# ---------------------------------------------------------------------------- brute force twins
@pytest.mark.parametrize("shape,k", [("square", 1), ("square", 2), ("diamond", 2), ("disc", 3)])
@pytest.mark.parametrize("include_self", [True, False])
def test_matches_brute_force_reference(shape, k, include_self):
    values = clustered((14, 19), seed=k) + np.random.default_rng(k).random((14, 19)) * 0.3
    valid = np.ones(values.shape, dtype=bool)
    valid[3:6, 4:9] = False  # a hole: masked-out cells are no one's neighbours
    values[~valid] = np.nan
    res = gistar(values, mask=valid, distance_cells=k, shape=shape, include_self=include_self)
    ref = brute_gistar(values, valid, neighbourhood_halfwidths(shape, k), include_self)
    np.testing.assert_allclose(res.z, ref, rtol=0, atol=1e-11, equal_nan=True)


def test_running_window_sums_equal_direct_sums():
    from geodemand._kernels import gistar as kernels

    rng = np.random.default_rng(11)
    for k in (1, 2, 5):
        values = rng.poisson(1.3, size=(17, 29)).astype(float)
        valid = rng.random(values.shape) > 0.2
        s1, c1 = kernels.window_sums_square(values, valid, k)
        s2, c2 = kernels.window_sums_profile(values, valid, neighbourhood_halfwidths("square", k))
        np.testing.assert_array_equal(s1, s2)
        np.testing.assert_array_equal(c1, c2)


def test_integer_group_path_equals_general_path():
    values = clustered((40, 45), seed=9)
    fast = gistar(values)  # integer counts: grouped by (neighbourhood sum, size)
    general = gistar(values + 1e-7)  # non-integer: per-cell path
    np.testing.assert_allclose(fast.z, general.z, atol=1e-5)
    np.testing.assert_array_equal(fast.bin, general.bin)
    np.testing.assert_array_equal(fast.q, stats.false_discovery_control(fast.p.ravel())
                                  .reshape(fast.p.shape))


def test_undefined_cells_are_left_out_of_the_tests():
    values = np.array([[0.0, 1, 2], [3, 4, 5], [6, 7, 9]])
    res = gistar(values)  # the centre's queen ring covers all 9 cells
    assert np.isnan(res.z[1, 1]) and np.isnan(res.q[1, 1]) and res.bin[1, 1] == 0
    assert res.params["n_undefined"] == 1
    others = ~np.isnan(res.p)
    assert others.sum() == 8
    np.testing.assert_array_equal(res.q[others], stats.false_discovery_control(res.p[others]))


# ---------------------------------------------------------------------------- multiple testing
def test_adjust_pvalues_equals_scipy_with_ties_and_nan():
    rng = np.random.default_rng(2)
    p = np.round(rng.random(5000) ** 3, 3)  # many ties
    np.testing.assert_array_equal(adjust_pvalues(p), stats.false_discovery_control(p))
    np.testing.assert_array_equal(adjust_pvalues(p, "bonferroni"), np.minimum(p * p.size, 1))
    np.testing.assert_array_equal(adjust_pvalues(p, "none"), p)
    with_nan = p.copy()
    with_nan[::7] = np.nan
    q = adjust_pvalues(with_nan)
    assert np.isnan(q[::7]).all()
    keep = ~np.isnan(with_nan)
    np.testing.assert_array_equal(q[keep], stats.false_discovery_control(with_nan[keep]))


@pytest.mark.parametrize("correction", ["fdr_bh", "bonferroni", "none"])
def test_bins_come_from_the_corrected_values(correction):
    values = clustered((60, 60), seed=4, bumps=10)
    res = gistar(values, correction=correction)
    assert res.params["correction"] == correction
    expect_q = adjust_pvalues(res.p, correction)
    np.testing.assert_array_equal(res.q, expect_q)
    np.testing.assert_array_equal(res.bin, confidence_bins(res.q, res.z))
    uncorrected = confidence_bins(res.p, res.z)
    if correction == "none":
        np.testing.assert_array_equal(res.bin, uncorrected)
    else:  # correction can only remove significance
        assert (np.abs(res.bin) <= np.abs(uncorrected)).all()
        assert (np.abs(res.bin) < np.abs(uncorrected)).any()


def test_confidence_bins_levels():
    q = np.array([0.001, 0.01, 0.02, 0.05, 0.07, 0.1, 0.2, np.nan])
    z = np.array([1, -1, 1, -1, 1, -1, 1, 1.0])
    np.testing.assert_array_equal(confidence_bins(q, z), [3, -3, 2, -2, 1, -1, 0, 0])
    np.testing.assert_array_equal(confidence_bins(q, z, levels=(0.001, 0.02, 0.07)),
                                  [3, -2, 2, -1, 1, 0, 0, 0])


# ---------------------------------------------------------------------------- permutations
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("kind", ["counts", "weighted"])
def test_permutation_kernel_equals_numpy_reference(include_self, kind):
    values = clustered((13, 17), seed=21)
    if kind == "weighted":
        values = values * 1.75 + np.random.default_rng(1).choice([0, 0.3], size=values.shape)
    valid = np.ones(values.shape, dtype=bool)
    valid[0, :5] = False
    valid[6, 6] = False
    R, seed = 57, 987654321
    res = gistar(values, mask=valid, permutations=R, seed=seed, include_self=include_self)
    x = values[valid]
    local = res.local_sum[valid] - (x if include_self else 0)
    n_draw = res.n_neighbours[valid] - (1 if include_self else 0)
    tol = None
    if kind == "weighted":
        tol = 64 * np.finfo(float).eps * np.maximum(n_draw, 1) * np.abs(x).max()
    ge, le = reference_tail_counts(x, n_draw, local, R, seed, tol)
    np.testing.assert_array_equal(res.p_high[valid], (ge + 1) / (R + 1))
    np.testing.assert_array_equal(res.p_low[valid], (le + 1) / (R + 1))
    p_sim = np.minimum(1, 2 * np.minimum(ge + 1, le + 1) / (R + 1))
    np.testing.assert_array_equal(res.p_sim[valid], p_sim)
    np.testing.assert_array_equal(res.p, res.p_sim)
    np.testing.assert_array_equal(res.q[valid], stats.false_discovery_control(p_sim))
    assert res.params["inference"] == "permutation" and res.params["seed"] == seed


def test_permutation_null_is_hypergeometric_on_binary_data():
    rng = np.random.default_rng(8)
    values = (rng.random((30, 30)) < 0.2).astype(float)
    R = 1999
    res = gistar(values, permutations=R, seed=3)
    x = values.ravel()
    n = x.size
    ones = x.sum()
    obs = res.local_sum.ravel() - x
    k = res.n_neighbours.ravel() - 1
    # neighbours are drawn from the n-1 other cells, of which (ones - x_i) are 1
    exact = stats.hypergeom.sf(obs - 1, n - 1, ones - x, k)
    got = res.p_high.ravel() * (R + 1) - 1
    se = np.sqrt(np.maximum(exact * (1 - exact), 1e-4) / R)
    assert np.all(np.abs(got / R - exact) < 5.5 * se)
    # pooled over cells the estimate is unbiased to within a small Monte Carlo error
    assert abs(np.mean(got / R - exact)) < 3 * np.sqrt(np.mean(exact * (1 - exact)) / (R * n))


def test_permutation_draws_are_independent_per_cell_and_thread_safe():
    import numba

    rng = np.random.default_rng(12)
    values = (rng.random((40, 40)) < 0.1).astype(float)
    res = gistar(values, permutations=199, seed=5)
    inner = np.zeros(values.shape, dtype=bool)
    inner[1:-1, 1:-1] = True
    # cells alike in everything (own value 0, 8 neighbours, neighbourhood sum 1) share one
    # null distribution: with shared draws (esda) their p-values would all be equal
    alike = inner & (values == 0) & (res.local_sum == 1)
    assert alike.sum() > 50
    assert np.unique(res.p_high[alike]).size > 5
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = gistar(values, permutations=199, seed=5)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(single.p_sim, res.p_sim)
    other = gistar(values, permutations=199, seed=6)
    assert not np.array_equal(other.p_sim, res.p_sim)


def test_ties_keep_empty_neighbourhoods_from_being_cold_spots():
    values = clustered((50, 50), seed=13, base=0.01)
    assert (values == 0).mean() > 0.8
    res = gistar(values, permutations=199, seed=1)
    empty = res.local_sum == 0
    assert empty.sum() > 500
    # every simulated sum is >= 0 = observed, and most equal it: never a significant low
    assert (res.p_high[empty] == 1).all()
    assert (res.p_sim[empty] > 0.1).all()
    assert (res.bin[empty] >= 0).all()
    # whereas the upper tail still finds the clusters
    assert ((res.p_sim <= 0.05) & (res.p_high < res.p_low)).sum() > 20


def test_seed_none_is_drawn_and_recorded():
    values = clustered((12, 12), seed=2)
    res = gistar(values, permutations=19)
    seed = res.params["seed"]
    assert isinstance(seed, int)
    again = gistar(values, permutations=19, seed=seed)
    np.testing.assert_array_equal(again.p_sim, res.p_sim)


# ---------------------------------------------------------------------------- polygons
@lru_cache(maxsize=1)
def wards():
    import geopandas as gpd

    layer = gpd.read_file(DATA / "boundaries" / "west_midlands" / "wards2013.geojson")
    layer = layer.to_crs(27700)
    rng = np.random.default_rng(17)
    layer["count"] = rng.poisson(rng.gamma(2.0, 20.0, size=len(layer)))
    return layer


@pytest.mark.parametrize("contiguity", ["queen", "rook"])
def test_polygon_contiguity_and_gistar_match_libpysal_and_esda(contiguity):
    layer = wards()
    ours = contiguity_matrix(layer, contiguity)
    builder = libpysal.weights.Queen if contiguity == "queen" else libpysal.weights.Rook
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = builder.from_dataframe(layer, use_index=False)
    theirs = w.sparse.toarray() > 0
    np.testing.assert_array_equal(ours.toarray() > 0, theirs)
    out = gistar_areas(layer, "count", contiguity=contiguity)
    ref = esda_g(layer["count"].to_numpy(), w, star=True, permutations=0)
    np.testing.assert_allclose(out["gi_z"].to_numpy(), ref.Zs, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(out["gi_q"], stats.false_discovery_control(out["gi_p"]))
    assert "count" in out.columns and "gi_z" not in layer.columns  # input untouched
    assert out.attrs["params"]["contiguity"] == contiguity


def test_polygon_permutations_equal_reference():
    layer = wards()
    R, seed = 99, 42
    out = gistar_areas(layer, "count", permutations=R, seed=seed)
    a = contiguity_matrix(layer)
    x = layer["count"].to_numpy(dtype=float)
    obs = a @ x
    k = np.diff(a.indptr)
    ge, le = reference_tail_counts(x, k, obs, R, seed)
    np.testing.assert_array_equal(out["gi_p_high"], (ge + 1) / (R + 1))
    np.testing.assert_array_equal(out["gi_p_low"], (le + 1) / (R + 1))


# ---------------------------------------------------------------------------- outputs, inputs
def test_to_geodataframe_columns_and_cells():
    values = clustered((20, 25), seed=6)
    grid = Grid(1000.0, 2000.0, 50.0, 25, 20, "EPSG:27700")
    mask = np.ones(values.shape, dtype=bool)
    mask[:2] = False
    res = gistar(values, grid=grid, mask=mask)
    gdf = res.to_geodataframe()
    assert list(gdf.columns) == ["row", "col", "value", "local_sum", "n_neighbours", "z", "p",
                                 "q", "bin", "p_norm", "geometry"]
    assert len(gdf) == mask.sum()
    assert gdf.crs.to_epsg() == 27700
    first = gdf.iloc[0]
    assert (first["row"], first["col"]) == (2, 0)
    assert first["z"] == res.z[2, 0]
    minx, miny, maxx, maxy = first.geometry.bounds
    assert (minx, maxy) == (1000.0, grid.y_max - 2 * 50.0)
    assert gdf.attrs["params"]["n_cells"] == mask.sum()
    assert not res.z.flags.writeable and not res.bin.flags.writeable  # results are read-only
    sig = res.to_geodataframe(only_significant=True)
    assert len(sig) == (res.bin != 0).sum() > 0


def test_write_raster_of_bins(tmp_path):
    import rasterio

    values = clustered((20, 25), seed=6)
    grid = Grid(1000.0, 2000.0, 50.0, 25, 20, "EPSG:27700")
    res = gistar(values, grid=grid)
    path = geodemand.write_raster(res, tmp_path / "bins.tif")
    with rasterio.open(path) as src:
        np.testing.assert_array_equal(src.read(1), res.bin.astype(np.float32))
        assert src.transform == grid.transform
        assert src.tags()["correction"] == "fdr_bh"
    z_path = geodemand.write_raster(res, tmp_path / "z.tif", layer="z")
    with rasterio.open(z_path) as src:
        np.testing.assert_allclose(src.read(1), res.z.astype(np.float32))


def test_incident_input_equals_counts_and_is_not_mutated():
    frame = chicago_assaults().head(3000).copy()
    before = frame.copy()
    grid = Grid.for_points(frame["x"], frame["y"], "EPSG:26916", cell_size=500)
    a = gistar(frame, grid=grid)
    b = gistar(grid.bin_counts(frame["x"], frame["y"]), grid=grid)
    np.testing.assert_array_equal(a.z, b.z)
    pd.testing.assert_frame_equal(frame, before)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"correction": "holm"}, "correction"),
        ({"levels": (0.05, 0.01, 0.1)}, "levels"),
        ({"permutations": -1}, "permutations"),
        ({"distance_cells": 0}, "distance_cells"),
        ({"distance_cells": 1.5}, "distance_cells"),
        ({"shape": "hexagon"}, "shape"),
        ({"distance_m": 300.0}, "grid"),
        ({"permutations": 9, "seed": -3}, "seed"),
        ({"mask": np.ones((3, 3), bool)}, "mask shape"),
    ],
)
def test_bad_parameters_raise(kwargs, match):
    values = clustered((10, 12), seed=1)
    with pytest.raises(InvalidParameterError, match=match):
        gistar(values, **kwargs)


def test_bad_values_raise():
    with pytest.raises(InvalidParameterError, match="2-D"):
        gistar(np.zeros(10))
    with pytest.raises(InvalidParameterError, match="without variation"):
        gistar(np.ones((5, 5)))
    values = clustered((10, 12), seed=1)
    values[3, 4] = np.nan
    with pytest.raises(InvalidParameterError, match="row 3, col 4"):
        gistar(values)
    mask = np.ones(values.shape, bool)
    mask[3, 4] = False
    assert np.isnan(gistar(values, mask=mask).z[3, 4])
    grid = Grid(0.0, 0.0, 100.0, 5, 5, "EPSG:27700")
    with pytest.raises(InvalidParameterError, match="grid shape"):
        gistar(np.zeros((6, 6)), grid=grid)
    with pytest.raises(InvalidParameterError, match="under one cell"):
        gistar(clustered((5, 5)), grid=grid, distance_m=50.0)


def test_gistar_takes_the_points_kde_takes():
    """A GeoDataFrame of points (lon/lat or metres) with cell_size_m gives the Gi* of the
    counts binned by hand on the same grid."""
    import geopandas as gpd
    from pyproj import Transformer

    from geodemand import Grid, gistar

    rng = np.random.default_rng(2)
    x = np.concatenate([rng.normal(451_000, 150, 400), rng.uniform(449_000, 453_000, 400)])
    y = np.concatenate([rng.normal(302_000, 150, 400), rng.uniform(300_000, 304_000, 400)])
    grid = Grid.for_points(x, y, "EPSG:27700", 250.0)
    by_hand = gistar(grid.bin_counts(x, y), grid=grid)
    metres = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs="EPSG:27700")
    from_points = gistar(metres, cell_size_m=250.0)
    assert from_points.grid == grid
    np.testing.assert_array_equal(from_points.z, by_hand.z)
    np.testing.assert_array_equal(from_points.bin, by_hand.bin)
    lon, lat = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True).transform(x, y)
    degrees = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    on_grid = gistar(degrees, grid=grid)  # projected into the grid's CRS
    np.testing.assert_array_equal(on_grid.values, by_hand.values)
    with pytest.raises(InvalidParameterError, match="either grid or cell_size_m"):
        gistar(metres, grid=grid, cell_size_m=250.0)
    with pytest.raises(InvalidParameterError, match="only to points"):
        gistar(grid.bin_counts(x, y), cell_size_m=250.0)
