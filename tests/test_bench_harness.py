"""The benchmark harness releases what a benchmark's setup made, also when it fails."""

from __future__ import annotations

import pytest

from benchmarks.harness import Benchmark, run_benchmark


def _bench(ours, released: list) -> Benchmark:
    return Benchmark(
        name="toy", description="toy", setup=lambda n: {"n": n}, ours=ours,
        peer=lambda d: d["n"], compare=lambda a, b: f"{a} vs {b}", quick_n=3, full_n=5,
        repeats=1, teardown=released.append,
    )


def test_teardown_runs_once_after_the_benchmark():
    released: list = []
    row = run_benchmark(_bench(lambda d: d["n"], released), quick=True)
    assert released == [{"n": 3}]
    assert row["agreement"] == "3 vs 3" and row["n"] == 3


def test_teardown_runs_when_the_benchmark_fails():
    released: list = []

    def broken(data):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run_benchmark(_bench(broken, released), quick=False)
    assert released == [{"n": 5}]

