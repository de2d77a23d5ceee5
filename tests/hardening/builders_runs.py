"""Builders of run folders for the run, rerun and --force tests: a tiny recipe file, a run folder as
visiontk lays it out (without training: for the checks that never open the model), and the one real
tiny run a module trains once."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import write_recipe

META = {"format_version": 1, "task": "classification", "name": "tiny",
        "input": {"name": "image", "shape": [32, 32, 3], "dtype": "float32", "color": "RGB",
                  "scale": 1 / 255, "mean": [0.0], "std": [1.0], "resize": "stretch",
                  "model_preprocessing": None},
        "class_names": ["circle", "square", "triangle"], "decode": {"top_k": 3},
        "visiontk_version": "0.1.0"}


def tiny_recipe_file(folder: Path, output: Path | str | None = None, name: str = "tiny.yaml",
                     extra: dict | None = None) -> Path:
    """conftest.TINY (+ extra) written to folder/name; its output is `output` when given."""
    folder.mkdir(parents=True, exist_ok=True)
    return write_recipe(folder / name, extra, output=Path(output) if output is not None else None)


def laid_out_run(folder: Path, *, finished: bool = True, recipe: str = "task: classification\n",
                 meta=None) -> Path:
    """A folder as training leaves it (meta.json, recipe.yaml; model.keras and metrics.json when
    `finished`), without a usable model. `meta` replaces meta.json's content (bytes or an object)."""
    folder.mkdir(parents=True)
    content = META if meta is None else meta
    data = content if isinstance(content, bytes) else json.dumps(content).encode()
    (folder / "meta.json").write_bytes(data)
    (folder / "recipe.yaml").write_text(recipe)
    if finished:
        (folder / "model.keras").write_bytes(b"PK\x05\x06" + bytes(18))    # an empty zip
        (folder / "metrics.json").write_text(json.dumps({"val": {"accuracy": 0.5}}))
    return folder


def user_folder(folder: Path) -> Path:
    """A folder of the user's that visiontk must never write into or replace."""
    folder.mkdir(parents=True)
    (folder / "holiday.jpg").write_bytes(b"\xff\xd8 not really a photo")
    (folder / "notes.txt").write_text("keep me\n")
    return folder


def copy_run(run: Path, to: Path) -> Path:
    shutil.copytree(run, to)
    return to


def train_tiny(folder: Path, **extra) -> Path:
    """Train conftest.TINY into folder/run in this process (a few seconds); returns the run."""
    from visiontk import train
    from visiontk.recipe import load_recipe

    recipe = tiny_recipe_file(folder, folder / "run", extra=extra or None)
    return train(load_recipe(recipe), echo=lambda s: None).run_dir
