#!/usr/bin/env python3
"""Make the README's demo screenshot: run `visiontk demo` on a generated 640x480 synthetic-scene
video and keep one annotated frame as a PNG (< 200 KB).

    .venv/bin/visiontk train recipes/classify.yaml
    .venv/bin/visiontk export runs/classify
    .venv/bin/python docs/make_screenshot.py export/classify docs/demo_classify.png
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def scene_video(path: Path, classes: list[str], scenes: int = 4, per_scene: int = 8, seed: int = 3):
    from visiontk.data.scenes import SHAPES, draw_scene

    rng = np.random.default_rng(seed)
    ids = [SHAPES.index(c) for c in classes]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 8.0, (640, 480))
    for _ in range(scenes):
        img, _, _ = draw_scene(rng, 480, 640, classes=ids, n_objects=1, size_range=(0.4, 0.8),
                               texture=0.25, noise=0.0)
        for _ in range(per_scene):
            writer.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    writer.release()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="run or export folder")
    ap.add_argument("out", help="PNG to write")
    ap.add_argument("--frame", type=int, default=13)
    args = ap.parse_args()
    import json

    meta_file = next(p for p in (Path(args.model) / "metadata.json", Path(args.model) / "meta.json")
                     if p.is_file())
    classes = json.loads(meta_file.read_text())["class_names"]
    tmp = Path(tempfile.mkdtemp(prefix="vtk_shot_"))
    scene_video(tmp / "in.avi", classes)
    subprocess.run([sys.executable, "-m", "visiontk", "demo", args.model, "--source", str(tmp / "in.avi"),
                    "--no-show", "--save", str(tmp / "out.avi")], check=True, cwd=ROOT,
                   env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    cap = cv2.VideoCapture(str(tmp / "out.avi"))
    for _ in range(args.frame):
        cap.read()
    ok, frame = cap.read()
    assert ok, "the demo video is shorter than --frame"
    for scale in (1.0, 0.8, 0.6):
        img = frame if scale == 1.0 else cv2.resize(frame, None, fx=scale, fy=scale,
                                                    interpolation=cv2.INTER_AREA)
        data = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 9])[1].tobytes()
        if len(data) < 200_000:
            break
    Path(args.out).write_bytes(data)
    print(f"{args.out}: {img.shape[1]}x{img.shape[0]}, {len(data) // 1024} KB")


if __name__ == "__main__":
    main()
