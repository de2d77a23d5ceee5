"""OpenCV helpers shared by visiontk's demo loop and the exported runner (export/onnx_predict.py):
quiet OpenCV logging, and the video files OpenCV can write."""

from __future__ import annotations

import contextlib
from pathlib import Path

import cv2

from .errors import InputError

# Video writer codec per extension (OpenCV's builds all have these two).
FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


@contextlib.contextmanager
def quiet_opencv():
    """Silence OpenCV's own WARN lines (e.g. v4l2 on a missing camera): our error says it once."""
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is None:
        yield
        return
    old = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        logging.setLogLevel(old)


def check_save_path(path) -> None:
    """Refuse a video path OpenCV cannot write (unknown extension, missing folder, a folder) before
    any work, so that nothing is said or written first."""
    path = Path(path)
    if FOURCC.get(path.suffix.lower()) is None:
        raise InputError(f"--save {path}: unknown video extension; use one of "
                         f"{', '.join(sorted(FOURCC))}")
    if not path.parent.is_dir():
        raise InputError(f"--save {path}: folder {path.parent} does not exist")
    if path.is_dir():
        raise InputError(f"--save {path} is a folder; name a video file")
