"""`train.mixed_precision`: what `auto` picks from the CPU flags / GPU (faked here, so the tests
mean the same on every machine), that an explicit value wins, that the run says and records what it
trained under, and that every task trains to finite losses under mixed_bfloat16 with a float32
model.keras. (Resume after kill -9 and export parity under bfloat16: tests/train/test_resume.py,
tests/export/test_serving.py.)"""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT, TINY, cli_in_process, deep_update, write_recipe
from tests.tiny_recipes import all_recipes
from visiontk.train import precision
from visiontk.train.precision import choose, cpu_flags

AMX = "flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8\n"
ZEN4 = "flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n"
AVX2 = "flags\t\t: fpu sse2 fma avx2\n"
SKYLAKE = "flags\t\t: fpu sse2 avx2 avx512f avx512bw\n"


def cpuinfo(tmp_path, flags_line: str):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: test CPU\n{flags_line}\nprocessor\t: 1\n{flags_line}")
    return path


@pytest.mark.parametrize("flags_line, policy, why", [
    (AMX, "mixed_bfloat16", "auto: mixed_bfloat16 (CPU has amx_bf16, avx512_bf16)"),
    (ZEN4, "mixed_bfloat16", "auto: mixed_bfloat16 (CPU has avx512_bf16)"),
    (AVX2, "float32", "auto: float32 (CPU has no bfloat16 instructions: AVX2 only)"),
    (SKYLAKE, "float32", "auto: float32 (CPU has no bfloat16 instructions: AVX-512 without BF16)"),
    ("Features\t: fp asimd bf16\n", "float32", "auto: float32 (CPU has no bfloat16 instructions: no "
                                               "AMX-BF16 or AVX512-BF16)"),
    ("", "float32", "auto: float32 (CPU flags unreadable)"),              # no flags line
])
def test_auto_follows_the_cpu_flags(tmp_path, flags_line, policy, why):
    flags = cpu_flags(cpuinfo(tmp_path, flags_line))
    assert (choose("auto", flags=flags).policy, choose(None, flags=flags).why) == (policy, why)


def test_unreadable_or_other_os_means_float32(tmp_path, monkeypatch):
    assert cpu_flags(tmp_path / "missing") is None
    assert choose("auto", flags=None) == precision.Precision("float32", "auto: float32 (CPU flags "
                                                                        "unreadable)")
    monkeypatch.setattr(sys, "platform", "darwin")          # no /proc/cpuinfo; no bf16 fast path
    assert cpu_flags(cpuinfo(tmp_path, ZEN4)) is None
    assert choose("auto").why == "auto: float32 (macOS: TensorFlow has no bfloat16 fast path there)"


def test_auto_reads_this_machines_flags_by_default(monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2"}))
    assert choose("auto").policy == "float32"
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    assert choose("auto").policy == "mixed_bfloat16"


@pytest.mark.parametrize("gpus, policy, why", [
    ([(8, 0)], "mixed_float16", "auto: mixed_float16 (GPU compute capability 8.0)"),
    ([(7, 0), (8, 6)], "mixed_float16", "auto: mixed_float16 (GPU compute capability 7.0)"),
    ([(6, 1)], "float32", "auto: float32 (GPU compute capability 6.1 < 7.0: no float16 tensor cores)"),
    ([(8, 0), (6, 1)], "float32", "auto: float32 (GPU compute capability 6.1 < 7.0: no float16 tensor "
                                  "cores)"),
    ([None], "float32", "auto: float32 (GPU compute capability unknown)"),
])
def test_auto_on_gpus_follows_the_compute_capability(gpus, policy, why):
    # the GPU decides, whatever the host CPU has
    assert choose("auto", gpus=gpus, flags={"amx_bf16"}) == precision.Precision(policy, why)


@pytest.mark.parametrize("requested", ["float32", "mixed_bfloat16", "mixed_float16"])
def test_an_explicit_value_wins(requested):
    for where in ({"flags": {"amx_bf16"}}, {"flags": {"avx2"}}, {"gpus": [(8, 0)]}, {"gpus": [(6, 1)]},
                  {"tpu": True}):
        assert choose(requested, **where) == precision.Precision(requested,
                                                                 f"{requested} (set in the recipe)")
    assert choose("float32").mixed is False and choose("mixed_bfloat16").mixed is True


def test_recipe_field_defaults_to_auto_and_keeps_old_recipes(tiny_recipe):
    from visiontk.errors import RecipeError
    from visiontk.recipe import load_recipe

    bare = deep_update(TINY, {})
    del bare["train"]["mixed_precision"]
    assert load_recipe(data=bare).train.mixed_precision == "auto"
    assert tiny_recipe({"train": {"mixed_precision": None}}).train.mixed_precision == "auto"   # old `null`
    assert tiny_recipe(overrides=["train.mixed_precision=mixed_bfloat16"]).train.mixed_precision == \
        "mixed_bfloat16"
    with pytest.raises(RecipeError, match=r"train.mixed_precision: must be one of 'auto', 'float32', "
                                          r"'mixed_bfloat16' or 'mixed_float16', got 'bfloat16'"):
        tiny_recipe({"train": {"mixed_precision": "bfloat16"}})


def test_the_decision_imports_no_tensorflow():
    code = ("import sys; from visiontk.train.precision import choose; choose('auto'); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("flags, gpus, policy", [({"avx2", "fma"}, [], "float32"),
                                                 ({"avx512_bf16"}, [], "mixed_bfloat16"),
                                                 ({"avx2"}, [(8, 0)], "mixed_float16")])
def test_setup_sets_the_policy_auto_picked(tiny_recipe, monkeypatch, flags, gpus, policy):
    import keras

    from visiontk.train import session

    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(flags))
    monkeypatch.setattr(session, "_training_gpus", lambda distribute: gpus)   # a fake GPU
    p = session.prepare(tiny_recipe({"train": {"mixed_precision": "auto"}}), build=False)
    assert p.precision.policy == policy and keras.mixed_precision.global_policy().name == policy


def test_dry_run_shows_the_choice(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"sse2", "avx2"}))
    recipe = write_recipe(tmp_path / "r.yaml", {"train": {"mixed_precision": "auto"}},
                          output=tmp_path / "run")
    code, out, err = cli_in_process("train", recipe, "--dry-run", capsys=capsys)
    assert code == 0, err
    assert "# precision: auto: float32 (CPU has no bfloat16 instructions: AVX2 only)\n" in out
    assert not (tmp_path / "run").exists()


def test_auto_run_says_and_records_what_it_trained_under(tiny_recipe, monkeypatch):
    from visiontk.model_files import load_keras_model
    from visiontk.train.loop import train

    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))
    lines = []
    result = train(tiny_recipe({"train": {"mixed_precision": "auto", "steps_per_epoch": 2}}),
                   echo=lines.append)
    why = "auto: mixed_bfloat16 (CPU has avx512_bf16)"
    assert lines[0].startswith(f"visiontk: run: default strategy (one device, CPU), {why}, 64 training ")
    meta = json.loads((result.run_dir / "meta.json").read_text())
    assert meta["precision"] == {"policy": "mixed_bfloat16", "why": why}
    model = load_keras_model(result.run_dir / "model.keras")
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}


def registered_tasks() -> list[str]:
    from visiontk.catalog import TASKS, populate

    populate()
    return sorted(TASKS.names())


@pytest.mark.slow
@pytest.mark.parametrize("task", registered_tasks())
def test_every_task_trains_under_bfloat16(task, tmp_path):
    """Heads, losses and metrics stay float32 where it matters: finite losses after a few bfloat16
    steps, a float32 model.keras whose outputs are finite."""
    import keras

    from visiontk.model_files import load_keras_model
    from visiontk.recipe import load_recipe
    from visiontk.train.loop import train

    assert task in all_recipes(), f"no tests/tiny_recipes/{task}.py"
    data = {**all_recipes()[task], "output": str(tmp_path / "run")}
    recipe = load_recipe(data=data, overrides=["train.mixed_precision=mixed_bfloat16",
                                               "train.steps_per_epoch=2"])
    run = train(recipe, echo=lambda *_: None).run_dir
    row = next(csv.DictReader(open(run / "history.csv")))
    losses = {k: float(v) for k, v in row.items() if k.endswith("loss")}
    assert losses and all(np.isfinite(v) for v in losses.values()), losses
    model = load_keras_model(run / "model.keras")
    assert all(w.dtype == "float32" for w in model.weights)
    x = np.random.default_rng(0).random((2, *recipe.model.input_shape), np.float32)
    for y in keras.tree.flatten(model(x, training=False)):
        assert keras.backend.standardize_dtype(y.dtype) == "float32" and np.isfinite(np.asarray(y)).all()
