"""Segmentation end to end on the tiny recipe: train, evaluate (Keras' val_mean_iou equals the numpy
evaluation), predict through the Predictor (decode to a label map at the original size, draw), and
the valid-padding U-Net (targets centre-cropped, prediction padded back)."""

import json

import numpy as np
import pytest

from tests.tiny_recipes import all_recipes
from visiontk.recipe import load_recipe


def train_tiny(tmp_path_factory, name, extra=None):
    from tests.conftest import deep_update
    from visiontk.train.loop import train

    data = deep_update(all_recipes()[name], extra or {})
    data["output"] = str(tmp_path_factory.mktemp(name) / "run")
    return train(load_recipe(data=data), echo=lambda *_: None)


@pytest.fixture(scope="module")
def seg_run(tmp_path_factory):
    return train_tiny(tmp_path_factory, "segmentation", {"train": {"epochs": 1},
                                                    "data": {"params": {"train_size": 32, "val_size": 16}}})


def test_training_metrics_and_evaluation_agree(seg_run):
    val = seg_run.metrics["val"]
    rows = (seg_run.run_dir / "history.csv").read_text().splitlines()
    header, last = rows[0].split(","), rows[-1].split(",")
    keras_iou = float(last[header.index("val_mean_iou")])
    # the best checkpoint is the last epoch or an earlier one: the evaluation equals one of them
    ious = [float(r.split(",")[header.index("val_mean_iou")]) for r in rows[1:]]
    assert any(abs(val["mean_iou"] - v) < 1e-5 for v in ious), (val["mean_iou"], ious, keras_iou)
    assert set(val["per_class_iou"]) == {"background", "circle", "square", "triangle"}
    assert (seg_run.run_dir / "eval_val" / "segmentation_samples.png").is_file()
    meta = json.loads((seg_run.run_dir / "meta.json").read_text())
    assert meta["decode"] == {"output": "softmax", "threshold": 0.5}


def test_predictor_decodes_a_label_map_at_the_original_size_and_draws_it(seg_run):
    from visiontk.infer.predictor import Predictor

    pred = Predictor(seg_run.run_dir, backend="keras")
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (50, 70, 3), dtype=np.uint8), rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)]
    out = pred.predict(frames)
    assert out[0].mask.shape == (50, 70) and out[1].mask.shape == (32, 32)
    assert out[0].mask.max() <= 3
    row = out[0].to_dict()
    assert sum(row["mask_pixels"].values()) == 50 * 70
    fake = out[0]
    fake.mask = np.zeros((50, 70), np.int32)
    fake.mask[10:30, 10:40] = 2
    drawn = pred.draw(frames[0], fake)
    assert drawn.shape == frames[0].shape
    assert not np.array_equal(drawn[20, 20], frames[0][20, 20])      # blended inside the object
    assert np.array_equal(drawn[45, 65], frames[0][45, 65])          # untouched background


def test_valid_padding_unet_crops_targets_and_pads_predictions(tmp_path_factory):
    run = train_tiny(tmp_path_factory, "segmentation",
                     {"model": {"backbone": {"params": {"padding": "valid", "depth": 1}}},
                      "train": {"epochs": 1}, "data": {"params": {"train_size": 32, "val_size": 16}}})
    from visiontk.infer.predictor import Predictor

    pred = Predictor(run.run_dir, backend="keras")
    frame = np.zeros((32, 32, 3), np.uint8)
    raw = pred.raw(np.zeros((1, 32, 32, 3), np.float32))
    assert raw.shape == (1, 16, 16, 4)                                # 32 -> 16 with depth 1
    mask = pred.predict([frame])[0].mask
    assert mask.shape == (32, 32) and (mask[:8] == 0).all()           # outside the view: background
    assert 0.0 <= run.metrics["val"]["mean_iou"] <= 1.0


def test_sigmoid_needs_one_class_and_binary_encode(tiny_recipe):
    from visiontk.data.make import make_source
    from visiontk.errors import RecipeError
    from visiontk.tasks.base import make_task

    r = tiny_recipe(all_recipes()["segmentation"] | {"model": {**all_recipes()["segmentation"]["model"],
                                                                "head": {"output": "sigmoid"}}})
    with pytest.raises(RecipeError, match="'sigmoid' is for one foreground class"):
        make_task(r, make_source(r))
    r = tiny_recipe({**all_recipes()["segmentation"],
                     "data": {"params": {"classes": ["circle"], "max_objects": 2}}})
    task = make_task(r, make_source(r))
    assert task.output == "sigmoid" and task.channels == 1
    mask = np.array([[0, 1], [2, 0]], np.uint8)
    _, y = task.encode(np.zeros((2, 2, 3), np.float32), {"mask": mask})
    assert y.shape == (2, 2, 1) and np.array_equal(np.asarray(y)[..., 0], [[0, 1], [1, 0]])


@pytest.mark.parametrize("backbone, params, ups", [
    ("lenet5", {}, 2),                                 # valid convs: 5 -> 10 -> 20, then a resize to 32
    ("resnet18", {"widths": [4, 8, 8, 16]}, 5),        # stride 32: 1 -> 2 -> ... -> 32
])
def test_non_unet_backbone_gets_the_generic_decoder_and_trains(tiny_recipe, backbone, params, ups):
    from visiontk.train.session import prepare

    recipe = tiny_recipe({**all_recipes()["segmentation"],
                          "model": {"backbone": {"name": backbone, "params": params},
                                    "head": {"decoder_width": 8}},
                          "data": {"params": {"train_size": 8, "val_size": 4, "max_objects": 2}},
                          "train": {"batch_size": 4}})
    p = prepare(recipe)
    k = len(p.source.class_names())
    assert p.model.output_shape == (None, 32, 32, k + 1)             # background + K classes
    names = [layer.name for layer in p.model.layers]              # the generic decoder was built
    assert [n for n in names if n.startswith("seg_up")] == [f"seg_up{i + 1}" for i in range(ups)]
    assert ("seg_resize" in names) is (backbone == "lenet5")
    x, y = next(iter(p.task.training_dataset(p.source.load("train"))[0]))
    # eager: one step of a deep net is faster than tracing it
    p.model.compile(optimizer="adam", loss=p.task.loss(), metrics=p.task.metrics(), run_eagerly=True)
    logs = p.model.train_on_batch(x, y, return_dict=True)
    assert np.isfinite(logs["loss"]) and 0 <= logs["mean_iou"] <= 1
    out = np.asarray(p.model(x, training=False))
    assert out.shape == (len(x), 32, 32, k + 1)
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-4)          # softmax over the classes
