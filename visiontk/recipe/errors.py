"""Pydantic validation errors -> one line a person can act on."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from visiontk.errors import RecipeError
from visiontk.recipe.lines import Where
from visiontk.registry import did_you_mean

_TYPE_WORDS = {
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "a whole number",
    "float_type": "a number", "float_parsing": "a number", "bool_type": "true or false",
    "bool_parsing": "true or false", "string_type": "a string", "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)", "model_attributes_type": "a mapping (key: value)",
    "list_type": "a list", "tuple_type": "a list", "sequence_str": "a list",
}


def _model_at(root: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The pydantic model class that owns the key at `loc[-1]`."""
    import typing

    cls = root
    for part in loc[:-1]:
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
            return None
        field = cls.model_fields.get(str(part))
        if field is None:
            return None
        ann = field.annotation
        for arg in (ann, *typing.get_args(ann)):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                cls = arg
                break
        else:
            return None
    return cls if isinstance(cls, type) and issubclass(cls, BaseModel) else None


def _shown(value: Any) -> str:
    s = repr(value)
    return s if len(s) <= 60 else s[:57] + "..."


def describe(err: dict, root: type[BaseModel], loc: tuple) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        owner = _model_at(root, loc)
        valid = list(owner.model_fields) if owner else []
        hint = did_you_mean(str(loc[-1]), valid)
        known = f"; valid keys here: {', '.join(valid)}" if valid else ""
        return f"unknown key{hint}{known}"
    if kind == "missing":
        return "is required"
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    if kind == "finite_number":
        return f"must be a finite number, got {_shown(err.get('input'))}; NaN and infinity are not allowed"
    if kind == "literal_error":
        return f"must be one of {err['ctx']['expected']}, got {_shown(err.get('input'))}"
    if kind in _TYPE_WORDS:
        return f"must be {_TYPE_WORDS[kind]}, got {_shown(err.get('input'))}"
    if kind in ("too_short", "too_long"):
        return f"{err['msg'].lower()}, got {_shown(err.get('input'))}"
    return f"{err['msg']}, got {_shown(err.get('input'))}"


def raise_validation(exc: ValidationError, root: type[BaseModel], where: Where,
                     prefix: tuple = ()) -> None:
    errors = exc.errors()
    # pydantic adds tags like 'function-after[...]' to locs of annotated types; drop them
    first = errors[0]
    loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and "[" in p))
    message = describe(first, root, loc)
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" \
        if len(errors) > 1 else ""
    err = where.error(prefix + loc, message)
    raise RecipeError(str(err) + more) from None
