"""The CLI imports TensorFlow with its C++ start-up lines kept off stderr, unless the import fails."""

import subprocess
import sys

from tests.conftest import ROOT

FAKE_TF = """
import os
os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on\\n")
if os.environ.get("FAKE_TF_FAILS"):
    raise ImportError("libtensorflow_framework.so.2: cannot open shared object file")
"""

SCRIPT = """
import sys
from visiontk.cli import quiet_import
quiet_import.install()
try:
    import tensorflow
except ImportError as exc:
    print("import failed:", exc, file=sys.stderr)
else:
    print("imported", tensorflow.__name__)
print("after", file=sys.stderr)
"""


def _run(tmp_path, fails: bool):
    pkg = tmp_path / "tensorflow"
    pkg.mkdir(exist_ok=True)
    (pkg / "__init__.py").write_text(FAKE_TF)
    env = {"PYTHONPATH": f"{tmp_path}:{ROOT}", "PATH": "/usr/bin:/bin"}
    if fails:
        env["FAKE_TF_FAILS"] = "1"
    return subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env,
                          timeout=60)


def test_startup_lines_are_hidden_and_stderr_restored(tmp_path):
    out = _run(tmp_path, fails=False)
    assert out.stdout.strip() == "imported tensorflow"
    assert out.stderr.strip() == "after"             # fd 2 works again after the import


def test_failed_import_replays_what_tensorflow_wrote(tmp_path):
    out = _run(tmp_path, fails=True)
    assert "oneDNN custom operations" in out.stderr
    assert "import failed: libtensorflow_framework" in out.stderr
    assert out.stderr.strip().endswith("after")


def test_cli_error_after_tensorflow_import_is_one_line(tmp_path):
    from tests.conftest import run_cli

    out = run_cli("arch", "show", "lenet5", "--input", "8,8,1")   # Keras fails to build it: TF imported
    assert out.returncode == 2
    assert [l for l in out.stderr.splitlines() if l.strip()] == [out.stderr.strip()]
    assert out.stderr.startswith("error: architecture 'lenet5' cannot be built")
