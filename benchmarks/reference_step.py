"""The baseline of ``train_throughput.py``: a minimal plain-PyTorch training step of the reference architecture.

MNIST at 56x56; image VAE: convolutions 1-32-64-128 (kernel 4, stride 2, padding 1, ReLU) flattened to a
linear (mean, log-variance) of a 30-d latent, decoded by a linear layer and transposed convolutions
128-64-32-1; text VAE: embedding 64, a bidirectional GRU encoder (hidden 64) to (mean, log-variance), a GRU
decoder (hidden 64) started from tanh(W z) and reading [embedding, z] at every token, context 10; loss:
image BCE and token cross-entropy (sums per item), both KLs and the reference alignment (MSE of the means
and of the standard deviations); Adam; batch 32. No remvae code: the shapes and loss terms of
``experiments/reference_mnist_gru``, without remvae's packing of captions, annealing, logging or checks.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LATENT, HIDDEN, EMBEDDING, BATCH = 30, 64, 64, 32


def reparametrize(mean: Tensor, logvar: Tensor) -> Tensor:
    return mean + torch.randn_like(mean) * (0.5 * logvar).exp()


def kl(mean: Tensor, logvar: Tensor) -> Tensor:
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)


class ReferenceModel(nn.Module):
    """Both VAEs of the reference architecture; ``forward`` returns the summed loss of a batch."""

    def __init__(self, vocab_size: int, pad_id: int) -> None:
        super().__init__()
        self.pad_id = pad_id
        self.image_encoder = nn.Sequential(
            nn.Conv2d(1, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(64, 128, 4, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(128 * 7 * 7, 2 * LATENT),
        )
        self.image_decoder = nn.Sequential(
            nn.Linear(LATENT, 128 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (128, 7, 7)),
            nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(32, 1, 4, 2, 1),
        )
        self.embedding = nn.Embedding(vocab_size, EMBEDDING, padding_idx=pad_id)
        self.text_encoder = nn.GRU(EMBEDDING, HIDDEN, batch_first=True, bidirectional=True)
        self.text_head = nn.Linear(2 * HIDDEN, 2 * LATENT)
        self.initial = nn.Linear(LATENT, HIDDEN)
        self.text_decoder = nn.GRU(EMBEDDING + LATENT, HIDDEN, batch_first=True)
        self.output = nn.Linear(HIDDEN, vocab_size)

    def forward(self, images: Tensor, tokens: Tensor) -> Tensor:
        image_mean, image_logvar = self.image_encoder(images).chunk(2, 1)
        image_logits = self.image_decoder(reparametrize(image_mean, image_logvar))
        image_nll = F.binary_cross_entropy_with_logits(image_logits, images, reduction="none").flatten(1).sum(1)
        _, final = self.text_encoder(self.embedding(tokens))
        text_mean, text_logvar = self.text_head(torch.cat([final[0], final[1]], 1)).chunk(2, 1)
        z = reparametrize(text_mean, text_logvar)
        inputs = self.embedding(tokens[:, :-1])
        inputs = torch.cat([inputs, z.unsqueeze(1).expand(-1, inputs.shape[1], -1)], 2)
        hidden, _ = self.text_decoder(inputs, torch.tanh(self.initial(z)).unsqueeze(0))
        logits = self.output(hidden)
        targets = tokens[:, 1:]
        text_nll = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=self.pad_id, reduction="none").sum(1)
        image_std, text_std = (0.5 * image_logvar).exp(), (0.5 * text_logvar).exp()
        alignment = F.mse_loss(image_mean, text_mean) + F.mse_loss(image_std, text_std)
        return (image_nll + text_nll + kl(image_mean, image_logvar) + kl(text_mean, text_logvar)).mean() + alignment


class ReferenceStep:
    """The baseline's model, Adam and batches of real pairs (uint8 images ``[N, 1, 56, 56]``, token ids ``[N, T]``)."""

    def __init__(self, images: Tensor, tokens: Tensor, vocab_size: int, pad_id: int, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.images, self.tokens = images, tokens
        self.model = ReferenceModel(vocab_size, pad_id)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3, betas=(0.5, 0.999), weight_decay=1e-5)
        self.order = torch.randperm(len(images))
        self.position = 0

    def step(self) -> float:
        """One training step on the next batch (uint8 -> float included, as in remvae's data phase); its loss."""
        if self.position + BATCH > len(self.order):
            self.position = 0
        index = self.order[self.position : self.position + BATCH]
        self.position += BATCH
        loss = self.model(self.images[index].float().div_(255.0), self.tokens[index])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def samples_per_s(self, steps: int, warmup: int) -> float:
        """Samples per second of ``steps`` timed steps after ``warmup`` untimed ones."""
        for _ in range(warmup):
            self.step()
        start = time.perf_counter()
        for _ in range(steps):
            self.step()
        return steps * BATCH / (time.perf_counter() - start)
