"""Control-plan sheets: explained scores, partnership plans, Markdown escaping."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

import geodemand as gd
from geodemand.decide.patrol import patrol_areas
from geodemand.decide.targets import rank_targets
from geodemand.demand.demand import prepare_demand
from geodemand.outputs.control_plans import control_plan_sheet, write_control_plans
from geodemand.outputs.names import file_stems

LPU = "St Matthew's <North> | East"


def build():
    rng = np.random.default_rng(4)
    months = pd.date_range("2020-01-01", periods=24, freq="MS")
    rows = []
    for m in months:
        for k, (label, x) in enumerate([("On or near St Mary's *Yard*", 400100.0),
                                        ("On or near Hospital", 400700.0),
                                        ("On or near O'Hara_s Lane", 401300.0)]):
            for _ in range(int(rng.poisson(6 if k != 1 else 9))):
                rows.append((label, x, 290100.0, m, "violence-and-sexual-offences"))
    f = pd.DataFrame(rows, columns=["raw_location", "x", "y", "occurred", "crime_type"])
    f["incident_id"] = [f"i{i}" for i in range(len(f))]
    f["date_precision"] = "month"
    f["location_key"] = "k" + f["x"].astype(int).astype(str)
    f["lpu"] = LPU
    f["neighbourhood"] = "Westcotes & <b>Fosse</b>"
    f["synthetic"] = False
    f.attrs["crs"] = "EPSG:27700"
    lpus = gpd.GeoDataFrame({"lpu": [LPU]}, geometry=[shapely.box(399000, 289000, 403000,
                                                                  291000)], crs="EPSG:27700")
    areas = gd.read_areas(lpus)
    demand = prepare_demand(f)
    ranking = rank_targets(demand, study_area=areas)
    return ranking, patrol_areas(ranking, areas, top_n=2)


def test_sheet_explains_the_score_and_separates_partnership_sites(tmp_path):
    ranking, plan = build()
    sheet = control_plan_sheet(ranking, plan, LPU)
    assert sheet.startswith("# Control plan: St Matthew's \\<North\\> \\| East")
    assert "expected harm next month (CCHI days) = expected incidents × harm per incident" in sheet
    assert "Partnership control plans" in sheet and "NHS trust" in sheet
    targets = sheet.split("## Top 10 places")[1].split("## Top 10 cells")[0]
    assert "Hospital" not in targets  # the hospital is a partnership site, not a target
    assert "St Mary's \\*Yard\\*" in targets and "O'Hara_s Lane" in targets
    assert "&#" not in sheet and "&amp;" not in sheet and "&lt;" not in sheet
    assert "Westcotes & \\<b\\>Fosse\\</b\\>" in sheet
    assert "officer-hours a day" in sheet and "visits of 15 minutes" in sheet
    paths = write_control_plans(ranking, plan, tmp_path, file_stems([LPU]), [LPU])
    assert [p.name for p in paths] == ["control_plan_st-matthew-s-north-east.md"]
    assert paths[0].read_text() == sheet
