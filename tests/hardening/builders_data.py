"""Builders of tiny (bad) datasets for the hardening tests: images whole and damaged, one small
dataset per source (image-folder, COCO, YOLO, VOC, masks, CSV counts, Fashion-MNIST) with an edit
hook, and a tiny recipe that trains on it (output runs/x, relative to the sandbox)."""

from __future__ import annotations

import gzip
import io
import json
import struct
from pathlib import Path
from typing import Callable, Optional

import cv2
import numpy as np
import yaml
from PIL import Image

from tests.conftest import TINY, deep_update

H, W = 12, 16                     # every image: 16 x 12 pixels


def picture(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 255, (H, W, 3), np.uint8), (3, 3), 0)


def image_bytes(kind: str = "png", seed: int = 0) -> bytes:
    """png, jpg, and damaged kinds: truncated-jpg, truncated-png, tiff, 16-bit-bmp, empty, text."""
    img = picture(seed)
    if kind in ("png", "jpg"):
        return cv2.imencode(f".{kind}", img)[1].tobytes()
    if kind.startswith("truncated-"):
        data = image_bytes(kind.split("-")[1], seed)
        return data[:len(data) // 2]
    if kind == "tiff":
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, "TIFF")
        return buf.getvalue()
    if kind == "16-bit-bmp":
        data = cv2.imencode(".bmp", img)[1].tobytes()
        return data[:28] + struct.pack("<H", 16) + data[30:]
    return {"empty": b"", "text": b"not an image"}[kind]


def put(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


# ---- datasets (each returns its root; `edit(root)` damages it) ---------------------------------

def image_folder(box: Path) -> Path:
    root = box / "imgs"
    for c, name in enumerate(("a", "b")):
        for i in range(4):
            put(root / name / f"{i}.png", image_bytes("png", 10 * c + i))
    return root


def coco(box: Path) -> Path:
    root = box / "coco"
    images = [{"id": i + 1, "file_name": f"{i}.png", "width": W, "height": H} for i in range(4)]
    anns = [{"id": i + 1, "image_id": i + 1, "category_id": 1 + i % 2, "bbox": [2, 2, 8, 6],
             "iscrowd": 0} for i in range(4)]
    cats = [{"id": 1, "name": "circle"}, {"id": 2, "name": "square"}]
    for i in range(4):
        put(root / "images" / "train" / f"{i}.png", image_bytes("png", i))
    put(root / "annotations" / "instances_train.json",
        json.dumps({"images": images, "annotations": anns, "categories": cats}, indent=1))
    return root


def coco_edit(fn: Callable[[dict], None]) -> Callable[[Path], None]:
    """An edit of the COCO train JSON as a dict."""
    def edit(root: Path):
        path = root / "annotations" / "instances_train.json"
        data = json.loads(path.read_text())
        fn(data)
        path.write_text(json.dumps(data, indent=1))
    return edit


def yolo(box: Path) -> Path:
    root = box / "yolo"
    for i in range(4):
        put(root / "images" / "train" / f"{i}.png", image_bytes("png", i))
        put(root / "labels" / "train" / f"{i}.txt", f"{i % 2} 0.5 0.5 0.4 0.3\n")
    put(root / "data.yaml", yaml.safe_dump({"names": ["circle", "square"]}))
    return root


def voc(box: Path) -> Path:
    root = box / "voc"
    for i in range(4):
        put(root / "JPEGImages" / f"{i}.png", image_bytes("png", i))
        put(root / "Annotations" / f"{i}.xml",
            f"<annotation><filename>{i}.png</filename><size><width>{W}</width><height>{H}</height>"
            f"</size><object><name>{('circle', 'square')[i % 2]}</name><bndbox><xmin>3</xmin>"
            f"<ymin>3</ymin><xmax>10</xmax><ymax>8</ymax></bndbox></object></annotation>\n")
    put(root / "ImageSets" / "Main" / "train.txt", "0\n1\n2\n3\n")
    return root


def voc_size(width: str) -> Callable[[Path], None]:
    def edit(root: Path):
        xml = root / "Annotations" / "1.xml"
        xml.write_text(xml.read_text().replace(f"<width>{W}</width>", f"<width>{width}</width>"))
    return edit


def masks(box: Path) -> Path:
    root = box / "masks"
    for i in range(4):
        put(root / "images" / f"{i}.png", image_bytes("png", i))
        mask = np.zeros((H, W), np.uint8)
        mask[2:8, 3:10] = 1
        put(root / "masks" / f"{i}.png", cv2.imencode(".png", mask)[1].tobytes())
    return root


def counts(box: Path) -> Path:
    root = box / "counts"
    for i in range(4):
        put(root / "imgs" / f"{i}.png", image_bytes("png", i))
    put(root / "counts.csv", "image,count\n" + "".join(f"imgs/{i}.png,{i}\n" for i in range(4)))
    return root


def idx_bytes(arr) -> bytes:
    arr = np.asarray(arr, np.uint8)
    return bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape) + arr.tobytes()


def fashion(box: Path) -> Path:
    root = box / "fashion"
    for prefix, n in (("train", 20), ("t10k", 10)):
        put(root / f"{prefix}-images-idx3-ubyte.gz", gzip.compress(idx_bytes(np.zeros((n, 28, 28)))))
        put(root / f"{prefix}-labels-idx1-ubyte.gz", gzip.compress(idx_bytes(np.arange(n) % 10)))
    return root


# ---- the recipe that trains on a dataset ----------------------------------------------------------

DETECTION = {"task": "detection", "model": {"feature": "S4", "head": {"grid": 4, "boxes_per_cell": 2}}}
SOURCES = {   # source: (dataset builder, recipe changes, data.params besides path)
    "image-folder": (image_folder, {}, {}),
    "coco": (coco, DETECTION, {}),
    "yolo": (yolo, DETECTION, {}),
    "voc": (voc, DETECTION, {}),
    "mask-folder": (masks, {"task": "segmentation", "model": {"backbone": {
        "name": "unet", "params": {"padding": "same", "depth": 2, "base_width": 4}}}},
        {"classes": ["thing"], "val_fraction": 0.25}),
    "csv-counts": (counts, {"task": "counting"}, {}),
    "fashion-mnist": (fashion, {"model": {"input_shape": [28, 28, 1]}}, {"val_size": 5}),
}


def dataset(source: str, edit: Optional[Callable[[Path], None]] = None, **params):
    """A `make` for BadInput: the source's tiny dataset in the sandbox, damaged by `edit`, and a
    recipe training on it: {"recipe", "data" (the dataset root, relative), "box"}."""
    build, changes, defaults = SOURCES[source]

    def make(box: Path) -> dict:
        root = build(box)
        if edit is not None:
            edit(root)
        rel = root.relative_to(box).as_posix()
        data_params = {**defaults, **params}
        data_params.setdefault("csv" if source == "csv-counts" else "path",
                               f"{rel}/counts.csv" if source == "csv-counts" else rel)
        recipe = deep_update(TINY, changes)
        recipe["data"] = {"source": source, "params": data_params}
        recipe["output"] = "runs/x"
        put(box / "r.yaml", yaml.safe_dump(recipe, sort_keys=False))
        return {"recipe": box / "r.yaml", "data": rel}

    return make
