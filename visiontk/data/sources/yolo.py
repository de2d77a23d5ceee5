"""`yolo`: YOLO txt labels (`class cx cy w h` per line, normalised to the image) + a names list.

Layout (Ultralytics'; what `visiontk data convert --to yolo` writes):

    ROOT/images/train/*.png   ROOT/labels/train/*.txt   (val/, test/ likewise)
    ROOT/classes.txt          one class name per line (or ROOT/data.yaml with `names:`)

An image without a label file has no objects; a label file without its image is an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from visiontk.data.annotations import (IMAGE_EXTENSIONS, BoxDataset, ImageRecord, check_box,
                                       check_class, read_text, shown, verify_sizes)
from visiontk.data.sources.coco import SPLITS, BoxFolderSource
from visiontk.errors import DataError, SourceError
from visiontk.recipe.fields import PositiveInt, Strict
from visiontk.catalog import SOURCES


def _lines(path: Path) -> list[str]:
    return [ln.strip() for ln in read_text(path).splitlines() if ln.strip()]


def _yaml_names(path: Path) -> Optional[list[str]]:
    """`names` of an Ultralytics data.yaml: a list, or a mapping {0: name, 1: name, ...}."""
    import yaml

    try:
        spec = yaml.safe_load(read_text(path))
    except yaml.YAMLError as exc:
        raise DataError(f"{path}: malformed YAML: {str(exc).splitlines()[0]}") from None
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise DataError(f"{path}: expected a mapping with 'names', got a {type(spec).__name__}")
    names = spec.get("names")
    if names is None:
        return None
    if isinstance(names, dict):
        keys = list(names)
        if not all(isinstance(k, int) and not isinstance(k, bool) for k in keys) or \
                set(keys) != set(range(len(keys))):
            raise DataError(f"{path}: 'names' maps class ids to names, so its keys must be 0 to "
                            f"{len(keys) - 1}, got {shown(keys)}")
        names = [names[k] for k in range(len(keys))]
    if not isinstance(names, list) or not names:
        raise DataError(f"{path}: 'names' must be a list of class names, got {shown(names)}")
    for i, n in enumerate(names):     # scalars only: str() of a nested alias could be huge
        if not isinstance(n, (str, int, float)) or isinstance(n, bool) or str(n).strip() == "":
            raise DataError(f"{path}: names[{i}] must be a class name, got {shown(n)}")
    return [str(n) for n in names]


def read_names(root: Path) -> list[str]:
    """Class names from ROOT/classes.txt (or obj.names), else ROOT/data.yaml `names`."""
    for name in ("classes.txt", "obj.names"):
        if (root / name).is_file():
            names = _lines(root / name)
            if not names:
                raise DataError(f"{root / name}: no class names (one a line); add them")
            return names
    if (root / "data.yaml").is_file():
        names = _yaml_names(root / "data.yaml")
        if names:
            return names
    raise SourceError(f"{root}: no class names (write one per line to {root / 'classes.txt'}, or "
                      f"set data.params.names)")


def parse_label_file(path: Path, names: list[str], size) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (normalised x1, y1, x2, y2) and classes of one label file; errors name the line."""
    boxes, classes = [], []
    w, h = size if size is not None else (None, None)
    for n, line in enumerate(read_text(path).splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        where = f"{path} line {n}"
        if len(parts) != 5:
            polygon = " (a segmentation polygon? only boxes are read)" if len(parts) > 5 else ""
            raise DataError(f"{where}: expected 'class cx cy w h' (5 fields), got "
                            f"{shown(line.strip())}{polygon}; fix the line")
        cls = check_class(parts[0], names, where)
        try:
            cx, cy, bw, bh = map(float, parts[1:])
        except ValueError:
            raise DataError(f"{where}: cx cy w h must be numbers, got {shown(' '.join(parts[1:]))}") \
                from None
        x1, y1, x2, y2 = cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2
        if w is not None:      # check in pixels (with the usual one-pixel tolerance)
            x1, y1, x2, y2 = (v / s for v, s in zip(check_box(x1 * w, y1 * h, x2 * w, y2 * h, w, h, where),
                                                     (w, h, w, h)))
        else:
            x1, y1, x2, y2 = check_box(x1, y1, x2, y2, 1.0, 1.0, where)
        boxes.append((x1, y1, x2, y2))
        classes.append(cls)
    return np.array(boxes, np.float64).reshape(-1, 4), np.array(classes, int)


def _images_by_stem(folder: Path) -> dict:
    out = {}
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file():
            out.setdefault(p.stem, p)
    return out


def read_yolo(root: str | Path, *, names: Optional[list[str]] = None, verify: bool = True) -> BoxDataset:
    """Every split under ROOT/images/<split> (train required).

    Example:
        >>> ds = read_yolo("data/shapes_yolo")                   # doctest: +SKIP
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise SourceError(f"data.params.path: folder not found: {root}")
    ds = BoxDataset(list(names) if names else read_names(root), format="yolo", root=root)
    for split in SPLITS:
        img_dir, lbl_dir = root / "images" / split, root / "labels" / split
        if not img_dir.is_dir():
            continue
        images = _images_by_stem(img_dir)
        labels = {p.stem: p for p in sorted(lbl_dir.glob("*.txt")) if p.is_file()} \
            if lbl_dir.is_dir() else {}
        orphans = sorted(set(labels) - set(images))
        if orphans:
            raise DataError(f"{labels[orphans[0]]}: image file not found: no "
                            f"{img_dir / orphans[0]}.{{{','.join(e[1:] for e in IMAGE_EXTENSIONS)}}}")
        records = [ImageRecord(img, np.zeros((0, 4)), np.zeros(0, int), stem=stem)
                   for stem, img in images.items()]
        if verify:
            verify_sizes(records, [str(r.file) for r in records])
        for rec in records:
            if rec.stem in labels:
                size = (rec.width, rec.height) if verify else None
                rec.boxes, rec.classes = parse_label_file(labels[rec.stem], ds.class_names, size)
        ds.splits[split] = records
    if "train" not in ds.splits or not ds.splits["train"]:
        raise SourceError(f"{root}: no training images (expected {root}/images/train/*.jpg|png and "
                          f"{root}/labels/train/*.txt)")
    return ds


def write_yolo(ds: BoxDataset, dst: Path, save_image) -> None:
    """ROOT/images/<split>/, ROOT/labels/<split>/<stem>.txt, ROOT/classes.txt and data.yaml."""
    import yaml

    for split, records in ds.splits.items():
        (dst / "labels" / split).mkdir(parents=True, exist_ok=True)
        for rec in records:
            name = save_image(rec, dst / "images" / split)
            lines = []
            for b, c in zip(rec.boxes, rec.classes):
                cx, cy, bw, bh = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[2] - b[0], b[3] - b[1]
                lines.append(f"{int(c)} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}")
            (dst / "labels" / split / f"{Path(name).stem}.txt").write_text(
                "".join(ln + "\n" for ln in lines), encoding="utf-8")
    (dst / "classes.txt").write_text("".join(n + "\n" for n in ds.class_names), encoding="utf-8")
    spec = {"path": ".", **{s: f"images/{s}" for s in ds.splits}, "names": list(ds.class_names)}
    (dst / "data.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")


class YoloConfig(Strict):
    path: str
    names: Optional[list[str]] = None     # default: ROOT/classes.txt or ROOT/data.yaml names
    verify: bool = True
    max_objects: Optional[PositiveInt] = None


@SOURCES.register("yolo")
class YoloSource(BoxFolderSource):
    name = "yolo"
    Config = YoloConfig

    def read(self):
        return read_yolo(self.cfg.path, names=self.cfg.names, verify=self.cfg.verify)
