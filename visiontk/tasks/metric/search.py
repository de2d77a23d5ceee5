"""Exact nearest-neighbour search over embeddings in chunks of queries (numpy only), and the
retrieval metrics built on it: recall@k, precision@1, MAP@R and k-NN classification accuracy.

Memory stays bounded: one (chunk x N) block of distances at a time, with the chunk sized from
`max_block_bytes` (64 MiB by default), so 50,000 embeddings never build a 50,000 x 50,000 matrix.
"""

from __future__ import annotations

import numpy as np

from visiontk.runtime.metric import pair_distances

_BLOCK_BYTES = 64 * 2**20


def chunk_rows(n_refs: int, max_block_bytes: int = _BLOCK_BYTES) -> int:
    """How many query rows fit in one block of float64 distances to `n_refs` references."""
    return max(1, int(max_block_bytes // (8 * max(n_refs, 1))))


def nearest(queries, refs, k: int, *, distance: str = "euclidean", exclude_self: bool = False,
            offset: int = 0, chunk: int | None = None, max_block_bytes: int = _BLOCK_BYTES):
    """The k nearest references of every query, exact, ordered by distance (ties by index).

    Args:
        queries: (Q, D) embeddings.
        refs: (N, D) embeddings.
        k: neighbours per query (at most N, or N - 1 with `exclude_self`).
        distance: euclidean | squared | cosine.
        exclude_self: query i is reference `offset + i`: a query never finds itself.
        offset: see `exclude_self` (the queries are a slice of the references).
        chunk: queries per block (default: from `max_block_bytes`).

    Returns:
        (indices (Q, k) int64, distances (Q, k) float64).

    Example:
        >>> idx, d = nearest(np.array([[0.0], [1.0], [5.0]]), np.array([[0.0], [1.0], [5.0]]), 1,
        ...                  exclude_self=True)
        >>> idx[:, 0].tolist(), d[:, 0].tolist()
        ([1, 0, 1], [1.0, 1.0, 4.0])
    """
    queries, refs = np.asarray(queries), np.asarray(refs)
    n = len(refs)
    k = int(min(k, n - 1 if exclude_self else n))
    if k <= 0 or len(queries) == 0:
        return np.zeros((len(queries), 0), np.int64), np.zeros((len(queries), 0))
    chunk = chunk or chunk_rows(n, max_block_bytes)
    out_i = np.empty((len(queries), k), np.int64)
    out_d = np.empty((len(queries), k), np.float64)
    for start in range(0, len(queries), chunk):
        block = pair_distances(queries[start:start + chunk], refs, distance)
        rows = np.arange(len(block))
        if exclude_self:
            block[rows, offset + start + rows] = np.inf
        part = np.argpartition(block, k - 1, axis=1)[:, :k] if k < n else \
            np.broadcast_to(np.arange(n), block.shape).copy()
        dist = np.take_along_axis(block, part, 1)
        # order by (distance, index): a deterministic answer whatever the chunking
        order = np.lexsort((part, dist), axis=1)
        out_i[start:start + chunk] = np.take_along_axis(part, order, 1)
        out_d[start:start + chunk] = np.take_along_axis(dist, order, 1)
    return out_i, out_d


def retrieval_metrics(embeddings, labels, *, distance: str = "euclidean", ks=(1, 5, 10),
                      chunk: int | None = None, max_block_bytes: int = _BLOCK_BYTES) -> dict:
    """Leave-one-out retrieval within one set: every item queries all the others.

    recall@k: fraction of queries with at least one same-label item among their k nearest;
    precision@1: fraction whose nearest item has their label (equal to recall@1 by definition);
    map@r: MAP@R (Musgrave et al. 2020), R = the number of other items with the query's label:
    mean over queries of (1/R) sum_{i<=R} precision@i * [item i relevant]. Queries whose label has
    no other item are left out (they cannot retrieve anything relevant).

    Example:
        >>> m = retrieval_metrics(np.array([[0.0], [0.1], [1.0], [1.2]]), np.array([0, 0, 1, 1]))
        >>> m["recall@1"], m["map@r"]
        (1.0, 1.0)
    """
    emb = np.asarray(embeddings)
    labels = np.asarray(labels)
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    r_of = counts[inverse] - 1                                    # relevant items per query
    valid = r_of > 0
    out = {"queries": int(valid.sum())}
    if not valid.any():
        return {**out, **{f"recall@{k}": None for k in ks}, "precision@1": None, "map@r": None}
    depth = int(max(max(ks), r_of.max()))
    chunk = chunk or chunk_rows(len(emb), max_block_bytes)
    hits = {k: 0 for k in ks}
    ap_sum = 0.0
    for start in range(0, len(emb), chunk):
        stop = min(start + chunk, len(emb))
        idx, _ = nearest(emb[start:stop], emb, depth, distance=distance, exclude_self=True,
                         offset=start, chunk=stop - start)
        rel = labels[idx] == labels[start:stop, None]             # (c, depth)
        ok = valid[start:stop]
        for k in ks:
            hits[k] += int(rel[ok, :k].any(1).sum())
        r = r_of[start:stop]
        ranks = np.arange(1, rel.shape[1] + 1)
        within = ranks[None] <= r[:, None]
        precision = np.cumsum(rel & within, 1) / ranks[None]
        ap = (precision * (rel & within)).sum(1) / np.maximum(r, 1)
        ap_sum += float(ap[ok].sum())
    nq = int(valid.sum())
    for k in ks:
        out[f"recall@{k}"] = hits[k] / nq
    out["precision@1"] = out["recall@1"] if 1 in hits else None
    out["map@r"] = ap_sum / nq
    return out


def knn_accuracy(queries, query_labels, refs, ref_labels, k: int = 5, *,
                 distance: str = "euclidean", exclude_self: bool = False,
                 max_block_bytes: int = _BLOCK_BYTES) -> float:
    """k-NN classification accuracy: majority label of the k nearest references (a tie goes to the
    label of the nearest tied neighbour).

    Example:
        >>> knn_accuracy(np.array([[0.1], [0.9]]), np.array([0, 1]),
        ...              np.array([[0.0], [0.2], [1.0]]), np.array([0, 0, 1]), k=1)
        1.0
    """
    return knn_accuracies(queries, query_labels, refs, ref_labels, (k,), distance=distance,
                          exclude_self=exclude_self, max_block_bytes=max_block_bytes)[k]


def knn_accuracies(queries, query_labels, refs, ref_labels, ks=(1, 5, 10, 20, 40), *,
                   distance: str = "euclidean", exclude_self: bool = False,
                   max_block_bytes: int = _BLOCK_BYTES) -> dict:
    """{k: k-NN accuracy} for several k from one nearest-neighbour search (k is a hyperparameter:
    choose it on the validation split, then read the test figure at that k). A k above the number
    of references votes with all of them.

    Example:
        >>> knn_accuracies(np.array([[0.1]]), np.array([0]), np.array([[0.0], [0.2], [1.0]]),
        ...                np.array([0, 1, 1]), ks=(1, 3))
        {1: 1.0, 3: 0.0}
    """
    ks = sorted({int(k) for k in ks})
    idx, _ = nearest(queries, refs, ks[-1], distance=distance, exclude_self=exclude_self,
                     max_block_bytes=max_block_bytes)
    if idx.shape[1] == 0:                                          # no reference at all
        return {k: float("nan") for k in ks}
    ref_labels = np.asarray(ref_labels)
    query_labels = np.asarray(query_labels)
    votes_all = ref_labels[idx]                                    # (Q, k_max), nearest first
    out = {}
    for k in ks:
        votes = votes_all[:, :k]
        pred = np.empty(len(votes), ref_labels.dtype)
        for i, row in enumerate(votes):
            values, first, counts = np.unique(row, return_index=True, return_counts=True)
            best = counts == counts.max()
            pred[i] = values[best][np.argmin(first[best])]
        out[k] = float((pred == query_labels).mean()) if len(pred) else float("nan")
    return out
