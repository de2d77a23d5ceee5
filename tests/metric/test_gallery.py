"""One-shot recognition end to end: train on synthetic identities, enrol ONE image per held-out
identity, identify the other images of those identities (accuracy well above chance); galleries of
another model are refused; verify and embed."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import cli_in_process, run_cli

HELDOUT = [0, 5, 10, 3]            # identity = shape * 4 + colour: every shape and colour still trains
RECIPE = {
    "task": "metric",
    "model": {"backbone": {"name": "lenet5", "params": {"filters": [16, 32], "units": [64, 64]}},
              "input_shape": [32, 32, 3],
              "head": {"embedding_size": 16, "loss": "triplet_semihard", "margin": 0.5,
                       "images_per_identity": 4, "heldout_identities": HELDOUT,
                       "knn_references": 200, "verification_pairs": 500}},
    "data": {"params": {"train_size": 640, "val_size": 96, "test_size": 240, "colors": 4,
                        "classes": ["circle", "square", "triangle"], "max_objects": 1,
                        "size_range": [0.5, 0.8], "texture": 0.1}},
    "train": {"epochs": 4, "batch_size": 32, "optimizer": {"name": "adam", "learning_rate": 0.003}},
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A trained run and the held-out test images written as PNG files."""
    import cv2

    from tests.conftest import TINY, deep_update
    from visiontk import load_recipe, train
    from visiontk.data.make import make_source

    tmp = tmp_path_factory.mktemp("gallery")
    recipe = load_recipe(data=deep_update(TINY, {**RECIPE, "output": str(tmp / "run")}))
    result = train(recipe, echo=lambda *_: None)
    test = make_source(recipe).load("test")
    ids = test.annotations["identity"]
    files = {}
    for i in np.flatnonzero(np.isin(ids, HELDOUT)):
        path = tmp / f"img{i:03d}.png"
        cv2.imwrite(str(path), test.images[i][..., ::-1])
        files.setdefault(int(ids[i]), []).append(path)
    return result, files, tmp


cli = cli_in_process


@pytest.mark.slow
def test_one_shot_identification_of_held_out_identities(trained, capsys):
    from visiontk.infer.gallery import enroll

    result, files, tmp = trained
    metrics = result.metrics["test"]
    assert metrics["headline_on"] == "unseen" and metrics["unseen"]["identities"] == len(HELDOUT)
    gallery = tmp / "people.npz"
    for ident, paths in files.items():                  # ONE image per identity
        enroll(result.run_dir, gallery, f"id{ident}", [paths[0]])
    queries = [(p, f"id{ident}") for ident, paths in files.items() for p in paths[1:]]
    proc = run_cli("identify", result.run_dir, "--gallery", gallery, "--threshold", "100",
                   *[p for p, _ in queries])
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["image"] for r in rows] == [str(p) for p, _ in queries]
    accuracy = np.mean([r["identity"] == name for r, (_, name) in zip(rows, queries)])
    chance = 1 / len(files)
    with capsys.disabled():
        print(f"\none-shot accuracy {accuracy:.3f} on {len(rows)} images of {len(files)} held-out "
              f"identities (chance {chance:.3f})")
    assert accuracy >= 2.5 * chance
    # the default threshold is the one measured at evaluation (test split first)
    code, out, _ = cli("identify", result.run_dir, "--gallery", gallery, queries[0][0], capsys=capsys)
    assert code == 0 and json.loads(out)["threshold"] == pytest.approx(metrics["threshold"])
    code, out, _ = cli("identify", result.run_dir, "--gallery", gallery, "--threshold", "0",
                       *[p for p, _ in queries[:3]], capsys=capsys)
    assert [json.loads(line)["identity"] for line in out.splitlines()] == ["unknown"] * 3


def test_gallery_of_another_model_is_refused(trained, capsys):
    import shutil

    import keras

    from visiontk.model_files import load_keras_model

    result, files, tmp = trained
    paths = [p for ps in files.values() for p in ps]
    gallery = tmp / "mine.npz"
    code, out, err = cli("enroll", result.run_dir, "--gallery", gallery, "--name", "ann", paths[0],
                         capsys=capsys)
    assert code == 0 and json.loads(out)["images"] == 1, err
    with np.load(gallery, allow_pickle=False) as z:
        assert set(z.files) == {"names", "embeddings", "fingerprint", "probe", "distance"}
    other = tmp / "other_run"
    shutil.copytree(result.run_dir, other)
    model = load_keras_model(other / "model.keras")
    rng = np.random.default_rng(0)
    for w in model.weights:
        w.assign(np.asarray(w) + rng.normal(0, 0.05, w.shape).astype("float32"))
    model.save(other / "model.keras")
    keras.backend.clear_session()
    code, out, err = cli("identify", other, "--gallery", gallery, paths[1], capsys=capsys)
    assert code == 2 and "made with another model" in err and "enroll the images again" in err
    assert not out
    code, _, err = cli("enroll", other, "--gallery", gallery, "--name", "bob", paths[1], capsys=capsys)
    assert code == 2 and "another model" in err
    with np.load(gallery, allow_pickle=False) as z:
        assert z["names"].tolist() == ["ann"]                 # nothing half-written


def test_verify_and_embed(trained, capsys):
    result, files, tmp = trained
    a, b = files[HELDOUT[0]][:2]
    code, out, err = cli("verify", result.run_dir, a, a, capsys=capsys)
    row = json.loads(out)
    assert code == 0 and row["distance"] == pytest.approx(0, abs=1e-5) and row["same"] is True, err
    code, out, _ = cli("verify", result.run_dir, a, b, "--threshold", "0", capsys=capsys)
    assert json.loads(out)["same"] is False
    code, out, _ = cli("embed", result.run_dir, a, b, "--out", tmp / "e.npz", capsys=capsys)
    info = json.loads(out)
    with np.load(tmp / "e.npz", allow_pickle=False) as z:
        emb = z["embeddings"]
        assert z["files"].tolist() == [str(a), str(b)] and str(z["fingerprint"]) == info["fingerprint"]
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    code, _, err = cli("embed", result.run_dir, tmp / "missing.png", "--out", tmp / "x.npz",
                       capsys=capsys)
    assert code == 2 and "missing.png" in err and not (tmp / "x.npz").exists()
