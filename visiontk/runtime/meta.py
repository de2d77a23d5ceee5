"""Reading and checking meta.json (a run) / metadata.json (an export) before anything uses them.

Preprocessing and decode index these files directly; a file that is cut short, not JSON, or lacks a
field would otherwise surface as a JSONDecodeError or KeyError naming no file. Every problem here is
one InputError naming the file and the field, with what to do. `check_input_shape` catches a model
file that does not belong with its metadata (copied from another export or run).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .errors import InputError

RESIZE_MODES = ("stretch", "pad")
STRUCTURES = ("tensor", "list", "dict")
TASK_NAME = re.compile(r"[a-z][a-z0-9_]*")


def remedy(path: Path) -> str:
    """What to do about a bad file: an export is written again by `visiontk export`; a run's meta.json
    by training it again (it is written when training starts)."""
    if Path(path).name == "metadata.json":
        return "re-export the run with `visiontk export RUN_DIR --force`"
    return ("restore it from a copy, or train the recipe again into a new folder "
            "(`visiontk train RECIPE` writes it)")


def read_meta(path) -> dict:
    """The checked content of a meta.json / metadata.json, or an InputError naming the file.

    Example:
        >>> read_meta("export/classify/metadata.json")["task"]     # doctest: +SKIP
        'classification'
    """
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise InputError(f"{p} not found; {remedy(p)}") from None
    except UnicodeDecodeError:
        raise InputError(f"{p} is not UTF-8 text (damaged or not a JSON file); {remedy(p)}") from None
    except OSError as exc:
        raise InputError(f"cannot read {p}: {exc.strerror or exc}") from None
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        cut = " (the file is cut short)" if text.rstrip()[-1:] not in ("}", "]") else ""
        where = f"line {exc.lineno}, column {exc.colno}"
        what = f"{exc.msg} {where}" if exc.msg.endswith(" at") else f"{exc.msg} at {where}"
        raise InputError(f"{p} is not valid JSON{cut}: {what}; {remedy(p)}") from None
    return check_meta(meta, p)


def _field_error(path: Path, name: str, problem: str) -> InputError:
    return InputError(f"{path}: field '{name}' {problem}; {remedy(path)}")


def check_meta(meta, path) -> dict:
    """`meta` when every field preprocessing and decode read has the right type, else an InputError
    naming `path` and the field."""
    p = Path(path)
    if not isinstance(meta, dict):
        raise InputError(f"{p} holds a JSON {type(meta).__name__}, not an object with task, input, "
                         f"...; {remedy(p)}")
    task = meta.get("task")
    if task is None:
        raise _field_error(p, "task", "is missing (which head decodes the outputs)")
    if not isinstance(task, str) or not TASK_NAME.fullmatch(task):
        raise _field_error(p, "task", f"must be a task name such as classification, not {task!r}")
    inp = meta.get("input")
    if not isinstance(inp, dict):
        raise _field_error(p, "input", "is missing or not an object (input size and preprocessing)")
    shape = inp.get("shape")
    if not (isinstance(shape, list) and len(shape) == 3 and
            all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)):
        raise _field_error(p, "input.shape", f"must be [height, width, channels] (positive "
                                             f"integers), not {shape!r}")
    if shape[2] not in (1, 3):
        raise _field_error(p, "input.shape", f"has {shape[2]} channels; images have 1 or 3")
    if inp.get("resize", "stretch") not in RESIZE_MODES:
        raise _field_error(p, "input.resize", f"must be one of {', '.join(RESIZE_MODES)}, not "
                                              f"{inp.get('resize')!r}")
    names = meta.get("class_names", [])
    if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise _field_error(p, "class_names", "must be a list of names")
    if not isinstance(meta.get("decode", {}), dict):
        raise _field_error(p, "decode", "must be an object of decode settings")
    outputs = meta.get("outputs", {})
    if not isinstance(outputs, dict):
        raise _field_error(p, "outputs", "must be an object (structure, names)")
    out_names = outputs.get("names", [])
    if not (isinstance(out_names, list) and all(isinstance(n, str) for n in out_names)):
        raise _field_error(p, "outputs.names", "must be a list of output names")
    if outputs.get("structure", "tensor") not in STRUCTURES:
        raise _field_error(p, "outputs.structure", f"must be one of {', '.join(STRUCTURES)}")
    return meta


def check_input_shape(model_dims, meta: dict, model_path, meta_path) -> None:
    """Refuse a model whose input (height, width, channels) differs from the metadata's input.shape.

    Args:
        model_dims: the model's input dimensions after the batch one; None or a name (str) for a
            dynamic dimension, which fits any size.
    """
    expected = list(meta["input"]["shape"])
    dims = list(model_dims)
    fits = len(dims) == len(expected) and all(
        not isinstance(d, int) or d <= 0 or d == e for d, e in zip(dims, expected))
    if not fits:
        shown = [d if isinstance(d, int) and d > 0 else "?" for d in dims]
        raise InputError(f"{model_path} takes input {shown} but {meta_path} says input.shape "
                         f"{expected}: the two files come from different models; "
                         f"{remedy(Path(meta_path))}")
