"""JSON incident records: a JSON list (what the police.uk street-level API returns) or JSON
lines, flattened (nested objects give ``parent.child`` columns, as
:func:`pandas.json_normalize` names them; values kept as their JSON text, so an id ``101``
stays ``"101"``), then read as police.uk API records or through a column mapping. Items that
are not JSON objects are ``malformed_record``s; JSON that is not a list of records (GeoJSON,
a metadata object) is not incident data.
"""

from __future__ import annotations

import json

import numpy as np

from geodemand.ingest._coded import Coded, _text
from geodemand.ingest.batch import ColumnMapping, NotIncidentDataError, RawBatch, generic_batch
from geodemand.ingest.police_uk import api_batch, format_of_names

_API_RENAME = {
    "location.latitude": "latitude",
    "location.longitude": "longitude",
    "location.street.id": "street_id",
    "location.street.name": "street_name",
    "outcome_status.category": "outcome_category",
    "outcome_status.date": "outcome_date",
}


def parse_json_records(label: str, text: str) -> tuple[list, dict[int, str]]:
    """JSON text as a list of records: a JSON list, or JSON lines (one object a line).

    Returns the records (dicts; other items are kept as they are) and, for JSON lines,
    the lines that are not a JSON object (record index -> detail). GeoJSON and other JSON
    objects raise :class:`NotIncidentDataError` (GeoJSON is read as a vector layer instead).
    """
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        first = text.lstrip()[:1]
        if first != "{":
            raise NotIncidentDataError(
                f"{label}: invalid JSON at line {exc.lineno} column {exc.colno}; expected a "
                "list of incident records (e.g. what the police.uk street-level API returns)"
            ) from None
        return _json_lines(label, text)
    except RecursionError:
        raise NotIncidentDataError(f"{label}: JSON nested too deeply; expected records") from None
    if isinstance(obj, dict):
        raise NotIncidentDataError(
            f"{label}: a JSON object, not a list of incident records"
            + (" (GeoJSON is read as a vector layer)" if "type" in obj else "")
        )
    if not isinstance(obj, list):
        raise NotIncidentDataError(
            f"{label}: JSON {type(obj).__name__}; expected a list of records"
        )
    if not obj:
        raise NotIncidentDataError(f"{label}: the JSON list is empty; expected incident records")
    bad = {
        i: f"item {i + 1}: a JSON {type(r).__name__}, expected an object"
        for i, r in enumerate(obj)
        if not isinstance(r, dict)
    }
    if len(bad) == len(obj):
        raise NotIncidentDataError(f"{label}: the JSON list holds no objects; expected records")
    return obj, bad


def _json_lines(label: str, text: str) -> tuple[list, dict[int, str]]:
    records: list = []
    bad: dict[int, str] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            if not records and not bad:
                raise NotIncidentDataError(
                    f"{label}: invalid JSON at line {lineno}: {exc}; expected a list of "
                    "incident records or JSON lines"
                ) from None
            bad[len(records)] = f"line {lineno}: not valid JSON ({exc})"
            records.append(line)
            continue
        if not isinstance(rec, dict):
            bad[len(records)] = f"line {lineno}: a JSON {type(rec).__name__}, expected an object"
        records.append(rec)
    if not records or len(bad) == len(records):
        raise NotIncidentDataError(f"{label}: no JSON objects found; expected incident records")
    return records, bad


def read_json(label: str, text: str, mapping: ColumnMapping | None, fmt: str) -> RawBatch:
    """JSON records (a list or JSON lines): police.uk API records, or generic ones."""
    records, bad = parse_json_records(label, text)
    flat = [_flatten(r) if isinstance(r, dict) else {} for r in records]
    order: dict[str, None] = {}
    for r in flat:
        order.update(dict.fromkeys(r))
    columns: dict[str, Coded] = {}
    for key in order:
        name = _API_RENAME.get(key, key)
        if name not in columns:
            columns[name] = Coded.from_strings([r.get(key, "") for r in flat])
    n = len(records)
    names = list(columns)
    problem = detail = None
    if bad:
        problem = np.full(n, "", dtype=object)
        detail = np.full(n, "", dtype=object)
        rows = np.fromiter(bad, dtype=np.int64)
        problem[rows] = "malformed_record"
        detail[rows] = [bad[int(r)] for r in rows]

    def record(rows: np.ndarray) -> list[str]:
        return [json.dumps(records[int(r)], ensure_ascii=False, default=str) for r in rows]

    blank = np.array([not _has_value(r) for r in records], dtype=bool) if n else np.zeros(0, bool)
    if bad:
        blank[np.fromiter(bad, dtype=np.int64)] = False
    detected = format_of_names(set(names)) if fmt in ("auto", "json") else fmt
    if detected == "police-uk-api" and mapping is None:
        return api_batch(label, columns, names, set(), n, blank, record, problem, detail)
    if fmt in ("police-uk-street", "police-uk-2011"):
        raise NotIncidentDataError(f"{label}: JSON records are not a {fmt} CSV")
    return generic_batch(
        label,
        columns,
        names,
        set(),
        n,
        blank,
        record,
        mapping,
        "csv",
        problem=problem,
        detail=detail,
    )


def _flatten(record: dict, prefix: str = "", depth: int = 0) -> dict[str, str]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": "1"}``; lists (and objects nested deeper than 4)
    as JSON text, null as ``""``."""
    out: dict[str, str] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and depth < 4:
            out.update(_flatten(value, name + ".", depth + 1))
        elif isinstance(value, dict | list):
            out[name] = json.dumps(value, ensure_ascii=False)
        else:
            out[name] = _text(value)
    return out


def _has_value(record) -> bool:
    """True if any value anywhere in the (nested) record is not empty (no recursion)."""
    stack = [record]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif _text(item).strip() != "":
            return True
    return False


def looks_like_geojson(text: str) -> bool:
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return False
    return isinstance(obj, dict) and obj.get("type") in ("FeatureCollection", "Feature")
