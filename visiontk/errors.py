"""Errors a user can act on. The CLI prints `error: <message>` on one line and exits 2.

Every message says what went wrong, where (file, line, field) and how to fix it.
"""


class VisionTKError(Exception):
    """Base of every error visiontk raises on purpose."""

    exit_code = 2


class RecipeError(VisionTKError):
    """A recipe file or an override is wrong."""


class DataError(VisionTKError):
    """A dataset is missing, malformed or does not fit the task."""


class SourceError(DataError):
    """A data source cannot be found or configured."""


class ModelError(VisionTKError):
    """A model or architecture cannot be built, loaded or restored."""


class ExportError(VisionTKError):
    """An export failed or did not verify."""


class RunError(VisionTKError):
    """A run directory is missing, finished, or inconsistent."""
