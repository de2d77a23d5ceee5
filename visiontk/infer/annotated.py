"""Annotated copies that `visiontk predict --save-dir DIR` writes: each image as DIR/<stem>_pred.png
(below a folder SOURCE, in the same sub-folders), each video or camera as DIR/<stem>_pred.mp4 at its
own frame rate, and every row in DIR/predictions.json (a JSON list, written as the rows come)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import cv2


class Annotated:
    """Draws with the predictor's task overlay and writes the copies; `close()` completes the
    videos and predictions.json (a failed run removes the unfinished predictions.json)."""

    def __init__(self, folder: Path, predictor):
        from visiontk.infer.writers import JsonArray
        from visiontk.io import naming_path

        self.folder, self.predictor = Path(folder), predictor
        with naming_path(self.folder):
            self.folder.mkdir(parents=True, exist_ok=True)
        self.json_path = self.folder / "predictions.json"
        self._tmp = self.folder / ".predictions.json.tmp"
        self._file = open(self._tmp, "w", encoding="utf-8")
        self.rows = JsonArray(self._file)
        self.videos: dict = {}              # item path -> (Writer or None, fps, size)

    def image(self, item, frame, prediction, row: dict) -> None:
        from visiontk.io import atomic_path

        rel = Path(item.rel or Path(item.path).name)
        with atomic_path(self.folder / rel.parent / f"{rel.stem}_pred.png") as tmp:
            cv2.imwrite(str(tmp), self.predictor.draw(frame, prediction))
        self.rows.add(row)

    def video_start(self, item, fps: float, size: Optional[tuple]) -> None:
        self.videos[item.path] = [None, fps, size]

    def video_frame(self, item, frame, prediction, row: dict) -> None:
        from visiontk.infer.video import Writer

        entry = self.videos.setdefault(item.path, [None, 30.0, None])
        if entry[0] is None:
            stem = Path(item.rel or Path(item.path).name).stem
            entry[0] = Writer(self.folder / f"{stem}_pred.mp4", entry[1],
                              entry[2] or (frame.shape[1], frame.shape[0]))
        entry[0].write(self.predictor.draw(frame, prediction))
        self.rows.add(row)

    def video_end(self, item) -> None:
        self._close_video(item.path)

    def _close_video(self, path: str) -> None:
        entry = self.videos.pop(path, None)
        if entry and entry[0] is not None:
            entry[0].close()              # complete and playable, also after an error

    def close(self, ok: bool = True) -> None:
        if self._file.closed:
            return
        try:
            for path in list(self.videos):
                self._close_video(path)         # raises when encoding a frame failed
        except BaseException:
            ok = False
            raise
        finally:
            self.rows.close()
            self._file.close()
            if ok:
                self._tmp.replace(self.json_path)
            else:
                self._tmp.unlink(missing_ok=True)
