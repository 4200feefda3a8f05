"""Registered evaluators: cross-modal accuracy, perplexity, FID, reconstruction, latent-space and transfer metrics.

Importing this package registers every evaluator in ``remvae.core.registry.EVALUATORS``; the judge
classifiers they use live in :mod:`remvae.playground.evaluators.judges`.
"""

from remvae.playground.evaluators import (  # noqa: F401
    cross_modal,
    fid,
    latent,
    perplexity,
    reconstruction,
    transfer,
)
