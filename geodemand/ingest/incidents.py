"""Incident ingest with full accounting: every record read is accepted or rejected with a reason.

:func:`read_incidents` reads police.uk street CSVs (current and 2011 formats), police.uk API
records (JSON, JSON lines or flattened CSV), generic delimited text (``,`` ``;`` tab ``|``) or
JSON records with a :class:`ColumnMapping`, GeoJSON / GeoPackage / GeoParquet, and pandas
DataFrames or GeoDataFrames, from a file, a folder, a glob or a list (``.gz`` works), and
returns an :class:`IncidentTable` in the canonical schema, in a projected metric CRS.

Canonical columns (``IncidentTable.frame``)
-------------------------------------------
``incident_id`` (str, unique), ``occurred`` (datetime64[ns]; the month start when
``date_precision == "month"``), ``date_precision`` (``"month"``, ``"day"`` or ``"minute"``),
``crime_type`` (canonical slug, see :mod:`geodemand.ingest.vocabulary`), ``x``, ``y``
(float64 metres in the analysis CRS), ``location_key`` (stable id of the place:
``pt:<lon>,<lat>`` for police.uk map points and other lon/lat input, ``xy:<x>,<y>`` for
projected input, ``id:<value>`` for a mapped location column; a ``location_key`` column of
geodemand's own output is kept as it is), ``source_file``, ``source_row`` (1-based record
number in its file: the first data record is 1, i.e. line 2 of a CSV with a header),
``synthetic`` (bool), then ``location_label`` (the place's text, may be empty: police.uk
``Location`` such as "On or near Swan Street", the 2011 ``Location``, API ``street_name``;
for generic input the mapped ``location_label`` column, else the mapped ``location``
column's text), and the input's other columns prefixed ``raw_`` (police.uk ``Location`` is
also kept as ``raw_location``).

Memory: ``date_precision``, ``location_label``, ``source_file`` and the ``raw_*`` columns
with few distinct values are pandas ``Categorical`` with sorted categories (they compare,
sort and group like the text); ``incident_id``, ``crime_type``, ``location_key`` and
mostly-distinct raw columns are arrow-backed strings (downstream code counts and maps crime
types and place keys as text: a categorical's ``value_counts`` would list absent
categories). A police.uk street incident takes about 180 bytes.

Rejection reasons (``IncidentTable.rejects["reason"]``)
-------------------------------------------------------
In the order of :data:`REASONS` (a record failing several checks gets the first):
``malformed_record`` (a CSV row with the wrong number of fields, a JSON item that is not an
object), ``empty_record``, ``non_point_geometry``, ``missing_coordinates``,
``non_numeric_coordinates``, ``coordinates_out_of_range`` (|lon| > 180 or |lat| > 90),
``likely_swapped_lon_lat`` (outside the analysis CRS's area but inside it with lon/lat
swapped), ``coordinates_outside_crs_area`` (outside the analysis CRS's area of use; for
British National Grid input also outside Great Britain's land box or looking like degrees
typed into Easting/Northing; ``0, 0`` anywhere), ``outside_study_area`` (only with
``study_area``), ``missing_date``, ``unparseable_date``, ``date_out_of_range`` (see
:mod:`geodemand.ingest.checks` for the supported range), ``unknown_crime_type`` (an empty
type always; a type not in the vocabulary unless ``strict_types=False``),
``not_force_record`` (only with ``force_only``), ``duplicate_id`` (the first record with an
id is kept, in file then record order).

A whole file whose points lie in the expected area only with longitude and latitude swapped
is refused with an :class:`~geodemand.errors.InputFormatError` (its columns are swapped),
rather than read under a far-away CRS. Files in a folder (or matched by a glob) that are not
incident data are skipped and reported (``IncidentTable.skipped``, the accounting, and a
warning); a file named explicitly must be incident data.

``accepted + rejected == read`` is checked for every file; a failure is an internal error.
"""

from __future__ import annotations

import glob as globmod
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from geodemand._announce import announce, warn
from geodemand._hashing import sha256_file
from geodemand.errors import InputFormatError, InternalConsistencyError, InvalidParameterError
from geodemand.ingest._coded import Coded, string_series, to_categorical
from geodemand.ingest.batch import ColumnMapping, NotIncidentDataError, RawBatch
from geodemand.ingest.checks import (
    CODE,
    PRECISIONS,
    REASONS,
    Pairs,
    check_crimes,
    check_dates,
    coordinate_pairs,
    resolve_date_range,
    worse,
)
from geodemand.ingest.frames import VECTOR_SUFFIXES, read_frame, stem_name
from geodemand.ingest.ids import Ids, repeated_after_first
from geodemand.ingest.placement import (
    BNG_LAND,
    BRITISH_CRS,
    GB_AREA,
    GB_BOUNDS,
    Points,
    analysis_crs,
    area_check,
    choose_crs,
    crs_area_bounds,
    detect_swapped_file,
    expected_area,
    locate,
    project,
    study_area_of,
    study_check,
    valid_crs,
)
from geodemand.ingest.readers import FORMATS, TEXT_SUFFIXES, read_one
from geodemand.ingest.vocabulary import normalise_crime_type

__all__ = [
    "ColumnMapping",
    "IncidentTable",
    "read_incidents",
    "REASONS",
    "CANONICAL_COLUMNS",
    "INCIDENT_COLUMNS",
    "crs_area_bounds",
    "choose_crs",
    "BRITISH_CRS",
    "BNG_LAND",
    "GB_AREA",
    "GB_BOUNDS",
]

CANONICAL_COLUMNS = (
    "incident_id",
    "occurred",
    "date_precision",
    "crime_type",
    "x",
    "y",
    "location_key",
    "source_file",
    "source_row",
    "synthetic",
)
#: the columns :func:`read_incidents` always writes first: the canonical ones, then the
#: place text (synthetic tables do not have it yet)
INCIDENT_COLUMNS = (*CANONICAL_COLUMNS, "location_label")

INPUT_SUFFIXES = (*TEXT_SUFFIXES, *VECTOR_SUFFIXES)
REJECT_COLUMNS = ["source_file", "source_row", "reason", "detail", "raw"]


@dataclass(frozen=True)
class IncidentTable:
    """Accepted incidents, rejected records and the accounting of one ingest.

    Attributes
    ----------
    frame : DataFrame
        Accepted incidents in the canonical schema (see module docstring); ``attrs["crs"]``
        holds the CRS.
    crs : str
        The projected analysis CRS, e.g. ``"EPSG:27700"``.
    rejects : DataFrame
        ``source_file, source_row, reason, detail, raw`` (raw = the record as read, JSON).
    accounting : DataFrame
        One row per file read plus one per file skipped (``format = "skipped"``, zero
        counts) and a ``TOTAL`` row: ``file, format, read, accepted, rejected`` and one
        column per rejection reason that occurred.
    sources : tuple of dict
        Per file read: ``path, format, sha256, bytes, read, accepted, rejected`` (``sha256``
        and ``bytes`` are None for a DataFrame).
    unknown_crime_types : dict
        Crime-type names not in the vocabulary that were kept (``strict_types=False``), with
        their counts.
    params : dict
        The options that made this table.
    skipped : tuple of dict
        Files found in a folder or by a glob that are not incident data: ``path, reason``.
    """

    frame: pd.DataFrame
    crs: str
    rejects: pd.DataFrame
    accounting: pd.DataFrame
    sources: tuple[dict, ...]
    unknown_crime_types: dict[str, int] = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    skipped: tuple[dict, ...] = ()

    @property
    def synthetic(self) -> bool:
        """True if any incident is synthetic."""
        return bool(self.frame["synthetic"].any()) if len(self.frame) else False

    @property
    def date_precision(self) -> str:
        """The coarsest date precision present (``month`` > ``day`` > ``minute``)."""
        present = {str(v) for v in self.frame["date_precision"].unique()}
        for level in ("month", "day", "minute"):
            if level in present:
                return level
        return "minute"

    @property
    def window(self) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """First and last ``occurred`` value, or None if empty."""
        if not len(self.frame):
            return None
        return (self.frame["occurred"].min(), self.frame["occurred"].max())

    def accounting_text(self) -> str:
        """The accounting table as aligned text."""
        return self.accounting.to_string(index=False)

    def to_geodataframe(self):
        """The accepted incidents as a GeoDataFrame of points."""
        import geopandas as gpd

        return gpd.GeoDataFrame(
            self.frame.copy(),
            geometry=gpd.points_from_xy(self.frame["x"], self.frame["y"]),
            crs=self.crs,
        )


# ---------------------------------------------------------------------------- inputs
@dataclass
class _Input:
    """One thing to read: a file (``explicit`` when named directly) or a DataFrame."""

    label: str
    path: Path | None = None
    frame: pd.DataFrame | None = None
    explicit: bool = True


def _is_frame(obj) -> bool:
    return isinstance(obj, pd.DataFrame)


def _resolve_inputs(paths) -> tuple[list[_Input], list[dict]]:
    """Expand files, folders (sorted), globs and DataFrames; list what a folder skips."""
    if isinstance(paths, str | Path) or _is_frame(paths):
        paths = [paths]
    if not isinstance(paths, Iterable):
        raise InvalidParameterError(
            f"paths: expected a path, a folder, a glob, a DataFrame or a list of them; got "
            f"{type(paths).__name__}"
        )
    inputs: list[_Input] = []
    skipped: list[dict] = []
    n_frames = 0
    for item in paths:
        if _is_frame(item):
            n_frames += 1
            kind = (
                "GeoDataFrame"
                if hasattr(item, "geometry") and hasattr(item, "crs")
                else ("DataFrame")
            )
            inputs.append(_Input(label=f"<{kind} {n_frames}>", frame=item))
            continue
        if not isinstance(item, str | Path):
            raise InvalidParameterError(
                f"paths: {item!r} is a {type(item).__name__}; expected a path, a folder, a glob "
                "or a DataFrame"
            )
        text = str(item)
        p = Path(text)
        if any(ch in text for ch in "*?[") and not p.exists():
            matches = sorted(Path(m) for m in globmod.glob(text, recursive=True))
            if not matches:
                raise InputFormatError(f"{text}: the pattern matches no file")
            for m in matches:
                if m.is_file():
                    _add_found(m, inputs, skipped)
        elif p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file())
            before = len(inputs)
            for f in found:
                _add_found(f, inputs, skipped)
            if len(inputs) == before:
                raise InputFormatError(
                    f"{p}: folder has no incident files (expected {', '.join(INPUT_SUFFIXES)}, "
                    "optionally .gz)"
                    + (f"; skipped {len(skipped)} other file(s)" if skipped else "")
                )
        elif p.is_file():
            inputs.append(_Input(label=str(p), path=p))
        else:
            raise InputFormatError(f"{p}: no such file or folder")
    seen: set = set()
    unique = []
    for inp in inputs:
        key = inp.path.resolve() if inp.path is not None else id(inp.frame)
        if key not in seen:
            seen.add(key)
            unique.append(inp)
    return unique, skipped


def _add_found(f: Path, inputs: list[_Input], skipped: list[dict]) -> None:
    if stem_name(f).endswith(INPUT_SUFFIXES):
        inputs.append(_Input(label=str(f), path=f, explicit=False))
    else:
        skipped.append(
            {
                "path": str(f),
                "reason": "not an incident file type (expected "
                f"{', '.join(INPUT_SUFFIXES)}, optionally .gz)",
            }
        )


# ---------------------------------------------------------------------------- per batch
@dataclass
class _Checked:
    """One batch after its record checks (all but the cross-file ones)."""

    batch: RawBatch
    reason: np.ndarray  # int8 per record, 0 = accepted so far
    points: Points  # the distinct coordinate pairs and where they are
    ns: np.ndarray  # per record, int64 nanoseconds
    precision: np.ndarray  # per record, index into PRECISIONS
    crime: Coded  # canonical per record
    crime_known: np.ndarray  # per value of crime
    ids: Ids  # given or made ids, and their hashes
    date_range: tuple[pd.Timestamp, pd.Timestamp]

    @property
    def pairs(self) -> Pairs:
        return self.points.pairs


def _check_batch(
    batch: RawBatch,
    *,
    strict_types: bool,
    crime_mapping: dict[str, str] | None,
    date_range,
    force_only: bool,
    id_prefix: str,
) -> _Checked:
    reason = np.zeros(batch.n, dtype=np.int8)
    if batch.problem is not None:
        for code in ("malformed_record", "non_point_geometry"):
            worse(reason, CODE[code], batch.problem == code)
    worse(reason, CODE["empty_record"], batch.blank)

    lonlat = batch.coords == "lonlat"
    pairs = coordinate_pairs(batch.a, batch.b, lonlat=lonlat, decimal_comma=batch.decimal_comma)
    names = (batch.fields.get("a", "x"), batch.fields.get("b", "y"))
    points = locate(batch.path, pairs, lonlat=lonlat, source_crs=batch.source_crs, names=names)

    dates = check_dates(
        batch.date,
        month=batch.date_precision == "month",
        fmt=batch.date_format,
        given_precision=batch.precision,
        date_range=date_range,
    )
    worse(reason, dates.reason)

    mapping = dict(batch.crime_mapping)
    if crime_mapping:
        mapping.update(crime_mapping)
    crimes = check_crimes(batch.crime, mapping, strict_types)
    worse(reason, crimes.reason)

    if force_only and batch.force_flag is not None:
        not_force = np.array([v.strip() != "Force" for v in batch.force_flag.values], dtype=bool)
        worse(reason, CODE["not_force_record"], batch.force_flag.per_row(not_force))

    return _Checked(
        batch=batch,
        reason=reason,
        points=points,
        ns=dates.ns,
        precision=dates.precision,
        crime=crimes.canonical,
        crime_known=crimes.known,
        ids=Ids.of(batch.ids, batch.n, id_prefix),
        date_range=date_range,
    )


def _flag_duplicate_ids(checked: list[_Checked]) -> None:
    """Later records repeating an earlier record's id get ``duplicate_id`` (the first, in
    file then record order, is kept); only records accepted so far take part."""
    rows_of = [np.flatnonzero(c.reason == 0) for c in checked]
    parts = [(c.ids, rows) for c, rows in zip(checked, rows_of, strict=True)]
    for c, rows, dup in zip(checked, rows_of, repeated_after_first(parts), strict=True):
        if dup.any():
            mask = np.zeros(c.batch.n, dtype=bool)
            mask[rows[dup]] = True
            worse(c.reason, CODE["duplicate_id"], mask)


# ---------------------------------------------------------------------------- assembly
def _location(c: _Checked, cache: dict) -> Coded:
    """Location keys per record; ``cache`` maps (kind, a, b) -> key across files, so that a
    map point seen every month is formatted once."""
    b, p = c.batch, c.pairs
    if b.location_kind == "verbatim" and b.location is not None:
        return b.location
    if b.location_kind == "column" and b.location is not None:
        return Coded(
            np.array(["id:" + v for v in b.location.values], dtype=object), b.location.codes
        )
    ok = np.flatnonzero(p.reason == 0)
    keys = np.full(len(p.a), "", dtype=object)
    if len(ok):
        if b.coords == "lonlat":
            ka, kb, tag, dec = c.points.lon[ok], c.points.lat[ok], "pt", 6
        else:
            ka, kb, tag, dec = p.a[ok], p.b[ok], "xy", 1
        ra, rb = np.round(ka, dec), np.round(kb, dec)
        found = [cache.get((tag, x, y)) for x, y in zip(ra.tolist(), rb.tolist(), strict=True)]
        new = np.array([k is None for k in found], dtype=bool)
        if new.any():
            fa = np.char.mod(f"%.{dec}f", ra[new])
            fb = np.char.mod(f"%.{dec}f", rb[new])
            made = np.char.add(np.char.add(tag + ":", fa), np.char.add(",", fb)).tolist()
            for x, y, key in zip(ra[new].tolist(), rb[new].tolist(), made, strict=True):
                cache[(tag, x, y)] = key
            for i, key in zip(np.flatnonzero(new), made, strict=True):
                found[i] = key
        keys[ok] = found
    return Coded(keys, p.codes)


def _details(c: _Checked, rows: np.ndarray, reasons: np.ndarray, crs: str) -> list[str]:
    b, p = c.batch, c.pairs
    na, nb = b.fields.get("a", "x"), b.fields.get("b", "y")
    date_name = b.fields.get("date", "date")
    out = []
    for r, code in zip(rows, reasons, strict=True):
        name = REASONS[code - 1]
        pi = p.codes[r]
        coords = f"{na}={p.a_text[pi]}, {nb}={p.b_text[pi]}"
        if name == "malformed_record" or name == "non_point_geometry":
            text = str(b.problem_detail[r])
        elif name == "empty_record":
            text = "the record has no values"
        elif name == "missing_coordinates":
            text = f"{coords}: expected both coordinates"
        elif name == "non_numeric_coordinates":
            text = f"{coords}: expected finite numbers"
        elif name == "coordinates_out_of_range":
            text = f"{coords}: expected |longitude| <= 180 and |latitude| <= 90"
        elif name == "likely_swapped_lon_lat":
            text = (
                f"{coords}: outside the area of {crs} but inside it with longitude and latitude "
                "swapped; check the column mapping"
            )
        elif name in ("coordinates_outside_crs_area", "outside_study_area"):
            text = f"{coords}: {p.detail[pi] or 'outside the area of ' + crs}"
        elif name in ("missing_date", "unparseable_date", "date_out_of_range"):
            value = b.date.iloc[r] if isinstance(b.date, pd.Series) else b.date.text([r])[0]
            if name == "missing_date":
                text = f"{date_name} empty"
            elif name == "unparseable_date":
                expected = b.date_format or "an ISO date or date-time"
                text = f"{date_name}={value}: expected {expected}"
            else:
                lo, hi = c.date_range
                text = (
                    f"{date_name}={value}: outside the supported range {lo:%Y-%m-%d} to "
                    f"{hi:%Y-%m-%d}"
                )
        elif name == "unknown_crime_type":
            raw = b.crime.text([r])[0]
            text = (
                "crime type is empty"
                if not raw.strip()
                else f"crime type {raw.strip()!r} is not in the vocabulary"
            )
        elif name == "not_force_record":
            flag = b.force_flag.text([r])[0] if b.force_flag is not None else ""
            text = f"location_type is {flag!r}, not Force (e.g. British Transport Police)"
        else:  # duplicate_id
            shown = c.ids.take([r])[0].as_py()
            text = f"incident id {shown} already seen (first occurrence kept)"
        out.append(text)
    return out


def _rejects(c: _Checked, crs: str) -> pd.DataFrame | None:
    rej = np.flatnonzero(c.reason != 0)
    if not len(rej):
        return None
    codes = c.reason[rej]
    records = c.batch.record(rej)
    return pd.DataFrame(
        {
            "source_file": c.batch.path,
            "source_row": rej + 1,
            "reason": np.array(REASONS, dtype=object)[codes - 1],
            "detail": _details(c, rej, codes, crs),
            "raw": records,
        }
    )


def _column(parts: list, n_each: list[int]) -> pd.Series:
    """One raw column over every batch (absent in a batch: empty text)."""
    if all(isinstance(p, pd.Series) for p in parts):
        return pd.concat(parts, ignore_index=True)
    coded = []
    for p, n in zip(parts, n_each, strict=True):
        if p is None:
            coded.append(Coded.constant("", n))
        elif isinstance(p, Coded):
            coded.append(p)
        elif isinstance(p, pd.Series):
            coded.append(Coded.from_series(p))
        else:
            coded.append(Coded.from_arrow(p))
    return to_categorical(coded)


def _assemble(checked: list[_Checked]) -> pd.DataFrame:
    accepted = [np.flatnonzero(c.reason == 0) for c in checked]
    n_each = [len(a) for a in accepted]
    n = int(sum(n_each))
    ids = [c.ids.take(a) for c, a in zip(checked, accepted, strict=True) if len(a)]
    incident_id = (
        string_series(pa.chunked_array(ids, type=pa.string())) if n else pd.Series([], dtype=str)
    )
    ns = np.concatenate([c.ns[a] for c, a in zip(checked, accepted, strict=True)])
    x = np.concatenate(
        [c.points.x[c.pairs.codes[a]] for c, a in zip(checked, accepted, strict=True)]
    )
    y = np.concatenate(
        [c.points.y[c.pairs.codes[a]] for c, a in zip(checked, accepted, strict=True)]
    )
    precision_names = np.array(PRECISIONS, dtype=object)
    key_cache: dict = {}
    cols: dict[str, pd.Series | np.ndarray] = {
        "incident_id": incident_id,
        "occurred": ns.view("datetime64[ns]"),
        "date_precision": to_categorical(
            [Coded(precision_names, c.precision[a]) for c, a in zip(checked, accepted, strict=True)]
        ),
        "crime_type": to_categorical(
            [c.crime.take(a) for c, a in zip(checked, accepted, strict=True)], max_share=0
        ),
        "x": x.astype(np.float64),
        "y": y.astype(np.float64),
        "location_key": to_categorical(
            [_location(c, key_cache).take(a) for c, a in zip(checked, accepted, strict=True)],
            max_share=0,
        ),
        "source_file": to_categorical(
            [Coded.constant(c.batch.path, len(a)) for c, a in zip(checked, accepted, strict=True)]
        ),
        "source_row": np.concatenate([a + 1 for a in accepted]).astype(np.int64),
        "synthetic": np.concatenate(
            [
                np.full(len(a), c.batch.synthetic, dtype=bool)
                for c, a in zip(checked, accepted, strict=True)
            ]
        ),
        "location_label": to_categorical(
            [
                (
                    c.batch.label.stripped().take(a)
                    if c.batch.label is not None
                    else Coded.constant("", len(a))
                )
                for c, a in zip(checked, accepted, strict=True)
            ]
        ),
    }
    raw_names: list[str] = []
    for c in checked:
        for name in c.batch.raw:
            if name not in raw_names and name not in cols:
                raw_names.append(name)
    for name in raw_names:
        parts = []
        for c, a in zip(checked, accepted, strict=True):
            col = c.batch.raw.get(name)
            if col is None:
                parts.append(None)
            elif isinstance(col, Coded):
                parts.append(col.take(a))
            elif isinstance(col, pd.Series):
                parts.append(col.iloc[a].reset_index(drop=True))
            else:
                parts.append(col.filter(pa.array(c.reason == 0)))
        cols[name] = _column(parts, n_each)
    frame = pd.DataFrame(
        {k: (v.reset_index(drop=True) if isinstance(v, pd.Series) else v) for k, v in cols.items()},
        copy=False,
    )
    return frame


def _accounting_frame(counts: list[dict], skipped: list[dict]) -> pd.DataFrame:
    rows = list(counts) + [
        {
            "file": s["path"],
            "format": "skipped",
            "read": 0,
            "accepted": 0,
            "rejected": 0,
            **{r: 0 for r in REASONS},
        }
        for s in skipped
    ]
    table = pd.DataFrame(rows)
    total = {"file": "TOTAL", "format": ""}
    for col in table.columns[2:]:
        total[col] = int(table[col].sum())
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    keep = ["file", "format", "read", "accepted", "rejected"] + [
        r for r in REASONS if table[r].sum() > 0
    ]
    return table[keep]


# ---------------------------------------------------------------------------- public
def read_incidents(
    paths,
    *,
    format: str = "auto",  # noqa: A002 - the natural name for users
    mapping: ColumnMapping | dict | None = None,
    crs: str | None = None,
    strict_types: bool = True,
    crime_type_mapping: dict[str, str] | None = None,
    force_only: bool = False,
    study_area=None,
    study_area_buffer_m: float = 2_000.0,
    date_range=None,
) -> IncidentTable:
    """Read incident files or DataFrames into the canonical schema, accounting for every record.

    Parameters
    ----------
    paths : path, glob, folder, DataFrame, GeoDataFrame or list of them
        Input files; folders are searched recursively for ``.csv``, ``.txt``, ``.tsv``,
        ``.json``, ``.jsonl``, ``.geojson``, ``.gpkg``, ``.parquet``, ... (optionally
        ``.gz``), in sorted order. Files found in a folder or by a glob that are not incident
        data (a README, metadata JSON, a boundary layer) are skipped and reported.
    format : str
        ``"auto"`` (detect from header/suffix), ``"police-uk-street"``, ``"police-uk-2011"``,
        ``"police-uk-api"``, ``"csv"`` or ``"vector"``.
    mapping : ColumnMapping or dict, optional
        Column mapping for generic CSV / JSON / vector / DataFrame input (detected from
        common column names if absent, announced).
    crs : str, optional
        Analysis CRS (projected). Default: EPSG:27700 for British data, else the data's UTM
        zone; the choice is announced.
    strict_types : bool
        True (default): records whose crime type is not in the vocabulary are rejected as
        ``unknown_crime_type`` (the detail names the type); map them with
        ``crime_type_mapping``. False: they are kept under their own (stripped) name and
        listed in ``unknown_crime_types``. An empty crime type is always rejected.
    crime_type_mapping : dict, optional
        Extra ``{raw name: canonical slug}`` entries for this source.
    force_only : bool
        For police.uk API records, keep only ``location_type == "Force"`` rows; the others
        (British Transport Police) are rejected as ``not_force_record``. Default False keeps
        them.
    study_area : path, GeoDataFrame, GeoSeries, Areas, shapely geometry or box, optional
        Where the incidents can be: e.g. the LPU boundaries (``read_areas(...)`` result or
        their file). Records more than ``study_area_buffer_m`` outside it are rejected as
        ``outside_study_area``; a file whose points fall in it only with longitude and
        latitude swapped is refused. A shapely geometry or a 4-tuple box is in lon/lat.
    study_area_buffer_m : float
        Tolerance around the study area in metres (default 2,000: police.uk map points near
        a force boundary can lie just outside it).
    date_range : (date, date), optional
        First and last supported date (both included); default 1900-01-01 to one year after
        today (see :mod:`geodemand.ingest.checks`). Dates outside are
        ``date_out_of_range``.

    Returns
    -------
    IncidentTable
    """
    if format not in FORMATS:
        raise InvalidParameterError(f"format {format!r}: expected one of {', '.join(FORMATS)}")
    if isinstance(mapping, dict):
        try:
            mapping = ColumnMapping(**mapping)
        except TypeError as exc:
            raise InvalidParameterError(
                f"mapping {mapping!r}: {exc}; expected fields of ColumnMapping (id, date, time, "
                "crime_type, crime_type_value, x, y, lon, lat, crs, location, location_label, "
                "date_format, columns)"
            ) from None
    if mapping is not None and mapping.crs is not None:
        valid_crs(mapping.crs, "mapping crs")
    if crs is not None:
        choose_crs(np.zeros(0), np.zeros(0), crs)  # validates before any data are read
    if crime_type_mapping:
        normalise_crime_type([], crime_type_mapping)  # validates the targets
    lo_hi = resolve_date_range(date_range)
    study = study_area_of(study_area, float(study_area_buffer_m))
    inputs, skipped = _resolve_inputs(paths)
    if not inputs:
        raise InputFormatError("no input files given")
    names = [Path(i.label).name if i.path is not None else i.label.strip("<>") for i in inputs]
    if len(set(names)) < len(names):  # same file name in two folders: use the paths
        names = [i.label if i.path is not None else i.label.strip("<>") for i in inputs]

    checked: list[_Checked] = []
    used: list[_Input] = []
    buffer = bytearray()  # file contents, reused from file to file
    for inp, prefix in zip(inputs, names, strict=True):
        try:
            if inp.frame is not None:
                batch = read_frame(inp.label, inp.frame, mapping)
            else:
                batch = read_one(inp.path, format, mapping, buffer)
        except NotIncidentDataError as exc:
            if inp.explicit:
                raise
            skipped.append({"path": inp.label, "reason": str(exc)})
            continue
        c = _check_batch(
            batch,
            strict_types=strict_types,
            crime_mapping=crime_type_mapping,
            date_range=lo_hi,
            force_only=force_only,
            id_prefix=prefix,
        )
        checked.append(c)
        used.append(inp)
    if skipped:
        listed = "; ".join(f"{Path(s['path']).name}: {s['reason']}" for s in skipped[:5])
        warn(
            f"skipped {len(skipped)} file(s) that are not incident data: {listed}"
            + (" ..." if len(skipped) > 5 else "")
        )
    if not checked:
        raise InputFormatError(
            f"no incident data found: {len(skipped)} file(s) skipped ("
            + "; ".join(f"{s['path']}: {s['reason']}" for s in skipped[:3])
            + ")"
        )
    return _finish(
        checked,
        used,
        skipped,
        crs,
        study,
        params={
            "format": format,
            "mapping": mapping.to_record() if mapping else None,
            "strict_types": strict_types,
            "crime_type_mapping": crime_type_mapping,
            "force_only": force_only,
            "study_area_buffer_m": float(study_area_buffer_m) if study else None,
            "date_range": [f"{lo_hi[0]:%Y-%m-%d}", f"{lo_hi[1]:%Y-%m-%d}"],
        },
    )


def _finish(checked, used, skipped, crs, study, params) -> IncidentTable:
    box, where = expected_area(crs, study)
    weights = [c.pairs.counts(c.reason == 0) for c in checked]
    for c, w in zip(checked, weights, strict=True):
        detect_swapped_file(c.points, w, box, where)
    # the CRS is chosen from every record with valid coordinates (whatever else is wrong)
    british = all(c.batch.format.startswith("police-uk") for c in checked)
    target = analysis_crs(
        [c.points for c in checked], [c.pairs.counts() for c in checked], crs, british
    )
    geom = study.in_crs(target) if study is not None else None
    for c in checked:
        area_check(c.points, target)
        project(c.points, target)
        if geom is not None:
            study_check(c.points, geom, study.buffer_m)
        worse(c.reason, c.pairs.reason[c.pairs.codes])
    _flag_duplicate_ids(checked)

    counts, rejects = [], []
    unknown: dict[str, int] = {}
    for c in checked:
        n = c.batch.n
        acc = c.reason == 0
        n_acc, n_rej = int(acc.sum()), int((~acc).sum())
        if n_acc + n_rej != n:
            raise InternalConsistencyError(
                f"{c.batch.path}: accepted {n_acc} + rejected {n_rej} != read {n}"
            )
        by_reason = np.bincount(c.reason, minlength=len(REASONS) + 1)
        counts.append(
            {
                "file": c.batch.path,
                "format": c.batch.format,
                "read": n,
                "accepted": n_acc,
                "rejected": n_rej,
                **{r: int(by_reason[CODE[r]]) for r in REASONS},
            }
        )
        r = _rejects(c, target)
        if r is not None:
            rejects.append(r)
        kept = np.bincount(c.crime.codes[acc], minlength=len(c.crime.values))
        for v in np.flatnonzero((kept > 0) & ~c.crime_known):
            name = str(c.crime.values[v])
            unknown[name] = unknown.get(name, 0) + int(kept[v])
    frame = _assemble(checked)
    frame.attrs["crs"] = target
    rej_frame = (
        pd.concat(rejects, ignore_index=True) if rejects else pd.DataFrame(columns=REJECT_COLUMNS)
    )
    if unknown:
        listed = ", ".join(f"{k!r} ({v})" for k, v in sorted(unknown.items()))
        announce(
            f"crime types not in the vocabulary, kept under their own names: {listed}; map them "
            "with crime_type_mapping / --crime-type-map"
        )
    n_unknown = int((rej_frame["reason"] == "unknown_crime_type").sum()) if len(rej_frame) else 0
    if n_unknown:
        announce(
            f"{n_unknown:,} record(s) rejected as unknown_crime_type (see the rejects); map the "
            "types with crime_type_mapping / --crime-type-map, or keep them with "
            "strict_types=False"
        )
    sources = []
    for inp, c, cnt in zip(used, checked, counts, strict=True):
        digest, size = c.batch.sha256, c.batch.size
        if inp.path is not None and digest is None:
            digest, size = sha256_file(inp.path), inp.path.stat().st_size
        sources.append(
            {
                "path": inp.label,
                "format": c.batch.format,
                "sha256": digest,
                "bytes": size,
                "read": cnt["read"],
                "accepted": cnt["accepted"],
                "rejected": cnt["rejected"],
            }
        )
    return IncidentTable(
        frame=frame,
        crs=target,
        rejects=rej_frame,
        accounting=_accounting_frame(counts, skipped),
        sources=tuple(sources),
        unknown_crime_types=unknown,
        params={**params, "crs": target},
        skipped=tuple(skipped),
    )
