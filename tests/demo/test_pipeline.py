"""The demo loop's stages as threads (capture -> model -> overlay -> writer) with fake models and
sources: a file's frames all pass every stage in order, a live source's stale frames are dropped
whatever stage is slow, and an error or Ctrl-C in any stage ends the loop in bounded time with every
thread stopped, one error line from the CLI and a playable video."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from tests.conftest import ROOT
from tests.demo.test_video_loop import SlowModel, fast_camera
from tests.demo.videos import read_video, scene_frames
from visiontk.errors import ModelError
from visiontk.infer import video
from visiontk.infer.sources import ArraySource
from visiontk.infer.video import run_demo

STAGE_THREADS = ("visiontk-capture", "visiontk-inference", "visiontk-writer")
STEP = 0.03                 # seconds a slow fake stage takes per frame


def stamped(n: int, size=(64, 48)) -> list:
    """n frames, frame i with i in pixel (0, 0) (no overlay or readout reaches that corner)."""
    frames = scene_frames(n, size)
    for i, f in enumerate(frames):
        f[0, 0] = i % 256
    return frames


class JitteryModel(SlowModel):
    """A model whose time per frame varies (0-4 ms), so that the queues fill and empty."""

    def __init__(self, seed: int = 0):
        super().__init__(0.0)
        self.rng = random.Random(seed)

    def predict(self, frames):
        self.delay = self.rng.random() * 0.004
        return super().predict(frames)


class RecordingWriter:
    """Stands in for video.Writer: the stamp of every frame it is given, slowly at times."""

    made: list = []

    def __init__(self, path, fps, size):
        self.stamps, self.rng = [], random.Random(1)
        RecordingWriter.made.append(self)

    def write(self, frame):
        time.sleep(self.rng.random() * 0.004)
        self.stamps.append(int(frame[0, 0, 0]))

    def close(self):
        pass


def finished_within(seconds: float, fn):
    """fn() in a helper thread: (returned value or None, raised exception or None); fails the test
    if fn has not finished after `seconds` (a hang)."""
    out: dict = {}

    def call():
        try:
            out["value"] = fn()
        except BaseException as exc:            # noqa: BLE001 (the test inspects it)
            out["error"] = exc

    t = threading.Thread(target=call, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"still running after {seconds} s"
    return out.get("value"), out.get("error")


def assert_stages_stopped():
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        alive = [t.name for t in threading.enumerate() if t.name in STAGE_THREADS]
        if not alive:
            return
        time.sleep(0.02)
    raise AssertionError(f"stage threads still running: {alive}")


def test_a_file_loses_no_frame_and_keeps_the_order_through_every_stage(monkeypatch, tmp_path):
    monkeypatch.setattr(video, "Writer", RecordingWriter)
    RecordingWriter.made.clear()
    model, called = JitteryModel(), []
    res = run_demo(model, ArraySource(stamped(60), fps=25.0), show=False, save=tmp_path / "o.mp4",
                   on_prediction=lambda i, pred: called.append(i), echo=lambda *_: None)
    assert res.exit_code == 0 and res.frames == res.read == 60 and res.dropped == 0
    assert model.seen == called == RecordingWriter.made[0].stamps == list(range(60))
    assert_stages_stopped()


def test_the_stages_overlap_a_frame_costs_about_the_slowest_stage():
    """Reading, the model and drawing take 30 ms each (sleeps: no CPU, so a busy machine matters
    little): in series 90 ms a frame (60 with only the reading apart), in the pipeline about 30."""

    class SlowDraw(SlowModel):
        def draw(self, frame, pred):
            time.sleep(STEP)
            return super().draw(frame, pred)

    frames = stamped(20)

    def read(i):
        time.sleep(STEP)
        return frames[i] if i < len(frames) else None

    res = run_demo(SlowDraw(STEP), ArraySource(read, name="slow file"), show=False,
                   echo=lambda *_: None)
    assert res.frames == 20 and res.exit_code == 0
    assert res.seconds < 20 * STEP * 1.6, res.seconds    # model and drawing in series: 40 STEP


def test_a_real_video_file_is_written_whole_and_in_order(tmp_path):
    """Every frame of an .avi reaches the saved video, in order (a moving bright bar, found again
    in each output frame despite the codec)."""
    from tests.demo.videos import write_video

    frames = write_video(tmp_path / "in.avi", n=40, size=(96, 72))
    for i, f in enumerate(frames):
        f[:, :] = 40
        f[:, 2 * i:2 * i + 2] = 250                 # bar at column 2i
    import cv2

    w = cv2.VideoWriter(str(tmp_path / "bar.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 12.0, (96, 72))
    for f in frames:
        w.write(f)
    w.release()
    res = run_demo(JitteryModel(), str(tmp_path / "bar.avi"), show=False, save=tmp_path / "o.avi",
                   readout=False, echo=lambda *_: None)
    out, _ = read_video(tmp_path / "o.avi")
    assert res.frames == len(out) == 40
    bars = [int(np.argmax(f[36, :, 0].astype(int))) // 2 for f in out]
    assert bars == list(range(40))


def test_a_live_source_drops_stale_frames_when_the_overlay_is_the_slow_stage():
    """The model keeps up with the camera but drawing takes 30 ms: the output stage holds the model
    back (a queue of one), so the capture stage drops the stale frames and the lag stays bounded."""

    class SlowDraw(SlowModel):
        def draw(self, frame, pred):
            time.sleep(0.03)
            return super().draw(frame, pred)

    model, shown = SlowDraw(0.0), []
    res = run_demo(model, fast_camera(100000), show=False, max_frames=20,
                   on_prediction=lambda i, p: shown.append(i), echo=lambda *_: None)
    assert res.exit_code == 0 and res.frames == 20 and res.dropped > 50
    assert all(b > a for a, b in zip(shown, shown[1:]))            # newer frames only, in order
    lag = np.array(res.lag_ms)
    assert lag.max() < 250 and lag[-5:].mean() < lag[:5].mean() + 60, lag    # no growing lag
    assert_stages_stopped()


class FailingModel(SlowModel):
    """Raises `error` in `where` ('model', 'overlay') at the fourth frame."""

    def __init__(self, where: str, error: BaseException):
        super().__init__(0.001)
        self.where, self.error, self.calls = where, error, {"model": 0, "overlay": 0}

    def _maybe_fail(self, stage):
        self.calls[stage] += 1
        if stage == self.where and self.calls[stage] == 4:
            raise self.error

    def predict(self, frames):
        self._maybe_fail("model")
        return super().predict(frames)

    def draw(self, frame, pred):
        self._maybe_fail("overlay")
        return super().draw(frame, pred)


@pytest.mark.parametrize("where, live", [("model", False), ("model", True), ("overlay", False),
                                         ("overlay", True)])
def test_an_error_in_a_stage_reaches_the_caller_with_a_playable_video(where, live, tmp_path):
    """The model's exception is raised in its own thread, the overlay's in the caller's: either way
    run_demo raises it (the same exception) within seconds, every stage thread has stopped and the
    video holds the frames drawn before it."""
    out = tmp_path / "o.avi"
    source = fast_camera(100000, period=0.005) if live else ArraySource(stamped(200), fps=25.0)
    error = ModelError("model.onnx: the backend failed on frame 4")
    _, raised = finished_within(10, lambda: run_demo(FailingModel(where, error), source, show=False,
                                                     save=out, echo=lambda *_: None))
    assert raised is error
    assert_stages_stopped()
    frames, _ = read_video(out)
    assert len(frames) == 3                       # frames 1-3 drawn and written, then the error


def test_an_error_while_encoding_is_raised_with_the_file_named(monkeypatch, tmp_path):
    from visiontk.runtime.errors import InputError

    class BrokenVideoWriter:
        def __init__(self, *args):
            self.n = 0

        def isOpened(self):
            return True

        def write(self, frame):
            self.n += 1
            if self.n == 3:
                raise OSError("No space left on device")

        def release(self):
            pass

    monkeypatch.setattr(video.cv2, "VideoWriter", BrokenVideoWriter)
    out = tmp_path / "o.avi"
    _, raised = finished_within(10, lambda: run_demo(SlowModel(0.0), ArraySource(stamped(300)),
                                                     show=False, save=out, echo=lambda *_: None))
    assert isinstance(raised, InputError), raised
    assert str(raised).startswith(f"--save {out}: writing frame 3 failed")
    assert "No space left" in str(raised)
    assert_stages_stopped()


def test_ctrl_c_in_the_caller_stops_every_stage(tmp_path):
    """KeyboardInterrupt (what Ctrl-C raises in the main thread) while frames flow: re-raised after
    the stages stopped, the video closed and playable."""
    out, calls = tmp_path / "o.avi", []

    def interrupt(i, pred):
        calls.append(i)
        if len(calls) == 5:
            raise KeyboardInterrupt

    _, raised = finished_within(10, lambda: run_demo(SlowModel(0.001), fast_camera(100000),
                                                     show=False, save=out, on_prediction=interrupt,
                                                     echo=lambda *_: None))
    assert isinstance(raised, KeyboardInterrupt)
    assert_stages_stopped()
    assert len(read_video(out)[0]) == 4


CLI_SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    from tests.demo.test_pipeline import FailingModel, fast_camera
    from tests.demo.test_video_loop import SlowModel
    import visiontk.infer.predictor as predictor_module
    import visiontk.infer.video as video
    from visiontk.cli import main

    kind = sys.argv[1]
    if kind == "endless":
        make = lambda path, backend: SlowModel(0.001)
    else:
        error = {{"model-error": "ModelError('model.onnx: the backend failed on frame 4')",
                  "library-error": "RuntimeError('[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION')",
                  }}[kind]
        make = lambda path, backend: FailingModel("model", eval(error, vars(__import__(
            "visiontk.errors", fromlist=["x"]))))
    predictor_module.Predictor = make
    video.open_source = lambda spec, fps=None: fast_camera(10 ** 9, period=0.002)
    main(["demo", "model-folder", "--source", "0", "--no-show", "--save", sys.argv[2]])
""")


def _demo_process(kind: str, out) -> subprocess.Popen:
    """`visiontk demo` in a subprocess, its model and camera the fakes above (no TensorFlow)."""
    return subprocess.Popen([sys.executable, "-c", CLI_SCRIPT.format(root=str(ROOT)), kind,
                             str(out)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={"PATH": "/usr/bin:/bin", "CI": "true"})


@pytest.mark.parametrize("kind, line", [
    ("model-error", "error: model.onnx: the backend failed on frame 4"),
    ("library-error", "error: RuntimeError: [ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION (rerun with "
                      "--debug for the traceback)")])
def test_cli_a_stage_error_is_one_line_and_exit_code_2(kind, line, tmp_path):
    proc = _demo_process(kind, tmp_path / "o.avi")
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2, stderr
    assert stderr.strip().splitlines() == [line] and "Traceback" not in stderr, stderr
    assert len(read_video(tmp_path / "o.avi")[0]) == 3


def test_cli_ctrl_c_exits_130_with_a_playable_video(tmp_path):
    """A real SIGINT to `visiontk demo` on an endless camera: the interrupted line, exit code 130,
    every thread stopped (the process ends) and the video playable."""
    import signal

    out = tmp_path / "o.avi"
    proc = _demo_process("endless", out)
    deadline = time.monotonic() + 60
    while not (out.exists() and out.stat().st_size > 0) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines() == ["interrupted: rerun the same command to start over"]
    assert len(read_video(out)[0]) > 0


def test_predictor_stream_runs_the_model_ahead_and_stops_its_threads():
    """Predictor.stream uses the same stages: the model works on the next frame while the loop's
    body handles this one, every frame of a file comes in order, `break` stops the threads, and a
    model error comes out of the generator after the frames before it."""
    from visiontk.infer.predictor import Predictor

    model = SlowModel(STEP)
    t0 = time.perf_counter()
    seen = []
    for index, frame, _ in Predictor.stream(model, ArraySource(stamped(20))):
        time.sleep(STEP)                          # the caller's own work on each frame
        seen.append((index, int(frame[0, 0, 0])))
    assert seen == [(i, i) for i in range(20)]
    assert time.perf_counter() - t0 < 20 * STEP * 1.6     # in series: >= 20 x 2 STEP
    for _ in Predictor.stream(SlowModel(0.0), fast_camera(100000)):
        break
    assert_stages_stopped()
    error, seen = ModelError("model.onnx: failed on frame 4"), []
    with pytest.raises(ModelError) as raised:
        for r in Predictor.stream(FailingModel("model", error), ArraySource(stamped(50))):
            seen.append(r.index)
    assert raised.value is error and seen == [0, 1, 2]
    assert_stages_stopped()


def test_fps_cap_spaces_the_model_calls():
    """--fps-cap 20 on a file: every frame, at most 20 model calls a second (9 gaps >= 45 ms)."""
    class Timed(SlowModel):
        def predict(self, frames):
            self.times = getattr(self, "times", []) + [time.perf_counter()]
            return super().predict(frames)

    model = Timed(0.0)
    res = run_demo(model, ArraySource(stamped(10)), show=False, fps_cap=20.0, echo=lambda *_: None)
    assert res.frames == 10 and model.seen == list(range(10))
    assert min(np.diff(model.times)) > 0.045, np.diff(model.times)


def test_predictor_stream_on_tflite_runs_the_model_in_the_callers_thread():
    """A TFLite interpreter must not run two calls at once, and the loop's body may call predict:
    with that backend stream's model runs in the caller's thread."""
    from visiontk.infer.predictor import Predictor

    class OnTflite(SlowModel):
        backend = "tflite"
        meta = {}

        def _predict_frames(self, frames):
            self.threads = getattr(self, "threads", set()) | {threading.current_thread().name}
            return self.predict(frames)

    model = OnTflite(0.0)
    results = list(Predictor.stream(model, ArraySource(stamped(5))))
    assert [r.index for r in results] == model.seen == list(range(5))
    assert model.threads == {threading.current_thread().name}
    assert all(r.prediction is not None for r in results)
