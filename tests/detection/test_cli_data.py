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


def test_force_replaces_a_converted_dataset_and_nothing_else(tmp_path, capsys):
    from tests.conftest import cli_in_process

    recipe = write_recipe(tmp_path / "scenes.yaml", EXTRA)
    out = tmp_path / "converted"
    assert cli_in_process("data", "convert", recipe, out, "--to", "yolo", capsys=capsys)[0] == 0
    assert (out / "visiontk-dataset.json").is_file() and (out / "classes.txt").is_file()
    code, _, err = cli_in_process("data", "convert", recipe, out, "--to", "coco", capsys=capsys)
    assert code == 2 and "holds a dataset visiontk converted; pass --force" in err
    code, stdout, _ = cli_in_process("data", "convert", recipe, out, "--to", "coco", "--force",
                                     capsys=capsys)
    assert code == 0 and "wrote" in stdout
    assert (out / "annotations" / "instances_train.json").is_file() and not (out / "classes.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["converted", "scenes.yaml"]  # no temporary left
    # a user's folder that happens to hold a marker-like file of another program is not replaced
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "visiontk-dataset.json").write_text('{"written_by": "me"}')
    code, _, err = cli_in_process("data", "convert", recipe, tmp_path / "mine", "--to", "coco",
                                  "--force", capsys=capsys)
    assert code == 2 and "is not a converted dataset" in err
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["visiontk-dataset.json"]


def test_preview_of_a_recipe_generates_only_the_scenes_it_draws(tmp_path, capsys):
    from tests.conftest import cli_in_process
    from visiontk.data.convert import preview, read_recipe_dataset
    from visiontk.recipe import load_recipe

    recipe = write_recipe(tmp_path / "scenes.yaml", EXTRA)
    full = read_recipe_dataset(load_recipe(recipe, ["data.params.train_size=40"]))
    head = read_recipe_dataset(load_recipe(recipe, ["data.params.train_size=40"]), split="train", limit=16)
    assert list(head.splits) == ["train"] and len(head.splits["train"]) == 16
    for a, b in zip(full.splits["train"][:16], head.splits["train"]):
        np.testing.assert_array_equal(a.pixels, b.pixels)
        np.testing.assert_array_equal(a.boxes, b.boxes)
    preview(full, tmp_path / "full.png")
    preview(head, tmp_path / "head.png")
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "full.png")), cv2.imread(str(tmp_path / "head.png")))
    # ten million scenes would take hours to generate: only the 16 drawn are
    code, stdout, err = cli_in_process("data", "preview", recipe, "--out", tmp_path / "big.png", "--set",
                                       "data.params.train_size=10000000", capsys=capsys)
    assert code == 0, err
    assert "16 train images" in stdout
    code, _, err = cli_in_process("data", "preview", recipe, "--out", tmp_path / "t.png", "--split", "test",
                                  capsys=capsys)
    assert code == 2 and "no split 'test'" in err and "data.params.test_size" in err
    assert not (tmp_path / "t.png").exists()
