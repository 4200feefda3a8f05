"""The test set's image and text posterior means projected to 2-D (PCA and t-SNE)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from threadpoolctl import threadpool_limits
from torch import Tensor

from remvae.report.style import FONT_SIZE, report_style, wrap

PREFERRED_ATTRIBUTES = ("Male", "Smiling")  # CelebA attributes that are plain to see in a face


def colour_labels(labels: Tensor, label_names: Sequence[str]) -> tuple[np.ndarray, list[str], str]:
    """Per-point class ids, the names of the classes and a description of what the colour shows.

    Multi-label data (``labels`` ``[N, K]``, e.g. CelebA attributes) is coloured by one attribute:
    the first of :data:`PREFERRED_ATTRIBUTES` it has, else the one whose positives are closest to
    half of the points, so both colours are well represented.
    """
    labels = torch.as_tensor(labels)
    if labels.dim() == 1:
        return labels.long().numpy(), list(label_names), "label"
    names = list(label_names)
    preferred = [names.index(name) for name in PREFERRED_ATTRIBUTES if name in names[: labels.shape[1]]]
    share = labels.float().mean(dim=0)
    attribute = preferred[0] if preferred else int((share - 0.5).abs().argmin())
    name = label_names[attribute] if attribute < len(label_names) else f"attribute {attribute}"
    return labels[:, attribute].long().numpy(), [f"not {name}", name], f"attribute “{name}”"


def project(image_means: np.ndarray, text_means: np.ndarray, method: str,
            seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """2-D coordinates of both sets, fitted jointly so image and text points share one map."""
    # imported here: scikit-learn takes seconds to import and only this figure needs it
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    joint = np.concatenate([image_means, text_means]).astype(np.float64)
    if method == "pca":
        points = PCA(n_components=2, random_state=seed).fit_transform(joint)
    elif method == "tsne":
        perplexity = float(min(30.0, max(2.0, (len(joint) - 1) / 3)))
        tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
        # scikit-learn's OpenMP would take every core; keep to torch's thread budget (spinning threads on a
        # busy machine slow t-SNE down many times over)
        with threadpool_limits(torch.get_num_threads()):
            points = tsne.fit_transform(joint)
    else:
        raise ValueError(f"unknown projection {method!r}; use 'pca' or 'tsne'")
    return points[: len(image_means)], points[len(image_means):]


def latent_figure(image_means: Tensor, text_means: Tensor, labels: Tensor, label_names: Sequence[str],
                  seed: int = 0) -> Figure:
    """PCA and t-SNE of the posterior means: colour = label, filled circle = image, cross = text."""
    image_means = torch.as_tensor(image_means).detach().float().cpu().numpy()
    text_means = torch.as_tensor(text_means).detach().float().cpu().numpy()
    if image_means.shape != text_means.shape or len(image_means) != len(labels):
        raise ValueError(f"image means {image_means.shape}, text means {text_means.shape} and {len(labels)} labels "
                         "must describe the same pairs")
    classes, names, coloured_by = colour_labels(labels, label_names)
    with report_style():
        fig = Figure(figsize=(9.0, 5.4), layout="constrained")
        axes = fig.subplots(1, 2)
        palette = _palette(len(names))
        colours = palette[classes % len(palette)]
        for ax, method, title in zip(axes, ("pca", "tsne"), ("PCA", "t-SNE")):
            image_xy, text_xy = project(image_means, text_means, method, seed)
            ax.scatter(image_xy[:, 0], image_xy[:, 1], c=colours, marker="o", s=14, alpha=0.55, linewidths=0)
            ax.scatter(text_xy[:, 0], text_xy[:, 1], c=colours, marker="x", s=22, alpha=0.9, linewidths=0.9)
            ax.set_title(f"{title} of the posterior means ({len(image_means)} test pairs)")
            ax.set_xticks([])
            ax.set_yticks([])
        handles = [Line2D([], [], marker="o", ls="", color="0.3", label="image q(z|x)"),
                   Line2D([], [], marker="x", ls="", color="0.3", label="text q(z|caption)")]
        handles += [Line2D([], [], marker="s", ls="", color=palette[i % len(palette)], label=name)
                    for i, name in enumerate(names)]
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6), frameon=False,
                   title=f"colour: {coloured_by}")
        heading = "Latent space: image and text posteriors of the same test pairs should overlap"
        fig.suptitle("\n".join(wrap(heading, 8.6, FONT_SIZE + 3, "bold")), fontsize=FONT_SIZE + 3, fontweight="bold")
    return fig


def _palette(n: int) -> np.ndarray:
    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return np.asarray([cmap(i % cmap.N) for i in range(max(n, 1))])
