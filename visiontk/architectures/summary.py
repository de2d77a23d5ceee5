"""Parameter counts of registered architectures (builds them: imports Keras)."""

from __future__ import annotations


def default_param_count(name: str) -> int:
    """Parameters of `name` built with its builder's default input shape and classes."""
    from visiontk.registries import ARCHITECTURES

    import keras

    model = ARCHITECTURES.get(name)()
    count = model.count_params()
    del model
    keras.backend.clear_session()
    return count
