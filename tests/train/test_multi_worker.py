"""Multi-worker training on 127.0.0.1 through `visiontk launch` (Keras 3's fit fails there upstream;
visiontk's loop in train/distributed.py makes it work)."""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli, write_recipe

BASE = {"data": {"params": {"train_size": 256, "val_size": 64}},
        "train": {"epochs": 2, "batch_size": 32, "optimizer": {"name": "sgd", "learning_rate": 0.05}}}


def losses(run_dir):
    return [float(r["loss"]) for r in csv.DictReader(open(run_dir / "history.csv"))]


def listing(folder: Path) -> list[str]:
    return sorted(str(f.relative_to(folder)) for f in folder.rglob("*"))


def visiontk_temp(tmpdir: Path) -> list[str]:
    """What visiontk left in TMPDIR: the launcher's and the workers' folders."""
    return [f.name for f in tmpdir.rglob("visiontk-*")]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.slow
def test_two_workers_all_reduce_and_match_single_device(tmp_path):
    recipe = write_recipe(tmp_path / "mw.yaml", BASE, output=tmp_path / "mw")
    (tmp_path / "tmp").mkdir()
    # 3 steps per call: 8 steps an epoch run as 3 + 3 + 2 (the losses below catch a skipped step)
    out = run_cli("launch", "--workers", "2", "--timeout", "170", recipe, "train.steps_per_execution=3",
                  timeout=180, env={"TMPDIR": str(tmp_path / "tmp")})
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    prints = dict(re.findall(r"\[worker (\d)\] .*weights fingerprint (\w+)", out.stdout))
    assert set(prints) == {"0", "1"} and prints["0"] == prints["1"], out.stdout[-2000:]
    assert (tmp_path / "mw" / "model.keras").is_file() and (tmp_path / "mw" / "metrics.json").is_file()
    assert "MultiWorkerMirroredStrategy (worker 1 of 2 workers)" in out.stdout
    assert "[worker 0] 8/8 " in out.stdout
    assert visiontk_temp(tmp_path / "tmp") == []

    single = write_recipe(tmp_path / "single.yaml", BASE, output=tmp_path / "single")
    assert run_cli("train", single).returncode == 0
    # worker 1 wrote nothing into the run: the same files as a single-device run, no stray temporaries
    assert listing(tmp_path / "mw") == listing(tmp_path / "single")
    # Same global batches in the same order (seeded shuffle, then a shard per worker); the gradient
    # is averaged by an all-reduce instead of on one device: float32 summation order only. A wrong
    # split or scaling moves the epoch mean loss by a factor of 2, a different batch composition by
    # ~1e-2. Epoch 1 holds to 1e-4 relative; SGD then amplifies the rounding differences (a CI run
    # saw 2.5e-4 on epoch 2), so epoch 2 gets 2e-3, still 5x below the smallest real fault.
    mw, one = losses(tmp_path / "mw"), losses(tmp_path / "single")
    assert len(mw) == len(one) == 2
    assert mw[0] == pytest.approx(one[0], rel=1e-4)
    assert mw[1] == pytest.approx(one[1], rel=2e-3)


def start_launch(tmp_path, recipe):
    """`visiontk launch --workers 2 RECIPE` started in the background with its own TMPDIR."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CI": "true", "TMPDIR": str(tmpdir)}
    launcher = subprocess.Popen([sys.executable, "-m", "visiontk", "launch", "--workers", "2", str(recipe)],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    return tmpdir, launcher


@pytest.mark.slow
def test_kill_a_worker_then_relaunch_resumes(tmp_path):
    recipe = write_recipe(tmp_path / "mw.yaml", {
        "data": {"params": {"train_size": 1536, "val_size": 64}},
        "train": {"epochs": 4, "batch_size": 32}}, output=tmp_path / "mw")
    tmpdir, launcher = start_launch(tmp_path, recipe)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(launcher.stdout.readline, "")), daemon=True)
    reader.start()
    pointer = tmp_path / "mw" / "backup" / "latest.json"
    deadline = time.time() + 150
    while time.time() < deadline and launcher.poll() is None and not pointer.exists():
        time.sleep(0.05)
    pids = {int(i): int(p) for i, p in re.findall(r"\[launch\] worker (\d) pid (\d+)", "".join(lines))}
    assert pointer.exists(), "\n".join(lines[-20:])
    assert any(n.startswith("visiontk-worker1-") for n in visiontk_temp(tmpdir))
    time.sleep(0.3)                                   # into the next epoch
    os.kill(pids[1], signal.SIGKILL)
    err = launcher.stderr.read()
    launcher.wait(timeout=60)
    assert launcher.returncode == 2
    assert "worker 1 failed (killed by signal SIGKILL)" in err and "stopped the other workers" in err
    assert not (tmp_path / "mw" / "metrics.json").exists()
    assert gone(pids[0]) and gone(pids[1])
    # kill -9 leaves worker 1 no chance to clean up: the launcher removes its TMPDIR
    assert visiontk_temp(tmpdir) == []

    out = run_cli("launch", "--workers", "2", "--timeout", "170", recipe, timeout=180,
                  env={"TMPDIR": str(tmpdir)})
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert visiontk_temp(tmpdir) == []
    assert re.search(r"\[worker 0\] visiontk: resuming .* from epoch [123]", out.stdout)
    assert re.search(r"\[worker 1\] visiontk: resuming .* from epoch [123]", out.stdout)
    rows = list(csv.DictReader(open(tmp_path / "mw" / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3]
    from visiontk.model_files import load_keras_model

    assert load_keras_model(tmp_path / "mw" / "model.keras").count_params() > 0


def test_sigterm_to_the_launcher_stops_the_workers(tmp_path):
    """SIGTERM (a scheduler, `kill`) to the launcher stops its workers (they run in their own
    sessions, so nothing else would) and removes their temporary folders."""
    recipe = write_recipe(tmp_path / "mw.yaml", BASE, output=tmp_path / "mw")
    tmpdir, launcher = start_launch(tmp_path, recipe)
    lines = []
    while len(lines) < 3:                             # the ports line, then one line per worker
        lines.append(launcher.stdout.readline())
    pids = [int(p) for p in re.findall(r"\[launch\] worker \d pid (\d+)", "".join(lines))]
    assert len(pids) == 2, lines
    launcher.send_signal(signal.SIGTERM)
    out, err = launcher.communicate(timeout=30)
    assert launcher.returncode == 2, err
    assert "error: launch: stopped by SIGTERM; stopped all workers" in err
    assert all(gone(pid) for pid in pids)
    assert visiontk_temp(tmpdir) == []


def test_sigterm_unwinds_a_worker_and_removes_its_folder(tiny_recipe, monkeypatch, tmp_path, capsys):
    """A non-chief worker stopped with SIGTERM runs its `finally`: its temporary folder goes, it exits
    143 with one line saying why (without the handler Python dies at once and the folder stays)."""
    import tempfile

    from visiontk.train import cluster, fit, loop, strategy

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(strategy, "is_multi_worker", lambda s: True)
    monkeypatch.setattr(cluster, "cluster_from_env", lambda: cluster.Cluster(workers=2, index=1))
    seen = {}

    def fit_until_terminated(p, run, **_):
        seen["dir"] = p.worker_dir.path
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)
        pytest.fail("SIGTERM did not interrupt training")

    def unhandled(signum, frame):                     # instead of killing pytest when visiontk does not
        raise AssertionError("visiontk did not handle SIGTERM")

    monkeypatch.setattr(fit, "fit_and_finish", fit_until_terminated)
    before = signal.signal(signal.SIGTERM, unhandled)
    try:
        with pytest.raises(SystemExit) as exc:
            loop.train(tiny_recipe({"output": str(tmp_path / "run")}), echo=lambda s: None)
        assert signal.getsignal(signal.SIGTERM) is unhandled      # restored after training
    finally:
        signal.signal(signal.SIGTERM, before)
    assert exc.value.code == 143
    assert seen["dir"].name.startswith("visiontk-worker1-") and not seen["dir"].exists()
    assert "error: train: stopped by SIGTERM" in capsys.readouterr().err


@pytest.mark.parametrize("cluster,task", [
    ({"worker": ["h:1", "h:2"]}, {"type": "worker", "index": 1}),
    ({"chief": ["h:0"], "worker": ["h:1", "h:2"]}, {"type": "chief", "index": 0}),
    ({"chief": ["h:0"], "worker": ["h:1", "h:2"]}, {"type": "worker", "index": 1})])
def test_each_process_knows_its_input_pipeline_as_tensorflow_does(cluster, task):
    """Cluster.pipeline (the validation shard a worker reads) is tf.distribute's input_pipeline_id."""
    import json

    from tensorflow.python.distribute import multi_worker_util

    from visiontk.train.cluster import cluster_from_env

    mine = cluster_from_env({"TF_CONFIG": json.dumps({"cluster": cluster, "task": task})})
    assert mine.pipeline == multi_worker_util.id_in_cluster(cluster, task["type"], task["index"])
