"""Bad model files, meta files, galleries and exports (issue 17, points 1, 5, 6, 7, 10): every one
gives exit code 2, one `error:` line naming the file (or field, or entry), no traceback, and leaves
the sandbox as it was. The same through `visiontk predict / export / identify / enroll / demo` and
through export/onnx_predict.py (which must not need TensorFlow or visiontk)."""

from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest

from tests.hardening.builders_models import (Built, copy_run, copy_tree, edit_json, gallery_npz,
                                             image, truncate)
from tests.hardening.harness import BadInput, cases_param, check_bad_input, run_in_process

B: Built = None   # the module's real run, export, metric run and gallery (see the fixture below)


@pytest.fixture(scope="module", autouse=True)
def built(tmp_path_factory):
    global B
    B = Built(tmp_path_factory)
    yield B
    B = None


# ---- builders: one bad thing each ---------------------------------------------------------------

def run_with(change=None):
    """A copy of the tiny run (meta.json, model.keras, recipe.yaml) and an image; change(run)."""
    def make(box):
        run = copy_run(B.run, box)
        if change is not None:
            change(run)
        return {"run": run, "img": image(box / "img.png")}
    return make


def export_with(change=None):
    """A copy of the tiny ONNX export and an image; change(export)."""
    def make(box):
        exp = copy_tree(B.export, box, "exp")
        if change is not None:
            change(exp)
        return {"exp": exp, "img": image(box / "img.png")}
    return make


def gallery_with(write):
    """A metric run (outside the sandbox: only read), an image, and the gallery write(path) makes."""
    def make(box):
        path = box / "people.npz"
        write(path)
        return {"metric": B.metric_run, "gallery": path, "img": image(box / "who.png")}
    return make


def real_gallery_then(change):
    return gallery_with(lambda p: (p.write_bytes(B.gallery.read_bytes()), change(p)))


def write(path_name: str, data: bytes):
    return lambda folder: (folder / path_name).write_bytes(data)


def meta_edit(change, name="meta.json"):
    return lambda folder: edit_json(folder / name, change)


def del_key(key):
    def change(m):
        del m[key]
    return change


def set_input_shape(shape):
    def change(m):
        m["input"]["shape"] = shape
    return change


def lambda_model(run):
    (run / "model.keras").write_bytes(B.lambda_keras.read_bytes())


def hdf5_as_keras(run):
    (run / "model.keras").write_bytes(B.run.joinpath("checkpoints", "best.weights.h5").read_bytes())


def zip_without_config(run):
    with zipfile.ZipFile(run / "model.keras", "w") as z:
        z.writestr("notes.txt", "a zip, not a model")


def not_an_export(box):
    mine = box / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine, not an export")
    return {"run": B.run, "out": mine}


def link_to_a_folder(box):
    """out -> data/mine: a link to a folder that is not an export (both inside the sandbox, so the
    harness checks the folder behind the link too)."""
    target = box / "data" / "mine"
    target.mkdir(parents=True)
    (target / "notes.txt").write_text("mine")
    os.symlink(target, box / "out")
    return {"run": B.run, "out": box / "out"}


def link_to_an_export(box):
    target = copy_tree(B.export, box, "real_export")
    os.symlink(target, box / "out")
    return {"run": B.run, "out": box / "out"}


def with_run(extra=None):
    return lambda box: {"run": B.run, **(extra(box) if extra else {})}


def text_file(box):
    (box / "notes.txt").write_text("my notes")
    return {"metric": B.metric_run, "gallery": box / "notes.txt", "img": image(box / "ann.png")}


def truncated_gallery_to_enroll(box):
    path = box / "people.npz"
    path.write_bytes(B.gallery.read_bytes())
    truncate(path)
    return {"metric": B.metric_run, "gallery": path, "img": image(box / "bob.png")}


def folder_of(*names):
    def make(box):
        (box / "frames").mkdir()
        for n in names:
            (box / "frames" / n).write_text("not an image")
        return {"exp": B.export, "img": image(box / "img.png")}
    return make


NOT_UTF8 = b'{"task": "classification", "name": "\xff\xfe"}'
PREDICT_RUN = ["predict", "{run}", "{img}", "--backend", "keras"]
PREDICT_EXP = ["predict", "{exp}", "{img}"]
IDENTIFY = ["identify", "{metric}", "--gallery", "{gallery}", "{img}", "--threshold", "1"]
ENROLL = ["enroll", "{metric}", "--gallery", "{gallery}", "--name", "bob", "{img}"]
EXPORT = ["export", "{run}", "--format", "onnx", "--out", "{out}", "--force"]
RUNNER = ["{exp}", "{img}"]


def onnx(id, make, argv, needles):
    return BadInput(id, make, argv, needles, runner="onnx_predict")


CASES = [
    # ---- model files (.keras, .weights.h5) --------------------------------------------------------
    BadInput("keras_truncated", run_with(lambda r: truncate(r / "model.keras")), PREDICT_RUN,
             ["{run}/model.keras", "truncated"]),
    BadInput("keras_lambda_layer", run_with(lambda_model), PREDICT_RUN,
             ["{run}/model.keras", "contains Python code", "refused for safety", "Lambda"]),
    BadInput("keras_not_a_zip", run_with(write("model.keras", b"plain text, not a model")),
             PREDICT_RUN, ["{run}/model.keras", "not a .keras model"]),
    BadInput("keras_is_hdf5", run_with(hdf5_as_keras), PREDICT_RUN,
             ["{run}/model.keras", "HDF5 file"]),
    BadInput("keras_empty", run_with(write("model.keras", b"")), PREDICT_RUN,
             ["{run}/model.keras", "empty"]),
    BadInput("keras_zip_without_config", run_with(zip_without_config), PREDICT_RUN,
             ["{run}/model.keras", "no config.json"]),
    BadInput("export_of_truncated_keras", run_with(lambda r: truncate(r / "model.keras")),
             ["export", "{run}", "--format", "onnx", "--out", "{sandbox}/out"],
             ["{run}/model.keras", "truncated"]),
    BadInput("backbone_weights_truncated",
             lambda box: {"recipe": _recipe_with_weights(box, truncated=True)}, ["train", "{recipe}"],
             ["model.backbone.weights", "bad.weights.h5", "truncated"]),
    BadInput("backbone_weights_not_hdf5",
             lambda box: {"recipe": _recipe_with_weights(box, truncated=False)},
             ["train", "{recipe}"], ["model.backbone.weights", "bad.weights.h5", "not a .weights.h5"]),
    # ---- meta.json of a run -----------------------------------------------------------------------
    BadInput("meta_truncated", run_with(lambda r: truncate(r / "meta.json", 0.4)), PREDICT_RUN,
             ["{run}/meta.json", "not valid JSON", "cut short"]),
    BadInput("meta_not_utf8", run_with(write("meta.json", NOT_UTF8)), PREDICT_RUN,
             ["{run}/meta.json", "UTF-8"]),
    BadInput("meta_without_task", run_with(meta_edit(del_key("task"))), PREDICT_RUN,
             ["{run}/meta.json", "'task' is missing"]),
    BadInput("meta_task_a_number", run_with(meta_edit(lambda m: m.update(task=3))), PREDICT_RUN,
             ["{run}/meta.json", "'task'"]),
    BadInput("meta_unknown_task", run_with(meta_edit(lambda m: m.update(task="juggling"))),
             PREDICT_RUN, ["{run}/meta.json", "juggling"]),
    BadInput("meta_is_a_list", run_with(meta_edit(lambda m: [m])), PREDICT_RUN,
             ["{run}/meta.json", "JSON list"]),
    BadInput("meta_shape_text", run_with(meta_edit(set_input_shape("32x32"))), PREDICT_RUN,
             ["{run}/meta.json", "input.shape"]),
    BadInput("meta_class_names_text", run_with(meta_edit(lambda m: m.update(class_names="a,b"))),
             PREDICT_RUN, ["{run}/meta.json", "class_names"]),
    BadInput("meta_shape_differs_from_model", run_with(meta_edit(set_input_shape([48, 48, 3]))),
             PREDICT_RUN, ["{run}/model.keras", "{run}/meta.json", "[48, 48, 3]"]),
    BadInput("export_of_meta_without_task", run_with(meta_edit(del_key("task"))),
             ["export", "{run}", "--format", "onnx", "--out", "{sandbox}/out"],
             ["{run}/meta.json", "'task' is missing"]),
    # ---- galleries --------------------------------------------------------------------------------
    BadInput("gallery_truncated", real_gallery_then(truncate), IDENTIFY,
             ["{gallery}", "truncated"]),
    BadInput("gallery_not_npz", gallery_with(lambda p: p.write_text("ann,0.1,0.2\n")), IDENTIFY,
             ["{gallery}", "not an npz"]),
    BadInput("gallery_empty_file", gallery_with(lambda p: p.write_bytes(b"")), IDENTIFY,
             ["{gallery}", "empty"]),
    BadInput("gallery_missing_arrays", gallery_with(lambda p: gallery_npz(p, probe=None)), IDENTIFY,
             ["{gallery}", "missing probe"]),
    BadInput("gallery_wrong_width", gallery_with(lambda p: gallery_npz(p, width=8)), IDENTIFY,
             ["{gallery}", "8-wide", "16-wide"]),
    BadInput("gallery_pickled_names",
             gallery_with(lambda p: gallery_npz(p, names=np.array([{"x": 1}], dtype=object))),
             IDENTIFY, ["{gallery}", "pickled"]),
    BadInput("gallery_rows_differ_from_names",
             gallery_with(lambda p: gallery_npz(p, names=("ann", "bob", "cy"),
                                                embeddings=np.ones((2, 16)))),
             IDENTIFY, ["{gallery}", "'embeddings'"]),
    BadInput("enroll_into_truncated_gallery", truncated_gallery_to_enroll, ENROLL,
             ["{gallery}", "truncated", "replaces only a gallery visiontk wrote"]),
    BadInput("enroll_into_a_text_file", text_file, ENROLL, ["{gallery}", "not an npz"]),
    BadInput("embed_over_a_file_not_ours", text_file,
             ["embed", "{metric}", "{img}", "--out", "{gallery}"],
             ["{gallery}", "not an embeddings npz visiontk wrote"]),
    BadInput("enroll_empty_gallery_path", text_file,
             ["enroll", "{metric}", "--gallery", " ", "--name", "bob", "{img}"],
             ["--gallery is empty"]),
    BadInput("demo_with_truncated_gallery", real_gallery_then(truncate),
             ["demo", "{metric}", "--gallery", "{gallery}", "--source", "{img}", "--no-show"],
             ["{gallery}", "truncated"]),
    # ---- exports through visiontk -----------------------------------------------------------------
    BadInput("export_without_model_file", export_with(lambda e: (e / "model.onnx").unlink()),
             PREDICT_EXP, ["{exp}", "no model file"]),
    BadInput("export_onnx_truncated", export_with(lambda e: truncate(e / "model.onnx")), PREDICT_EXP,
             ["{exp}/model.onnx", "truncated"]),
    BadInput("export_metadata_without_task", export_with(meta_edit(del_key("task"), "metadata.json")),
             PREDICT_EXP, ["{exp}/metadata.json", "'task' is missing"]),
    BadInput("export_shape_differs_from_metadata",
             export_with(meta_edit(set_input_shape([48, 48, 3]), "metadata.json")), PREDICT_EXP,
             ["{exp}/model.onnx", "{exp}/metadata.json"]),
    BadInput("demo_save_bad_extension", export_with(),
             ["demo", "{exp}", "--source", "{img}", "--no-show", "--save", "{sandbox}/x.xyz"],
             ["x.xyz", "unknown video extension"]),
    # ---- export --force replaces only an export ---------------------------------------------------
    BadInput("force_over_a_folder_not_an_export", not_an_export, EXPORT,
             ["{out}", "not a visiontk export"]),
    BadInput("force_over_the_working_directory", with_run(lambda box: {"out": "."}), EXPORT,
             ["working directory"]),
    BadInput("force_over_a_parent_of_the_cwd", with_run(lambda box: {"out": ".."}), EXPORT,
             ["contains the working directory"]),
    BadInput("force_empty_out", with_run(lambda box: {"out": ""}), EXPORT, ["--out is empty"]),
    BadInput("force_over_a_link_to_a_folder", link_to_a_folder, EXPORT, ["{out}", "symbolic link"]),
    BadInput("force_over_a_link_to_an_export", link_to_an_export, EXPORT, ["{out}", "symbolic link"]),
    # ---- export/onnx_predict.py -------------------------------------------------------------------
    onnx("runner_onnx_truncated", export_with(lambda e: truncate(e / "model.onnx")), RUNNER,
         ["{exp}/model.onnx", "truncated"]),
    onnx("runner_onnx_garbage", export_with(write("model.onnx", b"\x00" * 64)), RUNNER,
         ["{exp}/model.onnx"]),
    onnx("runner_metadata_truncated", export_with(lambda e: truncate(e / "metadata.json", 0.3)),
         RUNNER, ["{exp}/metadata.json", "not valid JSON"]),
    onnx("runner_metadata_without_task", export_with(meta_edit(del_key("task"), "metadata.json")),
         RUNNER, ["{exp}/metadata.json", "'task' is missing"]),
    onnx("runner_metadata_unknown_task",
         export_with(meta_edit(lambda m: m.update(task="juggling"), "metadata.json")), RUNNER,
         ["{exp}/metadata.json", "juggling"]),
    onnx("runner_shape_differs_from_metadata",
         export_with(meta_edit(set_input_shape([48, 48, 3]), "metadata.json")), RUNNER,
         ["{exp}/model.onnx", "{exp}/metadata.json", "[48, 48, 3]"]),
    onnx("runner_without_runtime", export_with(lambda e: __import__("shutil").rmtree(e / "runtime")),
         RUNNER, ["{exp}/runtime/", "re-export"]),
    onnx("runner_missing_export", lambda box: {"img": image(box / "img.png")},
         ["{sandbox}/nowhere", "{img}"], ["{sandbox}/nowhere", "not found"]),
    onnx("runner_unreadable_image",
         lambda box: {"exp": B.export, "img": (box / "bad.png", (box / "bad.png").write_bytes(b"x"))[0]},
         RUNNER, ["{img}", "not a readable image"]),
    onnx("runner_missing_image", lambda box: {"exp": B.export, "img": box / "nope.png"}, RUNNER,
         ["{img}", "no such file"]),
    onnx("runner_folder_without_images", folder_of("a.txt"), ["{exp}", "{sandbox}/frames"],
         ["frames", "no images"]),
    onnx("runner_bad_camera_index", lambda box: {"exp": B.export}, ["{exp}", "97"],
         ["camera 97"]),
    onnx("runner_save_bad_extension", export_with(), ["{exp}", "{img}", "--save", "{sandbox}/x.xyz"],
         ["x.xyz", "unknown video extension"]),
    onnx("runner_save_missing_folder", export_with(),
         ["{exp}", "{img}", "--save", "{sandbox}/no/such/out.mp4"], ["no/such", "does not exist"]),
    onnx("runner_out_is_a_file", export_with(lambda e: None),
         ["{exp}", "{img}", "--out", "{img}"], ["--out", "img.png"]),
    onnx("runner_usage_error", lambda box: {}, [], ["required", "--help"]),
]


def _recipe_with_weights(box, truncated: bool):
    """A tiny recipe whose model.backbone.weights is a broken bad.weights.h5 (truncated HDF5, or
    text); training must refuse it before it creates anything."""
    from tests.conftest import write_recipe

    weights = box / "bad.weights.h5"
    if truncated:
        weights.write_bytes(B.run.joinpath("checkpoints", "best.weights.h5").read_bytes())
        truncate(weights)
    else:
        weights.write_text("not weights")
    return write_recipe(box / "recipe.yaml", {"model": {"backbone": {"weights": str(weights)}}},
                        output=box / "runs" / "tiny")


@pytest.mark.parametrize("case", cases_param(CASES))
def test_bad_model_input(case, sandbox, capfd):
    check_bad_input(case, sandbox, capfd)


def test_at_least_twenty_distinct_cases():
    assert len({c.id for c in CASES}) >= 20


def test_force_still_replaces_a_real_export(sandbox, capfd, monkeypatch):
    """The other side of the refusals above: an export visiontk wrote is replaced with --force."""
    out = copy_tree(B.export, sandbox, "out")
    (out / "earlier.txt").write_text("left by the earlier export")
    monkeypatch.chdir(sandbox)
    code = run_in_process(["export", B.run, "--format", "onnx", "--out", out, "--force"])
    assert code == 0, capfd.readouterr().err
    assert (out / "model.onnx").is_file() and not (out / "earlier.txt").exists()


def test_enroll_adds_to_a_real_gallery(sandbox, capfd):
    """...and enroll still adds to a gallery visiontk wrote (replacing the file atomically)."""
    import json

    gallery = sandbox / "people.npz"
    gallery.write_bytes(B.gallery.read_bytes())
    code = run_in_process(["enroll", B.metric_run, "--gallery", gallery, "--name", "bob",
                           image(sandbox / "bob.png")])
    out = capfd.readouterr()
    assert code == 0, out.err
    assert json.loads(out.out)["images"] == 2
    with np.load(gallery, allow_pickle=False) as z:
        assert z["names"].tolist() == ["ann", "bob"]
