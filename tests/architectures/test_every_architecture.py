"""One test over every registered architecture: build small, output shapes, no NaN, pinned parameter
count, `.keras` round trip under safe_mode with equal outputs, features usable by a head.

Builds use the registry entry's meta `small_input` (default (32, 32, 3)); the round trip and training
step also apply `small_kwargs` (e.g. narrower widths) so that the whole zoo stays fast in CI. Meta `top`
says what include_top=True outputs: `classes` (default, a softmax over num_classes), `pixels` (a softmax
per pixel, U-Net) or `image` (a reconstruction of the input, autoencoders).
Pinned counts live in `pins_*.py` modules beside this file (one per family): PINS = {name: count}.

Registry meta `ci` sorts the keras.applications backbones (20+ networks of 100-600 layers; building
one takes 1-7 s of CPU) into tiers so that CI stays fast: `full` (absent = full: every zoo builder)
gets every check above; `build` gets one cheaper test (feature extractor built at the small input,
FEATURE_PINS count, named maps that shrink by stride, finite outputs, a classification head on top);
`sibling` (the larger members of a family whose smallest member is `build`) gets the same cheaper
test (about 45 s of CPU for the twelve of them).
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import numpy as np
import pytest

from visiontk.catalog import ARCHITECTURES, populate

populate()
HERE = Path(__file__).parent
PINS: dict[str, int] = {}
FEATURE_PINS: dict[str, int] = {}          # include_top=False counts (keras.applications backbones)
for info in pkgutil.iter_modules([str(HERE)]):
    if info.name.startswith("pins_"):
        _mod = importlib.import_module(f"tests.architectures.{info.name}")
        PINS.update(_mod.PINS)
        FEATURE_PINS.update(getattr(_mod, "FEATURE_PINS", {}))


def _tier(name):
    return ARCHITECTURES.entry(name).meta.get("ci", "full")


NAMES = [n for n in ARCHITECTURES.names() if _tier(n) == "full"]
CHEAP = [n for n in ARCHITECTURES.names() if _tier(n) in ("build", "sibling")]


def small_build(name, *, narrow=False, **kw):
    entry = ARCHITECTURES.entry(name)
    shape = tuple(entry.meta.get("small_input", (32, 32, 3)))
    kwargs = {**(entry.meta.get("small_kwargs", {}) if narrow else {}), **kw}
    return ARCHITECTURES.get(name)(shape, **kwargs), shape


@pytest.mark.parametrize("name", NAMES)
def test_builds_small_with_pinned_params_and_finite_output(name):
    model, shape = small_build(name, include_top=True, num_classes=7)
    assert name in PINS, f"pin the parameter count of {name}: {model.count_params()}"
    assert model.count_params() == PINS[name]
    x = np.random.default_rng(0).random((2, *shape), np.float32)
    y = np.asarray(model(x, training=False))
    assert np.isfinite(y).all()
    # registry meta `top`: what include_top=True gives (the paper's output)
    top = ARCHITECTURES.entry(name).meta.get("top", "classes")
    if top == "pixels":          # dense prediction (U-Net): a softmax over classes per pixel
        assert y.ndim == 4 and y.shape[0] == 2 and y.shape[-1] == 7
        np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-5)
    elif top == "image":         # autoencoders: the reconstruction of the input, in [0, 1]
        assert y.shape == (2, *shape) and y.min() >= 0.0 and y.max() <= 1.0
    else:
        assert y.shape == (2, 7)
        np.testing.assert_allclose(y.sum(1), 1.0, rtol=1e-5)      # the paper's softmax top


@pytest.mark.parametrize("name", NAMES)
def test_feature_extractor_round_trip_and_head(name, tmp_path):
    import keras

    from visiontk.model_files import load_keras_model

    backbone, shape = small_build(name, narrow=True, include_top=False)
    assert backbone.inputs[0].name == "image"
    x = np.random.default_rng(1).random((2, *shape), np.float32)
    feats = backbone(x, training=False)
    assert isinstance(feats, dict) and feats, "include_top=False returns named feature maps"
    if name in FEATURE_PINS and not ARCHITECTURES.entry(name).meta.get("small_kwargs"):
        assert backbone.count_params() == FEATURE_PINS[name]       # (narrowed builds differ)
    for key, value in feats.items():
        assert np.isfinite(np.asarray(value)).all(), key
    path = tmp_path / f"{name}.keras"
    backbone.save(path)
    again = load_keras_model(path)          # safe_mode=True
    feats2 = again(x, training=False)
    for key in feats:
        np.testing.assert_allclose(np.asarray(feats[key]), np.asarray(feats2[key]), atol=1e-5)
    # a classification head on the deepest feature trains one step
    from visiontk.tasks.base import DataInfo
    from visiontk.tasks.classification import Classification, ClassificationHead

    task = Classification(ClassificationHead(), DataInfo(["a", "b", "c"], shape))
    model = task.build(backbone)
    model.compile(optimizer="adam", loss=task.loss(), run_eagerly=True)   # tracing 500 layers: ~1 min
    y = keras.utils.to_categorical([0, 2], 3)
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)


@pytest.mark.parametrize("name", CHEAP)
def test_backbone_builds_with_pinned_features(name):
    """The cheaper check of CI tiers `build` and `sibling` (see the module docstring)."""
    import keras

    from visiontk.tasks.base import DataInfo
    from visiontk.tasks.classification import Classification, ClassificationHead

    entry = ARCHITECTURES.entry(name)
    assert name in FEATURE_PINS, f"pin the include_top=False parameter count of {name}"
    if entry.meta.get("keras"):
        assert hasattr(keras.applications, entry.meta["keras"])
    backbone, shape = small_build(name, include_top=False)
    assert backbone.inputs[0].name == "image"
    assert backbone.count_params() == FEATURE_PINS[name]
    outs = backbone.output
    assert isinstance(outs, dict) and outs, "include_top=False returns named feature maps"
    sizes = [v.shape[1] for v in outs.values()]
    assert all(len(v.shape) == 4 for v in outs.values()) and sizes == sorted(sizes, reverse=True)
    x = np.random.default_rng(2).random((1, *shape), np.float32)
    for key, value in backbone(x, training=False).items():
        assert np.isfinite(np.asarray(value)).all(), key
    task = Classification(ClassificationHead(), DataInfo(["a", "b", "c"], shape))
    assert task.build(backbone).output.shape == (None, 3)
