"""Tests of geodemand.outputs.raster.write_raster (GeoTIFF output)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pytest
import rasterio
import shapely

import geodemand
from geodemand.engines.density import kde
from geodemand.errors import InvalidParameterError
from geodemand.grid import Grid
from geodemand.outputs.raster import write_raster

CRS = "EPSG:27700"


@pytest.fixture(scope="module")
def result():
    rng = np.random.default_rng(0)
    pts = rng.normal(0, 300, size=(500, 2)) + [455_000.0, 305_000.0]
    area = shapely.Point(455_000.0, 305_000.0).buffer(900.0)
    return kde(pts, bandwidth_m=250.0, cell_size_m=20.0, crs=CRS, clip_to=area)


def test_roundtrip_kde_result(result, tmp_path):
    path = write_raster(result, tmp_path / "out" / "density.tif")
    assert path.exists()
    assert list(path.parent.iterdir()) == [path]  # no temporary left behind
    with rasterio.open(path) as src:
        data = src.read(1)
        assert src.crs.to_epsg() == 27700
        assert src.transform == result.grid.transform
        assert tuple(src.bounds) == pytest.approx(result.grid.bounds, abs=1e-6)
        assert (src.height, src.width) == result.grid.shape
        assert src.dtypes[0] == "float32"  # float64 is written as Float32 by default
        assert np.isnan(src.nodata)
        assert src.compression.name.lower() == "deflate"
        assert src.descriptions[0] == "incidents per km²"
        tags = src.tags()
    # identical values to Float32 precision, NaN (clipped) cells included
    np.testing.assert_array_equal(data, result.density.astype(np.float32))
    assert np.isnan(data).any()
    # parameters as JSON-safe tags
    assert json.loads(tags["bandwidth_m"]) == result.params["bandwidth_m"]
    assert tags["kernel"] == "quartic"
    assert json.loads(tags["grid_bounds"]) == pytest.approx(list(result.grid.bounds))
    assert tags["units"] == "incidents per km²"
    assert tags["geodemand_version"] == geodemand.__version__


def test_method_on_result(result, tmp_path):
    path = write_raster(result, tmp_path / "d.tif", tags={"period": "2021-W05"})
    with rasterio.open(path) as src:
        assert src.tags()["period"] == "2021-W05"


def test_plain_int_array_with_grid(tmp_path):
    grid = Grid.from_bounds((400_000, 300_000, 401_000, 300_500), 50.0, CRS)
    counts = np.arange(grid.n_rows * grid.n_cols, dtype=np.int64).reshape(grid.shape) % 7
    path = write_raster(
        counts,
        tmp_path / "counts.tif",
        grid,
        nodata=-1,
        description="incidents per cell",
        tags={"n": 3, "ok": True},
    )
    with rasterio.open(path) as src:
        back = src.read(1)
        assert src.dtypes[0] == "int32"
        assert src.nodata == -1
        assert src.descriptions[0] == "incidents per cell"
        assert src.tags()["n"] == "3"
        assert src.tags()["ok"] == "true"
        assert src.transform == grid.transform
    np.testing.assert_array_equal(back, counts)


def test_multiband_and_finite_nodata(tmp_path):
    grid = Grid.from_bounds((0, 0, 300, 200), 10.0, CRS)
    bands = np.random.default_rng(1).normal(size=(2, *grid.shape)).astype(np.float32)
    bands[0, 0, 0] = np.nan
    path = write_raster(bands, tmp_path / "two.tif", grid, nodata=-9999.0, description=["z", "p"])
    with rasterio.open(path) as src:
        assert src.count == 2
        assert src.descriptions == ("z", "p")
        back = src.read()
        assert src.nodata == -9999.0
    assert back[0, 0, 0] == -9999.0
    np.testing.assert_array_equal(back[:, 1:, :], bands[:, 1:, :])


def test_overwrite_is_atomic(result, tmp_path):
    path = tmp_path / "d.tif"
    path.write_text("old")
    write_raster(result, path)
    with rasterio.open(path) as src:
        assert src.count == 1
    # a failing write leaves the previous file untouched
    before = path.read_bytes()
    with pytest.raises(InvalidParameterError):
        write_raster(np.zeros((3, 3)), path, result.grid)
    assert path.read_bytes() == before


def test_bad_inputs(result, tmp_path):
    grid = result.grid
    with pytest.raises(InvalidParameterError, match="grid="):
        write_raster(np.zeros(grid.shape), tmp_path / "a.tif")
    with pytest.raises(InvalidParameterError, match="does not match"):
        write_raster(np.zeros((2, 2)), tmp_path / "a.tif", grid)
    with pytest.raises(InvalidParameterError, match="nodata=None"):
        write_raster(result, tmp_path / "a.tif", nodata=None)
    with pytest.raises(InvalidParameterError, match="fit"):
        write_raster(np.zeros(grid.shape, dtype=np.uint8), tmp_path / "a.tif", grid, nodata=-1)
    with pytest.raises(InvalidParameterError, match="description"):
        write_raster(result, tmp_path / "a.tif", description=["a", "b"])
    assert not (tmp_path / "a.tif").exists()


def test_gdalinfo_reads_crs_and_bounds(result, tmp_path):
    if shutil.which("gdalinfo") is None:
        if os.environ.get("CI"):
            pytest.fail("gdalinfo is missing in CI: .ci/run installs Debian's gdal-bin")
        pytest.skip("gdalinfo not installed (Debian: apt-get install gdal-bin)")
    path = write_raster(result, tmp_path / "d.tif")
    info = json.loads(
        subprocess.run(
            ["gdalinfo", "-json", str(path)], check=True, capture_output=True, text=True
        ).stdout
    )
    assert "27700" in json.dumps(info["coordinateSystem"])
    x0, y0, x1, y1 = result.grid.bounds
    assert info["cornerCoordinates"]["upperLeft"] == pytest.approx([x0, y1])
    assert info["cornerCoordinates"]["lowerRight"] == pytest.approx([x1, y0])
