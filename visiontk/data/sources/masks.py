"""`mask-folder`: images with segmentation masks of the same stem.

Layouts:
    path/images/*.jpg|png + path/masks/<stem>.png           (val taken by `val_fraction`)
    path/train/{images,masks}/ + path/val/{images,masks}/ [+ path/test/...]

Masks are PNGs of class indices (0 background, i = classes[i - 1]; 8- or 16-bit, one channel) or,
with `palette`, colour images where each class has one RGB colour (`background_color` for 0). Every
pair is checked when the source loads: a missing mask, a mask whose size differs from its image, an
index past the class list or a colour not in the palette is one DataError naming the file. Images of
one size are kept at that size (the pipeline resizes image and mask together); when sizes differ,
each pair is resized to model.input_shape here (bilinear image, nearest mask).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
from pydantic import model_validator

from visiontk.data.base import DataSource, SplitData, dataset_reading
from visiontk.data.image_check import check_images
from visiontk.errors import DataError, SourceError
from visiontk.recipe.fields import Fraction, PositiveInt, Strict
from visiontk.catalog import SOURCES

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
Colour = tuple[int, int, int]


class MaskFolderConfig(Strict):
    path: str
    classes: list[str]                                   # foreground classes: mask value i = classes[i-1]
    palette: Optional[list[Colour]] = None               # RGB colour per class (colour masks)
    background_color: Colour = (0, 0, 0)                 # palette masks: colour of class 0
    val_fraction: Fraction = 0.2
    images_dir: str = "images"
    masks_dir: str = "masks"
    max_images: Optional[PositiveInt] = None             # per split (quick runs)

    @model_validator(mode="after")
    def _check(self):
        if not self.classes:
            raise ValueError("classes must list at least one foreground class")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError("classes must not repeat")
        if self.palette is not None:
            if len(self.palette) != len(self.classes):
                raise ValueError(f"palette has {len(self.palette)} colours for {len(self.classes)} "
                                 f"classes; give one [r, g, b] per class, in the order of classes")
            colours = [tuple(c) for c in self.palette] + [tuple(self.background_color)]
            if len(set(colours)) != len(colours):
                raise ValueError("palette colours (and background_color) must be distinct")
            if any(not 0 <= v <= 255 for c in colours for v in c):
                raise ValueError("palette colours are [r, g, b] with values 0-255")
        return self


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def read_mask(path: Path, image_path: Path, image_hw, cfg: MaskFolderConfig) -> np.ndarray:
    """A (H, W) uint8 class map checked against the image and the class list (DataError if not)."""
    import cv2

    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)     # checked by _read: decodes silently
    if raw is None:
        raise DataError(f"unreadable mask: {path} (not a valid PNG); replace it")
    if raw.shape[:2] != tuple(image_hw):
        raise DataError(f"mask {path} is {raw.shape[1]}x{raw.shape[0]} (WxH) but its image {image_path} "
                        f"is {image_hw[1]}x{image_hw[0]}; a mask must have its image's size")
    k = len(cfg.classes)
    if cfg.palette is not None:
        if raw.ndim != 3 or raw.shape[2] < 3:
            raise DataError(f"mask {path} has one channel but data.params.palette expects colour masks; "
                            f"remove palette for class-index masks")
        rgb = raw[..., 2::-1].astype(np.int64)                 # OpenCV reads BGR(A)
        packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
        lut = {(c[0] << 16) | (c[1] << 8) | c[2]: i + 1 for i, c in enumerate(cfg.palette)}
        bg = cfg.background_color
        lut[(bg[0] << 16) | (bg[1] << 8) | bg[2]] = 0
        keys = np.array(list(lut), np.int64)
        values = np.array(list(lut.values()), np.uint8)
        order = np.argsort(keys)
        pos = np.clip(np.searchsorted(keys[order], packed), 0, len(keys) - 1)
        known = keys[order][pos] == packed
        if not known.all():
            y, x = map(int, np.argwhere(~known)[0])
            raise DataError(f"mask {path}: colour {rgb[y, x].tolist()} at pixel (x={x}, y={y}) is not in "
                            f"data.params.palette or background_color; fix the mask or add the colour")
        return values[order][pos]
    if raw.ndim == 3:
        if not (raw[..., :1] == raw[..., 1:3]).all():
            raise DataError(f"mask {path} is a colour image; set data.params.palette (one [r, g, b] per "
                            f"class) or save class indices as a one-channel PNG")
        raw = raw[..., 0]
    top = int(raw.max()) if raw.size else 0
    if top > k:
        y, x = map(int, np.argwhere(raw == top)[0])
        raise DataError(f"mask {path}: class index {top} at pixel (x={x}, y={y}) is out of range: "
                        f"data.params.classes lists {k} class(es) (0 = background, 1-{k}); fix the "
                        f"mask or add the missing classes")
    return raw.astype(np.uint8)


@SOURCES.register("mask-folder", aliases=("mask_folder", "masks"))
class MaskFolder(DataSource):
    name = "mask-folder"
    Config = MaskFolderConfig
    provides = ("mask",)

    def __init__(self, cfg, **kw):
        super().__init__(cfg, **kw)
        self._pairs: dict | None = None
        self._loaded: dict = {}

    def class_names(self) -> list[str]:
        return list(self.cfg.classes)

    def _root(self) -> Path:
        root = Path(self.cfg.path).expanduser()
        if not root.is_dir():
            raise SourceError(f"data.params.path: folder not found: {root} (expected {root}/"
                              f"{self.cfg.images_dir}/ and {root}/{self.cfg.masks_dir}/)")
        return root

    def _pairs_in(self, base: Path) -> list[tuple[Path, Path]]:
        img_dir, mask_dir = base / self.cfg.images_dir, base / self.cfg.masks_dir
        for d in (img_dir, mask_dir):
            if not d.is_dir():
                raise SourceError(f"{d}: folder not found (a mask-folder dataset holds "
                                  f"{self.cfg.images_dir}/ and {self.cfg.masks_dir}/ with the same stems)")
        images = _images(img_dir)
        if not images:
            raise DataError(f"{img_dir}: no images ({', '.join(IMAGE_EXTENSIONS)})")
        pairs = []
        for img in images:
            mask = mask_dir / f"{img.stem}.png"
            if not mask.is_file():
                raise DataError(f"no mask for image {img}: expected {mask}; add it or remove the image")
            pairs.append((img, mask))
        return pairs

    @dataset_reading()
    def _scan(self) -> dict:
        if self._pairs is None:
            root = self._root()
            splits = [s for s in ("train", "val", "test") if (root / s).is_dir()]
            if splits:
                pairs = {s: self._pairs_in(root / s) for s in splits}
            else:
                everything = self._pairs_in(root)
                order = np.random.default_rng(self.seed).permutation(len(everything))
                n_val = int(round(len(order) * self.cfg.val_fraction))
                pairs = {"train": [everything[i] for i in sorted(order[n_val:])]}
                if n_val:
                    pairs["val"] = [everything[i] for i in sorted(order[:n_val])]
            if self.cfg.max_images:
                pairs = {s: p[: self.cfg.max_images] for s, p in pairs.items()}
            self._pairs = pairs
        return self._pairs

    def splits(self):
        return tuple(self._scan())

    def split_hint(self, split: str) -> str:
        root, pair = Path(self.cfg.path).expanduser(), f"{self.cfg.images_dir}/ and {self.cfg.masks_dir}/"
        if (root / "train").is_dir():
            return f"add {root / split}/ holding {pair}"
        if split == "val":
            return "raise data.params.val_fraction above 0"
        return (f"arrange the pairs as {root}/train/, {root}/val/ and {root}/{split}/, each holding "
                f"{pair}")

    def load(self, split: str) -> SplitData:
        self.check_split(split)
        if split not in self._loaded:
            self._loaded[split] = self._read(self._scan()[split])
        return self._loaded[split]

    @dataset_reading()
    def _read(self, pairs) -> SplitData:
        import cv2

        # decoded fully and strictly first: OpenCV reads a truncated file with a grey bottom and
        # libjpeg / libpng lines on stderr
        check_images([p for p, _ in pairs])
        check_images([m for _, m in pairs], what="mask")
        images, masks = [], []
        for img_path, mask_path in pairs:
            img = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
            if img is None:
                raise DataError(f"unreadable image: {img_path}; remove or replace it")
            masks.append(read_mask(mask_path, img_path, img.shape[:2], self.cfg))
            images.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
        if len({im.shape for im in images}) > 1:
            h, w = self.input_shape[:2]
            images = [cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA) for im in images]
            masks = [cv2.resize(m, (w, h), interpolation=cv2.INTER_NEAREST) for m in masks]
        files = [str(p) for p, _ in pairs]
        return SplitData(np.stack(images), {"mask": np.stack(masks)}, files=files)
