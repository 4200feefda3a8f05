"""remvae: aligned multimodal VAEs with recurrent text models."""

from remvae.model import LoadedModel, Samples, load
from remvae.version import __version__

__all__ = ["LoadedModel", "Samples", "__version__", "load"]
