"""A static PNG of the hot-spot map (matplotlib, no basemap) for reports.

:func:`hotspot_png` draws the same layers as :func:`geodemand.outputs.maps.web.hotspot_map`
from the same :class:`~geodemand.outputs.maps.layers.MapLayers` (the contract is in
:mod:`geodemand.outputs.maps.layers`): LPU and neighbourhood boundaries, the density surface
with a colour bar in its real units, significant Gi* cells by confidence bin, patrol areas
with their rank numbers, repeat places, this period's incidents, LPU names, a title with the
period, window and a one-line data description, a red "SYNTHETIC DATA" banner where it
applies, a scale bar and a north arrow. Emerging hot-spot patterns and risk rates are drawn on
the interactive map only. The title is a figure title (the layout keeps room for it: it is
never cut off) and the subtitle is cut to two lines.

The picture is drawn in a projected metric CRS: the density grid's when there is one, else
the first layer's when it is projected in metres, else the UTM zone of the data (announced).
Text from the inputs is drawn with ``parse_math=False`` so a ``$`` in a name is not read as
mathematics. Every drawn artist carries a ``gid`` naming its layer (``"lpus"``,
``"neighbourhoods"``, ``"lpu_labels"``, ``"density"``, ``"hotspots"``, ``"patrol_areas"``,
``"patrol_rank"``, ``"repeat_places"``, ``"incidents"``, ``"title"``, ``"synthetic_banner"``,
``"scale_bar"``) so a figure can be inspected.
The file is written atomically.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np

from geodemand._announce import announce
from geodemand._atomic import write_with
from geodemand._figures import PNG_COMPRESS_LEVEL
from geodemand.errors import InvalidParameterError
from geodemand.outputs.maps.layers import MapLayers, dissolve_bins, prepare_layers, transformer
from geodemand.outputs.maps.style import (
    BIN_COLOURS,
    BIN_LABELS,
    DENSITY_CMAP,
    DENSITY_OPACITY,
    INCIDENT_COLOUR,
    LPU_COLOUR,
    NEIGHBOURHOOD_COLOUR,
    PATROL_COLOUR,
    REPEAT_COLOUR,
    WGS84,
    colour_density,
    present_bins,
)

#: Default figure width, inches (the height follows the map's shape), and dots per inch.
FIG_WIDTH = 10.0
DPI = 150
#: Inches added to the map's height for the titles and the colour bar (default figsize).
FIG_EXTRA_HEIGHT = 1.9
#: Characters per inch of figure width of the 9-point subtitle (where it is wrapped).
SUBTITLE_CHARS_PER_INCH = 14
#: Lines of subtitle at most (longer text is cut with "…").
SUBTITLE_LINES = 2


def hotspot_png(
    path: str | Path,
    *,
    title: str = "Hot spots",
    period: str = "period not stated",
    window: str = "data window not stated",
    data_source: str = "data source not stated",
    synthetic: bool = False,
    lpus=None,
    neighbourhoods=None,
    density=None,
    density_grid=None,
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
    crs: str | None = None,
    view_bounds: tuple[float, float, float, float] | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: int = DPI,
) -> Path:
    """Write the static hot-spot map as a PNG of ``figsize × dpi`` pixels, atomically.

    Arguments are those of :func:`geodemand.outputs.maps.web.hotspot_map` (without ``tiles``), plus
    ``figsize`` (inches; default :data:`FIG_WIDTH` wide and as tall as the map's shape
    needs) and ``dpi``.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise InvalidParameterError(f"{path}: the static map must be saved as .png")
    fig = hotspot_figure(
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
        figsize=figsize,
        dpi=dpi,
    )
    return write_with(path, lambda tmp: fig.savefig(
        tmp, format="png", dpi=dpi, pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL}))


def hotspot_figure(*, figsize: tuple[float, float] | None = None, dpi: int = DPI, **kwargs):
    """The static map as a :class:`matplotlib.figure.Figure` (Agg; not attached to pyplot).

    ``kwargs`` are those of :func:`geodemand.outputs.maps.web.hotspot_map` without ``tiles``.
    """
    return render_figure(prepare_layers(**kwargs), figsize=figsize, dpi=dpi)


def view_crs(layers: MapLayers):
    """The projected metric CRS the static map is drawn in (rule in the module docstring)."""
    from pyproj import CRS

    if layers.density is not None:
        return CRS.from_user_input(layers.density.grid.crs)
    gdfs = [
        getattr(layers, k)
        for k in ("lpus", "neighbourhoods", "patrol_areas", "hotspot_cells", "repeat_places",
                  "incidents", "emerging", "risk")
        if getattr(layers, k) is not None
    ]
    first = CRS.from_user_input(gdfs[0].crs)
    if first.is_projected and first.axis_info[0].unit_name in ("metre", "meter"):
        return first
    x0, y0, x1, y1 = layers.view_bounds_wgs84
    from pyproj.aoi import AreaOfInterest
    from pyproj.database import query_utm_crs_info

    info = query_utm_crs_info(datum_name="WGS 84", area_of_interest=AreaOfInterest(x0, y0, x1, y1))
    utm = CRS.from_epsg(info[0].code)
    announce(f"static map drawn in {utm.name} (the layers are not in projected metres)")
    return utm


def render_figure(layers: MapLayers, *, figsize=None, dpi: int = DPI):
    """Draw validated :class:`~geodemand.outputs.maps.web.MapLayers` on a new Agg figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    crs = view_crs(layers)
    xlim, ylim = view_limits(layers, crs)
    if figsize is None:
        shape = (ylim[1] - ylim[0]) / (xlim[1] - xlim[0])
        figsize = (FIG_WIDTH, float(np.clip(FIG_WIDTH * shape, 3.0, 14.0)) + FIG_EXTRA_HEIGHT)
    if not (dpi > 0 and len(figsize) == 2 and min(figsize) > 0):
        raise InvalidParameterError(f"figsize {figsize!r} and dpi {dpi!r} must be positive")
    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    handles = []
    if layers.density is not None:
        _draw_density(fig, ax, layers)
    if layers.neighbourhoods is not None:
        _draw_boundaries(
            ax, layers.neighbourhoods, crs, NEIGHBOURHOOD_COLOUR, 0.4, "neighbourhoods"
        )
    if layers.lpus is not None:
        _draw_boundaries(ax, layers.lpus, crs, LPU_COLOUR, 1.2, "lpus")
    if layers.hotspot_cells is not None:
        handles += _draw_hotspots(ax, layers.hotspot_cells, crs)
    if layers.incidents is not None:
        handles += _draw_incidents(ax, layers.incidents, crs)
    if layers.patrol_areas is not None:
        handles += _draw_patrol(ax, layers.patrol_areas, crs)
    if layers.repeat_places is not None:
        handles += _draw_repeats(ax, layers.repeat_places, crs)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    if layers.lpus is not None:
        _draw_lpu_names(ax, layers.lpus, crs)
    ax.set_aspect("equal", adjustable="box")
    ax.set_axis_off()
    _draw_scale_bar(ax)
    _draw_north_arrow(ax)
    if handles:
        ax.legend(handles=handles, loc="lower left", fontsize=7, framealpha=0.9)
    _draw_titles(fig, ax, layers)
    return fig


# ---------------------------------------------------------------------------- layers
def _draw_density(fig, ax, layers: MapLayers) -> None:
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    d = layers.density
    g = d.grid
    ax.imshow(
        colour_density(d.values, d.vmax),
        extent=(g.x_min, g.x_max, g.y_min, g.y_max),
        origin="upper",
        interpolation="nearest",
        alpha=DENSITY_OPACITY,
        zorder=1,
        gid="density",
    )
    mappable = ScalarMappable(norm=Normalize(0.0, d.vmax), cmap=colormaps[DENSITY_CMAP])
    bar = fig.colorbar(mappable, ax=ax, orientation="horizontal", fraction=0.035, pad=0.02)
    bar.set_label(f"Density ({d.units})", parse_math=False)
    bar.solids.set_alpha(DENSITY_OPACITY)
    bar.ax.set_gid("density_colorbar")


def _rings(geoms) -> list[np.ndarray]:
    """Every exterior and interior ring of (multi)polygons as ``(n, 2)`` coordinate arrays."""
    import shapely

    parts = shapely.get_parts(np.asarray(geoms, dtype=object))
    rings = []
    for poly in parts:
        rings.append(np.asarray(poly.exterior.coords))
        rings.extend(np.asarray(r.coords) for r in poly.interiors)
    return rings


def _polygon_path(geoms):
    """One compound matplotlib Path of (multi)polygons; holes are drawn as holes."""
    import shapely
    from matplotlib.path import Path as MplPath
    from shapely.geometry.polygon import orient

    paths = []
    for poly in shapely.get_parts(np.asarray(geoms, dtype=object)):
        poly = orient(poly, sign=1.0)  # exterior anticlockwise, holes clockwise
        for ring in [poly.exterior, *poly.interiors]:
            xy = np.asarray(ring.coords)
            codes = np.full(len(xy), MplPath.LINETO, dtype=MplPath.code_type)
            codes[0], codes[-1] = MplPath.MOVETO, MplPath.CLOSEPOLY
            paths.append(MplPath(xy, codes))
    return MplPath.make_compound_path(*paths)


def _draw_lines(ax, geoms, colour: str, width: float, zorder: float, gid: str) -> None:
    from matplotlib.collections import LineCollection

    ax.add_collection(
        LineCollection(_rings(geoms), colors=colour, linewidths=width, zorder=zorder, gid=gid),
        autolim=False,
    )


def _draw_boundaries(ax, gdf, crs, colour: str, width: float, gid: str) -> None:
    _draw_lines(ax, gdf.to_crs(crs).geometry.to_numpy(), colour, width, 3, gid)


def _draw_hotspots(ax, cells, crs) -> list:
    from matplotlib.patches import Patch, PathPatch

    patches = dissolve_bins(cells.to_crs(crs))
    for b in present_bins(cells):
        path = _polygon_path(patches.geometry[patches["bin"] == b].to_numpy())
        ax.add_patch(
            PathPatch(
                path,
                facecolor=BIN_COLOURS[b],
                edgecolor=BIN_COLOURS[b],
                alpha=0.55,
                linewidth=0.6,
                zorder=2,
                gid="hotspots",
            )
        )
    return [
        Patch(facecolor=BIN_COLOURS[b], alpha=0.55, label=BIN_LABELS[b])
        for b in present_bins(cells)
    ]


def _draw_patrol(ax, areas, crs) -> list:
    from matplotlib.lines import Line2D

    areas = areas.to_crs(crs)
    _draw_lines(ax, areas.geometry.to_numpy(), PATROL_COLOUR, 2.0, 4, "patrol_areas")
    points = areas.geometry.representative_point()
    for rank, pt in zip(areas["rank"], points, strict=True):
        ax.text(
            pt.x,
            pt.y,
            str(int(rank)),
            ha="center",
            va="center",
            fontsize=8,
            fontweight="bold",
            color=PATROL_COLOUR,
            zorder=6,
            gid="patrol_rank",
            bbox={"boxstyle": "circle,pad=0.25", "fc": "white", "ec": PATROL_COLOUR, "lw": 1.2},
        )
    return [Line2D([], [], color=PATROL_COLOUR, lw=2, label="Patrol area (number = rank)")]


def _draw_incidents(ax, incidents, crs) -> list:
    from matplotlib.lines import Line2D

    pts = incidents.geometry.to_crs(crs)
    ax.scatter(
        pts.x, pts.y, s=3, c=INCIDENT_COLOUR, alpha=0.5, linewidths=0, zorder=4.5,
        gid="incidents",
    )
    return [
        Line2D([], [], marker="o", ls="", ms=3, color=INCIDENT_COLOUR,
               label=f"Incident this period ({len(incidents):,})")
    ]


def _draw_lpu_names(ax, lpus, crs) -> None:
    """Each LPU's name at a point inside it (when that point is in view), with a halo."""
    from matplotlib import patheffects

    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    points = lpus.to_crs(crs).geometry.representative_point()
    for name, pt in zip(lpus["lpu"], points, strict=True):
        if not (x0 <= pt.x <= x1 and y0 <= pt.y <= y1):
            continue
        ax.text(
            pt.x, pt.y, str(name), ha="center", va="center", fontsize=8, fontweight="bold",
            color=LPU_COLOUR, zorder=6.5, gid="lpu_labels", parse_math=False,
            path_effects=[patheffects.withStroke(linewidth=2.5, foreground="white")],
        )


def _draw_repeats(ax, places, crs) -> list:
    from matplotlib.lines import Line2D

    pts = places.geometry.to_crs(crs)
    ax.scatter(
        pts.x,
        pts.y,
        s=28,
        c=REPEAT_COLOUR,
        edgecolors="white",
        linewidths=0.8,
        zorder=5,
        gid="repeat_places",
    )
    return [
        Line2D([], [], marker="o", ls="", color=REPEAT_COLOUR, mec="white", label="Repeat place")
    ]


# ---------------------------------------------------------------------------- frame
def view_limits(layers: MapLayers, crs) -> tuple[tuple[float, float], tuple[float, float]]:
    """``((x_min, x_max), (y_min, y_max))`` of the view in ``crs`` (2 % margin)."""
    x0, y0, x1, y1 = layers.view_bounds_wgs84
    t = np.linspace(0.0, 1.0, 21)
    lon = np.concatenate([x0 + (x1 - x0) * t, np.full(21, x1), x0 + (x1 - x0) * t, np.full(21, x0)])
    lat = np.concatenate([np.full(21, y0), y0 + (y1 - y0) * t, np.full(21, y1), y0 + (y1 - y0) * t])
    x, y = transformer(WGS84, crs).transform(lon, lat)
    pad = 0.02 * max(np.ptp(x), np.ptp(y), 1.0)
    xlim = (float(np.min(x) - pad), float(np.max(x) + pad))
    ylim = (float(np.min(y) - pad), float(np.max(y) + pad))
    return xlim, ylim


def nice_length(target_m: float) -> float:
    """The largest 1, 2 or 5 × 10^k metres not above ``target_m`` (scale-bar length)."""
    if not (math.isfinite(target_m) and target_m > 0):
        raise InvalidParameterError(f"scale bar target must be positive metres, got {target_m}")
    power = 10 ** math.floor(math.log10(target_m))
    for step in (5, 2, 1):
        if step * power <= target_m:
            return float(step * power)
    return float(power)  # pragma: no cover - unreachable


def _draw_scale_bar(ax) -> None:
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    length = nice_length((x1 - x0) / 5)
    xs = x1 - (x1 - x0) * 0.04 - length
    ys = y0 + (y1 - y0) * 0.04
    ax.plot(
        [xs, xs + length],
        [ys, ys],
        color="black",
        lw=3,
        zorder=7,
        gid="scale_bar",
        solid_capstyle="butt",
    )
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(
        xs + length / 2,
        ys + (y1 - y0) * 0.012,
        label,
        ha="center",
        va="bottom",
        fontsize=8,
        zorder=7,
        gid="scale_bar",
    )


def _draw_north_arrow(ax) -> None:
    ax.annotate(
        "N",
        xy=(0.96, 0.95),
        xytext=(0.96, 0.88),
        xycoords="axes fraction",
        ha="center",
        va="center",
        fontsize=10,
        fontweight="bold",
        arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.5},
        zorder=7,
        gid="north_arrow",
    )


def _subtitle(layers: MapLayers, width_inches: float) -> str:
    """Period, window and data description wrapped to at most :data:`SUBTITLE_LINES` lines."""
    text = f"Period: {layers.period} · Window: {layers.window} · Data: {layers.data_source}"
    chars = max(20, int(width_inches * SUBTITLE_CHARS_PER_INCH))
    lines = textwrap.wrap(text, width=chars, break_long_words=True)
    if len(lines) > SUBTITLE_LINES:
        lines = lines[:SUBTITLE_LINES]
        lines[-1] = lines[-1][: chars - 1].rstrip() + "…"
    return "\n".join(lines)


def _draw_titles(fig, ax, layers: MapLayers) -> None:
    # wrapped by hand: matplotlib's wrap=True measures text as mathtext despite parse_math.
    # The title is the figure's suptitle, which the constrained layout keeps room for.
    ax.set_title(_subtitle(layers, fig.get_size_inches()[0]), fontsize=9, parse_math=False)
    title = fig.suptitle(layers.title, fontsize=14, fontweight="bold", parse_math=False)
    title.set_gid("title")
    if layers.synthetic:
        ax.text(
            0.5,
            0.97,
            "SYNTHETIC DATA — not real incidents",
            transform=ax.transAxes,
            ha="center",
            va="top",
            fontsize=14,
            fontweight="bold",
            color="white",
            zorder=8,
            gid="synthetic_banner",
            bbox={"boxstyle": "square,pad=0.4", "fc": "#cc0000", "ec": "#cc0000"},
        )
