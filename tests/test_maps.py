"""The hot-spot maps: the folium page (outputs.maps.web) and the static PNG (outputs.maps.png).

Inputs are built by hand in tests/browser_util.py (``map_inputs``): the maps only render.
The browser behaviour of the page is tested in tests/test_browser.py.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import logging
import re
import struct
from types import SimpleNamespace

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from browser_util import (
    JINJA_PAYLOADS,
    JINJA_PROBE,
    XSS_IMG,
    XSS_PAYLOADS,
    XSS_TEMPLATE,
    map_inputs,
)
from pyproj import Transformer

import geodemand
from geodemand.errors import GeodemandError, InvalidParameterError
from geodemand.grid import Grid
from geodemand.outputs.maps.cards import card_text, crime_type_label
from geodemand.outputs.maps.layers import shared_geojson
from geodemand.outputs.maps.png import hotspot_figure, hotspot_png, nice_length
from geodemand.outputs.maps.web import (
    BIN_COLOURS,
    DENSITY_CMAP,
    DensityLayer,
    colour_density,
    density_overlay,
    dissolve_bins,
    encode_payload,
    format_value,
    hotspot_map,
    legend_text,
    legend_ticks,
    map_html,
    patrol_card,
    prepare_layers,
    save_map,
    to_geojson,
)
from geodemand.outputs.raster import grid_mask

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def inputs():
    return map_inputs(hostile=True)


@pytest.fixture
def plain():
    return map_inputs(hostile=False)


def _children(element, cls):
    """Every descendant of a folium element that is an instance of ``cls``."""
    out = []
    for child in element._children.values():
        if isinstance(child, cls):
            out.append(child)
        out.extend(_children(child, cls))
    return out


def _spec(m, key):
    """The payload's layer spec ``key`` (what the page renders)."""
    return next(s for s in m.geodemand_payload["layers"] if s["key"] == key)


def _decoded_payload(page: str) -> dict:
    """The payload as the page's script decodes it (base64 of UTF-8 JSON)."""
    found = re.search(r'atob\("([A-Za-z0-9+/=]*)"\)', page)
    assert found, "no payload in the page"
    return json.loads(base64.b64decode(found.group(1)).decode("utf-8"))


def test_format_value():
    assert format_value(None) == "–"
    assert format_value(float("nan")) == "–"
    assert format_value(pd.NaT) == "–"
    assert format_value(True) == "yes"
    assert format_value(np.int64(12345)) == "12,345"
    assert format_value(3.0) == "3"
    assert format_value(0.87349) == "0.873"
    assert format_value(1234.56) == "1,234.6"
    assert format_value(pd.Timestamp("2025-12-08")) == "2025-12-08"
    assert format_value(pd.Timestamp("2025-12-08 14:30")) == "2025-12-08 14:30:00"
    assert format_value(["Soho", "Ladywood"]) == "Soho, Ladywood"
    assert format_value("text") == "text"


# ---------------------------------------------------------------------------- validation
def test_prepare_layers_validates_texts_and_flags(plain):
    with pytest.raises(InvalidParameterError, match="title"):
        prepare_layers(**{**plain, "title": " "})
    with pytest.raises(InvalidParameterError, match="synthetic"):
        prepare_layers(**{**plain, "synthetic": "yes"})
    keep = {k: plain[k] for k in ("title", "period", "window", "data_source", "synthetic")}
    with pytest.raises(InvalidParameterError, match="at least one layer"):
        prepare_layers(**keep)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(patrol_areas=d["patrol_areas"].drop(columns="rank")), "rank"),
        (lambda d: d["patrol_areas"].__setitem__("rank", [1, 1, 2, 3]), "repeats 1"),
        (lambda d: d["patrol_areas"].__setitem__("rank", [0, 1, 2, 3]), "positive integer"),
        (
            lambda d: d.update(patrol_areas=d["patrol_areas"].set_crs(None, allow_override=True)),
            "patrol_areas has no CRS",
        ),
        (
            lambda d: d.update(
                patrol_areas=d["patrol_areas"].set_geometry(d["patrol_areas"].centroid)
            ),
            "Point",
        ),
        (lambda d: d["hotspot_cells"].__setitem__("gistar_bin", [3, 3, 5, -2, 0]), "integer -3..3"),
        (
            lambda d: d["hotspot_cells"].__setitem__("gistar_bin", [3, 3, 1.5, -2, 0]),
            "integer -3..3",
        ),
        (
            lambda d: d.update(hotspot_cells=d["hotspot_cells"].drop(columns="gistar_bin")),
            "confidence-bin column",
        ),
        (lambda d: d.update(lpus=d["lpus"].rename(columns={"lpu": "name"})), "'lpu'"),
        (lambda d: d.update(crs=None), "no CRS"),
        (lambda d: d["repeat_places"].__setitem__("x", [1.0, np.nan, 2, 3, 4]), "row 1"),
        (lambda d: d.update(repeat_places=d["repeat_places"].drop(columns="y")), "'y'"),
        (lambda d: d.update(density=d["density"][:, :5]), "shape"),
        (lambda d: d.update(density_units=None), "units"),
        (lambda d: d.update(density=-d["density"]), "negative"),
        (lambda d: d.update(density_vmax=0.0), "density_vmax"),
        (lambda d: d.update(density=None), "density_grid was given"),
        (lambda d: d.update(density_grid=None), "needs its Grid"),
        (lambda d: d.update(view_bounds=(1, 2, 0, 3)), "view_bounds"),
    ],
)
def test_bad_input_names_the_field(plain, change, message):
    change(plain)
    with pytest.raises(InvalidParameterError, match=re.escape(message)):
        prepare_layers(**plain)


def test_inputs_are_not_mutated(inputs):
    before = copy.deepcopy(inputs)
    hotspot_map(**inputs, tiles=None)
    hotspot_figure(**inputs, figsize=(4, 4), dpi=40)
    for key, value in before.items():
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(inputs[key], value)
        elif isinstance(value, np.ndarray):
            np.testing.assert_array_equal(inputs[key], value)
        else:
            assert inputs[key] == value


def test_density_accepts_a_kde_result_like_object(plain, caplog):
    kde = SimpleNamespace(
        density=plain["density"], grid=plain["density_grid"], units="harm per km²"
    )
    with caplog.at_level(logging.INFO, logger="geodemand"):
        layers = prepare_layers(
            density=kde, title="t", period="p", window="w", data_source="s", synthetic=False
        )
    assert layers.density.units == "harm per km²"
    assert layers.density.vmax == 500.0  # the surface's maximum (NaN ignored) ...
    assert "density colour scale 0 to 500 harm per km²" in caplog.text  # ... announced
    assert not layers.density.values.flags.writeable
    same = prepare_layers(
        density=plain["density"],
        density_grid=plain["density_grid"],
        density_units="harm per km²",
        title="t",
        period="p",
        window="w",
        data_source="s",
        synthetic=False,
    )
    np.testing.assert_array_equal(same.density.values, layers.density.values)


def test_gistar_result_object_is_rendered_through_to_geodataframe(plain):
    cells = plain["hotspot_cells"].rename(columns={"gistar_bin": "bin"})
    calls = []

    class FakeResult:
        def to_geodataframe(self, only_significant=False):
            calls.append(only_significant)
            return cells

    layers = prepare_layers(
        hotspot_cells=FakeResult(),
        title="t",
        period="p",
        window="w",
        data_source="s",
        synthetic=False,
    )
    assert calls == [True]
    assert sorted(layers.hotspot_cells["bin"]) == [-2, 3, 3, 3]  # bin 0 is not drawn


# ---------------------------------------------------------------------------- geometry
def test_geojson_is_wgs84_lon_lat_rounded(plain):
    gdf = plain["patrol_areas"]
    data = to_geojson(gdf, {"rank": list(gdf["rank"])})
    assert [f["properties"]["rank"] for f in data["features"]] == [2, 1, 4, 3]
    expected = gdf.to_crs("EPSG:4326").geometry
    for feature, geom in zip(data["features"], expected, strict=True):
        got = shapely.geometry.shape(feature["geometry"])
        assert got.geom_type == geom.geom_type
        ours = shapely.get_coordinates(got)
        theirs = shapely.get_coordinates(geom)
        np.testing.assert_allclose(ours, theirs, atol=6e-7)  # 6 decimals
        assert np.all((ours[:, 0] > -2.1) & (ours[:, 0] < -1.8))  # Birmingham longitudes
        assert np.all((ours[:, 1] > 52.4) & (ours[:, 1] < 52.6))  # and latitudes


def test_geojson_geometries_equal_the_json_text_reference(data_dir):
    """The nested-array GeoJSON builder against the obvious reference: shapely's JSON text
    parsed geometry by geometry, on real LSOA (multi)polygons, grid cells, points, lines,
    an empty point, a missing geometry and a collection, serialised byte for byte."""
    from geodemand.outputs.maps.layers import geojson_geometries

    rng = np.random.default_rng(7)
    lsoa = gpd.read_file(data_dir / "boundaries" / "west-midlands" / "lsoa.geojson")
    real = shapely.transform(lsoa.to_crs(4326).geometry.to_numpy(), lambda c: np.round(c, 6))
    assert {3, 6} <= set(shapely.get_type_id(real).tolist())  # polygons and multipolygons
    cells = shapely.box(*np.round(rng.uniform(-2.0, 53.0, (4, 300)), 6))
    points = shapely.points(np.round(rng.uniform(-2.0, 53.0, (300, 2)), 6))
    lines = shapely.linestrings(np.round(rng.uniform(-2.0, 53.0, (20, 5, 2)), 6))
    multi = np.array([shapely.multilinestrings(lines[:3]), shapely.multipoints(points[:4])])
    odd = np.array([shapely.Point(), shapely.GeometryCollection([points[0], lines[0]])])
    mixed = np.concatenate([cells[:5], real[:40], points[:7], odd, lines[:3], multi, real[40:]])
    for geoms in (real, cells, points, lines, mixed):
        reference = [json.loads(text) for text in shapely.to_geojson(geoms)]
        ours = geojson_geometries(geoms)
        assert json.dumps(ours) == json.dumps(reference)
    assert geojson_geometries(np.array([None, points[0]], dtype=object))[0] is None


def test_every_geojson_layer_on_the_map_is_wgs84(plain):
    m = hotspot_map(**plain, tiles=None)
    layers = [spec for spec in m.geodemand_payload["layers"] if "data" in spec]
    # risk, 2 boundary layers, emerging and Gi* patches, the patrol areas
    keys = [spec["key"] for spec in layers]
    assert keys == ["risk", "neighbourhoods", "lpus", "emerging", "hotspots", "patrol_areas"]
    assert len(_spec(m, "patrol_areas")["data"]["features"]) == len(plain["patrol_areas"])
    for layer in layers:
        for feature in layer["data"]["features"]:
            xy = shapely.get_coordinates(shapely.geometry.shape(feature["geometry"]))
            assert np.all(np.abs(xy[:, 0]) <= 180) and np.all(np.abs(xy[:, 1]) <= 90)
            assert np.all((xy[:, 1] > 52.4) & (xy[:, 1] < 52.6))
    for key in ("repeat_places", "incidents"):  # the point layers too
        spec = _spec(m, key)
        at = [mk["at"] for mk in spec["markers"]] if key == "repeat_places" else [
            p[:2] for p in spec["points"]
        ]
        at = np.array(at)
        assert np.all((at[:, 0] > 52.4) & (at[:, 0] < 52.6))  # [lat, lon] for Leaflet
        assert np.all((at[:, 1] > -2.1) & (at[:, 1] < -1.8))


def test_dissolve_bins_merges_touching_cells_of_one_bin(plain):
    layers = prepare_layers(
        hotspot_cells=plain["hotspot_cells"],
        title="t",
        period="p",
        window="w",
        data_source="s",
        synthetic=False,
    )
    patches = dissolve_bins(layers.hotspot_cells)
    assert list(patches["bin"]) == [3, 3, -2]
    assert list(patches["n_cells"]) == [2, 1, 1]  # the two touching bin-3 cells are one
    np.testing.assert_allclose(patches.area, [20_000.0, 10_000.0, 10_000.0])
    # reference: the union of the input cells of each bin
    cells = plain["hotspot_cells"]
    for b in (3, -2):
        ref = shapely.union_all(cells.geometry[cells["gistar_bin"] == b].to_numpy())
        got = shapely.union_all(patches.geometry[patches["bin"] == b].to_numpy())
        assert got.symmetric_difference(ref).area < 1e-6


def test_dissolve_on_the_lattice_equals_the_geos_union():
    """Reference twin: the rasterised path against shapely.union_all on random bins."""
    from geodemand.outputs.maps.layers import _dissolve_by_union

    grid = Grid(
        x_min=400_000.1, y_min=280_000.3, cell_size=37.5, n_cols=60, n_rows=45, crs="EPSG:27700"
    )
    rng = np.random.default_rng(11)
    bins = rng.choice([-3, -2, -1, 0, 0, 0, 1, 2, 3], size=grid.shape)
    bins[10:20, 10:25] = 3  # a big block with a hole
    bins[14, 15] = 0
    cells = grid.to_geodataframe(mask=bins != 0)
    cells["bin"] = bins[bins != 0]
    fast = dissolve_bins(cells)
    slow = _dissolve_by_union(cells)
    assert len(fast) == len(slow)
    assert fast["n_cells"].sum() == len(cells)
    ref = {}
    for b, n, poly in slow:
        ref.setdefault((b, n), []).append(poly)
    for b, n, poly in zip(fast["bin"], fast["n_cells"], fast.geometry, strict=True):
        candidates = ref[(b, n)]
        match = [q for q in candidates if q.symmetric_difference(poly).area < 1e-6]
        assert len(match) == 1
        candidates.remove(match[0])
    assert any(len(p.interiors) for p in fast.geometry)  # the hole survived


def test_dissolve_of_area_polygons_uses_their_union(plain):
    hoods = plain["neighbourhoods"].assign(bin=[3, 3, -1, 2])
    patches = dissolve_bins(hoods)
    assert list(patches["bin"]) == [3, 2, -1]
    assert list(patches["n_cells"]) == [2, 1, 1]  # the two bin-3 neighbourhoods share an edge
    np.testing.assert_allclose(patches.area.sum(), hoods.area.sum())


# ---------------------------------------------------------------------------- density image
def _small_density():
    grid = Grid(
        x_min=404000.0, y_min=285000.0, cell_size=100.0, n_cols=40, n_rows=30, crs="EPSG:27700"
    )
    rng = np.random.default_rng(7)
    values = rng.uniform(1.0, 400.0, grid.shape)
    values[rng.random(grid.shape) < 0.2] = 0.0
    values[:2, :4] = np.nan
    values[10, 20] = 500.0
    return DensityLayer(values=values, grid=grid, units="incidents per km²", vmax=500.0)


def test_density_overlay_places_every_pixel_on_its_source_cell():
    """Reference twin: each overlay pixel centre -> Web Mercator -> EPSG:27700 -> cell."""
    layer = _small_density()
    ov = density_overlay(layer)
    h, w = ov.values.shape
    assert ov.rgba.shape == (h, w, 4) and ov.rgba.dtype == np.uint8
    rows, cols = np.indices((h, w))
    mx, my = ov.transform @ (cols + 0.5, rows + 0.5)
    x, y = Transformer.from_crs("EPSG:3857", "EPSG:27700", always_xy=True).transform(mx, my)
    r, c, inside = layer.grid.cell_index(x, y)
    expected = np.where(inside, layer.values[r, c], np.nan)
    # pixels whose centre is within 5 % of a cell of a cell edge may fall either way
    fx = (x - layer.grid.x_min) / 100.0
    fy = (y - layer.grid.y_min) / 100.0
    clear = (np.abs(fx - np.round(fx)) > 0.05) & (np.abs(fy - np.round(fy)) > 0.05)
    assert clear.mean() > 0.7
    np.testing.assert_array_equal(ov.values[clear], expected[clear])
    # the hot cell shows up where it is
    hot = ov.values == 500.0
    assert hot.any()
    assert np.all((x[hot] > 405900) & (x[hot] < 406100) & (y[hot] > 286900) & (y[hot] < 287100))


def test_density_overlay_bounds_are_the_web_mercator_rectangle():
    layer = _small_density()
    ov = density_overlay(layer)
    (south, west), (north, east) = ov.bounds
    h, w = ov.values.shape
    to_merc = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    left, bottom = to_merc.transform(west, south)
    right, top = to_merc.transform(east, north)
    np.testing.assert_allclose(
        [left, top, right, bottom],
        [
            ov.transform.c,
            ov.transform.f,
            ov.transform.c + w * ov.transform.a,
            ov.transform.f + h * ov.transform.e,
        ],
        atol=1e-6,
    )
    # the overlay covers the whole grid
    to_ll = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)
    x0, y0, x1, y1 = layer.grid.bounds
    lon, lat = to_ll.transform([x0, x1, x0, x1], [y0, y0, y1, y1])
    eps = 1e-9  # degrees: the rectangle may touch a corner exactly
    assert west <= min(lon) + eps and east >= max(lon) - eps
    assert south <= min(lat) + eps and north >= max(lat) - eps


def test_density_overlay_is_capped_in_size(caplog):
    layer = _small_density()
    with caplog.at_level(logging.INFO, logger="geodemand"):
        ov = density_overlay(layer, max_pixels=2_000)
    assert ov.values.size <= 2_400
    assert "coarsened" in caplog.text


def test_colour_density_scale_and_transparency():
    import matplotlib

    values = np.array([[np.nan, 0.0, -1.0, 250.0, 500.0, 900.0]])
    rgba = colour_density(values, 500.0)
    assert list(rgba[0, :, 3]) == [0, 0, 0, 255, 255, 255]
    cmap = matplotlib.colormaps[DENSITY_CMAP]
    assert tuple(rgba[0, 4]) == tuple(cmap(1.0, bytes=True)[:3]) + (255,)
    assert tuple(rgba[0, 5]) == tuple(rgba[0, 4])  # above vmax: the top colour
    assert tuple(rgba[0, 3, :3]) == tuple(cmap(0.5, bytes=True)[:3])


def test_the_page_embeds_exactly_the_overlay_image(plain):
    m = hotspot_map(**plain, tiles=None)
    overlay = _spec(m, "density")
    expected = density_overlay(prepare_layers(**plain).density)
    assert overlay["url"] == expected.data_url()
    assert overlay["bounds"] == [list(expected.bounds[0]), list(expected.bounds[1])]
    assert _decoded_payload(map_html(m, self_contained=False)) == m.geodemand_payload
    png = base64.b64decode(overlay["url"].split(",", 1)[1])
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)))
    np.testing.assert_array_equal(img, expected.rgba)


def test_legend_ticks():
    assert legend_ticks(500.0) == [0.0, 100.0, 200.0, 300.0, 400.0, 500.0]
    ticks = legend_ticks(0.37)
    assert ticks[0] == 0.0 and max(ticks) <= 0.37 and len(ticks) >= 3


# ---------------------------------------------------------------------------- the page
def test_map_has_every_layer_control_and_title(plain):
    m = hotspot_map(**plain, tiles=None)
    page = map_html(m, self_contained=False)
    payload = m.geodemand_payload
    assert [(s["key"], s["name"], s["show"]) for s in payload["layers"]] == [
        ("risk", "Risk (incidents per 1,000 residents)", False),
        ("neighbourhoods", "Neighbourhoods", True),
        ("lpus", "LPU boundaries", True),
        ("density", "Density (incidents per km²)", True),
        ("emerging", "Emerging hot spots", False),
        ("hotspots", "Gi* hot and cold spots", True),
        ("patrol_areas", "Patrol areas (numbered by rank)", True),
        ("repeat_places", "Repeat places", True),
        ("incidents", "Incidents this period (6)", True),
    ]
    assert len(_children(m, folium.LayerControl)) == 1
    # folium draws only the frame: no layer of its own carries data
    assert _children(m, folium.GeoJson) == [] and _children(m, folium.Popup) == []
    assert m.geodemand_params["density_vmax"] == 500.0
    assert m.geodemand_params["layers"] == [
        "lpus",
        "neighbourhoods",
        "density",
        "hotspot_cells",
        "emerging",
        "risk",
        "patrol_areas",
        "repeat_places",
        "incidents",
    ]
    assert "L.control.scale()" in page
    assert "requestFullscreen" in page
    assert "SYNTHETIC DATA" in page  # the banner text is the renderer's own
    title = payload["title"]
    assert title["synthetic"] is True and title["title"] == "Birmingham plain three"
    assert title["lines"] == [
        "Period: week 2025-W47 plain two",
        "Window: 2023-11-24 to 2025-11-23 (2 years)",
        "Data: synthetic plain four",
    ]
    legend = legend_text(prepare_layers(**plain))
    assert "Density (incidents per km²)" in legend
    assert "Hot spot, 99 % confidence" in legend and "Cold spot, 95 % confidence" in legend
    assert "Cold spot, 99 % confidence" not in legend  # only the bins present
    assert "Intensifying hot spot" in legend and "New hot spot" in legend
    assert "Persistent hot spot" not in legend and "No pattern" not in legend
    assert "Patrol area (number = rank)" in legend and "Repeat place" in legend
    assert "Incident this period" in legend and "No data" in legend
    bar = next(item for item in payload["legend"] if "bar" in item)
    assert bar["ticks"] == [[v / 5, f"{v:,}"] for v in (0, 100, 200, 300, 400, 500)]
    assert "window.geodemandMap" in page
    not_synthetic = hotspot_map(**{**plain, "synthetic": False}, tiles=None)
    assert not_synthetic.geodemand_payload["title"]["synthetic"] is False


def test_hidden_layers_start_off_but_stay_in_the_control(plain):
    m = hotspot_map(**plain, tiles=None, hidden_layers=("incidents", "risk"))
    shown = {s["key"]: s["show"] for s in m.geodemand_payload["layers"]}
    assert shown["incidents"] is False and shown["risk"] is False
    assert shown["emerging"] is True and shown["patrol_areas"] is True
    legend = [i.get("title") for i in m.geodemand_payload["legend"]]
    assert "Emerging hot spots" in legend  # shown: no "off by default" note
    assert "Risk (incidents per 1,000 residents; layer off by default)" in legend
    with pytest.raises(InvalidParameterError, match="hidden_layers"):
        hotspot_map(**plain, tiles=None, hidden_layers=("incident",))
    with pytest.raises(InvalidParameterError, match="hidden_layers"):
        hotspot_map(**plain, tiles=None, hidden_layers="risk")


def test_hot_spot_wording_when_no_cold_spot_is_significant(plain):
    cells = plain["hotspot_cells"]
    hot_only = cells[cells["gistar_bin"] >= 0]
    m = hotspot_map(**{**plain, "hotspot_cells": hot_only}, tiles=None)
    assert _spec(m, "hotspots")["name"] == "Gi* hot spots"
    legend = legend_text(prepare_layers(**{**plain, "hotspot_cells": hot_only}))
    assert "Gi* hot spots" in legend and "cold" not in legend.lower()
    cold_only = cells[cells["gistar_bin"] <= 0]
    assert _spec(hotspot_map(**{**plain, "hotspot_cells": cold_only}, tiles=None),
                 "hotspots")["name"] == "Gi* cold spots"
    none = legend_text(prepare_layers(**{**plain, "hotspot_cells": cells.iloc[:0]}))
    assert "No significant cells" in none


def test_palettes_are_distinct():
    """Density is a sequential non-red ramp; Gi* hot is red and cold blue."""
    import matplotlib
    import matplotlib.colors as mcolors

    from geodemand.outputs.maps.style import EMERGING_COLOURS

    ramp = matplotlib.colormaps[DENSITY_CMAP](np.linspace(0, 1, 11))[:, :3]
    red = (ramp[:, 0] > ramp[:, 1] + 0.15) & (ramp[:, 0] > ramp[:, 2] + 0.15)
    assert not red.any()  # never a red hue (the Gi* hot classes are red)
    lum = ramp @ [0.299, 0.587, 0.114]
    assert np.all(np.diff(lum) < 0)  # sequential: light to dark
    for b in (1, 2, 3):
        r, g, bl = mcolors.to_rgb(BIN_COLOURS[b])
        assert r > bl
        r, g, bl = mcolors.to_rgb(BIN_COLOURS[-b])
        assert bl > r
    assert set(EMERGING_COLOURS) == set(range(-8, 9))
    assert len(set(EMERGING_COLOURS.values())) == 17


def test_patrol_cards_are_compact(plain):
    m = hotspot_map(**plain, tiles=None)
    spec = _spec(m, "patrol_areas")
    ranks = [f["properties"]["rank"] for f in spec["data"]["features"]]
    assert ranks == [1, 2, 3, 4] and len(spec["labels"]) == 4
    row = prepare_layers(**plain).patrol_areas.iloc[0]  # rank 1
    card = patrol_card(row)
    assert spec["data"]["features"][0]["properties"]["card"] == card
    assert card["title"] == "New Street"
    assert card["sub"] == "Rank 1 · Birmingham West plain one"
    rows = {r["k"]: r["v"] for r in card["rows"] if "k" in r}
    assert rows["Status"] == "new"
    assert rows["Expected harm"] == "389 CCHI days next period"
    assert rows["Harm in window"] == "2,345 CCHI days"
    assert rows["Incidents in window"] == "57"
    assert rows["Dosage"] == "4 visits a day × 15 min"
    assert rows["Hot hours"] == "plain one"
    assert rows["Review by"] == "Mon 8 Dec 2025"
    assert rows["Partnership"].endswith("plain four")
    assert rows["Neighbourhood"] == "Ladywood" and rows["Area id"] == "PA-a"
    # the top 5 non-zero crime types, largest first, with shares of the 57 incidents
    types = [(r["k"], r["v"], r["pct"]) for r in card["rows"] if "pct" in r]
    assert types == [
        ("Violence and sexual offences", "22 · 39 %", 38.6),
        ("Anti-social behaviour", "15 · 26 %", 26.3),
        ("Burglary", "9 · 16 %", 15.8),
        ("Robbery", "4 · 7 %", 7.0),
        ("Shoplifting", "3 · 5 %", 5.3),
    ]
    text = card_text(card)
    for absent in ("Drugs", "Bicycle theft", "405", "x bng", "score", "0.93", "top crime"):
        assert absent not in text, absent  # zeros, the 6th type, coordinates, extra columns
    order = [text.index(s) for s in ("Status", "Top crime types", "Patrol", "Partnership")]
    assert order == sorted(order)
    # the force-wide rank is named when it differs; a card without a label is numbered
    rank2 = patrol_card(prepare_layers(**plain).patrol_areas.iloc[1])
    assert rank2["sub"] == "Rank 2 · force-wide 3 · Birmingham West plain one"
    rank4 = patrol_card(prepare_layers(**plain).patrol_areas.iloc[3])
    assert rank4["title"] == "Patrol area 4"
    tips = [f["properties"]["tip"] for f in spec["data"]["features"]]
    assert tips[0] == "New Street (57 incidents)" and tips[3] == "Patrol area 4 (12 incidents)"


def test_cards_read_only_the_documented_columns(plain):
    """A patrol area with nothing but a rank gets a minimal card; unknown columns stay out."""
    areas = plain["patrol_areas"][["rank", "geometry"]].assign(notes="internal", x=405000.0)
    m = hotspot_map(**{**plain, "patrol_areas": areas}, tiles=None)
    card = _spec(m, "patrol_areas")["data"]["features"][0]["properties"]["card"]
    assert card == {"title": "Patrol area 1", "sub": "Rank 1", "rows": []}


def test_people_friendly_numbers():
    from geodemand.outputs.maps.cards import (
        crime_type_label,
        format_amount,
        format_date,
        format_dates,
        format_dosage,
        format_share,
    )

    assert [format_amount(v) for v in (0, 15, 15.0, 1234.5, 12.34, 0.5234, 2.0)] == [
        "0", "15", "15", "1,234", "12.3", "0.52", "2",
    ]
    assert [format_share(v) for v in (0.384, 0.001, 0, 1)] == ["38 %", "<1 %", "0 %", "100 %"]
    assert format_date(pd.Timestamp("2025-12-08")) == "Mon 8 Dec 2025"
    assert format_date(pd.Timestamp("2025-11-21 22:15")) == "Fri 21 Nov 2025 22:15"
    assert format_date(pd.Timestamp("2021-11-01"), precision="month") == "Nov 2021"
    assert format_dosage(np.int64(1), 12.5) == "1 visit a day × 12.5 min"
    assert format_dosage(1.5, 15.0) == "1.5 visits a day × 15 min"
    # the vectorised dates equal the one-at-a-time ones (reference twin)
    rng = np.random.default_rng(3)
    stamps = pd.Series(pd.Timestamp("2025-01-01") + pd.to_timedelta(
        rng.integers(0, 400 * 24 * 4, 300) * 15, unit="m"))
    stamps[::7] = stamps[::7].dt.normalize()
    stamps[5] = pd.NaT
    precision = rng.choice(["day", "month", "minute"], 300)
    expected = ["–" if pd.isna(t) else format_date(t, precision=p)
                for t, p in zip(stamps, precision, strict=True)]
    assert list(format_dates(stamps, precision)) == expected
    assert format_dosage(None, None) == ""
    for spelling in ("anti-social-behaviour", "anti_social_behaviour", "Anti-social behaviour"):
        assert crime_type_label(spelling) == "Anti-social behaviour"
    assert crime_type_label("my_local_type") == "My local type"


def test_repeat_places_are_clustered_markers_with_popups(plain):
    m = hotspot_map(**plain, tiles=None)
    spec = _spec(m, "repeat_places")
    markers = spec["markers"]
    assert len(markers) == 5 and spec["cluster"] == "gd-cluster-places"
    expected = gpd.points_from_xy(
        plain["repeat_places"]["x"], plain["repeat_places"]["y"], crs="EPSG:27700"
    ).to_crs("EPSG:4326")
    got = np.array([mk["at"] for mk in markers])
    np.testing.assert_allclose(got[:, 0], expected.y, atol=1e-6)
    np.testing.assert_allclose(got[:, 1], expected.x, atol=1e-6)
    texts = [card_text(mk["card"]) for mk in markers]
    assert any("On or near High Street" in t and "Incidents in window9" in t for t in texts)
    high = next(mk["card"] for mk in markers if mk["card"]["title"] == "On or near High Street")
    types = [(r["k"], r["v"]) for r in high["rows"] if "pct" in r]
    assert types == [("Burglary", "9 · 100 %")]  # n_cells is not a crime type
    assert markers[1]["tip"] == "On or near High Street (9 incidents)"
    # a GeoDataFrame of points, or a CRS in attrs, works too
    gdf = gpd.GeoDataFrame(plain["repeat_places"].drop(columns=["x", "y"]), geometry=expected)
    assert len(prepare_layers(**{**plain, "repeat_places": gdf}).repeat_places) == 5
    frame = plain["repeat_places"].copy()
    frame.attrs["crs"] = "EPSG:27700"
    layers = prepare_layers(**{**plain, "repeat_places": frame, "crs": None,
                               "incidents": None, "force_area": None})
    assert layers.repeat_places.crs.to_epsg() == 27700


def test_incidents_layer_is_compact_with_short_cards(plain):
    from geodemand.outputs.maps.web import incident_cards

    m = hotspot_map(**plain, tiles=None)
    spec = _spec(m, "incidents")
    assert spec["kind"] == "incidents" and spec["cluster"] == "gd-cluster-incidents"
    assert spec["types"] == sorted(spec["types"])
    cards = incident_cards(spec)
    assert len(cards) == 6
    assert cards[0] == {
        "title": "Burglary",
        "sub": "",
        "rows": [{"k": "When", "v": "Fri 21 Nov 2025 22:15"},
                 {"k": "Place", "v": "On or near plain one"}],
    }
    assert cards[1]["rows"][0]["v"] == "Sat 22 Nov 2025"  # midnight: no time shown
    assert cards[2]["rows"] == [{"k": "When", "v": "Thu 20 Nov 2025 03:00"}]  # no place
    assert cards[3]["title"] == "Robbery"  # a label is normalised through the vocabulary
    assert cards[5]["rows"][0]["v"] == "Nov 2025"  # month precision
    frame = plain["incidents"].drop(columns="date_precision")
    frame.attrs["date_precision"] = "month"
    monthly = hotspot_map(**{**plain, "incidents": frame}, tiles=None)
    assert {p[3] for p in _spec(monthly, "incidents")["points"]} == {"Nov 2025"}
    with pytest.raises(InvalidParameterError, match="occurred"):
        prepare_layers(**{**plain, "incidents": plain["incidents"].drop(columns="occurred")})
    bad = plain["incidents"].assign(occurred=["x"] * 6)
    with pytest.raises(InvalidParameterError, match="row 0 has occurred"):
        prepare_layers(**{**plain, "incidents": bad})


def test_emerging_layer_accepts_the_engine_result(plain):
    cells = plain["emerging"]
    calls = []

    class FakeEmerging:
        def to_geodataframe(self, include_no_pattern=True):
            calls.append(include_no_pattern)
            return cells

    layers = prepare_layers(emerging=FakeEmerging(), title="t", period="p", window="w",
                            data_source="s", synthetic=False)
    assert calls == [False]
    assert sorted(layers.emerging["pattern_code"]) == [1, 3, 3]  # no-pattern cells dropped
    m = hotspot_map(emerging=cells, title="t", period="p", window="w", data_source="s",
                    synthetic=False, tiles=None)
    spec = _spec(m, "emerging")
    tips = sorted(f["properties"]["tip"] for f in spec["data"]["features"])
    assert tips == ["Intensifying hot spot (2 cells)", "New hot spot (1 cell)"]
    with pytest.raises(InvalidParameterError, match="-8..8"):
        prepare_layers(emerging=cells.assign(pattern_code=9), title="t", period="p",
                       window="w", data_source="s", synthetic=False)


def test_risk_choropleth_classes_and_cards(plain):
    from geodemand.outputs.maps.web import risk_classes

    cls, breaks = risk_classes(np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, np.nan]), n=3)
    assert breaks[0] == 1.0 and breaks[-1] == 6.0
    assert cls.tolist()[-1] == -1 and sorted(set(cls.tolist()[:-1])) == [0, 1, 2]
    assert all(breaks[c] <= v <= breaks[c + 1] for c, v in zip(cls[:-1], range(1, 7),
                                                                  strict=True))
    m = hotspot_map(**plain, tiles=None)
    spec = _spec(m, "risk")
    feats = spec["data"]["features"]
    assert feats[0]["properties"]["tip"] == "plain two: 12.5 incidents per 1,000 residents"
    assert feats[2]["properties"]["tip"] == "Soho: no data" and feats[2]["properties"]["cls"] == -1
    card = feats[0]["properties"]["card"]
    assert card_text(card) == "plain twoRate12.5 incidents per 1,000 residentsCount25" \
        "Residents2,000"
    with pytest.raises(InvalidParameterError, match="risk_units"):
        prepare_layers(**{**plain, "risk_units": None})
    with pytest.raises(InvalidParameterError, match="rate >= 0"):
        prepare_layers(**{**plain, "risk": plain["risk"].assign(value=-1.0)})


def test_force_area_masks_the_density_and_sets_the_view(plain):
    grid = plain["density_grid"]
    x0, y0, x1, y1 = grid.bounds
    area = gpd.GeoDataFrame(geometry=[shapely.box(x0, y0, x0 + 1000, y0 + 1000)], crs=grid.crs)
    layers = prepare_layers(**{**plain, "force_area": area})
    # reference: the whole grid masked to the area; every cell outside it is NaN
    full = np.array(plain["density"], dtype=np.float64)
    full[~grid_mask(grid, area)] = np.nan
    assert np.isnan(full[:20, :]).all() and np.isnan(full[:, 10:]).all()
    # the layer is cut to the window of cells with data: the same values, on that window
    assert layers.density.grid == grid.window(slice(20, None), slice(0, 10))
    assert layers.density.grid.bounds == (x0, y0, x0 + 1000, y0 + 1000)
    np.testing.assert_array_equal(layers.density.values, full[20:, :10])
    np.testing.assert_array_equal(layers.density.values, plain["density"][20:, :10])
    west, south, east, north = layers.view_bounds_wgs84
    lon, lat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(
        [x0, x0 + 1000], [y0, y0 + 1000]
    )
    assert west == pytest.approx(lon[0], abs=1e-4) and north == pytest.approx(lat[1], abs=1e-4)


def test_density_without_an_area_is_not_cut(plain):
    layers = prepare_layers(**{**plain, "force_area": None})
    assert layers.density.grid == plain["density_grid"]
    np.testing.assert_array_equal(layers.density.values, plain["density"])


def test_density_cut_to_an_area_draws_the_same_pixels(plain):
    """The overlay of the cut layer shows, at each pixel centre, the masked whole-grid value
    of the cell under it (NaN off the window: transparent either way)."""
    grid = plain["density_grid"]
    x0, y0, x1, y1 = grid.bounds
    area = gpd.GeoDataFrame(
        geometry=[shapely.box(x0 + 700, y0 + 300, x0 + 2100, y0 + 1500)], crs=grid.crs
    )
    layers = prepare_layers(**{**plain, "force_area": area})
    assert layers.density.values.shape < grid.shape
    full = np.array(plain["density"], dtype=np.float64)
    full[~grid_mask(grid, area)] = np.nan
    ov = density_overlay(layers.density)
    h, w = ov.values.shape
    rows, cols = np.indices((h, w))
    mx, my = ov.transform @ (cols + 0.5, rows + 0.5)
    x, y = Transformer.from_crs("EPSG:3857", grid.crs, always_xy=True).transform(mx, my)
    r, c, inside = grid.cell_index(x, y)
    expected = np.where(inside, full[r, c], np.nan)
    fx = (x - grid.x_min) / grid.cell_size
    fy = (y - grid.y_min) / grid.cell_size
    clear = (np.abs(fx - np.round(fx)) > 0.05) & (np.abs(fy - np.round(fy)) > 0.05)
    assert clear.mean() > 0.7
    np.testing.assert_array_equal(ov.values[clear], expected[clear])
    assert np.isfinite(ov.values).any()


def test_grid_window_of_a_masked_surface():
    grid = Grid(1000.0, 2000.0, 50.0, 8, 6, "EPSG:27700")
    sub = grid.window(slice(1, 4), slice(2, 7))
    assert sub.shape == (3, 5) and sub.cell_size == 50.0 and sub.crs == grid.crs
    # the window's cells are the grid's cells [1:4, 2:7]
    rows, cols = np.indices(sub.shape)
    np.testing.assert_array_equal(
        shapely.bounds(sub.cell_boxes(rows.ravel(), cols.ravel())),
        shapely.bounds(grid.cell_boxes(rows.ravel() + 1, cols.ravel() + 2)),
    )
    assert grid.window(slice(None), slice(None)) == grid
    for bad in [(slice(3, 3), slice(0, 2)), (slice(0, 4, 2), slice(0, 2)),
                (slice(0, 2), slice(8, 9))]:
        with pytest.raises(InvalidParameterError, match="window"):
            grid.window(*bad)


def test_hotspot_layer_is_built_once_for_the_same_cells(plain, monkeypatch):
    """Every page of a bundle draws the same force-wide cells: the patches and their GeoJSON
    are made once (keyed by content), and any change in a cell's class or geometry is a
    new layer."""
    import geodemand.outputs.maps.web as web

    calls = []
    real = web.dissolve_bins
    monkeypatch.setattr(web, "dissolve_bins", lambda *a, **k: calls.append(1) or real(*a, **k))
    with shared_geojson():  # the bundle's pages share one store
        cells = plain["hotspot_cells"]
        first = web._hotspot_spec(prepare_layers(**plain).hotspot_cells)
        again = web._hotspot_spec(prepare_layers(**plain).hotspot_cells)  # a fresh copy
        assert len(calls) == 1
        assert again == first and again is not first
        assert first["show"] is True
        again["show"] = False  # callers set this on their own dict
        assert web._hotspot_spec(prepare_layers(**plain).hotspot_cells)["show"] is True
        assert len(calls) == 1
        uncached = web._build_hotspot_spec(prepare_layers(**plain).hotspot_cells)
        assert uncached == first
        # a changed class or a moved cell is another layer
        flipped = cells.copy()
        column = next(c for c in ("bin", "gistar_bin") if c in flipped.columns)
        nonzero = np.flatnonzero(flipped[column].to_numpy() != 0)
        flipped.loc[flipped.index[nonzero[0]], column] = -flipped[column].iloc[nonzero[0]]
        moved = cells.copy()
        moved.geometry = moved.geometry.translate(1.0, 0.0)
        for other in (flipped, moved):
            layer = prepare_layers(**{**plain, "hotspot_cells": other}).hotspot_cells
            spec = web._hotspot_spec(layer)
            assert spec == web._build_hotspot_spec(
                prepare_layers(**{**plain, "hotspot_cells": other}).hotspot_cells
            )
            assert spec != first
        assert len(calls) == 1 + 2 + 1 + 2  # first, two misses, and the three direct builds
    # outside a block every call builds the layer
    web._hotspot_spec(prepare_layers(**plain).hotspot_cells)
    web._hotspot_spec(prepare_layers(**plain).hotspot_cells)
    assert len(calls) == 1 + 2 + 1 + 2 + 2


def test_shared_geojson_reuses_geometries_and_changes_nothing(plain, monkeypatch):
    """Inside the block each distinct geometry is converted once (the LPU pages reuse the
    force page's); the GeoJSON equals the plain conversion, for a subset, a reordered copy
    and the same shapes in another CRS."""
    from geodemand.outputs.maps import layers as map_layers

    hoods = plain["neighbourhoods"]
    subset = hoods.iloc[[2, 0]]
    other_crs = hoods.to_crs("EPSG:3857")
    expected = [to_geojson(g) for g in (hoods, subset, other_crs)]
    converted = []
    real = map_layers._convert_geometries
    monkeypatch.setattr(map_layers, "_convert_geometries",
                        lambda gdf: converted.append(len(gdf)) or real(gdf))
    with map_layers.shared_geojson():
        got = [to_geojson(g) for g in (hoods, subset, other_crs)]
        again = to_geojson(hoods)
        assert map_layers._shared_geometries.get() is not None
    assert map_layers._shared_geometries.get() is None  # the store goes with the block
    assert got == expected
    assert converted == [len(hoods), len(hoods)]  # the subset was all reused; 3857 is new
    first = got[0]["features"]
    assert again["features"][0]["geometry"] is first[0]["geometry"]
    assert got[1]["features"][0]["geometry"] is first[2]["geometry"]


def test_hostile_text_is_escaped_everywhere(inputs):
    m = hotspot_map(**inputs, tiles=None)
    page = map_html(m)
    for payload in XSS_PAYLOADS:
        assert payload not in page, payload
    assert "window.__xss" not in page and "<img src=x" not in page
    # the texts travel as base64 and come back exactly, to be shown with textContent
    decoded = json.dumps(_decoded_payload(page), ensure_ascii=False)
    for payload in XSS_PAYLOADS + JINJA_PAYLOADS:
        assert json.dumps(payload, ensure_ascii=False)[1:-1] in decoded, payload


@pytest.mark.parametrize("payload", JINJA_PAYLOADS)
@pytest.mark.parametrize(
    "field",
    ["title", "period", "window", "data_source", "lpu", "neighbourhood", "column", "value",
     "label", "density_units", "incident", "risk"],
)
def test_template_syntax_in_any_text_is_never_evaluated(plain, field, payload):
    """Jinja in any input text reaches the page as inert data: not rendered, not run."""
    inputs = copy.deepcopy(plain)
    if field in ("title", "period", "window", "data_source", "density_units"):
        inputs[field] = f"x {payload} y"
    elif field == "lpu":
        inputs["lpus"].loc[0, "lpu"] = payload
    elif field == "neighbourhood":
        inputs["neighbourhoods"].loc[1, "neighbourhood"] = payload
    elif field == "column":  # a crime type named by a column
        inputs["patrol_areas"][f"incidents_{payload}"] = 1
    elif field == "value":
        inputs["patrol_areas"]["status"] = payload
    elif field == "incident":
        inputs["incidents"]["label"] = payload
    elif field == "risk":
        inputs["risk"]["label"] = payload
    else:
        inputs["repeat_places"].loc[0, "label"] = payload
    m = hotspot_map(**inputs, tiles=None)
    # crime types named by a column are shown as labels ("_" as spaces, a capital letter)
    shown = crime_type_label(payload) if field == "column" else payload
    for page in (map_html(m), map_html(m, self_contained=False), m.get_root().render()):
        assert payload not in page and shown not in page  # only base64 of it is in the page
        decoded = json.dumps(_decoded_payload(page), ensure_ascii=False)
        assert json.dumps(shown, ensure_ascii=False)[1:-1] in decoded
    assert not JINJA_PROBE.exists()


def test_the_page_template_parts_are_inert():
    """The renderer script and the payload alphabet hold no template or markup syntax."""
    from importlib import resources

    folder = resources.files("geodemand").joinpath("resources")
    code = folder.joinpath("map_renderer.js").read_text()
    for token in ("{{", "{%", "{#", "</script", "innerHTML", "outerHTML", "insertAdjacentHTML",
                  "document.write", "eval(", "Function(", "setTimeout(\"", "srcdoc"):
        assert token not in code, token
    css = folder.joinpath("map_renderer.css").read_text()
    for token in ("{{", "{%", "{#", "</style", "url(", "@import", "expression("):
        assert token not in css, token
    encoded = encode_payload({"t": "{{7*7}} </script> ${x} é"})
    assert re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", encoded)


def test_pages_are_byte_identical_between_renderings(plain):
    """folium's random element ids are replaced by ids numbered in page order."""
    first = map_html(hotspot_map(**plain, tiles=None))
    second = map_html(hotspot_map(**plain, tiles=None))
    assert first == second


def test_renderer_element_page_equals_brancas_template_path(plain, inputs, monkeypatch):
    """The renderer's CSS and script go into the page as finished text (no Jinja compile of
    the payload); the page is byte for byte what branca's MacroElement template path gives."""
    from branca.element import MacroElement
    from folium.template import Template

    import geodemand.outputs.maps.web as web

    class _TemplatePath(MacroElement):
        _template = Template(
            "{% macro header(this, kwargs) %}{{ this.css }}{% endmacro %}"
            "{% macro script(this, kwargs) %}{{ this.script }}{% endmacro %}"
        )

    for layers in (plain, inputs):
        m = hotspot_map(**layers, tiles=None)
        ours = map_html(m, self_contained=False)
        with monkeypatch.context() as patched:
            patched.setattr(web, "_inert_macro_element_class", lambda: _TemplatePath)
            theirs = map_html(hotspot_map(**layers, tiles=None), self_contained=False)
        assert ours == theirs
        assert encode_payload(m.geodemand_payload) in ours


def test_tiles_option(plain):
    assert "tile.openstreetmap.org" in map_html(hotspot_map(**plain), self_contained=False)
    for off in (None, "none", "None"):
        page = map_html(hotspot_map(**plain, tiles=off), self_contained=False)
        assert "tile.openstreetmap.org" not in page
        assert "L.tileLayer" not in page
    with pytest.raises(InvalidParameterError, match="tiles"):
        hotspot_map(**plain, tiles=3)


def test_view_bounds_fit_the_map(plain):
    to_ll = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)
    m = hotspot_map(**plain, tiles=None, view_bounds=(405000, 286000, 406000, 287000))
    page = map_html(m, self_contained=False)
    found = re.search(r"fitBounds\(\s*(\[\[.*?\]\])", page, re.S)
    (south, west), (north, east) = json.loads(found.group(1))
    lon, lat = to_ll.transform([405000, 406000], [286000, 287000])
    assert west == pytest.approx(lon[0], abs=2e-4) and east == pytest.approx(lon[1], abs=2e-4)
    assert south == pytest.approx(lat[0], abs=2e-4) and north == pytest.approx(lat[1], abs=2e-4)


def test_real_west_midlands_boundaries(wm_areas):
    m = hotspot_map(
        lpus=wm_areas.lpus,
        neighbourhoods=wm_areas.neighbourhoods,
        title="West Midlands",
        period="2018-06 (month)",
        window="2018-06",
        data_source="police.uk",
        synthetic=False,
        tiles=None,
    )
    counts = {s["name"]: len(s["data"]["features"]) for s in m.geodemand_payload["layers"]}
    assert counts == {
        "LPU boundaries": len(wm_areas.lpus),
        "Neighbourhoods": len(wm_areas.neighbourhoods),
    }
    assert counts["Neighbourhoods"] == 163
    tips = [f["properties"]["tip"] for f in _spec(m, "lpus")["data"]["features"]]
    assert tips == [str(v) for v in wm_areas.lpus["lpu"]]


# ---------------------------------------------------------------------------- saving
def test_save_map_is_self_contained_and_atomic(plain, tmp_path):
    m = hotspot_map(**plain, tiles=None)
    path = save_map(m, tmp_path / "out" / "map.html")
    page = path.read_text(encoding="utf-8")
    assert list(path.parent.iterdir()) == [path]  # no temporary file left
    links = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page)
    assert [u for u in links if not u.startswith("data:")] == []
    assert "Leaflet 1.9.3" in page  # leaflet.js, inlined
    assert "L.MarkerClusterGroup" in page and "jQuery v3.7.1" in page
    assert ".marker-cluster-small" in page  # markercluster CSS
    assert "url(images/" not in page  # Leaflet's CSS images became data URLs
    linked = map_html(m, self_contained=False)
    assert 'src="https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"' in linked
    with pytest.raises(InvalidParameterError, match="html"):
        save_map(m, tmp_path / "map.png")


def test_save_map_refuses_an_unknown_remote_asset_and_keeps_the_old_file(plain, tmp_path):
    m = hotspot_map(**plain, tiles=None)
    m.get_root().header.add_child(folium.JavascriptLink("https://example.invalid/x.js"))
    path = tmp_path / "map.html"
    path.write_text("old")
    with pytest.raises(GeodemandError, match="example.invalid"):
        save_map(m, path)
    assert path.read_text() == "old"
    assert list(tmp_path.iterdir()) == [path]


def test_hotspot_map_is_exported_lazily():
    assert geodemand.hotspot_map is hotspot_map


# ---------------------------------------------------------------------------- static PNG
def _by_gid(fig, gid):
    return [a for a in fig.findobj() if a.get_gid() == gid]


def test_static_figure_draws_every_layer(plain):
    fig = hotspot_figure(**plain, figsize=(6, 5), dpi=50)
    ax = fig.axes[0]
    (image,) = _by_gid(fig, "density")
    grid = plain["density_grid"]
    assert image.get_extent() == [grid.x_min, grid.x_max, grid.y_min, grid.y_max]
    np.testing.assert_array_equal(image.get_array(), colour_density(plain["density"], 500.0))
    ranks = sorted(t.get_text() for t in _by_gid(fig, "patrol_rank"))
    assert ranks == ["1", "2", "3", "4"]
    rank_pos = {t.get_text(): t.get_position() for t in _by_gid(fig, "patrol_rank")}
    patrol = plain["patrol_areas"]
    for rank, geom in zip(patrol["rank"], patrol.geometry, strict=True):
        assert geom.contains(shapely.Point(rank_pos[str(rank)]))
    (lines,) = _by_gid(fig, "patrol_areas")
    assert len(lines.get_paths()) == 5  # 3 boxes + a MultiPolygon of 2 rings
    (scatter,) = _by_gid(fig, "repeat_places")
    np.testing.assert_allclose(scatter.get_offsets(), plain["repeat_places"][["x", "y"]])
    hot = _by_gid(fig, "hotspots")
    colours = {tuple(np.round(c.get_facecolor()[:3], 3)) for c in hot}
    import matplotlib.colors as mcolors

    assert colours == {tuple(np.round(mcolors.to_rgb(BIN_COLOURS[b]), 3)) for b in (3, -2)}
    assert len(_by_gid(fig, "lpus")) == 1 and len(_by_gid(fig, "neighbourhoods")) == 1
    (bar,) = [a for a in fig.axes if a.get_gid() == "density_colorbar"]
    assert bar.get_xlabel() == "Density (incidents per km²)"
    texts = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    assert "Birmingham plain three" in texts
    assert any("Period: week 2025-W47 plain two" in t for t in texts)
    assert len(_by_gid(fig, "synthetic_banner")) == 1
    assert ax.get_xlim()[0] < grid.x_min and ax.get_xlim()[1] > grid.x_max
    scale = [a for a in _by_gid(fig, "scale_bar") if hasattr(a, "get_text")]
    assert scale[0].get_text() in ("1 km", "500 m", "2 km")


def test_static_png_file(plain, tmp_path):
    path = hotspot_png(tmp_path / "map.png", **plain, figsize=(6, 5), dpi=50)
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert struct.unpack(">II", data[16:24]) == (300, 250)
    assert list(tmp_path.iterdir()) == [path]
    from PIL import Image

    def red_pixels(p):
        rgb = np.asarray(Image.open(p).convert("RGB")).astype(int)
        return int(np.sum((rgb[..., 0] > 190) & (rgb[..., 1] < 20) & (rgb[..., 2] < 20)))

    assert red_pixels(path) > 200  # the SYNTHETIC DATA banner (#cc0000)
    real = hotspot_png(
        tmp_path / "real.png", **{**plain, "synthetic": False}, figsize=(6, 5), dpi=50
    )
    assert red_pixels(real) < 20
    with pytest.raises(InvalidParameterError, match="png"):
        hotspot_png(tmp_path / "map.jpg", **plain)


def test_static_text_is_not_read_as_mathematics(inputs):
    # four "$": as mathtext this would fail to render (\\frac needs arguments)
    inputs["title"] = r"Cost $\frac$ per ${a}$ " + XSS_TEMPLATE[1:-1].replace("$", "")
    inputs["period"] = r"week $\frac$ and $y$"
    fig = hotspot_figure(**inputs, figsize=(5, 4), dpi=40)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")  # raises ValueError if any text were parsed as maths
    (title,) = _by_gid(fig, "title")
    assert title.get_text() == inputs["title"]
    assert fig.axes[0].get_title().startswith(r"Period: week $\frac$ and $y$")
    long = hotspot_figure(**{**inputs, "data_source": "word " * 60}, figsize=(5, 4), dpi=40)
    lines = long.axes[0].get_title().split("\n")
    assert len(lines) > 1 and max(map(len, lines)) <= 5 * 14


def test_static_default_size_follows_the_map_shape(plain):
    fig = hotspot_figure(**plain)
    width, height = fig.get_size_inches()
    assert width == 10.0
    assert 10.0 * 3000 / 4000 < height < 10.0 * 3000 / 4000 + 3  # 4 km x 3 km map + margins


def test_static_map_of_lon_lat_layers_uses_utm(plain, caplog):
    lpus = plain["lpus"].to_crs("EPSG:4326")
    with caplog.at_level(logging.INFO, logger="geodemand"):
        fig = hotspot_figure(
            lpus=lpus,
            title="t",
            period="p",
            window="w",
            data_source="s",
            synthetic=False,
            figsize=(4, 4),
            dpi=40,
        )
    assert "UTM zone 30N" in caplog.text
    x0, x1 = fig.axes[0].get_xlim()
    assert 560_000 < x0 < x1 < 620_000  # UTM 30N eastings of Birmingham, metres


def test_nice_length():
    assert [nice_length(v) for v in (0.9, 1.0, 7.0, 1999.0, 2500.0, 12_000.0)] == [
        0.5,
        1.0,
        5.0,
        1000.0,
        2000.0,
        10_000.0,
    ]
    with pytest.raises(InvalidParameterError):
        nice_length(0.0)


def test_static_map_names_the_lpus_and_keeps_its_title_in_the_picture(plain):
    from matplotlib.transforms import Bbox

    long_source = "police.uk street data, " + ", ".join(f"2020-{m:02d}.csv" for m in range(1, 13))
    fig = hotspot_figure(**{**plain, "data_source": long_source}, figsize=(6, 5), dpi=60)
    labels = sorted(t.get_text() for t in _by_gid(fig, "lpu_labels"))
    assert labels == sorted(plain["lpus"]["lpu"])
    (points,) = _by_gid(fig, "incidents")
    np.testing.assert_allclose(points.get_offsets(), plain["incidents"][["x", "y"]])
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    page = Bbox.from_bounds(0, 0, *fig.canvas.get_width_height())
    (title,) = _by_gid(fig, "title")
    box = title.get_window_extent(renderer)
    assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1
    sub = fig.axes[0].title.get_window_extent(renderer)
    assert sub.y1 <= box.y0 + 1  # the subtitle sits below the title, not over it
    lines = fig.axes[0].get_title().split("\n")
    assert len(lines) == 2 and lines[-1].endswith("…")  # cut to two lines


def test_hostile_values_reach_the_static_map_as_plain_text(inputs):
    fig = hotspot_figure(**inputs, figsize=(5, 4), dpi=40)
    texts = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    assert any(XSS_IMG in t for t in texts)  # the period line, verbatim
