"""Knox test: exact observed tables against published references and a brute-force twin,
Monte Carlo consistency with the Near Repeat Calculator, closure, metric, same-location band."""

from __future__ import annotations

import importlib
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geodemand.engines.nearrepeat import KnoxResult, event_days, knox, knox_permutation, plot_knox
from geodemand.errors import InvalidParameterError

DATA = Path(__file__).resolve().parent / "data"
REF = DATA / "reference_results"
KNOX = importlib.import_module("geodemand.engines.nearrepeat")


# --------------------------------------------------------------------------- reference twin


def _band_masks(v, edges, closure, exclude_zero):
    out = []
    for k in range(len(edges) - 1):
        a, b = edges[k], edges[k + 1]
        if closure == "left":
            m = (v >= a) & (v < b)
        else:
            m = ((v >= a) if k == 0 else (v > a)) & (v <= b)
        if exclude_zero:
            m &= v != 0
        out.append(m)
    return out


def brute_knox(x, y, t, space, time, closure="left", same=True, metric="euclidean"):
    """O(n^2) reference: every pair, its distance and gap, binned by plain numpy masks."""
    x, y, t = (np.asarray(a, dtype=np.float64) for a in (x, y, t))
    i, j = np.triu_indices(x.size, 1)
    dx = x[i] - x[j]
    dy = y[i] - y[j]
    d = np.abs(dx) + np.abs(dy) if metric == "manhattan" else np.sqrt(dx * dx + dy * dy)
    g = np.abs(t[i] - t[j])
    rows = ([d == 0] if same else []) + _band_masks(d, space, closure, same)
    cols = _band_masks(g, time, closure, False)
    return np.array([[np.count_nonzero(r & c) for c in cols] for r in rows], dtype=np.int64)


def _random_events(rng, n, n_sites, integer_days, heavy):
    sx = np.round(rng.uniform(0, 700, n_sites), int(rng.integers(0, 2)))
    sy = np.round(rng.uniform(0, 700, n_sites), 1)
    site = rng.integers(0, n_sites, n)
    if heavy:
        site[: n // 2] = 0  # one site with many events: the windowed path
    t = rng.integers(0, 60, n).astype(float) if integer_days else np.round(
        rng.uniform(0, 60, n), 3
    )
    return sx[site], sy[site], t


# --------------------------------------------------------------------------- published tables


def _chicago(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / "incidents" / "chicago" / name, header=None, names=["x", "y", "date"])


def _case_data(case: dict, cases: dict) -> str:
    text = case["data"]
    if text.startswith("as "):
        return _case_data(cases[text.split()[1]], cases)
    return text.split()[0]


def _nrc_edges(labels: list[str]) -> list[float]:
    """NRC labels 'Same location', '1 to 200', '201 to 400', 'More than 400' -> edges."""
    edges = [0.0]
    for lab in labels:
        m = re.fullmatch(r"(\d+) to (\d+)", lab.strip())
        if m:
            edges.append(float(m.group(2)))
    return edges + [math.inf]


def _tables_of_case(case: dict) -> list[tuple[str, dict]]:
    found = []
    if "observed" in case:
        found.append(("observed", case))
    for name, value in case.items():
        if isinstance(value, dict) and "observed" in value:
            found.append((name, value))
    return found


def test_every_published_observed_table_is_reproduced_exactly():
    spec = json.loads((REF / "knox_expected_tables.json").read_text())
    cases = {c["id"]: c for c in spec["cases"]}
    compared = 0
    for case in spec["cases"]:
        tables = _tables_of_case(case)
        assert tables, f"case {case['id']} has no observed table"
        path = _case_data(case, cases)
        for name, table in tables:
            expected = np.array(table["observed"], dtype=np.int64)
            if name == "observed":  # explicit breaks, closure and metric
                frame = _chicago(Path(path).name)
                t = event_days(pd.to_datetime(frame["date"]))
                closure = "left" if case["intervals"].startswith("closed_left") else "right"
                result = knox(
                    (frame["x"], frame["y"], t),
                    space_bands=[float(v) for v in case["s_breaks"]],
                    time_bands=[float(v) for v in case["t_breaks_days"]],
                    closure=closure, same_location_band=False, metric=case["metric"],
                    permutations=3, seed=1,
                )
            else:  # NRC output on the two-event fixture: NRC bands are [a-1, b), i.e. left
                fx = pd.read_csv(REF / "knox_pathological_example.csv")
                t = event_days(pd.to_datetime(fx["t"], format="%d/%m/%Y"))
                result = knox(
                    (fx["x"], fx["y"], t),
                    space_bands=_nrc_edges(table["rows"][1:]),
                    time_bands=_nrc_edges(table["cols"]),
                    closure="left", same_location_band=True, permutations=3, seed=1,
                )
            np.testing.assert_array_equal(result.observed, expected, err_msg=f"{case['id']}/{name}")
            compared += 1
    assert compared >= 4  # two Chicago tables + two NRC outputs of the fixture


def test_pathological_pair_is_binned_correctly_with_closed_right_bands():
    """The documented correct binning: 100 m and 3 days lie in the first bands (a, b]."""
    fx = pd.read_csv(REF / "knox_pathological_example.csv")
    t = event_days(pd.to_datetime(fx["t"], format="%d/%m/%Y"))
    res = knox((fx["x"], fx["y"], t), space_bands=[0, 200, 400, math.inf],
               time_bands=[0, 3, 6, math.inf], closure="right", permutations=2)
    assert res.space_labels[1] == "(0, 200] m" and res.time_labels[0] == "[0, 3] days"
    assert res.observed[1, 0] == 1 and res.observed.sum() == 1


# --------------------------------------------------------------------------- NRC Monte Carlo


def _parse_nrc_verbose(path: Path):
    """Simulated counts (R, S, T), observed and p-values from an NRC *_NRverbose_*.csv."""
    lines = path.read_text().splitlines()
    cells = {}
    i = 0
    while i < len(lines):
        m = re.match(r"Row (\d+) Column (\d+)", lines[i])
        if not m:
            i += 1
            continue
        key = (int(m.group(1)) - 1, int(m.group(2)) - 1)
        i += 1
        vals = [v for v in lines[i].split(",")[1:] if v.strip()]
        i += 1
        while not lines[i].startswith("Observed"):
            vals += [v for v in lines[i].split(",") if v.strip()]
            i += 1
        info = {}
        while lines[i].strip():
            k, v = lines[i].split(",", 1)
            info[k.strip()] = v.strip()
            i += 1
        cells[key] = (np.array(vals, dtype=float), int(info["Observed"]), float(info["P value"]))
    shape = (max(k[0] for k in cells) + 1, max(k[1] for k in cells) + 1)
    n_sim = len(cells[(0, 0)][0])
    sims = np.zeros((n_sim,) + shape)
    obs = np.zeros(shape, dtype=np.int64)
    p = np.zeros(shape)
    for (a, b), (v, o, pv) in cells.items():
        sims[:, a, b], obs[a, b], p[a, b] = v, o, pv
    return sims, obs, p


NRC_RUNS = [
    # file stem, data, space edges, time edges, float32 coordinates
    ("chicago_be_month1_NRverbose_2019-09-23_143005", "steenbeek_chicago_be_month1.csv",
     [0, 100, 200, 300, math.inf], [0, 7, 14, 21, math.inf], False),
    ("chicago_arson_NRverbose_2019-09-23_145637", "steenbeek_chicago_arson.csv",
     [0, 200, 400, 600, math.inf], [0, 1, 2, 3, math.inf], True),
]


@pytest.mark.parametrize("stem,data,space,time,single", NRC_RUNS)
def test_nrc_monte_carlo_outputs_agree_up_to_noise(stem, data, space, time, single):
    """Means of permuted counts, Knox ratios and p-values agree with the NRC's within Monte
    Carlo error: the NRC used R = 19 / 99 permutations, we use 999 with another generator."""
    sims_nrc, obs_nrc, p_nrc = _parse_nrc_verbose(REF / "knox_steenbeek" / f"{stem}.csv")
    frame = _chicago(data)
    x, y = frame["x"].to_numpy(), frame["y"].to_numpy()
    if single:  # the NRC reads coordinates in single precision: 3 pairs sit < 5 cm from 400 m
        x, y = x.astype(np.float32).astype(float), y.astype(np.float32).astype(float)
    t = event_days(pd.to_datetime(frame["date"]))
    ours = knox((x, y, t), space_bands=space, time_bands=time, metric="manhattan",
                permutations=999, seed=11)
    np.testing.assert_array_equal(ours.observed, obs_nrc)
    r_nrc = sims_nrc.shape[0]
    se = np.sqrt(sims_nrc.var(axis=0, ddof=1) / r_nrc + ours.simulated.var(axis=0, ddof=1) / 999)
    diff = np.abs(sims_nrc.mean(axis=0) - ours.sim_mean)
    both_zero = (se == 0) & (diff == 0)
    z = np.where(both_zero, 0.0, diff / np.where(se > 0, se, np.inf))
    assert np.all(np.isfinite(z)) and z.max() < 4.5  # 20 cells; P(|z| > 4.5) ~ 7e-6 each
    # Knox ratio: the same comparison expressed on observed / mean
    nrc_ratio = np.divide(obs_nrc, sims_nrc.mean(axis=0), out=np.zeros(obs_nrc.shape),
                          where=sims_nrc.mean(axis=0) > 0)
    ok = sims_nrc.mean(axis=0) > 0
    tol = 4.5 * obs_nrc[ok] * se[ok] / (sims_nrc.mean(axis=0)[ok] * ours.sim_mean[ok]) + 1e-12
    assert np.all(np.abs(nrc_ratio[ok] - ours.ratio[ok]) <= tol)
    # p-values: NRC's (X + 1) / (R + 1) with X ~ Binomial(R, pi); ours estimates pi closely
    pi = np.clip(ours.p_value, 1 / 1000, 1)
    tol_p = 4 * np.sqrt(pi * (1 - pi) / r_nrc) + 1 / (r_nrc + 1) + 2 / 1000
    assert np.all(np.abs(p_nrc - ours.p_value) <= tol_p)
    # and the decisions at the NRC's best attainable level agree on the strongest cells
    strong = ours.p_value <= 0.002
    assert strong.any() and np.all(p_nrc[strong] <= 2 / (r_nrc + 1))


# --------------------------------------------------------------------------- brute force


@pytest.mark.parametrize("closure", ["left", "right"])
@pytest.mark.parametrize("metric", ["euclidean", "manhattan"])
@pytest.mark.parametrize("same", [True, False])
def test_observed_and_every_permuted_table_equal_brute_force(closure, metric, same):
    rng = np.random.default_rng(hash((closure, metric, same)) % 2**32)
    for trial in range(6):
        n = int(rng.integers(2, 220))
        x, y, t = _random_events(rng, n, int(rng.integers(1, n + 1)), trial % 2 == 0,
                                 trial % 3 == 0)
        space = [0, 50, 100, 150.0] + ([math.inf] if trial % 2 else [])
        time = [0, 3, 7, 14.0] + ([math.inf] if trial < 3 else [])
        if trial == 5:
            space, time = [10, 50, 100.0, math.inf], [1, 3, 7.0, math.inf]
        if trial == 4:
            space, time = [0, math.inf], [0, math.inf]  # no finite edge beyond 0
        seed = int(rng.integers(0, 10_000))
        res = knox((x, y, t), space_bands=space, time_bands=time, closure=closure,
                   same_location_band=same, metric=metric, permutations=4, seed=seed)
        np.testing.assert_array_equal(res.observed, brute_knox(x, y, t, space, time, closure,
                                                               same, metric))
        for r in range(1, 5):
            perm = knox_permutation(n, seed, r)
            np.testing.assert_array_equal(
                res.simulated[r - 1],
                brute_knox(x, y, t[perm], space, time, closure, same, metric),
            )


def test_windowed_and_pointer_paths_equal_direct_path(monkeypatch):
    """Pairs of heavy sites use sorted-date windows (or pointers for long windows); forcing
    every site through each path gives identical tables, for integer, float and datetime
    times."""
    rng = np.random.default_rng(3)
    x, y, t = _random_events(rng, 400, 25, True, True)
    tf = t + np.round(rng.uniform(0, 1, t.size), 2)
    minutes = np.datetime64("2021-01-01T00:00") + rng.integers(0, 80_000, t.size).astype(
        "timedelta64[m]"
    )
    for times in (t, tf, minutes):
        results = []
        for heavy, pointer in ((2, 1e9), (2, 0.0), (10**9, 0.0)):
            monkeypatch.setattr(KNOX, "HEAVY_SITE_EVENTS", heavy)
            monkeypatch.setattr(KNOX, "POINTER_WINDOW_EVENTS", pointer)
            results.append(knox((x, y, times), space_bands=[0, 100, 250, math.inf],
                                time_bands=[0, 2, 7, 21, math.inf], permutations=6, seed=5))
        for other in results[1:]:
            np.testing.assert_array_equal(results[0].observed, other.observed)
            np.testing.assert_array_equal(results[0].simulated, other.simulated)
        if times.dtype.kind != "M":  # float / integer days: also against brute force
            np.testing.assert_array_equal(
                results[0].observed,
                brute_knox(x, y, times, [0, 100, 250, math.inf], [0, 2, 7, 21, math.inf]),
            )


def test_datetimes_are_compared_exactly_in_whole_minutes():
    """A pair exactly 7 days apart (to the minute) falls in [7, 14) with left closure."""
    occurred = pd.to_datetime(["2021-03-01 10:15", "2021-03-08 10:15", "2021-03-08 10:14"])
    frame = pd.DataFrame({"x": [0.0, 10.0, 500.0], "y": [0.0, 0.0, 0.0], "occurred": occurred,
                          "date_precision": "minute"})
    res = knox(frame, space_bands=[0, 100, math.inf], time_bands=[0, 7, 14, math.inf],
               same_location_band=False, permutations=2)
    assert res.params["time_unit"] == "minute"
    np.testing.assert_array_equal(res.observed, [[0, 1, 0], [2, 0, 0]])
    ns = occurred.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    gaps = np.abs(ns[:, None] - ns[None, :])[np.triu_indices(3, 1)]
    assert sorted(gaps.tolist()) == [60 * 10**9, 7 * 86_400 * 10**9 - 60 * 10**9,
                                     7 * 86_400 * 10**9]


# --------------------------------------------------------------------------- semantics


def test_euclidean_and_manhattan_distances_differ_as_expected():
    pts = ([0.0, 60.0], [0.0, 80.0], [0.0, 1.0])  # Euclidean 100 m, Manhattan 140 m
    e = knox(pts, space_bands=[0, 100, 150, math.inf], time_bands=[0, 7, math.inf],
             permutations=2)
    m = knox(pts, space_bands=[0, 100, 150, math.inf], time_bands=[0, 7, math.inf],
             permutations=2, metric="manhattan")
    assert e.observed[2, 0] == 1  # [100, 150) m, Euclidean 100 exactly on the edge
    assert m.observed[2, 0] == 1  # [100, 150) m, Manhattan 140
    e_right = knox(pts, space_bands=[0, 100, 150, math.inf], time_bands=[0, 7, math.inf],
                   permutations=2, closure="right")
    m_right = knox(pts, space_bands=[0, 100, 150, math.inf], time_bands=[0, 7, math.inf],
                   permutations=2, closure="right", metric="manhattan")
    assert e_right.observed[1, 0] == 1  # (0, 100]
    assert m_right.observed[2, 0] == 1  # (100, 150]


def test_closure_left_and_right_on_exact_edges():
    # pairs at exactly 100 m and exactly 7 days
    pts = ([0.0, 100.0], [0.0, 0.0], [0.0, 7.0])
    left = knox(pts, space_bands=[0, 100, 200, math.inf], time_bands=[0, 7, 14, math.inf],
                permutations=2, same_location_band=False)
    right = knox(pts, space_bands=[0, 100, 200, math.inf], time_bands=[0, 7, 14, math.inf],
                 permutations=2, same_location_band=False, closure="right")
    assert left.observed[1, 1] == 1 and left.observed.sum() == 1
    assert right.observed[0, 0] == 1 and right.observed.sum() == 1
    assert left.space_labels == ("[0, 100) m", "[100, 200) m", "[200, inf) m")
    assert right.space_labels == ("[0, 100] m", "(100, 200] m", "(200, inf) m")
    assert right.time_labels[0] == "[0, 7] days"


def test_same_location_band_takes_distance_zero_only():
    pts = ([0.0, 0.0, 30.0], [0.0, 0.0, 0.0], [0.0, 1.0, 2.0])
    with_band = knox(pts, space_bands=[0, 100, math.inf], time_bands=[0, 7, math.inf],
                     permutations=2)
    without = knox(pts, space_bands=[0, 100, math.inf], time_bands=[0, 7, math.inf],
                   permutations=2, same_location_band=False)
    np.testing.assert_array_equal(with_band.observed, [[1, 0], [2, 0], [0, 0]])
    np.testing.assert_array_equal(without.observed, [[3, 0], [0, 0]])
    assert with_band.space_labels[:2] == ("same location (0 m)", "(0, 100) m")


def test_pairs_outside_finite_edges_are_left_out_and_counted():
    pts = ([0.0, 50.0, 5000.0], [0.0, 0.0, 0.0], [0.0, 1.0, 100.0])
    res = knox(pts, space_bands=[10, 100], time_bands=[0, 7], permutations=3)
    np.testing.assert_array_equal(res.observed, [[0], [1]])
    assert res.n_pairs == 3 and res.n_pairs_in_table == 1


def test_table_totals_and_permutation_invariants():
    rng = np.random.default_rng(8)
    x, y, t = _random_events(rng, 600, 120, True, False)
    res = knox((x, y, t), space_bands=[0, 50, 100, math.inf], time_bands=[0, 7, 14, math.inf],
               permutations=20, seed=2)
    n_pairs = 600 * 599 // 2
    assert res.observed.sum() == n_pairs and (res.simulated.sum(axis=(1, 2)) == n_pairs).all()
    # locations are fixed: each space row's total never changes; the dates' multiset is
    # fixed: each time column's total never changes
    assert (res.simulated.sum(axis=2) == res.observed.sum(axis=1)).all()
    assert (res.simulated.sum(axis=1) == res.observed.sum(axis=0)).all()
    np.testing.assert_allclose(res.sim_mean, res.simulated.mean(axis=0))
    np.testing.assert_allclose(res.sim_median, np.median(res.simulated, axis=0))
    expected_p = ((res.simulated >= res.observed).sum(axis=0) + 1) / 21
    np.testing.assert_allclose(res.p_value, expected_p)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.testing.assert_allclose(res.ratio, res.observed / res.simulated.mean(axis=0))


def test_seeded_permutations_are_reproducible_and_block_independent():
    rng = np.random.default_rng(4)
    x, y, t = _random_events(rng, 300, 60, True, False)
    kwargs = {"space_bands": [0, 80, 160, math.inf], "time_bands": [0, 5, 10, math.inf],
              "permutations": 30, "seed": 99}
    a = knox((x, y, t), **kwargs)
    b = knox((x, y, t), **kwargs, max_memory_mb=300 * 2 * 7 / 2**20)  # several blocks
    c = knox((x, y, t), **{**kwargs, "seed": 100})
    assert 1 <= b.params["block_width"] <= 7
    np.testing.assert_array_equal(a.simulated, b.simulated)
    assert not np.array_equal(a.simulated, c.simulated)
    perm = knox_permutation(300, 99, 1)
    assert sorted(perm.tolist()) == list(range(300))
    assert not np.array_equal(perm, knox_permutation(300, 99, 2))


def test_incident_frame_input_and_month_precision_rules():
    rng = np.random.default_rng(2)
    n = 50
    frame = pd.DataFrame({
        "x": rng.uniform(0, 300, n), "y": rng.uniform(0, 300, n),
        "occurred": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 90, n), "D"),
        "date_precision": "day",
    })
    before = frame.copy()
    res = knox(frame, space_bands=[0, 100, math.inf], time_bands=[0, 7, math.inf],
               permutations=5)
    pd.testing.assert_frame_equal(frame, before)  # input not mutated
    assert isinstance(res, KnoxResult) and res.params["time_unit"] == "day"
    t_days = (frame["occurred"] - frame["occurred"].min()).dt.days.to_numpy()
    np.testing.assert_array_equal(res.observed, brute_knox(frame["x"], frame["y"], t_days,
                                                           [0, 100, math.inf],
                                                           [0, 7, math.inf]))
    monthly = frame.assign(date_precision="month")
    with pytest.raises(InvalidParameterError, match="month"):
        knox(monthly, permutations=2)
    assert knox(monthly, permutations=2, allow_month_precision=True).n_events == n
    mixed = frame.assign(date_precision=["month"] + ["day"] * (n - 1))
    with pytest.warns(UserWarning, match="1 of 50 incidents have only a month date"):
        knox(mixed, permutations=2)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"space_bands": [0]}, "at least two"),
        ({"space_bands": [0, 100, 50]}, "strictly increasing"),
        ({"time_bands": [0, math.inf, 10]}, "only the last"),
        ({"time_bands": [-1, 5]}, ">= 0"),
        ({"closure": "both"}, "closure"),
        ({"metric": "chebyshev"}, "metric"),
        ({"permutations": 0}, "permutations"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_parameters_are_refused(kwargs, match):
    with pytest.raises(InvalidParameterError, match=match):
        knox(([0.0, 1.0], [0.0, 1.0], [0.0, 1.0]), **kwargs)


def test_bad_inputs_name_the_field():
    with pytest.raises(InvalidParameterError, match="field x, row 1"):
        knox(([0.0, np.nan], [0.0, 1.0], [0.0, 1.0]))
    with pytest.raises(InvalidParameterError, match="field t, row 0"):
        knox(([0.0, 1.0], [0.0, 1.0], [np.inf, 1.0]))
    with pytest.raises(InvalidParameterError, match="lack column"):
        knox(pd.DataFrame({"x": [0.0], "y": [0.0]}))
    with pytest.raises(InvalidParameterError, match=">= 2 events"):
        knox(([0.0], [0.0], [0.0]))


def test_outputs_table_frame_and_heat_map(tmp_path):
    rng = np.random.default_rng(1)
    x, y, t = _random_events(rng, 200, 50, True, False)
    res = knox((x, y, t), permutations=9)
    long = res.to_frame()
    assert len(long) == res.observed.size and long["observed"].sum() == res.observed.sum()
    assert list(res.table("observed").index) == list(res.space_labels)
    with pytest.raises(InvalidParameterError):
        res.table("nonsense")
    fig = plot_knox(res, tmp_path / "sub" / "knox.png")
    assert fig.axes[0].get_xlabel() == "time between events"
    png = tmp_path / "sub" / "knox.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in png.parent.iterdir()] == ["knox.png"]  # no temp file left


def test_larger_clustered_data_in_several_blocks_agrees_with_brute_force():
    """3,000 events in dense clusters (heavy sites, several permutation blocks): observed and
    permuted tables equal brute force; the candidate count equals the pairs below 300 m."""
    rng = np.random.default_rng(12)
    centres = rng.uniform(0, 3000, (15, 2))
    pick = rng.integers(0, 15, 3000)
    sites = np.round(centres[pick] + rng.normal(0, 60, (3000, 2)) * (rng.random((3000, 1)) < .6))
    t = rng.integers(0, 365, 3000).astype(float)
    space, time = [0, 100, 200, 300, math.inf], [0, 7, 14, 28, math.inf]
    res = knox((sites[:, 0], sites[:, 1], t), space_bands=space, time_bands=time,
               permutations=3, seed=7, max_memory_mb=0.01)
    assert res.params["block_width"] < 4
    np.testing.assert_array_equal(res.observed, brute_knox(sites[:, 0], sites[:, 1], t, space,
                                                           time))
    i, j = np.triu_indices(3000, 1)
    dx, dy = (sites[i] - sites[j]).T
    assert res.n_candidate_pairs == np.count_nonzero(np.sqrt(dx * dx + dy * dy) < 300)
    perm = knox_permutation(3000, 7, 3)
    np.testing.assert_array_equal(res.simulated[2], brute_knox(sites[:, 0], sites[:, 1], t[perm],
                                                               space, time))


def test_knox_command_writes_table_and_heat_map(tmp_path):
    from click.testing import CliRunner

    from geodemand.cli.commands.knox import command

    memphis = DATA / "incidents" / "memphis" / "memphis_robberies_2019.csv.gz"
    out = tmp_path / "out"
    run = CliRunner().invoke(command, ["--incidents", str(memphis), "--permutations", "9",
                                       "--seed", "3",
                                       "--space-bands", "0,100,200,inf", "--time-bands",
                                       "0,7,14,inf", "--out", str(out)])
    assert run.exit_code == 0, run.output
    table = pd.read_csv(out / "knox_table.csv")
    assert len(table) == 4 * 3 and table["observed"].sum() == 2245 * 2244 // 2
    assert "same location (0 m)" in run.output and "[100, 200) m" in run.output
    assert (out / "knox.png").read_bytes()[:4] == b"\x89PNG"
    leics = sorted((DATA / "police_uk" / "leicestershire").glob("*.csv.gz"))[0]
    refused = CliRunner().invoke(command, ["--incidents", str(leics), "--out", str(tmp_path / "m")])
    assert isinstance(refused.exception, InvalidParameterError)
    assert "month" in str(refused.exception)
    bad = CliRunner().invoke(command, ["--incidents", str(memphis), "--crime-type", "burglary",
                                       "--out", str(tmp_path / "b")])
    assert isinstance(bad.exception, InvalidParameterError)
    assert "no such type" in str(bad.exception)


def test_geodemand_knox_is_the_function_after_importing_the_module():
    import geodemand
    import geodemand.engines.nearrepeat  # its own name: importing it cannot rebind geodemand.knox

    assert geodemand.knox is geodemand.engines.nearrepeat.knox
    res = geodemand.knox(([0.0, 1.0, 5.0], [0.0, 0.0, 0.0], [0.0, 1.0, 2.0]), permutations=2)
    assert isinstance(res, KnoxResult) and res.observed.sum() == 3
