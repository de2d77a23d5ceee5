"""`csv-counts`: images with an object count each, listed in a CSV file with a header `image,count`.

    image,count
    photos/0001.jpg,3
    photos/0002.jpg,0

Image paths are relative to `images` (default: the CSV's folder). Splits: `val_csv` / `test_csv`
files with the same columns, or `val_fraction` of `csv` (deterministic from the seed). Every row is
checked when the source loads: a count that is not a number or is negative, a missing image or a
missing column is one DataError naming the file and line.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Optional

import numpy as np

from visiontk.data.annotations import read_text, shown
from visiontk.data.base import DataSource, SplitData, dataset_reading
from visiontk.data.image_check import check_images
from visiontk.errors import DataError, SourceError
from visiontk.recipe.fields import Fraction, Strict
from visiontk.catalog import SOURCES


class CsvCountsConfig(Strict):
    csv: str                                   # training rows (all rows when val comes from a fraction)
    val_csv: Optional[str] = None
    test_csv: Optional[str] = None
    images: Optional[str] = None               # folder image paths are relative to (default: CSV's folder)
    val_fraction: Fraction = 0.2               # used when val_csv is not given
    name: str = "object"                       # what is counted (the class name shown in overlays)
    verify: bool = True                        # decode every image up front: a bad file is named at once


def read_counts(path: Path, image_root: Optional[Path] = None, *, verify: bool = True
                ) -> tuple[list[str], np.ndarray]:
    """(image paths, counts) from a CSV with columns image,count; DataError naming file and line.
    With `verify`, every image is decoded as training will decode it (visiontk.data.image_check).

    Example:
        >>> files, counts = read_counts(Path("data/counts.csv"))   # doctest: +SKIP
    """
    if not path.is_file():
        raise SourceError(f"counts file not found: {path}")
    root = image_root if image_root is not None else path.parent
    files, counts, lines = [], [], []
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    try:
        header = next(reader, None)
        cols = [h.strip().lower() for h in (header or [])]
        if "image" not in cols or "count" not in cols:
            raise DataError(f"{path} line 1: the header must name the columns image and count (got "
                            f"{shown(','.join(header or [])) if header else 'an empty file'})")
        i_img, i_cnt = cols.index("image"), cols.index("count")
        for row in reader:
            line = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) <= max(i_img, i_cnt):
                raise DataError(f"{path} line {line}: expected columns image,count, got "
                                f"{shown(','.join(row))}")
            counts.append(_count(path, line, row[i_cnt]))
            files.append(_image(path, line, row[i_img], root))
            lines.append(line)
    except csv.Error as exc:
        raise DataError(f"{path} line {reader.line_num}: malformed CSV ({exc})") from None
    if not files:
        raise DataError(f"{path}: no rows after the header")
    if verify:
        check_images(files, [f"{path} line {n}" for n in lines])
    return files, np.asarray(counts, np.float32)


def _count(path: Path, line: int, raw: str) -> float:
    raw = raw.strip()
    try:
        value = float(raw)
    except ValueError:
        raise DataError(f"{path} line {line}: count {shown(raw)} is not a number") from None
    if not math.isfinite(value):
        raise DataError(f"{path} line {line}: count {raw!r} is not a finite number")
    if value < 0:
        raise DataError(f"{path} line {line}: count {raw} is negative; counts are 0 or more")
    return value


def _image(path: Path, line: int, raw: str, root: Path) -> str:
    image = Path(raw.strip())
    image = image if image.is_absolute() else root / image
    if not raw.strip() or "\0" in raw or not image.is_file():
        raise DataError(f"{path} line {line}: image not found: {str(image)[:200]}")
    return str(image)


@SOURCES.register("csv-counts", aliases=("csv_counts", "counts"))
class CsvCounts(DataSource):
    name = "csv-counts"
    Config = CsvCountsConfig
    provides = ("count",)

    def __init__(self, cfg, **kw):
        super().__init__(cfg, **kw)
        self._rows: dict | None = None

    def class_names(self) -> list[str]:
        return [self.cfg.name]

    def _read(self, name: str) -> tuple[list[str], np.ndarray]:
        root = Path(self.cfg.images).expanduser() if self.cfg.images else None
        return read_counts(Path(name).expanduser(), root, verify=self.cfg.verify)

    @dataset_reading()
    def _scan(self) -> dict:
        if self._rows is None:
            rows = {"train": self._read(self.cfg.csv)}
            if self.cfg.val_csv:
                rows["val"] = self._read(self.cfg.val_csv)
            elif self.cfg.val_fraction:
                files, counts = rows["train"]
                order = np.random.default_rng(self.seed).permutation(len(files))
                n_val = int(round(len(files) * self.cfg.val_fraction))
                if n_val:
                    tr, va = sorted(order[n_val:]), sorted(order[:n_val])
                    rows = {"train": ([files[i] for i in tr], counts[tr]),
                            "val": ([files[i] for i in va], counts[va])}
            if self.cfg.test_csv:
                rows["test"] = self._read(self.cfg.test_csv)
            self._rows = rows
        return self._rows

    def splits(self):
        return tuple(self._scan())

    def split_hint(self, split: str) -> str:
        if split == "test":
            return "set data.params.test_csv to a CSV file with the columns image,count"
        return "set data.params.val_csv, or data.params.val_fraction above 0" if split == "val" else ""

    def load(self, split: str) -> SplitData:
        self.check_split(split)
        files, counts = self._scan()[split]
        return SplitData(list(files), {"count": counts.copy()}, files=list(files))
