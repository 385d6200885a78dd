"""The soak driver: a running `aisle serve` under steady mixed load for a while, sampled.

    python3 bench/soak.py --url http://127.0.0.1:8080 --load target/release/aisle-load \
        --pid PID --log server.log --out DIR --seconds 600 [--reads 2000] [--events 5000] [--users N] [--items N]
        [--every 10] [--p99-ms 10] [--rss-ratio 1.1] [--rss-base 120]

Load, from the aisle-load binary (crates/aisle/src/bin/aisle-load: a Python client could not
keep to its own schedule on two cores shared with the server), open loop (each request is due
at a fixed time; latency counts from then when it waits for a connection, so a slow server
cannot hide its queue): GET /v1/users/{id}/recommendations?n=10 at --reads per second;
POST /v1/events in batches of 100 at --events per second; PUT /v1/items/{id} once a second
(a catalogue update). An experiment (als against popular) is started if none runs; retraining
is the server's own schedule (--retrain-every).

Every --every seconds one row goes to DIR/soak.csv: time, the server's RSS and open files,
reads answered, their p50/p99/max, events stored, 5xx and other failures. DIR/soak.svg draws
RSS and p99 over time. Pass (exit 0), else exit 1 naming what failed:
  - no 5xx and no failed request;
  - no ERROR line in the server's log;
  - RSS at the end <= --rss-ratio x RSS at --rss-base seconds (minute 2 of a 10-minute run),
    RSS counted without file pages (RssAnon): the store is memory-mapped, so its pages that
    reads touched count in VmRSS and grow with the file; they are the OS's page cache, not
    the server's memory. VmRSS is in the CSV beside it;
  - the p99 of reads <= --p99-ms in every minute (every window when the run is shorter).
"""

import argparse
import asyncio
import csv
import json
import os
import sys
import time
import urllib.error
import urllib.request


def memory_mib(pid):
    """(VmRSS, RssAnon) in MiB: all resident pages, and the process's own (not file pages)."""
    found = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "RssAnon"):
                found[name] = int(value.split()[0]) / 1024
    return found.get("VmRSS", 0.0), found.get("RssAnon", 0.0)


def training_mib(pid):
    """RssAnon (MiB) of the server's child processes: its training process, when one runs
    (the server fits there, so a fit's memory is not the server's; it is reported, not
    hidden)."""
    total = 0.0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                children = f.read().split()
        except FileNotFoundError:
            continue
        for child in children:
            try:
                total += memory_mib(child)[1]
            except FileNotFoundError:
                pass
    return total


READS_ROUTE = 'method="GET",route="/v1/users/{id}/recommendations"'


def server_slow_reads(url):
    """Reads answered in over 10 ms so far, as the server counts them (/metrics: its histogram
    times the handler, not the time a request waited to be read); None when it cannot be
    asked."""
    counts = {}
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
            text = response.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if READS_ROUTE not in line:
            continue
        if line.startswith("aisle_http_request_duration_seconds_count"):
            counts["all"] = int(float(line.rsplit(" ", 1)[1]))
        elif 'le="0.01"' in line:
            counts["fast"] = int(float(line.rsplit(" ", 1)[1]))
    return counts.get("all", 0) - counts.get("fast", 0)


def open_files(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def draw(rows, path):
    """RSS (MiB) and read p99 (ms) against time, as an SVG of two panels."""
    width, height, pad = 720, 200, 40
    t_max = max(r["t"] for r in rows) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{2 * height + 20}" '
             'font-family="sans-serif" font-size="12">']
    for panel, (key, label, colour) in enumerate(
            [("rss_mib", "RSS without file pages (MiB)", "#1f77b4"), ("read_p99_ms", "read p99 (ms)", "#d62728")]):
        top = panel * (height + 20)
        v_max = max(r[key] for r in rows) * 1.1 or 1
        points = " ".join(
            f"{pad + (width - 2 * pad) * r['t'] / t_max:.1f},"
            f"{top + height - pad / 2 - (height - pad) * r[key] / v_max:.1f}" for r in rows)
        parts.append(f'<text x="{pad}" y="{top + 14}">{label}: max {v_max / 1.1:.1f}, '
                     f'over {t_max:.0f} s</text>')
        parts.append(f'<line x1="{pad}" y1="{top + height - pad / 2}" x2="{width - pad}" '
                     f'y2="{top + height - pad / 2}" stroke="#999"/>')
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts))


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--load", required=True, help="the aisle-load binary")
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--reads", type=float, default=2000)
    parser.add_argument("--events", type=float, default=5000)
    parser.add_argument("--users", type=int, default=20000)
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--every", type=float, default=10)
    parser.add_argument("--p99-ms", type=float, default=10)
    parser.add_argument("--db", help="the store's SQLite file: its size and its log's are sampled")
    parser.add_argument("--rss-ratio", type=float, default=1.1)
    parser.add_argument("--rss-base", type=float, default=120)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    experiment = json.dumps({"name": "soak", "variants": [
        {"name": "als", "model": "als", "share": 0.5},
        {"name": "popular", "model": "popular", "share": 0.5}]}).encode()
    request = urllib.request.Request(f"{args.url}/v1/experiments", data=experiment, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        status = urllib.request.urlopen(request, timeout=30).status
    except urllib.error.HTTPError as e:
        status = e.code
    if status not in (200, 201, 409):
        print(f"starting the experiment answered {status}", file=sys.stderr)
        return 1

    totals = {"reads": 0, "events": 0, "server_errors": 0, "failures": 0}
    rows = []
    started = time.perf_counter()
    # The load comes from aisle-load (see its doc): it prints one JSON line per window, and
    # the server's memory and open files are sampled as each line arrives.
    load = await asyncio.create_subprocess_exec(
        args.load, "--url", args.url, "--seconds", str(args.seconds), "--reads", str(args.reads),
        "--events", str(args.events), "--users", str(args.users), "--items", str(args.items),
        "--every", str(args.every), stdout=asyncio.subprocess.PIPE)
    counted = server_slow_reads(args.url)
    while line := await load.stdout.readline():
        window = json.loads(line)
        now = server_slow_reads(args.url)
        server_slow = now - counted if now is not None and counted is not None else None
        counted = now if now is not None else counted
        try:
            (vm_rss, rss), files = memory_mib(args.pid), open_files(args.pid)
            training = training_mib(args.pid)
        except FileNotFoundError:
            vm_rss, rss, files, training = 0.0, 0.0, 0, 0.0
        store = {}
        if args.db:
            for suffix, key in (("", "db_mib"), ("-wal", "wal_mib")):
                try:
                    store[key] = round(os.path.getsize(args.db + suffix) / 2**20, 1)
                except FileNotFoundError:
                    store[key] = 0.0
        row = {"t": window["t"], "rss_mib": round(rss, 1), "vm_rss_mib": round(vm_rss, 1),
               "training_rss_mib": round(training, 1), "open_files": files, **store,
               "server_reads_over_10ms": server_slow, **{k: v for k, v in window.items() if k != "t"}}
        rows.append(row)
        for key, source in (("reads", "reads"), ("events", "events_stored"),
                            ("server_errors", "server_errors"), ("failures", "failures")):
            totals[key] += row[source]
        print(json.dumps(row), flush=True)
    if await load.wait() != 0 or not rows:
        print(f"aisle-load failed (exit {load.returncode})", file=sys.stderr)
        return 1

    with open(os.path.join(args.out, "soak.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    draw(rows, os.path.join(args.out, "soak.svg"))

    failed = []
    if totals["server_errors"] or totals["failures"]:
        failed.append(f"{totals['server_errors']} answers were 5xx and {totals['failures']} failed otherwise")
    with open(args.log, errors="replace") as f:
        errors = [line.strip() for line in f if "ERROR" in line]
    if errors:
        failed.append(f"{len(errors)} ERROR lines in the log, the first: {errors[0]}")
    base = next((r for r in rows if r["t"] >= args.rss_base), rows[0])
    if rows[-1]["rss_mib"] > args.rss_ratio * base["rss_mib"]:
        failed.append(f"RSS grew from {base['rss_mib']} MiB at {base['t']} s to "
                      f"{rows[-1]['rss_mib']} MiB at the end (more than x{args.rss_ratio})")
    per_minute = {}
    span = 60 if args.seconds >= 120 else args.every
    for row in rows:
        per_minute.setdefault(int((row["t"] - 0.001) // span), []).append(row["read_p99_ms"])
    slow = {m: max(v) for m, v in per_minute.items() if max(v) > args.p99_ms}
    if slow:
        failed.append(f"read p99 above {args.p99_ms} ms in {len(slow)} of {len(per_minute)} "
                      f"periods of {span} s (worst {max(slow.values())} ms)")
    summary = {"seconds": round(time.perf_counter() - started), **totals,
               "read_rate": round(totals["reads"] / args.seconds),
               "event_rate": round(totals["events"] / args.seconds),
               "rss_base_mib": base["rss_mib"], "rss_end_mib": rows[-1]["rss_mib"],
               "vm_rss_base_mib": base["vm_rss_mib"], "vm_rss_end_mib": rows[-1]["vm_rss_mib"],
               "training_rss_max_mib": max(r["training_rss_mib"] for r in rows),
               "worst_p99_ms": max(r["read_p99_ms"] for r in rows),
               "open_files_end": rows[-1]["open_files"], "passed": not failed, "failed": failed}
    print("summary " + json.dumps(summary), flush=True)
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
