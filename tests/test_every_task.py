"""Every registered task (visiontk.catalog.TASKS, not a hand-kept list) goes through what a user does
after training: an export whose every format passes parity, `visiontk predict` on an image, the demo
overlay on a video file, and export/onnx_predict.py (without TensorFlow) printing the same prediction
as `visiontk predict`. A new task cannot skip them: registering it without a tiny recipe in
tests/tiny_recipes/<task>.py fails here.

The tiny runs and exports are the ones tests/export and tests/demo share (tests/export/heads.py):
trained and exported once per test process.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT, cli_in_process
from tests.demo.videos import read_video, write_video
from tests.export.heads import HEADS, LOOSE_DECODE, exported, scene_images
from tests.export.test_export_heads import GUARD

pytestmark = pytest.mark.slow
READOUT_ROWS = 16           # the demo's FPS / latency readout sits in the bottom rows


def registered_tasks() -> list[str]:
    from visiontk.catalog import TASKS, populate

    populate()
    return sorted(TASKS.names())


@pytest.fixture(scope="module", params=registered_tasks())
def task_export(request, tmp_path_factory):
    """(task name, its tiny run's export with every format, a copy of it whose decode draws
    something after one epoch (LOOSE_DECODE), a scratch folder)."""
    name = request.param
    if name not in HEADS:
        pytest.fail(f"task '{name}' is registered but has no tiny recipe: add "
                    f"tests/tiny_recipes/{name}.py (RECIPE = overrides of tests.conftest.TINY)")
    out, _ = exported(name, tmp_path_factory)
    scratch = tmp_path_factory.mktemp(f"every_{name}")
    loose = scratch / "export"
    shutil.copytree(out, loose)
    meta = json.loads((loose / "metadata.json").read_text())
    meta["decode"].update(LOOSE_DECODE.get(name, {}))
    (loose / "metadata.json").write_text(json.dumps(meta))
    return name, out, loose, scratch


def test_export_passes_parity_in_every_format(task_export):
    name, out, _, _ = task_export
    parity = json.loads((out / "parity.json").read_text())
    assert parity["passed"] and set(parity["formats"]) == {"saved_model", "onnx", "tflite"}
    for fmt, report in parity["formats"].items():
        assert report["passed"] and report["predictions"] == "identical", (fmt, report)
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["task"] == name and (out / "runtime" / f"{name}.py").is_file()


def test_decode_gives_the_tasks_own_prediction_type(task_export):
    """The Prediction type comes from the task's runtime module, says its task, and compares
    equal to itself."""
    from visiontk.catalog import TASKS
    from visiontk.infer.predictor import Predictor
    from visiontk.runtime.predictions import Prediction
    from visiontk.runtime.preprocess import read_image

    name, _, loose, scratch = task_export
    frame = read_image(scene_images(scratch / "type", n=1)[0])
    (pred,) = Predictor(loose, "onnx").predict([frame])
    assert isinstance(pred, Prediction) and type(pred).__module__ == TASKS.get(name).runtime.__name__
    assert pred.task == name and pred.to_dict()["task"] == name
    assert pred.mismatches(pred, frame.shape[:2]) == []


def test_predict_and_onnx_predict_print_the_same_prediction(task_export, capsys):
    name, _, loose, scratch = task_export
    images = [str(p) for p in scene_images(scratch / "images", n=2, seed=3)]
    code, stdout, err = cli_in_process("predict", loose, *images, capsys=capsys)
    assert code == 0, err
    ours = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    script = scratch / "guarded.py"
    script.write_text(GUARD % str(ROOT / "export" / "onnx_predict.py"))
    alone = subprocess.run([sys.executable, str(script), str(loose), *images], capture_output=True,
                           text=True, timeout=120, cwd=scratch)
    assert alone.returncode == 0, alone.stderr
    rows = [json.loads(line) for line in alone.stdout.splitlines()]
    assert [r["image"] for r in ours] == images and all(r["task"] == name for r in ours)
    assert rows == ours


def test_demo_draws_the_tasks_overlay_on_a_video(task_export, capsys):
    """`visiontk demo --no-show --save` on a video file: every frame written, each holding the
    task's overlay (drawn here independently by the export's ONNX predictor)."""
    from visiontk.infer.predictor import Predictor

    name, _, loose, scratch = task_export
    src, saved = scratch / "clip.avi", scratch / "clip_demo.avi"
    write_video(src, n=6, size=(96, 72))
    code, stdout, err = cli_in_process("demo", loose, "--source", src, "--no-show", "--save", saved,
                                       capsys=capsys)
    assert code == 0, err
    assert "6 frames" in stdout
    frames_in, _ = read_video(src)
    frames_out, _ = read_video(saved)
    assert len(frames_out) == len(frames_in) == 6 and frames_out[0].shape == frames_in[0].shape
    predictor = Predictor(loose, "onnx")
    overlay_pixels = 0
    for src_frame, out_frame in zip(frames_in, frames_out):
        expected = predictor.draw(src_frame, predictor.predict([src_frame])[0]).astype(np.int16)
        plain, written = src_frame.astype(np.int16), out_frame.astype(np.int16)
        overlay = np.abs(expected - plain).max(-1) > 40
        overlay[-READOUT_ROWS:] = False
        if overlay.any():                 # the video holds the overlay, not the plain frame
            assert np.abs(written - expected)[overlay].mean() < np.abs(written - plain)[overlay].mean()
        overlay_pixels += int(overlay.sum())
    assert overlay_pixels > 0, f"{name}: the demo drew nothing"
