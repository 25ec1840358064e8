"""Predictive accuracy of a hot-spot selection: hit rate, PAI, PEI* and RRI.

A *ranked surface* gives each unit (a grid cell or an area) a score; higher scores are
selected first. At a coverage ``c`` (a share of the study area, e.g. 1 %, 5 %, 10 %), units
are taken in score order until their area reaches ``a = c · A``. With ``n`` of the ``N``
later (test) crimes falling in the selected area:

* **hit rate** ``= n / N``;
* **PAI** (predictive accuracy index, Chainey, Tompson & Uhlig 2008) ``= (n / N) / (a / A)``;
  1 is what a random selection achieves on average, higher is better;
* **PEI*** (White, Hunt & Green 2023) ``= n / n*`` with ``n*`` the most test crimes that any
  selection of the same total area ``a`` could have caught (see below); in [0, 1], 1 = as
  good as hindsight;
* **RRI** (recapture rate index, Levine 2008) ``= (n / n_train) / (N / N_train)``, equivalently
  ``(n / N) / (n_train / N_train)``: the hit rate in the test period divided by the share of
  the *training*-period crimes that fell in the same selection. About 1 means the hot spots
  keep the share of crime they had; below 1 the selection captured less of the later crime
  than of the crime it was built from (regression to the mean); undefined (NaN) when the
  selection held no training crime. (apwheele/ptools calls ``cumulative predicted /
  cumulative observed`` its "RRI"; that is a different quantity.)

Units with unequal areas and the unit straddling the coverage boundary
-----------------------------------------------------------------------
Each unit has an area (e.g. a grid cell clipped to the study area, or a neighbourhood
polygon); ``A`` is the total area of the study units. The selection is **fractional at the
boundary**: units are taken whole in score order, and the unit (or block of tied units) that
straddles ``c · A`` is included by the fraction of its area that fills the coverage exactly,
contributing the same fraction of its crimes. The selected area is therefore always exactly
``a = c · A``, so PAI is exactly ``hit rate / c`` and methods are compared on the same area.
(With whole cells this is the expected capture of a random choice among the straddling
cells, not an extra cell that could be patrolled.)

Ties
----
``ties="expected"`` (default): units with exactly equal scores form one block that is filled
evenly (each tied unit included by the same area fraction). With equal unit areas this is
exactly the expected capture over a uniformly random order of the tied units, so no method
gains or loses by an arbitrary order (a surface that is zero over most of the area simply
gets the random expectation there). ``ties="pessimistic"``: tied units are taken in
increasing order of observed test crimes per unit area (then unit order), the worst case;
this is apwheele/ptools' rule (``order(pred/area, -count, decreasing = TRUE)``), so with
unit areas and coverages at whole units it reproduces ptools' ``pai()`` table.

The hindsight optimum ``n*`` (PEI*)
-----------------------------------
``n*(a)`` is the largest number of test crimes any selection of total area ``a`` could hold
**under the same fractional rule**: maximise ``Σ f_i n_i`` subject to ``Σ f_i area_i <= a``,
``0 <= f_i <= 1`` (a fractional knapsack). Taking units greedily in decreasing order of
observed crimes per unit area, the last one fractionally, solves it exactly (the classic
result for the fractional knapsack; the test suite checks it against a linear-programming
solver). With equal cells ``n*`` is the sum of the top ``k`` observed counts at ``k`` cells.
Because the evaluated selection obeys the same rules, ``0 <= n <= n*`` and PEI* is in
[0, 1]. (The 0/1 knapsack — whole units only — would be NP-hard for unequal areas and would
hold the prediction to a different rule than the oracle; greedy by density would only
approximate it.)

Conventions
-----------
Metrics that divide by zero (no test crime: hit rate, PAI, PEI*; no training crime in the
selection: RRI) are NaN, never 0 or infinity. Scores must be finite or ``±inf``; NaN scores
in study units are an error (decide explicitly where a surface has no value). Units with
zero area, or outside ``mask``, are not part of the study area; their crimes are not in
``N``.

``geodemand.backtest`` and ``geodemand.intervention_effect`` are importable from here as well
(they live in :mod:`geodemand.evaluate.backtesting` and :mod:`geodemand.evaluate.intervention`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from geodemand.errors import InvalidParameterError

__all__ = [
    "DEFAULT_COVERAGES",
    "TIES",
    "capture_metrics",
    "selection_metrics",
    "hit_rate",
    "pai",
    "pei_star",
    "rri",
    "max_capture",
]

#: Default coverages: 1 %, 5 % and 10 % of the study area.
DEFAULT_COVERAGES: tuple[float, ...] = (0.01, 0.05, 0.10)
#: Tie rules of :func:`capture_metrics`.
TIES = ("expected", "pessimistic")

#: Columns of the table returned by :func:`capture_metrics` and :func:`selection_metrics`.
METRIC_COLUMNS = (
    "coverage",
    "area_selected",
    "area_total",
    "captured",
    "total",
    "hit_rate",
    "pai",
    "captured_max",
    "pei_star",
    "captured_train",
    "total_train",
    "rri",
)

# ---------------------------------------------------------------------------- inputs
def _as_values(values: Any, name: str, size: int | None = None) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).ravel()
    if size is not None and arr.size != size:
        raise InvalidParameterError(
            f"{name} has {arr.size} value(s) but the surface has {size} unit(s); give one per unit"
        )
    return arr


def _check_counts(arr: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidParameterError(
            f"{name} must be finite and >= 0 (crimes per unit); {int(bad.sum())} value(s) are "
            f"not (first at unit {i}: {arr[i]!r})"
        )


def _study_units(
    score: Any, observed: Any, area: Any, mask: Any, train: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Flatten the inputs and keep the study units (area > 0 and inside ``mask``)."""
    s = _as_values(score, "score")
    n = s.size
    if n == 0:
        raise InvalidParameterError("score is empty: no units to rank")
    obs = _as_values(observed, "observed", n)
    if area is None:
        a = np.ones(n)
    elif np.ndim(area) == 0:
        a = np.full(n, float(area))
    else:
        a = _as_values(area, "area", n)
    bad = ~np.isfinite(a) | (a < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidParameterError(
            f"area must be finite and >= 0 per unit; unit {i} has {a[i]!r}"
        )
    keep = a > 0
    if mask is not None:
        m = np.asarray(mask, dtype=bool).ravel()
        if m.size != n:
            raise InvalidParameterError(f"mask has {m.size} value(s), the surface has {n}")
        keep &= m
    if not keep.any():
        raise InvalidParameterError("no study unit: every unit has zero area or is masked out")
    s, obs, a = s[keep], obs[keep], a[keep]
    if np.isnan(s).any():
        i = int(np.flatnonzero(np.isnan(s))[0])
        raise InvalidParameterError(
            f"score has NaN at {int(np.isnan(s).sum())} study unit(s) (first: study unit {i}); "
            "give every unit a score (use -inf for 'never select first')"
        )
    _check_counts(obs, "observed")
    tr = None
    if train is not None:
        tr = _as_values(train, "train", n)[keep]
        _check_counts(tr, "train")
    return s, obs, a, tr


def _coverages(coverages: Any) -> np.ndarray:
    c = np.atleast_1d(np.asarray(coverages, dtype=np.float64)).ravel()
    if c.size == 0:
        raise InvalidParameterError("coverages is empty; give shares of the area such as 0.05")
    bad = ~np.isfinite(c) | (c <= 0) | (c > 1)
    if bad.any():
        raise InvalidParameterError(
            f"coverages must be shares of the study area in (0, 1], e.g. 0.05 for 5 %; got "
            f"{c[bad].tolist()}"
        )
    return c


# ---------------------------------------------------------------------------- core
def _cumulative(order: np.ndarray, starts: np.ndarray, *columns: np.ndarray) -> list[np.ndarray]:
    """Cumulative block sums (with a leading 0) of each column taken in ``order``."""
    out = []
    for col in columns:
        sums = np.add.reduceat(col[order], starts)
        out.append(np.concatenate(([0.0], np.cumsum(sums))))
    return out


def _selection_order(
    s: np.ndarray, obs: np.ndarray, a: np.ndarray, ties: str
) -> tuple[np.ndarray, np.ndarray]:
    """Unit order and the start of each block (a block is filled evenly)."""
    idx = np.arange(s.size)
    if ties == "expected":
        order = np.lexsort((idx, -s))
        sorted_s = s[order]
        starts = np.flatnonzero(np.concatenate(([True], sorted_s[1:] != sorted_s[:-1])))
        return order, starts
    if ties == "pessimistic":
        order = np.lexsort((idx, obs / a, -s))
        return order, np.arange(s.size)
    raise InvalidParameterError(f"ties must be one of {TIES}, got {ties!r}")


def max_capture(observed: Any, area: Any = None, selected_area: Any = 1.0) -> np.ndarray:
    """The hindsight optimum ``n*``: most crimes any selection of ``selected_area`` can hold.

    Fractional knapsack solved exactly by taking units in decreasing crimes per unit area,
    the last one fractionally (see the module documentation).

    Parameters
    ----------
    observed : array_like
        Crimes per unit (>= 0).
    area : array_like or float, optional
        Area of each unit (any unit of area; default 1 each). Units of zero area are ignored.
    selected_area : float or array_like
        Total area of the selection, in the same unit as ``area``.

    Returns
    -------
    ndarray
        ``n*`` for each ``selected_area``.
    """
    obs = _as_values(observed, "observed")
    _, obs, a, _ = _study_units(np.zeros(obs.size), obs, area, None, None)
    return _oracle(obs, a, np.atleast_1d(np.asarray(selected_area, dtype=np.float64)))


def _oracle(obs: np.ndarray, a: np.ndarray, targets: np.ndarray) -> np.ndarray:
    order = np.lexsort((np.arange(obs.size), -(obs / a)))
    cum_a, cum_n = _cumulative(order, np.arange(obs.size), a, obs)
    return np.interp(targets, cum_a, cum_n)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.broadcast_to(np.asarray(den, dtype=np.float64), num.shape)
    out = np.full(num.shape, np.nan)
    ok = den > 0
    out[ok] = num[ok] / den[ok]
    return out


def _table(
    coverage: np.ndarray,
    area_sel: np.ndarray,
    A: float,
    n: np.ndarray,
    N: float,
    n_star: np.ndarray,
    n_train: np.ndarray | None,
    N_train: float | None,
) -> pd.DataFrame:
    hit = _ratio(n, N)
    frame = pd.DataFrame(
        {
            "coverage": coverage,
            "area_selected": area_sel,
            "area_total": A,
            "captured": n,
            "total": N,
            "hit_rate": hit,
            "pai": _ratio(hit, area_sel / A),
            "captured_max": n_star,
            "pei_star": _ratio(n, n_star),
        }
    )
    if n_train is None:
        frame["captured_train"] = np.nan
        frame["total_train"] = np.nan
        frame["rri"] = np.nan
    else:
        frame["captured_train"] = n_train
        frame["total_train"] = N_train
        frame["rri"] = _ratio(hit, _ratio(n_train, N_train))
    return frame


def capture_metrics(
    score: Any,
    observed: Any,
    *,
    coverages: Any = DEFAULT_COVERAGES,
    area: Any = None,
    train: Any = None,
    mask: Any = None,
    ties: str = "expected",
) -> pd.DataFrame:
    """Hit rate, PAI, PEI* and RRI of a ranked surface at given coverages.

    Parameters
    ----------
    score : array_like
        Ranking score per unit (any shape, e.g. a grid ``(n_rows, n_cols)``); higher is
        selected first. Finite or ``±inf``; NaN is an error at study units.
    observed : array_like
        Test-period crimes per unit (same number of values as ``score``), >= 0.
    coverages : float or sequence of float
        Shares of the study area in (0, 1]; default 1 %, 5 %, 10 %.
    area : array_like or float, optional
        Area of each unit (any area unit, e.g. m²; default 1 each = equal units). Units of
        zero area are outside the study area.
    train : array_like, optional
        Training-period crimes per unit, for RRI (NaN columns without it).
    mask : array_like of bool, optional
        Study units (True). Units outside are ignored, with their crimes.
    ties : {"expected", "pessimistic"}
        How tied scores are ordered (module documentation).

    Returns
    -------
    DataFrame
        One row per coverage with columns ``coverage``, ``area_selected`` and ``area_total``
        (in the unit of ``area``), ``captured`` (n, may be fractional at the boundary block),
        ``total`` (N), ``hit_rate``, ``pai``, ``captured_max`` (n*), ``pei_star``,
        ``captured_train``, ``total_train``, ``rri``. ``attrs["params"]`` holds ``ties`` and
        the number of study units.
    """
    c = _coverages(coverages)
    s, obs, a, tr = _study_units(score, observed, area, mask, train)
    order, starts = _selection_order(s, obs, a, ties)
    cols = [a, obs] if tr is None else [a, obs, tr]
    cums = _cumulative(order, starts, *cols)
    A = float(cums[0][-1])
    targets = c * A
    n = np.interp(targets, cums[0], cums[1])
    n_train = None if tr is None else np.interp(targets, cums[0], cums[2])
    N_train = None if tr is None else float(tr.sum())
    n_star = _oracle(obs, a, targets)
    frame = _table(c, targets, A, n, float(obs.sum()), n_star, n_train, N_train)
    frame.attrs["params"] = {"ties": ties, "n_units": int(s.size), "selection": "fractional"}
    return frame


def selection_metrics(
    selected: Any,
    observed: Any,
    *,
    area: Any = None,
    train: Any = None,
    mask: Any = None,
) -> pd.DataFrame:
    """Hit rate, PAI, PEI* and RRI of a given set of units (e.g. patrolled areas).

    Parameters
    ----------
    selected : array_like of bool or of fractions in [0, 1]
        Which units are in the hot-spot set (a fraction includes that share of the unit's
        area and crimes).
    observed, area, train, mask
        As in :func:`capture_metrics`.

    Returns
    -------
    DataFrame
        One row, the columns of :func:`capture_metrics`; ``coverage`` is the selected share
        of the study area.
    """
    f = _as_values(selected, "selected")
    if np.isnan(f).any() or (f < 0).any() or (f > 1).any():
        raise InvalidParameterError("selected must be booleans or fractions in [0, 1] per unit")
    f, obs, a, tr = _study_units(f, observed, area, mask, train)
    A = float(a.sum())
    area_sel = float((f * a).sum())
    n = float((f * obs).sum())
    n_star = _oracle(obs, a, np.array([area_sel]))
    n_train = None if tr is None else np.array([(f * tr).sum()])
    N_train = None if tr is None else float(tr.sum())
    frame = _table(
        np.array([area_sel / A]), np.array([area_sel]), A, np.array([n]), float(obs.sum()),
        n_star, n_train, N_train,
    )
    frame.attrs["params"] = {"n_units": int(f.size), "selection": "given"}
    return frame


# ---------------------------------------------------------------------------- one metric
def _one(
    column: str,
    score: Any,
    observed: Any,
    coverage: float | Sequence[float],
    **kwargs: Any,
) -> float | np.ndarray:
    frame = capture_metrics(score, observed, coverages=coverage, **kwargs)
    values = frame[column].to_numpy()
    return float(values[0]) if np.ndim(coverage) == 0 else values


def hit_rate(
    score: Any, observed: Any, coverage: float | Sequence[float] = 0.05, **kwargs: Any
) -> float | np.ndarray:
    """Share of test crimes in the top ``coverage`` of the area (see :func:`capture_metrics`)."""
    return _one("hit_rate", score, observed, coverage, **kwargs)


def pai(
    score: Any, observed: Any, coverage: float | Sequence[float] = 0.05, **kwargs: Any
) -> float | np.ndarray:
    """Predictive accuracy index ``(n/N)/(a/A)`` (see :func:`capture_metrics`)."""
    return _one("pai", score, observed, coverage, **kwargs)


def pei_star(
    score: Any, observed: Any, coverage: float | Sequence[float] = 0.05, **kwargs: Any
) -> float | np.ndarray:
    """PEI* ``n / n*`` at the same selected area (see :func:`capture_metrics`)."""
    return _one("pei_star", score, observed, coverage, **kwargs)


def rri(
    score: Any,
    observed: Any,
    train: Any,
    coverage: float | Sequence[float] = 0.05,
    **kwargs: Any,
) -> float | np.ndarray:
    """Levine's recapture rate index ``(n/n_train)/(N/N_train)`` (see :func:`capture_metrics`)."""
    return _one("rri", score, observed, coverage, train=train, **kwargs)
