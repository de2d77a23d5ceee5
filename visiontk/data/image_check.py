"""The up-front image check: every image decoded completely, as training will decode it, before a
run folder (or a converted dataset) is written (TensorFlow-free).

The training pipeline decodes image files with `tf.io.decode_image` (JPEG, PNG, GIF, BMP, WebP).
A damaged file fails there mid-epoch with an error that names no file; OpenCV, on the other hand,
decodes a truncated JPEG with a grey bottom and a libjpeg warning on stderr. So the check decodes
each file with Pillow in strict mode (a truncated file raises instead of being padded, and Pillow's
libjpeg prints nothing) and refuses, besides, what Pillow reads but TensorFlow does not: other
formats (TIFF, ...), BMPs other than 8/24/32-bit, and a PNG whose chunks stop before IEND.
tests/data/test_image_check.py holds this check to `tf.io.decode_image` on a corpus of damaged files.

About 0.2 ms an image of 96x96 on one core; files are decoded on a few threads (Pillow releases the
GIL while decoding).
"""

from __future__ import annotations

import os
import struct
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional, Sequence

from visiontk.errors import DataError

# Pillow's names of the formats tf.io.decode_image reads (MPO: a camera JPEG with a preview inside)
DECODABLE = ("JPEG", "MPO", "PNG", "GIF", "BMP", "WEBP")
_BMP_BITS = (8, 24, 32)          # tf.io.decode_bmp reads 1, 3 or 4 bytes a pixel
_THREADS = min(8, os.cpu_count() or 1)


def image_problem(path: str | os.PathLike) -> tuple[Optional[tuple[int, int]], Optional[str]]:
    """((width, height), None) for an image training can decode, else (None, what is wrong)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        if path.stat().st_size == 0:
            return None, "the file is empty"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")          # DecompressionBombWarning and the like
            with Image.open(path) as im:
                fmt, size = im.format, im.size
                if fmt not in DECODABLE:
                    return None, (f"a {fmt} file; training decodes only JPEG, PNG, GIF, BMP and WebP: "
                                  f"convert it to PNG or JPEG")
                if fmt == "BMP":
                    problem = _bmp_problem(path)
                    if problem:
                        return None, problem
                im.load()                            # the whole image, strictly: truncation raises
            if fmt == "PNG":
                with Image.open(path) as im:
                    im.verify()                      # every chunk's CRC, up to IEND
        return size, None
    except UnidentifiedImageError:
        return None, "not an image file, or a format that cannot be decoded"
    except Exception as exc:  # Pillow's plugins raise many kinds on malformed data: all mean damaged
        return None, _describe(exc)


def _describe(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if "truncated" in text.lower() or isinstance(exc, EOFError):
        return "the file is truncated: it ends before the image data does"
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot read it: {exc.strerror}"
    return f"damaged image data ({text})"


def _bmp_problem(path: Path) -> Optional[str]:
    with open(path, "rb") as f:
        header = f.read(34)
    if len(header) < 34:
        return "the file is truncated (BMP header)"
    if struct.unpack("<I", header[14:18])[0] < 40:
        return "an OS/2 BMP, which training cannot decode: save it as PNG"
    bits, compression = struct.unpack("<HI", header[28:34])
    if bits not in _BMP_BITS or compression not in (0, 3):
        kind = f"{bits} bits a pixel" + (", compressed" if compression not in (0, 3) else "")
        return f"a BMP with {kind}, which training cannot decode (8, 24 or 32 bits uncompressed " \
               f"only): save it as PNG"
    return None


def _error(path, problem: str, where: Optional[str], what: str = "image") -> DataError:
    where = f"{where}: " if where and where != str(path) else ""
    return DataError(f"{where}unreadable {what}: {path} ({problem}); replace or remove it")


def check_image(path: str | os.PathLike, where: Optional[str] = None) -> tuple[int, int]:
    """(width, height) of an image training can decode, else a DataError naming the file.

    Args:
        where: what refers to the image (an annotation file and entry), put before the message.
    """
    size, problem = image_problem(path)
    if problem:
        raise _error(path, problem, where)
    return size


def check_images(paths: Sequence, wheres: Optional[Sequence[Optional[str]]] = None,
                 what: str = "image") -> list:
    """(width, height) of every image, decoded on a few threads; the first bad one in list order
    raises a DataError naming it (and `wheres[i]`, what refers to it; `what`: "image", "mask")."""
    paths = list(paths)
    pool = ThreadPoolExecutor(_THREADS) if len(paths) >= 2 * _THREADS else None
    try:
        results = pool.map(image_problem, paths) if pool else map(image_problem, paths)
        sizes = []
        for i, (path, (size, problem)) in enumerate(zip(paths, results)):
            if problem:
                raise _error(path, problem, wheres[i] if wheres is not None else None, what)
            sizes.append(size)
        return sizes
    finally:
        if pool:
            pool.shutdown(wait=True, cancel_futures=True)
