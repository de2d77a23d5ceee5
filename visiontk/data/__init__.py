"""Data: sources (registered by name), augmentation and the tf.data pipeline.

Every source yields images (float32 HxWxC in [0, 1] once in the pipeline) and one annotation schema:
`label` (int), `count` (float), `box` (4 floats, normalised x1, y1, x2, y2), `boxes` (M x 4,
normalised x1, y1, x2, y2, padded) + `classes` (M ints, -1 for padding), `mask` (H x W class
indices, 0 = background), `identity` (int).
"""
