"""Regenerate the results of docs/evaluation.md: rolling backtests on the bundled real data.

Usage (from the repository root)::

    python scripts/run_evaluation.py [--only leics-victim|leics-burglary|chicago] [--out DIR]

Each run is the same as one ``geodemand evaluate`` command (printed in the document). The
results replace the text between ``<!-- results:start -->`` and ``<!-- results:end -->`` in
``docs/evaluation.md``; the CSVs (summary, folds, per LPU, places) and the hit-rate plot are
written into ``--out`` (default ``evaluation_out/``, not committed). Runs are deterministic.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "evaluation.md"
LEICS = ROOT / "data" / "incidents" / "leicestershire"
LEICS_LPUS = ROOT / "data" / "boundaries" / "leicestershire" / "lpus.geojson"
CHICAGO = ROOT / "tests" / "data" / "incidents" / "chicago"
START, END = "<!-- results:start -->", "<!-- results:end -->"

RUNS = {
    "leics-victim": {
        "title": "Leicestershire, victim crime and anti-social behaviour (the default demand)",
        "incidents": [LEICS], "lpus": LEICS_LPUS, "mapping": None, "crime_types": None,
        "period": "month", "folds": 12, "cell_size_m": 250.0, "bandwidths": (250.0, 500.0,
                                                                             1000.0),
    },
    "leics-burglary": {
        "title": "Leicestershire, burglary only",
        "incidents": [LEICS], "lpus": LEICS_LPUS, "mapping": None, "crime_types": ["burglary"],
        "period": "month", "folds": 12, "cell_size_m": 250.0, "bandwidths": (250.0, 500.0,
                                                                             1000.0),
    },
    "chicago": {
        "title": "Chicago, aggravated assaults (weekly folds)",
        "incidents": [CHICAGO / "chicago_aggravated_assaults.csv.gz"],
        "lpus": CHICAGO / "chicago_police_districts.geojson",
        "mapping": {"date": "date", "lon": "longitude", "lat": "latitude",
                    "crime_type_value": "violence-and-sexual-offences"},
        "crime_types": None, "period": "week", "folds": 26, "cell_size_m": 250.0,
        "bandwidths": (250.0, 500.0, 1000.0),
    },
}


def command_line(spec: dict) -> str:
    """The equivalent ``geodemand evaluate`` command."""
    parts = ["geodemand evaluate"]
    for p in spec["incidents"]:
        parts += ["--incidents", os.path.relpath(p, ROOT)]
    parts += ["--lpu-boundaries", os.path.relpath(spec["lpus"], ROOT)]
    for k, v in (spec["mapping"] or {}).items():
        parts += ["--map", f"{k}={v}"]
    for t in spec["crime_types"] or []:
        parts += ["--crime-type", t]
    parts += ["--fold-period", spec["period"], "--folds", str(spec["folds"]),
              "--cell-size-m", f"{spec['cell_size_m']:g}"]
    for h in spec["bandwidths"]:
        parts += ["--kde-bandwidth-m", f"{h:g}"]
    return " ".join(parts)


def run(name: str, spec: dict, out: Path) -> str:
    """Run one backtest through the same code path as ``geodemand evaluate``; return its
    Markdown section."""
    from geodemand.cli.options import prepare, weekly_config
    from geodemand.evaluate.backtesting import backtest

    t0 = time.perf_counter()
    params = {"incidents": tuple(str(p) for p in spec["incidents"]),
              "lpu_boundaries": str(spec["lpus"]),
              "crime_types": tuple(spec["crime_types"] or ()),
              "cell_size_m": spec["cell_size_m"]}
    cfg = weekly_config(params)
    _, areas, demand = prepare(cfg, spec["mapping"], whole_history=True)
    result = backtest(demand, areas=areas, cell_size_m=spec["cell_size_m"],
                      period=spec["period"], n_folds=spec["folds"],
                      bandwidths_m=spec["bandwidths"], seed=cfg.seed)
    result.write(out, name)
    seconds = time.perf_counter() - t0
    print(f"{name}: {seconds:.0f} s", file=sys.stderr)
    return "\n".join([
        f"### {spec['title']}",
        "",
        "```sh",
        command_line(spec),
        "```",
        "",
        result.to_markdown(digits=2),
        "",
        f"(Run time {seconds:.0f} s on 2 cores.)",
    ])


def replace_section(text: str, name: str, body: str) -> str:
    """Replace the text between the markers of run ``name`` (added before the end marker of
    the results when missing)."""
    start, end = f"<!-- result:{name}:start -->", f"<!-- result:{name}:end -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        return f"{head}{start}\n{body}\n{end}{tail}"
    head, tail = text.split(END, 1)
    return f"{head}{start}\n{body}\n{end}\n\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "evaluation_out")
    parser.add_argument("--only", choices=sorted(RUNS), action="append")
    args = parser.parse_args(argv)
    import geodemand as gd

    gd.quiet()
    names = args.only or list(RUNS)
    text = DOC.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{DOC}: the markers {START} and {END} are missing")
    for name in names:
        spec = RUNS[name]
        missing = [p for p in [*spec["incidents"], spec["lpus"]] if not Path(p).exists()]
        if missing:
            print(f"{name}: skipped, {missing[0]} not found", file=sys.stderr)
            continue
        text = replace_section(text, name, run(name, spec, args.out))
        DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
