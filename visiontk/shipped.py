"""What ships inside the package besides the code: the recipes and the TensorFlow-free runner.

Each has one source, in the repository: `recipes/*.yaml` and `export/onnx_predict.py` (the repository
layout is part of the product). A wheel carries them inside the package, as `visiontk/_recipes/` and
`visiontk/_runner/` (setup.py maps the two folders there); a checkout, and the editable install of one,
finds them at their own place beside `visiontk/`. TensorFlow-free.

A recipe's first comment line is its one-line description, and a `# time here: ...` line says how long
it trained on the 2-core CPU of the development machine (`visiontk recipes list` shows both).

Example:
    >>> [r.name for r in recipes()][:3]  # doctest: +SKIP
    ['autoencoder_mlp', 'center_loss', 'classify']
    >>> resolve_recipe("detect")  # doctest: +SKIP
    ('/.../visiontk/_recipes/detect.yaml', "visiontk: recipe 'detect': the shipped recipe ...")
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from visiontk.errors import ExportError, RecipeError, VisionTKError

PACKAGE = Path(__file__).resolve().parent
RECIPE_SUFFIXES = (".yaml", ".yml")
TIME_LINE = re.compile(r"#\s*time here:\s*(.+?)\s*$", re.IGNORECASE)


def _shipped(inside: str, repository: str, error: type[VisionTKError]) -> Path:
    """The folder `inside` the installed package, else the checkout's `repository` folder."""
    checkout = PACKAGE.parent
    for folder in (PACKAGE / inside, checkout / repository):
        if folder.is_dir() and (folder.parent == PACKAGE or (checkout / "pyproject.toml").is_file()):
            return folder
    raise error(f"this visiontk install has no {repository}/ folder ({PACKAGE / inside} is "
                f"missing); reinstall visiontk (pip install --force-reinstall visiontk)")


def recipes_dir() -> Path:
    """The folder of the shipped recipes."""
    return _shipped("_recipes", "recipes", RecipeError)


def runner_path() -> Path:
    """The TensorFlow-free runner, onnx_predict.py, that `visiontk export` copies into each export."""
    path = _shipped("_runner", "export", ExportError) / "onnx_predict.py"
    if not path.is_file():
        raise ExportError(f"{path} is missing; reinstall visiontk (pip install --force-reinstall "
                          f"visiontk)")
    return path


@dataclass(frozen=True)
class ShippedRecipe:
    """A recipe of recipes/: its name (the file's stem), file, task, data source, one-line
    description (its first comment line) and training time here (its `# time here:` line)."""

    name: str
    path: Path
    task: str
    data: str
    description: str
    time: str

    @classmethod
    def read(cls, path: Path) -> "ShippedRecipe":
        import yaml

        text = path.read_text(encoding="utf-8")
        comments = [line.strip() for line in text.splitlines() if line.lstrip().startswith("#")]
        description = comments[0].lstrip("#").strip() if comments else ""
        time = next((m.group(1) for m in map(TIME_LINE.match, comments) if m), "?")
        raw = yaml.safe_load(text) or {}
        data = raw.get("data") or {}
        return cls(path.stem, path, str(raw.get("task", "?")), str(data.get("source", "?")),
                   description, time)


def recipe_names() -> list[str]:
    """The names of the shipped recipes, sorted."""
    return sorted(p.stem for p in recipes_dir().iterdir() if p.suffix in RECIPE_SUFFIXES)


def recipes() -> list[ShippedRecipe]:
    """Every shipped recipe, by name."""
    return [find_recipe(name) for name in recipe_names()]


def find_recipe(name: str) -> ShippedRecipe:
    """The shipped recipe NAME (a `.yaml` suffix is allowed); a RecipeError names the closest ones."""
    stem = _strip_suffix(name)
    folder = recipes_dir()
    for suffix in RECIPE_SUFFIXES:
        if (folder / f"{stem}{suffix}").is_file():
            return ShippedRecipe.read(folder / f"{stem}{suffix}")
    raise RecipeError(f"visiontk ships no recipe named '{name}'{_closest(stem, recipe_names())}")


def resolve_recipe(arg: str) -> tuple[str, str | None]:
    """The recipe file a command line means by `arg`, and a line saying which file that is (None when
    it is `arg` itself).

    A path that exists always wins. A bare name (no folder; `detect` or `detect.yaml`) that is no file
    here means ./NAME.yaml when that exists (a copy made by `visiontk recipes copy`), else the shipped
    recipe NAME; an unknown bare name is a RecipeError naming the closest recipes. Any other path is
    returned as given (the loader says it is not found), except that the error names the shipped
    recipe when one has the same name (`recipes/detect.yaml` outside a checkout).

    Example:
        >>> resolve_recipe("recipes/detect.yaml")  # doctest: +SKIP
        ('recipes/detect.yaml', None)
    """
    path = Path(arg)
    if not arg.strip() or _exists(path):
        return arg, None
    stem = _strip_suffix(path.name)
    if not _is_bare(arg):
        if stem in recipe_names():
            raise RecipeError(f"recipe file not found: {arg}; visiontk ships a recipe of that name: "
                              f"give its bare name, {stem}, instead of the path (`visiontk recipes "
                              f"copy {stem}` writes a copy to edit)")
        return arg, None
    if stem == arg:                                      # no suffix given: a local copy first
        for suffix in RECIPE_SUFFIXES:
            local = Path(f"{stem}{suffix}")
            if local.is_file():
                return str(local), f"visiontk: recipe '{arg}': using ./{local} (a file here)"
    try:
        shipped = find_recipe(stem)
    except RecipeError:
        here = [p.name for p in Path(".").glob("*.y*ml") if p.suffix in RECIPE_SUFFIXES]
        raise RecipeError(f"recipe file not found: {arg}, and visiontk ships no recipe of that "
                          f"name{_closest(stem, recipe_names() + here)}") from None
    return str(shipped.path), f"visiontk: recipe '{arg}': the shipped recipe {shipped.path}"


def _closest(name: str, choices: list[str]) -> str:
    """' (closest: a, b, c); ...' from difflib, or a pointer to the list when nothing is close."""
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    listing = "`visiontk recipes list` shows the shipped recipes"
    return f" (closest: {', '.join(close)}); {listing}" if close else f"; {listing}"


def _strip_suffix(name: str) -> str:
    return name[: -len(Path(name).suffix)] if Path(name).suffix in RECIPE_SUFFIXES else name


def _is_bare(arg: str) -> bool:
    """A name with no folder part (`detect`, `detect.yaml`, not `./detect` or `recipes/detect`)."""
    seps = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return not any(s in arg for s in seps) and arg not in (".", "..")


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:                     # e.g. a name too long: the loader says so, with the path
        return True
