"""Generated test videos (no camera here): moving filled shapes on a textured background."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

FOURCC = {".avi": "MJPG", ".mp4": "mp4v"}


def scene_frames(n: int, size=(96, 72), seed: int = 0) -> list[np.ndarray]:
    w, h = size
    rng = np.random.default_rng(seed)
    base = (rng.random((h, w, 3)) * 40 + 50).astype(np.uint8)
    frames = []
    for i in range(n):
        img = base.copy()
        cv2.circle(img, (int(w * 0.25 + i * 2) % w, h // 2), max(4, h // 6), (0, 200, 255), -1)
        cv2.rectangle(img, (w // 2, h // 5), (w // 2 + h // 4, h // 5 + h // 4), (255, 90, 30), -1)
        frames.append(img)
    return frames


def write_video(path: Path, n: int = 12, size=(96, 72), fps: float = 12.0) -> list[np.ndarray]:
    """Write `n` frames to `path` (.avi MJPG or .mp4 mp4v); returns the frames written."""
    frames = scene_frames(n, size)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*FOURCC[Path(path).suffix]), fps, size)
    assert writer.isOpened()
    for f in frames:
        writer.write(f)
    writer.release()
    return frames


def read_video(path: Path) -> tuple[list[np.ndarray], float]:
    """(all frames, fps) of a video file; an unplayable file gives ([], 0)."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    return frames, fps
