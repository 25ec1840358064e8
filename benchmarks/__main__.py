"""Entry point: ``python -m benchmarks [names] [--quick] [--json out.json] [--readme]``.

Runs every benchmark in ``benchmarks/bench_*.py`` (or those named), prints N, the median
seconds of geodemand and of the peer, their agreement and the ratio peer/geodemand. With
``--quick`` the exit code is 1 if any ratio is below its floor. With ``--readme`` the full
table is written into ``benchmarks/README.md`` with the date and machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import sys
import traceback
from pathlib import Path

from benchmarks.harness import Benchmark, run_benchmark

HERE = Path(__file__).resolve().parent


def discover() -> list[Benchmark]:
    """All benchmarks of all ``bench_*.py`` modules, in file then list order."""
    found: list[Benchmark] = []
    for path in sorted(HERE.glob("bench_*.py")):
        module = importlib.import_module(f"benchmarks.{path.stem}")
        found.extend(getattr(module, "BENCHMARKS", []))
    return found


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def format_table(rows: list[dict]) -> str:
    lines = [
        "| benchmark | N | geodemand median s | peer | peer median s | ratio peer/geodemand "
        "| floor (CI quick) | agreement | notes |",
        "|---|---:|---:|---|---:|---:|---:|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['name']} | | | | | ERROR | | {r['error']} | |")
            continue
        lines.append(
            f"| {r['name']} | {r['n']:,} | {r['geodemand_median_s']:.4f} | {r['peer']} | "
            f"{r['peer_median_s']:.4f} | {r['ratio']:.2f} | {r['floor']:g} | {r['agreement']} | "
            f"{'; '.join(r['notes'])} |"
        )
    return "\n".join(lines)


def write_readme(rows: list[dict]) -> None:
    path = HERE / "README.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    marker = "<!-- results -->"
    head = text.split(marker)[0].rstrip() + "\n\n"
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    body = (
        f"{marker}\n## Latest full-size results\n\nRun {stamp} on {machine_description()}.\n\n"
        f"{format_table(rows)}\n"
    )
    path.write_text(head + body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="small sizes; enforce floors")
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    parser.add_argument("--readme", action="store_true", help="write the table to README.md")
    parser.add_argument("--list", action="store_true", help="list benchmarks and exit")
    args = parser.parse_args(argv)

    benches = discover()
    if args.list:
        for b in benches:
            print(f"{b.name:28s} {b.description}")
        return 0
    if args.names:
        unknown = set(args.names) - {b.name for b in benches}
        if unknown:
            print(f"unknown benchmark(s): {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        benches = [b for b in benches if b.name in args.names]
    if not benches:
        print("no benchmarks found", file=sys.stderr)
        return 2

    rows = []
    failed = False
    for bench in benches:
        print(f"== {bench.name}: {bench.description}", flush=True)
        try:
            row = run_benchmark(bench, quick=args.quick)
        except Exception as exc:  # a broken benchmark is a failure, reported per row
            traceback.print_exc()
            row = {"name": bench.name, "error": f"{type(exc).__name__}: {exc}"}
            failed = True
        else:
            print(
                f"   N={row['n']:,}  geodemand {row['geodemand_median_s']:.4f} s  "
                f"{row['peer']} {row['peer_median_s']:.4f} s  ratio {row['ratio']:.2f} "
                f"(floor {row['floor']:g})  agreement: {row['agreement']}",
                flush=True,
            )
            for note in row["notes"]:
                print(f"   note: {note}")
            if args.quick and not row["passed_floor"]:
                print(f"   FAIL: ratio {row['ratio']:.2f} below floor {row['floor']:g}")
                failed = True
        rows.append(row)

    print()
    print(format_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=str))
    if args.readme and not args.quick:
        write_readme(rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
