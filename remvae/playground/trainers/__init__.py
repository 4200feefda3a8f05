"""Registered trainers and KL annealing schedules (importing this registers them)."""

from remvae.playground.trainers import schedules, variants  # noqa: F401
