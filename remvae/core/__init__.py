"""Interfaces only: models, wrapper, data, trainer and evaluator bases, configs and registries."""
