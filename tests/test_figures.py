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


@pytest.mark.parametrize(
    "title", [None, "Concentration of harm on places: Birmingham West and Central (a long name)"]
)
def test_concentration_margins_hold_every_text_and_match_tight_layout(title):
    """The fixed margins against matplotlib's own tight layout of the same plot: within
    half a percent of the figure, and every text (ticks, labels, title, legend) inside."""
    from geodemand.engines.repeats import CONCENTRATION_MARGINS

    res = concentration(pd.Series(np.random.default_rng(4).pareto(1.5, 3_000)))
    fig = plot_concentration(res, title=title)
    reference = plot_concentration(res, title=title)
    reference.tight_layout()
    for side in CONCENTRATION_MARGINS:
        assert getattr(fig.subplotpars, side) == pytest.approx(
            getattr(reference.subplotpars, side), abs=0.005
        ), side
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    box = ax.get_tightbbox(renderer)
    width, height = fig.bbox.width, fig.bbox.height
    assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width and box.y1 <= height
    assert ax.title.get_window_extent(renderer).x1 <= width


@pytest.mark.parametrize("autolayout", [False, True])
def test_tight_layout_respects_the_autolayout_setting(autolayout):
    import matplotlib as mpl

    with mpl.rc_context({"figure.autolayout": autolayout}):
        fig = _figure(np.ones(10))
        tight_layout(fig)
        # with figure.autolayout the user asked for tight layout at every draw: it stays
        assert (fig.get_layout_engine() is not None) == autolayout


def test_pngs_are_written_at_the_faster_level_with_the_same_pixels(tmp_path):
    from PIL import Image

    from geodemand._figures import PNG_COMPRESS_LEVEL

    fig = _figure(np.random.default_rng(5).random(300))
    tight_layout(fig)
    path = save_png(fig, tmp_path / "f.png")
    default = tmp_path / "default.png"
    fig.savefig(default, format="png")  # Pillow's default level
    assert PNG_COMPRESS_LEVEL < 6
    assert path.read_bytes() != default.read_bytes()
    assert np.array_equal(np.asarray(Image.open(path)), np.asarray(Image.open(default)))
