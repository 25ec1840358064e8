"""Period change: the current period against a baseline window, per cell or area.

The test
--------
For a cell (or area) with ``c`` incidents in the current period and ``b`` in a baseline of
``k`` periods of the same length, condition on the total ``n = c + b``. If the rate has not
changed, each of the ``n`` incidents falls in the current period with probability
``π = 1 / (1 + k)``, so ``c ~ Binomial(n, π)``: the exact conditional (binomial) test for
comparing two Poisson counts. The two-sided p-value is the total probability of outcomes no
more likely than the one observed, exactly as ``scipy.stats.binomtest(c, n, π)`` computes it
(outcomes within a relative 1e-7 of the observed probability count as equally likely).
``k`` need not be a whole number: it is the baseline window's length divided by the
current period's (e.g. 52 weeks against 1 week, or 12.5).

Cells with no incident in either window (``n = 0``) carry no information: they are not tested
(p and q are NaN) and are labelled ``"no incidents"``. The other cells form one family for
the multiple-testing correction (Benjamini–Hochberg by default).

Direction labels: ``"increase"`` / ``"decrease"`` when ``q <= alpha`` and the current count
is above / below its expectation ``n π``; otherwise ``"no significant change"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from geodemand._display import html_summary, plot_raster, require_grid, text_summary
from geodemand.engines.hotspots import CORRECTIONS, _check_choice, adjust_pvalues
from geodemand.errors import InvalidParameterError
from geodemand.grid import Grid

#: Labels of :attr:`PeriodChangeResult.direction`.
DIRECTIONS = ("increase", "decrease", "no significant change", "no incidents")
#: Relative tolerance of "equally likely" outcomes (scipy.stats.binomtest's value).
_RERR = 1 + 1e-7


@dataclass(frozen=True)
class PeriodChangeResult:
    """Change between a current period and a baseline, per cell or area.

    Arrays have the shape of the inputs (``(n_rows, n_cols)`` for a grid, ``(n_areas,)``
    for areas).

    Attributes
    ----------
    current, baseline : ndarray of int64
        Incidents in the current period and in the whole baseline window.
    baseline_mean : ndarray of float64
        ``baseline / k``: the baseline's incidents per period.
    expected : ndarray of float64
        Expected current count given the total, ``(current + baseline) / (1 + k)``.
    change : ndarray of float64
        ``current − baseline_mean`` (incidents per period).
    rate_ratio : ndarray of float64
        ``current / baseline_mean`` (inf when the baseline is 0 and current > 0, NaN when
        both are 0).
    p, q : ndarray of float64
        Two-sided exact conditional binomial p-value and its corrected value (NaN: not
        tested).
    direction : ndarray of object
        One of :data:`DIRECTIONS`.
    index : pandas.Index or None
        Area identifiers (when the inputs were Series).
    grid : Grid or None
    params : dict
    """

    current: np.ndarray
    baseline: np.ndarray
    baseline_mean: np.ndarray
    expected: np.ndarray
    change: np.ndarray
    rate_ratio: np.ndarray
    p: np.ndarray
    q: np.ndarray
    direction: np.ndarray
    index: pd.Index | None
    grid: Grid | None
    params: dict[str, Any] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """One row per cell / area: ``current``, ``baseline``, ``baseline_mean``,
        ``expected``, ``change``, ``rate_ratio``, ``p``, ``q``, ``direction`` (plus ``row``,
        ``col`` on a grid)."""
        data = {
            "current": self.current.ravel(),
            "baseline": self.baseline.ravel(),
            "baseline_mean": self.baseline_mean.ravel(),
            "expected": self.expected.ravel(),
            "change": self.change.ravel(),
            "rate_ratio": self.rate_ratio.ravel(),
            "p": self.p.ravel(),
            "q": self.q.ravel(),
            "direction": self.direction.ravel(),
        }
        if self.current.ndim == 2:
            rows, cols = np.indices(self.current.shape)
            data = {"row": rows.ravel(), "col": cols.ravel(), **data}
        frame = pd.DataFrame(data, index=self.index if self.current.ndim == 1 else None)
        frame.attrs["params"] = dict(self.params)
        return frame

    def _facts(self) -> dict[str, Any]:
        units = "cells" if self.current.ndim == 2 else "areas"
        facts: dict[str, Any] = {units: int(self.current.size),
                                 "current incidents": int(self.current.sum()),
                                 "baseline incidents": int(self.baseline.sum())}
        for label in DIRECTIONS[:2]:
            facts[f"significant {label}"] = int((self.direction == label).sum())
        return facts

    def __repr__(self) -> str:
        return text_summary("PeriodChangeResult", self._facts(), self.params)

    def _repr_html_(self) -> str:
        return html_summary("PeriodChangeResult (current period vs baseline)", self._facts(),
                            self.params)

    def plot(self, ax: Any = None) -> Any:
        """Change per period on the grid (diverging), or per area as bars; returns the Axes."""
        if self.current.ndim == 2:
            grid = require_grid(self.grid, "PeriodChangeResult.plot")
            return plot_raster(self.change, grid, ax, title="change vs baseline mean",
                               label="incidents per period", diverging=True)
        from geodemand._figures import axes_for

        ax = axes_for(ax)
        labels = [str(v) for v in (self.index if self.index is not None
                                    else range(self.current.size))]
        colours = ["#d73027" if d == "increase" else "#4575b4" if d == "decrease"
                   else "#bdbdbd" for d in self.direction]
        ax.barh(labels, self.change, color=colours)
        ax.set_xlabel("change vs baseline mean (incidents per period)")
        return ax

    def to_geodataframe(self, areas=None, *, only_with_incidents: bool = True):
        """Cells (grid input) or ``areas`` (area input, aligned by index) with the columns of
        :meth:`to_frame`; ``attrs["params"]`` holds the parameters.

        Parameters
        ----------
        areas : GeoDataFrame, optional
            The area layer (required for area input); rows are matched on its index.
        only_with_incidents : bool
            Grid input only: leave out cells with no incident in either window.
        """
        frame = self.to_frame()
        if self.current.ndim == 2:
            if self.grid is None:
                raise InvalidParameterError("grid input without grid=: cannot build polygons")
            keep = (self.current + self.baseline > 0) if only_with_incidents else \
                np.ones(self.current.shape, dtype=bool)
            gdf = self.grid.to_geodataframe(mask=keep)
            sub = frame[keep.ravel()].reset_index(drop=True)
            for column in sub.columns:
                if column not in ("row", "col"):
                    gdf[column] = sub[column].to_numpy()
        else:
            if areas is None:
                raise InvalidParameterError("pass areas=<GeoDataFrame> to attach geometries")
            missing = frame.index.difference(areas.index)
            if len(missing):
                raise InvalidParameterError(
                    f"{len(missing)} area id(s) not in the areas index, e.g. {missing[0]!r}"
                )
            gdf = areas.loc[frame.index].copy()
            for column in frame.columns:
                gdf[column] = frame[column].to_numpy()
        gdf = gdf[[c for c in gdf.columns if c != "geometry"] + ["geometry"]]
        gdf.attrs["params"] = dict(self.params)
        return gdf


def period_change(
    current_counts: Any,
    baseline_counts: Any,
    *,
    baseline_periods: float,
    grid: Grid | None = None,
    correction: str = "fdr_bh",
    alpha: float = 0.05,
) -> PeriodChangeResult:
    """Test each cell's (or area's) current count against its baseline (exact binomial).

    Parameters
    ----------
    current_counts, baseline_counts : ndarray or pandas Series
        Incident counts in the current period and in the whole baseline window, with equal
        shapes (a grid ``(n_rows, n_cols)``, or one value per area; Series are aligned on
        their index). Counts must be non-negative whole numbers.
    baseline_periods : float
        ``k``: baseline window length / current period length (e.g. 12 for the previous
        12 weeks against this week).
    grid : Grid, optional
        For grid input: the raster frame (needed for GeoDataFrames).
    correction : {"fdr_bh", "bonferroni", "none"}
    alpha : float
        Level on ``q`` for the increase / decrease labels.

    Returns
    -------
    PeriodChangeResult
    """
    correction = _check_choice(correction, CORRECTIONS, "correction")
    k = _check_periods(baseline_periods)
    if not 0 < alpha < 1:
        raise InvalidParameterError(f"alpha must be in (0, 1), got {alpha!r}")
    current, baseline, index = _aligned_counts(current_counts, baseline_counts)
    if grid is not None and current.shape != grid.shape:
        raise InvalidParameterError(
            f"counts shape {current.shape} does not match the grid shape {grid.shape}"
        )
    pi = 1.0 / (1.0 + k)
    total = current + baseline
    tested = total > 0
    p = np.full(current.shape, np.nan)
    p[tested] = binomial_change_pvalues(current[tested], total[tested], pi)
    q = adjust_pvalues(p, correction)
    expected = total * pi
    baseline_mean = baseline / k
    with np.errstate(divide="ignore", invalid="ignore"):
        rate_ratio = current / baseline_mean
    significant = np.nan_to_num(q, nan=np.inf) <= alpha
    direction = np.full(current.shape, "no significant change", dtype=object)
    direction[significant & (current > expected)] = "increase"
    direction[significant & (current < expected)] = "decrease"
    direction[~tested] = "no incidents"
    params = {
        "test": "exact conditional binomial, two-sided (as scipy.stats.binomtest)",
        "baseline_periods": k,
        "null_share_current": pi,
        "correction": correction,
        "alpha": alpha,
        "n_units": int(current.size),
        "n_tested": int(tested.sum()),
        "n_increase": int((direction == "increase").sum()),
        "n_decrease": int((direction == "decrease").sum()),
        "total_current": int(current.sum()),
        "total_baseline": int(baseline.sum()),
    }
    return PeriodChangeResult(
        current=current, baseline=baseline, baseline_mean=baseline_mean, expected=expected,
        change=current - baseline_mean, rate_ratio=rate_ratio, p=p, q=q, direction=direction,
        index=index, grid=grid, params=params,
    )


def binomial_change_pvalues(k: np.ndarray, n: np.ndarray, pi: float) -> np.ndarray:
    """Two-sided exact binomial p-values of ``k`` successes in ``n`` trials, probability ``pi``.

    Vectorised over ``k`` and ``n`` (non-negative integers, ``k <= n``, ``n >= 1``): one
    probability table per distinct ``n``. Same definition as ``scipy.stats.binomtest``: the
    sum of the probabilities of all outcomes whose probability is at most
    ``pmf(k) · (1 + 1e-7)``, computed as a lower tail (cdf) plus an upper tail (sf).
    """
    k = np.asarray(k, dtype=np.int64)
    n = np.asarray(n, dtype=np.int64)
    out = np.empty(k.shape, dtype=np.float64)
    for n_value in np.unique(n):
        sel = n == n_value
        out[sel] = _pvalues_for_n(k[sel], int(n_value), pi)
    return out


def _pvalues_for_n(k: np.ndarray, n: int, pi: float) -> np.ndarray:
    support = np.arange(n + 1)
    pmf = stats.binom.pmf(support, n, pi)
    cdf = stats.binom.cdf(support, n, pi)
    sf = stats.binom.sf(support, n, pi)
    mode_low = int(np.floor(pi * n))
    mode_high = int(np.ceil(pi * n))
    # probabilities fall monotonically away from the mode on each side
    lower = pmf[: mode_low + 1]                  # increasing in x
    upper = pmf[mode_high:][::-1]                # pmf(n), pmf(n-1), ... : increasing
    d = pmf[k] * _RERR
    p = np.ones(k.shape, dtype=np.float64)
    below = k < pi * n
    above = k > pi * n
    if below.any():
        y = np.searchsorted(upper, d[below], side="right")   # upper-tail terms <= d
        tail = np.where(y > 0, sf[np.clip(n - y, 0, n)], 0.0)
        p[below] = cdf[k[below]] + tail
    if above.any():
        y = np.searchsorted(lower, d[above], side="right")   # lower-tail terms <= d
        head = np.where(y > 0, cdf[np.clip(y - 1, 0, n)], 0.0)
        p[above] = head + sf[k[above] - 1]
    return np.minimum(p, 1.0)


def _aligned_counts(
    current: Any, baseline: Any
) -> tuple[np.ndarray, np.ndarray, pd.Index | None]:
    index = None
    if isinstance(current, pd.Series) or isinstance(baseline, pd.Series):
        if not (isinstance(current, pd.Series) and isinstance(baseline, pd.Series)):
            raise InvalidParameterError("pass both counts as pandas Series, or both as arrays")
        index = current.index.union(baseline.index)
        current = current.reindex(index, fill_value=0)
        baseline = baseline.reindex(index, fill_value=0)
    c = _counts(current, "current_counts")
    b = _counts(baseline, "baseline_counts")
    if c.shape != b.shape:
        raise InvalidParameterError(
            f"current_counts shape {c.shape} differs from baseline_counts shape {b.shape}"
        )
    if c.ndim not in (1, 2):
        raise InvalidParameterError(f"counts must be 1-D (areas) or 2-D (grid), got {c.shape}")
    return c, b, index


def _counts(values: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"{name} must be numeric counts") from exc
    if not np.all(np.isfinite(arr)) or (arr < 0).any() or not np.all(np.floor(arr) == arr):
        raise InvalidParameterError(
            f"{name} must be non-negative whole numbers (incident counts); for weighted "
            "counts use gistar instead"
        )
    return arr.astype(np.int64)


def _check_periods(value: Any) -> float:
    try:
        k = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"baseline_periods must be a positive number, got {value!r}"
        ) from exc
    if not (np.isfinite(k) and k > 0):
        raise InvalidParameterError(f"baseline_periods must be a positive number, got {value!r}")
    return k
