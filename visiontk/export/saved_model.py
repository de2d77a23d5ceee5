"""Moved to visiontk/export/formats/saved_model.py; kept only for the callers that still import it
from here (benchmarks/inference.py): import from the new place."""

from visiontk.export.formats.saved_model import load_saved_model, write_saved_model  # noqa: F401
