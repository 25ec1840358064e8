"""Rebuild the bundled boundary layers and copy the bundled real incident files.

Run from the repository root with the shared data beside it::

    python scripts/build_bundled_data.py [--shared ../shared/data]

West Midlands (2014 Local Policing Units, reconstructed)
    The 10 LPUs of West Midlands Police in 2014 are built from the 163 ONS 2013 wards so that
    neighbourhoods (= wards) nest exactly in LPUs. Outside Birmingham an LPU is a district
    (the union of its wards). Birmingham's four LPUs are **reconstructed from the 2013
    Westminster constituencies** (no official ward-to-LPU lookup was found): each Birmingham
    ward goes to the constituency holding most of its area, and
    North = Erdington + Perry Barr + Sutton Coldfield, East = Hodge Hill + Yardley,
    South = Hall Green + Northfield + Selly Oak, West and Central = Edgbaston + Ladywood.
Leicestershire
    LPUs = the 9 districts (Leicester, Rutland and the 7 Leicestershire districts), each the
    union of its 2011 LSOAs so that they nest exactly; neighbourhoods = the 611 LSOAs.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import geopandas as gpd
import pandas as pd

BIRMINGHAM_LPUS = {
    "Birmingham North": ("Birmingham, Erdington", "Birmingham, Perry Barr", "Sutton Coldfield"),
    "Birmingham East": ("Birmingham, Hodge Hill", "Birmingham, Yardley"),
    "Birmingham South": (
        "Birmingham, Hall Green",
        "Birmingham, Northfield",
        "Birmingham, Selly Oak",
    ),
    "Birmingham West and Central": ("Birmingham, Edgbaston", "Birmingham, Ladywood"),
}
ROOT = Path(__file__).resolve().parents[1]


def _polygonal(geom):
    """The polygonal part of a geometry (a dissolve can leave stray lines or points)."""
    import shapely

    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts)


def _write_geojson(gdf: gpd.GeoDataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    gdf = gdf.set_geometry([_polygonal(g) for g in gdf.geometry], crs=gdf.crs)
    if path.exists():
        path.unlink()
    gdf.to_file(path, driver="GeoJSON", COORDINATE_PRECISION=7)


def build_west_midlands(shared: Path, out: Path) -> None:
    wards = gpd.read_file(shared / "boundaries/west_midlands/wards2013.geojson")
    pcon = gpd.read_file(shared / "boundaries/west_midlands/westminster_constituencies.geojson")
    wards_m = wards.to_crs("EPSG:27700")
    pcon_m = pcon.to_crs("EPSG:27700")
    lpu = wards["LAD13NM"].astype(str).to_numpy().copy()
    constituency_to_lpu = {c: name for name, cs in BIRMINGHAM_LPUS.items() for c in cs}
    brum = wards["LAD13NM"] == "Birmingham"
    for i in wards.index[brum]:
        overlap = pcon_m.geometry.intersection(wards_m.geometry[i]).area
        best = pcon["PCON13NM"].iloc[int(overlap.to_numpy().argmax())]
        if best not in constituency_to_lpu:
            raise SystemExit(f"ward {wards['WD13NM'][i]} falls in {best}, not a Birmingham seat")
        lpu[i] = constituency_to_lpu[best]
    neighbourhoods = (
        gpd.GeoDataFrame(
            {
                "neighbourhood": wards["WD13NM"].astype(str),
                "ward_code": wards["WD13CD"],
                "district": wards["LAD13NM"],
                "lpu": lpu,
            },
            geometry=wards.geometry,
            crs=wards.crs,
        )
        .sort_values(["lpu", "neighbourhood"], kind="stable")
        .reset_index(drop=True)
    )
    lpus = neighbourhoods.dissolve(by="lpu", as_index=False)[["lpu", "geometry"]]
    lpus = lpus.sort_values("lpu").reset_index(drop=True)
    _write_geojson(neighbourhoods, out / "boundaries/west-midlands/neighbourhoods.geojson")
    _write_geojson(lpus, out / "boundaries/west-midlands/lpus.geojson")
    force = gpd.read_file(shared / "boundaries/west_midlands/police_force_area.geojson")
    _write_geojson(force, out / "boundaries/west-midlands/force.geojson")
    counts = neighbourhoods.groupby("lpu").size()
    print("West Midlands LPUs (wards per LPU):")
    print(counts.to_string())


def build_leicestershire(shared: Path, out: Path) -> None:
    lsoa = gpd.read_file(shared / "boundaries/leicestershire/lsoa2011.geojson")
    neighbourhoods = (
        gpd.GeoDataFrame(
            {
                "neighbourhood": lsoa["LSOA11NM"].astype(str),
                "lsoa_code": lsoa["LSOA11CD"],
                "lpu": lsoa["LAD13NM"].astype(str),
            },
            geometry=lsoa.geometry,
            crs=lsoa.crs,
        )
        .sort_values(["lpu", "neighbourhood"], kind="stable")
        .reset_index(drop=True)
    )
    lpus = neighbourhoods.dissolve(by="lpu", as_index=False)[["lpu", "geometry"]]
    _write_geojson(neighbourhoods, out / "boundaries/leicestershire/neighbourhoods.geojson")
    _write_geojson(
        lpus.sort_values("lpu").reset_index(drop=True),
        out / "boundaries/leicestershire/lpus.geojson",
    )
    print(f"Leicestershire: {len(lpus)} LPUs, {len(neighbourhoods)} neighbourhoods")


def copy_incidents(shared: Path, out: Path) -> None:
    dest = out / "incidents/west-midlands"
    dest.mkdir(parents=True, exist_ok=True)
    for src in (
        shared / "police_uk/west_midlands/2011-02-west-midlands-street.csv.gz",
        shared / "police_uk/west_midlands_api/2018-06-west-midlands-api.csv.gz",
    ):
        shutil.copy2(src, dest / src.name)
    dest = out / "incidents/leicestershire"
    dest.mkdir(parents=True, exist_ok=True)
    for src in sorted((shared / "police_uk/leicestershire").glob("*.csv.gz")):
        shutil.copy2(src, dest / src.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "data")
    args = parser.parse_args()
    pd.set_option("display.width", 120)
    build_west_midlands(args.shared, args.out)
    build_leicestershire(args.shared, args.out)
    copy_incidents(args.shared, args.out)


if __name__ == "__main__":
    main()
