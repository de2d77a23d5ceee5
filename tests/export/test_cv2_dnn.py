"""A second ONNX consumer no one here wrote: OpenCV's dnn module loads the exported classification and
segmentation models and agrees with ONNX Runtime within 1e-4."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.export.heads import HEADS, exported

DNN_HEADS = [h for h in ("classification", "segmentation") if h in HEADS]


@pytest.mark.parametrize("head", DNN_HEADS)
def test_opencv_dnn_agrees_with_onnxruntime(head, tmp_path_factory):
    from visiontk.export.formats.onnx import load_onnx
    from visiontk.export.verify import verification_batch

    out, result = exported(head, tmp_path_factory)
    batch, _ = verification_batch(result.metadata["source_run"], result.metadata, n=4)
    reference = load_onnx(out / "model.onnx")(batch)
    net = cv2.dnn.readNetFromONNX(str(out / "model.onnx"))
    names = list(net.getUnconnectedOutLayersNames())
    assert sorted(names) == sorted(reference)
    for x in (batch[:1], batch):                      # batch 1 and the dynamic batch
        net.setInput(np.ascontiguousarray(x))
        got = dict(zip(names, net.forward(names)))
        for name, ref in reference.items():
            want = ref[:len(x)]
            assert got[name].size == want.size, name
            np.testing.assert_allclose(got[name].reshape(want.shape), want, atol=1e-4, rtol=0)
