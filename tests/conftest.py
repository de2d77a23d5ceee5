"""Shared test helpers. Tests build tiny models and train a few steps; real training lives in
recipes/ and benchmarks/."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two pytest workers on the cores: one op thread each instead of two
    # competing pools (also inherited by the CLI subprocesses the tests start)
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]

# A recipe small enough to train in seconds; tests override what they need. float32, not the default
# `auto`: the same numbers on every machine (with or without bfloat16 instructions, CI included);
# tests of mixed precision set it.
TINY = {
    "task": "classification",
    "model": {"backbone": {"name": "lenet5", "weights": "none"}, "input_shape": [32, 32, 3],
              "head": {}},
    "data": {"source": "synthetic-scenes",
             "params": {"train_size": 64, "val_size": 32, "max_objects": 1, "texture": 0.2}},
    "train": {"epochs": 1, "batch_size": 16, "optimizer": {"name": "adam", "learning_rate": 0.001},
              "tensorboard": False, "mixed_precision": "float32"},
    "seed": 0,
}


def deep_update(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_update(out[k], v)
        else:
            out[k] = copy.deepcopy(v)         # never shares a caller's dict: tests mutate theirs
    return out


@pytest.fixture
def tiny_recipe(tmp_path):
    """tiny_recipe(**sections) -> a validated Recipe writing into tmp_path/run."""
    from visiontk.recipe import load_recipe

    def make(extra: dict | None = None, overrides=()):
        data = deep_update(TINY, extra or {})
        data.setdefault("output", str(tmp_path / "run"))
        return load_recipe(data=data, overrides=overrides)

    return make


def write_recipe(path: Path, extra: dict | None = None, *, output: Path | None = None) -> Path:
    """Write TINY (+extra) as YAML to `path`; returns the path."""
    import yaml

    data = deep_update(TINY, extra or {})
    if output is not None:
        data["output"] = str(output)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_cli(*args, cwd=None, timeout=600, env=None) -> subprocess.CompletedProcess:
    """`python -m visiontk ARGS` in a subprocess (this checkout's code, CI=true, no stdin)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "CI": "true", **(env or {})}
    return subprocess.run([sys.executable, "-m", "visiontk", *map(str, args)], cwd=cwd or ROOT,
                          capture_output=True, text=True, timeout=timeout, env=full_env,
                          stdin=subprocess.DEVNULL)


def cli_in_process(*args, capsys):
    """`visiontk ARGS` in this process (no interpreter and TensorFlow start-up): (exit code, stdout,
    stderr); the subprocess path is `run_cli`."""
    from visiontk.cli import main

    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(autouse=True)
def _reset_keras_state():
    """Each test starts with float32 policy and a fresh Keras session (if Keras was imported)."""
    yield
    if "keras" in sys.modules:
        import keras

        keras.mixed_precision.set_global_policy("float32")
        keras.backend.clear_session()


# Modules that share the session's trained-and-exported tiny heads (tests/export/heads.py): one
# pytest-xdist group, so each head is trained once. Every other module is a group of its own, so
# module-scoped fixtures (tiny runs) are built once too (`make test` runs `--dist loadgroup`).
SHARED_HEADS = ("tests/export/", "tests/demo/", "tests/dense/test_denoising.py",
                "tests/dense/test_denoising_export.py", "tests/test_every_task.py", "tests/infer/",
                "tests/packaging/test_export_runner.py")


def xdist_group(path: Path) -> str:
    """The xdist group of a test file: "heads" for SHARED_HEADS, else the file itself."""
    try:
        rel = path.resolve().relative_to(ROOT).as_posix()
    except ValueError:                  # a file outside the checkout (tests that run pytest)
        return path.name
    return "heads" if rel.startswith(SHARED_HEADS) else rel


# tryfirst: pytest-xdist turns the marks into node IDs in its own modifyitems hook; marks added
# after it are ignored, and the groups silently do not hold (tests/packaging/test_xdist_groups.py).
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        item.add_marker(pytest.mark.xdist_group(xdist_group(Path(str(item.fspath)))))
