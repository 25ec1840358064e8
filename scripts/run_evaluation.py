"""Reproduce the backtest tables of docs/evaluation.md on the bundled and shared real data.

Usage (from the repository root)::

    python scripts/run_evaluation.py --out evaluation_out [--only leics-all|leics-burglary|chicago]

Each run is the same as one ``geodemand evaluate`` command (printed before it runs) and writes
``<name>_summary.csv``, ``<name>_folds.csv``, ``<name>.md`` and ``<name>_hit_rate.png`` into
``--out``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
LEICS_INCIDENTS = ROOT / "data" / "incidents" / "leicestershire"
LEICS_LPUS = ROOT / "data" / "boundaries" / "leicestershire" / "lpus.geojson"
CHICAGO = SHARED / "incidents" / "chicago"
CHICAGO_MAP = {"date": "date", "lon": "longitude", "lat": "latitude",
               "crime_type_value": "violence-and-sexual-offences"}

RUNS = {
    "leics-all": {
        "paths": [LEICS_INCIDENTS], "lpus": LEICS_LPUS, "mapping": None,
        "exclude": ["anti-social-behaviour"], "only": None, "period": "month", "folds": 12,
    },
    "leics-burglary": {
        "paths": [LEICS_INCIDENTS], "lpus": LEICS_LPUS, "mapping": None,
        "exclude": None, "only": ["burglary"], "period": "month", "folds": 12,
    },
    "chicago": {
        "paths": [CHICAGO / "chicago_aggravated_assaults.csv.gz"],
        "lpus": CHICAGO / "chicago_police_districts.geojson", "mapping": CHICAGO_MAP,
        "exclude": None, "only": None, "period": "week", "folds": 26,
    },
}


def command_line(name: str, spec: dict, out: Path) -> str:
    """The equivalent ``geodemand evaluate`` command."""
    parts = ["geodemand evaluate", *(os.path.relpath(p, ROOT) for p in spec["paths"])]
    parts += ["--lpu-boundaries", os.path.relpath(spec["lpus"], ROOT)]
    for k, v in (spec["mapping"] or {}).items():
        parts += ["--map", f"{k}={v}"]
    for t in spec["only"] or []:
        parts += ["--crime-type", t]
    for t in spec["exclude"] or []:
        parts += ["--exclude-type", t]
    parts += ["--period", spec["period"], "--folds", str(spec["folds"]), "--out", str(out),
              "--stem", name]
    return " ".join(parts)


def run(name: str, spec: dict, out: Path) -> None:
    from geodemand.evaluate.backtesting import backtest
    from geodemand.ingest.areas import assign_areas, read_areas
    from geodemand.ingest.incidents import read_incidents

    print(f"\n## {name}\n(from the repository root:)\n"
          f"{command_line(name, spec, out)}\n", flush=True)
    t0 = time.perf_counter()
    table = read_incidents([str(p) for p in spec["paths"]], mapping=spec["mapping"])
    lpus = read_areas(spec["lpus"], crs=table.crs)
    frame = assign_areas(table, lpus).frame
    if spec["only"]:
        frame = frame[frame["crime_type"].isin(spec["only"])]
    if spec["exclude"]:
        frame = frame[~frame["crime_type"].isin(spec["exclude"])]
    result = backtest(frame, study_area=lpus, period=spec["period"], n_folds=spec["folds"])
    paths = result.write(out, name)
    print(result.to_markdown())
    print(f"{len(frame):,} incidents; {time.perf_counter() - t0:.0f} s; wrote "
          + ", ".join(p.name for p in paths.values()), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "evaluation_out")
    parser.add_argument("--only", choices=sorted(RUNS), action="append")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="geodemand: %(message)s", stream=sys.stderr)
    for name in args.only or list(RUNS):
        run(name, RUNS[name], args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
