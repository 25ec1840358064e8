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
``risk``, ``lpus``, ``neighbourhoods``, ``density``, ``emerging``, ``hotspots``,
``patrol_areas``, ``repeat_places``, ``incidents``) for embedding and browser tests.

Popups are compact cards (:mod:`.cards`) with a maximum height and their own scroll bar, so a
card always fits the window (tested at 1366 × 768); rank markers are drawn above the marker
clusters, whose colours are neutral (grey for incidents, purple-grey for places).
"""


from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geodemand._announce import announce
from geodemand._atomic import write_text_atomic
from geodemand._figures import PNG_COMPRESS_LEVEL
from geodemand.errors import GeodemandError, InternalConsistencyError, InvalidParameterError
from geodemand.grid import Grid
from geodemand.outputs.maps.cards import (
    crime_type_label,
    format_amount,
    format_dates,
    incident_card,
    risk_card,
    target_card,
    target_tip,
)
from geodemand.outputs.maps.layers import (
    DensityLayer,
    MapLayers,
    dissolve_bins,
    prepare_layers,
    shared_store,
    to_geojson,
    transformer,
)
from geodemand.outputs.maps.style import (
    BIN_COLOURS,
    BIN_LABELS,
    COORD_DECIMALS,
    DENSITY_CMAP,
    DENSITY_OPACITY,
    EMERGING_COLOURS,
    INCIDENT_COLOUR,
    LPU_COLOUR,
    MAX_OVERLAY_PIXELS,
    MAX_ZOOM,
    NEIGHBOURHOOD_COLOUR,
    OVERLAY_UPSAMPLE,
    PATROL_COLOUR,
    REPEAT_COLOUR,
    RISK_CLASSES,
    RISK_CMAP,
    RISK_OPACITY,
    WEB_MERCATOR,
    WGS84,
    colour_density,
    emerging_label,
    format_value,
    hotspot_title,
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
        Image.fromarray(self.rgba, mode="RGBA").save(
            buf, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
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
# A popup is a *card* (:mod:`.cards`): plain data that the page's script turns into DOM nodes
# with ``textContent``. No input text is ever parsed as HTML or as a template.
def patrol_card(row: pd.Series, harm_units: str = "CCHI days") -> dict[str, Any]:
    """The compact popup card of one patrol area (see :func:`.cards.target_card`)."""
    return target_card(row, kind="patrol", harm_units=harm_units)


def repeat_card(row: pd.Series, index: int, harm_units: str = "CCHI days") -> dict[str, Any]:
    """The compact popup card of one repeat place (see :func:`.cards.target_card`)."""
    return target_card(
        row, kind="place", harm_units=harm_units, fallback_title=f"Repeat place {index + 1}"
    )


def repeat_tooltip_text(row: pd.Series, index: int) -> str:
    """Plain tooltip text of one repeat place: its label and incidents."""
    return target_tip(row, kind="place", fallback=f"Repeat place {index + 1}")


def _latlon(point) -> list[float]:
    return [round(float(point.y), COORD_DECIMALS), round(float(point.x), COORD_DECIMALS)]


# ---------------------------------------------------------------------------- title, legend
def title_data(layers: MapLayers) -> dict[str, Any]:
    """The title box as plain data: the title, one line each for the period, the window and
    the data description, and the synthetic flag (lines too long are cut with "…" on the
    page and shown whole on hover)."""
    return {
        "synthetic": bool(layers.synthetic),
        "title": layers.title,
        "lines": [
            f"Period: {layers.period}",
            f"Window: {layers.window}",
            f"Data: {layers.data_source}",
        ],
    }


def risk_classes(values: np.ndarray, n: int = RISK_CLASSES) -> tuple[np.ndarray, list[float]]:
    """Quantile classes of risk rates: ``(class per value (-1 = no data), breaks)``.

    The breaks are the 0, 1/n, …, 1 quantiles of the finite values, rounded to 2 significant
    digits (outer breaks exact) and de-duplicated, so a class is never empty of range; a
    value belongs to the class whose interval ``[b_i, b_i+1)`` holds it (the last is closed).
    """
    v = np.asarray(values, dtype=np.float64)
    finite = v[np.isfinite(v)]
    if finite.size == 0:
        return np.full(v.shape, -1, dtype=np.int64), []
    qs = np.quantile(finite, np.linspace(0.0, 1.0, n + 1))
    inner = [float(f"{q:.2g}") for q in qs[1:-1]]
    breaks = sorted({float(finite.min()), *inner, float(finite.max())})
    breaks = [b for b in breaks if finite.min() <= b <= finite.max()]
    if len(breaks) == 1:
        breaks = [breaks[0], breaks[0]]
    cls = np.searchsorted(np.asarray(breaks[1:-1]), v, side="right")
    cls = np.where(np.isfinite(v), cls, -1).astype(np.int64)
    return cls, breaks


def _risk_colours(n_classes: int) -> list[str]:
    import matplotlib

    cmap = matplotlib.colormaps[RISK_CMAP]
    return [matplotlib.colors.to_hex(cmap(f)) for f in np.linspace(0.2, 0.95, n_classes)]


_NO_DATA_COLOUR = "#cccccc"


def legend_data(layers: MapLayers, hidden=("risk", "emerging")) -> list[dict[str, Any]]:
    """The legend as plain data: only what the map shows.

    Items: ``{"title": text}``, ``{"bar": [css colour stops], "opacity": float, "ticks":
    [[left %, text], ...]}``, ``{"swatch": "box"|"outline"|"dot", "colour": hex, "text": text}``.
    The Gi* section lists only the classes present and is headed "hot spots" when no cold spot
    is significant; emerging patterns and risk classes likewise list only what is drawn (and
    say when their layer starts hidden, per ``hidden``).
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
        present = present_bins(layers.hotspot_cells)
        items.append({"title": hotspot_title(present)})
        items.extend(
            {"swatch": "box", "colour": BIN_COLOURS[b], "text": BIN_LABELS[b]} for b in present
        )
        if not present:
            items.append({"text": "No significant cells"})
    if layers.emerging is not None and len(layers.emerging):
        off = " (layer off by default)" if "emerging" in hidden else ""
        items.append({"title": f"Emerging hot spots{off}"})
        codes = sorted({int(c) for c in layers.emerging["pattern_code"]}, reverse=True)
        items.extend(
            {"swatch": "box", "colour": EMERGING_COLOURS[c], "text": emerging_label(c)}
            for c in codes
        )
    if layers.risk is not None:
        cls, breaks = risk_classes(layers.risk["value"].to_numpy())
        colours = _risk_colours(max(len(breaks) - 1, 1))
        off = "; layer off by default" if "risk" in hidden else ""
        items.append({"title": f"Risk ({layers.risk_units}{off})"})
        for c in sorted(set(cls.tolist()) - {-1}):
            items.append({"swatch": "box", "colour": colours[c],
                          "text": f"{format_amount(breaks[c])} – {format_amount(breaks[c + 1])}"})
        if (cls == -1).any():
            items.append({"swatch": "box", "colour": _NO_DATA_COLOUR, "text": "No data"})
    if layers.patrol_areas is not None:
        items.append(
            {"swatch": "outline", "colour": PATROL_COLOUR, "text": "Patrol area (number = rank)"}
        )
    if layers.repeat_places is not None:
        items.append({"swatch": "dot", "colour": REPEAT_COLOUR, "text": "Repeat place"})
    if layers.incidents is not None:
        items.append(
            {"swatch": "dot", "colour": INCIDENT_COLOUR, "text": "Incident this period"}
        )
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
#: Keys of every map layer, in drawing order.
LAYER_KEYS = (
    "risk", "neighbourhoods", "lpus", "density", "emerging", "hotspots", "patrol_areas",
    "repeat_places", "incidents",
)
#: Layers that start hidden (they stay in the layer control).
DEFAULT_HIDDEN = ("risk", "emerging")


def map_payload(layers: MapLayers, *, hidden=DEFAULT_HIDDEN) -> dict[str, Any]:
    """Everything the page shows, as plain JSON-able data (the page's script renders it).

    ``{"title": title_data, "legend": legend_data, "layers": [layer specs in drawing
    order]}``. A layer spec has ``key`` (``risk``, ``neighbourhoods``, ``lpus``, ``density``,
    ``emerging``, ``hotspots``, ``patrol_areas``, ``repeat_places``, ``incidents``), ``name``
    (layer-control label), ``kind``, ``show`` (initially visible: every layer not in
    ``hidden``) and its data: GeoJSON in WGS84 with per-feature ``tip`` (tooltip text) and
    ``card`` (popup card) properties, the density image URL and corners, or compact point
    lists.
    """
    unknown = sorted(set(hidden) - set(LAYER_KEYS))
    if isinstance(hidden, str) or unknown:
        raise InvalidParameterError(
            f"hidden_layers must be layer keys out of {list(LAYER_KEYS)}; got {hidden!r}"
        )
    specs: list[dict[str, Any]] = []
    if layers.risk is not None:
        specs.append(_risk_spec(layers.risk, layers.risk_units))
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
                "show": True,
                "url": overlay.data_url(),
                "bounds": [list(overlay.bounds[0]), list(overlay.bounds[1])],
                "opacity": DENSITY_OPACITY,
            }
        )
    if layers.emerging is not None:
        specs.append(_emerging_spec(layers.emerging))
    if layers.hotspot_cells is not None:
        specs.append(_hotspot_spec(layers.hotspot_cells))
    if layers.patrol_areas is not None:
        specs.append(_patrol_spec(layers.patrol_areas, layers.harm_units))
    if layers.repeat_places is not None:
        specs.append(_repeat_spec(layers.repeat_places, layers.harm_units))
    if layers.incidents is not None:
        specs.append(_incident_spec(layers.incidents))
    for spec in specs:
        spec["show"] = spec["key"] not in hidden
    return {"title": title_data(layers), "legend": legend_data(layers, hidden), "layers": specs}


def _boundary_spec(gdf, key: str, column: str, name: str, colour: str, weight: float) -> dict:
    data = to_geojson(gdf, {"tip": [format_value(v) for v in gdf[column]]})
    return {
        "key": key,
        "name": name,
        "kind": "geojson",
        "show": True,
        "data": data,
        "style": {"color": colour, "weight": weight, "fill": False},
    }


def _class_styles(colours: Mapping[int, str], fill_opacity: float) -> dict[str, dict]:
    return {
        str(b): {"color": c, "weight": 1.5, "fillColor": c, "fillOpacity": fill_opacity}
        for b, c in colours.items()
    }


def _class_layer_key(kind: str, cells, column: str) -> tuple[str, str, bytes]:
    """A digest of everything a class layer's spec is built from: the CRS, the class of each
    cell and each cell's exact geometry (WKB)."""
    import shapely

    digest = hashlib.blake2b(digest_size=32)
    digest.update(str(cells.crs).encode("utf-8"))
    digest.update(np.ascontiguousarray(cells[column].to_numpy(dtype=np.int64)).tobytes())
    for wkb in shapely.to_wkb(cells.geometry.to_numpy()):
        digest.update(len(wkb).to_bytes(8, "little"))
        digest.update(wkb)
    return "class layer", kind, digest.digest()


def _class_layer_spec(kind: str, cells, column: str, build: Callable[[Any], dict]) -> dict:
    """``build(cells)``, computed once for the same cells (by content) inside a
    :func:`~geodemand.outputs.maps.layers.shared_geojson` block.

    A weekly bundle draws the same force-wide hot-spot and emerging cells on the force map
    and on every LPU map; dissolving them into patches and writing their GeoJSON once saves
    that work on each later page. The entry is keyed by :func:`_class_layer_key` (so a
    different input never meets a stale entry) and each call returns its own top-level dict
    (callers set ``show`` on it); the nested data is shared and is not modified.
    """
    store = shared_store()
    if store is None:
        return build(cells)
    key = _class_layer_key(kind, cells, column)
    if key not in store:
        store[key] = build(cells)
    return dict(store[key])


def _hotspot_spec(cells) -> dict:
    return _class_layer_spec("hotspots", cells, "bin", _build_hotspot_spec)


def _build_hotspot_spec(cells) -> dict:
    patches = dissolve_bins(cells)
    tips = [
        f"{BIN_LABELS[b]} ({n} cell{'s' if n != 1 else ''})"
        for b, n in zip(patches["bin"], patches["n_cells"], strict=True)
    ]
    data = to_geojson(patches, {"bin": [int(b) for b in patches["bin"]], "tip": tips})
    return {
        "key": "hotspots",
        "name": hotspot_title(present_bins(cells)),
        "kind": "geojson",
        "show": True,
        "data": data,
        "style_by": "bin",
        "styles": _class_styles(BIN_COLOURS, 0.35),
    }


def _emerging_spec(cells) -> dict:
    return _class_layer_spec("emerging", cells, "pattern_code", _build_emerging_spec)


def _build_emerging_spec(cells) -> dict:
    patches = dissolve_bins(cells, "pattern_code") if len(cells) else cells.assign(n_cells=0)
    codes = [int(c) for c in patches["pattern_code"]]
    tips = [
        f"{emerging_label(c)} ({n} cell{'s' if n != 1 else ''})"
        for c, n in zip(codes, patches["n_cells"], strict=True)
    ]
    data = to_geojson(patches, {"code": codes, "tip": tips})
    return {
        "key": "emerging",
        "name": "Emerging hot spots",
        "kind": "geojson",
        "show": False,
        "data": data,
        "style_by": "code",
        "styles": _class_styles({c: EMERGING_COLOURS[c] for c in EMERGING_COLOURS if c}, 0.5),
    }


def _risk_spec(risk, units: str) -> dict:
    cls, breaks = risk_classes(risk["value"].to_numpy())
    colours = _risk_colours(max(len(breaks) - 1, 1))
    styles = {str(i): {"color": "#ffffff", "weight": 0.8, "fillColor": c,
                       "fillOpacity": RISK_OPACITY} for i, c in enumerate(colours)}
    styles["-1"] = {"color": "#ffffff", "weight": 0.8, "fillColor": _NO_DATA_COLOUR,
                    "fillOpacity": RISK_OPACITY}
    cards, tips = [], []
    records = pd.DataFrame(risk.drop(columns=risk.geometry.name)).to_dict("records")
    for row in records:
        card = risk_card(row, units)
        cards.append(card)
        value = row["value"]
        rate = "no data" if pd.isna(value) else f"{format_amount(value)} {units}"
        tips.append(f"{card['title']}: {rate}")
    data = to_geojson(risk, {"cls": [int(c) for c in cls], "tip": tips, "card": cards})
    return {
        "key": "risk",
        "name": f"Risk ({units})",
        "kind": "geojson",
        "show": False,
        "data": data,
        "style_by": "cls",
        "styles": styles,
    }


def _patrol_spec(areas, harm_units: str) -> dict:
    points = areas.geometry.representative_point().to_crs(WGS84)
    cards = [patrol_card(areas.iloc[i], harm_units) for i in range(len(areas))]
    tips = [target_tip(areas.iloc[i], kind="patrol") for i in range(len(areas))]
    ranks = [int(r) for r in areas["rank"]]
    data = to_geojson(areas, {"rank": ranks, "card": cards, "tip": tips})
    return {
        "key": "patrol_areas",
        "name": "Patrol areas (numbered by rank)",
        "kind": "patrol",
        "show": True,
        "data": data,
        "labels": [_latlon(p) for p in points],
        "style": {
            "color": PATROL_COLOUR, "weight": 3, "fillColor": PATROL_COLOUR, "fillOpacity": 0.08
        },
    }


def _repeat_spec(places, harm_units: str) -> dict:
    pts = places.geometry.to_crs(WGS84)
    markers = []
    for i in range(len(places)):
        row = places.iloc[i]
        markers.append(
            {
                "at": _latlon(pts.iloc[i]),
                "card": repeat_card(row, i, harm_units),
                "tip": repeat_tooltip_text(row, i),
            }
        )
    return {
        "key": "repeat_places",
        "name": "Repeat places",
        "kind": "points",
        "show": True,
        "cluster": "gd-cluster-places",
        "markers": markers,
        "style": {
            "radius": 7, "color": "#ffffff", "weight": 1.5, "fill": True,
            "fillColor": REPEAT_COLOUR, "fillOpacity": 0.9,
        },
    }


def _incident_spec(incidents) -> dict:
    """Compact incidents: type names once, then ``[lat, lon, type index, when, place]``."""
    import shapely

    xy = np.round(shapely.get_coordinates(incidents.geometry.to_crs(WGS84).to_numpy()),
                  COORD_DECIMALS)
    codes, uniques = pd.factorize(incidents["crime_type"].astype(str), sort=True)
    labels = np.array([crime_type_label(t) for t in uniques], dtype=object)
    types = sorted(set(labels))
    type_index = np.array([types.index(t) for t in labels], dtype=np.int64)[codes]
    when = format_dates(incidents["occurred"], incidents["date_precision"])
    place_codes, places = pd.factorize(incidents["label"], use_na_sentinel=True)
    place_text = np.array(
        ["" if pd.isna(v) else format_value(v) for v in places] + [""], dtype=object
    )[place_codes]  # the sentinel -1 picks the trailing ""
    rows = [
        [float(lat), float(lon), int(t), str(w), str(pl)]
        for lon, lat, t, w, pl in zip(xy[:, 0], xy[:, 1], type_index, when, place_text,
                                      strict=True)
    ]
    return {
        "key": "incidents",
        "name": f"Incidents this period ({len(rows):,})",
        "kind": "incidents",
        "show": True,
        "cluster": "gd-cluster-incidents",
        "types": types,
        "points": rows,
        "style": {
            "radius": 5, "color": "#ffffff", "weight": 1, "fill": True,
            "fillColor": INCIDENT_COLOUR, "fillOpacity": 0.9,
        },
    }


def incident_cards(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The cards the page builds from an incidents layer spec (one per point)."""
    return [incident_card(spec["types"][p[2]], p[3], p[4]) for p in spec["points"]]


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


#: The page's renderer and its stylesheet (``resources/map_renderer.js`` and ``.css``):
#: constant code. The script reads the base64 payload and builds every layer, popup,
#: tooltip, the title box and the legend with DOM calls and ``textContent`` only.
_RENDERER_JS = "map_renderer.js"
_RENDERER_CSS = "map_renderer.css"

_BASE64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
_JS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@functools.cache
def _inert_macro_element_class():
    """A folium element that puts its ``css`` into the page header and its ``script`` into
    the page script as they are.

    branca's :class:`~branca.element.MacroElement` wraps each rendered part in a new
    ``Element(text)``, which compiles the text as a Jinja template (for the renderer's script
    that is megabytes of base64 lexed per map); these parts are finished text, so they are
    added as elements that return their text without a template. The page is unchanged
    (tested byte for byte against branca's path).
    """
    from branca.element import Element, Figure, MacroElement

    class _InertText(Element):
        def __init__(self, text: str) -> None:
            super().__init__()
            # what Template(text).render() returns for text without template syntax:
            # Jinja drops one trailing newline
            self._text = text[:-1] if text.endswith("\n") else text

        def render(self, **kwargs) -> str:
            return self._text

    class _InertMacroElement(MacroElement):
        def render(self, **kwargs) -> None:
            figure = self.get_root()
            if not isinstance(figure, Figure):
                raise InternalConsistencyError("the map renderer is not in a folium figure")
            figure.header.add_child(_InertText(self.css), name=self.get_name())
            figure.script.add_child(_InertText(self.script), name=self.get_name())

    return _InertMacroElement


def _renderer_element(m, control, payload: Mapping[str, Any]):
    """The folium element that carries the payload (base64) and the constant renderer."""
    from folium.elements import JSCSSMixin

    _InertMacroElement = _inert_macro_element_class()
    encoded = encode_payload(payload)
    names = (m.get_name(), control.get_name())
    if not _BASE64.match(encoded) or not all(_JS_NAME.match(n) for n in names):
        raise InternalConsistencyError("map payload or element names are not inert text")
    folder = resources.files("geodemand").joinpath("resources")
    code = folder.joinpath(_RENDERER_JS).read_text("utf-8")
    css = "<style>\n" + folder.joinpath(_RENDERER_CSS).read_text("utf-8") + "</style>\n"
    script = (
        code.replace("__MAP__", names[0])
        .replace("__CONTROL__", names[1])
        .replace("__PAYLOAD__", encoded)
    )

    class _Renderer(JSCSSMixin, _InertMacroElement):
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
        def __init__(self) -> None:
            super().__init__()
            self._name = "GeodemandRenderer"
            self.css = css
            self.script = script

    return _Renderer()


# ---------------------------------------------------------------------------- the map
def hotspot_map(
    *,
    title: str = "Hot spots",
    period: str = "period not stated",
    window: str = "data window not stated",
    data_source: str = "data source not stated",
    synthetic: bool = False,
    lpus=None,
    neighbourhoods=None,
    density=None,
    density_grid: Grid | None = None,
    density_units: str | None = None,
    density_vmax: float | None = None,
    hotspot_cells=None,
    patrol_areas=None,
    repeat_places=None,
    incidents=None,
    emerging=None,
    risk=None,
    risk_units: str | None = None,
    force_area=None,
    harm_units: str = "CCHI days",
    hidden_layers: tuple[str, ...] = DEFAULT_HIDDEN,
    tiles: str | None = "OpenStreetMap",
    crs: str | None = None,
    view_bounds: tuple[float, float, float, float] | None = None,
):
    """An interactive hot-spot map (folium) of results handed to it.

    Layers (each in the layer control; missing inputs are left out): a risk-rate choropleth
    (off by default), LPU and neighbourhood boundaries (name tooltips), the density surface as
    a coloured overlay with a legend in its real units, emerging hot-spot patterns (off by
    default), significant Gi* cells coloured by confidence bin, patrol areas with their rank
    number and a compact card (label, rank, status, expected harm, top crime types with
    shares, dosage, hot hours, review date), repeat places and this period's incidents as
    clustered markers with cards. The map also has a scale bar, a full-screen button and a
    title box with the period, window and a one-line data description (and a red "SYNTHETIC
    DATA" banner when ``synthetic``). See :mod:`geodemand.outputs.maps.layers` for the input
    contract (columns the cards read) and the module docstring for the rule for untrusted
    text.

    Parameters
    ----------
    title, period, window, data_source : str
        Title box texts, e.g. ``"Birmingham East"``, ``"week 2025-W47"``,
        ``"2023-11-20 to 2025-11-23 (2 years)"``, ``"police.uk street data, 24 files,
        2019-12 to 2021-11"`` (one line; the file list belongs in the manifest). Left out,
        the map says "not stated" rather than leave the reader guessing.
    synthetic : bool
        Whether the incidents are synthetic (shows the banner).
    lpus, neighbourhoods, density, hotspot_cells, patrol_areas, repeat_places : optional
        The layers; also ``incidents``, ``emerging``, ``risk`` and ``force_area`` (contract
        in :mod:`geodemand.outputs.maps.layers`).
    risk_units : str, optional
        Units of the ``risk`` rates, e.g. ``"incidents per 1,000 residents"``.
    harm_units : str
        Units of harm on the cards (default ``"CCHI days"``).
    hidden_layers : tuple of str
        Layer keys that start hidden (still in the layer control): default ``("risk",
        "emerging")``; e.g. add ``"incidents"`` on a force-wide map of a busy week.
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
        incidents=incidents,
        emerging=emerging,
        risk=risk,
        risk_units=risk_units,
        force_area=force_area,
        harm_units=harm_units,
        crs=crs,
        view_bounds=view_bounds,
    )
    return render_folium(layers, tiles=tiles, hidden_layers=hidden_layers)


def render_folium(
    layers: MapLayers,
    *,
    tiles: str | None = "OpenStreetMap",
    hidden_layers: tuple[str, ...] = DEFAULT_HIDDEN,
):
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
    payload = map_payload(layers, hidden=tuple(hidden_layers))
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
