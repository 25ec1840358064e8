"""Ingest throughput and memory: ``geodemand.read_incidents`` on police.uk street files.

``ingest-10m``: a police.uk street-format input of N records (10 million in full mode) built
by resampling, with a fixed seed, the real records of the bundled Leicestershire months
(``data/incidents/leicestershire``), written as 24 monthly-sized plain CSV files as
data.police.uk serves them. Records that had a Crime ID get a fresh random 64-hex id (so they
are not rejected as duplicates); ASB records keep an empty id, as in the source. No peer:
the issue's target is 10M records in at most 30 s on the 2-core machine; the "ratio" is
``target seconds (scaled linearly to N) / measured``, so >= 1 meets it. One timed run after
a warm-up (a 10M run takes tens of seconds).

``ingest-real-police-uk``: the 24 real Leicestershire months (196,893 records, gzipped, as
bundled) against the same job as an analyst would write it in pandas: ``read_csv`` of every
file (text columns), concatenated; months parsed with ``to_datetime``, coordinates with
``to_numeric``; records without coordinates or month dropped, repeated Crime IDs dropped
(first kept); lon/lat projected to EPSG:27700 with pyproj. No reasons, no accounting, no
checks against the CRS's area; the agreement column checks that both keep the same
records at the same positions.

Both rows check the accounting (accepted + rejected = read) and measure the memory of the
result: ``frame.memory_usage(deep=True)`` per accepted incident must stay at or below
:data:`MAX_BYTES_PER_INCIDENT` (300), in quick mode too; the agreement column reports it and
the peak memory of the run (rise of ``VmHWM``).
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.bench_knox import PeakRSS
from benchmarks.harness import Benchmark

ROOT = Path(__file__).resolve().parents[1]
LEICS = ROOT / "data" / "incidents" / "leicestershire"
MAX_BYTES_PER_INCIDENT = 300
N_FILES = 24
SEED = 20
_STATS: dict[str, float] = {}


def _source_lines() -> tuple[bytes, list[bytes], np.ndarray]:
    """Header, each real record's line after its Crime ID (from the comma on), and whether
    the record had an id."""
    header, rests, has_id = b"", [], []
    for path in sorted(LEICS.glob("*.csv.gz")):
        lines = gzip.decompress(path.read_bytes()).split(b"\n")
        header = lines[0]
        for line in lines[1:]:
            if not line:
                continue
            cut = line.index(b",")
            if cut not in (0, 64):  # every real Crime ID is 64 hex characters or empty
                raise AssertionError(f"unexpected Crime ID in {path.name}: {line[:80]!r}")
            rests.append(line[cut:])
            has_id.append(cut == 64)
    return header, rests, np.array(has_id, dtype=bool)


def build_input(n: int, folder: Path, seed: int = SEED) -> list[Path]:
    """Write ``n`` resampled police.uk street records as :data:`N_FILES` CSV files."""
    header, rests, has_id = _source_lines()
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(rests), n)
    hexdigits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    bounds = np.linspace(0, n, N_FILES + 1).astype(np.int64)
    files = []
    for k in range(N_FILES):
        sel = pick[bounds[k] : bounds[k + 1]]
        raw = rng.integers(0, 256, size=(len(sel), 32), dtype=np.uint8)
        ids = np.empty((len(sel), 64), dtype=np.uint8)
        ids[:, 0::2], ids[:, 1::2] = hexdigits[raw >> 4], hexdigits[raw & 15]
        id_bytes = ids.tobytes()
        lines = [
            (id_bytes[64 * j : 64 * j + 64] if has_id[i] else b"") + rests[i]
            for j, i in enumerate(sel)
        ]
        path = folder / f"part-{k:02d}-street.csv"
        path.write_bytes(header + b"\n" + b"\n".join(lines) + b"\n")
        files.append(path)
    return files


def _run(files, keep_xy: bool = False) -> dict:
    import geodemand as gd

    with PeakRSS() as mem:
        table = gd.read_incidents(files)
    frame = table.frame
    total = table.accounting.set_index("file").loc["TOTAL"]
    xy = {"x": frame["x"].to_numpy(), "y": frame["y"].to_numpy()} if keep_xy else {}
    return {
        **xy,
        "read": int(total["read"]),
        "accepted": int(total["accepted"]),
        "rejected": int(total["rejected"]),
        "n_frame": len(frame),
        "bytes": int(frame.memory_usage(deep=True).sum()),
        "peak_mb": mem.mb,
    }


def _check(ours: dict) -> str:
    assert ours["accepted"] + ours["rejected"] == ours["read"], "accounting broken"
    assert ours["n_frame"] == ours["accepted"]
    per = ours["bytes"] / max(ours["accepted"], 1)
    assert per <= MAX_BYTES_PER_INCIDENT, (
        f"{per:.0f} bytes per incident > {MAX_BYTES_PER_INCIDENT}"
    )
    return (
        f"read {ours['read']:,} = accepted {ours['accepted']:,} + rejected "
        f"{ours['rejected']:,}; {per:.0f} B/incident in memory; peak +{ours['peak_mb']:,.0f} MB"
    )


# ---------------------------------------------------------------------------- 10M row
def _setup_synthetic(n: int) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="geodemand-bench-ingest-"))
    files = build_input(n, folder)
    return {"files": files, "folder": folder, "n": n}


def _compare_synthetic(ours: dict, _peer) -> str:
    text = _check(ours)
    for f in ours.pop("_folders", []):
        shutil.rmtree(f, ignore_errors=True)
    return text


def _ours_synthetic(data: dict) -> dict:
    out = _run(data["files"])
    out["_folders"] = [data["folder"]]
    assert out["read"] == data["n"]
    return out


# ---------------------------------------------------------------------------- real row
def _setup_real(_n: int) -> dict:
    return {"files": sorted(LEICS.glob("*.csv.gz"))}


def _ours_real(data: dict) -> dict:
    return _run(data["files"], keep_xy=True)


def _peer_real(data: dict) -> pd.DataFrame:
    from pyproj import Transformer

    frame = pd.concat(
        [pd.read_csv(f, dtype=str, keep_default_na=False) for f in data["files"]],
        ignore_index=True,
    )
    occurred = pd.to_datetime(frame["Month"], format="%Y-%m", errors="coerce")
    lon = pd.to_numeric(frame["Longitude"], errors="coerce")
    lat = pd.to_numeric(frame["Latitude"], errors="coerce")
    ok = (lon.notna() & lat.notna() & occurred.notna()).to_numpy()
    out = frame.loc[ok].assign(occurred=occurred[ok])
    tr = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    out["x"], out["y"] = tr.transform(lon[ok].to_numpy(), lat[ok].to_numpy())
    ids = out["Crime ID"]
    return out.loc[~(ids.ne("") & ids.duplicated())]


def _compare_real(ours: dict, peer: pd.DataFrame) -> str:
    assert ours["accepted"] == len(peer), (
        f"accepted {ours['accepted']:,}, pandas kept {len(peer):,} rows"
    )
    np.testing.assert_array_equal(ours["x"], peer["x"].to_numpy())
    np.testing.assert_array_equal(ours["y"], peer["y"].to_numpy())
    pandas_per = peer.memory_usage(deep=True).sum() / len(peer)
    return _check(ours) + f"; same records and x/y as pandas ({pandas_per:.0f} B/row there)"


BENCHMARKS = [
    Benchmark(
        name="ingest-10m",
        description="read_incidents on N police.uk street records (24 CSV files resampled from "
        "the real Leicestershire months); target 30 s at 10M; <= 300 B/incident in memory",
        setup=_setup_synthetic,
        ours=_ours_synthetic,
        compare=_compare_synthetic,
        quick_n=400_000,
        full_n=10_000_000,
        target_seconds=30.0,
        target_n=10_000_000,
        floor=0.5,
        target_ratio=1.0,
        repeats=1,
    ),
    Benchmark(
        name="ingest-real-police-uk",
        description="read_incidents on the 24 real Leicestershire months (196,893 records, "
        "gzipped) vs the same load in plain pandas + pyproj (no reasons or accounting)",
        setup=_setup_real,
        ours=_ours_real,
        peer=_peer_real,
        peer_name="pandas read_csv/to_datetime/to_numeric + pyproj",
        compare=_compare_real,
        quick_n=196_893,
        full_n=196_893,
        floor=0.3,
        target_ratio=1.0,
    ),
]
