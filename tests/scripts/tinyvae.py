"""Tiny models and synthetic paired data for the trainer tests (seconds on one CPU thread).

Images are 1x8x8 with a bright row at the class index; captions name the class with the MNIST
templates. The models are small but real: an ImageVAE with dropout (global RNG), a TextVAE whose
decoder reads embeddings + z (teacher forcing and step-wise decoding agree) and trains with word dropout,
joined as the aligned family.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from remvae.core.data import ImageTextDataset
from remvae.core.distributions import Posterior
from remvae.core.vae import (
    Decoder,
    Encoder,
    ImageVAE,
    TextDecoder,
    TextEncoder,
    TextVAE,
)
from remvae.playground.models.aligned import AlignedConfig, AlignedVAE
from remvae.text import MNIST_GRAMMAR, Tokenizer
from remvae.text.batch import TextBatch

SIZE, LATENT, CLASSES = 8, 4, 8


def synthetic_pairs(n: int, seed: int = 0) -> ImageTextDataset:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, CLASSES, (n,), generator=generator)
    images = (torch.rand(n, 1, SIZE, SIZE, generator=generator) * 40).to(torch.uint8)
    images[torch.arange(n), 0, labels] = 255
    captions = MNIST_GRAMMAR.captions(labels.tolist(), seed=seed)
    return ImageTextDataset(images, captions, labels, MNIST_GRAMMAR.classes, MNIST_GRAMMAR)


class TinyImageEncoder(Encoder):
    def __init__(self) -> None:
        super().__init__()
        self.latent_dim = LATENT
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(SIZE * SIZE, 16), nn.Tanh(), nn.Dropout(0.1), nn.Linear(16, 2 * LATENT))

    def forward(self, x: Tensor) -> Posterior:
        mean, logvar = self.net(x).chunk(2, dim=-1)
        return Posterior(mean, logvar)


class TinyImageDecoder(Decoder):
    def __init__(self) -> None:
        super().__init__()
        self.latent_dim = LATENT
        self.net = nn.Sequential(nn.Linear(LATENT, 16), nn.Tanh(), nn.Linear(16, SIZE * SIZE), nn.Unflatten(1, (1, SIZE, SIZE)))

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class TinyTextEncoder(TextEncoder):
    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.latent_dim = LATENT
        self.embed = nn.Embedding(vocab, 8, padding_idx=0)
        self.head = nn.Linear(8, 2 * LATENT)

    def forward(self, text: TextBatch) -> Posterior:  # type: ignore[override]
        mask = (text.tokens != 0).unsqueeze(-1).float()
        pooled = (self.embed(text.tokens) * mask).sum(1) / mask.sum(1)
        mean, logvar = self.head(pooled).chunk(2, dim=-1)
        return Posterior(mean, logvar)


class TinyTextDecoder(TextDecoder):
    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.latent_dim = LATENT
        self.embed = nn.Embedding(vocab, 8)
        self.from_z = nn.Linear(LATENT, 8)
        self.out = nn.Linear(8, vocab)

    def forward(self, z: Tensor, inputs: Tensor) -> Tensor:  # type: ignore[override]
        return self.out(torch.tanh(self.embed(inputs) + self.from_z(z).unsqueeze(1)))

    def initial_state(self, z: Tensor) -> object:
        return None

    def step(self, z: Tensor, token: Tensor, state: object) -> tuple[Tensor, object]:
        return self.forward(z, token.unsqueeze(1))[:, 0], state


def tiny_image_vae() -> ImageVAE:
    return ImageVAE(TinyImageEncoder(), TinyImageDecoder(), LATENT, SIZE, 1)


def tiny_text_vae(tokenizer: Tokenizer, word_dropout: float = 0.2) -> TextVAE:
    return TextVAE(
        TinyTextEncoder(len(tokenizer)), TinyTextDecoder(len(tokenizer)), LATENT, len(tokenizer),
        tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id, tokenizer.unk_id, max_length=12,
        word_dropout=word_dropout,
    )


def tiny_multimodal(tokenizer: Tokenizer, seed: int = 0, **config: object) -> AlignedVAE:
    torch.manual_seed(seed)
    return AlignedVAE(AlignedConfig(**config), image=tiny_image_vae(), text=tiny_text_vae(tokenizer))


def tokenizer_for(dataset: ImageTextDataset) -> Tokenizer:
    return Tokenizer.fit(dataset.captions)
