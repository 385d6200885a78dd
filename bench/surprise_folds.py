"""Surprise on given train/test fold files: RMSE, MAE, fit and predict seconds per model and
fold, as JSON on stdout. Usage: surprise_folds.py SCALE_MIN SCALE_MAX SEP TRAIN TEST [TRAIN TEST ...]"""

import json
import sys
import time

from surprise import SVD, SVDpp, BaselineOnly, KNNBaseline, Dataset, Reader, accuracy
from surprise.model_selection import PredefinedKFold

lo, hi, sep = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
paths = sys.argv[4:]
folds = list(zip(paths[0::2], paths[1::2]))
skip = 1 if sep == "," else 0
reader = Reader(line_format="user item rating timestamp", sep=sep, rating_scale=(lo, hi), skip_lines=skip)
data = Dataset.load_from_folds(folds, reader=reader)

models = {
    "baseline": lambda: BaselineOnly(verbose=False),
    "svd": lambda: SVD(random_state=0),
    "svdpp": lambda: SVDpp(random_state=0),
    "item-knn (pearson_baseline)": lambda: KNNBaseline(
        sim_options={"name": "pearson_baseline", "user_based": False}, verbose=False
    ),
}
only = set(filter(None, __import__("os").environ.get("SURPRISE_MODELS", "").split(",")))
results = []
for name, make in models.items():
    if only and name.split(" ")[0] not in only:
        continue
    per_fold = []
    for trainset, testset in PredefinedKFold().split(data):
        algo = make()
        t0 = time.perf_counter()
        algo.fit(trainset)
        fit = time.perf_counter() - t0
        t0 = time.perf_counter()
        predictions = algo.test(testset)
        predict = time.perf_counter() - t0
        per_fold.append({
            "rmse": accuracy.rmse(predictions, verbose=False),
            "mae": accuracy.mae(predictions, verbose=False),
            "fit_seconds": fit,
            "predict_seconds": predict,
        })
        print(f"  surprise {name}: fold {len(per_fold)} rmse {per_fold[-1]['rmse']:.4f} fit {fit:.2f}s", file=sys.stderr)
    mean = {k: sum(f[k] for f in per_fold) / len(per_fold) for k in per_fold[0]}
    results.append({"model": name, **mean})
print(json.dumps(results))
