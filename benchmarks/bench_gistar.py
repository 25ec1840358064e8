"""Gi* benchmarks: geodemand.gistar against esda.G_Local on an n x n grid of clustered counts.

* ``gistar-analytic``: analytic inference. geodemand computes z, two-sided p, BH q-values and
  bins; esda computes z and its normal p-value. esda is given the faster of its two weight
  inputs (libpysal ``W`` from ``lat2W(rook=False)`` or the ``Graph`` built from it), chosen by
  timing both once in ``setup``; the choice is reported as a note. Building the weights is
  not timed (geodemand needs none).
* ``gistar-perm99``: 99 conditional permutations. esda's own numba engine (``n_jobs=1``,
  ``keep_simulations=False``, fixed seed, the faster weights input) against geodemand's
  per-cell independent draws. Agreement: the z-scores are equal, and the mean upper-tail
  permutation p-value over clearly hot cells (z > 1) agrees within Monte Carlo error (the two
  use different random draws, so cell values cannot match exactly).
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np

from benchmarks.harness import Benchmark


def clustered_counts(side: int, seed: int = 7) -> np.ndarray:
    """Poisson counts (mean about 0.3 per cell) around 40 Gaussian hot spots."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:side, 0:side]
    intensity = np.full((side, side), 0.05)
    for _ in range(40):
        r0, c0 = rng.uniform(0, side, 2)
        sigma = rng.uniform(1.5, 6.0) * side / 300 * 3
        peak = rng.uniform(0.5, 4.0)
        intensity += peak * np.exp(-((rows - r0) ** 2 + (cols - c0) ** 2) / (2 * sigma**2))
    return rng.poisson(intensity).astype(np.float64)


def _weights(side: int):
    import libpysal
    from libpysal.graph import Graph

    w = libpysal.weights.lat2W(side, side, rook=False)
    return {"W": w, "Graph": Graph.from_W(w)}


def _esda_time(y, w, **kwargs) -> float:
    import esda

    t0 = time.perf_counter()
    esda.G_Local(y, w, transform="B", star=True, **kwargs)
    return time.perf_counter() - t0


def _setup(n: int, bench_name: str, esda_kwargs: dict) -> dict:
    side = int(round(math.sqrt(n)))
    counts = clustered_counts(side)
    y = counts.ravel()
    weights = _weights(side)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # warm up esda's numba functions on a tiny grid so the trials time no compilation
        tiny = clustered_counts(10).ravel() + 1
        for w in _weights(10).values():
            _esda_time(tiny, w, **esda_kwargs)
        timings = {name: _esda_time(y, w, **esda_kwargs) for name, w in weights.items()}
    faster = min(timings, key=timings.get)
    note = (f"esda weights input: {faster} (one untimed trial each: "
            + ", ".join(f"{k} {v:.3f} s" for k, v in timings.items()) + ")")
    bench = next(b for b in BENCHMARKS if b.name == bench_name)
    bench.notes[:] = [note]
    return {"counts": counts, "y": y, "w": weights[faster], "side": side}


# ---------------------------------------------------------------------------- analytic
def _ours_analytic(data):
    from geodemand.engines.hotspots import gistar

    return gistar(data["counts"])


def _peer_analytic(data):
    import esda

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return esda.G_Local(data["y"], data["w"], transform="B", star=True, permutations=0)


def _compare_analytic(ours, peer) -> str:
    z_err = float(np.max(np.abs(ours.z.ravel() - peer.Zs)))
    p_err = float(np.max(np.abs(ours.p_norm.ravel() - 2 * peer.p_norm)))
    assert z_err <= 1e-9, f"z-scores differ by {z_err:.3g}"
    assert p_err <= 1e-12, f"p-values differ by {p_err:.3g}"
    return f"max |dz| {z_err:.1e}, max |dp| {p_err:.1e}"


# ---------------------------------------------------------------------------- permutations
R = 99
SEED = 12345


def _ours_perm(data):
    from geodemand.engines.hotspots import gistar

    return gistar(data["counts"], permutations=R, seed=SEED)


def _peer_perm(data):
    import esda

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return esda.G_Local(data["y"], data["w"], transform="B", star=True, permutations=R,
                            n_jobs=1, keep_simulations=False, seed=SEED)


def _compare_perm(ours, peer) -> str:
    z_err = float(np.max(np.abs(ours.z.ravel() - peer.Zs)))
    assert z_err <= 1e-9, f"z-scores differ by {z_err:.3g}"
    hot = peer.Zs > 1.0
    # esda folds p_sim onto the smaller tail; for clearly hot cells that is the upper tail,
    # (#{sim >= obs} + 1) / (R + 1), the same definition as geodemand's p_high
    ours_mean = float(np.mean(ours.p_high.ravel()[hot]))
    peer_mean = float(np.mean(peer.p_sim[hot]))
    assert abs(ours_mean - peer_mean) < 0.02, (ours_mean, peer_mean)
    esda_sig = float(np.mean(peer.p_sim <= 0.05))
    ours_sig = float(np.mean(ours.p <= 0.05))
    return (f"max |dz| {z_err:.1e}; mean upper-tail p over {int(hot.sum())} cells with z>1: "
            f"ours {ours_mean:.4f}, esda {peer_mean:.4f}; share p<=0.05: esda (one-sided "
            f"folded) {esda_sig:.1%}, ours (two-sided, ties counted) {ours_sig:.1%}")


BENCHMARKS = [
    Benchmark(
        name="gistar-analytic",
        description="Gi* analytic z/p (+BH q, bins) on an n-cell square grid of counts vs "
        "esda.G_Local(star=True, transform='B', permutations=0)",
        setup=lambda n: _setup(n, "gistar-analytic", {"permutations": 0}),
        ours=_ours_analytic,
        peer=_peer_analytic,
        peer_name="esda.G_Local analytic",
        compare=_compare_analytic,
        quick_n=40_000,
        full_n=90_000,
        floor=40.0,
        target_ratio=100.0,
        repeats=21,
        peer_repeats=3,
    ),
    Benchmark(
        name="gistar-perm99",
        description="Gi* with 99 conditional permutations (per-cell draws) vs esda.G_Local "
        "numba engine (permutations=99, n_jobs=1, keep_simulations=False)",
        setup=lambda n: _setup(n, "gistar-perm99",
                               {"permutations": R, "n_jobs": 1, "keep_simulations": False,
                                "seed": SEED}),
        ours=_ours_perm,
        peer=_peer_perm,
        peer_name="esda.G_Local perm=99",
        compare=_compare_perm,
        quick_n=40_000,
        full_n=90_000,
        floor=2.5,
        target_ratio=3.0,
        repeats=3,
        peer_repeats=3,
    ),
]
