"""Griffe extension: `visiontk.train`, `visiontk.evaluate` and `visiontk.export` are the API functions.

visiontk/__init__.py defines the functions train, evaluate and export, whose names are also those of
the subpackages visiontk/train/, visiontk/evaluate.py and visiontk/export/. At run time the package
keeps the functions (its `_Package.__setattr__`); Griffe, reading the files, lets a submodule replace a
member of the same name. This extension does what Python does: the functions come back, and the
submodule's members stay reachable under the same paths (`visiontk.train.session.TrainResult`), so
the reference can show both the function and what it returns.
"""

from __future__ import annotations

import griffe

PACKAGE = "visiontk"


class PublicAPI(griffe.Extension):
    """Restore the package-level functions that share their names with submodules."""

    def __init__(self) -> None:
        self._functions: dict[str, griffe.Function] = {}

    def on_module_members(self, *, mod: griffe.Module, **kwargs) -> None:
        # Runs when visiontk/__init__.py has been read, before its submodules are loaded.
        if mod.path == PACKAGE:
            self._functions = {name: member for name, member in mod.members.items()
                               if not member.is_alias and member.is_function}

    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        if pkg.path != PACKAGE:
            return
        for name, function in self._functions.items():
            submodule = pkg.members.get(name)
            if submodule is None or not submodule.is_module:
                continue
            # The function's members are never rendered; they keep the module's paths resolvable.
            function.members.update(submodule.members)
            pkg.members[name] = function
