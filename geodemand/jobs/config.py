"""The weekly job's options: one validated dataclass, readable from TOML (same keys).

:class:`WeeklyConfig` checks every value when it is made (types and ranges, the CRS, the
period, the harm scheme), so a bad option gives one clear error before any data are read.
The same names are used by the API, the CLI (``--bandwidth-m`` for ``bandwidth_m``) and TOML.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from geodemand.demand.demand import HALF_LIFE_DAYS, WINDOW_DAYS
from geodemand.demand.harm import FORCES, SCHEMES
from geodemand.demand.places import MERGE_M
from geodemand.errors import InvalidParameterError

#: Options given as lists (a single string in TOML is a one-element list).
LIST_OPTIONS = ("incidents", "lpus", "crime_types", "knox_space_bands", "knox_time_bands",
                "knox_crime_types", "crime_type_map")


@dataclass(frozen=True)
class WeeklyConfig:
    """Every option of the weekly job (also readable from a TOML file, same keys).

    Paths are strings. ``incidents=None`` means the bundled synthetic demo history, and then
    ``lpu_boundaries``/``neighbourhood_boundaries`` default to the bundled West Midlands
    layers; with your own incidents, give your own LPU boundaries (neighbourhoods optional).
    Distances are metres, durations days, the patrol budget officer-hours a day.
    """

    incidents: tuple[str, ...] | None = None
    lpu_boundaries: str | None = None
    neighbourhood_boundaries: str | None = None
    lpu_name_field: str | None = None
    neighbourhood_name_field: str | None = None
    crs: str | None = None
    keep_unknown_types: bool = False
    crime_type_map: tuple[str, ...] | None = None
    period: str | None = None
    window_days: int = WINDOW_DAYS
    lpus: tuple[str, ...] | None = None
    out: str = "maps"
    tiles: str | None = "OpenStreetMap"
    harm_scheme: str = "cchi"
    force: str | None = None
    include_police_generated: bool = False
    crime_types: tuple[str, ...] | None = None
    half_life_days: float = HALF_LIFE_DAYS
    merge_m: float = MERGE_M
    premises: str | None = None
    site_keywords: str | None = None
    patrol_partnership_sites: bool = False
    exclude_default_geocodes: bool = False
    cell_size_m: float = 100.0
    bandwidth_m: float = 250.0
    emerging_cell_size_m: float = 250.0
    top_n: int = 5
    max_area_km2: float = 0.25
    patrol_hours_per_day: float = 40.0
    lpu_floor_hours: float = 1.0
    minutes_per_visit: float = 15.0
    max_visits_per_day: int = 4
    review_days: int = 28
    repeat_places_on_map: int = 25
    knox_space_bands: tuple[float, ...] = (0.0, 100.0, 200.0, 400.0)
    knox_time_bands: tuple[float, ...] = (0.0, 7.0, 14.0, 28.0)
    knox_permutations: int = 99
    knox_crime_types: tuple[str, ...] = ("burglary",)
    register: str | None = None
    no_register: bool = False
    milestones: str | None = None
    deprivation: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        hints = get_type_hints(type(self))
        for f in dataclasses.fields(self):
            _check_type(f.name, getattr(self, f.name), hints[f.name])
        positive = ("window_days", "half_life_days", "cell_size_m", "bandwidth_m",
                "emerging_cell_size_m", "top_n",
                    "max_area_km2", "patrol_hours_per_day", "max_visits_per_day", "review_days",
                    "knox_permutations")
        for name in positive:
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InvalidParameterError(f"{name} = {value!r}: expected a number > 0")
        for name in ("merge_m", "lpu_floor_hours", "repeat_places_on_map", "seed"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise InvalidParameterError(f"{name} = {value!r}: expected a number >= 0")
        if not 5 <= self.minutes_per_visit <= 30:
            raise InvalidParameterError(
                f"minutes_per_visit = {self.minutes_per_visit!r}: expected 5-30 minutes "
                "(Koper: 10-15)"
            )
        if self.harm_scheme not in SCHEMES and not self.harm_scheme.lower().endswith(".csv"):
            raise InvalidParameterError(
                f"harm_scheme = {self.harm_scheme!r}: expected one of {list(SCHEMES)} or a CSV "
                "file (crime_type, harm_weight)"
            )
        if self.force is not None and self.force not in FORCES:
            raise InvalidParameterError(f"force = {self.force!r}: expected one of {list(FORCES)}")
        if self.crs is not None:
            _check_crs(self.crs)
        for pair in self.crime_type_map or ():
            if "=" not in pair or not pair.split("=", 1)[0].strip() or not \
                    pair.split("=", 1)[1].strip():
                raise InvalidParameterError(
                    f"crime_type_map entry {pair!r}: expected 'RAW NAME=canonical-type', e.g. "
                    "'personal robbery=robbery'"
                )
        if self.period is not None and self.period not in ("week", "month"):
            from geodemand.demand.periods import parse_period

            parse_period(self.period)
        for name in ("knox_space_bands", "knox_time_bands"):
            bands = getattr(self, name)
            if len(bands) < 2 or any(b < 0 for b in bands) or list(bands) != sorted(set(bands)):
                raise InvalidParameterError(
                    f"{name} = {list(bands)}: expected at least two increasing values >= 0"
                )
        if self.neighbourhood_boundaries and not self.lpu_boundaries:
            raise InvalidParameterError(
                "neighbourhood_boundaries given without lpu_boundaries: give the LPU layer too"
            )

    # ------------------------------------------------------------------ reading
    @classmethod
    def from_toml(cls, path: str | os.PathLike[str], **overrides: Any) -> WeeklyConfig:
        """Read options from a TOML file (keys as the field names, optionally under a
        ``[weekly]`` table); ``overrides`` (not None) win."""
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InvalidParameterError(f"{path}: cannot read the config file ({exc})") from exc
        data = data.get("weekly", data)
        if not isinstance(data, dict):
            raise InvalidParameterError(f"{path}: expected a table of options")
        return cls.from_mapping(data, where=str(path), **overrides)

    @classmethod
    def from_mapping(cls, data: dict, *, where: str = "options", **overrides: Any):
        """Options from a mapping (unknown keys are an error naming them)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidParameterError(
                f"{where}: unknown option(s) {unknown}; expected some of {sorted(known)}"
            )
        merged = dict(data)
        merged.update({k: v for k, v in overrides.items() if v is not None})
        for key in LIST_OPTIONS:
            value = merged.get(key)
            if isinstance(value, list):
                merged[key] = tuple(value)
            elif isinstance(value, str):
                merged[key] = (value,)
        for key in ("knox_space_bands", "knox_time_bands"):
            if key in merged and isinstance(merged[key], tuple):
                merged[key] = tuple(
                    float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
                    for v in merged[key]
                )
        try:
            return cls(**merged)
        except InvalidParameterError as exc:
            raise InvalidParameterError(f"{where}: {exc}") from None

    def crime_type_mapping(self) -> dict[str, str] | None:
        """``crime_type_map`` as the mapping :func:`geodemand.read_incidents` takes."""
        if not self.crime_type_map:
            return None
        return {k.strip(): v.strip() for k, v in (p.split("=", 1) for p in self.crime_type_map)}

    def check_files(self) -> None:
        """Every input path exists (incidents, boundaries, premises, ...), before reading."""
        from geodemand.errors import InputFormatError

        paths = [("lpu_boundaries", self.lpu_boundaries),
                 ("neighbourhood_boundaries", self.neighbourhood_boundaries),
                 ("premises", self.premises), ("site_keywords", self.site_keywords),
                 ("milestones", self.milestones), ("deprivation", self.deprivation)]
        if self.harm_scheme not in SCHEMES:
            paths.append(("harm_scheme", self.harm_scheme))
        for name, value in paths:
            if value and not Path(value).is_file():
                raise InputFormatError(f"{name}: {value}: no such file")
        for value in self.incidents or ():
            if not any(ch in value for ch in "*?[") and not Path(value).exists():
                raise InputFormatError(f"incidents: {value}: no such file or folder")

    def to_record(self) -> dict:
        """The options as a JSON-friendly dict (for the manifest)."""
        return dataclasses.asdict(self)


def _check_type(name: str, value: Any, hint: Any) -> None:
    """Raise a one-line error when ``value`` does not fit the field's annotation."""
    origin = get_origin(hint)
    args = get_args(hint)
    if value is None:
        if type(None) in args:
            return
        raise InvalidParameterError(f"{name}: a value is required")
    if origin in (type(str | None),) or (origin is not None and type(None) in args):
        inner = [a for a in args if a is not type(None)]
        hint = inner[0] if len(inner) == 1 else hint
        origin, args = get_origin(hint), get_args(hint)
    if origin is tuple:
        if not isinstance(value, tuple):
            raise InvalidParameterError(f"{name} = {value!r}: expected a list")
        for item in value:
            _check_type(name, item, args[0])
        return
    if hint is bool:
        if not isinstance(value, bool):
            raise InvalidParameterError(f"{name} = {value!r}: expected true or false")
        return
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidParameterError(f"{name} = {value!r}: expected a whole number")
        return
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidParameterError(f"{name} = {value!r}: expected a number")
        return
    if hint is str and not isinstance(value, str):
        raise InvalidParameterError(f"{name} = {value!r}: expected text")


def _check_crs(text: str) -> None:
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        crs = CRS.from_user_input(text)
    except CRSError as exc:
        raise InvalidParameterError(f"crs = {text!r}: not a known CRS ({exc})") from None
    if not crs.is_projected:
        raise InvalidParameterError(
            f"crs = {text!r} is not projected; give a metric CRS (e.g. EPSG:27700)"
        )
