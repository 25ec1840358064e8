"""Performance framework: year to date against last year and milestones (file, per LPU)."""

from __future__ import annotations

import pandas as pd
import pytest

from geodemand.errors import InputFormatError, InvalidParameterError
from geodemand.evaluate.performance import read_milestones, ytd_lines, ytd_vs_milestones


def frame() -> pd.DataFrame:
    rows = []

    def add(lpu, ctype, when, n):
        rows.extend({"lpu": lpu, "crime_type": ctype, "occurred": pd.Timestamp(when)}
                    for _ in range(n))

    add("North", "burglary", "2020-03-10", 100)
    add("North", "burglary", "2021-02-10", 90)  # -10 %
    add("North", "robbery", "2020-05-01", 20)
    add("North", "robbery", "2021-05-01", 20)  # 0 %
    add("South", "burglary", "2020-06-30", 10)
    add("South", "burglary", "2021-01-05", 7)  # -30 %
    add("South", "shoplifting", "2021-03-01", 3)  # theft: nothing last year
    add("North", "burglary", "2019-12-01", 1)
    f = pd.DataFrame(rows)
    f["date_precision"] = "day"
    return f


def write(tmp_path, text: str):
    p = tmp_path / "milestones.csv"
    p.write_text(text, encoding="utf-8")
    return p


def test_milestones_file_per_lpu_overrides_and_all_group(tmp_path):
    path = write(tmp_path, "lpu,group,milestone_pct\n,burglary,-5\n,all,-3\n"
                           "South,burglary,-40 %\n")
    m = read_milestones(path)
    assert m[["lpu", "group"]].values.tolist() == [["*", "burglary"], ["*", "all"],
                                                  ["South", "burglary"]]
    assert m["milestone"].tolist() == pytest.approx([-0.05, -0.03, -0.40])
    t = ytd_vs_milestones(frame(), path, as_of="2021-06-30").set_index(["lpu", "group"])
    assert t.loc[("North", "burglary"), "milestone_pct"] == pytest.approx(-5)
    assert t.loc[("North", "burglary"), "status"] == "met"  # -10 % <= -5 %
    assert t.loc[("South", "burglary"), "milestone_pct"] == pytest.approx(-40)
    assert t.loc[("South", "burglary"), "status"] == "not met"  # -30 % > -40 %
    # all: every crime together; North 110 vs 120, South 10 vs 10
    assert t.loc[("North", "all"), ["ytd_this_year", "ytd_last_year"]].tolist() == [110, 120]
    assert t.loc[("South", "all"), ["ytd_this_year", "ytd_last_year"]].tolist() == [10, 10]
    assert t.loc[("Force", "all"), "status"] == "met"  # (120-130)/130 = -7.7 % <= -3 %
    assert t.loc[("South", "all"), "status"] == "not met"
    assert "robbery" not in t.index.get_level_values("group")  # only milestone groups


def test_ytd_lines_plain_words():
    t = ytd_vs_milestones(frame(), {"burglary": -0.05, "robbery": -0.05}, as_of="2021-06-30")
    lines = ytd_lines(t)
    assert set(lines) == {"North", "South", "Force"}
    assert lines["North"] == (
        "North: 110 incidents year to date (2021-01-01 to 2021-06-30), -8 % vs the same period "
        "last year (120); milestones met: burglary (-10 % vs -5 %); not met: robbery (+0 % vs "
        "-5 %).")
    assert "met: burglary (-30 % vs -5 %)" in lines["South"]
    plain = ytd_lines(ytd_vs_milestones(frame(), as_of="2021-06-30"))
    assert plain["South"] == ("South: 10 incidents year to date (2021-01-01 to 2021-06-30), "
                              "+0 % vs the same period last year (10).")


@pytest.mark.parametrize(("text", "message"), [
    ("group,milestone_pct\nburglary,five\n", "row 2, field 'milestone_pct': 'five'"),
    ("group,milestone_pct\nburglary,-5\nburgling,-5\n", "row 3, field 'group': 'burgling'"),
    ("group,milestone_pct\nburglary,-150\n", "row 2, field 'milestone_pct': -150"),
    ("lpu,group,milestone_pct\nA,burglary,-5\nA,Burglary,-6\n", "row 3: milestone for LPU 'A'"),
    ("group,target\nburglary,-5\n", "missing column(s) ['milestone_pct']"),
    ("group,milestone_pct,colour\nburglary,-5,red\n", "unknown column(s) ['colour']"),
    ("group,milestone_pct\n", "header only"),
])
def test_milestones_file_errors_name_file_row_and_field(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(InputFormatError) as err:
        read_milestones(path)
    assert str(path) in str(err.value) and message in str(err.value)
    assert "\n" not in str(err.value)


def test_year_start_must_exist_every_year():
    with pytest.raises(InvalidParameterError, match="02-29"):
        ytd_vs_milestones(frame(), year_start="02-29", as_of="2021-06-30")
    with pytest.raises(InputFormatError, match="not found"):
        read_milestones("/nonexistent/milestones.csv")
