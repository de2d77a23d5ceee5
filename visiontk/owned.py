"""What visiontk may replace: only what it wrote itself (issue 17: `--force` never deletes a user's
folder, the working directory, a parent of it, the home directory or `/`).

Every command that replaces something (`train --force`, `export --force`, `data convert --force`,
`gallery enroll`) asks `check_replaceable` first, with a predicate that recognises its own output by
its marker files (a run's meta.json, an export's metadata.json, ...), and removes with
`remove_replaceable`, which asks again.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

from visiontk.errors import VisionTKError


def protected_reason(path: Path) -> str | None:
    """Why `path` may never be replaced (working directory, its parents, home, root), else None."""
    resolved = Path(os.path.abspath(path))
    real = Path(os.path.realpath(path))
    cwd = Path(os.getcwd()).resolve()
    home = Path.home().resolve()
    for p in {resolved, real}:
        if p == Path(p.anchor):
            return "it is the filesystem root"
        if p == home:
            return "it is your home directory"
        if p == cwd:
            return "it is the working directory"
        if cwd.is_relative_to(p):
            return "it contains the working directory"
    return None


def check_replaceable(path: str | os.PathLike, *, what: str, is_ours: Callable[[Path], bool],
                      error: type[VisionTKError] = VisionTKError, hint: str = "") -> None:
    """Raise `error` unless `path` is absent, an empty folder, or something `is_ours` recognises.

    Args:
        path: the folder (or file) a command is about to replace.
        what: what visiontk would have written there ("a visiontk run", "an export"), for the message.
        is_ours: True when the existing path carries visiontk's markers.
        hint: appended to the message (how to proceed).
    """
    text = str(path)
    if not text.strip():
        raise error(f"the output path is empty; name a folder{hint and '; ' + hint}")
    p = Path(path)
    reason = protected_reason(p)
    if reason is not None:
        raise error(f"refusing to replace {p}: {reason}; choose a folder inside it"
                    f"{hint and '; ' + hint}")
    if p.is_symlink():
        raise error(f"refusing to replace {p}: it is a symbolic link (to {os.readlink(p)}); visiontk "
                    f"replaces only {what} it wrote itself; remove the link or choose another path")
    if not p.exists():
        return
    if p.is_dir() and not any(p.iterdir()):
        return
    if not is_ours(p):
        raise error(f"refusing to replace {p}: it exists and is not {what} (visiontk replaces only "
                    f"what it wrote itself); move it away or choose another path")


def remove_replaceable(path: str | os.PathLike, *, what: str, is_ours: Callable[[Path], bool],
                       error: type[VisionTKError] = VisionTKError) -> None:
    """Check again, then remove `path` (a folder or a file)."""
    check_replaceable(path, what=what, is_ours=is_ours, error=error)
    p = Path(path)
    if p.is_dir():
        shutil.rmtree(p)
    elif p.exists():
        p.unlink()
