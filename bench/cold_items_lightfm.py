"""bench/cold_items helper: LightFM (WARP, item features = ids + content) under the
cold-items:F protocol, re-implemented from its definition (docs/evaluation.md):

    python bench/cold_items_lightfm.py ml-100k|ml-latest-small DATA_DIR FRACTION SEED K [EPOCHS]

EPOCHS defaults to 1, `LightFM.fit`'s default.

Interactions are binary (every rating is an interaction, as `aisle evaluate --weighting
binary` reads them). Item i is cold when splitmix64(fnv1a(id) ^ splitmix64(seed)) / 2^64 <
FRACTION; LightFM trains on the other items' interactions with every item's features
(its id, the words of its title, its genres, its decade), then ranks only the cold items for
every user with a cold interaction. NDCG@K (binary gain, ideal DCG over min(K, relevant)),
HR@K. Prints JSON.
"""

import csv
import json
import math
import re
import sys

MASK = (1 << 64) - 1
STOP = {"a", "an", "and", "as", "at", "by", "for", "from", "in", "is", "it", "of", "on", "or",
        "the", "to", "with"}


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & MASK
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def fnv1a(text):
    h = 0xCBF29CE484222325
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & MASK
    return h


def is_cold(item_id, seed, fraction):
    return splitmix64(fnv1a(item_id) ^ splitmix64(seed)) / 2.0**64 < fraction


def words(title):
    out = []
    for w in re.split(r"[^0-9A-Za-z\u00C0-\uFFFF]+", title.lower()):
        if len(w) >= 2 and w not in STOP:
            if len(w) == 4 and w.isdigit() and 1800 <= int(w) < 2200:
                out.append(f"y:{int(w) // 10}")
            out.append(f"w:{w}")
    return out


def load(name, data_dir):
    pairs, content = set(), {}
    if name == "ml-100k":
        genres = [line.split("|")[0] for line in open(f"{data_dir}/u.genre", encoding="latin-1") if line.strip()]
        for line in open(f"{data_dir}/u.item", encoding="latin-1"):
            f = line.rstrip("\n").split("|")
            if len(f) < 24:
                continue
            cats = [genres[k] for k, flag in enumerate(f[5:24]) if flag == "1"]
            content[f[0]] = words(f[1]) + [f"c:{c.lower()}" for c in cats]
        for line in open(f"{data_dir}/u.data"):
            u, i, _, _ = line.split("\t")
            pairs.add((u, i))
    else:
        with open(f"{data_dir}/movies.csv", newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                cats = [g for g in r["genres"].split("|") if g and g != "(no genres listed)"]
                content[r["movieId"]] = words(r["title"]) + [f"c:{c.lower()}" for c in cats]
        with open(f"{data_dir}/ratings.csv", newline="") as f:
            for r in csv.DictReader(f):
                pairs.add((r["userId"], r["movieId"]))
    return pairs, content


def main():
    name, data_dir, fraction, seed, k = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    import numpy as np
    from lightfm import LightFM
    from lightfm.data import Dataset

    pairs, content = load(name, data_dir)
    users = sorted({u for u, _ in pairs})
    # Every catalogue item is a candidate, rated or not (as Aisle reads the catalogue).
    items = sorted({i for _, i in pairs} | set(content))
    cold = {i for i in items if is_cold(i, seed, fraction)}
    train = [(u, i) for u, i in pairs if i not in cold]
    test = {}
    for u, i in pairs:
        if i in cold:
            test.setdefault(u, set()).add(i)
    features = sorted({t for i in items for t in content.get(i, [])})
    ds = Dataset()
    ds.fit(users, items, item_features=features)
    interactions, _ = ds.build_interactions(train)
    item_features = ds.build_item_features([(i, content.get(i, [])) for i in items])
    epochs = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    model = LightFM(loss="warp", random_state=seed)
    model.fit(interactions, item_features=item_features, epochs=epochs, num_threads=2)
    umap, _, imap, _ = ds.mapping()
    cold_idx = np.array(sorted(imap[i] for i in cold), dtype=np.int32)
    inv = {v: key for key, v in imap.items()}
    ndcg = hr = 0.0
    for u, relevant in test.items():
        scores = model.predict(umap[u], cold_idx, item_features=item_features, num_threads=2)
        top = cold_idx[np.argsort(-scores, kind="stable")[:k]]
        hits = [1 if inv[int(t)] in relevant else 0 for t in top]
        dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
        ideal = sum(1 / math.log2(r + 2) for r in range(min(k, len(relevant))))
        ndcg += dcg / ideal
        hr += 1.0 if any(hits) else 0.0
    n = len(test)
    print(json.dumps({"model": "lightfm", "config": f"WARP, {epochs} epoch(s), defaults otherwise; features: id + title words, genres, decade",
                      "users": n, "cold_items": len(cold), "ndcg": ndcg / n, "hit_rate": hr / n}))


if __name__ == "__main__":
    main()
