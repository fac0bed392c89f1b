"""The package version, in one place (the bank manifest records it)."""
__version__ = "0.1.0"
