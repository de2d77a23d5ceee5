"""keras.applications backbones (MobileNet, EfficientNet, ResNetV2, VGG, Inception, Xception,
DenseNet, ConvNeXt) as visiontk feature extractors, with `weights: imagenet | none | FILE`.

Names are the Keras model names in snake case (`mobilenet_v2`, `efficientnet_b0`, `resnet50_v2`,
`densenet121`, ...; the Keras spelling, e.g. `mobilenetv2`, is an alias). Where visiontk's own zoo
already owns the name (`vgg16`, `vgg19`, `inception_v3`, `resnet50`: the paper builders) the Keras
network is `keras_vgg16`, `keras_vgg19`, `keras_inception_v3`, `keras_resnet50`.

Preprocessing lives inside the model, as its first layer `preprocess` (a weightless Rescaling): every
visiontk model takes RGB float32 in [0, 1], and this layer maps that to what the Keras weights were
trained on, so SavedModel, ONNX and TFLite exports (and the TensorFlow-free runtime, which feeds
[0, 1]) agree with Keras by construction. meta.json records it under `input.model_preprocessing`.
The modes of `keras.applications.<family>.preprocess_input`, from [0, 1]:

- `tf` (MobileNetV2, ResNetV2, InceptionV3, Xception): 2x - 1, i.e. [-1, 1].
- `torch` (DenseNet): (x - mean) / std with the ImageNet RGB mean and std.
- `caffe` (VGG, ResNet50 v1): 255x - mean in RGB order; Keras feeds BGR, so the first convolution's
  kernel is flipped on its input-channel axis when Keras-format weights are loaded (the same network,
  one layer fewer than a channel swap, and no custom layer to register).
- `builtin` (MobileNetV3, EfficientNet, EfficientNetV2, ConvNeXt: their Keras builders normalise
  themselves): 255x.

`include_top=False` returns named feature maps by stride: C2 (4), C3 (8), C4 (16), C5 (32)
(C3..C5 for InceptionV3, whose stride-4 layers have no stable names).

Weights: `none` (random), `imagenet` (the Keras cache, ~/.keras/models/<file> or $KERAS_HOME; when the
file is not there it is downloaded, and without network the build stops within seconds with one line
saying which file to put where), a `.weights.h5` file written by visiontk/Keras 3 from this backbone,
or a Keras `.h5` file as published for keras.applications.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from visiontk.errors import ModelError
from visiontk.catalog import ARCHITECTURES

IMAGENET_MEAN = (0.485, 0.456, 0.406)          # RGB, [0, 1] (keras 'torch' mode)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)    # keras 'caffe' mode subtracts these from BGR 0..255

# mode -> (scale, offset) from RGB [0, 1] (per channel where a tuple)
PREPROCESSING = {
    "tf": (2.0, -1.0),
    "torch": (tuple(1.0 / s for s in IMAGENET_STD),
              tuple(-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD))),
    "caffe": (255.0, tuple(-m for m in CAFFE_MEAN_RGB)),
    "builtin": (255.0, 0.0),
}
OFFLINE_PROBE_SECONDS = 3.0

_V2_STAGES = {"resnet50_v2": (4, 6), "resnet101_v2": (4, 23), "resnet152_v2": (8, 36)}


def _resnet_v2(name):
    b3, b4 = _V2_STAGES[name]
    return {"C2": "conv2_block3_1_relu", "C3": f"conv3_block{b3}_1_relu", "C4": f"conv4_block{b4}_1_relu",
            "C5": "post_relu"}


_EFFICIENTNET = {"C2": "block3a_expand_activation", "C3": "block4a_expand_activation",
                 "C4": "block6a_expand_activation", "C5": "top_activation"}


def _effv2(c2):
    return {"C2": c2, "C3": "block4a_expand_activation", "C4": "block6a_expand_activation",
            "C5": "top_activation"}


def _vgg(last):
    return {"C2": f"block3_conv{last}", "C3": f"block4_conv{last}", "C4": f"block5_conv{last}",
            "C5": "block5_pool"}


def _convnext(prefix, blocks):
    return {f"C{i + 2}": f"{prefix}_stage_{i}_block_{n - 1}_identity" for i, n in enumerate(blocks)}


# CI tiers (tests/architectures/test_every_architecture.py): `full` = every check of the zoo,
# `build` = build + pinned count + feature strides, `sibling` = a larger member of a family whose
# smallest member is built (the same cheaper test: ~45 s CPU for all of them).
_SIBLING = dict(ci="sibling")

# name: (keras.applications class, preprocess_input module, mode, features, first conv (caffe),
#        extra registry meta). Feature `None` = the Keras model's own output (its last layer's
#        name is not stable: Keras numbers unnamed activations per session).
APPS = {
    "mobilenet_v2": ("MobileNetV2", "mobilenet_v2", "tf",
                     {"C2": "block_3_expand_relu", "C3": "block_6_expand_relu",
                      "C4": "block_13_expand_relu", "C5": "out_relu"}, None, dict(ci="full")),
    "mobilenet_v3_small": ("MobileNetV3Small", "mobilenet_v3", "builtin",
                           {"C2": "expanded_conv_project_bn", "C3": "expanded_conv_2_add",
                            "C4": "expanded_conv_7_add", "C5": None}, None, {}),
    "mobilenet_v3_large": ("MobileNetV3Large", "mobilenet_v3", "builtin",
                           {"C2": "expanded_conv_2_add", "C3": "expanded_conv_5_add",
                            "C4": "expanded_conv_11_add", "C5": None}, None, _SIBLING),
    **{f"efficientnet_b{i}": (f"EfficientNetB{i}", "efficientnet", "builtin", _EFFICIENTNET, None,
                              _SIBLING if i else {}) for i in range(4)},
    **{f"efficientnet_v2_b{i}": (f"EfficientNetV2B{i}", "efficientnet_v2", "builtin",
                                 _effv2("block2b_add" if i == 0 else "block2c_add"), None,
                                 _SIBLING if i else {}) for i in range(4)},
    "efficientnet_v2_s": ("EfficientNetV2S", "efficientnet_v2", "builtin", _effv2("block2d_add"), None,
                          _SIBLING),
    **{n: (f"ResNet{n[6:-3]}V2", "resnet_v2", "tf", _resnet_v2(n), None,
           {} if n == "resnet50_v2" else _SIBLING) for n in _V2_STAGES},
    "keras_resnet50": ("ResNet50", "resnet", "caffe",
                       {"C2": "conv2_block3_out", "C3": "conv3_block4_out", "C4": "conv4_block6_out",
                        "C5": "conv5_block3_out"}, "conv1_conv", {}),
    "keras_vgg16": ("VGG16", "vgg16", "caffe", _vgg(3), "block1_conv1", dict(ci="full")),
    "keras_vgg19": ("VGG19", "vgg19", "caffe", _vgg(4), "block1_conv1", {}),
    "keras_inception_v3": ("InceptionV3", "inception_v3", "tf",
                           {"C3": "mixed2", "C4": "mixed7", "C5": "mixed10"}, None,
                           dict(small_input=(75, 75, 3))),
    "xception": ("Xception", "xception", "tf",
                 {"C2": "block3_sepconv2_bn", "C3": "block4_sepconv2_bn", "C4": "block13_sepconv2_bn",
                  "C5": "block14_sepconv2_act"}, None, dict(small_input=(71, 71, 3))),
    "densenet121": ("DenseNet121", "densenet", "torch",
                    {"C2": "pool2_relu", "C3": "pool3_relu", "C4": "pool4_relu", "C5": "relu"}, None, {}),
    # C5: the Keras output, after the final layer norm (its weights are part of the no-top file)
    "convnext_tiny": ("ConvNeXtTiny", "convnext", "builtin",
                      {**_convnext("convnext_tiny", (3, 3, 9, 3)), "C5": None}, None, {}),
}
_WIDTH_MULTIPLIER = ("MobileNetV2", "MobileNetV3Small", "MobileNetV3Large")


def preprocessing_meta(arch: str) -> dict | None:
    """What the model does to its [0, 1] RGB input before the backbone (meta.json), or None.

    Example:
        >>> preprocessing_meta("mobilenet_v2")["mode"]
        'tf'
        >>> preprocessing_meta("lenet5") is None
        True
    """
    from visiontk.catalog import populate

    populate()
    if arch not in ARCHITECTURES:
        return None
    entry = ARCHITECTURES.entry(arch)
    if entry.meta.get("family") != "applications":
        return None
    keras_class, module, mode, _, first_conv, _ = APPS[entry.name]
    scale, offset = PREPROCESSING[mode]
    flip = f" (RGB order: {first_conv} kernel flipped from Keras' BGR)" if first_conv else ""
    return {"in_model": True, "layer": "preprocess", "mode": mode, "input": "RGB float32 in [0, 1]",
            "scale": scale, "offset": offset,
            "equals": f"keras.applications.{module}.preprocess_input on 255 * x{flip}",
            "keras_model": keras_class}


def _scale_offset(mode: str, channels: int):
    scale, offset = PREPROCESSING[mode]

    def fit(v):      # per-channel values for RGB; their mean for other channel counts
        if isinstance(v, tuple) and channels != 3:
            return sum(v) / len(v)
        return list(v) if isinstance(v, tuple) else v

    return fit(scale), fit(offset)


def _keras_cache_dir() -> Path:
    """Where keras.utils.get_file keeps downloads ($KERAS_HOME or ~/.keras)."""
    from keras.src.backend import config

    return Path(os.environ.get("KERAS_HOME") or config.keras_home()).expanduser()


def _reachable(host: str, timeout: float) -> bool:
    """True when a TCP connection to host:443 opens within `timeout` seconds (DNS included)."""
    import socket
    import threading

    ok = []

    def probe():
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            ok.append(True)
        except Exception:  # noqa: BLE001  (OSError, or anything a patched socket raises: offline)
            pass

    t = threading.Thread(target=probe, daemon=True)    # a thread: getaddrinfo ignores timeouts
    t.start()
    t.join(timeout)
    return bool(ok)


@contextlib.contextmanager
def _offline_safe_downloads(arch: str):
    """Route keras.applications' weight downloads through the cache; fail fast without network."""
    import inspect
    from urllib.parse import urlparse

    from keras.src.utils import file_utils

    original = file_utils.get_file
    sig = inspect.signature(original)

    def get_file(*args, **kwargs):
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        a = bound.arguments
        cache = Path(a["cache_dir"]).expanduser() if a["cache_dir"] else _keras_cache_dir()
        target = cache / a["cache_subdir"] / a["fname"]
        if target.is_file():       # a file the user put there is trusted (no hash check)
            return str(target)
        host = urlparse(a["origin"]).hostname or "storage.googleapis.com"
        if not _reachable(host, OFFLINE_PROBE_SECONDS):
            raise ModelError(f"model.backbone.weights: imagenet weights of '{arch}' are not in the Keras "
                             f"cache and {host} cannot be reached; download {a['origin']} to {target} "
                             f"(or set KERAS_HOME), or use weights: none")
        a["cache_dir"] = str(cache)
        return original(**a)

    file_utils.get_file = get_file
    try:
        yield
    finally:
        file_utils.get_file = original


def _weights_source(weights, arch: str):
    """(what keras.applications gets, a visiontk .weights.h5 path to load afterwards or None)."""
    if weights in (None, "none"):
        return None, None
    if weights == "imagenet":
        return "imagenet", None
    p = Path(str(weights)).expanduser()
    if not p.is_file():
        raise ModelError(f"model.backbone.weights: weights file not found: {p} (use imagenet, none or "
                         f"a .weights.h5 file)")
    if p.name.endswith(".weights.h5"):
        return None, p
    if p.suffix in (".h5", ".hdf5"):
        return str(p), None
    raise ModelError(f"model.backbone.weights: {p} is not a .weights.h5 (visiontk / Keras 3) or .h5 "
                     f"(keras.applications download) file; architecture '{arch}'")


def build_application(input_shape=(224, 224, 3), *, app, include_top=True, num_classes=1000,
                      name="backbone", weights="none", alpha=None, bn_momentum=None):
    """A keras.applications network behind visiontk's [0, 1] input (see the module docstring).

    Args:
        input_shape: (H, W, C) of the [0, 1] RGB input.
        app: the APPS key (set by the registry variant).
        include_top: the Keras network with its own classifier (softmax over num_classes); else
            a feature extractor whose outputs are C2..C5.
        weights: "none", "imagenet", a .weights.h5 file of this backbone or a Keras .h5 file.
        alpha: width multiplier (MobileNets only).
        bn_momentum: momentum of every batch normalization layer instead of Keras' (0.999 in the
            MobileNets, 0.99 or 0.9 elsewhere). For training from scratch in short runs: at 0.999 the
            moving statistics of the first thousand steps are still mostly their initial values, so
            inference (validation) can sit at chance while training accuracy rises.

    Example:
        >>> from visiontk.catalog import ARCHITECTURES
        >>> m = ARCHITECTURES.get("mobilenet_v2")((64, 64, 3), include_top=False)  # doctest: +SKIP
        >>> {k: v.shape for k, v in m.output.items()}["C5"]  # doctest: +SKIP
        (None, 2, 2, 1280)
    """
    import keras
    from keras import layers

    from visiontk.architectures._blocks import image_input

    keras_class, _, mode, features, first_conv, _ = APPS[app]
    kw = {}
    if alpha is not None:
        if keras_class not in _WIDTH_MULTIPLIER:
            raise ModelError(f"model.backbone.params.alpha: applies to the MobileNets, not '{app}'")
        kw["alpha"] = alpha
    number = isinstance(bn_momentum, (int, float)) and not isinstance(bn_momentum, bool)
    if bn_momentum is not None and not (number and 0.0 <= bn_momentum < 1.0):
        raise ModelError(f"model.backbone.params.bn_momentum: {bn_momentum!r} is not a number in [0, 1) "
                         f"(0.9 suits training from scratch; leave it unset for Keras' own)")
    keras_weights, own_file = _weights_source(weights, app)
    inputs = image_input(input_shape)
    scale, offset = _scale_offset(mode, input_shape[-1])
    x = layers.Rescaling(scale, offset, name="preprocess")(inputs)
    if include_top:
        kw.update(classes=num_classes, classifier_activation="softmax")
    builder = getattr(keras.applications, keras_class)
    with _offline_safe_downloads(app):
        try:
            # input_shape too: without it Keras warns about the input size whatever it is
            net = builder(include_top=include_top, weights=keras_weights, input_tensor=x,
                          input_shape=tuple(input_shape), **kw)
        except (OSError, KeyError) as exc:      # h5py on a foreign or truncated .h5 file
            raise ModelError(f"model.backbone.weights: {weights} does not fit '{app}' "
                             f"({type(exc).__name__}: {str(exc).splitlines()[0][:160]})") from None
    if bn_momentum is not None:
        for layer in net.layers:
            if isinstance(layer, layers.BatchNormalization):
                layer.momentum = float(bn_momentum)
    if keras_weights is not None and first_conv and input_shape[-1] == 3:
        conv = net.get_layer(first_conv)        # Keras' weights read BGR; this model is fed RGB
        conv.kernel.assign(keras.ops.flip(conv.kernel, axis=2))
    if include_top:
        model = keras.Model(inputs, net.output, name=name)
    else:
        model = keras.Model(inputs, {k: (net.output if v is None else net.get_layer(v).output)
                                     for k, v in features.items()}, name=name)
    if own_file is not None:
        from visiontk.model_files import load_weights_file

        load_weights_file(model, str(own_file), "model.backbone.weights")
    return model


for _name, (_cls, _module, _mode, _feats, _conv, _extra) in APPS.items():
    _alias = _cls.lower()
    ARCHITECTURES.add(_name, build_application, variant=dict(app=_name),
                      aliases=() if _alias in ("vgg16", "vgg19", "inceptionv3", "resnet50") or _alias == _name
                      else (_alias,),
                      family="applications", pretrained=True, preprocessing=_mode, keras=_cls,
                      small_kwargs=dict(alpha=0.35) if _cls in _WIDTH_MULTIPLIER else {},
                      **{"ci": "build", **_extra})
