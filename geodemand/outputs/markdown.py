"""Markdown for the summary and the control plans: escaped text and tables, no HTML entities.

Text from the data (place and LPU names, labels) is escaped for Markdown with backslashes
(``|``, ``*``, ``_``, backquotes, brackets, ``<``, ``>``, ``#`` ...), so it is shown as written
(``St Matthew's`` stays ``St Matthew's``) and can neither break a table nor become markup or
HTML. Tables are rendered by :meth:`pandas.DataFrame.to_markdown` (``tabulate``).
"""

from __future__ import annotations

import re

import pandas as pd

_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~])")


def md(value) -> str:
    """``value`` as Markdown text: special characters backslash-escaped, one line."""
    text = "" if value is None else str(value)
    text = text.replace("\r", " ").replace("\n", " ")
    return _SPECIAL.sub(r"\\\1", text)


def md_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of ``frame`` (cells are used as given: escape text
    with :func:`md` first)."""
    if not len(frame):
        return "(none)"
    return frame.to_markdown(index=False, disable_numparse=True)
