"""Control-plan sheets: one Markdown page per LPU for the people who run the patrols.

Each sheet lists the LPU's patrol areas (rank, neighbourhoods, dosage, review date, the score
and every component of it) and its top places and cells with their score breakdowns, plus
the data window, exclusions and the harm table's status. Text from the data (place keys,
neighbourhood names, LPU names) is escaped for Markdown with backslashes, never with HTML
entities (:mod:`geodemand.outputs.markdown`); tables are drawn by ``DataFrame.to_markdown``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from geodemand._atomic import write_text_atomic
from geodemand.decide.targets import COMPONENTS
from geodemand.outputs.markdown import escape, format_cell, table


def _cell(value) -> str:
    """One value as escaped Markdown text (floats to 3 decimals; no HTML entities)."""
    return format_cell(value)


def markdown_table(frame: pd.DataFrame, columns: list[str]) -> str:
    """A Markdown table of ``columns`` of ``frame`` (text escaped, floats to 3 decimals)."""
    return table(frame, columns)


def control_plan_sheet(ranking, plan, lpu: str, top_n: int = 10) -> str:
    """The Markdown control-plan sheet of one LPU."""
    p = ranking.params
    comps = [f"score_{c}" for c in COMPONENTS]
    areas = plan.areas[plan.areas["lpu"] == lpu].sort_values("rank")
    places = ranking.top(top_n, "places", lpu)
    cells = ranking.top(top_n, "cells", lpu)
    excluded = ", ".join(f"{escape(k)} ({v:,})" for k, v in p.get("excluded", {}).items()) or "none"
    synthetic = "\n**SYNTHETIC DATA: not real incidents.**\n" if p.get("synthetic") else ""
    placeholders = p.get("harm_table", {}).get("placeholders", [])
    harm_note = (
        f"Harm weights: {len(placeholders)} placeholder values (replace with a sourced table)."
        if placeholders
        else "Harm weights: sourced table."
    )
    parts = [
        f"# Control plan: {escape(lpu)}",
        synthetic,
        f"Data window {p['window_start']} to {p['window_end']} ({p['window_days']} days; "
        f"recency half-life {p['half_life_days']:g} days). Police-generated types excluded: "
        f"{excluded}. {harm_note} Places, never people.",
        "",
        "Score = "
        + " + ".join(f"{w:g} × {k}" for k, w in p["weights"].items())
        + " (each component scaled to 0–1 within the LPU; see `geodemand.decide.targets`).",
        "",
        "## Patrol areas",
        "",
        markdown_table(
            areas,
            [
                "rank",
                "area_id",
                "neighbourhoods",
                "area_km2",
                "incidents",
                "harm",
                "share_lpu_harm",
                "visits_per_day",
                "minutes_per_visit",
                "review_date",
                "score",
                *comps,
            ],
        ),
        "",
        f"## Top {top_n} places",
        "",
        markdown_table(
            places,
            [
                "rank",
                "location_key",
                "neighbourhood",
                "incidents",
                "repeats",
                "harm",
                "score",
                *comps,
            ],
        ),
        "",
        f"## Top {top_n} cells ({p['cell_size_m']:g} m)",
        "",
        markdown_table(
            cells,
            [
                "rank",
                "row",
                "col",
                "neighbourhood",
                "incidents",
                "harm",
                "gistar_bin",
                "score",
                *comps,
            ],
        ),
        "",
    ]
    return "\n".join(parts)


def write_control_plans(ranking, plan, out_dir: str | Path, top_n: int = 10) -> list[Path]:
    """Write ``control_plan_<lpu>.md`` for every LPU with targets; return the paths."""
    out_dir = Path(out_dir)
    paths = []
    for lpu in sorted(set(ranking.places["lpu"]) | set(plan.areas.get("lpu", []))):
        slug = "".join(ch if ch.isalnum() else "-" for ch in lpu.lower()).strip("-")
        paths.append(
            write_text_atomic(
                out_dir / f"control_plan_{slug}.md", control_plan_sheet(ranking, plan, lpu, top_n)
            )
        )
    return paths
