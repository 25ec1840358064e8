"""Harm weights: one weight per canonical crime type (see :mod:`geodemand.ingest.vocabulary`).

The harm-weight table (``resources/harm_weights.csv``) has columns
``crime_type, harm_weight, status, version, source``. ``status`` is ``sourced`` or
``placeholder``; the shipped table holds **placeholders only** (a relative ordering in the
spirit of the Cambridge Crime Harm Index, Sherman, Neyroud & Neyroud 2016), because
police.uk categories aggregate many offences whose guideline starting points differ, and no
published per-category aggregation could be sourced. Replace it with one flag
(``--harm-weights FILE`` or ``harm_weights(path)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from geodemand._announce import announce
from geodemand.errors import InputFormatError, InvalidParameterError

HARM_COLUMNS = ("crime_type", "harm_weight", "status", "version", "source")


def _resource(name: str):
    return resources.files("geodemand").joinpath("resources", name)


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
