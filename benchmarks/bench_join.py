"""Area join: geodemand.ingest.areas.label_points against geopandas.sjoin (same tie rule).

Points are clustered like incidents: drawn from real police.uk map points with 50 m jitter,
plus 10 % spread uniformly over the layer's extent. The peer is
``geopandas.sjoin(points, polygons, predicate="intersects")`` followed by keeping the first
polygon in layer order per point; its point GeoDataFrame is built once, outside the timing.
geodemand's time includes building its lookup index every call.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np

from benchmarks.harness import Benchmark

ROOT = Path(__file__).resolve().parents[1]


def _points(layer: gpd.GeoDataFrame, incidents: Path, n: int, seed: int):
    import geodemand as gd

    table = gd.read_incidents(incidents)
    px, py = table.frame["x"].to_numpy(), table.frame["y"].to_numpy()
    rng = np.random.default_rng(seed)
    k = rng.integers(0, len(px), n)
    x = px[k] + rng.normal(0, 50, n)
    y = py[k] + rng.normal(0, 50, n)
    m = n // 10
    x0, y0, x1, y1 = layer.total_bounds
    x[:m] = rng.uniform(x0, x1, m)
    y[:m] = rng.uniform(y0, y1, m)
    return x, y


def _setup(layer_path: Path, incidents: Path, n: int):
    from geodemand.ingest.areas import read_areas

    layer = read_areas(layer_path, lpu_field="neighbourhood").lpus
    x, y = _points(layer, incidents, n, seed=7)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs=layer.crs)
    plain = gpd.GeoDataFrame(geometry=layer.geometry.values, crs=layer.crs)
    return {"x": x, "y": y, "layer": layer, "points": pts, "plain": plain}


def _ours(d):
    from geodemand.ingest.areas import label_points

    return label_points(d["x"], d["y"], d["layer"])


def _peer(d):
    joined = gpd.sjoin(d["points"], d["plain"], predicate="intersects", how="left")
    first = joined.groupby(level=0)["index_right"].min()
    return first.fillna(-1).astype(np.int64).to_numpy()


def _compare(ours, peer) -> str:
    diff = int((ours != peer).sum())
    assert diff == 0, f"{diff} label differences"
    return f"0 label differences ({int((ours >= 0).sum()):,} points inside)"


WM_NB = ROOT / "data/boundaries/west-midlands/neighbourhoods.geojson"
WM_INC = ROOT / "data/incidents/west-midlands/2018-06-west-midlands-api.csv.gz"
LE_NB = ROOT / "data/boundaries/leicestershire/neighbourhoods.geojson"
LE_INC = ROOT / "data/incidents/leicestershire/2021-06-leicestershire-street.csv.gz"

BENCHMARKS = [
    Benchmark(
        name="join_wm_163",
        description="1M clustered points into the 163 West Midlands neighbourhoods vs "
        "geopandas.sjoin(intersects) + first match",
        setup=lambda n: _setup(WM_NB, WM_INC, n),
        ours=_ours,
        peer=_peer,
        peer_name="geopandas.sjoin",
        compare=_compare,
        quick_n=200_000,
        full_n=1_000_000,
        floor=3.5,
        target_ratio=10.0,
    ),
    Benchmark(
        name="join_leics_611",
        description="1M clustered points into the 611 Leicestershire LSOAs vs "
        "geopandas.sjoin(intersects) + first match",
        setup=lambda n: _setup(LE_NB, LE_INC, n),
        ours=_ours,
        peer=_peer,
        peer_name="geopandas.sjoin",
        compare=_compare,
        quick_n=200_000,
        full_n=1_000_000,
        floor=4.0,
        target_ratio=10.0,
    ),
]
