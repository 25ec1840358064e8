"""The crime-type vocabulary: canonical types, their aliases and police-generated flags.

The canonical vocabulary is the police.uk category set written as slugs
(``burglary``, ``violence-and-sexual-offences``, ...), plus three historical categories that
cannot be merged into current ones without changing their meaning (``violent-crime-2011``,
``other-crime-2011``, ``public-disorder-and-weapons``). Names from police.uk street files
(current and 2011 formats) and police.uk API slugs map onto it through
``resources/crime_type_aliases.csv``; other sources pass a user mapping. Unknown names are
reported, never silently merged.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

from geodemand.errors import InvalidParameterError


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
