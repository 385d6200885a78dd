"""Side-by-side ranking metrics of an `aisle evaluate --json` report and implicit_splits.py."""

import json
import sys

aisle, implicit, split = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
keys = ["ndcg@10", "hitrate@10", "precision@10", "recall@10", "map@10", "coverage@10"]
print(f"\n{split}: {'system / model':<44}" + "".join(f"{k:>13}" for k in keys) + f"{'fit s':>9}{'predict s':>11}")
for r in aisle["results"]:
    print(f"{'':<{len(split) + 2}}{'aisle ' + r['model']:<44}" + "".join(f"{r['metrics'].get(k, float('nan')):>13.4f}" for k in keys)
          + f"{r['fit_seconds']:>9.2f}{r['predict_seconds']:>11.3f}")
for r in implicit:
    print(f"{'':<{len(split) + 2}}{'implicit ' + r['model']:<44}" + "".join(f"{r['metrics'].get(k, float('nan')):>13.4f}" for k in keys)
          + f"{r['fit_seconds']:>9.2f}{r['predict_seconds']:>11.3f}")
best_a = max(r["metrics"]["ndcg@10"] for r in aisle["results"])
best_i = max(r["metrics"]["ndcg@10"] for r in implicit)
print(f"best NDCG@10: aisle {best_a:.4f} / implicit {best_i:.4f} = {best_a / best_i:.3f}x")
