"""Format readers: turn one input file into a :class:`RawBatch` of standard raw fields.

A reader does no validation beyond recognising its format: every record it reads is
returned, as text, so that :mod:`geodemand.ingest.incidents` can accept or reject each one with a
reason. Supported formats:

``police-uk-street``
    data.police.uk street CSV, current 12-column format (``Crime ID, Month, ..., Longitude,
    Latitude, Location, LSOA code, LSOA name, Crime type, ...``), lon/lat EPSG:4326.
``police-uk-2011``
    the original 2011 street CSV (``Month, ..., Easting, Northing, Location, Crime type,
    Context``), British National Grid EPSG:27700, six old crime types.
``police-uk-api``
    police.uk street-level API records: the JSON list the API returns, or its flattened CSV
    (``id, month, category, latitude, longitude, street_id, ...``; a ``type`` column is
    accepted for ``category``).
``csv``
    any other CSV, with a :class:`ColumnMapping` (auto-detected from common names if absent).
``vector``
    GeoJSON, GeoPackage, GeoParquet or any OGR point layer (attributes mapped as for CSV).
"""

from __future__ import annotations

import gzip
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from geodemand._announce import announce
from geodemand.errors import InputFormatError

STREET_CURRENT_COLUMNS = ("Crime ID", "Month", "Longitude", "Latitude", "Location", "Crime type")
STREET_2011_COLUMNS = ("Month", "Easting", "Northing", "Location", "Crime type")
API_COLUMNS = ("month", "latitude", "longitude")
VECTOR_SUFFIXES = (".geojson", ".gpkg", ".parquet", ".geoparquet", ".shp", ".fgb", ".gml", ".kml")

# names recognised when no column mapping is given (first match wins, case-insensitive)
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
}


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
    date_format: str | None = None
    columns: tuple[str, ...] | None = None

    def to_record(self) -> dict[str, object]:
        """The mapping as a plain dict (for manifests)."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class RawBatch:
    """The records of one file as text, in standard raw fields.

    ``frame`` has one row per record read, in file order, with columns ``id`` (may be
    empty), ``date`` (text), ``crime`` (text), ``a`` and ``b`` (coordinate text: lon/lat when
    ``coords == "lonlat"``, x/y otherwise), ``location`` (text, may be empty), and
    ``raw_*`` columns to keep. ``geometry_problem`` (optional) names a per-row geometry
    problem for vector input.
    """

    path: str
    format: str
    frame: pd.DataFrame
    coords: str  # "lonlat" or "xy"
    source_crs: str
    date_precision: str | None  # "month" for police.uk, None = infer from the values
    date_format: str | None = None
    crime_mapping: dict[str, str] = field(default_factory=dict)
    # how location keys are made: "point" (from coordinates), "column" ("id:<value>") or
    # "verbatim" (a canonical ``location_key`` column read back from geodemand's own output)
    location_kind: str = "point"
    synthetic: bool = False
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------- file opening
def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputFormatError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise InputFormatError(f"{path}: not a valid gzip file ({exc})") from exc
    return data


def _decode_text(path: Path, data: bytes) -> str:
    if not data.strip():
        raise InputFormatError(f"{path}: file is empty; expected a header row and incident records")
    if b"\x00" in data[:65536]:
        raise InputFormatError(
            f"{path}: contains binary data (NUL bytes); expected a text CSV/JSON file"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="strict") if _is_cp1252(data) else None
        if text is None:
            raise InputFormatError(
                f"{path}: not UTF-8 or Windows-1252 text; expected a CSV or JSON text file"
            ) from None
        announce(f"{path}: not valid UTF-8, decoded as Windows-1252")
        return text


def _is_cp1252(data: bytes) -> bool:
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return False
    return True


def _csv_frame(path: Path, text: str, header: bool = True, names=None) -> pd.DataFrame:
    """Every record of a CSV as text (blank lines are kept as empty records)."""
    kwargs = dict(
        dtype=str,
        keep_default_na=False,
        na_filter=False,
        skip_blank_lines=False,
        header=0 if header else None,
        names=list(names) if names else None,
    )
    try:
        frame = pd.read_csv(io.StringIO(text), **kwargs)
    except pd.errors.EmptyDataError as exc:
        raise InputFormatError(f"{path}: no columns found; expected a CSV with a header") from exc
    except pd.errors.ParserError:
        # records with too many fields: read again keeping them, flagged, never dropped
        bad: list[list[str]] = []

        def keep(line: list[str]) -> None:
            bad.append(line)
            return None

        frame = pd.read_csv(io.StringIO(text), engine="python", on_bad_lines=keep, **kwargs)
        raise InputFormatError(
            f"{path}: {len(bad)} record(s) have more fields than the header "
            f"({len(frame.columns)} columns), e.g. {bad[0][:6]!r}; fix the quoting or columns"
        ) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _strip_index_column(frame: pd.DataFrame) -> pd.DataFrame:
    first = frame.columns[0] if len(frame.columns) else None
    if first is not None and (first == "" or first.startswith("Unnamed")):
        frame = frame.rename(columns={first: "row_index"})
    return frame


# ---------------------------------------------------------------------------- detection
def detect_format(path: Path, text: str | None) -> str:
    """Name the format of a file from its suffix and header."""
    name = path.name.lower().removesuffix(".gz")
    if any(name.endswith(s) for s in VECTOR_SUFFIXES) and not name.endswith(".json"):
        return "vector"
    if text is None:
        return "vector"
    head = text.lstrip()[:1]
    if head == "[":
        return "police-uk-api-json"
    if head == "{":
        return "vector"  # GeoJSON FeatureCollection in a .json file
    first_line = text.splitlines()[0] if text else ""
    cols = {c.strip().strip('"') for c in first_line.split(",")}
    if set(STREET_CURRENT_COLUMNS) <= cols:
        return "police-uk-street"
    if set(STREET_2011_COLUMNS) <= cols:
        return "police-uk-2011"
    if set(API_COLUMNS) <= cols and ({"category", "type"} & cols):
        return "police-uk-api"
    return "csv"


# ---------------------------------------------------------------------------- readers
def _empty_col(n: int) -> np.ndarray:
    return np.full(n, "", dtype=object)


def _require(path: Path, frame: pd.DataFrame, columns, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputFormatError(
            f"{path}: missing column(s) {missing} for {what}; found {list(frame.columns)[:15]}"
        )


def read_police_uk_street(path: Path, text: str) -> RawBatch:
    """police.uk street CSV, current 12-column format (lon/lat, month precision)."""
    frame = _csv_frame(path, text)
    _require(path, frame, STREET_CURRENT_COLUMNS, "a police.uk street CSV")
    std = pd.DataFrame(
        {
            "id": frame["Crime ID"].str.strip(),
            "date": frame["Month"].str.strip(),
            "crime": frame["Crime type"],
            "a": frame["Longitude"].str.strip(),
            "b": frame["Latitude"].str.strip(),
            "location": _empty_col(len(frame)),
        }
    )
    raw = frame.drop(columns=["Crime ID", "Month", "Longitude", "Latitude", "Crime type"])
    return RawBatch(
        str(path),
        "police-uk-street",
        _with_raw(std, raw),
        "lonlat",
        "EPSG:4326",
        "month",
        date_format="%Y-%m",
    )


def read_police_uk_2011(path: Path, text: str) -> RawBatch:
    """police.uk street CSV in the original 2011 format (Easting/Northing, EPSG:27700)."""
    frame = _csv_frame(path, text)
    _require(path, frame, STREET_2011_COLUMNS, "a 2011-format police.uk street CSV")
    std = pd.DataFrame(
        {
            "id": _empty_col(len(frame)),
            "date": frame["Month"].str.strip(),
            "crime": frame["Crime type"],
            "a": frame["Easting"].str.strip(),
            "b": frame["Northing"].str.strip(),
            "location": _empty_col(len(frame)),
        }
    )
    raw = frame.drop(columns=["Month", "Easting", "Northing", "Crime type"])
    return RawBatch(
        str(path),
        "police-uk-2011",
        _with_raw(std, raw),
        "xy",
        "EPSG:27700",
        "month",
        date_format="%Y-%m",
        crime_mapping={"Violent crime": "violent-crime-2011", "Other crime": "other-crime-2011"},
    )


def _api_std(path: Path, frame: pd.DataFrame) -> RawBatch:
    category = "category" if "category" in frame.columns else "type"
    _require(path, frame, ("month", "latitude", "longitude", category), "police.uk API records")
    frame = _strip_index_column(frame)
    ids = frame["id"].astype(str).str.strip() if "id" in frame.columns else _empty_col(len(frame))
    std = pd.DataFrame(
        {
            "id": ids,
            "date": frame["month"].astype(str).str.strip(),
            "crime": frame[category].astype(str),
            "a": frame["longitude"].astype(str).str.strip(),
            "b": frame["latitude"].astype(str).str.strip(),
            "location": _empty_col(len(frame)),
        }
    )
    drop = [c for c in ("id", "month", category, "latitude", "longitude") if c in frame.columns]
    raw = frame.drop(columns=drop)
    return RawBatch(
        str(path),
        "police-uk-api",
        _with_raw(std, raw),
        "lonlat",
        "EPSG:4326",
        "month",
        date_format="%Y-%m",
    )


def read_police_uk_api_csv(path: Path, text: str) -> RawBatch:
    """Flattened police.uk API records as CSV."""
    return _api_std(path, _csv_frame(path, text))


def read_police_uk_api_json(path: Path, text: str) -> RawBatch:
    """The JSON list the police.uk street-level API returns."""
    try:
        records = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFormatError(
            f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}; expected the list the "
            "police.uk street-level API returns"
        ) from exc
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise InputFormatError(f"{path}: expected a JSON list of crime objects")
    if not records:
        raise InputFormatError(f"{path}: the JSON list is empty; expected crime records")
    flat = pd.json_normalize(records, sep=".")
    rename = {
        "location.latitude": "latitude",
        "location.longitude": "longitude",
        "location.street.id": "street_id",
        "location.street.name": "street_name",
        "outcome_status.category": "outcome_category",
        "outcome_status.date": "outcome_date",
    }
    flat = flat.rename(columns=rename)
    for col in ("latitude", "longitude", "month", "category", "id"):
        if col not in flat.columns:
            flat[col] = ""
    flat = flat.astype(object).where(flat.notna(), "").astype(str)
    return _api_std(path, flat)


def _auto_mapping(path: Path, columns: list[str], mapping: ColumnMapping | None) -> ColumnMapping:
    if mapping is not None:
        return mapping
    lower = {c.lower(): c for c in columns}

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
    )
    announce(f"{path}: columns detected automatically: {auto.to_record()}")
    return auto


def read_generic_table(
    path: Path, frame: pd.DataFrame, mapping: ColumnMapping | None, fmt: str
) -> RawBatch:
    """A generic attribute table (CSV or vector attributes) through a column mapping."""
    mapping = _auto_mapping(path, list(frame.columns), mapping)
    n = len(frame)
    if mapping.date is None:
        raise InputFormatError(
            f"{path}: no date column found; give the column mapping a date column "
            f"(columns: {list(frame.columns)[:15]})"
        )
    if mapping.crime_type is None and mapping.crime_type_value is None:
        raise InputFormatError(
            f"{path}: no crime-type column found; map one (crime_type=...) or give one type for "
            "every record (crime_type_value=...)"
        )
    needed = [
        c
        for c in (mapping.id, mapping.date, mapping.time, mapping.crime_type, mapping.location)
        if c
    ]
    has_geometry = "__x" in frame.columns
    if not has_geometry:
        if mapping.lon and mapping.lat:
            needed += [mapping.lon, mapping.lat]
        elif mapping.x and mapping.y:
            if mapping.crs is None:
                raise InputFormatError(
                    f"{path}: x/y columns need their CRS (crs='EPSG:...') in the column mapping"
                )
            needed += [mapping.x, mapping.y]
        else:
            raise InputFormatError(
                f"{path}: no coordinate columns found; map lon/lat or x/y (+ crs) "
                f"(columns: {list(frame.columns)[:15]})"
            )
    _require(path, frame, needed, "the column mapping")
    text = {
        c: frame[c] if pd.api.types.is_datetime64_any_dtype(frame[c]) else frame[c].astype(str)
        for c in needed
    }
    date = text[mapping.date]
    if mapping.time:
        date = date.astype(str).str.strip() + " " + text[mapping.time].str.strip()
    elif not pd.api.types.is_datetime64_any_dtype(date):
        date = date.str.strip()
    if has_geometry:
        a, b = frame["__x"], frame["__y"]
        coords, crs = "xy", frame.attrs["source_crs"]
        if frame.attrs.get("geographic"):
            coords = "lonlat"
    elif mapping.lon and mapping.lat:
        a, b = text[mapping.lon].str.strip(), text[mapping.lat].str.strip()
        coords, crs = "lonlat", mapping.crs or "EPSG:4326"
    else:
        a, b = text[mapping.x].str.strip(), text[mapping.y].str.strip()
        coords, crs = "xy", mapping.crs
    crime = (
        text[mapping.crime_type]
        if mapping.crime_type
        else pd.Series([mapping.crime_type_value] * n)
    )
    std = pd.DataFrame(
        {
            "id": text[mapping.id].str.strip() if mapping.id else _empty_col(n),
            "date": date.to_numpy() if not pd.api.types.is_datetime64_any_dtype(date) else date,
            "crime": crime.to_numpy(),
            "a": np.asarray(a),
            "b": np.asarray(b),
            "location": text[mapping.location].str.strip() if mapping.location else _empty_col(n),
        }
    )
    if "__problem" in frame.columns:
        std["geometry_problem"] = frame["__problem"].to_numpy()
    used = set(needed) | {"__x", "__y", "__problem"}
    if "date_precision" in frame.columns:
        std["precision"] = frame["date_precision"].astype(str).to_numpy()
        used.add("date_precision")
    synthetic = (
        "synthetic" in frame.columns
        and frame["synthetic"].astype(str).str.lower().isin(["true", "1"]).any()
    )
    used |= {"synthetic", "source_file", "source_row", "x", "y"} if fmt == "vector" else set()
    raw = frame.drop(columns=[c for c in frame.columns if c in used])
    return RawBatch(
        str(path),
        fmt,
        _with_raw(std, raw),
        coords,
        crs,
        None,
        date_format=mapping.date_format,
        location_kind=(
            "verbatim"
            if mapping.location == "location_key"
            else "column"
            if mapping.location
            else "point"
        ),
        synthetic=bool(synthetic or frame.attrs.get("synthetic", False)),
    )


def read_vector(path: Path, mapping: ColumnMapping | None) -> RawBatch:
    """GeoJSON / GeoPackage / GeoParquet / OGR point layer."""
    import geopandas as gpd
    import shapely

    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".geoparquet")):
            gdf = gpd.read_parquet(path)
        else:
            gdf = gpd.read_file(path)
    except Exception as exc:  # the drivers raise many types; the message is what matters
        raise InputFormatError(
            f"{path}: cannot read as a vector layer ({type(exc).__name__}: {exc}); expected "
            "GeoJSON, GeoPackage or GeoParquet with point geometries"
        ) from exc
    if gdf.crs is None:
        raise InputFormatError(f"{path}: the layer has no CRS; expected one (e.g. EPSG:4326)")
    geom = gdf.geometry.values
    empty = shapely.is_missing(geom) | shapely.is_empty(geom)
    kinds = shapely.get_type_id(geom)
    point = kinds == 0
    x = np.full(len(gdf), np.nan)
    y = np.full(len(gdf), np.nan)
    ok = point & ~empty
    x[ok] = shapely.get_x(geom[ok])
    y[ok] = shapely.get_y(geom[ok])
    problem = np.where(~empty & ~point, "non_point_geometry", "")
    frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    frame["__x"] = x
    frame["__y"] = y
    frame["__problem"] = problem
    frame.attrs["source_crs"] = gdf.crs.to_string()
    frame.attrs["geographic"] = bool(gdf.crs.is_geographic)
    if name.endswith((".parquet", ".geoparquet")):
        frame.attrs["synthetic"] = _parquet_synthetic_flag(path)
    return read_generic_table(path, frame, mapping, "vector")


def _parquet_synthetic_flag(path: Path) -> bool:
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    return meta.get(b"geodemand:synthetic", b"").lower() == b"true"


def _with_raw(std: pd.DataFrame, raw: pd.DataFrame) -> pd.DataFrame:
    raw = raw.copy()
    raw.columns = [c if str(c).startswith("raw_") else "raw_" + _snake(c) for c in raw.columns]
    raw = raw.loc[:, ~raw.columns.duplicated()]
    raw.index = std.index
    return pd.concat([std, raw], axis=1)


def _snake(name: str) -> str:
    out = "".join(ch.lower() if ch.isalnum() else "_" for ch in str(name)).strip("_")
    return out or "column"


def read_one(path: Path, fmt: str, mapping: ColumnMapping | None) -> RawBatch:
    """Read one file in format ``fmt`` (``"auto"`` detects it)."""
    name = path.name.lower().removesuffix(".gz")
    is_vector = any(name.endswith(s) for s in VECTOR_SUFFIXES)
    if fmt == "vector" or (fmt == "auto" and is_vector):
        return read_vector(path, mapping)
    text = _decode_text(path, _read_bytes(path))
    if fmt == "auto":
        fmt = detect_format(path, text)
        if fmt == "vector":
            return read_vector(path, mapping)
    if fmt == "police-uk-street":
        return read_police_uk_street(path, text)
    if fmt == "police-uk-2011":
        return read_police_uk_2011(path, text)
    if fmt == "police-uk-api":
        if text.lstrip()[:1] == "[":
            return read_police_uk_api_json(path, text)
        return read_police_uk_api_csv(path, text)
    if fmt == "police-uk-api-json":
        return read_police_uk_api_json(path, text)
    if fmt == "csv":
        header = mapping is None or mapping.columns is None
        names = None if header else mapping.columns
        frame = _csv_frame(path, text, header=header, names=names)
        return read_generic_table(path, frame, mapping, "csv")
    raise InputFormatError(
        f"{path}: unknown format {fmt!r}; expected auto, police-uk-street, police-uk-2011, "
        "police-uk-api, csv or vector"
    )
