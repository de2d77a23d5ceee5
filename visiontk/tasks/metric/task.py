"""Metric learning (seeds 000, 002): any backbone -> projection -> L2-normalised embedding, trained so
that images of one identity lie close; used to recognise identities never seen in training.

Losses (`model.head.loss`): `triplet_semihard` (FaceNet), `triplet_hard` and `triplet_batch_all` on
P x K batches; `contrastive` on generated pairs (Siamese pair model) and `triplet` on generated
triplets (three-branch model); `center` (softmax cross-entropy + lambda x centre loss, centres moved
by seed 002's rule) and plain `softmax`, both on the identities' logits. Whatever the loss, the saved
model is the embedder: input `image`, output the (B, embedding_size) unit vectors.

Identities for training vs evaluation: `train_identities` (or `heldout_identities`) keeps training
on some identities; evaluation scores the seen and the held-out ones apart.
"""

from __future__ import annotations

import numpy as np

from visiontk.errors import DataError
from visiontk.catalog import TASKS
from visiontk.runtime import metric as runtime
from visiontk.tasks.base import EvalContext, Evaluation, InputContext, Task, pick_feature
from visiontk.tasks.metric.config import BATCH_LOSSES, MetricHead


@TASKS.register("metric", aliases=("embedding", "siamese"))
class Metric(Task):
    name = "metric"
    Config = MetricHead
    needs = ("identity",)
    monitor = ("val_recall@1", "max")
    metric_modes = {"recall@1": "max", "map@r": "max", "accuracy": "max"}
    summary_metrics = ("recall@1", "knn_accuracy")
    runtime = runtime

    def __init__(self, cfg, info, recipe=None):
        super().__init__(cfg, info, recipe)
        self._train_data = None

    # ---- identities ------------------------------------------------------------------------------
    def universe(self) -> int:
        """How many identity numbers the source may give (0 .. n-1)."""
        return int(self.info.extra.get("identities") or self.info.num_classes)

    def seen_mask(self, identities) -> np.ndarray:
        """True for the identities the model trains on."""
        ids = np.asarray(identities)
        if self.cfg.train_identities is not None:
            return np.isin(ids, self.cfg.train_identities)
        if self.cfg.heldout_identities is not None:
            return ~np.isin(ids, self.cfg.heldout_identities)
        return np.ones(len(ids), bool)

    def class_ids(self) -> list[int]:
        """Identities of the softmax / centre-loss classes, in logit order."""
        if self.cfg.train_identities is not None:
            return sorted(self.cfg.train_identities)
        held = set(self.cfg.heldout_identities or ())
        return [i for i in range(self.universe()) if i not in held]

    def identity_names(self) -> dict:
        names = self.info.class_names
        return {i: names[i] for i in range(len(names))} if self.universe() <= len(names) else {}

    # ---- model -----------------------------------------------------------------------------------
    def _embed(self, backbone, image, dropout):
        """(pre-normalisation projection, unit embedding) tensors for `image`."""
        from keras import layers

        x = pick_feature(backbone(image), self.recipe.model.feature if self.recipe else None)
        if len(x.shape) == 4:
            x = layers.GlobalAveragePooling2D(name="head_pool")(x)
        if self.cfg.hidden:
            x = layers.Dense(self.cfg.hidden, activation="relu", name="head_hidden")(x)
        if dropout:
            x = layers.Dropout(dropout, name="head_dropout")(x)
        features = layers.Dense(self.cfg.embedding_size, dtype="float32", name="projection")(x)
        return features, layers.UnitNormalization(dtype="float32", name="embedding")(features)

    def build(self, backbone, dropout=None):
        import keras
        from keras import layers

        from visiontk.tasks.metric.layers import ClassCenters, PairDistance

        shape = self.info.input_shape
        image = keras.Input(shape, name="image")
        features, embedding = self._embed(backbone, image, dropout)
        loss = self.cfg.loss
        if loss in BATCH_LOSSES:
            return keras.Model(image, embedding, name="embedder")
        if loss in ("contrastive", "triplet"):
            embedder = keras.Model(image, embedding, name="embedder")
            names = ("image_a", "image_b") if loss == "contrastive" else ("anchor", "positive", "negative")
            inputs = {n: keras.Input(shape, name=n) for n in names}
            embs = [embedder(inputs[n]) for n in names]
            if loss == "contrastive":
                out = PairDistance(self.cfg.distance, name="distance")(embs)
            else:
                d = self.cfg.embedding_size
                out = layers.Concatenate(axis=1, name="triplet")(
                    [layers.Reshape((1, d), name=f"{n}_row")(e) for n, e in zip(names, embs)])
            return keras.Model(inputs, out, name=f"{loss}_trainer")
        logits = layers.Dense(len(self.class_ids()), dtype="float32", name="logits")(features)
        if loss == "softmax":
            return keras.Model(image, logits, name="softmax_trainer")
        label = keras.Input((), dtype="int32", name="label")
        center = ClassCenters(len(self.class_ids()), self.cfg.center_alpha, name="center")(
            [features, label])
        return keras.Model({"image": image, "label": label},
                           {"logits": logits, "center": center}, name="center_trainer")

    def loss(self):
        import keras

        from visiontk.tasks.metric import loss as L

        cfg = self.cfg
        metric = L.METRIC_OF_DISTANCE[cfg.distance]
        if cfg.loss == "triplet_semihard":
            return L.TripletSemiHardLoss(cfg.margin, metric)
        if cfg.loss == "triplet_hard":
            return L.TripletHardLoss(cfg.margin, cfg.soft, metric)
        if cfg.loss == "triplet_batch_all":
            return L.TripletBatchAllLoss(cfg.margin, metric)
        if cfg.loss == "triplet":
            return L.TripletLoss(cfg.margin, metric)
        if cfg.loss == "contrastive":
            return L.ContrastiveLoss(cfg.margin)
        ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if cfg.loss == "softmax":
            return ce
        return {"logits": ce, "center": L.CenterLoss(cfg.center_weight)}

    def metrics(self):
        import keras

        if self.cfg.loss == "softmax":
            return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        if self.cfg.loss == "center":
            return {"logits": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]}
        return []

    def inference_model(self, model):
        import keras

        try:
            return model.get_layer("embedder")                  # pair / triplet trainers
        except ValueError:
            pass
        if model.name == "embedder":
            return model
        # softmax / centre trainers: their graph ends at the logits; normalise the projection
        image = model.get_layer("image").output
        features = model.get_layer("projection").output
        embedding = keras.layers.UnitNormalization(dtype="float32", name="embedding")(features)
        return keras.Model(image, embedding, name="embedder")

    # ---- data ------------------------------------------------------------------------------------
    def train_split(self, data):
        """The training rows of seen identities (held-out identities removed)."""
        from visiontk.data.sampling import subset

        ids = np.asarray(data.annotations["identity"])
        keep = self.seen_mask(ids)
        if not keep.any():
            raise DataError(f"no training image has one of model.head.train_identities "
                            f"{self.cfg.train_identities}; the training split has identities "
                            f"{sorted(np.unique(ids).tolist())[:20]}")
        return subset(data, np.flatnonzero(keep)) if not keep.all() else data

    def label_table(self):
        """identity -> logit index (-1 for identities that are not classes)."""
        ids = self.class_ids()
        table = np.full(max(max(ids) + 1, self.universe()), -1, np.int32)
        table[ids] = np.arange(len(ids))
        return table

    def training_dataset(self, data, context: InputContext = InputContext()):
        """Batches of the training identities only (held-out ones never): P x K per replica for
        the batch losses, generated pairs / triplets for the Siamese models, plain batches for
        softmax / centre loss. Under `context`, every shard draws the same global schedule from
        the seed and keeps its part (data.sampling)."""
        from visiontk.data import sampling

        data = self.train_split(data)
        self._train_data = data
        cfg, recipe = self.cfg, self.recipe
        where = {"batch_size": context.per_replica_batch, "shard": context.shard}
        if cfg.loss in BATCH_LOSSES:
            ds = sampling.pk_dataset(data, self, recipe, images_per_identity=cfg.images_per_identity,
                                     **where)
        elif cfg.loss == "contrastive":
            ds = sampling.pair_dataset(data, recipe, positive_fraction=cfg.positive_fraction,
                                       geometry=self.geometry, **where)
        elif cfg.loss == "triplet":
            ds = sampling.triplet_dataset(data, recipe, geometry=self.geometry, **where)
        else:
            ids = np.asarray(data.annotations["identity"])
            table = self.label_table()
            bad = ids[(ids >= len(table)) | (table[np.minimum(ids, len(table) - 1)] < 0)]
            if len(bad):
                raise DataError(f"identity {int(bad[0])} of the training split is not one of the "
                                f"{len(table)} classes of the '{cfg.loss}' head; set "
                                f"model.head.train_identities to the identities to train on")
            from visiontk.data.pipeline import build_dataset

            ds = build_dataset(data, self, recipe, training=True, **where)
        return ds, len(data)

    def validation_dataset(self, data, context: InputContext = InputContext()):
        return None          # validation is retrieval on embeddings (see callbacks)

    def encode(self, image, annotation):
        import tensorflow as tf

        identity = tf.cast(annotation["identity"], tf.int32)
        if self.cfg.loss in ("softmax", "center"):
            label = tf.gather(tf.constant(self.label_table()), identity)
            if self.cfg.loss == "softmax":
                return image, label
            return {"image": image, "label": label}, {"logits": label, "center": 0.0}
        return image, identity

    def callbacks(self, val_data, run_dir):
        if val_data is None:
            return []
        from visiontk.tasks.metric.callbacks import RetrievalCallback

        return [RetrievalCallback(self, val_data, self.cfg.epoch_eval_images)]

    # ---- inference (numpy) -----------------------------------------------------------------------
    def meta(self):
        seen = self.cfg.train_identities
        return {"embedding_size": self.cfg.embedding_size, "distance": self.cfg.distance,
                "loss": self.cfg.loss, "threshold": self.cfg.threshold,
                "threshold_from": "recipe" if self.cfg.threshold is not None else None,
                "train_identities": seen, "heldout_identities": self.cfg.heldout_identities}

    def evaluate(self, predict_fn, batches, out_dir=None, context: EvalContext = EvalContext()):
        """Retrieval, k-NN and verification figures; the verification threshold measured here is
        returned as a decode update (the run's meta.json and its exports then carry it)."""
        from visiontk.tasks.metric.evaluation import metric_report

        emb, ids = embed_batches(predict_fn, batches)
        seen = self.seen_mask(ids)
        ref_emb, ref_ids = self.knn_reference(predict_fn, context)
        report = metric_report(emb, ids, np.unique(ids[seen]).tolist() if seen.any() else [],
                               distance=self.cfg.distance, ref_emb=ref_emb, ref_ids=ref_ids,
                               knn_k=self.cfg.knn_k, pairs=self.cfg.verification_pairs,
                               seed=self.recipe.seed if self.recipe else 0, out_dir=out_dir,
                               names=self.identity_names())
        return Evaluation(report, threshold_update(context.decode, context.split,
                                                   report.get("threshold")))

    def knn_reference(self, predict_fn, context: EvalContext):
        """Embeddings of (at most knn_references) training images of seen identities: the training
        split this task trained on, or the source's (context.load), or none without either."""
        from visiontk.data.pipeline import build_dataset, numpy_batches
        from visiontk.data.sampling import subset

        data = self._train_data
        if data is None:
            if self.recipe is None or context.load is None:
                return None, None
            data = self.train_split(context.load("train"))
        if len(data) > self.cfg.knn_references:
            rng = np.random.default_rng(self.recipe.seed)
            data = subset(data, np.sort(rng.choice(len(data), self.cfg.knn_references, replace=False)))
        ds = build_dataset(data, self, self.recipe, training=False, encode=False, batch_size=256)
        return embed_batches(predict_fn, numpy_batches(ds))


THRESHOLD_SPLITS = ("train", "val", "test")      # later ones win: test first, as identify reads


def threshold_update(decode: dict, split: str, value) -> dict:
    """The decode update {threshold, threshold_from} for a threshold measured on `split`, or {} when
    the run keeps the one it has: a recipe's fixed threshold, or one measured on a later split of
    THRESHOLD_SPLITS (test wins over val, val over train). Other data (a split outside those) never
    sets it.

    Example:
        >>> threshold_update({"threshold_from": "test", "threshold": 0.4}, "val", 0.3)
        {}
        >>> threshold_update({"threshold_from": "val", "threshold": 0.3}, "test", 0.4)
        {'threshold': 0.4, 'threshold_from': 'test'}
    """
    if value is None or split not in THRESHOLD_SPLITS:
        return {}
    previous = decode.get("threshold_from")
    if previous in THRESHOLD_SPLITS:
        if THRESHOLD_SPLITS.index(previous) > THRESHOLD_SPLITS.index(split):
            return {}
    elif decode.get("threshold") is not None:          # fixed by the recipe (model.head.threshold)
        return {}
    return {"threshold": float(value), "threshold_from": split}


def embed_batches(predict_fn, batches):
    """(embeddings (N, D) float32, identities (N,)) from (images, annotations) batches."""
    embs, ids = [], []
    for images, ann in batches:
        out = predict_fn(images)
        embs.append(np.asarray(runtime.embedding_output(out), np.float32))
        ids.append(np.asarray(ann["identity"]))
    if not embs:
        raise DataError("no images to embed: the split is empty")
    return np.concatenate(embs), np.concatenate(ids)
