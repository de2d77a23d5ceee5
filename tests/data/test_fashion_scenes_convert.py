"""fashion-scenes through the real formats: `visiontk data convert` writes COCO / YOLO / VOC folders
whose images are the scenes' pixels and whose boxes are the scenes' boxes, and the marker file
records where they came from (source, seed, split rule)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from visiontk.data.convert import read_dataset
from visiontk.data.sources.fashion_mnist import SYSTEM_DIR
from visiontk.data.sources.fashion_scenes import FashionScenes, FashionScenesConfig

pytestmark = pytest.mark.skipif(not Path(SYSTEM_DIR).is_dir(),
                                reason=f"Fashion-MNIST is not installed ({SYSTEM_DIR}); "
                                       f"apt-get install dataset-fashion-mnist")

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "detect_fashion.yaml"
SIZES = ["data.params.train_size=12", "data.params.val_size=6", "data.params.test_size=6",
         "data.params.cache=false"]


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc"])
def test_convert_round_trip(tmp_path, fmt):
    dst = tmp_path / fmt
    args = ["data", "convert", str(RECIPE), str(dst), "--to", fmt]
    for s in SIZES:
        args += ["--set", s]
    from visiontk.cli import cli, load_commands

    load_commands()
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    marker = json.loads((dst / "visiontk-dataset.json").read_text())
    assert marker["origin"]["source"] == "fashion-scenes" and marker["origin"]["seed"] == 0
    src = FashionScenes(FashionScenesConfig(train_size=12, val_size=6, test_size=6, cache=False),
                        input_shape=(128, 128, 3), seed=0)
    assert marker["origin"]["split_rule"] == src.split_rule()
    assert "test scenes use test images 5000-9999" in src.split_rule()
    back = read_dataset(dst, fmt)
    assert back.class_names == src.class_names()
    for split in ("train", "val", "test"):
        data = src.load(split)
        recs = sorted(back.splits[split], key=lambda r: r.file.name)
        assert len(recs) == len(data)
        for i, rec in enumerate(recs):
            pixels = cv2.cvtColor(cv2.imread(str(rec.file)), cv2.COLOR_BGR2RGB)
            np.testing.assert_array_equal(pixels, data.images[i])          # PNG: lossless
            keep = data.annotations["classes"][i] >= 0
            np.testing.assert_array_equal(rec.classes, data.annotations["classes"][i][keep])
            # VOC stores whole pixels (1-based): within one pixel of the scene's box
            tol = 1.01 / 128 if fmt == "voc" else 1e-4
            np.testing.assert_allclose(rec.boxes, data.annotations["boxes"][i][keep], atol=tol)
