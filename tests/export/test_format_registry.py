"""Export formats are a registry: the CLI lists every registered format and its options, and a format
written in one file and registered with one line (here a toy .npz format, defined in this test with no
change to visiontk) is exported and verified by `export_model` like the built-in ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_cli

META = {"task": "classification", "input": {"name": "image", "shape": [4, 4, 1], "resize": "stretch"},
        "class_names": ["a", "b", "c"], "decode": {"top_k": 2}}


# --- the toy format: one module's worth of code -------------------------------------------------

def _write_npz(serving, folder: Path, options: dict) -> None:
    """Flatten -> Dense(softmax) weights as an .npz (rounded to `options['npz_digits']` digits)."""
    kernel, bias = serving.model.get_layer("probs").get_weights()
    digits = options["npz_digits"]
    np.savez(Path(folder) / "weights.npz", kernel=kernel.round(digits), bias=bias.round(digits))


def _load_npz(folder: Path, file: str = "weights.npz"):
    """The numpy forward pass of the weights written by _write_npz (no TensorFlow)."""
    weights = np.load(Path(folder) / file)

    def run(batch):
        logits = np.asarray(batch, np.float64).reshape(len(batch), -1) @ weights["kernel"] + weights["bias"]
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return {"probs": (e / e.sum(axis=1, keepdims=True)).astype(np.float32)}

    return run


def _toy_format(**changes):
    from visiontk.export.formats import ExportFormat, Option

    settings = dict(name="npz", title="NPZ", files="weights.npz", write=_write_npz, load=_load_npz,
                    needs=("numpy",),
                    options=(Option("npz_digits", 7, "Digits kept", allowed=range(1, 10)),),
                    metadata=lambda options: {"npz_digits": options["npz_digits"]})
    return ExportFormat(**{**settings, **changes})


@pytest.fixture
def register_toy():
    """register(fmt), undone after the test (so no other test sees the toy format)."""
    from visiontk.catalog import EXPORT_FORMATS
    from visiontk.export.formats import names, register

    names()                      # the built-in formats first, as in a real process
    added = []

    def add(fmt):
        added.append(fmt.name)
        return register(fmt)     # the one registry line of a format module

    yield add
    for name in added:
        EXPORT_FORMATS._entries.pop(name, None)


def _tiny_dense():
    import keras
    from keras import layers

    inp = keras.Input((4, 4, 1), name="image")
    out = layers.Dense(3, activation="softmax", name="probs")(layers.Flatten()(inp))
    return keras.Model(inp, out)


# --- tests --------------------------------------------------------------------------------------

def test_the_cli_offers_every_registered_format_and_option():
    from visiontk.cli.export import export_cmd
    from visiontk.export.formats import all_options, get, names

    assert set(names()) >= {"saved_model", "onnx", "tflite"}
    params = {p.name: p for p in export_cmd.params}
    assert list(params["formats"].type.choices) == ["all", *names()]
    for option in all_options():
        assert params[option.name].default == option.default
    assert params["opset"].default == get("onnx").options[0].default == 17
    res = run_cli("export", "--help")
    assert res.returncode == 0, res.stderr
    for name in names():
        assert name in res.stdout
    assert "--opset" in res.stdout and "13..18" in res.stdout and "0.0001" in res.stdout


def test_a_format_registered_by_one_line_exports_and_verifies(tmp_path, register_toy):
    import json

    from visiontk.export import export_model

    register_toy(_toy_format())
    steps = []
    result = export_model(_tiny_dense(), META, tmp_path / "toy", formats="npz", npz_digits=9,
                          echo=steps.append)
    assert result.parity["passed"] and list(result.parity["formats"]) == ["npz"]
    assert result.parity["formats"]["npz"]["max_abs"] < 1e-6
    metadata = json.loads((tmp_path / "toy" / "metadata.json").read_text())
    assert metadata["files"] == {"npz": "weights.npz"} and metadata["npz_digits"] == 9
    assert sorted(p.name for p in (tmp_path / "toy").iterdir()) == \
        ["metadata.json", "onnx_predict.py", "parity.json", "runtime", "weights.npz"]
    assert "weights.npz" in steps[-1]

    # The option reaches the writer: one digit is too coarse for the default tolerance.
    from visiontk.errors import ExportError

    with pytest.raises(ExportError, match="did not verify.*npz"):
        export_model(_tiny_dense(), META, tmp_path / "coarse", formats="npz", npz_digits=1,
                     echo=lambda *_: None)


def test_a_format_converted_from_another_writes_that_one_first_and_removes_it(tmp_path,
                                                                             register_toy):
    """`via`: the source format is written first (its own step) and not kept unless asked for."""
    from visiontk.export import _step_count, export_model
    from visiontk.export.formats import get

    def write_copy(serving, folder, options):        # reads what its source wrote
        (Path(folder) / "copy.npz").write_bytes((Path(folder) / "weights.npz").read_bytes())

    register_toy(_toy_format())
    copy = register_toy(_toy_format(name="npz_copy", title="NPZ copy", files="copy.npz",
                                    write=write_copy, via="npz", options=(),
                                    load=lambda folder: _load_npz(folder, "copy.npz")))
    assert _step_count([copy]) == 3 and _step_count([get("npz"), copy]) == 3
    result = export_model(_tiny_dense(), META, tmp_path / "c", formats="npz_copy",
                          echo=lambda *_: None)
    assert result.parity["passed"] and list(result.parity["formats"]) == ["npz_copy"]
    assert (tmp_path / "c" / "copy.npz").is_file() and not (tmp_path / "c" / "weights.npz").exists()


def _one_line(exc) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_an_unknown_format_is_one_line_naming_it(tmp_path):
    from visiontk.errors import ExportError
    from visiontk.export import export_model

    with pytest.raises(ExportError) as exc:
        export_model(None, META, tmp_path / "x", formats="onnx,bogus", echo=lambda *_: None)
    assert "unknown export format(s) bogus" in _one_line(exc) and "onnx" in _one_line(exc)
    res = run_cli("export", tmp_path / "run", "--format", "bogus")
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1 and "bogus" in lines[0], res.stderr
    assert not (tmp_path / "x").exists()


def test_a_missing_package_is_one_line_naming_format_and_package(tmp_path, register_toy):
    from visiontk.errors import ExportError
    from visiontk.export import export_model

    register_toy(_toy_format(needs=("numpy", "visiontk_no_such_package")))
    with pytest.raises(ExportError) as exc:
        export_model(_tiny_dense(), META, tmp_path / "x", formats="npz", echo=lambda *_: None)
    line = _one_line(exc)
    assert "export format 'npz'" in line and "visiontk_no_such_package" in line
    assert "pip install visiontk_no_such_package" in line
    assert not list(tmp_path.iterdir())                  # checked before anything is written


def test_an_option_is_checked_by_its_format(tmp_path):
    from visiontk.errors import ExportError
    from visiontk.export import export_model

    with pytest.raises(ExportError, match=r"--opset 12 is not supported: tf2onnx writes ONNX "
                                          r"opsets 13\.\.18 \(default 17\)"):
        export_model(None, META, tmp_path / "x", formats="onnx", opset=12, echo=lambda *_: None)
    with pytest.raises(ExportError, match="unknown export option 'opst' \\(did you mean 'opset'"):
        export_model(None, META, tmp_path / "x", formats="onnx", opst=17, echo=lambda *_: None)
    assert not list(tmp_path.iterdir())
