"""The weekly job: ingest → areas → weights → engines → targets → patrol areas → outputs.

:func:`run_weekly` decides (periods, windows, which outputs); the engines compute and the
writers render. With no arguments it runs on the bundled West Midlands demo history (two
years of **synthetic** incidents calibrated on a real police.uk month, clearly labelled) for
the latest complete week, and writes the bundle into ``maps/<period>/``:

``force.html`` and ``<lpu>.html``
    folium hot-spot maps (force-wide and per LPU);
``patrol_areas.geojson`` / ``.gpkg``
    RFC 7946 patrol areas for planners (and the GeoPackage in the analysis CRS);
``targets.csv``
    every ranked place and cell with its score breakdown;
``density.tif`` / ``hotspots.tif``
    the harm density surface and the Gi* confidence bins (GeoTIFF);
``summary.md`` (+ ``concentration_<lpu>.png``, ``knox.png``, ``force.png``)
    per LPU: incidents this period vs the previous and the same period last year, top targets,
    concentration, near-repeat summary;
``control_plan_<lpu>.md``
    control-plan sheets;
``rejects.csv``
    every rejected input record with its reason;
``manifest.json``
    inputs with SHA-256, rows read/accepted/rejected/outside, parameters, data window,
    package versions, the synthetic flag and the time of each stage.

The bundle is written into a hidden temporary folder beside its destination and renamed into
place at the end, so an interrupted run leaves no half-written bundle.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import shutil
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pandas as pd

from geodemand._announce import announce
from geodemand._hashing import sha256_file
from geodemand._paths import DEFAULT_LPUS, DEFAULT_NEIGHBOURHOODS
from geodemand._version import __version__
from geodemand.demand.periods import Period, choose_period
from geodemand.errors import InvalidParameterError

PACKAGES = (
    "numpy",
    "pandas",
    "geopandas",
    "shapely",
    "pyproj",
    "numba",
    "scipy",
    "folium",
    "rasterio",
    "pyarrow",
    "matplotlib",
)


@dataclass(frozen=True)
class WeeklyConfig:
    """Every option of the weekly job (also readable from a TOML file, same keys).

    Paths are strings; ``incidents=None`` means the bundled synthetic demo history.
    """

    incidents: tuple[str, ...] | None = None
    lpu_boundaries: str = str(DEFAULT_LPUS)
    neighbourhood_boundaries: str | None = str(DEFAULT_NEIGHBOURHOODS)
    period: str | None = None
    window_days: int = 730
    lpus: tuple[str, ...] | None = None
    out: str = "maps"
    tiles: str | None = "OpenStreetMap"
    harm_weights: str | None = None
    include_police_generated: bool = False
    cell_size_m: float = 100.0
    bandwidth_m: float = 250.0
    half_life_days: float = 365.0
    top_n: int = 5
    max_area_km2: float = 0.25
    patrol_hours_per_day: float = 8.0
    minutes_per_visit: float = 15.0
    review_days: int = 28
    repeat_places_on_map: int = 25
    knox_space_bands: tuple[float, ...] = (0.0, 100.0, 200.0, 400.0)
    knox_time_bands: tuple[float, ...] = (0.0, 7.0, 14.0, 28.0)
    knox_permutations: int = 99
    knox_crime_types: tuple[str, ...] = ("burglary",)
    seed: int = 0

    @classmethod
    def from_toml(cls, path: str | Path, **overrides) -> WeeklyConfig:
        """Read options from a TOML file (keys as the field names); ``overrides`` win."""
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InvalidParameterError(f"{path}: cannot read the config file ({exc})") from exc
        data = data.get("weekly", data)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidParameterError(
                f"{path}: unknown option(s) {unknown}; expected some of {sorted(known)}"
            )
        data.update({k: v for k, v in overrides.items() if v is not None})
        for key in ("incidents", "lpus", "knox_space_bands", "knox_time_bands"):
            if isinstance(data.get(key), list):
                data[key] = tuple(data[key])
            elif isinstance(data.get(key), str):
                data[key] = (data[key],)
        return cls(**data)


@dataclass
class WeeklyResult:
    """What a weekly run produced."""

    out_dir: Path
    period: Period
    manifest: dict
    timings: dict[str, float] = field(default_factory=dict)


class _Stages:
    """Times each stage and shows progress (rich) unless quiet."""

    def __init__(self, quiet: bool, total: int) -> None:
        self.timings: dict[str, float] = {}
        self._progress = None
        self._task = None
        if not quiet:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TimeElapsedColumn(),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("weekly", total=total)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self._progress is not None:
            self._progress.update(self._task, description=name)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(time.perf_counter() - t0, 3)
            if self._progress is not None:
                self._progress.advance(self._task)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-") or "lpu"


def _versions() -> dict[str, str]:
    out = {"geodemand": __version__, "python": platform.python_version()}
    for name in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def _period_counts(frame: pd.DataFrame, period: Period) -> pd.Series:
    inside = (frame["occurred"] >= period.start) & (frame["occurred"] < period.end)
    return frame.loc[inside].groupby("lpu").size()


def run_weekly(
    config: WeeklyConfig | None = None, *, quiet: bool = False, **options
) -> WeeklyResult:
    """Run the weekly analysis and write its output bundle.

    Parameters
    ----------
    config : WeeklyConfig, optional
        All options; keyword ``options`` override single fields.
    quiet : bool
        No progress display.
    """
    from geodemand.demand.harm import harm_weights
    from geodemand.ingest.areas import assign_areas, read_areas
    from geodemand.ingest.incidents import read_incidents

    cfg = dataclasses.replace(config or WeeklyConfig(), **options)
    stages = _Stages(quiet, total=9)
    try:
        with stages.stage("ingest"):
            paths = cfg.incidents
            if paths is None:
                from geodemand.ingest.synth import demo_history_path

                paths = (str(demo_history_path()),)
                announce(f"no incidents given: using the bundled SYNTHETIC demo history {paths[0]}")
            table = read_incidents(list(paths))
        with stages.stage("areas"):
            areas = read_areas(cfg.lpu_boundaries, cfg.neighbourhood_boundaries, crs=table.crs)
            table = assign_areas(table, areas)
            if cfg.lpus:
                unknown = sorted(set(cfg.lpus) - set(areas.lpus["lpu"]))
                if unknown:
                    raise InvalidParameterError(
                        f"--lpu {unknown}: no such LPU; expected some of "
                        f"{sorted(areas.lpus['lpu'])}"
                    )
        frame = table.frame
        period = choose_period(frame["occurred"], table.date_precision, cfg.period)
        window_end = period.end - pd.Timedelta(seconds=1)
        harm = harm_weights(cfg.harm_weights)
        with stages.stage("targets (KDE, Gi*, repeats)"):
            from geodemand.decide.targets import rank_targets

            ranking = rank_targets(
                table,
                window_end=window_end,
                window_days=cfg.window_days,
                half_life_days=cfg.half_life_days,
                harm=harm,
                include_police_generated=cfg.include_police_generated,
                cell_size_m=cfg.cell_size_m,
                bandwidth_m=cfg.bandwidth_m,
            )
        with stages.stage("patrol areas"):
            from geodemand.decide.patrol import patrol_areas

            plan = patrol_areas(
                ranking,
                None,
                areas,
                top_n=cfg.top_n,
                max_area_km2=cfg.max_area_km2,
                patrol_hours_per_day=cfg.patrol_hours_per_day,
                minutes_per_visit=cfg.minutes_per_visit,
                review_days=cfg.review_days,
            )
        out_root = Path(cfg.out)
        final = out_root / period.label
        out_root.mkdir(parents=True, exist_ok=True)
        staging = out_root / f".{period.label}.partial-{os.getpid()}"
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir()
        try:
            lpus = sorted(cfg.lpus) if cfg.lpus else sorted(areas.lpus["lpu"])
            context = _Context(cfg, table, areas, ranking, plan, period, staging, lpus, harm)
            with stages.stage("tables and rasters"):
                _write_tables(context)
            with stages.stage("concentration and near repeats"):
                analysis = _analyses(context)
            with stages.stage("maps"):
                _write_maps(context, analysis)
            with stages.stage("summary"):
                _write_summary(context, analysis)
            with stages.stage("manifest"):
                manifest = _manifest(context, stages.timings)
                (staging / "manifest.json").write_text(
                    json.dumps(manifest, indent=2, default=str), encoding="utf-8"
                )
            if final.exists():
                trash = out_root / f".{period.label}.old-{os.getpid()}"
                os.replace(final, trash)
                os.replace(staging, final)
                shutil.rmtree(trash)
            else:
                os.replace(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    finally:
        stages.close()
    return WeeklyResult(final, period, manifest, dict(stages.timings))


@dataclass
class _Context:
    cfg: WeeklyConfig
    table: object
    areas: object
    ranking: object
    plan: object
    period: Period
    out: Path
    lpus: list[str]
    harm: object


def _write_tables(c: _Context) -> None:
    from geodemand.ingest.write import write_rejects
    from geodemand.outputs.control_plans import write_control_plans
    from geodemand.outputs.raster import write_raster
    from geodemand.outputs.vector import write_patrol_areas

    plan_areas = c.plan.areas
    if c.cfg.lpus:
        plan_areas = plan_areas[plan_areas["lpu"].isin(c.lpus)]
    write_patrol_areas(plan_areas, c.out / "patrol_areas.geojson")
    write_patrol_areas(plan_areas, c.out / "patrol_areas.gpkg")
    targets = c.ranking.targets_table()
    if c.cfg.lpus:
        targets = targets[targets["lpu"].isin(c.lpus)]
    targets.to_csv(c.out / "targets.csv", index=False)
    write_rejects(c.table, c.out / "rejects.csv")
    write_raster(c.ranking.density, c.out / "density.tif")
    write_raster(c.ranking.hotspots, c.out / "hotspots.tif", layer="bin")
    for path in write_control_plans(c.ranking, c.plan, c.out):
        lpu_slug = path.stem.removeprefix("control_plan_")
        if c.cfg.lpus and lpu_slug not in {_slug(x) for x in c.lpus}:
            path.unlink()


def _analyses(c: _Context) -> dict:
    """Repeat places, concentration per LPU and the force-wide near-repeat (Knox) test."""
    from geodemand.engines.repeats import concentration, plot_concentration, repeat_locations

    frame = c.ranking.incidents  # window, exclusions applied, inside an LPU
    out: dict = {"knox": None}
    places = repeat_locations(frame, harm=c.harm)
    out["repeats"] = places
    conc = concentration(places, by="lpu", weight="harm")
    out["concentration"] = conc
    for lpu in c.lpus:
        if lpu in conc.groups:
            plot_concentration(
                conc,
                c.out / f"concentration_{_slug(lpu)}.png",
                title=f"Concentration of harm on places: {lpu}",
                groups=["all", lpu],
            )
    near = frame[frame["crime_type"].isin(c.cfg.knox_crime_types)]
    if len(near) >= 2 and (near["date_precision"] != "month").all():
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
        # per LPU: one band, the first space and time bands (e.g. 0-100 m, 0-7 days)
        out["knox_lpu"] = {}
        bands = (c.cfg.knox_space_bands[:2], c.cfg.knox_time_bands[:2])
        for lpu in c.lpus:
            sub = near[near["lpu"] == lpu]
            if len(sub) >= 2:
                out["knox_lpu"][lpu] = knox(
                    sub,
                    space_bands=list(bands[0]),
                    time_bands=list(bands[1]),
                    same_location_band=False,
                    permutations=c.cfg.knox_permutations,
                    seed=c.cfg.seed,
                )
    return out


def _write_maps(c: _Context, analysis: dict) -> None:
    """force.html, <lpu>.html and force.png: rendering only (maps compute nothing)."""
    from geodemand.outputs.maps.png import hotspot_png
    from geodemand.outputs.maps.web import hotspot_map, save_map

    p = c.ranking.params
    common = {
        "window": f"{p['window_start']} to {p['window_end']} ({p['window_days']} days)",
        "data_source": ", ".join(Path(s["path"]).name for s in c.table.sources),
        "synthetic": bool(p.get("synthetic")),
        "period": c.period.describe(),
        "density": c.ranking.density,
        "hotspot_cells": c.ranking.hotspots.to_geodataframe(only_significant=True),
    }
    tiles = None if (c.cfg.tiles or "").lower() == "none" else c.cfg.tiles
    places = analysis["repeats"]
    places = places.assign(label=places["location_key"])

    def layers(lpu: str | None) -> dict:
        def keep(frame):
            return frame if lpu is None else frame[frame["lpu"] == lpu]

        lpus = keep(c.areas.lpus)
        nbs = keep(c.areas.neighbourhoods) if c.areas.neighbourhoods is not None else None
        top = keep(places).sort_values(
            ["harm", "count", "location_key"], ascending=[False, False, True], kind="mergesort"
        )
        patrol = keep(c.plan.areas)
        if lpu is None:  # force-wide map: areas numbered by their force-wide rank
            patrol = patrol.assign(lpu_rank=patrol["rank"], rank=patrol["force_rank"])
        return {
            "lpus": lpus,
            "neighbourhoods": nbs,
            "patrol_areas": patrol,
            "repeat_places": top.head(c.cfg.repeat_places_on_map),
            "view_bounds": tuple(lpus.total_bounds),
            "crs": c.areas.crs,
        }

    force = layers(None)
    save_map(
        hotspot_map(title="Force-wide hot spots", tiles=tiles, **force, **common),
        c.out / "force.html",
    )
    hotspot_png(c.out / "force.png", title="Force-wide hot spots", **force, **common)
    for lpu in c.lpus:
        m = hotspot_map(title=f"Hot spots: {lpu}", tiles=tiles, **layers(lpu), **common)
        save_map(m, c.out / f"{_slug(lpu)}.html")


def _write_summary(c: _Context, analysis: dict) -> None:
    from geodemand.outputs.control_plans import _cell, markdown_table

    frame = c.table.frame
    frame = frame[frame["lpu"] != "outside"]
    now = _period_counts(frame, c.period)
    prev = _period_counts(frame, c.period.shifted(-1))
    last_year = _period_counts(frame, c.period.same_period_last_year())
    p = c.ranking.params
    lines = [
        f"# Weekly hot-spot summary: {c.period.describe()}",
        "",
    ]
    if p.get("synthetic"):
        lines += ["**SYNTHETIC DATA: these are not real incidents.**", ""]
    if c.period.kind == "month" and c.table.date_precision == "month":
        lines += ["The data have month precision (police.uk), so the period is a month.", ""]
    lines += [
        f"Data window {p['window_start']} to {p['window_end']}; incidents scored "
        f"{p['incidents_scored']:,}; police-generated types excluded: "
        f"{', '.join(f'{k} ({v:,})' for k, v in p['excluded'].items()) or 'none'}.",
        "",
        "| LPU | this period | previous | change | same period last year | change |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for lpu in c.lpus:
        a, b, y = int(now.get(lpu, 0)), int(prev.get(lpu, 0)), int(last_year.get(lpu, 0))
        lines.append(f"| {_cell(lpu)} | {a:,} | {b:,} | {_pct(a, b)} | {y:,} | {_pct(a, y)} |")
    lines.append("")
    knox = analysis["knox"]
    if knox is None:
        lines += [
            "Near repeats: not tested (the data have month precision; a Knox test needs "
            "dates to the day).",
            "",
        ]
    else:
        ratio = knox.table("ratio")
        lines += [
            "## Near repeats (force-wide Knox test)",
            "",
            f"Crime types {', '.join(c.cfg.knox_crime_types)}; "
            f"{knox.params.get('permutations')} permutations; Knox ratios "
            "(observed / mean of permuted), see knox.png:",
            "",
            markdown_table(
                ratio.round(2).rename_axis("space band").reset_index().astype(str),
                ["space band", *[str(col) for col in ratio.columns]],
            ),
            "",
        ]
    for lpu in c.lpus:
        lines += [f"## {_cell(lpu)}", ""]
        conc = analysis["concentration"].groups.get(lpu)
        if conc is not None:
            lines += [
                f"Concentration: {conc.share_units_for(0.5):.1%} of places hold 50 % of the "
                f"harm-weighted demand, {conc.share_units_for(0.8):.1%} hold 80 %; Gini "
                f"{conc.gini:.2f}. ![concentration](concentration_{_slug(lpu)}.png)",
                "",
            ]
        lpu_knox = (analysis.get("knox_lpu") or {}).get(lpu)
        if lpu_knox is not None:
            obs = int(lpu_knox.observed[0, 0])
            exp = float(lpu_knox.sim_mean[0, 0])
            lines += [
                f"Near repeats ({', '.join(c.cfg.knox_crime_types)}, "
                f"{lpu_knox.space_labels[0]} x {lpu_knox.time_labels[0]}): {obs:,} pairs "
                f"observed against {exp:,.1f} expected if time and place were independent; "
                f"Knox ratio {lpu_knox.ratio[0, 0]:.2f}, p = {lpu_knox.p_value[0, 0]:.3f}.",
                "",
            ]
        top = c.ranking.top(5, "places", lpu)
        lines += [
            "Top places:",
            "",
            "| rank | place | neighbourhood | incidents | harm | score |",
            "|---:|---|---|---:|---:|---:|",
        ]
        for _, r in top.iterrows():
            lines.append(
                f"| {r['rank']} | {_cell(r['location_key'])} | {_cell(r['neighbourhood'])} "
                f"| {r['incidents']} | {r['harm']:.0f} | {r['score']:.3f} |"
            )
        areas = c.plan.areas[c.plan.areas["lpu"] == lpu]
        lines += [
            "",
            f"Patrol areas: {len(areas)} (see {_slug(lpu)}.html and control_plan_{_slug(lpu)}.md).",
            "",
        ]
    (c.out / "summary.md").write_text("\n".join(lines), encoding="utf-8")


def _pct(a: int, b: int) -> str:
    if b == 0:
        return "n/a"
    change = round(100 * (a - b) / b)
    return f"{change:+d}%" if change else "0%"


def _manifest(c: _Context, timings: dict) -> dict:
    frame = c.table.frame
    acc = c.table.accounting.set_index("file").loc["TOTAL"]
    outputs = {
        p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size}
        for p in sorted(c.out.iterdir())
        if p.is_file() and p.name != "manifest.json"
    }
    return {
        "geodemand_version": __version__,
        "synthetic": bool(c.ranking.params.get("synthetic")),
        "period": {
            "kind": c.period.kind,
            "label": c.period.label,
            "start": f"{c.period.start:%Y-%m-%d}",
            "end_exclusive": f"{c.period.end:%Y-%m-%d}",
        },
        "data_window": {
            "start": c.ranking.params["window_start"],
            "end": c.ranking.params["window_end"],
            "first_incident": f"{frame['occurred'].min()}",
            "last_incident": f"{frame['occurred'].max()}",
            "date_precision": c.table.date_precision,
        },
        "inputs": list(c.table.sources),
        "boundaries": {
            k: {"path": str(v), "sha256": sha256_file(Path(v))}
            for k, v in (
                ("lpus", c.cfg.lpu_boundaries),
                ("neighbourhoods", c.cfg.neighbourhood_boundaries),
            )
            if v
        },
        "rows": {
            "read": int(acc["read"]),
            "accepted": int(acc["accepted"]),
            "rejected": int(acc["rejected"]),
            "rejected_by_reason": {
                k: int(v)
                for k, v in acc.items()
                if k not in ("format", "read", "accepted", "rejected")
            },
            "outside_every_lpu": int(frame["outside"].sum()),
        },
        "parameters": {
            "config": dataclasses.asdict(c.cfg),
            "targets": c.ranking.params,
            "patrol": {k: v for k, v in c.plan.params.items() if k not in c.ranking.params},
            "density": c.ranking.density.params,
            "hotspots": c.ranking.hotspots.params,
        },
        "lpus": c.lpus,
        "versions": _versions(),
        "timings_s": dict(timings),
        "outputs": outputs,
        "created_by": "geodemand weekly",
        "n_patrol_areas": int(len(c.plan.areas)),
        "n_targets": {"places": int(len(c.ranking.places)), "cells": int(len(c.ranking.cells))},
        "random_seed": c.cfg.seed,
    }
