"""remvae's own components; importing this package registers them."""

from remvae.playground import architectures, evaluators, models, priors, readers, trainers  # noqa: F401
