"""The reading side of `visiontk predict`: background threads decode the images (and video frames)
of the sources and preprocess them into model batches; the model runs on each batch in the thread
that prepared it (a model that may be called from several threads at once: ONNX Runtime), or in the
calling thread.

The queue between them holds a few batches at most, so memory stays flat however many images there
are, and decoding overlaps the model instead of adding to it (OpenCV and the runtimes release the
GIL). Messages come out in source order: a Batch of decoded images, Skipped (a file that cannot be
read: reported by the caller, never fatal here), VideoStart / VideoEnd around a video's frames, and
Live for a camera or stream (run by the caller with Predictor.stream, which drops stale frames).
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import cv2
import numpy as np

from visiontk.infer.inputs import Item, Source
from visiontk.runtime.errors import InputError

QUEUE_BATCHES = 3             # batches decoded ahead of the model


@contextmanager
def opencv_threads(n: int) -> Iterator[None]:
    """OpenCV's own worker threads set to `n` for the block (restored after). Its parallel loops
    cost more than they give on small images: resizing and converting a 28-64 px image took 45 us
    of CPU with 2 threads, 18 us with 1; the decoding threads already run side by side."""
    before = cv2.getNumThreads()
    cv2.setNumThreads(n)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


@dataclass
class Batch:
    """Decoded images (or video frames): `entries` (item, frame index or None), the model's input
    batch, the original (h, w) of each, the BGR frames when the caller draws on them, and the
    predictions when the reading threads run the model too (`inputs` is then None)."""

    entries: list
    inputs: Optional[np.ndarray]
    sizes: list
    frames: Optional[list] = None
    predictions: Optional[list] = None


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


class Reader(threading.Thread):
    """Iterate it for the messages; `stop()` ends it early (e.g. on an error in the caller).

    Images are decoded `batch_size` files at a time: by this thread itself with one worker, or with
    more by a pool of threads that work on consecutive batches side by side (the messages still
    come out in source order). A video's frames are read here, in order, and preprocessed like a
    batch of images. With `infer`, the thread that prepared a batch also runs the model on it.

    Args:
        sources: from visiontk.infer.inputs.open_sources.
        prepare: BGR uint8 frames -> the model's float32 input batch (the Predictor's
            preprocessing).
        batch_size: images per batch (a video's frames are batched too; a batch never mixes a video
            with images; a batch of images is smaller by the files that turn out unreadable).
        keep_frames: keep the decoded frames in each Batch (to draw annotated copies).
        max_frames: at most this many frames of each video (0: all).
        workers: threads that decode and preprocess (1: this thread alone).
        infer: (input batch, original sizes) -> predictions, for a model that may be called from
            several threads at once (None: the caller runs the model on Batch.inputs).
    """

    def __init__(self, sources: list, prepare: Callable, batch_size: int, *,
                 keep_frames: bool = False, max_frames: int = 0, workers: int = 1,
                 infer: Optional[Callable] = None):
        super().__init__(daemon=True, name="visiontk-predict-reader")
        self.sources, self.prepare, self.infer = sources, prepare, infer
        self.batch_size, self.keep_frames, self.max_frames = max(1, int(batch_size)), keep_frames, \
            max_frames
        workers = max(1, int(workers))
        # Futures of batches count as batches: `workers` of them decode at once, a few wait ready.
        self.queue: queue.Queue = queue.Queue(maxsize=QUEUE_BATCHES + workers - 1)
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="visiontk-predict-worker") \
            if workers > 1 else None
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
        images: list = []
        for source in self.sources:
            for item in source.items():
                if self.stopping.is_set():
                    return
                if item.kind == "image":
                    images.append(item)
                    if len(images) >= self.batch_size:
                        self._job(self._images, images)
                        images = []
                    continue
                self._job(self._images, images)
                images = []
                if item.kind == "live":
                    self._put(Live(item, source))
                else:
                    self._video(item)
        self._job(self._images, images)
        self._put(None)

    def _job(self, fn: Callable, *args) -> None:
        """fn(*args) -> messages, run by a decoding thread (its Future is queued in their place) or
        by this one."""
        if not args[0]:
            return
        if self.pool is None:
            for message in fn(*args):
                self._put(message)
        else:
            self._put(self.pool.submit(fn, *args))

    def _images(self, items: list) -> list:
        """[Skipped for each unreadable file, ..., the Batch of the others]."""
        messages, entries, frames = [], [], []
        for item in items:
            frame = cv2.imread(item.path, cv2.IMREAD_COLOR)
            if frame is None:                    # read_image says why (missing, or not an image)
                from visiontk.runtime.preprocess import read_image

                try:
                    frame = read_image(item.path)
                except InputError as exc:
                    messages.append(Skipped(item, str(exc)))
                    continue
            entries.append((item, None))
            frames.append(frame)
        return messages + self._batch(entries, frames)

    def _batch(self, entries: list, frames: list) -> list:
        if not frames:
            return []
        inputs, sizes = self.prepare(frames), [f.shape[:2] for f in frames]
        kept = frames if self.keep_frames else None
        if self.infer is None:
            return [Batch(entries, inputs, sizes, kept)]
        return [Batch(entries, None, sizes, kept, self.infer(inputs, sizes))]

    def _video(self, item: Item) -> None:
        from visiontk.infer.sources import CaptureSource

        try:
            video = CaptureSource(item.path)
        except InputError as exc:
            self._put(Skipped(item, str(exc)))
            return
        self._put(VideoStart(item, video.fps, video.size))
        read, entries, frames = 0, [], []
        try:
            while not self.stopping.is_set() and not (self.max_frames and read >= self.max_frames):
                ok, frame = video.read()
                if not ok or frame is None:
                    break
                entries.append((item, read))
                frames.append(frame)
                read += 1
                if len(frames) >= self.batch_size:
                    self._job(self._batch, entries, frames)
                    entries, frames = [], []
        finally:
            video.release()
        self._job(self._batch, entries, frames)
        expected = video.expected_frames
        if read == 0 or (expected and read < expected - 1 and not self.max_frames):
            why = "no frame could be read" if read == 0 else \
                f"ended early: frame {read + 1} of {expected} is unreadable (damaged or " \
                f"truncated file)"
            self._put(Skipped(item, f"{item.path}: {why}"))
        self._put(VideoEnd(item))

    def _put(self, message) -> None:
        while not self.stopping.is_set():
            try:
                self.queue.put(message, timeout=0.1)
                return
            except queue.Full:
                continue
        if isinstance(message, Future):
            message.cancel()

    # ---- the calling thread --------------------------------------------------------------------

    def __iter__(self) -> Iterator:
        """The messages in source order (start() the thread first); an error of the reading or a
        decoding thread is raised here."""
        while True:
            try:
                message = self.queue.get(timeout=0.1)
            except queue.Empty:
                if self.stopping.is_set():       # stop() from another thread
                    return
                continue
            if message is None:
                return
            for m in message.result() if isinstance(message, Future) else [message]:
                if isinstance(m, BaseException):
                    raise m
                yield m

    def stop(self) -> None:
        """End the thread (it may be blocked on a full queue: emptied here) and wait for it."""
        self.stopping.set()
        while self.is_alive():
            try:
                message = self.queue.get(timeout=0.05)
            except queue.Empty:
                continue
            if isinstance(message, Future):
                message.cancel()
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
