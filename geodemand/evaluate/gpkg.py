"""The few GeoPackage pieces the register needs, written with the standard library's sqlite3.

A GeoPackage (OGC 12-128r18, version 1.3) is an SQLite database with an application id, three
core tables (``gpkg_spatial_ref_sys``, ``gpkg_contents``, ``gpkg_geometry_columns``) and
geometries stored as *GeoPackage binary*: a header (``"GP"``, version, flags, SRS id, envelope)
followed by ISO WKB. That is all QGIS and GDAL need to open the register's layers; no
SpatiaLite or GDAL is needed to write it, so every write stays inside one SQLite transaction.
"""

from __future__ import annotations

import sqlite3
import struct

import numpy as np
import shapely

APPLICATION_ID = 0x47504B47  # "GPKG"
USER_VERSION = 10300  # GeoPackage 1.3.0
_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}

_CORE = [
    """CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (
        srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
        organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT)""",
    """CREATE TABLE IF NOT EXISTS gpkg_contents (
        table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
        description TEXT DEFAULT '',
        last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
        min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
        CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id))""",
    """CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (
        table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
        srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
        CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
        CONSTRAINT uk_gc_table_name UNIQUE (table_name),
        CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
        CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id))""",
]


def create_core(conn: sqlite3.Connection) -> None:
    """The GeoPackage core tables, application id, version and the three required SRS rows."""
    from pyproj import CRS

    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {USER_VERSION}")
    for sql in _CORE:
        conn.execute(sql)
    rows = [
        ("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian"),
        ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic"),
        ("WGS 84 geodetic", 4326, "EPSG", 4326, CRS.from_epsg(4326).to_wkt("WKT1_GDAL"),
         "longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid"),
    ]
    conn.executemany("INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)", rows)


def register_table(conn: sqlite3.Connection, table: str, description: str,
                   geometry_type: str | None = None) -> None:
    """Add a table to ``gpkg_contents`` (a feature layer when ``geometry_type`` is given, its
    geometry column ``geom`` with an undefined SRS until :func:`set_srs`)."""
    kind = "features" if geometry_type else "attributes"
    conn.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) "
        "VALUES (?, ?, ?, ?, ?)",
        (table, kind, table, description, -1 if geometry_type else None),
    )
    if geometry_type:
        conn.execute("INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', ?, -1, 0, 0)",
                     (table, geometry_type))


def set_srs(conn: sqlite3.Connection, crs: str) -> int:
    """Record ``crs`` in ``gpkg_spatial_ref_sys`` and give it to every feature layer."""
    from pyproj import CRS

    c = CRS.from_user_input(crs)
    auth = c.to_authority()
    if auth is not None and auth[0] == "EPSG":
        srs_id, org, org_id = int(auth[1]), "EPSG", int(auth[1])
    else:  # a user-defined CRS: a private id
        srs_id, org, org_id = 100000, "NONE", 100000
    conn.execute(
        "INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)",
        (c.name, srs_id, org, org_id, c.to_wkt("WKT1_GDAL"), c.name),
    )
    conn.execute("UPDATE gpkg_geometry_columns SET srs_id = ?", (srs_id,))
    conn.execute("UPDATE gpkg_contents SET srs_id = ? WHERE data_type = 'features'", (srs_id,))
    return srs_id


def touch(conn: sqlite3.Connection, table: str) -> None:
    """Update a layer's ``last_change`` and (feature layers) its extent."""
    conn.execute(
        "UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now') "
        "WHERE table_name = ?", (table,))
    row = conn.execute("SELECT data_type FROM gpkg_contents WHERE table_name = ?",
                       (table,)).fetchone()
    if row is None or row[0] != "features":
        return
    blobs = [b for (b,) in conn.execute(f'SELECT geom FROM "{table}"') if b is not None]
    if not blobs:
        return
    geoms = from_blobs(blobs)
    geoms = geoms[~shapely.is_empty(geoms)]
    if not len(geoms):
        return
    b = shapely.total_bounds(geoms)
    conn.execute("UPDATE gpkg_contents SET min_x = ?, min_y = ?, max_x = ?, max_y = ? "
                 "WHERE table_name = ?", (*map(float, b), table))


def to_blob(geom, srs_id: int) -> bytes | None:
    """GeoPackage binary of one 2-D shapely geometry (``None`` stays ``None``)."""
    if geom is None:
        return None
    flags = 0x01  # little-endian header numbers
    if geom.is_empty:
        flags |= 0x10
        envelope = b""
    else:
        flags |= 0x02  # envelope [minx, maxx, miny, maxy]
        x0, y0, x1, y1 = geom.bounds
        envelope = struct.pack("<4d", x0, x1, y0, y1)
    head = b"GP" + bytes([0, flags]) + struct.pack("<i", srs_id) + envelope
    return head + shapely.to_wkb(geom, output_dimension=2, byte_order=1, flavor="iso")


def from_blobs(blobs) -> np.ndarray:
    """Shapely geometries from GeoPackage binary values (``None`` gives ``None``)."""
    out = np.empty(len(blobs), dtype=object)
    for i, b in enumerate(blobs):
        if b is None:
            out[i] = None
            continue
        if bytes(b[:2]) != b"GP":
            raise ValueError("not a GeoPackage geometry (no 'GP' magic)")
        envelope = (b[3] >> 1) & 0x07
        out[i] = shapely.from_wkb(bytes(b[8 + _ENVELOPE_BYTES[envelope]:]))
    return out
