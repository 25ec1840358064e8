"""Boundaries and the area join: exact agreement with geopandas.sjoin, tie rule, repairs."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import geodemand as gd
from geodemand.errors import BoundaryError
from geodemand.ingest.areas import OUTSIDE, PolygonIndex, label_points, read_areas


def sjoin_reference(x: np.ndarray, y: np.ndarray, polygons: gpd.GeoDataFrame) -> np.ndarray:
    """geopandas.sjoin(intersects), keeping the first polygon in layer order per point."""
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=polygons.crs)
    layer = gpd.GeoDataFrame(geometry=polygons.geometry.values, crs=polygons.crs)
    joined = gpd.sjoin(pts, layer, predicate="intersects", how="left")
    first = joined.groupby(level=0)["index_right"].min()
    return first.fillna(-1).astype(np.int64).reindex(range(len(x))).to_numpy()


def test_bundled_west_midlands_layers(wm_areas):
    assert len(wm_areas.lpus) == 10
    assert len(wm_areas.neighbourhoods) == 163
    assert wm_areas.repaired == {"lpu": 0, "neighbourhood": 0}
    assert len(wm_areas.straddling) == 0  # wards nest exactly in the LPUs built from them
    names = set(wm_areas.lpus["lpu"])
    assert {
        "Birmingham North",
        "Birmingham East",
        "Birmingham South",
        "Birmingham West and Central",
        "Coventry",
        "Solihull",
    } <= names
    by_lpu = wm_areas.neighbourhoods.groupby("lpu").size()
    assert by_lpu["Coventry"] == 18 and by_lpu.sum() == 163


def test_bundled_leicestershire_layers(data_dir):
    b = data_dir / "boundaries" / "leicestershire"
    areas = read_areas(b / "lpus.geojson", b / "neighbourhoods.geojson")
    assert len(areas.lpus) == 9 and len(areas.neighbourhoods) == 611
    assert len(areas.straddling) == 0


def test_join_equals_sjoin_on_real_month(wm_areas, test_data):
    table = gd.read_incidents(
        test_data / "police_uk/west_midlands_api/2018-06-west-midlands-api.csv.gz"
    )
    x, y = table.frame["x"].to_numpy(), table.frame["y"].to_numpy()
    for layer in (wm_areas.lpus, wm_areas.neighbourhoods):
        np.testing.assert_array_equal(label_points(x, y, layer), sjoin_reference(x, y, layer))
    joined = gd.assign_areas(table, wm_areas)
    assert len(joined.frame) == len(table.frame)  # nothing dropped
    assert "lpu" not in table.frame.columns  # input not mutated
    assert joined.frame["outside"].sum() == (joined.frame["lpu"] == OUTSIDE).sum()
    # neighbourhood labels agree with their LPU (exact nesting)
    nb_lpu = wm_areas.neighbourhoods.set_index("neighbourhood")["lpu"]
    inside = joined.frame[joined.frame["neighbourhood"] != OUTSIDE]
    assert (inside["neighbourhood"].map(nb_lpu) == inside["lpu"]).all()


def test_join_equals_sjoin_on_one_million_points(wm_areas):
    rng = np.random.default_rng(42)
    nb = wm_areas.neighbourhoods
    x0, y0, x1, y1 = nb.total_bounds
    n = 1_000_000
    x = rng.uniform(x0 - 2_000, x1 + 2_000, n)
    y = rng.uniform(y0 - 2_000, y1 + 2_000, n)
    # put some points exactly on polygon vertices (shared edges between wards)
    verts = shapely.get_coordinates(nb.boundary.values)
    pick = rng.integers(0, len(verts), 5_000)
    x[:5_000], y[:5_000] = verts[pick, 0], verts[pick, 1]
    got = label_points(x, y, nb)
    np.testing.assert_array_equal(got, sjoin_reference(x, y, nb))
    assert (got[:5_000] >= 0).all()


def test_tie_rule_first_polygon_in_layer_order_wins():
    squares = gpd.GeoDataFrame(
        {"lpu": ["B", "A"]},
        geometry=[shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)],
        crs="EPSG:27700",
    )
    x = np.array([10.0, 10.0, 5.0, 15.0, 25.0, 20.0])
    y = np.array([5.0, 10.0, 5.0, 5.0, 5.0, 10.0])
    got = label_points(x, y, squares)
    np.testing.assert_array_equal(got, [0, 0, 0, 1, -1, 1])
    np.testing.assert_array_equal(got, sjoin_reference(x, y, squares))
    reordered = squares.iloc[::-1].reset_index(drop=True)
    assert label_points(x, y, reordered)[0] == 0  # now "A" comes first and wins the edge


def test_overlapping_polygons_first_wins():
    layer = gpd.GeoDataFrame(
        {"lpu": ["big", "small"]},
        geometry=[shapely.box(0, 0, 100, 100), shapely.box(40, 40, 60, 60)],
        crs="EPSG:27700",
    )
    rng = np.random.default_rng(1)
    x, y = rng.uniform(-10, 110, 20_000), rng.uniform(-10, 110, 20_000)
    np.testing.assert_array_equal(label_points(x, y, layer), sjoin_reference(x, y, layer))


def test_index_interior_cells_never_touch_a_boundary(wm_areas):
    nb = wm_areas.neighbourhoods
    index = PolygonIndex.build(nb.geometry.values, str(nb.crs), target_cells=50_000)
    cells = index.grid.to_geodataframe()
    flat = cells["row"] * index.grid.n_cols + cells["col"]
    labels = index.cell_label.ravel()[flat]
    known = ~index.boundary[flat]
    assert 0.5 < known.mean() < 1.0
    # a cell not marked as boundary touches no polygon boundary ...
    boundaries = shapely.union_all(nb.boundary.values)
    shapely.prepare(boundaries)  # the prepared side first: same answers, much faster
    assert not shapely.intersects(boundaries, cells.geometry.values[known]).any()
    # ... and lies properly inside its labelled polygon, or outside every polygon
    interior = known & (labels >= 0)
    owner = nb.geometry.values[labels[interior]]
    assert shapely.contains_properly(owner, cells.geometry.values[interior]).all()
    empty = known & (labels < 0)
    union = shapely.union_all(nb.geometry.values)
    shapely.prepare(union)
    assert not shapely.intersects(union, cells.geometry.values[empty]).any()


def test_memphis_precincts_repaired_and_joined(test_data):
    areas = read_areas(test_data / "incidents/memphis/memphis_precincts.geojson", crs="EPSG:32616")
    assert areas.repaired["lpu"] == 1
    assert shapely.is_valid(areas.lpus.geometry.values).all()
    table = gd.read_incidents(
        test_data / "incidents/memphis/memphis_robberies_2019.csv.gz",
        crime_type_mapping={"personal robbery": "robbery"},
    )
    joined = gd.assign_areas(table, areas)
    assert (~joined.frame["outside"]).sum() == 2_244
    assert len(joined.frame) == 2_245


def test_chicago_districts_agree_with_file_column(test_data):
    table = gd.read_incidents(
        test_data / "incidents/chicago/chicago_aggravated_assaults.csv.gz",
        mapping={
            "date": "date",
            "lon": "longitude",
            "lat": "latitude",
            "crime_type_value": "violence-and-sexual-offences",
        },
    )
    areas = read_areas(
        test_data / "incidents/chicago/chicago_police_districts.geojson",
        crs=table.crs,
        lpu_field="Name",
    )
    joined = gd.assign_areas(table, areas)
    x, y = table.frame["x"].to_numpy(), table.frame["y"].to_numpy()
    np.testing.assert_array_equal(label_points(x, y, areas.lpus), sjoin_reference(x, y, areas.lpus))
    district = pd.to_numeric(joined.frame["raw_district"], errors="coerce")
    label = pd.to_numeric(joined.frame["lpu"], errors="coerce")
    agree = (district == label).mean()
    assert round(agree * 100, 2) == 98.43
    assert joined.frame["outside"].sum() == 91


def test_straddling_neighbourhood_is_reported():
    lpus = gpd.GeoDataFrame(
        {"lpu": ["L1", "L2"]},
        geometry=[shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)],
        crs="EPSG:27700",
    )
    nbs = gpd.GeoDataFrame(
        {"neighbourhood": ["inside", "across"]},
        geometry=[shapely.box(1, 1, 5, 5), shapely.box(8, 1, 14, 5)],
        crs="EPSG:27700",
    )
    areas = read_areas(lpus, nbs)
    assert areas.straddling["neighbourhood"].tolist() == ["across"]
    assert areas.neighbourhoods.set_index("neighbourhood")["lpu"].to_dict() == {
        "inside": "L1",
        "across": "L2",
    }


def test_boundary_errors(tmp_path):
    with pytest.raises(BoundaryError, match="cannot read"):
        read_areas(tmp_path / "missing.geojson")
    pts = gpd.GeoDataFrame({"lpu": ["a"]}, geometry=[shapely.Point(0, 0)], crs="EPSG:27700")
    with pytest.raises(BoundaryError, match="polygons"):
        read_areas(pts)
    unnamed = gpd.GeoDataFrame({"code": [1]}, geometry=[shapely.box(0, 0, 1, 1)], crs="EPSG:27700")
    with pytest.raises(BoundaryError, match="name_field|names"):
        read_areas(unnamed)


# ---------------------------------------------------------------------------- hostile layers
def _lpus(names, geoms, crs="EPSG:27700"):
    return gpd.GeoDataFrame({"lpu": names}, geometry=geoms, crs=crs)


def test_missing_name_column_names_the_option(tmp_path):
    unnamed = gpd.GeoDataFrame({"code": [1]}, geometry=[shapely.box(0, 0, 1, 1)], crs=27700)
    with pytest.raises(BoundaryError, match=r"lpu_field=.*--lpu-name-field.*\['code'\]"):
        read_areas(unnamed)
    with pytest.raises(BoundaryError, match=r"no column 'nope'.*--lpu-name-field"):
        read_areas(unnamed, lpu_field="nope")
    lpus = _lpus(["a"], [shapely.box(0, 0, 10, 10)])
    with pytest.raises(BoundaryError, match="neighbourhood_field=.*--neighbourhood-name-field"):
        read_areas(lpus, unnamed)
    assert read_areas(unnamed, lpu_field="code").lpus["lpu"].tolist() == ["1"]


def test_features_without_geometry_are_ignored_with_a_warning(caplog):
    layer = _lpus(["a", "b", "c"], [shapely.box(0, 0, 10, 10), None, shapely.Polygon()])
    with caplog.at_level("WARNING", logger="geodemand"):
        areas = read_areas(layer)
    assert areas.lpus["lpu"].tolist() == ["a"]
    assert any("features 2, 3" in r.message for r in caplog.records)
    with pytest.raises(BoundaryError, match="no geometry"):
        read_areas(_lpus(["a"], [None]))


def test_3d_polygons_and_collections_become_2d_polygons():
    z = shapely.Polygon([(0, 0, 5), (10, 0, 5), (10, 10, 5), (0, 10, 5)])
    coll = shapely.GeometryCollection(
        [shapely.box(20, 0, 30, 10), shapely.LineString([(0, 0), (1, 1)])]
    )
    areas = read_areas(_lpus(["z", "c"], [z, coll]))
    geoms = areas.lpus.geometry.values
    assert not shapely.has_z(geoms).any()
    assert set(areas.lpus.geom_type) == {"Polygon"}
    np.testing.assert_allclose(shapely.area(geoms), [100.0, 100.0])


def test_two_features_with_one_name_are_one_lpu(caplog):
    layer = _lpus(
        ["a", "b", "a"],
        [shapely.box(0, 0, 10, 10), shapely.box(20, 0, 30, 10), shapely.box(40, 0, 50, 10)],
    )
    with caplog.at_level("WARNING", logger="geodemand"):
        areas = read_areas(layer)
    assert areas.lpus["lpu"].tolist() == ["a", "b"]
    assert areas.lpus.geometry.area.tolist() == [200.0, 100.0]
    assert any("features 1, 3" in r.message for r in caplog.records)
    table = pd.DataFrame({"x": [5.0, 45.0, 25.0], "y": [5.0, 5.0, 5.0]})
    table.attrs["crs"] = "EPSG:27700"
    assert gd.assign_areas(table, areas)["lpu"].tolist() == ["a", "a", "b"]


@pytest.mark.parametrize("name", [None, "", "   ", float("nan")])
def test_an_lpu_without_a_name_is_an_error_naming_the_feature(name):
    layer = _lpus(["a", name], [shapely.box(0, 0, 10, 10), shapely.box(20, 0, 30, 10)])
    with pytest.raises(BoundaryError, match=r"feature 2: no name in field 'lpu'"):
        read_areas(layer)


def test_numeric_names_read_as_text():
    layer = gpd.GeoDataFrame(
        {"Name": [1.0, 22.0]},
        geometry=[shapely.box(0, 0, 1, 1), shapely.box(2, 0, 3, 1)],
        crs=27700,
    )
    assert read_areas(layer).lpus["lpu"].tolist() == ["1", "22"]


def test_overlapping_lpus_are_warned_with_area_and_incidents(caplog):
    layer = _lpus(
        ["first", "second"], [shapely.box(0, 0, 1000, 1000), shapely.box(500, 0, 1500, 1000)]
    )
    with caplog.at_level("WARNING", logger="geodemand"):
        areas = read_areas(layer)
    assert len(areas.lpu_overlaps) == 1
    assert areas.lpu_overlaps["area_km2"].iloc[0] == pytest.approx(0.5)
    assert any("0.5 km²" in r.message for r in caplog.records)
    caplog.clear()
    pts = pd.DataFrame({"x": [100.0, 700.0, 800.0, 1200.0], "y": [10.0, 10.0, 10.0, 10.0]})
    pts.attrs["crs"] = "EPSG:27700"
    with caplog.at_level("WARNING", logger="geodemand"):
        joined = gd.assign_areas(pts, areas)
    assert joined["lpu"].tolist() == ["first", "first", "first", "second"]  # first wins
    assert any("2 incident(s) lie where LPUs overlap" in r.message for r in caplog.records)
    # shared edges are not overlaps
    assert (
        len(
            read_areas(
                _lpus(["a", "b"], [shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)])
            ).lpu_overlaps
        )
        == 0
    )


def test_lpu_without_neighbourhoods_warns_and_same_names_stay_apart(caplog):
    lpus = _lpus(
        ["a", "b", "empty"],
        [shapely.box(0, 0, 10, 10), shapely.box(20, 0, 30, 10), shapely.box(100, 100, 110, 110)],
    )
    nbs = gpd.GeoDataFrame(
        {"neighbourhood": ["Abbey", "Abbey", "Castle", "Castle"]},
        geometry=[
            shapely.box(0, 0, 5, 5),
            shapely.box(20, 0, 25, 5),
            shapely.box(5, 5, 8, 8),
            shapely.box(8, 8, 10, 10),
        ],
        crs=27700,
    )
    with caplog.at_level("WARNING", logger="geodemand"):
        areas = read_areas(lpus, nbs)
    names = areas.neighbourhoods.set_index("neighbourhood")["lpu"].to_dict()
    assert names == {"Abbey (a)": "a", "Abbey (b)": "b", "Castle": "a"}
    messages = " ".join(r.message for r in caplog.records)
    assert "'empty'" in messages and "hold no neighbourhood" in messages


def test_layers_in_the_wrong_crs_or_with_bad_coordinates_are_errors(tmp_path):
    bng_as_wgs = _lpus(["a"], [shapely.box(400_000, 280_000, 410_000, 290_000)], crs=4326)
    with pytest.raises(BoundaryError, match="cannot be projected"):
        read_areas(bng_as_wgs)
    nan = _lpus(["a"], [shapely.Polygon([(0, 0), (np.inf, 0), (1, 1)])])
    with pytest.raises(BoundaryError, match="not finite"):
        read_areas(nan)
    no_crs = gpd.GeoDataFrame({"lpu": ["a"]}, geometry=[shapely.box(0, 0, 1, 1)])
    with pytest.raises(BoundaryError, match="no CRS"):
        read_areas(no_crs)
    for content in (b"", b"{not json", b"lpu,x\na,1\n"):
        path = tmp_path / "b.geojson"
        path.write_bytes(content)
        with pytest.raises(BoundaryError, match="b.geojson"):
            read_areas(path)
    from geodemand.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="EPSG:99999"):
        read_areas(_lpus(["a"], [shapely.box(0, 0, 1, 1)]), crs="EPSG:99999")
