"""Where `visiontk predict` writes its predictions, one row at a time (nothing is held in memory):

- `jsonl` (default): one JSON object per image, or per video frame, as `visiontk predict` always
  printed them: {"image": PATH, "task": ..., the task's fields} or {"video": PATH, "frame": I, ...};
- `csv`: flat columns per task (visiontk/infer/csv_layout.py);
- `coco`: COCO detection results, a JSON list of {image_id, category_id, bbox [x, y, w, h] in pixels
  of the original image, score}, which pycocotools' `COCO.loadRes` reads (ids: coco_ids.py).

Each writer takes a text stream: stdout, or the temporary file `--out FILE` is renamed from at the
end (an interrupted or failed run leaves no half-written file under that name).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TextIO

from visiontk.infer.csv_layout import PREFIX, layout

FORMATS = ("jsonl", "csv", "coco")
BOX_TASKS = ("detection", "localization")        # predictions with `boxes`: --format coco


class JsonArray:
    """A JSON list written element by element (`[`, then each element, then `]` at close)."""

    def __init__(self, stream: TextIO):
        self.stream, self.n = stream, 0
        stream.write("[")

    def add(self, obj) -> None:
        self.stream.write(("," if self.n else "") + "\n" + json.dumps(obj))
        self.n += 1

    def close(self) -> None:
        self.stream.write("\n]\n" if self.n else "]\n")


class JsonLines:
    """One JSON object per line: the row `visiontk predict` prints."""

    def __init__(self, stream: TextIO, meta: dict):
        self.stream = stream

    def write(self, row: dict, prediction, item) -> None:
        self.stream.write(json.dumps(row) + "\n")

    def close(self) -> None:
        pass


class CsvRows:
    """A header, then the rows of each prediction (csv_layout.py); the header of a task without its
    own layout is taken from the first prediction."""

    def __init__(self, stream: TextIO, meta: dict):
        self.stream, self.meta = stream, meta
        self.writer = None
        self.rows = None

    def _start(self, first: dict) -> None:
        columns, self.rows = layout(self.meta, first)
        self.writer = csv.DictWriter(self.stream, columns, extrasaction="ignore",
                                     lineterminator="\n")
        self.writer.writeheader()

    def write(self, row: dict, prediction, item) -> None:
        if self.writer is None:
            self._start(row)
        prefix = {"image": row.get("image", row.get("video")), "frame": row.get("frame")}
        for r in self.rows(row):
            self.writer.writerow({**prefix, **r})

    def close(self) -> None:
        if self.writer is None:                         # no prediction: the header alone
            self.stream.write(",".join(PREFIX) + "\n")


class CocoResults:
    """COCO detection results: one entry per box, boxes at full precision (the mAP pycocotools
    computes from them is the one `visiontk evaluate` reports for the same detections)."""

    def __init__(self, stream: TextIO, meta: dict):
        from visiontk.infer.coco_ids import CocoIds

        self.ids = CocoIds(meta.get("class_names") or [])
        self.array = JsonArray(stream)

    def write(self, row: dict, prediction, item) -> None:
        if item.kind != "image":
            from visiontk.errors import DataError

            raise DataError(f"{item.path}: --format coco takes images (COCO results name an image "
                            f"per box); predict videos and streams with --format jsonl or csv")
        image_id = self.ids.image_id(item.path, item.image_id)
        for b in prediction.boxes:
            self.array.add({"image_id": image_id, "category_id": self.ids.category_id(b.cls),
                            "bbox": [float(b.x1), float(b.y1), float(b.x2 - b.x1),
                                     float(b.y2 - b.y1)],
                            "score": float(b.score)})

    def close(self) -> None:
        self.array.close()


WRITERS = {"jsonl": JsonLines, "csv": CsvRows, "coco": CocoResults}


def format_for(fmt: str | None, out: Path | None) -> str:
    """The format asked for, else the one --out's suffix names (.csv: csv), else jsonl."""
    if fmt:
        return fmt
    return "csv" if out is not None and out.suffix.lower() == ".csv" else "jsonl"


def looks_like_predictions(path: Path) -> bool:
    """True when the file starts as `visiontk predict` writes its files (--force replaces only
    those)."""
    try:
        with open(path, encoding="utf-8") as f:
            head = f.read(4096)
    except (OSError, UnicodeDecodeError):
        return False
    first = head.split("\n", 1)[0]
    if first.startswith(",".join(PREFIX)):
        return True                                              # csv
    if first.startswith("{"):
        try:
            return "task" in json.loads(first)                  # jsonl
        except ValueError:
            return False
    return first.startswith("[") and ('"image_id"' in head or head.strip() == "[]")   # coco
