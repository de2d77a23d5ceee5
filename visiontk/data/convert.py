"""Box datasets between formats (COCO JSON, YOLO txt, Pascal VOC XML) and previews of their ground
truth; behind `visiontk data convert` and `visiontk data preview` (TensorFlow-free).

A conversion reads and validates the whole input first, writes into a temporary folder beside the
destination and renames it into place at the end: a bad annotation leaves nothing behind.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from visiontk.data.annotations import BoxDataset, ImageRecord, from_split_data, image_size
from visiontk.data.base import dataset_reading
from visiontk.errors import DataError, SourceError

FORMATS = ("coco", "yolo", "voc")


def detect_format(path: str | Path) -> str:
    """coco / yolo / voc from a folder's layout, or a SourceError saying what was expected."""
    from visiontk.data.sources.coco import annotation_file

    root = Path(path)
    if not root.is_dir():
        raise SourceError(f"dataset folder not found: {root}")
    if annotation_file(root, "train") is not None:
        return "coco"
    if (root / "images").is_dir() and (root / "labels").is_dir():
        return "yolo"
    if (root / "Annotations").is_dir():
        return "voc"
    raise SourceError(f"{root}: cannot tell the format (expected annotations/instances_train.json "
                      f"for COCO, images/ + labels/ for YOLO, Annotations/ for VOC); pass --from")


@dataset_reading()
def read_dataset(path: str | Path, fmt: str | None = None, *, names=None, verify: bool = True) -> BoxDataset:
    """Read a dataset folder in `fmt` (default: detected from the layout)."""
    from visiontk.data.sources.coco import read_coco
    from visiontk.data.sources.voc import read_voc
    from visiontk.data.sources.yolo import read_yolo

    fmt = fmt or detect_format(path)
    if fmt == "coco":
        return read_coco(path, verify=verify)
    if fmt == "yolo":
        return read_yolo(path, names=names, verify=verify)
    if fmt == "voc":
        return read_voc(path, classes=names, verify=verify)
    raise SourceError(f"unknown format '{fmt}'; formats: {', '.join(FORMATS)}")


def read_recipe_dataset(recipe) -> BoxDataset:
    """The boxes of a recipe's data source (any source providing boxes + classes)."""
    from visiontk.data.base import make_source

    source = make_source(recipe)
    if "boxes" not in source.provides:
        raise DataError(f"data source '{recipe.data.source}' has no boxes to convert or preview")
    ds = BoxDataset(source.class_names())
    for split in source.splits():
        ds.splits[split] = from_split_data(source.load(split), split)
    return ds


def image_saver():
    """save(record, folder) -> file name: copies the file (or writes the pixels as PNG) under a
    name unique in that folder; fills the record's width and height when unknown."""
    import cv2

    used: dict = {}

    def save(rec: ImageRecord, folder: Path) -> str:
        folder.mkdir(parents=True, exist_ok=True)
        ext = rec.file.suffix.lower() if rec.file is not None else ".png"
        stem = rec.stem or (rec.file.stem if rec.file is not None else "image")
        taken = used.setdefault(folder, set())
        name, k = f"{stem}{ext}", 1
        while name in taken:
            name, k = f"{stem}_{k}{ext}", k + 1
        taken.add(name)
        if rec.file is not None:
            shutil.copyfile(rec.file, folder / name)
            if rec.width is None:
                rec.width, rec.height = image_size(rec.file)
        else:
            cv2.imwrite(str(folder / name), cv2.cvtColor(rec.pixels, cv2.COLOR_RGB2BGR))
            rec.height, rec.width = rec.pixels.shape[:2]
        return name

    return save


def write_dataset(ds: BoxDataset, dst: str | Path, fmt: str, *, force: bool = False) -> Path:
    """Write `ds` in `fmt` to `dst` atomically (temporary folder, then rename).

    Example:
        >>> write_dataset(read_dataset("shapes_coco"), "shapes_yolo", "yolo")  # doctest: +SKIP
    """
    from visiontk.data.sources.coco import write_coco
    from visiontk.data.sources.voc import write_voc
    from visiontk.data.sources.yolo import write_yolo

    writers = {"coco": write_coco, "yolo": write_yolo, "voc": write_voc}
    if fmt not in writers:
        raise SourceError(f"unknown format '{fmt}'; formats: {', '.join(FORMATS)}")
    dst = Path(dst)
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())) and not force:
        raise DataError(f"{dst} exists and is not empty; choose another destination or pass --force")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))
    try:
        writers[fmt](ds, tmp, image_saver())
        if dst.exists():
            shutil.rmtree(dst) if dst.is_dir() else dst.unlink()
        tmp.rename(dst)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dst


def summary(ds: BoxDataset) -> str:
    parts = [f"{s}: {len(r)} images, {sum(len(x.classes) for x in r)} boxes" for s, r in ds.splits.items()]
    return f"{len(ds.class_names)} classes ({', '.join(ds.class_names[:8])}" \
           f"{' ...' if len(ds.class_names) > 8 else ''}); " + "; ".join(parts)


def preview(ds: BoxDataset, out: str | Path, *, split: str = "train", count: int = 16,
            cols: int = 4, tile: int = 192) -> Path:
    """A PNG grid of the first `count` images of `split` with their ground-truth boxes and names.

    Example:
        >>> preview(read_dataset("shapes_yolo"), "grid.png")   # doctest: +SKIP
    """
    import cv2

    from visiontk.io import atomic_path
    from visiontk.runtime.draw import class_color, draw_box

    if split not in ds.splits:
        raise DataError(f"the dataset has no split '{split}'; it has: {', '.join(ds.splits)}")
    tiles = []
    for rec in ds.splits[split][:count]:
        if rec.file is not None:
            frame = cv2.imread(str(rec.file), cv2.IMREAD_COLOR)
            if frame is None:
                raise DataError(f"{rec.file}: not a readable image")
        else:
            frame = cv2.cvtColor(rec.pixels, cv2.COLOR_RGB2BGR)
        h, w = frame.shape[:2]
        scale = tile / max(h, w)
        frame = cv2.resize(frame, (max(1, round(w * scale)), max(1, round(h * scale))))
        canvas = np.zeros((tile, tile, 3), np.uint8)
        canvas[:frame.shape[0], :frame.shape[1]] = frame
        fh, fw = frame.shape[:2]
        for b, c in zip(rec.boxes, rec.classes):
            name = ds.class_names[int(c)] if int(c) < len(ds.class_names) else str(c)
            draw_box(canvas, (b[0] * fw, b[1] * fh, b[2] * fw, b[3] * fh), name, class_color(int(c)))
        tiles.append(canvas)
    if not tiles:
        raise DataError(f"split '{split}' has no images to preview")
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    grid = np.concatenate([np.concatenate(tiles[i:i + cols], 1) for i in range(0, len(tiles), cols)], 0)
    out = Path(out)
    with atomic_path(out) as tmp:
        if not cv2.imwrite(str(tmp), grid):
            raise DataError(f"{out}: cannot write an image with this extension (use .png or .jpg)")
    return out
