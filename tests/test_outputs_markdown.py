"""Markdown for summaries and control plans (geodemand.outputs.markdown)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from geodemand.outputs.markdown import MISSING, escape, format_cell, table


def _unescape(text: str) -> str:
    """What a CommonMark renderer shows for backslash-escaped ASCII punctuation."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)


@pytest.mark.parametrize(
    "text",
    [
        "St Matthew's",
        'The "Bull" & Gate',
        "a | b",
        "*bold* _it_ `code` ~~gone~~",
        "<script>alert(1)</script>",
        "[link](http://x) ![img](y)",
        "&amp; &#x27; &lt;",
        "back\\slash",
        "snake_case_name",
        "{{7*7}} {% x %}",
    ],
)
def test_escape_round_trips_through_a_renderer(text):
    out = escape(text)
    assert _unescape(out) == text  # shown exactly as typed
    assert "&#" not in out.replace("\\&#", "")  # no HTML entity is introduced
    for ch in "*`|<>[]~":
        assert re.search(rf"(?<!\\){re.escape(ch)}", out) is None, ch  # every one escaped


def test_escape_keeps_apostrophes_and_words():
    assert escape("St Matthew's") == "St Matthew's"
    assert escape("score_harm") == "score_harm"  # an inner underscore is not emphasis
    assert escape("_x_") == "\\_x\\_"
    assert escape("line\nbreak\ttab") == "line break tab"
    assert escape("- item", line_start=True) == "\\- item"
    assert escape("12. May", line_start=True) == "12\\. May"
    assert escape("# title", line_start=True) == "\\# title"
    assert escape("12. May") == "12. May"  # inside a line it is plain text


def test_format_cell():
    assert format_cell(None) == MISSING and format_cell(np.nan) == MISSING
    assert format_cell(pd.NaT) == MISSING
    assert format_cell(np.int64(12345)) == "12,345"
    assert format_cell(0.12345) == "0.123"
    assert format_cell(2.0, floatfmt=".0f") == "2"
    assert format_cell(True) == "yes"
    assert format_cell(pd.Timestamp("2025-12-08")) == "2025-12-08"
    assert format_cell(["a|b", "c"]) == "a\\|b; c"


def test_table_is_a_pipe_table_with_escaped_cells():
    frame = pd.DataFrame(
        {
            "place": ["St Matthew's | Church", "<b>Park</b>"],
            "incidents": [1234, 5],
            "share": [0.384, np.nan],
        }
    )
    text = table(frame, ["place", "incidents", "share", "absent"],
                 formats={"share": lambda v: f"{v:.0%}"})
    lines = text.splitlines()
    assert len(lines) == 4
    assert re.fullmatch(r"\|:-+\|-+:\|-+:\|", lines[1])  # text left, numbers right
    assert "St Matthew's \\| Church" in lines[2] and "1,234" in lines[2] and "38%" in lines[2]
    assert "\\<b\\>Park\\</b\\>" in lines[3] and MISSING in lines[3]
    assert "&#" not in text
    # every row has the same number of unescaped pipes as the header
    count = [len(re.findall(r"(?<!\\)\|", line)) for line in lines]
    assert len(set(count)) == 1
    assert table(frame.iloc[:0], ["place"]) == "(none)"
    assert table(frame, ["absent"], empty="no rows") == "no rows"
