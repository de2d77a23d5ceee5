"""Identity-aware sampling for metric learning in tf.data: P x K batches (P identities, K images
each) for the batch triplet losses, and generated pairs (with a chosen share of same-identity pairs)
and triplets for the Siamese pair / triplet models.

Every identity gets its own pipeline (decode and resize once, cache, shuffle, repeat) and a seeded
stream of identity choices picks which one gives the next image (`choose_from_datasets`), so the
batches are deterministic from the recipe seed and never run dry. Identities with fewer than two
training images cannot form a positive pair and are left out of the sampling.

Sharded (`shard=(n, k)`, multi-worker training): every pipeline draws the same global schedule (the
identities of each global batch of `train.batch_size`, or its pairs / triplets) from the seed and
keeps its k-th n-th of every global batch, cut into batches of `batch_size` (the per-replica
batch). A replica's P x K batch holds whole identities (P = per-replica batch / K), and one step's
batches of all replicas together hold the global batch's identities. Which images of an identity
come next is shuffled per pipeline (seeded by the shard), so workers do not repeat each other.
"""

from __future__ import annotations

import numpy as np

from visiontk.data.base import SplitData
from visiontk.errors import DataError, RecipeError


def subset(data: SplitData, index) -> SplitData:
    """The rows `index` of a split (images as an array or a file list)."""
    index = np.asarray(index, np.int64)
    if isinstance(data.images, np.ndarray):
        images = data.images[index]
    else:
        images = [data.images[i] for i in index]
    ann = {k: np.asarray(v)[index] for k, v in data.annotations.items()}
    files = [data.files[i] for i in index] if data.files is not None else None
    return SplitData(images, ann, files)


def identity_groups(identities, min_images: int = 2) -> dict[int, np.ndarray]:
    """{identity: row indices} for identities with at least `min_images` rows (sorted by id).

    Example:
        >>> {k: v.tolist() for k, v in identity_groups(np.array([3, 1, 3, 2, 1])).items()}
        {1: [1, 4], 3: [0, 2]}
    """
    identities = np.asarray(identities)
    values, inverse, counts = np.unique(identities, return_inverse=True, return_counts=True)
    return {int(v): np.flatnonzero(inverse == i) for i, v in enumerate(values) if counts[i] >= min_images}


def _groups_or_error(data: SplitData, need: int, what: str) -> dict:
    if "identity" not in data.annotations:
        raise DataError("metric learning needs the `identity` annotation; this data source gives "
                        f"{', '.join(data.annotations) or 'none'}")
    groups = identity_groups(data.annotations["identity"])
    if len(groups) < need:
        raise DataError(f"{what} needs at least {need} training identities with two or more images; "
                        f"the training split has {len(groups)} (of "
                        f"{len(np.unique(data.annotations['identity']))} identities); add data or "
                        f"lower train.batch_size / raise model.head.images_per_identity")
    return groups


def _identity_pipelines(data: SplitData, groups: dict, recipe, keys, seed: int, augment):
    """One endless, shuffled, cached (image, annotation) dataset per identity."""
    import tensorflow as tf

    from visiontk.data.pipeline import source_dataset

    out = []
    for n, rows in enumerate(groups.values()):
        ds = source_dataset(subset(data, rows), input_shape=recipe.model.input_shape,
                            resize=recipe.data.resize, keys=keys)
        if recipe.data.cache:
            ds = ds.cache()
        ds = ds.shuffle(len(rows), seed=seed + 7919 * n, reshuffle_each_iteration=True).repeat()
        if augment is not None:
            ds = ds.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
        out.append(ds)
    return out


SHARD_SEED_STEP = 1_000_003       # shard k's per-identity shuffles: seed + k x this (k = 0: unsharded)


def _sharding(recipe, batch_size, shard):
    """(global batch, this pipeline's batch, (shards, index), seed offset of its image shuffles)."""
    n, k = shard if shard is not None else (1, 0)
    global_batch = recipe.train.batch_size
    return global_batch, batch_size or global_batch, (n, k), SHARD_SEED_STEP * k


def _part(stream, global_batch: int, shard: tuple[int, int]):
    """This pipeline's part of a stream of per-example draws: of every `global_batch` consecutive
    draws (one global batch), the k-th n-th."""
    n, k = shard
    if n == 1:
        return stream
    lo, hi = k * global_batch // n, (k + 1) * global_batch // n

    def cut(*columns):
        parts = tuple(c[lo:hi] for c in columns)
        return parts if len(parts) > 1 else parts[0]

    return stream.batch(global_batch, drop_remainder=True).map(cut).unbatch()


def _finish(ds, batch_size: int, sharded: bool):
    import tensorflow as tf

    ds = ds.batch(batch_size, drop_remainder=True, num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = True
    # sharded here by hand; else DATA keeps Mirrored's split of a global batch
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.OFF if sharded else tf.data.experimental.AutoShardPolicy.DATA)
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def _augment(recipe, geometry):
    from visiontk.data.augment import make_augment

    return make_augment(recipe.data.augment, geometry, recipe.seed)


def pk_dataset(data: SplitData, task, recipe, *, images_per_identity: int, seed: int | None = None,
               batch_size: int | None = None, shard: tuple[int, int] | None = None):
    """Endless batches of P x K encoded examples: P distinct identities drawn at random, then K
    images of each, consecutive (`task.encode` makes (x, y) of each). Unsharded, a batch is
    `train.batch_size` = P x K; with `shard` (multi-worker), each global batch of `train.batch_size`
    is drawn as on one device and this pipeline's part of it comes in batches of `batch_size` (the
    per-replica batch), each P x K of its own (module docstring).

    Example:
        >>> ds = pk_dataset(train_split, task, recipe, images_per_identity=4)   # doctest: +SKIP
        >>> images, identities = next(iter(ds))   # doctest: +SKIP
    """
    import tensorflow as tf

    k = images_per_identity
    b, local_batch, shard, offset = _sharding(recipe, batch_size, shard)
    if b % k:
        raise RecipeError(f"train.batch_size ({b}) must be a multiple of model.head.images_per_identity "
                          f"({k}): a batch is P identities x K images")
    if local_batch % k:
        raise RecipeError(f"train.batch_size ({b}) over the replicas gives batches of {local_batch} "
                          f"images, not a multiple of model.head.images_per_identity ({k}): each "
                          f"replica's batch is P identities x K images; use a batch size of replicas "
                          f"x a multiple of {k}")
    p = b // k
    seed = recipe.seed if seed is None else seed
    groups = _groups_or_error(data, p, f"a batch of {p} identities x {k} images")
    keys = set(task.needs) | set(task.geometry)
    per_id = _identity_pipelines(data, groups, recipe, keys, seed + offset,
                                 _augment(recipe, task.geometry))
    n_ids = len(per_id)

    def pick(r):
        noise = tf.random.stateless_uniform([n_ids], seed=tf.stack([r, tf.cast(seed, tf.int64)]))
        chosen = tf.argsort(noise)[:p]
        return tf.data.Dataset.from_tensor_slices(tf.cast(tf.repeat(chosen, k), tf.int64))

    choice = _part(tf.data.Dataset.random(seed=seed).flat_map(pick), b, shard)
    ds = tf.data.Dataset.choose_from_datasets(per_id, choice)
    ds = ds.map(task.encode, num_parallel_calls=tf.data.AUTOTUNE)
    return _finish(ds, local_batch, shard[0] > 1)


def pair_dataset(data: SplitData, recipe, *, positive_fraction: float = 0.5, geometry=(),
                 seed: int | None = None, batch_size: int | None = None,
                 shard: tuple[int, int] | None = None):
    """Endless batches of ({"image_a", "image_b"}, same) with `same` = 1.0 for a same-identity pair
    (drawn with probability `positive_fraction`) and 0.0 for a pair of two other identities. With
    `shard`, this pipeline's part of the global batches' pairs, in batches of `batch_size`.

    Example:
        >>> ds = pair_dataset(train_split, recipe, positive_fraction=0.5)   # doctest: +SKIP
        >>> (x, same), = ds.take(1); x["image_a"].shape, same.shape        # doctest: +SKIP
    """
    import tensorflow as tf

    b, local_batch, shard, offset = _sharding(recipe, batch_size, shard)
    seed = recipe.seed if seed is None else seed
    groups = _groups_or_error(data, 2, "pair generation")
    n_ids = len(groups)
    aug = _augment(recipe, geometry)
    side_a = _identity_pipelines(data, groups, recipe, {"identity"}, seed + offset, aug)
    side_b = _identity_pipelines(data, groups, recipe, {"identity"}, seed + offset + 1, aug)

    def draw(r):
        u = tf.random.stateless_uniform([3], seed=tf.stack([r, tf.cast(seed, tf.int64)]))
        same = u[0] < positive_fraction
        a = tf.minimum(tf.cast(u[1] * n_ids, tf.int64), n_ids - 1)
        other = (a + 1 + tf.minimum(tf.cast(u[2] * (n_ids - 1), tf.int64), n_ids - 2)) % n_ids
        return a, tf.where(same, a, other), tf.cast(same, tf.float32)

    plan = _part(tf.data.Dataset.random(seed=seed).map(draw), b, shard)
    ds_a = tf.data.Dataset.choose_from_datasets(side_a, plan.map(lambda a, b, s: a))
    ds_b = tf.data.Dataset.choose_from_datasets(side_b, plan.map(lambda a, b, s: b))
    ds = tf.data.Dataset.zip(ds_a, ds_b, plan.map(lambda a, b, s: s)).map(
        lambda ea, eb, s: ({"image_a": ea[0], "image_b": eb[0]}, s),
        num_parallel_calls=tf.data.AUTOTUNE)
    return _finish(ds, local_batch, shard[0] > 1)


def triplet_dataset(data: SplitData, recipe, *, geometry=(), seed: int | None = None,
                    batch_size: int | None = None, shard: tuple[int, int] | None = None):
    """Endless batches of ({"anchor", "positive", "negative"}, 0): anchor and positive of one
    identity, the negative of another, identities drawn uniformly. With `shard`, this pipeline's
    part of the global batches' triplets, in batches of `batch_size`.

    Example:
        >>> ds = triplet_dataset(train_split, recipe)                         # doctest: +SKIP
    """
    import tensorflow as tf

    b, local_batch, shard, offset = _sharding(recipe, batch_size, shard)
    seed = recipe.seed if seed is None else seed
    groups = _groups_or_error(data, 2, "triplet generation")
    n_ids = len(groups)
    aug = _augment(recipe, geometry)
    sides = [_identity_pipelines(data, groups, recipe, {"identity"}, seed + offset + s, aug)
             for s in range(3)]

    def draw(r):
        u = tf.random.stateless_uniform([2], seed=tf.stack([r, tf.cast(seed, tf.int64)]))
        a = tf.minimum(tf.cast(u[0] * n_ids, tf.int64), n_ids - 1)
        neg = (a + 1 + tf.minimum(tf.cast(u[1] * (n_ids - 1), tf.int64), n_ids - 2)) % n_ids
        return a, neg

    plan = _part(tf.data.Dataset.random(seed=seed).map(draw), b, shard)
    anchor = tf.data.Dataset.choose_from_datasets(sides[0], plan.map(lambda a, n: a))
    positive = tf.data.Dataset.choose_from_datasets(sides[1], plan.map(lambda a, n: a))
    negative = tf.data.Dataset.choose_from_datasets(sides[2], plan.map(lambda a, n: n))
    ds = tf.data.Dataset.zip(anchor, positive, negative).map(
        lambda ea, ep, en: ({"anchor": ea[0], "positive": ep[0], "negative": en[0]}, 0.0),
        num_parallel_calls=tf.data.AUTOTUNE)
    return _finish(ds, local_batch, shard[0] > 1)
