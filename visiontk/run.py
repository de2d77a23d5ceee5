"""A run directory (DESIGN.md, "What a run leaves behind") and the meta.json every backend reads."""

from __future__ import annotations

import shutil
from pathlib import Path

from visiontk.errors import RunError
from visiontk.io import read_json, write_json, write_text

META_VERSION = 1


class RunDir:
    """runs/<name>/: recipe.yaml, meta.json, model.keras, checkpoints/, backup/, history.csv,
    curves.png, metrics.json (written last: its presence marks a finished run), tensorboard/."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    @property
    def finished(self) -> bool:
        return (self.path / "metrics.json").is_file() and (self.path / "model.keras").is_file()

    @property
    def started(self) -> bool:
        return (self.path / "recipe.yaml").is_file()

    def check_new_or_resumable(self, recipe_yaml: str, force: bool) -> str:
        """'new', 'resume' or 'restart'; refuses to overwrite a finished run without force."""
        if force:
            return "restart" if self.path.exists() else "new"
        if self.finished:
            raise RunError(f"{self.path} holds a finished run; pass --force to overwrite it or set "
                           f"output: (or the override output=...) to another folder")
        if self.started:
            saved = (self.path / "recipe.yaml").read_text(encoding="utf-8")
            if _without_epochs(saved) != _without_epochs(recipe_yaml):
                raise RunError(f"{self.path} holds an unfinished run of a different recipe; pass "
                               f"--force to start over there or choose another output folder")
            return "resume"
        if self.path.exists() and any(self.path.iterdir()):
            raise RunError(f"{self.path} exists and is not a visiontk run; choose another output "
                           f"folder or pass --force")
        return "new"

    def reset(self) -> None:
        if self.path.exists():
            shutil.rmtree(self.path)

    def write_recipe(self, recipe_yaml: str) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_text(self.path / "recipe.yaml", recipe_yaml)

    def write_meta(self, meta: dict) -> None:
        write_json(self.path / "meta.json", meta)

    def meta(self) -> dict:
        p = self.path / "meta.json"
        if not p.is_file():
            raise RunError(f"{self.path} is not a visiontk run (no meta.json)")
        return read_json(p)

    def require(self) -> "RunDir":
        if not self.path.is_dir():
            raise RunError(f"run directory not found: {self.path}")
        if not (self.path / "meta.json").is_file():
            raise RunError(f"{self.path} is not a visiontk run directory (no meta.json)")
        if not (self.path / "model.keras").is_file():
            raise RunError(f"{self.path} has no model.keras: the run did not finish; rerun "
                           f"`visiontk train {self.path / 'recipe.yaml'}` to resume it")
        return self


def _without_epochs(text: str) -> str:
    import yaml

    data = yaml.safe_load(text) or {}
    data.get("train", {}).pop("epochs", None)
    return yaml.safe_dump(data, sort_keys=True)


def make_meta(recipe, task, class_names) -> dict:
    """What decoding and preprocessing need, without the recipe (shared with exports)."""
    from visiontk import __version__
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
