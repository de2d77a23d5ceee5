"""Progress displays: drawn on a terminal, silent when stderr is not one (CI logs, pipes)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from visiontk import progress as prog


class EchoPredictor:
    """The demo loop's predictor interface, without a model."""

    last_latency = 0.001

    def predict(self, frames):
        return [None for _ in frames]

    def draw(self, frame, prediction):
        return frame


def frames_folder(root, n=5):
    root.mkdir()
    for i in range(n):
        cv2.imwrite(str(root / f"{i:02d}.png"), np.full((16, 16, 3), 20 * i, np.uint8))
    return root


def exercise_everything(folder) -> int:
    from visiontk.infer.video import run_demo

    list(prog.progress(range(3), "evaluating"))
    with prog.stages("exporting", 2) as begin:
        begin("writing ONNX (opset 17)")
        begin("verifying")
    result = run_demo(EchoPredictor(), str(folder), show=False, readout=False, echo=lambda m: None)
    return result.frames


@pytest.fixture
def terminal_capable(monkeypatch):
    """rich would draw (as with FORCE_COLOR / TTY_COMPATIBLE in some CI); only our gate decides."""
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("COLUMNS", "240")               # long tmp paths must not crowd out the count
    monkeypatch.delenv("CI", raising=False)


def test_silent_when_stderr_is_not_a_terminal(tmp_path, capfd, terminal_capable):
    assert not prog.interactive()                      # pytest's captured stderr is a pipe
    assert exercise_everything(frames_folder(tmp_path / "f")) == 5
    out, err = capfd.readouterr()
    assert out == "" and err == ""                     # no bar, no \r, no escape codes


def test_drawn_on_a_terminal_with_the_loop_count(tmp_path, capfd, terminal_capable, monkeypatch):
    monkeypatch.setattr(prog, "interactive", lambda: True)
    assert exercise_everything(frames_folder(tmp_path / "f")) == 5
    err = capfd.readouterr().err
    assert "\x1b[" in err                              # a live (transient) display was drawn
    assert "5/5" in err                                # the demo's frame counter, polled
    assert "exporting: verifying" in err and "2/2" in err


def test_polled_counter_is_read_at_refresh_time():
    import io

    from rich.console import Console

    counter = prog.Counter()
    bar = prog.polled_bar(counter, "demo", 10,
                          console=Console(file=io.StringIO(), force_terminal=True, width=80))
    counter.n = 7                                      # the hot loop touches nothing else
    assert bar.tasks[0].completed == 0
    bar.get_renderable()                               # what rich's refresh thread calls
    assert bar.tasks[0].completed == 7
