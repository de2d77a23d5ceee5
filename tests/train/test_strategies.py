"""The same recipe under MirroredStrategy on two logical CPUs matches the single-device run.

Tolerance: the two runs see the same global batches in the same order (no dropout or augmentation,
LeNet-5 has no batch norm); Mirrored computes each half-batch on a replica and all-reduces the gradient
sums, so only the float32 summation order differs: measured identical to 7 digits here. 1e-5 relative
leaves room for oneDNN's kernel choice without hiding a real bug (a wrong loss scaling across replicas
shows up as a factor of 2, a wrong split of the global batch as ~1e-3).

Shuffling is off (`data.shuffle_buffer: 1`): under a non-default strategy Keras' fit iterates the
dataset once to build the model before the first epoch (keras/src/backend/tensorflow/trainer.py,
_maybe_symbolic_build), so a reshuffling dataset gives the Mirrored run's first epoch the second
permutation (first-epoch loss then differs by ~5e-4 relative on this recipe).
"""

from __future__ import annotations

import csv

import pytest

from tests.conftest import run_cli, write_recipe


def first_epoch_loss(run_dir):
    rows = list(csv.DictReader(open(run_dir / "history.csv")))
    return float(rows[0]["loss"]), float(rows[0]["val_loss"])


@pytest.mark.slow
def test_mirrored_two_cpus_matches_single_device(tmp_path):
    base = {"data": {"params": {"train_size": 256, "val_size": 64}, "shuffle_buffer": 1},
            "train": {"epochs": 1, "batch_size": 32, "optimizer": {"name": "sgd", "learning_rate": 0.05}}}
    single = write_recipe(tmp_path / "single.yaml", base, output=tmp_path / "single")
    mirrored = write_recipe(tmp_path / "mirrored.yaml", {
        **base, "distribute": {"strategy": "mirrored", "devices": ["CPU:0", "CPU:1"], "logical_cpus": 2}},
        output=tmp_path / "mirrored")
    a = run_cli("train", single)
    b = run_cli("train", mirrored)
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    assert "MirroredStrategy" in b.stdout
    (la, va), (lb, vb) = first_epoch_loss(tmp_path / "single"), first_epoch_loss(tmp_path / "mirrored")
    assert lb == pytest.approx(la, rel=1e-5)
    assert vb == pytest.approx(va, rel=1e-5)


def test_one_device_with_a_named_device_trains(tiny_recipe):
    from visiontk import train

    r = tiny_recipe({"distribute": {"strategy": "one_device", "devices": ["CPU:0"]}})
    result = train(r, echo=lambda s: None)
    assert result.metrics["train"]["strategy"].startswith("OneDeviceStrategy")
    assert result.metrics["train"]["epochs_run"] == 1


def test_auto_with_tf_config_is_multi_worker_and_refuses_xla_on_cpu(tmp_path):
    """`strategy: auto` + TF_CONFIG (a one-worker cluster on 127.0.0.1) is MultiWorkerMirroredStrategy;
    `train.jit_compile` is refused there on CPU workers (XLA cannot compile the cross-worker
    all-reduce on CPU: TensorFlow aborts the process mid-epoch), already at --dry-run."""
    from visiontk.train.launch import free_ports, tf_config

    recipe = write_recipe(tmp_path / "r.yaml", output=tmp_path / "run")
    out = run_cli("train", recipe, "--dry-run", "train.jit_compile=true",
                  env={"TF_CONFIG": tf_config(free_ports(1), 0)})
    assert "# strategy: MultiWorkerMirroredStrategy (worker 0 of 1 workers)" in out.stdout, out.stderr
    assert out.returncode == 2
    assert out.stderr.startswith("error: train.jit_compile: true needs GPU workers under "
                                 "MultiWorkerMirroredStrategy"), out.stderr
    assert "CPU:0" in out.stderr and not (tmp_path / "run").exists()
