"""``figures/*.png`` of a run: the thin layer that fetches model outputs and test data for the figure functions.

Every figure whose inputs exist is written; one whose inputs are missing (no checkpoint, data
not on this machine, no training log) is recorded as missing, with the reason, in
``figures/figures.json``, which the report reads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from matplotlib.figure import Figure
from torch import Tensor

from remvae.core.checkpoint import CheckpointError
from remvae.core.config import ConfigError
from remvae.core.data import DataNotFoundError, ImageTextDataset
from remvae.core.runfolder import RunFolder, RunFolderError, write_json
from remvae.experiment import test_data
from remvae.model import LoadedModel, load
from remvae.playground.readers.errors import DataFormatError
from remvae.report.catalog import FIGURES_BY_NAME
from remvae.report.figures import (
    InterpolationPath,
    curves_figure,
    image_to_text_figure,
    interpolations_figure,
    latent_figure,
    prior_samples_figure,
    reconstructions_figure,
    text_to_image_figure,
    transfer_figure,
)
from remvae.report.runfolder import RunFiles
from remvae.report.style import save_png
from remvae.report.subject import curve_set

MISSING_INPUT = (RunFolderError, CheckpointError, DataNotFoundError, DataFormatError, ConfigError)
BATCH = 500


@dataclass
class VisualOptions:
    """How much each figure shows."""

    images: int = 16  # test images in the reconstruction, image -> text and prior-sample grids
    per_caption: int = 8  # images generated from each caption
    captions: int = 10  # captions in the text -> image figure when the data set has no classes
    steps: int = 8  # points along each interpolation
    transfer_images: int = 6  # source images in the transfer figure
    transfer_captions: int = 10  # target captions in it
    latent_points: int = 500  # test pairs in the latent-space projections (t-SNE time grows with them)
    seed: int = 0
    prior_scale: float | None = None  # text -> image draws from the conditional prior at this spread, if the model has one


def visualize(run_dir: RunFolder | Path, model: LoadedModel | None = None, test_set: ImageTextDataset | None = None,
              options: VisualOptions | None = None) -> list[Path]:
    """Write the run's figures to ``<run>/figures/`` and return the paths written.

    ``model`` and ``test_set`` default to ``remvae.load(run)`` and the test split named by the
    run's config.json; figures that need one that cannot be had are listed as missing. The manifest
    ``figures/figures.json`` records which checkpoint the figures show.
    """
    run = RunFiles(run_dir)
    options = options or VisualOptions()
    manifest: dict[str, dict[str, str]] = {}
    written: list[Path] = []

    def produce(name: str, build: Callable[[], Figure] | None, reason: str = "") -> None:
        spec = FIGURES_BY_NAME[name]
        if build is None:
            manifest[name] = {"status": "missing", "reason": reason}
            run.folder.figure(name).unlink(missing_ok=True)  # never leave an older run's figure
            return
        written.append(save_png(build(), run.folder.figure(name)))
        manifest[name] = {"status": "written", "file": spec.file, "caption": spec.caption}

    records = run.train_records()
    if records:
        produce("training_curves", lambda: curves_figure([curve_set(run.name, [run])]))
    else:
        produce("training_curves", None, f"metrics/train.jsonl: {run.problem(run.folder.train_log, 'no records')}")

    reasons = []
    if model is None:
        try:
            model = load(run.root)
        except MISSING_INPUT as error:
            reasons.append(f"no trained model: {error}")
    if test_set is None:
        try:
            test_set = load_test_set(run)
        except MISSING_INPUT as error:
            reasons.append(f"no test data: {error}")
    if model is None or test_set is None:
        for name in ("reconstructions", "text_to_image", "image_to_text", "prior_samples", "interpolations",
                     "latent_space"):
            produce(name, None, "; ".join(reasons))
    else:
        model_figures(model, test_set, options, produce)
    write_json(run.folder.figure_manifest, {"checkpoint": model.identity if model is not None else None,
                                           "figures": manifest})
    return written


def load_test_set(run: RunFiles) -> ImageTextDataset:
    """The test split of the run's reader, as its config.json configures it."""
    config = run.config
    if config is None:
        raise RunFolderError(f"{run.folder.config}: {run.problem(run.folder.config)}; cannot tell the data set")
    reader = config.get("reader")
    if not isinstance(reader, dict) or "name" not in reader:
        raise RunFolderError(f"{run.folder.config}: no reader entry with a name")
    data = config.get("data") or {}
    return test_data(reader["name"], reader.get("config") or {}, data.get("test_length"))


FIGURE_NEEDS = {"reconstructions": {"image"}, "text_to_image": {"image", "text"}, "image_to_text": {"image", "text"},
                "prior_samples": {"image"}, "interpolations": {"image", "text"}, "latent_space": {"image", "text"}}
"""The modalities a model must have for each figure (a single-modality model draws only what it can)."""


def model_figures(model: LoadedModel, test_set: ImageTextDataset, options: VisualOptions,
                  produce: Callable[..., None]) -> None:
    """Every figure that needs the model and that its modalities allow, from a seeded selection of test items."""
    order = torch.randperm(len(test_set), generator=torch.Generator().manual_seed(options.seed))
    for name, needs in FIGURE_NEEDS.items():
        lacking = needs - set(model.modalities)
        if lacking:
            produce(name, None, f"the model has no {' or '.join(sorted(lacking))} (its modalities: "
                                f"{', '.join(model.modalities)})")
    if "image" not in model.modalities:
        return
    shown = order[: options.images]
    images = test_set.images[shown].float() / 255.0
    seed = options.seed
    produce("reconstructions", lambda: reconstructions_figure(images, model.reconstruct_image(images).cpu()))
    produce("prior_samples", lambda: prior_samples(model, options))
    if "text" not in model.modalities:
        return
    produce("text_to_image", lambda: text_to_image(model, test_set, order, options))
    produce("image_to_text", lambda: image_to_text(model, test_set, images, test_set.labels[shown]))
    produce("interpolations", lambda: interpolations_figure(interpolation_paths(model, test_set, order, options.steps)))
    produce("latent_space", lambda: latent_space(model, test_set, order[: options.latent_points], seed))
    produce("transfer", lambda: transfer(model, test_set, order, options))


def transfer(model: LoadedModel, test_set: ImageTextDataset, order: Tensor, options: VisualOptions) -> Figure:
    """A few test images, each redrawn with the content of one caption per class (or per distinct caption)."""
    captions = caption_choice(test_set, order, options.transfer_captions)[: options.transfer_captions]
    sources = order[: options.transfer_images]
    images = test_set.images[sources].float() / 255.0
    own = [test_set.captions[i] for i in sources.tolist()]
    chosen = model.chosen_transfer_strength()
    strength = model.transfer_strength()
    grid = [model.transfer(image.unsqueeze(0).expand(len(captions), -1, -1, -1), captions, [caption] * len(captions),
                           strength).cpu()
            for image, caption in zip(images, own)]
    basis = model.chosen_content_basis()
    source = ("the strength chosen on the validation split" if chosen is not None else
              "remvae's default (the run has no transfer evaluation to choose it on the validation split)")
    if basis is not None:
        source += f", the style projected off {basis.shape[1]} content directions chosen with it"
    return transfer_figure(images, captions, grid, strength, source)


def prior_samples(model: LoadedModel, options: VisualOptions) -> Figure:
    """Prior draws decoded by every decoder the model has (an image-only model's images go uncaptioned)."""
    samples = model.sample(options.images, seed=options.seed)
    captions = samples.texts if "text" in model.modalities else None
    return prior_samples_figure(samples.images, captions, prior=prior_name(model))


def prior_name(model: LoadedModel) -> str:
    """The name of the prior the model's samples come from (``N(0, I)`` for the standard normal)."""
    name = model.model.prior().name
    return "N(0, I)" if name == "standard_normal" else name


def caption_choice(test_set: ImageTextDataset, order: Tensor, count: int) -> list[str]:
    """One test caption per class (in class order), or the first ``count`` distinct ones for data without classes."""
    if not test_set.multilabel:
        labels = test_set.labels[order].tolist()
        first = {}
        for index, label in zip(order.tolist(), labels):
            first.setdefault(int(label), test_set.captions[index])
        return [first[label] for label in sorted(first)]
    chosen: list[str] = []
    for index in order.tolist():
        caption = test_set.captions[index]
        if caption not in chosen:
            chosen.append(caption)
        if len(chosen) == count:
            break
    return chosen


def text_to_image(model: LoadedModel, test_set: ImageTextDataset, order: Tensor, options: VisualOptions) -> Figure:
    captions = caption_choice(test_set, order, options.captions)
    scale = options.prior_scale if model.has_conditional_prior else None
    rows = []
    for index, caption in enumerate(captions):
        row = [model.text_to_image([caption]).cpu()]
        if options.per_caption > 1:
            row.append(model.text_to_image([caption] * (options.per_caption - 1), sample=True,
                                           seed=options.seed + index, prior_scale=scale).cpu())
        rows.append(torch.cat(row))
    drawn = "q(z|caption)" if scale is None else f"the conditional prior p(z|caption), spread x{scale:g}"
    return text_to_image_figure(captions, rows, note=f"First column: z = mean of q(z|caption); the others: z drawn "
                                                     f"from {drawn}.")


def judged(captions: Sequence[str], labels: Tensor, test_set: ImageTextDataset) -> list[bool | None]:
    """Whether each caption names its image's label, by the data set's caption grammar (``None``: cannot tell)."""
    if test_set.grammar is None or test_set.multilabel:
        return [None] * len(captions)
    return [test_set.grammar.mentioned_label(c) == int(y) for c, y in zip(captions, labels.tolist())]


def image_to_text(model: LoadedModel, test_set: ImageTextDataset, images: Tensor, labels: Tensor) -> Figure:
    captions = model.image_to_text(images)
    return image_to_text_figure(images, captions, judged(captions, labels, test_set))


def describe(test_set: ImageTextDataset, index: int) -> str:
    if test_set.multilabel:
        return f"test image {index}"
    return f"test image ({test_set.label_names[int(test_set.labels[index])]})"


def interpolation_paths(model: LoadedModel, test_set: ImageTextDataset, order: Tensor,
                        steps: int) -> list[InterpolationPath]:
    """Image → image, caption → caption and caption → image, between two test pairs of different labels."""
    first = int(order[0])
    second = next((int(i) for i in order[1:] if not torch.equal(test_set.labels[i], test_set.labels[first])),
                  int(order[min(1, len(order) - 1)]))
    image_a, image_b = test_set.image(first), test_set.image(second)
    caption_a, caption_b = test_set.captions[first], test_set.captions[second]
    paths = []
    for start, end, a, b in (
        (describe(test_set, first), describe(test_set, second), image_a, image_b),
        (f"“{caption_a}”", f"“{caption_b}”", caption_a, caption_b),
        (f"“{caption_a}”", describe(test_set, second), caption_a, image_b),
    ):
        result = model.interpolate(a, b, steps)
        paths.append(InterpolationPath(start, end, result.images.cpu(), result.texts))
    return paths


def latent_space(model: LoadedModel, test_set: ImageTextDataset, chosen: Tensor, seed: int) -> Figure:
    image_means, text_means = [], []
    for start in range(0, len(chosen), BATCH):
        index = chosen[start: start + BATCH]
        image_means.append(model.encode_image(test_set.images[index]).mean.cpu())
        text_means.append(model.encode_text([test_set.captions[i] for i in index.tolist()]).mean.cpu())
    return latent_figure(torch.cat(image_means), torch.cat(text_means), test_set.labels[chosen], test_set.label_names,
                         seed=seed)
