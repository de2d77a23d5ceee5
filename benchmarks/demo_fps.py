#!/usr/bin/env python3
"""The demo loop's FPS on a 640x480 video against the model's own batch-1 FPS on the same backend,
measured side by side (model-only timing and loop runs alternate; medians of the rounds).

    .venv/bin/python benchmarks/demo_fps.py                                  # recipes/classify.yaml
    .venv/bin/python benchmarks/demo_fps.py --set model.input_shape=[160,160,3]
    .venv/bin/python benchmarks/demo_fps.py export/detect --backend onnx

Without PATH the recipe's model is built untrained (speed does not depend on the weights) and
exported to a temporary folder. Overhead = 1 - loop FPS / model FPS (the goal is <= 10 %): the loop
adds capture, preprocessing, decode, drawing and encoding, most of it in parallel threads.
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

from _common import export_untrained, model_and_meta  # noqa: E402  (sets up sys.path and TF logging)


def make_export(recipe_path: str, overrides: list, folder: Path) -> Path:
    model, meta, _ = model_and_meta(None, recipe_path, overrides)
    return export_untrained(model, meta, folder)


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


def model_fps(predictor, frame, seconds: float = 2.0) -> float:
    """Batch-1 calls of the backend alone (preprocessed input reused), per second."""
    from visiontk.runtime.preprocess import preprocess

    x = preprocess([frame], predictor.meta)
    for _ in range(5):
        predictor.raw(x)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        predictor.raw(x)
        n += 1
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("path", nargs="?", help="run or export folder (default: build --recipe's model)")
    ap.add_argument("--recipe", default="recipes/classify.yaml")
    ap.add_argument("--set", dest="overrides", action="append", default=[],
                    help="recipe override, e.g. model.input_shape=[160,160,3] (repeatable)")
    ap.add_argument("--backend", default="onnx")
    ap.add_argument("--frames", type=int, default=150, help="frames per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-save", action="store_true", help="do not encode the output video")
    args = ap.parse_args()

    import cv2

    from visiontk.infer.predictor import Predictor
    from visiontk.infer.video import run_demo

    tmp = Path(tempfile.mkdtemp(prefix="vtk_demo_bench_"))
    path = Path(args.path) if args.path else make_export(args.recipe, args.overrides, tmp)
    video = make_video(tmp / "in.mp4", args.frames)
    predictor = Predictor(path, args.backend)
    cap = cv2.VideoCapture(str(video))
    frame = cap.read()[1]
    cap.release()
    alone, loop, inside = [], [], []
    for r in range(args.rounds):                  # alternate, so load changes hit both sides
        alone.append(model_fps(predictor, frame))
        res = run_demo(predictor, str(video), show=False,
                       save=None if args.no_save else tmp / f"out{r}.mp4", echo=lambda *_: None)
        loop.append(res.fps)
        inside.append(res.model_ms)
    alone.append(model_fps(predictor, frame))
    a, lp = statistics.median(alone), statistics.median(loop)
    ratio = lp / a
    print(f"model: {path} ({args.backend}), input {predictor.meta['input']['shape']}; video 640x480, "
          f"{res.frames} frames x {args.rounds} rounds"
          f"{'' if args.no_save else ', annotated video written'}; load {os.getloadavg()[0]:.2f}")
    print(f"model alone (batch 1): {a:8.1f} FPS  (rounds: {', '.join(f'{v:.1f}' for v in alone)})")
    print(f"demo loop:             {lp:8.1f} FPS  (rounds: {', '.join(f'{v:.1f}' for v in loop)}; "
          f"model {statistics.median(inside):.2f} ms/frame inside it)")
    print(f"loop / model = {ratio:.3f}  -> overhead {100 * (1 - ratio):.1f} %")
    print(json.dumps({"model_fps": round(a, 1), "loop_fps": round(lp, 1), "ratio": round(ratio, 3),
                      "overhead_percent": round(100 * (1 - ratio), 1),
                      "input": predictor.meta["input"]["shape"], "backend": args.backend,
                      "saved": not args.no_save, "load": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    main()
