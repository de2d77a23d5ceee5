"""The seeds' numbers for the classic nets: AlexNet's per-layer table (seed 001), ZFNet, VGG A-E totals
and the Keras VGG16 two-class summary (seed 001), SqueezeNet (torchvision's counts) and Inception v3
(keras.applications' count), plus the local response normalisation formula of seed 001.

Full-size models are built for count_params only, with the He initialiser swapped for zeros: drawing
138 million He-normal weights takes 10-20 s on a shared CPU, zeros about one.
"""

from __future__ import annotations

import numpy as np
import pytest

from visiontk.catalog import ARCHITECTURES, populate

populate()

# seed 001, "AlexNet Network - Structural Details": layer, output (H, W, C), parameters
SEED_ALEXNET = [
    ("conv1", (55, 55, 96), 34944), ("maxpool1", (27, 27, 96), 0), ("conv2", (27, 27, 256), 614656),
    ("maxpool2", (13, 13, 256), 0), ("conv3", (13, 13, 384), 885120),
    ("conv4", (13, 13, 384), 1327488), ("conv5", (13, 13, 256), 884992),
    ("maxpool5", (6, 6, 256), 0), ("fc6", (4096,), 37752832), ("fc7", (4096,), 16781312),
    ("fc8", (1000,), 4097000),
]
# seed 001, VGG "Table 2: Number of parameters (in millions)"; exact counts are ours
SEED_VGG_MILLIONS = {"vgg_a": 133, "vgg_a_lrn": 133, "vgg_b": 133, "vgg_c": 134, "vgg_d": 138,
                     "vgg_e": 144}
EXACT_VGG = {"vgg_a": 132863336, "vgg_a_lrn": 132863336, "vgg_b": 133047848, "vgg_c": 133638952,
             "vgg_d": 138357544, "vgg_e": 143667240}
# seed 001, Keras VGG16 summary: (Keras type, output shape, params), Dropout after both 4096 layers
_C, _P = "Conv2D", "MaxPooling2D"
SEED_KERAS_VGG16 = [
    (_C, (224, 224, 64), 1792), (_C, (224, 224, 64), 36928), (_P, (112, 112, 64), 0),
    (_C, (112, 112, 128), 73856), (_C, (112, 112, 128), 147584), (_P, (56, 56, 128), 0),
    (_C, (56, 56, 256), 295168), (_C, (56, 56, 256), 590080), (_C, (56, 56, 256), 590080),
    (_P, (28, 28, 256), 0), (_C, (28, 28, 512), 1180160), (_C, (28, 28, 512), 2359808),
    (_C, (28, 28, 512), 2359808), (_P, (14, 14, 512), 0), (_C, (14, 14, 512), 2359808),
    (_C, (14, 14, 512), 2359808), (_C, (14, 14, 512), 2359808), (_P, (7, 7, 512), 0),
    ("Flatten", (25088,), 0), ("Dense", (4096,), 102764544), ("Dropout", (4096,), 0),
    ("Dense", (4096,), 16781312), ("Dropout", (4096,), 0), ("Dense", (2,), 8194),
]


@pytest.fixture()
def build(monkeypatch):
    """Build a registered model with zero-initialised kernels; clears the Keras session after."""
    import keras

    import visiontk.architectures._blocks as blocks

    monkeypatch.setattr(blocks, "HE", "zeros")
    yield lambda name, *args, **kw: ARCHITECTURES.get(name)(*args, **kw)
    keras.backend.clear_session()


def _rows(model):
    return [(layer.name, tuple(layer.output.shape[1:]), layer.count_params())
            for layer in model.layers[1:]]


@pytest.mark.parametrize("lrn", [False, True])
def test_alexnet_matches_the_seed_table_row_by_row(build, lrn):
    model = build("alexnet", lrn=lrn)
    assert model.input_shape == (None, 227, 227, 3)
    rows = [r for r in _rows(model) if not r[0].startswith(("lrn", "drop", "flatten"))]
    assert rows == SEED_ALEXNET
    assert model.count_params() == 62378344
    assert ("lrn1" in [layer.name for layer in model.layers]) is lrn
    paper = ARCHITECTURES.entry("alexnet").meta["paper"]
    assert [(r["name"], tuple(r["output_shape"]), r["params"]) for r in paper["rows"]] == SEED_ALEXNET
    assert paper["total_params"] == 62378344 and paper["input_shape"] == (227, 227, 3)


@pytest.mark.parametrize("convs, total", [((384, 384, 256), 62357608), ((512, 1024, 512), 107627624)])
def test_zfnet_conv1_7x7_stride_2_and_the_wide_variant(build, convs, total):
    model = build("zfnet", convs=convs)
    layer = model.get_layer("conv1")
    assert layer.kernel_size == (7, 7) and layer.strides == (2, 2)
    sizes = {n: s for n, s, _ in _rows(model)}
    # ZFNet paper, Fig. 3: 224 -> 110 -> 55 -> 26 -> 13 -> 6
    assert [sizes[n][0] for n in ("conv1", "maxpool1", "conv2", "maxpool2", "conv5", "maxpool5")] == \
        [110, 55, 26, 13, 13, 6]
    assert [sizes[f"conv{i}"][-1] for i in (3, 4, 5)] == list(convs)
    assert model.count_params() == total


@pytest.mark.parametrize("name", list(SEED_VGG_MILLIONS))
def test_vgg_totals_match_the_seed_table_2(build, name):
    count = build(name).count_params()
    print(f"{name}: {count:,} (seed: {SEED_VGG_MILLIONS[name]} million)")
    assert round(count / 1e6) == SEED_VGG_MILLIONS[name]
    assert count == EXACT_VGG[name]
    paper = ARCHITECTURES.entry(name).meta["paper"]
    assert abs(count - paper["total_params"]) <= paper["total_rounding"] / 2


def test_vgg_c_has_the_1x1_convs_and_a_lrn_its_lrn(build):
    c = build("vgg_c", include_top=False)
    assert [c.get_layer(f"block{b}_conv3").kernel_size for b in (3, 4, 5)] == [(1, 1)] * 3
    assert build("vgg_a_lrn", include_top=False).get_layer("block1_lrn") is not None


def test_vgg_batch_norm_variant_adds_one_bn_per_conv_without_conv_bias(build):
    plain = build("vgg_d", (32, 32, 1), include_top=False, width=0.25)
    bn = build("vgg_d", (32, 32, 1), include_top=False, width=0.25, batch_norm=True)
    convs = [l for l in plain.layers if l.name.startswith("block") and "_conv" in l.name]
    assert len(convs) == 13
    filters = sum(l.filters for l in convs)
    # each conv loses its bias (filters) and gains a BN of 4 x filters (gamma, beta, mean, variance)
    assert bn.count_params() == plain.count_params() - filters + 4 * filters
    assert bn.get_layer("block3_conv3_bn") is not None and bn.get_layer("block3_conv3").use_bias is False
    assert list(bn.output) == list(plain.output)            # the same named feature maps


def test_keras_vgg16_two_class_summary_reproduced_exactly(build):
    model = build("vgg16", num_classes=2)
    got = [(layer.__class__.__name__, tuple(layer.output.shape[1:]), layer.count_params())
           for layer in model.layers[1:]]
    assert got == SEED_KERAS_VGG16
    assert model.count_params() == 134268738
    extra = ARCHITECTURES.entry("vgg_d").meta["paper_keras"]
    assert [r["params"] for r in extra["rows"]] == [p for *_, p in SEED_KERAS_VGG16]
    assert extra["total_params"] == 134268738


def test_vgg16_without_dropout_has_keras_applications_layers(build):
    import keras

    ours = build("vgg16", (32, 32, 3), include_top=False)
    theirs = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    assert [w.path for w in ours.weights] == [w.path for w in theirs.weights]
    assert [w.shape for w in ours.weights] == [w.shape for w in theirs.weights]


@pytest.mark.parametrize("name, total", [("squeezenet1_0", 1248424), ("squeezenet1_1", 1235496)])
def test_squeezenet_equals_torchvision(build, name, total):
    model = build(name)
    assert model.count_params() == total                           # torchvision's count
    assert tuple(model.get_layer("fire9_concat").output.shape[1:]) == (13, 13, 512)
    bypassed = build(name, bypass=True)
    assert bypassed.count_params() == total                         # the bypass has no weights
    # ... so check the paper's simple bypass is there: an Add around each width-preserving fire
    adds = [layer.name for layer in bypassed.layers if layer.__class__.__name__ == "Add"]
    assert adds == [f"fire{i}_bypass" for i in (3, 5, 7, 9)]
    for i in (3, 5, 7, 9):                                          # identity + the fire's output
        inbound = bypassed.get_layer(f"fire{i}_bypass").input
        assert any(t is bypassed.get_layer(f"fire{i}_concat").output for t in inbound)
    assert not [layer for layer in model.layers if layer.__class__.__name__ == "Add"]
    assert ARCHITECTURES.entry(name).meta["paper"]["total_params"] == total


def test_inception_v3_equals_keras_applications(build):
    import keras

    ours = build("inception_v3")
    ours_shapes = [tuple(w.shape) for w in ours.weights]
    ours_mixed = {n: s for n, s, _ in _rows(ours) if n.startswith("mixed") and "_" not in n}
    count = ours.count_params()
    keras.backend.clear_session()
    theirs = keras.applications.InceptionV3(weights=None, classes=1000)
    assert count == theirs.count_params() == 23851784
    assert ours_shapes == [tuple(w.shape) for w in theirs.weights]      # same weights, same order
    assert ours_mixed == {f"mixed{i}": tuple(theirs.get_layer(f"mixed{i}").output.shape[1:])
                          for i in range(11)}
    assert ARCHITECTURES.entry("inception_v3").meta["paper"]["total_params"] == count


def test_resnet50_equals_keras_applications_with_the_documented_conventions(build):
    import keras

    # README / resnet.py: `conv_bias: true, bn_epsilon: 1.001e-5` give keras.applications.ResNet50
    ours = build("resnet50", conv_bias=True, bn_epsilon=1.001e-5)
    assert ours.input_shape == (None, 224, 224, 3)
    ours_shapes = [tuple(w.shape) for w in ours.weights]
    ours_eps = {layer.epsilon for layer in ours.layers if hasattr(layer, "epsilon")}
    count = ours.count_params()
    keras.backend.clear_session()
    theirs = keras.applications.ResNet50(weights=None, classes=1000)
    assert count == theirs.count_params() == 25636712
    assert ours_shapes == [tuple(w.shape) for w in theirs.weights]      # same weights, same order
    assert ours_eps == {layer.epsilon for layer in theirs.layers if hasattr(layer, "epsilon")}


def test_lrn_is_the_seed_formula_and_round_trips(tmp_path):
    import keras
    import tensorflow as tf

    from visiontk.layers import LocalResponseNormalization
    from visiontk.model_files import load_keras_model

    a = np.random.default_rng(0).normal(size=(2, 3, 3, 7)).astype("float32")
    n, alpha, beta, k = 5, 1e-2, 0.75, 2.0
    # b_i = a_i / (k + alpha * sum_{j=max(0, i-n/2)}^{min(N-1, i+n/2)} a_j^2)^beta
    want = np.stack([a[..., i] / (k + alpha * (a[..., max(0, i - n // 2):i + n // 2 + 1] ** 2)
                                  .sum(-1)) ** beta for i in range(7)], -1)
    layer = LocalResponseNormalization(n, alpha, beta, k)
    np.testing.assert_allclose(np.asarray(layer(a)), want, rtol=1e-5)
    tf_lrn = tf.nn.local_response_normalization(a, depth_radius=n // 2, bias=k, alpha=alpha, beta=beta)
    np.testing.assert_allclose(np.asarray(layer(a)), tf_lrn.numpy(), rtol=1e-5)
    inputs = keras.Input((3, 3, 7))
    model = keras.Model(inputs, LocalResponseNormalization(n, alpha, beta, k, name="lrn")(inputs))
    model.save(tmp_path / "lrn.keras")
    again = load_keras_model(tmp_path / "lrn.keras")
    assert again.get_layer("lrn").get_config()["alpha"] == alpha
    np.testing.assert_allclose(np.asarray(again(a)), want, rtol=1e-5)
    with pytest.raises(ValueError, match="odd"):
        LocalResponseNormalization(4)


def test_paper_meta_is_plain_data():
    import json

    for name in ["alexnet", *SEED_VGG_MILLIONS, "squeezenet1_0", "squeezenet1_1", "inception_v3"]:
        paper = ARCHITECTURES.entry(name).meta["paper"]
        json.dumps(paper)
        assert {"input_shape", "num_classes", "rows", "total_params", "source"} <= set(paper)
