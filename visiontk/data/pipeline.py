"""The tf.data pipeline: source arrays or files -> float images at the model's input size ->
(cache) -> shuffle -> (shard) -> mosaic / scale / mixup -> augment -> task.encode -> batch -> prefetch."""

from __future__ import annotations

import numpy as np

from visiontk.data.base import SplitData
from visiontk.errors import DataError

_CACHE_LIMIT_BYTES = 3 * 2**30    # cache decoded images in memory when they fit in this


def _load_file(channels):
    import tensorflow as tf

    def load(path, ann):
        raw = tf.io.read_file(path)
        img = tf.io.decode_image(raw, channels=3, expand_animations=False)
        img.set_shape([None, None, 3])
        return img, ann

    return load


def source_dataset(data: SplitData, *, input_shape, resize: str = "stretch", keys=None):
    """Unbatched (image float32 HxWxC in [0, 1] at `input_shape`, annotation dict) elements."""
    import tensorflow as tf

    h, w, c = input_shape
    ann = {k: np.asarray(v) for k, v in data.annotations.items() if keys is None or k in keys}
    if len(data) == 0:
        raise DataError("the split is empty: no images to train or evaluate on")
    if isinstance(data.images, np.ndarray):
        ds = tf.data.Dataset.from_tensor_slices((data.images, ann))
    else:
        ds = tf.data.Dataset.from_tensor_slices((np.array(data.images, dtype=str), ann))
        ds = ds.map(_load_file(c), num_parallel_calls=tf.data.AUTOTUNE)

    def prepare(image, a):
        if image.dtype == tf.uint8:
            image = tf.image.convert_image_dtype(image, tf.float32)
        image = tf.cast(image, tf.float32)
        if image.shape.rank == 2:
            image = image[..., None]
        if c == 1 and image.shape[-1] != 1:
            image = tf.image.rgb_to_grayscale(image)
        elif c == 3 and image.shape[-1] == 1:
            image = tf.image.grayscale_to_rgb(image)
        a = dict(a)
        same = image.shape[0] == h and image.shape[1] == w
        if not same:
            if resize == "pad":
                image, a = _letterbox(image, a, h, w)
            else:
                image = tf.image.resize(image, (h, w), antialias=True)
                if "mask" in a:
                    a["mask"] = tf.cast(tf.image.resize(a["mask"][..., None], (h, w),
                                                        method="nearest")[..., 0], a["mask"].dtype)
        image = tf.ensure_shape(tf.clip_by_value(image, 0.0, 1.0), (h, w, c))
        return image, a

    return ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)


def _letterbox(image, a, h, w):
    """Keep the aspect ratio, pad with zeros; boxes and masks follow."""
    import tensorflow as tf

    ih, iw = tf.cast(tf.shape(image)[0], tf.float32), tf.cast(tf.shape(image)[1], tf.float32)
    scale = tf.minimum(h / ih, w / iw)
    nh, nw = tf.round(ih * scale), tf.round(iw * scale)
    top, left = tf.floor((h - nh) / 2), tf.floor((w - nw) / 2)
    image = tf.image.resize_with_pad(image, h, w, antialias=True)
    sx, sy = nw / w, nh / h
    ox, oy = left / w, top / h
    for key in ("box", "boxes"):
        if key in a:
            b = a[key]
            a[key] = tf.stack([b[..., 0] * sx + ox, b[..., 1] * sy + oy,
                               b[..., 2] * sx + ox, b[..., 3] * sy + oy], -1)
    if "mask" in a:
        m = tf.image.resize_with_pad(tf.cast(a["mask"][..., None], tf.float32), h, w,
                                     method="nearest")
        a["mask"] = tf.cast(m[..., 0], a["mask"].dtype)
    return image, a


def _fits_cache(data: SplitData, input_shape) -> bool:
    return len(data) * int(np.prod(input_shape)) * 4 <= _CACHE_LIMIT_BYTES


def build_dataset(data: SplitData, task, recipe, *, training: bool, batch_size: int | None = None,
                  encode: bool = True, shard: tuple[int, int] | None = None):
    """Batched dataset for fit (encoded) or evaluation (`encode=False`: raw annotations kept).

    Args:
        shard: (number of input pipelines, this pipeline's index) for multi-worker training, with
            `batch_size` the per-replica batch. In-memory data is sharded after the (identically
            seeded) shuffle, so the workers' batches of one step together are exactly the global
            batch a single device would see (DATA policy); file lists are sharded before decoding,
            so each worker reads only its files (FILE policy).
    """
    import tensorflow as tf

    from visiontk.data.augment import make_augment
    from visiontk.data.box_augment import box_augment_dataset

    keys = task.annotation_keys()
    batch_size = batch_size or recipe.train.batch_size
    n_shards = shard[0] if shard else 1
    if training and len(data) < batch_size * n_shards:
        raise DataError(f"the training split has {len(data)} images, fewer than one batch "
                        f"(train.batch_size={batch_size * n_shards}); lower the batch size or add data")
    by_file = shard is not None and n_shards > 1 and not isinstance(data.images, np.ndarray)
    if by_file:
        data = SplitData([p for i, p in enumerate(data.images) if i % n_shards == shard[1]],
                         {k: np.asarray(v)[shard[1]::n_shards] for k, v in data.annotations.items()})
    ds = source_dataset(data, input_shape=recipe.model.input_shape, resize=recipe.data.resize,
                        keys=keys)
    if recipe.data.cache and _fits_cache(data, recipe.model.input_shape):
        ds = ds.cache()
    if training:
        ds = ds.shuffle(min(recipe.data.shuffle_buffer, len(data)), seed=recipe.seed,
                        reshuffle_each_iteration=True)
    if shard is not None and n_shards > 1 and not by_file:
        ds = ds.shard(n_shards, shard[1])
    if training:     # detection: images combined in groups of this pipeline's (shard's) images
        ds = box_augment_dataset(ds, recipe.data.augment, recipe.model.input_shape, recipe.seed)
    aug = make_augment(recipe.data.augment, task.geometry, recipe.seed) if training else None
    # tasks whose encode takes batches get augmentation and encoding once per batch (per-example
    # maps cost ~25-50 us of CPU an image, a large share of the step for small models)
    by_batch = encode and getattr(task, "encodes_batches", False)
    if not by_batch:
        if aug is not None:
            ds = ds.map(aug, num_parallel_calls=tf.data.AUTOTUNE)
        if encode:
            ds = ds.map(task.encode, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=training,
                  num_parallel_calls=tf.data.AUTOTUNE)
    if by_batch:
        ds = ds.map(lambda x, a: task.encode(*(aug(x, a) if aug is not None else (x, a))),
                    num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    # sharded here by hand when `shard` is given; DATA keeps Mirrored's split of a global batch
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.OFF if shard else tf.data.experimental.AutoShardPolicy.DATA)
    options.deterministic = True
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def numpy_batches(dataset):
    """(images, {annotation: array}) numpy batches of an unencoded dataset (build_dataset(...,
    encode=False)), for the tasks' numpy evaluation."""
    for images, ann in dataset:
        yield images.numpy(), {k: v.numpy() for k, v in ann.items()}
