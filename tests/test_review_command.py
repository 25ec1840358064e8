"""``geodemand review``: open plans, due reviews and results from a register (table and CSV)."""

from __future__ import annotations

import pandas as pd
from click.testing import CliRunner

from geodemand.cli import main
from geodemand.evaluate.register import Register

CRS = "EPSG:27700"


def _run(k: int) -> dict:
    start = pd.Timestamp("2024-01-01") + pd.Timedelta(weeks=k)
    return {"period_start": start, "period_end": start + pd.Timedelta(days=7),
            "lpus": ["North", "South"], "crs": CRS}


def _targets(ids, lpu, review):
    return pd.DataFrame({"target_id": ids, "target_type": "place", "lpu": lpu,
                         "label": [f"{i} Street" for i in ids], "rank": range(1, len(ids) + 1),
                         "x": 400_000.0, "y": 300_000.0, "review_date": review})


def make_register(path):
    with Register.open(path) as reg:
        reg.record_run(_run(0), pd.concat([_targets(["A", "B"], "North", "2024-01-10"),
                                           _targets(["S"], "South", "2024-02-28")]))
        review = pd.DataFrame({"kind": ["target"], "item_id": ["A"], "lpu": ["North"],
                               "plan_start": ["2024-01-08"], "review_date": ["2024-01-10"],
                               "outcome": ["reviewed"], "area_before": [20],
                               "area_after": [13], "wdq": [1.6],
                               "sentence": ["A Street: harm -38 % vs LPU -4 %; WDQ 1.6, "
                                            "diffusion of benefit"]})
        reg.record_run(_run(1), _targets(["S"], "South", "2024-02-28"), reviews=review)


def test_review_lists_open_due_and_results_and_writes_csv(tmp_path):
    path = tmp_path / "register.gpkg"
    make_register(path)
    out = tmp_path / "review.csv"
    result = CliRunner().invoke(main, ["-q", "review", "--register", str(path), "--csv",
                                       str(out)])
    assert result.exit_code == 0, result.output
    text = result.output
    assert "2 run(s) recorded" in text
    assert "Open plans as of 2024-01-15: 1" in text and "S Street" in text
    assert "Due for review as of 2024-01-15 (not yet reviewed): 1" in text
    assert "Review results: 1" in text and "diffusion of benefit" in text
    rows = pd.read_csv(out)
    assert rows["section"].tolist() == ["open", "due", "results"]
    assert rows["item_id"].tolist() == ["S", "B", "A"]
    # filters: one LPU, one list, another date
    result = CliRunner().invoke(main, ["-q", "review", "--register", str(path), "--lpu",
                                       "South", "--show", "due", "--as-of", "2024-03-01"])
    assert result.exit_code == 0, result.output
    assert "Due for review as of 2024-03-01 (not yet reviewed): 1" in result.output
    assert "S Street" in result.output and "B Street" not in result.output
    assert "Open plans" not in result.output


def test_stored_text_cannot_drive_the_terminal(tmp_path):
    path = tmp_path / "register.gpkg"
    with Register.open(path) as reg:
        reg.record_run(_run(0), _targets(["A"], "North", "2024-03-01").assign(
            label="Swan St\x1b[2J\x07"))
    result = CliRunner().invoke(main, ["-q", "review", "--register", str(path)])
    assert result.exit_code == 0, result.output
    assert "Swan St?[2J?" in result.output and "\x1b" not in result.output


def test_review_without_a_register_is_a_one_line_error(tmp_path):
    result = CliRunner().invoke(main, ["review", "--register", str(tmp_path / "none.gpkg")])
    assert result.exit_code == 2
    assert "no register here" in result.output
    assert not (tmp_path / "none.gpkg").exists()
