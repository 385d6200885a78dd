"""Helpers of bench/tune_vs_grid (see its header for the protocol in words); standard library
only.

  tune_grid.py split PLAYS TRAIN TEST      per user 80/20 by a hash of (user, item)
  tune_grid.py run NAME:TRAIN:TEST:PROTOCOL ...   grid, then the search with a quarter of its time
"""

import hashlib
import json
import os
import subprocess
import sys
import time


def split(plays, train, test):
    with open(plays) as f, open(train, "w") as tr, open(test, "w") as te:
        header = f.readline()
        tr.write(header)
        te.write(header)
        for line in f:
            user, item = line.split(",")[:2]
            digest = hashlib.blake2b(f"{user}\t{item}".encode(), digest_size=8).digest()
            (te if int.from_bytes(digest, "little") % 5 == 0 else tr).write(line)


def aisle(*args):
    started = time.perf_counter()
    proc = subprocess.run([os.environ["AISLE"], *args], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"aisle {' '.join(args)} failed:\n{proc.stderr}")
    return time.perf_counter() - started


def test_score(train, test, model, params, out):
    report = f"{out}.eval.json"
    args = ["evaluate", "--train", train, "--test", test, "--models", model, "--k", "10",
            "--metrics", "ranking", "--json", report]
    if params:
        args += ["--params", params]
    aisle(*args)
    with open(report) as f:
        return json.load(f)["results"][0]["metrics"]["ndcg@10"]


def tune(train, protocol, model, extra, out):
    seconds = aisle("tune", "--data", train, "--model", model, "--protocol", protocol,
                    "--out", f"{out}.toml", "--json", f"{out}.json", *extra)
    with open(f"{out}.json") as f:
        outcome = json.load(f)["models"][0]
    return seconds, outcome


def run(specs):
    out_dir = os.environ["OUT"]
    rows = []
    for spec in specs:
        name, train, test, protocol = spec.split(":", 3)
        for model in os.environ["MODELS"].split(","):
            points = os.environ.get(f"{model.upper().replace('-', '_')}_GRID", "3")
            base = os.path.join(out_dir, f"{name}-{model}")
            print(f"== {name} {model}: grid of {points} points per parameter", file=sys.stderr)
            grid_s, grid = tune(train, protocol, model, ["--grid", points], f"{base}-grid")
            # The process also reads the file and carves the split: leave that time out of
            # the search's budget, so its whole run stays within a quarter of the grid's.
            overhead = max(0.0, grid_s - grid["seconds"])
            budget = max(1, int(grid_s / 4 - overhead - 1))
            print(f"== {name} {model}: search in {budget} s", file=sys.stderr)
            search_s, search = tune(train, protocol, model, ["--budget", f"{budget}s"], f"{base}-search")
            rows.append({
                "set": name, "model": model, "grid_points": points,
                "grid_trials": len(grid["trials"]), "grid_seconds": grid_s,
                "search_trials": len(search["trials"]), "search_seconds": search_s,
                "grid_validation": grid["score"], "search_validation": search["score"],
                "defaults_validation": search["default_score"],
                "grid_test": test_score(train, test, model, f"{base}-grid.toml", f"{base}-grid"),
                "search_test": test_score(train, test, model, f"{base}-search.toml", f"{base}-search"),
                "defaults_test": test_score(train, test, model, None, f"{base}-defaults"),
                "grid_choice": [grid["weighting"], grid["params"]],
                "search_choice": [search["weighting"], search["params"]],
            })
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(rows, f, indent=1)
    print(f"{'set':<8}{'model':<7}{'grid trials/s':>16}{'search trials/s':>18}{'time':>7}"
          f"{'val grid':>10}{'val search':>11}{'test dflt':>10}{'test grid':>10}{'test search':>12}"
          f"{'ratio':>7}  verdict")
    for r in rows:
        ratio = r["search_test"] / r["grid_test"] if r["grid_test"] else float("nan")
        time_ratio = r["search_seconds"] / r["grid_seconds"]
        verdict = "PASS" if ratio >= 0.95 and time_ratio <= 0.25 else "FAIL"
        print(f"{r['set']:<8}{r['model']:<7}"
              f"{r['grid_trials']:>6}/{r['grid_seconds']:>7.0f}s "
              f"{r['search_trials']:>8}/{r['search_seconds']:>7.0f}s {time_ratio:>6.2f}"
              f"{r['grid_validation']:>10.4f}{r['search_validation']:>11.4f}"
              f"{r['defaults_test']:>10.4f}{r['grid_test']:>10.4f}{r['search_test']:>12.4f}"
              f"{ratio:>7.3f}  {verdict}")
    print("\n(time: search wall time / grid wall time, whole processes; ratio: test NDCG@10 of the "
          "search's choice / the grid's; val: validation NDCG@10 as each reports it)")


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "split":
        split(*args)
    elif command == "run":
        run(args)
    else:
        sys.exit(__doc__)
