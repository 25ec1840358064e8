"""The figure helpers: one layout pass, the same picture."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from geodemand._figures import new_figure, save_png, tight_layout
from geodemand.engines.repeats import concentration, plot_concentration


def _figure(values: np.ndarray):
    fig = new_figure((6.0, 5.0))
    ax = fig.add_subplot()
    ax.plot(np.arange(values.size), np.cumsum(values), label="a long legend label, some text")
    ax.set_title("A title that tight_layout has to make room for")
    ax.set_xlabel("x (units)")
    ax.set_ylabel("y (units)")
    ax.legend()
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def test_tight_layout_once_gives_the_same_png_with_one_draw(monkeypatch):
    from matplotlib.figure import Figure

    values = np.random.default_rng(1).random(500)
    plain = _figure(values)
    plain.tight_layout()  # matplotlib's own path: a placeholder engine is left behind
    assert plain.get_layout_engine() is not None
    once = _figure(values)
    tight_layout(once)
    assert once.get_layout_engine() is None
    # the same layout and the same picture
    assert once.subplotpars.left == plain.subplotpars.left
    assert once.subplotpars.top == plain.subplotpars.top
    draws = []
    real = Figure.draw
    monkeypatch.setattr(Figure, "draw", lambda self, r: draws.append(1) or real(self, r))
    expected = _png(plain)
    assert len(draws) == 2  # matplotlib's path draws twice to save
    draws.clear()
    assert _png(once) == expected
    assert len(draws) == 1


def test_plot_concentration_png_is_saved_with_one_draw(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    res = concentration(pd.Series(np.random.default_rng(2).pareto(1.5, 2_000)))
    draws = []
    real = Figure.draw
    monkeypatch.setattr(Figure, "draw", lambda self, r: draws.append(1) or real(self, r))
    fig = plot_concentration(res, tmp_path / "c.png")
    assert len(draws) == 1 and fig.get_layout_engine() is None
    assert save_png(fig, tmp_path / "again.png").read_bytes() == (tmp_path / "c.png").read_bytes()


@pytest.mark.parametrize("autolayout", [False, True])
def test_tight_layout_respects_the_autolayout_setting(autolayout):
    import matplotlib as mpl

    with mpl.rc_context({"figure.autolayout": autolayout}):
        fig = _figure(np.ones(10))
        tight_layout(fig)
        # with figure.autolayout the user asked for tight layout at every draw: it stays
        assert (fig.get_layout_engine() is not None) == autolayout
