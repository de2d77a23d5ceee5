"""Predictor: a run or export folder, or a model file in one, + a backend -> typed predictions,
overlays and streams of frames (`visiontk.load` returns one)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator, NamedTuple

import cv2
import numpy as np

from visiontk.errors import DataError, ModelError, RunError
from visiontk.infer.load import open_model, resolve
from visiontk.runtime.errors import InputError
from visiontk.runtime.meta import check_input_shape, remedy
from visiontk.runtime.meta import read_meta as read_checked
from visiontk.runtime.predictions import Prediction
from visiontk.runtime.preprocess import preprocess


def load_meta(path: Path) -> dict:
    """The checked content of a meta.json / metadata.json (a RunError naming the file and field)."""
    try:
        return read_checked(path)
    except InputError as exc:
        raise RunError(str(exc)) from None


class StreamResult(NamedTuple):
    """One frame of `Predictor.stream`: its index in the source (frames of a live source that the
    model could not keep up with are skipped), the BGR uint8 frame and its prediction."""

    index: int
    frame: np.ndarray
    prediction: Prediction


class Predictor:
    """A trained model with the preprocessing it was trained with and its task's decode and overlay.

    `visiontk.load(path)` returns one (this class is also `visiontk.Predictor`). Images are BGR uint8
    arrays of any size, as `cv2.imread` returns them, or image paths; predictions are the task's typed
    Prediction (`visiontk/runtime/<task>.py`: e.g. ClassificationPrediction with `name`, `score` and
    `top`; DetectionPrediction with `boxes` in the image's pixels), with `.to_dict()`, the JSON
    `visiontk predict` prints.

    Args:
        path: a run folder (runs/NAME), an export folder (export/NAME), or a model file in one
            (`.keras`, `.onnx`, `.tflite`, or the export's `saved_model/` folder).
        backend: keras | saved_model | onnx | tflite, or auto: for a folder ONNX Runtime when the
            export has model.onnx, else the first model found (keras for a run); for a model file
            the backend of its suffix.

    Attributes:
        backend: the backend that runs the model.
        folder: the run or export folder whose metadata describes the model.
        model_file: the model file (or saved_model/ folder) that runs.
        metadata: the metadata (meta.json of a run, metadata.json of an export).
        task: the task class (visiontk.tasks) that decodes and draws.
        last_latency: seconds the model itself took on the last batch.

    Raises:
        RunError: the path is missing, or a folder that is neither a run nor an export, or its
            metadata is damaged.
        ModelError: the model file is damaged, does not fit its metadata, or cannot be run by the
            backend asked for.

    Example:
        >>> import cv2
        >>> from visiontk.infer.predictor import Predictor
        >>> predictor = Predictor("export/classify/model.onnx")    # the export's metadata.json
        >>> predictor.backend, predictor.metadata["task"]
        ('onnx', 'classification')
        >>> image = cv2.imread("images/cat.png")                   # BGR uint8 (H, W, 3)
        >>> preds = predictor.predict([image, "images/dog.png"])   # arrays and paths
        >>> len(preds), preds[0].task, preds[0].name in predictor.metadata["class_names"]
        (2, 'classification', True)
        >>> predictor.draw(image, preds[0]).shape == image.shape
        True
        >>> [r.index for r in predictor.stream("clip.mp4")]       # every frame of a video file
        [0, 1, 2, 3, 4, 5]
    """

    def __init__(self, path: str | Path, backend: str = "auto"):
        from visiontk.catalog import TASKS, populate

        target = resolve(path, backend)
        self.folder, self.meta_file, self.backend = target.folder, target.meta_file, target.backend
        self.meta = load_meta(self.meta_file)
        populate()
        if self.meta["task"] not in TASKS.names():
            raise RunError(f"{self.meta_file}: task '{self.meta['task']}' is not one visiontk "
                           f"knows ({', '.join(TASKS.names())}): the file was edited or written by "
                           f"another version of visiontk; {remedy(self.meta_file)}")
        self.task = TASKS.get(self.meta["task"])
        self._fn = open_model(target, self.meta)
        dims = getattr(self._fn, "input_dims", None)     # the model file's own input size
        if dims is not None:
            try:
                check_input_shape(dims, self.meta, self._fn.model_file, self.meta_file)
            except InputError as exc:
                raise ModelError(str(exc)) from None
        self.model_file = Path(getattr(self._fn, "model_file", target.model or self.folder))
        self.last_latency = 0.0

    def __repr__(self) -> str:
        return (f"Predictor({str(self.model_file)!r}, backend={self.backend!r}, "
                f"task={self.meta['task']!r})")

    @property
    def metadata(self) -> dict:
        """The model's metadata: task, input (shape, resize), class_names, decode settings, ..."""
        return self.meta

    def raw(self, batch: np.ndarray):
        """The model's raw outputs for a preprocessed float32 batch (N, H, W, C)."""
        return self._fn(batch)

    def predict(self, images, *, batch_size: int = 32) -> list:
        """Predictions for images, one per image, in order.

        Like Ultralytics' `model(source)` and Keras' `predict`, the result is always a list, also
        for a single image: `[pred] = predictor.predict("cat.png")`.

        Args:
            images: an image path, a BGR uint8 numpy array (H, W, 3), (H, W) or (H, W, 1) grey, or
                (H, W, 4) BGRA, as OpenCV reads them, of any size; a 4-D array (N, H, W, C) of
                such images; or a list of paths and arrays.
            batch_size: images read and run through the model together (memory stays bounded).

        Returns:
            The task's Prediction per image (boxes and masks in the image's own pixels).

        Raises:
            DataError: an image file is missing or unreadable, or an array is not a uint8 image.
        """
        items = _image_list(images)
        preds: list = []
        for start in range(0, len(items), max(1, int(batch_size))):
            chunk = items[start:start + max(1, int(batch_size))]
            preds += self._predict_frames([_frame(x, start + i) for i, x in enumerate(chunk)])
        return preds

    def _predict_frames(self, frames_bgr: list) -> list:
        if not frames_bgr:
            return []
        batch = preprocess(frames_bgr, self.meta)
        t0 = time.perf_counter()
        outputs = self._fn(batch)
        self.last_latency = time.perf_counter() - t0
        return self.task.decode(outputs, self.meta, [f.shape[:2] for f in frames_bgr])

    def stream(self, source) -> Iterator[StreamResult]:
        """Predict the frames of a video file, a camera, a stream URL or a folder of images as they
        are read: a background thread decodes the next frames and another runs the model on them
        while the loop's body handles the previous one (the demo's pipeline,
        visiontk/infer/video.py; the tflite backend runs the model in the loop's thread).

        Files and folders give every frame, in order; a live source (camera, stream) gives the
        newest frame each time the model is ready, skipping stale ones. Stop early with `break`
        (the threads stop and the source is released).

        Args:
            source: a video file, a camera index (0 or "0"), a URL (rtsp://, http://), a folder of
                images (in name order) or an image file.

        Yields:
            StreamResult(index, frame, prediction) per frame.

        Raises:
            DataError: the source cannot be opened, or fails while it is read (a damaged frame, a
                dropped stream); the frames before it were yielded.
            ModelError: the model failed on a frame (raised here, from the model's thread).
        """
        from visiontk.infer.sources import open_source
        from visiontk.infer.video import stages

        try:
            src = open_source(source)
        except InputError as exc:
            raise DataError(str(exc)) from None
        # A TFLite interpreter must not run two calls at once, and the loop's body may call
        # predict(): its model runs here, in the caller's thread, between the frames.
        ahead = self.backend != "tflite"
        with stages(self if ahead else None, src) as (grabber, model):
            while (item := model.get()) is not None:
                index, _, frame, prediction, _ = item
                yield StreamResult(index, frame, prediction if ahead else
                                   self._predict_frames([frame])[0])
        if grabber.failed:
            raise DataError(grabber.ended)

    def draw(self, image, prediction) -> np.ndarray:
        """The overlay `visiontk demo` and `visiontk predict --out` draw: a new BGR uint8 image of
        the image's size (a grey or BGRA image is drawn on in BGR).

        Args:
            image: the image (a BGR uint8 array or a path) the prediction was made on.
            prediction: its Prediction from `predict` or `stream`.
        """
        return self.task.draw(_frame(image, 0).copy(), prediction, self.meta)


def _image_list(images) -> list:
    """predict's argument as a list of paths and arrays."""
    if isinstance(images, (str, os.PathLike, np.ndarray)):
        return list(images) if isinstance(images, np.ndarray) and images.ndim == 4 else [images]
    if isinstance(images, (list, tuple)):
        return list(images)
    raise DataError(f"predict takes an image path, a BGR uint8 numpy array or a list of them, not "
                    f"a {type(images).__name__}")


def _frame(image, i: int) -> np.ndarray:
    """A BGR uint8 (H, W, 3) frame from a path or an array (grey and BGRA converted)."""
    from visiontk.runtime.preprocess import read_image

    if isinstance(image, (str, os.PathLike)):
        try:
            return read_image(image)
        except InputError as exc:
            raise DataError(str(exc)) from None
    if not isinstance(image, np.ndarray):
        raise DataError(f"image {i}: a {type(image).__name__}; give an image path or a BGR uint8 "
                        f"numpy array (H, W, 3) as cv2.imread returns it")
    channels = image.shape[2] if image.ndim == 3 else 1 if image.ndim == 2 else 0
    if image.dtype != np.uint8 or channels not in (1, 3, 4) or 0 in image.shape:
        raise DataError(f"image {i}: a {image.dtype} array of shape {image.shape}; give BGR uint8 "
                        f"images (H, W, 3) as cv2.imread returns them (grey (H, W) and BGRA "
                        f"(H, W, 4) are converted); for floats in [0, 1] pass "
                        f"(image * 255).round().astype(np.uint8)")
    if channels == 3:
        return image
    return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR if channels == 1 else cv2.COLOR_BGRA2BGR)


VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg"}


def predict_files(path, images, *, backend="auto", out_dir=None, batch_size=16) -> list[dict]:
    """Predict image files (and videos: one row per frame, through the demo loop); with `out_dir`,
    write annotated images (*_pred.png), videos (*_pred.mp4) and predictions.json there.

    Example:
        >>> predict_files("runs/detect", ["street.jpg", "clip.mp4"], out_dir="out")  # doctest: +SKIP
    """
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
