"""Named places: labels, merged map points, partnership sites and suspected default geocodes.

A *place* is where demand is recorded: a police.uk map point (``location_key``) or, after
merging, a few nearby map points that share a label. :func:`place_table` turns the demand
stage's incidents into one row per place:

Labels
    police.uk ``Location`` ("On or near Swan Street"; the ``location_label`` column of the
    canonical schema, or ``raw_location``/``raw_street_name`` of older tables) without the
    "On or near" prefix, followed by the neighbourhood: ``"Swan Street (Loughborough
    Market)"``. Without a location text: ``"near Westcotes, 52.6265 N 1.1347 W"``.
Merging
    map points of one LPU with the same label whose every pair lies within ``merge_m`` metres
    (complete linkage, default :data:`MERGE_M` = 150 m) are one place. police.uk street points
    lie 50–150 m apart along a street (measured on the bundled Leicestershire months: 1 % of
    same-label neighbours are within 25 m, 6 % within 100 m), so 150 m joins the points of one
    street block while complete linkage keeps a merged place within 150 m across, one short
    patrol beat. ``merge_m = 0`` turns merging off. The place keeps its member keys and
    labels; its id is ``place:<smallest member key>`` (stable while its members are).
Partnership sites
    places whose demand comes from an institution that directed patrol cannot address:
    hospitals and A&E, prisons and young offender institutions, police stations and custody
    suites, care homes, hostels, schools. Flagged (1) from the label with the maintained,
    user-extensible keyword list ``resources/partnership_sites.csv`` (a regular expression per
    row, matched case-insensitively on the label without its prefix; labels ending in a street
    word such as "Hospital Way" or "School Lane" are streets, not sites), (2) from an optional
    premises layer (points within ``premises_m`` metres, or polygons within 25 m, with a
    ``name`` and a ``type``), and (3) from police.uk outcomes: a place where at least
    :data:`OTHER_ORG_SHARE` (20 %) of at least :data:`OTHER_ORG_MIN` (20) outcomes are "Action
    to be taken by another organisation" (a prison or a hospital dealing with its own cases;
    on the Leicestershire months the 99th percentile of places is 14 %). Every place reports
    that share (``other_org_share``) as a cue.
Default geocodes
    a place that is not a partnership site and holds at least :data:`DEFAULT_GEOCODE_SHARE`
    (2 %) of its LPU's incidents in at least :data:`DEFAULT_GEOCODE_PERIODS` (half) of the
    periods of the window, with at least 24 incidents, is reported as a suspected default
    geocode: one map point among thousands taking one in fifty of its LPU's incidents month
    after month is more likely where incidents without a known location are placed (e.g. a
    "Park/Open Space" point beside a police headquarters) than a real hot spot. A
    data-quality warning; ``prepare_demand`` can exclude them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from geodemand._columns import unique_inverse
from geodemand.errors import BoundaryError, InputFormatError, InvalidParameterError

#: Largest distance between any two merged map points, metres (complete linkage).
MERGE_M = 150.0
#: Share of outcomes "Action to be taken by another organisation" flagging a partnership site.
OTHER_ORG_SHARE = 0.20
#: ... among at least this many incidents with an outcome.
OTHER_ORG_MIN = 20
OTHER_ORG_OUTCOME = "Action to be taken by another organisation"
#: Monthly share of an LPU's incidents at one place that suggests a default geocode ...
DEFAULT_GEOCODE_SHARE = 0.02
#: ... in at least this share of the window's months ...
DEFAULT_GEOCODE_PERIODS = 0.5
#: ... with at least this many incidents.
DEFAULT_GEOCODE_MIN = 24
#: Distance from a premises point within which a place is that premises, metres.
PREMISES_M = 100.0
#: Distance from a premises polygon within which a place is that premises, metres.
PREMISES_POLYGON_M = 25.0
_PREFIX = re.compile(r"^\s*on or near\s+", re.I)
_STREET = re.compile(
    r"\b(road|rd|street|st|lane|ln|way|avenue|ave|close|drive|crescent|place|gardens|walk|row|"
    r"terrace|grove|court|hill|rise|view|square|parade|green|mews|boulevard|yard|gate|wharf|"
    r"side|bank|vale|passage|approach|circus|mount|fields|park road|croft|meadow|meadows|"
    r"chase|dale|end|orchard|paddock|wynd|loke)$",
    re.I,
)
PLACE_COLUMNS = (
    "place_id", "label", "location", "members", "member_labels", "n_members", "lpu",
    "neighbourhood", "x", "y", "lat", "lon", "incidents", "harm", "partnership",
    "partnership_reason", "site_category", "other_org_share", "n_outcomes", "default_geocode",
)


@dataclass(frozen=True)
class SiteKeywords:
    """The partnership-site keyword list: ``pattern, category, partnership, reason, streets``.

    ``streets`` False (the shipped rows): a label ending in a street word ("Hospital Way") is
    a street, not a site. A user's rows default to True (they name what they mean).
    """

    frame: pd.DataFrame
    source: str

    def match(self, text: str) -> tuple[str, bool, str] | None:
        """``(category, partnership, reason)`` of the first pattern matching ``text``."""
        if not text:
            return None
        street = bool(_STREET.search(text.strip()))
        for pattern, category, partnership, reason, streets in self._compiled():
            if street and not streets:
                continue
            if pattern.search(text):
                return category, partnership, reason
        return None

    def _compiled(self) -> list:
        return self._patterns

    @cached_property
    def _patterns(self) -> list:
        """The compiled patterns, once per keyword list."""
        return [(re.compile(p, re.I), c, bool(s), r, bool(st))
                for p, c, s, r, st in self.frame.to_numpy().tolist()]


def site_keywords(path: Any = None) -> SiteKeywords:
    """The shipped keyword list, or a user's CSV with the same columns (added to it)."""
    with resources.files("geodemand").joinpath("resources", "partnership_sites.csv").open(
        "r", encoding="utf-8"
    ) as fh:
        base = pd.read_csv(fh, dtype=str, keep_default_na=False)
    base["streets"] = False
    frames, source = [base], "<package>"
    if path is not None:
        try:
            user = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise InputFormatError(f"{path}: cannot read the keyword list ({exc})") from exc
        missing = [c for c in ("pattern", "category") if c not in user.columns]
        if missing:
            raise InputFormatError(
                f"{path}: keyword list lacks column(s) {missing}; expected pattern, category, "
                "partnership (true/false), reason"
            )
        user = user.assign(
            partnership=user.get("partnership", "true"), reason=user.get("reason", ""),
            streets=True,
        )
        for i, p in enumerate(user["pattern"]):
            try:
                re.compile(p)
            except re.error as exc:
                raise InputFormatError(
                    f"{path}: row {i + 2}, field pattern: {p!r} is not a regular expression "
                    f"({exc})"
                ) from exc
        frames.insert(0, user[["pattern", "category", "partnership", "reason", "streets"]])
        source = f"{path} + <package>"
    frame = pd.concat(frames, ignore_index=True)
    frame["partnership"] = frame["partnership"].str.strip().str.lower().isin(["true", "1", "yes"])
    cols = ["pattern", "category", "partnership", "reason", "streets"]
    return SiteKeywords(frame[cols], source)


def location_text(frame: pd.DataFrame) -> pd.Series:
    """Each incident's location text without "On or near" ("" where there is none)."""
    for col in ("location_label", "raw_location", "raw_street_name"):
        if col in frame.columns:
            codes, uniques = pd.factorize(frame[col].astype(object).where(frame[col].notna(), ""))
            clean = [_PREFIX.sub("", str(u)).strip() for u in uniques]
            clean = np.array(clean + [""], dtype=object)
            return pd.Series(clean[codes], index=frame.index)
    return pd.Series("", index=frame.index, dtype=object)


def read_premises(path: Any, crs: str):
    """A premises layer: points or polygons with a ``name`` and a ``type`` (``partnership``
    optional, default true), in ``crs``.

    Raises
    ------
    InputFormatError, BoundaryError
        Unreadable file, missing ``name``/``type`` field (named), empty names, or geometry
        that is not a point or polygon (row named).
    """
    import geopandas as gpd

    if isinstance(path, gpd.GeoDataFrame):
        layer, where = path, "premises"
    else:
        where = str(path)
        try:
            layer = gpd.read_file(path)
        except Exception as exc:  # the drivers raise many types; the message is what matters
            raise InputFormatError(
                f"{where}: cannot read the premises layer ({type(exc).__name__}: {exc}); "
                "expected GeoJSON/GeoPackage points or polygons with name and type fields"
            ) from exc
    cols = {c.lower(): c for c in layer.columns}
    for field in ("name", "type"):
        if field not in cols:
            raise InputFormatError(
                f"{where}: premises layer has no {field!r} field (fields: "
                f"{[c for c in layer.columns if c != 'geometry'][:10]}); every premises needs a "
                "name and a type (e.g. hospital, prison, police)"
            )
    if layer.crs is None:
        raise InputFormatError(f"{where}: premises layer has no CRS")
    names = layer[cols["name"]].astype(object).where(layer[cols["name"]].notna(), "").astype(str)
    if (names.str.strip() == "").any():
        row = int(np.flatnonzero((names.str.strip() == "").to_numpy())[0])
        raise InputFormatError(f"{where}: feature {row + 1}, field name: empty")
    kinds = layer.geometry.geom_type.fillna("None")
    bad = ~kinds.isin(["Point", "MultiPoint", "Polygon", "MultiPolygon"])
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise BoundaryError(
            f"{where}: feature {row + 1} is a {kinds.iloc[row]}; premises must be points or "
            "polygons"
        )
    out = gpd.GeoDataFrame(
        {
            "name": names.str.strip(),
            "type": layer[cols["type"]].astype(str).str.strip(),
            "partnership": (
                layer[cols["partnership"]].astype(str).str.lower().isin(["true", "1", "yes"])
                if "partnership" in cols else True
            ),
        },
        geometry=layer.geometry.values,
        crs=layer.crs,
    ).to_crs(crs)
    return out


def place_table(
    incidents: pd.DataFrame,
    *,
    merge_m: float = MERGE_M,
    keywords: SiteKeywords | None = None,
    premises: Any = None,
    crs: str | None = None,
    periods: pd.Series | None = None,
) -> tuple[pd.DataFrame, pd.Series]:
    """One row per place (module documentation) and each incident's ``place_id``.

    Parameters
    ----------
    incidents : DataFrame
        The demand stage's incidents: ``x``, ``y`` (metres), ``location_key``, ``harm`` (days),
        optional ``lpu``, ``neighbourhood``, location text, ``raw_last_outcome_category``.
    merge_m : float
        Merge tolerance in metres (0 = no merging).
    keywords : SiteKeywords, optional
        Default :func:`site_keywords`.
    premises : GeoDataFrame, optional
        From :func:`read_premises` (in the incidents' CRS).
    crs : str, optional
        CRS of ``x``/``y`` (for lat/lon); default ``incidents.attrs["crs"]``.
    periods : Series, optional
        Each incident's period (e.g. its month) for the default-geocode rule.

    Returns
    -------
    places : DataFrame
        Columns :data:`PLACE_COLUMNS` plus ``default_geocode_share``, sorted by ``place_id``.
    place_of : Series
        ``place_id`` of each incident (same index as ``incidents``).
    """
    if merge_m is None or not np.isfinite(merge_m) or merge_m < 0:
        raise InvalidParameterError(f"merge_m: expected metres >= 0, got {merge_m!r}")
    crs = crs or incidents.attrs.get("crs")
    keywords = keywords or site_keywords()
    frame = incidents
    n = len(frame)
    # every text column as sorted codes once (code order = string order, so "smallest" ties
    # and sorted outputs come from integer comparisons)
    lpu_c, lpu_u = _sorted_codes(frame["lpu"] if "lpu" in frame.columns else None, n)
    key_c, key_u = _sorted_codes(frame["location_key"], n)
    text_c, text_u = _sorted_codes(location_text(frame), n)
    nb_c, nb_u = _sorted_codes(
        frame["neighbourhood"] if "neighbourhood" in frame.columns else None, n)
    out_c, out_u = _sorted_codes(
        frame["raw_last_outcome_category"] if "raw_last_outcome_category" in frame.columns
        else None, n)
    x = frame["x"].to_numpy(np.float64)
    y = frame["y"].to_numpy(np.float64)
    harm = frame["harm"].to_numpy(np.float64) if "harm" in frame.columns else np.ones(n)
    # one row per (LPU, map point), in (LPU, key) order: mean position, modal text
    n_keys = np.int64(len(key_u))
    pair_u, point_of = unique_inverse(lpu_c * n_keys + key_c)
    point_of = point_of.ravel()
    n_pt = np.bincount(point_of, minlength=pair_u.size)
    points = pd.DataFrame({
        "lpu": lpu_u[pair_u // n_keys],
        "key": key_u[pair_u % n_keys],
        "x": np.bincount(point_of, x, minlength=pair_u.size) / n_pt,
        "y": np.bincount(point_of, y, minlength=pair_u.size) / n_pt,
        "n": n_pt,
    })
    points["text"] = text_u[_coded_mode(point_of, pair_u.size, text_c, text_u)]
    points["place_key"] = _merge_points(points, merge_m)
    # map points -> places (sorted by place_id), incidents -> places
    place_ids = "place:" + points["place_key"].astype(str).to_numpy(dtype=object)
    place_of_point, place_u = _sorted_codes(pd.Series(place_ids, dtype=object), len(points))
    place = place_of_point[point_of]
    m = place_u.size
    n_inc = np.bincount(place, minlength=m)
    places = pd.DataFrame({
        "place_id": place_u,
        "incidents": n_inc.astype(np.int64),
        "harm": np.bincount(place, harm, minlength=m),
        "x": np.bincount(place, x, minlength=m) / n_inc,
        "y": np.bincount(place, y, minlength=m) / n_inc,
        "lpu": lpu_u[_coded_mode(place, m, lpu_c, lpu_u)],
        "neighbourhood": nb_u[_coded_mode(place, m, nb_c, nb_u)],
        "location": text_u[_coded_mode(place, m, text_c, text_u)],
    })
    point_key = (pair_u % n_keys).astype(np.int64)
    places["members"] = _sorted_lists(place_of_point, m, point_key, key_u)
    has_text = text_u[text_c] != ""
    places["member_labels"] = _sorted_lists(place[has_text], m, text_c[has_text], text_u)
    places["n_members"] = places["members"].map(len)
    outcome = out_u[out_c]
    places["n_outcomes"] = np.bincount(place[outcome != ""], minlength=m).astype(np.int64)
    n_other = np.bincount(place[outcome == OTHER_ORG_OUTCOME], minlength=m)
    places["other_org_share"] = np.where(
        places["n_outcomes"] > 0, n_other / places["n_outcomes"].clip(lower=1), np.nan)
    place_of = pd.Series(place_u[place], index=frame.index)
    lon, lat = _lonlat(places["x"].to_numpy(), places["y"].to_numpy(), crs)
    places["lon"], places["lat"] = np.round(lon, 6), np.round(lat, 6)
    places["label"] = [
        _label(loc, nb, la, lo)
        for loc, nb, la, lo in zip(places["location"], places["neighbourhood"], places["lat"],
                                   places["lon"], strict=True)
    ]
    _flag_sites(places, keywords, premises)
    share = _default_geocode_share(place, lpu_c, periods, m)
    places["default_geocode_share"] = share
    places["default_geocode"] = (
        (share >= DEFAULT_GEOCODE_PERIODS)
        & (places["incidents"] >= DEFAULT_GEOCODE_MIN)
        & ~places["partnership"]
    )
    cols = list(PLACE_COLUMNS) + ["default_geocode_share"]
    return places[cols].reset_index(drop=True), place_of


def group_mode(frame: pd.DataFrame, keys: list[str], column: str) -> pd.Series:
    """The most frequent non-empty ``column`` value per group (ties: the smallest; "" if none).

    Vectorised: one groupby of (keys, value) sizes, sorted and de-duplicated.
    """
    sub = frame.loc[frame[column].astype(str) != "", [*keys, column]]
    sizes = sub.groupby([*keys, column], sort=False, observed=True).size().rename("_n")
    sizes = sizes.reset_index().sort_values(
        [*keys, "_n", column], ascending=[*([True] * len(keys)), False, True], kind="mergesort"
    )
    top = sizes.drop_duplicates(keys).set_index(keys)[column].astype(str)
    groups = frame[keys].drop_duplicates().set_index(keys).index
    return top.reindex(groups).fillna("")


def modal_text(groups: np.ndarray, n_groups: int, values) -> np.ndarray:
    """Per group ``0 .. n_groups - 1``, its most frequent non-empty text among ``values``
    (ties: the smallest; "" if none; missing counts as empty).

    The integer-coded twin of :func:`group_mode` (tested against it), for groups already
    numbered.
    """
    codes, uniques = _sorted_codes(values, len(groups))
    return uniques[_coded_mode(np.asarray(groups, dtype=np.int64), n_groups, codes, uniques)]


def _text_column(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), "", dtype=object)
    values = frame[column].astype(object)
    return values.where(values.notna(), "").astype(str).to_numpy()


def _merge_points(points: pd.DataFrame, merge_m: float) -> np.ndarray:
    """Each point's place key: the smallest key of its complete-linkage cluster (same LPU,
    same non-empty label, all pairs within ``merge_m``)."""
    keys = points["key"].to_numpy(dtype=object)
    out = keys.copy()
    if merge_m <= 0:
        return out
    from scipy.cluster.hierarchy import fcluster, linkage

    xy = points[["x", "y"]].to_numpy(np.float64)
    has_text = (points["text"] != "").to_numpy()
    codes = pd.MultiIndex.from_frame(points[["lpu", "text"]]).factorize()[0]
    codes = np.where(has_text, codes, -1)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    for idx in np.split(order, bounds):
        if len(idx) < 2 or codes[idx[0]] < 0:
            continue
        labels = fcluster(linkage(xy[idx], method="complete"), t=merge_m, criterion="distance")
        for lab in np.unique(labels):
            members = idx[labels == lab]
            if len(members) > 1:
                out[members] = min(keys[members])
    return out


def _lonlat(x: np.ndarray, y: np.ndarray, crs: str | None) -> tuple[np.ndarray, np.ndarray]:
    if crs is None or not len(x):
        return np.full(len(x), np.nan), np.full(len(x), np.nan)
    from pyproj import Transformer

    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)


def _label(location: str, neighbourhood: str, lat: float, lon: float) -> str:
    if location:
        return f"{location} ({neighbourhood})" if neighbourhood else location
    ns = "N" if lat >= 0 else "S"
    ew = "E" if lon >= 0 else "W"
    where = f"{abs(lat):.4f} {ns} {abs(lon):.4f} {ew}"
    return f"near {neighbourhood}, {where}" if neighbourhood else f"near {where}"


def _flag_sites(places: pd.DataFrame, keywords: SiteKeywords, premises) -> None:
    categories, partnership, reasons = [], [], []
    seen: dict[str, tuple | None] = {}  # many places share a label
    for labels, loc in zip(places["member_labels"], places["location"], strict=True):
        hit = None
        for text in [loc, *labels]:
            if text not in seen:
                seen[text] = keywords.match(text)
            hit = seen[text]
            if hit:
                break
        if hit:
            categories.append(hit[0])
            partnership.append(hit[1])
            reasons.append(f"label '{text}': {hit[2]}")
        else:
            categories.append("")
            partnership.append(False)
            reasons.append("")
    places["site_category"] = categories
    places["partnership"] = partnership
    places["partnership_reason"] = reasons
    if premises is not None and len(premises):
        _flag_premises(places, premises)
    share = places["other_org_share"].fillna(0.0)
    cue = (share >= OTHER_ORG_SHARE) & (places["n_outcomes"] >= OTHER_ORG_MIN)
    for i in np.flatnonzero(cue.to_numpy()):
        text = (
            f"outcomes: {share.iloc[i]:.0%} of {int(places['n_outcomes'].iloc[i])} incidents "
            f"'{OTHER_ORG_OUTCOME}' (an institution dealing with its own cases, e.g. a prison "
            "or hospital)"
        )
        places.loc[places.index[i], "partnership"] = True
        old = places["partnership_reason"].iloc[i]
        places.loc[places.index[i], "partnership_reason"] = f"{old}; {text}" if old else text
        if not places["site_category"].iloc[i]:
            places.loc[places.index[i], "site_category"] = "institution (outcomes)"


def _flag_premises(places: pd.DataFrame, premises) -> None:
    import shapely

    pts = shapely.points(places["x"].to_numpy(), places["y"].to_numpy())
    geoms = premises.geometry.to_numpy()
    is_point = np.isin(shapely.get_type_id(geoms), [0, 4])
    reach = np.where(is_point, PREMISES_M, PREMISES_POLYGON_M)
    tree = shapely.STRtree(geoms)
    p_idx, g_idx = tree.query(pts, predicate="dwithin", distance=float(reach.max()))
    dist = shapely.distance(pts[p_idx], geoms[g_idx])
    ok = dist <= reach[g_idx]
    order = np.lexsort((dist[ok], p_idx[ok]))
    seen: set[int] = set()
    for p, gi in zip(p_idx[ok][order], g_idx[ok][order], strict=True):
        if p in seen:
            continue
        seen.add(p)
        row = premises.iloc[gi]
        text = f"premises '{row['name']}' ({row['type']})"
        old = places["partnership_reason"].iloc[p]
        places.loc[places.index[p], "partnership_reason"] = f"{old}; {text}" if old else text
        places.loc[places.index[p], "site_category"] = str(row["type"])
        places.loc[places.index[p], "partnership"] = bool(row["partnership"]) or bool(
            places["partnership"].iloc[p]
        )


def _default_geocode_share(place: np.ndarray, lpu: np.ndarray, periods, n_places: int
                           ) -> np.ndarray:
    """Share of the window's periods in which the place held >= DEFAULT_GEOCODE_SHARE of its
    LPU's incidents (``place``, ``lpu``: integer codes per incident)."""
    if periods is None or not len(place):
        return np.zeros(n_places)
    period_c, period_u = pd.factorize(pd.Series(np.asarray(periods)))
    n_periods = max(len(period_u), 1)
    n_lpu = int(lpu.max()) + 1
    lpu_n = np.bincount(lpu.astype(np.int64) * n_periods + period_c,
                        minlength=n_lpu * n_periods)
    # every (place, LPU, period) cell with its count
    cell = (place.astype(np.int64) * n_lpu + lpu) * n_periods + period_c
    cells, count = np.unique(cell, return_counts=True)
    high = count >= DEFAULT_GEOCODE_SHARE * lpu_n[cells % (n_lpu * n_periods)]
    months_high = np.bincount(cells[high] // (n_lpu * n_periods), minlength=n_places)
    return months_high / n_periods


def _sorted_codes(values, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of a text column and its distinct values sorted (missing -> "")."""
    if values is None:
        return np.zeros(n, dtype=np.int64), np.array([""], dtype=object)
    # factorize the column as it is (arrow strings, categories), then name and sort only its
    # distinct values: values with the same text share one code
    codes, uniques = pd.factorize(pd.Series(values))
    missing = bool((codes < 0).any())
    text = np.array([str(u) for u in uniques] + ([""] if missing else []), dtype=object)
    if not len(text):
        return codes.astype(np.int64), text
    sorted_text, remap = np.unique(text, return_inverse=True)
    return remap.reshape(-1)[codes].astype(np.int64), sorted_text


def _coded_mode(group: np.ndarray, n_groups: int, value: np.ndarray, uniques: np.ndarray
                ) -> np.ndarray:
    """Per group, the code of the most frequent non-empty value (ties: the smallest, i.e. the
    first in sorted order); the code of "" (or 0) where a group has none."""
    empty = np.flatnonzero(uniques == "")
    empty_code = int(empty[0]) if empty.size else 0
    keep = value != empty_code if empty.size else np.ones(value.size, dtype=bool)
    nv = np.int64(max(len(uniques), 1))
    pairs, counts = np.unique(group[keep].astype(np.int64) * nv + value[keep],
                              return_counts=True)
    g, v = pairs // nv, pairs % nv
    order = np.lexsort((v, -counts, g))
    g, v = g[order], v[order]
    first = np.ones(g.size, dtype=bool)
    first[1:] = g[1:] != g[:-1]
    out = np.full(n_groups, empty_code, dtype=np.int64)
    out[g[first]] = v[first]
    return out


def _sorted_lists(group: np.ndarray, n_groups: int, value: np.ndarray, uniques: np.ndarray
                  ) -> list[list[str]]:
    """Per group, its distinct values in sorted order (lists of str)."""
    nv = np.int64(max(len(uniques), 1))
    pairs = np.unique(group.astype(np.int64) * nv + value)
    out: list[list[str]] = [[] for _ in range(n_groups)]
    for g, v in zip((pairs // nv).tolist(), (pairs % nv).tolist(), strict=True):
        out[g].append(str(uniques[v]))
    return out
