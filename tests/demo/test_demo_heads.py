"""Per task head: `visiontk demo` headless on a generated video writes an annotated video with the
source's frame count, size and frame rate, and the task's own overlay is in it."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from tests.conftest import run_cli
from tests.demo.videos import read_video, write_video
from tests.export.heads import HEADS, LOOSE_DECODE, exported, loosen

HEADLESS = {"DISPLAY": "", "WAYLAND_DISPLAY": ""}
READOUT_ROWS = 16           # the FPS / latency readout sits in the bottom rows


def _overlay_found(export_dir, frames_in, frames_out, head, predictor=None) -> int:
    """Pixels where the task's overlay (drawn here independently, by `predictor` or the export's
    ONNX one) differs from the input; asserts the video holds that overlay there and the untouched
    input elsewhere. Returns the pixel count."""
    from visiontk.infer.predictor import Predictor

    predictor = predictor or loosen(Predictor(export_dir, "onnx"), head)
    total = 0
    for src, out in zip(frames_in, frames_out):
        expected = predictor.draw(src, predictor.predict([src])[0]).astype(np.int16)
        assert expected.shape == src.shape
        src16, out16 = src.astype(np.int16), out.astype(np.int16)
        overlay = np.abs(expected - src16).max(-1) > 40
        overlay[-READOUT_ROWS:] = False
        touched = (np.abs(expected - src16).max(-1) > 0).astype(np.uint8)
        rest = cv2.dilate(touched, np.ones((17, 17), np.uint8)) == 0    # away from JPEG block bleed
        rest[-READOUT_ROWS - 8:] = False
        if overlay.any():               # the video holds the overlay, not the plain input
            assert np.abs(out16 - expected)[overlay].mean() < np.abs(out16 - src16)[overlay].mean()
        if rest.any():
            assert np.abs(out16 - src16)[rest].mean() < 8        # elsewhere: codec noise only
        total += int(overlay.sum())
    return total


@pytest.mark.parametrize("head", list(HEADS))
def test_demo_writes_annotated_video_headless(head, tmp_path_factory, tmp_path):
    export_dir, _ = exported(head, tmp_path_factory)
    if head in LOOSE_DECODE:                  # a copy whose decode draws something (see heads.py)
        shutil.copytree(export_dir, tmp_path / "export")
        export_dir = tmp_path / "export"
        meta = json.loads((export_dir / "metadata.json").read_text())
        meta["decode"].update(LOOSE_DECODE[head])
        (export_dir / "metadata.json").write_text(json.dumps(meta))
    src, out = tmp_path / "in.avi", tmp_path / "out.avi"
    write_video(src, n=12, size=(96, 72), fps=12.0)
    frames_in, fps_in = read_video(src)
    res = run_cli("demo", export_dir, "--source", src, "--save", out, env=HEADLESS)
    assert res.returncode == 0, res.stderr
    assert "no GUI here" in res.stderr and "12 frames" in res.stdout
    frames_out, fps_out = read_video(out)
    assert len(frames_out) == len(frames_in) == 12
    assert frames_out[0].shape == frames_in[0].shape and fps_out == fps_in
    readout = [np.abs(o[-READOUT_ROWS:].astype(int) - i[-READOUT_ROWS:]).max()
               for i, o in zip(frames_in, frames_out)]
    assert min(readout) > 60                                  # the readout is on every frame
    assert _overlay_found(export_dir, frames_in, frames_out, head) > 0, f"{head}: no overlay drawn"


def test_predict_on_a_video_uses_the_demo_loop(tmp_path_factory, tmp_path):
    export_dir, _ = exported("classification", tmp_path_factory)
    src = tmp_path / "clip.mp4"
    write_video(src, n=9)
    res = run_cli("predict", export_dir, src, "--out", tmp_path / "preds")
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    assert [r["frame"] for r in rows] == list(range(9)) and all(r["video"] == str(src) for r in rows)
    frames, _ = read_video(tmp_path / "preds" / "clip_pred.mp4")
    assert len(frames) == 9


def test_keras_backend_on_the_run_folder(tmp_path_factory, tmp_path):
    from tests.export.heads import trained_run
    from visiontk.infer.predictor import Predictor
    from visiontk.infer.video import run_demo

    src = tmp_path / "in.avi"
    write_video(src, n=6)
    res = run_demo(Predictor(trained_run("classification", tmp_path_factory), "keras"), str(src),
                   show=False, save=tmp_path / "out.mp4", echo=lambda *_: None)
    assert res.exit_code == 0 and res.frames == 6 and res.dropped == 0
    assert len(read_video(tmp_path / "out.mp4")[0]) == 6


@pytest.mark.skipif("metric" not in HEADS, reason="the metric head has not landed")
def test_metric_demo_names_the_nearest_gallery_identity(tmp_path_factory, tmp_path):
    from visiontk.cli.demo import with_gallery
    from visiontk.infer.gallery import enroll

    export_dir, _ = exported("metric", tmp_path_factory)
    src, out, gallery = tmp_path / "in.avi", tmp_path / "out.avi", tmp_path / "people.npz"
    write_video(src, n=6)
    frames, _ = read_video(src)
    cv2.imwrite(str(tmp_path / "ann.png"), frames[0])
    enroll(export_dir, gallery, "ann", [tmp_path / "ann.png"])
    pred = with_gallery(export_dir, "onnx", gallery).predict([frames[0]])[0]
    assert pred.identity == "ann" and pred.distance < 1e-3       # the enrolled frame itself
    res = run_cli("demo", export_dir, "--source", src, "--no-show", "--save", out, "--gallery", gallery)
    assert res.returncode == 0, res.stderr
    frames_out, _ = read_video(out)
    assert len(frames_out) == 6
    assert _identity_label_found(export_dir, gallery, frames, frames_out) > 0


def _identity_label_found(export_dir, gallery, frames_in, frames_out) -> int:
    """Asserts every saved frame carries the gallery identity's label (name and distance) where the
    predictor draws it, not the plain embedding label drawn without a gallery; returns its pixels."""
    from visiontk.cli.demo import with_gallery
    from visiontk.infer.predictor import Predictor

    named, plain = with_gallery(export_dir, "onnx", gallery), Predictor(export_dir, "onnx")
    total = 0
    for src, out in zip(frames_in, frames_out):
        pred = named.predict([src])[0]
        assert pred.identity in ("ann", "unknown")
        expected = named.draw(src, pred).astype(np.int16)
        without = plain.draw(src, plain.predict([src])[0]).astype(np.int16)
        box = np.abs(expected - without).max(-1) > 40     # the label box: same embedding bars in both
        out16 = out.astype(np.int16)
        assert box.sum() > 50
        assert np.abs(out16 - expected)[box].mean() < 0.5 * np.abs(out16 - without)[box].mean()
        total += int(box.sum())
    assert _overlay_found(export_dir, frames_in, frames_out, "metric", predictor=named) > 0
    return total


def test_gallery_needs_a_metric_model(tmp_path_factory, tmp_path):
    export_dir, _ = exported("classification", tmp_path_factory)
    src = tmp_path / "in.avi"
    write_video(src, n=2)
    np.savez(tmp_path / "g.npz", names=np.array(["a"]), embeddings=np.ones((1, 3), np.float32),
             fingerprint=np.array("f"), probe=np.zeros((4, 3), np.float32),
             distance=np.array("euclidean"))                   # a well-formed gallery: the model is wrong
    res = run_cli("demo", export_dir, "--source", src, "--no-show", "--gallery", tmp_path / "g.npz")
    assert res.returncode == 2 and "not an embedding model" in res.stderr
