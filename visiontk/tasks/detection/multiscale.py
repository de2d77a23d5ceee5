"""The multi-scale detector's Keras graph: backbone levels by stride -> FPN (+ PAN) neck -> a
decoupled box / class head per level -> in-graph decoding to (N, A, 4 + C)."""

from __future__ import annotations

import math

from visiontk.errors import ModelError

_BOX_BIAS = math.log(math.expm1(2.0))    # softplus(bias) = 2 strides to each edge at the start
_CLASS_PRIOR = 0.01                      # RetinaNet's prior: few anchors hold an object


def levels_by_stride(backbone, input_shape, strides) -> list[str]:
    """The backbone's feature names for each wanted stride (the deepest map of that stride)."""
    out = backbone.output
    if not isinstance(out, dict):
        raise ModelError("model.head.type multiscale needs a backbone with named feature maps "
                         "(include_top=False gives them); this one has a single output")
    h, w = input_shape[:2]
    by_stride, uneven = {}, []
    for name, t in out.items():              # shallow to deep: a later map of a stride wins
        if len(t.shape) == 4 and t.shape[1] and t.shape[2]:
            stride = h // t.shape[1]
            # the anchors (anchors_of) assume a map of exactly input / stride cells on both sides
            if stride * t.shape[1] == h and stride * t.shape[2] == w:
                by_stride[stride] = name
            else:
                uneven.append(f"{name} ({t.shape[1]} x {t.shape[2]})")
    missing = [s for s in strides if s not in by_stride]
    if missing:
        have = ", ".join(f"{by_stride[s]} (stride {s})" for s in sorted(by_stride)) or "none"
        odd = (f"; maps that do not divide the {h} x {w} input evenly: {', '.join(uneven)}"
               if uneven else "")
        raise ModelError(f"model.head.strides: backbone '{backbone.name}' has no feature map at "
                         f"stride {missing[0]} for a {h} x {w} px input; it has {have}{odd}; choose "
                         f"strides from those, an input size the backbone divides evenly, or "
                         f"another backbone")
    return [by_stride[s] for s in strides]


def conv_bn_silu(x, filters: int, kernel: int, *, name: str, strides: int = 1):
    from keras import layers

    from visiontk.architectures._blocks import BN_MOMENTUM

    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False,
                      kernel_initializer="he_normal", name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.Activation("silu", name=f"{name}_silu")(x)


def _merge(a, b, filters: int, name: str):
    """concat -> 1x1 -> 3x3: the neck's fusion block (a light C2f)."""
    from keras import layers

    x = layers.Concatenate(name=f"{name}_cat")([a, b])
    x = conv_bn_silu(x, filters, 1, name=f"{name}_reduce")
    return conv_bn_silu(x, filters, 3, name=f"{name}_fuse")


def neck(features: list, cfg) -> list:
    """FPN top-down (+ PAN bottom-up) over maps ordered shallow to deep; same width everywhere."""
    from keras import layers

    f = cfg.neck_filters
    lateral = [conv_bn_silu(x, f, 1, name=f"neck_lateral{i}") for i, x in enumerate(features)]
    top_down = [lateral[-1]]
    for i in range(len(features) - 2, -1, -1):
        up = layers.UpSampling2D(2, name=f"neck_up{i}")(top_down[0])
        top_down.insert(0, _merge(up, lateral[i], f, f"neck_td{i}"))
    if cfg.neck == "fpn":
        return top_down
    out = [top_down[0]]
    for i in range(1, len(features)):
        down = conv_bn_silu(out[-1], f, 3, strides=2, name=f"neck_down{i}")
        out.append(_merge(down, top_down[i], f, f"neck_bu{i}"))
    return out


def head(x, num_classes: int, stride: int, image_size, cfg, level: int):
    """Decoupled branches (box, class) on one level -> LevelBoxes (N, h*w, 4 + C)."""
    import keras
    from keras import layers

    from visiontk.tasks.detection.layers import LevelBoxes

    box, cls = x, x
    for j in range(cfg.convs):
        box = conv_bn_silu(box, cfg.filters, 3, name=f"head{level}_box{j + 1}")
        cls = conv_bn_silu(cls, cfg.filters, 3, name=f"head{level}_cls{j + 1}")
    small = keras.initializers.RandomNormal(stddev=0.01)      # outputs start at their biases
    box = layers.Conv2D(4, 1, dtype="float32", name=f"head{level}_box_out", kernel_initializer=small,
                        bias_initializer=keras.initializers.Constant(_BOX_BIAS))(box)
    bias = -math.log((1 - _CLASS_PRIOR) / _CLASS_PRIOR)
    cls = layers.Conv2D(num_classes, 1, dtype="float32", name=f"head{level}_cls_out",
                        kernel_initializer=small, bias_initializer=keras.initializers.Constant(bias))(cls)
    return LevelBoxes(stride, image_size, name=f"head{level}_decode")([box, cls])


def build_multiscale(backbone, input_shape, num_classes: int, cfg, dropout=None):
    """The whole detector: image -> (N, A, 4 + C), A = sum over levels of (H/s) * (W/s)."""
    import keras
    from keras import layers

    strides = list(cfg.strides)
    if strides != sorted(set(strides)) or any(b != 2 * a for a, b in zip(strides, strides[1:])):
        raise ModelError(f"model.head.strides must double from level to level (e.g. [8, 16, 32]), "
                         f"got {strides}")
    h, w = input_shape[:2]
    if h % strides[-1] or w % strides[-1]:
        raise ModelError(f"model.input_shape {h} x {w}: the multiscale head needs sides divisible "
                         f"by its largest stride ({strides[-1]}); e.g. {strides[-1] * max(1, round(h / strides[-1]))}")
    names = levels_by_stride(backbone, input_shape, strides)
    trimmed = keras.Model(backbone.inputs, {n: backbone.output[n] for n in names}, name=backbone.name)
    inputs = keras.Input(input_shape, name="image")
    feats = trimmed(inputs)
    maps = neck([feats[n] for n in names], cfg)
    if dropout:
        maps = [layers.Dropout(dropout, name=f"head_dropout{i}")(m) for i, m in enumerate(maps)]
    outs = [head(m, num_classes, s, (h, w), cfg, i) for i, (m, s) in enumerate(zip(maps, strides))]
    out = layers.Concatenate(axis=1, dtype="float32", name="detections")(outs)
    return keras.Model(inputs, out, name="detector")


def anchors_of(input_shape, strides):
    """Every anchor of the model, in output order: centres (A, 2) and strides (A, 2) normalised."""
    import numpy as np

    from visiontk.tasks.detection.layers import anchor_centres

    h, w = input_shape[:2]
    centres, sizes = [], []
    for s in strides:
        c = anchor_centres(h // s, w // s, s, h, w)
        centres.append(c)
        sizes.append(np.tile(np.array([[s / w, s / h]], np.float32), (len(c), 1)))
    return np.concatenate(centres), np.concatenate(sizes)
