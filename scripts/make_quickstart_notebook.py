"""Write docs/quickstart.ipynb (unexecuted): GeoDataFrame -> KDE -> Gi* -> targets -> map.

Usage: ``python scripts/make_quickstart_notebook.py``. The notebook is executed by
``tests/test_notebook.py`` in CI, so every cell must run on a fresh clone.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]

CELLS = [
    ("markdown", """# geodemand quickstart: from a GeoDataFrame to a hot-spot map

Real police.uk street-level crime for Leicestershire (bundled, Open Government Licence v3.0),
read the way a geopandas user has it: a GeoDataFrame of points in lon/lat. Each step prints
what it decided (projection, window, exclusions); the results show themselves in the
notebook and plot with `.plot()`."""),
    ("code", """from pathlib import Path

import geopandas as gpd
import pandas as pd

import geodemand as gd

ROOT = Path(gd.__file__).resolve().parents[1]   # the repository (bundled data in data/)
months = sorted((ROOT / "data/incidents/leicestershire").glob("*-street.csv.gz"))[-12:]
raw = pd.concat([pd.read_csv(m) for m in months], ignore_index=True)
points = gpd.GeoDataFrame(raw, geometry=gpd.points_from_xy(raw.Longitude, raw.Latitude),
                          crs="EPSG:4326")
points = points[points.geometry.notna() & raw.Longitude.notna()]
len(points), points.crs.to_string()"""),
    ("markdown", """## Ingest: every row accepted or rejected with a reason
`read_incidents` takes the GeoDataFrame as it is (the police.uk columns are recognised),
projects lon/lat into British National Grid and says so."""),
    ("code", """incidents = gd.read_incidents(points)
incidents.accounting"""),
    ("code", """areas = gd.read_areas(ROOT / "data/boundaries/leicestershire/lpus.geojson",
                      crs=incidents.crs)
incidents = gd.assign_areas(incidents, areas)
demand = gd.prepare_demand(incidents)   # window, police-generated types out, CCHI harm
demand"""),
    ("markdown", "## Kernel density and Gi* hot spots"),
    ("code", """surface = gd.kde(demand, bandwidth_m=250, cell_size_m=100, method="exact")
surface"""),
    ("code", "surface.plot();"),
    ("code", """hot = gd.gistar(points.to_crs(27700), cell_size_m=250)   # a point GeoDataFrame
hot"""),
    ("code", "hot.plot();"),
    ("markdown", """## Control-plan targets: places ranked by expected harm
Places, not people. Partnership sites (hospitals, custody suites) are listed for partners'
problem solving, not patrol."""),
    ("code", """ranking = gd.rank_targets(demand, study_area=areas)
ranking.top(5)[["lpu", "rank", "label", "expected_harm", "expected_incidents", "incidents"]]"""),
    ("code", """plan = gd.patrol_areas(ranking, areas, top_n=3)
plan"""),
    ("markdown", "## The map (no web tiles here so the notebook runs offline)"),
    ("code", """m = gd.hotspot_map(
    title="Leicestershire", period="last 12 months", window=demand.window_text,
    data_source="police.uk street data (bundled)", synthetic=False,
    lpus=areas.lpus, density=surface.density, density_grid=surface.grid,
    density_units=surface.units, hotspot_cells=hot.to_geodataframe(only_significant=True),
    patrol_areas=plan, tiles=None)
m"""),
]


def build() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    for kind, text in CELLS:
        cell = (nbformat.v4.new_markdown_cell(text) if kind == "markdown"
                else nbformat.v4.new_code_cell(text))
        nb.cells.append(cell)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
    return nb


if __name__ == "__main__":
    path = ROOT / "docs" / "quickstart.ipynb"
    nbformat.write(build(), path)
    print(f"wrote {path}")
