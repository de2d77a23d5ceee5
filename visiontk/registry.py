"""Name -> object tables with did-you-mean errors.

Registration happens at import time of TensorFlow-free modules, so listing names (and validating a
recipe) never imports TensorFlow.

Example:
    >>> from visiontk.registry import Registry
    >>> FRUITS = Registry("fruit")
    >>> @FRUITS.register("apple", aliases=("pomme",))
    ... def apple():
    ...     return "apple"
    >>> FRUITS.get("pomme")()
    'apple'
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from visiontk.errors import VisionTKError


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when nothing is close."""
    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


@dataclass
class Entry:
    name: str
    obj: Any
    variant: dict = field(default_factory=dict)
    aliases: tuple = ()
    meta: dict = field(default_factory=dict)


class Registry:
    """A table of named builders, tasks, sources, optimisers or schedules."""

    def __init__(self, kind: str, error: type[VisionTKError] = VisionTKError):
        self.kind = kind
        self.error = error
        self._entries: dict[str, Entry] = {}
        self._aliases: dict[str, str] = {}

    def register(self, name: str, *, variant: dict | None = None, aliases: Iterable[str] = (),
                 **meta) -> Callable:
        """Decorator: register `obj` under `name` (and aliases); `variant` holds fixed kwargs."""

        def deco(obj):
            self.add(name, obj, variant=variant, aliases=aliases, **meta)
            return obj

        return deco

    def add(self, name, obj, *, variant=None, aliases=(), **meta) -> None:
        key = name.lower()
        if key in self._entries or key in self._aliases:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._entries[key] = Entry(key, obj, dict(variant or {}), tuple(aliases), meta)
        for alias in aliases:
            self._aliases[alias.lower()] = key

    def entry(self, name: str) -> Entry:
        key = str(name).lower()
        key = self._aliases.get(key, key)
        if key not in self._entries:
            close = difflib.get_close_matches(key, list(self._entries) + list(self._aliases), n=1,
                                              cutoff=0.5)
            hint = f" (did you mean '{self._aliases.get(close[0], close[0])}'?)" if close else ""
            raise self.error(f"unknown {self.kind} '{name}'{hint}; known: {', '.join(self.names())}")
        return self._entries[key]

    def get(self, name: str) -> Any:
        """The registered object; with a variant, a callable with the variant's kwargs bound."""
        e = self.entry(name)
        if not e.variant:
            return e.obj
        import functools

        return functools.partial(e.obj, **e.variant)

    def __contains__(self, name) -> bool:
        key = str(name).lower()
        return key in self._entries or key in self._aliases

    def names(self) -> list[str]:
        """Canonical names in registration order."""
        return list(self._entries)

