"""Export formats: one module per format in this package, each registering an `ExportFormat` in
`visiontk.catalog.EXPORT_FORMATS` with one `register(...)` line.

A format says what it writes (`files`), how (`write`), how to run what it wrote (`load`, used for the
parity check and as a `visiontk predict --backend`), which Python packages it needs, its settings
(`options`: `--NAME` on the command line, `NAME=` in `export_run`) and the format it is converted
from, if any (`via`: TFLite is converted from a SavedModel). `visiontk.export` and the CLI read
everything from here and name no format. Importing this package (or a format module) never imports
TensorFlow: the writers and loaders import it when they run.

Example:
    >>> from visiontk.export.formats import names
    >>> names()
    ['onnx', 'saved_model', 'tflite']
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import pkgutil
import sys
from dataclasses import dataclass
from typing import Callable, Iterable

from visiontk.catalog import EXPORT_FORMATS
from visiontk.errors import ExportError

# Max |difference| to Keras per output (relative above magnitude 1) when --tolerance is not given:
# float32 rounding leaves ~1e-7 between the formats here, so 1e-4 flags a real difference only.
DEFAULT_TOLERANCE = 1e-4


@dataclass(frozen=True)
class Option:
    """A setting of a format: `--NAME VALUE` for `visiontk export`, `NAME=VALUE` in `export_run`.

    Args:
        name: the option's name (a Python identifier).
        default: the value when none is given (its type is the option's type).
        help: what it sets, for `visiontk export --help`.
        allowed: the values accepted (a range or a tuple); None accepts any value of the type.
        why: what the allowed values are, for the error message ("tf2onnx writes ONNX opsets",
            followed by the allowed values).
    """

    name: str
    default: object
    help: str
    allowed: range | tuple | None = None
    why: str = ""

    def allowed_text(self) -> str:
        if isinstance(self.allowed, range):
            return f"{self.allowed.start}..{self.allowed.stop - 1}"
        return ", ".join(map(str, self.allowed or ()))

    def check(self, value):
        """`value` when it is of the option's type and allowed, else ExportError."""
        kind = (int, float) if type(self.default) is float else type(self.default)
        if isinstance(value, bool) != isinstance(self.default, bool) or not isinstance(value, kind):
            raise ExportError(f"--{self.name} {value!r} is not supported: it takes a "
                              f"{type(self.default).__name__} (default {self.default})")
        if self.allowed is not None and value not in self.allowed:
            raise ExportError(f"--{self.name} {value} is not supported: {self.why or 'choose from'} "
                              f"{self.allowed_text()} (default {self.default})")
        return value


def _no_metadata(options: dict) -> dict:
    return {}


@dataclass(frozen=True)
class ExportFormat:
    """One export format (see the module docstring).

    Args:
        name: the format's name (`--format NAME`, the key in metadata.json's `files`).
        title: its name in messages and progress lines ("ONNX").
        files: the file or folder it writes inside the export folder.
        write: write(serving, folder, options) writes `files` into `folder` from the serving
            function (visiontk.export.serving.Serving); raises ExportError when it cannot.
        load: load(folder) -> fn(batch float32 NHWC) -> {output name: numpy array}.
        needs: importable Python packages it needs; checked before anything is written.
        options: its settings (Option), validated before anything is written.
        via: the format it is converted from: that one is written first (into its own `files`),
            and removed again when it was not asked for.
        marker: the file whose presence shows the format is in a folder (default: `files`).
        metadata: options -> extra metadata.json keys (e.g. onnx_opset).
        load_file: load_file(path) -> the same callable as `load`, for a file of the format under
            any name (the quantised files model_int8.onnx, ...).
        quantize_modes: the reduced-precision variants the format writes (`--quantize`: "fp16",
            "int8"); none when empty.
        quantize: quantize(serving, folder, files, calibration) writes each {mode: path} of
            `files` (folder/quantized_file(mode)) beside the float file already in `folder`,
            calibrating int8 on `calibration` (float32 NHWC images of the run's training split;
            None when no int8 is asked); returns {mode: {what the file holds, for metadata.json:
            "weights", "activations", "io", ...}}; ExportError when it cannot.
    """

    name: str
    title: str
    files: str
    write: Callable
    load: Callable
    needs: tuple = ()
    options: tuple = ()
    via: str | None = None
    marker: str | None = None
    metadata: Callable[[dict], dict] = _no_metadata
    load_file: Callable | None = None
    quantize_modes: tuple = ()
    quantize: Callable | None = None

    def quantized_file(self, mode: str) -> str:
        """The file of a reduced-precision variant: model.onnx -> model_int8.onnx."""
        stem, dot, suffix = self.files.rpartition(".")
        return f"{stem}_{mode}.{suffix}" if dot else f"{self.files}_{mode}"

    def step(self, options: dict) -> str:
        """The progress line of writing it: 'writing ONNX (opset 17)'."""
        settings = ", ".join(f"{o.name} {options[o.name]}" for o in self.options)
        return f"writing {self.title}" + (f" ({settings})" if settings else "")

    def missing(self) -> list[str]:
        """The packages of `needs` that cannot be imported here."""
        return [p for p in self.needs if not _installed(p)]


def _installed(package: str) -> bool:
    """Whether `package` (a top-level name) can be imported, without importing it. The path finder
    is asked first: the CLI's quiet TensorFlow import (visiontk/cli/quiet_import.py) is a finder
    that acts on the first lookup of `tensorflow`, which must be the import itself."""
    return package in sys.modules or importlib.machinery.PathFinder.find_spec(package) is not None \
        or importlib.util.find_spec(package) is not None


def register(fmt: ExportFormat) -> ExportFormat:
    """Add `fmt` to EXPORT_FORMATS (the one registry line of a format module)."""
    EXPORT_FORMATS.add(fmt.name, fmt)
    return fmt


_loaded = False


def _load_modules() -> None:
    """Import this package's format modules (cheap: no TensorFlow); catalog.populate() does it too,
    with every other registry, which `visiontk export --help` need not pay for."""
    global _loaded
    if not _loaded:
        for info in pkgutil.iter_modules(__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{__name__}.{info.name}")
        _loaded = True


def names() -> list[str]:
    """Every registered format's name, sorted (the order formats are listed, written and reported)."""
    _load_modules()
    return sorted(EXPORT_FORMATS.names())


def get(name: str) -> ExportFormat:
    """The format called `name`; ExportError (with a did-you-mean) for an unknown one."""
    _load_modules()
    return EXPORT_FORMATS.get(name)


def parse_formats(formats: str | Iterable[str]) -> list[ExportFormat]:
    """'all', 'onnx,tflite' or an iterable of names -> those formats, in `names()` order, each with
    the packages it needs installed."""
    items = [formats] if isinstance(formats, str) else list(formats)
    asked = {p.strip().lower() for item in items for p in str(item).split(",") if p.strip()}
    known = names()
    if not asked or "all" in asked:
        asked = set(known)
    unknown = sorted(asked - set(known))
    if unknown:
        raise ExportError(f"unknown export format(s) {', '.join(unknown)}; choose from "
                          f"{', '.join(known)} or all")
    chosen = [get(n) for n in known if n in asked]
    for fmt in chosen:
        if fmt.missing():
            raise ExportError(f"export format '{fmt.name}' needs the Python package(s) "
                              f"{', '.join(fmt.missing())}, which are not installed here: "
                              f"pip install {' '.join(fmt.missing())}, or leave '{fmt.name}' out "
                              f"of --format")
    return chosen


def all_options() -> list[Option]:
    """Every registered format's options, one per name (an option name means one setting)."""
    found: dict[str, Option] = {}
    for name in names():
        for option in get(name).options:
            found.setdefault(option.name, option)
    return list(found.values())


def resolve_options(given: dict) -> dict:
    """{option: value} for every registered option: the defaults, overridden by `given`, each
    checked (also for formats not written, so a bad value fails whatever --format says)."""
    known = {o.name: o for o in all_options()}
    unknown = sorted(set(given) - set(known))
    if unknown:
        from visiontk.registry import did_you_mean

        raise ExportError(f"unknown export option '{unknown[0]}'{did_you_mean(unknown[0], known)}; "
                          f"options: {', '.join(known) or 'none'}")
    return {n: o.check(given[n]) if given.get(n) is not None else o.default
            for n, o in known.items()}
