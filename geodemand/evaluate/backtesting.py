"""Rolling-origin backtest of hot-spot methods: which surface best predicts next period's crime?

:func:`backtest` splits time into periods (calendar months, or 7-day weeks), takes the last
``n_folds`` periods as test periods and, for each, trains every method on the ``train_periods``
periods before it and scores the test period's crimes with :func:`geodemand.evaluate.metrics.
capture_metrics` (hit rate, PAI, PEI*, RRI at the given coverages). All methods are scored on
the same folds, the same units and the same study area.

Units and the study area
------------------------
*Grid mode* (default): the units are the cells of a :class:`~geodemand.grid.Grid` covering
the study area (automatic cell size, announced, unless ``grid`` or ``cell_size_m`` is given).
Each cell's area is the area of the cell **inside** the study area (m², exact polygon
intersection), so ``A`` is the study area itself and edge cells count with their true area.
*Area mode* (``areas=`` a polygon layer, e.g. neighbourhoods): the units are those polygons
(clipped to the study area), and grid surfaces are turned into area scores by their
area-weighted mean over each polygon.

Incidents outside the study area are left out of every count (their number is announced).
Default study area: the union of ``areas`` in area mode, else the whole grid.

Folds
-----
``period="month"``: calendar months; the test periods are the ``n_folds`` months before
``end`` (default: the month after the latest incident). ``period="week"``: 7-day blocks
counted back from ``end`` (default: midnight after the latest incident), so the last fold
ends with the data. Fold ``k`` trains on ``[test_start − window periods, test_start)`` and
tests on ``[test_start, test_start + 1 period)``. Weeks need dated (not month-only)
incidents. Every fold's window must lie inside the data, else an error says how many
periods there are.

Methods (each a small adapter returning one score per unit)
-----------------------------------------------------------
``naive``
    Crimes per unit area in the last period before the test period.
``random``
    Uniform random scores (seeded by ``seed`` and the fold): the baseline, PAI ≈ 1.
``kde`` (one per bandwidth, labelled ``kde_<h>m``)
    Retrospective quartic KDE of the training window (:func:`geodemand.kde`).
``prospective_kde`` (``prospective_kde_<h>m``)
    The same with time decay ``1 / (1 + age_days / 7)`` to the test period's start
    (Bowers, Johnson & Pease 2004).
``gistar``
    Getis-Ord Gi* z-score of the training window's counts (queen ring, cells in the study
    area; :func:`geodemand.gistar`), highest first; undefined z ranks last. In area mode,
    Gi* on the polygons with queen contiguity (``gistar_areas``). The ``significant_share``
    column of the fold table gives the share of the study area in significant hot spots
    (q <= 0.10), so one can see at which coverage the ranking runs past them.
``repeats``
    Repeat places (:func:`geodemand.repeat_locations` on the training window, places keyed
    by ``location_key``): the incidents at places with at least two incidents, summed per
    unit and divided by its area (km²); units without a repeat place score 0.
``targets``
    geodemand's default control-plan score (:func:`geodemand.rank_targets` on the training
    window, on the backtest grid); needs ``lpu`` on the incidents.

Tied scores (e.g. the many zero cells of ``naive``) are filled evenly, i.e. at the expected
capture of a random order (``ties="expected"``, see :mod:`geodemand.evaluate.metrics`).

RRI uses the training-window counts per unit for every method, so it compares methods on
the same "earlier period".
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse

from geodemand._announce import announce
from geodemand.errors import InvalidParameterError
from geodemand.evaluate.metrics import DEFAULT_COVERAGES, TIES, capture_metrics
from geodemand.grid import Grid

__all__ = ["backtest", "BacktestResult", "METHODS", "PERIODS", "CURVE_COVERAGES"]

PERIODS = ("month", "week")
#: Default training window, in periods.
DEFAULT_WINDOW = {"month": 12, "week": 52}
#: Method names accepted by :func:`backtest` (``kde`` and ``prospective_kde`` are swept).
METHODS = ("naive", "random", "kde", "prospective_kde", "gistar", "repeats", "targets")
#: Bandwidths of the default sweep, as multiples of the cell size.
DEFAULT_BANDWIDTH_CELLS = (1.0, 2.0, 4.0)
#: Coverages of the hit-rate curve (0.5 % to 25 % of the study area).
CURVE_COVERAGES = tuple(np.round(np.arange(1, 51) * 0.005, 4))
#: Metrics summarised over folds.
METRICS = ("hit_rate", "pai", "pei_star", "rri")
#: Gi* significance level used for ``significant_share``.
GISTAR_Q = 0.10
#: Label of the hindsight optimum (n*/N) in the summary and the curve.
HINDSIGHT = "hindsight (n*/N)"


# ---------------------------------------------------------------------------- units
@dataclass(frozen=True)
class Units:
    """The spatial units scored by the backtest.

    Attributes
    ----------
    kind : {"cell", "area"}
    grid : Grid
        The raster frame of the methods' surfaces (cells = units in grid mode).
    area_m2 : ndarray
        Area of each unit inside the study area, m² (0 = outside the study area).
    names : ndarray or None
        Area names (area mode).
    cell_weights : scipy.sparse.csr_matrix or None
        Area mode: ``(n_areas, n_cells)`` intersection areas (m²) of each area with each cell.
    polygons : GeoDataFrame or None
        Area mode: the unit polygons clipped to the study area.
    """

    kind: str
    grid: Grid
    area_m2: np.ndarray
    names: np.ndarray | None = None
    cell_weights: sparse.csr_matrix | None = None
    polygons: gpd.GeoDataFrame | None = None

    @property
    def n(self) -> int:
        """Number of units."""
        return int(self.area_m2.size)

    def from_cells(self, surface: np.ndarray) -> np.ndarray:
        """A cell surface as one score per unit (area mode: area-weighted mean)."""
        flat = np.asarray(surface, dtype=np.float64).ravel()
        if self.kind == "cell":
            return flat
        total = self.cell_weights @ np.nan_to_num(flat, nan=0.0)
        out = np.zeros(self.n)
        ok = self.area_m2 > 0
        out[ok] = total[ok] / self.area_m2[ok]
        return out

    def counts(self, unit: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Incidents (or summed weights) per unit from each incident's unit index."""
        return np.bincount(unit, weights=weights, minlength=self.n).astype(np.float64)

    def per_km2(self, values: np.ndarray) -> np.ndarray:
        """Values per unit divided by the unit's area in km² (0 where the area is 0)."""
        out = np.zeros(self.n)
        ok = self.area_m2 > 0
        out[ok] = values[ok] / (self.area_m2[ok] / 1e6)
        return out


def _overlay_areas(boxes: np.ndarray, polygons: np.ndarray) -> sparse.csr_matrix:
    """``(n_polygons, n_boxes)`` matrix of intersection areas (m²), exact.

    Boxes wholly inside a polygon take their own area; only boxes on a polygon's boundary
    are intersected with it.
    """
    tree = shapely.STRtree(boxes)
    poly_i, box_i = tree.query(polygons, predicate="intersects")
    shapely.prepare(polygons)
    inside = shapely.contains_properly(polygons[poly_i], boxes[box_i])
    areas = shapely.area(boxes[box_i])
    edge = ~inside
    if edge.any():
        areas[edge] = shapely.area(shapely.intersection(polygons[poly_i[edge]], boxes[box_i[edge]]))
    keep = areas > 0
    return sparse.csr_matrix(
        (areas[keep], (poly_i[keep], box_i[keep])), shape=(len(polygons), len(boxes))
    )


def _as_geometry(value: Any, crs: str, what: str):
    """A polygonal study area (path, GeoDataFrame/GeoSeries, Areas or shapely) in ``crs``."""
    if value is None:
        return None
    if hasattr(value, "lpus"):  # geodemand.Areas
        value = value.lpus
    if isinstance(value, str | Path):
        try:
            value = gpd.read_file(value)
        except Exception as exc:  # drivers raise many types
            raise InvalidParameterError(f"{value}: cannot read the {what} ({exc})") from exc
    if isinstance(value, gpd.GeoDataFrame | gpd.GeoSeries):
        if value.crs is None:
            raise InvalidParameterError(f"the {what} layer has no CRS")
        geoms = value.to_crs(crs).geometry.values if isinstance(value, gpd.GeoDataFrame) else (
            value.to_crs(crs).values
        )
        geom = shapely.union_all(shapely.make_valid(np.asarray(geoms, dtype=object)))
    elif isinstance(value, shapely.Geometry):
        geom = value
    else:
        raise InvalidParameterError(
            f"{what} must be a polygon layer path, GeoDataFrame, GeoSeries or shapely geometry, "
            f"got {type(value).__name__}"
        )
    if geom.is_empty or geom.area <= 0:
        raise InvalidParameterError(f"the {what} has no area")
    return geom


def _area_layer(areas: Any, crs: str) -> gpd.GeoDataFrame:
    if hasattr(areas, "lpus"):
        areas = areas.neighbourhoods if areas.neighbourhoods is not None else areas.lpus
    if isinstance(areas, str | Path):
        areas = gpd.read_file(areas)
    if not isinstance(areas, gpd.GeoDataFrame):
        raise InvalidParameterError(
            f"areas must be a polygon GeoDataFrame, a path or geodemand.Areas, got "
            f"{type(areas).__name__}"
        )
    if areas.crs is None:
        raise InvalidParameterError("the areas layer has no CRS")
    out = areas.to_crs(crs).reset_index(drop=True)
    out = out.set_geometry(shapely.make_valid(out.geometry.values))
    return out


def build_units(
    crs: str,
    *,
    grid: Grid | None = None,
    areas: Any = None,
    study_area: Any = None,
    cell_size: float | None = None,
) -> tuple[Units, Any]:
    """The backtest's units and study-area geometry (see the module documentation)."""
    study = _as_geometry(study_area, crs, "study area")
    layer = None
    if areas is not None:
        layer = _area_layer(areas, crs)
        if study is None:
            study = shapely.union_all(layer.geometry.values)
    if grid is None:
        if study is None:
            raise InvalidParameterError(
                "backtest needs a grid, areas or a study_area to define the units"
            )
        bounds = gpd.GeoSeries([study], crs=crs)
        grid = Grid.for_areas(bounds, cell_size=cell_size)
    elif cell_size is not None:
        raise InvalidParameterError("give either grid or cell_size, not both")
    boxes = np.asarray(grid.to_geodataframe().geometry.values, dtype=object)
    if layer is None:
        if study is None:
            area = np.full(grid.n_rows * grid.n_cols, grid.cell_area_m2)
        else:
            area = np.asarray(_overlay_areas(boxes, np.array([study], dtype=object)).sum(axis=0))
            area = area.ravel()
        return Units("cell", grid, area), study
    clipped = shapely.intersection(layer.geometry.values, study)
    polys = layer.set_geometry(clipped)
    weights = _overlay_areas(boxes, np.asarray(clipped, dtype=object))
    name_col = next((c for c in ("neighbourhood", "lpu", "name", "Name") if c in layer.columns),
                    None)
    names = (layer[name_col].astype(str).to_numpy() if name_col
             else np.array([str(i) for i in range(len(layer))]))
    return (
        Units("area", grid, shapely.area(np.asarray(clipped, dtype=object)), names, weights, polys),
        study,
    )


def _unit_of_incidents(x: np.ndarray, y: np.ndarray, units: Units, study) -> np.ndarray:
    """Unit index of each incident, -1 outside the study area or off the grid."""
    from geodemand.ingest.areas import label_points

    if units.kind == "area":
        return label_points(x, y, units.polygons).astype(np.int64)
    rows, cols, inside = units.grid.cell_index(x, y)
    unit = np.where(inside, rows * units.grid.n_cols + cols, -1)
    if study is not None:
        layer = gpd.GeoDataFrame(geometry=[study], crs=units.grid.crs)
        unit = np.where(label_points(x, y, layer) >= 0, unit, -1)
    return unit.astype(np.int64)


# ---------------------------------------------------------------------------- folds
def _period_start(ts: pd.Timestamp, period: str) -> pd.Timestamp:
    return ts.to_period("M").to_timestamp() if period == "month" else ts.normalize()


def _offset(period: str, k: int) -> pd.DateOffset | pd.Timedelta:
    return pd.DateOffset(months=k) if period == "month" else pd.Timedelta(days=7 * k)


def make_folds(
    occurred: pd.Series, period: str, n_folds: int, window: int, end: Any = None
) -> pd.DataFrame:
    """The folds: ``fold, train_start, last_start, test_start, test_end`` (Timestamps).

    See the module documentation for the period rules.
    """
    if period not in PERIODS:
        raise InvalidParameterError(f"period must be one of {PERIODS}, got {period!r}")
    if not (isinstance(n_folds, int | np.integer) and n_folds >= 1):
        raise InvalidParameterError(f"n_folds must be a whole number >= 1, got {n_folds!r}")
    if not (isinstance(window, int | np.integer) and window >= 1):
        raise InvalidParameterError(
            f"window must be a whole number of periods >= 1, got {window!r}"
        )
    first, last = occurred.min(), occurred.max()
    if end is None:
        end = (last.to_period("M") + 1).to_timestamp() if period == "month" else (
            last.normalize() + pd.Timedelta(days=1)
        )
        announce(f"backtest ends at {end:%Y-%m-%d} (the {period} after the latest incident)")
    end = pd.Timestamp(end)
    if period == "month" and end != _period_start(end, "month"):
        raise InvalidParameterError(f"end must be the first day of a month, got {end:%Y-%m-%d}")
    rows = []
    for k in range(n_folds, 0, -1):
        test_start = end - _offset(period, k)
        rows.append(
            {
                "fold": n_folds - k + 1,
                "train_start": test_start - _offset(period, window),
                "last_start": test_start - _offset(period, 1),
                "test_start": test_start,
                "test_end": test_start + _offset(period, 1),
            }
        )
    folds = pd.DataFrame(rows)
    data_start = _period_start(first, period)
    if folds["train_start"].iloc[0] < data_start:
        have = (end - data_start) // pd.Timedelta(days=7) if period == "week" else (
            (end.year - data_start.year) * 12 + end.month - data_start.month
        )
        raise InvalidParameterError(
            f"{n_folds} folds with a {window}-{period} window need {n_folds + window} {period}s "
            f"of data before {end:%Y-%m-%d}, but the data start {first:%Y-%m-%d} ({have} "
            f"{period}s); use fewer folds or a shorter window"
        )
    return folds


# ---------------------------------------------------------------------------- methods
@dataclass(frozen=True)
class FoldData:
    """What a method adapter may use for one fold (never the test period)."""

    train: pd.DataFrame
    train_unit: np.ndarray
    last_unit: np.ndarray
    train_start: pd.Timestamp
    test_start: pd.Timestamp
    units: Units
    crs: str
    fold: int
    seed: int


@dataclass(frozen=True)
class Method:
    """A method label, the adapter computing its scores and its parameters."""

    label: str
    adapter: Callable[[FoldData], tuple[np.ndarray, dict]]
    params: dict = field(default_factory=dict)


def _naive(d: FoldData) -> tuple[np.ndarray, dict]:
    return d.units.per_km2(d.units.counts(d.last_unit)), {}


def _random(d: FoldData) -> tuple[np.ndarray, dict]:
    rng = np.random.default_rng([d.seed, d.fold])
    return rng.random(d.units.n), {}


def _kde_adapter(bandwidth: float, prospective: bool, method: str) -> Callable[[FoldData], tuple]:
    def run(d: FoldData) -> tuple[np.ndarray, dict]:
        from geodemand.engines.density import kde

        extra = {"decay": "inverse", "reference_date": d.test_start} if prospective else {}
        result = kde(d.train, d.units.grid, bandwidth_m=bandwidth, crs=d.crs, method=method,
                     **extra)
        return d.units.from_cells(result.density), {}

    return run


def _gistar(d: FoldData) -> tuple[np.ndarray, dict]:
    from geodemand.engines.hotspots import gistar, gistar_areas

    counts = d.units.counts(d.train_unit)
    inside = d.units.area_m2 > 0
    if d.units.kind == "cell":
        res = gistar(counts.reshape(d.units.grid.shape), grid=d.units.grid,
                     mask=inside.reshape(d.units.grid.shape))
        z, q = res.z.ravel(), res.q.ravel()
    else:
        layer = d.units.polygons.assign(_count=counts)
        res = gistar_areas(layer.loc[inside], "_count")
        z = np.full(d.units.n, np.nan)
        q = np.full(d.units.n, np.nan)
        z[inside] = res["gi_z"].to_numpy()
        q[inside] = res["gi_q"].to_numpy()
    hot = inside & (z > 0) & (q <= GISTAR_Q)
    share = float(d.units.area_m2[hot].sum() / d.units.area_m2.sum())
    return np.where(np.isnan(z), -np.inf, z), {"significant_share": share}


def _repeats(d: FoldData) -> tuple[np.ndarray, dict]:
    from geodemand.engines.repeats import repeat_locations
    from geodemand.ingest.areas import label_points

    key = "location_key" if "location_key" in d.train.columns else None
    places = repeat_locations(d.train, key=key, by=None, rank_by="count")
    rep = places[places["count"] >= 2]
    x, y = rep["x"].to_numpy(np.float64), rep["y"].to_numpy(np.float64)
    if d.units.kind == "cell":
        rows, cols, on = d.units.grid.cell_index(x, y)
        unit = np.where(on, rows * d.units.grid.n_cols + cols, -1)
    else:
        unit = label_points(x, y, d.units.polygons)
    ok = unit >= 0
    weights = rep["count"].to_numpy(np.float64)[ok]
    info = {"repeat_places": int(len(rep))}
    return d.units.per_km2(d.units.counts(unit[ok].astype(np.int64), weights)), info


def _targets(d: FoldData) -> tuple[np.ndarray, dict]:
    from geodemand.decide.targets import rank_targets

    days = int(math.ceil((d.test_start - d.train_start) / pd.Timedelta(days=1))) + 1
    ranking = rank_targets(
        d.train,
        window_end=d.test_start - pd.Timedelta(nanoseconds=1),
        window_days=days,
        grid=d.units.grid,
    )
    cells = ranking.cells
    surface = np.zeros(d.units.grid.n_rows * d.units.grid.n_cols)
    flat = cells["row"].to_numpy() * d.units.grid.n_cols + cells["col"].to_numpy()
    np.maximum.at(surface, flat, cells["score"].to_numpy(dtype=np.float64))
    return d.units.from_cells(surface), {}


def _method_list(
    methods: Sequence[str], bandwidths: Sequence[float], kde_method: str = "exact"
) -> list[Method]:
    out: list[Method] = []
    for name in methods:
        if name == "naive":
            out.append(Method("naive", _naive, {"window": "last period"}))
        elif name == "random":
            out.append(Method("random", _random, {}))
        elif name in ("kde", "prospective_kde"):
            for h in bandwidths:
                out.append(
                    Method(
                        f"{name}_{h:g}m",
                        _kde_adapter(float(h), name == "prospective_kde", kde_method),
                        {"bandwidth_m": float(h), "kernel": "quartic", "kde_method": kde_method,
                         "decay": "1/(1+age_days/7)" if name == "prospective_kde" else None},
                    )
                )
        elif name == "gistar":
            out.append(Method("gistar", _gistar, {"neighbourhood": "queen",
                                                  "significance_q": GISTAR_Q}))
        elif name == "repeats":
            out.append(Method("repeats", _repeats, {"place": "location_key (else exact x, y)",
                                                    "score": "incidents at places with >= 2 "
                                                             "incidents, per km²"}))
        elif name == "targets":
            out.append(Method("targets", _targets, {"rank_targets": "defaults, backtest grid"}))
        else:
            raise InvalidParameterError(f"unknown method {name!r}; choose from {METHODS}")
    return out


# ---------------------------------------------------------------------------- result
@dataclass(frozen=True)
class BacktestResult:
    """Rolling-origin backtest results.

    Attributes
    ----------
    folds : DataFrame
        One row per fold × method × coverage: ``fold``, ``train_start``, ``test_start``,
        ``test_end``, ``n_train``, ``n_test`` (incidents in the study area), ``method``,
        the metric columns of :func:`geodemand.evaluate.metrics.capture_metrics`,
        ``significant_share`` (Gi* only: share of the study area in significant hot spots,
        q <= 0.10) and ``repeat_places`` (repeats only: places with >= 2 incidents), else NaN.
    summary : DataFrame
        One row per method × coverage × metric: ``mean``, ``sd`` (sample, ddof 1), ``min``,
        ``max`` over folds and ``n_folds`` (folds where the metric is defined). The method
        ``"hindsight (n*/N)"`` gives the best hit rate and PAI any selection of the same area
        could have had (the PEI* denominator), for scale.
    curve : DataFrame
        Mean hit rate over folds per ``method`` and ``coverage`` (0.5 % to 25 %), with the
        hindsight optimum as method ``"hindsight (n*/N)"``.
    params : dict
        Everything that made the result (JSON-safe).
    """

    folds: pd.DataFrame
    summary: pd.DataFrame
    curve: pd.DataFrame
    params: dict

    def table(self, metric: str | None = None) -> pd.DataFrame:
        """Wide table: one row per method × coverage, ``<metric>_mean/_sd/_min/_max``."""
        s = self.summary if metric is None else self.summary[self.summary["metric"] == metric]
        wide = s.pivot_table(index=["method", "coverage"], columns="metric",
                             values=["mean", "sd", "min", "max"], sort=False)
        wide.columns = [f"{m}_{stat}" for stat, m in wide.columns]
        order = [f"{m}_{s}" for m in METRICS for s in ("mean", "sd", "min", "max")
                 if f"{m}_{s}" in wide.columns]
        return wide[order].reset_index()

    def to_markdown(self, digits: int = 3) -> str:
        """The summary as Markdown: one table per coverage, "mean ± sd [min, max]"."""
        return summary_markdown(self.summary, self.params, digits)

    def write(self, out_dir: str | Path, stem: str = "evaluation") -> dict[str, Path]:
        """Write ``<stem>_summary.csv``, ``<stem>_folds.csv``, ``<stem>.md`` and
        ``<stem>_hit_rate.png`` atomically into ``out_dir``; return the paths."""
        from geodemand._atomic import write_text_atomic, write_with

        out = Path(out_dir)
        paths = {
            "summary_csv": out / f"{stem}_summary.csv",
            "folds_csv": out / f"{stem}_folds.csv",
            "markdown": out / f"{stem}.md",
            "plot": out / f"{stem}_hit_rate.png",
        }
        write_with(paths["summary_csv"], lambda p: self.summary.to_csv(p, index=False))
        write_with(paths["folds_csv"], lambda p: self.folds.to_csv(p, index=False))
        write_text_atomic(paths["markdown"], self.to_markdown())
        write_with(paths["plot"], lambda p: plot_curve(self.curve, p, self.params))
        return paths


def _fmt(v: float, digits: int) -> str:
    return "–" if not np.isfinite(v) else f"{v:.{digits}f}"


def summary_markdown(summary: pd.DataFrame, params: dict, digits: int = 3) -> str:
    """Markdown tables (one per coverage) of a backtest summary."""
    labels = {"hit_rate": "hit rate", "pai": "PAI", "pei_star": "PEI*", "rri": "RRI"}
    lines = [
        f"Backtest: {params.get('n_folds')} {params.get('period')}ly folds "
        f"({params.get('first_test')} to {params.get('last_test')}), training window "
        f"{params.get('window')} {params.get('period')}s, {params.get('units')} "
        f"({params.get('n_study_units')} units, study area {params.get('study_area_km2', 0):,.1f} "
        "km²). Each entry: mean ± sd [min, max] over folds.",
        "",
    ]
    for cov in sorted(summary["coverage"].unique()):
        sub = summary[summary["coverage"] == cov]
        lines.append(f"**Coverage {cov:.0%} of the study area**")
        lines.append("")
        lines.append("| method | " + " | ".join(labels[m] for m in METRICS) + " |")
        lines.append("|---|" + "---|" * len(METRICS))
        for method in pd.unique(sub["method"]):
            cells = []
            for m in METRICS:
                r = sub[(sub["method"] == method) & (sub["metric"] == m)]
                if not len(r) or not np.isfinite(r["mean"].iloc[0]):
                    cells.append("–")
                    continue
                r = r.iloc[0]
                cells.append(
                    f"{_fmt(r['mean'], digits)} ± {_fmt(r['sd'], digits)} "
                    f"[{_fmt(r['min'], digits)}, {_fmt(r['max'], digits)}]"
                )
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def plot_curve(
    curve: pd.DataFrame, path: str | Path | None = None, params: dict | None = None
) -> Any:
    """Hit rate against coverage, one line per method; returns the matplotlib Figure.

    ``path`` (optional) also writes it as a PNG, atomically.
    """
    from matplotlib import colormaps

    from geodemand._figures import new_figure, save_png

    fig = new_figure((8, 5.5), dpi=120)
    ax = fig.add_subplot()
    colours = colormaps["tab20"].colors
    for i, (method, sub) in enumerate(curve.groupby("method", sort=False)):
        style = ({"linestyle": "--", "color": "black"} if method.startswith("hindsight")
                 else {"color": colours[(2 * i) % 20 + (2 * i) // 20 % 2]})
        ax.plot(sub["coverage"] * 100, sub["hit_rate"] * 100, label=method, **style)
    ax.set_xlabel("coverage (% of the study area selected)")
    ax.set_ylabel("hit rate (% of test-period crimes captured, mean over folds)")
    if params:
        ax.set_title(
            f"{params.get('n_folds')} {params.get('period')}ly folds, "
            f"{params.get('first_test')} to {params.get('last_test')}"
        )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    if path is not None:
        save_png(fig, path)
    return fig


# ---------------------------------------------------------------------------- driver
class _OnceFilter(logging.Filter):
    """Pass each distinct announcement once (the folds repeat the same choices)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if msg in self.seen:
            return False
        self.seen.add(msg)
        return True


@contextlib.contextmanager
def _announce_once() -> Iterator[None]:
    logger = logging.getLogger("geodemand")
    flt = _OnceFilter()
    logger.addFilter(flt)
    try:
        yield
    finally:
        logger.removeFilter(flt)


def _summarise(folds: pd.DataFrame) -> pd.DataFrame:
    """Mean, sd, min, max per method × coverage × metric, plus the hindsight optimum."""
    first = folds["method"].iloc[0]
    best = folds[folds["method"] == first][["coverage", "fold"]].copy()
    one = folds[folds["method"] == first]
    best["hit_rate"] = one["captured_max"] / one["total"].where(one["total"] > 0)
    best["pai"] = best["hit_rate"] / best["coverage"]
    best["method"] = HINDSIGHT
    both = pd.concat([folds[["method", "coverage", "fold", *METRICS]], best], ignore_index=True)
    long = both.melt(id_vars=["method", "coverage", "fold"], value_vars=list(METRICS),
                     var_name="metric", value_name="value")
    long = long[(long["method"] != HINDSIGHT) | long["metric"].isin(["hit_rate", "pai"])]
    g = long.groupby(["method", "coverage", "metric"], sort=False)["value"]
    return g.agg(mean="mean", sd="std", min="min", max="max", n_folds="count").reset_index()


def backtest(
    incidents: Any,
    *,
    grid: Grid | None = None,
    areas: Any = None,
    study_area: Any = None,
    cell_size_m: float | None = None,
    period: str = "month",
    n_folds: int = 12,
    train_periods: int | None = None,
    end: Any = None,
    methods: Sequence[str] | None = None,
    coverages: Sequence[float] = DEFAULT_COVERAGES,
    bandwidths_m: Sequence[float] | None = None,
    ties: str = "expected",
    seed: int = 0,
    kde_method: str = "exact",
) -> BacktestResult:
    """Rolling-origin backtest of hot-spot methods (see the module documentation).

    Parameters
    ----------
    incidents : IncidentTable or DataFrame
        Canonical incidents (``occurred``, ``x``, ``y`` in metres; ``lpu`` for ``targets``).
        Filter crime types before calling. Not modified.
    grid : Grid, optional
        Raster frame (default: covering the study area, automatic cell size announced).
    areas : path, GeoDataFrame or Areas, optional
        Polygon units (area mode); default grid cells.
    study_area : path, GeoDataFrame, GeoSeries, Areas or shapely geometry, optional
        The area ``A`` (its union); default the union of ``areas``, else the whole grid.
    cell_size_m : float, optional
        Cell side in metres when ``grid`` is None.
    period : {"month", "week"}
    n_folds : int
        Number of test periods (the last ones before ``end``).
    train_periods : int, optional
        Training window in periods (default 12 months or 52 weeks).
    end : date-like, optional
        Exclusive end of the last test period (module documentation for the default).
    methods : sequence of str, optional
        From :data:`METHODS`; default all (``targets`` only if incidents have ``lpu``).
    coverages : sequence of float
        Shares of the study area (default 1 %, 5 %, 10 %).
    bandwidths_m : sequence of float, optional
        KDE search radii in metres for the sweep (default 1, 2 and 4 cell sizes, announced).
    ties : {"expected", "pessimistic"}
        Tie rule of the metrics (:mod:`geodemand.evaluate.metrics`).
    seed : int
        Seed of the ``random`` baseline.
    kde_method : {"exact", "auto", "binned"}
        KDE evaluation (:func:`geodemand.kde`); default ``"exact"`` so that the scores do not
        depend on the automatic speed rule (use ``"auto"`` for very large inputs).

    Returns
    -------
    BacktestResult
    """
    frame = incidents.frame if hasattr(incidents, "frame") else incidents
    crs = frame.attrs.get("crs") or getattr(incidents, "crs", None)
    if crs is None:
        raise InvalidParameterError("incidents carry no CRS (frame.attrs['crs']); read them "
                                    "with geodemand.read_incidents")
    for col in ("occurred", "x", "y"):
        if col not in frame.columns:
            raise InvalidParameterError(f"incidents have no {col!r} column")
    if not len(frame):
        raise InvalidParameterError("no incidents to backtest")
    if ties not in TIES:
        raise InvalidParameterError(f"ties must be one of {TIES}, got {ties!r}")
    month_only = "date_precision" in frame.columns and bool(
        (frame["date_precision"] == "month").any()
    )
    if period == "week" and month_only:
        raise InvalidParameterError(
            "period='week' needs dated incidents, but some have only a month (date_precision "
            "'month', e.g. police.uk street files); use period='month'"
        )
    window = DEFAULT_WINDOW.get(period, 0) if train_periods is None else train_periods
    coverages = tuple(float(c) for c in coverages)
    if methods is None:
        methods = [m for m in METHODS if m != "targets" or "lpu" in frame.columns]
        if "lpu" not in frame.columns:
            announce("method 'targets' left out: the incidents have no 'lpu' (assign_areas)")
    elif "targets" in methods and "lpu" not in frame.columns:
        raise InvalidParameterError("method 'targets' needs an 'lpu' column: run assign_areas")

    with _announce_once():
        folds = make_folds(frame["occurred"], period, n_folds, window, end)
        units, study = build_units(crs, grid=grid, areas=areas, study_area=study_area,
                                   cell_size=cell_size_m)
        bandwidths = bandwidths_m
        if bandwidths is None:
            cs = units.grid.cell_size
            bandwidths = tuple(k * cs for k in DEFAULT_BANDWIDTH_CELLS)
            announce(
                "KDE bandwidth sweep " + ", ".join(f"{h:g}" for h in bandwidths)
                + f" m chosen automatically (1, 2 and 4 cells of {cs:g} m)"
            )
        method_list = _method_list(methods, bandwidths, kde_method)
        x = frame["x"].to_numpy(np.float64)
        y = frame["y"].to_numpy(np.float64)
        unit = _unit_of_incidents(x, y, units, study)
        n_out = int((unit < 0).sum())
        if n_out:
            announce(f"{n_out:,} of {len(frame):,} incidents lie outside the study area "
                     "(not counted)")
        occurred = frame["occurred"].to_numpy()
        rows, curves = [], []
        for f in folds.itertuples(index=False):
            rows_f, curves_f = _run_fold(
                f, frame, occurred, unit, units, crs, method_list, coverages, ties, seed
            )
            rows.extend(rows_f)
            curves.extend(curves_f)
    fold_table = pd.DataFrame(rows)
    curve = pd.concat(curves, ignore_index=True)
    curve = curve.groupby(["method", "coverage"], sort=False)["hit_rate"].mean().reset_index()
    study_units = units.area_m2 > 0
    params = {
        "period": period,
        "n_folds": int(n_folds),
        "window": int(window),
        "first_test": f"{folds['test_start'].iloc[0]:%Y-%m-%d}",
        "last_test": f"{folds['test_start'].iloc[-1]:%Y-%m-%d}",
        "end": f"{folds['test_end'].iloc[-1]:%Y-%m-%d}",
        "units": "grid cells" if units.kind == "cell" else "areas",
        "cell_size_m": units.grid.cell_size,
        "grid_shape": list(units.grid.shape),
        "n_study_units": int(study_units.sum()),
        "study_area_km2": float(units.area_m2.sum() / 1e6),
        "crs": str(crs),
        "methods": {m.label: m.params for m in method_list},
        "bandwidths_m": [float(h) for h in bandwidths],
        "coverages": list(coverages),
        "ties": ties,
        "selection": "fractional at the coverage boundary",
        "rri": "(n/n_train)/(N/N_train), training window counts",
        "seed": int(seed),
        "n_incidents": int(len(frame)),
        "n_outside_study_area": n_out,
    }
    return BacktestResult(fold_table, _summarise(fold_table), curve, params)


def _run_fold(f, frame, occurred, unit, units, crs, method_list, coverages, ties, seed):
    t0, t1 = f.test_start.to_datetime64(), f.test_end.to_datetime64()
    in_train = (occurred >= f.train_start.to_datetime64()) & (occurred < t0)
    in_last = (occurred >= f.last_start.to_datetime64()) & (occurred < t0)
    in_test = (occurred >= t0) & (occurred < t1)
    ok = unit >= 0
    train_sel = in_train & ok
    observed = units.counts(unit[in_test & ok])
    train_counts = units.counts(unit[train_sel])
    data = FoldData(
        train=frame.loc[train_sel],
        train_unit=unit[train_sel],
        last_unit=unit[in_last & ok],
        train_start=f.train_start,
        test_start=f.test_start,
        units=units,
        crs=crs,
        fold=int(f.fold),
        seed=int(seed),
    )
    if not train_sel.any():
        raise InvalidParameterError(
            f"fold {f.fold}: no incidents in the training window {f.train_start:%Y-%m-%d} to "
            f"{f.test_start:%Y-%m-%d}"
        )
    base = {
        "fold": int(f.fold),
        "train_start": f.train_start,
        "test_start": f.test_start,
        "test_end": f.test_end,
        "n_train": int(train_sel.sum()),
        "n_test": int(observed.sum()),
    }
    rows, curves = [], []
    area = units.area_m2
    for m in method_list:
        score, info = m.adapter(data)
        table = capture_metrics(score, observed, coverages=coverages, area=area,
                                train=train_counts, ties=ties)
        for r in table.to_dict("records"):
            rows.append({**base, "method": m.label, **r, "significant_share": np.nan,
                         "repeat_places": np.nan, **info})
        cur = capture_metrics(score, observed, coverages=CURVE_COVERAGES, area=area, ties=ties)
        curves.append(pd.DataFrame({"method": m.label, "coverage": cur["coverage"],
                                    "hit_rate": cur["hit_rate"], "fold": int(f.fold)}))
        if m is method_list[-1]:
            curves.append(pd.DataFrame({
                "method": HINDSIGHT, "coverage": cur["coverage"],
                "hit_rate": cur["captured_max"] / cur["total"].where(cur["total"] > 0),
                "fold": int(f.fold)}))
    return rows, curves
