"""Vector outputs: patrol areas as RFC 7946 GeoJSON, GeoPackage or CSV, written atomically.

GeoJSON follows RFC 7946 (WGS84 lon/lat, counter-clockwise exterior rings, clockwise holes,
no ``crs`` member, 6 decimal places ≈ 0.1 m); the GeoPackage keeps the analysis CRS.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodemand._atomic import atomic_path, write_text_atomic
from geodemand.errors import InvalidParameterError


def to_rfc7946(areas: gpd.GeoDataFrame, precision: int = 6) -> dict:
    """The areas as an RFC 7946 FeatureCollection (dict).

    WGS84 lon/lat; exterior rings counter-clockwise and holes clockwise (right-hand rule,
    RFC 7946 §3.1.6); no ``crs`` member; coordinates rounded to ``precision`` decimals
    (6 ≈ 0.1 m). Properties are JSON-safe (numbers, strings, booleans, null).
    """
    wgs = areas.to_crs("EPSG:4326")
    geoms = shapely.orient_polygons(
        shapely.set_precision(wgs.geometry.values, 10.0**-precision), exterior_cw=False
    )
    props = pd.DataFrame(wgs.drop(columns=wgs.geometry.name))
    features = []
    for i, geom in enumerate(geoms):
        record = {k: _json_value(v) for k, v in props.iloc[i].items()}
        features.append(
            {
                "type": "Feature",
                "properties": record,
                "geometry": json.loads(shapely.to_geojson(geom)),
            }
        )
    bbox = [round(float(v), precision) for v in shapely.total_bounds(geoms)] if len(geoms) else None
    out = {"type": "FeatureCollection", "features": features}
    if bbox:
        out["bbox"] = bbox
    return out


def _json_value(v):
    if v is None:
        return None
    if isinstance(v, np.integer | int) and not isinstance(v, bool):
        return int(v)
    if isinstance(v, np.bool_ | bool):
        return bool(v)
    if isinstance(v, np.floating | float):
        return None if not np.isfinite(v) else round(float(v), 6)
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return str(v)


def write_patrol_areas(areas, path: str | Path, *, precision: int = 6) -> Path:
    """Write patrol areas as RFC 7946 GeoJSON (``.geojson``/``.json``), GeoPackage
    (``.gpkg``, analysis CRS) or a CSV of the attributes (``.csv``), atomically.

    Parameters
    ----------
    areas : PatrolPlan or GeoDataFrame
    path : path
    precision : int
        Decimal places of GeoJSON coordinates (6 ≈ 0.1 m).
    """
    gdf = getattr(areas, "areas", areas)  # a PatrolPlan or its GeoDataFrame
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".geojson", ".json"):
        text = json.dumps(to_rfc7946(gdf, precision), ensure_ascii=False, separators=(",", ":"))
        return write_text_atomic(path, text)
    if suffix == ".gpkg":
        with atomic_path(path) as tmp:
            gdf.to_file(tmp, driver="GPKG", layer="patrol_areas")
        return path
    if suffix == ".csv":
        with atomic_path(path) as tmp:
            pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).to_csv(tmp, index=False)
        return path
    raise InvalidParameterError(f"{path}: patrol areas are written as .geojson, .gpkg or .csv")
