"""The VampPrior (Tomczak & Welling 2018): a mixture of the encoder's posteriors at learned pseudo-inputs.

p(z) = (1/K) sum_k q(z | u_k), with K pseudo-inputs u_k (a learned tensor ``[K, *input_shape]``) passed
through the owning model's encoder. It is trained with the model, e.g. in the KL term of the ELBO through
:func:`remvae.playground.priors.common.kl_monte_carlo`, since KL(q(z|x) || p(z)) has no closed form.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import Tensor, nn

from remvae.core.distributions import Posterior
from remvae.core.prior import LatentPrior

Encoder = Callable[[Tensor], Posterior]


class VampPrior(LatentPrior):
    """p(z) = (1/K) sum_k N(z; m_k, diag(exp(v_k))) where (m_k, v_k) = encode(u_k).

    ``encode`` belongs to the model: it is kept as a plain attribute, not a submodule, so this prior's
    parameters and state_dict are the pseudo-inputs alone (``pseudo_inputs`` ``[K, ...]``) and moving the
    prior does not move the encoder. Gradients of log p(z) reach both the pseudo-inputs and the encoder.
    """

    name = "vamp"

    def __init__(self, encode: Encoder, latent_dim: int, pseudo_inputs: Tensor) -> None:
        super().__init__(latent_dim)
        if pseudo_inputs.dim() < 2 or pseudo_inputs.shape[0] < 1:
            raise ValueError(f"pseudo_inputs must be [K >= 1, ...], got shape {tuple(pseudo_inputs.shape)}")
        object.__setattr__(self, "encode", encode)  # bypasses nn.Module's registration of submodules
        self.pseudo_inputs = nn.Parameter(pseudo_inputs.detach().clone())

    @classmethod
    def uniform(
        cls,
        encode: Encoder,
        latent_dim: int,
        components: int,
        input_shape: Sequence[int],
        generator: torch.Generator | None = None,
        low: float = 0.0,
        high: float = 1.0,
    ) -> VampPrior:
        """K pseudo-inputs of ``input_shape`` drawn uniformly from [low, high) (e.g. images in [0, 1])."""
        device = generator.device if generator is not None else None
        start = torch.rand(components, *input_shape, generator=generator, device=device)
        return cls(encode, latent_dim, low + (high - low) * start)

    @property
    def components(self) -> int:
        return self.pseudo_inputs.shape[0]

    def component_posteriors(self) -> Posterior:
        """q(z | u_k) for every pseudo-input, ``[K, D]``."""
        posterior = self.encode(self.pseudo_inputs)
        if posterior.mean.shape != (self.components, self.latent_dim):
            raise ValueError(
                f"encode(pseudo_inputs) gave means of shape {tuple(posterior.mean.shape)}, "
                f"expected {(self.components, self.latent_dim)}"
            )
        return posterior

    def log_prob(self, z: Tensor) -> Tensor:
        """log p(z) = logsumexp_k log q(z | u_k) - log K, shape ``[B]``."""
        posterior = self.component_posteriors()
        per_component = Posterior(posterior.mean[None], posterior.logvar[None]).log_prob(z[:, None, :])
        return torch.logsumexp(per_component, dim=1) - math.log(self.components)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """k ~ Uniform{1..K}, then z ~ q(z | u_k), shape ``[n, D]`` (both draws from ``generator``)."""
        posterior = self.component_posteriors()
        index = torch.randint(self.components, (n,), generator=generator, device=posterior.mean.device)
        return posterior[index].rsample(generator)


__all__ = ["VampPrior"]
