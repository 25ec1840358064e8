"""GeoTIFF output of grid results (density surfaces, Gi* z-scores, counts, classes).

:func:`write_raster` writes one or more bands on a :class:`~geodemand.grid.Grid` through
rasterio, atomically (a temporary file renamed into place, see :mod:`geodemand._atomic`):
CRS, affine transform, nodata, DEFLATE compression, a description per band and the
parameters that made the result as dataset tags (JSON strings).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from geodemand._atomic import write_with
from geodemand.errors import InvalidParameterError
from geodemand.grid import Grid

#: Array attributes looked up, in order, on a result object passed to :func:`write_raster`.
RESULT_ARRAY_ATTRIBUTES = ("density", "values", "array", "data")

_UNSET: Any = object()


def _tag_value(value: Any) -> str:
    """A JSON-safe string for a tag value (strings stay as they are)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str, allow_nan=True)


def _result_parts(
    result: Any, grid: Grid | None
) -> tuple[np.ndarray, Grid, dict[str, Any], str | None]:
    """Array, grid, params and units of a result object or a plain array."""
    if isinstance(result, np.ndarray) or not hasattr(result, "grid"):
        if grid is None:
            raise InvalidParameterError(
                "write_raster: a plain array needs grid= (the Grid it lies on)"
            )
        return np.asarray(result), grid, {}, None
    array = None
    for name in RESULT_ARRAY_ATTRIBUTES:
        candidate = getattr(result, name, None)
        if isinstance(candidate, np.ndarray):
            array = candidate
            break
    if array is None:
        raise InvalidParameterError(
            f"write_raster: {type(result).__name__} has no array attribute "
            f"(looked for {', '.join(RESULT_ARRAY_ATTRIBUTES)})"
        )
    res_grid = result.grid
    if grid is not None and grid != res_grid:
        raise InvalidParameterError("write_raster: grid= differs from the result's own grid")
    params = dict(getattr(result, "params", {}) or {})
    units = getattr(result, "units", None)
    return array, res_grid, params, units


def _bands(array: np.ndarray, grid: Grid) -> np.ndarray:
    if array.ndim == 2:
        array = array[np.newaxis]
    if array.ndim != 3 or array.shape[1:] != grid.shape:
        raise InvalidParameterError(
            f"write_raster: array shape {array.shape} does not match the grid "
            f"{grid.shape} (expected (n_rows, n_cols) or (bands, n_rows, n_cols))"
        )
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise InvalidParameterError(
            f"write_raster: unsupported dtype {array.dtype}; use integers or floats"
        )
    if array.dtype == np.int64 or array.dtype == np.uint64:
        info = np.iinfo(np.int32)
        if array.size and (array.min() < info.min or array.max() > info.max):
            raise InvalidParameterError("write_raster: 64-bit integers out of int32 range")
        array = array.astype(np.int32)
    if array.dtype == np.float16:
        array = array.astype(np.float32)
    return array


def _nodata(bands: np.ndarray, nodata: Any) -> tuple[np.ndarray, float | int | None]:
    """Resolve the nodata value; NaN cells of float bands get it if it is not NaN."""
    is_float = np.issubdtype(bands.dtype, np.floating)
    if nodata is _UNSET:
        return bands, (math.nan if is_float else None)
    if nodata is None:
        if is_float and np.isnan(bands).any():
            raise InvalidParameterError(
                "write_raster: the array has NaN cells but nodata=None; give a nodata value"
            )
        return bands, None
    if is_float:
        value = float(nodata)
        if not math.isnan(value):
            bands = np.where(np.isnan(bands), value, bands).astype(bands.dtype)
        return bands, value
    if isinstance(nodata, float) and not float(nodata).is_integer():
        raise InvalidParameterError(
            f"write_raster: nodata {nodata!r} is not an integer for an integer band"
        )
    info = np.iinfo(bands.dtype)
    if not info.min <= int(nodata) <= info.max:
        raise InvalidParameterError(
            f"write_raster: nodata {nodata!r} does not fit dtype {bands.dtype}"
        )
    return bands, int(nodata)


def write_raster(
    result: Any,
    path: str | os.PathLike[str],
    grid: Grid | None = None,
    *,
    layer: str | None = None,
    nodata: Any = _UNSET,
    description: str | Sequence[str] | None = None,
    tags: Mapping[str, Any] | None = None,
    compress: str = "deflate",
) -> Path:
    """Write a grid result as a GeoTIFF.

    Parameters
    ----------
    result : KDEResult-like object or ndarray
        An object with ``grid`` and an array attribute (``density``, ``values``, ``array``
        or ``data``; optional ``params`` and ``units``), or a plain array of shape
        ``(n_rows, n_cols)`` or ``(bands, n_rows, n_cols)`` (then ``grid`` is required).
        Row 0 is the north edge, as everywhere in geodemand. Float and integer dtypes are
        written as they are (bool as uint8, 64-bit integers as int32 when they fit).
    path : path
        Output ``.tif``; written atomically (parent folders are created).
    grid : Grid, optional
        The grid of a plain array.
    layer : str, optional
        For results with several layers (a method ``raster_layer(layer)`` returning
        ``(array, description, tags)``, e.g. Gi*: ``"bin"`` (default), ``"z"``, ``"q"``,
        ``"p"``): the layer to write.
    nodata : float or int or None, optional
        Default: NaN for float bands, none for integer bands. For float bands with a finite
        nodata, NaN cells are written as that value.
    description : str or list of str, optional
        Band description(s). Default: the result's units (e.g. ``"incidents per km²"``) or
        ``"band N"``.
    tags : mapping, optional
        Extra dataset tags; values that are not strings are stored as JSON. The result's
        ``params`` are written as tags first (so ``tags`` can override them), plus
        ``units`` and ``geodemand_version``.
    compress : str
        GDAL compression (default DEFLATE, with the floating-point or horizontal predictor).

    Returns
    -------
    Path
        The path written.
    """
    import rasterio
    from rasterio.crs import CRS

    from geodemand._version import __version__

    if hasattr(result, "raster_layer") and not isinstance(result, np.ndarray):
        array, default_description, layer_tags = (
            result.raster_layer() if layer is None else result.raster_layer(layer)
        )
        if description is None:
            description = default_description
        tags = {**layer_tags, **(tags or {})}
        result, grid = array, result.grid
    elif layer is not None:
        raise InvalidParameterError(
            f"write_raster: layer={layer!r} given, but {type(result).__name__} has one layer"
        )
    array, grid, params, units = _result_parts(result, grid)
    bands = _bands(np.asarray(array), grid)
    bands, nodata_value = _nodata(bands, nodata)
    n_bands = bands.shape[0]

    if description is None:
        descriptions = [units or f"band {i + 1}" for i in range(n_bands)]
        if n_bands > 1 and units:
            descriptions = [f"{units} ({i + 1})" for i in range(n_bands)]
    elif isinstance(description, str):
        descriptions = [description] * n_bands if n_bands == 1 else [
            f"{description} ({i + 1})" for i in range(n_bands)
        ]
    else:
        descriptions = [str(d) for d in description]
        if len(descriptions) != n_bands:
            raise InvalidParameterError(
                f"write_raster: {len(descriptions)} description(s) for {n_bands} band(s)"
            )

    all_tags: dict[str, str] = {k: _tag_value(v) for k, v in params.items()}
    if units:
        all_tags["units"] = units
    all_tags["geodemand_version"] = __version__
    for key, value in (tags or {}).items():
        all_tags[str(key)] = _tag_value(value)

    is_float = np.issubdtype(bands.dtype, np.floating)
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": grid.n_cols,
        "height": grid.n_rows,
        "count": n_bands,
        "dtype": bands.dtype.name,
        "crs": CRS.from_user_input(grid.crs),
        "transform": grid.transform,
        "nodata": nodata_value,
        "compress": compress,
        "predictor": 3 if is_float else 2,
        "BIGTIFF": "IF_SAFER",
    }
    if compress.lower() in ("none", ""):
        profile.pop("compress")
        profile.pop("predictor")
    if grid.n_cols >= 256 and grid.n_rows >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)

    def _write(tmp: Path) -> None:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(bands)
            for i, text in enumerate(descriptions, start=1):
                dst.set_band_description(i, text)
            dst.update_tags(**all_tags)

    return write_with(path, _write)
