"""`fashion-mnist`: Zalando's 70,000 28x28 grey images in 10 classes, read from the idx files."""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path
from typing import Optional

import numpy as np
from pydantic import model_validator

from visiontk.data.base import DataSource, SplitData, dataset_reading
from visiontk.errors import DataError, SourceError
from visiontk.recipe.fields import NonNegInt, PositiveInt, Strict
from visiontk.catalog import SOURCES

CLASS_NAMES = ["t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker",
               "bag", "ankle boot"]
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"


class FashionConfig(Strict):
    path: Optional[str] = None            # folder with the four idx(.gz) files
    download: bool = False                # fetch with keras.datasets when absent (needs network)
    val_size: NonNegInt = 5000            # taken from the end of the 60,000 training images
    classes: Optional[list[int]] = None   # keep only these classes (labels renumbered in this order)
    limit: Optional[PositiveInt] = None   # at most this many images per split (quick runs, tests)

    @model_validator(mode="after")
    def _check(self):
        if self.classes is not None:
            bad = [c for c in self.classes if not 0 <= c <= 9]
            if bad or len(set(self.classes)) != len(self.classes) or not self.classes:
                raise ValueError(f"classes must be distinct numbers 0-9, got {self.classes}")
        return self


def _candidates(path: Optional[str]) -> list[Path]:
    if path:
        return [Path(path).expanduser()]
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    return [Path(SYSTEM_DIR), keras_home / "datasets" / "fashion-mnist"]


def _find(folder: Path, stem: str) -> Optional[Path]:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def read_idx(path: Path) -> np.ndarray:
    """Read an idx1/idx3 file (optionally gzipped) into a uint8 array; DataError naming the file."""
    opener = gzip.open if path.suffix == ".gz" else open
    fetch = "fetch the four idx files again"
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as exc:     # gzip raises all three on damaged data
        raise DataError(f"cannot read {path}: {exc}; the file is damaged or truncated, {fetch}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 8:
        raise DataError(f"{path} is not an idx file of unsigned bytes (bad magic number); {fetch}")
    ndim = data[3]
    if not 1 <= ndim <= 3 or len(data) < 4 + 4 * ndim:
        raise DataError(f"{path}: damaged idx header ({ndim} dimensions, {len(data)} bytes); {fetch}")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    size = len(data) - 4 - 4 * ndim
    if size != math.prod(dims):
        raise DataError(f"{path}: header says {dims} but holds {size} bytes; the file is "
                        f"truncated, {fetch}")
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _check_pair(paths: tuple[Path, Path], part: str, images: np.ndarray, labels: np.ndarray) -> None:
    if images.ndim != 3:
        raise DataError(f"{paths[0]}: expected N images of HxW (3 dimensions), got shape "
                        f"{list(images.shape)}; is it a labels file?")
    if labels.ndim != 1:
        raise DataError(f"{paths[1]}: expected N labels (1 dimension), got shape "
                        f"{list(labels.shape)}; is it an images file?")
    if len(images) != len(labels):
        raise DataError(f"{paths[0].parent}: {len(images)} images but {len(labels)} labels in {part}")
    if len(labels) and labels.max() > 9:
        raise DataError(f"{paths[1]}: label {int(labels.max())} at index "
                        f"{int(labels.argmax())}; Fashion-MNIST labels are 0-9")


def locate(path: Optional[str] = None, download: bool = False, *, can_download: bool = True) -> Path:
    """The folder holding the four idx files: `path`, else the Debian package's folder, else Keras's.

    Args:
        path: the recipe's data.params.path (only this folder is looked at when given).
        download: fetch with keras.datasets when nothing is found (needs network).
        can_download: whether the source offers `download` (named in the error message).

    Raises:
        SourceError: nothing found, with the package to install and the field to set.
    """
    tried = _candidates(path)
    for folder in tried:
        if all(_find(folder, s) for pair in FILES.values() for s in pair):
            return folder
    if download and not path:
        return _download()
    if path and tried[0].is_dir():
        missing = [s for pair in FILES.values() for s in pair if not _find(tried[0], s)]
        raise SourceError(f"data.params.path: {tried[0]} lacks {', '.join(missing)} (.gz or not); "
                          f"it must hold the four Fashion-MNIST idx files")
    where = ", ".join(str(p) for p in tried)
    how = ("set data.params.path to a folder holding the four idx files, or set "
           "data.params.download: true (needs network)") if can_download else \
        "or set data.params.path to a folder holding the four idx files"
    raise SourceError(f"Fashion-MNIST not found (looked in {where}); install it with "
                      f"`apt-get install dataset-fashion-mnist`{',' if can_download else ''} {how}")


def _download() -> Path:
    try:
        import keras

        keras.datasets.fashion_mnist.load_data()
    except Exception as exc:  # no network: one line, not a traceback
        raise SourceError(f"Fashion-MNIST download failed ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:120]}); install it with "
                          f"`apt-get install dataset-fashion-mnist` instead") from None
    return _candidates(None)[1]


@dataset_reading()
def read_part(folder: Path, part: str) -> tuple[np.ndarray, np.ndarray]:
    """The raw (images uint8 (N, 28, 28), labels int32 (N,)) of `part` ("train": the 60,000 training
    images, "test": the 10,000 test images) from the idx files in `folder` (see `locate`)."""
    paths = (_find(folder, FILES[part][0]), _find(folder, FILES[part][1]))
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    _check_pair(paths, part, images, labels)
    return images, labels.astype(np.int32)


@SOURCES.register("fashion-mnist", aliases=("fashion_mnist",))
class FashionMNIST(DataSource):
    name = "fashion-mnist"
    Config = FashionConfig
    provides = ("label", "identity")

    def __init__(self, cfg, **kw):
        super().__init__(cfg, **kw)
        self._cache: dict = {}

    def class_names(self) -> list[str]:
        keep = self.cfg.classes or list(range(10))
        return [CLASS_NAMES[c] for c in keep]

    def splits(self):
        return ("train", "val", "test") if self.cfg.val_size else ("train", "test")

    def split_hint(self, split: str) -> str:
        return "set data.params.val_size above 0 (images taken from the end of train)" \
            if split == "val" else ""

    def folder(self) -> Path:
        return locate(self.cfg.path, self.cfg.download)

    def _arrays(self, part: str):
        if part not in self._cache:
            self._cache[part] = read_part(self.folder(), part)
        return self._cache[part]

    def load(self, split: str) -> SplitData:
        self.check_split(split)
        images, labels = self._arrays("test" if split == "test" else "train")
        if split != "test" and self.cfg.val_size:
            cut = len(images) - self.cfg.val_size
            if cut < 1:
                raise DataError(f"data.params.val_size ({self.cfg.val_size}) leaves no training "
                                f"images: {self.folder()} holds {len(images)}; lower val_size")
            images, labels = (images[:cut], labels[:cut]) if split == "train" else \
                (images[cut:], labels[cut:])
        original = labels
        if self.cfg.classes is not None:
            keep = np.isin(labels, self.cfg.classes)
            images, original = images[keep], labels[keep]
            remap = np.full(10, -1, np.int32)
            remap[self.cfg.classes] = np.arange(len(self.cfg.classes))
            labels = remap[original]
        if self.cfg.limit:
            images, labels, original = (a[: self.cfg.limit] for a in (images, labels, original))
        return SplitData(images[..., None], {"label": labels.astype(np.int32),
                                             "identity": original.astype(np.int32)})
