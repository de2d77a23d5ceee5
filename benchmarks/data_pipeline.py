#!/usr/bin/env python3
"""Images/s of the tf.data input pipeline alone, per data source, against what the training step
of the recipe's model consumes; the pipeline must not be the bottleneck (ratio > 1).

    .venv/bin/python benchmarks/data_pipeline.py                     # synthetic, fashion, folder
    .venv/bin/python benchmarks/data_pipeline.py --sources fashion-mnist --images 20000
    .venv/bin/python benchmarks/data_pipeline.py --quick             # the `make bench` subset

Sources and models: synthetic-scenes -> recipes/classify.yaml (ResNet18 narrow, 64 px);
fashion-mnist -> recipes/fashion_lenet.yaml (LeNet-5, 28 px); image-folder -> JPEGs of synthetic
scenes written at 96 px to a temporary folder (decoded and resized to 64 px in the pipeline) ->
the classify model. Each pipeline keeps its recipe's augmentation.

Pipelines: `build_dataset` exactly as the trainer calls it (training=True: cache -> shuffle ->
batch -> augment + encode per batch for the tasks whose encode takes batches), and, for
comparison, the same with augment and encode mapped per example before batching (what
build_dataset did before 2026-12-02, and still does for detection, segmentation, denoising and
metric tasks). Cold: a new dataset (decoding, cache filling); warm: a second pass over the same one
(the cache). Consumption: the trainer-compiled model on one repeated batch (StepBench). "fed" is
the same model fed by build_dataset (the second of two epochs over one iterator, so the shuffle
buffer is full): fed / repeated batch ~ 1 means the pipeline keeps up while it shares the cores
with the step. Rounds alternate all of these.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import StepBench, machine_line, median, recipe_of, summary, table  # noqa: E402


def write_folder(n: int, size: int = 96) -> str:
    """n synthetic scenes as JPEGs in <tmp>/<class>/NNNNN.jpg; returns the folder."""
    import cv2

    from visiontk.data.sources.synthetic import SyntheticConfig, SyntheticScenes

    src = SyntheticScenes(SyntheticConfig(train_size=n, val_size=1, max_objects=1, min_objects=1,
                                          classes=["circle", "square", "triangle", "star"]),
                          input_shape=(size, size, 3))
    d = src.load("train")
    root = Path(tempfile.mkdtemp(prefix="vtk_bench_jpegs_"))
    names = src.class_names()
    for i, (img, lab) in enumerate(zip(d.images, d.annotations["label"])):
        folder = root / names[lab]
        folder.mkdir(exist_ok=True)
        cv2.imwrite(str(folder / f"{i:05d}.jpg"), img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    return str(root)


def recipe_for(source: str, n: int):
    if source == "synthetic-scenes":
        return recipe_of("classify", [f"data.params.train_size={n}", "data.params.val_size=8"])
    if source == "fashion-mnist":
        return recipe_of("lenet", [f"data.params.limit={n}"])
    return recipe_of("classify", replace={"data.source": "image-folder",
                                          "data.params": {"path": write_folder(n),
                                                          "val_fraction": 0.05}})


def per_example(data, task, recipe):
    """Augment and encode mapped per example before batching (the older order, for comparison)."""
    import tensorflow as tf

    from visiontk.data.augment import make_augment
    from visiontk.data.pipeline import source_dataset

    keys = set(task.needs) | set(task.geometry) | ({"classes"} if "boxes" in task.needs else set())
    ds = source_dataset(data, input_shape=recipe.model.input_shape, resize=recipe.data.resize,
                        keys=keys).cache()
    ds = ds.shuffle(min(recipe.data.shuffle_buffer, len(data)), seed=recipe.seed)
    aug = make_augment(recipe.data.augment, task.geometry, recipe.seed)
    if aug is not None:
        ds = ds.map(aug, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.map(task.encode, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(recipe.train.batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def rate(ds, batch: int) -> float:
    n, t0 = 0, time.perf_counter()
    for _ in ds:
        n += batch
    return n / (time.perf_counter() - t0)


def bench_source(source: str, args) -> tuple[list, dict]:
    from visiontk.data.pipeline import build_dataset

    default = (4096 if args.quick else 16384) if source == "fashion-mnist" else \
        (1024 if args.quick else 2048)
    recipe = recipe_for(source, args.images or default)
    step = StepBench(recipe)
    data, task, bs = step.data, step.p.task, recipe.train.batch_size
    makers = {"build_dataset": lambda: build_dataset(data, task, recipe, training=True),
              "per-example maps": lambda: per_example(data, task, recipe)}
    res: dict = {f"{k} {w}": [] for k in makers for w in ("cold", "warm")}
    res.update({"step (repeated batch)": [], "step fed by pipeline": []})
    fed = build_dataset(data, task, recipe, training=True).repeat()
    step.epoch(2, fed)
    for _ in range(args.rounds):
        for k, make in makers.items():
            ds = make()
            res[f"{k} cold"].append(rate(ds, bs))
            res[f"{k} warm"].append(rate(ds, bs))
        res["step (repeated batch)"].append(step.epoch(args.steps))
        res["step fed by pipeline"].append(step.epoch(args.steps, fed))
    consume = median(res["step (repeated batch)"])
    rows = [[f"{source}: {k}", summary(v, digits=0), f"{median(v) / consume:.2f}"]
            for k, v in res.items()]
    aug = recipe.data.augment
    print(f"  {source}: {len(data)} images, {recipe.model.input_shape}, batch {bs}, augment "
          f"flip={aug.flip} translate={aug.translate}, model {recipe.model.backbone.name}",
          file=sys.stderr)
    return rows, {k: round(median(v) / consume, 2) for k, v in res.items()}


SOURCES = ("synthetic-scenes", "fashion-mnist", "image-folder")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--sources", default=",".join(SOURCES), help="comma list of " + ", ".join(SOURCES))
    ap.add_argument("--images", type=int, default=0,
                    help="training images per source (default 2048; fashion-mnist 16384)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10, help="training steps per timed step epoch")
    ap.add_argument("--quick", action="store_true", help="2 rounds, 1024 images (fashion 4096), "
                                                         "5 steps")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.steps = 2, 5
    rows, out = [], {}
    for source in args.sources.split(","):
        r, out[source] = bench_source(source, args)
        rows += r
    print(machine_line())
    print(f"data_pipeline: {args.rounds} alternating rounds, {args.images or 'default'} images "
          f"per source; "
          f"images/s median (min-max); ratio = images/s / the step's consumption (repeated batch)")
    print(table(["source: pipeline", "images/s", "ratio to step"], rows))
    print(json.dumps({"data_pipeline": out}))


if __name__ == "__main__":
    main()
