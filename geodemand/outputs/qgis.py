"""QGIS layer styles (``.qml``) so the outputs open in QGIS looking like the web map.

QGIS loads ``<name>.qml`` beside a raster or vector file as the layer's default style, and a
GeoPackage layer's default style from the GeoPackage's ``layer_styles`` table
(:func:`geodemand.outputs.vector.write_patrol_areas` fills it). The styles use the web map's
palettes (:mod:`geodemand.outputs.maps.style`): the density ramp with its real units, the Gi*
and emerging hot-spot class colours, and patrol areas as black outlines labelled by rank.

Every document is built with :mod:`xml.etree.ElementTree`, so text (units, class names) is
escaped as XML data and never parsed as markup.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from geodemand._atomic import write_text_atomic
from geodemand.errors import InvalidParameterError
from geodemand.outputs.maps.style import DENSITY_CMAP, DENSITY_OPACITY, PATROL_COLOUR, hex_rgba

#: QGIS version the styles are written for (read by QGIS 3.22 and later).
QGIS_VERSION = "3.28.0-Firenze"


def _root(categories: str, **attrs: str) -> ET.Element:
    root = ET.Element(
        "qgis", {"version": QGIS_VERSION, "styleCategories": categories, **attrs}
    )
    return root


def _text(root: ET.Element) -> str:
    ET.indent(root, space="  ")
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(
        root, encoding="unicode"
    ) + "\n"


def _rgba(colour: str, alpha: int = 255) -> str:
    return ",".join(str(v) for v in hex_rgba(colour, alpha))


def _pipe(root: ET.Element, renderer: dict[str, str]) -> ET.Element:
    pipe = ET.SubElement(root, "pipe")
    provider = ET.SubElement(pipe, "provider")
    ET.SubElement(
        provider,
        "resampling",
        {
            "enabled": "false",
            "zoomedInResamplingMethod": "nearestNeighbour",
            "zoomedOutResamplingMethod": "nearestNeighbour",
            "maxOversampling": "2",
        },
    )
    rr = ET.SubElement(pipe, "rasterrenderer", {"alphaBand": "-1", "nodataColor": "", **renderer})
    ET.SubElement(rr, "rasterTransparency")
    ET.SubElement(pipe, "brightnesscontrast", {"brightness": "0", "contrast": "0", "gamma": "1"})
    ET.SubElement(pipe, "huesaturation", {"saturation": "0", "grayscaleMode": "0"})
    ET.SubElement(pipe, "rasterresampler", {"maxOversampling": "2"})
    ET.SubElement(root, "blendMode").text = "0"
    return rr


def raster_ramp_qml(
    stops: Sequence[tuple[float, str, int, str]],
    *,
    band: int = 1,
    opacity: float = 1.0,
) -> str:
    """A single-band pseudocolour style interpolating between ``stops``.

    Parameters
    ----------
    stops : sequence of (value, "#rrggbb", alpha 0-255, label)
        In increasing value order.
    band : int
        Band rendered.
    opacity : float
        Layer opacity 0-1.
    """
    values = [float(v) for v, *_ in stops]
    if len(values) < 2 or any(b <= a for a, b in zip(values, values[1:], strict=False)):
        raise InvalidParameterError("a colour ramp needs two or more stops in increasing order")
    root = _root("Symbology")
    rr = _pipe(
        root,
        {
            "type": "singlebandpseudocolor",
            "band": str(band),
            "opacity": f"{opacity:g}",
            "classificationMin": repr(values[0]),
            "classificationMax": repr(values[-1]),
        },
    )
    shader = ET.SubElement(ET.SubElement(rr, "rastershader"), "colorrampshader",
                           {"colorRampType": "INTERPOLATED", "classificationMode": "1",
                            "clip": "0", "minimumValue": repr(values[0]),
                            "maximumValue": repr(values[-1]), "labelPrecision": "4"})
    for value, colour, alpha, label in stops:
        ET.SubElement(
            shader,
            "item",
            {"value": repr(float(value)), "color": colour, "alpha": str(int(alpha)),
             "label": str(label)},
        )
    return _text(root)


def density_qml(vmax: float, units: str, *, cmap: str = DENSITY_CMAP, n_stops: int = 11) -> str:
    """The density surface's style: the web map's ramp from 0 to ``vmax`` (``units``).

    Cells at 0 are transparent, as on the web map.
    """
    import matplotlib

    if not (np.isfinite(vmax) and vmax > 0):
        raise InvalidParameterError(f"vmax must be a positive number, got {vmax!r}")
    ramp = matplotlib.colormaps[cmap]
    stops = []
    for i, frac in enumerate(np.linspace(0.0, 1.0, n_stops)):
        value = float(frac * vmax)
        label = f"{value:.4g} {units}" if i in (0, n_stops - 1) else f"{value:.4g}"
        stops.append((value, matplotlib.colors.to_hex(ramp(frac)), 0 if i == 0 else 255, label))
    return raster_ramp_qml(stops, opacity=DENSITY_OPACITY)


def paletted_qml(
    entries: Sequence[tuple[int, str, int, str]], *, band: int = 1, opacity: float = 1.0
) -> str:
    """A paletted (one colour per class value) raster style.

    Parameters
    ----------
    entries : sequence of (value, "#rrggbb", alpha 0-255, label)
    """
    root = _root("Symbology")
    rr = _pipe(root, {"type": "paletted", "band": str(band), "opacity": f"{opacity:g}"})
    palette = ET.SubElement(rr, "colorPalette")
    for value, colour, alpha, label in entries:
        ET.SubElement(
            palette,
            "paletteEntry",
            {"value": str(int(value)), "color": colour, "alpha": str(int(alpha)),
             "label": str(label)},
        )
    return _text(root)


def _option_map(parent: ET.Element, options: dict[str, str]) -> None:
    omap = ET.SubElement(parent, "Option", {"type": "Map"})
    for name, value in options.items():
        ET.SubElement(omap, "Option", {"type": "QString", "name": name, "value": value})


def patrol_areas_qml(label_field: str = "rank") -> str:
    """Patrol areas: black outlines over a faint fill, labelled by ``label_field`` (rank)."""
    root = _root("Symbology|Labeling", labelsEnabled="1")
    renderer = ET.SubElement(
        root, "renderer-v2", {"type": "singleSymbol", "symbollevels": "0", "forceraster": "0",
                              "enableorderby": "0"}
    )
    symbols = ET.SubElement(renderer, "symbols")
    symbol = ET.SubElement(
        symbols, "symbol", {"type": "fill", "name": "0", "alpha": "1", "clip_to_extent": "1",
                            "force_rhr": "0"}
    )
    layer = ET.SubElement(symbol, "layer", {"class": "SimpleFill", "enabled": "1",
                                            "locked": "0", "pass": "0"})
    _option_map(
        layer,
        {
            "color": _rgba(PATROL_COLOUR, 20),
            "style": "solid",
            "outline_color": _rgba(PATROL_COLOUR),
            "outline_style": "solid",
            "outline_width": "0.8",
            "outline_width_unit": "MM",
            "joinstyle": "miter",
        },
    )
    labeling = ET.SubElement(root, "labeling", {"type": "simple"})
    settings = ET.SubElement(labeling, "settings", {"calloutType": "simple"})
    style = ET.SubElement(
        settings,
        "text-style",
        {"fieldName": label_field, "isExpression": "0", "fontSize": "10",
         "fontSizeUnit": "Point", "fontWeight": "75", "textColor": _rgba(PATROL_COLOUR),
         "textOpacity": "1"},
    )
    ET.SubElement(
        style,
        "text-buffer",
        {"bufferDraw": "1", "bufferSize": "1", "bufferSizeUnits": "MM",
         "bufferColor": "255,255,255,255", "bufferOpacity": "1"},
    )
    ET.SubElement(settings, "placement", {"placement": "1", "centroidInside": "1",
                                           "priority": "10"})
    ET.SubElement(settings, "rendering", {"drawLabels": "1", "obstacle": "1"})
    return _text(root)


def qml_path(path: str | os.PathLike[str]) -> Path:
    """The ``.qml`` path QGIS reads as the default style of ``path`` (same folder and stem)."""
    return Path(path).with_suffix(".qml")


def write_qml(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` as the default QGIS style beside ``path``, atomically; return its path."""
    return write_text_atomic(qml_path(path), text)
