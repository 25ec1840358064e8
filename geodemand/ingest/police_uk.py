"""The police.uk formats: street CSVs (current and 2011) and street-level API records.

``police-uk-street``
    data.police.uk street CSV, current 12-column format (``Crime ID, Month, ..., Longitude,
    Latitude, Location, LSOA code, LSOA name, Crime type, ...``), lon/lat EPSG:4326, month
    precision; ``Location`` ("On or near Swan Street") is the place text.
``police-uk-2011``
    the original 2011 street CSV (``Month, ..., Easting, Northing, Location, Crime type,
    Context``), British National Grid EPSG:27700, six old crime types.
``police-uk-api``
    police.uk street-level API records, flattened (``id, month, category, latitude,
    longitude, street_id, street_name, ...``; a ``type`` column is accepted for
    ``category``, ``street`` for ``street_name``); ``street_name`` is the place text.
"""

from __future__ import annotations

import numpy as np

from geodemand.errors import InputFormatError
from geodemand.ingest._csv import read_delimited, table_blank, table_malformed, table_record
from geodemand.ingest.batch import (
    Column,
    NotIncidentDataError,
    RawBatch,
    coded,
    ids_of,
    raw_columns,
)

STREET_CURRENT_COLUMNS = ("Crime ID", "Month", "Longitude", "Latitude", "Location", "Crime type")

STREET_2011_COLUMNS = ("Month", "Easting", "Northing", "Location", "Crime type")

API_COLUMNS = ("month", "latitude", "longitude")


def format_of_names(names: set[str]) -> str:
    """The police.uk format whose columns ``names`` hold, else ``"csv"``."""
    if set(STREET_CURRENT_COLUMNS) <= names:
        return "police-uk-street"
    if set(STREET_2011_COLUMNS) <= names:
        return "police-uk-2011"
    if set(API_COLUMNS) <= names and ({"category", "type"} & names):
        return "police-uk-api"
    return "csv"


def require_columns(label: str, names: list[str], duplicated: set[str], columns, what: str) -> None:
    missing = [c for c in columns if c not in names]
    if missing:
        raise NotIncidentDataError(
            f"{label}: missing column(s) {missing} for {what}; found {names[:15]}"
        )
    twice = [c for c in columns if c in duplicated]
    if twice:
        raise InputFormatError(
            f"{label}: the header names column(s) {twice} more than once (after removing "
            "surrounding spaces); expected each name once"
        )


def read_police_uk_street(label: str, data: bytes, delimiter: str = ",") -> RawBatch:
    """police.uk street CSV, current 12-column format (lon/lat, month precision)."""
    table = read_delimited(label, data, delimiter=delimiter, string_columns=frozenset({"Crime ID"}))
    require_columns(
        label, table.names, table.duplicated, STREET_CURRENT_COLUMNS, "a police.uk street CSV"
    )
    c = table.columns
    problem, detail = table_malformed(table)
    used = {"Crime ID", "Month", "Longitude", "Latitude", "Crime type"}
    return RawBatch(
        path=label,
        format="police-uk-street",
        n=table.n,
        ids=c["Crime ID"],
        date=coded(c["Month"]),
        crime=coded(c["Crime type"]),
        a=coded(c["Longitude"]),
        b=coded(c["Latitude"]),
        coords="lonlat",
        source_crs="EPSG:4326",
        date_precision="month",
        date_format="%Y-%m",
        blank=table_blank(table),
        record=table_record(table),
        label=coded(c["Location"]),
        raw=raw_columns(c, used),
        fields={
            "id": "Crime ID",
            "date": "Month",
            "crime": "Crime type",
            "a": "Longitude",
            "b": "Latitude",
        },
        problem=problem,
        problem_detail=detail,
        decimal_comma=delimiter != ",",
    )


def read_police_uk_2011(label: str, data: bytes, delimiter: str = ",") -> RawBatch:
    """police.uk street CSV in the original 2011 format (Easting/Northing, EPSG:27700)."""
    table = read_delimited(label, data, delimiter=delimiter)
    require_columns(
        label,
        table.names,
        table.duplicated,
        STREET_2011_COLUMNS,
        "a 2011-format police.uk street CSV",
    )
    c = table.columns
    problem, detail = table_malformed(table)
    used = {"Month", "Easting", "Northing", "Crime type"}
    return RawBatch(
        path=label,
        format="police-uk-2011",
        n=table.n,
        ids=None,
        date=coded(c["Month"]),
        crime=coded(c["Crime type"]),
        a=coded(c["Easting"]),
        b=coded(c["Northing"]),
        coords="xy",
        source_crs="EPSG:27700",
        date_precision="month",
        date_format="%Y-%m",
        blank=table_blank(table),
        record=table_record(table),
        label=coded(c["Location"]),
        raw=raw_columns(c, used),
        fields={"date": "Month", "crime": "Crime type", "a": "Easting", "b": "Northing"},
        crime_mapping={"Violent crime": "violent-crime-2011", "Other crime": "other-crime-2011"},
        problem=problem,
        problem_detail=detail,
        decimal_comma=delimiter != ",",
    )


def api_batch(
    label: str,
    columns: dict[str, Column],
    names: list[str],
    duplicated: set[str],
    n: int,
    blank: np.ndarray,
    record,
    problem=None,
    detail=None,
    decimal_comma: bool = False,
) -> RawBatch:
    category = "category" if "category" in names else "type"
    require_columns(
        label,
        names,
        duplicated,
        ("month", "latitude", "longitude", category),
        "police.uk API records",
    )
    if names and (names[0] == "" or names[0].startswith("Unnamed")):  # a saved row index
        columns = {("row_index" if k == names[0] else k): v for k, v in columns.items()}
    street = "street_name" if "street_name" in names else "street" if "street" in names else None
    used = {c for c in ("id", "month", category, "latitude", "longitude") if c in names}
    return RawBatch(
        path=label,
        format="police-uk-api",
        n=n,
        ids=ids_of(columns["id"]) if "id" in columns else None,
        date=coded(columns["month"]),
        crime=coded(columns[category]),
        a=coded(columns["longitude"]),
        b=coded(columns["latitude"]),
        coords="lonlat",
        source_crs="EPSG:4326",
        date_precision="month",
        date_format="%Y-%m",
        blank=blank,
        record=record,
        label=coded(columns[street]) if street else None,
        raw=raw_columns(columns, used),
        fields={"id": "id", "date": "month", "crime": category, "a": "longitude", "b": "latitude"},
        problem=problem,
        problem_detail=detail,
        decimal_comma=decimal_comma,
        force_flag=coded(columns["location_type"]) if "location_type" in columns else None,
    )


def read_police_uk_api_csv(label: str, data: bytes, delimiter: str = ",") -> RawBatch:
    """Flattened police.uk API records as CSV."""
    table = read_delimited(label, data, delimiter=delimiter, string_columns=frozenset({"id"}))
    problem, detail = table_malformed(table)
    return api_batch(
        label,
        table.columns,
        table.names,
        table.duplicated,
        table.n,
        table_blank(table),
        table_record(table),
        problem,
        detail,
        delimiter != ",",
    )
