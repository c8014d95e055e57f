"""The report's chart: the worst branches' health scores as horizontal bars, a PNG for a phone.

Drawn with matplotlib's object API on the Agg canvas (a `Figure` of its own per chart, never
pyplot, whose global figures would leak between requests and threads), 1000 × 700 pixels
with large type, so it stays legible in a chat on a phone. Bars are coloured by band
(good, fair, poor) and labelled with the branch code and the score.

Words appear only where the font can draw them. The chart's font is DejaVu Sans, which
ships with matplotlib and so is always there; it has no Bengali glyphs (and matplotlib does
not shape Bengali's conjuncts anyway), so a Bengali reader's chart carries branch codes,
digits and the date as digits, and no words that would come out as boxes.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from datetime import date

from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font

from core.db.enums import Language
from core.i18n import N_, texts_for
from core.reports.health import FAIR_FROM, FULL_SCORE, GOOD_FROM, HealthBand
from core.reports.service import BranchHealth

CHART_BRANCHES = 15
"""Bars drawn: the worst branches, as many as a phone screen shows legibly."""
WIDTH_PX = 1000
HEIGHT_PX = 700
DPI = 100
MIN_ROWS = 5
"""A chart of one or two branches keeps bars as thick as in a chart of five."""
FONT = "DejaVu Sans"
CODE_SIZE = 16
"""Points, for the branch codes; longer codes are set smaller to fit `CODE_WIDTH_PX`."""
MIN_CODE_SIZE = 9
CODE_WIDTH_PX = 380
LABEL_GAP_PX = 30
"""Between the left edge and the codes, and the codes and the axis (ticks, padding)."""
BAND_COLOURS = {
    HealthBand.good: "#2e7d32",
    HealthBand.fair: "#f9a825",
    HealthBand.poor: "#c62828",
}
TITLE = N_("Branch health, worst first ({date})")
AXIS = N_("Health score (0-100)")


@functools.cache
def _glyphs() -> frozenset[int]:
    """The code points the chart's font has a glyph for."""
    return frozenset(FT2Font(_font_path()).get_charmap())


@functools.cache
def _font_path() -> str:
    wanted = font_manager.FontProperties(family=FONT)
    return str(font_manager.findfont(wanted, fallback_to_default=False))


def _font() -> FT2Font:
    """The chart's font, as matplotlib caches it: one object per thread, so charts drawn
    in several threads at once never size each other's text."""
    return font_manager.get_font(_font_path())


def _width_px(text: str, size: float) -> float:
    font = _font()
    font.set_size(size, DPI)
    font.set_text(text)
    width, _ = font.get_width_height()
    return float(width) / 64  # FreeType measures in 64ths of a pixel


def _code_labels(codes: Sequence[str]) -> tuple[float, float]:
    """The size the branch codes are set in and the width the longest then takes, so the
    left margin fits them (fixed margins: a layout engine would draw the chart twice)."""
    widest = max((_width_px(code, CODE_SIZE) for code in codes), default=0.0)
    if widest <= CODE_WIDTH_PX:
        return CODE_SIZE, widest
    size = max(MIN_CODE_SIZE, CODE_SIZE * CODE_WIDTH_PX / widest)
    return size, max(_width_px(code, size) for code in codes)


def drawable(text: str) -> bool:
    """Whether the chart's font can draw every character of `text` (spaces included)."""
    glyphs = _glyphs()
    return all(ord(character) in glyphs for character in text)


def health_chart(
    branches: Sequence[BranchHealth],
    language: Language | str,
    *,
    today: date,
    count: int = CHART_BRANCHES,
) -> bytes:
    """PNG bytes: the first `count` of `branches` (already worst first), worst at the top."""
    texts = texts_for(language)
    shown = list(branches[:count])
    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    codes = [row.code for row in shown]
    code_size, code_width = _code_labels(codes)
    figure.subplots_adjust(
        left=(code_width + LABEL_GAP_PX) / WIDTH_PX, right=0.97, top=0.9, bottom=0.11
    )
    axes = figure.add_subplot()
    positions = list(range(len(shown)))
    scores = [row.score for row in shown]
    axes.barh(
        positions, scores, height=0.6, color=[BAND_COLOURS[row.band] for row in shown], zorder=2
    )
    axes.set_yticks(positions, codes, fontsize=code_size, fontfamily=FONT)
    axes.set_ylim(max(len(shown), MIN_ROWS) - 0.5, -0.5)
    axes.set_xlim(0, FULL_SCORE + 8)
    axes.set_xticks(range(0, FULL_SCORE + 1, 20))
    axes.tick_params(axis="x", labelsize=14)
    for line in (FAIR_FROM, GOOD_FROM):
        axes.axvline(line, color="#9e9e9e", linewidth=1, linestyle="--", zorder=1)
    for position, score in zip(positions, scores, strict=True):
        axes.text(
            score + 1, position, str(score), va="center", fontsize=16, fontfamily=FONT, zorder=3
        )
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    title = texts.gettext(TITLE).format(date=texts.date(today))
    figure.suptitle(
        title if drawable(title) else today.isoformat(),
        x=LABEL_GAP_PX / WIDTH_PX,
        y=0.97,
        ha="left",
        fontsize=20,
        fontfamily=FONT,
    )
    label = texts.gettext(AXIS)
    if drawable(label):
        axes.set_xlabel(label, fontsize=16, fontfamily=FONT)
    buffer = io.BytesIO()
    figure.savefig(
        buffer, format="png", dpi=DPI, metadata={"Software": None}, pil_kwargs={"compress_level": 1}
    )
    return buffer.getvalue()
