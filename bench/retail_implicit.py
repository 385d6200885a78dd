"""Helpers of bench/retail_vs_implicit (see its header for the protocol in words).

  retail_implicit.py split CLEAN OUT_DIR         clean.csv -> OUT_DIR/train.csv, OUT_DIR/test.csv
  retail_implicit.py implicit TRAIN TEST K        implicit 0.7.3 on both protocols, JSON on stdout
  retail_implicit.py report OUT_DIR [NOTE]        the tables and verdicts from OUT_DIR's
                                                  implicit.json, aisle-{new,new-binary,again}.json
                                                  and .txt (aisle's stdout), train.csv, test.csv

`split` and `report` use the standard library only (any python3); `implicit` needs numpy,
scipy, threadpoolctl and implicit (bench/.venv-implicit).

Everything here follows Aisle's own definitions: a (user, item) cell exists iff the user's
purchased units minus returned units of the item are > 0 (crates/aisle-data/src/weighting.rs);
binary weight 1, log-count weight log2(1 + net units); ranking metrics as in docs/evaluation.md
(binary relevance, NDCG@K over min(K, |relevant|) ideal places, HR@K = 1 with any hit, means
over users with at least one relevant item)."""

import csv
import json
import math
import os
import sys
import time

HEADER = ["user_id", "item_id", "type", "value", "timestamp", "basket_id", "quantity", "price"]
MONTH = 30 * 24 * 3600


# ---------------------------------------------------------------------------------------------
# split


def split(clean_path, out_dir):
    """Temporal split: cutoff = latest timestamp of clean.csv (any row, guests included) - 30
    days. Train: rows with a user and timestamp < cutoff (purchases and returns). Test: purchase
    rows with a user, timestamp >= cutoff, whose user has a training row."""
    with open(clean_path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        if header != HEADER:
            sys.exit(f"{clean_path}: header {header}, expected {HEADER}")
        rows = list(reader)
    latest = max(int(r[4]) for r in rows)
    cutoff = latest - MONTH
    train = [r for r in rows if r[0] and int(r[4]) < cutoff]
    train_users = {r[0] for r in train}
    late = [r for r in rows if r[0] and int(r[4]) >= cutoff and r[2] == "purchase"]
    test = [r for r in late if r[0] in train_users]
    os.makedirs(out_dir, exist_ok=True)
    for name, part in [("train.csv", train), ("test.csv", test)]:
        with open(os.path.join(out_dir, name), "w", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(HEADER)
            writer.writerows(part)
    stamp = lambda t: time.strftime("%Y-%m-%d %H:%M", time.gmtime(t))
    late_users = {r[0] for r in late}
    print(
        f"split: latest {stamp(latest)} UTC, cutoff {stamp(cutoff)} UTC (latest - 30 days)\n"
        f"  train {len(train)} rows ({sum(r[2] == 'return' for r in train)} returns), "
        f"{len(train_users)} users\n"
        f"  test  {len(test)} purchase rows of {len({r[0] for r in test})} users with history "
        f"(left out: {len(late) - len(test)} rows of {len(late_users - train_users)} users "
        f"new in the last month; {sum(1 for r in rows if not r[0])} guest rows ignored)"
    )


# ---------------------------------------------------------------------------------------------
# the data as Aisle sees it


def read_rows(path, with_time=False):
    with open(path, newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for r in reader:
            if with_time:
                yield r[0], r[1], r[2], float(r[6]), int(r[4])
            else:
                yield r[0], r[1], r[2], float(r[6])


class Data:
    """Training cells (net units > 0) and the relevant test items of both protocols."""

    def __init__(self, train_path, test_path):
        net = {}
        users = {}
        self.first_seen = {}
        for user, item, kind, quantity in read_rows(train_path):
            users.setdefault(user, len(users))
            self.first_seen.setdefault(item, len(self.first_seen))
            sign = 1.0 if kind == "purchase" else -1.0 if kind == "return" else 0.0
            net[(user, item)] = net.get((user, item), 0.0) + sign * quantity
        self.cells = {pair: units for pair, units in net.items() if units > 0}
        items = {}
        for _, item in sorted(self.cells):
            items.setdefault(item, len(items))
        self.users, self.items = users, items  # items: those with at least one training cell
        self.history = {}
        for (user, item) in self.cells:
            self.history.setdefault(user, set()).add(item)
        bought = {}
        for user, item, kind, _ in read_rows(test_path):
            if kind == "purchase":
                bought.setdefault(user, set()).add(item)
        self.test_cells = sum(len(s) for s in bought.values())
        self.relevant = {
            "new": {u: s - self.history.get(u, set()) for u, s in bought.items()},
            "again": {u: set(s) for u, s in bought.items()},
        }
        for protocol in self.relevant:
            self.relevant[protocol] = {u: s for u, s in self.relevant[protocol].items() if s}
        self.repeats_set_aside = self.test_cells - sum(len(s) for s in self.relevant["new"].values())
        self.unknown_test_cells = sum(1 for s in bought.values() for i in s if i not in items)
        self.users_without_cells = sum(1 for u in bought if u not in self.history)

    def summary(self, protocol):
        rel = self.relevant[protocol]
        unknown = sum(1 for s in rel.values() for i in s if i not in self.items)
        return {
            "users": len(rel),
            "relevant": sum(len(s) for s in rel.values()),
            "relevant_unknown": unknown,
            "test_cells": self.test_cells,
            "repeats_set_aside": self.repeats_set_aside if protocol == "new" else 0,
            "unknown_test_cells": self.unknown_test_cells,
            "users_without_training_cells": sum(1 for u in rel if u not in self.history),
        }


def ranking(lists, relevant, k):
    """Means of NDCG@k and HR@k over the users of `relevant` (user -> set of items);
    `lists`: user -> recommended item ids, best first."""
    ndcg = hr = 0.0
    for user, rel in relevant.items():
        dcg, hit = 0.0, 0.0
        for rank, item in enumerate(lists.get(user, [])[:k], start=1):
            if item in rel:
                dcg += 1.0 / math.log2(rank + 1)
                hit = 1.0
        ideal = sum(1.0 / math.log2(r + 1) for r in range(1, min(len(rel), k) + 1))
        ndcg += dcg / ideal
        hr += hit
    n = len(relevant)
    return {f"ndcg@{k}": ndcg / n, f"hitrate@{k}": hr / n}


# ---------------------------------------------------------------------------------------------
# implicit


def run_implicit(train_path, test_path, k):
    import warnings

    import numpy as np
    import scipy.sparse as sp
    from threadpoolctl import threadpool_limits

    from implicit.als import AlternatingLeastSquares
    from implicit.bpr import BayesianPersonalizedRanking
    from implicit.nearest_neighbours import BM25Recommender, CosineRecommender

    # The kNN models convert their own intermediate matrices and warn about it.
    warnings.filterwarnings("ignore", message="Method expects CSR input")
    data = Data(train_path, test_path)
    user_names = sorted(data.users, key=data.users.get)
    item_names = sorted(data.items, key=data.items.get)
    rows = np.array([data.users[u] for u, _ in data.cells], dtype=np.int32)
    cols = np.array([data.items[i] for _, i in data.cells], dtype=np.int32)
    units = np.array(list(data.cells.values()), dtype=np.float64)
    shape = (len(data.users), len(data.items))
    matrices = {
        "binary": sp.csr_matrix((np.ones(len(units), dtype=np.float32), (rows, cols)), shape=shape),
        "log-count": sp.csr_matrix((np.log2(1.0 + units).astype(np.float32), (rows, cols)), shape=shape),
    }
    for m in matrices.values():
        m.sort_indices()
    # Users of either protocol, ranked once per filtering.
    protocols = {"new": True, "again": False}  # filter_already_liked_items
    queried = {p: np.array(sorted(data.users[u] for u in data.relevant[p]), dtype=np.int32) for p in protocols}

    threads = 2
    configs = [
        ("als", "defaults (f=100, reg 0.01, alpha 1, 15 it)", True,
         lambda: AlternatingLeastSquares(random_state=42, num_threads=threads)),
        ("bpr", "defaults (f=100, lr 0.01, reg 0.01, 100 it)", True,
         lambda: BayesianPersonalizedRanking(random_state=42, num_threads=threads)),
        ("cosine", "defaults (K=20)", True, lambda: CosineRecommender(num_threads=threads)),
        ("bm25", "defaults (K=20, K1 1.2, B 0.75)", True, lambda: BM25Recommender(num_threads=threads)),
    ]
    for alpha in [1, 5, 20, 40]:
        for reg in [0.01, 0.1, 1, 10]:
            configs.append((
                "als", f"grid: f=64, alpha {alpha}, reg {reg}", False,
                lambda alpha=alpha, reg=reg: AlternatingLeastSquares(
                    factors=64, alpha=float(alpha), regularization=float(reg), random_state=42,
                    num_threads=threads),
            ))
    results = []
    started = time.perf_counter()
    with threadpool_limits(1, "blas"):
        for weighting, matrix in matrices.items():
            for model_name, params, defaults, make in configs:
                model = make()
                t0 = time.perf_counter()
                model.fit(matrix, show_progress=False)
                fit = time.perf_counter() - t0
                entry = {"model": model_name, "weighting": weighting, "params": params,
                         "defaults": defaults, "fit_seconds": fit, "metrics": {}}
                for protocol, filtered in protocols.items():
                    users = queried[protocol]
                    ids, _ = model.recommend(users, matrix[users], N=k, filter_already_liked_items=filtered)
                    lists = {user_names[u]: [item_names[i] for i in row if i >= 0] for u, row in zip(users, ids)}
                    entry["metrics"][protocol] = ranking(lists, data.relevant[protocol], k)
                results.append(entry)
    print(f"   implicit: {len(results)} fits in {time.perf_counter() - started:.0f} s", file=sys.stderr)

    return {
        "k": k,
        "summary": {p: data.summary(p) for p in protocols},
        "users_without_cells": data.users_without_cells,
        "matrix": {"users": shape[0], "items": shape[1], "cells": len(units)},
        "results": results,
    }


# ---------------------------------------------------------------------------------------------
# report


def popular_lists(data, weighting, protocol, k):
    """Aisle's `popular` recomputed: items by the sum of their cells' weights (rounded to f32
    like Aisle's scores; ties by the item's first row in train.csv, Aisle's item index), the
    user's training items left out for "new"."""
    import array

    totals = {}
    for (_, item), units in data.cells.items():
        totals[item] = totals.get(item, 0.0) + (math.log2(1.0 + units) if weighting == "counts" else 1.0)
    as_f32 = lambda x: array.array("f", [x])[0]
    order = sorted(totals, key=lambda i: (-as_f32(totals[i]), data.first_seen[i]))
    filtered = protocol == "new"
    lists = {}
    for user in data.relevant[protocol]:
        seen = data.history.get(user, set()) if filtered else set()
        out = []
        for item in order:
            if item not in seen:
                out.append(item)
                if len(out) == k:
                    break
        lists[user] = out
    return lists


def own_items_lists(data, train_path, k):
    """A repeat-aware reference for buy again: the user's own training items by net units
    (the latest purchase first on ties), then the most popular items (users with a cell)."""
    latest = {}
    for user, item, kind, _, stamp in read_rows(train_path, with_time=True):
        if kind == "purchase":
            latest[(user, item)] = max(latest.get((user, item), 0), stamp)
    users_of = {}
    for (_, item) in data.cells:
        users_of[item] = users_of.get(item, 0) + 1
    popular = sorted(users_of, key=lambda i: (-users_of[i], i))[: 4 * k]
    lists = {}
    for user in data.relevant["again"]:
        own = sorted(data.history.get(user, ()),
                     key=lambda i: (-data.cells[(user, i)], -latest[(user, i)], i))[:k]
        lists[user] = (own + [i for i in popular if i not in set(own)])[:k]
    return lists


def aisle_notes(path):
    """The lines `aisle evaluate` prints above its table (weighting, set-aside cells)."""
    lines = []
    for line in open(path):
        if line.startswith("model "):
            break
        lines.append(line.rstrip("\n"))
    return lines


def report(out_dir, note=""):
    join = lambda name: os.path.join(out_dir, name)
    imp = json.load(open(join("implicit.json")))
    k = imp["k"]
    nd, hr = f"ndcg@{k}", f"hitrate@{k}"
    runs = {"new": "aisle-new", "binary": "aisle-new-binary", "again": "aisle-again"}
    aisle = {run: json.load(open(join(name + ".json"))) for run, name in runs.items()}
    notes = {run: aisle_notes(join(name + ".txt")) for run, name in runs.items()}
    data = Data(join("train.csv"), join("test.csv"))
    m = imp["matrix"]

    def weighting_of(run):
        line = next((l for l in notes[run] if l.startswith("weighting ")), "weighting ?:")
        return line.split()[1].rstrip(":")

    def check_users(run, protocol):
        """Aisle's JSON has no count of the users it scored: compare it when present, else
        check that hitrate x N and precision x K x N are whole numbers for every Aisle model
        and that Aisle's `popular` is reproduced exactly from the Python relevant sets."""
        report, python = aisle[run], data.summary(protocol)
        n = python["users"]
        d = report["dataset"]
        lines = [f"  aisle: {line}" for line in notes[run][1:]]
        counted = d.get("ranked_users", d.get("test_users"))
        if counted is not None:
            flag = "agree" if counted == n else "DISAGREE"
            lines.append(f"  users counted: python {n}, aisle {counted} ({flag})")
        else:
            whole = all(
                abs(r["metrics"][hr] * n - round(r["metrics"][hr] * n)) < 1e-6
                and abs(r["metrics"][f"precision@{k}"] * k * n - round(r["metrics"][f"precision@{k}"] * k * n)) < 1e-6
                for r in report["results"])
            pop = next((r for r in report["results"] if r["model"] == "popular"), None)
            weighting = weighting_of(run)
            same_pop = None
            if pop is not None and weighting in ("counts", "binary"):
                mine = ranking(popular_lists(data, weighting, protocol, k), data.relevant[protocol], k)
                same_pop = all(abs(mine[key] - pop["metrics"][key]) < 1e-9 for key in (nd, hr))
            verdicts = [f"hitrate and precision x {n} {'whole' if whole else 'NOT whole'} for every aisle model"]
            if same_pop is not None:
                verdicts.append(f"aisle's popular {'reproduced exactly' if same_pop else 'NOT reproduced'} "
                                f"from the python relevant sets")
            agree = whole and same_pop is not False
            lines.append(f"  users counted: python {n}; aisle's JSON has no count: "
                         + ", ".join(verdicts) + (" -> agree" if agree else " -> DISAGREE"))
        for label, a, p in [
            ("test cells", d.get("test"), python["test_cells"]),
            ("repeats set aside", d.get("repeats_set_aside"), python["repeats_set_aside"]),
            ("test cells of items unknown to training", d.get("unknown_test_items"), python["unknown_test_cells"]),
        ]:
            lines.append(f"  {label}: python {p}, aisle {a}{'' if a == p else '   <-- DISAGREE'}")
        lines.append(f"  relevant: {python['relevant']} (user, item) pairs, {python['relevant_unknown']} of them of "
                     f"items no model can rank; {python['users_without_training_cells']} counted users have no "
                     f"training cell (everything returned)")
        return lines

    def table(rows):
        print(f"  {'system':<9}{'model':<11}{'weighting, params':<56}{nd:>9}{hr:>12}{'fit s':>8}")
        for system, model, params, metrics, fit in rows:
            fit_text = f"{fit:8.2f}" if fit is not None else f"{'':>8}"
            print(f"  {system:<9}{model:<11}{params:<56}{metrics[nd]:>9.4f}{metrics[hr]:>12.4f}{fit_text}")

    def aisle_rows(run, label):
        return [("aisle", r["model"], label, r["metrics"], r["fit_seconds"]) for r in aisle[run]["results"]]

    def implicit_rows(protocol, defaults=None):
        return [("implicit", r["model"], f"{r['weighting']}, {r['params']}", r["metrics"][protocol], r["fit_seconds"])
                for r in imp["results"] if defaults is None or r["defaults"] == defaults]

    best = lambda rows: max(rows, key=lambda r: r[3][nd])
    describe = lambda row: f"{row[0]} {row[1]} ({row[2]})"

    def verdict(ok, label):
        print(f"  {'PASS' if ok else 'FAIL'}  {label}")

    print(f"\nimplicit's matrices: {m['users']} users x {m['items']} items (those with a training cell), "
          f"{m['cells']} cells; binary = 1, log-count = log2(1 + net units)")

    # -- items new to each user
    print(f"\n=== items new to each user (--repeats exclude; lists leave out the user's training items), K={k}")
    for line in check_users("new", "new"):
        print(line)
    a_rows = aisle_rows("new", f"{weighting_of('new')} (auto), shipped defaults")
    b_rows = aisle_rows("binary", "binary, shipped defaults (reference, no verdict)")
    i_def, i_grid = implicit_rows("new", True), implicit_rows("new", False)
    table(a_rows + b_rows + i_def + i_grid)
    ba, bi, bg = best(a_rows), best(i_def), best(i_def + i_grid)
    print(f"\n  aisle's best at shipped defaults   {ba[3][nd]:.4f}  {describe(ba)}")
    print(f"  implicit's best at its defaults    {bi[3][nd]:.4f}  {describe(bi)}")
    print(f"  implicit's best, grid included     {bg[3][nd]:.4f}  {describe(bg)}")
    r1, r2 = ba[3][nd] / bi[3][nd], ba[3][nd] / bg[3][nd]
    verdict(r1 >= 1.05, f"NDCG@{k} aisle best (defaults) / implicit best (defaults) = {r1:.3f}x, target >= 1.05")
    verdict(r2 >= 1.0, f"NDCG@{k} aisle best (defaults) / implicit best (grid)     = {r2:.3f}x, target >= 1")
    ha, hi = max(r[3][hr] for r in a_rows), max(r[3][hr] for r in i_def + i_grid)
    print(f"        (HR@{k}: aisle's best {ha:.4f}, implicit's best over everything {hi:.4f}: {ha / hi:.3f}x)")
    bb = best(b_rows)
    print(f"        (no verdict: aisle's best with --weighting binary {bb[3][nd]:.4f} {bb[1]}: "
          f"{bb[3][nd] / bi[3][nd]:.3f}x implicit's defaults, {bb[3][nd] / bg[3][nd]:.3f}x its grid)")

    # -- buy again
    print(f"\n=== buy again (--repeats include; the user's own items are allowed and relevant), K={k}")
    for line in check_users("again", "again"):
        print(line)
    if note:
        print(f"  note: {note}")
    a_rows = aisle_rows("again", f"{weighting_of('again')} (auto), shipped defaults")
    i_rows = implicit_rows("again", True) + implicit_rows("again", False)
    reference = ranking(own_items_lists(data, join("train.csv"), k), data.relevant["again"], k)
    r_rows = [("python", "own-items", "reference: own items by units, then popular (no verdict)", reference, None)]
    table(a_rows + i_rows + r_rows)
    aware = [r for r in a_rows if r[1] == "buy-again"]
    others = [r for r in a_rows if r[1] != "buy-again"] + i_rows
    ro = best(others)
    ba, bi, bg = best(a_rows), best(implicit_rows("again", True)), best(i_rows)
    print(f"\n  aisle's best at shipped defaults   {ba[3][nd]:.4f}  {describe(ba)}")
    print(f"  implicit's best at its defaults    {bi[3][nd]:.4f}  {describe(bi)}")
    print(f"  implicit's best, grid included     {bg[3][nd]:.4f}  {describe(bg)}")
    print(f"  info  NDCG@{k} aisle best (defaults) / implicit best (defaults) = {ba[3][nd] / bi[3][nd]:.3f}x, "
          f"/ implicit best (grid) = {ba[3][nd] / bg[3][nd]:.3f}x (no target for buy again)")
    if not aware:
        print(f"  best model that ignores repeats    {ro[3][nd]:.4f}  {describe(ro)}")
        print("  SKIP  no repeat-aware model in this run (aisle's buy-again): nothing to judge")
        return
    ra = aware[0]
    print(f"  aisle buy-again                    {ra[3][nd]:.4f}  (HR@{k} {ra[3][hr]:.4f})")
    print(f"  best model that ignores repeats    {ro[3][nd]:.4f}  {describe(ro)}")
    print(f"  best HR@{k} of those               {max(r[3][hr] for r in others):.4f}")
    verdict(all(ra[3][nd] > r[3][nd] for r in others),
            f"NDCG@{k} buy-again beats every model that ignores repeats ({ra[3][nd] / ro[3][nd]:.3f}x the best)")
    verdict(all(ra[3][hr] > r[3][hr] for r in others), f"HR@{k}   buy-again beats every model that ignores repeats")


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "split":
        split(*args)
    elif command == "implicit":
        print(json.dumps(run_implicit(args[0], args[1], int(args[2]))))
    elif command == "report":
        report(*args)
    else:
        sys.exit(f"unknown command {command}")
