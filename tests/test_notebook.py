"""The docs notebook (GeoDataFrame -> KDE -> Gi* -> targets -> map) runs from top to bottom."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "quickstart.ipynb"


@pytest.mark.slow
def test_quickstart_notebook_runs(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = {i: cell.get("outputs", []) for i, cell in enumerate(nb.cells)
               if cell.cell_type == "code"}
    errors = [o for outs in outputs.values() for o in outs if o.get("output_type") == "error"]
    assert not errors
    html = [o["data"]["text/html"] for outs in outputs.values() for o in outs
            if "text/html" in o.get("data", {})]
    # results show themselves as HTML summaries, and the map is there
    assert any("KDEResult" in h for h in html) and any("GiStarResult" in h for h in html)
    assert any("leaflet" in h.lower() or "folium" in h.lower() for h in html)
    images = [o for outs in outputs.values() for o in outs if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # surface.plot() and hot.plot()


def test_notebook_matches_its_generator():
    """docs/quickstart.ipynb is what scripts/make_quickstart_notebook.py writes."""
    nbformat = pytest.importorskip("nbformat")
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_nb", ROOT / "scripts" / "make_quickstart_notebook.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built = module.build()
    stored = nbformat.read(NOTEBOOK, as_version=4)
    assert [c.source for c in stored.cells] == [c.source for c in built.cells]
