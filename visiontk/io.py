"""Atomic writes: write to a temporary name beside the target, then rename (a crash never leaves a
half-written file under the real name); reading JSON that names the file when it is damaged; write
failures (a full disk, a read-only folder) that name the path and say what to do."""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from visiontk.errors import VisionTKError

# what a user can fix about a write: the disk, the quota, the permissions, the mount
_WRITE_ERRNOS = {
    errno.ENOSPC: "no space left on the device; free some space there (or set output=... to a folder "
                  "on another disk)",
    errno.EDQUOT: "disk quota exceeded; free some space (or set output=... to a folder on another "
                  "disk)",
    errno.EACCES: "permission denied; make the folder writable or choose another one",
    errno.EPERM: "operation not permitted; make the folder writable or choose another one",
    errno.EROFS: "the file system is read-only; choose a folder on a writable disk",
    errno.EFBIG: "the file is too large for this file system; choose a folder on another disk",
}


class WriteError(VisionTKError, OSError):
    """A file could not be written (full disk, quota, permissions, read-only mount). Also an OSError,
    so code that tolerates a failed optional write (a cache) keeps doing so."""


class JSONFileError(VisionTKError, ValueError):
    """A JSON file is not UTF-8 or not valid JSON. Also a ValueError, as json's own error was."""


def write_problem(exc: OSError) -> str | None:
    """What to do about `exc` when it is one a user can fix by freeing space or fixing permissions."""
    return _WRITE_ERRNOS.get(getattr(exc, "errno", None))


@contextmanager
def naming_path(path, then: str = ""):
    """Turn a disk / permission OSError raised inside the block (h5py, zipfile and numpy raise them
    without a file name) into a WriteError naming `path`; `then` is appended (e.g. how to resume)."""
    try:
        yield
    except WriteError as exc:
        if then and not str(exc).endswith(then):
            raise WriteError(f"{exc}{then}") from exc.__cause__
        raise
    except OSError as exc:
        problem = write_problem(exc)
        if problem is None:
            raise
        where = exc.filename if exc.filename and not _is_temporary(exc.filename) else path
        raise WriteError(f"cannot write {where}: {problem}{then}") from exc


def check_free_space(target, needed: int) -> None:
    """A WriteError naming `target` when its disk has less than `needed` bytes free. For writers
    that cannot fail cleanly: h5py, when the disk fills mid-file, prints tracebacks from its
    destructors and can crash the interpreter at exit; checked first, the disk never fills there."""
    folder = Path(target).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if free < needed:
        raise WriteError(f"cannot write {target}: no space left on the device ({free / 1e6:.1f} MB "
                         f"free, about {needed / 1e6:.1f} MB needed); "
                         f"{_WRITE_ERRNOS[errno.ENOSPC].split('; ', 1)[1]}")


def _is_temporary(name) -> bool:
    return ".tmp" in Path(str(name)).name


@contextmanager
def atomic_path(target: str | os.PathLike, suffix: str | None = None):
    """Yields a temporary path in the target's folder; renamed onto `target` on success. A full
    disk or a folder that cannot be written raises a WriteError naming `target`."""
    target = Path(target)
    with naming_path(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        suffix = suffix if suffix is not None else "".join(target.suffixes)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{suffix}",
                                   dir=target.parent)
        os.close(fd)
        os.unlink(tmp)           # writers such as keras refuse an existing file
        try:
            yield Path(tmp)
            if Path(tmp).is_dir() and target.is_dir():
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            if Path(tmp).is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            elif Path(tmp).exists():
                os.unlink(tmp)


def write_text(target, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(target, obj) -> None:
    write_text(target, json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n")


def read_json(path, what: str = ""):
    """The content of a JSON file; a JSONFileError naming the file when it is not UTF-8 or not JSON.

    Args:
        path: the file.
        what: how to fix a damaged file, appended to the message (e.g. "retrain the run").
    """
    p = Path(path)
    hint = f"; {what}" if what else ""
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise JSONFileError(f"{p} is not UTF-8 text (damaged, or not a JSON file){hint}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        cut = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        raise JSONFileError(f"{p} is not valid JSON{' (the file is cut short)' if cut else ''}: "
                            f"{exc.msg} (line {exc.lineno}, column {exc.colno}){hint}") from None


def _jsonable(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
