"""Governance in the weekly job: the control-plan register, statuses, reviews, the year to date
against milestones and the equity audit.

The job registers what it lists each period: the top ``top_n`` place and cell targets of each
LPU (those that become patrol areas), the patrol areas and the partnership sites. Statuses
(new, continuing for N weeks, dropped, expired) are read from the register *before* anything
is drawn, so maps, control plans, targets.csv and the summary can show them; plans whose
review date has passed are reviewed against the rest of their LPU; and the run is recorded
in one transaction just before the bundle is published.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from geodemand._announce import announce, warn
from geodemand.jobs.config import WeeklyConfig

#: Partnership sites registered per LPU (by expected harm).
PARTNERSHIP_LISTED = 10


@dataclass
class Governance:
    """What governance adds to a run."""

    register_path: Path | None
    run_info: dict
    targets: pd.DataFrame
    areas: object
    partnership: pd.DataFrame
    statuses: pd.DataFrame | None = None
    reviews: pd.DataFrame | None = None
    ytd: pd.DataFrame | None = None
    ytd_lines: dict = field(default_factory=dict)
    equity: object | None = None
    equity_note: str | None = None

    def status_text(self) -> dict[str, str]:
        """``{item id: "new" | "continuing (3 weeks)" | "dropped" | "expired"}``."""
        if self.statuses is None or not len(self.statuses):
            return {}
        out = {}
        for r in self.statuses.itertuples():
            text = str(r.status)
            if text == "continuing":
                weeks = int(r.weeks_on_list) if pd.notna(r.weeks_on_list) else 0
                text = f"continuing ({weeks} week{'s' if weeks != 1 else ''})"
            out[str(r.item_id)] = text
        return out

    def record(self) -> None:
        """Record the run in the register (one transaction)."""
        if self.register_path is None:
            return
        from geodemand.evaluate.register import Register

        reg = Register.open(self.register_path)
        try:
            reg.record_run(self.run_info, self.targets, self.areas, self.partnership,
                           reviews=self.reviews)
        finally:
            reg.close()


def listed(ranking, plan, cfg: WeeklyConfig, review_date, lpus: list[str]) -> tuple:
    """The targets, areas and partnership sites a run lists for ``lpus`` (register inputs)."""
    cols = ["target_id", "target_type", "lpu", "label", "rank", "force_rank", "x", "y",
            "expected_harm", "harm", "incidents"]
    targets = pd.concat([ranking.top(cfg.top_n, "places")[cols],
                         pd.DataFrame(ranking.top(cfg.top_n, "cells")[cols])],
                        ignore_index=True)
    targets["review_date"] = review_date
    part = ranking.top(PARTNERSHIP_LISTED, "partnership")
    partnership = part[cols + ["partnership_reason"]].rename(
        columns={"partnership_reason": "reason"}).assign(review_date=review_date)
    areas = plan.areas
    if len(areas):
        areas = areas[areas["lpu"].isin(lpus)]
    return (targets[targets["lpu"].isin(lpus)].reset_index(drop=True), areas,
            partnership[partnership["lpu"].isin(lpus)].reset_index(drop=True))


def prepare_governance(cfg: WeeklyConfig, period, table, areas, demand, ranking, plan,
                       lpus: list[str]) -> Governance:
    """Statuses and reviews from the register, year to date and the equity audit."""
    review_date = (pd.Timestamp(demand.window_end).normalize()
                   + pd.Timedelta(days=cfg.review_days)).date()
    targets, patrol, partnership = listed(ranking, plan, cfg, review_date, lpus)
    run_info = {
        "period_start": period.start, "period_end": period.end, "lpus": lpus,
        "crs": demand.crs, "period_label": period.label, "period_kind": period.kind,
        "window_start": demand.window_start, "window_end": demand.window_end,
        "synthetic": bool(demand.params.get("synthetic")),
    }
    register = None if cfg.no_register else Path(cfg.register or Path(cfg.out) /
                                                  "register.gpkg")
    gov = Governance(register, run_info, targets, patrol, partnership)
    if register is not None:
        from geodemand.evaluate.register import Register
        from geodemand.evaluate.reviews import review_plans

        reg = Register.open(register)
        try:
            gov.statuses = reg.statuses(run_info, targets, patrol, partnership)
        finally:
            reg.close()
        due = gov.statuses[gov.statuses["status"] == "expired"]
        if len(due):
            gov.reviews = review_plans(demand.incidents, due, data_end=period.end)
            announce(f"reviewed {len(gov.reviews)} plan(s) that reached their review date")
    else:
        announce("no register (--no-register): statuses and reviews are not tracked")
    gov.ytd, gov.ytd_lines = _ytd(cfg, table, period)
    gov.equity, gov.equity_note = _equity(demand, plan, areas, cfg)
    return gov


def _ytd(cfg: WeeklyConfig, table, period):
    from geodemand.evaluate.performance import read_milestones, ytd_lines, ytd_vs_milestones

    frame = table.frame[table.frame["lpu"] != "outside"]
    milestones = read_milestones(cfg.milestones) if cfg.milestones else None
    try:
        ytd = ytd_vs_milestones(frame, milestones, as_of=period.end - pd.Timedelta(seconds=1))
    except Exception as exc:  # noqa: BLE001 - too little history is not a reason to stop
        from geodemand.errors import GeodemandError

        if not isinstance(exc, GeodemandError):
            raise
        warn(f"year to date not computed: {exc}")
        return None, {}
    return ytd, ytd_lines(ytd)


def _equity(demand, plan, areas, cfg: WeeklyConfig):
    from geodemand.evaluate.equity import EquityUnavailableError, equity_audit, small_area_layer

    if not len(plan.areas):
        return None, "no patrol areas: nothing to audit"
    try:
        layer = small_area_layer(cfg.deprivation)
        audit = equity_audit(demand.incidents, plan.areas, areas.lpus, layer,
                             neighbourhoods=areas.neighbourhoods)
    except EquityUnavailableError as exc:
        return None, str(exc)
    return audit, None


def add_status(frame: pd.DataFrame, key: str, status: dict[str, str]) -> pd.DataFrame:
    """``frame`` with a ``status`` column from ``status`` (``""`` where unknown)."""
    if not len(frame):
        return frame.assign(status=pd.Series(dtype=object))
    values = frame[key].map(lambda k: status.get(str(k), "")).to_numpy(dtype=object)
    out = frame.copy()
    out["status"] = np.where(pd.isna(values), "", values)
    return out
