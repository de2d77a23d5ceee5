"""`visiontk data convert` and `visiontk data preview` from the command line (as a user runs them)."""

from __future__ import annotations

import cv2
import numpy as np

from tests.conftest import run_cli, write_recipe

EXTRA = {"task": "detection", "model": {"head": {"grid": 4}},
         "data": {"params": {"train_size": 6, "val_size": 3, "max_objects": 3}}}


def test_convert_chain_and_preview(tmp_path):
    recipe = write_recipe(tmp_path / "scenes.yaml", EXTRA)
    r = run_cli("data", "convert", recipe, tmp_path / "coco", "--to", "coco")
    assert r.returncode == 0, r.stderr
    assert "train: 6 images" in r.stdout
    r = run_cli("data", "convert", tmp_path / "coco", tmp_path / "yolo", "--from", "coco", "--to", "yolo")
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "yolo" / "labels" / "train").glob("*.txt"))) == 6
    r = run_cli("data", "preview", tmp_path / "yolo", "--out", tmp_path / "grid.png", "--count", "4",
                "--cols", "2")
    assert r.returncode == 0, r.stderr
    grid = cv2.imread(str(tmp_path / "grid.png"))
    assert grid.shape[0] == grid.shape[1] == 2 * 192
    assert (grid != 0).any(axis=-1).mean() > 0.5


def test_bad_annotation_exits_2_with_one_line_and_writes_nothing(tmp_path):
    recipe = write_recipe(tmp_path / "scenes.yaml", EXTRA)
    assert run_cli("data", "convert", recipe, tmp_path / "voc", "--to", "voc").returncode == 0
    xml = sorted((tmp_path / "voc" / "Annotations").glob("*.xml"))[0]
    xml.write_text(xml.read_text().replace("<xmin>", "<xmin>-40", 1))
    r = run_cli("data", "convert", tmp_path / "voc", tmp_path / "out", "--to", "coco")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and xml.name in lines[0], r.stderr
    assert "object 1" in lines[0] and "outside" in lines[0]
    assert not (tmp_path / "out").exists()
    # an existing, non-empty destination is refused unless --force
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("x")
    r = run_cli("data", "convert", recipe, tmp_path / "busy", "--to", "yolo")
    assert r.returncode == 2 and "not empty" in r.stderr
    assert [p.name for p in (tmp_path / "busy").iterdir()] == ["keep.txt"]
