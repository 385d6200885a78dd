"""bench/basket helpers: the basket:F protocol re-implemented from its definition, and
implicit 0.7.3 on the basket x item matrix.

    python3 bench/basket_implicit.py implicit CLEAN.csv FRACTION K > implicit.json
    python3 bench/basket_implicit.py report OUT_DIR

The protocol (docs/evaluation.md, exactly as the issue states it): a basket is the rows of
clean.csv sharing basket_id (guest rows included, `return` rows left out); its time is the
smallest timestamp of its rows; baskets ordered by (time, basket id as a string); the last
ceil(F x n) are test. Known items = items in train baskets. In each test basket take its
distinct known items, skip it if fewer than 2; the hidden item is the greatest id by string
comparison; the others are given; rank every known item except the given ones. HR@K, NDCG@K
(1/log2(rank+1)), MRR@K over evaluated baskets. Ties: a candidate scoring the same as the
hidden item counts ahead of it when its index is smaller (items indexed in order of first
appearance in clean.csv, as Aisle interns them).
"""

import csv
import json
import math
import sys
import time


def baskets_of(clean_path):
    baskets, items = {}, {}
    with open(clean_path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        col = {name: i for i, name in enumerate(header)}
        for r in reader:
            item = r[col["item_id"]]
            items.setdefault(item, len(items))
            basket = r[col["basket_id"]]
            if not basket or r[col["type"]] == "return":
                continue
            t = int(r[col["timestamp"]]) if r[col["timestamp"]] else 0
            entry = baskets.setdefault(basket, [t, set()])
            entry[0] = min(entry[0], t)
            entry[1].add(items[item])
    ordered = sorted(baskets.items(), key=lambda kv: (kv[1][0], kv[0]))
    return [sorted(v[1]) for _, v in ordered], items


def split(baskets, items, fraction):
    n_test = min(len(baskets), math.ceil(fraction * len(baskets)))
    train, test = baskets[: len(baskets) - n_test], baskets[len(baskets) - n_test:]
    known = sorted({i for b in train for i in b})
    known_set = set(known)
    names = sorted(items, key=items.get)
    cases, skipped = [], 0
    for b in test:
        present = [i for i in b if i in known_set]
        if len(present) < 2:
            skipped += 1
            continue
        hidden = max(present, key=lambda i: names[i])
        cases.append(([i for i in present if i != hidden], hidden))
    return train, known, cases, skipped


def metrics(ranks, k):
    n = len(ranks) or 1
    within = [r for r in ranks if r <= k]
    return {
        "hit_rate": len(within) / n,
        "ndcg": sum(1 / math.log2(r + 1) for r in within) / n,
        "mrr": sum(1 / r for r in within) / n,
    }


def rank(scores, hidden, candidates):
    h = scores[hidden]
    ahead = 0
    for c in candidates:
        s = scores[c]
        if s > h or (s == h and c < hidden):
            ahead += 1
    return ahead + 1


def run(clean_path, fraction, k):
    import numpy as np
    import scipy.sparse as sp
    import warnings
    from implicit.als import AlternatingLeastSquares
    from implicit.nearest_neighbours import BM25Recommender, CosineRecommender

    warnings.filterwarnings("ignore", message="Method expects CSR input")
    baskets, items = baskets_of(clean_path)
    train, known, cases, skipped = split(baskets, items, fraction)
    n_items = len(items)
    rows = np.repeat(np.arange(len(train)), [len(b) for b in train]).astype(np.int32)
    cols = np.array([i for b in train for i in b], dtype=np.int32)
    matrix = sp.csr_matrix((np.ones(len(cols), dtype=np.float32), (rows, cols)), shape=(len(train), n_items))
    known_arr = np.array(known)
    out = {"baskets": len(baskets), "evaluated": len(cases), "skipped": skipped, "models": []}

    def given_row(given):
        return sp.csr_matrix(
            (np.ones(len(given), dtype=np.float32), (np.zeros(len(given), dtype=np.int32), np.array(given, dtype=np.int32))),
            shape=(1, n_items))

    def evaluate(name, label, scorer):
        started = time.perf_counter()
        ranks = []
        for given, hidden in cases:
            scores = scorer(given)
            given_set = set(given)
            candidates = [c for c in known if c not in given_set and c != hidden]
            ranks.append(rank(scores, hidden, candidates))
        out["models"].append({"model": name, "config": label, **metrics(ranks, k),
                              "seconds": time.perf_counter() - started})

    # Plain co-occurrence counts (sum over the given items of n_ij): a cross-check of the
    # protocol against Aisle's `cooccur --set measure=count shrinkage=0`.
    binary = (matrix > 0).astype(np.float32).tocsc()
    co = (binary.T @ binary).tocsr()
    co.setdiag(0)
    co.eliminate_zeros()
    evaluate("python count", "sum of n_ij, no shrinkage", lambda given: np.asarray(co[given].sum(axis=0)).ravel())

    for name, label, model in [
        ("cosine", "defaults (K=20)", CosineRecommender(num_threads=2)),
        ("bm25", "defaults (K=20, K1 1.2, B 0.75)", BM25Recommender(num_threads=2)),
        ("als", "defaults (f=100, reg 0.01, alpha 1, 15 it), recalculate_user", AlternatingLeastSquares(random_state=42, num_threads=2)),
    ] + [
        ("als", f"f=64, alpha {a}, reg {r}, recalculate_user",
         AlternatingLeastSquares(factors=64, alpha=float(a), regularization=float(r), random_state=42, num_threads=2))
        for a in [1, 5, 20] for r in [0.01, 1, 10]
    ]:
        model.fit(matrix, show_progress=False)

        def scorer(given, model=model):
            ids, scores = model.recommend(0, given_row(given), N=len(known_arr), items=known_arr,
                                          recalculate_user=True, filter_already_liked_items=False)
            full = np.full(n_items, -np.inf)
            full[ids] = scores
            return full

        evaluate(name, label, scorer)
    json.dump(out, sys.stdout, indent=1)


def report(out_dir):
    aisle = {}
    for name in ["aisle-defaults"]:
        aisle[name] = json.load(open(f"{out_dir}/{name}.json"))
    grid = json.load(open(f"{out_dir}/aisle-cooccur-grid.json"))
    implicit = json.load(open(f"{out_dir}/implicit.json"))
    a = aisle["aisle-defaults"]
    print(f"baskets {a['baskets']}: {a['train_baskets']} train, {a['test_baskets']} test, "
          f"{a['evaluated']} evaluated, {a['skipped']} skipped (Python: {implicit['evaluated']} "
          f"evaluated, {implicit['skipped']} skipped)")
    same = a["evaluated"] == implicit["evaluated"] and a["skipped"] == implicit["skipped"]
    print(f"{'PASS' if same else 'FAIL'}: Aisle and the Python re-implementation evaluate the same baskets")
    print()
    print(f"{'who':<9} {'model':<14} {'config':<58} {'HR@10':>7} {'NDCG@10':>8} {'MRR@10':>7}")
    rows = []
    for m in a["models"]:
        rows.append(("aisle", m["model"], "shipped defaults", m))
    for m in grid:
        rows.append(("aisle", "cooccur", m["config"], m))
    for m in implicit["models"]:
        rows.append(("python" if m["model"].startswith("python") else "implicit", m["model"], m["config"], m))
    for who, model, config, m in rows:
        print(f"{who:<9} {model:<14} {config:<58} {m['hit_rate']:>7.4f} {m['ndcg']:>8.4f} {m['mrr']:>7.4f}")
    print()
    best_aisle = max((r for r in rows if r[0] == "aisle" and r[2] == "shipped defaults" and r[1] != "cooccur"),
                     key=lambda r: r[3]["ndcg"])
    best_co = max((r for r in rows if r[1] == "cooccur"), key=lambda r: r[3]["ndcg"])
    best_imp = max((r for r in rows if r[0] == "implicit"), key=lambda r: r[3]["ndcg"])
    check = json.load(open(f"{out_dir}/aisle-count-check.json"))["models"][0]
    py = next(r for r in rows if r[0] == "python")
    b, c, i = best_aisle[3]["ndcg"], best_co[3]["ndcg"], best_imp[3]["ndcg"]
    print(f"{'PASS' if b >= 1.05 * c else 'FAIL'}: Aisle's best basket model at its defaults ({best_aisle[1]}, "
          f"NDCG@10 {b:.4f}) >= 1.05 x the best co-occurrence of the grid ({best_co[2]}, {c:.4f}): {b / c:.3f}x")
    print(f"{'PASS' if b >= i else 'FAIL'}: ... >= implicit 0.7.3's best on the basket x item matrix "
          f"({best_imp[1]} {best_imp[2]}, {i:.4f}): {b / i:.3f}x")
    d = max(abs(check[m] - py[3][m]) for m in ["hit_rate", "ndcg", "mrr"])
    print(f"{'PASS' if d < 1e-9 else 'FAIL'}: the protocol cross-check: Aisle's plain count co-occurrence "
          f"(every neighbour kept) scores what Python's does (NDCG@10 {check['ndcg']:.6f} vs "
          f"{py[3]['ndcg']:.6f}, HR@10 {check['hit_rate']:.6f} vs {py[3]['hit_rate']:.6f})")


if __name__ == "__main__":
    if sys.argv[1] == "implicit":
        run(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]))
    elif sys.argv[1] == "report":
        report(sys.argv[2])
    else:
        sys.exit(__doc__)
