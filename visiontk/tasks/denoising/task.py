"""Denoising and plain autoencoders (seeds 000, 002, 004): the model sees a corrupted image and learns
to give back the clean one (`noise: none`: a plain autoencoder that reconstructs its input).

The noise (gaussian, salt_pepper, masking; visiontk.data.noise) is applied in the input pipeline only:
fresh at every training step, fixed per validation batch (stateless, seeded), and never a layer of the
model, so model.keras and every export map a noisy picture to its clean version deterministically.
Backbones: the autoencoders (autoencoder_cnn, autoencoder_mlp: their own decoder is used), U-Net
(`padding: same`), or any other through the light upsampling decoder of tasks/_dense_head.py. Losses:
mse, mae, bce; metrics PSNR and SSIM (tf.image, max value 1; SSIM in training only with
`train_ssim: true`, it is slow on CPU). `visiontk evaluate` also scores the
noisy input, so the report shows the gain in dB, and writes a grid noisy | denoised | clean.
The autoencoders' encoder exports on its own as an embedding model: `visiontk export RUN --encoder`.
"""

from __future__ import annotations

import numpy as np

from visiontk.data.noise import add_noise, describe, noise_kinds
from visiontk.errors import DataError, ModelError, RecipeError
from visiontk.catalog import TASKS
from visiontk.runtime import denoising as runtime
from visiontk.tasks.base import EvalContext, Evaluation, InputContext, Task
from visiontk.tasks.denoising.config import DenoisingHead
from visiontk.tasks.denoising.metrics import psnr, ssim

VALIDATION_SEED_OFFSET = 104729      # validation noise: seed (recipe.seed + this, batch index)


@TASKS.register("denoising", aliases=("denoise", "autoencoder", "reconstruction"))
class Denoising(Task):
    name = "denoising"
    Config = DenoisingHead
    needs = ()                              # the target is the image itself
    # erasing would put its noise rectangle into the clean target the model must reproduce
    augmentations = Task.augmentations - {"erasing"}
    monitor = ("val_psnr", "max")
    metric_modes = {"psnr": "max", "ssim": "max"}
    summary_metrics = ("psnr",)
    runtime = runtime

    def __init__(self, cfg, info, recipe=None):
        super().__init__(cfg, info, recipe)
        c = info.input_shape[2]
        if c not in (1, 3):
            raise RecipeError(f"model.input_shape: {c} channels; denoising takes grey (1) or RGB (3) "
                              f"images")
        if recipe is not None and recipe.train.regularization.dropout:
            raise RecipeError("train.regularization.dropout: not used by the denoising task (the input "
                              "noise is its regulariser; `model.head.noise: masking` drops input "
                              "pixels); remove it")
        self.kinds = noise_kinds(cfg.noise)
        self.seed = (recipe.seed if recipe is not None else 0) + VALIDATION_SEED_OFFSET

    # ---- training side ------------------------------------------------------------------------
    def build(self, backbone, dropout=None):
        import keras

        from visiontk.architectures.autoencoder import image_output
        from visiontk.tasks._dense_head import full_resolution, image_input

        shape = tuple(self.info.input_shape)
        inputs = image_input(shape)
        feats = backbone(inputs)
        feature = self.recipe.model.feature if self.recipe else None
        key = feature or "decoded"
        if isinstance(feats, dict) and key in feats and len(feats[key].shape) == 2:
            x = feats[key]                   # a vector (MLP autoencoder): Dense + reshape
        else:
            x = full_resolution(feats, shape, feature=feature, width=self.cfg.decoder_width,
                                name="den")
        out = image_output(x, shape, name="denoised")
        if tuple(out.shape[1:]) != shape:
            raise ModelError(f"the denoising output is {tuple(out.shape[1:])} for an input of {shape}: "
                             f"the backbone must keep the input size (U-Net: padding: same)")
        return keras.Model(inputs, out, name="denoiser")

    def loss(self):
        import keras

        return {"mse": keras.losses.MeanSquaredError(), "mae": keras.losses.MeanAbsoluteError(),
                "bce": keras.losses.BinaryCrossentropy()}[self.cfg.loss]

    def metrics(self):
        import keras

        out = [keras.metrics.MeanMetricWrapper(psnr, name="psnr")]
        if self.cfg.train_ssim:
            out.append(keras.metrics.MeanMetricWrapper(ssim, name="ssim"))
        return out

    def corrupt(self, images, batch_index=None):
        """Noisy copy of `images` (tf): fresh noise without `batch_index`, else the fixed noise of
        that validation / evaluation batch.

        Example:
            >>> noisy = task.corrupt(tf.zeros((4, 28, 28, 1)), batch_index=0)   # doctest: +SKIP
        """
        import tensorflow as tf

        seed = None if batch_index is None else tf.stack(
            [tf.constant(self.seed, tf.int32), tf.cast(batch_index, tf.int32)])
        c = self.cfg
        return add_noise(images, c.noise, sigma=c.sigma, amount=c.amount, salt_ratio=c.salt_ratio,
                         clip=c.clip, seed=seed)

    def encode(self, image, annotation):
        return self.corrupt(image), image

    def training_dataset(self, data, context: InputContext = InputContext()):
        self.check_images(data, "train")
        return super().training_dataset(data, context)

    def validation_dataset(self, data, context: InputContext = InputContext()):
        """(fixed noisy, clean) batches: the same noise every epoch, and on one device the same as
        evaluate's. The noise of a batch is seeded by its index; a shard's batches get indices of
        their own (k, k + n, ...), so no two shards share noise."""
        from visiontk.data.pipeline import build_dataset

        self.check_images(data, "val")
        ds = build_dataset(data, self, self.recipe, training=False, encode=False,
                           batch_size=context.per_replica_batch, shard=context.shard)
        n, k = context.num_shards, context.shard_index
        return ds.enumerate().map(lambda i, batch: (self.corrupt(batch[0], i * n + k), batch[0]))

    def check_images(self, data, split: str) -> None:
        """One DataError for arrays the pipeline cannot turn into the model's input (channels other
        than 1 or 3, float pixels outside [0, 1])."""
        images = data.images
        if not isinstance(images, np.ndarray):
            return                         # files: decoded as RGB by the pipeline
        src = f"data source '{self.recipe.data.source}'" if self.recipe is not None else "the data"
        where = f"{src} ({split} split{', e.g. ' + str(data.files[0]) if data.files else ''})"
        if images.ndim == 4 and images.shape[-1] not in (1, 3):
            raise DataError(f"{where}: images have {images.shape[-1]} channels; denoising needs grey "
                            f"(1) or RGB (3) images, the model takes {self.info.input_shape[2]}")
        if images.ndim not in (3, 4):
            raise DataError(f"{where}: image array of shape {images.shape}; expected (N, H, W) or "
                            f"(N, H, W, C)")
        if images.dtype.kind == "f" and images.size:
            lo, hi = float(images.min()), float(images.max())
            if lo < 0.0 or hi > 1.0:
                raise DataError(f"{where}: float pixel values span [{lo:g}, {hi:g}]; float images must "
                                f"be in [0, 1] (or give uint8 0-255)")

    # ---- inference side -----------------------------------------------------------------------
    def meta(self):
        c = self.cfg
        return {"channels": int(self.info.input_shape[2]), "loss": c.loss,
                "noise": describe(c.noise, c.sigma, c.amount)}

    def evaluate(self, predict_fn, batches, out_dir=None, context: EvalContext = EvalContext()):
        from visiontk.tasks.denoising.evaluation import denoising_report

        corrupt = (lambda x, i: self.corrupt(x, i).numpy()) if self.kinds else None
        return Evaluation(denoising_report(predict_fn, batches, corrupt, describe(self.cfg.noise, self.cfg.sigma,
                                                                       self.cfg.amount),
                                out_dir, samples=self.cfg.samples))
