"""`visiontk evaluate` (with --data) and `visiontk predict` on a tiny image-folder run."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from tests.conftest import TINY, deep_update, run_cli

CLASSES = ("cat", "dog")


def image_folder(root, per_class: int):
    for k, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            img = np.full((32, 32, 3), 60 + 120 * k, np.uint8)
            img[i % 8:i % 8 + 8] = 30 * i % 256
            cv2.imwrite(str(root / name / f"{i}.png"), img)
    return root


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    """(run trained 1 epoch on folder A: val = 2 images, folder B: val = 4 images)."""
    from visiontk import train
    from visiontk.recipe import load_recipe

    base = tmp_path_factory.mktemp("folders")
    a, b = image_folder(base / "a", 5), image_folder(base / "b", 10)
    data = deep_update(TINY, {"train": {"batch_size": 4}, "output": str(base / "run")})
    data["data"] = {"source": "image-folder", "params": {"path": str(a), "val_fraction": 0.2}}
    train(load_recipe(data=data), echo=lambda s: None)
    return base / "run", b


def test_evaluate_cli_on_other_data_keeps_the_runs_own_figures(folder_run):
    """`evaluate --data B` measures folder B's val split and stores it under other_data (with its
    overrides and its own plots folder); the run's own val figures and plots stay as they were."""
    run, other = folder_run
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["val"]["samples"] == 2
    own_plot = (run / "eval_val" / "confusion_matrix.png").read_bytes()

    # (the API test in tests/train covers evaluate without --data; one TF start-up here)
    out = run_cli("evaluate", run, "--split", "val", "--data", other)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["samples"] == 4                     # folder B's val split
    written = json.loads((run / "metrics.json").read_text())
    assert written["val"] == metrics["val"] and written["train"] == metrics["train"]
    from visiontk.recipe.lines import format_override

    override = format_override("data.params.path", str(other))
    val = written["other_data"][f"val {override}"]
    assert val["samples"] == 4 and 0 <= val["accuracy"] <= 1
    assert val["overrides"] == [override]                              # which data it was
    assert set(val["per_class_accuracy"]) == set(CLASSES)
    assert (run / val["plots"] / "confusion_matrix.png").is_file() and val["plots"] != "eval_val"
    assert (run / "eval_val" / "confusion_matrix.png").read_bytes() == own_plot


def test_predict_cli_prints_and_writes_label_and_probability(folder_run, tmp_path):
    run, _ = folder_run
    img = tmp_path / "image.png"
    cv2.imwrite(str(img), np.full((40, 50, 3), 90, np.uint8))
    out = run_cli("predict", run, img, "--out", tmp_path / "preds")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]   # only JSON
    assert f"written to {tmp_path / 'preds'}" in out.stderr       # where the images went: said
    assert len(rows) == 1 and rows[0]["label"] in CLASSES
    assert 0.5 <= rows[0]["score"] <= 1.0                       # the top of two classes
    assert rows[0]["top"][0] == [rows[0]["label"], rows[0]["score"]]
    saved = json.loads((tmp_path / "preds" / "predictions.json").read_text())
    assert saved[0]["label"] == rows[0]["label"] and saved[0]["score"] == rows[0]["score"]
    assert (tmp_path / "preds" / "image_pred.png").is_file()


def test_data_is_refused_for_a_source_that_reads_no_path(tmp_path):
    import yaml

    from visiontk.cli.evaluate import data_path_override
    from visiontk.errors import RecipeError

    run = tmp_path / "run"
    recipe = deep_update(TINY, {"output": str(run)})                 # synthetic-scenes
    run.mkdir()
    (run / "meta.json").write_text(json.dumps({"task": "classification",   # enough for
                                               "input": {"shape": [32, 32, 3]}}))   # RunDir.require
    (run / "model.keras").write_text("{}")
    (run / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    with pytest.raises(RecipeError, match="synthetic-scenes.*reads no path"):
        data_path_override(run, tmp_path / "data")
    recipe["data"] = {"source": "image-folder", "params": {"path": "/x"}}
    (run / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    # quoted, so that a path like 2024 or null stays a string through the override parser
    assert data_path_override(run, "/data/it's 2024") == "data.params.path=\"/data/it's 2024\""
