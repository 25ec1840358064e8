"""Record checks (dates, coordinates, crime types) against plain per-record references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geodemand.ingest._coded import Coded
from geodemand.ingest.checks import (
    CODE,
    REASONS,
    _naive_utc,
    _parse_months,
    _range_check,
    check_crimes,
    check_dates,
    coordinate_pairs,
    default_date_range,
    worse,
)
from geodemand.ingest.placement import _weighted_median


def test_reason_codes_follow_the_documented_order():
    assert [CODE[r] for r in REASONS] == list(range(1, len(REASONS) + 1))
    reason = np.array([0, 5, 9, 0], dtype=np.int8)
    worse(reason, 7, np.array([True, True, True, False]))
    assert reason.tolist() == [7, 5, 7, 0]  # the earlier reason in REASONS wins


def test_month_parser_equals_pandas_on_ascii_text():
    lo, hi = default_date_range(pd.Timestamp("2026-11-30"))
    months = [
        f"{y:04d}-{m:02d}"
        for y in (1, 1899, 1900, 2020, 2027, 2262, 9999)
        for m in (0, 1, 11, 12, 13)
    ]
    months += ["2020-1", "", "2020-01-01", "2020/01", "20-01", "abcd-ef"]
    text = np.array(months, dtype=object)
    ns, reason = _parse_months(text, lo, hi)
    parsed = pd.to_datetime(
        pd.Series(text, dtype=object), format="%Y-%m", errors="coerce", utc=True
    )
    ref_ns, ref_reason = _range_check(_naive_utc(parsed), lo, hi)
    ref_reason[text == ""] = CODE["missing_date"]
    np.testing.assert_array_equal(reason, ref_reason)
    np.testing.assert_array_equal(ns, ref_ns)
    # stricter than pandas where pandas reads more than a police.uk month
    _, odd = _parse_months(
        np.array(["-2020-01", "\uff12\uff10\uff12\uff10-01"], dtype=object), lo, hi
    )
    assert (odd == CODE["unparseable_date"]).all()


def test_dates_never_wrap_and_precision_follows_the_text():
    r = default_date_range(pd.Timestamp("2026-11-30"))
    assert r == (pd.Timestamp("1900-01-01"), pd.Timestamp("2027-11-30"))
    c = Coded.from_strings(
        [
            "2020-01-02",
            "2020-01-02 10:30",
            "0001-01-01",
            "2262-04-12",
            "9999-12-31T23:59",
            "",
            "31/12/2019",
            "nonsense",
        ]
    )
    d = check_dates(c, month=False, fmt=None, given_precision=None, date_range=r)
    names = [REASONS[k - 1] if k else "" for k in d.reason]
    assert names == [
        "",
        "",
        "date_out_of_range",
        "date_out_of_range",
        "date_out_of_range",
        "missing_date",
        "",
        "unparseable_date",
    ]
    assert d.ns[6] == pd.Timestamp("2019-12-31").value
    assert d.precision.tolist()[:2] == [1, 2]
    s = pd.Series(np.array(["1500-01-01", "2020-01-01T10:00"], dtype="datetime64[s]"))
    d = check_dates(s, month=False, fmt=None, given_precision=None, date_range=r)
    assert d.reason.tolist() == [CODE["date_out_of_range"], 0]


def _coordinate_reference(a_text, b_text, lonlat):
    """Per record, the obvious way: strip, missing words, float(), range (Python's float
    also reads ``1_0`` as 10: data text with an underscore is not a number)."""
    out = []
    for a, b in zip(a_text, b_text, strict=True):
        a, b = a.strip(), b.strip()
        if a.lower() in ("", "nan", "none", "null", "na", "n/a") or b.lower() in (
            "",
            "nan",
            "none",
            "null",
            "na",
            "n/a",
        ):
            out.append("missing_coordinates")
            continue
        try:
            if "_" in a + b:
                raise ValueError(a + b)
            x, y = float(a), float(b)
        except ValueError:
            out.append("non_numeric_coordinates")
            continue
        if not (np.isfinite(x) and np.isfinite(y)):
            out.append("non_numeric_coordinates")
        elif lonlat and (abs(x) > 180 or abs(y) > 90):
            out.append("coordinates_out_of_range")
        elif x == 0 and y == 0:
            out.append("coordinates_outside_crs_area")
        else:
            out.append("")
    return out


@pytest.mark.parametrize("lonlat", [True, False])
def test_coordinate_checks_equal_a_per_record_reference(lonlat):
    rng = np.random.default_rng(2)
    pool = [
        "-1.9",
        " 52.48 ",
        "",
        "nan",
        "NULL",
        "abc",
        "1e400",
        "inf",
        "0",
        "-0",
        "181",
        "-91",
        "45.5",
        "1_0",
        "0x10",
        "  ",
        "1e3",
        "+2.5",
    ]
    a = [pool[i] for i in rng.integers(0, len(pool), 2_000)]
    b = [pool[i] for i in rng.integers(0, len(pool), 2_000)]
    pairs = coordinate_pairs(Coded.from_strings(a), Coded.from_strings(b), lonlat=lonlat)
    got = [REASONS[k - 1] if k else "" for k in pairs.reason[pairs.codes]]
    assert got == _coordinate_reference(a, b, lonlat)
    ok = pairs.reason[pairs.codes] == 0
    np.testing.assert_array_equal(
        pairs.a[pairs.codes][ok], [float(v) for v, k in zip(a, ok, strict=True) if k]
    )


def test_decimal_commas_only_when_asked():
    a, b = Coded.from_strings(["-1,5", "2,25"]), Coded.from_strings(["52,1", "x"])
    pairs = coordinate_pairs(a, b, lonlat=True, decimal_comma=True)
    assert pairs.a.tolist() == [-1.5, 2.25] and pairs.b[0] == 52.1
    plain = coordinate_pairs(a, b, lonlat=True)
    assert (plain.reason == CODE["non_numeric_coordinates"]).all()


def test_crime_checks():
    crimes = check_crimes(Coded.from_strings(["Burglary", "", "UFO", " burglary "]), None, True)
    assert crimes.canonical.text().tolist() == ["burglary", "", "UFO", "burglary"]
    assert crimes.reason.tolist() == [0, CODE["unknown_crime_type"], CODE["unknown_crime_type"], 0]
    loose = check_crimes(Coded.from_strings(["UFO", ""]), None, False)
    assert loose.reason.tolist() == [0, CODE["unknown_crime_type"]]


def test_weighted_median_equals_numpy_median_of_the_repeated_values():
    rng = np.random.default_rng(4)
    for _ in range(50):
        v = rng.normal(size=rng.integers(1, 20))
        w = rng.integers(1, 6, len(v))
        assert _weighted_median(v, w) == np.median(np.repeat(v, w))
