"""Tiny detection and localization runs through the real API; `visiontk predict` writes annotated
images and a JSON of boxes (class name, score, x1, y1, x2, y2 in pixels)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from tests.conftest import run_cli
from tests.tiny_recipes import all_recipes


@pytest.mark.slow
@pytest.mark.parametrize("task", ["detection", "localization"])
def test_tiny_run_evaluates_and_predicts(task, tmp_path):
    from visiontk.io import read_json
    from visiontk.recipe import load_recipe
    from visiontk.train.loop import train

    data = all_recipes()[task]
    data["output"] = str(tmp_path / "run")
    result = train(load_recipe(data=data), echo=lambda *_: None)
    metrics = result.metrics["val"]
    history = (result.run_dir / "history.csv").read_text().splitlines()[0].split(",")
    if task == "detection":
        assert {"map", "map50", "map75", "precision", "recall", "ap50_per_class"} <= set(metrics)
        assert "val_map50" in history                       # the callback reached the logs
        assert read_json(result.run_dir / "checkpoints" / "best.json")["monitor"] == "val_map50"
        png = result.run_dir / "eval_val" / "detections.png"
    else:
        assert {"mean_iou", "iou50", "accuracy", "accuracy_iou50"} <= set(metrics)
        assert "val_mean_iou" in history
        png = result.run_dir / "eval_val" / "predictions.png"
    assert cv2.imread(str(png)) is not None
    meta = read_json(result.run_dir / "meta.json")
    assert meta["task"] == task

    # predict on images of another size: boxes come back in their pixels
    rng = np.random.default_rng(0)
    images = []
    for i, (h, w) in enumerate([(120, 200), (64, 64)]):
        path = tmp_path / f"scene{i}.png"
        cv2.imwrite(str(path), rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
        images.append(path)
    if task == "detection":       # make the untrained model report boxes
        meta["decode"]["score_threshold"] = 0.0
        (result.run_dir / "meta.json").write_text(json.dumps(meta))
    r = run_cli("predict", result.run_dir, *images, "--out", tmp_path / "preds")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    saved = json.loads((tmp_path / "preds" / "predictions.json").read_text())
    assert rows == saved and len(rows) == 2
    for row, (h, w) in zip(rows, [(120, 200), (64, 64)]):
        assert row["task"] == task and row["boxes"]
        for box in row["boxes"]:
            assert box["class"] in meta["class_names"] and 0 <= box["score"] <= 1
            assert 0 <= box["x1"] <= box["x2"] <= w and 0 <= box["y1"] <= box["y2"] <= h
    for i, (h, w) in enumerate([(120, 200), (64, 64)]):
        drawn = cv2.imread(str(tmp_path / "preds" / f"scene{i}_pred.png"))
        assert drawn.shape == (h, w, 3)
