"""The TensorFlow-free runtime of the embedding task: decode, gallery identification, draw, npz
galleries without pickle."""

from __future__ import annotations

import numpy as np
import pytest

from visiontk.runtime import metric as rt
from visiontk.runtime.errors import InputError

META = {"task": "metric", "decode": {"distance": "euclidean", "embedding_size": 2}}


def test_decode_gives_embeddings_and_identities_past_the_threshold():
    out = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], np.float32)
    preds = rt.decode(out, META)
    assert [p.task for p in preds] == ["metric"] * 3 and preds[0].identity is None
    np.testing.assert_array_equal(preds[1].embedding, [0.0, 1.0])
    gallery = {"names": ["east", "north"], "embeddings": np.array([[1.0, 0.1], [0.0, 1.0]])}
    preds = rt.decode({"embedding": out}, rt.with_gallery(META, gallery, threshold=0.5))
    assert [p.identity for p in preds] == ["east", "north", "unknown"]
    assert preds[0].distance == pytest.approx(0.1) and preds[2].extra["nearest"] == "north"
    row = preds[2].to_dict()
    assert row["identity"] == "unknown" and row["distance"] == pytest.approx(np.sqrt(2), abs=1e-6)


@pytest.mark.parametrize("distance", ["euclidean", "squared", "cosine"])
def test_identify_uses_the_models_distance(distance):
    g = np.array([[1.0, 0.0], [0.0, 1.5]])
    q = np.array([[0.1, 1.0]])
    (name, d, nearest), = rt.identify(q, g, ["a", "b"], distance=distance)
    expect = {"euclidean": np.hypot(0.1, 0.5), "squared": 0.01 + 0.25,
              "cosine": 1 - 1.0 / np.hypot(0.1, 1.0)}[distance]
    assert name == nearest == "b" and d == pytest.approx(expect, abs=1e-6)
    with pytest.raises(InputError, match="empty"):
        rt.identify(q, np.zeros((0, 2)), [])


def test_draw_marks_known_and_unknown():
    frame = np.zeros((120, 160, 3), np.uint8)
    p = rt.decode(np.array([[0.6, -0.8]], np.float32), META)[0]
    plain = rt.draw(frame.copy(), p, META)
    assert plain.shape == frame.shape and plain.any()
    p.identity, p.distance = "ann", 0.2
    known = rt.draw(frame.copy(), p, META)
    p.identity = rt.UNKNOWN
    unknown = rt.draw(frame.copy(), p, META)
    assert known[8, 8, 1] > known[8, 8, 2] and unknown[8, 8, 2] > unknown[8, 8, 1]   # green / red


def test_gallery_npz_loads_without_pickle(tmp_path):
    path = tmp_path / "g.npz"
    np.savez(path, names=np.array(["ann", "bob"]), embeddings=np.eye(2, dtype=np.float32),
             fingerprint=np.array("abc"), probe=np.zeros((4, 2), np.float32),
             distance=np.array("cosine"))
    g = rt.load_gallery(path)
    assert g["names"] == ["ann", "bob"] and g["distance"] == "cosine" and g["fingerprint"] == "abc"
    np.savez(tmp_path / "bad.npz", names=np.array([{"x": 1}], dtype=object),
             embeddings=np.eye(1), fingerprint=np.array("a"), probe=np.zeros(1),
             distance=np.array("cosine"))
    with pytest.raises(InputError, match="not a readable gallery"):
        rt.load_gallery(tmp_path / "bad.npz")                # an object array needs pickle: refused
    np.savez(tmp_path / "other.npz", x=np.zeros(2))
    with pytest.raises(InputError, match="not a visiontk gallery"):
        rt.load_gallery(tmp_path / "other.npz")
    with pytest.raises(InputError, match="not found"):
        rt.load_gallery(tmp_path / "missing.npz")
