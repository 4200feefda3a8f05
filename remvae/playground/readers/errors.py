"""The error a reader raises for a data file that exists but cannot be read."""

from __future__ import annotations


class DataFormatError(ValueError):
    """A data file in the wrong format (or truncated); the message names the file and what is wrong."""
