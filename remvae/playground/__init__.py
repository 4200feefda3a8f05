"""remvae's own components; importing this package registers them."""

from remvae.playground import (  # noqa: F401
    architectures,
    evaluators,
    models,
    priors,
    readers,
    trainers,
)
