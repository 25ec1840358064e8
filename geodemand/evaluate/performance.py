"""Performance framework: year to date against the same period last year and milestones.

:func:`ytd_vs_milestones` gives the crime-board table per LPU and crime group (and the group
``all``, every crime together): incidents from the start of the reporting year to ``as_of``
against the same days a year earlier, and the milestone (a target change in %, e.g. -5 for a
5 % reduction) when one is set. Milestones come from a dict or a milestones file
(:func:`read_milestones`); without them the table still compares with last year.
:func:`ytd_lines` turns the table into one plain-words line per LPU for the summary.

Milestones file (CSV, UTF-8)
----------------------------
Columns ``group`` and ``milestone_pct`` (required) and ``lpu`` (optional)::

    lpu,group,milestone_pct
    ,burglary,-5
    ,all,-3
    Leicester,robbery,-8

``group`` is a crime group of :func:`geodemand.ingest.vocabulary.crime_types` (``burglary``,
``robbery``, ``violence``, ``theft``, ...) or ``all``; ``milestone_pct`` a number >= -100; an
empty ``lpu`` (or ``*``) applies to every LPU and the force total, a named LPU overrides it for
that LPU. Errors name the file, the row (spreadsheet numbering: the header is row 1) and the
field.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geodemand._announce import announce
from geodemand._columns import map_distinct
from geodemand.errors import InputFormatError, InvalidParameterError

__all__ = ["ytd_vs_milestones", "ytd_markdown", "ytd_lines", "read_milestones", "ALL"]

#: The group of every crime together.
ALL = "all"
_ANY_LPU = "*"


def _groups() -> dict[str, str]:
    from geodemand.ingest.vocabulary import crime_types

    table = crime_types()
    return dict(zip(table["crime_type"], table["group"], strict=True))


def known_groups() -> list[str]:
    """The crime groups milestones may name (plus ``all``)."""
    return [*sorted(set(_groups().values())), ALL]


def read_milestones(path: str | Path) -> pd.DataFrame:
    """Read and validate a milestones file (module documentation).

    Returns
    -------
    DataFrame
        ``lpu`` (``"*"`` for every LPU), ``group``, ``milestone`` (a fraction, -0.05 for
        -5 %), ``row`` (spreadsheet row).
    """
    path = Path(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise InputFormatError(f"{path}: milestones file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputFormatError(f"{path}: cannot read the milestones file as CSV ({exc})") from exc
    raw.columns = [c.strip().lower() for c in raw.columns]
    missing = [c for c in ("group", "milestone_pct") if c not in raw.columns]
    if missing:
        raise InputFormatError(
            f"{path}: missing column(s) {missing}; expected group, milestone_pct and optionally "
            f"lpu (found {list(raw.columns)})")
    unknown = sorted(set(raw.columns) - {"lpu", "group", "milestone_pct"})
    if unknown:
        raise InputFormatError(f"{path}: unknown column(s) {unknown}; expected lpu, group, "
                               "milestone_pct")
    if raw.empty:
        raise InputFormatError(f"{path}: no milestones (the file has a header only)")
    groups = known_groups()
    rows, seen = [], {}
    for i, rec in enumerate(raw.to_dict("records")):
        row = i + 2
        lpu = (rec.get("lpu") or "").strip() or _ANY_LPU
        group = rec["group"].strip().lower()
        if group not in groups:
            raise InputFormatError(f"{path}: row {row}, field 'group': {rec['group']!r} is not a "
                                   f"crime group; expected one of {groups}")
        text = rec["milestone_pct"].strip().rstrip("%").strip()
        try:
            pct = float(text)
        except ValueError:
            raise InputFormatError(
                f"{path}: row {row}, field 'milestone_pct': {rec['milestone_pct']!r} is not a "
                "number (expected a percentage change such as -5)") from None
        if not math.isfinite(pct) or pct < -100:
            raise InputFormatError(f"{path}: row {row}, field 'milestone_pct': {pct:g} is not a "
                                   "percentage change >= -100")
        if (lpu, group) in seen:
            raise InputFormatError(f"{path}: row {row}: milestone for LPU {lpu!r}, group "
                                   f"{group!r} already set on row {seen[(lpu, group)]}")
        seen[(lpu, group)] = row
        rows.append({"lpu": lpu, "group": group, "milestone": pct / 100.0, "row": row})
    return pd.DataFrame(rows)


def _milestone_lookup(milestones: Any) -> dict[tuple[str, str], float]:
    """{(lpu or '*', group): fraction} from a dict {group: fraction} or read_milestones()."""
    if milestones is None:
        return {}
    if isinstance(milestones, str | Path):
        milestones = read_milestones(milestones)
    groups = known_groups()
    if isinstance(milestones, pd.DataFrame):
        items = [((str(r["lpu"]), str(r["group"])), r["milestone"])
                 for r in milestones.to_dict("records")]
    elif isinstance(milestones, dict):
        items = [((_ANY_LPU, str(k)), v) for k, v in milestones.items()]
    else:
        raise InvalidParameterError("milestones must be a dict {group: fraction}, a milestones "
                                    "file path or the frame of read_milestones()")
    out = {}
    for (lpu, g), v in items:
        if g not in groups:
            raise InvalidParameterError(f"milestone groups [{g!r}] are not crime groups; choose "
                                        f"from {groups}")
        if not (isinstance(v, int | float) and math.isfinite(v) and v >= -1):
            raise InvalidParameterError(f"milestone {g!r} must be a fraction such as -0.05, "
                                        f"got {v!r}")
        out[(lpu, g)] = float(v)
    return out


def ytd_vs_milestones(
    incidents: Any,
    milestones: Any = None,
    *,
    as_of: Any = None,
    year_start: str = "01-01",
    by: str = "lpu",
    include_total: bool = True,
    include_all: bool = True,
) -> pd.DataFrame:
    """Year-to-date crime per area and crime group against last year and reduction milestones.

    Parameters
    ----------
    incidents : IncidentTable or DataFrame
        Canonical incidents with ``crime_type`` and the ``by`` column (e.g. ``lpu`` after
        :func:`geodemand.assign_areas`; incidents labelled ``"outside"`` are left out).
    milestones : dict, path or DataFrame, optional
        ``{crime group: target change as a fraction}`` for every LPU (e.g.
        ``{"burglary": -0.02, "robbery": -0.05}``), a milestones file, or the frame of
        :func:`read_milestones` (per-LPU milestones). Groups are those of
        ``geodemand.ingest.vocabulary.crime_types()["group"]`` and ``all`` (police.uk data
        cannot tell public-place violence apart, so it is the ``violence`` group). Default: no
        milestones; the table compares with last year only.
    as_of : date-like, optional
        Last day included (default: the latest incident's day, or the end of its month for
        month-dated data).
    year_start : str
        ``"MM-DD"`` start of the reporting year (``"01-01"`` calendar year; many UK forces
        report financial years, ``"04-01"``).
    by : str
        The area column (default ``lpu``).
    include_total : bool
        Add the whole-force rows (``by`` = ``"Force"``).
    include_all : bool
        Add the group ``all`` (every crime) for each area.

    Returns
    -------
    DataFrame
        ``<by>, group, ytd_this_year, ytd_last_year, change, change_pct, milestone_pct,
        status`` (``met`` when ``change_pct <= milestone_pct``, ``not met``, ``no milestone``
        or ``n/a (none last year)``). Groups: those with a milestone (every group when there
        are none), then ``all``. ``attrs["params"]`` holds the periods.
    """
    frame = incidents.frame if hasattr(incidents, "frame") else incidents
    if by not in frame.columns:
        raise InvalidParameterError(f"incidents have no {by!r} column (run assign_areas first)")
    group_of = _groups()
    unknown = sorted(set(frame["crime_type"].unique().tolist()) - set(group_of))
    if unknown:
        raise InvalidParameterError(f"crime types without a group: {unknown}")
    lookup = _milestone_lookup(milestones)
    m = re.fullmatch(r"(\d\d)-(\d\d)", year_start)
    if not m:
        raise InvalidParameterError(f"year_start must be 'MM-DD', got {year_start!r}")
    try:
        pd.Timestamp(year=2023, month=int(m.group(1)), day=int(m.group(2)))
    except ValueError:
        raise InvalidParameterError(f"year_start {year_start!r} is not a day of every year "
                                    "(MM-DD, not 02-29)") from None
    month_only = "date_precision" in frame.columns and bool(
        (frame["date_precision"] == "month").any()
    )
    if as_of is None:
        last = frame["occurred"].max()
        end = ((last.to_period("M") + 1).to_timestamp() if month_only
               else last.normalize() + pd.Timedelta(days=1))
    else:
        end = pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)
    last_day = end - pd.Timedelta(days=1)
    ys = pd.Timestamp(year=last_day.year, month=int(m.group(1)), day=int(m.group(2)))
    if ys > last_day:
        ys = ys - pd.DateOffset(years=1)
    prev_start, prev_end = ys - pd.DateOffset(years=1), end - pd.DateOffset(years=1)
    if month_only and (ys.day != 1 or end.day != 1):
        raise InvalidParameterError("month-dated incidents need a year start and as_of on "
                                    "month boundaries")
    first = frame["occurred"].min()
    if first >= prev_end:
        raise InvalidParameterError(
            f"last year's period ({prev_start:%Y-%m-%d} to {prev_end:%Y-%m-%d}) is before the "
            f"data ({first:%Y-%m-%d} on)"
        )
    if first > prev_start:
        announce(
            f"the first incident is on {first:%Y-%m-%d}, after the start of last year's period "
            f"({prev_start:%Y-%m-%d}): last year's counts may be incomplete"
        )
    sel = frame.loc[frame[by] != "outside", [by, "occurred", "crime_type"]]
    occ = sel["occurred"]
    keys = pd.DataFrame({by: sel[by].astype(str), "group": map_distinct(sel["crime_type"],
                                                                        group_of)})
    this_rows = keys.loc[(occ >= ys) & (occ < end)]
    prev_rows = keys.loc[(occ >= prev_start) & (occ < prev_end)]
    this, prev = this_rows.value_counts(), prev_rows.value_counts()
    this_all, prev_all = this_rows[by].value_counts(), prev_rows[by].value_counts()
    named = sorted({g for _, g in lookup} - {ALL})
    groups = named if lookup else sorted(set(group_of.values()))
    areas = sorted(keys[by].unique())
    rows = []
    for area in areas:
        for g in groups:
            rows.append({by: area, "group": g, "ytd_this_year": int(this.get((area, g), 0)),
                         "ytd_last_year": int(prev.get((area, g), 0))})
        if include_all:
            rows.append({by: area, "group": ALL, "ytd_this_year": int(this_all.get(area, 0)),
                         "ytd_last_year": int(prev_all.get(area, 0))})
    out = pd.DataFrame(rows, columns=[by, "group", "ytd_this_year", "ytd_last_year"])
    if include_total:
        total = out.groupby("group", sort=False)[["ytd_this_year", "ytd_last_year"]].sum()
        out = pd.concat([out, total.reset_index().assign(**{by: "Force"})[out.columns]],
                        ignore_index=True)
    out["change"] = out["ytd_this_year"] - out["ytd_last_year"]
    last = out["ytd_last_year"].where(out["ytd_last_year"] > 0)
    out["change_pct"] = 100 * out["change"] / last

    def milestone(area: str, g: str) -> float:
        v = lookup.get((area, g), lookup.get((_ANY_LPU, g)))
        return np.nan if v is None else 100 * v

    out["milestone_pct"] = [milestone(a, g) for a, g in zip(out[by], out["group"], strict=True)]
    out["status"] = np.select(
        [out["milestone_pct"].isna(), out["change_pct"].isna(),
         out["change_pct"] <= out["milestone_pct"] + 1e-9],
        ["no milestone", "n/a (none last year)", "met"], default="not met",
    )
    out.attrs["params"] = {
        "this_year": [f"{ys:%Y-%m-%d}", f"{last_day:%Y-%m-%d}"],
        "last_year": [f"{prev_start:%Y-%m-%d}", f"{prev_end - pd.Timedelta(days=1):%Y-%m-%d}"],
        "milestones": {f"{a}/{g}": v for (a, g), v in lookup.items()},
        "by": by,
    }
    return out


def ytd_markdown(table: pd.DataFrame) -> str:
    """A :func:`ytd_vs_milestones` table as Markdown, in the crime-board layout."""
    by = table.attrs.get("params", {}).get("by", table.columns[0])
    p = table.attrs.get("params", {})
    head = (f"Year to date {p['this_year'][0]} to {p['this_year'][1]} against "
            f"{p['last_year'][0]} to {p['last_year'][1]}.\n\n") if "this_year" in p else ""
    lines = [f"| {by} | group | YTD this year | YTD last year | change % | milestone % | status |",
             "|---|---|---:|---:|---:|---:|---|"]
    for r in table.itertuples(index=False):
        d = r._asdict()
        chg = "–" if pd.isna(d["change_pct"]) else f"{d['change_pct']:+.1f}"
        ms = "–" if pd.isna(d["milestone_pct"]) else f"{d['milestone_pct']:+.1f}"
        lines.append(f"| {d[by]} | {d['group']} | {d['ytd_this_year']:,} | "
                     f"{d['ytd_last_year']:,} | {chg} | {ms} | {d['status']} |")
    return head + "\n".join(lines) + "\n"


def _pct_text(v: float) -> str:
    return "n/a" if pd.isna(v) else f"{v:+.0f} %"


def ytd_lines(table: pd.DataFrame) -> dict[str, str]:
    """One plain-words line per area of a :func:`ytd_vs_milestones` table.

    E.g. ``"Leicester: 38,120 incidents year to date (2021-01-01 to 2021-11-30), -6 % vs the
    same period last year (40,551); milestones met: burglary (-12 % vs -5 %); not met:
    robbery (+3 % vs -8 %)."``
    """
    p = table.attrs.get("params", {})
    by = p.get("by", table.columns[0])
    span = f" ({p['this_year'][0]} to {p['this_year'][1]})" if "this_year" in p else ""
    out = {}
    for area, g in table.groupby(by, sort=False):
        every = g[g["group"] == ALL]
        if len(every):
            now, before = int(every["ytd_this_year"].iloc[0]), int(every["ytd_last_year"].iloc[0])
        else:
            now, before = int(g["ytd_this_year"].sum()), int(g["ytd_last_year"].sum())
        change = 100 * (now - before) / before if before else np.nan
        line = (f"{area}: {now:,} incidents year to date{span}, {_pct_text(change)} vs the same "
                f"period last year ({before:,})")
        parts = []
        for status, word in (("met", "met"), ("not met", "not met")):
            sel = g[g["status"] == status]
            if len(sel):
                items = ", ".join(f"{r['group']} ({_pct_text(r['change_pct'])} vs "
                                  f"{_pct_text(r['milestone_pct'])})"
                                  for r in sel.to_dict("records"))
                parts.append(f"{word}: {items}")
        if parts:
            line += "; milestones " + "; ".join(parts)
        out[str(area)] = line + "."
    return out
