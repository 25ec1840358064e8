"""Reporting periods: ISO weeks and calendar months, chosen from the data or named.

A period is half-open ``[start, end)``; a week is an ISO week (Monday to Sunday), a month a
calendar month. With month-precision data (police.uk) only months make sense, so a week
request is turned into the month and the choice is announced. This module is the one
implementation of periods: :func:`period_floor`, :func:`period_offset` and
:func:`period_starts` serve every stage (emerging hot spots, the backtest, the reviews).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from geodemand._announce import announce
from geodemand.errors import InvalidParameterError


@dataclass(frozen=True)
class Period:
    """A reporting period ``[start, end)``.

    Attributes
    ----------
    kind : {"week", "month"}
    start, end : Timestamp
        Start (inclusive) and end (exclusive).
    label : str
        ``"2026-W46"`` (ISO week) or ``"2026-10"``.
    """

    kind: str
    start: pd.Timestamp
    end: pd.Timestamp
    label: str

    def shifted(self, steps: int) -> Period:
        """The period ``steps`` periods later (negative: earlier)."""
        if self.kind == "week":
            return week_period(self.start + pd.Timedelta(weeks=steps))
        return month_period(self.start + pd.DateOffset(months=steps))

    def same_period_last_year(self) -> Period:
        """52 weeks earlier for a week (same ISO weekday alignment), 12 months for a month."""
        return self.shifted(-52 if self.kind == "week" else -12)

    def describe(self) -> str:
        """E.g. ``"week 2026-W46 (Mon 2026-11-09 to Sun 2026-11-15)"``."""
        last = self.end - pd.Timedelta(days=1)
        if self.kind == "week":
            return f"week {self.label} (Mon {self.start:%Y-%m-%d} to Sun {last:%Y-%m-%d})"
        return f"month {self.label} ({self.start:%Y-%m-%d} to {last:%Y-%m-%d})"


KINDS = ("week", "month")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise InvalidParameterError(f"period kind must be 'week' or 'month', got {kind!r}")


def period_floor(when: Any, kind: str) -> Any:
    """Start of the week (Monday 00:00) or month holding each time (Timestamp or Series).

    Time zones are dropped (local wall-clock time is kept).
    """
    _check_kind(kind)
    if isinstance(when, pd.Series):
        values = when.dt.tz_localize(None) if when.dt.tz is not None else when
        day = values.dt.normalize()
        if kind == "week":
            return day - pd.to_timedelta(day.dt.day_of_week, unit="D")
        return day.dt.to_period("M").dt.to_timestamp()
    ts = pd.Timestamp(when)
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    day = ts.normalize()
    if kind == "week":
        return day - pd.Timedelta(days=day.weekday())
    return day.replace(day=1)


def period_offset(kind: str, steps: int = 1) -> pd.DateOffset | pd.Timedelta:
    """The length of ``steps`` periods (7 days per week, calendar months)."""
    _check_kind(kind)
    return pd.Timedelta(days=7 * int(steps)) if kind == "week" else pd.DateOffset(
        months=int(steps)
    )


def period_starts(first: Any, stop: Any, kind: str) -> pd.DatetimeIndex:
    """Period starts from the period holding ``first`` up to (not including) ``stop``."""
    _check_kind(kind)
    begin = period_floor(first, kind)
    freq = "7D" if kind == "week" else "MS"
    return pd.DatetimeIndex(pd.date_range(begin, pd.Timestamp(stop), freq=freq, inclusive="left"))


def periods_between(start: Any, end: Any, kind: str) -> int:
    """Whole periods from the period of ``start`` to the period of ``end`` (may be negative)."""
    a, b = period_floor(start, kind), period_floor(end, kind)
    if kind == "week":
        return int(round((b - a) / pd.Timedelta(days=7)))
    return (b.year - a.year) * 12 + b.month - a.month


def week_period(day) -> Period:
    """The ISO week (Monday to Sunday) holding ``day``."""
    day = pd.Timestamp(day).normalize()
    start = day - pd.Timedelta(days=day.weekday())
    iso = start.isocalendar()
    return Period("week", start, start + pd.Timedelta(days=7), f"{iso.year}-W{iso.week:02d}")


def month_period(day) -> Period:
    """The calendar month holding ``day``."""
    start = pd.Timestamp(day).normalize().replace(day=1)
    return Period("month", start, start + pd.DateOffset(months=1), f"{start:%Y-%m}")


def parse_period(text: str) -> Period:
    """``"2026-W46"`` → that ISO week; ``"2026-10"`` → that month."""
    m = re.fullmatch(r"(\d{4})-W(\d{2})", text.strip())
    if m:
        try:
            monday = pd.Timestamp.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
        except ValueError as exc:
            raise InvalidParameterError(f"period {text!r}: {exc}") from exc
        return week_period(monday)
    m = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
    if m and 1 <= int(m.group(2)) <= 12:
        return month_period(pd.Timestamp(int(m.group(1)), int(m.group(2)), 1))
    raise InvalidParameterError(
        f"period {text!r}: expected an ISO week like 2026-W46, a month like 2026-10, 'week' or "
        "'month'"
    )


def choose_period(occurred: pd.Series, precision: str, requested: str | None) -> Period:
    """The reporting period: named, or the latest complete week/month of the data.

    ``requested`` is None / ``"week"`` / ``"month"`` / a label. The latest complete week is
    the last ISO week whose Sunday is on or before the date of the latest incident. With
    month-precision data the period is always a month (a week request is converted and the
    choice announced).
    """
    if not len(occurred):
        raise InvalidParameterError("no incidents: cannot choose a reporting period")
    last = pd.Timestamp(occurred.max())
    if requested not in (None, "week", "month"):
        period = parse_period(requested)
        if period.kind == "week" and precision == "month":
            period = month_period(period.start)
            announce(
                f"the data have month precision (police.uk): reporting the month {period.label} "
                "instead of a week"
            )
        return period
    kind = requested or ("month" if precision == "month" else "week")
    if kind == "week" and precision == "month":
        announce("the data have month precision (police.uk): the reporting period is a month")
        kind = "month"
    if kind == "month":
        period = month_period(last)
        if precision != "month" and last < period.end - pd.Timedelta(days=1):
            period = period.shifted(-1)  # the last month is not complete yet
    else:
        period = week_period(last)
        if last.normalize() < period.end - pd.Timedelta(days=1):
            period = period.shifted(-1)
    announce(f"reporting period: latest complete {period.describe()}")
    return period
