"""Markdown for the summary and the control plans: escaped text and tables.

Text from the data (place names, LPU and neighbourhood names, crime types, file names) is
escaped for Markdown with backslashes, never with HTML entities, so ``St Matthew's`` stays
``St Matthew's`` in the file and in every renderer. Tables are drawn by
:meth:`pandas.DataFrame.to_markdown` (the ``tabulate`` package, GitHub "pipe" format) from
cells that are formatted and escaped here first (tabulate's own number parsing is off, so a
value is never re-read or re-formatted).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

#: Characters escaped wherever they appear: they start emphasis, code, links, HTML, tables or
#: strikethrough in CommonMark / GitHub Flavoured Markdown. An underscore between two letters
#: or digits never starts emphasis (``score_harm`` stays as it is).
_INLINE = re.compile(r"([\\`*\[\]<>|~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
#: An HTML entity or character reference (``&amp;``, ``&#x27;``): its ``&`` is escaped so the
#: text is shown as typed.
_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
#: Block syntax at the start of a line: headings, quotes, list markers, rules, setext.
_LINE_START = re.compile(r"^(\s*)(?:([#>+\-=])|(\d+)([.)]))")
_SPACE = re.compile(r"[\r\n\t\f\v]+")

#: Text of a missing value in a table.
MISSING = "–"


def escape(text: Any, *, line_start: bool = False) -> str:
    """``text`` as literal Markdown text (one line).

    Backslash-escapes ``\\ ` * [ ] < > | ~``, an ``_`` that could start emphasis (not one
    inside a word) and an ``&`` that would start an entity; newlines and tabs become spaces.
    Apostrophes, quotes and every other character are kept as they are. With ``line_start``
    (text that begins a line of a paragraph), block syntax at its start is escaped too
    (``#``, ``>``, ``+``, ``-``, ``=``, ``1.``).
    """
    s = _SPACE.sub(" ", str(text))
    s = _INLINE.sub(lambda m: "\\" + m.group(0), s)
    s = _ENTITY.sub(r"\\&", s)
    if line_start:
        s = _LINE_START.sub(_escape_block, s)
    return s


def _escape_block(m: re.Match) -> str:
    if m.group(2):
        return m.group(1) + "\\" + m.group(2)
    return m.group(1) + m.group(3) + "\\" + m.group(4)


def format_cell(value: Any, *, floatfmt: str = ".3f") -> str:
    """One table value as escaped Markdown text.

    Missing values (None, NaN, NaT) -> ``–``; booleans -> yes/no; integers with thousands
    separators; other floats with ``floatfmt`` (default 3 decimals); timestamps as ISO dates
    (with the time when it is not midnight); lists, tuples and sets joined by ``"; "``.
    """
    if value is None:
        return MISSING
    if isinstance(value, (list, tuple, set, np.ndarray)):
        items = sorted(value, key=str) if isinstance(value, set) else list(value)
        return "; ".join(format_cell(v, floatfmt=floatfmt) for v in items)
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (pd.Timestamp, np.datetime64)) or hasattr(value, "isoformat"):
        if pd.isna(value):
            return MISSING
        ts = pd.Timestamp(value)
        return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat(sep=" ")
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isnan(v):
            return MISSING
        return escape(format(v, floatfmt))
    if value is pd.NA:
        return MISSING
    return escape(value)


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def table(
    frame: pd.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    formats: Mapping[str, Callable[[Any], str]] | None = None,
    floatfmt: str = ".3f",
    empty: str = "(none)",
) -> str:
    """A Markdown (GitHub pipe) table of ``columns`` of ``frame``.

    Parameters
    ----------
    frame : DataFrame
    columns : list of str, optional
        Columns in order (default all); names not in ``frame`` are skipped.
    headers : mapping, optional
        Header text per column (default the column name); escaped.
    formats : mapping of column -> callable, optional
        Formatter per column returning plain text (escaped afterwards), for units or
        percentages, e.g. ``{"share": lambda v: f"{v:.0%}"}``.
    floatfmt : str
        Format of other float values (default 3 decimals).
    empty : str
        Returned (escaped) when ``frame`` has no rows or none of ``columns``.

    Returns
    -------
    str
        The table; numeric columns are right-aligned.
    """
    cols = [c for c in (columns if columns is not None else frame.columns) if c in frame.columns]
    if not cols or frame.empty:
        return escape(empty)
    headers = dict(headers or {})
    formats = dict(formats or {})
    cells = {}
    for c in cols:
        fmt = formats.get(c)
        values = frame[c].tolist()
        if fmt is not None:
            cells[escape(headers.get(c, c))] = [
                MISSING if _missing(v) else escape(fmt(v)) for v in values
            ]
        else:
            cells[escape(headers.get(c, c))] = [format_cell(v, floatfmt=floatfmt) for v in values]
    out = pd.DataFrame(cells)
    align = ["right" if _is_numeric(frame[c]) else "left" for c in cols]
    return out.to_markdown(
        index=False, tablefmt="pipe", disable_numparse=True, colalign=align
    )


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
