"""The project's registries. `populate()` imports the (TensorFlow-free) modules that fill them."""

from __future__ import annotations

import importlib
import pkgutil

from visiontk.errors import ExportError, ModelError, RecipeError, SourceError
from visiontk.registry import Registry

ARCHITECTURES = Registry("architecture", ModelError)
TASKS = Registry("task", RecipeError)
SOURCES = Registry("data source", SourceError)
OPTIMIZERS = Registry("optimizer", RecipeError)
SCHEDULES = Registry("schedule", RecipeError)
EXPORT_FORMATS = Registry("export format", ExportError)     # visiontk/export/formats/

_PACKAGES = ("visiontk.architectures", "visiontk.tasks", "visiontk.data.sources", "visiontk.train.optim",
             "visiontk.export.formats")
_done = False


def populate() -> None:
    """Import every module that registers something (each submodule of the packages above)."""
    global _done
    if _done:
        return
    for pkg_name in _PACKAGES:
        pkg = importlib.import_module(pkg_name)
        for info in pkgutil.iter_modules(getattr(pkg, "__path__", [])):
            if not info.name.startswith("_"):
                importlib.import_module(f"{pkg_name}.{info.name}")
    _done = True
