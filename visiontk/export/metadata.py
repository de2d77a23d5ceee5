"""metadata.json of an export: the run's meta.json (task, input, preprocessing, class names, decode
settings) plus the output layout, the files, versions and a hash of the weights; and the copies that
make an export folder run on its own: visiontk/runtime/ (decode and draw without visiontk or
TensorFlow) and the runner export/onnx_predict.py (`python EXPORT/onnx_predict.py image.png`)."""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

RUNTIME_DIR = "runtime"
RUNNER = "onnx_predict.py"


def weights_sha256(model) -> str:
    """sha256 over every weight (name, shape and float32 bytes, in model order)."""
    import numpy as np

    h = hashlib.sha256()
    for w in model.weights:
        arr = np.ascontiguousarray(np.asarray(w), dtype=np.float32)
        h.update(f"{w.path}:{arr.shape};".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def versions() -> dict:
    """Versions of the libraries that wrote the export."""
    from importlib.metadata import PackageNotFoundError, version

    import keras
    import tensorflow as tf

    from visiontk.export.formats import get, names
    from visiontk.version import __version__

    out = {"visiontk": __version__, "tensorflow": tf.__version__, "keras": keras.__version__}
    for pkg in dict.fromkeys(p for n in names() for p in get(n).needs):   # every format's packages
        try:
            out.setdefault(pkg, version(pkg))
        except PackageNotFoundError:
            pass
    return out


def build_metadata(run_meta: dict, serving, formats: list, options: dict, *,
                   source_run: str | None) -> dict:
    """metadata.json: a superset of the run's meta.json (so every backend reads either).

    Args:
        formats: the ExportFormats written (their `files`, and their `metadata(options)` keys).
        options: every format option's value (visiontk.export.formats.resolve_options).

    Example:
        >>> build_metadata(meta, serving, [get("onnx")], {"opset": 17}, source_run="runs/x")["files"]  # doctest: +SKIP
        {'onnx': 'model.onnx'}
    """
    meta = dict(run_meta)
    meta["input"] = {**run_meta["input"], "name": "image", "dtype": "float32", "batch": "dynamic",
                     "layout": "NHWC"}
    meta["outputs"] = serving.outputs_meta
    if "precision" in meta:         # the training policy; every export computes in float32
        meta["precision"] = {**meta["precision"], "export": "float32"}
    meta["files"] = {f.name: f.files for f in formats}
    for fmt in formats:
        meta.update(fmt.metadata(options))
    meta["runtime"] = RUNTIME_DIR
    meta["source_run"] = source_run
    meta["weights_sha256"] = weights_sha256(serving.model)
    meta["versions"] = versions()
    meta["exported_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return meta


def copy_runtime(dest: Path) -> Path:
    """Copy visiontk/runtime/*.py into dest/runtime/ (a package with relative imports only)."""
    from visiontk import runtime

    src = Path(runtime.__file__).parent
    target = Path(dest) / RUNTIME_DIR
    target.mkdir(parents=True, exist_ok=True)
    for f in sorted(src.glob("*.py")):
        shutil.copy2(f, target / f.name)
    return target


def copy_runner(dest: Path) -> Path:
    """Copy the TensorFlow-free runner (export/onnx_predict.py, shipped in the package) into dest/."""
    from visiontk.shipped import runner_path

    target = Path(dest) / RUNNER
    shutil.copy2(runner_path(), target)
    return target
