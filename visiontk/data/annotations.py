"""Box datasets on disk, format-neutral (TensorFlow-free): what the COCO, YOLO and VOC readers
return, what the writers take and what the `coco` / `yolo` / `voc` sources turn into a SplitData.

Every reader validates as it reads and raises one DataError naming the file and the entry (box
outside the image, negative or zero width, unknown class, missing image, malformed line), so a bad
dataset is refused before training starts or a converter writes anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from visiontk.data.base import SplitData
from visiontk.errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
# boxes may overshoot the image border by this many pixels (rounding in annotation tools); they
# are clipped. Anything further out is an error.
BORDER_TOLERANCE_PX = 1.0


@dataclass
class ImageRecord:
    """One image and its objects; boxes are normalised x1, y1, x2, y2 in [0, 1]."""

    file: Optional[Path]                       # None for in-memory images (synthetic scenes)
    boxes: np.ndarray                          # (K, 4) float64
    classes: np.ndarray                        # (K,) int
    width: Optional[int] = None
    height: Optional[int] = None
    pixels: Optional[np.ndarray] = None        # (H, W, 3) uint8 RGB when there is no file
    stem: str = ""                             # the name writers give the image (no extension)


# how to give a dataset folder of each format another split (for "has no split" messages)
SPLIT_HINTS = {
    "coco": "add {root}/annotations/instances_{split}.json (its images in {root}/images/{split}/)",
    "yolo": "add {root}/images/{split}/ (its labels in {root}/labels/{split}/)",
    "voc": "list the split's image ids, one a line, in {root}/ImageSets/Main/{split}.txt",
}


@dataclass
class BoxDataset:
    """class names + records per split; `format` and `root` when read from a folder."""

    class_names: list[str]
    splits: dict[str, list[ImageRecord]] = field(default_factory=dict)
    format: str = ""
    root: Optional[Path] = None
    origin: dict = field(default_factory=dict)   # where a generated dataset came from (source, seed, split rule)

    def check_split(self, split: str) -> None:
        from visiontk.data.base import missing_split

        if split not in self.splits:
            hint = SPLIT_HINTS.get(self.format, "").format(root=self.root, split=split)
            raise DataError(missing_split(f"the dataset {self.root or ''}".rstrip(), split,
                                          self.splits, hint))


def check_box(x1, y1, x2, y2, width, height, where: str) -> tuple[float, float, float, float]:
    """Validate a box in pixels; returns it clipped to the image.

    Raises:
        DataError naming `where` when the box has a negative or zero size or lies outside the
        image by more than BORDER_TOLERANCE_PX.
    """
    values = (x1, y1, x2, y2)
    if not all(np.isfinite(values)):
        raise DataError(f"{where}: box has a non-numeric coordinate {list(values)}")
    if x2 - x1 <= 0 or y2 - y1 <= 0:
        raise DataError(f"{where}: box has {'negative' if min(x2 - x1, y2 - y1) < 0 else 'zero'} "
                        f"width or height (x1={x1:g}, y1={y1:g}, x2={x2:g}, y2={y2:g}); fix or "
                        f"remove this entry")
    t = BORDER_TOLERANCE_PX
    if width is not None and height is not None and (
            x1 < -t or y1 < -t or x2 > width + t or y2 > height + t):
        raise DataError(f"{where}: box (x1={x1:g}, y1={y1:g}, x2={x2:g}, y2={y2:g}) lies outside "
                        f"the {width}x{height} image; fix or remove this entry")
    if width is None:
        return x1, y1, x2, y2
    return max(x1, 0.0), max(y1, 0.0), min(x2, float(width)), min(y2, float(height))


def check_class(cls, class_names: list, where: str, what: str = "class id") -> int:
    if isinstance(cls, str):
        if not re.fullmatch(r"-?[0-9]+", cls):
            raise DataError(f"{where}: {what} {shown(cls)} is not an integer")
        cls = int(cls)
    c = cls
    if not 0 <= c < len(class_names):
        raise DataError(f"{where}: unknown {what} {c} (the dataset has {len(class_names)} classes: "
                        f"{', '.join(map(str, class_names[:10]))}{' ...' if len(class_names) > 10 else ''})")
    return c


def shown(value, limit: int = 60) -> str:
    """repr(value), cut to `limit` characters (a message stays one short line)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def as_int(value, where: str, what: str, *, minimum: int | None = None) -> int:
    """A JSON number that is a whole number (64 or 64.0; not True, "64" or 64.5), else a DataError
    naming the entry and the field."""
    ok = not isinstance(value, bool) and (
        isinstance(value, int) or (isinstance(value, float) and value.is_integer()))
    if not ok:
        raise DataError(f"{where}: '{what}' must be a whole number, got {shown(value)}; fix the entry")
    if minimum is not None and value < minimum:
        raise DataError(f"{where}: '{what}' must be at least {minimum}, got {shown(value)}; fix the "
                        f"entry")
    return int(value)


def read_text(path: Path) -> str:
    """A UTF-8 text file (a byte-order mark is allowed), or a DataError naming it."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a UTF-8 text file (undecodable byte at offset {exc.start}); "
                        f"save it as UTF-8") from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None


def require_image(path: Path, where: str) -> Path:
    if not path.is_file():
        raise DataError(f"{where}: image file not found: {path}")
    return path


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the image header (no full decode: `verify: false`), or a DataError."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size
    except Exception as exc:
        raise DataError(f"{path}: not a readable image ({type(exc).__name__}); replace or remove "
                        f"it") from None


def verify_sizes(records: list[ImageRecord], wheres: list[str]) -> None:
    """Decode every record's image completely, as training will (visiontk.data.image_check), and
    check the declared size against it (setting it where the annotation had none).

    Raises:
        DataError naming the file (and `wheres[i]`, what refers to it): unreadable, truncated, or
        a size that differs from the declared one.
    """
    from visiontk.data.image_check import check_images

    with_file = [i for i, r in enumerate(records) if r.file is not None]
    sizes = check_images([records[i].file for i in with_file], [wheres[i] for i in with_file])
    for i, (w, h) in zip(with_file, sizes):
        rec = records[i]
        if rec.width is not None and (rec.width, rec.height) != (w, h):
            raise DataError(f"{wheres[i]}: declares the image as {rec.width}x{rec.height} but "
                            f"{rec.file} is {w}x{h}; fix the width/height fields")
        rec.width, rec.height = w, h


def to_split_data(records: list[ImageRecord], max_objects: int | None = None) -> SplitData:
    """Records -> SplitData with `boxes`, `classes` (padded with -1), `count`, and the largest
    object as `box` / `label` (single-object tasks); images as file paths or one uint8 array."""
    if not records:
        raise DataError("the split has no images")
    m = max_objects or max(1, max(len(r.classes) for r in records))
    n = len(records)
    ann = {"boxes": np.zeros((n, m, 4), np.float32), "classes": np.full((n, m), -1, np.int32),
           "count": np.zeros(n, np.float32), "box": np.zeros((n, 4), np.float32),
           "label": np.zeros(n, np.int32)}
    for i, r in enumerate(records):
        k = len(r.classes)
        if k:
            area = (r.boxes[:, 2] - r.boxes[:, 0]) * (r.boxes[:, 3] - r.boxes[:, 1])
            order = np.argsort(-area, kind="stable")[:m]        # largest first, as synthetic scenes
            ann["boxes"][i, :len(order)] = r.boxes[order]
            ann["classes"][i, :len(order)] = r.classes[order]
            ann["box"][i] = r.boxes[order[0]]
            ann["label"][i] = r.classes[order[0]]
        ann["count"][i] = k
    if all(r.file is not None for r in records):
        images = [str(r.file) for r in records]
        return SplitData(images, ann, files=images)
    return SplitData(np.stack([r.pixels for r in records]), ann,
                     files=[r.stem or str(i) for i, r in enumerate(records)])


def from_split_data(data: SplitData, prefix: str) -> list[ImageRecord]:
    """SplitData (e.g. synthetic scenes) -> records (for the converters and preview)."""
    recs = []
    classes_all = np.asarray(data.annotations["classes"])
    boxes_all = np.asarray(data.annotations["boxes"], np.float64)
    for i in range(len(data)):
        keep = classes_all[i] >= 0
        if isinstance(data.images, np.ndarray):
            px = np.asarray(data.images[i])
            if px.dtype != np.uint8:
                px = (np.clip(px, 0, 1) * 255).round().astype(np.uint8)
            if px.ndim == 3 and px.shape[-1] == 1:
                px = np.repeat(px, 3, -1)
            recs.append(ImageRecord(None, boxes_all[i][keep], classes_all[i][keep].astype(int),
                                    px.shape[1], px.shape[0], px, f"{prefix}_{i:06d}"))
        else:
            f = Path(data.images[i])
            recs.append(ImageRecord(f, boxes_all[i][keep], classes_all[i][keep].astype(int),
                                    stem=f.stem))
    return recs
