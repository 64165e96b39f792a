"""rpiboot's version (its own module, so library code can name it without importing
the package's public API)."""

__version__ = "0.1.0"
