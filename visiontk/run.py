"""A run directory (DESIGN.md, "What a run leaves behind"), the meta.json every backend reads, and
where a new training goes when its folder is taken (issue 17: running a command twice).

A visiontk run is recognised by its meta.json: a JSON object with the keys `make_meta` writes
(`format_version`, `task`, `visiontk_version`; runs of every earlier version have them). Training
writes it first, before recipe.yaml, so a folder is marked as a run from its first file on; only such
a folder is ever resumed into or replaced (`--force`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from visiontk.errors import RunError
from visiontk.io import read_json, write_json, write_text
from visiontk.owned import check_replaceable, remove_replaceable

META_VERSION = 1
MARKER_KEYS = ("format_version", "task", "visiontk_version")   # what make_meta always writes
WHAT = "a visiontk run"


def is_run(path: str | Path) -> bool:
    """True when `path` is a folder visiontk trained into (its meta.json carries MARKER_KEYS)."""
    meta = Path(path) / "meta.json"
    if not meta.is_file():
        return False
    try:
        data = json.loads(meta.read_bytes().decode("utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and all(k in data for k in MARKER_KEYS)


class RunDir:
    """runs/<name>/: meta.json (written first: marks the folder as a run), recipe.yaml, model.keras,
    checkpoints/, backup/, history.csv, curves.png, metrics.json (written last: its presence marks a
    finished run), tensorboard/."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    @property
    def finished(self) -> bool:
        return ((self.path / "metrics.json").is_file() and (self.path / "model.keras").is_file()
                and is_run(self.path))

    @property
    def started(self) -> bool:
        return (self.path / "recipe.yaml").is_file() and is_run(self.path)

    def state(self, wanted) -> str:
        """free (absent, empty, or a run with no progress yet), finished, resume (unfinished, same
        recipe), other (unfinished, another recipe) or foreign (not a visiontk run)."""
        p = self.path
        if not p.exists():
            return "free"
        if p.is_dir() and not any(p.iterdir()):
            return "free"
        if not p.is_dir() or not is_run(p):
            return "foreign"
        if self.finished:
            return "finished"
        if not self.started:
            return "free"                     # meta.json only: stopped before its recipe was written
        try:
            saved = (p / "recipe.yaml").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return "other"
        return "resume" if wanted is not None and comparable(saved) == wanted else "other"

    def reset(self) -> None:
        """Remove the run (only a visiontk run, never a folder visiontk did not write)."""
        if self.path.exists():
            remove_replaceable(self.path, what=WHAT, is_ours=is_run, error=RunError)

    def write_recipe(self, recipe_yaml: str) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_text(self.path / "recipe.yaml", recipe_yaml)

    def write_meta(self, meta: dict) -> None:
        write_json(self.path / "meta.json", meta)

    def meta(self) -> dict:
        """The checked meta.json: a RunError naming the file (and the field) when it is missing,
        damaged, not a JSON object or lacks what preprocessing and decoding read."""
        p = self.path / "meta.json"
        if not p.is_file():
            raise RunError(f"{self.path} is not a visiontk run (no meta.json)")
        fix = "restore it from a copy, or train the recipe again into a new folder"
        try:
            meta = read_json(p, fix)
        except ValueError as exc:
            raise RunError(str(exc)) from None
        from visiontk.runtime.errors import InputError
        from visiontk.runtime.meta import check_meta

        try:
            return check_meta(meta, p)
        except InputError as exc:
            raise RunError(str(exc)) from None

    def require(self) -> "RunDir":
        """This run when it is a finished visiontk run with a sound meta.json, else a RunError."""
        if not self.path.is_dir():
            raise RunError(f"run directory not found: {self.path}")
        if not (self.path / "meta.json").is_file():
            raise RunError(f"{self.path} is not a visiontk run directory (no meta.json)")
        self.meta()
        if not (self.path / "model.keras").is_file():
            recipe = self.path / "recipe.yaml"
            how = (f"rerun `visiontk train {recipe}` to resume it" if recipe.is_file()
                   else "train it again")
            raise RunError(f"{self.path} has no model.keras: the run did not finish; {how}")
        return self


@dataclass
class Placement:
    """Where a training goes: `run`, `mode` ("new", "resume" or "restart") and `note`, one line
    saying why it is not the recipe's own output folder (None when it is)."""

    run: RunDir
    mode: str
    note: str | None = None


def place_run(output, recipe_yaml: str, *, force: bool = False) -> Placement:
    """The folder a training of `recipe_yaml` goes to, from the recipe's `output`.

    A finished run is never overwritten: the training goes to the next free numbered folder
    (runs/detect-2, -3, ...). An unfinished run of the same recipe (epochs and output aside) is
    resumed, in the output folder or a numbered one. `force` retrains in `output` itself, replacing it
    only when it is a visiontk run. A folder that is not a run is never written into.

    Example:
        >>> place_run("runs/detect", recipe_yaml).run.path  # doctest: +SKIP
        PosixPath('runs/detect-2')
    """
    text = str(output) if output is not None else ""
    if not text.strip():
        raise RunError("output: the run folder is empty; set output: (or the override output=...) "
                       "to a folder such as runs/NAME")
    base = Path(text)
    if force:
        check_replaceable(base, what=WHAT, is_ours=is_run, error=RunError,
                          hint="set output: (or the override output=...) to a folder such as "
                               "runs/NAME")
        exists = base.exists() and any(base.iterdir())
        return Placement(RunDir(base), "restart" if exists else "new")
    wanted = comparable(recipe_yaml)
    first_state = None
    for i in range(1, 100_000):
        folder = base if i == 1 else numbered(base, i)
        run = RunDir(folder)
        state = run.state(wanted)
        if i == 1:
            first_state = state
            if state == "foreign":
                raise RunError(f"{base} exists and is not a visiontk run; visiontk writes only into a "
                               f"new folder or one of its own runs: set output: (or the override "
                               f"output=...) to another folder")
        if state in ("free", "resume"):
            mode = "resume" if state == "resume" else "new"
            note = None if i == 1 else _note(base, first_state, folder, mode)
            return Placement(run, mode, note)
    raise RunError(f"no free folder after {base}-99999; clean up old runs")   # pragma: no cover


def numbered(base: Path, i: int) -> Path:
    """runs/detect -> runs/detect-2 (the working directory '.' as its absolute name)."""
    if base.name in ("", ".", ".."):
        base = Path(os.path.abspath(base))
    return base.with_name(f"{base.name}-{i}")


def _note(base: Path, state: str, folder: Path, mode: str) -> str:
    held = "a finished run" if state == "finished" else "an unfinished run of another recipe"
    doing = f"resuming the unfinished run in {folder}" if mode == "resume" else \
        f"training a new run in {folder}"
    return f"visiontk: {base} holds {held} (kept); {doing} (--force retrains in {base})"


def comparable(recipe_yaml: str):
    """A recipe as compared for resuming: without train.epochs (more epochs continue a run) and
    output (a numbered folder records its own); None when the text is not a recipe mapping."""
    import yaml

    try:
        data = yaml.safe_load(recipe_yaml)
    except yaml.YAMLError:
        return None
    if not isinstance(data, dict):
        return None
    data.pop("output", None)
    if isinstance(data.get("train"), dict):
        data["train"].pop("epochs", None)
    return yaml.safe_dump(data, sort_keys=True)


def make_meta(recipe, task, class_names) -> dict:
    """What decoding and preprocessing need, without the recipe (shared with exports)."""
    from visiontk.version import __version__
    from visiontk.architectures.applications import preprocessing_meta

    return {
        "format_version": META_VERSION,
        "task": task.name,
        "name": recipe.name,
        "input": {"name": "image", "shape": list(recipe.model.input_shape), "dtype": "float32",
                  "color": "RGB" if recipe.model.input_shape[2] == 3 else "GRAY",
                  "scale": 1.0 / 255.0, "mean": [0.0], "std": [1.0], "resize": recipe.data.resize,
                  # what the model itself does to that [0, 1] input (keras.applications backbones)
                  "model_preprocessing": preprocessing_meta(recipe.model.backbone.name)},
        "class_names": list(class_names),
        "decode": task.meta(),
        "visiontk_version": __version__,
    }
