"""Bad run folders and run commands (issue 17, points 5, 7 and 9): evaluate / predict / export on a
folder that is not a run or whose meta.json or metrics.json is damaged, an unfinished run, training
into a folder of the user's, launch with bad worker counts, a loss that diverges. Each is one line
naming the file or option, exit 2, and nothing changed (harness.check_bad_input)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from tests.hardening.builders_runs import META, laid_out_run, tiny_recipe_file, user_folder
from tests.hardening.harness import BadInput, cases_param, check_bad_input


def with_image(box):
    cv2.imwrite(str(box / "scene.png"), np.full((16, 16, 3), 99, np.uint8))
    return box / "scene.png"


def run_with(meta=None, *, finished=True, metrics=None):
    """make(): a laid-out run sandbox/run (meta.json content `meta`, metrics.json `metrics`)."""
    def make(box):
        run = laid_out_run(box / "run", meta=meta, finished=finished)
        if metrics is not None:
            (run / "metrics.json").write_bytes(metrics)
        return {"run": run, "meta": run / "meta.json", "metrics": run / "metrics.json",
                "image": with_image(box), "other": user_folder(box / "other_data")}
    return make


def not_a_run(box):
    return {"run": user_folder(box / "photos"), "image": with_image(box)}


def recipe_into_user_folder(box):
    return {"recipe": tiny_recipe_file(box, name="r.yaml"), "folder": user_folder(box / "photos")}


CASES = [
    BadInput("evaluate_a_folder_that_is_not_a_run", not_a_run, ["evaluate", "{run}"],
             ["{run}", "not a visiontk run"]),
    BadInput("evaluate_a_missing_folder", lambda box: {"run": box / "runs" / "nope"},
             ["evaluate", "{run}"], ["run directory not found", "{run}"]),
    BadInput("evaluate_truncated_meta_json", run_with(b'{"format_version": 1, "task": "classi'),
             ["evaluate", "{run}"], ["{meta}", "not valid JSON", "cut short"]),
    BadInput("evaluate_empty_meta_json", run_with(b""), ["evaluate", "{run}"],
             ["{meta}", "not valid JSON"]),
    BadInput("evaluate_meta_json_is_a_list", run_with([META]), ["evaluate", "{run}"],
             ["{meta}", "list"]),
    BadInput("evaluate_meta_json_not_utf8", run_with(b'{"task": "\xff\xfe"}'), ["evaluate", "{run}"],
             ["{meta}", "UTF-8"]),
    BadInput("evaluate_meta_json_without_task",
             run_with({k: v for k, v in META.items() if k != "task"}), ["evaluate", "{run}"],
             ["{meta}", "task"]),
    BadInput("evaluate_meta_json_with_a_bad_input_shape",
             run_with({**META, "input": {**META["input"], "shape": [0, 32, 3]}}),
             ["evaluate", "{run}"], ["{meta}", "input.shape"]),
    BadInput("evaluate_an_unfinished_run", run_with(finished=False), ["evaluate", "{run}"],
             ["{run}", "did not finish", "visiontk train"]),
    BadInput("evaluate_other_data_on_an_unfinished_run", run_with(finished=False),
             ["evaluate", "{run}", "--data", "{other}"], ["{run}", "did not finish"]),
    BadInput("evaluate_truncated_metrics_json", run_with(metrics=b'{"val": {"accur'),
             ["evaluate", "{run}"], ["{metrics}", "not valid JSON"]),
    BadInput("evaluate_metrics_json_is_a_list", run_with(metrics=b"[1, 2]"), ["evaluate", "{run}"],
             ["{metrics}", "list"]),
    BadInput("predict_with_a_folder_that_is_not_a_run", not_a_run, ["predict", "{run}", "{image}"],
             ["{run}"]),
    BadInput("predict_with_a_truncated_meta_json", run_with(b'{"task": '),
             ["predict", "{run}", "{image}"], ["{meta}"]),
    BadInput("export_a_run_with_a_meta_json_list", run_with([1, 2]), ["export", "{run}"],
             ["{meta}"]),
    BadInput("train_into_a_folder_of_the_user", recipe_into_user_folder,
             ["train", "{recipe}", "output={folder}"], ["{folder}", "not a visiontk run"]),
    BadInput("launch_into_a_folder_of_the_user", recipe_into_user_folder,
             ["launch", "--workers", "2", "{recipe}", "output={folder}"],
             ["{folder}", "not a visiontk run"]),
    BadInput("launch_zero_workers", recipe_into_user_folder, ["launch", "--workers", "0", "{recipe}"],
             ["--workers"]),
    BadInput("launch_too_many_workers", recipe_into_user_folder,
             ["launch", "--workers", "1000", "{recipe}"], ["--workers"]),
    BadInput("launch_workers_not_a_number", recipe_into_user_folder,
             ["launch", "--workers", "two", "{recipe}"], ["--workers"]),
]


@pytest.mark.parametrize("case", cases_param(CASES))
def test_bad_run_input(case, sandbox, capfd):
    check_bad_input(case, sandbox, capfd)


def diverging_recipe(box):
    # a learning rate recipe validation accepts (finite), large enough to overflow LeNet-5's loss
    return {"recipe": tiny_recipe_file(box, box / "run", name="r.yaml", extra={
        "train": {"optimizer": {"name": "sgd", "learning_rate": 1e12}}})}


def test_a_diverging_loss_stops_the_run_unfinished(sandbox, capfd):
    case = BadInput("train_with_a_diverging_loss", diverging_recipe, ["train", "{recipe}"],
                    ["training diverged", "loss is nan", "train.optimizer.learning_rate",
                     "{sandbox}/run"], allow_new=("run", "run/*"))
    check_bad_input(case, sandbox, capfd)
    run = sandbox / "run"
    assert not (run / "model.keras").exists() and not (run / "metrics.json").exists()
    assert not (run / "checkpoints" / "last.weights.h5").exists()      # no epoch end was saved
    assert json.loads((run / "meta.json").read_text())["task"] == "classification"
