"""Training end to end through the API and the CLI with tiny recipes."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from tests.conftest import run_cli, write_recipe


def test_train_evaluate_predict_then_a_new_run_beside_the_finished_one(tiny_recipe, tmp_path):
    import cv2

    from visiontk import evaluate, predict, train

    r = tiny_recipe({"train": {"epochs": 2}})
    result = train(r, echo=lambda s: None)
    run = result.run_dir
    for name in ("recipe.yaml", "meta.json", "model.keras", "history.csv", "curves.png", "metrics.json",
                 "checkpoints/last.weights.h5", "checkpoints/best.weights.h5"):
        assert (run / name).is_file(), name
    assert not (run / "backup").exists()                       # removed once the run finished
    rows = list(csv.DictReader(open(run / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [0, 1] and "val_accuracy" in rows[0]
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["val"]["accuracy"] <= 1.0 and metrics["train"]["epochs_run"] == 2
    assert (run / "eval_val" / "confusion_matrix.png").is_file()
    again = evaluate(run, "val")
    assert again["accuracy"] == pytest.approx(metrics["val"]["accuracy"])

    img = tmp_path / "scene.png"
    cv2.imwrite(str(img), np.full((50, 70, 3), 128, np.uint8))
    rows = predict(run, [img], out_dir=tmp_path / "preds")
    assert rows[0]["task"] == "classification" and len(rows[0]["top"]) == 3
    assert abs(sum(p for _, p in rows[0]["top"]) - 1) < 1.0001
    assert (tmp_path / "preds" / "scene_pred.png").is_file()
    assert json.loads((tmp_path / "preds" / "predictions.json").read_text())[0]["label"] == rows[0]["label"]

    # the same recipe again: the finished run is kept, the new one goes beside it, said on one line
    said, kept = [], (run / "metrics.json").read_bytes()
    second = train(r, echo=said.append)
    assert second.run_dir == tmp_path / "run-2" and (second.run_dir / "metrics.json").is_file()
    assert said[0] == (f"visiontk: {run} holds a finished run (kept); training a new run in "
                       f"{tmp_path / 'run-2'} (--force retrains in {run})")
    assert (run / "metrics.json").read_bytes() == kept
    assert "run-2" in (second.run_dir / "recipe.yaml").read_text()      # it records its own folder
    forced = train(r, force=True, echo=lambda s: None)
    assert forced.run_dir == run and forced.metrics["train"]["epochs_run"] == 2
    assert not (tmp_path / "run-3").exists()


def test_dry_run_prints_and_writes_nothing(tmp_path):
    recipe = write_recipe(tmp_path / "r.yaml", output=tmp_path / "run")
    out = run_cli("train", recipe, "train.epochs=3", "--dry-run")
    assert out.returncode == 0, out.stderr
    assert "epochs: 3" in out.stdout and "# strategy: default strategy" in out.stdout
    assert "Total params" in out.stdout
    assert f"# run folder: {tmp_path / 'run'} (a new run)" in out.stdout
    assert not (tmp_path / "run").exists()


def test_schedules_follow_their_formulas():
    from visiontk.recipe.schema import ScheduleCfg
    from visiontk.catalog import SCHEDULES, populate

    populate()                        # registered on import of visiontk.train.optim

    def lr_at(schedule, step):
        cfg = ScheduleCfg(**schedule)
        lr = SCHEDULES.get(cfg.name)(cfg, 0.1, 10, 10)        # base 0.1, 10 steps/epoch, 10 epochs
        return float(lr(step)) if callable(lr) else float(lr)

    assert lr_at({"name": "constant"}, 55) == pytest.approx(0.1)
    step = {"name": "step", "drop_every_epochs": 3, "factor": 0.5}      # 30 steps = 3 epochs
    assert lr_at(step, 29) == pytest.approx(0.1)
    assert lr_at(step, 30) == pytest.approx(0.05)
    assert lr_at(step, 60) == pytest.approx(0.025)
    assert lr_at({"name": "exponential", "decay_rate": 0.5, "decay_epochs": 2}, 20) == pytest.approx(0.05)
    assert lr_at({"name": "inverse_time", "decay_rate": 1.0, "decay_epochs": 1}, 30) == pytest.approx(0.025)
    assert lr_at({"name": "cosine"}, 50) == pytest.approx(0.05, rel=1e-4)
    assert lr_at({"name": "cosine", "warmup_epochs": 2}, 10) == pytest.approx(0.05, rel=1e-4)


@pytest.mark.parametrize("name,extra", [("sgd", {"momentum": 0.9, "nesterov": True}), ("adagrad", {}),
                                        ("rmsprop", {"rho": 0.9}), ("adam", {}), ("adamw", {})])
def test_every_optimizer_builds_with_weight_decay(name, extra):
    from visiontk.recipe.schema import TrainCfg
    from visiontk.train.optim import build_optimizer

    cfg = TrainCfg(optimizer={"name": name, "learning_rate": 0.01, **extra},
                   regularization={"weight_decay": 1e-4})
    opt = build_optimizer(cfg, 10, 1)
    assert opt.weight_decay == pytest.approx(1e-4)
    assert type(opt).__name__.lower() == name
    for key, value in extra.items():                  # sgd momentum / nesterov, rmsprop rho
        assert getattr(opt, key) == pytest.approx(value), key


def test_compile_gets_label_smoothing_jit_and_the_optimizer(tiny_recipe):
    """What the recipe asks for reaches model.compile (no training: build and compile only)."""
    import keras

    from visiontk.train.session import compile_model, prepare

    r = tiny_recipe({"train": {"jit_compile": True, "regularization": {"label_smoothing": 0.1},
                               "optimizer": {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9,
                                             "nesterov": True}}})
    p = prepare(r)
    compile_model(p, steps_per_epoch=4)
    model = p.model
    assert model.jit_compile is True
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert model.optimizer.momentum == pytest.approx(0.9) and model.optimizer.nesterov is True
    y_true = np.eye(3, dtype="float32")[[0, 2, 1, 0]]
    y_pred = np.array([[.7, .2, .1], [.1, .1, .8], [.3, .4, .3], [.05, .05, .9]], "float32")
    smoothed = float(keras.losses.CategoricalCrossentropy(label_smoothing=0.1)(y_true, y_pred))
    plain = float(keras.losses.CategoricalCrossentropy()(y_true, y_pred))
    assert abs(smoothed - plain) > 0.01                  # the inputs tell the two apart
    assert float(model.loss(y_true, y_pred)) == pytest.approx(smoothed, rel=1e-6)


def test_top5_accuracy_is_reported_above_five_classes():
    from visiontk.tasks.classification.evaluation import classification_report

    names = [f"c{i}" for i in range(7)]
    probs = np.tile(np.arange(7, 0, -1, dtype="float32") / 28, (4, 1))   # ranking c0 > c1 > ... > c6
    labels = np.array([0, 3, 5, 6])                     # top-1: c0 only; top-5: c0..c4
    batches = [(np.zeros((4, 8, 8, 3), "float32"), {"label": labels})]
    report = classification_report(lambda images: probs, batches, names)
    assert report["accuracy"] == pytest.approx(0.25)
    assert report["top5_accuracy"] == pytest.approx(0.5)
    few = classification_report(lambda images: probs[:, :3] / probs[:, :3].sum(1, keepdims=True),
                                [(np.zeros((4, 8, 8, 3)), {"label": np.array([0, 1, 2, 0])})],
                                names[:3])
    assert "top5_accuracy" not in few                   # meaningless with 5 classes or fewer


def test_plateau_early_stopping_dropout_and_tensorboard(tiny_recipe):
    """A learning rate so small that val_loss cannot improve by min_delta: the plateau halves the rate
    after one flat epoch and early stopping ends a 6-epoch run after the second."""
    from visiontk import train
    from visiontk.model_files import load_keras_model

    r = tiny_recipe({"train": {"epochs": 6, "tensorboard": True,
                               "optimizer": {"name": "adam", "learning_rate": 1e-7},
                               "schedule": {"name": "plateau", "patience": 1, "factor": 0.5},
                               "regularization": {"dropout": 0.2},
                               "early_stopping": {"monitor": "val_loss", "patience": 1,
                                                  "min_delta": 0.01}}})
    result = train(r, echo=lambda s: None)
    run = result.run_dir
    assert result.metrics["train"]["epochs_run"] == 2              # stopped, not 6
    rows = list(csv.DictReader(open(run / "history.csv")))
    lrs = [float(row["learning_rate"]) for row in rows]
    assert lrs == pytest.approx([1e-7, 5e-8], rel=1e-4)             # dropped by the plateau
    layers = [layer.name for layer in load_keras_model(run / "model.keras").layers]
    assert "head_dropout" in layers
    events = list((run / "tensorboard").rglob("events.out.tfevents.*"))
    assert events and all(e.stat().st_size > 0 for e in events), "TensorBoard wrote no event file"
    import tensorflow as tf

    tags = {v.tag for e in events for ev in tf.compat.v1.train.summary_iterator(str(e))
            for v in ev.summary.value}
    assert "epoch_loss" in tags and not any(t.startswith("batch_") for t in tags), tags


def test_tensorboard_does_no_work_per_training_batch(tmp_path):
    """Keras' TensorBoard calls summary.scalar for every metric after every batch (~1 ms a step)
    even with update_freq="epoch"; visiontk's writes epoch summaries only."""
    import keras

    from visiontk.train.callbacks import EpochTensorBoard

    class Recorder:
        calls = 0

        def scalar(self, *a, **k):
            Recorder.calls += 1

    for cls, expected in ((keras.callbacks.TensorBoard, 2), (EpochTensorBoard, 0)):
        Recorder.calls = 0
        cb = cls(str(tmp_path / cls.__name__), write_graph=False, profile_batch=0)
        cb._summary_module = Recorder()           # what its `summary` property returns
        cb._should_write_train_graph = False       # set by on_train_begin in a real fit
        cb.on_train_batch_begin(0)
        cb.on_train_batch_end(0, {"loss": 1.0, "accuracy": 0.5})
        assert Recorder.calls == expected and cb._global_train_batch == 1, cls
