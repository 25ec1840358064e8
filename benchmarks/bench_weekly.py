"""The weekly job end to end (issue #18 target: the default run in <= 10 s with a warm JIT
cache).

Peer-less: the "ratio" is the 10 s target divided by the median run time (>= 1 meets it).
Both sizes are the default run: the bundled two-year synthetic West Midlands history, all ten
LPUs, with the register, equity audit, reviews, four rasters and eleven maps (9.5-10.0 s a run
here with the machine quiet, ratio 1.00-1.05; up to 11.4 s when this shared VM runs slow; the
CI floor 0.5 guards against regressions). The per-stage breakdown of the last run is printed
with the agreement.
"""

from __future__ import annotations

import shutil
import tempfile

from benchmarks.harness import Benchmark

DEMO_INCIDENTS = 602_064


def _setup(n: int) -> dict:
    from geodemand.jobs.weekly import WeeklyConfig

    out = tempfile.mkdtemp(prefix="geodemand-bench-weekly-")
    return {"config": WeeklyConfig(out=out, tiles="none")}


def _teardown(data: dict) -> None:
    shutil.rmtree(data["config"].out, ignore_errors=True)


def _ours(data: dict):
    from geodemand.jobs.weekly import run_weekly

    return run_weekly(data["config"], quiet=True)


def _check(result, _peer) -> str:
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items())
    assert result.manifest["n_patrol_areas"] > 0
    return f"{result.manifest['rows']['accepted']:,} incidents; stages: {stages}"


BENCHMARKS = [
    Benchmark(
        name="weekly",
        description="geodemand weekly, default run (two years, whole force, all LPUs); "
        "target 10 s with a warm JIT cache",
        setup=_setup,
        ours=_ours,
        compare=_check,
        quick_n=DEMO_INCIDENTS,
        full_n=DEMO_INCIDENTS,
        target_seconds=10.0,
        target_n=DEMO_INCIDENTS,
        floor=0.5,
        target_ratio=1.0,
        teardown=_teardown,
    ),
]
