"""The generated hot-spot map in a real (headless Chromium) browser.

A map built from hand-made inputs whose every text field holds a hostile string is saved
self-contained with no tiles, served from a temporary folder over http://127.0.0.1 and
loaded headless through the DevTools protocol (tests/browser_util.py). Chromium missing: a
failure when the CI environment variable is set, else a skip.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from browser_util import (
    JINJA_PAYLOADS,
    JINJA_PROBE,
    XSS_IMG,
    XSS_PAYLOADS,
    XSS_SCRIPT,
    XSS_TEMPLATE,
    Browser,
    StaticServer,
    find_chromium,
    map_inputs,
)

import geodemand
from geodemand.outputs.maps.cards import crime_type_label
from geodemand.outputs.maps.web import PATROL_COLOUR, save_map

#: A common laptop screen: every popup must fit it.
VIEWPORT = (1366, 768)

# Count the patrol polygons Leaflet drew: SVG paths of the patrol layer attached to the page.
JS_COUNT_PATROL = r"""
(function () {
  var n = 0;
  geodemandMap.layers.patrol_areas.eachLayer(function (l) {
    if (!(l instanceof L.GeoJSON)) return;
    l.eachLayer(function (s) {
      var p = s._path;
      var drawn = p && document.body.contains(p) && p.getAttribute("d").length > 10;
      if (s instanceof L.Polygon && drawn) n++;
    });
  });
  return n;
})()
"""

# Open every popup and tooltip whose text comes from the data; return what they show.
JS_OPEN_EVERYTHING = r"""
(function () {
  var gm = window.geodemandMap, map = gm.map;
  var out = {patrol: [], repeat: [], incidents: [], tips: [], bounds: [], risk: []};
  ["risk", "emerging"].forEach(function (k) { map.addLayer(gm.layers[k]); });
  gm.layers.patrol_areas.eachLayer(function (l) {
    var p = l.getPopup && l.getPopup();
    if (!p) return;
    l.openPopup();
    out.patrol.push(p.getElement().textContent);
  });
  [["repeat_places", "repeat"], ["incidents", "incidents"]].forEach(function (pair) {
    gm.layers[pair[0]].getLayers().forEach(function (m) {
      var p = m.getPopup();
      p.setLatLng(m.getLatLng());
      p.openOn(map);
      out[pair[1]].push(p.getElement().textContent);
      var t = L.tooltip().setContent(m.getTooltip().getContent()).setLatLng(m.getLatLng());
      map.openTooltip(t);
      out.tips.push(t.getElement().textContent);
    });
  });
  ["lpus", "neighbourhoods", "hotspots", "emerging", "risk"].forEach(function (k) {
    gm.layers[k].eachLayer(function (g) {
      g.eachLayer(function (s) {
        s.fire("mouseover", {latlng: s.getCenter()}, true);
        var all = document.querySelectorAll(".leaflet-tooltip");
        out.bounds.push(all.length ? all[all.length - 1].textContent : null);
        s.fire("mouseout", {latlng: s.getCenter()}, true);
        if (k === "risk") {
          s.openPopup(s.getCenter());
          out.risk.push(s.getPopup().getElement().textContent);
        }
      });
    });
  });
  map.closePopup();
  ["risk", "emerging"].forEach(function (k) { map.removeLayer(gm.layers[k]); });
  return out;
})()
"""

# Open the rank-1 patrol area's popup from its rank marker and wait until the map stops panning.
JS_OPEN_RANK1 = r"""
new Promise(function (resolve) {
  var gm = window.geodemandMap, map = gm.map, marker = null;
  gm.layers.patrol_areas.eachLayer(function (l) {
    if (l instanceof L.Marker && l.getElement().textContent.trim() === "1") { marker = l; }
  });
  map.setView(marker.getLatLng(), 16, {animate: false});
  var done = function () { setTimeout(resolve, 300); };
  map.once("moveend", done);
  marker.openPopup();
  setTimeout(done, 1500);  // no pan needed: no moveend
})
"""

JS_POPUP_GEOMETRY = r"""
(function () {
  var popup = document.querySelector(".leaflet-popup");
  var content = popup.querySelector(".leaflet-popup-content");
  var r = popup.getBoundingClientRect(), t = document.querySelector(".gd-title")
    .getBoundingClientRect();
  var before = content.scrollTop;
  content.scrollTop = 80;
  return {
    left: r.left, top: r.top, right: r.right, bottom: r.bottom,
    titleBottom: t.bottom,
    viewport: [window.innerWidth, window.innerHeight],
    scrollHeight: content.scrollHeight, clientHeight: content.clientHeight,
    overflowY: getComputedStyle(content).overflowY,
    scrolledFrom: before, scrolledTo: content.scrollTop,
    heading: content.querySelector("h4").textContent
  };
})()
"""


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    chromium = find_chromium()
    site = tmp_path_factory.mktemp("site")
    inputs = map_inputs(hostile=True)
    m = geodemand.hotspot_map(**inputs, tiles=None)
    save_map(m, site / "map.html")
    # the patrol GeoJSON as an export would write it (independent writer: GDAL via pyogrio)
    patrol = inputs["patrol_areas"].copy()
    patrol["neighbourhoods"] = patrol["neighbourhoods"].map(", ".join)
    patrol.to_crs("EPSG:4326").to_file(site / "patrol_areas.geojson", driver="GeoJSON")
    shots = tmp_path_factory.mktemp("screenshots")
    with StaticServer(site) as server, Browser(chromium, *VIEWPORT) as browser:
        browser.send(
            "Emulation.setDeviceMetricsOverride",
            width=VIEWPORT[0],
            height=VIEWPORT[1],
            deviceScaleFactor=1,
            mobile=False,
        )
        browser.navigate(server.url("map.html"))
        browser.wait_until("window.geodemandMap !== undefined")
        browser.settle(0.5)
        yield SimpleNamespace(
            browser=browser,
            server=server,
            site=site,
            shots=shots,
            inputs=inputs,
            xss_after_load=browser.evaluate("typeof window.__xss"),
            errors_after_load=list(browser.console_errors),
        )


@pytest.mark.browser
def test_page_loads_with_no_console_errors_and_nothing_remote(page):
    assert page.errors_after_load == []
    local = f"http://127.0.0.1:{page.server.port}/"
    remote = [
        u for u in page.browser.requests if not (u.startswith(local) or u.startswith("data:"))
    ]
    assert remote == []
    assert page.browser.requests[0] == page.server.url("map.html")
    # every layer exists; risk and emerging start hidden; the density image really decoded
    keys = page.browser.evaluate("Object.keys(geodemandMap.layers).sort()")
    assert keys == sorted(
        ["density", "emerging", "hotspots", "incidents", "lpus", "neighbourhoods",
         "patrol_areas", "repeat_places", "risk"]
    )
    shown = page.browser.evaluate(
        "Object.keys(geodemandMap.layers).filter(k => geodemandMap.map.hasLayer("
        "geodemandMap.layers[k])).sort()"
    )
    assert shown == sorted(set(keys) - {"risk", "emerging"})
    width = page.browser.evaluate("geodemandMap.layers.density.getElement().naturalWidth")
    assert width > 0


@pytest.mark.browser
def test_rendered_patrol_polygons_equal_geojson_features(page):
    features = json.loads((page.site / "patrol_areas.geojson").read_text())["features"]
    assert len(features) == len(page.inputs["patrol_areas"]) == 4
    assert page.browser.evaluate(JS_COUNT_PATROL) == len(features)
    # independent count: SVG paths stroked in the patrol colour
    dom = page.browser.evaluate(
        f"document.querySelectorAll('path[stroke=\"{PATROL_COLOUR}\"]').length"
    )
    assert dom == len(features)
    labels = page.browser.evaluate(
        "Array.from(document.querySelectorAll('.gd-rank-icon')).map(e => e.textContent.trim())"
    )
    assert sorted(labels) == ["1", "2", "3", "4"]


@pytest.mark.browser
def test_rank_markers_are_above_neutral_clusters(page):
    b = page.browser
    inside = b.evaluate(
        "Array.from(document.querySelectorAll('.gd-rank-icon'))"
        ".every(e => e.parentElement.classList.contains('leaflet-gd-ranks-pane'))"
    )
    assert inside
    ranks_z = int(b.evaluate("getComputedStyle(geodemandMap.map.getPane('gd-ranks')).zIndex"))
    markers_z = int(b.evaluate("getComputedStyle(geodemandMap.map.getPane('markerPane')).zIndex"))
    assert ranks_z > markers_z
    b.evaluate("void geodemandMap.map.setZoom(11, {animate: false})")
    b.settle(0.5)
    colours = b.evaluate(
        "Array.from(document.querySelectorAll('.gd-cluster div'))"
        ".map(e => getComputedStyle(e).backgroundColor)"
    )
    assert colours, "no cluster drawn at zoom 11"
    for colour in colours:  # greys and a purple-grey: no traffic-light green/yellow/orange
        r, g, bl = (int(v) for v in colour[colour.index("(") + 1 :].split(",")[:3])
        assert g <= max(r, bl) + 10, colour
    assert b.evaluate("document.querySelectorAll('.marker-cluster-small').length") == 0


@pytest.mark.browser
def test_title_banner_and_legend_are_shown_as_text(page):
    title = page.browser.evaluate("document.querySelector('.gd-title').textContent")
    assert "SYNTHETIC DATA" in title
    assert page.inputs["title"] in title  # the hostile title is displayed literally
    assert page.inputs["data_source"] in title
    legend = page.browser.evaluate("document.querySelector('.gd-legend').textContent")
    assert "Density (incidents per km²)" in legend
    assert "Hot spot, 99 % confidence" in legend
    layer_names = page.browser.evaluate(
        "Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))"
        ".map(e => e.textContent.trim())"
    )
    assert len(layer_names) == 9
    assert "Density (incidents per km²)" in layer_names
    # the title box is capped: it never covers more than a strip of the map
    box = page.browser.evaluate(
        "(function(){var r = document.querySelector('.gd-title').getBoundingClientRect();"
        "return [r.width, r.height];})()"
    )
    assert box[0] <= 0.45 * VIEWPORT[0] and box[1] <= 110


@pytest.mark.browser
def test_popup_fits_the_window_and_scrolls(page):
    b = page.browser
    b.evaluate(JS_OPEN_RANK1, await_promise=True)
    geo = b.evaluate(JS_POPUP_GEOMETRY)
    assert geo["viewport"] == list(VIEWPORT)
    assert geo["heading"] == "New Street"  # the heading is on screen ...
    assert 0 <= geo["left"] and geo["right"] <= VIEWPORT[0]
    assert 0 <= geo["top"] and geo["bottom"] <= VIEWPORT[1]  # ... and so is the whole card
    assert geo["top"] >= geo["titleBottom"]  # panned clear of the title box
    # the long card scrolls inside the popup
    assert geo["scrollHeight"] > geo["clientHeight"] and geo["overflowY"] in ("auto", "scroll")
    assert geo["scrolledFrom"] == 0 and geo["scrolledTo"] > 0
    b.screenshot(page.shots / "popup.png")
    b.evaluate("void geodemandMap.map.closePopup()")
    assert b.console_errors == []


@pytest.mark.browser
def test_hostile_text_never_executes(page):
    assert page.xss_after_load == "undefined"
    shown = page.browser.evaluate(JS_OPEN_EVERYTHING)
    page.browser.settle(0.5)
    assert page.browser.evaluate("typeof window.__xss") == "undefined"
    assert page.browser.console_errors == []  # an injected <img src=x> would also 404
    assert page.browser.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
    # 4 patrol polygons + 4 rank markers, 5 places, 6 incidents, 11 point tooltips;
    # 2 LPUs + 4 neighbourhoods + 3 Gi* patches + 2 emerging patches + 4 risk areas
    counts = [len(shown[k]) for k in ("patrol", "repeat", "incidents", "tips", "bounds", "risk")]
    assert counts == [8, 5, 6, 11, 15, 4]
    texts = " ".join(t for v in shown.values() for t in v if t)
    for payload in XSS_PAYLOADS + JINJA_PAYLOADS:  # shown literally, as text
        assert payload in texts, payload
    title = page.browser.evaluate("document.querySelector('.gd-title').textContent")
    rest = title
    for payload in XSS_PAYLOADS + JINJA_PAYLOADS:  # (the probe path may hold "49": a pid)
        rest = rest.replace(payload, "")
    assert "{{7*7}}" in title and "49" not in rest  # never evaluated as a template
    assert not JINJA_PROBE.exists()
    assert any(XSS_SCRIPT in t for t in shown["bounds"])  # LPU name tooltip
    assert any(XSS_IMG in t for t in shown["bounds"])  # neighbourhood name tooltip
    assert any(XSS_IMG in t for t in shown["risk"])  # risk area card
    assert any(XSS_TEMPLATE in t for t in shown["repeat"])  # hot hours on a place card
    assert any(XSS_IMG in t for t in shown["tips"])  # place name in a tooltip
    bad_type = crime_type_label(page.inputs["incidents"]["crime_type"].iloc[2])
    assert any(t.startswith(bad_type) for t in shown["incidents"])  # crime type as a title
    rank1 = next(t for t in shown["patrol"] if t.startswith("New Street"))
    for part in ("Rank 1", "Top crime types", "Violence and sexual offences22 · 39 %",
                 "Dosage4 visits a day × 15 min", "Review byMon 8 Dec 2025"):
        assert part in rank1, part
    assert "Drugs" not in rank1 and "405" not in rank1


@pytest.mark.browser
def test_screenshot_is_written(page):
    path = page.browser.screenshot(page.shots / "map.png")
    data = path.read_bytes()
    assert path.parent == page.shots and data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == VIEWPORT
    from PIL import Image

    rgb = np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3)
    assert len(np.unique(rgb, axis=0)) > 50  # a drawn map, not a blank page


# ---------------------------------------------------------------------------- the CI rule
def _no_browser(monkeypatch):
    monkeypatch.delenv("GEODEMAND_CHROMIUM", raising=False)
    monkeypatch.setattr("browser_util.shutil.which", lambda name: None)


def test_missing_chromium_fails_under_ci(monkeypatch):
    _no_browser(monkeypatch)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="chromium not found"):
        find_chromium()


def test_missing_chromium_skips_locally(monkeypatch):
    _no_browser(monkeypatch)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="chromium not found"):
        find_chromium()


def test_chromium_override_is_used(monkeypatch, tmp_path):
    fake = tmp_path / "my-chromium"
    fake.write_text("")
    monkeypatch.setenv("GEODEMAND_CHROMIUM", str(fake))
    assert Path(find_chromium()) == fake


@pytest.mark.browser
def test_map_with_every_layer_empty_loads_cleanly(tmp_path):
    """A tiny run (no hot spots, patrol areas, places, incidents) still gives a working page."""
    chromium = find_chromium()
    inputs = map_inputs(hostile=False)
    empty = {
        k: (v.iloc[:0] if hasattr(v, "iloc") and k != "lpus" else v) for k, v in inputs.items()
    }
    save_map(geodemand.hotspot_map(**empty, tiles=None), tmp_path / "empty.html")
    with StaticServer(tmp_path) as server, Browser(chromium, *VIEWPORT) as browser:
        browser.navigate(server.url("empty.html"))
        browser.wait_until("window.geodemandMap !== undefined")
        browser.settle(0.3)
        assert browser.console_errors == []
        legend = browser.evaluate("document.querySelector('.gd-legend').textContent")
        assert "No significant cells" in legend
        assert browser.evaluate("Object.keys(geodemandMap.layers).length") == 9
