"""National runs on Dask (issue 18): a LocalCluster of 2 workers against a sequential loop.

Data: a synthetic national set (:func:`geodemand.ingest.synth.synthetic_national`, seed 0)
written once per size into a temporary folder; N is the number of forces. Quick: 4 forces at
scale 0.003 (~600-3,300 incidents each); full: 8 forces at scale 0.25 (~50,000-270,000
incidents each, ~1.2 M in all). Every force's weekly run uses ``tiles="none"``.

* ``national-2workers``: ``run_national`` on the LocalCluster ``geodemand national`` starts
  (:func:`geodemand.jobs.national.local_cluster`: 2 worker processes, one thread each, numba
  at 1 thread per task, without Dask's malloc-trim setting and profiler) against the peer,
  the same forces run one after another in the same process (``mode="sequential"``, numba at
  its default of all cores: what a user looping over ``geodemand weekly`` gets). The cluster
  is started before timing and warmed up (imports, JIT cache) by the harness's warm-up run,
  as the sequential side is.
  The ratio is the speed-up. Agreement: every force's bundle from the cluster equals the
  sequential one (:func:`geodemand.jobs.national.compare_bundles`). Notes: the largest worker
  memory (peak RSS), the per-force cost, the cores the sequential loop keeps busy (its
  process CPU time over wall time; at equal CPU work per force the speed-up against it is at
  most 2 / that), the CPU time per force on each side, and (full size) a projection for 8,
  32 and 128 workers.

Projection (full size only, stated as such): the same set is also run once on a 1-worker
cluster (not warmed up: its imports fall into the first task). The scheduler overhead at W
workers is the measured wall time minus the makespan of the tasks' own wall times on W
workers (longest task first). The projected wall time at W workers is the makespan of the
per-task costs (each task's CPU time: the cost on an unloaded core) plus the mean overhead of
the 1- and 2-worker runs; for the default 44-force national set (~21.8 M incidents) the
per-task costs come from a least-squares fit ``seconds = a[template] + b x incidents``
through the measured tasks (:func:`fit_task_cost`): a force's fixed cost (its area's grids,
its LPUs' maps) depends on the force it copies (West Midlands or Leicestershire), the rest
on its incidents.
"""

from __future__ import annotations

import heapq
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.harness import Benchmark

SIZES = {4: 0.003, 8: 0.25}
_STATE: dict = {}
PROJECT_WORKERS = (8, 32, 128)


def makespan(seconds: list[float], workers: int) -> float:
    """Wall time of independent tasks on ``workers`` workers, longest task first (LPT)."""
    loads = [0.0] * workers
    heapq.heapify(loads)
    for s in sorted(seconds, reverse=True):
        heapq.heappush(loads, heapq.heappop(loads) + s)
    return max(loads)


def _dataset(n_forces: int) -> Path:
    from geodemand._announce import quiet
    from geodemand.ingest.synth import synthetic_national

    quiet(True)
    root = Path(tempfile.mkdtemp(prefix="geodemand-bench-national-")) / "ds"
    synthetic_national(root, forces=n_forces, scale=SIZES[n_forces], seed=0)
    return root


def _cluster(workers: int):
    """The LocalCluster ``geodemand national`` starts (:func:`geodemand.jobs.national.
    local_cluster`), started here so that its start-up is outside the timing."""
    from dask.distributed import Client

    from geodemand.jobs.national import local_cluster

    cluster = local_cluster(workers)
    return cluster, Client(cluster)


def _close() -> None:
    for key in ("client", "cluster"):
        obj = _STATE.pop(key, None)
        if obj is not None:
            obj.close()


def _setup(n_forces: int) -> dict:
    from geodemand.jobs.national import run_national
    from geodemand.jobs.weekly import WeeklyConfig

    _close()
    root = _dataset(n_forces)
    weekly = WeeklyConfig(tiles="none")
    out = root.parent / "out"
    data = {"root": root, "weekly": weekly, "out": out, "n_forces": n_forces}
    if n_forces >= 8:  # the 1-worker run for the projection (full size only)
        cluster, client = _cluster(1)
        try:
            t0 = time.perf_counter()
            r1 = run_national(root, weekly, out=out / "w1", client=client)
            data["wall_1"] = time.perf_counter() - t0
            data["tasks_1"] = [o["seconds"] for o in r1.outcomes]
        finally:
            client.close()
            cluster.close()
    _STATE["cluster"], _STATE["client"] = _cluster(2)
    return data


def _ours(data: dict):
    from geodemand.jobs.national import run_national

    out = data["out"] / "dask"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    result = run_national(data["root"], data["weekly"], out=out, client=_STATE["client"])
    data["wall_2"] = time.perf_counter() - t0
    return result


def _peer(data: dict):
    from geodemand.jobs.national import run_national

    out = data["out"] / "sequential"
    shutil.rmtree(out, ignore_errors=True)
    t0, c0 = time.perf_counter(), time.process_time()
    result = run_national(data["root"], data["weekly"], out=out, mode="sequential",
                          task_threads=None)
    # cores the sequential loop keeps busy: CPU time of all this process's threads / wall
    data["seq_wall"] = time.perf_counter() - t0
    data["seq_cores"] = (time.process_time() - c0) / data["seq_wall"]
    return result


def fit_task_cost(rows, templates, seconds) -> tuple[dict[str, float], float]:
    """Least-squares fit ``seconds = a[template] + b x rows``: one intercept per template (the
    fixed cost of a force of that shape) and one slope (seconds per incident).

    Returns ``({template: a}, b)``.
    """
    names = sorted(set(templates))
    design = np.column_stack(
        [[float(t == name) for t in templates] for name in names]
        + [np.asarray(rows, dtype=np.float64)]
    )
    coef, *_ = np.linalg.lstsq(design, np.asarray(seconds, dtype=np.float64), rcond=None)
    return dict(zip(names, coef[:-1].tolist(), strict=True)), float(coef[-1])


def _projection(data: dict, tasks_2: list[float], cpu_2: list[float], rows: list[int],
                templates: list[str]) -> str:
    from geodemand.ingest import synth

    over_1 = data["wall_1"] - makespan(data["tasks_1"], 1)
    over_2 = data["wall_2"] - makespan(tasks_2, 2)
    overhead = (over_1 + over_2) / 2
    this_set = ", ".join(
        f"{w} workers {makespan(cpu_2, w) + overhead:.1f} s" for w in PROJECT_WORKERS
    )
    fixed, per_row = fit_task_cost(rows, templates, cpu_2)
    plan = synth.national_plan()
    full = []
    for f in plan:
        t = next(t for t in synth.NATIONAL_TEMPLATES if t.name == f["template"])
        cal = synth._template_calibration(t)
        n = round(cal.n_incidents / t.months * 24 * f["volume_factor"])
        full.append((n, fixed[f["template"]] + per_row * n))
    costs = [c for _, c in full]
    national = ", ".join(
        f"{w} workers {makespan(costs, w) + overhead:,.0f} s" for w in (2, *PROJECT_WORKERS)
    )
    intercepts = ", ".join(f"{name} {a:.1f} s" for name, a in fixed.items())
    return (
        f"scheduler overhead (wall minus the makespan of the tasks' own wall times) measured "
        f"{over_1:.1f} s at 1 worker (wall {data['wall_1']:.1f} s) and {over_2:.1f} s at 2 "
        f"workers; PROJECTED wall time for this set, per-task cost = its CPU time (an "
        f"unloaded core): {this_set}; per-task cost fitted as a fixed cost by template "
        f"({intercepts}) + {per_row * 1e6:.1f} s per million incidents; PROJECTED for the "
        f"default 44-force national set ({sum(n for n, _ in full) / 1e6:.1f} M incidents): "
        f"{national} (largest force {max(costs):.0f} s bounds it)"
    )


def _compare(ours, peer) -> str:
    from geodemand.jobs.national import compare_bundles

    data = _STATE["data"]
    a = {o["slug"]: o for o in ours.outcomes}
    b = {o["slug"]: o for o in peer.outcomes}
    assert set(a) == set(b) and all(o["status"] == "ok" for o in (*a.values(), *b.values()))
    for slug in a:
        diffs = compare_bundles(a[slug]["bundle"], b[slug]["bundle"])
        assert not diffs, f"{slug}: {diffs}"
    tasks = [a[s]["seconds"] for s in sorted(a)]
    cpu = [a[s]["cpu_seconds"] for s in sorted(a)]
    rows = [a[s]["rows_accepted"] for s in sorted(a)]
    forces = json.loads((data["root"] / "dataset.json").read_text(encoding="utf-8"))["forces"]
    templates = [forces[s]["template"] for s in sorted(a)]
    rss = max(o["peak_rss_mb"] for o in a.values())
    assert rss <= 4096, f"worker peak memory {rss:.0f} MB > 4 GB"
    load = os.getloadavg()[0]
    text = (
        f"{len(a)} forces, {sum(rows):,} incidents, every bundle identical to the sequential "
        f"run's; per-force cost {np.mean(tasks):.1f} s wall mean, {max(tasks):.1f} s max, "
        f"{np.mean(cpu):.1f} s CPU mean (in a worker); CPU-bound speed-up on 2 workers at "
        f"most {sum(cpu) / makespan(cpu, 2):.2f} (makespan of the CPU times); largest worker "
        f"memory {rss:,.0f} MB; 1-minute load average {load:.1f} on {os.cpu_count()} cores"
    )
    if "seq_cores" in data:
        seq_cpu = data["seq_wall"] * data["seq_cores"] / len(a)
        text += (
            f"; the sequential loop kept {data['seq_cores']:.2f} cores busy on average (its "
            f"process's CPU time / wall time: numba and Arrow threads) and spent "
            f"{seq_cpu:.1f} s CPU per force against {np.mean(cpu):.1f} s in a worker, so at "
            f"equal CPU work per force the speed-up on 2 workers would be at most "
            f"{2 / data['seq_cores']:.2f}; its wall time over the makespan of the workers' "
            f"task CPU times: {data['seq_wall'] / makespan(cpu, 2):.2f}"
        )
    if "wall_1" in data:
        text += "; " + _projection(data, tasks, cpu, rows, templates)
    return text


def _teardown(data: dict) -> None:
    """Stop the cluster and remove the dataset and the bundles (~0.6 GB at full size)."""
    _close()
    _STATE.pop("data", None)
    shutil.rmtree(data["root"].parent, ignore_errors=True)


def _setup_keep(n: int) -> dict:
    data = _setup(n)
    _STATE["data"] = data
    return data


BENCHMARKS = [
    Benchmark(
        name="national-2workers",
        description="geodemand national on a LocalCluster of 2 workers vs the same forces run "
        "sequentially in one process (synthetic national set, tiles none); ratio = speed-up",
        setup=_setup_keep,
        ours=_ours,
        peer=_peer,
        peer_name="sequential loop over forces",
        compare=_compare,
        quick_n=4,
        full_n=8,
        floor=1.2,
        target_ratio=1.8,
        repeats=1,
        notes=["N = number of forces; cluster started and warmed up before timing"],
        teardown=_teardown,
    ),
]
