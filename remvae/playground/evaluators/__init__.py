"""Registered evaluators."""
