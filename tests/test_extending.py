"""docs/extending.md is true: its worked examples (an architecture, a data source, a task package with
its runtime module, a recipe) are copied into a scratch copy of the package, exactly as the page shows
them and nowhere else, then trained for one epoch, evaluated and predicted on through the CLI."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "extending.md"
BLOCK = re.compile(r"<!-- file: (?P<path>[^ ]+) -->\n```[a-z]*\n(?P<code>.*?)```", re.S)


def doc_files() -> dict[str, str]:
    return {m["path"]: m["code"] for m in BLOCK.finditer(DOC.read_text())}


def test_the_page_shows_every_file_of_the_examples():
    files = doc_files()
    assert set(files) == {
        "visiontk/architectures/tinynet.py", "visiontk/data/sources/stripes.py",
        "visiontk/tasks/rotation/__init__.py", "visiontk/tasks/rotation/config.py",
        "visiontk/tasks/rotation/task.py", "visiontk/runtime/rotation.py", "recipes/rotation.yaml"}
    for path in files:
        assert not (ROOT / path).exists(), f"{path} is an example of docs/extending.md, not a module"
    assert "PLACEHOLDER" not in DOC.read_text()


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """A copy of the package with the page's files added, and nothing else changed."""
    root = tmp_path_factory.mktemp("extending")
    shutil.copytree(ROOT / "visiontk", root / "visiontk", ignore=shutil.ignore_patterns("__pycache__"))
    for path, code in doc_files().items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(code)
    return root


def visiontk_cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(root), TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="-1")
    out = subprocess.run([sys.executable, "-m", "visiontk", *args], cwd=root, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"visiontk {' '.join(args)}:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    return out


@pytest.mark.slow
def test_the_example_units_train_evaluate_and_predict(scratch):
    listing = visiontk_cli(scratch, "arch", "list").stdout
    assert "tinynet" in listing
    visiontk_cli(scratch, "train", "recipes/rotation.yaml")
    run = scratch / "runs" / "rotation"
    meta = json.loads((run / "meta.json").read_text())
    assert meta["task"] == "rotation"
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["val"]["accuracy"] <= 1.0 and metrics["val"]["images"] == 32

    import cv2

    stripes = np.zeros((32, 32), np.uint8)
    stripes[::8] = 255
    cv2.imwrite(str(scratch / "stripes.png"), stripes)
    out = visiontk_cli(scratch, "predict", "runs/rotation", "stripes.png", "--out", "drawn")
    prediction = json.loads(out.stdout.strip().splitlines()[-1])
    assert prediction["task"] == "rotation" and prediction["turn"] in (0, 90, 180, 270) and 0 <= prediction["score"] <= 1
    assert (scratch / "drawn" / "stripes_pred.png").is_file()
