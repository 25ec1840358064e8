"""Rolling-origin backtest of hot-spot methods: which surface best predicts next period's demand
and harm?

:func:`backtest` takes the demand stage's output (:class:`geodemand.demand.demand.Demand`, or
incidents it passes through :func:`geodemand.prepare_demand` once, with the defaults: police-
generated types out, CCHI harm weights), so every method is trained **and** scored on the same
crime set. It splits time into periods (calendar months, or ISO weeks for dated data), takes
the last ``n_folds`` periods as test periods and, for each, trains every method on the periods
before it (all available history up to ``train_periods``, at least ``min_train_periods``) and
scores the test period with :func:`geodemand.evaluate.metrics.capture_metrics`:

* incidents: hit rate, PAI, PEI*, RRI at the given coverages of the study area;
* harm: ``harm_hit_rate`` (share of the test period's harm, CCHI days, captured), ``harm_pai``
  (that share / share of area) and ``harm_pei_star``, for the same selection;
* per LPU (``areas`` given): the same measures with the coverage taken of the LPU's area;
* places: the share of the test period's incidents and harm at each method's top-N places
  (N in ``place_counts``).

Units and the study area
------------------------
*Grid mode* (default): the units are the cells of a :class:`~geodemand.grid.Grid` covering
the study area (automatic cell size, announced, unless ``grid`` or ``cell_size_m`` is given).
Each cell's area is the area of the cell **inside** the study area (m², exact polygon
intersection), so ``A`` is the study area itself and edge cells count with their true area.
*Area mode* (``area_units=`` a polygon layer, e.g. neighbourhoods): the units are those
polygons (clipped to the study area), and grid surfaces are turned into area scores by their
area-weighted mean over each polygon. Incidents outside the study area are left out of every
count (their number is announced). Default study area: the union of the LPUs (``areas``),
else of ``area_units``, else the whole grid.

Folds
-----
``period="month"``: calendar months; ``period="week"``: ISO weeks (Monday to Sunday; needs
dated incidents). The test periods are the ``n_folds`` periods before ``end`` (default: the
period after the latest complete period of the data). Fold ``k`` trains on
``[max(data start, test_start − train_periods), test_start)`` and tests on the next period;
every fold needs ``min_train_periods`` of history, else an error says how many there are.

Methods (each a small adapter returning one score per unit, and per place)
-------------------------------------------------------------------------
``naive``
    Incidents per unit area in the last period before the test period.
``counts_12m``, ``counts_24m``
    Incidents per unit area over the last 12 (24) months, or 52 (104) weeks, of the training
    history: the long-term-count baselines.
``random``
    Uniform random scores (seeded by ``seed`` and the fold): PAI ≈ 1.
``kde`` (one per bandwidth, labelled ``kde_<h>m``)
    Retrospective quartic KDE of the training history (:func:`geodemand.kde`).
``prospective_kde`` (``prospective_kde_<h>m``)
    The same with time decay ``1 / (1 + age_days / 7)`` to the test period's start
    (Bowers, Johnson & Pease 2004).
``gistar``
    Getis-Ord Gi* z-score of the training counts (queen ring, cells in the study area),
    highest first. The ``significant_share`` column of the fold table gives the share of the
    study area in significant hot spots (q <= 0.10).
``repeats``
    Incidents at repeat places (places with at least two incidents in the training history),
    summed per unit and divided by its area (km²).
``targets``
    geodemand's default target score (:mod:`geodemand.decide.score`: expected harm next
    period = expected incidents × shrunk harm per incident), fitted on the training history
    only, per unit area.

Tied scores are filled evenly, i.e. at the expected capture of a random order
(``ties="expected"``, see :mod:`geodemand.evaluate.metrics`). RRI uses the training history's
counts per unit for every method.
"""

from __future__ import annotations

import contextlib
import logging
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
from geodemand.demand.demand import Demand, prepare_demand
from geodemand.demand.periods import period_floor, period_offset, periods_between
from geodemand.errors import InvalidParameterError
from geodemand.evaluate.metrics import DEFAULT_COVERAGES, TIES, capture_metrics
from geodemand.grid import Grid

__all__ = ["backtest", "BacktestResult", "METHODS", "PERIODS", "CURVE_COVERAGES"]

PERIODS = ("month", "week")
#: Default longest training history, periods (two years).
DEFAULT_TRAIN = {"month": 24, "week": 104}
#: Default shortest training history, periods (one year).
DEFAULT_MIN_TRAIN = {"month": 12, "week": 52}
#: Method names accepted by :func:`backtest` (``kde`` and ``prospective_kde`` are swept).
METHODS = ("naive", "counts_12m", "counts_24m", "random", "kde", "prospective_kde", "gistar",
           "repeats", "targets")
#: The baselines the default targeting method must match or beat.
BASELINES = ("naive", "counts_12m", "counts_24m", "kde", "repeats")
#: Bandwidths of the default sweep, as multiples of the cell size.
DEFAULT_BANDWIDTH_CELLS = (1.0, 2.0, 4.0)
#: Coverages of the hit-rate curve (0.5 % to 25 % of the study area).
CURVE_COVERAGES = tuple(np.round(np.arange(1, 51) * 0.005, 4))
#: Metrics summarised over folds.
METRICS = ("hit_rate", "pai", "pei_star", "rri", "harm_hit_rate", "harm_pai", "harm_pei_star")
#: Top-N places of the place-level capture.
PLACE_COUNTS = (10, 50, 100)
#: Gi* significance level used for ``significant_share``.
GISTAR_Q = 0.10
#: Label of the hindsight optimum (n*/N) in the summary and the curve.
HINDSIGHT = "hindsight (n*/N)"
#: Months a window label counts for (weeks: 52 per year).
_WINDOW_MONTHS = {"counts_12m": 12, "counts_24m": 24}


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
def make_folds(
    occurred: pd.Series,
    period: str,
    n_folds: int,
    train_periods: int,
    end: Any = None,
    min_train_periods: int | None = None,
) -> pd.DataFrame:
    """The folds: ``fold, train_start, last_start, test_start, test_end`` (Timestamps).

    ``train_start`` is the later of the data's first period and ``test_start`` minus
    ``train_periods``; every fold needs ``min_train_periods`` (default ``train_periods``) of
    history. See the module documentation for the period rules.
    """
    if period not in PERIODS:
        raise InvalidParameterError(f"period must be one of {PERIODS}, got {period!r}")
    for name, value in (("n_folds", n_folds), ("train_periods", train_periods)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise InvalidParameterError(f"{name} must be a whole number >= 1, got {value!r}")
    need = train_periods if min_train_periods is None else min_train_periods
    if isinstance(need, bool) or not isinstance(need, int | np.integer) or not (
        1 <= need <= train_periods
    ):
        raise InvalidParameterError(
            f"min_train_periods must be a whole number in 1..{train_periods}, got {need!r}"
        )
    first, last = pd.Timestamp(occurred.min()), pd.Timestamp(occurred.max())
    if end is None:
        end = period_floor(last, period) + period_offset(period)
        if period == "week" and last.normalize() < end - pd.Timedelta(days=1):
            end = end - period_offset(period)  # the last week is not complete
        announce(f"backtest ends at {end:%Y-%m-%d} (after the latest complete {period})")
    end = pd.Timestamp(end)
    if end != period_floor(end, period):
        what = "the first day of a month" if period == "month" else "a Monday"
        raise InvalidParameterError(f"end must be {what}, got {end:%Y-%m-%d}")
    data_start = period_floor(first, period)
    rows = []
    for k in range(n_folds, 0, -1):
        test_start = end - period_offset(period, k)
        rows.append(
            {
                "fold": n_folds - k + 1,
                "train_start": max(test_start - period_offset(period, train_periods), data_start),
                "last_start": test_start - period_offset(period, 1),
                "test_start": test_start,
                "test_end": test_start + period_offset(period, 1),
            }
        )
    folds = pd.DataFrame(rows)
    have = periods_between(data_start, folds["test_start"].iloc[0], period)
    if have < need:
        total = periods_between(data_start, end, period)
        raise InvalidParameterError(
            f"{n_folds} folds with at least {need} {period}s of training need "
            f"{n_folds + need} {period}s of data before {end:%Y-%m-%d}, but the data start "
            f"{first:%Y-%m-%d} ({total} {period}s); use fewer folds or a shorter training "
            "history"
        )
    return folds


# ---------------------------------------------------------------------------- methods
@dataclass(frozen=True)
class FoldData:
    """What a method adapter may use for one fold (never the test period)."""

    train: pd.DataFrame
    train_unit: np.ndarray
    train_place: np.ndarray
    train_age: np.ndarray
    n_places: int
    units: Units
    crs: str
    period: str
    test_start: pd.Timestamp
    fold: int
    seed: int


@dataclass(frozen=True)
class Method:
    """A method label, the adapter computing its scores and its parameters.

    The adapter returns ``(unit_scores, place_scores or None, info)``; methods without their
    own place scores rank places by their unit's score.
    """

    label: str
    adapter: Callable[[FoldData], tuple]
    params: dict = field(default_factory=dict)


def _window_counts(d: FoldData, periods: int) -> tuple[np.ndarray, np.ndarray]:
    sel = d.train_age < periods
    units = d.units.per_km2(d.units.counts(d.train_unit[sel]))
    places = np.bincount(d.train_place[sel], minlength=d.n_places).astype(float)
    return units, places


def _naive(d: FoldData):
    u, p = _window_counts(d, 1)
    return u, p, {}


def _counts(months: int) -> Callable[[FoldData], tuple]:
    def run(d: FoldData):
        periods = months if d.period == "month" else round(months * 52 / 12)
        u, p = _window_counts(d, periods)
        return u, p, {}

    return run


def _random(d: FoldData):
    rng = np.random.default_rng([d.seed, d.fold])
    return rng.random(d.units.n), None, {}


def _kde_adapter(bandwidth: float, prospective: bool, method: str) -> Callable[[FoldData], tuple]:
    def run(d: FoldData):
        from geodemand.engines.density import kde

        extra = {"decay": "inverse", "reference_date": d.test_start} if prospective else {}
        result = kde(d.train, d.units.grid, bandwidth_m=bandwidth, crs=d.crs, method=method,
                     **extra)
        return d.units.from_cells(result.density), None, {}

    return run


def _gistar(d: FoldData):
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
    return np.where(np.isnan(z), -np.inf, z), None, {"significant_share": share}


def _repeats(d: FoldData):
    per_place = np.bincount(d.train_place, minlength=d.n_places).astype(float)
    repeat = per_place >= 2
    w = repeat[d.train_place]
    units = d.units.per_km2(d.units.counts(d.train_unit[w]))
    return units, np.where(repeat, per_place, 0.0), {"repeat_places": int(repeat.sum())}


def _targets(d: FoldData):
    from geodemand.decide.score import fit_score_model, score_units

    n_periods = int(d.train_age.max()) + 1
    harm = d.train["harm"].to_numpy(np.float64)
    study = int((d.units.area_m2 > 0).sum())
    model = fit_score_model(d.train_unit, d.train_age, harm, d.units.n, n_periods, d.period,
                            n_study_units=study)
    cells = score_units(model, d.train_unit, d.train_age, harm)
    unit_score = np.zeros(d.units.n)
    unit_score[cells.index.to_numpy()] = cells["expected_harm"].to_numpy()
    places = score_units(model, d.train_place, d.train_age, harm)
    place_score = np.zeros(d.n_places)
    place_score[places.index.to_numpy()] = places["expected_harm"].to_numpy()
    info = {"score_k": float(model.k) if np.isfinite(model.k) else np.inf,
            "score_weights": ";".join(f"{b:.3f}" for b in model.weights)}
    return d.units.per_km2(unit_score), place_score, info


def _method_list(
    methods: Sequence[str], bandwidths: Sequence[float], kde_method: str = "exact"
) -> list[Method]:
    out: list[Method] = []
    for name in methods:
        if name == "naive":
            out.append(Method("naive", _naive, {"window": "last period"}))
        elif name in _WINDOW_MONTHS:
            months = _WINDOW_MONTHS[name]
            out.append(Method(name, _counts(months),
                              {"window": f"last {months} months (or {round(months * 52 / 12)} "
                                         "weeks) of the training history"}))
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
            out.append(Method("repeats", _repeats, {"place": "place_id (named, merged places)",
                                                    "score": "incidents at places with >= 2 "
                                                             "incidents, per km²"}))
        elif name == "targets":
            out.append(Method("targets", _targets, {
                "score": "expected harm next period (geodemand.decide.score), fitted on the "
                         "training history only, per km²"}))
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
        ``test_end``, ``n_train``, ``n_test``, ``harm_test`` (CCHI days), ``method``, the
        metric columns of :func:`geodemand.evaluate.metrics.capture_metrics` for incidents
        and, prefixed ``harm_``, for harm; ``significant_share`` (Gi*), ``repeat_places``
        (repeats), ``score_k`` and ``score_weights`` (targets), else NaN.
    summary : DataFrame
        One row per method × coverage × metric: ``mean``, ``sd`` (ddof 1), ``min``, ``max``
        over folds and ``n_folds``. The method ``"hindsight (n*/N)"`` gives the best hit
        rate and PAI any selection of the same area could have had.
    lpu_summary : DataFrame
        One row per method × LPU × coverage × metric (``mean`` over folds), coverage of the
        LPU's area (empty without ``areas``).
    place_summary : DataFrame
        One row per method × ``top_n`` × metric (``place_hit_rate``: share of the test
        period's incidents at the method's top-N places; ``place_harm_share``: of its harm).
    curve : DataFrame
        Mean hit rate over folds per ``method`` and ``coverage`` (0.5 % to 25 %), with the
        hindsight optimum.
    params : dict
        Everything that made the result (JSON-safe).
    """

    folds: pd.DataFrame
    summary: pd.DataFrame
    lpu_summary: pd.DataFrame
    place_summary: pd.DataFrame
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

    def comparison(self, method: str = "targets", coverages: Sequence[float] = (0.01, 0.05),
                   metrics: Sequence[str] = ("pai", "harm_pai")) -> pd.DataFrame:
        """``method`` against the best baseline (naive, counts, KDE, repeats) per coverage and
        metric (means over folds): ``value``, ``best_baseline``, ``baseline_value``,
        ``margin`` and ``at_least_as_good``."""
        s = self.summary
        rows = []
        for cov in coverages:
            for metric in metrics:
                sub = s[np.isclose(s["coverage"], cov) & (s["metric"] == metric)]
                own = sub[sub["method"] == method]["mean"]
                base = sub[sub["method"].map(_is_baseline)]
                if not len(own) or not len(base):
                    continue
                best = base.loc[base["mean"].idxmax()]
                value = float(own.iloc[0])
                rows.append({
                    "coverage": cov, "metric": metric, "method": method, "value": value,
                    "best_baseline": best["method"], "baseline_value": float(best["mean"]),
                    "margin": value - float(best["mean"]),
                    "at_least_as_good": bool(value >= float(best["mean"]) - 1e-12),
                })
        return pd.DataFrame(rows)

    def to_markdown(self, digits: int = 3) -> str:
        """The summary as Markdown (headline comparison, one table per coverage, per LPU,
        places, and the per-fold table of the headline measures)."""
        return summary_markdown(self, digits)

    def write(self, out_dir: str | Path, stem: str = "evaluation") -> dict[str, Path]:
        """Write ``<stem>_summary.csv``, ``<stem>_folds.csv``, ``<stem>_lpu.csv``,
        ``<stem>_places.csv``, ``<stem>.md`` and ``<stem>_hit_rate.png`` atomically."""
        from geodemand._atomic import write_text_atomic, write_with
        from geodemand._spreadsheet import write_csv

        out = Path(out_dir)
        paths = {
            "summary_csv": out / f"{stem}_summary.csv",
            "folds_csv": out / f"{stem}_folds.csv",
            "lpu_csv": out / f"{stem}_lpu.csv",
            "places_csv": out / f"{stem}_places.csv",
            "markdown": out / f"{stem}.md",
            "plot": out / f"{stem}_hit_rate.png",
        }
        write_csv(self.summary, paths["summary_csv"])
        write_csv(self.folds, paths["folds_csv"])
        write_csv(self.lpu_summary, paths["lpu_csv"])
        write_csv(self.place_summary, paths["places_csv"])
        write_text_atomic(paths["markdown"], self.to_markdown())
        write_with(paths["plot"], lambda p: plot_curve(self.curve, p, self.params))
        return paths

    def plot(self, ax: Any = None) -> Any:
        """Mean hit rate against coverage per method (hindsight dashed); returns the Axes."""
        from geodemand._figures import axes_for

        ax = axes_for(ax, figsize=(8, 5.5))
        plot_curve(self.curve, params=self.params, ax=ax)
        return ax

    def _repr_html_(self) -> str:
        import html

        return (f"<div><p>{html.escape(repr(self))}</p>"
                + self.comparison().round(3).to_html(index=False, escape=True) + "</div>")

    def __repr__(self) -> str:
        cmp = self.comparison()
        verdict = ("meets" if len(cmp) and cmp["at_least_as_good"].all() else "does not meet")
        return (
            f"BacktestResult({self.params.get('n_folds')} {self.params.get('period')} folds, "
            f"{len(self.summary['method'].unique()) - 1} methods; targets {verdict} the best "
            "baseline on PAI and harm-PAI at 1 % and 5 %)"
        )


def _is_baseline(method: str) -> bool:
    return method in ("naive", "counts_12m", "counts_24m", "repeats") or (
        method.startswith("kde_")
    )


def _fmt(v: float, digits: int) -> str:
    return "–" if not np.isfinite(v) else f"{v:.{digits}f}"


_LABELS = {"hit_rate": "hit rate", "pai": "PAI", "pei_star": "PEI*", "rri": "RRI",
           "harm_hit_rate": "harm hit rate", "harm_pai": "harm-PAI",
           "harm_pei_star": "harm PEI*"}


def summary_markdown(result: BacktestResult, digits: int = 3) -> str:
    """Markdown of a backtest: the headline comparison, per-coverage tables (mean ± sd
    [min, max] over folds), per LPU, places and the per-fold headline measures."""
    p = result.params
    summary = result.summary
    lines = [
        f"Backtest: {p.get('n_folds')} {p.get('period')}ly folds ({p.get('first_test')} to "
        f"{p.get('last_test')}), training on up to {p.get('train_periods')} {p.get('period')}s "
        f"(at least {p.get('min_train_periods')}), {p.get('units')} "
        f"({p.get('n_study_units')} units, study area {p.get('study_area_km2', 0):,.1f} km²), "
        f"{p.get('n_incidents', 0):,} incidents ({p.get('crime_set')}).",
        "",
    ]
    cmp = result.comparison()
    if len(cmp):
        lines += ["**Default targeting method against the best baseline** (means over folds):",
                  "", "| coverage | measure | targets | best baseline | margin | verdict |",
                  "|---:|---|---:|---|---:|---|"]
        for r in cmp.itertuples():
            lines.append(
                f"| {r.coverage:.0%} | {_LABELS[r.metric]} | {r.value:.2f} | "
                f"{r.best_baseline} ({r.baseline_value:.2f}) | {r.margin:+.2f} | "
                f"{'at least as good' if r.at_least_as_good else 'worse'} |"
            )
        lines.append("")
    for cov in sorted(summary["coverage"].unique()):
        sub = summary[summary["coverage"] == cov]
        lines.append(f"**Coverage {cov:.0%} of the study area** (mean ± sd [min, max])")
        lines.append("")
        shown = [m for m in METRICS if m in set(sub["metric"])]
        lines.append("| method | " + " | ".join(_LABELS[m] for m in shown) + " |")
        lines.append("|---|" + "---|" * len(shown))
        for method in pd.unique(sub["method"]):
            cells = []
            for m in shown:
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
    if len(result.lpu_summary):
        lines.append("**Per LPU** (mean over folds; coverage of the LPU's area): PAI / harm-PAI")
        lines.append("")
        lpu = result.lpu_summary
        wide = lpu[lpu["metric"].isin(["pai", "harm_pai"])].pivot_table(
            index=["lpu", "coverage"], columns=["method", "metric"], values="mean", sort=False)
        methods = list(pd.unique(lpu["method"]))
        lines.append("| LPU | coverage | " + " | ".join(methods) + " |")
        lines.append("|---|---:|" + "---:|" * len(methods))
        for (name, cov), row in wide.iterrows():
            cells = [f"{row.get((m, 'pai'), np.nan):.1f} / {row.get((m, 'harm_pai'), np.nan):.1f}"
                     for m in methods]
            lines.append(f"| {name} | {cov:.0%} | " + " | ".join(cells) + " |")
        lines.append("")
    if len(result.place_summary):
        ps = result.place_summary.pivot_table(index="method", columns=["metric", "top_n"],
                                              values="mean", sort=False)
        lines.append("**Places**: share of the test period's incidents (harm) at the top-N "
                     "places of each method (mean over folds)")
        lines.append("")
        tops = sorted(result.place_summary["top_n"].unique())
        lines.append("| method | " + " | ".join(f"top {n}" for n in tops) + " |")
        lines.append("|---|" + "---:|" * len(tops))
        for method, row in ps.iterrows():
            cells = [f"{row.get(('place_hit_rate', n), np.nan):.1%} "
                     f"({row.get(('place_harm_share', n), np.nan):.1%})" for n in tops]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("")
    folds = result.folds
    head = folds[np.isclose(folds["coverage"], 0.01) | np.isclose(folds["coverage"], 0.05)]
    if len(head):
        lines.append("**Per fold**: PAI / harm-PAI at 1 % and 5 %")
        lines.append("")
        methods = list(pd.unique(head["method"]))
        lines.append("| test period | coverage | " + " | ".join(methods) + " |")
        lines.append("|---|---:|" + "---:|" * len(methods))
        for (start, cov), sub in head.groupby(["test_start", "coverage"], sort=True):
            by = sub.set_index("method")
            cells = [f"{by.loc[m, 'pai']:.1f} / {by.loc[m, 'harm_pai']:.1f}"
                     if m in by.index else "–" for m in methods]
            lines.append(f"| {pd.Timestamp(start):%Y-%m-%d} | {cov:.0%} | "
                         + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def plot_curve(
    curve: pd.DataFrame, path: str | Path | None = None, params: dict | None = None, *,
    ax: Any = None,
) -> Any:
    """Hit rate against coverage, one line per method; returns the matplotlib Figure.

    ``path`` (optional) also writes it as a PNG, atomically; ``ax`` draws into that Axes.
    """
    from matplotlib import colormaps

    from geodemand._figures import new_figure, save_png, tight_layout

    if ax is None:
        fig = new_figure((8, 5.5), dpi=120)
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    colours = colormaps["tab20"].colors
    for i, (method, sub) in enumerate(curve.groupby("method", sort=False)):
        style = ({"linestyle": "--", "color": "black"} if method.startswith("hindsight")
                 else {"color": colours[(2 * i) % 20 + (2 * i) // 20 % 2]})
        ax.plot(sub["coverage"] * 100, sub["hit_rate"] * 100, label=method, **style)
    ax.set_xlabel("coverage (% of the study area selected)")
    ax.set_ylabel("hit rate (% of test-period incidents captured, mean over folds)")
    if params:
        ax.set_title(
            f"{params.get('n_folds')} {params.get('period')}ly folds, "
            f"{params.get('first_test')} to {params.get('last_test')}"
        )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    tight_layout(fig)
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
    one = folds[folds["method"] == first]
    best = one[["coverage", "fold"]].copy()
    best["hit_rate"] = one["captured_max"] / one["total"].where(one["total"] > 0)
    best["pai"] = best["hit_rate"] / best["coverage"]
    best["harm_hit_rate"] = one["harm_captured_max"] / one["harm_total"].where(
        one["harm_total"] > 0)
    best["harm_pai"] = best["harm_hit_rate"] / best["coverage"]
    best["method"] = HINDSIGHT
    both = pd.concat([folds[["method", "coverage", "fold", *METRICS]], best], ignore_index=True)
    long = both.melt(id_vars=["method", "coverage", "fold"], value_vars=list(METRICS),
                     var_name="metric", value_name="value")
    long = long[(long["method"] != HINDSIGHT)
                | long["metric"].isin(["hit_rate", "pai", "harm_hit_rate", "harm_pai"])]
    g = long.groupby(["method", "coverage", "metric"], sort=False)["value"]
    return g.agg(mean="mean", sd="std", min="min", max="max", n_folds="count").reset_index()


def _as_demand(data: Any) -> Demand:
    if isinstance(data, Demand):
        return data
    frame = data.frame if hasattr(data, "frame") else data
    if not isinstance(frame, pd.DataFrame):
        raise InvalidParameterError(
            f"backtest: expected a Demand, an IncidentTable or a DataFrame, got "
            f"{type(data).__name__}"
        )
    if not len(frame):
        raise InvalidParameterError("no incidents to backtest")
    for col in ("occurred", "x", "y"):
        if col not in frame.columns:
            raise InvalidParameterError(f"incidents have no {col!r} column")
    crs = frame.attrs.get("crs") or getattr(data, "crs", None)
    if crs is None:
        raise InvalidParameterError("incidents carry no CRS (frame.attrs['crs']); read them "
                                    "with geodemand.read_incidents")
    work = frame
    extra = {}
    if "lpu" not in frame.columns:
        extra["lpu"] = "all"
    if "location_key" not in frame.columns:
        extra["location_key"] = (
            "xy:" + frame["x"].round(1).astype(str) + "," + frame["y"].round(1).astype(str)
        )
    if "crime_type" not in frame.columns:
        raise InvalidParameterError("incidents have no 'crime_type' column")
    if extra:
        work = frame.assign(**extra)
        work.attrs["crs"] = crs
    span = (pd.Timestamp(frame["occurred"].max()) - pd.Timestamp(frame["occurred"].min())).days
    announce("backtest: the whole history is one demand window (police-generated types out, "
             "CCHI harm weights); every method is trained and scored on it")
    return prepare_demand(work, window_days=int(span) + 40)


def backtest(
    data: Any,
    *,
    areas: Any = None,
    area_units: Any = None,
    grid: Grid | None = None,
    study_area: Any = None,
    cell_size_m: float | None = None,
    period: str = "month",
    n_folds: int = 12,
    train_periods: int | None = None,
    min_train_periods: int | None = None,
    end: Any = None,
    methods: Sequence[str] | None = None,
    coverages: Sequence[float] = DEFAULT_COVERAGES,
    bandwidths_m: Sequence[float] | None = None,
    ties: str = "expected",
    seed: int = 0,
    kde_method: str = "exact",
    place_counts: Sequence[int] = PLACE_COUNTS,
) -> BacktestResult:
    """Rolling-origin backtest of hot-spot methods (see the module documentation).

    Parameters
    ----------
    data : Demand, IncidentTable or DataFrame
        The demand (:func:`geodemand.prepare_demand`); incidents are passed through it once
        with the defaults (the whole history as the window).
    areas : Areas, GeoDataFrame or path, optional
        The LPUs: per-LPU results, and the default study area.
    area_units : path, GeoDataFrame or Areas, optional
        Polygon units (area mode); default grid cells.
    grid : Grid, optional
        Raster frame (default: covering the study area, automatic cell size announced).
    study_area : path, GeoDataFrame, GeoSeries, Areas or shapely geometry, optional
        The area ``A`` (its union); default the LPUs, else ``area_units``, else the grid.
    cell_size_m : float, optional
        Cell side in metres when ``grid`` is None.
    period : {"month", "week"}
    n_folds : int
        Number of test periods (the last ones before ``end``).
    train_periods : int, optional
        Longest training history in periods (default 24 months or 104 weeks).
    min_train_periods : int, optional
        Shortest training history of the first fold (default 12 months or 52 weeks, at most
        ``train_periods``).
    end : date-like, optional
        Exclusive end of the last test period.
    methods : sequence of str, optional
        From :data:`METHODS`; default all.
    coverages : sequence of float
        Shares of the study area (default 1 %, 5 %, 10 %).
    bandwidths_m : sequence of float, optional
        KDE search radii in metres for the sweep (default 1, 2 and 4 cell sizes, announced).
    ties : {"expected", "pessimistic"}
        Tie rule of the metrics.
    seed : int
        Seed of the ``random`` baseline.
    kde_method : {"exact", "auto", "binned"}
        KDE evaluation (default exact, so scores do not depend on the speed rule).
    place_counts : sequence of int
        N of the top-N place capture.

    Returns
    -------
    BacktestResult
    """
    if ties not in TIES:
        raise InvalidParameterError(f"ties must be one of {TIES}, got {ties!r}")
    if period not in PERIODS:
        raise InvalidParameterError(f"period must be one of {PERIODS}, got {period!r}")
    with _announce_once():
        demand = _as_demand(data)
        frame = demand.incidents
        crs = demand.crs
        month_only = demand.params.get("date_precision") == "month"
        if period == "week" and month_only:
            raise InvalidParameterError(
                "period='week' needs dated incidents, but some have only a month "
                "(date_precision 'month', e.g. police.uk street files); use period='month'"
            )
        if train_periods is None:
            train_periods = DEFAULT_TRAIN[period]
        if min_train_periods is None:
            min_train_periods = min(DEFAULT_MIN_TRAIN[period], train_periods)
        coverages = tuple(float(c) for c in coverages)
        if methods is None:
            methods = list(METHODS)
        for m in methods:
            if m not in METHODS:
                raise InvalidParameterError(f"unknown method {m!r}; choose from {METHODS}")
        folds = make_folds(frame["occurred"], period, n_folds, train_periods, end,
                           min_train_periods)
        lpu_layer = _lpu_layer(areas, crs)
        study = study_area if study_area is not None else lpu_layer
        units, study_geom = build_units(crs, grid=grid, areas=area_units, study_area=study,
                                        cell_size=cell_size_m)
        bandwidths = bandwidths_m
        if bandwidths is None and any(m in ("kde", "prospective_kde") for m in methods):
            cs = units.grid.cell_size
            bandwidths = tuple(k * cs for k in DEFAULT_BANDWIDTH_CELLS)
            announce("KDE bandwidth sweep " + ", ".join(f"{h:g}" for h in bandwidths)
                     + f" m chosen automatically (1, 2 and 4 cells of {cs:g} m)")
        method_list = _method_list(methods, bandwidths or (), kde_method)
        x = frame["x"].to_numpy(np.float64)
        y = frame["y"].to_numpy(np.float64)
        unit = _unit_of_incidents(x, y, units, study_geom)
        n_out = int((unit < 0).sum())
        if n_out:
            announce(f"{n_out:,} of {len(frame):,} incidents lie outside the study area "
                     "(not counted)")
        unit_lpu = _unit_lpus(units, lpu_layer)
        place, place_ids = pd.factorize(frame["place_id"], sort=True)
        place_unit = np.full(len(place_ids), -1, dtype=np.int64)
        place_unit[place[::-1]] = unit[::-1]  # each place's unit: that of its first incident
        stamp = period_floor(frame["occurred"], period)
        context = _Context(frame, unit, place.astype(np.int64), len(place_ids), place_unit,
                           stamp, units, unit_lpu, crs, period, coverages, ties, seed,
                           tuple(int(n) for n in place_counts))
        rows, lpu_rows, place_rows, curves = [], [], [], []
        for f in folds.itertuples(index=False):
            r, lr, pr, c = _run_fold(f, context, method_list)
            rows.extend(r)
            lpu_rows.extend(lr)
            place_rows.extend(pr)
            curves.extend(c)
    fold_table = pd.DataFrame(rows)
    curve = pd.concat(curves, ignore_index=True)
    curve = curve.groupby(["method", "coverage"], sort=False)["hit_rate"].mean().reset_index()
    lpu_summary = (
        pd.DataFrame(lpu_rows).groupby(["method", "lpu", "coverage", "metric"], sort=False)
        ["value"].mean().rename("mean").reset_index() if lpu_rows else
        pd.DataFrame(columns=["method", "lpu", "coverage", "metric", "mean"])
    )
    place_summary = (
        pd.DataFrame(place_rows).groupby(["method", "top_n", "metric"], sort=False)["value"]
        .agg(mean="mean", sd="std").reset_index() if place_rows else
        pd.DataFrame(columns=["method", "top_n", "metric", "mean", "sd"])
    )
    study_units = units.area_m2 > 0
    params = {
        "period": period,
        "n_folds": int(n_folds),
        "train_periods": int(train_periods),
        "min_train_periods": int(min_train_periods),
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
        "bandwidths_m": [float(h) for h in (bandwidths or ())],
        "coverages": list(coverages),
        "place_counts": [int(n) for n in place_counts],
        "ties": ties,
        "selection": "fractional at the coverage boundary",
        "rri": "(n/n_train)/(N/N_train), training counts",
        "harm": "harm_* measures use each incident's harm weight (CCHI days by default)",
        "seed": int(seed),
        "n_incidents": int(len(frame)),
        "n_outside_study_area": n_out,
        "crime_set": _crime_set(demand),
        "demand": {k: demand.params[k] for k in ("harm_table", "excluded",
                                                  "include_police_generated", "crime_types")},
    }
    return BacktestResult(fold_table, _summarise(fold_table), lpu_summary, place_summary,
                          curve, params)


def _crime_set(demand: Demand) -> str:
    out = demand.excluded_types("police_generated")
    types = demand.params.get("crime_types")
    text = f"only {', '.join(types)}" if types else "all recorded types"
    if out:
        text += "; police-generated types left out (" + ", ".join(sorted(out)) + ")"
    return text


@dataclass(frozen=True)
class _Context:
    frame: pd.DataFrame
    unit: np.ndarray
    place: np.ndarray
    n_places: int
    place_unit: np.ndarray
    stamp: pd.Series
    units: Units
    unit_lpu: np.ndarray | None
    crs: str
    period: str
    coverages: tuple[float, ...]
    ties: str
    seed: int
    place_counts: tuple[int, ...]


def _lpu_layer(areas: Any, crs: str):
    if areas is None:
        return None
    layer = areas.lpus if hasattr(areas, "lpus") else areas
    if isinstance(layer, str | Path):
        layer = gpd.read_file(layer)
    if not isinstance(layer, gpd.GeoDataFrame):
        raise InvalidParameterError(
            f"areas must be geodemand.Areas, a GeoDataFrame of LPUs or a path, got "
            f"{type(areas).__name__}"
        )
    if layer.crs is None:
        raise InvalidParameterError("the LPU layer has no CRS")
    name = "lpu" if "lpu" in layer.columns else next(
        (c for c in layer.columns if c != layer.geometry.name), None)
    out = layer.to_crs(crs)
    out = gpd.GeoDataFrame({"lpu": out[name].astype(str).to_numpy() if name else
                            [str(i) for i in range(len(out))]},
                           geometry=shapely.make_valid(out.geometry.values), crs=crs)
    return out


def _unit_lpus(units: Units, lpus) -> np.ndarray | None:
    """LPU name of each unit (cell centre / area representative point), "" outside."""
    if lpus is None:
        return None
    from geodemand.ingest.areas import label_points

    if units.kind == "cell":
        gx, gy = units.grid.cell_centres()
        x, y = gx.ravel(), gy.ravel()
    else:
        pts = units.polygons.geometry.representative_point()
        x, y = pts.x.to_numpy(), pts.y.to_numpy()
    idx = label_points(x, y, lpus)
    names = lpus["lpu"].to_numpy(dtype=object)
    return np.where(idx >= 0, names[np.maximum(idx, 0)], "").astype(object)


def _age(stamp: pd.Series, last: pd.Timestamp, period: str) -> np.ndarray:
    p = pd.DatetimeIndex(stamp)
    if period == "month":
        return np.asarray((last.year - p.year) * 12 + (last.month - p.month), dtype=np.int64)
    return np.asarray(np.round((last - p) / pd.Timedelta(days=7)), dtype=np.int64)


def _run_fold(f, c: _Context, method_list):
    occurred = c.frame["occurred"].to_numpy()
    t0, t1 = f.test_start.to_datetime64(), f.test_end.to_datetime64()
    in_train = (occurred >= f.train_start.to_datetime64()) & (occurred < t0)
    in_test = (occurred >= t0) & (occurred < t1)
    ok = c.unit >= 0
    train_sel = in_train & ok
    test_sel = in_test & ok
    if not train_sel.any():
        raise InvalidParameterError(
            f"fold {f.fold}: no incidents in the training history {f.train_start:%Y-%m-%d} to "
            f"{f.test_start:%Y-%m-%d}"
        )
    harm = c.frame["harm"].to_numpy(np.float64)
    observed = c.units.counts(c.unit[test_sel])
    observed_harm = c.units.counts(c.unit[test_sel], harm[test_sel])
    train_counts = c.units.counts(c.unit[train_sel])
    train_harm = c.units.counts(c.unit[train_sel], harm[train_sel])
    stamp = c.stamp[train_sel]
    data = FoldData(
        train=c.frame.loc[train_sel],
        train_unit=c.unit[train_sel],
        train_place=c.place[train_sel],
        train_age=_age(stamp, f.last_start, c.period),
        n_places=c.n_places,
        units=c.units,
        crs=c.crs,
        period=c.period,
        test_start=f.test_start,
        fold=int(f.fold),
        seed=int(c.seed),
    )
    base = {
        "fold": int(f.fold),
        "train_start": f.train_start,
        "test_start": f.test_start,
        "test_end": f.test_end,
        "n_train": int(train_sel.sum()),
        "n_test": int(observed.sum()),
        "harm_test": float(observed_harm.sum()),
    }
    place_test = np.bincount(c.place[in_test], minlength=c.n_places).astype(float)
    place_test_harm = np.bincount(c.place[in_test], weights=harm[in_test], minlength=c.n_places)
    place_train_harm = np.bincount(c.place[in_train], weights=harm[in_train],
                                   minlength=c.n_places)
    rows, lpu_rows, place_rows, curves = [], [], [], []
    area = c.units.area_m2
    for m in method_list:
        score, place_score, info = m.adapter(data)
        table = capture_metrics(score, observed, coverages=c.coverages, area=area,
                                train=train_counts, ties=c.ties)
        harm_table = capture_metrics(score, observed_harm, coverages=c.coverages, area=area,
                                     train=train_harm, ties=c.ties)
        for r, h in zip(table.to_dict("records"), harm_table.to_dict("records"), strict=True):
            rows.append({**base, "method": m.label, **r,
                         **{f"harm_{k}": h[k] for k in ("captured", "total", "hit_rate", "pai",
                                                        "captured_max", "pei_star")},
                         "significant_share": np.nan, "repeat_places": np.nan, **info})
        if c.unit_lpu is not None:
            for name in sorted(set(c.unit_lpu) - {""}):
                mask = c.unit_lpu == name
                for what, obs, tr in (("", observed, train_counts),
                                      ("harm_", observed_harm, train_harm)):
                    if obs[mask].sum() <= 0:
                        continue
                    t = capture_metrics(score, obs, coverages=c.coverages, area=area,
                                        train=tr, mask=mask, ties=c.ties)
                    for r in t.to_dict("records"):
                        for metric in ("hit_rate", "pai"):
                            lpu_rows.append({"method": m.label, "lpu": name,
                                             "coverage": r["coverage"], "fold": int(f.fold),
                                             "metric": what + metric, "value": r[metric]})
        ps = place_score if place_score is not None else np.where(
            c.place_unit >= 0, score[np.maximum(c.place_unit, 0)], -np.inf)
        order = np.lexsort((np.arange(c.n_places), -place_train_harm, -ps))
        for n in c.place_counts:
            top = order[:n]
            for metric, obs in (("place_hit_rate", place_test),
                                ("place_harm_share", place_test_harm)):
                total = obs.sum()
                place_rows.append({"method": m.label, "top_n": n, "fold": int(f.fold),
                                   "metric": metric,
                                   "value": float(obs[top].sum() / total) if total else np.nan})
        cur = capture_metrics(score, observed, coverages=CURVE_COVERAGES, area=area,
                              ties=c.ties)
        curves.append(pd.DataFrame({"method": m.label, "coverage": cur["coverage"],
                                    "hit_rate": cur["hit_rate"], "fold": int(f.fold)}))
        if m is method_list[-1]:
            curves.append(pd.DataFrame({
                "method": HINDSIGHT, "coverage": cur["coverage"],
                "hit_rate": cur["captured_max"] / cur["total"].where(cur["total"] > 0),
                "fold": int(f.fold)}))
    return rows, lpu_rows, place_rows, curves
