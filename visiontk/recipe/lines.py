"""YAML parsing that remembers where each key is, and errors formatted against it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from visiontk.errors import RecipeError
from visiontk.recipe.bounded import MAX_BYTES, MAX_DEPTH, field_name, load_yaml
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
                return f"(override '{shorten(self.overrides[key])}')"
            if key in self.lines:
                return f"({self.path} line {self.lines[key]})"
        return f"({self.path})" if self.path else ""

    def error(self, loc: tuple, message: str) -> RecipeError:
        return RecipeError(f"{field_name(loc)}: {message} {self.of(loc)}".rstrip())


def parse_yaml(text: str, path: str) -> tuple[Any, dict[tuple, int]]:
    """Bounded `yaml.safe_load` plus a {path tuple: line} map; duplicate keys and tags are refused,
    aliases are measured without being expanded (see visiontk.recipe.bounded)."""
    return load_yaml(text, lambda line: f"({path} line {line})" if line else f"({path})")


def parse_override(text: str) -> tuple[tuple[str, ...], Any]:
    """'train.optimizer.learning_rate=0.1' -> (('train','optimizer','learning_rate'), 0.1).

    The value is YAML, read like a recipe (safe loader, same bounds): `{name: lenet5, weights: none}`,
    `[28, 28, 1]`, `true`, `null` / `~` (None), `'quoted text'`. As in recipes, `none` stays the
    string recipes use as a value (`weights: none`, `flip: none`). Two additions for the command line:
    an unquoted value Python reads as a number is that number (`1e-3`, and `nan` / `inf`, which the
    recipe then refuses), `None` is None, and an empty value (`output=`) is the empty string.
    """
    if "=" not in text:
        raise RecipeError(f"override '{shorten(text)}' is not of the form key.sub=value "
                          f"(e.g. train.epochs=3)")
    key, _, raw = text.partition("=")
    key = key.strip()
    if not key or any(not p.strip() for p in key.split(".")):
        raise RecipeError(f"override '{shorten(text)}': empty key part; write it as key.sub=value")
    keys = tuple(p.strip() for p in key.split("."))
    if len(keys) > MAX_DEPTH:
        raise RecipeError(f"override '{shorten(text)}': the key has {len(keys)} parts; a recipe is "
                          f"at most {MAX_DEPTH} levels deep")
    raw = raw.strip()
    if raw in ("", "None"):
        return keys, None if raw else ""
    value, _ = load_yaml(raw, lambda line: f"(override '{shorten(text)}')", keys)
    if isinstance(value, str) and raw[0] not in "'\"":
        try:
            value = float(value)
        except ValueError:
            pass
    return keys, value


def format_override(key: str, value: Any) -> str:
    """'key=value' that `parse_override` reads back as exactly `value`: text is written as a YAML
    double-quoted string, so a path stays that path (`#`, `: `, `*`, quotes, backslashes)."""
    import json

    if not isinstance(value, str):
        return f"{key}={json.dumps(value)}"
    # every character outside printable ASCII as a \U escape: YAML's reader refuses some raw
    # characters (C1 controls), and JSON's \u surrogate pairs would stay two characters in YAML
    text = "".join("\\" + c if c in '"\\' else c if " " <= c <= "~" else f"\\U{ord(c):08x}"
                   for c in value)
    return f'{key}="{text}"'


def shorten(text: str, limit: int = 100) -> str:
    """An override as shown in a message: line breaks written as \\n and long ones cut, so the error
    stays one readable line."""
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= limit else text[:limit - 3] + "..."


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
    """The recipe's text: an existing UTF-8 file of at most MAX_BYTES (read no further)."""
    p = Path(path)
    try:
        if not p.exists():
            near = ""
            if p.parent.is_dir():
                near = did_you_mean(p.name, [c.name for c in p.parent.iterdir()])
            raise RecipeError(f"recipe file not found: {path}{near}")
        if p.is_dir():
            raise RecipeError(f"recipe path is a directory, not a YAML file: {path}")
        with open(p, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise RecipeError(f"cannot read recipe {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise RecipeError(f"recipe {path} is larger than {MAX_BYTES:,} bytes; a recipe is a small "
                          f"YAML text file: is this the right file?")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise RecipeError(f"recipe {path} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line "
                          f"{line}); a recipe is a YAML text file: save it as UTF-8") from None
