"""The weekly job end to end: bundle contents, manifest, synthetic labelling, real data, errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import geopandas as gpd
import pandas as pd
import pytest
import rasterio
from click.testing import CliRunner

from geodemand.cli import main
from geodemand.jobs.weekly import WeeklyConfig, run_weekly

LPU_FILES = {
    "birmingham-east", "birmingham-north", "birmingham-south", "birmingham-west-and-central",
    "coventry", "dudley", "sandwell", "solihull", "walsall", "wolverhampton",
}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("maps")
    return run_weekly(WeeklyConfig(out=str(out), tiles="none"), quiet=True)


def test_default_run_writes_the_whole_bundle(demo_run):
    d = demo_run.out_dir
    assert d.name == demo_run.period.label and demo_run.period.kind == "week"
    names = {p.name for p in d.iterdir()}
    expected = {"force.html", "patrol_areas.geojson", "patrol_areas.gpkg", "targets.csv",
                "density.tif", "hotspots.tif", "summary.md", "rejects.csv", "manifest.json",
                "force.png", "knox.png"}
    assert expected <= names
    assert {f"{s}.html" for s in LPU_FILES} <= names
    assert {f"control_plan_{s}.md" for s in LPU_FILES} <= names
    assert not [n for n in names if n.startswith(".")]  # no temporary files
    # published atomically: a link to a complete version, no staging folder left
    assert d.is_symlink() and d.resolve().parent.name == ".bundles"
    assert {p.name for p in d.parent.iterdir()} == {d.name, ".bundles", ".lock", "register.gpkg"}
    assert not list((d.parent / ".bundles").glob("*.partial"))


def test_manifest_records_inputs_rows_window_and_synthetic(demo_run):
    m = json.loads((demo_run.out_dir / "manifest.json").read_text())
    assert m["synthetic"] is True
    assert len(m["inputs"][0]["sha256"]) == 64
    rows = m["rows"]
    assert rows["read"] == rows["accepted"] + rows["rejected"]
    assert rows["outside_every_lpu"] >= 0
    assert m["data_window"]["start"] and m["data_window"]["end"]
    assert m["parameters"]["demand"]["window_days"] == 730
    assert m["demand"]["excluded"]["police_generated"] > 0  # police-generated types excluded
    assert m["demand"]["harm_table"]["scheme"] == "cchi"
    assert m["parameters"]["score"]["formula"].startswith("expected_harm")
    assert {"numpy", "geopandas", "numba", "folium"} <= set(m["versions"])
    assert set(m["timings_s"]) >= {"ingest", "areas", "maps", "summary"}
    for name, info in m["outputs"].items():
        assert len(info["sha256"]) == 64, name


def test_outputs_are_consistent(demo_run):
    d = demo_run.out_dir
    patrol = gpd.read_file(d / "patrol_areas.geojson")
    assert len(patrol) == demo_run.manifest["n_patrol_areas"] > 0
    targets = pd.read_csv(d / "targets.csv")
    assert set(targets["target_type"]) == {"place", "cell", "partnership site"}
    # the demo's named places include hospitals, stations...: listed for partners, not patrol
    sites = targets[targets["target_type"] == "partnership site"]
    assert sites["partnership_reason"].str.len().gt(0).all()
    patrol_targets = set(patrol["area_id"].str.removeprefix("area:"))
    assert not patrol_targets & set(sites["target_id"])
    with rasterio.open(d / "density.tif") as src:
        assert src.crs.to_epsg() == 27700
    with rasterio.open(d / "hotspots.tif") as src:
        classes = src.read(1)  # Gi* bin + 3 (0..6), 255 outside the force
        assert src.nodata == 255 and (classes == 255).any()
        inside = classes[classes != 255]
        assert inside.min() >= 0 and inside.max() <= 6
        assert src.colormap(1) and src.dtypes[0] == "uint8"
    summary = (d / "summary.md").read_text()
    assert "SYNTHETIC DATA" in summary and "Knox" in summary
    assert "Birmingham East" in summary and "previous" in summary
    assert summary.count("Knox ratio") >= 10  # a near-repeat line per LPU
    html = (d / "force.html").read_text()
    assert "SYNTHETIC DATA" in html
    # self-contained: nothing is loaded from outside (works offline)
    assert not re.search(r"""<(script|link|img)[^>]*(src|href)\s*=\s*["']https?://""", html)


def test_month_precision_real_data_gives_a_month(tmp_path, data_dir):
    cfg = WeeklyConfig(
        incidents=(str(data_dir / "incidents/west-midlands/2018-06-west-midlands-api.csv.gz"),),
        out=str(tmp_path), tiles="none", lpus=("Coventry",),
    )
    res = run_weekly(cfg, quiet=True)
    assert res.period.kind == "month" and res.period.label == "2018-06"
    names = {p.name for p in res.out_dir.iterdir()}
    assert "coventry.html" in names and "dudley.html" not in names
    summary = (res.out_dir / "summary.md").read_text()
    assert "month precision" in summary and "SYNTHETIC" not in summary
    assert json.loads((res.out_dir / "manifest.json").read_text())["synthetic"] is False


def test_config_file_and_cli_errors(tmp_path, data_dir):
    cfg_path = tmp_path / "weekly.toml"
    cfg_path.write_text(
        "[weekly]\n"
        f'incidents = ["{data_dir / "incidents/west-midlands/2018-06-west-midlands-api.csv.gz"}"]\n'
        'lpus = ["Solihull"]\ntiles = "none"\ntop_n = 2\n'
    )
    cfg = WeeklyConfig.from_toml(cfg_path, out=str(tmp_path / "o"))
    assert cfg.lpus == ("Solihull",) and cfg.top_n == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("colour = 'red'\n")
    res = CliRunner().invoke(main, ["-q", "weekly", "--config", str(bad)])
    assert res.exit_code == 2 and "unknown option" in res.output
    proc = subprocess.run(
        [sys.executable, "-m", "geodemand.cli", "-q", "weekly", "--incidents",
         str(tmp_path / "no.csv")], capture_output=True, text=True,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    res = CliRunner().invoke(main, ["-q", "weekly", "--config", str(cfg_path), "--lpu",
                                    "Atlantis", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "Atlantis" in res.output
    assert not (tmp_path / "o").exists() or not [
        p for p in (tmp_path / "o").iterdir() if not p.name.startswith(".")]


def test_template_syntax_in_file_names_and_fields_never_runs(tmp_path, data_dir):
    """A crafted incident file (Jinja in its name and in every text field) runs no code."""
    import base64

    src = data_dir / "incidents/leicestershire/2021-11-leicestershire-street.csv.gz"
    frame = pd.read_csv(src, dtype=str, keep_default_na=False).head(3000)
    exec_field = "{{ lipsum.__globals__.os.makedirs('pwned-field') }}"
    for column in ("Location", "LSOA name", "Context", "Last outcome category"):
        frame.loc[:300, column] = f"{exec_field} {{{{7*7}}}} <script>window.__xss=1</script>"
    name = "{{ lipsum.__globals__.os.makedirs('pwned-name') }}.csv"
    (tmp_path / "in").mkdir()
    frame.to_csv(tmp_path / "in" / name, index=False)
    bounds = data_dir / "boundaries" / "leicestershire"
    proc = subprocess.run(
        [sys.executable, "-m", "geodemand.cli", "-q", "weekly", "--incidents", "in",
         "--lpu-boundaries", str(bounds / "lpus.geojson"),
         "--neighbourhood-boundaries", str(bounds / "neighbourhoods.geojson"),
         "--tiles", "none", "--out", "maps"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "pwned-field").exists() and not (tmp_path / "pwned-name").exists()
    [bundle] = [p for p in (tmp_path / "maps").iterdir()
                if p.is_dir() and not p.name.startswith(".")]
    for page in bundle.glob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert "lipsum" not in html and "{{7*7}}" not in html
        encoded = re.search(r'atob\("([A-Za-z0-9+/=]*)"\)', html).group(1)
        payload = json.loads(base64.b64decode(encoded).decode("utf-8"))
        shown = json.dumps(payload, ensure_ascii=False)
        assert exec_field in shown or page.name != "force.html"  # labels shown literally
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["inputs"][0]["path"].endswith(name)  # the file list is in the manifest
