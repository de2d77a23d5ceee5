"""`visiontk predict` at scale (issue 20, point 2): every kind of SOURCE, batches, unreadable inputs
skipped and counted (fatal with --strict), the JSON lines unchanged, --out FILE, and progress only
on a terminal. The tiny classification export (tests/export/heads.py, shared with tests/export and
tests/demo) runs on ONNX Runtime: no TensorFlow start-up, commands run in this process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from tests.conftest import ROOT, cli_in_process
from tests.demo.videos import write_video
from tests.export.heads import exported

VIDEO_FRAMES = 5


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    return exported("classification", tmp_path_factory)[0]


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """photos/a.png, photos/b.jpg, photos/deeper/c.png (not the model's input size), clip.avi."""
    base = tmp_path_factory.mktemp("predict_sources")
    (base / "photos" / "deeper").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.jpg", "deeper/c.png"):
        cv2.imwrite(str(base / "photos" / name), rng.integers(0, 255, (40, 56, 3), dtype=np.uint8))
    (base / "photos" / "notes.md").write_text("not an image, not listed")
    write_video(base / "clip.avi", n=VIDEO_FRAMES)
    return base


def predict(*args, capsys):
    """(exit code, JSON rows of stdout, stderr lines) of `visiontk predict ARGS`."""
    code, out, err = cli_in_process("predict", *args, capsys=capsys)
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    return code, rows, [line for line in err.splitlines() if line.strip()]


def images_of(rows):
    return [r.get("image") or f"{r['video']}#{r['frame']}" for r in rows]


# ---- the kinds of SOURCE ------------------------------------------------------------------------

def test_an_image_a_folder_recursively_a_glob_and_a_video(export, ws, capsys):
    photos = ws / "photos"
    code, rows, err = predict(export, photos / "a.png", photos, f"{photos}/*.png", ws / "clip.avi",
                              capsys=capsys)
    assert code == 0 and err == [], err
    assert images_of(rows) == [
        str(photos / "a.png"),                                                  # the image
        str(photos / "a.png"), str(photos / "b.jpg"), str(photos / "deeper" / "c.png"),  # folder
        str(photos / "a.png"),                                                  # the glob
        *(f"{ws / 'clip.avi'}#{i}" for i in range(VIDEO_FRAMES))]               # every frame
    assert all(r["task"] == "classification" for r in rows)
    code, rows, _ = predict(export, f"{photos}/**/*.png", capsys=capsys)        # ** spans folders
    assert images_of(rows) == [str(photos / "a.png"), str(photos / "deeper" / "c.png")]


def test_a_text_file_of_paths(export, ws, tmp_path, capsys):
    listing = tmp_path / "list.txt"
    listing.write_text(f"# the photos to check\n{ws / 'photos' / 'b.jpg'}\n\nrelative.png\n")
    shutil.copy2(ws / "photos" / "a.png", tmp_path / "relative.png")      # from the list's folder
    code, rows, err = predict(export, listing, capsys=capsys)
    assert code == 0 and err == []
    assert images_of(rows) == [str(ws / "photos" / "b.jpg"), str(tmp_path / "relative.png")]


def test_a_camera_that_cannot_be_opened_is_one_line_before_the_model_loads(export, capsys):
    code, rows, err = predict(export, "99", capsys=capsys)
    assert code == 2 and rows == [] and len(err) == 1
    assert err[0].startswith("error: cannot open camera 99")
    assert "no camera with that index" in err[0]


@pytest.mark.parametrize("source, needle", [
    ("missing.png", "missing.png: not found"),
    ("*.nothing", "the glob matches no image or video file"),
    ("empty", "no images"),
])
def test_a_source_that_names_nothing_is_one_line(export, tmp_path, monkeypatch, capsys, source,
                                                 needle):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    code, rows, err = predict(export, source, capsys=capsys)
    assert code == 2 and rows == [] and len(err) == 1 and needle in err[0], err


# ---- batches ------------------------------------------------------------------------------------

def test_the_batch_size_is_what_the_model_sees(export, ws, tmp_path, monkeypatch, capsys):
    from visiontk.infer.predictor import Predictor

    for i in range(7):
        shutil.copy2(ws / "photos" / "a.png", tmp_path / f"{i}.png")
    seen, raw = [], Predictor.raw
    monkeypatch.setattr(Predictor, "raw",
                        lambda self, batch: seen.append(len(batch)) or raw(self, batch))
    code, rows, _ = predict(export, tmp_path, "--batch-size", "3", capsys=capsys)
    assert code == 0 and len(rows) == 7 and sorted(seen) == [1, 3, 3]   # workers run side by side
    seen.clear()
    code, rows, _ = predict(export, ws / "clip.avi", "--batch-size", "2", capsys=capsys)
    assert len(rows) == VIDEO_FRAMES and sorted(seen) == [1, 2, 2]        # video frames too


# ---- unreadable inputs --------------------------------------------------------------------------

@pytest.fixture
def damaged(ws, tmp_path):
    """A folder with two good images and a damaged one, and a list naming a missing file too."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy2(ws / "photos" / "a.png", folder / "1.png")
    (folder / "2.png").write_bytes(b"\x89PNG truncated")
    shutil.copy2(ws / "photos" / "a.png", folder / "3.png")
    listing = tmp_path / "list.txt"
    listing.write_text(f"{folder / '1.png'}\n{tmp_path / 'gone.png'}\n")
    return folder, listing


def test_unreadable_files_are_named_skipped_and_counted(export, damaged, capsys):
    folder, listing = damaged
    code, rows, err = predict(export, folder, listing, capsys=capsys)
    assert code == 0
    assert images_of(rows) == [str(folder / "1.png"), str(folder / "3.png"), str(folder / "1.png")]
    assert err[0] == f"skipped: {folder / '2.png'}: not a readable image (corrupt, or a format " \
                     f"OpenCV cannot decode)"
    assert err[1] == f"skipped: {listing.parent / 'gone.png'}: image not found"
    assert len(err) == 3 and "3 images" in err[2] and "2 unreadable inputs skipped" in err[2]


def test_a_damaged_video_is_skipped_like_an_image(export, ws, tmp_path):
    """In its own process: FFmpeg's log level is set before OpenCV first opens a video."""
    from tests.conftest import run_cli

    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    res = run_cli("predict", export, tmp_path / "broken.mp4", ws / "photos" / "a.png")
    assert res.returncode == 0, res.stderr
    assert [json.loads(line)["image"] for line in res.stdout.splitlines()] == \
        [str(ws / "photos" / "a.png")]
    err = res.stderr.splitlines()                         # no FFmpeg line ("moov atom not found")
    assert len(err) == 2 and err[0] == (f"skipped: cannot open {tmp_path / 'broken.mp4'}: not a "
                                        f"readable video (missing file, unknown codec or "
                                        f"unreachable stream)")
    assert "1 image in" in err[1] and "1 unreadable input skipped" in err[1]


def test_strict_stops_at_the_first_unreadable_file_and_writes_nothing(export, damaged, tmp_path,
                                                                       capsys):
    folder, _ = damaged
    out = tmp_path / "preds.jsonl"
    code, rows, err = predict(export, folder, "--strict", "--out", out, capsys=capsys)
    assert code == 2 and len(err) == 1 and err[0].startswith(f"error: {folder / '2.png'}")
    assert "--strict" in err[0] and not out.exists() and not list(tmp_path.glob(".preds*"))


def test_nothing_readable_is_an_error(export, tmp_path, capsys):
    (tmp_path / "bad.png").write_text("not an image")
    code, rows, err = predict(export, tmp_path / "bad.png", capsys=capsys)
    assert code == 2 and rows == []
    assert err[-1].startswith("error: none of the inputs could be read")


# ---- outputs ------------------------------------------------------------------------------------

def test_json_lines_are_what_predict_always_printed(export, ws, capsys):
    """The rows of the old reader (predict_files, which visiontk.predict still uses), line for
    line: {"image": PATH, ...prediction} and {"video": PATH, "frame": I, ...prediction}."""
    from visiontk.infer.predictor import predict_files

    files = [ws / "photos" / "a.png", ws / "photos" / "b.jpg", ws / "clip.avi"]
    code, rows, _ = predict(export, *files, capsys=capsys)
    assert code == 0 and rows == json.loads(json.dumps(predict_files(export, files)))


def test_csv_has_flat_columns_with_the_json_values(export, ws, tmp_path, capsys):
    out = tmp_path / "preds.csv"                                  # .csv: the format by suffix
    code, rows, err = predict(export, ws / "photos", ws / "clip.avi", "--out", out, capsys=capsys)
    assert code == 0 and rows == [] and err == [f"visiontk: predictions (csv) written to {out}"]
    import csv

    table = list(csv.DictReader(out.open()))
    k = len(json.loads((export / "metadata.json").read_text())["class_names"][:3])
    assert list(table[0]) == ["image", "frame", "label", "label_id", "score",
                              *[c for i in range(1, k + 1) for c in (f"top{i}", f"top{i}_score")]]
    _, jsonl, _ = predict(export, ws / "photos", ws / "clip.avi", capsys=capsys)
    assert len(table) == len(jsonl) == 3 + VIDEO_FRAMES
    for row, js in zip(table, jsonl):
        assert row["image"] == js.get("image", js.get("video"))
        assert row["frame"] == ("" if "image" in js else str(js["frame"]))
        assert (row["label"], int(row["label_id"]), float(row["score"])) == \
            (js["label"], js["label_id"], js["score"])
        assert [row["top2"], float(row["top2_score"])] == js["top"][1]


def test_detection_csv_has_a_row_per_box_and_one_for_an_image_without(ws, tmp_path,
                                                                     tmp_path_factory, capsys):
    import csv

    detector = exported("detection", tmp_path_factory)[0]
    capsys.readouterr()                                # what training the shared head printed
    image = ws / "photos" / "a.png"
    _, [row], _ = predict(detector, image, "--conf", "0", capsys=capsys)   # every box
    out = tmp_path / "boxes.csv"
    assert predict(detector, image, "--conf", "0", "--out", out, capsys=capsys)[0] == 0
    table = list(csv.DictReader(out.open()))
    assert list(table[0]) == ["image", "frame", "count", "box", "class", "class_id", "score",
                              "x1", "y1", "x2", "y2"]
    assert len(table) == len(row["boxes"]) > 1
    for i, (line, box) in enumerate(zip(table, row["boxes"])):
        assert (line["image"], line["frame"], int(line["box"]), int(line["count"])) == \
            (str(image), "", i, len(row["boxes"]))
        assert line["class"] == box["class"] and float(line["x2"]) == box["x2"]
    none = tmp_path / "none.csv"
    assert predict(detector, image, "--conf", "1", "--out", none, capsys=capsys)[0] == 0
    assert list(csv.DictReader(none.open())) == [
        {"image": str(image), "frame": "", "count": "0", "box": "", "class": "", "class_id": "",
         "score": "", "x1": "", "y1": "", "x2": "", "y2": ""}]


def test_out_file_is_replaced_only_with_force_and_only_when_visiontk_wrote_it(export, ws, tmp_path,
                                                                               capsys):
    out = tmp_path / "preds.jsonl"
    image = ws / "photos" / "a.png"
    assert predict(export, image, "--out", out, capsys=capsys)[0] == 0
    first = out.read_text()
    assert first.startswith('{"image": ') and first.count("\n") == 1
    code, _, err = predict(export, image, "--out", out, capsys=capsys)
    assert code == 2 and "exists; pass --force" in err[0]
    assert predict(export, image, image, "--out", out, "--force", capsys=capsys)[0] == 0
    assert out.read_text() == first * 2
    mine = tmp_path / "notes.jsonl"
    mine.write_text("my own notes\n")
    code, _, err = predict(export, image, "--out", mine, "--force", capsys=capsys)
    assert code == 2 and "not a file of predictions visiontk wrote" in err[0]
    assert mine.read_text() == "my own notes\n"


def test_save_dir_keeps_the_folders_layout_and_the_old_out_folder_still_works(export, ws, tmp_path,
                                                                              capsys):
    code, rows, err = predict(export, ws / "photos", "--save-dir", tmp_path / "drawn",
                              capsys=capsys)
    assert code == 0 and len(rows) == 3 and "written to" in err[-1]
    for name in ("a_pred.png", "b_pred.png", "deeper/c_pred.png"):
        assert cv2.imread(str(tmp_path / "drawn" / name)).shape == (40, 56, 3), name
    assert json.loads((tmp_path / "drawn" / "predictions.json").read_text()) == rows
    code, old, _ = predict(export, ws / "photos", "--out", tmp_path / "old", capsys=capsys)
    assert code == 0 and old == rows and (tmp_path / "old" / "deeper" / "c_pred.png").is_file()


# ---- progress: on a terminal only ---------------------------------------------------------------

def _predict_with_stderr(args, stderr_tty: bool) -> tuple[str, str]:
    """(stdout, stderr) of `visiontk predict ARGS` in a subprocess, stderr a terminal or a pipe."""
    import pty

    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(PYTHONPATH=str(ROOT), COLUMNS="120")
    master, slave = pty.openpty() if stderr_tty else (None, subprocess.PIPE)
    proc = subprocess.Popen([sys.executable, "-m", "visiontk", "predict", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL,
                            env=env, cwd=ROOT)
    if not stderr_tty:
        out, err = proc.communicate(timeout=120)
        return out.decode(), err.decode()
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:                           # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    out = proc.stdout.read().decode()
    proc.wait(timeout=120)
    os.close(master)
    return out, b"".join(chunks).decode(errors="replace")


def test_progress_with_a_rate_on_a_terminal_and_quiet_when_piped(export, ws, tmp_path):
    for i in range(40):
        shutil.copy2(ws / "photos" / "a.png", tmp_path / f"{i:02d}.png")
    args = [export, tmp_path, "--batch-size", "4"]
    out, err = _predict_with_stderr(args, stderr_tty=False)
    assert err == "" and len(out.splitlines()) == 40                  # piped: predictions only
    out, err = _predict_with_stderr(args, stderr_tty=True)
    assert len(out.splitlines()) == 40                                # stdout unchanged
    assert "predicting" in err and "40/40" in err                      # the bar (rich, transient)
    assert "predict: 40 images in" in err and "images/s" in err        # and the summary line


def test_the_docstring_example_of_open_sources_runs(ws, tmp_path, monkeypatch):
    import doctest

    from visiontk.infer.inputs import open_sources

    monkeypatch.chdir(tmp_path)
    shutil.copytree(ws / "photos", tmp_path / "images")
    shutil.copy2(ws / "photos" / "a.png", tmp_path / "a.png")
    (tmp_path / "todo.txt").write_text("a.png\n")
    [test] = doctest.DocTestFinder().find(open_sources, globs={"open_sources": open_sources})
    result = doctest.DocTestRunner().run(test)
    assert result.attempted == 1 and result.failed == 0
