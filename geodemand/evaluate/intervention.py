"""Did it work? Before/after evaluation of an intervention: displacement (WDQ) and its test.

:func:`intervention_effect` counts crime before and after a start date in the **treated**
areas (e.g. the patrol areas), in **comparable control** areas and in a surrounding
**buffer** ring, and reports the weighted displacement quotient with a test suited to
counts. (The year-to-date table :func:`ytd_vs_milestones` moved to
:mod:`geodemand.evaluate.performance` and is still importable from here.)

Zones
-----
* ``R`` (response / treated): the union of the treated polygons.
* ``D`` (displacement buffer): the ring ``R.buffer(buffer_m) − R``.
* ``C`` (control): the union of ``control_areas`` minus ``R`` and ``D`` (overlaps are
  removed and announced). With ``control_areas=None`` controls are chosen automatically:
  square cells (side ``control_cell_m``, default the side of a square of the mean treated
  polygon's area, at least 50 m) lying wholly outside ``R.buffer(2 · buffer_m)`` (so that
  neither the treated areas nor their displacement catchment contaminate them) and, if
  ``study_area`` is given, wholly inside it (both to within 1 mm, so cells touching those
  edges count as outside / inside); they are taken in increasing order of the
  absolute difference between their before-period crime density and the treated zone's
  (incidents per km²; ties by cell position) until their area reaches
  ``control_area_ratio`` × the treated area. The matched densities are announced.
  Matching on the before window mirrors how patrol areas are usually chosen (on recent
  crime), so regression to the mean affects treated and control places alike. If the
  treated areas were chosen for other reasons, and no comparable place exists, the best
  matches are cells that were high by chance, whose later fall biases the relative change
  towards 1 (the announcement shows how close the match is): pass ``control_areas`` then.

Subscripts ``b`` and ``a`` are the before window ``[start − before, start)`` and the after
window ``[start, start + after)``.

Measures (Bowers & Johnson 2003, J. Quant. Criminol. 19(3))
-----------------------------------------------------------
* success measure ``SM = Ra/Ca − Rb/Cb``: negative when crime in the treated zone fell
  relative to the control (the intervention "succeeded");
* buffer displacement measure ``BDM = Da/Ca − Db/Cb``: positive when the buffer got worse
  relative to the control (displacement), negative when it improved (diffusion of benefits);
* weighted displacement quotient ``WDQ = BDM / SM``. Only meaningful when ``SM < 0``: then
  ``WDQ > 0`` means diffusion of benefits into the buffer, ``WDQ < 0`` displacement, and
  ``WDQ < −1`` displacement larger than the direct benefit (a net loss). With ``SM >= 0``
  there was no success to displace and the result says so (``interpretation``);
* total net effect (Guerette 2009) ``TNE = (Rb·Ca/Cb − Ra) + (Db·Ca/Cb − Da)``: crimes
  prevented in treated zone and buffer together, relative to the control trend (positive =
  crimes prevented).

The test
--------
The 2 × 2 table of counts ``[[Ra, Rb], [Ca, Cb]]`` is treated as Poisson counts with rates
``zone effect × period effect × θ`` (θ only on treated-after). Conditioning on all margins
removes the nuisance effects and leaves the (noncentral) hypergeometric distribution, so
**Fisher's exact test** is the exact conditional test of ``θ = 1``; ``θ̂`` is reported as
the relative change ``(Ra/Rb) / (Ca/Cb)`` (below 1: the treated zone fell relative to the
control; Farrington & Welsh's relative effect size is its inverse) with the exact
conditional 95 % confidence interval (``scipy.stats.contingency.odds_ratio``). The same test
is applied to the buffer against the control. Caveat: pooled counts assume Poisson variation;
crime counts over time are often overdispersed, which makes any Poisson-based p-value too
small — read small effects on few counts with care.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodemand._announce import announce
from geodemand.errors import InvalidParameterError

__all__ = [
    "InterventionResult",
    "intervention_effect",
    "displacement_measures",
    "conditional_test",
    "ytd_vs_milestones",
    "ytd_markdown",
    "points_in",
    "wdq_meaning",
]

ZONES = ("treated", "buffer", "control")
#: Tolerance of the automatic control cells' "wholly outside / inside" tests, metres.
_EDGE_M = 0.001
_SPAN = re.compile(r"^\s*(\d+)\s*(d|day|days|w|week|weeks|m|month|months)\s*$", re.IGNORECASE)


# ---------------------------------------------------------------------------- formulas
def displacement_measures(
    Rb: float, Ra: float, Db: float, Da: float, Cb: float, Ca: float
) -> dict[str, float]:
    """Success measure, buffer displacement measure, WDQ and total net effect.

    Formulas in the module documentation (Bowers & Johnson 2003; Guerette 2009). Values that
    divide by zero are NaN.
    """

    def div(a: float, b: float) -> float:
        return a / b if b else math.nan

    sm = div(Ra, Ca) - div(Rb, Cb)
    bdm = div(Da, Ca) - div(Db, Cb)
    wdq = div(bdm, sm) if np.isfinite(sm) and sm != 0 else math.nan
    trend = div(Ca, Cb)
    tne = (Rb * trend - Ra) + (Db * trend - Da)
    return {"success_measure": sm, "buffer_displacement": bdm, "wdq": wdq,
            "total_net_effect": tne}


def conditional_test(
    xa: int, xb: int, ca: int, cb: int, level: float = 0.95, *, interval: bool = True
) -> dict:
    """Exact conditional test that a zone changed like the control (Poisson counts).

    Parameters
    ----------
    xa, xb : int
        The zone's counts after and before.
    ca, cb : int
        The control's counts after and before.
    level : float
        Confidence level of the interval.
    interval : bool
        Compute the exact interval (root finding; NaN bounds when False, which is much faster
        for simulations).

    Returns
    -------
    dict
        ``relative_change`` ``(xa/xb)/(ca/cb)`` (NaN if a count it divides by is 0),
        ``ci_low``, ``ci_high`` (exact conditional interval of the odds ratio) and
        ``p_value`` (two-sided Fisher exact test).
    """
    from scipy.stats import fisher_exact
    from scipy.stats.contingency import odds_ratio

    table = np.array([[xa, xb], [ca, cb]], dtype=np.int64)
    if (table < 0).any():
        raise InvalidParameterError(f"counts must be >= 0, got {table.tolist()}")
    rel = (xa * cb) / (xb * ca) if xb * ca > 0 else math.nan
    if (table.sum(axis=0) == 0).any() or (table.sum(axis=1) == 0).any():
        return {"relative_change": rel, "ci_low": math.nan, "ci_high": math.nan,
                "p_value": math.nan}
    p = float(fisher_exact(table).pvalue)
    if not interval:
        return {"relative_change": rel, "ci_low": math.nan, "ci_high": math.nan, "p_value": p}
    ci = odds_ratio(table, kind="conditional").confidence_interval(level)
    return {"relative_change": rel, "ci_low": float(ci.low), "ci_high": float(ci.high),
            "p_value": p}


# ---------------------------------------------------------------------------- windows
def _span(value: Any, name: str) -> pd.DateOffset:
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        if value <= 0:
            raise InvalidParameterError(f"{name} must be > 0 days, got {value}")
        return pd.DateOffset(days=int(value))
    m = _SPAN.match(str(value)) if isinstance(value, str) else None
    if not m or int(m.group(1)) <= 0:
        raise InvalidParameterError(
            f"{name} must be a positive number of days or a text such as '6 months', "
            f"'12 weeks', '90 days'; got {value!r}"
        )
    n, unit = int(m.group(1)), m.group(2).lower()[0]
    return {"d": pd.DateOffset(days=n), "w": pd.DateOffset(weeks=n),
            "m": pd.DateOffset(months=n)}[unit]


def _data_end(occurred: pd.Series, month_only: bool) -> pd.Timestamp:
    last = occurred.max()
    if month_only:
        return (last.to_period("M") + 1).to_timestamp()
    return last.normalize() + pd.Timedelta(days=1)


def _windows(frame: pd.DataFrame, start: Any, before: Any, after: Any):
    start = pd.Timestamp(start)
    month_only = "date_precision" in frame.columns and bool(
        (frame["date_precision"] == "month").any()
    )
    end_data = _data_end(frame["occurred"], month_only)
    if after is None:
        if end_data <= start:
            raise InvalidParameterError(
                f"start_date {start:%Y-%m-%d} is after the data end {end_data:%Y-%m-%d}"
            )
        if month_only:
            months = (end_data.year - start.year) * 12 + end_data.month - start.month
            after_off = pd.DateOffset(months=months)
        else:
            after_off = pd.DateOffset(days=(end_data - start).days)
        announce(f"after window: {start:%Y-%m-%d} to the data end {end_data:%Y-%m-%d}")
    else:
        after_off = _span(after, "after")
    before_off = after_off if before is None else _span(before, "before")
    if before is None:
        announce("before window: the same length as the after window")
    b0, a1 = start - before_off, start + after_off
    if month_only:
        for label, ts in (("start_date", start), ("before window start", b0),
                          ("after window end", a1)):
            if ts != ts.to_period("M").to_timestamp():
                raise InvalidParameterError(
                    f"{label} {ts:%Y-%m-%d} is not a month start, but some incidents are dated "
                    "to the month only; use month starts and windows in months"
                )
    if b0 < _first_period(frame, month_only):
        raise InvalidParameterError(
            f"the before window starts {b0:%Y-%m-%d}, before the data "
            f"({frame['occurred'].min():%Y-%m-%d}); shorten it"
        )
    if a1 > end_data:
        raise InvalidParameterError(
            f"the after window ends {a1:%Y-%m-%d}, after the data end {end_data:%Y-%m-%d}; "
            "shorten it"
        )
    return b0, start, a1


def _first_period(frame: pd.DataFrame, month_only: bool) -> pd.Timestamp:
    first = frame["occurred"].min()
    return first.to_period("M").to_timestamp() if month_only else first.normalize()


# ---------------------------------------------------------------------------- zones
def _union(layer: Any, crs: str, what: str):
    if layer is None:
        return None
    if isinstance(layer, str | Path):
        try:
            layer = gpd.read_file(layer)
        except Exception as exc:  # drivers raise many types
            raise InvalidParameterError(f"{layer}: cannot read the {what} ({exc})") from exc
    if isinstance(layer, gpd.GeoDataFrame | gpd.GeoSeries):
        if layer.crs is None:
            raise InvalidParameterError(f"the {what} layer has no CRS")
        geoms = np.asarray(layer.to_crs(crs).geometry.values, dtype=object)
    elif isinstance(layer, shapely.Geometry):
        geoms = np.array([layer], dtype=object)
    else:
        raise InvalidParameterError(
            f"{what} must be a polygon layer path, GeoDataFrame, GeoSeries or shapely geometry"
        )
    geoms = shapely.make_valid(geoms)
    geom = shapely.union_all(geoms)
    if geom.is_empty or geom.area <= 0:
        raise InvalidParameterError(f"the {what} have no area")
    return geom, geoms


def points_in(x: np.ndarray, y: np.ndarray, geom, crs: str) -> np.ndarray:
    """Which points (metres, ``crs``) lie in ``geom`` (its boundary included), by the exact
    join of :func:`geodemand.ingest.areas.label_points`."""
    from geodemand.ingest.areas import label_points

    if geom is None or geom.is_empty:
        return np.zeros(x.size, dtype=bool)
    return label_points(x, y, gpd.GeoDataFrame(geometry=[geom], crs=crs)) >= 0


def _auto_controls(
    x: np.ndarray,
    y: np.ndarray,
    before: np.ndarray,
    treated,
    treated_parts: np.ndarray,
    crs: str,
    *,
    buffer_m: float,
    cell_m: float | None,
    ratio: float,
    study,
    treated_density: float,
):
    """Matched control cells (module documentation); returns their union and a table."""
    from geodemand.grid import Grid, nice_cell_size

    if cell_m is None:
        mean_area = float(np.mean(shapely.area(treated_parts)))
        cell_m = max(50.0, nice_cell_size(math.sqrt(mean_area)))
        announce(f"control cells of {cell_m:g} m chosen automatically (side of a square of the "
                 f"mean treated area, {mean_area / 1e6:.3f} km²)")
    extent = study.bounds if study is not None else (x.min(), y.min(), x.max(), y.max())
    grid = Grid.from_bounds(extent, cell_m, crs, announce_choice=False)
    cells = grid.to_geodataframe()
    boxes = np.asarray(cells.geometry.values, dtype=object)
    exclusion = treated.buffer(2 * buffer_m)
    # cells are tested shrunk by 1 mm so that a cell merely touching the exclusion zone or the
    # study-area edge (a common case on aligned grids) does not flip on rounding
    inner = shapely.buffer(boxes, -_EDGE_M, join_style="mitre")
    ok = ~shapely.intersects(exclusion, inner)
    if study is not None:
        shapely.prepare(study)
        ok &= shapely.contains(study, inner)
    rows, cols, on = grid.cell_index(x[before], y[before])
    flat = (rows * grid.n_cols + cols)[on]
    counts = np.bincount(flat, minlength=boxes.size).astype(np.float64)
    cell_km2 = grid.cell_area_km2
    density = counts / cell_km2
    cand = np.flatnonzero(ok)
    if cand.size == 0:
        raise InvalidParameterError(
            "no candidate control cell lies outside the treated areas' exclusion zone; give "
            "control_areas"
        )
    gap = np.abs(density[cand] - treated_density)
    order = cand[np.lexsort((cand, gap))]
    need = ratio * treated.area / grid.cell_area_m2
    k = int(min(order.size, max(1, math.ceil(need - 1e-6))))
    if k < need - 1e-6:
        announce(f"only {k} candidate control cells exist; the control is smaller than asked")
    chosen = order[:k]
    table = cells.iloc[chosen].assign(before_count=counts[chosen],
                                      before_density_km2=density[chosen])
    announce(
        f"{k} control cells of {cell_m:g} m matched on before-period density: treated "
        f"{treated_density:,.1f} incidents/km², controls mean "
        f"{density[chosen].mean():,.1f} (range {density[chosen].min():,.1f}–"
        f"{density[chosen].max():,.1f})"
    )
    return shapely.union_all(boxes[chosen]), table, float(cell_m)


# ---------------------------------------------------------------------------- result
@dataclass(frozen=True)
class InterventionResult:
    """Before/after counts in treated, buffer and control zones, WDQ and tests.

    Attributes
    ----------
    counts : DataFrame
        One row per zone (``treated``, ``buffer``, ``control``): ``area_km2``, ``before``,
        ``after``, ``change_pct`` (after vs before, %).
    measures : dict
        ``success_measure``, ``buffer_displacement``, ``wdq``, ``total_net_effect``.
    treated_test, buffer_test : dict
        :func:`conditional_test` of the treated zone and of the buffer against the control.
    interpretation : str
        Plain-language reading of the measures.
    zones : GeoDataFrame
        The three zone geometries (``zone`` column).
    controls : GeoDataFrame or None
        The automatically chosen control cells with ``before_count``,
        ``before_density_km2`` (None when ``control_areas`` were given).
    params : dict
    """

    counts: pd.DataFrame
    measures: dict
    treated_test: dict
    buffer_test: dict
    interpretation: str
    zones: gpd.GeoDataFrame
    controls: gpd.GeoDataFrame | None
    params: dict = field(default_factory=dict)

    @property
    def wdq(self) -> float:
        """The weighted displacement quotient."""
        return self.measures["wdq"]

    def summary(self) -> str:
        """A few lines of text for a report."""
        t = self.treated_test
        lines = [self.counts.to_string(index=False), ""]
        lines.append(
            f"treated vs control: relative change {t['relative_change']:.3f} "
            f"(95 % CI {t['ci_low']:.3f}–{t['ci_high']:.3f}), Fisher p = {t['p_value']:.3g}"
        )
        m = self.measures
        lines.append(
            f"SM = {m['success_measure']:.4f}, BDM = {m['buffer_displacement']:.4f}, "
            f"WDQ = {m['wdq']:.3f}, total net effect = {m['total_net_effect']:.1f} crimes"
        )
        lines.append(self.interpretation)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return "InterventionResult\n" + self.summary()

    def _repr_html_(self) -> str:
        import html

        return (f"<div><strong>InterventionResult (before/after, WDQ)</strong>"
                f"<pre>{html.escape(self.summary())}</pre></div>")

    def plot(self, ax: Any = None) -> Any:
        """Before and after counts per zone as grouped bars; returns the matplotlib Axes."""
        from geodemand._figures import axes_for

        ax = axes_for(ax)
        zones = self.counts["zone"].astype(str).tolist()
        pos = np.arange(len(zones))
        ax.bar(pos - 0.2, self.counts["before"], width=0.4, label="before", color="#9ecae1")
        ax.bar(pos + 0.2, self.counts["after"], width=0.4, label="after", color="#3182bd")
        ax.set_xticks(pos, zones)
        ax.set_ylabel("incidents")
        ax.set_title(f"WDQ {self.wdq:.2f}" if np.isfinite(self.wdq) else "WDQ undefined")
        ax.legend()
        return ax


def wdq_meaning(m: dict) -> str:
    """A few words on the WDQ of :func:`displacement_measures` (Bowers & Johnson 2003)."""
    sm, wdq = m["success_measure"], m["wdq"]
    if not np.isfinite(sm):
        return "WDQ undefined (no crime in the control in a window)"
    if sm >= 0:
        return "no fall relative to the control, so the WDQ is not meaningful"
    if not np.isfinite(wdq):
        return "WDQ undefined"
    if wdq > 0:
        return "diffusion of benefit"
    if wdq < -1:
        return "displacement larger than the benefit"
    if wdq < 0:
        return "some displacement, smaller than the benefit"
    return "the buffer changed like the control"


def _interpret(m: dict, test: dict, alpha: float = 0.05) -> str:
    sm, wdq = m["success_measure"], m["wdq"]
    sig = test["p_value"] < alpha if np.isfinite(test["p_value"]) else False
    if not np.isfinite(sm):
        return "undefined: the control has no crime in a window"
    if sm >= 0:
        return ("no success: crime in the treated zone did not fall relative to the control "
                "(SM >= 0), so the WDQ is not meaningful")
    head = ("treated zone fell relative to the control"
            + (f" (significant, p = {test['p_value']:.3g})" if sig
               else f" (not significant, p = {test['p_value']:.3g})"))
    if not np.isfinite(wdq):
        return head
    if wdq > 0:
        tail = "WDQ > 0: diffusion of benefits into the buffer"
    elif wdq < -1:
        tail = "WDQ < -1: displacement into the buffer exceeds the direct benefit"
    elif wdq < 0:
        tail = "WDQ < 0: some displacement into the buffer, smaller than the direct benefit"
    else:
        tail = "WDQ = 0: the buffer changed like the control"
    return f"{head}; {tail}"


def intervention_effect(
    incidents: Any,
    treated_areas: Any,
    start_date: Any,
    *,
    before: Any = None,
    after: Any = None,
    control_areas: Any = None,
    buffer_m: float = 250.0,
    study_area: Any = None,
    control_cell_m: float | None = None,
    control_area_ratio: float = 2.0,
    crime_types: list[str] | None = None,
) -> InterventionResult:
    """Before/after effect of an intervention in treated areas, with displacement checks.

    Parameters
    ----------
    incidents : IncidentTable or DataFrame
        Canonical incidents (``occurred``, ``x``, ``y`` in metres, ``crime_type``).
    treated_areas : path, GeoDataFrame, GeoSeries or shapely geometry
        The treated polygons (e.g. ``patrol_areas.geojson``); reprojected to the incidents'
        CRS.
    start_date : date-like
        First day of the intervention.
    before, after : int days or str, optional
        Window lengths (``90``, ``"12 weeks"``, ``"6 months"``). Default: ``after`` runs to
        the end of the data and ``before`` has the same length (both announced). Month-dated
        data need month starts and windows in months.
    control_areas : path, GeoDataFrame, GeoSeries or shapely geometry, optional
        Control polygons; default: matched cells (module documentation).
    buffer_m : float
        Width of the displacement buffer ring around the treated areas, metres.
    study_area : optional
        Limits the automatic control cells to this area (e.g. the force boundary).
    control_cell_m : float, optional
        Side of automatic control cells, metres.
    control_area_ratio : float
        Automatic controls cover this multiple of the treated area (default 2).
    crime_types : list of str, optional
        Only these canonical crime types.

    Returns
    -------
    InterventionResult
    """
    frame = incidents.frame if hasattr(incidents, "frame") else incidents
    crs = frame.attrs.get("crs") or getattr(incidents, "crs", None)
    if crs is None:
        raise InvalidParameterError("incidents carry no CRS (frame.attrs['crs'])")
    if not (math.isfinite(buffer_m) and buffer_m > 0):
        raise InvalidParameterError(f"buffer_m must be a positive number of metres, got "
                                    f"{buffer_m!r}")
    if not (math.isfinite(control_area_ratio) and control_area_ratio > 0):
        raise InvalidParameterError(f"control_area_ratio must be > 0, got {control_area_ratio!r}")
    if crime_types is not None:
        frame = frame.loc[frame["crime_type"].isin(crime_types)]
    if not len(frame):
        raise InvalidParameterError("no incidents (after the crime-type filter)")
    b0, start, a1 = _windows(frame, start_date, before, after)
    occurred = frame["occurred"]
    is_before = ((occurred >= b0) & (occurred < start)).to_numpy()
    is_after = ((occurred >= start) & (occurred < a1)).to_numpy()
    x = frame["x"].to_numpy(np.float64)
    y = frame["y"].to_numpy(np.float64)

    treated, parts = _union(treated_areas, crs, "treated areas")
    ring = treated.buffer(buffer_m).difference(treated)
    study = None if study_area is None else _union(study_area, crs, "study area")[0]
    in_r = points_in(x, y, treated, crs)
    controls_table = None
    if control_areas is None:
        treated_density = float((in_r & is_before).sum() / (treated.area / 1e6))
        control, controls_table, control_cell_m = _auto_controls(
            x, y, is_before, treated, parts, crs, buffer_m=buffer_m, cell_m=control_cell_m,
            ratio=control_area_ratio, study=study, treated_density=treated_density,
        )
    else:
        given = _union(control_areas, crs, "control areas")[0]
        control = given.difference(shapely.union(treated, ring))
        removed = given.area - control.area
        if removed > 1e-6 * given.area:
            announce(f"{removed / 1e6:.3f} km² of the control areas overlap the treated areas or "
                     "their buffer and were removed from the control")
        if control.is_empty or control.area <= 0:
            raise InvalidParameterError("the control areas lie wholly in the treated areas or "
                                        "their buffer")
    in_d = points_in(x, y, ring, crs) & ~in_r
    in_c = points_in(x, y, control, crs) & ~in_r & ~in_d

    def n(mask: np.ndarray, when: np.ndarray) -> int:
        return int((mask & when).sum())

    Rb, Ra = n(in_r, is_before), n(in_r, is_after)
    Db, Da = n(in_d, is_before), n(in_d, is_after)
    Cb, Ca = n(in_c, is_before), n(in_c, is_after)
    counts = pd.DataFrame({
        "zone": list(ZONES),
        "area_km2": [treated.area / 1e6, ring.area / 1e6, control.area / 1e6],
        "before": [Rb, Db, Cb],
        "after": [Ra, Da, Ca],
    })
    counts["change_pct"] = np.where(counts["before"] > 0,
                                    100 * (counts["after"] - counts["before"])
                                    / counts["before"].where(counts["before"] > 0), np.nan)
    measures = displacement_measures(Rb, Ra, Db, Da, Cb, Ca)
    t_test = conditional_test(Ra, Rb, Ca, Cb)
    b_test = conditional_test(Da, Db, Ca, Cb)
    zones = gpd.GeoDataFrame({"zone": list(ZONES)}, geometry=[treated, ring, control], crs=crs)
    params = {
        "start_date": f"{start:%Y-%m-%d}",
        "before_window": [f"{b0:%Y-%m-%d}", f"{start:%Y-%m-%d}"],
        "after_window": [f"{start:%Y-%m-%d}", f"{a1:%Y-%m-%d}"],
        "buffer_m": float(buffer_m),
        "controls": "given" if control_areas is not None else "matched cells",
        "control_cell_m": control_cell_m,
        "control_area_ratio": float(control_area_ratio) if control_areas is None else None,
        "crime_types": crime_types,
        "crs": str(crs),
        "test": "Fisher exact (conditional on margins of the 2x2 Poisson table)",
    }
    return InterventionResult(counts, measures, t_test, b_test, _interpret(measures, t_test),
                              zones, controls_table, params)


# ---------------------------------------------------------------------------- YTD
# The year-to-date table lives in geodemand.evaluate.performance; kept importable from here.
from geodemand.evaluate.performance import ytd_markdown, ytd_vs_milestones  # noqa: E402
