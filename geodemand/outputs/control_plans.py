"""Control-plan sheets: one Markdown page per LPU for the people who run the patrols.

Each sheet states the data window, the demand (incidents and harm in CCHI days), what was
left out, the score's formula, the LPU's patrol budget, then lists the patrol areas (rank,
name, expected harm, dosage, hot hours, review date), the top places and cells with every
component of their score, the partnership control plans (multi-agency problem solving for
hospitals, prisons, police stations, ...) and the data-quality warnings. Text from the data is
escaped for Markdown (no HTML entities).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from geodemand._atomic import write_text_atomic
from geodemand.outputs.markdown import escape
from geodemand.outputs.markdown import table as md_table


def _num(value, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    return f"{float(value):,.{digits}f}"


def control_plan_sheet(ranking, plan, lpu: str, top_n: int = 10, *, period=None,
                       status=None) -> str:
    """The Markdown control-plan sheet of one LPU.

    ``status`` (optional) maps ``target_id``/``area_id`` to a status text (new, continuing).
    """
    demand = ranking.demand
    p = ranking.params
    unit = demand.harm.unit
    status = status or {}
    kind = demand.period_kind
    areas = plan.areas[plan.areas["lpu"] == lpu].sort_values("rank") if len(plan.areas) else (
        plan.areas)
    places = ranking.top(top_n, "places", lpu)
    cells = ranking.top(top_n, "cells", lpu)
    sites = ranking.partnership[ranking.partnership["lpu"] == lpu] if len(
        ranking.partnership) else ranking.partnership
    excluded = demand.excluded_counts()
    left_out = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in excluded.items()) or "none"
    summary = plan.lpu_summary
    row = summary[summary["lpu"] == lpu] if len(summary) else summary
    parts = [f"# Control plan: {escape(lpu)}", ""]
    if p.get("synthetic"):
        parts += ["**SYNTHETIC DATA: not real incidents.**", ""]
    in_lpu = (demand.incidents["lpu"] == lpu).to_numpy()
    lpu_harm = demand.incidents["harm"][in_lpu]  # one column, not the whole frame
    parts += [
        (f"Period {period.describe()}. " if period is not None else "")
        + f"Data window {demand.window_text}: {int(in_lpu.sum()):,} incidents in this LPU, "
        f"{lpu_harm.sum():,.0f} {unit} of harm (harm scheme {demand.harm.scheme}, "
        f"{demand.harm.force or 'user file'}). Left out of the force's demand: {left_out}. "
        "Anti-social behaviour has no CCHI value: it weighs the 1-day floor in harm and counts "
        "fully as demand. Places, never people.",
        "",
        f"**Score**: expected harm next {kind} ({unit}) = expected incidents × harm per "
        f"incident. {ranking.model.describe()}. The score is in absolute units, so ranks "
        "are comparable across LPUs (force rank).",
        "",
    ]
    if len(row):
        r = row.iloc[0]
        parts += [
            f"**Patrol budget**: {r['budget_hours']:.1f} officer-hours a day for this LPU "
            f"(force budget {plan.params['patrol_hours_per_day']:g} h, floor "
            f"{plan.params['lpu_floor_hours']:g} h per LPU, the rest by expected harm); "
            f"{int(r['visits_per_day'])} visits of {plan.params['minutes_per_visit']:g} minutes "
            f"a day; unspent {r['unspent_minutes']:.0f} minutes (visits capped at "
            f"{plan.params['max_visits_per_day']} per area a day). Visits should be short, "
            "repeated and unpredictable in time (Koper 1995).",
            "",
        ]
    parts += ["## Patrol areas", ""]
    if len(areas):
        table = pd.DataFrame({
            "rank": areas["rank"].astype(int),
            "force rank": areas["force_rank"].astype(int),
            "area": areas["label"],
            "status": areas["area_id"].map(lambda a: status.get(a, "")),
            "neighbourhoods": areas["neighbourhoods"],
            f"expected harm ({unit})": areas["expected_harm"].map(_num),
            "expected incidents": areas["expected_incidents"].map(lambda v: _num(v, 2)),
            "visits a day": areas["visits_per_day"].astype(int),
            "hot hours": areas["hot_hours"],
            "review date": areas["review_date"].astype(str),
        })
        parts += [md_table(table), ""]
    else:
        parts += ["No patrol areas in this LPU.", ""]
    parts += [f"## Top {top_n} places (directed patrol)", ""]
    parts += [_target_table(places, unit, status), ""]
    parts += [f"## Top {top_n} cells ({ranking.grid.cell_size:g} m)", ""]
    parts += [_target_table(cells, unit, status), ""]
    parts += [
        "## Partnership control plans (multi-agency problem solving)",
        "",
        "Places whose demand comes from an institution that directed patrol cannot address. "
        "They are not patrol targets; plan them with the partner named.",
        "",
    ]
    if len(sites):
        table = pd.DataFrame({
            "rank": sites["rank"].astype(int),
            "place": sites["label"],
            "site": sites["site_category"],
            f"expected harm ({unit})": sites["expected_harm"].map(_num),
            "incidents": sites["incidents"].astype(int),
            "another organisation": sites["other_org_share"].map(
                lambda v: "–" if not np.isfinite(v) else f"{v:.0%}"),
            "why": sites["partnership_reason"],
        })
        parts += [md_table(table), ""]
    else:
        parts += ["None flagged in this LPU.", ""]
    quality = ranking.places[(ranking.places["lpu"] == lpu)
                             & ranking.places["default_geocode"].astype(bool)]
    if len(quality):
        parts += ["## Data quality", ""]
        for r in quality.itertuples():
            parts.append(
                f"- {escape(r.label)}: suspected default geocode ({r.incidents:,} incidents; at "
                f"least 2 % of the LPU's incidents in {r.default_geocode_share:.0%} of the "
                "months). Check the recording before sending patrols."
            )
        parts.append("")
    return "\n".join(parts)


def _target_table(table: pd.DataFrame, unit: str, status: dict) -> str:
    if not len(table):
        return "None."
    out = pd.DataFrame({
        "rank": table["rank"].astype(int),
        "force rank": table["force_rank"].astype(int),
        "target": table["label"],
        "status": table["target_id"].map(lambda t: status.get(t, "")),
        "neighbourhood": table["neighbourhood"].astype(str),
        f"expected harm ({unit})": table["expected_harm"].map(_num),
        "expected incidents": table["expected_incidents"].map(lambda v: _num(v, 2)),
        f"harm per incident ({unit})": table["harm_per_incident"].map(_num),
        "incidents (window)": table["incidents"].astype(int),
    })
    return md_table(out)


def write_control_plans(ranking, plan, out_dir: str | Path, stems: dict[str, str],
                        lpus, *, top_n: int = 10, period=None, status=None) -> list[Path]:
    """Write ``control_plan_<stem>.md`` for each of ``lpus``; return the paths."""
    out_dir = Path(out_dir)
    return [
        write_text_atomic(out_dir / f"control_plan_{stems[lpu]}.md",
                          control_plan_sheet(ranking, plan, lpu, top_n, period=period,
                                             status=status))
        for lpu in lpus
    ]
