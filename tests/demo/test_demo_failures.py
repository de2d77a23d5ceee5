"""`visiontk demo` failures from the command line: one clear line, exit code 2, output playable."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli
from tests.demo.videos import read_video, write_video
from tests.export.heads import exported

HEADLESS = {"DISPLAY": "", "WAYLAND_DISPLAY": ""}


@pytest.fixture
def export_dir(tmp_path_factory):
    return exported("classification", tmp_path_factory)[0]


def _error_line(res) -> str:
    assert res.returncode == 2, (res.stdout, res.stderr)
    errors = [line for line in res.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, res.stderr
    assert "WARN" not in res.stderr                     # OpenCV's own noise is silenced
    return errors[0]


def test_camera_that_does_not_open(export_dir, tmp_path):
    line = _error_line(run_cli("demo", export_dir, "--source", "7", "--save", tmp_path / "o.mp4",
                               env=HEADLESS))
    assert "cannot open camera 7" in line
    assert not (tmp_path / "o.mp4").exists()


def test_video_truncated_midway(export_dir, tmp_path):
    src = tmp_path / "cut.avi"
    write_video(src, n=40, size=(96, 72))
    data = src.read_bytes()
    src.write_bytes(data[: len(data) // 2])            # the stream dies half-way
    out = tmp_path / "out.avi"
    res = run_cli("demo", export_dir, "--source", src, "--save", out, env=HEADLESS)
    line = _error_line(res)
    assert "ended early" in line and "of 40" in line
    frames, _ = read_video(out)                         # closed and playable, with what was shown
    assert 5 < len(frames) < 40


@pytest.mark.parametrize("save, needle", [("missing_dir/out.mp4", "does not exist"),
                                          ("out.xyz", "unknown video extension")])
def test_writer_that_cannot_open(export_dir, tmp_path, save, needle):
    src = tmp_path / "in.avi"
    write_video(src, n=3)
    line = _error_line(run_cli("demo", export_dir, "--source", src, "--save", tmp_path / save,
                               env=HEADLESS))
    assert needle in line


def test_missing_source_file(export_dir, tmp_path):
    line = _error_line(run_cli("demo", export_dir, "--source", tmp_path / "nope.mp4", env=HEADLESS))
    assert "no such file" in line


def test_folder_with_an_unreadable_image(export_dir, tmp_path, capfd):
    """A folder source whose third image (in name order) is not an image: the two good frames are
    processed and saved, then one error line naming the file and exit code 2 (in-process CLI; capfd
    also catches OpenCV's own stderr)."""
    import cv2

    from tests.demo.videos import scene_frames
    from visiontk.cli import main

    folder = tmp_path / "frames"
    folder.mkdir()
    for name, frame in zip(("a.png", "b.png"), scene_frames(2)):
        cv2.imwrite(str(folder / name), frame)
    (folder / "c.png").write_bytes(b"\x89PNG not really a picture")
    out = tmp_path / "out.avi"
    with pytest.raises(SystemExit) as stop:
        main(["demo", str(export_dir), "--source", str(folder), "--no-show", "--save", str(out)])
    err = capfd.readouterr().err
    errors = [line for line in err.splitlines() if line.strip()]
    assert stop.value.code == 2 and len(errors) == 1, err
    assert errors[0].startswith("error: ") and str(folder / "c.png") in errors[0], errors[0]
    frames, _ = read_video(out)
    assert len(frames) == 2 and frames[0].shape == scene_frames(1)[0].shape
