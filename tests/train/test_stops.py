"""How a training stops when it cannot go on (issue 17, points 3, 5 and 7): a diverged loss (also in the
multi-worker loop), a full disk or a read-only folder (the path named, the run resumable), Ctrl-C (the
line says that rerunning resumes)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import cli_in_process, run_cli, write_recipe
from visiontk.io import WriteError, atomic_path, naming_path, read_json, write_json

DIVERGING = {"train": {"optimizer": {"name": "sgd", "learning_rate": 1e12}}}


def test_a_diverged_loss_stops_the_multi_worker_loop_too(tmp_path):
    """A one-worker cluster (TF_CONFIG) trains through visiontk's own loop (train/distributed.py)."""
    from visiontk.train.launch import free_ports, tf_config

    run = tmp_path / "run"
    recipe = write_recipe(tmp_path / "r.yaml", DIVERGING, output=run)
    out = run_cli("train", recipe, env={"TF_CONFIG": tf_config(free_ports(1), 0)})
    assert "MultiWorkerMirroredStrategy" in out.stdout, out.stdout + out.stderr
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert lines[-1].startswith("error: training diverged: the loss is nan at epoch 1"), out.stderr
    assert "Traceback" not in out.stderr
    assert not (run / "model.keras").exists() and not (run / "metrics.json").exists()
    assert not (run / "backup").exists()                       # no epoch end saved NaN weights


def test_the_guard_raises_only_on_a_loss_that_is_not_finite():
    from visiontk.train.callbacks import TrainingDiverged, check_finite_loss

    for loss in (0.0, 1e30, None):
        check_finite_loss({"loss": loss} if loss is not None else {}, epoch=0, step=0,
                          run_dir="runs/x", learning_rate=0.1)
    for loss in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(TrainingDiverged, match=r"epoch 3, step 8.*runs/x.*now 0\.1\)"):
            check_finite_loss({"loss": loss}, epoch=2, step=7, run_dir="runs/x", learning_rate=0.1)


@pytest.mark.parametrize("argv, says", [
    (["train", "r.yaml"], "rerun the same command to resume from the last saved epoch"),
    (["launch", "--workers", "2", "r.yaml"], "rerun the same command to resume"),
    (["evaluate", "runs/x"], "rerun the same command to start over"),
])
def test_ctrl_c_says_what_rerunning_does(argv, says, monkeypatch, capsys):
    from visiontk.cli import app

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(app.cli, "main", interrupted)
    code, out, err = cli_in_process(*argv, capsys=capsys)
    assert code == 130
    assert err.strip().splitlines() == [err.strip()] and says in err


def enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))        # as h5py / zipfile raise it: no path


def test_a_full_disk_at_the_model_file_names_it_and_the_rerun_resumes(tmp_path, monkeypatch, capsys):
    import keras

    run = tmp_path / "run"
    recipe = write_recipe(tmp_path / "r.yaml", {"train": {"epochs": 2}}, output=run)
    monkeypatch.setattr(keras.Model, "save", enospc)
    code, out, err = cli_in_process("train", recipe, capsys=capsys)
    assert code == 2
    assert err.strip() == (f"error: cannot write {run / 'model.keras'}: no space left on the device; "
                           f"free some space there (or set output=... to a folder on another disk); "
                           f"then rerun the same command to resume from the last saved epoch")
    assert not (run / "metrics.json").exists() and not list(run.glob(".model.*"))  # no temporary
    monkeypatch.undo()
    code, out, err = cli_in_process("train", recipe, capsys=capsys)
    assert code == 0, err
    assert f"resuming {run} from epoch 2" in out and (run / "metrics.json").is_file()


def test_a_nearly_full_disk_is_seen_before_a_weights_file_is_started(tmp_path, monkeypatch):
    """h5py, when the disk fills mid-file, prints tracebacks from its destructors and can crash the
    interpreter at exit: the free space is checked before a .weights.h5 file is begun."""
    import shutil

    import keras

    from visiontk.train.callbacks import save_weights

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1000)])
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage._replace(free=10_000))
    with pytest.raises(WriteError, match=r"cannot write .*last\.weights\.h5: no space left on the "
                                         r"device \(0\.0 MB free, about 0\.1 MB needed\)"):
        save_weights(model, tmp_path / ".tmp.weights.h5", tmp_path / "last.weights.h5")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("code, says", [
    (errno.ENOSPC, "no space left on the device"), (errno.EDQUOT, "disk quota exceeded"),
    (errno.EACCES, "permission denied"), (errno.EROFS, "the file system is read-only"),
])
def test_write_errors_name_the_file_and_leave_no_temporary(tmp_path, monkeypatch, code, says):
    target = tmp_path / "metrics.json"

    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(WriteError, match=f"cannot write {target}: {says}") as exc:
        write_json(target, {"a": 1})
    assert isinstance(exc.value, OSError)         # code that tolerates a failed write still does
    assert list(tmp_path.iterdir()) == []


def test_other_errors_pass_through_and_a_resume_hint_is_added_once(tmp_path):
    with pytest.raises(FileNotFoundError):
        with naming_path(tmp_path / "x"):
            open(tmp_path / "missing" / "file")
    with pytest.raises(WriteError) as exc:
        with naming_path(tmp_path, then="; then rerun"):
            with atomic_path(tmp_path / "a.json"):
                enospc()
    assert str(exc.value).count("; then rerun") == 1 and str(tmp_path / "a.json") in str(exc.value)


@pytest.mark.parametrize("content, says", [
    (b'{"a": [1, 2', "not valid JSON (the file is cut short)"),
    (b'{"a": 1,}', "not valid JSON: Expecting property name"),
    (b"\xff\xfe{}", "not UTF-8 text"),
])
def test_read_json_names_a_damaged_file(tmp_path, content, says):
    path = tmp_path / "meta.json"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="retrain") as exc:
        read_json(path, "retrain")
    assert str(exc.value).startswith(f"{path} is {says}"), exc.value


@pytest.mark.slow
def test_a_really_full_disk_gives_one_line(tmp_path):
    """A 200 KB tmpfs (root only; skipped where mounting is not allowed): LeNet-5's weights do not fit."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs",
                                            str(disk)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        recipe = write_recipe(tmp_path / "r.yaml", output=disk / "run")
        out = run_cli("train", recipe)
        assert out.returncode == 2, out.stderr
        assert out.stderr.strip().splitlines() == [
            f"error: cannot write {disk / 'run' / 'checkpoints' / 'last.weights.h5'}: no space left "
            f"on the device " + out.stderr.split("on the device ", 1)[1].strip()]
        assert json.loads((disk / "run" / "meta.json").read_text())["task"] == "classification"
    finally:
        subprocess.run(["umount", str(disk)], check=True)
    assert Path(disk).is_dir()
