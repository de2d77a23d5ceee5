"""Denoising task: PSNR / SSIM against tf.image, the noise kinds, noise only in the input pipeline,
decode / draw, every backbone family, and one clear error for bad data."""

import numpy as np
import pytest

from visiontk.errors import DataError, ModelError, RecipeError


def fixed_images():
    """Clean images (4, 24, 24, 1) with structure, and a fixed corrupted version."""
    yy, xx = np.mgrid[0:24, 0:24] / 23.0
    clean = np.stack([xx, yy, (xx + yy) / 2, ((xx * 6).astype(int) % 2) * 0.8 + 0.1])[..., None]
    rng = np.random.default_rng(0)
    noisy = np.clip(clean + rng.normal(0, [0.05, 0.1, 0.2, 0.3], (24, 24, 1, 4)).transpose(3, 0, 1, 2),
                    0, 1)
    return clean.astype(np.float32), noisy.astype(np.float32)


def test_psnr_and_ssim_agree_with_tf_image_and_numpy():
    import keras
    import tensorflow as tf

    from visiontk.tasks.denoising.metrics import psnr, ssim
    from visiontk.tasks.denoising.evaluation import image_scores

    clean, noisy = fixed_images()
    p, s = image_scores(noisy, clean)
    np.testing.assert_allclose(p, tf.image.psnr(clean, noisy, max_val=1.0).numpy(), rtol=1e-6)
    np.testing.assert_allclose(s, tf.image.ssim(clean, noisy, max_val=1.0).numpy(), rtol=1e-6)
    mse = ((noisy.astype(np.float64) - clean) ** 2).mean((1, 2, 3))
    np.testing.assert_allclose(p, 10 * np.log10(1.0 / mse), rtol=1e-5)       # the definition
    assert list(np.argsort(-p)) == [0, 1, 2, 3] and (s < 1).all()           # more noise, lower PSNR
    assert image_scores(clean, clean)[0].tolist() == [100.0] * 4               # capped, not inf
    # the training metrics average the same per-image values over batches
    m = keras.metrics.MeanMetricWrapper(psnr)
    m.update_state(clean[:3], noisy[:3])
    m.update_state(clean[3:], noisy[3:])
    assert float(m.result()) == pytest.approx(p.mean(), rel=1e-6)
    small = np.zeros((1, 8, 8, 1), np.float32)                                 # window < 11 pixels
    assert np.isfinite(ssim(small + 0.5, small + 0.4).numpy()).all()


def test_noise_kinds_statistics_and_seeds():
    import tensorflow as tf

    from visiontk.data.noise import add_noise, describe

    grey = tf.fill((8, 32, 32, 3), 0.5)
    g = add_noise(grey, "gaussian", sigma=0.1, seed=(1, 2)).numpy()
    assert abs((g - 0.5).std() - 0.1) < 0.005 and abs((g - 0.5).mean()) < 0.005
    assert np.array_equal(g, add_noise(grey, "gaussian", sigma=0.1, seed=(1, 2)).numpy())   # fixed
    assert not np.array_equal(g, add_noise(grey, "gaussian", sigma=0.1, seed=(1, 3)).numpy())
    assert not np.array_equal(add_noise(grey, "gaussian").numpy(), add_noise(grey, "gaussian").numpy())
    assert add_noise(grey, "gaussian", sigma=5.0).numpy().min() >= 0.0           # clipped to [0, 1]
    sp = add_noise(grey, "salt_pepper", amount=0.3, salt_ratio=0.25, seed=(0, 0)).numpy()
    hit = sp[..., 0] != 0.5
    assert abs(hit.mean() - 0.3) < 0.02 and (sp[..., 0][hit] == 1.0).mean() == pytest.approx(0.25, abs=0.03)
    assert (sp == sp[..., :1]).all()                          # all channels of a pixel together
    mk = add_noise(grey, "masking", amount=0.4, seed=(0, 0)).numpy()
    assert abs((mk == 0).all(-1).mean() - 0.4) < 0.02 and set(np.unique(mk)) == {0.0, 0.5}
    both = add_noise(grey, ["masking", "gaussian"], amount=0.5, sigma=0.01, seed=(0, 0)).numpy()
    assert ((both < 0.05).all(-1).mean()) > 0.4               # masked first, then a little noise
    assert np.array_equal(add_noise(grey, "none").numpy(), grey.numpy())
    assert describe(["masking", "gaussian"], 0.3, 0.2) == "masking 0.2 + gaussian sigma 0.3"


@pytest.fixture(scope="module")
def den_run(tmp_path_factory):
    from tests.export.heads import trained_run

    return trained_run("denoising", tmp_path_factory)


def test_noise_only_in_the_training_pipeline(den_run, tiny_recipe):
    import json

    import tensorflow as tf

    from tests.tiny_recipes import all_recipes
    from visiontk.data.make import make_source
    from visiontk.model_files import keras_predict_fn
    from visiontk.infer.predictor import Predictor
    from visiontk.tasks.base import make_task
    from visiontk.model_files import load_keras_model

    recipe = tiny_recipe(all_recipes()["denoising"])
    src = make_source(recipe)
    task = make_task(recipe, src)
    data = src.load("train")
    clean = tf.image.convert_image_dtype(data.images, tf.float32).numpy()
    x, y = next(iter(task.training_dataset(data)[0]))
    x, y = x.numpy(), y.numpy()
    flat = clean.reshape(len(clean), -1)
    for target in y:                                           # the target is a clean image ...
        assert np.abs(flat - target.reshape(-1)).max(1).min() < 1e-6
    assert 0.15 < np.std(x - y) < 0.2                          # ... the input that image + noise
    val = task.validation_dataset(src.load("val"))
    a, b = [np.concatenate([v[0].numpy() for v in val]) for _ in range(2)]
    assert np.array_equal(a, b) and np.std(a - np.concatenate([v[1].numpy() for v in val])) > 0.15
    # the saved model adds nothing: the same input gives the same output, as from the Predictor
    model = load_keras_model(den_run / "model.keras")
    fn = keras_predict_fn(model)
    frames = (np.random.default_rng(0).random((2, 32, 32, 3)) * 255).astype(np.uint8)
    assert np.array_equal(fn(frames / 255.0), fn(frames / 255.0))
    preds = Predictor(den_run, "keras").predict(list(frames[..., ::-1]))      # BGR frames
    direct = np.clip(fn(frames.astype(np.float32) / 255.0) * 255 + 0.5, 0, 255).astype(np.uint8)
    assert np.abs(preds[0].image.astype(int) - direct[0]).max() <= 1
    # Keras' val_psnr is the evaluation's PSNR (the same fixed validation noise)
    history = (den_run / "history.csv").read_text().splitlines()
    col = history[0].split(",").index("val_psnr")
    metrics = json.loads((den_run / "metrics.json").read_text())["val"]
    assert float(history[-1].split(",")[col]) == pytest.approx(metrics["psnr"], abs=1e-3)
    assert metrics["psnr_gain_db"] == pytest.approx(metrics["psnr"] - metrics["psnr_noisy"])
    assert (den_run / "eval_val" / "denoising_samples.png").is_file()


def test_decode_resizes_to_the_original_and_draw_puts_the_frames_side_by_side():
    from visiontk.runtime import denoising

    meta = {"input": {"shape": [16, 16, 1], "resize": "stretch"}, "decode": {"channels": 1}}
    out = np.zeros((2, 16, 16, 1), np.float32)
    out[:, :, 8:] = 1.0
    preds = denoising.decode(out, meta, [(40, 60), (16, 16)])
    assert preds[0].image.shape == (40, 60, 1) and preds[0].image.dtype == np.uint8
    assert preds[1].image[0, 0, 0] == 0 and preds[1].image[0, 15, 0] == 255
    assert preds[0].to_dict() == {"task": "denoising", "output_mean": 0.5}
    frame = np.full((40, 60, 3), 90, np.uint8)
    drawn = denoising.draw(frame.copy(), preds[0], meta)
    assert drawn.shape == frame.shape
    assert (drawn[20, 5] == 90).all() and (drawn[2, 5] == 0).all()   # left: the input, letterboxed
    assert (drawn[20, 55] == 255).all() and (drawn[20, 35] == 0).all()    # right: the output
    rgb = denoising.decode(np.full((1, 8, 8, 3), [1.0, 0.0, 0.0], np.float32),
                           {"input": {"shape": [8, 8, 3]}})[0]
    assert denoising.to_bgr(rgb.image)[0, 0].tolist() == [0, 0, 255]       # RGB -> BGR for OpenCV


@pytest.mark.parametrize("backbone, params", [
    ("autoencoder_cnn", {"filters": [4, 8]}),
    ("autoencoder_cnn", {"filters": [4, 8], "dense_code": 16, "downsample": "stride"}),
    ("autoencoder_mlp", {"units": [32], "bottleneck": 8}),
    ("unet", {"padding": "same", "depth": 2, "base_width": 4}),
    ("lenet5", {}),                                      # no decoder: the generic one is built
])
def test_every_backbone_family_gives_an_image_and_trains(tiny_recipe, backbone, params):
    from visiontk.train.session import prepare

    p = prepare(tiny_recipe({"task": "denoising", "model": {"backbone": {"name": backbone,
                                                                        "params": params},
                                                           "head": {"loss": "bce",
                                                                    "train_ssim": True}}}))
    model = p.model
    assert model.output_shape == (None, 32, 32, 3) and model.layers[-1].name == "denoised"
    model.compile(optimizer="adam", loss=p.task.loss(), metrics=p.task.metrics())
    x = np.random.default_rng(0).random((4, 32, 32, 3)).astype(np.float32)
    logs = model.train_on_batch(p.task.corrupt(x).numpy(), x, return_dict=True)
    assert np.isfinite(logs["loss"]) and 0 < logs["psnr"] < 100 and -1 <= logs["ssim"] <= 1


def test_valid_padding_unet_is_refused(tiny_recipe):
    from visiontk.train.session import prepare

    with pytest.raises(ModelError, match="must keep the input size .*padding: same"):
        prepare(tiny_recipe({"task": "denoising", "model": {
            "backbone": {"name": "unet", "params": {"padding": "valid", "depth": 1}},
            "input_shape": [36, 36, 3]}}))


def test_bad_data_gives_one_clear_error(tiny_recipe):
    from visiontk.data.base import SplitData
    from visiontk.data.make import make_source
    from visiontk.tasks.base import make_task

    recipe = tiny_recipe({"task": "denoising", "model": {"backbone": {"name": "autoencoder_cnn"}}})
    task = make_task(recipe, make_source(recipe))
    rgba = SplitData(np.zeros((32, 32, 32, 4), np.uint8), files=["a/rgba0.png"])
    with pytest.raises(DataError, match=r"'synthetic-scenes' \(train split, e\.g\. a/rgba0\.png\): "
                                        r"images have 4 channels; denoising needs grey \(1\) or RGB"):
        task.training_dataset(rgba)
    wide = SplitData(np.full((32, 32, 32, 3), 255.0, np.float32))
    with pytest.raises(DataError, match=r"float pixel values span \[255, 255\]; .* in \[0, 1\]"):
        task.validation_dataset(wide)
    with pytest.raises(RecipeError, match="train.regularization.dropout: not used by the denoising"):
        tiny_recipe_dropout = tiny_recipe({"task": "denoising",
                                           "train": {"regularization": {"dropout": 0.2}}})
        make_task(tiny_recipe_dropout, make_source(tiny_recipe_dropout))
    with pytest.raises(RecipeError, match="model.head.noise"):
        tiny_recipe({"task": "denoising", "model": {"head": {"noise": "speckle"}}})


def test_evaluate_cli_writes_the_sample_grid(den_run, tmp_path):
    """`visiontk evaluate` on a copy of the tiny run: rows of noisy | denoised | clean panels."""
    import json
    import shutil

    import cv2

    from tests.conftest import run_cli

    run = tmp_path / "run"
    shutil.copytree(den_run, run)               # evaluate merges into metrics.json: keep den_run as is
    (run / "eval_val" / "denoising_samples.png").unlink()
    r = run_cli("evaluate", run, "model.head.samples=3")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    # an evaluation with overrides keeps its plots apart from the run's own eval_val/
    assert result["plots"].startswith("eval_val_")
    assert not (run / "eval_val" / "denoising_samples.png").exists()
    grid = cv2.imread(str(run / result["plots"] / "denoising_samples.png"))
    # 32 x 32 inputs are upscaled x5 (160 // 32) and padded by 1 pixel on each side
    assert grid.shape == (3 * 162, 3 * 162, 3)
    assert result["samples"] == 32 and result["psnr_gain_db"] == pytest.approx(
        result["psnr"] - result["psnr_noisy"])
