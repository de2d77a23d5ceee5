"""Moved to visiontk/export/formats/tflite.py; kept only for the callers that still import it from
here (benchmarks/): import from the new place."""

from visiontk.export.formats.tflite import load_tflite, write_tflite  # noqa: F401
