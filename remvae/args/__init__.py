"""args.json: the experiment schema built from the registries, validation with one line per problem,
the resolved config and its fingerprint."""

from remvae.args.errors import ArgsError
from remvae.args.experiment import Experiment
from remvae.args.schema import ExperimentBase, experiment_model, json_schema
from remvae.args.slots import SHARED_FIELDS
from remvae.args.validate import (
    experiment_for_seed,
    load_experiment,
    validate_experiment,
)

__all__ = [
    "ArgsError",
    "Experiment",
    "ExperimentBase",
    "SHARED_FIELDS",
    "experiment_for_seed",
    "experiment_model",
    "json_schema",
    "load_experiment",
    "validate_experiment",
]
