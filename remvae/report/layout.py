"""A4 pages for a PDF built with matplotlib's PdfPages: headings, wrapped paragraphs, paginated tables, images.

Content flows top to bottom; anything that does not fit the rest of a page starts the next one,
tables repeat their header on every page they span, and every text is wrapped to the width it
has, so nothing runs off a page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Self

import numpy as np
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from PIL import Image

from remvae.report.style import (
    FONT_SIZE,
    MUTED,
    line_height,
    report_style,
    text_width,
    wrap,
)

PAGE_WIDTH, PAGE_HEIGHT = 8.27, 11.69  # A4 in inches
MARGIN = 0.7
FOOTER = 0.45
CELL_PAD = 0.06
MIN_IMAGE_HEIGHT = 2.5
MAX_FITTED = 0.35  # the most of the width one content-sized column takes (a long value wraps instead)
PACK_BELOW = 0.4  # a page less full than this takes a shrunk figure rather than being left nearly empty
HEADING_SIZES = {0: FONT_SIZE + 13, 1: FONT_SIZE + 6, 2: FONT_SIZE + 2.5}


@dataclass
class Column:
    header: str
    weight: float = 1.0  # share of the table width; ``0`` sizes the column to its content
    align: str = "left"


class Document:
    """A PDF being written page by page into a file or a binary buffer; use as a context manager
    (``with Document(target, footer) as doc``)."""

    def __init__(self, target: Path | BinaryIO, footer: str) -> None:
        self.target = target
        self.footer = footer
        self.pages = 0
        self._pdf: PdfPages | None = None
        self._page: Figure | None = None
        self.y = MARGIN

    # Context and pages.

    def __enter__(self) -> Self:
        if isinstance(self.target, Path):
            self.target.parent.mkdir(parents=True, exist_ok=True)
        self._style = report_style()
        self._style.__enter__()
        self._pdf = PdfPages(self.target, metadata={"Creator": "remvae", "Title": self.footer})
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._page is not None:
                self._finish_page()
            assert self._pdf is not None
            self._pdf.close()
        finally:
            self._style.__exit__(*exc)

    @property
    def width(self) -> float:
        return PAGE_WIDTH - 2 * MARGIN

    @property
    def room(self) -> float:
        """Height left on the current page, in inches."""
        return PAGE_HEIGHT - FOOTER - MARGIN * 0.6 - self.y if self._page is not None else self.usable

    @property
    def usable(self) -> float:
        return PAGE_HEIGHT - FOOTER - MARGIN * 1.6

    def new_page(self) -> None:
        if self._page is not None:
            self._finish_page()
        self._page = Figure(figsize=(PAGE_WIDTH, PAGE_HEIGHT))
        self.y = MARGIN

    def _ensure(self, height: float) -> Figure:
        if self._page is None or height > self.room:
            self.new_page()
        assert self._page is not None
        return self._page

    def _finish_page(self) -> None:
        assert self._page is not None and self._pdf is not None
        self.pages += 1
        footer = f"{self.footer}  ·  page {self.pages}"
        lines = wrap(footer, self.width, FONT_SIZE - 1.5)
        self._page.text(MARGIN / PAGE_WIDTH, FOOTER / PAGE_HEIGHT, lines[0], fontsize=FONT_SIZE - 1.5, color=MUTED,
                        va="top")
        self._pdf.savefig(self._page)
        self._page = None

    def _fx(self, x: float) -> float:
        return x / PAGE_WIDTH

    def _fy(self, y: float) -> float:
        return 1 - y / PAGE_HEIGHT

    # Content.

    def space(self, height: float) -> None:
        if self._page is not None and height < self.room:
            self.y += height

    def text(self, text: str, size: float = FONT_SIZE, weight: str = "normal", color: str = "black",
             keep_with_next: float = 0.0, indent: float = 0.0) -> None:
        """A wrapped paragraph, split across pages line by line when long."""
        lines = wrap(text, self.width - indent, size, weight)
        step = line_height(size)
        self._ensure(min(len(lines) * step + keep_with_next, self.usable))
        for line in lines:
            page = self._ensure(step)
            page.text(self._fx(MARGIN + indent), self._fy(self.y), line, fontsize=size, fontweight=weight,
                      color=color, va="top")
            self.y += step

    def heading(self, text: str, level: int = 1) -> None:
        before, _, after = self._heading_parts(text, level)
        self.space(before)
        self.text(text, size=HEADING_SIZES[level], weight="bold", keep_with_next=1.0)
        self.space(after)

    def _heading_parts(self, text: str, level: int) -> tuple[float, float, float]:
        """Space above, height of the lines and space below a heading placed now."""
        before = (0.25 if level == 1 else 0.12) if level and self._page is not None and self.y > MARGIN else 0.0
        size = HEADING_SIZES[level]
        return before, len(wrap(text, self.width, size, "bold")) * line_height(size), 0.06 if level else 0.15

    def table(self, columns: Sequence[Column], rows: Sequence[Sequence[str]], size: float = FONT_SIZE - 0.5) -> None:
        """A table whose cells wrap to their column; rows continue on the next page under a repeated header."""
        widths = self._column_widths(columns, rows, size)
        step = line_height(size)
        header = [wrap(c.header, w - 2 * CELL_PAD, size, "bold") for c, w in zip(columns, widths)]
        header_height = max(len(lines) for lines in header) * step + 2 * CELL_PAD
        wrapped = [[wrap(str(cell), w - 2 * CELL_PAD, size) for cell, w in zip(row, widths)] for row in rows]
        need_header = any(column.header for column in columns)
        for index, cells in enumerate(wrapped):
            height = max((len(lines) for lines in cells), default=1) * step + 2 * CELL_PAD
            if height > self.usable - header_height:  # a single enormous cell: cut it to one page
                keep = int((self.usable - header_height - 2 * CELL_PAD) / step) - 1
                cells = [lines if len(lines) <= keep else [*lines[:keep], "… (cut)"] for lines in cells]
                height = (keep + 1) * step + 2 * CELL_PAD
            if need_header and (index == 0 or height > self.room):
                self._ensure(header_height + height)
                self._row(header, widths, columns, header_height, size, "bold", shade="#dde3ea")
            self._row(cells, widths, columns, height, size, "normal", shade="#f4f6f8" if index % 2 else None)
        if not rows:
            self.text("(empty)", size=size, color=MUTED)
        self.space(0.12)

    def _column_widths(self, columns: Sequence[Column], rows: Sequence[Sequence[str]], size: float) -> list[float]:
        natural = []
        for i, column in enumerate(columns):
            widest = max([text_width(str(row[i]), size) for row in rows] + [text_width(column.header, size, "bold")])
            natural.append(min(widest / 72 + 2 * CELL_PAD + 0.02, self.width * MAX_FITTED))
        fixed = [n if c.weight == 0 else 0.0 for n, c in zip(natural, columns)]
        fixed_total = min(sum(fixed), self.width * 0.6)
        fixed = [f * fixed_total / sum(fixed) if sum(fixed) else 0.0 for f in fixed]
        weights = sum(c.weight for c in columns)
        rest = self.width - fixed_total
        return [f if c.weight == 0 else rest * c.weight / weights for f, c in zip(fixed, columns)]

    def _row(self, cells: Sequence[list[str]], widths: Sequence[float], columns: Sequence[Column], height: float,
             size: float, weight: str, shade: str | None) -> None:
        page = self._ensure(height)
        top = self.y
        if shade:
            page.patches.append(Rectangle((self._fx(MARGIN), self._fy(top + height)), self.width / PAGE_WIDTH,
                                          height / PAGE_HEIGHT, transform=page.transFigure, facecolor=shade,
                                          edgecolor="none", zorder=0))
        x = MARGIN
        for lines, width, column in zip(cells, widths, columns):
            anchor = x + CELL_PAD if column.align == "left" else x + width - CELL_PAD
            page.text(self._fx(anchor), self._fy(top + CELL_PAD), "\n".join(lines), fontsize=size, fontweight=weight,
                      va="top", ha=column.align, multialignment=column.align, linespacing=1.3)
            x += width
        page.lines.append(Line2D([self._fx(MARGIN), self._fx(MARGIN + self.width)], [self._fy(top + height)] * 2,
                                 transform=page.transFigure, color="#c8ced6", linewidth=0.5))
        self.y += height

    @property
    def filled(self) -> float:
        """Share of the current page's usable height already used (0 on a page not yet started)."""
        return 0.0 if self._page is None else (self.y - MARGIN) / self.usable

    def image(self, path: Path | str | BinaryIO, caption: str = "", title: str = "", fit: bool = False) -> None:
        """A PNG scaled to the page width (never wider or taller than the page), under ``title`` and over ``caption``.

        The title, image and caption stay on one page. An image that would fit only much shrunk starts a
        new page instead, unless ``fit`` asks for it to be shrunk into the room left, or the page is still
        less than :data:`PACK_BELOW` full (so no page is left nearly empty): then it is shrunk to fit, down
        to :data:`MIN_IMAGE_HEIGHT`.
        """
        with Image.open(path) as handle:
            array = np.asarray(handle.convert("RGB"))
        h_px, w_px = array.shape[:2]
        title_height = sum(self._heading_parts(title, 2)) if title else 0.0
        caption_height = len(wrap(caption, self.width, FONT_SIZE - 0.5)) * line_height(FONT_SIZE - 0.5) + 0.1
        text_height = title_height + caption_height
        width = self.width
        height = width * h_px / w_px
        if height > self.usable - text_height:
            height = self.usable - text_height
            width = height * w_px / h_px
        if height + text_height > self.room:
            shrink = (self.room - text_height) / height
            pack = fit or self.filled < PACK_BELOW
            if self._page is None or (shrink < 0.75 and not pack) or self.room - text_height < MIN_IMAGE_HEIGHT:
                self.new_page()
            else:  # a small shrink keeps it on this page
                height, width = height * shrink, width * shrink
        if title:
            self.heading(title, level=2)
        page = self._ensure(height)
        left = MARGIN + (self.width - width) / 2
        ax = page.add_axes((self._fx(left), self._fy(self.y + height), width / PAGE_WIDTH, height / PAGE_HEIGHT))
        ax.imshow(array, interpolation="none")  # the PDF keeps the PNG's own pixels
        ax.set_axis_off()
        self.y += height + 0.06
        if caption:
            self.text(caption, size=FONT_SIZE - 0.5, color=MUTED)
        self.space(0.15)
