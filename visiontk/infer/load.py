"""What `visiontk.load` is given, resolved: the folder whose metadata describes the model, the backend
that runs it, and the model file when one was named.

A path is a run folder (runs/NAME: meta.json, model.keras), an export folder (export/NAME:
metadata.json and the exported formats), or a model file inside one: a `.keras`, `.onnx` or `.tflite`
file, or a `saved_model/` folder. A model file is run by the backend its suffix names (the backends'
own files, visiontk/infer/backends.py, say which) with the metadata of the folder it sits in: the
file alone does not say the input size, preprocessing or class names. A quantised file of an export
(model_int8.onnx, model_fp16.tflite: `visiontk export --quantize`) runs on its format's backend
under the name metadata.json lists it by. Nothing here imports
TensorFlow; the backend chosen loads its own runtime when the model is opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from visiontk.errors import ModelError, RunError

META_FILES = ("metadata.json", "meta.json")        # an export's, a run's
AUTO_ORDER = ("onnx", "keras", "saved_model", "tflite")    # backend="auto" on a folder
KERAS = "keras"                                     # the run's own format (any .keras file name)


@dataclass(frozen=True)
class Target:
    """A resolved path: `folder` holds `meta_file`; `model` is the model file or folder named by the
    user, None when the backend reads its own file in `folder` (model.onnx, model.keras, ...)."""

    folder: Path
    meta_file: Path
    backend: str
    model: Path | None = None


def find_meta(folder: Path) -> Path | None:
    """An export's metadata.json, else a run's meta.json, else None."""
    return next((folder / n for n in META_FILES if (folder / n).is_file()), None)


def resolve(path, backend: str = "auto") -> Target:
    """The folder, metadata and backend of a run folder, an export folder or a model file in one.

    Raises:
        RunError: the path does not exist, or is a folder that is neither a run nor an export.
        ModelError: an unknown model file, a backend that cannot run it, or a model file without
            the metadata it needs beside it.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise RunError(f"{p}: not found (no run or export directory, nor model file, there); "
                       f"visiontk.load takes runs/NAME, export/NAME or a {_kinds()} model in one")
    meta_file = find_meta(p) if p.is_dir() else None
    if meta_file is not None:
        return Target(p, meta_file, _folder_backend(p, meta_file, backend))
    kind, home = _model_kind(p)
    meta_file = find_meta(home)
    if meta_file is None and home.name == "checkpoints" and find_meta(home.parent):
        home, meta_file = home.parent, find_meta(home.parent)        # a copy in runs/NAME/checkpoints
    if meta_file is None:
        raise ModelError(f"{p}: its folder {home} holds no meta.json (a run's) or metadata.json (an "
                         f"export's), which say the input size, preprocessing and class names the "
                         f"model needs; load the model from the run or export folder it was written "
                         f"in, or export the run with `visiontk export RUN_DIR` and load export/NAME "
                         f"or a model file in it")
    if backend not in ("auto", kind):
        raise ModelError(f"backend '{backend}' cannot run {p} (a {_marker(kind).suffix or kind} "
                         f"model runs on backend '{kind}'); pass backend='auto' or '{kind}'")
    needs = [f for f in _files(kind)[1:] if not (home / f).exists()]
    if needs:
        raise ModelError(f"{p} is a {kind} model: it needs the {', '.join(needs)} of its export "
                         f"beside it in {home} (output names and layout; {meta_file.name} is not "
                         f"enough); export the run with `visiontk export RUN_DIR` and load "
                         f"export/NAME/{_files(kind)[0]}")
    marker = _marker(kind)
    own = p in (home / marker, home / marker.parts[0])     # the file the backend reads in `home`
    return Target(home, meta_file, kind, None if own else p)


def open_model(target: Target, meta: dict) -> Callable:
    """The backend's callable batch (N, H, W, C float32) -> outputs for a resolved target."""
    from visiontk.infer.backends import BACKENDS

    if target.model is None:
        return BACKENDS.entry(target.backend).obj(target.folder, meta)
    if target.backend == KERAS:
        return _keras_file(target.model)
    described = described_files(target.backend, meta)
    if target.model.name in described[1:]:
        from visiontk.infer.backends import open_file

        return open_file(target.backend, target.model, meta)
    raise ModelError(f"{target.model}: a {target.backend} model is read from its export folder under "
                     f"a name metadata.json gives it ({', '.join(described)}); rename it back, or "
                     f"load the export folder {target.folder}")


def described_files(backend: str, meta: dict) -> list[str]:
    """The model files of `backend` an export's metadata describes: its own file (model.onnx), then
    the quantised variants metadata.json lists for its format (model_fp16.onnx, model_int8.onnx)."""
    quantized = meta.get("quantized") if isinstance(meta.get("quantized"), dict) else {}
    return [_files(backend)[0], *(name for name, entry in quantized.items()
                                  if isinstance(entry, dict) and entry.get("format") == backend
                                  and Path(name).name == name)]


def _keras_file(path: Path) -> Callable:
    """A .keras file of any name (a copy beside the run's model.keras), run as the keras backend
    runs model.keras."""
    from visiontk.model_files import keras_predict_fn, load_keras_model

    model = load_keras_model(path)
    predict = keras_predict_fn(model)
    if isinstance(model.input_shape, tuple):        # one input: checked against the metadata
        predict.input_dims, predict.model_file = model.input_shape[1:], path
    return predict


def _folder_backend(folder: Path, meta_file: Path, backend: str) -> str:
    """The backend for a run or export folder: the one asked for, which must have its files there;
    `auto`: the first of AUTO_ORDER whose files are there."""
    from visiontk.infer.backends import BACKENDS, available

    here = available(folder)
    if backend == "auto":
        backend = next((b for b in AUTO_ORDER if b in here), None)
        if backend is None:
            raise RunError(f"{folder} holds no model file ({_missing_model_hint(folder, meta_file)})")
    entry = BACKENDS.entry(backend)
    if backend not in here:
        raise ModelError(f"backend '{backend}' needs {', '.join(entry.meta.get('files', ()))} in "
                         f"{folder}; available here: {', '.join(here) or 'none'}")
    return backend


def _missing_model_hint(folder: Path, meta_file: Path) -> str:
    if meta_file.name == "metadata.json":
        return ("model.onnx, model.tflite or saved_model/ of an export); re-export the run with "
                "`visiontk export RUN_DIR --force`")
    return (f"model.keras); the run did not finish: rerun `visiontk train "
            f"{folder / 'recipe.yaml'}` to resume it")


def _files(backend: str) -> tuple:
    from visiontk.infer.backends import BACKENDS

    return tuple(BACKENDS.entry(backend).meta.get("files", ()))


def _marker(backend: str) -> Path:
    """The model file (or the file inside the model folder) a backend reads: model.onnx, ..."""
    return Path(_files(backend)[0])


def _model_kind(p: Path) -> tuple[str, Path]:
    """(backend, the folder the model belongs in) for a model file (by its suffix) or a model folder
    (saved_model/, by the file inside it); a ModelError for anything else."""
    from visiontk.infer.backends import BACKENDS

    for name in BACKENDS.names():
        marker = _marker(name)
        if len(marker.parts) == 1:
            if p.is_file() and marker.suffix and p.suffix.lower() == marker.suffix:
                return name, p.parent
        elif p.is_dir() and p.name == marker.parts[0] and (p.parent / marker).exists():
            return name, p.parent
        elif p.is_file() and p.parent.name == marker.parts[0] and p.name == marker.name:
            return name, p.parent.parent
    if p.is_dir():
        raise RunError(f"{p} is neither a run directory (meta.json) nor an export (metadata.json); "
                       f"visiontk.load takes runs/NAME, export/NAME or a {_kinds()} model in one")
    raise ModelError(f"{p}: not a model file visiontk can load ({p.suffix or 'no suffix'}); it takes "
                     f"a run folder, an export folder, or a {_kinds()} model in one")


def _kinds() -> str:
    """'.keras, .onnx, .tflite or saved_model/': what a model file may be, from the backends."""
    from visiontk.infer.backends import BACKENDS

    markers = [_marker(name) for name in BACKENDS.names()]
    kinds = [m.suffix if len(m.parts) == 1 else f"{m.parts[0]}/" for m in markers]
    return ", ".join(kinds[:-1]) + f" or {kinds[-1]}" if len(kinds) > 1 else "".join(kinds)
