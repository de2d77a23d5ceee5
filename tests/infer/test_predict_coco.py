"""`visiontk predict --format coco` (issue 20): the results JSON, scored by pycocotools against the
dataset's own annotation file, gives the mAP `visiontk evaluate` reports on the same split.

A tiny detector is trained on a COCO folder written by `visiontk data convert` (synthetic scenes at
the model's input size). Both sides decode at the evaluation threshold (model.head.
eval_score_threshold) with the same NMS and max_detections, and COCOeval keeps 100 detections per
image on both; the ids come from the dataset's instances_val.json."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from tests.conftest import cli_in_process, deep_update
from tests.tiny_recipes import all_recipes


@pytest.fixture(scope="module")
def coco_run(tmp_path_factory):
    """(COCO dataset folder, run trained on it for a few epochs)."""
    from visiontk.data.convert import read_recipe_dataset, write_dataset
    from visiontk.recipe import load_recipe
    from visiontk.train.loop import train

    base = tmp_path_factory.mktemp("coco_predict")
    recipe = all_recipes()["detection"]
    scenes = deep_update(recipe, {"data": {"params": {"train_size": 48, "val_size": 24}}})
    write_dataset(read_recipe_dataset(load_recipe(data=scenes)), base / "coco", "coco")
    recipe = deep_update(recipe, {"train": {"epochs": 8}, "output": str(base / "run")})
    recipe["data"] = {"source": "coco", "params": {"path": str(base / "coco")}}
    train(load_recipe(data=recipe), echo=lambda *_: None)
    return base / "coco", base / "run"


def cocoeval_stats(annotations, results) -> list:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(annotations))
        ev = COCOeval(gt, gt.loadRes(str(results)), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [float(v) for v in ev.stats[:3]]


@pytest.mark.slow
def test_coco_results_score_the_map_of_visiontk_evaluate(coco_run, tmp_path, capsys):
    from visiontk.evaluate import evaluate

    coco, run = coco_run
    results = tmp_path / "results.json"
    code, _, err = cli_in_process("predict", run, coco, "--format", "coco", "--out", results,
                                  capsys=capsys)
    assert code == 0, err
    dets = json.loads(results.read_text())
    truth = json.loads((coco / "annotations" / "instances_val.json").read_text())
    assert {d["image_id"] for d in dets} <= {im["id"] for im in truth["images"]}
    assert {d["category_id"] for d in dets} <= {c["id"] for c in truth["categories"]}
    scores = [d["score"] for d in dets]
    assert 0.001 <= min(scores) < 0.25            # evaluate's threshold, not the decode one (0.25)
    assert all(len(d["bbox"]) == 4 and d["bbox"][2] >= 0 for d in dets)

    metrics = evaluate(run, "val", write=False)
    got = cocoeval_stats(coco / "annotations" / "instances_val.json", results)
    assert metrics["map50"] > 0                       # boxes matched: the ids line up
    assert got == pytest.approx([metrics["map"], metrics["map50"], metrics["map75"]], abs=1e-9)

    # the split's images folder gives the same ids (found from the folder's annotation file)
    by_folder = tmp_path / "by_folder.json"
    code, _, err = cli_in_process("predict", run, coco / "images" / "val", "--format", "coco",
                                  "--out", by_folder, "--batch-size", "5", capsys=capsys)
    assert code == 0, err
    assert json.loads(by_folder.read_text()) == dets


def test_coco_format_refuses_a_model_without_boxes_and_videos(tmp_path_factory, tmp_path, capsys):
    from tests.export.heads import exported

    export = exported("classification", tmp_path_factory)[0]
    (tmp_path / "a.png").write_bytes(b"x")
    capsys.readouterr()                               # what training the shared head printed
    code, out, err = cli_in_process("predict", export, tmp_path / "a.png", "--format", "coco",
                                    capsys=capsys)
    assert code == 2 and out == ""
    assert "--format coco writes boxes" in err and "classification" in err
    from tests.demo.videos import write_video

    detector = exported("detection", tmp_path_factory)[0]
    write_video(tmp_path / "clip.avi", n=2)
    capsys.readouterr()
    results = tmp_path / "results.json"
    code, out, err = cli_in_process("predict", detector, tmp_path / "clip.avi", "--format", "coco",
                                    "--out", results, capsys=capsys)
    assert code == 2 and "--format coco takes images" in err and not results.exists()
