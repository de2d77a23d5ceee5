"""Builders of bad model files, meta files, galleries and exports for the bad-input suite: each
copies a real tiny run or export (built once per module, see `Built`) into the sandbox and breaks
one thing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

RUN_FILES = ("meta.json", "model.keras", "recipe.yaml")


class Built:
    """The module's real artefacts, made on first use: a tiny classification run and its ONNX
    export, a tiny metric run with a one-image gallery, a .keras file with a Lambda layer."""

    def __init__(self, factory):
        self.factory = factory
        self._cache: dict = {}

    def _once(self, key, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    @property
    def run(self) -> Path:
        from tests.export.heads import trained_run

        return self._once("run", lambda: trained_run("classification", self.factory))

    @property
    def export(self) -> Path:
        def make():
            from visiontk.export import export_run

            out = self.factory.mktemp("bad_models_export") / "classify"
            export_run(self.run, formats=["onnx"], out=out, echo=lambda *_: None)
            return out

        return self._once("export", make)

    @property
    def metric_run(self) -> Path:
        from tests.export.heads import trained_run

        return self._once("metric", lambda: trained_run("metric", self.factory))

    @property
    def gallery(self) -> Path:
        def make():
            from visiontk.infer.gallery import enroll

            folder = self.factory.mktemp("bad_models_gallery")
            enroll(self.metric_run, folder / "people.npz", "ann", [image(folder / "ann.png")])
            return folder / "people.npz"

        return self._once("gallery", make)

    @property
    def lambda_keras(self) -> Path:
        def make():
            import keras

            path = self.factory.mktemp("bad_models_lambda") / "model.keras"
            inp = keras.Input((32, 32, 3))
            keras.Model(inp, keras.layers.Lambda(lambda x: x * 2.0)(inp)).save(path)
            return path

        return self._once("lambda", make)


def image(path: Path, size=(40, 50)) -> Path:
    """A small grey PNG."""
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.full((*size, 3), 90, np.uint8)
    img[5:20, 10:30] = (200, 60, 30)
    cv2.imwrite(str(path), img)
    return path


def copy_run(src: Path, box: Path, name: str = "run") -> Path:
    """The files `predict` and `export` read of a run (meta.json, model.keras, recipe.yaml)."""
    dest = box / name
    dest.mkdir()
    for f in RUN_FILES:
        shutil.copy2(src / f, dest / f)
    return dest


def copy_tree(src: Path, box: Path, name: str) -> Path:
    shutil.copytree(src, box / name)
    return box / name


def truncate(path: Path, fraction: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


def edit_json(path: Path, change) -> None:
    """Rewrite a JSON file with change(data) applied (in place; a returned value replaces it)."""
    data = json.loads(path.read_text())
    out = change(data)
    path.write_text(json.dumps(data if out is None else out))


def gallery_npz(path: Path, *, names=("ann",), width: int = 16, probe_width: int | None = None,
                **replace) -> Path:
    """A gallery npz of the given widths; `replace` swaps whole entries (or drops one: None)."""
    entries = {"names": np.array(list(names)), "embeddings": np.ones((len(names), width), np.float32),
               "fingerprint": np.array("abc"), "probe": np.zeros((4, probe_width or width), np.float32),
               "distance": np.array("euclidean")}
    entries.update(replace)
    np.savez(path, **{k: v for k, v in entries.items() if v is not None})
    return path
