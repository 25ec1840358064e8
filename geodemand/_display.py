"""How results show themselves: short reprs, Jupyter HTML summaries, quick plots, xarray.

Every result class of the engines, the decision and the evaluation stages uses these helpers so
that they look the same in a notebook:

* ``__repr__``: one line per fact (what, how many, parameters), never a dataclass dump of
  arrays;
* ``_repr_html_``: the same facts as a small HTML table; every value is HTML-escaped (names
  come from input files and are untrusted);
* ``plot(ax=None)``: a quick look in matplotlib, returning the Axes (drawn into ``ax`` or a
  new pyplot figure, as pandas and geopandas do);
* ``to_xarray()``: raster results as an :class:`xarray.DataArray`/``Dataset`` with ``x``/``y``
  cell-centre coordinates in metres and the CRS (WKT) and parameters in ``attrs`` (needs the
  optional ``xarray`` extra: ``pip install "geodemand[xarray]"``).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from geodemand.errors import InvalidParameterError

#: Longest parameter value shown in a summary (characters); longer values are cut with "…".
MAX_VALUE_CHARS = 80


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    if isinstance(value, float):
        text = f"{value:.6g}"
    if isinstance(value, tuple | list) and len(value) > 8:
        text = repr(list(value[:8]))[:-1] + f", … ({len(value)} values)]"
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def text_summary(title: str, facts: Mapping[str, Any],
                 params: Mapping[str, Any] | None = None) -> str:
    """A plain-text summary: the title, then ``name: value`` lines (facts, then parameters)."""
    lines = [title]
    lines += [f"  {k}: {_short(v)}" for k, v in facts.items()]
    if params:
        shown = {k: v for k, v in params.items() if not isinstance(v, Mapping | np.ndarray)}
        if shown:
            lines.append("  parameters: " + ", ".join(f"{k}={_short(v)}"
                                                        for k, v in shown.items()))
    return "\n".join(lines)


def html_summary(title: str, facts: Mapping[str, Any],
                 params: Mapping[str, Any] | None = None, table: Any = None,
                 max_rows: int = 10) -> str:
    """The same summary as an HTML fragment for Jupyter; every value is HTML-escaped.

    ``table`` (a DataFrame) is shown below the facts, first ``max_rows`` rows, escaped by
    pandas (``escape=True``).
    """
    esc = html.escape
    rows = "".join(
        f"<tr><th style='text-align:left'>{esc(str(k))}</th><td style='text-align:left'>"
        f"{esc(_short(v))}</td></tr>"
        for k, v in facts.items()
    )
    out = [f"<div><strong>{esc(title)}</strong><table>{rows}</table>"]
    if params:
        shown = {k: v for k, v in params.items() if not isinstance(v, Mapping | np.ndarray)}
        if shown:
            items = ", ".join(f"{esc(str(k))}={esc(_short(v))}" for k, v in shown.items())
            out.append(f"<details><summary>parameters</summary><p>{items}</p></details>")
    if table is not None and len(table):
        out.append(table.head(max_rows).to_html(escape=True, border=0, max_cols=12))
        if len(table) > max_rows:
            out.append(f"<p>… {len(table) - max_rows:,} more rows</p>")
    out.append("</div>")
    return "".join(out)


def plot_raster(values: np.ndarray, grid: Any, ax: Any = None, *, title: str = "",
                label: str = "", cmap: str = "viridis", diverging: bool = False,
                categories: Iterable[tuple[int, str, str]] | None = None) -> Any:
    """Draw a grid array (row 0 north) in its CRS metres; return the Axes.

    ``diverging`` centres the colour scale on 0 (z-scores); ``categories`` draws integer codes
    with fixed colours and a legend (``(code, label, colour)``). NaN and masked cells are
    transparent.
    """
    from geodemand._figures import axes_for

    ax = axes_for(ax)
    extent = (grid.x_min, grid.x_max, grid.y_min, grid.y_max)
    data = np.asarray(values, dtype=np.float64)
    if categories is not None:
        from matplotlib.colors import ListedColormap
        from matplotlib.patches import Patch

        cats = list(categories)
        codes = np.full(data.shape, np.nan)
        for i, (code, _, _) in enumerate(cats):
            codes[data == code] = i
        ax.imshow(np.ma.masked_invalid(codes), extent=extent, origin="upper",
                  cmap=ListedColormap([c for _, _, c in cats]), vmin=-0.5,
                  vmax=len(cats) - 0.5, interpolation="nearest")
        present = {int(c) for c in np.unique(data[np.isfinite(data)])}
        handles = [Patch(color=c, label=lab) for code, lab, c in cats if code in present]
        if handles:
            ax.legend(handles=handles, loc="best", fontsize="small")
    else:
        finite = data[np.isfinite(data)]
        kwargs: dict[str, Any] = {}
        if diverging and finite.size:
            top = float(np.abs(finite).max()) or 1.0
            kwargs = {"vmin": -top, "vmax": top}
            cmap = "RdBu_r" if cmap == "viridis" else cmap
        image = ax.imshow(np.ma.masked_invalid(data), extent=extent, origin="upper",
                          cmap=cmap, interpolation="nearest", **kwargs)
        ax.figure.colorbar(image, ax=ax, label=label, shrink=0.8)
    ax.set_title(title)
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_aspect("equal")
    return ax


def grid_coords(grid: Any) -> dict[str, np.ndarray]:
    """Cell-centre coordinates of a grid: ``y`` (north first) and ``x``, metres."""
    return {"y": grid.row_centres(), "x": grid.col_centres()}


def raster_attrs(grid: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """xarray attributes: CRS as WKT, cell size (m), transform and the scalar parameters."""
    from pyproj import CRS

    attrs: dict[str, Any] = {
        "crs": CRS.from_user_input(grid.crs).to_wkt(),
        "cell_size_m": float(grid.cell_size),
        "transform": tuple(grid.transform)[:6],
    }
    for k, v in params.items():
        if isinstance(v, str | int | float | bool) and k not in attrs:
            attrs[k] = v
    return attrs


def require_xarray() -> Any:
    """The xarray module, or a clear error saying how to install it."""
    try:
        import xarray
    except ImportError as exc:
        raise InvalidParameterError(
            "to_xarray() needs xarray: pip install \"geodemand[xarray]\""
        ) from exc
    return xarray


def require_grid(grid: Any, what: str) -> Any:
    """``grid`` or an error saying the result is not a raster (area-based results)."""
    if grid is None:
        raise InvalidParameterError(
            f"{what}: this result is per area, not on a grid; use to_geodataframe()"
        )
    return grid
