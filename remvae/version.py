"""The package version (its own module so low layers can read it without importing the package's API)."""

__version__ = "0.2.0"
