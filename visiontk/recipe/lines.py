"""YAML parsing that remembers where each key is, and errors formatted against it."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import yaml

from visiontk.errors import RecipeError
from visiontk.registry import did_you_mean


class Where:
    """Maps dotted paths of a recipe to `(file line N)` or `(override 'k=v')`."""

    def __init__(self, path: str | None, lines: dict[tuple, int]):
        self.path = path
        self.lines = lines
        self.overrides: dict[tuple, str] = {}

    def of(self, loc: tuple) -> str:
        loc = tuple(str(p) for p in loc)
        for n in range(len(loc), -1, -1):        # the field itself, else its nearest parent
            key = loc[:n]
            if key in self.overrides:
                return f"(override '{self.overrides[key]}')"
            if key in self.lines:
                return f"({self.path} line {self.lines[key]})"
        return f"({self.path})" if self.path else ""

    def error(self, loc: tuple, message: str) -> RecipeError:
        field = ".".join(str(p) for p in loc) or "recipe"
        return RecipeError(f"{field}: {message} {self.of(loc)}".rstrip())


def parse_yaml(text: str, path: str) -> tuple[Any, dict[tuple, int]]:
    """`yaml.safe_load` plus a {path tuple: line} map; duplicate keys are refused."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RecipeError(f"YAML syntax error: {problem} ({path}{line}); check indentation "
                          f"and that every 'key: value' pair has a space after the colon") from None
    lines: dict[tuple, int] = {}

    def walk(n, prefix):
        if isinstance(n, yaml.MappingNode):
            seen = set()
            for k, v in n.value:
                key = str(k.value)
                if key in seen:
                    raise RecipeError(f"{'.'.join(prefix + (key,))}: duplicate key "
                                      f"({path} line {k.start_mark.line + 1}); keep one")
                seen.add(key)
                lines[prefix + (key,)] = k.start_mark.line + 1
                walk(v, prefix + (key,))
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                lines[prefix + (str(i),)] = v.start_mark.line + 1
                walk(v, prefix + (str(i),))

    if node is not None:
        walk(node, ())
    return data, lines


def parse_override(text: str) -> tuple[tuple[str, ...], Any]:
    """'train.optimizer.learning_rate=0.1' -> (('train','optimizer','learning_rate'), 0.1).

    Values are Python literals (`ast.literal_eval`, never `eval`); anything else stays a string.
    As in YAML, `true`/`false`/`yes`/`no` are booleans and `null` (or Python's `None`) is None, while
    `none` stays the string that recipes use as a value (`weights: none`, `flip: none`).
    """
    if "=" not in text:
        raise RecipeError(f"override '{text}' is not of the form key.sub=value "
                          f"(e.g. train.epochs=3)")
    key, _, raw = text.partition("=")
    key = key.strip()
    if not key or any(not p for p in key.split(".")):
        raise RecipeError(f"override '{text}': empty key part; write it as key.sub=value")
    raw = raw.strip()
    lowered = {"true": True, "false": False, "null": None, "~": None, "yes": True, "no": False}
    if raw.lower() in lowered:
        value = lowered[raw.lower()]
    elif raw == "none":
        value = raw
    else:
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
    return tuple(key.split(".")), value


def apply_override(data: dict, keys: tuple[str, ...], value: Any, text: str) -> None:
    node = data
    for i, k in enumerate(keys[:-1]):
        nxt = node.get(k)
        if nxt is None:
            nxt = node[k] = {}
        if not isinstance(nxt, dict):
            raise RecipeError(f"override '{text}': '{'.'.join(keys[:i + 1])}' is not a section "
                              f"(it holds {nxt!r})")
        node = nxt
    node[keys[-1]] = value


def read_recipe_text(path: str | Path) -> str:
    p = Path(path)
    if not p.exists():
        near = ""
        if p.parent.is_dir():
            near = did_you_mean(p.name, [c.name for c in p.parent.iterdir()])
        raise RecipeError(f"recipe file not found: {path}{near}")
    if p.is_dir():
        raise RecipeError(f"recipe path is a directory, not a YAML file: {path}")
    try:
        return p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"cannot read recipe {path}: {exc}") from None
