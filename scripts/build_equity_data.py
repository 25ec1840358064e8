"""Copy the deprivation files and the West Midlands LSOA boundaries used by the equity audit.

Run from the repository root with the shared data beside it::

    python scripts/build_equity_data.py [--shared ../shared/data]

* ``data/deprivation/``: the English Indices of Deprivation 2019 File 1 (IMD rank and decile)
  and File 6 (mid-2015 population denominators), copied unchanged (gzipped CSV).
* ``data/boundaries/west-midlands/lsoa.geojson``: the 1,680 West Midlands LSOAs (2011), columns
  ``LSOA11CD, LSOA11NM, LAD13NM``; coordinates written with 7 decimals (at most 1 cm from the
  source vertices; no vertex removed, every LSOA kept, invalid polygons left for the reader to
  repair as with every bundled layer).

Leicestershire's LSOAs are already bundled as ``boundaries/leicestershire/neighbourhoods.geojson``
(column ``lsoa_code``).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import geopandas as gpd

ROOT = Path(__file__).resolve().parents[1]
DEPRIVATION_FILES = (
    "File_1_-_IMD2019_Index_of_Multiple_Deprivation.csv.gz",
    "File_6_-_IoD2019_Population_Denominators.csv.gz",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    out = ROOT / "data"
    (out / "deprivation").mkdir(parents=True, exist_ok=True)
    for name in DEPRIVATION_FILES:
        shutil.copyfile(args.shared / "deprivation" / name, out / "deprivation" / name)
    lsoa = gpd.read_file(args.shared / "boundaries" / "west_midlands" / "lsoa2011.geojson")
    lsoa = lsoa[["LSOA11CD", "LSOA11NM", "LAD13NM", "geometry"]]
    if len(lsoa) != 1680 or not lsoa["LSOA11CD"].is_unique:
        raise SystemExit(f"expected 1,680 distinct West Midlands LSOAs, found {len(lsoa)}")
    path = out / "boundaries" / "west-midlands" / "lsoa.geojson"
    if path.exists():
        path.unlink()
    lsoa.to_file(path, driver="GeoJSON", COORDINATE_PRECISION=7)
    print(f"wrote {out / 'deprivation'} and {path}")


if __name__ == "__main__":
    main()
