"""Reporting periods: ISO weeks, months, latest complete period, month-precision data."""

from __future__ import annotations

import pandas as pd
import pytest

from geodemand.demand.periods import choose_period, month_period, parse_period, week_period
from geodemand.errors import InvalidParameterError


def test_iso_weeks_and_months():
    w = week_period("2026-11-26")  # a Thursday
    assert (w.start, w.end, w.label) == (
        pd.Timestamp("2026-11-23"),
        pd.Timestamp("2026-11-30"),
        "2026-W48",
    )
    assert parse_period("2026-W48") == w
    assert w.shifted(-1).label == "2026-W47"
    assert w.same_period_last_year().start == pd.Timestamp("2025-11-24")
    m = month_period("2026-02-14")
    assert (m.start, m.end, m.label) == (
        pd.Timestamp("2026-02-01"),
        pd.Timestamp("2026-03-01"),
        "2026-02",
    )
    assert m.same_period_last_year().label == "2025-02"
    assert parse_period("2020-W53").start == pd.Timestamp("2020-12-28")  # 2020 has 53 weeks
    with pytest.raises(InvalidParameterError, match="53"):
        parse_period("2021-W53")
    with pytest.raises(InvalidParameterError, match="ISO week"):
        parse_period("last tuesday")


def test_latest_complete_week():
    thursday = pd.Series(pd.to_datetime(["2026-11-01 00:00", "2026-11-26 14:00"]))
    assert choose_period(thursday, "minute", None).label == "2026-W47"  # W48 not complete
    sunday = pd.Series(pd.to_datetime(["2026-11-01 00:00", "2026-11-22 23:00"]))
    assert choose_period(sunday, "minute", None).label == "2026-W47"


def test_month_precision_gives_months():
    months = pd.Series(pd.to_datetime(["2021-10-01", "2021-11-01"]))
    assert choose_period(months, "month", None).label == "2021-11"
    assert choose_period(months, "month", "week").kind == "month"
    assert choose_period(months, "month", "2021-W40").label == "2021-10"
    days = pd.Series(pd.to_datetime(["2026-10-01", "2026-11-26"]))
    assert choose_period(days, "day", "month").label == "2026-10"  # November not complete
