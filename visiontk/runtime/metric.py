"""Embeddings: decode (the model output is the embedding), nearest gallery identity with its
distance or "unknown" past a threshold, gallery files (plain npz, no pickle) and the overlay.

A gallery can ride along in the metadata: `with_gallery(meta, gallery, threshold)` returns a copy of
`meta` whose decode also identifies every embedding (the demo and `visiontk identify` use it).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Optional

import cv2
import numpy as np

from .draw import label
from .errors import InputError
from .predictions import VALUE_TOL, Prediction, close

UNKNOWN = "unknown"
GALLERY_KEYS = ("names", "embeddings", "fingerprint", "probe", "distance")
DISTANCES = ("euclidean", "squared", "cosine")
REBUILD = "enroll the images again into a new gallery file (visiontk enroll RUN_DIR --gallery NEW.npz)"


@dataclass
class MetricPrediction(Prediction):
    """The embedding; with a gallery also the identity ("unknown" past the threshold), its distance
    and the nearest enrolled name (extra["nearest"])."""

    task: ClassVar[str] = "metric"
    embedding: np.ndarray
    identity: Optional[str] = None
    distance: Optional[float] = None

    def json_fields(self) -> dict:
        out = {"embedding": [round(float(v), 6) for v in np.ravel(self.embedding)]}
        if self.identity is not None:
            out.update(identity=self.identity, distance=round(float(self.distance), 6))
        return out

    def differences(self, other, size) -> list[str]:
        problems = []
        if not close(self.embedding, other.embedding):
            problems.append(f"embedding differs by more than {VALUE_TOL}")
        if self.identity != other.identity or not close(self.distance, other.distance):
            problems.append(f"identity {other.identity!r} ({other.distance}) instead of "
                            f"{self.identity!r} ({self.distance})")
        return problems


def embedding_output(outputs) -> np.ndarray:
    """The (B, D) embeddings from a backend's outputs (array, [array] or {name: array})."""
    if isinstance(outputs, dict):
        outputs = outputs.get("embedding", next(iter(outputs.values())))
    elif isinstance(outputs, (list, tuple)):
        outputs = outputs[0]
    out = np.asarray(outputs, np.float32)
    return out.reshape(len(out), -1)


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (a zero row stays zero)."""
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _check_distance(distance: str) -> None:
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {', '.join(DISTANCES)}, got {distance!r}")


def pair_distances(a: np.ndarray, b: np.ndarray, distance: str = "euclidean") -> np.ndarray:
    """(len(a), len(b)) distances between every row of `a` and every row of `b`: euclidean,
    squared (euclidean squared) or cosine (1 - cos). The one numpy distance code of visiontk
    (evaluation, search, galleries and exports use it).

    Example:
        >>> pair_distances(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]]))
        array([[5.]])
    """
    _check_distance(distance)
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if distance == "cosine":
        return 1.0 - unit_rows(a) @ unit_rows(b).T
    d2 = np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2.0 * a @ b.T, 0.0)
    return d2 if distance == "squared" else np.sqrt(d2)


def row_distances(a: np.ndarray, b: np.ndarray, distance: str = "euclidean") -> np.ndarray:
    """(N,) distances between row i of `a` and row i of `b` (pairs), as `pair_distances`.

    Example:
        >>> row_distances(np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[3.0, 4.0], [0.0, 2.0]]),
        ...               "cosine").tolist()
        [1.0, 1.0]
    """
    _check_distance(distance)
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if distance == "cosine":
        return 1.0 - (unit_rows(a) * unit_rows(b)).sum(1)
    d2 = ((a - b) ** 2).sum(1)
    return d2 if distance == "squared" else np.sqrt(d2)


def identify(embeddings, gallery_embeddings, gallery_names, *, distance: str = "euclidean",
             threshold: float | None = None) -> list[tuple[str, float, str]]:
    """For each embedding: (identity or "unknown", distance to the nearest gallery entry, the
    nearest entry's name). "unknown" when that distance exceeds `threshold`.

    Example:
        >>> found = identify(np.array([[0.0, 1.0], [5.0, 5.0]]), np.array([[0.0, 0.9]]), ["ann"],
        ...                  threshold=1.0)
        >>> [(name, round(d, 3), nearest) for name, d, nearest in found]
        [('ann', 0.1, 'ann'), ('unknown', 6.466, 'ann')]
    """
    names = [str(n) for n in gallery_names]
    if not names:
        raise InputError("the gallery is empty: enroll at least one image first")
    width, gallery_width = np.shape(embeddings)[-1], np.shape(gallery_embeddings)[-1]
    if width != gallery_width:
        raise InputError(f"the gallery holds {gallery_width}-wide embeddings but the model gives "
                         f"{width}: it was made with another model; {REBUILD}")
    d = pair_distances(embeddings, gallery_embeddings, distance)
    best = np.argmin(d, axis=1)
    out = []
    for row, j in zip(d, best):
        dist = round(float(row[j]), 6)
        known = threshold is None or dist <= threshold
        out.append((names[j] if known else UNKNOWN, dist, names[j]))
    return out


def load_gallery(path) -> dict:
    """A gallery npz (names, embeddings, fingerprint, probe, distance), read without pickle; an
    InputError naming the file (and the entry) when it is not one."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"gallery not found: {p} (create it with `visiontk enroll`)")
    try:
        with np.load(p, allow_pickle=False) as z:
            missing = [k for k in GALLERY_KEYS if k not in z.files]
            if missing:
                raise InputError(f"{p} is not a visiontk gallery (missing {', '.join(missing)}); "
                                 f"{REBUILD}")
            g = {k: z[k] for k in GALLERY_KEYS}
    except InputError:
        raise
    except Exception as exc:   # BadZipFile, EOFError, ValueError (pickled data), TypeError (.npy)...
        raise InputError(f"{p}: not a readable gallery npz ({_npz_problem(p, exc)}); {REBUILD}") \
            from None
    return _checked_gallery(g, p)


def _npz_problem(p: Path, exc: Exception) -> str:
    """Why np.load failed, in words (a zip cut short says so instead of `BadZipFile`)."""
    with open(p, "rb") as f:
        head = f.read(4)
    if not head:
        return "the file is empty"
    if head == b"PK\x03\x04" and not zipfile.is_zipfile(p):
        return "truncated or damaged: the zip archive has no end"
    if head != b"PK\x03\x04":
        return "not an npz (zip) file"
    if isinstance(exc, ValueError) and "pickle" in str(exc):
        return "an entry holds pickled Python objects, which visiontk never loads"
    return f"damaged: {type(exc).__name__}: {str(exc).strip()[:120]}"


def _checked_gallery(g: dict, p: Path) -> dict:
    """Entries with the types identification needs, or an InputError naming the entry."""
    def bad(entry: str, what: str) -> InputError:
        return InputError(f"{p}: entry '{entry}' {what}; {REBUILD}")

    names, emb, probe = g["names"], g["embeddings"], g["probe"]
    if names.ndim != 1 or names.dtype.kind not in "US":
        raise bad("names", "must be a list of names (1-D text array)")
    if emb.ndim != 2 or emb.dtype.kind not in "fiu" or len(emb) != len(names):
        raise bad("embeddings", f"must be numbers of shape ({len(names)}, D) (one row per name), "
                                f"not {emb.dtype} {list(emb.shape)}")
    if probe.ndim != 2 or probe.dtype.kind not in "fiu":
        raise bad("probe", f"must be a 2-D array of numbers, not {probe.dtype} {list(probe.shape)}")
    if g["distance"].ndim != 0 or str(g["distance"]) not in DISTANCES:
        raise bad("distance", f"must be one of {', '.join(DISTANCES)}")
    if g["fingerprint"].ndim != 0:
        raise bad("fingerprint", "must be one text value")
    g["names"] = [str(n) for n in names]
    g["fingerprint"], g["distance"] = str(g["fingerprint"]), str(g["distance"])
    return g


def with_gallery(meta: dict, gallery: dict, threshold: float | None) -> dict:
    """A copy of `meta` whose decode identifies against `gallery` (see `decode`)."""
    out = dict(meta)
    out["gallery"] = {"names": list(gallery["names"]), "embeddings": np.asarray(gallery["embeddings"]),
                      "threshold": threshold}
    return out


def decode(outputs, meta: dict, sizes=None) -> list:
    """One Prediction per image with `embedding`; with a gallery in `meta` (see `with_gallery`)
    also `identity` ("unknown" past the threshold), `distance` and the nearest name in `extra`."""
    emb = embedding_output(outputs)
    preds = [MetricPrediction(embedding=e) for e in emb]
    gallery = meta.get("gallery")
    if gallery:
        distance = meta.get("decode", {}).get("distance", "euclidean")
        found = identify(emb, gallery["embeddings"], gallery["names"], distance=distance,
                         threshold=gallery.get("threshold"))
        for p, (name, dist, nearest) in zip(preds, found):
            p.identity, p.distance = name, dist
            p.extra["nearest"] = nearest
    return preds


def draw(frame: np.ndarray, prediction, meta: dict) -> np.ndarray:
    """The identity and distance (or the embedding's size) in a corner, and the embedding's first
    values as a strip of bars along the bottom edge."""
    emb = np.ravel(prediction.embedding) if prediction.embedding is not None else np.zeros(0)
    if prediction.identity is not None:
        known = prediction.identity != UNKNOWN
        text = f"{prediction.identity}  d={prediction.distance:.3f}"
        label(frame, text, (4, 4), color=(0, 0, 0), bg=(80, 220, 80) if known else (60, 60, 230))
    else:
        label(frame, f"embedding {len(emb)}-d", (4, 4))
    if len(emb):
        h, w = frame.shape[:2]
        n = min(len(emb), 64)
        bar_w = max(1, w // n)
        top = int(h * 0.88)
        scale = (h - top - 2) / max(float(np.abs(emb[:n]).max()), 1e-6)
        mid = (top + h) // 2
        for i, v in enumerate(emb[:n]):
            x = i * bar_w
            y = int(mid - v * scale / 2)
            cv2.rectangle(frame, (x, min(mid, y)), (x + bar_w - 1, max(mid, y)),
                          (230, 170, 40) if v >= 0 else (40, 120, 240), -1)
    return frame
