"""Automatic review of control plans that reached their review date.

For each plan (a patrol area, or a target place or cell) :func:`review_plans` compares the
plan's **after** window with an equally long **before** window:

after window
    from the plan start (the day its first list was published) to the day after its review
    date, cut at the end of the data; for month-precision data (police.uk) whole months: from
    the plan start (moved to the next month start if it is not one) to the month start after
    the review date.
before window
    the same number of days (months) just before the plan start.

Zones (Bowers & Johnson 2003, as in :func:`geodemand.evaluate.intervention.intervention_effect`):

``area`` (R)
    the plan's polygon (a target given as a point: a circle of ``target_radius_m``);
``buffer`` (D)
    the ring ``R.buffer(buffer_m) − R`` (default 250 m), whatever LPU it falls in;
``control`` (C)
    the rest of the plan's LPU: incidents whose ``lpu`` is the plan's, outside R and D.

Counts and harm (the incidents' ``harm`` column, CCHI days) are summed per zone and window.
The weighted displacement quotient, success measure and total net effect are computed on
counts (``wdq``; the established measure) and on harm (``wdq_harm``) with
:func:`~geodemand.evaluate.intervention.displacement_measures`. Significance: the exact
conditional test of the 2 × 2 Poisson table ``[[Ra, Rb], [Ca, Cb]]`` (Fisher's exact test,
:func:`~geodemand.evaluate.intervention.conditional_test`): is the area's change different
from its LPU's? ``relative_change`` = ``(Ra/Rb)/(Ca/Cb)`` with its exact 95 % interval.

Each review gives a plain-words ``sentence``, e.g. ``"Swan Street: harm -38 % vs LPU -4 %
(incidents 21 -> 13, p = 0.04, significant); WDQ 1.6, diffusion of benefit"``. A plan that
cannot be reviewed (no data after its start, or the before window would start before the
data) gets ``outcome = "not reviewed"`` and the reason as its sentence — never a silent gap.

Caveat: counts of crime are often overdispersed, which makes Poisson p-values too small; read
small changes on few incidents with care (the sentence always shows the counts).
"""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodemand.errors import InvalidParameterError
from geodemand.evaluate.intervention import (
    conditional_test,
    displacement_measures,
    points_in,
    wdq_meaning,
)
from geodemand.evaluate.register import REVIEW_FIELDS

__all__ = ["review_plans", "REVIEW_COLUMNS", "review_window"]

#: Columns of :func:`review_plans` (the register's ``reviews`` table without
#: ``reviewed_period``).
REVIEW_COLUMNS = [n for n, _ in REVIEW_FIELDS if n != "reviewed_period"]
DEFAULT_BUFFER_M = 250.0
DEFAULT_TARGET_RADIUS_M = 75.0


def _month_start(ts: pd.Timestamp) -> pd.Timestamp:
    return ts.to_period("M").to_timestamp()


def _month_ceil(ts: pd.Timestamp) -> pd.Timestamp:
    start = _month_start(ts)
    return start if start == ts else start + pd.DateOffset(months=1)


def review_window(plan_start: Any, review_date: Any, data_start: pd.Timestamp,
                  data_end: pd.Timestamp, month_only: bool):
    """The before and after windows of a plan (module documentation).

    Returns
    -------
    tuple
        ``(before_start, after_start, after_end, unit, length, reason)``: ``unit`` is
        ``"days"`` or ``"months"``; ``reason`` is None when the plan can be reviewed, else why
        not (then the dates may be NaT).
    """
    start = pd.Timestamp(plan_start).normalize()
    after_to = pd.Timestamp(review_date).normalize() + pd.Timedelta(days=1)
    if month_only:
        start = _month_ceil(start)
        end = min(_month_ceil(after_to), data_end)
        n = (end.year - start.year) * 12 + end.month - start.month
        unit = "months"
        b0 = start - pd.DateOffset(months=max(n, 0))
    else:
        end = min(after_to, data_end)
        n = (end - start).days
        unit = "days"
        b0 = start - pd.Timedelta(days=max(n, 0))
    if n <= 0:
        return start, start, start, unit, 0, (
            f"no {'complete month' if month_only else 'day'} of data after the plan start "
            f"{start:%Y-%m-%d} (data end {data_end:%Y-%m-%d})")
    if b0 < data_start:
        return b0, start, end, unit, n, (
            f"the {n}-{unit[:-1]} before window would start {b0:%Y-%m-%d}, before the data "
            f"({data_start:%Y-%m-%d})")
    return b0, start, end, unit, n, None


def _pct(after: float, before: float) -> float:
    return 100.0 * (after - before) / before if before > 0 else math.nan


def _fmt_pct(v: float) -> str:
    return "n/a" if not np.isfinite(v) else f"{v:+.0f} %"


def review_plans(
    incidents: Any,
    plans: gpd.GeoDataFrame,
    *,
    data_end: Any = None,
    buffer_m: float = DEFAULT_BUFFER_M,
    target_radius_m: float = DEFAULT_TARGET_RADIUS_M,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Review plans: before/after counts and harm in the area, its buffer and its LPU.

    Parameters
    ----------
    incidents : IncidentTable or DataFrame
        After the demand stage: ``x``, ``y`` (metres, the analysis CRS in ``attrs["crs"]``
        or the table's ``crs``), ``occurred``, ``lpu``, ``harm`` (CCHI days per incident);
        ``date_precision`` (``"month"`` rows make the windows whole months). Pass the whole
        history, not only the targeting window: the before window reaches back.
    plans : GeoDataFrame
        One row per plan: ``kind``, ``item_id``, ``lpu``, ``plan_start``, ``review_date``,
        optional ``label`` and a polygon ``geometry`` (or a point, reviewed as a circle of
        ``target_radius_m``), e.g. the rows of :meth:`Register.statuses` whose status is
        ``expired``.
    data_end : date-like, optional
        End (exclusive) of the data, e.g. the run's period end; default the day (month) after
        the latest incident.
    buffer_m : float
        Width of the displacement buffer ring, metres.
    target_radius_m : float
        Radius of the circle reviewed around a point target, metres.
    alpha : float
        Level of the significance test.

    Returns
    -------
    DataFrame
        :data:`REVIEW_COLUMNS`, one row per plan (module documentation).
    """
    frame = incidents.frame if hasattr(incidents, "frame") else incidents
    crs = frame.attrs.get("crs") or getattr(incidents, "crs", None)
    if crs is None:
        raise InvalidParameterError("incidents carry no CRS (frame.attrs['crs'])")
    missing = [c for c in ("x", "y", "occurred", "lpu", "harm") if c not in frame.columns]
    if missing:
        raise InvalidParameterError(f"incidents: missing column(s) {missing} (the review needs "
                                    "the demand stage's harm column and the LPU join)")
    for name, v in (("buffer_m", buffer_m), ("target_radius_m", target_radius_m)):
        if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
            raise InvalidParameterError(f"{name} must be a positive number of metres, got {v!r}")
    if not 0 < alpha < 1:
        raise InvalidParameterError(f"alpha must be in (0, 1), got {alpha!r}")
    need = [c for c in ("kind", "item_id", "lpu", "plan_start", "review_date", "geometry")
            if c not in plans.columns]
    if need:
        raise InvalidParameterError(f"plans: missing column(s) {need}")
    if len(plans) == 0:
        return pd.DataFrame(columns=REVIEW_COLUMNS)
    if len(frame) == 0:
        raise InvalidParameterError("no incidents to review plans with")
    plans = plans.to_crs(crs) if plans.crs is not None and str(plans.crs) != str(crs) else plans
    month_only = "date_precision" in frame.columns and bool(
        (frame["date_precision"] == "month").any())
    occ = pd.to_datetime(frame["occurred"])
    first, last = occ.min(), occ.max()
    data_start = _month_start(first) if month_only else first.normalize()
    if data_end is None:
        data_end = (_month_start(last) + pd.DateOffset(months=1) if month_only
                    else last.normalize() + pd.Timedelta(days=1))
    data_end = pd.Timestamp(data_end)
    x = frame["x"].to_numpy(np.float64)
    y = frame["y"].to_numpy(np.float64)
    t = occ.to_numpy()
    harm = pd.to_numeric(frame["harm"], errors="coerce").to_numpy(np.float64)
    if not np.isfinite(harm).all():
        raise InvalidParameterError("incidents: the harm column has missing or non-numeric "
                                    "values")
    lpu = frame["lpu"].astype(str).to_numpy()
    rows = []
    for plan in plans.itertuples(index=False):
        rows.append(_review_one(plan._asdict(), x, y, t, harm, lpu, crs, data_start, data_end,
                                month_only, buffer_m, target_radius_m, alpha))
    return pd.DataFrame(rows, columns=REVIEW_COLUMNS)


def _review_one(plan: dict, x, y, t, harm, lpu, crs, data_start, data_end, month_only,
                buffer_m, radius_m, alpha) -> dict:
    label = plan.get("label")
    label = plan["item_id"] if label is None or (isinstance(label, float) and
                                                 math.isnan(label)) else str(label)
    geom = plan["geometry"]
    out = {c: None for c in REVIEW_COLUMNS}
    out.update(kind=plan["kind"], item_id=str(plan["item_id"]), lpu=str(plan["lpu"]),
               label=label, plan_start=pd.Timestamp(plan["plan_start"]),
               review_date=pd.Timestamp(plan["review_date"]), buffer_m=float(buffer_m))
    if geom is None or geom.is_empty:
        return _not_reviewed(out, "no geometry recorded for this plan")
    if geom.geom_type in ("Point", "MultiPoint"):
        geom = geom.buffer(radius_m)
    geom = shapely.make_valid(geom)
    if geom.area <= 0:
        return _not_reviewed(out, "the plan's area is empty")
    b0, a0, a1, unit, n, reason = review_window(plan["plan_start"], plan["review_date"],
                                                data_start, data_end, month_only)
    out.update(window_unit=unit, window_length=int(n), before_start=b0, after_start=a0,
               after_end=a1, area_km2=geom.area / 1e6)
    if reason:
        return _not_reviewed(out, reason)
    outer = geom.buffer(buffer_m)
    ring = outer.difference(geom)
    in_window = (t >= np.datetime64(b0)) & (t < np.datetime64(a1))
    after = t >= np.datetime64(a0)
    x0, y0, x1, y1 = outer.bounds
    near = np.flatnonzero(in_window & (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
    in_r = np.zeros(x.size, dtype=bool)
    in_d = np.zeros(x.size, dtype=bool)
    if near.size:
        r = points_in(x[near], y[near], geom, crs)
        d = points_in(x[near], y[near], ring, crs) & ~r
        in_r[near[r]] = True
        in_d[near[d]] = True
    in_c = in_window & (lpu == out["lpu"]) & ~in_r & ~in_d

    def tot(mask):
        b, a = mask & ~after, mask & after
        return int(b.sum()), int(a.sum()), float(harm[b].sum()), float(harm[a].sum())

    Rb, Ra, Rhb, Rha = tot(in_r)
    Db, Da, Dhb, Dha = tot(in_d)
    Cb, Ca, Chb, Cha = tot(in_c)
    m = displacement_measures(Rb, Ra, Db, Da, Cb, Ca)
    mh = displacement_measures(Rhb, Rha, Dhb, Dha, Chb, Cha)
    test = conditional_test(Ra, Rb, Ca, Cb)
    btest = conditional_test(Da, Db, Ca, Cb, interval=False)
    sig = bool(np.isfinite(test["p_value"]) and test["p_value"] < alpha)
    out.update(
        outcome="reviewed",
        area_before=Rb, area_after=Ra, area_change_pct=_pct(Ra, Rb),
        area_harm_before=Rhb, area_harm_after=Rha, area_harm_change_pct=_pct(Rha, Rhb),
        buffer_before=Db, buffer_after=Da, buffer_harm_before=Dhb, buffer_harm_after=Dha,
        control_before=Cb, control_after=Ca, control_change_pct=_pct(Ca, Cb),
        control_harm_before=Chb, control_harm_after=Cha,
        control_harm_change_pct=_pct(Cha, Chb),
        success_measure=m["success_measure"], buffer_displacement=m["buffer_displacement"],
        wdq=m["wdq"], wdq_harm=mh["wdq"], total_net_effect=m["total_net_effect"],
        relative_change=test["relative_change"], ci_low=test["ci_low"],
        ci_high=test["ci_high"], p_value=test["p_value"],
        buffer_relative_change=btest["relative_change"], buffer_p_value=btest["p_value"],
        significant=sig,
    )
    meaning = wdq_meaning(m)
    p = test["p_value"]
    ptxt = ("p n/a" if not np.isfinite(p)
            else f"p = {p:.2g}, {'significant' if sig else 'not significant'}")
    wdq_txt = (f"WDQ {m['wdq']:.1f}, {meaning}" if np.isfinite(m["wdq"]) and
               m["success_measure"] < 0 else meaning)
    if not sig:
        direction = "did not change significantly relative to the rest of the LPU"
    elif Ra * Cb < Rb * Ca:
        direction = "fell relative to the rest of the LPU"
    else:
        direction = "rose relative to the rest of the LPU"
    out["interpretation"] = f"{n} {unit} after vs {n} before: the area {direction}; {meaning}"
    out["sentence"] = (
        f"{label}: harm {_fmt_pct(out['area_harm_change_pct'])} vs LPU "
        f"{_fmt_pct(out['control_harm_change_pct'])} (incidents {Rb} -> {Ra}, {ptxt}); "
        f"{wdq_txt}")
    return out


def _not_reviewed(out: dict, reason: str) -> dict:
    out["outcome"] = "not reviewed"
    out["interpretation"] = reason
    out["sentence"] = f"{out['label']}: not reviewed: {reason}"
    out["significant"] = False
    return out
