"""Render the README's screenshots of the bundled demo: the force map and a popup.

Usage::

    python scripts/screenshots.py [--out docs/img] [--chromium PATH]

Builds the force-wide map of the bundled SYNTHETIC West Midlands demo history with the public
API only (``read_incidents``, ``read_areas``/``assign_areas``, ``rank_targets``,
``patrol_areas``, ``hotspot_map``), saves it self-contained without background tiles,
opens it in headless Chromium at 1366 × 768 (driven as in ``tests/browser_util.py``) and
writes ``force-map.png`` (the whole map) and ``popup.png`` (the card of the force's
top-ranked patrol area). Run it again whenever the maps change; the output is the same for
the same code and data.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # browser_util: the headless Chromium driver

#: Viewport of both screenshots (a common laptop screen).
VIEWPORT = (1366, 768)
#: Repeat places drawn per LPU.
PLACES_PER_LPU = 5


def build_inputs() -> dict:
    """Inputs of the force-wide map of the demo's latest complete week (public API only)."""
    import geopandas as gpd

    import geodemand
    from geodemand.demand.periods import choose_period
    from geodemand.ingest.synth import demo_history_path

    bounds = ROOT / "data" / "boundaries" / "west-midlands"
    table = geodemand.read_incidents(str(demo_history_path()))
    areas = geodemand.read_areas(
        bounds / "lpus.geojson", bounds / "neighbourhoods.geojson", crs=table.crs
    )
    table = geodemand.assign_areas(table, areas)
    period = choose_period(table.frame["occurred"], table.date_precision, "week")
    ranking = geodemand.rank_targets(table, window_end=period.end - pd.Timedelta(seconds=1))
    plan = geodemand.patrol_areas(ranking, None, areas)
    p = ranking.params

    patrol = plan.areas.copy()
    # the force map is numbered by force-wide rank; the card names the place by its
    # neighbourhood(s) and shows the LPU rank as well
    patrol["label"] = patrol["neighbourhoods"].str.split("; ").str[0]
    patrol = patrol.assign(lpu_rank=patrol["rank"], rank=patrol["force_rank"])
    patrol = patrol.drop(columns=["force_rank"])
    places = ranking.places[ranking.places["rank"] <= PLACES_PER_LPU].copy()
    places["label"] = "Place near " + places["neighbourhood"].astype(str)
    frame = ranking.incidents
    week = frame[(frame["occurred"] >= period.start) & (frame["occurred"] < period.end)]
    incidents = pd.DataFrame(
        {
            "x": week["x"].to_numpy(),
            "y": week["y"].to_numpy(),
            "crime_type": week["crime_type"].to_numpy(),
            "occurred": week["occurred"].to_numpy(),
            "date_precision": week["date_precision"].to_numpy(),
            "label": ("near " + week["neighbourhood"].astype(str)).to_numpy(),
        }
    )
    force = gpd.read_file(bounds / "force.geojson").to_crs(table.crs)
    return dict(
        title="Force-wide hot spots",
        period=period.describe(),
        window=f"{p['window_start']} to {p['window_end']} ({p['window_days']} days)",
        data_source=f"geodemand synthetic demo history (West Midlands), "
        f"{len(table.frame):,} incidents",
        synthetic=True,
        lpus=areas.lpus,
        neighbourhoods=areas.neighbourhoods,
        force_area=force,
        density=ranking.density,
        hotspot_cells=ranking.hotspots.to_geodataframe(only_significant=True),
        patrol_areas=patrol,
        repeat_places=places,
        incidents=incidents,
        crs=table.crs,
    )


def build_map(tiles=None):
    """The force-wide map (:func:`build_inputs`) as a folium map."""
    import geodemand

    return geodemand.hotspot_map(
        **build_inputs(),
        tiles=tiles,
        # a busy week's thousands of incidents would hide the force-wide picture
        hidden_layers=("risk", "emerging", "incidents"),
    )


JS_OPEN_TOP = r"""
new Promise(function (resolve) {
  var gm = window.geodemandMap, map = gm.map, marker = null;
  gm.layers.patrol_areas.eachLayer(function (l) {
    if (l instanceof L.Marker && l.getElement().textContent.trim() === "1") { marker = l; }
  });
  map.addLayer(gm.layers.incidents);  // this week's incidents around the top area
  map.setView(marker.getLatLng(), 15, {animate: false});
  setTimeout(function () {
    marker.openPopup();
    setTimeout(resolve, 1200);
  }, 600);
})
"""


def main(argv: list[str] | None = None) -> int:
    from browser_util import Browser, StaticServer, find_chromium

    from geodemand.outputs.maps.web import save_map

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--chromium", help="Chromium executable (default: found on PATH)")
    args = parser.parse_args(argv)
    chromium = args.chromium or find_chromium()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="geodemand-shots-") as tmp:
        site = Path(tmp)
        save_map(build_map(), site / "force.html")
        with StaticServer(site) as server, Browser(chromium, *VIEWPORT) as browser:
            browser.send(
                "Emulation.setDeviceMetricsOverride",
                width=VIEWPORT[0], height=VIEWPORT[1], deviceScaleFactor=1, mobile=False,
            )
            browser.navigate(server.url("force.html"))
            browser.wait_until("window.geodemandMap !== undefined")
            browser.settle(1.5)
            if browser.console_errors:
                raise RuntimeError(f"the map logged errors: {browser.console_errors}")
            browser.screenshot(args.out / "force-map.png")
            browser.evaluate(JS_OPEN_TOP, await_promise=True)
            browser.screenshot(args.out / "popup.png")
    print(f"wrote {args.out / 'force-map.png'} and {args.out / 'popup.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
