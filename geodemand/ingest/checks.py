"""Record checks of ingest: dates, coordinates and crime types, each once per distinct value.

Every check returns, for each record, a reason code (0 = fine) from :data:`REASONS`; when a
record fails several checks it gets the first failed reason in that order. Checks run on a
column's distinct values (see :class:`geodemand.ingest._coded.Coded`) and are broadcast to
the records, so a month column of a million records is parsed once per month.

Supported dates
---------------
Dates are accepted from :data:`DATE_MIN` (1900-01-01) to one year after the day of the ingest
(UTC), unless ``date_range`` says otherwise. Records outside are rejected as
``date_out_of_range`` with the range in the detail; they never wrap or overflow. Why these
bounds: the analysis stores times as ``datetime64[ns]``, whose range (1677-09-21 to
2262-04-11) would accept nonsense such as ``0001-01`` turned into another date or
``2262-04`` overflowing; no digital police record predates 1900 (police.uk starts in
2010-12), and an incident cannot be dated in the future, so anything more than a year ahead
(allowing time zones, clock errors and forward-dated test data) is a keying error. The range
used is stored in ``IncidentTable.params["date_range"]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from geodemand.errors import InvalidParameterError
from geodemand.ingest._coded import Coded
from geodemand.ingest.vocabulary import normalise_crime_type

REASONS = (
    "malformed_record",
    "empty_record",
    "non_point_geometry",
    "missing_coordinates",
    "non_numeric_coordinates",
    "coordinates_out_of_range",
    "likely_swapped_lon_lat",
    "coordinates_outside_crs_area",
    "outside_study_area",
    "missing_date",
    "unparseable_date",
    "date_out_of_range",
    "unknown_crime_type",
    "not_force_record",
    "duplicate_id",
)
#: reason -> code (1-based position in REASONS; 0 means accepted)
CODE = {r: i + 1 for i, r in enumerate(REASONS)}

PRECISIONS = ("month", "day", "minute")
DATE_MIN = pd.Timestamp("1900-01-01")
#: dates given day first (UK style) tried, in order, when ISO 8601 fails
DAYFIRST_FORMATS = (
    "%d/%m/%Y",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d-%m-%Y",
    "%d-%m-%Y %H:%M",
    "%d-%m-%Y %H:%M:%S",
    "%d.%m.%Y",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
)
_MISSING_TEXT = frozenset({"", "nan", "none", "null", "na", "n/a"})
_MISSING_ARROW = pa.array(sorted(_MISSING_TEXT), type=pa.string())
_HAS_TIME = re.compile(r"\d[T ]\d{1,2}:\d{2}")
_MONTH = re.compile(r"^([0-9]{4})-([0-9]{1,2})$")


def worse(reason: np.ndarray, code: np.ndarray | int, mask: np.ndarray | None = None) -> None:
    """Give ``code`` (scalar or per record) to records in ``mask`` whose reason is later in
    :data:`REASONS` (or none): a record keeps the first reason it fails, in that order."""
    code_arr = np.broadcast_to(np.asarray(code, dtype=np.int8), reason.shape)
    hit = code_arr > 0
    if mask is not None:
        hit = hit & mask
    hit &= (reason == 0) | (code_arr < reason)
    reason[hit] = code_arr[hit]


# ---------------------------------------------------------------------------- dates
def default_date_range(today: pd.Timestamp | None = None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``(1900-01-01, today + 1 year)`` (UTC; both ends included)."""
    now = pd.Timestamp.now(tz="UTC").tz_localize(None) if today is None else pd.Timestamp(today)
    return DATE_MIN, (now.normalize() + pd.DateOffset(years=1)).normalize()


def resolve_date_range(date_range) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The supported date range: the default, or ``(first, last)`` checked."""
    if date_range is None:
        return default_date_range()
    try:
        lo, hi = (pd.Timestamp(v) for v in date_range)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"date_range {date_range!r}: expected (first, last) dates, e.g. "
            f"('1900-01-01', '2030-12-31') ({exc})"
        ) from None
    if lo.tzinfo is not None or hi.tzinfo is not None:
        raise InvalidParameterError("date_range: give dates without a time zone (UTC is meant)")
    bounds = (pd.Timestamp("1678-01-01"), pd.Timestamp("2262-01-01"))
    if not (bounds[0] <= lo < hi <= bounds[1]):
        raise InvalidParameterError(
            f"date_range ({lo}, {hi}): expected first < last, both within 1678-01-01 .. "
            "2262-01-01 (the range of nanosecond timestamps)"
        )
    return lo, hi


@dataclass
class Dates:
    """Parsed dates of a batch: ``ns`` (int64 nanoseconds, 0 where invalid), ``reason``
    (int8 code per record) and ``precision`` (int8 index into :data:`PRECISIONS`)."""

    ns: np.ndarray
    reason: np.ndarray
    precision: np.ndarray


def _range_check(idx: pd.DatetimeIndex, lo, hi) -> tuple[np.ndarray, np.ndarray]:
    """Nanoseconds (0 where not valid) and a reason code per value."""
    nat = np.asarray(idx.isna())
    sec = idx.as_unit("s").asi8
    lo_s = lo.as_unit("s")._value
    hi_s = hi.as_unit("s")._value
    ok = ~nat & (sec >= lo_s) & (sec <= hi_s)
    ns = np.zeros(len(idx), dtype=np.int64)
    if ok.any():
        ns[ok] = idx[ok].as_unit("ns").asi8
    reason = np.where(nat, CODE["unparseable_date"], np.where(ok, 0, CODE["date_out_of_range"]))
    return ns, reason.astype(np.int8)


def _naive_utc(parsed) -> pd.DatetimeIndex:
    idx = pd.DatetimeIndex(parsed)
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    return idx


def _parse_text(text: np.ndarray, month: bool, fmt: str | None, lo, hi):
    """Parse distinct date texts (stripped) without ever wrapping; (ns, reason) per value.

    Month data use ``fmt`` or ``%Y-%m``; other data ``fmt`` if given, else ISO 8601, then
    the day-first forms of :data:`DAYFIRST_FORMATS`, each tried only on what is left.
    """
    if month and fmt in (None, "%Y-%m"):
        return _parse_months(text, lo, hi)
    series = pd.Series(text, dtype=object)
    ns = np.zeros(len(text), dtype=np.int64)
    reason = np.full(len(text), CODE["unparseable_date"], dtype=np.int8)
    todo = (series != "").to_numpy().copy()
    reason[~todo] = CODE["missing_date"]
    forms = [fmt or "%Y-%m"] if (month or fmt) else ["ISO8601", *DAYFIRST_FORMATS]
    for form in forms:
        if not todo.any():
            break
        rows = np.flatnonzero(todo)
        try:
            parsed = pd.to_datetime(series.iloc[rows], format=form, errors="coerce", utc=True)
        except (ValueError, OverflowError):  # e.g. a format pandas cannot use
            continue
        idx = _naive_utc(parsed)
        got_ns, got_reason = _range_check(idx, lo, hi)
        parsed_ok = ~np.asarray(idx.isna())
        hit = rows[parsed_ok]
        ns[hit] = got_ns[parsed_ok]
        reason[hit] = got_reason[parsed_ok]
        todo[hit] = False
    return ns, reason


def _parse_months(text: np.ndarray, lo, hi):
    """``YYYY-MM`` texts (the police.uk month) without pandas: (ns, reason) per value."""
    ns = np.zeros(len(text), dtype=np.int64)
    reason = np.full(len(text), CODE["unparseable_date"], dtype=np.int8)
    lo_m, hi_m = np.datetime64(lo, "M"), np.datetime64(hi, "M")
    lo_ok = lo == pd.Timestamp(lo_m)  # lo is a month start: its month is allowed
    for i, t in enumerate(text):
        if t == "":
            reason[i] = CODE["missing_date"]
            continue
        m = _MONTH.match(t)
        if m is None or not 1 <= int(m.group(2)) <= 12:
            continue
        month = np.datetime64(f"{m.group(1)}-{int(m.group(2)):02d}", "M")
        if (month > lo_m or (month == lo_m and lo_ok)) and month <= hi_m:
            ns[i] = month.astype("datetime64[ns]").astype(np.int64)
            reason[i] = 0
        else:
            reason[i] = CODE["date_out_of_range"]
    return ns, reason


def check_dates(
    date: Coded | pd.Series,
    *,
    month: bool,
    fmt: str | None,
    given_precision: Coded | None,
    date_range: tuple[pd.Timestamp, pd.Timestamp],
) -> Dates:
    """Parse and range-check dates: ``missing_date``, ``unparseable_date``,
    ``date_out_of_range``; precision ``month`` when ``month``, else ``minute`` where the
    value has a time of day, else ``day`` (a valid ``given_precision`` wins)."""
    lo, hi = date_range
    if isinstance(date, pd.Series):  # a datetime column (DataFrame, GeoParquet input)
        idx = _naive_utc(date)
        ns, reason = _range_check(idx, lo, hi)
        reason[np.asarray(idx.isna())] = CODE["missing_date"]
        if month:
            precision = np.zeros(len(ns), dtype=np.int8)
        else:
            has_time = (ns % 86_400_000_000_000) != 0
            precision = np.where(has_time, 2, 1).astype(np.int8)
    else:
        text = np.array([v.strip() for v in date.values], dtype=object)
        ns_v, reason_v = _parse_text(text, month, fmt, lo, hi)
        if month:
            prec_v = np.zeros(len(text), dtype=np.int8)
        else:
            has_time = np.array([bool(_HAS_TIME.search(t)) for t in text], dtype=bool)
            prec_v = np.where(has_time, 2, 1).astype(np.int8)
        ns, reason, precision = ns_v[date.codes], reason_v[date.codes], prec_v[date.codes]
    if given_precision is not None:
        given = np.array(
            [
                PRECISIONS.index(v.strip()) if v.strip() in PRECISIONS else -1
                for v in given_precision.values
            ],
            dtype=np.int8,
        )[given_precision.codes]
        precision = np.where(given >= 0, given, precision).astype(np.int8)
    return Dates(ns, reason.astype(np.int8), precision)


# ---------------------------------------------------------------------------- coordinates
@dataclass
class Pairs:
    """Distinct coordinate pairs of a batch and each record's pair.

    ``codes`` (per record) index the per-pair arrays: ``a_text``, ``b_text`` (as given, for
    messages), ``a``, ``b`` (float, NaN where missing or not a number) and ``reason`` (int8
    code of the coordinate checks done so far) with ``detail`` (object, ``""`` = the
    standard text of the reason).
    """

    codes: np.ndarray
    a_text: np.ndarray
    b_text: np.ndarray
    a: np.ndarray
    b: np.ndarray
    reason: np.ndarray
    detail: np.ndarray

    def counts(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Records per pair (only records in ``mask`` if given)."""
        codes = self.codes if mask is None else self.codes[mask]
        return np.bincount(codes, minlength=len(self.a))


def _factor(col: Coded | np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """(codes per record, values per code, is_text)."""
    if isinstance(col, Coded):
        return col.codes, col.values, True
    codes, uniq = pd.factorize(np.asarray(col, dtype=np.float64), use_na_sentinel=False)
    return codes, np.asarray(uniq, dtype=np.float64), False


def _numbers(values: np.ndarray, is_text: bool, decimal_comma: bool):
    """(text, float value, missing) per value.

    Text is stripped; ``""``, ``nan``, ``none``, ``null``, ``na`` and ``n/a`` are missing;
    the rest is parsed by pyarrow (correctly rounded, as Python's ``float``), falling back
    to :func:`pandas.to_numeric` when some value is not a number (it becomes NaN). With
    ``decimal_comma`` (delimiters other than ``,``), ``-1,5`` reads as ``-1.5``.
    """
    if not is_text:
        text = np.array([repr(float(v)) for v in values], dtype=object)
        return text, values.astype(np.float64), np.isnan(values)
    arr = pc.utf8_trim_whitespace(pa.array(values, type=pa.string()))
    text = np.asarray(arr.to_pylist(), dtype=object)
    missing = pc.is_in(pc.utf8_lower(arr), value_set=_MISSING_ARROW).to_numpy(
        zero_copy_only=False
    )
    if decimal_comma:
        arr = pc.replace_substring_regex(arr, r"^([+-]?\d+),(\d+)$", r"\1.\2")
    candidates = pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), arr)
    try:
        num = pc.cast(candidates, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        num = pd.to_numeric(pd.Series(candidates.to_pylist(), dtype=object), errors="coerce")
        num = num.to_numpy(dtype=np.float64, na_value=np.nan)
    return text, np.asarray(num, dtype=np.float64), np.asarray(missing, dtype=bool)


def coordinate_pairs(
    a: Coded | np.ndarray, b: Coded | np.ndarray, *, lonlat: bool, decimal_comma: bool = False
) -> Pairs:
    """Factorise the coordinate pairs and check them: ``missing_coordinates``,
    ``non_numeric_coordinates``, and for lon/lat ``coordinates_out_of_range``; a pair
    ``(0, 0)``, the usual placeholder for a missing position, is
    ``coordinates_outside_crs_area``."""
    ca, va, ta = _factor(a)
    cb, vb, tb = _factor(b)
    text_a, num_a, miss_a = _numbers(va, ta, decimal_comma)
    text_b, num_b, miss_b = _numbers(vb, tb, decimal_comma)
    nb = max(len(vb), 1)
    key = ca.astype(np.int64) * nb + cb.astype(np.int64)
    codes, uniq = pd.factorize(key)
    ia, ib = uniq // nb, uniq % nb
    pa_num, pb_num = num_a[ia], num_b[ib]
    reason = np.zeros(len(uniq), dtype=np.int8)
    detail = np.full(len(uniq), "", dtype=object)
    worse(reason, CODE["missing_coordinates"], miss_a[ia] | miss_b[ib])
    finite = np.isfinite(pa_num) & np.isfinite(pb_num)
    worse(reason, CODE["non_numeric_coordinates"], ~finite)
    if lonlat:
        with np.errstate(invalid="ignore"):
            bad = finite & ((np.abs(pa_num) > 180) | (np.abs(pb_num) > 90))
        worse(reason, CODE["coordinates_out_of_range"], bad)
    zero = finite & (pa_num == 0) & (pb_num == 0)
    if zero.any():
        worse(reason, CODE["coordinates_outside_crs_area"], zero)
        detail[zero & (reason == CODE["coordinates_outside_crs_area"])] = (
            "0, 0 is the usual placeholder for a missing position, not a place"
        )
    return Pairs(codes.astype(np.int32), text_a[ia], text_b[ib], pa_num, pb_num, reason, detail)


# ---------------------------------------------------------------------------- crime types
@dataclass
class Crimes:
    """Canonical crime type per record (``Coded``), whether each value is known, and the
    reason code per record (``unknown_crime_type`` for empty, or unknown when strict)."""

    canonical: Coded
    known: np.ndarray  # per value
    reason: np.ndarray  # per record


def check_crimes(crime: Coded, mapping: dict[str, str] | None, strict: bool) -> Crimes:
    """Map crime types onto the vocabulary; empty types are always ``unknown_crime_type``,
    names not in the vocabulary only when ``strict``."""
    stripped = np.array([v.strip() for v in crime.values], dtype=object)
    canon, known = normalise_crime_type(stripped, mapping or None)
    canon = canon.to_numpy(dtype=object)
    empty = np.array([v == "" for v in stripped], dtype=bool)
    known = known.to_numpy(dtype=bool) & ~empty
    bad_v = empty | (~known if strict else np.zeros(len(known), dtype=bool))
    reason = np.where(bad_v, CODE["unknown_crime_type"], 0).astype(np.int8)[crime.codes]
    return Crimes(Coded(canon, crime.codes), known, reason)
