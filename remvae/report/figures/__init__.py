"""Figure functions: plain tensors, lists and records in, a matplotlib ``Figure`` out (no file or model access)."""

from remvae.report.figures.curves import CurveSet, curves_figure
from remvae.report.figures.grids import (
    CaptionedSection,
    captioned_grid_figure,
    image_to_text_figure,
    prior_samples_figure,
    reconstructions_figure,
    text_to_image_figure,
    transfer_figure,
)
from remvae.report.figures.interpolations import (
    InterpolationPath,
    interpolations_figure,
)
from remvae.report.figures.latent import latent_figure

__all__ = [
    "CaptionedSection",
    "CurveSet",
    "InterpolationPath",
    "captioned_grid_figure",
    "curves_figure",
    "image_to_text_figure",
    "interpolations_figure",
    "latent_figure",
    "prior_samples_figure",
    "reconstructions_figure",
    "text_to_image_figure",
    "transfer_figure",
]
