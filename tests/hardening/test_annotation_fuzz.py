"""Random annotation files fed to the dataset readers (issue 17): COCO JSON with random, missing and
wrongly typed fields, YOLO label lines and data.yaml, VOC XML and CSV counts. The only outcomes
allowed are a loaded dataset or a VisionTKError (DataError / SourceError): no other exception, no
warning (a numpy RuntimeWarning would be a second line on stderr).

Deterministic (derandomize) and bounded: a few hundred examples in all, a few seconds.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path
from xml.sax.saxutils import escape

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from visiontk.data.annotations import to_split_data
from visiontk.errors import VisionTKError

FUZZ = settings(max_examples=120, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
IMAGES = {"a.png": (16, 12), "b.png": (20, 10), "c.jpg": (8, 8)}       # name: (width, height)

scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 30), st.integers(),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6),
                    st.sampled_from(["a.png", "wide", "1", "", "0x10", "1e999", "NaN", "\x00"]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=8)


def mostly(good, junk=json_values, weight: int = 5):
    """`good` `weight` times out of `weight + 1`, else any JSON value."""
    return st.one_of(*[good] * weight, junk)


def entries(**fields):
    """Dicts with every field (mostly) or some of them; each field mostly well typed."""
    full = st.fixed_dictionaries({k: mostly(v) for k, v in fields.items()})
    some = st.fixed_dictionaries({}, optional={k: mostly(v) for k, v in fields.items()})
    return mostly(st.one_of(full, full, some), weight=8)


numbers = st.one_of(st.integers(-5, 25), st.floats(-5, 25), st.sampled_from([1e300, -0.0, 1e-300]))


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """The images every example's dataset folder copies."""
    root = tmp_path_factory.mktemp("pictures")
    for name, (w, h) in IMAGES.items():
        cv2.imwrite(str(root / name), np.full((h, w, 3), 90, np.uint8))
    return root


@contextmanager
def dataset_folder(pictures: Path, image_dir: str):
    root = Path(tempfile.mkdtemp(prefix="fuzz-", dir=pictures.parent))
    (root / image_dir).mkdir(parents=True)
    for name in IMAGES:
        shutil.copyfile(pictures / name, root / image_dir / name)
    try:
        yield root
    finally:
        shutil.rmtree(root)


def loads_or_refuses(read):
    """Run a reader: a dataset (turned into training arrays) or a VisionTKError, nothing else."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            ds = read()
        except VisionTKError as exc:
            assert str(exc).strip() and "\n" not in str(exc), repr(exc)
            return None
        for records in getattr(ds, "splits", {}).values():
            if records:
                data = to_split_data(records)
                assert np.isfinite(data.annotations["boxes"]).all()
        return ds


# ---- COCO -------------------------------------------------------------------------------------

coco_images = entries(id=st.integers(0, 3), file_name=st.sampled_from(sorted(IMAGES) + ["no.png"]),
                      width=st.sampled_from([16, 20, 8, 16.0]), height=st.sampled_from([12, 10, 8]))
coco_annotations = entries(id=st.integers(0, 5), image_id=st.integers(0, 3),
                           category_id=st.integers(0, 3), iscrowd=st.sampled_from([0, 1]),
                           bbox=st.lists(numbers, min_size=4, max_size=4))
coco_categories = entries(id=st.integers(0, 3), name=st.sampled_from(["cat", "dog"]))
coco_documents = mostly(st.fixed_dictionaries({
    "images": mostly(st.lists(coco_images, min_size=1, max_size=4)),
    "annotations": mostly(st.lists(coco_annotations, max_size=5)),
    "categories": mostly(st.lists(coco_categories, min_size=1, max_size=3))}), weight=10)


@FUZZ
@given(doc=coco_documents, cut=st.one_of(st.none(), st.integers(0, 400)), verify=st.booleans())
def test_coco(pictures, doc, cut, verify):
    from visiontk.data.sources.coco import read_coco

    text = json.dumps(doc)
    if cut is not None:
        text = text[:cut]
    with dataset_folder(pictures, "images/train") as root:
        (root / "annotations").mkdir()
        (root / "annotations" / "instances_train.json").write_text(text)
        loads_or_refuses(lambda: read_coco(root, verify=verify))


# ---- YOLO -------------------------------------------------------------------------------------

fields = st.one_of(st.integers(-2, 4).map(str), numbers.map(str),
                   st.sampled_from(["nan", "inf", "-inf", "1e999", "0.5", "²", "١", "x", "0x1"]))
yolo_lines = st.one_of(st.lists(fields, min_size=5, max_size=5).map(" ".join),
                       st.lists(fields, max_size=8).map(" ".join), st.text(max_size=20))
names_files = st.one_of(
    st.none(),
    st.tuples(st.just("classes.txt"), st.lists(st.text(max_size=5), max_size=3).map("\n".join)),
    st.tuples(st.just("data.yaml"), st.one_of(
        st.text(max_size=30),
        st.fixed_dictionaries({"names": json_values}).map(json.dumps),      # JSON is YAML
        st.fixed_dictionaries({"names": st.dictionaries(st.integers(-1, 3), st.text(max_size=3),
                                                        max_size=3)}).map(json.dumps))))


@FUZZ
@given(labels=st.dictionaries(st.sampled_from(["a", "b", "c", "ghost"]),
                              st.lists(yolo_lines, max_size=4).map("\n".join), max_size=3),
       names=names_files, verify=st.booleans(), tail=mostly(st.just(b""), st.binary(max_size=12)))
def test_yolo(pictures, labels, names, verify, tail):
    from visiontk.data.sources.yolo import read_yolo

    with dataset_folder(pictures, "images/train") as root:
        (root / "labels" / "train").mkdir(parents=True)
        for stem, text in labels.items():
            (root / "labels" / "train" / f"{stem}.txt").write_bytes(text.encode() + tail)
        if names is not None:
            (root / names[0]).write_text(names[1])
        loads_or_refuses(lambda: read_yolo(root, verify=verify))


# ---- VOC --------------------------------------------------------------------------------------

junk_texts = st.one_of(numbers.map(str), st.text(st.characters(codec="utf-8", categories=["L", "N", "P"]),
                                                   max_size=5).map(escape),
                       st.sampled_from(["", "wide", "nan", "inf", "1e999", "12.5", "-1", "&amp;"]))


def _element(tag, text):
    return "" if text is None else f"<{tag}>{text}</{tag}>"


@st.composite
def voc_documents(draw):
    """Mostly well-formed XML for one of the images, with some fields missing or junk, sometimes
    cut short; sometimes any text."""
    if draw(st.integers(0, 15)) == 0:
        return draw(st.text(max_size=60))
    name = draw(mostly(st.sampled_from(sorted(IMAGES)), st.sampled_from(["no.png", "", "<x/>"])))
    w, h = IMAGES.get(name, (16, 12))
    field = lambda good: draw(mostly(good, st.one_of(st.none(), junk_texts)))   # noqa: E731
    objects = []
    for _ in range(draw(st.integers(0, 3))):
        x1, y1 = draw(st.integers(1, w)), draw(st.integers(1, h))
        box = {"xmin": x1, "ymin": y1, "xmax": draw(st.integers(x1, w)), "ymax": draw(st.integers(y1, h))}
        box = "".join(_element(t, field(st.just(str(v)))) for t, v in box.items())
        objects.append(f"<object>{_element('name', field(st.sampled_from(['cat', 'dog'])))}"
                       f"<bndbox>{box}</bndbox></object>")
    size = _element("width", field(st.just(str(w)))) + _element("height", field(st.just(str(h))))
    doc = f"<annotation><filename>{name}</filename><size>{size}</size>{''.join(objects)}</annotation>"
    cut = draw(mostly(st.none(), st.integers(0, len(doc)), weight=12))
    return doc if cut is None else doc[:cut]


@FUZZ
@given(docs=st.lists(voc_documents(), min_size=1, max_size=3),
       listing=mostly(st.just(["0", "1", "2"]),
                      st.lists(st.sampled_from(["0", "1", "9", "", " ", "../x", "0 -1"]), max_size=4)),
       verify=st.booleans())
def test_voc(pictures, docs, listing, verify):
    from visiontk.data.sources.voc import read_voc

    with dataset_folder(pictures, "JPEGImages") as root:
        (root / "Annotations").mkdir()
        (root / "ImageSets" / "Main").mkdir(parents=True)
        for i, doc in enumerate(docs):
            (root / "Annotations" / f"{i}.xml").write_text(doc)
        (root / "ImageSets" / "Main" / "train.txt").write_text("\n".join(listing))
        loads_or_refuses(lambda: read_voc(root, verify=verify))


# ---- CSV counts -------------------------------------------------------------------------------

cells = st.one_of(st.sampled_from(sorted(IMAGES) + ["no.png", "", "nan", "-1", "2.5", "1e999", "3"]),
                  numbers.map(str), st.text(max_size=6))


@FUZZ
@given(header=st.one_of(st.just("image,count"), st.just("count,image"), st.text(max_size=12)),
       rows=st.lists(st.lists(cells, max_size=3).map(",".join), max_size=5), verify=st.booleans(),
       tail=mostly(st.just(b""), st.binary(max_size=12)))
def test_csv_counts(pictures, header, rows, verify, tail):
    from visiontk.data.sources.csv_counts import read_counts

    with dataset_folder(pictures, "imgs") as root:
        path = root / "counts.csv"
        text = "\n".join([header] + [r.replace("a.png", "imgs/a.png") for r in rows])
        path.write_bytes(text.encode() + tail)          # sometimes bytes that are not UTF-8
        loads_or_refuses(lambda: read_counts(path, root / "imgs", verify=verify))
