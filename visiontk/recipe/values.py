"""Checks on every value of a raw recipe, free dicts included (`backbone.params`, `data.params`),
before pydantic sees it: finite numbers, integers that fit, bounded nesting."""

from __future__ import annotations

import math
import numbers
from typing import Any

from visiontk.recipe.bounded import MAX_DEPTH
from visiontk.recipe.lines import Where

_INT_LIMIT = 2 ** 63


def check_values(value: Any, where: Where, path: tuple = ()) -> None:
    """Raise a RecipeError naming the first non-finite float, oversized integer or too-deep value.

    Args:
        value: a raw recipe (dicts, lists, scalars), or a part of one at `path`.
        where: maps the path to its file line or override, for the message.
        path: the field path of `value`.
    """
    _walk(value, where, path, len(path))


def _walk(value: Any, where: Where, path: tuple, depth: int) -> None:
    if isinstance(value, dict):
        children = value.items()
    elif isinstance(value, (list, tuple)):
        children = enumerate(value)
    else:
        _check_scalar(value, where, path)
        return
    if depth >= MAX_DEPTH:
        raise where.error(path, f"nested more than {MAX_DEPTH} levels deep; a recipe is a few levels "
                                f"of mappings and lists")
    for key, child in children:
        _walk(child, where, path + (key,), depth + 1)


def _check_scalar(value: Any, where: Where, path: tuple) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return
    if isinstance(value, numbers.Integral):
        if abs(int(value)) >= _INT_LIMIT:
            raise where.error(path, f"an integer of {len(str(abs(int(value))))} digits is too large; "
                                    f"numbers in a recipe are below 2**63")
    elif not math.isfinite(float(value)):
        raise where.error(path, f"must be a finite number, got {float(value)}; NaN and infinity "
                                f"are not allowed")
