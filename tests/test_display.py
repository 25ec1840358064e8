"""Results in a notebook: short reprs, escaped HTML summaries, ``plot(ax=None)`` returning the
Axes, ``to_xarray()`` on the grid with the CRS and coordinates right."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import geodemand as gd
from geodemand.engines.emerging import SpaceTimeCube
from geodemand.errors import InvalidParameterError

CRS = "EPSG:27700"
PAYLOAD = "<script>alert('x')</script>{{ 7*7 }}"


@pytest.fixture(scope="module")
def points() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 600
    frame = pd.DataFrame({
        "x": np.concatenate([rng.normal(400_000, 120, n // 2), rng.uniform(399_000, 401_000,
                                                                           n // 2)]),
        "y": np.concatenate([rng.normal(280_000, 120, n // 2), rng.uniform(279_000, 281_000,
                                                                           n // 2)]),
        "occurred": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 365, n), "D"),
        "location_key": [f"p{i % 150}" for i in range(n)],
        "crime_type": "burglary",
        "lpu": np.where(np.arange(n) % 2, "North", PAYLOAD),
    })
    frame.attrs["crs"] = CRS
    return frame


def _axes(ax) -> None:
    assert isinstance(ax, matplotlib.axes.Axes)
    assert ax.has_data() or ax.images or ax.collections or ax.patches


def test_kde_repr_html_plot_xarray(points):
    result = gd.kde(points, bandwidth_m=200, cell_size_m=50, method="exact")
    text = repr(result)
    assert text.startswith("KDEResult") and "bandwidth_m: 200" in text
    assert "array(" not in text  # not a dataclass dump
    assert "<table>" in result._repr_html_()
    _axes(result.plot())
    fig = Figure()
    ax = fig.add_subplot()
    assert result.plot(ax=ax) is ax  # draws into the given Axes
    da = result.to_xarray()
    assert da.dims == ("y", "x") and da.shape == result.grid.shape
    np.testing.assert_array_equal(da.values, result.density)
    # coordinates are cell centres: first column x_min + cs/2, first row (north) y_max - cs/2
    g = result.grid
    assert da.x.values[0] == pytest.approx(g.x_min + g.cell_size / 2)
    assert da.y.values[0] == pytest.approx(g.y_max - g.cell_size / 2)
    assert "British National Grid" in da.attrs["crs"] and da.attrs["cell_size_m"] == 50.0
    # the peak found through xarray is the result's own peak
    peak = da.where(da == da.max(), drop=True)
    x, y, value = result.peak()
    assert float(peak.x[0]) == pytest.approx(x) and float(peak.y[0]) == pytest.approx(y)
    assert float(peak.max()) == pytest.approx(value)


def test_gistar_display(points):
    grid = gd.Grid.for_points(points["x"].to_numpy(), points["y"].to_numpy(), CRS, 100.0)
    result = gd.gistar(points, grid=grid)
    assert repr(result).startswith("GiStarResult")
    assert f"hot spots (bin > 0): {int((result.bin > 0).sum())}" in repr(result)
    _axes(result.plot())
    _axes(result.plot(layer="z"))
    ds = result.to_xarray()
    assert set(ds.data_vars) == {"z", "p", "q", "bin", "value", "local_sum"}
    np.testing.assert_array_equal(ds["bin"].values[result.mask], result.bin[result.mask])
    assert np.isnan(ds["z"].values[~result.mask]).all()


def test_gistar_without_grid_says_so():
    result = gd.gistar(np.arange(25.0).reshape(5, 5))
    with pytest.raises(InvalidParameterError, match="not on a grid"):
        result.to_xarray()


def test_emerging_display():
    rng = np.random.default_rng(0)
    counts = rng.poisson(1.0, size=(10, 12, 12)).astype(np.int64)
    counts[:, 5:7, 5:7] += np.arange(10)[:, None, None] * 3  # intensifying
    grid = gd.Grid(x_min=0.0, y_min=0.0, cell_size=100.0, n_rows=12, n_cols=12, crs=CRS)
    starts = pd.date_range("2024-01-01", periods=10, freq="7D")
    cube = SpaceTimeCube(counts=counts, period_starts=starts,
                         period_end=starts[-1] + pd.Timedelta(days=7), period="week",
                         grid=grid, params={})
    result = gd.emerging_hotspots(cube)
    assert repr(result).startswith("EmergingResult") and "periods: 10 weeks" in repr(result)
    _axes(result.plot())
    ds = result.to_xarray()
    assert ds["counts"].dims == ("period", "y", "x") and ds.sizes["period"] == 10
    assert pd.Timestamp(ds.period.values[0]) == starts[0]
    np.testing.assert_array_equal(ds["counts"].values, counts.astype(float))


def test_knox_display(points):
    result = gd.knox(points, space_bands=[100, 200], time_bands=[7, 14], permutations=19,
                     seed=1)
    assert repr(result).startswith("KnoxResult") and "events: 600" in repr(result)
    html = result._repr_html_()
    assert "<table" in html and "distance" in html
    _axes(result.plot())
    figure = gd.plot_knox(result)  # the plot_* function returns a Figure, path optional
    assert isinstance(figure, Figure)


def test_concentration_display_escapes_group_names(points):
    result = gd.concentration(points, by="lpu")
    html = result._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "Gini" in repr(result)
    _axes(result.plot())
    assert isinstance(gd.plot_concentration(result), Figure)


def test_period_change_display():
    grid = gd.Grid(x_min=0.0, y_min=0.0, cell_size=100.0, n_rows=4, n_cols=4, crs=CRS)
    current = np.zeros((4, 4))
    current[1, 1] = 30
    baseline = np.full((4, 4), 12.0)
    result = gd.period_change(current, baseline, baseline_periods=12, grid=grid)
    assert "significant increase: 1" in repr(result)
    _axes(result.plot())
    by_area = gd.period_change(pd.Series({"a": 30, PAYLOAD: 1}),
                               pd.Series({"a": 12, PAYLOAD: 12}), baseline_periods=12)
    assert "<script>" not in by_area._repr_html_()
    _axes(by_area.plot())


def test_html_summaries_escape_parameters(points):
    result = gd.kde(points, bandwidth_m=200, cell_size_m=50, method="exact")
    params = dict(result.params, note=PAYLOAD)
    hostile = type(result)(result.density, result.grid, result.units, params)
    html = hostile._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "{{ 7*7 }}" in html  # shown as text, never evaluated (no template engine)


def test_to_xarray_without_xarray_says_how_to_install(points, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_xarray(name, *args, **kwargs):
        if name == "xarray":
            raise ImportError("no xarray")
        return real_import(name, *args, **kwargs)

    result = gd.kde(points, bandwidth_m=200, cell_size_m=50, method="exact")
    monkeypatch.setattr(builtins, "__import__", no_xarray)
    with pytest.raises(InvalidParameterError, match=r"geodemand\[xarray\]"):
        result.to_xarray()
