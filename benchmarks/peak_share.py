#!/usr/bin/env python3
"""Share of the machine's peak that a training step reaches: FLOPs counted from the model, divided by
the measured step time, against the fastest tf.linalg.matmul rate of the dtypes training can use
(float32, bfloat16) measured in the same run. On a CPU with AMX or AVX512-BF16 the bfloat16 rate is
the machine's real limit; where bfloat16 is emulated, float32 is.

    .venv/bin/python benchmarks/peak_share.py                          # every model, defaults
    .venv/bin/python benchmarks/peak_share.py --models vgg_d --lever batch=16,32,64,128
    .venv/bin/python benchmarks/peak_share.py --models vgg_d --lever spe=1,8 --lever jit=0,1
    .venv/bin/python benchmarks/peak_share.py --models vgg_d --lever onednn=0,1   # subprocesses
    .venv/bin/python benchmarks/peak_share.py --models vgg_d --lever threads=2x2,1x1,2x1,4x2
    .venv/bin/python benchmarks/peak_share.py --models vgg_d,detect --lever precision=float32,auto

The FLOP rule: forward = 2 x the multiply-accumulates of every Conv2D / DepthwiseConv2D /
SeparableConv2D / Conv2DTranspose / Dense layer (output pixels x kernel x in/out channels, read from
the Keras graph; batch norm, activations, pooling and the loss are not counted); a training step =
3 x forward per image (backward: one pass for input gradients, one for weight gradients).

The step is `model.fit` of the trainer's compiled model (the recipe's optimizer, loss, metrics) on
one real encoded batch repeated (the input pipeline is left out: benchmarks/data_pipeline.py measures
it). Matmul: 2048 x 2048 in each dtype, 2 n^3 FLOPs a call. Rounds alternate matmul calls and one
training epoch of --steps steps, so the share of each round compares figures measured moments apart.

Levers in this process: batch, spe (steps_per_execution), jit (XLA jit_compile), precision
(train.mixed_precision: float32, mixed_bfloat16, auto, ...); in alternating
subprocesses (they must be set before TensorFlow starts): onednn (TF_ENABLE_ONEDNN_OPTS),
threads=INTRAxINTER (tf.config.threading).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (MATMUL_DTYPES, StepBench, machine_line, matmul_gflops, median, recipe_of,  # noqa: E402
                     summary, table)

# name -> (recipe, overrides): the recipes' models, and larger conv nets of the zoo at 64 px
SMALL_DATA = ["data.params.train_size={n}", "data.params.val_size=8"]
# (recipe, overrides, backbone replacing the recipe's)
MODELS = {
    "classify": ("classify", SMALL_DATA, None),
    "detect": ("detect", SMALL_DATA, None),
    "lenet": ("lenet", ["data.params.limit={n}", "data.params.val_size=8"], None),
    "vgg_d": ("classify", SMALL_DATA, {"name": "vgg_d", "params": {"width": 0.5}}),
    "alexnet": ("classify", SMALL_DATA, {"name": "alexnet", "params": {"width": 1.0}}),
}


def forward_macs(model) -> int:
    """Multiply-accumulates of one image's forward pass (nested models included)."""
    import math

    import keras

    L = keras.layers
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += forward_macs(layer)
            continue
        if not isinstance(layer, (L.Conv2D, L.DepthwiseConv2D, L.SeparableConv2D,
                                  L.Conv2DTranspose, L.Dense)):
            continue
        out = layer.output.shape
        inp = layer.input.shape
        cin = inp[-1]
        if isinstance(layer, L.Dense):
            total += math.prod(inp[1:-1]) * cin * layer.units
        elif isinstance(layer, L.Conv2DTranspose):
            total += math.prod(inp[1:3]) * math.prod(layer.kernel_size) * cin * layer.filters
        elif isinstance(layer, L.DepthwiseConv2D):
            total += math.prod(out[1:4]) * math.prod(layer.kernel_size)
        elif isinstance(layer, L.SeparableConv2D):
            total += math.prod(out[1:3]) * (cin * math.prod(layer.kernel_size) * layer.depth_multiplier
                                            + cin * layer.depth_multiplier * layer.filters)
        else:
            total += math.prod(out[1:4]) * math.prod(layer.kernel_size) * cin // layer.groups
    return total


class Bench(StepBench):
    """A model of MODELS under one setting of the in-process levers."""

    def __init__(self, name: str, batch: int | None = None, spe: int = 1, jit: bool = False,
                 precision: str | None = None):
        base, overrides, backbone = MODELS[name]
        batch = batch or recipe_of(base).train.batch_size
        ov = [o.format(n=batch) for o in overrides]
        ov += [f"train.batch_size={batch}", f"train.steps_per_execution={spe}",
               f"train.jit_compile={str(bool(jit)).lower()}", "data.augment.flip='none'"]
        if precision:
            ov.append(f"train.mixed_precision={precision}")
        if base == "detect":
            ov.append("data.augment.translate=0")
        super().__init__(recipe_of(base, ov, replace={"model.backbone": backbone} if backbone
                                   else None))
        self.fwd_flops = 2 * forward_macs(self.model)
        self.input = list(self.recipe.model.input_shape)


def measure(configs: dict, rounds: int, steps: int) -> dict:
    """{label: {img/s list, share list, ...}} with matmul calls and epochs alternating."""
    out = {k: {"images_per_s": [], "share": [], "matmul": [], **{d: [] for d in MATMUL_DTYPES}}
           for k in configs}
    if not steps:              # auto: about 3 s an epoch, from one probe epoch of 2 steps
        per = {k: max(2, round(3.0 * b.epoch(2) / b.batch)) for k, b in configs.items()}
    for _ in range(rounds):
        for label, b in configs.items():
            rates = {d: median(matmul_gflops(reps=3, dtype=d)) for d in MATMUL_DTYPES}
            peak = max(rates.values())
            ips = b.epoch(steps or per[label])
            out[label]["images_per_s"].append(ips)
            out[label]["matmul"].append(peak)
            for d, rate in rates.items():
                out[label][d].append(rate)
            out[label]["share"].append(100 * 3 * b.fwd_flops * ips / 1e9 / peak)
    return out


def rows_of(configs: dict, res: dict) -> list:
    rows = []
    for label, b in configs.items():
        r = res[label]
        ips = median(r["images_per_s"])
        rows.append([label, "x".join(map(str, b.input)), b.batch, f"{b.fwd_flops / 1e9:.4f}",
                     f"{3 * b.fwd_flops / 1e9:.4f}", summary(r["images_per_s"]),
                     f"{3 * b.fwd_flops * ips / 1e9:.1f}",
                     *(summary(r[d]) for d in MATMUL_DTYPES), summary(r["share"])])
    return rows


HEADERS = ["model / setting", "input", "batch", "fwd GFLOP/img", "train GFLOP/img", "img/s",
           "GFLOP/s", *(f"matmul {d} GFLOP/s" for d in MATMUL_DTYPES), "share of fastest matmul %"]


def subprocess_lever(model: str, lever: str, values: list, args) -> list:
    """Alternating child processes, one per value of an environment-level lever."""
    res: dict = {v: [] for v in values}
    for _ in range(args.rounds):
        for v in values:
            env = dict(os.environ)
            cmd = [sys.executable, __file__, "--models", model, "--rounds", "1", "--steps",
                   str(args.steps), "--spe", str(args.spe), "--json"]
            if lever == "onednn":
                env["TF_ENABLE_ONEDNN_OPTS"] = v
            else:
                cmd += ["--threads", v]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
            res[v].append(json.loads(out.strip().splitlines()[-1])[model])
    rows = []
    for v in values:
        r = res[v]
        rows.append([f"{model} {lever}={v}", "", "", "", "", summary([x["images_per_s"] for x in r]),
                     "", *(summary([x[d] for x in r]) for d in MATMUL_DTYPES),
                     summary([x["share"] for x in r])])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--models", default="classify,detect,lenet,vgg_d,alexnet",
                    help=f"comma list of {', '.join(MODELS)}")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    ap.add_argument("--steps", type=int, default=0,
                    help="training steps per timed epoch (default: about 3 s of them)")
    ap.add_argument("--lever", action="append", default=[],
                    help="NAME=v1,v2,...: batch, spe, jit, precision, onednn, threads (INTRAxINTER)")
    ap.add_argument("--threads", help="INTRAxINTER op threads for this process (e.g. 2x1)")
    ap.add_argument("--json", action="store_true", help="print only a JSON line (child process)")
    ap.add_argument("--quick", action="store_true", help="classify and vgg_d, 3 rounds of 5 steps")
    ap.add_argument("--spe", type=int, default=1, help="steps_per_execution of every model")
    args = ap.parse_args()
    if args.quick:
        args.models, args.steps = "classify,vgg_d", 5
    import tensorflow as tf

    if args.threads:
        intra, inter = (int(t) for t in args.threads.split("x"))
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    models = args.models.split(",")
    if not args.lever:
        configs = {m: Bench(m, spe=args.spe) for m in models}
        res = measure(configs, args.rounds, args.steps)
        if args.json:
            print(json.dumps({m: {k: median(v) for k, v in res[m].items()} for m in models}))
            return
        rows = rows_of(configs, res)
    else:
        rows = []
        for m in models:
            for lever in args.lever:
                name, values = lever.split("=")
                values = values.split(",")
                if name in ("onednn", "threads"):
                    rows += subprocess_lever(m, name, values, args)
                    continue
                kw = {"batch": lambda v: {"batch": int(v)}, "spe": lambda v: {"spe": int(v)},
                      "jit": lambda v: {"jit": v in ("1", "true")},
                      "precision": lambda v: {"precision": v}}[name]
                configs = {f"{m} {name}={v}": Bench(m, **kw(v)) for v in values}
                rows += rows_of(configs, measure(configs, args.rounds, args.steps))
    print(machine_line())
    print(f"peak_share: {args.rounds} alternating rounds of matmul 2048^2 x3 per dtype + "
          f"{args.steps or '~3 s of'} training steps; training FLOPs = 3 x forward (2 x conv/dense MACs); median (min-max)")
    print(table(HEADERS, rows))
    print(json.dumps({"peak_share": {r[0]: r[-1] for r in rows}}))


if __name__ == "__main__":
    main()
