#!/usr/bin/env python3
"""The demo loop's FPS on a 640x480 video file against each of its stages measured alone, in one
run (stage timings and loop runs alternate round by round; medians of the rounds).

    .venv/bin/python benchmarks/demo_fps.py                   # classify.yaml and MobileNetV2 224
    .venv/bin/python benchmarks/demo_fps.py --models classify # one of them
    .venv/bin/python benchmarks/demo_fps.py export/detect     # an export or run folder
    .venv/bin/python benchmarks/demo_fps.py --no-save         # the loop writes no video

The stages are the loop's threads (visiontk/infer/video.py), each timed alone on the same frames:
capture (decoding the file with cv2.VideoCapture), model (predictor.predict on one frame:
preprocessing, the backend's batch-1 call, decoding the prediction), overlay (the task's drawing
and the FPS readout) and encode (cv2.VideoWriter, the writer thread's work; skipped with --no-save).
The goal: loop FPS >= 0.8 x the slowest stage's FPS. Each stage alone may use both cores (FFmpeg's
decoding threads, ONNX Runtime's intra-op threads, OpenCV's), so the script also prints each
stage's CPU time per frame (process CPU, all threads): in the loop the stages share the cores, so
cores / (the stages' CPU ms per frame) estimates what the loop can reach however well its threads
overlap, and "cores busy" says how much of the machine the loop used.
Without PATH each model is built untrained (speed does not depend on the weights) and exported to
ONNX in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import export_untrained, machine_line, model_and_meta, table  # noqa: E402

MODELS = {    # name -> (recipe, overrides, description)
    "classify": ("recipes/classify.yaml", [], "classify.yaml ResNet18 narrow, 64 px"),
    "mobilenet_v2": ("recipes/classify.yaml",
                     ["model.backbone={'name': 'mobilenet_v2', 'weights': 'none'}",
                      "model.input_shape=[224,224,3]"], "MobileNetV2, 224 px"),
}
STAGES = ("capture", "model", "overlay", "encode")


def make_export(recipe_path: str, overrides: list, folder: Path) -> Path:
    model, meta, _ = model_and_meta(None, recipe_path, overrides)
    return export_untrained(model, meta, folder, formats=("onnx",))


def make_video(path: Path, frames: int, size=(640, 480), fps: float = 30.0) -> Path:
    import cv2
    import numpy as np

    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    rng = np.random.default_rng(0)
    # a camera-like picture: smooth shading and soft texture (pure per-pixel noise would make the
    # codec, not the loop, the bottleneck)
    noise = cv2.GaussianBlur(rng.random((h, w, 3)).astype(np.float32), (0, 0), 6) * 400
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.clip(noise - noise.mean() + 90 + (xx / w * 60)[..., None] + (yy / h * 30)[..., None],
                   0, 255).astype(np.uint8)
    for i in range(frames):
        img = base.copy()
        cv2.circle(img, ((100 + 4 * i) % w, h // 2), 80, (0, 200, 255), -1)
        cv2.rectangle(img, (380, 120), (520, 260), (255, 90, 30), -1)
        writer.write(img)
    writer.release()
    return path


def timed(fn) -> tuple[float, float, object]:
    """(wall seconds, process CPU seconds, result) of fn()."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w0, time.process_time() - c0, out


class Stages:
    """Each stage of the loop alone, over every frame of the video."""

    def __init__(self, predictor, video: Path, out: Path):
        self.predictor, self.video, self.out = predictor, video, out
        self.frames = self.capture()
        self.preds = self.model()

    def capture(self) -> list:
        from visiontk.infer.sources import CaptureSource

        src, frames = CaptureSource(str(self.video)), []
        while True:
            ok, frame = src.read()
            if not ok:
                break
            frames.append(frame)
        src.release()
        return frames

    def model(self) -> list:
        return [self.predictor.predict([f])[0] for f in self.frames]

    def overlay(self) -> list:
        from visiontk.infer.video import draw_readout

        return [draw_readout(self.predictor.draw(f, p), 300.0, 1.0, 5.0)
                for f, p in zip(self.frames, self.preds)]

    def encode(self, drawn: list) -> None:
        import cv2

        h, w = drawn[0].shape[:2]
        writer = cv2.VideoWriter(str(self.out), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (w, h))
        for frame in drawn:
            writer.write(frame)
        writer.release()

    def measure(self, save: bool) -> dict:
        """{stage: (FPS, CPU ms per frame)}."""
        n, res = len(self.frames), {}
        for name in STAGES[:3]:
            wall, cpu, out = timed(getattr(self, name))
            res[name] = (n / wall, 1e3 * cpu / n)
        if save:
            wall, cpu, _ = timed(lambda: self.encode(out))
            res["encode"] = (n / wall, 1e3 * cpu / n)
        return res


def loop(predictor, video: Path, save) -> tuple[float, float, int]:
    """(loop FPS, CPU ms per frame, frames) of visiontk's demo loop on the file."""
    from visiontk.infer.video import run_demo

    wall, cpu, res = timed(lambda: run_demo(predictor, str(video), show=False, save=save,
                                            echo=lambda *_: None))
    assert res.exit_code == 0 and res.dropped == 0, res.summary()
    return res.fps, 1e3 * cpu / res.frames, res.frames


def bench(label: str, path: Path, args, tmp: Path, video: Path) -> dict:
    from visiontk.infer.predictor import Predictor

    from visiontk.infer.backends import model_threads

    with model_threads(args.model_threads):
        predictor = Predictor(path, args.backend)
    stages = Stages(predictor, video, tmp / "stage.mp4")
    save = None if args.no_save else tmp / "loop.mp4"
    names = STAGES if save else STAGES[:3]
    stages.measure(bool(save)), loop(predictor, video, save)                  # warm up
    rounds: dict = {k: [] for k in (*names, "loop")}
    cpu: dict = {k: [] for k in (*names, "loop")}
    for _ in range(args.rounds):                  # alternate, so load changes hit both sides
        for name, (fps, ms) in stages.measure(bool(save)).items():
            rounds[name].append(fps)
            cpu[name].append(ms)
        fps, ms, frames = loop(predictor, video, save)
        rounds["loop"].append(fps)
        cpu["loop"].append(ms)
        save and save.unlink()
    fps = {k: statistics.median(v) for k, v in rounds.items()}
    ms = {k: statistics.median(v) for k, v in cpu.items()}
    slowest = min(names, key=lambda k: fps[k])
    bound = os.cpu_count() * 1e3 / sum(ms[k] for k in names)
    rows = [[k, f"{fps[k]:.1f}", " ".join(f"{v:.0f}" for v in rounds[k]), f"{ms[k]:.2f}"]
            for k in (*names, "loop")]
    threads = f", {args.model_threads} model thread(s)" if args.model_threads else ""
    print(f"\n## {label}: {path} ({args.backend}{threads}), "
          f"input {predictor.meta['input']['shape']}; "
          f"video 640x480, {frames} frames x {args.rounds} rounds"
          f"{'' if save else ', no video written'}; load {os.getloadavg()[0]:.2f}")
    print(table(["stage", "FPS (median)", "rounds", "CPU ms/frame"], rows))
    ratio = fps["loop"] / fps[slowest]
    # the same ratio round by round (each loop run against the stages timed just before it), so
    # that a load change between rounds shows
    per_round = [rounds["loop"][r] / min(rounds[k][r] for k in names) for r in range(args.rounds)]
    print(f"loop / slowest stage ({slowest}) = {ratio:.3f}  (goal >= 0.8; round by round: "
          f"{', '.join(f'{v:.2f}' for v in per_round)}); the stages' CPU time, "
          f"{sum(ms[k] for k in names):.2f} ms a frame, on {os.cpu_count()} cores: "
          f"{bound:.0f} FPS; "
          f"the loop keeps {fps['loop'] * ms['loop'] / 1e3:.2f} cores busy")
    out = {"model": label, "input": predictor.meta["input"]["shape"], "backend": args.backend,
           "saved": bool(save), "fps": {k: round(v, 1) for k, v in fps.items()},
           "cpu_ms": {k: round(v, 3) for k, v in ms.items()}, "slowest": slowest,
           "ratio": round(ratio, 3), "ratio_per_round": [round(v, 3) for v in per_round],
           "cpu_bound_fps": round(bound, 1),
           "load": round(os.getloadavg()[0], 2)}
    print(json.dumps(out))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("path", nargs="?", help="run or export folder (default: build --models)")
    ap.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    ap.add_argument("--backend", default="onnx")
    ap.add_argument("--frames", type=int, default=300, help="frames of the video")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-save", action="store_true", help="the loop encodes no video")
    ap.add_argument("--model-threads", type=int, default=None,
                    help="the model's CPU threads (default: the runtime's, one per core)")
    args = ap.parse_args()

    print(machine_line())
    print(f"# benchmarks/demo_fps.py {' '.join(sys.argv[1:])}".rstrip())
    tmp = Path(tempfile.mkdtemp(prefix="vtk_demo_bench_"))
    video = make_video(tmp / "in.mp4", args.frames)
    if args.path:
        bench(Path(args.path).name, Path(args.path), args, tmp, video)
        return
    for name in args.models:
        recipe, overrides, label = MODELS[name]
        path = make_export(recipe, overrides, tmp / name)
        bench(f"{label} (untrained)", path, args, tmp, video)


if __name__ == "__main__":
    main()
