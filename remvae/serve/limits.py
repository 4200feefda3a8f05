"""What a request may ask of the server, and the checks that refuse the rest with one line naming the field.

Every check raises :class:`InputError` (an HTTP status, the field, and what is allowed), which the app
answers as ``{"error": "<field>: <message>", "field": "<field>"}``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

BAD_REQUEST, TOO_LARGE, UNSUPPORTED_TYPE = 400, 413, 415


class InputError(Exception):
    """A request value outside what the server accepts: ``status``, the ``field`` and a one-line message."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.status = status
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Limits:
    """Bounds on every request input (the defaults suit a local machine and images of a few hundred pixels)."""

    max_caption_chars: int = 200
    max_captions: int = 8
    max_samples: int = 16
    """Sampled images per caption, sampled captions per image, and prior samples per request."""
    max_steps: int = 16
    max_upload_bytes: int = 4 * 1024 * 1024
    max_image_side: int = 2048
    """Width and height of an uploaded image, read from its header before it is decoded."""
    max_temperature: float = 5.0
    max_prior_scale: float = 5.0
    max_seed: int = 2**32 - 1

    @property
    def max_image_pixels(self) -> int:
        return self.max_image_side**2

    @property
    def max_request_bytes(self) -> int:
        """A request body: two base64 images (interpolation, transfer) and room for the other fields."""
        return 2 * math.ceil(self.max_upload_bytes * 4 / 3) + 64 * 1024


def bounded_int(field: str, value: int, low: int, high: int) -> int:
    """``value`` when ``low <= value <= high``."""
    if not low <= value <= high:
        raise InputError(BAD_REQUEST, field, f"must be an integer from {low} to {high}; got {value}")
    return value


def bounded_number(field: str, value: float, low: float, high: float) -> float:
    """``value`` when finite and ``low <= value <= high`` (NaN and infinities are refused)."""
    if not (math.isfinite(value) and low <= value <= high):
        raise InputError(BAD_REQUEST, field, f"must be a finite number from {low:g} to {high:g}; got {value}")
    return value


def bounded_caption(field: str, text: str, limits: Limits) -> str:
    """``text`` when it has 1 to ``max_caption_chars`` characters, not all of them spaces."""
    if not text.strip() or len(text) > limits.max_caption_chars:
        raise InputError(
            BAD_REQUEST, field,
            f"a caption has 1 to {limits.max_caption_chars} characters, not only spaces; got {len(text)} characters",
        )
    return text


def bounded_captions(field: str, texts: Sequence[str], limits: Limits) -> list[str]:
    """1 to ``max_captions`` captions, each checked by :func:`bounded_caption`."""
    if not 1 <= len(texts) <= limits.max_captions:
        raise InputError(BAD_REQUEST, field, f"give 1 to {limits.max_captions} captions; got {len(texts)}")
    return [bounded_caption(f"{field}[{i}]", text, limits) for i, text in enumerate(texts)]


__all__ = [
    "BAD_REQUEST",
    "TOO_LARGE",
    "UNSUPPORTED_TYPE",
    "InputError",
    "Limits",
    "bounded_caption",
    "bounded_captions",
    "bounded_int",
    "bounded_number",
]
