"""One tiny, fast recipe per task head (a module per task: RECIPE = overrides of conftest.TINY).

Tests that must cover every head (export, demo, predict) parametrize over `all_recipes()`; a new head
adds its module here and is covered automatically.
"""

from __future__ import annotations

import importlib
import pkgutil


def all_recipes() -> dict[str, dict]:
    """{task module name: full recipe dict (TINY updated with the module's RECIPE)}."""
    from tests.conftest import TINY, deep_update

    out = {}
    for info in pkgutil.iter_modules(__path__):
        mod = importlib.import_module(f"{__name__}.{info.name}")
        out[info.name] = deep_update(TINY, mod.RECIPE)
    return dict(sorted(out.items()))
