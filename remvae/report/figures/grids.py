"""Image grids: reconstructions, text → image, image → text, prior samples and any captioned grid."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from matplotlib.figure import Figure
from torch import Tensor

from remvae.report.figures.canvas import Canvas, as_batch, image_box
from remvae.report.style import BAD, FONT_SIZE, GOOD, MUTED

CAPTION_SIZE = 7.5
CAPTION_LINES = 8  # CelebA captions name up to 8 attributes


@dataclass
class CaptionedSection:
    """Images with a caption under each; ``correct`` marks captions right (True), wrong (False) or unjudged (None)."""

    title: str
    images: Tensor
    captions: Sequence[str]
    correct: Sequence[bool | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.images = as_batch(self.images)
        if len(self.images) != len(self.captions):
            raise ValueError(f"{self.title!r}: {len(self.images)} images but {len(self.captions)} captions")
        if self.correct and len(self.correct) != len(self.captions):
            raise ValueError(f"{self.title!r}: {len(self.captions)} captions but {len(self.correct)} marks")


def captioned_grid_figure(title: str, sections: Sequence[CaptionedSection], ncols: int = 8,
                          cell: float = 1.05, note: str = "") -> Figure:
    """Sections of images in rows of ``ncols``, each image with its (wrapped) caption under it."""
    canvas = Canvas(width=ncols * cell + 0.4)
    canvas.text(title, size=FONT_SIZE + 3, weight="bold")
    if note:
        canvas.text(note, size=FONT_SIZE, color=MUTED)
    for section in sections:
        canvas.skip(0.12)
        if section.title:
            canvas.text(section.title, size=FONT_SIZE + 1, weight="bold")
            canvas.skip(0.04)
        box_w, box_h = image_box(section.images, cell)
        marks = list(section.correct) or [None] * len(section.captions)
        for start in range(0, len(section.images), ncols):
            tallest = 0.0
            for col, index in enumerate(range(start, min(start + ncols, len(section.images)))):
                x = canvas.margin + col * cell + (cell - box_w) / 2
                mark = marks[index]
                color = {True: GOOD, False: BAD, None: "black"}[mark]
                canvas.image(section.images[index], x, box_w, box_h, frame=BAD if mark is False else None)
                prefix = {True: "✓ ", False: "✗ ", None: ""}[mark]
                height = canvas.text(prefix + (section.captions[index] or "(empty caption)"),
                                     x=canvas.margin + col * cell + 0.05, width=cell - 0.1, size=CAPTION_SIZE,
                                     color=color, align="center", max_lines=CAPTION_LINES, advance=False,
                                     dy=box_h + 0.03)
                tallest = max(tallest, height)
            canvas.skip(box_h + 0.03 + tallest + 0.1)
    return canvas.build()


def reconstructions_figure(originals: Tensor, reconstructions: Tensor, ncols: int = 8, cell: float = 1.0) -> Figure:
    """Rows of test images, each above a row of their reconstructions."""
    originals, reconstructions = as_batch(originals), as_batch(reconstructions)
    if originals.shape != reconstructions.shape:
        raise ValueError(f"originals {tuple(originals.shape)} and reconstructions "
                         f"{tuple(reconstructions.shape)} differ")
    label_w = 1.1
    canvas = Canvas(width=label_w + ncols * cell + 0.4)
    canvas.text("Reconstructions: test images (upper row) and their reconstructions (lower row)",
                size=FONT_SIZE + 3, weight="bold")
    canvas.skip(0.1)
    box_w, box_h = image_box(originals, cell)
    for start in range(0, len(originals), ncols):
        for images, label in ((originals, "test image"), (reconstructions, "reconstruction")):
            canvas.text(label, width=label_w - 0.1, color=MUTED, advance=False, dy=box_h / 2 - 0.06)
            for col, index in enumerate(range(start, min(start + ncols, len(images)))):
                canvas.image(images[index], canvas.margin + label_w + col * cell, box_w, box_h)
            canvas.skip(box_h + 0.04)
        canvas.skip(0.12)
    return canvas.build()


def text_to_image_figure(captions: Sequence[str], images: Sequence[Tensor], note: str = "",
                         cell: float = 0.9) -> Figure:
    """One row per caption, titled with the caption, holding the images generated from it."""
    if len(captions) != len(images):
        raise ValueError(f"{len(captions)} captions but {len(images)} rows of images")
    rows = [as_batch(row) for row in images]
    ncols = max((len(row) for row in rows), default=1)
    canvas = Canvas(width=ncols * cell + 0.4)
    canvas.text("Text → image: images generated from each caption", size=FONT_SIZE + 3, weight="bold")
    if note:
        canvas.text(note, color=MUTED)
    for caption, row in zip(captions, rows):
        canvas.skip(0.1)
        canvas.text(f"“{caption}”", size=FONT_SIZE + 0.5, weight="bold", max_lines=3)
        canvas.skip(0.03)
        box_w, box_h = image_box(row, cell)
        for col in range(len(row)):
            canvas.image(row[col], canvas.margin + col * cell, box_w, box_h)
        canvas.skip(box_h)
    return canvas.build()


def image_to_text_figure(images: Tensor, captions: Sequence[str], correct: Sequence[bool | None] = (),
                         ncols: int = 8) -> Figure:
    """Test images with the captions generated from them; wrong captions in red with a red frame."""
    judged = [c for c in correct if c is not None]
    if judged:
        note = (f"✓ the caption names the image's label, ✗ it names another or none (red frame). "
                f"{sum(judged)} of {len(judged)} right.")
    else:
        note = ("Captions are not marked: the data set has no single label per image to check them against "
                "(attribute captions are scored by precision, recall and F1 in the evaluation).")
    section = CaptionedSection("", images, captions, correct)
    return captioned_grid_figure("Image → text: test images and the captions generated from them", [section],
                                 ncols=ncols, note=note)


def images_figure(title: str, images: Tensor, ncols: int = 8, cell: float = 1.0) -> Figure:
    """A titled grid of images, ``ncols`` to a row."""
    images = as_batch(images)
    canvas = Canvas(width=ncols * cell + 0.4)
    canvas.text(title, size=FONT_SIZE + 3, weight="bold")
    canvas.skip(0.1)
    box_w, box_h = image_box(images, cell)
    for start in range(0, len(images), ncols):
        for col, index in enumerate(range(start, min(start + ncols, len(images)))):
            canvas.image(images[index], canvas.margin + col * cell + (cell - box_w) / 2, box_w, box_h)
        canvas.skip(box_h + 0.08)
    return canvas.build()


def prior_samples_figure(images: Tensor, captions: Sequence[str] | None, ncols: int = 8,
                         prior: str = "N(0, I)") -> Figure:
    """Latents drawn from the model's prior (named by ``prior``), decoded by the image decoder (image) and the text
    decoder (caption); ``captions`` ``None`` for a model without text."""
    if captions is None:
        return images_figure(f"Prior samples: z drawn from the {prior} prior, decoded by the image decoder", images,
                             ncols)
    section = CaptionedSection("", images, captions)
    return captioned_grid_figure(
        f"Prior samples: z drawn from the {prior} prior, decoded by both decoders", [section], ncols=ncols,
        note="Each image and the caption under it are decoded from the same z.",
    )


def transfer_figure(sources: Tensor, captions: Sequence[str], grid: Sequence[Tensor], strength: float,
                    strength_source: str, cell: float = 0.9) -> Figure:
    """Style transfer: one row per source image (first column), one column per target caption; each cell is the
    source redrawn with that caption's content and the source's style."""
    if len(grid) != len(sources):
        raise ValueError(f"{len(sources)} source images but {len(grid)} rows of transfers")
    sources = as_batch(sources)
    gap = 0.15
    canvas = Canvas(width=(len(captions) + 1) * cell + gap + 0.4)
    canvas.text("Transfer: each test image (left) redrawn with the content of each caption, in its own style",
                size=FONT_SIZE + 3, weight="bold")
    canvas.text(f"Style kept at strength {strength:g}, {strength_source} (0: the caption's mean image, 1: the "
                "source's style at full weight).", color=MUTED)
    canvas.skip(0.1)
    left = canvas.margin + cell + gap
    height = max(canvas.text(f"“{caption}”", x=left + col * cell, width=cell, size=FONT_SIZE - 1.5, align="center",
                             max_lines=4, advance=False) for col, caption in enumerate(captions))
    canvas.text("source", width=cell, size=FONT_SIZE - 1.5, align="center", advance=False, dy=height - 0.2)
    canvas.skip(height + 0.05)
    for source, row in zip(sources, grid):
        row = as_batch(row)
        box_w, box_h = image_box(row, cell)
        canvas.image(source, canvas.margin, box_w, box_h)
        for col in range(len(row)):
            canvas.image(row[col], left + col * cell, box_w, box_h)
        canvas.skip(box_h + 0.04)
    return canvas.build()
