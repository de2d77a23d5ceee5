"""keras.applications backbones: preprocessing equal to Keras' preprocess_input, named features,
preprocessing recorded in meta.json, `weights: imagenet` offline (one line, fast; the Keras cache is
used when the file is there), weights from a .weights.h5 file and a Keras .h5 file.

Every test blocks the network (a refused connection, or one that hangs) and points KERAS_HOME at an
empty folder: nothing here downloads.
"""

from __future__ import annotations

import importlib
import re
import socket
import time

import numpy as np
import pytest

from visiontk.architectures import applications as apps
from visiontk.errors import ModelError
from visiontk.catalog import ARCHITECTURES, populate

populate()
APPS = [n for n in ARCHITECTURES.names() if ARCHITECTURES.entry(n).meta.get("family") == "applications"]


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network (connections refused) and an empty Keras cache; returns the cache folder."""
    def refuse(*args, **kwargs):
        raise OSError("network is blocked in this test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return tmp_path / "keras_home"


def build(name, shape=(32, 32, 3), **kw):
    return ARCHITECTURES.get(name)(shape, include_top=False, **kw)


@pytest.mark.parametrize("name", APPS)
def test_preprocessing_equals_keras_preprocess_input(name):
    """The in-model mapping of [0, 1] RGB equals keras.applications.<module>.preprocess_input on
    255 * x (in RGB order: caffe's BGR is taken up by the flipped first convolution)."""
    import keras

    _, module, mode, _, first_conv, _ = apps.APPS[name]
    x = np.random.default_rng(0).random((2, 5, 5, 3), np.float32)
    scale, offset = apps._scale_offset(mode, 3)
    ours = np.asarray(keras.layers.Rescaling(scale, offset)(x))
    theirs = np.asarray(importlib.import_module(f"keras.applications.{module}").preprocess_input(255.0 * x))
    if mode == "caffe":
        assert first_conv
        theirs = theirs[..., ::-1]
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-4)
    meta = apps.preprocessing_meta(name)
    assert meta["in_model"] and meta["mode"] == mode and meta["layer"] == "preprocess"


def test_named_features_and_preprocess_layer():
    model = build("mobilenet_v2", (64, 64, 3), alpha=0.35)
    assert model.layers[1].name == "preprocess" and not model.layers[1].weights
    assert {k: v.shape[1] for k, v in model.output.items()} == {"C2": 16, "C3": 8, "C4": 4, "C5": 2}
    with pytest.raises(ModelError, match="alpha: applies to the MobileNets"):
        build("keras_vgg16", alpha=0.5)


def test_meta_records_the_model_preprocessing(tiny_recipe):
    from visiontk.catalog import TASKS
    from visiontk.run import make_meta
    from visiontk.tasks.base import DataInfo

    r = tiny_recipe({"model": {"backbone": {"name": "densenet121"}}})
    task = TASKS.get("classification")(r.model.head, DataInfo(["a", "b"], (32, 32, 3)), r)
    pre = make_meta(r, task, ["a", "b"])["input"]["model_preprocessing"]
    assert pre["mode"] == "torch" and pre["keras_model"] == "DenseNet121"
    assert "densenet.preprocess_input" in pre["equals"] and len(pre["offset"]) == 3
    assert make_meta(tiny_recipe(), task, ["a", "b"])["input"]["model_preprocessing"] is None


def test_imagenet_offline_fails_fast_with_one_line(offline, tiny_recipe):
    from visiontk.train.model import build_backbone

    import keras  # noqa: F401  (time the build, not TensorFlow's first import)

    r = tiny_recipe({"model": {"backbone": {"name": "mobilenet_v2", "weights": "imagenet"}}})
    t0 = time.perf_counter()
    with pytest.raises(ModelError) as err:
        build_backbone(r)
    seconds = time.perf_counter() - t0
    msg = str(err.value)
    assert seconds < 10, seconds
    assert "\n" not in msg and "weights: none" in msg and str(offline / "models") in msg
    assert re.search(r"download https://\S+mobilenet_v2\S+\.h5 to \S+", msg)


def test_imagenet_with_a_hanging_network_gives_up_within_seconds(monkeypatch, tmp_path):
    def hang(*args, **kwargs):
        time.sleep(30)

    import keras  # noqa: F401  (time the build, not TensorFlow's first import)

    monkeypatch.setattr(socket, "create_connection", hang)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    t0 = time.perf_counter()
    with pytest.raises(ModelError, match="cannot be reached"):
        build("keras_vgg16", weights="imagenet")
    assert time.perf_counter() - t0 < 10


def _keras_h5(model, path):
    """`model`'s weights in the legacy .h5 layout keras.applications publishes."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)


def test_cached_imagenet_file_and_keras_h5_load_with_rgb_flip(offline):
    """A Keras-format file (here random weights) in the cache is used; the caffe network fed [0, 1]
    RGB equals Keras' VGG16 fed preprocess_input(255 x) with the same file."""
    import keras

    reference = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    with pytest.raises(ModelError) as err:           # where the file is expected
        build("keras_vgg16", weights="imagenet")
    target = re.search(r" to (\S+\.h5)", str(err.value)).group(1)
    assert target.startswith(str(offline))
    (offline / "models").mkdir(parents=True, exist_ok=True)
    _keras_h5(reference, target)

    x = np.random.default_rng(3).random((2, 32, 32, 3), np.float32)
    want = np.asarray(reference(keras.applications.vgg16.preprocess_input(255.0 * x)))
    for weights in ("imagenet", target):
        ours = build("keras_vgg16", weights=weights)
        np.testing.assert_allclose(np.asarray(ours(x)["C5"]), want, rtol=1e-4, atol=1e-3)


def test_weights_from_a_visiontk_file_and_errors(tmp_path):
    first = build("mobilenet_v3_small", alpha=0.75)
    path = tmp_path / "backbone.weights.h5"
    first.save_weights(str(path))
    again = build("mobilenet_v3_small", alpha=0.75, weights=str(path))
    x = np.random.default_rng(4).random((1, 32, 32, 3), np.float32)
    a, b = first(x), again(x)
    for key in a:
        np.testing.assert_allclose(np.asarray(a[key]), np.asarray(b[key]), atol=1e-6)
    with pytest.raises(ModelError, match="weights file not found"):
        build("mobilenet_v3_small", weights=str(tmp_path / "nope.weights.h5"))
    with pytest.raises(ModelError, match="does not fit"):
        build("keras_vgg19", weights=str(path))


def test_bn_momentum_sets_every_batch_norm_and_survives_a_keras_file(tmp_path):
    """params.bn_momentum replaces Keras' 0.999 (MobileNets) in every BN layer, acts in a training
    step (the moving mean moves by 1 - momentum of the batch mean) and is kept in a .keras file."""
    import keras

    def bns(m):
        return [l for l in m._flatten_layers() if isinstance(l, keras.layers.BatchNormalization)]

    default, tuned = build("mobilenet_v2", alpha=0.35), build("mobilenet_v2", alpha=0.35, bn_momentum=0.9)
    assert bns(default) and {l.momentum for l in bns(default)} == {0.999}
    assert len(bns(tuned)) == len(bns(default)) and {l.momentum for l in bns(tuned)} == {0.9}
    default.set_weights(tuned.get_weights())    # the same network: only the momentum differs
    x = np.random.default_rng(0).random((4, 32, 32, 3), np.float32)
    tuned(x, training=True)
    default(x, training=True)
    fast, slow = np.asarray(bns(tuned)[0].moving_mean), np.asarray(bns(default)[0].moving_mean)
    assert np.abs(fast).max() > 0       # from zero by (1 - momentum) x the batch mean
    np.testing.assert_allclose(fast, 100.0 * slow, rtol=1e-3, atol=1e-6)
    path = tmp_path / "m.keras"
    tuned.save(path)
    again = keras.saving.load_model(path, safe_mode=True, compile=False)
    assert {l.momentum for l in bns(again)} == {0.9}
    for bad in (1.5, "0.9", True):
        with pytest.raises(ModelError, match=r"bn_momentum: .* is not a number in \[0, 1\)"):
            build("mobilenet_v2", alpha=0.35, bn_momentum=bad)
