"""Frame sources for the demo loop: a camera index, a video file, a stream URL or a folder of images.

All read BGR uint8 frames with OpenCV (no TensorFlow). `live` sources (cameras, streams) produce
frames whether we keep up or not, so the loop keeps only the newest one; files and folders are
read completely (every frame is processed and saved).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from visiontk.runtime.errors import InputError
from visiontk.runtime.opencv_io import quiet_opencv

# FFmpeg's own log lines (e.g. "moov atom not found" for a damaged file) would come before our one
# line saying which file cannot be read; read by OpenCV when it first opens a video (a user's value
# wins).
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
DEFAULT_FPS = 30.0


class FrameSource:
    """Base: read() -> (ok, frame); `fps`, `size` (w, h) or None, `live`, `expected_frames`."""

    name = "source"
    live = False
    fps = DEFAULT_FPS
    size = None
    expected_frames = None

    def read(self):
        raise NotImplementedError

    def release(self) -> None:
        pass


class CaptureSource(FrameSource):
    """cv2.VideoCapture on a camera index, a file or a URL."""

    def __init__(self, spec: str | int):
        self.name = f"camera {spec}" if isinstance(spec, int) else str(spec)
        self.live = isinstance(spec, int) or "://" in str(spec)
        with quiet_opencv():
            self.cap = cv2.VideoCapture(spec)
            opened = self.cap.isOpened()
        if not opened:
            self.cap.release()
            hint = ("no camera with that index (or it is busy); try --source 0, or a video file"
                    if isinstance(spec, int) else "not a readable video (missing file, unknown "
                    "codec or unreachable stream)")
            raise InputError(f"cannot open {self.name}: {hint}")
        fps = self.cap.get(cv2.CAP_PROP_FPS) or 0.0
        self.fps = fps if 1.0 <= fps <= 240.0 else DEFAULT_FPS
        w, h = int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.size = (w, h) if w > 0 and h > 0 else None
        n = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.expected_frames = n if n > 0 and not self.live else None

    def read(self):
        with quiet_opencv():
            return self.cap.read()

    def release(self) -> None:
        self.cap.release()


class FolderSource(FrameSource):
    """The images of a folder in name order, as frames."""

    def __init__(self, folder: Path, fps: float | None = None):
        self.name = str(folder)
        self.files = sorted(f for f in Path(folder).iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise InputError(f"{folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder")
        self.fps = fps or 10.0
        self.expected_frames = len(self.files)
        first = cv2.imread(str(self.files[0]), cv2.IMREAD_COLOR)
        self.size = (first.shape[1], first.shape[0]) if first is not None else None
        self.i = 0

    def read(self):
        if self.i >= len(self.files):
            return False, None
        frame = cv2.imread(str(self.files[self.i]), cv2.IMREAD_COLOR)
        self.i += 1
        if frame is None:
            raise InputError(f"{self.files[self.i - 1]}: not a readable image")
        return True, frame


class ArraySource(FrameSource):
    """Frames from memory (tests, benchmarks): a list of arrays or a callable i -> frame | None."""

    def __init__(self, frames, fps: float = DEFAULT_FPS, live: bool = False, name: str = "frames"):
        self.frames, self.fps, self.live, self.name = frames, fps, live, name
        self.i = 0
        if isinstance(frames, list):
            self.expected_frames = len(frames)
            self.size = (frames[0].shape[1], frames[0].shape[0]) if frames else None

    def read(self):
        frame = self.frames(self.i) if callable(self.frames) else \
            (self.frames[self.i] if self.i < len(self.frames) else None)
        self.i += 1
        return (frame is not None), frame


def open_source(spec, fps: float | None = None) -> FrameSource:
    """'0' (camera index), a video file, a URL (rtsp://, http://) or a folder of images.

    Example:
        >>> open_source("clip.mp4").fps  # doctest: +SKIP
        25.0
    """
    if isinstance(spec, FrameSource):
        return spec
    text = str(spec)
    if text.isdigit():
        return CaptureSource(int(text))
    if "://" in text:
        return CaptureSource(text)
    path = Path(text)
    if path.is_dir():
        return FolderSource(path, fps)
    if not path.is_file():
        raise InputError(f"--source {text}: no such file, folder or camera index")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ArraySource([_read_image(path)], fps=fps or 1.0, name=text)
    return CaptureSource(text)


def _read_image(path: Path) -> np.ndarray:
    from visiontk.runtime.preprocess import read_image

    return read_image(path)
