"""`voc`: Pascal VOC XML annotations + images; reader, writer and source.

Layout (the VOC devkit's; what `visiontk data convert --to voc` writes):

    ROOT/Annotations/<id>.xml   ROOT/JPEGImages/<file>   ROOT/ImageSets/Main/<split>.txt (ids)
    ROOT/classes.txt            optional: class order (else data.params.classes, else sorted names)

Coordinates are VOC's 1-based pixel indices: a box covering pixels xmin..xmax (inclusive) spans
[xmin - 1, xmax] in continuous coordinates, which is what the other formats store.
Objects marked `difficult` are kept like any other.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Optional

import numpy as np

from visiontk.data.annotations import (BoxDataset, ImageRecord, check_box, read_text,
                                       require_image, shown, verify_sizes)
from visiontk.data.sources.coco import SPLITS, BoxFolderSource
from visiontk.errors import DataError, SourceError
from visiontk.recipe.fields import PositiveInt, Strict
from visiontk.catalog import SOURCES


def _text(node, path: str, where: str) -> str:
    found = node.find(path)
    if found is None or found.text is None or not found.text.strip():
        raise DataError(f"{where}: missing <{path}>")
    return found.text.strip()


def _number(node, path: str, where: str) -> float:
    text = _text(node, path, where)
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value):
        raise DataError(f"{where}: <{path}> must be a number, got {shown(text)}")
    return value


def _size(node, path: str, where: str) -> int:
    value = _number(node, path, where)
    if not value.is_integer() or value < 1:
        raise DataError(f"{where}: <{path}> must be a whole number of pixels (1 or more), got "
                        f"{shown(_text(node, path, where))}")
    return int(value)


def parse_xml(path: Path, images: Path):
    """(image path, width, height, [(name, x1, y1, x2, y2) in continuous pixels]) of one file."""
    try:
        root = ET.fromstring(path.read_bytes())       # bytes: the XML declares its encoding
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ET.ParseError as exc:
        line, col = exc.position
        raise DataError(f"{path}: malformed XML at line {line} column {col}: "
                        f"{str(exc).split(':')[0]}") from None
    where = str(path)
    name = (root.findtext("filename") or "").strip() or f"{path.stem}.jpg"
    if "\0" in name:
        raise DataError(f"{where}: <filename> {shown(name)} is not a file name")
    w = _size(root, "size/width", where)
    h = _size(root, "size/height", where)
    objects = []
    for k, obj in enumerate(root.findall("object"), 1):
        label = (obj.findtext("name") or "").strip()
        at = f"{path} object {k}" + (f" ('{label}')" if label else "")
        if not label:
            raise DataError(f"{at}: missing <name>")
        xmin, ymin = _number(obj, "bndbox/xmin", at), _number(obj, "bndbox/ymin", at)
        xmax, ymax = _number(obj, "bndbox/xmax", at), _number(obj, "bndbox/ymax", at)
        objects.append((label, *check_box(xmin - 1, ymin - 1, xmax, ymax, w, h, at)))
    return images / name, w, h, objects


def _ids(listing: Path) -> list[tuple[int, str]]:
    return [(n, line.split()[0]) for n, line in enumerate(read_text(listing).splitlines(), 1)
            if line.split()]


def read_voc(root: str | Path, *, classes: Optional[list[str]] = None, verify: bool = True) -> BoxDataset:
    """Every split listed in ROOT/ImageSets/Main/<split>.txt (train required).

    Example:
        >>> ds = read_voc("VOCdevkit/VOC2007", classes=["dog", "cat"])   # doctest: +SKIP
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise SourceError(f"data.params.path: folder not found: {root}")
    lists = {s: root / "ImageSets" / "Main" / f"{s}.txt" for s in SPLITS}
    lists = {s: p for s, p in lists.items() if p.is_file()}
    if "train" not in lists:
        raise SourceError(f"{root}: no {root / 'ImageSets/Main/train.txt'} (one image id per line; "
                          f"val.txt and test.txt likewise)")
    if classes is None and (root / "classes.txt").is_file():
        classes = [ln.strip() for ln in read_text(root / "classes.txt").splitlines() if ln.strip()]
    parsed: dict = {}
    for split, listing in lists.items():
        parsed[split] = []
        for n, image_id in _ids(listing):
            xml = root / "Annotations" / f"{image_id}.xml"
            if "\0" in image_id or not xml.is_file():
                raise DataError(f"{listing} line {n}: annotation file not found: {xml}")
            image, w, h, objects = parse_xml(xml, root / "JPEGImages")
            require_image(image, str(xml))
            parsed[split].append((xml, image, w, h, objects))
        if not parsed[split]:
            raise DataError(f"{listing}: lists no image ids (one a line); add them or remove the file")
    names = list(classes) if classes else sorted({o[0] for items in parsed.values()
                                                 for *_, objs in items for o in objs})
    index = {n: i for i, n in enumerate(names)}
    ds = BoxDataset(names, format="voc", root=root)
    for split, items in parsed.items():
        records = []
        for xml, image, w, h, objects in items:
            for k, (label, *_) in enumerate(objects, 1):
                if label not in index:
                    raise DataError(f"{xml} object {k}: unknown class '{label}' (classes: "
                                    f"{', '.join(names)}); add it to data.params.classes or fix it")
            records.append(ImageRecord(
                image, np.array([o[1:] for o in objects], np.float64).reshape(-1, 4) / [w, h, w, h],
                np.array([index[o[0]] for o in objects], int), w, h, stem=xml.stem))
        if verify:
            verify_sizes(records, [str(xml) for xml, *_ in items])
        ds.splits[split] = records
    return ds


def write_voc(ds: BoxDataset, dst: Path, save_image) -> None:
    """ROOT/Annotations, ROOT/JPEGImages, ROOT/ImageSets/Main/<split>.txt and ROOT/classes.txt."""
    (dst / "Annotations").mkdir(parents=True, exist_ok=True)
    (dst / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
    for split, records in ds.splits.items():
        ids = []
        for rec in records:
            name = save_image(rec, dst / "JPEGImages")
            stem = Path(name).stem
            ids.append(stem)
            ann = ET.Element("annotation")
            ET.SubElement(ann, "folder").text = "JPEGImages"
            ET.SubElement(ann, "filename").text = name
            size = ET.SubElement(ann, "size")
            for tag, v in (("width", rec.width), ("height", rec.height), ("depth", 3)):
                ET.SubElement(size, tag).text = str(v)
            for b, c in zip(rec.boxes, rec.classes):
                obj = ET.SubElement(ann, "object")
                ET.SubElement(obj, "name").text = ds.class_names[int(c)]
                ET.SubElement(obj, "difficult").text = "0"
                box = ET.SubElement(obj, "bndbox")
                px = b * [rec.width, rec.height, rec.width, rec.height] + [1, 1, 0, 0]
                for tag, v in zip(("xmin", "ymin", "xmax", "ymax"), px):
                    ET.SubElement(box, tag).text = f"{v:.3f}".rstrip("0").rstrip(".")
            ET.indent(ann)
            ET.ElementTree(ann).write(dst / "Annotations" / f"{stem}.xml", encoding="utf-8")
        (dst / "ImageSets" / "Main" / f"{split}.txt").write_text("".join(i + "\n" for i in ids),
                                                                 encoding="utf-8")
    (dst / "classes.txt").write_text("".join(n + "\n" for n in ds.class_names), encoding="utf-8")


class VocConfig(Strict):
    path: str
    classes: Optional[list[str]] = None   # class order; default ROOT/classes.txt, else sorted names
    verify: bool = True
    max_objects: Optional[PositiveInt] = None


@SOURCES.register("voc", aliases=("pascal-voc",))
class VocSource(BoxFolderSource):
    name = "voc"
    Config = VocConfig

    def read(self):
        return read_voc(self.cfg.path, classes=self.cfg.classes, verify=self.cfg.verify)
