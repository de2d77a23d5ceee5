"""The demo loop with fake models and sources: stale live frames are dropped (latency stays bounded),
files lose no frame, and a stream that dies mid-way ends with an error and a playable video."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from tests.demo.videos import read_video, scene_frames
from visiontk.infer.sources import ArraySource
from visiontk.infer.video import run_demo
from visiontk.runtime.classification import ClassificationPrediction


class SlowModel:
    """predict() takes `delay` seconds; draw() paints a white square (an overlay to find)."""

    backend = "fake"                                   # Predictor.stream reads it

    def __init__(self, delay: float):
        self.delay, self.last_latency, self.seen = delay, 0.0, []

    def predict(self, frames):
        t0 = time.perf_counter()
        time.sleep(self.delay)
        self.last_latency = time.perf_counter() - t0
        self.seen.append(int(frames[0][0, 0, 0]))       # the frame's index, stamped in pixel (0, 0)
        return [ClassificationPrediction(label=0, name="x", score=1.0, top=[("x", 1.0)])]

    def draw(self, frame, pred):
        out = frame.copy()
        out[10:20, 10:20] = 255
        return out


def fast_camera(n_max: int, period: float = 0.002):
    """A live source producing a new frame every `period` s (frame i has i in pixel (0, 0))."""
    base = scene_frames(1, (64, 48))[0]

    def frame(i):
        if i >= n_max:
            return None
        time.sleep(period)
        f = base.copy()
        f[0, 0] = i % 256
        return f

    return ArraySource(frame, fps=500.0, live=True, name="fake camera")


def test_live_source_drops_stale_frames_and_latency_stays_bounded():
    model = SlowModel(0.05)                            # 20 FPS model, 500 FPS camera
    res = run_demo(model, fast_camera(100000), show=False, max_frames=20, echo=lambda *_: None)
    assert res.exit_code == 0 and res.frames == 20
    assert res.dropped > 100 and res.read > 5 * res.frames        # most frames were skipped ...
    lag = np.array(res.lag_ms)
    assert lag.max() < 250, lag                        # ... so each shown frame is recent:
    assert lag[-5:].mean() < lag[:5].mean() + 60, lag  # the lag does not grow (model time ~50 ms)
    gaps = np.diff(model.seen) % 256
    assert gaps.min() >= 1 and gaps.mean() > 3        # always a newer frame, skipping the stale ones


def test_file_source_processes_every_frame():
    model = SlowModel(0.01)
    frames = scene_frames(15, (64, 48))
    for i, f in enumerate(frames):
        f[0, 0] = i
    res = run_demo(model, ArraySource(frames, fps=25.0), show=False, echo=lambda *_: None)
    assert res.exit_code == 0 and res.frames == 15 and res.dropped == 0
    assert model.seen == list(range(15))


def test_stream_that_dies_midway_is_an_error_with_a_playable_video(tmp_path):
    out = tmp_path / "out.avi"
    res = run_demo(SlowModel(0.0), fast_camera(10, period=0.03), show=False, save=out,
                   echo=lambda *_: None)
    assert res.exit_code == 2 and "fake camera dropped after 10 frames" in res.error
    frames, fps = read_video(out)
    assert len(frames) == res.frames >= 1 and frames[0].shape == (48, 64, 3)
    assert fps == 500.0                                # the source's rate


def test_forced_show_without_a_gui_is_an_error(monkeypatch):
    from visiontk.infer import video
    from visiontk.runtime.errors import InputError

    monkeypatch.setattr(video, "gui_available", lambda: False)
    with pytest.raises(InputError, match="no GUI"):
        run_demo(SlowModel(0.0), ArraySource(scene_frames(2)), show=True)


def test_headless_auto_falls_back_to_saving(monkeypatch, tmp_path):
    from visiontk.infer import video

    monkeypatch.setattr(video, "gui_available", lambda: False)
    monkeypatch.chdir(tmp_path)
    messages = []
    res = run_demo(SlowModel(0.0), ArraySource(scene_frames(4), name="clip"), show=None,
                   echo=messages.append)
    saved = Path("runs") / "demo" / "clip_demo.mp4"       # not a file: under runs/demo/
    assert res.exit_code == 0 and res.saved == str(saved)
    assert "no GUI" in messages[0] and f"writing {saved}" in messages[0]
    assert len(read_video(tmp_path / saved)[0]) == 4 and sorted(tmp_path.iterdir()) == [tmp_path / "runs"]


def test_headless_default_video_goes_beside_the_source_under_a_free_name(monkeypatch, tmp_path):
    """Without --save the video goes beside the source file, never into the working directory, and
    never over an existing file (clip_demo.mp4 taken: clip_demo-2.mp4)."""
    from tests.demo.videos import write_video
    from visiontk.infer import video

    monkeypatch.setattr(video, "gui_available", lambda: False)
    cwd, data = tmp_path / "cwd", tmp_path / "data"
    cwd.mkdir(), data.mkdir()
    monkeypatch.chdir(cwd)
    write_video(data / "clip.avi", n=3)
    (data / "clip_demo.mp4").write_bytes(b"mine")
    messages = []
    res = run_demo(SlowModel(0.0), str(data / "clip.avi"), show=None, echo=messages.append)
    assert res.exit_code == 0 and res.saved == str(data / "clip_demo-2.mp4")
    assert str(data / "clip_demo-2.mp4") in messages[0] and len(read_video(res.saved)[0]) == 3
    assert (data / "clip_demo.mp4").read_bytes() == b"mine" and not list(cwd.iterdir())


def test_bad_save_extension_is_refused_before_anything_is_said_or_written(tmp_path):
    from visiontk.runtime.errors import InputError

    messages = []
    with pytest.raises(InputError, match="unknown video extension"):
        run_demo(SlowModel(0.0), ArraySource(scene_frames(2)), show=None, save=tmp_path / "x.xyz",
                 echo=messages.append)
    assert messages == [] and not list(tmp_path.iterdir())


@pytest.mark.parametrize("key, quits", [(27, True), (ord("q"), True), (0x100000 | 27, True),
                                        (ord("a"), False), (-1, False)])
def test_q_or_esc_in_the_window_ends_the_loop_normally(monkeypatch, key, quits):
    """With a window, Esc or q (modifier bits ignored) stops after the frame shown, exit code 0;
    other keys (and none: -1) do not."""
    from visiontk.infer import video

    shown = []
    monkeypatch.setattr(video, "gui_available", lambda: True)
    monkeypatch.setattr(video.cv2, "imshow", lambda name, frame: shown.append(frame.shape))
    monkeypatch.setattr(video.cv2, "waitKey", lambda delay: key)
    monkeypatch.setattr(video.cv2, "destroyAllWindows", lambda: None)
    res = run_demo(SlowModel(0.0), ArraySource(scene_frames(3)), show=None, echo=lambda *_: None)
    assert res.exit_code == 0 and res.error is None and res.saved is None
    if quits:
        assert res.frames == len(shown) == 1 and res.ended == "stopped (q / Esc)"
    else:
        assert res.frames == len(shown) == 3 and res.ended == "end of stream"
