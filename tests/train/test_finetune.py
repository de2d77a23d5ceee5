"""Fine-tuning offline end to end: a tiny ResNet18 trained on classification, restored by layer name
into a counting recipe, frozen for one epoch, then unfrozen at a smaller learning rate; a crash in the
unfrozen phase resumes. Plus the restore report, the error messages and the learning-rate multiplier.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from tests.conftest import TINY, deep_update, run_cli, write_recipe
from visiontk.errors import ModelError

BACKBONE = {"name": "resnet18", "weights": "none", "params": {"widths": [4, 8, 8, 16], "stem": "cifar"}}
COUNTING = {"task": "counting", "data": {"params": {"min_objects": 0, "max_objects": 3}}}


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    """runs/classify in small: one epoch of classification (4 steps)."""
    from visiontk import train
    from visiontk.recipe import load_recipe

    out = tmp_path_factory.mktemp("source") / "classify"
    train(load_recipe(data=deep_update(TINY, {"model": {"backbone": BACKBONE}, "output": str(out)})),
          echo=lambda s: None)
    return out


def recipe(tmp_path, extra: dict, name="run", backbone=BACKBONE):
    from visiontk.recipe import load_recipe

    data = deep_update(TINY, deep_update({"model": {"backbone": backbone}, **COUNTING}, extra))
    data["output"] = str(tmp_path / name)
    return load_recipe(data=data)


def backbone_weights(model) -> dict:
    bb = model.get_layer("backbone")
    return {layer.name: [np.array(w) for w in layer.get_weights()] for layer in bb.layers if layer.weights}


def same(a, b) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


class Crash(Exception):
    pass


def test_restore_freeze_unfreeze_and_resume_in_phase_two(source_run, tmp_path, monkeypatch):
    from visiontk import train
    from visiontk.train import finetune
    from visiontk.model_files import load_keras_model

    r = recipe(tmp_path, {"model": {"init_from": str(source_run)}, "train": {"epochs": 3, "finetune": {
        "freeze": "backbone", "unfreeze_after_epochs": 1, "backbone_lr_multiplier": 0.1}}})
    snaps, states, crash_at = {}, {}, [2]
    original = finetune.FinetuneSchedule.on_epoch_begin

    def spy(self, epoch, logs=None):          # weights as the previous epoch left them
        snaps.setdefault(epoch, backbone_weights(self.model))
        if crash_at and epoch == crash_at[0]:
            crash_at.clear()
            raise Crash(epoch)
        original(self, epoch, logs)
        states[epoch] = (self.ft.frozen, len(self.model.trainable_variables))

    monkeypatch.setattr(finetune.FinetuneSchedule, "on_epoch_begin", spy)
    lines: list[str] = []
    with pytest.raises(Crash):
        train(r, echo=lines.append)
    source = backbone_weights(load_keras_model(source_run / "model.keras"))
    # restored: every backbone layer holds the first run's weights at the start of the second
    assert snaps[0].keys() == source.keys()
    assert all(same(snaps[0][k], source[k]) for k in source)
    report = json.loads((tmp_path / "run" / "init_report.json").read_text())
    assert report["restored"] == report["backbone_layers"] == len(source) and report["not_restored"] == {}
    assert report["finetune"]["freeze"] == "backbone"
    assert any(f"{len(source)} of {len(source)} backbone layers restored" in s for s in lines)
    # phase 1: nothing of the backbone moved, batch-norm moving statistics included
    assert all(same(snaps[1][k], snaps[0][k]) for k in source)
    # phase 2 (one epoch): the convolutions trained, batch norm stayed in inference mode
    bn = [k for k in source if k.endswith("_bn")]
    convs = [k for k in source if k.endswith("_conv")]
    assert bn and all(same(snaps[2][k], snaps[1][k]) for k in bn)
    assert all(not same(snaps[2][k], snaps[1][k]) for k in convs)
    assert states[0][0] is True and states[1][0] is False and states[1][1] > states[0][1]

    # the crash came at the start of epoch 3: the rerun resumes in phase 2 and finishes
    lines.clear()
    result = train(r, echo=lines.append)
    assert result.resumed_from_epoch == 2 and any("resuming" in s for s in lines)
    assert states[2][0] is False and states[2][1] == states[1][1]
    assert result.metrics["train"]["epochs_run"] == 3


def test_report_of_a_partial_restore_and_other_sources(source_run, tmp_path):
    from visiontk.train.finetune import summary_line
    from visiontk.train.session import prepare

    wider = {**BACKBONE, "params": {**BACKBONE["params"], "widths": [4, 8, 8, 32]}}
    p = prepare(recipe(tmp_path, {"model": {"init_from": str(source_run)}}, backbone=wider))
    rep = p.finetune.report
    assert 0 < rep["restored"] < rep["backbone_layers"]
    assert all(k.startswith("conv5") for k in rep["not_restored"])
    assert any("shape mismatch: source (3, 3, 8, 16), here (3, 3, 8, 32)" in v
               for v in rep["not_restored"].values())
    assert "not restored: conv5" in summary_line(rep)
    # a checkpoint of the run (architecture rebuilt from its recipe.yaml) and its model.keras
    for src in (source_run / "checkpoints" / "last.weights.h5", source_run / "model.keras"):
        rep = prepare(recipe(tmp_path, {"model": {"init_from": str(src)}})).finetune.report
        assert rep["restored"] == rep["backbone_layers"] and rep["source"] == str(src)


def test_until_layer_freezes_the_layers_up_to_it(tmp_path):
    from visiontk.train.session import prepare

    p = prepare(recipe(tmp_path, {"train": {"finetune": {"freeze": "until_layer conv3_block1_out"}}}))
    bb = p.model.get_layer("backbone")
    names = [layer.name for layer in bb.layers]
    cut = names.index("conv3_block1_out")
    assert not any(layer.trainable for layer in bb.layers[1:cut + 1])
    assert all(layer.trainable for layer in bb.layers[cut + 1:])


LENET = {"name": "lenet5", "weights": "none"}


@pytest.mark.parametrize("extra,backbone,message", [
    ({"model": {"init_from": "no/such/run"}}, BACKBONE, r"model.init_from: no/such/run not found"),
    ({"model": {"init_from": "SOURCE"}}, LENET,
     r"nothing restorable from .*model.keras: 0 of 4 backbone layers"),
    ({"train": {"finetune": {"freeze": "until_layer conv2_blok1_1_conv"}}}, BACKBONE,
     r"no layer 'conv2_blok1_1_conv' \(did you mean 'conv2_block1_1_conv'\?\)"),
])
def test_errors_for_people(source_run, tmp_path, extra, backbone, message):
    from visiontk.train.session import prepare

    if extra.get("model", {}).get("init_from") == "SOURCE":
        extra = {"model": {"init_from": str(source_run)}}
    with pytest.raises(ModelError, match=message):
        prepare(recipe(tmp_path, extra, backbone=backbone))


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_backbone_lr_multiplier_scales_backbone_updates(opt):
    import keras
    import tensorflow as tf

    from visiontk.recipe.schema import Finetune
    from visiontk.train.finetune import Finetuner

    inp = keras.Input((3,), name="image")
    backbone = keras.Model(inp, keras.layers.Dense(2, name="body")(inp), name="backbone")
    x_in = keras.Input((3,))
    model = keras.Model(x_in, keras.layers.Dense(1, name="head")(backbone(x_in)))
    cfg = SimpleNamespace(train=SimpleNamespace(finetune=Finetune(backbone_lr_multiplier=0.1)))
    ft = Finetuner(model, cfg)
    optimizer = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam}[opt](learning_rate=0.5)
    ft.wrap_optimizer(optimizer)
    x = np.ones((4, 3), np.float32)
    before = [np.array(v) for v in model.trainable_variables]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model(x) ** 2) + 1.0
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply(grads, model.trainable_variables)
    steps = {v.path: np.array(v) - b for v, b in zip(model.trainable_variables, before)}
    for v, g in zip(model.trainable_variables, grads):
        lr = 0.05 if v.path.startswith("body") or "backbone" in v.path else 0.5
        # SGD: -lr * g; Adam's first step: -lr * sign(g) (up to epsilon)
        want = -lr * (np.array(g) if opt == "sgd" else np.sign(np.array(g)))
        np.testing.assert_allclose(steps[v.path], want, rtol=1e-3, atol=1e-6)


@pytest.mark.slow
def test_finetune_under_mirrored_strategy(tmp_path):
    """Restore + freeze + unfreeze (retrace) + lr multiplier under MirroredStrategy on 2 logical CPUs
    (LeNet-5 keeps the subprocess short; the source is an untrained classifier saved here)."""
    from visiontk.train.session import prepare

    source = tmp_path / "source.keras"
    prepare(recipe(tmp_path, {"task": "classification"}, backbone=LENET)).model.save(str(source))
    path = write_recipe(tmp_path / "ft.yaml", {
        "model": {"backbone": LENET, "init_from": str(source)}, **COUNTING,
        "train": {"epochs": 2, "finetune": {"freeze": "backbone", "unfreeze_after_epochs": 1,
                                            "backbone_lr_multiplier": 0.1}},
        "distribute": {"strategy": "mirrored", "devices": ["CPU:0", "CPU:1"], "logical_cpus": 2}},
        output=tmp_path / "mirrored")
    out = run_cli("train", path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "MirroredStrategy" in out.stdout and "4 of 4 backbone layers restored" in out.stdout
    assert "epoch 2: backbone unfrozen" in out.stdout
    assert (tmp_path / "mirrored" / "metrics.json").is_file()
