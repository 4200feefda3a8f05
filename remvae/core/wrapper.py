"""Adapts a :class:`TextVAE`'s sequence handling to the single-argument forward the trainers use.

``ImageVAE.forward(images) -> VAEOutput`` and ``Wrapper.forward(text) -> VAEOutput`` have the same
shape, so one training loop serves both modalities.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from remvae.core.vae import TextBatch, TextVAE, VAEOutput

DecodingMode = Literal["teacher_forcing", "free_running"]


class Wrapper(nn.Module):
    """Training-time sequence handling around a :class:`TextVAE`.

    * ``teacher_forcing``: the decoder reads the true previous token, of which a fraction
      ``word_dropout`` (Bowman et al. 2016) is replaced by ``<unk>`` so the decoder must rely on z.
    * ``free_running``: the decoder reads its own previous greedy prediction.

    The loss target is always the true next token: inputs are ``tokens[:, :-1]`` and targets
    ``tokens[:, 1:]``.
    """

    def __init__(self, vae: TextVAE, word_dropout: float = 0.0, mode: DecodingMode = "teacher_forcing") -> None:
        super().__init__()
        if not 0.0 <= word_dropout < 1.0:
            raise ValueError(f"word_dropout must be in [0, 1), got {word_dropout}")
        if mode not in ("teacher_forcing", "free_running"):
            raise ValueError(f"mode must be 'teacher_forcing' or 'free_running', got {mode!r}")
        self.vae = vae
        self.word_dropout = word_dropout
        self.mode = mode

    @property
    def latent_dim(self) -> int:
        return self.vae.latent_dim

    def _drop_words(self, inputs: Tensor, generator: torch.Generator | None) -> Tensor:
        if not self.training or self.word_dropout == 0.0:
            return inputs
        rand = torch.rand(inputs.shape, generator=generator, device=inputs.device)
        droppable = (inputs != self.vae.pad_id) & (inputs != self.vae.bos_id)
        return inputs.masked_fill(droppable & (rand < self.word_dropout), self.vae.unk_id)

    def _free_running_logits(self, z: Tensor, steps: int) -> Tensor:
        token = torch.full((z.shape[0],), self.vae.bos_id, dtype=torch.long, device=z.device)
        state = self.vae.decoder.initial_state(z)
        logits = []
        for _ in range(steps):
            step_logits, state = self.vae.decoder.step(z, token, state)
            logits.append(step_logits)
            token = step_logits.argmax(dim=-1)
        return torch.stack(logits, dim=1)

    def reconstruct(self, z: Tensor, text: TextBatch, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Logits ``[B, T-1, V]`` of ``text`` decoded from ``z`` and the per-sequence NLL ``[B]``."""
        inputs, targets = text.tokens[:, :-1], text.tokens[:, 1:]
        if self.mode == "teacher_forcing":
            logits = self.vae.decode_logits(z, self._drop_words(inputs, generator))
        else:
            logits = self._free_running_logits(z, inputs.shape[1])
        return logits, self.vae.reconstruction_loss(logits, targets)

    def forward(self, text: TextBatch, generator: torch.Generator | None = None) -> VAEOutput:
        posterior = self.vae.encode(text)
        z = self.vae.reparametrize(posterior, generator)
        logits, nll = self.reconstruct(z, text, generator)
        return VAEOutput(posterior, z, logits, nll, posterior.kl())
