"""Absolute layout in inches, top to bottom, for figures made of image cells and wrapped text.

Heights are known only after every caption is wrapped, so drawing is recorded first and the
figure is created once its total height is known; nothing can overlap or leave the page.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import Tensor

from remvae.report.style import FONT_SIZE, line_height, report_style, wrap

Draw = Callable[[Figure, Axes, float], None]  # (figure, the full-figure axes in inches, total height)


def to_array(image: Tensor) -> np.ndarray:
    """A float image ``[C, H, W]`` in [0, 1] as ``[H, W]`` (grey) or ``[H, W, 3]`` for imshow."""
    image = image.detach().float().cpu().clamp(0.0, 1.0)
    if image.dim() != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"expected an image [C, H, W] with C = 1 or 3, got shape {tuple(image.shape)}")
    return image[0].numpy() if image.shape[0] == 1 else image.permute(1, 2, 0).numpy()


def as_batch(images: Tensor | np.ndarray) -> Tensor:
    images = torch.as_tensor(images)
    if images.dim() == 3:
        images = images.unsqueeze(1)
    if images.dim() != 4:
        raise ValueError(f"expected images [N, C, H, W], got shape {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        images = images.float() / 255.0
    return images


class Canvas:
    """Records text and images at positions in inches from the top-left corner, then builds the figure."""

    def __init__(self, width: float, margin: float = 0.2) -> None:
        self.width = width
        self.margin = margin
        self.y = margin
        self._draws: list[Draw] = []

    @property
    def inner_width(self) -> float:
        return self.width - 2 * self.margin

    def text(
        self,
        text: str,
        x: float | None = None,
        width: float | None = None,
        size: float = FONT_SIZE,
        weight: str = "normal",
        color: str = "black",
        align: str = "left",
        max_lines: int | None = None,
        advance: bool = True,
        dy: float = 0.0,
    ) -> float:
        """Wrapped text ``dy`` below the current y; returns its height (and moves down by it if ``advance``)."""
        x = self.margin if x is None else x
        width = self.inner_width if width is None else width
        lines = wrap(text, width, size, weight)
        if max_lines is not None and len(lines) > max_lines:
            lines = lines[:max_lines]
            lines[-1] = _ellipsize(lines[-1], width, size, weight)
        top, height = self.y + dy, len(lines) * line_height(size)
        anchor = {"left": x, "center": x + width / 2, "right": x + width}[align]

        def draw(fig: Figure, ax: Axes, total: float) -> None:
            fig.text(
                anchor / self.width, 1 - top / total, "\n".join(lines), ha=align, va="top", fontsize=size,
                fontweight=weight, color=color, linespacing=1.3, multialignment=align,
            )

        self._draws.append(draw)
        if advance:
            self.y += height
        return height

    def image(self, image: Tensor, x: float, width: float, height: float, frame: str | None = None) -> None:
        """An image scaled into the box at (x, current y), without moving down; ``frame`` colours its border."""
        top = self.y
        array = to_array(image)

        def draw(fig: Figure, ax: Axes, total: float) -> None:
            ax.imshow(array, cmap="gray" if array.ndim == 2 else None, vmin=0.0, vmax=1.0, interpolation="nearest",
                      extent=(x, x + width, top + height, top), aspect="auto")
            if frame is not None:
                ax.add_patch(Rectangle((x, top), width, height, fill=False, edgecolor=frame, linewidth=2.5))

        self._draws.append(draw)

    def skip(self, height: float) -> None:
        self.y += height

    def build(self) -> Figure:
        total = self.y + self.margin
        with report_style():
            fig = Figure(figsize=(self.width, total))
            # One axes in inches (y downwards) holds every image: far cheaper than an axes per image.
            ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
            ax.set_axis_off()
            for draw in self._draws:
                draw(fig, ax, total)
            ax.set_xlim(0.0, self.width)
            ax.set_ylim(total, 0.0)
        return fig


def _ellipsize(line: str, width: float, size: float, weight: str) -> str:
    while line and len(wrap(line + "…", width, size, weight)) > 1:
        line = line[:-1]
    return line + "…"


def image_box(images: Tensor, cell: float) -> tuple[float, float]:
    """Width and height in inches of an image drawn in a cell ``cell`` inches wide, keeping its aspect ratio."""
    h, w = images.shape[-2:]
    width = cell * 0.92
    return width, width * h / w
