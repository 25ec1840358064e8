"""The target score: the harm a place or cell is expected to generate next period, in CCHI days.

For every unit (a place, a grid cell, a patrol area) the score is the product of two
estimates, each reported in its own column and unit::

    expected_harm = expected_incidents × harm_per_incident        (CCHI days next period)

``expected_incidents`` (incidents next period)
    a weighted sum of the unit's incident rates over trailing windows of the history: the
    last quarter, half-year, year and two years (3, 6, 12, 24 months, or 13, 26, 52, 104
    weeks), ``Σ_w β_w · rate_w``. Shorter windows were tried and left out: a single month's
    count per cell is mostly noise (on the bundled Leicestershire months it lowered the
    capture at 5 % of the area). The weights ``β_w >= 0`` are fitted on the
    force's own history, not chosen by hand: each of the last :data:`INNER_FOLDS` periods of
    the window is predicted from the periods before it, and the weights maximise the Poisson
    likelihood of those predictions over all cells holding incidents (identity link,
    non-negative weights: a stacking of the trailing-window counts). Recency enters only here,
    through the weight the data give the short windows.
``harm_per_incident`` (CCHI days per incident)
    the unit's mean harm per incident, shrunk toward the force's mean:
    ``(H + k · h̄) / (N + k)`` with ``N`` incidents and ``H`` CCHI days in the window. A place's
    own crime mix counts fully once it has many more than ``k`` incidents. ``k`` is chosen on
    the same inner folds from :data:`SHRINKAGE_GRID`: the value whose ranking captures the most
    harm at 1 % and 5 % of the area while capturing at least as many incidents as ranking by
    plain counts (so harm weighting never costs demand coverage on the force's own history);
    when no value does, ``k = ∞`` (rank by expected incidents, announced).

Nothing is counted twice: volume and recency live in ``expected_incidents`` only, the crime mix
in ``harm_per_incident`` only; the score is in absolute units, so ranks are comparable across
LPUs and forces. The backtest (:func:`geodemand.backtest`, method ``targets``) fits and scores
this estimator fold by fold on the training data only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from geodemand._announce import announce
from geodemand._columns import unique_inverse
from geodemand.errors import InvalidParameterError

#: Trailing windows, in periods, per period kind.
WINDOWS = {"month": (3, 6, 12, 24), "week": (13, 26, 52, 104)}
#: Number of inner folds (the last periods of the window predicted from the ones before).
INNER_FOLDS = 6
#: Candidate prior strengths of the harm-per-incident shrinkage, pseudo-incidents.
SHRINKAGE_GRID = (10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, np.inf)
#: Shares of the area at which the inner folds compare captures.
COVERAGES = (0.01, 0.05)
#: Harm shrinkage used when the history is too short to choose one (pseudo-incidents).
SHORT_HISTORY_K = 100.0


@dataclass(frozen=True)
class ScoreModel:
    """A fitted target score (module documentation).

    Attributes
    ----------
    period_kind : {"month", "week"}
    windows : tuple of int
        Trailing windows, periods.
    weights : ndarray
        ``β_w`` per window (expected incidents = Σ β_w · rate_w).
    k : float
        Harm shrinkage prior strength, pseudo-incidents (``inf``: harm mix ignored).
    harm_mean : float
        Force mean harm per incident, CCHI days (the prior).
    n_periods : int
        Periods of history in the window.
    params : dict
        Fit diagnostics (inner folds, capture table of the shrinkage choice).
    """

    period_kind: str
    windows: tuple[int, ...]
    weights: np.ndarray
    k: float
    harm_mean: float
    n_periods: int
    params: dict = field(default_factory=dict)

    def describe(self) -> str:
        """One line for control plans and the summary."""
        unit = self.period_kind
        terms = " + ".join(
            f"{b:.2f} × rate over last {w} {unit}{'s' if w > 1 else ''}"
            for w, b in zip(self.windows, self.weights, strict=True)
            if b > 0.005
        )
        k = "∞ (harm mix ignored)" if np.isinf(self.k) else f"{self.k:g}"
        return (
            f"expected incidents = {terms or '0'}; harm per incident shrunk toward the force "
            f"mean {self.harm_mean:,.1f} CCHI days with k = {k} incidents"
        )

    def to_record(self) -> dict:
        """JSON-friendly description."""
        return {
            "period_kind": self.period_kind,
            "windows": list(self.windows),
            "weights": [round(float(b), 6) for b in self.weights],
            "k": None if np.isinf(self.k) else float(self.k),
            "harm_mean_cchi_days": round(float(self.harm_mean), 4),
            "n_periods": int(self.n_periods),
            "formula": "expected_harm = expected_incidents × harm_per_incident",
            **self.params,
        }


def period_ages(periods: pd.Series, kind: str, last_period: pd.Timestamp) -> np.ndarray:
    """Whole periods between each incident's period start and ``last_period`` (0 = the last)."""
    last = pd.Timestamp(last_period)
    p = pd.DatetimeIndex(periods)
    if kind == "month":
        age = (last.year - p.year) * 12 + (last.month - p.month)
    else:
        age = np.round((last - p) / pd.Timedelta(days=7))
    return np.asarray(age, dtype=np.int64)


def period_matrix(unit: np.ndarray, age: np.ndarray, n_units: int, n_periods: int,
                  weights: np.ndarray | None = None) -> np.ndarray:
    """``(n_units, n_periods)`` counts (or weight sums); column ``n_periods - 1`` is the last
    period of the window, column ``j`` is ``n_periods - 1 - j`` periods earlier."""
    ok = (unit >= 0) & (age >= 0) & (age < n_periods)
    col = n_periods - 1 - age[ok]
    flat = unit[ok] * n_periods + col
    out = np.bincount(flat, weights=None if weights is None else weights[ok],
                      minlength=n_units * n_periods)
    return out.reshape(n_units, n_periods).astype(np.float64)


def window_rates(matrix: np.ndarray, origin: int, windows: tuple[int, ...]) -> np.ndarray:
    """``(n_units, n_windows)`` incident rates per period over the ``w`` periods before column
    ``origin`` (fewer when the history is shorter)."""
    cum = np.concatenate([np.zeros((matrix.shape[0], 1)), np.cumsum(matrix, axis=1)], axis=1)
    cols = []
    for w in windows:
        lo = max(0, origin - w)
        span = origin - lo
        cols.append((cum[:, origin] - cum[:, lo]) / span if span > 0 else np.zeros(len(matrix)))
    return np.column_stack(cols)


def _fit_weights(features: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Non-negative weights maximising the Poisson likelihood (identity link)."""
    n_w = features.shape[1]

    def objective(w):
        mu = features @ w + 1e-9
        return float(np.sum(mu - target * np.log(mu))), features.T @ (1.0 - target / mu)

    start = np.full(n_w, 1.0 / n_w)
    result = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * n_w)
    return np.maximum(result.x, 0.0)


def _top_shares(
    score: np.ndarray, observed: tuple[np.ndarray, ...], n_units: int,
    coverages: tuple[float, ...],
) -> np.ndarray:
    """Share of each ``observed`` array in the top ``coverage`` of ``n_units`` equal units
    ranked by ``score`` (expected value over a random order of ties at the boundary).

    Returns an array ``(len(observed), len(coverages))``; NaN where an observed total is 0.
    The units are sorted once for every observed array and coverage.
    """
    order = np.argsort(-score, kind="stable")
    s = score[order]
    ranked = [(values.sum(), values[order]) for values in observed]
    out = np.full((len(observed), len(coverages)), np.nan)
    for j, coverage in enumerate(coverages):
        k = coverage * n_units
        whole = int(np.floor(k))
        cut = s[min(whole, len(s) - 1)] if len(s) else 0
        above = s > cut
        tied = s == cut
        n_above = int(above.sum())
        take = min(max(k - n_above, 0.0), float(tied.sum()))
        for i, (total, o) in enumerate(ranked):
            if total <= 0:
                continue
            captured = o[above].sum() + (o[tied].mean() * take if tied.any() else 0.0)
            out[i, j] = float(captured / total)
    return out


def fit_score_model(
    unit: np.ndarray,
    age: np.ndarray,
    harm: np.ndarray,
    n_units: int,
    n_periods: int,
    period_kind: str,
    *,
    n_study_units: int | None = None,
    inner_folds: int = INNER_FOLDS,
) -> ScoreModel:
    """Fit the window weights and the harm shrinkage on one force's history.

    Parameters
    ----------
    unit : int array
        Unit (cell) of each incident, 0..n_units-1 (-1 = none).
    age : int array
        Whole periods between each incident's period and the window's last period (0 = last).
    harm : float array
        Harm of each incident, CCHI days.
    n_units, n_periods : int
        Number of units (e.g. grid cells) and of periods in the window.
    period_kind : {"month", "week"}
    n_study_units : int, optional
        Units in the study area (for the capture comparison; default ``n_units``).
    inner_folds : int
        Periods at the end of the window used as inner folds.
    """
    if period_kind not in WINDOWS:
        raise InvalidParameterError(f"period_kind must be 'month' or 'week', got {period_kind!r}")
    windows = WINDOWS[period_kind]
    if n_periods < 1:
        raise InvalidParameterError(f"n_periods must be >= 1, got {n_periods}")
    ok = (unit >= 0) & (age >= 0) & (age < n_periods)
    active, compact = unique_inverse(unit[ok])
    c = period_matrix(compact, age[ok], len(active), n_periods)
    h = period_matrix(compact, age[ok], len(active), n_periods, harm[ok])
    n_study = int(n_study_units or n_units)
    folds = [o for o in range(max(2, n_periods - inner_folds), n_periods)]
    harm_mean = float(harm[ok].sum() / max(int(ok.sum()), 1))
    if len(folds) < 2 or not len(active) or c[:, folds].sum() <= 0:
        weights = np.zeros(len(windows))
        weights[-1] = 1.0
        announce(
            f"target score: {n_periods} {period_kind}(s) of history are too few to fit the "
            f"window weights and the harm shrinkage on inner folds: expected incidents = the "
            f"mean rate over the history, k = {SHORT_HISTORY_K:g} incidents"
        )
        return ScoreModel(period_kind, windows, weights, SHORT_HISTORY_K, harm_mean,
                          int(n_periods), {"inner_folds": 0, "short_history": True})
    feats = np.vstack([window_rates(c, o, windows) for o in folds])
    target = np.concatenate([c[:, o] for o in folds])
    weights = _fit_weights(feats, target)
    # the shrinkage: inner folds with the fitted weights
    table = []
    pad = n_study - len(active)
    zeros = np.zeros(max(pad, 0))
    fold_data = []
    for o in folds:
        n_past, h_past = c[:, :o].sum(axis=1), h[:, :o].sum(axis=1)
        observed = (np.concatenate([c[:, o], zeros]), np.concatenate([h[:, o], zeros]))
        # plain counts to date: the same for every k
        plain = _top_shares(np.concatenate([n_past, zeros]), observed, n_study, COVERAGES)
        fold_data.append((window_rates(c, o, windows) @ weights, n_past, h_past, observed, plain))
    for k in SHRINKAGE_GRID:
        caps = np.zeros(4)
        base = np.zeros(4)
        for lam, n_past, h_past, observed, plain in fold_data:
            h_bar = h_past.sum() / max(n_past.sum(), 1)
            per = h_bar * np.ones_like(lam) if np.isinf(k) else (h_past + k * h_bar) / (
                n_past + k
            )
            shares = _top_shares(np.concatenate([lam * per, zeros]), observed, n_study,
                                 COVERAGES)
            caps += shares.reshape(-1)  # incidents at each coverage, then harm
            base += plain.reshape(-1)
        table.append((k, caps / len(folds), base / len(folds)))
    ok = [(k, caps) for k, caps, base in table if np.all(caps[:2] >= base[:2] - 1e-12)]
    if ok:
        k = max(ok, key=lambda item: (item[1][2:].sum(), -item[0]))[0]
    else:
        k = np.inf
        announce("target score: no harm shrinkage kept the incident capture of plain counts on "
                 "the inner folds; ranking by expected incidents (k = ∞)")
    params = {
        "inner_folds": len(folds),
        "shrinkage_choice": [
            {"k": None if np.isinf(kk) else kk,
             "incident_capture": [round(float(v), 5) for v in caps[:2]],
             "harm_capture": [round(float(v), 5) for v in caps[2:]],
             "counts_incident_capture": [round(float(v), 5) for v in base[:2]]}
            for kk, caps, base in table
        ],
        "coverages": list(COVERAGES),
    }
    return ScoreModel(period_kind, windows, weights, float(k), harm_mean, int(n_periods), params)


def score_units(
    model: ScoreModel, unit: np.ndarray, age: np.ndarray, harm: np.ndarray
) -> pd.DataFrame:
    """The score's components of every unit holding incidents (``unit >= 0``).

    Returns
    -------
    DataFrame
        One row per unit holding incidents, indexed by unit id (sorted): ``incidents`` and
        ``harm`` (window totals),
        ``rate_<w>`` per window (incidents per period), ``expected_incidents`` (next period),
        ``own_harm_per_incident``, ``prior_weight`` (``k / (N + k)``), ``harm_per_incident``
        (CCHI days) and ``expected_harm`` (CCHI days next period).
    """
    ok = (unit >= 0) & (age >= 0) & (age < model.n_periods)
    ids, compact = unique_inverse(unit[ok])
    n_units = len(ids)
    counts = period_matrix(compact, age[ok], n_units, model.n_periods)
    harms = period_matrix(compact, age[ok], n_units, model.n_periods, harm[ok])
    rates = window_rates(counts, model.n_periods, model.windows)
    lam = rates @ model.weights
    n = counts.sum(axis=1)
    h = harms.sum(axis=1)
    if np.isinf(model.k):
        per = np.full(n_units, model.harm_mean)
        prior = np.ones(n_units)
    else:
        per = (h + model.k * model.harm_mean) / (n + model.k)
        prior = model.k / (n + model.k)
    out = pd.DataFrame({"incidents": n.astype(np.int64), "harm": h}, index=ids)
    for j, w in enumerate(model.windows):
        out[f"rate_{w}{model.period_kind[0]}"] = rates[:, j]
    out["expected_incidents"] = lam
    with np.errstate(invalid="ignore", divide="ignore"):
        out["own_harm_per_incident"] = np.where(n > 0, h / np.maximum(n, 1), np.nan)
    out["prior_weight"] = prior
    out["harm_per_incident"] = per
    out["expected_harm"] = lam * per
    return out
