"""Map styling shared by the web page and the PNG: colours, legend text, number formats."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

# ---------------------------------------------------------------------------- styling
# Palettes are distinct by layer: the density surface is a sequential yellow-green-blue ramp
# (never red), Gi* classes a red/blue diverging scheme (only its hot half when no cold spot is
# significant), emerging hot-spot patterns reds (hot) and blues (cold), risk rates a purple
# ramp; patrol areas are black outlines and the marker clusters neutral greys.

#: Matplotlib colour map of the density surface (shared with the static PNG and QGIS styles).
DENSITY_CMAP = "YlGnBu"
#: Opacity of the density overlay on the interactive map.
DENSITY_OPACITY = 0.65
#: Gi* confidence bin -> fill colour (ArcGIS-style diverging palette, ColorBrewer RdBu).
BIN_COLOURS = {
    3: "#b2182b",
    2: "#ef8a62",
    1: "#fddbc7",
    -1: "#d1e5f0",
    -2: "#67a9cf",
    -3: "#2166ac",
}
#: Colour of "not significant" Gi* cells (rasters only; the maps leave them out).
NOT_SIGNIFICANT_COLOUR = "#f0f0f0"
#: Gi* confidence bin -> legend text.
BIN_LABELS = {
    3: "Hot spot, 99 % confidence",
    2: "Hot spot, 95 % confidence",
    1: "Hot spot, 90 % confidence",
    0: "Not significant",
    -1: "Cold spot, 90 % confidence",
    -2: "Cold spot, 95 % confidence",
    -3: "Cold spot, 99 % confidence",
}
#: Emerging hot-spot pattern code (ArcGIS CATEGORY numbering, see
#: :data:`geodemand.engines.emerging.PATTERNS`) -> colour. In the manner of ArcGIS's
#: renderer: hot patterns red-orange and cold patterns blue, darkest for intensifying and
#: persistent, pale for sporadic, greyed for historical; grey for no pattern.
EMERGING_COLOURS = {
    1: "#fdae6b",
    2: "#fd8d3c",
    3: "#a50f15",
    4: "#de2d26",
    5: "#fb6a4a",
    6: "#fcbba1",
    7: "#e7a1b0",
    8: "#bcaaa4",
    0: "#d9d9d9",
    -1: "#9ecae1",
    -2: "#6baed6",
    -3: "#08519c",
    -4: "#3182bd",
    -5: "#c6dbef",
    -6: "#deebf7",
    -7: "#b4b8e0",
    -8: "#a4b3bc",
}
#: Matplotlib colour map of the risk-rate choropleth and its number of classes (quantiles).
RISK_CMAP = "Purples"
RISK_CLASSES = 5
RISK_OPACITY = 0.6
LPU_COLOUR = "#333333"
NEIGHBOURHOOD_COLOUR = "#7a7a7a"
PATROL_COLOUR = "#000000"
REPEAT_COLOUR = "#6a3d9a"
INCIDENT_COLOUR = "#252525"
#: Largest density overlay image, pixels (the warp resolution is coarsened beyond it).
MAX_OVERLAY_PIXELS = 4_000_000
#: The overlay is warped at the source cell size divided by this factor.
OVERLAY_UPSAMPLE = 2
#: Deepest zoom level of the interactive map.
MAX_ZOOM = 19
#: Decimal places of longitude/latitude in the GeoJSON sent to the map (~0.1 m).
COORD_DECIMALS = 6

WEB_MERCATOR = "EPSG:3857"
WGS84 = "EPSG:4326"

BIN_COLUMNS = ("bin", "gistar_bin")


# ---------------------------------------------------------------------------- text
def format_value(value: Any) -> str:
    """Human-readable text of one table value (not yet escaped).

    None/NaN -> "–"; booleans -> yes/no; integral numbers without decimals, with thousands
    separators; other floats with 3 significant digits below 100 and one decimal above;
    dates as ISO dates (with the time only when it is not midnight); lists joined by ", ".
    """
    if value is None:
        return "–"
    if isinstance(value, (list, tuple, set, np.ndarray)):
        items = sorted(value) if isinstance(value, set) else list(value)
        return ", ".join(format_value(v) for v in items)
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (pd.Timestamp, np.datetime64)) or hasattr(value, "isoformat"):
        if pd.isna(value):
            return "–"
        ts = pd.Timestamp(value)
        return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat(sep=" ")
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return "–"
        if math.isinf(v):
            return "∞" if v > 0 else "−∞"
        if v.is_integer() and abs(v) < 1e15:
            return f"{int(v):,}"
        return f"{v:,.1f}" if abs(v) >= 100 else f"{v:.3g}"
    return str(value)


def colour_density(values: np.ndarray, vmax: float, cmap: str = DENSITY_CMAP) -> np.ndarray:
    """RGBA uint8 colours of density values on a linear 0..``vmax`` scale.

    Values ``> 0`` are opaque; 0, negative and NaN are fully transparent.
    """
    import matplotlib

    v = np.asarray(values, dtype=np.float64)
    shown = np.isfinite(v) & (v > 0)
    frac = np.clip(np.where(shown, v, 0.0) / vmax, 0.0, 1.0)
    rgba = matplotlib.colormaps[cmap](frac, bytes=True)
    rgba[..., 3] = np.where(shown, 255, 0).astype(np.uint8)
    return rgba


def legend_ticks(vmax: float, n: int = 5) -> list[float]:
    """Round tick values from 0 to at most ``vmax`` for the density legend."""
    from matplotlib.ticker import MaxNLocator

    ticks = MaxNLocator(nbins=n).tick_values(0.0, vmax)
    return [float(t) for t in ticks if -1e-12 <= t <= vmax * (1 + 1e-9)]


def present_bins(cells) -> list[int]:
    """The non-zero Gi* bins present in ``cells``, hot (3) first."""
    return sorted({int(b) for b in cells["bin"]} - {0}, reverse=True)


def hotspot_title(bins: list[int]) -> str:
    """Name of the Gi* layer for the bins present: hot spots, cold spots, or both."""
    hot = any(b > 0 for b in bins)
    cold = any(b < 0 for b in bins)
    if hot and cold:
        return "Gi* hot and cold spots"
    if cold:
        return "Gi* cold spots"
    return "Gi* hot spots"


def emerging_label(code: int) -> str:
    """Legend text of an emerging hot-spot pattern code (e.g. "Intensifying hot spot")."""
    from geodemand.engines.emerging import PATTERNS

    text = PATTERNS[int(code)]
    return text[:1].upper() + text[1:]


def hex_rgba(colour: str, alpha: int = 255) -> tuple[int, int, int, int]:
    """``(r, g, b, alpha)`` of a ``#rrggbb`` colour."""
    c = colour.lstrip("#")
    return (int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16), int(alpha))


