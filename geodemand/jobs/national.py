"""National runs: the weekly job for many forces in parallel on Dask distributed.

:func:`run_national` reads a partitioned dataset (:mod:`geodemand.ingest.partition`: GeoParquet
by force and month, each force's boundaries under ``boundaries/<slug>/``) and runs
:func:`geodemand.jobs.weekly.run_weekly` once per force, as one Dask task per force, on a
``LocalCluster`` (``workers`` processes with one thread each) or on an existing cluster
(``scheduler="tcp://host:8786"``). Each task reads only its own force's partitions; the
national set is never loaded into one process. ``mode="sequential"`` runs the same tasks one
after another in this process (no Dask needed): the baseline of the benchmark.

Identical to one process
------------------------
Force ``f``'s task runs exactly :func:`force_config` ``(dataset, f, weekly, out)``, which is
what ``geodemand weekly --incidents <root>/incidents/force=<f> --lpu-boundaries
<root>/boundaries/<f>/lpus.geojson [--neighbourhood-boundaries
<root>/boundaries/<f>/neighbourhoods.geojson] --out <out>/<f>`` runs: the bundle
``<out>/<f>/<period>/`` has byte-identical tables, rasters, maps and summaries. Its
``manifest.json`` differs from a single-process run's only in the fields listed in
:data:`MANIFEST_VOLATILE` (the time per stage, and the output folder when the two runs
write to different places); :func:`compare_bundles` checks exactly that. Numba kernels run
with ``task_threads`` threads in a task (default 1 on a LocalCluster); the engines give
bit-for-bit the same results with any number of threads.

Failures
--------
A worker that dies mid-run (killed, out of memory) is replaced by its nanny and its task runs
again elsewhere; the scheduler gives up on a task after ``allowed_failures`` worker deaths
(Dask's ``distributed.scheduler.allowed-failures``, set here for a LocalCluster; on your own
cluster set it in the scheduler's configuration). A task that raises an unexpected exception
is retried ``retries`` times (``Client.submit(retries=...)``). A force whose input is wrong
(a :class:`~geodemand.errors.GeodemandError`, deterministic) is not retried. Either way the
force is reported as failed, with its error, in the national summary and the other forces go
on. Staging folders left by interrupted attempts (``<slug>/.bundles/<period>.<pid>-...
.partial``, see :mod:`geodemand.jobs.bundle`) are removed at the end.

Outputs (in ``out``)
--------------------
``<slug>/<period>/``
    each force's weekly bundle;
``national_forces.csv``
    one row per force: status, error, period, incidents, concentration, patrol dosage, time,
    worker;
``national_summary.md``
    national totals, national concentration of harm on places (all forces' places pooled),
    national patrol-dosage totals, the force table and any failures;
``national.json``
    the same figures plus the run's parameters and timings.

On a real cluster, the dataset root and ``out`` must be paths every worker can read and
write (a shared file system) under the same name.

The LocalCluster
----------------
:func:`local_cluster` starts the workers with three of Dask's defaults changed for long,
CPU-bound tasks (measured on the benchmark's 8-force set, 2 workers on 2 cores; see
:func:`local_cluster`): no ``MALLOC_TRIM_THRESHOLD_`` in the workers' environment (memory is
given back to the system at the end of each task instead), no statistical profiler, and
slower housekeeping timers. On your own cluster, start the workers with the same settings
(:data:`LOCAL_CLUSTER_SETTINGS`, in the workers' Dask configuration) for the same speed.
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import os
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geodemand._announce import announce, warn
from geodemand._atomic import write_text_atomic
from geodemand._spreadsheet import write_csv
from geodemand.errors import GeodemandError, InvalidParameterError
from geodemand.jobs.weekly import WeeklyConfig

__all__ = [
    "MANIFEST_VOLATILE",
    "NationalResult",
    "compare_bundles",
    "LOCAL_CLUSTER_SETTINGS",
    "force_config",
    "local_cluster",
    "release_memory",
    "run_force",
    "run_national",
]

#: Manifest fields that may differ between a national task and a single-process run of the
#: same force (dotted paths): the time of each stage and the output folder.
MANIFEST_VOLATILE = ("timings_s", "parameters.config.out")
MODES = ("dask", "sequential")

#: Dask settings of the LocalCluster of a national run (:func:`local_cluster`); a value of
#: None unsets the variable Dask would put in the workers' environment.
LOCAL_CLUSTER_SETTINGS: dict[str, Any] = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
}


# ---------------------------------------------------------------------------- one force
def force_config(dataset, slug: str, weekly: WeeklyConfig, out: str | Path) -> WeeklyConfig:
    """The weekly configuration of force ``slug``: ``weekly`` with the force's partitions,
    boundaries and output folder ``<out>/<slug>``.

    Running :func:`geodemand.jobs.weekly.run_weekly` on it in one process gives the bundle
    the national task writes.
    """
    nb = dataset.neighbourhood_boundaries(slug)
    return dataclasses.replace(
        weekly,
        incidents=(str(dataset.force_dir(slug)),),
        lpu_boundaries=str(dataset.lpu_boundaries(slug)),
        neighbourhood_boundaries=None if nb is None else str(nb),
        out=str(Path(out) / slug),
    )


def run_force(
    root: str, slug: str, weekly: WeeklyConfig, out: str, task_threads: int | None = 1
) -> dict:
    """One national task: the weekly job for force ``slug`` and its national figures.

    Runs in a Dask worker (or in this process in sequential mode). A
    :class:`~geodemand.errors.GeodemandError` (wrong input, deterministic) is returned as a
    failed outcome instead of raised, so Dask does not retry it; anything else is raised.

    Returns
    -------
    dict
        ``slug, status ("ok" or "failed"), error, bundle, period, seconds, cpu_seconds (CPU
        time of the worker process during the task, all its threads), worker, pid,
        peak_rss_mb`` and, when ok, the figures of :func:`bundle_figures` (with
        ``place_harm``, the harm of every place, for the national concentration).
    """
    import resource

    from geodemand._announce import quiet
    from geodemand.ingest.partition import open_dataset
    from geodemand.jobs.weekly import run_weekly

    quiet(True)
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    outcome: dict[str, Any] = {"slug": slug, "pid": os.getpid(), "worker": socket.gethostname()}
    previous = None
    if task_threads is not None:
        import numba

        previous = numba.get_num_threads()
        numba.set_num_threads(max(1, min(int(task_threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        dataset = open_dataset(root)
        result = run_weekly(force_config(dataset, slug, weekly, out), quiet=True)
        outcome.update(status="ok", error="", bundle=str(result.out_dir))
        outcome.update(bundle_figures(result.out_dir))
    except GeodemandError as exc:
        outcome.update(status="failed", error=f"{type(exc).__name__}: {exc}", bundle="")
    finally:
        if previous is not None:
            import numba

            numba.set_num_threads(previous)
    outcome["seconds"] = round(time.perf_counter() - t0, 3)
    outcome["cpu_seconds"] = round(time.process_time() - cpu0, 3)
    outcome["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return outcome


def bundle_figures(bundle: str | Path) -> dict:
    """The national figures of one force's bundle, read from its files.

    From ``manifest.json``: period, synthetic flag, rows read/accepted/rejected/outside,
    incidents scored. From ``targets.csv`` (rows with ``target_type == "place"``): the harm
    of every place (``place_harm``, float64 array). From ``patrol_areas.geojson``: number of
    patrol areas and the sums of ``visits_per_day``, ``minutes_per_day`` and ``area_km2``.
    """
    bundle = Path(bundle)
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    targets = pd.read_csv(bundle / "targets.csv", usecols=["target_type", "harm"])
    harm = targets.loc[targets["target_type"] == "place", "harm"].to_numpy(np.float64)
    features = json.loads((bundle / "patrol_areas.geojson").read_text(encoding="utf-8"))
    props = [f["properties"] for f in features.get("features", [])]
    for key in ("visits_per_day", "minutes_per_day", "area_km2"):
        missing = [i for i, p in enumerate(props) if key not in p]
        if missing:
            raise InvalidParameterError(
                f"{bundle / 'patrol_areas.geojson'}: feature {missing[0]} has no {key!r}; "
                "expected the weekly job's patrol-area properties"
            )
    rows = manifest["rows"]
    return {
        "period": manifest["period"]["label"],
        "synthetic": bool(manifest.get("synthetic")),
        "rows_read": int(rows["read"]),
        "rows_accepted": int(rows["accepted"]),
        "rows_rejected": int(rows["rejected"]),
        "rows_outside": int(rows.get("outside_every_lpu", 0)),
        "incidents_scored": int(manifest["demand"]["incidents"]),
        "places": int(harm.size),
        "place_harm": harm,
        "patrol_areas": len(props),
        "visits_per_day": float(sum(float(p["visits_per_day"]) for p in props)),
        "minutes_per_day": float(sum(float(p["minutes_per_day"]) for p in props)),
        "patrol_km2": float(sum(float(p["area_km2"]) for p in props)),
    }


def _run_force_in_worker(*args) -> dict:
    """A Dask task: :func:`run_force`, then the freed memory back to the system."""
    try:
        return run_force(*args)
    finally:
        release_memory()


def release_memory() -> bool:
    """Return the heap's free pages to the operating system (glibc ``malloc_trim(0)``).

    A national worker calls it at the end of each force, in place of Dask's default of
    trimming on every ``free`` (see :func:`local_cluster`). Returns False where the C library
    has no ``malloc_trim`` (not glibc: macOS, musl): its allocator returns memory its own way.
    """
    try:  # the symbols of the running process, the C library's among them (no subprocess)
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError, TypeError):  # no malloc_trim, or no dlopen(NULL)
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim(0)
    return True


# ---------------------------------------------------------------------------- the cluster
def local_cluster(workers: int | None = None, *, allowed_failures: int = 3):
    """A ``dask.distributed.LocalCluster`` for national runs: ``workers`` processes (default:
    the number of cores), one thread each.

    Three Dask defaults are changed for tasks that each run a force's weekly job (10 s or
    more of CPU-bound work); on the benchmark's 8-force set (2 workers, 2 cores) the run took
    30.7 s instead of 38 s, and the workers' largest memory was unchanged (1.1 GB):

    * ``MALLOC_TRIM_THRESHOLD_=65536``, which Dask puts in every worker's environment
      (``distributed.nanny.pre-spawn-environ``), is left out. Setting it switches off glibc's
      moving mmap threshold, so every array over 128 KiB is mapped, zero-filled by the kernel
      and unmapped again: a force took 14 % longer in a plain process with it set. Memory
      goes back to the system at the end of each task instead (:func:`release_memory`).
    * The statistical profiler (``distributed.worker.profile.enabled``), which samples every
      worker thread's stack every 10 ms for a dashboard this cluster does not start, is off
      (4-5 %).
    * The event-loop health check, the system monitor and the memory monitor run every
      1 s, 5 s and 1 s instead of every 20 ms, 0.5 s and 0.1 s (about 2 %). The nanny still
      restarts a worker that goes over its memory limit.

    Parameters
    ----------
    workers : int, optional
        Number of worker processes (default ``os.cpu_count()``).
    allowed_failures : int
        Worker deaths a task survives before the scheduler reports it failed
        (``distributed.scheduler.allowed-failures``).
    """
    import dask
    from dask.distributed import LocalCluster

    settings = {
        **LOCAL_CLUSTER_SETTINGS,
        "distributed.scheduler.allowed-failures": allowed_failures,
    }
    with dask.config.set(settings):
        return LocalCluster(
            n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
            dashboard_address=None,
        )


# ---------------------------------------------------------------------------- comparison
def _drop(d: dict, dotted: str) -> None:
    head, _, rest = dotted.partition(".")
    if rest:
        if isinstance(d.get(head), dict):
            _drop(d[head], rest)
    else:
        d.pop(head, None)


def _gpkg_rows(path: Path) -> dict[str, list]:
    """Every table of a GeoPackage, rows in rowid order, without GDAL's write timestamp."""
    import sqlite3

    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [r[0] for r in con.execute(
            "select name from sqlite_master where type = 'table' order by name")]
        out = {}
        for name in names:
            cur = con.execute(f'select * from "{name.replace(chr(34), chr(34) * 2)}"')
            cols = [d[0] for d in cur.description]
            rows = cur.fetchall()
            if name == "gpkg_contents" and "last_change" in cols:
                i = cols.index("last_change")
                rows = [r[:i] + r[i + 1:] for r in rows]
            out[name] = rows
        return out
    finally:
        con.close()


def compare_bundles(a: str | Path, b: str | Path) -> list[str]:
    """Differences between two weekly bundles (empty when they are the same run's output).

    Every file must be byte-identical except ``manifest.json`` and GeoPackages: GDAL stamps
    a GeoPackage with the time it was written (``gpkg_contents.last_change``; the GDAL
    configuration option ``OGR_CURRENT_DATE`` fixes it), so GeoPackages must hold identical
    tables apart from that stamp. The manifests must be equal once the
    :data:`MANIFEST_VOLATILE` fields and the GeoPackages' hashes are dropped.
    """
    a, b = Path(a), Path(b)
    names_a = sorted(p.name for p in a.iterdir() if p.is_file())
    names_b = sorted(p.name for p in b.iterdir() if p.is_file())
    diffs = []
    if names_a != names_b:
        diffs.append(f"files differ: {sorted(set(names_a) ^ set(names_b))}")
    for name in sorted(set(names_a) & set(names_b)):
        pa, pb = a / name, b / name
        if name == "manifest.json":
            ma = json.loads(pa.read_text(encoding="utf-8"))
            mb = json.loads(pb.read_text(encoding="utf-8"))
            for m in (ma, mb):
                for key in MANIFEST_VOLATILE:
                    _drop(m, key)
                for out_name, entry in (m.get("outputs") or {}).items():
                    if out_name.endswith(".gpkg") and isinstance(entry, dict):
                        entry.pop("sha256", None)
            if ma != mb:
                keys = sorted(k for k in set(ma) | set(mb) if ma.get(k) != mb.get(k))
                diffs.append(f"manifest.json differs in {keys}")
        elif name.endswith(".gpkg"):
            if _gpkg_rows(pa) != _gpkg_rows(pb):
                diffs.append(f"{name} differs (beyond its write timestamp)")
        elif pa.read_bytes() != pb.read_bytes():
            diffs.append(f"{name} differs")
    return diffs


# ---------------------------------------------------------------------------- the run
@dataclass
class NationalResult:
    """What a national run produced.

    Attributes
    ----------
    out_dir : Path
    forces : DataFrame
        ``national_forces.csv`` (one row per force).
    summary : dict
        ``national.json``.
    seconds : float
        Wall time of the run (cluster start included when a LocalCluster was started).
    """

    out_dir: Path
    forces: pd.DataFrame
    summary: dict
    seconds: float
    outcomes: list[dict] = field(default_factory=list)


def run_national(
    root: str | Path,
    weekly: WeeklyConfig | None = None,
    *,
    out: str | Path = "national",
    forces: Sequence[str] | None = None,
    mode: str = "dask",
    scheduler: str | None = None,
    client: Any = None,
    workers: int | None = None,
    retries: int = 2,
    allowed_failures: int = 3,
    task_threads: int | None = 1,
) -> NationalResult:
    """Run the weekly job for every force of a partitioned dataset and summarise nationally.

    Parameters
    ----------
    root : path
        Partitioned dataset (:func:`geodemand.ingest.partition.open_dataset`).
    weekly : WeeklyConfig, optional
        Options of every force's weekly run (period, window, tiles, harm weights, ...);
        ``incidents``, the boundaries and ``out`` are set per force.
    out : path
        Output root: force bundles in ``<out>/<slug>/<period>/`` and the national summary.
    forces : sequence of str, optional
        Force slugs to run (default: all in ``dataset.json``).
    mode : {"dask", "sequential"}
        Dask tasks (default) or a plain loop in this process.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``). Default: a
        LocalCluster of ``workers`` processes with one thread each (:func:`local_cluster`).
    client : dask.distributed.Client, optional
        An existing client (then ``scheduler`` and ``workers`` are not used).
    workers : int, optional
        LocalCluster size; default the number of cores.
    retries : int
        Times a task that raised an unexpected exception is tried again.
    allowed_failures : int
        Worker deaths a task survives before it is reported failed (LocalCluster only).
    task_threads : int or None
        Numba threads per task (None: numba's default). 1 on a LocalCluster keeps workers
        from competing for the cores.
    """
    from geodemand.ingest.partition import open_dataset

    if mode not in MODES:
        raise InvalidParameterError(f"mode: {mode!r}; expected one of {MODES}")
    for name, value in (("retries", retries), ("allowed_failures", allowed_failures)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidParameterError(f"{name}: expected a whole number >= 0, got {value!r}")
    t0 = time.perf_counter()
    dataset = open_dataset(root)
    weekly = weekly or WeeklyConfig()
    slugs = _chosen(dataset, forces)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # biggest forces first: the longest tasks start early (shorter makespan)
    slugs.sort(key=lambda s: (-int(dataset.forces[s].get("rows", 0)), s))
    args = (str(root), weekly, str(out), task_threads)
    info: dict[str, Any] = {"mode": mode}
    if mode == "sequential":
        outcomes = []
        for slug in slugs:
            outcomes.append(_guarded(slug, lambda s=slug: run_force(args[0], s, *args[1:])))
            _progress(outcomes[-1], len(outcomes), len(slugs))
    else:
        outcomes = _run_dask(
            slugs, args, dataset, scheduler, client, workers, retries, allowed_failures, info
        )
    removed = _remove_stale_staging(out, slugs)
    seconds = time.perf_counter() - t0
    by_slug = {o["slug"]: o for o in outcomes}
    ordered = [by_slug[s] for s in sorted(slugs)]
    table, summary = _summarise(dataset, ordered, weekly, info, seconds, removed)
    _write_summary(out, table, summary)
    failed = [o["slug"] for o in ordered if o["status"] != "ok"]
    if failed:
        warn(f"national run: {len(failed)} force(s) failed: {', '.join(failed)} (see "
             f"{out / 'national_summary.md'})")
    announce(f"national run: {len(ordered) - len(failed)} of {len(ordered)} forces done in "
             f"{seconds:.1f} s; summary in {out / 'national_summary.md'}")
    return NationalResult(out, table, summary, seconds, ordered)


def _chosen(dataset, forces: Sequence[str] | None) -> list[str]:
    if not dataset.forces:
        raise InvalidParameterError(f"{dataset.root}: the dataset has no forces")
    if forces is None:
        return list(dataset.slugs)
    chosen = list(dict.fromkeys(forces))
    unknown = [f for f in chosen if f not in dataset.forces]
    if unknown:
        raise InvalidParameterError(
            f"forces {unknown}: not in {dataset.root}; expected some of {dataset.slugs[:10]}"
            f"{' ...' if len(dataset.slugs) > 10 else ''}"
        )
    return chosen


def _guarded(slug: str, fn) -> dict:
    """Sequential mode: an unexpected exception fails the force, as on Dask after retries."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - reported per force, the others go on
        return {"slug": slug, "status": "failed", "bundle": "",
                "error": f"{type(exc).__name__}: {exc}"}


def _progress(outcome: dict, done: int, total: int) -> None:
    what = outcome.get("period", "") if outcome["status"] == "ok" else outcome["error"][:200]
    announce(f"national run: [{done}/{total}] {outcome.get('slug')} {outcome['status']} {what}")


def _run_dask(slugs, args, dataset, scheduler, client, workers, retries, allowed, info):
    try:
        from dask.distributed import Client, as_completed
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise InvalidParameterError(
            "national runs on Dask need the 'distributed' extra: pip install "
            "'geodemand[distributed]' (or use mode='sequential' / --sequential)"
        ) from exc
    cluster = None
    own_client = client is None
    if client is None:
        if scheduler:
            client = Client(scheduler)
        else:
            cluster = local_cluster(workers, allowed_failures=allowed)
            client = Client(cluster)
    try:
        info["scheduler"] = client.scheduler.address
        info["workers"] = len(client.scheduler_info()["workers"])
        futures = {}
        run_id = uuid.uuid4().hex[:8]  # fresh keys: never a result of an earlier run
        for slug in slugs:
            rows = int(dataset.forces[slug].get("rows", 0))
            fut = client.submit(
                _run_force_in_worker, args[0], slug, *args[1:], key=f"weekly-{slug}-{run_id}",
                retries=retries, pure=False, priority=rows,
            )
            futures[fut] = slug
        outcomes = []
        for fut in as_completed(list(futures)):
            slug = futures[fut]
            if fut.status == "finished":
                outcome = fut.result()
            else:
                try:
                    exc = fut.exception()
                except Exception as err:  # noqa: BLE001 - e.g. a cancelled future
                    exc = err
                outcome = {"slug": slug, "status": "failed", "bundle": "",
                           "error": f"{type(exc).__name__}: {exc}"}
            outcome["slug"] = slug
            outcomes.append(outcome)
            _progress(outcome, len(outcomes), len(slugs))
    finally:
        if own_client:
            client.close()
            if cluster is not None:
                cluster.close()
    return outcomes


def _remove_stale_staging(out: Path, slugs: list[str]) -> int:
    """Remove the staging folders of interrupted attempts (all tasks have ended): those of
    dead worker processes under ``<out>/<slug>/.bundles/`` (:func:`geodemand.jobs.bundle.
    recover`)."""
    from geodemand.jobs.bundle import recover

    removed = sum(recover(out / slug) for slug in slugs)
    if removed:
        announce(f"national run: removed {removed} staging folder(s) of interrupted attempts")
    return removed


# ---------------------------------------------------------------------------- summary
_COLUMNS = [
    "force", "slug", "status", "error", "period", "bundle", "synthetic", "rows_read",
    "rows_accepted", "rows_rejected", "rows_outside", "incidents_scored", "places",
    "harm_total", "share_places_50", "gini", "patrol_areas", "visits_per_day",
    "officer_hours_per_day", "patrol_km2", "seconds", "cpu_seconds", "worker", "pid",
    "peak_rss_mb",
]


def _summarise(dataset, outcomes, weekly, info, seconds, removed) -> tuple[pd.DataFrame, dict]:
    from geodemand.engines.repeats import concentration

    rows = []
    harms = []
    for o in outcomes:
        slug = o["slug"]
        row = {c: o.get(c, "") for c in _COLUMNS}
        row["force"] = dataset.forces[slug].get("name", slug)
        row["slug"] = slug
        if o["status"] == "ok":
            harm = np.asarray(o["place_harm"], dtype=np.float64)
            harms.append(harm)
            if harm.size and harm.sum() > 0:
                conc = concentration(harm)
                row["share_places_50"] = round(conc.share_units_for(0.5), 6)
                row["gini"] = round(conc.gini, 6)
            row["harm_total"] = float(harm.sum())
            row["officer_hours_per_day"] = round(float(o["minutes_per_day"]) / 60.0, 3)
            if o.get("bundle"):
                row["bundle"] = f"{slug}/{Path(o['bundle']).name}"
        rows.append(row)
    table = pd.DataFrame(rows, columns=_COLUMNS)
    ok = table[table["status"] == "ok"]
    national: dict[str, Any] = {
        "forces": int(len(table)),
        "forces_ok": int(len(ok)),
        "forces_failed": table.loc[table["status"] != "ok", ["slug", "error"]].to_dict("records"),
        "incidents_accepted": int(pd.to_numeric(ok["rows_accepted"]).sum()),
        "incidents_scored": int(pd.to_numeric(ok["incidents_scored"]).sum()),
        "places": int(pd.to_numeric(ok["places"]).sum()),
        "patrol_areas": int(pd.to_numeric(ok["patrol_areas"]).sum()),
        "visits_per_day": round(float(pd.to_numeric(ok["visits_per_day"]).sum()), 3),
        "officer_hours_per_day": round(
            float(pd.to_numeric(ok["officer_hours_per_day"]).sum()), 3
        ),
        "patrol_km2": round(float(pd.to_numeric(ok["patrol_km2"]).sum()), 6),
        "synthetic": bool(ok["synthetic"].astype(bool).any()) if len(ok) else False,
        "periods": sorted({str(p) for p in ok["period"]}),
    }
    pooled = np.concatenate(harms) if harms else np.zeros(0)
    if pooled.size and pooled.sum() > 0:
        conc = concentration(pooled)
        national["concentration"] = {
            "units": "places (every force's places pooled), weighted by harm",
            "gini": round(conc.gini, 6),
            "share_places_50": round(conc.share_units_for(0.5), 6),
            "share_places_80": round(conc.share_units_for(0.8), 6),
            "harm_total": float(pooled.sum()),
        }
    task_seconds = pd.to_numeric(ok["seconds"])
    summary = {
        "created_by": "geodemand national",
        "dataset": str(dataset.root),
        "dataset_synthetic": bool(dataset.meta.get("synthetic", False)),
        "run": {
            **info,
            "wall_seconds": round(seconds, 3),
            "task_seconds_total": round(float(task_seconds.sum()), 3),
            "task_seconds_max": round(float(task_seconds.max()), 3) if len(ok) else 0.0,
            "task_cpu_seconds_total": round(float(pd.to_numeric(ok["cpu_seconds"]).sum()), 3),
            "peak_rss_mb_max": float(pd.to_numeric(ok["peak_rss_mb"]).max()) if len(ok) else 0.0,
            "staging_folders_removed": removed,
        },
        "weekly": {k: v for k, v in dataclasses.asdict(weekly).items() if k not in (
            "incidents", "lpu_boundaries", "neighbourhood_boundaries", "out")},
        "manifest_volatile_fields": list(MANIFEST_VOLATILE),
        "national": national,
        "forces": [
            {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
            for r in table.to_dict("records")
        ],
    }
    return table, summary


def _write_summary(out: Path, table: pd.DataFrame, summary: dict) -> None:
    from geodemand.outputs.markdown import escape
    from geodemand.outputs.markdown import table as markdown_table

    write_csv(table, out / "national_forces.csv")
    write_text_atomic(
        out / "national.json", json.dumps(summary, indent=2, default=_json_default) + "\n"
    )
    nat = summary["national"]
    run = summary["run"]
    lines = ["# National weekly run", ""]
    if nat["synthetic"] or summary["dataset_synthetic"]:
        lines += ["**SYNTHETIC DATA: these are not real incidents.**", ""]
    lines += [
        f"Dataset {escape(summary['dataset'])}; {nat['forces_ok']} of {nat['forces']} forces "
        f"done ({run['mode']}"
        + (f", {run.get('workers')} worker(s)" if run.get("workers") else "")
        + f") in {run['wall_seconds']:.1f} s (sum of task times {run['task_seconds_total']:.1f}"
        f" s; largest worker memory {run['peak_rss_mb_max']:,.0f} MB).",
        "",
        _periods_line(nat["periods"]),
        "",
        "## National totals",
        "",
        f"- incidents accepted: {nat['incidents_accepted']:,}; scored (window, exclusions "
        f"applied): {nat['incidents_scored']:,}; places: {nat['places']:,}",
        f"- patrol areas: {nat['patrol_areas']:,} ({nat['patrol_km2']:.2f} km²); dosage "
        f"{nat['visits_per_day']:,.1f} visits and {nat['officer_hours_per_day']:,.1f} "
        "officer-hours a day",
    ]
    conc = nat.get("concentration")
    if conc:
        lines.append(
            f"- concentration of harm on places (all forces pooled): "
            f"{conc['share_places_50']:.1%} of places hold 50 % of the harm, "
            f"{conc['share_places_80']:.1%} hold 80 %; Gini {conc['gini']:.2f}"
        )
    lines += ["", "## Forces", ""]
    cols = ["force", "status", "period", "rows_accepted", "places", "share_places_50", "gini",
            "patrol_areas", "officer_hours_per_day", "seconds"]
    shown = table[cols].copy()
    for c in ("share_places_50",):
        shown[c] = [f"{v:.1%}" if isinstance(v, float) else "" for v in shown[c]]
    shown["gini"] = [f"{v:.2f}" if isinstance(v, float) else "" for v in shown["gini"]]
    lines.append(markdown_table(shown, cols))
    if nat["forces_failed"]:
        lines += ["", "## Failed forces", ""]
        for f in nat["forces_failed"]:
            lines.append(f"- {escape(f['slug'])}: {escape(str(f['error']))}")
    lines += [
        "",
        "Each force's bundle is in `<slug>/<period>/`; it equals a single-process `geodemand "
        "weekly` run on that force (manifest fields that differ: "
        + ", ".join(f"`{k}`" for k in summary["manifest_volatile_fields"])
        + "; `patrol_areas.gpkg` differs only in the write time GDAL stamps on it).",
        "",
    ]
    write_text_atomic(out / "national_summary.md", "\n".join(lines))


def _periods_line(periods: list[str]) -> str:
    if not periods:
        return "No force finished."
    if len(periods) == 1:
        return f"Period: {periods[0]} (every force)."
    return (
        "Periods differ between forces (each force's latest complete one): "
        f"{', '.join(periods)}; give --period to align them."
    )


def _json_default(value):
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
