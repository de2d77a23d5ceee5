"""What a user can get wrong with `visiontk export`: one line, exit code 2, nothing half-written."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.conftest import run_cli
from tests.export.heads import trained_run

HEAD = "classification"


def _one_error_line(res, *needles):
    assert res.returncode == 2, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_missing_run(tmp_path):
    res = run_cli("export", tmp_path / "no_such_run", "--out", tmp_path / "out")
    _one_error_line(res, "run directory not found", "no_such_run")
    assert not (tmp_path / "out").exists()


def test_corrupt_keras_file(tmp_path, tmp_path_factory):
    run = tmp_path / "run"
    shutil.copytree(trained_run(HEAD, tmp_path_factory), run)
    (run / "model.keras").write_bytes(b"PK\x03\x04 not really a zip")
    res = run_cli("export", run, "--out", tmp_path / "out")
    _one_error_line(res, "cannot load", "model.keras")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("opset", ["19", "9"])
def test_unsupported_opset(tmp_path, tmp_path_factory, opset):
    res = run_cli("export", trained_run(HEAD, tmp_path_factory), "--opset", opset, "--out",
                  tmp_path / "out")
    _one_error_line(res, f"--opset {opset} is not supported", "13..18")
    assert not (tmp_path / "out").exists()


def test_existing_export_needs_force_and_only_an_export_is_replaced(tmp_path, tmp_path_factory):
    """Without --force an export is kept; with it, replaced. A folder visiontk did not write is
    refused with or without --force (and not suggested --force), and stays as it was."""
    run = trained_run(HEAD, tmp_path_factory)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("mine")
    for force in ([], ["--force"]):
        res = run_cli("export", run, "--out", mine, "--format", "onnx", *force)
        _one_error_line(res, "refusing to replace", "is not a visiontk export")
        assert "--force" not in res.stderr and [p.name for p in mine.iterdir()] == ["keep.txt"]
    out = tmp_path / "out"
    res = run_cli("export", run, "--out", out, "--format", "onnx")
    assert res.returncode == 0, res.stderr
    (out / "earlier.txt").write_text("from the first export")
    res = run_cli("export", run, "--out", out, "--format", "onnx")
    _one_error_line(res, "holds an export already", "--force")
    assert (out / "earlier.txt").is_file()
    res = run_cli("export", run, "--out", out, "--format", "onnx", "--force")
    assert res.returncode == 0, res.stderr
    assert "exported" in res.stdout and not (out / "earlier.txt").exists()
    assert (out / "model.onnx").is_file()
    assert json.loads((out / "metadata.json").read_text())["files"] == {"onnx": "model.onnx"}


def test_stale_temporaries_of_killed_exports_are_removed(tmp_path, tmp_path_factory):
    """`.NAME.exporting-PID` folders of a process that is gone are removed; one of a live process,
    and anything named otherwise, stay."""
    import subprocess
    import sys

    from visiontk.export import export_run

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f".out.exporting-{gone}"
    live = tmp_path / f".other.exporting-{os.getppid()}"
    lookalike = tmp_path / f".out.exporting-{gone}x"
    for folder in (stale, live, lookalike):
        folder.mkdir()
        (folder / "model.onnx").write_bytes(b"half")
    said = []
    export_run(trained_run(HEAD, tmp_path_factory), formats=["onnx"], out=tmp_path / "out",
               echo=said.append)
    assert not stale.exists() and live.is_dir() and lookalike.is_dir()
    assert any(str(stale) in line and "interrupted" in line for line in said)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, lookalike.name, "out"])


def test_export_that_does_not_verify_is_set_aside(tmp_path, tmp_path_factory):
    """`visiontk export RUN --tolerance 1e-12`: ONNX Runtime cannot match Keras that closely, so the
    export fails with one line and exit 2, nothing at --out, the files under NAME.failed/."""
    out = tmp_path / "strict"
    res = run_cli("export", trained_run(HEAD, tmp_path_factory), "--format", "onnx", "--tolerance",
                  "1e-12", "--out", out)
    _one_error_line(res, "did not verify (tolerance 1e-12)", "onnx (output 'probs'", "strict.failed")
    assert not out.exists() and not list(tmp_path.glob(".*exporting*"))
    failed = tmp_path / "strict.failed"
    assert (failed / "model.onnx").is_file() and (failed / "metadata.json").is_file()
    parity = json.loads((failed / "parity.json").read_text())
    assert parity["passed"] is False and parity["tolerance"] == 1e-12
    assert not parity["formats"]["onnx"]["passed"] and parity["formats"]["onnx"]["max_abs"] > 1e-12


def test_lowest_supported_opset(tmp_path, tmp_path_factory):
    import onnx

    from visiontk.export import export_run

    res = export_run(trained_run(HEAD, tmp_path_factory), formats=["onnx"], opset=13,
                     out=tmp_path / "o13", echo=lambda *_: None)
    assert res.parity["passed"]
    proto = onnx.load(str(tmp_path / "o13" / "model.onnx"))
    assert {o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")} == {13}
    assert proto.graph.input[0].name == "image"
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_a_failed_export_never_replaces_a_folder_it_did_not_write(tmp_path, tmp_path_factory):
    """NAME.failed/ holding the user's files is kept; the unverified export goes to NAME.failed-2/."""
    from visiontk.errors import ExportError
    from visiontk.export import export_run

    mine = tmp_path / "strict.failed"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="strict.failed-2"):
        export_run(trained_run(HEAD, tmp_path_factory), formats=["onnx"], tolerance=1e-12,
                   out=tmp_path / "strict", echo=lambda *_: None)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    assert (tmp_path / "strict.failed-2" / "parity.json").is_file() and not (tmp_path / "strict").exists()
