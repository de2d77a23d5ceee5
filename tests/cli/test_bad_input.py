"""Bad input on the command line: one line on stderr naming the problem, exit code 2, nothing written."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import yaml

from tests.conftest import TINY, deep_update, run_cli


def recipe_file(tmp_path, extra=None, text=None, data_section=None):
    data = deep_update(TINY, extra or {})
    if data_section is not None:
        data["data"] = data_section
    data["output"] = str(tmp_path / "run")
    path = tmp_path / "r.yaml"
    path.write_text(text if text is not None else yaml.safe_dump(data, sort_keys=False))
    return path


def assert_one_line_error(out, *needles):
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    lines = [l for l in out.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in out.stderr


def image_folder(tmp_path, empty=False, broken=False):
    root = tmp_path / "imgs"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        if not (empty and c == "b"):
            for i in range(3):
                cv2.imwrite(str(root / c / f"{i}.png"), np.full((8, 8, 3), 50 * i, np.uint8))
    if broken:
        (root / "a" / "bad.png").write_bytes(b"\x89PNG garbage")
    return root


@pytest.mark.parametrize("case", ["unknown_key", "wrong_type", "out_of_range", "unknown_arch",
                                  "unknown_task", "unknown_optimizer"])
def test_recipe_mistakes(tmp_path, case):
    extra, needles = {
        "unknown_key": ({"train": {"batch_sise": 8}}, ["train.batch_sise", "did you mean 'batch_size'", "line"]),
        "wrong_type": ({"train": {"epochs": "ten"}}, ["train.epochs: must be an integer, got 'ten'", "line"]),
        "out_of_range": ({"train": {"optimizer": {"name": "sgd", "momentum": 1.5}}},
                         ["train.optimizer.momentum: must be between 0.0 and 1.0, got 1.5", "line"]),
        "unknown_arch": ({"model": {"backbone": {"name": "lenet6"}}},
                         ["model.backbone.name", "did you mean 'lenet5'"]),
        "unknown_task": ({"task": "classifcation"}, ["task", "did you mean 'classification'"]),
        "unknown_optimizer": ({"train": {"optimizer": {"name": "sgdd"}}},
                              ["train.optimizer.name", "did you mean 'sgd'"]),
    }[case]
    path = recipe_file(tmp_path, extra)
    for command in (["recipe", "check", path], ["train", path]):
        assert_one_line_error(run_cli(*command), *needles)
    assert not (tmp_path / "run").exists()


def test_missing_file_and_yaml_syntax(tmp_path):
    assert_one_line_error(run_cli("train", tmp_path / "absent.yaml"), "recipe file not found")
    path = recipe_file(tmp_path, text="task: classification\nmodel: {backbone: [\n")
    assert_one_line_error(run_cli("train", path), "YAML syntax error", "line")
    assert not (tmp_path / "run").exists()


def test_missing_dataset_path(tmp_path):
    path = recipe_file(tmp_path, data_section={"source": "fashion-mnist",
                                               "params": {"path": str(tmp_path / "nowhere")}})
    assert_one_line_error(run_cli("train", path), "Fashion-MNIST not found", "apt-get install")
    assert not (tmp_path / "run").exists()


def test_empty_class_folder_and_unreadable_image(tmp_path):
    root = image_folder(tmp_path, empty=True)
    path = recipe_file(tmp_path, data_section={"source": "image-folder", "params": {"path": str(root)}})
    assert_one_line_error(run_cli("train", path), "class folder", "has no images")
    assert not (tmp_path / "run").exists()
    root = image_folder(tmp_path / "second", broken=True)
    path = recipe_file(tmp_path, data_section={"source": "image-folder", "params": {"path": str(root)}})
    assert_one_line_error(run_cli("train", path), "unreadable image", "bad.png")
    assert not (tmp_path / "run").exists()


def test_evaluate_and_predict_on_a_missing_run(tmp_path):
    assert_one_line_error(run_cli("evaluate", tmp_path / "nope"), "run directory not found")
    assert_one_line_error(run_cli("predict", tmp_path / "nope", tmp_path / "x.png"), "not found")


def test_help_is_fast_and_has_examples():
    import time

    t0 = time.perf_counter()
    out = run_cli("--help")
    assert out.returncode == 0 and "Examples" in out.stdout
    assert time.perf_counter() - t0 < 5      # includes the interpreter start; no TensorFlow import
    for command in (["train"], ["evaluate"], ["predict"], ["recipe", "check"], ["arch", "list"]):
        out = run_cli(*command, "--help")
        assert out.returncode == 0 and "Example" in out.stdout, command


def test_click_usage_errors_are_one_line_with_a_help_hint(tmp_path):
    cases = [(["evaluate"], "Missing argument 'RUN_DIR'", "(see visiontk evaluate --help)"),
             (["train", "--bogus", tmp_path / "r.yaml"], "No such option '--bogus'",
              "(see visiontk train --help)"),
             (["evalute"], "Did you mean 'evaluate'?", "(see visiontk --help)"),
             (["arch", "show", "lenet5", "--input"], "'--input' requires an argument",
              "(see visiontk arch show --help)")]
    for args, *needles in cases:
        assert_one_line_error(run_cli(*args), *needles)


def test_debug_shows_the_traceback_and_still_exits_2(tmp_path):
    out = run_cli("--debug", "train", tmp_path / "absent.yaml")
    assert out.returncode == 2, out.stderr
    assert "Traceback (most recent call last)" in out.stderr and "RecipeError" in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("error: recipe file not found")
    assert_one_line_error(run_cli("train", tmp_path / "absent.yaml"), "recipe file not found")
