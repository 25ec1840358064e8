"""The raster frame every engine shares.

A :class:`Grid` is a north-up raster in a projected metric CRS. Arrays on a grid have shape
``(n_rows, n_cols)`` with row 0 at the **north** edge (the usual raster and GeoTIFF order),
so ``array[row, col]`` is the cell whose centre is
``(x_min + (col + 0.5) * cell_size, y_max - (row + 0.5) * cell_size)``.

Cells are closed on their west and south edges and open on the east and north edges:
a point exactly on a shared edge goes to the cell east (or north) of it. The east and north
boundary of the whole grid belongs to the last column / first row so that a grid built
with :meth:`Grid.for_points` contains every point it was built from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from affine import Affine

from geodemand._announce import announce
from geodemand.errors import GridTooLargeError, InvalidParameterError

#: Default limit on the number of cells of one grid (float64 array of 400 M cells = 3.2 GB).
MAX_CELLS = 400_000_000

#: Divisor of the automatic cell-size rule (Chainey 2013: shorter side / 150).
AUTO_CELL_DIVISOR = 150


def nice_cell_size(raw: float) -> float:
    """Round a raw cell size (metres) down to 1, 2, 2.5 or 5 times a power of ten.

    Parameters
    ----------
    raw : float
        Cell size in metres, > 0.

    Returns
    -------
    float
        A "nice" cell size in metres, never below 1 m.
    """
    if not math.isfinite(raw) or raw <= 0:
        raise InvalidParameterError(f"cell size must be a positive number of metres, got {raw!r}")
    if raw < 1:
        return 1.0
    power = 10 ** math.floor(math.log10(raw))
    for step in (5, 2.5, 2, 1):
        if raw >= step * power:
            return float(step * power)
    return float(power)  # pragma: no cover - unreachable


@dataclass(frozen=True)
class Grid:
    """A north-up raster frame in a projected CRS (all lengths in metres).

    Parameters
    ----------
    x_min, y_min : float
        West and south edges of the grid, metres in ``crs``.
    cell_size : float
        Side of a square cell, metres.
    n_cols, n_rows : int
        Number of columns (west to east) and rows (north to south).
    crs : str
        The projected CRS, e.g. ``"EPSG:27700"``.
    """

    x_min: float
    y_min: float
    cell_size: float
    n_cols: int
    n_rows: int
    crs: str

    def __post_init__(self) -> None:
        if not (math.isfinite(self.cell_size) and self.cell_size > 0):
            raise InvalidParameterError(
                f"Grid cell_size must be a positive number of metres, got {self.cell_size!r}"
            )
        if self.n_cols < 1 or self.n_rows < 1:
            raise InvalidParameterError(
                f"Grid needs at least one row and column, got {self.n_rows} x {self.n_cols}"
            )
        if not (math.isfinite(self.x_min) and math.isfinite(self.y_min)):
            raise InvalidParameterError("Grid origin must be finite")
        check_grid_size(self.n_rows, self.n_cols)

    # ------------------------------------------------------------------ geometry
    @property
    def shape(self) -> tuple[int, int]:
        """Array shape ``(n_rows, n_cols)``."""
        return (self.n_rows, self.n_cols)

    @property
    def x_max(self) -> float:
        """East edge, metres."""
        return self.x_min + self.n_cols * self.cell_size

    @property
    def y_max(self) -> float:
        """North edge, metres."""
        return self.y_min + self.n_rows * self.cell_size

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(x_min, y_min, x_max, y_max)`` in metres."""
        return (self.x_min, self.y_min, self.x_max, self.y_max)

    @property
    def cell_area_m2(self) -> float:
        """Area of one cell, square metres."""
        return self.cell_size * self.cell_size

    @property
    def cell_area_km2(self) -> float:
        """Area of one cell, square kilometres."""
        return self.cell_area_m2 / 1e6

    @property
    def transform(self) -> Affine:
        """Affine transform from (col, row) to (x, y) of the cell's upper-left corner."""
        return Affine(self.cell_size, 0.0, self.x_min, 0.0, -self.cell_size, self.y_max)

    def col_centres(self) -> np.ndarray:
        """x of each column's centre, metres, shape ``(n_cols,)``."""
        return self.x_min + (np.arange(self.n_cols) + 0.5) * self.cell_size

    def row_centres(self) -> np.ndarray:
        """y of each row's centre, metres, shape ``(n_rows,)`` (north first)."""
        return self.y_max - (np.arange(self.n_rows) + 0.5) * self.cell_size

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Cell-centre coordinates as two ``(n_rows, n_cols)`` arrays ``(x, y)``."""
        return np.meshgrid(self.col_centres(), self.row_centres())

    # ------------------------------------------------------------------ binning
    def cell_index(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row and column of each point, and whether it lies on the grid.

        Parameters
        ----------
        x, y : array_like
            Coordinates in metres (grid CRS).

        Returns
        -------
        rows, cols : ndarray of int64
            Cell indices (meaningful only where ``inside``).
        inside : ndarray of bool
            True for points within the grid bounds (east/north outer edges included).
        """
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        fc = np.floor((x - self.x_min) * (1.0 / self.cell_size))
        fs = np.floor((y - self.y_min) * (1.0 / self.cell_size))
        # west/south-closed cells; the grid's own east/north edge joins the edge cell
        fc[x == self.x_max] = self.n_cols - 1
        fs[y == self.y_max] = self.n_rows - 1
        inside = (fc >= 0) & (fc < self.n_cols) & (fs >= 0) & (fs < self.n_rows)
        cols = np.where(inside, fc, 0).astype(np.int64)
        rows = (self.n_rows - 1) - np.where(inside, fs, self.n_rows - 1).astype(np.int64)
        return rows, cols, inside

    def bin_counts(
        self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None
    ) -> np.ndarray:
        """Sum of weights (default 1 per point) per cell, shape ``(n_rows, n_cols)``.

        Points off the grid are ignored; use :meth:`cell_index` to count them.
        """
        rows, cols, inside = self.cell_index(x, y)
        flat = rows[inside] * self.n_cols + cols[inside]
        w = None if weights is None else np.asarray(weights, dtype=np.float64)[inside]
        counts = np.bincount(flat, weights=w, minlength=self.n_rows * self.n_cols)
        return counts.reshape(self.shape).astype(np.float64)

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_bounds(
        cls,
        bounds: tuple[float, float, float, float],
        cell_size: float | None,
        crs: str,
        *,
        snap: bool = True,
        announce_choice: bool = True,
    ) -> Grid:
        """A grid covering ``bounds`` (metres), with cells of ``cell_size`` metres.

        With ``cell_size=None`` the cell size is automatic: the shorter side of the bounds
        divided by 150 (Chainey's rule), rounded down to 1/2/2.5/5 x 10^k metres; the choice
        is announced. With ``snap`` the origin is snapped to a multiple of the cell size so
        grids built from different data line up.
        """
        x0, y0, x1, y1 = (float(v) for v in bounds)
        if not all(math.isfinite(v) for v in (x0, y0, x1, y1)) or x1 < x0 or y1 < y0:
            raise InvalidParameterError(f"invalid grid bounds {bounds!r}")
        if cell_size is None:
            shorter = min(x1 - x0, y1 - y0)
            if shorter <= 0:
                raise InvalidParameterError(
                    "cannot choose a cell size automatically for a zero-width extent; "
                    "pass cell_size in metres"
                )
            cell_size = nice_cell_size(shorter / AUTO_CELL_DIVISOR)
            if announce_choice:
                announce(
                    f"cell size {cell_size:g} m chosen automatically (shorter side "
                    f"{shorter:,.0f} m / {AUTO_CELL_DIVISOR}, rounded down)"
                )
        cell_size = float(cell_size)
        if not (math.isfinite(cell_size) and cell_size > 0):
            raise InvalidParameterError(f"cell_size must be positive metres, got {cell_size!r}")
        if snap:
            x0 = math.floor(x0 / cell_size) * cell_size
            y0 = math.floor(y0 / cell_size) * cell_size
        n_cols = max(1, math.ceil((x1 - x0) / cell_size))
        n_rows = max(1, math.ceil((y1 - y0) / cell_size))
        # make sure the far edges are strictly covered (floating point)
        if x0 + n_cols * cell_size < x1:
            n_cols += 1
        if y0 + n_rows * cell_size < y1:
            n_rows += 1
        check_grid_size(n_rows, n_cols)
        return cls(x0, y0, cell_size, int(n_cols), int(n_rows), crs)

    @classmethod
    def for_points(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        crs: str,
        cell_size: float | None = None,
        padding: float = 0.0,
    ) -> Grid:
        """A grid covering points ``x, y`` (metres) plus ``padding`` metres on each side."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        ok = np.isfinite(x) & np.isfinite(y)
        if not ok.any():
            raise InvalidParameterError("Grid.for_points needs at least one finite point")
        bounds = (
            x[ok].min() - padding,
            y[ok].min() - padding,
            x[ok].max() + padding,
            y[ok].max() + padding,
        )
        return cls.from_bounds(bounds, cell_size, crs)

    @classmethod
    def for_areas(cls, areas, cell_size: float | None = None, padding: float = 0.0) -> Grid:
        """A grid covering a GeoDataFrame/GeoSeries of areas in a projected CRS."""
        crs = areas.crs
        if crs is None or not crs.is_projected:
            raise InvalidParameterError(
                "Grid.for_areas needs areas in a projected metric CRS; reproject first"
            )
        x0, y0, x1, y1 = areas.total_bounds
        bounds = (x0 - padding, y0 - padding, x1 + padding, y1 + padding)
        return cls.from_bounds(bounds, cell_size, crs.to_string())

    def window(self, rows: slice, cols: slice) -> Grid:
        """The sub-grid of the cells ``[rows, cols]`` (same cell size and CRS; slices with
        step 1 inside the grid), so ``values[rows, cols]`` is an array on it."""
        r0, r1, r_step = rows.indices(self.n_rows)
        c0, c1, c_step = cols.indices(self.n_cols)
        if r_step != 1 or c_step != 1 or r1 <= r0 or c1 <= c0:
            raise InvalidParameterError(
                f"Grid.window needs non-empty row and column slices with step 1, got "
                f"{rows!r}, {cols!r} on a {self.n_rows} x {self.n_cols} grid"
            )
        return Grid(
            x_min=self.x_min + c0 * self.cell_size,
            y_min=self.y_min + (self.n_rows - r1) * self.cell_size,
            cell_size=self.cell_size,
            n_cols=c1 - c0,
            n_rows=r1 - r0,
            crs=self.crs,
        )

    def to_geodataframe(self, mask: np.ndarray | None = None):
        """Cells as a GeoDataFrame of square polygons with ``row``, ``col`` columns.

        Parameters
        ----------
        mask : ndarray of bool, optional
            ``(n_rows, n_cols)``; only cells where it is True are returned.
        """
        import geopandas as gpd

        rows, cols = np.indices(self.shape)
        rows = rows.ravel()
        cols = cols.ravel()
        if mask is not None:
            keep = np.asarray(mask, dtype=bool).ravel()
            rows, cols = rows[keep], cols[keep]
        geoms = self.cell_boxes(rows, cols)
        return gpd.GeoDataFrame({"row": rows, "col": cols}, geometry=geoms, crs=self.crs)

    def cell_boxes(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Square polygons (shapely, grid CRS) of the cells at ``rows``, ``cols`` (in that
        order); the same squares as :meth:`to_geodataframe`."""
        import shapely

        rows = np.asarray(rows)
        cols = np.asarray(cols)
        x0 = self.x_min + cols * self.cell_size
        y1 = self.y_max - rows * self.cell_size
        return shapely.box(x0, y1 - self.cell_size, x0 + self.cell_size, y1)


def check_grid_size(n_rows: int, n_cols: int, max_cells: int = MAX_CELLS) -> None:
    """Raise :class:`GridTooLargeError` if a float64 grid would be too large.

    The message states the size the grid would need in memory.
    """
    cells = int(n_rows) * int(n_cols)
    if cells > max_cells:
        gib = cells * 8 / 2**30
        raise GridTooLargeError(
            f"grid of {n_rows:,} x {n_cols:,} = {cells:,} cells would need {gib:,.1f} GiB "
            f"per float64 layer (limit {max_cells:,} cells); use a larger cell size or a "
            f"smaller extent"
        )
