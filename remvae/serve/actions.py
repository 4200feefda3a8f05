"""What each endpoint does: bound the request, ask the model (one request at a time), encode the answer as JSON.

Images go out as PNG data URLs; captions as strings. Which actions a model offers follows from its
modalities and, for ``transfer``, from whether the loaded model has such a method.
"""

from __future__ import annotations

import threading
from dataclasses import asdict
from typing import Any

from torch import Tensor

from remvae.model import LoadedModel, Samples
from remvae.serve.images import decode_image, encode_png
from remvae.serve.limits import (
    BAD_REQUEST,
    InputError,
    Limits,
    bounded_caption,
    bounded_captions,
    bounded_int,
    bounded_number,
)
from remvae.serve.schemas import (
    CaptionToImages,
    Endpoint,
    ImageToCaption,
    Interpolate,
    PriorSamples,
    Transfer,
)


def available_features(model: LoadedModel) -> dict[str, bool]:
    """Which features the model can serve: the cross-modal ones need both modalities, and
    ``transfer`` a ``transfer(images, texts)`` method as well."""
    both = {"image", "text"} <= set(model.modalities)
    return {
        "caption_to_images": both,
        "image_to_caption": both,
        "interpolate": True,
        "prior_samples": True,
        "transfer": both and callable(getattr(model, "transfer", None)),
    }


class Actions:
    """The server's endpoints over one loaded model, within ``limits``."""

    def __init__(self, model: LoadedModel, limits: Limits) -> None:
        self.model = model
        self.limits = limits
        self.features = available_features(model)
        self._lock = threading.Lock()

    def info(self) -> dict[str, Any]:
        """The run's name, modalities, image size and channels, latent size, checkpoint, features and limits."""
        model, has_image = self.model, "image" in self.model.modalities
        config = model.run.recorded_config() or {}
        return {
            "name": config.get("name", model.run.root.name),
            "modalities": list(model.modalities),
            "image_size": model.image_size if has_image else None,
            "channels": model.channels if has_image else None,
            "latent_dim": model.latent_dim,
            "has_conditional_prior": model.has_conditional_prior,
            "checkpoint": model.identity,
            "features": self.features,
            "limits": {**asdict(self.limits), "max_request_bytes": self.limits.max_request_bytes},
        }

    def caption_to_images(self, body: CaptionToImages) -> dict[str, Any]:
        """Each caption's posterior-mean image and ``samples`` seeded draws (from the conditional prior at
        ``prior_scale`` when given, else from the posterior)."""
        limits = self.limits
        captions = bounded_captions("captions", body.captions, limits)
        samples = bounded_int("samples", body.samples, 0, limits.max_samples)
        seed = bounded_int("seed", body.seed, 0, limits.max_seed)
        prior_scale = self._prior_scale(body.prior_scale)
        repeated = [caption for caption in captions for _ in range(samples)]
        with self._lock:
            means = self.model.text_to_image(captions)
            drawn = (
                self.model.text_to_image(repeated, sample=True, seed=seed, prior_scale=prior_scale)
                if repeated else means[:0]
            )
        return {
            "results": [
                {
                    "caption": caption,
                    "mean": encode_png(means[i]),
                    "samples": [encode_png(image) for image in drawn[i * samples:(i + 1) * samples]],
                }
                for i, caption in enumerate(captions)
            ],
        }

    def image_to_caption(self, body: ImageToCaption) -> dict[str, Any]:
        """The greedy caption of an uploaded image, ``samples`` seeded sampled ones, and the image as the model
        reads it."""
        image = self._image("image", body.image)
        samples = bounded_int("samples", body.samples, 0, self.limits.max_samples)
        temperature = bounded_number("temperature", body.temperature, 0.0, self.limits.max_temperature)
        seed = bounded_int("seed", body.seed, 0, self.limits.max_seed)
        with self._lock:
            prepared = self.model.prepare_images(image)
            greedy = self.model.image_to_text(prepared)[0]
            sampled = (
                self.model.image_to_text(
                    prepared.expand(samples, -1, -1, -1), sample=True, temperature=temperature, seed=seed
                )
                if samples else []
            )
        return {"greedy": greedy, "sampled": sampled, "input": encode_png(prepared[0])}

    def interpolate(self, body: Interpolate) -> dict[str, Any]:
        """``steps`` frames (image and caption, as the model has them) from end ``a`` to end ``b``."""
        a, b = self._endpoint("a", body.a), self._endpoint("b", body.b)
        steps = bounded_int("steps", body.steps, 2, self.limits.max_steps)
        with self._lock:
            frames = self.model.interpolate(a, b, steps)
        return {"frames": _frames(frames)}

    def prior_samples(self, body: PriorSamples) -> dict[str, Any]:
        """``n`` seeded draws from the model's prior, decoded to every modality it has."""
        n = bounded_int("n", body.n, 1, self.limits.max_samples)
        seed = bounded_int("seed", body.seed, 0, self.limits.max_seed)
        temperature = bounded_number("temperature", body.temperature, 0.0, self.limits.max_temperature)
        with self._lock:
            samples = self.model.sample(n, temperature=temperature, seed=seed)
        return {"samples": _frames(samples)}

    def transfer(self, body: Transfer) -> dict[str, Any]:
        """The uploaded image carried over to the caption, by the model's ``transfer(images, texts)``."""
        image = self._image("image", body.image)
        caption = bounded_caption("caption", body.caption, self.limits)
        with self._lock:
            result = self.model.transfer(self.model.prepare_images(image), [caption])  # type: ignore[attr-defined]
        return {"image": encode_png(result[0])}

    def _image(self, field: str, data_url: str) -> Tensor:
        return decode_image(field, data_url, self.model.channels, self.limits)

    def _prior_scale(self, value: float | None) -> float | None:
        if value is None:
            return None
        if not self.model.has_conditional_prior:
            raise InputError(BAD_REQUEST, "prior_scale", "this model has no conditional prior; leave it out")
        return bounded_number("prior_scale", value, 0.0, self.limits.max_prior_scale)

    def _endpoint(self, field: str, end: Endpoint) -> str | Tensor:
        if end.caption is not None and end.image is None:
            self._require("text", f"{field}.caption")
            return bounded_caption(f"{field}.caption", end.caption, self.limits)
        if end.image is not None and end.caption is None:
            self._require("image", f"{field}.image")
            return self._image(f"{field}.image", end.image)
        raise InputError(BAD_REQUEST, field, "give either a caption or an image (exactly one)")

    def _require(self, modality: str, field: str) -> None:
        if modality not in self.model.modalities:
            modalities = ", ".join(self.model.modalities)
            raise InputError(BAD_REQUEST, field, f"this model reads no {modality} (its modalities: {modalities})")


def _frames(samples: Samples) -> list[dict[str, str | None]]:
    """One ``{"image", "caption"}`` per latent; ``None`` for a modality the model lacks."""
    count = samples.z.shape[0]
    images: list[str | None] = [encode_png(image) for image in samples.images] or [None] * count
    captions: list[str | None] = list(samples.texts) or [None] * count
    return [{"image": image, "caption": caption} for image, caption in zip(images, captions)]


__all__ = ["Actions", "available_features"]
