"""Runs Aisle's and numpy's EASE fits side by side for bench/ease_vs_numpy (standard library
only; the numpy side runs in its own virtualenv through bench/ease_numpy.py).

    AISLE=... PYTHON=... RUNS=3 OUT=dir python3 bench/ease_compare.py NAME:TRAIN:TEST ...
"""

import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(__file__))
from measure import run  # noqa: E402


def summary(values):
    return statistics.median(values), min(values), max(values)


def fmt(values):
    median, low, high = summary(values)
    return f"{median:8.2f} ({low:.2f}–{high:.2f})"


def make_test(train, test):
    """One item each of the first 500 users (in file order) does not have, chosen by id."""
    import csv

    cells, items = {}, set()
    with open(train, newline="") as f:
        for row in csv.DictReader(f):
            cells.setdefault(row["user_id"], set()).add(row["item_id"])
            items.add(row["item_id"])
    items = sorted(items)
    with open(test, "w", newline="") as f:
        f.write("user_id,item_id,plays\n")
        for user in list(cells)[:500]:
            unseen = next((i for i in items if i not in cells[user]), None)
            if unseen is not None:
                f.write(f"{user},{unseen},1\n")


def main():
    if sys.argv[1] == "--make-test":
        make_test(sys.argv[2], sys.argv[3])
        return
    aisle, python = os.environ["AISLE"], os.environ["PYTHON"]
    runs, out = int(os.environ.get("RUNS", "3")), os.environ["OUT"]
    here = os.path.dirname(__file__)
    results = []
    for spec in sys.argv[1:]:
        name, train, test = spec.split(":")
        dtypes = ["float64"] + (["float32"] if os.environ.get("NUMPY_F32") else [])
        sides = {"aisle f32": [], **{f"numpy f{d[-2:]}": [] for d in dtypes}}
        kernel = None
        shape = None
        for r in range(runs):
            report = os.path.join(out, f"{name}.json")
            _, wall, mib, _ = run(
                "aisle",
                [aisle, "evaluate", "--train", train, "--test", test, "--models", "ease",
                 "--weighting", "binary", "--json", report],
            )
            with open(report) as f:
                fit = json.load(f)["results"][0]["fit_seconds"]
            sides["aisle f32"].append((fit, wall, mib))
            for dtype in dtypes:
                _, wall, mib, stdout = run(
                    "numpy", [python, os.path.join(here, "ease_numpy.py"), train, "--dtype", dtype]
                )
                numpy = json.loads(stdout)
                kernel = numpy["blas"]
                shape = (numpy["users"], numpy["items"], numpy["cells"])
                sides[f"numpy f{dtype[-2:]}"].append((numpy["fit_seconds"], wall, mib))
            print(f"{name}: run {r + 1}/{runs} done", file=sys.stderr)
        results.append((name, shape, kernel, sides))

    for name, (users, items, cells), kernel, sides in results:
        print(f"\n{name}: {users:,} users × {items:,} items, {cells:,} cells; numpy's BLAS: {kernel}")
        print(f"{'side':<12}{'fit s, median (range)':>26}{'process s':>24}{'peak MiB':>24}{'fit ratio':>11}")
        base = statistics.median(f for f, _, _ in sides["numpy f64"])
        for side, rows in sides.items():
            fits, walls, mibs = zip(*rows)
            print(
                f"{side:<12}{fmt(fits):>26}{fmt(walls):>24}{fmt(mibs):>24}"
                f"{statistics.median(fits) / base:>11.2f}"
            )
    print(f"\n(fit ratio: against numpy f64's median fit; {runs} run(s) each)")


if __name__ == "__main__":
    main()
