"""Format readers: turn one input (a file or a DataFrame) into a :class:`RawBatch`.

A reader recognises its format and maps the input's columns onto the standard fields
(id, date, crime type, two coordinates, place); it does no validation beyond that: every
record it reads is returned, so that :mod:`geodemand.ingest.incidents` can accept or reject
each one with a reason. Supported formats:

``police-uk-street``
    data.police.uk street CSV, current 12-column format (``Crime ID, Month, ..., Longitude,
    Latitude, Location, LSOA code, LSOA name, Crime type, ...``), lon/lat EPSG:4326.
``police-uk-2011``
    the original 2011 street CSV (``Month, ..., Easting, Northing, Location, Crime type,
    Context``), British National Grid EPSG:27700, six old crime types.
``police-uk-api``
    police.uk street-level API records: the JSON list the API returns (or JSON lines), or
    its flattened CSV (``id, month, category, latitude, longitude, street_id, street_name,
    ...``; a ``type`` column is accepted for ``category``).
``csv``
    any other delimited text (``,``, ``;``, tab or ``|``, found by :class:`csv.Sniffer`) or
    JSON records, with a :class:`ColumnMapping` (detected from common names if absent).
``vector``
    GeoJSON, GeoPackage, GeoParquet or any OGR point layer (attributes mapped as for CSV);
    also a GeoDataFrame given directly. A plain DataFrame is read as ``csv``.

Place text (``location_label``): the police.uk street ``Location`` ("On or near Swan
Street"), the 2011 ``Location``, the API ``street_name`` (``street`` in some flattened
copies); for generic input the mapped ``location_label`` column, else the mapped
``location`` column's text, else empty.

A file that is not incident data (empty, binary, JSON that is not a list of records, a
table without date or coordinate columns, a layer without points) raises
:class:`NotIncidentDataError`, which a folder read reports and skips.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

from geodemand._announce import announce
from geodemand.errors import InputFormatError
from geodemand.ingest._csv import (
    NotDelimitedTextError,
    check_text_bytes,
    clean_names,
    decode_text,
    head_text,
    header_fields,
    read_delimited,
    sniff_delimiter,
    table_blank,
    table_malformed,
    table_record,
)
from geodemand.ingest.batch import (
    AUTO_NAMES,
    ColumnMapping,
    NotIncidentDataError,
    RawBatch,
    generic_batch,
)
from geodemand.ingest.frames import (
    _parquet_synthetic_flag,
    is_vector_name,
    read_frame,
    read_vector,
    stem_name,
)
from geodemand.ingest.json_records import looks_like_geojson, read_json
from geodemand.ingest.police_uk import (
    API_COLUMNS,
    STREET_2011_COLUMNS,
    STREET_CURRENT_COLUMNS,
    format_of_names,
    read_police_uk_2011,
    read_police_uk_api_csv,
    read_police_uk_street,
)

__all__ = [
    "API_COLUMNS",
    "STREET_2011_COLUMNS",
    "STREET_CURRENT_COLUMNS",
    "ColumnMapping",
    "NotIncidentDataError",
    "RawBatch",
    "detect_format",
    "read_frame",
    "read_one",
    "_parquet_synthetic_flag",
]


TEXT_SUFFIXES = (".csv", ".json", ".txt", ".tsv", ".jsonl", ".ndjson")

FORMATS = ("auto", "police-uk-street", "police-uk-2011", "police-uk-api", "csv", "vector")


def read_bytes(path: Path, buffer: bytearray | None = None) -> tuple[bytes | memoryview, str, int]:
    """The file's bytes (gunzipped when it is a gzip file, by suffix or magic number), and
    the SHA-256 and size of the file as stored.

    With ``buffer`` (a bytearray reused from file to file, grown as needed) a plain file is
    read into it and a memoryview of it returned: reading millions of records then touches
    no fresh memory per file. The view is valid until the buffer is used again.
    """
    try:
        with path.open("rb") as fh:
            size = path.stat().st_size
            data: bytes | memoryview | None = None
            if buffer is not None:
                try:
                    if len(buffer) < size:
                        buffer.extend(bytes(size - len(buffer)))
                    view = memoryview(buffer)[:size]
                    data = view[: fh.readinto(view)]
                except BufferError:  # a view of the last file is still alive: no reuse
                    data = None
            if data is None:
                data = fh.read()
    except OSError as exc:
        raise InputFormatError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    digest, size = hashlib.sha256(data).hexdigest(), len(data)
    if bytes(data[:2]) == b"\x1f\x8b" or path.suffix.lower() == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise NotIncidentDataError(f"{path}: not a valid gzip file ({exc})") from exc
    return data, digest, size


def detect_format(path: Path, data: bytes | None) -> str:
    """Name the format of a file from its suffix and content (``police-uk-street``, ...).

    ``json`` is JSON text (a list of records, JSON lines, or GeoJSON); the delimiter of
    delimited text is found with :func:`sniff_delimiter` and the header read with
    :func:`csv.reader` (:func:`header_fields`).
    """
    return _detect(path, data)[0]


def _detect(path: Path, data: bytes | None) -> tuple[str, str]:
    """(format, delimiter) of a file."""
    if data is None or (is_vector_name(path) and not stem_name(path).endswith(".json")):
        return "vector", ","
    head = head_text(data)
    if head.lstrip()[:1] in ("[", "{"):
        return "json", ","
    delimiter = sniff_delimiter(head)
    names = {f.strip() for f in header_fields(head, delimiter)}
    return format_of_names(names), delimiter


def read_generic_csv(
    label: str, data: bytes, mapping: ColumnMapping | None, delimiter: str
) -> RawBatch:
    """Delimited text through a column mapping (detected from the header if absent)."""
    header = mapping is None or mapping.columns is None
    if header:
        names, _ = clean_names(header_fields(head_text(data), delimiter))
        probe = _auto_mapping_quiet(names, mapping)
    else:
        names, probe = list(mapping.columns), mapping
    strings = frozenset({probe.id}) if probe.id else frozenset()
    table = read_delimited(
        label,
        data,
        delimiter=delimiter,
        header=header,
        names=None if header else list(mapping.columns),
        string_columns=strings,
    )
    problem, detail = table_malformed(table)
    return generic_batch(
        label,
        table.columns,
        table.names,
        table.duplicated,
        table.n,
        table_blank(table),
        table_record(table),
        mapping,
        "csv",
        problem=problem,
        detail=detail,
        decimal_comma=delimiter != ",",
    )


def _auto_mapping_quiet(names: list[str], mapping: ColumnMapping | None) -> ColumnMapping:
    if mapping is not None:
        return mapping
    lower = {str(c).lower(): c for c in reversed(names)}
    ident = next((lower[n] for n in AUTO_NAMES["id"] if n in lower), None)
    return ColumnMapping(id=ident)


def read_one(
    path: Path, fmt: str, mapping: ColumnMapping | None, buffer: bytearray | None = None
) -> RawBatch:
    """Read one file in format ``fmt`` (``"auto"`` detects it); ``buffer``: see
    :func:`read_bytes`."""
    if fmt not in FORMATS:
        raise InputFormatError(
            f"{path}: unknown format {fmt!r}; expected auto, police-uk-street, police-uk-2011, "
            "police-uk-api, csv or vector"
        )
    label = str(path)
    if fmt == "vector" or (fmt == "auto" and is_vector_name(path)):
        return read_vector(path, mapping)
    data, digest, size = read_bytes(path, buffer)
    batch = _read_text_file(path, label, data, fmt, mapping)
    batch.sha256, batch.size = digest, size
    return batch


def _read_text_file(path, label, data, fmt, mapping) -> RawBatch:
    if bytes(data[:2]) in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 with BOM (Excel "Unicode text")
        try:
            data = bytes(data).decode("utf-16").encode("utf-8")
        except UnicodeDecodeError as exc:
            raise NotIncidentDataError(f"{label}: not valid UTF-16 text ({exc})") from None
        announce(f"{label}: UTF-16 text, decoded")
    try:
        check_text_bytes(label, data)
    except NotDelimitedTextError as exc:
        raise NotIncidentDataError(str(exc)) from None
    detected, delimiter = _detect(path, data)
    if detected == "json":
        try:
            text, _ = decode_text(label, data)
        except NotDelimitedTextError as exc:
            raise NotIncidentDataError(str(exc)) from None
        if text.lstrip()[:1] == "{" and looks_like_geojson(text):
            return read_vector(path, mapping, data=bytes(data))
        return read_json(label, text, mapping, fmt)
    if fmt == "auto":
        fmt = detected
    if fmt == "police-uk-street":
        return read_police_uk_street(label, data, delimiter)
    if fmt == "police-uk-2011":
        return read_police_uk_2011(label, data, delimiter)
    if fmt == "police-uk-api":
        return read_police_uk_api_csv(label, data, delimiter)
    return read_generic_csv(label, data, mapping, delimiter)
