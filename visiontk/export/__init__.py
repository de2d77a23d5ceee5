"""`visiontk export`: a run's model as SavedModel, ONNX and TFLite, verified before it is kept.

Everything is written into a temporary folder beside the target, checked against the Keras model
(parity.json), and only then renamed onto `export/<name>/`; an export that does not verify is left
under `<name>.failed/` for inspection and the command fails (exit 2). See docs/export.md.

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

FORMATS = ("saved_model", "onnx", "tflite")
DEFAULT_TOLERANCE = 1e-4


@dataclass
class ExportResult:
    out_dir: Path
    parity: dict
    metadata: dict
    seconds: dict = field(default_factory=dict)


def parse_formats(formats: str | Iterable[str]) -> list[str]:
    """'all', 'onnx,tflite' or an iterable of names -> the formats in canonical order."""
    items = [formats] if isinstance(formats, str) else list(formats)
    names = {p.strip().lower() for item in items for p in str(item).split(",") if p.strip()}
    if not names or "all" in names:
        return list(FORMATS)
    unknown = sorted(names - set(FORMATS))
    if unknown:
        raise ExportError(f"unknown export format(s) {', '.join(unknown)}; choose from "
                          f"{', '.join(FORMATS)} or all")
    return [f for f in FORMATS if f in names]


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


def export_run(run_dir, formats="all", opset: int = 17, out=None, force: bool = False,
               tolerance: float = DEFAULT_TOLERANCE, images: int = 8, encoder: bool = False,
               echo: Callable[[str], None] = print) -> ExportResult:
    """Export a finished run (runs/NAME) to `out` (default export/NAME) and verify every format.

    Args:
        run_dir: a run directory left by `visiontk train`.
        formats: "all", a comma-separated string or a list of saved_model / onnx / tflite.
        opset: ONNX opset (13..18).
        out: target folder; refused when it exists, unless `force`.
        tolerance: max |difference| to Keras allowed per output (relative above magnitude 1).
        images: how many validation images the verification runs.
        encoder: export only the encoder of an autoencoder run, as an embedding model (default
            folder export/NAME_encoder; see visiontk.export.encoder).

    Example:
        >>> export_run("runs/detect", formats="onnx", out="export/detect_onnx")  # doctest: +SKIP
    """
    from visiontk.export.onnx import check_opset
    from visiontk.run import RunDir

    fmts = parse_formats(formats)
    check_opset(opset)
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
    return export_model(model, meta, target, formats=fmts, opset=opset, force=force,
                        tolerance=tolerance, batch=batch, inputs=described,
                        source_run=str(run.path), echo=echo)


def export_model(model, meta: dict, out, *, formats=FORMATS, opset: int = 17, force: bool = False,
                 tolerance: float = DEFAULT_TOLERANCE, batch=None, inputs: str | None = None,
                 source_run: str | None = None, echo: Callable[[str], None] = print) -> ExportResult:
    """Export an in-memory Keras model with its meta (meta.json content); see export_run.

    Example:
        >>> export_model(model, meta, "export/probe", formats=["onnx"])  # doctest: +SKIP
    """
    from visiontk.export.metadata import FILES, build_metadata, copy_runtime
    from visiontk.export.onnx import check_opset
    from visiontk.export.serving import make_serving
    from visiontk.export.verify import failure_summary, verification_batch, verify
    from visiontk.progress import stages
    from visiontk.io import write_json
    from visiontk.catalog import TASKS, populate

    out = _out_path(out)
    fmts = parse_formats(formats)
    check_opset(opset)
    _check_target(out, force)
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
        with stages("exporting", _step_count(fmts)) as begin:
            serving = make_serving(model)
            reference = _keras_reference(serving, batch)
            runners = _write_formats(serving, tmp, fmts, opset, seconds, begin)
            metadata = build_metadata(meta, serving, fmts, opset=opset, source_run=source_run)
            write_json(tmp / "metadata.json", metadata)
            copy_runtime(tmp)
            if source_run and (Path(source_run) / "metrics.json").is_file():   # measured thresholds
                shutil.copy2(Path(source_run) / "metrics.json", tmp / "metrics.json")
            t0 = time.perf_counter()
            begin(f"verifying against Keras on {len(batch)} images")
            parity = verify(reference, runners, batch, metadata, task, tolerance)
        seconds["verify"] = round(time.perf_counter() - t0, 2)
        parity["inputs"] = inputs
        write_json(tmp / "parity.json", parity)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if not parity["passed"]:
        failed = _set_aside(tmp, out)
        raise ExportError(f"export did not verify (tolerance {tolerance}): "
                          f"{failure_summary(parity)}; files left in {failed} (see parity.json)")
    if out.exists():
        from visiontk.owned import remove_replaceable

        remove_replaceable(out, what=EXPORT, is_ours=is_export, error=ExportError)
    os.replace(tmp, out)
    worst = ", ".join(f"{f} {parity['formats'][f]['max_abs']:.1e}" for f in fmts)
    echo(f"visiontk: exported {source_run or 'model'} -> {out}: "
         + ", ".join(f"{FILES[f]} ({seconds[f]:.1f} s)" for f in fmts)
         + f"; max |diff| vs Keras on {len(batch)} images: {worst}; decoded predictions identical")
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


def _step_count(fmts: list) -> int:
    """The progress steps of an export: each format written (TFLite goes through a SavedModel even
    when that is not kept), then the verification."""
    return len(fmts) + ("tflite" in fmts and "saved_model" not in fmts) + 1


def _write_formats(serving, folder: Path, fmts: list, opset: int, seconds: dict,
                   begin: Callable[[str], None] = lambda name: None) -> dict:
    """Write each format into `folder`; returns {format: fn(batch) -> {name: array}} read back from
    the files just written. `begin(name)` is told each step (progress display)."""
    from visiontk.export.metadata import FILES
    from visiontk.export.onnx import load_onnx, write_onnx
    from visiontk.export.saved_model import load_saved_model, write_saved_model
    from visiontk.export.tflite import load_tflite, write_tflite

    runners = {}
    sm_dir = folder / FILES["saved_model"]
    if "saved_model" in fmts or "tflite" in fmts:
        t0 = time.perf_counter()
        begin("writing SavedModel" + ("" if "saved_model" in fmts else " (for TFLite)"))
        if "saved_model" not in fmts:
            sm_dir = folder / "_saved_model_for_tflite"       # removed once converted
        try:
            write_saved_model(serving, sm_dir)
        except ExportError:
            raise
        except Exception as exc:
            raise ExportError(f"SavedModel export failed: {type(exc).__name__}: "
                              f"{str(exc).strip().splitlines()[0][:240] if str(exc).strip() else ''}") \
                from None
        seconds["saved_model"] = round(time.perf_counter() - t0, 2)
        if "saved_model" in fmts:
            runners["saved_model"] = load_saved_model(sm_dir)
    if "onnx" in fmts:
        t0 = time.perf_counter()
        begin(f"writing ONNX (opset {opset})")
        write_onnx(serving, folder / FILES["onnx"], opset)
        seconds["onnx"] = round(time.perf_counter() - t0, 2)
        runners["onnx"] = load_onnx(folder / FILES["onnx"])
    if "tflite" in fmts:
        t0 = time.perf_counter()
        begin("writing TFLite")
        try:
            write_tflite(sm_dir, folder / FILES["tflite"])
        finally:
            if "saved_model" not in fmts:
                shutil.rmtree(sm_dir, ignore_errors=True)
        seconds["tflite"] = round(time.perf_counter() - t0, 2)
        runners["tflite"] = load_tflite(folder / FILES["tflite"])
    return {f: runners[f] for f in fmts}
