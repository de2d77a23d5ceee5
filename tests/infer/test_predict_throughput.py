"""What makes `visiontk predict` fast on a folder, without changing a single output: the batch
preprocessing (bit-identical to converting each image alone), several decoding threads (rows and
'skipped' lines in source order), the model's thread count (--threads) and OpenCV's (one while the
reader runs), and a folder listing built from strings."""

from __future__ import annotations

import json
import os
import shutil

import cv2
import numpy as np
import pytest

from tests.conftest import cli_in_process
from tests.demo.videos import write_video
from tests.export.heads import exported


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    return exported("classification", tmp_path_factory)[0]


def one_by_one(frames_bgr, meta):
    """The preprocessing as it was written first, one image at a time (the reference)."""
    from visiontk.runtime.preprocess import letterbox_params

    h, w, c = meta["input"]["shape"]
    out = np.zeros((len(frames_bgr), h, w, c), np.float32)
    for i, frame in enumerate(frames_bgr):
        img = frame if frame.ndim == 3 else cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)[..., None] if c == 1 else \
            cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        ih, iw = img.shape[:2]
        interp = cv2.INTER_AREA if (ih > h or iw > w) else cv2.INTER_LINEAR
        if meta["input"].get("resize", "stretch") == "pad":
            _, nh, nw, top, left = letterbox_params(ih, iw, h, w)
            resized = cv2.resize(img, (nw, nh), interpolation=interp).reshape(nh, nw, c)
            out[i, top:top + nh, left:left + nw] = resized.astype(np.float32) / 255.0
        else:
            resized = img if (ih, iw) == (h, w) else cv2.resize(img, (w, h), interpolation=interp)
            out[i] = resized.reshape(h, w, c).astype(np.float32) / 255.0
    return out


@pytest.mark.parametrize("resize", ["stretch", "pad"])
@pytest.mark.parametrize("channels", [3, 1])
def test_batch_preprocessing_is_bit_identical_to_one_image_at_a_time(resize, channels):
    """Grey, BGR and BGRA frames smaller, larger (INTER_AREA) and the size of the input."""
    from visiontk.runtime.preprocess import preprocess

    rng = np.random.default_rng(channels)
    for trial in range(60):
        h, w = (int(v) for v in rng.integers(8, 97, 2))
        meta = {"input": {"shape": [h, w, channels], "resize": resize}}
        frames = []
        for k in range(4):
            fh, fw = (h, w) if k == 0 else (int(v) for v in rng.integers(h // 2 + 1, 3 * h, 2))
            shape = [(fh, fw), (fh, fw, 3), (fh, fw, 4)][int(rng.integers(0, 3))]
            frames.append(rng.integers(0, 256, shape, dtype=np.uint8))
        want, got = one_by_one(frames, meta), preprocess(frames, meta)
        assert got.dtype == np.float32 and got.shape == want.shape
        assert np.array_equal(got, want), (trial, meta, [f.shape for f in frames])
    assert preprocess([], {"input": {"shape": [8, 8, 3]}}).shape == (0, 8, 8, 3)


@pytest.fixture
def mixed(tmp_path):
    """Nine images with two unreadable files among them, and a video."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "mixed"
    folder.mkdir()
    for i in range(11):
        if i in (3, 8):
            (folder / f"{i:02d}.png").write_bytes(b"\x89PNG truncated")
        else:
            cv2.imwrite(str(folder / f"{i:02d}.png"),
                        rng.integers(0, 255, (30 + i, 50 - i, 3), dtype=np.uint8))
    write_video(tmp_path / "clip.avi", n=5)
    return folder, tmp_path / "clip.avi"


def test_several_decoding_threads_keep_the_rows_and_skipped_lines_in_order(export, mixed, capsys):
    folder, clip = mixed
    args = ["predict", export, folder, clip, folder, "--batch-size", "2"]
    code, one, err_one = cli_in_process(*args, "--workers", "1", capsys=capsys)
    assert code == 0
    code, three, err_three = cli_in_process(*args, "--workers", "3", capsys=capsys)
    assert code == 0 and three == one and err_three.splitlines()[:-1] == err_one.splitlines()[:-1]
    rows = [json.loads(line) for line in one.splitlines()]
    assert [r.get("image") or r["frame"] for r in rows] == [
        *(str(folder / f"{i:02d}.png") for i in range(11) if i not in (3, 8)), *range(5),
        *(str(folder / f"{i:02d}.png") for i in range(11) if i not in (3, 8))]
    assert [line.split(":")[0] for line in err_one.splitlines()[:-1]] == ["skipped"] * 4
    assert [line.split(": ")[1] for line in err_one.splitlines()[:-1]] == \
        [str(folder / "03.png"), str(folder / "08.png")] * 2


def test_threads_reach_the_model_and_change_no_output(export, mixed, capsys, monkeypatch):
    import importlib

    from visiontk.infer.bulk import thread_plan

    onnx = importlib.import_module("visiontk.export.formats.onnx")
    opened, session = [], onnx.onnx_session
    monkeypatch.setattr(onnx, "onnx_session",
                        lambda path, threads=None: opened.append(threads) or session(path, threads))
    folder, _ = mixed
    code, default, _ = cli_in_process("predict", export, folder, capsys=capsys)
    code2, three, _ = cli_in_process("predict", export, folder, "--threads", "3", capsys=capsys)
    assert code == code2 == 0 and three == default
    assert opened == [thread_plan("onnx")[0], 3]

    from visiontk.infer.backends import model_threads
    from visiontk.infer.predictor import Predictor

    with model_threads(1):
        predictor = Predictor(export, "onnx")
    assert predictor._fn.raw.session.get_session_options().intra_op_num_threads == 1
    assert Predictor(export, "onnx")._fn.raw.session.get_session_options().intra_op_num_threads \
        == 0                                                  # ONNX Runtime's default
    code, out, err = cli_in_process("predict", export, folder, "--threads", "0", capsys=capsys)
    assert code == 2 and "--threads" in err


def test_the_thread_plan_shares_the_cores():
    from visiontk.infer.bulk import thread_plan

    assert thread_plan("onnx", cores=2) == (1, 2)               # two workers, a core each
    assert thread_plan("onnx", cores=16) == (4, 4)
    assert thread_plan("onnx", cores=1) == (1, 1)
    assert thread_plan("onnx", 2, 3, cores=2) == (2, 3)         # --threads, --workers as given
    assert thread_plan("tflite", cores=8) == (None, 2)          # its own threads; 2 decode
    assert thread_plan("keras", cores=2) == (None, 1)
    import doctest

    [example] = doctest.DocTestFinder().find(thread_plan, globs={"thread_plan": thread_plan})
    assert doctest.DocTestRunner().run(example).failed == 0           # the docstring's example


def test_the_model_runs_in_the_workers_only_where_the_backend_allows(export, mixed, monkeypatch):
    import threading

    from visiontk.infer.bulk import predict_sources
    from visiontk.infer.inputs import open_sources
    from visiontk.infer.predictor import Predictor

    folder, _ = mixed
    for backend, workers, where in (("onnx", 2, "visiontk-predict-worker"),
                                    ("onnx", 1, "MainThread"),        # one worker decodes only
                                    ("tflite", 2, "MainThread")):     # an interpreter: one thread
        predictor, seen = Predictor(export, backend), set()
        raw = predictor.raw
        monkeypatch.setattr(predictor, "raw", lambda batch: seen.add(
            threading.current_thread().name.rsplit("_", 1)[0]) or raw(batch))
        summary = predict_sources(predictor, open_sources([folder]), [], batch_size=2,
                                  workers=workers, warn=lambda _: None)
        assert summary.images == 9 and seen == {where}, (backend, workers)


def test_opencv_runs_on_one_thread_while_reading_and_is_restored(export, mixed, monkeypatch):
    import visiontk.runtime.preprocess as pre
    from visiontk.infer.bulk import predict_sources
    from visiontk.infer.inputs import open_sources
    from visiontk.infer.predictor import Predictor

    predictor, seen, preprocess = Predictor(export, "onnx"), [], pre.preprocess
    monkeypatch.setattr(pre, "preprocess",
                        lambda frames, meta: seen.append(cv2.getNumThreads()) or
                        preprocess(frames, meta))
    before = cv2.getNumThreads()
    summary = predict_sources(predictor, open_sources([mixed[0]]), [], warn=lambda _: None)
    assert summary.images == 9 and seen and set(seen) == {1}
    assert cv2.getNumThreads() == before


def test_a_folder_lists_paths_as_given_and_below_it(tmp_path, monkeypatch):
    """The strings a Path and os.path.relpath gave: from '.', a relative and an absolute folder,
    sub-folders in name order among the files, a folder named like an image not read."""
    from pathlib import Path

    from visiontk.infer.inputs import Folder

    root = tmp_path / "photos"
    for rel in ("b.png", "a/c.jpg", "a/z/d.webp", "c.png/e.png", "notes.md", "Z.PNG"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    want = ["Z.PNG", os.path.join("a", "c.jpg"), os.path.join("a", "z", "d.webp"), "b.png"]
    for given, head in ((Path("photos"), "photos" + os.sep), (Path("./photos/"), "photos" + os.sep),
                        (root, str(root) + os.sep)):
        items = list(Folder(given).items())
        assert [(i.path, i.rel) for i in items] == [(head + r, r) for r in want]
    monkeypatch.chdir(root)
    assert [(i.path, i.rel) for i in Folder(Path(".")).items()] == [(r, r) for r in want]
    assert Folder(Path(".")).count() == 4
