"""Denoising models saved and exported: no noise layer or random op anywhere (model.keras, SavedModel,
ONNX, TFLite), and the autoencoder's encoder exported alone as an embedding model."""

import json

import numpy as np
import pytest

from tests.conftest import run_cli
from tests.export.heads import exported, trained_run

NOISE_LAYERS = ("GaussianNoise", "GaussianDropout", "AlphaDropout", "Dropout", "SpatialDropout1D",
                "SpatialDropout2D", "SpatialDropout3D", "RandomBrightness", "RandomContrast")


def test_no_noise_layer_in_model_keras_nor_random_op_in_the_exports(tmp_path_factory):
    import onnx
    import tensorflow as tf

    from visiontk.export.serving import _all_layers     # every layer, nested models included
    from visiontk.model_files import load_keras_model

    run = trained_run("denoising", tmp_path_factory)
    model = load_keras_model(run / "model.keras")
    names = [type(layer).__name__ for layer in _all_layers(model)]
    assert "Conv2DTranspose" in names                     # the real decoder is there ...
    assert not set(names) & set(NOISE_LAYERS), names      # ... and no noise / dropout layer
    assert not [n for n in names if n.startswith(("Random", "Gaussian"))]
    out, _ = exported("denoising", tmp_path_factory)
    ops = {node.op_type for node in onnx.load(str(out / "model.onnx")).graph.node}
    assert "ConvTranspose" in ops and not [o for o in ops if "Random" in o or o == "Dropout"], ops
    sm = tf.saved_model.load(str(out / "saved_model"))
    graph = sm.signatures["serving_default"].graph
    tf_ops = {op.type for op in graph.get_operations()}
    for fn in graph.as_graph_def().library.function:          # the model's own call, inlined or not
        tf_ops |= {node.op for node in fn.node_def}
    assert not [o for o in tf_ops if "Random" in o or "Dropout" in o], sorted(tf_ops)
    interp = tf.lite.Interpreter(model_path=str(out / "model.tflite"))
    lite_ops = {d["op_name"] for d in interp._get_ops_details()}
    assert lite_ops and not [o for o in lite_ops if "RANDOM" in o or "MULTINOMIAL" in o], lite_ops


def test_the_encoder_exports_as_an_embedding_model(tmp_path_factory, tmp_path):
    from visiontk.export import export_run
    from visiontk.infer.gallery import Embedder
    from visiontk.infer.predictor import Predictor

    run = trained_run("denoising", tmp_path_factory)
    result = export_run(run, formats="onnx", out=tmp_path / "enc", echo=lambda *_: None)
    assert result.metadata["task"] == "denoising"                     # the whole model, as before
    enc = export_run(run, formats="onnx,tflite", out=tmp_path / "enc2", encoder=True,
                     echo=lambda *_: None)
    meta = json.loads((tmp_path / "enc2" / "metadata.json").read_text())
    # autoencoder_cnn filters [8, 16] on 32 x 32: the code is an 8 x 8 x 16 map, flattened
    assert meta["task"] == "metric" and meta["decode"]["embedding_size"] == 8 * 8 * 16
    assert meta["encoder_of"] == {"task": "denoising", "layer": "code"}
    assert meta["outputs"]["names"] == ["embedding"] and enc.parity["passed"]
    frames = [np.full((40, 30, 3), v, np.uint8) for v in (20, 200)]
    preds = Predictor(tmp_path / "enc2", "onnx").predict(frames)
    assert preds[0].embedding.shape == (1024,) and not np.allclose(preds[0].embedding, preds[1].embedding)
    assert Embedder(tmp_path / "enc2").embed_frames(frames).shape == (2, 1024)
    res = run_cli("export", run, "--encoder", "--format", "onnx", "--out", tmp_path / "cli_enc")
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "cli_enc" / "metadata.json").read_text())["task"] == "metric"


@pytest.mark.parametrize("head, message", [
    ("classification", "--encoder: the run is a 'classification' model; only autoencoder runs"),
])
def test_encoder_export_of_a_model_without_one_is_refused(tmp_path_factory, tmp_path, head, message):
    from visiontk.errors import ExportError
    from visiontk.export import export_run

    with pytest.raises(ExportError, match=message):
        export_run(trained_run(head, tmp_path_factory), formats="onnx", out=tmp_path / "x",
                   encoder=True, echo=lambda *_: None)


def test_encoder_export_of_a_unet_denoiser_is_refused(tiny_recipe, tmp_path):
    from visiontk.errors import ExportError
    from visiontk.export.encoder import encoder_and_meta
    from visiontk.train.session import prepare

    p = prepare(tiny_recipe({"task": "denoising", "model": {"backbone": {
        "name": "unet", "params": {"padding": "same", "depth": 1, "base_width": 4}}}}))
    with pytest.raises(ExportError, match="--encoder: model 'denoiser' has no 'code' layer"):
        encoder_and_meta(p.model, {"task": "denoising"})
