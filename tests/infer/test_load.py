"""visiontk.load (issue 20, point 3): every path kind, the API against `visiontk predict`'s JSON,
streams, overlays, the docstring examples and the errors. One tiny classification run and its export
(tests/export/heads.py, shared with tests/export and tests/demo) are copied into a workspace laid out
as the docstrings name it: runs/classify, export/classify, images/, clip.mp4."""

from __future__ import annotations

import doctest
import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from tests.conftest import ROOT, cli_in_process
from tests.demo.videos import read_video, write_video
from tests.export.heads import exported, trained_run

VIDEO_FRAMES = 6


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """The workspace folder: runs/classify, export/classify (every format), images/cat.png and
    dog.png (not the model's input size), clip.mp4 (VIDEO_FRAMES frames)."""
    base = tmp_path_factory.mktemp("api")
    shutil.copytree(trained_run("classification", tmp_path_factory), base / "runs" / "classify")
    shutil.copytree(exported("classification", tmp_path_factory)[0], base / "export" / "classify")
    (base / "images").mkdir()
    for name, colour in (("cat", (40, 160, 220)), ("dog", (200, 80, 30))):
        img = np.full((48, 64, 3), 90, np.uint8)
        cv2.circle(img, (30, 24), 14, colour, -1)
        cv2.imwrite(str(base / "images" / f"{name}.png"), img)
    write_video(base / "clip.mp4", n=VIDEO_FRAMES)
    return base


@pytest.fixture(scope="module")
def run_predictor(ws):
    import visiontk

    return visiontk.load(ws / "runs" / "classify")


@pytest.fixture(scope="module")
def onnx_predictor(ws):
    import visiontk

    return visiontk.load(ws / "export" / "classify" / "model.onnx")


def dicts(preds):
    return [p.to_dict() for p in preds]


def images(ws):
    return [ws / "images" / "cat.png", ws / "images" / "dog.png"]


# ---- the five path kinds (and the export's saved_model/ folder) ---------------------------------

def test_load_a_run_folder(ws, run_predictor):
    from visiontk.runtime.classification import ClassificationPrediction

    assert run_predictor.backend == "keras" and run_predictor.folder == ws / "runs" / "classify"
    assert run_predictor.metadata == json.loads((ws / "runs" / "classify" / "meta.json").read_text())
    preds = run_predictor.predict(images(ws))
    assert len(preds) == 2 and all(isinstance(p, ClassificationPrediction) for p in preds)
    assert preds[0].name in run_predictor.metadata["class_names"] and 0 <= preds[0].score <= 1


def test_load_an_export_folder(ws, onnx_predictor):
    import visiontk

    folder = visiontk.load(ws / "export" / "classify")
    assert folder.backend == "onnx" and folder.metadata["files"]["onnx"] == "model.onnx"
    assert dicts(folder.predict(images(ws))) == dicts(onnx_predictor.predict(images(ws)))
    assert visiontk.load(ws / "export" / "classify", backend="tflite").backend == "tflite"


def test_load_a_keras_file_also_under_another_name(ws, run_predictor):
    import visiontk

    run = ws / "runs" / "classify"
    expected = dicts(run_predictor.predict(images(ws)))
    keras_file = visiontk.load(run / "model.keras")
    assert keras_file.backend == "keras" and keras_file.folder == run
    assert dicts(keras_file.predict(images(ws))) == expected
    (run / "checkpoints").mkdir(exist_ok=True)
    for copy in (run / "best.keras", run / "checkpoints" / "model.keras"):  # a copy in the run
        shutil.copy2(run / "model.keras", copy)
        other = visiontk.load(copy)
        assert other.folder == run and other.model_file == copy          # that file, not model.keras
        assert dicts(other.predict(images(ws))) == expected
        copy.unlink()


def test_load_an_onnx_file(ws, onnx_predictor):
    assert onnx_predictor.backend == "onnx" and onnx_predictor.folder == ws / "export" / "classify"
    assert onnx_predictor.metadata["task"] == "classification"
    assert close_to_keras(ws, onnx_predictor)


def test_load_a_tflite_file(ws):
    import visiontk

    predictor = visiontk.load(ws / "export" / "classify" / "model.tflite")
    assert predictor.backend == "tflite" and predictor.folder == ws / "export" / "classify"
    assert close_to_keras(ws, predictor)


def test_load_the_exports_saved_model_folder(ws):
    import visiontk

    predictor = visiontk.load(ws / "export" / "classify" / "saved_model")
    assert predictor.backend == "saved_model" and close_to_keras(ws, predictor)


def close_to_keras(ws, predictor) -> bool:
    """The predictor's predictions agree with the run's Keras model within decode tolerance."""
    import visiontk

    frames = [cv2.imread(str(p)) for p in images(ws)]
    reference = visiontk.load(ws / "runs" / "classify").predict(frames)
    got = predictor.predict(frames)
    return all(not r.mismatches(g, f.shape[:2]) for r, g, f in zip(reference, got, frames))


# ---- the API against the CLI, and without TensorFlow --------------------------------------------

@pytest.mark.parametrize("kind", ["runs", "export", "export/classify/model.onnx"])
def test_a_prediction_from_the_api_equals_the_clis_json(ws, kind, capsys):
    import visiontk

    folder = ws / kind if kind.endswith(".onnx") else ws / kind / "classify"   # the CLI takes files too
    img = ws / "images" / "cat.png"
    code, stdout, err = cli_in_process("predict", folder, img, capsys=capsys)
    assert code == 0, err
    rows = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    [pred] = visiontk.load(folder).predict(img)
    assert rows == [{"image": str(img), **pred.to_dict()}]


TF_FREE = """
import sys, visiontk
for path in sys.argv[1:]:
    p = visiontk.load(path)
    [pred] = p.predict(%r)
    assert p.backend == "onnx" and pred.to_dict()["task"] == "classification", p
bad = [m for m in ("tensorflow", "keras") if m in sys.modules]
assert not bad, bad
print("ok")
"""


def test_loading_onnx_does_not_import_tensorflow(ws):
    export = ws / "export" / "classify"
    code = TF_FREE % str(ws / "images" / "cat.png")
    out = subprocess.run([sys.executable, "-c", code, str(export / "model.onnx"), str(export)],
                         capture_output=True, text=True, timeout=120, cwd=ws,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


# ---- predict's inputs ---------------------------------------------------------------------------

def test_predict_takes_paths_arrays_and_lists_and_always_returns_a_list(ws, onnx_predictor):
    cat, dog = images(ws)
    frame = cv2.imread(str(cat))
    expected = dicts(onnx_predictor.predict([cat, dog]))
    assert len(onnx_predictor.predict(str(cat))) == 1                    # a single image: a list of 1
    assert dicts(onnx_predictor.predict(frame)) == expected[:1]
    assert dicts(onnx_predictor.predict((frame, str(dog)))) == expected
    assert dicts(onnx_predictor.predict(np.stack([frame, frame]))) == expected[:1] * 2  # (N, H, W, C)
    assert dicts(onnx_predictor.predict([cat, dog], batch_size=1)) == expected
    assert onnx_predictor.predict([]) == []
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    as_bgr = dicts(onnx_predictor.predict(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)))
    assert dicts(onnx_predictor.predict(grey)) == as_bgr
    assert dicts(onnx_predictor.predict(grey[..., None])) == as_bgr
    bgra = cv2.cvtColor(frame, cv2.COLOR_BGR2BGRA)
    assert dicts(onnx_predictor.predict(bgra)) == expected[:1]


@pytest.mark.parametrize("bad, needle", [
    ("missing.png", "image not found"),
    (np.zeros((8, 8, 3), np.float32), "float32 array"),
    (np.zeros((8, 8, 2), np.uint8), "shape (8, 8, 2)"),
    (12, "not a int"),
    ([12], "image 0: a int"),
])
def test_predict_refuses_what_is_not_an_image_in_one_line(ws, onnx_predictor, bad, needle):
    from visiontk.errors import DataError

    bad = ws / bad if isinstance(bad, str) else bad
    with pytest.raises(DataError) as exc:
        onnx_predictor.predict(bad)
    assert needle in str(exc.value) and "\n" not in str(exc.value)


# ---- stream and draw ----------------------------------------------------------------------------

def test_stream_over_a_video_and_a_folder(ws, onnx_predictor):
    from visiontk import StreamResult

    results = list(onnx_predictor.stream(ws / "clip.mp4"))
    frames, _ = read_video(ws / "clip.mp4")
    assert [r.index for r in results] == list(range(VIDEO_FRAMES)) == list(range(len(frames)))
    assert all(isinstance(r, StreamResult) for r in results)
    assert all(np.array_equal(r.frame, f) for r, f in zip(results, frames))
    assert [r.prediction.to_dict() for r in results] == dicts(onnx_predictor.predict(frames))
    folder = list(onnx_predictor.stream(str(ws / "images")))             # name order
    assert [r.prediction.to_dict() for r in folder] == dicts(onnx_predictor.predict(images(ws)))
    for index, frame, prediction in onnx_predictor.stream(ws / "clip.mp4"):   # stop early
        break
    assert index == 0 and frame.shape == frames[0].shape


def test_stream_errors(ws, onnx_predictor, tmp_path):
    from visiontk.errors import DataError

    with pytest.raises(DataError, match="no such file, folder or camera index"):
        next(onnx_predictor.stream(tmp_path / "nothing.mp4"))
    with pytest.raises(DataError, match="cannot open camera 99"):
        next(onnx_predictor.stream(99))
    shutil.copy2(ws / "images" / "cat.png", tmp_path / "a.png")
    (tmp_path / "b.png").write_text("not an image")
    seen = []
    with pytest.raises(DataError, match="b.png: not a readable image"):
        for r in onnx_predictor.stream(tmp_path):
            seen.append(r.index)
    assert seen == [0]                                  # the frames before it were yielded


def test_draw_returns_an_annotated_image_of_the_inputs_shape(ws, onnx_predictor):
    frame = cv2.imread(str(ws / "images" / "cat.png"))
    [pred] = onnx_predictor.predict(frame)
    drawn = onnx_predictor.draw(frame, pred)
    assert drawn.shape == frame.shape and drawn.dtype == np.uint8
    assert not np.array_equal(drawn, frame)                           # something is drawn ...
    assert np.array_equal(frame, cv2.imread(str(ws / "images" / "cat.png")))  # ... on a copy
    assert np.array_equal(onnx_predictor.draw(ws / "images" / "cat.png", pred), drawn)


# ---- errors: one line each, saying what to do ---------------------------------------------------

def _bare_folder(tmp_path, *files):
    folder = tmp_path / "bare"
    folder.mkdir(exist_ok=True)
    for f in files:
        shutil.copy2(f, folder / f.name)
    return folder


def error_cases(ws, tmp_path):
    run, export = ws / "runs" / "classify", ws / "export" / "classify"
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "plain").mkdir()
    bare = _bare_folder(tmp_path, export / "model.onnx", run / "model.keras")
    in_run = tmp_path / "run_copy"
    shutil.copytree(run, in_run)
    shutil.copy2(export / "model.onnx", in_run / "model.onnx")
    renamed = tmp_path / "export_copy"
    shutil.copytree(export, renamed)
    (renamed / "model.onnx").rename(renamed / "model_v2.onnx")
    return [
        ((tmp_path / "nope",), "RunError", ["nope: not found", ".keras, .onnx"]),
        ((tmp_path / "plain",), "RunError", ["neither a run directory", "export"]),
        ((tmp_path / "notes.txt",), "ModelError", ["not a model file", ".txt", ".onnx"]),
        ((bare / "model.onnx",), "ModelError", ["holds no meta.json", "visiontk export RUN_DIR"]),
        ((bare / "model.keras",), "ModelError", ["holds no meta.json", "visiontk export RUN_DIR"]),
        ((in_run / "model.onnx",), "ModelError", ["needs the metadata.json", "visiontk export"]),
        ((renamed / "model_v2.onnx",), "ModelError", ["model_v2.onnx", "model.onnx"]),
        ((export / "model.onnx", "keras"), "ModelError", ["backend 'keras' cannot run", "'onnx'"]),
        ((export, "keras"), "ModelError", ["needs model.keras"]),
        ((export, "pytorch"), "ModelError", ["unknown backend 'pytorch'"]),
    ]


def test_load_errors_are_one_line_visiontk_errors(ws, tmp_path):
    import visiontk
    from visiontk.errors import VisionTKError

    for args, kind, needles in error_cases(ws, tmp_path):
        with pytest.raises(VisionTKError) as exc:
            visiontk.load(*args)
        msg = str(exc.value)
        assert type(exc.value).__name__ == kind and "\n" not in msg, (args, msg)
        assert all(n in msg for n in needles), (args, msg)


# ---- the docstring examples run -----------------------------------------------------------------

def test_the_docstring_examples_of_load_and_predictor_run(ws, monkeypatch):
    import visiontk
    from visiontk.infer.predictor import Predictor

    monkeypatch.chdir(ws)
    finder, report = doctest.DocTestFinder(recurse=False), []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for obj in (visiontk.load, Predictor):
        [test] = finder.find(obj, globs={})
        assert test.examples and not any(e.options for e in test.examples)      # no +SKIP
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)
    assert runner.tries >= 10
