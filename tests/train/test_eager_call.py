"""Every task's model, called as `model(x)` without a `training` argument, is in inference mode:
it equals `model(x, training=False)`. Keras' preprocessing layers (`keras.layers.Resizing`) declare
`training=True` and put every layer after them in training mode (BatchNormalization on the batch's
statistics); the heads resize with `visiontk.layers.Resize` instead."""

from __future__ import annotations

import numpy as np
import pytest

from tests.tiny_recipes import all_recipes


@pytest.mark.parametrize("name", sorted(all_recipes()))
def test_model_called_plainly_is_in_inference_mode(name, tmp_path):
    import keras

    from visiontk.recipe import load_recipe
    from visiontk.train.session import prepare

    data = all_recipes()[name]
    data["output"] = str(tmp_path / "run")
    model = prepare(load_recipe(data=data)).model
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.BatchNormalization):        # stats far from a batch's
            layer.moving_mean.assign(np.full(layer.moving_mean.shape, 0.3, "float32"))
            layer.moving_variance.assign(np.full(layer.moving_variance.shape, 4.0, "float32"))
    shape = model.inputs[0].shape[1:]
    x = np.random.default_rng(0).uniform(0, 1, (4, *shape)).astype("float32")
    inputs = [x] if len(model.inputs) == 1 else [x, np.zeros((4,), "int32")]
    plain = keras.tree.flatten(model(inputs if len(inputs) > 1 else x))
    inference = keras.tree.flatten(model(inputs if len(inputs) > 1 else x, training=False))
    for a, b in zip(plain, inference):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)
