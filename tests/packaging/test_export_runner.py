"""Self-contained exports: `visiontk export` puts the TensorFlow-free runner (export/onnx_predict.py,
one source) into each export folder, and `python FOLDER/onnx_predict.py image.png` runs a copy of
that folder from anywhere, in a process that cannot import TensorFlow or visiontk, printing what
`visiontk predict` prints."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, cli_in_process
from tests.export.heads import exported, scene_images

# A finder ahead of every other that refuses TensorFlow, Keras, tf2onnx and visiontk (the editable
# install of this checkout would find visiontk otherwise); then the script runs as `python SCRIPT`.
BLOCKED = """
import runpy, sys
BLOCKED = {"tensorflow", "keras", "tf2onnx", "visiontk"}
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked in this test")
sys.meta_path.insert(0, Refuse())
try:
    import visiontk
except ImportError:
    pass
else:
    sys.exit("the blocker let visiontk through")
script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
"""


def _runner_module():
    spec = importlib.util.spec_from_file_location("onnx_predict_probe",
                                                  ROOT / "export" / "onnx_predict.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_export_carries_the_runner(tmp_path_factory):
    from visiontk.shipped import runner_path

    out, _ = exported("classification", tmp_path_factory)
    assert runner_path() == ROOT / "export" / "onnx_predict.py"           # this checkout's one copy
    assert (out / "onnx_predict.py").read_bytes() == runner_path().read_bytes()


def test_the_copied_runner_works_from_anywhere_without_tensorflow(tmp_path_factory, tmp_path, capsys):
    out, _ = exported("classification", tmp_path_factory)
    moved = tmp_path / "elsewhere" / "my model"
    shutil.copytree(out, moved)
    images = [str(p) for p in scene_images(tmp_path / "images", n=2, seed=5)]
    cwd = tmp_path / "somewhere else"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    alone = subprocess.run([sys.executable, "-I", "-c", BLOCKED, str(moved / "onnx_predict.py"),
                            *images], capture_output=True, text=True, timeout=120, cwd=cwd, env=env)
    assert alone.returncode == 0, alone.stderr
    rows = [json.loads(line) for line in alone.stdout.splitlines()]
    code, stdout, err = cli_in_process("predict", out, *images, "--backend", "onnx", capsys=capsys)
    assert code == 0, err
    ours = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    assert len(rows) == len(images) and rows == ours


def test_the_runner_finds_its_export_folder(tmp_path):
    """In an export folder (metadata.json beside it) EXPORT_DIR is optional; another export folder
    given first still wins; elsewhere the first argument is the export folder."""
    split = _runner_module().split_export_dir
    home, other = tmp_path / "home", tmp_path / "other"
    for folder in (home, other):
        folder.mkdir()
        (folder / "metadata.json").write_text("{}")
    assert split(["a.png", "b.png"], home) == (home, ["a.png", "b.png"])
    assert split([str(other), "a.png"], home) == (other, ["a.png"])
    images = str(tmp_path / "images")                  # a folder of images, not an export
    assert split([images, "a.png"], home) == (home, [images, "a.png"])
    assert split([str(other), "a.png"], tmp_path) == (other, ["a.png"])
    assert split(["nowhere", "a.png"], tmp_path) == (Path("nowhere"), ["a.png"])
