"""The regression harness for bad input (issue 17): one case is one line of a parametrize table.

A case builds its inputs in a sandbox folder (the working directory of the command), runs a visiontk
command (in this process: no interpreter and TensorFlow start-up) or `export/onnx_predict.py`, and
asserts what every bad input must give: exit code 2, exactly one line on stderr that starts with
`error:` and names the file or field, no traceback, and a sandbox whose files are byte for byte what
they were before (nothing changed, nothing half-written, nothing new).

    BadInput("nan_lr", recipe_with(train={"optimizer": {"learning_rate": ".nan"}}),
             ["train", "{recipe}"], ["learning_rate", "{recipe}"])
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class BadInput:
    """id: the test id. make(sandbox) builds the inputs and returns names for the placeholders of
    `argv` and `needles` ({recipe}, {run}, ...). argv: the command line after `visiontk` (or after
    `onnx_predict.py` when `runner` is "onnx_predict"). needles: strings the error line contains.
    `allow_new`: globs (relative to the sandbox) of files the command may create (none by default)."""

    id: str
    make: Callable[[Path], dict]
    argv: list
    needles: list
    runner: str = "visiontk"
    allow_new: tuple = ()
    marks: tuple = field(default=())

    def __str__(self):
        return self.id


def snapshot(root: Path) -> dict:
    """{relative path: sha256 (files) or 'dir' or 'link -> target'} of everything under root."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = f"link -> {os.readlink(p)}"
            elif p.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def run_in_process(argv: list, runner: str = "visiontk") -> int:
    """Run the CLI (or export/onnx_predict.py's main) here; returns the exit code."""
    if runner == "visiontk":
        from visiontk.cli import main
    elif runner == "onnx_predict":
        import importlib.util

        spec = importlib.util.spec_from_file_location("onnx_predict_under_test",
                                                      ROOT / "export" / "onnx_predict.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        main = module.main
    else:
        raise ValueError(runner)
    try:
        code = main([str(a) for a in argv])
        return 0 if code is None else int(code)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)


def check_bad_input(case: BadInput, sandbox: Path, capfd) -> str:
    """Build, snapshot, run, and assert the contract; returns the error line."""
    import fnmatch

    names = {k: str(v) for k, v in (case.make(sandbox) or {}).items()}
    names.setdefault("sandbox", str(sandbox))
    argv = [str(a).format(**names) for a in case.argv]
    before = snapshot(sandbox)
    capfd.readouterr()
    old_cwd = os.getcwd()
    os.chdir(sandbox)
    try:
        code = run_in_process(argv, case.runner)
    finally:
        os.chdir(old_cwd)
    out = capfd.readouterr()
    lines = [line for line in out.err.splitlines() if line.strip()]
    assert code == 2, f"exit {code}, stderr:\n{out.err}\nstdout:\n{out.out}"
    assert "Traceback" not in out.err, out.err
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{out.err}"
    line = lines[0]
    assert line.startswith("error: "), line
    for needle in case.needles:
        needle = str(needle).format(**names)
        assert needle in line, f"{needle!r} not in: {line}"
    after = snapshot(sandbox)
    changed = {k for k in before if before[k] != after.get(k)}
    new = {k for k in after if k not in before
           and not any(fnmatch.fnmatch(k, g) for g in case.allow_new)}
    assert not changed and not new, f"changed: {sorted(changed)}, new: {sorted(new)}"
    return line


def cases_param(cases: list):
    """pytest.param per case, with its id and marks."""
    import pytest

    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    return [pytest.param(c, id=c.id, marks=list(c.marks)) for c in cases]
