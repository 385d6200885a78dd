"""Event batches at a fixed rate (open loop), for bench/serve's mixed phase: wrk's fixed delay
between requests cannot hold a rate once answers slow down.

    python3 bench/paced_events.py HOST PORT EVENTS_PER_SECOND SECONDS USERS ITEMS

POSTs batches of 100 view events for random users and items at EVENTS_PER_SECOND / 100
batches a second over 4 connections (bench/soak.py's pacing) and prints one JSON line:
batches sent, answered 2xx, non-2xx, events acknowledged, and the batches' p99 latency (ms,
from when each was due).
"""

import asyncio
import json
import random
import sys
import time

from soak import paced, percentile


async def main():
    host, port = sys.argv[1], int(sys.argv[2])
    rate, seconds = float(sys.argv[3]), float(sys.argv[4])
    users, items = int(sys.argv[5]), int(sys.argv[6])
    rng = random.Random(7)
    answered = {"ok": 0, "other": 0, "events": 0}
    latencies = []

    def batch():
        rows = [f'{{"user_id":"u{rng.randrange(users)}","item_id":"i{rng.randrange(items)}","type":"view"}}'
                for _ in range(100)]
        return ("POST", "/v1/events", "[" + ",".join(rows) + "]")

    def record(status, latency, _body):
        latencies.append(latency)
        if 200 <= status < 300:
            answered["ok"] += 1
            answered["events"] += 100
        else:
            answered["other"] += 1

    await paced(rate / 100, 4, host, port, batch, record, time.perf_counter() + seconds)
    print(json.dumps({"batches": len(latencies), "ok": answered["ok"], "non_2xx": answered["other"],
                      "events": answered["events"], "events_per_s": round(answered["events"] / seconds),
                      "p99_ms": round(percentile(latencies, 99), 1)}))


asyncio.run(main())
