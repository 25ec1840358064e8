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


def test_national_task_cost_fit_recovers_a_fixed_cost_per_template_and_one_slope():
    from benchmarks.bench_national import fit_task_cost, makespan

    rows = [100_000, 200_000, 300_000, 50_000, 80_000]
    templates = ["west-midlands"] * 3 + ["leicestershire"] * 2
    fixed = {"west-midlands": 5.0, "leicestershire": 8.0}
    seconds = [fixed[t] + 9e-6 * n for t, n in zip(templates, rows, strict=True)]
    got_fixed, per_row = fit_task_cost(rows, templates, seconds)
    assert got_fixed == pytest.approx(fixed) and per_row == pytest.approx(9e-6)
    # longest task first on 2 workers: [5, 4] and [3, 3, 2] end at 9 and 8
    assert makespan([3, 5, 2, 4, 3], 2) == 9
