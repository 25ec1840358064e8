"""Crime-type vocabulary, harm weights and police-generated flags.

The canonical vocabulary is the police.uk category set written as slugs
(``burglary``, ``violence-and-sexual-offences``, ...), plus three historical categories that
cannot be merged into current ones without changing their meaning (``violent-crime-2011``,
``other-crime-2011``, ``public-disorder-and-weapons``). Names from police.uk street files
(current and 2011 formats) and police.uk API slugs map onto it through
``resources/crime_type_aliases.csv``; other sources pass a user mapping. Unknown names are
reported, never silently merged.

The harm-weight table (``resources/harm_weights.csv``) has columns
``crime_type, harm_weight, status, version, source``. ``status`` is ``sourced`` or
``placeholder``; the shipped table holds **placeholders only** (a relative ordering in the
spirit of the Cambridge Crime Harm Index, Sherman, Neyroud & Neyroud 2016), because
police.uk categories aggregate many offences whose guideline starting points differ, and no
published per-category aggregation could be sourced. Replace it with one flag
(``--harm-weights FILE`` or ``harm_weights(path)``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from geodemand._announce import announce
from geodemand.errors import InputFormatError, InvalidParameterError

HARM_COLUMNS = ("crime_type", "harm_weight", "status", "version", "source")


def _resource(name: str):
    return resources.files("geodemand").joinpath("resources", name)


@lru_cache(maxsize=1)
def crime_types() -> pd.DataFrame:
    """The canonical crime types with ``label``, ``group`` and ``police_generated``."""
    with _resource("crime_types.csv").open("r", encoding="utf-8") as fh:
        frame = pd.read_csv(fh, dtype={"police_generated": str})
    frame["police_generated"] = frame["police_generated"].str.lower().eq("true")
    return frame


@lru_cache(maxsize=1)
def _alias_table() -> dict[str, str]:
    with _resource("crime_type_aliases.csv").open("r", encoding="utf-8") as fh:
        aliases = pd.read_csv(fh)
    table = {_key(a): c for a, c in zip(aliases["alias"], aliases["crime_type"], strict=True)}
    for slug in crime_types()["crime_type"]:
        table.setdefault(_key(slug), slug)
    return table


def _key(name: str) -> str:
    """Case-, space- and punctuation-insensitive lookup key of a crime-type name."""
    return re.sub(r"[^a-z0-9]+", " ", str(name).lower()).strip()


def police_generated_types() -> frozenset[str]:
    """Canonical types flagged as police-generated (found by police activity)."""
    frame = crime_types()
    return frozenset(frame.loc[frame["police_generated"], "crime_type"])


def normalise_crime_type(
    names: pd.Series | list[str] | np.ndarray,
    user_mapping: dict[str, str] | None = None,
) -> tuple[pd.Series, pd.Series]:
    """Map raw crime-type names onto the canonical vocabulary.

    Parameters
    ----------
    names : sequence of str
        Raw names (police.uk street names, 2011 names, API slugs, or user names).
    user_mapping : dict, optional
        Extra ``{raw name: canonical slug}`` entries; they take precedence. Every target must
        be a canonical slug.

    Returns
    -------
    canonical : Series of str
        The canonical slug, or the raw name stripped of surrounding space where unknown.
    known : Series of bool
        False where the name is not in the vocabulary (the caller reports these).
    """
    series = pd.Series(names, copy=False)
    table = dict(_alias_table())
    if user_mapping:
        valid = set(crime_types()["crime_type"])
        for raw, target in user_mapping.items():
            if target not in valid:
                raise InvalidParameterError(
                    f"crime-type mapping {raw!r} -> {target!r}: target is not a canonical type; "
                    f"expected one of {sorted(valid)}"
                )
            table[_key(raw)] = target
    values = series.to_numpy(dtype=object, na_value="")
    uniques, inverse = np.unique(values.astype(str), return_inverse=True)
    found = np.array([table.get(_key(u)) for u in uniques], dtype=object)
    known_u = np.array([f is not None for f in found], dtype=bool)
    canon_u = np.where(known_u, found, np.char.strip(uniques.astype(str)).astype(object))
    canonical = pd.Series(canon_u[inverse], index=series.index, dtype=object)
    known = pd.Series(known_u[inverse], index=series.index, dtype=bool)
    return canonical, known


@dataclass(frozen=True)
class HarmTable:
    """A harm-weight table: one weight per canonical crime type.

    Attributes
    ----------
    frame : DataFrame
        Columns ``crime_type, harm_weight, status, version, source``.
    path : str
        Where it was read from (``"<package default>"`` for the shipped table).
    """

    frame: pd.DataFrame
    path: str

    @property
    def version(self) -> str:
        """The table's version(s), joined with ``;``."""
        return ";".join(sorted(set(self.frame["version"].astype(str))))

    @property
    def placeholders(self) -> list[str]:
        """Crime types whose weight is a placeholder."""
        return sorted(self.frame.loc[self.frame["status"] == "placeholder", "crime_type"])

    def weight_of(self) -> dict[str, float]:
        """``{crime_type: harm_weight}``."""
        return dict(zip(self.frame["crime_type"], self.frame["harm_weight"], strict=True))

    def weights(
        self, types: pd.Series | np.ndarray, unknown_weight: float | None = None
    ) -> np.ndarray:
        """Harm weight of each incident's type.

        Raises
        ------
        InvalidParameterError
            If a type has no weight and ``unknown_weight`` is None; the message lists the
            types and how to fix it.
        """
        mapping = self.weight_of()
        series = pd.Series(types, copy=False)
        out = series.map(mapping)
        missing = out.isna()
        if missing.any():
            names = sorted(series[missing].astype(str).unique())
            if unknown_weight is None:
                raise InvalidParameterError(
                    f"no harm weight for crime type(s) {names[:10]} in table {self.path}; "
                    "add them to the table (--harm-weights FILE) or map them to canonical types"
                )
            out = out.fillna(float(unknown_weight))
        return out.to_numpy(dtype=np.float64)

    def to_record(self) -> dict[str, object]:
        """A JSON-friendly description for manifests."""
        return {
            "path": self.path,
            "version": self.version,
            "placeholders": self.placeholders,
            "weights": {k: float(v) for k, v in self.weight_of().items()},
        }


def harm_weights(path: str | Path | None = None) -> HarmTable:
    """Read a harm-weight table (default: the shipped placeholder table).

    Parameters
    ----------
    path : path, optional
        CSV with columns ``crime_type, harm_weight, status, version, source``. Weights must be
        finite and >= 0; ``status`` must be ``sourced`` or ``placeholder``.
    """
    if path is None:
        with _resource("harm_weights.csv").open("r", encoding="utf-8") as fh:
            frame = pd.read_csv(fh)
        where = "<package default>"
    else:
        where = str(path)
        try:
            frame = pd.read_csv(path)
        except (
            OSError,
            pd.errors.ParserError,
            pd.errors.EmptyDataError,
            UnicodeDecodeError,
        ) as exc:
            raise InputFormatError(
                f"{where}: cannot read harm-weight table as CSV ({exc})"
            ) from exc
    missing = [c for c in HARM_COLUMNS if c not in frame.columns]
    if missing:
        raise InputFormatError(
            f"{where}: harm-weight table lacks column(s) {missing}; expected {list(HARM_COLUMNS)}"
        )
    weights = pd.to_numeric(frame["harm_weight"], errors="coerce")
    bad = weights.isna() | ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputFormatError(
            f"{where}: row {i + 2}, field harm_weight: {frame['harm_weight'].iloc[i]!r} is not a "
            "finite number >= 0"
        )
    status = frame["status"].astype(str).str.strip().str.lower()
    if not status.isin(["sourced", "placeholder"]).all():
        i = int(np.flatnonzero(~status.isin(["sourced", "placeholder"]).to_numpy())[0])
        raise InputFormatError(
            f"{where}: row {i + 2}, field status: {frame['status'].iloc[i]!r}; expected "
            "'sourced' or 'placeholder'"
        )
    if frame["crime_type"].duplicated().any():
        dup = frame.loc[frame["crime_type"].duplicated(), "crime_type"].iloc[0]
        raise InputFormatError(f"{where}: crime_type {dup!r} appears more than once")
    frame = frame.assign(harm_weight=weights.astype(float), status=status)
    table = HarmTable(frame=frame[list(HARM_COLUMNS)].reset_index(drop=True), path=where)
    if table.placeholders:
        announce(
            f"harm weights from {where}: {len(table.placeholders)} of {len(frame)} values are "
            "PLACEHOLDERS; pass --harm-weights FILE with your force's sourced table"
        )
    return table
