"""Open-loop HTTP load at a fixed rate, for latency at a given throughput (wrk sends as fast
as answers come, so its percentiles are those at full load).

    python3 bench/fixed_rate.py URL_PREFIX PATHS_FILE RATE SECONDS [CONNECTIONS]

Requests `URL_PREFIX + path` for the paths in PATHS_FILE (one per line, taken in turn) at
RATE per second over keep-alive connections. Latency runs from the moment a request was due,
not from when a connection was free, so a slow server cannot hide its queue (coordinated
omission). Prints one JSON line: sent, answered, non-2xx, achieved rate, p50/p90/p99/max ms.
"""

import asyncio
import json
import sys
import time
from urllib.parse import urlsplit


async def open_connection(host, port):
    return await asyncio.open_connection(host, port)


async def request(reader, writer, host, path):
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def main():
    prefix, paths_file, rate, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    connections = int(sys.argv[5]) if len(sys.argv) > 5 else 8
    url = urlsplit(prefix)
    host, port = url.hostname, url.port or 80
    base = url.path.rstrip("/")
    paths = [base + line.strip() for line in open(paths_file) if line.strip()]
    total = int(rate * seconds)
    queue = asyncio.Queue()
    latencies, failures = [], 0

    async def worker():
        nonlocal failures
        reader, writer = await open_connection(host, port)
        while True:
            item = await queue.get()
            if item is None:
                writer.close()
                return
            due, path = item
            try:
                status = await request(reader, writer, f"{host}:{port}", path)
            except (ConnectionError, asyncio.IncompleteReadError):
                status = 0
                reader, writer = await open_connection(host, port)
            latencies.append(time.perf_counter() - due)
            if not 200 <= status < 300:
                failures += 1

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    started = time.perf_counter()
    for k in range(total):
        due = started + k / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((due, paths[k % len(paths)]))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p):
        return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000, 2)

    print(json.dumps({
        "sent": total,
        "answered": len(latencies),
        "non_2xx": failures,
        "rate": round(len(latencies) / elapsed),
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "max_ms": round(latencies[-1] * 1000, 2),
    }))


if __name__ == "__main__":
    asyncio.run(main())
