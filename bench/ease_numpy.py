"""EASE fitted the reference way (Steck 2019's notebook): X as a scipy sparse matrix,
G = XᵀX dense, the penalty on the diagonal, P = np.linalg.inv(G), B = −P / diag(P).

    python bench/ease_numpy.py FILE [--dtype float64|float32] [--lambda 500] [--dropout 0.25]

FILE is a training file as `aisle evaluate --train` reads it: a CSV with a header
(`user_id,item_id,...`) or a headerless TSV (`user item rating timestamp`). Every distinct
(user, item) pair is a cell of weight 1 (`--weighting binary`). The diagonal penalty is Aisle's
(`λ + dropout/(1 − dropout)·Gᵢᵢ`), so both sides invert the same matrix. Prints one JSON
object: the matrix's shape, the seconds of each step, and the BLAS kernel numpy ran
(threadpoolctl), so the comparison says what it compared against.
"""

import argparse
import csv
import json
import time

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_info


def read_cells(path):
    with open(path, newline="") as f:
        first = f.readline()
        f.seek(0)
        if "\t" in first:
            rows = (line.rstrip("\n").split("\t")[:2] for line in f)
        else:
            reader = csv.reader(f)
            header = next(reader)
            u, i = header.index("user_id"), header.index("item_id")
            rows = ((r[u], r[i]) for r in reader)
        return {(user, item) for user, item in rows}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--lambda", dest="lam", type=float, default=500.0)
    parser.add_argument("--dropout", type=float, default=0.25)
    args = parser.parse_args()
    dtype = np.dtype(args.dtype)

    cells = read_cells(args.file)
    users = {u: k for k, u in enumerate(sorted({u for u, _ in cells}))}
    items = {i: k for k, i in enumerate(sorted({i for _, i in cells}))}
    rows = np.fromiter((users[u] for u, _ in cells), dtype=np.int64, count=len(cells))
    cols = np.fromiter((items[i] for _, i in cells), dtype=np.int64, count=len(cells))
    x = sp.csr_matrix(
        (np.ones(len(cells), dtype=dtype), (rows, cols)), shape=(len(users), len(items))
    )

    started = time.perf_counter()
    g = (x.T @ x).toarray()
    gram_done = time.perf_counter()
    diagonal = np.diag_indices(len(items))
    emphasis = args.dropout / (1.0 - args.dropout)
    g[diagonal] += args.lam + emphasis * g[diagonal]
    p = np.linalg.inv(g)
    inverse_done = time.perf_counter()
    b = p / (-np.diag(p))
    b[diagonal] = 0.0
    finished = time.perf_counter()

    print(
        json.dumps(
            {
                "users": len(users),
                "items": len(items),
                "cells": len(cells),
                "dtype": args.dtype,
                "gram_seconds": gram_done - started,
                "inverse_seconds": inverse_done - gram_done,
                "fit_seconds": finished - started,
                "blas": [
                    {k: v for k, v in lib.items() if k in ("internal_api", "version", "architecture", "num_threads")}
                    for lib in threadpool_info()
                    if lib.get("user_api") == "blas"
                ],
                "checksum": float(np.abs(b).sum()),
            }
        )
    )


if __name__ == "__main__":
    main()
