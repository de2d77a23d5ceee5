"""Shared helpers of the benchmark scripts: the models they measure, exports, timing, tables.

Not a script. Every benchmark imports it as `from _common import ...` (benchmarks/ is on sys.path
when a script runs) and keeps its own measuring loop; what is here is the part two scripts share:

    >>> from _common import recipe_of, export_untrained, interleave, summary   # doctest: +SKIP
    >>> recipe = recipe_of("classify", ["train.epochs=1"])                       # doctest: +SKIP
"""

from __future__ import annotations

import copy
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The models the benchmarks name: a recipe file of recipes/, or a recipe dict where the recipe
# does not exist (yet). `segment`: recipes/segment.yaml when present, else this U-Net on synthetic
# scenes (the style of tests/tiny_recipes/segmentation.py, at a benchmark size).
SEGMENT_FALLBACK = {
    "task": "segmentation",
    "model": {"backbone": {"name": "unet", "weights": "none",
                           "params": {"padding": "same", "depth": 3, "base_width": 16,
                                      "batch_norm": True}},
              "input_shape": [64, 64, 3], "head": {}},
    "data": {"source": "synthetic-scenes",
             "params": {"train_size": 512, "val_size": 64, "max_objects": 2}},
    "train": {"epochs": 1, "batch_size": 32, "optimizer": {"name": "adam", "learning_rate": 0.001}},
    "seed": 0,
}
RECIPES = {"classify": "recipes/classify.yaml", "detect": "recipes/detect.yaml",
           "lenet": "recipes/fashion_lenet.yaml", "segment": "recipes/segment.yaml"}


def recipe_of(name: str, overrides=(), output: str | None = None, replace: dict | None = None):
    """A validated recipe by short name (classify, detect, lenet, segment) or by path; the run
    output goes to a fresh temporary folder unless `output` is given; `replace` maps dotted
    sections to new values set whole (e.g. {"model.backbone": {"name": "vgg_d", ...}}), for
    changes that `key=value` overrides cannot make (another architecture with its own params)."""
    import yaml

    from visiontk.recipe import load_recipe

    out = output or str(Path(tempfile.mkdtemp(prefix="vtk_bench_run_")) / "run")
    path = Path(RECIPES.get(name, name))
    path = path if path.is_file() else ROOT / path
    data = copy.deepcopy(SEGMENT_FALLBACK) if name == "segment" and not path.is_file() else \
        yaml.safe_load(path.read_text())
    for dotted, value in (replace or {}).items():
        *parents, last = dotted.split(".")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return load_recipe(data=data, overrides=[*overrides, f"output={out}"])


def describe(name: str) -> str:
    path = RECIPES.get(name, name)
    if name == "segment" and not (ROOT / path).is_file():
        return "U-Net (benchmarks/_common.py SEGMENT_FALLBACK)"
    return path


def model_and_meta(run_dir, recipe_path, overrides=()):
    """(inference Keras model, meta, description): a finished run's, or the recipe's untrained."""
    if run_dir:
        from visiontk.run import RunDir
        from visiontk.model_files import load_keras_model

        run = RunDir(run_dir).require()
        return load_keras_model(run / "model.keras"), run.meta(), str(run_dir)
    from visiontk.run import make_meta
    from visiontk.train.session import prepare

    recipe = recipe_of(recipe_path, overrides)
    p = prepare(recipe)
    return (p.task.inference_model(p.model), make_meta(recipe, p.task, p.task.info.class_names),
            f"{describe(recipe_path)} (untrained)")


def export_untrained(model, meta, folder: Path | None = None,
                     formats=("saved_model", "onnx", "tflite")) -> Path:
    """Export `model` with visiontk.export (parity checked) into `folder`/export; returns it."""
    from visiontk.export import export_model

    folder = Path(folder or tempfile.mkdtemp(prefix="vtk_bench_"))
    out = folder / "export"
    export_model(model, meta, out, formats=list(formats), echo=lambda *_: None)
    return out


class StepBench:
    """A recipe's model compiled by the trainer (its optimizer, loss, metrics, steps_per_execution,
    jit_compile), fed one real encoded batch of its pipeline repeated: the training step alone."""

    def __init__(self, recipe):
        import tensorflow as tf

        from visiontk.data.pipeline import build_dataset
        from visiontk.train.session import compile_model, prepare

        self.recipe, self.p = recipe, prepare(recipe)
        compile_model(self.p, 100)
        self.data = self.p.source.load("train")
        xy = next(iter(build_dataset(self.data, self.p.task, recipe, training=True)))
        self.ds = tf.data.Dataset.from_tensors(xy).repeat()
        self.model, self.batch = self.p.model, recipe.train.batch_size
        self.spe = recipe.train.steps_per_execution
        self.model.fit(self.ds, steps_per_epoch=2 * self.spe, epochs=1, verbose=0)   # trace

    def epoch(self, steps: int, ds=None) -> float:
        """Images per second of one `model.fit` epoch of `steps` steps (rounded up to a multiple
        of steps_per_execution) on the repeated batch, or on `ds` (repeated). With `ds`, fit runs
        two epochs over one iterator and the second is timed: a new iterator first fills its
        shuffle buffer (thousands of images), which would swamp a short timed epoch."""
        import keras

        steps = -(-steps // self.spe) * self.spe
        if ds is None:
            t0 = time.perf_counter()
            self.model.fit(self.ds, steps_per_epoch=steps, epochs=1, verbose=0)
            return steps * self.batch / (time.perf_counter() - t0)
        begins = []
        clock = keras.callbacks.LambdaCallback(
            on_epoch_begin=lambda *_: begins.append(time.perf_counter()),
            on_train_end=lambda *_: begins.append(time.perf_counter()))
        self.model.fit(ds, steps_per_epoch=steps, epochs=2, verbose=0, callbacks=[clock])
        return steps * self.batch / (begins[2] - begins[1])


# ---- timing ------------------------------------------------------------------------------------

def interleave(fns: dict, iters: int, warmup: int = 3) -> dict:
    """{name: [seconds per call]}: every fn called once per round, in turn, so load changes on a
    shared machine hit every contender alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict = {k: [] for k in fns}
    for _ in range(iters):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def summary(values, scale: float = 1.0, digits: int = 1) -> str:
    """'median (min-max)' of `values` x `scale`."""
    v = [x * scale for x in values]
    return f"{statistics.median(v):.{digits}f} ({min(v):.{digits}f}-{max(v):.{digits}f})"


def median(values) -> float:
    return statistics.median(values)


def matmul_gflops(n: int = 2048, reps: int = 5, dtype: str = "float32") -> list:
    """GFLOP/s of `reps` n x n tf.linalg.matmul calls in `dtype` (2 n^3 FLOPs each), one value per
    call. bfloat16 runs on oneDNN's AMX / AVX512-BF16 kernels where the CPU has them, emulated
    (slower than float32) where it has not."""
    import tensorflow as tf

    a = tf.cast(tf.random.normal((n, n)), dtype)
    b = tf.cast(tf.random.normal((n, n)), dtype)
    mm = tf.function(lambda x, y: tf.reduce_sum(tf.cast(tf.linalg.matmul(x, y), tf.float32)))
    mm(a, b).numpy()                                        # the sum forces the whole product
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        mm(a, b).numpy()
        out.append(2 * n ** 3 / (time.perf_counter() - t0) / 1e9)
    return out


MATMUL_DTYPES = ("float32", "bfloat16")     # what training can use on a CPU (float16 is GPU-only)


# ---- reporting ---------------------------------------------------------------------------------

def machine() -> dict:
    """CPU model, cores, the SIMD flags that matter for fp32 peak, load average, versions."""
    model, flags = platform.processor() or "?", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model in ("?", "x86_64", ""):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    simd = [f for f in ("avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile",
                        "amx_bf16") if f in flags]
    return {"cpu": model, "cores": os.cpu_count(), "simd": simd,
            "load": round(os.getloadavg()[0], 2)}


def machine_line() -> str:
    m = machine()
    import tensorflow as tf

    return (f"machine: {m['cpu']}, {m['cores']} cores, {' '.join(m['simd']) or 'no AVX'}; "
            f"TF {tf.__version__}; load {m['load']:.2f} ({time.strftime('%Y-%m-%d %H:%M')})")


def table(headers: list, rows: list) -> str:
    """A plain-text table, columns right-aligned except the first."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for j, r in enumerate(cells):
        lines.append("  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i])
                               for i, c in enumerate(r)))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ---- the two detection heads (detect_heads_speed.py, detect_heads_budget.py) -------------------

DETECT_HEADS = {"grid": "recipes/detect_fashion.yaml",
                "multiscale": "recipes/detect_fashion_multiscale.yaml"}


def add_head_args(ap) -> None:
    """--grid-recipe and --multiscale-recipe (each head's recipe), --grid-set and --multiscale-set
    (each head's own overrides), --set (both heads')."""
    for head, recipe in DETECT_HEADS.items():
        ap.add_argument(f"--{head}-recipe", default=recipe, help=f"the {head} head's recipe ({recipe})")
        ap.add_argument(f"--{head}-set", action="append", default=[], metavar="KEY=VALUE",
                        help=f"recipe override for the {head} head only (repeatable)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="recipe override for both heads (repeatable)")


def head_recipes(args) -> tuple[dict, dict]:
    """({head: recipe path}, {head: its own overrides}) from add_head_args's options; a recipe path
    that is no file from the working folder is read from the checkout."""
    paths = {head: Path(getattr(args, f"{head}_recipe")) for head in DETECT_HEADS}
    own = {head: getattr(args, f"{head}_set") for head in DETECT_HEADS}
    # the heads alone: detect_fashion.yaml's second stage (a crop classifier) is not a head's
    own["grid"] = ["model.head.crop_classifier=null", *own["grid"]]
    return ({head: str(p if p.is_file() else ROOT / p) for head, p in paths.items()}, own)


def check_head(recipe, head: str, path: str) -> None:
    """RecipeError unless `recipe` (loaded from `path`) detects with model.head.type `head`."""
    from visiontk.errors import RecipeError

    found = recipe.model.head.type if recipe.task == "detection" else f"task {recipe.task}"
    if found != head:
        raise RecipeError(f"{path}: model.head.type is {found!r}, not {head!r}; give a {head} "
                          f"detection recipe or --{head}-set \"model.head={{type: {head}}}\"")


def shown(path: str) -> str:
    """`path` relative to the checkout when it is inside it (for tables and commands)."""
    p = Path(path)
    return str(p.relative_to(ROOT)) if p.is_absolute() and p.is_relative_to(ROOT) else str(path)
