"""Builders of (bad) recipes for the hardening tests: TINY as YAML with changes, raw text or bytes,
and YAML alias bombs."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import TINY, deep_update

LETTERS = "abcdefghijklmnopqrstuvwxyz"


def alias_bomb(levels: int, indent: str = "") -> str:
    """The issue's bomb: level 0 is a list of 9 strings, each next level a list of 9 aliases of the
    one before; `levels` levels expand to 9**levels strings (7: 4.8 million) from ~300 bytes."""
    lines = [f'{indent}a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, levels):
        lines.append(f"{indent}{LETTERS[i]}: &{LETTERS[i]} [" + ",".join([f"*{LETTERS[i - 1]}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def merge_bomb(levels: int) -> str:
    """The same with YAML merge keys, which PyYAML expands while constructing (not only on a walk)."""
    lines = ["a: &a {" + ", ".join(f"k{i}: 1" for i in range(9)) + "}"]
    for i in range(1, levels):
        lines.append(f"{LETTERS[i]}: &{LETTERS[i]} {{<<: [" + ",".join([f"*{LETTERS[i - 1]}"] * 9) + "]}")
    return "\n".join(lines) + "\n"


def tiny_yaml(extra: dict | None = None, drop: tuple = ()) -> str:
    """TINY (+extra, minus top-level keys in `drop`) as YAML; float('nan') is written as .nan."""
    data = deep_update(TINY, extra or {})
    for key in drop:
        data.pop(key, None)
    return yaml.safe_dump(data, sort_keys=False)


def recipe(extra: dict | None = None, *, text: str | None = None, data: bytes | None = None,
           append: str = "", name: str = "r.yaml"):
    """A `make` for BadInput: writes the recipe into the sandbox and returns {"recipe": path}."""

    def make(box: Path) -> dict:
        path = box / name
        if data is not None:
            path.write_bytes(data)
        else:
            path.write_text((tiny_yaml(extra) if text is None else text) + append, encoding="utf-8")
        return {"recipe": path}

    return make


def nested_bomb(levels: int) -> str:
    """A recipe that is valid but for an alias bomb in `model.backbone.params` (a free mapping that
    only the architecture's signature checks)."""
    return ("task: classification\nmodel:\n  backbone:\n    name: lenet5\n    params:\n"
            + alias_bomb(levels, indent="      ") + "  input_shape: [32, 32, 3]\n")
