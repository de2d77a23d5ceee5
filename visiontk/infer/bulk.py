"""Prediction over many images, videos and streams (`visiontk predict`): the sources are read and
preprocessed by background threads (visiontk/infer/reader.py), the Predictor's model runs on each
batch (in those threads when its backend allows it, else in this one), and every prediction goes to
the writers, in source order, as soon as it is decoded.

Memory stays flat however many images there are; an unreadable file is reported (one line) and
skipped, or stops the run with `strict`.

Threads (`thread_plan`): with ONNX Runtime, each of a few worker threads reads a batch, preprocesses
it and runs the model on it with its own share of the cores (on 2 cores: two workers, one model
thread each), so that decoding takes its turn on a core instead of preempting the model's thread
pool. On 2 cores that ran 0.70x a hand-written loop on pre-decoded batches, against 0.61-0.64x for
one decoding thread beside the model on both cores (benchmarks/BENCHMARKS.md, section 8); the split
on more cores is a choice, not a measurement.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

from visiontk.errors import DataError


@dataclass
class Summary:
    """What a run predicted: images, video / stream frames, unreadable inputs skipped, seconds."""

    images: int = 0
    frames: int = 0
    skipped: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return (self.images + self.frames) / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        """'predict: 1,000 images in 4.2 s (238 images/s); 2 unreadable inputs skipped'."""
        what = [_count(self.images, "image")] if self.images or not self.frames else []
        what += [_count(self.frames, "video frame")] if self.frames else []
        skipped = f"; {_count(self.skipped, 'unreadable input')} skipped (named above)" \
            if self.skipped else ""
        return (f"predict: {' and '.join(what)} in {self.seconds:.1f} s ({self.rate:,.1f} "
                f"images/s){skipped}")


def _count(n: int, what: str) -> str:
    return f"{n:,} {what}{'' if n == 1 else 's'}"


def thread_plan(backend: str, threads: Optional[int] = None, workers: Optional[int] = None,
                cores: Optional[int] = None) -> tuple[Optional[int], int]:
    """(model threads, worker threads) of a run: what the user gave, else what measures best.

    With a backend whose model may run in several threads at once (backends.CONCURRENT), each
    worker decodes a batch and runs the model on it: up to 4 workers, the cores shared among them
    (a single worker only decodes, beside the model in the calling thread). Otherwise the model
    runs in the calling thread on the runtime's own threads (one per core), and one worker per 4
    cores decodes.

    Example:
        >>> thread_plan("onnx", cores=2), thread_plan("onnx", cores=16)
        ((1, 2), (4, 4))
        >>> thread_plan("tflite", cores=2), thread_plan("onnx", threads=2, workers=1, cores=2)
        ((None, 1), (2, 1))
    """
    from visiontk.infer.backends import CONCURRENT

    cores = cores or os.cpu_count() or 1
    if backend in CONCURRENT:
        workers = workers or min(cores, 4)
        return threads or max(1, cores // workers), workers
    return threads, workers or max(1, cores // 4)


def row_of(item, frame: Optional[int], prediction) -> dict:
    """The JSON row of a prediction: {"image": PATH, ...} or {"video": PATH, "frame": I, ...}."""
    if frame is None:
        return {"image": item.path, **prediction.to_dict()}
    return {"video": item.path, "frame": frame, **prediction.to_dict()}


def predict_sources(predictor, sources: list, writers: list, *, batch_size: int = 32,
                    annotated=None, strict: bool = False, max_frames: int = 0,
                    warn: Callable[[str], None] = print, total: Optional[int] = None,
                    workers: Optional[int] = None) -> Summary:
    """Predict every image and frame of `sources` in batches; each row goes to every writer.

    Args:
        predictor: a visiontk.infer.predictor.Predictor (its preprocessing, model and decode).
        sources: from visiontk.infer.inputs.open_sources.
        writers: objects with write(row, prediction, item) (visiontk/infer/writers.py).
        batch_size: images per model call.
        annotated: an visiontk.infer.annotated.Annotated for annotated copies, or None.
        strict: an unreadable input raises a DataError instead of being skipped.
        max_frames: at most this many frames per video or stream (0: all; a camera runs until
            Ctrl-C).
        warn: takes the one-line report of each unreadable input.
        total: images + frames expected, for the progress bar (None: no bar total).
        workers: threads that read and preprocess batches, and run the model on them when the
            backend allows (None: thread_plan's). Open the Predictor inside
            `backends.model_threads(thread_plan(...)[0])` to give each its share of the cores.

    Returns:
        The Summary (images, frames, skipped, seconds).

    Raises:
        DataError: with `strict`, the first unreadable input.
    """
    from visiontk.infer.backends import CONCURRENT
    from visiontk.infer.reader import Reader, opencv_threads
    from visiontk.runtime.preprocess import preprocess

    def infer(inputs, sizes) -> list:
        return predictor.task.decode(predictor.raw(inputs), predictor.meta, sizes)

    summary = Summary()
    t0 = time.perf_counter()
    workers = workers or thread_plan(predictor.backend)[1]
    # One worker decodes beside the model (run here); several each run the model on their batches.
    in_workers = predictor.backend in CONCURRENT and workers > 1
    reader = Reader(sources, lambda frames: preprocess(frames, predictor.meta), batch_size,
                    keep_frames=annotated is not None, max_frames=max_frames, workers=workers,
                    infer=infer if in_workers else None)

    def emit(item, frame_index, frame, prediction) -> None:
        row = row_of(item, frame_index, prediction)
        for w in writers:
            w.write(row, prediction, item)
        if annotated is not None:
            if frame_index is None:
                annotated.image(item, frame, prediction, row)
            else:
                annotated.video_frame(item, frame, prediction, row)
        if frame_index is None:
            summary.images += 1
        else:
            summary.frames += 1

    def skip(reason: str) -> None:
        summary.skipped += 1
        if strict:
            raise DataError(f"{reason} (--strict stops at the first unreadable input; without it, "
                            f"unreadable inputs are reported and skipped)")
        warn(f"skipped: {reason}")

    with opencv_threads(1):
        reader.start()
        try:
            _consume(reader, infer, emit, skip, annotated, total,
                     live=lambda message: _live(predictor, message, emit, skip, max_frames,
                                                annotated))
        finally:
            reader.stop()
    summary.seconds = time.perf_counter() - t0
    return summary


def _consume(reader, infer, emit, skip, annotated, total, live) -> None:
    """Each message of the reader in order: a Batch's predictions (the model run here when the
    reader did not) to `emit`, unreadable inputs to `skip`, videos' starts and ends, live
    sources."""
    from visiontk.infer.reader import Batch, Live, Skipped, VideoEnd, VideoStart

    with rate_counter("predicting", total) as shown:
        for message in reader:
            if isinstance(message, Batch):
                preds = message.predictions
                if preds is None:
                    preds = infer(message.inputs, message.sizes)
                frames = message.frames or [None] * len(preds)
                for (item, index), frame, pred in zip(message.entries, frames, preds):
                    emit(item, index, frame, pred)
                shown.n += len(preds)
            elif isinstance(message, Skipped):
                skip(message.reason)
            elif isinstance(message, VideoStart) and annotated is not None:
                annotated.video_start(message.item, message.fps, message.size)
            elif isinstance(message, VideoEnd) and annotated is not None:
                annotated.video_end(message.item)
            elif isinstance(message, Live):
                shown.n += live(message)


def _live(predictor, message, emit, skip, max_frames: int, annotated) -> int:
    """A camera or stream through Predictor.stream (the newest frame each time the model is
    ready); returns the frames predicted."""
    capture = message.source.capture
    if annotated is not None:
        annotated.video_start(message.item, capture.fps, capture.size)
    done = 0
    try:
        for result in predictor.stream(capture):
            emit(message.item, result.index, result.frame, result.prediction)
            done += 1
            if max_frames and done >= max_frames:
                break
    except DataError as exc:                       # a stream that drops: reported like a file
        skip(str(exc))
    finally:
        if annotated is not None:
            annotated.video_end(message.item)
    return done


@contextmanager
def rate_counter(description: str, total: Optional[int]) -> Iterator:
    """visiontk.progress's polled counter, with images/s and the time left: on a terminal only."""
    from visiontk.progress import Counter, interactive, polled_bar

    counter = Counter()
    if not interactive():
        yield counter
        return
    from rich.progress import ProgressColumn, TimeRemainingColumn
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task) -> Text:
            text = f"{task.speed:,.0f} images/s" if task.speed else ""
            return Text(text, style="progress.data.speed")

    bar = polled_bar(counter, description, total)
    bar.columns = (*bar.columns, Rate(), TimeRemainingColumn())
    with bar:
        yield counter
