"""Learned priors p(z) over a trained model's latent space.

Post-hoc priors are fitted after training to the aggregate posterior (latents of the training items) and
choose their own settings on validation latents: a full-covariance Gaussian mixture (``"gmm"``,
:mod:`.gmm`) and a masked autoregressive flow (``"maf"``, :mod:`.flow`), both in the :data:`PRIORS`
registry, fitted by :func:`fit_prior` and stored by :func:`save_prior` / :func:`load_prior`. The
:class:`VampPrior` (:mod:`.vamp`) is trained with the model through its encoder, its KL term estimated by
:func:`kl_monte_carlo`.
"""

from remvae.playground.priors.common import PRIORS, kl_monte_carlo, mean_log_prob
from remvae.playground.priors.flow import (
    FlowPriorConfig,
    MaskedAutoregressiveFlowPrior,
    fit_flow,
)
from remvae.playground.priors.gmm import (
    GaussianMixturePrior,
    GMMPriorConfig,
    fit_gaussian_mixture,
    fit_gmm,
)
from remvae.playground.priors.store import (
    PriorFileError,
    fit_prior,
    load_prior,
    save_prior,
)
from remvae.playground.priors.vamp import VampPrior

__all__ = [
    "PRIORS",
    "FlowPriorConfig",
    "GMMPriorConfig",
    "GaussianMixturePrior",
    "MaskedAutoregressiveFlowPrior",
    "PriorFileError",
    "VampPrior",
    "fit_flow",
    "fit_gaussian_mixture",
    "fit_gmm",
    "fit_prior",
    "kl_monte_carlo",
    "load_prior",
    "mean_log_prob",
    "save_prior",
]
