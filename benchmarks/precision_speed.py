"""Training speed of `visiontk.train` under each `train.mixed_precision` policy, side by side.

    .venv/bin/python benchmarks/precision_speed.py                          # vgg_d half width, detect
    .venv/bin/python benchmarks/precision_speed.py --models vgg_d --rounds 3 --precision float32,auto
    .venv/bin/python benchmarks/precision_speed.py --models fashion_vgg --set model.backbone.params.width=1.0

Each round trains the same recipe once per policy, in turn (the order swaps every round), through
the real trainer (`visiontk.train`, run directory in a temporary folder), and times epochs 2.. from
the first epoch's end to the end of training (epoch 1 holds tracing and compilation; it is printed
apart). Reported: images/s per policy (median and min-max over rounds) and the ratio of each policy
to the first one within each round. The machine line names the CPU flags: `auto` picks
mixed_bfloat16 only where they show amx_bf16 or avx512_bf16 (visiontk/train/precision.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line, median, recipe_of, summary, table  # noqa: E402
from train_overhead import timed_train  # noqa: E402

# name -> (recipe, overrides sizing an epoch to {n} training images, replaced sections)
MODELS = {
    # the compute-bound case: recipes/classify.yaml with VGG16 (D) at half width
    "vgg_d": ("classify", ["data.params.train_size={n}", "data.params.val_size={v}"],
              {"model.backbone": {"name": "vgg_d", "weights": "none",
                                  "params": {"width": 0.5, "batch_norm": True}}}),
    # the thin shipped detector (16-128 filters)
    "detect": ("detect", ["data.params.train_size={n}", "data.params.val_size={v}"], {}),
    # the shipped Fashion-MNIST recipes, at their own width unless --set changes it
    "fashion_vgg": ("recipes/fashion_vgg.yaml", ["data.params.limit={n}", "data.params.val_size={v}"], {}),
    "fashion_resnet18": ("recipes/fashion_resnet18.yaml",
                         ["data.params.limit={n}", "data.params.val_size={v}"], {}),
    "fashion_googlenet": ("recipes/fashion_googlenet.yaml",
                          ["data.params.limit={n}", "data.params.val_size={v}"], {}),
}


def run(name: str, precision: str, args) -> dict:
    import keras

    base, overrides, replace = MODELS[name]
    ov = [o.format(n=args.images, v=max(64, args.images // 8)) for o in overrides]
    recipe = recipe_of(base, [*ov, f"train.epochs={args.epochs}", "data.augment={}",
                              f"train.mixed_precision={precision}", *args.set], replace=replace)
    keras.backend.clear_session()
    try:
        c = timed_train(recipe)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    steps = args.images // recipe.train.batch_size
    return c.result(steps * recipe.train.batch_size)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="vgg_d,detect", help=f"comma list of {', '.join(MODELS)}")
    ap.add_argument("--precision", default="float32,auto", help="policies to compare, the first is the base")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=3, help="epochs per run (>= 2; epoch 1 not timed)")
    ap.add_argument("--images", type=int, default=1024, help="training images per epoch")
    ap.add_argument("--set", action="append", default=[], help="extra recipe override (repeatable)")
    args = ap.parse_args()
    if args.epochs < 2:
        ap.error("--epochs must be at least 2 (the first epoch is not timed)")
    from visiontk.train.precision import choose

    policies = args.precision.split(",")
    rows, ratio_rows, out = [], [], {}
    for name in args.models.split(","):
        res = {p: [] for p in policies}
        for i in range(args.rounds):
            for p in (policies if i % 2 == 0 else policies[::-1]):
                res[p].append(run(name, p, args))
                print(f"  {name} round {i + 1} {p}: {res[p][-1]['images_per_s']:.1f} img/s",
                      file=sys.stderr, flush=True)
        for p in policies:
            v = [r["images_per_s"] for r in res[p]]
            rows.append([name, p, summary(v), f"{median([r['epoch1_s'] for r in res[p]]):.1f}"])
            out[f"{name} {p}"] = {"images_per_s": [round(x, 1) for x in v]}
        for p in policies[1:]:
            ratios = [a["images_per_s"] / b["images_per_s"] for a, b in zip(res[p], res[policies[0]])]
            ratio_rows.append([name, f"{p} / {policies[0]}", summary(ratios, digits=2)])
            out[f"{name} {p} / {policies[0]}"] = [round(r, 3) for r in ratios]
    print(machine_line())
    resolved = {p: choose(p).policy for p in policies}
    print(f"precision_speed: {args.rounds} rounds (policies in turn, order swapped each round), "
          f"{args.epochs} epochs of {args.images} images each (epochs 2..{args.epochs} timed); "
          f"median (min-max); policies here: "
          + ", ".join(f"{p} = {r}" for p, r in resolved.items()))
    print(table(["model", "policy", "visiontk img/s", "epoch-1 s"], rows))
    print(table(["model", "policies", "speed ratio per round"], ratio_rows))
    print(json.dumps({"precision_speed": out}))


if __name__ == "__main__":
    main()
