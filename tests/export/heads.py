"""Each tiny task head trained once and exported once per test session (shared by tests/export and
tests/demo): training is the slow part, every test after the first reuses the folders."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from tests.tiny_recipes import all_recipes

HEADS = all_recipes()
# Decode settings that make a barely trained head produce something to compare and draw (a 1-epoch
# detector scores every box under the default 0.25 threshold: nothing would be decoded or drawn).
LOOSE_DECODE = {"detection": {"score_threshold": 0.0, "max_detections": 20},
                "detection_multiscale": {"score_threshold": 0.0, "max_detections": 20}}
# For comparing backends box by box: every box, no NMS and no top-k cut. Such a detector scores
# nearly every anchor at its 0.01 prior, so float noise of 1e-6 decides which of two tied boxes NMS
# keeps and which one the cut drops, differently per backend (a CI run failed so); without them,
# what is compared is the decoding itself, and box_differences already lets tied boxes swap ranks.
EVERY_BOX = {head: {**decode, "iou_threshold": 1.0, "max_detections": 10_000}
             for head, decode in LOOSE_DECODE.items()}
_RUNS: dict = {}
_EXPORTS: dict = {}


def trained_run(head: str, factory) -> Path:
    """runs/<head> trained from tests/tiny_recipes/<head>.py (once per session)."""
    if head not in _RUNS:
        from visiontk.recipe import load_recipe
        from visiontk.train.loop import train

        root = factory.mktemp(f"run_{head}")
        data = {**HEADS[head], "output": str(root / head)}
        train(load_recipe(data=data), echo=lambda *_: None)
        _RUNS[head] = root / head
    return _RUNS[head]


def exported(head: str, factory):
    """(export folder with every format, ExportResult) of the head's run (once per session)."""
    if head not in _EXPORTS:
        from visiontk.export import export_run

        run = trained_run(head, factory)
        out = factory.mktemp(f"export_{head}") / head
        _EXPORTS[head] = (out, export_run(run, formats="all", out=out, echo=lambda *_: None))
    return _EXPORTS[head]


def scene_images(folder: Path, n: int = 3, size=(72, 96), seed: int = 0) -> list[Path]:
    """Small BGR images with filled shapes (not the model's input size: resizing is exercised)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        img = (rng.random((*size, 3)) * 60 + 40).astype(np.uint8)
        for _ in range(2):
            c = tuple(int(v) for v in rng.integers(100, 255, 3))
            x, y = int(rng.integers(15, size[1] - 15)), int(rng.integers(15, size[0] - 15))
            if rng.random() < 0.5:
                cv2.circle(img, (x, y), int(rng.integers(6, 14)), c, -1)
            else:
                cv2.rectangle(img, (x - 10, y - 8), (x + 10, y + 8), c, -1)
        p = folder / f"scene{i}.png"
        cv2.imwrite(str(p), img)
        paths.append(p)
    return paths


def loosen(predictor, head: str, settings: dict = LOOSE_DECODE):
    """The predictor with `settings` (LOOSE_DECODE or EVERY_BOX) applied to its metadata (a copy);
    returns it."""
    if head in settings:
        predictor.meta = {**predictor.meta, "decode": {**predictor.meta["decode"], **settings[head]}}
    return predictor
