"""GeoTIFF output of grid results (density surfaces, Gi* z-scores, counts, classes).

:func:`write_raster` writes one or more bands on a :class:`~geodemand.grid.Grid` through
rasterio, atomically (a temporary file renamed into place, see :mod:`geodemand._atomic`):
CRS, affine transform, nodata, DEFLATE compression, a description and a unit per band,
internal overviews, and the parameters that made the result as dataset tags (JSON strings).
Float bands are written as Float32 by default. A ``mask`` (an array, or the force / LPU
polygons) turns every cell outside it into nodata.

The bundle's rasters have their own writers:

* :func:`write_density` — ``density.tif``: Float32, NaN nodata outside the force area, the
  band's unit (e.g. "CCHI days per km²") and description, overviews, and a QGIS style;
* :func:`write_hotspot_classes` — ``hotspots.tif``: a Byte raster of Gi* classes
  (value = bin + 3: 0 = cold spot 99 % … 3 = not significant … 6 = hot spot 99 %; 255 =
  nodata outside the analysed area or the mask) with a GDAL colour table, category names and
  a raster attribute table, and a QGIS style;
* :func:`write_gistar` — ``gistar.tif``: Gi* z-score and q-value bands (Float32, NaN nodata);
* :func:`write_emerging_classes` — emerging hot-spot patterns as a Byte class raster
  (value = pattern code + 8; 255 = nodata).

GeoTIFF keeps category names and attribute tables in a ``<file>.tif.aux.xml`` side file
(GDAL's PAM format, read by GDAL, QGIS and ArcGIS); it is written with the raster, and a stale
one left by an earlier file of the same name is removed. No writer leaves a time stamp in a
file, so identical inputs give byte-identical files.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from geodemand._atomic import atomic_path, write_text_atomic
from geodemand.errors import InvalidParameterError
from geodemand.grid import Grid
from geodemand.outputs.maps.style import (
    BIN_COLOURS,
    BIN_LABELS,
    EMERGING_COLOURS,
    NOT_SIGNIFICANT_COLOUR,
    emerging_label,
    hex_rgba,
)

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


def _bands(array: np.ndarray, grid: Grid, dtype: Any = "auto") -> np.ndarray:
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
    if isinstance(dtype, str) and dtype == "auto":
        if array.dtype == np.float64:
            array = array.astype(np.float32)
    elif dtype is not None:
        target = np.dtype(dtype)
        if np.issubdtype(array.dtype, np.floating) and not np.issubdtype(target, np.floating):
            raise InvalidParameterError(
                f"write_raster: cannot write float values as {target}; round them first"
            )
        if np.issubdtype(target, np.integer) and array.size:
            info = np.iinfo(target)
            if array.min() < info.min or array.max() > info.max:
                raise InvalidParameterError(f"write_raster: values out of the range of {target}")
        array = array.astype(target)
    return array


def grid_mask(grid: Grid, area: Any) -> np.ndarray:
    """Cells of ``grid`` inside ``area`` (True), as a boolean array of the grid's shape.

    Parameters
    ----------
    grid : Grid
    area : ndarray of bool, GeoDataFrame, GeoSeries or shapely geometry
        A boolean array of the grid's shape (True = inside) is returned as a copy. Polygons
        (e.g. the force area, or the union of the LPUs) are reprojected to the grid's CRS
        (a bare shapely geometry must already be in it); a cell is inside when the polygons
        touch it (GDAL's ``all_touched``), so no cell with demand inside the area is lost.

    Raises
    ------
    InvalidParameterError
        For a wrong shape, a layer without a CRS, or geometries that are not polygons.
    """
    import shapely

    if isinstance(area, np.ndarray):
        if area.shape != grid.shape:
            raise InvalidParameterError(
                f"mask has shape {area.shape}; the grid is {grid.shape} (n_rows, n_cols)"
            )
        if area.dtype != np.bool_:
            raise InvalidParameterError(f"mask must be boolean, got dtype {area.dtype}")
        return area.copy()
    if hasattr(area, "geometry") or hasattr(area, "to_crs"):
        if getattr(area, "crs", None) is None:
            raise InvalidParameterError("mask polygons have no CRS; set one (e.g. EPSG:27700)")
        series = area.geometry if hasattr(area, "geometry") else area
        geoms = series.to_crs(grid.crs).to_numpy()
    elif isinstance(area, shapely.Geometry):
        geoms = np.array([area], dtype=object)
    else:
        raise InvalidParameterError(
            f"mask must be a boolean array, polygons (GeoDataFrame/GeoSeries) or a shapely "
            f"geometry, got {type(area).__name__}"
        )
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    kinds = set(shapely.get_type_id(geoms).tolist()) - {3, 6}  # Polygon, MultiPolygon
    if kinds:
        raise InvalidParameterError("mask geometries must be polygons (the force or LPU areas)")
    if len(geoms) == 0:
        return np.zeros(grid.shape, dtype=bool)
    from rasterio.features import geometry_mask

    return geometry_mask(
        list(geoms), out_shape=grid.shape, transform=grid.transform, all_touched=True,
        invert=True,
    )


def overview_factors(n_rows: int, n_cols: int, *, smallest: int = 128) -> list[int]:
    """Overview decimation factors 2, 4, 8, … while the overview is at least ``smallest``
    pixels on its longer side."""
    out, f = [], 2
    while max(n_rows, n_cols) / f >= smallest:
        out.append(f)
        f *= 2
    return out


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


def _per_band(value: str | Sequence[str] | None, n_bands: int, name: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        if n_bands == 1:
            return [value]
        return [f"{value} ({i + 1})" for i in range(n_bands)] if name == "description" else [
            value
        ] * n_bands
    out = [str(v) for v in value]
    if len(out) != n_bands:
        raise InvalidParameterError(f"write_raster: {len(out)} {name}(s) for {n_bands} band(s)")
    return out


def pam_path(path: str | os.PathLike[str]) -> Path:
    """The GDAL PAM side file of a raster: ``<path>.aux.xml``."""
    return Path(f"{os.fspath(path)}.aux.xml")


def write_raster(
    result: Any,
    path: str | os.PathLike[str],
    grid: Grid | None = None,
    *,
    layer: str | None = None,
    nodata: Any = _UNSET,
    description: str | Sequence[str] | None = None,
    units: str | Sequence[str] | None = None,
    mask: Any = None,
    dtype: Any = "auto",
    overviews: bool = True,
    colormap: Mapping[int, tuple[int, int, int, int]] | None = None,
    categories: Mapping[int, str] | None = None,
    attribute_table: Sequence[Mapping[str, Any]] | None = None,
    tags: Mapping[str, Any] | None = None,
    compress: str = "deflate",
    qml: str | None = None,
) -> Path:
    """Write a grid result as a GeoTIFF.

    Parameters
    ----------
    result : KDEResult-like object or ndarray
        An object with ``grid`` and an array attribute (``density``, ``values``, ``array``
        or ``data``; optional ``params`` and ``units``), or a plain array of shape
        ``(n_rows, n_cols)`` or ``(bands, n_rows, n_cols)`` (then ``grid`` is required).
        Row 0 is the north edge, as everywhere in geodemand. Booleans are written as uint8,
        64-bit integers as int32 when they fit.
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
    units : str or list of str, optional
        Band unit(s) (GDAL's unit type, e.g. ``"incidents per km²"``); default the result's
        ``units``.
    mask : ndarray of bool or polygons, optional
        Cells outside it are written as nodata (see :func:`grid_mask`); integer bands then
        need a ``nodata`` value.
    dtype : "auto", None or dtype
        ``"auto"`` (default): float64 bands are written as Float32 (7 significant digits),
        others as they are; ``None``: as they are; or a numpy dtype.
    overviews : bool
        Build internal overviews (average for float bands, nearest for integer bands) by
        :func:`overview_factors` (none for small rasters).
    colormap : mapping value -> (r, g, b, a), optional
        A GDAL colour table for a single Byte/UInt16 band (TIFF colour tables have no alpha).
    categories : mapping value -> name, optional
        Category names of band 1 (written to the ``.aux.xml`` side file).
    attribute_table : list of dict, optional
        Rows of a thematic raster attribute table of band 1 (the ``.aux.xml`` side file); each
        row maps column name -> value, ``"Value"`` first (see :func:`_rat_element`).
    tags : mapping, optional
        Extra dataset tags; values that are not strings are stored as JSON. The result's
        ``params`` are written as tags first (so ``tags`` can override them), plus
        ``units`` and ``geodemand_version``.
    compress : str
        GDAL compression (default DEFLATE, with the floating-point or horizontal predictor).
    qml : str, optional
        A QGIS style written beside the raster as ``<stem>.qml`` (see :mod:`.qgis`).

    Returns
    -------
    Path
        The path written.
    """
    import rasterio
    from rasterio.crs import CRS
    from rasterio.enums import Resampling

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
    array, grid, params, result_units = _result_parts(result, grid)
    bands = _bands(np.asarray(array), grid, dtype)
    bands, nodata_value = _nodata(bands, nodata)
    n_bands = bands.shape[0]
    is_float = np.issubdtype(bands.dtype, np.floating)
    if mask is not None:
        inside = grid_mask(grid, mask)
        if nodata_value is None:
            raise InvalidParameterError(
                "write_raster: mask= needs a nodata value for the cells outside it"
            )
        bands = np.where(inside[np.newaxis], bands, bands.dtype.type(nodata_value))
        bands = bands.astype(bands.dtype, copy=False)

    units_list = _per_band(units if units is not None else result_units, n_bands, "unit")
    descriptions = _per_band(description, n_bands, "description")
    if descriptions is None:
        descriptions = [result_units or f"band {i + 1}" for i in range(n_bands)]
        if n_bands > 1 and result_units:
            descriptions = [f"{result_units} ({i + 1})" for i in range(n_bands)]

    all_tags: dict[str, str] = {k: _tag_value(v) for k, v in params.items()}
    if result_units:
        all_tags["units"] = result_units
    all_tags["geodemand_version"] = __version__
    for key, value in (tags or {}).items():
        all_tags[str(key)] = _tag_value(value)

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
    if colormap is not None:
        if n_bands != 1 or bands.dtype not in (np.uint8, np.uint16):
            raise InvalidParameterError("write_raster: a colour table needs one Byte/UInt16 band")
        profile["photometric"] = "palette"
    factors = overview_factors(grid.n_rows, grid.n_cols) if overviews else []
    pam = _pam_document(categories, attribute_table)

    with atomic_path(path) as tmp:
        # PAM off: everything goes into the TIFF itself; the side file is written here
        with rasterio.Env(GDAL_PAM_ENABLED="NO"), rasterio.open(tmp, "w", **profile) as dst:
            dst.write(bands)
            for i, text in enumerate(descriptions, start=1):
                dst.set_band_description(i, text)
            if units_list is not None:
                dst.units = tuple(units_list)
            if colormap is not None:
                dst.write_colormap(1, {int(k): tuple(v) for k, v in colormap.items()})
            dst.update_tags(**all_tags)
            if factors:
                method = Resampling.average if is_float else Resampling.nearest
                dst.build_overviews(factors, method)
                dst.update_tags(ns="rio_overview", resampling=method.name)
        stray = pam_path(tmp)
        if stray.exists():  # pragma: no cover - GDAL_PAM_ENABLED=NO prevents it
            stray.unlink()
        if pam is not None:
            write_text_atomic(pam_path(path), pam)
        else:
            with contextlib.suppress(FileNotFoundError):
                pam_path(path).unlink()  # a stale side file would describe other pixels
    if qml is not None:
        from geodemand.outputs.qgis import write_qml

        write_qml(path, qml)
    return Path(path)


#: GDAL RAT field types and usages (gdal.h: GDALRATFieldType, GDALRATFieldUsage).
_RAT_TYPES = {int: 0, float: 1, str: 2}
_RAT_USAGE = {"Value": 5, "Class": 2, "Red": 6, "Green": 7, "Blue": 8, "Alpha": 9, "Count": 1}


def _rat_kind(value: Any) -> type:
    if isinstance(value, (bool, np.bool_, int, np.integer)):
        return int
    if isinstance(value, (float, np.floating)):
        return float
    return str


def _rat_element(rows: Sequence[Mapping[str, Any]]) -> ET.Element:
    """A thematic GDAL raster attribute table (PAM XML) of ``rows``.

    Column types come from the first row's values (int, float or str); columns named
    ``Value`` (class value), ``Class`` (name), ``Red``/``Green``/``Blue``/``Alpha`` and
    ``Count`` get GDAL's matching field usage, others are generic.
    """
    rat = ET.Element("GDALRasterAttributeTable", {"tableType": "thematic"})
    names = list(rows[0])
    for i, name in enumerate(names):
        fd = ET.SubElement(rat, "FieldDefn", {"index": str(i)})
        ET.SubElement(fd, "Name").text = name
        ET.SubElement(fd, "Type").text = str(_RAT_TYPES[_rat_kind(rows[0][name])])
        ET.SubElement(fd, "Usage").text = str(_RAT_USAGE.get(name, 0))
    for r, row in enumerate(rows):
        el = ET.SubElement(rat, "Row", {"index": str(r)})
        for name in names:
            value = row[name]
            ET.SubElement(el, "F").text = (
                repr(float(value)) if isinstance(value, (float, np.floating)) else str(value)
            )
    return rat


def _pam_document(
    categories: Mapping[int, str] | None, rows: Sequence[Mapping[str, Any]] | None
) -> str | None:
    """The ``.aux.xml`` text holding band 1's category names and attribute table, or None."""
    if not categories and not rows:
        return None
    root = ET.Element("PAMDataset")
    band = ET.SubElement(root, "PAMRasterBand", {"band": "1"})
    if categories:
        values = [int(v) for v in categories]
        if min(values) < 0:
            raise InvalidParameterError("category values must be >= 0 (GDAL indexes names)")
        names = ET.SubElement(band, "CategoryNames")
        for v in range(max(values) + 1):
            ET.SubElement(names, "Category").text = str(categories.get(v, ""))
    if rows:
        band.append(_rat_element(rows))
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode") + "\n"


# ---------------------------------------------------------------------------- bundle rasters
#: Nodata value of the Byte class rasters.
CLASS_NODATA = 255


def _class_spec(
    codes: Sequence[int], offset: int, label, colour
) -> tuple[dict, dict, list[dict], list[tuple[int, str, int, str]]]:
    """Colour table, category names, RAT rows and QGIS palette of class codes (value = code +
    offset)."""
    colormap, names, rows, palette = {}, {}, [], []
    for code in codes:
        value = int(code) + offset
        r, g, b, a = colour(code)
        colormap[value] = (r, g, b, 255)
        names[value] = label(code)
        rows.append({"Value": value, "Class": label(code), "Code": int(code), "Red": r,
                     "Green": g, "Blue": b, "Alpha": a})
        palette.append((value, f"#{r:02x}{g:02x}{b:02x}", a, label(code)))
    colormap[CLASS_NODATA] = (0, 0, 0, 0)
    return colormap, names, rows, palette


def write_class_raster(
    codes: np.ndarray,
    grid: Grid,
    path: str | os.PathLike[str],
    *,
    classes: Mapping[int, tuple[str, str, int]],
    offset: int,
    valid: np.ndarray | None = None,
    mask: Any = None,
    description: str,
    tags: Mapping[str, Any] | None = None,
    style: bool = True,
) -> Path:
    """Write integer class codes as a Byte GeoTIFF with colours and category names.

    Parameters
    ----------
    codes : ndarray of int, shape ``grid.shape``
        Class code per cell; each must be a key of ``classes`` where ``valid``.
    grid : Grid
    path : path
    classes : mapping code -> (name, "#rrggbb", alpha 0-255)
        Every class; stored value = code + ``offset`` (0..254).
    offset : int
    valid : ndarray of bool, optional
        Cells analysed; others are nodata (255).
    mask : ndarray of bool or polygons, optional
        Cells outside it are nodata too (see :func:`grid_mask`).
    description : str
        Band description.
    tags : mapping, optional
        Dataset tags.
    style : bool
        Write the QGIS style ``<stem>.qml`` (paletted) beside the file.
    """
    from geodemand.outputs.qgis import paletted_qml

    codes = np.asarray(codes)
    if codes.shape != grid.shape:
        raise InvalidParameterError(f"class codes have shape {codes.shape}; grid is {grid.shape}")
    ok = np.ones(grid.shape, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    known = np.isin(codes, list(classes))
    if np.any(ok & ~known):
        bad = np.unique(codes[ok & ~known])[:5].tolist()
        raise InvalidParameterError(f"class codes {bad} have no class; expected {sorted(classes)}")
    values = np.full(grid.shape, CLASS_NODATA, dtype=np.uint8)
    values[ok] = (codes[ok].astype(np.int64) + offset).astype(np.uint8)
    colormap, names, rows, palette = _class_spec(
        sorted(classes, key=lambda c: int(c) + offset),
        offset,
        lambda c: classes[c][0],
        lambda c: hex_rgba(classes[c][1], classes[c][2]),
    )
    return write_raster(
        values,
        path,
        grid,
        nodata=CLASS_NODATA,
        description=description,
        units="class",
        mask=mask,
        dtype=None,
        colormap=colormap,
        categories=names,
        attribute_table=rows,
        tags=tags,
        qml=paletted_qml(palette) if style else None,
    )


def _gistar_parts(result: Any):
    grid = getattr(result, "grid", None)
    if grid is None or not hasattr(result, "bin"):
        raise InvalidParameterError(
            f"expected a Gi* result with bin, z, q, mask and grid; got {type(result).__name__}"
        )
    return grid, np.asarray(result.mask, dtype=bool)


def write_hotspot_classes(
    result: Any, path: str | os.PathLike[str], *, mask: Any = None, style: bool = True
) -> Path:
    """Write ``hotspots.tif``: the Gi* confidence classes as a Byte raster.

    Stored value = bin + 3 (0 = cold spot 99 %, 1 = cold 95 %, 2 = cold 90 %, 3 = not
    significant, 4 = hot 90 %, 5 = hot 95 %, 6 = hot 99 %); 255 = nodata outside the analysed
    cells and outside ``mask``. The file has a GDAL colour table (the web map's colours),
    category names and a raster attribute table (``Value``, ``Class``, ``Code`` = the bin,
    colours) in its ``.aux.xml``, and a QGIS style in which "not significant" is transparent.

    Parameters
    ----------
    result : GiStarResult
        From :func:`geodemand.gistar` (``bin``, ``mask``, ``grid`` and ``params`` used).
    path : path
    mask : ndarray of bool or polygons, optional
        E.g. the force area or the LPU polygons (see :func:`grid_mask`).
    style : bool
        Write ``<stem>.qml`` beside it.
    """
    grid, valid = _gistar_parts(result)
    classes = {b: (BIN_LABELS[b], BIN_COLOURS.get(b, NOT_SIGNIFICANT_COLOUR), 0 if b == 0 else 255)
               for b in (-3, -2, -1, 0, 1, 2, 3)}
    params = dict(getattr(result, "params", {}) or {})
    return write_class_raster(
        np.asarray(result.bin),
        grid,
        path,
        classes=classes,
        offset=3,
        valid=valid,
        mask=mask,
        description="Gi* confidence class (value = bin + 3)",
        tags={**params, "value_meaning": "bin + 3; bins -3..3 (ArcGIS style, 99/95/90 %)"},
        style=style,
    )


def write_gistar(
    result: Any, path: str | os.PathLike[str], *, mask: Any = None, style: bool = True
) -> Path:
    """Write ``gistar.tif``: band 1 the Gi* z-score, band 2 its q-value (Float32, NaN nodata).

    The q-value is the p-value corrected for multiple testing (``params["correction"]``,
    Benjamini–Hochberg by default). Cells outside the analysed cells and outside ``mask``
    are NaN. With ``style``, a QGIS style draws the z-score on a diverging ramp (±3).
    """
    from geodemand.outputs.qgis import raster_ramp_qml

    grid, valid = _gistar_parts(result)
    params = dict(getattr(result, "params", {}) or {})
    z = np.where(valid, np.asarray(result.z, dtype=np.float64), np.nan)
    q = np.where(valid, np.asarray(result.q, dtype=np.float64), np.nan)
    correction = params.get("correction", "fdr_bh")
    stops = [
        (-3.0, BIN_COLOURS[-3], 255, "-3 (cold)"),
        (-1.645, BIN_COLOURS[-1], 255, "-1.645"),
        (0.0, NOT_SIGNIFICANT_COLOUR, 0, "0"),
        (1.645, BIN_COLOURS[1], 255, "1.645"),
        (3.0, BIN_COLOURS[3], 255, "3 (hot)"),
    ]
    return write_raster(
        np.stack([z, q]),
        path,
        grid,
        description=[f"{params.get('statistic', 'Gi*')} z-score", f"q-value ({correction})"],
        units=["standard deviations", "probability"],
        mask=mask,
        tags=params,
        qml=raster_ramp_qml(stops) if style else None,
    )


def write_density(
    result: Any,
    path: str | os.PathLike[str],
    *,
    mask: Any = None,
    units: str | None = None,
    description: str | None = None,
    vmax: float | None = None,
    style: bool = True,
) -> Path:
    """Write ``density.tif``: the density surface as Float32 with NaN nodata.

    Parameters
    ----------
    result : KDEResult
        ``density`` (array), ``grid``, ``units`` and ``params`` used.
    path : path
    mask : ndarray of bool or polygons, optional
        The force area (or the union of the LPUs): cells outside become nodata, not 0.
    units : str, optional
        Band unit, e.g. ``"CCHI days per km²"`` or ``"incidents per km²"`` (default the
        result's ``units``; one of them is required).
    description : str, optional
        Band description (default ``"kernel density (<units>)"``).
    vmax : float, optional
        Top of the QGIS colour ramp (default the surface's maximum inside the mask), to
        match the web map's scale.
    style : bool
        Write the QGIS style ``<stem>.qml`` (the web map's ramp) beside it.
    """
    from geodemand.outputs.qgis import density_qml

    units = units if units is not None else getattr(result, "units", None)
    if not isinstance(units, str) or not units.strip():
        raise InvalidParameterError(
            "write_density needs the density units, e.g. units='CCHI days per km²'"
        )
    grid = getattr(result, "grid", None)
    values = getattr(result, "density", None)
    if grid is None or values is None:
        raise InvalidParameterError("write_density expects a KDE result (density, grid)")
    values = np.asarray(values, dtype=np.float64)
    if mask is not None:
        values = np.where(grid_mask(grid, mask), values, np.nan)
    if vmax is None:
        finite = values[np.isfinite(values)]
        vmax = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    return write_raster(
        values,
        path,
        grid,
        description=description or f"kernel density ({units})",
        units=units,
        tags={**dict(getattr(result, "params", {}) or {}), "units": units},
        qml=density_qml(vmax, units) if style else None,
    )


def write_emerging_classes(
    result: Any, path: str | os.PathLike[str], *, mask: Any = None, style: bool = True
) -> Path:
    """Write the emerging hot-spot patterns as a Byte raster (value = pattern code + 8).

    Codes follow ArcGIS's CATEGORY numbering (:data:`geodemand.engines.emerging.PATTERNS`):
    1..8 hot patterns, −1..−8 cold, 0 no pattern (transparent in the QGIS style); 255 =
    nodata outside the analysed cells and ``mask``. Colour table, category names and a
    raster attribute table as for :func:`write_hotspot_classes`.
    """
    grid = getattr(result, "grid", None)
    if grid is None or not hasattr(result, "pattern_code"):
        raise InvalidParameterError(
            f"expected an EmergingResult (pattern_code, mask, grid); got {type(result).__name__}"
        )
    classes = {c: (emerging_label(c), EMERGING_COLOURS[c], 0 if c == 0 else 255)
               for c in EMERGING_COLOURS}
    return write_class_raster(
        np.asarray(result.pattern_code),
        grid,
        path,
        classes=classes,
        offset=8,
        valid=np.asarray(result.mask, dtype=bool),
        mask=mask,
        description="emerging hot-spot pattern (value = ArcGIS pattern code + 8)",
        tags=dict(getattr(result, "params", {}) or {}),
        style=style,
    )
