"""Tests of geodemand.engines.density (kernel density engine).

The exact mode is checked against ``reference_kde`` below, a slow, obviously-correct twin in
plain numpy (a Python loop over points; each point's kernel evaluated at cell centres), and
against scikit-learn and KDEpy in analytic mode.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

import geodemand
from geodemand.engines.density import ANALYTIC_CONSTANTS, KERNELS, kde, rule_of_thumb_bandwidth
from geodemand.errors import GeodemandError, InvalidParameterError
from geodemand.grid import Grid

DATA = Path(__file__).resolve().parent / "data"
CRS = "EPSG:27700"
X0, Y0 = 452_000.0, 304_000.0


# ------------------------------------------------------------------------ reference twin
def _profile(kernel: str, u2: np.ndarray) -> np.ndarray:
    if kernel == "quartic":
        return (1.0 - u2) ** 2
    if kernel == "epanechnikov":
        return 1.0 - u2
    if kernel == "triangular":
        return 1.0 - np.sqrt(u2)
    if kernel == "uniform":
        return np.ones_like(u2)
    if kernel == "gaussian":  # sd = h / 3: exp(-d² / (2 sd²)) = exp(-4.5 u²)
        return np.exp(-4.5 * u2)
    raise AssertionError(kernel)


def _analytic_constant(kernel: str) -> float:
    """2-D normalising constants derived independently: c = 1 / (2π ∫0^1 k(u) u du)."""
    from scipy.integrate import quad

    integral, _ = quad(lambda u: _profile(kernel, np.array(u * u)) * u, 0.0, 1.0)
    return 1.0 / (2.0 * math.pi * integral)


def reference_kde(x, y, w, grid: Grid, h: float, kernel: str, normalise: str) -> np.ndarray:
    """Density per m²: for each point, the kernel at every cell centre with d < h.

    ``discrete``: the point's values over the infinite lattice of cell centres are rescaled
    to sum to w / cell area (if none lies within h, w / cell area goes to the point's cell).
    ``analytic``: w · c / h² · profile.
    """
    cs = grid.cell_size
    out = np.zeros(grid.shape)
    xc_grid = grid.col_centres()
    yc_grid = grid.row_centres()
    for xi, yi, wi in zip(x, y, w, strict=True):
        # every lattice cell whose centre can be within h (a generous box), on grid or not
        cols = np.arange(
            math.floor((xi - grid.x_min - h) / cs) - 2, math.ceil((xi - grid.x_min + h) / cs) + 2
        )
        rows = np.arange(
            math.floor((grid.y_max - yi - h) / cs) - 2, math.ceil((grid.y_max - yi + h) / cs) + 2
        )
        dx = (grid.x_min + (cols + 0.5) * cs) - xi
        dy = (grid.y_max - (rows + 0.5) * cs) - yi
        d2 = dx[None, :] ** 2 + dy[:, None] ** 2
        lattice = np.where(d2 < h * h, _profile(kernel, d2 / (h * h)), 0.0)
        # the same values on the grid itself
        dxg = xc_grid - xi
        dyg = yc_grid - yi
        d2g = dxg[None, :] ** 2 + dyg[:, None] ** 2
        on_grid = np.where(d2g < h * h, _profile(kernel, d2g / (h * h)), 0.0)
        if normalise == "analytic":
            out += wi * _analytic_constant(kernel) / (h * h) * on_grid
        elif lattice.sum() > 0:
            out += wi * on_grid / (lattice.sum() * cs * cs)
        else:
            r, c, inside = grid.cell_index(np.array([xi]), np.array([yi]))
            if inside[0]:
                out[r[0], c[0]] += wi / (cs * cs)
    return out


def _clustered(n: int, seed: int, spread: float = 400.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 3000, size=(5, 2))
    which = rng.integers(0, 5, size=n)
    pts = centres[which] + rng.normal(0, spread, size=(n, 2))
    return pts + [X0, Y0]


@pytest.fixture(scope="module")
def pts():
    return _clustered(300, seed=7)


@pytest.fixture(scope="module")
def small_grid(pts):
    # deliberately NOT covering every kernel: some footprints cross the edge
    return Grid.from_bounds(
        (pts[:, 0].min() + 200, pts[:, 1].min() + 100, pts[:, 0].max(), pts[:, 1].max()),
        40.0,
        CRS,
    )


def _rel_max(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


# ------------------------------------------------------------------------ exact == reference
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("normalise", ["discrete", "analytic"])
def test_exact_equals_reference(pts, small_grid, kernel, weighted, normalise):
    rng = np.random.default_rng(3)
    w = rng.uniform(0.2, 5.0, len(pts)) if weighted else np.ones(len(pts))
    h = 230.0
    res = kde(
        pts,
        small_grid,
        bandwidth_m=h,
        kernel=kernel,
        weights=w if weighted else None,
        method="exact",
        normalise=normalise,
        units="per_m2",
    )
    ref = reference_kde(pts[:, 0], pts[:, 1], w, small_grid, h, kernel, normalise)
    assert res.density.shape == small_grid.shape
    assert ref.max() > 0
    np.testing.assert_allclose(res.density, ref, rtol=1e-9, atol=1e-12 * ref.max())


@pytest.mark.parametrize("kernel", KERNELS)
def test_exact_reference_tiny_bandwidth(kernel):
    """h below half a cell: some points have no centre within h (own-cell rule)."""
    rng = np.random.default_rng(11)
    p = rng.uniform(0, 500, size=(80, 2)) + [X0, Y0]
    grid = Grid.from_bounds((X0 - 50, Y0 - 50, X0 + 550, Y0 + 550), 50.0, CRS)
    w = rng.uniform(0.5, 2.0, 80)
    res = kde(p, grid, bandwidth_m=20.0, kernel=kernel, weights=w, method="exact", units="per_m2")
    ref = reference_kde(p[:, 0], p[:, 1], w, grid, 20.0, kernel, "discrete")
    np.testing.assert_allclose(res.density, ref, rtol=1e-9, atol=1e-12 * ref.max())
    assert res.mass() == pytest.approx(w.sum(), rel=1e-9)


def test_analytic_constants_derived_independently():
    for kernel in KERNELS:
        assert ANALYTIC_CONSTANTS[kernel] == pytest.approx(_analytic_constant(kernel), rel=1e-10)


@pytest.mark.parametrize("method", ["exact", "binned"])
def test_independent_of_thread_count(pts, small_grid, method, monkeypatch):
    import numba

    import geodemand.engines.density as dens

    monkeypatch.setattr(dens, "_POINTS_PER_CHUNK", 50)  # several chunks even for 300 points
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = kde(pts, small_grid, bandwidth_m=230.0, method=method).density.copy()
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = kde(pts, small_grid, bandwidth_m=230.0, method=method).density
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one, many)


def test_exact_many_chunks_equals_reference(monkeypatch):
    """Force many chunks so chunk buffers overlap and are reduced; result must not change."""
    import geodemand.engines.density as dens

    p = _clustered(400, seed=5)
    grid = Grid.for_points(p[:, 0], p[:, 1], CRS, 30.0, padding=200.0)
    ref = reference_kde(p[:, 0], p[:, 1], np.ones(400), grid, 170.0, "quartic", "discrete")
    monkeypatch.setattr(dens, "_POINTS_PER_CHUNK", 7)
    res = kde(p, grid, bandwidth_m=170.0, method="exact", units="per_m2")
    np.testing.assert_allclose(res.density, ref, rtol=1e-9, atol=1e-12 * ref.max())


# ------------------------------------------------------------------------ mass conservation
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("method", ["exact", "binned"])
def test_mass_conservation(pts, kernel, method):
    rng = np.random.default_rng(2)
    w = rng.uniform(0.0, 3.0, len(pts))
    # coarse cells relative to h: the discretisation error would be several % without
    # discrete normalisation
    res = kde(
        pts, bandwidth_m=90.0, kernel=kernel, weights=w, method=method, cell_size_m=40.0, crs=CRS
    )
    assert res.mass() == pytest.approx(w.sum(), rel=1e-6)
    assert res.params["total_weight"] == pytest.approx(w.sum(), rel=1e-12)
    assert res.params["n_points_off_grid"] == 0


def test_analytic_mode_is_not_mass_conserving_on_coarse_grid(pts):
    """Documented: analytic values at centres lose/gain mass on coarse grids."""
    grid = Grid.from_bounds((X0 - 200, Y0 - 200, X0 + 200, Y0 + 200), 40.0, CRS)
    one = np.array([[X0 + 20.0, Y0 + 20.0]])  # on a cell centre
    res = kde(one, grid, bandwidth_m=60.0, kernel="quartic", method="exact", normalise="analytic")
    # centre + 4 neighbours at u² = 4/9 + 4 diagonals at u² = 8/9, times 3/(π h²) · cell area
    by_hand = (1 + 4 * (5 / 9) ** 2 + 4 * (1 / 9) ** 2) * 3 / (math.pi * 3600) * 1600
    assert res.mass() == pytest.approx(by_hand, rel=1e-12)
    assert abs(res.mass() - 1.0) > 0.02
    fine = kde(
        pts,
        bandwidth_m=400.0,
        kernel="quartic",
        method="exact",
        normalise="analytic",
        cell_size_m=10.0,
        crs=CRS,
    )
    assert fine.mass() == pytest.approx(len(pts), rel=1e-3)


def test_edge_loss_when_grid_too_small(pts, small_grid):
    res = kde(pts, small_grid, bandwidth_m=230.0, method="exact")
    assert 0 < res.mass() < len(pts)


@pytest.mark.parametrize("method", ["exact", "binned"])
def test_far_points_are_counted_off_grid(pts, small_grid, method):
    far = np.array([[X0 - 50_000.0, Y0], [X0, Y0 + 80_000.0], [X0 + 1e7, Y0 - 1e7]])
    both = np.concatenate([pts, far])
    res = kde(both, small_grid, bandwidth_m=230.0, method=method)
    alone = kde(pts, small_grid, bandwidth_m=230.0, method=method)
    assert res.params["n_points_off_grid"] == alone.params["n_points_off_grid"] + 3
    assert res.params["n_points"] == len(pts) + 3
    np.testing.assert_array_equal(res.density, alone.density)


# ------------------------------------------------------------------------ peers
def test_sklearn_epanechnikov_agrees():
    from sklearn.neighbors import KernelDensity

    p = _clustered(250, seed=21)
    rng = np.random.default_rng(4)
    w = rng.uniform(0.5, 2.0, len(p))
    h = 300.0
    res = kde(
        p,
        bandwidth_m=h,
        kernel="epanechnikov",
        weights=w,
        method="exact",
        normalise="analytic",
        cell_size_m=50.0,
        crs=CRS,
    )
    gx, gy = res.grid.cell_centres()
    est = KernelDensity(
        kernel="epanechnikov", bandwidth=h, algorithm="kd_tree", rtol=0, atol=0
    ).fit(p, sample_weight=w)
    # sklearn: log( sum_i w_i K_h(x - x_i) / sum_i w_i ) with, in 2-D, K_h = 2/(π h²)(1 - u²)
    # (its norm is V_d · 2 / (d + 2) with V_2 = π). Ours per km² = 1e6 · sum_i w_i K_h.
    sk = np.exp(est.score_samples(np.column_stack([gx.ravel(), gy.ravel()])))
    sk = sk.reshape(res.grid.shape) * w.sum() * 1e6
    assert sk.max() > 0
    np.testing.assert_allclose(res.density, sk, rtol=1e-9, atol=1e-12 * sk.max())


def _kdepy_on_grid(p, w, grid: Grid, h: float) -> np.ndarray:
    """KDEpy FFTKDE biweight (bw = sd = h / sqrt 7) evaluated at the grid's cell centres, as
    an array in grid order (row 0 north), density per m² normalised to one."""
    from KDEpy import FFTKDE

    xs = grid.col_centres()
    ys = grid.row_centres()[::-1]  # ascending
    mesh = np.column_stack([np.repeat(xs, ys.size), np.tile(ys, xs.size)])  # x slowest
    dens = FFTKDE(kernel="biweight", bw=h / math.sqrt(7.0)).fit(p, weights=w).evaluate(mesh)
    return dens.reshape(xs.size, ys.size).T[::-1, :]


def test_kdepy_biweight_agrees_within_1pct_of_peak():
    p = _clustered(3000, seed=8)
    w = np.random.default_rng(6).uniform(0.5, 2.0, len(p))
    h = 200.0
    res = kde(
        p,
        bandwidth_m=h,
        weights=w,
        method="exact",
        normalise="analytic",
        cell_size_m=25.0,
        crs=CRS,
        units="per_m2",
    )
    peer = _kdepy_on_grid(p, w, res.grid, h) * w.sum()
    err = _rel_max(res.density, peer)
    assert err < 0.01, err


@pytest.mark.parametrize("kernel", ["quartic", "epanechnikov", "triangular", "gaussian"])
def test_binned_close_to_exact(kernel):
    p = _clustered(20_000, seed=9)
    grid = Grid.for_points(p[:, 0], p[:, 1], CRS, 25.0, padding=250.0)
    exact = kde(p, grid, bandwidth_m=200.0, kernel=kernel, method="exact")
    binned = kde(p, grid, bandwidth_m=200.0, kernel=kernel, method="binned")
    err = _rel_max(binned.density, exact.density)
    assert err < 0.01, err
    assert binned.params["method"] == "binned"
    assert binned.mass() == pytest.approx(exact.mass(), rel=1e-9)


def test_binned_analytic_close_to_exact_analytic():
    p = _clustered(20_000, seed=10)
    grid = Grid.for_points(p[:, 0], p[:, 1], CRS, 25.0, padding=250.0)
    a = kde(p, grid, bandwidth_m=200.0, method="exact", normalise="analytic")
    b = kde(p, grid, bandwidth_m=200.0, method="binned", normalise="analytic")
    assert _rel_max(b.density, a.density) < 0.01


# ------------------------------------------------------------------------ method, bandwidth
def test_auto_method_is_announced(pts, caplog):
    with caplog.at_level(logging.INFO, logger="geodemand"):
        small = kde(pts, bandwidth_m=200.0, cell_size_m=25.0, crs=CRS)
    assert small.params["method"] == "exact"
    assert any("method 'exact' chosen automatically" in r.message for r in caplog.records)
    many = _clustered(200_000, seed=1)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="geodemand"):
        big = kde(many, bandwidth_m=400.0, cell_size_m=25.0, crs=CRS)
    assert big.params["method"] == "binned"  # 16 cells: binning error bound 0.39 % of peak
    assert any("method 'binned' chosen automatically" in r.message for r in caplog.records)
    with caplog.at_level(logging.INFO, logger="geodemand"):
        eight = kde(many, bandwidth_m=200.0, cell_size_m=25.0, crs=CRS)
    assert eight.params["method"] == "exact"  # 8 cells: a stacked point is off by 1.6 %
    assert "1.58% of the peak" in eight.params["method_rule"]
    with caplog.at_level(logging.INFO, logger="geodemand"):
        coarse = kde(many, bandwidth_m=60.0, cell_size_m=25.0, crs=CRS)
    assert coarse.params["method"] == "exact"  # h under 4 cells: binning too coarse
    # many points on a huge grid: the FFT over 1e8 cells costs more than the kernels
    from geodemand.engines.density import _choose_method, estimated_seconds

    huge = Grid(X0, Y0, 25.0, 10_000, 10_000, CRS)
    t_exact, t_binned = estimated_seconds(1_000_000, 200.0, huge)
    assert t_exact < t_binned
    assert _choose_method("auto", 1_000_000, 200.0, huge)[0] == "exact"
    assert _choose_method("binned", 10, 200.0, huge) == ("binned", "given")


def test_auto_bandwidth_rule_and_announcement(pts, caplog):
    x, y = pts[:, 0], pts[:, 1]
    # the rule computed by hand
    dx, dy = x - x.mean(), y - y.mean()
    sd = math.sqrt(np.mean(dx**2 + dy**2))
    dm = float(np.median(np.hypot(dx, dy)))
    expected = round(0.9 * min(sd, math.sqrt(1 / math.log(2)) * dm) * len(x) ** -0.2)
    h, _ = rule_of_thumb_bandwidth(x, y)
    assert h == expected
    with caplog.at_level(logging.INFO, logger="geodemand"):
        res = kde(pts, crs=CRS, cell_size_m=50.0)
    assert res.params["bandwidth_m"] == expected
    msgs = [r.message for r in caplog.records]
    assert any(f"bandwidth (search radius) {expected:g} m" in m for m in msgs)
    # the default grid is padded by bandwidth + one cell: every kernel fits
    assert res.mass() == pytest.approx(len(pts), rel=1e-9)
    assert res.grid.x_min <= x.min() - expected - 50.0 + 1e-6


def test_params_recorded(pts):
    res = kde(pts, bandwidth_m=250.0, kernel="triangular", cell_size_m=50.0, crs=CRS)
    p = res.params
    assert p["kernel"] == "triangular"
    assert p["bandwidth_m"] == 250.0
    assert p["cell_size_m"] == 50.0
    assert p["n_points"] == len(pts)
    assert p["normalise"] == "discrete"
    assert p["crs"] == CRS
    assert res.units == "incidents per km²"
    assert p["decay"] is None
    import json

    json.dumps(p)  # JSON-safe


def test_units_conversion(pts):
    a = kde(pts, bandwidth_m=250.0, cell_size_m=50.0, crs=CRS, units="per_km2")
    b = kde(pts, bandwidth_m=250.0, cell_size_m=50.0, crs=CRS, units="per_m2")
    np.testing.assert_allclose(a.density, b.density * 1e6, rtol=1e-12)
    assert b.units == "incidents per m²"
    assert a.mass() == pytest.approx(b.mass(), rel=1e-12)


def test_density_is_read_only(pts):
    res = kde(pts, bandwidth_m=250.0, cell_size_m=50.0, crs=CRS)
    with pytest.raises(ValueError):
        res.density[0, 0] = 1.0


def test_input_frame_not_mutated_and_crs_from_attrs(pts):
    frame = pd.DataFrame({"x": pts[:, 0], "y": pts[:, 1], "w": np.arange(len(pts), dtype=float)})
    frame.attrs["crs"] = CRS
    before = frame.copy(deep=True)
    res = kde(frame, bandwidth_m=250.0, weights="w", cell_size_m=50.0)
    pd.testing.assert_frame_equal(frame, before)
    assert res.params["crs"] == CRS
    assert res.mass() == pytest.approx(frame["w"].sum(), rel=1e-9)
    assert res.units == "weighted incidents per km²"


def test_harm_weights(pts):
    from geodemand.demand.harm import harm_weights

    table = harm_weights()
    types = table.frame["crime_type"].to_numpy()
    frame = pd.DataFrame(
        {"x": pts[:, 0], "y": pts[:, 1], "crime_type": types[np.arange(len(pts)) % len(types)]}
    )
    frame.attrs["crs"] = CRS
    res = kde(frame, bandwidth_m=250.0, weights="harm", cell_size_m=50.0)
    expected = table.weights(frame["crime_type"]).sum()
    assert res.units == "harm per km²"
    assert res.mass() == pytest.approx(expected, rel=1e-9)


def test_peak_and_geodataframe():
    p = np.array([[X0 + 512.0, Y0 + 488.0]] * 3)
    res = kde(p, bandwidth_m=100.0, cell_size_m=25.0, crs=CRS)
    x, y, v = res.peak()
    assert abs(x - (X0 + 512.0)) <= 12.5 and abs(y - (Y0 + 488.0)) <= 12.5
    gdf = res.to_geodataframe()
    assert len(gdf) == int((res.density > 0).sum())
    assert gdf["density"].max() == v
    assert gdf.crs.to_string() == CRS
    assert gdf.attrs["params"]["bandwidth_m"] == 100.0


# ------------------------------------------------------------------------ time decay
def test_decay_inverse_and_exponential():
    p = np.array([[X0, Y0], [X0 + 5000.0, Y0]])
    frame = pd.DataFrame(
        {"x": p[:, 0], "y": p[:, 1], "occurred": pd.to_datetime(["2021-03-01", "2021-01-25"])}
    )
    frame.attrs["crs"] = CRS
    grid = Grid.from_bounds((X0 - 1000, Y0 - 1000, X0 + 6000, Y0 + 1000), 50.0, CRS)
    # reference date = latest (2021-03-01): ages 0 and 35 days = 5 weeks
    inv = kde(frame, grid, bandwidth_m=300.0, decay="inverse")
    left, right = grid.cell_index(p[:, 0], p[:, 1])[:2]
    a = inv.density[left[0], right[0]]
    b = inv.density[left[1], right[1]]
    assert b / a == pytest.approx(1.0 / (1.0 + 5.0), rel=1e-9)
    assert inv.params["reference_date"].startswith("2021-03-01")
    assert inv.mass() == pytest.approx(1.0 + 1.0 / 6.0, rel=1e-9)
    assert inv.units.startswith("time-decayed")
    exp = kde(frame, grid, bandwidth_m=300.0, decay="exponential", half_life_days=35.0)
    assert exp.mass() == pytest.approx(1.5, rel=1e-9)
    # explicit reference date 35 days after the newest: ages 35 and 70 days
    later = kde(
        frame,
        grid,
        bandwidth_m=300.0,
        decay="exponential",
        half_life_days=35.0,
        reference_date="2021-04-05",
    )
    assert later.mass() == pytest.approx(0.5 + 0.25, rel=1e-9)
    # ages given directly, combined with weights
    direct = kde(
        p, grid, bandwidth_m=300.0, weights=[2.0, 4.0], decay="inverse", age_days=[7.0, 21.0]
    )
    assert direct.mass() == pytest.approx(2.0 / 2.0 + 4.0 / 4.0, rel=1e-9)


def test_decay_errors():
    p = np.array([[X0, Y0], [X0 + 100.0, Y0]])
    kw = dict(bandwidth_m=200.0, cell_size_m=50.0, crs=CRS)
    with pytest.raises(InvalidParameterError, match="half_life_days"):
        kde(p, decay="exponential", age_days=[1, 2], **kw)
    with pytest.raises(InvalidParameterError, match="half_life_days"):
        kde(p, half_life_days=10.0, age_days=[1, 2], **kw)
    with pytest.raises(InvalidParameterError, match="age"):
        kde(p, decay="inverse", age_days=[1, -2], **kw)
    with pytest.raises(InvalidParameterError, match="occurred"):
        kde(p, decay="inverse", **kw)
    with pytest.raises(InvalidParameterError, match="decay"):
        kde(p, decay="linear", age_days=[1, 2], **kw)


# ------------------------------------------------------------------------ clipping
def test_clipping_sets_nan_outside(pts):
    res = kde(pts, bandwidth_m=250.0, cell_size_m=50.0, crs=CRS)
    cx, cy = np.median(pts[:, 0]), np.median(pts[:, 1])
    area = shapely.Point(cx, cy).buffer(1200.0)
    clipped = kde(pts, res.grid, bandwidth_m=250.0, clip_to=area)
    gx, gy = res.grid.cell_centres()
    inside = shapely.contains_xy(area, gx, gy)
    assert np.isnan(clipped.density[~inside]).all()
    assert not np.isnan(clipped.density[inside]).any()
    np.testing.assert_array_equal(clipped.density[inside], res.density[inside])
    assert clipped.params["n_cells_clipped"] == int((~inside).sum())
    assert clipped.mass() < res.mass()


def test_clipping_reprojects_geoseries(pts):
    import geopandas as gpd

    area = gpd.GeoSeries(
        [shapely.box(pts[:, 0].min(), pts[:, 1].min(), np.median(pts[:, 0]), pts[:, 1].max())],
        crs=CRS,
    )
    direct = kde(pts, bandwidth_m=250.0, cell_size_m=50.0, crs=CRS, clip_to=area)
    via_wgs = kde(pts, bandwidth_m=250.0, cell_size_m=50.0, crs=CRS, clip_to=area.to_crs(4326))
    # reprojection round trip moves edges by micrometres: at most a few edge cells differ
    differ = np.isnan(direct.density) != np.isnan(via_wgs.density)
    assert differ.sum() <= 0.01 * differ.size
    assert np.isnan(direct.density).any()


def test_bad_clip_area(pts):
    with pytest.raises(InvalidParameterError, match="polygon"):
        kde(pts, bandwidth_m=250.0, cell_size_m=50.0, crs=CRS, clip_to=shapely.Point(X0, Y0))
    with pytest.raises(InvalidParameterError, match="clip_to"):
        kde(pts, bandwidth_m=250.0, cell_size_m=50.0, crs=CRS, clip_to="leicester")


# ------------------------------------------------------------------------ bad inputs
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(bandwidth_m=-5.0), "bandwidth"),
        (dict(bandwidth_m=0.0), "bandwidth"),
        (dict(bandwidth_m=float("nan")), "bandwidth"),
        (dict(bandwidth_m=100.0, kernel="box"), "kernel"),
        (dict(bandwidth_m=100.0, method="fast"), "method"),
        (dict(bandwidth_m=100.0, normalise="none"), "normalise"),
        (dict(bandwidth_m=100.0, units="per_mile2"), "units"),
        (dict(bandwidth_m=100.0, weights=[1.0, 2.0]), "weights"),
        (dict(bandwidth_m=100.0, weights=[1.0, -2.0, 1.0]), "weights"),
        (dict(bandwidth_m=100.0, weights=[1.0, np.nan, 1.0]), "weights"),
        (dict(bandwidth_m=100.0, cell_size_m=-1.0), "cell_size"),
    ],
)
def test_bad_parameters(kwargs, match):
    p = np.array([[X0, Y0], [X0 + 100, Y0 + 50], [X0 + 30, Y0 + 300]])
    with pytest.raises(InvalidParameterError, match=match):
        kde(p, crs=CRS, **kwargs)


def test_bad_points():
    with pytest.raises(InvalidParameterError, match="NaN"):
        kde(np.array([[X0, Y0], [np.nan, Y0]]), bandwidth_m=100.0, crs=CRS)
    with pytest.raises(InvalidParameterError, match=r"\(n, 2\)"):
        kde(np.zeros((3, 3)), bandwidth_m=100.0, crs=CRS)
    with pytest.raises(InvalidParameterError, match="'x' and 'y'"):
        kde(pd.DataFrame({"east": [1.0], "north": [2.0]}), bandwidth_m=100.0, crs=CRS)
    with pytest.raises(InvalidParameterError, match="look like projected metres"):
        kde(np.array([[X0, Y0], [X0 + 5, Y0]]), bandwidth_m=100.0, crs="EPSG:4326")
    with pytest.raises(InvalidParameterError, match="crs"):
        kde(np.array([[X0, Y0], [X0 + 1, Y0]]), bandwidth_m=100.0)
    grid = Grid.from_bounds((X0, Y0, X0 + 1000, Y0 + 1000), 50.0, CRS)
    with pytest.raises(InvalidParameterError, match="differs"):
        kde(np.array([[X0, Y0]]), grid, bandwidth_m=100.0, crs="EPSG:32630")
    with pytest.raises(InvalidParameterError, match="at least 2"):
        kde(np.array([[X0, Y0]]), crs=CRS)
    with pytest.raises(InvalidParameterError, match="weights column"):
        frame = pd.DataFrame({"x": [X0], "y": [Y0]})
        kde(frame, grid, bandwidth_m=100.0, weights="harm_score")
    assert issubclass(InvalidParameterError, GeodemandError)


def test_empty_points_with_grid_give_zero_surface():
    grid = Grid.from_bounds((X0, Y0, X0 + 1000, Y0 + 1000), 50.0, CRS)
    res = kde(np.empty((0, 2)), grid, bandwidth_m=100.0)
    assert res.density.shape == grid.shape
    assert (res.density == 0).all()
    assert res.mass() == 0.0


def test_public_name():
    assert geodemand.kde is kde


# ------------------------------------------------------------------------ real data
@pytest.mark.skipif(
    not (DATA / "police_uk" / "leicestershire").exists(), reason="test data not available"
)
def test_incident_table_with_harm_and_decay():
    """An IncidentTable from read_incidents: crs from the table, harm weights from
    crime_type, exponential decay from occurred (month precision) to the latest month."""
    from geodemand.demand.harm import harm_weights

    folder = DATA / "police_uk" / "leicestershire"
    table = geodemand.read_incidents(
        [
            folder / "2020-01-leicestershire-street.csv.gz",
            folder / "2020-02-leicestershire-street.csv.gz",
        ]
    )
    frame = table.frame
    res = kde(
        table,
        bandwidth_m=800.0,
        cell_size_m=200.0,
        weights="harm",
        decay="exponential",
        half_life_days=14.0,
    )
    age = (frame["occurred"].max() - frame["occurred"]).dt.days.to_numpy()
    expected = (harm_weights().weights(frame["crime_type"]) * 0.5 ** (age / 14.0)).sum()
    assert set(age) == {0, 31}  # two monthly police.uk files
    assert res.mass() == pytest.approx(expected, rel=1e-6)
    assert res.params["crs"] == table.crs
    assert res.params["reference_date"].startswith("2020-02-01")
    assert res.units == "time-decayed harm per km²"


def _leicestershire_burglaries_2020() -> pd.DataFrame:
    from pyproj import Transformer

    folder = DATA / "police_uk" / "leicestershire"
    frames = [
        pd.read_csv(folder / f"2020-{m:02d}-leicestershire-street.csv.gz") for m in range(1, 13)
    ]
    raw = pd.concat(frames, ignore_index=True)
    raw = raw[
        (raw["Crime type"] == "Burglary") & raw["Longitude"].notna() & raw["Latitude"].notna()
    ]
    to_bng = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    x, y = to_bng.transform(raw["Longitude"].to_numpy(), raw["Latitude"].to_numpy())
    frame = pd.DataFrame({"x": x, "y": y})
    frame.attrs["crs"] = CRS
    return frame


@pytest.mark.skipif(
    not (DATA / "police_uk" / "leicestershire").exists(), reason="test data not available"
)
def test_leicestershire_burglaries_2020():
    import geopandas as gpd

    burglaries = _leicestershire_burglaries_2020()
    assert len(burglaries) > 3000  # a year of a force's burglaries
    res = kde(burglaries, bandwidth_m=1000.0, cell_size_m=100.0)
    assert res.mass() == pytest.approx(len(burglaries), rel=1e-6)
    lad = gpd.read_file(DATA / "boundaries" / "leicestershire" / "lad2013.geojson").to_crs(CRS)
    city = lad.loc[lad["LAD13NM"] == "Leicester", "geometry"].iloc[0]
    x, y, peak = res.peak()
    assert city.contains(shapely.Point(x, y))
    assert peak > 10 * len(burglaries) / (city.area / 1e6 * 20)
    # clipped to the county (every LAD): NaN outside, mass slightly lower (edge loss only)
    clipped = kde(burglaries, res.grid, bandwidth_m=1000.0, clip_to=lad)
    assert np.isnan(clipped.density).any()
    assert 0.95 * len(burglaries) < clipped.mass() < len(burglaries)


# ------------------------------------------------------------------------ binning error (#18)
def _single_point_error(kernel: str, r: float) -> float:
    """Reference for binning_error_bound: one point per grid, 5 x 5 offsets, plain loops."""
    from geodemand.engines.density import binned_density, exact_density

    worst = 0.0
    for tx in np.linspace(0, 0.5, 5):
        for ty in np.linspace(0, 0.5, 5):
            side = 2 * (int(math.ceil(r)) + 3)
            g = Grid(0.0, 0.0, 1.0, side, side, CRS)
            x = np.array([side / 2 + 0.5 + tx])
            y = np.array([g.y_max - (side / 2 + 0.5 + ty)])
            e, _ = exact_density(x, y, np.ones(1), g, r, kernel)
            b, _ = binned_density(x, y, np.ones(1), g, r, kernel)
            worst = max(worst, float(np.abs(b - e).max() / e.max()))
    return worst


@pytest.mark.parametrize("kernel", KERNELS)
def test_binning_error_bound_matches_single_point_reference(kernel):
    from geodemand.engines.density import binning_error_bound

    for r in (5.0, 8.0, 16.0):
        assert binning_error_bound(kernel, r) == pytest.approx(
            _single_point_error(kernel, r), rel=1e-9, abs=1e-12
        )


def test_binning_error_bound_values_and_auto_threshold():
    from geodemand.engines.density import AUTO_MAX_BINNED_ERROR, binning_error_bound

    assert 0.012 < binning_error_bound("quartic", 8.0) < 0.02  # the 1 % seen on real data
    assert binning_error_bound("quartic", 16.0) <= AUTO_MAX_BINNED_ERROR
    assert binning_error_bound("quartic", 32.0) < binning_error_bound("quartic", 16.0)
    for kernel in ("uniform", "gaussian", "epanechnikov"):  # a kink or a jump at the radius
        assert binning_error_bound(kernel, 32.0) > AUTO_MAX_BINNED_ERROR
    assert binning_error_bound("uniform", 500.0) > 0.5  # capped at 64 cells, still huge
    with pytest.raises(InvalidParameterError, match="kernel"):
        binning_error_bound("box", 8.0)
    with pytest.raises(InvalidParameterError, match="cells_per_bandwidth"):
        binning_error_bound("quartic", 0.0)


@pytest.fixture(scope="module")
def stacked_leicestershire():
    """Real police.uk map points (Leicestershire 2020-01 .. 2020-06), resampled to 200,000
    incidents: many incidents share one point, as in the real data."""
    from geodemand.ingest.incidents import read_incidents

    root = Path(geodemand.__file__).resolve().parents[1] / "data" / "incidents"
    table = read_incidents(sorted((root / "leicestershire").glob("2020-0[1-6]-*.csv.gz")))
    f = table.frame
    x, y = f["x"].to_numpy(), f["y"].to_numpy()
    cx, cy = float(np.median(x)), float(np.median(y))
    grid = Grid(math.floor(cx - 7_500), math.floor(cy - 7_500), 25.0, 600, 600, CRS)
    inside = (
        (x > grid.x_min + 500) & (x < grid.x_max - 500)
        & (y > grid.y_min + 500) & (y < grid.y_max - 500)
    )
    rng = np.random.default_rng(18)
    pick = rng.choice(np.flatnonzero(inside), 200_000)
    pts = pd.DataFrame({"x": x[pick], "y": y[pick]})
    pts.attrs["crs"] = CRS
    return pts, grid


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("bandwidth", [200.0, 400.0])
def test_auto_within_half_a_percent_on_stacked_real_points(stacked_leicestershire, kernel,
                                                            bandwidth):
    pts, grid = stacked_leicestershire
    auto = kde(pts, grid, bandwidth_m=bandwidth, kernel=kernel)
    exact = kde(pts, grid, bandwidth_m=bandwidth, kernel=kernel, method="exact")
    assert _rel_max(auto.density, exact.density) <= 0.005
    if auto.params["method"] == "binned":
        assert kernel == "quartic" and bandwidth == 400.0
    # the plain binned mode is what auto avoids: off by more than 0.5 % at 8 cells
    if bandwidth == 200.0:
        binned = kde(pts, grid, bandwidth_m=bandwidth, kernel=kernel, method="binned")
        assert _rel_max(binned.density, exact.density) > 0.005


# ------------------------------------------------------------------------ partitions (#18)
@pytest.mark.parametrize("method", ["exact", "binned"])
@pytest.mark.parametrize("kernel", ["quartic", "uniform"])
def test_kde_partitioned_equals_one_call(method, kernel):
    from geodemand.demand.harm import harm_weights
    from geodemand.engines.density import kde_partitioned

    rng = np.random.default_rng(3)
    xy = _clustered(30_000, seed=11)
    types = np.array(["burglary", "robbery", "shoplifting", "anti-social-behaviour"])
    frame = pd.DataFrame(
        {
            "x": xy[:, 0],
            "y": xy[:, 1],
            "crime_type": types[rng.integers(0, types.size, len(xy))],
            "occurred": pd.Timestamp("2026-01-01")
            + pd.to_timedelta(rng.integers(0, 365, len(xy)), unit="D"),
        }
    )
    frame.attrs["crs"] = CRS
    grid = Grid.for_points(xy[:, 0], xy[:, 1], CRS, 25.0, padding=500.0)
    common = dict(bandwidth_m=250.0, kernel=kernel, weights=harm_weights(), method=method,
                  decay="exponential", half_life_days=90.0, reference_date="2026-12-31")
    whole = kde(frame, grid, **common)
    cuts = [0, 1, 7_000, 7_001, 19_999, 30_000]  # uneven, with a one-point and an empty part
    parts = [frame.iloc[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)] + [frame.iloc[:0]]
    split = kde_partitioned(parts, grid, **common)
    peak = float(whole.density.max())
    assert np.max(np.abs(split.density - whole.density)) <= 1e-9 * peak
    assert split.mass() == pytest.approx(whole.mass(), rel=1e-12)
    assert split.params["n_points"] == whole.params["n_points"] == 30_000
    assert split.params["total_weight"] == pytest.approx(whole.params["total_weight"], rel=1e-12)
    assert split.params["partitions"] == 6
    assert split.units == whole.units
    # any map function (here a reversed one) gives the same sum, the parts added in order
    backwards = kde_partitioned(
        parts, grid, map_fn=lambda f, xs: list(reversed([f(p) for p in reversed(list(xs))])),
        **common,
    )
    assert np.array_equal(backwards.density, split.density)


def test_kde_partitioned_auto_and_errors(pts):
    from geodemand.engines.density import kde_partitioned

    grid = Grid.for_points(pts[:, 0], pts[:, 1], CRS, 25.0, padding=300.0)
    halves = [pts[:150], pts[150:]]
    auto = kde_partitioned(halves, grid, bandwidth_m=200.0, method="auto")
    assert auto.params["method"] == "exact" and "300 points" in auto.params["method_rule"]
    with pytest.raises(InvalidParameterError, match="reference_date"):
        kde_partitioned(halves, grid, bandwidth_m=200.0, decay="inverse")
    with pytest.raises(InvalidParameterError, match="shared Grid"):
        kde_partitioned(halves, None, bandwidth_m=200.0)
    with pytest.raises(InvalidParameterError, match="no partitions"):
        kde_partitioned([], grid, bandwidth_m=200.0)


def test_lon_lat_points_are_projected_and_announced(caplog):
    """A GeoDataFrame in EPSG:4326, a lon/lat DataFrame and an (n, 2) degree array give the
    surface of the same points projected by hand (EPSG:27700 chosen for Great Britain)."""
    import logging

    import geopandas as gpd
    from pyproj import Transformer

    rng = np.random.default_rng(5)
    lon = rng.normal(-1.13, 0.004, 300)
    lat = rng.normal(52.63, 0.003, 300)
    x, y = Transformer.from_crs("EPSG:4326", CRS, always_xy=True).transform(lon, lat)
    reference = kde(np.column_stack([x, y]), bandwidth_m=200.0, cell_size_m=50.0, crs=CRS,
                    method="exact")
    gdf = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    with caplog.at_level(logging.INFO, logger="geodemand"):
        from_gdf = kde(gdf, bandwidth_m=200.0, cell_size_m=50.0, method="exact")
    assert "EPSG:27700" in caplog.text  # the projection is announced
    from_frame = kde(pd.DataFrame({"lon": lon, "lat": lat}), bandwidth_m=200.0,
                     cell_size_m=50.0, method="exact")
    from_array = kde(np.column_stack([lon, lat]), bandwidth_m=200.0, cell_size_m=50.0,
                     crs="EPSG:4326", method="exact")
    for result in (from_gdf, from_frame, from_array):
        assert result.grid.crs == CRS and result.grid == reference.grid
        np.testing.assert_allclose(result.density, reference.density, rtol=0, atol=1e-9)
    # into a given grid's CRS
    on_grid = kde(gdf, reference.grid, bandwidth_m=200.0, method="exact")
    np.testing.assert_allclose(on_grid.density, reference.density, rtol=0, atol=1e-9)
