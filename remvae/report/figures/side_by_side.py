"""Several runs' figures side by side (e.g. their text → image grids), each under its run's name."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from remvae.report.style import BAD, FONT_SIZE, report_style, wrap


def side_by_side_figure(images: Sequence[np.ndarray | None], titles: Sequence[str], width: float = 11.0,
                        ncols: int = 3, missing: str = "missing") -> Figure:
    """Images ``[H, W, 3]`` (uint8) in rows of at most ``ncols``, each titled; ``None`` draws ``missing`` instead."""
    if len(images) != len(titles):
        raise ValueError(f"{len(images)} images but {len(titles)} titles")
    ncols = max(1, min(ncols, len(images)))
    nrows = math.ceil(len(images) / ncols)
    aspect = max((image.shape[0] / image.shape[1] for image in images if image is not None), default=1.0)
    cell = width / ncols
    with report_style():
        fig = Figure(figsize=(width, nrows * (cell * aspect + 0.5)), layout="constrained")
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        for ax, image, title in zip(axes, images, titles):
            ax.set_axis_off()
            ax.set_title("\n".join(wrap(title, cell - 0.2, FONT_SIZE + 1, "bold")), fontsize=FONT_SIZE + 1,
                         fontweight="bold")
            if image is None:
                ax.text(0.5, 0.5, missing, ha="center", va="center", color=BAD, wrap=True, transform=ax.transAxes)
            else:
                ax.imshow(image, interpolation="antialiased")
        for ax in axes[len(images):]:
            ax.set_visible(False)
    return fig
