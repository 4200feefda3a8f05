"""The figures a run's ``figures/`` folder holds: file names, titles and the captions the report prints."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FigureSpec:
    """A figure of ``figures/``: ``name.png``, the title and caption the report prints."""

    name: str
    title: str
    caption: str

    @property
    def file(self) -> str:
        return f"{self.name}.png"


FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("reconstructions", "Reconstructions",
               "Test images (upper rows) and their reconstructions by the image VAE, decoded from the posterior "
               "mean of q(z|x)."),
    FigureSpec("text_to_image", "Text → image",
               "Images generated from captions: one row per caption, titled with it. The first image of a row is "
               "decoded from the mean of q(z|caption), the others from draws of q(z|caption), or of the conditional "
               "prior p(z|caption) where the run has one (the figure's note says which)."),
    FigureSpec("image_to_text", "Image → text",
               "Test images with the captions generated from them (z = posterior mean, greedy decoding). ✓: the "
               "caption names the image's true label; ✗ (red, framed): it names another label or none."),
    FigureSpec("prior_samples", "Prior samples",
               "Latents z drawn from the run's prior, decoded by every decoder the model has: each image and the "
               "caption under it come from the same z."),
    FigureSpec("interpolations", "Interpolations",
               "Straight lines in latent space between two test images, between two captions, and from a caption "
               "to an image, decoded at each step as an image and as a caption."),
    FigureSpec("latent_space", "Latent space",
               "Posterior means of the test pairs projected to 2-D by PCA and t-SNE, fitted on both modalities "
               "together: circles are images, crosses captions, colours labels. Aligned posteriors overlap."),
    FigureSpec("training_curves", "Training curves",
               "Every logged loss term, β and the learning rate against training steps; faint: logged values, "
               "line: exponential moving average, markers: the validation terms at β = 1, once per epoch."),
)
OPTIONAL_FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("transfer", "Transfer",
               "Test images re-rendered to match other captions by the model's transfer method (only models that have "
               "one draw this figure)."),
)
"""Figures only some models have; the report shows them when ``figures.json`` lists them as written."""
FIGURES_BY_NAME = {spec.name: spec for spec in (*FIGURES, *OPTIONAL_FIGURES)}
