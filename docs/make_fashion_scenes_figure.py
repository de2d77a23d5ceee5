#!/usr/bin/env python3
"""Make docs/fashion_scenes.png: the first four test scenes with at least two
garments of the `fashion-scenes` source (as recipes/detect_fashion.yaml configures it), each shown three ways: the image with its boxes and
classes, its semantic mask and its instance mask, upscaled 2x.

    .venv/bin/python docs/make_fashion_scenes_figure.py docs/fashion_scenes.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from visiontk.data.sources.fashion_scenes import FashionScenes, FashionScenesConfig
    from visiontk.runtime.draw import blend_mask, class_color, draw_box

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--scenes", type=int, default=4)
    args = ap.parse_args()

    src = FashionScenes(FashionScenesConfig(test_size=1000, cache=False), input_shape=(128, 128, 3),
                        seed=0)
    data, names = src.head("test", 8 * args.scenes), src.class_names()
    rows = []
    for i in [i for i in range(len(data)) if data.annotations["count"][i] >= 2][:args.scenes]:
        rgb = cv2.resize(data.images[i], (256, 256), interpolation=cv2.INTER_NEAREST)
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        boxed = bgr.copy()
        for box, cls in zip(data.annotations["boxes"][i], data.annotations["classes"][i]):
            if cls >= 0:
                draw_box(boxed, box * 256, names[cls], class_color(int(cls)))
        semantic = blend_mask(np.zeros_like(bgr), data.annotations["mask"][i], names, alpha=1.0)
        inst = data.annotations["instances"][i]
        colours = np.array([(0, 0, 0)] + [class_color(k + 3) for k in range(int(inst.max()))], np.uint8)
        instances = cv2.resize(colours[inst], (256, 256), interpolation=cv2.INTER_NEAREST)
        gap = np.full((256, 4, 3), 255, np.uint8)
        rows.append(np.hstack([boxed, gap, semantic, gap, instances]))
    sheet = np.vstack([np.vstack([r, np.full((4, r.shape[1], 3), 255, np.uint8)]) for r in rows])
    cv2.imwrite(args.out, sheet)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
