"""The weekly bundle: what the weekly job writes, from the results it was handed.

The job decides here what goes into the bundle (tables, rasters, maps, control plans, the
summary, the manifest); the writers of :mod:`geodemand.outputs` render it. Every file is
written into the run's staging folder, which :mod:`geodemand.jobs.bundle` publishes
atomically.
"""

from __future__ import annotations

import contextlib
import json
import platform
from dataclasses import dataclass
from datetime import date
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from geodemand._hashing import sha256_file
from geodemand._spreadsheet import write_csv
from geodemand._version import __version__
from geodemand.demand.periods import Period
from geodemand.jobs.config import WeeklyConfig
from geodemand.outputs.markdown import escape, table
from geodemand.outputs.names import file_stems

PACKAGES = ("numpy", "pandas", "geopandas", "shapely", "pyproj", "numba", "scipy", "folium",
            "rasterio", "pyarrow", "matplotlib")
#: Manifest fields that differ between two identical runs (timing and host).
VOLATILE_MANIFEST_FIELDS = ("timings_s", "host", "created_at")


@dataclass
class BundleContext:
    """Everything the bundle is made of."""

    cfg: WeeklyConfig
    table: object
    areas: object
    demand: object
    ranking: object
    plan: object
    surfaces: dict
    period: Period
    out: Path
    lpus: list[str]
    boundaries: tuple[str, str | None]
    gov: object = None

    @property
    def stems(self) -> dict[str, str]:
        return file_stems(self.areas.lpus["lpu"])


def write_bundle(c: BundleContext, stages) -> dict:
    """Write every file of the bundle into ``c.out``; return the manifest."""
    with stages.stage("tables and rasters"):
        _write_tables(c)
    with stages.stage("concentration and near repeats"):
        analysis = _analyses(c)
    with stages.stage("maps"):
        _write_maps(c)
    with stages.stage("summary"):
        _write_control_plans(c)
        _write_summary(c, analysis)
    with stages.stage("manifest"):
        manifest = _manifest(c, analysis, stages.timings)
        text = json.dumps(manifest, indent=2, default=str, sort_keys=False)
        (c.out / "manifest.json").write_text(text, encoding="utf-8")
    return manifest


# ---------------------------------------------------------------------------- tables
def _selected_areas(c: BundleContext):
    areas = c.plan.areas
    if c.cfg.lpus and len(areas):
        areas = areas[areas["lpu"].isin(c.lpus)]
    return areas


def _write_tables(c: BundleContext) -> None:
    from geodemand.ingest.write import write_rejects
    from geodemand.outputs.raster import (
        write_density,
        write_emerging_classes,
        write_gistar,
        write_hotspot_classes,
    )
    from geodemand.outputs.vector import write_patrol_areas

    areas = _selected_areas(c)
    write_patrol_areas(areas, c.out / "patrol_areas.geojson")
    write_patrol_areas(areas, c.out / "patrol_areas.gpkg")
    targets = c.ranking.targets_table()
    if c.cfg.lpus:
        targets = targets[targets["lpu"].isin(c.lpus)]
    write_csv(targets, c.out / "targets.csv")
    write_rejects(c.table, c.out / "rejects.csv")
    gov = c.gov
    if gov is not None and gov.reviews is not None and len(gov.reviews):
        write_csv(gov.reviews, c.out / "reviews.csv")
    if gov is not None and gov.equity is not None:
        table = gov.equity.table
        if c.cfg.lpus:
            table = table[table["lpu"].isin(c.lpus)]
        write_csv(table, c.out / "equity.csv")
    mask = c.surfaces["mask"]
    write_density(c.surfaces["density"], c.out / "density.tif", mask=mask)
    write_hotspot_classes(c.surfaces["hotspots"], c.out / "hotspots.tif", mask=mask)
    write_gistar(c.surfaces["hotspots"], c.out / "gistar.tif", mask=mask)
    if c.surfaces.get("emerging") is not None:
        write_emerging_classes(c.surfaces["emerging"], c.out / "emerging.tif")


# ---------------------------------------------------------------------------- analyses
def _analyses(c: BundleContext) -> dict:
    """Concentration per LPU (places with an incident, and every in-force cell) and the
    near-repeat Knox test (dated data only)."""
    from geodemand.engines.repeats import (
        concentration,
        repeat_locations,
        save_concentration_plots,
    )

    frame = c.demand.incidents
    out: dict = {"knox": None, "knox_lpu": {}}
    places = repeat_locations(frame, key="place_id")
    out["places"] = places
    conc = concentration(places, by="lpu", weight="harm")
    out["concentration"] = conc
    grid = c.ranking.grid
    mask = c.surfaces["mask"]
    counts = grid.bin_counts(frame["x"], frame["y"], weights=frame["harm"].to_numpy())
    out["cells_concentration"] = concentration(np.where(mask, counts, np.nan))
    out["cells_concentration_by_lpu"] = {}
    from geodemand.decide.targets import cell_mask

    for lpu in c.lpus:
        lpu_mask = cell_mask(grid, c.areas.lpus[c.areas.lpus["lpu"] == lpu])
        if lpu_mask.any():
            out["cells_concentration_by_lpu"][lpu] = concentration(
                np.where(lpu_mask, counts, np.nan)).groups["all"]
    save_concentration_plots(conc, [
        (lpu, c.out / f"concentration_{c.stems[lpu]}.png",
         f"Concentration of harm on places: {lpu}")
        for lpu in c.lpus if lpu in conc.groups
    ])
    near = frame[frame["crime_type"].isin(c.cfg.knox_crime_types)]
    dated = "date_precision" in near.columns and (near["date_precision"] != "month").all()
    if len(near) >= 2 and dated:
        from geodemand.engines.nearrepeat import knox, plot_knox

        result = knox(
            near,
            space_bands=[*c.cfg.knox_space_bands, float("inf")],
            time_bands=[*c.cfg.knox_time_bands, float("inf")],
            permutations=c.cfg.knox_permutations,
            seed=c.cfg.seed,
        )
        out["knox"] = result
        plot_knox(result, c.out / "knox.png")
        bands = (c.cfg.knox_space_bands[:2], c.cfg.knox_time_bands[:2])
        for lpu in c.lpus:
            sub = near[near["lpu"] == lpu]
            if len(sub) >= 2:
                out["knox_lpu"][lpu] = knox(
                    sub, space_bands=list(bands[0]), time_bands=list(bands[1]),
                    same_location_band=False, permutations=c.cfg.knox_permutations,
                    seed=c.cfg.seed,
                )
    return out


# ---------------------------------------------------------------------------- maps
def data_description(c: BundleContext) -> str:
    """One line describing the input, e.g. "police.uk street data, 24 files, 2019-12 to
    2021-11" (the file list goes to the manifest)."""
    formats = sorted({s["format"] for s in c.table.sources})
    kinds = {"police-uk-street": "police.uk street data", "police-uk-2011":
             "police.uk street data (2011 format)", "police-uk-api": "police.uk API records",
             "vector": "incident layer", "csv": "incident table"}
    what = ", ".join(kinds.get(f, f) for f in formats)
    if c.demand.params.get("synthetic"):
        what = f"SYNTHETIC {what}"
    n = len(c.table.sources)
    first, last = c.table.frame["occurred"].min(), c.table.frame["occurred"].max()
    fmt = "%Y-%m" if c.table.date_precision == "month" else "%Y-%m-%d"
    return f"{what}, {n} file{'s' if n != 1 else ''}, {first:{fmt}} to {last:{fmt}}"


def _emerging_cells(emerging):
    """The emerging hot-spot cells with a pattern, as the maps take them (made once for all
    pages)."""
    return None if emerging is None else emerging.to_geodataframe(include_no_pattern=False)


def _write_maps(c: BundleContext) -> None:
    """force.html, <lpu>.html and force.png: rendering only (maps compute nothing)."""
    from geodemand.outputs.maps.layers import shared_geojson
    from geodemand.outputs.maps.png import hotspot_png
    from geodemand.outputs.maps.web import hotspot_map, save_map

    d = c.demand
    common = {
        "window": d.window_text,
        "data_source": data_description(c),
        "synthetic": bool(d.params.get("synthetic")),
        "period": c.period.describe(),
        "density": c.surfaces["density"],
        "density_vmax": _density_top(c.surfaces),
        "hotspot_cells": c.surfaces["hotspots"].to_geodataframe(only_significant=True),
        "emerging": _emerging_cells(c.surfaces.get("emerging")),
        "harm_units": d.harm.unit,
    }
    risk = None
    if c.gov is not None and c.gov.equity is not None:
        sa = c.gov.equity.small_areas
        risk = sa.assign(value=sa["harm_per_1000"], label=sa["name"],
                         count=sa["incidents"])[["value", "label", "count", "population",
                                                  "lpu", "geometry"]]
    tiles = None if (c.cfg.tiles or "").lower() == "none" else c.cfg.tiles
    places = c.ranking.places
    frame = c.table.frame
    inside = (frame["occurred"] >= c.period.start) & (frame["occurred"] < c.period.end)
    this_period = frame.loc[inside & (frame["lpu"] != "outside")]
    from geodemand.demand.places import location_text

    labels = location_text(this_period)
    # the columns the maps read (the incidents layer's contract), not the whole frame
    shown = [c for c in ("x", "y", "lpu", "crime_type", "occurred", "date_precision")
             if c in this_period.columns]
    this_period = this_period[shown].assign(label=labels)
    this_period.attrs["crs"] = c.areas.crs
    this_period.attrs["date_precision"] = c.table.date_precision

    def layers(lpu: str | None) -> dict:
        def keep(frame):
            return frame if lpu is None else frame[frame["lpu"] == lpu]

        lpus = keep(c.areas.lpus)
        nbs = keep(c.areas.neighbourhoods) if c.areas.neighbourhoods is not None else None
        if nbs is not None and "lpu" not in nbs.columns:
            nbs = None if lpu is not None else nbs
        top = keep(places).sort_values(["expected_harm", "target_id"], ascending=[False, True],
                                       kind="mergesort").head(c.cfg.repeat_places_on_map)
        top = top[["x", "y", "label", "rank", "force_rank", "lpu", "neighbourhood", "status",
                    "expected_harm", "expected_incidents", "incidents", "harm"]
                  + [col for col in top.columns if col.startswith("n_")]].copy()
        top.attrs["crs"] = c.areas.crs
        patrol = keep(_selected_areas(c)).drop(columns=["targets"], errors="ignore")
        if lpu is None and len(patrol):  # force-wide map: areas numbered by force rank
            patrol = patrol.assign(lpu_rank=patrol["rank"], rank=patrol["force_rank"])
        now = keep(this_period)
        risk_layer = keep(risk) if risk is not None else None
        return {
            "risk": risk_layer if risk_layer is not None and len(risk_layer) else None,
            "risk_units": f"{d.harm.unit} per 1,000 residents (mid-2015)",
            "lpus": lpus,
            "neighbourhoods": nbs,
            "patrol_areas": patrol if len(patrol) else None,
            "repeat_places": top if len(top) else None,
            "incidents": now if len(now) else None,
            "force_area": lpus,
            "view_bounds": tuple(lpus.total_bounds),
            "crs": c.areas.crs,
        }

    force = layers(None)
    png = {k: v for k, v in {**force, **common}.items() if k not in ("emerging",)}
    png["incidents"] = None  # a force-wide week of points only clutters the printed map
    hotspot_png(c.out / "force.png", title="Force-wide hot spots", **png)
    with shared_geojson():  # the LPU pages reuse the force page's GeoJSON geometries
        save_map(hotspot_map(title="Force-wide hot spots", tiles=tiles, **force, **common,
                             hidden_layers=("risk", "emerging", "incidents")),
                 c.out / "force.html")
        for lpu in c.lpus:
            m = hotspot_map(title=f"Hot spots: {lpu}", tiles=tiles, **layers(lpu), **common)
            save_map(m, c.out / f"{c.stems[lpu]}.html")


def _density_top(surfaces: dict) -> float | None:
    """Top of the density colour scale: the 99th percentile of the in-force cells with
    density (a few peaks would otherwise wash out the rest of the force); announced."""
    from geodemand._announce import announce

    values = np.asarray(surfaces["density"].density)[surfaces["mask"]]
    values = values[np.isfinite(values) & (values > 0)]
    if not values.size:
        return None
    top = float(np.percentile(values, 99))
    announce(f"density colour scale 0 to {top:,.0f} {surfaces['density'].units} (the 99th "
             "percentile of in-force cells; higher values take the top colour)")
    return top if top > 0 else None


def _write_control_plans(c: BundleContext) -> None:
    from geodemand.outputs.control_plans import write_control_plans

    status = c.gov.status_text() if c.gov is not None else {}
    write_control_plans(c.ranking, c.plan, c.out, c.stems, c.lpus, period=c.period,
                        status=status)


# ---------------------------------------------------------------------------- summary
def _period_counts(frame: pd.DataFrame, period: Period) -> pd.Series:
    inside = (frame["occurred"] >= period.start) & (frame["occurred"] < period.end)
    return frame.loc[inside].groupby("lpu").size()


def change_test(now: int, before: int) -> tuple[str, float]:
    """Plain words and the exact p-value for a change between two counts (conditional
    binomial test of equal Poisson rates: ``now | now + before ~ Binomial(n, 1/2)``)."""
    from scipy.stats import binomtest

    if now + before == 0:
        return "no incidents in either period", float("nan")
    p = float(binomtest(now, now + before, 0.5).pvalue)
    if before == 0:
        change = "new demand"
    else:
        pct = round(100 * (now - before) / before)
        change = f"{pct:+d} %" if pct else "no change"
    verdict = "significant" if p < 0.05 else "not significant"
    return f"{change} ({verdict}, p = {p:.3f})", p


def _write_summary(c: BundleContext, analysis: dict) -> None:
    d = c.demand
    unit = d.harm.unit
    frame = c.table.frame
    frame = frame[frame["lpu"] != "outside"]
    demand_frame = d.incidents
    p = c.period
    kind_title = "Weekly" if p.kind == "week" else "Monthly"
    lines = [f"# {kind_title} hot-spot summary: {p.describe()}", ""]
    if d.params.get("synthetic"):
        lines += ["**SYNTHETIC DATA: these are not real incidents.**", ""]
    last = pd.Timestamp(frame["occurred"].max())
    behind = (pd.Timestamp(date.today()) - p.end).days
    if behind > (62 if p.kind == "month" else 14):
        lines += [f"**Warning: the data end {last:%Y-%m-%d}, {behind} days before today; this "
                  f"{p.kind} is not the current one.**", ""]
    if p.kind == "month" and c.table.date_precision == "month":
        lines += ["The data have month precision (police.uk), so the period is a month.", ""]
    excluded = d.excluded_counts()
    lines += [
        f"Data: {escape(data_description(c))}. Window {d.window_text}: {d.n:,} incidents, "
        f"{d.total_harm:,.0f} {unit} of harm "
        f"(harm scheme {d.harm.scheme}, {d.harm.force or 'user file'} values). Left out: "
        + (", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in excluded.items()) or "nothing")
        + ". Anti-social behaviour has no CCHI value: it weighs the 1-day floor in harm "
        "measures and counts fully as demand.",
        "",
        f"Score: expected harm next {d.period_kind} ({unit}) = expected incidents × harm per "
        f"incident; {c.ranking.model.describe()}.",
        "",
    ]
    sites = c.ranking.partnership
    n_sites = len(sites)
    if n_sites:
        why = sites.groupby("site_category").size().sort_values(ascending=False)
        lines += [
            f"Partnership sites: {n_sites} places flagged and kept out of directed patrol ("
            + ", ".join(f"{escape(k)} {v}" for k, v in why.items())
            + "); see the partnership control plans in each LPU's sheet.",
            "",
        ]
    dq = c.ranking.places[c.ranking.places["default_geocode"].astype(bool)]
    if len(dq):
        lines += ["**Data quality**: suspected default-geocode places (a large share of their "
                  "LPU's incidents month after month): "
                  + "; ".join(f"{escape(r.label)} ({escape(r.lpu)}, {r.incidents:,} incidents)"
                              for r in dq.itertuples()) + ".", ""]
    now = _period_counts(frame, p)
    prev = _period_counts(frame, p.shifted(-1))
    last_year = _period_counts(frame, p.same_period_last_year())
    rows = []
    for lpu in c.lpus:
        a, b, y = int(now.get(lpu, 0)), int(prev.get(lpu, 0)), int(last_year.get(lpu, 0))
        rows.append({"LPU": lpu, f"this {p.kind}": f"{a:,}", "previous": f"{b:,}",
                     "change": change_test(a, b)[0], "same period last year": f"{y:,}",
                     "change vs last year": change_test(a, y)[0]})
    lines += [f"## This {p.kind} against the previous {p.kind} and last year", "",
              "Incidents recorded (all types, inside the LPUs); exact conditional binomial test "
              "of equal rates.", "", table(pd.DataFrame(rows)), ""]
    budget = c.plan.lpu_summary
    if len(budget):
        b = budget[budget["lpu"].isin(c.lpus)]
        lines += [
            "## Patrol budget", "",
            f"Force budget {c.plan.params['patrol_hours_per_day']:g} officer-hours a day: "
            f"a floor of {c.plan.params['lpu_floor_hours']:g} h per LPU, the rest shared by "
            f"expected harm; whole visits of {c.plan.params['minutes_per_visit']:g} minutes, "
            f"at most {c.plan.params['max_visits_per_day']} per area a day.", "",
            table(pd.DataFrame({
                "LPU": b["lpu"],
                "patrol areas": b["n_areas"].astype(int),
                "budget (h a day)": b["budget_hours"].map(lambda v: f"{v:.1f}"),
                "visits a day": b["visits_per_day"].astype(int),
                "unspent (min)": b["unspent_minutes"].map(lambda v: f"{v:.0f}"),
                f"expected harm ({unit})": b["expected_harm"].map(lambda v: f"{v:,.0f}"),
                "share of LPU harm in areas": b["share_of_harm"].map(lambda v: f"{v:.1%}"),
            })), "",
        ]
    lines += _governance_lines(c)
    knox = analysis["knox"]
    if knox is None:
        lines += ["Near repeats: not tested (the data have month precision; a Knox test needs "
                  "dates to the day).", ""]
    else:
        ratio = knox.table("ratio").round(2)
        lines += [
            "## Near repeats (force-wide Knox test)", "",
            f"Crime types {', '.join(c.cfg.knox_crime_types)}; "
            f"{knox.params.get('permutations')} permutations; Knox ratios (observed / mean of "
            "permuted), see knox.png:", "",
            table(ratio.rename_axis("space band").reset_index().astype(str)), "",
        ]
    conc_cells = analysis["cells_concentration"].groups["all"]
    lines += [
        "## Concentration", "",
        f"Force-wide, over all {conc_cells.values.size:,} in-force {c.ranking.grid.cell_size:g} m "
        f"cells (cells without incidents included, as in street-segment studies): "
        f"{conc_cells.share_units_for(0.5):.1%} of cells hold 50 % of the harm.", "",
    ]
    for lpu in c.lpus:
        stem = c.stems[lpu]
        lines += [f"## {escape(lpu)}", ""]
        conc = analysis["concentration"].groups.get(lpu)
        cells = analysis["cells_concentration_by_lpu"].get(lpu)
        if conc is not None:
            text = (f"Concentration: {conc.share_units_for(0.5):.1%} of the "
                    f"{conc.values.size:,} places with at least one incident hold 50 % of the "
                    f"harm ({conc.share_units_for(0.8):.1%} hold 80 %; Gini {conc.gini:.2f})")
            if cells is not None:
                text += (f"; over all {cells.values.size:,} cells of the LPU, "
                         f"{cells.share_units_for(0.5):.1%} of cells hold 50 %")
            lines += [text + f". ![concentration](concentration_{stem}.png)", ""]
        lpu_knox = analysis["knox_lpu"].get(lpu)
        if lpu_knox is not None:
            lines += [
                f"Near repeats ({', '.join(c.cfg.knox_crime_types)}, "
                f"{lpu_knox.space_labels[0]} x {lpu_knox.time_labels[0]}): "
                f"{int(lpu_knox.observed[0, 0]):,} pairs observed against "
                f"{float(lpu_knox.sim_mean[0, 0]):,.1f} expected; Knox ratio "
                f"{lpu_knox.ratio[0, 0]:.2f}, p = {lpu_knox.p_value[0, 0]:.3f}.", "",
            ]
        top = c.ranking.top(5, "places", lpu)
        if len(top):
            lines += ["Top places:", "", table(pd.DataFrame({
                "rank": top["rank"].astype(int),
                "place": top["label"],
                f"expected harm ({unit})": top["expected_harm"].map(lambda v: f"{v:,.0f}"),
                "expected incidents": top["expected_incidents"].map(lambda v: f"{v:.1f}"),
                "incidents (window)": top["incidents"].astype(int),
            })), ""]
        if c.gov is not None and c.gov.ytd_lines.get(lpu):
            lines += [f"Year to date: {escape(c.gov.ytd_lines[lpu])}", ""]
        if c.gov is not None and c.gov.equity is not None:
            for text in c.gov.equity.lines.get(lpu, []):
                lines += [f"Equity: {escape(text)}", ""]
        lpu_sites = sites[sites["lpu"] == lpu] if n_sites else sites
        if len(lpu_sites):
            lines += [f"Partnership sites: {len(lpu_sites)} ("
                      + "; ".join(escape(v) for v in lpu_sites.head(5)["label"]) + ").", ""]
        areas = _selected_areas(c)
        n_areas = int((areas["lpu"] == lpu).sum()) if len(areas) else 0
        lines += [f"Patrol areas: {n_areas} (see {stem}.html and control_plan_{stem}.md).", ""]
    (c.out / "summary.md").write_text("\n".join(lines), encoding="utf-8")
    del demand_frame


def _governance_lines(c: BundleContext) -> list[str]:
    gov = c.gov
    if gov is None:
        return []
    lines = ["## Control plans: register, statuses and reviews", ""]
    if gov.register_path is None:
        return lines + ["No register (a one-off analysis): statuses and reviews are not "
                        "tracked.", ""]
    st = gov.statuses
    if st is not None and len(st):
        counts = st.groupby(["kind", "status"]).size()
        parts = [f"{k} {s}: {n}" for (k, s), n in counts.items()]
        lines += [f"Register {escape(register_label(c.cfg))}: " + "; ".join(parts) + ".", ""]
    rev = gov.reviews
    if rev is not None and len(rev):
        lines += [f"Reviews of plans that reached their review date ({len(rev)}, see "
                  "reviews.csv):", ""]
        lines += [f"- {escape(text)}" for text in rev["sentence"].head(30)]
        lines.append("")
    else:
        lines += ["No plan reached its review date this period.", ""]
    if gov.equity is None and gov.equity_note:
        lines += [f"Equity audit not run: {escape(gov.equity_note)}", ""]
    elif gov.equity is not None:
        flagged = gov.equity.flags
        by = flagged.groupby("breakdown").size() if len(flagged) else pd.Series(dtype=int)
        p = gov.equity.params
        lines += [
            "Equity audit (equity.csv): the shares of patrol dosage, of harm and of residents "
            "by IMD 2019 decile and by neighbourhood in each LPU. Flagged where the dosage share "
            f"exceeds the harm share by more than {p.get('margin_pp', 10):g} percentage points "
            f"and {p.get('margin_ratio', 1.5):g} times: {int(by.get('imd_decile', 0))} "
            f"decile group(s) and {int(by.get('neighbourhood', 0))} neighbourhood(s) (hot-spot "
            "patrol concentrates on small areas, so neighbourhood flags are expected where the "
            "patrol areas lie; decile flags deserve a look).", ""]
    return lines


# ---------------------------------------------------------------------------- manifest
def register_label(cfg) -> str:
    """The register as the outputs name it: the path given, or ``<out>/register.gpkg`` for
    the default (no machine-specific absolute path in a bundle)."""
    return str(cfg.register) if cfg.register else "<out>/register.gpkg"


def _versions() -> dict[str, str]:
    out = {"geodemand": __version__, "python": platform.python_version()}
    for name in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def _manifest(c: BundleContext, analysis: dict, timings: dict) -> dict:
    frame = c.table.frame
    acc = c.table.accounting.set_index("file").loc["TOTAL"]
    outputs = {
        p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size}
        for p in sorted(c.out.iterdir())
        if p.is_file() and p.name != "manifest.json"
    }
    areas = _selected_areas(c)
    d = c.demand
    return {
        "geodemand_version": __version__,
        "synthetic": bool(d.params.get("synthetic")),
        "period": {
            "kind": c.period.kind,
            "label": c.period.label,
            "start": f"{c.period.start:%Y-%m-%d}",
            "end_exclusive": f"{c.period.end:%Y-%m-%d}",
        },
        "data_window": {
            "text": d.window_text,
            "start": f"{d.window_start:%Y-%m-%d %H:%M:%S}",
            "end": f"{d.window_end:%Y-%m-%d %H:%M:%S}",
            "window_days": d.params["window_days"],
            "first_incident": f"{frame['occurred'].min()}",
            "last_incident": f"{frame['occurred'].max()}",
            "date_precision": c.table.date_precision,
        },
        "data_description": data_description(c),
        "inputs": list(c.table.sources),
        "boundaries": {
            k: {"path": str(v), "sha256": sha256_file(Path(v))}
            for k, v in (("lpus", c.boundaries[0]), ("neighbourhoods", c.boundaries[1])) if v
        },
        "rows": {
            "read": int(acc["read"]),
            "accepted": int(acc["accepted"]),
            "rejected": int(acc["rejected"]),
            "rejected_by_reason": {
                k: int(v) for k, v in acc.items()
                if k not in ("format", "read", "accepted", "rejected")
            },
            "outside_every_lpu": int(frame["outside"].sum()),
        },
        "demand": {
            "incidents": d.n,
            "harm": round(d.total_harm, 4),
            "harm_unit": d.harm.unit,
            "excluded": d.excluded_counts(),
            "harm_table": d.harm.to_record(),
            "n_places": int(len(d.places)),
            "n_partnership_sites": int(len(c.ranking.partnership)),
            "partnership_reasons": c.ranking.params.get("partnership_reasons", {}),
            "n_default_geocodes": int(d.params.get("n_default_geocodes", 0)),
            "asb_note": d.params["asb_note"],
        },
        "parameters": {
            "config": c.cfg.to_record(),
            "demand": {k: v for k, v in d.params.items() if k != "harm_table"},
            "score": c.ranking.model.to_record(),
            "patrol": c.plan.params,
            "density": c.surfaces["density"].params,
            "hotspots": c.surfaces["gistar_params"],
        },
        "lpus": c.lpus,
        "file_stems": {lpu: c.stems[lpu] for lpu in c.lpus},
        "versions": _versions(),
        "timings_s": dict(timings),
        "outputs": outputs,
        "created_by": "geodemand weekly",
        "n_patrol_areas": int(len(areas)),
        "n_targets": {
            "places": int(len(c.ranking.places)),
            "cells": int(len(c.ranking.cells)),
            "partnership_sites": int(len(c.ranking.partnership)),
        },
        "random_seed": c.cfg.seed,
        "register": None if c.gov is None or c.gov.register_path is None
        else register_label(c.cfg),
        "volatile_fields": list(VOLATILE_MANIFEST_FIELDS),
    }
