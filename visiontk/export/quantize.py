"""`visiontk export --quantize fp16,int8`: reduced-precision copies of the exported models, checked
on accuracy rather than on raw parity.

Each format that has variants (its `quantize_modes` in visiontk/export/formats/: ONNX and TFLite)
writes them beside its float file (model_fp16.onnx, model_int8.tflite, ...: ExportFormat.
quantized_file). INT8 is calibrated on images of the run's own training split, spread evenly over
it and prepared by the input pipeline as for evaluation (decode, resize, [0, 1]). Every quantised
file is then evaluated through the backend that `visiontk predict` and `visiontk.load` use, on the
run's validation split, with the task's own evaluation (the headline metric: the first of the task's
summary_metrics, as `visiontk train` prints it), beside the float file of the same format; a drop
larger than `max_metric_drop` (in the metric's own units, better/worse from the task's
metric_modes) fails the export like a parity failure. parity.json gets the figures ("quantized"),
metadata.json what each file holds ("quantized": {file: ...}).

Example:
    >>> from visiontk.export import export_run
    >>> export_run("runs/classify", "onnx,tflite", quantize="fp16,int8")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from visiontk.errors import ExportError, VisionTKError

DEFAULT_MAX_DROP = 0.01          # absolute, in the headline metric's units (accuracy 0.01 = 1 point)
DEFAULT_CALIBRATION_IMAGES = 128


def modes() -> list[str]:
    """Every quantisation a registered format writes (`--quantize` choices), e.g. ['fp16', 'int8']."""
    from visiontk.export import formats

    return sorted({m for n in formats.names() for m in formats.get(n).quantize_modes})


def parse_modes(quantize: str | Iterable[str] | None) -> list[str]:
    """'int8', 'fp16,int8' or an iterable of them (None or '' for none) -> sorted modes."""
    items = [quantize] if isinstance(quantize, str) else list(quantize or ())
    asked = {p.strip().lower() for item in items for p in str(item).split(",") if p.strip()}
    unknown = sorted(asked - set(modes()))
    if unknown:
        raise ExportError(f"--quantize {', '.join(unknown)} is not supported: choose from "
                          f"{', '.join(modes())} (repeat the option or give a comma list)")
    return sorted(asked)


@contextlib.contextmanager
def converting(what: str):
    """Turn a converter's own exception into one ExportError line naming `what` failed."""
    try:
        yield
    except VisionTKError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:240] if str(exc).strip() else ""
        raise ExportError(f"{what} failed: {type(exc).__name__}: {first}") from None


@dataclass(frozen=True)
class Variant:
    """One quantised file: the format it is a variant of and the mode."""

    fmt: object                   # ExportFormat
    mode: str

    @property
    def file(self) -> str:
        return self.fmt.quantized_file(self.mode)


@dataclass
class _Evaluation:
    """What visiontk.evaluate.evaluate_prepared reads of a training session."""

    recipe: object
    source: object
    task: object


class Plan:
    """The quantised files an export writes and checks (nothing when no mode is asked).

    Args:
        fmts: the ExportFormats asked for; each that has a mode asked gets that variant.
        quantize: the modes (see parse_modes).
        max_metric_drop: the largest drop of the headline metric allowed (absolute).
        calibration_images: how many training images calibrate INT8.
        source_run: the run folder (its recipe names the data); required when anything is asked.
        meta: the model's meta (its task must be the run's: not an --encoder export).
    """

    def __init__(self, fmts: list, quantize=None, *, max_metric_drop: float = DEFAULT_MAX_DROP,
                 calibration_images: int = DEFAULT_CALIBRATION_IMAGES,
                 source_run: str | None = None, meta: dict | None = None):
        asked = parse_modes(quantize)
        self.variants = [Variant(f, m) for f in fmts for m in asked if m in f.quantize_modes]
        self.max_drop, self.images, self.recipe = max_metric_drop, calibration_images, None
        if not asked:
            return
        if not self.variants:
            able = _quantizable()
            raise ExportError(f"--quantize {','.join(asked)}: none of the formats asked for "
                              f"({', '.join(f.name for f in fmts)}) has quantised variants; they "
                              f"are written for {', '.join(able)}: add one to --format")
        if isinstance(max_metric_drop, bool) or not isinstance(max_metric_drop, (int, float)) \
                or not math.isfinite(max_metric_drop):
            raise ExportError(f"--max-metric-drop {max_metric_drop!r}: give a number (the largest "
                              f"drop of the task's headline metric allowed, default "
                              f"{DEFAULT_MAX_DROP})")
        if isinstance(calibration_images, bool) or not isinstance(calibration_images, int) \
                or calibration_images < 1:
            raise ExportError(f"--calibration-images {calibration_images!r}: give a whole number "
                              f"of images, 1 or more (default {DEFAULT_CALIBRATION_IMAGES})")
        self.recipe = _run_recipe(source_run, (meta or {}).get("task"))

    @property
    def steps(self) -> int:
        """Progress steps: each file written, and the accuracy check."""
        return len(self.variants) + 1 if self.variants else 0

    # ---- writing ---------------------------------------------------------------------------------
    def write(self, serving, folder: Path, begin: Callable[[str], None], seconds: dict) -> None:
        """Write every variant into `folder` (the float files are there already)."""
        import time

        if not self.variants:
            return
        calibration, self.calibration = None, None
        if any(v.mode == "int8" for v in self.variants):
            calibration, self.calibration = calibration_batch(self.recipe, self.images)
        self.calibrated = 0 if calibration is None else len(calibration)
        self.details: dict = {}
        for fmt in dict.fromkeys(v.fmt for v in self.variants):
            mine = [v for v in self.variants if v.fmt is fmt]
            begin(f"writing {fmt.title} {', '.join(v.mode for v in mine)}")
            t0 = time.perf_counter()
            done = fmt.quantize(serving, folder, {v.mode: Path(folder) / v.file for v in mine},
                                calibration)
            for v in mine:
                self.details[v.file] = done[v.mode]
            seconds[f"{fmt.name} quantize"] = round(time.perf_counter() - t0, 2)

    def describe(self, metadata: dict) -> None:
        """metadata["quantized"]: per file its format, mode, what it holds and its calibration
        (the metric figures are added by `check`)."""
        if not self.variants:
            return
        metadata["quantized"] = {
            v.file: {"format": v.fmt.name, "quantize": v.mode, "float_file": v.fmt.files,
                     **self.details[v.file],
                     **({"calibration_images": self.calibrated,
                         "calibration": self.calibration} if v.mode == "int8" else {})}
            for v in self.variants}

    # ---- the accuracy check ----------------------------------------------------------------------
    def check(self, parity: dict, folder: Path, metadata: dict, begin: Callable[[str], None],
              reference: dict | None = None, batch=None) -> None:
        """Evaluate every variant and its float file on the run's validation split through the
        inference backends; the figures go into parity["quantized"] and metadata["quantized"], and
        parity["passed"] is False when a drop exceeds max_metric_drop. Skipped when the float
        formats did not verify (that failure is reported first)."""
        if not self.variants or not parity["passed"]:
            return
        ev, split = self._evaluation()
        task = type(ev.task)
        metric = task.summary_metrics[0]
        better = task.mode_of(metric)
        begin(f"checking {len(self.variants)} quantised model(s) on the '{split}' split ({metric})")
        floats: dict = {}
        files: dict = {}
        for v in self.variants:
            if v.fmt.name not in floats:
                floats[v.fmt.name] = _headline(ev, split, metric, folder, metadata, v.fmt.name, None)
            value = _headline(ev, split, metric, folder, metadata, v.fmt.name, Path(folder) / v.file)
            drop = floats[v.fmt.name] - value if better == "max" else value - floats[v.fmt.name]
            drop = round(drop, 9)                     # no 1e-17 rounding noise in the files
            row = {"format": v.fmt.name, "quantize": v.mode, "float": floats[v.fmt.name],
                   "quantized": value, "drop": drop, "passed": drop <= self.max_drop}
            if reference is not None and batch is not None:
                row["max_abs_vs_keras"] = _max_abs(reference, folder, metadata, v, batch)
            files[v.file] = row
            metadata["quantized"][v.file]["metric"] = {
                "name": metric, "split": split, "float": floats[v.fmt.name], "quantized": value,
                "drop": drop}
        report = {"metric": metric, "better": better, "split": split,
                  "max_metric_drop": self.max_drop, "calibration": self.calibration,
                  "files": files, "passed": all(r["passed"] for r in files.values())}
        parity["quantized"] = report
        parity["passed"] = parity["passed"] and report["passed"]

    def _evaluation(self) -> tuple[_Evaluation, str]:
        from visiontk.data.make import make_source
        from visiontk.tasks.base import make_task

        with _data_errors("the validation split"):
            source = make_source(self.recipe)
            split = next((s for s in ("val", "test") if s in source.splits()), None)
            if split is None:
                raise ExportError(f"--quantize: the run's data source '{self.recipe.data.source}' "
                                  f"has no val or test split to check the quantised models on")
            return _Evaluation(self.recipe, source, make_task(self.recipe, source)), split

    # ---- reporting -------------------------------------------------------------------------------
    def failure(self, parity: dict) -> str | None:
        """The one-line reason the quantised files failed the export, None when they did not."""
        report = parity.get("quantized")
        if not report or report["passed"]:
            return None
        bad = [f"{name} {r['float']:.4g} -> {r['quantized']:.4g} (drop {r['drop']:.4g})"
               for name, r in report["files"].items() if not r["passed"]]
        return (f"quantised model(s) lost more {report['metric']} on the '{report['split']}' split "
                f"than --max-metric-drop {report['max_metric_drop']} allows: {'; '.join(bad)}; "
                f"raise --max-metric-drop, calibrate on more images (--calibration-images), or "
                f"leave that mode out of --quantize")

    def summary(self, parity: dict) -> str:
        """'; quantised on val accuracy: model_int8.onnx 0.91 -> 0.9 (drop 0.01), ...' or ''."""
        report = parity.get("quantized")
        if not report:
            return ""
        return (f"; quantised, {report['metric']} on '{report['split']}': " + ", ".join(
            f"{name} {r['float']:.4g} -> {r['quantized']:.4g}" for name, r in report["files"].items()))


def _quantizable() -> list[str]:
    from visiontk.export import formats

    return [n for n in formats.names() if formats.get(n).quantize_modes]


@contextlib.contextmanager
def _data_errors(what: str):
    """A data source that cannot be read here (files moved, ...) as one ExportError line."""
    try:
        yield
    except ExportError:
        raise
    except VisionTKError as exc:
        raise ExportError(f"--quantize needs {what} of the run's data, which cannot be loaded here: "
                          f"{exc}") from None


def _run_recipe(source_run, task: str | None):
    """The recipe of the run the model comes from (its data calibrates and checks the variants)."""
    from visiontk.recipe import load_recipe

    path = Path(source_run) / "recipe.yaml" if source_run else None
    if path is None or not path.is_file():
        raise ExportError("--quantize needs the run the model was trained in (its training images "
                          "calibrate INT8, its validation split checks the accuracy): export a run "
                          "folder, `visiontk export runs/NAME --quantize int8`")
    recipe = load_recipe(path)
    if task is not None and task != recipe.task:
        raise ExportError(f"--quantize: this export's model is a '{task}' model, the run's task is "
                          f"'{recipe.task}' (an --encoder export): there is no task metric to check "
                          f"the quantised files on; export without --quantize")
    return recipe


def calibration_batch(recipe, n: int) -> tuple[np.ndarray, str]:
    """(float32 (n, H, W, C) images, description): `n` images spread evenly over the run's training
    split (all of them when it has fewer), through the input pipeline as for evaluation."""
    from visiontk.data.base import SplitData
    from visiontk.data.make import make_source
    from visiontk.data.pipeline import source_dataset

    with _data_errors("the training split"):
        source = make_source(recipe)
        split = "train" if "train" in source.splits() else source.splits()[0]
        data = source.load(split)
        picks = np.unique(np.linspace(0, len(data) - 1, min(n, len(data))).round().astype(int))
        images = data.images[picks] if isinstance(data.images, np.ndarray) else \
            [data.images[i] for i in picks]
        ds = source_dataset(SplitData(images, {}), input_shape=tuple(recipe.model.input_shape),
                            resize=recipe.data.resize, keys=())
        batch = np.stack([image.numpy() for image, _ in ds]).astype(np.float32)
    return batch, (f"{len(batch)} images spread over the '{split}' split ({len(data)} images) of "
                   f"{recipe.data.source}")


def _backend(folder: Path, metadata: dict, backend: str, file: Path | None):
    """The inference backend `visiontk.load` gives for the export's float file (None) or a
    quantised file: the callable predict and the demo run."""
    from visiontk.infer.load import Target, open_model

    return open_model(Target(Path(folder), Path(folder) / "metadata.json", backend, file), metadata)


def _headline(ev: _Evaluation, split: str, metric: str, folder: Path, metadata: dict,
              backend: str, file: Path | None) -> float:
    """The task's headline metric of one exported file on `split` (visiontk evaluate's code)."""
    from visiontk.evaluate import evaluate_prepared

    fn = _backend(folder, metadata, backend, file)
    with _data_errors(f"the '{split}' split"):
        metrics = evaluate_prepared(ev, None, split, predict_fn=fn, record=False)
    value = metrics.get(metric)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ExportError(f"--quantize: the '{ev.recipe.task}' evaluation of "
                          f"{(file or Path(folder) / backend).name} gave {metric}={value!r}, not a "
                          f"number to compare")
    return float(value)


def _max_abs(reference: dict, folder: Path, metadata: dict, variant: Variant, batch) -> float:
    """Max |difference| of a variant's raw outputs to Keras on the verification images (for the
    record: quantised files are judged by the metric, not by this)."""
    from visiontk.export.verify import output_parity

    fn = _backend(folder, metadata, variant.fmt.name, Path(folder) / variant.file)
    stats = output_parity(reference, fn.raw(batch))
    return max((s.get("max_abs", float("inf")) for s in stats.values()), default=0.0)
