"""The up-front image check: every image decoded completely, as training will decode it, before a
run folder (or a converted dataset) is written.

The training pipeline decodes image files with `tf.io.decode_image` (JPEG, PNG, GIF, BMP, WebP).
A damaged file fails there mid-epoch with an error that names no file; OpenCV, on the other hand,
decodes a truncated JPEG with a grey bottom and a libjpeg warning on stderr. So:

- where TensorFlow is already loaded (`train`, `evaluate`, a notebook), the check decodes each file
  with `tf.io.decode_image` itself, with file descriptor 2 silenced (libjpeg and TensorFlow's
  C++ log print there), and asks Pillow only to say what is wrong with a refused file;
- elsewhere (`data convert`, `data preview`: TensorFlow-free), Pillow decodes each file in strict
  mode (a truncated file raises instead of being padded; Pillow's libjpeg prints nothing) and the
  check refuses, besides, what Pillow reads but TensorFlow does not: other formats (TIFF, ...),
  BMPs other than 8/24/32-bit, and a PNG whose chunks stop before IEND. One kind of damage only
  TensorFlow sees: a JPEG whose entropy-coded data holds stray markers, which libjpeg reads past the
  end of (TensorFlow refuses it, Pillow decodes it); training's own check catches it.

tests/data/test_image_check.py holds both to `tf.io.decode_image` on a corpus of damaged files.
About 0.2 ms an image of 96x96 on one core either way; files are decoded on a few threads (both
decoders release the GIL).
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional, Sequence

from visiontk.errors import DataError

# Pillow's names of the formats tf.io.decode_image reads (MPO: a camera JPEG with a preview inside)
DECODABLE = ("JPEG", "MPO", "PNG", "GIF", "BMP", "WEBP")
_BMP_BITS = (8, 24, 32)          # tf.io.decode_bmp reads 1, 3 or 4 bytes a pixel
_THREADS = min(8, os.cpu_count() or 1)
Result = tuple[Optional[tuple[int, int]], Optional[str]]


def _problem(path: str | os.PathLike, decoder: str) -> Result:
    """((width, height), None) for an image training can decode, else (None, what is wrong)."""
    if decoder == "tensorflow":
        return _tensorflow_problem(Path(path))
    return _pillow_problem(Path(path))


def _tensorflow_problem(path: Path) -> Result:
    """Decoded exactly as the pipeline decodes (data/pipeline.py); Pillow explains a refusal."""
    import tensorflow as tf

    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, f"cannot read it: {exc.strerror or exc}"
    if not data:
        return None, "the file is empty"
    try:
        shape = tf.io.decode_image(data, channels=3, expand_animations=False).shape
        return (int(shape[1]), int(shape[0])), None
    except tf.errors.OpError as exc:
        problem = _pillow_problem(path)[1]
        text = " ".join(exc.message.split("}}")[-1].split("[Op:")[0].split())
        return None, problem or f"TensorFlow cannot decode it: {text}"


def _pillow_problem(path: Path) -> Result:
    from PIL import Image, UnidentifiedImageError

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


def check_images(paths: Sequence, wheres: Optional[Sequence[Optional[str]]] = None,
                 what: str = "image", decoder: Optional[str] = None) -> list:
    """(width, height) of every image, decoded on a few threads; the first bad one in list order
    raises a DataError naming it (and `wheres[i]`, what refers to it; `what`: "image", "mask").

    Args:
        decoder: "tensorflow" or "pillow"; default: TensorFlow when it is already imported.
    """
    paths = list(paths)
    decoder = decoder or ("tensorflow" if "tensorflow" in sys.modules else "pillow")
    pool = ThreadPoolExecutor(_THREADS) if len(paths) >= 2 * _THREADS else None
    try:
        with _fd2_silenced() if decoder == "tensorflow" else contextlib.nullcontext():
            decode = lambda p: _problem(p, decoder)          # noqa: E731
            results = list(pool.map(decode, paths) if pool else map(decode, paths))
    finally:
        if pool:
            pool.shutdown(wait=True, cancel_futures=True)
    for i, (path, (size, problem)) in enumerate(zip(paths, results)):
        if problem:
            raise _error(path, problem, wheres[i] if wheres is not None else None, what)
    return [size for size, _ in results]


@contextlib.contextmanager
def _fd2_silenced():
    """What C code prints on file descriptor 2 inside the block (libjpeg's "Premature end of JPEG
    file", TensorFlow's C++ log) is dropped: a refusal is one line, said by the DataError."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:                  # no fd 2 at all (a daemon): nothing to keep clean
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
