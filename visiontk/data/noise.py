"""Corruptions for denoising autoencoders (seeds 002, 004), applied inside tf.data only: a model never
holds a noise layer, so saved and exported models compute the same output for the same input.

Kinds (on float images in [0, 1], one image (H, W, C) or a batch (N, H, W, C)):
- `gaussian`: x + N(0, sigma^2) per pixel and channel;
- `salt_pepper`: a fraction `amount` of the pixels set to white (share `salt_ratio`) or black, all
  channels of a pixel together;
- `masking`: a fraction `amount` of the pixels set to 0 (masking / dropout noise, Vincent et al. 2008).

Several kinds are applied in the order given. With `seed` (two integers) the stateless TF ops are
used, so the same batch always gets the same noise (validation, evaluation); without it the noise is
new at every call (training).
"""

from __future__ import annotations

KINDS = ("none", "gaussian", "salt_pepper", "masking")


def noise_kinds(noise) -> list[str]:
    """The recipe's `noise` (a name or a list of names) as a list without "none".

    Example:
        >>> noise_kinds("gaussian"), noise_kinds(["masking", "gaussian"]), noise_kinds("none")
        (['gaussian'], ['masking', 'gaussian'], [])
    """
    kinds = [noise] if isinstance(noise, str) else list(noise)
    return [k for k in kinds if k != "none"]


def describe(noise, sigma: float, amount: float) -> str:
    """A short human description, e.g. 'gaussian sigma 0.3' (metrics.json, the sample grid)."""
    parts = []
    for kind in noise_kinds(noise):
        parts.append(f"gaussian sigma {sigma:g}" if kind == "gaussian" else f"{kind} {amount:g}")
    return " + ".join(parts) or "none"


def add_noise(images, noise, *, sigma: float = 0.3, amount: float = 0.2, salt_ratio: float = 0.5,
              clip: bool = True, seed=None):
    """Corrupted copy of `images` (tf float32 in [0, 1]); see the module docstring for the kinds.

    Args:
        images: (H, W, C) or (N, H, W, C) float tensor.
        noise: a kind or a list of kinds (KINDS).
        sigma: gaussian standard deviation, in units of the [0, 1] pixel range.
        amount: salt_pepper / masking: fraction of pixels hit.
        salt_ratio: salt_pepper: fraction of the hit pixels made white.
        clip: clip the result to [0, 1] (a real sensor saturates).
        seed: None (fresh noise, training) or a shape [2] int tensor / pair (fixed noise).

    Example:
        >>> import tensorflow as tf                                        # doctest: +SKIP
        >>> x = tf.fill((2, 8, 8, 1), 0.5)                                 # doctest: +SKIP
        >>> add_noise(x, "gaussian", sigma=0.1, seed=(0, 1)).shape         # doctest: +SKIP
        TensorShape([2, 8, 8, 1])
    """
    import tensorflow as tf

    x = tf.convert_to_tensor(images, tf.float32)
    kinds = noise_kinds(noise)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(f"unknown noise kind(s) {unknown}; choose from {', '.join(KINDS)}")
    shape = tf.shape(x)
    pixel_shape = tf.concat([shape[:-1], [1]], 0)        # one draw per pixel, shared by its channels
    base = None if seed is None else tf.cast(tf.convert_to_tensor(seed), tf.int32)

    def uniform(s, i):
        if base is None:
            return tf.random.uniform(s)
        return tf.random.stateless_uniform(s, seed=base + tf.constant([0, 7919], tf.int32) * i)

    def normal(s, i):
        if base is None:
            return tf.random.normal(s)
        return tf.random.stateless_normal(s, seed=base + tf.constant([0, 7919], tf.int32) * i)

    for i, kind in enumerate(kinds):
        step = 3 * i + 1                                 # distinct streams per kind and draw
        if kind == "gaussian":
            x = x + sigma * normal(shape, step)
        elif kind == "masking":
            x = x * tf.cast(uniform(pixel_shape, step) >= amount, tf.float32)
        elif kind == "salt_pepper":
            hit = uniform(pixel_shape, step) < amount
            salt = uniform(pixel_shape, step + 1) < salt_ratio
            x = tf.where(hit, tf.where(salt, tf.ones_like(x), tf.zeros_like(x)), x)
    if clip:
        x = tf.clip_by_value(x, 0.0, 1.0)
    return x
