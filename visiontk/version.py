"""The package version (kept equal to pyproject.toml's; a module of its own so that anything may
import it without importing the public API of visiontk/__init__)."""

__version__ = "0.1.0"
