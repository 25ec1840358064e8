"""Tests of geodemand.grid.Grid (the raster frame every engine shares)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from affine import Affine

from geodemand.errors import GeodemandError, GridTooLargeError, InvalidParameterError
from geodemand.grid import MAX_CELLS, Grid, check_grid_size, nice_cell_size

CRS = "EPSG:27700"


@pytest.fixture
def grid():
    # 4 columns x 3 rows of 10 m cells, west/south edges at (100, 200)
    return Grid(100.0, 200.0, 10.0, 4, 3, CRS)


def _reference_cell(g: Grid, x: float, y: float):
    """Slow twin of cell_index for one point: loop over cells, west/south-closed cells;
    the grid's own east/north outer edge belongs to the last column / first row."""
    for row in range(g.n_rows):
        top = g.y_max - row * g.cell_size
        bottom = top - g.cell_size
        for col in range(g.n_cols):
            left = g.x_min + col * g.cell_size
            right = left + g.cell_size
            in_x = left <= x < right or (col == g.n_cols - 1 and x == right)
            in_y = bottom <= y < top or (row == 0 and y == top)
            if in_x and in_y:
                return row, col
    return None


def test_geometry_and_transform(grid):
    assert grid.shape == (3, 4)
    assert grid.bounds == (100.0, 200.0, 140.0, 230.0)
    assert grid.cell_area_m2 == 100.0
    assert grid.cell_area_km2 == pytest.approx(1e-4)
    assert grid.transform == Affine(10.0, 0.0, 100.0, 0.0, -10.0, 230.0)
    # the transform maps (col, row) of a corner to x, y; the centre of cell (row 0, col 0)
    assert grid.transform @ (0.5, 0.5) == (105.0, 225.0)
    assert grid.transform @ (4, 3) == (140.0, 200.0)
    np.testing.assert_array_equal(grid.col_centres(), [105.0, 115.0, 125.0, 135.0])
    np.testing.assert_array_equal(grid.row_centres(), [225.0, 215.0, 205.0])  # north first
    gx, gy = grid.cell_centres()
    assert gx.shape == gy.shape == grid.shape
    assert (gx[1, 2], gy[1, 2]) == (125.0, 215.0)


def test_binning_edge_rule_matches_reference(grid):
    # points on every kind of edge and corner, plus outside ones
    xs = [100.0, 110.0, 139.999, 140.0, 140.0001, 99.999, 125.0, 120.0, 100.0, 140.0]
    ys = [200.0, 210.0, 229.999, 230.0, 215.0, 215.0, 220.0, 230.0001, 230.0, 200.0]
    rows, cols, inside = grid.cell_index(np.array(xs), np.array(ys))
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        ref = _reference_cell(grid, x, y)
        assert inside[i] == (ref is not None), (x, y)
        if ref is not None:
            assert (rows[i], cols[i]) == ref, (x, y)
    # a point on a shared vertical edge goes east, on a shared horizontal edge goes north
    r, c, _ = grid.cell_index(np.array([110.0]), np.array([215.0]))
    assert c[0] == 1
    r, c, _ = grid.cell_index(np.array([105.0]), np.array([210.0]))
    assert r[0] == 1  # y = 210 is the boundary between rows 1 (210-220) and 2 (200-210)


def test_binning_random_points_against_reference(grid):
    rng = np.random.default_rng(0)
    # mix of continuous and edge-aligned coordinates, some outside
    x = np.concatenate([rng.uniform(95, 145, 300), rng.integers(9, 15, 100) * 10.0])
    y = np.concatenate([rng.uniform(195, 235, 300), rng.integers(19, 24, 100) * 10.0])
    rows, cols, inside = grid.cell_index(x, y)
    expected = np.zeros(grid.shape)
    for i in range(x.size):
        ref = _reference_cell(grid, x[i], y[i])
        assert inside[i] == (ref is not None)
        if ref is not None:
            assert (rows[i], cols[i]) == ref
            expected[ref] += 1.0
    np.testing.assert_array_equal(grid.bin_counts(x, y), expected)
    w = rng.uniform(0, 2, x.size)
    weighted = np.zeros(grid.shape)
    for i in np.flatnonzero(inside):
        weighted[rows[i], cols[i]] += w[i]
    np.testing.assert_allclose(grid.bin_counts(x, y, w), weighted, rtol=1e-12)


def test_nan_points_are_outside(grid):
    _, _, inside = grid.cell_index(np.array([np.nan, 120.0]), np.array([210.0, np.inf]))
    assert not inside.any()


def test_for_points_contains_every_point():
    rng = np.random.default_rng(3)
    x = rng.uniform(451_234.5, 458_765.4, 1000)
    y = rng.uniform(301_111.1, 305_999.9, 1000)
    g = Grid.for_points(x, y, CRS, cell_size=25.0)
    _, _, inside = g.cell_index(x, y)
    assert inside.all()
    assert g.x_min % 25.0 == 0 and g.y_min % 25.0 == 0  # snapped origin
    assert g.bin_counts(x, y).sum() == 1000
    padded = Grid.for_points(x, y, CRS, cell_size=25.0, padding=300.0)
    assert padded.x_min <= x.min() - 300.0 and padded.x_max >= x.max() + 300.0
    assert padded.y_min <= y.min() - 300.0 and padded.y_max >= y.max() + 300.0


def test_automatic_cell_size_rule_announced(caplog):
    # shorter side 7,500 m / 150 = 50 m
    with caplog.at_level(logging.INFO, logger="geodemand"):
        g = Grid.from_bounds((0.0, 0.0, 12_000.0, 7_500.0), None, CRS)
    assert g.cell_size == 50.0
    msgs = [r.message for r in caplog.records]
    assert any("cell size 50 m chosen automatically" in m for m in msgs)
    assert any("7,500 m / 150" in m for m in msgs)
    # 8,000 / 150 = 53.3 -> rounded down to 50; 4,000 / 150 = 26.7 -> 25
    assert Grid.from_bounds((0, 0, 9000, 8000), None, CRS).cell_size == 50.0
    assert Grid.from_bounds((0, 0, 9000, 4000), None, CRS).cell_size == 25.0
    with pytest.raises(InvalidParameterError, match="zero-width"):
        Grid.from_bounds((0, 0, 0, 100), None, CRS)


def test_nice_cell_size():
    assert [nice_cell_size(v) for v in (0.3, 1.0, 1.9, 2.2, 2.6, 7.0, 12.0, 260.0, 999.0)] == [
        1.0,
        1.0,
        1.0,
        2.0,
        2.5,
        5.0,
        10.0,
        250.0,
        500.0,
    ]
    with pytest.raises(InvalidParameterError):
        nice_cell_size(-1.0)


def test_grid_too_large_states_memory():
    with pytest.raises(GridTooLargeError) as err:
        Grid(0.0, 0.0, 1.0, 100_000, 100_000, CRS)
    msg = str(err.value)
    assert "100,000 x 100,000" in msg
    assert "74.5 GiB" in msg  # 1e10 cells x 8 bytes
    assert isinstance(err.value, GeodemandError)
    with pytest.raises(GridTooLargeError, match="GiB"):
        Grid.from_bounds((0, 0, 200_000, 200_000), 1.0, CRS)
    check_grid_size(20_000, 20_000)  # exactly the limit is fine
    assert 20_000 * 20_000 == MAX_CELLS
    with pytest.raises(GridTooLargeError, match=r"0\.1 GiB"):
        check_grid_size(4_000, 4_000, max_cells=1_000_000)


def test_invalid_grids():
    with pytest.raises(InvalidParameterError, match="cell_size"):
        Grid(0.0, 0.0, 0.0, 3, 3, CRS)
    with pytest.raises(InvalidParameterError, match="row"):
        Grid(0.0, 0.0, 1.0, 0, 3, CRS)
    with pytest.raises(InvalidParameterError, match="bounds"):
        Grid.from_bounds((10, 0, 0, 10), 1.0, CRS)
    with pytest.raises(InvalidParameterError, match="finite"):
        Grid.for_points(np.array([np.nan]), np.array([1.0]), CRS, 1.0)


def test_to_geodataframe(grid):
    gdf = grid.to_geodataframe()
    assert len(gdf) == 12
    assert gdf.crs.to_string() == CRS
    first = gdf.iloc[0]
    assert (first["row"], first["col"]) == (0, 0)
    assert first.geometry.bounds == (100.0, 220.0, 110.0, 230.0)
    mask = np.zeros(grid.shape, dtype=bool)
    mask[2, 3] = True
    one = grid.to_geodataframe(mask=mask)
    assert len(one) == 1
    assert one.geometry.iloc[0].bounds == (130.0, 200.0, 140.0, 210.0)
    assert one.geometry.iloc[0].area == grid.cell_area_m2
