"""The up-front image check refuses exactly what the training pipeline's decoder
(`tf.io.decode_image`) refuses, on a corpus of whole and damaged files, and prints nothing."""

from __future__ import annotations

import io
import struct

import cv2
import numpy as np
import pytest
from PIL import Image

from visiontk.data.image_check import check_images
from visiontk.errors import DataError


def _picture(h=48, w=64):
    rng = np.random.default_rng(0)
    return cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), np.uint8), (5, 5), 0)


def _encode(ext, img=None, **pil):
    img = _picture() if img is None else img
    if pil or ext in (".gif", ".webp", ".tif"):
        buf = io.BytesIO()
        Image.fromarray(img).convert(pil.pop("mode", "RGB")).save(buf, ext[1:].replace("tif", "tiff"),
                                                                  **pil)
        return buf.getvalue()
    return cv2.imencode(ext, img)[1].tobytes()


def _flip(data: bytes, start: int, n: int = 40, markers: bool = False) -> bytes:
    b = bytearray(data)
    for i in range(start, start + n):
        b[i] = 0xFF if markers and i % 7 == 0 else b[i] ^ 0x55
    return bytes(b)


def _bmp_bits(data: bytes, bits: int) -> bytes:
    return data[:28] + struct.pack("<H", bits) + data[30:]


JPG, PNG, BMP = _encode(".jpg"), _encode(".png"), _encode(".bmp")

# name: file bytes. Whole files first, then damaged ones
CORPUS = {
    "jpeg": JPG, "png": PNG, "bmp": BMP, "gif": _encode(".gif"), "webp": _encode(".webp"),
    "progressive-jpeg": _encode(".jpeg", progressive=True), "cmyk-jpeg": _encode(".jpeg", mode="CMYK"),
    "grey-png": _encode(".png", _picture()[..., 0]), "16-bit-png": cv2.imencode(
        ".png", _picture()[..., 0].astype(np.uint16) * 200)[1].tobytes(),
    "palette-png": _encode(".png", mode="P"), "rgba-png": _encode(".png", mode="RGBA"),
    "grey-bmp": _encode(".bmp", mode="L"), "rgba-bmp": cv2.imencode(
        ".bmp", np.dstack([_picture(), _picture()[..., 0]]))[1].tobytes(),
    "jpeg-trailing-bytes": JPG + b"trailing", "png-trailing-bytes": PNG + b"trailing",
    "png-named-jpg": PNG,
    "jpeg-garbled-middle": _flip(JPG, len(JPG) // 2),       # libjpeg warns, decodes garbage
    # refused
    "empty": b"", "text": b"not an image at all",
    "jpeg-half": JPG[:len(JPG) // 2], "jpeg-no-end-marker": JPG[:-2], "jpeg-last-40-cut": JPG[:-40],
    "jpeg-header-only": JPG[:300], "jpeg-bad-markers": _flip(JPG, len(JPG) // 2, markers=True),
    "progressive-jpeg-half": _encode(".jpeg", progressive=True)[:700],
    "png-half": PNG[:len(PNG) // 2], "png-no-iend": PNG[:-12], "png-cut-in-last-crc": PNG[:-13],
    "png-corrupt-middle": _flip(PNG, len(PNG) // 2, 1),
    "bmp-half": BMP[:len(BMP) // 2], "gif-half": _encode(".gif")[:300],
    "webp-half": _encode(".webp")[:200], "tiff": _encode(".tif"),
    "1-bit-bmp": _encode(".bmp", mode="1"), "16-bit-bmp": _bmp_bits(BMP, 16),
}
DECODABLE = {"jpeg-garbled-middle", "jpeg", "png", "bmp", "gif", "webp", "progressive-jpeg", "cmyk-jpeg", "grey-png", "16-bit-png",
         "palette-png", "rgba-png", "grey-bmp", "rgba-bmp", "jpeg-trailing-bytes", "png-trailing-bytes",
         "png-named-jpg"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    paths = {}
    for name, data in CORPUS.items():
        paths[name] = root / f"{name}.{'jpg' if 'jpeg' in name or name == 'png-named-jpg' else 'img'}"
        paths[name].write_bytes(data)
    return paths


def verdict(path, decoder=None):
    """((width, height), None) or (None, the error message)."""
    try:
        return check_images([path], decoder=decoder)[0], None
    except DataError as exc:
        return None, str(exc)


# damage only TensorFlow's decoder sees (module docstring of visiontk.data.image_check)
ONLY_TENSORFLOW_SEES = {"jpeg-bad-markers"}


@pytest.mark.parametrize("decoder", ["tensorflow", "pillow"])
def test_the_check_refuses_what_tensorflow_refuses(corpus, decoder):
    import tensorflow as tf

    for name, path in corpus.items():
        try:
            tf.io.decode_image(tf.io.read_file(str(path)), channels=3, expand_animations=False)
            decodes = True
        except tf.errors.InvalidArgumentError:
            decodes = False
        assert decodes == (name in DECODABLE), f"{name}: the corpus expects the wrong thing of TensorFlow"
        size, problem = verdict(path, decoder)
        if decoder == "pillow" and name in ONLY_TENSORFLOW_SEES:
            assert problem is None, f"{name}: Pillow sees it now: remove it from ONLY_TENSORFLOW_SEES"
            continue
        assert (problem is None) == decodes, f"{name}: check says {problem!r}, TensorFlow decodes: {decodes}"
        if decodes:
            assert size == (64, 48), name
        else:
            assert problem and "\n" not in problem, name


def test_errors_name_the_file_and_what_is_wrong_and_nothing_is_printed(corpus, capfd):
    with pytest.raises(DataError) as err:
        check_images([corpus["jpeg"], corpus["jpeg-half"]], ["x.json image id 2", "x.json image id 3"])
    message = str(err.value)
    assert message.startswith("x.json image id 3: unreadable image: ") and "jpeg-half.jpg" in message
    assert "truncated" in message and "replace or remove it" in message
    import tensorflow  # noqa: F401  (loaded: the check decodes with TensorFlow, fd 2 silenced)

    with pytest.raises(DataError, match=r"jpeg-bad-markers.jpg \(TensorFlow cannot decode it: "):
        check_images([corpus["jpeg-bad-markers"]])
    for decoder in ("tensorflow", "pillow"):
        for path in corpus.values():
            verdict(path, decoder)
    for name, phrase in (("tiff", "TIFF"), ("16-bit-bmp", "16 bits"), ("empty", "empty"),
                         ("png-no-iend", "truncated")):
        assert phrase in verdict(corpus[name])[1], name
    out = capfd.readouterr()
    assert out.err == "" and out.out == ""           # libjpeg / libpng said nothing


def test_many_files_keep_their_order(corpus, tmp_path):
    paths = [corpus["png"]] * 40 + [corpus["png-half"], corpus["jpeg-half"]]
    with pytest.raises(DataError, match="png-half"):          # the first bad one in list order
        check_images(paths)
    assert check_images([corpus["png"], corpus["jpeg"]] * 20) == [(64, 48)] * 40
