"""The trained multimodal model, loaded from a run folder: remvae's public face.

    import remvae
    model = remvae.load("experiments/quickstart")
    model.image_to_text(images)                 # float [B, C, H, W] in [0, 1] -> list[str]
    model.text_to_image(["a photo of a seven"])  # -> float [B, C, H, W] in [0, 1]

Every method is deterministic by default: z is the posterior mean (or, for ``sample``, a seeded
prior draw) and captions are decoded greedily. ``sample=True`` draws z from the posterior and
``temperature > 0`` samples words; pass ``seed`` (or a ``generator``) to make those draws repeatable.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, NamedTuple, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from remvae.core.checkpoint import (
    CheckpointError,
    checkpoint_identity,
    find_checkpoint,
    load_checkpoint,
)
from remvae.core.data import ImageTextDataset, TextDataset
from remvae.core.distributions import FullGaussian, Posterior
from remvae.core.model import MultimodalModel
from remvae.core.runfolder import RunFolder, RunFolderError, read_json
from remvae.core.transfer import transfer_latents
from remvae.experiment import read_split
from remvae.modelspec import ModelSpec
from remvae.playground.priors import PriorFileError, load_prior
from remvae.text.batch import TextBatch
from remvae.text.tokenizer import Tokenizer

CHECKPOINTS = ("best", "last")
DEFAULT_TRANSFER_STRENGTH = 0.5
_GREY = torch.tensor([0.299, 0.587, 0.114])

Endpoint = Union[str, Tensor]
"""An end of an interpolation: a caption, or one image ``[C, H, W]``."""


class Samples(NamedTuple):
    """Both modalities decoded from the same latents ``z`` ``[n, D]``."""

    images: Tensor
    texts: list[str]
    z: Tensor


def _generator(device: torch.device, seed: int | None, generator: torch.Generator | None) -> torch.Generator | None:
    if generator is not None or seed is None:
        return generator
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be a whole number in [0, 2**63), got {seed!r}")
    return torch.Generator(device=device).manual_seed(seed)


def _per_image(name: str, value: object, count: int) -> list[str]:
    """One caption per image: ``value`` repeated when it is one caption, else a list of ``count`` of them."""
    captions = [value] * count if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else None
    if captions is None or len(captions) != count:
        raise ValueError(f"{name} must be one caption, or one per image ({count}), got {value!r:.80}")
    return captions


def _count(name: str, value: object, minimum: int) -> int:
    """``value`` checked to be a whole number >= ``minimum`` (ValueError naming what was given)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return value


def _temperature(value: object) -> float:
    """A sampling temperature: a finite number >= 0 (0 decodes greedily)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise ValueError(f"temperature must be a finite number >= 0 (0: greedy), got {value!r}")
    return float(value)


class LoadedModel:
    """A trained model (any family) with its tokenizer, in eval mode on ``device``."""

    def __init__(
        self, model: MultimodalModel, tokenizer: Tokenizer | None, spec: ModelSpec, run: RunFolder, checkpoint: Path
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.spec = spec
        self.run = run
        self.run_dir = run.root
        self.checkpoint = checkpoint
        self.identity = checkpoint_identity(checkpoint)
        """Which checkpoint this is (name, step, epoch, weights' SHA-256, config fingerprint): recorded beside
        every output computed from it."""
        self.strict = False
        """Refuse captions with words the model never saw (instead of warning once and reading them as <unk>)."""
        self._warned: set[str] = set()

    def __repr__(self) -> str:
        parts = "+".join(name for name in (self.spec.image, self.spec.text) if name)
        return (
            f"LoadedModel({self.spec.model}: {parts}, latent_dim={self.latent_dim}, "
            f"checkpoint={str(self.checkpoint)!r})"
        )

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def latent_dim(self) -> int:
        return self.model.latent_dim

    @property
    def modalities(self) -> tuple[str, ...]:
        return self.model.modalities

    @property
    def has_conditional_prior(self) -> bool:
        """Whether ``text_to_image(..., prior_scale=...)`` can draw from a conditional prior p(z | caption)."""
        return self.model.config.has_conditional_prior

    def _image_shape(self) -> tuple[int, int, int]:
        shape = self.model.image_shape
        if shape is None:
            raise ValueError(f"this model has no images (its modalities: {', '.join(self.modalities)})")
        return shape

    @property
    def image_size(self) -> int:
        return self._image_shape()[1]

    @property
    def channels(self) -> int:
        return self._image_shape()[0]

    @property
    def max_length(self) -> int:
        length = self.model.max_text_length
        if length is None or self.tokenizer is None:
            raise ValueError(f"this model has no text (its modalities: {', '.join(self.modalities)})")
        return length

    def to(self, device: str | torch.device) -> LoadedModel:
        self.model.to(device)
        return self

    def data(self, split: str = "test", length: int | None = None) -> ImageTextDataset | TextDataset:
        """The run's own data: its reader's ``train``, ``validation`` or ``test`` split as its config.json sets it up
        (``length`` items of it, when given), e.g. ``model.data("test", 8).images`` to try the model on."""
        config = self.run.recorded_config()
        reader = (config or {}).get("reader")
        if not isinstance(reader, dict) or "name" not in reader:
            raise RunFolderError(f"{self.run.config}: no reader entry; cannot tell the run's data")
        return read_split(reader["name"], reader.get("config") or {}, split, length)

    # Inputs.

    def prepare_images(self, images: Tensor) -> Tensor:
        """Images as the model reads them: ``[B, C, H, W]`` float in [0, 1] at its size and channels.

        Accepts one image ``[C, H, W]`` and uint8 images (divided by 255); grey images are repeated
        to RGB and RGB images turned grey as needed; other sizes are resized (bilinear, antialiased).
        Refuses (ValueError, naming what was given) anything else: another shape or channel count, an
        empty batch, NaN or infinite values, values outside [0, 1].
        """
        if not isinstance(images, Tensor):
            raise ValueError(f"images must be a torch.Tensor [B, C, H, W] or [C, H, W], got a {type(images).__name__}")
        given = tuple(images.shape)
        if images.dim() not in (3, 4) or images.shape[-3] not in (1, 3):
            raise ValueError(f"images must be [B, C, H, W] or [C, H, W] with C = 1 or 3, got shape {given}")
        if images.dim() == 3:
            images = images.unsqueeze(0)
        if images.shape[0] == 0 or images.shape[-1] == 0 or images.shape[-2] == 0:
            raise ValueError(f"images must hold at least one non-empty image, got shape {given}")
        if images.dtype == torch.bool or images.is_complex():
            raise ValueError(f"images must be float in [0, 1] or uint8, got dtype {images.dtype}")
        images = images.to(self.device)
        images = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
        if not bool(torch.isfinite(images).all()):
            raise ValueError(f"images hold NaN or infinite values (shape {given}); give finite values in [0, 1]")
        low, high = float(images.min()), float(images.max())
        if low < -1e-3 or high > 1 + 1e-3:
            raise ValueError(f"images must be in [0, 1] (or uint8), got values in [{low:.3g}, {high:.3g}]")
        if images.shape[1] != self.channels:
            if self.channels == 1:
                images = (images * _GREY.to(images.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
            else:
                images = images.expand(-1, 3, -1, -1)
        if images.shape[-2:] != (self.image_size, self.image_size):
            shrinking = images.shape[-1] > self.image_size
            images = F.interpolate(
                images, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False,
                antialias=shrinking,
            )
        return images.clamp(0.0, 1.0).contiguous()

    def prepare_texts(self, texts: str | Sequence[str]) -> TextBatch:
        """Captions as token ids; long captions are cut to ``max_length``.

        Words the model never saw in its training captions are read as ``<unk>``: a warning names them (once
        per word), or, with ``strict``, a ValueError refuses the captions.
        """
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, (list, tuple)) or not texts or not all(isinstance(t, str) for t in texts):
            if not isinstance(texts, (list, tuple)):
                shown = f"a {type(texts).__name__}"
            elif not texts:
                shown = f"an empty {type(texts).__name__}"
            else:
                shown = f"a {type(texts).__name__} holding {', '.join(sorted({type(t).__name__ for t in texts}))}"
            raise ValueError(f"texts must be a caption (str) or a non-empty list of them, got {shown}")
        max_length = self.max_length
        assert self.tokenizer is not None
        self._check_vocabulary(texts)
        return self.tokenizer.encode_batch(list(texts), max_length).to(self.device)

    def _check_vocabulary(self, texts: Sequence[str]) -> None:
        assert self.tokenizer is not None
        unknown = sorted({word for text in texts for word in self.tokenizer.split(text)} - set(self.tokenizer.stoi))
        if not unknown:
            return
        listed = ", ".join(repr(word) for word in unknown[:8]) + (" ..." if len(unknown) > 8 else "")
        if self.strict:
            raise ValueError(f"texts: words the model never saw in its training captions: {listed}")
        new = [word for word in unknown if word not in self._warned]
        if new:
            self._warned.update(new)
            warnings.warn(f"words the model never saw in its training captions are read as <unk>: {listed}",
                          UserWarning, stacklevel=3)

    # Latents.

    @torch.no_grad()
    def encode_image(self, images: Tensor) -> Posterior:
        """q(z | image): the posterior's mean and log-variance, ``[B, D]`` each."""
        return self.model.encode("image", self.prepare_images(images))

    @torch.no_grad()
    def encode_text(self, texts: str | Sequence[str]) -> Posterior:
        """q(z | caption): the posterior's mean and log-variance, ``[B, D]`` each."""
        return self.model.encode("text", self.prepare_texts(texts))

    @torch.no_grad()
    def text_prior(self, texts: str | Sequence[str]) -> FullGaussian:
        """p(z | caption) of the model's conditional prior: mean ``[B, D]`` and scale_tril ``[B, D, D]``."""
        return self.model.conditional_prior(self.prepare_texts(texts))

    def latent(
        self, posterior: Posterior, sample: bool = False, seed: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """The posterior mean, or a draw from the posterior when ``sample``."""
        return posterior.rsample(_generator(self.device, seed, generator)) if sample else posterior.mean

    def _latents(self, z: Tensor) -> Tensor:
        """``z`` checked to be finite latents ``[B >= 1, latent_dim]`` (ValueError naming what was given)."""
        if not isinstance(z, Tensor) or not z.is_floating_point():
            raise ValueError(f"z must be a float tensor [B, {self.latent_dim}], got {type(z).__name__}"
                             + (f" of {z.dtype}" if isinstance(z, Tensor) else ""))
        if z.dim() != 2 or z.shape[0] == 0 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must be [B >= 1, {self.latent_dim}] (this model's latent size), got shape "
                             f"{tuple(z.shape)}")
        if not bool(torch.isfinite(z).all()):
            raise ValueError("z holds NaN or infinite values")
        return z.to(self.device)

    @torch.no_grad()
    def decode_image(self, z: Tensor) -> Tensor:
        """Images ``[B, C, H, W]`` in [0, 1] (the decoder's mean) from latents ``[B, D]``."""
        return self.model.decode("image", self._latents(z))

    @torch.no_grad()
    def decode_text(
        self, z: Tensor, temperature: float = 0.0, seed: int | None = None, generator: torch.Generator | None = None
    ) -> list[str]:
        """Captions from latents ``[B, D]``: greedy, or sampled at ``temperature`` > 0."""
        ids = self.model.decode(
            "text", self._latents(z), temperature=_temperature(temperature),
            generator=_generator(self.device, seed, generator),
        )
        assert self.tokenizer is not None
        return self.tokenizer.decode_batch(ids)

    # Cross-modal generation and reconstruction.

    def image_to_text(
        self, images: Tensor, sample: bool = False, temperature: float = 0.0, seed: int | None = None,
        generator: torch.Generator | None = None,
    ) -> list[str]:
        """A caption for each image."""
        generator = _generator(self.device, seed, generator)
        z = self.latent(self.encode_image(images), sample, generator=generator)
        return self.decode_text(z, temperature, generator=generator)

    @torch.no_grad()
    def text_to_image(
        self, texts: str | Sequence[str], sample: bool = False, seed: int | None = None,
        generator: torch.Generator | None = None, prior_scale: float | None = None,
    ) -> Tensor:
        """An image ``[C, H, W]`` in [0, 1] for each caption, stacked to ``[B, C, H, W]``.

        z comes from the text posterior q(z | caption), or, given ``prior_scale``, from the model's
        conditional prior p(z | caption) (draws spread ``prior_scale`` times its standard deviation).
        """
        generator = _generator(self.device, seed, generator)
        text = self.prepare_texts(texts)
        if prior_scale is None:
            z = self.latent(self.model.encode("text", text), sample, generator=generator)
        else:
            if isinstance(prior_scale, bool) or not isinstance(prior_scale, (int, float)) or \
                    not 0 < prior_scale < float("inf"):
                raise ValueError(f"prior_scale must be a finite number > 0, got {prior_scale!r}")
            prior = self.model.conditional_prior(text)
            z = prior.rsample(generator, prior_scale) if sample else prior.mean
        return self.decode_image(z)

    def reconstruct_image(
        self, images: Tensor, sample: bool = False, seed: int | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """Images encoded and decoded by the image VAE."""
        return self.decode_image(self.latent(self.encode_image(images), sample, seed, generator))

    def reconstruct_text(
        self, texts: str | Sequence[str], sample: bool = False, temperature: float = 0.0, seed: int | None = None,
        generator: torch.Generator | None = None,
    ) -> list[str]:
        """Captions encoded and decoded by the text VAE."""
        generator = _generator(self.device, seed, generator)
        z = self.latent(self.encode_text(texts), sample, generator=generator)
        return self.decode_text(z, temperature, generator=generator)

    def sample(
        self, n: int, temperature: float = 0.0, seed: int | None = 0, generator: torch.Generator | None = None
    ) -> Samples:
        """``n`` latents from the model's prior (N(0, I), or the run's learned prior) decoded to every modality it
        has (seeded: the same draws each call; a modality the model lacks is left empty)."""
        n = _count("n", n, 1)
        generator = _generator(self.device, seed, generator)
        z = self.model.prior().sample(n, generator)
        return self._decode_all(z, temperature, generator)

    def _decode_all(self, z: Tensor, temperature: float = 0.0, generator: torch.Generator | None = None) -> Samples:
        images = self.decode_image(z) if "image" in self.modalities else torch.empty(0)
        texts = self.decode_text(z, temperature, generator=generator) if "text" in self.modalities else []
        return Samples(images, texts, z)

    @torch.no_grad()
    def transfer(
        self, images: Tensor, texts: str | Sequence[str], source_texts: str | Sequence[str] | None = None,
        strength: float | None = None, project: bool = True,
    ) -> Tensor:
        """Each image redrawn with the content of the caption paired with it and the image's own style
        (see :mod:`remvae.core.transfer`): images ``[B, C, H, W]`` in [0, 1].

        ``texts``: one caption per image (or one for all). ``source_texts``: the images' own captions, which
        say what of each image is content; by default the model's greedy caption of each image. ``strength``:
        how much of the style is kept; by default the strength the run's ``transfer`` evaluation chose on the
        validation split (``metrics/eval.json``), else 0.5. ``project``: take the style off the content
        directions that evaluation chose, when it chose any (``False``: the plain residual).
        """
        strength = self.transfer_strength() if strength is None else strength
        if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 < strength < float("inf"):
            raise ValueError(f"strength must be a finite number > 0, got {strength!r}")
        prepared = self.prepare_images(images)
        count = prepared.shape[0]
        if source_texts is None:
            source_texts = self.decode_text(self.model.encode("image", prepared).mean)
        targets, sources = (_per_image(name, value, count) for name, value in (("texts", texts),
                                                                              ("source_texts", source_texts)))
        basis = self.chosen_content_basis() if project else None
        z = transfer_latents(self.model, prepared, self.prepare_texts(sources), self.prepare_texts(targets),
                             float(strength), None if basis is None else basis.to(prepared.device))
        return self.decode_image(z)

    def transfer_strength(self) -> float:
        """The style strength the run's ``transfer`` evaluation chose on the validation split, else 0.5."""
        chosen = self.chosen_transfer_strength()
        return DEFAULT_TRANSFER_STRENGTH if chosen is None else chosen

    def _transfer_entry(self) -> dict[str, Any] | None:
        """The run's ``transfer`` evaluation in ``metrics/eval.json`` (the entry whose config has
        ``strengths``), if any."""
        try:
            entries = read_json(self.run.evaluation, "evaluation results")["evaluators"]
        except (RunFolderError, KeyError, TypeError):
            return None
        found = [e for e in entries.values() if isinstance(e, dict) and isinstance(e.get("metrics"), dict)
                 and (e.get("config") or {}).get("strengths")]
        return found[0] if found else None

    def chosen_content_basis(self) -> Tensor | None:
        """The content directions ``[D, k]`` the run's ``transfer`` evaluation chose and stored (``None``: it
        chose none, or there is no such evaluation)."""
        entry = self._transfer_entry()
        basis = ((entry or {}).get("fitted") or {}).get("content_basis")
        return None if not basis else torch.tensor(basis, dtype=torch.float32)

    def chosen_transfer_strength(self) -> float | None:
        """The style strength the run's ``transfer`` evaluation chose on the validation split (``None``: no such
        evaluation in ``metrics/eval.json``)."""
        entry = self._transfer_entry()
        chosen = None if entry is None else entry["metrics"].get("strength")
        return float(chosen) if isinstance(chosen, (int, float)) and not isinstance(chosen, bool) else None

    def interpolate(self, a: Endpoint, b: Endpoint, steps: int = 8) -> Samples:
        """``steps`` latents on the straight line from ``a`` to ``b`` (posterior means), decoded to both modalities.

        Each end is a caption or one image ``[C, H, W]``, so image-to-image, caption-to-caption and
        caption-to-image paths all work.
        """
        steps = _count("steps", steps, 2)
        start, end = self._endpoint(a), self._endpoint(b)
        weights = torch.linspace(0.0, 1.0, steps, device=self.device).unsqueeze(1)
        z = (1 - weights) * start + weights * end
        return self._decode_all(z)

    def _endpoint(self, end: Endpoint) -> Tensor:
        if isinstance(end, str):
            return self.encode_text([end]).mean[0]
        if isinstance(end, Tensor):
            if end.dim() == 4 and end.shape[0] != 1:
                raise ValueError(f"an interpolation end is one image [C, H, W], got shape {tuple(end.shape)}")
            return self.encode_image(end).mean[0]
        raise TypeError(f"an interpolation end is a caption (str) or an image tensor, got {type(end).__name__}")


def load(
    run_dir: str | Path, device: str | torch.device = "cpu", checkpoint: str = "best", prior: bool = True
) -> LoadedModel:
    """Load a trained run folder (``model.json`` and ``checkpoints/<checkpoint>/``) onto ``device``.

    ``checkpoint`` is ``best``, ``last``, or the name or path of any checkpoint folder; ``best`` falls
    back to ``last`` for runs that kept no best checkpoint. When the run declares a learned prior (and
    ``prior``), the model samples from the one fitted to this checkpoint (``priors/<name>/``). Raises
    :class:`RunFolderError` or :class:`CheckpointError` naming what is missing or broken, and
    :class:`RunFolderError` when the checkpoint was trained under another config than the run's
    ``config.json`` or the declared prior was fitted to another checkpoint.
    """
    run = RunFolder(run_dir)
    if not run.root.is_dir():
        raise RunFolderError(f"{run.root}: not a folder (expected a trained run folder)")
    spec = ModelSpec.load(run)
    folder = _checkpoint_folder(run, checkpoint)
    loaded = load_checkpoint(folder, map_location="cpu", optimizer=False)
    recorded, current = loaded.state.get("fingerprint"), run.fingerprint()
    if recorded is not None and current is not None and recorded != current:
        raise RunFolderError(
            f"{folder}: trained under another config than {run.config} (fingerprints {recorded[:12]} and "
            f"{current[:12]}); train the run again (`remvae run ARGS --fresh`)"
        )
    if spec.text is not None and loaded.tokenizer is None:
        raise RunFolderError(f"{folder}: no tokenizer.json, but the model reads text")
    model = spec.build(loaded.tokenizer)
    try:
        model.load_state_dict(spec.upgrade_weights(loaded.model))
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise CheckpointError(f"{folder}: weights do not fit the model of {run.model_spec} ({first})") from None
    result = LoadedModel(model, loaded.tokenizer, spec, run, folder)
    if prior:
        _use_learned_prior(result)
    return result.to(device)


def _use_learned_prior(loaded: LoadedModel) -> None:
    """Give the model the learned prior its run declares, fitted to exactly this checkpoint."""
    declared = (loaded.run.recorded_config() or {}).get("prior")
    if not isinstance(declared, dict) or not declared.get("name"):
        return
    folder = loaded.run.prior(declared["name"])
    try:
        prior, info = load_prior(folder)
    except PriorFileError as error:
        raise RunFolderError(f"{error}; fit it with `remvae prior {loaded.run.root}`") from None
    if (info.get("checkpoint") or {}).get("sha256") != loaded.identity["sha256"]:
        raise RunFolderError(
            f"{folder}: fitted to another checkpoint than {loaded.checkpoint}; refit it with "
            f"`remvae prior {loaded.run.root}` (or load with prior=False)"
        )
    loaded.model.use_prior(prior)


def _checkpoint_folder(run: RunFolder, checkpoint: str) -> Path:
    candidates = [run.checkpoint(checkpoint)]
    if checkpoint == "best":
        candidates.append(run.last)
    for candidate in candidates:
        found = find_checkpoint(candidate)
        if found is not None:
            return found
    raise RunFolderError(
        f"{candidates[0]}: no checkpoint there (state.json missing); train the run first or pick one of "
        f"{', '.join(CHECKPOINTS)}"
    )


__all__ = ["LoadedModel", "Samples", "load"]
