"""remvae's own components; importing this package registers them."""

from remvae.playground import architectures, evaluators, readers, trainers  # noqa: F401
