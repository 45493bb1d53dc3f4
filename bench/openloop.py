#!/usr/bin/env python3
"""Open-loop load at a fixed rate, for latency: requests are sent on a schedule whatever the
answers do (a slow answer does not delay the next request, so latency is not hidden by the
load generator waiting: no coordinated omission). Each latency runs from the request's
scheduled time to its answer's last byte; connections are kept alive and opened as needed.

    openloop.py URL RATE SECONDS BODIES.tsv  ->  one JSON line: sent, answered, errors, p50, p99, max (ms)

BODIES.tsv holds "bearer<TAB>json body" lines (bearer "-" for none), used in turn. Standard
library only; run it pinned to its own core (`taskset`).
"""

import asyncio
import json
import sys
import time
from urllib.parse import urlsplit


def encode(host: str, path: str, bearer: str, body: str) -> bytes:
    data = body.encode()
    head = [f"POST {path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json", "Accept: application/json",
            f"Content-Length: {len(data)}"]
    if bearer != "-":
        head.append(f"Authorization: Bearer {bearer}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + data


async def answer(reader: asyncio.StreamReader) -> int:
    status = int((await reader.readline()).split()[1])
    length, chunked = 0, False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readline()).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.readexactly(length)
    return status


async def run(url: str, rate: float, seconds: float, bodies: list) -> dict:
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 80
    raw = [encode(f"{host}:{port}", parts.path or "/", b, body) for b, body in bodies]
    idle: list = []
    latencies: list = []
    errors = 0
    loop = asyncio.get_running_loop()

    async def one(i: int, scheduled: float) -> None:
        nonlocal errors
        status = None
        # a kept-alive connection the server has closed meanwhile (Node closes idle ones after
        # 5 s) fails before any answer: then the request goes once more, on a new connection
        for reused in ([True] if idle else []) + [False]:
            conn = idle.pop() if reused and idle else await asyncio.open_connection(host, port)
            reader, writer = conn
            try:
                writer.write(raw[i % len(raw)])
                status = await asyncio.wait_for(answer(reader), 30)
                break
            except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError, IndexError) as e:
                writer.close()
                if reused:
                    continue
                errors += 1
                return
            except (OSError, asyncio.TimeoutError, ValueError):
                writer.close()
                errors += 1
                return
        latencies.append((loop.time() - scheduled) * 1000)
        if status != 200:
            errors += 1
        idle.append(conn)

    total = int(rate * seconds)
    start = loop.time() + 0.05
    tasks = []
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    await asyncio.gather(*tasks)
    for _, writer in idle:
        writer.close()
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else None
    return {"sent": total, "answered": len(latencies), "errors": errors, "rate": rate,
            "p50": pick(0.50), "p99": pick(0.99), "max": latencies[-1] if latencies else None}


def main() -> None:
    url, rate, seconds, path = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    bodies = []
    with open(path) as f:
        for line in f:
            bearer, _, body = line.rstrip("\n").partition("\t")
            bodies.append((bearer, body))
    began = time.time()
    result = asyncio.run(run(url, rate, seconds, bodies))
    result["elapsed"] = time.time() - began
    print("JSON " + json.dumps(result))


if __name__ == "__main__":
    main()
