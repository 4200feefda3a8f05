"""The one contract every model family implements, and the protocol evaluators read models through.

A family (the aligned pair, a product or mixture of experts, an image-only VAE, ...) is one class
registered in :data:`remvae.core.registry.MODELS` with its :class:`ModelConfig`. It declares its loss
terms once (:meth:`ModelConfig.terms`); its forward pass returns a :class:`ModelOutput` whose ``terms``
are the *unweighted* batch means under those names. The trainer only weights them by name
(:func:`resolve_weights`), multiplies the annealed ones by beta(t), sums, steps and logs the same
names. Evaluators, figures and :func:`remvae.load` use the :class:`LatentModel` protocol: ``encode``
and ``decode`` per modality, ``nll``, ``prior()`` and, where the family has one, ``conditional_prior``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import (
    Any,
    ClassVar,
    Collection,
    Literal,
    Mapping,
    Protocol,
    Sequence,
    runtime_checkable,
)

import torch
from torch import Tensor, nn

from remvae.core.config import ComponentConfig
from remvae.core.distributions import FullGaussian, Posterior
from remvae.core.prior import LatentPrior, StandardNormal
from remvae.core.vae import ImageVAE, TextVAE
from remvae.text.batch import TextBatch

Modality = Literal["image", "text"]
MODALITIES: tuple[Modality, ...] = ("image", "text")

TermKind = Literal["reconstruction", "kl", "alignment", "cross_reconstruction", "prior_fit"]
"""What a loss term is; trainer variants choose the terms beta(t) scales by kind (e.g. every ``kl``)."""


class CapabilityError(ValueError):
    """A model asked for something its family does not have (a conditional prior, a modality)."""


@dataclass
class Batch:
    """What a model trains on: float images ``[B, C, H, W]`` in [0, 1] and/or a :class:`TextBatch`."""

    images: Tensor | None
    text: TextBatch | None
    size: int

    def to(self, device: torch.device | str) -> Batch:
        return Batch(None if self.images is None else self.images.to(device),
                     None if self.text is None else self.text.to(device), self.size)


@dataclass(frozen=True)
class Term:
    """One named loss term of a family.

    Attributes:
        name: the name the config weights it by and the logs record it under.
        kind: what it is (see :data:`TermKind`).
        formula: the term as math, for ``remvae list`` and the docs.
        optional: computed only when its weight is positive (it costs an extra pass); default weight 0.
        required: its weight must be positive (it is the only thing training some part of the model).
    """

    name: str
    kind: TermKind
    formula: str
    optional: bool = False
    required: bool = False

    @property
    def default_weight(self) -> float:
        return 0.0 if self.optional else 1.0


@dataclass
class ModelOutput:
    """A forward pass: posteriors, latents and reconstruction logits per modality (or ``joint``), and
    the unweighted loss terms (batch means, in the declared order) under their names."""

    posteriors: dict[str, Posterior]
    z: dict[str, Tensor]
    reconstructions: dict[str, Tensor]
    terms: dict[str, Tensor] = field(default_factory=dict)


class ModelConfig(ComponentConfig):
    """Base of every family's config: which modalities it reads, and its loss terms."""

    modalities: ClassVar[tuple[Modality, ...]] = MODALITIES

    def terms(self) -> tuple[Term, ...]:  # pragma: no cover - interface
        """The family's loss terms under this config, in the order the forward pass returns them."""
        raise NotImplementedError

    @property
    def has_conditional_prior(self) -> bool:
        """Whether the model can draw z from p(z | caption) (:meth:`MultimodalModel.conditional_prior`)."""
        return False


def resolve_weights(terms: Sequence[Term], given: Mapping[str, float]) -> dict[str, float]:
    """The weight of every term, in the declared order: ``given`` where set, else the term's default.

    Raises ValueError naming the first problem: a name that is not one of the terms, a negative
    weight, or a required term weighted 0.
    """
    names = [term.name for term in terms]
    unknown = [name for name in given if name not in names]
    if unknown:
        raise ValueError(f"{unknown[0]}: not a loss term of this model; its terms: {', '.join(names)}")
    weights = {term.name: float(given.get(term.name, term.default_weight)) for term in terms}
    for term in terms:
        weight = weights[term.name]
        if not weight >= 0.0:
            raise ValueError(f"{term.name}: a weight must be a number >= 0, got {weight}")
        if term.required and weight == 0.0:
            raise ValueError(f"{term.name}: must be positive; it is the only term that trains {term.formula}")
    return weights


def shared_latent_dim(**latent_dims: int | None) -> int | None:
    """The one latent size of the given parts (``image=32, text=32``); ValueError naming them if they differ."""
    sizes = {name: size for name, size in latent_dims.items() if size is not None}
    if len(set(sizes.values())) > 1:
        described = " != ".join(f"{name} {size}" for name, size in sizes.items())
        raise ValueError(f"latent sizes differ: {described}; the modalities share one latent space")
    return next(iter(sizes.values()), None)


@runtime_checkable
class LatentModel(Protocol):
    """What evaluators, figures and the loaded model use of a model; never its concrete class."""

    modalities: tuple[Modality, ...]
    latent_dim: int
    training: bool

    def train(self, mode: bool = True) -> Any: ...

    def eval(self) -> Any: ...

    @property
    def image_shape(self) -> tuple[int, int, int] | None: ...

    @property
    def max_text_length(self) -> int | None: ...

    def encode(self, modality: Modality, x: Tensor | TextBatch) -> Posterior: ...

    def decode(
        self, modality: Modality, z: Tensor, temperature: float = 0.0, generator: torch.Generator | None = None
    ) -> Tensor: ...

    def decode_logits(self, modality: Modality, z: Tensor) -> Tensor: ...

    def nll(self, modality: Modality, x: Tensor | TextBatch, z: Tensor) -> Tensor: ...

    def prior(self) -> LatentPrior: ...

    def conditional_prior(self, text: TextBatch) -> FullGaussian: ...


class MultimodalModel(nn.Module):
    """Base of the families built from an image VAE and/or a text VAE sharing one latent space.

    Subclasses implement :meth:`forward`; the unimodal ``encode``/``decode``/``nll`` defaults here
    use the family's own VAEs, and ``prior()`` is N(0, I) until :meth:`use_prior` gives a learned one.
    """

    def __init__(self, config: ModelConfig, image: ImageVAE | None = None, text: TextVAE | None = None) -> None:
        super().__init__()
        parts = {"image": image, "text": text}
        for modality in config.modalities:
            if parts[modality] is None:
                raise ValueError(f"this model family reads {modality}: it needs {_article(modality)} {modality} VAE")
        for modality, part in parts.items():
            if part is not None and modality not in config.modalities:
                raise ValueError(f"this model family does not read {modality}; leave the {modality} VAE out")
        latent_dim = shared_latent_dim(**{m: p.latent_dim for m, p in parts.items() if p is not None})
        assert latent_dim is not None
        self.config = config
        self.modalities: tuple[Modality, ...] = config.modalities
        self.latent_dim = latent_dim
        self.terms: tuple[Term, ...] = config.terms()
        self.image = image
        self.text = text
        self.latent_prior: LatentPrior = StandardNormal(latent_dim)

    @property
    def term_names(self) -> tuple[str, ...]:
        return tuple(term.name for term in self.terms)

    def computed_terms(self, wanted: Collection[str]) -> tuple[str, ...]:
        """The terms a forward pass computes when ``wanted`` are asked for: every non-optional term and the
        wanted optional ones, in the declared order."""
        return tuple(term.name for term in self.terms if not term.optional or term.name in wanted)

    @property
    def image_shape(self) -> tuple[int, int, int] | None:
        if self.image is None:
            return None
        return self.image.channels, self.image.image_size, self.image.image_size

    @property
    def max_text_length(self) -> int | None:
        return None if self.text is None else self.text.max_length

    def forward(  # pragma: no cover - interface
        self, batch: Batch, terms: Collection[str] = (), generator: torch.Generator | None = None
    ) -> ModelOutput:
        """Posteriors, reconstructions and the loss terms :meth:`computed_terms` names (``terms``: the
        optional ones wanted, those with a positive weight)."""
        raise NotImplementedError

    def _vae(self, modality: Modality) -> ImageVAE | TextVAE:
        vae = self.image if modality == "image" else self.text if modality == "text" else None
        if vae is None:
            raise CapabilityError(
                f"this model has no {modality!r} modality; its modalities: {', '.join(self.modalities)}"
            )
        return vae

    def encode(self, modality: Modality, x: Tensor | TextBatch) -> Posterior:
        """q(z | x) of one modality's inputs."""
        return self._vae(modality).encode(x)

    def decode(
        self, modality: Modality, z: Tensor, temperature: float = 0.0, generator: torch.Generator | None = None
    ) -> Tensor:
        """Images ``[B, C, H, W]`` in [0, 1] (the decoder's mean), or token ids ``[B, L]`` decoded greedily
        (``temperature`` 0) or sampled."""
        vae = self._vae(modality)
        if isinstance(vae, TextVAE):
            return vae.decode(z, temperature=temperature, generator=generator)
        return vae.decode(z)

    def decode_logits(self, modality: Modality, z: Tensor) -> Tensor:
        """The image decoder's logits ``[B, C, H, W]`` (image only: a caption's logits depend on its tokens, see
        :meth:`nll`)."""
        vae = self._vae(modality)
        if not isinstance(vae, ImageVAE):
            raise CapabilityError("decode_logits: only images have logits per latent; score captions with nll")
        return vae.decode_logits(z)

    def nll(self, modality: Modality, x: Tensor | TextBatch, z: Tensor) -> Tensor:
        """-log p(x | z) per item ``[B]`` (text: teacher-forced, no word dropout)."""
        vae = self._vae(modality)
        if isinstance(vae, TextVAE):
            return vae.nll(x, z)  # type: ignore[arg-type]
        return vae.reconstruction_loss(vae.decode_logits(z), x)  # type: ignore[arg-type]

    @torch.no_grad()
    def aggregate_latents(self, batch: Batch, generator: torch.Generator | None = None) -> Tensor:
        """One draw z ~ q(z | x) per item from the posterior a prior over the shared space should cover: the joint
        posterior (``z["joint"]`` of the forward pass) where the family has one, else the posterior of its first
        modality (the image's, for the aligned pair). Computed in eval mode; a learned prior is fitted to these."""
        was_training = self.training
        self.eval()
        try:
            z = self(batch, generator=generator).z
        finally:
            self.train(was_training)
        return z["joint"] if "joint" in z else z[self.modalities[0]]

    def prior(self) -> LatentPrior:
        """p(z): N(0, I), or the learned prior given by :meth:`use_prior`."""
        return self.latent_prior

    def use_prior(self, prior: LatentPrior) -> None:
        """Sample and score latents with ``prior`` from now on."""
        if prior.latent_dim != self.latent_dim:
            raise ValueError(f"the prior's latent size {prior.latent_dim} differs from the model's {self.latent_dim}")
        self.latent_prior = prior

    def conditional_prior(self, text: TextBatch) -> FullGaussian:
        """p(z | caption) for each caption; only families whose config declares one have it."""
        raise CapabilityError(
            "this model has no conditional prior; declare model.config.conditional_prior in args.json "
            "(an aligned model) to train one"
        )


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


__all__ = [
    "Batch",
    "CapabilityError",
    "LatentModel",
    "MODALITIES",
    "Modality",
    "ModelConfig",
    "ModelOutput",
    "MultimodalModel",
    "Term",
    "TermKind",
    "resolve_weights",
    "shared_latent_dim",
]
