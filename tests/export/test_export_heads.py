"""Per task head: a short training run exported to every format verifies (parity <= 1e-4, decoded
predictions identical), every backend decodes the same, and the TensorFlow-free runner equals
`visiontk predict --backend onnx`."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT, run_cli
from tests.export.heads import HEADS, exported, loosen, scene_images, trained_run

GUARD = """
import runpy, sys
for name in ("tensorflow", "keras", "visiontk", "tf2onnx", "tensorflow_lite"):
    sys.modules[name] = None          # importing any of these now raises ImportError
sys.argv = ["onnx_predict.py"] + sys.argv[1:]
runpy.run_path(%r, run_name="__main__")
"""


@pytest.mark.parametrize("head", list(HEADS))
def test_every_format_verifies_against_keras(head, tmp_path_factory):
    out, result = exported(head, tmp_path_factory)
    parity = json.loads((out / "parity.json").read_text())
    assert parity["passed"] and parity["tolerance"] == 1e-4
    assert "'val' split" in parity["inputs"]                     # real validation images
    for fmt in ("saved_model", "onnx", "tflite"):
        rep = parity["formats"][fmt]
        assert rep["max_abs"] <= 1e-4, (fmt, rep)
        assert rep["predictions"] == "identical", (fmt, rep["predictions"])
    meta = json.loads((out / "metadata.json").read_text())
    run_meta = json.loads((trained_run(head, tmp_path_factory) / "meta.json").read_text())
    for key in ("task", "class_names", "decode"):
        assert meta[key] == run_meta[key]
    assert meta["input"]["shape"] == run_meta["input"]["shape"] and meta["input"]["batch"] == "dynamic"
    assert meta["outputs"]["names"] and len(meta["weights_sha256"]) == 64
    assert {"visiontk", "tensorflow", "tf2onnx"} <= set(meta["versions"])
    assert (out / "saved_model" / "saved_model.pb").is_file() and (out / "model.tflite").is_file()
    assert (out / "runtime" / f"{meta['task']}.py").is_file()
    assert not list(out.parent.glob(".*exporting*"))            # no temporary left behind


@pytest.mark.parametrize("head", list(HEADS))
def test_every_backend_decodes_like_keras(head, tmp_path_factory, tmp_path):
    from visiontk.infer.predictor import Predictor
    from visiontk.runtime.preprocess import read_image

    out, _ = exported(head, tmp_path_factory)
    frames = [read_image(p) for p in scene_images(tmp_path)]
    keras_preds = loosen(Predictor(trained_run(head, tmp_path_factory), "keras"), head).predict(frames)
    if head in ("detection", "localization"):
        assert any(p.boxes for p in keras_preds)      # a real comparison, not 0 boxes == 0 boxes
    for backend in ("saved_model", "onnx", "tflite"):
        preds = loosen(Predictor(out, backend), head).predict(frames)
        from visiontk.export.verify import prediction_mismatches

        assert prediction_mismatches(keras_preds, preds, [f.shape[:2] for f in frames]) == [], backend


@pytest.mark.parametrize("head", list(HEADS))
def test_onnx_predict_without_tensorflow_equals_visiontk_predict(head, tmp_path_factory, tmp_path):
    out, _ = exported(head, tmp_path_factory)
    images = [str(p) for p in scene_images(tmp_path / "in", n=3, seed=1)]
    script = tmp_path / "guarded.py"
    script.write_text(GUARD % str(ROOT / "export" / "onnx_predict.py"))
    alone = subprocess.run([sys.executable, str(script), str(out), *images, "--out",
                            str(tmp_path / "drawn")], capture_output=True, text=True, timeout=120,
                           cwd=tmp_path)
    assert alone.returncode == 0, alone.stderr
    ours = run_cli("predict", out, *images, "--backend", "onnx", "--out", tmp_path / "drawn_vtk")
    assert ours.returncode == 0, ours.stderr
    rows_alone = [json.loads(line) for line in alone.stdout.splitlines()]
    rows_ours = [json.loads(line) for line in ours.stdout.splitlines() if line.startswith("{")]
    assert len(rows_alone) == len(images) and rows_alone == rows_ours
    import cv2

    for p in images:                                   # the same overlays, pixel for pixel
        name = f"{p.rsplit('/', 1)[-1][:-4]}_pred.png"
        a = cv2.imread(str(tmp_path / "drawn" / name))
        b = cv2.imread(str(tmp_path / "drawn_vtk" / name))
        assert a is not None and np.array_equal(a, b)


def test_guard_really_blocks_tensorflow(tmp_path):
    script = tmp_path / "probe.py"
    script.write_text(GUARD.split("sys.argv")[0] + "import tensorflow\n")
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert res.returncode != 0 and "import of tensorflow halted" in res.stderr
