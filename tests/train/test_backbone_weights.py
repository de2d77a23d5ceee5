"""backbone.weights.h5: every finished run writes its backbone's weights alone, the file a recipe's
`model.backbone.weights` (keras.applications backbones: the path an ImageNet user takes) and
`model.init_from` read; from float32 and from mixed_bfloat16 runs alike."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import TINY, deep_update
from visiontk.errors import ModelError

MOBILENET = {"name": "mobilenet_v2", "weights": "none", "params": {"alpha": 0.35}}
RESNET = {"name": "resnet18", "weights": "none", "params": {"widths": [4, 8, 8, 16], "stem": "cifar"}}
COUNTING = {"task": "counting", "data": {"params": {"min_objects": 0, "max_objects": 3}}}
STEPS = ["train.steps_per_epoch=2"]


def make_recipe(out, backbone: dict, extra: dict | None = None, overrides=()):
    from visiontk.recipe import load_recipe

    data = deep_update(TINY, deep_update({"model": {"backbone": backbone}}, extra or {}))
    data["output"] = str(out)
    return load_recipe(data=data, overrides=[*STEPS, *overrides])


def trained(out, backbone: dict, overrides=()):
    """A tiny classification run (2 steps) with this backbone; its folder."""
    from visiontk import train

    return train(make_recipe(out, backbone, overrides=overrides), echo=lambda s: None).run_dir


def run_backbone(run):
    """The weights of the backbone in the run's model.keras (what the file must hold)."""
    from visiontk.model_files import load_keras_model
    from visiontk.train.finetune import find_backbone

    return find_backbone(load_keras_model(run / "model.keras")).get_weights()


def built_backbone(tmp_path, backbone: dict):
    """The backbone a float32 recipe with `backbone` builds (weights read as the recipe says)."""
    from visiontk.train.model import build_backbone

    return build_backbone(make_recipe(tmp_path / "unused", backbone))


def assert_same(got: list, want: list) -> None:
    assert len(got) == len(want) > 0
    assert all(g.shape == w.shape and np.array_equal(g, w) for g, w in zip(got, want))


@pytest.fixture(scope="module")
def mobilenet_run(tmp_path_factory):
    return trained(tmp_path_factory.mktemp("mobilenet") / "run", MOBILENET)


def test_a_run_writes_its_backbone_and_weights_file_builds_it_exactly(mobilenet_run, tmp_path):
    file = mobilenet_run / "backbone.weights.h5"
    assert file.is_file()
    assert not [p.name for p in mobilenet_run.iterdir() if p.name.startswith(".")]   # no temporary
    want = run_backbone(mobilenet_run)
    model = built_backbone(tmp_path, {**MOBILENET, "weights": str(file)})
    assert_same(model.get_weights(), want)
    fresh = built_backbone(tmp_path, MOBILENET).get_weights()       # the file did the work
    assert not all(np.array_equal(a, b) for a, b in zip(fresh, want))


@pytest.mark.parametrize("change", [
    {"params": {"alpha": 0.5}},                                     # other params
    {"name": "mobilenet_v3_small", "params": {"alpha": 0.75}},      # another backbone
])
def test_a_file_of_another_backbone_is_one_line(mobilenet_run, tmp_path, change):
    file = mobilenet_run / "backbone.weights.h5"
    with pytest.raises(ModelError, match=r"model.backbone.weights: .*backbone.weights.h5 does not fit "
                                         r"this architecture") as err:
        built_backbone(tmp_path, {**MOBILENET, **change, "weights": str(file)})
    assert "\n" not in str(err.value)


def test_other_input_channels_are_one_line(mobilenet_run, tmp_path):
    from visiontk.train.model import build_backbone

    r = make_recipe(tmp_path / "unused", {**MOBILENET, "weights": str(mobilenet_run / "backbone.weights.h5")},
                    {"model": {"input_shape": [32, 32, 1]}})
    with pytest.raises(ModelError, match=r"does not fit this architecture") as err:
        build_backbone(r)
    assert "\n" not in str(err.value)


def test_init_from_a_backbone_file_restores_every_layer(tmp_path):
    import json

    from visiontk import train

    source = trained(tmp_path / "classify", RESNET)
    file = source / "backbone.weights.h5"
    r = make_recipe(tmp_path / "count", RESNET, {**COUNTING, "model": {"init_from": str(file)}})
    run = train(r, echo=lambda s: None).run_dir
    report = json.loads((run / "init_report.json").read_text())
    assert report["source"] == str(file)
    assert report["restored"] == report["backbone_layers"] > 0 and not report["not_restored"]


def test_a_bfloat16_run_writes_a_file_a_float32_build_loads(tmp_path):
    import json

    import keras

    run = trained(tmp_path / "bf16", MOBILENET, overrides=["train.mixed_precision=mixed_bfloat16"])
    assert json.loads((run / "meta.json").read_text())["precision"]["policy"] == "mixed_bfloat16"
    keras.mixed_precision.set_global_policy("float32")
    model = built_backbone(tmp_path, {**MOBILENET, "weights": str(run / "backbone.weights.h5")})
    assert all(w.dtype == "float32" for w in model.weights)
    assert_same(model.get_weights(), run_backbone(run))
