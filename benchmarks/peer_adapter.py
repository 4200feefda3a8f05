"""MultiVae's JMVAE, MoPoE and MMVAE+ built for a remvae experiment's data, and read through remvae's model protocol.

What :mod:`peer_multivae` trains and scores. Nothing here changes how MultiVae trains: its models, its objectives,
its :class:`~multivae.trainers.BaseTrainer`; only the networks and the text form are chosen here:

* **image**: the experiment's own image network (remvae's ``conv`` encoder and decoder, the same widths), wrapped as
  MultiVae encoder / decoder classes, with MultiVae's Bernoulli likelihood on its logits (remvae's likelihood too);
* **text**: MultiVae has no recurrent text model, so a caption is given in the form its models take, a fixed-length
  one-hot array ``[L, V]``: the experiment's tokenizer ids without ``<bos>``, up to and including ``<eos>``, padded
  with ``<pad>`` to ``L = max_length - 1``; MultiVae's own MLP text encoder (``Encoder_VAE_MLP``, or
  ``Encoder_VAE_MLP_Style`` for MMVAE+'s private latent) and its MLP text decoder (``CubTextDecoderMLP``: independent
  logits per position) with its ``categorical`` likelihood.

:class:`PeerModel` answers remvae's :class:`~remvae.core.model.LatentModel` protocol (``encode`` / ``decode`` /
``prior``) from MultiVae's own parts, the way MultiVae's ``encode(..., cond_mod=m)`` / ``decode`` /
``generate_from_prior`` do, so remvae's evaluators score a MultiVae model with the same code as a remvae one:

* JMVAE: the unimodal encoder of the given modality; N(0, I) prior.
* MoPoE: the product of experts of the one-modality subset (MultiVae's ``poe``); N(0, I) prior.
* MMVAE+: latent ``[u, w_image, w_text]`` (shared ``u``, a private ``w`` per modality). Encoding a modality gives its
  ``u`` and ``w`` posteriors and, for the other modality's ``w``, the prior MultiVae draws it from when translating
  (``reconstruction_option="joint_prior"``); decoding modality ``m`` reads ``[u, w_m]``; a prior draw is one
  ``[u, w]`` from MMVAE+'s prior decoded by both decoders (``w_image = w_text``), as ``generate_from_prior`` does.
  MMVAE+'s posteriors and prior are Laplace (its default): the :class:`Posterior` handed to the evaluators has the
  Laplace mean and variance (a Gaussian draw in ``sample`` mode, so :mod:`peer_multivae` evaluates at the means),
  and its prior samples the Laplace itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from remvae.core.prior import LatentPrior

if TYPE_CHECKING:
    from remvae.core.data import ImageTextDataset
    from remvae.text.tokenizer import Tokenizer

FAMILIES = ("jmvae", "mopoe", "mmvae_plus")
LABELS = {"jmvae": "JMVAE", "mopoe": "MoPoE", "mmvae_plus": "MMVAE+"}
TEXT_WEIGHT = 30.0
"""Weight of the text log-likelihood (MultiVae's ``rescale_factors``): remvae's recipes weight text reconstruction x30."""


def multivae_version() -> str | None:
    """The installed MultiVae's version, ``None`` when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        import multivae  # noqa: F401
    except ImportError:
        return None
    try:
        return version("multivae")
    except PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class PeerSettings:
    """What a MultiVae model is built and trained with (everything else: MultiVae's defaults)."""

    epochs: int
    batch_size: int
    learning_rate: float = 1e-3
    seed: int = 0
    private_dim: int | None = None
    """MMVAE+'s private latent size per modality (default: the shared size, as in its PolyMNIST set-up)."""
    mmvae_k: int = 10
    """MMVAE+'s importance samples K (its default, 10)."""

    @property
    def jmvae_warmup(self) -> int:
        """JMVAE's KL warm-up in epochs: the first 30% of training, as remvae's recipes anneal (MultiVae: 10)."""
        return max(1, math.ceil(0.3 * self.epochs))


# Data in MultiVae's form.


def text_length(max_length: int) -> int:
    """Positions of the one-hot caption: the tokenizer's ``max_length`` without ``<bos>``."""
    return max_length - 1


def one_hot_captions(tokens: Tensor, length: int, vocab: int) -> Tensor:
    """Token ids ``[B, T]`` (``<bos> w.. <eos> <pad>..``) as float one-hot ``[B, length, vocab]`` without ``<bos>``."""
    ids = tokens[:, 1 : length + 1]
    if ids.shape[1] < length:
        ids = nn.functional.pad(ids, (0, length - ids.shape[1]), value=0)  # <pad> = 0
    return nn.functional.one_hot(ids.long(), vocab).float()


def multivae_dataset(items: ImageTextDataset, tokenizer: Tokenizer, max_length: int) -> Any:
    """``items`` as a MultiVae ``MultimodalBaseDataset``: float images in [0, 1] and one-hot captions."""
    from multivae.data.datasets.base import MultimodalBaseDataset

    text = tokenizer.encode_batch(items.captions, max_length).tokens
    data = {"image": items.images.float().div_(255.0),
            "text": one_hot_captions(text, text_length(max_length), tokenizer.vocab_size)}
    return MultimodalBaseDataset(data=data, labels=items.labels.clone())


# Networks in MultiVae's classes.


def _encoder_classes() -> tuple[type, type]:
    from multivae.models.nn.base_architectures import BaseEncoder
    from pythae.models.base.base_utils import ModelOutput

    class ImageEncoder(BaseEncoder):
        """remvae's image encoder as a MultiVae encoder: ``embedding`` / ``log_covariance`` (and, with ``style_dim``,
        the last ``style_dim`` outputs as ``style_embedding`` / ``style_log_covariance``)."""

        def __init__(self, network: nn.Module, latent_dim: int, style_dim: int = 0) -> None:
            BaseEncoder.__init__(self)
            self.network, self.latent_dim, self.style_dim = network, latent_dim, style_dim

        def forward(self, x: Tensor) -> Any:
            posterior = self.network(x)
            d = self.latent_dim
            output = ModelOutput(embedding=posterior.mean[:, :d], log_covariance=posterior.logvar[:, :d])
            if self.style_dim:
                output["style_embedding"] = posterior.mean[:, d:]
                output["style_log_covariance"] = posterior.logvar[:, d:]
            return output

    from multivae.models.nn.base_architectures import BaseDecoder

    class ImageDecoder(BaseDecoder):
        """remvae's image decoder as a MultiVae decoder: ``reconstruction`` = logits, any leading dimensions."""

        def __init__(self, network: nn.Module) -> None:
            BaseDecoder.__init__(self)
            self.network = network

        def forward(self, z: Tensor) -> Any:
            logits = self.network(z.reshape(-1, z.shape[-1]))
            return ModelOutput(reconstruction=logits.reshape(*z.shape[:-1], *logits.shape[1:]))

    return ImageEncoder, ImageDecoder


def build_peer(family: str, experiment: Any, tokenizer: Tokenizer, settings: PeerSettings) -> nn.Module:
    """MultiVae's ``family`` model for the experiment's images and captions, first weights from ``settings.seed``."""
    from multivae.models import JMVAE, JMVAEConfig, MMVAEPlus, MMVAEPlusConfig, MoPoE, MoPoEConfig
    from multivae.models.base.base_config import BaseAEConfig
    from multivae.models.nn.cub import CubTextDecoderMLP
    from multivae.models.nn.default_architectures import Encoder_VAE_MLP, Encoder_VAE_MLP_Style

    from remvae.core.registry import ARCHITECTURES

    spec = experiment.model_spec().resolved()
    latent = int(spec.image_config["latent_dim"])
    max_length = int(spec.text_config["max_length"])
    private = (settings.private_dim or latent) if family == "mmvae_plus" else 0
    image_shape = (int(spec.image_config["channels"]), int(spec.image_config["image_size"]),
                   int(spec.image_config["image_size"]))
    text_shape = (text_length(max_length), tokenizer.vocab_size)
    ImageEncoder, ImageDecoder = _encoder_classes()
    common: dict[str, Any] = {
        "n_modalities": 2, "latent_dim": latent, "input_dims": {"image": image_shape, "text": text_shape},
        "decoders_dist": {"image": "bernoulli", "text": "categorical"}, "uses_likelihood_rescaling": True,
        "rescale_factors": {"image": 1.0, "text": TEXT_WEIGHT},
    }
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        image = ARCHITECTURES.build(spec.image, {**spec.image_config, "latent_dim": latent + private})
        text_config = BaseAEConfig(input_dim=text_shape, latent_dim=latent, style_dim=private)
        encoders = {"image": ImageEncoder(image.encoder, latent, private),
                    "text": Encoder_VAE_MLP_Style(text_config) if private else Encoder_VAE_MLP(text_config)}
        decoders = {"image": ImageDecoder(image.decoder),
                    "text": CubTextDecoderMLP(BaseAEConfig(input_dim=text_shape, latent_dim=latent + private))}
        if family == "jmvae":
            return JMVAE(JMVAEConfig(**common, warmup=settings.jmvae_warmup), encoders, decoders)
        if family == "mopoe":
            return MoPoE(MoPoEConfig(**common), encoders, decoders)
        if family == "mmvae_plus":
            return MMVAEPlus(MMVAEPlusConfig(**common, modalities_specific_dim=private, K=settings.mmvae_k),
                             encoders, decoders)
    raise ValueError(f"unknown MultiVae family {family!r}; one of {', '.join(FAMILIES)}")


# MultiVae's models through remvae's LatentModel protocol.


def _laplace_logvar(scale: Tensor) -> Tensor:
    """log of a Laplace(b) variance, 2 b^2."""
    return torch.log(2.0 * scale.pow(2))


class PeerPrior(LatentPrior):
    """A MultiVae model's prior over the adapter's latent: N(0, I), or MMVAE+'s prior on ``[u, w]`` with the ``w``
    draw given to both modalities (``[u, w, w]``)."""

    def __init__(self, model: nn.Module, family: str, latent_dim: int) -> None:
        super().__init__(latent_dim)
        self.model, self.family = model, family
        self.name = "multivae_" + ("mmvae_plus_prior" if family == "mmvae_plus" else "standard_normal")

    def _mmvae_params(self) -> tuple[Tensor, Tensor]:
        mean, scale = self.model.pz_params  # [1, d + s]
        return mean[0].detach(), scale[0].detach()

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        device = generator.device if generator is not None else next(self.model.parameters()).device
        if self.family != "mmvae_plus":
            return torch.randn(n, self.latent_dim, generator=generator, device=device)
        mean, scale = self._mmvae_params()
        shape = (n, mean.shape[0])
        if self.model.prior_dist is torch.distributions.Laplace:
            u = torch.rand(shape, generator=generator, device=device) - 0.5  # inverse CDF of Laplace(mean, scale)
            draw = mean - scale * u.sign() * torch.log1p(-2.0 * u.abs()).clamp(min=-80.0)
        else:
            draw = mean + scale * torch.randn(shape, generator=generator, device=device)
        shared = self.model.latent_dim
        return torch.cat([draw, draw[:, shared:]], dim=1)

    def log_prob(self, z: Tensor) -> Tensor:
        if self.family != "mmvae_plus":
            return -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(-1)
        mean, scale = self._mmvae_params()
        joint = z[:, : mean.shape[0]]
        return self.model.prior_dist(mean, scale).log_prob(joint).sum(-1)


class PeerModel(nn.Module):
    """A MultiVae model (JMVAE, MoPoE or MMVAE+) read through remvae's ``LatentModel`` protocol (see the module)."""

    modalities = ("image", "text")

    def __init__(self, model: nn.Module, family: str, tokenizer: Tokenizer, max_length: int) -> None:
        super().__init__()
        self.model, self.family = model.eval(), family
        self.vocab = tokenizer.vocab_size
        self._max_length = max_length
        self.shared = int(model.latent_dim)
        self.private = int(model.modalities_specific_dim) if family == "mmvae_plus" else 0
        self.latent_dim = self.shared + 2 * self.private
        self._prior = PeerPrior(model, family, self.latent_dim)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.model.input_dims["image"])  # type: ignore[return-value]

    @property
    def max_text_length(self) -> int:
        return self._max_length

    def label(self) -> str:
        return LABELS[self.family]

    # encode

    def _inputs(self, modality: str, x: Any) -> Tensor:
        if modality == "text":
            return one_hot_captions(x.tokens, text_length(self._max_length), self.vocab).to(x.tokens.device)
        return x

    def encode(self, modality: str, x: Any) -> Any:
        from remvae.core.distributions import Posterior

        output = self.model.encoders[modality](self._inputs(modality, x))
        mean, logvar = output.embedding, output.log_covariance
        if self.family == "mopoe":
            from multivae.models.base.base_utils import poe

            mean, logvar = poe(mean.unsqueeze(0), logvar.unsqueeze(0))  # the one-modality subset's product
        if self.family != "mmvae_plus":
            return Posterior(mean, logvar)
        to_scale = self.model._log_var_to_std
        laplace = self.model.post_dist is torch.distributions.Laplace
        variance = (lambda s: _laplace_logvar(s)) if laplace else (lambda s: torch.log(s.pow(2)))
        own = (output.style_embedding, variance(to_scale(output.style_log_covariance)))
        prior_mean = self.model.mean_priors["shared"][:, self.shared:].expand(len(mean), -1)
        prior_scale = to_scale(self.model.logvars_priors["shared"][:, self.shared:]).expand(len(mean), -1)
        other = (prior_mean, variance(prior_scale))
        parts = [(mean, variance(to_scale(logvar))), own, other] if modality == "image" else \
            [(mean, variance(to_scale(logvar))), other, own]
        return Posterior(torch.cat([p[0] for p in parts], 1), torch.cat([p[1] for p in parts], 1))

    # decode

    def _embedding(self, modality: str, z: Tensor) -> Any:
        from pythae.models.base.base_utils import ModelOutput

        if self.family != "mmvae_plus":
            return ModelOutput(z=z, one_latent_space=True)
        start = self.shared + (0 if modality == "image" else self.private)
        return ModelOutput(z=z[:, : self.shared], one_latent_space=False,
                           modalities_z={modality: z[:, start : start + self.private]})

    def decode_logits(self, modality: str, z: Tensor) -> Tensor:
        """MultiVae's decoder output for ``modality``: image logits ``[B, C, H, W]`` or caption logits ``[B, L, V]``."""
        was_training = self.model.training
        try:
            return self.model.decode(self._embedding(modality, z), [modality])[modality]
        finally:
            self.model.train(was_training)

    def decode(self, modality: str, z: Tensor, temperature: float = 0.0,
               generator: torch.Generator | None = None) -> Tensor:
        logits = self.decode_logits(modality, z)
        if modality == "image":
            return torch.sigmoid(logits)
        if temperature <= 0:
            return logits.argmax(-1)
        probabilities = torch.softmax(logits / temperature, -1)
        flat = torch.multinomial(probabilities.reshape(-1, self.vocab), 1, generator=generator)
        return flat.reshape(logits.shape[:-1])

    def nll(self, modality: str, x: Any, z: Tensor) -> Tensor:
        logits = self.decode_logits(modality, z)
        if modality == "image":
            loss = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none")
            return loss.flatten(1).sum(1)
        target = self._inputs("text", x)
        return -(target * torch.log_softmax(logits, -1)).sum((1, 2))

    def prior(self) -> Any:
        return self._prior

    def conditional_prior(self, text: Any) -> Any:
        from remvae.core.model import CapabilityError

        raise CapabilityError(f"MultiVae's {self.label()} has no conditional prior p(z | caption)")


def library_encoding(model: nn.Module, family: str, data: dict[str, Tensor], modality: str) -> Tensor:
    """MultiVae's own ``encode(inputs, cond_mod=modality, return_mean=True)`` of ``data``, as a ``[B, D]`` latent in
    :class:`PeerModel`'s layout (for checking the adapter against the library)."""
    from multivae.data.datasets.base import MultimodalBaseDataset

    output = model.encode(MultimodalBaseDataset(data=data), cond_mod=modality, return_mean=True)
    if family != "mmvae_plus":
        return output.z
    return torch.cat([output.z, output.modalities_z["image"], output.modalities_z["text"]], 1)


__all__ = [
    "FAMILIES",
    "LABELS",
    "PeerModel",
    "PeerPrior",
    "PeerSettings",
    "build_peer",
    "library_encoding",
    "multivae_dataset",
    "multivae_version",
    "one_hot_captions",
]
