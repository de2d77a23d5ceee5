"""Retrieval, k-NN and verification metrics on fixed toy sets against hand-computed values; the
chunked search equals the full distance matrix; bounded memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from visiontk.tasks.metric.evaluation import (metric_report, roc_auc, verification_metrics,
                                        verification_pairs)
from visiontk.runtime.metric import pair_distances as distances
from visiontk.tasks.metric.search import (chunk_rows, knn_accuracies, knn_accuracy, nearest,
                                          retrieval_metrics)

# 1-D toy set: labels A A B A B C (C alone: it cannot retrieve anything and is left out)
TOY_X = np.array([[0.0], [0.2], [0.5], [1.0], [1.1], [3.0]])
TOY_Y = np.array([0, 0, 1, 0, 1, 2])


def test_retrieval_on_toy_set_matches_hand_computation():
    # neighbour orders (self excluded, ties by index):
    # q0: 1A 2B 3A 4B 5C   R=2 -> hit@1, AP=(1/1)/2=0.5
    # q1: 0A 2B 3A 4B 5C   R=2 -> hit@1, AP=0.5
    # q2: 1A 0A 3A 4B 5C   R=1 -> miss@1, hit@5 (rank 4), AP=0
    # q3: 4B 2B 1A 0A 5C   R=2 -> miss@1, hit@5, AP=0
    # q4: 3A 2B 1A 0A 5C   R=1 -> miss@1, hit@5 (rank 2), AP=0
    m = retrieval_metrics(TOY_X, TOY_Y)
    assert m["queries"] == 5
    assert m["recall@1"] == pytest.approx(2 / 5)
    assert m["precision@1"] == pytest.approx(2 / 5)
    assert m["recall@5"] == pytest.approx(1.0) and m["recall@10"] == pytest.approx(1.0)
    assert m["map@r"] == pytest.approx(1.0 / 5)
    idx, d = nearest(TOY_X, TOY_X, 3, exclude_self=True)
    assert idx[2].tolist() == [1, 0, 3]                      # 0 and 3 tie at 0.5: lower index first
    np.testing.assert_allclose(d[2], [0.3, 0.5, 0.5])


def test_map_at_r_partial_credit():
    # query 0 (label 0, R=2): order 1(0) 2(1) 3(0) -> AP = (1/1 + 0) / 2 = 0.5 (rank 3 is past R)
    # query 1: order 0(0) 2(1) 3(0) -> 0.5; query 3: order 2(1) 1(0) 0(0) -> (0 + 1/2) / 2 = 0.25
    # query 2 (label 1, R=0) left out
    x = np.array([[0.0], [0.1], [0.5], [0.9]])
    y = np.array([0, 0, 1, 0])
    m = retrieval_metrics(x, y)
    assert m["queries"] == 3
    assert m["map@r"] == pytest.approx((0.5 + 0.5 + 0.25) / 3)
    assert m["recall@1"] == pytest.approx(2 / 3)


def test_cosine_and_squared_distances():
    a = np.array([[1.0, 0.0]])
    b = np.array([[0.0, 2.0], [3.0, 0.0]])
    np.testing.assert_allclose(distances(a, b, "cosine"), [[1.0, 0.0]], atol=1e-12)
    np.testing.assert_allclose(distances(a, b, "squared"), [[5.0, 4.0]])
    with pytest.raises(ValueError, match="distance"):
        distances(a, b, "manhattan")


def test_knn_majority_and_tie_break():
    refs = np.array([[0.0], [0.3], [0.35], [1.0], [1.1]])
    ref_y = np.array([0, 1, 1, 0, 0])
    q = np.array([[0.32], [0.05]])
    # q0: neighbours 0.3(1) 0.35(1) 0.0(0) -> majority 1; q1: 0.0(0) 0.3(1) 0.35(1) -> 1 (k=3)
    assert knn_accuracy(q, np.array([1, 0]), refs, ref_y, k=3) == pytest.approx(0.5)
    # k=2: q1 has one vote each: the nearest (label 0) wins
    assert knn_accuracy(q, np.array([1, 0]), refs, ref_y, k=2) == pytest.approx(1.0)
    # every k from one search: the same answers; k = 5 votes with all five references (0, 0, 0, 1, 1)
    assert knn_accuracies(q, np.array([1, 0]), refs, ref_y, ks=(2, 3, 1, 5, 9)) == \
        {1: 1.0, 2: 1.0, 3: 0.5, 5: 0.5, 9: 0.5}


@pytest.mark.parametrize("distance", ["euclidean", "squared", "cosine"])
def test_chunked_search_equals_full_matrix(distance):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(150, 6)).astype(np.float32)
    y = rng.integers(0, 9, size=150)
    full_d = distances(x, x, distance)
    np.fill_diagonal(full_d, np.inf)
    order = np.lexsort((np.broadcast_to(np.arange(150), (150, 150)), full_d), axis=1)[:, :20]
    idx, _ = nearest(x, x, 20, distance=distance, exclude_self=True, chunk=7)
    np.testing.assert_array_equal(idx, order)
    small = retrieval_metrics(x, y, distance=distance, max_block_bytes=8 * 150 * 4)   # 4-row blocks
    whole = retrieval_metrics(x, y, distance=distance, max_block_bytes=2**40)
    assert small == pytest.approx(whole, rel=1e-12)      # same neighbours; sums in another order
    # by brute force from the full matrix
    rel = y[order] == y[:, None]
    assert whole["recall@1"] == pytest.approx(rel[:, 0].mean())
    assert whole["recall@5"] == pytest.approx(rel[:, :5].any(1).mean())


def test_memory_is_bounded_by_the_block_size():
    assert chunk_rows(50_000) * 50_000 * 8 <= 64 * 2**20
    rng = np.random.default_rng(0)
    n = 3000
    x = rng.normal(size=(n, 8)).astype(np.float32)
    y = rng.integers(0, 300, size=n)
    tracemalloc.start()
    retrieval_metrics(x, y, max_block_bytes=2 * 2**20)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 20 * 2**20 < n * n * 8               # the full matrix would be 72 MB


def test_verification_by_hand():
    dist = np.array([0.1, 0.4, 0.35, 0.3, 0.8, 0.9])
    same = np.array([1, 1, 1, 0, 0, 0], bool)
    # AUC: positive-negative pairs ordered correctly: 0.1 beats 3, 0.4 and 0.35 beat 2 each -> 7/9
    m = verification_metrics(dist, same)
    assert m["roc_auc"] == pytest.approx(7 / 9)
    # accept d <= 0.4: TP 3, TN 2 -> 5/6; threshold midway to the next distance 0.8
    assert m["accuracy"] == pytest.approx(5 / 6) and m["threshold"] == pytest.approx(0.6)
    # at t = 0.35: FAR 1/3 (0.3), FRR 1/3 (0.4) -> EER 1/3
    assert m["eer"] == pytest.approx(1 / 3)
    assert roc_auc(np.array([0.2, 0.2]), np.array([True, False])) == pytest.approx(0.5)
    assert roc_auc(dist[:3], same[:3]) is None


def test_verification_pairs_are_valid_and_deterministic():
    y = np.repeat(np.arange(5), [1, 4, 6, 2, 7])
    i, j, same = verification_pairs(y, 500, positive_fraction=0.3, seed=1)
    assert len(i) == 500 and same.sum() == 150
    assert ((y[i] == y[j]) == same).all() and (i[same] != j[same]).all()
    i2, j2, _ = verification_pairs(y, 500, positive_fraction=0.3, seed=1)
    assert (i == i2).all() and (j == j2).all()
    # one identity only: positives only; all distinct: negatives only
    assert verification_pairs(np.zeros(4), 10)[2].all()
    assert not verification_pairs(np.arange(4), 10)[2].any()


def test_report_separates_seen_and_unseen(tmp_path):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(6, 4)) * 5
    y = np.repeat(np.arange(6), 20)
    x = centres[y] + rng.normal(size=(120, 4))
    seen = [0, 1, 2, 3]
    ref_y = np.repeat(np.arange(4), 10)
    ref_x = centres[ref_y] + rng.normal(size=(40, 4))
    m = metric_report(x, y, seen, ref_emb=ref_x, ref_ids=ref_y, knn_k=3, pairs=300,
                      out_dir=tmp_path)
    assert m["seen"]["samples"] == 80 and m["unseen"]["samples"] == 40
    assert m["headline_on"] == "unseen" and m["recall@1"] == m["unseen"]["recall@1"] > 0.9
    assert m["knn_accuracy"] > 0.9 and m["seen"]["knn_references"] == 40
    by_k = m["seen"]["knn_accuracy_by_k"]             # to choose k on validation: k <= 40 references
    assert sorted(by_k, key=int) == ["1", "3", "5", "10", "20", "40"] and by_k["3"] == m["knn_accuracy"]
    assert by_k["1"] == knn_accuracy(x[:80], y[:80], ref_x, ref_y, k=1)
    assert m["unseen"]["verification"]["roc_auc"] > 0.9 and m["threshold"] > 0
    png = tmp_path / "embeddings_pca.png"
    assert png.is_file() and png.read_bytes()[:4] == b"\x89PNG"
