#!/usr/bin/env bash
# The wheel as `pip install visiontk` gets it: build the sdist and the wheel (the wheel from the
# sdist), `twine check` both, install the wheel (not editable) into a fresh venv outside the checkout
# and, from a folder outside it, run the commands a new user runs: --version, recipes list, train a
# shipped recipe by its bare name (tiny), export it to ONNX, then run the export's own onnx_predict.py
# on an image in a second venv that has numpy, onnxruntime and OpenCV but no TensorFlow.
#
#   bash .ci/wheel_smoke.sh            # PY=python3.12 to use another interpreter; KEEP=1 keeps the temp folder
#
# Every step is bounded (timeout); pip reuses its cache, so the TensorFlow that `make setup`
# downloaded is not downloaded again.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-python3}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/visiontk-wheel.XXXXXX")
if [[ -n "${KEEP:-}" ]]; then
  echo "wheel smoke: keeping $TMP"
else
  trap 'rm -rf "$TMP"' EXIT
fi
START=$SECONDS

step() { echo "wheel smoke [$((SECONDS - START)) s]: $*"; }
fail() { echo "wheel smoke: FAILED: $*" >&2; exit 1; }
# bounded SECONDS CMD...: the command, killed when it runs longer.
bounded() { local limit=$1; shift; timeout --kill-after=10 "$limit" "$@" || {
  local rc=$?; [[ $rc -eq 124 || $rc -eq 137 ]] && fail "timed out after $limit s: $*"; exit "$rc"; }; }
venv() { bounded 120 "$PY" -m venv "$1"; }

# build and twine: from the checkout's .venv (the dev extra) when it has them, else a throwaway venv.
TOOLS="$REPO/.venv/bin/python"
if ! "$TOOLS" -c "import build, twine" 2>/dev/null; then
  step "build tools (a throwaway venv)"
  venv "$TMP/tools"
  bounded 300 "$TMP/tools/bin/python" -m pip install --quiet build twine
  TOOLS="$TMP/tools/bin/python"
fi

step "python -m build (sdist, then the wheel from it)"
bounded 600 "$TOOLS" -m build --outdir "$TMP/dist" "$REPO" >"$TMP/build.log" 2>&1 ||
  { tail -30 "$TMP/build.log"; fail "python -m build"; }
shopt -s nullglob
sdists=("$TMP"/dist/visiontk-*.tar.gz); wheels=("$TMP"/dist/visiontk-*-py3-none-any.whl)
[[ ${#sdists[@]} -eq 1 && ${#wheels[@]} -eq 1 ]] || fail "expected one sdist and one pure wheel in $TMP/dist: $(ls "$TMP/dist")"
WHEEL=${wheels[0]}
bounded 120 "$TOOLS" -m twine check --strict "${sdists[0]}" "$WHEEL"

step "install $(basename "$WHEEL") into a fresh venv"
venv "$TMP/venv"
bounded 900 "$TMP/venv/bin/python" -m pip install --quiet "$WHEEL"
VTK="$TMP/venv/bin/visiontk"

mkdir "$TMP/work"
cd "$TMP/work"                    # outside the checkout: only the installed package is importable
where=$("$TMP/venv/bin/python" -c "import visiontk; print(visiontk.__file__)")
[[ $where == "$TMP/venv/"* ]] || fail "visiontk imported from $where, not from the installed wheel"

step "visiontk --version"
version=$(bounded 60 "$VTK" --version)
echo "$version"
wheel_version=$(basename "$WHEEL" | cut -d- -f2)
[[ $version == *"$wheel_version"* ]] || fail "visiontk --version says '$version'; the wheel is $wheel_version"

step "visiontk recipes list"
bounded 60 "$VTK" recipes list | tee recipes.txt
grep -qw detect recipes.txt || fail "recipes list does not show detect"

step "visiontk train detect (the shipped recipe by its bare name, tiny)"
bounded 600 "$VTK" train detect train.epochs=1 data.params.train_size=256 data.params.val_size=32 \
  output="$TMP/work/runs/detect"
[[ -f runs/detect/metrics.json && -f runs/detect/model.keras ]] || fail "train left no finished run in runs/detect"

step "visiontk export runs/detect --format onnx"
bounded 600 "$VTK" export runs/detect --format onnx --out export/detect
[[ -f export/detect/model.onnx && -f export/detect/onnx_predict.py ]] ||
  fail "export/detect lacks model.onnx or onnx_predict.py: $(ls export/detect)"

step "export/detect/onnx_predict.py in a venv without TensorFlow"
venv "$TMP/runner"
bounded 600 "$TMP/runner/bin/python" -m pip install --quiet numpy onnxruntime opencv-python-headless
if "$TMP/runner/bin/python" -c "import tensorflow" 2>/dev/null; then fail "the runner venv has TensorFlow"; fi
"$TMP/runner/bin/python" - <<'EOF'
import cv2
import numpy as np

image = np.full((120, 160, 3), 90, np.uint8)
cv2.circle(image, (60, 60), 25, (40, 200, 240), -1)
cv2.rectangle(image, (100, 30), (140, 80), (200, 80, 40), -1)
assert cv2.imwrite("scene.png", image)
EOF
bounded 120 "$TMP/runner/bin/python" export/detect/onnx_predict.py scene.png | tee predictions.txt
"$TMP/runner/bin/python" - <<'EOF' || fail "onnx_predict.py printed no JSON prediction for scene.png"
import json

rows = [json.loads(line) for line in open("predictions.txt") if line.startswith("{")]
assert len(rows) == 1 and isinstance(rows[0], dict), rows
print("wheel smoke: prediction keys", sorted(rows[0]))
EOF

step "passed"
