"""Regenerate the bundled demo history and its README.

Run from anywhere::

    python scripts/build_demo_history.py

It writes ``data/incidents/west-midlands-synthetic/west-midlands-synthetic-2y.parquet``
(two years of synthetic West Midlands incidents, see :func:`geodemand.ingest.synth.demo_history`)
atomically, then ``README.md`` beside it with the generator version, parameters, row count,
measured summary figures and the file's SHA-256. The incidents depend only on the generator
version, the seed and the calibration file; the file's bytes also depend on the pyarrow
version (it writes its name into the Parquet footer) and the PROJ version (the CRS is stored
as PROJJSON).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow
import pyarrow.parquet as pq

from geodemand._atomic import write_text_atomic
from geodemand.ingest.synth import (
    DEFAULT_CALIBRATION,
    DEMO_MONTHS,
    DEMO_SEED,
    demo_history_path,
    describe_path,
    load_calibration,
)

README = """# Synthetic demo history (not real data)

`{name}` holds **synthetic** incidents made by `geodemand.ingest.synth`; no row is a real crime.
Every row has `synthetic = true`, and the GeoParquet metadata has `geodemand:synthetic = true`
and the generator's parameters under `geodemand:params`. `geodemand.read_incidents` flags it
as synthetic.

- What: {n:,} incidents over two years, {start} to {end} (both included), timestamps to the
  minute, British National Grid (EPSG:27700), labelled with the bundled West Midlands LPUs
  and neighbourhoods (`lpu`, `neighbourhood`).
- Calibrated on the real police.uk API month `{calibration}`
  (SHA-256 `{cal_sha}`): {cal_n:,} incidents inside the LPUs ({clipped} outside were not
  used). Places are its real map points, drawn with their real frequencies per crime type;
  n = {months} x the calibration month, i.e. the real force's monthly volume.
- Generator: `geodemand.ingest.synth` version {version} (time profiles `{profiles}`), seed {seed},
  near-repeat branching ratios {branching}, radius {radius:g} m, delay scale
  {delay:g} days, at most {max_delay} days.
- Measured on this file: the top 5 % of places hold {top5:.1%} of incidents (the real
  month: 22.2%); near-repeat offspring {offspring}.
- File: {size:.1f} MB, SHA-256 `{sha}`, written by pyarrow {pyarrow}.

Regenerate with `python scripts/build_demo_history.py`; `geodemand.ingest.synth.demo_history_path()`
returns this file, or regenerates it (here, or in `~/.cache/geodemand` if this folder is not
writable) when it is missing or was made by another generator version or calibration.
"""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    path = demo_history_path(regenerate=True)
    meta = pq.read_schema(path).metadata
    params = json.loads(meta[b"geodemand:params"])
    table = pq.read_table(path, columns=["location_key", "crime_type"])
    keys = table.column("location_key").to_pandas()
    counts = np.sort(keys.value_counts().to_numpy())[::-1]
    top = int(np.ceil(0.05 * counts.size))
    per_type = table.column("crime_type").to_pandas().value_counts()
    offspring = ", ".join(
        f"{k} {v:,} ({v / per_type[k]:.1%})" for k, v in params["offspring"].items()
    )
    cal = load_calibration()
    text = README.format(
        name=path.name,
        n=params["n"],
        start=params["start"],
        end=params["end"],
        calibration=describe_path(DEFAULT_CALIBRATION),
        cal_sha=params["calibration_sha256"],
        cal_n=cal.n_incidents,
        clipped=cal.n_clipped,
        months=DEMO_MONTHS,
        version=params["generator_version"],
        profiles=params["profile_version"],
        seed=DEMO_SEED,
        branching=", ".join(f"{k} {v:g}" for k, v in params["branching"].items()),
        radius=params["radius_m"],
        delay=params["delay_days"],
        max_delay=params["max_delay_days"],
        top5=counts[:top].sum() / counts.sum(),
        offspring=offspring,
        size=path.stat().st_size / 1e6,
        sha=_sha256(path),
        pyarrow=pyarrow.__version__,
    )
    readme = write_text_atomic(path.parent / "README.md", text)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, {params['n']:,} rows) and {readme}")


if __name__ == "__main__":
    main()
