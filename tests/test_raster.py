"""Tests of geodemand.outputs.raster (GeoTIFF output: density, Gi* classes, z/q, masks)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely

import geodemand
from geodemand.engines.density import kde
from geodemand.errors import InvalidParameterError
from geodemand.grid import Grid
from geodemand.outputs.maps.style import BIN_COLOURS, BIN_LABELS, hex_rgba
from geodemand.outputs.raster import (
    grid_mask,
    pam_path,
    write_density,
    write_emerging_classes,
    write_gistar,
    write_hotspot_classes,
    write_raster,
)

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


# ---------------------------------------------------------------------------- bundle rasters
def _gdalinfo(path) -> dict:
    if shutil.which("gdalinfo") is None:
        if os.environ.get("CI"):
            pytest.fail("gdalinfo is missing in CI: .ci/run installs Debian's gdal-bin")
        pytest.skip("gdalinfo not installed (Debian: apt-get install gdal-bin)")
    out = subprocess.run(
        ["gdalinfo", "-json", str(path)], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out)


@pytest.fixture(scope="module")
def big():
    """A 10 m KDE (258 x 252 cells, so it gets overviews), its Gi* and a circular area."""
    from geodemand.engines.hotspots import gistar

    rng = np.random.default_rng(0)
    pts = rng.normal(0, 300, size=(500, 2)) + [455_000.0, 305_000.0]
    dens = kde(pts, bandwidth_m=250.0, cell_size_m=10.0, crs=CRS)
    grid = dens.grid
    rows = ((grid.y_max - pts[:, 1]) // grid.cell_size).astype(int)
    cols = ((pts[:, 0] - grid.x_min) // grid.cell_size).astype(int)
    counts = np.zeros(grid.shape)
    np.add.at(counts, (rows, cols), 1)
    hot = gistar(counts, grid=grid)
    area = shapely.Point(455_000.0, 305_000.0).buffer(900.0)
    return SimpleNamespace(density=dens, hotspots=hot, area=area, grid=grid)


def _touching(grid, area) -> np.ndarray:
    """Reference twin of grid_mask: cells whose square shares more than its edge with the
    area (shapely)."""
    cells = grid.to_geodataframe()
    squares = cells.geometry.to_numpy()
    inside = shapely.intersects(squares, area) & ~shapely.touches(squares, area)
    out = np.zeros(grid.shape, dtype=bool)
    out[cells["row"].to_numpy(), cells["col"].to_numpy()] = inside
    return out


def test_grid_mask_equals_cells_touching_the_area(big):
    expected = _touching(big.grid, big.area)
    got = grid_mask(big.grid, big.area)
    # GDAL's all_touched may or may not count a cell that only meets the area along an edge
    # or at a corner (floating point); every other cell must agree
    differ = np.argwhere(got != expected)
    assert len(differ) <= 2
    for r, c in differ:
        x0 = big.grid.x_min + c * big.grid.cell_size
        y1 = big.grid.y_max - r * big.grid.cell_size
        square = shapely.box(x0, y1 - big.grid.cell_size, x0 + big.grid.cell_size, y1)
        assert square.intersection(big.area).area < 1e-6
    gdf = gpd.GeoDataFrame(geometry=[big.area], crs=CRS).to_crs("EPSG:4326")
    reprojected = grid_mask(big.grid, gdf)  # reprojected to the grid's CRS first
    assert (reprojected != expected).sum() <= 0.002 * expected.size
    np.testing.assert_array_equal(grid_mask(big.grid, expected), expected)  # an array as is
    with pytest.raises(InvalidParameterError, match="shape"):
        grid_mask(big.grid, expected[:5])
    with pytest.raises(InvalidParameterError, match="no CRS"):
        grid_mask(big.grid, gpd.GeoDataFrame(geometry=[big.area]))
    with pytest.raises(InvalidParameterError, match="polygons"):
        grid_mask(big.grid, gpd.GeoSeries([shapely.Point(0, 0)], crs=CRS))


def test_density_tif_is_float32_with_nodata_outside_unit_and_overviews(big, tmp_path):
    path = write_density(big.density, tmp_path / "density.tif", mask=big.area,
                         units="CCHI days per km²")
    inside = grid_mask(big.grid, big.area)
    assert 0.2 < inside.mean() < 0.5
    with rasterio.open(path) as src:
        data = src.read(1)
        assert src.dtypes[0] == "float32" and np.isnan(src.nodata)
        assert src.units == ("CCHI days per km²",)
        assert src.descriptions == ("kernel density (CCHI days per km²)",)
        assert src.overviews(1) == [2]
    assert np.isnan(data[~inside]).all()  # outside the area: nodata, not 0
    np.testing.assert_array_equal(data[inside], big.density.density[inside].astype(np.float32))
    info = _gdalinfo(path)
    band = info["bands"][0]
    assert band["type"] == "Float32" and band["noDataValue"] == "NaN"
    assert band["unit"] == "CCHI days per km²"
    assert band["overviews"] and band["description"].startswith("kernel density")
    # the QGIS style: the web map's ramp from 0 to the largest value inside the mask
    qml = ET.parse(tmp_path / "density.qml").getroot()
    shader = qml.find(".//colorrampshader")
    items = shader.findall("item")
    assert float(items[-1].get("value")) == pytest.approx(float(np.nanmax(data)), rel=1e-6)
    assert items[0].get("alpha") == "0" and len(items) == 11
    with pytest.raises(InvalidParameterError, match="units"):
        write_density(SimpleNamespace(density=big.density.density, grid=big.grid),
                      tmp_path / "x.tif")


def test_hotspots_tif_is_a_byte_class_raster_with_colours_and_names(big, tmp_path):
    path = write_hotspot_classes(big.hotspots, tmp_path / "hotspots.tif", mask=big.area)
    inside = grid_mask(big.grid, big.area) & big.hotspots.mask
    with rasterio.open(path) as src:
        data = src.read(1)
        assert src.dtypes[0] == "uint8" and src.nodata == 255
        cmap = src.colormap(1)
    np.testing.assert_array_equal(data[inside], big.hotspots.bin[inside] + 3)
    assert (data[~inside] == 255).all()
    assert {int(b) for b in np.unique(big.hotspots.bin[inside])} >= {0, 3}
    for b, colour in BIN_COLOURS.items():
        assert cmap[b + 3][:3] == hex_rgba(colour)[:3]
    info = _gdalinfo(path)
    band = info["bands"][0]
    assert band["type"] == "Byte" and band["noDataValue"] == 255
    assert band["colorInterpretation"] == "Palette" and band["unit"] == "class"
    assert band["categories"] == [BIN_LABELS[b] for b in range(-3, 4)]
    assert band["colorTable"]["entries"][6][:3] == list(hex_rgba(BIN_COLOURS[3])[:3])
    rat = info["rat"]
    names = [f["name"] for f in rat["fieldDefn"]]
    assert names[:3] == ["Value", "Class", "Code"]
    assert [row["f"][:3] for row in rat["row"]][-1] == [6, "Hot spot, 99 % confidence", 3]
    # QGIS style: paletted, "not significant" transparent
    qml = ET.parse(tmp_path / "hotspots.qml").getroot()
    entries = {e.get("value"): e for e in qml.iter("paletteEntry")}
    assert entries["3"].get("alpha") == "0" and entries["6"].get("color") == BIN_COLOURS[3]


def test_gistar_tif_has_z_and_q_bands(big, tmp_path):
    path = write_gistar(big.hotspots, tmp_path / "gistar.tif", mask=big.area)
    inside = grid_mask(big.grid, big.area) & big.hotspots.mask
    with rasterio.open(path) as src:
        z, q = src.read()
        assert src.dtypes == ("float32", "float32") and np.isnan(src.nodata)
        assert src.descriptions == ("Gi* z-score", "q-value (fdr_bh)")
        assert src.units == ("standard deviations", "probability")
    np.testing.assert_array_equal(z[inside], big.hotspots.z[inside].astype(np.float32))
    np.testing.assert_array_equal(q[inside], big.hotspots.q[inside].astype(np.float32))
    assert np.isnan(z[~inside]).all() and np.isnan(q[~inside]).all()
    bands = _gdalinfo(path)["bands"]
    assert [b["unit"] for b in bands] == ["standard deviations", "probability"]
    assert all(b["noDataValue"] == "NaN" for b in bands)


def test_emerging_classes_raster(big, tmp_path):
    from geodemand.outputs.maps.style import EMERGING_COLOURS

    codes = np.zeros(big.grid.shape, dtype=np.int8)
    codes[5, 5], codes[6, 6], codes[7, 7] = 3, -4, 8
    valid = np.ones(big.grid.shape, dtype=bool)
    valid[0] = False
    result = SimpleNamespace(pattern_code=codes, mask=valid, grid=big.grid, params={"x": 1})
    path = write_emerging_classes(result, tmp_path / "emerging.tif")
    with rasterio.open(path) as src:
        data = src.read(1)
        cmap = src.colormap(1)
    assert (data[0] == 255).all() and data[5, 5] == 11 and data[6, 6] == 4 and data[1, 1] == 8
    assert cmap[11][:3] == hex_rgba(EMERGING_COLOURS[3])[:3]
    cats = _gdalinfo(path)["bands"][0]["categories"]
    assert cats[11] == "Intensifying hot spot" and cats[4] == "Persistent cold spot"
    assert cats[8] == "No pattern detected" and len(cats) == 17
    with pytest.raises(InvalidParameterError, match="class codes"):
        write_emerging_classes(
            SimpleNamespace(pattern_code=codes + 20, mask=valid, grid=big.grid),
            tmp_path / "bad.tif",
        )


def test_rasters_are_reproducible_and_stale_side_files_go(big, tmp_path):
    a = write_hotspot_classes(big.hotspots, tmp_path / "a" / "hotspots.tif", mask=big.area)
    b = write_hotspot_classes(big.hotspots, tmp_path / "b" / "hotspots.tif", mask=big.area)
    assert a.read_bytes() == b.read_bytes()
    assert pam_path(a).read_bytes() == pam_path(b).read_bytes()
    d1 = write_density(big.density, tmp_path / "a" / "density.tif", mask=big.area)
    d2 = write_density(big.density, tmp_path / "b" / "density.tif", mask=big.area)
    assert d1.read_bytes() == d2.read_bytes()
    # a plain raster written over a class raster removes the class raster's side file
    write_raster(big.density, a)
    assert not pam_path(a).exists()
    assert sorted(p.name for p in a.parent.iterdir()) == [
        "density.qml", "density.tif", "hotspots.qml", "hotspots.tif"
    ]


def test_mask_needs_nodata_for_integer_bands(big, tmp_path):
    counts = np.ones(big.grid.shape, dtype=np.int32)
    with pytest.raises(InvalidParameterError, match="nodata"):
        write_raster(counts, tmp_path / "c.tif", big.grid, mask=big.area)
    path = write_raster(counts, tmp_path / "c.tif", big.grid, mask=big.area, nodata=-1)
    with rasterio.open(path) as src:
        data = src.read(1)
    assert set(np.unique(data)) == {-1, 1}


def test_qml_text_is_escaped_xml(tmp_path):
    from geodemand.outputs.qgis import density_qml, paletted_qml

    units = '</label><script>x</script> & "q"'
    root = ET.fromstring(density_qml(10.0, units).split("\n", 1)[1])
    assert root.findall(".//item")[-1].get("label") == f"10 {units}"
    root = ET.fromstring(paletted_qml([(1, "#000000", 255, units)]).split("\n", 1)[1])
    assert root.find(".//paletteEntry").get("label") == units
