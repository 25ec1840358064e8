"""Control-plan statuses across runs: a pure replay of what each run listed.

The register (:mod:`geodemand.evaluate.register`) stores, for every run, the LPUs it covered
and the items it listed (targets, patrol areas, partnership sites). Everything else — plan
start dates, statuses, how long an item has been on the list — is *derived* here by replaying
the runs in period order, so re-recording an old period gives the same answer as if the runs
had been recorded in order.

Definitions
-----------
item
    One listed thing, keyed by ``(kind, lpu, item_id)``: ``kind`` is ``target``, ``area`` or
    ``partnership``; ``item_id`` the stable id the caller gives (``place:<key>``,
    ``cell:<row>,<col>``, a patrol ``area_id``). A grid cell on an LPU border can be listed by
    two LPUs: they are two items.
run
    One reporting period ``[period_start, period_end)`` and the set of LPUs it covered. An item
    is only ever judged by runs that covered its LPU (a run for one LPU leaves the plans of the
    others alone).
plan
    A spell of accountability for an item. It opens at the first covering run that lists the
    item while it has no open plan (``first_period`` = that run's period start; ``plan_start``
    = that run's period **end**, the day the list is published and the plan takes effect) and
    takes the review date that run gave the item. It stays open, listed or not, until a
    covering run whose period ends after the review date (the data then cover the whole plan):
    that run marks it ``expired`` and closes it; it is then due for review. If the item is still
    listed in that run, a renewed plan opens at once with the review date of this listing.

Status of an item in a run (one row per item the run lists or that has an open plan in a
covered LPU):

``new``
    listed, and no plan was open: a plan starts.
``continuing``
    listed, its plan is open and its review date has not passed.
``dropped``
    not listed, its plan is still open (review date not passed): off the list, still
    accountable until its review date.
``expired``
    the plan's review date falls in this period or earlier (``review_date < period_end``):
    the plan closes and is reviewed; ``listed`` says whether the item is still on the list
    (then a renewed plan starts).

``listed_since`` is the period start of the first run of the item's current unbroken streak of
listings (consecutive covering runs of its LPU) and ``weeks_on_list`` the whole weeks from it
to this run's period end (1 for a weekly run's new item, 4 for a month's); 0 when not listed.
``runs_listed`` counts the runs of the current plan that listed the item.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["STATUSES", "KINDS", "replay"]

STATUSES = ("new", "continuing", "dropped", "expired")
KINDS = ("target", "area", "partnership")
KEY = ["kind", "lpu", "item_id"]
STATUS_COLUMNS = [
    "period_start", "period_end", "kind", "item_id", "lpu", "label", "rank", "listed",
    "status", "first_period", "plan_start", "review_date", "listed_since", "weeks_on_list",
    "runs_listed", "last_listed",
]
PLAN_COLUMNS = [
    "kind", "item_id", "lpu", "label", "first_period", "plan_start", "review_date",
    "runs_listed", "last_listed", "state", "closed_period", "closed_at", "last_status",
    "last_period",
]
_DATES = ("period_start", "period_end", "first_period", "plan_start", "review_date",
          "listed_since", "last_listed", "closed_period", "closed_at", "last_period")


@dataclass(slots=True)
class _Plan:
    """A plan while replaying; dates are day numbers (days since 1970-01-01)."""

    label: object
    first_period: int
    plan_start: int
    review_date: int
    runs_listed: int
    last_listed: int
    state: str = "open"
    closed_period: int | None = None
    closed_at: int | None = None
    last_status: str = "new"
    last_period: int | None = None


def replay(coverage: pd.DataFrame, listings: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Statuses of every item in every run, and every plan, from the runs' listings.

    Parameters
    ----------
    coverage : DataFrame
        One row per (run period, covered LPU): ``period_start``, ``period_end`` (exclusive),
        ``lpu``.
    listings : DataFrame
        One row per listed item per period: ``kind``, ``item_id``, ``lpu``, ``period_start``,
        ``review_date``, ``label``, ``rank``. Every ``(period_start, lpu)`` must be in
        ``coverage``.

    Returns
    -------
    statuses : DataFrame
        :data:`STATUS_COLUMNS`, one row per item and covering run (module documentation).
    plans : DataFrame
        :data:`PLAN_COLUMNS`: every plan, ``state`` ``open`` or ``expired``; ``closed_period``
        / ``closed_at`` are the period start / end of the run that expired it.
    """
    day = np.timedelta64(1, "D")

    def days(values) -> np.ndarray:
        return pd.to_datetime(pd.Series(values)).to_numpy("datetime64[D]").astype(np.int64)

    c_start, c_end = days(coverage["period_start"]), days(coverage["period_end"])
    c_lpu = coverage["lpu"].astype(str).to_numpy()
    l_start, l_review = days(listings["period_start"]), days(listings["review_date"])
    keys = list(zip(listings["kind"].astype(str), listings["lpu"].astype(str),
                    listings["item_id"].astype(str), strict=True))
    labels, ranks = listings["label"].tolist(), listings["rank"].tolist()
    by_period: dict[int, list[int]] = {}
    for i, p in enumerate(l_start.tolist()):
        by_period.setdefault(p, []).append(i)
    periods: dict[int, tuple[int, set]] = {}
    for p, e, lpu in zip(c_start.tolist(), c_end.tolist(), c_lpu.tolist(), strict=True):
        periods.setdefault(p, (e, set()))[1].add(lpu)
    open_plans: dict[tuple, _Plan] = {}
    open_by_lpu: dict[str, set] = {}
    closed: list[tuple[tuple, _Plan]] = []
    streak_start: dict[tuple, int] = {}
    last_listed_at: dict[tuple, int] = {}
    prev_cover: dict[str, int] = {}
    rows: list[tuple] = []

    def open_plan(key, label, period, pend, review) -> _Plan:
        plan = _Plan(label, period, pend, review, 1, period)
        open_plans[key] = plan
        open_by_lpu.setdefault(key[1], set()).add(key)
        return plan

    def close(key, plan, period, pend) -> None:
        plan.state, plan.closed_period, plan.closed_at = "expired", period, pend
        closed.append((key, plan))
        del open_plans[key]
        open_by_lpu[key[1]].discard(key)

    for period in sorted(periods):
        pend, covered = periods[period]
        current = {keys[i]: i for i in by_period.get(period, ())}
        for key, i in current.items():
            lpu = key[1]
            plan = open_plans.get(key)
            if last_listed_at.get(key) != prev_cover.get(lpu) or key not in last_listed_at:
                streak_start[key] = period
            last_listed_at[key] = period
            if plan is None:
                status = "new"
                plan = open_plan(key, labels[i], period, pend, int(l_review[i]))
            elif plan.review_date < pend:
                status = "expired"
            else:
                status = "continuing"
                plan.runs_listed += 1
                plan.last_listed = period
                plan.label = labels[i]
            plan.last_status, plan.last_period = status, period
            rows.append(_row(period, pend, key, labels[i], ranks[i], True, status, plan,
                             streak_start[key]))
            if status == "expired":  # still listed: the plan is reviewed and renewed
                close(key, plan, period, pend)
                fresh = open_plan(key, labels[i], period, pend, int(l_review[i]))
                fresh.last_status, fresh.last_period = "new", period
        for lpu in sorted(covered):
            for key in sorted(open_by_lpu.get(lpu, set()) - current.keys()):
                plan = open_plans[key]
                status = "expired" if plan.review_date < pend else "dropped"
                plan.last_status, plan.last_period = status, period
                rows.append(_row(period, pend, key, plan.label, None, False, status, plan,
                                 None))
                if status == "expired":
                    close(key, plan, period, pend)
        for lpu in covered:
            prev_cover[lpu] = period
    statuses = pd.DataFrame(rows, columns=STATUS_COLUMNS)
    statuses["listed"] = statuses["listed"].astype(bool)
    for c in ("weeks_on_list", "runs_listed"):
        statuses[c] = statuses[c].astype(np.int64)
    plan_rows = [_plan_row(k, p) for k, p in closed] + [_plan_row(k, p)
                                                        for k, p in open_plans.items()]
    plans = pd.DataFrame(plan_rows, columns=PLAN_COLUMNS)
    for frame in (statuses, plans):
        for c in _DATES:
            if c in frame.columns:
                vals = pd.array(frame[c], dtype="Int64").to_numpy(dtype=np.float64,
                                                                  na_value=np.nan)
                out = np.full(len(vals), np.datetime64("NaT"), dtype="datetime64[D]")
                ok = np.isfinite(vals)
                out[ok] = np.datetime64(0, "D") + vals[ok].astype(np.int64) * day
                frame[c] = pd.to_datetime(out)
    plans = plans.sort_values(["kind", "lpu", "item_id", "plan_start"], kind="mergesort")
    return statuses, plans.reset_index(drop=True)


def _row(period, pend, key, label, rank, listed, status, plan: _Plan, since) -> tuple:
    """One status row, in :data:`STATUS_COLUMNS` order (dates as day numbers)."""
    weeks = (pend - since) // 7 if since is not None else 0
    return (period, pend, key[0], key[2], key[1], label, rank, listed, status,
            plan.first_period, plan.plan_start, plan.review_date, since, weeks,
            plan.runs_listed, plan.last_listed)


def _plan_row(key, p: _Plan) -> dict:
    return {
        "kind": key[0], "item_id": key[2], "lpu": key[1], "label": p.label,
        "first_period": p.first_period, "plan_start": p.plan_start,
        "review_date": p.review_date, "runs_listed": p.runs_listed,
        "last_listed": p.last_listed, "state": p.state, "closed_period": p.closed_period,
        "closed_at": p.closed_at, "last_status": p.last_status, "last_period": p.last_period,
    }

