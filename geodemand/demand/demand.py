"""The demand stage ("window & weights"): the one place where the data window, the exclusions,
the harm weights and the recency weights are decided.

:func:`prepare_demand` turns canonical incidents (after :func:`geodemand.assign_areas`) into a
:class:`Demand`: the incidents of the window that every engine, the ranking, the patrol areas,
the backtest and the reviews use, each with

``harm``
    its crime type's harm weight (CCHI days by default; :mod:`geodemand.demand.harm`), applied
    here and nowhere else;
``recency``
    ``0.5 ** (age_days / half_life_days)``, age to the end of the window (for month-precision
    data the age of the month's middle); it weights the density surface of the maps (harm ×
    recency = "recent harm"). The target score does not use it (it learns its own recency);
``place_id``
    its named, merged place (:mod:`geodemand.demand.places`).

The window is ``(window_end − window_days, window_end]``; for month-precision data
(police.uk, dated to the month's first day) a month is in the window when its middle is, so
730 days are 24 whole months. What was left out, and why, is counted by reason in
``Demand.excluded``:
``outside_every_lpu``, ``before_window``, ``after_window``, ``police_generated`` (drugs,
possession of weapons: found by police activity, not reported by victims; Sherman 2016 and the
feedback-loop literature: kept out of targeting unless ``include_police_generated``),
``not_selected_type`` (``crime_types``), ``default_geocode`` (only with
``exclude_default_geocodes``). Defaults live here only (:data:`WINDOW_DAYS`,
:data:`HALF_LIFE_DAYS`, the harm scheme ``cchi``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from geodemand._announce import announce, warn
from geodemand._columns import stable_order
from geodemand.demand.harm import HarmTable, force_of, harm_table
from geodemand.demand.places import MERGE_M, place_table, read_premises, site_keywords
from geodemand.errors import InvalidParameterError
from geodemand.ingest.vocabulary import police_generated_types

#: Default length of the data window, days (two years).
WINDOW_DAYS = 730
#: Default half-life of the recency weight, days.
HALF_LIFE_DAYS = 365.0
EXCLUSION_REASONS = (
    "outside_every_lpu", "before_window", "after_window", "police_generated",
    "not_selected_type", "default_geocode",
)


@dataclass(frozen=True)
class Demand:
    """The incidents every later stage uses, with their weights, and what was left out.

    Attributes
    ----------
    incidents : DataFrame
        Incidents in ``(window_start, window_end]``, exclusions applied, with ``harm`` (days),
        ``recency`` (0..1), ``place_id`` and ``period`` (the month, or ISO week for dated
        data, as a period start Timestamp). ``attrs["crs"]`` holds the CRS.
    places : DataFrame
        One row per place (:func:`geodemand.demand.places.place_table`).
    excluded : DataFrame
        ``reason, crime_type, incidents``: what was left out, by reason and type.
    window_start, window_end : Timestamp
        The window (start exclusive, end inclusive).
    harm : HarmTable
    crs : str
    params : dict
        Every parameter, the harm table's record and the counts.
    """

    incidents: pd.DataFrame
    places: pd.DataFrame
    excluded: pd.DataFrame
    window_start: pd.Timestamp
    window_end: pd.Timestamp
    harm: HarmTable
    crs: str
    params: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of incidents in the demand."""
        return len(self.incidents)

    @property
    def total_harm(self) -> float:
        """Summed harm of the demand's incidents (``harm.unit``)."""
        return float(self.incidents["harm"].sum())

    @property
    def period_kind(self) -> str:
        """``month`` for month-precision data, else ``week``."""
        return self.params["period_kind"]

    @property
    def window_text(self) -> str:
        """The window for people: ``"2019-12 to 2021-11 (24 months)"`` for month-precision
        data, ``"2024-10-26 to 2026-10-25 (730 days)"`` otherwise."""
        if self.period_kind == "month":
            first = (self.window_start + pd.Timedelta(days=15)).to_period("M")
            last = self.window_end.to_period("M")
            n = (last - first).n + 1
            return f"{first} to {last} ({n} months)"
        first = (self.window_start + pd.Timedelta(seconds=1)).normalize()
        return (f"{first:%Y-%m-%d} to {self.window_end:%Y-%m-%d} "
                f"({self.params['window_days']} days)")

    def excluded_counts(self) -> dict[str, int]:
        """``{reason: incidents}`` over all crime types."""
        if not len(self.excluded):
            return {}
        s = self.excluded.groupby("reason", sort=True)["incidents"].sum()
        return {str(k): int(v) for k, v in s.items()}

    def excluded_types(self, reason: str) -> dict[str, int]:
        """``{crime_type: incidents}`` left out for ``reason``."""
        sub = self.excluded[self.excluded["reason"] == reason]
        return {str(t): int(n) for t, n in zip(sub["crime_type"], sub["incidents"], strict=True)}

    def __repr__(self) -> str:
        return (
            f"Demand({self.n:,} incidents, {len(self.places):,} places, window "
            f"{self.window_text}, harm "
            f"{self.total_harm:,.0f} {self.harm.unit} ({self.harm.scheme}), excluded "
            f"{self.excluded_counts() or 'none'})"
        )

    def _repr_html_(self) -> str:
        import html

        rows = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in (
                ("incidents", f"{self.n:,}"),
                ("places", f"{len(self.places):,}"),
                ("window", self.window_text),
                ("harm", f"{self.total_harm:,.0f} {self.harm.unit} ({self.harm.scheme}, "
                         f"{self.harm.force or 'file'})"),
                ("excluded", ", ".join(f"{k} {v:,}" for k, v in self.excluded_counts().items())
                 or "none"),
            )
        )
        return f"<table><caption>Demand</caption>{rows}</table>"


def prepare_demand(
    incidents: Any,
    *,
    window_end: Any = None,
    window_days: int = WINDOW_DAYS,
    harm: HarmTable | str | os.PathLike[str] = "cchi",
    force: str | None = None,
    include_police_generated: bool = False,
    crime_types: list[str] | tuple[str, ...] | None = None,
    half_life_days: float = HALF_LIFE_DAYS,
    merge_m: float = MERGE_M,
    premises: Any = None,
    site_keywords_path: Any = None,
    exclude_default_geocodes: bool = False,
) -> Demand:
    """Window, exclusions, harm and recency weights, named places: the demand every stage uses.

    Parameters
    ----------
    incidents : IncidentTable or DataFrame
        Canonical incidents after :func:`geodemand.assign_areas` (``lpu`` present; incidents
        outside every LPU are left out and counted). Not modified.
    window_end : date-like, optional
        End of the window (inclusive); default the end of the latest incident's day (of its
        month for month-precision data).
    window_days : int
        Window length in days (default 730, two years).
    harm : HarmTable, scheme name or path
        ``"cchi"`` (default), ``"cchi-mean"``, ``"count"``, a CSV path, or a HarmTable.
    force : str, optional
        Force whose CCHI weights to use (default: from police.uk "Reported by", else national).
    include_police_generated : bool
        Keep drugs and possession of weapons (default False: left out, counted).
    crime_types : list of str, optional
        Only these canonical types (after the police-generated rule).
    half_life_days : float
        Half-life of the recency weight, days.
    merge_m : float
        Place merge tolerance, metres (0 = off).
    premises : path or GeoDataFrame, optional
        Premises layer for partnership sites (``name``, ``type``).
    site_keywords_path : path, optional
        Extra partnership-site keywords (CSV: pattern, category, partnership, reason).
    exclude_default_geocodes : bool
        Leave out incidents at suspected default-geocode places (default False: reported).

    Returns
    -------
    Demand

    Raises
    ------
    InvalidParameterError
        Bad parameters, no incidents left, or crime types without a harm weight (named).
    """
    frame = incidents.frame if hasattr(incidents, "frame") else incidents
    if not isinstance(frame, pd.DataFrame):
        raise InvalidParameterError(
            f"prepare_demand: expected an IncidentTable or DataFrame, got {type(frame).__name__}"
        )
    crs = frame.attrs.get("crs") or getattr(incidents, "crs", None)
    for col in ("occurred", "crime_type", "x", "y", "location_key"):
        if col not in frame.columns:
            raise InvalidParameterError(
                f"prepare_demand: incidents have no {col!r} column; read them with "
                "geodemand.read_incidents"
            )
    if "lpu" not in frame.columns:
        raise InvalidParameterError(
            "prepare_demand: incidents have no 'lpu' column: run geodemand.assign_areas first"
        )
    if isinstance(window_days, bool) or not isinstance(window_days, int | np.integer) or (
        window_days < 1
    ):
        raise InvalidParameterError(f"window_days: expected whole days >= 1, got {window_days!r}")
    if not (isinstance(half_life_days, int | float) and np.isfinite(half_life_days)
            and half_life_days > 0):
        raise InvalidParameterError(
            f"half_life_days: expected a positive number of days, got {half_life_days!r}"
        )
    if not len(frame):
        raise InvalidParameterError("prepare_demand: no incidents")
    table = _harm_table(harm, force, frame)
    month_only = "date_precision" in frame.columns and bool(
        (frame["date_precision"] == "month").any()
    )
    if window_end is not None:
        end = pd.Timestamp(window_end)
    else:
        last = pd.Timestamp(frame["occurred"].max())
        step = pd.DateOffset(months=1) if month_only else pd.Timedelta(days=1)
        base = last.to_period("M").to_timestamp() if month_only else last.normalize()
        end = base + step - pd.Timedelta(seconds=1)
    start = end - pd.Timedelta(days=int(window_days))
    if month_only:  # whole months: a month is in the window when its middle (15th) is
        start = start - pd.Timedelta(days=15)
    excluded: list[tuple[str, str, int]] = []

    # each exclusion counts the rows the earlier ones kept; the frame is cut once at the end
    kept = np.ones(len(frame), dtype=bool)

    def drop(mask: np.ndarray, reason: str) -> None:
        hit = mask & kept
        if hit.any():
            counts = frame["crime_type"][hit].astype(str).value_counts().sort_index()
            excluded.extend((reason, t, int(n)) for t, n in counts.items())
        kept[hit] = False

    drop((frame["lpu"].astype(str) == "outside").to_numpy(), "outside_every_lpu")
    drop((frame["occurred"] <= start).to_numpy(), "before_window")
    drop((frame["occurred"] > end).to_numpy(), "after_window")
    if not include_police_generated:
        drop(frame["crime_type"].isin(police_generated_types()).to_numpy(), "police_generated")
    if crime_types is not None:
        unknown = sorted(set(crime_types) - set(table.weight_of()))
        if unknown and table.scheme != "file":
            raise InvalidParameterError(
                f"crime_types {unknown}: not canonical crime types; expected some of "
                f"{sorted(table.weight_of())}"
            )
        drop(~frame["crime_type"].isin(list(crime_types)).to_numpy(), "not_selected_type")
    kept_rows = np.flatnonzero(kept)
    if not len(kept_rows):
        raise InvalidParameterError(
            f"no incidents left in the window {start:%Y-%m-%d} to {end:%Y-%m-%d} after the "
            f"exclusions ({_excluded_text(excluded)})"
        )
    # a canonical order, so every later sum (and so every rank) is the same whatever the
    # input's row order
    order = ["occurred", "incident_id"] if "incident_id" in frame.columns else ["occurred"]
    by_order = stable_order(frame[order].iloc[kept_rows], order)
    sel = frame.take(kept_rows[by_order])  # one copy, kept rows sorted, original labels
    sel["harm"] = table.weights(sel["crime_type"].astype(str))
    age_days = (end - sel["occurred"]).dt.total_seconds().to_numpy() / 86_400.0
    if month_only:  # a police.uk month is the month's start: measure from its middle
        age_days = np.maximum(age_days - 15.0, 0.0)
    sel["recency"] = 0.5 ** (np.maximum(age_days, 0.0) / float(half_life_days))
    kind = "month" if month_only else "week"
    sel["period"] = _period_start(sel["occurred"], kind)
    sel.attrs["crs"] = crs
    premises_layer = None if premises is None else read_premises(premises, crs)
    keywords = site_keywords(site_keywords_path)
    places, place_of = place_table(
        sel, merge_m=merge_m, keywords=keywords, premises=premises_layer, crs=crs,
        periods=sel["period"],
    )
    sel["place_id"] = place_of.to_numpy()
    n_default = int(places["default_geocode"].sum())
    if n_default:
        listed = "; ".join(
            f"{r.label} ({r.lpu}, {r.incidents:,} incidents)"
            for r in places[places["default_geocode"]].itertuples()
        )
        warn(
            f"data quality: {n_default} suspected default-geocode place(s) hold a large share of "
            f"their LPU's incidents in most months: {listed}"
            + ("; left out (exclude_default_geocodes)" if exclude_default_geocodes else
               "; kept (use --exclude-default-geocodes to leave them out)")
        )
        if exclude_default_geocodes:
            bad = set(places.loc[places["default_geocode"], "place_id"])
            sel = drop(sel["place_id"].isin(bad).to_numpy(), "default_geocode", sel)
            places = places[~places["default_geocode"]].reset_index(drop=True)
    excluded_frame = pd.DataFrame(excluded, columns=["reason", "crime_type", "incidents"])
    if excluded_frame["reason"].eq("police_generated").any():
        announce(
            "police-generated incidents left out of targeting: "
            + ", ".join(f"{t} {n:,}" for r, t, n in excluded if r == "police_generated")
        )
    params = {
        "window_start": f"{start:%Y-%m-%d %H:%M:%S}",
        "window_end": f"{end:%Y-%m-%d %H:%M:%S}",
        "window_days": int(window_days),
        "half_life_days": float(half_life_days),
        "harm_table": table.to_record(),
        "include_police_generated": bool(include_police_generated),
        "crime_types": None if crime_types is None else sorted(crime_types),
        "merge_m": float(merge_m),
        "premises": None if premises is None else str(premises) if not hasattr(
            premises, "geometry") else "<GeoDataFrame>",
        "site_keywords": keywords.source,
        "exclude_default_geocodes": bool(exclude_default_geocodes),
        "excluded": {r: int(n) for r, n in excluded_frame.groupby("reason")["incidents"].sum()
                     .items()},
        "n_incidents": int(len(sel)),
        "n_places": int(len(places)),
        "n_partnership_sites": int(places["partnership"].sum()),
        "n_default_geocodes": n_default,
        "period_kind": kind,
        "date_precision": "month" if month_only else "day",
        "synthetic": bool(sel["synthetic"].any()) if "synthetic" in sel.columns else False,
        "asb_note": "anti-social behaviour has no CCHI value: it weighs the 1-day floor in harm "
                    "measures and counts fully as demand",
    }
    return Demand(sel, places, excluded_frame, start, end, table, crs, params)


def _harm_table(harm: Any, force: str | None, frame: pd.DataFrame) -> HarmTable:
    if isinstance(harm, HarmTable):
        return harm
    if force is None and str(harm) in ("cchi", "cchi-mean"):
        for col in ("raw_reported_by", "raw_falls_within"):
            if col in frame.columns:
                found = force_of(frame[col].dropna().astype(str).unique()[:50])
                if found:
                    force = found
                    announce(f"harm weights: CCHI values of the {found} force (from the data's "
                             f"'{col.removeprefix('raw_').replace('_', ' ')}' field)")
                    break
    table = harm_table(harm, force=force)
    if table.scheme in ("cchi", "cchi-mean") and table.force == "national" and force is None:
        announce(f"harm weights: national CCHI values ({table.scheme}); pass force=... for a "
                 "force's own mix")
    return table


def _period_start(occurred: pd.Series, kind: str) -> pd.Series:
    from geodemand.demand.periods import period_floor

    return period_floor(occurred, kind)


def _excluded_text(excluded: list[tuple[str, str, int]]) -> str:
    if not excluded:
        return "none"
    totals: dict[str, int] = {}
    for reason, _, n in excluded:
        totals[reason] = totals.get(reason, 0) + n
    return ", ".join(f"{k} {v:,}" for k, v in totals.items())
