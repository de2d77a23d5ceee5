"""The reading side of `visiontk predict`: a background thread decodes the images (and video frames)
of the sources and preprocesses them into model batches, while the calling thread runs the model.

The queue between them holds a few batches at most, so memory stays flat however many images there
are, and decoding overlaps the model instead of adding to it (OpenCV and the runtimes release the
GIL). Messages come out in source order: a Batch of decoded images, Skipped (a file that cannot be
read: reported by the caller, never fatal here), VideoStart / VideoEnd around a video's frames, and
Live for a camera or stream (run by the caller with Predictor.stream, which drops stale frames).
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

import cv2
import numpy as np

from visiontk.infer.inputs import Item, Source
from visiontk.runtime.errors import InputError

QUEUE_BATCHES = 3             # batches decoded ahead of the model


@dataclass
class Batch:
    """Decoded images (or video frames): `entries` (item, frame index or None), the model's input
    batch, the original (h, w) of each, and the BGR frames when the caller draws on them."""

    entries: list
    inputs: np.ndarray
    sizes: list
    frames: Optional[list] = None


@dataclass
class Skipped:
    item: Item
    reason: str


@dataclass
class VideoStart:
    item: Item
    fps: float
    size: Optional[tuple]


@dataclass
class VideoEnd:
    item: Item


@dataclass
class Live:
    item: Item
    source: Source


@dataclass
class _Pending:
    entries: list = field(default_factory=list)
    frames: list = field(default_factory=list)


class Reader(threading.Thread):
    """Iterate it for the messages; `stop()` ends it early (e.g. on an error in the caller).

    Args:
        sources: from visiontk.infer.inputs.open_sources.
        prepare: BGR uint8 frames -> the model's float32 input batch (the Predictor's
            preprocessing).
        batch_size: images per batch (a video's frames are batched too; a batch never mixes a video
            with images).
        keep_frames: keep the decoded frames in each Batch (to draw annotated copies).
        max_frames: at most this many frames of each video (0: all).
    """

    def __init__(self, sources: list, prepare: Callable, batch_size: int, *,
                 keep_frames: bool = False, max_frames: int = 0):
        super().__init__(daemon=True, name="visiontk-predict-reader")
        self.sources, self.prepare = sources, prepare
        self.batch_size, self.keep_frames, self.max_frames = max(1, int(batch_size)), keep_frames, \
            max_frames
        self.queue: queue.Queue = queue.Queue(maxsize=QUEUE_BATCHES)
        self.stopping = threading.Event()

    # ---- the reading thread --------------------------------------------------------------------

    def run(self) -> None:
        from visiontk.runtime.opencv_io import quiet_opencv

        try:
            with quiet_opencv():                # our one line per unreadable file, not OpenCV's
                self._read_all()
        except BaseException as exc:            # a bug or a disk error: the caller raises it
            self._put(exc)

    def _read_all(self) -> None:
        pending = _Pending()
        for source in self.sources:
            for item in source.items():
                if self.stopping.is_set():
                    return
                if item.kind == "image":
                    self._image(item, pending)
                    continue
                self._flush(pending)
                if item.kind == "live":
                    self._put(Live(item, source))
                else:
                    self._video(item, pending)
        self._flush(pending)
        self._put(None)

    def _image(self, item: Item, pending: _Pending) -> None:
        frame = cv2.imread(item.path, cv2.IMREAD_COLOR)
        if frame is None:                        # read_image says why (missing, or not an image)
            from visiontk.runtime.preprocess import read_image

            try:
                frame = read_image(item.path)
            except InputError as exc:
                self._put(Skipped(item, str(exc)))
                return
        self._add(pending, item, None, frame)

    def _video(self, item: Item, pending: _Pending) -> None:
        from visiontk.infer.sources import CaptureSource

        try:
            video = CaptureSource(item.path)
        except InputError as exc:
            self._put(Skipped(item, str(exc)))
            return
        self._put(VideoStart(item, video.fps, video.size))
        read = 0
        try:
            while not self.stopping.is_set() and not (self.max_frames and read >= self.max_frames):
                ok, frame = video.read()
                if not ok or frame is None:
                    break
                self._add(pending, item, read, frame)
                read += 1
        finally:
            video.release()
        self._flush(pending)
        expected = video.expected_frames
        if read == 0 or (expected and read < expected - 1 and not self.max_frames):
            why = "no frame could be read" if read == 0 else \
                f"ended early: frame {read + 1} of {expected} is unreadable (damaged or " \
                f"truncated file)"
            self._put(Skipped(item, f"{item.path}: {why}"))
        self._put(VideoEnd(item))

    def _add(self, pending: _Pending, item: Item, index, frame) -> None:
        pending.entries.append((item, index))
        pending.frames.append(frame)
        if len(pending.frames) >= self.batch_size:
            self._flush(pending)

    def _flush(self, pending: _Pending) -> None:
        if not pending.frames:
            return
        frames = pending.frames
        batch = Batch(pending.entries, self.prepare(frames), [f.shape[:2] for f in frames],
                      frames if self.keep_frames else None)
        pending.entries, pending.frames = [], []
        self._put(batch)

    def _put(self, message) -> None:
        while not self.stopping.is_set():
            try:
                self.queue.put(message, timeout=0.1)
                return
            except queue.Full:
                continue

    # ---- the calling thread --------------------------------------------------------------------

    def __iter__(self) -> Iterator:
        """The messages in source order (start() the thread first); an error of the thread is
        raised here."""
        while True:
            message = self.queue.get()
            if message is None:
                return
            if isinstance(message, BaseException):
                raise message
            yield message

    def stop(self) -> None:
        """End the thread (it may be blocked on a full queue: emptied here) and wait for it."""
        self.stopping.set()
        while self.is_alive():
            try:
                self.queue.get(timeout=0.05)
            except queue.Empty:
                pass
