"""Incident ingest with full accounting: every record read is accepted or rejected with a reason.

:func:`read_incidents` reads police.uk street CSVs (current and 2011 formats), police.uk API
records (JSON or flattened CSV), generic CSV with a :class:`ColumnMapping`, and GeoJSON /
GeoPackage / GeoParquet, from a file, a folder, a glob or a list (``.gz`` works), and returns
an :class:`IncidentTable` in the canonical schema, in a projected metric CRS.

Canonical columns (``IncidentTable.frame``)
-------------------------------------------
``incident_id`` (str, unique), ``occurred`` (datetime64[ns]; the month start when
``date_precision == "month"``), ``date_precision`` (``"month"``, ``"day"`` or ``"minute"``),
``crime_type`` (canonical slug, see :mod:`geodemand.demand.harm`), ``x``, ``y`` (metres in the
analysis CRS), ``location_key`` (stable id of the place: ``pt:<lon>,<lat>`` for police.uk map
points and other lon/lat input, ``xy:<x>,<y>`` for projected input, ``id:<value>`` for a mapped
location column; a ``location_key`` column of geodemand's own output is kept as it is),
``source_file``,
``source_row`` (1-based record number in its file: the first data record is 1, i.e. line 2 of a
CSV with a header), ``synthetic`` (bool), and the input's other columns prefixed ``raw_``.

Rejection reasons (``IncidentTable.rejects["reason"]``), checked in this order
------------------------------------------------------------------------------
``empty_record``, ``non_point_geometry``, ``missing_coordinates``, ``non_numeric_coordinates``,
``coordinates_out_of_range`` (|lon| > 180 or |lat| > 90), ``likely_swapped_lon_lat`` (outside
the analysis CRS's area but inside it with lon/lat swapped), ``coordinates_outside_crs_area``,
``missing_date``, ``unparseable_date``, ``unknown_crime_type`` (only with ``strict_types``),
``not_force_record`` (only with ``force_only``), ``duplicate_id`` (the first record with an id
is kept, in file then record order).

``accepted + rejected == read`` is checked for every file; a failure is an internal error.
"""

from __future__ import annotations

import glob as globmod
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from pyproj import CRS, Transformer

from geodemand._announce import announce
from geodemand._hashing import sha256_file
from geodemand.errors import InputFormatError, InternalConsistencyError, InvalidParameterError
from geodemand.ingest.readers import VECTOR_SUFFIXES, ColumnMapping, RawBatch, read_one
from geodemand.ingest.vocabulary import normalise_crime_type

__all__ = ["ColumnMapping", "IncidentTable", "read_incidents", "REASONS", "CANONICAL_COLUMNS"]

REASONS = (
    "empty_record",
    "non_point_geometry",
    "missing_coordinates",
    "non_numeric_coordinates",
    "coordinates_out_of_range",
    "likely_swapped_lon_lat",
    "coordinates_outside_crs_area",
    "missing_date",
    "unparseable_date",
    "unknown_crime_type",
    "not_force_record",
    "duplicate_id",
)

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

BRITISH_CRS = "EPSG:27700"
# EPSG:27700's area of use (lon/lat): British data are recognised by their median point in it
GB_AREA = (-9.01, 49.75, 2.01, 61.01)
# points may lie this far around it (padded 1 degree) before they are rejected as outside
GB_BOUNDS = (-10.0, 48.75, 3.0, 62.0)
INPUT_SUFFIXES = (".csv", ".json", ".txt", *VECTOR_SUFFIXES)


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
        ``source_file, source_row, reason, detail, raw`` (raw = the record as JSON text).
    accounting : DataFrame
        One row per file plus a ``TOTAL`` row: ``file, format, read, accepted, rejected`` and
        one column per rejection reason that occurred.
    sources : tuple of dict
        Per file: ``path, format, sha256, bytes, read, accepted, rejected``.
    unknown_crime_types : dict
        Crime-type names not in the vocabulary, with their counts (kept unless strict).
    params : dict
        The options that made this table.
    """

    frame: pd.DataFrame
    crs: str
    rejects: pd.DataFrame
    accounting: pd.DataFrame
    sources: tuple[dict, ...]
    unknown_crime_types: dict[str, int] = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    @property
    def synthetic(self) -> bool:
        """True if any incident is synthetic."""
        return bool(self.frame["synthetic"].any()) if len(self.frame) else False

    @property
    def date_precision(self) -> str:
        """The coarsest date precision present (``month`` > ``day`` > ``minute``)."""
        present = set(self.frame["date_precision"].unique())
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


# ---------------------------------------------------------------------------- paths
def resolve_paths(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    """Expand files, folders (their incident files, sorted) and globs into a file list."""
    if isinstance(paths, str | Path):
        paths = [paths]
    out: list[Path] = []
    for item in paths:
        text = str(item)
        p = Path(text)
        if any(ch in text for ch in "*?["):
            matches = sorted(Path(m) for m in globmod.glob(text, recursive=True))
            if not matches:
                raise InputFormatError(f"{text}: the pattern matches no file")
            out.extend(m for m in matches if m.is_file())
        elif p.is_dir():
            found = sorted(
                f
                for f in p.rglob("*")
                if f.is_file() and f.name.lower().removesuffix(".gz").endswith(INPUT_SUFFIXES)
            )
            if not found:
                raise InputFormatError(
                    f"{p}: folder has no incident files (expected {', '.join(INPUT_SUFFIXES)}, "
                    "optionally .gz)"
                )
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise InputFormatError(f"{p}: no such file or folder")
    seen: set[Path] = set()
    unique = []
    for p in out:
        r = p.resolve()
        if r not in seen:
            seen.add(r)
            unique.append(p)
    return unique


# ---------------------------------------------------------------------------- CRS choice
def choose_crs(lon: np.ndarray, lat: np.ndarray, requested: str | None) -> str:
    """The analysis CRS: ``requested``, else EPSG:27700 for British data, else UTM.

    The choice is announced. British = the median lon/lat lies in Great Britain's box.
    """
    if requested is not None:
        crs = CRS.from_user_input(requested)
        if not crs.is_projected:
            raise InvalidParameterError(
                f"analysis CRS {requested!r} is not projected; give a metric CRS (e.g. EPSG:27700)"
            )
        return crs.to_string()
    if len(lon) == 0:
        raise InvalidParameterError("no valid coordinates to choose an analysis CRS from")
    mlon, mlat = float(np.median(lon)), float(np.median(lat))
    if GB_AREA[0] <= mlon <= GB_AREA[2] and GB_AREA[1] <= mlat <= GB_AREA[3]:
        announce(
            "analysis CRS EPSG:27700 (British National Grid, metres): the data lie in Great Britain"
        )
        return BRITISH_CRS
    zone = int(np.floor((mlon + 180.0) / 6.0)) % 60 + 1
    code = (32600 if mlat >= 0 else 32700) + zone
    announce(
        f"analysis CRS EPSG:{code} (WGS 84 / UTM zone {zone}{'N' if mlat >= 0 else 'S'}, metres), "
        f"from the data's median position ({mlon:.3f}, {mlat:.3f})"
    )
    return f"EPSG:{code}"


@lru_cache(maxsize=32)
def _transformer(src: str, dst: str) -> Transformer:
    """A cached lon/lat-ordered transformer between two CRSs."""
    return Transformer.from_crs(src, dst, always_xy=True)


def _area_bounds(crs: str) -> tuple[float, float, float, float]:
    """The lon/lat box in which points may lie for ``crs`` (its area of use, padded)."""
    if crs == BRITISH_CRS:
        return GB_BOUNDS
    c = CRS.from_user_input(crs)
    area = c.area_of_use
    if area is None:
        return (-180.0, -90.0, 180.0, 90.0)
    pad = 3.0  # UTM zones are 6 degrees wide; data near a zone edge is still fine
    return (area.west - pad, area.south - pad, area.east + pad, area.north + pad)


# ---------------------------------------------------------------------------- validation
@dataclass
class _Checked:
    """One file's records after parsing, before the cross-file duplicate check."""

    batch: RawBatch
    reason: np.ndarray  # object array, "" = accepted so far
    detail: np.ndarray
    lon: np.ndarray  # geographic lon/lat for lon/lat input (NaN otherwise)
    lat: np.ndarray
    a: np.ndarray  # numeric coordinates as given
    b: np.ndarray
    occurred: np.ndarray
    precision: np.ndarray
    crime: np.ndarray
    known: np.ndarray


def _parse_dates(dates: pd.Series, precision: str | None, fmt: str | None):
    """Parse dates; return (datetime64[ns] array with NaT, precision array).

    Text is parsed (ISO 8601, then day-first); a datetime column is used as it is. Precision
    is "month" when given, else "minute" where the value has a time of day, else "day".
    """
    if pd.api.types.is_datetime64_any_dtype(dates):
        parsed = dates
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
        values = parsed.to_numpy(dtype="datetime64[ns]")
        if precision == "month":
            return values, np.full(len(values), "month", dtype=object)
        has_time = (values - values.astype("datetime64[D]")) != np.timedelta64(0, "ns")
        return values, np.where(has_time, "minute", "day").astype(object)
    text = dates.astype(str).str.strip()
    if precision == "month":
        parsed = pd.to_datetime(text, format=fmt or "%Y-%m", errors="coerce")
        return parsed.to_numpy(dtype="datetime64[ns]"), np.full(len(text), "month", dtype=object)
    if fmt:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
    else:
        parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
        retry = parsed.isna() & text.ne("")
        if retry.any():  # e.g. "01/02/2016": day first, as in UK data
            parsed = parsed.where(
                ~retry, pd.to_datetime(text[retry], dayfirst=True, errors="coerce")
            )
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    has_time = text.str.contains(r"\d[T ]\d{1,2}:\d{2}", regex=True)
    prec = np.where(has_time, "minute", "day").astype(object)
    return parsed.to_numpy(dtype="datetime64[ns]"), prec


def _is_blank(column: pd.Series) -> np.ndarray:
    """True where a value is empty: NaN/NaT, or text that is empty after stripping."""
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_datetime64_any_dtype(column):
        return column.isna().to_numpy()
    return (column.astype(str).str.strip() == "").to_numpy() | column.isna().to_numpy()


def _coordinate(column: pd.Series) -> tuple[np.ndarray, np.ndarray, pd.Series | None]:
    """Numeric values, a missing mask and (for text input) the stripped text."""
    if pd.api.types.is_numeric_dtype(column):
        values = column.to_numpy(dtype=float)
        return values, np.isnan(values), None
    text = column.astype(str).str.strip()
    missing = ((text == "") | text.str.lower().isin(["nan", "none", "null"])).to_numpy()
    return pd.to_numeric(text, errors="coerce").to_numpy(dtype=float), missing, text


def _check_batch(
    batch: RawBatch, strict_types: bool, crime_mapping: dict[str, str] | None
) -> _Checked:
    f = batch.frame
    n = len(f)
    reason = np.full(n, "", dtype=object)
    detail = np.full(n, "", dtype=object)

    def flag(mask: np.ndarray, code: str, text) -> None:
        """Give ``code`` to rows in ``mask`` without a reason; ``text`` may be a callable
        building the detail for just those rows (an index array)."""
        m = mask & (reason == "")
        if not m.any():
            return
        reason[m] = code
        detail[m] = text(np.flatnonzero(m)) if callable(text) else text

    std_cols = [c for c in ("id", "date", "crime", "a", "b", "location") if c in f.columns]
    blank = np.ones(n, dtype=bool)
    for col in std_cols:
        blank &= _is_blank(f[col])
    if blank.any():  # confirm on the other columns of the few candidate rows
        for col in (c for c in f.columns if c.startswith("raw_")):
            blank[blank] &= _is_blank(f[col][blank])
    flag(blank, "empty_record", "the record has no values")
    if "geometry_problem" in f.columns:
        gp = f["geometry_problem"].to_numpy(dtype=object) == "non_point_geometry"
        flag(gp, "non_point_geometry", "geometry is not a point")

    a, a_missing, _ = _coordinate(f["a"])
    b, b_missing, _ = _coordinate(f["b"])
    names = ("longitude", "latitude") if batch.coords == "lonlat" else ("x", "y")

    def values_text(rows: np.ndarray, tail: str) -> np.ndarray:
        ra = f["a"].astype(str).to_numpy()[rows]
        rb = f["b"].astype(str).to_numpy()[rows]
        return np.array(
            [f"{names[0]}={x}, {names[1]}={y}: {tail}" for x, y in zip(ra, rb, strict=True)],
            dtype=object,
        )

    flag(a_missing | b_missing, "missing_coordinates", f"{names[0]}/{names[1]} empty")
    nonnum = ~(np.isfinite(a) & np.isfinite(b))
    flag(nonnum, "non_numeric_coordinates", lambda r: values_text(r, "expected finite numbers"))
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    if batch.coords == "lonlat":
        bad = (np.abs(a) > 180) | (np.abs(b) > 90)
        flag(
            bad & ~nonnum,
            "coordinates_out_of_range",
            lambda r: values_text(r, "expected |longitude| <= 180 and |latitude| <= 90"),
        )
        lon, lat = a.copy(), b.copy()
    else:
        ok = reason == ""
        if ok.any():
            to_geo = _transformer(batch.source_crs, "EPSG:4326")
            glon, glat = to_geo.transform(a[ok], b[ok])
            lon[ok], lat[ok] = glon, glat

    if "precision" in f.columns:
        occurred, precision = _parse_dates(f["date"], None, batch.date_format)
        given = f["precision"].astype(str).to_numpy(dtype=object)
        valid = np.isin(given, ["month", "day", "minute"])
        precision = np.where(valid, given, precision)
    else:
        occurred, precision = _parse_dates(f["date"], batch.date_precision, batch.date_format)
    flag(_is_blank(f["date"]), "missing_date", "date empty")
    expected = batch.date_format or "an ISO date or date-time"
    flag(
        np.isnat(occurred),
        "unparseable_date",
        lambda r: ("date=" + f["date"].astype(str).iloc[r] + f": expected {expected}").to_numpy(),
    )

    mapping = dict(batch.crime_mapping)
    if crime_mapping:
        mapping.update(crime_mapping)
    crime, known = normalise_crime_type(f["crime"].astype(str).to_numpy(), mapping or None)
    crime = crime.to_numpy(dtype=object)
    known = known.to_numpy(dtype=bool)
    if strict_types:
        flag(
            ~known,
            "unknown_crime_type",
            lambda r: (
                "crime type " + f["crime"].astype(str).iloc[r] + " is not in the vocabulary"
            ).to_numpy(),
        )
    return _Checked(batch, reason, detail, lon, lat, a, b, occurred, precision, crime, known)


def _round_key(values: np.ndarray, decimals: int) -> np.ndarray:
    return np.char.mod(f"%.{decimals}f", np.round(values, decimals))


def _flag(c: _Checked, mask: np.ndarray, code: str, text) -> None:
    """Give ``code`` to rows in ``mask`` that have no reason yet."""
    m = mask & (c.reason == "")
    c.reason[m] = code
    c.detail[m] = text[m] if isinstance(text, np.ndarray) else text


def _area_check(checked: list[_Checked], crs: str, west, south, east, north) -> None:
    """Reject points outside the analysis CRS's area (and flag likely lon/lat swaps)."""
    for c in checked:
        ok = c.reason == ""
        inside = (c.lon >= west) & (c.lon <= east) & (c.lat >= south) & (c.lat <= north)
        swapped = (c.lat >= west) & (c.lat <= east) & (c.lon >= south) & (c.lon <= north)
        if c.batch.coords == "lonlat":
            _flag(
                c,
                ok & ~inside & swapped,
                "likely_swapped_lon_lat",
                "outside the analysis area but inside it with longitude and latitude swapped; "
                "check the column mapping",
            )
        outside = (c.reason == "") & ~inside
        if outside.any():
            rows = np.flatnonzero(outside)
            text = np.array(
                [f"lon,lat={c.lon[i]},{c.lat[i]} outside the area of {crs} (lon {west}..{east}, "
                 f"lat {south}..{north})" for i in rows],
                dtype=object,
            )
            c.reason[rows] = "coordinates_outside_crs_area"
            c.detail[rows] = text


def _flag_duplicate_ids(checked: list[_Checked]) -> list[np.ndarray]:
    """Final ids per file; later records repeating an earlier id are ``duplicate_id``.

    Records without an id get ``<file name>#<record number>`` (the path if two inputs share
    a file name). The first occurrence (in file,
    then record order) is kept.
    """
    all_ids = []
    names = [Path(c.batch.path).name for c in checked]
    if len(set(names)) < len(names):  # same file name in two folders: use the paths
        names = [c.batch.path for c in checked]
    for c, name in zip(checked, names, strict=True):
        f = c.batch.frame
        n = len(f)
        ids = f["id"].astype(str).str.strip().to_numpy(dtype=object)
        gen = np.char.add(f"{name}#", np.arange(1, n + 1).astype(str))
        all_ids.append(np.where(ids != "", ids, gen.astype(object)))
    flat = pd.Series(np.concatenate(all_ids)) if all_ids else pd.Series([], dtype=object)
    ok = np.concatenate([c.reason == "" for c in checked]) if checked else np.zeros(0, bool)
    dup = np.zeros(len(flat), dtype=bool)
    idx = np.flatnonzero(ok)
    dup[idx] = flat.iloc[idx].duplicated(keep="first").to_numpy()
    start = 0
    for c, ids in zip(checked, all_ids, strict=True):
        d = dup[start : start + len(ids)]
        start += len(ids)
        _flag(
            c,
            d,
            "duplicate_id",
            np.char.add("incident id ", ids.astype(str)).astype(object)
            + " already seen (first occurrence kept)",
        )
    return all_ids


def _finish(
    checked: list[_Checked], crs: str
) -> tuple[pd.DataFrame, pd.DataFrame, list[dict], dict[str, int]]:
    west, south, east, north = _area_bounds(crs)
    frames, rejects, counts = [], [], []
    unknown: dict[str, int] = {}
    _area_check(checked, crs, west, south, east, north)
    final_ids = _flag_duplicate_ids(checked)
    for c, ids in zip(checked, final_ids, strict=True):
        batch, f = c.batch, c.batch.frame
        n = len(f)
        reason, detail = c.reason, c.detail
        rows = np.arange(1, n + 1)

        acc = reason == ""
        # project accepted rows
        if batch.coords == "lonlat":
            key = "EPSG:4326"
            src_a, src_b = c.lon[acc], c.lat[acc]
        else:
            key = batch.source_crs
            src_a, src_b = c.a[acc], c.b[acc]
        if CRS.from_user_input(key).equals(CRS.from_user_input(crs)):
            x, y = src_a.astype(float), src_b.astype(float)
        else:
            tr = _transformer(key, crs)
            x, y = tr.transform(src_a, src_b)
        if batch.location_kind == "verbatim":
            loc = f["location"].astype(str).to_numpy()[acc]
        elif batch.location_kind == "column":
            loc = np.char.add("id:", f["location"].astype(str).to_numpy()[acc].astype(str))
        elif batch.coords == "lonlat":
            loc = np.char.add(
                np.char.add("pt:", _round_key(c.lon[acc], 6)),
                np.char.add(",", _round_key(c.lat[acc], 6)),
            )
        else:
            loc = np.char.add(
                np.char.add("xy:", _round_key(c.a[acc], 1)),
                np.char.add(",", _round_key(c.b[acc], 1)),
            )
        out = pd.DataFrame(
            {
                "incident_id": ids[acc].astype(str),
                "occurred": c.occurred[acc],
                "date_precision": c.precision[acc],
                "crime_type": c.crime[acc],
                "x": np.asarray(x, dtype=np.float64),
                "y": np.asarray(y, dtype=np.float64),
                "location_key": loc.astype(object),
                "source_file": batch.path,
                "source_row": rows[acc],
                "synthetic": batch.synthetic,
            }
        )
        raw_cols = [col for col in f.columns if col.startswith("raw_")]
        for col in raw_cols:
            out[col] = f[col].to_numpy()[acc]
        frames.append(out)
        for name, k in (
            pd.Series(f["crime"].astype(str).to_numpy()[acc & ~c.known]).value_counts().items()
        ):
            unknown[name] = unknown.get(name, 0) + int(k)

        rej = ~acc
        if rej.any():
            raw_json = (
                f.loc[rej]
                .drop(
                    columns=[col for col in ("geometry_problem", "precision") if col in f.columns]
                )
                .to_dict(orient="records")
            )
            rejects.append(
                pd.DataFrame(
                    {
                        "source_file": batch.path,
                        "source_row": rows[rej],
                        "reason": reason[rej],
                        "detail": detail[rej],
                        "raw": [json.dumps(r, ensure_ascii=False, default=str) for r in raw_json],
                    }
                )
            )
        by_reason = pd.Series(reason[rej]).value_counts().to_dict()
        n_acc, n_rej = int(acc.sum()), int(rej.sum())
        if n_acc + n_rej != n:
            raise InternalConsistencyError(
                f"{batch.path}: accepted {n_acc} + rejected {n_rej} != read {n}"
            )
        counts.append(
            {
                "file": batch.path,
                "format": batch.format,
                "read": n,
                "accepted": n_acc,
                "rejected": n_rej,
                **{r: int(by_reason.get(r, 0)) for r in REASONS},
            }
        )
    frame = (
        pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CANONICAL_COLUMNS)
    )
    rej_frame = (
        pd.concat(rejects, ignore_index=True)
        if rejects
        else pd.DataFrame(columns=["source_file", "source_row", "reason", "detail", "raw"])
    )
    return frame, rej_frame, counts, unknown


def _accounting_frame(counts: list[dict]) -> pd.DataFrame:
    table = pd.DataFrame(counts)
    total = {"file": "TOTAL", "format": ""}
    for col in table.columns[2:]:
        total[col] = int(table[col].sum())
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    keep = ["file", "format", "read", "accepted", "rejected"] + [
        r for r in REASONS if table[r].sum() > 0
    ]
    return table[keep]


def read_incidents(
    paths: str | Path | Sequence[str | Path],
    *,
    format: str = "auto",  # noqa: A002 - the natural name for users
    mapping: ColumnMapping | dict | None = None,
    crs: str | None = None,
    strict_types: bool = False,
    crime_type_mapping: dict[str, str] | None = None,
    force_only: bool = False,
) -> IncidentTable:
    """Read incident files into the canonical schema, accounting for every record.

    Parameters
    ----------
    paths : path, glob, folder or list of them
        Input files; folders are searched recursively for ``.csv``, ``.json``, ``.geojson``,
        ``.gpkg``, ``.parquet`` (optionally ``.gz``), in sorted order.
    format : str
        ``"auto"`` (detect from header/suffix), ``"police-uk-street"``, ``"police-uk-2011"``,
        ``"police-uk-api"``, ``"csv"`` or ``"vector"``.
    mapping : ColumnMapping or dict, optional
        Column mapping for generic CSV / vector input (auto-detected if absent, announced).
    crs : str, optional
        Analysis CRS (projected). Default: EPSG:27700 for British data, else the data's UTM
        zone; the choice is announced.
    strict_types : bool
        Reject records whose crime type is not in the vocabulary (``unknown_crime_type``);
        otherwise they are kept under their raw name and listed in ``unknown_crime_types``.
    crime_type_mapping : dict, optional
        Extra ``{raw name: canonical slug}`` entries for this source.
    force_only : bool
        For police.uk API records, keep only ``location_type == "Force"`` rows; the others
        (British Transport Police) are rejected as ``not_force_record``. Default False keeps
        them.

    Returns
    -------
    IncidentTable
    """
    if isinstance(mapping, dict):
        mapping = ColumnMapping(**mapping)
    files = resolve_paths(paths)
    if not files:
        raise InputFormatError("no input files given")
    batches = [read_one(p, format, mapping) for p in files]
    checked = [_check_batch(b, strict_types, crime_type_mapping) for b in batches]
    if force_only:
        for c in checked:
            col = "raw_location_type"
            if col in c.batch.frame.columns:
                m = (c.batch.frame[col].astype(str) != "Force").to_numpy() & (c.reason == "")
                c.reason[m] = "not_force_record"
                c.detail[m] = "location_type is not Force (e.g. British Transport Police)"
    # the CRS is chosen from every record with valid coordinates (whatever else is wrong)
    lon = np.concatenate([c.lon for c in checked])
    lat = np.concatenate([c.lat for c in checked])
    fin = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90)
    if crs is None and any(c.batch.source_crs == BRITISH_CRS for c in checked):
        crs = BRITISH_CRS
        announce("analysis CRS EPSG:27700 (British National Grid, metres): British input")
    analysis_crs = choose_crs(lon[fin], lat[fin], crs)
    frame, rejects, counts, unknown = _finish(checked, analysis_crs)
    if unknown:
        listed = ", ".join(f"{k!r} ({v})" for k, v in sorted(unknown.items()))
        announce(
            f"crime types not in the vocabulary, kept under their own names: {listed}; map them "
            "with crime_type_mapping / --crime-type-map or reject them with strict_types"
        )
    frame.attrs["crs"] = analysis_crs
    sources = []
    for p, b, cnt in zip(files, batches, counts, strict=True):
        sources.append(
            {
                "path": str(p),
                "format": b.format,
                "sha256": sha256_file(p),
                "bytes": p.stat().st_size,
                "read": cnt["read"],
                "accepted": cnt["accepted"],
                "rejected": cnt["rejected"],
            }
        )
    params = {
        "format": format,
        "mapping": mapping.to_record() if mapping else None,
        "crs": analysis_crs,
        "strict_types": strict_types,
        "crime_type_mapping": crime_type_mapping,
        "force_only": force_only,
    }
    return IncidentTable(
        frame=frame,
        crs=analysis_crs,
        rejects=rejects,
        accounting=_accounting_frame(counts),
        sources=tuple(sources),
        unknown_crime_types=unknown,
        params=params,
    )
