"""Import TensorFlow without its start-up lines on stderr (CLI only).

TensorFlow 2.21 logs through absl before absl's log is initialised, which writes INFO lines
("WARNING: All log messages before absl::InitializeLog() ...", "oneDNN custom operations are on")
straight to file descriptor 2 and ignores TF_CPP_MIN_LOG_LEVEL. A one-line CLI error must stay one
line, so the CLI executes `tensorflow/__init__` with fd 2 pointed at a temporary file; what it wrote
is replayed only if the import fails.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import sys
import tempfile


@contextlib.contextmanager
def _fd2_to_file():
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield tmp
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


class QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """A finder that wraps the real loader of `tensorflow` and removes itself after one use."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        real_exec = spec.loader.exec_module

        def exec_module(module):
            error, captured = None, b""
            with _fd2_to_file() as tmp:
                try:
                    real_exec(module)
                except BaseException as exc:  # replay what TensorFlow said, then fail as usual
                    error = exc
                    tmp.seek(0)
                    captured = tmp.read()
            if error is not None:
                sys.stderr.write(captured.decode(errors="replace"))
                raise error

        spec.loader.exec_module = exec_module      # this spec's own loader instance only
        return spec


def install() -> None:
    """Make the next `import tensorflow` (direct or through keras) quiet on stderr."""
    if "tensorflow" not in sys.modules and not any(
            isinstance(f, QuietTensorFlowImport) for f in sys.meta_path):
        sys.meta_path.insert(0, QuietTensorFlowImport())
