"""Predictor: a run or export folder + a backend -> Predictions and overlays for frames."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from visiontk.errors import ModelError, RunError
from visiontk.runtime.errors import InputError
from visiontk.runtime.meta import check_input_shape, remedy
from visiontk.runtime.meta import read_meta as read_checked
from visiontk.runtime.preprocess import preprocess


def meta_path(folder: Path) -> Path:
    """An export's metadata.json, else a run's meta.json."""
    for name in ("metadata.json", "meta.json"):
        if (folder / name).is_file():
            return folder / name
    raise RunError(f"{folder} is neither a run directory (meta.json) nor an export "
                   f"(metadata.json)")


def load_meta(path: Path) -> dict:
    """The checked content of a meta.json / metadata.json (a RunError naming the file and field)."""
    try:
        return read_checked(path)
    except InputError as exc:
        raise RunError(str(exc)) from None


class Predictor:
    """Runs a trained model on BGR frames with the training preprocessing and the task's decode.

    Args:
        path: a run directory (runs/NAME) or an export directory (export/NAME).
        backend: keras | saved_model | onnx | tflite | auto (onnx for exports when present,
            else keras).

    Example:
        >>> pred = Predictor("runs/classify")                        # doctest: +SKIP
        >>> pred.predict([cv2.imread("cat.png")])[0].name             # doctest: +SKIP
    """

    def __init__(self, path: str | Path, backend: str = "auto"):
        from visiontk.infer.backends import BACKENDS, available
        from visiontk.catalog import TASKS, populate

        folder = Path(path)
        if not folder.is_dir():
            raise RunError(f"run or export directory not found: {folder}")
        self.folder = folder
        self.meta_file = meta_path(folder)
        self.meta = load_meta(self.meta_file)
        here = available(folder)
        if backend == "auto":
            backend = next((b for b in ("onnx", "keras", "saved_model", "tflite") if b in here), None)
            if backend is None:
                raise RunError(f"{folder} holds no model file ({self._missing_model_hint()})")
        entry = BACKENDS.entry(backend)
        if backend not in here:
            raise ModelError(f"backend '{backend}' needs {', '.join(entry.meta.get('files', ()))} in "
                             f"{folder}; available here: {', '.join(here) or 'none'}")
        populate()
        if self.meta["task"] not in TASKS.names():
            raise RunError(f"{self.meta_file}: task '{self.meta['task']}' is not one visiontk "
                           f"knows ({', '.join(TASKS.names())}): the file was edited or written by "
                           f"another version of visiontk; {remedy(self.meta_file)}")
        self.task = TASKS.get(self.meta["task"])
        self.backend = backend
        self._fn = entry.obj(folder, self.meta)
        dims = getattr(self._fn, "input_dims", None)     # the model file's own input size
        if dims is not None:
            try:
                check_input_shape(dims, self.meta, self._fn.model_file, self.meta_file)
            except InputError as exc:
                raise ModelError(str(exc)) from None
        self.last_latency = 0.0

    def _missing_model_hint(self) -> str:
        if self.meta_file.name == "metadata.json":
            return ("model.onnx, model.tflite or saved_model/ of an export); re-export the run with "
                    "`visiontk export RUN_DIR --force`")
        return (f"model.keras); the run did not finish: rerun `visiontk train "
                f"{self.folder / 'recipe.yaml'}` to resume it")

    def raw(self, batch: np.ndarray):
        return self._fn(batch)

    def predict(self, frames_bgr: list[np.ndarray]) -> list:
        """Predictions for BGR uint8 frames (any size; boxes come back in their pixels)."""
        if not frames_bgr:
            return []
        batch = preprocess(frames_bgr, self.meta)
        t0 = time.perf_counter()
        outputs = self._fn(batch)
        self.last_latency = time.perf_counter() - t0
        return self.task.decode(outputs, self.meta, [f.shape[:2] for f in frames_bgr])

    def draw(self, frame_bgr: np.ndarray, prediction) -> np.ndarray:
        return self.task.draw(frame_bgr.copy(), prediction, self.meta)


VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg"}


def predict_files(path, images, *, backend="auto", out_dir=None, batch_size=16) -> list[dict]:
    """Predict image files (and videos: one row per frame, through the demo loop); with `out_dir`,
    write annotated images (*_pred.png), videos (*_pred.mp4) and predictions.json there.

    Example:
        >>> predict_files("runs/detect", ["street.jpg", "clip.mp4"], out_dir="out")  # doctest: +SKIP
    """
    import cv2

    from visiontk.runtime.preprocess import read_image
    from visiontk.progress import progress
    from visiontk.io import atomic_path, write_json

    if out_dir is not None and (not str(out_dir).strip() or Path(out_dir).exists()
                                and not Path(out_dir).is_dir()):
        raise RunError(f"--out {str(out_dir)!r}: name a folder for the annotated images")
    paths = [Path(p) for p in images]
    videos = [f for f in paths if f.suffix.lower() in VIDEO_SUFFIXES]
    files = [f for f in paths if f not in videos]
    for v in videos:
        if not v.is_file():
            raise RunError(f"{v}: video not found")
    frames = {f: read_image(f) for f in files}           # unreadable files fail before any output
    predictor = Predictor(path, backend)
    results = []
    chunks = [files[i:i + batch_size] for i in range(0, len(files), batch_size)]
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    for chunk in progress(chunks, "predicting"):
        preds = predictor.predict([frames[f] for f in chunk])
        for f, pred in zip(chunk, preds):
            row = {"image": str(f), **pred.to_dict()}
            results.append(row)
            if out_dir is not None:
                drawn = predictor.draw(frames[f], pred)
                with atomic_path(Path(out_dir) / f"{f.stem}_pred.png") as tmp:
                    cv2.imwrite(str(tmp), drawn)
    for v in videos:
        results += predict_video(predictor, v, out_dir)
    if out_dir is not None:
        write_json(Path(out_dir) / "predictions.json", results)
    return results


def predict_video(predictor: Predictor, video: Path, out_dir=None) -> list[dict]:
    """Rows {"video", "frame", ...prediction} for every frame of a video, through the demo loop
    (annotated copy in out_dir/<stem>_pred.mp4 when out_dir is given)."""
    from visiontk.infer.video import run_demo
    from visiontk.runtime.errors import InputError

    rows: list = []
    save = Path(out_dir) / f"{video.stem}_pred.mp4" if out_dir is not None else None
    result = run_demo(predictor, str(video), show=False, save=save, readout=False,
                      on_prediction=lambda i, p: rows.append({"video": str(video), "frame": i,
                                                              **p.to_dict()}))
    if result.error:
        raise InputError(result.error)
    return rows
