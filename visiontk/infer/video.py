"""The demo loop: capture -> preprocess + model -> overlay + display / encode, each stage in its own
thread, handing frames on through bounded queues, so that a frame costs about its slowest stage
instead of the sum of all of them.

- capture thread (Grabber): reads the source. Live sources (cameras, streams): only the newest frame
  is kept, so a model slower than the camera drops stale frames instead of lagging further behind.
  Files and folders: a small blocking queue, every frame is processed and written, in order;
- inference thread (Inference): preprocesses exactly as training did (metadata), runs the model on
  one frame and decodes the prediction with the task's own code;
- the calling thread: draws the task's overlay and the FPS / latency readout, shows the window (GUI
  calls belong to the main thread) and hands the frame to
- the writer thread (Writer), which encodes at the source's size and frame rate.

`q` or Esc in the window quits. Without a GUI (opencv-python-headless, no DISPLAY) the loop writes a
video instead of showing one (unless --show was forced). End of a file or folder: exit code 0; a camera
that cannot be opened, a stream that drops, an unreadable frame, a writer that cannot open: a clear
message and exit code 2, with the output video closed and playable. An exception in any stage thread
reaches the calling thread (re-raised there, after every thread has stopped), and so does Ctrl-C: no
stage can leave the loop waiting (every wait has a timeout and checks a stop flag).
"""

from __future__ import annotations

import os
import queue
import signal
import sys
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import cv2
import numpy as np

from visiontk.progress import counting
from visiontk.infer.sources import FrameSource, open_source
from visiontk.runtime.draw import label
from visiontk.runtime.errors import InputError
from visiontk.runtime.opencv_io import FOURCC, check_save_path, quiet_opencv

READ_RETRIES = 5          # consecutive failed reads of a live source before it counts as dropped
WINDOW = "visiontk demo"


@dataclass
class DemoResult:
    frames: int = 0                      # frames processed (and written)
    read: int = 0                        # frames read from the source
    dropped: int = 0                     # stale live frames skipped
    seconds: float = 0.0
    fps: float = 0.0
    model_ms: float = 0.0                # median model time per frame
    lag_ms: list = field(default_factory=list)   # capture -> drawn, per processed frame
    saved: Optional[str] = None
    ended: str = "end of stream"         # why the loop stopped
    error: Optional[str] = None          # set when the exit code is 2

    @property
    def exit_code(self) -> int:
        return 2 if self.error else 0

    def summary(self) -> str:
        lag = f", lag median {np.median(self.lag_ms):.0f} ms" if self.lag_ms else ""
        saved = f"; saved {self.saved}" if self.saved else ""
        drop = f", {self.dropped} stale frames dropped" if self.dropped else ""
        return (f"demo: {self.frames} frames in {self.seconds:.1f} s ({self.fps:.1f} FPS, model "
                f"{self.model_ms:.1f} ms/frame{lag}{drop}); {self.ended}{saved}")


def gui_available() -> bool:
    """True when OpenCV can open a window here (GUI build and a display)."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or
                                                 os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        with quiet_opencv():
            cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
        return True
    except cv2.error:
        return False


class Grabber(threading.Thread):
    """Reads the source in the background. Live: keeps only the newest frame. Otherwise: a small
    blocking queue (back-pressure; nothing is skipped)."""

    def __init__(self, source: FrameSource, drop_stale: bool):
        super().__init__(daemon=True, name="visiontk-capture")
        self.source, self.drop_stale = source, drop_stale
        self.cond = threading.Condition()
        self.latest = None                       # (index, capture time, frame) when dropping
        self.queue: queue.Queue = queue.Queue(maxsize=4)
        self.read = self.dropped = 0
        self.ended: Optional[str] = None         # set once: "end of stream" or an error message
        self.failed = False
        self.stopping = threading.Event()

    def run(self) -> None:
        failures = 0
        try:
            while not self.stopping.is_set():
                ok, frame = self.source.read()
                if not ok or frame is None:
                    failures += 1
                    if self.source.live and failures < READ_RETRIES:
                        time.sleep(0.02)
                        continue
                    self._finish(*self._why_stopped())
                    return
                failures = 0
                item = (self.read, time.perf_counter(), frame)
                self.read += 1
                if self.drop_stale:
                    with self.cond:
                        if self.latest is not None:
                            self.dropped += 1
                        self.latest = item
                        self.cond.notify_all()
                else:
                    while not self.stopping.is_set():
                        try:
                            self.queue.put(item, timeout=0.1)
                            break
                        except queue.Full:
                            continue
        except Exception as exc:                       # an unreadable frame, a source error
            self._finish(f"{self.source.name}: {exc}", True)

    def _why_stopped(self):
        s = self.source
        if self.read == 0:
            return f"{s.name}: no frame could be read", True
        if s.live:
            return f"{s.name} dropped after {self.read} frames (no frame for {READ_RETRIES} reads)", True
        if s.expected_frames and self.read < s.expected_frames - 1:
            return (f"{s.name} ended early: frame {self.read + 1} of {s.expected_frames} is "
                    f"unreadable (damaged or truncated file)"), True
        return "end of stream", False

    def _finish(self, why: str, failed: bool) -> None:
        with self.cond:
            self.ended, self.failed = why, failed
            self.cond.notify_all()
        if not self.drop_stale:
            try:
                self.queue.put(None, timeout=1.0)
            except queue.Full:
                pass

    def next(self):
        """The next frame (index, capture time, frame) to process, or None when the source ended or
        stop() was called."""
        if self.drop_stale:
            with self.cond:
                while self.latest is None and self.ended is None and not self.stopping.is_set():
                    self.cond.wait(0.1)
                item, self.latest = self.latest, None
                return item
        while not self.stopping.is_set():
            try:
                return self.queue.get(timeout=0.1)
            except queue.Empty:
                if self.ended is not None and self.queue.empty():
                    return None
        return None

    def stop(self) -> None:
        self.stopping.set()


class Writer(threading.Thread):
    """Encodes frames in the background at a fixed size and frame rate (frames of another size are
    resized to it: a denoiser's side-by-side view, a folder of mixed sizes). An error while encoding
    is raised by the next write() or by close(), in the caller's thread."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int]):
        super().__init__(daemon=True, name="visiontk-writer")
        path = Path(path)
        check_save_path(path)
        fourcc = FOURCC[path.suffix.lower()]
        with quiet_opencv():
            self.writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), float(fps), size)
        if not self.writer.isOpened():
            raise InputError(f"--save {path}: OpenCV cannot open a {fourcc} writer there")
        self.path, self.size = path, size
        self.queue: queue.Queue = queue.Queue(maxsize=8)
        self.written = 0
        self.error: Optional[InputError] = None
        self.start()

    def write(self, frame: np.ndarray) -> None:
        while not self._put(frame):
            pass

    def _put(self, item) -> bool:
        """Queue `item`; False when the queue stayed full for 0.1 s (raises the thread's error)."""
        if self.error is not None:
            raise self.error
        try:
            self.queue.put(item, timeout=0.1)
            return True
        except queue.Full:
            return False

    def run(self) -> None:
        while True:
            frame = self.queue.get()
            if frame is None:
                break
            try:
                if (frame.shape[1], frame.shape[0]) != self.size:
                    frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
                self.writer.write(frame)
            except Exception as exc:          # a frame OpenCV cannot encode, a full disk, ...
                self.error = InputError(f"--save {self.path}: writing frame {self.written + 1} "
                                        f"failed ({type(exc).__name__}: {exc})")
                return
            self.written += 1

    def close(self) -> None:
        """Flush and release: the file is complete and playable afterwards (the frames written
        before an error, if one happened: raised here unless write() raised it already)."""
        try:
            while self.is_alive() and not self._put(None):
                pass
        finally:
            self.join()
            self.writer.release()
        if self.error is not None:
            raise self.error


def default_save(src: FrameSource) -> Path:
    """Where the annotated video goes without --save: beside a video file or folder of images
    (<name>_demo.mp4), under runs/demo/ for a camera or stream; a free name, never an existing file."""
    source = Path(src.name)
    if src.live or not source.exists():
        folder = Path("runs") / "demo"
        stem = src.name.replace(" ", "-") if src.name.startswith("camera ") else \
            ("stream" if src.live else source.stem)
        folder.mkdir(parents=True, exist_ok=True)
    else:
        folder, stem = source.parent, source.name if source.is_dir() else source.stem
    target = folder / f"{stem}_demo.mp4"
    n = 2
    while target.exists():
        target, n = folder / f"{stem}_demo-{n}.mp4", n + 1
    return target


def _total(src: FrameSource, max_frames: int) -> Optional[int]:
    """Frames the loop will process, when known (a file or folder; not a camera)."""
    n = src.expected_frames
    if max_frames:
        return min(n, max_frames) if n else max_frames
    return n


def draw_readout(frame: np.ndarray, fps: float, model_ms: float, lag_ms: float) -> np.ndarray:
    """'12.3 FPS | model 8.1 ms | lag 20 ms' in the bottom-left corner."""
    text = f"{fps:.1f} FPS | model {model_ms:.1f} ms | lag {lag_ms:.0f} ms"
    return label(frame, text, (4, frame.shape[0]), color=(255, 255, 255), bg=(40, 40, 40))


class Inference(threading.Thread):
    """The model stage: takes frames from the capture stage, runs `predictor.predict` on each
    (preprocess, model, decode) and queues (index, capture time, frame, prediction, model seconds)
    for the output stage, in order, through a bounded queue (`depth`: 1 for a live source, so that
    a slow output stage holds the model back and the capture stage drops the stale frames).

    An exception here is kept in `error` and the queue ends (get() returns None) so that the caller
    re-raises it; stop() ends the thread within about 0.1 s wherever it waits. With `predictor`
    None the frames pass through unpredicted (prediction None, 0 s): the caller runs the model.
    """

    def __init__(self, predictor, grabber: Grabber, *, depth: int, limit: int = 0,
                 fps_cap: float = 0.0):
        super().__init__(daemon=True, name="visiontk-inference")
        self.predictor, self.grabber, self.limit, self.fps_cap = predictor, grabber, limit, fps_cap
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.error: Optional[BaseException] = None
        self.stopping = threading.Event()

    def run(self) -> None:
        done, due = 0, time.perf_counter()
        try:
            while not self.stopping.is_set() and (not self.limit or done < self.limit):
                if self.fps_cap:                  # at most fps_cap model calls a second
                    time.sleep(max(0.0, due - time.perf_counter()))
                    due = max(due, time.perf_counter()) + 1.0 / self.fps_cap
                item = self.grabber.next()
                if item is None:
                    break
                index, t_capture, frame = item
                pred, latency = None, 0.0
                if self.predictor is not None:
                    pred = self.predictor.predict([frame])[0]
                    latency = self.predictor.last_latency
                if not self._put((index, t_capture, frame, pred, latency)):
                    return
                done += 1
        except BaseException as exc:              # re-raised by the caller, in its thread
            self.error = exc
        self._put(None)

    def _put(self, item) -> bool:
        while not self.stopping.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(self, interrupted: Optional[threading.Event] = None):
        """The next processed frame, or None once the stage has ended (see `error`); raises
        KeyboardInterrupt within 0.1 s of `interrupted` being set."""
        while True:
            if interrupted is not None and interrupted.is_set():
                raise KeyboardInterrupt
            try:
                return self.queue.get(timeout=0.1)
            except queue.Empty:
                if not self.is_alive() and self.queue.empty():
                    return None

    def stop(self) -> None:
        self.stopping.set()


def run_demo(predictor, source, *, show: Optional[bool] = None, save=None, max_frames: int = 0,
             fps_cap: float = 0.0, readout: bool = True, echo: Callable[[str], None] = print,
             on_prediction: Optional[Callable] = None) -> DemoResult:
    """Run `predictor` (visiontk.infer.predictor.Predictor or anything with predict / draw /
    last_latency) on a source until it ends, `max_frames`, or q / Esc.

    The source is read, the model run and the overlay drawn and encoded in parallel threads (see
    the module docstring); `on_prediction` and the window run in the calling thread, frame by frame
    in source order.

    Args:
        source: '0' (camera), a video file, a URL, a folder of images, or a FrameSource.
        show: True (window, error without a GUI), False (no window), None (window when possible,
            else save to `save` or a default file, with a message).
        save: video file for the annotated frames (same size and frame rate as the source).
        fps_cap: process at most this many frames per second (0: as fast as possible).
        on_prediction: called with (frame index, Prediction) for every processed frame.

    Returns a DemoResult; `error` is set (exit code 2) when the source failed.

    Raises:
        InputError: --show without a GUI, a --save path that cannot be written.
        Whatever the model, the overlay or `on_prediction` raised, once every thread has stopped
        (the video written so far is closed and playable); KeyboardInterrupt likewise.

    Example:
        >>> res = run_demo(Predictor("export/classify"), "clip.mp4", show=False, save="out.mp4")  # doctest: +SKIP
        >>> res.exit_code, res.frames  # doctest: +SKIP
        (0, 120)
    """
    if save is not None:
        check_save_path(save)                     # refused before anything is opened or said
    src = open_source(source, fps=fps_cap or None)
    if show is None or show:
        gui = gui_available()
        if show and not gui:
            src.release()
            raise InputError("--show: this OpenCV has no GUI or there is no display (install "
                             "`pip install visiontk[gui]` on a desktop) ; use --no-show --save out.mp4")
        if not gui:
            if save is None:
                save = default_save(src)
            echo(f"demo: no GUI here (headless OpenCV or no display): writing {save} instead of "
                 f"showing a window")
        show = gui
    result = DemoResult(saved=str(save) if save else None)
    writer = None
    model_times: deque = deque(maxlen=1000)
    recent: deque = deque(maxlen=30)
    t_start = time.perf_counter()
    failing = True
    try:
        with ctrl_c_as_flag() as interrupted, \
                stages(predictor, src, limit=max_frames, fps_cap=fps_cap) as (grabber, model), \
                counting(f"demo {src.name}", _total(src, max_frames)) as shown:
            while not max_frames or result.frames < max_frames:
                item = model.get(interrupted)
                if item is None:
                    break
                index, t_capture, frame, pred, latency = item
                model_times.append(latency)
                if on_prediction is not None:
                    on_prediction(index, pred)
                drawn = predictor.draw(frame, pred)
                now = time.perf_counter()
                recent.append(now)
                fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 else 0.0
                result.lag_ms.append((now - t_capture) * 1e3)
                if readout:
                    drawn = draw_readout(drawn, fps, latency * 1e3, result.lag_ms[-1])
                if save and writer is None:
                    size = src.size or (frame.shape[1], frame.shape[0])
                    writer = Writer(Path(save), src.fps, size)
                if writer is not None:
                    writer.write(drawn)
                result.frames += 1
                shown.n += 1                       # the terminal display polls it
                if show:
                    cv2.imshow(WINDOW, drawn)
                    if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                        result.ended = "stopped (q / Esc)"
                        break
            else:
                result.ended = f"stopped after --max-frames {max_frames}"
        failing = False
    finally:
        _close(writer, show, failing)
    result.seconds = time.perf_counter() - t_start
    result.fps = result.frames / result.seconds if result.seconds > 0 else 0.0
    result.model_ms = float(np.median(model_times) * 1e3) if model_times else 0.0
    result.read, result.dropped = grabber.read, grabber.dropped
    if result.ended == "end of stream" and grabber.ended is not None:
        result.ended = grabber.ended
        if grabber.failed:
            result.error = grabber.ended
    return result


@contextmanager
def ctrl_c_as_flag():
    """Inside: Ctrl-C sets the Event yielded instead of raising KeyboardInterrupt wherever the main
    thread happens to be: raised between a queue's lock acquire and release, it would leave the lock
    held and the shutdown waiting on it forever. The loop checks the Event and raises
    KeyboardInterrupt itself, at a safe point; a second Ctrl-C raises at once. Outside the main
    thread (where Python delivers no signal) nothing changes."""
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.getsignal(signal.SIGINT)
    previous = signal.default_int_handler if previous is None else previous

    def on_ctrl_c(signum, frame):
        flag.set()
        signal.signal(signal.SIGINT, previous)

    signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def stages(predictor, src: FrameSource, *, limit: int = 0, fps_cap: float = 0.0):
    """The capture and model stages running on `src`: yields (Grabber, Inference); take the
    processed frames with `Inference.get()` (`predictor` None: unpredicted, see Inference). On
    the way out both threads are stopped (whatever they wait on, within ~0.1 s) and the source
    released; then the model stage's exception, if it had one, is raised here, in the caller's
    thread.

    Example:
        >>> with stages(predictor, open_source("clip.mp4")) as (grabber, model):  # doctest: +SKIP
        ...     while (item := model.get()) is not None:
        ...         index, t_capture, frame, prediction, model_seconds = item
    """
    grabber = Grabber(src, drop_stale=src.live)
    model = Inference(predictor, grabber, depth=1 if src.live else 4, limit=limit, fps_cap=fps_cap)
    grabber.start()
    model.start()
    try:
        yield grabber, model
    finally:
        model.stop()
        grabber.stop()
        model.join(timeout=2.0)
        grabber.join(timeout=2.0)
        src.release()
    if model.error is not None:
        raise model.error


def _close(writer: Optional[Writer], show: bool, failing: bool) -> None:
    """Complete the video and close the window. An error of the writer is raised unless another
    exception is already on its way out."""
    try:
        if writer is not None:
            writer.close()
    except InputError:
        if not failing:
            raise
    finally:
        if show:
            with quiet_opencv():
                cv2.destroyAllWindows()
