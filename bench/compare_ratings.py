"""Side-by-side table of `aisle evaluate --json` reports and surprise_folds.py output."""

import json
import sys

defaults, equal, surprise = (json.load(open(p)) for p in sys.argv[1:4])
s = {r["model"].split(" ")[0]: r for r in surprise}
print(f"\n{'model':<12}{'Aisle RMSE':>11}{'Surprise':>10}{'Aisle MAE':>11}{'Surprise':>10}"
      f"{'fit s (equal work)':>20}{'Surprise fit':>14}{'fit ratio':>11}{'predict s':>11}{'Surprise':>10}{'ratio':>8}")
eq = {r["model"]: r for r in equal["results"]}
for r in defaults["results"]:
    name = r["model"]
    ref = s.get(name)
    if ref is None:
        print(f"{name:<12}{r['metrics']['rmse']:>11.4f}{'-':>10}{r['metrics']['mae']:>11.4f}")
        continue
    same = eq.get(name, r)
    print(f"{name:<12}{r['metrics']['rmse']:>11.4f}{ref['rmse']:>10.4f}{r['metrics']['mae']:>11.4f}{ref['mae']:>10.4f}"
          f"{same['fit_seconds']:>20.3f}{ref['fit_seconds']:>14.3f}{same['fit_seconds'] / ref['fit_seconds']:>11.3f}"
          f"{same['predict_seconds']:>11.3f}{ref['predict_seconds']:>10.3f}{same['predict_seconds'] / ref['predict_seconds']:>8.3f}")
print("\nAisle at Surprise's hyper-parameters:")
for r in equal["results"]:
    print(f"  {r['model']:<10} RMSE {r['metrics']['rmse']:.4f}  MAE {r['metrics']['mae']:.4f}  fit {r['fit_seconds']:.3f}s  predict {r['predict_seconds']:.3f}s")
