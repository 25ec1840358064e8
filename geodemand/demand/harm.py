"""Harm weights: Cambridge Crime Harm Index (CCHI) days per police.uk crime category.

Every incident's harm is its category's weight in **CCHI days** (days of imprisonment that the
sentencing guideline's starting point gives a first offender; Sherman, Neyroud & Neyroud 2016).
The values ship with the package (``resources/harm/``, provenance in its README) and are
re-derived from the Home Office offence subgroups at load time:

``cchi`` (default)
    a category's weight is the count-weighted average of its subgroups' **median** CCHI values
    (national 2024/25 recorded-crime counts as weights); when the data's force is known
    (police.uk "Reported by"/"Falls within", or ``force=``) the force's own subgroup mix is used
    (West Midlands, Leicestershire, Greater Manchester), and the choice is announced.
``cchi-mean``
    the same average of the subgroups' **mean** values (national only).
``count``
    every incident weighs 1 (plain demand counts).
a CSV file
    ``crime_type, harm_weight`` (days, finite, >= 0), optional ``status, version, source``.

Anti-social behaviour has no CCHI value: it is demand, not crime harm, and gets the documented
floor of :data:`ASB_FLOOR_DAYS` (1 day, equal to shoplifting); it stays in demand counts. The
2011–2013 police.uk categories are derived from the current categories they merged (status
``derived``, see ``resources/harm/README.md``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from geodemand._announce import announce
from geodemand._columns import map_distinct
from geodemand.errors import InputFormatError, InvalidParameterError
from geodemand.ingest.vocabulary import crime_types

#: Harm schemes shipped with the package (a path to a CSV is the fourth option).
SCHEMES = ("cchi", "cchi-mean", "count")
#: Forces with their own CCHI weights (the ``force`` argument), plus ``national``.
FORCES = ("national", "west-midlands", "leicestershire", "greater-manchester")
#: Harm of one anti-social behaviour incident, days (no CCHI value exists; the floor).
ASB_FLOOR_DAYS = 1.0
#: Unit of harm weights and harm sums.
HARM_UNIT = "CCHI days"
#: police.uk "Reported by"/"Falls within" names of the forces with their own weights.
FORCE_NAMES = {
    "west midlands police": "west-midlands",
    "leicestershire police": "leicestershire",
    "greater manchester police": "greater-manchester",
}
#: Current categories each historical police.uk category merged (weights derived from them).
DERIVED = {
    "violent-crime-2011": ("violence-and-sexual-offences",),
    "public-disorder-and-weapons": ("public-order", "possession-of-weapons"),
    "other-crime-2011": (
        "criminal-damage-arson", "shoplifting", "other-theft", "drugs", "theft-from-the-person",
        "bicycle-theft", "public-order", "possession-of-weapons", "other-crime",
    ),
}
HARM_COLUMNS = ("crime_type", "harm_weight", "status", "source")
_SOURCE = "Cambridge Crime Harm Index 2026 (Sherman, Neyroud & Neyroud 2016)"


def _resource(name: str):
    return resources.files("geodemand").joinpath("resources", "harm", name)


@lru_cache(maxsize=1)
def cchi_subgroups() -> pd.DataFrame:
    """The shipped CCHI values per Home Office offence subgroup (``cchi_subgroups.csv``)."""
    with _resource("cchi_subgroups.csv").open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh)


@lru_cache(maxsize=1)
def cchi_by_category() -> pd.DataFrame:
    """The published per-category weights, national and per force (``cchi_by_category.csv``)."""
    with _resource("cchi_by_category.csv").open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh)


def derive_category_weights(statistic: str = "median") -> pd.Series:
    """Count-weighted average of the subgroups' CCHI ``statistic`` per police.uk category.

    Parameters
    ----------
    statistic : {"median", "mean"}
        Which subgroup value to average (days).

    Returns
    -------
    Series
        Days per category (index: police.uk category slug), national 2024/25 counts as weights.
    """
    if statistic not in ("median", "mean"):
        raise InvalidParameterError(f"statistic must be 'median' or 'mean', got {statistic!r}")
    sub = cchi_subgroups()
    value = sub[f"cchi_days_{statistic}"] * sub["national_count_2024_25"]
    total = value.groupby(sub["police_uk_category"]).sum()
    counts = sub.groupby("police_uk_category")["national_count_2024_25"].sum()
    return (total / counts).rename(f"cchi_{statistic}")


@dataclass(frozen=True)
class HarmTable:
    """A harm-weight table: one weight per canonical crime type.

    Attributes
    ----------
    frame : DataFrame
        ``crime_type, harm_weight`` (days, or 1 for the count scheme), ``status`` (``sourced``,
        ``derived``, ``floor``, ``user`` or ``count``) and ``source``.
    scheme : str
        ``cchi``, ``cchi-mean``, ``count`` or ``file``.
    force : str or None
        The force whose weights were used (``national`` for the national values).
    path : str
        Where the table came from (``<package>`` or the user's file).
    unit : str
        ``CCHI days`` (or ``incidents`` for the count scheme; the user's file: ``days``).
    """

    frame: pd.DataFrame
    scheme: str
    force: str | None
    path: str
    unit: str = HARM_UNIT

    @property
    def version(self) -> str:
        """A short description of the table (scheme, force, source)."""
        where = self.path if self.scheme == "file" else "CCHI 2026"
        return f"{self.scheme}:{self.force or '-'}:{where}"

    def weight_of(self) -> dict[str, float]:
        """``{crime_type: harm_weight}``."""
        return dict(zip(self.frame["crime_type"], self.frame["harm_weight"], strict=True))

    def weights(self, types, unknown_weight: float | None = None) -> np.ndarray:
        """Harm weight of each incident's type (days).

        Raises
        ------
        InvalidParameterError
            If a type has no weight and ``unknown_weight`` is None (message lists them).
        """
        mapping = self.weight_of()
        series = types if isinstance(types, pd.Series) else pd.Series(
            np.asarray(types, dtype=object), copy=False)
        out = map_distinct(series, mapping).astype(np.float64)
        missing = out.isna()
        if missing.any():
            names = sorted({str(v) for v in series[missing].to_numpy(dtype=object)})
            if unknown_weight is None:
                raise InvalidParameterError(
                    f"harm table {self.path} has no weight for crime type(s) {names[:10]}; add "
                    "them to the table (--harm-scheme FILE) or map them to canonical types"
                )
            out = out.fillna(float(unknown_weight))
        return out.to_numpy(dtype=np.float64)

    def to_record(self) -> dict[str, object]:
        """A JSON-friendly description for manifests and result parameters."""
        return {
            "scheme": self.scheme,
            "force": self.force,
            "path": self.path,
            "unit": self.unit,
            "weights": {k: float(v) for k, v in self.weight_of().items()},
            "asb_floor_days": ASB_FLOOR_DAYS if self.scheme != "count" else None,
        }


def force_of(names) -> str | None:
    """The force slug (``west-midlands``, ...) named by police.uk "Reported by" values, if any.

    ``names`` are the distinct values of the column; None when none of them is a force with its
    own weights, or when they name more than one such force.
    """
    found = {FORCE_NAMES.get(str(n).strip().lower()) for n in names}
    found.discard(None)
    return found.pop() if len(found) == 1 else None


def harm_table(scheme: str | os.PathLike[str] = "cchi", *, force: str | None = None) -> HarmTable:
    """The harm-weight table of a scheme (``cchi``, ``cchi-mean``, ``count``) or a CSV file.

    Parameters
    ----------
    scheme : str or path
        A scheme name or a path to a CSV (module documentation).
    force : str, optional
        ``national`` (default), ``west-midlands``, ``leicestershire`` or ``greater-manchester``
        (only the ``cchi`` scheme has force variants; others use national values, announced).

    Raises
    ------
    InvalidParameterError
        Unknown scheme or force (the message lists the valid ones).
    InputFormatError
        A harm file that cannot be read, lacks columns, or has a bad value (row and field named).
    """
    text = os.fspath(scheme)
    if text not in SCHEMES:
        path = Path(text)
        if path.suffix.lower() == ".csv" or path.exists():
            return _read_harm_file(path)
        raise InvalidParameterError(
            f"harm scheme {text!r}: expected one of {list(SCHEMES)} or the path of a CSV file "
            "with columns crime_type, harm_weight"
        )
    if force is not None and force not in FORCES:
        raise InvalidParameterError(f"force {force!r}: expected one of {list(FORCES)}")
    types = crime_types()["crime_type"].tolist()
    if text == "count":
        frame = pd.DataFrame(
            {"crime_type": types, "harm_weight": 1.0, "status": "count",
             "source": "every incident weighs 1"}
        )
        return HarmTable(frame, "count", None, "<package>", unit="incidents")
    force = force or "national"
    if text == "cchi-mean" and force != "national":
        announce(f"harm scheme cchi-mean has no force variant: national values used, not {force}")
        force = "national"
    if text == "cchi":
        table = cchi_by_category().set_index("police_uk_category")
        column = force.replace("-", "_")
        current = table[column]
    else:
        current = derive_category_weights("mean")
    counts = cchi_subgroups().groupby("police_uk_category")["national_count_2024_25"].sum()
    rows = []
    for t in types:
        if t in current.index:
            rows.append((t, float(current[t]), "sourced", f"{_SOURCE}; {text}, {force}"))
        elif t == "anti-social-behaviour":
            rows.append((t, ASB_FLOOR_DAYS, "floor",
                         "no CCHI value (demand, not crime harm): documented floor of 1 day"))
        elif t in DERIVED:
            parts = DERIVED[t]
            w = float(np.average([current[p] for p in parts], weights=[counts[p] for p in parts]))
            rows.append((t, w, "derived",
                         f"{_SOURCE}; count-weighted mix of {', '.join(parts)}"))
        else:
            raise InvalidParameterError(f"no CCHI value or derivation for crime type {t!r}")
    frame = pd.DataFrame(rows, columns=list(HARM_COLUMNS))
    return HarmTable(frame, text, force, "<package>")


def _read_harm_file(path: Path) -> HarmTable:
    where = str(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputFormatError(f"{where}: cannot read the harm-weight file as CSV ({exc})") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in ("crime_type", "harm_weight") if c not in frame.columns]
    if missing:
        raise InputFormatError(
            f"{where}: harm-weight file lacks column(s) {missing}; expected crime_type, "
            f"harm_weight (days) and optionally status, source; found {list(frame.columns)[:10]}"
        )
    if not len(frame):
        raise InputFormatError(f"{where}: the harm-weight file has no rows")
    for i, (ctype, raw) in enumerate(zip(frame["crime_type"], frame["harm_weight"], strict=True)):
        row = i + 2  # line number in the file (header is line 1)
        if not str(ctype).strip():
            raise InputFormatError(f"{where}: row {row}, field crime_type: empty")
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            raise InputFormatError(
                f"{where}: row {row}, field harm_weight: {raw!r} is not a finite number of days "
                ">= 0"
            )
    frame["crime_type"] = frame["crime_type"].str.strip()
    dup = frame["crime_type"].duplicated()
    if dup.any():
        raise InputFormatError(
            f"{where}: row {int(np.flatnonzero(dup.to_numpy())[0]) + 2}, field crime_type: "
            f"{frame.loc[dup, 'crime_type'].iloc[0]!r} appears more than once"
        )
    out = pd.DataFrame(
        {
            "crime_type": frame["crime_type"],
            "harm_weight": frame["harm_weight"].astype(float),
            "status": frame["status"] if "status" in frame.columns else "user",
            "source": frame["source"] if "source" in frame.columns else where,
        }
    )
    return HarmTable(out.reset_index(drop=True), "file", None, where, unit="days")


def harm_weights(path: str | os.PathLike[str] | None = None) -> HarmTable:
    """The default CCHI table (national medians), or a user's harm file (``path``)."""
    return harm_table("cchi" if path is None else path)
