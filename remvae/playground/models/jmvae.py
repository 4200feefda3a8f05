"""JMVAE-kl (Suzuki et al. 2016, "Joint Multimodal Learning with Deep Generative Models"): a joint encoder
q(z | x_img, x_txt) trained on the joint ELBO, with the unimodal encoders pulled onto it by KL terms so that
either modality alone can be encoded.

The joint encoder reads the two unimodal encoders' posteriors, so it fits any image and text architecture:

    q(z | x_img, x_txt) = N(mu, diag exp(l)),   [mu, l] = MLP([mu_img, log sigma_img^2, mu_txt, log sigma_txt^2]),

with q(z | x_m) = N(mu_m, diag sigma_m^2) the modality's encoder. The paper's JMVAE-kl objective is

    L = E_{z ~ q(z | x_img, x_txt)}[ log p(x_img | z) + log p(x_txt | z) ] - KL(q(z | x_img, x_txt) || p(z))
        - alpha [ KL(q(z | x_img, x_txt) || q(z | x_img)) + KL(q(z | x_img, x_txt) || q(z | x_txt)) ],

p(z) = N(0, I), estimated with one z per pair; -L is the weighted sum of the terms (batch means of per-pair
values), alpha being the weight of the last two (default 1):

    joint_image_reconstruction  -log p(x_img | z),  z ~ q(z | x_img, x_txt)
    joint_text_reconstruction   -log p(x_txt | z)
    joint_kl                    KL(q(z | x_img, x_txt) || N(0, I))
    joint_to_image_kl           KL(q(z | x_img, x_txt) || q(z | x_img))    (kind alignment)
    joint_to_text_kl            KL(q(z | x_img, x_txt) || q(z | x_txt))    (kind alignment)

The joint ELBO's gradients reach the unimodal encoders too, through the joint encoder's input. ``encode(m, x)``
is the unimodal q(z | x_m) (the base class's), so text->image decodes a caption's q(z | x_txt).
"""

from __future__ import annotations

from typing import Collection

import torch
from pydantic import Field, PositiveInt
from torch import nn

from remvae.core.distributions import Posterior
from remvae.core.model import Batch, ModelConfig, ModelOutput, Term
from remvae.core.registry import MODELS
from remvae.core.vae import ImageVAE, TextVAE
from remvae.playground.models.experts import PairedFamily, joint_reconstruction_terms

JOINT = "q(z | x_img, x_txt) (the joint encoder)"


class JointEncoderConfig(ModelConfig):
    """JMVAE-kl: the joint encoder's width; the terms are the joint ELBO's and the two JMVAE-KL terms."""

    hidden_dim: PositiveInt = Field(128, description="width of the joint encoder MLP's two hidden layers")

    def terms(self) -> tuple[Term, ...]:
        return (
            *joint_reconstruction_terms(JOINT),
            Term("joint_kl", "kl", "KL(q(z | x_img, x_txt) || N(0, I))"),
            Term("joint_to_image_kl", "alignment", "KL(q(z | x_img, x_txt) || q(z | x_img))"),
            Term("joint_to_text_kl", "alignment", "KL(q(z | x_img, x_txt) || q(z | x_txt))"),
        )


class JointEncoder(nn.Module):
    """Two posteriors ``[B, D]`` -> q(z | both): [mean, log-variance] = MLP of their concatenated means and
    log-variances."""

    def __init__(self, latent_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(4 * latent_dim, hidden_dim), nn.SiLU(),
            nn.Linear(hidden_dim, hidden_dim), nn.SiLU(),
            nn.Linear(hidden_dim, 2 * latent_dim),
        )

    def forward(self, image: Posterior, text: Posterior) -> Posterior:
        mean, logvar = self.net(torch.cat([image.mean, image.logvar, text.mean, text.logvar], dim=-1)).chunk(2, dim=-1)
        return Posterior(mean, logvar)


@MODELS.register("jmvae", config=JointEncoderConfig)
class JointEncoderVAE(PairedFamily):
    """JMVAE-kl (Suzuki et al. 2016): a joint encoder and unimodal encoders pulled onto it by KL terms."""

    def __init__(self, config: JointEncoderConfig, *, image: ImageVAE, text: TextVAE) -> None:
        super().__init__(config, image=image, text=text)
        self.joint_encoder = JointEncoder(self.latent_dim, config.hidden_dim)

    def forward(
        self, batch: Batch, terms: Collection[str] = (), generator: torch.Generator | None = None
    ) -> ModelOutput:
        image_posterior, text_posterior = self.experts(batch)
        joint = self.joint_encoder(image_posterior, text_posterior)
        z = joint.rsample(generator)
        decoded = {m: self.reconstruct(m, z, batch, generator) for m in ("image", "text")}
        per_item = {
            "joint_image_reconstruction": decoded["image"][1],
            "joint_text_reconstruction": decoded["text"][1],
            "joint_kl": joint.kl(),
            "joint_to_image_kl": joint.kl_to(image_posterior),
            "joint_to_text_kl": joint.kl_to(text_posterior),
        }
        posteriors = {"image": image_posterior, "text": text_posterior, "joint": joint}
        reconstructions = {f"joint_{m}": logits for m, (logits, _) in decoded.items()}
        return self.output(terms, posteriors, {"joint": z}, reconstructions, per_item)
