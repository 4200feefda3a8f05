"""Registered readers."""
