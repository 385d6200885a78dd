"""The soak driver: a running `aisle serve` under steady mixed load for a while, sampled.

    python3 bench/soak.py --url http://127.0.0.1:8080 --pid PID --log server.log \
        --out DIR --seconds 600 [--reads 2000] [--events 5000] [--users N] [--items N]
        [--every 10] [--p99-ms 10] [--rss-ratio 1.1] [--rss-base 120]

Load, open loop (each request is due at a fixed time; latency counts from then, so a slow
server cannot hide its queue): GET /v1/users/{id}/recommendations?n=10 at --reads per second;
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
import random
import sys
import time
from urllib.parse import urlsplit


class Connection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def request(self, method, path, body=None):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        data = body.encode() if body is not None else b""
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(data)}\r\n"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        try:
            self.writer.write(head.encode() + b"\r\n" + data)
            await self.writer.drain()
            status = int((await self.reader.readline()).split()[1])
            length, chunked = 0, False
            while True:
                line = await self.reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode().partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "transfer-encoding" and "chunked" in value:
                    chunked = True
            if chunked:
                while True:
                    size = int((await self.reader.readline()).strip(), 16)
                    await self.reader.readexactly(size + 2)
                    if size == 0:
                        break
            else:
                await self.reader.readexactly(length)
            return status
        except (ConnectionError, asyncio.IncompleteReadError, IndexError, ValueError):
            self.writer.close()
            self.reader = self.writer = None
            return 0


class Window:
    """What happened since the last sample."""

    def __init__(self):
        self.latencies, self.server_errors, self.failures, self.events = [], 0, 0, 0


def percentile(values, p):
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))] * 1000


def memory_mib(pid):
    """(VmRSS, RssAnon) in MiB: all resident pages, and the process's own (not file pages)."""
    found = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "RssAnon"):
                found[name] = int(value.split()[0]) / 1024
    return found.get("VmRSS", 0.0), found.get("RssAnon", 0.0)


def open_files(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


async def paced(rate, connections, host, port, make, record, stop_at):
    """Sends make() requests at `rate` per second over `connections` connections."""
    queue = asyncio.Queue()

    async def worker():
        conn = Connection(host, port)
        while True:
            item = await queue.get()
            if item is None:
                return
            due, (method, path, body) = item
            status = await conn.request(method, path, body)
            record(status, time.perf_counter() - due, body)

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    started, k = time.perf_counter(), 0
    while True:
        due = started + k / rate
        if due >= stop_at:
            break
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((due, make()))
        k += 1
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)


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
    parser.add_argument("--rss-ratio", type=float, default=1.1)
    parser.add_argument("--rss-base", type=float, default=120)
    args = parser.parse_args()
    url = urlsplit(args.url)
    host, port = url.hostname, url.port or 80
    rng = random.Random(42)
    os.makedirs(args.out, exist_ok=True)

    setup = Connection(host, port)
    experiment = json.dumps({"name": "soak", "variants": [
        {"name": "als", "model": "als", "share": 0.5},
        {"name": "popular", "model": "popular", "share": 0.5}]})
    status = await setup.request("POST", "/v1/experiments", experiment)
    if status not in (200, 201, 409):
        print(f"starting the experiment answered {status}", file=sys.stderr)
        return 1

    window = Window()
    totals = {"reads": 0, "events": 0, "server_errors": 0, "failures": 0}

    def record_read(status, latency, _body):
        window.latencies.append(latency)
        count(status)

    def record_events(status, _latency, body):
        if status == 200:
            window.events += body.count('"user_id"')
        count(status)

    def count(status):
        if status >= 500:
            window.server_errors += 1
        elif not 200 <= status < 300:
            window.failures += 1

    def read():
        return ("GET", f"/v1/users/u{rng.randrange(args.users)}/recommendations?n=10", None)

    def batch():
        rows = [f'{{"user_id":"u{rng.randrange(args.users)}","item_id":"i{rng.randrange(args.items)}",'
                f'"type":"{rng.choice(["view", "view", "view", "click", "add_to_cart", "purchase"])}"}}'
                for _ in range(100)]
        return ("POST", "/v1/events", "[" + ",".join(rows) + "]")

    def item_update():
        item = rng.randrange(args.items)
        body = json.dumps({"title": f"Item {item}", "categories": [f"c{item % 20}"],
                           "price": round(rng.uniform(1, 200), 2), "available": rng.random() > 0.1})
        return ("PUT", f"/v1/items/i{item}", body)

    rows = []
    started = time.perf_counter()
    stop_at = started + args.seconds

    async def sampler():
        nonlocal window
        while True:
            await asyncio.sleep(max(0.0, started + (len(rows) + 1) * args.every - time.perf_counter()))
            done, window = window, Window()
            try:
                (vm_rss, rss), files = memory_mib(args.pid), open_files(args.pid)
            except FileNotFoundError:
                vm_rss, rss, files = 0.0, 0.0, 0
            row = {"t": round(time.perf_counter() - started, 1), "rss_mib": round(rss, 1),
                   "vm_rss_mib": round(vm_rss, 1),
                   "open_files": files, "reads": len(done.latencies),
                   "read_p50_ms": round(percentile(done.latencies, 50), 2),
                   "read_p99_ms": round(percentile(done.latencies, 99), 2),
                   "read_max_ms": round(max(done.latencies, default=0) * 1000, 2),
                   "events_stored": done.events, "server_errors": done.server_errors,
                   "failures": done.failures}
            rows.append(row)
            for key, value in (("reads", row["reads"]), ("events", done.events),
                               ("server_errors", done.server_errors), ("failures", done.failures)):
                totals[key] += value
            print(json.dumps(row), flush=True)
            if time.perf_counter() >= stop_at:
                return

    await asyncio.gather(
        paced(args.reads, 16, host, port, read, record_read, stop_at),
        paced(args.events / 100, 4, host, port, batch, record_events, stop_at),
        paced(1, 1, host, port, item_update, lambda s, _l, _b: count(s), stop_at),
        sampler(),
    )

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
               "worst_p99_ms": max(r["read_p99_ms"] for r in rows),
               "open_files_end": rows[-1]["open_files"], "passed": not failed, "failed": failed}
    print("summary " + json.dumps(summary), flush=True)
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
