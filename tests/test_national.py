"""National runs on Dask distributed (issue #18).

A small synthetic national set (3 forces of a few thousand incidents, plus one force whose
boundary file is broken) is run on a 2-worker LocalCluster through the CLI, and again with
one worker killed by PID in the middle of a task. Every force's bundle must equal the
single-process ``geodemand weekly`` run on that force (byte-identical files; the manifest
differs only in the documented volatile fields).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import threading
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from geodemand.cli import main
from geodemand.ingest.partition import open_dataset
from geodemand.ingest.synth import synthetic_national
from geodemand.jobs.national import (
    LOCAL_CLUSTER_SETTINGS,
    MANIFEST_VOLATILE,
    compare_bundles,
    local_cluster,
    release_memory,
    run_national,
)
from geodemand.jobs.weekly import WeeklyConfig

GOOD = ["synthetic-force-01", "synthetic-force-02", "synthetic-force-03"]
BROKEN = "broken-force"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("national") / "ds"
    synthetic_national(root, forces=3, scale=0.003, seed=1)
    # a fourth force: force 02's incidents, but an LPU file that is not GeoJSON
    src = root / "incidents" / f"force={GOOD[1]}"
    shutil.copytree(src, root / "incidents" / f"force={BROKEN}")
    (root / "boundaries" / BROKEN).mkdir(parents=True)
    (root / "boundaries" / BROKEN / "lpus.geojson").write_text("this is not GeoJSON")
    meta = json.loads((root / "dataset.json").read_text())
    meta["forces"][BROKEN] = {**meta["forces"][GOOD[1]], "name": "Broken Force"}
    (root / "dataset.json").write_text(json.dumps(meta))
    return root


@pytest.fixture(scope="module")
def reference(dataset, tmp_path_factory) -> dict[str, Path]:
    """Each good force run by the plain single-process ``geodemand weekly`` command."""
    out = tmp_path_factory.mktemp("reference")
    ds = open_dataset(dataset)
    bundles = {}
    for slug in GOOD:
        args = [
            "--quiet", "weekly", "--incidents", str(ds.force_dir(slug)),
            "--lpu-boundaries", str(ds.lpu_boundaries(slug)),
            "--neighbourhood-boundaries", str(ds.neighbourhood_boundaries(slug)),
            "--out", str(out / slug), "--tiles", "none",
        ]
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 0, res.output
        (bundle,) = [p for p in (out / slug).iterdir()
                     if p.is_dir() and not p.name.startswith(".")]
        bundles[slug] = bundle
    return bundles


def _gini(values: np.ndarray) -> float:
    x = np.sort(values)
    n = x.size
    return float(2 * np.sum(np.arange(1, n + 1) * x) / (n * x.sum()) - (n + 1) / n)


@pytest.mark.slow
def test_two_worker_cluster_equals_single_process_runs(dataset, reference, tmp_path):
    out = tmp_path / "national"
    res = CliRunner().invoke(
        main,
        ["--quiet", "national", str(dataset), "--workers", "2", "--tiles", "none", "--out",
         str(out)],
    )
    assert res.exit_code == 3, res.output  # one force failed, the others went on
    assert "3 of 4 forces done" in res.output
    table = pd.read_csv(out / "national_forces.csv")
    status = dict(zip(table["slug"], table["status"], strict=True))
    assert status == {**dict.fromkeys(GOOD, "ok"), BROKEN: "failed"}
    err = table.loc[table["slug"] == BROKEN, "error"].iloc[0]
    assert "lpus.geojson" in err and "BoundaryError" in err
    for slug in GOOD:
        row = table[table["slug"] == slug].iloc[0]
        bundle = out / row["bundle"]
        assert compare_bundles(bundle, reference[slug]) == [], slug
        assert row["pid"] != os.getpid()  # ran in a worker process
    summary = json.loads((out / "national.json").read_text())
    assert summary["run"]["mode"] == "dask" and summary["run"]["workers"] == 2
    assert summary["manifest_volatile_fields"] == list(MANIFEST_VOLATILE)
    nat = summary["national"]
    # national totals recomputed from the single-process bundles
    harm = []
    visits = minutes = 0.0
    accepted = 0
    for slug in GOOD:
        targets = pd.read_csv(reference[slug] / "targets.csv")
        harm.append(targets.loc[targets["target_type"] == "place", "harm"].to_numpy(float))
        patrol = gpd.read_file(reference[slug] / "patrol_areas.geojson")
        visits += patrol["visits_per_day"].sum()
        minutes += patrol["minutes_per_day"].sum()
        accepted += json.loads((reference[slug] / "manifest.json").read_text())["rows"][
            "accepted"]
    pooled = np.concatenate(harm)
    assert nat["incidents_accepted"] == accepted
    assert nat["places"] == pooled.size
    assert nat["concentration"]["gini"] == pytest.approx(_gini(pooled), abs=1e-6)
    assert nat["visits_per_day"] == pytest.approx(visits, abs=1e-3)
    assert nat["officer_hours_per_day"] == pytest.approx(minutes / 60, abs=1e-3)
    text = (out / "national_summary.md").read_text()
    assert "SYNTHETIC DATA" in text and "Broken Force" in text and "## Failed forces" in text


@pytest.mark.slow
def test_worker_killed_mid_run_gives_the_same_outputs(dataset, reference, tmp_path):
    from dask.distributed import Client

    out = tmp_path / "national"
    killed: list[int] = []
    stop = threading.Event()

    def killer() -> None:
        # kill the worker process of the first task caught writing its bundle (tables
        # written, maps still to come): its staging folder <period>.<pid>-<ns>-<hex>.partial
        # names the worker's PID
        while not stop.is_set() and not killed:
            for staging in out.glob("*/.bundles/*.partial"):
                if (staging / "targets.csv").exists():
                    pid = int(staging.name.rsplit(".", 2)[1].split("-")[0])
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
            time.sleep(0.02)

    cluster = local_cluster(2, allowed_failures=3)
    client = Client(cluster)
    thread = threading.Thread(target=killer, daemon=True)
    try:
        pids_before = set(client.run(os.getpid).values())
        thread.start()
        result = run_national(dataset, WeeklyConfig(tiles="none"), out=out, client=client,
                              forces=GOOD)
    finally:
        stop.set()
        thread.join(timeout=5)
        client.close()
        cluster.close()
    assert len(killed) == 1 and killed[0] in pids_before
    assert list(result.forces["status"]) == ["ok"] * 3
    assert killed[0] not in set(result.forces["pid"])  # redone by another worker process
    # the killed attempt's staging folder is gone: the retry's publish (or the final sweep)
    # removes staging folders of dead processes
    assert not list(out.glob("*/.bundles/*.partial"))
    for slug in GOOD:
        row = result.forces[result.forces["slug"] == slug].iloc[0]
        assert compare_bundles(out / row["bundle"], reference[slug]) == [], slug


def _worker_settings() -> dict:
    import dask

    return {
        "malloc_trim_threshold": os.environ.get("MALLOC_TRIM_THRESHOLD_"),
        "omp_threads": os.environ.get("OMP_NUM_THREADS"),
        **{key: dask.config.get(key) for key in LOCAL_CLUSTER_SETTINGS},
    }


TRIM_KEY = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"


def test_local_cluster_workers_run_without_dasks_malloc_trim_and_profiler():
    import dask
    from dask.distributed import Client

    assert dask.config.get(TRIM_KEY) and LOCAL_CLUSTER_SETTINGS[TRIM_KEY] is None
    cluster = local_cluster(1, allowed_failures=5)
    client = Client(cluster)
    try:
        (settings,) = client.run(_worker_settings).values()
        allowed = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures)
        threads = [w["nthreads"] for w in client.scheduler_info()["workers"].values()]
    finally:
        client.close()
        cluster.close()
    assert settings == {
        "malloc_trim_threshold": None,  # Dask's default sets it; the rest of its env is kept
        "omp_threads": "1",
        **LOCAL_CLUSTER_SETTINGS,
    }
    assert settings["distributed.worker.profile.enabled"] is False
    assert allowed == 5 and threads == [1]
    # the caller's own Dask configuration is left as it was
    assert dask.config.get(TRIM_KEY)
    assert dask.config.get("distributed.worker.profile.enabled") is True


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_release_memory_returns_freed_heap_pages_to_the_system():
    import resource

    def rss_mb() -> float:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * resource.getpagesize() / 2**20

    # 200 MB in 100-kB blocks: below glibc's mmap threshold, so they live on the heap and
    # stay mapped after they are freed, until the heap is trimmed
    blocks = [bytearray(100_000) for _ in range(2000)]
    held = rss_mb()
    del blocks[:-1]  # keep the last block: the heap's top stays in use, free() cannot shrink it
    freed = rss_mb()
    assert release_memory() is True
    trimmed = rss_mb()
    assert held - trimmed > 150, (held, freed, trimmed)
    assert freed - trimmed > 150, (held, freed, trimmed)


def test_sequential_mode_and_cli_errors(dataset, tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["--quiet", "national", str(dataset), "--sequential", "--force",
                               BROKEN, "--out", str(tmp_path / "seq")])
    assert res.exit_code == 3 and "failed: broken-force" in res.output
    table = pd.read_csv(tmp_path / "seq" / "national_forces.csv")
    assert list(table["status"]) == ["failed"]
    res = runner.invoke(main, ["national", str(dataset), "--force", "nowhere"])
    assert res.exit_code == 2 and "nowhere" in res.output
    res = runner.invoke(main, ["national", str(dataset), "--sequential", "--workers", "2"])
    assert res.exit_code == 2 and "--sequential" in res.output
    res = runner.invoke(main, ["national", str(tmp_path)])
    assert res.exit_code == 2 and "dataset.json" in res.output


def test_compare_bundles_finds_real_differences(reference, tmp_path):
    src = reference[GOOD[0]]
    copy = tmp_path / "copy"
    shutil.copytree(src, copy)
    assert compare_bundles(src, copy) == []
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["timings_s"] = {"ingest": 123.0}
    manifest["parameters"]["config"]["out"] = "elsewhere"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert compare_bundles(src, copy) == []  # the documented volatile fields
    manifest["rows"]["accepted"] += 1
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert compare_bundles(src, copy) == ["manifest.json differs in ['rows']"]
    with open(copy / "targets.csv", "a") as fh:
        fh.write("\n")
    assert "targets.csv differs" in compare_bundles(src, copy)
    (copy / "rejects.csv").unlink()
    assert any("files differ" in d for d in compare_bundles(src, copy))
