"""What a reader returns: a :class:`RawBatch` of standard fields, and the column mapping.

A reader recognises a format and maps the input's columns onto the standard fields (id,
date, crime type, two coordinates, place). :func:`generic_batch` does this for any table of
named columns (delimited text, JSON records, DataFrame or vector attributes) through a
:class:`ColumnMapping`, detected from common column names when none is given (and
announced). :class:`NotIncidentDataError` marks inputs that are not incident data at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from geodemand._announce import announce
from geodemand.errors import InputFormatError
from geodemand.ingest._coded import Coded, _text, arrow_text

AUTO_NAMES = {
    "id": ("incident_id", "id", "uid", "crime id", "crime_id", "event_id", "case_number"),
    "date": (
        "occurred",
        "datetime",
        "date_time",
        "date",
        "date_utc",
        "date_local",
        "month",
        "time",
    ),
    "crime_type": ("crime_type", "crime type", "offense_type", "offence_type", "category", "type"),
    "x": ("x", "easting", "x_coord", "xcoord"),
    "y": ("y", "northing", "y_coord", "ycoord"),
    "lon": ("longitude", "lon", "lng", "long"),
    "lat": ("latitude", "lat"),
    "location": ("location_key", "location_id", "address_id"),
    "location_label": ("location_label",),
}


class NotIncidentDataError(InputFormatError):
    """The input is not incident data at all (a folder read skips and reports it)."""


@dataclass(frozen=True)
class ColumnMapping:
    """How a generic table's columns map onto the incident schema.

    Parameters
    ----------
    id : str, optional
        Column holding a unique incident id; if absent, ids are made from the file name and
        record number.
    date : str
        Column holding the date or date-time (ISO-like text, parsed with ``date_format`` if
        given).
    time : str, optional
        Separate time-of-day column, joined to ``date``.
    crime_type : str, optional
        Column holding the crime type; or give ``crime_type_value`` for a one-type file.
    crime_type_value : str, optional
        Crime type of every record (e.g. ``"robbery"``).
    x, y : str, optional
        Projected coordinate columns (metres, in ``crs``).
    lon, lat : str, optional
        Geographic coordinate columns (degrees, ``crs`` defaults to EPSG:4326).
    crs : str, optional
        CRS of the coordinates (``EPSG:4326`` for lon/lat by default; required for x/y).
    location : str, optional
        Column holding a place id (address id); by default places are keyed by coordinates.
    location_label : str, optional
        Column holding the place's text (e.g. a street); default: the ``location`` column.
    date_format : str, optional
        ``strftime`` format of ``date``.
    columns : tuple of str, optional
        Column names for a file with no header row.
    """

    id: str | None = None
    date: str | None = None
    time: str | None = None
    crime_type: str | None = None
    crime_type_value: str | None = None
    x: str | None = None
    y: str | None = None
    lon: str | None = None
    lat: str | None = None
    crs: str | None = None
    location: str | None = None
    location_label: str | None = None
    date_format: str | None = None
    columns: tuple[str, ...] | None = None

    def to_record(self) -> dict[str, object]:
        """The mapping as a plain dict (for manifests)."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


Column = Coded | pa.ChunkedArray | pd.Series


@dataclass
class RawBatch:
    """The records of one input in standard fields, one entry per record read.

    Attributes
    ----------
    path : str
        The file (or ``<DataFrame>``) for messages and ``source_file``.
    format : str
        The format recognised.
    n : int
        Records read.
    ids : pyarrow string array or None
        Incident ids as given (may be blank), None if the format has none.
    date : Coded or Series
        Date text, or a datetime Series (DataFrame / GeoParquet input).
    crime : Coded
        Crime-type text.
    a, b : Coded or ndarray
        First and second coordinate (lon/lat when ``coords == "lonlat"``, else x/y), as text
        or as float arrays (vector and DataFrame input).
    location, label : Coded or None
        Place id text (``location_kind`` says how keys are made) and place text.
    raw : dict
        ``raw_<name>`` -> column kept with the accepted incidents.
    fields : dict
        Standard field -> the input column it came from (for messages).
    problem, problem_detail : ndarray of str, optional
        Per-record problem found while reading (``malformed_record``, ``non_point_geometry``)
        and its detail; ``""`` where none.
    blank : ndarray of bool
        Records whose every field is empty.
    record : callable
        ``record(rows)`` -> the records ``rows`` as they were read, as JSON text (for
        ``rejects.raw``).
    sha256, size : str, int, optional
        SHA-256 and size of the file as stored (None for a DataFrame or a vector layer).
    """

    path: str
    format: str
    n: int
    ids: pa.ChunkedArray | None
    date: Coded | pd.Series
    crime: Coded
    a: Coded | np.ndarray
    b: Coded | np.ndarray
    coords: str  # "lonlat" or "xy"
    source_crs: str
    date_precision: str | None  # "month" for police.uk, None = infer from the values
    blank: np.ndarray
    record: Callable[[np.ndarray], list]
    location: Coded | None = None
    label: Coded | None = None
    raw: dict[str, Column] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)
    date_format: str | None = None
    crime_mapping: dict[str, str] = field(default_factory=dict)
    # how location keys are made: "point" (from coordinates), "column" ("id:<value>") or
    # "verbatim" (a canonical ``location_key`` column read back from geodemand's own output)
    location_kind: str = "point"
    synthetic: bool = False
    precision: Coded | None = None
    problem: np.ndarray | None = None
    problem_detail: np.ndarray | None = None
    decimal_comma: bool = False
    force_flag: Coded | None = None  # API location_type (Force / BTP)
    sha256: str | None = None
    size: int | None = None


def _snake(name: str) -> str:
    out = "".join(ch.lower() if ch.isalnum() else "_" for ch in str(name)).strip("_")
    return re.sub(r"_+", "_", out) or "column"


def raw_columns(columns: dict[str, Column], used: set[str]) -> dict[str, Column]:
    """The unused columns as ``raw_<snake name>``, names made unique."""
    out: dict[str, Column] = {}
    for name, col in columns.items():
        if name in used:
            continue
        base = name if str(name).startswith("raw_") else "raw_" + _snake(name)
        key, k = base, 1
        while key in out:
            k += 1
            key = f"{base}_{k}"
        out[key] = col
    return out


def coded(col: Column) -> Coded:
    if isinstance(col, Coded):
        return col
    if isinstance(col, pd.Series):
        return Coded.from_series(col)
    return Coded.from_arrow(col)


def ids_of(col: Column) -> pa.ChunkedArray:
    if isinstance(col, Coded):
        return pa.chunked_array([pa.array(col.text(), type=pa.string())])
    if isinstance(col, pd.Series):
        text = arrow_text(col)
        if text is None:
            text = pa.array([_text(v) for v in col], type=pa.string())
        return pa.chunked_array([text.fill_null("")])
    return col


def auto_mapping(label: str, names: list[str], mapping: ColumnMapping | None) -> ColumnMapping:
    if mapping is not None:
        return mapping
    lower: dict[str, str] = {}
    for c in names:
        lower.setdefault(str(c).lower(), c)

    def find(key: str) -> str | None:
        for name in AUTO_NAMES[key]:
            if name in lower:
                return lower[name]
        return None

    found = {k: find(k) for k in AUTO_NAMES}
    if found["lon"] and found["lat"]:
        found["x"] = found["y"] = None
    auto = ColumnMapping(
        id=found["id"],
        date=found["date"],
        crime_type=found["crime_type"],
        x=found["x"],
        y=found["y"],
        lon=found["lon"],
        lat=found["lat"],
        location=found["location"],
        location_label=found["location_label"],
    )
    announce(f"{label}: columns detected automatically: {auto.to_record()}")
    return auto


def combine(first: Coded, second: Coded, sep: str = " ") -> Coded:
    """Per record ``first + sep + second`` (e.g. a date and a time column)."""
    key = first.codes.astype(np.int64) * len(second.values) + second.codes
    codes, uniq = pd.factorize(key)
    f = first.values[uniq // len(second.values)]
    s = second.values[uniq % len(second.values)]
    values = np.array(
        [(a.strip() + sep + b.strip()).strip() for a, b in zip(f, s, strict=True)], dtype=object
    )
    return Coded(values, codes.astype(np.int32))


def generic_batch(
    label: str,
    columns: dict[str, Column],
    names: list[str],
    duplicated: set[str],
    n: int,
    blank: np.ndarray,
    record,
    mapping: ColumnMapping | None,
    fmt: str,
    *,
    geometry: dict | None = None,
    problem=None,
    detail=None,
    decimal_comma: bool = False,
    synthetic: bool = False,
) -> RawBatch:
    """A generic attribute table (CSV, JSON, DataFrame or vector attributes) by a mapping."""
    explicit = mapping is not None
    mapping = auto_mapping(label, names, mapping)
    problem_kind = InputFormatError if explicit else NotIncidentDataError
    if mapping.date is None:
        raise problem_kind(
            f"{label}: no date column found; give the column mapping a date column "
            f"(columns: {names[:15]})"
        )
    if mapping.crime_type is None and mapping.crime_type_value is None:
        raise problem_kind(
            f"{label}: no crime-type column found; map one (crime_type=...) or give one type for "
            "every record (crime_type_value=...)"
        )
    needed = [
        c
        for c in (
            mapping.id,
            mapping.date,
            mapping.time,
            mapping.crime_type,
            mapping.location,
            mapping.location_label,
        )
        if c
    ]
    if geometry is None:
        if mapping.lon and mapping.lat:
            needed += [mapping.lon, mapping.lat]
        elif mapping.x and mapping.y:
            if mapping.crs is None:
                raise InputFormatError(
                    f"{label}: x/y columns need their CRS (crs='EPSG:...') in the column mapping"
                )
            needed += [mapping.x, mapping.y]
        else:
            raise problem_kind(
                f"{label}: no coordinate columns found; map lon/lat or x/y (+ crs) "
                f"(columns: {names[:15]})"
            )
    missing = [c for c in needed if c not in columns]
    if missing:
        raise problem_kind(
            f"{label}: missing column(s) {missing} for the column mapping; found {names[:15]}"
        )
    twice = [c for c in needed if c in duplicated]
    if twice:
        raise InputFormatError(
            f"{label}: the header names column(s) {twice} more than once (after removing "
            "surrounding spaces); expected each name once"
        )
    date_col = columns[mapping.date]
    if (
        isinstance(date_col, pd.Series)
        and (pd.api.types.is_datetime64_any_dtype(date_col.dtype))
        and not mapping.time
    ):
        date: Coded | pd.Series = date_col.reset_index(drop=True)
    else:
        date = coded(date_col)
        if mapping.time:
            date = combine(date, coded(columns[mapping.time]))
    if geometry is not None:
        a, b = geometry["x"], geometry["y"]
        coords = "lonlat" if geometry["geographic"] else "xy"
        crs = geometry["crs"]
        fields = {"a": "geometry x", "b": "geometry y"}
    elif mapping.lon and mapping.lat:
        a, b = coordinate(columns[mapping.lon]), coordinate(columns[mapping.lat])
        coords, crs = "lonlat", mapping.crs or "EPSG:4326"
        fields = {"a": mapping.lon, "b": mapping.lat}
    else:
        a, b = coordinate(columns[mapping.x]), coordinate(columns[mapping.y])
        coords, crs = "xy", mapping.crs
        fields = {"a": mapping.x, "b": mapping.y}
    geographic = _is_geographic(crs, label)
    if coords == "lonlat" and not geographic:
        raise InputFormatError(
            f"{label}: lon/lat columns need a geographic CRS; the mapping says {crs!r} (map "
            "x/y for projected coordinates)"
        )
    if coords == "xy" and geographic:  # degrees mapped as x/y: read as lon/lat
        coords = "lonlat"
    crime = (
        coded(columns[mapping.crime_type]).stripped()
        if mapping.crime_type
        else Coded.constant(mapping.crime_type_value, n)
    )
    fields.update(
        {
            "date": mapping.date + (f" + {mapping.time}" if mapping.time else ""),
            "crime": mapping.crime_type or "crime_type_value",
        }
    )
    if mapping.id:
        fields["id"] = mapping.id
    used = set(needed)
    if mapping.location_label and mapping.location_label != "location_label":
        used.discard(mapping.location_label)  # a user's place text is also kept as raw_
    precision = None
    if "date_precision" in columns:
        precision = coded(columns["date_precision"])
        used.add("date_precision")
    if "synthetic" in columns:
        flag = coded(columns["synthetic"])
        flags = np.array([v.strip().lower() in ("true", "1") for v in flag.values], dtype=bool)
        synthetic = synthetic or bool(flags[np.unique(flag.codes)].any()) if n else synthetic
    if fmt == "vector":
        used |= {"synthetic", "source_file", "source_row", "x", "y"}
    label_col = mapping.location_label or mapping.location
    location_kind = (
        "verbatim"
        if mapping.location == "location_key"
        else "column"
        if mapping.location
        else "point"
    )
    return RawBatch(
        path=label,
        format=fmt,
        n=n,
        ids=ids_of(columns[mapping.id]) if mapping.id else None,
        date=date,
        crime=crime,
        a=a,
        b=b,
        coords=coords,
        source_crs=crs,
        date_precision=None,
        date_format=mapping.date_format,
        blank=blank,
        record=record,
        location=coded(columns[mapping.location]).stripped() if mapping.location else None,
        label=coded(columns[label_col]) if label_col else None,
        raw=raw_columns(columns, used),
        fields=fields,
        location_kind=location_kind,
        synthetic=synthetic,
        precision=precision,
        problem=problem,
        problem_detail=detail,
        decimal_comma=decimal_comma,
    )


def _is_geographic(crs: str, label: str) -> bool:
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        return bool(CRS.from_user_input(crs).is_geographic)
    except (CRSError, TypeError, ValueError) as exc:
        raise InputFormatError(f"{label}: CRS {crs!r} is not one pyproj knows ({exc})") from None


def coordinate(col: Column) -> Coded | np.ndarray:
    if (
        isinstance(col, pd.Series)
        and pd.api.types.is_numeric_dtype(col.dtype)
        and not (pd.api.types.is_bool_dtype(col.dtype))
    ):
        return col.to_numpy(dtype=np.float64, na_value=np.nan)
    return coded(col)
