"""The reference implementation's published numbers, and where ours are found in eval.json.

The reference's README reports cross-modal accuracies judged by its own classifiers, and CelebA
FIDs of about 100-130; a report on one of its data sets prints these beside our values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

SOURCE = "the reference implementation's README (judged by its own classifiers)"


@dataclass(frozen=True)
class ReferenceResult:
    """One published number: the reader it belongs to, what it measures, and which eval.json metric is ours.

    ``ours`` are regular expressions tried in order against ``evaluator.metric`` keys (dots between
    nesting levels); the first key that matches holds our number.
    """

    reader: str
    measure: str
    published: str
    ours: tuple[str, ...]


# Keys of the cross_modal evaluator (under whatever name args.json gave it); FIDs only from Inception FID.
TEXT_TO_IMAGE = r"(^|\.)text_to_image_top1$"
IMAGE_TO_TEXT = r"(^|\.)image_to_text_vs_judge$"
REFERENCE_RESULTS: tuple[ReferenceResult, ...] = (
    ReferenceResult("mnist", "text → image accuracy", "76.18%", (TEXT_TO_IMAGE,)),
    ReferenceResult("mnist", "image → text accuracy (vs judge)", "82.13%", (IMAGE_TO_TEXT,)),
    ReferenceResult("fashion_mnist", "text → image accuracy", "64.06%", (TEXT_TO_IMAGE,)),
    ReferenceResult("fashion_mnist", "image → text accuracy (vs judge)", "70.25%", (IMAGE_TO_TEXT,)),
    ReferenceResult("celeba", "FID, reconstructions", "≈ 100–130", (r"^fid\.reconstruction_fid$",)),
    ReferenceResult("celeba", "FID, text → image", "≈ 100–130", (r"^fid\.text_to_image_fid$",)),
    ReferenceResult("celeba", "FID, prior samples", "≈ 100–130", (r"^fid\.prior_fid$",)),
)


def references_for(reader: str | None) -> list[ReferenceResult]:
    """The published numbers for an experiment's reader (none when it is not a reference data set)."""
    return [result for result in REFERENCE_RESULTS if result.reader == reader]


def find_ours(result: ReferenceResult, metrics: Mapping[str, Mapping[str, Any]]) -> tuple[str, Any] | None:
    """``(key, value)`` of our metric matching ``result`` in ``{evaluator: {metric: value}}``, if any."""
    keys = {f"{evaluator}.{name}": value for evaluator, values in metrics.items() for name, value in values.items()}
    for pattern in result.ours:
        for key, value in keys.items():
            if re.search(pattern, key):
                return key, value
    return None
