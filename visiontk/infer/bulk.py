"""Prediction over many images, videos and streams (`visiontk predict`): the sources are read and
preprocessed in a background thread (visiontk/infer/reader.py), the Predictor's model runs on each
batch in this thread, and every prediction goes to the writers as soon as it is decoded.

Memory stays flat however many images there are; an unreadable file is reported (one line) and
skipped, or stops the run with `strict`.
"""

from __future__ import annotations

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


def row_of(item, frame: Optional[int], prediction) -> dict:
    """The JSON row of a prediction: {"image": PATH, ...} or {"video": PATH, "frame": I, ...}."""
    if frame is None:
        return {"image": item.path, **prediction.to_dict()}
    return {"video": item.path, "frame": frame, **prediction.to_dict()}


def predict_sources(predictor, sources: list, writers: list, *, batch_size: int = 32,
                    annotated=None, strict: bool = False, max_frames: int = 0,
                    warn: Callable[[str], None] = print, total: Optional[int] = None,
                    decoders: Optional[int] = None) -> Summary:
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
        decoders: threads that decode and preprocess images (None: reader.default_decoders()).

    Returns:
        The Summary (images, frames, skipped, seconds).

    Raises:
        DataError: with `strict`, the first unreadable input.
    """
    from visiontk.infer.reader import Reader, default_decoders, opencv_threads
    from visiontk.runtime.preprocess import preprocess

    summary = Summary()
    t0 = time.perf_counter()
    reader = Reader(sources, lambda frames: preprocess(frames, predictor.meta), batch_size,
                    keep_frames=annotated is not None, max_frames=max_frames,
                    workers=decoders or default_decoders())

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
            _consume(reader, predictor, emit, skip, annotated, max_frames, total)
        finally:
            reader.stop()
    summary.seconds = time.perf_counter() - t0
    return summary


def _consume(reader, predictor, emit, skip, annotated, max_frames: int, total) -> None:
    """The model on each Batch of the reader, the other messages handled in order."""
    from visiontk.infer.reader import Batch, Live, Skipped, VideoEnd, VideoStart

    with rate_counter("predicting", total) as shown:
        for message in reader:
            if isinstance(message, Batch):
                preds = predictor.task.decode(predictor.raw(message.inputs), predictor.meta,
                                              message.sizes)
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
                _live(predictor, message, emit, skip, max_frames, shown, annotated)


def _live(predictor, message, emit, skip, max_frames: int, shown, annotated) -> None:
    """A camera or stream through Predictor.stream (the newest frame each time the model is
    ready)."""
    capture = message.source.capture
    if annotated is not None:
        annotated.video_start(message.item, capture.fps, capture.size)
    done = 0
    try:
        for result in predictor.stream(capture):
            emit(message.item, result.index, result.frame, result.prediction)
            shown.n += 1
            done += 1
            if max_frames and done >= max_frames:
                break
    except DataError as exc:                       # a stream that drops: reported like a file
        skip(str(exc))
    finally:
        if annotated is not None:
            annotated.video_end(message.item)


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
