"""Every registered task (visiontk.catalog.TASKS, not a hand-kept list) trains under multi_worker, 2
workers on 127.0.0.1, through its own input path: each worker's batches come from the task's
training_dataset / validation_dataset given that worker's InputContext (2 shards, its index, the
per-replica batch of 8 = 16 / 2). One 2-worker run per task serves all the checks on it:

- both workers exit 0 with equal weight fingerprints and no coordination error ("UNAVAILABLE",
  "StartAbort"), and worker 1 leaves only after the chief has written metrics.json;
- the validation batches cover the split's 20 images once across the workers (20 is not a multiple
  of the global batch of 16) and are the same in every epoch;
- metric learning: the training batches are P x K (2 identities x 4 images per replica), the two
  workers' batches of one step hold different identities, and held-out identities never appear;
- denoising: the validation noise is the same in every epoch.

The workers run `visiontk train` (as `visiontk launch` starts them) with the task class's two input
methods wrapped to log what they were asked and what they gave (WORKER below).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, deep_update
from tests.tiny_recipes import all_recipes
from visiontk.train.launch import free_ports, tf_config

VAL_IMAGES = 20
MULTI_WORKER = {"train": {"epochs": 2, "batch_size": 16},
                "data": {"params": {"val_size": VAL_IMAGES}}}
PER_TASK = {"metric": {"model": {"head": {"heldout_identities": [0, 1]}}}}   # 4 training identities
HELDOUT = {0, 1}
K = 4                                         # tests/tiny_recipes/metric.py: images_per_identity

# One worker: `visiontk train RECIPE distribute.strategy=multi_worker`, the task's input methods
# logging (LOGS/<kind>-<worker>.jsonl) the contexts they get and every batch their datasets give.
WORKER = r"""
import json, os, sys

import numpy as np

from visiontk.catalog import TASKS, populate
from visiontk.cli import main
from visiontk.tasks.base import InputContext

logs, name, recipe = sys.argv[1:4]
worker = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
populate()
task = TASKS.get(name)


def log(stream, **fields):
    with open(os.path.join(logs, f"{stream}-{worker}.jsonl"), "a") as f:
        f.write(json.dumps(fields) + "\n")


def watched(kind, ds):
    import tensorflow as tf

    def note(x, y):
        x, y = x.numpy(), y.numpy()
        log(kind, n=len(x), x=float(np.sum(x, dtype=np.float64)), y=float(np.sum(y, dtype=np.float64)),
            first=np.reshape(y, (len(y), -1))[:, 0].tolist())
        return 0

    def step(x, y):
        done = tf.py_function(note, [tf.nest.flatten(x)[0], tf.nest.flatten(y)[0]], tf.int32)
        with tf.control_dependencies([done]):
            return tf.nest.map_structure(tf.identity, (x, y))

    return ds.map(step)


def logging(kind, method):
    def wrapped(self, data, context=InputContext()):
        got = method(self, data, context)
        given = got[0] if kind == "train" else got
        log("context", kind=kind, shards=context.num_shards, index=context.shard_index,
            batch=context.per_replica_batch, dataset=given is not None)
        if context.num_shards == 1 or given is None:
            return got
        return (watched(kind, got[0]), got[1]) if kind == "train" else watched(kind, got)
    return wrapped


task.training_dataset = logging("train", task.training_dataset)
task.validation_dataset = logging("val", task.validation_dataset)
main(["train", recipe, "distribute.strategy=multi_worker"])
"""


def registered_tasks() -> list[str]:
    from visiontk.catalog import TASKS, populate

    populate()
    return sorted(TASKS.names())


@dataclass
class Run:
    """A finished 2-worker run: exit codes, each worker's output, when each process was seen gone,
    the run folder and the folder of the input logs."""

    codes: list
    outputs: list
    ended: list
    run: Path
    logs: Path

    def records(self, kind: str, worker: int) -> list[dict]:
        path = self.logs / f"{kind}-{worker}.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def history(self) -> list[dict]:
        import csv

        return list(csv.DictReader(open(self.run / "history.csv")))


def two_workers(name: str, folder: Path, timeout: float = 300) -> Run:
    """Train task `name`'s tiny recipe (+ MULTI_WORKER) with 2 workers on 127.0.0.1."""
    import yaml

    recipes = all_recipes()
    if name not in recipes:
        pytest.fail(f"task '{name}' is registered but has no tiny recipe: add "
                    f"tests/tiny_recipes/{name}.py (RECIPE = overrides of tests.conftest.TINY)")
    data = deep_update(deep_update(recipes[name], MULTI_WORKER), PER_TASK.get(name, {}))
    data["output"] = str(folder / "run")
    recipe = folder / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(data, sort_keys=False))
    logs = folder / "logs"
    logs.mkdir()
    (folder / "tmp").mkdir()
    ports = free_ports(2)
    procs = []
    for i in range(2):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "CI": "true", "TF_CONFIG": tf_config(ports, i),
               "TMPDIR": str(folder / "tmp")}
        with open(folder / f"worker{i}.txt", "w") as out:
            procs.append(subprocess.Popen([sys.executable, "-c", WORKER, str(logs), name, str(recipe)],
                                          cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True))
    ended = [None, None]
    deadline = time.monotonic() + timeout
    while None in ended and time.monotonic() < deadline:
        for i, p in enumerate(procs):
            if ended[i] is None and p.poll() is not None:
                ended[i] = time.time()
        time.sleep(0.05)
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    outputs = [(folder / f"worker{i}.txt").read_text() for i in range(2)]
    return Run([p.returncode for p in procs], outputs, ended, folder / "run", logs)


_RUNS: dict[str, Run] = {}


def run_of(name: str, tmp_path_factory) -> Run:
    """Task `name`'s 2-worker run, once per test process (every check below reads the same run)."""
    if name not in _RUNS:
        _RUNS[name] = two_workers(name, tmp_path_factory.mktemp(f"mw_{name}"))
    return _RUNS[name]


def epochs_of(records: list, epochs: int = 2) -> list[list]:
    """Validation records of one worker cut into its epochs (the same number of batches each)."""
    assert records and len(records) % epochs == 0, records
    size = len(records) // epochs
    return [records[e * size:(e + 1) * size] for e in range(epochs)]


@pytest.mark.slow
@pytest.mark.parametrize("name", registered_tasks())
def test_trains_under_two_workers_through_its_input_path(name, tmp_path_factory):
    r = run_of(name, tmp_path_factory)
    tails = "\n".join(f"--- worker {i}\n{out[-3000:]}" for i, out in enumerate(r.outputs))
    assert r.codes == [0, 0], tails
    for out in r.outputs:
        assert "UNAVAILABLE" not in out and "StartAbort" not in out, tails
    prints = [re.findall(r"weights fingerprint (\w+)", out) for out in r.outputs]
    assert len(prints[0]) == len(prints[1]) == 1 and prints[0] == prints[1], tails
    finished = (r.run / "metrics.json").stat().st_mtime
    assert r.ended[1] >= finished, "worker 1 left before the chief had written the run"

    given_val = []
    for i in range(2):
        contexts = r.records("context", i)
        assert {"kind": "train", "shards": 2, "index": i, "batch": 8, "dataset": True} in contexts
        val = [c for c in contexts if c["kind"] == "val" and c["shards"] == 2]
        assert [(c["index"], c["batch"]) for c in val] == [(i, 8)], contexts
        given_val.append(val[0]["dataset"])
        train = r.records("train", i)
        assert train and all(b["n"] == 8 for b in train)
    history = r.history()
    assert [row["epoch"] for row in history] == ["0", "1"]
    watched = [k for k in history[0] if k.startswith("val_")]
    assert watched and all(np.isfinite(float(row[k])) for row in history for k in watched), history
    if given_val == [True, True]:             # Keras validation: every image once, every epoch alike
        per_worker = [epochs_of(r.records("val", i)) for i in range(2)]
        for first, second in per_worker:
            assert first == second
        assert sum(b["n"] for w in per_worker for b in w[0]) == VAL_IMAGES
        assert "val_loss" in history[0]
    else:                                     # validated by the task's callbacks (metric learning)
        assert given_val == [False, False]


@pytest.mark.slow
def test_metric_learning_batches_are_p_by_k_of_training_identities(tmp_path_factory):
    r = run_of("metric", tmp_path_factory)
    assert r.codes == [0, 0], r.outputs[0][-2000:]
    steps = [[b["first"] for b in r.records("train", i)] for i in range(2)]
    assert steps[0] and steps[1]
    for batches in steps:
        for ids in batches:
            assert len(ids) == 8 and not HELDOUT & set(ids), ids
            groups = [ids[j:j + K] for j in range(0, 8, K)]
            assert all(len(set(g)) == 1 for g in groups) and groups[0][0] != groups[1][0], ids
    # one step's replica batches are parts of one global P x K batch: 4 different identities
    for a, b in zip(*steps):
        assert not set(a) & set(b), (a, b)


@pytest.mark.slow
def test_denoising_validation_noise_is_the_same_every_epoch(tmp_path_factory):
    r = run_of("denoising", tmp_path_factory)
    assert r.codes == [0, 0], r.outputs[0][-2000:]
    noisy = []
    for i in range(2):
        first, second = epochs_of(r.records("val", i))
        assert [b["x"] for b in first] == [b["x"] for b in second]       # the noisy inputs
        assert all(b["x"] != b["y"] for b in first)                      # noise was added
        noisy.append(first[0]["x"])
    assert noisy[0] != noisy[1]                                          # each worker its images


@pytest.mark.parametrize("loss", ["triplet_semihard", "contrastive", "triplet"])
def test_sharded_metric_samplers_split_the_global_schedule(loss, tiny_recipe):
    """Two shards' batches of one step together are the single-device global batch's draws: its P
    identities for P x K batches (each shard whole identities), its pairs / triplets' plan."""
    from visiontk.data.make import make_source
    from visiontk.tasks.base import InputContext, make_task

    recipe = tiny_recipe(deep_update(all_recipes()["metric"],
                                     {"model": {"head": {"loss": loss, "heldout_identities": [0, 1]}}}))
    source = make_source(recipe)
    task = make_task(recipe, source)
    data = source.load("train")

    def targets(context):
        ds, _ = task.training_dataset(data, context)
        return [np.asarray(y) for _, y in ds.take(3)]

    whole = targets(InputContext())
    parts = [targets(InputContext(2, k, 8)) for k in range(2)]
    for step, batch in enumerate(whole):
        halves = [parts[0][step], parts[1][step]]
        assert [len(h) for h in halves] == [8, 8]
        if loss == "triplet_semihard":        # identities: the same P of the global batch, K each
            assert sorted(np.concatenate(halves)) == sorted(batch)
            assert not HELDOUT & set(batch.tolist())
        else:                                 # pair labels (same / other): the global plan, split
            assert np.array_equal(np.concatenate(halves), batch)


def test_a_replica_batch_of_partial_identities_is_refused(tiny_recipe):
    """Global batch 24 = 6 identities x 4: 12 per replica over 2 workers is 3 x 4, 6 over 4 workers
    would split an identity: refused (each replica's batch must hold whole identities)."""
    from visiontk.data.make import make_source
    from visiontk.errors import RecipeError
    from visiontk.tasks.base import InputContext, make_task

    recipe = tiny_recipe(deep_update(all_recipes()["metric"], {"train": {"batch_size": 24},
                                                               "data": {"params": {"colors": 4}}}))
    source = make_source(recipe)
    task = make_task(recipe, source)
    data = source.load("train")
    task.training_dataset(data, InputContext(2, 1, 12))
    with pytest.raises(RecipeError, match=r"batches of 6 images, not a multiple of "
                                          r"model.head.images_per_identity \(4\)"):
        task.training_dataset(data, InputContext(4, 1, 6))
