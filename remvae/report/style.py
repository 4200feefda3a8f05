"""Fonts, matplotlib settings and text measuring shared by every figure and report page.

Figures are plain ``matplotlib.figure.Figure`` objects, never pyplot's, so importing remvae leaves
the user's matplotlib backend alone and nothing needs closing.

Text may hold any Unicode (captions are user data): DejaVu Sans, bundled with matplotlib, is the
primary font, any installed CJK-capable font is a fallback, and a glyph no font has is drawn as
an empty box instead of failing. Math parsing is off, so a ``$`` in a caption is just a dollar sign.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import matplotlib
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, fontManager
from matplotlib.textpath import TextToPath

PRIMARY_FONT = "DejaVu Sans"
FALLBACK_FONTS = (
    "Noto Sans CJK JP", "Noto Sans CJK SC", "Noto Sans CJK TC", "Noto Sans CJK KR",
    "Source Han Sans", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Droid Sans Fallback",
    "Noto Sans", "Noto Sans Symbols", "Noto Sans Symbols2",
)
DPI = 150
FONT_SIZE = 9.0
MONO_FONT = "DejaVu Sans Mono"
GOOD, BAD, MUTED = "#1a7f37", "#cf222e", "#57606a"


@lru_cache(maxsize=1)
def font_family() -> tuple[str, ...]:
    """DejaVu Sans, then the installed fallback fonts (only installed ones, so matplotlib does not warn)."""
    installed = {font.name for font in fontManager.ttflist}
    return (PRIMARY_FONT, *(name for name in FALLBACK_FONTS if name in installed))


def rc_params() -> dict[str, object]:
    return {
        "font.family": list(font_family()),
        "font.size": FONT_SIZE,
        "axes.titlesize": FONT_SIZE + 1,
        "axes.labelsize": FONT_SIZE,
        "legend.fontsize": FONT_SIZE - 1,
        "xtick.labelsize": FONT_SIZE - 1,
        "ytick.labelsize": FONT_SIZE - 1,
        "text.parse_math": False,
        "text.usetex": False,
        "pdf.fonttype": 3,  # subset glyphs: writes twice as fast as TrueType (42); text stays extractable
        "axes.spines.top": False,
        "axes.spines.right": False,
        "savefig.dpi": DPI,
        "figure.dpi": 100,
    }


@contextlib.contextmanager
def report_style() -> Iterator[None]:
    """Matplotlib settings for every remvae figure; missing-glyph warnings are silenced (boxes are drawn)."""
    with matplotlib.rc_context(rc_params()), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font", category=UserWarning)
        yield


def save_png(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as a PNG at the report's resolution."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with report_style():
        fig.savefig(path, dpi=DPI, facecolor="white")
    return path


def png_bytes(fig: Figure) -> io.BytesIO:
    """``fig`` as PNG data in memory, to embed in a PDF page."""
    buffer = io.BytesIO()
    with report_style():
        fig.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    buffer.seek(0)
    return buffer


_TEXT_TO_PATH = TextToPath()


@lru_cache(maxsize=8192)
def _width_cached(text: str, size: float, weight: str, family: tuple[str, ...]) -> float:
    props = FontProperties(family=list(family), size=size, weight=weight)
    width, _, _ = _TEXT_TO_PATH.get_text_width_height_descent(text, props, ismath=False)
    return float(width)


def text_width(text: str, size: float = FONT_SIZE, weight: str = "normal", mono: bool = False) -> float:
    """Width of ``text`` in points when drawn at ``size`` points."""
    if not text:
        return 0.0
    family = (MONO_FONT,) if mono else font_family()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font", category=UserWarning)
        return _width_cached(text, size, weight, family)


def wrap(text: str, width_in: float, size: float = FONT_SIZE, weight: str = "normal", mono: bool = False) -> list[str]:
    """Lines of ``text`` that each fit in ``width_in`` inches, breaking at spaces, and inside words too long for a line.

    Existing newlines are kept. Always returns at least one line.
    """
    limit = max(width_in * 72.0, size)  # at least one character per line
    lines: list[str] = []
    for paragraph in str(text).split("\n"):
        current = ""
        for word in paragraph.split(" "):
            candidate = f"{current} {word}" if current else word
            if text_width(candidate, size, weight, mono) <= limit:
                current = candidate
                continue
            if current:
                lines.append(current)
            current = ""
            for char in word:  # a word wider than the line (a URL, CJK text): break between characters
                if current and text_width(current + char, size, weight, mono) > limit:
                    lines.append(current)
                    current = ""
                current += char
        lines.append(current)
    return lines or [""]


def line_height(size: float = FONT_SIZE) -> float:
    """Baseline-to-baseline distance in inches for text of ``size`` points."""
    return size * 1.3 / 72.0
