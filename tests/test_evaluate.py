"""Hit rate, PAI, PEI* and RRI against hand-computed cases, ptools and slow reference twins."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import linprog

from geodemand.errors import InvalidParameterError
from geodemand.evaluate.metrics import (
    capture_metrics,
    hit_rate,
    max_capture,
    pai,
    pei_star,
    rri,
    selection_metrics,
)

# The ptools toy case (apwheele/ptools, R/pai.R, example of ``pai()``): six equal units.
OBS = [6, 7, 3, 2, 1, 0]
PRED = [8, 4, 4, 2, 1, 0]


# ---------------------------------------------------------------------------- references
def reference_capture(score, observed, area, coverage):
    """Slow twin of ties="expected" for EQUAL areas: the mean, over every order of the units
    that sorts the scores in decreasing order, of the fractional capture at the coverage."""
    score, observed = np.asarray(score, float), np.asarray(observed, float)
    n = score.size
    target = coverage * area * n
    totals = []
    for perm in itertools.permutations(range(n)):
        s = score[list(perm)]
        if np.any(s[1:] > s[:-1]):
            continue
        left, got = target, 0.0
        for i in perm:
            take = min(area, left)
            got += observed[i] * take / area
            left -= take
            if left <= 0:
                break
        totals.append(got)
    return float(np.mean(totals))


def reference_oracle(observed, area, selected_area):
    """Slow twin of n*: the fractional knapsack solved by linear programming."""
    observed, area = np.asarray(observed, float), np.asarray(area, float)
    res = linprog(
        -observed,
        A_ub=[area],
        b_ub=[selected_area],
        bounds=[(0, 1)] * observed.size,
        method="highs",
    )
    assert res.success
    return -res.fun


# ---------------------------------------------------------------------------- ptools toy
def test_ptools_toy_case_matches_ptools_pai_table():
    # ptools orders by pred desc, ties by observed ASCENDING: 6 | 3, 7 | 2 | 1 | 0.
    # Cumulative observed: 6, 9, 16, 18, 19, 19 (N = 19); the oracle's: 7, 13, 16, 18, 19, 19.
    # At k of 6 units: PAI = (cum/19) / (k/6), PEI = cum / oracle cum.
    #   k=1: PAI = (6/19)/(1/6) = 36/19 = 1.8947, PEI = 6/7 = 0.8571
    #   k=2: PAI = (9/19)/(2/6) = 27/19 = 1.4211, PEI = 9/13 = 0.6923
    #   k=3: PAI = (16/19)/(3/6) = 32/19 = 1.6842, PEI = 16/16 = 1
    #   k=4: PAI = 27/19, k=5: PAI = 6/5, k=6: PAI = 1; PEI = 1 from k=3 on.
    # ptools' "RRI" is cumulative pred / cumulative observed: 8/6, 12/9, 16/16, 18/18, 19/19,
    # 19/19; Levine's RRI with the predictions as the earlier period's counts is
    # (n/N)/(n_pred/N_pred) with N = N_pred = 19, i.e. exactly its inverse.
    k = np.arange(1, 7)
    t = capture_metrics(PRED, OBS, coverages=k / 6, train=PRED, ties="pessimistic")
    np.testing.assert_allclose(t["captured"], [6, 9, 16, 18, 19, 19])
    np.testing.assert_allclose(t["pai"], [36 / 19, 27 / 19, 32 / 19, 27 / 19, 6 / 5, 1.0])
    np.testing.assert_allclose(t["pei_star"], [6 / 7, 9 / 13, 1, 1, 1, 1])
    np.testing.assert_allclose(t["captured_max"], [7, 13, 16, 18, 19, 19])
    ptools_rri = np.array([8 / 6, 12 / 9, 1, 1, 1, 1])
    np.testing.assert_allclose(t["rri"], 1 / ptools_rri)
    np.testing.assert_allclose(t["hit_rate"], np.array([6, 9, 16, 18, 19, 19]) / 19)


def test_ptools_toy_case_expected_ties_at_two_of_six_units():
    # ties="expected": the tied block {7, 3} (pred 4) straddles 2 units, half of it is
    # taken: n = 6 + (7 + 3)/2 = 11, PAI = (11/19)/(2/6) = 33/19, PEI* = 11/13.
    t = capture_metrics(PRED, OBS, coverages=[2 / 6], train=PRED)
    assert t["captured"].iloc[0] == pytest.approx(11)
    assert t["pai"].iloc[0] == pytest.approx(33 / 19)
    assert t["pei_star"].iloc[0] == pytest.approx(11 / 13)
    # RRI: n_train in the same selection = 8 + (4 + 4)/2 = 12 -> (11/19)/(12/19) = 11/12
    assert t["rri"].iloc[0] == pytest.approx(11 / 12)
    assert t["captured"].iloc[0] == pytest.approx(reference_capture(PRED, OBS, 1.0, 2 / 6))


# ---------------------------------------------------------------------------- hand cases
def test_unequal_areas_fractional_boundary_unit():
    # areas 1, 2, 1 (A = 4); scores 3, 2, 1; crimes 2, 6, 1 (N = 9). Coverage 50 %: a = 2.
    # Unit 0 whole (area 1, 2 crimes), then half of unit 1 (area 1 of 2, 3 of its 6 crimes):
    # n = 5, hit rate 5/9, PAI = (5/9)/(2/4) = 10/9. Oracle by density (2, 3, 1 per unit
    # area): unit 1 first, fills a = 2 with 6 crimes: n* = 6, PEI* = 5/6.
    t = capture_metrics([3, 2, 1], [2, 6, 1], area=[1, 2, 1], coverages=[0.5])
    row = t.iloc[0]
    assert row["area_selected"] == pytest.approx(2)
    assert row["area_total"] == pytest.approx(4)
    assert row["captured"] == pytest.approx(5)
    assert row["hit_rate"] == pytest.approx(5 / 9)
    assert row["pai"] == pytest.approx(10 / 9)
    assert row["captured_max"] == pytest.approx(6)
    assert row["pei_star"] == pytest.approx(5 / 6)
    assert np.isnan(row["rri"])  # no training counts given


def test_rri_hand_case_and_undefined():
    # Selection at 25 % of 4 equal units = unit 0. Test: 3 of 10 crimes there; training:
    # 2 of 20 -> RRI = (3/10)/(2/20) = 3.
    assert rri([9, 5, 1, 0], [3, 3, 2, 2], [2, 8, 5, 5], 0.25) == pytest.approx(3.0)
    # no training crime in the selection -> undefined, not infinite
    assert np.isnan(rri([9, 5, 1, 0], [3, 3, 2, 2], [0, 8, 5, 5], 0.25))


def test_no_test_crime_gives_nan_not_zero():
    t = capture_metrics([3, 2, 1], [0, 0, 0], coverages=[0.5])
    assert np.isnan(t["hit_rate"]).all() and np.isnan(t["pai"]).all()
    assert np.isnan(t["pei_star"]).all()


def test_perfect_and_constant_predictions():
    rng = np.random.default_rng(3)
    obs = rng.poisson(2.0, 200).astype(float)
    area = rng.uniform(0.5, 2.0, 200)
    cov = [0.01, 0.05, 0.1, 0.3, 1.0]
    # the hindsight order (observed density) attains n*: PEI* = 1 at every coverage
    perfect = capture_metrics(obs / area, obs, area=area, coverages=cov)
    np.testing.assert_allclose(perfect["pei_star"], 1.0)
    # a constant surface is one tied block: hit rate = coverage exactly, PAI = 1
    flat = capture_metrics(np.zeros(200), obs, area=area, coverages=cov)
    np.testing.assert_allclose(flat["hit_rate"], cov)
    np.testing.assert_allclose(flat["pai"], 1.0)
    assert (flat["pei_star"] <= 1 + 1e-12).all()


# ---------------------------------------------------------------------------- twins
@pytest.mark.parametrize("seed", range(12))
def test_expected_ties_match_permutation_average(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 7))
    score = rng.integers(0, 3, n).astype(float)  # many ties
    obs = rng.integers(0, 6, n).astype(float)
    for cov in (0.1, 0.34, 0.5, 0.77, 1.0):
        got = capture_metrics(score, obs, coverages=[cov], area=2.5)["captured"].iloc[0]
        assert got == pytest.approx(reference_capture(score, obs, 2.5, cov), abs=1e-9)


@pytest.mark.parametrize("seed", range(12))
def test_oracle_matches_linear_programme(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(2, 30))
    obs = rng.poisson(3.0, n).astype(float)
    area = rng.uniform(0.1, 5.0, n)
    for share in (0.02, 0.2, 0.5, 0.9, 1.0):
        a = share * area.sum()
        assert max_capture(obs, area, a)[0] == pytest.approx(
            reference_oracle(obs, area, a), rel=1e-9, abs=1e-9
        )


@pytest.mark.parametrize("seed", range(8))
def test_metric_bounds_random_surfaces(seed):
    rng = np.random.default_rng(200 + seed)
    n = 300
    obs = rng.poisson(1.0, n).astype(float)
    area = rng.uniform(0.2, 3.0, n)
    score = rng.normal(size=n).round(1)
    for ties in ("expected", "pessimistic"):
        t = capture_metrics(score, obs, area=area, coverages=[0.01, 0.1, 0.5, 1.0], ties=ties)
        assert ((t["pei_star"] >= 0) & (t["pei_star"] <= 1 + 1e-12)).all()
        assert (t["captured"] <= t["captured_max"] + 1e-9).all()
        np.testing.assert_allclose(t["pai"], t["hit_rate"] / t["coverage"])
        assert t["hit_rate"].iloc[-1] == pytest.approx(1.0)
    # the pessimistic tie order never captures more than the expected one
    e = capture_metrics(score, obs, area=area, coverages=[0.05, 0.2])["captured"]
    p = capture_metrics(score, obs, area=area, coverages=[0.05, 0.2], ties="pessimistic")
    assert (p["captured"].to_numpy() <= e.to_numpy() + 1e-9).all()


# ---------------------------------------------------------------------------- inputs
def test_grid_arrays_masks_and_zero_areas():
    score = np.array([[5.0, 4.0, 3.0], [2.0, 1.0, 0.0]])
    obs = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    flat = capture_metrics(score.ravel(), obs.ravel(), coverages=[0.5])
    grid = capture_metrics(score, obs, coverages=[0.5])
    np.testing.assert_allclose(flat.to_numpy(float), grid.to_numpy(float), equal_nan=True)
    # masked-out unit 0 takes its crime out of N, and its area out of A
    mask = np.ones((2, 3), bool)
    mask[0, 0] = False
    m = capture_metrics(score, obs, coverages=[0.4], mask=mask).iloc[0]
    assert m["total"] == 20 and m["area_total"] == 5
    assert m["captured"] == pytest.approx(2 + 3)  # units scored 4 and 3 = 2 of 5 units
    # zero area is the same as outside the study area (NaN score allowed there)
    area = np.ones((2, 3))
    area[0, 0] = 0
    s2 = score.copy()
    s2[0, 0] = np.nan
    z = capture_metrics(s2, obs, coverages=[0.4], area=area).iloc[0]
    assert z["captured"] == m["captured"] and z["total"] == m["total"]


def test_scalar_and_vector_helpers():
    assert isinstance(hit_rate(PRED, OBS, 0.5), float)
    np.testing.assert_allclose(hit_rate(PRED, OBS, [0.5, 1.0]), [16 / 19, 1.0])
    assert pai(PRED, OBS, 0.5) == pytest.approx(32 / 19)
    assert pei_star(PRED, OBS, 0.5) == pytest.approx(1.0)


def test_selection_metrics_equals_top_k():
    sel = np.array([1, 0, 0, 1, 0, 0], bool)  # a given set, not the top of any ranking
    t = selection_metrics(sel, OBS, train=PRED).iloc[0]
    # units 0 and 3: 6 + 2 = 8 crimes of 19 on 2 of 6 units; n* at 2 units = 13
    assert t["captured"] == 8 and t["coverage"] == pytest.approx(1 / 3)
    assert t["pai"] == pytest.approx((8 / 19) / (1 / 3))
    assert t["pei_star"] == pytest.approx(8 / 13)
    assert t["rri"] == pytest.approx((8 / 19) / (10 / 19))
    top = selection_metrics(np.array([1, 1, 1, 0, 0, 0]), OBS).iloc[0]
    ranked = capture_metrics(PRED, OBS, coverages=[0.5]).iloc[0]
    assert top["captured"] == ranked["captured"] and top["pei_star"] == ranked["pei_star"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"score": [1, np.nan, 2], "observed": [1, 1, 1]}, "NaN"),
        ({"score": [1, 2, 3], "observed": [1, -1, 1]}, "observed"),
        ({"score": [1, 2, 3], "observed": [1, 1]}, "one per unit"),
        ({"score": [1, 2, 3], "observed": [1, 1, 1], "coverages": [0]}, "coverages"),
        ({"score": [1, 2, 3], "observed": [1, 1, 1], "coverages": [1.5]}, "coverages"),
        ({"score": [1, 2, 3], "observed": [1, 1, 1], "ties": "random"}, "ties"),
        ({"score": [1, 2, 3], "observed": [1, 1, 1], "area": [1, -1, 1]}, "area"),
        ({"score": [1, 2, 3], "observed": [1, 1, 1], "area": 0}, "no study unit"),
        ({"score": [], "observed": []}, "empty"),
    ],
)
def test_bad_input_raises_named_errors(kwargs, match):
    score = kwargs.pop("score")
    observed = kwargs.pop("observed")
    with pytest.raises(InvalidParameterError, match=match):
        capture_metrics(score, observed, **kwargs)


def test_selection_rejects_bad_fractions():
    with pytest.raises(InvalidParameterError, match="fractions"):
        selection_metrics([0.5, 1.5], [1, 1])
