#!/usr/bin/env python3
"""Training throughput of `visiontk.train` against a hand-written plain Keras `model.fit`, the same
model on the same in-memory data, runs alternating in one process (median of the pairs).

    .venv/bin/python benchmarks/train_overhead.py                      # resnet18 narrow + lenet5
    .venv/bin/python benchmarks/train_overhead.py --models lenet --pairs 5 --epochs 4
    .venv/bin/python benchmarks/train_overhead.py --quick              # the `make bench` subset
    .venv/bin/python benchmarks/train_overhead.py --precision float32,auto   # both policies, side by side

visiontk side: the real trainer through the Python API (`visiontk.train(recipe)`), writing its run
directory (checkpoints, backup, history.csv + curves.png, TensorBoard) in a temporary folder.
Plain side: the same architecture (visiontk's builder), compiled with the same optimizer, loss and
metric, fed by from_tensor_slices -> shuffle -> batch -> prefetch on the same arrays, with the same
validation split; what a user writes by hand. Augmentation is off on both sides (the same work).

Steady state, one rule for both: wall time from the start of epoch 2 to the end of training
(every callback, validation and checkpoint included), divided by the images of epochs 2..N; epoch 1
(tracing, graph building, cache filling) is left out. Ratio = visiontk / plain (goal >= 1.0).

`--precision float32,auto` runs every pair under each `train.mixed_precision` value (both sides under
the same policy, the plain side with the policy the trainer chose) and prints the speed of each value
against the first one's (auto picks mixed_bfloat16 on CPUs with AMX / AVX512-BF16, float32 elsewhere).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_line, median, recipe_of, summary, table  # noqa: E402

# name -> (recipe, overrides): the recipe's model and batch; a benchmark-sized epoch
MODELS = {
    "resnet18": ("classify", ["data.params.train_size={n}", "data.params.val_size={v}"]),
    "lenet": ("lenet", ["data.params.limit={n}", "data.params.val_size={v}"]),
}


def clock():
    """A callback that records the time each epoch begins and the time training ends."""
    import keras

    class Clock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.begins, self.cpu, self.steps, self.end = [], [], [], None

        def on_epoch_begin(self, epoch, logs=None):
            self.begins.append(time.perf_counter())
            self.cpu.append(time.process_time())

        def on_test_begin(self, logs=None):      # validation starts: the epoch's steps are done
            self.steps.append(time.perf_counter() - self.begins[-1])

        def on_train_end(self, logs=None):
            self.end, self.cpu_end = time.perf_counter(), time.process_time()

        def result(self, images_per_epoch: int) -> dict:
            steady = (len(self.begins) - 1) * images_per_epoch / (self.end - self.begins[1])
            images = (len(self.begins) - 1) * images_per_epoch
            return {"images_per_s": steady, "epoch1_s": self.begins[1] - self.begins[0],
                    "cpu_ms_per_image": 1e3 * (self.cpu_end - self.cpu[1]) / images,
                    "steps_images_per_s": images_per_epoch / median(self.steps[1:])}

    return Clock()


def make_recipe(name: str, args, extra=()):
    base, overrides = MODELS[name]
    extra = [*extra, f"train.mixed_precision={args.current_precision}"] if args.current_precision \
        else list(extra)
    n = args.images if args.images else (2048 if name == "resnet18" else 8192)
    ov = [o.format(n=n, v=max(64, n // 8)) for o in overrides]
    return recipe_of(base, [*ov, f"train.epochs={args.epochs}", "data.augment={}",   # no augmentation
                            *args.set, *extra])


def timed_train(recipe):
    """Train `recipe` with the real trainer (`visiontk.train`) and return its epoch clock."""
    import importlib

    import visiontk

    vfit = importlib.import_module("visiontk.train.fit")   # `visiontk.train` is the API function
    c = clock()
    original = vfit.make_callbacks

    def with_clock(*a, **kw):            # measuring only: the clock is the first callback
        cbs = original(*a, **kw)
        cbs.callbacks.insert(0, c)
        return cbs

    vfit.make_callbacks = with_clock
    try:
        visiontk.train(recipe, echo=lambda *_: None)
    finally:
        vfit.make_callbacks = original
    return c


def run_visiontk(name: str, args) -> dict:
    recipe = make_recipe(name, args)
    c = timed_train(recipe)
    steps = (len(_DATA[name][0]) // recipe.train.batch_size)
    return c.result(steps * recipe.train.batch_size)


_DATA: dict = {}


def data_of(name: str, args):
    """(x_train, y_train, x_val, y_val) float32 / one-hot, the arrays the visiontk side trains on."""
    if name not in _DATA:
        import numpy as np

        from visiontk.train.session import prepare

        p = prepare(make_recipe(name, args), build=False)
        k = p.task.info.num_classes
        out = []
        for split in ("train", "val"):
            d = p.source.load(split)
            out += [d.images.astype(np.float32) / 255.0,
                    np.eye(k, dtype=np.float32)[d.annotations["label"]]]
        _DATA[name] = tuple(out)
    return _DATA[name]


def run_plain(name: str, args) -> dict:
    import keras
    import tensorflow as tf

    from visiontk.progress import interactive
    from visiontk.train.session import prepare
    from visiontk.train.model import build_model

    recipe = make_recipe(name, args)
    p = prepare(recipe, build=False)            # seeds, task (class count); no strategy scope
    model = build_model(recipe, p.task)
    x, y, xv, yv = data_of(name, args)
    bs = recipe.train.batch_size
    train = (tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=0)
             .batch(bs, drop_remainder=True).prefetch(tf.data.AUTOTUNE))
    val = tf.data.Dataset.from_tensor_slices((xv, yv)).batch(bs).prefetch(tf.data.AUTOTUNE)
    lr = keras.optimizers.schedules.CosineDecay(recipe.train.optimizer.learning_rate,
                                                args.epochs * (len(x) // bs))
    # the recipe's loss and metrics (label smoothing, top-5 with more than 5 classes), as a user
    # would write them: the same work per step on both sides
    smoothing = recipe.train.regularization.label_smoothing or 0.0
    metrics = [keras.metrics.CategoricalAccuracy(name="accuracy")]
    if p.task.info.num_classes > 5:
        metrics.append(keras.metrics.TopKCategoricalAccuracy(5, name="top5"))
    model.compile(optimizer=keras.optimizers.Adam(lr, weight_decay=recipe.train.regularization
                                                  .weight_decay or None),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=smoothing),
                  metrics=metrics)
    c = clock()
    model.fit(train, validation_data=val, epochs=args.epochs, callbacks=[c],
              verbose=1 if interactive() else 2)
    return c.result((len(x) // bs) * bs)


def compare(name: str, label: str, args, keras, out: dict) -> list:
    """Alternating (visiontk, plain) pairs of one model under one setting: a table row; the figures
    go to out[label]."""
    res: dict = {"visiontk": [], "plain": []}
    for i in range(args.pairs):           # alternate; swap who goes first every other pair
        order = ("visiontk", "plain") if i % 2 == 0 else ("plain", "visiontk")
        for side in order:
            keras.backend.clear_session()
            res[side].append((run_visiontk if side == "visiontk" else run_plain)(name, args))
            print(f"  {label} pair {i + 1} {side}: {res[side][-1]['images_per_s']:.1f} img/s",
                  file=sys.stderr, flush=True)
    v = [r["images_per_s"] for r in res["visiontk"]]
    p = [r["images_per_s"] for r in res["plain"]]
    ratios = [a / b for a, b in zip(v, p)]
    sv = [r["steps_images_per_s"] for r in res["visiontk"]]
    sp = [r["steps_images_per_s"] for r in res["plain"]]
    cpu = [b["cpu_ms_per_image"] / a["cpu_ms_per_image"]
           for a, b in zip(res["visiontk"], res["plain"])]
    out[label] = {"visiontk_images_per_s": round(median(v), 1),
                  "plain_images_per_s": round(median(p), 1),
                  "ratio": round(median(ratios), 3), "ratios": [round(r, 3) for r in ratios],
                  "steps_only_ratio": round(median([a / b for a, b in zip(sv, sp)]), 3),
                  "cpu_ratio": round(median(cpu), 3)}
    return [label, summary(v), summary(p), summary(ratios, digits=3),
            summary([a / b for a, b in zip(sv, sp)], digits=3), summary(cpu, digits=3),
            f"{median([r['epoch1_s'] for r in res['visiontk']]):.1f} / "
            f"{median([r['epoch1_s'] for r in res['plain']]):.1f}"]


def precision_rows(out: dict, models: list, precisions: list) -> list:
    """visiontk img/s of each precision against the first one's, per model."""
    rows = []
    for name in models:
        base = out[f"{name} {precisions[0]}"]["visiontk_images_per_s"]
        for precision in precisions[1:]:
            mine = out[f"{name} {precision}"]["visiontk_images_per_s"]
            rows.append([name, f"{precision} / {precisions[0]}", f"{mine / base:.2f}x"])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--models", default="resnet18,lenet", help=f"comma list of {', '.join(MODELS)}")
    ap.add_argument("--pairs", type=int, default=3, help="alternating (visiontk, plain) pairs")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per run (>= 2; epoch 1 not timed)")
    ap.add_argument("--images", type=int, default=0,
                    help="training images per epoch (default 2048 resnet18, 8192 lenet)")
    ap.add_argument("--set", action="append", default=[], help="extra recipe override (repeatable)")
    ap.add_argument("--quick", action="store_true", help="lenet only, 3 pairs of 3 short epochs")
    ap.add_argument("--precision", default="",
                    help="comma list of train.mixed_precision values to compare (e.g. float32,auto); "
                         "default: the recipes' own")
    args = ap.parse_args()
    if args.quick:
        args.models, args.images = "lenet", args.images or 4096
    if args.epochs < 2:
        ap.error("--epochs must be at least 2 (the first epoch is not timed)")
    import warnings

    import keras

    warnings.filterwarnings("ignore", message=".*shuffle=True.*")   # plain fit's default, harmless
    rows, out = [], {}
    precisions = [p for p in args.precision.split(",") if p] or [None]
    for name in args.models.split(","):
        for precision in precisions:
            args.current_precision = precision
            label = f"{name} {precision}" if precision else name
            _DATA.pop(name, None)
            data_of(name, args)
            rows.append(compare(name, label, args, keras, out))
    n = args.images or "default"
    n = args.images or "default"
    print(machine_line())
    print(f"train_overhead: {args.pairs} alternating pairs, {args.epochs} epochs each "
          f"(epochs 2..{args.epochs} timed), images/epoch {n}; median (min-max)")
    print(table(["model", "visiontk img/s", "plain fit img/s", "ratio visiontk/plain",
                 "steps-only ratio", "CPU ratio", "epoch-1 s v/p"], rows))
    print("steps-only: the training steps of an epoch alone (no validation, no epoch-end callbacks);"
          "\nCPU ratio: plain / visiontk process CPU seconds per image over the same epochs (less "
          "sensitive to other processes' load than wall time; > 1: visiontk does less work)")
    if len(precisions) > 1:
        print(table(["model", "policies", "visiontk speed"],
                    precision_rows(out, args.models.split(","), precisions)))
    print(json.dumps({"train_overhead": out}))


if __name__ == "__main__":
    main()
