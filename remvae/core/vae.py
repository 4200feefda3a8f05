"""The single-modality VAEs the model families are built from: encoders, decoders, an image and a text VAE.

Every VAE shares one API (as in MultiVae): ``encode(x) -> Posterior``, ``reparametrize(posterior) -> z``,
``decode(z)`` and ``forward(x) -> VAEOutput`` whose loss terms are per-sample tensors of shape ``[B]``.
The prior p(z) belongs to the model family that holds the VAEs (:mod:`remvae.core.model`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from remvae.core.distributions import Posterior
from remvae.text.batch import TextBatch

DecodingMode = Literal["teacher_forcing", "free_running"]


@dataclass
class VAEOutput:
    """What a VAE's forward pass returns; loss terms are per sample, shape ``[B]``."""

    posterior: Posterior
    z: Tensor
    reconstruction: Tensor  # image logits [B, C, H, W] or token logits [B, T, V]
    reconstruction_loss: Tensor  # -log p(x|z), summed over pixels or tokens, [B]
    kl: Tensor  # KL(q(z|x) || p(z)), [B]


class Encoder(nn.Module):
    """Maps an input to a :class:`Posterior` over a ``latent_dim``-dimensional latent."""

    latent_dim: int

    def forward(self, x: Tensor) -> Posterior:  # pragma: no cover - interface
        raise NotImplementedError


class Decoder(nn.Module):
    """Maps latents ``[B, D]`` to the parameters of p(x|z)."""

    latent_dim: int

    def forward(self, z: Tensor) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError


class VariationalAutoencoder(nn.Module):
    """Base VAE: an encoder q(z|x), a decoder p(x|z) and the standard normal prior p(z)."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.latent_dim = latent_dim

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def encode(self, x: Tensor) -> Posterior:
        return self.encoder(x)

    @staticmethod
    def reparametrize(posterior: Posterior, generator: torch.Generator | None = None) -> Tensor:
        return posterior.rsample(generator)

    def decode(self, z: Tensor) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError


class ImageVAE(VariationalAutoencoder):
    """VAE over images ``[B, C, H, W]`` in [0, 1].

    Likelihoods (summed over pixels, per image):
      * ``bernoulli``: -log p(x|z) = sum_i BCE(sigmoid(l_i), x_i)
      * ``gaussian``: -log p(x|z) = sum_i (x_i - sigmoid(l_i))^2 / (2 s^2) + log(s sqrt(2 pi)), s = ``sigma``
    """

    def __init__(
        self,
        encoder: Encoder,
        decoder: Decoder,
        latent_dim: int,
        image_size: int,
        channels: int,
        likelihood: Literal["bernoulli", "gaussian"] = "bernoulli",
        sigma: float = 0.1,
    ) -> None:
        super().__init__(encoder, decoder, latent_dim)
        self.image_size = image_size
        self.channels = channels
        self.likelihood = likelihood
        self.sigma = sigma

    def decode_logits(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    def decode(self, z: Tensor) -> Tensor:
        """Mean image in [0, 1], shape ``[B, C, H, W]``."""
        return torch.sigmoid(self.decoder(z))

    def reconstruction_loss(self, logits: Tensor, x: Tensor) -> Tensor:
        if self.likelihood == "bernoulli":
            nll = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
        else:
            nll = (x - torch.sigmoid(logits)).pow(2) / (2 * self.sigma**2) + math.log(self.sigma * math.sqrt(2 * math.pi))
        return nll.flatten(1).sum(dim=1)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> VAEOutput:
        posterior = self.encode(x)
        z = self.reparametrize(posterior, generator)
        logits = self.decode_logits(z)
        return VAEOutput(posterior, z, logits, self.reconstruction_loss(logits, x), posterior.kl())


class TextEncoder(Encoder):
    """Encodes a :class:`TextBatch` to a posterior."""

    def forward(self, text: TextBatch) -> Posterior:  # type: ignore[override]  # pragma: no cover
        raise NotImplementedError


class TextDecoder(Decoder):
    """Autoregressive decoder conditioned on z.

    ``forward(z, inputs)`` scores a whole sequence in parallel (teacher forcing) and
    ``step(z, token, state)`` advances one token; both must give the same logits.
    """

    def forward(self, z: Tensor, inputs: Tensor) -> Tensor:  # type: ignore[override]  # pragma: no cover
        """Logits ``[B, T, V]`` of the next token after each input token ``[B, T]``."""
        raise NotImplementedError

    def initial_state(self, z: Tensor) -> object:  # pragma: no cover - interface
        raise NotImplementedError

    def step(self, z: Tensor, token: Tensor, state: object) -> tuple[Tensor, object]:  # pragma: no cover
        """Logits ``[B, V]`` after ``token`` ``[B]``, and the next state."""
        raise NotImplementedError


class TextVAE(VariationalAutoencoder):
    """VAE over token sequences: a bidirectional encoder and an autoregressive decoder.

    -log p(x|z) = - sum_{t=1}^{n} log p(w_t | w_<t, z), summed over the tokens after ``<bos>`` up to
    and including ``<eos>`` (padding excluded). Inputs are ``tokens[:, :-1]``, targets ``tokens[:, 1:]``.

    While training, the decoder reads (``decoding``):

    * ``teacher_forcing``: the true previous token, of which a fraction ``word_dropout`` (Bowman et al.
      2016) is replaced by ``<unk>`` so the decoder must rely on z;
    * ``free_running``: its own previous greedy prediction.
    """

    encoder: TextEncoder
    decoder: TextDecoder

    def __init__(
        self,
        encoder: TextEncoder,
        decoder: TextDecoder,
        latent_dim: int,
        vocab_size: int,
        pad_id: int,
        bos_id: int,
        eos_id: int,
        unk_id: int,
        max_length: int,
        word_dropout: float = 0.0,
        decoding: DecodingMode = "teacher_forcing",
    ) -> None:
        super().__init__(encoder, decoder, latent_dim)
        if not 0.0 <= word_dropout < 1.0:
            raise ValueError(f"word_dropout must be in [0, 1), got {word_dropout}")
        if decoding not in ("teacher_forcing", "free_running"):
            raise ValueError(f"decoding must be 'teacher_forcing' or 'free_running', got {decoding!r}")
        self.vocab_size = vocab_size
        self.pad_id = pad_id
        self.bos_id = bos_id
        self.eos_id = eos_id
        self.unk_id = unk_id
        self.max_length = max_length
        self.word_dropout = word_dropout
        self.decoding = decoding

    def encode(self, text: TextBatch) -> Posterior:  # type: ignore[override]
        return self.encoder(text)

    def decode_logits(self, z: Tensor, inputs: Tensor) -> Tensor:
        """Teacher-forced logits ``[B, T, V]`` for decoder ``inputs`` ``[B, T]`` (starting with ``<bos>``)."""
        return self.decoder(z, inputs)

    def reconstruction_loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        """Summed token NLL per sequence ``[B]``; ``targets`` equal to ``pad_id`` are ignored."""
        nll = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=self.pad_id, reduction="none")
        return nll.sum(dim=1)

    def nll(self, text: TextBatch, z: Tensor) -> Tensor:
        """-log p(x|z) ``[B]`` of ``text`` under teacher forcing (no word dropout)."""
        return self.reconstruction_loss(self.decode_logits(z, text.tokens[:, :-1]), text.tokens[:, 1:])

    def _drop_words(self, inputs: Tensor, generator: torch.Generator | None) -> Tensor:
        if not self.training or self.word_dropout == 0.0:
            return inputs
        rand = torch.rand(inputs.shape, generator=generator, device=inputs.device)
        droppable = (inputs != self.pad_id) & (inputs != self.bos_id)
        return inputs.masked_fill(droppable & (rand < self.word_dropout), self.unk_id)

    def _free_running_logits(self, z: Tensor, steps: int) -> Tensor:
        token = torch.full((z.shape[0],), self.bos_id, dtype=torch.long, device=z.device)
        state = self.decoder.initial_state(z)
        logits = []
        for _ in range(steps):
            step_logits, state = self.decoder.step(z, token, state)
            logits.append(step_logits)
            token = step_logits.argmax(dim=-1)
        return torch.stack(logits, dim=1)

    def reconstruct(self, z: Tensor, text: TextBatch, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Training-time logits ``[B, T-1, V]`` of ``text`` decoded from ``z`` (as ``decoding`` says) and the
        per-sequence NLL ``[B]``."""
        inputs, targets = text.tokens[:, :-1], text.tokens[:, 1:]
        if self.decoding == "teacher_forcing":
            logits = self.decode_logits(z, self._drop_words(inputs, generator))
        else:
            logits = self._free_running_logits(z, inputs.shape[1])
        return logits, self.reconstruction_loss(logits, targets)

    def forward(self, text: TextBatch, generator: torch.Generator | None = None) -> VAEOutput:  # type: ignore[override]
        posterior = self.encode(text)
        z = self.reparametrize(posterior, generator)
        logits, nll = self.reconstruct(z, text, generator)
        return VAEOutput(posterior, z, logits, nll, posterior.kl())

    @torch.no_grad()
    def decode(
        self,
        z: Tensor,
        max_length: int | None = None,
        temperature: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Generate token ids ``[B, L]`` (without ``<bos>``; ``<pad>`` after ``<eos>``), batched.

        ``temperature == 0`` decodes greedily; otherwise tokens are sampled from softmax(logits / T).
        Stops when every sequence has produced ``<eos>`` or after ``max_length`` tokens.
        """
        max_length = max_length or self.max_length
        batch = z.shape[0]
        token = torch.full((batch,), self.bos_id, dtype=torch.long, device=z.device)
        state = self.decoder.initial_state(z)
        finished = torch.zeros(batch, dtype=torch.bool, device=z.device)
        out = torch.full((batch, max_length), self.pad_id, dtype=torch.long, device=z.device)
        for t in range(max_length):
            logits, state = self.decoder.step(z, token, state)
            logits[:, self.pad_id] = -float("inf")
            logits[:, self.bos_id] = -float("inf")
            if temperature > 0:
                probs = torch.softmax(logits / temperature, dim=-1)
                token = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            else:
                token = logits.argmax(dim=-1)
            token = token.masked_fill(finished, self.pad_id)
            out[:, t] = token
            finished |= token == self.eos_id
            if bool(finished.all()):
                return out[:, : t + 1]
        return out
