"""Kernel density benchmarks (issue 4, section 5).

Data: seeded synthetic clusters in metres (60 Gaussian clusters with sd 150-1,500 m plus 20 %
uniform background) inside a 30 x 30 km square, on a fixed 1200 x 1200 grid of 25 m cells;
search radius 200 m. The grid is the same at every size; only the number of points changes.

* ``kde-binned-kdepy``: geodemand binned mode (linear binning + FFT) against KDEpy
  ``FFTKDE(kernel="biweight", bw=200/sqrt(7))`` evaluated at the grid's cell centres (KDEpy's
  ``bw`` is the kernel's sd; the biweight's support radius is bw·√7). Agreement: binned
  against geodemand's exact result, and KDEpy against the exact result, both as max abs
  difference / peak (must be < 1 %).
* ``kde-exact-kdepy``: geodemand exact mode (every point adds its quartic kernel to every cell
  within 200 m) against the same KDEpy call. Agreement: max abs difference / peak.
* ``kde-exact-sklearn``: exact epanechnikov against scikit-learn ``KernelDensity``
  (``kernel="epanechnikov"``, ``algorithm="kd_tree"``, ``rtol=0``, exact). scikit-learn is
  timed on a random subsample of the cell centres (all points; the tree is built untimed) and
  its time extrapolated linearly to all 1.44 M cells. Agreement at the sampled cells after
  scaling by the total weight (max relative difference, must be < 1e-9).
* ``kde-exact-10m``: exact mode alone; target 5 s for 10 M points (scaled to the size).

Stacked real points (issue 18): police.uk positions are map points shared by many incidents,
so binning errors do not average out. Data: the 24 bundled real Leicestershire months
(192,482 located incidents at 12,641 map points), points inside a 1200 x 1200 grid of 25 m
centred on their median (with a 400 m margin), resampled with replacement (seeded) to N.

* ``kde-binned-stacked-kdepy``: binned mode (quartic, analytic) against the same KDEpy call
  as above, on the stacked points. Agreement: binned vs exact and KDEpy vs exact (both are
  about 1 % of the peak here: KDEpy bins linearly too), and ``method="auto"`` vs exact for
  every kernel, which must be <= 0.5 % of the peak (auto avoids binning where its error
  bound is above that).
* ``kde-auto-stacked-kdepy``: ``method="auto"`` (quartic; it picks exact at 8 cells per
  radius) against KDEpy on the stacked points. Agreement: auto vs exact, and KDEpy vs exact.

Peer comparisons use ``normalise="analytic"`` (the plain kernel formula, as the peers
compute); geodemand's default mass-conserving normalisation costs the same.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from benchmarks.harness import Benchmark

CRS = "EPSG:27700"
X0, Y0 = 440_000.0, 290_000.0
N_SIDE = 1200
CELL = 25.0
RADIUS = 200.0
SKLEARN_CELLS_QUICK = 400
SKLEARN_CELLS_FULL = 2_000

_CACHE: dict[str, Any] = {}


def clustered_points(n: int, seed: int = 20240501) -> tuple[np.ndarray, np.ndarray]:
    """``n`` clustered points (metres) strictly inside the benchmark grid."""
    rng = np.random.default_rng(seed)
    extent = N_SIDE * CELL
    margin = 2 * RADIUS
    k = 60
    centres = rng.uniform(margin + 2000, extent - margin - 2000, size=(k, 2))
    sds = rng.uniform(150.0, 1500.0, size=k)
    n_bg = n // 5
    which = rng.integers(0, k, size=n - n_bg)
    clustered = centres[which] + rng.normal(size=(n - n_bg, 2)) * sds[which, None]
    background = rng.uniform(margin, extent - margin, size=(n_bg, 2))
    pts = np.clip(np.concatenate([clustered, background]), margin, extent - margin)
    return pts[:, 0] + X0, pts[:, 1] + Y0


def bench_grid():
    from geodemand.grid import Grid

    return Grid(X0, Y0, CELL, N_SIDE, N_SIDE, CRS)


def _setup(n: int) -> dict:
    import pandas as pd

    x, y = clustered_points(n)
    frame = pd.DataFrame({"x": x, "y": y})
    frame.attrs["crs"] = CRS
    return {"points": frame, "grid": bench_grid(), "n": n}


def _kde(data: dict, method: str, kernel: str = "quartic"):
    from geodemand.engines.density import kde

    return kde(data["points"], data["grid"], bandwidth_m=RADIUS, kernel=kernel, method=method,
               normalise="analytic", units="per_m2")


def _exact_reference(data: dict) -> np.ndarray:
    """Exact quartic result (analytic), computed once per size for agreement checks."""
    if _CACHE.get("exact", (None,))[0] != data["n"]:
        _CACHE["exact"] = (data["n"], _kde(data, "exact").density)
    return _CACHE["exact"][1]


# ---------------------------------------------------------------------------- KDEpy
def _kdepy_setup(data: dict, n: int) -> dict:
    grid = data["grid"]
    xs = grid.col_centres()
    ys = grid.row_centres()[::-1]  # KDEpy needs a sorted grid: x slowest, y ascending
    mesh = np.column_stack([np.repeat(xs, ys.size), np.tile(ys, xs.size)])
    out = dict(data)
    out.update(mesh=mesh, xy=data["points"][["x", "y"]].to_numpy())
    return out


def _kdepy(data: dict) -> np.ndarray:
    from KDEpy import FFTKDE

    est = FFTKDE(kernel="biweight", bw=RADIUS / math.sqrt(7.0)).fit(data["xy"])
    dens = est.evaluate(data["mesh"])
    return dens  # per m², integrating to one, in KDEpy's grid order


def _kdepy_as_grid(dens: np.ndarray, n: int) -> np.ndarray:
    side = int(round(math.sqrt(dens.size)))
    return dens.reshape(side, side).T[::-1, :] * n


def _rel_peak(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def _compare_binned(ours, peer) -> str:
    n = ours.params["n_points"]
    cached_n, exact = _CACHE["exact"]
    assert cached_n == n
    err_exact = _rel_peak(ours.density, exact)
    err_peer = _rel_peak(_kdepy_as_grid(peer, n), exact)
    assert err_exact < 0.01, f"binned vs exact {err_exact:.2%} of peak"
    assert err_peer < 0.01, f"KDEpy vs exact {err_peer:.2%} of peak"
    return f"binned vs exact {err_exact:.3%} of peak; KDEpy vs exact {err_peer:.3%}"


def _compare_exact(ours, peer) -> str:
    n = ours.params["n_points"]
    err = _rel_peak(_kdepy_as_grid(peer, n), ours.density)
    assert err < 0.01, f"KDEpy vs exact {err:.2%} of peak"
    return f"KDEpy vs exact {err:.3%} of peak"


def _setup_binned(n: int) -> dict:
    data = _setup(n)
    _exact_reference(data)  # untimed reference for the agreement check
    return data


# ---------------------------------------------------------------------------- sklearn
def _sklearn_setup(data: dict, n: int) -> dict:
    from sklearn.neighbors import KernelDensity

    grid = data["grid"]
    n_cells = SKLEARN_CELLS_QUICK if n < 1_000_000 else SKLEARN_CELLS_FULL
    rng = np.random.default_rng(5)
    flat = np.sort(rng.choice(grid.n_rows * grid.n_cols, size=n_cells, replace=False))
    rows, cols = np.divmod(flat, grid.n_cols)
    centres = np.column_stack([grid.col_centres()[cols], grid.row_centres()[rows]])
    est = KernelDensity(kernel="epanechnikov", bandwidth=RADIUS, algorithm="kd_tree", rtol=0.0,
                        atol=0.0).fit(data["points"][["x", "y"]].to_numpy())
    out = dict(data)
    out.update(estimator=est, centres=centres, rows=rows, cols=cols, n_sub=n_cells)
    _CACHE["sklearn_cells"] = (rows, cols)
    return out


def _sklearn(data: dict) -> np.ndarray:
    return data["estimator"].score_samples(data["centres"])


def _sklearn_scale(data: dict, peer_data: dict) -> float:
    grid = data["grid"]
    return grid.n_rows * grid.n_cols / peer_data["n_sub"]


def _compare_sklearn(ours, peer) -> str:
    rows, cols = _CACHE["sklearn_cells"]
    n = ours.params["n_points"]
    sk = np.exp(peer) * n  # sklearn divides by the total weight
    mine = ours.density[rows, cols]
    peak = float(np.max(ours.density))
    # the tolerance of the tests: 1e-9 relative, plus 1e-12 of the peak for cells whose only
    # contributions come from points at the very edge of the kernel (values ~1e-12 of peak)
    bad = np.abs(mine - sk) > 1e-9 * np.abs(sk) + 1e-12 * peak
    assert not bad.any(), f"{int(bad.sum())} cells differ by more than 1e-9"
    big = sk > 1e-6 * peak
    err = float(np.max(np.abs(mine[big] - sk[big]) / sk[big])) if big.any() else 0.0
    return f"max rel diff {err:.1e} at {int(big.sum())} of {rows.size} cells (> 1e-6 peak)"


# ---------------------------------------------------------------------------- 10 M
def _compare_10m(ours, _peer) -> str:
    n = ours.params["n_points"]
    mass = ours.mass()
    assert abs(mass - n) <= 1e-6 * n, f"mass {mass} != {n}"
    return f"mass {mass:,.3f} of {n:,} (discrete normalisation)"


def _exact_default(data: dict):
    from geodemand.engines.density import kde

    return kde(data["points"], data["grid"], bandwidth_m=RADIUS, method="exact")


# ---------------------------------------------------------------------------- stacked real points
LEICS_MONTHS = 24


def stacked_points(n: int, seed: int = 20261130):
    """``n`` real Leicestershire police.uk points (resampled) and their 1200 x 1200 grid."""
    import pandas as pd

    from geodemand._announce import quiet
    from geodemand._paths import DATA_DIR
    from geodemand.grid import Grid
    from geodemand.ingest.incidents import read_incidents

    if "leics" not in _CACHE:
        quiet(True)
        frame = read_incidents(str(DATA_DIR / "incidents" / "leicestershire")).frame
        _CACHE["leics"] = (frame["x"].to_numpy(), frame["y"].to_numpy())
    x, y = _CACHE["leics"]
    cx, cy = float(np.median(x)), float(np.median(y))
    half = N_SIDE * CELL / 2
    grid = Grid(math.floor(cx - half), math.floor(cy - half), CELL, N_SIDE, N_SIDE, CRS)
    margin = 2 * RADIUS
    inside = np.flatnonzero(
        (x > grid.x_min + margin) & (x < grid.x_max - margin)
        & (y > grid.y_min + margin) & (y < grid.y_max - margin)
    )
    pick = np.random.default_rng(seed).choice(inside, n)
    frame = pd.DataFrame({"x": x[pick], "y": y[pick]})
    frame.attrs["crs"] = CRS
    return frame, grid


def _setup_stacked(n: int) -> dict:
    points, grid = stacked_points(n)
    data = {"points": points, "grid": grid, "n": n, "stacked": True}
    _CACHE["stacked_exact"] = (n, _kde(data, "exact").density)
    return data


def _stacked_exact(n: int) -> np.ndarray:
    cached_n, exact = _CACHE["stacked_exact"]
    assert cached_n == n
    return exact


def _auto_errors(data: dict) -> str:
    from geodemand.engines.density import KERNELS, kde

    parts = []
    for kernel in KERNELS:
        common = dict(bandwidth_m=RADIUS, kernel=kernel, normalise="analytic", units="per_m2")
        auto = kde(data["points"], data["grid"], **common)
        exact = kde(data["points"], data["grid"], method="exact", **common)
        err = _rel_peak(auto.density, exact.density)
        assert err <= 0.005, f"auto ({auto.params['method']}) {kernel} {err:.2%} of peak"
        parts.append(f"{kernel} {auto.params['method']} {err:.2%}")
    return "auto vs exact: " + ", ".join(parts)


def _compare_binned_stacked(ours, peer) -> str:
    n = ours.params["n_points"]
    exact = _stacked_exact(n)
    err = _rel_peak(ours.density, exact)
    err_peer = _rel_peak(_kdepy_as_grid(peer, n), exact)
    return (
        f"binned vs exact {err:.3%} of peak; KDEpy vs exact {err_peer:.3%}; "
        + _auto_errors(_CACHE["stacked_data"])
    )


def _compare_auto_stacked(ours, peer) -> str:
    n = ours.params["n_points"]
    exact = _stacked_exact(n)
    err = _rel_peak(ours.density, exact)
    assert err <= 0.005, f"auto vs exact {err:.2%} of peak"
    err_peer = _rel_peak(_kdepy_as_grid(peer, n), exact)
    return (
        f"auto chose {ours.params['method']}; auto vs exact {err:.3%} of peak; KDEpy vs exact "
        f"{err_peer:.3%}"
    )


def _setup_stacked_keep(n: int) -> dict:
    data = _setup_stacked(n)
    _CACHE["stacked_data"] = data
    return data


def _auto(data: dict):
    from geodemand.engines.density import kde

    return kde(data["points"], data["grid"], bandwidth_m=RADIUS, normalise="analytic",
               units="per_m2")


BENCHMARKS = [
    Benchmark(
        name="kde-binned-kdepy",
        description="KDE binned mode vs KDEpy FFTKDE biweight (bw=200/sqrt 7), 1200x1200 "
        "grid of 25 m, radius 200 m, clustered points",
        setup=_setup_binned,
        ours=lambda d: _kde(d, "binned"),
        peer=_kdepy,
        peer_name="KDEpy FFTKDE",
        peer_setup=_kdepy_setup,
        compare=_compare_binned,
        quick_n=100_000,
        full_n=1_000_000,
        floor=2.0,
        target_ratio=5.0,
    ),
    Benchmark(
        name="kde-exact-kdepy",
        description="KDE exact mode (quartic) vs KDEpy FFTKDE biweight (bw=200/sqrt 7), "
        "1200x1200 grid of 25 m, radius 200 m, clustered points",
        setup=_setup,
        ours=lambda d: _kde(d, "exact"),
        peer=_kdepy,
        peer_name="KDEpy FFTKDE",
        peer_setup=_kdepy_setup,
        compare=_compare_exact,
        quick_n=100_000,
        full_n=1_000_000,
        floor=1.5,
        target_ratio=1.0,
    ),
    Benchmark(
        name="kde-exact-sklearn",
        description="KDE exact mode (epanechnikov) vs scikit-learn KernelDensity "
        "(epanechnikov, kd_tree, exact), 1200x1200 grid of 25 m, radius 200 m",
        setup=_setup,
        ours=lambda d: _kde(d, "exact", "epanechnikov"),
        peer=_sklearn,
        peer_name="sklearn KernelDensity",
        peer_setup=_sklearn_setup,
        peer_scale=_sklearn_scale,
        peer_repeats=1,
        compare=_compare_sklearn,
        quick_n=100_000,
        full_n=1_000_000,
        floor=100.0,
        target_ratio=100.0,
        notes=["sklearn timed on a random subsample of cell centres (all points, tree built "
               "untimed) and extrapolated linearly to all cells"],
    ),
    Benchmark(
        name="kde-exact-10m",
        description="KDE exact mode (quartic, discrete normalisation) alone on the 1200x1200 "
        "grid, radius 200 m; target 5 s at 10 M points",
        setup=_setup,
        ours=_exact_default,
        compare=_compare_10m,
        quick_n=1_000_000,
        full_n=10_000_000,
        target_seconds=5.0,
        target_n=10_000_000,
        floor=1.0,
        repeats=3,
    ),
    Benchmark(
        name="kde-binned-stacked-kdepy",
        description="KDE binned mode vs KDEpy FFTKDE biweight on stacked real police.uk points "
        "(Leicestershire map points resampled), 1200x1200 grid of 25 m, radius 200 m",
        setup=_setup_stacked_keep,
        ours=lambda d: _kde(d, "binned"),
        peer=_kdepy,
        peer_name="KDEpy FFTKDE",
        peer_setup=_kdepy_setup,
        compare=_compare_binned_stacked,
        quick_n=100_000,
        full_n=1_000_000,
        floor=2.0,
        target_ratio=5.0,
    ),
    Benchmark(
        name="kde-auto-stacked-kdepy",
        description="KDE method='auto' (quartic; within 0.5 % of exact) vs KDEpy FFTKDE "
        "biweight on stacked real police.uk points, 1200x1200 grid of 25 m, radius 200 m",
        setup=_setup_stacked,
        ours=_auto,
        peer=_kdepy,
        peer_name="KDEpy FFTKDE",
        peer_setup=_kdepy_setup,
        compare=_compare_auto_stacked,
        quick_n=100_000,
        full_n=1_000_000,
        floor=1.0,
        target_ratio=1.0,
    ),
]
