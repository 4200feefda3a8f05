"""The JSON bodies of the server's requests: field names, types and defaults (bounds live in ``limits``).

Unknown fields are refused, so a request cannot smuggle in a path, a URL or anything else to load;
images arrive only as ``data:`` URLs (see :mod:`remvae.serve.images`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Request(BaseModel):
    """A request body that refuses fields it does not name."""

    model_config = ConfigDict(extra="forbid")


class CaptionToImages(Request):
    """Captions to their posterior-mean image and ``samples`` drawn ones (from the conditional prior at
    ``prior_scale`` when given)."""

    captions: list[str]
    samples: int = 4
    seed: int = 0
    prior_scale: float | None = None


class ImageToCaption(Request):
    """An image to its greedy caption and ``samples`` sampled ones."""

    image: str
    samples: int = 3
    temperature: float = 1.0
    seed: int = 0


class Endpoint(Request):
    """One end of an interpolation: a caption or an image (exactly one of them)."""

    caption: str | None = None
    image: str | None = None


class Interpolate(Request):
    """``steps`` points on the line between the latents of ``a`` and ``b``."""

    a: Endpoint
    b: Endpoint
    steps: int = 8


class PriorSamples(Request):
    """``n`` seeded draws from the model's prior, decoded to every modality."""

    n: int = 8
    seed: int = 0
    temperature: float = 0.0


class Transfer(Request):
    """An image re-rendered to match a caption (only for models with a ``transfer`` method)."""

    image: str
    caption: str


__all__ = ["CaptionToImages", "Endpoint", "ImageToCaption", "Interpolate", "PriorSamples", "Request", "Transfer"]
