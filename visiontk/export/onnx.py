"""Moved to visiontk/export/formats/onnx.py; kept only for the callers that still import it from here
(tests/export/test_serving.py, test_cv2_dnn.py, benchmarks/): import from the new place."""

from visiontk.export.formats.onnx import load_onnx, onnx_session, write_onnx  # noqa: F401
