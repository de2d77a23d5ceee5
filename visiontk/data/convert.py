"""Box datasets between formats (COCO JSON, YOLO txt, Pascal VOC XML) and previews of their ground
truth; behind `visiontk data convert` and `visiontk data preview` (TensorFlow-free).

A conversion reads and validates the whole input first, writes into a temporary folder beside the
destination and renames it into place at the end: a bad annotation leaves nothing behind. The
destination gets a small visiontk-dataset.json (MARKER); `--force` replaces a folder holding one and
nothing else (visiontk.owned: never a user's folder, the working directory, a parent of it, a link).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from visiontk.data.annotations import BoxDataset, ImageRecord, from_split_data, image_size
from visiontk.data.base import dataset_reading
from visiontk.data.image_check import check_images
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


def read_recipe_dataset(recipe, *, split: str | None = None, limit: int | None = None) -> BoxDataset:
    """The boxes of a recipe's data source (any source providing boxes + classes).

    Args:
        split: read only this split (a SourceError saying how to make it when the source lacks it).
        limit: only the first `limit` images of each split (a generating source generates no more).
    """
    from visiontk.data.make import make_source

    source = make_source(recipe)
    if "boxes" not in source.provides:
        raise DataError(f"data source '{recipe.data.source}' has no boxes to convert or preview")
    if split is not None:
        source.check_split(split)
    ds = BoxDataset(source.class_names())
    ds.origin = {"source": recipe.data.source, "seed": recipe.seed,
                 **{k: v for k, v in source.extra_info().items() if k == "split_rule"}}
    for name in source.splits() if split is None else (split,):
        data = source.load(name) if limit is None else source.head(name, limit)
        ds.splits[name] = from_split_data(data, name)
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


MARKER = "visiontk-dataset.json"      # written into every converted dataset: `--force` replaces only these
_WRITER = "visiontk data convert"
_WHAT = "a converted dataset"


def is_converted_dataset(path: Path) -> bool:
    """True for a folder `write_dataset` wrote (it holds MARKER naming visiontk)."""
    marker = Path(path) / MARKER
    try:
        return Path(path).is_dir() and json.loads(marker.read_text(encoding="utf-8")).get(
            "written_by") == _WRITER
    except (OSError, ValueError, AttributeError):
        return False


def check_destination(dst: str | Path, *, force: bool = False) -> None:
    """Refuse a destination `write_dataset` must not replace: without `force` anything that exists
    and is not an empty folder; with `force` anything but a dataset visiontk converted (never the
    working directory, a parent of it, the home directory, / or a symbolic link)."""
    from visiontk.owned import check_replaceable

    if not str(dst).strip():
        raise DataError("the destination is empty; name a folder to write the dataset to")
    dst = Path(dst)
    if not force and not dst.is_symlink() and dst.exists() and not (dst.is_dir() and not any(dst.iterdir())):
        if is_converted_dataset(dst):
            raise DataError(f"{dst} holds a dataset visiontk converted; pass --force to replace it or "
                            f"choose another destination")
        raise DataError(f"{dst} exists and is not empty; choose another destination (visiontk "
                        f"replaces only {_WHAT} it wrote itself)")
    check_replaceable(dst, what=_WHAT, is_ours=is_converted_dataset, error=DataError)


def write_dataset(ds: BoxDataset, dst: str | Path, fmt: str, *, force: bool = False) -> Path:
    """Write `ds` in `fmt` to `dst` atomically (temporary folder, then rename), with MARKER.

    Args:
        force: replace `dst` when it holds a dataset visiontk converted (never anything else).

    Example:
        >>> write_dataset(read_dataset("shapes_coco"), "shapes_yolo", "yolo")  # doctest: +SKIP
    """
    from visiontk.data.sources.coco import write_coco
    from visiontk.data.sources.voc import write_voc
    from visiontk.data.sources.yolo import write_yolo
    from visiontk.owned import remove_replaceable

    writers = {"coco": write_coco, "yolo": write_yolo, "voc": write_voc}
    if fmt not in writers:
        raise SourceError(f"unknown format '{fmt}'; formats: {', '.join(FORMATS)}")
    check_destination(dst, force=force)
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))
    try:
        writers[fmt](ds, tmp, image_saver())
        marker = {"written_by": _WRITER, "format": fmt, "classes": list(ds.class_names),
                  "splits": {s: len(r) for s, r in ds.splits.items()}}
        if ds.origin:
            marker["origin"] = ds.origin
        (tmp / MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")
        if dst.exists():
            remove_replaceable(dst, what=_WHAT, is_ours=is_converted_dataset, error=DataError)
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
    The image files drawn are decoded strictly first, even with `--no-verify` (a damaged one is
    named; OpenCV would draw it with a grey bottom and print libjpeg's complaint on stderr).

    Example:
        >>> preview(read_dataset("shapes_yolo"), "grid.png")   # doctest: +SKIP
    """
    import cv2

    from visiontk.io import atomic_path
    from visiontk.runtime.draw import class_color, draw_box

    ds.check_split(split)
    drawn = ds.splits[split][:count]
    check_images([r.file for r in drawn if r.file is not None])
    tiles = []
    for rec in drawn:
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
