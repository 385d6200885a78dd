"""Writes K train/test CSV pairs of a ratings CSV (header kept), each row's fold chosen by
splitmix64(splitmix64(seed) ^ line_number) % K, so both systems score identical rows.
Usage: kfold_files.py RATINGS.csv OUT_DIR K SEED"""

import sys

MASK = (1 << 64) - 1


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


path, out, k, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
with open(path, newline="") as f:
    header, *rows = f.read().splitlines()
base = splitmix64(seed)
fold_of = [splitmix64(base ^ n) % k for n in range(len(rows))]
for fold in range(k):
    with open(f"{out}/fold{fold + 1}.train.csv", "w") as train, open(f"{out}/fold{fold + 1}.test.csv", "w") as test:
        train.write(header + "\n")
        test.write(header + "\n")
        for row, f_ in zip(rows, fold_of):
            (test if f_ == fold else train).write(row + "\n")
