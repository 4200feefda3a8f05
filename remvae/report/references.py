"""The reference implementation's published numbers (its README's Table 1 and Table 2) and where ours are found.

Only values the README gives are listed; a configuration of its Table 2 whose numbers are not given
there is listed as not given (``None``), never filled in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

CITATION = ("Re-MVAE: Recurrent Multimodal VAE (bachelor's thesis 'Estudio acerca del entrenamiento con alineamiento "
            "de representaciones multimodales en el espacio latente'), https://github.com/ricardocardn/Re-MVAE")
SOURCE = f"the README of {CITATION}"
NOT_GIVEN = "not given"

TABLE_1_READERS = ("mnist", "fashion_mnist")
TABLE_1_NAMES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}


@dataclass(frozen=True)
class Table1Row:
    """One measure of Table 1: its published values per data set and the remvae metric measuring it.

    ``metric`` is an eval.json metric name of the evaluators in ``evaluators`` (registered names, tried in
    order: the shipped caption LM first for perplexities). ``share`` marks an accuracy (a fraction in
    eval.json, a percentage in the table).
    """

    measure: str
    published: Mapping[str, float]
    evaluators: tuple[str, ...]
    metric: str
    share: bool = False


PERPLEXITY_LMS = ("caption_perplexity", "lm_perplexity")
TABLE_1: tuple[Table1Row, ...] = (
    Table1Row("text → image accuracy", {"mnist": 76.18, "fashion_mnist": 64.06}, ("cross_modal",),
              "text_to_image_top1", share=True),
    Table1Row("image → text accuracy", {"mnist": 82.13, "fashion_mnist": 70.25}, ("cross_modal",),
              "image_to_text_vs_judge", share=True),
    Table1Row("text reconstruction PPL", {"mnist": 239.65, "fashion_mnist": 485.07}, PERPLEXITY_LMS,
              "reconstruction_perplexity"),
    Table1Row("image → text PPL", {"mnist": 272.98, "fashion_mnist": 498.02}, PERPLEXITY_LMS,
              "image_to_text_perplexity"),
    Table1Row("original text PPL", {"mnist": 272.18, "fashion_mnist": 492.34}, PERPLEXITY_LMS, "original_perplexity"),
)
TABLE_1_RATIOS = (("text reconstruction PPL / original", "reconstruction"), ("image → text PPL / original",
                                                                               "image_to_text"))
"""The ratios to the original captions' perplexity, which compare across language models: (label, caption set)."""


def published_ratio(reader: str, caption_set: str) -> float:
    """The reference's perplexity of ``caption_set`` over its original captions' on ``reader``."""
    by_metric = {row.metric: row.published[reader] for row in TABLE_1}
    return by_metric[f"{caption_set}_perplexity"] / by_metric["original_perplexity"]


@dataclass(frozen=True)
class Table2Row:
    """One CelebA configuration of Table 2 (text architecture, image side) and its published FIDs, if given."""

    text: str
    image_size: int
    reconstruction: float | None = None
    generation: float | None = None

    @property
    def label(self) -> str:
        return f"{TEXT_NAMES.get(self.text, self.text)} {self.image_size}×{self.image_size}"

    @property
    def difference(self) -> float | None:
        """Generation FID minus reconstruction FID, as the README gives it."""
        if self.reconstruction is None or self.generation is None:
            return None
        return round(self.generation - self.reconstruction, 2)


TEXT_NAMES = {"gru": "GRU", "lstm": "LSTM", "xlstm": "xLSTM"}
_GIVEN = {("gru", 56): (102.02, 111.31), ("xlstm", 32): (102.71, 106.82)}
TABLE_2: tuple[Table2Row, ...] = tuple(
    Table2Row(text, size, *_GIVEN.get((text, size), (None, None)))
    for text in ("gru", "lstm", "xlstm") for size in (32, 56, 128)
)
TABLE_2_READERS = ("celeba",)


def table_1_value(row: Table1Row, reader: str | None) -> float | None:
    """The published value of ``row`` for ``reader`` (``None`` when the reader is not in Table 1)."""
    return row.published.get(reader or "")


def format_published(value: float | None, share: bool = False) -> str:
    """``76.18%`` or ``239.65``; ``not given`` for a value the README does not give."""
    if value is None:
        return NOT_GIVEN
    return f"{value:.2f}%" if share else f"{value:.2f}"
