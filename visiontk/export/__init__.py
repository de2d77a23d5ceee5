"""`visiontk export`: a run's model as SavedModel, ONNX and TFLite, verified before it is kept.

The formats are a registry (visiontk/export/formats/, one module each): this module writes and checks
whichever are asked for and names none of them. Everything is written into a temporary folder beside
the target, checked against the Keras model (parity.json), and only then renamed onto
`export/<name>/`; an export that does not verify is left under `<name>.failed/` for inspection and
the command fails (exit 2). `quantize` adds FP16 / INT8 copies of the formats that have them, checked
on the task's metric (visiontk/export/quantize.py). See docs/export.md.

Example:
    >>> from visiontk.export import export_run
    >>> export_run("runs/classify", formats="all").out_dir   # doctest: +SKIP
    PosixPath('export/classify')
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from visiontk.errors import ExportError
from visiontk.export.formats import DEFAULT_TOLERANCE, ExportFormat, resolve_options
from visiontk.export.formats import parse_formats as _parse_formats
from visiontk.export.quantize import DEFAULT_CALIBRATION_IMAGES, DEFAULT_MAX_DROP


@dataclass
class ExportResult:
    """What `export_run` wrote.

    Attributes:
        out_dir: the export folder (metadata.json, the model files, runtime/, onnx_predict.py).
        parity: parity.json's content: each format against Keras (and quantised copies' metrics).
        metadata: metadata.json's content.
        seconds: seconds spent per step (each format's write and check).
    """

    out_dir: Path
    parity: dict
    metadata: dict
    seconds: dict = field(default_factory=dict)


def parse_formats(formats: str | Iterable[str]) -> list[str]:
    """'all', 'onnx,tflite' or an iterable of names -> the format names in canonical order (each
    registered, with the packages it needs installed)."""
    return [fmt.name for fmt in _parse_formats(formats)]


EXPORT = "a visiontk export"


def is_export(folder: Path) -> bool:
    """True for a folder `visiontk export` wrote: its metadata.json names the files, the runtime and
    the versions that wrote it (what --force may replace)."""
    import json

    try:
        meta = json.loads((Path(folder) / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and {"files", "runtime", "versions"} <= set(meta) and \
        isinstance(meta["versions"], dict) and "visiontk" in meta["versions"]


def _out_path(out) -> Path:
    if not str(out).strip():           # Path("") would be the working directory
        raise ExportError("--out is empty; name the export folder (default export/<run name>)")
    return Path(out)


def _check_target(out: Path, force: bool) -> None:
    """Refuse an --out that is empty, protected (working directory, its parents, home, /), a link,
    a file, or a folder that is not an export; an export needs --force."""
    from visiontk.owned import check_replaceable

    check_replaceable(out, what=EXPORT, is_ours=is_export, error=ExportError)
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out {out} is a file; choose a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ExportError(f"{out} holds an export already; pass --force to replace it or choose "
                          f"another --out folder")


def export_run(run_dir, formats="all", *, out=None, force: bool = False,
               tolerance: float = DEFAULT_TOLERANCE, images: int = 8, encoder: bool = False,
               quantize=None, max_metric_drop: float = DEFAULT_MAX_DROP,
               calibration_images: int = DEFAULT_CALIBRATION_IMAGES,
               echo: Callable[[str], None] = print, **options) -> ExportResult:
    """Export a finished run (runs/NAME) to `out` (default export/NAME) and verify every format.

    Args:
        run_dir: a run directory left by `visiontk train`.
        formats: "all", a comma-separated string or a list of format names
            (visiontk.export.formats.names(): onnx, saved_model, tflite).
        out: target folder; refused when it exists, unless `force`.
        tolerance: max |difference| to Keras allowed per output (relative above magnitude 1).
        images: how many validation images the verification runs.
        encoder: export only the encoder of an autoencoder run, as an embedding model (default
            folder export/NAME_encoder; see visiontk.export.encoder).
        quantize: "fp16", "int8", "fp16,int8" or a list: also write those variants of the formats
            that have them (model_int8.onnx, ...), each checked on the task's headline metric on
            the validation split against its float file (visiontk/export/quantize.py).
        max_metric_drop: the largest drop of that metric a quantised file may show (absolute).
        calibration_images: training images that calibrate INT8.
        **options: the formats' settings, e.g. opset=17 (ONNX opset, 13..18); unset ones take the
            format's default.

    Example:
        >>> export_run("runs/detect", formats="onnx", out="export/detect_onnx")  # doctest: +SKIP
    """
    from visiontk.run import RunDir

    fmts = parse_formats(formats)
    resolve_options(options)
    if not tolerance > 0:
        raise ExportError(f"--tolerance must be > 0, got {tolerance}")
    target = _out_path(out) if out is not None else None
    run = RunDir(run_dir).require()
    suffix = "_encoder" if encoder else ""
    target = target or Path("export") / (run.path.resolve().name + suffix)
    _check_target(target, force)
    from visiontk.infer.predictor import load_meta

    meta = load_meta(run / "meta.json")

    from visiontk.export.verify import verification_batch
    from visiontk.model_files import load_keras_model

    model = load_keras_model(run / "model.keras")
    if encoder:
        from visiontk.export.encoder import encoder_and_meta

        model, meta = encoder_and_meta(model, meta)
    batch, described = verification_batch(run.path, meta, n=images)
    return export_model(model, meta, target, formats=fmts, force=force, tolerance=tolerance,
                        batch=batch, inputs=described, source_run=str(run.path), echo=echo,
                        quantize=quantize, max_metric_drop=max_metric_drop,
                        calibration_images=calibration_images, **options)


def export_model(model, meta: dict, out, *, formats="all", force: bool = False,
                 tolerance: float = DEFAULT_TOLERANCE, batch=None, inputs: str | None = None,
                 source_run: str | None = None, echo: Callable[[str], None] = print,
                 quantize=None, max_metric_drop: float = DEFAULT_MAX_DROP,
                 calibration_images: int = DEFAULT_CALIBRATION_IMAGES, **options) -> ExportResult:
    """Export an in-memory Keras model with its meta (meta.json content); see export_run.

    Example:
        >>> export_model(model, meta, "export/probe", formats=["onnx"], opset=17)  # doctest: +SKIP
    """
    from visiontk.export.metadata import build_metadata, copy_runner, copy_runtime
    from visiontk.export.quantize import Plan
    from visiontk.export.serving import make_serving
    from visiontk.export.verify import failure_summary, verification_batch, verify
    from visiontk.progress import stages
    from visiontk.io import write_json
    from visiontk.catalog import TASKS, populate

    out = _out_path(out)
    fmts = _parse_formats(formats)
    options = resolve_options(options)
    _check_target(out, force)
    quant = Plan(fmts, quantize, max_metric_drop=max_metric_drop,
                 calibration_images=calibration_images, source_run=source_run, meta=meta)
    populate()
    task = TASKS.get(meta["task"])
    if batch is None:
        batch, inputs = verification_batch(None, meta)
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in remove_stale_temporaries(out.parent):
        echo(f"visiontk: removed {stale} (left by an export that was interrupted)")
    tmp = out.parent / f".{out.name}.exporting-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    seconds: dict = {}
    try:
        with stages("exporting", _step_count(fmts) + quant.steps) as begin:
            serving = make_serving(model)
            reference = _keras_reference(serving, batch)
            runners = _write_formats(serving, tmp, fmts, options, seconds, begin)
            quant.write(serving, tmp, begin, seconds)
            metadata = build_metadata(meta, serving, fmts, options, source_run=source_run)
            quant.describe(metadata)
            write_json(tmp / "metadata.json", metadata)
            copy_runtime(tmp)
            copy_runner(tmp)
            if source_run and (Path(source_run) / "metrics.json").is_file():   # measured thresholds
                shutil.copy2(Path(source_run) / "metrics.json", tmp / "metrics.json")
            t0 = time.perf_counter()
            begin(f"verifying against Keras on {len(batch)} images")
            parity = verify(reference, runners, batch, metadata, task, tolerance)
            seconds["verify"] = round(time.perf_counter() - t0, 2)
            quant.check(parity, tmp, metadata, begin, reference, batch)
            write_json(tmp / "metadata.json", metadata)          # with the quantised figures
        parity["inputs"] = inputs
        write_json(tmp / "parity.json", parity)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if not parity["passed"]:
        failed = _set_aside(tmp, out)
        why = quant.failure(parity) or \
            f"export did not verify (tolerance {tolerance}): {failure_summary(parity)}"
        raise ExportError(f"{why}; files left in {failed} (see parity.json)")
    if out.exists():
        from visiontk.owned import remove_replaceable

        remove_replaceable(out, what=EXPORT, is_ours=is_export, error=ExportError)
    os.replace(tmp, out)
    worst = ", ".join(f"{f.name} {parity['formats'][f.name]['max_abs']:.1e}" for f in fmts)
    echo(f"visiontk: exported {source_run or 'model'} -> {out}: "
         + ", ".join(f"{f.files} ({seconds[f.name]:.1f} s)" for f in fmts)
         + f"; max |diff| vs Keras on {len(batch)} images: {worst}; decoded predictions identical"
         + quant.summary(parity))
    return ExportResult(out, parity, metadata, seconds)


TEMPORARY = re.compile(r"\.(.+)\.exporting-(\d+)")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:            # another user's process
        return True
    return True


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove `.NAME.exporting-PID` folders whose export process is gone (killed mid-export); never
    one of a live process, never anything named otherwise. Returns what was removed."""
    removed = []
    for p in sorted(Path(folder).iterdir()):
        match = TEMPORARY.fullmatch(p.name)
        if not match or p.is_symlink() or not p.is_dir():
            continue
        pid = int(match.group(2))
        if pid == os.getpid() or _process_alive(pid):
            continue
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed


def _set_aside(tmp: Path, out: Path) -> Path:
    """Move an export that did not verify to NAME.failed (replacing only an earlier failed export,
    else NAME.failed-2, -3, ...)."""
    from visiontk.owned import check_replaceable

    for n in range(1, 1000):
        failed = out.parent / (f"{out.name}.failed" + (f"-{n}" if n > 1 else ""))
        try:
            check_replaceable(failed, what=EXPORT, is_ours=is_export, error=ExportError)
        except ExportError:
            continue
        shutil.rmtree(failed, ignore_errors=True)
        os.replace(tmp, failed)
        return failed
    raise ExportError(f"no free folder name {out.name}.failed-N beside {out}")


def _keras_reference(serving, batch) -> dict:
    """{name: array} of the float32 Keras model called eagerly (not through the serving function)."""
    import numpy as np

    out = serving.model(batch, training=False)
    if serving.structure == "dict":
        flat = [out[k] for k in serving.names]
    elif serving.structure == "list":
        flat = list(out)
    else:
        flat = [out]
    return {n: np.asarray(v, np.float32) if np.asarray(v).dtype.kind == "f" else np.asarray(v)
            for n, v in zip(serving.names, flat)}


def _write_order(fmts: list[ExportFormat]) -> list[ExportFormat]:
    """`fmts` and the formats they are converted from (`via`, transitively), each after its source."""
    from visiontk.export.formats import get

    order: list[ExportFormat] = []

    def add(fmt: ExportFormat) -> None:
        if fmt.via:
            add(get(fmt.via))
        if fmt not in order:
            order.append(fmt)

    for fmt in fmts:
        add(fmt)
    return order


def _step_count(fmts: list[ExportFormat]) -> int:
    """The progress steps of an export: each format written (TFLite's SavedModel too when it is not
    kept), then the verification."""
    return len(_write_order(fmts)) + 1


def _write_formats(serving, folder: Path, fmts: list[ExportFormat], options: dict, seconds: dict,
                   begin: Callable[[str], None] = lambda name: None) -> dict:
    """Write each format into `folder` (a format's `via` first); returns {format name: fn(batch) ->
    {name: array}} read back from the files just written. `begin(line)` is told each step
    (progress display). A `via` format that was not asked for is removed once all are written."""
    runners, scratch = {}, []
    try:
        for fmt in _write_order(fmts):
            if fmt in fmts:
                _write_one(fmt, serving, folder, options, seconds, begin)
                runners[fmt.name] = fmt.load(folder)
            else:
                users = ", ".join(f.title for f in fmts if f.via == fmt.name)
                _write_one(fmt, serving, folder, options, seconds, begin, f" (for {users})")
                scratch.append(folder / fmt.files)
    finally:
        for path in scratch:
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    return {f.name: runners[f.name] for f in fmts}


def _write_one(fmt: ExportFormat, serving, folder: Path, options: dict, seconds: dict,
               begin: Callable[[str], None], note: str = "") -> None:
    """Write one format (timed into `seconds`); an unexpected converter error becomes one line."""
    t0 = time.perf_counter()
    begin(fmt.step(options) + note)
    try:
        fmt.write(serving, folder, options)
    except ExportError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0][:240] if str(exc).strip() else ""
        raise ExportError(f"{fmt.title} export failed: {type(exc).__name__}: {first}") from None
    seconds[fmt.name] = round(time.perf_counter() - t0, 2)
