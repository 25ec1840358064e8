"""The target score: expected harm = expected incidents × shrunk harm per incident."""

from __future__ import annotations

import numpy as np
import pytest

from geodemand.decide.score import (
    WINDOWS,
    ScoreModel,
    fit_score_model,
    period_matrix,
    score_units,
    window_rates,
)


def model(weights, k, harm_mean=50.0, n_periods=24):
    return ScoreModel("month", WINDOWS["month"], np.asarray(weights, float), float(k),
                      harm_mean, n_periods)


def test_score_on_a_hand_built_example():
    # unit 0: one incident a month for 24 months, 100 days each
    # unit 1: 6 incidents in the last quarter (ages 0..2), 300 days each
    unit = np.array([0] * 24 + [1] * 6)
    age = np.array(list(range(24)) + [0, 0, 1, 1, 2, 2])
    harm = np.array([100.0] * 24 + [300.0] * 6)
    m = model([0.5, 0.0, 0.0, 0.5], k=10)
    s = score_units(m, unit, age, harm)
    # unit 0: rates 1/month in every window -> expected 1 incident
    assert s.loc[0, "rate_3m"] == pytest.approx(1.0) and s.loc[0, "rate_24m"] == pytest.approx(1.0)
    assert s.loc[0, "expected_incidents"] == pytest.approx(1.0)
    assert s.loc[0, "harm_per_incident"] == pytest.approx((2400 + 10 * 50) / (24 + 10))
    assert s.loc[0, "expected_harm"] == pytest.approx((2400 + 500) / 34)
    # unit 1: 6 in the last 3 months -> rate 2/month; 6 over 24 -> 0.25/month
    assert s.loc[1, "rate_3m"] == pytest.approx(2.0)
    assert s.loc[1, "rate_24m"] == pytest.approx(0.25)
    assert s.loc[1, "expected_incidents"] == pytest.approx(0.5 * 2 + 0.5 * 0.25)
    assert s.loc[1, "prior_weight"] == pytest.approx(10 / 16)
    assert s.loc[1, "expected_harm"] == pytest.approx(1.125 * (1800 + 500) / 16)
    assert (s["incidents"].to_numpy() == [24, 6]).all()
    assert s["harm"].to_numpy() == pytest.approx([2400, 1800])


def test_each_input_moves_only_its_own_component():
    rng = np.random.default_rng(1)
    unit = rng.integers(0, 5, 400)
    age = rng.integers(0, 24, 400)
    harm = rng.choice([1.0, 10.0, 200.0], 400)
    m = model([0.2, 0.1, 0.2, 0.5], k=30)
    base = score_units(m, unit, age, harm)
    # the crime mix of one old incident changes: only the harm per incident moves
    harm2 = harm.copy()
    harm2[0] = 365.0 if harm[0] != 365.0 else 1.0
    moved = score_units(m, unit, age, harm2)
    u = unit[0]
    assert moved.loc[u, "expected_incidents"] == base.loc[u, "expected_incidents"]
    assert moved.loc[u, "harm_per_incident"] != base.loc[u, "harm_per_incident"]
    others = [v for v in base.index if v != u]
    assert moved.loc[others].equals(base.loc[others])
    # one incident becomes recent with the same harm: only the expected incidents move
    age2 = age.copy()
    old = np.flatnonzero((unit == u) & (age > 12))[0]
    age2[old] = 0
    moved = score_units(m, unit, age2, harm)
    assert moved.loc[u, "harm_per_incident"] == base.loc[u, "harm_per_incident"]
    assert moved.loc[u, "expected_incidents"] > base.loc[u, "expected_incidents"]
    # k = infinity: the crime mix is ignored (every unit gets the force mean)
    flat = score_units(model([0, 0, 0, 1], np.inf, harm_mean=77.0), unit, age, harm)
    assert (flat["harm_per_incident"] == 77.0).all()


def test_window_rates_against_a_plain_loop():
    rng = np.random.default_rng(2)
    matrix = rng.poisson(1.5, (7, 24)).astype(float)
    rates = window_rates(matrix, 20, (3, 6, 12, 24))
    for j, w in enumerate((3, 6, 12, 24)):
        lo = max(0, 20 - w)
        np.testing.assert_allclose(rates[:, j], matrix[:, lo:20].sum(axis=1) / (20 - lo))
    unit = np.array([0, 0, 3, 6])
    age = np.array([0, 23, 5, 30])  # age 30 is outside a 24-period window: ignored
    m = period_matrix(unit, age, 7, 24)
    assert m[0, 23] == 1 and m[0, 0] == 1 and m[3, 18] == 1 and m.sum() == 3


def test_fitted_weights_predict_steady_rates_and_choose_a_shrinkage():
    """Steady Poisson places: the fitted expected incidents recover the true rates."""
    rng = np.random.default_rng(3)
    n_units, n_periods = 400, 24
    lam = rng.gamma(1.0, 2.0, n_units)
    counts = rng.poisson(lam[:, None], (n_units, n_periods))
    unit = np.repeat(np.repeat(np.arange(n_units), n_periods), counts.ravel())
    age = np.repeat(np.tile(np.arange(n_periods)[::-1], n_units), counts.ravel())
    harm = rng.choice([1.0, 50.0, 300.0], unit.size)
    m = fit_score_model(unit, age, harm, n_units, n_periods, "month")
    assert (m.weights >= 0).all() and m.weights.sum() == pytest.approx(1.0, abs=0.08)
    s = score_units(m, unit, age, harm)
    err = s["expected_incidents"].to_numpy() - lam[s.index.to_numpy()]
    assert abs(err.mean()) < 0.1 and np.sqrt((err**2).mean()) < 0.6
    assert m.k in (10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, np.inf)
    assert m.harm_mean == pytest.approx(harm.mean())
    rec = m.to_record()
    assert rec["formula"].startswith("expected_harm") and len(rec["shrinkage_choice"]) == 7
    assert "expected incidents = " in m.describe()


def _top_share_by_permutations(score, observed, n_units, coverage):
    """Reference: the mean share captured by the top ``coverage * n_units`` units over every
    order of the units (ties broken every possible way; a fractional unit counts in part)."""
    import itertools

    k = coverage * n_units
    whole, part = int(np.floor(k)), k - np.floor(k)
    shares = []
    for perm in itertools.permutations(range(len(score))):
        ranked = sorted(perm, key=lambda i: -score[i])  # stable: ties keep the permuted order
        got = sum(observed[i] for i in ranked[:whole])
        if part and whole < len(ranked):
            got += part * observed[ranked[whole]]
        shares.append(got / observed.sum())
    return float(np.mean(shares))


def test_top_shares_equal_the_mean_over_every_tie_order():
    from geodemand.decide.score import _top_shares

    rng = np.random.default_rng(3)
    for _ in range(25):
        n = int(rng.integers(2, 7))
        score = rng.integers(0, 3, n).astype(float)  # many ties
        observed = (rng.integers(0, 5, n).astype(float), rng.uniform(0, 10, n))
        if observed[0].sum() == 0:
            observed[0][0] = 1.0
        coverages = (0.2, 0.5, 1 / n)
        got = _top_shares(score, observed, n, coverages)
        for i, values in enumerate(observed):
            for j, cov in enumerate(coverages):
                want = _top_share_by_permutations(score, values, n, cov)
                assert got[i, j] == pytest.approx(want, abs=1e-12)
    zero = _top_shares(np.array([1.0, 0.0]), (np.zeros(2),), 2, (0.5,))
    assert np.isnan(zero[0, 0])
