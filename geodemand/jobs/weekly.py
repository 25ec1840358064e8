"""The weekly job: ingest → areas → demand → engines → targets → patrol areas → outputs.

:func:`run_weekly` decides (periods, windows, which outputs); the engines compute and the
writers in :mod:`geodemand.outputs` render. With no arguments it runs on the bundled West
Midlands demo history (two years of **synthetic** incidents calibrated on a real police.uk
month, clearly labelled) for the latest complete week, and writes the bundle into
``maps/<period>/``:

``force.html``, ``<lpu>.html`` and ``force.png``
    hot-spot maps (force-wide and per LPU; see :mod:`geodemand.outputs.maps`);
``patrol_areas.geojson`` / ``.gpkg``
    RFC 7946 patrol areas for planners (and the GeoPackage in the analysis CRS);
``targets.csv``
    every ranked place, cell and partnership site with its score components;
``density.tif`` / ``hotspots.tif``
    the recent-harm density surface and the Gi* confidence bins (GeoTIFF);
``summary.md`` (+ ``concentration_<lpu>.png``, ``knox.png``)
    the period against the previous one and last year (with an exact test), targets,
    partnership sites, concentration, near repeats, patrol budget;
``control_plan_<lpu>.md``
    control-plan sheets;
``rejects.csv``
    every rejected input record with its reason;
``manifest.json``
    inputs with SHA-256, rows read/accepted/rejected/outside, parameters, data window,
    package versions, the synthetic flag and the time of each stage.

The bundle is written into a staging folder and published atomically
(:mod:`geodemand.jobs.bundle`): an interrupted run never leaves a half-written bundle, and
``maps/<period>`` always shows a complete one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from geodemand._announce import announce, warn
from geodemand._paths import DEFAULT_LPUS, DEFAULT_NEIGHBOURHOODS
from geodemand.demand.periods import Period, choose_period
from geodemand.errors import InvalidParameterError
from geodemand.jobs.config import WeeklyConfig

__all__ = ["WeeklyConfig", "WeeklyResult", "run_weekly"]


@dataclass
class WeeklyResult:
    """What a weekly run produced."""

    out_dir: Path
    period: Period
    manifest: dict
    timings: dict[str, float] = field(default_factory=dict)

    def __repr__(self) -> str:
        m = self.manifest
        return (
            f"WeeklyResult({self.period.describe()}: {self.out_dir}; "
            f"{m.get('n_patrol_areas', 0)} patrol areas, {m['rows']['accepted']:,} incidents, "
            f"{'SYNTHETIC' if m.get('synthetic') else 'real'} data)"
        )


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


def resolve_boundaries(cfg: WeeklyConfig) -> tuple[str, str | None]:
    """The LPU and neighbourhood layers: the user's, or the bundled demo's (only with the demo
    data or when nothing is given)."""
    if cfg.lpu_boundaries:
        return cfg.lpu_boundaries, cfg.neighbourhood_boundaries
    if cfg.incidents is not None:
        announce("no LPU boundaries given: using the bundled West Midlands LPUs and wards")
    return str(DEFAULT_LPUS), str(DEFAULT_NEIGHBOURHOODS)


def read_inputs(cfg: WeeklyConfig, mapping: dict | None = None, stages=None,
                boundaries: tuple[str, str | None] | None = None):
    """Read a config's incidents and boundaries and join them: ``(table, areas)``.

    The one reading step of every command (weekly, targets, patrol, evaluate): the demo
    history when no incidents are given (announced), the config's crime-type options, and the
    LPU layer as the study area (records more than 2 km outside it are rejected as
    ``outside_study_area``, not silently counted as outside every LPU).
    """
    from geodemand.ingest.areas import assign_areas, read_areas
    from geodemand.ingest.incidents import read_incidents

    lpu_path, nb_path = boundaries or resolve_boundaries(cfg)
    stage = stages.stage if stages is not None else (lambda name: contextlib.nullcontext())
    with stage("ingest"):
        paths = cfg.incidents
        if paths is None:
            from geodemand.ingest.synth import demo_history_path

            paths = (str(demo_history_path()),)
            announce(f"no incidents given: using the bundled SYNTHETIC demo history {paths[0]}")
        table = read_incidents(
            list(paths), crs=cfg.crs, mapping=mapping or None,
            strict_types=not cfg.keep_unknown_types,
            crime_type_mapping=cfg.crime_type_mapping(), study_area=lpu_path,
        )
    with stage("areas"):
        areas = read_areas(lpu_path, nb_path, crs=table.crs, lpu_field=cfg.lpu_name_field,
                           neighbourhood_field=cfg.neighbourhood_name_field)
        table = assign_areas(table, areas)
        if cfg.lpus:
            unknown = sorted(set(cfg.lpus) - set(areas.lpus["lpu"]))
            if unknown:
                raise InvalidParameterError(
                    f"--lpu {unknown}: no such LPU; expected some of "
                    f"{sorted(areas.lpus['lpu'])}"
                )
    return table, areas


def run_weekly(
    config: WeeklyConfig | None = None, *, quiet: bool = False, **options
) -> WeeklyResult:
    """Run the weekly analysis and write its output bundle.

    Parameters
    ----------
    config : WeeklyConfig, optional
        All options; keyword ``options`` override single fields (validated).
    quiet : bool
        No progress display (and no announcements when called from the CLI's ``--quiet``).
    """
    cfg = config or WeeklyConfig()
    if options:
        cfg = WeeklyConfig.from_mapping({**dataclasses.asdict(cfg), **options})
    cfg.check_files()
    lpu_path, nb_path = resolve_boundaries(cfg)
    stages = _Stages(quiet, total=10)
    try:
        table, areas = read_inputs(cfg, stages=stages, boundaries=(lpu_path, nb_path))
        if not len(table.frame):
            raise InvalidParameterError(
                "no incidents were accepted from the input (see rejects with "
                "'geodemand ingest'); nothing to analyse"
            )
        period = choose_period(table.frame["occurred"], table.date_precision, cfg.period)
        period = _check_period_data(table.frame, period, cfg.period)
        with stages.stage("demand"):
            from geodemand.demand.demand import prepare_demand

            demand = prepare_demand(
                table,
                window_end=period.end - pd.Timedelta(seconds=1),
                window_days=cfg.window_days,
                harm=cfg.harm_scheme,
                force=cfg.force,
                include_police_generated=cfg.include_police_generated,
                crime_types=list(cfg.crime_types) if cfg.crime_types else None,
                half_life_days=cfg.half_life_days,
                merge_m=cfg.merge_m,
                premises=cfg.premises,
                site_keywords_path=cfg.site_keywords,
                exclude_default_geocodes=cfg.exclude_default_geocodes,
            )
        with stages.stage("targets"):
            from geodemand.decide.targets import rank_targets
            from geodemand.grid import Grid

            grid = Grid.for_areas(areas.lpus, cell_size=cfg.cell_size_m)
            ranking = rank_targets(demand, grid=grid, study_area=areas,
                                   patrol_partnership_sites=cfg.patrol_partnership_sites)
        with stages.stage("patrol areas"):
            from geodemand.decide.patrol import patrol_areas

            plan = patrol_areas(
                ranking, areas, top_n=cfg.top_n, max_area_km2=cfg.max_area_km2,
                patrol_hours_per_day=cfg.patrol_hours_per_day,
                lpu_floor_hours=cfg.lpu_floor_hours, minutes_per_visit=cfg.minutes_per_visit,
                max_visits_per_day=cfg.max_visits_per_day, review_days=cfg.review_days,
            )
        with stages.stage("surfaces (KDE, Gi*)"):
            surfaces = _surfaces(ranking, areas, cfg)
        lpus = sorted(cfg.lpus) if cfg.lpus else sorted(areas.lpus["lpu"])
        with stages.stage("governance"):
            from geodemand.jobs.governance import add_status, prepare_governance

            gov = prepare_governance(cfg, period, table, areas, demand, ranking, plan, lpus)
            status = gov.status_text()
            ranking = dataclasses.replace(
                ranking,
                places=add_status(ranking.places, "target_id", status),
                cells=add_status(ranking.cells, "target_id", status),
                partnership=add_status(ranking.partnership, "target_id", status),
            )
            plan = dataclasses.replace(plan, areas=add_status(plan.areas, "area_id", status))
        out_root = Path(cfg.out)
        from geodemand.jobs.bundle import new_staging, publish, recover

        recover(out_root)
        staging = new_staging(out_root, period.label)
        try:
            from geodemand.jobs.outputs import BundleContext, write_bundle

            context = BundleContext(cfg, table, areas, demand, ranking, plan, surfaces, period,
                                    staging, lpus, (lpu_path, nb_path), gov)
            manifest = write_bundle(context, stages)
            with stages.stage("register"):
                gov.record()
            final = publish(staging, out_root, period.label)
        except BaseException:
            import shutil

            shutil.rmtree(staging, ignore_errors=True)
            raise
    finally:
        stages.close()
    return WeeklyResult(final, period, manifest, dict(stages.timings))


def _check_period_data(frame: pd.DataFrame, period: Period, requested: str | None) -> Period:
    """Warn loudly when the chosen period holds too little data (a stray record must not
    decide the reporting period); step back to the latest period with enough data when the
    period was chosen automatically."""
    counts = frame.groupby(frame["occurred"].dt.to_period("M" if period.kind == "month"
                                                            else "W-SUN")).size()
    if not len(counts):
        return period
    earlier = counts[counts.index.start_time < period.start]
    typical = float(earlier.tail(12).median()) if len(earlier) else float(counts.median())
    here = int(((frame["occurred"] >= period.start) & (frame["occurred"] < period.end)).sum())
    enough = max(1.0, 0.25 * typical)
    if here >= enough:
        return period
    if requested not in (None, "week", "month"):
        warn(f"the requested period {period.label} holds {here:,} incidents against a typical "
             f"{typical:,.0f} per {period.kind}: its figures will be unreliable")
        return period
    candidate = period
    for _ in range(60):
        candidate = candidate.shifted(-1)
        n = int(((frame["occurred"] >= candidate.start)
                 & (frame["occurred"] < candidate.end)).sum())
        if n >= enough:
            warn(
                f"the latest {period.kind} of the data, {period.label}, holds only {here:,} "
                f"incident(s) against a typical {typical:,.0f}: reporting {candidate.label}, "
                f"the latest {period.kind} with enough data (at least a quarter of the typical "
                "count); check the input for stray records"
            )
            return candidate
    warn(f"no {period.kind} holds enough data; reporting {period.label}")
    return period


def _surfaces(ranking, areas, cfg: WeeklyConfig) -> dict:
    """The map surfaces: recent-harm density and Gi* of harm, on the target grid, inside the
    force area only."""
    from geodemand.decide.targets import cell_mask
    from geodemand.engines.density import kde
    from geodemand.engines.hotspots import gistar

    demand = ranking.demand
    frame = demand.incidents
    grid = ranking.grid
    mask = cell_mask(grid, areas)
    weights = (frame["harm"] * frame["recency"]).to_numpy()
    density = kde(frame, grid, bandwidth_m=cfg.bandwidth_m, weights=weights, crs=demand.crs,
                  units="per_km2", clip_to=areas.lpus)
    unit = demand.harm.unit
    density = dataclasses.replace(density, units=f"recent {unit} per km²")
    counts = grid.bin_counts(frame["x"], frame["y"], weights=frame["harm"].to_numpy())
    hot = gistar(counts, grid=grid, mask=mask)
    n_outside = int((hot.bin[~mask] != 0).sum()) if hot.bin is not None else 0
    if n_outside:  # cannot happen: the mask leaves cells outside the force untested
        raise InvalidParameterError(f"{n_outside} Gi* cells outside the force were tested")
    emerging = _emerging(ranking, areas, cfg)
    return {"density": density, "hotspots": hot, "mask": mask, "emerging": emerging,
            "in_force_cells": int(mask.sum()), "cells_total": int(mask.size),
            "gistar_params": {**hot.params, "mask": "cells whose centre is inside an LPU"}}


def _emerging(ranking, areas, cfg: WeeklyConfig):
    """Emerging hot-spot patterns of harm on a coarser grid, one period per week or month;
    None when there are fewer than 6 periods."""
    from geodemand.decide.targets import cell_mask
    from geodemand.engines.emerging import emerging_hotspots
    from geodemand.grid import Grid

    demand = ranking.demand
    frame = demand.incidents
    kind = demand.period_kind
    if frame["period"].nunique() < 6:
        announce("emerging hot spots: fewer than 6 periods of data, not computed")
        return None
    grid = Grid.for_points(frame["x"], frame["y"], demand.crs,
                           cell_size=cfg.emerging_cell_size_m, padding=0.0)
    return emerging_hotspots(frame, grid=grid, period=kind, weights=frame["harm"].to_numpy(),
                             mask=cell_mask(grid, areas), start=frame["period"].min(),
                             end=demand.window_end + pd.Timedelta(seconds=1))


def _force_cells_concentration(ranking, mask: np.ndarray) -> dict:
    """Concentration of demand over every in-force cell of the target grid (zeros count)."""
    from geodemand.engines.repeats import concentration

    grid = ranking.grid
    frame = ranking.demand.incidents
    counts = grid.bin_counts(frame["x"], frame["y"])
    values = np.where(mask, counts, np.nan)
    return {"all_cells": concentration(values)}
