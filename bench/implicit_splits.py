"""implicit 0.7 on a train/test split: ranking metrics at K with the same definitions as
`aisle evaluate` (binary relevance, training items excluded, users without test items
skipped), fit and predict seconds, as JSON on stdout.

Usage: implicit_splits.py TRAIN TEST K
Files: user<TAB>item<TAB>rating<TAB>timestamp, no header; every row is an interaction (1)."""

import json
import math
import sys
import time

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from implicit.als import AlternatingLeastSquares
from implicit.bpr import BayesianPersonalizedRanking
from implicit.nearest_neighbours import TFIDFRecommender, CosineRecommender, BM25Recommender


def read(path, users, items):
    rows, cols = [], []
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 2:
                continue
            rows.append(users.setdefault(parts[0], len(users)))
            cols.append(items.setdefault(parts[1], len(items)))
    return rows, cols


users, items = {}, {}
train_rows, train_cols = read(sys.argv[1], users, items)
test_rows, test_cols = read(sys.argv[2], users, items)
k = int(sys.argv[3])
n_users, n_items = len(users), len(items)
train = sp.csr_matrix(
    (np.ones(len(train_rows), dtype=np.float32), (train_rows, train_cols)), shape=(n_users, n_items)
)
train.data[:] = 1.0  # duplicates summed by scipy: back to 0/1
test = {}
for u, i in zip(test_rows, test_cols):
    test.setdefault(u, set()).add(i)
test_users = np.array(sorted(test), dtype=np.int32)


def metrics(ids):
    totals = {"precision": 0.0, "recall": 0.0, "ndcg": 0.0, "hitrate": 0.0, "map": 0.0, "mrr": 0.0}
    recommended = set()
    for u, row in zip(test_users, ids):
        relevant = test[u]
        row = [int(i) for i in row[:k] if i >= 0]
        recommended.update(row)
        hits, dcg, ap, rr = 0, 0.0, 0.0, 0.0
        for rank, item in enumerate(row, start=1):
            if item in relevant:
                hits += 1
                dcg += 1.0 / math.log2(rank + 1)
                ap += hits / rank
                if rr == 0.0:
                    rr = 1.0 / rank
        ideal = sum(1.0 / math.log2(r + 1) for r in range(1, min(len(relevant), k) + 1))
        totals["precision"] += hits / k
        totals["recall"] += hits / len(relevant)
        totals["ndcg"] += dcg / ideal
        totals["hitrate"] += 1.0 if hits else 0.0
        totals["map"] += ap / min(len(relevant), k)
        totals["mrr"] += rr
    out = {f"{name}@{k}": value / len(test_users) for name, value in totals.items()}
    out[f"coverage@{k}"] = len(recommended) / n_items
    return out


def popularity():
    counts = np.asarray(train.sum(axis=0)).ravel()
    order = np.argsort(-counts, kind="stable")
    ids = []
    for u in test_users:
        seen = set(train.indices[train.indptr[u]:train.indptr[u + 1]])
        ids.append([i for i in order[: k + len(seen)] if i not in seen][:k])
    return ids


models = {
    "popular": None,
    "item-knn (tfidf, K=20)": lambda: TFIDFRecommender(),
    "item-knn (cosine, K=20)": lambda: CosineRecommender(),
    "item-knn (bm25, K=20)": lambda: BM25Recommender(),
    "als (f=64, 15 it, reg 0.01, alpha 1)": lambda: AlternatingLeastSquares(
        factors=64, iterations=15, regularization=0.01, alpha=1.0, random_state=0
    ),
    "bpr (defaults)": lambda: BayesianPersonalizedRanking(random_state=0),
}
results = []
with threadpool_limits(1, "blas"):
    for name, make in models.items():
        t0 = time.perf_counter()
        if make is None:
            fit = 0.0
            ids = popularity()
        else:
            model = make()
            model.fit(train, show_progress=False)
            fit = time.perf_counter() - t0
            t0 = time.perf_counter()
            ids, _ = model.recommend(test_users, train[test_users], N=k, filter_already_liked_items=True)
        predict = time.perf_counter() - t0
        results.append({"model": name, "metrics": metrics(ids), "fit_seconds": fit, "predict_seconds": predict})
        print(f"  implicit {name}: ndcg@{k} {results[-1]['metrics'][f'ndcg@{k}']:.4f}", file=sys.stderr)
print(json.dumps(results))
