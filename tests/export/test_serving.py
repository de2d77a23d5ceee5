"""The serving function every format is written from: float32 always, outputs named and restored to
the structure the Keras model returns (tensor, list or dict)."""

from __future__ import annotations

import numpy as np
import pytest

META = {"task": "classification", "input": {"name": "image", "shape": [16, 16, 3], "resize": "stretch"},
        "class_names": ["a", "b", "c"], "decode": {"top_k": 2}}


def _tiny(outputs="tensor"):
    import keras
    from keras import layers

    inp = keras.Input((16, 16, 3), name="image")
    x = layers.Conv2D(4, 3, activation="relu", name="conv")(inp)
    x = layers.Dropout(0.5, name="drop")(x)                  # must be off in every export
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    probs = layers.Dense(3, activation="softmax", dtype="float32", name="probs")(x)
    count = layers.Dense(1, name="count")(x)
    out = {"tensor": probs, "list": [probs, count], "dict": {"probs": probs, "count": count}}[outputs]
    return keras.Model(inp, out)


@pytest.mark.parametrize("policy, atol", [("mixed_float16", 2e-3), ("mixed_bfloat16", 5e-3)])
def test_mixed_precision_model_is_exported_in_float32(tmp_path, policy, atol):
    import keras
    import onnx

    from visiontk.export import export_model

    keras.mixed_precision.set_global_policy(policy)
    model = _tiny()
    keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("conv").compute_dtype == policy.removeprefix("mixed_")
    res = export_model(model, META, tmp_path / "mp", formats=["onnx", "saved_model"],
                       echo=lambda *_: None)
    assert res.parity["passed"]
    proto = onnx.load(str(tmp_path / "mp" / "model.onnx"))
    assert not [n for n in proto.graph.node if n.op_type == "Cast"]      # no float16 round trips
    assert {v.type.tensor_type.elem_type for v in [*proto.graph.input, *proto.graph.output]} == \
        {onnx.TensorProto.FLOAT}
    x = np.random.default_rng(0).random((4, 16, 16, 3), np.float32)
    from visiontk.infer.predictor import Predictor

    exported = Predictor(tmp_path / "mp", "onnx").raw(x)
    # the float32 export computes what the mixed model did, up to the mixed dtype's rounding
    # (bfloat16: 8 significant bits)
    np.testing.assert_allclose(exported, np.asarray(model(x, training=False), np.float32), atol=atol)


@pytest.mark.parametrize("layout", ["tensor", "list", "dict"])
def test_output_structure_survives_onnx(layout, tmp_path):
    from visiontk.export.formats.onnx import load_onnx, write_onnx
    from visiontk.export.serving import make_serving
    from visiontk.runtime.outputs import restructure

    model = _tiny(layout)
    serving = make_serving(model)
    assert serving.structure == layout
    write_onnx(serving, tmp_path / "m.onnx")
    x = np.random.default_rng(1).random((3, 16, 16, 3), np.float32)
    got = restructure(load_onnx(tmp_path / "m.onnx")(x), {"outputs": serving.outputs_meta})
    want = model(x, training=False)
    if layout == "tensor":
        np.testing.assert_allclose(got, want, atol=1e-5)
    elif layout == "list":
        assert isinstance(got, list) and len(got) == 2
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, atol=1e-5)
    else:
        assert isinstance(got, dict) and set(got) == {"probs", "count"}
        for k in got:
            np.testing.assert_allclose(got[k], want[k], atol=1e-5)


def test_restructure_names_a_missing_output():
    from visiontk.runtime.errors import InputError
    from visiontk.runtime.outputs import restructure

    with pytest.raises(InputError, match="no output.*boxes"):
        restructure({"probs": np.zeros(3)}, {"outputs": {"structure": "dict", "names": ["boxes"]}})


def test_constants_captured_by_value_are_embedded_in_onnx(tmp_path):
    """A Normalization layer built with fixed mean/variance (EfficientNet, ConvNeXt) captures eager
    tensors, which tf2onnx leaves as unfed graph inputs; the export makes them initializers."""
    import keras

    from visiontk.export.formats.onnx import load_onnx, write_onnx
    from visiontk.export.serving import make_serving

    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Normalization(mean=[0.1, 0.2, 0.3], variance=[1.0, 2.0, 3.0], name="norm")(inputs)
    model = keras.Model(inputs, keras.layers.Conv2D(4, 3, name="conv")(x))
    write_onnx(make_serving(model), tmp_path / "m.onnx")
    import onnx

    assert [i.name for i in onnx.load(str(tmp_path / "m.onnx")).graph.input] == ["image"]
    x = np.random.default_rng(2).random((2, 8, 8, 3), np.float32)
    (got,) = load_onnx(tmp_path / "m.onnx")(x).values()
    np.testing.assert_allclose(got, model(x, training=False), atol=1e-5)
