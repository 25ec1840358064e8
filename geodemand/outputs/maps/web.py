"""The interactive hot-spot map: folium (Leaflet) page of validated :class:`MapLayers`.

Untrusted text (names, crime types, column names, the title, period, window, data source,
file names) never reaches a template engine or an HTML parser. folium (whose branca elements
compile their rendered output as Jinja templates again) draws only the frame of the page;
every layer, popup, tooltip, the title box and the legend travel as one JSON payload encoded
in base64 (an alphabet that cannot hold template syntax or markup) and are built in the
browser by a constant script (``resources/map_renderer.js``) with DOM calls and
``textContent``. Every GeoJSON sent to the map is WGS84 longitude/latitude (6 decimals,
~0.1 m).

The density raster is warped to Web Mercator (EPSG:3857) with :func:`rasterio.warp.reproject`
(nearest neighbour, at half the source cell size) before it is coloured, because Leaflet
stretches an image overlay linearly in Web Mercator between its latitude/longitude corners.

:func:`save_map` writes the page atomically and, by default, self-contained: Leaflet,
Leaflet.markercluster and jQuery are inlined from the ``XStatic-*`` packages, so the map works
with no internet access (use ``tiles=None`` for no background tiles). The page also defines
``window.geodemandMap = {map, layers}`` (the Leaflet map and its overlay layers by key:
``lpus``, ``neighbourhoods``, ``density``, ``hotspots``, ``patrol_areas``, ``repeat_places``)
for embedding and browser tests.
"""


from __future__ import annotations

import base64
import io
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geodemand._announce import announce
from geodemand._atomic import write_text_atomic
from geodemand.errors import GeodemandError, InternalConsistencyError, InvalidParameterError
from geodemand.grid import Grid
from geodemand.outputs.maps.layers import (
    DensityLayer,
    MapLayers,
    dissolve_bins,
    prepare_layers,
    to_geojson,
    transformer,
)
from geodemand.outputs.maps.style import (
    BIN_COLOURS,
    BIN_LABELS,
    COORD_DECIMALS,
    DENSITY_CMAP,
    DENSITY_OPACITY,
    LPU_COLOUR,
    MAX_OVERLAY_PIXELS,
    MAX_ZOOM,
    NEIGHBOURHOOD_COLOUR,
    OVERLAY_UPSAMPLE,
    PATROL_COLOUR,
    REPEAT_COLOUR,
    WEB_MERCATOR,
    WGS84,
    colour_density,
    format_value,
    legend_ticks,
    present_bins,
)


# ---------------------------------------------------------------------------- density image
@dataclass(frozen=True)
class DensityOverlay:
    """A coloured density image for a Leaflet image overlay.

    Attributes
    ----------
    rgba : ndarray of uint8, shape (height, width, 4)
        The surface warped to Web Mercator (row 0 north) and coloured; alpha 0 where the
        density is 0 or NaN.
    values : ndarray of float64, shape (height, width)
        The warped density (same units as the source), NaN off the source grid.
    bounds : ((south, west), (north, east))
        Latitude/longitude corners, degrees (the overlay's Web Mercator rectangle).
    transform : affine.Affine
        Pixel -> EPSG:3857 metres of the image.
    vmax : float
        Density at the top of the colour scale.
    """

    rgba: np.ndarray
    values: np.ndarray
    bounds: tuple[tuple[float, float], tuple[float, float]]
    transform: Any
    vmax: float

    def png_bytes(self) -> bytes:
        """The image as PNG bytes."""
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(self.rgba, mode="RGBA").save(buf, format="PNG")
        return buf.getvalue()

    def data_url(self) -> str:
        """The image as a ``data:image/png;base64,...`` URL."""
        return "data:image/png;base64," + base64.b64encode(self.png_bytes()).decode("ascii")


def density_overlay(layer: DensityLayer, *, max_pixels: int = MAX_OVERLAY_PIXELS) -> DensityOverlay:
    """Warp a density layer to Web Mercator and colour it (see :class:`DensityOverlay`).

    The image covers the Web Mercator rectangle around the whole grid (edges densified).
    Its square pixels are the grid's cell size in Web Mercator metres divided by
    :data:`OVERLAY_UPSAMPLE` (coarser when the image would exceed ``max_pixels`` pixels), and
    the warp is nearest-neighbour, so every pixel shows the value of the source cell under
    its centre.
    """
    from affine import Affine
    from rasterio.warp import Resampling, reproject, transform_bounds

    grid = layer.grid
    # the Web Mercator rectangle that covers the whole grid (edges densified)
    left, bottom, right, top = transform_bounds(
        grid.crs, WEB_MERCATOR, *grid.bounds, densify_pts=21
    )
    native = math.sqrt((right - left) * (top - bottom) / (grid.n_cols * grid.n_rows))
    res = native / OVERLAY_UPSAMPLE
    if (right - left) * (top - bottom) / res**2 > max_pixels:
        res = math.sqrt((right - left) * (top - bottom) / max_pixels)
        announce(f"density overlay coarsened to {res:,.0f} m Web Mercator pixels (image size)")
    width = max(1, math.ceil((right - left) / res - 1e-9))
    height = max(1, math.ceil((top - bottom) / res - 1e-9))
    transform = Affine.translation(left, top) @ Affine.scale(res, -res)
    warped = np.full((height, width), np.nan, dtype=np.float64)
    reproject(
        source=np.ascontiguousarray(layer.values, dtype=np.float64),
        destination=warped,
        src_transform=grid.transform,
        src_crs=grid.crs,
        src_nodata=np.nan,
        dst_transform=transform,
        dst_crs=WEB_MERCATOR,
        dst_nodata=np.nan,
        resampling=Resampling.nearest,
    )
    right, bottom = left + width * res, top - height * res
    lon, lat = transformer(WEB_MERCATOR, WGS84).transform([left, right], [bottom, top])
    bounds = ((float(lat[0]), float(lon[0])), (float(lat[1]), float(lon[1])))
    warped.setflags(write=False)
    return DensityOverlay(
        rgba=colour_density(warped, layer.vmax),
        values=warped,
        bounds=bounds,
        transform=transform,
        vmax=layer.vmax,
    )


# ---------------------------------------------------------------------------- popups
# A popup is a *card*: plain data (``{"title": str, "rows": [...]}``, each row either
# ``{"k": label, "v": value}`` or a section heading ``{"h": text}``) that the page's script turns
# into DOM nodes with ``textContent``. No input text is ever parsed as HTML or as a template.
def _score_label(column: str) -> str:
    return column[len("score_") :].replace("_", " ") or column


def _row(label: str, value: Any) -> dict[str, str]:
    return {"k": str(label), "v": format_value(value)}


def _heading(title: str) -> dict[str, str]:
    return {"h": str(title)}


_PATROL_FIRST = ("area_id", "lpu", "neighbourhoods", "score")
_PATROL_DOSAGE = (
    ("visits_per_day", "Visits per day"),
    ("minutes_per_visit", "Minutes per visit"),
    ("review_date", "Review date"),
)
_PATROL_LABELS = {"area_id": "Area", "lpu": "LPU", "neighbourhoods": "Neighbourhoods"}


def patrol_card(row: pd.Series) -> dict[str, Any]:
    """The popup card of one patrol area: rank, score breakdown, dosage, the rest (plain text)."""
    cols = [c for c in row.index if c != "geometry" and not _is_geometry(row[c])]
    rows: list[dict[str, str]] = []
    for c in _PATROL_FIRST:
        if c in cols:
            rows.append(_row(_PATROL_LABELS.get(c, c.replace("_", " ")), row[c]))
    score_cols = [c for c in cols if c.startswith("score_")]
    if score_cols:
        rows.append(_heading("Score breakdown"))
        rows.extend(_row(_score_label(c), row[c]) for c in score_cols)
    dosage = [(c, label) for c, label in _PATROL_DOSAGE if c in cols]
    if dosage:
        rows.append(_heading("Dosage"))
        rows.extend(_row(label, row[c]) for c, label in dosage)
    shown = set(_PATROL_FIRST) | set(score_cols) | {c for c, _ in _PATROL_DOSAGE} | {"rank"}
    rest = [c for c in cols if c not in shown]
    if rest:
        rows.append(_heading("Other"))
        rows.extend(_row(c.replace("_", " "), row[c]) for c in rest)
    return {"title": f"Patrol area {int(row['rank'])}", "rows": rows}


def repeat_card(row: pd.Series, index: int) -> dict[str, Any]:
    """The popup card of one repeat place: label, count, harm, the rest (plain text)."""
    cols = [c for c in row.index if c != "geometry" and not _is_geometry(row[c])]
    label = row["label"] if "label" in cols else f"Repeat place {index + 1}"
    order = ["count", "harm"] + [c for c in cols if c not in ("label", "count", "harm")]
    rows = [_row(c.replace("_", " "), row[c]) for c in order if c in cols]
    return {"title": format_value(label), "rows": rows}


def card_text(card: Mapping[str, Any]) -> str:
    """The text a card shows, as the browser's ``textContent`` would give it."""
    parts = [str(card["title"])]
    for r in card["rows"]:
        parts.append(r["h"] if "h" in r else f"{r['k']}{r['v']}")
    return "".join(parts)


def repeat_tooltip_text(row: pd.Series, index: int) -> str:
    """Plain tooltip text of one repeat place."""
    label = row["label"] if "label" in row.index else f"Repeat place {index + 1}"
    text = format_value(label)
    if "count" in row.index:
        text += f" ({format_value(row['count'])} incidents)"
    return text


def _latlon(point) -> list[float]:
    return [round(float(point.y), COORD_DECIMALS), round(float(point.x), COORD_DECIMALS)]


def _is_geometry(value: Any) -> bool:
    return hasattr(value, "geom_type") and hasattr(value, "wkb")


# ---------------------------------------------------------------------------- title, legend
def title_data(layers: MapLayers) -> dict[str, Any]:
    """The title box as plain data: title, period, window, source, synthetic flag."""
    return {
        "synthetic": bool(layers.synthetic),
        "title": layers.title,
        "sub": f"Period: {layers.period} · Window: {layers.window} · Data: {layers.data_source}",
    }


def legend_data(layers: MapLayers) -> list[dict[str, Any]]:
    """The legend as plain data: density colour bar in real units, Gi* bins, symbols.

    Items: ``{"title": text}``, ``{"bar": [css colour stops], "opacity": float, "ticks":
    [[left %, text], ...]}``, ``{"swatch": "box"|"outline"|"dot", "colour": hex, "text": text}``.
    """
    import matplotlib

    items: list[dict[str, Any]] = []
    if layers.density is not None:
        d = layers.density
        cmap = matplotlib.colormaps[DENSITY_CMAP]
        stops = [
            f"{matplotlib.colors.to_hex(cmap(f))} {f * 100:.0f}%" for f in np.linspace(0, 1, 11)
        ]
        ticks = [[round(t / d.vmax * 100, 2), format_value(t)] for t in legend_ticks(d.vmax)]
        items.append({"title": f"Density ({d.units})"})
        items.append({"bar": stops, "opacity": DENSITY_OPACITY, "ticks": ticks})
    if layers.hotspot_cells is not None:
        items.append({"title": "Gi* hot and cold spots"})
        present = present_bins(layers.hotspot_cells)
        items.extend(
            {"swatch": "box", "colour": BIN_COLOURS[b], "text": BIN_LABELS[b]} for b in present
        )
        if not present:
            items.append({"text": "No significant cells"})
    if layers.patrol_areas is not None:
        items.append(
            {"swatch": "outline", "colour": PATROL_COLOUR, "text": "Patrol area (number = rank)"}
        )
    if layers.repeat_places is not None:
        items.append({"swatch": "dot", "colour": REPEAT_COLOUR, "text": "Repeat place"})
    return items


def legend_text(layers: MapLayers) -> str:
    """The legend's text as the browser shows it (titles, tick labels and swatch labels)."""
    out = []
    for item in legend_data(layers):
        if "bar" in item:
            out.extend(t for _, t in item["ticks"])
        else:
            out.append(item.get("title") or item.get("text", ""))
    return " ".join(out)


# ---------------------------------------------------------------------------- the payload
def map_payload(layers: MapLayers) -> dict[str, Any]:
    """Everything the page shows, as plain JSON-able data (the page's script renders it).

    ``{"title": title_data, "legend": legend_data, "layers": [layer specs in drawing
    order]}``. A layer spec has ``key`` (``lpus``, ``neighbourhoods``, ``density``,
    ``hotspots``, ``patrol_areas``, ``repeat_places``), ``name`` (layer-control label),
    ``kind`` and its data: GeoJSON in WGS84 with per-feature ``tip`` (tooltip text) and
    ``card`` (popup card) properties, or the density image URL and corners.
    """
    specs: list[dict[str, Any]] = []
    if layers.neighbourhoods is not None:
        specs.append(
            _boundary_spec(
                layers.neighbourhoods, "neighbourhoods", "neighbourhood", "Neighbourhoods",
                NEIGHBOURHOOD_COLOUR, 1.0,
            )
        )
    if layers.lpus is not None:
        specs.append(
            _boundary_spec(layers.lpus, "lpus", "lpu", "LPU boundaries", LPU_COLOUR, 2.5)
        )
    if layers.density is not None:
        overlay = density_overlay(layers.density)
        specs.append(
            {
                "key": "density",
                "name": f"Density ({layers.density.units})",
                "kind": "image",
                "url": overlay.data_url(),
                "bounds": [list(overlay.bounds[0]), list(overlay.bounds[1])],
                "opacity": DENSITY_OPACITY,
            }
        )
    if layers.hotspot_cells is not None:
        specs.append(_hotspot_spec(layers.hotspot_cells))
    if layers.patrol_areas is not None:
        specs.append(_patrol_spec(layers.patrol_areas))
    if layers.repeat_places is not None:
        specs.append(_repeat_spec(layers.repeat_places))
    return {"title": title_data(layers), "legend": legend_data(layers), "layers": specs}


def _boundary_spec(gdf, key: str, column: str, name: str, colour: str, weight: float) -> dict:
    data = to_geojson(gdf, {"tip": [format_value(v) for v in gdf[column]]})
    return {
        "key": key,
        "name": name,
        "kind": "geojson",
        "data": data,
        "style": {"color": colour, "weight": weight, "fill": False},
    }


def _hotspot_spec(cells) -> dict:
    patches = dissolve_bins(cells)
    tips = [
        f"{BIN_LABELS[b]} ({n} cell{'s' if n != 1 else ''})"
        for b, n in zip(patches["bin"], patches["n_cells"], strict=True)
    ]
    data = to_geojson(patches, {"bin": [int(b) for b in patches["bin"]], "tip": tips})
    return {
        "key": "hotspots",
        "name": "Gi* hot and cold spots",
        "kind": "geojson",
        "data": data,
        "style_by": "bin",
        "styles": {
            str(b): {"color": c, "weight": 1.5, "fillColor": c, "fillOpacity": 0.35}
            for b, c in BIN_COLOURS.items()
        },
    }


def _patrol_spec(areas) -> dict:
    points = areas.geometry.representative_point().to_crs(WGS84)
    cards = [patrol_card(areas.iloc[i]) for i in range(len(areas))]
    ranks = [int(r) for r in areas["rank"]]
    tips = [f"Patrol area {r}" for r in ranks]
    data = to_geojson(areas, {"rank": ranks, "card": cards, "tip": tips})
    return {
        "key": "patrol_areas",
        "name": "Patrol areas (numbered by rank)",
        "kind": "patrol",
        "data": data,
        "labels": [_latlon(p) for p in points],
        "style": {
            "color": PATROL_COLOUR, "weight": 3, "fillColor": PATROL_COLOUR, "fillOpacity": 0.08
        },
    }


def _repeat_spec(places) -> dict:
    pts = places.geometry.to_crs(WGS84)
    markers = []
    for i in range(len(places)):
        row = places.iloc[i]
        markers.append(
            {
                "at": _latlon(pts.iloc[i]),
                "card": repeat_card(row, i),
                "tip": repeat_tooltip_text(row, i),
            }
        )
    return {
        "key": "repeat_places",
        "name": "Repeat places",
        "kind": "points",
        "markers": markers,
        "style": {
            "radius": 7, "color": "#ffffff", "weight": 1.5, "fill": True,
            "fillColor": REPEAT_COLOUR, "fillOpacity": 0.9,
        },
    }


def encode_payload(payload: Mapping[str, Any]) -> str:
    """The payload as base64 of its UTF-8 JSON.

    Base64 text (``A-Z a-z 0-9 + / =``) cannot hold template syntax (``{{``, ``{%``, ``{#``),
    HTML or a script end tag, so it passes unchanged through folium's template rendering
    (branca compiles each element's rendered output as a Jinja template again) and through
    any HTML context: untrusted text never reaches a template engine or an HTML parser. The
    page decodes it and builds every node with ``textContent``.
    """
    text = json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


_CSS = """
<style>
.gd-title{position:absolute;top:10px;left:50%;transform:translateX(-50%);z-index:1000;
  background:rgba(255,255,255,0.92);padding:6px 12px;border-radius:4px;max-width:70%;
  box-shadow:0 1px 5px rgba(0,0,0,0.4);font:13px/1.35 Arial,Helvetica,sans-serif;
  text-align:center;}
.gd-title-main{font-weight:bold;font-size:15px;}
.gd-synthetic{background:#c00;color:#fff;font-weight:bold;letter-spacing:1px;
  padding:3px 8px;margin:-2px -6px 4px -6px;border-radius:3px;font-size:15px;}
.gd-legend{background:rgba(255,255,255,0.92);padding:6px 10px;border-radius:4px;
  box-shadow:0 1px 5px rgba(0,0,0,0.4);font:12px/1.4 Arial,Helvetica,sans-serif;
  min-width:220px;}
.gd-legend-title{font-weight:bold;margin-top:4px;}
.gd-bar{height:12px;border:1px solid #999;margin-top:2px;}
.gd-ticks{position:relative;height:16px;margin:0 8px 2px 0;}
.gd-tick{position:absolute;transform:translateX(-50%);font-size:11px;white-space:nowrap;}
.gd-legend-row{margin-top:2px;}
.gd-swatch{display:inline-block;width:14px;height:14px;margin-right:6px;
  vertical-align:middle;box-sizing:border-box;}
.gd-rank-icon div{width:24px;height:24px;border-radius:50%;background:#fff;
  border:2px solid #08306b;color:#08306b;font:bold 12px/20px Arial,Helvetica,sans-serif;
  text-align:center;box-sizing:border-box;}
.gd-popup h4{margin:0 0 4px 0;font-size:14px;}
.gd-popup table{border-collapse:collapse;font-size:12px;}
.gd-popup th{text-align:left;padding:1px 8px 1px 0;font-weight:normal;color:#444;}
.gd-popup td{padding:1px 0;font-weight:bold;}
.gd-popup th.gd-section{font-weight:bold;color:#000;padding-top:5px;}
.gd-fullscreen{width:30px;height:30px;line-height:30px;text-align:center;font-size:18px;
  background:#fff;cursor:pointer;display:block;text-decoration:none;color:#000;}
</style>
"""

#: The page's renderer (``resources/map_renderer.js``): constant code. It reads the base64
#: payload and builds every layer, popup, tooltip, the title box and the legend with DOM
#: calls and ``textContent`` only.
_RENDERER_JS = "map_renderer.js"

_BASE64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
_JS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _renderer_element(m, control, payload: Mapping[str, Any]):
    """The folium element that carries the payload (base64) and the constant renderer."""
    from branca.element import MacroElement
    from folium.elements import JSCSSMixin
    from folium.template import Template

    encoded = encode_payload(payload)
    names = (m.get_name(), control.get_name())
    if not _BASE64.match(encoded) or not all(_JS_NAME.match(n) for n in names):
        raise InternalConsistencyError("map payload or element names are not inert text")
    code = resources.files("geodemand").joinpath("resources", _RENDERER_JS).read_text("utf-8")
    script = (
        code.replace("__MAP__", names[0])
        .replace("__CONTROL__", names[1])
        .replace("__PAYLOAD__", encoded)
    )

    class _Renderer(JSCSSMixin, MacroElement):
        # Leaflet.markercluster, linked like folium's MarkerCluster plugin (inlined on save)
        default_js = [
            (
                "markerclusterjs",
                "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/"
                "leaflet.markercluster.js",
            )
        ]
        default_css = [
            (
                "markerclustercss",
                "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/"
                "MarkerCluster.css",
            ),
            (
                "markerclusterdefaultcss",
                "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/"
                "MarkerCluster.Default.css",
            ),
        ]
        # the template's only variables are the constant CSS and the script built above
        # from constant code, two element names and base64 text
        _template = Template(
            "{% macro header(this, kwargs) %}{{ this.css }}{% endmacro %}"
            "{% macro script(this, kwargs) %}{{ this.script }}{% endmacro %}"
        )

        def __init__(self) -> None:
            super().__init__()
            self._name = "GeodemandRenderer"
            self.css = _CSS
            self.script = script

    return _Renderer()


# ---------------------------------------------------------------------------- the map
def hotspot_map(
    *,
    title: str,
    period: str,
    window: str,
    data_source: str,
    synthetic: bool,
    lpus=None,
    neighbourhoods=None,
    density=None,
    density_grid: Grid | None = None,
    density_units: str | None = None,
    density_vmax: float | None = None,
    hotspot_cells=None,
    patrol_areas=None,
    repeat_places=None,
    tiles: str | None = "OpenStreetMap",
    crs: str | None = None,
    view_bounds: tuple[float, float, float, float] | None = None,
):
    """An interactive hot-spot map (folium) of results handed to it.

    Layers (each in the layer control; missing inputs are left out): LPU and neighbourhood
    boundaries (name tooltips), the density surface as a coloured overlay with a legend in
    its real units, significant Gi* cells coloured by confidence bin, patrol areas with their
    rank number and a popup (score breakdown, dosage, review date, LPU, neighbourhoods), and
    repeat places as clustered markers with popups. The map also has a scale bar, a
    full-screen button and a title box with the period, window and data source (and a red
    "SYNTHETIC DATA" banner when ``synthetic``). See the module docstring for the input
    contract and the rule for untrusted text.

    Parameters
    ----------
    title, period, window, data_source : str
        Title box texts, e.g. ``"Birmingham East"``, ``"week 2025-W47"``,
        ``"2023-11-20 to 2025-11-23 (2 years)"``, ``"police.uk street-level crime"``.
    synthetic : bool
        Whether the incidents are synthetic (shows the banner).
    lpus, neighbourhoods, density, hotspot_cells, patrol_areas, repeat_places
        The layers (module docstring).
    density_grid, density_units : optional
        With a plain density array: its :class:`Grid` and units (e.g. "incidents per km²").
    density_vmax : float, optional
        Density at the top of the colour scale (default the surface's maximum, announced).
    tiles : str or None
        Background tiles: a folium tile name (default ``"OpenStreetMap"``), or ``None`` /
        ``"none"`` for none (offline use).
    crs : str, optional
        CRS of ``repeat_places`` x/y and of ``view_bounds``.
    view_bounds : (x_min, y_min, x_max, y_max), optional
        Initial view (in ``crs``); default fits every layer.

    Returns
    -------
    folium.Map
        Save it with :func:`save_map`. Its ``geodemand_params`` attribute records the texts,
        the layers drawn, the density units and the top of the colour scale;
        ``geodemand_payload`` holds the data the page renders.
    """
    layers = prepare_layers(
        title=title,
        period=period,
        window=window,
        data_source=data_source,
        synthetic=synthetic,
        lpus=lpus,
        neighbourhoods=neighbourhoods,
        density=density,
        density_grid=density_grid,
        density_units=density_units,
        density_vmax=density_vmax,
        hotspot_cells=hotspot_cells,
        patrol_areas=patrol_areas,
        repeat_places=repeat_places,
        crs=crs,
        view_bounds=view_bounds,
    )
    return render_folium(layers, tiles=tiles)


def render_folium(layers: MapLayers, *, tiles: str | None = "OpenStreetMap"):
    """Render validated :class:`MapLayers` as a :class:`folium.Map`.

    folium draws only the frame (map, tiles, scale bar, layer control, a pane for the density
    image); every layer, popup, tooltip, the title and the legend are built in the page from
    the base64 payload of :func:`map_payload` (see :func:`encode_payload`).
    """
    import folium

    if isinstance(tiles, str) and tiles.strip().lower() == "none":
        tiles = None
    if tiles is not None and not isinstance(tiles, str):
        raise InvalidParameterError(f"tiles must be a tile name, None or 'none', got {tiles!r}")
    x0, y0, x1, y1 = layers.view_bounds_wgs84
    m = folium.Map(
        location=[(y0 + y1) / 2, (x0 + x1) / 2],
        tiles=tiles,
        control_scale=True,
        zoom_start=11,
        max_zoom=MAX_ZOOM,
    )
    # folium gives max_zoom to the tile layer only; marker clustering needs it on the map
    m.options["max_zoom"] = MAX_ZOOM
    # a page that asks for nothing it does not contain (no favicon request)
    m.get_root().header.add_child(folium.Element('<link rel="icon" href="data:,">'))
    folium.map.CustomPane("geodemand-density", z_index=350, pointer_events=False).add_to(m)
    control = folium.LayerControl(collapsed=False).add_to(m)
    m.fit_bounds([[y0, x0], [y1, x1]])
    payload = map_payload(layers)
    m.add_child(_renderer_element(m, control, payload))
    m.geodemand_params = dict(layers.params)
    m.geodemand_payload = payload
    return m


# ---------------------------------------------------------------------------- saving
#: Assets folium links from CDNs -> what a self-contained page does with them.
#: ``(url pattern, xstatic module, file)``; file None = not needed by these maps (dropped).
_ASSETS = (
    (r"/leaflet@[^/]+/dist/leaflet\.js$", "xstatic.pkg.leaflet", "leaflet.js"),
    (r"/leaflet@[^/]+/dist/leaflet\.css$", "xstatic.pkg.leaflet", "leaflet.css"),
    (r"/jquery-[0-9.]+(\.min)?\.js$", "xstatic.pkg.jquery", "jquery.min.js"),
    (
        r"leaflet\.markercluster(-src)?\.js$",
        "xstatic.pkg.leaflet_markercluster",
        "leaflet.markercluster.js",
    ),
    (r"/MarkerCluster\.css$", "xstatic.pkg.leaflet_markercluster", "MarkerCluster.css"),
    (
        r"/MarkerCluster\.Default\.css$",
        "xstatic.pkg.leaflet_markercluster",
        "MarkerCluster.Default.css",
    ),
    (r"/bootstrap(\.bundle)?(\.min)?\.(js|css)$", None, None),
    (r"/bootstrap-glyphicons\.css$", None, None),
    (r"/fontawesome-free@[^/]+/css/all(\.min)?\.css$", None, None),
    (r"/leaflet\.awesome-markers(\.min)?\.(js|css)$", None, None),
    (r"/leaflet\.awesome\.rotate(\.min)?\.css$", None, None),
)
_XSTATIC_PIP = {
    "xstatic.pkg.leaflet": "XStatic-Leaflet",
    "xstatic.pkg.jquery": "XStatic-jQuery",
    "xstatic.pkg.leaflet_markercluster": "XStatic-Leaflet-MarkerCluster",
}
_TAG = re.compile(
    r'<script src="(?P<js>[^"]+)"></script>|<link rel="stylesheet" href="(?P<css>[^"]+)"\s*/?>'
)


def _asset_text(module: str, filename: str) -> str:
    import importlib

    try:
        pkg = importlib.import_module(module)
    except ImportError as exc:
        raise GeodemandError(
            f"a self-contained map needs the package {_XSTATIC_PIP[module]} "
            f"(pip install {_XSTATIC_PIP[module]}), or use save_map(..., self_contained=False)"
        ) from exc
    path = Path(pkg.BASE_DIR) / filename
    text = path.read_text(encoding="utf-8")
    if filename.endswith(".css"):
        text = _inline_css_images(text, path.parent)
    return text


def _inline_css_images(css: str, folder: Path) -> str:
    def repl(match: re.Match) -> str:
        target = folder / match.group(1)
        if not target.is_file():
            raise GeodemandError(f"asset {target} referenced by a stylesheet is missing")
        data = base64.b64encode(target.read_bytes()).decode("ascii")
        return f"url(data:image/png;base64,{data})"

    return re.sub(r"url\(\s*['\"]?([^'\")]+\.png)['\"]?\s*\)", repl, css)


def _inline_tag(match: re.Match) -> str:
    url = match.group("js") or match.group("css")
    for pattern, module, filename in _ASSETS:
        if re.search(pattern, url):
            if module is None:
                return ""
            text = _asset_text(module, filename)
            if match.group("js"):
                return "<script>" + re.sub(r"</(script)", r"<\\/\1", text, flags=re.I) + "</script>"
            return "<style>" + re.sub(r"</(style)", r"<\\/\1", text, flags=re.I) + "</style>"
    raise GeodemandError(
        f"cannot make the map self-contained: no local copy of {url}; "
        "use save_map(..., self_contained=False)"
    )


def map_html(m, *, self_contained: bool = True) -> str:
    """The complete HTML page of a folium map.

    With ``self_contained`` (default) every script and stylesheet the page links (Leaflet,
    Leaflet.markercluster, jQuery) is inlined from the installed ``XStatic-*`` packages and
    unused ones (Bootstrap, Font Awesome, awesome-markers) are dropped, so the page needs no
    network; a link to anything else raises :class:`GeodemandError`.
    """
    page = stable_element_ids(m.get_root().render())
    if not self_contained:
        return page
    return _TAG.sub(_inline_tag, page)


_ELEMENT_ID = re.compile(r"(?<=_)[0-9a-f]{32}(?![0-9a-f])")


def stable_element_ids(page: str) -> str:
    """Replace folium's random element ids (32 hex digits) by ids numbered in page order.

    Two renderings of the same map are then byte-identical.
    """
    seen: dict[str, str] = {}

    def number(match: re.Match) -> str:
        return seen.setdefault(match.group(0), f"{len(seen) + 1:032x}")

    return _ELEMENT_ID.sub(number, page)


def save_map(m, path: str | Path, *, self_contained: bool = True) -> Path:
    """Write a folium map as an HTML page, atomically (see :func:`map_html`).

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise InvalidParameterError(f"{path}: a map must be saved as .html")
    return write_text_atomic(path, map_html(m, self_contained=self_contained))
