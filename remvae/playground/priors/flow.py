"""A masked autoregressive flow (MAF) prior over the latent space, trained on the aggregate posterior.

The MAF is written here (about a hundred lines, no dependency) rather than taken from a library: ``zuko``
(maintained, torch + numpy) and ``normflows`` sample only from torch's global RNG (their ``sample`` /
``rsample`` take no ``torch.Generator``), and ``nflows`` has had no release since 2020 and pulls in
tensorboard and matplotlib. All three would give plain state_dicts for safetensors, but reproducible draws
from a caller's generator would mean reaching into their internals, which costs more than this module.

Density (Papamakarios et al. 2017, with MADE networks of Germain et al. 2015): z is standardised,
x_0 = (z - s) / exp(c) with the training latents' mean s and log-std c, then each of L layers maps

    x_l = (x_{l-1} - mu_l(x_{l-1})) * exp(-alpha_l(x_{l-1})),

where the outputs of dimension d depend only on dimensions earlier in layer l's order (the identity order in
even layers, the reverse in odd ones), and alpha = B tanh(a / B) soft-clamps the log-scales to (-B, B).
With u = x_L:

    log p(z) = log N(u; 0, I) - sum_d c_d - sum_l sum_d alpha_{l,d}(x_{l-1}).

Training minimises -(1/|batch|) sum_i log p(z_i) with Adam and keeps the state with the best mean
log-likelihood of validation latents (early stopping after ``patience`` epochs without improvement).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from pydantic import Field
from torch import Tensor, nn

from remvae.core.config import ComponentConfig
from remvae.core.prior import LatentPrior
from remvae.playground.priors.common import PRIORS, mean_log_prob

LOG_SCALE_BOUND = 3.0
"""B: each layer's log-scales lie in (-B, B)."""


class MaskedLinear(nn.Linear):
    """y = (W * M) x + b with a fixed 0/1 connectivity mask M (a non-persistent buffer, rebuilt from the shape)."""

    def __init__(self, mask: Tensor) -> None:
        super().__init__(mask.shape[1], mask.shape[0])
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Module):
    """A MADE with two hidden ReLU layers mapping x ``[B, D]`` to (mu, alpha) ``[B, D]`` each, where output d
    depends only on inputs earlier than d in ``order`` (a permutation of 0..D-1).

    Degrees: input d gets its position in ``order`` plus one; hidden unit j gets 1 + (j mod max(D - 1, 1));
    a hidden unit sees inputs of degree <= its own, an output of degree m sees hidden units of degree < m.
    The last layer starts at zero, so a new layer is the identity.
    """

    def __init__(self, dim: int, hidden: int, order: Tensor) -> None:
        super().__init__()
        if hidden < dim - 1:
            raise ValueError(f"hidden width {hidden} is below latent_dim - 1 = {dim - 1}; MADE needs at least that")
        in_degree = torch.empty(dim, dtype=torch.long)
        in_degree[order] = torch.arange(1, dim + 1)
        hidden_degree = 1 + torch.arange(hidden) % max(dim - 1, 1)
        first = (hidden_degree[:, None] >= in_degree[None, :]).float()
        middle = (hidden_degree[:, None] >= hidden_degree[None, :]).float()
        last = (in_degree[:, None] > hidden_degree[None, :]).float().repeat(2, 1)
        self.net = nn.Sequential(MaskedLinear(first), nn.ReLU(), MaskedLinear(middle), nn.ReLU(), MaskedLinear(last))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        self.dim = dim

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mu, raw = self.net(x).split(self.dim, dim=-1)
        return mu, LOG_SCALE_BOUND * torch.tanh(raw / LOG_SCALE_BOUND)


class MaskedAutoregressiveFlowPrior(LatentPrior):
    """p(z) = N(u; 0, I) |det du/dz| through ``layers`` MADE layers of ``hidden`` units (see the module text).

    State: ``shift`` and ``log_scale`` ``[D]`` (the standardisation, set by :meth:`standardise`) and the MADE
    weights; :meth:`to_base` is one network pass per layer, :meth:`from_base` D passes per layer.
    """

    name = "maf"

    def __init__(self, latent_dim: int, layers: int, hidden: int) -> None:
        super().__init__(latent_dim)
        if layers < 1:
            raise ValueError(f"layers must be at least 1, got {layers}")
        self.layers_count = layers
        self.hidden = hidden
        self.config: ComponentConfig | None = None
        identity = torch.arange(latent_dim)
        self.layers = nn.ModuleList(
            MADE(latent_dim, hidden, identity if i % 2 == 0 else identity.flip(0)) for i in range(layers)
        )
        self.register_buffer("shift", torch.zeros(latent_dim))
        self.register_buffer("log_scale", torch.zeros(latent_dim))

    def shape(self) -> dict[str, int]:
        """The fields that, with ``latent_dim``, fix the shapes of the state_dict."""
        return {"layers": self.layers_count, "hidden": self.hidden}

    @torch.no_grad()
    def standardise(self, latents: Tensor) -> None:
        """Set s and c to the per-dimension mean and log-std of ``latents`` ``[N >= 2, D]`` (std floored at 1e-6)."""
        self.shift.copy_(latents.mean(0))
        self.log_scale.copy_(latents.std(0).clamp_min(1e-6).log())

    def to_base(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """u = f(z) and log |det du/dz|, shapes ``[B, D]`` and ``[B]``."""
        x = (z - self.shift) * torch.exp(-self.log_scale)
        log_det = -self.log_scale.sum().expand(z.shape[0])
        for layer in self.layers:
            mu, alpha = layer(x)
            x = (x - mu) * torch.exp(-alpha)
            log_det = log_det - alpha.sum(-1)
        return x, log_det

    def from_base(self, u: Tensor) -> Tensor:
        """z = f^{-1}(u). Each layer is inverted from its output y by D passes of x <- y exp(alpha(x)) + mu(x)
        from x = 0: after pass t the first t dimensions in the layer's order are exact, so D passes suffice."""
        x = u
        for layer in reversed(self.layers):
            target, x = x, torch.zeros_like(x)
            for _ in range(self.latent_dim):
                mu, alpha = layer(x)
                x = target * torch.exp(alpha) + mu
        return x * torch.exp(self.log_scale) + self.shift

    def log_prob(self, z: Tensor) -> Tensor:
        """log p(z) = log N(f(z); 0, I) + log |det df/dz|, shape ``[B]``."""
        u, log_det = self.to_base(z)
        return -0.5 * (u.pow(2) + math.log(2 * math.pi)).sum(-1) + log_det

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """z = f^{-1}(u) with u ~ N(0, I) drawn from ``generator``, shape ``[n, D]``."""
        u = torch.randn(n, self.latent_dim, generator=generator, device=self.shift.device, dtype=self.shift.dtype)
        return self.from_base(u)


class FlowPriorConfig(ComponentConfig):
    """How to train a MAF prior; the kept state is the one with the best validation log-likelihood."""

    layers: int = Field(5, ge=1)
    hidden: int = Field(128, ge=1)
    epochs: int = Field(200, ge=1)
    batch_size: int = Field(256, ge=1)
    lr: float = Field(1e-3, gt=0.0)
    patience: int = Field(20, ge=1, description="epochs without a better validation log-likelihood before stopping")


@PRIORS.register("maf", config=FlowPriorConfig)
def fit_flow(
    config: FlowPriorConfig, *, train_latents: Tensor, val_latents: Tensor, seed: int
) -> tuple[MaskedAutoregressiveFlowPrior, dict[str, Any]]:
    """Masked autoregressive flow (MADE layers), early-stopped on validation log-likelihood.

    Weights are initialised from ``seed`` and batches shuffled by a generator seeded with it, so on one
    thread the result depends only on the data, the config and the seed. Returns the prior with the best
    validation state and ``{"epochs_run", "best_epoch", "train_log_likelihood",
    "validation_log_likelihood"}`` (mean log-likelihoods under that state; ``best_epoch`` 0 is the start).
    """
    train = train_latents.detach().float()
    val = val_latents.detach().float().to(train.device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        prior = MaskedAutoregressiveFlowPrior(train.shape[1], config.layers, config.hidden)
    prior.to(train.device).standardise(train)
    prior.config = config
    optimiser = torch.optim.Adam(prior.parameters(), lr=config.lr)
    shuffle = torch.Generator().manual_seed(seed)
    best_score, best_epoch = mean_log_prob(prior, val), 0
    best_state = {key: value.clone() for key, value in prior.state_dict().items()}
    for epoch in range(1, config.epochs + 1):
        order = torch.randperm(train.shape[0], generator=shuffle).to(train.device)
        for start in range(0, train.shape[0], config.batch_size):
            loss = -prior.log_prob(train[order[start : start + config.batch_size]]).mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        score = mean_log_prob(prior, val)
        if score > best_score:
            best_score, best_epoch = score, epoch
            best_state = {key: value.clone() for key, value in prior.state_dict().items()}
        elif epoch - best_epoch >= config.patience:
            break
    prior.load_state_dict(best_state)
    return prior, {
        "epochs_run": epoch,
        "best_epoch": best_epoch,
        "train_log_likelihood": mean_log_prob(prior, train),
        "validation_log_likelihood": best_score,
    }


__all__ = ["FlowPriorConfig", "MADE", "MaskedAutoregressiveFlowPrior", "fit_flow"]
