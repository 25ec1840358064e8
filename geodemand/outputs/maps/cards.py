"""Popup cards and tooltips, as plain data built from documented, optional columns.

A card is ``{"title": str, "sub": str, "rows": [...]}``; a row is ``{"k": label, "v": value}``
(optionally with ``"pct"``, a share 0–100 drawn as a small bar) or a section heading
``{"h": text}``. The page's script turns cards into DOM nodes with ``textContent`` only: no
text is ever parsed as HTML or as a template. Numbers are formatted for people (thousands
separators, shares as "38 %", dates as "Mon 8 Dec 2025"); coordinates are never shown.

The columns a card reads are documented in :mod:`geodemand.outputs.maps.layers`; any other
column is left out of the card (it stays in ``targets.csv`` and the patrol-area files).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from geodemand.outputs.maps.style import format_value

#: Most crime types listed on a card (the full breakdown stays in targets.csv).
TOP_CRIME_TYPES = 5

#: Prefix of per-crime-type count columns by target kind.
TYPE_PREFIX = {"patrol": "incidents_", "place": "n_"}


# ---------------------------------------------------------------------------- numbers
def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def format_count(value: Any) -> str:
    """A count with thousands separators ("1,234")."""
    return f"{int(round(float(value))):,}"


def format_amount(value: Any) -> str:
    """A measured amount for people: whole numbers as they are ("15", "1,234"); others
    rounded to a whole number from 100, to one decimal from 10 ("12.3"), else to 2
    significant digits ("0.52")."""
    v = float(value)
    if not math.isfinite(v):
        return format_value(v)
    if v.is_integer() or abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2g}"


def format_share(fraction: float) -> str:
    """A share as a whole percentage ("38 %"); "<1 %" for a small non-zero share."""
    pct = 100.0 * float(fraction)
    if 0 < pct < 0.5:
        return "<1 %"
    return f"{pct:.0f} %"


def format_date(value: Any, *, precision: str = "day") -> str:
    """A date for people: "Mon 8 Dec 2025", with " 22:15" when it has a time of day, or
    "Dec 2025" for month precision."""
    if _missing(value):
        return "–"
    ts = pd.Timestamp(value)
    if precision == "month":
        return f"{ts:%b %Y}"
    text = f"{ts:%a} {ts.day} {ts:%b %Y}"
    if ts != ts.normalize():
        text += f" {ts:%H:%M}"
    return text


def format_dates(values, precision) -> np.ndarray:
    """:func:`format_date` of many timestamps at once (object array of text).

    ``precision`` is one value for all or one per timestamp (``"month"`` or anything else).
    """
    all_ts = pd.DatetimeIndex(pd.to_datetime(pd.Series(values).to_numpy()))
    codes, idx = pd.factorize(all_ts, use_na_sentinel=True)  # format each time once
    idx = pd.DatetimeIndex(idx)
    prec = np.broadcast_to(np.asarray(precision, dtype=object), (len(all_ts),))
    day = idx.strftime("%a ") + idx.day.astype(str) + idx.strftime(" %b %Y")
    timed = idx != idx.normalize()
    day = np.append(np.where(timed, day + idx.strftime(" %H:%M"), day).astype(object), "–")
    month = np.append(np.asarray(idx.strftime("%b %Y"), dtype=object), "–")
    return np.where(prec == "month", month[codes], day[codes]).astype(object)


def format_dosage(visits: Any, minutes: Any) -> str:
    """"4 visits a day × 15 min" (either part may be missing; "1.5 visits" is kept as it is)."""
    parts = []
    if not _missing(visits):
        n = float(visits)
        parts.append(f"{format_amount(n)} visit{'s' if n != 1 else ''} a day")
    if not _missing(minutes):
        parts.append(f"{format_amount(minutes)} min")
    return " × ".join(parts)


# ---------------------------------------------------------------------------- crime types
@lru_cache(maxsize=1)
def _type_labels() -> dict[str, str]:
    from geodemand.ingest.vocabulary import crime_types

    frame = crime_types()
    return dict(zip(frame["crime_type"], frame["label"], strict=True))


@lru_cache(maxsize=4096)
def crime_type_label(name: str) -> str:
    """The vocabulary's label of a crime type given as a slug, label, alias or field-name
    spelling (``anti_social_behaviour`` -> "Anti-social behaviour"); unknown names are shown
    with ``_`` as spaces and a capital first letter."""
    from geodemand.ingest.vocabulary import normalise_crime_type

    text = str(name)
    canonical, known = normalise_crime_type([text])
    if bool(known.iloc[0]):
        return _type_labels().get(canonical.iloc[0], canonical.iloc[0])
    # field-name spelling of a slug: underscores for hyphens
    canonical, known = normalise_crime_type([text.replace("_", "-")])
    if bool(known.iloc[0]):
        return _type_labels().get(canonical.iloc[0], canonical.iloc[0])
    pretty = re.sub(r"[_\s]+", " ", text).strip()
    return pretty[:1].upper() + pretty[1:] if pretty else text


@lru_cache(maxsize=4096)
def is_crime_type(name: str) -> bool:
    """Whether ``name`` is in the crime-type vocabulary (any spelling)."""
    from geodemand.ingest.vocabulary import normalise_crime_type

    for spelling in (str(name), str(name).replace("_", "-")):
        if bool(normalise_crime_type([spelling])[1].iloc[0]):
            return True
    return False


def type_columns(columns, kind: str) -> list[str]:
    """The per-crime-type count columns of a target table.

    Patrol areas: every ``incidents_<type>`` column. Places: ``n_<type>`` columns whose
    ``<type>`` is in the crime-type vocabulary (so ``n_cells`` is not a crime type).
    """
    prefix = TYPE_PREFIX[kind]
    out = []
    for c in columns:
        if not isinstance(c, str) or not c.startswith(prefix) or len(c) == len(prefix):
            continue
        if kind == "place" and not is_crime_type(c[len(prefix) :]):
            continue
        out.append(c)
    return out


def top_crime_types(
    row: pd.Series, columns: list[str], prefix: str, total: Any = None, k: int = TOP_CRIME_TYPES
) -> list[tuple[str, int, float]]:
    """The ``k`` largest non-zero per-type counts: ``(label, count, share of total)``.

    The share's denominator is ``total`` (the target's incidents) when given, else the sum of
    the per-type counts. Ties are ordered by label.
    """
    counts = []
    for c in columns:
        v = row[c]
        if _missing(v) or float(v) <= 0:
            continue
        counts.append((crime_type_label(c[len(prefix) :]), int(round(float(v)))))
    denom = float(total) if not _missing(total) and float(total) > 0 else sum(n for _, n in counts)
    counts.sort(key=lambda t: (-t[1], t[0]))
    return [(label, n, n / denom if denom else 0.0) for label, n in counts[:k]]


# ---------------------------------------------------------------------------- cards
def _row(label: str, value: str) -> dict[str, str]:
    return {"k": label, "v": value}


def _get(row: pd.Series | Mapping[str, Any], name: str) -> Any:
    keys = row.index if isinstance(row, pd.Series) else row
    return None if name not in keys or _missing(row[name]) else row[name]


def _text(value: Any) -> str:
    return format_value(value)


def target_card(
    row: pd.Series,
    *,
    kind: str = "patrol",
    harm_units: str = "CCHI days",
    fallback_title: str | None = None,
    types: list[str] | None = None,
) -> dict[str, Any]:
    """The popup card of one patrol area (``kind="patrol"``) or place (``kind="place"``).

    Reads only the documented columns (see :mod:`.layers`): ``label``, ``rank``,
    ``force_rank``, ``lpu``, ``status``, ``expected_harm``, ``harm``, ``incidents`` (or
    ``count`` for places), per-type counts, ``visits_per_day``, ``minutes_per_visit``,
    ``hot_hours``, ``review_date``, ``partnership``, ``partnership_reason``,
    ``neighbourhoods`` / ``neighbourhood`` and ``area_id``.
    """
    rank = _get(row, "rank")
    label = _get(row, "label")
    default = fallback_title or (
        f"Patrol area {int(rank)}" if kind == "patrol" and rank is not None else "Place"
    )
    title = _text(label) if label is not None else default
    sub = []
    if rank is not None:
        sub.append(f"Rank {int(rank)}")
    force_rank = _get(row, "force_rank")
    if force_rank is not None and (rank is None or int(force_rank) != int(rank)):
        sub.append(f"force-wide {int(force_rank)}")
    if _get(row, "lpu") is not None:
        sub.append(_text(row["lpu"]))
    rows: list[dict[str, Any]] = []
    if _get(row, "status") is not None:
        rows.append(_row("Status", _text(row["status"])))
    if _get(row, "expected_harm") is not None:
        rows.append(
            _row("Expected harm", f"{format_amount(row['expected_harm'])} {harm_units} next period")
        )
    if _get(row, "harm") is not None:
        rows.append(_row("Harm in window", f"{format_amount(row['harm'])} {harm_units}"))
    total = _get(row, "incidents")
    if total is None and kind == "place":
        total = _get(row, "count")
    if total is not None:
        rows.append(_row("Incidents in window", format_count(total)))
    cols = types if types is not None else type_columns(row.index, kind)
    top = top_crime_types(row, cols, TYPE_PREFIX[kind], total)
    if top:
        rows.append({"h": "Top crime types"})
        for name, n, share in top:
            rows.append({"k": name, "v": f"{n:,} · {format_share(share)}",
                         "pct": round(100 * min(share, 1.0), 1)})
    patrol = []
    dosage = format_dosage(_get(row, "visits_per_day"), _get(row, "minutes_per_visit"))
    if dosage:
        patrol.append(_row("Dosage", dosage))
    if _get(row, "hot_hours") is not None:
        patrol.append(_row("Hot hours", _text(row["hot_hours"])))
    if _get(row, "review_date") is not None:
        patrol.append(_row("Review by", format_date(row["review_date"])))
    if patrol:
        rows.append({"h": "Patrol"})
        rows.extend(patrol)
    partnership = _get(row, "partnership")
    if partnership is not None and bool(partnership):
        reason = _get(row, "partnership_reason")
        rows.append(_row("Partnership", _text(reason) if reason is not None else "yes"))
    where = _get(row, "neighbourhoods")
    if where is None:
        where = _get(row, "neighbourhood")
    if where is not None:
        rows.append(_row("Neighbourhood", _text(where)))
    if _get(row, "area_id") is not None:
        rows.append(_row("Area id", _text(row["area_id"])))
    return {"title": title, "sub": " · ".join(sub), "rows": rows}


def target_tip(row: pd.Series, *, kind: str = "patrol", fallback: str = "") -> str:
    """Tooltip of a patrol area or place: its label (or rank) and incidents in the window."""
    label = _get(row, "label")
    rank = _get(row, "rank")
    if label is not None:
        text = _text(label)
    elif kind == "patrol" and rank is not None:
        text = f"Patrol area {int(rank)}"
    else:
        text = fallback
    total = _get(row, "incidents")
    if total is None and kind == "place":
        total = _get(row, "count")
    if total is not None:
        n = int(round(float(total)))
        text += f" ({n:,} incident{'s' if n != 1 else ''})"
    return text


def card_text(card: Mapping[str, Any]) -> str:
    """The text a card shows, as the browser's ``textContent`` would give it."""
    parts = [str(card["title"]), str(card.get("sub", ""))]
    for r in card["rows"]:
        parts.append(r["h"] if "h" in r else f"{r['k']}{r['v']}")
    return "".join(parts)


def incident_card(type_label: str, when: str, place: str | None) -> dict[str, Any]:
    """The card of one incident (the page builds the same card from the compact layer)."""
    rows = [_row("When", when)]
    if place:
        rows.append(_row("Place", place))
    return {"title": type_label, "sub": "", "rows": rows}


def risk_card(row: pd.Series | Mapping[str, Any], units: str) -> dict[str, Any]:
    """The card of one risk area (a row or a record): its rate, count and population when
    given."""
    rows = [_row("Rate", f"{format_amount(row['value'])} {units}" if not _missing(
        row["value"]) else "no data")]
    if _get(row, "count") is not None:
        rows.append(_row("Count", format_amount(row["count"])))
    if _get(row, "population") is not None:
        rows.append(_row("Residents", format_count(row["population"])))
    title = _text(row["label"]) if _get(row, "label") is not None else "Area"
    return {"title": title, "sub": "", "rows": rows}


