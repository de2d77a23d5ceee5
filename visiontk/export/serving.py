"""The one function every format is written from: `image` (dynamic batch, float32) -> named outputs.

Every format's writer (visiontk/export/formats/) starts from the same tf.function, so the formats cannot
disagree on input name, output names or training flags: `model(image, training=False)` (dropout and
noise layers off), float32 throughout (a mixed-precision model is rebuilt in float32 first).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

from visiontk.errors import ExportError

_MIXED = ("mixed_float16", "mixed_bfloat16")


@dataclass
class Serving:
    """A float32 Keras model and its serving function, with the output layout metadata records."""

    model: object                 # the float32 keras.Model
    fn: object                    # tf.function(image) -> {name: tensor}
    signature: object             # tf.TensorSpec of `image`
    structure: str                # "tensor" | "list" | "dict": what model(x) returns
    names: list                   # output names, in order

    @property
    def outputs_meta(self) -> dict:
        return {"structure": self.structure, "names": list(self.names)}


def _float32_config(obj):
    """A copy of a serialised model with every mixed-precision policy replaced by float32."""
    if isinstance(obj, dict):
        if obj.get("class_name") in ("DTypePolicy", "FloatDTypePolicy") and \
                obj.get("config", {}).get("name") in _MIXED:
            obj = copy.deepcopy(obj)
            obj["config"]["name"] = "float32"
            return obj
        return {k: (("float32" if v in _MIXED + ("float16", "bfloat16") else v) if k == "dtype"
                    and isinstance(v, str) else _float32_config(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_float32_config(v) for v in obj]
    return obj


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def float32_model(model):
    """`model` itself when it computes in float32; else the same network rebuilt in float32.

    Example:
        >>> float32_model(mixed_precision_model).layers[1].compute_dtype  # doctest: +SKIP
        'float32'
    """
    import keras

    if all(layer.dtype_policy.name not in _MIXED for layer in _all_layers(model)):
        return model
    config = _float32_config(keras.saving.serialize_keras_object(model))
    try:
        rebuilt = keras.saving.deserialize_keras_object(config, safe_mode=True)
        rebuilt.set_weights(model.get_weights())
    except Exception as exc:
        raise ExportError(f"cannot rebuild the mixed-precision model in float32 "
                          f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from None
    return rebuilt


def _clean(name: str, i: int) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", str(name).split("/")[0]) or f"output_{i}"
    return name if not name[0].isdigit() else f"output_{name}"


def output_layout(model) -> tuple[str, list]:
    """("tensor" | "list" | "dict", output names) of a Keras model's return value."""
    out = model.output
    if isinstance(out, dict):
        structure, names = "dict", list(out)
        bad = [n for n in names if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(n))]
        if bad:
            raise ExportError(f"model output key(s) {', '.join(map(repr, bad))} are not plain names "
                              f"(letters, digits, _); rename them in the task's build()")
        return structure, names
    elif isinstance(out, (list, tuple)):
        structure, names = "list", [_clean(n, i) for i, n in enumerate(model.output_names)]
    else:
        structure, names = "tensor", [_clean(model.output_names[0], 0)]
    if len(set(names)) != len(names):
        names = [f"output_{i}" for i in range(len(names))]
    return structure, names


def make_serving(model) -> Serving:
    """The serving function of a Keras model (float32, `image` input with a dynamic batch)."""
    import tensorflow as tf

    if len(model.inputs) != 1:
        raise ExportError(f"the model has {len(model.inputs)} inputs; an export needs one image input "
                          f"(the task's inference_model() must return a single-input model)")
    model = float32_model(model)
    structure, names = output_layout(model)
    shape = tuple(model.inputs[0].shape[1:])
    signature = tf.TensorSpec((None, *shape), tf.float32, name="image")

    def serve(image):
        out = model(image, training=False)
        if structure == "dict":
            flat = [out[k] for k in names]
        elif structure == "list":
            flat = list(out)
        else:
            flat = [out]
        return {n: tf.cast(t, tf.float32) if t.dtype in (tf.float16, tf.bfloat16) else t
                for n, t in zip(names, flat)}

    fn = tf.function(serve, input_signature=[signature])
    return Serving(model, fn, signature, structure, names)
