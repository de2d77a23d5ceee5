"""Evaluation of an embedding model (numpy only): identities seen in training and never seen are
scored apart. Retrieval (recall@1/5/10, precision@1, MAP@R) on both; k-NN accuracy on the seen ones
(references: training images); verification on generated same/different pairs (ROC AUC, best-
threshold accuracy and its threshold, equal error rate); a PCA plot of the embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visiontk.runtime.metric import row_distances
from visiontk.tasks.metric.search import knn_accuracies, retrieval_metrics


# ---- verification -------------------------------------------------------------------------------
def verification_pairs(labels, n_pairs: int, *, positive_fraction: float = 0.5, seed: int = 0):
    """Index pairs (i, j, same) drawn from `labels`: a `positive_fraction` share of same-label pairs
    (i != j), the rest different-label pairs. Deterministic from `seed`.

    Example:
        >>> i, j, same = verification_pairs(np.array([0, 0, 1, 1]), 10)
        >>> bool(((np.array([0, 0, 1, 1])[i] == np.array([0, 0, 1, 1])[j]) == same).all())
        True
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    values, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    members = [np.flatnonzero(inverse == c) for c in range(len(values))]
    multi = np.flatnonzero(counts >= 2)
    n_pos = int(round(n_pairs * positive_fraction)) if len(multi) else 0
    n_neg = n_pairs - n_pos if len(values) >= 2 else 0
    pairs = []
    if n_pos:
        weights = counts[multi] / counts[multi].sum()
        for c in rng.choice(multi, size=n_pos, p=weights):
            a, b = rng.choice(members[c], size=2, replace=False)
            pairs.append((a, b, True))
    order = np.argsort(inverse, kind="stable")           # items grouped by label
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    for _ in range(n_neg):
        a = int(rng.integers(len(labels)))
        c = inverse[a]
        r = int(rng.integers(len(labels) - counts[c]))    # the r-th item outside a's label
        b = int(order[r if r < starts[c] else r + counts[c]])
        pairs.append((a, b, False))
    if not pairs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool)
    arr = np.array(pairs, dtype=object)
    return arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64), arr[:, 2].astype(bool)


def roc_auc(dist, same) -> float | None:
    """Area under the ROC curve of the score -distance (ties count one half); None without both
    kinds of pairs.

    Example:
        >>> round(roc_auc(np.array([0.1, 0.4, 0.35, 0.3, 0.8, 0.9]),
        ...               np.array([1, 1, 1, 0, 0, 0], bool)), 4)
        0.7778
    """
    dist, same = np.asarray(dist, np.float64), np.asarray(same, bool)
    n_pos, n_neg = int(same.sum()), int((~same).sum())
    if not n_pos or not n_neg:
        return None
    score = -dist
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    sorted_scores = score[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[same].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def threshold_sweep(dist, same):
    """FAR, FRR and accuracy of `same := dist <= t` at t = -inf and at every distinct distance."""
    dist, same = np.asarray(dist, np.float64), np.asarray(same, bool)
    order = np.argsort(dist, kind="mergesort")
    d, s = dist[order], same[order]
    last = np.r_[d[1:] != d[:-1], True]                 # end of each group of equal distances
    tp = np.cumsum(s)[last]
    fp = np.cumsum(~s)[last]
    thresholds = np.r_[-np.inf, d[last]]
    tp, fp = np.r_[0, tp], np.r_[0, fp]
    n_pos, n_neg = max(int(s.sum()), 1), max(int((~s).sum()), 1)
    far = fp / n_neg
    frr = (s.sum() - tp) / n_pos
    acc = (tp + ((~s).sum() - fp)) / len(d)
    return thresholds, far, frr, acc, np.r_[d[last], np.inf]


def verification_metrics(dist, same) -> dict:
    """ROC AUC, the best accuracy of a distance threshold (and the threshold: midway between the
    last accepted and the next distance), and the equal error rate (FAR = FRR; the mean of the two
    at the threshold where they are closest).

    Example:
        >>> m = verification_metrics(np.array([0.1, 0.4, 0.35, 0.3, 0.8, 0.9]),
        ...                          np.array([1, 1, 1, 0, 0, 0], bool))
        >>> round(m["accuracy"], 4), round(m["threshold"], 4), round(m["eer"], 4)
        (0.8333, 0.6, 0.3333)
    """
    dist, same = np.asarray(dist, np.float64), np.asarray(same, bool)
    out = {"pairs": int(len(dist)), "positive_pairs": int(same.sum()), "roc_auc": roc_auc(dist, same)}
    if not len(dist):
        return {**out, "accuracy": None, "threshold": None, "eer": None}
    thresholds, far, frr, acc, following = threshold_sweep(dist, same)
    best = int(np.argmax(acc))
    if best == 0:
        threshold = float(following[0]) / 2 if np.isfinite(following[0]) else 0.0
    elif np.isfinite(following[best]):
        threshold = (thresholds[best] + following[best]) / 2.0
    else:
        threshold = float(thresholds[best])
    e = int(np.argmin(np.abs(far - frr)))
    out.update(accuracy=float(acc[best]), threshold=float(threshold), eer=float((far[e] + frr[e]) / 2))
    return out


# ---- plot ----------------------------------------------------------------------------------------
def pca_2d(x: np.ndarray) -> np.ndarray:
    """Projection on the two principal axes (SVD of the centred data)."""
    x = np.asarray(x, np.float64)
    centred = x - x.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    out = centred @ vt[:2].T
    return out if out.shape[1] == 2 else np.c_[out, np.zeros(len(out))]


def plot_embeddings(emb, labels, seen_mask, path: Path, *, names: dict | None = None,
                    max_points: int = 4000, seed: int = 0) -> Path:
    """PNG scatter of the PCA projection: one colour per identity, dots for identities seen in
    training, crosses for held-out ones."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from visiontk.io import atomic_path

    emb, labels, seen_mask = np.asarray(emb), np.asarray(labels), np.asarray(seen_mask, bool)
    if len(emb) > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(len(emb), max_points, replace=False))
        emb, labels, seen_mask = emb[keep], labels[keep], seen_mask[keep]
    xy = pca_2d(emb)
    ids = np.unique(labels)
    cmap = plt.get_cmap("tab20" if len(ids) > 10 else "tab10")
    fig, ax = plt.subplots(figsize=(7, 6))
    for n, ident in enumerate(ids):
        sel = labels == ident
        seen = bool(seen_mask[sel][0])
        name = (names or {}).get(int(ident), str(ident))
        ax.scatter(xy[sel, 0], xy[sel, 1], s=8 if seen else 14, marker="o" if seen else "x",
                   color=cmap(n % cmap.N), alpha=0.6, linewidths=0.8,
                   label=f"{name}{'' if seen else ' (held out)'}")
    if len(ids) <= 20:
        ax.legend(fontsize=7, markerscale=2, loc="best")
    ax.set_title("test embeddings, PCA (dots: seen in training, crosses: held out)")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return path


KNN_KS = (1, 5, 10, 20, 40)      # k-NN accuracy is reported at these k too


# ---- the report ----------------------------------------------------------------------------------
def metric_report(emb, identities, seen_ids, *, distance: str = "euclidean", ref_emb=None,
                  ref_ids=None, knn_k: int = 5, pairs: int = 4000, seed: int = 0, out_dir=None,
                  names: dict | None = None) -> dict:
    """Metrics of embeddings `emb` (N, D) with `identities` (N,).

    Args:
        seen_ids: identities used in training (None: all of them were).
        ref_emb, ref_ids: reference embeddings for k-NN (training images of seen identities);
            without them k-NN is leave-one-out within the seen part of `emb`.
        pairs: verification pairs generated per part.

    Returns a dict with `seen` and `unseen` sections and, at the top, the headline numbers:
    `recall@1` and `map@r` (held-out identities when there are, else seen ones), `knn_accuracy`
    (seen) and `threshold` (best-accuracy verification distance, used by `visiontk identify`).
    """
    emb, identities = np.asarray(emb, np.float32), np.asarray(identities)
    seen_mask = np.ones(len(emb), bool) if seen_ids is None else np.isin(identities, list(seen_ids))
    out: dict = {"samples": int(len(emb)), "distance": distance}
    for part, mask in (("seen", seen_mask), ("unseen", ~seen_mask)):
        if not mask.any():
            continue
        e, ids = emb[mask], identities[mask]
        sec = {"samples": int(mask.sum()), "identities": int(len(np.unique(ids)))}
        sec.update(retrieval_metrics(e, ids, distance=distance))
        i, j, same = verification_pairs(ids, pairs, seed=seed)
        d = row_distances(e[i], e[j], distance)
        sec["verification"] = verification_metrics(d, same)
        if part == "seen":
            has_refs = ref_emb is not None and len(ref_emb) > 0
            n_refs = len(ref_emb) if has_refs else len(e) - 1
            ks = (*(k for k in KNN_KS if k <= n_refs), int(knn_k))
            if has_refs:
                by_k = knn_accuracies(e, ids, ref_emb, ref_ids, ks, distance=distance)
                sec["knn_references"] = int(len(ref_emb))
            else:
                by_k = knn_accuracies(e, ids, e, ids, ks, distance=distance, exclude_self=True)
                sec["knn_references"] = "leave-one-out"
            sec["knn_accuracy"] = by_k[int(knn_k)]
            sec["knn_k"] = int(knn_k)
            # the other k, to choose knn_k on the validation split
            sec["knn_accuracy_by_k"] = {str(k): v for k, v in by_k.items()}
        out[part] = sec
    head = out.get("unseen") or out.get("seen") or {}
    out["headline_on"] = "unseen" if "unseen" in out else "seen"
    out["recall@1"] = head.get("recall@1")
    out["map@r"] = head.get("map@r")
    if "seen" in out:
        out["knn_accuracy"] = out["seen"]["knn_accuracy"]
    out["threshold"] = head.get("verification", {}).get("threshold")
    if out_dir is not None and len(emb) >= 2:
        out["pca_png"] = str(plot_embeddings(emb, identities, seen_mask,
                                             Path(out_dir) / "embeddings_pca.png", names=names))
    return out
