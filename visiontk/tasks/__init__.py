"""Task heads, one package each (visiontk/tasks/<name>/); each registers its Task class in TASKS."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil


def task_modules(module: str) -> list:
    """Every task package's submodule `module` (e.g. "loss", "layers") where it has one, imported.
    The modules that hold Keras objects import Keras: call this lazily."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.ispkg and not info.name.startswith("_"):
            name = f"{__name__}.{info.name}.{module}"
            if importlib.util.find_spec(name) is not None:
                found.append(importlib.import_module(name))
    return found
