"""Realistic synthetic incidents at any size, calibrated on a real incident file.

:func:`synthetic_incidents` draws ``n`` incidents over a period (by default the two years
ending on :data:`DEFAULT_END_DATE`) and returns an
:class:`~geodemand.ingest.incidents.IncidentTable` in the canonical schema, with ``synthetic =
True`` on every row. :func:`write_synthetic` writes it as GeoParquet (default) or CSV, labelled
synthetic in a column and in the file metadata, atomically and byte-for-byte reproducibly.

How incidents are drawn
-----------------------
Places and crime types
    The calibration file's incidents (default: the bundled real West Midlands police.uk month,
    2018-06) are resampled with replacement: each synthetic incident takes the (crime type,
    map point) of a uniformly drawn real incident. This is a multinomial draw over
    (crime type, map point) cells with the real relative frequencies, so the crime-type mix
    and the concentration of demand on places are those of the real file, up to sampling
    noise. Places are the real police.uk map points: ``location_key``, ``x`` and ``y`` are
    the calibration's own values. Calibration incidents outside the boundary layer's LPUs
    are dropped first (clipping, announced); the remaining map points are labelled once with
    their ``lpu`` and ``neighbourhood``.

    Sampling noise matters at small ``n``: a draw of the same size as a real month (~25,000
    incidents over ~11,400 map points) hits only ~8,800 distinct points, and the top 5 % of
    them hold about one point less of the demand than in the real month (measured: 21.0-21.3
    % against 22.2 %); at 24 times the calibration size every point is hit and the share
    converges to the real one.
Times (police.uk publishes no times, so these are documented fixed profiles)
    Each crime type has an hour-of-day profile (:data:`HOUR_PROFILES`, 24 relative weights)
    and a day-of-week profile (:data:`WEEKDAY_PROFILES`, Monday to Sunday). A background
    incident's day is drawn from the period's days with probability proportional to its
    weekday's weight, its hour from the hour profile and its minute uniformly; timestamps
    are to the minute (``date_precision = "minute"``). The shapes follow commonly reported
    patterns (burglary peaks in the evening, violence and public order late at night and at
    weekends, shoplifting in shop hours, vehicle crime overnight); they are illustrative,
    not measured, and :data:`PROFILE_VERSION` names them. Types without a profile use
    ``"default"``.
Near-repeat contagion (a self-exciting, Hawkes-type cluster process)
    For the types in ``branching`` (default :data:`DEFAULT_BRANCHING`: burglary 0.3,
    vehicle crime 0.2, robbery 0.2), each incident triggers a Poisson number of offspring
    with mean equal to the branching ratio; offspring trigger their own (cascades). An
    offspring happens ``k`` whole days after its parent, ``k = 0 .. max_delay_days - 1``,
    with probability proportional to ``exp(-k / delay_days)`` times the type's weekday
    weight of the offspring's day (a discretised, truncated exponential delay), at its own
    time of day drawn from the type's hour profile; so every offspring lies within
    ``max_delay_days`` days of its parent. Its place is a calibration map point within
    ``radius_m`` metres of the parent's (inclusive, the parent's own point included), chosen
    in proportion to the points' calibration incident counts. The number of incidents of
    each type is fixed by the first draw: background incidents are used as needed and
    cascades are cut when the type's count is reached; offspring that would fall after the
    period's end are not created. In a stationary Hawkes process the share of offspring is
    the branching ratio; here it is recorded per type in ``params["offspring"]``.
Order and ids
    Incidents are sorted by time (ties by crime type, then place) and numbered in that
    order: ``incident_id = "SYN-<seed>-<number>"`` (1-based, zero-padded to the width of
    ``n``), ``source_row`` = the number, ``source_file = "synthetic:seed=<seed>"``.

Everything depends only on the arguments (numpy ``PCG64`` generator seeded with ``seed``),
so the same arguments give the same incidents and byte-identical files.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geodemand._announce import announce
from geodemand._atomic import write_with
from geodemand._hashing import sha256_file
from geodemand._paths import DATA_DIR, WM_BOUNDARIES
from geodemand.errors import InputFormatError, InvalidParameterError

__all__ = [
    "Calibration",
    "DEFAULT_BRANCHING",
    "DEFAULT_END_DATE",
    "GENERATOR_VERSION",
    "HOUR_PROFILES",
    "WEEKDAY_PROFILES",
    "demo_history_path",
    "load_calibration",
    "synthetic_incidents",
    "write_synthetic",
]

GENERATOR_VERSION = "2"  # 2: location_label (the real map points' descriptions)
PROFILE_VERSION = "illustrative-1"
DEFAULT_END_DATE = "2026-10-31"
DEFAULT_CALIBRATION = DATA_DIR / "incidents" / "west-midlands" / "2018-06-west-midlands-api.csv.gz"
DEFAULT_BOUNDARIES = WM_BOUNDARIES
DEMO_DIR = DATA_DIR / "incidents" / "west-midlands-synthetic"
DEMO_NAME = "west-midlands-synthetic-2y.parquet"
DEMO_SEED = 0
DEMO_MONTHS = 24

DEFAULT_BRANCHING: Mapping[str, float] = {"burglary": 0.3, "vehicle-crime": 0.2, "robbery": 0.2}

_MINUTES_PER_DAY = 1440
_ROW_GROUP = 1 << 20

# Hour-of-day profiles: relative weights for hours 00 .. 23 (illustrative, see module doc).
_LATE_NIGHT = (8, 7.5, 6, 4, 2.5, 1.5, 1.2, 1.5, 2, 2.5, 3, 3.5,
               4, 4, 4.5, 5, 5.5, 6, 6, 6, 6.5, 7, 8, 8.5)  # fmt: skip
HOUR_PROFILES: dict[str, tuple[float, ...]] = {
    "default": (3, 2, 1.5, 1, 1, 1, 1.5, 2.5, 3.5, 4, 4.5, 5,
                5, 5, 5, 5.5, 6, 6, 6, 5.5, 5, 4.5, 4, 3.5),
    "burglary": (3, 2.5, 2, 1.5, 1, 1, 1.5, 2.5, 3.5, 4, 4.5, 4.5,
                 4.5, 4.5, 5, 5.5, 6.5, 8, 9, 9, 8.5, 7, 5.5, 4),
    "violence-and-sexual-offences": _LATE_NIGHT,
    "violent-crime-2011": _LATE_NIGHT,
    "public-order": _LATE_NIGHT,
    "public-disorder-and-weapons": _LATE_NIGHT,
    "anti-social-behaviour": (3.5, 2.5, 1.8, 1.2, 0.8, 0.6, 0.8, 1.5, 2.5, 3, 3.5, 4,
                              4.5, 5, 5.5, 6.5, 7.5, 8, 8.5, 8.5, 8, 7, 5.5, 4.5),
    "shoplifting": (0.2, 0.1, 0.1, 0.1, 0.1, 0.1, 0.3, 1, 3, 5, 6.5, 7.5,
                    8, 8, 8.5, 9, 9, 8, 6.5, 5, 3.5, 2, 1, 0.5),
    "vehicle-crime": (7, 7, 6.5, 6, 5, 4, 3, 2.5, 2.5, 2.5, 2.5, 2.5,
                      2.5, 2.5, 2.5, 3, 3.5, 4, 4.5, 5, 5.5, 6, 6.5, 7),
    "robbery": (4, 3, 2, 1.5, 1, 0.5, 0.5, 1, 1.5, 2, 2.5, 3,
                3.5, 4, 4.5, 5.5, 6.5, 7, 7.5, 7.5, 7.5, 7, 6, 5),
    "theft-from-the-person": (3, 2.5, 1.5, 1, 0.5, 0.5, 0.5, 1, 2, 3, 4, 5,
                              6, 6.5, 6.5, 6.5, 7, 7, 6.5, 6, 5.5, 5, 4.5, 4),
    "bicycle-theft": (1, 0.7, 0.5, 0.5, 0.4, 0.5, 1, 3, 5, 6, 6, 6,
                      6.5, 6.5, 6.5, 6.5, 7, 7.5, 6.5, 5, 3.5, 2.5, 2, 1.5),
    "drugs": (4, 3.5, 2.5, 1.5, 1, 0.6, 0.6, 1, 2, 3, 4, 5,
              6, 6.5, 7, 7.5, 8, 8, 8, 8, 7.5, 7, 6, 5),
    "possession-of-weapons": (4, 3.5, 2.5, 1.5, 1, 0.6, 0.6, 1, 2, 3, 4, 5,
                              6, 6.5, 7, 7.5, 8, 8, 8, 8, 7.5, 7, 6, 5),
    "criminal-damage-arson": (5, 4, 3, 2, 1.5, 1, 1, 2, 3, 3.5, 4, 4,
                              4, 4, 4.5, 5, 5.5, 6, 7, 7.5, 7.5, 7, 6.5, 6),
}  # fmt: skip

# Day-of-week profiles: relative weights Monday .. Sunday (illustrative, see module doc).
_WEEKEND_NIGHTS = (0.85, 0.8, 0.8, 0.85, 1.1, 1.45, 1.35)
WEEKDAY_PROFILES: dict[str, tuple[float, ...]] = {
    "default": (1, 1, 1, 1, 1.05, 1, 0.95),
    "burglary": (1.05, 1, 1, 1, 1.05, 0.95, 0.95),
    "violence-and-sexual-offences": _WEEKEND_NIGHTS,
    "violent-crime-2011": _WEEKEND_NIGHTS,
    "public-order": _WEEKEND_NIGHTS,
    "public-disorder-and-weapons": _WEEKEND_NIGHTS,
    "anti-social-behaviour": (0.9, 0.9, 0.9, 0.95, 1.1, 1.2, 1.05),
    "shoplifting": (1.05, 1.05, 1.05, 1.05, 1.05, 1.1, 0.65),
    "vehicle-crime": (1, 1, 1, 1, 1, 1.05, 1),
    "robbery": (0.9, 0.9, 0.95, 1, 1.1, 1.15, 1),
    "theft-from-the-person": (0.9, 0.9, 0.9, 0.95, 1.1, 1.3, 1.0),
    "bicycle-theft": (1.05, 1.1, 1.1, 1.05, 1, 0.9, 0.8),
    "drugs": (0.95, 1, 1, 1, 1.05, 1.05, 0.95),
    "possession-of-weapons": (0.95, 1, 1, 1, 1.05, 1.05, 0.95),
    "criminal-damage-arson": (0.95, 0.95, 0.95, 0.95, 1.05, 1.1, 1.05),
}


def hour_profile(crime_type: str) -> np.ndarray:
    """Hour-of-day shares (24, summing to 1) used for ``crime_type``."""
    w = np.asarray(HOUR_PROFILES.get(crime_type, HOUR_PROFILES["default"]), dtype=np.float64)
    return w / w.sum()


def weekday_profile(crime_type: str) -> np.ndarray:
    """Day-of-week weights (7, Monday first, summing to 1) used for ``crime_type``."""
    w = np.asarray(WEEKDAY_PROFILES.get(crime_type, WEEKDAY_PROFILES["default"]), np.float64)
    return w / w.sum()


# ---------------------------------------------------------------------------- calibration
@dataclass(frozen=True)
class Calibration:
    """Places and crime-type mix taken from a real incident file.

    Calibration rows are sorted by (crime type, place) so that the draw does not depend on
    the file's record order.

    Attributes
    ----------
    types : tuple of str
        Crime types present, sorted.
    row_type : int16 array
        Type code (index into ``types``) of each calibration incident kept.
    row_place : int32 array
        Place code (index into the ``place_*`` arrays) of each calibration incident kept.
    place_key : ndarray of str
        ``location_key`` of each place, sorted.
    place_x, place_y : float64 arrays
        Place coordinates in metres (``crs``).
    place_lpu, place_neighbourhood : ndarray of str or None
        Area labels of each place (None without boundaries).
    place_label : ndarray of str or None
        The police.uk map-point description of each place (``location_label``, e.g. "On or
        near Swan Street"; None when the calibration has none).
    crs : str
        Projected CRS of the coordinates.
    source : dict
        ``path, sha256, bytes, read, accepted`` of the calibration input.
    n_clipped : int
        Calibration incidents dropped because their place lies outside every LPU.
    boundaries : str
        Description of the boundary layers used ("none" without).
    """

    types: tuple[str, ...]
    row_type: np.ndarray
    row_place: np.ndarray
    place_key: np.ndarray
    place_x: np.ndarray
    place_y: np.ndarray
    place_lpu: np.ndarray | None
    place_neighbourhood: np.ndarray | None
    crs: str
    place_label: np.ndarray | None = None
    source: dict = field(default_factory=dict)
    n_clipped: int = 0
    boundaries: str = "none"

    @property
    def n_incidents(self) -> int:
        """Calibration incidents kept (after clipping)."""
        return int(self.row_type.size)

    @property
    def place_counts(self) -> np.ndarray:
        """Calibration incidents per place (all types), int64."""
        return np.bincount(self.row_place, minlength=self.place_key.size).astype(np.int64)


_DEFAULT_CACHE: dict[tuple, Calibration] = {}


def describe_path(path: str | os.PathLike[str]) -> str:
    """A path as recorded in parameters: relative to the repository for bundled data."""
    p = Path(path)
    try:
        return p.resolve().relative_to(DATA_DIR.parent).as_posix()
    except ValueError:
        return str(path)


def _default_areas(crs: str):
    from geodemand.ingest.areas import read_areas

    b = DEFAULT_BOUNDARIES
    return read_areas(b / "lpus.geojson", b / "neighbourhoods.geojson", crs=crs)


def _resolve_areas(boundaries: Any, crs: str, default: bool):
    """(Areas or None, description) for the ``boundaries`` argument."""
    from geodemand.ingest.areas import Areas, read_areas

    if boundaries is False:
        return None, "none"
    if boundaries is None:
        if not default:
            announce(
                "synthetic incidents: no boundaries given for a non-default calibration file; "
                "places are not clipped or labelled with lpu/neighbourhood"
            )
            return None, "none"
        announce(
            f"synthetic incidents: boundaries = bundled West Midlands layers ({DEFAULT_BOUNDARIES})"
        )
        return _default_areas(crs), describe_path(DEFAULT_BOUNDARIES)
    if isinstance(boundaries, Areas):
        source = str(boundaries.params.get("lpus", "<Areas>"))
        return boundaries, source if source.startswith("<") else describe_path(source)
    if isinstance(boundaries, str | os.PathLike):
        p = Path(boundaries)
        if p.is_dir():
            lpus = p / "lpus.geojson"
            if not lpus.is_file():
                raise InputFormatError(
                    f"{p}: boundaries folder has no lpus.geojson; expected lpus.geojson and "
                    "optionally neighbourhoods.geojson"
                )
            nb = p / "neighbourhoods.geojson"
            return read_areas(lpus, nb if nb.is_file() else None, crs=crs), describe_path(p)
        if p.is_file():
            return read_areas(p, crs=crs), describe_path(p)
        raise InputFormatError(f"{p}: boundaries: no such file or folder")
    raise InvalidParameterError(
        "boundaries: expected None (default), False (none), an Areas object, a folder holding "
        "lpus.geojson [+ neighbourhoods.geojson] or an LPU layer file; got "
        f"{type(boundaries).__name__}"
    )


def load_calibration(calibration: Any = None, boundaries: Any = None) -> Calibration:
    """Build the :class:`Calibration` used by :func:`synthetic_incidents`.

    Parameters
    ----------
    calibration : path, IncidentTable, DataFrame or Calibration, optional
        Real incidents (any file or folder :func:`geodemand.read_incidents` reads, or a table
        in the canonical schema with ``crime_type``, ``x``, ``y``, ``location_key``). Default:
        the bundled West Midlands police.uk API month 2018-06 (cached after the first use).
    boundaries : None, False, Areas, or path
        Boundary layers for clipping and labelling places. ``None``: the bundled West
        Midlands LPU and neighbourhood layers for the default calibration, none for any
        other calibration (announced); ``False``: none; a folder holding ``lpus.geojson``
        (and optionally ``neighbourhoods.geojson``); an LPU layer file; or an ``Areas``.
    """
    if isinstance(calibration, Calibration):
        if boundaries is not None:
            raise InvalidParameterError(
                "boundaries: a ready Calibration already carries its boundaries; pass None"
            )
        return calibration
    default = calibration is None
    if default and boundaries is None:
        key = (str(DEFAULT_CALIBRATION), DEFAULT_CALIBRATION.stat().st_mtime_ns)
        if key not in _DEFAULT_CACHE:
            _DEFAULT_CACHE.clear()
            _DEFAULT_CACHE[key] = _build_calibration(DEFAULT_CALIBRATION, None, True)
        return _DEFAULT_CACHE[key]
    return _build_calibration(DEFAULT_CALIBRATION if default else calibration, boundaries, default)


def _calibration_frame(calibration: Any) -> tuple[pd.DataFrame, str, dict]:
    from geodemand.ingest.incidents import read_incidents

    if isinstance(calibration, str | os.PathLike):
        table = read_incidents(calibration)
        src = (
            dict(table.sources[0])
            if len(table.sources) == 1
            else {
                "path": describe_path(calibration),
                "sha256": ",".join(s["sha256"][:12] for s in table.sources),
                "files": len(table.sources),
                "read": int(sum(s["read"] for s in table.sources)),
            }
        )
        src["path"] = describe_path(src["path"])
        return table.frame, table.crs, src
    frame = calibration.frame if hasattr(calibration, "frame") else calibration
    if not isinstance(frame, pd.DataFrame):
        raise InvalidParameterError(
            "calibration: expected a path, an IncidentTable, a DataFrame or a Calibration; got "
            f"{type(calibration).__name__}"
        )
    crs = getattr(calibration, "crs", None) or frame.attrs.get("crs")
    if crs is None:
        raise InvalidParameterError(
            "calibration: the table has no CRS (frame.attrs['crs']); read it with read_incidents"
        )
    return frame, str(crs), {"path": "<table>", "read": len(frame)}


def _build_calibration(calibration: Any, boundaries: Any, default: bool) -> Calibration:
    frame, crs, source = _calibration_frame(calibration)
    missing = [c for c in ("crime_type", "x", "y", "location_key") if c not in frame.columns]
    if missing:
        raise InvalidParameterError(
            f"calibration: missing column(s) {missing}; expected the canonical incident schema"
        )
    if len(frame) == 0:
        raise InvalidParameterError("calibration: the table has no incidents")
    if frame.get("synthetic") is not None and bool(pd.Series(frame["synthetic"]).any()):
        announce("synthetic incidents: the calibration table is itself synthetic")
    keys = frame["location_key"].astype(str).to_numpy(dtype=object)
    place_key, row_place = np.unique(keys, return_inverse=True)
    x = frame["x"].to_numpy(np.float64)
    y = frame["y"].to_numpy(np.float64)
    # one coordinate per place: that of its first record (map points have one position)
    order = np.argsort(row_place, kind="stable")
    starts = np.searchsorted(row_place[order], np.arange(place_key.size))
    first = order[starts]
    place_x, place_y = x[first], y[first]
    place_label = None
    if "location_label" in frame.columns:
        labels = frame["location_label"].astype(object).to_numpy(dtype=object)[first]
        place_label = np.array(["" if v is None or v != v else str(v) for v in labels],
                               dtype=object)
    types_arr = frame["crime_type"].astype(str).to_numpy(dtype=object)
    types, row_type = np.unique(types_arr, return_inverse=True)

    areas, desc = _resolve_areas(boundaries, crs, default)
    place_lpu = place_nb = None
    n_clipped = 0
    if areas is not None:
        from pyproj import CRS

        from geodemand.ingest.areas import assign_areas

        if not CRS.from_user_input(areas.crs).equals(CRS.from_user_input(crs)):
            raise InvalidParameterError(
                f"boundaries are in {areas.crs} but the calibration incidents in {crs}"
            )
        pts = pd.DataFrame({"x": place_x, "y": place_y})
        pts.attrs["crs"] = crs
        labelled = assign_areas(pts, areas)
        inside = ~labelled["outside"].to_numpy(dtype=bool)
        if not inside.any():
            raise InvalidParameterError(
                f"calibration: none of its {place_key.size:,} places lies inside the boundaries "
                f"({desc}); give boundaries that cover the calibration data (or boundaries=False)"
            )
        keep_row = inside[row_place]
        n_clipped = int((~keep_row).sum())
        if n_clipped:
            announce(
                f"synthetic incidents: {n_clipped:,} calibration incidents at "
                f"{int((~inside).sum()):,} places outside every LPU are not used (clipped)"
            )
        new_code = np.cumsum(inside) - 1
        row_place = new_code[row_place[keep_row]]
        row_type = row_type[keep_row]
        place_key, place_x, place_y = place_key[inside], place_x[inside], place_y[inside]
        if place_label is not None:
            place_label = place_label[inside]
        place_lpu = labelled["lpu"].to_numpy(dtype=object)[inside]
        place_nb = labelled["neighbourhood"].to_numpy(dtype=object)[inside]
        used_types = np.unique(row_type)
        if used_types.size < types.size:  # a type only seen outside: drop it from the vocabulary
            remap = np.full(types.size, -1, dtype=np.int64)
            remap[used_types] = np.arange(used_types.size)
            row_type = remap[row_type]
            types = types[used_types]
    order = np.lexsort((row_place, row_type))
    return Calibration(
        types=tuple(str(t) for t in types),
        row_type=row_type[order].astype(np.int16),
        row_place=row_place[order].astype(np.int32),
        place_key=place_key,
        place_x=place_x,
        place_y=place_y,
        place_lpu=place_lpu,
        place_neighbourhood=place_nb,
        crs=crs,
        place_label=place_label,
        source=source,
        n_clipped=n_clipped,
        boundaries=desc,
    )


# ---------------------------------------------------------------------------- arguments
def _as_day(value: Any, name: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"{name}: {value!r} is not a date; expected YYYY-MM-DD"
        ) from exc
    if ts is pd.NaT or pd.isna(ts):
        raise InvalidParameterError(f"{name}: {value!r} is not a date; expected YYYY-MM-DD")
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    if ts != ts.normalize():
        raise InvalidParameterError(f"{name}: {value!r} has a time of day; expected a date")
    return ts


def _period(start: Any, end: Any, years: int) -> tuple[pd.Timestamp, pd.Timestamp, int]:
    """(first day, last day, number of days); the last day is included."""
    last = _as_day(DEFAULT_END_DATE if end is None else end, "end")
    if start is None:
        if isinstance(years, bool) or int(years) != years or years < 1:
            raise InvalidParameterError(f"years: expected a whole number >= 1, got {years!r}")
        first = last - pd.DateOffset(years=int(years)) + pd.Timedelta(days=1)
    else:
        first = _as_day(start, "start")
    if first > last:
        raise InvalidParameterError(f"start {first:%Y-%m-%d} is after end {last:%Y-%m-%d}")
    return first, last, int((last - first).days) + 1


def _check_n(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise InvalidParameterError(f"n: expected a whole number of incidents >= 1, got {n!r}")
    return int(n)


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**63:
        raise InvalidParameterError(f"seed: expected an integer in [0, 2**63), got {seed!r}")
    return int(seed)


def _check_branching(branching: Mapping[str, float] | None, near_repeat: bool) -> dict[str, float]:
    if not near_repeat:
        return {}
    branching = DEFAULT_BRANCHING if branching is None else branching
    if not isinstance(branching, Mapping):
        raise InvalidParameterError(
            f"branching: expected a mapping crime type -> ratio, got {type(branching).__name__}"
        )
    out = {}
    for k, v in branching.items():
        try:
            eta = float(v)
        except (TypeError, ValueError) as exc:
            raise InvalidParameterError(f"branching[{k!r}]: {v!r} is not a number") from exc
        if not 0.0 <= eta < 1.0:
            raise InvalidParameterError(
                f"branching[{k!r}]: {eta} is outside [0, 1); a branching ratio >= 1 explodes"
            )
        out[str(k)] = eta
    return dict(sorted(out.items()))


def _check_positive(value: Any, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"{name}: {value!r} is not a number") from exc
    if not (math.isfinite(v) and v > 0):
        raise InvalidParameterError(f"{name}: expected a finite number > 0, got {value!r}")
    return v


# ---------------------------------------------------------------------------- drawing
def _cdf_rows(weights: np.ndarray) -> np.ndarray:
    """Row-wise cumulative shares with the last column exactly 1 (rows of zeros stay 0)."""
    w = np.asarray(weights, dtype=np.float64)
    cdf = np.cumsum(w, axis=1)
    total = cdf[:, -1:].copy()
    total[total == 0] = 1.0
    cdf = cdf / total
    cdf[:, -1] = 1.0
    return cdf


def grouped_categorical(u: np.ndarray, group: np.ndarray, cdf: np.ndarray) -> np.ndarray:
    """Inverse-CDF draw: category of each uniform ``u`` in the CDF row of its ``group``.

    Parameters
    ----------
    u : float64 array in [0, 1)
        Uniform variates, one per draw.
    group : int array
        Row of ``cdf`` for each draw.
    cdf : float64 array (groups, categories)
        Cumulative shares per group, last column 1.

    Returns
    -------
    int64 array
        Category index of each draw; categories with zero share are never returned.
    """
    out = np.empty(u.size, dtype=np.int64)
    for g in np.unique(group):
        m = group == g
        out[m] = np.searchsorted(cdf[g], u[m], side="right")
    return np.minimum(out, cdf.shape[1] - 1)


@dataclass(frozen=True)
class _Neighbours:
    """Map points within the radius of each map point (CSR), with cumulative weights."""

    ptr: np.ndarray  # int64 (places + 1)
    idx: np.ndarray  # int32 neighbour place codes, sorted within a row, self included
    cum: np.ndarray  # int64 (len(idx) + 1): cumulative weights of idx, cum[0] = 0


def neighbour_table(
    x: np.ndarray, y: np.ndarray, weights: np.ndarray, radius_m: float
) -> _Neighbours:
    """Neighbours of each point within ``radius_m`` metres (inclusive, self included).

    ``weights`` (positive integers, one per point) give the chance of each neighbour being
    picked by :func:`pick_neighbours`.
    """
    from scipy.spatial import cKDTree

    n = x.size
    pairs = cKDTree(np.column_stack([x, y])).query_pairs(radius_m, output_type="ndarray")
    own = np.arange(n, dtype=np.int64)
    src = np.concatenate([own, pairs[:, 0], pairs[:, 1]])
    dst = np.concatenate([own, pairs[:, 1], pairs[:, 0]])
    order = np.lexsort((dst, src))
    src, dst = src[order], dst[order]
    ptr = np.searchsorted(src, np.arange(n + 1)).astype(np.int64)
    cum = np.concatenate([[0], np.cumsum(np.asarray(weights, dtype=np.int64)[dst])])
    return _Neighbours(ptr, dst.astype(np.int32), cum)


def pick_neighbours(rng: np.random.Generator, nbr: _Neighbours, places: np.ndarray) -> np.ndarray:
    """For each place, one of its neighbours drawn in proportion to the neighbours' weights."""
    lo = nbr.cum[nbr.ptr[places]]
    hi = nbr.cum[nbr.ptr[places + 1]]
    v = lo + rng.integers(0, hi - lo)
    pos = np.searchsorted(nbr.cum, v, side="right") - 1
    return nbr.idx[pos]


def _weekday_counts(start_wd: int, n_days: int) -> np.ndarray:
    """Number of days of each weekday (Monday = 0) in a period of ``n_days`` days."""
    return np.bincount((start_wd + np.arange(n_days)) % 7, minlength=7)


@dataclass
class _Draw:
    type_code: np.ndarray
    place: np.ndarray
    minute: np.ndarray  # minutes since the period's first midnight
    background: dict[str, int]
    offspring: dict[str, int]


def _draw(
    cal: Calibration,
    n: int,
    rng: np.random.Generator,
    start_wd: int,
    n_days: int,
    branching: dict[str, float],
    radius_m: float,
    delay_days: float,
    max_delay_days: int,
) -> _Draw:
    types = cal.types
    n_types = len(types)
    r = rng.integers(0, cal.n_incidents, n)
    t = cal.row_type[r]
    p = cal.row_place[r].copy()
    del r
    # background day: weekday by the type's weekday weights times the days of that weekday
    counts = _weekday_counts(start_wd, n_days)
    wd_w = np.stack([weekday_profile(k) for k in types]) * counts
    wd = grouped_categorical(rng.random(n), t, _cdf_rows(wd_w))
    first_day = (np.arange(7) - start_wd) % 7
    day = first_day[wd] + 7 * rng.integers(0, np.maximum(counts, 1)[wd])
    del wd
    hour = grouped_categorical(
        rng.random(n), t, _cdf_rows(np.stack([hour_profile(k) for k in types]))
    )
    tod = hour * 60 + rng.integers(0, 60, n)
    del hour

    background = {k: int(v) for k, v in zip(types, np.bincount(t, minlength=n_types), strict=True)}
    offspring: dict[str, int] = {}
    active = [(types.index(k), eta) for k, eta in branching.items() if k in types and eta > 0]
    if active:
        nbr = neighbour_table(cal.place_x, cal.place_y, cal.place_counts, radius_m)
        lags = np.arange(max_delay_days)
        for code, eta in active:
            wd_weights = weekday_profile(types[code])
            # delay table: row = parent weekday, column = lag in days
            delay_w = (
                np.exp(-lags / delay_days)[None, :] * wd_weights[(np.arange(7)[:, None] + lags) % 7]
            )
            parent_of = _cascade(
                rng,
                np.flatnonzero(t == code),
                day,
                p,
                eta,
                _cdf_rows(delay_w),
                start_wd,
                n_days,
                nbr,
            )
            n_off = int((parent_of >= 0).sum())
            offspring[types[code]] = n_off
            background[types[code]] -= n_off
    minute = day.astype(np.int64) * _MINUTES_PER_DAY + tod
    return _Draw(t, p, minute, background, offspring)


def _cascade(
    rng: np.random.Generator,
    idx: np.ndarray,
    day: np.ndarray,
    place: np.ndarray,
    eta: float,
    delay_cdf: np.ndarray,
    start_wd: int,
    n_days: int,
    nbr: _Neighbours,
) -> np.ndarray:
    """Turn some of the incidents ``idx`` (one type) into offspring of the others, in place.

    Positions in ``idx`` are filled in order: a batch of background incidents (keeping their
    drawn place and day), then generation after generation of their offspring (Poisson(eta)
    per incident, a lag in days from the row of ``delay_cdf`` for the parent's weekday, a
    neighbouring place from ``nbr``), until the type's count is reached; if the cascades die
    out first, another background batch follows.

    Returns
    -------
    int64 array, one per position in ``idx``
        Position (in ``idx``) of each incident's parent, -1 for background incidents.
    """
    n_k = idx.size
    day_k = day[idx]
    place_k = place[idx]
    parent_of = np.full(n_k, -1, dtype=np.int64)
    filled = 0
    while filled < n_k:
        need = n_k - filled
        b = min(need, max(1, math.ceil(need * (1.0 - eta))))
        gen = np.arange(filled, filled + b)
        filled += b
        while gen.size and filled < n_k:
            parents = np.repeat(gen, rng.poisson(eta, gen.size))
            if parents.size == 0:
                break
            pday = day_k[parents]
            lag = grouped_categorical(rng.random(parents.size), (start_wd + pday) % 7, delay_cdf)
            kday = pday + lag
            ok = kday < n_days
            m = min(int(ok.sum()), n_k - filled)
            parents, kday = parents[ok][:m], kday[ok][:m]
            kids = np.arange(filled, filled + m)
            day_k[kids] = kday
            place_k[kids] = pick_neighbours(rng, nbr, place_k[parents])
            parent_of[kids] = parents
            filled += m
            gen = kids
    day[idx] = day_k
    place[idx] = place_k
    return parent_of


# ---------------------------------------------------------------------------- columns
_STR_DTYPE = pd.Series(["a"]).dtype  # pandas' default string dtype (arrow-backed in pandas 3)


def _str_series(arr) -> pd.Series:
    """A pandas string Series over an arrow string array (no Python objects if possible)."""
    if isinstance(_STR_DTYPE, np.dtype):  # pragma: no cover - pandas < 3: object strings
        return pd.Series(arr.to_numpy(zero_copy_only=False), dtype=object)
    return pd.Series(arr, dtype=_STR_DTYPE)


def _take_str(dictionary, codes: np.ndarray) -> pd.Series:
    """``dictionary[codes]`` as a string Series, built in arrow."""
    import pyarrow as pa

    dic = pa.array([str(v) for v in dictionary], type=pa.large_string())
    return _str_series(dic.take(pa.array(np.asarray(codes))))


def _const_str(value: str, n: int) -> pd.Series:
    return _take_str([value], np.zeros(n, dtype=np.int8))


def numbered_ids(prefix: str, n: int):
    """Arrow strings ``prefix`` + the numbers 1 .. n zero-padded to the width of ``n``.

    Built from digit arrays with numpy (no Python loop over rows).
    """
    import pyarrow as pa

    width = len(str(n))
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    size = head.size + width
    data = np.empty((n, size), dtype=np.uint8)
    data[:, : head.size] = head
    numbers = np.arange(1, n + 1, dtype=np.int64)
    for j in range(width):
        data[:, head.size + j] = 48 + (numbers // 10 ** (width - 1 - j)) % 10
    offsets = np.arange(0, (n + 1) * size, size, dtype=np.int64)
    return pa.Array.from_buffers(
        pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data.reshape(-1))]
    )


def point_wkb(x: np.ndarray, y: np.ndarray):
    """Little-endian WKB points (21 bytes each) as an arrow binary array."""
    import pyarrow as pa

    n = x.size
    rec = np.empty(
        n, dtype=np.dtype([("order", "u1"), ("kind", "<u4"), ("x", "<f8"), ("y", "<f8")])
    )
    rec["order"] = 1
    rec["kind"] = 1
    rec["x"] = x
    rec["y"] = y
    offsets = np.arange(0, (n + 1) * 21, 21, dtype=np.int64)
    return pa.Array.from_buffers(
        pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(rec.view(np.uint8))]
    )


# ---------------------------------------------------------------------------- main entry
def synthetic_incidents(
    n: int,
    *,
    seed: int = 0,
    boundaries: Any = None,
    start: Any = None,
    end: Any = None,
    years: int = 2,
    calibration: Any = None,
    near_repeat: bool = True,
    branching: Mapping[str, float] | None = None,
    radius_m: float = 200.0,
    delay_days: float = 2.0,
    max_delay_days: int = 7,
):
    """Draw ``n`` realistic synthetic incidents (see the module docstring for the method).

    Parameters
    ----------
    n : int
        Number of incidents (>= 1).
    seed : int
        Seed of the random generator (>= 0); the same arguments give the same incidents.
    boundaries : None, False, Areas or path
        Boundary layers used to clip calibration places to the LPUs and label them with
        ``lpu`` and ``neighbourhood``. None: the bundled West Midlands layers with the default
        calibration, none otherwise (announced); False: none. See :func:`load_calibration`.
    start, end : date-like, optional
        First and last day of the period (both included). Default ``end``:
        :data:`DEFAULT_END_DATE` (2026-10-31); default ``start``: ``years`` before ``end``
        (plus one day).
    years : int
        Length of the default period in calendar years (used only without ``start``).
    calibration : path, IncidentTable, DataFrame or Calibration, optional
        Real incidents giving places and crime-type mix. Default: the bundled West Midlands
        police.uk API month 2018-06.
    near_repeat : bool
        Add near-repeat contagion for the types in ``branching``.
    branching : dict, optional
        Branching ratio (mean offspring per incident, in [0, 1)) per crime type. Default
        :data:`DEFAULT_BRANCHING`.
    radius_m : float
        Offspring are placed at a map point within this many metres of the parent's.
    delay_days : float
        Scale (days) of the discretised exponential delay between parent and offspring.
    max_delay_days : int
        Offspring happen 0 .. ``max_delay_days - 1`` whole days after their parent.

    Returns
    -------
    IncidentTable
        Canonical columns with ``date_precision = "minute"`` and ``synthetic = True``, plus
        ``lpu``, ``neighbourhood`` and ``outside`` when boundaries are used. ``params``
        records every argument, the calibration's hash and the offspring counts per type.
    """
    from geodemand.ingest.incidents import IncidentTable

    n = _check_n(n)
    seed = _check_seed(seed)
    first, last, n_days = _period(start, end, years)
    rules = _check_branching(branching, bool(near_repeat))
    radius_m = _check_positive(radius_m, "radius_m")
    delay_days = _check_positive(delay_days, "delay_days")
    if (
        isinstance(max_delay_days, bool)
        or int(max_delay_days) != max_delay_days
        or max_delay_days < 1
    ):
        raise InvalidParameterError(
            f"max_delay_days: expected a whole number >= 1, got {max_delay_days!r}"
        )
    max_delay_days = int(max_delay_days)
    cal = load_calibration(calibration, boundaries)
    unknown = sorted(set(rules) - set(cal.types))
    if unknown and branching is not None:
        announce(f"synthetic incidents: branching types not in the calibration, ignored: {unknown}")

    rng = np.random.default_rng(seed)
    draw = _draw(cal, n, rng, first.weekday(), n_days, rules, radius_m, delay_days, max_delay_days)
    order = _time_order(draw, len(cal.types), cal.place_key.size)
    t, p, minute = draw.type_code[order], draw.place[order], draw.minute[order]
    del order

    origin = np.datetime64(first.date(), "m")
    frame = pd.DataFrame(
        {
            "incident_id": _str_series(numbered_ids(f"SYN-{seed}-", n)),
            "occurred": (origin + minute).astype("datetime64[ns]"),
            "date_precision": _const_str("minute", n),
            "crime_type": _take_str(cal.types, t),
            "x": cal.place_x[p],
            "y": cal.place_y[p],
            "location_key": _take_str(cal.place_key, p),
            "source_file": _const_str(f"synthetic:seed={seed}", n),
            "source_row": np.arange(1, n + 1, dtype=np.int64),
            "synthetic": np.ones(n, dtype=bool),
        }
    )
    if cal.place_label is not None:
        frame["location_label"] = _take_str(cal.place_label, p)
    if cal.place_lpu is not None:
        frame["lpu"] = _take_str(cal.place_lpu, p)
        frame["neighbourhood"] = _take_str(cal.place_neighbourhood, p)
        frame["outside"] = np.zeros(n, dtype=bool)
    frame.attrs["crs"] = cal.crs
    params = {
        "generator": "geodemand.synthetic_incidents",
        "generator_version": GENERATOR_VERSION,
        "profile_version": PROFILE_VERSION,
        "n": n,
        "seed": seed,
        "start": f"{first:%Y-%m-%d}",
        "end": f"{last:%Y-%m-%d}",
        "days": n_days,
        "calibration": str(cal.source.get("path")),
        "calibration_sha256": cal.source.get("sha256"),
        "calibration_incidents": cal.n_incidents,
        "calibration_clipped": cal.n_clipped,
        "boundaries": cal.boundaries,
        "near_repeat": bool(near_repeat),
        "branching": rules,
        "radius_m": radius_m,
        "delay_days": delay_days,
        "max_delay_days": max_delay_days,
        "background": {k: v for k, v in draw.background.items() if v},
        "offspring": draw.offspring,
        "crs": cal.crs,
    }
    announce(
        f"synthetic incidents: {n:,} from {first:%Y-%m-%d} to {last:%Y-%m-%d}, seed {seed}, "
        f"calibrated on {cal.source.get('path')} ({cal.n_incidents:,} incidents, "
        f"{cal.place_key.size:,} map points); near-repeat offspring: {draw.offspring or 'none'}"
    )
    accounting = pd.DataFrame(
        [
            {
                "file": f"synthetic:seed={seed}",
                "format": "synthetic",
                "read": n,
                "accepted": n,
                "rejected": 0,
            },
            {"file": "TOTAL", "format": "", "read": n, "accepted": n, "rejected": 0},
        ]
    )
    source = {"role": "calibration", **cal.source}
    return IncidentTable(
        frame=frame,
        crs=cal.crs,
        rejects=pd.DataFrame(columns=["source_file", "source_row", "reason", "detail", "raw"]),
        accounting=accounting,
        sources=(source,),
        unknown_crime_types={},
        params=params,
    )


def _time_order(draw: _Draw, n_types: int, n_places: int) -> np.ndarray:
    """Row order by (minute, crime type, place), stable."""
    span = int(draw.minute.max()) + 1 if draw.minute.size else 1
    if span * n_types * n_places < 2**62:
        key = (draw.minute * n_types + draw.type_code) * n_places + draw.place
        return np.argsort(key, kind="stable")
    return np.lexsort((draw.place, draw.type_code, draw.minute))  # pragma: no cover - huge inputs


# ---------------------------------------------------------------------------- writing
def _check_writable(table) -> pd.DataFrame:
    frame = table.frame if hasattr(table, "frame") else table
    if not isinstance(frame, pd.DataFrame):
        raise InvalidParameterError(
            f"table: expected an IncidentTable or DataFrame, got {type(table).__name__}"
        )
    missing = [
        c
        for c in ("incident_id", "occurred", "crime_type", "x", "y", "synthetic")
        if c not in frame.columns
    ]
    if missing:
        raise InvalidParameterError(
            f"table: missing column(s) {missing}; expected the canonical schema"
        )
    if len(frame) and not bool(frame["synthetic"].to_numpy(dtype=bool).all()):
        bad = int((~frame["synthetic"].to_numpy(dtype=bool)).sum())
        raise InvalidParameterError(
            f"table: {bad:,} incident(s) have synthetic = False; write_synthetic only writes "
            "synthetic incidents (it labels the whole file synthetic)"
        )
    return frame


def _format_of(path: Path, fmt: str | None) -> str:
    if fmt is None:
        name = path.name.lower()
        if name.endswith((".parquet", ".geoparquet")):
            return "parquet"
        if name.endswith(".csv"):
            return "csv"
        raise InvalidParameterError(
            f"{path}: cannot tell the format from the suffix; use .parquet or .csv, or give "
            "format='parquet' or 'csv'"
        )
    if fmt not in ("parquet", "csv"):
        raise InvalidParameterError(f"format: {fmt!r}; expected 'parquet' or 'csv'")
    return fmt


def _file_metadata(table, frame: pd.DataFrame) -> dict[bytes, bytes]:
    params = dict(getattr(table, "params", {}) or {})
    return {
        b"geodemand:synthetic": b"true",
        b"geodemand:generator_version": str(params.get("generator_version", "")).encode(),
        b"geodemand:params": json.dumps(params, sort_keys=True, default=str).encode(),
        b"geodemand:rows": str(len(frame)).encode(),
    }


def _arrow_columns(frame: pd.DataFrame):
    import pyarrow as pa

    cols, names = [], []
    for name in frame.columns:
        s = frame[name]
        if isinstance(s.dtype, pd.StringDtype):
            arr = pa.array(s, type=pa.large_string(), from_pandas=True)
        else:
            arr = pa.array(s, from_pandas=True)
            if pa.types.is_string(arr.type):
                arr = arr.cast(pa.large_string())
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        cols.append(arr)
        names.append(str(name))
    return names, cols


def write_synthetic(  # noqa: A002 - `format` is the natural name
    table, path: str | os.PathLike[str], format: str | None = None
) -> Path:
    """Write synthetic incidents as GeoParquet (default) or CSV, atomically.

    The output is labelled synthetic twice: a ``synthetic`` column (True on every row) and,
    for GeoParquet, the file metadata key ``geodemand:synthetic = true`` (with the
    generator's parameters under ``geodemand:params``). The same table gives byte-identical
    files. :func:`geodemand.read_incidents` reads both formats back.

    Parameters
    ----------
    table : IncidentTable or DataFrame
        Synthetic incidents in the canonical schema (every row ``synthetic = True``).
    path : path
        Output file; the format follows the suffix (``.parquet`` / ``.geoparquet`` or
        ``.csv``) unless ``format`` is given.
    format : {"parquet", "csv"}, optional
        GeoParquet: WKB point geometry in the table's CRS (GeoParquet 1.0.0 metadata) plus
        every column, zstd-compressed. CSV: every column plus ``longitude`` and
        ``latitude`` (WGS84; the police.uk map point's own values for ``pt:`` keys),
        ``occurred`` as ``YYYY-MM-DDTHH:MM:SS``.

    Returns
    -------
    Path
    """
    frame = _check_writable(table)
    path = Path(path)
    fmt = _format_of(path, format)
    crs = getattr(table, "crs", None) or frame.attrs.get("crs")
    if crs is None:
        raise InvalidParameterError("table: no CRS (frame.attrs['crs']); expected e.g. EPSG:27700")
    meta = _file_metadata(table, frame)
    if fmt == "parquet":
        return write_with(path, lambda tmp: _write_parquet(frame, str(crs), meta, tmp))
    return write_with(path, lambda tmp: _write_csv(frame, str(crs), tmp))


def _geo_metadata(crs: str, x: np.ndarray, y: np.ndarray) -> bytes:
    from pyproj import CRS

    bbox = [float(x.min()), float(y.min()), float(x.max()), float(y.max())] if x.size else []
    column = {
        "encoding": "WKB",
        "geometry_types": ["Point"],
        "crs": CRS.from_user_input(crs).to_json_dict(),
    }
    if bbox:
        column["bbox"] = bbox
    geo = {"version": "1.0.0", "primary_column": "geometry", "columns": {"geometry": column}}
    return json.dumps(geo, sort_keys=True).encode()


_DICTIONARY_COLUMNS = (
    "date_precision",
    "crime_type",
    "x",
    "y",
    "location_key",
    "location_label",
    "source_file",
    "lpu",
    "neighbourhood",
    "geometry",
)


def _write_parquet(frame: pd.DataFrame, crs: str, meta: dict[bytes, bytes], tmp: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    x = frame["x"].to_numpy(np.float64)
    y = frame["y"].to_numpy(np.float64)
    names, cols = _arrow_columns(frame)
    fields = [pa.field(nm, c.type) for nm, c in zip(names, cols, strict=True)]
    fields.append(pa.field("geometry", pa.large_binary()))
    schema = pa.schema(fields, metadata={b"geo": _geo_metadata(crs, x, y), **meta})
    dictionary = [c for c in _DICTIONARY_COLUMNS if c in schema.names]
    # sorted times and row numbers: delta encoding stores them in a few bits each
    delta = {}
    for c in ("occurred", "source_row"):
        if c in schema.names:
            kind = schema.field(c).type
            if pa.types.is_integer(kind) or pa.types.is_timestamp(kind):
                delta[c] = "DELTA_BINARY_PACKED"
    with pq.ParquetWriter(
        tmp,
        schema,
        compression="zstd",
        use_dictionary=dictionary,
        write_statistics=True,
        column_encoding=delta or None,
    ) as writer:
        n = len(frame)
        for a in range(0, max(n, 1), _ROW_GROUP):
            b = min(n, a + _ROW_GROUP)
            arrays = [c.slice(a, b - a) for c in cols] + [point_wkb(x[a:b], y[a:b])]
            writer.write_table(
                pa.Table.from_arrays(arrays, schema=schema), row_group_size=_ROW_GROUP
            )


def _lonlat(frame: pd.DataFrame, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 lon/lat per row: from ``pt:<lon>,<lat>`` keys where present, else projected back."""
    from pyproj import Transformer

    n = len(frame)
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    if "location_key" in frame.columns and n:
        codes, uniq = pd.factorize(frame["location_key"], sort=False)
        uniq = pd.Series(np.asarray(uniq, dtype=object)).astype(str)
        pt = uniq.str.startswith("pt:")
        parts = uniq[pt].str.slice(3).str.split(",", n=1, expand=True) if pt.any() else None
        ulon = np.full(len(uniq), np.nan)
        ulat = np.full(len(uniq), np.nan)
        if parts is not None and parts.shape[1] == 2:
            ulon[pt.to_numpy()] = pd.to_numeric(parts[0], errors="coerce").to_numpy()
            ulat[pt.to_numpy()] = pd.to_numeric(parts[1], errors="coerce").to_numpy()
        ok = codes >= 0
        lon[ok], lat[ok] = ulon[codes[ok]], ulat[codes[ok]]
    todo = ~(np.isfinite(lon) & np.isfinite(lat))
    if todo.any():
        tr = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        lon[todo], lat[todo] = tr.transform(
            frame["x"].to_numpy(np.float64)[todo], frame["y"].to_numpy(np.float64)[todo]
        )
    return lon, lat


def _write_csv(frame: pd.DataFrame, crs: str, tmp: Path) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    names, cols = _arrow_columns(frame)
    lon, lat = _lonlat(frame, crs)
    at = names.index("y") + 1 if "y" in names else len(names)
    names[at:at] = ["longitude", "latitude"]
    cols[at:at] = [pa.array(lon), pa.array(lat)]
    i = names.index("occurred")
    cols[i] = pc.strftime(cols[i].cast(pa.timestamp("s")), format="%Y-%m-%dT%H:%M:%S")
    pacsv.write_csv(
        pa.Table.from_arrays(cols, names=names),
        tmp,
        write_options=pacsv.WriteOptions(quoting_style="needed"),
    )


# ---------------------------------------------------------------------------- demo history
def demo_history():
    """The demo history as an :class:`IncidentTable` (generated in memory, ~5 s).

    Two years (2024-11-01 to 2026-10-31) of synthetic West Midlands incidents, seed
    :data:`DEMO_SEED`, calibrated on the bundled real police.uk month 2018-06 with the bundled
    West Midlands boundaries, ``n = 24 x`` the calibration month's incidents (the real
    force's monthly volume).
    """
    cal = load_calibration()
    return synthetic_incidents(DEMO_MONTHS * cal.n_incidents, seed=DEMO_SEED, calibration=cal)


def _demo_is_current(path: Path) -> bool:
    """True if ``path`` holds the demo history of this generator version and calibration."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(path).metadata or {}
        params = json.loads(meta.get(b"geodemand:params", b"{}"))
    except Exception:  # an unreadable or foreign file is simply not current
        return False
    start = pd.Timestamp(DEFAULT_END_DATE) - pd.DateOffset(years=2) + pd.Timedelta(days=1)
    expected = {
        "generator_version": GENERATOR_VERSION,
        "profile_version": PROFILE_VERSION,
        "seed": DEMO_SEED,
        "start": f"{start:%Y-%m-%d}",
        "end": DEFAULT_END_DATE,
        "calibration_sha256": sha256_file(DEFAULT_CALIBRATION),
        "boundaries": describe_path(DEFAULT_BOUNDARIES),
        "near_repeat": True,
        "branching": dict(sorted(DEFAULT_BRANCHING.items())),
    }
    return (
        meta.get(b"geodemand:synthetic") == b"true"
        and all(params.get(k) == v for k, v in expected.items())
        and params.get("n") == DEMO_MONTHS * params.get("calibration_incidents", -1)
    )


def _cache_dir(cache_dir: str | os.PathLike[str] | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "geodemand"


def demo_history_path(
    *, regenerate: bool = False, cache_dir: str | os.PathLike[str] | None = None
) -> Path:
    """Path of the demo history GeoParquet file, generating it if missing or out of date.

    The file is bundled at ``data/incidents/west-midlands-synthetic/`` (see the README
    there). If it is missing or was made by another generator version or calibration, it
    is regenerated deterministically (see :func:`demo_history`) and written atomically to
    the bundled folder, or, if that folder is not writable, to ``cache_dir`` (default
    ``$XDG_CACHE_HOME/geodemand`` or ``~/.cache/geodemand``).

    Parameters
    ----------
    regenerate : bool
        Rebuild the file even if a current one exists.
    cache_dir : path, optional
        Fallback folder when the bundled folder is not writable.
    """
    bundled = DEMO_DIR / DEMO_NAME
    cached = _cache_dir(cache_dir) / DEMO_NAME
    if not regenerate:
        for path in (bundled, cached):
            if path.is_file() and _demo_is_current(path):
                return path
    try:
        DEMO_DIR.mkdir(parents=True, exist_ok=True)
        writable = os.access(DEMO_DIR, os.W_OK)
    except OSError:
        writable = False
    target = bundled if writable else cached
    announce(f"demo history: generating {target} (two years of synthetic West Midlands incidents)")
    return write_synthetic(demo_history(), target)


# ---------------------------------------------------------------------------- national set
#: Forces of the default synthetic national set (England and Wales have 43 territorial forces).
NATIONAL_FORCES = 44
#: Slot spacing of the national layout (metres): force copies sit on a 6-column grid of
#: 100 km squares in EPSG:27700, rotated by at most :data:`NATIONAL_MAX_ROTATION_DEG`.
NATIONAL_SLOT_M = 100_000.0
NATIONAL_ORIGIN = (120_000.0, 150_000.0)
NATIONAL_COLUMNS = 6
NATIONAL_MAX_ROTATION_DEG = 20.0
#: Volume factors of the copies of one template: evenly spread over this range (times the
#: template's real monthly volume), in a seeded order.
NATIONAL_VOLUME_RANGE = (0.7, 1.8)


@dataclass(frozen=True)
class NationalTemplate:
    """A real force whose places and boundaries the synthetic national forces copy.

    ``calibration`` and ``boundaries`` are paths relative to the bundled ``data/`` folder;
    ``months`` is the number of calendar months the calibration incidents cover (their
    volume per month sets the copies' volume).
    """

    name: str
    calibration: str
    boundaries: str
    months: int


NATIONAL_TEMPLATES: tuple[NationalTemplate, ...] = (
    NationalTemplate(
        "west-midlands",
        "incidents/west-midlands/2018-06-west-midlands-api.csv.gz",
        "boundaries/west-midlands",
        1,
    ),
    NationalTemplate(
        "leicestershire", "incidents/leicestershire", "boundaries/leicestershire", 24
    ),
)


def national_force_seed(seed: int, index: int) -> int:
    """The generator seed of force ``index`` (0-based) of a national set made with ``seed``."""
    state = np.random.SeedSequence([int(seed), int(index)]).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))


def _quietly():
    """A context in which announcements are silenced (the previous level is restored)."""
    import contextlib

    from geodemand import _announce

    @contextlib.contextmanager
    def ctx():
        old = _announce._HANDLER.level
        _announce.quiet(True)
        try:
            yield
        finally:
            _announce._HANDLER.setLevel(old)

    return ctx()


@functools.lru_cache(maxsize=4)
def _template_calibration(template: NationalTemplate) -> Calibration:
    """The template's calibration (clipped to and labelled with its own boundaries), cached."""
    with _quietly():
        return load_calibration(
            DATA_DIR / template.calibration, DATA_DIR / template.boundaries
        )


def _rotate_shift(x, y, centre, angle_deg, target):
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    dx, dy = x - centre[0], y - centre[1]
    return target[0] + c * dx - s * dy, target[1] + s * dx + c * dy


@functools.lru_cache(maxsize=4)
def _template_layers(template: NationalTemplate, crs: str) -> tuple:
    """The template's (role, GeoDataFrame in ``crs``) layers and the centre of its LPUs."""
    import geopandas as gpd

    layers = []
    for role in ("lpus", "neighbourhoods"):
        path = DATA_DIR / template.boundaries / f"{role}.geojson"
        if not path.is_file():
            continue
        gdf = gpd.read_file(path).to_crs(crs)
        keep = ["lpu"] if role == "lpus" else ["neighbourhood", "lpu"]
        layers.append((role, gdf[[c for c in keep if c in gdf.columns] + ["geometry"]]))
    b = layers[0][1].total_bounds
    return tuple(layers), ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0)


def _force_boundaries(template: NationalTemplate, crs: str, angle, target, prefix):
    """The template's LPU and neighbourhood layers moved like the force's places (EPSG:4326)."""
    import shapely

    layers, centre = _template_layers(template, crs)
    out = {}
    for role, gdf in layers:
        moved = gdf.copy()
        moved["lpu"] = prefix + moved["lpu"].astype(str)
        moved["geometry"] = moved.geometry.rotate(
            angle, origin=shapely.Point(centre)
        ).translate(target[0] - centre[0], target[1] - centre[1])
        out[role] = moved.to_crs("EPSG:4326")
    return out


def _write_geojson(gdf, path: Path) -> Path:
    return write_with(
        path,
        lambda tmp: gdf.to_file(tmp, driver="GeoJSON", engine="pyogrio", COORDINATE_PRECISION=7),
    )


def national_plan(forces: int = NATIONAL_FORCES, *, scale: float = 1.0, seed: int = 0,
                  years: int = 2) -> list[dict]:
    """Name, template, seed, rotation, position and incident count of each synthetic force.

    Force ``i`` (0-based) copies template ``i mod 2`` (West Midlands, Leicestershire),
    rotated by a seeded angle in ±:data:`NATIONAL_MAX_ROTATION_DEG` about its centre and
    moved to slot ``i`` of the national grid. Its incident count is its template's real
    monthly volume x ``12 * years`` months x a volume factor (the copies of a template get
    factors spread evenly over :data:`NATIONAL_VOLUME_RANGE`, in a seeded order) x
    ``scale``, at least 1.
    """
    if isinstance(forces, bool) or int(forces) != forces or not 1 <= forces <= 99:
        raise InvalidParameterError(f"forces: expected a whole number 1 .. 99, got {forces!r}")
    scale = _check_positive(scale, "scale")
    seed = _check_seed(seed)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2026]))
    angles = rng.uniform(-NATIONAL_MAX_ROTATION_DEG, NATIONAL_MAX_ROTATION_DEG, forces)
    n_templates = len(NATIONAL_TEMPLATES)
    factors = np.empty(forces)
    for t in range(n_templates):
        idx = np.arange(t, forces, n_templates)
        if idx.size:
            spread = np.linspace(*NATIONAL_VOLUME_RANGE, idx.size) if idx.size > 1 else [1.0]
            factors[idx] = rng.permutation(np.asarray(spread, dtype=np.float64))
    plan = []
    for i in range(int(forces)):
        col, row = i % NATIONAL_COLUMNS, i // NATIONAL_COLUMNS
        plan.append(
            {
                "index": i,
                "name": f"Synthetic Force {i + 1:02d}",
                "code": f"S{i + 1:02d}",
                "template": NATIONAL_TEMPLATES[i % n_templates].name,
                "seed": national_force_seed(seed, i),
                "rotation_deg": round(float(angles[i]), 6),
                "centre": [
                    NATIONAL_ORIGIN[0] + col * NATIONAL_SLOT_M,
                    NATIONAL_ORIGIN[1] + row * NATIONAL_SLOT_M,
                ],
                "volume_factor": round(float(factors[i]), 6),
                "scale": scale,
                "years": int(years),
            }
        )
    return plan


def synthetic_national(
    root: str | os.PathLike[str],
    *,
    forces: int = NATIONAL_FORCES,
    scale: float = 1.0,
    seed: int = 0,
    years: int = 2,
    end: Any = None,
) -> dict:
    """Write a synthetic national incident set as a partitioned dataset (force, month).

    Each force is a rotated and moved copy of a bundled real force (see
    :func:`national_plan`): its places are the template's real police.uk map points moved
    with it (``location_key`` re-made from the moved point, ``pt:<lon>,<lat>``), its LPUs and
    neighbourhoods are the template's polygons moved the same way (LPU names prefixed with
    the force code, e.g. ``"S07 Coventry"``) and written to ``<root>/boundaries/<slug>/``,
    and its incidents are drawn by :func:`synthetic_incidents` with the force's own seed,
    calibrated on the moved template. Forces are generated and written one at a time, so
    memory is bounded by the largest force. Every file and ``dataset.json`` is labelled
    synthetic; see :mod:`geodemand.ingest.partition` for the layout.

    Parameters
    ----------
    root : path
        Dataset root; must not already hold a dataset.
    forces : int
        Number of forces (1 .. 99; default 44, about 21.8 million incidents over two years).
    scale : float
        Multiplies every force's incident count (e.g. 0.005 for a small test set).
    seed : int
        Seed of the whole set (each force's seed is derived from it and its index).
    years : int
        Length of the period in calendar years, ending on ``end``.
    end : date-like, optional
        Last day (default :data:`DEFAULT_END_DATE`).

    Returns
    -------
    dict
        The dataset description written to ``dataset.json``.
    """
    from dataclasses import replace

    from pyproj import Transformer

    from geodemand.ingest.partition import (
        DATASET_FILE,
        boundaries_dir,
        force_slug,
        write_partitions,
    )

    root = Path(root)
    if (root / DATASET_FILE).exists():
        raise InvalidParameterError(
            f"{root}: already holds a dataset ({DATASET_FILE}); choose an empty folder"
        )
    plan = national_plan(forces, scale=scale, seed=seed, years=years)
    first, last, _ = _period(None, end, years)
    templates = {t.name: t for t in NATIONAL_TEMPLATES}
    to_lonlat = None
    total = 0
    for f in plan:
        template = templates[f["template"]]
        base = _template_calibration(template)
        crs = base.crs
        if to_lonlat is None:
            to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        centre = _template_layers(template, crs)[1]
        slug = force_slug(f["name"])
        layers = _force_boundaries(
            template, crs, f["rotation_deg"], tuple(f["centre"]), f["code"] + " "
        )
        bdir = boundaries_dir(root, slug)
        for role, gdf in layers.items():
            _write_geojson(gdf, bdir / f"{role}.geojson")
        px, py = _rotate_shift(base.place_x, base.place_y, centre, f["rotation_deg"], f["centre"])
        lon, lat = to_lonlat.transform(px, py)
        keys = np.char.add(
            np.char.add("pt:", np.char.mod("%.6f", lon)), np.char.add(",", np.char.mod("%.6f", lat))
        ).astype(object)
        cal_rows = pd.DataFrame(
            {
                "crime_type": np.asarray(base.types, dtype=object)[base.row_type],
                "x": px[base.row_place],
                "y": py[base.row_place],
                "location_key": keys[base.row_place],
            }
        )
        cal_rows.attrs["crs"] = crs
        with _quietly():
            cal = load_calibration(cal_rows, bdir)
        cal = replace(
            cal,
            boundaries=f"<dataset root>/boundaries/{slug}",
            source={
                **base.source,
                "path": f"{template.calibration} (rotated {f['rotation_deg']:.2f} deg, moved to "
                f"{f['centre'][0]:.0f},{f['centre'][1]:.0f})",
            },
        )
        n = max(1, round(f["scale"] * base.n_incidents / template.months * 12 * years
                         * f["volume_factor"]))
        with _quietly():
            table = synthetic_incidents(n, seed=f["seed"], calibration=cal, end=last, years=years)
        info = {
            **{k: f[k] for k in ("code", "template", "seed", "rotation_deg", "centre",
                                  "volume_factor")},
            "n": n,
            "lpus": int(len(layers["lpus"])),
            "offspring": table.params["offspring"],
            "calibration_clipped": cal.n_clipped,
        }
        with _quietly():
            write_partitions(
                table.frame,
                root,
                crs=crs,
                synthetic=True,
                force=f["name"],
                write_file=lambda part, path, t=table: write_synthetic(
                    replace(t, frame=part), path
                ),
                force_info={f["name"]: info},
                extra_meta={
                    "synthetic": True,
                    "generator": {
                        "function": "geodemand.ingest.synth.synthetic_national",
                        "generator_version": GENERATOR_VERSION,
                        "forces": len(plan),
                        "scale": plan[0]["scale"],
                        "seed": seed,
                        "start": f"{first:%Y-%m-%d}",
                        "end": f"{last:%Y-%m-%d}",
                        "templates": [t.name for t in NATIONAL_TEMPLATES],
                        "label": "SYNTHETIC: rotated and moved copies of real forces' places "
                        "and boundaries; not real incidents",
                    },
                },
            )
        total += n
        announce(f"synthetic national set: {f['name']} ({template.name} copy), {n:,} incidents")
    from geodemand.ingest.partition import open_dataset

    announce(f"synthetic national set: {len(plan)} forces, {total:,} incidents in {root}")
    return open_dataset(root).meta
