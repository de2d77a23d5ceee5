"""Command line: `visiontk <command>`. One module per command group, each thin over the API."""

from __future__ import annotations

import importlib
import pkgutil

from visiontk.cli.app import cli, main

_loaded = False


def load_commands() -> None:
    """Import every command module of this package (each attaches its commands to `cli`)."""
    global _loaded
    if _loaded:
        return
    for info in pkgutil.iter_modules(__path__):
        if info.name not in ("app",) and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    _loaded = True


__all__ = ["cli", "main", "load_commands"]
