"""Architecture builders, one module per family; each registers in ARCHITECTURES.

Contract: `build(input_shape, *, include_top=True, num_classes=1000, name=..., **variant)` returns a
functional keras.Model. With include_top=True it is the paper's network; with include_top=False its
outputs are a dict of named feature maps, ordered shallow to deep, that any task head can use.
Modules here import Keras inside the builders only (listing names must not start TensorFlow).
"""
