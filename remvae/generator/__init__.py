"""The scripts generated from an experiment, the run folder's preparation, and running the stages."""

from remvae.generator.render import FileResult, generate, render

__all__ = ["FileResult", "generate", "render"]
