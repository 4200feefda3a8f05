"""Registered trainers, KL annealing schedules and alignment losses (importing this registers them)."""

from remvae.playground.trainers import alignment, schedules, variants  # noqa: F401
