"""One-shot recognition with a trained embedding model: embed images, enrol them under a name in a
gallery file, identify new images against it, verify two images.

A gallery is a plain npz (read with allow_pickle=False): `names` (one per enrolled image),
`embeddings` (N, D), `distance`, and the model's fingerprint: `probe`, the embeddings the model
gives for four fixed synthetic images, and `fingerprint`, a short hash of them. A gallery is used
only with a model whose probe embeddings match (max |difference| <= 1e-3, which tolerates the
small differences between backends of one model), so a gallery made with another model is refused
instead of giving meaningless distances.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from visiontk.errors import ModelError, RunError
from visiontk.io import atomic_path, read_json
from visiontk.owned import check_replaceable
from visiontk.runtime.errors import InputError
from visiontk.runtime.metric import embedding_output, identify, load_gallery, pair_distances

PROBE_TOLERANCE = 1e-3


def probe_images(shape) -> np.ndarray:
    """Four deterministic images (gradients, a checkerboard, seeded noise) in [0, 1]."""
    h, w, c = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    imgs = np.stack([np.repeat((xx / max(w - 1, 1))[..., None], c, -1),
                     np.repeat((yy / max(h - 1, 1))[..., None], c, -1),
                     np.repeat((((xx // 4 + yy // 4) % 2))[..., None], c, -1),
                     np.random.default_rng(1234).random((h, w, c), dtype=np.float32)])
    return imgs.astype(np.float32)


class Embedder:
    """A run (or export) folder's embedding model with the training preprocessing.

    Example:
        >>> emb = Embedder("runs/faces")                            # doctest: +SKIP
        >>> emb.embed_files(["ann.jpg"]).shape                       # doctest: +SKIP
        (1, 64)
    """

    def __init__(self, path, backend: str = "auto"):
        from visiontk.infer.predictor import Predictor

        self.predictor = Predictor(path, backend)
        self.meta = self.predictor.meta
        if self.meta.get("task") != "metric":
            raise RunError(f"{path} holds a '{self.meta.get('task')}' model, not an embedding model "
                           f"(task: metric); train one with e.g. recipes/siamese.yaml")
        self.path = Path(path)
        self.distance = self.meta.get("decode", {}).get("distance", "euclidean")
        self.probe = embedding_output(self.predictor.raw(probe_images(self.meta["input"]["shape"])))
        self.fingerprint = hashlib.sha256(np.round(self.probe, 3).tobytes()).hexdigest()[:16]

    def embed_frames(self, frames_bgr, batch_size: int = 32) -> np.ndarray:
        from visiontk.runtime.preprocess import preprocess

        out = [embedding_output(self.predictor.raw(preprocess(frames_bgr[i:i + batch_size], self.meta)))
               for i in range(0, len(frames_bgr), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, self.meta["decode"]["embedding_size"]))

    def embed_files(self, files) -> np.ndarray:
        from visiontk.runtime.preprocess import read_image

        frames = [read_image(f) for f in files]          # every file is checked before any work
        return self.embed_frames(frames)

    def check_gallery(self, gallery: dict, path) -> None:
        """Refuse a gallery of embeddings of another width or made with another model."""
        width, model_width = np.shape(gallery["embeddings"])[1], self.probe.shape[1]
        if width != model_width:
            raise ModelError(f"gallery {path} holds {width}-wide embeddings but the model {self.path} "
                             f"gives {model_width}-wide ones: it was made with another model; enroll "
                             f"the images again with this model into a new gallery file")
        probe = np.asarray(gallery["probe"])
        same = probe.shape == self.probe.shape and \
            float(np.abs(probe - self.probe).max()) <= PROBE_TOLERANCE
        if not same:
            raise ModelError(f"gallery {path} was made with another model (fingerprint "
                             f"{gallery['fingerprint']}, this model {self.path}: {self.fingerprint}); "
                             f"enroll the images again with this model or use the model that made it")

    def threshold(self, override: float | None = None) -> float | None:
        """The distance past which a face is "unknown": `override`, else the recipe's
        model.head.threshold, else the best-accuracy verification threshold measured at evaluation
        (metrics.json, test split first)."""
        if override is not None:
            return float(override)
        fixed = self.meta.get("decode", {}).get("threshold")
        if fixed is not None:
            return float(fixed)
        metrics_path = self.path / "metrics.json"
        if metrics_path.is_file():
            metrics = read_json(metrics_path)
            for split in ("test", "val"):
                value = metrics.get(split, {}).get("threshold")
                if value is not None:
                    return float(value)
        return None


def save_gallery(path, names, embeddings, embedder: Embedder) -> Path:
    """Write a gallery npz atomically (no pickle: names are a unicode array)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, names=np.array([str(n) for n in names], dtype=str),
                     embeddings=np.asarray(embeddings, np.float32), fingerprint=np.array(embedder.fingerprint),
                     probe=embedder.probe.astype(np.float32), distance=np.array(embedder.distance))
    return path


def enroll(run_dir, gallery_path, name: str, images, backend: str = "auto") -> dict:
    """Add `images` under `name` to the gallery (created when missing); one image is enough.

    Example:
        >>> enroll("runs/faces", "people.npz", "ann", ["ann.jpg"])        # doctest: +SKIP
        {'gallery': 'people.npz', 'name': 'ann', 'added': 1, 'images': 1, 'identities': 1}
    """
    if not str(name).strip():
        raise RunError("--name must not be empty")
    g = existing_gallery(gallery_path)             # before the model loads: refuse early
    embedder = Embedder(run_dir, backend)
    names, embs = [], np.zeros((0, embedder.probe.shape[1]), np.float32)
    if g is not None:
        embedder.check_gallery(g, gallery_path)
        names, embs = list(g["names"]), np.asarray(g["embeddings"], np.float32)
    new = embedder.embed_files(images)
    names += [str(name)] * len(new)
    save_gallery(gallery_path, names, np.concatenate([embs, new]), embedder)
    return {"gallery": str(gallery_path), "name": str(name), "added": int(len(new)),
            "images": len(names), "identities": len(set(names))}


def existing_gallery(path) -> dict | None:
    """The gallery `enroll` adds to (None when it is still to be created); refuses a path that is
    not a visiontk gallery (`enroll` replaces only a file visiontk wrote) with the reason."""
    if not str(path).strip():
        raise RunError("--gallery is empty; name the npz file enroll writes (e.g. people.npz)")
    check_replaceable(path, what="a visiontk gallery", is_ours=lambda p: p.is_file(),
                      error=RunError, hint="--gallery names the npz file enroll writes")
    if Path(path).is_dir():
        raise RunError(f"--gallery {path} is a folder; name the npz file enroll writes")
    if not Path(path).exists():
        return None
    try:
        return load_gallery(path)
    except InputError as exc:
        raise RunError(f"{exc}; `enroll` replaces only a gallery visiontk wrote") from None


def identify_files(run_dir, gallery_path, images, *, threshold=None, backend="auto") -> list[dict]:
    """Nearest enrolled identity of every image, or "unknown" past the threshold.

    Example:
        >>> identify_files("runs/faces", "people.npz", ["who.jpg"])        # doctest: +SKIP
        [{'image': 'who.jpg', 'identity': 'ann', 'distance': 0.41, 'nearest': 'ann', ...}]
    """
    g = load_gallery(gallery_path)                 # before the model loads: refuse early
    embedder = Embedder(run_dir, backend)
    embedder.check_gallery(g, gallery_path)
    t = embedder.threshold(threshold)
    found = identify(embedder.embed_files(images), g["embeddings"], g["names"],
                     distance=embedder.distance, threshold=t)
    return [{"image": str(f), "identity": name, "distance": d, "nearest": nearest, "threshold": t}
            for f, (name, d, nearest) in zip(images, found)]


def verify_files(run_dir, image_a, image_b, *, threshold=None, backend="auto") -> dict:
    """Distance between two images' embeddings and whether it is within the threshold.

    Example:
        >>> verify_files("runs/faces", "a.jpg", "b.jpg")                   # doctest: +SKIP
        {'distance': 0.37, 'same': True, 'threshold': 0.82}
    """
    embedder = Embedder(run_dir, backend)
    a, b = embedder.embed_files([image_a, image_b])
    d = float(pair_distances(a[None], b[None], embedder.distance)[0, 0])
    t = embedder.threshold(threshold)
    return {"image_a": str(image_a), "image_b": str(image_b), "distance": round(d, 6),
            "same": None if t is None else bool(d <= t), "threshold": t}


def embed_to_file(run_dir, images, out, backend="auto") -> dict:
    """Embeddings of `images` into an npz: files, embeddings, fingerprint, probe, distance (an
    existing `out` is replaced only when it is such a file)."""
    if not str(out).strip():
        raise RunError("--out is empty; name the npz file to write (e.g. embeddings.npz)")
    check_replaceable(out, what="an embeddings npz visiontk wrote", is_ours=_is_embeddings_file,
                      error=RunError)
    embedder = Embedder(run_dir, backend)
    emb = embedder.embed_files(images)
    with atomic_path(Path(out)) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, files=np.array([str(i) for i in images], dtype=str), embeddings=emb,
                     fingerprint=np.array(embedder.fingerprint), probe=embedder.probe,
                     distance=np.array(embedder.distance))
    return {"out": str(out), "images": int(len(emb)), "dim": int(emb.shape[1]),
            "fingerprint": embedder.fingerprint}


def _is_embeddings_file(path: Path) -> bool:
    """An npz `embed` wrote (its arrays: files, embeddings, fingerprint, probe, distance)."""
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as z:
            return {"files", "embeddings", "fingerprint", "probe", "distance"} <= set(z.files)
    except (OSError, ValueError, EOFError, TypeError, AttributeError, zipfile.BadZipFile):
        return False
