"""The benchmark harness.

Each benchmark module ``benchmarks/bench_*.py`` defines a module-level list ``BENCHMARKS`` of
:class:`Benchmark` objects. A benchmark builds its data once (``setup``), checks that
geodemand and the peer agree (``compare``, which returns the error it printed), then times
each side ``repeats`` times after one warm-up run and reports median seconds and the ratio
``peer / geodemand``. ``floor`` is the regression guard used by CI in ``--quick`` mode: the
run fails if the ratio falls below it. Ratios, never absolute seconds, are guarded.

A benchmark without a peer (e.g. generator throughput) sets ``peer=None`` and gives
``target_seconds``: its "ratio" is then ``target_seconds / measured`` (>= 1 meets the target),
with the target scaled linearly to the benchmark's size.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Benchmark:
    """One benchmark: geodemand (``ours``) against ``peer`` on the same data.

    Parameters
    ----------
    name : str
        Short unique name used on the command line.
    description : str
        What is measured, including the peer's name and settings.
    setup : callable(n) -> data
        Builds the input data of size ``n`` once.
    ours : callable(data) -> result
        Runs geodemand.
    peer : callable(data) -> result, optional
        Runs the peer library on the same data.
    compare : callable(ours_result, peer_result) -> str, optional
        Checks agreement; returns a short description of the error (e.g. "0 label
        differences", "max rel err 3e-12"); raises AssertionError if they disagree.
    quick_n, full_n : int
        Sizes for ``--quick`` and full runs.
    floor : float
        Minimum acceptable ratio in quick mode (CI guard).
    target_ratio : float
        The issue's target ratio at full size (reported, not enforced in CI).
    target_seconds : float, optional
        For peer-less benchmarks: target wall time at ``target_n`` items.
    peer_subsample : callable(n) -> int, optional
        If the peer is too slow, it is run on this many items and its time extrapolated
        linearly (or by ``peer_scaling``); the report says so.
    teardown : callable(data), optional
        Releases what ``setup`` made (temporary folders, clusters); called once the
        benchmark ends, whether or not it failed.
    """

    name: str
    description: str
    setup: Callable[[int], Any]
    ours: Callable[[Any], Any]
    peer: Callable[[Any], Any] | None = None
    peer_name: str = ""
    compare: Callable[[Any, Any], str] | None = None
    quick_n: int = 10_000
    full_n: int = 1_000_000
    floor: float = 1.0
    target_ratio: float | None = None
    target_seconds: float | None = None
    target_n: int | None = None
    repeats: int = 3
    peer_repeats: int | None = None
    peer_setup: Callable[[Any, int], Any] | None = None
    peer_scale: Callable[[Any, Any], float] | None = None
    notes: list[str] = field(default_factory=list)
    teardown: Callable[[Any], None] | None = None


def _time(fn: Callable[[Any], Any], data: Any, repeats: int) -> tuple[float, Any, list[float]]:
    result = fn(data)  # warm-up (JIT compile, caches)
    times = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        result = fn(data)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result, times


def run_benchmark(bench: Benchmark, quick: bool) -> dict[str, Any]:
    """Run one benchmark and return its report row (``bench.teardown`` runs at the end)."""
    n = bench.quick_n if quick else bench.full_n
    data = bench.setup(n)
    try:
        return _measure(bench, quick, n, data)
    finally:
        if bench.teardown is not None:
            bench.teardown(data)


def _measure(bench: Benchmark, quick: bool, n: int, data: Any) -> dict[str, Any]:
    ours_s, ours_result, ours_times = _time(bench.ours, data, bench.repeats)
    row: dict[str, Any] = {
        "name": bench.name,
        "description": bench.description,
        "n": n,
        "quick": quick,
        "geodemand_median_s": ours_s,
        "geodemand_times_s": ours_times,
        "floor": bench.floor,
        "target_ratio": bench.target_ratio,
        "notes": list(bench.notes),
    }
    if bench.peer is not None:
        peer_data = data
        scale = 1.0
        if bench.peer_setup is not None:
            peer_data = bench.peer_setup(data, n)
        if bench.peer_scale is not None:
            scale = bench.peer_scale(data, peer_data)
            if scale != 1.0:
                row["notes"].append(
                    f"peer run on a subsample and its time extrapolated x{scale:.4g}"
                )
        peer_s, peer_result, peer_times = _time(
            bench.peer, peer_data, bench.peer_repeats or bench.repeats
        )
        row["peer"] = bench.peer_name
        row["peer_median_s"] = peer_s * scale
        row["peer_times_s"] = [t * scale for t in peer_times]
        row["agreement"] = (
            bench.compare(ours_result, peer_result) if bench.compare is not None else "not checked"
        )
        row["ratio"] = row["peer_median_s"] / ours_s if ours_s > 0 else float("inf")
    else:
        target_n = bench.target_n or n
        target = bench.target_seconds * n / target_n
        row["peer"] = f"target {bench.target_seconds:g} s at n={target_n:,} (scaled)"
        row["peer_median_s"] = target
        row["agreement"] = (
            bench.compare(ours_result, None) if bench.compare is not None else "not checked"
        )
        row["ratio"] = target / ours_s if ours_s > 0 else float("inf")
    row["passed_floor"] = bool(row["ratio"] >= bench.floor) if quick else None
    return row
