"""Per task head: a short training run exported to every format verifies (parity <= 1e-4, decoded
predictions identical), every backend decodes the same, and the TensorFlow-free runner equals
`visiontk predict --backend onnx`."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT, cli_in_process, run_cli
from tests.export.heads import EVERY_BOX, HEADS, exported, loosen, scene_images, trained_run

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
    meta = json.loads((out / "metadata.json").read_text())
    for fmt in ("saved_model", "onnx", "tflite"):
        rep = parity["formats"][fmt]
        assert rep["max_abs"] <= 1e-4, (fmt, rep)
        assert rep["predictions"] == "identical", (fmt, rep["predictions"])
        assert set(rep["outputs"]) == set(meta["outputs"]["names"]), fmt     # every output, each
        for name, stats in rep["outputs"].items():                          # with abs and rel
            assert 0 <= stats["max_rel"] <= 1e-4 and 0 <= stats["max_abs"] <= rep["max_abs"], \
                (fmt, name, stats)
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
def test_metadata_records_the_training_preprocessing(head, tmp_path_factory):
    """What a foreign runtime needs to feed the model as training did: pixel scale, mean / std,
    colour order and resize mode (the runtime's preprocess reads exactly these)."""
    from visiontk.recipe import load_recipe

    out, _ = exported(head, tmp_path_factory)
    inp = json.loads((out / "metadata.json").read_text())["input"]
    recipe = load_recipe(trained_run(head, tmp_path_factory) / "recipe.yaml")
    assert inp["scale"] == pytest.approx(1 / 255) and inp["mean"] == [0.0] and inp["std"] == [1.0]
    assert inp["color"] == ("RGB" if recipe.model.input_shape[2] == 3 else "GRAY")
    assert inp["resize"] == recipe.data.resize and inp["resize"] in ("stretch", "pad")
    assert inp["shape"] == list(recipe.model.input_shape) and inp["layout"] == "NHWC"


@pytest.mark.skipif("metric" not in HEADS, reason="the metric head has not landed")
def test_metric_export_carries_the_measured_threshold(tmp_path_factory):
    out, _ = exported("metric", tmp_path_factory)
    decode = json.loads((out / "metadata.json").read_text())["decode"]
    metrics = json.loads((trained_run("metric", tmp_path_factory) / "metrics.json").read_text())
    split = "test" if "test" in metrics else "val"            # the one `visiontk identify` prefers
    assert metrics[split]["threshold"] is not None
    assert decode["threshold"] == pytest.approx(metrics[split]["threshold"])
    assert decode["threshold_from"] == split and decode["distance"] == "euclidean"


@pytest.mark.parametrize("head", list(HEADS))
def test_every_backend_decodes_like_keras(head, tmp_path_factory, tmp_path):
    from visiontk.infer.predictor import Predictor
    from visiontk.runtime.preprocess import read_image

    out, _ = exported(head, tmp_path_factory)
    frames = [read_image(p) for p in scene_images(tmp_path)]
    keras_preds = loosen(Predictor(trained_run(head, tmp_path_factory), "keras"), head,
                        EVERY_BOX).predict(frames)
    if head in ("detection", "detection_multiscale", "localization"):
        assert any(p.boxes for p in keras_preds)      # a real comparison, not 0 boxes == 0 boxes
    for backend in ("saved_model", "onnx", "tflite"):
        preds = loosen(Predictor(out, backend), head, EVERY_BOX).predict(frames)
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
    assert f"annotated images in {tmp_path / 'drawn'}" in alone.stderr     # said, not on stdout
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


_cli = cli_in_process


def _close(a, b, tol=1e-5) -> bool:
    """JSON rows equal, numbers within `tol` (backends differ by float rounding only)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], tol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return abs(a - b) <= tol
    return a == b


def test_predict_backends_agree_and_onnx_is_the_default_for_exports(tmp_path_factory, tmp_path,
                                                                   capsys):
    """`visiontk predict PATH IMAGES --backend B` for every backend (keras reads the run, the others
    the export) prints the same predictions; without --backend an export runs on ONNX Runtime."""
    from visiontk.infer.predictor import Predictor

    out, _ = exported("classification", tmp_path_factory)
    run = trained_run("classification", tmp_path_factory)
    images = scene_images(tmp_path, n=3)
    rows = {}
    for backend in ("onnx", "keras", "saved_model", "tflite", None):
        args = ["predict", run if backend == "keras" else out, *images]
        code, stdout, err = _cli(*args, *(["--backend", backend] if backend else []), capsys=capsys)
        assert code == 0, err
        rows[backend] = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        assert [r["image"] for r in rows[backend]] == [str(p) for p in images]
        assert _close(rows[backend], rows["onnx"]), backend
    assert rows[None] == rows["onnx"] and Predictor(out).backend == "onnx"
    code, _, err = _cli("predict", out, images[0], "--backend", "keras", capsys=capsys)
    assert code == 2 and "needs model.keras" in err          # Keras reads a run folder, not an export


def test_onnx_predict_on_a_video_without_tensorflow(tmp_path_factory, tmp_path):
    """The TensorFlow-free runner on a video file: a JSON line per frame equal to visiontk's ONNX
    predictions, and an annotated video with the source's frame count and size."""
    import cv2

    from tests.demo.videos import read_video, write_video
    from visiontk.infer.predictor import Predictor

    out, _ = exported("classification", tmp_path_factory)
    src, saved = tmp_path / "clip.avi", tmp_path / "clip_pred.mp4"
    write_video(src, n=7, size=(96, 72))
    frames, _ = read_video(src)
    script = tmp_path / "guarded.py"
    script.write_text(GUARD % str(ROOT / "export" / "onnx_predict.py"))
    alone = subprocess.run([sys.executable, str(script), str(out), str(src), "--save", str(saved)],
                           capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert alone.returncode == 0, alone.stderr
    assert f"annotated video written to {saved}" in alone.stderr
    rows = [json.loads(line) for line in alone.stdout.splitlines()]
    # the same keys as `visiontk predict` on a video: "video" and "frame"
    assert [(r.pop("video"), r.pop("frame")) for r in rows] == [(str(src), i) for i in range(7)]
    predictor = Predictor(out, "onnx")
    assert rows == [predictor.predict([f])[0].to_dict() for f in frames]
    drawn, _ = read_video(saved)
    assert len(drawn) == len(frames) == 7 and drawn[0].shape == frames[0].shape
    cap = cv2.VideoCapture(str(saved))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(12.0)
    cap.release()
