"""implicit ALS at scale: load an events CSV (user_id,item_id,...; every row an interaction),
fit ALS (factors, iterations from argv) and compute top-10 for every user; prints seconds.
Usage: implicit_scale.py EVENTS.csv FACTORS ITERATIONS"""

import sys
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from implicit.cpu.als import AlternatingLeastSquares

path, factors, iterations = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
frame = pd.read_csv(path, usecols=["user_id", "item_id"], dtype={"user_id": "category", "item_id": "category"})
users = frame["user_id"].cat.codes.to_numpy()
items = frame["item_id"].cat.codes.to_numpy()
del frame
matrix = sp.csr_matrix((np.ones(len(users), dtype=np.float32), (users, items)))
matrix.sum_duplicates()
del users, items
with threadpool_limits(1, "blas"):
    model = AlternatingLeastSquares(factors=factors, iterations=iterations, regularization=0.01, alpha=1.0,
                                    num_threads=2, random_state=0)
    t0 = time.perf_counter()
    model.fit(matrix, show_progress=False)
    fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    everyone = np.arange(matrix.shape[0])
    ids, _ = model.recommend(everyone, matrix, N=10, filter_already_liked_items=True)
    top = time.perf_counter() - t0
print(f"users {matrix.shape[0]} items {matrix.shape[1]} nnz {matrix.nnz}: fit {fit:.1f}s ({fit / iterations:.2f}s/iteration), top-10 for all {top:.1f}s")
