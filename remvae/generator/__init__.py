"""args.json: the typed experiment schema, and the scripts generated from it."""

from remvae.generator.render import FileResult, generate, render
from remvae.generator.schema import ArgsError, Experiment, json_schema, load_experiment, validate_experiment

__all__ = ["ArgsError", "Experiment", "FileResult", "generate", "json_schema", "load_experiment", "render",
           "validate_experiment"]
